//! The traits the roles call, in domain terms, with the errors that say whether waiting helps.
//! Each has a real adapter in [`crate::adapters`]; the conversation store also has an in-memory
//! twin there (local runs, the demo), and the others have test doubles in `crate::testing`.
//! [`runner`] is the one port the product itself implements: the turn role run in process,
//! which intake calls when there is no queue.

pub mod bot;
pub mod content;
pub mod conversations;
pub mod queue;
pub mod runner;
pub mod store;
