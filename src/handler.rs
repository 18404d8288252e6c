//! The bridge: the one function's two roles. *Intake* (an API Gateway event) admits the
//! webhook and dispatches the turn to the queue; *turn* (an SQS batch) runs each conversation's
//! turns in order. Knows no environment variables and no SDK types; everything arrives through
//! the ports.

use std::sync::Arc;
use std::time::Instant;

use futures::future::join_all;
use tracing::Instrument;

use crate::admission::{Gate, admit};
use crate::config::Behaviour;
use crate::deadline::Deadline;
use crate::ids::AccountSid;
use crate::outcome::{Cause, Failure, Outcome, Replay, Report, Stage, Trace};
use crate::queue::{Dispatched, TurnQueue};
use crate::signature::Verifier;
use crate::sqs_batch::{BatchResponse, ItemFailure, QueuedTurn, SqsEvent, lanes};
use crate::telemetry::{self, LogFormat};
use crate::turn::{TurnEngine, timed};

/// Shared by every invocation of a warm instance: built once at cold start.
pub struct Bridge {
    behaviour: Behaviour,
    account: Option<AccountSid>,
    verifier: Verifier,
    engine: Arc<TurnEngine>,
    queue: Arc<dyn TurnQueue>,
}

impl Bridge {
    pub fn new(
        behaviour: Behaviour,
        account: Option<AccountSid>,
        verifier: Verifier,
        engine: Arc<TurnEngine>,
        queue: Arc<dyn TurnQueue>,
    ) -> Self {
        Self {
            behaviour,
            account,
            verifier,
            engine,
            queue,
        }
    }

    pub fn behaviour(&self) -> &Behaviour {
        &self.behaviour
    }

    /// Intake: one API Gateway event. Never panics on input; every path ends in one outcome.
    /// With the in-process queue the turn runs at once and its report is returned.
    pub async fn handle(&self, event: serde_json::Value, deadline: Deadline) -> Report {
        self.handle_at(event, None, deadline).await
    }

    /// As [`Bridge::handle`], for a request that reached us at `public_url` (scheme, host and
    /// path, without the query) rather than at the execute-api URL: the local server validates
    /// signatures against the URL it is reached at. `WEBHOOK_PUBLIC_URL` still wins.
    pub async fn handle_at(
        &self,
        event: serde_json::Value,
        public_url: Option<&str>,
        deadline: Deadline,
    ) -> Report {
        let span = tracing::info_span!(
            "intake",
            conversation = tracing::field::Empty,
            message = tracing::field::Empty
        );
        self.intake(event, public_url, deadline, &span)
            .instrument(span.clone())
            .await
    }

    async fn intake(
        &self,
        event: serde_json::Value,
        public_url: Option<&str>,
        deadline: Deadline,
        span: &tracing::Span,
    ) -> Report {
        let started = Instant::now();
        let mut trace = Trace::default();
        let gate = Gate {
            behaviour: &self.behaviour,
            account: self.account.as_ref(),
            verifier: &self.verifier,
        };
        let turn = match admit(&gate, event, public_url, &mut trace) {
            Ok(turn) => turn,
            Err(outcome) => {
                return Report {
                    outcome,
                    trace,
                    total: started.elapsed(),
                };
            }
        };
        span.record("conversation", turn.message.conversation.as_str());
        span.record("message", turn.message.message.as_str());
        let dispatched = timed(&mut trace.queue, self.queue.dispatch(turn, deadline)).await;
        let outcome = match dispatched {
            Ok(Dispatched::Queued) => Outcome::Enqueued,
            Ok(Dispatched::Ran(report)) => {
                // The turn ran here: its report, with the intake's request and queue time.
                let mut report = *report;
                report.trace.request_id = trace.request_id;
                report.trace.queue = trace.queue;
                report.total = started.elapsed();
                return report;
            }
            // A repeated intake sends the same deduplication id: a replay adds nothing.
            Err(e) => Outcome::Failed(Failure {
                stage: Stage::Enqueue,
                cause: Cause::Queue(e),
                replay: Replay::Safe,
            }),
        };
        Report {
            outcome,
            trace,
            total: started.elapsed(),
        }
    }

    /// Turn: an SQS batch. Conversations run side by side, each conversation's records one
    /// after another; a failure sends that record and the conversation's later records back.
    /// Every record gets its log line.
    pub async fn handle_turns(
        &self,
        event: SqsEvent,
        deadline: Deadline,
        format: LogFormat,
    ) -> BatchResponse {
        let (lanes, unreadable) = lanes(event);
        for record in &unreadable {
            tracing::warn!(sqs_message = %record.message_id, reason = %record.reason, "record dropped");
        }
        let failures = join_all(
            lanes
                .into_iter()
                .map(|lane| self.run_lane(lane, deadline, format)),
        )
        .await;
        BatchResponse {
            batch_item_failures: failures
                .into_iter()
                .flatten()
                .map(|item_identifier| ItemFailure { item_identifier })
                .collect(),
        }
    }

    /// One conversation's records in order; the SQS ids to deliver again.
    async fn run_lane(
        &self,
        lane: Vec<QueuedTurn>,
        deadline: Deadline,
        format: LogFormat,
    ) -> Vec<String> {
        let mut records = lane.into_iter();
        while let Some(record) = records.next() {
            let report = self.run_record(&record, deadline, format).await;
            if let Outcome::Failed(_) = report.outcome {
                let mut again = vec![record.message_id];
                again.extend(records.map(|r| r.message_id));
                return again;
            }
        }
        Vec::new()
    }

    /// One record, in a span that carries its conversation and message.
    pub async fn run_record(
        &self,
        record: &QueuedTurn,
        deadline: Deadline,
        format: LogFormat,
    ) -> Report {
        let message = &record.turn.message;
        let span = tracing::info_span!(
            "turn",
            conversation = message.conversation.as_str(),
            message = message.message.as_str(),
            receive_count = record.receive_count
        );
        async {
            let report = self.engine.run(&record.turn, deadline).await;
            telemetry::emit(&report, format);
            report
        }
        .instrument(span)
        .await
    }
}
