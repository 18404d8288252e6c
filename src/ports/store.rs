//! The conversation state port: one record per conversation that makes each message handled
//! once and gives the policy memory. A turn *claims* its message before asking the bot, records
//! how far it got, and *finishes*; a redelivered or replayed turn finds its progress and resumes.
//! Adapters: `adapters::dynamodb` (durable) and `adapters::in_memory` (local runs, tests).

use async_trait::async_trait;

use crate::domain::conversation::{BusyTurn, Claim, Lease, Progress, Snapshot, Status, TurnKey};
use crate::domain::ids::{ConversationSid, MessageSid};

/// A state store failure, by whether waiting can help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// Throttled, unreachable or a server error: a later attempt may succeed.
    #[error("conversation state unavailable for {operation}: {detail}")]
    Unavailable {
        operation: &'static str,
        detail: String,
    },
    /// Another delivery holds the conversation within its lease (epoch ms): this one waits
    /// its turn (back to the queue, delivered again after the visibility timeout).
    #[error("conversation state busy: {} until epoch ms {until_ms}; this one waits its turn", turn.running())]
    Busy { until_ms: u64, turn: BusyTurn },
    /// The record is not what a turn expects (another delivery finished the message, or the
    /// item cannot be read): repeating the same call cannot succeed.
    #[error("conversation state refused {operation}: {detail}")]
    Conflict {
        operation: &'static str,
        detail: String,
    },
}

impl StoreError {
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable { .. } | Self::Busy { .. })
    }
}

/// The conversation state. Every method is one round trip to the store.
#[async_trait]
pub trait ConversationStore: Send + Sync {
    /// Claims `turn` for the delivery holding `lease` (when it claims, and until its
    /// invocation's deadline), atomically, by the domain's claim decision
    /// ([`crate::domain::conversation::decide_claim`]): fresh, resumed, or why not.
    async fn claim(
        &self,
        conversation: &ConversationSid,
        turn: TurnKey<'_>,
        lease: Lease,
    ) -> Result<Claim, StoreError>;

    /// Records the turn's progress and, when the plan ends the bot's part, the new status,
    /// so later messages are not answered while the handoff or close is under way. `now` is
    /// epoch seconds.
    async fn record(
        &self,
        conversation: &ConversationSid,
        message: &MessageSid,
        progress: &Progress,
        status: Option<Status>,
        now: u64,
    ) -> Result<(), StoreError>;

    /// Stores the conversation as the turn leaves it (`state`: its memory, its ledger, which
    /// says this job is handled, and its status), drops the turn's progress and, when the turn
    /// holds the conversation, lets go of it. `now` is epoch seconds.
    async fn finish(
        &self,
        conversation: &ConversationSid,
        turn: TurnKey<'_>,
        state: &Snapshot,
        now: u64,
    ) -> Result<(), StoreError>;

    /// Gives up this delivery's lease on a turn that failed (and the conversation, when the
    /// turn holds it), so its redelivery can resume at once instead of waiting for the lease
    /// to run out. Only a lease equal to `lease` is released; another delivery's is left alone.
    async fn release(
        &self,
        conversation: &ConversationSid,
        turn: TurnKey<'_>,
        lease: Lease,
    ) -> Result<(), StoreError>;

    /// Whether the state outlives the process, i.e. whether a replay elsewhere can resume.
    fn durable(&self) -> bool;
}
