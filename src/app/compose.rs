//! The composition root: builds the bridge once per cold start from the configuration, and
//! each client once per process, when its role first needs it. Entry points (the Lambda, the
//! CLI) only call in here.

use std::collections::HashMap;
use std::sync::Arc;

use crate::adapters::dynamodb::DynamoStore;
use crate::adapters::http::{HttpBuildError, HttpSettings, SmithyHttpClient};
use crate::adapters::in_memory::InMemoryStore;
use crate::adapters::lazy::{BuildError, Lazy};
use crate::adapters::lex::{LexBot, LexSettings};
use crate::adapters::sqs::SqsTurnQueue;
use crate::adapters::twilio::{TwilioClient, TwilioClientConfig};
use crate::app::bridge::Bridge;
use crate::app::config::{Config, ConfigError, TwilioSettings};
use crate::app::invocation_deadline::InvocationDeadlines;
use crate::app::secret_settings;
use crate::intake::signature::Verifier;
use crate::intake::{Intake, Turns};
use crate::ports::bot::Bot;
use crate::ports::content::{ContentApi, ContentCache};
use crate::ports::conversations::Conversations;
use crate::ports::queue::TurnQueue;
use crate::ports::store::ConversationStore;
use crate::turn::batch::Batch;
use crate::turn::context::{Cards, Worker};
use crate::turn::in_process::InProcess;
use crate::turn::pipeline::Pipeline;

/// The ports a bridge runs on.
pub struct Ports {
    pub bot: Arc<dyn Bot>,
    pub conversations: Arc<dyn Conversations>,
    pub store: Arc<dyn ConversationStore>,
    /// Which template each card was created as: the state store, so the fleet shares it.
    pub content_cache: Arc<dyn ContentCache>,
    /// The Content API. `None`: cards are posted as numbered text on every channel.
    pub content: Option<Arc<dyn ContentApi>>,
    /// `None`: turns run in this process, one conversation lane at a time.
    pub queue: Option<Arc<dyn TurnQueue>>,
}

impl Ports {
    /// Local ports: in-memory state and the in-process queue, no Content API.
    pub fn local(bot: Arc<dyn Bot>, conversations: Arc<dyn Conversations>) -> Self {
        let store = Arc::new(InMemoryStore::new());
        Self {
            bot,
            conversations,
            store: store.clone(),
            content_cache: store,
            content: None,
            queue: None,
        }
    }

    /// With the Content API (the Twilio client is one), for rich cards.
    pub fn with_content(mut self, api: Arc<dyn ContentApi>) -> Self {
        self.content = Some(api);
        self
    }

    /// With `store` as the conversation state and the template cache both.
    pub fn with_state<S: ConversationStore + ContentCache + 'static>(
        mut self,
        store: Arc<S>,
    ) -> Self {
        self.store = store.clone();
        self.content_cache = store;
        self
    }
}

/// The bridge over the given ports, with the configured behaviour and signature tokens. The
/// configuration's warnings (deprecated or ineffective settings) are logged here, once per
/// cold start, by every entry point.
pub fn bridge(config: &Config, mut ports: Ports) -> Bridge {
    log_warnings(config);
    let queue = ports.queue.take();
    let pipeline = pipeline(config, ports);
    let turns = match queue {
        Some(queue) => Turns::Queue(queue),
        None => Turns::InProcess(Arc::new(InProcess::new(Arc::clone(&pipeline)))),
    };
    Bridge::new(
        intake(config, turns),
        Lazy::ready(Batch::new(pipeline)),
        InvocationDeadlines::new(config.function_timeout),
    )
}

fn log_warnings(config: &Config) {
    for warning in &config.warnings {
        tracing::warn!(variable = warning.variable, "setting: {}", warning.advice);
    }
}

/// The turn pipeline over `ports` (their queue is not used).
fn pipeline(config: &Config, ports: Ports) -> Arc<Pipeline> {
    Arc::new(Pipeline::new(Worker::new(
        config.behaviour.clone(),
        ports.bot,
        ports.conversations,
        ports.store,
        Cards::new(ports.content, ports.content_cache),
    )))
}

/// The intake role: the signature's tokens and where admitted jobs go.
fn intake(config: &Config, turns: Turns) -> Intake {
    let verifier = Verifier::new(
        config.twilio.auth_token.clone(),
        config.twilio.previous_auth_token.clone(),
    )
    .with_shared_keys(
        config.twilio.shared_key.clone(),
        config.twilio.previous_shared_key.clone(),
    );
    Intake::new(
        config.behaviour.clone(),
        config.twilio.account.clone(),
        verifier,
        turns,
    )
}

/// The Twilio REST client for these settings.
pub fn twilio_client(settings: &TwilioSettings) -> Result<TwilioClient, ConfigError> {
    let mut client = TwilioClientConfig::new(settings.credentials.clone());
    if let Some(url) = &settings.conversations_base_url {
        client.conversations_base.clone_from(url);
    }
    if let Some(url) = &settings.flex_base_url {
        client.flex_base.clone_from(url);
    }
    if let Some(url) = &settings.content_base_url {
        client.content_base.clone_from(url);
    }
    client.region.clone_from(&settings.region);
    client.edge.clone_from(&settings.edge);
    TwilioClient::new(client).map_err(|e| ConfigError {
        variable: match e {
            crate::adapters::twilio::TwilioConfigError::BaseUrl { name, .. } => name,
            _ => "TWILIO_AUTH_TOKEN",
        },
        reason: e.to_string(),
    })
}

/// Why the bridge could not be built at cold start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Http(#[from] HttpBuildError),
    /// A client needed at init (no turn queue: the turn runs inside intake) was not built.
    #[error(transparent)]
    Client(#[from] BuildError),
}

/// AWS configuration from the environment (region, credentials, endpoint overrides), with the
/// crate's shared HTTP stack for every AWS call.
pub async fn sdk_config(region: Option<String>) -> Result<aws_config::SdkConfig, HttpBuildError> {
    let http = crate::adapters::http::client(HttpSettings::default())?;
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(SmithyHttpClient::shared(http));
    let identity = AwsIdentity::from_env(|name| std::env::var(name).ok());
    if let AwsIdentity::InEnvironment { region: from_env } = identity {
        loader = loader
            .region(aws_config::Region::new(from_env))
            .credentials_provider(
                aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
            );
    }
    if let Some(region) = region {
        loader = loader.region(aws_config::Region::new(region));
    }
    Ok(loader.load().await)
}

/// Where the AWS region and credentials come from.
///
/// Lambda always puts both in the environment (`AWS_REGION`, `AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`). The default provider chains would find them
/// there first anyway, but building those chains (profile files, SSO, web identity, the
/// container and instance metadata clients) costs about 0.4 ms of every cold start; reading
/// the environment directly costs nothing. Endpoint overrides, retry and timeout settings still
/// come from the standard loader.
#[derive(Debug, Clone, PartialEq, Eq)]
enum AwsIdentity {
    InEnvironment {
        region: String,
    },
    /// Something is missing from the environment: the default chains look further (profiles,
    /// SSO, metadata services), as on a developer's machine.
    DefaultChains,
}

impl AwsIdentity {
    fn from_env(var: impl Fn(&str) -> Option<String>) -> Self {
        let set = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        match (
            set("AWS_REGION"),
            set("AWS_ACCESS_KEY_ID"),
            set("AWS_SECRET_ACCESS_KEY"),
        ) {
            (Some(region), Some(_), Some(_)) => Self::InEnvironment { region },
            _ => Self::DefaultChains,
        }
    }
}

/// Everything from the process environment (and the Twilio secret, when `TWILIO_SECRET_ID` is
/// set). Errors name the variable at fault.
///
/// Init reads the settings and builds what both roles need at once (the signature's tokens,
/// the behaviour); each client is built the first time its role needs it, then kept for the
/// life of the process: intake builds the SQS client on its first event, the turn role its
/// DynamoDB, Lex and Twilio clients on its first batch. An execution environment that only
/// ever plays one role never builds the other's clients. Without a turn queue the turn runs
/// inside intake, so everything is built here, as the local tools expect.
pub async fn bridge_from_env() -> Result<Bridge, InitError> {
    bridge_from_settings(std::env::vars().collect()).await
}

/// As [`bridge_from_env`], from `env` instead of the process environment (the AWS SDK still
/// reads its own variables from the process when it is built).
pub async fn bridge_from_settings(env: HashMap<String, String>) -> Result<Bridge, InitError> {
    let sdk = Arc::new(Lazy::new(|| async {
        sdk_config(None)
            .await
            .map_err(|e| BuildError::permanent("the AWS configuration", e))
    }));
    let settings = secret_settings::settings_with_secret(env, &sdk).await?;
    let config = Config::from_settings(&settings)?;
    let Some(queue_url) = config.aws.turn_queue_url.clone() else {
        let ports = turn_ports(&config, sdk.get().await?)?;
        return Ok(bridge(&config, ports));
    };
    log_warnings(&config);
    let queue = {
        let sdk = Arc::clone(&sdk);
        Lazy::new(move || {
            let (sdk, url) = (Arc::clone(&sdk), queue_url.clone());
            async move { Ok(SqsTurnQueue::new(sqs_client(sdk.get().await?), url)) }
        })
    };
    let config = Arc::new(config);
    let turn = {
        let config = Arc::clone(&config);
        Lazy::new(move || {
            let (sdk, config) = (Arc::clone(&sdk), Arc::clone(&config));
            async move {
                let ports = turn_ports(&config, sdk.get().await?)
                    .map_err(|e| BuildError::permanent("the turn role's clients", e))?;
                Ok(Batch::new(pipeline(&config, ports)))
            }
        })
    };
    Ok(Bridge::new(
        intake(&config, Turns::Queue(Arc::new(queue))),
        turn,
        InvocationDeadlines::new(config.function_timeout),
    ))
}

/// What a turn runs on: Lex, Twilio (Conversations and Content), and the state table when one
/// is configured (else state in memory). No queue: the turn role never enqueues.
fn turn_ports(config: &Config, sdk: &aws_config::SdkConfig) -> Result<Ports, ConfigError> {
    let bot = LexBot::from_sdk_config(sdk, &LexSettings::default());
    let twilio = Arc::new(twilio_client(&config.twilio)?);
    let ports = Ports::local(Arc::new(bot), twilio.clone()).with_content(twilio);
    Ok(match &config.aws.state_table {
        Some(table) => {
            let conf = aws_sdk_dynamodb::config::Builder::from(sdk)
                .timeout_config(state_timeouts())
                .build();
            ports.with_state(Arc::new(DynamoStore::new(
                aws_sdk_dynamodb::Client::from_conf(conf),
                table.clone(),
            )))
        }
        None => ports,
    })
}

fn sqs_client(sdk: &aws_config::SdkConfig) -> aws_sdk_sqs::Client {
    let conf = aws_sdk_sqs::config::Builder::from(sdk)
        .timeout_config(state_timeouts())
        .build();
    aws_sdk_sqs::Client::from_conf(conf)
}

/// Bounds for a state or queue call: both are single-digit milliseconds in-region, so a call
/// that takes seconds is stuck and its retry (the SDK's standard mode) should start.
fn state_timeouts() -> aws_smithy_types::timeout::TimeoutConfig {
    aws_smithy_types::timeout::TimeoutConfig::builder()
        .connect_timeout(std::time::Duration::from_secs(2))
        .operation_attempt_timeout(std::time::Duration::from_secs(2))
        .operation_timeout(std::time::Duration::from_secs(6))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn with_a_queue_init_builds_no_client_and_the_turn_role_waits_for_its_first_batch() {
        let settings: HashMap<String, String> = [
            ("TWILIO_ACCOUNT_SID", "AC0123456789abcdef0123456789abcdef"),
            ("TWILIO_AUTH_TOKEN", "token"),
            ("FLEX_WORKSPACE_SID", "WS0123456789abcdef0123456789abcdef"),
            (
                "TURN_QUEUE_URL",
                "https://sqs.us-east-1.amazonaws.com/123456789012/turns.fifo",
            ),
            ("STATE_TABLE", "flexlex-state"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let bridge = bridge_from_settings(settings).await.unwrap();
        assert!(!bridge.turn_role_built());
    }

    #[tokio::test]
    async fn given_ports_are_ready_at_once() {
        let config = crate::testing::config(&[("TWILIO_AUTH_TOKEN", "token")]);
        let ports = Ports::local(
            Arc::new(crate::testing::ScriptedBot::default()),
            Arc::new(crate::testing::RecordingConversations::default()),
        );
        assert!(bridge(&config, ports).turn_role_built());
    }

    fn identity(vars: &[(&str, &str)]) -> AwsIdentity {
        AwsIdentity::from_env(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn lambdas_environment_is_used_directly() {
        let lambda = [
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", "ASIAEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_SESSION_TOKEN", "token"),
        ];
        assert_eq!(
            identity(&lambda),
            AwsIdentity::InEnvironment {
                region: "eu-west-1".into()
            }
        );
    }

    #[test]
    fn anything_missing_falls_back_to_the_default_chains() {
        assert_eq!(
            identity(&[("AWS_REGION", "eu-west-1"), ("AWS_ACCESS_KEY_ID", "AKIA")]),
            AwsIdentity::DefaultChains
        );
        assert_eq!(
            identity(&[
                ("AWS_ACCESS_KEY_ID", "AKIA"),
                ("AWS_SECRET_ACCESS_KEY", "s")
            ]),
            AwsIdentity::DefaultChains
        );
        assert_eq!(
            identity(&[
                ("AWS_REGION", " "),
                ("AWS_ACCESS_KEY_ID", "AKIA"),
                ("AWS_SECRET_ACCESS_KEY", "s")
            ]),
            AwsIdentity::DefaultChains
        );
        assert_eq!(identity(&[]), AwsIdentity::DefaultChains);
    }
}
