//! The on-machine stack: the Lex and Twilio emulators (or a real Lex bot), the real Lex SDK
//! client and Twilio REST client pointed at them, and the bridge built by `app::bridge`, as the
//! Lambda would build it. Also turns what the Twilio emulator recorded into [`Action`]s.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::{Channel, CliError};
use aws_credential_types::provider::SharedCredentialsProvider;
use flexlex::adapters::http::{HttpBuildError, HttpSettings, SmithyHttpClient};
use flexlex::adapters::lex::{LexBot, LexSettings};
use flexlex::app::bridge::Bridge;
use flexlex::app::compose;
use flexlex::app::config::Config;
use flexlex::domain::deadline::Deadline;
use flexlex::domain::secret::Secret;
use flexlex::outcome::Report;
use flexlex::ports::bot::Bot;
use flexlex_emulators::lex::{DEMO_ALIAS_ID, DEMO_BOT_ID, LexEmulator};
use flexlex_emulators::twilio::{
    ContentTemplate, CustomerKind, SeededConversation, TwilioEmulator,
};
use flexlex_emulators::webhook::{self, CustomerMessage};

/// The signing token `serve --simulate` uses when `TWILIO_AUTH_TOKEN` is not set. It signs
/// webhooks for the emulated account only and is not a credential of anything real.
pub const SIMULATE_SIGNING_TOKEN: &str = "flexlex-simulate-signing-token";

/// TaskRouter SIDs for emulated handoffs (the emulator accepts any well-formed SID).
const LOCAL_WORKSPACE: &str = flexlex_emulators::samples::WORKSPACE_SID;
const LOCAL_WORKFLOW: &str = flexlex_emulators::samples::WORKFLOW_SID;

/// The settings a bot designer may try locally; everything about Twilio stays emulated.
pub const BEHAVIOUR_SETTINGS: [&str; 22] = [
    "HANDOFF_INTENTS",
    "CLOSE_INTENTS",
    "BOT_AUTHOR",
    "IGNORE_AUTHORS",
    "DEFAULT_LOCALE",
    "ON_BOT_ERROR",
    "BOT_ERROR_MESSAGE",
    "ON_MEDIA",
    "MEDIA_REPLY_MESSAGE",
    "TASK_CHANNELS",
    "WEBHOOK_PUBLIC_URL",
    "HANDOFF_AFTER_FALLBACKS",
    "FALLBACK_INTENTS",
    "HANDOFF_BELOW_CONFIDENCE",
    "LOW_CONFIDENCE_TURNS",
    "HANDOFF_ON_NEGATIVE_SENTIMENT",
    "INACTIVE_AFTER",
    "CLOSE_AFTER",
    "TIMERS_AFTER_HANDOFF",
    "AGENT_INACTIVE_AFTER",
    "AGENT_CLOSE_AFTER",
    "RICH_CARDS",
];

/// The [`BEHAVIOUR_SETTINGS`] that are set in the process environment.
pub fn behaviour_from_env() -> HashMap<String, String> {
    BEHAVIOUR_SETTINGS
        .iter()
        .filter_map(|name| std::env::var(name).ok().map(|v| ((*name).to_owned(), v)))
        .collect()
}

/// Which Lex answers.
pub enum BotChoice {
    /// The Lex emulator's OrderFlowers bot, through the real SDK client.
    Emulated,
    /// A real Lex V2 bot.
    Real {
        sdk: Box<aws_config::SdkConfig>,
        bot_id: String,
        alias_id: String,
        locale: String,
    },
}

/// Everything [`LocalStack::start`] needs.
pub struct StackOptions {
    pub bot: BotChoice,
    /// The auth token the webhooks are signed with (and the bridge validates against).
    pub signing_token: Secret,
    /// Behaviour settings laid over the local defaults.
    pub settings: HashMap<String, String>,
}

/// One change the bridge made in Twilio, as the emulator recorded it.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Message {
        conversation: String,
        author: String,
        body: String,
    },
    /// A message sent as a Content API template: what the customer's channel shows.
    Card {
        conversation: String,
        author: String,
        /// The template's `HX…` SID.
        content: String,
        /// Its richest type (`twilio/quick-reply`, `twilio/list-picker`).
        kind: String,
        body: String,
        /// The buttons' or list items' titles.
        choices: Vec<String>,
    },
    /// A Content API template was created.
    TemplateCreated {
        kind: String,
    },
    /// The conversation's timers were set: by the bot's first answer, or extended at handoff.
    Timers {
        conversation: String,
        inactive: Option<String>,
        closed: Option<String>,
    },
    Closed {
        conversation: String,
    },
    Interaction {
        conversation: String,
        channel: Value,
        routing: Value,
    },
    WebhookRemoved {
        conversation: String,
        webhook: String,
    },
    /// A request the emulator refused (e.g. an injected 429 before a retry succeeded).
    Refused {
        method: String,
        path: String,
        status: u16,
    },
}

/// A customer's message handled end to end: what the bridge reported and what it did.
pub struct Exchange {
    pub report: Report,
    pub actions: Vec<Action>,
}

/// Emulators, clients and the bridge, running on the current Tokio runtime.
pub struct LocalStack {
    pub lex: Option<LexEmulator>,
    pub twilio: TwilioEmulator,
    pub bridge: Bridge,
    /// `BotId=..&BotAliasId=..` (and `LocaleId` for a real bot): the webhook URL's query.
    pub bot_query: String,
    signing_token: Secret,
    cursor: usize,
    /// What the bridge was built from, to build it again with more settings.
    settings: HashMap<String, String>,
    bot: Arc<dyn Bot>,
}

/// The bridge over the local ports with `settings`.
fn local_bridge(settings: &HashMap<String, String>, bot: Arc<dyn Bot>) -> Result<Bridge, CliError> {
    let config = Config::from_settings(settings)
        .map_err(|e| CliError::Config(format!("{e} (check the variable's value)")))?;
    let client = compose::twilio_client(&config.twilio)
        .map_err(|e| CliError::Runtime(format!("cannot build the Twilio client: {e}")))?;
    let client = Arc::new(client);
    Ok(compose::bridge(
        &config,
        compose::Ports::local(bot, client.clone()).with_content(client),
    ))
}

/// Generous for a loopback call, short enough that a stuck call does not hang the CLI.
const EVENT_BUDGET: Duration = Duration::from_secs(25);

pub fn event_deadline() -> Deadline {
    Deadline::after(EVENT_BUDGET)
}

impl LocalStack {
    pub async fn start(options: StackOptions) -> Result<Self, CliError> {
        let twilio = TwilioEmulator::start()
            .await
            .map_err(|e| CliError::Runtime(format!("cannot start the Twilio emulator: {e}")))?;
        let (lex, bot, bot_query): (_, Arc<dyn Bot>, _) = match options.bot {
            BotChoice::Emulated => {
                let lex = LexEmulator::start().await.map_err(|e| {
                    CliError::Runtime(format!("cannot start the Lex emulator: {e}"))
                })?;
                let sdk = emulator_sdk_config(&lex.endpoint())
                    .map_err(|e| CliError::Runtime(e.to_string()))?;
                let bot = LexBot::from_sdk_config(&sdk, &LexSettings::default());
                let query = format!("BotId={DEMO_BOT_ID}&BotAliasId={DEMO_ALIAS_ID}");
                (Some(lex), Arc::new(bot), query)
            }
            BotChoice::Real {
                sdk,
                bot_id,
                alias_id,
                locale,
            } => {
                let bot = LexBot::from_sdk_config(&sdk, &LexSettings::default());
                let query = form_urlencoded::Serializer::new(String::new())
                    .append_pair("BotId", &bot_id)
                    .append_pair("BotAliasId", &alias_id)
                    .append_pair("LocaleId", &locale)
                    .finish();
                (None, Arc::new(bot), query)
            }
        };

        let (key_sid, key_secret) = twilio.add_api_key();
        let mut settings: HashMap<String, String> = [
            ("TWILIO_ACCOUNT_SID", twilio.account_sid().to_string()),
            (
                "TWILIO_AUTH_TOKEN",
                options.signing_token.expose().to_owned(),
            ),
            ("TWILIO_API_KEY_SID", key_sid.to_string()),
            ("TWILIO_API_KEY_SECRET", key_secret),
            ("TWILIO_CONVERSATIONS_BASE_URL", twilio.base_url()),
            ("TWILIO_FLEX_BASE_URL", twilio.base_url()),
            ("TWILIO_CONTENT_BASE_URL", twilio.base_url()),
            ("FLEX_WORKSPACE_SID", LOCAL_WORKSPACE.to_owned()),
            ("FLEX_WORKFLOW_SID", LOCAL_WORKFLOW.to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        for (name, value) in options.settings {
            if BEHAVIOUR_SETTINGS.contains(&name.as_str()) {
                settings.insert(name, value);
            }
        }
        // Shared keys, so a local endpoint checks requests a Webhooks configuration signs.
        for name in [
            "TWILIO_SHARED_KEY_SECRET",
            "TWILIO_SHARED_KEY_ID",
            "TWILIO_PREVIOUS_SHARED_KEY_SECRET",
            "TWILIO_PREVIOUS_SHARED_KEY_ID",
        ] {
            if let Ok(value) = std::env::var(name) {
                settings.insert(name.to_owned(), value);
            }
        }
        let bridge = local_bridge(&settings, bot.clone())?;
        Ok(Self {
            lex,
            twilio,
            bridge,
            bot_query,
            signing_token: options.signing_token,
            cursor: 0,
            settings,
            bot,
        })
    }

    /// `AFTER_AGENT=bot`: registers the stack's Interactions webhook on the emulated Flex
    /// instance (as `flexlex connect --after-agent` does) and builds the bridge again with its
    /// ttid. The emulated Flex signs its events with the account's auth token, which the
    /// bridge then accepts beside the demo's own.
    pub async fn take_back_after_agent(
        &mut self,
        url: &str,
        message: &str,
    ) -> Result<(), CliError> {
        let (key, secret) = self.twilio.add_api_key();
        let credentials = flexlex::domain::secret::TwilioCredentials::ApiKey {
            sid: flexlex::domain::ids::ApiKeySid::parse(key.as_str())
                .map_err(|e| CliError::Runtime(e.to_string()))?,
            secret: Secret::new(secret),
        };
        let base = reqwest::Url::parse(&self.twilio.base_url())
            .map_err(|e| CliError::Runtime(e.to_string()))?;
        let admin = crate::twilio_admin::TwilioAdmin::new(credentials, base)?;
        let webhook = admin
            .create_interaction_webhook(
                self.twilio.flex_instance_sid().as_str(),
                url,
                flexlex::intake::interactions::TAKE_BACK_EVENTS,
            )
            .await
            .map_err(|e| {
                CliError::Runtime(format!("the emulated Flex refused the webhook: {e}"))
            })?;
        let mut settings = self.settings.clone();
        settings.insert("AFTER_AGENT".into(), "bot".into());
        settings.insert("INTERACTION_WEBHOOK_TTID".into(), webhook.ttid);
        settings.insert("AFTER_AGENT_MESSAGE".into(), message.into());
        settings.insert(
            "TWILIO_PREVIOUS_AUTH_TOKEN".into(),
            self.twilio.auth_token(),
        );
        self.bridge = local_bridge(&settings, self.bot.clone())?;
        Ok(())
    }

    /// Flex's events since the last call, delivered to the bridge in order.
    pub async fn flex_events(&mut self) -> Result<Vec<Exchange>, CliError> {
        let mut exchanges = Vec::new();
        for event in self.twilio.take_events() {
            let envelope = event
                .envelope()
                .map_err(|e| CliError::Runtime(e.to_string()))?;
            exchanges.push(self.deliver(envelope, None).await);
        }
        Ok(exchanges)
    }

    /// A new conversation with a customer on `channel`, named as the demo and `serve` show it.
    pub fn seed(&self, customer: CustomerKind) -> SeededConversation {
        self.twilio.create_conversation(customer)
    }

    /// The webhook URL on `base` (`https://host/path`) with the bot's query.
    pub fn webhook_url(&self, base: &str) -> String {
        format!("{base}?{}", self.bot_query)
    }

    /// The customer writes `text`: the message is added to the conversation, Twilio's webhook
    /// for it is built and signed with `token` (the stack's own when `None`) over `url`, and
    /// the bridge handles it.
    pub async fn say(
        &mut self,
        seeded: &SeededConversation,
        text: &str,
        url: &str,
        token: Option<&str>,
    ) -> Result<Exchange, CliError> {
        let envelope = self.webhook_for(seeded, text, url, token)?;
        let report = self.bridge.intake(envelope, event_deadline()).await;
        flexlex::app::telemetry::emit(&report, flexlex::app::telemetry::LogFormat::Text);
        Ok(Exchange {
            report,
            actions: self.actions_since_last(),
        })
    }

    /// Several webhooks at once, as Twilio sends a quick burst: each message is added to the
    /// conversation in order, then every webhook is handed to the bridge concurrently. The
    /// reports come back in the order the events were given; the actions are the burst's.
    pub async fn deliver_together(&mut self, events: Vec<Value>) -> (Vec<Report>, Vec<Action>) {
        let bridge = &self.bridge;
        let reports = futures::future::join_all(
            events
                .into_iter()
                .map(|event| bridge.intake(event, event_deadline())),
        )
        .await;
        for report in &reports {
            flexlex::app::telemetry::emit(report, flexlex::app::telemetry::LogFormat::Text);
        }
        (reports, self.actions_since_last())
    }

    /// The customer's message `text` stored in the conversation, and the signed webhook
    /// Twilio would send for it.
    pub fn webhook_for(
        &self,
        seeded: &SeededConversation,
        text: &str,
        url: &str,
        token: Option<&str>,
    ) -> Result<Value, CliError> {
        let recorded = self
            .twilio
            .add_customer_message(&seeded.conversation, &seeded.customer_author, text)
            .ok_or_else(|| {
                CliError::Runtime(format!("conversation {} is gone", seeded.conversation))
            })?;
        let account = self.twilio.account_sid().to_string();
        let params = CustomerMessage {
            account: &account,
            conversation: seeded.conversation.as_str(),
            webhook: seeded.webhook.as_str(),
            participant: seeded.customer.as_str(),
            author: &seeded.customer_author,
            body: text,
            index: recorded.index,
            source: webhook::source_for(&seeded.customer_author),
        }
        .params();
        let token = token.unwrap_or(self.signing_token.expose());
        webhook::signed_envelope(url, &params, token).map_err(|e| CliError::Runtime(e.to_string()))
    }

    /// Hands an envelope (from `serve`) to the bridge and collects what it did in Twilio.
    /// Callers serialise events so that the actions recorded belong to this one.
    pub async fn deliver(&mut self, event: Value, public_url: Option<&str>) -> Exchange {
        let report = self
            .bridge
            .intake_at(event, public_url, event_deadline())
            .await;
        flexlex::app::telemetry::emit(&report, flexlex::app::telemetry::LogFormat::Text);
        Exchange {
            report,
            actions: self.actions_since_last(),
        }
    }

    /// What the bridge did in Twilio since the last call.
    pub fn actions_since_last(&mut self) -> Vec<Action> {
        actions_since(&self.twilio, &mut self.cursor)
    }

    /// How many requests Lex and Twilio have received so far: a rejected event adds none.
    pub fn service_calls(&self) -> (usize, usize) {
        let lex = self.lex.as_ref().map_or(0, |l| l.calls().len());
        (lex, self.twilio.requests().len())
    }
}

/// What `twilio` recorded after the first `cursor` requests, as actions; moves `cursor` on.
pub fn actions_since(twilio: &TwilioEmulator, cursor: &mut usize) -> Vec<Action> {
    let requests = twilio.requests();
    let new = requests.get(*cursor..).unwrap_or_default();
    *cursor = requests.len();
    // Templates are stored in the order their creations succeeded.
    let templates = twilio.contents();
    let mut created = requests[..requests.len() - new.len()]
        .iter()
        .filter(|r| is_template_creation(r))
        .count();
    new.iter()
        .filter_map(|request| action_from(request, &templates, &mut created))
        .collect()
}

/// AWS configuration for a loopback emulator at `endpoint`: a fixed region and static
/// credentials (an emulator checks that requests are signed, not by whom), on the product's
/// shared HTTP stack, so nothing is looked up in the environment or on the network.
pub fn emulator_sdk_config(endpoint: &str) -> Result<aws_config::SdkConfig, HttpBuildError> {
    let credentials = aws_credential_types::Credentials::new(
        "AKIDFLEXLEXLOCAL",
        "flexlex-local",
        None,
        None,
        "flexlex-local",
    );
    Ok(aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .endpoint_url(endpoint)
        .http_client(SmithyHttpClient::shared(flexlex::adapters::http::client(
            HttpSettings::default(),
        )?))
        .build())
}

/// The customer each channel's seeded conversation starts with.
pub fn customer(channel: Channel, name: &str) -> CustomerKind {
    match channel {
        Channel::Web => CustomerKind::Web {
            identity: name.to_ascii_lowercase(),
            friendly_name: name.to_owned(),
        },
        Channel::Sms => CustomerKind::Sms {
            address: "+15558675310".to_owned(),
        },
        Channel::Whatsapp => CustomerKind::Whatsapp {
            address: "+447700900123".to_owned(),
        },
    }
}

/// The richest type of a template, its body and its choices' titles.
fn template_view(template: &ContentTemplate) -> (String, String, Vec<String>) {
    let titles = |list: &Value, key: &str| -> Vec<String> {
        list.as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a.get(key).and_then(Value::as_str).map(str::to_owned))
            .collect()
    };
    let types = &template.types;
    let (kind, choices) = if let Some(quick) = types.get("twilio/quick-reply") {
        ("twilio/quick-reply", titles(&quick["actions"], "title"))
    } else if let Some(list) = types.get("twilio/list-picker") {
        ("twilio/list-picker", titles(&list["items"], "item"))
    } else {
        ("twilio/text", Vec::new())
    };
    let body = types[kind]["body"].as_str().unwrap_or_default().to_owned();
    (kind.to_owned(), body, choices)
}

fn is_template_creation(request: &flexlex_emulators::twilio::RecordedRequest) -> bool {
    request.method == "POST" && request.path == "/v1/Content" && request.status < 400
}

/// `created`: how many templates were created before `request`, moved on by a creation.
fn action_from(
    request: &flexlex_emulators::twilio::RecordedRequest,
    templates: &[ContentTemplate],
    created: &mut usize,
) -> Option<Action> {
    let segments: Vec<&str> = request.path.trim_matches('/').split('/').collect();
    if request.status >= 400 {
        return Some(Action::Refused {
            method: request.method.clone(),
            path: request.path.clone(),
            status: request.status,
        });
    }
    match (request.method.as_str(), segments.as_slice()) {
        ("POST", ["v1", "Conversations", conversation, "Messages"])
            if request.param("ContentSid").is_some() =>
        {
            let content = request.param("ContentSid").unwrap_or_default().to_owned();
            let (kind, body, choices) = templates
                .iter()
                .find(|t| t.sid.as_str() == content)
                .map(template_view)
                .unwrap_or_default();
            Some(Action::Card {
                conversation: (*conversation).to_owned(),
                author: request.param("Author").unwrap_or_default().to_owned(),
                content,
                kind,
                body,
                choices,
            })
        }
        ("POST", ["v1", "Content"]) => {
            let kind = templates
                .get(*created)
                .map(|t| template_view(t).0)
                .unwrap_or_default();
            *created += 1;
            Some(Action::TemplateCreated { kind })
        }
        ("POST", ["v1", "Conversations", conversation])
            if request.param("Timers.Inactive").is_some()
                || request.param("Timers.Closed").is_some() =>
        {
            Some(Action::Timers {
                conversation: (*conversation).to_owned(),
                inactive: request.param("Timers.Inactive").map(str::to_owned),
                closed: request.param("Timers.Closed").map(str::to_owned),
            })
        }
        ("POST", ["v1", "Conversations", conversation, "Messages"]) => Some(Action::Message {
            conversation: (*conversation).to_owned(),
            author: request.param("Author").unwrap_or_default().to_owned(),
            body: request.param("Body").unwrap_or_default().to_owned(),
        }),
        ("POST", ["v1", "Conversations", conversation])
            if request.param("State") == Some("closed") =>
        {
            Some(Action::Closed {
                conversation: (*conversation).to_owned(),
            })
        }
        ("POST", ["v1", "Interactions"]) => {
            let json = |name: &str| {
                request
                    .param(name)
                    .and_then(|raw| serde_json::from_str::<Value>(raw).ok())
                    .unwrap_or(Value::Null)
            };
            let channel = json("Channel");
            let conversation = channel
                .pointer("/properties/media_channel_sid")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            Some(Action::Interaction {
                conversation,
                channel,
                routing: json("Routing"),
            })
        }
        ("DELETE", ["v1", "Conversations", conversation, "Webhooks", webhook]) => {
            Some(Action::WebhookRemoved {
                conversation: (*conversation).to_owned(),
                webhook: (*webhook).to_owned(),
            })
        }
        _ => None,
    }
}
