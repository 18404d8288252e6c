//! Pure types and decisions. Nothing here does I/O, reads the environment or knows an SDK:
//! every module can be read and tested on its own.

pub mod after_agent;
pub mod behaviour;
pub mod bot;
pub mod cards;
pub mod channel;
pub mod clock;
pub mod conversation;
pub mod customer;
pub mod deadline;
pub mod dialog_memory;
pub mod escalation;
pub mod escalation_rules;
pub mod handoff;
pub mod ids;
pub mod job;
pub mod ledger;
pub mod message;
pub mod message_body;
pub mod plan;
pub mod policy;
pub mod render;
pub mod secret;
pub mod summary;
pub mod timers;
