//! The escalation settings, read once at init: which streaks of the conversation's memory
//! hand it to a person ([`crate::domain::escalation`] applies them).

/// A confidence threshold in `0..=1`. Never NaN, which is what makes `Eq` sound.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Threshold(f64);

impl Eq for Threshold {}

impl Threshold {
    /// `None` outside `0..=1` (NaN included).
    pub fn new(value: f64) -> Option<Self> {
        (0.0..=1.0).contains(&value).then_some(Self(value))
    }

    pub fn get(self) -> f64 {
        self.0
    }
}

impl serde::Serialize for Threshold {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.0)
    }
}

/// Parses like [`Threshold::new`]: a stored plan never carries an out-of-range threshold.
impl<'de> serde::Deserialize<'de> for Threshold {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = f64::deserialize(d)?;
        Self::new(value).ok_or_else(|| serde::de::Error::custom("a threshold must be within 0..=1"))
    }
}

/// The escalation settings, read once at init.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscalationRules {
    /// `HANDOFF_AFTER_FALLBACKS`; `None` when 0 (off).
    pub after_fallbacks: Option<u32>,
    /// `FALLBACK_INTENTS`: the intents that mean "the bot did not understand".
    pub fallback_intents: Vec<String>,
    /// `HANDOFF_BELOW_CONFIDENCE`; `None` when unset (off).
    pub below_confidence: Option<Threshold>,
    /// `LOW_CONFIDENCE_TURNS`, at least 1.
    pub low_confidence_turns: u32,
    /// `HANDOFF_ON_NEGATIVE_SENTIMENT`; `None` when unset (off).
    pub on_negative_sentiment: Option<u32>,
}

impl Default for EscalationRules {
    /// Two fallbacks in a row hand off; the confidence and sentiment rules are off.
    fn default() -> Self {
        Self {
            after_fallbacks: Some(2),
            fallback_intents: vec!["FallbackIntent".to_owned()],
            below_confidence: None,
            low_confidence_turns: 2,
            on_negative_sentiment: None,
        }
    }
}

impl EscalationRules {
    pub fn is_fallback(&self, intent: &str) -> bool {
        self.fallback_intents.iter().any(|f| f == intent)
    }
}
