//! The conversation state in this process, with the DynamoDB adapter's semantics: for local
//! runs (`flexlex demo`, `serve`) and unit tests. Not durable: a replay in another process
//! starts from nothing.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::domain::cards::ContentKey;
use crate::domain::conversation::{
    Claim, ClaimView, Lease, Memory, Progress, Snapshot, Status, TurnKey, decide_claim,
};
use crate::domain::ids::{ContentSid, ConversationSid, MessageSid};
use crate::domain::ledger::Ledger;
use crate::lock;
use crate::ports::content::{CacheError, ContentCache};
use crate::ports::store::{ConversationStore, StoreError};

#[derive(Debug, Clone)]
struct Record {
    status: Status,
    /// Which messages are accounted for: the same bounded ledger DynamoDB keeps.
    ledger: Ledger,
    memory: Memory,
    /// Each turn in flight: its progress and the lease of the delivery running it (epoch ms;
    /// 0 when released).
    in_flight: HashMap<MessageSid, (Progress, u64)>,
    /// The job whose delivery holds the conversation, and until when (epoch ms).
    holder: Option<(MessageSid, u64)>,
}

#[derive(Debug, Default)]
pub struct InMemoryStore {
    records: Mutex<HashMap<ConversationSid, Record>>,
    contents: Mutex<HashMap<ContentKey, ContentSid>>,
}

impl InMemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// The stored status and memory of a conversation, for tests and the demo.
    pub fn snapshot(&self, conversation: &ConversationSid) -> Option<Snapshot> {
        lock(&self.records).get(conversation).map(Record::snapshot)
    }
}

impl Record {
    fn snapshot(&self) -> Snapshot {
        Snapshot {
            memory: self.memory.clone(),
            ledger: self.ledger.clone(),
            status: self.status,
        }
    }
}

fn conflict(operation: &'static str, message: &MessageSid) -> StoreError {
    StoreError::Conflict {
        operation,
        detail: format!("{message} is not a turn in flight"),
    }
}

#[async_trait]
impl ConversationStore for InMemoryStore {
    async fn claim(
        &self,
        conversation: &ConversationSid,
        turn: TurnKey<'_>,
        lease: Lease,
    ) -> Result<Claim, StoreError> {
        let message = turn.key;
        let now = lease.now_secs();
        let mut records = lock(&self.records);
        let record = records
            .entry(conversation.clone())
            .or_insert_with(|| Record {
                status: Status::Bot,
                ledger: Ledger::default(),
                memory: Memory {
                    started_at: now,
                    updated_at: now,
                    ..Memory::default()
                },
                in_flight: HashMap::new(),
                holder: None,
            });
        let view = ClaimView {
            status: record.status,
            handled: record.ledger.handled(message, turn.index),
            in_flight_until: record.in_flight.get(message).map(|(_, until_ms)| *until_ms),
            holder: record
                .holder
                .as_ref()
                .map(|(holder, until_ms)| (holder.as_str(), *until_ms)),
        };
        let verdict = decide_claim(&view, turn, lease);
        if verdict.takes_the_turn() {
            let (_, until_ms) = record
                .in_flight
                .entry(message.clone())
                .or_insert((Progress::Claimed, 0));
            *until_ms = lease.until_ms;
            record.holder = Some((turn.holder.clone(), lease.until_ms));
        }
        verdict.into_claim(
            || Ok(record.snapshot()),
            || {
                Ok(record
                    .in_flight
                    .get(message)
                    .map_or(Progress::Claimed, |(progress, _)| progress.clone()))
            },
        )
    }

    async fn record(
        &self,
        conversation: &ConversationSid,
        message: &MessageSid,
        progress: &Progress,
        status: Option<Status>,
        _now: u64,
    ) -> Result<(), StoreError> {
        let mut records = lock(&self.records);
        let (stored, _) = records
            .get_mut(conversation)
            .and_then(|r| r.in_flight.get_mut(message))
            .ok_or_else(|| conflict("record", message))?;
        *stored = progress.clone();
        let record = records
            .get_mut(conversation)
            .ok_or_else(|| conflict("record", message))?;
        if let Some(status) = status {
            record.status = status;
        }
        Ok(())
    }

    async fn finish(
        &self,
        conversation: &ConversationSid,
        turn: TurnKey<'_>,
        state: &Snapshot,
        _now: u64,
    ) -> Result<(), StoreError> {
        let message = turn.key;
        let mut records = lock(&self.records);
        // As in DynamoDB: only a turn in flight under the conversation's holder (or of a
        // conversation nobody holds) finishes.
        let record = records
            .get_mut(conversation)
            .filter(|r| r.in_flight.contains_key(message))
            .filter(|r| {
                r.holder
                    .as_ref()
                    .is_none_or(|(holder, _)| holder == turn.holder)
            })
            .ok_or_else(|| conflict("finish", message))?;
        record.in_flight.remove(message);
        if turn.holds() {
            record.holder = None;
        }
        record.ledger = state.ledger.clone();
        record.memory = state.memory.clone();
        record.status = state.status;
        Ok(())
    }

    async fn release(
        &self,
        conversation: &ConversationSid,
        turn: TurnKey<'_>,
        lease: Lease,
    ) -> Result<(), StoreError> {
        let mut records = lock(&self.records);
        let Some(record) = records.get_mut(conversation) else {
            return Ok(());
        };
        let holds = record
            .holder
            .as_ref()
            .is_some_and(|(holder, _)| holder == turn.holder);
        match record.in_flight.get_mut(turn.key) {
            Some((_, until_ms)) if holds && *until_ms == lease.until_ms => {
                *until_ms = 0;
                if turn.holds() {
                    record.holder = None;
                }
            }
            // Not ours any more (finished, or another delivery took it over): nothing to do.
            _ => {}
        }
        Ok(())
    }

    fn durable(&self) -> bool {
        false
    }
}

/// As the DynamoDB adapter: the first SID stored for a key wins.
#[async_trait]
impl ContentCache for InMemoryStore {
    async fn get(&self, key: &ContentKey) -> Result<Option<ContentSid>, CacheError> {
        Ok(lock(&self.contents).get(key).cloned())
    }

    async fn put(&self, key: &ContentKey, sid: &ContentSid) -> Result<(), CacheError> {
        lock(&self.contents)
            .entry(key.clone())
            .or_insert_with(|| sid.clone());
        Ok(())
    }
}
