//! Conversation timers as Twilio validates and shows them: `Timers.Inactive` and
//! `Timers.Closed` on `POST /v1/Conversations/{CH}` are ISO-8601 durations, at least 1 and 10
//! minutes, and the conversation shows when each will fire as
//! `"timers": {"date_inactive": …, "date_closed": …}` (`{}` when none is set).
//!
//! Sources: `twilio_conversations_v1.json` (`UpdateConversation`: "Minimum value for this
//! timer is 1 minute" / "10 minutes"; the resource examples); error pages 50375
//! ("TimeToInactive should be greater or equal to 1 minute"), 50376 ("TimeToClosed should be
//! greater or equal to 10 minutes"), 50379 / 50380 (not an ISO-8601 duration). Any duration
//! below the minimum is refused, `PT0S` included: Twilio documents `PT0S` as "off" only for the
//! account-wide default timer (`POST /v1/Configuration`), never for a conversation, so the
//! emulator holds a conversation to the documented minimums. No order between the two timers
//! is documented, so none is checked. Written here from those facts alone; the product's
//! parser is separate.

use std::time::{Duration, SystemTime};

use serde_json::{Map, Value, json};

use super::model::{Armed, Timers};
use super::stamps::iso8601;

const INACTIVE_TOO_SHORT: u32 = 50375;
const CLOSED_TOO_SHORT: u32 = 50376;
const INACTIVE_FORMAT: u32 = 50379;
const CLOSED_FORMAT: u32 = 50380;

/// What a request asks of one timer, once validated: its text and its length.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Request(String, Duration);

/// The validated `Timers.*` parameters of one update, applied only once the whole request is
/// known to succeed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TimerParams {
    inactive: Option<Request>,
    closed: Option<Request>,
}

/// A refusal: the error code and Twilio's message.
pub(crate) type Refusal = (u32, String);

impl TimerParams {
    pub fn read(inactive: Option<&str>, closed: Option<&str>) -> Result<Self, Refusal> {
        Ok(Self {
            inactive: inactive
                .map(|raw| {
                    request(
                        raw,
                        60,
                        (INACTIVE_FORMAT, "TimeToInactive"),
                        (INACTIVE_TOO_SHORT, "1 minute"),
                    )
                })
                .transpose()?,
            closed: closed
                .map(|raw| {
                    request(
                        raw,
                        600,
                        (CLOSED_FORMAT, "TimeToClosed"),
                        (CLOSED_TOO_SHORT, "10 minutes"),
                    )
                })
                .transpose()?,
        })
    }

    pub fn apply(self, timers: &mut Timers, now: SystemTime) {
        let arm = |Request(text, length): Request| Armed {
            duration: text,
            fires_at: now + length,
        };
        if let Some(request) = self.inactive {
            timers.inactive = Some(arm(request));
        }
        if let Some(request) = self.closed {
            timers.closed = Some(arm(request));
        }
    }
}

fn request(
    raw: &str,
    minimum_secs: u64,
    (format_code, name): (u32, &str),
    (short_code, minimum): (u32, &str),
) -> Result<Request, Refusal> {
    let secs = seconds(raw).ok_or_else(|| {
        (
            format_code,
            format!("'{name}' parameter supports values which are ISO8601 durations"),
        )
    })?;
    if secs < minimum_secs {
        return Err((
            short_code,
            format!("'{name}' duration should be greater or equal to {minimum}"),
        ));
    }
    Ok(Request(raw.to_owned(), Duration::from_secs(secs)))
}

/// Seconds in `P[nD][T[nH][nM][nS]]`; `None` for anything else (weeks, months and years
/// included: Twilio documents none of them).
fn seconds(raw: &str) -> Option<u64> {
    let body = raw.strip_prefix('P')?;
    let (days, time) = match body.find('T') {
        Some(at) => (&body[..at], Some(&body[at + 1..])),
        None => (body, None),
    };
    let mut total: u64 = 0;
    let mut any = false;
    if !days.is_empty() {
        let count = days.strip_suffix('D')?;
        total = number(count)?.checked_mul(86_400)?;
        any = true;
    }
    if let Some(mut time) = time {
        if time.is_empty() {
            return None;
        }
        for (unit, factor) in [('H', 3_600u64), ('M', 60), ('S', 1)] {
            if let Some(at) = time.find(unit) {
                total = total.checked_add(number(&time[..at])?.checked_mul(factor)?)?;
                time = &time[at + 1..];
                any = true;
            }
        }
        if !time.is_empty() {
            return None;
        }
    }
    any.then_some(total)
}

fn number(digits: &str) -> Option<u64> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

impl Timers {
    /// The resource's `timers` object.
    pub fn view(&self) -> Value {
        let mut out = Map::new();
        if let Some(armed) = &self.inactive {
            out.insert("date_inactive".into(), json!(iso8601(armed.fires_at)));
        }
        if let Some(armed) = &self.closed {
            out.insert("date_closed".into(), json!(iso8601(armed.fires_at)));
        }
        Value::Object(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_days_hours_minutes_seconds_only() {
        assert_eq!(seconds("PT1M"), Some(60));
        assert_eq!(seconds("PT10M"), Some(600));
        assert_eq!(seconds("P1D"), Some(86_400));
        assert_eq!(seconds("P1DT1H1M1S"), Some(90_061));
        assert_eq!(seconds("PT0S"), Some(0));
        for bad in [
            "", "P", "PT", "1M", "PT1", "P1W", "P1Y", "P1M", "PT1.5M", "PTM", "PT1S1M", "pt1m",
        ] {
            assert_eq!(seconds(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn minimums_and_formats_get_twilios_codes() {
        assert_eq!(TimerParams::read(Some("PT59S"), None).unwrap_err().0, 50375);
        assert_eq!(TimerParams::read(None, Some("PT9M")).unwrap_err().0, 50376);
        assert_eq!(TimerParams::read(Some("soon"), None).unwrap_err().0, 50379);
        assert_eq!(TimerParams::read(None, Some("")).unwrap_err().0, 50380);
        assert!(TimerParams::read(Some("PT1M"), Some("PT10M")).is_ok());
    }

    #[test]
    fn pt0s_is_below_both_minimums_on_a_conversation() {
        for zero in ["PT0S", "P0D", "PT0M", "P0DT0H0M0S"] {
            assert_eq!(
                TimerParams::read(Some(zero), None).unwrap_err(),
                (
                    50375,
                    "'TimeToInactive' duration should be greater or equal to 1 minute".into()
                ),
                "{zero}"
            );
            assert_eq!(
                TimerParams::read(None, Some(zero)).unwrap_err(),
                (
                    50376,
                    "'TimeToClosed' duration should be greater or equal to 10 minutes".into()
                ),
                "{zero}"
            );
        }
        // The inactive timer is checked first, as the parameters are read.
        assert_eq!(
            TimerParams::read(Some("PT0S"), Some("PT0S")).unwrap_err().0,
            50375
        );
    }

    #[test]
    fn set_timers_show_when_they_fire_and_a_later_update_moves_them() {
        let now = SystemTime::UNIX_EPOCH;
        let mut timers = Timers::default();
        assert_eq!(timers.view(), json!({}));
        TimerParams::read(Some("PT1M"), Some("PT10M"))
            .unwrap()
            .apply(&mut timers, now);
        assert_eq!(
            timers.view(),
            json!({"date_inactive": "1970-01-01T00:01:00Z", "date_closed": "1970-01-01T00:10:00Z"})
        );
        TimerParams::read(Some("P1D"), None)
            .unwrap()
            .apply(&mut timers, now);
        assert_eq!(
            timers.view(),
            json!({"date_inactive": "1970-01-02T00:00:00Z", "date_closed": "1970-01-01T00:10:00Z"})
        );
    }
}
