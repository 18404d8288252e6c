//! Measures what the performance targets are about, on release builds, with many runs and
//! medians (nothing here is a test assertion):
//!
//! - cold start, per role: process start → first poll of the Runtime API (init), and process
//!   start → the answer to the first event (init + first invocation) for an intake event and
//!   for an SQS turn, `bootstrap` as deployed (queue and table configured) vs the
//!   `hello_lambda` example built with the same profile given the same events;
//! - warm overhead: one event through the handler with in-memory ports (everything but the
//!   network), and one full turn through the real clients against the loopback emulators;
//! - peak RSS of `bootstrap` after many invocations;
//! - connections opened to Lex and Twilio across warm invocations;
//! - per kind of turn (reply, handoff, duplicate, first turn with timers, card turn with its
//!   template new, in the fleet's cache or in the instance's), the conversation-state round
//!   trips (from the turn's `Trace`) and the Twilio requests (from the emulator's request log).
//!
//! - intake alone: admission and the turn's serialisation, with a queue that only encodes;
//! - the `bootstrap` process on SQS FIFO and DynamoDB (moto's server behind a counting proxy):
//!   peak RSS and the connections opened to the queue and table, Lex and Twilio.
//!
//! Run with `scripts/bench.sh` (it builds the binaries first). Arguments name the sections to run
//! (`calls`, `cold`, `intake`, `turn`, `emulated`, `queue`); none runs them all.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use flexlex::app::config::Config;
use flexlex::domain::bot::{BotMessage, BotTurn, Intent, IntentState};
use flexlex::domain::deadline::Deadline;
use flexlex::domain::ids::InteractionSid;
use flexlex::testing::{RecordingConversations, ScriptedBot};
use flexlex_emulators::lex::LexEmulator;
use flexlex_emulators::runtime::RuntimeEmulator;
use flexlex_emulators::twilio::{CustomerKind, TwilioEmulator};
use flexlex_emulators::webhook::{CustomerMessage, signed_envelope};

const TOKEN: &str = "bench-signing-token";
const URL: &str = "https://bench.execute-api.us-east-1.amazonaws.com/prod/webhook?BotId=FLWRSDEMO1&BotAliasId=TSTALIASID";

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn summary(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{name:<44} n={:<6} p50={:>10.3?} p90={:>10.3?} p99={:>10.3?} max={:>10.3?}",
        samples.len(),
        percentile(&samples, 0.5),
        percentile(&samples, 0.9),
        percentile(&samples, 0.99),
        samples[samples.len() - 1]
    );
}

/// A release binary: from `FLEXLEX_BENCH_BIN` (where `scripts/bench.sh` keeps the binaries as
/// shipped, before `cargo bench` rebuilds the package with the `testing` feature), else the
/// target directory.
fn release_binary(name: &str) -> PathBuf {
    if let Ok(dir) = std::env::var("FLEXLEX_BENCH_BIN") {
        return PathBuf::from(dir).join(name);
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from("target"));
    let direct = target.join("release").join(name);
    if direct.exists() {
        direct
    } else {
        target.join("release").join("examples").join(name)
    }
}

fn settings(twilio: &TwilioEmulator) -> Vec<(&'static str, String)> {
    let (key, secret) = twilio.add_api_key();
    vec![
        ("TWILIO_ACCOUNT_SID", twilio.account_sid().to_string()),
        ("TWILIO_AUTH_TOKEN", TOKEN.to_owned()),
        ("TWILIO_API_KEY_SID", key.to_string()),
        ("TWILIO_API_KEY_SECRET", secret),
        ("TWILIO_CONVERSATIONS_BASE_URL", twilio.base_url()),
        ("TWILIO_FLEX_BASE_URL", twilio.base_url()),
        ("TWILIO_CONTENT_BASE_URL", twilio.base_url()),
        (
            "FLEX_WORKSPACE_SID",
            "WS0123456789abcdef0123456789abcdef".to_owned(),
        ),
    ]
}

fn spawn(
    binary: &Path,
    runtime: &RuntimeEmulator,
    extra: &[(&str, String)],
) -> std::io::Result<tokio::process::Child> {
    let mut command = tokio::process::Command::new(binary);
    command
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", runtime.api_address())
        .env("AWS_LAMBDA_FUNCTION_NAME", "flexlex")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "AKIDBENCH")
        .env("AWS_SECRET_ACCESS_KEY", "bench-secret")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    for (k, v) in extra {
        command.env(k, v);
    }
    command.spawn()
}

/// Environment variables for a spawned function.
type Settings<'a> = &'a [(&'a str, String)];

/// One cold start: process start → the first poll of a fresh Runtime API.
async fn cold_start(binary: &Path, extra: &[(&str, String)]) -> Result<Duration, String> {
    let runtime = RuntimeEmulator::start()
        .await
        .map_err(|e| format!("cannot start the Runtime API: {e}"))?;
    let started = Instant::now();
    let mut child = spawn(binary, &runtime, extra)
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
    let polled = runtime.wait_first_poll(Duration::from_secs(10)).await;
    let _ = child.kill().await;
    polled
        .map(|at| at.duration_since(started))
        .ok_or_else(|| "no poll within 10 s".to_owned())
}

fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The bridge's settings for the in-process runs: the signing token and the account.
fn bench_config() -> Config {
    let settings: std::collections::HashMap<String, String> = [
        ("TWILIO_ACCOUNT_SID", "AC0123456789abcdef0123456789abcdef"),
        ("TWILIO_AUTH_TOKEN", TOKEN),
        ("FLEX_WORKSPACE_SID", "WS0123456789abcdef0123456789abcdef"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    Config::from_settings(&settings).expect("bench settings are valid")
}

/// `runs` signed customer messages of one SMS conversation, Index 0, 1, ...
fn signed_events(runs: usize) -> Vec<serde_json::Value> {
    (0..runs)
        .map(|i| {
            let message = CustomerMessage {
                account: "AC0123456789abcdef0123456789abcdef",
                conversation: "CH0123456789abcdef0123456789abcdef",
                webhook: "WH0123456789abcdef0123456789abcdef",
                participant: "MB0123456789abcdef0123456789abcdef",
                author: "+15551234567",
                body: "I would like to order some flowers for my mother, please",
                index: i as u64,
                source: "SMS",
            };
            signed_envelope(URL, &message.params(), TOKEN).expect("valid URL")
        })
        .collect()
}

/// How long each event takes through `bridge`, its log line included (part of the per-event
/// work); `after_each` runs outside the timing.
async fn time_events(
    bridge: &flexlex::app::bridge::Bridge,
    events: Vec<serde_json::Value>,
    after_each: impl Fn(),
) -> Vec<Duration> {
    let mut samples = Vec::with_capacity(events.len());
    for event in events {
        let started = Instant::now();
        let report = bridge
            .intake(event, Deadline::after(Duration::from_secs(10)))
            .await;
        let line = flexlex::app::telemetry::event_line(&report, 0);
        std::hint::black_box(line);
        samples.push(started.elapsed());
        after_each();
    }
    samples
}

fn in_memory_bridge() -> (flexlex::app::bridge::Bridge, RecordingConversations) {
    let config = bench_config();
    let turn = BotTurn {
        messages: vec![BotMessage::PlainText(
            "What type of flowers would you like to order?".into(),
        )],
        intent: Some(Intent {
            name: "OrderFlowers".into(),
            state: IntentState::InProgress,
            confirmation: None,
            slots: Default::default(),
        }),
        ..BotTurn::default()
    };
    let twilio = RecordingConversations::new(
        Vec::new(),
        Default::default(),
        InteractionSid::parse("KD0123456789abcdef0123456789abcdef").expect("valid"),
    );
    let bridge = flexlex::app::compose::bridge(
        &config,
        flexlex::app::compose::Ports::local(
            Arc::new(ScriptedBot::answering(turn)),
            Arc::new(twilio.clone()),
        ),
    );
    (bridge, twilio)
}

async fn warm_in_memory(runs: usize) {
    let (bridge, twilio) = in_memory_bridge();
    let samples = time_events(&bridge, signed_events(runs), || twilio.clear()).await;
    summary("warm, in-memory ports (handler overhead)", samples);
}

async fn warm_emulated(runs: usize) -> Option<()> {
    let lex = LexEmulator::start().await.ok()?;
    let twilio = TwilioEmulator::start().await.ok()?;
    let runtime = RuntimeEmulator::start().await.ok()?;
    let mut vars = settings(&twilio);
    vars.push(("AWS_ENDPOINT_URL_LEX_RUNTIME_V2", lex.endpoint()));
    let child = spawn(&release_binary("bootstrap"), &runtime, &vars).ok()?;
    let pid = child.id()?;
    runtime.wait_first_poll(Duration::from_secs(10)).await?;
    let samples = invoke_messages(&runtime, &twilio, runs, 50).await?;
    summary("warm, bootstrap + loopback emulators (full)", samples);
    println!(
        "peak RSS of bootstrap after {runs} invocations: {} KiB",
        peak_rss_kib(pid)
            .map(|k| k.to_string())
            .unwrap_or_else(|| "unknown".into())
    );
    println!(
        "TCP connections opened over {runs} invocations: Lex {} ({} calls), Twilio {} ({} requests)",
        lex.connections(),
        lex.calls().len(),
        twilio.connections(),
        twilio.requests().len()
    );
    drop(child);
    Some(())
}

/// Sends `runs` signed customer messages through `runtime`, `per_conversation` to each new SMS
/// conversation, and times each invocation.
async fn invoke_messages(
    runtime: &RuntimeEmulator,
    twilio: &TwilioEmulator,
    runs: usize,
    per_conversation: usize,
) -> Option<Vec<Duration>> {
    let account = twilio.account_sid();
    let mut seed = twilio.create_conversation(CustomerKind::Sms {
        address: "+15551234567".into(),
    });
    let mut samples = Vec::with_capacity(runs);
    for i in 0..runs {
        if i % per_conversation == 0 {
            seed = twilio.create_conversation(CustomerKind::Sms {
                address: "+15551234567".into(),
            });
        }
        let message = CustomerMessage {
            account: account.as_str(),
            conversation: seed.conversation.as_str(),
            webhook: seed.webhook.as_str(),
            participant: seed.customer.as_str(),
            author: &seed.customer_author,
            body: "help",
            index: i as u64,
            source: "SMS",
        };
        let event = signed_envelope(URL, &message.params(), TOKEN).ok()?;
        let started = Instant::now();
        runtime
            .invoke(event, Duration::from_secs(20), Duration::from_secs(20))
            .await?;
        samples.push(started.elapsed());
    }
    Some(samples)
}

/// A bridge in this process over the emulators, the real Lex and Twilio clients, and `store`
/// (conversation state and template cache): one instance of a fleet sharing `store`.
fn emulated_bridge(
    lex: &LexEmulator,
    twilio: &TwilioEmulator,
    store: Arc<flexlex::adapters::in_memory::InMemoryStore>,
    extra: &[(&str, &str)],
) -> Option<flexlex::app::bridge::Bridge> {
    let mut settings: std::collections::HashMap<String, String> = settings(twilio)
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    for (k, v) in extra {
        settings.insert((*k).to_owned(), (*v).to_owned());
    }
    let config = Config::from_settings(&settings).ok()?;
    let client = Arc::new(flexlex::app::compose::twilio_client(&config.twilio).ok()?);
    let credentials =
        aws_credential_types::Credentials::new("AKIDBENCH", "bench", None, None, "bench");
    let sdk = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(credentials),
        )
        .endpoint_url(lex.endpoint())
        .http_client(flexlex::adapters::http::SmithyHttpClient::shared(
            flexlex::adapters::http::client(Default::default()).ok()?,
        ))
        .build();
    let bot = flexlex::adapters::lex::LexBot::from_sdk_config(
        &sdk,
        &flexlex::adapters::lex::LexSettings::default(),
    );
    let ports = flexlex::app::compose::Ports::local(Arc::new(bot), client.clone())
        .with_content(client)
        .with_state(store);
    Some(flexlex::app::compose::bridge(&config, ports))
}

/// What one turn cost.
#[derive(Debug, PartialEq)]
struct Cost {
    outcome: String,
    state_round_trips: u32,
    /// The Twilio requests, by kind, in order.
    twilio: Vec<String>,
}

impl Cost {
    /// The same calls, whatever the order of the ones made concurrently (a handoff reads the
    /// participants and the conversation at once).
    fn same_calls(&self, other: &Self) -> bool {
        let sorted = |calls: &[String]| {
            let mut calls = calls.to_vec();
            calls.sort();
            calls
        };
        self.outcome == other.outcome
            && self.state_round_trips == other.state_round_trips
            && sorted(&self.twilio) == sorted(&other.twilio)
    }
}

/// Runs one turn and counts its state round trips and Twilio requests.
async fn measured_turn(
    bridge: &flexlex::app::bridge::Bridge,
    twilio: &TwilioEmulator,
    event: serde_json::Value,
) -> Cost {
    let before = twilio.requests().len();
    let report = bridge
        .intake(event, Deadline::after(Duration::from_secs(20)))
        .await;
    let requests: Vec<String> = twilio.requests()[before..]
        .iter()
        .map(|r| {
            let what = if r.path == "/v1/Content" {
                "create template"
            } else if r.path == "/v1/Interactions" {
                "create interaction"
            } else if r.path.ends_with("/Messages") && r.method == "GET" {
                "read messages"
            } else if r.path.ends_with("/Messages") && r.param("ContentSid").is_some() {
                "post template message"
            } else if r.path.ends_with("/Messages") {
                "post message"
            } else if r.path.ends_with("/Participants") {
                "list participants"
            } else if r.path.contains("/Webhooks/") {
                "remove webhook"
            } else if r.param("Timers.Inactive").is_some() || r.param("Timers.Closed").is_some() {
                "set timers"
            } else if r.param("State").is_some() {
                "close"
            } else {
                "fetch conversation"
            };
            what.to_owned()
        })
        .collect();
    Cost {
        outcome: report.outcome.to_string(),
        state_round_trips: report.trace.state_round_trips,
        twilio: requests,
    }
}

/// The round trips and Twilio requests of each kind of turn, on a fleet of two instances
/// sharing one store; each measured several times to show the counts do not vary.
async fn calls_per_turn_kind(runs: usize) -> Option<()> {
    let lex = LexEmulator::start().await.ok()?;
    let twilio = TwilioEmulator::start().await.ok()?;
    let account = twilio.account_sid();
    let store = Arc::new(flexlex::adapters::in_memory::InMemoryStore::new());
    let timers = [("INACTIVE_AFTER", "PT15M"), ("CLOSE_AFTER", "P1D")];
    let a = emulated_bridge(&lex, &twilio, store.clone(), &timers)?;
    let b = emulated_bridge(&lex, &twilio, store, &timers)?;
    let event = |seed: &flexlex_emulators::twilio::SeededConversation, body: &str| {
        let stored =
            twilio.add_customer_message(&seed.conversation, &seed.customer_author, body)?;
        let message = CustomerMessage {
            account: account.as_str(),
            conversation: seed.conversation.as_str(),
            webhook: seed.webhook.as_str(),
            participant: seed.customer.as_str(),
            author: &seed.customer_author,
            body,
            index: stored.index,
            source: if seed.customer_author.starts_with("whatsapp:") {
                "WHATSAPP"
            } else {
                "SMS"
            },
        };
        signed_envelope(URL, &message.params(), TOKEN).ok()
    };
    let mut rows: Vec<(&str, Cost)> = Vec::new();
    for run in 0..runs.max(1) {
        let sms = twilio.create_conversation(CustomerKind::Sms {
            address: "+15551234567".into(),
        });
        let first = event(&sms, "I would like to order roses")?;
        let mut measured = vec![(
            "first turn (timers set)",
            measured_turn(&a, &twilio, first.clone()).await,
        )];
        measured.push((
            "reply",
            measured_turn(&b, &twilio, event(&sms, "tomorrow")?).await,
        ));
        measured.push(("duplicate", measured_turn(&a, &twilio, first).await));
        measured.push((
            "handoff (timers extended)",
            measured_turn(&b, &twilio, event(&sms, "agent")?).await,
        ));
        // A burst whose second webhook comes first: its turn reads the gap once and answers
        // the first message before its own; the first one's webhook is then a duplicate.
        let burst = twilio.create_conversation(CustomerKind::Sms {
            address: "+15551234569".into(),
        });
        let early = event(&burst, "I would like to order roses")?;
        let late = event(&burst, "tomorrow")?;
        measured.push((
            "reply after a gap (1 message caught up)",
            measured_turn(&a, &twilio, late).await,
        ));
        measured.push((
            "the caught-up message's own webhook",
            measured_turn(&b, &twilio, early).await,
        ));
        let confused = twilio.create_conversation(CustomerKind::Sms {
            address: "+15551234568".into(),
        });
        measured_turn(&a, &twilio, event(&confused, "what is the weather")?).await;
        measured.push((
            "escalation handoff (2nd fallback)",
            measured_turn(&b, &twilio, event(&confused, "and tomorrow?")?).await,
        ));
        // The first run creates the card's template on one instance and finds it in the
        // shared store on the other; every run then finds it in the instance's own copy.
        let whatsapp = || {
            twilio.create_conversation(CustomerKind::Whatsapp {
                address: "+447700900123".into(),
            })
        };
        let order = "I would like to order flowers";
        if run == 0 {
            measured.push((
                "card turn, template new",
                measured_turn(&a, &twilio, event(&whatsapp(), order)?).await,
            ));
            measured.push((
                "card turn, template in the fleet's table",
                measured_turn(&b, &twilio, event(&whatsapp(), order)?).await,
            ));
        }
        let tapped = whatsapp();
        measured.push((
            "card turn, template in the instance",
            measured_turn(&a, &twilio, event(&tapped, order)?).await,
        ));
        measured.push((
            "tap on a card (value from memory)",
            measured_turn(&b, &twilio, event(&tapped, "Lilies")?).await,
        ));
        for (kind, result) in measured {
            match rows.iter().find(|(k, _)| *k == kind) {
                Some((_, seen)) if !seen.same_calls(&result) => {
                    println!("{kind}: counts vary between runs: {seen:?} vs {result:?}");
                }
                Some(_) => {}
                None => rows.push((kind, result)),
            }
        }
    }
    println!("calls per turn kind (timers on; two instances sharing one state store):");
    for (kind, cost) in rows {
        println!(
            "  {kind:<40} {:<36} state round trips {}  Twilio requests {} [{}]",
            cost.outcome,
            cost.state_round_trips,
            cost.twilio.len(),
            cost.twilio.join(", ")
        );
    }
    Some(())
}

/// A turn queue that encodes the turn as the SQS adapter does and sends nothing: intake's
/// own work, without the SendMessage round trip.
struct EncodeOnly;

#[async_trait::async_trait]
impl flexlex::ports::queue::TurnQueue for EncodeOnly {
    async fn enqueue(
        &self,
        job: &flexlex::domain::job::Job,
    ) -> Result<(), flexlex::ports::queue::QueueError> {
        let body = job
            .to_body()
            .map_err(|e| flexlex::ports::queue::QueueError::Refused(e.to_string()))?;
        std::hint::black_box(body);
        Ok(())
    }
}

async fn warm_intake(runs: usize) {
    let mut ports = flexlex::app::compose::Ports::local(
        Arc::new(ScriptedBot::default()),
        Arc::new(RecordingConversations::default()),
    );
    ports.queue = Some(Arc::new(EncodeOnly));
    let bridge = flexlex::app::compose::bridge(&bench_config(), ports);
    let samples = time_events(&bridge, signed_events(runs), || {}).await;
    summary("warm intake (admission + encode, no send)", samples);
}

async fn counting_proxy(
    target: std::net::SocketAddr,
) -> Option<(String, Arc<std::sync::atomic::AtomicUsize>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.ok()?;
    let address = listener.local_addr().ok()?;
    let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = Arc::clone(&count);
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    Some((format!("http://{address}"), count))
}

/// `bootstrap` on SQS FIFO and DynamoDB: moto's server behind a counting proxy, the emulators
/// for Lex and Twilio. `runs` messages go through intake, then through turns (batches of up to
/// ten from the queue). Needs `moto_server` on the PATH.
async fn on_queue_and_table(runs: usize) -> Option<()> {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    use aws_sdk_sqs::types::QueueAttributeName;

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .ok()?
        .port();
    let mut moto = tokio::process::Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .ok()?;
    let moto_address: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().ok()?;
    let started = Instant::now();
    while tokio::net::TcpStream::connect(moto_address).await.is_err() {
        if started.elapsed() > Duration::from_secs(30) {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let direct = format!("http://{moto_address}");
    let credentials =
        aws_credential_types::Credentials::new("AKIDBENCH", "bench", None, None, "bench");
    let sdk = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(credentials),
        )
        .endpoint_url(&direct)
        .http_client(flexlex::adapters::http::SmithyHttpClient::shared(
            flexlex::adapters::http::client(Default::default()).ok()?,
        ))
        .build();
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let queue = sqs
        .create_queue()
        .queue_name("bench-turns.fifo")
        .attributes(QueueAttributeName::FifoQueue, "true")
        .attributes(QueueAttributeName::VisibilityTimeout, "30")
        .send()
        .await
        .ok()?
        .queue_url?;
    aws_sdk_dynamodb::Client::new(&sdk)
        .create_table()
        .table_name("bench-state")
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .ok()?,
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .ok()?,
        )
        .send()
        .await
        .ok()?;

    let (proxied, aws_connections) = counting_proxy(moto_address).await?;
    let lex = LexEmulator::start().await.ok()?;
    let twilio = TwilioEmulator::start().await.ok()?;
    let runtime = RuntimeEmulator::start().await.ok()?;
    let mut vars = settings(&twilio);
    vars.extend([
        ("AWS_ENDPOINT_URL_LEX_RUNTIME_V2", lex.endpoint()),
        ("AWS_ENDPOINT_URL_SQS", proxied.clone()),
        ("AWS_ENDPOINT_URL_DYNAMODB", proxied),
        ("TURN_QUEUE_URL", queue.clone()),
        ("STATE_TABLE", "bench-state".to_owned()),
    ]);
    let child = spawn(&release_binary("bootstrap"), &runtime, &vars).ok()?;
    let pid = child.id()?;
    runtime.wait_first_poll(Duration::from_secs(10)).await?;
    let intake = invoke_messages(&runtime, &twilio, runs, 3).await?;
    summary("intake, bootstrap → SendMessage (moto)", intake);
    let mut turns = Vec::new();
    let mut handled = 0;
    while handled < runs {
        let batch = sqs
            .receive_message()
            .queue_url(&queue)
            .max_number_of_messages(10)
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
            .send()
            .await
            .ok()?
            .messages
            .unwrap_or_default();
        if batch.is_empty() {
            break;
        }
        let records: Vec<serde_json::Value> = batch
            .iter()
            .map(|m| {
                let attributes: serde_json::Map<String, serde_json::Value> = m
                    .attributes()
                    .map(|a| {
                        a.iter()
                            .map(|(k, v)| (k.as_str().to_owned(), serde_json::json!(v)))
                            .collect()
                    })
                    .unwrap_or_default();
                serde_json::json!({
                    "messageId": m.message_id(),
                    "receiptHandle": m.receipt_handle(),
                    "body": m.body(),
                    "attributes": attributes,
                    "messageAttributes": {},
                    "eventSource": "aws:sqs",
                    "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:bench-turns.fifo",
                    "awsRegion": "us-east-1",
                })
            })
            .collect();
        let at = Instant::now();
        runtime
            .invoke(
                serde_json::json!({ "Records": records }),
                Duration::from_secs(20),
                Duration::from_secs(20),
            )
            .await?;
        turns.push(at.elapsed());
        for m in &batch {
            let _ = sqs
                .delete_message()
                .queue_url(&queue)
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .send()
                .await;
        }
        handled += batch.len();
    }
    println!("turn batches: {} for {handled} messages", turns.len());
    summary("turn batch, bootstrap (Lex, Twilio, DynamoDB)", turns);
    println!(
        "peak RSS of bootstrap on queue and table after {runs} intakes and {handled} turns: {} KiB",
        peak_rss_kib(pid)
            .map(|k| k.to_string())
            .unwrap_or_else(|| "unknown".into())
    );
    println!(
        "TCP connections: SQS + DynamoDB {} , Lex {} ({} calls), Twilio {} ({} requests)",
        aws_connections.load(std::sync::atomic::Ordering::SeqCst),
        lex.connections(),
        lex.calls().len(),
        twilio.connections(),
        twilio.requests().len()
    );
    drop(child);
    let _ = moto.kill().await;
    Some(())
}

#[tokio::main]
async fn main() {
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    // `cargo bench` passes `--bench`; the other arguments name sections.
    let chosen: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let run = |section: &str| chosen.is_empty() || chosen.iter().any(|c| c == section);
    if run("calls") && calls_per_turn_kind(3).await.is_none() {
        println!("the calls per turn kind could not be measured");
    }
    let bootstrap = release_binary("bootstrap");
    let hello = release_binary("hello_lambda");
    for (name, path) in [("bootstrap", &bootstrap), ("hello_lambda", &hello)] {
        match std::fs::metadata(path) {
            Ok(m) => println!("{name}: {} ({} KiB)", path.display(), m.len() / 1024),
            Err(_) => {
                println!(
                    "{name} not built at {}; run scripts/bench.sh",
                    path.display()
                );
                return;
            }
        }
    }
    let twilio = match TwilioEmulator::start().await {
        Ok(t) => t,
        Err(e) => return println!("cannot start the Twilio emulator: {e}"),
    };
    if run("cold")
        && cold_starts(&bootstrap, &hello, &twilio, runs)
            .await
            .is_none()
    {
        println!("the cold starts could not be measured");
    }
    if run("intake") {
        warm_intake(runs * 250).await;
    }
    if run("turn") {
        warm_in_memory(runs * 250).await;
    }
    if run("emulated") && warm_emulated(runs * 10).await.is_none() {
        println!("the emulated warm run could not complete");
    }
    if run("queue") && on_queue_and_table(runs * 5).await.is_none() {
        println!("the queue-and-table run could not complete (is moto_server installed?)");
    }
}

/// A stand-in for SQS and DynamoDB on loopback that answers at once: `SendMessage` with a
/// message id, every DynamoDB call with an empty object (an `UpdateItem` that returns no old
/// item: a conversation's first claim, a record, a finish). What a role's first event costs in
/// the function (building the clients, signing, the HTTP exchange) is measured, not AWS.
async fn aws_stub() -> Option<String> {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.ok()?;
    let address = listener.local_addr().ok()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut stream = tokio::io::BufReader::new(stream);
                loop {
                    let (mut length, mut target) = (0usize, String::new());
                    let mut line = String::new();
                    loop {
                        line.clear();
                        match stream.read_line(&mut line).await {
                            Ok(0) | Err(_) => return,
                            Ok(_) => {}
                        }
                        let header = line.trim_end();
                        if header.is_empty() {
                            break;
                        }
                        if let Some((name, value)) = header.split_once(':') {
                            match name.trim().to_ascii_lowercase().as_str() {
                                "content-length" => length = value.trim().parse().unwrap_or(0),
                                "x-amz-target" => target = value.trim().to_owned(),
                                _ => {}
                            }
                        }
                    }
                    let mut body = vec![0; length];
                    if stream.read_exact(&mut body).await.is_err() {
                        return;
                    }
                    let (status, answer) = if target == "AmazonSQS.SendMessage" {
                        (
                            "200 OK",
                            r#"{"MessageId":"5fea7756-0ea4-451a-a703-a558b933e274","SequenceNumber":"1"}"#,
                        )
                    } else if target.starts_with("DynamoDB_20120810.") {
                        ("200 OK", "{}")
                    } else {
                        (
                            "400 Bad Request",
                            r#"{"__type":"UnknownOperationException"}"#,
                        )
                    };
                    let response = format!(
                        "HTTP/1.1 {status}\r\ncontent-type: application/x-amz-json-1.0\r\n\
                         x-amzn-requestid: stub\r\ncontent-length: {}\r\n\r\n{answer}",
                        answer.len()
                    );
                    if stream
                        .get_mut()
                        .write_all(response.as_bytes())
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    Some(format!("http://{address}"))
}

/// A turn queue that keeps the last body it was given: how intake encodes a job for the turn.
#[derive(Default)]
struct Capture(std::sync::Mutex<Option<String>>);

#[async_trait::async_trait]
impl flexlex::ports::queue::TurnQueue for Capture {
    async fn enqueue(
        &self,
        job: &flexlex::domain::job::Job,
    ) -> Result<(), flexlex::ports::queue::QueueError> {
        let body = job
            .to_body()
            .map_err(|e| flexlex::ports::queue::QueueError::Refused(e.to_string()))?;
        *flexlex::lock(&self.0) = Some(body);
        Ok(())
    }
}

/// A role's first event for the cold-start runs: a customer message signed for the emulated
/// Twilio account (intake), and the SQS batch of one record that intake queues for it (turn).
async fn first_events(twilio: &TwilioEmulator) -> Option<(serde_json::Value, serde_json::Value)> {
    let seed = twilio.create_conversation(CustomerKind::Sms {
        address: "+15551234567".into(),
    });
    let account = twilio.account_sid();
    let message = CustomerMessage {
        account: account.as_str(),
        conversation: seed.conversation.as_str(),
        webhook: seed.webhook.as_str(),
        participant: seed.customer.as_str(),
        author: &seed.customer_author,
        body: "I would like to order flowers",
        index: 0,
        source: "SMS",
    };
    let intake = signed_envelope(URL, &message.params(), TOKEN).ok()?;
    let settings: std::collections::HashMap<String, String> = settings(twilio)
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    let config = Config::from_settings(&settings).ok()?;
    let capture = Arc::new(Capture::default());
    let mut ports = flexlex::app::compose::Ports::local(
        Arc::new(ScriptedBot::default()),
        Arc::new(RecordingConversations::default()),
    );
    ports.queue = Some(capture.clone());
    let bridge = flexlex::app::compose::bridge(&config, ports);
    bridge
        .intake(intake.clone(), Deadline::after(Duration::from_secs(10)))
        .await;
    let body = flexlex::lock(&capture.0).clone()?;
    let turn = serde_json::json!({"Records": [{
        "messageId": "059f36b4-87a3-44ab-83d2-661975830a7d",
        "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a",
        "body": body,
        "attributes": {
            "MessageGroupId": seed.conversation.as_str(),
            "MessageDeduplicationId": "IM00000000000000000000000000000000",
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1700000000000",
        },
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:turns.fifo",
        "awsRegion": "us-east-1",
    }]});
    Some((intake, turn))
}

/// One cold start that ends with an invocation: process start → the first poll (init), →
/// the answer to `event` (init + first invocation), and the same event once more, warm.
struct ColdInvocation {
    init: Duration,
    first: Duration,
    warm: Duration,
    result: flexlex_emulators::runtime::InvocationResult,
}

async fn cold_invocation(
    binary: &Path,
    extra: &[(&str, String)],
    event: &serde_json::Value,
) -> Result<ColdInvocation, String> {
    let runtime = RuntimeEmulator::start()
        .await
        .map_err(|e| format!("cannot start the Runtime API: {e}"))?;
    let started = Instant::now();
    let mut child = spawn(binary, &runtime, extra)
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
    let result = runtime
        .invoke(
            event.clone(),
            Duration::from_secs(20),
            Duration::from_secs(10),
        )
        .await;
    let first = started.elapsed();
    let again = Instant::now();
    let warm = runtime
        .invoke(
            event.clone(),
            Duration::from_secs(20),
            Duration::from_secs(10),
        )
        .await
        .map(|_| again.elapsed());
    let _ = child.kill().await;
    let result = result.ok_or_else(|| "no answer within 10 s".to_owned())?;
    let polled = runtime
        .first_poll()
        .ok_or_else(|| "answered without polling".to_owned())?;
    Ok(ColdInvocation {
        init: polled.duration_since(started),
        first,
        warm: warm.ok_or_else(|| "no answer to the warm event within 10 s".to_owned())?,
        result,
    })
}

/// Whether a first invocation did its role's work: intake answered (the job is on the queue),
/// the turn's batch answer lists no record to deliver again.
fn role_done(result: &flexlex_emulators::runtime::InvocationResult) -> bool {
    match result {
        flexlex_emulators::runtime::InvocationResult::Response(answer) => answer
            .get("batchItemFailures")
            .and_then(serde_json::Value::as_array)
            .is_none_or(Vec::is_empty),
        _ => false,
    }
}

fn p50(samples: &[Duration]) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    percentile(&sorted, 0.5)
}

/// Cold starts per role, all kinds interleaved run by run so that a slow spell of the machine
/// weighs on all alike:
///
/// - `hello_lambda` and `bootstrap` as deployed (`TURN_QUEUE_URL` and `STATE_TABLE` set; SQS and
///   DynamoDB at [`aws_stub`], Lex and Twilio at the emulators), each started once with an
///   intake event and once with an SQS turn event waiting: process start → first poll (init)
///   and → the event's answer (init + the role's first invocation, which builds its clients);
/// - `bootstrap` without a queue (turns in process, every client built at init): init only.
async fn cold_starts(
    bootstrap: &Path,
    hello: &Path,
    twilio: &TwilioEmulator,
    runs: usize,
) -> Option<()> {
    let lex = LexEmulator::start().await.ok()?;
    let stub = aws_stub().await?;
    let (intake, turn) = first_events(twilio).await?;
    let local = settings(twilio);
    let mut deployed = settings(twilio);
    deployed.extend([
        ("AWS_ENDPOINT_URL_LEX_RUNTIME_V2", lex.endpoint()),
        ("AWS_ENDPOINT_URL_SQS", stub.clone()),
        ("AWS_ENDPOINT_URL_DYNAMODB", stub),
        (
            "TURN_QUEUE_URL",
            "https://sqs.us-east-1.amazonaws.com/123456789012/turns.fifo".to_owned(),
        ),
        ("STATE_TABLE", "flexlex-state".to_owned()),
    ]);
    let kinds: [(&str, &Path, Settings, &serde_json::Value); 4] = [
        ("hello_lambda, intake event", hello, &[], &intake),
        ("bootstrap, intake event", bootstrap, &deployed, &intake),
        ("hello_lambda, turn event", hello, &[], &turn),
        ("bootstrap, turn event", bootstrap, &deployed, &turn),
    ];
    let mut init: [Vec<Duration>; 4] = Default::default();
    let mut first: [Vec<Duration>; 4] = Default::default();
    let mut start_cost: [Vec<Duration>; 4] = Default::default();
    let mut local_init = Vec::with_capacity(runs);
    for _ in 0..runs {
        for (i, (name, binary, extra, event)) in kinds.iter().enumerate() {
            match cold_invocation(binary, extra, event).await {
                Ok(run) if !role_done(&run.result) => {
                    println!(
                        "{name}: the first invocation did not do its work: {:?}",
                        run.result
                    );
                    return None;
                }
                Ok(run) => {
                    init[i].push(run.init);
                    first[i].push(run.first);
                    start_cost[i].push(run.first.saturating_sub(run.warm));
                }
                Err(why) => {
                    println!("{name}: {why}");
                    return None;
                }
            }
        }
        match cold_start(bootstrap, &local).await {
            Ok(took) => local_init.push(took),
            Err(why) => {
                println!("bootstrap, no queue: {why}");
                return None;
            }
        }
    }
    let [
        hello_intake_init,
        boot_intake_init,
        hello_turn_init,
        boot_turn_init,
    ] = init;
    let hello_init = [hello_intake_init, hello_turn_init].concat();
    let boot_init = [boot_intake_init, boot_turn_init].concat();
    let (hello_p50, boot_p50) = (p50(&hello_init), p50(&boot_init));
    summary("init: hello_lambda", hello_init);
    summary("init: bootstrap (queue + table)", boot_init);
    summary(
        "init: bootstrap, no queue (all clients)",
        local_init.clone(),
    );
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    let [hello_intake, boot_intake, hello_turn, boot_turn] = first;
    let rows = [
        ("intake", p50(&hello_intake), p50(&boot_intake), 1.3),
        ("turn", p50(&hello_turn), p50(&boot_turn), 1.5),
    ];
    summary("init + first intake: hello_lambda", hello_intake);
    summary("init + first intake: bootstrap", boot_intake);
    summary("init + first turn: hello_lambda", hello_turn);
    summary("init + first turn: bootstrap", boot_turn);
    println!(
        "init p50: bootstrap / hello_lambda = {:.2}× (no queue: {:.2}×)",
        ratio(boot_p50, hello_p50),
        ratio(p50(&local_init), hello_p50)
    );
    for (role, hello, boot, target) in rows {
        println!(
            "{role} cold start p50 (init + first {role}): bootstrap {boot:.3?} / hello_lambda {hello:.3?} = {:.2}× (target ≤ {target}×)",
            ratio(boot, hello)
        );
    }
    // What being cold adds to the role's first event: its answer time minus the same event's,
    // warm, in the same process (the role's own work, network included, taken out).
    let [hello_intake, boot_intake, hello_turn, boot_turn] = start_cost;
    for (role, hello, boot) in [
        ("intake", hello_intake, boot_intake),
        ("turn", hello_turn, boot_turn),
    ] {
        let (h, b) = (p50(&hello), p50(&boot));
        summary(&format!("first {role} − warm {role}: hello_lambda"), hello);
        summary(&format!("first {role} − warm {role}: bootstrap"), boot);
        println!(
            "{role} cold start p50 (first − warm): bootstrap {b:.3?} / hello_lambda {h:.3?} = {:.2}×",
            ratio(b, h)
        );
    }
    Some(())
}
