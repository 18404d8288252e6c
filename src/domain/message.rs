//! A customer's message as the `onMessageAdded` webhook describes it; intake parses it from the
//! signed form (`intake::webhook`).

use serde_json::Value;

use crate::domain::ids::{AccountSid, ConversationSid, MessageSid, ParticipantSid, WebhookSid};

/// One attached media item, as described in the `Media` param.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Media {
    pub sid: Option<String>,
    pub content_type: Option<String>,
    pub filename: Option<String>,
    pub size: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MessageAdded {
    pub account: AccountSid,
    pub conversation: ConversationSid,
    pub message: MessageSid,
    /// May be empty; who counts as the customer is the policy's call.
    pub author: String,
    /// Empty for a media-only message.
    pub body: String,
    pub participant: Option<ParticipantSid>,
    /// The conversation-scoped webhook that fired: the one removed at handoff.
    pub webhook: Option<WebhookSid>,
    pub source: Option<String>,
    pub client_identity: Option<String>,
    pub media: Vec<Media>,
    pub index: Option<u64>,
    /// The message's `Attributes`; `{}` when absent, empty or not JSON, because they are
    /// informational and a customer's message must not be dropped over malformed metadata.
    pub attributes: Value,
}
