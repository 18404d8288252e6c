//! The SQS trigger, played by the test: receive a batch, hand it to the function as the
//! Lambda-shaped SQS event, delete what succeeded; failed records come back after the
//! visibility timeout (and go to the dead-letter queue after `maxReceiveCount`).

use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use serde_json::{Value, json};

pub struct Poller {
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
}

impl Poller {
    pub fn new(sdk: &aws_config::SdkConfig, queue_url: &str) -> Self {
        Self {
            sqs: aws_sdk_sqs::Client::new(sdk),
            queue_url: queue_url.to_owned(),
        }
    }

    /// Up to `max` messages (SQS FIFO gives a group's messages in order, one batch per group
    /// at a time).
    pub async fn receive(&self, max: i32) -> Vec<Message> {
        self.receive_with(max, None).await
    }

    /// As [`Self::receive`], invisible for `visibility_secs` instead of the queue's timeout.
    pub async fn receive_for(&self, max: i32, visibility_secs: i32) -> Vec<Message> {
        self.receive_with(max, Some(visibility_secs)).await
    }

    async fn receive_with(&self, max: i32, visibility_secs: Option<i32>) -> Vec<Message> {
        self.sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(max)
            .set_visibility_timeout(visibility_secs)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .expect("receive")
            .messages
            .unwrap_or_default()
    }

    /// Makes the batch's messages that are still in the queue visible again, in one request.
    /// The ones already deleted are refused by the queue, which is what is wanted.
    pub async fn release(&self, batch: &[Message]) {
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
        if entries.is_empty() {
            return;
        }
        self.sqs
            .change_message_visibility_batch()
            .queue_url(&self.queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .expect("release");
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
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(message.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .expect("delete");
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
