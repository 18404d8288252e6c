//! flexlex: an Amazon Lex V2 bot in front of Twilio Flex Conversations, as one Lambda.
//!
//! The folders are the layers (see `docs/architecture.md`):
//! - [`domain`]: pure types and decisions — ids, the conversation record and its claim
//!   decision, policy, escalation, memory, cards, timers, the handoff's attributes. No I/O;
//!   decisions are given the time (only a `Deadline` counts down on the monotonic clock).
//! - [`ports`]: the traits the roles call — the bot, Twilio Conversations, the Content API, the
//!   turn queue, the conversation store — with their error types.
//! - [`intake`]: the webhook role — envelope, form, signature, the typed webhook, admission,
//!   the Studio handover request, Flex Interactions events — ending in a [`domain::job::Job`]
//!   on the queue.
//! - [`turn`]: the turn role — an SQS batch in lanes, and the one pipeline (claim → work →
//!   finish) every job kind goes through.
//! - [`adapters`]: Lex, Twilio, SQS, DynamoDB, Secrets Manager and the in-memory store; they
//!   translate and never decide.
//! - [`app`]: configuration, composition, the Lambda entry point, telemetry.
//!
//! [`outcome`] is what became of one event, shared by both roles and telemetry.

pub mod adapters;
pub mod app;
pub mod domain;
pub mod intake;
pub mod outcome;
pub mod ports;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod turn;

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `mutex`, using the data as is when a panicking holder poisoned it. Every mutex in the
/// crate guards data that stays consistent between statements, and with `panic = "abort"` in
/// the Lambda a poisoned lock only happens in tests.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
