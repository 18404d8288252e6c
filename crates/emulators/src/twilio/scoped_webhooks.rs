//! Conversation-scoped webhooks, `/v1/Conversations/{CH}/Webhooks`: list, create and fetch
//! (delete is the bridge's own route in `routes`). A Studio address attaches one with
//! `target=studio`; replacing it with the bot's `target=webhook` one is how a conversation
//! moves from a Studio flow to the bot.
//!
//! Parameters and shapes follow `twilio_conversations_v1.json`; Twilio's documentation adds
//! that a conversation holds at most five and that list pages hold at most five. Where Twilio
//! is silent the emulator is strict and says so: `Configuration.FlowSid` only with `studio`
//! (then required), `Configuration.Url` required with `webhook` and `trigger` and refused with
//! `studio`, `Configuration.Triggers` only with `trigger`; a closed conversation refuses new
//! webhooks (50377) like any other write.

use std::time::SystemTime;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

// The data is the store's (`model`), so the store needs nothing from here; it is still
// public under this module's name.
pub use super::model::ScopedWebhook;

use super::TwilioEmulator;
use super::form_rules::{self, Form};
use super::model::{ConversationState, CustomerKind, SeededConversation, State};
use super::stamps::iso8601;
use super::views::Context;
use super::wire::{Incoming, Reply, paging};
use crate::sid::Sid;

/// `Target`, as the spec's enum lists it.
pub const TARGETS: &[&str] = &["webhook", "trigger", "studio"];
/// Twilio's limit of scoped webhooks on one conversation.
pub const MAX_PER_CONVERSATION: usize = 5;

const PARAMS: &[&str] = &[
    "Target",
    "Configuration.Url",
    "Configuration.Method",
    "Configuration.FlowSid",
    "Configuration.ReplayAfter",
];
const ARRAYS: &[&str] = &["Configuration.Filters", "Configuration.Triggers"];

impl ScopedWebhook {
    /// The bot's webhook that [`TwilioEmulator::create_conversation`] attaches without being
    /// told its URL: a POST of `onMessageAdded`, URL unknown.
    fn seeded(sid: &Sid) -> Self {
        Self {
            sid: sid.clone(),
            target: "webhook".to_owned(),
            url: None,
            method: Some("post".to_owned()),
            filters: vec!["onMessageAdded".to_owned()],
            triggers: Vec::new(),
            flow_sid: None,
            replay_after: None,
            date_created: iso8601(SystemTime::now()),
        }
    }
}

impl TwilioEmulator {
    /// A new active conversation with one customer whose scoped webhook is a Studio flow's
    /// (`target=studio`), as a Studio-integrated address leaves it.
    pub fn create_studio_conversation(
        &self,
        customer: CustomerKind,
        flow_sid: &str,
    ) -> SeededConversation {
        let mut state = self.shared.lock();
        let seeded = state.seed(customer);
        let studio = ScopedWebhook {
            target: "studio".to_owned(),
            url: None,
            method: None,
            filters: Vec::new(),
            flow_sid: Some(flow_sid.to_owned()),
            ..ScopedWebhook::seeded(&seeded.webhook)
        };
        state.scoped_webhooks.insert(seeded.webhook.clone(), studio);
        seeded
    }

    /// A new active conversation with one customer whose scoped webhook posts `onMessageAdded`
    /// to `url`, as an address configured with the bot's webhook leaves it.
    pub fn create_bot_conversation(&self, customer: CustomerKind, url: &str) -> SeededConversation {
        let mut state = self.shared.lock();
        let seeded = state.seed(customer);
        let bot = ScopedWebhook {
            url: Some(url.to_owned()),
            ..ScopedWebhook::seeded(&seeded.webhook)
        };
        state.scoped_webhooks.insert(seeded.webhook.clone(), bot);
        seeded
    }

    /// The scoped webhooks attached to a conversation, in the order they were added.
    pub fn scoped_webhooks(&self, conversation: &Sid) -> Vec<ScopedWebhook> {
        let state = self.shared.lock();
        attached(&state, conversation)
    }
}

fn attached(state: &State, conversation: &Sid) -> Vec<ScopedWebhook> {
    state
        .conversations
        .get(conversation)
        .map(|record| {
            record
                .webhooks
                .iter()
                .map(|sid| {
                    state
                        .scoped_webhooks
                        .get(sid)
                        .cloned()
                        .unwrap_or_else(|| ScopedWebhook::seeded(sid))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `…/Webhooks` (GET list, POST create) and `…/Webhooks/{WH}` (GET fetch).
pub(super) fn route(
    ctx: &Context<'_>,
    state: &mut State,
    incoming: &Incoming,
    conversation: &str,
    rest: &[&str],
) -> Reply {
    let result = (|| {
        let conversation = Sid::parse("CH", conversation)
            .ok()
            .filter(|sid| state.conversations.contains_key(sid))
            .ok_or_else(|| Reply::not_found(&incoming.path))?;
        match (rest, &incoming.method) {
            ([], &Method::GET) => list(ctx, state, incoming, &conversation),
            ([], &Method::POST) => create(ctx, state, incoming, &conversation),
            ([raw], &Method::GET) => attached(state, &conversation)
                .into_iter()
                .find(|w| w.sid.as_str() == *raw)
                .map(|w| Reply::json(StatusCode::OK, view(ctx, &conversation, &w)))
                .ok_or_else(|| Reply::not_found(&incoming.path)),
            ([] | [_], _) => Err(Reply::error(
                StatusCode::METHOD_NOT_ALLOWED,
                20004,
                "Method not allowed",
            )),
            _ => Err(Reply::not_found(&incoming.path)),
        }
    })();
    result.unwrap_or_else(|reply| reply)
}

fn list(
    ctx: &Context<'_>,
    state: &State,
    incoming: &Incoming,
    conversation: &Sid,
) -> Result<Reply, Reply> {
    form_rules::check_query(incoming, &["PageSize", "Page", "PageToken"])?;
    let (page, page_size) = match incoming.query_param("PageSize") {
        Some(_) => paging(incoming, MAX_PER_CONVERSATION)?,
        None => (
            paging(incoming, MAX_PER_CONVERSATION)?.0,
            MAX_PER_CONVERSATION,
        ),
    };
    let all = attached(state, conversation);
    let list_url = format!("{}/v1/Conversations/{conversation}/Webhooks", ctx.base_url);
    let (range, meta) = form_rules::page(&list_url, "webhooks", page, page_size, all.len());
    let items: Vec<Value> = all[range]
        .iter()
        .map(|w| view(ctx, conversation, w))
        .collect();
    Ok(Reply::json(
        StatusCode::OK,
        json!({ "meta": meta, "webhooks": items }),
    ))
}

fn create(
    ctx: &Context<'_>,
    state: &mut State,
    incoming: &Incoming,
    conversation: &Sid,
) -> Result<Reply, Reply> {
    let form = Form::read(incoming, PARAMS, ARRAYS)?;
    let target =
        form_rules::one_of("Target", form.required("Target")?, TARGETS)?.to_ascii_lowercase();
    let url = form
        .get("Configuration.Url")
        .map(|raw| form_rules::absolute_url("Configuration.Url", raw))
        .transpose()?;
    let method = form
        .get("Configuration.Method")
        .map(|raw| {
            form_rules::one_of("Configuration.Method", raw, &["get", "post"])
                .map(str::to_ascii_lowercase)
        })
        .transpose()?;
    let flow_sid = form
        .get("Configuration.FlowSid")
        .map(|raw| form_rules::sid("Configuration.FlowSid", "FW", raw))
        .transpose()?;
    let replay_after = form
        .get("Configuration.ReplayAfter")
        .map(|raw| form_rules::integer("Configuration.ReplayAfter", raw))
        .transpose()?;
    let filters = form.all("Configuration.Filters");
    if filters.iter().any(String::is_empty) {
        return Err(Reply::invalid(
            "Configuration.Filters values must not be empty",
        ));
    }
    let triggers = form.all("Configuration.Triggers");
    match target.as_str() {
        "studio" => {
            if flow_sid.is_none() {
                return Err(Reply::invalid(
                    "Configuration.FlowSid is required when Target is studio",
                ));
            }
            if url.is_some() {
                return Err(Reply::invalid(
                    "Configuration.Url is not used when Target is studio",
                ));
            }
        }
        _ if flow_sid.is_some() => {
            return Err(Reply::invalid(
                "Configuration.FlowSid is only used when Target is studio",
            ));
        }
        _ if url.is_none() => {
            return Err(Reply::invalid(format!(
                "Configuration.Url is required when Target is {target}"
            )));
        }
        _ => {}
    }
    if !triggers.is_empty() && target != "trigger" {
        return Err(Reply::invalid(
            "Configuration.Triggers is only used when Target is trigger",
        ));
    }
    let record = state
        .conversations
        .get_mut(conversation)
        .ok_or_else(|| Reply::not_found(&incoming.path))?;
    if record.state == ConversationState::Closed {
        return Err(Reply::closed());
    }
    if record.webhooks.len() >= MAX_PER_CONVERSATION {
        return Err(Reply::invalid(format!(
            "Conversation {conversation} already has {MAX_PER_CONVERSATION} scoped webhooks, the most it can have"
        )));
    }
    let webhook = ScopedWebhook {
        sid: Sid::random("WH"),
        method: method.or_else(|| (target != "studio").then(|| "post".to_owned())),
        target,
        url,
        filters,
        triggers,
        flow_sid,
        replay_after,
        date_created: iso8601(SystemTime::now()),
    };
    record.webhooks.push(webhook.sid.clone());
    state
        .scoped_webhooks
        .insert(webhook.sid.clone(), webhook.clone());
    Ok(Reply::json(
        StatusCode::CREATED,
        view(ctx, conversation, &webhook),
    ))
}

/// The resource JSON; `configuration` depends on the target, as in Twilio's examples.
fn view(ctx: &Context<'_>, conversation: &Sid, w: &ScopedWebhook) -> Value {
    let mut configuration = match w.target.as_str() {
        "studio" => json!({ "flow_sid": w.flow_sid }),
        "trigger" => json!({
            "url": w.url,
            "method": w.method,
            "filters": w.triggers,
        }),
        _ => json!({
            "url": w.url,
            "method": w.method,
            "filters": w.filters,
        }),
    };
    if let (Some(after), Some(object)) = (w.replay_after, configuration.as_object_mut()) {
        object.insert("replay_after".to_owned(), json!(after));
    }
    json!({
        "account_sid": ctx.account.as_str(),
        "conversation_sid": conversation.as_str(),
        "sid": w.sid.as_str(),
        "target": w.target,
        "configuration": configuration,
        "date_created": w.date_created,
        "date_updated": w.date_created,
        "url": format!(
            "{}/v1/Conversations/{conversation}/Webhooks/{}",
            ctx.base_url, w.sid
        ),
    })
}
