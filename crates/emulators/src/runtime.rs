//! The Lambda Runtime API on loopback: lets the real `bootstrap` binary run on one machine,
//! for end-to-end tests and for measuring cold start (process start → first poll).

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::{Notify, oneshot};

const PREFIX: &str = "/2018-06-01/runtime";

/// What the emulator sends as `Lambda-Runtime-Deadline-Ms`. Lambda sends a Unix time in
/// milliseconds; local runtimes have sent other things, and the function must cope with each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadlineHeader {
    /// As Lambda: this long from when the event is handed out, as a Unix time.
    Lambda(Duration),
    /// A duration instead of a time, as Cargo Lambda sends (`600000` for ten minutes).
    Relative(Duration),
    /// A Unix time already this far in the past when the event is handed out.
    Past(Duration),
    /// A Unix time this far ahead, beyond any Lambda timeout (the SAM CLI once sent 2072).
    FarFuture(Duration),
}

impl DeadlineHeader {
    /// The header's value when the event is handed out at `now` (since the Unix epoch).
    pub fn value(self, now: Duration) -> u128 {
        match self {
            Self::Lambda(budget) | Self::FarFuture(budget) => (now + budget).as_millis(),
            Self::Relative(budget) => budget.as_millis(),
            Self::Past(ago) => now.saturating_sub(ago).as_millis(),
        }
    }
}

/// How an invocation ended, as the runtime reported it.
#[derive(Debug, Clone, PartialEq)]
pub enum InvocationResult {
    Response(serde_json::Value),
    Error {
        error_type: String,
        error_message: String,
    },
}

#[derive(Default)]
struct Inner {
    queue: VecDeque<(String, serde_json::Value, DeadlineHeader)>,
    waiting: HashMap<String, oneshot::Sender<InvocationResult>>,
    first_poll: Option<Instant>,
    init_error: Option<String>,
    next_id: u64,
}

#[derive(Clone)]
struct Shared {
    inner: Arc<Mutex<Inner>>,
    ready: Arc<Notify>,
    polled: Arc<Notify>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        crate::lock(&self.inner)
    }
}

/// A running Runtime API emulator; dropping it stops the server.
pub struct RuntimeEmulator {
    addr: SocketAddr,
    shared: Shared,
    _server: tokio::task::JoinHandle<()>,
}

impl Drop for RuntimeEmulator {
    fn drop(&mut self) {
        self._server.abort();
    }
}

impl RuntimeEmulator {
    pub async fn start() -> std::io::Result<Self> {
        let shared = Shared {
            inner: Arc::new(Mutex::new(Inner::default())),
            ready: Arc::new(Notify::new()),
            polled: Arc::new(Notify::new()),
        };
        let app = Router::new()
            .route(&format!("{PREFIX}/invocation/next"), get(next))
            .route(
                &format!("{PREFIX}/invocation/{{id}}/response"),
                post(response),
            )
            .route(&format!("{PREFIX}/invocation/{{id}}/error"), post(error))
            .route(&format!("{PREFIX}/init/error"), post(init_error))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(async move {
            // The server ends only when the emulator is dropped (the task is aborted).
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            addr,
            shared,
            _server: server,
        })
    }

    /// The value for `AWS_LAMBDA_RUNTIME_API` (`host:port`, no scheme).
    pub fn api_address(&self) -> String {
        self.addr.to_string()
    }

    /// When the runtime first asked for an event.
    pub fn first_poll(&self) -> Option<Instant> {
        self.shared.lock().first_poll
    }

    /// Waits until the runtime has polled at least once, or `timeout` passes.
    pub async fn wait_first_poll(&self, timeout: Duration) -> Option<Instant> {
        let wait = async {
            loop {
                let notified = self.shared.polled.notified();
                if let Some(at) = self.first_poll() {
                    return at;
                }
                notified.await;
            }
        };
        tokio::time::timeout(timeout, wait).await.ok()
    }

    /// The error the runtime reported during init, if any.
    pub fn init_error(&self) -> Option<String> {
        self.shared.lock().init_error.clone()
    }

    /// Delivers one event with `budget` until its deadline and waits for the runtime's answer.
    pub async fn invoke(
        &self,
        event: serde_json::Value,
        budget: Duration,
        wait: Duration,
    ) -> Option<InvocationResult> {
        self.invoke_with_deadline(event, DeadlineHeader::Lambda(budget), wait)
            .await
    }

    /// Delivers one event with `deadline` as its deadline header and waits for the answer.
    pub async fn invoke_with_deadline(
        &self,
        event: serde_json::Value,
        deadline: DeadlineHeader,
        wait: Duration,
    ) -> Option<InvocationResult> {
        let (tx, rx) = oneshot::channel();
        {
            let mut inner = self.shared.lock();
            inner.next_id += 1;
            let id = format!("req-{:08}", inner.next_id);
            inner.waiting.insert(id.clone(), tx);
            inner.queue.push_back((id, event, deadline));
        }
        self.shared.ready.notify_one();
        tokio::time::timeout(wait, rx).await.ok()?.ok()
    }
}

async fn next(State(shared): State<Shared>) -> Response {
    {
        let mut inner = shared.lock();
        inner.first_poll.get_or_insert_with(Instant::now);
    }
    shared.polled.notify_waiters();
    loop {
        let notified = shared.ready.notified();
        let popped = shared.lock().queue.pop_front();
        if let Some((id, event, header)) = popped {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            let deadline = header.value(now);
            let mut headers = HeaderMap::new();
            let mut put = |name: &'static str, value: String| {
                if let Ok(v) = HeaderValue::from_str(&value) {
                    headers.insert(name, v);
                }
            };
            put("lambda-runtime-aws-request-id", id);
            put("lambda-runtime-deadline-ms", deadline.to_string());
            put(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:123456789012:function:flexlex".into(),
            );
            put(
                "lambda-runtime-trace-id",
                "Root=1-00000000-000000000000000000000000;Sampled=0".into(),
            );
            return (StatusCode::OK, headers, event.to_string()).into_response();
        }
        notified.await;
    }
}

fn finish(shared: &Shared, id: &str, result: InvocationResult) -> StatusCode {
    match shared.lock().waiting.remove(id) {
        Some(tx) => {
            // The caller may have stopped waiting; the result is then simply dropped.
            let _ = tx.send(result);
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}

async fn response(State(shared): State<Shared>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    let value = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    finish(&shared, &id, InvocationResult::Response(value))
}

async fn error(State(shared): State<Shared>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    let value: serde_json::Value = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    let field = |k: &str| {
        value
            .get(k)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned()
    };
    let result = InvocationResult::Error {
        error_type: field("errorType"),
        error_message: field("errorMessage"),
    };
    finish(&shared, &id, result)
}

async fn init_error(State(shared): State<Shared>, body: Bytes) -> StatusCode {
    shared.lock().init_error = Some(String::from_utf8_lossy(&body).into_owned());
    StatusCode::ACCEPTED
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_headers_are_what_each_runtime_sends() {
        let now = Duration::from_millis(1_793_526_030_000);
        let ten_minutes = Duration::from_secs(600);
        assert_eq!(
            DeadlineHeader::Lambda(Duration::from_secs(30)).value(now),
            1_793_526_060_000
        );
        assert_eq!(DeadlineHeader::Relative(ten_minutes).value(now), 600_000);
        assert_eq!(
            DeadlineHeader::Past(ten_minutes).value(now),
            1_793_525_430_000
        );
        assert_eq!(
            DeadlineHeader::FarFuture(Duration::from_secs(46 * 365 * 86_400)).value(now),
            3_244_182_030_000
        );
    }
}
