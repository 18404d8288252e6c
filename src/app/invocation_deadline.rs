//! Each invocation's deadline, from the runtime's `Lambda-Runtime-Deadline-Ms`. A value no real
//! Lambda sends (Cargo Lambda's duration, a time in 1970 or 2072) is said once per process, with
//! the value seen, and the function's timeout takes its place; real deadlines are used as sent.
//! The rule itself is pure ([`RuntimeDeadline::read`]); this holds the "said once".

use std::sync::atomic::{AtomicBool, Ordering};

use crate::domain::clock::epoch_ms;
use crate::domain::deadline::{Deadline, FunctionTimeout, RuntimeDeadline};

/// Built once per execution environment, with the configured timeout.
#[derive(Debug)]
pub struct InvocationDeadlines {
    timeout: FunctionTimeout,
    /// Whether an unknown deadline was logged: a local runtime sends the same odd value on
    /// every invocation, and one line says all there is to say.
    said: AtomicBool,
}

impl InvocationDeadlines {
    pub fn new(timeout: FunctionTimeout) -> Self {
        Self {
            timeout,
            said: AtomicBool::new(false),
        }
    }

    /// The deadline of the invocation `request_id` whose header said `raw_ms`.
    pub fn deadline(&self, raw_ms: u64, request_id: &str) -> Deadline {
        let reading = RuntimeDeadline::read(raw_ms, epoch_ms(), self.timeout);
        if let RuntimeDeadline::Unknown {
            seen_ms,
            why,
            timeout,
        } = reading
        {
            if self.said.swap(true, Ordering::Relaxed) {
                tracing::debug!(
                    deadlineMs = seen_ms,
                    reason = why.as_str(),
                    requestId = request_id,
                    "unknown runtime deadline; the function's timeout stands in"
                );
            } else {
                tracing::warn!(
                    deadlineMs = seen_ms,
                    reason = why.as_str(),
                    timeoutSecs = timeout.as_secs(),
                    requestId = request_id,
                    "the runtime's Lambda-Runtime-Deadline-Ms is not a time a real Lambda sends \
                     (a local runtime?); every such invocation gets the function's timeout \
                     (FUNCTION_TIMEOUT_SECS) instead. Said once per process"
                );
            }
        }
        Deadline::from_runtime(reading)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn an_odd_deadline_is_said_once_and_a_real_one_never() {
        let deadlines = InvocationDeadlines::new(FunctionTimeout::DEFAULT);
        let real = deadlines.deadline(epoch_ms() + 20_000, "req-real");
        assert!(real.remaining() <= Duration::from_secs(20));
        assert!(!deadlines.said.load(Ordering::Relaxed));
        let odd = deadlines.deadline(600_000, "req-odd");
        assert!(odd.remaining() <= Duration::from_secs(30) - Deadline::SAFETY_MARGIN);
        assert!(deadlines.said.load(Ordering::Relaxed));
    }
}
