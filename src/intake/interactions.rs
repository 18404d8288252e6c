//! Flex Interactions events: the doorbell of a take-back (agent → bot).
//!
//! At handoff, with `AFTER_AGENT=bot`, the Interaction is created with the `WebhookTtid` of
//! an `interaction`-type Interactions webhook pointing at the stack (`flexlex connect`
//! registers it), so Flex posts that Interaction's events here, signed with
//! `X-Twilio-Signature` like any webhook (checked before this module sees them). An event
//! that may mean the agent is done (`onParticipantLeft` of a non-customer participant,
//! `onChannelStatusUpdated`) becomes a take-back job in the conversation's FIFO group. The
//! event is only a doorbell: the turn reads the truth back from Twilio's REST API before it
//! acts, so a replayed or stale event changes nothing.
//!
//! | parameter | |
//! |---|---|
//! | `EventType` | required: one of [`EVENTS`] |
//! | `AccountSid` | required |
//! | `InteractionSid` | required (`KD…`) |
//! | `MediaChannelSid` | required: the conversation (`CH…`); other media are not the bot's |
//! | `ParticipantType` | `customer`, `agent`, …: a customer leaving is not the agent being done |
//! | anything else | kept for the job's key only |

use serde_json::{Map, Value};

use crate::domain::ids::{AccountSid, ConversationSid, InteractionSid};
use crate::domain::job::{Job, MessageJob, Route, TakeBack, TakeBackJob};
use crate::domain::message::MessageAdded;
use crate::intake::envelope::Envelope;
use crate::intake::form::FormParams;
use crate::intake::gate::Gate;
use crate::intake::keys::derived_key;
use crate::intake::route::bot_ref;
use crate::intake::webhook::sid;
use crate::outcome::{Ignored, Outcome, Rejected, Trace};

/// Every event an Interactions webhook sends.
pub const EVENTS: &[&str] = &[
    "onInteractionCreated",
    "onChannelCreated",
    "onChannelCreateFailed",
    "onChannelStatusUpdated",
    "onParticipantJoined",
    "onParticipantLeft",
    "onParticipantUpdated",
];

/// The events that may mean the agent is done: what `flexlex connect` subscribes to.
pub const TAKE_BACK_EVENTS: &[&str] = &["onParticipantLeft", "onChannelStatusUpdated"];

/// Whether signed params are an Interactions event rather than a Conversations webhook.
pub fn is_event(params: &FormParams) -> bool {
    params
        .get("EventType")
        .is_some_and(|event| EVENTS.contains(&event))
        && params.get("InteractionSid").is_some()
}

/// Admits a signed Interactions event (pure).
pub(crate) fn admit(
    gate: &Gate<'_>,
    envelope: &Envelope,
    params: &FormParams,
    trace: &mut Trace,
) -> Result<Job, Outcome> {
    let rejected = |why: String| Outcome::Rejected(Rejected::Webhook(why));
    let event = params.get("EventType").unwrap_or_default().to_owned();
    let account = sid(params, "AccountSid", AccountSid::parse)
        .map_err(|e| rejected(format!("interactions event: {e}")))?;
    let interaction = sid(params, "InteractionSid", InteractionSid::parse)
        .map_err(|e| rejected(format!("interactions event: {e}")))?;
    if gate.account.is_some_and(|a| a != &account) {
        return Err(Outcome::Rejected(Rejected::Account));
    }
    if gate.behaviour.after_agent.settings().is_none() {
        tracing::info!(%event, "AFTER_AGENT is none: the conversation stays with Flex");
        return Err(Outcome::Ignored(Ignored::EventType(event)));
    }
    if !TAKE_BACK_EVENTS.contains(&event.as_str())
        || params.get("ParticipantType") == Some("customer")
    {
        return Err(Outcome::Ignored(Ignored::EventType(event)));
    }
    // A voice interaction's media channel is a conference: not a conversation of the bot's.
    let Some(Ok(conversation)) = params.get("MediaChannelSid").map(ConversationSid::parse) else {
        return Err(Outcome::Ignored(Ignored::EventType(event)));
    };
    // Every parameter names the event: a repeat of it maps to the same key.
    let mut pairs: Vec<(&str, &str)> = params
        .pairs()
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    pairs.sort_unstable();
    let flat: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let flat: Vec<&str> = flat.iter().map(String::as_str).collect();
    let key = derived_key("flexlex take-back ", &event, &flat);
    trace.conversation = Some(conversation.to_string());
    trace.message = Some(key.to_string());
    let route = match bot_ref(&envelope.query, &gate.behaviour.default_locale) {
        Ok(bot) => Route::Bot(bot),
        Err(why) => Route::Unroutable(why),
    };
    let message = MessageAdded {
        account,
        conversation,
        message: key,
        author: String::new(),
        body: String::new(),
        participant: None,
        webhook: None,
        source: None,
        client_identity: None,
        media: Vec::new(),
        index: None,
        attributes: Value::Object(Map::new()),
    };
    Ok(Job::TakeBack(TakeBackJob {
        turn: MessageJob {
            message,
            route,
            request_id: envelope.request_id.clone(),
        },
        take_back: TakeBack { interaction, event },
    }))
}
