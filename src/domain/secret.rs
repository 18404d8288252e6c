//! A value that must never reach a log line, an error message or test output.

use std::fmt;

use crate::domain::ids::{AccountSid, ApiKeySid};

/// Twilio REST credentials. An API key is what Twilio recommends for servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TwilioCredentials {
    ApiKey { sid: ApiKeySid, secret: Secret },
    AuthToken { account: AccountSid, token: Secret },
}

/// Holds a credential. `Debug` and `Display` print a placeholder; only [`Secret::expose`] reads it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The raw value, for the two places that need it: HMAC keys and HTTP Basic auth.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_the_value() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?} {s}").contains("hunter2"));
        assert_eq!(s.expose(), "hunter2");
    }
}
