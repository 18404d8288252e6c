//! The real `bootstrap` binary, run as Lambda runs it: a Runtime API on loopback hands it
//! events; Lex and Twilio are the emulators, reached through the standard configuration
//! variables (`AWS_ENDPOINT_URL_LEX_RUNTIME_V2`, `TWILIO_*_BASE_URL`).

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use flexlex_emulators::lex::LexEmulator;
use flexlex_emulators::runtime::{InvocationResult, RuntimeEmulator};
use flexlex_emulators::twilio::{CustomerKind, TwilioEmulator};

use crate::helpers::{TOKEN, WORKSPACE, message_params, signed, url};

const WAIT: Duration = Duration::from_secs(30);

pub struct Function {
    pub child: Child,
    pub lines: tokio::sync::mpsc::UnboundedReceiver<String>,
}

/// Starts `bootstrap` with a clean environment: only what Lambda and the stack would set.
pub fn spawn(runtime: &RuntimeEmulator, vars: &[(&str, String)]) -> Function {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bootstrap"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", runtime.api_address())
        .env("AWS_LAMBDA_FUNCTION_NAME", "flexlex")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .env("AWS_LAMBDA_LOG_LEVEL", "INFO")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "AKIDLAMBDAPROCESS")
        .env("AWS_SECRET_ACCESS_KEY", "lambda-process-secret")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent/flexlex-config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/flexlex-credentials",
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in vars {
        command.env(k, v);
    }
    let mut child = command.spawn().expect("bootstrap starts");
    let (tx, lines) = tokio::sync::mpsc::unbounded_channel();
    for stream in [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stream).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                let _ = tx.send(line);
            }
        });
    }
    Function { child, lines }
}

impl Function {
    /// The next per-event log line (the JSON object carrying `outcome`).
    async fn next_event_line(&mut self) -> Value {
        loop {
            let line = tokio::time::timeout(WAIT, self.lines.recv())
                .await
                .expect("a log line")
                .expect("output open");
            if let Ok(value) = serde_json::from_str::<Value>(&line)
                && value.get("outcome").is_some()
            {
                return value;
            }
        }
    }
}

pub fn env_for(lex: &LexEmulator, twilio: &TwilioEmulator) -> Vec<(&'static str, String)> {
    let (key, secret) = twilio.add_api_key();
    vec![
        ("AWS_ENDPOINT_URL_LEX_RUNTIME_V2", lex.endpoint()),
        ("TWILIO_ACCOUNT_SID", twilio.account_sid().to_string()),
        ("TWILIO_AUTH_TOKEN", TOKEN.to_owned()),
        ("TWILIO_API_KEY_SID", key.to_string()),
        ("TWILIO_API_KEY_SECRET", secret),
        ("TWILIO_CONVERSATIONS_BASE_URL", twilio.base_url()),
        ("TWILIO_FLEX_BASE_URL", twilio.base_url()),
        ("TWILIO_CONTENT_BASE_URL", twilio.base_url()),
        ("FLEX_WORKSPACE_SID", WORKSPACE.to_owned()),
    ]
}

#[tokio::test]
async fn the_lambda_binary_sends_a_whatsapp_card_as_a_template_and_sets_the_timers_once() {
    let lex = LexEmulator::start().await.unwrap();
    let twilio = TwilioEmulator::start().await.unwrap();
    let runtime = RuntimeEmulator::start().await.unwrap();
    let mut vars = env_for(&lex, &twilio);
    vars.extend([
        ("INACTIVE_AFTER", "PT15M".to_owned()),
        ("CLOSE_AFTER", "P1D".to_owned()),
    ]);
    let mut function = spawn(&runtime, &vars);
    assert!(runtime.wait_first_poll(WAIT).await.is_some());

    let seed = twilio.create_conversation(CustomerKind::Whatsapp {
        address: "+447700900123".into(),
    });
    let account = twilio.account_sid().to_string();
    for (index, text) in ["I would like to order flowers", "Tulips"]
        .iter()
        .enumerate()
    {
        let event = signed(&url(), &message_params(&seed, &account, text, index as u64));
        let result = runtime.invoke(event, Duration::from_secs(20), WAIT).await;
        assert_eq!(result, Some(InvocationResult::Response(Value::Null)));
        let line = function.next_event_line().await;
        assert_eq!(line["outcome"], "replied", "{line}");
        if index == 0 {
            assert_eq!(
                (
                    &line["cardsRich"],
                    &line["templatesCreated"],
                    &line["timers"]
                ),
                (&json!(1), &json!(1), &json!("set")),
                "{line}"
            );
        } else {
            assert_eq!(line["choiceMapped"], true, "{line}");
            assert_eq!(line.get("timers"), None, "{line}");
        }
    }
    let [template] = twilio.contents().try_into().unwrap();
    assert!(template.types.get("twilio/quick-reply").is_some());
    let [sent] = twilio.content_messages().try_into().unwrap();
    assert_eq!(sent.content, template.sid);
    let heard: Vec<String> = lex
        .calls()
        .iter()
        .filter_map(|c| c.text().map(str::to_owned))
        .collect();
    assert_eq!(heard, ["I would like to order flowers", "tulips"]);
    let timer_posts = twilio
        .requests()
        .iter()
        .filter(|r| r.param("Timers.Inactive").is_some())
        .count();
    assert_eq!(timer_posts, 1);
}

#[tokio::test]
async fn the_lambda_binary_runs_a_conversation_and_reuses_its_connections() {
    let lex = LexEmulator::start().await.unwrap();
    let twilio = TwilioEmulator::start().await.unwrap();
    let runtime = RuntimeEmulator::start().await.unwrap();
    let vars = env_for(&lex, &twilio);
    let mut function = spawn(&runtime, &vars);
    assert!(
        runtime.wait_first_poll(WAIT).await.is_some(),
        "the runtime polls for events"
    );

    let seed = twilio.create_conversation(CustomerKind::Sms {
        address: "+15551234567".into(),
    });
    let account = twilio.account_sid().to_string();
    let turns = [
        ("I would like to order tulips", "replied"),
        ("tomorrow", "replied"),
        ("9:30", "replied"),
        ("yes", "closed"),
    ];
    for (index, (text, expected)) in turns.into_iter().enumerate() {
        let event = signed(&url(), &message_params(&seed, &account, text, index as u64));
        let result = runtime.invoke(event, Duration::from_secs(20), WAIT).await;
        assert_eq!(
            result,
            Some(InvocationResult::Response(Value::Null)),
            "turn {text:?}"
        );
        let line = function.next_event_line().await;
        assert_eq!(line["outcome"], expected, "{line}");
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["conversationSid"], seed.conversation.as_str());
        assert!(
            line["_aws"]["CloudWatchMetrics"][0]["Metrics"].is_array(),
            "an EMF document"
        );
        assert!(line["LexLatencyMs"].as_f64().is_some_and(|ms| ms > 0.0));
        assert!(
            !line.to_string().contains(text),
            "no message text in the log line"
        );
    }
    assert_eq!(
        twilio.conversation_state(&seed.conversation).as_deref(),
        Some("closed")
    );
    // Pooled connections are reused across warm invocations. Within one invocation a request
    // can start a moment before the previous connection is back in the pool, so two may exist.
    let twilio_requests = twilio.requests().len();
    assert!(twilio_requests >= 5, "{twilio_requests}");
    assert!(
        twilio.connections() <= 2,
        "{} connections for {twilio_requests} Twilio requests",
        twilio.connections()
    );
    assert_eq!(
        lex.connections(),
        1,
        "one connection to Lex for {} calls",
        lex.calls().len()
    );

    // A forged event: logged and counted, not an invocation error.
    let forged = crate::helpers::envelope(
        &url(),
        &message_params(&seed, &account, "hi", 9),
        Some("Zm9yZ2Vk"),
    );
    let result = runtime.invoke(forged, Duration::from_secs(20), WAIT).await;
    assert_eq!(result, Some(InvocationResult::Response(Value::Null)));
    let line = function.next_event_line().await;
    assert_eq!(
        (line["outcome"].as_str(), line["SignatureRejected"].as_f64()),
        (Some("rejected:signature"), Some(1.0))
    );
    assert_eq!(line["level"], "WARN");
    let tried = line["urlsTried"]
        .as_array()
        .expect("the URLs tried are logged");
    assert!(
        tried.iter().any(|u| u.as_str() == Some(url().as_str())),
        "{line}"
    );
    assert!(!line.to_string().contains(TOKEN), "never the token");

    // Twilio down for good: the invocation fails, so the on-failure destination keeps it.
    let other = twilio.create_conversation(CustomerKind::Sms {
        address: "+15557654321".into(),
    });
    twilio.push_fault(flexlex_emulators::twilio::Fault::always(
        flexlex_emulators::twilio::FaultKind::Unavailable,
    ));
    let event = signed(&url(), &message_params(&other, &account, "help", 0));
    let result = runtime.invoke(event, Duration::from_secs(20), WAIT).await;
    let Some(InvocationResult::Error {
        error_type,
        error_message,
    }) = result
    else {
        panic!("expected an invocation error, got {result:?}")
    };
    // No STATE_TABLE in this function's environment: progress is kept in the process only.
    assert_eq!(error_type, "Transient.ReplayUnsafe");
    assert!(error_message.starts_with("failed:reply"), "{error_message}");
    let line = function.next_event_line().await;
    assert_eq!(
        (line["level"].as_str(), line["EventFailed"].as_f64()),
        (Some("ERROR"), Some(1.0))
    );

    let _ = function.child.kill().await;
}

#[tokio::test]
async fn a_missing_setting_fails_init_naming_the_variable() {
    let lex = LexEmulator::start().await.unwrap();
    let twilio = TwilioEmulator::start().await.unwrap();
    let runtime = RuntimeEmulator::start().await.unwrap();
    let vars: Vec<_> = env_for(&lex, &twilio)
        .into_iter()
        .filter(|(k, _)| *k != "FLEX_WORKSPACE_SID")
        .collect();
    let mut function = spawn(&runtime, &vars);
    let status = tokio::time::timeout(WAIT, function.child.wait())
        .await
        .expect("init ends")
        .unwrap();
    assert!(!status.success());
    let mut output = Vec::new();
    // Both readers end when the process's pipes close, which closes the channel.
    while let Ok(Some(line)) = tokio::time::timeout(WAIT, function.lines.recv()).await {
        output.push(line);
    }
    let output = output.join("\n");
    assert!(output.contains("FLEX_WORKSPACE_SID"), "{output}");
    let secret = vars
        .iter()
        .find(|(k, _)| *k == "TWILIO_API_KEY_SECRET")
        .unwrap()
        .1
        .clone();
    assert!(
        !output.contains(&secret) && !output.contains(TOKEN),
        "no secret in the init error"
    );
    assert!(
        runtime.first_poll().is_none(),
        "no event is taken by a broken function"
    );
}
