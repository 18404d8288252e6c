//! Twilio SIDs as the emulator hands them out and checks them: a two-letter prefix and 32 hex
//! digits. Written from Twilio's documented shape, independently of the product's parsers, so
//! an emulator check agreeing with the product means something.

use std::fmt;

/// A SID the emulator created or accepted; the prefix says what it names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct Sid(String);

impl Sid {
    /// A fresh SID: `prefix` and 32 random lowercase hex digits.
    pub fn random(prefix: &str) -> Self {
        Self(format!("{prefix}{}", random_hex()))
    }

    /// `raw` if it is a SID with this prefix; otherwise the message Twilio's 400 would carry.
    pub fn parse(prefix: &str, raw: &str) -> Result<Self, String> {
        let well_formed = raw.len() == 34
            && raw.starts_with(prefix)
            && raw[2..].bytes().all(|b| b.is_ascii_hexdigit());
        if well_formed {
            Ok(Self(raw.to_owned()))
        } else {
            Err(format!(
                "`{}` is not a valid {prefix} SID",
                raw.escape_default()
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for Sid {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

/// 32 random lowercase hex digits: the body of a SID, or an opaque token.
pub fn random_hex() -> String {
    format!("{:032x}", rand::random::<u128>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_sids_parse_and_differ() {
        let a = Sid::random("IM");
        assert!(Sid::parse("IM", a.as_str()).is_ok());
        assert_ne!(a, Sid::random("IM"));
    }

    #[test]
    fn wrong_prefix_length_or_digits_are_refused() {
        let ok = Sid::random("CH").to_string();
        assert!(Sid::parse("WH", &ok).is_err());
        assert!(Sid::parse("CH", &ok[..33]).is_err());
        assert!(Sid::parse("CH", &format!("CH{}", "z".repeat(32))).is_err());
    }
}
