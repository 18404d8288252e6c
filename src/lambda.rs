//! The Lambda entry point: turns a runtime event into one `Bridge::handle` call and the outcome
//! into the runtime's answer. A failed side effect becomes the invocation's error, so the
//! stack's on-failure destination keeps the event.

use lambda_runtime::{Diagnostic, LambdaEvent};

use crate::deadline::Deadline;
use crate::handler::Bridge;
use crate::outcome::Outcome;
use crate::telemetry::{self, LogFormat};

/// The event could not be completed; carried to the on-failure destination.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{outcome}: {detail}")]
pub struct InvocationError {
    pub outcome: String,
    pub detail: String,
    /// Whether replaying the event from the on-failure queue could succeed.
    pub retryable: bool,
}

impl From<InvocationError> for Diagnostic {
    fn from(error: InvocationError) -> Self {
        Diagnostic {
            error_type: if error.retryable {
                "Retryable"
            } else {
                "NonRetryable"
            }
            .to_owned(),
            error_message: error.to_string(),
        }
    }
}

/// Handles one invocation. Only failed side effects are errors: rejected and ignored events
/// are logged and dropped, since replaying them cannot change their fate.
pub async fn invoke(
    bridge: &Bridge,
    event: LambdaEvent<serde_json::Value>,
    format: LogFormat,
) -> Result<(), InvocationError> {
    let deadline = Deadline::from_epoch_millis(event.context.deadline);
    let mut report = bridge.handle(event.payload, deadline).await;
    if report.trace.request_id.is_empty() {
        report.trace.request_id = event.context.request_id;
    }
    telemetry::emit(&report, format);
    match &report.outcome {
        Outcome::Failed(failure) => Err(InvocationError {
            outcome: report.outcome.to_string(),
            detail: failure.error.clone(),
            retryable: failure.retryable,
        }),
        _ => Ok(()),
    }
}
