//! Keys for jobs that are not a Twilio message: the conversation state keys turns by `IM…`
//! SIDs, so such a job gets `IM` and the first 32 hex digits of a SHA-1 over its scope, a
//! label and the values that identify it. Deterministic: a repeat of the same request maps to
//! the same key; never equal to a Twilio message SID in practice.

use sha1::{Digest, Sha1};

use crate::domain::ids::MessageSid;

pub fn derived_key(scope: &str, label: &str, parts: &[&str]) -> MessageSid {
    let mut hash = Sha1::new();
    hash.update(scope.as_bytes());
    hash.update(label.as_bytes());
    for part in parts {
        hash.update([0u8]);
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part.as_bytes());
    }
    let hex: String = hash
        .finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect();
    // 34 characters, `IM` and hex digits: always a valid message SID.
    MessageSid::parse(&format!("IM{hex}")).unwrap_or_else(|_| unreachable!())
}
