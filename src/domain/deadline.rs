//! The point in time by which an invocation must have finished its work, and how the Lambda
//! runtime's `Lambda-Runtime-Deadline-Ms` is read.
//!
//! Lambda sends the deadline as Unix epoch milliseconds, at most the function's timeout ahead.
//! Local runtimes get it wrong in several ways: Cargo Lambda sends a duration (`600000`, a time
//! in 1970), the SAM CLI once sent a time in 2072, others send 1970 or fifteen minutes from now.
//! The deadline drives retries, the "too little time for another turn" cut of a batch and the
//! conversation's lease, so a value no real Lambda would send must not be believed: it is
//! replaced by the function's own timeout.

use std::time::{Duration, Instant};

/// Lambda's longest function timeout: no invocation it starts has a deadline further ahead.
pub const LAMBDA_MAX_TIMEOUT: Duration = Duration::from_secs(900);

/// The function's timeout (`FUNCTION_TIMEOUT_SECS`, the stack's `Timeout`): the most an
/// invocation may take. It stands in for a deadline the runtime got wrong and bounds every
/// deadline, and so every lease, of an invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FunctionTimeout(Duration);

/// A timeout Lambda would not accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeoutError {
    #[error("`{0}` is not a whole number of seconds")]
    NotSeconds(String),
    #[error("{0} s is not a Lambda timeout (1 to 900 s)")]
    OutOfRange(u64),
}

impl FunctionTimeout {
    /// The stack's `Timeout`, and Lambda's own default for a function made with SAM.
    pub const DEFAULT: Self = Self(Duration::from_secs(30));

    /// Whole seconds, 1 to 900 as Lambda allows.
    pub fn from_secs(secs: u64) -> Result<Self, TimeoutError> {
        if secs == 0 || secs > LAMBDA_MAX_TIMEOUT.as_secs() {
            return Err(TimeoutError::OutOfRange(secs));
        }
        Ok(Self(Duration::from_secs(secs)))
    }

    /// As the setting is written: whole seconds.
    pub fn parse(raw: &str) -> Result<Self, TimeoutError> {
        let secs = raw
            .trim()
            .parse::<u64>()
            .map_err(|_| TimeoutError::NotSeconds(raw.to_owned()))?;
        Self::from_secs(secs)
    }

    pub fn duration(self) -> Duration {
        self.0
    }
}

/// Why a runtime deadline is not one Lambda sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Oddity {
    /// Already past when the invocation arrived: a duration sent as a time (Cargo Lambda's
    /// `600000`), a time in 1970, a clock far behind.
    Past,
    /// More than Lambda's longest timeout ahead: a time in 2072, a clock far ahead.
    BeyondLambdaMaximum,
}

impl Oddity {
    /// As the log line says it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Past => "already_past",
            Self::BeyondLambdaMaximum => "beyond_lambda_maximum",
        }
    }
}

/// What the runtime's deadline header says, read against the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuntimeDeadline {
    /// A deadline Lambda would send: `left` until it, never more than the function's timeout
    /// (a real deadline is within it anyway; a local runtime's fifteen minutes is not).
    Real { left: Duration },
    /// Not a deadline at all: the header's value, why, and the function's timeout in its place.
    Unknown {
        seen_ms: u64,
        why: Oddity,
        timeout: Duration,
    },
}

impl RuntimeDeadline {
    /// Reads the header's value `raw_ms` at `now_ms` (both Unix epoch milliseconds).
    pub fn read(raw_ms: u64, now_ms: u64, timeout: FunctionTimeout) -> Self {
        let unknown = |why| Self::Unknown {
            seen_ms: raw_ms,
            why,
            timeout: timeout.duration(),
        };
        let Some(ahead_ms) = raw_ms.checked_sub(now_ms).filter(|ms| *ms > 0) else {
            return unknown(Oddity::Past);
        };
        let ahead = Duration::from_millis(ahead_ms);
        if ahead > LAMBDA_MAX_TIMEOUT {
            return unknown(Oddity::BeyondLambdaMaximum);
        }
        Self::Real {
            left: ahead.min(timeout.duration()),
        }
    }

    /// The time the invocation has.
    pub fn left(self) -> Duration {
        match self {
            Self::Real { left } => left,
            Self::Unknown { timeout, .. } => timeout,
        }
    }
}

/// Every retry loop checks this before sleeping, so no work outlives the Lambda invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline(Instant);

impl Deadline {
    /// Time kept back from the runtime's deadline to log the outcome and report an error.
    pub const SAFETY_MARGIN: Duration = Duration::from_millis(500);

    pub fn after(budget: Duration) -> Self {
        Self(Instant::now() + budget)
    }

    /// The invocation's deadline as the runtime announced it (read by [`RuntimeDeadline::read`]),
    /// less the margin.
    pub fn from_runtime(deadline: RuntimeDeadline) -> Self {
        Self::after(deadline.left().saturating_sub(Self::SAFETY_MARGIN))
    }

    pub fn remaining(&self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }

    /// Whether waiting `pause` and then doing at least `then` more still fits.
    pub fn allows(&self, pause: Duration, then: Duration) -> bool {
        self.remaining() > pause + then
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-01T10:20:30Z.
    const NOW: u64 = 1_793_526_030_000;

    fn thirty() -> FunctionTimeout {
        FunctionTimeout::from_secs(30).unwrap()
    }

    #[test]
    fn a_real_lambda_deadline_is_believed() {
        assert_eq!(
            RuntimeDeadline::read(NOW + 29_250, NOW, thirty()),
            RuntimeDeadline::Real {
                left: Duration::from_millis(29_250)
            }
        );
        // The longest function, fifteen minutes, with its whole timeout configured.
        let longest = FunctionTimeout::from_secs(900).unwrap();
        assert_eq!(
            RuntimeDeadline::read(NOW + 900_000, NOW, longest).left(),
            Duration::from_secs(900)
        );
    }

    #[test]
    fn a_duration_sent_as_a_time_is_past_and_gets_the_timeout() {
        // Cargo Lambda 1.9: `Lambda-Runtime-Deadline-Ms: 600000`.
        let reading = RuntimeDeadline::read(600_000, NOW, thirty());
        assert_eq!(
            reading,
            RuntimeDeadline::Unknown {
                seen_ms: 600_000,
                why: Oddity::Past,
                timeout: Duration::from_secs(30)
            }
        );
        assert_eq!(reading.left(), Duration::from_secs(30));
    }

    #[test]
    fn a_time_already_past_or_now_is_unknown() {
        for raw in [0, 1, NOW - 1, NOW] {
            assert_eq!(
                RuntimeDeadline::read(raw, NOW, thirty()),
                RuntimeDeadline::Unknown {
                    seen_ms: raw,
                    why: Oddity::Past,
                    timeout: Duration::from_secs(30)
                },
                "{raw}"
            );
        }
    }

    #[test]
    fn a_time_beyond_lambdas_longest_timeout_is_unknown() {
        // aws-sam-cli#2519: a deadline in 2072.
        let in_2072 = 3_235_000_000_000;
        for raw in [NOW + 900_001, in_2072, u64::MAX] {
            assert_eq!(
                RuntimeDeadline::read(raw, NOW, thirty()),
                RuntimeDeadline::Unknown {
                    seen_ms: raw,
                    why: Oddity::BeyondLambdaMaximum,
                    timeout: Duration::from_secs(30)
                },
                "{raw}"
            );
        }
    }

    #[test]
    fn a_deadline_further_than_the_functions_timeout_is_cut_to_it() {
        // The .NET test tool: fifteen minutes from now, for a 30-second function.
        assert_eq!(
            RuntimeDeadline::read(NOW + 900_000, NOW, thirty()),
            RuntimeDeadline::Real {
                left: Duration::from_secs(30)
            }
        );
    }

    #[test]
    fn timeouts_are_lambdas() {
        assert_eq!(
            FunctionTimeout::parse(" 30 ").map(FunctionTimeout::duration),
            Ok(Duration::from_secs(30))
        );
        assert_eq!(FunctionTimeout::DEFAULT, thirty());
        assert_eq!(
            FunctionTimeout::parse("900").map(FunctionTimeout::duration),
            Ok(LAMBDA_MAX_TIMEOUT)
        );
        assert_eq!(
            FunctionTimeout::parse("0"),
            Err(TimeoutError::OutOfRange(0))
        );
        assert_eq!(
            FunctionTimeout::parse("901"),
            Err(TimeoutError::OutOfRange(901))
        );
        assert_eq!(
            FunctionTimeout::parse("30s"),
            Err(TimeoutError::NotSeconds("30s".into()))
        );
        assert_eq!(
            FunctionTimeout::parse("-5"),
            Err(TimeoutError::NotSeconds("-5".into()))
        );
    }
}
