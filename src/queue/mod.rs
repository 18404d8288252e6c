//! The turn queue port: where intake puts an admitted turn so that a conversation's turns run
//! one after another, in order, once.
//!
//! - [`sqs`]: the SQS FIFO adapter (group = ConversationSid, dedup id = MessageSid).
//! - [`in_process`]: a per-conversation ordered lane in this process that runs the turn at once.

pub mod in_process;
pub mod sqs;

use async_trait::async_trait;

use crate::admission::AdmittedTurn;
use crate::deadline::Deadline;
use crate::outcome::Report;

/// What became of a dispatched turn.
#[derive(Debug)]
pub enum Dispatched {
    /// On the queue; the turn runs when the queue delivers it.
    Queued,
    /// Run in this process; its report.
    Ran(Box<Report>),
}

/// A queue failure, by whether waiting can help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    /// Throttled, unreachable or a server error.
    #[error("turn queue unavailable: {0}")]
    Unavailable(String),
    /// Refused (permissions, a missing queue, a malformed message).
    #[error("turn queue refused the turn: {0}")]
    Refused(String),
}

impl QueueError {
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

#[async_trait]
pub trait TurnQueue: Send + Sync {
    async fn dispatch(
        &self,
        turn: AdmittedTurn,
        deadline: Deadline,
    ) -> Result<Dispatched, QueueError>;
}
