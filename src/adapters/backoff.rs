//! How long to wait before repeating a call, for every adapter that retries (Twilio, Lex).

use std::time::Duration;

/// Exponential backoff with jitter: the wait after the `n`-th failure (0-based) is a uniform
/// random time in `[c/2, c]` where `c = min(cap, base · 2ⁿ)`, so concurrent Lambdas hitting the
/// same 429 (or the same busy Lex session) spread out, and none retries at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
    /// Total attempts, the first one included.
    pub max_attempts: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base: Duration::from_millis(100),
            cap: Duration::from_secs(2),
            max_attempts: 5,
        }
    }
}

impl Backoff {
    /// The upper bound of the wait after the `retry`-th failure (0-based).
    pub fn ceiling(&self, retry: u32) -> Duration {
        let factor = 1u32 << retry.min(20);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// A random wait in `[ceiling(retry) / 2, ceiling(retry)]`.
    pub fn jittered(&self, retry: u32) -> Duration {
        let ceiling = u64::try_from(self.ceiling(retry).as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rand::random_range(ceiling / 2..=ceiling))
    }
}

/// The longest `Retry-After` taken at face value; anything longer cannot fit a Lambda anyway.
const RETRY_AFTER_LIMIT: Duration = Duration::from_secs(900);

/// Reads `Retry-After` given in seconds (Twilio sends whole seconds; fractions are accepted).
/// The HTTP-date form is ignored: the jittered backoff applies instead.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let seconds: f64 = value.trim().parse().ok()?;
    if !seconds.is_finite() || seconds < 0.0 {
        return None;
    }
    Some(Duration::from_secs_f64(
        seconds.min(RETRY_AFTER_LIMIT.as_secs_f64()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceiling_doubles_then_caps() {
        let b = Backoff::default();
        assert_eq!(b.ceiling(0), Duration::from_millis(100));
        assert_eq!(b.ceiling(1), Duration::from_millis(200));
        assert_eq!(b.ceiling(4), Duration::from_millis(1600));
        assert_eq!(b.ceiling(5), Duration::from_secs(2));
        assert_eq!(b.ceiling(u32::MAX), Duration::from_secs(2));
    }

    #[test]
    fn jitter_stays_within_the_ceiling() {
        let b = Backoff::default();
        for retry in 0..8 {
            for _ in 0..50 {
                let pause = b.jittered(retry);
                assert!(pause <= b.ceiling(retry) && pause >= b.ceiling(retry) / 2);
            }
        }
    }

    #[test]
    fn retry_after_reads_seconds_only() {
        assert_eq!(parse_retry_after("1"), Some(Duration::from_secs(1)));
        assert_eq!(parse_retry_after(" 0 "), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("0.5"), Some(Duration::from_millis(500)));
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after("NaN"), None);
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("99999"), Some(RETRY_AFTER_LIMIT));
    }
}
