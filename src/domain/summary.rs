//! What the agent reads first: a compact summary of the bot's part of the conversation, as
//! structured task attributes and one line, and the cut that keeps the task attributes within
//! TaskRouter's size limit.
//!
//! TaskRouter refuses task attributes over its limit, and the limit counts the JSON string as
//! sent, whitespace included (<https://www.twilio.com/docs/taskrouter/limits>, "Resource
//! configuration limits"; the 16 KB figure is the commonly documented one and is not checked
//! against the live page here). A handoff that fails on size would leave the customer with
//! nobody, so the attributes are cut, least useful first, until they fit:
//!
//! 1. the sentiment trend;
//! 2. intents visited, except the last [`INTENTS_KEPT_WHEN_CUT`];
//! 3. the Lex session attributes;
//! 4. slots of intents other than the current one;
//! 5. every text value shortened to [`LONG_VALUE_CHARS`] characters;
//! 6. only who the customer is, why, the summary line and the bot ids and intent remain, each
//!    shortened to [`ESSENTIAL_CHARS`].
//!
//! Each cut made is listed in `attributesTrimmed`, so an agent (and the logs) can tell.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value, json};

use crate::domain::dialog_memory::DialogMemory;

/// TaskRouter's task attributes limit, in bytes of JSON.
pub const TASK_ATTRIBUTES_LIMIT: usize = 16 * 1024;
/// Room kept for what Flex adds to the attributes we send (`conversationSid`, `channelType`,
/// `flexInteractionSid`, `flexInteractionChannelSid`, `direction`, `initiatedBy`, ...).
pub const FLEX_HEADROOM: usize = 1024;
/// The size the attributes we send are cut to.
pub const TASK_ATTRIBUTES_BUDGET: usize = TASK_ATTRIBUTES_LIMIT - FLEX_HEADROOM;
/// Intents kept, the latest, once older ones are cut.
pub const INTENTS_KEPT_WHEN_CUT: usize = 5;
/// Characters a text value keeps at cut 5.
pub const LONG_VALUE_CHARS: usize = 256;
/// Characters an essential value keeps at cut 6.
pub const ESSENTIAL_CHARS: usize = 64;
/// The summary line's length limit: one line an agent reads at a glance.
pub const MAX_SUMMARY_CHARS: usize = 500;

/// The summary of a conversation's bot turns.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub turns: u32,
    pub intents: Vec<String>,
    pub slots: BTreeMap<String, BTreeMap<String, String>>,
    pub fallbacks: u32,
    pub last_confidence: Option<f64>,
    pub sentiment_trend: Vec<String>,
}

impl Summary {
    pub fn of(memory: &DialogMemory) -> Self {
        Self {
            turns: memory.turns,
            intents: memory.intents.clone(),
            slots: memory.slots.clone(),
            fallbacks: memory.fallbacks,
            last_confidence: memory.last_confidence,
            sentiment_trend: memory.sentiments.clone(),
        }
    }

    /// The structured form (`botSummary` in the task attributes).
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("turns".into(), json!(self.turns));
        out.insert("intentsVisited".into(), json!(self.intents));
        out.insert("slotsGathered".into(), json!(self.slots));
        out.insert("fallbacks".into(), json!(self.fallbacks));
        if let Some(c) = self.last_confidence {
            out.insert("lastConfidence".into(), json!(c));
        }
        out.insert("sentimentTrend".into(), json!(self.sentiment_trend));
        Value::Object(out)
    }

    /// `5 turns · OrderFlowers → Agent · FlowerType=roses · 1 fallback · confidence 0.62 ·
    /// sentiment NEUTRAL→NEGATIVE`: parts with nothing to say are left out. A slot name used by
    /// two intents is qualified with its intent.
    pub fn line(&self) -> String {
        let plural =
            |n: u32, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        let mut parts = vec![plural(self.turns, "turn", "turns")];
        if !self.intents.is_empty() {
            parts.push(self.intents.join(" → "));
        }
        let mut slot_names: BTreeMap<&str, usize> = BTreeMap::new();
        for slot in self.slots.values().flat_map(BTreeMap::keys) {
            *slot_names.entry(slot).or_default() += 1;
        }
        let slots: Vec<String> = self
            .slots
            .iter()
            .flat_map(|(intent, slots)| {
                let slot_names = &slot_names;
                slots.iter().map(move |(slot, value)| {
                    if slot_names.get(slot.as_str()).copied().unwrap_or(0) > 1 {
                        format!("{intent}.{slot}={value}")
                    } else {
                        format!("{slot}={value}")
                    }
                })
            })
            .collect();
        if !slots.is_empty() {
            parts.push(slots.join(", "));
        }
        if self.fallbacks > 0 {
            parts.push(plural(self.fallbacks, "fallback", "fallbacks"));
        }
        if let Some(c) = self.last_confidence {
            parts.push(format!("confidence {c:.2}"));
        }
        let mut trend: Vec<&str> = Vec::new();
        for label in &self.sentiment_trend {
            if trend.last() != Some(&label.as_str()) {
                trend.push(label);
            }
        }
        if !trend.is_empty() {
            parts.push(format!("sentiment {}", trend.join("→")));
        }
        shorten(&parts.join(" · "), MAX_SUMMARY_CHARS)
    }
}

/// `text` cut to `max` characters on a character boundary, with `…` when cut.
pub fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// One cut made to fit the budget, in the order they are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    SentimentTrend,
    OlderIntents,
    SessionAttributes,
    OtherIntentSlots,
    LongValues,
    Essentials,
}

impl Cut {
    pub const ORDER: [Cut; 6] = [
        Cut::SentimentTrend,
        Cut::OlderIntents,
        Cut::SessionAttributes,
        Cut::OtherIntentSlots,
        Cut::LongValues,
        Cut::Essentials,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::SentimentTrend => "sentimentTrend",
            Self::OlderIntents => "olderIntents",
            Self::SessionAttributes => "sessionAttributes",
            Self::OtherIntentSlots => "otherIntentSlots",
            Self::LongValues => "longValues",
            Self::Essentials => "essentials",
        }
    }
}

impl fmt::Display for Cut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Bytes of the attributes as sent (compact JSON).
pub fn size_of(attributes: &Map<String, Value>) -> usize {
    serde_json::to_string(attributes).map_or(usize::MAX, |s| s.len())
}

/// Cuts `attributes` (shaped by `handoff::handoff_attributes`) in the documented order until they
/// fit `budget` bytes; returns the cuts made. The last cut always fits any budget of a few
/// hundred bytes or more.
pub fn fit_task_attributes(attributes: &mut Map<String, Value>, budget: usize) -> Vec<Cut> {
    let mut cuts = Vec::new();
    for cut in Cut::ORDER {
        if size_of(attributes) <= budget {
            break;
        }
        apply(cut, attributes);
        cuts.push(cut);
        let names: Vec<&str> = cuts.iter().map(|c| c.as_str()).collect();
        attributes.insert("attributesTrimmed".into(), json!(names));
    }
    cuts
}

fn apply(cut: Cut, attributes: &mut Map<String, Value>) {
    match cut {
        Cut::SentimentTrend => {
            if let Some(Value::Object(summary)) = attributes.get_mut("botSummary") {
                summary.remove("sentimentTrend");
            }
        }
        Cut::OlderIntents => {
            if let Some(Value::Array(intents)) = attributes
                .get_mut("botSummary")
                .and_then(|s| s.get_mut("intentsVisited"))
            {
                let excess = intents.len().saturating_sub(INTENTS_KEPT_WHEN_CUT);
                intents.drain(..excess);
            }
        }
        Cut::SessionAttributes => {
            if let Some(Value::Object(lex)) = attributes.get_mut("lex") {
                lex.remove("sessionAttributes");
            }
        }
        Cut::OtherIntentSlots => {
            let current = attributes
                .get("lex")
                .and_then(|l| l.get("intent"))
                .and_then(Value::as_str)
                .map(str::to_owned);
            if let Some(Value::Object(lex)) = attributes.get_mut("lex") {
                lex.remove("otherIntentSlots");
                if let Some(Value::Object(gathered)) = lex.get_mut("gatheredSlots") {
                    gathered.retain(|intent, _| Some(intent) == current.as_ref());
                }
            }
            if let Some(Value::Object(slots)) = attributes
                .get_mut("botSummary")
                .and_then(|s| s.get_mut("slotsGathered"))
            {
                slots.retain(|intent, _| Some(intent) == current.as_ref());
            }
        }
        Cut::LongValues => {
            for value in attributes.values_mut() {
                shorten_strings(value, LONG_VALUE_CHARS);
            }
        }
        Cut::Essentials => {
            const TOP: [&str; 6] = [
                "from",
                "customerName",
                "customerAddress",
                "handoffReason",
                "handoffDetail",
                "summary",
            ];
            const LEX: [&str; 5] = ["botId", "botAliasId", "localeId", "intent", "intentState"];
            let mut kept = Map::new();
            for key in TOP {
                if let Some(Value::String(s)) = attributes.get(key) {
                    kept.insert(key.into(), json!(shorten(s, ESSENTIAL_CHARS)));
                }
            }
            let lex: Map<String, Value> = LEX
                .iter()
                .filter_map(|key| {
                    let s = attributes.get("lex")?.get(*key)?.as_str()?;
                    Some(((*key).to_owned(), json!(shorten(s, ESSENTIAL_CHARS))))
                })
                .collect();
            kept.insert("lex".into(), Value::Object(lex));
            *attributes = kept;
        }
    }
}

fn shorten_strings(value: &mut Value, max: usize) {
    match value {
        Value::String(s) if s.chars().count() > max => *s = shorten(s, max),
        Value::Array(items) => items.iter_mut().for_each(|v| shorten_strings(v, max)),
        Value::Object(map) => map.values_mut().for_each(|v| shorten_strings(v, max)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary() -> Summary {
        Summary {
            turns: 5,
            intents: vec!["OrderFlowers".into(), "Agent".into()],
            slots: BTreeMap::from([(
                "OrderFlowers".into(),
                BTreeMap::from([
                    ("FlowerType".into(), "roses".into()),
                    ("PickupDate".into(), "2026-11-28".into()),
                ]),
            )]),
            fallbacks: 1,
            last_confidence: Some(0.62),
            sentiment_trend: vec!["NEUTRAL".into(), "NEUTRAL".into(), "NEGATIVE".into()],
        }
    }

    #[test]
    fn the_line_reads_at_a_glance() {
        assert_eq!(
            summary().line(),
            "5 turns · OrderFlowers → Agent · FlowerType=roses, PickupDate=2026-11-28 · 1 fallback · confidence 0.62 · sentiment NEUTRAL→NEGATIVE"
        );
        let bare = Summary {
            turns: 1,
            intents: vec![],
            slots: BTreeMap::new(),
            fallbacks: 0,
            last_confidence: None,
            sentiment_trend: vec![],
        };
        assert_eq!(bare.line(), "1 turn");
    }

    #[test]
    fn a_slot_name_in_two_intents_is_qualified() {
        let s = Summary {
            slots: BTreeMap::from([
                ("A".into(), BTreeMap::from([("Date".into(), "1".into())])),
                (
                    "B".into(),
                    BTreeMap::from([("Date".into(), "2".into()), ("X".into(), "y".into())]),
                ),
            ]),
            fallbacks: 2,
            ..summary()
        };
        assert_eq!(
            s.line(),
            "5 turns · OrderFlowers → Agent · A.Date=1, B.Date=2, X=y · 2 fallbacks · confidence 0.62 · sentiment NEUTRAL→NEGATIVE"
        );
    }

    #[test]
    fn the_line_is_bounded() {
        let s = Summary {
            slots: BTreeMap::from([(
                "A".into(),
                BTreeMap::from([("Note".into(), "n".repeat(2000))]),
            )]),
            ..summary()
        };
        let line = s.line();
        assert_eq!(line.chars().count(), MAX_SUMMARY_CHARS);
        assert!(line.ends_with('…'));
    }

    #[test]
    fn the_structured_form_has_every_field() {
        assert_eq!(
            summary().to_json(),
            json!({
                "turns": 5,
                "intentsVisited": ["OrderFlowers", "Agent"],
                "slotsGathered": {"OrderFlowers": {"FlowerType": "roses", "PickupDate": "2026-11-28"}},
                "fallbacks": 1,
                "lastConfidence": 0.62,
                "sentimentTrend": ["NEUTRAL", "NEUTRAL", "NEGATIVE"]
            })
        );
    }

    fn attributes(session_value: usize, intents: usize, other_slot: usize) -> Map<String, Value> {
        let intents: Vec<String> = (0..intents).map(|i| format!("Intent{i}")).collect();
        let value = json!({
            "from": "+15551234567",
            "customerName": "Ada",
            "customerAddress": "+15551234567",
            "handoffReason": "intent:Agent",
            "summary": "3 turns",
            "botSummary": {
                "turns": 3,
                "intentsVisited": intents,
                "slotsGathered": {
                    "Agent": {"Topic": "billing"},
                    "OrderFlowers": {"Note": "o".repeat(other_slot)}
                },
                "fallbacks": 0,
                "sentimentTrend": ["NEUTRAL", "NEGATIVE"]
            },
            "lex": {
                "botId": "ABCDEFGHIJ", "botAliasId": "TSTALIASID", "localeId": "en_US",
                "intent": "Agent", "intentState": "ReadyForFulfillment",
                "slots": {"Topic": "billing"},
                "otherIntentSlots": {"OrderFlowers": {"Note": "o".repeat(other_slot)}},
                "sessionAttributes": {"blob": "s".repeat(session_value)}
            }
        });
        match value {
            Value::Object(map) => map,
            _ => unreachable!(),
        }
    }

    #[test]
    fn attributes_within_budget_are_untouched() {
        let mut a = attributes(10, 3, 10);
        let before = a.clone();
        assert_eq!(fit_task_attributes(&mut a, TASK_ATTRIBUTES_BUDGET), vec![]);
        assert_eq!(a, before);
    }

    #[test]
    fn oversized_session_attributes_are_cut_after_the_trend_and_old_intents() {
        let mut a = attributes(20_000, 12, 10);
        let cuts = fit_task_attributes(&mut a, TASK_ATTRIBUTES_BUDGET);
        assert_eq!(
            cuts,
            [
                Cut::SentimentTrend,
                Cut::OlderIntents,
                Cut::SessionAttributes
            ]
        );
        assert!(size_of(&a) <= TASK_ATTRIBUTES_BUDGET);
        assert_eq!(a["botSummary"].get("sentimentTrend"), None);
        assert_eq!(
            a["botSummary"]["intentsVisited"],
            json!(["Intent7", "Intent8", "Intent9", "Intent10", "Intent11"])
        );
        assert_eq!(a["lex"].get("sessionAttributes"), None);
        assert_eq!(
            a["lex"]["otherIntentSlots"]["OrderFlowers"]["Note"],
            "oooooooooo"
        );
        assert_eq!(
            a["attributesTrimmed"],
            json!(["sentimentTrend", "olderIntents", "sessionAttributes"])
        );
    }

    #[test]
    fn other_intents_slots_go_next_and_the_current_intents_stay() {
        let mut a = attributes(10, 3, 9_000);
        let cuts = fit_task_attributes(&mut a, TASK_ATTRIBUTES_BUDGET);
        assert_eq!(
            cuts,
            [
                Cut::SentimentTrend,
                Cut::OlderIntents,
                Cut::SessionAttributes,
                Cut::OtherIntentSlots
            ]
        );
        assert_eq!(a["lex"].get("otherIntentSlots"), None);
        assert_eq!(
            a["botSummary"]["slotsGathered"],
            json!({"Agent": {"Topic": "billing"}})
        );
        assert!(size_of(&a) <= TASK_ATTRIBUTES_BUDGET);
    }

    #[test]
    fn long_values_then_essentials_make_anything_fit() {
        let mut a = attributes(10, 3, 10);
        a.insert("customerName".into(), json!("N".repeat(30_000)));
        let cuts = fit_task_attributes(&mut a, TASK_ATTRIBUTES_BUDGET);
        assert_eq!(cuts.last(), Some(&Cut::LongValues));
        assert_eq!(
            a["customerName"].as_str().unwrap().chars().count(),
            LONG_VALUE_CHARS
        );
        assert!(size_of(&a) <= TASK_ATTRIBUTES_BUDGET);

        let mut huge = attributes(10, 3, 10);
        if let Some(Value::Object(lex)) = huge.get_mut("lex") {
            let many: Map<String, Value> = (0..2_000)
                .map(|i| (format!("Slot{i}"), json!("v")))
                .collect();
            lex.insert("slots".into(), Value::Object(many));
        }
        let cuts = fit_task_attributes(&mut huge, TASK_ATTRIBUTES_BUDGET);
        assert_eq!(cuts, Cut::ORDER);
        assert_eq!(
            huge,
            match json!({
                "from": "+15551234567",
                "customerName": "Ada",
                "customerAddress": "+15551234567",
                "handoffReason": "intent:Agent",
                "summary": "3 turns",
                "lex": {
                    "botId": "ABCDEFGHIJ", "botAliasId": "TSTALIASID", "localeId": "en_US",
                    "intent": "Agent", "intentState": "ReadyForFulfillment"
                },
                "attributesTrimmed": ["sentimentTrend", "olderIntents", "sessionAttributes",
                    "otherIntentSlots", "longValues", "essentials"]
            }) {
                Value::Object(map) => map,
                _ => unreachable!(),
            }
        );
    }

    #[test]
    fn shortening_respects_characters() {
        assert_eq!(shorten("héllo", 5), "héllo");
        assert_eq!(shorten("héllo!", 5), "héll…");
    }
}
