//! The point in time by which an invocation must have finished its work.

use std::time::{Duration, Instant};

/// Every retry loop checks this before sleeping, so no work outlives the Lambda invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline(Instant);

impl Deadline {
    /// Time kept back from the runtime's deadline to log the outcome and report an error.
    pub const SAFETY_MARGIN: Duration = Duration::from_millis(500);

    pub fn after(budget: Duration) -> Self {
        Self(Instant::now() + budget)
    }

    /// From the Lambda runtime's deadline (milliseconds since the Unix epoch), less the margin.
    pub fn from_epoch_millis(deadline_ms: u64) -> Self {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let left = Duration::from_millis(deadline_ms.saturating_sub(now_ms));
        Self(Instant::now() + left.saturating_sub(Self::SAFETY_MARGIN))
    }

    pub fn remaining(&self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }

    /// Whether waiting `pause` and then doing at least `then` more still fits.
    pub fn allows(&self, pause: Duration, then: Duration) -> bool {
        self.remaining() > pause + then
    }
}
