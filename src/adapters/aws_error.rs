//! One reading of an AWS SDK failure for every AWS adapter (SQS, DynamoDB): whether waiting
//! can help, by the service's error code or the kind of failure, and the whole error chain as
//! text for the log.

use std::error::Error;
use std::fmt::Debug;

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// Error codes, across the services we call, that say a later attempt may succeed.
const TRANSIENT_CODES: &[&str] = &[
    // Shared, and SQS's.
    "ThrottlingException",
    "RequestThrottled",
    "ServiceUnavailable",
    "InternalError",
    "InternalFailure",
    "KmsThrottled",
    // DynamoDB's.
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "InternalServerError",
    "TransactionInProgressException",
];

/// A failed AWS call, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsFailure {
    /// Throttled, unreachable, timed out or a server error: a later attempt may succeed.
    pub transient: bool,
    pub detail: String,
}

/// Reads `error`: transient for the codes above and for timeouts, dispatch and response
/// failures (the request may not have arrived, or its answer was lost); anything else (access
/// denied, a missing resource, a validation error) is permanent.
pub fn classify<E, R>(error: &SdkError<E, R>) -> AwsFailure
where
    E: ProvideErrorMetadata + Error + 'static,
    R: Debug,
{
    let transient = match error {
        SdkError::ServiceError(service) => service
            .err()
            .code()
            .is_some_and(|code| TRANSIENT_CODES.contains(&code)),
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        _ => false,
    };
    AwsFailure {
        transient,
        detail: DisplayErrorContext(error).to_string(),
    }
}
