//! The turn queue port: where intake puts a conversation's job so that the conversation's jobs
//! run one after another, in order, once. Adapter: `adapters::sqs` (SQS FIFO, group = the
//! conversation, deduplication id = the job's key).

use async_trait::async_trait;

use crate::domain::job::Job;

/// A queue failure, by whether waiting can help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    /// Throttled, unreachable or a server error.
    #[error("turn queue unavailable: {0}")]
    Unavailable(String),
    /// Refused (permissions, a missing queue, a malformed message).
    #[error("turn queue refused the job: {0}")]
    Refused(String),
}

impl QueueError {
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

#[async_trait]
pub trait TurnQueue: Send + Sync {
    /// Puts `job` on the queue; the turn runs when the queue delivers it.
    async fn enqueue(&self, job: &Job) -> Result<(), QueueError>;
}
