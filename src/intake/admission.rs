//! Admission: what intake decides about one API Gateway event, purely. Envelope → body and
//! signature → webhook → filters → routing, each an early return with its reason; what passes
//! is a [`Job`], what the turn queue carries.

use crate::domain::behaviour::NotForTheBot;
use crate::domain::job::{Job, MessageJob, Route};
use crate::intake::body::BodyKind;
use crate::intake::envelope::Envelope;
use crate::intake::gate::Gate;
use crate::intake::interactions;
use crate::intake::route::bot_ref;
use crate::intake::signature;
use crate::intake::signed::{self, Signed};
use crate::intake::studio;
use crate::intake::webhook::WebhookEvent;
use crate::outcome::{Ignored, Outcome, Rejected, Trace};

/// Admits one event, or says why not. `public_url` is where a local server was reached, used
/// for the signature when `WEBHOOK_PUBLIC_URL` is not set. Fills `trace` with what it learns.
pub fn admit(
    gate: &Gate<'_>,
    event: serde_json::Value,
    public_url: Option<&str>,
    trace: &mut Trace,
) -> Result<Job, Outcome> {
    let envelope = Envelope::from_value(event)
        .map_err(|e| Outcome::Rejected(Rejected::Envelope(e.to_string())))?;
    trace.request_id.clone_from(&envelope.request_id);

    let behaviour = gate.behaviour;
    let urls = signature::candidate_urls(
        behaviour.webhook_public_url.as_deref().or(public_url),
        &envelope.domain_name,
        &envelope.path,
        &envelope.query,
    );
    let Signed {
        params,
        url: signed_url,
        scheme,
        body,
    } = signed::authenticate(gate.verifier, &envelope, &urls)?;
    trace.signature = Some(scheme.label());
    trace.json_body = body == BodyKind::Json;

    if studio::is_handover(&params) {
        return studio::admit(gate, &envelope, &params, &signed_url, trace);
    }
    if interactions::is_event(&params) {
        return interactions::admit(gate, &envelope, &params, trace);
    }

    let message = match WebhookEvent::from_params(&params) {
        Ok(WebhookEvent::MessageAdded(message)) => *message,
        Ok(WebhookEvent::Other { event_type }) => {
            return Err(Outcome::Ignored(Ignored::EventType(event_type)));
        }
        Err(e) => return Err(Outcome::Rejected(Rejected::Webhook(e.to_string()))),
    };
    trace.conversation = Some(message.conversation.to_string());
    trace.message = Some(message.message.to_string());

    if gate.account.is_some_and(|a| a != &message.account) {
        return Err(Outcome::Rejected(Rejected::Account));
    }
    behaviour
        .screen(&message.author, &message.body, !message.media.is_empty())
        .map_err(|why| {
            Outcome::Ignored(match why {
                NotForTheBot::OwnMessage => Ignored::OwnMessage,
                NotForTheBot::NonCustomer => Ignored::NonCustomer,
                NotForTheBot::Empty => Ignored::EmptyBody,
            })
        })?;

    let route = match bot_ref(&envelope.query, &behaviour.default_locale) {
        Ok(bot) => Route::Bot(bot),
        Err(why) => Route::Unroutable(why),
    };
    Ok(Job::Message(MessageJob {
        message,
        route,
        request_id: envelope.request_id,
    }))
}
