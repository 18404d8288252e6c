//! Escalation: handing a conversation to a person when it is going badly, even though the bot
//! never asked to. Three rules, each a streak kept in [`DialogMemory`]:
//!
//! - `HANDOFF_AFTER_FALLBACKS`: that many turns in a row ended in a fallback intent;
//! - `HANDOFF_BELOW_CONFIDENCE` with `LOW_CONFIDENCE_TURNS`: Lex's confidence stayed below the
//!   threshold that many turns in a row;
//! - `HANDOFF_ON_NEGATIVE_SENTIMENT`: that many turns in a row Lex judged `NEGATIVE`.
//!
//! The decision is pure (`crate::domain::policy::decide`). An explicit request from the bot and the
//! intent rules decide first: escalation only replaces a `Wait`. The bot's messages of the turn
//! are still posted before the handoff, so the customer is never left with an unanswered line.

use std::fmt;

use crate::domain::dialog_memory::DialogMemory;
use crate::domain::escalation_rules::{EscalationRules, Threshold};

/// Which rule fired, with the streak that fired it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Escalation {
    Fallbacks { count: u32 },
    LowConfidence { turns: u32, below: Threshold },
    NegativeSentiment { turns: u32 },
}

impl Escalation {
    /// A sentence for the agent (`handoffDetail`).
    pub fn describe(&self) -> String {
        match self {
            Self::Fallbacks { count } => {
                format!("the bot did not understand {count} messages in a row")
            }
            Self::LowConfidence { turns, below } => format!(
                "the bot was unsure (confidence below {:.2}) {turns} turns in a row",
                below.get()
            ),
            Self::NegativeSentiment { turns } => {
                format!("the customer sounded negative {turns} turns in a row")
            }
        }
    }
}

/// The short form for logs and `handoffReason` (after `escalation:`).
impl fmt::Display for Escalation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Fallbacks { count } => write!(f, "fallbacks:{count}"),
            Self::LowConfidence { turns, .. } => write!(f, "low_confidence:{turns}"),
            Self::NegativeSentiment { turns } => write!(f, "negative_sentiment:{turns}"),
        }
    }
}

/// The first rule whose streak has reached its setting, in the order fallbacks, low confidence,
/// negative sentiment (most certain sign of a stuck bot first).
pub fn escalation(memory: &DialogMemory, rules: &EscalationRules) -> Option<Escalation> {
    if let Some(limit) = rules.after_fallbacks
        && memory.fallback_streak >= limit
    {
        return Some(Escalation::Fallbacks {
            count: memory.fallback_streak,
        });
    }
    if let Some(below) = rules.below_confidence
        && memory.low_confidence_streak >= rules.low_confidence_turns.max(1)
    {
        return Some(Escalation::LowConfidence {
            turns: memory.low_confidence_streak,
            below,
        });
    }
    if let Some(limit) = rules.on_negative_sentiment
        && memory.negative_streak >= limit
    {
        return Some(Escalation::NegativeSentiment {
            turns: memory.negative_streak,
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use crate::domain::behaviour::Behaviour;
    use crate::domain::bot::BotTurn;
    use crate::domain::plan::{Action, Reason};
    use crate::domain::policy::decide;
    use std::collections::BTreeMap;

    use super::*;

    use crate::domain::bot::{BotMessage, DialogAction, Intent, IntentState};
    use crate::domain::plan::{ACTION_ATTRIBUTE, Via};

    fn behaviour(extra: &[(&str, &str)]) -> Behaviour {
        crate::testing::config(extra).behaviour
    }

    fn turn(intent: &str) -> BotTurn {
        BotTurn {
            messages: vec![BotMessage::PlainText(format!("{intent} reply"))],
            dialog_action: Some(DialogAction::ElicitIntent),
            intent: Some(Intent {
                name: intent.into(),
                state: IntentState::InProgress,
                confirmation: None,
                slots: BTreeMap::new(),
            }),
            ..BotTurn::default()
        }
    }

    fn fallback() -> BotTurn {
        turn("FallbackIntent")
    }

    fn confident(c: f64) -> BotTurn {
        BotTurn {
            confidence: Some(c),
            ..turn("OrderFlowers")
        }
    }

    fn feeling(label: &str) -> BotTurn {
        BotTurn {
            sentiment: Some(label.into()),
            ..turn("OrderFlowers")
        }
    }

    /// The action of each turn, played in order through one memory.
    fn play(b: &Behaviour, turns: &[BotTurn]) -> Vec<Action> {
        let mut memory = DialogMemory::default();
        turns
            .iter()
            .map(|t| decide(t, &mut memory, b).plan.action)
            .collect()
    }

    fn handoff(rule: Escalation) -> Action {
        Action::Handoff(Reason::Escalation(rule))
    }

    #[test]
    fn two_fallbacks_in_a_row_hand_off_by_default_with_the_bots_reply() {
        let b = behaviour(&[]);
        let mut memory = DialogMemory::default();
        assert_eq!(
            decide(&fallback(), &mut memory, &b).plan.action,
            Action::Wait
        );
        let second = decide(&fallback(), &mut memory, &b).plan;
        assert_eq!(second.action, handoff(Escalation::Fallbacks { count: 2 }));
        assert_eq!(second.texts(), ["FallbackIntent reply"]);
    }

    #[test]
    fn the_fallback_streak_resets_when_the_bot_understands() {
        let b = behaviour(&[]);
        assert_eq!(
            play(
                &b,
                &[
                    fallback(),
                    turn("OrderFlowers"),
                    fallback(),
                    turn("OrderFlowers")
                ]
            ),
            [Action::Wait, Action::Wait, Action::Wait, Action::Wait]
        );
    }

    #[test]
    fn fallback_settings_are_honoured() {
        let three = behaviour(&[("HANDOFF_AFTER_FALLBACKS", "3")]);
        assert_eq!(
            play(&three, &[fallback(), fallback(), fallback()]),
            [
                Action::Wait,
                Action::Wait,
                handoff(Escalation::Fallbacks { count: 3 })
            ]
        );
        let off = behaviour(&[("HANDOFF_AFTER_FALLBACKS", "0")]);
        assert_eq!(
            play(&off, &[fallback(), fallback(), fallback()]),
            [Action::Wait, Action::Wait, Action::Wait]
        );
        let custom = behaviour(&[("FALLBACK_INTENTS", "Unknown, Confused")]);
        assert_eq!(
            play(&custom, &[turn("Unknown"), turn("Confused")]),
            [Action::Wait, handoff(Escalation::Fallbacks { count: 2 })]
        );
        assert_eq!(
            play(&custom, &[fallback(), fallback()]),
            [Action::Wait, Action::Wait]
        );
    }

    #[test]
    fn low_confidence_needs_its_streak_and_resets_on_a_confident_turn() {
        let b = behaviour(&[("HANDOFF_BELOW_CONFIDENCE", "0.5")]);
        let below = Threshold::new(0.5).unwrap();
        assert_eq!(
            play(&b, &[confident(0.4), confident(0.3)]),
            [
                Action::Wait,
                handoff(Escalation::LowConfidence { turns: 2, below })
            ]
        );
        assert_eq!(
            play(&b, &[confident(0.4), confident(0.5), confident(0.4)]),
            [Action::Wait, Action::Wait, Action::Wait]
        );
        let one = behaviour(&[
            ("HANDOFF_BELOW_CONFIDENCE", "0.7"),
            ("LOW_CONFIDENCE_TURNS", "1"),
        ]);
        assert_eq!(
            play(&one, &[confident(0.69)]),
            [handoff(Escalation::LowConfidence {
                turns: 1,
                below: Threshold::new(0.7).unwrap()
            })]
        );
        assert_eq!(
            play(
                &behaviour(&[]),
                &[confident(0.01), confident(0.01), confident(0.01)]
            ),
            [Action::Wait, Action::Wait, Action::Wait]
        );
    }

    #[test]
    fn a_turn_without_confidence_neither_extends_nor_resets_the_streak() {
        let b = behaviour(&[
            ("HANDOFF_BELOW_CONFIDENCE", "0.5"),
            ("HANDOFF_AFTER_FALLBACKS", "0"),
        ]);
        let below = Threshold::new(0.5).unwrap();
        assert_eq!(
            play(&b, &[confident(0.4), fallback(), confident(0.4)]),
            [
                Action::Wait,
                Action::Wait,
                handoff(Escalation::LowConfidence { turns: 2, below })
            ]
        );
    }

    #[test]
    fn negative_sentiment_streak_hands_off_and_resets_on_other_labels() {
        let b = behaviour(&[("HANDOFF_ON_NEGATIVE_SENTIMENT", "2")]);
        assert_eq!(
            play(&b, &[feeling("NEGATIVE"), feeling("NEGATIVE")]),
            [
                Action::Wait,
                handoff(Escalation::NegativeSentiment { turns: 2 })
            ]
        );
        assert_eq!(
            play(
                &b,
                &[feeling("NEGATIVE"), feeling("MIXED"), feeling("NEGATIVE")]
            ),
            [Action::Wait, Action::Wait, Action::Wait]
        );
        assert_eq!(
            play(
                &b,
                &[
                    feeling("NEGATIVE"),
                    turn("OrderFlowers"),
                    feeling("NEGATIVE")
                ]
            ),
            [
                Action::Wait,
                Action::Wait,
                handoff(Escalation::NegativeSentiment { turns: 2 })
            ]
        );
        assert_eq!(
            play(
                &behaviour(&[]),
                &[
                    feeling("NEGATIVE"),
                    feeling("NEGATIVE"),
                    feeling("NEGATIVE")
                ]
            ),
            [Action::Wait, Action::Wait, Action::Wait]
        );
    }

    #[test]
    fn a_missing_sentiment_is_reported_when_the_rule_is_on() {
        let b = behaviour(&[("HANDOFF_ON_NEGATIVE_SENTIMENT", "2")]);
        let mut memory = DialogMemory::default();
        assert!(
            decide(&turn("A"), &mut memory, &b)
                .observed
                .sentiment_missing
        );
        let mut memory = DialogMemory::default();
        assert!(
            !decide(&turn("A"), &mut memory, &behaviour(&[]))
                .observed
                .sentiment_missing
        );
    }

    #[test]
    fn fallbacks_are_checked_before_confidence_and_sentiment() {
        let b = behaviour(&[
            ("HANDOFF_BELOW_CONFIDENCE", "0.5"),
            ("HANDOFF_ON_NEGATIVE_SENTIMENT", "1"),
        ]);
        let all_bad = BotTurn {
            confidence: Some(0.1),
            sentiment: Some("NEGATIVE".into()),
            ..fallback()
        };
        assert_eq!(
            play(&b, &[all_bad.clone(), all_bad]),
            [
                handoff(Escalation::NegativeSentiment { turns: 1 }),
                handoff(Escalation::Fallbacks { count: 2 })
            ]
        );
        let unsure_and_upset = BotTurn {
            confidence: Some(0.1),
            sentiment: Some("NEGATIVE".into()),
            ..turn("OrderFlowers")
        };
        let c = behaviour(&[
            ("HANDOFF_BELOW_CONFIDENCE", "0.5"),
            ("LOW_CONFIDENCE_TURNS", "1"),
            ("HANDOFF_ON_NEGATIVE_SENTIMENT", "1"),
        ]);
        assert_eq!(
            play(&c, &[unsure_and_upset]),
            [handoff(Escalation::LowConfidence {
                turns: 1,
                below: Threshold::new(0.5).unwrap()
            })]
        );
    }

    #[test]
    fn bot_requests_and_intent_rules_win_over_escalation() {
        let b = behaviour(&[]);
        let mut close_request = fallback();
        close_request
            .session_attributes
            .insert(ACTION_ATTRIBUTE.into(), "close".into());
        assert_eq!(
            play(&b, &[fallback(), close_request]),
            [
                Action::Wait,
                Action::Close(Reason::BotRequested {
                    via: Via::SessionAttribute,
                    detail: None
                })
            ]
        );
        let mut ordered = BotTurn {
            dialog_action: Some(DialogAction::Close),
            ..turn("OrderFlowers")
        };
        if let Some(intent) = &mut ordered.intent {
            intent.state = IntentState::Fulfilled;
        }
        let c = behaviour(&[
            ("HANDOFF_BELOW_CONFIDENCE", "0.9"),
            ("LOW_CONFIDENCE_TURNS", "1"),
        ]);
        assert_eq!(
            play(
                &c,
                &[BotTurn {
                    confidence: Some(0.2),
                    ..ordered
                }]
            ),
            [Action::Close(Reason::Intent("OrderFlowers".into()))]
        );
        let agent = BotTurn {
            dialog_action: Some(DialogAction::Close),
            ..turn("Agent")
        };
        assert_eq!(
            play(&b, &[fallback(), agent]),
            [
                Action::Wait,
                Action::Handoff(Reason::Intent("Agent".into()))
            ]
        );
    }

    #[test]
    fn reasons_name_their_rule_for_logs_and_agents() {
        let rule = Escalation::Fallbacks { count: 2 };
        assert_eq!(
            Reason::Escalation(rule.clone()).to_string(),
            "escalation:fallbacks:2"
        );
        assert_eq!(
            rule.describe(),
            "the bot did not understand 2 messages in a row"
        );
        let low = Escalation::LowConfidence {
            turns: 3,
            below: Threshold::new(0.45).unwrap(),
        };
        assert_eq!(
            Reason::Escalation(low.clone()).to_string(),
            "escalation:low_confidence:3"
        );
        assert_eq!(
            low.describe(),
            "the bot was unsure (confidence below 0.45) 3 turns in a row"
        );
        assert_eq!(
            Reason::Escalation(Escalation::NegativeSentiment { turns: 2 }).to_string(),
            "escalation:negative_sentiment:2"
        );
    }

    #[test]
    fn thresholds_are_between_zero_and_one() {
        assert_eq!(Threshold::new(0.0).map(Threshold::get), Some(0.0));
        assert_eq!(Threshold::new(1.0).map(Threshold::get), Some(1.0));
        assert_eq!(Threshold::new(1.01), None);
        assert_eq!(Threshold::new(-0.1), None);
        assert_eq!(Threshold::new(f64::NAN), None);
    }
}
