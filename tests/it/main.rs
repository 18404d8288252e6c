//! The integration suite: one binary, shared helpers.

mod e2e;
mod helpers;
mod lambda_process;
mod lex_adapter;
mod lifecycle_adapter;
mod product;
mod stack;
mod twilio_adapter;
mod vtl;
