//! The Lambda entry point. One function, two event shapes: an API Gateway event (the request
//! template's envelope) is intake; an SQS batch from the turn queue is turns. Anything else is
//! logged with why and dropped. Only failures are errors: rejected and ignored events are
//! logged and dropped, since replaying them cannot change their fate.

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde::Serialize;
use serde_json::Value;

use crate::adapters::lazy::BuildError;
use crate::app::bridge::Bridge;
use crate::app::telemetry::{self, LogFormat};
use crate::outcome::Outcome;

/// An intake event could not be completed; carried to the on-failure destination. The error
/// type says whether waiting can help and whether a replay is safe (`Transient.ReplaySafe`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{outcome}: {detail}")]
pub struct InvocationError {
    pub outcome: String,
    pub detail: String,
    pub error_type: &'static str,
}

impl From<InvocationError> for Diagnostic {
    fn from(error: InvocationError) -> Self {
        Diagnostic {
            error_type: error.error_type.to_owned(),
            error_message: error.to_string(),
        }
    }
}

/// The two shapes this function is invoked with.
#[derive(Debug)]
pub enum Event {
    /// The request template's envelope (an object with its version `v`).
    Webhook(Value),
    Turns(SqsEvent),
    /// Records all from `aws:sqs` that do not read as an SQS batch: the queue's records all the
    /// same, so the invocation fails and every one of them comes back (and, after the queue's
    /// `maxReceiveCount`, waits in the dead-letter queue), never read as "all succeeded".
    UnreadableTurns(String),
    /// Neither: why.
    Unknown(String),
}

impl Event {
    /// Tells the shapes apart by what each must have: SQS records all from `aws:sqs`, or the
    /// envelope's version field.
    pub fn classify(payload: Value) -> Self {
        if let Some(records) = payload.get("Records").and_then(Value::as_array) {
            if records.is_empty() {
                return Self::Unknown("an event with no records".into());
            }
            let all_sqs = records
                .iter()
                .all(|r| r.get("eventSource").and_then(Value::as_str) == Some("aws:sqs"));
            if !all_sqs {
                return Self::Unknown("records that are not all from aws:sqs".into());
            }
            return match serde_json::from_value(payload) {
                Ok(event) => Self::Turns(event),
                Err(e) => Self::UnreadableTurns(format!("an SQS batch that cannot be read: {e}")),
            };
        }
        if payload.get("v").is_some() {
            return Self::Webhook(payload);
        }
        let shape = match &payload {
            Value::Object(map) => format!(
                "an object with keys [{}]",
                map.keys().take(8).cloned().collect::<Vec<_>>().join(", ")
            ),
            other => format!("a JSON {}", json_kind(other)),
        };
        Self::Unknown(format!(
            "neither a webhook envelope nor an SQS batch: {shape}"
        ))
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Handles one invocation. For an SQS batch the answer lists the records to deliver again.
pub async fn invoke(
    bridge: &Bridge,
    event: LambdaEvent<Value>,
    format: LogFormat,
) -> Result<Value, InvocationError> {
    let deadline = bridge
        .deadlines()
        .deadline(event.context.deadline, &event.context.request_id);
    match Event::classify(event.payload) {
        Event::Turns(batch) => match bridge.turns(batch, deadline, format).await {
            Ok(answer) => batch_answer(&answer),
            Err(error) => Err(role_not_built(&error, &event.context.request_id)),
        },
        Event::Webhook(payload) => {
            let mut report = bridge.intake(payload, deadline).await;
            if report.trace.request_id.is_empty() {
                report.trace.request_id = event.context.request_id;
            }
            telemetry::emit(&report, format);
            match &report.outcome {
                Outcome::Failed(failure) => Err(InvocationError {
                    outcome: report.outcome.to_string(),
                    detail: failure.cause.to_string(),
                    error_type: failure.label(),
                }),
                _ => Ok(Value::Null),
            }
        }
        Event::UnreadableTurns(why) => Err(unreadable_batch(why, &event.context.request_id)),
        Event::Unknown(why) => {
            tracing::warn!(request_id = %event.context.request_id, reason = %why, "event dropped");
            Ok(Value::Null)
        }
    }
}

/// The batch could not be read, so no record of it ran: every one comes back. Replaying cannot
/// help a record that is itself unreadable; the queue's redrive keeps it for a person.
fn unreadable_batch(why: String, request_id: &str) -> InvocationError {
    tracing::error!(
        request_id,
        reason = %why,
        "SQS batch not read; every record of the batch comes back"
    );
    InvocationError {
        outcome: "failed:batch_unreadable".to_owned(),
        detail: why,
        error_type: "Permanent.ReplaySafe",
    }
}

/// The turn role's clients could not be built: the whole batch fails and every record comes
/// back after its visibility timeout. Nothing ran, so a replay is safe; whether it can succeed
/// depends on why the build failed.
fn role_not_built(error: &BuildError, request_id: &str) -> InvocationError {
    tracing::error!(
        request_id,
        error = %error,
        transient = error.transient,
        "turn role not built; every record of the batch comes back"
    );
    InvocationError {
        outcome: "failed:setup".to_owned(),
        detail: error.to_string(),
        error_type: if error.transient {
            "Transient.ReplaySafe"
        } else {
            "Permanent.ReplaySafe"
        },
    }
}

/// The batch's answer as Lambda reads it. An answer that cannot be written fails the whole
/// invocation, so every record comes back: an empty or null answer would read as "all
/// succeeded" and the queue would delete records that did not run. The turns are recorded in
/// the conversation state, so the redelivery finds them done and runs only what is not.
fn batch_answer(response: &impl Serialize) -> Result<Value, InvocationError> {
    serde_json::to_value(response).map_err(|e| {
        tracing::error!(error = %e, "batch answer not written; every record of the batch comes back");
        InvocationError {
            outcome: "failed:batch_answer".to_owned(),
            detail: format!("the batch answer cannot be written: {e}"),
            error_type: "Permanent.ReplaySafe",
        }
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn record(source: &str) -> Value {
        json!({
            "messageId": "059f36b4-87a3-44ab-83d2-661975830a7d",
            "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a",
            "body": "{}",
            "attributes": {"MessageGroupId": "CH0123456789abcdef0123456789abcdef", "ApproximateReceiveCount": "2"},
            "messageAttributes": {},
            "md5OfBody": "99914b932bd37a50b983c5e7c90ae93b",
            "eventSource": source,
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:turns.fifo",
            "awsRegion": "us-east-1"
        })
    }

    #[test]
    fn an_sqs_batch_is_turns() {
        let Event::Turns(batch) = Event::classify(json!({"Records": [record("aws:sqs")]})) else {
            panic!("an SQS batch")
        };
        assert_eq!(batch.records.len(), 1);
        assert_eq!(
            batch.records[0].attributes.get("ApproximateReceiveCount"),
            Some(&"2".to_owned())
        );
    }

    /// An answer whose serialisation fails, as a stand-in for any future one that could.
    struct Unwritable;

    impl Serialize for Unwritable {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom("no"))
        }
    }

    #[test]
    fn a_batch_answer_that_cannot_be_written_fails_the_invocation() {
        let error = batch_answer(&Unwritable).unwrap_err();
        assert_eq!(error.error_type, "Permanent.ReplaySafe");
        assert_eq!(error.outcome, "failed:batch_answer");
        assert_eq!(error.detail, "the batch answer cannot be written: no");
    }

    #[test]
    fn a_turn_role_that_cannot_be_built_fails_the_invocation_by_whether_waiting_helps() {
        let mut error = BuildError::permanent("the Twilio client", "TWILIO_EDGE: not a hostname");
        let failed = role_not_built(&error, "req-1");
        assert_eq!(failed.error_type, "Permanent.ReplaySafe");
        assert_eq!(failed.outcome, "failed:setup");
        assert_eq!(
            failed.detail,
            "the Twilio client could not be built: TWILIO_EDGE: not a hostname"
        );
        error.transient = true;
        assert_eq!(
            role_not_built(&error, "req-1").error_type,
            "Transient.ReplaySafe"
        );
    }

    #[test]
    fn a_batch_answer_lists_the_records_to_deliver_again() {
        let mut failure = aws_lambda_events::event::sqs::BatchItemFailure::default();
        failure.item_identifier = "059f36b4".into();
        let mut response = aws_lambda_events::event::sqs::SqsBatchResponse::default();
        response.batch_item_failures = vec![failure];
        assert_eq!(
            batch_answer(&response).unwrap(),
            json!({"batchItemFailures": [{"itemIdentifier": "059f36b4"}]})
        );
    }

    #[test]
    fn sqs_records_that_do_not_read_as_a_batch_fail_the_invocation() {
        let mut unreadable = record("aws:sqs");
        unreadable["attributes"] = json!("not a map");
        let why = match Event::classify(json!({"Records": [record("aws:sqs"), unreadable]})) {
            Event::UnreadableTurns(why) => why,
            other => panic!("{other:?}"),
        };
        assert!(
            why.starts_with("an SQS batch that cannot be read: invalid type: string"),
            "{why}"
        );
        let failed = unreadable_batch(why.clone(), "req-1");
        assert_eq!(
            (failed.outcome.as_str(), failed.error_type, failed.detail),
            ("failed:batch_unreadable", "Permanent.ReplaySafe", why)
        );
    }

    #[test]
    fn the_request_templates_envelope_is_a_webhook() {
        let envelope = json!({"v": "1", "body": "", "headers": {}});
        assert_eq!(
            match Event::classify(envelope.clone()) {
                Event::Webhook(payload) => payload,
                other => panic!("{other:?}"),
            },
            envelope
        );
    }

    #[test]
    fn other_shapes_are_unknown_with_a_reason() {
        let cases = [
            (
                json!({"Records": [record("aws:sqs"), record("aws:sns")]}),
                "records that are not all from aws:sqs",
            ),
            (json!({"Records": []}), "an event with no records"),
            (
                json!({"detail-type": "Scheduled Event", "source": "aws.events"}),
                "neither a webhook envelope nor an SQS batch: an object with keys [detail-type, source]",
            ),
            (
                json!("ping"),
                "neither a webhook envelope nor an SQS batch: a JSON string",
            ),
        ];
        for (payload, reason) in cases {
            match Event::classify(payload) {
                Event::Unknown(why) => assert_eq!(why, reason),
                other => panic!("{other:?}"),
            }
        }
    }
}
