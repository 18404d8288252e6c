//! What the bridge remembers of one conversation from turn to turn: enough to escalate a
//! conversation that is going badly (streaks), to tell the agent what happened (intents, slots,
//! confidence, sentiment), and to read a reply to the last card (its buttons).
//!
//! Pure and serde-serialisable: the turn code keeps it in the conversation's state item and
//! calls [`DialogMemory::observe`] once per bot turn. Every field has a default, so an
//! item written by an older version still reads.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::domain::bot::{BotMessage, BotTurn, Button};
use crate::domain::escalation_rules::EscalationRules;

/// Sentiment labels kept for the trend shown to the agent.
pub const SENTIMENT_WINDOW: usize = 5;
/// Intents kept in the visited list; older ones are dropped first. Enough for the agent's
/// summary of a long conversation, few enough to keep the state item small.
pub const MAX_INTENTS_KEPT: usize = 20;
/// Lex's label for a negative utterance.
pub const NEGATIVE: &str = "NEGATIVE";

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct DialogMemory {
    /// Bot turns observed.
    pub turns: u32,
    /// Consecutive turns that ended in a fallback intent.
    pub fallback_streak: u32,
    /// Consecutive turns whose confidence was below `HANDOFF_BELOW_CONFIDENCE`.
    pub low_confidence_streak: u32,
    /// Consecutive turns Lex judged `NEGATIVE`.
    pub negative_streak: u32,
    /// Fallback turns in the whole conversation.
    pub fallbacks: u32,
    /// Intents in the order the conversation went through them; a repeat of the previous
    /// intent is not listed again.
    pub intents: Vec<String>,
    /// Intent → slot → value: every slot the customer filled, in any intent, kept when Lex
    /// switches intent (`Agent` mid-order keeps the order's slots).
    pub slots: BTreeMap<String, BTreeMap<String, String>>,
    /// Lex's confidence in the last turn's intent (none for fallback turns).
    pub last_confidence: Option<f64>,
    /// The last [`SENTIMENT_WINDOW`] sentiment labels, oldest first.
    pub sentiments: Vec<String>,
    /// Whether any turn so far carried a sentiment.
    pub sentiment_seen: bool,
    /// The buttons of the card the bot posted last, while it is the bot's latest message: the
    /// customer's next reply may pick one.
    pub choices: Vec<Button>,
}

/// What observing a turn revealed that the caller may want to log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Observed {
    /// `HANDOFF_ON_NEGATIVE_SENTIMENT` is on but the bot has sent no sentiment in this
    /// conversation so far: the alias most likely has sentiment analysis off, and the rule can
    /// never fire. Worth one warning per process, not one per turn.
    pub sentiment_missing: bool,
}

impl DialogMemory {
    /// A new bot episode after an agent: the streaks start again (what the agent settled does
    /// not count against the bot) and no card is pending; intents, slots and totals stay for
    /// the summary.
    pub fn new_episode(&mut self) {
        self.fallback_streak = 0;
        self.low_confidence_streak = 0;
        self.negative_streak = 0;
        self.choices.clear();
    }

    /// Adds one bot turn. Streaks grow while their condition holds and restart at zero when it
    /// stops; a turn that says nothing about a condition (no confidence, no sentiment) leaves
    /// that streak as it was.
    pub fn observe(&mut self, turn: &BotTurn, rules: &EscalationRules) -> Observed {
        self.turns = self.turns.saturating_add(1);

        let intent = turn
            .intent
            .as_ref()
            .map(|i| i.name.as_str())
            .filter(|name| !name.is_empty());
        if let Some(name) = intent
            && self.intents.last().map(String::as_str) != Some(name)
        {
            self.intents.push(name.to_owned());
            if self.intents.len() > MAX_INTENTS_KEPT {
                let excess = self.intents.len() - MAX_INTENTS_KEPT;
                self.intents.drain(..excess);
            }
        }

        let fallback = intent.is_some_and(|name| rules.is_fallback(name));
        if fallback {
            self.fallback_streak = self.fallback_streak.saturating_add(1);
            self.fallbacks = self.fallbacks.saturating_add(1);
        } else {
            self.fallback_streak = 0;
        }

        // Alternatives first, so the current intent's values win where both have a slot.
        for gathered in turn.alternatives.iter().chain(turn.intent.as_ref()) {
            for (slot, value) in &gathered.slots {
                if let Some(value) = value.as_deref().filter(|v| !v.trim().is_empty()) {
                    self.slots
                        .entry(gathered.name.clone())
                        .or_default()
                        .insert(slot.clone(), value.to_owned());
                }
            }
        }

        self.last_confidence = turn.confidence;
        if let (Some(threshold), Some(confidence)) = (rules.below_confidence, turn.confidence) {
            if confidence < threshold.get() {
                self.low_confidence_streak = self.low_confidence_streak.saturating_add(1);
            } else {
                self.low_confidence_streak = 0;
            }
        }

        let sentiment = turn
            .sentiment
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty());
        if let Some(label) = sentiment {
            self.sentiment_seen = true;
            self.sentiments.push(label.to_ascii_uppercase());
            if self.sentiments.len() > SENTIMENT_WINDOW {
                self.sentiments.remove(0);
            }
            if label.eq_ignore_ascii_case(NEGATIVE) {
                self.negative_streak = self.negative_streak.saturating_add(1);
            } else {
                self.negative_streak = 0;
            }
        }

        self.choices = turn
            .messages
            .iter()
            .rev()
            .find_map(|m| match m {
                BotMessage::Card(card) => Some(card.buttons.clone()),
                _ => None,
            })
            .unwrap_or_default();

        Observed {
            sentiment_missing: rules.on_negative_sentiment.is_some() && !self.sentiment_seen,
        }
    }

    /// The intent of the latest turn that had one.
    pub fn current_intent(&self) -> Option<&str> {
        self.intents.last().map(String::as_str)
    }

    /// The value to send the bot for a reply to the last card, if the reply picks a button.
    pub fn choice_for(&self, reply: &str) -> Option<&str> {
        crate::domain::render::choice_value(reply, &self.choices)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::bot::{Intent, IntentState};
    use crate::domain::escalation_rules::Threshold;

    fn intent(name: &str, slots: &[(&str, Option<&str>)]) -> Intent {
        Intent {
            name: name.into(),
            state: IntentState::InProgress,
            confirmation: None,
            slots: slots
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.map(str::to_owned)))
                .collect(),
        }
    }

    fn turn(name: &str) -> BotTurn {
        BotTurn {
            intent: Some(intent(name, &[])),
            ..BotTurn::default()
        }
    }

    #[test]
    fn intents_are_listed_in_order_without_consecutive_repeats() {
        let rules = EscalationRules::default();
        let mut m = DialogMemory::default();
        for name in [
            "OrderFlowers",
            "OrderFlowers",
            "HelpIntent",
            "OrderFlowers",
            "Agent",
        ] {
            m.observe(&turn(name), &rules);
        }
        m.observe(&BotTurn::default(), &rules);
        assert_eq!(
            m.intents,
            ["OrderFlowers", "HelpIntent", "OrderFlowers", "Agent"]
        );
        assert_eq!(m.turns, 6);
        assert_eq!(m.current_intent(), Some("Agent"));
    }

    #[test]
    fn the_visited_list_keeps_the_latest_intents() {
        let rules = EscalationRules::default();
        let mut m = DialogMemory::default();
        for i in 0..(MAX_INTENTS_KEPT + 3) {
            m.observe(&turn(&format!("I{i}")), &rules);
        }
        assert_eq!(m.intents.len(), MAX_INTENTS_KEPT);
        assert_eq!(m.intents[0], "I3");
    }

    #[test]
    fn slots_are_gathered_across_intents_including_alternatives() {
        let rules = EscalationRules::default();
        let mut m = DialogMemory::default();
        m.observe(
            &BotTurn {
                intent: Some(intent(
                    "OrderFlowers",
                    &[("FlowerType", Some("roses")), ("PickupDate", None)],
                )),
                ..BotTurn::default()
            },
            &rules,
        );
        m.observe(
            &BotTurn {
                intent: Some(intent("Agent", &[("Topic", Some(" "))])),
                alternatives: vec![intent(
                    "OrderFlowers",
                    &[
                        ("FlowerType", Some("roses")),
                        ("PickupDate", Some("2026-11-28")),
                    ],
                )],
                ..BotTurn::default()
            },
            &rules,
        );
        assert_eq!(
            serde_json::to_value(&m.slots).unwrap(),
            serde_json::json!({"OrderFlowers": {"FlowerType": "roses", "PickupDate": "2026-11-28"}})
        );
    }

    #[test]
    fn sentiments_keep_a_window_and_flag_a_bot_without_sentiment() {
        let rules = EscalationRules {
            on_negative_sentiment: Some(2),
            ..EscalationRules::default()
        };
        let mut m = DialogMemory::default();
        assert!(m.observe(&turn("A"), &rules).sentiment_missing);
        for label in [
            "NEUTRAL", "negative", "POSITIVE", "MIXED", "NEGATIVE", "NEUTRAL",
        ] {
            let t = BotTurn {
                sentiment: Some(label.into()),
                ..turn("A")
            };
            assert!(!m.observe(&t, &rules).sentiment_missing);
        }
        assert_eq!(
            m.sentiments,
            ["NEGATIVE", "POSITIVE", "MIXED", "NEGATIVE", "NEUTRAL"]
        );
        // Once seen, a turn without sentiment is not a configuration problem.
        assert!(!m.observe(&turn("A"), &rules).sentiment_missing);
        let off = EscalationRules::default();
        assert!(
            !DialogMemory::default()
                .observe(&turn("A"), &off)
                .sentiment_missing
        );
    }

    #[test]
    fn confidence_is_remembered_and_streaks_only_with_a_threshold() {
        let mut m = DialogMemory::default();
        let low = BotTurn {
            confidence: Some(0.2),
            ..turn("A")
        };
        m.observe(&low, &EscalationRules::default());
        assert_eq!(m.last_confidence, Some(0.2));
        assert_eq!(m.low_confidence_streak, 0);
        let rules = EscalationRules {
            below_confidence: Threshold::new(0.5),
            ..EscalationRules::default()
        };
        m.observe(&low, &rules);
        assert_eq!(m.low_confidence_streak, 1);
        m.observe(&turn("FallbackIntent"), &rules);
        assert_eq!(m.last_confidence, None);
        assert_eq!(m.low_confidence_streak, 1);
    }

    #[test]
    fn the_last_card_offers_choices_until_the_bot_says_something_else() {
        let rules = EscalationRules::default();
        let mut m = DialogMemory::default();
        let card = |texts: &[&str]| BotMessage::Card(crate::testing::card("Pick", texts));
        let t = BotTurn {
            messages: vec![
                card(&["A"]),
                card(&["Roses", "Lilies"]),
                BotMessage::PlainText("?".into()),
            ],
            ..turn("OrderFlowers")
        };
        m.observe(&t, &rules);
        assert_eq!(m.choice_for("2"), Some("lilies"));
        assert_eq!(m.choice_for("Roses"), Some("roses"));
        assert_eq!(m.choice_for("A"), None);
        m.observe(&turn("OrderFlowers"), &rules);
        assert_eq!(m.choice_for("2"), None);
    }

    #[test]
    fn memory_round_trips_and_reads_items_with_missing_fields() {
        let rules = EscalationRules::default();
        let mut m = DialogMemory::default();
        m.observe(
            &BotTurn {
                confidence: Some(0.62),
                sentiment: Some("NEUTRAL".into()),
                ..turn("OrderFlowers")
            },
            &rules,
        );
        let json = serde_json::to_value(&m).unwrap();
        assert_eq!(json["lastConfidence"], 0.62);
        assert_eq!(serde_json::from_value::<DialogMemory>(json).unwrap(), m);
        let old: DialogMemory =
            serde_json::from_value(serde_json::json!({"turns": 3, "intents": ["A"]})).unwrap();
        assert_eq!(old.turns, 3);
        assert_eq!(old.fallback_streak, 0);
    }
}
