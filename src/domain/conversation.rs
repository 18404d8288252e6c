//! The conversation state port: one record per conversation that makes each message handled
//! once and gives the policy memory. A turn *claims* its message before asking the bot, records
//! how far it got, and *finishes*; a redelivered or replayed turn finds its progress and resumes.
//!
//! - [`dynamodb`]: the DynamoDB adapter (one item per conversation, conditional writes, TTL).
//! - [`in_memory`]: the same semantics in a process, for local runs and unit tests.

use serde::{Deserialize, Serialize};

use crate::domain::bot::BotTurn;
use crate::domain::clock::epoch_ms;
use crate::domain::dialog_memory::ConversationMemory;
use crate::domain::ids::InteractionSid;
use crate::domain::plan::Plan;
use crate::domain::timers::TimersState;

/// How long a conversation's record is kept after its last write (DynamoDB TTL).
pub const RETENTION_SECS: u64 = 30 * 24 * 3600;

/// Who has the conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The bot answers the customer's messages.
    Bot,
    /// Handed to Flex (or being handed): the bot stays silent from now on.
    HandedOff,
    /// Closed by the bot.
    Closed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bot => "bot",
            Self::HandedOff => "handed_off",
            Self::Closed => "closed",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "bot" => Some(Self::Bot),
            "handed_off" => Some(Self::HandedOff),
            "closed" => Some(Self::Closed),
            _ => None,
        }
    }
}

/// How far a claimed turn got. Recorded after each step that must not be repeated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "stage", rename_all = "snake_case")]
pub enum Progress {
    /// Claimed; the bot's answer is not recorded (it may not have been asked yet).
    Claimed,
    /// The bot answered: the plan is fixed. Replies are posted tagged with the message they
    /// answer, so a resumed turn finds which ones Twilio already has.
    Answered {
        plan: Plan,
        turn: Option<BotTurn>,
        late: bool,
    },
    /// The handoff's Interaction was requested. `interaction` is `None` until Twilio answered:
    /// a resumed turn that finds `None` cannot know whether the task exists and never creates
    /// a second one blindly.
    HandingOff {
        plan: Plan,
        turn: Option<BotTurn>,
        late: bool,
        interaction: Option<InteractionSid>,
    },
}

impl Progress {
    /// The stage's name, for the log.
    pub fn stage(&self) -> &'static str {
        match self {
            Self::Claimed => "claimed",
            Self::Answered { .. } => "answered",
            Self::HandingOff { .. } => "handing_off",
        }
    }
}

/// What a conversation remembers between turns. Read by the claim and written by the finish
/// in the same round trips that make the turn exactly-once, so the policy's memory costs none.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Memory {
    /// Turns handled (messages answered, by the bot or by the bridge when the bot could not).
    pub turns: u32,
    /// The highest Twilio `Index` handled: a message below it arrived late.
    pub last_index: Option<u64>,
    /// Epoch seconds of the first and latest turn.
    pub started_at: u64,
    pub updated_at: u64,
    /// What this deployment did to the conversation's timers: they are set once per
    /// conversation, whichever instance runs its first turn.
    #[serde(default)]
    pub timers: TimersState,
    /// The bot's side: streaks, intents, slots across intents, the last card's buttons.
    #[serde(default)]
    pub dialog: ConversationMemory,
}

/// When a claim is made, and until when the claiming delivery may still be working on the turn
/// (its invocation's deadline). A redelivery that arrives earlier — a visibility timeout shorter
/// than a slow turn — must not run the same turn beside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    /// Epoch milliseconds.
    pub now_ms: u64,
    /// Epoch milliseconds.
    pub until_ms: u64,
}

impl Lease {
    /// From now until `deadline`.
    pub fn until(deadline: crate::domain::deadline::Deadline) -> Self {
        let now_ms = epoch_ms();
        Self {
            now_ms,
            until_ms: now_ms
                + u64::try_from(deadline.remaining().as_millis()).unwrap_or(u64::MAX / 2),
        }
    }

    pub fn now_secs(&self) -> u64 {
        self.now_ms / 1000
    }
}

/// The answer to a claim: what this delivery of a message should do.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// A message not seen before: the turn is ours.
    Fresh {
        memory: Memory,
    },
    /// This message's turn was started before (a redelivery or a replay): continue from there.
    Resume {
        memory: Memory,
        progress: Box<Progress>,
    },
    /// Already handled.
    Duplicate,
    /// Another delivery is running a turn of this conversation (this message's, or an earlier
    /// one's), within its lease (epoch ms). Turns of one conversation never run side by side,
    /// whatever the queue does: a redelivery during a slow turn, or a replay beside live traffic.
    Busy {
        until_ms: u64,
        turn: BusyTurn,
    },
    /// The conversation is with an agent (or being handed over).
    HandedOff,
    Closed,
}

/// Whose turn a busy claim met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusyTurn {
    /// This message's, run by another delivery of it.
    ThisMessage,
    /// Another message's of the same conversation.
    AnotherMessage,
}

impl BusyTurn {
    /// As the log line's `busy` field says it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ThisMessage => "this_message",
            Self::AnotherMessage => "another_message",
        }
    }

    /// What is running, in words.
    pub fn running(self) -> &'static str {
        match self {
            Self::ThisMessage => "another delivery is running this turn",
            Self::AnotherMessage => "a turn of another message of this conversation is running",
        }
    }
}
