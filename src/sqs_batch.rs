//! The SQS trigger's event and answer, and the order a batch is worked in: each
//! conversation's records one after another in Twilio `Index` order, conversations side by
//! side; after a conversation's first failure its later records are not attempted and go back
//! with it (`batchItemFailures`), so the FIFO queue redelivers them in order.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::admission::{AdmittedTurn, TURN_VERSION};

/// The event the SQS event source mapping sends.
#[derive(Debug, Clone, Deserialize)]
pub struct SqsEvent {
    #[serde(rename = "Records")]
    pub records: Vec<SqsRecord>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SqsRecord {
    #[serde(rename = "messageId")]
    pub message_id: String,
    #[serde(default)]
    pub body: String,
    /// System attributes, PascalCase strings (`MessageGroupId`, `ApproximateReceiveCount`).
    #[serde(default)]
    pub attributes: HashMap<String, String>,
    #[serde(rename = "eventSource", default)]
    pub event_source: Option<String>,
}

impl SqsRecord {
    pub fn receive_count(&self) -> u32 {
        self.attributes
            .get("ApproximateReceiveCount")
            .and_then(|c| c.parse().ok())
            .unwrap_or(1)
    }
}

/// The answer with `ReportBatchItemFailures`: the records to deliver again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchResponse {
    #[serde(rename = "batchItemFailures")]
    pub batch_item_failures: Vec<ItemFailure>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemFailure {
    #[serde(rename = "itemIdentifier")]
    pub item_identifier: String,
}

/// A record whose body could not be read as a turn: dropped with this reason, since no
/// redelivery can change it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    pub message_id: String,
    pub reason: String,
}

/// One record, decoded.
#[derive(Debug, Clone)]
pub struct QueuedTurn {
    pub message_id: String,
    pub receive_count: u32,
    pub turn: AdmittedTurn,
}

/// Decodes the batch and splits it into conversations, each in `Index` order (SQS order where
/// indexes are equal or missing). Conversations come out in the order they first appear.
pub fn lanes(event: SqsEvent) -> (Vec<Vec<QueuedTurn>>, Vec<Unreadable>) {
    let mut unreadable = Vec::new();
    let mut order: Vec<String> = Vec::new();
    let mut groups: BTreeMap<String, Vec<QueuedTurn>> = BTreeMap::new();
    for record in event.records {
        let receive_count = record.receive_count();
        let turn = match serde_json::from_str::<AdmittedTurn>(&record.body) {
            Ok(turn) if turn.v == TURN_VERSION => turn,
            Ok(turn)
                if turn.v == crate::studio::HANDOVER_TURN_VERSION && turn.handover.is_some() =>
            {
                turn
            }
            Ok(turn) => {
                unreadable.push(Unreadable {
                    message_id: record.message_id,
                    reason: format!("turn version {} is not {TURN_VERSION}", turn.v),
                });
                continue;
            }
            Err(e) => {
                unreadable.push(Unreadable {
                    message_id: record.message_id,
                    reason: format!("the body is not an admitted turn: {e}"),
                });
                continue;
            }
        };
        let group = turn.message.conversation.to_string();
        if !groups.contains_key(&group) {
            order.push(group.clone());
        }
        groups.entry(group).or_default().push(QueuedTurn {
            message_id: record.message_id,
            receive_count,
            turn,
        });
    }
    let lanes = order
        .into_iter()
        .filter_map(|group| groups.remove(&group))
        .map(|mut lane| {
            // Stable: equal or missing indexes keep the queue's order.
            lane.sort_by_key(|q| q.turn.message.index);
            lane
        })
        .collect();
    (lanes, unreadable)
}
