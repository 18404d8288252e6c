//! The conversation state in this process, with the DynamoDB adapter's semantics: for local
//! runs (`flexlex demo`, `serve`) and unit tests. Not durable: a replay in another process
//! starts from nothing.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use async_trait::async_trait;

use crate::domain::cards::ContentKey;
use crate::domain::conversation::{BusyTurn, Claim, Lease, Memory, Progress, Status};
use crate::domain::ids::{ContentSid, ConversationSid, MessageSid};
use crate::lock;
use crate::ports::content::{CacheError, ContentCache};
use crate::ports::store::{ConversationStore, StoreError};

#[derive(Debug, Clone)]
struct Record {
    status: Status,
    handled: HashSet<MessageSid>,
    memory: Memory,
    /// Each turn in flight: its progress and the lease of the delivery running it.
    in_flight: HashMap<MessageSid, (Progress, u64)>,
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
    pub fn snapshot(&self, conversation: &ConversationSid) -> Option<(Status, Memory)> {
        lock(&self.records)
            .get(conversation)
            .map(|r| (r.status, r.memory.clone()))
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
        message: &MessageSid,
        lease: Lease,
    ) -> Result<Claim, StoreError> {
        let now = lease.now_secs();
        let mut records = lock(&self.records);
        let record = records
            .entry(conversation.clone())
            .or_insert_with(|| Record {
                status: Status::Bot,
                handled: HashSet::new(),
                memory: Memory {
                    started_at: now,
                    updated_at: now,
                    ..Memory::default()
                },
                in_flight: HashMap::new(),
            });
        if record.handled.contains(message) {
            return Ok(Claim::Duplicate);
        }
        // One turn of a conversation at a time: another message's delivery within its lease.
        let held_until = record
            .in_flight
            .iter()
            .filter(|(other, (_, until_ms))| *other != message && *until_ms > lease.now_ms)
            .map(|(_, (_, until_ms))| *until_ms)
            .max();
        if let Some((progress, until_ms)) = record.in_flight.get_mut(message) {
            if *until_ms > lease.now_ms {
                return Ok(Claim::Busy {
                    until_ms: *until_ms,
                    turn: BusyTurn::ThisMessage,
                });
            }
            if let Some(until_ms) = held_until {
                return Ok(Claim::Busy {
                    until_ms,
                    turn: BusyTurn::AnotherMessage,
                });
            }
            *until_ms = lease.until_ms;
            return Ok(Claim::Resume {
                memory: record.memory.clone(),
                progress: Box::new(progress.clone()),
            });
        }
        match record.status {
            Status::HandedOff => Ok(Claim::HandedOff),
            Status::Closed => Ok(Claim::Closed),
            Status::Bot => {
                if let Some(until_ms) = held_until {
                    return Ok(Claim::Busy {
                        until_ms,
                        turn: BusyTurn::AnotherMessage,
                    });
                }
                record
                    .in_flight
                    .insert(message.clone(), (Progress::Claimed, lease.until_ms));
                Ok(Claim::Fresh {
                    memory: record.memory.clone(),
                })
            }
        }
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
        message: &MessageSid,
        memory: &Memory,
        status: Status,
        _now: u64,
    ) -> Result<(), StoreError> {
        let mut records = lock(&self.records);
        let record = records
            .get_mut(conversation)
            .filter(|r| r.in_flight.contains_key(message))
            .ok_or_else(|| conflict("finish", message))?;
        record.in_flight.remove(message);
        record.handled.insert(message.clone());
        record.memory = memory.clone();
        record.status = status;
        Ok(())
    }

    async fn release(
        &self,
        conversation: &ConversationSid,
        message: &MessageSid,
        lease: Lease,
    ) -> Result<(), StoreError> {
        let mut records = lock(&self.records);
        if let Some((_, until_ms)) = records
            .get_mut(conversation)
            .and_then(|r| r.in_flight.get_mut(message))
            .filter(|(_, until_ms)| *until_ms == lease.until_ms)
        {
            *until_ms = 0;
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
