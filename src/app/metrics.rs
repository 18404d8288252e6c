//! The metric names and dimensions the event line publishes (CloudWatch embedded metrics,
//! namespace [`NAMESPACE`]), and the bounded labels of its dimensions. The stack's dashboard,
//! alarms and `flexlex stats` read exactly these; a test checks the dashboard names no other.

use crate::domain::escalation::Escalation;
use crate::domain::plan::Reason;
use crate::outcome::Stage;

/// CloudWatch namespace of the metrics (the stack's alarms and dashboard read it).
pub const NAMESPACE: &str = "flexlex";

/// The dimension every metric has, with the value [`NAMESPACE`].
pub const SERVICE: &str = "Service";
/// The dimension of [`HANDOFF_BY_REASON`]: one of [`HANDOFF_REASONS`].
pub const HANDOFF_REASON: &str = "HandoffReason";
/// The dimension of [`FAILED_BY_STAGE`]: one of [`STAGES`].
pub const STAGE: &str = "Stage";

pub const SIGNATURE_REJECTED: &str = "SignatureRejected";
pub const EVENT_FAILED: &str = "EventFailed";
pub const HANDOFF: &str = "Handoff";
pub const CLOSED: &str = "Closed";
pub const REPLIED: &str = "Replied";
/// A conversation's first bot turn: the bot took the conversation.
pub const CONVERSATION_STARTED: &str = "ConversationStarted";
/// A turn whose intent is one of `FALLBACK_INTENTS`.
pub const FALLBACK_TURN: &str = "FallbackTurn";
/// A turn whose confidence stayed below `HANDOFF_BELOW_CONFIDENCE`.
pub const LOW_CONFIDENCE_TURN: &str = "LowConfidenceTurn";
/// Time in Lex, published only by events that called Lex.
pub const LEX_LATENCY: &str = "LexLatencyMs";
/// Time in Twilio's REST API, published only by events that called it.
pub const TWILIO_LATENCY: &str = "TwilioLatencyMs";
/// One per handoff, under [`SERVICE`] and [`HANDOFF_REASON`].
pub const HANDOFF_BY_REASON: &str = "HandoffByReason";
/// One per failed event, under [`SERVICE`] and [`STAGE`].
pub const FAILED_BY_STAGE: &str = "FailedByStage";

/// Metrics under [`SERVICE`] alone.
pub const SERVICE_METRICS: [&str; 10] = [
    SIGNATURE_REJECTED,
    EVENT_FAILED,
    HANDOFF,
    CLOSED,
    REPLIED,
    CONVERSATION_STARTED,
    FALLBACK_TURN,
    LOW_CONFIDENCE_TURN,
    LEX_LATENCY,
    TWILIO_LATENCY,
];

/// Every value [`HANDOFF_REASON`] takes.
pub const HANDOFF_REASONS: [&str; 8] = [
    "intent",
    "bot_request",
    "escalation_fallbacks",
    "escalation_low_confidence",
    "escalation_negative_sentiment",
    "bot_error",
    "media",
    "no_bot",
];

/// Every value [`STAGE`] takes.
pub const STAGES: [&str; 11] = [
    "enqueue",
    "claim",
    "catch_up",
    "record",
    "reply",
    "close",
    "interaction",
    "remove_webhook",
    "finish",
    "swap_webhooks",
    "take_back",
];

/// The bounded label of a handoff's reason: never an intent name or a Lex error text.
pub fn handoff_reason(reason: &Reason) -> &'static str {
    match reason {
        Reason::Intent(_) => "intent",
        Reason::BotRequested { .. } => "bot_request",
        Reason::Escalation(Escalation::Fallbacks { .. }) => "escalation_fallbacks",
        Reason::Escalation(Escalation::LowConfidence { .. }) => "escalation_low_confidence",
        Reason::Escalation(Escalation::NegativeSentiment { .. }) => "escalation_negative_sentiment",
        Reason::BotError(_) => "bot_error",
        Reason::MediaOnly => "media",
        Reason::NoBot => "no_bot",
    }
}

/// The bounded label of a failure's stage.
pub fn stage(stage: Stage) -> &'static str {
    stage.as_str()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::plan::Via;

    #[test]
    fn labels_are_the_listed_ones() {
        for reason in [
            Reason::Intent("Agent".into()),
            Reason::BotRequested {
                via: Via::CustomPayload,
                detail: Some("vip".into()),
            },
            Reason::Escalation(Escalation::Fallbacks { count: 2 }),
            Reason::Escalation(Escalation::NegativeSentiment { turns: 2 }),
            Reason::BotError("ThrottlingException".into()),
            Reason::MediaOnly,
            Reason::NoBot,
        ] {
            assert!(
                HANDOFF_REASONS.contains(&handoff_reason(&reason)),
                "{reason:?}"
            );
        }
        for s in [
            Stage::Enqueue,
            Stage::Claim,
            Stage::CatchUp,
            Stage::Record,
            Stage::Reply,
            Stage::Close,
            Stage::Interaction,
            Stage::RemoveWebhook,
            Stage::Finish,
            Stage::SwapWebhooks,
            Stage::TakeBack,
        ] {
            assert!(STAGES.contains(&stage(s)), "{s:?}");
        }
    }
}
