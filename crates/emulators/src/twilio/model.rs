//! What the emulator remembers: conversations, their participants, messages, timers and
//! webhooks, created Interactions with their channels, participants, invites and Interactions
//! webhooks, the Interactions events waiting to be delivered, content templates, address
//! configurations and every request received.
//!
//! Plain data only: the resource modules (`address_config`, `content`, `scoped_webhooks`,
//! `timers`) add the checks and views on top and depend on this store, never the reverse.

use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

use serde_json::{Map, Value, json};

use super::faults::Fault;
use super::stamps::iso8601;
use crate::sid::Sid;

/// The customer a seeded conversation starts with, as each channel presents it to Twilio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomerKind {
    /// Flex webchat: an SDK identity, with the pre-engagement name in the conversation attributes.
    Web {
        identity: String,
        friendly_name: String,
    },
    /// An SMS binding; `address` is the customer's phone number.
    Sms { address: String },
    /// A WhatsApp binding; `whatsapp:` is prefixed to `address` when missing.
    Whatsapp { address: String },
}

/// The SIDs a test or the demo needs to drive a seeded conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeededConversation {
    pub conversation: Sid,
    /// The bot's conversation-scoped webhook.
    pub webhook: Sid,
    pub customer: Sid,
    /// The `Author` Twilio gives the customer's messages (identity or address).
    pub customer_author: String,
}

/// The SIDs of a conversation to seed: the conversation, the bot's webhook on it and the
/// customer's participant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedSids {
    pub conversation: Sid,
    pub webhook: Sid,
    pub customer: Sid,
}

impl SeedSids {
    pub fn random() -> Self {
        Self {
            conversation: Sid::random("CH"),
            webhook: Sid::random("WH"),
            customer: Sid::random("MB"),
        }
    }
}

/// One HTTP request as received, and the status it got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// Decoded form parameters in the order sent (only for form-encoded bodies).
    pub form: Vec<(String, String)>,
    pub content_type: Option<String>,
    /// The `X-Twilio-Webhook-Enabled` header, when sent.
    pub webhook_enabled: Option<String>,
    /// The Basic-auth user name (an `AC…` or `SK…`); the password is never recorded.
    pub auth_user: Option<String>,
    pub status: u16,
}

impl RecordedRequest {
    /// The first value of a form parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A message stored in a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedMessage {
    pub sid: Sid,
    pub index: u64,
    pub author: String,
    pub body: String,
    pub participant: Option<Sid>,
    pub date_created: String,
    /// The message's `Attributes`, a JSON document as text (`{}` when none were given).
    pub attributes: String,
    /// The template it was sent with (`ContentSid`), if any.
    pub content_sid: Option<Sid>,
}

/// An Interaction as created, with `Channel` and `Routing` parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedInteraction {
    pub sid: Sid,
    pub channel: Value,
    pub routing: Value,
    /// The Interaction Channel (`UO…`) created with it, as the created body's `channel.sid`.
    pub channel_sid: Sid,
    /// `WebhookTtid` as sent: the `interaction` webhook that hears this Interaction's events.
    pub webhook_ttid: Option<String>,
}

/// An Interactions webhook (`/v1/Instances/{GO}/InteractionWebhooks`) as registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InteractionWebhook {
    /// `flex_interactionwebhook_…`: what the resource is addressed by, and for the
    /// `interaction` type what `WebhookTtid` names.
    pub ttid: String,
    /// `global` or `interaction`.
    pub kind: String,
    pub url: String,
    /// `POST` or `GET`, upper-case.
    pub method: String,
    pub events: Vec<String>,
    pub friendly_name: Option<String>,
}

/// The status of an Interaction Channel, as the spec's enum lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelStatus {
    Setup,
    Active,
    Failed,
    Closed,
    Inactive,
    Pause,
    Transfer,
}

impl ChannelStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Setup => "setup",
            Self::Active => "active",
            Self::Failed => "failed",
            Self::Closed => "closed",
            Self::Inactive => "inactive",
            Self::Pause => "pause",
            Self::Transfer => "transfer",
        }
    }
}

/// A participant of an Interaction Channel (`UT…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InteractionParticipant {
    pub sid: Sid,
    /// `customer`, `agent`, `supervisor`, `external` or `unknown`.
    pub kind: String,
    /// The task the participant works (agents only).
    pub task: Option<Sid>,
    pub worker: Option<Sid>,
    pub reservation: Option<Sid>,
}

/// An Invite (`KG…`) sent to an Interaction Channel: a new TaskRouter task.
#[derive(Debug, Clone, PartialEq)]
pub struct InteractionInvite {
    pub sid: Sid,
    pub interaction: Sid,
    pub channel: Sid,
    /// `Routing` as sent, parsed.
    pub routing: Value,
    /// The task the invite created (`WT…`).
    pub task: Sid,
}

/// An Interactions event Flex would send: where, how, what, and its `X-Twilio-Signature`.
/// The emulator makes no HTTP call; tests deliver it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingEvent {
    /// The webhook's URL as registered.
    pub url: String,
    /// `POST` (parameters in a form body) or `GET` (parameters in the query).
    pub method: String,
    /// The event's parameters, in the order the Flex docs list them.
    pub params: Vec<(String, String)>,
    /// Over [`OutgoingEvent::request_url`] and, for `POST`, the parameters.
    pub signature: String,
}

/// The one channel of a stored Interaction, and who is in it.
#[derive(Debug, Clone)]
pub(crate) struct InteractionChannel {
    pub interaction: Sid,
    pub sid: Sid,
    /// `Channel.type` as sent (`web`, `whatsapp`, `sms`, ...).
    pub kind: String,
    pub status: ChannelStatus,
    /// The conversation (`CH…`), when the channel is bound to one.
    pub media_channel: Option<String>,
    pub webhook_ttid: Option<String>,
    pub participants: Vec<InteractionParticipant>,
    /// Tasks created (at creation, by invites) that no worker accepted yet, oldest first.
    pub pending_tasks: Vec<Sid>,
}

/// Flex's side: the instance's Interactions webhooks, each Interaction's channel by
/// Interaction SID, the invites sent and the events not yet taken.
#[derive(Debug, Default)]
pub(crate) struct FlexStore {
    pub webhooks: Vec<InteractionWebhook>,
    pub channels: BTreeMap<Sid, InteractionChannel>,
    pub invites: Vec<InteractionInvite>,
    pub outbox: Vec<OutgoingEvent>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConversationState {
    Active,
    Inactive,
    Closed,
}

impl ConversationState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Inactive => "inactive",
            Self::Closed => "closed",
        }
    }

    pub(crate) fn parse(raw: &str) -> Option<Self> {
        match raw {
            "active" => Some(Self::Active),
            "inactive" => Some(Self::Inactive),
            "closed" => Some(Self::Closed),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct ParticipantRecord {
    pub sid: Sid,
    pub identity: Option<String>,
    pub binding: Option<Value>,
    pub attributes: String,
    pub date_created: String,
}

impl ParticipantRecord {
    /// The `Author` Twilio puts on this participant's messages.
    pub fn author(&self) -> Option<&str> {
        self.identity
            .as_deref()
            .or_else(|| self.binding.as_ref().and_then(|b| b["address"].as_str()))
    }
}

#[derive(Debug, Clone)]
pub(crate) struct ConversationRecord {
    pub friendly_name: Option<String>,
    pub unique_name: Option<String>,
    pub attributes: String,
    pub state: ConversationState,
    pub participants: Vec<ParticipantRecord>,
    pub webhooks: Vec<Sid>,
    pub messages: Vec<RecordedMessage>,
    pub date_created: String,
    pub date_updated: String,
    pub timers: Timers,
}

impl ConversationRecord {
    fn new(attributes: String) -> Self {
        let now = iso8601(SystemTime::now());
        Self {
            friendly_name: None,
            unique_name: None,
            attributes,
            state: ConversationState::Active,
            participants: Vec::new(),
            webhooks: Vec::new(),
            messages: Vec::new(),
            date_created: now.clone(),
            date_updated: now,
            timers: Timers::default(),
        }
    }

    /// Appends a message; the author's participant is linked when it is one.
    pub fn append_message(
        &mut self,
        author: &str,
        body: &str,
        attributes: &str,
    ) -> RecordedMessage {
        let participant = self
            .participants
            .iter()
            .find(|p| p.author() == Some(author))
            .map(|p| p.sid.clone());
        let message = RecordedMessage {
            sid: Sid::random("IM"),
            index: self.messages.len() as u64,
            author: author.to_owned(),
            body: body.to_owned(),
            participant,
            date_created: iso8601(SystemTime::now()),
            attributes: attributes.to_owned(),
            content_sid: None,
        };
        self.messages.push(message.clone());
        message
    }

    pub fn add_participant(
        &mut self,
        identity: Option<String>,
        binding: Option<Value>,
    ) -> ParticipantRecord {
        self.add_participant_as(Sid::random("MB"), identity, binding)
    }

    pub fn add_participant_as(
        &mut self,
        sid: Sid,
        identity: Option<String>,
        binding: Option<Value>,
    ) -> ParticipantRecord {
        let participant = ParticipantRecord {
            sid,
            identity,
            binding,
            attributes: "{}".to_owned(),
            date_created: iso8601(SystemTime::now()),
        };
        self.participants.push(participant.clone());
        participant
    }
}

/// A conversation timer as set: the text received and when it fires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Armed {
    pub duration: String,
    pub fires_at: SystemTime,
}

/// A conversation's two timers (`timers` validates and shows them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Timers {
    pub inactive: Option<Armed>,
    pub closed: Option<Armed>,
}

/// A created Content API template, as received.
#[derive(Debug, Clone, PartialEq)]
pub struct ContentTemplate {
    pub sid: Sid,
    pub friendly_name: String,
    pub language: String,
    pub variables: Map<String, Value>,
    /// The `types` object as sent.
    pub types: Value,
    pub date_created: String,
}

/// A message that was sent with a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentMessage {
    pub conversation: Sid,
    pub message: Sid,
    pub content: Sid,
    /// `ContentVariables`, parsed.
    pub variables: BTreeMap<String, String>,
}

/// Templates and template messages (`content` creates and checks them).
#[derive(Debug, Default)]
pub(crate) struct ContentStore {
    pub templates: Vec<ContentTemplate>,
    pub messages: Vec<ContentMessage>,
}

/// One address configuration as the emulator holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressConfiguration {
    pub sid: Sid,
    /// `Type` as sent (Twilio echoes it).
    pub kind: String,
    pub address: String,
    pub friendly_name: Option<String>,
    pub address_country: Option<String>,
    pub auto_creation: AutoCreation,
    pub date_created: String,
    pub date_updated: String,
}

/// The `AutoCreation.*` settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AutoCreation {
    pub enabled: bool,
    /// `webhook`, `studio` or `default`.
    pub kind: Option<String>,
    pub conversation_service_sid: Option<String>,
    pub webhook_url: Option<String>,
    /// Upper-case, as Twilio answers (`POST`), whatever case was sent.
    pub webhook_method: Option<String>,
    pub webhook_filters: Vec<String>,
    pub studio_flow_sid: Option<String>,
    pub studio_retry_count: Option<u64>,
}

impl AutoCreation {
    /// What the bot's address needs: a webhook POSTing `onMessageAdded` to `url`.
    pub fn webhook(url: &str, method: &str, filters: &[&str]) -> Self {
        Self {
            enabled: true,
            kind: Some("webhook".to_owned()),
            webhook_url: Some(url.to_owned()),
            webhook_method: Some(method.to_ascii_uppercase()),
            webhook_filters: filters.iter().map(|f| (*f).to_owned()).collect(),
            ..Self::default()
        }
    }

    /// A Studio flow integration, as the Flex Console sets it up by default.
    pub fn studio(flow_sid: &str) -> Self {
        Self {
            enabled: true,
            kind: Some("studio".to_owned()),
            studio_flow_sid: Some(flow_sid.to_owned()),
            ..Self::default()
        }
    }
}

/// Every address configuration of the account, and the numbers it owns
/// (`address_config` serves and checks them).
#[derive(Debug, Default)]
pub(crate) struct AddressBook {
    pub configs: Vec<AddressConfiguration>,
    pub owned_numbers: BTreeSet<String>,
}

/// A conversation-scoped webhook as created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopedWebhook {
    pub sid: Sid,
    /// `webhook`, `trigger` or `studio`.
    pub target: String,
    pub url: Option<String>,
    /// Lower-case, as sent and as Twilio's examples echo it.
    pub method: Option<String>,
    pub filters: Vec<String>,
    pub triggers: Vec<String>,
    pub flow_sid: Option<String>,
    pub replay_after: Option<u64>,
    pub date_created: String,
}

/// What the emulator knows about each scoped webhook beyond its SID, by SID
/// (`scoped_webhooks` serves them).
pub(crate) type WebhookDetails = BTreeMap<Sid, ScopedWebhook>;

/// Everything behind the emulator's lock.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub api_keys: Vec<(Sid, String)>,
    pub conversations: BTreeMap<Sid, ConversationRecord>,
    pub requests: Vec<RecordedRequest>,
    pub interactions: Vec<RecordedInteraction>,
    pub faults: Vec<Fault>,
    pub content: ContentStore,
    pub addresses: AddressBook,
    pub scoped_webhooks: WebhookDetails,
    pub flex: FlexStore,
}

/// The proxy (Twilio) number seeded SMS and WhatsApp customers write to.
const PROXY_NUMBER: &str = "+15017122661";

impl State {
    pub fn seed(&mut self, customer: CustomerKind) -> SeededConversation {
        self.seed_with(customer, SeedSids::random())
    }

    pub fn seed_with(&mut self, customer: CustomerKind, sids: SeedSids) -> SeededConversation {
        let (attributes, identity, binding) = match customer {
            CustomerKind::Web {
                identity,
                friendly_name,
            } => {
                let attributes =
                    json!({ "pre_engagement_data": { "friendlyName": friendly_name } });
                (attributes.to_string(), Some(identity), None)
            }
            CustomerKind::Sms { address } => {
                let binding =
                    json!({ "type": "sms", "address": address, "proxy_address": PROXY_NUMBER });
                ("{}".to_owned(), None, Some(binding))
            }
            CustomerKind::Whatsapp { address } => {
                let address = if address.starts_with("whatsapp:") {
                    address
                } else {
                    format!("whatsapp:{address}")
                };
                let binding = json!({
                    "type": "whatsapp",
                    "address": address,
                    "proxy_address": format!("whatsapp:{PROXY_NUMBER}"),
                });
                ("{}".to_owned(), None, Some(binding))
            }
        };
        let SeedSids {
            conversation,
            webhook,
            customer,
        } = sids;
        let mut record = ConversationRecord::new(attributes);
        record.webhooks.push(webhook.clone());
        let participant = record.add_participant_as(customer, identity, binding);
        self.conversations.insert(conversation.clone(), record);
        SeededConversation {
            customer_author: participant.author().unwrap_or_default().to_owned(),
            conversation,
            webhook,
            customer: participant.sid,
        }
    }

    pub fn seed_empty(&mut self, attributes: String) -> (Sid, Sid) {
        let conversation: Sid = Sid::random("CH");
        let webhook: Sid = Sid::random("WH");
        let mut record = ConversationRecord::new(attributes);
        record.webhooks.push(webhook.clone());
        self.conversations.insert(conversation.clone(), record);
        (conversation, webhook)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_customers_author_like_twilio() {
        let mut state = State::default();
        let web = state.seed(CustomerKind::Web {
            identity: "guest-1".into(),
            friendly_name: "Ann".into(),
        });
        assert_eq!(web.customer_author, "guest-1");
        let wa = state.seed(CustomerKind::Whatsapp {
            address: "+15550001111".into(),
        });
        assert_eq!(wa.customer_author, "whatsapp:+15550001111");
        let record = &state.conversations[&web.conversation];
        assert!(record.attributes.contains("\"friendlyName\":\"Ann\""));
        assert_eq!(record.webhooks, vec![web.webhook]);
    }
}
