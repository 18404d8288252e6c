//! The JSON event the API Gateway VTL request template produces (wire version `"1"`):
//!
//! ```json
//! {"v":"1","body":"<base64 of the raw request body>","headers":{"Name":"value"},
//!  "query":{"BotId":"..."},"domainName":"abc.execute-api.us-east-1.amazonaws.com",
//!  "path":"/prod/webhook","requestId":"...","stage":"prod","sourceIp":"...",
//!  "requestTimeEpoch":"1700000000000"}
//! ```
//!
//! Every value is a JSON string. The template renders a missing map as `{}` and a missing
//! string as `""`, so `""` for `stage`/`sourceIp` means "not given". Decisions on input the
//! template never produces but a hand-written test event might:
//! - a missing `v` is read as version `"1"`; any other version is refused, so a template change
//!   cannot be misread silently;
//! - `body` may omit base64 padding (it is unambiguous; API Gateway itself pads);
//! - unknown top-level fields are ignored, so the template can grow without breaking old code;
//! - `requestTimeEpoch` is informational: accepted when it is a string, not kept.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde_json::{Map, Value};

/// The only wire version this parser reads.
pub const VERSION: &str = "1";

/// Largest raw request body accepted: the async Lambda payload limit, so nothing bigger can
/// have come through API Gateway legitimately.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Longest rendition of a received value that an error carries.
const SHOWN_MAX: usize = 64;

/// Why an event was refused; always names the field and never carries more than a short,
/// escaped excerpt of what was received.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("envelope is not valid JSON: {0}")]
    Json(String),
    #[error("envelope must be a JSON object, found {0}")]
    NotAnObject(&'static str),
    #[error("envelope field `{0}` is missing")]
    Missing(&'static str),
    #[error("envelope field `{0}` must not be empty")]
    Empty(&'static str),
    #[error("envelope field `{field}` must be a string, found {found}")]
    NotString { field: String, found: &'static str },
    #[error("envelope field `{field}` must be an object of strings, found {found}")]
    NotAMap {
        field: &'static str,
        found: &'static str,
    },
    #[error("envelope version `{shown}` is not supported (expected \"{VERSION}\")")]
    Version { shown: String },
    #[error("envelope field `body` is not standard base64: {reason}")]
    Base64 { reason: String },
    #[error("request body is {size} bytes, over the {limit}-byte limit")]
    TooLarge { size: usize, limit: usize },
}

/// A received value as an error may carry it: escaped, and cut at [`SHOWN_MAX`] characters.
pub(crate) fn shown(raw: &str) -> String {
    let mut out: String = raw
        .chars()
        .take(SHOWN_MAX)
        .flat_map(char::escape_default)
        .collect();
    if raw.chars().nth(SHOWN_MAX).is_some() {
        out.push('…');
    }
    out
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Request headers; names compare case-insensitively, as HTTP says they do.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Headers(Vec<(String, String)>);

impl Headers {
    pub fn new(pairs: Vec<(String, String)>) -> Self {
        Self(pairs)
    }

    /// The first header whose name matches `name` ignoring ASCII case.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }
}

/// One webhook request as API Gateway saw it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Envelope {
    /// Raw body bytes, decoded from base64: exactly what Twilio sent and signed.
    pub body: Vec<u8>,
    /// Sorted by name when parsed (the wire form is a JSON object).
    pub headers: Headers,
    /// Query parameters, decoded; API Gateway gives them as a map, so their order is lost.
    pub query: BTreeMap<String, String>,
    pub domain_name: String,
    /// The path including the stage, e.g. `/prod/webhook` (`$context.path`).
    pub path: String,
    /// Empty when the event did not carry one.
    pub request_id: String,
    pub stage: Option<String>,
    pub source_ip: Option<String>,
}

impl Envelope {
    pub fn from_json(json: &[u8]) -> Result<Self, EnvelopeError> {
        let value: Value =
            serde_json::from_slice(json).map_err(|e| EnvelopeError::Json(e.to_string()))?;
        Self::from_value(value)
    }

    pub fn from_value(value: Value) -> Result<Self, EnvelopeError> {
        let Value::Object(mut obj) = value else {
            return Err(EnvelopeError::NotAnObject(kind(&value)));
        };
        match optional_string(&mut obj, "v")? {
            None => {}
            Some(v) if v == VERSION => {}
            Some(v) => return Err(EnvelopeError::Version { shown: shown(&v) }),
        }
        let body = decode_body(&required_string(&mut obj, "body")?)?;
        let mut headers: Vec<(String, String)> = string_map(&mut obj, "headers")?;
        headers.sort();
        let query = string_map(&mut obj, "query")?.into_iter().collect();
        let domain_name = non_empty(&mut obj, "domainName")?;
        let path = non_empty(&mut obj, "path")?;
        let request_id = optional_string(&mut obj, "requestId")?.unwrap_or_default();
        let stage = optional_string(&mut obj, "stage")?.filter(|s| !s.is_empty());
        let source_ip = optional_string(&mut obj, "sourceIp")?.filter(|s| !s.is_empty());
        optional_string(&mut obj, "requestTimeEpoch")?;
        Ok(Self {
            body,
            headers: Headers(headers),
            query,
            domain_name,
            path,
            request_id,
            stage,
            source_ip,
        })
    }

    /// The wire shape the VTL template produces, so tools and tests can stand in for API
    /// Gateway. `requestTimeEpoch` is not kept by the parser and so is not emitted.
    pub fn to_value(&self) -> Value {
        let map = |pairs: &mut dyn Iterator<Item = (&String, &String)>| -> Value {
            Value::Object(
                pairs
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect(),
            )
        };
        let mut obj = Map::new();
        obj.insert("v".into(), VERSION.into());
        obj.insert("body".into(), BASE64.encode(&self.body).into());
        obj.insert(
            "headers".into(),
            map(&mut self.headers.0.iter().map(|(k, v)| (k, v))),
        );
        obj.insert("query".into(), map(&mut self.query.iter()));
        obj.insert("domainName".into(), self.domain_name.clone().into());
        obj.insert("path".into(), self.path.clone().into());
        obj.insert("requestId".into(), self.request_id.clone().into());
        obj.insert(
            "stage".into(),
            self.stage.clone().unwrap_or_default().into(),
        );
        obj.insert(
            "sourceIp".into(),
            self.source_ip.clone().unwrap_or_default().into(),
        );
        Value::Object(obj)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }
}

/// Standard alphabet; padding optional on input, always written on output.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

fn decode_body(encoded: &str) -> Result<Vec<u8>, EnvelopeError> {
    // Refuse before decoding: every 4 base64 data characters carry 3 bytes.
    let at_least = encoded.trim_end_matches('=').len() * 3 / 4;
    if at_least > MAX_BODY_BYTES {
        return Err(EnvelopeError::TooLarge {
            size: at_least,
            limit: MAX_BODY_BYTES,
        });
    }
    let body = BASE64.decode(encoded).map_err(|e| EnvelopeError::Base64 {
        reason: e.to_string(),
    })?;
    if body.len() > MAX_BODY_BYTES {
        return Err(EnvelopeError::TooLarge {
            size: body.len(),
            limit: MAX_BODY_BYTES,
        });
    }
    Ok(body)
}

fn optional_string(
    obj: &mut Map<String, Value>,
    field: &'static str,
) -> Result<Option<String>, EnvelopeError> {
    match obj.remove(field) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(EnvelopeError::NotString {
            field: field.into(),
            found: kind(&other),
        }),
    }
}

fn required_string(
    obj: &mut Map<String, Value>,
    field: &'static str,
) -> Result<String, EnvelopeError> {
    optional_string(obj, field)?.ok_or(EnvelopeError::Missing(field))
}

fn non_empty(obj: &mut Map<String, Value>, field: &'static str) -> Result<String, EnvelopeError> {
    let s = required_string(obj, field)?;
    if s.is_empty() {
        return Err(EnvelopeError::Empty(field));
    }
    Ok(s)
}

/// A map of strings; missing means empty. Each bad entry is named as `field["key"]`.
fn string_map(
    obj: &mut Map<String, Value>,
    field: &'static str,
) -> Result<Vec<(String, String)>, EnvelopeError> {
    let entries = match obj.remove(field) {
        None => return Ok(Vec::new()),
        Some(Value::Object(entries)) => entries,
        Some(other) => {
            return Err(EnvelopeError::NotAMap {
                field,
                found: kind(&other),
            });
        }
    };
    entries
        .into_iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k, s)),
            other => Err(EnvelopeError::NotString {
                field: format!("{field}[\"{}\"]", shown(&k)),
                found: kind(&other),
            }),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn wire() -> Value {
        json!({
            "v": "1",
            "body": "RXZlbnRUeXBlPW9uTWVzc2FnZUFkZGVkJkJvZHk9aGk=",
            "headers": {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "abc=", "X-Note": "caf\u{e9}"},
            "query": {"BotId": "ABCDEFGHIJ", "BotAliasId": "TSTALIASID"},
            "domainName": "abc.execute-api.us-east-1.amazonaws.com",
            "path": "/prod/webhook",
            "requestId": "req-1",
            "stage": "prod",
            "sourceIp": "54.1.2.3",
            "requestTimeEpoch": "1700000000000"
        })
    }

    fn with(field: &str, value: Value) -> Value {
        let mut v = wire();
        v[field] = value;
        v
    }

    fn without(field: &str) -> Value {
        let mut v = wire();
        v.as_object_mut().unwrap().remove(field);
        v
    }

    #[test]
    fn parses_the_wire_shape() {
        let e = Envelope::from_value(wire()).unwrap();
        assert_eq!(e.body, b"EventType=onMessageAdded&Body=hi");
        assert_eq!(e.query.get("BotId").map(String::as_str), Some("ABCDEFGHIJ"));
        assert_eq!(e.domain_name, "abc.execute-api.us-east-1.amazonaws.com");
        assert_eq!(e.path, "/prod/webhook");
        assert_eq!(e.request_id, "req-1");
        assert_eq!(e.stage.as_deref(), Some("prod"));
        assert_eq!(e.source_ip.as_deref(), Some("54.1.2.3"));
        assert_eq!(e.header("X-Note"), Some("café"));
    }

    #[test]
    fn header_lookup_ignores_case() {
        let e = Envelope::from_value(wire()).unwrap();
        for name in [
            "X-Twilio-Signature",
            "x-twilio-signature",
            "X-TWILIO-SIGNATURE",
        ] {
            assert_eq!(e.header(name), Some("abc="), "{name}");
        }
        assert_eq!(e.header("X-Twilio-Signatur"), None);
        let h = Headers::new(vec![("x-a".into(), "1".into()), ("X-A".into(), "2".into())]);
        assert_eq!(h.get("X-a"), Some("1"));
    }

    #[test]
    fn vtl_escapes_decode() {
        let raw = br#"{"v":"1","body":"","headers":{"X-Name":"Ren\u00e9e \/ \"Q\""},"query":{},"domainName":"d","path":"\/p","requestId":"","stage":"","sourceIp":""}"#;
        let e = Envelope::from_json(raw).unwrap();
        assert_eq!(e.header("x-name"), Some("Renée / \"Q\""));
        assert_eq!(e.path, "/p");
        assert!(e.body.is_empty());
        assert_eq!((e.stage, e.source_ip), (None, None));
    }

    #[test]
    fn lenient_where_documented() {
        let e = Envelope::from_value(without("v")).unwrap();
        assert_eq!(e.body, b"EventType=onMessageAdded&Body=hi");
        for field in [
            "headers",
            "query",
            "requestId",
            "stage",
            "sourceIp",
            "requestTimeEpoch",
        ] {
            assert!(Envelope::from_value(without(field)).is_ok(), "{field}");
        }
        let e = Envelope::from_value(with("headers", json!({}))).unwrap();
        assert_eq!(e.headers, Headers::default());
        // Missing padding: "aGk" is "hi".
        assert_eq!(
            Envelope::from_value(with("body", json!("aGk")))
                .unwrap()
                .body,
            b"hi"
        );
    }

    #[test]
    fn each_malformed_shape_names_its_field() {
        use EnvelopeError as E;
        let cases: Vec<(Value, E)> = vec![
            (json!([]), E::NotAnObject("an array")),
            (with("v", json!("2")), E::Version { shown: "2".into() }),
            (
                with("v", json!(1)),
                E::NotString {
                    field: "v".into(),
                    found: "a number",
                },
            ),
            (without("body"), E::Missing("body")),
            (
                with("body", Value::Null),
                E::NotString {
                    field: "body".into(),
                    found: "null",
                },
            ),
            (
                with("headers", Value::Null),
                E::NotAMap {
                    field: "headers",
                    found: "null",
                },
            ),
            (
                with("query", json!("BotId=1")),
                E::NotAMap {
                    field: "query",
                    found: "a string",
                },
            ),
            (
                with("headers", json!({"X-A": null})),
                E::NotString {
                    field: "headers[\"X-A\"]".into(),
                    found: "null",
                },
            ),
            (
                with("query", json!({"Index": 3})),
                E::NotString {
                    field: "query[\"Index\"]".into(),
                    found: "a number",
                },
            ),
            (without("domainName"), E::Missing("domainName")),
            (with("domainName", json!("")), E::Empty("domainName")),
            (without("path"), E::Missing("path")),
            (with("path", json!("")), E::Empty("path")),
            (
                with("requestId", json!(7)),
                E::NotString {
                    field: "requestId".into(),
                    found: "a number",
                },
            ),
            (
                with("stage", Value::Null),
                E::NotString {
                    field: "stage".into(),
                    found: "null",
                },
            ),
            (
                with("sourceIp", json!(true)),
                E::NotString {
                    field: "sourceIp".into(),
                    found: "a boolean",
                },
            ),
            (
                with("requestTimeEpoch", json!(1)),
                E::NotString {
                    field: "requestTimeEpoch".into(),
                    found: "a number",
                },
            ),
        ];
        for (value, expected) in cases {
            let got = Envelope::from_value(value.clone()).unwrap_err();
            assert_eq!(got, expected, "for {value}");
        }
        let err = Envelope::from_value(with("body", json!("not base64!"))).unwrap_err();
        assert!(matches!(err, E::Base64 { .. }), "{err}");
        assert!(err.to_string().contains("`body`"));
        assert!(matches!(Envelope::from_json(b"{"), Err(E::Json(_))));
    }

    #[test]
    fn errors_do_not_echo_huge_values() {
        let huge = "9".repeat(100_000);
        let err = Envelope::from_value(with("v", json!(huge))).unwrap_err();
        assert!(err.to_string().len() < 150, "{err}");
        let err = Envelope::from_value(with("headers", json!({ huge.clone(): 1 }))).unwrap_err();
        assert!(err.to_string().len() < 200, "{err}");
    }

    #[test]
    fn body_size_cap() {
        let at_cap = vec![b'a'; MAX_BODY_BYTES];
        let e = Envelope {
            body: at_cap,
            domain_name: "d".into(),
            path: "/p".into(),
            ..Default::default()
        };
        assert_eq!(
            Envelope::from_value(e.to_value()).unwrap().body.len(),
            MAX_BODY_BYTES
        );

        let over = Envelope {
            body: vec![b'a'; MAX_BODY_BYTES + 1],
            ..e.clone()
        };
        let err = Envelope::from_value(over.to_value()).unwrap_err();
        assert_eq!(
            err,
            EnvelopeError::TooLarge {
                size: MAX_BODY_BYTES + 1,
                limit: MAX_BODY_BYTES
            }
        );

        let way_over = "A".repeat(8 * MAX_BODY_BYTES);
        let err = Envelope::from_value(with("body", json!(way_over))).unwrap_err();
        assert!(matches!(err, EnvelopeError::TooLarge { .. }), "{err}");
    }

    #[test]
    fn to_value_is_the_wire_shape() {
        let e = Envelope::from_value(wire()).unwrap();
        let mut expected = without("requestTimeEpoch");
        expected["headers"] = json!({"Content-Type": "application/x-www-form-urlencoded", "X-Note": "café", "X-Twilio-Signature": "abc="});
        assert_eq!(e.to_value(), expected);
        let bare = Envelope {
            domain_name: "d".into(),
            path: "/p".into(),
            ..Default::default()
        };
        assert_eq!(
            bare.to_value(),
            json!({"v":"1","body":"","headers":{},"query":{},"domainName":"d","path":"/p","requestId":"","stage":"","sourceIp":""})
        );
    }

    fn envelope() -> impl Strategy<Value = Envelope> {
        let text = || any::<String>();
        let non_empty = || ".+";
        let opt = || proptest::option::of(".+");
        (
            proptest::collection::vec(any::<u8>(), 0..300),
            proptest::collection::btree_map(text(), text(), 0..5),
            proptest::collection::btree_map(text(), text(), 0..5),
            (non_empty(), non_empty(), text(), opt(), opt()),
        )
            .prop_map(
                |(body, headers, query, (domain_name, path, request_id, stage, source_ip))| {
                    Envelope {
                        body,
                        headers: Headers::new(headers.into_iter().collect()),
                        query,
                        domain_name,
                        path,
                        request_id,
                        stage,
                        source_ip,
                    }
                },
            )
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<f64>().prop_map(|f| json!(f)),
            any::<String>().prop_map(Value::String),
            "[A-Za-z0-9+/=]{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            let keys = prop_oneof![
                Just("v".to_string()),
                Just("body".to_string()),
                Just("headers".to_string()),
                Just("query".to_string()),
                Just("domainName".to_string()),
                Just("path".to_string()),
                Just("stage".to_string()),
                any::<String>(),
            ];
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::btree_map(keys, inner, 0..8)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn value_round_trip(e in envelope()) {
            prop_assert_eq!(Envelope::from_value(e.to_value()).unwrap(), e.clone());
            let text = serde_json::to_vec(&e.to_value()).unwrap();
            prop_assert_eq!(Envelope::from_json(&text).unwrap(), e);
        }

        #[test]
        fn from_json_never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = Envelope::from_json(&bytes);
        }

        #[test]
        fn from_value_never_panics_on_json(value in json_value()) {
            let text = serde_json::to_vec(&value).unwrap();
            let _ = Envelope::from_json(&text);
            let _ = Envelope::from_value(value);
        }
    }
}
