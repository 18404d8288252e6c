//! The integration suite: one binary, shared helpers.

mod after_agent;
mod bot_policy;
mod dashboard;
mod e2e;
mod fleet;
mod growth;
mod harness;
mod helpers;
mod lambda_process;
mod layers;
mod lex_adapter;
mod lifecycle_adapter;
mod moto;
mod odd_deadlines;
mod order;
mod poller;
mod product;
mod sample_events;
mod stack;
mod state;
mod studio;
mod turns;
mod twilio_adapter;
mod vtl;
