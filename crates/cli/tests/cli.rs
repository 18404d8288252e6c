//! The `flexlex` binary as a process: demo, chat through stdin, serve over real HTTP, and the
//! command line's exit codes.

mod support;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use flexlex_emulators::webhook::signature as twilio_signature;
use support::{Serve, flexlex};

fn run(args: &[&str]) -> (Output, String, String) {
    let output = flexlex(args).output().unwrap();
    let stdout = String::from_utf8(output.stdout.clone()).unwrap();
    let stderr = String::from_utf8(output.stderr.clone()).unwrap();
    (output, stdout, stderr)
}

#[test]
fn demo_plays_every_conversation_as_expected_without_colour_when_piped() {
    let (output, stdout, stderr) = run(&["demo"]);
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");
    for expected in [
        "  customer │ Hi, I would like to order some flowers",
        "           │ 1. Roses",
        "           │ 2. Lilies",
        "  customer │ 1\n",
        "the reply was sent to the bot as the value of the card choice it picks",
        "⇒ closed (intent:OrderFlowers)",
        "⇒ handed_off (intent:Agent)",
        r#""type":"sms""#,
        r#""type":"whatsapp""#,
        "otherIntentSlots",
        r#""FlowerType": "lilies""#,
        "\"task_channel_unique_name\": \"sms\"",
        "removed",
        "⇒ rejected:signature",
        "Lex requests during this conversation: 0, Twilio requests: 0",
        "bot_error:InternalServerException",
        "⇒ ignored:duplicate",
        "⇒ handed_off (escalation:fallbacks:2)",
        r#""summary": "2 turns · FallbackIntent · 2 fallbacks""#,
        "twilio   │ Content API template created (twilio/quick-reply)",
        "           │ [Roses] [Lilies] [Tulips]",
        "  customer │ Lilies\n",
        "(the agent leaves the conversation: Flex's Leave)",
        "bot      │ Welcome back! Is there anything else I can help you with?",
        "⇒ taken_back",
        "demo: 9 conversations, 9 as expected, 0 deviated",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
    assert!(!stdout.contains("✗"), "{stdout}");
    assert!(!stdout.contains('\x1b'), "colour codes in piped output");
    assert!(!stdout.contains("\"level\""), "log lines leaked to stdout");
    assert!(stderr.trim().is_empty(), "nothing at ERROR: {stderr}");
}

#[test]
fn demo_colours_when_forced() {
    let (output, stdout, _) = run(&["demo", "--color", "always"]);
    assert_eq!(output.status.code(), Some(0));
    assert!(stdout.contains("\x1b[1m"), "{stdout}");
}

#[test]
fn chat_reads_the_customer_from_stdin_until_eof() {
    let mut child = flexlex(&["chat", "--channel", "sms"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"I want to order roses\ntomorrow\n10am\nyes\nagent\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    for expected in [
        "What day do you want the roses to be picked up?",
        "At what time do you want the roses to be picked up?",
        "Does this sound okay?",
        "⇒ closed (intent:OrderFlowers)",
        "your next line starts a new conversation",
        "⇒ handed_off (intent:Agent)",
        r#""type":"sms""#,
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
    // The order closed one conversation; "agent" was handed off in a second one.
    assert_eq!(
        stdout.matches("── sms conversation CH").count(),
        2,
        "{stdout}"
    );
}

#[test]
fn chat_quits_on_the_command() {
    let mut child = flexlex(&["chat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"help\n/quit\nagent\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert!(stdout.contains("I can help you order flowers"), "{stdout}");
    assert!(!stdout.contains("handed_off"), "{stdout}");
}

#[test]
fn help_documents_commands_and_exit_codes() {
    let (output, stdout, _) = run(&["--help"]);
    assert_eq!(output.status.code(), Some(0));
    for word in [
        "demo",
        "chat",
        "serve",
        "connect",
        "doctor",
        "Exit codes",
        "--color",
    ] {
        assert!(stdout.contains(word), "missing {word:?} in:\n{stdout}");
    }
    for command in ["demo", "chat", "serve", "connect", "doctor"] {
        let (output, stdout, _) = run(&[command, "--help"]);
        assert_eq!(output.status.code(), Some(0), "{command} --help");
        assert!(stdout.contains("Exit codes"), "{command} --help:\n{stdout}");
    }
    let (_, stdout, _) = run(&["serve", "--help"]);
    assert!(stdout.contains("--simulate") && stdout.contains("--port"));
}

#[test]
fn usage_errors_exit_2() {
    let (output, _, stderr) = run(&["bogus"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr.contains("bogus"), "{stderr}");
    let (output, _, _) = run(&["serve", "--port", "not-a-port"]);
    assert_eq!(output.status.code(), Some(2));
    let (output, _, stderr) = run(&["chat", "--lex"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr.contains("--bot-id"), "{stderr}");
}

#[test]
fn serve_without_credentials_names_the_missing_variable() {
    let (output, stdout, stderr) = run(&["serve", "--port", "0"]);
    assert_eq!(output.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(stderr.contains("TWILIO_AUTH_TOKEN"), "{stderr}");
    assert!(stderr.contains("--simulate"), "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
}

/// A seeded conversation as `serve --simulate` announces it.
struct Seeded {
    conversation: String,
    author: String,
    participant: String,
    webhook: String,
}

fn field<'a>(line: &'a str, name: &str) -> &'a str {
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = words.iter().position(|w| *w == name).unwrap();
    words[at + 1]
}

fn message_params(account: &str, seeded: &Seeded, index: u32, body: &str) -> Vec<(String, String)> {
    [
        ("AccountSid", account.to_owned()),
        ("EventType", "onMessageAdded".to_owned()),
        ("Source", "SMS".to_owned()),
        ("ConversationSid", seeded.conversation.clone()),
        ("MessageSid", format!("IM{index:032x}")),
        ("Index", index.to_string()),
        ("DateCreated", "2026-11-24T10:00:00.000Z".to_owned()),
        ("Body", body.to_owned()),
        ("Author", seeded.author.clone()),
        ("ParticipantSid", seeded.participant.clone()),
        ("Attributes", "{}".to_owned()),
        ("WebhookSid", seeded.webhook.clone()),
        ("RetryCount", "0".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

async fn post(url: &str, params: &[(String, String)], signature: &str) -> reqwest::Response {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    flexlex::adapters::http::client(Default::default())
        .expect("http client")
        .post(url)
        .header(
            "Content-Type",
            "application/x-www-form-urlencoded; charset=UTF-8",
        )
        .header("X-Twilio-Signature", signature)
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn serve_answers_at_once_and_handles_signed_webhooks_in_the_background() {
    let mut server = Serve::spawn(flexlex(&["serve", "--simulate", "--port", "0"]));
    let listening = server.until(|l| l.starts_with("listening "));
    let url = listening.trim_start_matches("listening ").to_owned();
    assert!(
        url.starts_with("http://127.0.0.1:")
            && url.ends_with("/webhook?BotId=FLWRSDEMO1&BotAliasId=TSTALIASID"),
        "{url}"
    );
    let account = server.until(|l| l.starts_with("account AC"))[8..].to_owned();
    let token = server.until(|l| l.starts_with("signing-token "))[14..].to_owned();
    let sms = server.until(|l| l.starts_with("conversation sms "));
    let seeded = Seeded {
        conversation: field(&sms, "sms").to_owned(),
        author: field(&sms, "author").to_owned(),
        participant: field(&sms, "participant").to_owned(),
        webhook: field(&sms, "webhook").to_owned(),
    };
    assert!(seeded.conversation.starts_with("CH") && seeded.webhook.starts_with("WH"));
    server.until(|l| l == "ready");

    // A correctly signed message: 200 with an empty body, then the bot's reply.
    let params = message_params(&account, &seeded, 1, "I want to order lilies");
    let response = post(&url, &params, &twilio_signature(&token, &url, &params)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "");
    let event = server.until(|l| l.starts_with("event "));
    assert_eq!(
        event,
        format!("event replied conversation {}", seeded.conversation)
    );
    let message = server.until(|l| l.starts_with("  message "));
    assert_eq!(
        message,
        format!(
            "  message {} Lex: What day do you want the lilies to be picked up?",
            seeded.conversation
        )
    );

    // "agent": handed off, with the Interaction and the webhook's removal.
    let params = message_params(&account, &seeded, 2, "agent");
    let response = post(&url, &params, &twilio_signature(&token, &url, &params)).await;
    assert_eq!(response.status(), 200);
    let event = server.until(|l| l.starts_with("event "));
    assert!(
        event.starts_with(&format!(
            "event handed_off conversation {}",
            seeded.conversation
        )),
        "{event}"
    );
    let interaction = server.until(|l| l.starts_with("  interaction "));
    assert!(
        interaction.starts_with(&format!(
            "  interaction {} type=sms task_channel=sms ",
            seeded.conversation
        )),
        "{interaction}"
    );
    assert!(
        interaction.contains(r#""FlowerType":"lilies""#),
        "{interaction}"
    );
    let removed = server.until(|l| l.starts_with("  webhook-removed "));
    assert_eq!(
        removed,
        format!(
            "  webhook-removed {} {}",
            seeded.conversation, seeded.webhook
        )
    );

    // Forged: API Gateway answers 200 before validation; nothing else happens.
    let params = message_params(&account, &seeded, 3, "I want to order roses");
    let forged = twilio_signature("not-the-token", &url, &params);
    let response = post(&url, &params, &forged).await;
    assert_eq!(response.status(), 200);
    let event = server.until(|l| l.starts_with("event "));
    assert!(event.starts_with("event rejected:signature "), "{event}");

    // Only form POSTs are webhooks.
    let client = flexlex::adapters::http::client(Default::default()).expect("http client");
    assert_eq!(client.get(&url).send().await.unwrap().status(), 405);
    let json = client
        .post(&url)
        .header("Content-Type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(json.status(), 415);

    // Ctrl-C: stops, finishes what is in flight, exits 0.
    let pid = server.child.id().to_string();
    let killed = Command::new("kill").args(["-INT", &pid]).status().unwrap();
    assert!(killed.success());
    server.until(|l| l == "stopped");
    let status = server.child.wait().unwrap();
    assert_eq!(status.code(), Some(0));

    // Nothing was recorded after the forged request's event line.
    let after_forged: Vec<&String> = server
        .seen
        .iter()
        .skip_while(|l| !l.starts_with("event rejected:signature"))
        .skip(1)
        .collect();
    assert_eq!(after_forged, vec!["stopped"], "{:#?}", server.seen);
}
