//! The conversation's record and its state machine: one record per conversation makes each
//! message handled once and gives the policy memory. A turn *claims* its message before asking
//! the bot, records how far it got, and *finishes*; a redelivered or replayed turn finds its
//! progress and resumes. [`decide_claim`] is the claim decision both stores call
//! (`crate::ports::store` is the port; `crate::adapters::dynamodb` and
//! `crate::adapters::in_memory` load and conditionally write).

use serde::{Deserialize, Serialize};

use crate::domain::bot::BotTurn;
use crate::domain::dialog_memory::DialogMemory;
use crate::domain::ids::{InteractionChannelSid, InteractionSid, MessageSid};
use crate::domain::ledger::Ledger;
use crate::domain::plan::Plan;
use crate::domain::timers::TimersState;

/// How long a conversation's record is kept after its last write (DynamoDB TTL).
pub const RETENTION_SECS: u64 = 30 * 24 * 3600;

/// Who has the conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The bot answers the customer's messages.
    #[default]
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
        /// The Interaction's channel, once known (for a take-back later).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        channel: Option<InteractionChannelSid>,
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
    pub dialog: DialogMemory,
    /// The Interaction the bot last handed the conversation to, while it may take it back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<AgentEpisode>,
    /// How many times the conversation was with an agent and came back to the bot.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub back_from_agent: u32,
    /// The next message is the first since the bot took the conversation back: Lex is told.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub just_back: bool,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// The agent's part of a conversation, as the bot handed it over: kept in the memory so a
/// take-back (`domain::after_agent`) can check the truth and a later handoff can invite into
/// the same Interaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentEpisode {
    pub interaction: InteractionSid,
    pub channel: InteractionChannelSid,
    /// The bot's conversation-scoped webhook, as it was before the handoff removed it.
    pub bot_webhook_url: Option<String>,
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
    /// From `now_ms` (epoch milliseconds, the caller's clock) until `deadline`.
    pub fn until(now_ms: u64, deadline: crate::domain::deadline::Deadline) -> Self {
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

/// What a claim is for: the job's key, its message's Twilio `Index` when it has one, and the
/// key of the job whose delivery holds the conversation — the job itself, or, for a turn a
/// catch-up runs, the job that found the gap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TurnKey<'a> {
    pub key: &'a MessageSid,
    pub index: Option<u64>,
    pub holder: &'a MessageSid,
    /// A take-back: it may claim a conversation the agent has.
    pub from_agent: bool,
}

impl<'a> TurnKey<'a> {
    /// A job's own turn, holding the conversation for itself.
    pub fn own(key: &'a MessageSid, index: Option<u64>) -> Self {
        Self {
            key,
            index,
            holder: key,
            from_agent: false,
        }
    }

    /// A take-back's turn: it claims the conversation while the agent has it.
    pub fn take_back(key: &'a MessageSid) -> Self {
        Self {
            from_agent: true,
            ..Self::own(key, None)
        }
    }

    /// Whether this turn is the one holding the conversation (so its finish lets go).
    pub fn holds(&self) -> bool {
        self.key == self.holder
    }
}

/// The conversation as a claim that takes the turn reads it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Snapshot {
    pub memory: Memory,
    pub ledger: Ledger,
    pub status: Status,
}

/// The answer to a claim: what this delivery of a message should do.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// A message not seen before: the turn is ours.
    Fresh {
        state: Snapshot,
    },
    /// This message's turn was started before (a redelivery or a replay): continue from there.
    /// The status may have moved on since (another turn handed off meanwhile).
    Resume {
        state: Snapshot,
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

/// What a claim reads from a conversation's record, whichever store holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimView<'a> {
    pub status: Status,
    /// This job is done: its key is among the latest handled, or its message's Index is
    /// accounted for ([`Ledger::handled`]).
    pub handled: bool,
    /// This message's turn is in flight: the end of the lease of the delivery running it
    /// (epoch ms; 0 when released or never leased).
    pub in_flight_until: Option<u64>,
    /// The job whose delivery holds the conversation, and until when (epoch ms).
    pub holder: Option<(&'a str, u64)>,
}

/// What a claim decides, before the store attaches the memory and the progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The turn is ours, new.
    Fresh,
    /// The turn is ours, started before by a delivery now past its lease.
    Resume,
    Busy {
        until_ms: u64,
        turn: BusyTurn,
    },
    Duplicate,
    HandedOff,
    Closed,
}

impl Verdict {
    /// Whether the claim takes the turn (and so writes the lease).
    pub fn takes_the_turn(self) -> bool {
        matches!(self, Self::Fresh | Self::Resume)
    }

    /// The store's answer: a verdict that takes the turn gets the conversation as the store
    /// holds it and, to resume, the turn's progress, each read from the store only then.
    pub fn into_claim<E>(
        self,
        state: impl FnOnce() -> Result<Snapshot, E>,
        progress: impl FnOnce() -> Result<Progress, E>,
    ) -> Result<Claim, E> {
        Ok(match self {
            Self::Fresh => Claim::Fresh { state: state()? },
            Self::Resume => Claim::Resume {
                progress: Box::new(progress()?),
                state: state()?,
            },
            Self::Busy { until_ms, turn } => Claim::Busy { until_ms, turn },
            Self::Duplicate => Claim::Duplicate,
            Self::HandedOff => Claim::HandedOff,
            Self::Closed => Claim::Closed,
        })
    }
}

/// The claim decision, the conversation's state machine: one turn of a conversation at a time,
/// each message once, nothing for the bot once the conversation is an agent's or closed.
///
/// In order: a handled message is a duplicate; this message's turn in flight is busy while
/// another delivery's lease runs, else resumed (unless another job's delivery now holds the
/// conversation); a new message waits while another job's delivery holds the conversation;
/// otherwise the status decides. A catch-up's turns claim under the hold of the job that
/// found the gap. Both stores call this; the DynamoDB adapter's condition
/// expression is the same rule, written for the store.
pub fn decide_claim(view: &ClaimView<'_>, turn: TurnKey<'_>, lease: Lease) -> Verdict {
    if view.handled {
        return Verdict::Duplicate;
    }
    let held_by_another = view
        .holder
        .filter(|(holder, until_ms)| *holder != turn.holder.as_str() && *until_ms > lease.now_ms)
        .map(|(_, until_ms)| until_ms);
    if let Some(until_ms) = view.in_flight_until {
        return match held_by_another {
            _ if until_ms > lease.now_ms => Verdict::Busy {
                until_ms,
                turn: BusyTurn::ThisMessage,
            },
            Some(until_ms) => Verdict::Busy {
                until_ms,
                turn: BusyTurn::AnotherMessage,
            },
            None => Verdict::Resume,
        };
    }
    match (view.status, held_by_another) {
        (Status::HandedOff, _) if !turn.from_agent => Verdict::HandedOff,
        (Status::Closed, _) => Verdict::Closed,
        (Status::Bot | Status::HandedOff, Some(until_ms)) => Verdict::Busy {
            until_ms,
            turn: BusyTurn::AnotherMessage,
        },
        (Status::Bot | Status::HandedOff, None) => Verdict::Fresh,
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::clock::epoch_ms;

    const NOW: u64 = 1_000_000;

    fn me() -> MessageSid {
        MessageSid::parse("IM0000000000000000000000000000000a").unwrap()
    }

    fn lease() -> Lease {
        Lease {
            now_ms: NOW,
            until_ms: NOW + 30_000,
        }
    }

    fn view(status: Status) -> ClaimView<'static> {
        ClaimView {
            status,
            handled: false,
            in_flight_until: None,
            holder: None,
        }
    }

    const OTHER: &str = "IM0000000000000000000000000000000b";

    #[test]
    fn a_new_message_of_a_bot_conversation_is_fresh() {
        assert_eq!(
            decide_claim(&view(Status::Bot), TurnKey::own(&me(), None), lease()),
            Verdict::Fresh
        );
        // Another message's lease that has run out does not hold the conversation.
        let expired = ClaimView {
            holder: Some((OTHER, NOW)),
            ..view(Status::Bot)
        };
        assert_eq!(
            decide_claim(&expired, TurnKey::own(&me(), None), lease()),
            Verdict::Fresh
        );
    }

    #[test]
    fn a_handled_message_is_a_duplicate_whatever_else_holds() {
        let handled = ClaimView {
            handled: true,
            in_flight_until: Some(NOW + 1),
            holder: Some((OTHER, NOW + 1)),
            ..view(Status::Closed)
        };
        assert_eq!(
            decide_claim(&handled, TurnKey::own(&me(), None), lease()),
            Verdict::Duplicate
        );
    }

    #[test]
    fn a_new_message_waits_while_another_turn_holds_the_conversation() {
        let held = ClaimView {
            holder: Some((OTHER, NOW + 5)),
            ..view(Status::Bot)
        };
        assert_eq!(
            decide_claim(&held, TurnKey::own(&me(), None), lease()),
            Verdict::Busy {
                until_ms: NOW + 5,
                turn: BusyTurn::AnotherMessage
            }
        );
    }

    #[test]
    fn a_turn_in_flight_is_busy_during_its_lease_and_resumed_after() {
        let mine = me();
        let running = ClaimView {
            in_flight_until: Some(NOW + 7),
            holder: Some((mine.as_str(), NOW + 7)),
            ..view(Status::HandedOff)
        };
        assert_eq!(
            decide_claim(&running, TurnKey::own(&mine, None), lease()),
            Verdict::Busy {
                until_ms: NOW + 7,
                turn: BusyTurn::ThisMessage
            }
        );
        // Past its lease (or released: 0), the turn resumes even after the status moved on:
        // a handoff under way finishes.
        for until in [NOW, 0] {
            let dead = ClaimView {
                in_flight_until: Some(until),
                ..running
            };
            assert_eq!(
                decide_claim(&dead, TurnKey::own(&mine, None), lease()),
                Verdict::Resume
            );
        }
        // Unless another message's turn holds the conversation now.
        let overtaken = ClaimView {
            in_flight_until: Some(0),
            holder: Some((OTHER, NOW + 9)),
            ..running
        };
        assert_eq!(
            decide_claim(&overtaken, TurnKey::own(&mine, None), lease()),
            Verdict::Busy {
                until_ms: NOW + 9,
                turn: BusyTurn::AnotherMessage
            }
        );
    }

    #[test]
    fn a_catch_up_turn_claims_under_the_hold_of_the_job_that_found_the_gap() {
        let holder = MessageSid::parse(OTHER).unwrap();
        let held = ClaimView {
            holder: Some((OTHER, NOW + 5)),
            ..view(Status::Bot)
        };
        let nested = TurnKey {
            key: &me(),
            index: Some(3),
            holder: &holder,
            from_agent: false,
        };
        assert!(!nested.holds());
        assert_eq!(decide_claim(&held, nested, lease()), Verdict::Fresh);
        // Any other job waits.
        assert_eq!(
            decide_claim(&held, TurnKey::own(&me(), Some(3)), lease()),
            Verdict::Busy {
                until_ms: NOW + 5,
                turn: BusyTurn::AnotherMessage
            }
        );
    }

    #[test]
    fn only_a_take_back_claims_a_conversation_the_agent_has() {
        let mine = me();
        let take_back = TurnKey::take_back(&mine);
        for status in [Status::HandedOff, Status::Bot] {
            assert_eq!(
                decide_claim(&view(status), take_back, lease()),
                Verdict::Fresh
            );
        }
        assert_eq!(
            decide_claim(&view(Status::Closed), take_back, lease()),
            Verdict::Closed
        );
        let held = ClaimView {
            holder: Some((OTHER, NOW + 5)),
            ..view(Status::HandedOff)
        };
        assert!(matches!(
            decide_claim(&held, take_back, lease()),
            Verdict::Busy { .. }
        ));
    }

    #[test]
    fn an_agents_or_closed_conversation_gets_no_new_turn() {
        assert_eq!(
            decide_claim(&view(Status::HandedOff), TurnKey::own(&me(), None), lease()),
            Verdict::HandedOff
        );
        assert_eq!(
            decide_claim(&view(Status::Closed), TurnKey::own(&me(), None), lease()),
            Verdict::Closed
        );
        assert!(!Verdict::HandedOff.takes_the_turn());
        assert!(Verdict::Resume.takes_the_turn());
    }

    #[test]
    fn a_lease_never_extends_past_the_functions_timeout() {
        use crate::domain::deadline::{Deadline, FunctionTimeout, RuntimeDeadline};
        let timeout = FunctionTimeout::DEFAULT;
        let now = epoch_ms();
        // A duration (Cargo Lambda), 1970, 2072, fifteen minutes ahead, and a real deadline.
        for raw in [600_000, 0, 3_235_000_000_000, now + 900_000, now + 20_000] {
            let lease = Lease::until(
                now,
                Deadline::from_runtime(RuntimeDeadline::read(raw, now, timeout)),
            );
            assert!(
                lease.until_ms - lease.now_ms <= 30_000 - 500,
                "{raw}: {lease:?}"
            );
        }
    }
}
