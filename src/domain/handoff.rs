//! Who the customer is and what the agent should see: builds the Flex Interaction for a handoff
//! from the webhook, the conversation's participants and attributes, and the bot's last turn.

use serde_json::{Map, Value, json};

use crate::domain::behaviour::Behaviour;
use crate::domain::bot::{BotTurn, Intent};
use crate::domain::channel::ChannelType;
use crate::domain::conversation::Memory;
use crate::domain::customer::Customer;
use crate::domain::dialog_memory::DialogMemory;
use crate::domain::ids::BotRef;
use crate::domain::ids::{ConversationSid, WorkflowSid, WorkspaceSid};
use crate::domain::message::MessageAdded;
use crate::domain::plan::Reason;
use crate::domain::summary::{Cut, Summary, TASK_ATTRIBUTES_BUDGET, fit_task_attributes};

fn slots_json(intent: &Intent) -> Value {
    let slots: Map<String, Value> = intent
        .slots
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (k.clone(), json!(v))))
        .collect();
    Value::Object(slots)
}

/// What a handoff sends as task attributes: everything the bot learned, routable by TaskRouter
/// expressions (`lex.intent == "Agent"`) and shown to the agent — who the customer is, the
/// bot's last turn (`bot` is `None` only when the webhook URL named no usable bot), the
/// conversation's memory ([`add_memory`]) and the summary the agent reads first (`summary`, one
/// line, and `botSummary`: turns, intents visited, slots gathered across intents, fallbacks,
/// last confidence, sentiment trend). Cut to [`TASK_ATTRIBUTES_BUDGET`] as a whole, in the
/// order `summary` documents, so nothing added after the cut can push the task over
/// TaskRouter's limit; the cuts made are returned for the log and listed in
/// `attributesTrimmed`.
pub fn handoff_attributes(
    customer: &Customer,
    bot: Option<&BotRef>,
    turn: Option<&BotTurn>,
    reason: &Reason,
    memory: &Memory,
) -> (Map<String, Value>, Vec<Cut>) {
    let mut attributes = full_attributes(customer, bot, turn, reason);
    add_memory(&mut attributes, memory);
    add_summary(&mut attributes, &memory.dialog);
    let cuts = fit_task_attributes(&mut attributes, TASK_ATTRIBUTES_BUDGET);
    (attributes, cuts)
}

fn add_summary(attributes: &mut Map<String, Value>, memory: &DialogMemory) {
    let summary = Summary::of(memory);
    attributes.insert("summary".into(), json!(summary.line()));
    attributes.insert("botSummary".into(), summary.to_json());
}

fn full_attributes(
    customer: &Customer,
    bot: Option<&BotRef>,
    turn: Option<&BotTurn>,
    reason: &Reason,
) -> Map<String, Value> {
    let mut lex = Map::new();
    if let Some(bot) = bot {
        lex.insert("botId".into(), json!(bot.bot_id.as_str()));
        lex.insert("botAliasId".into(), json!(bot.alias_id.as_str()));
        lex.insert("localeId".into(), json!(bot.locale.as_str()));
    }
    if let Some(turn) = turn {
        if let Some(intent) = &turn.intent {
            lex.insert("intent".into(), json!(intent.name));
            lex.insert("intentState".into(), json!(intent.state.as_str()));
            lex.insert("slots".into(), slots_json(intent));
        }
        let gathered: Map<String, Value> = turn
            .alternatives
            .iter()
            .filter(|i| i.slots.values().any(Option::is_some))
            .filter(|i| turn.intent.as_ref().is_none_or(|cur| cur.name != i.name))
            .map(|i| (i.name.clone(), slots_json(i)))
            .collect();
        if !gathered.is_empty() {
            lex.insert("otherIntentSlots".into(), Value::Object(gathered));
        }
        lex.insert("sessionAttributes".into(), json!(turn.session_attributes));
        if let Some(c) = turn.confidence {
            lex.insert("confidence".into(), json!(c));
        }
        if let Some(s) = &turn.sentiment {
            lex.insert("sentiment".into(), json!(s));
        }
    }

    let mut attributes = Map::new();
    attributes.insert("from".into(), json!(customer.from));
    attributes.insert("customerName".into(), json!(customer.name));
    attributes.insert("customerAddress".into(), json!(customer.address));
    attributes.insert("handoffReason".into(), json!(reason.to_string()));
    match reason {
        Reason::BotRequested {
            detail: Some(detail),
            ..
        } => {
            attributes.insert("handoffDetail".into(), json!(detail));
        }
        Reason::Escalation(rule) => {
            attributes.insert("handoffDetail".into(), json!(rule.describe()));
        }
        _ => {}
    }
    attributes.insert("lex".into(), Value::Object(lex));
    attributes
}

/// What the conversation's memory adds for the agent: the slots gathered across every intent
/// the bot filled (an order's slots survive a switch to `Agent`) and how many turns the bot had.
pub fn add_memory(attributes: &mut Map<String, Value>, memory: &Memory) {
    attributes.insert("botTurns".into(), json!(memory.turns));
    // The customer has been with an agent before, and the bot had the conversation back.
    if memory.back_from_agent > 0 {
        attributes.insert("returningFromAgent".into(), json!(true));
        attributes.insert("agentEpisodes".into(), json!(memory.back_from_agent));
    }
    if let Some(Value::Object(lex)) = attributes.get_mut("lex") {
        lex.insert("gatheredSlots".into(), json!(memory.dialog.slots));
    }
}

/// The customer-initiated Interaction on this conversation.
pub fn interaction_request(
    event: &MessageAdded,
    customer: &Customer,
    attributes: Map<String, Value>,
    behaviour: &Behaviour,
) -> InteractionRequest {
    let task_channel = behaviour
        .task_channels
        .get(&customer.channel)
        .cloned()
        .unwrap_or_else(|| "chat".to_owned());
    InteractionRequest {
        channel_type: customer.channel,
        conversation: event.conversation.clone(),
        workspace: behaviour.workspace.clone(),
        workflow: behaviour.workflow.clone(),
        task_channel,
        attributes,
        webhook_ttid: behaviour
            .after_agent
            .settings()
            .map(|s| s.webhook_ttid.clone()),
    }
}

#[cfg(test)]
mod tests {
    use crate::domain::customer::{ConversationInfo, Participant, channel_hint, identify_customer};
    use std::collections::BTreeMap;

    use super::*;
    use crate::domain::bot::IntentState;
    use crate::domain::customer::MessagingBinding;
    use crate::domain::ids::{
        AccountSid, BotAliasId, BotId, ConversationSid, LocaleId, MessageSid, ParticipantSid,
    };

    const MB: &str = "MB0123456789abcdef0123456789abcdef";

    fn event(author: &str, participant: Option<&str>) -> MessageAdded {
        MessageAdded {
            account: AccountSid::parse("AC0123456789abcdef0123456789abcdef").unwrap(),
            conversation: ConversationSid::parse("CH0123456789abcdef0123456789abcdef").unwrap(),
            message: MessageSid::parse("IM0123456789abcdef0123456789abcdef").unwrap(),
            author: author.into(),
            body: "hi".into(),
            participant: participant.map(|p| ParticipantSid::parse(p).unwrap()),
            webhook: None,
            source: None,
            client_identity: None,
            media: Vec::new(),
            index: None,
            attributes: json!({}),
        }
    }

    fn sms_participant(kind: &str, address: &str) -> Participant {
        Participant {
            sid: Some(ParticipantSid::parse(MB).unwrap()),
            identity: None,
            binding: Some(MessagingBinding {
                kind: Some(kind.into()),
                address: Some(address.into()),
                proxy_address: Some("+15550000000".into()),
            }),
            attributes: json!({}),
        }
    }

    #[test]
    fn author_hints_pick_the_channel() {
        assert_eq!(channel_hint("whatsapp:+15551234567"), ChannelType::Whatsapp);
        assert_eq!(channel_hint("+15551234567"), ChannelType::Sms);
        assert_eq!(channel_hint("visitor-42"), ChannelType::Web);
        assert_eq!(channel_hint("+1"), ChannelType::Web);
    }

    #[test]
    fn sms_customer_is_their_number() {
        let c = identify_customer(
            &event("+15551234567", Some(MB)),
            &[sms_participant("sms", "+15551234567")],
            &ConversationInfo::default(),
        );
        assert_eq!(c.channel, ChannelType::Sms);
        assert_eq!(c.from, "+15551234567");
        assert_eq!(c.address, "+15551234567");
    }

    #[test]
    fn whatsapp_customer_keeps_the_prefix() {
        let c = identify_customer(
            &event("whatsapp:+447700900123", Some(MB)),
            &[sms_participant("whatsapp", "whatsapp:+447700900123")],
            &ConversationInfo::default(),
        );
        assert_eq!(c.channel, ChannelType::Whatsapp);
        assert_eq!(c.from, "whatsapp:+447700900123");
    }

    #[test]
    fn webchat_customer_uses_pre_engagement_data() {
        let web = Participant {
            sid: Some(ParticipantSid::parse(MB).unwrap()),
            identity: Some("visitor-42".into()),
            binding: None,
            attributes: json!({}),
        };
        let conversation = ConversationInfo {
            attributes: json!({"pre_engagement_data": {"friendlyName": "Ada Lovelace", "email": "ada@example.com"}}),
            ..ConversationInfo::default()
        };
        let c = identify_customer(
            &event("visitor-42", Some(MB)),
            std::slice::from_ref(&web),
            &conversation,
        );
        assert_eq!(c.channel, ChannelType::Web);
        assert_eq!(
            (c.from.as_str(), c.address.as_str()),
            ("Ada Lovelace", "ada@example.com")
        );
        let c = identify_customer(
            &event("visitor-42", None),
            &[web],
            &ConversationInfo::default(),
        );
        assert_eq!(
            (c.from.as_str(), c.address.as_str()),
            ("visitor-42", "visitor-42")
        );
    }

    #[test]
    fn without_participants_the_author_decides() {
        let c = identify_customer(
            &event("+15551234567", None),
            &[],
            &ConversationInfo::default(),
        );
        assert_eq!(c.channel, ChannelType::Sms);
    }

    #[test]
    fn attributes_carry_what_the_bot_learned() {
        let bot = BotRef {
            bot_id: BotId::parse("ABCDEFGHIJ").unwrap(),
            alias_id: BotAliasId::parse("TSTALIASID").unwrap(),
            locale: LocaleId::parse("en_US").unwrap(),
        };
        let order = Intent {
            name: "OrderFlowers".into(),
            state: IntentState::InProgress,
            confirmation: None,
            slots: BTreeMap::from([
                ("FlowerType".into(), Some("roses".into())),
                ("PickupDate".into(), None),
            ]),
        };
        let turn = BotTurn {
            intent: Some(Intent {
                name: "Agent".into(),
                state: IntentState::ReadyForFulfillment,
                confirmation: None,
                slots: BTreeMap::new(),
            }),
            alternatives: vec![order],
            session_attributes: BTreeMap::from([("tier".into(), "gold".into())]),
            confidence: Some(0.93),
            ..BotTurn::default()
        };
        let customer = Customer {
            channel: ChannelType::Sms,
            from: "+15551234567".into(),
            name: "+15551234567".into(),
            address: "+15551234567".into(),
        };
        let (mut attrs, cuts) = handoff_attributes(
            &customer,
            Some(&bot),
            Some(&turn),
            &Reason::Intent("Agent".into()),
            &Memory::default(),
        );
        assert_eq!(cuts, vec![]);
        // What an empty memory adds, apart: no turns, no gathered slots, an empty summary.
        assert_eq!(attrs.remove("botTurns"), Some(json!(0)));
        let lex = attrs.get_mut("lex").and_then(Value::as_object_mut).unwrap();
        assert_eq!(lex.remove("gatheredSlots"), Some(json!({})));
        assert_eq!(
            attrs.remove("summary"),
            Some(json!(Summary::of(&DialogMemory::default()).line()))
        );
        assert_eq!(
            attrs.remove("botSummary"),
            Some(Summary::of(&DialogMemory::default()).to_json())
        );
        assert_eq!(
            Value::Object(attrs),
            json!({
                "from": "+15551234567",
                "customerName": "+15551234567",
                "customerAddress": "+15551234567",
                "handoffReason": "intent:Agent",
                "lex": {
                    "botId": "ABCDEFGHIJ", "botAliasId": "TSTALIASID", "localeId": "en_US",
                    "intent": "Agent", "intentState": "ReadyForFulfillment", "slots": {},
                    "otherIntentSlots": {"OrderFlowers": {"FlowerType": "roses"}},
                    "sessionAttributes": {"tier": "gold"},
                    "confidence": 0.93
                }
            })
        );
    }

    fn sms_customer() -> Customer {
        Customer {
            channel: ChannelType::Sms,
            from: "+15551234567".into(),
            name: "+15551234567".into(),
            address: "+15551234567".into(),
        }
    }

    #[test]
    fn memory_adds_the_summary_and_escalations_explain_themselves() {
        use crate::domain::escalation::Escalation;
        use crate::domain::escalation_rules::EscalationRules;
        let rules = EscalationRules::default();
        let mut memory = DialogMemory::default();
        let intent = |name: &str, slots: &[(&str, &str)]| Intent {
            name: name.into(),
            state: IntentState::InProgress,
            confirmation: None,
            slots: slots
                .iter()
                .map(|(k, v)| ((*k).to_owned(), Some((*v).to_owned())))
                .collect(),
        };
        for t in [
            BotTurn {
                intent: Some(intent("OrderFlowers", &[("FlowerType", "roses")])),
                confidence: Some(0.9),
                sentiment: Some("NEUTRAL".into()),
                ..BotTurn::default()
            },
            BotTurn {
                intent: Some(intent("FallbackIntent", &[])),
                sentiment: Some("NEGATIVE".into()),
                ..BotTurn::default()
            },
        ] {
            memory.observe(&t, &rules);
        }
        let reason = Reason::Escalation(Escalation::Fallbacks { count: 2 });
        let memory = Memory {
            turns: 2,
            dialog: memory,
            ..Memory::default()
        };
        let (attrs, cuts) = handoff_attributes(&sms_customer(), None, None, &reason, &memory);
        assert_eq!(cuts, vec![]);
        assert_eq!(
            Value::Object(attrs),
            json!({
                "from": "+15551234567",
                "customerName": "+15551234567",
                "customerAddress": "+15551234567",
                "handoffReason": "escalation:fallbacks:2",
                "handoffDetail": "the bot did not understand 2 messages in a row",
                "summary": "2 turns · OrderFlowers → FallbackIntent · FlowerType=roses · 1 fallback · sentiment NEUTRAL→NEGATIVE",
                "botSummary": {
                    "turns": 2,
                    "intentsVisited": ["OrderFlowers", "FallbackIntent"],
                    "slotsGathered": {"OrderFlowers": {"FlowerType": "roses"}},
                    "fallbacks": 1,
                    "sentimentTrend": ["NEUTRAL", "NEGATIVE"]
                },
                "botTurns": 2,
                "lex": {"gatheredSlots": {"OrderFlowers": {"FlowerType": "roses"}}}
            })
        );
    }

    #[test]
    fn a_handoff_carries_memory_and_summary_within_the_budget() {
        use crate::domain::escalation_rules::EscalationRules;
        let mut memory = Memory {
            turns: 3,
            ..Memory::default()
        };
        let big = "v".repeat(9_000);
        memory.dialog.observe(
            &BotTurn {
                intent: Some(Intent {
                    name: "OrderFlowers".into(),
                    state: IntentState::InProgress,
                    confirmation: None,
                    slots: BTreeMap::from([("Note".into(), Some(big.clone()))]),
                }),
                ..BotTurn::default()
            },
            &EscalationRules::default(),
        );
        memory.dialog.observe(
            &BotTurn {
                intent: Some(Intent {
                    name: "Agent".into(),
                    state: IntentState::ReadyForFulfillment,
                    confirmation: None,
                    slots: BTreeMap::from([("Topic".into(), Some("refund".into()))]),
                }),
                ..BotTurn::default()
            },
            &EscalationRules::default(),
        );
        let turn = BotTurn {
            intent: Some(Intent {
                name: "Agent".into(),
                state: IntentState::ReadyForFulfillment,
                confirmation: None,
                slots: BTreeMap::new(),
            }),
            ..BotTurn::default()
        };
        let (attrs, cuts) = handoff_attributes(
            &sms_customer(),
            None,
            Some(&turn),
            &Reason::Intent("Agent".into()),
            &memory,
        );
        // The order's long slot is in both the gathered slots and the summary: over budget
        // until other intents' slots go.
        assert_eq!(
            cuts,
            [
                Cut::SentimentTrend,
                Cut::OlderIntents,
                Cut::SessionAttributes,
                Cut::OtherIntentSlots
            ]
        );
        assert!(crate::domain::summary::size_of(&attrs) <= TASK_ATTRIBUTES_BUDGET);
        assert_eq!(attrs["botTurns"], 3);
        assert_eq!(
            attrs["lex"]["gatheredSlots"],
            json!({"Agent": {"Topic": "refund"}})
        );
        assert_eq!(
            attrs["botSummary"]["slotsGathered"],
            json!({"Agent": {"Topic": "refund"}})
        );
        assert_eq!(
            attrs["attributesTrimmed"],
            json!([
                "sentimentTrend",
                "olderIntents",
                "sessionAttributes",
                "otherIntentSlots"
            ])
        );
    }

    #[test]
    fn oversized_attributes_are_cut_to_the_budget() {
        let turn = BotTurn {
            session_attributes: BTreeMap::from([("history".into(), "h".repeat(40_000))]),
            ..BotTurn::default()
        };
        let (attrs, cuts) = handoff_attributes(
            &sms_customer(),
            None,
            Some(&turn),
            &Reason::MediaOnly,
            &Memory::default(),
        );
        assert_eq!(
            cuts,
            [
                Cut::SentimentTrend,
                Cut::OlderIntents,
                Cut::SessionAttributes
            ]
        );
        assert!(crate::domain::summary::size_of(&attrs) <= TASK_ATTRIBUTES_BUDGET);
        assert_eq!(attrs["lex"].get("sessionAttributes"), None);
        assert_eq!(attrs["handoffReason"], "media_only");
    }
}

/// A customer-initiated Flex Interaction on an existing conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct InteractionRequest {
    pub channel_type: ChannelType,
    pub conversation: ConversationSid,
    pub workspace: WorkspaceSid,
    pub workflow: Option<WorkflowSid>,
    pub task_channel: String,
    pub attributes: Map<String, Value>,
    /// The Interactions webhook that tells the stack when the agent is done (`WebhookTtid`).
    pub webhook_ttid: Option<String>,
}

impl InteractionRequest {
    /// The `Channel` parameter (sent as a JSON string).
    pub fn channel_json(&self) -> Value {
        json!({
            "type": self.channel_type.as_str(),
            "initiated_by": "customer",
            "properties": { "media_channel_sid": self.conversation.as_str() },
        })
    }

    /// The `Routing` parameter (sent as a JSON string).
    pub fn routing_json(&self) -> Value {
        let mut properties = Map::new();
        properties.insert("workspace_sid".into(), json!(self.workspace.as_str()));
        if let Some(workflow) = &self.workflow {
            properties.insert("workflow_sid".into(), json!(workflow.as_str()));
        }
        properties.insert("task_channel_unique_name".into(), json!(self.task_channel));
        properties.insert("attributes".into(), Value::Object(self.attributes.clone()));
        json!({ "properties": properties })
    }
}
