//! The traits the roles call, in domain terms, with the errors that say whether waiting helps.
//! Each has a real adapter and an in-memory twin in [`crate::adapters`].

pub mod bot;
pub mod content;
pub mod conversations;
pub mod queue;
pub mod store;
