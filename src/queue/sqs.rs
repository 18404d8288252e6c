//! The turn queue on SQS FIFO: the conversation is the message group (its turns are delivered
//! one at a time, in order) and the MessageSid the deduplication id (a repeated intake within
//! five minutes enqueues nothing; the conversation state catches later repeats).

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use super::{Dispatched, QueueError, TurnQueue};
use crate::admission::AdmittedTurn;
use crate::deadline::Deadline;

/// Error codes that say a later attempt may succeed.
const TRANSIENT_CODES: &[&str] = &[
    "ThrottlingException",
    "RequestThrottled",
    "ServiceUnavailable",
    "InternalError",
    "InternalFailure",
    "KmsThrottled",
];

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
    async fn dispatch(
        &self,
        turn: AdmittedTurn,
        _deadline: Deadline,
    ) -> Result<Dispatched, QueueError> {
        let body = serde_json::to_string(&turn)
            .map_err(|e| QueueError::Refused(format!("cannot encode the turn: {e}")))?;
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .message_group_id(turn.message.conversation.as_str())
            .message_deduplication_id(turn.message.message.as_str())
            .send()
            .await
            .map_err(queue_error)?;
        Ok(Dispatched::Queued)
    }
}

fn queue_error<E: ProvideErrorMetadata + std::error::Error + 'static>(
    error: SdkError<E>,
) -> QueueError {
    let transient = match &error {
        SdkError::ServiceError(service) => service
            .err()
            .code()
            .is_some_and(|code| TRANSIENT_CODES.contains(&code)),
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        _ => false,
    };
    let detail = DisplayErrorContext(&error).to_string();
    if transient {
        QueueError::Unavailable(detail)
    } else {
        QueueError::Refused(detail)
    }
}
