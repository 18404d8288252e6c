//! What became of one event: the single record the log line and the metrics are made from.

use std::fmt;
use std::time::Duration;

use crate::policy::Reason;

/// The end of one event's processing. Exactly one per event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Replies posted; the conversation stays with the bot.
    Replied,
    Closed(Reason),
    HandedOff(Reason),
    Ignored(Ignored),
    Rejected(Rejected),
    Failed(Failure),
}

/// Events that are valid but not for the bot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ignored {
    /// Any event type but `onMessageAdded`.
    EventType(String),
    /// The bot's own reply (only possible if someone re-enabled webhooks on REST messages).
    OwnMessage,
    /// An agent, `system` or another configured author.
    NonCustomer,
    /// No text and no attachments.
    EmptyBody,
    /// This message was already handled by this instance (async delivery is at-least-once).
    Duplicate,
}

/// Events dropped before any side effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejected {
    /// Not the JSON the request template produces.
    Envelope(String),
    /// The body is not a form.
    Form(String),
    /// `tried`: every URL variant the signature was checked against (never a token).
    Signature { missing: bool, tried: Vec<String> },
    /// Signed, but not a Conversations webhook we can read.
    Webhook(String),
    /// Signed for a different account than the configured one.
    Account,
}

/// A side effect that could not be completed; the event goes to the on-failure destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub stage: Stage,
    pub error: String,
    /// Whether replaying the event later could succeed.
    pub retryable: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Reply,
    Close,
    Interaction,
    RemoveWebhook,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reply => "reply",
            Self::Close => "close",
            Self::Interaction => "interaction",
            Self::RemoveWebhook => "remove_webhook",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Replied => f.write_str("replied"),
            Self::Closed(_) => f.write_str("closed"),
            Self::HandedOff(_) => f.write_str("handed_off"),
            Self::Ignored(why) => {
                let why = match why {
                    Ignored::EventType(_) => "event_type",
                    Ignored::OwnMessage => "own_message",
                    Ignored::NonCustomer => "non_customer",
                    Ignored::EmptyBody => "empty_body",
                    Ignored::Duplicate => "duplicate",
                };
                write!(f, "ignored:{why}")
            }
            Self::Rejected(why) => {
                let why = match why {
                    Rejected::Envelope(_) => "envelope",
                    Rejected::Form(_) => "form",
                    Rejected::Signature { .. } => "signature",
                    Rejected::Webhook(_) => "webhook",
                    Rejected::Account => "account",
                };
                write!(f, "rejected:{why}")
            }
            Self::Failed(failure) => write!(f, "failed:{}", failure.stage.as_str()),
        }
    }
}

impl Outcome {
    /// The human detail behind the outcome code, for the log line (never secrets, never text).
    pub fn detail(&self) -> Option<String> {
        match self {
            Self::Closed(reason) | Self::HandedOff(reason) => Some(reason.to_string()),
            Self::Ignored(Ignored::EventType(t)) => Some(format!("event type {t}")),
            Self::Rejected(Rejected::Envelope(e) | Rejected::Form(e) | Rejected::Webhook(e)) => {
                Some(e.clone())
            }
            Self::Rejected(Rejected::Signature { missing: true, .. }) => {
                Some("X-Twilio-Signature header missing".into())
            }
            Self::Rejected(Rejected::Signature {
                missing: false,
                tried,
            }) => Some(format!(
                "signature matches none of {} URL variant(s)",
                tried.len()
            )),
            Self::Rejected(Rejected::Account) => {
                Some("AccountSid differs from TWILIO_ACCOUNT_SID".into())
            }
            Self::Failed(failure) => Some(failure.error.clone()),
            _ => None,
        }
    }
}

/// What was learned and measured along the way, whatever the outcome.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Trace {
    pub request_id: String,
    pub conversation: Option<String>,
    pub message: Option<String>,
    pub intent: Option<String>,
    pub lex_error: Option<String>,
    pub messages_posted: u32,
    pub text_truncated: bool,
    /// A bare number was sent to the bot as the card choice it picks.
    pub choice_mapped: bool,
    pub lex: Duration,
    pub twilio: Duration,
}

/// One event's record: the outcome plus the trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub outcome: Outcome,
    pub trace: Trace,
    pub total: Duration,
}
