//! The JSON bodies the emulator answers with, shaped like Twilio's resources.

use serde_json::{Value, json};

use super::model::{ConversationRecord, ParticipantRecord, RecordedMessage};
use super::stamps::new_sid;
use crate::sid::Sid;

pub(crate) struct Context<'a> {
    pub base_url: &'a str,
    pub account: &'a Sid,
    pub chat_service: &'a str,
    /// The Flex instance (`GO…`) the Interactions webhooks belong to.
    pub flex_instance: &'a Sid,
    /// Signs the Interactions events.
    pub auth_token: &'a str,
}

pub(crate) fn conversation(ctx: &Context<'_>, sid: &Sid, c: &ConversationRecord) -> Value {
    let url = format!("{}/v1/Conversations/{sid}", ctx.base_url);
    json!({
        "account_sid": ctx.account.as_str(),
        "chat_service_sid": ctx.chat_service,
        "messaging_service_sid": null,
        "sid": sid.as_str(),
        "friendly_name": c.friendly_name,
        "unique_name": c.unique_name,
        "attributes": c.attributes,
        "state": c.state.as_str(),
        "date_created": c.date_created,
        "date_updated": c.date_updated,
        "timers": c.timers.view(),
        "bindings": null,
        "links": {
            "participants": format!("{url}/Participants"),
            "messages": format!("{url}/Messages"),
            "webhooks": format!("{url}/Webhooks"),
        },
        "url": url,
    })
}

pub(crate) fn participant(ctx: &Context<'_>, conversation: &Sid, p: &ParticipantRecord) -> Value {
    json!({
        "account_sid": ctx.account.as_str(),
        "chat_service_sid": ctx.chat_service,
        "conversation_sid": conversation.as_str(),
        "sid": p.sid.as_str(),
        "identity": p.identity,
        "attributes": p.attributes,
        "messaging_binding": p.binding,
        "role_sid": null,
        "date_created": p.date_created,
        "date_updated": p.date_created,
        "last_read_message_index": null,
        "last_read_timestamp": null,
        "url": format!("{}/v1/Conversations/{conversation}/Participants/{}", ctx.base_url, p.sid),
    })
}

pub(crate) fn message(ctx: &Context<'_>, conversation: &Sid, m: &RecordedMessage) -> Value {
    let url = format!(
        "{}/v1/Conversations/{conversation}/Messages/{}",
        ctx.base_url, m.sid
    );
    json!({
        "account_sid": ctx.account.as_str(),
        "chat_service_sid": ctx.chat_service,
        "conversation_sid": conversation.as_str(),
        "sid": m.sid.as_str(),
        "index": m.index,
        "author": m.author,
        "body": m.body,
        "media": null,
        "attributes": m.attributes,
        "participant_sid": m.participant.as_ref().map(|p| p.as_str()),
        "date_created": m.date_created,
        "date_updated": m.date_created,
        "delivery": null,
        "content_sid": m.content_sid.as_ref().map(Sid::as_str),
        "links": {
            "delivery_receipts": format!("{url}/Receipts"),
            "channel_metadata": format!("{url}/ChannelMetadata"),
        },
        "url": url,
    })
}

/// One page of participants, with Twilio's `meta` block.
pub(crate) fn participant_page(
    ctx: &Context<'_>,
    conversation: &Sid,
    all: &[ParticipantRecord],
    page: usize,
    page_size: usize,
) -> Value {
    let list_url = format!(
        "{}/v1/Conversations/{conversation}/Participants",
        ctx.base_url
    );
    let page_url = |p: usize| format!("{list_url}?PageSize={page_size}&Page={p}");
    let start = page.saturating_mul(page_size).min(all.len());
    let end = start.saturating_add(page_size).min(all.len());
    let items: Vec<Value> = all[start..end]
        .iter()
        .map(|p| participant(ctx, conversation, p))
        .collect();
    let next = (end < all.len()).then(|| format!("{}&PageToken=PT{}", page_url(page + 1), end));
    let previous = (page > 0).then(|| page_url(page - 1));
    json!({
        "meta": {
            "page": page,
            "page_size": page_size,
            "first_page_url": page_url(0),
            "previous_page_url": previous,
            "url": page_url(page),
            "next_page_url": next,
            "key": "participants",
        },
        "participants": items,
    })
}

/// One page of a conversation's messages, already in the requested order.
pub(crate) fn message_page(
    ctx: &Context<'_>,
    conversation: &Sid,
    ordered: &[RecordedMessage],
    descending: bool,
    page: usize,
    page_size: usize,
) -> Value {
    let order = if descending { "desc" } else { "asc" };
    let list_url = format!("{}/v1/Conversations/{conversation}/Messages", ctx.base_url);
    let page_url = |p: usize| format!("{list_url}?Order={order}&PageSize={page_size}&Page={p}");
    let start = page.saturating_mul(page_size).min(ordered.len());
    let end = start.saturating_add(page_size).min(ordered.len());
    let items: Vec<Value> = ordered[start..end]
        .iter()
        .map(|m| message(ctx, conversation, m))
        .collect();
    json!({
        "meta": {
            "page": page,
            "page_size": page_size,
            "first_page_url": page_url(0),
            "previous_page_url": (page > 0).then(|| page_url(page - 1)),
            "url": page_url(page),
            "next_page_url": (end < ordered.len()).then(|| page_url(page + 1)),
            "key": "messages",
        },
        "messages": items,
    })
}

/// A created Interaction: the routing properties echo the TaskRouter task Flex created, whose
/// `attributes` Twilio returns as a JSON string.
pub(crate) fn interaction(
    ctx: &Context<'_>,
    sid: &Sid,
    created: &CreatedChannel<'_>,
    webhook_ttid: Option<&str>,
) -> Value {
    let url = format!("{}/v1/Interactions/{sid}", ctx.base_url);
    json!({
        "sid": sid.as_str(),
        "channel": { "type": created.channel["type"], "sid": created.channel_sid.as_str() },
        "routing": task_routing(ctx, sid, created),
        "interaction_context_sid": null,
        "webhook_ttid": webhook_ttid,
        "url": url,
        "links": { "channels": format!("{url}/Channels") },
    })
}

/// What a new task is made of: the Interaction's `Channel` (type, initiator, media channel),
/// its channel's SID, the `Routing` sent and the task's SID.
pub(crate) struct CreatedChannel<'a> {
    pub channel: &'a Value,
    pub channel_sid: &'a Sid,
    pub routing: &'a Value,
    pub task: &'a Sid,
}

/// The `routing` block of a created Interaction or Invite: the task Flex created, with the
/// attributes Flex adds to the ones sent.
pub(crate) fn task_routing(
    ctx: &Context<'_>,
    interaction: &Sid,
    created: &CreatedChannel<'_>,
) -> Value {
    let properties = &created.routing["properties"];
    let channel = created.channel;
    let conversation = channel["properties"]["media_channel_sid"].clone();
    let mut task_attributes = properties["attributes"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    task_attributes.insert("conversationSid".into(), conversation);
    task_attributes.insert("channelType".into(), channel["type"].clone());
    task_attributes.insert("flexInteractionSid".into(), json!(interaction.as_str()));
    task_attributes.insert(
        "flexInteractionChannelSid".into(),
        json!(created.channel_sid.as_str()),
    );
    task_attributes.insert("direction".into(), json!("inbound"));
    task_attributes.insert("initiatedBy".into(), channel["initiated_by"].clone());
    let queue = properties["queue_sid"]
        .as_str()
        .map_or_else(|| new_sid("WQ"), str::to_owned);
    json!({
        "properties": {
            "sid": created.task.as_str(),
            "account_sid": ctx.account.as_str(),
            "workspace_sid": properties["workspace_sid"],
            "workflow_sid": properties["workflow_sid"],
            "queue_sid": queue,
            "task_channel_unique_name": properties["task_channel_unique_name"],
            "assignment_status": "pending",
            "age": 0,
            "priority": 0,
            "timeout": 86400,
            "attributes": Value::Object(task_attributes).to_string(),
        }
    })
}
