//! The turn queue in this process: each conversation gets a lane (an async mutex, fair, so
//! turns run in arrival order) and the turn runs at once, on the caller's task. Local runs
//! (`flexlex demo`, `serve`, tests) take the same turn path as the SQS-triggered Lambda.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::{Dispatched, QueueError, TurnQueue};
use crate::admission::AdmittedTurn;
use crate::deadline::Deadline;
use crate::ids::ConversationSid;
use crate::lock;
use crate::turn::TurnEngine;

type Lane = Arc<tokio::sync::Mutex<()>>;

pub struct InProcessQueue {
    engine: Arc<TurnEngine>,
    lanes: Mutex<HashMap<ConversationSid, Lane>>,
}

impl InProcessQueue {
    pub fn new(engine: Arc<TurnEngine>) -> Self {
        Self {
            engine,
            lanes: Mutex::new(HashMap::new()),
        }
    }

    fn lane(&self, conversation: &ConversationSid) -> Lane {
        Arc::clone(lock(&self.lanes).entry(conversation.clone()).or_default())
    }

    /// Forgets a lane nobody waits on, so the map holds only active conversations.
    fn release(&self, conversation: &ConversationSid, lane: Lane) {
        let mut lanes = lock(&self.lanes);
        // The map's copy and ours: nobody else holds or waits for this lane.
        if Arc::strong_count(&lane) == 2 {
            lanes.remove(conversation);
        }
    }
}

#[async_trait]
impl TurnQueue for InProcessQueue {
    async fn dispatch(
        &self,
        turn: AdmittedTurn,
        deadline: Deadline,
    ) -> Result<Dispatched, QueueError> {
        let conversation = turn.message.conversation.clone();
        let lane = self.lane(&conversation);
        let report = {
            let _turn = lane.lock().await;
            self.engine.run(&turn, deadline).await
        };
        self.release(&conversation, lane);
        Ok(Dispatched::Ran(Box::new(report)))
    }
}
