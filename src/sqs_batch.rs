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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::admission::Route;
    use crate::webhook::MessageAdded;

    const A: &str = "CH0000000000000000000000000000000a";
    const B: &str = "CH0000000000000000000000000000000b";

    fn record(id: &str, conversation: &str, index: Option<u64>) -> SqsRecord {
        let turn = AdmittedTurn {
            v: TURN_VERSION,
            message: MessageAdded {
                account: "AC0123456789abcdef0123456789abcdef".parse().unwrap(),
                conversation: conversation.parse().unwrap(),
                message: format!("IM{:032x}", rand::random::<u128>())
                    .parse()
                    .unwrap(),
                author: "+15551234567".into(),
                body: id.into(),
                participant: None,
                webhook: None,
                source: None,
                client_identity: None,
                media: Vec::new(),
                index,
                attributes: json!({}),
            },
            route: Route::Unroutable("test".into()),
            request_id: String::new(),
            handover: None,
        };
        SqsRecord {
            message_id: id.into(),
            body: serde_json::to_string(&turn).unwrap(),
            attributes: HashMap::new(),
            event_source: Some("aws:sqs".into()),
        }
    }

    fn ids(lane: &[QueuedTurn]) -> Vec<&str> {
        lane.iter().map(|q| q.message_id.as_str()).collect()
    }

    #[test]
    fn conversations_keep_first_appearance_order_and_each_is_sorted_by_index() {
        let event = SqsEvent {
            records: vec![
                record("a3", A, Some(3)),
                record("b1", B, Some(1)),
                record("a1", A, Some(1)),
                record("b0", B, Some(0)),
                record("a2", A, Some(2)),
            ],
        };
        let (lanes, unreadable) = lanes(event);
        assert!(unreadable.is_empty());
        assert_eq!(
            lanes.iter().map(|l| ids(l)).collect::<Vec<_>>(),
            [vec!["a1", "a2", "a3"], vec!["b0", "b1"]]
        );
    }

    #[test]
    fn records_without_an_index_keep_the_queue_order() {
        let event = SqsEvent {
            records: vec![record("x", A, None), record("y", A, None)],
        };
        assert_eq!(ids(&lanes(event).0[0]), ["x", "y"]);
    }

    #[test]
    fn unreadable_bodies_are_set_aside_with_why() {
        let mut wrong_version = record("v9", A, Some(1));
        wrong_version.body = wrong_version.body.replacen("\"v\":1", "\"v\":9", 1);
        let mut garbage = record("junk", A, Some(2));
        garbage.body = "not json".into();
        let (lanes, unreadable) = lanes(SqsEvent {
            records: vec![wrong_version, garbage, record("ok", A, Some(3))],
        });
        assert_eq!(ids(&lanes[0]), ["ok"]);
        assert_eq!(
            unreadable
                .iter()
                .map(|u| u.message_id.as_str())
                .collect::<Vec<_>>(),
            ["v9", "junk"]
        );
        assert_eq!(unreadable[0].reason, "turn version 9 is not 1");
        assert!(
            unreadable[1]
                .reason
                .starts_with("the body is not an admitted turn")
        );
    }
}
