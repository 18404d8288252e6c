//! The integration suite: one binary, shared helpers.

mod cli;
mod e2e;
mod helpers;
mod lambda_process;
mod lex_adapter;
mod stack;
mod twilio_adapter;
mod vtl;
