//! flexlex: an Amazon Lex V2 bot in front of Twilio Flex Conversations.
//!
//! The crate is layered (see `docs/architecture.md`): the envelope, signature and webhook
//! modules read what API Gateway hands over; `policy` decides; `bot` and `conversations` are
//! the ports, implemented by `lex` and `twilio`; `handler` glues one event end to end.

pub mod admission;
pub mod app;
pub mod bot;
pub mod config;
pub mod content;
pub mod conversations;
pub mod deadline;
pub mod dialog_memory;
pub mod envelope;
pub mod escalation;
pub mod form;
pub mod handler;
pub mod handoff;
pub mod http;
pub mod ids;
pub mod lambda;
pub mod lex;
pub mod memory;
pub mod message_body;
pub mod outcome;
pub mod policy;
pub mod queue;
pub mod render;
pub mod secret;
pub mod secrets_manager;
pub mod signature;
pub mod sqs_batch;
pub mod state;
pub mod studio;
pub mod summary;
pub mod telemetry;
pub mod timers;
pub mod turn;
pub mod twilio;
pub mod webhook;

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `mutex`, using the data as is when a panicking holder poisoned it. Every mutex in the
/// crate guards data that stays consistent between statements, and with `panic = "abort"` in
/// the Lambda a poisoned lock only happens in tests.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
