//! The conversations port: the Twilio REST calls the bridge makes, in domain terms.
//! The adapter in `twilio/` does HTTP, auth, retries and error JSON; nothing else does.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde_json::Value;

use crate::domain::customer::{ConversationInfo, Participant};
use crate::domain::deadline::Deadline;
use crate::domain::handoff::InteractionRequest;
use crate::domain::ids::{
    ContentSid, ConversationSid, InteractionChannelSid, InteractionSid, MessageSid, ParticipantSid,
    WebhookSid,
};
use crate::domain::timers::TimerUpdate;

/// A message already in the conversation.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PostedMessage {
    /// `None` only when Twilio's listing carried no readable SID.
    pub sid: Option<MessageSid>,
    pub index: u64,
    pub author: String,
    pub body: String,
    /// The participant who wrote it, when one did.
    pub participant: Option<ParticipantSid>,
    /// Epoch seconds, when Twilio's date is readable.
    pub created: Option<u64>,
    /// It carries media.
    pub has_media: bool,
    /// The message's `Attributes` (`{}` when absent or not JSON).
    pub attributes: Value,
    /// The customer message this reply answers and its part number, from the reply's
    /// attributes: how a resumed turn knows which replies Twilio already has.
    pub reply_to: Option<ReplyTag>,
}

/// Tags a bot reply with the message it answers, in the reply's `Attributes`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReplyTag {
    pub message: MessageSid,
    /// The reply's position among the turn's replies.
    pub part: u32,
    /// The message's position among the pieces a long reply is cut into (0 for the first).
    pub piece: u32,
}

impl ReplyTag {
    /// The `Attributes` JSON a tagged reply carries.
    pub fn attributes(&self) -> Value {
        serde_json::json!({
            "flexlex": { "replyTo": self.message.as_str(), "part": self.part, "piece": self.piece }
        })
    }

    /// The tag in a message's `Attributes`, if it has one.
    pub fn from_attributes(attributes: &Value) -> Option<Self> {
        let tag = attributes.get("flexlex")?;
        Some(Self {
            message: MessageSid::parse(tag.get("replyTo")?.as_str()?).ok()?,
            part: u32::try_from(tag.get("part")?.as_u64()?).ok()?,
            // Replies tagged before long replies were cut in the turn carry no piece.
            piece: match tag.get("piece") {
                None => 0,
                Some(piece) => u32::try_from(piece.as_u64()?).ok()?,
            },
        })
    }
}

/// A conversation-scoped webhook as Twilio lists it. `target` is `webhook`, `trigger` or
/// `studio`; `url`, `method` and `filters` are set for `webhook` (and `trigger`), `flow_sid`
/// for `studio`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScopedWebhook {
    pub sid: Option<WebhookSid>,
    pub target: String,
    pub url: Option<String>,
    pub method: Option<String>,
    pub filters: Vec<String>,
    pub flow_sid: Option<String>,
}

/// What creating an Interaction gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedInteraction {
    pub sid: InteractionSid,
    /// The interaction channel, when Twilio's answer names it.
    pub channel: Option<InteractionChannelSid>,
}

/// An interaction channel: its status (`active`, `inactive`, `pause`, `transfer`, `closed`,
/// …) and its participants.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChannelView {
    pub status: Option<String>,
    pub participants: Vec<ChannelParticipant>,
}

/// A participant of an interaction channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelParticipant {
    /// `customer`, `agent`, `supervisor`, `external`, `unknown`.
    pub kind: String,
    /// `closed` or `wrapup` once the participant left, when Twilio says.
    pub status: Option<String>,
}

impl ChannelView {
    /// Participants other than the customer still in the channel.
    pub fn others_present(&self) -> usize {
        self.participants
            .iter()
            .filter(|p| p.kind != "customer")
            .filter(|p| !matches!(p.status.as_deref(), Some("closed" | "wrapup")))
            .count()
    }
}

/// The target of a Studio flow's webhook.
pub const STUDIO_TARGET: &str = "studio";
/// The target of a plain webhook, such as the bot's.
pub const WEBHOOK_TARGET: &str = "webhook";

/// A `target=webhook` conversation-scoped webhook to create: POSTs of `filters` to `url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWebhook {
    pub url: String,
    pub filters: Vec<String>,
}

impl NewWebhook {
    /// Whether `existing` already delivers what this one would: same target and URL, POST
    /// (Twilio echoes the method in lower case), the same filters in any order.
    pub fn matches(&self, existing: &ScopedWebhook) -> bool {
        let mut wanted = self.filters.clone();
        wanted.sort();
        wanted.dedup();
        let mut have = existing.filters.clone();
        have.sort();
        have.dedup();
        existing.target == WEBHOOK_TARGET
            && existing.url.as_deref() == Some(self.url.as_str())
            && existing
                .method
                .as_deref()
                .is_some_and(|m| m.eq_ignore_ascii_case("post"))
            && have == wanted
    }
}

/// A Twilio REST failure, classified by whether a later attempt could succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TwilioError {
    /// Twilio answered 4xx (other than 429): retrying the same request cannot help.
    #[error("twilio rejected {operation}: HTTP {status}{}: {message}", code.map(|c| format!(", code {c}")).unwrap_or_default())]
    Rejected {
        operation: &'static str,
        status: u16,
        code: Option<u32>,
        message: String,
    },
    /// 429/5xx or network faults that outlasted the retries or the deadline, where Twilio
    /// cannot have applied the request.
    #[error("twilio unavailable for {operation} after {attempts} attempt(s): {last}")]
    Unavailable {
        operation: &'static str,
        attempts: u32,
        last: String,
    },
    /// A request that changes something failed after it was sent (5xx, a timeout, a dropped
    /// connection): Twilio may have applied it, so it is not repeated blindly.
    #[error("twilio left {operation} ambiguous after {attempts} attempt(s): {last}")]
    Ambiguous {
        operation: &'static str,
        attempts: u32,
        last: String,
    },
    /// Twilio answered 2xx with a body we could not read.
    #[error("twilio answered {operation} with an unreadable body: {detail}")]
    Malformed {
        operation: &'static str,
        detail: String,
    },
}

impl TwilioError {
    /// Whether waiting can help: Twilio was unavailable, or its answer was lost.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable { .. } | Self::Ambiguous { .. })
    }
}

/// The REST calls the bridge makes. Replies are posted without `X-Twilio-Webhook-Enabled`,
/// so they never trigger the bot's webhook again.
#[async_trait]
pub trait Conversations: Send + Sync {
    /// Posts `body` as `author` in one message, tagged with the message it answers (`tag`).
    /// The body fits Twilio's limit: the turn cuts long replies ([`crate::domain::message_body`]).
    /// The `Index` Twilio gave the message, when its answer says.
    async fn post_message(
        &self,
        conversation: &ConversationSid,
        author: &str,
        body: &str,
        tag: &ReplyTag,
        deadline: Deadline,
    ) -> Result<Option<u64>, TwilioError>;

    /// `State=closed`.
    async fn close(
        &self,
        conversation: &ConversationSid,
        deadline: Deadline,
    ) -> Result<(), TwilioError>;

    async fn remove_webhook(
        &self,
        conversation: &ConversationSid,
        webhook: &WebhookSid,
        deadline: Deadline,
    ) -> Result<(), TwilioError>;

    async fn fetch_conversation(
        &self,
        conversation: &ConversationSid,
        deadline: Deadline,
    ) -> Result<ConversationInfo, TwilioError>;

    async fn list_participants(
        &self,
        conversation: &ConversationSid,
        deadline: Deadline,
    ) -> Result<Vec<Participant>, TwilioError>;

    /// Creates the Interaction (with its `WebhookTtid` when the request has one): its SID and
    /// its channel's.
    async fn create_interaction(
        &self,
        request: &InteractionRequest,
        deadline: Deadline,
    ) -> Result<CreatedInteraction, TwilioError>;

    /// Invites into an existing Interaction's channel (`POST …/Channels/{UO}/Invites`): a new
    /// task for the same Interaction, with the request's routing (the task attributes are not
    /// carried over from the earlier task, so they are sent again). Not repeated after an
    /// ambiguous failure: a second invite is a second task.
    async fn invite(
        &self,
        interaction: &InteractionSid,
        channel: &InteractionChannelSid,
        request: &InteractionRequest,
        deadline: Deadline,
    ) -> Result<(), TwilioError>;

    /// The interaction channel as Flex has it: its status and who is in it.
    async fn interaction_channel(
        &self,
        interaction: &InteractionSid,
        channel: &InteractionChannelSid,
        deadline: Deadline,
    ) -> Result<ChannelView, TwilioError>;

    /// The conversation's latest messages, newest first (at most `limit`).
    async fn recent_messages(
        &self,
        conversation: &ConversationSid,
        limit: u32,
        deadline: Deadline,
    ) -> Result<Vec<PostedMessage>, TwilioError>;

    /// The conversation's messages with an `Index` from `from` to `to` (both included), oldest
    /// first: newest-first pages (`Order=desc`) just big enough for the span, followed until
    /// `from` is reached.
    async fn messages_between(
        &self,
        conversation: &ConversationSid,
        from: u64,
        to: u64,
        deadline: Deadline,
    ) -> Result<Vec<PostedMessage>, TwilioError>;

    /// `Timers.Inactive` / `Timers.Closed` on the conversation; an empty update makes no call.
    async fn set_timers(
        &self,
        conversation: &ConversationSid,
        update: &TimerUpdate,
        deadline: Deadline,
    ) -> Result<(), TwilioError>;

    /// The conversation's scoped webhooks (Twilio keeps at most five, so one page).
    async fn list_webhooks(
        &self,
        conversation: &ConversationSid,
        deadline: Deadline,
    ) -> Result<Vec<ScopedWebhook>, TwilioError>;

    /// Creates a `target=webhook` scoped webhook; its SID. Not repeated after an ambiguous
    /// failure: a second one would deliver every message twice, so callers list first.
    async fn create_webhook(
        &self,
        conversation: &ConversationSid,
        webhook: &NewWebhook,
        deadline: Deadline,
    ) -> Result<WebhookSid, TwilioError>;

    /// Posts a Content API template (`ContentSid`) with its variables (`ContentVariables`, sent
    /// only when there are some), tagged like a text reply so a resumed turn finds it. Like
    /// [`Conversations::post_message`], never re-triggers the bot's webhook, and answers the
    /// message's `Index` when Twilio's answer says.
    async fn post_content(
        &self,
        conversation: &ConversationSid,
        author: &str,
        content: &ContentSid,
        variables: &BTreeMap<String, String>,
        tag: &ReplyTag,
        deadline: Deadline,
    ) -> Result<Option<u64>, TwilioError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    const IM: &str = "IM0123456789abcdef0123456789abcdef";

    #[test]
    fn a_tag_reads_back_from_the_attributes_it_writes() {
        let tag = ReplyTag {
            message: MessageSid::parse(IM).unwrap(),
            part: 2,
            piece: 1,
        };
        assert_eq!(ReplyTag::from_attributes(&tag.attributes()), Some(tag));
    }

    #[test]
    fn a_tag_without_a_piece_is_the_first_piece_and_a_foreign_one_is_none() {
        let old = serde_json::json!({ "flexlex": { "replyTo": IM, "part": 1 } });
        assert_eq!(
            ReplyTag::from_attributes(&old),
            Some(ReplyTag {
                message: MessageSid::parse(IM).unwrap(),
                part: 1,
                piece: 0,
            })
        );
        for foreign in [
            serde_json::json!({}),
            serde_json::json!({ "flexlex": { "replyTo": "nope", "part": 1 } }),
            serde_json::json!({ "flexlex": { "replyTo": IM, "part": 1, "piece": -1 } }),
        ] {
            assert_eq!(ReplyTag::from_attributes(&foreign), None, "{foreign}");
        }
    }
}
