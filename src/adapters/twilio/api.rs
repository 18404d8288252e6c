//! The JSON Twilio answers with, read leniently: every field is optional, unknown fields are
//! ignored, and only what the bridge uses is mapped to domain types.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::domain::customer::{ConversationInfo, MessagingBinding, Participant};
use crate::domain::ids::{
    ContentSid, InteractionChannelSid, InteractionSid, MessageSid, ParticipantSid, WebhookSid,
};
use crate::ports::conversations::{PostedMessage, ReplyTag, ScopedWebhook};

/// Twilio's exception body: `{"code", "message", "more_info", "status"}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ErrorBody {
    #[serde(default)]
    pub code: Option<u32>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub more_info: Option<String>,
    #[serde(default)]
    pub status: Option<u16>,
}

/// How much of Twilio's error message is kept, so one odd answer cannot flood a log line.
const MESSAGE_LIMIT: usize = 300;

impl ErrorBody {
    /// Any body: JSON in Twilio's shape, or nothing useful (a proxy's HTML page, an empty body).
    pub fn parse(body: &[u8]) -> Self {
        let mut parsed: Self = serde_json::from_slice(body).unwrap_or_default();
        if let Some(message) = &mut parsed.message
            && message.chars().count() > MESSAGE_LIMIT
        {
            *message = message.chars().take(MESSAGE_LIMIT).collect::<String>() + "…";
        }
        parsed
    }

    /// The message, or a stand-in when Twilio gave none.
    pub fn message_or(&self, status: u16) -> String {
        self.message
            .clone()
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| format!("HTTP {status} without a Twilio error message"))
    }
}

/// `GET /v1/Conversations/{Sid}`.
#[derive(Debug, Deserialize)]
pub struct ConversationResource {
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub friendly_name: Option<String>,
    #[serde(default)]
    pub attributes: Option<String>,
}

impl From<ConversationResource> for ConversationInfo {
    fn from(c: ConversationResource) -> Self {
        Self {
            state: c.state,
            friendly_name: c.friendly_name,
            attributes: parse_attributes(c.attributes.as_deref()),
        }
    }
}

/// One page of `GET /v1/Conversations/{Sid}/Participants`.
#[derive(Debug, Deserialize)]
pub struct ParticipantPage {
    #[serde(default)]
    pub participants: Vec<ParticipantResource>,
    #[serde(default)]
    pub meta: Option<PageMeta>,
}

/// One page of `GET /v1/Conversations/{Sid}/Messages`.
#[derive(Debug, Deserialize)]
pub struct MessagePage {
    #[serde(default)]
    pub messages: Vec<MessageResource>,
    #[serde(default)]
    pub meta: Option<PageMeta>,
}

#[derive(Debug, Deserialize)]
pub struct MessageResource {
    pub index: u64,
    #[serde(default)]
    pub sid: Option<String>,
    #[serde(default)]
    pub author: Option<String>,
    #[serde(default)]
    pub body: Option<String>,
    /// A JSON document in a string, as Twilio returns it.
    #[serde(default)]
    pub attributes: Option<String>,
    #[serde(default)]
    pub participant_sid: Option<String>,
    #[serde(default)]
    pub date_created: Option<String>,
    /// `null`, or the media items.
    #[serde(default)]
    pub media: Option<Vec<Value>>,
}

/// What `POST …/Messages` answers: only the Index is used.
#[derive(Debug, Deserialize)]
pub struct CreatedMessage {
    pub index: u64,
}

impl From<MessageResource> for PostedMessage {
    fn from(m: MessageResource) -> Self {
        let attributes: Value = m
            .attributes
            .as_deref()
            .and_then(|a| serde_json::from_str(a).ok())
            .filter(Value::is_object)
            .unwrap_or_else(|| Value::Object(Map::new()));
        Self {
            sid: m.sid.as_deref().and_then(|s| MessageSid::parse(s).ok()),
            index: m.index,
            author: m.author.unwrap_or_default(),
            body: m.body.unwrap_or_default(),
            participant: m
                .participant_sid
                .as_deref()
                .and_then(|s| ParticipantSid::parse(s).ok()),
            created: m.date_created.as_deref().and_then(epoch_secs_of),
            has_media: m.media.is_some_and(|media| !media.is_empty()),
            reply_to: ReplyTag::from_attributes(&attributes),
            attributes,
        }
    }
}

/// Epoch seconds of a Twilio date (`2020-07-01T22:18:37Z`, RFC 3339 in UTC), or `None`.
pub fn epoch_secs_of(raw: &str) -> Option<u64> {
    let raw = raw.strip_suffix('Z')?;
    let (date, time) = raw.split_once('T')?;
    let mut date = date.split('-').map(str::parse::<i64>);
    let (year, month, day) = (date.next()?.ok()?, date.next()?.ok()?, date.next()?.ok()?);
    // Fractions of a second, when present, do not matter here.
    let time = time.split('.').next()?;
    let mut time = time.split(':').map(str::parse::<u64>);
    let (h, m, s) = (time.next()?.ok()?, time.next()?.ok()?, time.next()?.ok()?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm), from 1970-01-01.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days)
        .ok()
        .map(|days| days * 86_400 + h * 3600 + m * 60 + s)
}

#[derive(Debug, Deserialize)]
pub struct PageMeta {
    #[serde(default)]
    pub next_page_url: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct ParticipantResource {
    #[serde(default)]
    pub sid: Option<String>,
    #[serde(default)]
    pub identity: Option<String>,
    #[serde(default)]
    pub attributes: Option<String>,
    #[serde(default)]
    pub messaging_binding: Option<BindingResource>,
}

#[derive(Debug, Deserialize)]
pub struct BindingResource {
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub proxy_address: Option<String>,
}

impl From<ParticipantResource> for Participant {
    fn from(p: ParticipantResource) -> Self {
        Self {
            sid: p.sid.as_deref().and_then(|s| ParticipantSid::parse(s).ok()),
            identity: p.identity,
            binding: p.messaging_binding.map(|b| MessagingBinding {
                kind: b.kind,
                address: b.address,
                proxy_address: b.proxy_address,
            }),
            attributes: parse_attributes(p.attributes.as_deref()),
        }
    }
}

/// `POST /v1/Interactions`: only the SID matters to the bridge.
#[derive(Debug, Deserialize)]
pub struct InteractionResource {
    #[serde(default)]
    pub sid: Option<String>,
    /// The interaction's channel, as created.
    #[serde(default)]
    pub channel: Option<Value>,
}

impl InteractionResource {
    pub fn interaction_sid(&self) -> Result<InteractionSid, String> {
        let raw = self.sid.as_deref().ok_or("no `sid` in the Interaction")?;
        InteractionSid::parse(raw).map_err(|e| e.to_string())
    }

    /// `channel.sid`, when it is there and reads as one.
    pub fn channel_sid(&self) -> Option<InteractionChannelSid> {
        let raw = self.channel.as_ref()?.get("sid")?.as_str()?;
        InteractionChannelSid::parse(raw).ok()
    }
}

/// `GET /v1/Interactions/{KD}/Channels/{UO}`: only the status matters to the bridge.
#[derive(Debug, Deserialize)]
pub struct ChannelResource {
    #[serde(default)]
    pub status: Option<String>,
}

/// `GET /v1/Interactions/{KD}/Channels/{UO}/Participants`.
#[derive(Debug, Deserialize)]
pub struct ChannelParticipantPage {
    #[serde(default)]
    pub participants: Vec<ChannelParticipantResource>,
}

#[derive(Debug, Deserialize)]
pub struct ChannelParticipantResource {
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
}

/// `POST https://content.twilio.com/v1/Content`: only the SID matters to the bridge.
#[derive(Debug, Deserialize)]
pub struct ContentResource {
    #[serde(default)]
    pub sid: Option<String>,
}

impl ContentResource {
    pub fn content_sid(&self) -> Result<ContentSid, String> {
        let raw = self.sid.as_deref().ok_or("no `sid` in the Content")?;
        ContentSid::parse(raw).map_err(|e| e.to_string())
    }
}

/// `GET /v1/Conversations/{Sid}/Webhooks` (one page: a conversation has at most five).
#[derive(Debug, Deserialize)]
pub struct WebhookPage {
    #[serde(default)]
    pub webhooks: Vec<WebhookResource>,
}

/// A conversation-scoped webhook; `configuration` depends on the target.
#[derive(Debug, Deserialize)]
pub struct WebhookResource {
    #[serde(default)]
    pub sid: Option<String>,
    #[serde(default)]
    pub target: Option<String>,
    #[serde(default)]
    pub configuration: Option<WebhookConfiguration>,
}

#[derive(Debug, Default, Deserialize)]
pub struct WebhookConfiguration {
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub filters: Option<Vec<String>>,
    #[serde(default)]
    pub flow_sid: Option<String>,
}

impl WebhookResource {
    pub fn webhook_sid(&self) -> Result<WebhookSid, String> {
        let raw = self.sid.as_deref().ok_or("no `sid` in the webhook")?;
        WebhookSid::parse(raw).map_err(|e| e.to_string())
    }
}

impl From<WebhookResource> for ScopedWebhook {
    fn from(w: WebhookResource) -> Self {
        let configuration = w.configuration.unwrap_or_default();
        Self {
            sid: w.sid.as_deref().and_then(|s| WebhookSid::parse(s).ok()),
            target: w.target.unwrap_or_default(),
            url: configuration.url,
            method: configuration.method,
            filters: configuration.filters.unwrap_or_default(),
            flow_sid: configuration.flow_sid,
        }
    }
}

/// Twilio keeps attributes as a JSON string; absent or unparsable means no attributes.
pub fn parse_attributes(raw: Option<&str>) -> Value {
    raw.and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_else(|| Value::Object(Map::new()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn error_body_is_read_leniently() {
        let full = br#"{"code": 20404, "message": "not found", "more_info": "https://www.twilio.com/docs/errors/20404", "status": 404, "detail": ""}"#;
        let e = ErrorBody::parse(full);
        assert_eq!(e.code, Some(20404));
        assert_eq!(e.status, Some(404));
        assert_eq!(e.message_or(404), "not found");
        let html = ErrorBody::parse(b"<html>bad gateway</html>");
        assert_eq!(html, ErrorBody::default());
        assert!(html.message_or(502).contains("502"));
        let long = format!(r#"{{"message": "{}"}}"#, "x".repeat(1000));
        assert!(
            ErrorBody::parse(long.as_bytes())
                .message_or(400)
                .chars()
                .count()
                <= MESSAGE_LIMIT + 1
        );
    }

    #[test]
    fn attributes_strings_become_values() {
        assert_eq!(parse_attributes(Some(r#"{"a":1}"#)), json!({"a": 1}));
        assert_eq!(parse_attributes(Some("not json")), json!({}));
        assert_eq!(parse_attributes(None), json!({}));
    }

    #[test]
    fn scoped_webhooks_map_to_domain_whatever_their_target() {
        let page: WebhookPage = serde_json::from_value(json!({
            "meta": {"key": "webhooks", "next_page_url": null},
            "webhooks": [
                {
                    "sid": "WH0123456789abcdef0123456789abcdef",
                    "target": "studio",
                    "configuration": {"flow_sid": "FW0123456789abcdef0123456789abcdef"}
                },
                {
                    "sid": "WH1123456789abcdef0123456789abcdef",
                    "target": "webhook",
                    "configuration": {"url": "https://x.example/w", "method": "post", "filters": ["onMessageAdded"]}
                },
                {"sid": "not-a-sid", "target": "trigger", "configuration": null}
            ]
        }))
        .unwrap();
        let hooks: Vec<ScopedWebhook> = page.webhooks.into_iter().map(Into::into).collect();
        assert_eq!(
            hooks,
            vec![
                ScopedWebhook {
                    sid: Some(WebhookSid::parse("WH0123456789abcdef0123456789abcdef").unwrap()),
                    target: "studio".into(),
                    flow_sid: Some("FW0123456789abcdef0123456789abcdef".into()),
                    ..ScopedWebhook::default()
                },
                ScopedWebhook {
                    sid: Some(WebhookSid::parse("WH1123456789abcdef0123456789abcdef").unwrap()),
                    target: "webhook".into(),
                    url: Some("https://x.example/w".into()),
                    method: Some("post".into()),
                    filters: vec!["onMessageAdded".into()],
                    flow_sid: None,
                },
                ScopedWebhook {
                    sid: None,
                    target: "trigger".into(),
                    ..ScopedWebhook::default()
                },
            ]
        );
    }

    #[test]
    fn participants_map_to_domain() {
        let page: ParticipantPage = serde_json::from_value(json!({
            "participants": [{
                "sid": "MB0123456789abcdef0123456789abcdef",
                "identity": null,
                "attributes": "{\"x\":true}",
                "messaging_binding": {"type": "sms", "address": "+15558675310", "proxy_address": "+15017122661"}
            }],
            "meta": {"next_page_url": null}
        }))
        .unwrap();
        let p: Participant = page.participants.into_iter().next().unwrap().into();
        assert_eq!(
            p.sid.unwrap().as_str(),
            "MB0123456789abcdef0123456789abcdef"
        );
        assert_eq!(p.attributes, json!({"x": true}));
        let b = p.binding.unwrap();
        assert_eq!(b.kind.as_deref(), Some("sms"));
        assert_eq!(b.proxy_address.as_deref(), Some("+15017122661"));
    }

    #[test]
    fn twilio_dates_read_as_epoch_seconds() {
        assert_eq!(epoch_secs_of("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(epoch_secs_of("2024-02-29T23:59:59Z"), Some(1_709_251_199));
        assert_eq!(
            epoch_secs_of("2020-07-01T22:18:37.123Z"),
            Some(1_593_641_917)
        );
        for odd in [
            "",
            "2020-07-01",
            "2020-13-01T00:00:00Z",
            "2020-07-01T22:18:37+02:00",
        ] {
            assert_eq!(epoch_secs_of(odd), None, "{odd}");
        }
    }
}
