//! Identifiers that parse instead of validate: once a value has one of these types it is known
//! to have the shape Twilio or Lex gives it, so nothing downstream re-checks or is surprised.

use std::fmt;

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} `{shown}` is invalid: {reason}")]
pub struct IdError {
    pub kind: &'static str,
    /// A bounded, printable rendition of the refused value.
    pub shown: String,
    pub reason: &'static str,
}

impl IdError {
    fn new(kind: &'static str, raw: &str, reason: &'static str) -> Self {
        let shown: String = raw
            .chars()
            .take(48)
            .flat_map(char::escape_default)
            .collect();
        Self {
            kind,
            shown,
            reason,
        }
    }
}

/// The accessors and conversions every identifier shares; `parse` is what differs.
macro_rules! id_common {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::parse(s)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

/// Twilio SIDs: a two-letter prefix and 32 hex digits.
macro_rules! twilio_sid {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            pub fn parse(raw: &str) -> Result<Self, IdError> {
                let kind = stringify!($name);
                if raw.len() != 34 {
                    return Err(IdError::new(kind, raw, "must be 34 characters"));
                }
                if !raw.starts_with($prefix) {
                    return Err(IdError::new(kind, raw, concat!("must start with ", $prefix)));
                }
                if !raw.as_bytes()[2..].iter().all(u8::is_ascii_hexdigit) {
                    return Err(IdError::new(kind, raw, "must end in 32 hex digits"));
                }
                Ok(Self(raw.to_owned()))
            }
        }

        id_common!($name);
    };
}

twilio_sid!(
    /// The Twilio account (`AC…`).
    AccountSid, "AC"
);
twilio_sid!(
    /// A conversation (`CH…`); also the Lex session id and the Interaction's media channel.
    ConversationSid, "CH"
);
twilio_sid!(
    /// A conversation message (`IM…`).
    MessageSid, "IM"
);
twilio_sid!(
    /// A conversation-scoped webhook (`WH…`): the bot's, removed at handoff.
    WebhookSid, "WH"
);
twilio_sid!(
    /// A conversation participant (`MB…`).
    ParticipantSid, "MB"
);
twilio_sid!(
    /// A Flex Interaction (`KD…`).
    InteractionSid, "KD"
);
twilio_sid!(
    /// A Flex Interaction's channel (`UO…`): where the agent's participants are.
    InteractionChannelSid, "UO"
);
twilio_sid!(
    /// A TaskRouter workspace (`WS…`).
    WorkspaceSid, "WS"
);
twilio_sid!(
    /// A TaskRouter workflow (`WW…`).
    WorkflowSid, "WW"
);
twilio_sid!(
    /// A Twilio API key (`SK…`).
    ApiKeySid, "SK"
);
twilio_sid!(
    /// A Content API template (`HX…`): a rich card created once and sent by SID.
    ContentSid, "HX"
);

/// A new random SID-shaped string: `prefix` and 32 hex digits (emulators, simulated requests).
pub fn random_sid(prefix: &str) -> String {
    format!("{prefix}{:032x}", rand::random::<u128>())
}

/// Lex-side identifiers: alphanumeric strings with a length window.
macro_rules! lex_id {
    ($(#[$doc:meta])* $name:ident, $min:literal, $max:literal, $allowed:expr, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn parse(raw: &str) -> Result<Self, IdError> {
                let kind = stringify!($name);
                let n = raw.chars().count();
                if !($min..=$max).contains(&n) {
                    return Err(IdError::new(kind, raw, concat!("must be ", $min, " to ", $max, " characters")));
                }
                let allowed: fn(char) -> bool = $allowed;
                if !raw.chars().all(allowed) {
                    return Err(IdError::new(kind, raw, $what));
                }
                Ok(Self(raw.to_owned()))
            }
        }

        id_common!($name);
    };
}

lex_id!(
    /// A Lex V2 bot id: exactly 10 letters or digits.
    BotId, 10, 10, |c| c.is_ascii_alphanumeric(), "must be letters and digits"
);
lex_id!(
    /// A Lex V2 bot alias id (`TSTALIASID` for the draft alias).
    BotAliasId, 1, 100, |c| c.is_ascii_alphanumeric(), "must be letters and digits"
);
lex_id!(
    /// A Lex V2 locale such as `en_US` or `es_419`.
    LocaleId, 4, 16, |c| c.is_ascii_alphanumeric() || c == '_', "must be letters, digits and `_`"
);

/// Which bot to ask: the ids Twilio's webhook URL carries.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BotRef {
    pub bot_id: BotId,
    pub alias_id: BotAliasId,
    pub locale: LocaleId,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twilio_sids_need_prefix_length_and_hex() {
        assert!(ConversationSid::parse("CH0123456789abcdef0123456789abcdef").is_ok());
        assert!(ConversationSid::parse("IM0123456789abcdef0123456789abcdef").is_err());
        assert!(ConversationSid::parse("CH0123456789abcdef0123456789abcde").is_err());
        assert!(ConversationSid::parse("CH0123456789abcdef0123456789abcdeg").is_err());
        assert!(ConversationSid::parse("").is_err());
        assert!(ConversationSid::parse("CHé123456789abcdef0123456789abcde").is_err());
    }

    #[test]
    fn lex_ids_follow_the_model_constraints() {
        assert!(BotId::parse("ABCDEFGHIJ").is_ok());
        assert!(BotId::parse("ABCDEFGHI").is_err());
        assert!(BotId::parse("ABCDEFGH-J").is_err());
        assert!(BotAliasId::parse("TSTALIASID").is_ok());
        assert!(BotAliasId::parse("").is_err());
        assert!(LocaleId::parse("en_US").is_ok());
        assert!(LocaleId::parse("es_419").is_ok());
        assert!(LocaleId::parse("en US").is_err());
    }

    #[test]
    fn refused_values_are_shown_bounded_and_escaped() {
        let long = "x".repeat(500) + "\n";
        let err = BotId::parse(&long).unwrap_err();
        assert!(err.shown.len() <= 48);
        let err = BotId::parse("ABC\nDEFGHI").unwrap_err();
        assert!(err.shown.contains("\\n"));
    }
}
