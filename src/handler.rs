//! One event, end to end: envelope → signature → webhook → filters → bot → policy → Twilio.
//! Knows no environment variables and no SDK types; everything arrives through the ports.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::bot::{Bot, BotError, BotRequest, BotTurn, cap_text};
use crate::config::Behaviour;
use crate::conversations::{ConversationInfo, Conversations, TwilioError};
use crate::deadline::Deadline;
use crate::envelope::Envelope;
use crate::form::FormParams;
use crate::handoff::{channel_hint, identify_customer, interaction_request, task_attributes};
use crate::ids::{AccountSid, BotAliasId, BotId, BotRef, LocaleId, MessageSid};
use crate::outcome::{Failure, Ignored, Outcome, Rejected, Report, Stage, Trace};
use crate::policy::{Action, Plan, Reason, plan_bot_error, plan_media_only, plan_turn};
use crate::render::{choice_in, choice_number};
use crate::signature::{self, Verdict, Verifier};
use crate::webhook::{MessageAdded, WebhookEvent};

/// How many of the latest messages are searched for the card a numbered reply answers.
const CHOICE_LOOKBACK: u32 = 10;

/// How many recent message SIDs an instance remembers to drop duplicate deliveries.
const RECENT_MESSAGES: usize = 1024;

/// Shared by every invocation of a warm instance: built once at cold start.
pub struct Bridge {
    behaviour: Behaviour,
    account: Option<AccountSid>,
    verifier: Verifier,
    bot: Arc<dyn Bot>,
    conversations: Arc<dyn Conversations>,
    recent: Mutex<RecentMessages>,
}

/// A bounded memory of handled message SIDs (async delivery is at-least-once).
#[derive(Default)]
struct RecentMessages {
    order: VecDeque<MessageSid>,
    seen: HashSet<MessageSid>,
}

impl RecentMessages {
    /// `false` when the SID was already there.
    fn insert(&mut self, sid: &MessageSid) -> bool {
        if self.seen.contains(sid) {
            return false;
        }
        if self.order.len() == RECENT_MESSAGES
            && let Some(old) = self.order.pop_front()
        {
            self.seen.remove(&old);
        }
        self.order.push_back(sid.clone());
        self.seen.insert(sid.clone());
        true
    }
}

impl Bridge {
    pub fn new(
        behaviour: Behaviour,
        account: Option<AccountSid>,
        verifier: Verifier,
        bot: Arc<dyn Bot>,
        conversations: Arc<dyn Conversations>,
    ) -> Self {
        Self {
            behaviour,
            account,
            verifier,
            bot,
            conversations,
            recent: Mutex::new(RecentMessages::default()),
        }
    }

    pub fn behaviour(&self) -> &Behaviour {
        &self.behaviour
    }

    /// Handles one API Gateway event. Never panics on input; every path ends in one outcome.
    pub async fn handle(&self, event: serde_json::Value, deadline: Deadline) -> Report {
        self.handle_at(event, None, deadline).await
    }

    /// As [`Bridge::handle`], for a request that reached us at `public_url` (scheme, host and
    /// path, without the query) rather than at the execute-api URL: the local server validates
    /// signatures against the URL it is reached at. `WEBHOOK_PUBLIC_URL` still wins.
    pub async fn handle_at(
        &self,
        event: serde_json::Value,
        public_url: Option<&str>,
        deadline: Deadline,
    ) -> Report {
        let started = Instant::now();
        let mut trace = Trace::default();
        let outcome = self.run(event, public_url, deadline, &mut trace).await;
        Report {
            outcome,
            trace,
            total: started.elapsed(),
        }
    }

    async fn run(
        &self,
        event: serde_json::Value,
        public_url: Option<&str>,
        deadline: Deadline,
        trace: &mut Trace,
    ) -> Outcome {
        let envelope = match Envelope::from_value(event) {
            Ok(envelope) => envelope,
            Err(e) => return Outcome::Rejected(Rejected::Envelope(e.to_string())),
        };
        trace.request_id.clone_from(&envelope.request_id);

        let params = match FormParams::parse(&envelope.body) {
            Ok(params) => params,
            Err(e) => return Outcome::Rejected(Rejected::Form(e.to_string())),
        };

        let urls = signature::candidate_urls(
            self.behaviour.webhook_public_url.as_deref().or(public_url),
            &envelope.domain_name,
            &envelope.path,
            &envelope.query,
        );
        match self
            .verifier
            .verify(envelope.header(signature::HEADER), &urls, &params)
        {
            Verdict::Valid { .. } => {}
            Verdict::Missing => {
                return Outcome::Rejected(Rejected::Signature {
                    missing: true,
                    tried: Vec::new(),
                });
            }
            Verdict::Mismatch { tried } => {
                return Outcome::Rejected(Rejected::Signature {
                    missing: false,
                    tried,
                });
            }
        }

        let message = match WebhookEvent::from_params(&params) {
            Ok(WebhookEvent::MessageAdded(message)) => message,
            Ok(WebhookEvent::Other { event_type }) => {
                return Outcome::Ignored(Ignored::EventType(event_type));
            }
            Err(e) => return Outcome::Rejected(Rejected::Webhook(e.to_string())),
        };
        trace.conversation = Some(message.conversation.to_string());
        trace.message = Some(message.message.to_string());

        if self.account.as_ref().is_some_and(|a| a != &message.account) {
            return Outcome::Rejected(Rejected::Account);
        }
        if message.author == self.behaviour.bot_author {
            return Outcome::Ignored(Ignored::OwnMessage);
        }
        if self
            .behaviour
            .ignore_authors
            .iter()
            .any(|a| a == &message.author)
        {
            return Outcome::Ignored(Ignored::NonCustomer);
        }
        let text = message.body.trim();
        if text.is_empty() && message.media.is_empty() {
            return Outcome::Ignored(Ignored::EmptyBody);
        }
        if !self.remember(&message.message) {
            return Outcome::Ignored(Ignored::Duplicate);
        }

        let bot = bot_ref(&envelope.query, &self.behaviour.default_locale);
        let (plan, turn) = if text.is_empty() {
            (plan_media_only(&self.behaviour), None)
        } else {
            match &bot {
                Ok(bot) => self.ask_bot(bot, &message, text, deadline, trace).await,
                Err(e) => {
                    trace.lex_error = Some(e.to_string());
                    (plan_bot_error(e, &self.behaviour), None)
                }
            }
        };
        self.execute(
            plan,
            &message,
            bot.ok().as_ref(),
            turn.as_ref(),
            deadline,
            trace,
        )
        .await
    }

    fn remember(&self, sid: &MessageSid) -> bool {
        crate::lock(&self.recent).insert(sid)
    }

    async fn ask_bot(
        &self,
        bot: &BotRef,
        message: &MessageAdded,
        text: &str,
        deadline: Deadline,
        trace: &mut Trace,
    ) -> (Plan, Option<BotTurn>) {
        let chosen = match choice_number(text) {
            Some(n) => self.choice_text(message, n, deadline, trace).await,
            None => None,
        };
        trace.choice_mapped = chosen.is_some();
        let text = chosen.as_deref().unwrap_or(text);
        let capped = cap_text(text);
        trace.text_truncated = capped.len() < text.len();
        let mut request_attributes = BTreeMap::new();
        request_attributes.insert(
            "flexlex_channel".to_owned(),
            channel_hint(&message.author).as_str().to_owned(),
        );
        if let Some(source) = &message.source {
            request_attributes.insert("flexlex_source".to_owned(), source.clone());
        }
        let request = BotRequest {
            bot: bot.clone(),
            session_id: message.conversation.to_string(),
            text: capped.to_owned(),
            request_attributes,
        };
        let started = Instant::now();
        let result = self.bot.recognize_text(&request, deadline).await;
        trace.lex += started.elapsed();
        match result {
            Ok(turn) => {
                trace.intent = turn.intent.as_ref().map(|i| i.name.clone());
                (plan_turn(&turn, &self.behaviour), Some(turn))
            }
            Err(e) => {
                tracing::warn!(error = %e, "bot failed; applying ON_BOT_ERROR");
                trace.lex_error = Some(e.code().to_owned());
                (plan_bot_error(&e, &self.behaviour), None)
            }
        }
    }

    /// A bare number answering a card the bot just posted stands for that choice's text: what
    /// the customer would have typed, and what the bot's slot values recognise. Looked up in
    /// the conversation (one read, only for bare numbers), so any instance can resolve it.
    async fn choice_text(
        &self,
        message: &MessageAdded,
        n: usize,
        deadline: Deadline,
        trace: &mut Trace,
    ) -> Option<String> {
        let recent = timed(
            &mut trace.twilio,
            self.conversations
                .recent_messages(&message.conversation, CHOICE_LOOKBACK, deadline),
        )
        .await;
        let recent = match recent {
            Ok(recent) => recent,
            Err(e) => {
                tracing::warn!(error = %e, "recent messages unavailable; the number goes to the bot as typed");
                return None;
            }
        };
        let bot = self.behaviour.bot_author.as_str();
        recent
            .iter()
            // This message itself, when Twilio already lists it.
            .filter(|m| message.index.is_none_or(|index| m.index < index))
            .skip_while(|m| message.index.is_none() && m.author == message.author)
            // Only the bot's messages since the customer last wrote.
            .take_while(|m| m.author == bot)
            .find_map(|m| choice_in(&m.body, n))
            .map(str::to_owned)
    }

    async fn execute(
        &self,
        plan: Plan,
        message: &MessageAdded,
        bot: Option<&BotRef>,
        turn: Option<&BotTurn>,
        deadline: Deadline,
        trace: &mut Trace,
    ) -> Outcome {
        let conversation = &message.conversation;
        let author = self.behaviour.bot_author.as_str();
        for text in &plan.messages {
            let posted = timed(
                &mut trace.twilio,
                self.conversations
                    .post_message(conversation, author, text, deadline),
            )
            .await;
            if let Err(e) = posted {
                return failed(Stage::Reply, &e);
            }
            trace.messages_posted += 1;
        }

        match plan.action {
            Action::Wait => Outcome::Replied,
            Action::Close(reason) => match timed(
                &mut trace.twilio,
                self.conversations.close(conversation, deadline),
            )
            .await
            {
                Ok(()) => Outcome::Closed(reason),
                Err(e) => failed(Stage::Close, &e),
            },
            Action::Handoff(reason) => {
                self.hand_off(message, bot, turn, reason, deadline, trace)
                    .await
            }
        }
    }

    async fn hand_off(
        &self,
        message: &MessageAdded,
        bot: Option<&BotRef>,
        turn: Option<&BotTurn>,
        reason: Reason,
        deadline: Deadline,
        trace: &mut Trace,
    ) -> Outcome {
        let conversation = &message.conversation;
        let (participants, info) = timed(&mut trace.twilio, async {
            futures::join!(
                self.conversations.list_participants(conversation, deadline),
                self.conversations
                    .fetch_conversation(conversation, deadline),
            )
        })
        .await;
        // Without them the author still tells the channel; a degraded task beats no handoff.
        let participants = participants.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "participants unavailable; identifying the customer by author");
            Vec::new()
        });
        let info = info.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "conversation unavailable; handing off without its attributes");
            ConversationInfo::default()
        });

        let customer = identify_customer(message, &participants, &info);
        let attributes = task_attributes(&customer, bot, turn, &reason);
        let request = interaction_request(message, &customer, attributes, &self.behaviour);
        if let Err(e) = timed(
            &mut trace.twilio,
            self.conversations.create_interaction(&request, deadline),
        )
        .await
        {
            return failed(Stage::Interaction, &e);
        }
        match &message.webhook {
            Some(webhook) => {
                let removed = timed(
                    &mut trace.twilio,
                    self.conversations
                        .remove_webhook(conversation, webhook, deadline),
                )
                .await;
                if let Err(e) = removed {
                    return failed(Stage::RemoveWebhook, &e);
                }
            }
            None => tracing::warn!(
                "webhook carried no WebhookSid; the bot's webhook stays on the conversation"
            ),
        }
        Outcome::HandedOff(reason)
    }
}

fn failed(stage: Stage, error: &TwilioError) -> Outcome {
    Outcome::Failed(Failure {
        stage,
        error: error.to_string(),
        retryable: error.is_retryable(),
    })
}

async fn timed<T>(total: &mut Duration, work: impl Future<Output = T>) -> T {
    let started = Instant::now();
    let out = work.await;
    *total += started.elapsed();
    out
}

/// The bot to ask, from the webhook URL's `BotId`, `BotAliasId` and optional `LocaleId`.
fn bot_ref(
    query: &BTreeMap<String, String>,
    default_locale: &LocaleId,
) -> Result<BotRef, BotError> {
    let invalid = |message: String| BotError::Rejected {
        code: "InvalidWebhookUrl".into(),
        message,
    };
    let bot_id = query
        .get("BotId")
        .ok_or_else(|| invalid("the webhook URL has no BotId query parameter".into()))?;
    let alias = query
        .get("BotAliasId")
        .ok_or_else(|| invalid("the webhook URL has no BotAliasId query parameter".into()))?;
    Ok(BotRef {
        bot_id: BotId::parse(bot_id).map_err(|e| invalid(e.to_string()))?,
        alias_id: BotAliasId::parse(alias).map_err(|e| invalid(e.to_string()))?,
        locale: match query.get("LocaleId") {
            Some(locale) => LocaleId::parse(locale).map_err(|e| invalid(e.to_string()))?,
            None => default_locale.clone(),
        },
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::bot::{BotMessage, Intent, IntentState};
    use crate::config::Config;
    use crate::conversations::{ChannelType, MessagingBinding, Participant};
    use crate::ids::{ConversationSid, InteractionSid, ParticipantSid, WebhookSid};
    use crate::memory::{Call, RecordingConversations, ScriptedBot};
    use crate::outcome::Stage;
    use crate::secret::Secret;
    use flexlex_emulators::webhook::{
        CustomerMessage, Params, envelope, signature, signed_envelope,
    };

    const TOKEN: &str = "test-auth-token";
    const URL: &str = "https://abc123.execute-api.us-east-1.amazonaws.com/prod/webhook?BotId=FLWRSDEMO1&BotAliasId=TSTALIASID";
    const AC: &str = "AC0123456789abcdef0123456789abcdef";
    const CH: &str = "CH0123456789abcdef0123456789abcdef";
    const WH: &str = "WH0123456789abcdef0123456789abcdef";
    const MB: &str = "MB0123456789abcdef0123456789abcdef";

    struct Fixture {
        bridge: Bridge,
        bot: ScriptedBot,
        twilio: RecordingConversations,
    }

    fn fixture(extra: &[(&str, &str)]) -> Fixture {
        let mut settings: HashMap<String, String> = [
            ("TWILIO_ACCOUNT_SID", AC),
            ("TWILIO_AUTH_TOKEN", TOKEN),
            ("FLEX_WORKSPACE_SID", "WS0123456789abcdef0123456789abcdef"),
            ("FLEX_WORKFLOW_SID", "WW0123456789abcdef0123456789abcdef"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        for (k, v) in extra {
            settings.insert((*k).to_owned(), (*v).to_owned());
        }
        let config = Config::from_settings(&settings).unwrap();
        let bot = ScriptedBot::answering(reply_turn("Hello!", "Greeting", IntentState::InProgress));
        let sms = Participant {
            sid: Some(ParticipantSid::parse(MB).unwrap()),
            identity: None,
            binding: Some(MessagingBinding {
                kind: Some("sms".into()),
                address: Some("+15551234567".into()),
                proxy_address: Some("+15550001111".into()),
            }),
            attributes: json!({}),
        };
        let twilio = RecordingConversations::new(
            vec![sms],
            Default::default(),
            InteractionSid::parse("KD0123456789abcdef0123456789abcdef").unwrap(),
        );
        let verifier = Verifier::new(Secret::new(TOKEN), None);
        let bridge = Bridge::new(
            config.behaviour,
            config.twilio.account,
            verifier,
            Arc::new(bot.clone()),
            Arc::new(twilio.clone()),
        );
        Fixture {
            bridge,
            bot,
            twilio,
        }
    }

    fn reply_turn(text: &str, intent: &str, state: IntentState) -> BotTurn {
        BotTurn {
            messages: vec![BotMessage::PlainText(text.into())],
            intent: Some(Intent {
                name: intent.into(),
                state,
                confirmation: None,
                slots: Default::default(),
            }),
            ..BotTurn::default()
        }
    }

    fn params(author: &str, body: &str) -> Params {
        CustomerMessage {
            account: AC,
            conversation: CH,
            webhook: WH,
            participant: MB,
            author,
            body,
            index: 3,
            source: "SMS",
        }
        .params()
    }

    fn event(author: &str, body: &str) -> serde_json::Value {
        signed_envelope(URL, &params(author, body), TOKEN).unwrap()
    }

    async fn handle(f: &Fixture, event: serde_json::Value) -> Report {
        f.bridge
            .handle(event, Deadline::after(Duration::from_secs(10)))
            .await
    }

    #[tokio::test]
    async fn a_turn_is_answered_and_the_conversation_waits() {
        let f = fixture(&[]);
        let report = handle(&f, event("+15551234567", "hi there")).await;
        assert_eq!(report.outcome, Outcome::Replied);
        let requests = f.bot.requests();
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].session_id, CH);
        assert_eq!(requests[0].text, "hi there");
        assert_eq!(requests[0].bot.locale.as_str(), "en_US");
        assert_eq!(requests[0].request_attributes["flexlex_channel"], "sms");
        assert_eq!(
            f.twilio.calls(),
            [Call::Post {
                conversation: ConversationSid::parse(CH).unwrap(),
                author: "Lex".into(),
                body: "Hello!".into()
            }]
        );
        assert_eq!(report.trace.messages_posted, 1);
    }

    #[tokio::test]
    async fn a_fulfilled_close_intent_closes_after_the_reply() {
        let f = fixture(&[]);
        f.bot.push(Ok(reply_turn(
            "Thanks, order placed.",
            "OrderFlowers",
            IntentState::Fulfilled,
        )));
        let report = handle(&f, event("+15551234567", "yes")).await;
        assert_eq!(
            report.outcome,
            Outcome::Closed(Reason::Intent("OrderFlowers".into()))
        );
        let calls = f.twilio.calls();
        assert!(matches!(&calls[0], Call::Post { body, .. } if body == "Thanks, order placed."));
        assert_eq!(calls[1], Call::Close(ConversationSid::parse(CH).unwrap()));
        assert_eq!(calls.len(), 2);
    }

    #[tokio::test]
    async fn a_handoff_creates_the_interaction_then_removes_the_webhook() {
        let f = fixture(&[]);
        f.bot.push(Ok(reply_turn(
            "Okay - lets get you to an agent",
            "Agent",
            IntentState::ReadyForFulfillment,
        )));
        let report = handle(&f, event("+15551234567", "agent")).await;
        assert_eq!(
            report.outcome,
            Outcome::HandedOff(Reason::Intent("Agent".into()))
        );
        let calls = f.twilio.calls();
        assert!(matches!(&calls[0], Call::Post { .. }));
        let interaction = calls
            .iter()
            .position(|c| matches!(c, Call::CreateInteraction(_)))
            .expect("an interaction");
        let removal = calls
            .iter()
            .position(|c| matches!(c, Call::RemoveWebhook(..)))
            .expect("a webhook removal");
        assert!(
            interaction < removal,
            "interaction first, then the webhook goes"
        );
        let Call::CreateInteraction(request) = &calls[interaction] else {
            unreachable!()
        };
        assert_eq!(request.channel_type, ChannelType::Sms);
        assert_eq!(request.task_channel, "sms");
        assert_eq!(request.attributes["from"], "+15551234567");
        assert_eq!(request.attributes["lex"]["intent"], "Agent");
        assert_eq!(request.attributes["lex"]["botId"], "FLWRSDEMO1");
        assert_eq!(
            calls[removal],
            Call::RemoveWebhook(
                ConversationSid::parse(CH).unwrap(),
                WebhookSid::parse(WH).unwrap()
            )
        );
    }

    #[tokio::test]
    async fn forged_missing_and_wrong_url_signatures_touch_nothing() {
        let f = fixture(&[]);
        let forged = envelope(
            URL,
            &params("+15551234567", "hi"),
            Some("AAAAAAAAAAAAAAAAAAAAAAAAAAA="),
        )
        .unwrap();
        let missing = envelope(URL, &params("+15551234567", "hi"), None).unwrap();
        let signed_elsewhere = signature(
            TOKEN,
            "https://evil.example.com/prod/webhook?BotId=FLWRSDEMO1&BotAliasId=TSTALIASID",
            &params("+15551234567", "hi"),
        );
        let other_url =
            envelope(URL, &params("+15551234567", "hi"), Some(&signed_elsewhere)).unwrap();
        let wrong_token =
            signed_envelope(URL, &params("+15551234567", "hi"), "another-token").unwrap();
        for (envelope, missing_header) in [
            (forged, false),
            (missing, true),
            (other_url, false),
            (wrong_token, false),
        ] {
            let report = handle(&f, envelope).await;
            assert!(
                matches!(report.outcome, Outcome::Rejected(Rejected::Signature { missing, .. }) if missing == missing_header),
                "{:?}",
                report.outcome
            );
        }
        assert!(f.bot.requests().is_empty());
        assert!(f.twilio.calls().is_empty());
    }

    #[tokio::test]
    async fn the_previous_token_is_accepted_during_rotation() {
        let f = fixture(&[]);
        let rotated = Bridge::new(
            f.bridge.behaviour.clone(),
            None,
            Verifier::new(Secret::new("new-token"), Some(Secret::new(TOKEN))),
            Arc::new(f.bot.clone()),
            Arc::new(f.twilio.clone()),
        );
        let report = rotated
            .handle(
                event("+15551234567", "hi"),
                Deadline::after(Duration::from_secs(5)),
            )
            .await;
        assert_eq!(report.outcome, Outcome::Replied);
    }

    #[tokio::test]
    async fn the_bots_own_and_other_non_customer_messages_are_ignored() {
        let f = fixture(&[("IGNORE_AUTHORS", "system,supervisor")]);
        assert_eq!(
            handle(&f, event("Lex", "Hello!")).await.outcome,
            Outcome::Ignored(Ignored::OwnMessage)
        );
        assert_eq!(
            handle(&f, event("supervisor", "hi")).await.outcome,
            Outcome::Ignored(Ignored::NonCustomer)
        );
        assert_eq!(
            handle(&f, event("+15551234567", "  ")).await.outcome,
            Outcome::Ignored(Ignored::EmptyBody)
        );
        assert!(f.bot.requests().is_empty());
        assert!(f.twilio.calls().is_empty());
    }

    #[tokio::test]
    async fn a_redelivered_message_is_handled_once() {
        let f = fixture(&[]);
        let e = event("+15551234567", "hi");
        assert_eq!(handle(&f, e.clone()).await.outcome, Outcome::Replied);
        assert_eq!(
            handle(&f, e).await.outcome,
            Outcome::Ignored(Ignored::Duplicate)
        );
        assert_eq!(f.bot.requests().len(), 1);
    }

    #[tokio::test]
    async fn a_failing_bot_gets_the_apology_and_a_handoff() {
        let f = fixture(&[]);
        f.bot.push(Err(BotError::Unavailable {
            code: "ThrottlingException".into(),
            message: "Rate exceeded".into(),
        }));
        let report = handle(&f, event("+15551234567", "hi")).await;
        assert_eq!(
            report.outcome,
            Outcome::HandedOff(Reason::BotError("ThrottlingException".into()))
        );
        let calls = f.twilio.calls();
        assert!(
            matches!(&calls[0], Call::Post { body, .. } if body == crate::config::DEFAULT_BOT_ERROR_MESSAGE)
        );
        assert!(
            calls
                .iter()
                .any(|c| matches!(c, Call::CreateInteraction(_)))
        );
    }

    #[tokio::test]
    async fn a_url_without_bot_ids_is_a_bot_error_not_silence() {
        let f = fixture(&[("ON_BOT_ERROR", "reply")]);
        let envelope = signed_envelope(
            "https://abc123.execute-api.us-east-1.amazonaws.com/prod/webhook",
            &params("+15551234567", "hi"),
            TOKEN,
        )
        .unwrap();
        let report = handle(&f, envelope).await;
        assert_eq!(report.outcome, Outcome::Replied);
        assert!(
            report
                .trace
                .lex_error
                .as_deref()
                .is_some_and(|e| e.contains("BotId"))
        );
        assert!(f.bot.requests().is_empty());
        assert_eq!(f.twilio.calls().len(), 1);
    }

    #[tokio::test]
    async fn the_locale_comes_from_the_url_and_long_text_is_capped() {
        let f = fixture(&[]);
        let long = "é".repeat(1500);
        let url = format!("{URL}&LocaleId=fr_CA");
        let envelope = signed_envelope(&url, &params("+15551234567", &long), TOKEN).unwrap();
        let report = handle(&f, envelope).await;
        assert_eq!(report.outcome, Outcome::Replied);
        assert!(report.trace.text_truncated);
        let request = &f.bot.requests()[0];
        assert_eq!(request.bot.locale.as_str(), "fr_CA");
        assert_eq!(request.text.chars().count(), 1024);
    }

    #[tokio::test]
    async fn malformed_envelopes_and_other_accounts_are_rejected() {
        let f = fixture(&[]);
        for bad in [
            json!(null),
            json!("text"),
            json!({"v": "1"}),
            json!({"v": "9", "body": ""}),
        ] {
            assert!(matches!(
                handle(&f, bad).await.outcome,
                Outcome::Rejected(Rejected::Envelope(_))
            ));
        }
        let mut other = params("+15551234567", "hi");
        other[0].1 = "AC99999999999999999999999999999999".into();
        let envelope = signed_envelope(URL, &other, TOKEN).unwrap();
        assert_eq!(
            handle(&f, envelope).await.outcome,
            Outcome::Rejected(Rejected::Account)
        );
        assert!(f.twilio.calls().is_empty());
    }

    #[tokio::test]
    async fn other_event_types_are_ignored() {
        let f = fixture(&[]);
        let p: Params = vec![
            ("AccountSid".into(), AC.into()),
            ("EventType".into(), "onConversationStateUpdated".into()),
            ("ConversationSid".into(), CH.into()),
        ];
        let report = handle(&f, signed_envelope(URL, &p, TOKEN).unwrap()).await;
        assert_eq!(
            report.outcome,
            Outcome::Ignored(Ignored::EventType("onConversationStateUpdated".into()))
        );
    }

    #[tokio::test]
    async fn twilio_failures_become_failed_outcomes_with_their_stage() {
        #[derive(Clone)]
        struct Down;
        #[async_trait::async_trait]
        impl Conversations for Down {
            async fn post_message(
                &self,
                _: &ConversationSid,
                _: &str,
                _: &str,
                _: Deadline,
            ) -> Result<(), TwilioError> {
                Err(TwilioError::Unavailable {
                    operation: "post_message",
                    attempts: 5,
                    last: "HTTP 500".into(),
                })
            }
            async fn close(&self, _: &ConversationSid, _: Deadline) -> Result<(), TwilioError> {
                unreachable!()
            }
            async fn remove_webhook(
                &self,
                _: &ConversationSid,
                _: &WebhookSid,
                _: Deadline,
            ) -> Result<(), TwilioError> {
                unreachable!()
            }
            async fn fetch_conversation(
                &self,
                _: &ConversationSid,
                _: Deadline,
            ) -> Result<ConversationInfo, TwilioError> {
                unreachable!()
            }
            async fn list_participants(
                &self,
                _: &ConversationSid,
                _: Deadline,
            ) -> Result<Vec<Participant>, TwilioError> {
                unreachable!()
            }
            async fn recent_messages(
                &self,
                _: &ConversationSid,
                _: u32,
                _: Deadline,
            ) -> Result<Vec<crate::conversations::PostedMessage>, TwilioError> {
                unreachable!()
            }
            async fn create_interaction(
                &self,
                _: &crate::conversations::InteractionRequest,
                _: Deadline,
            ) -> Result<InteractionSid, TwilioError> {
                unreachable!()
            }
            async fn set_timers(
                &self,
                _: &ConversationSid,
                _: &crate::timers::TimerUpdate,
                _: Deadline,
            ) -> Result<(), TwilioError> {
                unreachable!()
            }
            async fn post_content(
                &self,
                _: &ConversationSid,
                _: &str,
                _: &crate::ids::ContentSid,
                _: &std::collections::BTreeMap<String, String>,
                _: Deadline,
            ) -> Result<(), TwilioError> {
                unreachable!()
            }
        }
        let f = fixture(&[]);
        let bridge = Bridge::new(
            f.bridge.behaviour.clone(),
            None,
            Verifier::new(Secret::new(TOKEN), None),
            Arc::new(f.bot.clone()),
            Arc::new(Down),
        );
        let report = bridge
            .handle(
                event("+15551234567", "hi"),
                Deadline::after(Duration::from_secs(5)),
            )
            .await;
        let Outcome::Failed(failure) = report.outcome else {
            panic!("expected a failure")
        };
        assert_eq!(failure.stage, Stage::Reply);
        assert!(failure.retryable);
    }

    #[tokio::test]
    async fn media_only_messages_get_the_media_reply() {
        let f = fixture(&[]);
        let mut pairs = params("+15551234567", "");
        pairs.push((
            "Media".into(),
            r#"[{"Sid":"ME0123","ContentType":"image/jpeg","Filename":"a.jpg","Size":1}]"#.into(),
        ));
        let envelope = signed_envelope(URL, &pairs, TOKEN).unwrap();
        let report = handle(&f, envelope).await;
        assert_eq!(report.outcome, Outcome::Replied);
        assert!(f.bot.requests().is_empty());
        assert!(
            matches!(&f.twilio.calls()[0], Call::Post { body, .. } if body == crate::config::DEFAULT_MEDIA_REPLY)
        );
    }

    #[tokio::test]
    async fn a_bare_number_answers_the_card_the_bot_just_posted() {
        let f = fixture(&[]);
        f.bot.push(Ok(BotTurn {
            messages: vec![BotMessage::Card(crate::bot::Card {
                title: "Which flowers?".into(),
                buttons: ["Roses", "Lilies"]
                    .iter()
                    .map(|t| crate::bot::Button {
                        text: (*t).into(),
                        value: t.to_lowercase(),
                    })
                    .collect(),
                ..crate::bot::Card::default()
            })],
            ..BotTurn::default()
        }));
        assert_eq!(
            handle(&f, event("+15551234567", "flowers")).await.outcome,
            Outcome::Replied
        );
        let report = handle(&f, event("+15551234567", "2")).await;
        assert!(report.trace.choice_mapped);
        assert_eq!(f.bot.requests()[1].text, "Lilies");
        // A number no card offers goes to the bot as typed.
        let report = handle(&f, event("+15551234567", "7")).await;
        assert!(!report.trace.choice_mapped);
        assert_eq!(f.bot.requests()[2].text, "7");
    }
}
