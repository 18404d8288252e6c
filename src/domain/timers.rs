//! Conversation timers: Twilio moves a conversation to `inactive`, then `closed`, after the
//! durations set in `Timers.Inactive` and `Timers.Closed` (ISO-8601 durations). Closing idle
//! conversations keeps customers from being stranded in a conversation nobody reads, and keeps
//! participants under Twilio's per-identity limits.
//!
//! This module is pure: the durations (parsed once, at init), the settings, and the decision of
//! which timers to set on the bot's first turn and which to clear at handoff. The REST call is
//! [`crate::ports::conversations::Conversations::set_timers`].
//!
//! Twilio facts (`twilio_conversations_v1.json`, `POST /v1/Conversations/{Sid}`; error pages
//! 50375, 50376, 50379, 50380 at <https://www.twilio.com/docs/api/errors>):
//! - `Timers.Inactive` minimum 1 minute (50375), `Timers.Closed` minimum 10 minutes (50376);
//! - values are ISO-8601 durations, Twilio's examples being `PT0S`, `PT10M`, `P1D` (50379/50380);
//! - `PT0S` turns a timer off (Twilio Support, "Default Inactive Timer in Twilio Conversations
//!   Classic", for the account default; the same value is used here per conversation).

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::domain::plan::Action;

/// Twilio's minimum for `Timers.Inactive`.
pub const MIN_INACTIVE: Duration = Duration::from_secs(60);
/// Twilio's minimum for `Timers.Closed`.
pub const MIN_CLOSED: Duration = Duration::from_secs(600);
/// The value that turns a timer off.
pub const OFF: &str = "PT0S";

/// A duration written as ISO-8601 `P[nD][T[nH][nM][nS]]`, kept as written so Twilio receives the
/// operator's text. Years, months and weeks are refused: their length depends on the calendar
/// and Twilio documents none of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsoDuration {
    text: String,
    length: Duration,
}

/// Why a duration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{shown}` is not an ISO-8601 duration of days, hours, minutes and seconds (e.g. PT15M, P1D): {reason}"
)]
pub struct DurationError {
    shown: String,
    reason: &'static str,
}

impl IsoDuration {
    pub fn parse(raw: &str) -> Result<Self, DurationError> {
        let fail = |reason| DurationError {
            shown: raw
                .chars()
                .take(32)
                .flat_map(char::escape_default)
                .collect(),
            reason,
        };
        let rest = raw
            .strip_prefix('P')
            .ok_or_else(|| fail("must start with P"))?;
        if rest.is_empty() {
            return Err(fail("has no component"));
        }
        let (date, time) = match rest.split_once('T') {
            Some((_, "")) => return Err(fail("has T but no hours, minutes or seconds")),
            Some((date, time)) => (date, Some(time)),
            None => (rest, None),
        };
        let mut seconds: u64 = 0;
        let mut add = |value: u64, unit: u64| -> Result<(), DurationError> {
            seconds = value
                .checked_mul(unit)
                .and_then(|s| s.checked_add(seconds))
                .ok_or_else(|| fail("is too long"))?;
            Ok(())
        };
        for (value, designator) in components(date).map_err(fail)? {
            match designator {
                'D' => add(value, 86_400)?,
                'Y' | 'M' | 'W' => return Err(fail("years, months and weeks are not accepted")),
                _ => return Err(fail("has an unknown designator before T")),
            }
        }
        if let Some(time) = time {
            let mut last = 0;
            for (value, designator) in components(time).map_err(fail)? {
                let (rank, unit) = match designator {
                    'H' => (1, 3_600),
                    'M' => (2, 60),
                    'S' => (3, 1),
                    _ => return Err(fail("has an unknown designator after T")),
                };
                if rank <= last {
                    return Err(fail(
                        "hours, minutes and seconds must appear once, in order",
                    ));
                }
                last = rank;
                add(value, unit)?;
            }
        }
        Ok(Self {
            text: raw.to_owned(),
            length: Duration::from_secs(seconds),
        })
    }

    pub fn length(&self) -> Duration {
        self.length
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for IsoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// `12D`, `1H30M`: digits then one upper-case designator, repeated. At most one `D` before `T`
/// is checked by the caller through the designators it accepts.
fn components(part: &str) -> Result<Vec<(u64, char)>, &'static str> {
    let mut out = Vec::new();
    let mut digits = String::new();
    for c in part.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else if c.is_ascii_uppercase() {
            if digits.is_empty() {
                return Err("a designator has no number before it");
            }
            if out.iter().any(|(_, d)| *d == c) {
                return Err("a designator appears twice");
            }
            let value = digits.parse().map_err(|_| "a number is too large")?;
            out.push((value, c));
            digits.clear();
        } else if c == '.' || c == ',' {
            return Err("fractions are not accepted");
        } else {
            return Err("has a character that is neither a digit nor a designator");
        }
    }
    if !digits.is_empty() {
        return Err("ends with a number without a designator");
    }
    Ok(out)
}

/// Which of the two timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    Inactive,
    Closed,
}

impl Timer {
    /// The form parameter on `POST /v1/Conversations/{Sid}`.
    pub fn parameter(self) -> &'static str {
        match self {
            Self::Inactive => "Timers.Inactive",
            Self::Closed => "Timers.Closed",
        }
    }

    pub fn minimum(self) -> Duration {
        match self {
            Self::Inactive => MIN_INACTIVE,
            Self::Closed => MIN_CLOSED,
        }
    }
}

/// What happens to the timers the bot set once an agent has the conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterHandoff {
    /// Turn them off: a customer waiting in a queue must not see the conversation go inactive
    /// or close under the agent; Flex closes it when the task completes.
    Clear,
    /// Leave them running: the operator wants idle conversations closed even with an agent.
    Keep,
}

/// `INACTIVE_AFTER`, `CLOSE_AFTER` and `TIMERS_AFTER_HANDOFF`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimerSettings {
    pub inactive_after: Option<IsoDuration>,
    pub close_after: Option<IsoDuration>,
    pub after_handoff: AfterHandoff,
}

impl Default for TimerSettings {
    fn default() -> Self {
        Self {
            inactive_after: None,
            close_after: None,
            after_handoff: AfterHandoff::Clear,
        }
    }
}

/// One timer's new value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimerChange {
    Set(IsoDuration),
    /// Sent as [`OFF`].
    Clear,
}

impl TimerChange {
    /// The form value Twilio receives.
    pub fn value(&self) -> &str {
        match self {
            Self::Set(duration) => duration.as_str(),
            Self::Clear => OFF,
        }
    }
}

/// The timers one update changes; `None` leaves a timer as it is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TimerUpdate {
    pub inactive: Option<TimerChange>,
    pub closed: Option<TimerChange>,
}

impl TimerUpdate {
    /// The form parameters, inactive first.
    pub fn form(&self) -> Vec<(&'static str, String)> {
        [
            (Timer::Inactive, &self.inactive),
            (Timer::Closed, &self.closed),
        ]
        .into_iter()
        .filter_map(|(timer, change)| {
            change
                .as_ref()
                .map(|c| (timer.parameter(), c.value().to_owned()))
        })
        .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.inactive.is_none() && self.closed.is_none()
    }
}

impl TimerSettings {
    /// Set on the bot's first turn of a conversation; `None` when no timer is configured.
    pub fn on_first_turn(&self) -> Option<TimerUpdate> {
        let update = TimerUpdate {
            inactive: self.inactive_after.clone().map(TimerChange::Set),
            closed: self.close_after.clone().map(TimerChange::Set),
        };
        (!update.is_empty()).then_some(update)
    }

    /// At handoff: clear what the bot set, unless the operator keeps them; `None` when there is
    /// nothing to do. Only timers this deployment sets are cleared, so a timer set by someone
    /// else (a Studio flow, the account default) is left alone.
    pub fn on_handoff(&self) -> Option<TimerUpdate> {
        match self.after_handoff {
            AfterHandoff::Keep => None,
            AfterHandoff::Clear => {
                let update = TimerUpdate {
                    inactive: self.inactive_after.as_ref().map(|_| TimerChange::Clear),
                    closed: self.close_after.as_ref().map(|_| TimerChange::Clear),
                };
                (!update.is_empty()).then_some(update)
            }
        }
    }
}

/// What this deployment has done to a conversation's timers, kept in the conversation state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimersState {
    /// Nothing yet: the next turn that leaves the conversation with the bot sets them.
    #[default]
    Untouched,
    /// Set on the bot's first turn; cleared at handoff unless kept.
    Set,
    /// Turned off at handoff.
    Cleared,
}

/// The timer update a turn makes, and the state it leaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimerStep {
    pub update: TimerUpdate,
    pub then: TimersState,
}

impl TimerSettings {
    /// Which timers a turn ending in `action` changes, given what was done before: set on the
    /// first turn that leaves the conversation with the bot (a first turn that closes or hands
    /// off has nothing to time), cleared at handoff only when this deployment set them, and
    /// never twice. `None` means no call at all.
    pub fn step(&self, state: TimersState, action: &Action) -> Option<TimerStep> {
        match (action, state) {
            (Action::Wait, TimersState::Untouched) => {
                self.on_first_turn().map(|update| TimerStep {
                    update,
                    then: TimersState::Set,
                })
            }
            (Action::Handoff(_), TimersState::Set) => self.on_handoff().map(|update| TimerStep {
                update,
                then: TimersState::Cleared,
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(raw: &str) -> u64 {
        IsoDuration::parse(raw).unwrap().length().as_secs()
    }

    #[test]
    fn days_hours_minutes_seconds_parse() {
        assert_eq!(secs("PT15M"), 900);
        assert_eq!(secs("P1D"), 86_400);
        assert_eq!(secs("PT1H30M"), 5_400);
        assert_eq!(secs("P2DT3H4M5S"), 2 * 86_400 + 3 * 3_600 + 4 * 60 + 5);
        assert_eq!(secs("PT0S"), 0);
        assert_eq!(secs("PT90M"), 5_400);
        assert_eq!(IsoDuration::parse("PT10M").unwrap().to_string(), "PT10M");
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in [
            "",
            "P",
            "PT",
            "15M",
            "pt15m",
            "PT15m",
            "P1Y",
            "P1M",
            "P1W",
            "P1DT",
            "PT1.5M",
            "PT1,5M",
            "PT-1M",
            "P T1M",
            "PT1M1H",
            "PT1M1M",
            "P1D1D",
            "PTM",
            "PT15",
            "P1H",
            "PT1D",
            "PT99999999999999999999S",
            "P213503982334602D",
        ] {
            assert!(IsoDuration::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn errors_show_the_value_bounded() {
        let err = IsoDuration::parse(&"x".repeat(100))
            .unwrap_err()
            .to_string();
        assert!(err.contains(&"x".repeat(32)));
        assert!(!err.contains(&"x".repeat(33)));
    }

    fn settings(
        inactive: Option<&str>,
        closed: Option<&str>,
        after: AfterHandoff,
    ) -> TimerSettings {
        TimerSettings {
            inactive_after: inactive.map(|d| IsoDuration::parse(d).unwrap()),
            close_after: closed.map(|d| IsoDuration::parse(d).unwrap()),
            after_handoff: after,
        }
    }

    #[test]
    fn the_first_turn_sets_what_is_configured() {
        let both = settings(Some("PT15M"), Some("P1D"), AfterHandoff::Clear);
        assert_eq!(
            both.on_first_turn().unwrap().form(),
            vec![
                ("Timers.Inactive", "PT15M".to_owned()),
                ("Timers.Closed", "P1D".to_owned())
            ]
        );
        let closed_only = settings(None, Some("PT10M"), AfterHandoff::Clear);
        assert_eq!(
            closed_only.on_first_turn().unwrap().form(),
            vec![("Timers.Closed", "PT10M".to_owned())]
        );
        assert_eq!(TimerSettings::default().on_first_turn(), None);
    }

    #[test]
    fn handoff_clears_only_the_bots_timers_unless_kept() {
        let inactive_only = settings(Some("PT15M"), None, AfterHandoff::Clear);
        assert_eq!(
            inactive_only.on_handoff().unwrap().form(),
            vec![("Timers.Inactive", "PT0S".to_owned())]
        );
        let kept = settings(Some("PT15M"), Some("P1D"), AfterHandoff::Keep);
        assert_eq!(kept.on_handoff(), None);
        assert_eq!(TimerSettings::default().on_handoff(), None);
    }

    #[test]
    fn timers_are_set_once_and_cleared_only_when_set() {
        use crate::domain::plan::Reason;
        let both = settings(Some("PT15M"), Some("P1D"), AfterHandoff::Clear);
        let handoff = Action::Handoff(Reason::MediaOnly);
        let close = Action::Close(Reason::MediaOnly);
        let first = both.step(TimersState::Untouched, &Action::Wait).unwrap();
        assert_eq!(first.then, TimersState::Set);
        assert_eq!(
            first.update.form(),
            vec![
                ("Timers.Inactive", "PT15M".to_owned()),
                ("Timers.Closed", "P1D".to_owned())
            ]
        );
        assert_eq!(both.step(TimersState::Set, &Action::Wait), None);
        assert_eq!(both.step(TimersState::Untouched, &close), None);
        assert_eq!(both.step(TimersState::Untouched, &handoff), None);
        assert_eq!(both.step(TimersState::Set, &close), None);
        let cleared = both.step(TimersState::Set, &handoff).unwrap();
        assert_eq!(cleared.then, TimersState::Cleared);
        assert_eq!(
            cleared.update.form(),
            vec![
                ("Timers.Inactive", "PT0S".to_owned()),
                ("Timers.Closed", "PT0S".to_owned())
            ]
        );
        assert_eq!(both.step(TimersState::Cleared, &handoff), None);
        assert_eq!(both.step(TimersState::Cleared, &Action::Wait), None);
        let kept = settings(Some("PT15M"), None, AfterHandoff::Keep);
        assert_eq!(kept.step(TimersState::Set, &handoff), None);
        assert_eq!(
            TimerSettings::default().step(TimersState::Untouched, &Action::Wait),
            None
        );
    }
}
