//! The request body as signed: a form (Conversations webhooks, Studio's default) or JSON
//! (Studio's *Make HTTP Request* with *Application/JSON*, other Twilio products). A JSON request
//! is signed over the URL only, and the URL's `bodySHA256` query parameter carries the
//! lowercase hex SHA-256 of the raw body; the body is read only once that hash matches.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::intake::form::FormParams;

/// The query parameter that carries the body's hash.
pub const BODY_HASH_PARAM: &str = "bodySHA256";

/// How the body is encoded, from its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    Form,
    Json,
}

impl BodyKind {
    /// `application/json` (any parameters, any case, or a `+json` subtype) is JSON; anything
    /// else is read as a form, as before.
    pub fn of(content_type: Option<&str>) -> Self {
        let Some(content_type) = content_type else {
            return Self::Form;
        };
        let media = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if media == "application/json"
            || (media.starts_with("application/") && media.ends_with("+json"))
        {
            Self::Json
        } else {
            Self::Form
        }
    }
}

/// Why a body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error(
        "a JSON body arrived without the {BODY_HASH_PARAM} query parameter Twilio signs it with"
    )]
    HashMissing,
    #[error("{BODY_HASH_PARAM} is not 64 lowercase hex digits")]
    HashMalformed,
    #[error("the body's SHA-256 differs from {BODY_HASH_PARAM}: the body was changed")]
    HashMismatch,
    #[error("JSON body: {0}")]
    Json(String),
}

impl BodyError {
    /// A short, bounded code for the log line and queries.
    pub fn code(&self) -> &'static str {
        match self {
            Self::HashMissing => "body_hash_missing",
            Self::HashMalformed => "body_hash_malformed",
            Self::HashMismatch => "body_hash_mismatch",
            Self::Json(_) => "json_body",
        }
    }
}

/// Lowercase hex SHA-256 of `body`.
pub fn sha256_hex(body: &[u8]) -> String {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, body)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Checks the query's `bodySHA256` against the raw body, in constant time. Twilio writes it in
/// lowercase; an uppercase value is a different string and is refused like any other.
pub fn check_hash(query: &BTreeMap<String, String>, body: &[u8]) -> Result<(), BodyError> {
    let claimed = query.get(BODY_HASH_PARAM).ok_or(BodyError::HashMissing)?;
    if claimed.len() != 64
        || !claimed
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(BodyError::HashMalformed);
    }
    let actual = sha256_hex(body);
    aws_lc_rs::constant_time::verify_slices_are_equal(actual.as_bytes(), claimed.as_bytes())
        .map_err(|_| BodyError::HashMismatch)
}

/// The JSON object's members as parameters (sorted by name; a JSON body's signature does not
/// depend on them, only on its bytes): strings as they are,
/// numbers and booleans as their JSON text, nested objects and arrays as compact JSON, `null`
/// left out (like an empty form value, it means "not given").
pub fn json_params(body: &[u8]) -> Result<FormParams, BodyError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| BodyError::Json(format!("not JSON ({e})")))?;
    let Value::Object(members) = value else {
        return Err(BodyError::Json("not a JSON object".into()));
    };
    let pairs = members
        .into_iter()
        .filter_map(|(name, value)| {
            let text = match value {
                Value::Null => return None,
                Value::String(s) => s,
                other => other.to_string(),
            };
            Some((name, text))
        })
        .collect();
    Ok(FormParams::from_pairs(pairs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(hash: &str) -> BTreeMap<String, String> {
        BTreeMap::from([(BODY_HASH_PARAM.to_owned(), hash.to_owned())])
    }

    // Hashes computed with Python's hashlib at authoring time:
    // hashlib.sha256(b'{"property": "value", "boolean": true}').hexdigest() and of b'{}'
    // (also Twilio's library test values, twilio.md §3.3).
    const PROPERTY_BODY: &[u8] = br#"{"property": "value", "boolean": true}"#;
    const PROPERTY_HASH: &str = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
    const EMPTY_HASH: &str = "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

    #[test]
    fn hashes_match_independent_values() {
        assert_eq!(sha256_hex(PROPERTY_BODY), PROPERTY_HASH);
        assert_eq!(sha256_hex(b"{}"), EMPTY_HASH);
        assert_eq!(check_hash(&query(PROPERTY_HASH), PROPERTY_BODY), Ok(()));
    }

    #[test]
    fn changed_stripped_or_malformed_hashes_are_refused() {
        let tampered = br#"{"property": "value", "boolean": false}"#;
        assert_eq!(
            check_hash(&query(PROPERTY_HASH), tampered),
            Err(BodyError::HashMismatch)
        );
        assert_eq!(
            check_hash(&BTreeMap::new(), PROPERTY_BODY),
            Err(BodyError::HashMissing)
        );
        assert_eq!(
            check_hash(&query(&PROPERTY_HASH.to_uppercase()), PROPERTY_BODY),
            Err(BodyError::HashMalformed)
        );
        assert_eq!(
            check_hash(&query(&PROPERTY_HASH[..63]), PROPERTY_BODY),
            Err(BodyError::HashMalformed)
        );
    }

    #[test]
    fn content_types() {
        for json in [
            "application/json",
            "application/json; charset=utf-8",
            "Application/JSON;charset=UTF-8",
            "application/cloudevents+json",
        ] {
            assert_eq!(BodyKind::of(Some(json)), BodyKind::Json, "{json}");
        }
        for form in [
            "application/x-www-form-urlencoded",
            "application/x-www-form-urlencoded; charset=UTF-8",
            "text/plain",
        ] {
            assert_eq!(BodyKind::of(Some(form)), BodyKind::Form, "{form}");
        }
        assert_eq!(BodyKind::of(None), BodyKind::Form);
    }

    #[test]
    fn json_members_become_parameters() {
        let params = json_params(
            br#"{"EventType":"onStudioHandover","Index":3,"Flag":true,"Gone":null,"Attributes":{"a":[1]},"Body":"h\u00e9"}"#,
        )
        .unwrap();
        assert_eq!(
            params.pairs(),
            [
                ("Attributes".to_owned(), r#"{"a":[1]}"#.to_owned()),
                ("Body".to_owned(), "hé".to_owned()),
                ("EventType".to_owned(), "onStudioHandover".to_owned()),
                ("Flag".to_owned(), "true".to_owned()),
                ("Index".to_owned(), "3".to_owned()),
            ]
        );
        assert!(matches!(json_params(b"[1]"), Err(BodyError::Json(_))));
        assert!(matches!(json_params(b"{"), Err(BodyError::Json(_))));
    }
}
