//! Lex V2 lists every slot an intent declares and writes `null` for those not yet filled
//! (`"slots":{"FlowerType":null,...}`), in `sessionState.intent` and in each interpretation.
//! `aws-sdk-lexruntimev2` models `slots` as a dense map and fails the whole response on a
//! `null` value ("dense map cannot contain null values"), so without help every slot-filling
//! turn would be an error.
//!
//! [`StripNullSlots`] is an SDK interceptor that, before deserialisation, rewrites successful
//! JSON responses with the `null` members of every object under a `slots` key removed (and
//! `null` items of lists there, which the SDK's dense lists refuse as well). An unfilled slot
//! then reads as absent, which is what the SDK can represent. Everything else in the body keeps
//! its JSON meaning; a body that is not JSON goes through untouched, for the SDK to report.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use aws_sdk_lexruntimev2::config::interceptors::BeforeDeserializationInterceptorContextMut;
use aws_sdk_lexruntimev2::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_lexruntimev2::error::BoxError;
use aws_smithy_types::body::SdkBody;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use serde_json::Value;

/// The key whose object holds the slots, at any depth (the intent's and each interpretation's).
const SLOTS_KEY: &str = "slots";

/// What [`strip_null_slots`] made of a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rewrite {
    /// No `null` under `slots`: the body goes on as it came.
    Unchanged,
    /// Not JSON: the body goes on as it came, and the SDK reports its own error.
    NotJson,
    /// The body with the `null` members under `slots` removed.
    Stripped(Vec<u8>),
}

impl Rewrite {
    /// The bytes to hand to the SDK in place of `original`.
    pub fn into_body(self, original: Bytes) -> Bytes {
        match self {
            Self::Unchanged | Self::NotJson => original,
            Self::Stripped(body) => Bytes::from(body),
        }
    }
}

/// Removes `"<key>": null` members from every object under a `slots` key (nested slots,
/// `subSlots`, the objects in `values` lists), and `null` items from lists there.
///
/// Parses only when the body mentions `null` at all, and serialises only when something was
/// removed, so an ordinary turn costs one scan and a slot-filling turn one parse and one write.
pub fn strip_null_slots(body: &[u8]) -> Rewrite {
    if !body.windows(4).any(|w| w == b"null") {
        return Rewrite::Unchanged;
    }
    let Ok(mut value) = serde_json::from_slice::<Value>(body) else {
        return Rewrite::NotJson;
    };
    if !strip(&mut value, false) {
        return Rewrite::Unchanged;
    }
    match serde_json::to_vec(&value) {
        Ok(stripped) => Rewrite::Stripped(stripped),
        Err(_) => Rewrite::NotJson,
    }
}

/// Strips `value` in place; `under_slots` once a `slots` key is above it. Returns whether
/// anything was removed.
fn strip(value: &mut Value, under_slots: bool) -> bool {
    match value {
        Value::Object(members) => {
            let before = members.len();
            if under_slots {
                members.retain(|_, member| !member.is_null());
            }
            let mut changed = members.len() != before;
            for (key, member) in members.iter_mut() {
                changed |= strip(member, under_slots || key == SLOTS_KEY);
            }
            changed
        }
        Value::Array(items) => {
            let before = items.len();
            if under_slots {
                items.retain(|item| !item.is_null());
            }
            let mut changed = items.len() != before;
            for item in items.iter_mut() {
                changed |= strip(item, under_slots);
            }
            changed
        }
        _ => false,
    }
}

/// The interceptor to register on every Lex client (`Config::builder().interceptor(..)`).
#[derive(Debug, Clone, Copy, Default)]
pub struct StripNullSlots;

impl Intercept for StripNullSlots {
    fn name(&self) -> &'static str {
        "StripNullSlots"
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let response = context.response_mut();
        if !rewrites(
            response.status().as_u16(),
            response.headers().get("content-type"),
        ) {
            return Ok(());
        }
        let body = std::mem::replace(response.body_mut(), SdkBody::taken());
        *response.body_mut() = match body.bytes() {
            Some(bytes) => {
                let original = Bytes::copy_from_slice(bytes);
                SdkBody::from(strip_null_slots(bytes).into_body(original))
            }
            None => SdkBody::from_body_1_x(StrippedBody::new(body)),
        };
        Ok(())
    }
}

/// Only successful JSON responses carry slots; error bodies go to the SDK as they came.
/// A missing `Content-Type` counts as JSON, since the SDK parses the body as JSON regardless.
fn rewrites(status: u16, content_type: Option<&str>) -> bool {
    let json = content_type.is_none_or(|ct| {
        let media = ct.split(';').next().unwrap_or_default().trim();
        media.eq_ignore_ascii_case("application/json")
            || media.to_ascii_lowercase().ends_with("+json")
            || media
                .to_ascii_lowercase()
                .starts_with("application/x-amz-json")
    });
    (200..300).contains(&status) && json
}

/// A response body read to its end, then given out stripped as one frame (trailers, if any,
/// after it). The SDK reads non-streaming responses whole anyway, so nothing is lost by waiting.
struct StrippedBody {
    stage: Stage,
}

enum Stage {
    Reading {
        inner: SdkBody,
        buffer: Vec<u8>,
        trailers: Option<Frame<Bytes>>,
    },
    Emitting {
        data: Option<Bytes>,
        trailers: Option<Frame<Bytes>>,
    },
}

impl StrippedBody {
    fn new(inner: SdkBody) -> Self {
        Self {
            stage: Stage::Reading {
                inner,
                buffer: Vec::new(),
                trailers: None,
            },
        }
    }
}

impl Body for StrippedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        loop {
            match &mut this.stage {
                Stage::Reading {
                    inner,
                    buffer,
                    trailers,
                } => match ready!(Pin::new(inner).poll_frame(cx)) {
                    Some(Ok(frame)) => match frame.into_data() {
                        Ok(data) => buffer.extend_from_slice(&data),
                        Err(other) => *trailers = Some(other),
                    },
                    Some(Err(error)) => {
                        this.stage = Stage::Emitting {
                            data: None,
                            trailers: None,
                        };
                        return Poll::Ready(Some(Err(error)));
                    }
                    None => {
                        let original = Bytes::from(std::mem::take(buffer));
                        let data = strip_null_slots(&original).into_body(original);
                        this.stage = Stage::Emitting {
                            data: Some(data).filter(|d| !d.is_empty()),
                            trailers: trailers.take(),
                        };
                    }
                },
                Stage::Emitting { data, trailers } => {
                    if let Some(data) = data.take() {
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                    return Poll::Ready(trailers.take().map(Ok));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(
            self.stage,
            Stage::Emitting {
                data: None,
                trailers: None
            }
        )
    }

    fn size_hint(&self) -> SizeHint {
        match &self.stage {
            Stage::Emitting { data, .. } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
            Stage::Reading { .. } => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stripped(body: &Value) -> Value {
        let bytes = serde_json::to_vec(body).unwrap();
        match strip_null_slots(&bytes) {
            Rewrite::Stripped(out) => serde_json::from_slice(&out).unwrap(),
            other => panic!("expected a rewrite, got {other:?}"),
        }
    }

    #[test]
    fn null_slots_are_removed_from_the_intent_and_interpretations() {
        let body = json!({
            "sessionState": {
                "intent": {
                    "name": "OrderFlowers",
                    "slots": {"FlowerType": {"value": {"interpretedValue": "roses"}}, "PickupDate": null, "PickupTime": null},
                    "state": "InProgress",
                    "confirmationState": "None"
                },
                "sessionAttributes": {"keep": "me"}
            },
            "interpretations": [
                {"intent": {"name": "OrderFlowers", "slots": {"FlowerType": null}}, "nluConfidence": {"score": 0.95}},
                {"intent": {"name": "FallbackIntent", "slots": {}}}
            ]
        });
        let out = stripped(&body);
        assert_eq!(
            out["sessionState"]["intent"]["slots"],
            json!({"FlowerType": {"value": {"interpretedValue": "roses"}}})
        );
        assert_eq!(out["interpretations"][0]["intent"]["slots"], json!({}));
        assert_eq!(out["interpretations"][0]["nluConfidence"]["score"], 0.95);
        let mut expected = body.clone();
        expected["sessionState"]["intent"]["slots"] =
            json!({"FlowerType": {"value": {"interpretedValue": "roses"}}});
        expected["interpretations"][0]["intent"]["slots"] = json!({});
        assert_eq!(out, expected, "nothing else changes");
    }

    #[test]
    fn sub_slots_and_values_lists_are_stripped_at_any_depth() {
        let body = json!({"intent": {"slots": {
            "Address": {"subSlots": {"Street": {"value": {"originalValue": "Main St", "resolvedValues": []}}, "City": null}},
            "Toppings": {"values": [{"value": {"interpretedValue": "ham"}, "shape": null}, null], "shape": "List"},
            "Empty": null
        }}});
        let out = stripped(&body);
        assert_eq!(
            out,
            json!({"intent": {"slots": {
                "Address": {"subSlots": {"Street": {"value": {"originalValue": "Main St", "resolvedValues": []}}}},
                "Toppings": {"values": [{"value": {"interpretedValue": "ham"}}], "shape": "List"}
            }}})
        );
    }

    #[test]
    fn nulls_outside_slots_are_kept() {
        let body = br#"{"messages":null,"sessionState":{"intent":{"name":"Agent","slots":{}},"dialogAction":{"slotToElicit":null}}}"#;
        assert_eq!(strip_null_slots(body), Rewrite::Unchanged);
        let with_slots = json!({"messages": null, "x": {"slots": {"A": null}, "y": null}});
        assert_eq!(
            stripped(&with_slots),
            json!({"messages": null, "x": {"slots": {}, "y": null}})
        );
    }

    #[test]
    fn bodies_without_slots_or_nulls_are_unchanged() {
        assert_eq!(
            strip_null_slots(br#"{"messages":[{"content":"hi"}]}"#),
            Rewrite::Unchanged
        );
        assert_eq!(
            strip_null_slots(br#"{"slots":{"A":{"value":{"interpretedValue":"nullable"}}}}"#),
            Rewrite::Unchanged
        );
        assert_eq!(strip_null_slots(br#"{"slots":null}"#), Rewrite::Unchanged);
    }

    #[test]
    fn invalid_and_empty_bodies_pass_through() {
        assert_eq!(strip_null_slots(br#"{"slots":{"A":null"#), Rewrite::NotJson);
        assert_eq!(strip_null_slots(b"<html>null</html>"), Rewrite::NotJson);
        assert_eq!(strip_null_slots(b""), Rewrite::Unchanged);
        let original = Bytes::from_static(b"{\"slots\":{\"A\":null");
        assert_eq!(
            strip_null_slots(&original).into_body(original.clone()),
            original
        );
    }

    #[test]
    fn floats_survive_the_round_trip_exactly() {
        let body = br#"{"interpretations":[{"nluConfidence":{"score":0.8700000000000001}}],"slots":{"A":null}}"#;
        let Rewrite::Stripped(out) = strip_null_slots(body) else {
            panic!("expected a rewrite")
        };
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("0.8700000000000001"), "{text}");
    }

    #[test]
    fn only_successful_json_responses_are_rewritten() {
        assert!(rewrites(200, Some("application/json")));
        assert!(rewrites(200, Some("application/json; charset=utf-8")));
        assert!(rewrites(200, None));
        assert!(!rewrites(200, Some("text/html")));
        assert!(!rewrites(400, Some("application/json")));
        assert!(!rewrites(500, None));
        assert!(!rewrites(302, Some("application/json")));
    }

    /// A streaming body that gives out `chunks` one frame at a time.
    fn streaming(chunks: &[&'static str]) -> SdkBody {
        let frames: Vec<Result<Frame<Bytes>, BoxError>> = chunks
            .iter()
            .map(|c| Ok(Frame::data(Bytes::from_static(c.as_bytes()))))
            .collect();
        SdkBody::from_body_1_x(frames_body(frames))
    }

    /// A minimal body over prepared frames, so the test needs no extra crate.
    fn frames_body(frames: Vec<Result<Frame<Bytes>, BoxError>>) -> FramesBody {
        FramesBody {
            frames: frames.into(),
        }
    }

    struct FramesBody {
        frames: std::collections::VecDeque<Result<Frame<Bytes>, BoxError>>,
    }

    impl Body for FramesBody {
        type Data = Bytes;
        type Error = BoxError;

        fn poll_frame(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
            Poll::Ready(self.get_mut().frames.pop_front())
        }
    }

    async fn read_all(mut body: StrippedBody) -> Result<Vec<u8>, BoxError> {
        let mut out = Vec::new();
        while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
        {
            if let Ok(data) = frame?.into_data() {
                out.extend_from_slice(&data);
            }
        }
        assert!(body.is_end_stream());
        Ok(out)
    }

    #[tokio::test]
    async fn a_body_split_over_frames_is_stripped_once_read_whole() {
        let body = StrippedBody::new(streaming(&[
            r#"{"sessionState":{"intent":{"slots":{"A":nu"#,
            r#"ll,"B":{"value":{"interpretedValue":"b"}}}}}}"#,
        ]));
        let out: Value = serde_json::from_slice(&read_all(body).await.unwrap()).unwrap();
        assert_eq!(
            out,
            serde_json::json!({"sessionState":{"intent":{"slots":{"B":{"value":{"interpretedValue":"b"}}}}}})
        );
    }

    #[tokio::test]
    async fn a_failing_stream_reports_its_error_and_an_empty_one_stays_empty() {
        let failing = SdkBody::from_body_1_x(frames_body(vec![
            Ok(Frame::data(Bytes::from_static(b"{\"slots\":"))),
            Err("connection reset".into()),
        ]));
        let error = read_all(StrippedBody::new(failing)).await.unwrap_err();
        assert_eq!(error.to_string(), "connection reset");
        let empty = StrippedBody::new(streaming(&[]));
        assert!(read_all(empty).await.unwrap().is_empty());
    }
}
