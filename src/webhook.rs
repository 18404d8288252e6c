//! STUB (to be replaced): typed view of a Conversations webhook over the raw params.

use crate::form::FormParams;
use crate::ids::{AccountSid, ConversationSid, MessageSid, ParticipantSid, WebhookSid};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("webhook parameter `{0}` is missing")]
    Missing(&'static str),
    #[error("webhook parameter `{field}` is invalid: {reason}")]
    Invalid { field: &'static str, reason: String },
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Media {
    pub sid: Option<String>,
    pub content_type: Option<String>,
    pub filename: Option<String>,
    pub size: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MessageAdded {
    pub account: AccountSid,
    pub conversation: ConversationSid,
    pub message: MessageSid,
    pub author: String,
    pub body: String,
    pub participant: Option<ParticipantSid>,
    pub webhook: Option<WebhookSid>,
    pub source: Option<String>,
    pub client_identity: Option<String>,
    pub media: Vec<Media>,
    pub index: Option<u64>,
    pub attributes: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq)]
pub enum WebhookEvent {
    MessageAdded(Box<MessageAdded>),
    Other { event_type: String },
}

impl WebhookEvent {
    pub fn from_params(_params: &FormParams) -> Result<Self, WebhookError> {
        Err(WebhookError::Missing("EventType"))
    }
}
