//! What became of one event: the single record the log line and the metrics are made from.

use std::fmt;
use std::future::Future;
use std::time::{Duration, Instant};

use crate::domain::plan::Reason;
use crate::domain::timers::TimersState;
use crate::ports::conversations::TwilioError;
use crate::ports::queue::QueueError;
use crate::ports::store::StoreError;

/// The end of one event's processing. Exactly one per event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Intake: the job is on the turn queue.
    Enqueued,
    /// Replies posted; the conversation stays with the bot.
    Replied,
    Closed(Reason),
    HandedOff(Reason),
    /// A Studio flow handed the conversation over: the bot's webhook replaced the flow's and
    /// there was no text for a first turn.
    BotAttached,
    /// The agent was done and the conversation still open: the bot has it again.
    TakenBack,
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
    /// This message was already handled (delivery is at-least-once, on any instance).
    Duplicate,
    /// The conversation is with an agent, or being handed over: the bot stays silent.
    HandedOff,
    /// The bot closed the conversation.
    Closed,
    /// An Interactions event, and Twilio says the conversation stays where it is.
    StaysWithAgent(crate::domain::after_agent::Stay),
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
    /// The request cannot be checked as it asks (an algorithm or shared key this deployment
    /// does not hold, a JSON body without or against its `bodySHA256`): refused, never checked
    /// a weaker way. `code` is short and bounded; `reason` says what to do (never a secret).
    SignatureScheme { code: &'static str, reason: String },
    /// Signed, but not a Conversations webhook we can read.
    Webhook(String),
    /// Signed for a different account than the configured one.
    Account,
}

/// A step that could not be completed; the record (or event) goes back to its queue and, in
/// the end, to a dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub stage: Stage,
    pub cause: Cause,
    pub replay: Replay,
}

/// What failed, typed by the port it came from; the variant says whether waiting can help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Cause {
    #[error(transparent)]
    Twilio(#[from] TwilioError),
    #[error(transparent)]
    State(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

impl Cause {
    /// Whether a later attempt of the same step could succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Twilio(e) => e.is_transient(),
            Self::State(e) => e.is_transient(),
            Self::Queue(e) => e.is_transient(),
        }
    }
}

/// What replaying the failed record or event would do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// Nothing is repeated: either nothing irreversible happened yet, or the durable state
    /// records how far the turn got and a replay resumes there.
    Safe,
    /// The state that records the turn's progress lives in this process only; a replay
    /// elsewhere could ask the bot again and repeat replies.
    Unsafe,
}

impl Failure {
    /// The Lambda error type: whether waiting helps, then whether a replay is safe.
    pub fn label(&self) -> &'static str {
        match (self.cause.is_transient(), self.replay) {
            (true, Replay::Safe) => "Transient.ReplaySafe",
            (true, Replay::Unsafe) => "Transient.ReplayUnsafe",
            (false, Replay::Safe) => "Permanent.ReplaySafe",
            (false, Replay::Unsafe) => "Permanent.ReplayUnsafe",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Enqueue,
    Claim,
    /// Reading the messages before this one that are not answered yet.
    CatchUp,
    Record,
    Reply,
    Close,
    Interaction,
    RemoveWebhook,
    Finish,
    /// Replacing a Studio flow's webhook with the bot's.
    SwapWebhooks,
    /// Taking the conversation back from the agent: reading the truth, attaching the bot.
    TakeBack,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enqueue => "enqueue",
            Self::Claim => "claim",
            Self::CatchUp => "catch_up",
            Self::Record => "record",
            Self::Reply => "reply",
            Self::Close => "close",
            Self::Interaction => "interaction",
            Self::RemoveWebhook => "remove_webhook",
            Self::Finish => "finish",
            Self::SwapWebhooks => "swap_webhooks",
            Self::TakeBack => "take_back",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Enqueued => f.write_str("enqueued"),
            Self::Replied => f.write_str("replied"),
            Self::Closed(_) => f.write_str("closed"),
            Self::HandedOff(_) => f.write_str("handed_off"),
            Self::BotAttached => f.write_str("bot_attached"),
            Self::TakenBack => f.write_str("taken_back"),
            Self::Ignored(why) => {
                let why = match why {
                    Ignored::EventType(_) => "event_type",
                    Ignored::OwnMessage => "own_message",
                    Ignored::NonCustomer => "non_customer",
                    Ignored::EmptyBody => "empty_body",
                    Ignored::Duplicate => "duplicate",
                    Ignored::HandedOff => "handed_off",
                    Ignored::Closed => "closed",
                    Ignored::StaysWithAgent(_) => "stays_with_agent",
                };
                write!(f, "ignored:{why}")
            }
            Self::Rejected(why) => {
                let why = match why {
                    Rejected::Envelope(_) => "envelope",
                    Rejected::Form(_) => "form",
                    Rejected::Signature { .. } | Rejected::SignatureScheme { .. } => "signature",
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
            Self::Ignored(Ignored::StaysWithAgent(why)) => Some(why.as_str().to_owned()),
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
            Self::Rejected(Rejected::SignatureScheme { reason, .. }) => Some(reason.clone()),
            Self::Rejected(Rejected::Account) => {
                Some("AccountSid differs from TWILIO_ACCOUNT_SID".into())
            }
            Self::Failed(failure) => Some(failure.cause.to_string()),
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
    /// The turn continued a delivery that had started before (redelivery or replay).
    pub resumed: bool,
    /// The message is older than one already handled in its conversation.
    pub late: bool,
    /// Replies a resumed turn found already posted and did not post again.
    pub replies_skipped: u32,
    /// Cards posted as templates (buttons, lists).
    pub cards_rich: u32,
    /// Cards for a rich channel posted as numbered text: the card fit no template, or the
    /// template could not be created or was refused.
    pub cards_as_text: u32,
    /// Content API templates this turn created (a card no instance had sent before).
    pub templates_created: u32,
    /// The conversation timers this turn set or extended.
    pub timers: Option<TimersState>,
    pub lex: Duration,
    /// Time in Twilio's REST API, and its round trips.
    pub twilio: Duration,
    pub twilio_round_trips: u32,
    /// Customer messages before this one, not answered yet, that this job answered first
    /// (in Twilio's order), and the other messages of that gap it only accounted for.
    pub caught_up: u32,
    pub gap_skipped: u32,
    /// Time in the conversation state store, and its round trips.
    pub state: Duration,
    pub state_round_trips: u32,
    /// Time sending the turn to the queue (intake).
    pub queue: Duration,
    /// A Studio handover: the flow's webhooks removed, and whether the bot's was created (not
    /// found already in place).
    pub studio_webhooks_removed: u32,
    pub bot_webhook_created: bool,
    /// How intake found the request signed (`auth_token`, `shared_key:HMAC_SHA256`) and
    /// whether its body was JSON.
    pub signature: Option<String>,
    pub json_body: bool,
    /// The conversation's first bot turn (the bot took it), a fallback turn, a turn below the
    /// confidence threshold: counted on the dashboard.
    pub first_turn: bool,
    pub fallback: bool,
    pub low_confidence: bool,
}

/// One event's record: the outcome plus the trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub outcome: Outcome,
    pub trace: Trace,
    pub total: Duration,
}

/// Runs `work`, adding its time to `total` (a trace's time in Lex, Twilio, the store or the
/// queue).
pub async fn timed<T>(total: &mut Duration, work: impl Future<Output = T>) -> T {
    let started = Instant::now();
    let out = work.await;
    *total += started.elapsed();
    out
}
