//! The turn role: where a conversation's work runs. A job starts in [`batch`] (an SQS batch
//! from the turn queue) or [`in_process`] (no queue configured), and every job, whatever its
//! kind, goes through [`pipeline`]: claim → work → finish.
//!
//! - [`context`]: the ports and settings a job works with, and the job's run.
//! - [`catch_up`]: answering in Twilio's order — the earlier messages not answered yet first.
//! - [`message`]: a customer's message — the bot, the replies, wait, close or hand off.
//! - [`replies`]: posting replies and cards, exactly once per piece.
//! - [`handoff`]: the Flex Interaction and the bot's webhook removal.
//! - [`handover`]: a Studio flow's handover — the webhook swap.
//! - [`take_back`]: the bot takes the conversation back when the agent is done.

pub mod batch;
pub mod catch_up;
pub mod context;
pub mod handoff;
pub mod handover;
pub mod in_process;
pub mod message;
pub mod pipeline;
pub mod replies;
pub mod take_back;
