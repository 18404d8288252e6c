//! Loopback emulators of Lex V2, Twilio and the Lambda Runtime API that speak the real wire
//! protocols, and the signed webhook requests Twilio and API Gateway deliver, for the product's
//! tests and `flexlex demo`. Strict: a request the real service would refuse is refused. They
//! know none of the product's types.

pub mod lex;
pub mod listener;
pub mod runtime;
pub mod samples;
pub mod sid;
pub mod twilio;
pub mod webhook;

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `mutex`, using the data as is when a panicking holder poisoned it: emulator state is
/// a record of requests, and a half-applied change is no worse than the panic that made it.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
