//! Request handling: auth, faults, routing, Twilio's validation, recording. The request and
//! reply types are [`super::wire`]'s; the address and webhook resources route themselves.
//!
//! Error codes follow Twilio where it documents them (20003 authenticate, 20404 not found,
//! 20429 too many requests, 21617 body over 1,600 characters, 50377 closed conversation).
//! Parameter errors (unknown, repeated, missing or malformed parameters, a wrong content type)
//! all use 20001 with a message naming the parameter; Twilio's exact code per case is not
//! documented for these endpoints.

use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::{Request, State};
use axum::http::header::{RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::Shared;
use super::faults::{self, FaultKind};
use super::model::{
    ContentMessage, ConversationRecord, ConversationState, RecordedRequest, State as Model,
};
use super::stamps::iso8601;
use super::timers::TimerParams;
use super::views::{self, Context};
use super::wire::{Incoming, Reply, basic_credentials, header, paging};
use super::{address_config, interaction_webhooks, interactions, scoped_webhooks};
use crate::sid::Sid;

const AUTHENTICATE: u32 = 20003;
const METHOD_NOT_ALLOWED: u32 = 20004;
const TOO_MANY_REQUESTS: u32 = 20429;
const INTERNAL_ERROR: u32 = 20500;
const SERVICE_UNAVAILABLE: u32 = 20503;
const BODY_TOO_LONG: u32 = 21617;

/// Twilio's message body limit, counted in UTF-16 units (the stricter reading).
const MAX_BODY_UNITS: usize = 1600;
const MAX_REQUEST_BYTES: usize = 1 << 20;

const MESSAGE_PARAMS: &[&str] = &[
    "Author",
    "Body",
    "Attributes",
    "MediaSid",
    "ContentSid",
    "ContentVariables",
    "Subject",
    "DateCreated",
    "DateUpdated",
];
const CONVERSATION_PARAMS: &[&str] = &[
    "FriendlyName",
    "DateCreated",
    "DateUpdated",
    "Attributes",
    "MessagingServiceSid",
    "State",
    "Timers.Inactive",
    "Timers.Closed",
    "UniqueName",
    "Bindings.Email.Address",
    "Bindings.Email.Name",
];
/// Entry point for every request.
pub(crate) async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_REQUEST_BYTES).await else {
        return Reply::invalid("request body too large or unreadable").into_response();
    };
    let incoming = Incoming::read(parts, body);
    let fault = faults::take(&mut shared.lock().faults, &incoming.method, &incoming.path);
    if let Some(FaultKind::Latency(pause)) = &fault {
        tokio::time::sleep(*pause).await;
    }
    let reply = match fault {
        Some(FaultKind::TooManyRequests { retry_after }) => {
            let reply = Reply::error(
                StatusCode::TOO_MANY_REQUESTS,
                TOO_MANY_REQUESTS,
                "Too Many Requests",
            );
            match retry_after {
                Some(seconds) => reply.with_header(RETRY_AFTER, &seconds.to_string()),
                None => reply,
            }
        }
        Some(FaultKind::Unavailable) => Reply::error(
            StatusCode::SERVICE_UNAVAILABLE,
            SERVICE_UNAVAILABLE,
            "Service is temporarily unavailable. Try again later",
        ),
        Some(FaultKind::ServerError { applied }) => {
            if applied {
                drop(route(&shared, &incoming));
            }
            Reply::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                INTERNAL_ERROR,
                "Internal Server Error",
            )
        }
        Some(FaultKind::SlowAnswer(pause)) => {
            let reply = route(&shared, &incoming);
            tokio::time::sleep(pause).await;
            reply
        }
        Some(FaultKind::Latency(_)) | None => route(&shared, &incoming),
    };
    shared.lock().requests.push(RecordedRequest {
        method: incoming.method.to_string(),
        path: incoming.path.clone(),
        query: incoming.query.clone(),
        form: incoming.form.clone().unwrap_or_default(),
        content_type: incoming.content_type.clone(),
        webhook_enabled: header(&incoming.headers, "x-twilio-webhook-enabled"),
        auth_user: incoming.auth_user(),
        status: reply.status().as_u16(),
    });
    reply.into_response()
}

fn route(shared: &Shared, incoming: &Incoming) -> Reply {
    let mut state = shared.lock();
    if !authenticated(shared, &state, &incoming.headers) {
        return Reply::error(StatusCode::UNAUTHORIZED, AUTHENTICATE, "Authenticate")
            .with_header(WWW_AUTHENTICATE, "Basic realm=\"Twilio API\"");
    }
    let ctx = shared.context();
    let segments: Vec<&str> = incoming.path.trim_start_matches('/').split('/').collect();
    let method = &incoming.method;
    match segments.as_slice() {
        ["v1", "Conversations", sid] => match *method {
            Method::GET => fetch_conversation(&ctx, &state, incoming, sid),
            Method::POST => update_conversation(&ctx, &mut state, incoming, sid),
            _ => method_not_allowed(),
        },
        ["v1", "Conversations", sid, "Messages"] if method == Method::POST => {
            create_message(&ctx, &mut state, incoming, sid)
        }
        ["v1", "Conversations", sid, "Messages"] if method == Method::GET => {
            list_messages(&ctx, &state, incoming, sid)
        }
        ["v1", "Conversations", sid, "Participants"] if method == Method::GET => {
            list_participants(&ctx, &state, incoming, sid)
        }
        ["v1", "Conversations", sid, "Webhooks", webhook] if method == Method::DELETE => {
            delete_webhook(&mut state, incoming, sid, webhook)
        }
        ["v1", "Interactions", rest @ ..] => interactions::route(&ctx, &mut state, incoming, rest),
        ["v1", "Instances", instance, rest @ ..] => {
            interaction_webhooks::route(&ctx, &mut state, incoming, instance, rest)
        }
        ["v1", "Content"] if method == Method::POST => {
            match state
                .content
                .create(incoming.content_type.as_deref(), &incoming.raw)
            {
                Ok(template) => Reply::json(
                    StatusCode::CREATED,
                    template.view(ctx.base_url, ctx.account),
                ),
                Err(refusal) => refused(refusal),
            }
        }
        ["v1", "Configuration", "Addresses", rest @ ..] => {
            address_config::route(&ctx, &mut state, incoming, rest)
        }
        ["v1", "Conversations", sid, "Webhooks", rest @ ..] => {
            scoped_webhooks::route(&ctx, &mut state, incoming, sid, rest)
        }
        ["v1", "Conversations", _, "Messages" | "Participants"] | ["v1", "Content"] => {
            method_not_allowed()
        }
        _ => Reply::not_found(&incoming.path),
    }
}

/// A 400 from the content or timer checks.
fn refused((code, message): (u32, String)) -> Reply {
    Reply::error(StatusCode::BAD_REQUEST, code, message)
}

fn method_not_allowed() -> Reply {
    Reply::error(
        StatusCode::METHOD_NOT_ALLOWED,
        METHOD_NOT_ALLOWED,
        "Method not allowed",
    )
}

/// The account SID with the auth token, or a registered API key with its secret.
fn authenticated(shared: &Shared, state: &Model, headers: &HeaderMap) -> bool {
    let Some((user, password)) = basic_credentials(headers) else {
        return false;
    };
    if user == shared.account.as_str() {
        return password == shared.auth_token;
    }
    state
        .api_keys
        .iter()
        .any(|(sid, secret)| sid.as_str() == user && *secret == password)
}

fn known_conversation(state: &Model, raw: &str, path: &str) -> Result<Sid, Reply> {
    Sid::parse("CH", raw)
        .ok()
        .filter(|sid| state.conversations.contains_key(sid))
        .ok_or_else(|| Reply::not_found(path))
}

fn fetch_conversation(ctx: &Context<'_>, state: &Model, incoming: &Incoming, raw: &str) -> Reply {
    let sid = match known_conversation(state, raw, &incoming.path) {
        Ok(sid) => sid,
        Err(reply) => return reply,
    };
    match state.conversations.get(&sid) {
        Some(record) => Reply::json(StatusCode::OK, views::conversation(ctx, &sid, record)),
        None => Reply::not_found(&incoming.path),
    }
}

/// The conversation a write goes to; a closed one refuses writes, as Twilio's does.
fn writable_conversation<'a>(
    state: &'a mut Model,
    sid: &Sid,
    path: &str,
) -> Result<&'a mut ConversationRecord, Reply> {
    let record = state
        .conversations
        .get_mut(sid)
        .ok_or_else(|| Reply::not_found(path))?;
    if record.state == ConversationState::Closed {
        return Err(Reply::closed());
    }
    Ok(record)
}

fn check_json_attributes(value: Option<&str>) -> Result<(), Reply> {
    match value {
        Some(raw) if serde_json::from_str::<Value>(raw).is_err() => {
            Err(Reply::invalid("Attributes must be a valid JSON string"))
        }
        _ => Ok(()),
    }
}

fn update_conversation(
    ctx: &Context<'_>,
    state: &mut Model,
    incoming: &Incoming,
    raw: &str,
) -> Reply {
    let result = (|| {
        let sid = known_conversation(state, raw, &incoming.path)?;
        let params = incoming.params(CONVERSATION_PARAMS)?;
        let new_state = params
            .get("State")
            .map(|s| {
                ConversationState::parse(s).ok_or_else(|| {
                    Reply::invalid(format!(
                        "Invalid State `{s}`: must be active, inactive or closed"
                    ))
                })
            })
            .transpose()?;
        check_json_attributes(params.get("Attributes"))?;
        let timers = TimerParams::read(params.get("Timers.Inactive"), params.get("Timers.Closed"))
            .map_err(refused)?;
        let record = writable_conversation(state, &sid, &incoming.path)?;
        timers.apply(&mut record.timers, SystemTime::now());
        if let Some(new_state) = new_state {
            record.state = new_state;
        }
        if let Some(name) = params.get("FriendlyName") {
            record.friendly_name = Some(name.to_owned());
        }
        if let Some(name) = params.get("UniqueName") {
            record.unique_name = Some(name.to_owned());
        }
        if let Some(attributes) = params.get("Attributes") {
            record.attributes = attributes.to_owned();
        }
        record.date_updated = iso8601(SystemTime::now());
        Ok(Reply::json(
            StatusCode::OK,
            views::conversation(ctx, &sid, record),
        ))
    })();
    result.unwrap_or_else(|reply| reply)
}

fn create_message(ctx: &Context<'_>, state: &mut Model, incoming: &Incoming, raw: &str) -> Reply {
    let result = (|| {
        let sid = known_conversation(state, raw, &incoming.path)?;
        let params = incoming.params(MESSAGE_PARAMS)?;
        let body = params.get("Body").unwrap_or_default();
        if body.is_empty() && params.get("MediaSid").is_none() && params.get("ContentSid").is_none()
        {
            return Err(Reply::invalid(
                "Missing required parameter Body or MediaSid",
            ));
        }
        if body.encode_utf16().count() > MAX_BODY_UNITS {
            return Err(Reply::error(
                StatusCode::BAD_REQUEST,
                BODY_TOO_LONG,
                "The concatenated message body exceeds the 1600 character limit",
            ));
        }
        check_json_attributes(params.get("Attributes"))?;
        // With a template, Twilio ignores Body; the message shows the template's text.
        let content = state
            .content
            .message_content(params.get("ContentSid"), params.get("ContentVariables"))
            .map_err(refused)?
            .map(|(template, variables)| {
                (template.sid.clone(), template.text(&variables), variables)
            });
        let record = writable_conversation(state, &sid, &incoming.path)?;
        let author = params.get("Author").unwrap_or("system");
        let shown = content.as_ref().map_or(body, |(_, text, _)| text.as_str());
        let attributes = params.get("Attributes").unwrap_or("{}");
        let mut message = record.append_message(author, shown, attributes);
        if let Some((content_sid, _, variables)) = content {
            message.content_sid = Some(content_sid.clone());
            if let Some(stored) = record.messages.last_mut() {
                stored.content_sid = Some(content_sid.clone());
            }
            state.content.messages.push(ContentMessage {
                conversation: sid.clone(),
                message: message.sid.clone(),
                content: content_sid,
                variables,
            });
        }
        Ok(Reply::json(
            StatusCode::CREATED,
            views::message(ctx, &sid, &message),
        ))
    })();
    result.unwrap_or_else(|reply| reply)
}

fn list_participants(ctx: &Context<'_>, state: &Model, incoming: &Incoming, raw: &str) -> Reply {
    let result = (|| {
        let sid = known_conversation(state, raw, &incoming.path)?;
        let (page, page_size) = paging(incoming, 1000)?;
        let record = state
            .conversations
            .get(&sid)
            .ok_or_else(|| Reply::not_found(&incoming.path))?;
        Ok(Reply::json(
            StatusCode::OK,
            views::participant_page(ctx, &sid, &record.participants, page, page_size),
        ))
    })();
    result.unwrap_or_else(|reply| reply)
}

/// `GET …/Messages`: `Order` (`asc`, the default, or `desc`), `PageSize` (1–1000, Twilio's
/// bounds) and `Page`; anything else is refused.
fn list_messages(ctx: &Context<'_>, state: &Model, incoming: &Incoming, raw: &str) -> Reply {
    let result = (|| {
        let sid = known_conversation(state, raw, &incoming.path)?;
        if let Some(query) = incoming.query.as_deref() {
            for (name, _) in form_urlencoded::parse(query.as_bytes()) {
                if !matches!(name.as_ref(), "Order" | "PageSize" | "Page" | "PageToken") {
                    return Err(Reply::invalid(format!("Unknown query parameter {name}")));
                }
            }
        }
        let descending = match incoming.query_param("Order").as_deref() {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(_) => return Err(Reply::invalid("Order must be asc or desc")),
        };
        let (page, page_size) = paging(incoming, 1000)?;
        let record = state
            .conversations
            .get(&sid)
            .ok_or_else(|| Reply::not_found(&incoming.path))?;
        let mut ordered = record.messages.clone();
        if descending {
            ordered.reverse();
        }
        Ok(Reply::json(
            StatusCode::OK,
            views::message_page(ctx, &sid, &ordered, descending, page, page_size),
        ))
    })();
    result.unwrap_or_else(|reply| reply)
}

fn delete_webhook(state: &mut Model, incoming: &Incoming, raw: &str, raw_webhook: &str) -> Reply {
    let Ok(sid) = known_conversation(state, raw, &incoming.path) else {
        return Reply::not_found(&incoming.path);
    };
    let Some(record) = state.conversations.get_mut(&sid) else {
        return Reply::not_found(&incoming.path);
    };
    let Ok(webhook) = Sid::parse("WH", raw_webhook) else {
        return Reply::not_found(&incoming.path);
    };
    let before = record.webhooks.len();
    record.webhooks.retain(|w| w != &webhook);
    if record.webhooks.len() == before {
        return Reply::not_found(&incoming.path);
    }
    state.scoped_webhooks.remove(&webhook);
    Reply::no_content()
}
