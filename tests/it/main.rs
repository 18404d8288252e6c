//! The integration suite: one binary, shared helpers.

mod e2e;
mod helpers;
mod lambda_process;
mod stack;
mod vtl;
mod twilio_adapter;
