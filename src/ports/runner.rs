//! The turn role run at once, in this process, when there is no queue (local runs, the demo,
//! tests): intake hands a job here and gets the turn's report back. Implemented by
//! `turn::in_process`; a port so that intake knows the turn role only by this trait.

use async_trait::async_trait;

use crate::domain::deadline::Deadline;
use crate::domain::job::Job;
use crate::outcome::Report;

#[async_trait]
pub trait TurnRunner: Send + Sync {
    /// Runs `job` once its conversation's earlier jobs in this process are done.
    async fn run(&self, job: &Job, deadline: Deadline) -> Report;
}
