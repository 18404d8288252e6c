//! Conversation timers: Twilio moves a conversation to `inactive`, then `closed`, after the
//! durations set in `Timers.Inactive` and `Timers.Closed` (ISO-8601 durations). Closing idle
//! conversations keeps customers from being stranded in a conversation nobody reads, and keeps
//! participants under Twilio's per-identity limits.
//!
//! This module is pure: the durations (parsed once, at init), the settings, and the decision of
//! which timers to set on the bot's first turn and which to extend at handoff. The REST call is
//! [`crate::ports::conversations::Conversations::set_timers`].
//!
//! Twilio facts (`twilio_conversations_v1.json` at twilio/twilio-oai d50069b,
//! `UpdateConversation`; error pages 50375, 50376, 50377, 50379, 50380 at
//! <https://www.twilio.com/docs/api/errors>):
//! - `Timers.Inactive` and `Timers.Closed` are "ISO8601 duration[s]"; "Minimum value for this
//!   timer is 1 minute" (inactive, else 50375) and "10 minutes" (closed, else 50376). No
//!   maximum and no order between the two timers is documented, so none is imposed here;
//! - nothing documents a value that turns a conversation's timer off. `PT0S` is documented
//!   only for the account-wide default (`DefaultInactiveTimer`, Twilio Support "Default Inactive
//!   Timer in Twilio Conversations Classic"); on a conversation it is below both minimums. So
//!   the bot never sends it: at handoff it *extends* its timers to long durations instead, as
//!   error 50377's own advice reads ("without 'TimeToClosed' or with some big duration to avoid
//!   unexpected movement to 'closed' state").

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::domain::plan::Action;

/// Twilio's minimum for `Timers.Inactive`.
pub const MIN_INACTIVE: Duration = Duration::from_secs(60);
/// Twilio's minimum for `Timers.Closed`.
pub const MIN_CLOSED: Duration = Duration::from_secs(600);

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

    /// `P{days}D`.
    pub fn days(days: u32) -> Self {
        Self {
            text: format!("P{days}D"),
            length: Duration::from_secs(u64::from(days) * 86_400),
        }
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

/// A duration Twilio would refuse for a timer: shorter than its minimum (`PT0S` included).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{shown}` is below Twilio's minimum of {minimum} for {parameter}")]
pub struct BelowMinimum {
    shown: String,
    parameter: &'static str,
    minimum: &'static str,
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

    /// The minimum as Twilio's docs and error pages write it.
    fn minimum_text(self) -> &'static str {
        match self {
            Self::Inactive => "1 minute (PT1M)",
            Self::Closed => "10 minutes (PT10M)",
        }
    }

    /// Whether Twilio accepts `duration` for this timer.
    pub fn check(self, duration: &IsoDuration) -> Result<(), BelowMinimum> {
        if duration.length() >= self.minimum() {
            return Ok(());
        }
        Err(BelowMinimum {
            shown: duration.as_str().to_owned(),
            parameter: self.parameter(),
            minimum: self.minimum_text(),
        })
    }

    /// What the bot's timer becomes at handoff when the operator sets nothing: a day before
    /// the conversation goes inactive (a new message makes it active again), a week before it
    /// closes (see [`AgentTimers`]).
    pub fn agent_default(self) -> IsoDuration {
        match self {
            Self::Inactive => IsoDuration::days(1),
            Self::Closed => IsoDuration::days(7),
        }
    }
}

/// The durations the bot's timers are extended to at handoff (`AGENT_INACTIVE_AFTER`,
/// `AGENT_CLOSE_AFTER`). Long enough that no conversation an agent works on goes inactive or
/// closes under them (a working day and more; a long weekend and a holiday for a parked or
/// asynchronous conversation), short enough that a conversation everybody left — a declined
/// reservation, a lost task — is still closed in the end, as Flex's best practices ask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentTimers {
    pub inactive_after: IsoDuration,
    pub close_after: IsoDuration,
}

impl Default for AgentTimers {
    fn default() -> Self {
        Self {
            inactive_after: Timer::Inactive.agent_default(),
            close_after: Timer::Closed.agent_default(),
        }
    }
}

/// What happens to the timers the bot set once an agent has the conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterHandoff {
    /// Set them to the agent durations: a customer waiting in a queue, or talking to an agent,
    /// must not see the conversation go inactive or close on the bot's short timers. Twilio has
    /// no documented way to turn a conversation's timer off, so they are made long instead.
    Extend(AgentTimers),
    /// Leave them running: the operator wants idle conversations closed even with an agent.
    Keep,
}

impl Default for AfterHandoff {
    fn default() -> Self {
        Self::Extend(AgentTimers::default())
    }
}

/// `INACTIVE_AFTER`, `CLOSE_AFTER`, `TIMERS_AFTER_HANDOFF` and the agent durations. Built by
/// the configuration, which refuses any duration below Twilio's minimum, so every update made
/// from these settings is one Twilio accepts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TimerSettings {
    pub inactive_after: Option<IsoDuration>,
    pub close_after: Option<IsoDuration>,
    pub after_handoff: AfterHandoff,
}

/// The timers one update sets; `None` leaves a timer as it is. Every value is a duration:
/// there is no "off".
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TimerUpdate {
    pub inactive: Option<IsoDuration>,
    pub closed: Option<IsoDuration>,
}

impl TimerUpdate {
    /// The form parameters, inactive first.
    pub fn form(&self) -> Vec<(&'static str, String)> {
        [
            (Timer::Inactive, &self.inactive),
            (Timer::Closed, &self.closed),
        ]
        .into_iter()
        .filter_map(|(timer, value)| {
            value
                .as_ref()
                .map(|d| (timer.parameter(), d.as_str().to_owned()))
        })
        .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.inactive.is_none() && self.closed.is_none()
    }

    /// Whether Twilio accepts every value (the configuration makes sure of it; tests and
    /// debug builds check it).
    pub fn check(&self) -> Result<(), BelowMinimum> {
        if let Some(inactive) = &self.inactive {
            Timer::Inactive.check(inactive)?;
        }
        if let Some(closed) = &self.closed {
            Timer::Closed.check(closed)?;
        }
        Ok(())
    }
}

impl TimerSettings {
    /// Set on the bot's first turn of a conversation; `None` when no timer is configured.
    pub fn on_first_turn(&self) -> Option<TimerUpdate> {
        let update = TimerUpdate {
            inactive: self.inactive_after.clone(),
            closed: self.close_after.clone(),
        };
        (!update.is_empty()).then_some(update)
    }

    /// At handoff: extend what the bot set to the agent durations, unless the operator keeps
    /// them; `None` when there is nothing to do. Only timers this deployment sets are changed,
    /// so a timer set by someone else (a Studio flow, the account default) is left alone.
    pub fn on_handoff(&self) -> Option<TimerUpdate> {
        match &self.after_handoff {
            AfterHandoff::Keep => None,
            AfterHandoff::Extend(agent) => {
                let update = TimerUpdate {
                    inactive: self
                        .inactive_after
                        .as_ref()
                        .map(|_| agent.inactive_after.clone()),
                    closed: self.close_after.as_ref().map(|_| agent.close_after.clone()),
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
    /// Set on the bot's first turn; extended at handoff unless kept.
    Set,
    /// Changed at handoff, for the agent: extended to the agent durations.
    ///
    /// Stored as `cleared`, its name when the handoff turned the timers off (`PT0S`): a
    /// conversation recorded then reads as what it is — the handoff's change was made, nothing
    /// is left to do — and a previous version, during a deploy or after a rollback, still reads
    /// what this one writes. `extended` is read too, for the version that will write it.
    #[serde(rename = "cleared", alias = "extended")]
    Extended,
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
    /// off has nothing to time), extended at handoff only when this deployment set them, and
    /// never twice. `None` means no call at all.
    pub fn step(&self, state: TimersState, action: &Action) -> Option<TimerStep> {
        let step = match (action, state) {
            (Action::Wait, TimersState::Untouched) => {
                self.on_first_turn().map(|update| TimerStep {
                    update,
                    then: TimersState::Set,
                })
            }
            (Action::Handoff(_), TimersState::Set) => self.on_handoff().map(|update| TimerStep {
                update,
                then: TimersState::Extended,
            }),
            _ => None,
        };
        debug_assert!(
            step.as_ref().is_none_or(|s| s.update.check().is_ok()),
            "timer settings below Twilio's minimums: {self:?}"
        );
        step
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

    fn extend() -> AfterHandoff {
        AfterHandoff::default()
    }

    fn extend_to(inactive: &str, closed: &str) -> AfterHandoff {
        AfterHandoff::Extend(AgentTimers {
            inactive_after: IsoDuration::parse(inactive).unwrap(),
            close_after: IsoDuration::parse(closed).unwrap(),
        })
    }

    #[test]
    fn days_are_written_as_twilio_reads_them() {
        assert_eq!(IsoDuration::days(7).as_str(), "P7D");
        assert_eq!(IsoDuration::days(7), IsoDuration::parse("P7D").unwrap());
        assert_eq!(
            AgentTimers::default(),
            AgentTimers {
                inactive_after: IsoDuration::parse("P1D").unwrap(),
                close_after: IsoDuration::parse("P7D").unwrap(),
            }
        );
        assert_eq!(
            TimerSettings::default().after_handoff,
            AfterHandoff::Extend(AgentTimers::default())
        );
    }

    #[test]
    fn twilios_minimums_refuse_pt0s_and_anything_shorter() {
        let d = |raw| IsoDuration::parse(raw).unwrap();
        for (timer, refused, accepted) in [
            (
                Timer::Inactive,
                ["PT0S", "PT59S", "P0D"],
                ["PT1M", "PT60S", "P1D"],
            ),
            (
                Timer::Closed,
                ["PT0S", "PT9M59S", "PT599S"],
                ["PT10M", "PT600S", "P7D"],
            ),
        ] {
            for raw in refused {
                let err = timer.check(&d(raw)).unwrap_err().to_string();
                assert!(
                    err.contains(raw) && err.contains(timer.parameter()),
                    "{err}"
                );
            }
            for raw in accepted {
                assert_eq!(timer.check(&d(raw)), Ok(()), "{raw}");
            }
        }
        assert!(Timer::Closed.check(&d("PT1M")).is_err());
        assert!(
            TimerUpdate {
                inactive: Some(d("PT0S")),
                closed: None
            }
            .check()
            .is_err()
        );
        assert!(
            TimerUpdate {
                inactive: Some(d("PT1M")),
                closed: Some(d("PT5M"))
            }
            .check()
            .is_err()
        );
        assert_eq!(TimerUpdate::default().check(), Ok(()));
        for timer in [Timer::Inactive, Timer::Closed] {
            assert_eq!(timer.check(&timer.agent_default()), Ok(()));
        }
    }

    #[test]
    fn the_first_turn_sets_what_is_configured() {
        let both = settings(Some("PT15M"), Some("P1D"), extend());
        assert_eq!(
            both.on_first_turn().unwrap().form(),
            vec![
                ("Timers.Inactive", "PT15M".to_owned()),
                ("Timers.Closed", "P1D".to_owned())
            ]
        );
        let closed_only = settings(None, Some("PT10M"), extend());
        assert_eq!(
            closed_only.on_first_turn().unwrap().form(),
            vec![("Timers.Closed", "PT10M".to_owned())]
        );
        assert_eq!(TimerSettings::default().on_first_turn(), None);
    }

    #[test]
    fn handoff_extends_only_the_bots_timers_unless_kept() {
        let inactive_only = settings(Some("PT15M"), None, extend());
        assert_eq!(
            inactive_only.on_handoff().unwrap().form(),
            vec![("Timers.Inactive", "P1D".to_owned())]
        );
        let closed_only = settings(None, Some("PT30M"), extend_to("PT8H", "P3D"));
        assert_eq!(
            closed_only.on_handoff().unwrap().form(),
            vec![("Timers.Closed", "P3D".to_owned())]
        );
        let kept = settings(Some("PT15M"), Some("P1D"), AfterHandoff::Keep);
        assert_eq!(kept.on_handoff(), None);
        assert_eq!(TimerSettings::default().on_handoff(), None);
    }

    #[test]
    fn timers_are_set_once_and_extended_only_when_set() {
        use crate::domain::plan::Reason;
        let both = settings(Some("PT15M"), Some("P1D"), extend());
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
        let extended = both.step(TimersState::Set, &handoff).unwrap();
        assert_eq!(extended.then, TimersState::Extended);
        assert_eq!(
            extended.update.form(),
            vec![
                ("Timers.Inactive", "P1D".to_owned()),
                ("Timers.Closed", "P7D".to_owned())
            ]
        );
        assert_eq!(both.step(TimersState::Extended, &handoff), None);
        assert_eq!(both.step(TimersState::Extended, &Action::Wait), None);
        let kept = settings(Some("PT15M"), None, AfterHandoff::Keep);
        assert_eq!(kept.step(TimersState::Set, &handoff), None);
        assert_eq!(
            TimerSettings::default().step(TimersState::Untouched, &Action::Wait),
            None
        );
    }

    #[test]
    fn no_step_ever_sends_pt0s() {
        use crate::domain::plan::Reason;
        let actions = [
            Action::Wait,
            Action::Close(Reason::MediaOnly),
            Action::Handoff(Reason::MediaOnly),
        ];
        let states = [
            TimersState::Untouched,
            TimersState::Set,
            TimersState::Extended,
        ];
        for after in [extend(), extend_to("PT1M", "PT10M"), AfterHandoff::Keep] {
            for (inactive, closed) in [
                (Some("PT1M"), Some("PT10M")),
                (Some("PT15M"), None),
                (None, Some("P1D")),
                (None, None),
            ] {
                let s = settings(inactive, closed, after.clone());
                for state in states {
                    for action in &actions {
                        let Some(step) = s.step(state, action) else {
                            continue;
                        };
                        assert_eq!(step.update.check(), Ok(()));
                        for (_, value) in step.update.form() {
                            assert_ne!(value, "PT0S");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn the_stored_state_reads_old_and_new_names() {
        let read = |raw: &str| serde_json::from_str::<TimersState>(raw).unwrap();
        assert_eq!(read(r#""untouched""#), TimersState::Untouched);
        assert_eq!(read(r#""set""#), TimersState::Set);
        // Recorded when the handoff sent PT0S; the handoff's change is done either way.
        assert_eq!(read(r#""cleared""#), TimersState::Extended);
        assert_eq!(read(r#""extended""#), TimersState::Extended);
        // Written under the name every version reads.
        assert_eq!(
            serde_json::to_string(&TimersState::Extended).unwrap(),
            r#""cleared""#
        );
        assert!(serde_json::from_str::<TimersState>(r#""off""#).is_err());
    }
}
