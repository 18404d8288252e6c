//! The SQS trigger, played by the test: receive a batch, hand it to the function as the
//! Lambda-shaped SQS event, delete what succeeded; failed records come back when the visibility
//! timeout runs out (and go to the dead-letter queue after `maxReceiveCount`). The test queues'
//! timeout ([`VISIBILITY_SECS`]) outlasts every test: the test runs it out when it means to
//! ([`Poller::expire_visibility`]), so no test waits for the clock and no record comes back by
//! itself in the middle of a slow invocation.

use std::sync::Mutex;

use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use serde_json::{Value, json};

/// The visibility timeout of the test queues: longer than any test runs.
pub const VISIBILITY_SECS: u32 = 600;

pub struct Poller {
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
    /// Every record received and not deleted yet: what the visibility timeout brings back.
    in_flight: Mutex<Vec<Message>>,
}

impl Poller {
    pub fn new(sdk: &aws_config::SdkConfig, queue_url: &str) -> Self {
        Self {
            sqs: aws_sdk_sqs::Client::new(sdk),
            queue_url: queue_url.to_owned(),
            in_flight: Mutex::new(Vec::new()),
        }
    }

    /// The visibility timeout runs out now: every record received and not deleted is visible
    /// again, each conversation's whole and in order, as SQS gives them back (one
    /// `ChangeMessageVisibilityBatch` to 0 on the receipt handles).
    pub async fn expire_visibility(&self) {
        let in_flight = std::mem::take(&mut *flexlex::lock(&self.in_flight));
        self.release(&in_flight).await;
    }

    /// Up to `max` messages (SQS FIFO gives a group's messages in order, one batch per group
    /// at a time).
    pub async fn receive(&self, max: i32) -> Vec<Message> {
        let batch = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(max)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .expect("receive")
            .messages
            .unwrap_or_default();
        flexlex::lock(&self.in_flight).extend(batch.iter().cloned());
        batch
    }

    /// Makes the batch's messages that are still in the queue visible again, in one request
    /// per ten (SQS's limit; a received batch is at most ten). The ones already deleted are
    /// refused by the queue, which is what is wanted.
    pub async fn release(&self, batch: &[Message]) {
        flexlex::lock(&self.in_flight).retain(|m| {
            !batch
                .iter()
                .any(|b| b.receipt_handle() == m.receipt_handle())
        });
        let entries: Vec<_> = batch
            .iter()
            .enumerate()
            .map(|(i, m)| {
                aws_sdk_sqs::types::ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .visibility_timeout(0)
                    .build()
                    .expect("entry")
            })
            .collect();
        for entries in entries.chunks(10) {
            self.sqs
                .change_message_visibility_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries.to_vec()))
                .send()
                .await
                .expect("release");
        }
    }

    /// Deletes the batch's records except the ones the function reported as failed.
    pub async fn settle(&self, batch: &[Message], response: &Value) {
        let failed: Vec<&str> = response["batchItemFailures"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f["itemIdentifier"].as_str())
            .collect();
        for message in batch {
            let id = message.message_id().unwrap_or_default();
            if !failed.contains(&id) {
                let receipt = message.receipt_handle().unwrap_or_default();
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(receipt)
                    .send()
                    .await
                    .expect("delete");
                flexlex::lock(&self.in_flight).retain(|m| m.receipt_handle() != Some(receipt));
            }
        }
    }

    /// Messages waiting in a queue (visible ones).
    pub async fn depth(&self, url: &str) -> usize {
        let attributes = self
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .expect("attributes")
            .attributes
            .unwrap_or_default();
        attributes
            .get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }
}

/// The event Lambda's SQS event source mapping builds from `batch`.
pub fn lambda_event(batch: &[Message], queue_arn: &str) -> Value {
    let records: Vec<Value> = batch
        .iter()
        .map(|m| {
            let attributes: serde_json::Map<String, Value> = m
                .attributes()
                .map(|a| {
                    a.iter()
                        .map(|(k, v)| (k.as_str().to_owned(), json!(v)))
                        .collect()
                })
                .unwrap_or_default();
            json!({
                "messageId": m.message_id(),
                "receiptHandle": m.receipt_handle(),
                "body": m.body(),
                "attributes": attributes,
                "messageAttributes": {},
                "md5OfBody": m.md5_of_body(),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1",
            })
        })
        .collect();
    json!({ "Records": records })
}

/// `batch` read as the function reads an SQS event: its records in per-conversation lanes, and
/// the ones it could not read.
pub fn lanes(batch: &[Message], queue_arn: &str) -> flexlex::turn::batch::Lanes {
    let flexlex::app::lambda::Event::Turns(turns) =
        flexlex::app::lambda::Event::classify(lambda_event(batch, queue_arn))
    else {
        panic!("an SQS event")
    };
    flexlex::turn::batch::lanes(turns)
}

/// Runs one `record` through the function's turn role as the SQS handler does, with `within`
/// before its deadline: the record's own report.
pub async fn run_record(
    bridge: &flexlex::app::bridge::Bridge,
    record: &flexlex::turn::batch::Queued,
    within: std::time::Duration,
) -> flexlex::outcome::Report {
    bridge
        .turn_record(
            record,
            flexlex::domain::deadline::Deadline::after(within),
            flexlex::app::telemetry::LogFormat::Text,
        )
        .await
        .expect("the turn role's clients are given")
}

/// The function's SQS handler (`app::lambda::invoke`) on `batch`, as the trigger invokes it
/// with a 30 s deadline: its answer (the batch item failures).
pub async fn invoke_batch(
    bridge: &flexlex::app::bridge::Bridge,
    batch: &[Message],
    queue_arn: &str,
) -> Value {
    let mut context = lambda_runtime::Context::default();
    context.deadline = crate::helpers::deadline_in(std::time::Duration::from_secs(30));
    flexlex::app::lambda::invoke(
        bridge,
        lambda_runtime::LambdaEvent::new(lambda_event(batch, queue_arn), context),
        flexlex::app::telemetry::LogFormat::Text,
    )
    .await
    .expect("a batch always answers")
}
