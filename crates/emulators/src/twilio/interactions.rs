//! Flex Interactions, `/v1/Interactions`: creating one, its channel (`…/Channels/{UO}`), the
//! channel's participants and invites, and the lifecycle a test drives on Flex's side (a
//! worker accepting the task, the agent's Leave, Pause, a transfer).
//!
//! What this relies on:
//!
//! - Twilio's OpenAPI description as the twilio-elixir, twilio-ruby and twilio-node libraries
//!   generate it: the Interaction Channel (`UO…`: `sid`, `interaction_sid`, `type`, `status`
//!   with `setup|active|failed|closed|inactive|pause|transfer`, `error_code`,
//!   `error_message`, `url`, `links`), its update (`Status` `closed|inactive`, `Routing`), the
//!   Participant (`UT…`: `sid`, `type` `agent|customer|supervisor|external|unknown`,
//!   `interaction_sid`, `channel_sid`, `routing_properties`, `url`; update `Status`
//!   `closed|wrapup`), and the Invite (`KG…`: `sid`, `interaction_sid`, `channel_sid`,
//!   `routing`, `url`). The channel has no `media_properties` there, so it shows none.
//! - "Park an Interaction": `Status=closed` on the agent's participant completes its task and
//!   leaves the channel active; an Invite (`Routing.properties`: `workspace_sid`, optional
//!   `workflow_sid`, `task_channel_unique_name`, `attributes`, `queue_sid`, `worker_sid`)
//!   creates a new task on the channel. Twilio's sample reads the task's SID from the answer's
//!   `routing.properties.sid`, as shown here.
//! - `Routing` is required when setting a channel `inactive` (`{"status":"closed"}` completes
//!   the tasks, `wrapup` wraps them up), per the channel update's description.
//! - Flex's Leave sets the channel `inactive` and removes the agent; Pause sets it `pause`
//!   ("Leave and pause for Conversations").
//!
//! Choices where Twilio is silent, all strict: a participant updated to `closed` or `wrapup`
//! leaves the channel's participant list (the resource has no status to show it) and
//! `onParticipantLeft` goes out; a `closed` channel refuses every update and invite (400);
//! closing a channel closes its conversation, as Twilio's sample handler for channel events
//! states; a paused agent stays a participant; the customer joins at creation without an
//! `onParticipantJoined`; a worker can only accept a task that creation or an invite made
//! ([`TwilioEmulator::agent_joins`]).

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

pub use super::model::{ChannelStatus, InteractionInvite, InteractionParticipant};

use super::TwilioEmulator;
use super::form_rules;
use super::interaction_webhooks::{self, Event};
use super::model::{
    ConversationState, FlexStore, InteractionChannel, RecordedInteraction, State as Model,
};
use super::views::{self, Context, CreatedChannel};
use super::wire::{Incoming, Params, Reply, paging};
use crate::sid::Sid;

const INTERACTION_PARAMS: &[&str] = &["Channel", "Routing", "InteractionContextSid", "WebhookTtid"];
const CHANNEL_TYPES: &[&str] = &[
    "sms",
    "whatsapp",
    "web",
    "chat",
    "email",
    "messenger",
    "gbm",
];
const INITIATORS: &[&str] = &["customer", "agent", "api"];

impl TwilioEmulator {
    /// A worker accepted the oldest task not yet accepted (made at creation or by an invite):
    /// an `agent` participant joins, the channel is `active` again, `onParticipantJoined`
    /// goes out (after `onChannelStatusUpdated` when the status changed). `None` when the
    /// Interaction is unknown, its channel closed, or no task waits.
    pub fn agent_joins(&self, interaction: &Sid) -> Option<Sid> {
        self.with_channel(interaction, |ctx, flex, channel| {
            if channel.status == ChannelStatus::Closed || channel.pending_tasks.is_empty() {
                return None;
            }
            let task = channel.pending_tasks.remove(0);
            let agent = InteractionParticipant {
                sid: Sid::random("UT"),
                kind: "agent".to_owned(),
                task: Some(task),
                worker: Some(Sid::random("WK")),
                reservation: Some(Sid::random("WR")),
            };
            set_status(ctx, flex, channel, ChannelStatus::Active);
            channel.participants.push(agent.clone());
            interaction_webhooks::emit(ctx, flex, channel, Event::ParticipantJoined(&agent));
            Some(agent.sid)
        })
        .flatten()
    }

    /// Flex's Leave: the newest agent leaves (`onParticipantLeft`, `ParticipantType=agent`)
    /// and the channel turns `inactive` (`onChannelStatusUpdated`). Returns the agent's
    /// participant SID; `None` when the Interaction is unknown, closed or has no agent.
    pub fn agent_leaves(&self, interaction: &Sid) -> Option<Sid> {
        self.with_channel(interaction, |ctx, flex, channel| {
            if channel.status == ChannelStatus::Closed {
                return None;
            }
            let index = channel
                .participants
                .iter()
                .rposition(|p| p.kind == "agent")?;
            let agent = channel.participants.remove(index);
            interaction_webhooks::emit(ctx, flex, channel, Event::ParticipantLeft(&agent));
            set_status(ctx, flex, channel, ChannelStatus::Inactive);
            Some(agent.sid)
        })
        .flatten()
    }

    /// Flex's Pause: the channel turns `pause`; the agent stays. `false` when the Interaction
    /// is unknown or closed.
    pub fn pause_channel(&self, interaction: &Sid) -> bool {
        self.flex_status(interaction, ChannelStatus::Pause)
    }

    /// A transfer in progress: the channel turns `transfer`. `false` when the Interaction is
    /// unknown or closed.
    pub fn transfer_channel(&self, interaction: &Sid) -> bool {
        self.flex_status(interaction, ChannelStatus::Transfer)
    }

    /// The status of the Interaction's channel; `None` when the Interaction is unknown.
    pub fn channel_status(&self, interaction: &Sid) -> Option<ChannelStatus> {
        let state = self.shared.lock();
        state.flex.channels.get(interaction).map(|c| c.status)
    }

    /// The participants of the Interaction's channel, in the order they joined.
    pub fn interaction_participants(&self, interaction: &Sid) -> Vec<InteractionParticipant> {
        let state = self.shared.lock();
        state
            .flex
            .channels
            .get(interaction)
            .map(|c| c.participants.clone())
            .unwrap_or_default()
    }

    /// Every invite sent, in order.
    pub fn invites(&self) -> Vec<InteractionInvite> {
        self.shared.lock().flex.invites.clone()
    }

    fn flex_status(&self, interaction: &Sid, status: ChannelStatus) -> bool {
        self.with_channel(interaction, |ctx, flex, channel| {
            if channel.status == ChannelStatus::Closed {
                return false;
            }
            set_status(ctx, flex, channel, status);
            true
        })
        .unwrap_or(false)
    }

    /// Runs `change` on the Interaction's channel, taken out of the store meanwhile so the
    /// events can be queued beside it.
    fn with_channel<T>(
        &self,
        interaction: &Sid,
        change: impl FnOnce(&Context<'_>, &mut FlexStore, &mut InteractionChannel) -> T,
    ) -> Option<T> {
        let ctx = self.shared.context();
        let mut state = self.shared.lock();
        let mut channel = state.flex.channels.remove(interaction)?;
        let out = change(&ctx, &mut state.flex, &mut channel);
        state.flex.channels.insert(interaction.clone(), channel);
        Some(out)
    }
}

/// Sets the status; a change is announced with `onChannelStatusUpdated`.
fn set_status(
    ctx: &Context<'_>,
    flex: &mut FlexStore,
    channel: &mut InteractionChannel,
    status: ChannelStatus,
) {
    if channel.status != status {
        channel.status = status;
        interaction_webhooks::emit(ctx, flex, channel, Event::ChannelStatusUpdated);
    }
}

/// `/v1/Interactions…`; `rest` follows `Interactions`.
pub(super) fn route(
    ctx: &Context<'_>,
    state: &mut Model,
    incoming: &Incoming,
    rest: &[&str],
) -> Reply {
    let result = (|| match (rest, &incoming.method) {
        ([], &Method::POST) => create(ctx, state, incoming),
        ([], _) => Err(method_not_allowed()),
        ([interaction, "Channels", channel, tail @ ..], method) => {
            let (interaction, mut record) = take_channel(state, interaction, channel, incoming)?;
            let reply = match (tail, method) {
                ([], &Method::GET) => Ok(Reply::json(StatusCode::OK, channel_view(ctx, &record))),
                ([], &Method::POST) => update_channel(ctx, state, &mut record, incoming),
                (["Participants"], &Method::GET) => list_participants(ctx, &record, incoming),
                (["Participants", participant], &Method::POST) => {
                    update_participant(ctx, state, &mut record, incoming, participant)
                }
                (["Invites"], &Method::POST) => invite(ctx, state, &mut record, incoming),
                ([] | ["Participants"] | ["Participants", _] | ["Invites"], _) => {
                    Err(method_not_allowed())
                }
                _ => Err(Reply::not_found(&incoming.path)),
            };
            state.flex.channels.insert(interaction, record);
            reply
        }
        _ => Err(Reply::not_found(&incoming.path)),
    })();
    result.unwrap_or_else(|reply| reply)
}

fn method_not_allowed() -> Reply {
    Reply::error(StatusCode::METHOD_NOT_ALLOWED, 20004, "Method not allowed")
}

/// The channel `{KD}/Channels/{UO}` names, out of the store until put back; 404 unless both
/// exist and belong together.
fn take_channel(
    state: &mut Model,
    interaction: &str,
    channel: &str,
    incoming: &Incoming,
) -> Result<(Sid, InteractionChannel), Reply> {
    let interaction = Sid::parse("KD", interaction)
        .ok()
        .filter(|sid| {
            state
                .flex
                .channels
                .get(sid)
                .is_some_and(|c| c.sid.as_str() == channel)
        })
        .ok_or_else(|| Reply::not_found(&incoming.path))?;
    let record = state
        .flex
        .channels
        .remove(&interaction)
        .ok_or_else(|| Reply::not_found(&incoming.path))?;
    Ok((interaction, record))
}

fn create(ctx: &Context<'_>, state: &mut Model, incoming: &Incoming) -> Result<Reply, Reply> {
    let params = incoming.params(INTERACTION_PARAMS)?;
    let channel = json_param(&params, "Channel")?;
    let routing = json_param(&params, "Routing")?;
    check_channel(state, &channel)?;
    check_routing(&routing)?;
    let webhook_ttid = params.get("WebhookTtid").map(str::to_owned);
    if let Some(ttid) = &webhook_ttid
        && !interaction_webhooks::interaction_ttid(&state.flex, ttid)
    {
        return Err(Reply::invalid(format!(
            "WebhookTtid `{}` is not a registered interaction webhook",
            ttid.escape_default()
        )));
    }
    let sid = Sid::random("KD");
    let channel_sid = Sid::random("UO");
    let task = Sid::random("WT");
    let body = views::interaction(
        ctx,
        &sid,
        &CreatedChannel {
            channel: &channel,
            channel_sid: &channel_sid,
            routing: &routing,
            task: &task,
        },
        webhook_ttid.as_deref(),
    );
    let record = InteractionChannel {
        interaction: sid.clone(),
        sid: channel_sid.clone(),
        kind: channel["type"].as_str().unwrap_or_default().to_owned(),
        status: ChannelStatus::Active,
        media_channel: channel["properties"]["media_channel_sid"]
            .as_str()
            .map(str::to_owned),
        webhook_ttid: webhook_ttid.clone(),
        participants: vec![InteractionParticipant {
            sid: Sid::random("UT"),
            kind: "customer".to_owned(),
            task: None,
            worker: None,
            reservation: None,
        }],
        pending_tasks: vec![task],
    };
    interaction_webhooks::emit(ctx, &mut state.flex, &record, Event::InteractionCreated);
    interaction_webhooks::emit(ctx, &mut state.flex, &record, Event::ChannelCreated);
    state.flex.channels.insert(sid.clone(), record);
    state.interactions.push(RecordedInteraction {
        sid,
        channel,
        routing,
        channel_sid,
        webhook_ttid,
    });
    Ok(Reply::json(StatusCode::CREATED, body))
}

/// `POST …/Channels/{UO}`: `Status` `closed` or `inactive`; `Routing` (`{"status":"closed"}`
/// or `wrapup`) required with `inactive`.
fn update_channel(
    ctx: &Context<'_>,
    state: &mut Model,
    channel: &mut InteractionChannel,
    incoming: &Incoming,
) -> Result<Reply, Reply> {
    let params = incoming.params(&["Status", "Routing"])?;
    let status = params
        .get("Status")
        .ok_or_else(|| Reply::invalid("Missing required parameter Status in the post body"))?;
    let status = match status {
        "closed" => ChannelStatus::Closed,
        "inactive" => ChannelStatus::Inactive,
        other => {
            return Err(Reply::invalid(format!(
                "Invalid Status `{}`: must be closed or inactive",
                other.escape_default()
            )));
        }
    };
    if params.get("Routing").is_some() {
        let routing = json_param(&params, "Routing")?;
        if !matches!(routing["status"].as_str(), Some("closed" | "wrapup")) {
            return Err(Reply::invalid("Routing.status must be closed or wrapup"));
        }
    } else if status == ChannelStatus::Inactive {
        return Err(Reply::invalid(
            "Routing is required when Status is inactive",
        ));
    }
    refuse_closed(channel)?;
    if status == ChannelStatus::Closed {
        channel.pending_tasks.clear();
        if let Some(conversation) = channel
            .media_channel
            .as_deref()
            .and_then(|raw| Sid::parse("CH", raw).ok())
            .and_then(|sid| state.conversations.get_mut(&sid))
        {
            conversation.state = ConversationState::Closed;
        }
    }
    set_status(ctx, &mut state.flex, channel, status);
    Ok(Reply::json(StatusCode::OK, channel_view(ctx, channel)))
}

fn refuse_closed(channel: &InteractionChannel) -> Result<(), Reply> {
    if channel.status == ChannelStatus::Closed {
        return Err(Reply::invalid(format!(
            "Interaction Channel {} is closed",
            channel.sid
        )));
    }
    Ok(())
}

fn list_participants(
    ctx: &Context<'_>,
    channel: &InteractionChannel,
    incoming: &Incoming,
) -> Result<Reply, Reply> {
    form_rules::check_query(incoming, &["PageSize", "Page", "PageToken"])?;
    let (page, page_size) = paging(incoming, 1000)?;
    let list_url = format!(
        "{}/v1/Interactions/{}/Channels/{}/Participants",
        ctx.base_url, channel.interaction, channel.sid
    );
    let all = &channel.participants;
    let (range, meta) = form_rules::page(&list_url, "participants", page, page_size, all.len());
    let items: Vec<Value> = all[range]
        .iter()
        .map(|p| participant_view(ctx, channel, p))
        .collect();
    Ok(Reply::json(
        StatusCode::OK,
        json!({ "meta": meta, "participants": items }),
    ))
}

/// `POST …/Participants/{UT}` with `Status` `closed` or `wrapup`: the participant leaves.
fn update_participant(
    ctx: &Context<'_>,
    state: &mut Model,
    channel: &mut InteractionChannel,
    incoming: &Incoming,
    raw: &str,
) -> Result<Reply, Reply> {
    let index = channel
        .participants
        .iter()
        .position(|p| p.sid.as_str() == raw)
        .ok_or_else(|| Reply::not_found(&incoming.path))?;
    let params = incoming.params(&["Status"])?;
    match params.get("Status") {
        Some("closed" | "wrapup") => {}
        Some(other) => {
            return Err(Reply::invalid(format!(
                "Invalid Status `{}`: must be closed or wrapup",
                other.escape_default()
            )));
        }
        None => {
            return Err(Reply::invalid(
                "Missing required parameter Status in the post body",
            ));
        }
    }
    refuse_closed(channel)?;
    let participant = channel.participants.remove(index);
    interaction_webhooks::emit(
        ctx,
        &mut state.flex,
        channel,
        Event::ParticipantLeft(&participant),
    );
    Ok(Reply::json(
        StatusCode::OK,
        participant_view(ctx, channel, &participant),
    ))
}

/// `POST …/Invites` with `Routing`: a new task for the channel.
fn invite(
    ctx: &Context<'_>,
    state: &mut Model,
    channel: &mut InteractionChannel,
    incoming: &Incoming,
) -> Result<Reply, Reply> {
    let params = incoming.params(&["Routing"])?;
    let routing = json_param(&params, "Routing")?;
    check_routing(&routing)?;
    refuse_closed(channel)?;
    let sid = Sid::random("KG");
    let task = Sid::random("WT");
    let media = json!({
        "type": channel.kind,
        "initiated_by": "api",
        "properties": { "media_channel_sid": channel.media_channel },
    });
    let routing_view = views::task_routing(
        ctx,
        &channel.interaction,
        &CreatedChannel {
            channel: &media,
            channel_sid: &channel.sid,
            routing: &routing,
            task: &task,
        },
    );
    channel.pending_tasks.push(task.clone());
    state.flex.invites.push(InteractionInvite {
        sid: sid.clone(),
        interaction: channel.interaction.clone(),
        channel: channel.sid.clone(),
        routing,
        task,
    });
    Ok(Reply::json(
        StatusCode::CREATED,
        json!({
            "sid": sid.as_str(),
            "interaction_sid": channel.interaction.as_str(),
            "channel_sid": channel.sid.as_str(),
            "routing": routing_view,
            "url": format!("{}/Invites/{sid}", channel_url(ctx, channel)),
        }),
    ))
}

fn channel_url(ctx: &Context<'_>, channel: &InteractionChannel) -> String {
    format!(
        "{}/v1/Interactions/{}/Channels/{}",
        ctx.base_url, channel.interaction, channel.sid
    )
}

fn channel_view(ctx: &Context<'_>, channel: &InteractionChannel) -> Value {
    let url = channel_url(ctx, channel);
    json!({
        "sid": channel.sid.as_str(),
        "interaction_sid": channel.interaction.as_str(),
        "type": channel.kind,
        "status": channel.status.as_str(),
        "error_code": null,
        "error_message": null,
        "url": url,
        "links": {
            "participants": format!("{url}/Participants"),
            "invites": format!("{url}/Invites"),
            "transfers": format!("{url}/Transfers"),
        },
    })
}

fn participant_view(
    ctx: &Context<'_>,
    channel: &InteractionChannel,
    p: &InteractionParticipant,
) -> Value {
    let routing = p.task.as_ref().map(|task| {
        json!({
            "task_sid": task.as_str(),
            "worker_sid": p.worker.as_ref().map(Sid::as_str),
            "reservation_sid": p.reservation.as_ref().map(Sid::as_str),
        })
    });
    json!({
        "sid": p.sid.as_str(),
        "type": p.kind,
        "interaction_sid": channel.interaction.as_str(),
        "channel_sid": channel.sid.as_str(),
        "routing_properties": routing,
        "url": format!("{}/Participants/{}", channel_url(ctx, channel), p.sid),
    })
}

/// A required parameter holding a JSON object.
fn json_param(params: &Params<'_>, name: &str) -> Result<Value, Reply> {
    let raw = params.get(name).ok_or_else(|| {
        Reply::invalid(format!(
            "Missing required parameter {name} in the post body"
        ))
    })?;
    let value: Value = serde_json::from_str(raw)
        .map_err(|_| Reply::invalid(format!("{name} must be a JSON object string")))?;
    if !value.is_object() {
        return Err(Reply::invalid(format!(
            "{name} must be a JSON object string"
        )));
    }
    Ok(value)
}

fn check_channel(state: &Model, channel: &Value) -> Result<(), Reply> {
    let kind = channel["type"].as_str().unwrap_or_default();
    if !CHANNEL_TYPES.contains(&kind) {
        return Err(Reply::invalid(format!(
            "Channel.type must be one of {}",
            CHANNEL_TYPES.join(", ")
        )));
    }
    let initiated_by = channel["initiated_by"].as_str().unwrap_or_default();
    if !INITIATORS.contains(&initiated_by) {
        return Err(Reply::invalid(
            "Channel.initiated_by must be customer, agent or api",
        ));
    }
    if initiated_by != "customer" {
        return Ok(());
    }
    let media = channel["properties"]["media_channel_sid"]
        .as_str()
        .ok_or_else(|| {
            Reply::invalid(
                "Channel.properties.media_channel_sid is required when initiated_by is customer",
            )
        })?;
    let record = Sid::parse("CH", media)
        .ok()
        .and_then(|sid| state.conversations.get(&sid))
        .ok_or_else(|| {
            Reply::invalid(format!(
                "Channel.properties.media_channel_sid {media} is not a conversation"
            ))
        })?;
    if record.state == ConversationState::Closed {
        return Err(Reply::invalid(format!("Conversation {media} is closed")));
    }
    if record.participants.is_empty() {
        return Err(Reply::invalid(format!(
            "The customer participant must already be in conversation {media}"
        )));
    }
    Ok(())
}

/// `Routing.properties`: `workspace_sid` (`WS…`) required; `workflow_sid` (`WW…`),
/// `queue_sid` (`WQ…`), `worker_sid` (`WK…`) and `task_channel_unique_name` strings when
/// given; `attributes` an object when given.
fn check_routing(routing: &Value) -> Result<(), Reply> {
    let properties = routing["properties"]
        .as_object()
        .ok_or_else(|| Reply::invalid("Routing.properties is required"))?;
    let workspace = properties
        .get("workspace_sid")
        .and_then(Value::as_str)
        .ok_or_else(|| Reply::invalid("Routing.properties.workspace_sid is required"))?;
    Sid::parse("WS", workspace)
        .map_err(|e| Reply::invalid(format!("Routing.properties.workspace_sid: {e}")))?;
    for (name, prefix) in [
        ("workflow_sid", "WW"),
        ("queue_sid", "WQ"),
        ("worker_sid", "WK"),
    ] {
        if let Some(value) = properties.get(name) {
            let value = value.as_str().ok_or_else(|| {
                Reply::invalid(format!("Routing.properties.{name} must be a string"))
            })?;
            Sid::parse(prefix, value)
                .map_err(|e| Reply::invalid(format!("Routing.properties.{name}: {e}")))?;
        }
    }
    if properties
        .get("task_channel_unique_name")
        .is_some_and(|v| !v.is_string())
    {
        return Err(Reply::invalid(
            "Routing.properties.task_channel_unique_name must be a string",
        ));
    }
    if properties.get("attributes").is_some_and(|v| !v.is_object()) {
        return Err(Reply::invalid(
            "Routing.properties.attributes must be an object",
        ));
    }
    Ok(())
}
