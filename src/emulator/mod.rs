//! Loopback emulators of Lex V2 and Twilio that speak the real wire protocols, for tests and
//! `flexlex demo`. Strict: a request the real service would refuse is refused.

pub mod lex;
pub mod listener;
pub mod runtime;
pub mod twilio;
