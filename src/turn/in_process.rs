//! Turns without a queue: each conversation gets a lane in this process (an async mutex, fair,
//! so jobs run in arrival order) and the job runs at once, on the caller's task. Local runs
//! (`flexlex demo`, `serve`, tests) take the same pipeline as the SQS-triggered Lambda.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::pipeline::Pipeline;
use crate::domain::deadline::Deadline;
use crate::domain::ids::ConversationSid;
use crate::domain::job::Job;
use crate::lock;
use crate::outcome::Report;
use crate::ports::runner::TurnRunner;

type Lane = Arc<tokio::sync::Mutex<()>>;

pub struct InProcess {
    pipeline: Arc<Pipeline>,
    lanes: Mutex<HashMap<ConversationSid, Lane>>,
}

impl InProcess {
    pub fn new(pipeline: Arc<Pipeline>) -> Self {
        Self {
            pipeline,
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
impl TurnRunner for InProcess {
    /// Runs `job` once the conversation's earlier jobs in this process are done.
    async fn run(&self, job: &Job, deadline: Deadline) -> Report {
        let conversation = job.conversation().clone();
        let lane = self.lane(&conversation);
        let report = {
            let _turn = lane.lock().await;
            self.pipeline.run(job, deadline).await
        };
        self.release(&conversation, lane);
        report
    }
}
