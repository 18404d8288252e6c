//! The bot's turn in domain terms: what the bridge needs from a conversational bot's answer.
//! The port is `crate::ports::bot`; the Lex adapter (`crate::adapters::lex`) maps the SDK's
//! types to these, and nothing else sees SDK types.

use std::collections::BTreeMap;

use crate::domain::ids::BotRef;

/// Lex accepts at most this many UTF-16 code units of text per turn.
pub const MAX_TEXT_UNITS: usize = 1024;

/// One customer utterance for the bot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotRequest {
    pub bot: BotRef,
    /// The Lex session: the Conversation SID, so a conversation keeps its dialog state.
    pub session_id: String,
    /// Already capped with [`cap_text`].
    pub text: String,
    /// Channel information for the bot's code hooks (`x-amz-lex:` keys are reserved by Lex).
    pub request_attributes: BTreeMap<String, String>,
}

/// Truncates to Lex's limit on a char boundary, counting UTF-16 code units as Lex does.
pub fn cap_text(text: &str) -> &str {
    let mut units = 0;
    for (i, c) in text.char_indices() {
        units += c.len_utf16();
        if units > MAX_TEXT_UNITS {
            return &text[..i];
        }
    }
    text
}

/// What the bot said and where its dialog stands after one turn.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct BotTurn {
    pub messages: Vec<BotMessage>,
    pub dialog_action: Option<DialogAction>,
    pub intent: Option<Intent>,
    pub session_attributes: BTreeMap<String, String>,
    /// NLU confidence of the top interpretation, when Lex gives one.
    pub confidence: Option<f64>,
    /// Sentiment of the utterance, when the alias has sentiment analysis on.
    pub sentiment: Option<String>,
    /// Other intents Lex considered, with the slots they hold: after a switch to `Agent`
    /// mid-order, the order's slots are only found here.
    pub alternatives: Vec<Intent>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum BotMessage {
    PlainText(String),
    Ssml(String),
    Card(Card),
    CustomPayload(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Card {
    pub title: String,
    pub subtitle: Option<String>,
    pub image_url: Option<String>,
    pub buttons: Vec<Button>,
}

/// A card's button: `text` is what the customer sees, `value` what the bot expects back.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Button {
    pub text: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum DialogAction {
    Close,
    ConfirmIntent,
    Delegate,
    ElicitIntent,
    ElicitSlot(Option<String>),
    None,
    Other(String),
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Intent {
    pub name: String,
    pub state: IntentState,
    pub confirmation: Option<String>,
    /// Slot name → interpreted value (`None` when the slot is still empty).
    pub slots: BTreeMap<String, Option<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum IntentState {
    Failed,
    Fulfilled,
    InProgress,
    ReadyForFulfillment,
    Waiting,
    FulfillmentInProgress,
    Other(String),
}

impl IntentState {
    pub fn as_str(&self) -> &str {
        match self {
            Self::Failed => "Failed",
            Self::Fulfilled => "Fulfilled",
            Self::InProgress => "InProgress",
            Self::ReadyForFulfillment => "ReadyForFulfillment",
            Self::Waiting => "Waiting",
            Self::FulfillmentInProgress => "FulfillmentInProgress",
            Self::Other(s) => s,
        }
    }
}

/// Why the bot could not answer, and whether asking again can help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BotError {
    /// Throttled, 5xx, conflict on the session or a network fault, after the retries.
    #[error("bot unavailable ({code}): {message}")]
    Unavailable { code: String, message: String },
    /// The request itself was refused (bad ids, access denied, unknown bot or locale).
    #[error("bot refused the request ({code}): {message}")]
    Rejected { code: String, message: String },
    /// The bot's own code hook failed (Lex `DependencyFailedException`).
    #[error("bot dependency failed: {message}")]
    Dependency { message: String },
    #[error("no time left for the bot")]
    Deadline,
}

impl BotError {
    pub fn code(&self) -> &str {
        match self {
            Self::Unavailable { code, .. } | Self::Rejected { code, .. } => code,
            Self::Dependency { .. } => "DependencyFailedException",
            Self::Deadline => "Deadline",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_counts_utf16_units_and_keeps_char_boundaries() {
        let short = "hello";
        assert_eq!(cap_text(short), short);
        let exact = "a".repeat(1024);
        assert_eq!(cap_text(&exact).len(), 1024);
        let long = "a".repeat(1025);
        assert_eq!(cap_text(&long).len(), 1024);
        // Each emoji is two UTF-16 units: 512 fit, and the cut never splits one.
        let emoji = "😀".repeat(600);
        let capped = cap_text(&emoji);
        assert_eq!(capped.chars().count(), 512);
        let mixed = format!("{}😀", "a".repeat(1023));
        assert_eq!(cap_text(&mixed), "a".repeat(1023));
    }
}
