//! A typed view of a Conversations webhook over the raw form params.
//!
//! Only `onMessageAdded` is read in detail; every other event is reported by name so the
//! handler can skip it. Unknown params are ignored here; they stay in [`FormParams`], where the
//! signature needs them.

use serde_json::{Map, Value};

use crate::domain::ids::{AccountSid, ConversationSid, MessageSid, ParticipantSid, WebhookSid};
use crate::domain::message::{Media, MessageAdded};
use crate::intake::form::FormParams;

/// The event this crate acts on.
pub const MESSAGE_ADDED: &str = "onMessageAdded";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("webhook parameter `{0}` is missing")]
    Missing(&'static str),
    #[error("webhook parameter `{field}` is invalid: {reason}")]
    Invalid { field: &'static str, reason: String },
}

#[derive(Debug, Clone, PartialEq)]
pub enum WebhookEvent {
    MessageAdded(Box<MessageAdded>),
    Other { event_type: String },
}

impl WebhookEvent {
    pub fn from_params(params: &FormParams) -> Result<Self, WebhookError> {
        let event_type = required(params, "EventType")?;
        if event_type != MESSAGE_ADDED {
            return Ok(Self::Other {
                event_type: event_type.to_owned(),
            });
        }
        let message = MessageAdded {
            account: sid(params, "AccountSid", AccountSid::parse)?,
            conversation: sid(params, "ConversationSid", ConversationSid::parse)?,
            message: sid(params, "MessageSid", MessageSid::parse)?,
            author: params
                .get("Author")
                .ok_or(WebhookError::Missing("Author"))?
                .to_owned(),
            body: params.get("Body").unwrap_or_default().to_owned(),
            participant: optional_sid(params, "ParticipantSid", ParticipantSid::parse)?,
            webhook: optional_sid(params, "WebhookSid", WebhookSid::parse)?,
            source: present(params, "Source").map(str::to_owned),
            client_identity: present(params, "ClientIdentity").map(str::to_owned),
            media: present(params, "Media")
                .map(parse_media)
                .transpose()?
                .unwrap_or_default(),
            index: present(params, "Index").map(parse_index).transpose()?,
            attributes: present(params, "Attributes")
                .and_then(|raw| serde_json::from_str(raw).ok())
                .unwrap_or_else(|| Value::Object(Map::new())),
        };
        Ok(Self::MessageAdded(Box::new(message)))
    }
}

/// A param that is present and non-empty.
pub(crate) fn present<'a>(params: &'a FormParams, field: &'static str) -> Option<&'a str> {
    params.get(field).filter(|v| !v.is_empty())
}

pub(crate) fn required<'a>(
    params: &'a FormParams,
    field: &'static str,
) -> Result<&'a str, WebhookError> {
    present(params, field).ok_or(WebhookError::Missing(field))
}

fn invalid(field: &'static str, reason: impl ToString) -> WebhookError {
    WebhookError::Invalid {
        field,
        reason: reason.to_string(),
    }
}

pub(crate) fn sid<T, E: ToString>(
    params: &FormParams,
    field: &'static str,
    parse: fn(&str) -> Result<T, E>,
) -> Result<T, WebhookError> {
    parse(required(params, field)?).map_err(|e| invalid(field, e))
}

pub(crate) fn optional_sid<T, E: ToString>(
    params: &FormParams,
    field: &'static str,
    parse: fn(&str) -> Result<T, E>,
) -> Result<Option<T>, WebhookError> {
    present(params, field)
        .map(|raw| parse(raw).map_err(|e| invalid(field, e)))
        .transpose()
}

fn parse_index(raw: &str) -> Result<u64, WebhookError> {
    raw.parse()
        .map_err(|_| invalid("Index", "must be a non-negative integer"))
}

/// `Media` is a JSON array of objects; Twilio capitalises the keys, other producers do not,
/// so both spellings are read. `null` means no media.
fn parse_media(raw: &str) -> Result<Vec<Media>, WebhookError> {
    let value: Value =
        serde_json::from_str(raw).map_err(|e| invalid("Media", format!("not JSON: {e}")))?;
    let items = match value {
        Value::Null => return Ok(Vec::new()),
        Value::Array(items) => items,
        _ => return Err(invalid("Media", "must be a JSON array")),
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let Value::Object(obj) = item else {
                return Err(invalid("Media", format!("item {i} must be an object")));
            };
            Ok(Media {
                sid: text(obj, &["Sid", "sid", "MediaSid", "media_sid"], i)?,
                content_type: text(obj, &["ContentType", "content_type", "contentType"], i)?,
                filename: text(obj, &["Filename", "filename", "FileName"], i)?,
                size: size(obj, i)?,
            })
        })
        .collect()
}

fn first<'a>(obj: &'a Map<String, Value>, keys: &[&str]) -> Option<(&'a Value, String)> {
    keys.iter().find_map(|k| {
        obj.get(*k)
            .filter(|v| !v.is_null())
            .map(|v| (v, (*k).to_owned()))
    })
}

fn text(obj: &Map<String, Value>, keys: &[&str], i: usize) -> Result<Option<String>, WebhookError> {
    match first(obj, keys) {
        None => Ok(None),
        Some((Value::String(s), _)) => Ok(Some(s.clone())),
        Some((_, key)) => Err(invalid(
            "Media",
            format!("item {i}: `{key}` must be a string"),
        )),
    }
}

fn size(obj: &Map<String, Value>, i: usize) -> Result<Option<u64>, WebhookError> {
    let parsed = match first(obj, &["Size", "size"]) {
        None => return Ok(None),
        Some((Value::Number(n), key)) => (n.as_u64(), key),
        Some((Value::String(s), key)) => (s.parse().ok(), key),
        Some((_, key)) => (None, key),
    };
    match parsed {
        (Some(n), _) => Ok(Some(n)),
        (None, key) => Err(invalid(
            "Media",
            format!("item {i}: `{key}` must be a non-negative integer"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const AC: &str = "AC0123456789abcdef0123456789abcdef";
    const CH: &str = "CH0123456789abcdef0123456789abcdef";
    const IM: &str = "IM0123456789abcdef0123456789abcdef";
    const MB: &str = "MB0123456789abcdef0123456789abcdef";
    const WH: &str = "WH0123456789abcdef0123456789abcdef";

    fn form(list: &[(&str, &str)]) -> FormParams {
        FormParams::from_pairs(
            list.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    fn message(params: &FormParams) -> MessageAdded {
        match WebhookEvent::from_params(params) {
            Ok(WebhookEvent::MessageAdded(m)) => *m,
            other => panic!("expected a message, got {other:?}"),
        }
    }

    fn base(extra: &[(&str, &str)]) -> FormParams {
        let mut list = vec![
            ("EventType", "onMessageAdded"),
            ("AccountSid", AC),
            ("ConversationSid", CH),
            ("MessageSid", IM),
            ("Author", "+15551234567"),
        ];
        list.extend_from_slice(extra);
        form(&list)
    }

    #[test]
    fn webchat_message() {
        let body = format!(
            "AccountSid={AC}&Attributes=%7B%22source%22%3A%22webchat%22%7D&Author=a1b2c3d4-e5f6&Body=I+want+flowers\
             &ClientIdentity=a1b2c3d4-e5f6&ConversationSid={CH}&DateCreated=2024-05-01T10%3A00%3A00.000Z\
             &EventType=onMessageAdded&Index=0&MessageSid={IM}&MessagingServiceSid=MG0123456789abcdef0123456789abcdef\
             &ParticipantSid={MB}&RetryCount=0&Source=SDK&WebhookSid={WH}&WebhookType=webhook"
        );
        let m = message(&FormParams::parse(body.as_bytes()).unwrap());
        assert_eq!(m.account.as_str(), AC);
        assert_eq!(m.conversation.as_str(), CH);
        assert_eq!(m.message.as_str(), IM);
        assert_eq!(m.author, "a1b2c3d4-e5f6");
        assert_eq!(m.body, "I want flowers");
        assert_eq!(m.participant.as_ref().map(|p| p.as_str()), Some(MB));
        assert_eq!(m.webhook.as_ref().map(|w| w.as_str()), Some(WH));
        assert_eq!(m.source.as_deref(), Some("SDK"));
        assert_eq!(m.client_identity.as_deref(), Some("a1b2c3d4-e5f6"));
        assert_eq!(m.index, Some(0));
        assert_eq!(m.attributes, json!({"source": "webchat"}));
        assert!(m.media.is_empty());
    }

    #[test]
    fn sms_message() {
        let m = message(&base(&[
            ("Body", "Hi there"),
            ("Source", "SMS"),
            ("Index", "3"),
            ("Attributes", "{}"),
        ]));
        assert_eq!(m.author, "+15551234567");
        assert_eq!(m.body, "Hi there");
        assert_eq!(m.source.as_deref(), Some("SMS"));
        assert_eq!(m.client_identity, None);
        assert_eq!(m.participant, None);
        assert_eq!(m.webhook, None);
        assert_eq!(m.index, Some(3));
    }

    #[test]
    fn whatsapp_message() {
        let m = message(&form(&[
            ("EventType", "onMessageAdded"),
            ("AccountSid", AC),
            ("ConversationSid", CH),
            ("MessageSid", IM),
            ("Author", "whatsapp:+447700900123"),
            ("Body", "Hola 👋"),
            ("Source", "WHATSAPP"),
            ("ParticipantSid", MB),
            ("WebhookSid", WH),
        ]));
        assert_eq!(m.author, "whatsapp:+447700900123");
        assert_eq!(m.body, "Hola 👋");
    }

    #[test]
    fn media_only_message() {
        let media = r#"[{"Sid":"ME0123","ContentType":"image/jpeg","Filename":"cat.jpg","Size":1234},
                        {"sid":"ME4567","content_type":"application/pdf","filename":"a.pdf","size":"99"},
                        {}]"#;
        let m = message(&base(&[("Media", media)]));
        assert_eq!(m.body, "");
        assert_eq!(
            m.media,
            vec![
                Media {
                    sid: Some("ME0123".into()),
                    content_type: Some("image/jpeg".into()),
                    filename: Some("cat.jpg".into()),
                    size: Some(1234)
                },
                Media {
                    sid: Some("ME4567".into()),
                    content_type: Some("application/pdf".into()),
                    filename: Some("a.pdf".into()),
                    size: Some(99)
                },
                Media::default(),
            ]
        );
        assert!(message(&base(&[("Media", "null")])).media.is_empty());
        assert!(message(&base(&[("Media", "")])).media.is_empty());
    }

    #[test]
    fn invalid_media_is_refused() {
        for bad in [
            "[",
            "{}",
            "[1]",
            r#"[{"Sid":5}]"#,
            r#"[{"Size":-1}]"#,
            r#"[{"size":"big"}]"#,
        ] {
            let err = WebhookEvent::from_params(&base(&[("Media", bad)])).unwrap_err();
            assert!(
                matches!(err, WebhookError::Invalid { field: "Media", .. }),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn attributes_fall_back_to_empty_object() {
        for raw in ["", "not json", "{"] {
            assert_eq!(
                message(&base(&[("Attributes", raw)])).attributes,
                json!({}),
                "{raw:?}"
            );
        }
        assert_eq!(message(&base(&[])).attributes, json!({}));
        assert_eq!(
            message(&base(&[("Attributes", r#"{"a":[1]}"#)])).attributes,
            json!({"a":[1]})
        );
    }

    #[test]
    fn other_events() {
        let e = WebhookEvent::from_params(&form(&[
            ("EventType", "onParticipantAdded"),
            ("AccountSid", AC),
        ]))
        .unwrap();
        assert_eq!(
            e,
            WebhookEvent::Other {
                event_type: "onParticipantAdded".into()
            }
        );
        // Other events are not required to carry message fields.
        let e = WebhookEvent::from_params(&form(&[("EventType", "onConversationStateUpdated")]))
            .unwrap();
        assert!(matches!(e, WebhookEvent::Other { .. }));
    }

    #[test]
    fn missing_fields() {
        assert_eq!(
            WebhookEvent::from_params(&form(&[])),
            Err(WebhookError::Missing("EventType"))
        );
        assert_eq!(
            WebhookEvent::from_params(&form(&[("EventType", "")])),
            Err(WebhookError::Missing("EventType"))
        );
        for field in ["AccountSid", "ConversationSid", "MessageSid", "Author"] {
            let pairs: Vec<(String, String)> = base(&[])
                .pairs()
                .iter()
                .filter(|(k, _)| k != field)
                .cloned()
                .collect();
            assert_eq!(
                WebhookEvent::from_params(&FormParams::from_pairs(pairs)),
                Err(WebhookError::Missing(field))
            );
        }
        assert_eq!(message(&base(&[])).body, "");
    }

    #[test]
    fn empty_author_is_kept() {
        let pairs = form(&[
            ("EventType", "onMessageAdded"),
            ("AccountSid", AC),
            ("ConversationSid", CH),
            ("MessageSid", IM),
            ("Author", ""),
        ]);
        assert_eq!(message(&pairs).author, "");
    }

    #[test]
    fn invalid_sids() {
        let cases = [
            ("AccountSid", "CH0123456789abcdef0123456789abcdef"),
            ("ConversationSid", "CH123"),
            ("MessageSid", "IM0123456789abcdef0123456789abcdeZ"),
        ];
        for (field, bad) in cases {
            let pairs: Vec<(String, String)> = base(&[])
                .pairs()
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        if k == field {
                            bad.to_string()
                        } else {
                            v.clone()
                        },
                    )
                })
                .collect();
            let err = WebhookEvent::from_params(&FormParams::from_pairs(pairs)).unwrap_err();
            let WebhookError::Invalid { field: got, reason } = &err else {
                panic!("{err}")
            };
            assert_eq!(*got, field);
            assert!(reason.contains("is invalid"), "{reason}");
        }
        for (field, bad) in [("ParticipantSid", "MB1"), ("WebhookSid", MB)] {
            let err = WebhookEvent::from_params(&base(&[(field, bad)])).unwrap_err();
            assert!(
                matches!(err, WebhookError::Invalid { field: f, .. } if f == field),
                "{err}"
            );
        }
        // Present but empty optional SIDs mean "not given".
        let m = message(&base(&[("ParticipantSid", ""), ("WebhookSid", "")]));
        assert_eq!((m.participant, m.webhook), (None, None));
    }

    #[test]
    fn invalid_index() {
        for bad in ["-1", "x", "1.5"] {
            let err = WebhookEvent::from_params(&base(&[("Index", bad)])).unwrap_err();
            assert!(
                matches!(err, WebhookError::Invalid { field: "Index", .. }),
                "{bad}"
            );
        }
    }
}
