//! The turn role: one SQS batch from the turn queue. Each conversation's records run one after
//! another in Twilio `Index` order, conversations side by side; after a conversation's first
//! failure its later records are not attempted and go back with it (`batchItemFailures`), so
//! the FIFO queue redelivers them in order.
//!
//! A body this release cannot read ([`crate::domain::job::JobError`]) is never half-read: it
//! goes back with the rest of its conversation, every time, until the queue moves it to the
//! dead-letter queue, where it waits for a release that reads it (or an operator).

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures::future::join_all;
use tracing::Instrument;

use super::pipeline::Pipeline;
use crate::domain::deadline::Deadline;
use crate::domain::job::Job;
use crate::outcome::{Outcome, Report};

/// Time a turn needs at the least (the bot, a few replies, the state writes); with less left
/// before the invocation's deadline the record is handed back rather than cut off mid-turn.
pub const MIN_TURN_TIME: std::time::Duration = std::time::Duration::from_secs(5);

/// A record whose body could not be read as a job, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    pub message_id: String,
    pub reason: String,
}

/// One record, decoded.
#[derive(Debug, Clone)]
pub struct Queued {
    pub message_id: String,
    pub receive_count: u32,
    pub job: Job,
}

/// One conversation's records: the jobs to run in order, then the records that go back
/// whatever happens (an unreadable record and every later record of its conversation).
#[derive(Debug, Clone, Default)]
pub struct Lane {
    pub jobs: Vec<Queued>,
    pub back: Vec<String>,
}

/// The batch, decoded and split.
#[derive(Debug, Clone, Default)]
pub struct Lanes {
    /// In the order each conversation first appears.
    pub lanes: Vec<Lane>,
    pub unreadable: Vec<Unreadable>,
}

fn receive_count(record: &SqsMessage) -> u32 {
    record
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|c| c.parse().ok())
        .unwrap_or(1)
}

/// Decodes the batch and splits it into conversations (the FIFO message group), each in
/// `Index` order (queue order where indexes are equal or missing).
pub fn lanes(event: SqsEvent) -> Lanes {
    let mut out = Lanes::default();
    let mut order: Vec<String> = Vec::new();
    let mut groups: BTreeMap<String, Lane> = BTreeMap::new();
    for (position, record) in event.records.into_iter().enumerate() {
        let Some(message_id) = record.message_id.clone() else {
            tracing::warn!(
                position,
                "an SQS record without a messageId cannot be handed back; skipped"
            );
            continue;
        };
        let decoded = Job::from_body(record.body.as_deref().unwrap_or_default());
        let group = match (&decoded, record.attributes.get("MessageGroupId")) {
            (_, Some(group)) => group.clone(),
            (Ok(job), None) => job.conversation().to_string(),
            // Neither the queue nor the body says whose it is: a lane of its own.
            (Err(_), None) => format!("record {message_id}"),
        };
        if !groups.contains_key(&group) {
            order.push(group.clone());
        }
        let lane = groups.entry(group).or_default();
        match decoded {
            // Behind an unreadable record of its conversation: goes back with it.
            Ok(_) if !lane.back.is_empty() => lane.back.push(message_id),
            Ok(job) => lane.jobs.push(Queued {
                receive_count: receive_count(&record),
                message_id,
                job,
            }),
            Err(e) => {
                out.unreadable.push(Unreadable {
                    message_id: message_id.clone(),
                    reason: e.to_string(),
                });
                lane.back.push(message_id);
            }
        }
    }
    out.lanes = order
        .into_iter()
        .filter_map(|group| groups.remove(&group))
        .map(|mut lane| {
            // Stable: equal or missing indexes keep the queue's order.
            lane.jobs.sort_by_key(|q| q.job.turn().message.index);
            lane
        })
        .collect();
    out
}

/// Runs turn batches. Built once per cold start.
pub struct Batch {
    pipeline: Arc<Pipeline>,
}

impl Batch {
    pub fn new(pipeline: Arc<Pipeline>) -> Self {
        Self { pipeline }
    }

    /// Runs `event`; the answer lists the records to deliver again. Each record's report goes
    /// to `emit` inside the span that carries its conversation and message.
    pub async fn run(
        &self,
        event: SqsEvent,
        deadline: Deadline,
        emit: &(dyn Fn(&Report) + Sync),
    ) -> SqsBatchResponse {
        let Lanes { lanes, unreadable } = lanes(event);
        for record in &unreadable {
            tracing::error!(
                sqs_message = %record.message_id,
                reason = %record.reason,
                "record refused: goes back with its conversation until the dead-letter queue takes it"
            );
        }
        let again = join_all(
            lanes
                .into_iter()
                .map(|lane| self.run_lane(lane, deadline, emit)),
        )
        .await;
        let mut response = SqsBatchResponse::default();
        response.batch_item_failures = again
            .into_iter()
            .flatten()
            .map(|item_identifier| {
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = item_identifier;
                failure
            })
            .collect();
        response
    }

    /// One conversation's records in order; the SQS ids to deliver again.
    async fn run_lane(
        &self,
        lane: Lane,
        deadline: Deadline,
        emit: &(dyn Fn(&Report) + Sync),
    ) -> Vec<String> {
        let Lane { jobs, back } = lane;
        let mut records = jobs.into_iter();
        while let Some(record) = records.next() {
            let stop = if deadline.remaining() < MIN_TURN_TIME {
                // Too little time to finish a turn: the rest of the lane comes back in order.
                tracing::warn!(
                    conversation = record.job.conversation().as_str(),
                    "invocation deadline near; the conversation's remaining records go back"
                );
                true
            } else {
                let report = self.run_record(&record, deadline, emit).await;
                matches!(report.outcome, Outcome::Failed(_))
            };
            if stop {
                let mut again = vec![record.message_id];
                again.extend(records.map(|r| r.message_id));
                again.extend(back);
                return again;
            }
        }
        back
    }

    /// One record, in a span that carries its conversation and message.
    pub async fn run_record(
        &self,
        record: &Queued,
        deadline: Deadline,
        emit: &(dyn Fn(&Report) + Sync),
    ) -> Report {
        let message = &record.job.turn().message;
        let span = tracing::info_span!(
            "turn",
            conversation = message.conversation.as_str(),
            message = message.message.as_str(),
            kind = record.job.kind(),
            receive_count = record.receive_count
        );
        async {
            let report = self.pipeline.run(&record.job, deadline).await;
            emit(&report);
            report
        }
        .instrument(span)
        .await
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const A: &str = "CH0000000000000000000000000000000a";
    const B: &str = "CH0000000000000000000000000000000b";

    fn body(id: &str, conversation: &str, index: Option<u64>) -> String {
        json!({
            "kind": "message",
            "v": 1,
            "message": {
                "account": "AC0123456789abcdef0123456789abcdef",
                "conversation": conversation,
                "message": format!("IM{:032x}", rand::random::<u128>()),
                "author": "+15551234567",
                "body": id,
                "participant": null,
                "webhook": null,
                "source": null,
                "client_identity": null,
                "media": [],
                "index": index,
                "attributes": {}
            },
            "route": {"unroutable": "test"},
            "request_id": ""
        })
        .to_string()
    }

    fn record(id: &str, conversation: &str, index: Option<u64>) -> serde_json::Value {
        json!({
            "messageId": id,
            "body": body(id, conversation, index),
            "attributes": {"MessageGroupId": conversation, "ApproximateReceiveCount": "1"},
            "eventSource": "aws:sqs"
        })
    }

    fn event(records: Vec<serde_json::Value>) -> SqsEvent {
        serde_json::from_value(json!({ "Records": records })).unwrap()
    }

    fn ids(lane: &Lane) -> Vec<&str> {
        lane.jobs.iter().map(|q| q.message_id.as_str()).collect()
    }

    #[test]
    fn conversations_keep_first_appearance_order_and_each_is_sorted_by_index() {
        let split = lanes(event(vec![
            record("a3", A, Some(3)),
            record("b1", B, Some(1)),
            record("a1", A, Some(1)),
            record("b0", B, Some(0)),
            record("a2", A, Some(2)),
        ]));
        assert!(split.unreadable.is_empty());
        assert_eq!(
            split.lanes.iter().map(ids).collect::<Vec<_>>(),
            [vec!["a1", "a2", "a3"], vec!["b0", "b1"]]
        );
    }

    #[test]
    fn records_without_an_index_keep_the_queue_order() {
        let split = lanes(event(vec![record("x", A, None), record("y", A, None)]));
        assert_eq!(ids(&split.lanes[0]), ["x", "y"]);
    }

    #[test]
    fn unreadable_bodies_go_back_with_the_rest_of_their_conversation() {
        let mut wrong_version = record("v9", A, Some(2));
        let body = wrong_version["body"]
            .as_str()
            .unwrap()
            .replacen("\"v\":1", "\"v\":9", 1);
        wrong_version["body"] = json!(body);
        let mut garbage = record("junk", B, Some(2));
        garbage["body"] = json!("not json");
        let split = lanes(event(vec![
            record("a1", A, Some(1)),
            wrong_version,
            record("a3", A, Some(3)),
            garbage,
            record("b3", B, Some(3)),
        ]));
        assert_eq!(ids(&split.lanes[0]), ["a1"]);
        assert_eq!(split.lanes[0].back, ["v9", "a3"]);
        assert_eq!(ids(&split.lanes[1]), Vec::<&str>::new());
        assert_eq!(split.lanes[1].back, ["junk", "b3"]);
        assert_eq!(
            split
                .unreadable
                .iter()
                .map(|u| u.message_id.as_str())
                .collect::<Vec<_>>(),
            ["v9", "junk"]
        );
        assert_eq!(
            split.unreadable[0].reason,
            "message job version 9 is unknown (this release reads version 1)"
        );
        assert!(
            split.unreadable[1]
                .reason
                .starts_with("the body is not a job"),
            "{}",
            split.unreadable[1].reason
        );
    }

    #[test]
    fn a_record_no_one_can_place_goes_back_alone() {
        let mut garbage = record("junk", A, Some(1));
        garbage["body"] = json!("not json");
        garbage["attributes"] = json!({});
        let split = lanes(event(vec![garbage, record("a2", A, Some(2))]));
        assert_eq!(split.lanes.len(), 2);
        assert_eq!(split.lanes[0].back, ["junk"]);
        assert_eq!(ids(&split.lanes[1]), ["a2"]);
    }
}
