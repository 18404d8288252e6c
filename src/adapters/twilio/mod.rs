//! The Twilio REST adapter of the conversations port: HTTP, auth, retries and Twilio's error
//! JSON live here and nowhere else.
//!
//! - [`client`]: the shared reqwest client and the [`crate::ports::conversations::Conversations`] impl.
//! - [`api`]: the JSON resources Twilio answers with, mapped to domain types.
//! - `crate::adapters::backoff`: the jittered backoff and `Retry-After`.
//! - [`hostname`]: the `TWILIO_REGION` / `TWILIO_EDGE` host rule.

pub mod api;

pub mod client;
pub mod hostname;

pub use crate::adapters::backoff::Backoff;
pub use client::{TwilioClient, TwilioClientConfig, TwilioConfigError};
pub use hostname::regional_host;
