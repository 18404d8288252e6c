//! Twilio Conversations and Flex Interactions on loopback, strict like Twilio, for tests and
//! `flexlex demo`.
//!
//! One HTTP/1 server on `127.0.0.1` serves both hosts (point the client's Conversations and
//! Flex base URLs at [`TwilioEmulator::base_url`]). It implements what the bridge calls:
//!
//! | request | answer |
//! |---|---|
//! | `GET /v1/Conversations/{CH}` | 200 conversation |
//! | `POST /v1/Conversations/{CH}` (`State`, `Attributes`, ...) | 200; 400/50377 once closed |
//! | `POST /v1/Conversations/{CH}/Messages` (`Author`, `Body`, ...) | 201; 400/50377 once closed; 400/21617 over 1,600 |
//! | `GET /v1/Conversations/{CH}/Participants?PageSize&Page` | 200 page with `meta.next_page_url` |
//! | `GET /v1/Conversations/{CH}/Messages?Order&PageSize&Page` | 200 page, oldest or newest first (`Order=asc`/`desc`), `PageSize` 1–1000, `meta.next_page_url`; 400/20001 for anything else |
//! | `DELETE /v1/Conversations/{CH}/Webhooks/{WH}` | 204; 404 when unknown |
//! | `POST /v1/Interactions` (`Channel`, `Routing` as JSON strings, `WebhookTtid`) | 201 Interaction; its channel (`channel.sid`) and customer participant stored ([`interactions`]) |
//! | `GET /v1/Interactions/{KD}/Channels/{UO}` | 200 channel (`status`) |
//! | `POST /v1/Interactions/{KD}/Channels/{UO}` (`Status`=`closed`/`inactive`, `Routing`) | 200; `onChannelStatusUpdated` |
//! | `GET …/Channels/{UO}/Participants` | 200 page, key `participants` |
//! | `POST …/Channels/{UO}/Participants/{UT}` (`Status`=`closed`/`wrapup`) | 200; the participant leaves, `onParticipantLeft` |
//! | `POST …/Channels/{UO}/Invites` (`Routing`) | 201 invite `KG…`, a new task; 400 once the channel is closed |
//! | `GET`/`POST /v1/Instances/{GO}/InteractionWebhooks`, `GET`/`POST`/`DELETE …/{ttid}` | Interactions webhooks ([`interaction_webhooks`]); their events wait in [`TwilioEmulator::take_events`] |
//! | `GET`/`POST /v1/Configuration/Addresses`, `GET`/`POST`/`DELETE …/Addresses/{IG or address}` | address configurations ([`address_config`]) |
//! | `GET`/`POST /v1/Conversations/{CH}/Webhooks`, `GET …/Webhooks/{WH}` | scoped webhooks, `target=studio` included ([`scoped_webhooks`]) |
//! | `POST /v1/Content` (JSON: `language`, `types`, ...) | 201 template `HX…`; 400 per Twilio's schema and limits |
//!
//! `POST /v1/Conversations/{CH}` also takes `Timers.Inactive` / `Timers.Closed` (ISO-8601, at
//! least 1 and 10 minutes, `PT0S` refused like any shorter value; 400/50375, 50376, 50379,
//! 50380), shown as `timers`;
//! messages may carry `ContentSid` / `ContentVariables` (400/50526, 50527, 50528, 21655).
//!
//! Every request needs HTTP Basic auth (the account SID with the auth token, or an API key
//! from [`TwilioEmulator::add_api_key`]), else 401/20003. POST bodies must be form-encoded and
//! carry only the endpoint's parameters. Unknown conversations and paths answer 404/20404.
//! Conversations are created through [`TwilioEmulator::create_conversation`], not over HTTP.
//! Flex's own side of an Interaction (a worker accepting the task, Leave, Pause, a transfer)
//! is driven by [`TwilioEmulator::agent_joins`], [`TwilioEmulator::agent_leaves`],
//! [`TwilioEmulator::pause_channel`] and [`TwilioEmulator::transfer_channel`]. An unknown
//! `{KD}`, a `{UO}` that is not its channel or a `{GO}` that is not
//! [`TwilioEmulator::flex_instance_sid`] answers 404/20404.
//! Every request is recorded with the status it got; [`Fault`]s make Twilio fail on demand.

pub mod address_config;
mod content;
mod faults;
#[cfg(test)]
mod flex_tests;
mod form_rules;
pub mod interaction_webhooks;
pub mod interactions;
mod model;
mod routes;
pub mod scoped_webhooks;
mod stamps;
mod timers;
mod views;
mod wire;

use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::oneshot;

pub use address_config::{AddressConfiguration, AutoCreation};
pub use faults::{Fault, FaultKind, FaultTimes};
pub use interaction_webhooks::{InteractionWebhook, OutgoingEvent};
pub use interactions::{ChannelStatus, InteractionInvite, InteractionParticipant};
pub use model::{
    ContentMessage, ContentTemplate, CustomerKind, RecordedInteraction, RecordedMessage,
    RecordedRequest, SeedSids, SeededConversation,
};
pub use scoped_webhooks::ScopedWebhook;

use crate::sid::Sid;

/// A conversation's timers: the durations as set (`None` when never set) and the `timers` object
/// the conversation resource shows.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationTimers {
    pub inactive: Option<String>,
    pub closed: Option<String>,
    pub view: serde_json::Value,
}

/// State shared by the server task and every emulator handle.
pub(crate) struct Shared {
    base_url: String,
    account: Sid,
    auth_token: String,
    chat_service: String,
    flex_instance: Sid,
    state: Mutex<model::State>,
    connections: super::listener::ConnectionCount,
}

impl Shared {
    /// A panic while holding the lock cannot leave the model half-written in a way that
    /// matters to a test double, so a poisoned lock is used as is.
    fn lock(&self) -> MutexGuard<'_, model::State> {
        crate::lock(&self.state)
    }

    fn context(&self) -> views::Context<'_> {
        views::Context {
            base_url: &self.base_url,
            account: &self.account,
            chat_service: &self.chat_service,
            flex_instance: &self.flex_instance,
            auth_token: &self.auth_token,
        }
    }
}

/// Stops the server when the last emulator handle is dropped.
struct ServerGuard {
    _stop: oneshot::Sender<()>,
}

/// A running emulator. Clones share the same server and state.
#[derive(Clone)]
pub struct TwilioEmulator {
    shared: Arc<Shared>,
    _server: Arc<ServerGuard>,
}

impl std::fmt::Debug for TwilioEmulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwilioEmulator")
            .field("base_url", &self.shared.base_url)
            .field("account", &self.shared.account)
            .finish_non_exhaustive()
    }
}

impl TwilioEmulator {
    /// Binds `127.0.0.1:0` and serves on the current Tokio runtime, with a fresh account SID
    /// and auth token.
    pub async fn start() -> io::Result<Self> {
        Self::start_at(
            std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            Sid::random("AC"),
            crate::sid::random_hex(),
        )
        .await
    }

    /// Serves on `address` for `account`, whose auth token is `auth_token`: a local run whose
    /// settings and sample webhooks are written down ahead.
    pub async fn start_at(
        address: std::net::SocketAddr,
        account: Sid,
        auth_token: String,
    ) -> io::Result<Self> {
        let (listener, connections) = super::listener::bind(address).await?;
        let address = axum::serve::Listener::local_addr(&listener)?;
        let shared = Arc::new(Shared {
            base_url: format!("http://{address}"),
            account,
            auth_token,
            chat_service: stamps::new_sid("IS"),
            flex_instance: Sid::random("GO"),
            state: Mutex::new(model::State::default()),
            connections,
        });
        let router = axum::Router::new()
            .fallback(routes::handle)
            .with_state(Arc::clone(&shared));
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let served = axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    // Either a stop signal or every handle gone: both mean shut down.
                    let _ = stopped.await;
                })
                .await;
            if let Err(error) = served {
                tracing::warn!(%error, "twilio emulator stopped");
            }
        });
        Ok(Self {
            shared,
            _server: Arc::new(ServerGuard { _stop: stop }),
        })
    }

    /// TCP connections accepted so far: a client that reuses its pool opens few.
    pub fn connections(&self) -> usize {
        self.shared.connections.get()
    }

    /// `http://127.0.0.1:{port}`, for both the Conversations and the Flex base URL.
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    pub fn account_sid(&self) -> Sid {
        self.shared.account.clone()
    }

    /// The Flex instance (`GO…`) whose `InteractionWebhooks` the emulator serves.
    pub fn flex_instance_sid(&self) -> Sid {
        self.shared.flex_instance.clone()
    }

    /// The primary auth token: REST auth with the account SID, and the webhook signing key.
    pub fn auth_token(&self) -> String {
        self.shared.auth_token.clone()
    }

    /// Registers a new API key and returns its SID and secret.
    pub fn add_api_key(&self) -> (Sid, String) {
        let sid: Sid = Sid::random("SK");
        let secret = crate::sid::random_hex();
        self.shared
            .lock()
            .api_keys
            .push((sid.clone(), secret.clone()));
        (sid, secret)
    }

    /// A new active conversation with one customer and the bot's conversation-scoped webhook.
    pub fn create_conversation(&self, customer: CustomerKind) -> SeededConversation {
        self.shared.lock().seed(customer)
    }

    /// As [`TwilioEmulator::create_conversation`], under the SIDs `sids` names (those of
    /// webhooks written ahead, like the sample events); an existing conversation of that SID is
    /// replaced.
    pub fn create_conversation_with(
        &self,
        customer: CustomerKind,
        sids: SeedSids,
    ) -> SeededConversation {
        self.shared.lock().seed_with(customer, sids)
    }

    /// A new active conversation with the bot's webhook but no participant (Flex refuses to
    /// create an Interaction for it).
    pub fn create_conversation_without_customer(&self) -> (Sid, Sid) {
        self.shared.lock().seed_empty("{}".to_owned())
    }

    /// Adds a Conversations SDK participant; `None` when the conversation is unknown.
    pub fn add_chat_participant(&self, conversation: &Sid, identity: &str) -> Option<Sid> {
        let mut state = self.shared.lock();
        let record = state.conversations.get_mut(conversation)?;
        Some(record.add_participant(Some(identity.to_owned()), None).sid)
    }

    /// Appends a message as the customer would send it (no HTTP involved); the demo uses the
    /// result to build the `onMessageAdded` webhook. `None` when the conversation is unknown.
    pub fn add_customer_message(
        &self,
        conversation: &Sid,
        author: &str,
        body: &str,
    ) -> Option<RecordedMessage> {
        let mut state = self.shared.lock();
        let record = state.conversations.get_mut(conversation)?;
        Some(record.append_message(author, body, "{}"))
    }

    /// Appends a customer's message written `ago` before now: a conversation's history, or a
    /// message whose webhook never came. `None` when the conversation is unknown.
    pub fn add_customer_message_written(
        &self,
        conversation: &Sid,
        author: &str,
        body: &str,
        ago: std::time::Duration,
    ) -> Option<RecordedMessage> {
        let mut state = self.shared.lock();
        let record = state.conversations.get_mut(conversation)?;
        let mut message = record.append_message(author, body, "{}");
        let written = std::time::SystemTime::now()
            .checked_sub(ago)
            .unwrap_or(std::time::UNIX_EPOCH);
        message.date_created = stamps::iso8601(written);
        if let Some(stored) = record.messages.last_mut() {
            stored.date_created.clone_from(&message.date_created);
        }
        Some(message)
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    /// `(author, body)` of every message in the conversation, in order.
    pub fn messages(&self, conversation: &Sid) -> Vec<(String, String)> {
        self.message_records(conversation)
            .into_iter()
            .map(|m| (m.author, m.body))
            .collect()
    }

    pub fn message_records(&self, conversation: &Sid) -> Vec<RecordedMessage> {
        self.shared
            .lock()
            .conversations
            .get(conversation)
            .map(|c| c.messages.clone())
            .unwrap_or_default()
    }

    /// `active`, `inactive` or `closed`; `None` when the conversation is unknown.
    pub fn conversation_state(&self, conversation: &Sid) -> Option<String> {
        self.shared
            .lock()
            .conversations
            .get(conversation)
            .map(|c| c.state.as_str().to_owned())
    }

    /// The conversation-scoped webhooks still attached.
    pub fn webhooks(&self, conversation: &Sid) -> Vec<Sid> {
        self.shared
            .lock()
            .conversations
            .get(conversation)
            .map(|c| c.webhooks.clone())
            .unwrap_or_default()
    }

    pub fn interactions(&self) -> Vec<RecordedInteraction> {
        self.shared.lock().interactions.clone()
    }

    /// Every Content API template created, in order.
    pub fn contents(&self) -> Vec<ContentTemplate> {
        self.shared.lock().content.templates.clone()
    }

    /// Every message sent with a template, in order.
    pub fn content_messages(&self) -> Vec<ContentMessage> {
        self.shared.lock().content.messages.clone()
    }

    /// The conversation's timers as last set; `None` when the conversation is unknown.
    pub fn timers(&self, conversation: &Sid) -> Option<ConversationTimers> {
        self.shared
            .lock()
            .conversations
            .get(conversation)
            .map(|c| ConversationTimers {
                inactive: c.timers.inactive.as_ref().map(|t| t.duration.clone()),
                closed: c.timers.closed.as_ref().map(|t| t.duration.clone()),
                view: c.timers.view(),
            })
    }

    /// Faults are checked in the order pushed; the first that matches a request applies.
    pub fn push_fault(&self, fault: Fault) {
        self.shared.lock().faults.push(fault);
    }

    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }
}
