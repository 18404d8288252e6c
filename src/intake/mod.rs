//! The intake role: one API Gateway event, the webhook Twilio (or a Studio flow) sent. Admission
//! is pure ([`admission`]: envelope → form → signature → webhook → filters → routing); what
//! passes is a job, put on the turn queue, or run at once in this process when no queue is
//! configured. Intake never calls Lex or Twilio, so a forged request never reaches the queue.

pub mod admission;
pub mod body;
pub mod envelope;
pub mod form;
pub mod gate;
pub mod interactions;
pub mod keys;
pub mod route;
pub mod signature;
pub mod signed;
pub mod studio;
pub mod webhook;

use std::sync::Arc;
use std::time::Instant;

use tracing::Instrument;

use crate::domain::behaviour::Behaviour;
use crate::domain::deadline::Deadline;
use crate::domain::ids::AccountSid;
use crate::outcome::{Cause, Failure, Outcome, Replay, Report, Stage, Trace, timed};
use crate::ports::queue::TurnQueue;
use crate::ports::runner::TurnRunner;
use admission::admit;
use gate::Gate;
use signature::Verifier;

/// Where admitted jobs go.
pub enum Turns {
    /// The turn queue; the turn role runs them when the queue delivers them.
    Queue(Arc<dyn TurnQueue>),
    /// This process, at once, one conversation lane at a time (local runs, tests).
    InProcess(Arc<dyn TurnRunner>),
}

/// Shared by every invocation of a warm instance: built once at cold start.
pub struct Intake {
    behaviour: Behaviour,
    account: Option<AccountSid>,
    verifier: Verifier,
    turns: Turns,
}

impl Intake {
    pub fn new(
        behaviour: Behaviour,
        account: Option<AccountSid>,
        verifier: Verifier,
        turns: Turns,
    ) -> Self {
        Self {
            behaviour,
            account,
            verifier,
            turns,
        }
    }

    pub fn behaviour(&self) -> &Behaviour {
        &self.behaviour
    }

    /// One API Gateway event. `public_url` is where a local server was reached (scheme, host
    /// and path, without the query), used for the signature when `WEBHOOK_PUBLIC_URL` is not
    /// set; `None` in the Lambda. Never panics on input; every path ends in one outcome. In
    /// process, the turn runs at once and its report is returned.
    pub async fn handle(
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
        self.admit_and_dispatch(event, public_url, deadline, &span)
            .instrument(span.clone())
            .await
    }

    async fn admit_and_dispatch(
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
        let job = match admit(&gate, event, public_url, &mut trace) {
            Ok(job) => job,
            Err(outcome) => {
                return Report {
                    outcome,
                    trace,
                    total: started.elapsed(),
                };
            }
        };
        let message = &job.turn().message;
        span.record("conversation", message.conversation.as_str());
        span.record("message", message.message.as_str());
        let outcome = match &self.turns {
            Turns::Queue(queue) => match timed(&mut trace.queue, queue.enqueue(&job)).await {
                Ok(()) => Outcome::Enqueued,
                // A repeated intake sends the same deduplication id: a replay adds nothing.
                Err(e) => Outcome::Failed(Failure {
                    stage: Stage::Enqueue,
                    cause: Cause::Queue(e),
                    replay: Replay::Safe,
                }),
            },
            Turns::InProcess(turns) => {
                let mut report = timed(&mut trace.queue, turns.run(&job, deadline)).await;
                // The turn ran here: its report, with the intake's request and queue time.
                report.trace.request_id = trace.request_id;
                report.trace.queue = trace.queue;
                report.total = started.elapsed();
                return report;
            }
        };
        Report {
            outcome,
            trace,
            total: started.elapsed(),
        }
    }
}
