//! Flex's Interactions webhooks, `/v1/Instances/{GO}/InteractionWebhooks`, and the events they
//! hear, kept in an outbox ([`TwilioEmulator::take_events`]) that tests deliver themselves.
//!
//! What this relies on (Twilio's "Register a webhook to receive Interactions events" page,
//! `register-interactions-webhooks`, dateModified 2026-08-20, read as its Markdown source):
//!
//! - `POST` takes `Type` (`global` or `interaction`; the table says it defaults to `global`),
//!   `WebhookUrl`, `WebhookMethod`, `WebhookEvents` (repeated) and `FriendlyName`. The page's
//!   table names `Filters` and `Method` but every example, and third-party clients, send
//!   `WebhookEvents` and `WebhookMethod`; those are the names accepted here, the table's are
//!   refused as unknown parameters.
//! - The resource is addressed by its `ttid` (`flex_interactionwebhook_` and a 26-character
//!   lower-case ULID, as the examples show), which both types carry; it has no `sid`. The
//!   examples show `ttid`, `account_sid`, `instance_sid`, `type`, `webhook_url`,
//!   `webhook_method`, `webhook_events`, `friendly_name` and `url`.
//! - The list is `GET` with a `type` filter, paged, under the key `data` (`meta.key` is `data`).
//!   `Type` is accepted as well, Twilio's usual spelling.
//! - `GET`, `POST` (update: `WebhookUrl`, `WebhookMethod`, `WebhookEvents`, `FriendlyName`)
//!   and `DELETE` on `…/InteractionWebhooks/{ttid}`.
//! - Both a global webhook and the Interaction's own one get an event they subscribe to.
//! - Event parameters per event, in the page's order: `onInteractionCreated` and the channel
//!   events carry `InstanceSid`; the participant events do not (their tables omit it) and
//!   carry `ParticipantSid`, `ParticipantType` and `TaskSid`.
//!
//! Where the page is silent the emulator chooses and says so: `WebhookUrl` (http or https),
//! `WebhookMethod` (`POST`/`GET`, any case) and at least one event are required; an unknown
//! event name is refused; a repeated event counts once. Whether Flex signs these requests is
//! not documented: they carry `X-Twilio-Signature` computed like every other Twilio webhook
//! (the URL, then for `POST` the sorted parameters), so the product can verify them. A `GET`
//! webhook gets the parameters in its query, and the signature covers that full URL.
//! `onChannelStatusUpdated` is documented for `active` and `closed` only; the emulator also
//! reports `inactive`, `pause` and `transfer` (Twilio's own sample that re-invites after an
//! agent's Leave waits for `ChannelStatus=inactive` from this event).

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

pub use super::model::{InteractionWebhook, OutgoingEvent};

use super::TwilioEmulator;
use super::form_rules::{self, Form};
use super::model::{FlexStore, InteractionChannel, InteractionParticipant, State};
use super::views::Context;
use super::wire::{Incoming, Reply, paging};
use crate::webhook::{self, UrlError};

/// `Type`.
pub const WEBHOOK_TYPES: &[&str] = &["global", "interaction"];
/// `WebhookEvents` values: the events the page lists.
pub const EVENTS: &[&str] = &[
    "onInteractionCreated",
    "onChannelCreated",
    "onChannelCreateFailed",
    "onChannelStatusUpdated",
    "onParticipantJoined",
    "onParticipantLeft",
    "onParticipantUpdated",
];
const TTID_PREFIX: &str = "flex_interactionwebhook_";
const CREATE_PARAMS: &[&str] = &["Type", "WebhookUrl", "WebhookMethod", "FriendlyName"];
const UPDATE_PARAMS: &[&str] = &["WebhookUrl", "WebhookMethod", "FriendlyName"];
const ARRAYS: &[&str] = &["WebhookEvents"];

impl OutgoingEvent {
    /// The URL Flex requests: the webhook's, with the parameters in the query for `GET`.
    pub fn request_url(&self) -> String {
        if self.method == "GET" {
            with_query(&self.url, &self.params)
        } else {
            self.url.clone()
        }
    }

    /// The form body (`POST`) or nothing (`GET`).
    pub fn body_params(&self) -> &[(String, String)] {
        if self.method == "GET" {
            &[]
        } else {
            &self.params
        }
    }

    /// The first value of a parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The API Gateway envelope for this request, signature included
    /// ([`webhook::envelope`]).
    pub fn envelope(&self) -> Result<Value, UrlError> {
        webhook::envelope(
            &self.request_url(),
            self.body_params(),
            Some(&self.signature),
        )
    }
}

fn with_query(url: &str, params: &[(String, String)]) -> String {
    if params.is_empty() {
        return url.to_owned();
    }
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    let joiner = if url.contains('?') { '&' } else { '?' };
    format!("{url}{joiner}{query}")
}

impl TwilioEmulator {
    /// The Interactions webhooks registered, in order.
    pub fn interaction_webhooks(&self) -> Vec<InteractionWebhook> {
        self.shared.lock().flex.webhooks.clone()
    }

    /// The Interactions events sent since the last call, oldest first; they leave the outbox.
    pub fn take_events(&self) -> Vec<OutgoingEvent> {
        std::mem::take(&mut self.shared.lock().flex.outbox)
    }
}

/// An event about a channel, as it is at the time of the event.
pub(super) enum Event<'a> {
    InteractionCreated,
    ChannelCreated,
    ChannelStatusUpdated,
    ParticipantJoined(&'a InteractionParticipant),
    ParticipantLeft(&'a InteractionParticipant),
}

impl Event<'_> {
    fn name(&self) -> &'static str {
        match self {
            Self::InteractionCreated => "onInteractionCreated",
            Self::ChannelCreated => "onChannelCreated",
            Self::ChannelStatusUpdated => "onChannelStatusUpdated",
            Self::ParticipantJoined(_) => "onParticipantJoined",
            Self::ParticipantLeft(_) => "onParticipantLeft",
        }
    }
}

/// The event's parameters, in the order the docs list them.
fn params(
    ctx: &Context<'_>,
    channel: &InteractionChannel,
    event: &Event<'_>,
) -> Vec<(String, String)> {
    let mut out: Vec<(&str, String)> = vec![
        ("EventType", event.name().to_owned()),
        ("AccountSid", ctx.account.to_string()),
    ];
    let media = channel.media_channel.clone();
    match event {
        Event::InteractionCreated => {
            out.push(("InstanceSid", ctx.flex_instance.to_string()));
            out.push(("InteractionSid", channel.interaction.to_string()));
            out.extend(media.map(|m| ("MediaChannelSid", m)));
        }
        Event::ChannelCreated | Event::ChannelStatusUpdated => {
            out.push(("InstanceSid", ctx.flex_instance.to_string()));
            out.push(("InteractionSid", channel.interaction.to_string()));
            out.push(("ChannelSid", channel.sid.to_string()));
            out.extend(media.map(|m| ("MediaChannelSid", m)));
            if let Event::ChannelStatusUpdated = event {
                out.push(("ChannelStatus", channel.status.as_str().to_owned()));
            }
        }
        Event::ParticipantJoined(p) | Event::ParticipantLeft(p) => {
            out.push(("InteractionSid", channel.interaction.to_string()));
            out.push(("ChannelSid", channel.sid.to_string()));
            out.push(("ParticipantSid", p.sid.to_string()));
            out.push(("ParticipantType", p.kind.clone()));
            out.extend(p.task.as_ref().map(|t| ("TaskSid", t.to_string())));
            out.extend(media.map(|m| ("MediaChannelSid", m)));
        }
    }
    out.push(("MediaChannelType", channel.kind.clone()));
    out.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// Queues `event` for every webhook that subscribes to it: the channel's own (`WebhookTtid`,
/// while it exists) first, then every global one in the order registered.
pub(super) fn emit(
    ctx: &Context<'_>,
    flex: &mut FlexStore,
    channel: &InteractionChannel,
    event: Event<'_>,
) {
    let params = params(ctx, channel, &event);
    let own = flex
        .webhooks
        .iter()
        .filter(|w| w.kind == "interaction" && channel.webhook_ttid.as_deref() == Some(&w.ttid));
    let global = flex.webhooks.iter().filter(|w| w.kind == "global");
    let name = event.name();
    let events: Vec<OutgoingEvent> = own
        .chain(global)
        .filter(|w| w.events.iter().any(|e| e == name))
        .map(|w| {
            let mut event = OutgoingEvent {
                url: w.url.clone(),
                method: w.method.clone(),
                params: params.clone(),
                signature: String::new(),
            };
            event.signature =
                webhook::signature(ctx.auth_token, &event.request_url(), event.body_params());
            event
        })
        .collect();
    flex.outbox.extend(events);
}

/// The `interaction` webhook a `WebhookTtid` names, if registered.
pub(super) fn interaction_ttid(flex: &FlexStore, ttid: &str) -> bool {
    flex.webhooks
        .iter()
        .any(|w| w.kind == "interaction" && w.ttid == ttid)
}

/// `/v1/Instances/{GO}/InteractionWebhooks[/{ttid}]`; `rest` follows the instance SID.
pub(super) fn route(
    ctx: &Context<'_>,
    state: &mut State,
    incoming: &Incoming,
    instance: &str,
    rest: &[&str],
) -> Reply {
    let result = (|| {
        if instance != ctx.flex_instance.as_str() {
            return Err(Reply::not_found(&incoming.path));
        }
        match (rest, &incoming.method) {
            (["InteractionWebhooks"], &Method::GET) => list(ctx, &state.flex, incoming),
            (["InteractionWebhooks"], &Method::POST) => create(ctx, &mut state.flex, incoming),
            (["InteractionWebhooks", ttid], method) => {
                let index = state
                    .flex
                    .webhooks
                    .iter()
                    .position(|w| w.ttid == *ttid)
                    .ok_or_else(|| Reply::not_found(&incoming.path))?;
                match *method {
                    Method::GET => Ok(Reply::json(
                        StatusCode::OK,
                        view(ctx, &state.flex.webhooks[index]),
                    )),
                    Method::POST => update(ctx, &mut state.flex.webhooks[index], incoming),
                    Method::DELETE => {
                        state.flex.webhooks.remove(index);
                        Ok(Reply::no_content())
                    }
                    _ => Err(method_not_allowed()),
                }
            }
            (["InteractionWebhooks"], _) => Err(method_not_allowed()),
            _ => Err(Reply::not_found(&incoming.path)),
        }
    })();
    result.unwrap_or_else(|reply| reply)
}

fn method_not_allowed() -> Reply {
    Reply::error(StatusCode::METHOD_NOT_ALLOWED, 20004, "Method not allowed")
}

fn list(ctx: &Context<'_>, flex: &FlexStore, incoming: &Incoming) -> Result<Reply, Reply> {
    form_rules::check_query(incoming, &["Type", "type", "PageSize", "Page", "PageToken"])?;
    let filter = match (incoming.query_param("Type"), incoming.query_param("type")) {
        (Some(_), Some(_)) => return Err(Reply::invalid("Give type once")),
        (Some(kind), None) | (None, Some(kind)) => {
            Some(form_rules::one_of("type", &kind, WEBHOOK_TYPES)?.to_ascii_lowercase())
        }
        (None, None) => None,
    };
    let (page, page_size) = paging(incoming, 1000)?;
    let all: Vec<&InteractionWebhook> = flex
        .webhooks
        .iter()
        .filter(|w| filter.as_deref().is_none_or(|f| w.kind == f))
        .collect();
    let mut list_url = format!(
        "{}/v1/Instances/{}/InteractionWebhooks",
        ctx.base_url, ctx.flex_instance
    );
    if let Some(kind) = &filter {
        list_url.push_str(&format!("?type={kind}"));
    }
    let (range, meta) = form_rules::page(&list_url, "data", page, page_size, all.len());
    let items: Vec<Value> = all[range].iter().map(|w| view(ctx, w)).collect();
    Ok(Reply::json(
        StatusCode::OK,
        json!({ "meta": meta, "data": items }),
    ))
}

/// `WebhookUrl`, `WebhookMethod` and `WebhookEvents` as checked values, each when given.
struct Settings {
    url: Option<String>,
    method: Option<String>,
    events: Option<Vec<String>>,
}

fn settings(form: &Form<'_>) -> Result<Settings, Reply> {
    let url = form
        .get("WebhookUrl")
        .map(|raw| form_rules::absolute_url("WebhookUrl", raw))
        .transpose()?;
    let method = form
        .get("WebhookMethod")
        .map(|raw| form_rules::one_of("WebhookMethod", raw, &["POST", "GET"]))
        .transpose()?
        .map(str::to_ascii_uppercase);
    let events = if form.has("WebhookEvents") {
        let mut events: Vec<String> = Vec::new();
        for event in form.all("WebhookEvents") {
            if !EVENTS.contains(&event.as_str()) {
                return Err(Reply::invalid(format!(
                    "Invalid WebhookEvents `{}`: must be one of {}",
                    event.escape_default(),
                    EVENTS.join(", ")
                )));
            }
            if !events.contains(&event) {
                events.push(event);
            }
        }
        Some(events)
    } else {
        None
    };
    Ok(Settings {
        url,
        method,
        events,
    })
}

fn create(ctx: &Context<'_>, flex: &mut FlexStore, incoming: &Incoming) -> Result<Reply, Reply> {
    let form = Form::read(incoming, CREATE_PARAMS, ARRAYS)?;
    let kind = form
        .get("Type")
        .map(|raw| form_rules::one_of("Type", raw, WEBHOOK_TYPES))
        .transpose()?
        .map_or_else(|| "global".to_owned(), str::to_ascii_lowercase);
    form.required("WebhookUrl")?;
    form.required("WebhookMethod")?;
    let Settings {
        url: Some(url),
        method: Some(method),
        events: Some(events),
    } = settings(&form)?
    else {
        return Err(Reply::invalid(
            "Missing required parameter WebhookEvents in the post body",
        ));
    };
    let webhook = InteractionWebhook {
        ttid: new_ttid(),
        kind,
        url,
        method,
        events,
        friendly_name: form.get("FriendlyName").map(str::to_owned),
    };
    let body = view(ctx, &webhook);
    flex.webhooks.push(webhook);
    Ok(Reply::json(StatusCode::CREATED, body))
}

fn update(
    ctx: &Context<'_>,
    webhook: &mut InteractionWebhook,
    incoming: &Incoming,
) -> Result<Reply, Reply> {
    let form = Form::read(incoming, UPDATE_PARAMS, ARRAYS)?;
    let Settings {
        url,
        method,
        events,
    } = settings(&form)?;
    if let Some(url) = url {
        webhook.url = url;
    }
    if let Some(method) = method {
        webhook.method = method;
    }
    if let Some(events) = events {
        webhook.events = events;
    }
    if let Some(name) = form.get("FriendlyName") {
        webhook.friendly_name = Some(name.to_owned());
    }
    Ok(Reply::json(StatusCode::OK, view(ctx, webhook)))
}

/// `flex_interactionwebhook_` and 26 characters of lower-case Crockford base32, the shape of
/// a ULID as Twilio's examples show.
fn new_ttid() -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghjkmnpqrstvwxyz";
    let mut bits = rand::random::<u128>();
    let mut extra = rand::random::<u8>();
    let mut out = String::from(TTID_PREFIX);
    for i in 0..26 {
        let digit = if i < 25 {
            let d = (bits & 31) as usize;
            bits >>= 5;
            d
        } else {
            let d = (extra & 31) as usize;
            extra >>= 5;
            d
        };
        out.push(ALPHABET[digit] as char);
    }
    out
}

fn view(ctx: &Context<'_>, w: &InteractionWebhook) -> Value {
    json!({
        "ttid": w.ttid,
        "account_sid": ctx.account.as_str(),
        "instance_sid": ctx.flex_instance.as_str(),
        "type": w.kind,
        "webhook_url": w.url,
        "webhook_method": w.method,
        "webhook_events": w.events,
        "friendly_name": w.friendly_name,
        "url": format!(
            "{}/v1/Instances/{}/InteractionWebhooks/{}",
            ctx.base_url, ctx.flex_instance, w.ttid
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttids_look_like_twilios() {
        let ttid = new_ttid();
        let tail = ttid.strip_prefix(TTID_PREFIX).unwrap();
        assert_eq!(tail.len(), 26);
        assert!(
            tail.bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
        );
        assert_ne!(ttid, new_ttid());
    }

    #[test]
    fn get_events_carry_their_parameters_in_the_query() {
        let event = OutgoingEvent {
            url: "https://example.com/hook?x=1".into(),
            method: "GET".into(),
            params: vec![("EventType".into(), "onParticipantLeft".into())],
            signature: String::new(),
        };
        assert_eq!(
            event.request_url(),
            "https://example.com/hook?x=1&EventType=onParticipantLeft"
        );
        assert!(event.body_params().is_empty());
    }
}
