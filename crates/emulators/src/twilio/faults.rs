//! Programmable failures: the answers Twilio gives under load or trouble.

use std::time::Duration;

use axum::http::Method;

/// What a matching request gets instead of (or before) its normal answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultKind {
    /// 429 (code 20429), not processed, with `Retry-After: <seconds>` when given.
    TooManyRequests { retry_after: Option<u64> },
    /// 503 (code 20503), not processed.
    Unavailable,
    /// 500 (code 20500). With `applied`, the request takes effect first, as when Twilio fails
    /// after doing the work: the case where repeating a create would duplicate it.
    ServerError { applied: bool },
    /// The normal answer, sent after this pause.
    Latency(Duration),
    /// Applied at once, answered after this pause: a caller that dies meanwhile never learns
    /// that its request took effect.
    SlowAnswer(Duration),
}

/// How many matching requests a fault affects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultTimes {
    Next(u32),
    Always,
}

/// A fault and the requests it applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub kind: FaultKind,
    pub times: FaultTimes,
    /// Only requests with this method; any when `None`.
    pub method: Option<Method>,
    /// Only requests whose path contains this; any when `None`.
    pub path_contains: Option<String>,
}

impl Fault {
    /// The next `n` requests (of any kind, unless narrowed) get `kind`.
    pub fn next(n: u32, kind: FaultKind) -> Self {
        Self {
            kind,
            times: FaultTimes::Next(n),
            method: None,
            path_contains: None,
        }
    }

    /// Every request (unless narrowed) gets `kind`.
    pub fn always(kind: FaultKind) -> Self {
        Self {
            times: FaultTimes::Always,
            ..Self::next(0, kind)
        }
    }

    /// Narrows the fault to one method and paths containing `path_part`, e.g.
    /// `(Method::POST, "/Messages")`.
    pub fn matching(mut self, method: Method, path_part: &str) -> Self {
        self.method = Some(method);
        self.path_contains = Some(path_part.to_owned());
        self
    }

    fn matches(&self, method: &Method, path: &str) -> bool {
        let exhausted = self.times == FaultTimes::Next(0);
        !exhausted
            && self.method.as_ref().is_none_or(|m| m == method)
            && self
                .path_contains
                .as_deref()
                .is_none_or(|p| path.contains(p))
    }
}

/// Takes the first fault that applies to a request, using up one of its turns.
pub(crate) fn take(faults: &mut Vec<Fault>, method: &Method, path: &str) -> Option<FaultKind> {
    let index = faults.iter().position(|f| f.matches(method, path))?;
    let fault = &mut faults[index];
    let kind = fault.kind.clone();
    if let FaultTimes::Next(n) = &mut fault.times {
        *n -= 1;
        if *n == 0 {
            faults.remove(index);
        }
    }
    Some(kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_faults_run_out_and_matchers_narrow() {
        let mut faults = vec![
            Fault::next(1, FaultKind::Unavailable).matching(Method::POST, "/Messages"),
            Fault::next(2, FaultKind::ServerError { applied: false }),
        ];
        assert_eq!(
            take(&mut faults, &Method::GET, "/v1/Conversations/CH1"),
            Some(FaultKind::ServerError { applied: false })
        );
        assert_eq!(
            take(&mut faults, &Method::POST, "/v1/Conversations/CH1/Messages"),
            Some(FaultKind::Unavailable)
        );
        assert_eq!(
            take(&mut faults, &Method::POST, "/v1/Conversations/CH1/Messages"),
            Some(FaultKind::ServerError { applied: false })
        );
        assert_eq!(
            take(&mut faults, &Method::POST, "/v1/Conversations/CH1/Messages"),
            None
        );
        assert!(faults.is_empty());
    }

    #[test]
    fn always_faults_stay() {
        let mut faults = vec![Fault::always(FaultKind::Unavailable)];
        for _ in 0..3 {
            assert_eq!(
                take(&mut faults, &Method::GET, "/x"),
                Some(FaultKind::Unavailable)
            );
        }
    }
}
