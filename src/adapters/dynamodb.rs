//! The conversation state in DynamoDB: one item per conversation (`pk` = ConversationSid).
//!
//! | attribute | holds |
//! |---|---|
//! | `status` | `bot`, `handed_off`, `closed` |
//! | `accounted` | the Twilio `Index` up to which every message is accounted for (the [`Ledger`]'s mark) |
//! | `ahead` | number set: indices above `accounted` accounted for already (at most [`crate::domain::ledger::AHEAD_INDICES`]) |
//! | `recent` | list of the latest keys handled, newest first (at most [`crate::domain::ledger::RECENT_KEYS`]) |
//! | `handled` | written by earlier releases (every MessageSid answered); read by the claim and removed at the next finish |
//! | `memory` | the [`Memory`] as JSON (turns, last index, timestamps, what was done to the timers, and the bot's side: streaks, intents, slots across intents, the last card's buttons) |
//! | `t_<MessageSid>` | the [`Progress`] of a turn in flight, as JSON; removed when it finishes |
//! | `l_<MessageSid>` | the lease of the delivery running that turn (epoch ms, its deadline) |
//! | `holder`, `held_until` | the message whose turn holds the conversation, and that lease: one turn of a conversation runs at a time |
//! | `expires_at` | epoch seconds; the table's TTL attribute |
//!
//! Content templates share the table (see [`ContentCache`]): an item `pk = content#<key>`
//! holding the template's `sid`, read with `GetItem` and written once with `PutItem`, so a card
//! is created once for the whole fleet.
//!
//! The item's size does not grow with the conversation: the ledger is a number, a few indices and
//! a short list, and a turn's attributes are removed when it finishes.
//!
//! Every [`ConversationStore`] method is one `UpdateItem`. The claim is conditional — *no such
//! item, or this job is not handled (its key not among the latest, its Index neither at or below
//! the mark nor above it and accounted for), no other job's delivery holds the conversation
//! within its lease, and (the bot has the conversation or this job's turn is in flight)* — and
//! returns the item as it was before (`ALL_OLD`, on success and on a failed condition), so
//! deciding between fresh, resumed, duplicate and handed off takes one round trip.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};

use crate::adapters::aws_error;
use crate::domain::cards::ContentKey;
use crate::domain::conversation::{
    BusyTurn, Claim, ClaimView, Lease, Memory, Progress, RETENTION_SECS, Snapshot, Status, TurnKey,
    Verdict, decide_claim,
};
use crate::domain::ids::{ContentSid, ConversationSid, MessageSid};
use crate::domain::ledger::Ledger;
use crate::ports::content::{CacheError, ContentCache};
use crate::ports::store::{ConversationStore, StoreError};

type Item = HashMap<String, AttributeValue>;

#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    fn update(
        &self,
        conversation: &ConversationSid,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(conversation.to_string()))
    }
}

/// The partition key of a content template's item: apart from every `CH…` conversation key.
fn content_pk(key: &ContentKey) -> String {
    format!("content#{key}")
}

fn progress_attribute(message: &MessageSid) -> String {
    format!("t_{message}")
}

fn lease_attribute(message: &MessageSid) -> String {
    format!("l_{message}")
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn json<T: serde::Serialize>(
    operation: &'static str,
    value: &T,
) -> Result<AttributeValue, StoreError> {
    serde_json::to_string(value)
        .map(AttributeValue::S)
        .map_err(|e| StoreError::Conflict {
            operation,
            detail: format!("cannot encode the state: {e}"),
        })
}

/// Maps an SDK failure to transient or not, by the service's error code or the failure kind.
fn store_error<E: ProvideErrorMetadata + std::error::Error + 'static>(
    operation: &'static str,
    error: SdkError<E>,
) -> StoreError {
    let failure = aws_error::classify(&error);
    if failure.transient {
        StoreError::Unavailable {
            operation,
            detail: failure.detail,
        }
    } else {
        StoreError::Conflict {
            operation,
            detail: failure.detail,
        }
    }
}

/// The memory stored at the last finish; before any, an empty one dated from the first claim.
fn memory_of(item: &Item, now: u64) -> Result<Memory, StoreError> {
    match item.get("memory") {
        Some(AttributeValue::S(text)) => {
            serde_json::from_str(text).map_err(|e| StoreError::Conflict {
                operation: "claim",
                detail: format!("stored memory is not readable: {e}"),
            })
        }
        _ => {
            let started = match item.get("created_at") {
                Some(AttributeValue::N(n)) => n.parse().unwrap_or(now),
                _ => now,
            };
            Ok(Memory {
                started_at: started,
                updated_at: started,
                ..Memory::default()
            })
        }
    }
}

fn status_of(item: &Item) -> Status {
    match item.get("status") {
        Some(AttributeValue::S(raw)) => Status::parse(raw).unwrap_or(Status::Bot),
        _ => Status::Bot,
    }
}

/// Whether an earlier release's `handled` set holds `message`.
fn handled_before(item: &Item, message: &MessageSid) -> bool {
    matches!(item.get("handled"), Some(AttributeValue::Ss(set)) if set.iter().any(|m| m == message.as_str()))
}

/// The ledger the item holds. An item written by an earlier release has none: its mark is the
/// highest Index it handled, and its `handled` set still answers for the keys.
fn ledger_of(item: &Item, memory: Option<&Memory>) -> Ledger {
    let ahead = match item.get("ahead") {
        Some(AttributeValue::Ns(set)) => set.iter().filter_map(|n| n.parse().ok()).collect(),
        _ => Default::default(),
    };
    let recent = match item.get("recent") {
        Some(AttributeValue::L(list)) => list
            .iter()
            .filter_map(|v| match v {
                AttributeValue::S(raw) => MessageSid::parse(raw).ok(),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    let legacy = matches!(item.get("handled"), Some(AttributeValue::Ss(_)));
    Ledger {
        accounted: number(item, "accounted")
            .or_else(|| memory.filter(|_| legacy).and_then(|m| m.last_index)),
        ahead,
        recent,
    }
}

fn number(item: &Item, name: &str) -> Option<u64> {
    match item.get(name) {
        Some(AttributeValue::N(n)) => n.parse().ok(),
        _ => None,
    }
}

/// Reads the claim's answer from the item as it was before the claim (the domain's claim
/// decision over what the item holds); `won` says whether the claim's condition held.
fn classify(item: &Item, turn: TurnKey<'_>, lease: Lease, won: bool) -> Result<Claim, StoreError> {
    let message = turn.key;
    let progress = match item.get(&progress_attribute(message)) {
        Some(AttributeValue::S(text)) => Some(text),
        _ => None,
    };
    let holder = match (item.get("holder"), number(item, "held_until")) {
        (Some(AttributeValue::S(holder)), Some(until_ms)) => Some((holder.as_str(), until_ms)),
        _ => None,
    };
    let stored_ledger = ledger_of(item, None);
    let view = ClaimView {
        status: status_of(item),
        handled: stored_ledger.handled(message, turn.index) || handled_before(item, message),
        in_flight_until: progress.map(|_| number(item, &lease_attribute(message)).unwrap_or(0)),
        holder,
    };
    let verdict = decide_claim(&view, turn, lease);
    // The condition expression and the decision are the same rule; if they disagree, the item
    // changed between the write and the read that replaced a missing `ALL_OLD`.
    let verdict = match verdict {
        Verdict::Fresh | Verdict::Resume if !won => {
            if progress.is_none() {
                return Err(StoreError::Conflict {
                    operation: "claim",
                    detail:
                        "the claim condition failed for a message neither handled nor in flight"
                            .into(),
                });
            }
            Verdict::Busy {
                until_ms: 0,
                turn: BusyTurn::AnotherMessage,
            }
        }
        verdict => verdict,
    };
    verdict.into_claim(
        || {
            let memory = memory_of(item, lease.now_secs())?;
            Ok(Snapshot {
                ledger: ledger_of(item, Some(&memory)),
                status: view.status,
                memory,
            })
        },
        || {
            serde_json::from_str(progress.map_or("", String::as_str)).map_err(|e| {
                StoreError::Conflict {
                    operation: "claim",
                    detail: format!("stored progress is not readable: {e}"),
                }
            })
        },
    )
}

#[async_trait]
impl ConversationStore for DynamoStore {
    async fn claim(
        &self,
        conversation: &ConversationSid,
        turn: TurnKey<'_>,
        lease: Lease,
    ) -> Result<Claim, StoreError> {
        let message = turn.key;
        let now = lease.now_secs();
        // Not handled: the key is not among the latest (nor in an earlier release's set) and,
        // with an Index, that Index is not accounted for.
        let mut not_handled = "NOT contains(handled, :m) AND NOT contains(recent, :m)".to_owned();
        if turn.index.is_some() {
            not_handled.push_str(
                " AND (attribute_not_exists(accounted) OR accounted < :index) \
                 AND NOT contains(ahead, :index)",
            );
        }
        let mut request = self.update(conversation);
        if let Some(index) = turn.index {
            request = request.expression_attribute_values(":index", n(index));
        }
        // A new turn needs the bot to have the conversation; a take-back, the bot or an agent.
        let open = if turn.from_agent {
            request =
                request.expression_attribute_values(":handed_off", s(Status::HandedOff.as_str()));
            "#status IN (:bot, :handed_off)"
        } else {
            "#status = :bot"
        };
        let result = request
            .update_expression(
                "SET #t = if_not_exists(#t, :claimed), #l = :until, \
                 holder = :holder, held_until = :until, \
                 #status = if_not_exists(#status, :bot), \
                 created_at = if_not_exists(created_at, :now), updated_at = :now, \
                 expires_at = :expires",
            )
            // Not handled, and no other job's delivery holds the conversation within its lease.
            // New turn: the bot has the conversation. Resumed turn: in flight, and the delivery
            // that ran it is past its deadline.
            .condition_expression(format!(
                "attribute_not_exists(pk) OR ({not_handled} AND \
                 (attribute_not_exists(held_until) OR held_until <= :now_ms OR holder = :holder) AND \
                 ((attribute_not_exists(#t) AND {open}) OR \
                  (attribute_exists(#t) AND (attribute_not_exists(#l) OR #l <= :now_ms))))"
            ))
            .expression_attribute_values(":holder", s(turn.holder.to_string()))
            .expression_attribute_names("#t", progress_attribute(message))
            .expression_attribute_names("#l", lease_attribute(message))
            .expression_attribute_values(":until", n(lease.until_ms))
            .expression_attribute_values(":now_ms", n(lease.now_ms))
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":claimed", json("claim", &Progress::Claimed)?)
            .expression_attribute_values(":bot", s(Status::Bot.as_str()))
            .expression_attribute_values(":m", s(message.to_string()))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":expires", n(now + RETENTION_SECS))
            .return_values(ReturnValue::AllOld)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(output) => {
                let item = output.attributes.unwrap_or_default();
                classify(&item, turn, lease, true)
            }
            Err(SdkError::ServiceError(service))
                if service.err().is_conditional_check_failed_exception() =>
            {
                let old = match service.into_err() {
                    aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(e) => e.item,
                    _ => None,
                };
                let item = match old {
                    Some(item) => item,
                    // Stores that do not return the item on a failed condition: read it.
                    None => self
                        .client
                        .get_item()
                        .table_name(&self.table)
                        .key("pk", s(conversation.to_string()))
                        .consistent_read(true)
                        .send()
                        .await
                        .map_err(|e| store_error("claim", e))?
                        .item
                        .unwrap_or_default(),
                };
                classify(&item, turn, lease, false)
            }
            Err(e) => Err(store_error("claim", e)),
        }
    }

    async fn record(
        &self,
        conversation: &ConversationSid,
        message: &MessageSid,
        progress: &Progress,
        status: Option<Status>,
        now: u64,
    ) -> Result<(), StoreError> {
        let mut update = "SET #t = :progress, updated_at = :now".to_owned();
        let mut request = self.update(conversation);
        if let Some(status) = status {
            update.push_str(", #status = :status");
            request = request
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":status", s(status.as_str()));
        }
        request
            .update_expression(update)
            .condition_expression("attribute_exists(#t)")
            .expression_attribute_names("#t", progress_attribute(message))
            .expression_attribute_values(":progress", json("record", progress)?)
            .expression_attribute_values(":now", n(now))
            .send()
            .await
            .map(drop)
            .map_err(|e| not_in_flight("record", message, e))
    }

    async fn finish(
        &self,
        conversation: &ConversationSid,
        turn: TurnKey<'_>,
        state: &Snapshot,
        now: u64,
    ) -> Result<(), StoreError> {
        let ledger = &state.ledger;
        let mut set = "memory = :memory, #status = :status, updated_at = :now, \
                       expires_at = :expires, recent = :recent"
            .to_owned();
        let mut remove = "handled, #t, #l".to_owned();
        let mut request = self.update(conversation);
        if let Some(accounted) = ledger.accounted {
            set.push_str(", accounted = :accounted");
            request = request.expression_attribute_values(":accounted", n(accounted));
        }
        if ledger.ahead.is_empty() {
            remove.push_str(", ahead");
        } else {
            set.push_str(", ahead = :ahead");
            request = request.expression_attribute_values(
                ":ahead",
                AttributeValue::Ns(ledger.ahead.iter().map(u64::to_string).collect()),
            );
        }
        if turn.holds() {
            remove.push_str(", holder, held_until");
        }
        request
            .update_expression(format!("SET {set} REMOVE {remove}"))
            // Only a turn in flight under the conversation's holder finishes.
            .condition_expression(
                "attribute_exists(#t) AND (attribute_not_exists(holder) OR holder = :holder)",
            )
            .expression_attribute_values(":holder", s(turn.holder.to_string()))
            .expression_attribute_names("#t", progress_attribute(turn.key))
            .expression_attribute_names("#l", lease_attribute(turn.key))
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":memory", json("finish", &state.memory)?)
            .expression_attribute_values(":status", s(state.status.as_str()))
            .expression_attribute_values(
                ":recent",
                AttributeValue::L(ledger.recent.iter().map(|k| s(k.to_string())).collect()),
            )
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":expires", n(now + RETENTION_SECS))
            .send()
            .await
            .map(drop)
            .map_err(|e| not_in_flight("finish", turn.key, e))
    }

    async fn release(
        &self,
        conversation: &ConversationSid,
        turn: TurnKey<'_>,
        lease: Lease,
    ) -> Result<(), StoreError> {
        let remove = if turn.holds() {
            "REMOVE #l, holder, held_until"
        } else {
            "REMOVE #l"
        };
        let released = self
            .update(conversation)
            .update_expression(remove)
            .condition_expression("#l = :until AND holder = :holder")
            .expression_attribute_names("#l", lease_attribute(turn.key))
            .expression_attribute_values(":until", n(lease.until_ms))
            .expression_attribute_values(":holder", s(turn.holder.to_string()))
            .send()
            .await;
        match released {
            Ok(_) => Ok(()),
            // Not ours any more (finished, or another delivery took it over): nothing to do.
            Err(SdkError::ServiceError(service))
                if service.err().is_conditional_check_failed_exception() =>
            {
                Ok(())
            }
            Err(e) => Err(store_error("release", e)),
        }
    }

    fn durable(&self) -> bool {
        true
    }
}

/// A failed `attribute_exists(#t)` means another delivery finished this message meanwhile.
fn not_in_flight(
    operation: &'static str,
    message: &MessageSid,
    error: SdkError<aws_sdk_dynamodb::operation::update_item::UpdateItemError>,
) -> StoreError {
    match &error {
        SdkError::ServiceError(service)
            if service.err().is_conditional_check_failed_exception() =>
        {
            StoreError::Conflict {
                operation,
                detail: format!("{message} is no longer a turn in flight"),
            }
        }
        _ => store_error(operation, error),
    }
}

/// Templates are kept without an expiry: a Twilio template lives until deleted, and the item is
/// one small row per distinct card.
#[async_trait]
impl ContentCache for DynamoStore {
    async fn get(&self, key: &ContentKey) -> Result<Option<ContentSid>, CacheError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(content_pk(key)))
            .projection_expression("sid")
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| CacheError(store_error("content_get", e).to_string()))?;
        match output.item.as_ref().and_then(|item| item.get("sid")) {
            None => Ok(None),
            Some(AttributeValue::S(raw)) => ContentSid::parse(raw)
                .map(Some)
                .map_err(|e| CacheError(format!("stored template SID is not readable: {e}"))),
            Some(_) => Err(CacheError("stored template SID is not a string".into())),
        }
    }

    /// The first SID stored for a key wins: another instance that created the same card
    /// meanwhile keeps its entry, and this one's template simply goes unused.
    async fn put(&self, key: &ContentKey, sid: &ContentSid) -> Result<(), CacheError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(content_pk(key)))
            .item("sid", s(sid.to_string()))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(service))
                if service.err().is_conditional_check_failed_exception() =>
            {
                Ok(())
            }
            Err(e) => Err(CacheError(store_error("content_put", e).to_string())),
        }
    }
}
