//! A loopback Amazon Lex V2 runtime that speaks `RecognizeText` as the real service does.
//!
//! `POST /bots/{botId}/botAliases/{botAliasId}/botLocales/{localeId}/sessions/{sessionId}/text`
//! with Lex's checks, in Lex's order: a SigV4 `Authorization` header (present, not verified)
//! → 403; a JSON body with `Content-Type: application/json`, the model's constraints on the
//! labels and `text`, no reserved `x-amz-lex:` request attribute → 400; a registered
//! bot/alias/locale → 404; a session not already busy → 409. Errors carry
//! `x-amzn-ErrorType: <Name>` and `{"message": ...}`; every response carries `x-amzn-RequestId`.
//!
//! The [`OrderFlowers`](orderflowers::OrderFlowers) bot answers under [`DEMO_BOT_ID`] /
//! [`DEMO_ALIAS_ID`] / [`DEMO_LOCALE_ID`]. Tests can register more bots, queue whole responses
//! for a session, inject faults and latency, and read back every request.

pub mod orderflowers;
pub mod wire;

use crate::lock;
use std::any::Any;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use self::wire::RecognizeTextResponse;

/// The demo bot's id: the OrderFlowers script answers here from the start.
pub const DEMO_BOT_ID: &str = "FLWRSDEMO1";
/// The draft alias every Lex bot has.
pub const DEMO_ALIAS_ID: &str = "TSTALIASID";
pub const DEMO_LOCALE_ID: &str = "en_US";

const ROUTE: &str =
    "/bots/{bot_id}/botAliases/{alias_id}/botLocales/{locale_id}/sessions/{session_id}/text";
const MAX_TEXT_UNITS: usize = 1024;
const RESERVED_ATTRIBUTE_PREFIX: &str = "x-amz-lex:";

/// A Lex error: what the emulator answers when a request is refused, and what tests inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    Validation,
    AccessDenied,
    ResourceNotFound,
    Conflict,
    DependencyFailed,
    Throttling,
    InternalServer,
    BadGateway,
}

impl Fault {
    pub fn status(self) -> StatusCode {
        match self {
            Self::Validation => StatusCode::BAD_REQUEST,
            Self::AccessDenied => StatusCode::FORBIDDEN,
            Self::ResourceNotFound => StatusCode::NOT_FOUND,
            Self::Conflict => StatusCode::CONFLICT,
            Self::DependencyFailed => StatusCode::FAILED_DEPENDENCY,
            Self::Throttling => StatusCode::TOO_MANY_REQUESTS,
            Self::InternalServer => StatusCode::INTERNAL_SERVER_ERROR,
            Self::BadGateway => StatusCode::BAD_GATEWAY,
        }
    }

    /// The `x-amzn-ErrorType` value, which the SDK turns into the error code.
    pub fn error_type(self) -> &'static str {
        match self {
            Self::Validation => "ValidationException",
            Self::AccessDenied => "AccessDeniedException",
            Self::ResourceNotFound => "ResourceNotFoundException",
            Self::Conflict => "ConflictException",
            Self::DependencyFailed => "DependencyFailedException",
            Self::Throttling => "ThrottlingException",
            Self::InternalServer => "InternalServerException",
            Self::BadGateway => "BadGatewayException",
        }
    }

    fn default_message(self) -> &'static str {
        match self {
            Self::Validation => "1 validation error detected",
            Self::AccessDenied => "User is not authorized to perform: lex:RecognizeText",
            Self::ResourceNotFound => "Resource not found",
            Self::Conflict => "Another request is in progress for this session",
            Self::DependencyFailed => {
                "Invalid Lambda Response: Received error response from Lambda"
            }
            Self::Throttling => "Rate exceeded",
            Self::InternalServer => "Internal server error",
            Self::BadGateway => "Bad gateway",
        }
    }
}

/// How many requests an injected fault answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Times {
    N(u32),
    Always,
}

impl From<u32> for Times {
    fn from(n: u32) -> Self {
        Self::N(n)
    }
}

/// One request as the emulator saw it, and what it answered.
#[derive(Debug, Clone, PartialEq)]
pub struct LexCall {
    /// The raw request path, still percent-encoded.
    pub path: String,
    /// Percent-decoded labels (empty when the path could not be decoded).
    pub bot_id: String,
    pub alias_id: String,
    pub locale_id: String,
    pub session_id: String,
    pub content_type: Option<String>,
    /// Whether an `Authorization: AWS4-HMAC-SHA256 ...` header came (its value is not kept).
    pub signed: bool,
    pub amz_date: Option<String>,
    /// The body, when it parsed as JSON.
    pub body: Option<Value>,
    pub status: u16,
    /// The `x-amzn-ErrorType` answered, for refused requests.
    pub error_type: Option<String>,
    pub request_id: String,
}

impl LexCall {
    /// The `text` the request carried.
    pub fn text(&self) -> Option<&str> {
        self.body.as_ref()?.get("text")?.as_str()
    }

    pub fn request_attributes(&self) -> BTreeMap<String, String> {
        string_map(self.body.as_ref().and_then(|b| b.get("requestAttributes")))
    }
}

/// What Lex keeps between the turns of one session.
#[derive(Default)]
pub struct Session {
    pub attributes: BTreeMap<String, String>,
    memory: Option<Box<dyn Any + Send>>,
}

impl Session {
    /// The script's own state for this session, or a fresh one; give it back with
    /// [`Session::put_memory`].
    pub fn take_memory<T: Default + Send + 'static>(&mut self) -> T {
        self.memory
            .take()
            .and_then(|m| m.downcast::<T>().ok())
            .map(|b| *b)
            .unwrap_or_default()
    }

    pub fn put_memory<T: Send + 'static>(&mut self, memory: T) {
        self.memory = Some(Box::new(memory));
    }
}

/// A bot's dialog logic: one utterance in, one RecognizeText response out.
///
/// The emulator fills `sessionId`, `requestAttributes` and `sessionState.sessionAttributes`
/// (from [`Session::attributes`]) afterwards.
pub trait ScriptedBot: Send + Sync + 'static {
    fn turn(&self, text: &str, session: &mut Session) -> RecognizeTextResponse;
}

/// The running emulator. Clones share one server; it stops when the last clone is dropped
/// or on [`LexEmulator::shutdown`].
#[derive(Clone)]
pub struct LexEmulator {
    shared: Arc<Shared>,
    handle: Arc<ServerHandle>,
}

impl std::fmt::Debug for LexEmulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LexEmulator")
            .field("endpoint", &self.handle.endpoint)
            .finish_non_exhaustive()
    }
}

struct ServerHandle {
    endpoint: String,
    connections: super::listener::ConnectionCount,
    stop: Mutex<Option<oneshot::Sender<()>>>,
}

impl LexEmulator {
    /// Binds 127.0.0.1 on an OS-assigned port and serves on the current tokio runtime, with the
    /// OrderFlowers demo bot registered.
    pub async fn start() -> std::io::Result<Self> {
        Self::start_at(std::net::SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// As [`LexEmulator::start`], on `address` (a fixed port for a local run's settings).
    pub async fn start_at(address: std::net::SocketAddr) -> std::io::Result<Self> {
        let shared = Arc::new(Shared::default());
        let (listener, connections) = super::listener::bind(address).await?;
        let endpoint = format!("http://{}", axum::serve::Listener::local_addr(&listener)?);
        let (stop, stopped) = oneshot::channel::<()>();
        let app = Router::new()
            .route(ROUTE, post(recognize_text))
            .fallback(unknown_operation)
            .with_state(Arc::clone(&shared));
        tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = stopped.await;
            });
            if let Err(error) = serve.await {
                tracing::warn!(%error, "lex emulator stopped");
            }
        });
        let emulator = Self {
            shared,
            handle: Arc::new(ServerHandle {
                endpoint,
                connections,
                stop: Mutex::new(Some(stop)),
            }),
        };
        emulator.add_bot(
            DEMO_BOT_ID,
            DEMO_ALIAS_ID,
            DEMO_LOCALE_ID,
            orderflowers::OrderFlowers::new(),
        );
        Ok(emulator)
    }

    /// `http://127.0.0.1:PORT`: what `AWS_ENDPOINT_URL_LEX_RUNTIME_V2` should say.
    pub fn endpoint(&self) -> String {
        self.handle.endpoint.clone()
    }

    /// TCP connections accepted so far: a client that reuses its pool opens few.
    pub fn connections(&self) -> usize {
        self.handle.connections.get()
    }

    /// Registers (or replaces) the script answering for one bot, alias and locale.
    pub fn add_bot(&self, bot_id: &str, alias_id: &str, locale_id: &str, script: impl ScriptedBot) {
        let key = BotKey {
            bot_id: bot_id.into(),
            alias_id: alias_id.into(),
            locale_id: locale_id.into(),
        };
        lock(&self.shared.bots).insert(key, Arc::new(script));
    }

    /// Queues a whole RecognizeText response body as the next answer to `session_id` (any bot),
    /// in place of the script. `sessionState.sessionAttributes` in it become the session's.
    pub fn push_turn(&self, session_id: &str, response: Value) {
        lock(&self.shared.turns)
            .entry(session_id.to_owned())
            .or_default()
            .push_back(response);
    }

    /// Answers the next `times` well-formed requests with `fault`, after the queued faults.
    pub fn push_fault(&self, fault: Fault, times: impl Into<Times>) {
        lock(&self.shared.faults).push_back((fault, times.into()));
    }

    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
    }

    /// Delays every answer (while the session counts as busy), e.g. to provoke timeouts.
    pub fn set_latency(&self, latency: Duration) {
        *lock(&self.shared.latency) = latency;
    }

    /// Holds every answer, its session busy, until [`LexEmulator::resume`].
    pub fn pause(&self) {
        self.shared.paused.0.send_replace(true);
    }

    /// Lets held and later answers go.
    pub fn resume(&self) {
        self.shared.paused.0.send_replace(false);
    }

    /// The session attributes Lex holds for a session, if it has had a turn.
    pub fn session_attributes(
        &self,
        bot_id: &str,
        alias_id: &str,
        locale_id: &str,
        session_id: &str,
    ) -> Option<BTreeMap<String, String>> {
        let key = SessionKey {
            bot: BotKey {
                bot_id: bot_id.into(),
                alias_id: alias_id.into(),
                locale_id: locale_id.into(),
            },
            session_id: session_id.into(),
        };
        match lock(&self.shared.sessions).get(&key)? {
            SessionEntry::Idle(session) => Some(session.attributes.clone()),
            SessionEntry::Busy => None,
        }
    }

    /// How many sessions have a turn running right now.
    pub fn busy_sessions(&self) -> usize {
        lock(&self.shared.sessions)
            .values()
            .filter(|s| matches!(s, SessionEntry::Busy))
            .count()
    }

    /// Every request so far, oldest first.
    pub fn calls(&self) -> Vec<LexCall> {
        lock(&self.shared.calls).clone()
    }

    /// Stops accepting connections; requests in flight finish.
    pub fn shutdown(&self) {
        if let Some(stop) = lock(&self.handle.stop).take() {
            let _ = stop.send(());
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct BotKey {
    bot_id: String,
    alias_id: String,
    locale_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct SessionKey {
    bot: BotKey,
    session_id: String,
}

/// A session is taken out of the map while a turn runs, which is how a second concurrent
/// request on it is recognised.
enum SessionEntry {
    Idle(Session),
    Busy,
}

#[derive(Default)]
struct Shared {
    bots: Mutex<HashMap<BotKey, Arc<dyn ScriptedBot>>>,
    sessions: Mutex<HashMap<SessionKey, SessionEntry>>,
    turns: Mutex<HashMap<String, VecDeque<Value>>>,
    faults: Mutex<VecDeque<(Fault, Times)>>,
    latency: Mutex<Duration>,
    paused: Paused,
    calls: Mutex<Vec<LexCall>>,
    requests: AtomicU64,
}

/// While set, answers wait (their session busy): a test can look at what the caller did
/// before asking Lex, then let it go on.
struct Paused(tokio::sync::watch::Sender<bool>);

impl Default for Paused {
    fn default() -> Self {
        Self(tokio::sync::watch::Sender::new(false))
    }
}

/// A refusal, answered as Lex answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Refusal {
    fault: Fault,
    message: String,
}

impl Refusal {
    fn new(fault: Fault, message: impl Into<String>) -> Self {
        Self {
            fault,
            message: message.into(),
        }
    }

    fn validation(field: &str, constraint: &str) -> Self {
        Self::new(
            Fault::Validation,
            format!(
                "1 validation error detected: Value at '{field}' failed to satisfy constraint: {constraint}"
            ),
        )
    }
}

/// The labels and body of a request that passed validation.
struct Recognize {
    bot: BotKey,
    session_id: String,
    text: String,
    request_attributes: BTreeMap<String, String>,
    /// `sessionState.sessionAttributes` sent by the client, which replace the stored ones.
    session_attributes: Option<BTreeMap<String, String>>,
}

async fn recognize_text(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    labels: Result<Path<(String, String, String, String)>, PathRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request_id = shared.next_request_id();
    let labels = labels.map(|Path(l)| l).ok();
    let parsed_body: Option<Value> = serde_json::from_slice(&body).ok();
    let outcome = shared
        .answer(labels.as_ref(), &headers, parsed_body.as_ref())
        .await;
    let (bot_id, alias_id, locale_id, session_id) = labels.unwrap_or_default();
    let header_str = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let call = LexCall {
        path: uri.path().to_owned(),
        bot_id,
        alias_id,
        locale_id,
        session_id,
        content_type: header_str(header::CONTENT_TYPE),
        signed: is_signed(&headers),
        amz_date: header_str(header::HeaderName::from_static("x-amz-date")),
        body: parsed_body,
        status: match &outcome {
            Ok(_) => 200,
            Err(r) => r.fault.status().as_u16(),
        },
        error_type: outcome
            .as_ref()
            .err()
            .map(|r| r.fault.error_type().to_owned()),
        request_id: request_id.clone(),
    };
    lock(&shared.calls).push(call);
    let mut response = match outcome {
        Ok(body) => (StatusCode::OK, axum::Json(body)).into_response(),
        Err(refusal) => error_response(&refusal),
    };
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-amzn-RequestId", value);
    }
    response
}

/// Lex answers paths it has no operation for with `UnknownOperationException`.
async fn unknown_operation() -> Response {
    let mut response = (
        StatusCode::NOT_FOUND,
        [("x-amzn-ErrorType", "UnknownOperationException")],
        axum::Json(json!({ "message": "Unknown operation" })),
    )
        .into_response();
    response.headers_mut().insert(
        "x-amzn-RequestId",
        HeaderValue::from_static("00000000-0000-4000-8000-000000000000"),
    );
    response
}

fn error_response(refusal: &Refusal) -> Response {
    (
        refusal.fault.status(),
        [("x-amzn-ErrorType", refusal.fault.error_type())],
        axum::Json(json!({ "message": refusal.message })),
    )
        .into_response()
}

fn is_signed(headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("AWS4-HMAC-SHA256"))
}

impl Shared {
    fn next_request_id(&self) -> String {
        let n = self.requests.fetch_add(1, Ordering::Relaxed);
        let r: u64 = rand::random();
        format!(
            "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
            r >> 32,
            r & 0xffff,
            (r >> 16) & 0xfff,
            n & 0xfff,
            n
        )
    }

    async fn answer(
        &self,
        labels: Option<&(String, String, String, String)>,
        headers: &HeaderMap,
        body: Option<&Value>,
    ) -> Result<Value, Refusal> {
        if !is_signed(headers) {
            return Err(Refusal::new(
                Fault::AccessDenied,
                "Missing Authentication Token",
            ));
        }
        let request = validate(labels, headers, body)?;
        let script = self.find_bot(&request.bot)?;
        if let Some(fault) = self.next_fault() {
            return Err(Refusal::new(fault, fault.default_message()));
        }
        let key = SessionKey {
            bot: request.bot.clone(),
            session_id: request.session_id.clone(),
        };
        let mut checkout = Checkout::take(self, key)?;
        let mut paused = self.paused.0.subscribe();
        // Ends when resumed; a closed channel (the emulator going away) ends it as well.
        let _ = paused.wait_for(|paused| !paused).await;
        let latency = *lock(&self.latency);
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        let session = checkout.session();
        if let Some(attributes) = request.session_attributes.clone() {
            session.attributes = attributes;
        }
        let queued = lock(&self.turns)
            .get_mut(&request.session_id)
            .and_then(VecDeque::pop_front);
        let mut body = match queued {
            Some(body) => body,
            None => serde_json::to_value(script.turn(&request.text, session))
                .map_err(|e| Refusal::new(Fault::InternalServer, format!("script output: {e}")))?,
        };
        complete(&mut body, &request, session);
        Ok(body)
    }

    fn find_bot(&self, bot: &BotKey) -> Result<Arc<dyn ScriptedBot>, Refusal> {
        let bots = lock(&self.bots);
        if let Some(script) = bots.get(bot) {
            return Ok(Arc::clone(script));
        }
        let known = |f: &dyn Fn(&BotKey) -> bool| bots.keys().any(f);
        let message = if !known(&|k| k.bot_id == bot.bot_id) {
            format!("Bot {} does not exist", bot.bot_id)
        } else if !known(&|k| k.bot_id == bot.bot_id && k.alias_id == bot.alias_id) {
            format!(
                "Bot alias {} does not exist for bot {}",
                bot.alias_id, bot.bot_id
            )
        } else {
            format!(
                "Locale {} is not enabled for bot {} alias {}",
                bot.locale_id, bot.bot_id, bot.alias_id
            )
        };
        Err(Refusal::new(Fault::ResourceNotFound, message))
    }

    /// The injected fault this request gets, if any; entries queued for zero requests are skipped.
    fn next_fault(&self) -> Option<Fault> {
        let mut faults = lock(&self.faults);
        while let Some((fault, times)) = faults.front_mut() {
            let fault = *fault;
            match times {
                Times::Always => return Some(fault),
                Times::N(0) => {
                    faults.pop_front();
                }
                Times::N(1) => {
                    faults.pop_front();
                    return Some(fault);
                }
                Times::N(n) => {
                    *n -= 1;
                    return Some(fault);
                }
            }
        }
        None
    }
}

/// Holds a session for one turn and puts it back however the turn ends, even if the client
/// goes away and the handler is dropped mid-way.
struct Checkout<'a> {
    shared: &'a Shared,
    key: SessionKey,
    session: Option<Session>,
}

impl<'a> Checkout<'a> {
    fn take(shared: &'a Shared, key: SessionKey) -> Result<Self, Refusal> {
        let mut sessions = lock(&shared.sessions);
        let entry = sessions
            .entry(key.clone())
            .or_insert_with(|| SessionEntry::Idle(Session::default()));
        match std::mem::replace(entry, SessionEntry::Busy) {
            SessionEntry::Idle(session) => Ok(Self {
                shared,
                key,
                session: Some(session),
            }),
            SessionEntry::Busy => Err(Refusal::new(
                Fault::Conflict,
                format!("Session {} is already processing a request", key.session_id),
            )),
        }
    }

    fn session(&mut self) -> &mut Session {
        self.session.get_or_insert_with(Session::default)
    }
}

impl Drop for Checkout<'_> {
    fn drop(&mut self) {
        let session = self.session.take().unwrap_or_default();
        lock(&self.shared.sessions).insert(self.key.clone(), SessionEntry::Idle(session));
    }
}

/// Fills what Lex adds to every response and keeps the session attributes the turn set.
fn complete(body: &mut Value, request: &Recognize, session: &mut Session) {
    let Some(object) = body.as_object_mut() else {
        return;
    };
    object
        .entry("sessionId")
        .or_insert_with(|| json!(request.session_id));
    if !request.request_attributes.is_empty() {
        object
            .entry("requestAttributes")
            .or_insert_with(|| json!(request.request_attributes));
    }
    let state = object.entry("sessionState").or_insert_with(|| json!({}));
    let Some(state) = state.as_object_mut() else {
        return;
    };
    match state.get("sessionAttributes") {
        Some(set) if !set.as_object().is_some_and(serde_json::Map::is_empty) => {
            session.attributes = string_map(Some(set));
        }
        _ => {
            state.insert("sessionAttributes".into(), json!(session.attributes));
        }
    }
}

fn string_map(value: Option<&Value>) -> BTreeMap<String, String> {
    value
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// Lex's checks on the labels and the body (service model constraints).
fn validate(
    labels: Option<&(String, String, String, String)>,
    headers: &HeaderMap,
    body: Option<&Value>,
) -> Result<Recognize, Refusal> {
    let (bot_id, alias_id, locale_id, session_id) = labels.ok_or_else(|| {
        Refusal::new(
            Fault::Validation,
            "Path labels are not valid UTF-8 once decoded",
        )
    })?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media_type = content_type.split(';').next().unwrap_or("").trim();
    if !media_type.eq_ignore_ascii_case("application/json") {
        return Err(Refusal::new(
            Fault::Validation,
            format!("Unsupported Content-Type '{content_type}'; expected application/json"),
        ));
    }
    let body = body
        .and_then(Value::as_object)
        .ok_or_else(|| Refusal::new(Fault::Validation, "Request body is not a JSON object"))?;
    if bot_id.chars().count() != 10 {
        return Err(Refusal::validation(
            "botId",
            "Member must have length equal to 10",
        ));
    }
    if !bot_id.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(Refusal::validation(
            "botId",
            "Member must satisfy regular expression pattern: ^[0-9a-zA-Z]+$",
        ));
    }
    if alias_id.is_empty() {
        return Err(Refusal::validation(
            "botAliasId",
            "Member must not be empty",
        ));
    }
    if locale_id.is_empty() {
        return Err(Refusal::validation(
            "localeId",
            "Member must have length greater than or equal to 1",
        ));
    }
    let n = session_id.chars().count();
    if !(2..=100).contains(&n) {
        return Err(Refusal::validation(
            "sessionId",
            "Member must have length between 2 and 100",
        ));
    }
    if !session_id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'))
    {
        return Err(Refusal::validation(
            "sessionId",
            "Member must satisfy regular expression pattern: [0-9a-zA-Z._:-]+",
        ));
    }
    let text = match body.get("text") {
        Some(Value::String(text)) => text,
        Some(_) => return Err(Refusal::validation("text", "Member must be a string")),
        None => return Err(Refusal::validation("text", "Member must not be null")),
    };
    let units = text.encode_utf16().count();
    if units == 0 {
        return Err(Refusal::validation(
            "text",
            "Member must have length greater than or equal to 1",
        ));
    }
    if units > MAX_TEXT_UNITS {
        return Err(Refusal::validation(
            "text",
            "Member must have length less than or equal to 1024",
        ));
    }
    let request_attributes = match body.get("requestAttributes") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(Value::Object(map)) if map.values().all(Value::is_string) => {
            string_map(body.get("requestAttributes"))
        }
        Some(_) => {
            return Err(Refusal::validation(
                "requestAttributes",
                "Member must be a map of strings",
            ));
        }
    };
    if let Some(reserved) = request_attributes
        .keys()
        .find(|k| k.starts_with(RESERVED_ATTRIBUTE_PREFIX))
    {
        return Err(Refusal::new(
            Fault::Validation,
            format!(
                "Request attribute '{reserved}' uses the reserved prefix {RESERVED_ATTRIBUTE_PREFIX}"
            ),
        ));
    }
    let session_attributes = body
        .get("sessionState")
        .and_then(|s| s.get("sessionAttributes"))
        .map(|a| string_map(Some(a)));
    Ok(Recognize {
        bot: BotKey {
            bot_id: bot_id.clone(),
            alias_id: alias_id.clone(),
            locale_id: locale_id.clone(),
        },
        session_id: session_id.clone(),
        text: text.clone(),
        request_attributes,
        session_attributes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_count_down_then_fall_through() {
        let shared = Shared::default();
        lock(&shared.faults).push_back((Fault::Throttling, Times::N(2)));
        lock(&shared.faults).push_back((Fault::BadGateway, Times::N(0)));
        lock(&shared.faults).push_back((Fault::InternalServer, Times::N(1)));
        assert_eq!(shared.next_fault(), Some(Fault::Throttling));
        assert_eq!(shared.next_fault(), Some(Fault::Throttling));
        assert_eq!(shared.next_fault(), Some(Fault::InternalServer));
        assert_eq!(shared.next_fault(), None);
        lock(&shared.faults).push_back((Fault::Conflict, Times::Always));
        assert_eq!(shared.next_fault(), Some(Fault::Conflict));
        assert_eq!(shared.next_fault(), Some(Fault::Conflict));
    }

    #[test]
    fn session_memory_survives_a_round_trip_and_resets_on_type_change() {
        let mut session = Session::default();
        let mut n: u32 = session.take_memory();
        n += 5;
        session.put_memory(n);
        assert_eq!(session.take_memory::<u32>(), 5);
        session.put_memory(7u32);
        assert_eq!(session.take_memory::<String>(), "");
    }

    #[test]
    fn complete_fills_session_id_and_keeps_attributes() {
        let request = Recognize {
            bot: BotKey {
                bot_id: "A".into(),
                alias_id: "B".into(),
                locale_id: "C".into(),
            },
            session_id: "s1".into(),
            text: "hi".into(),
            request_attributes: BTreeMap::from([("channel".into(), "sms".into())]),
            session_attributes: None,
        };
        let mut session = Session::default();
        let mut body =
            json!({"sessionState": {"sessionAttributes": {"flexlex_action": "handoff"}}});
        complete(&mut body, &request, &mut session);
        assert_eq!(body["sessionId"], "s1");
        assert_eq!(body["requestAttributes"]["channel"], "sms");
        assert_eq!(session.attributes["flexlex_action"], "handoff");
        let mut next = json!({"messages": []});
        complete(&mut next, &request, &mut session);
        assert_eq!(
            next["sessionState"]["sessionAttributes"]["flexlex_action"],
            "handoff"
        );
    }
}
