//! What a turn will do: the replies to post and one terminal action, with its reason.

use std::fmt;

use crate::domain::bot::Card;
use crate::domain::escalation::Escalation;
use crate::domain::render::card_to_text;

/// Session attribute a bot's code hook sets to ask for an action (`handoff` or `close`).
pub const ACTION_ATTRIBUTE: &str = "flexlex_action";

/// Session attribute carrying a human-readable reason for the requested action.
pub const REASON_ATTRIBUTE: &str = "flexlex_reason";

/// What happens to the conversation once the messages are posted.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Action {
    /// Leave the conversation with the bot; the customer's next message comes back to us.
    Wait,
    /// `State=closed`.
    Close(Reason),
    /// Create the Flex Interaction, then remove the bot's webhook.
    Handoff(Reason),
}

/// Why a conversation is closed or handed off; goes to the log and the task attributes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Reason {
    /// The intent is configured as terminal (`HANDOFF_INTENTS`, `CLOSE_INTENTS`).
    Intent(String),
    /// The bot asked, through a session attribute or a flexlex custom payload.
    BotRequested { via: Via, detail: Option<String> },
    /// Lex failed after retries; carries the Lex error code.
    BotError(String),
    /// The customer sent attachments only and `ON_MEDIA=handoff`.
    MediaOnly,
    /// The webhook URL names no usable bot (`BotId`/`BotAliasId` missing or malformed).
    NoBot,
    /// The conversation was going badly by one of the escalation rules (see `escalation`).
    Escalation(Escalation),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Via {
    SessionAttribute,
    CustomPayload,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Intent(name) => write!(f, "intent:{name}"),
            Self::BotRequested {
                via: Via::SessionAttribute,
                ..
            } => f.write_str("bot_requested:session_attribute"),
            Self::BotRequested {
                via: Via::CustomPayload,
                ..
            } => f.write_str("bot_requested:custom_payload"),
            Self::BotError(code) => write!(f, "bot_error:{code}"),
            Self::MediaOnly => f.write_str("media_only"),
            Self::NoBot => f.write_str("no_bot"),
            Self::Escalation(rule) => write!(f, "escalation:{rule}"),
        }
    }
}

/// The ordered replies to post, then one action.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Plan {
    pub messages: Vec<Reply>,
    pub action: Action,
}

impl Plan {
    /// Each reply as the text it reads as on a text-only channel.
    pub fn texts(&self) -> Vec<String> {
        self.messages.iter().map(Reply::text).collect()
    }
}

/// One reply of a plan. A card stays a card until it is posted, because only then is the
/// channel's form chosen: buttons where the channel shows them, numbered text elsewhere.
/// Untagged, so a plan stored as plain strings still reads.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum Reply {
    Text(String),
    Card(Card),
}

impl Reply {
    /// The text the customer reads when no buttons can be shown.
    pub fn text(&self) -> String {
        match self {
            Self::Text(text) => text.clone(),
            Self::Card(card) => card_to_text(card),
        }
    }
}

impl From<&str> for Reply {
    fn from(text: &str) -> Self {
        Self::Text(text.to_owned())
    }
}

impl From<String> for Reply {
    fn from(text: String) -> Self {
        Self::Text(text)
    }
}
