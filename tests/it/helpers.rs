//! Shared test plumbing: the emulated stack (Lex + Twilio on loopback, the real SDK and Twilio
//! clients, the real handler) and request builders that sign INDEPENDENTLY of the code under
//! test: their own form encoding, their own HMAC-SHA1 string, their own envelope JSON.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha1::Sha1;

use flexlex::adapters::lex::{LexBot, LexSettings};
use flexlex::adapters::twilio::{Backoff, TwilioClient, TwilioClientConfig};
use flexlex::app::bridge::Bridge;
use flexlex::app::compose;
use flexlex::app::config::Config;
use flexlex::domain::deadline::Deadline;
use flexlex::domain::ids::{ApiKeySid, ConversationSid, ParticipantSid, WebhookSid};
use flexlex::domain::secret::Secret;
use flexlex::domain::secret::TwilioCredentials;
use flexlex::outcome::Report;
use flexlex_emulators::lex::{DEMO_ALIAS_ID, DEMO_BOT_ID, LexEmulator};
use flexlex_emulators::sid::Sid;
use flexlex_emulators::twilio::{
    CustomerKind, RecordedMessage, SeededConversation, TwilioEmulator,
};

pub const TOKEN: &str = "e2e-signing-token";
pub const HOST: &str = "abc123xyz.execute-api.us-east-1.amazonaws.com";
pub const PATH: &str = "/prod/webhook";
pub const WORKSPACE: &str = "WS0123456789abcdef0123456789abcdef";
pub const WORKFLOW: &str = "WW0123456789abcdef0123456789abcdef";

/// The webhook URL a Flex address would carry for the demo bot.
pub fn url() -> String {
    format!("https://{HOST}{PATH}?BotId={DEMO_BOT_ID}&BotAliasId={DEMO_ALIAS_ID}")
}

/// HMAC-SHA1 over the URL and the params sorted by name (values sorted for repeated names),
/// written from Twilio's documented algorithm, not from the crate's signature module.
pub fn twilio_signature(token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut grouped: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (k, v) in params {
        grouped.entry(k).or_default().push(v);
    }
    let mut data = url.to_owned();
    for (k, mut values) in grouped {
        values.sort_unstable();
        for v in values {
            data.push_str(k);
            data.push_str(v);
        }
    }
    let mut mac = Hmac::<Sha1>::new_from_slice(token.as_bytes()).expect("any key length");
    mac.update(data.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The envelope the VTL template produces, built by hand from the contract.
pub fn envelope(url: &str, params: &[(String, String)], signature: Option<&str>) -> Value {
    let (rest, query) = url.split_once('?').unwrap_or((url, ""));
    let without_scheme = rest
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let (host, path) =
        without_scheme.split_at(without_scheme.find('/').unwrap_or(without_scheme.len()));
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    let mut headers = json!({
        "Content-Type": "application/x-www-form-urlencoded; charset=UTF-8",
        "Host": host,
        "User-Agent": "TwilioProxy/1.1",
        "X-Home-Region": "us1",
    });
    if let Some(signature) = signature {
        headers["X-Twilio-Signature"] = json!(signature);
    }
    let query: serde_json::Map<String, Value> = form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), json!(v)))
        .collect();
    json!({
        "v": "1",
        "body": base64::engine::general_purpose::STANDARD.encode(body),
        "headers": headers,
        "query": query,
        "domainName": host,
        "path": path,
        "requestId": "0d8c1a2e-e2e0-4000-8000-000000000001",
        "stage": "prod",
        "sourceIp": "54.172.60.1",
        "requestTimeEpoch": "1764000000000",
    })
}

pub fn signed(url: &str, params: &[(String, String)]) -> Value {
    envelope(url, params, Some(&twilio_signature(TOKEN, url, params)))
}

/// `onMessageAdded` params as a Flex address webhook sends them.
pub fn message_params(
    seed: &SeededConversation,
    account: &str,
    body: &str,
    index: u64,
) -> Vec<(String, String)> {
    let message_sid = format!("IM{:032x}", rand::random::<u128>());
    let source = if seed.customer_author.starts_with("whatsapp:") {
        "WHATSAPP"
    } else if seed.customer_author.starts_with('+') {
        "SMS"
    } else {
        "SDK"
    };
    [
        ("AccountSid", account.to_owned()),
        ("Attributes", "{}".to_owned()),
        ("Author", seed.customer_author.clone()),
        ("Body", body.to_owned()),
        ("ConversationSid", seed.conversation.to_string()),
        ("DateCreated", "2026-11-24T10:00:00.000Z".to_owned()),
        ("EventType", "onMessageAdded".to_owned()),
        ("Index", index.to_string()),
        ("MessageSid", message_sid),
        (
            "MessagingServiceSid",
            "MG0123456789abcdef0123456789abcdef".to_owned(),
        ),
        ("ParticipantSid", seed.customer.to_string()),
        ("RetryCount", "0".to_owned()),
        ("Source", source.to_owned()),
        ("WebhookSid", seed.webhook.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// The webhook's parameters for a message the conversation holds: its SID, body and `Index`.
pub fn stored_message_params(
    seed: &SeededConversation,
    account: &str,
    stored: &RecordedMessage,
) -> Vec<(String, String)> {
    let mut params = message_params(seed, account, &stored.body, stored.index);
    for (name, value) in &mut params {
        if name == "MessageSid" {
            *value = stored.sid.to_string();
        }
    }
    params
}

pub fn fast_lex_settings() -> LexSettings {
    LexSettings {
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
        conflict_backoff: Duration::from_millis(1),
        ..LexSettings::default()
    }
}

/// Both emulators, and the bridge over the real clients pointed at them.
pub struct Stack {
    pub lex: LexEmulator,
    pub twilio: TwilioEmulator,
    pub bridge: Bridge,
}

impl Stack {
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    pub async fn start_with(extra: &[(&str, &str)]) -> Self {
        Self::start_on(extra, None).await
    }

    /// The stack on SQS FIFO and DynamoDB (moto): intake enqueues, turns come from
    /// [`Poller`](crate::poller::Poller) batches, state is shared.
    pub async fn on_aws(sdk: &aws_config::SdkConfig, queue_url: &str, table: &str) -> Self {
        Self::start_on(&[], Some((sdk, Some(queue_url), table))).await
    }

    /// [`Stack::on_aws`] with extra settings.
    pub async fn on_aws_with(
        extra: &[(&str, &str)],
        sdk: &aws_config::SdkConfig,
        queue_url: &str,
        table: &str,
    ) -> Self {
        Self::start_on(extra, Some((sdk, Some(queue_url), table))).await
    }

    async fn start_on(
        extra: &[(&str, &str)],
        aws: Option<(&aws_config::SdkConfig, Option<&str>, &str)>,
    ) -> Self {
        let lex = LexEmulator::start().await.expect("lex emulator");
        let twilio = TwilioEmulator::start().await.expect("twilio emulator");
        let bridge = bridge_over(&lex, &twilio, extra, aws);
        Self {
            lex,
            twilio,
            bridge,
        }
    }

    /// Another bridge, as another Lambda instance would build it, over this stack's
    /// emulators and the given queue and table: a fleet of two.
    pub fn another_bridge(
        &self,
        extra: &[(&str, &str)],
        sdk: &aws_config::SdkConfig,
        queue_url: &str,
        table: &str,
    ) -> Bridge {
        bridge_over(
            &self.lex,
            &self.twilio,
            extra,
            Some((sdk, Some(queue_url), table)),
        )
    }

    /// A bridge over this stack's emulators with in-memory state and no queue.
    pub fn local_bridge(&self, extra: &[(&str, &str)]) -> Bridge {
        bridge_over(&self.lex, &self.twilio, extra, None)
    }

    /// Another bridge over this stack's emulators and the given table, with no queue: intake
    /// runs each turn at once in this process (the same pipeline the SQS trigger runs), and
    /// its report is the turn's.
    pub fn direct_bridge(&self, sdk: &aws_config::SdkConfig, table: &str) -> Bridge {
        bridge_over(&self.lex, &self.twilio, &[], Some((sdk, None, table)))
    }

    pub fn account(&self) -> String {
        self.twilio.account_sid().to_string()
    }

    pub fn sms(&self) -> SeededConversation {
        self.twilio.create_conversation(CustomerKind::Sms {
            address: "+15551234567".into(),
        })
    }

    pub fn whatsapp(&self) -> SeededConversation {
        self.twilio.create_conversation(CustomerKind::Whatsapp {
            address: "+447700900123".into(),
        })
    }

    pub fn web(&self) -> SeededConversation {
        self.twilio.create_conversation(CustomerKind::Web {
            identity: "visitor-7f3a".into(),
            friendly_name: "Ada Lovelace".into(),
        })
    }

    /// The webhook's parameters for `body`, written in the conversation first as Twilio does
    /// (its SID and `Index`).
    pub fn params(&self, seed: &SeededConversation, body: &str) -> Vec<(String, String)> {
        let stored = self
            .twilio
            .add_customer_message(&seed.conversation, &seed.customer_author, body)
            .expect("a seeded conversation");
        stored_message_params(seed, &self.account(), &stored)
    }

    /// The webhook `event` through intake (and, in process, its turn).
    pub async fn intake(&self, event: Value) -> Report {
        self.bridge
            .intake(event, Deadline::after(Duration::from_secs(20)))
            .await
    }

    /// The customer says `body` in `seed`'s conversation, through a signed envelope.
    pub async fn say(&self, seed: &SeededConversation, body: &str) -> Report {
        let params = self.params(seed, body);
        self.intake(signed(&url(), &params)).await
    }

    /// Texts Lex received in `seed`'s conversation, in order (answered requests only).
    pub fn lex_texts(&self, seed: &SeededConversation) -> Vec<String> {
        self.lex
            .calls()
            .iter()
            .filter(|c| c.session_id == seed.conversation.as_str() && c.status == 200)
            .filter_map(|c| c.text().map(str::to_owned))
            .collect()
    }

    /// The bot's messages in the conversation, in order.
    pub fn bot_messages(&self, seed: &SeededConversation) -> Vec<String> {
        self.twilio
            .messages(&seed.conversation)
            .into_iter()
            .filter(|(author, _)| author == "Lex")
            .map(|(_, body)| body)
            .collect()
    }
}

/// The bridge over the real clients pointed at the emulators, with in-memory state and the
/// in-process queue, or with `aws`'s table (moto) and its queue when it names one.
fn bridge_over(
    lex: &LexEmulator,
    twilio: &TwilioEmulator,
    extra: &[(&str, &str)],
    aws: Option<(&aws_config::SdkConfig, Option<&str>, &str)>,
) -> Bridge {
    let mut settings: HashMap<String, String> = [
        ("TWILIO_ACCOUNT_SID", twilio.account_sid().to_string()),
        ("TWILIO_AUTH_TOKEN", TOKEN.to_owned()),
        ("FLEX_WORKSPACE_SID", WORKSPACE.to_owned()),
        ("FLEX_WORKFLOW_SID", WORKFLOW.to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    for (k, v) in extra {
        settings.insert((*k).to_owned(), (*v).to_owned());
    }
    let config = Config::from_settings(&settings).expect("config");
    let mut client = TwilioClientConfig::new(api_key(twilio));
    client.conversations_base = twilio.base_url();
    client.flex_base = twilio.base_url();
    client.content_base = twilio.base_url();
    client.backoff = Backoff {
        base: Duration::from_millis(1),
        cap: Duration::from_millis(5),
        max_attempts: 5,
    };
    let client = Arc::new(TwilioClient::new(client).expect("twilio client"));
    let bot = LexBot::from_sdk_config(&loopback_sdk_config(&lex.endpoint()), &fast_lex_settings());
    let mut ports = compose::Ports::local(Arc::new(bot), client.clone()).with_content(client);
    if let Some((sdk, queue_url, table)) = aws {
        ports = ports.with_state(Arc::new(flexlex::adapters::dynamodb::DynamoStore::new(
            aws_sdk_dynamodb::Client::new(sdk),
            table,
        )));
        ports.queue = queue_url.map(|queue_url| {
            Arc::new(flexlex::adapters::sqs::SqsTurnQueue::new(
                aws_sdk_sqs::Client::new(sdk),
                queue_url,
            )) as Arc<dyn flexlex::ports::queue::TurnQueue>
        });
    }
    compose::bridge(&config, ports)
}

/// The product's typed SIDs for what an emulator handed out (the emulators share no types
/// with the product).
pub fn ch(sid: &Sid) -> ConversationSid {
    ConversationSid::parse(sid.as_str()).expect("an emulator conversation SID")
}

pub fn wh(sid: &Sid) -> WebhookSid {
    WebhookSid::parse(sid.as_str()).expect("an emulator webhook SID")
}

pub fn mb(sid: &Sid) -> ParticipantSid {
    ParticipantSid::parse(sid.as_str()).expect("an emulator participant SID")
}

/// AWS configuration for a loopback endpoint (an emulator, moto): fixed region, static
/// credentials, the product's HTTP stack; nothing read from the environment.
pub fn loopback_sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    let credentials = aws_credential_types::Credentials::new(
        "AKIDFLEXLEXTEST",
        "flexlex-test",
        None,
        None,
        "test",
    );
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(credentials),
        )
        .endpoint_url(endpoint)
        .http_client(flexlex::adapters::http::SmithyHttpClient::shared(
            flexlex::adapters::http::client(Default::default()).expect("http client"),
        ))
        .build()
}

/// A fresh API key of the emulator, as the product's credentials.
pub fn api_key(emulator: &TwilioEmulator) -> TwilioCredentials {
    let (sid, secret) = emulator.add_api_key();
    TwilioCredentials::ApiKey {
        sid: ApiKeySid::parse(sid.as_str()).expect("an emulator API key SID"),
        secret: Secret::new(secret),
    }
}

/// A Lambda context deadline `budget` from now, in epoch milliseconds.
pub fn deadline_in(budget: Duration) -> u64 {
    (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        + budget)
        .as_millis() as u64
}
