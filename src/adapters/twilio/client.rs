//! The reqwest client that implements the conversations port against Twilio's REST API.
//!
//! Built once per cold start and shared: connections are pooled and kept alive across
//! invocations. Every call is bounded by the invocation's [`Deadline`].
//!
//! # When a call is repeated
//!
//! - 429 and 503: Twilio documents these requests as not processed, so every call is repeated.
//! - Other 5xx, timeouts and connection errors after the request was sent: the outcome is
//!   unknown. Reads, the webhook delete and `State=closed` are idempotent and are repeated.
//!   Creating a message, an Interaction or a scoped webhook is not: repeating could post the
//!   reply twice, route the customer to two agents or deliver every message twice, so the
//!   call fails as [`TwilioError::Ambiguous`] and
//!   the event goes to the on-failure destination, where a person can judge.
//! - A connection that could not be opened: nothing was sent, so every call is repeated.
//! - Any other 4xx: [`TwilioError::Rejected`] at once.
//!
//! Waits follow [`Backoff`], stretched to `Retry-After` when Twilio sends a longer one; a wait
//! that would not leave time for another attempt before the deadline ends the call instead.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use reqwest::header::{AUTHORIZATION, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};

use super::api::{
    ChannelParticipantPage, ChannelResource, ContentResource, ConversationResource, CreatedMessage,
    ErrorBody, InteractionResource, MessagePage, ParticipantPage, WebhookPage, WebhookResource,
};
use super::hostname::regional_host;
use crate::adapters::backoff::{Backoff, parse_retry_after};
use crate::domain::cards::ContentTemplate;
use crate::domain::customer::{ConversationInfo, Participant};
use crate::domain::deadline::Deadline;
use crate::domain::handoff::InteractionRequest;
use crate::domain::ids::{
    ContentSid, ConversationSid, InteractionChannelSid, InteractionSid, WebhookSid,
};
use crate::domain::secret::TwilioCredentials;
use crate::domain::timers::TimerUpdate;
use crate::ports::content::ContentApi;
use crate::ports::conversations::{
    ChannelParticipant, ChannelView, Conversations, CreatedInteraction, NewWebhook, PostedMessage,
    ReplyTag, ScopedWebhook, TwilioError,
};

/// Twilio's production hosts.
pub const DEFAULT_CONVERSATIONS_BASE: &str = "https://conversations.twilio.com";
pub const DEFAULT_FLEX_BASE: &str = "https://flex-api.twilio.com";
pub const DEFAULT_CONTENT_BASE: &str = "https://content.twilio.com";

/// The participants list is paged; this many pages (of 50) is far beyond a real conversation.
const MAX_PARTICIPANT_PAGES: usize = 20;
/// Twilio's largest `PageSize`.
const MAX_PAGE_SIZE: u32 = 1000;
/// Room on a catch-up's first page for messages newer than the one at hand.
const NEWER_SLACK: u64 = 10;
/// How many pages a catch-up reads at most: its span is bounded, so only a flood of newer
/// messages needs more than one.
const MAX_MESSAGE_PAGES: usize = 3;
const PARTICIPANT_PAGE_SIZE: &str = "50";

/// Time an attempt needs at the very least; less than this left and the call gives up.
const MIN_ATTEMPT: Duration = Duration::from_millis(20);

/// The HTTP Basic header for `credentials`, marked sensitive so HTTP-level logging never
/// prints it.
fn basic_auth(credentials: &TwilioCredentials) -> Result<HeaderValue, TwilioConfigError> {
    let (user, password) = match credentials {
        TwilioCredentials::ApiKey { sid, secret } => (sid.as_str(), secret),
        TwilioCredentials::AuthToken { account, token } => (account.as_str(), token),
    };
    let encoded =
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{}", password.expose()));
    let mut value = HeaderValue::from_str(&format!("Basic {encoded}"))
        .map_err(|_| TwilioConfigError::Credentials)?;
    value.set_sensitive(true);
    Ok(value)
}

/// Everything the client needs, read from configuration elsewhere.
#[derive(Debug, Clone)]
pub struct TwilioClientConfig {
    pub auth: TwilioCredentials,
    /// `TWILIO_CONVERSATIONS_BASE_URL`.
    pub conversations_base: String,
    /// `TWILIO_FLEX_BASE_URL`.
    pub flex_base: String,
    /// `TWILIO_CONTENT_BASE_URL`.
    pub content_base: String,
    /// `TWILIO_REGION`, applied to `twilio.com` hosts only.
    pub region: Option<String>,
    /// `TWILIO_EDGE`, applied to `twilio.com` hosts only.
    pub edge: Option<String>,
    pub backoff: Backoff,
    pub connect_timeout: Duration,
    /// Upper bound of one attempt; the deadline may shorten it.
    pub request_timeout: Duration,
    /// Idle pooled connections are dropped after this, before Twilio's side closes them.
    pub pool_idle_timeout: Duration,
}

impl TwilioClientConfig {
    /// Twilio's production hosts and default timings.
    pub fn new(auth: TwilioCredentials) -> Self {
        Self {
            auth,
            conversations_base: DEFAULT_CONVERSATIONS_BASE.to_owned(),
            flex_base: DEFAULT_FLEX_BASE.to_owned(),
            content_base: DEFAULT_CONTENT_BASE.to_owned(),
            region: None,
            edge: None,
            backoff: Backoff::default(),
            connect_timeout: Duration::from_secs(3),
            request_timeout: Duration::from_secs(10),
            pool_idle_timeout: Duration::from_secs(50),
        }
    }
}

/// Why the client could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TwilioConfigError {
    #[error("{name} `{url}` is not usable: {reason}")]
    BaseUrl {
        name: &'static str,
        url: String,
        reason: String,
    },
    #[error("the Twilio credentials cannot be sent in an HTTP header")]
    Credentials,
    #[error("the HTTP client could not be built: {0}")]
    Http(String),
}

/// The Twilio REST client. Cheap to share behind an `Arc`; holds the connection pool.
pub struct TwilioClient {
    http: reqwest::Client,
    authorization: HeaderValue,
    conversations_base: Url,
    flex_base: Url,
    content_base: Url,
    backoff: Backoff,
    request_timeout: Duration,
}

impl std::fmt::Debug for TwilioClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwilioClient")
            .field("conversations_base", &self.conversations_base.as_str())
            .field("flex_base", &self.flex_base.as_str())
            .field("content_base", &self.content_base.as_str())
            .field("backoff", &self.backoff)
            .finish_non_exhaustive()
    }
}

/// Whether an attempt with an unknown outcome may be made again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retry {
    /// Doing it twice has the effect of doing it once.
    Idempotent,
    /// Creates something: repeated only when Twilio certainly did not process it.
    OnlyIfUnprocessed,
}

/// One REST call, before it is sent.
struct Request {
    operation: &'static str,
    method: Method,
    url: Url,
    form: Vec<(&'static str, String)>,
    /// A JSON body instead of the form (the Content API takes JSON).
    json: Option<serde_json::Value>,
    retry: Retry,
}

/// A 2xx answer.
struct Reply {
    body: Vec<u8>,
}

/// What happened across the attempts of one call, whatever its result.
struct Attempts {
    result: Result<Reply, TwilioError>,
    /// An earlier attempt may have been applied by Twilio although it did not say so.
    maybe_applied_before: bool,
}

/// A failed attempt that may be repeated.
struct Transient {
    what: String,
    retry_after: Option<Duration>,
    /// Whether Twilio may have applied the request.
    maybe_applied: bool,
}

impl TwilioClient {
    pub fn new(config: TwilioClientConfig) -> Result<Self, TwilioConfigError> {
        let region = config.region.as_deref();
        let edge = config.edge.as_deref();
        let conversations_base = base_url(
            "TWILIO_CONVERSATIONS_BASE_URL",
            &config.conversations_base,
            region,
            edge,
        )?;
        let flex_base = base_url("TWILIO_FLEX_BASE_URL", &config.flex_base, region, edge)?;
        let content_base = base_url(
            "TWILIO_CONTENT_BASE_URL",
            &config.content_base,
            region,
            edge,
        )?;
        let http = crate::adapters::http::client(crate::adapters::http::HttpSettings {
            connect_timeout: config.connect_timeout,
            pool_idle_timeout: config.pool_idle_timeout,
        })
        .map_err(|e| TwilioConfigError::Http(e.to_string()))?;
        Ok(Self {
            http,
            authorization: basic_auth(&config.auth)?,
            conversations_base,
            flex_base,
            content_base,
            backoff: config.backoff,
            request_timeout: config.request_timeout,
        })
    }

    /// The Conversations host in use, after region/edge rewriting.
    pub fn conversations_base(&self) -> &Url {
        &self.conversations_base
    }

    /// The Flex host in use, after region/edge rewriting.
    pub fn flex_base(&self) -> &Url {
        &self.flex_base
    }

    /// The Content API host in use, after region/edge rewriting.
    pub fn content_base(&self) -> &Url {
        &self.content_base
    }

    fn conversations_url(&self, path: &str) -> Url {
        join(&self.conversations_base, path)
    }

    /// Runs a call with its retries, within the deadline.
    async fn execute(&self, call: Request, deadline: Deadline) -> Attempts {
        let mut attempts = 0u32;
        let mut maybe_applied_before = false;
        let mut last: Option<String> = None;
        loop {
            let remaining = deadline.remaining();
            if remaining < MIN_ATTEMPT {
                let last = last.unwrap_or_else(|| "no time left before the deadline".to_owned());
                return Attempts {
                    result: Err(unavailable(
                        &call,
                        attempts,
                        format!("{last}; deadline reached"),
                    )),
                    maybe_applied_before,
                };
            }
            attempts += 1;
            let transient = match self
                .attempt(&call, self.request_timeout.min(remaining))
                .await
            {
                Ok(reply) => {
                    return Attempts {
                        result: Ok(reply),
                        maybe_applied_before,
                    };
                }
                Err(AttemptError::Final(error)) => {
                    return Attempts {
                        result: Err(error),
                        maybe_applied_before,
                    };
                }
                Err(AttemptError::Transient(t)) => t,
            };
            if transient.maybe_applied && call.retry == Retry::OnlyIfUnprocessed {
                return Attempts {
                    result: Err(TwilioError::Ambiguous {
                        operation: call.operation,
                        attempts,
                        last: format!(
                            "{}; not repeated because Twilio may have applied it",
                            transient.what
                        ),
                    }),
                    maybe_applied_before: true,
                };
            }
            maybe_applied_before |= transient.maybe_applied;
            if attempts >= self.backoff.max_attempts {
                return Attempts {
                    result: Err(unavailable(&call, attempts, transient.what)),
                    maybe_applied_before,
                };
            }
            let pause = self
                .backoff
                .jittered(attempts - 1)
                .max(transient.retry_after.unwrap_or_default());
            if !deadline.allows(pause, MIN_ATTEMPT) {
                let what = format!(
                    "{}; waiting {} ms more would pass the deadline",
                    transient.what,
                    pause.as_millis()
                );
                return Attempts {
                    result: Err(unavailable(&call, attempts, what)),
                    maybe_applied_before,
                };
            }
            tracing::debug!(
                operation = call.operation,
                attempt = attempts,
                failure = %transient.what,
                pause_ms = pause.as_millis() as u64,
                "repeating twilio call"
            );
            last = Some(transient.what);
            tokio::time::sleep(pause).await;
        }
    }

    async fn attempt(&self, call: &Request, timeout: Duration) -> Result<Reply, AttemptError> {
        let mut request = self
            .http
            .request(call.method.clone(), call.url.clone())
            .header(AUTHORIZATION, self.authorization.clone())
            .timeout(timeout);
        if let Some(json) = &call.json {
            request = request.json(json);
        } else if call.method == Method::POST {
            request = request.form(&call.form);
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => return Err(AttemptError::Transient(transport_failure(&error))),
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let body = match response.bytes().await {
            Ok(body) => body.to_vec(),
            Err(error) => return Err(AttemptError::Transient(transport_failure(&error))),
        };
        if status.is_success() {
            return Ok(Reply { body });
        }
        let error = ErrorBody::parse(&body);
        let describe = || {
            let code = error
                .code
                .map(|c| format!(", code {c}"))
                .unwrap_or_default();
            format!(
                "HTTP {}{code}: {}",
                status.as_u16(),
                error.message_or(status.as_u16())
            )
        };
        match status {
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
                Err(AttemptError::Transient(Transient {
                    what: describe(),
                    retry_after,
                    maybe_applied: false,
                }))
            }
            s if s.is_server_error() => Err(AttemptError::Transient(Transient {
                what: describe(),
                retry_after,
                maybe_applied: true,
            })),
            s => Err(AttemptError::Final(TwilioError::Rejected {
                operation: call.operation,
                status: s.as_u16(),
                code: error.code,
                message: error.message_or(s.as_u16()),
            })),
        }
    }

    async fn post_one(
        &self,
        conversation: &ConversationSid,
        author: &str,
        body: String,
        attributes: &str,
        deadline: Deadline,
    ) -> Result<Option<u64>, TwilioError> {
        let call = Request {
            operation: "post_message",
            method: Method::POST,
            url: self.conversations_url(&format!("v1/Conversations/{conversation}/Messages")),
            form: vec![
                ("Author", author.to_owned()),
                ("Body", body),
                ("Attributes", attributes.to_owned()),
            ],
            json: None,
            retry: Retry::OnlyIfUnprocessed,
        };
        self.execute(call, deadline)
            .await
            .result
            .map(|reply| created_index(&reply.body))
    }

    /// A `next_page_url` on the configured host only (its path and query are kept), so
    /// credentials never go to a host taken from a response.
    fn same_host(&self, operation: &'static str, next: &str) -> Result<Url, TwilioError> {
        let next = Url::parse(next).map_err(|e| TwilioError::Malformed {
            operation,
            detail: format!("next_page_url is not a URL: {e}"),
        })?;
        let mut url = self.conversations_base.clone();
        url.set_path(next.path());
        url.set_query(next.query());
        Ok(url)
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        operation: &'static str,
        url: Url,
        deadline: Deadline,
    ) -> Result<T, TwilioError> {
        let call = Request {
            operation,
            method: Method::GET,
            url,
            form: Vec::new(),
            json: None,
            retry: Retry::Idempotent,
        };
        let reply = self.execute(call, deadline).await.result?;
        decode(operation, &reply.body)
    }
}

enum AttemptError {
    Transient(Transient),
    Final(TwilioError),
}

/// Describes a transport failure without the URL's query and never with headers.
fn transport_failure(error: &reqwest::Error) -> Transient {
    // A connection that was never opened carried no request.
    let sent = !error.is_connect();
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "connection failed"
    };
    let mut what = kind.to_owned();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        what.push_str(": ");
        what.push_str(&cause.to_string());
        source = cause.source();
    }
    Transient {
        what,
        retry_after: None,
        maybe_applied: sent,
    }
}

fn unavailable(call: &Request, attempts: u32, last: String) -> TwilioError {
    TwilioError::Unavailable {
        operation: call.operation,
        attempts,
        last,
    }
}

fn decode<T: serde::de::DeserializeOwned>(
    operation: &'static str,
    body: &[u8],
) -> Result<T, TwilioError> {
    serde_json::from_slice(body).map_err(|e| TwilioError::Malformed {
        operation,
        detail: e.to_string(),
    })
}

/// Appends a relative path (and query) to a base URL that has no path of its own.
fn join(base: &Url, path_and_query: &str) -> Url {
    let mut url = base.clone();
    let (path, query) = match path_and_query.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (path_and_query, None),
    };
    url.set_path(path);
    url.set_query(query);
    url
}

/// Validates a base URL and applies the region/edge rule to its host.
fn base_url(
    name: &'static str,
    raw: &str,
    region: Option<&str>,
    edge: Option<&str>,
) -> Result<Url, TwilioConfigError> {
    let refuse = |reason: &str| TwilioConfigError::BaseUrl {
        name,
        // Never echo credentials that may have been pasted into the URL.
        url: raw.split('@').next_back().unwrap_or_default().to_owned(),
        reason: reason.to_owned(),
    };
    let mut url = Url::parse(raw.trim()).map_err(|e| refuse(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(refuse("the scheme must be http or https"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refuse(
            "credentials belong in the Twilio secret, not in the URL",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(refuse("a base URL has no query or fragment"));
    }
    if !matches!(url.path(), "" | "/") {
        return Err(refuse("a base URL has no path"));
    }
    let host = url
        .host_str()
        .ok_or_else(|| refuse("there is no host"))?
        .to_owned();
    let rewritten = regional_host(&host, region, edge);
    if rewritten != host {
        url.set_host(Some(&rewritten))
            .map_err(|e| refuse(&e.to_string()))?;
    }
    Ok(url)
}

#[async_trait]
impl Conversations for TwilioClient {
    /// Posts `body` as one message; the turn has cut it to Twilio's limit.
    async fn post_message(
        &self,
        conversation: &ConversationSid,
        author: &str,
        body: &str,
        tag: &ReplyTag,
        deadline: Deadline,
    ) -> Result<Option<u64>, TwilioError> {
        let attributes = tag.attributes().to_string();
        self.post_one(conversation, author, body.to_owned(), &attributes, deadline)
            .await
    }

    /// An earlier attempt with an unknown outcome followed by "already closed" (50377) means
    /// that attempt closed it: success.
    async fn close(
        &self,
        conversation: &ConversationSid,
        deadline: Deadline,
    ) -> Result<(), TwilioError> {
        let call = Request {
            operation: "close",
            method: Method::POST,
            url: self.conversations_url(&format!("v1/Conversations/{conversation}")),
            form: vec![("State", "closed".to_owned())],
            json: None,
            retry: Retry::Idempotent,
        };
        let outcome = self.execute(call, deadline).await;
        match outcome.result {
            Err(TwilioError::Rejected {
                code: Some(50377), ..
            }) if outcome.maybe_applied_before => Ok(()),
            other => other.map(drop),
        }
    }

    /// A webhook that is already gone (404) is the outcome wanted.
    async fn remove_webhook(
        &self,
        conversation: &ConversationSid,
        webhook: &WebhookSid,
        deadline: Deadline,
    ) -> Result<(), TwilioError> {
        let call = Request {
            operation: "remove_webhook",
            method: Method::DELETE,
            url: self.conversations_url(&format!(
                "v1/Conversations/{conversation}/Webhooks/{webhook}"
            )),
            form: Vec::new(),
            json: None,
            retry: Retry::Idempotent,
        };
        match self.execute(call, deadline).await.result {
            Err(TwilioError::Rejected { status: 404, .. }) => Ok(()),
            other => other.map(drop),
        }
    }

    async fn fetch_conversation(
        &self,
        conversation: &ConversationSid,
        deadline: Deadline,
    ) -> Result<ConversationInfo, TwilioError> {
        let url = self.conversations_url(&format!("v1/Conversations/{conversation}"));
        let resource: ConversationResource =
            self.get_json("fetch_conversation", url, deadline).await?;
        Ok(resource.into())
    }

    /// Follows `meta.next_page_url` on the configured host only (its path and query are kept),
    /// so credentials never go to a host taken from a response.
    async fn list_participants(
        &self,
        conversation: &ConversationSid,
        deadline: Deadline,
    ) -> Result<Vec<Participant>, TwilioError> {
        const OPERATION: &str = "list_participants";
        let mut url = self.conversations_url(&format!(
            "v1/Conversations/{conversation}/Participants?PageSize={PARTICIPANT_PAGE_SIZE}"
        ));
        let mut participants = Vec::new();
        for _ in 0..MAX_PARTICIPANT_PAGES {
            let page: ParticipantPage = self.get_json(OPERATION, url.clone(), deadline).await?;
            participants.extend(page.participants.into_iter().map(Participant::from));
            let Some(next) = page
                .meta
                .and_then(|m| m.next_page_url)
                .filter(|n| !n.is_empty())
            else {
                return Ok(participants);
            };
            url = self.same_host(OPERATION, &next)?;
        }
        Err(TwilioError::Malformed {
            operation: OPERATION,
            detail: format!("more than {MAX_PARTICIPANT_PAGES} pages of participants"),
        })
    }

    async fn recent_messages(
        &self,
        conversation: &ConversationSid,
        limit: u32,
        deadline: Deadline,
    ) -> Result<Vec<PostedMessage>, TwilioError> {
        let url = self.conversations_url(&format!(
            "v1/Conversations/{conversation}/Messages?Order=desc&PageSize={}",
            limit.clamp(1, MAX_PAGE_SIZE)
        ));
        let page: MessagePage = self.get_json("recent_messages", url, deadline).await?;
        Ok(page.messages.into_iter().map(PostedMessage::from).collect())
    }

    /// The first page holds the span and a few newer messages (the customer may have written
    /// on); more pages are read only when more than that came after `to`.
    async fn messages_between(
        &self,
        conversation: &ConversationSid,
        from: u64,
        to: u64,
        deadline: Deadline,
    ) -> Result<Vec<PostedMessage>, TwilioError> {
        const OPERATION: &str = "messages_between";
        let span = to.saturating_sub(from).saturating_add(1);
        let size = span
            .saturating_add(NEWER_SLACK)
            .min(u64::from(MAX_PAGE_SIZE));
        let mut url = self.conversations_url(&format!(
            "v1/Conversations/{conversation}/Messages?Order=desc&PageSize={size}"
        ));
        let mut found = Vec::new();
        for _ in 0..MAX_MESSAGE_PAGES {
            let page: MessagePage = self.get_json(OPERATION, url.clone(), deadline).await?;
            let reached = page.messages.iter().any(|m| m.index <= from) || page.messages.is_empty();
            found.extend(
                page.messages
                    .into_iter()
                    .filter(|m| (from..=to).contains(&m.index))
                    .map(PostedMessage::from),
            );
            let next = page
                .meta
                .and_then(|m| m.next_page_url)
                .filter(|n| !n.is_empty());
            match next {
                Some(next) if !reached => url = self.same_host(OPERATION, &next)?,
                _ => break,
            }
        }
        found.sort_by_key(|m| m.index);
        found.dedup_by_key(|m| m.index);
        Ok(found)
    }

    async fn create_interaction(
        &self,
        request: &InteractionRequest,
        deadline: Deadline,
    ) -> Result<CreatedInteraction, TwilioError> {
        const OPERATION: &str = "create_interaction";
        let mut form = vec![
            ("Channel", request.channel_json().to_string()),
            ("Routing", request.routing_json().to_string()),
        ];
        if let Some(ttid) = &request.webhook_ttid {
            form.push(("WebhookTtid", ttid.clone()));
        }
        let call = Request {
            operation: OPERATION,
            method: Method::POST,
            url: join(&self.flex_base, "v1/Interactions"),
            form,
            json: None,
            retry: Retry::OnlyIfUnprocessed,
        };
        let reply = self.execute(call, deadline).await.result?;
        let resource: InteractionResource = decode(OPERATION, &reply.body)?;
        let sid = resource
            .interaction_sid()
            .map_err(|detail| TwilioError::Malformed {
                operation: OPERATION,
                detail,
            })?;
        Ok(CreatedInteraction {
            sid,
            channel: resource.channel_sid(),
        })
    }

    async fn invite(
        &self,
        interaction: &InteractionSid,
        channel: &InteractionChannelSid,
        request: &InteractionRequest,
        deadline: Deadline,
    ) -> Result<(), TwilioError> {
        let call = Request {
            operation: "invite",
            method: Method::POST,
            url: join(
                &self.flex_base,
                &format!("v1/Interactions/{interaction}/Channels/{channel}/Invites"),
            ),
            form: vec![("Routing", request.routing_json().to_string())],
            json: None,
            retry: Retry::OnlyIfUnprocessed,
        };
        self.execute(call, deadline).await.result.map(drop)
    }

    /// The channel and its participants, read at once.
    async fn interaction_channel(
        &self,
        interaction: &InteractionSid,
        channel: &InteractionChannelSid,
        deadline: Deadline,
    ) -> Result<ChannelView, TwilioError> {
        let path = format!("v1/Interactions/{interaction}/Channels/{channel}");
        let (resource, participants) = futures::join!(
            self.get_json::<ChannelResource>(
                "interaction_channel",
                join(&self.flex_base, &path),
                deadline
            ),
            self.get_json::<ChannelParticipantPage>(
                "interaction_channel_participants",
                join(&self.flex_base, &format!("{path}/Participants?PageSize=50")),
                deadline
            ),
        );
        Ok(ChannelView {
            status: resource?.status,
            participants: participants?
                .participants
                .into_iter()
                .map(|p| ChannelParticipant {
                    kind: p.kind.unwrap_or_else(|| "unknown".to_owned()),
                    status: p.status,
                })
                .collect(),
        })
    }

    /// Setting a timer to the same value twice has the effect of setting it once, so an
    /// ambiguous failure is repeated.
    async fn set_timers(
        &self,
        conversation: &ConversationSid,
        update: &TimerUpdate,
        deadline: Deadline,
    ) -> Result<(), TwilioError> {
        if update.is_empty() {
            return Ok(());
        }
        let call = Request {
            operation: "set_timers",
            method: Method::POST,
            url: self.conversations_url(&format!("v1/Conversations/{conversation}")),
            form: update.form(),
            json: None,
            retry: Retry::Idempotent,
        };
        self.execute(call, deadline).await.result.map(drop)
    }

    /// Twilio keeps at most five scoped webhooks and a page holds five: one read.
    async fn list_webhooks(
        &self,
        conversation: &ConversationSid,
        deadline: Deadline,
    ) -> Result<Vec<ScopedWebhook>, TwilioError> {
        let url = self.conversations_url(&format!(
            "v1/Conversations/{conversation}/Webhooks?PageSize=5"
        ));
        let page: WebhookPage = self.get_json("list_webhooks", url, deadline).await?;
        Ok(page.webhooks.into_iter().map(ScopedWebhook::from).collect())
    }

    /// `Configuration.Filters` goes as one repeated key per filter, as Twilio's libraries send
    /// arrays.
    async fn create_webhook(
        &self,
        conversation: &ConversationSid,
        webhook: &NewWebhook,
        deadline: Deadline,
    ) -> Result<WebhookSid, TwilioError> {
        const OPERATION: &str = "create_webhook";
        let mut form = vec![
            (
                "Target",
                crate::ports::conversations::WEBHOOK_TARGET.to_owned(),
            ),
            ("Configuration.Url", webhook.url.clone()),
            ("Configuration.Method", "POST".to_owned()),
        ];
        form.extend(
            webhook
                .filters
                .iter()
                .map(|f| ("Configuration.Filters", f.clone())),
        );
        let call = Request {
            operation: OPERATION,
            method: Method::POST,
            url: self.conversations_url(&format!("v1/Conversations/{conversation}/Webhooks")),
            form,
            json: None,
            retry: Retry::OnlyIfUnprocessed,
        };
        let reply = self.execute(call, deadline).await.result?;
        let resource: WebhookResource = decode(OPERATION, &reply.body)?;
        resource
            .webhook_sid()
            .map_err(|detail| TwilioError::Malformed {
                operation: OPERATION,
                detail,
            })
    }

    /// Creates a message, so an ambiguous failure is not repeated (the card could show twice).
    async fn post_content(
        &self,
        conversation: &ConversationSid,
        author: &str,
        content: &ContentSid,
        variables: &BTreeMap<String, String>,
        tag: &ReplyTag,
        deadline: Deadline,
    ) -> Result<Option<u64>, TwilioError> {
        let mut form = vec![
            ("Author", author.to_owned()),
            ("ContentSid", content.to_string()),
        ];
        if !variables.is_empty() {
            let variables =
                serde_json::to_string(variables).map_err(|e| TwilioError::Malformed {
                    operation: "post_content",
                    detail: e.to_string(),
                })?;
            form.push(("ContentVariables", variables));
        }
        form.push(("Attributes", tag.attributes().to_string()));
        let call = Request {
            operation: "post_content",
            method: Method::POST,
            url: self.conversations_url(&format!("v1/Conversations/{conversation}/Messages")),
            form,
            json: None,
            retry: Retry::OnlyIfUnprocessed,
        };
        self.execute(call, deadline)
            .await
            .result
            .map(|reply| created_index(&reply.body))
    }
}

/// The Index in a created message's answer. The message exists whatever the body says, so an
/// unreadable body is no failure: the Index is then unknown, and a later turn finds it by
/// listing.
fn created_index(body: &[u8]) -> Option<u64> {
    serde_json::from_slice::<CreatedMessage>(body)
        .ok()
        .map(|m| m.index)
}

#[async_trait]
impl ContentApi for TwilioClient {
    /// A template created twice is invisible to customers (the second is simply unused), so an
    /// ambiguous failure is repeated.
    async fn create_content(
        &self,
        template: &ContentTemplate,
        deadline: Deadline,
    ) -> Result<ContentSid, TwilioError> {
        const OPERATION: &str = "create_content";
        let body = serde_json::to_value(template).map_err(|e| TwilioError::Malformed {
            operation: OPERATION,
            detail: e.to_string(),
        })?;
        let call = Request {
            operation: OPERATION,
            method: Method::POST,
            url: join(&self.content_base, "v1/Content"),
            form: Vec::new(),
            json: Some(body),
            retry: Retry::Idempotent,
        };
        let reply = self.execute(call, deadline).await.result?;
        let resource: ContentResource = decode(OPERATION, &reply.body)?;
        resource
            .content_sid()
            .map_err(|detail| TwilioError::Malformed {
                operation: OPERATION,
                detail,
            })
    }
}
