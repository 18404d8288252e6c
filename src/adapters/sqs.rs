//! The turn queue on SQS FIFO: the conversation is the message group (its jobs are delivered
//! one at a time, in order) and the job's key (a message's SID) the deduplication id (a repeated intake within
//! five minutes enqueues nothing; the conversation state catches later repeats).

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};

use crate::adapters::aws_error;

use crate::domain::job::Job;
use crate::ports::queue::{QueueError, TurnQueue};

#[derive(Debug, Clone)]
pub struct SqsTurnQueue {
    client: Client,
    queue_url: String,
}

impl SqsTurnQueue {
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }
}

#[async_trait]
impl TurnQueue for SqsTurnQueue {
    async fn enqueue(&self, job: &Job) -> Result<(), QueueError> {
        let body = job
            .to_body()
            .map_err(|e| QueueError::Refused(format!("cannot encode the job: {e}")))?;
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .message_group_id(job.conversation().as_str())
            .message_deduplication_id(job.key().as_str())
            .send()
            .await
            .map_err(queue_error)?;
        Ok(())
    }
}

fn queue_error<E: ProvideErrorMetadata + std::error::Error + 'static>(
    error: SdkError<E>,
) -> QueueError {
    let failure = aws_error::classify(&error);
    if failure.transient {
        QueueError::Unavailable(failure.detail)
    } else {
        QueueError::Refused(failure.detail)
    }
}
