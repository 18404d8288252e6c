//! The ports' implementations. They translate between the wire and the domain and classify
//! failures; they never decide what a turn does.

pub mod aws_error;
pub mod backoff;
pub mod dynamodb;
pub mod http;
pub mod in_memory;
pub mod lazy;
pub mod lex;
pub mod secrets_manager;
pub mod sqs;
pub mod twilio;
