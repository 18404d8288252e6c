//! The decisions, and nothing else: given what the bot said (or that it failed) and the
//! configured behaviour, which texts to post and which single action ends the turn.
//! Pure functions, so every rule is a unit test.

use crate::domain::behaviour::{Behaviour, BotErrorAction, MediaAction};
use crate::domain::bot::{BotError, BotMessage, BotTurn, DialogAction, IntentState};
use crate::domain::dialog_memory::{DialogMemory, Observed};
use crate::domain::escalation::escalation;
use crate::domain::plan::{ACTION_ATTRIBUTE, Action, Plan, REASON_ATTRIBUTE, Reason, Reply, Via};
use crate::domain::render::render;

/// The reply for one bot message; `None` for what is not for the customer (custom payloads,
/// blank text, an empty card).
fn reply(message: &BotMessage) -> Option<Reply> {
    let text = render(message)?;
    Some(match message {
        BotMessage::Card(card) => Reply::Card(card.clone()),
        _ => Reply::Text(text),
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Requested {
    Handoff,
    Close,
}

fn parse_requested(raw: &str) -> Option<Requested> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "handoff" | "agent" | "escalate" => Some(Requested::Handoff),
        "close" | "end" => Some(Requested::Close),
        _ => None,
    }
}

/// A flexlex custom payload: `{"flexlex": {"action": "handoff", "reason": "..."}}`.
fn custom_payload_request(payload: &str) -> Option<(Requested, Option<String>)> {
    let value: serde_json::Value = serde_json::from_str(payload).ok()?;
    let inner = value.get("flexlex")?;
    let action = parse_requested(inner.get("action")?.as_str()?)?;
    let reason = inner
        .get("reason")
        .and_then(|r| r.as_str())
        .map(str::to_owned);
    Some((action, reason))
}

fn bot_request(turn: &BotTurn) -> Option<(Requested, Via, Option<String>)> {
    let from_payload = turn.messages.iter().rev().find_map(|m| match m {
        BotMessage::CustomPayload(p) => custom_payload_request(p),
        _ => None,
    });
    if let Some((action, reason)) = from_payload {
        return Some((action, Via::CustomPayload, reason));
    }
    let action = parse_requested(turn.session_attributes.get(ACTION_ATTRIBUTE)?)?;
    let reason = turn.session_attributes.get(REASON_ATTRIBUTE).cloned();
    Some((action, Via::SessionAttribute, reason))
}

/// Decides a normal turn. Precedence: an explicit request from the bot, then a handoff intent
/// (unless the bot is still gathering a slot or a confirmation for it), then a close intent
/// that is ready or fulfilled; otherwise wait.
fn plan_turn(turn: &BotTurn, behaviour: &Behaviour) -> Plan {
    let messages: Vec<Reply> = turn.messages.iter().filter_map(reply).collect();

    let action = if let Some((requested, via, detail)) = bot_request(turn) {
        let reason = Reason::BotRequested { via, detail };
        match requested {
            Requested::Handoff => Action::Handoff(reason),
            Requested::Close => Action::Close(reason),
        }
    } else if let Some(intent) = &turn.intent {
        let still_asking = matches!(
            turn.dialog_action,
            Some(DialogAction::ElicitSlot(_)) | Some(DialogAction::ConfirmIntent)
        );
        let terminal = matches!(
            intent.state,
            IntentState::ReadyForFulfillment | IntentState::Fulfilled
        );
        if behaviour.handoff_intents.iter().any(|n| n == &intent.name) && !still_asking {
            Action::Handoff(Reason::Intent(intent.name.clone()))
        } else if behaviour.close_intents.iter().any(|n| n == &intent.name) && terminal {
            Action::Close(Reason::Intent(intent.name.clone()))
        } else {
            Action::Wait
        }
    } else {
        Action::Wait
    };
    Plan { messages, action }
}

/// The bot failed after retries: the customer gets `BOT_ERROR_MESSAGE` and `ON_BOT_ERROR`.
pub fn plan_bot_error(error: &BotError, behaviour: &Behaviour) -> Plan {
    plan_no_answer(Reason::BotError(error.code().to_owned()), behaviour)
}

/// The webhook URL names no usable bot: the customer still gets `BOT_ERROR_MESSAGE` and
/// `ON_BOT_ERROR`, never silence, with a reason that points at the URL.
pub fn plan_unroutable(behaviour: &Behaviour) -> Plan {
    plan_no_answer(Reason::NoBot, behaviour)
}

fn plan_no_answer(reason: Reason, behaviour: &Behaviour) -> Plan {
    let action = match behaviour.on_bot_error {
        BotErrorAction::Handoff => Action::Handoff(reason),
        BotErrorAction::Close => Action::Close(reason),
        BotErrorAction::Reply => Action::Wait,
    };
    Plan {
        messages: vec![Reply::Text(behaviour.bot_error_message.clone())],
        action,
    }
}

/// Attachments without text: never silence.
pub fn plan_media_only(behaviour: &Behaviour) -> Plan {
    match &behaviour.on_media {
        MediaAction::Reply(text) => Plan {
            messages: vec![Reply::Text(text.clone())],
            action: Action::Wait,
        },
        MediaAction::Handoff => Plan {
            messages: Vec::new(),
            action: Action::Handoff(Reason::MediaOnly),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    use crate::domain::bot::{Button, Card, Intent};

    fn behaviour(extra: &[(&str, &str)]) -> Behaviour {
        crate::testing::config(extra).behaviour
    }

    fn turn(intent: &str, state: IntentState, action: DialogAction) -> BotTurn {
        BotTurn {
            messages: vec![BotMessage::PlainText("reply".into())],
            dialog_action: Some(action),
            intent: Some(Intent {
                name: intent.into(),
                state,
                confirmation: None,
                slots: BTreeMap::new(),
            }),
            ..BotTurn::default()
        }
    }

    #[test]
    fn handoff_intent_hands_off() {
        let p = plan_turn(
            &turn(
                "Agent",
                IntentState::ReadyForFulfillment,
                DialogAction::Close,
            ),
            &behaviour(&[]),
        );
        assert_eq!(p.action, Action::Handoff(Reason::Intent("Agent".into())));
        assert_eq!(p.texts(), ["reply"]);
    }

    #[test]
    fn handoff_intent_still_gathering_a_slot_waits() {
        let t = turn(
            "Agent",
            IntentState::InProgress,
            DialogAction::ElicitSlot(Some("Topic".into())),
        );
        assert_eq!(plan_turn(&t, &behaviour(&[])).action, Action::Wait);
    }

    #[test]
    fn close_intent_closes_only_when_ready_or_fulfilled() {
        let b = behaviour(&[]);
        for state in [IntentState::ReadyForFulfillment, IntentState::Fulfilled] {
            let p = plan_turn(&turn("OrderFlowers", state, DialogAction::Close), &b);
            assert_eq!(
                p.action,
                Action::Close(Reason::Intent("OrderFlowers".into()))
            );
        }
        for state in [
            IntentState::InProgress,
            IntentState::Failed,
            IntentState::FulfillmentInProgress,
        ] {
            let p = plan_turn(
                &turn("OrderFlowers", state, DialogAction::ElicitSlot(None)),
                &b,
            );
            assert_eq!(p.action, Action::Wait);
        }
    }

    #[test]
    fn other_intents_wait_and_configuration_is_honoured() {
        let b = behaviour(&[
            ("HANDOFF_INTENTS", "Human,Escalate"),
            ("CLOSE_INTENTS", "Goodbye"),
        ]);
        assert_eq!(
            plan_turn(
                &turn(
                    "Agent",
                    IntentState::ReadyForFulfillment,
                    DialogAction::Close
                ),
                &b
            )
            .action,
            Action::Wait
        );
        assert!(matches!(
            plan_turn(
                &turn(
                    "Escalate",
                    IntentState::ReadyForFulfillment,
                    DialogAction::Close
                ),
                &b
            )
            .action,
            Action::Handoff(_)
        ));
        assert!(matches!(
            plan_turn(
                &turn("Goodbye", IntentState::Fulfilled, DialogAction::Close),
                &b
            )
            .action,
            Action::Close(_)
        ));
        assert_eq!(plan_turn(&BotTurn::default(), &b).action, Action::Wait);
    }

    #[test]
    fn session_attribute_requests_win_over_intents() {
        let mut t = turn("OrderFlowers", IntentState::Fulfilled, DialogAction::Close);
        t.session_attributes
            .insert(ACTION_ATTRIBUTE.into(), "Handoff".into());
        t.session_attributes
            .insert(REASON_ATTRIBUTE.into(), "vip customer".into());
        assert_eq!(
            plan_turn(&t, &behaviour(&[])).action,
            Action::Handoff(Reason::BotRequested {
                via: Via::SessionAttribute,
                detail: Some("vip customer".into())
            })
        );
        t.session_attributes
            .insert(ACTION_ATTRIBUTE.into(), "close".into());
        assert!(matches!(
            plan_turn(&t, &behaviour(&[])).action,
            Action::Close(Reason::BotRequested { .. })
        ));
        t.session_attributes
            .insert(ACTION_ATTRIBUTE.into(), "dance".into());
        assert_eq!(
            plan_turn(&t, &behaviour(&[])).action,
            Action::Close(Reason::Intent("OrderFlowers".into()))
        );
    }

    #[test]
    fn flexlex_custom_payload_requests_an_action_and_is_not_posted() {
        let mut t = turn("Chat", IntentState::InProgress, DialogAction::ElicitIntent);
        t.messages.push(BotMessage::CustomPayload(
            r#"{"flexlex":{"action":"close","reason":"done"}}"#.into(),
        ));
        t.messages
            .push(BotMessage::CustomPayload(r#"{"other":"thing"}"#.into()));
        let p = plan_turn(&t, &behaviour(&[]));
        assert_eq!(p.texts(), ["reply"]);
        assert_eq!(
            p.action,
            Action::Close(Reason::BotRequested {
                via: Via::CustomPayload,
                detail: Some("done".into())
            })
        );
    }

    #[test]
    fn messages_keep_their_order_across_kinds() {
        let t = BotTurn {
            messages: vec![
                BotMessage::PlainText("one".into()),
                BotMessage::Ssml("<speak>two</speak>".into()),
                BotMessage::Card(Card {
                    title: "three".into(),
                    buttons: vec![Button {
                        text: "A".into(),
                        value: "a".into(),
                    }],
                    ..Card::default()
                }),
                BotMessage::PlainText("four".into()),
            ],
            ..BotTurn::default()
        };
        assert_eq!(
            plan_turn(&t, &behaviour(&[])).texts(),
            ["one", "two", "three\n1. A", "four"]
        );
        let plan = plan_turn(&t, &behaviour(&[]));
        assert!(matches!(&plan.messages[2], Reply::Card(card) if card.title == "three"));
        let blank = BotTurn {
            messages: vec![BotMessage::Card(Card::default())],
            ..BotTurn::default()
        };
        assert_eq!(plan_turn(&blank, &behaviour(&[])).messages, []);
    }

    #[test]
    fn plans_round_trip_and_plans_of_plain_strings_still_read() {
        let plan = Plan {
            messages: vec![
                "hi".into(),
                Reply::Card(Card {
                    title: "Pick".into(),
                    buttons: vec![Button {
                        text: "A".into(),
                        value: "a".into(),
                    }],
                    ..Card::default()
                }),
            ],
            action: Action::Wait,
        };
        let json = serde_json::to_value(&plan).unwrap();
        assert_eq!(json["messages"][0], "hi");
        assert_eq!(serde_json::from_value::<Plan>(json).unwrap(), plan);
        let old: Plan =
            serde_json::from_value(serde_json::json!({"messages": ["a", "b"], "action": "Wait"}))
                .unwrap();
        assert_eq!(old.messages, [Reply::from("a"), Reply::from("b")]);
    }

    #[test]
    fn bot_errors_apologise_then_follow_on_bot_error() {
        let err = BotError::Unavailable {
            code: "ThrottlingException".into(),
            message: "slow down".into(),
        };
        let p = plan_bot_error(&err, &behaviour(&[]));
        assert_eq!(
            p.texts(),
            [crate::domain::behaviour::DEFAULT_BOT_ERROR_MESSAGE]
        );
        assert_eq!(
            p.action,
            Action::Handoff(Reason::BotError("ThrottlingException".into()))
        );
        let p = plan_bot_error(
            &err,
            &behaviour(&[("ON_BOT_ERROR", "close"), ("BOT_ERROR_MESSAGE", "Bye")]),
        );
        assert_eq!(p.texts(), ["Bye"]);
        assert!(matches!(p.action, Action::Close(Reason::BotError(_))));
        assert_eq!(
            plan_bot_error(&err, &behaviour(&[("ON_BOT_ERROR", "reply")])).action,
            Action::Wait
        );
    }

    #[test]
    fn media_only_is_never_silent() {
        let p = plan_media_only(&behaviour(&[]));
        assert_eq!(p.texts(), [crate::domain::behaviour::DEFAULT_MEDIA_REPLY]);
        assert_eq!(p.action, Action::Wait);
        let p = plan_media_only(&behaviour(&[("ON_MEDIA", "handoff")]));
        assert_eq!(p.action, Action::Handoff(Reason::MediaOnly));
    }

    #[test]
    fn reasons_render_for_logs() {
        assert_eq!(Reason::Intent("Agent".into()).to_string(), "intent:Agent");
        assert_eq!(Reason::BotError("X".into()).to_string(), "bot_error:X");
        assert_eq!(Reason::MediaOnly.to_string(), "media_only");
    }
}

/// A turn's plan and what observing it revealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub plan: Plan,
    pub observed: Observed,
}

/// The one call the turn makes: observes `turn` into `memory`, then plans it — [`plan_turn`],
/// then the escalation rules over the memory that now includes `turn`. A bot request or an
/// intent rule keeps its action; only a `Wait` becomes an escalation handoff, with the turn's
/// messages kept.
pub fn decide(turn: &BotTurn, memory: &mut DialogMemory, behaviour: &Behaviour) -> Decision {
    let observed = memory.observe(turn, &behaviour.escalation);
    let plan = plan_turn(turn, behaviour);
    let plan = match escalation(memory, &behaviour.escalation) {
        Some(rule) if plan.action == Action::Wait => Plan {
            action: Action::Handoff(Reason::Escalation(rule)),
            ..plan
        },
        _ => plan,
    };
    Decision { plan, observed }
}
