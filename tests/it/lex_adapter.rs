//! The real AWS SDK client, through the Lex adapter, against the Lex emulator on loopback.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::helpers::loopback_sdk_config;
use flexlex::adapters::lex::{LexBot, LexSettings, StripNullSlots};
use flexlex::domain::bot::{BotError, BotMessage, BotRequest, DialogAction, IntentState};
use flexlex::domain::deadline::Deadline;
use flexlex::domain::ids::{BotAliasId, BotId, BotRef, LocaleId};
use flexlex::ports::bot::Bot;
use flexlex_emulators::lex::{
    DEMO_ALIAS_ID, DEMO_BOT_ID, DEMO_LOCALE_ID, Fault, LexEmulator, Times,
};
use serde_json::json;

const MAX_ATTEMPTS: u32 = 3;

fn settings() -> LexSettings {
    LexSettings {
        max_attempts: MAX_ATTEMPTS,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
        conflict_backoff: Duration::from_millis(1),
        ..LexSettings::default()
    }
}

async fn setup() -> (LexEmulator, LexBot) {
    let emulator = LexEmulator::start().await.unwrap();
    let bot = LexBot::from_sdk_config(&loopback_sdk_config(&emulator.endpoint()), &settings());
    (emulator, bot)
}

fn bot_ref(bot_id: &str) -> BotRef {
    BotRef {
        bot_id: BotId::parse(bot_id).unwrap(),
        alias_id: BotAliasId::parse(DEMO_ALIAS_ID).unwrap(),
        locale: LocaleId::parse(DEMO_LOCALE_ID).unwrap(),
    }
}

fn request(session: &str, text: &str) -> BotRequest {
    BotRequest {
        bot: bot_ref(DEMO_BOT_ID),
        session_id: session.into(),
        text: text.into(),
        request_attributes: BTreeMap::from([("channel".to_owned(), "sms".to_owned())]),
    }
}

fn deadline() -> Deadline {
    Deadline::after(Duration::from_secs(20))
}

fn text_of(message: &BotMessage) -> &str {
    match message {
        BotMessage::PlainText(t) | BotMessage::Ssml(t) | BotMessage::CustomPayload(t) => t,
        BotMessage::Card(card) => &card.title,
    }
}

#[tokio::test]
async fn order_flowers_dialog_runs_to_ready_for_fulfillment() {
    let (emulator, bot) = setup().await;
    let session = "CH0123456789abcdef0123456789abcdef";

    let turn = bot
        .recognize_text(
            &request(session, "I would like to order flowers"),
            deadline(),
        )
        .await
        .unwrap();
    let [BotMessage::Card(card)] = turn.messages.as_slice() else {
        panic!("{:?}", turn.messages)
    };
    let values: Vec<&str> = card.buttons.iter().map(|b| b.value.as_str()).collect();
    assert_eq!(values, ["roses", "lilies", "tulips"]);
    assert_eq!(
        turn.dialog_action,
        Some(DialogAction::ElicitSlot(Some("FlowerType".into())))
    );

    let turn = bot
        .recognize_text(&request(session, "roses"), deadline())
        .await
        .unwrap();
    assert_eq!(
        turn.dialog_action,
        Some(DialogAction::ElicitSlot(Some("PickupDate".into())))
    );
    let turn = bot
        .recognize_text(&request(session, "2026-12-01"), deadline())
        .await
        .unwrap();
    assert_eq!(
        turn.dialog_action,
        Some(DialogAction::ElicitSlot(Some("PickupTime".into())))
    );
    let turn = bot
        .recognize_text(&request(session, "10am"), deadline())
        .await
        .unwrap();
    assert_eq!(turn.dialog_action, Some(DialogAction::ConfirmIntent));
    assert_eq!(
        text_of(&turn.messages[0]),
        "Okay, your roses will be ready for pickup by 10:00 on 2026-12-01. Does this sound okay?"
    );

    let turn = bot
        .recognize_text(&request(session, "yes"), deadline())
        .await
        .unwrap();
    assert_eq!(turn.dialog_action, Some(DialogAction::Close));
    let intent = turn.intent.unwrap();
    assert_eq!(intent.name, "OrderFlowers");
    assert_eq!(intent.state, IntentState::ReadyForFulfillment);
    assert_eq!(intent.confirmation.as_deref(), Some("Confirmed"));
    let slot = |name: &str| intent.slots.get(name).cloned().flatten();
    assert_eq!(slot("FlowerType").as_deref(), Some("roses"));
    assert_eq!(slot("PickupDate").as_deref(), Some("2026-12-01"));
    assert_eq!(slot("PickupTime").as_deref(), Some("10:00"));
    assert!(turn.confidence.is_some());

    let calls = emulator.calls();
    assert_eq!(calls.len(), 5);
    assert!(
        calls
            .iter()
            .all(|c| c.status == 200 && c.signed && c.session_id == session)
    );
    assert_eq!(calls[1].text(), Some("roses"));
    assert_eq!(calls[0].request_attributes()["channel"], "sms");
    assert_eq!(calls[0].content_type.as_deref(), Some("application/json"));
}

#[tokio::test]
async fn agent_mid_order_switches_intent_and_reports_gathered_slots() {
    let (_emulator, bot) = setup().await;
    let session = "CHaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    bot.recognize_text(&request(session, "I want to order tulips"), deadline())
        .await
        .unwrap();
    let turn = bot
        .recognize_text(&request(session, "let me talk to a person"), deadline())
        .await
        .unwrap();
    assert_eq!(
        text_of(&turn.messages[0]),
        "Okay - lets get you to an agent"
    );
    assert_eq!(turn.dialog_action, Some(DialogAction::Close));
    let intent = turn.intent.unwrap();
    assert_eq!(
        (intent.name.as_str(), &intent.state),
        ("Agent", &IntentState::ReadyForFulfillment)
    );
    let order = turn
        .alternatives
        .iter()
        .find(|i| i.name == "OrderFlowers")
        .expect("the abandoned order is still reported");
    assert_eq!(
        order.slots.get("FlowerType"),
        Some(&Some("tulips".to_owned()))
    );
}

#[tokio::test]
async fn throttling_once_is_retried_by_the_sdk() {
    let (emulator, bot) = setup().await;
    emulator.push_fault(Fault::Throttling, 1);
    let turn = bot
        .recognize_text(&request("s-throttle-once", "help"), deadline())
        .await
        .unwrap();
    assert_eq!(turn.intent.unwrap().name, "HelpIntent");
    let statuses: Vec<u16> = emulator.calls().iter().map(|c| c.status).collect();
    assert_eq!(statuses, [429, 200]);
}

#[tokio::test]
async fn throttling_always_ends_unavailable_after_max_attempts() {
    let (emulator, bot) = setup().await;
    emulator.push_fault(Fault::Throttling, Times::Always);
    let err = bot
        .recognize_text(&request("s-throttle-always", "help"), deadline())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, BotError::Unavailable { code, .. } if code == "ThrottlingException"),
        "{err:?}"
    );
    assert_eq!(emulator.calls().len(), MAX_ATTEMPTS as usize);
}

#[tokio::test]
async fn server_errors_are_retried() {
    let (emulator, bot) = setup().await;
    emulator.push_fault(Fault::InternalServer, 1);
    emulator.push_fault(Fault::BadGateway, 1);
    bot.recognize_text(&request("s-5xx", "help"), deadline())
        .await
        .unwrap();
    let statuses: Vec<u16> = emulator.calls().iter().map(|c| c.status).collect();
    assert_eq!(statuses, [500, 502, 200]);
}

#[tokio::test]
async fn conflict_is_retried_by_the_adapter_and_given_up_after_its_retries() {
    let (emulator, bot) = setup().await;
    emulator.push_fault(Fault::Conflict, 1);
    bot.recognize_text(&request("s-conflict", "help"), deadline())
        .await
        .unwrap();
    let statuses: Vec<u16> = emulator.calls().iter().map(|c| c.status).collect();
    assert_eq!(statuses, [409, 200]);

    emulator.push_fault(Fault::Conflict, Times::Always);
    let err = bot
        .recognize_text(&request("s-conflict", "help"), deadline())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, BotError::Unavailable { code, .. } if code == "ConflictException"),
        "{err:?}"
    );
    let conflicts = emulator.calls().iter().filter(|c| c.status == 409).count();
    assert_eq!(conflicts, 1 + 1 + settings().conflict_retries as usize);
}

#[tokio::test]
async fn dependency_failure_is_not_retried() {
    let (emulator, bot) = setup().await;
    emulator.push_fault(Fault::DependencyFailed, 1);
    let err = bot
        .recognize_text(&request("s-dep", "help"), deadline())
        .await
        .unwrap_err();
    assert!(matches!(err, BotError::Dependency { .. }), "{err:?}");
    assert_eq!(emulator.calls().len(), 1);
}

#[tokio::test]
async fn refused_requests_are_rejected_with_lex_codes() {
    let (emulator, bot) = setup().await;
    let mut unknown = request("s-unknown", "hi");
    unknown.bot = bot_ref("NOSUCHBOT1");
    let err = bot.recognize_text(&unknown, deadline()).await.unwrap_err();
    assert!(
        matches!(&err, BotError::Rejected { code, .. } if code == "ResourceNotFoundException"),
        "{err:?}"
    );

    // BotRequest promises capped text; sent raw, Lex's own limit answers.
    let too_long = request("s-long", &"a".repeat(1025));
    let err = bot.recognize_text(&too_long, deadline()).await.unwrap_err();
    assert!(
        matches!(&err, BotError::Rejected { code, .. } if code == "ValidationException"),
        "{err:?}"
    );

    let bad_session = request("s+1555", "hi");
    let err = bot
        .recognize_text(&bad_session, deadline())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, BotError::Rejected { code, .. } if code == "ValidationException"),
        "{err:?}"
    );
    assert_eq!(emulator.calls().len(), 3, "refusals are not retried");
}

#[tokio::test]
async fn no_call_is_made_without_time_left() {
    let (emulator, bot) = setup().await;
    let spent = Deadline::after(Duration::ZERO);
    let err = bot
        .recognize_text(&request("s-late", "help"), spent)
        .await
        .unwrap_err();
    assert_eq!(err, BotError::Deadline);
    assert!(emulator.calls().is_empty());
}

#[tokio::test]
async fn queued_turns_carry_ssml_payloads_and_session_attributes() {
    let (emulator, bot) = setup().await;
    let session = "s-scripted";
    emulator.push_turn(
        session,
        json!({
            "messages": [
                {"contentType": "SSML", "content": "<speak>One moment</speak>"},
                {"contentType": "CustomPayload", "content": "{\"flexlex\":\"handoff\"}"},
                {"contentType": "PlainText", "content": "Connecting you"}
            ],
            "sessionState": {
                "dialogAction": {"type": "Close"},
                "intent": {"name": "Billing", "state": "Fulfilled"},
                "sessionAttributes": {"flexlex_action": "handoff"}
            },
            "interpretations": [{"intent": {"name": "Billing"}, "nluConfidence": {"score": 0.8}}]
        }),
    );
    let turn = bot
        .recognize_text(&request(session, "billing"), deadline())
        .await
        .unwrap();
    assert_eq!(turn.messages.len(), 3);
    assert_eq!(
        turn.messages[0],
        BotMessage::Ssml("<speak>One moment</speak>".into())
    );
    assert_eq!(turn.session_attributes["flexlex_action"], "handoff");
    assert_eq!(turn.confidence, Some(0.8));
    // Lex keeps session attributes for the next turn of the session.
    let next = bot
        .recognize_text(&request(session, "help"), deadline())
        .await
        .unwrap();
    assert_eq!(next.session_attributes["flexlex_action"], "handoff");
}

/// Lex lists unfilled slots as `null`, which the SDK on its own refuses ("dense map cannot
/// contain null values"): this is why every client the adapter builds carries `StripNullSlots`.
#[tokio::test]
async fn without_the_interceptor_the_sdk_cannot_read_null_slots() {
    use aws_sdk_lexruntimev2::config::{BehaviorVersion, Credentials, Region};
    use aws_sdk_lexruntimev2::error::{DisplayErrorContext, SdkError};

    let emulator = LexEmulator::start().await.unwrap();
    let conf = aws_sdk_lexruntimev2::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("AKIDTEST", "test", None, None, "test"))
        .endpoint_url(emulator.endpoint())
        .http_client(flexlex::adapters::http::SmithyHttpClient::shared(
            flexlex::adapters::http::client(Default::default()).expect("http client"),
        ))
        .build();
    let order_roses = |client: aws_sdk_lexruntimev2::Client, session: &'static str| async move {
        client
            .recognize_text()
            .bot_id(DEMO_BOT_ID)
            .bot_alias_id(DEMO_ALIAS_ID)
            .locale_id(DEMO_LOCALE_ID)
            .session_id(session)
            .text("I want to order roses")
            .send()
            .await
    };

    let raw = aws_sdk_lexruntimev2::Client::from_conf(conf.clone());
    let err = order_roses(raw, "s-raw").await.unwrap_err();
    // The SDK files an unreadable 200 as an unmodelled service error.
    assert!(
        matches!(&err, SdkError::ServiceError(e) if e.raw().status().as_u16() == 200),
        "{err:?}"
    );
    let detail = DisplayErrorContext(&err).to_string();
    assert!(
        detail.contains("dense map cannot contain null values"),
        "{detail}"
    );
    let calls = emulator.calls();
    assert!(!calls.is_empty() && calls.iter().all(|c| c.status == 200));

    let fixed = aws_sdk_lexruntimev2::Client::from_conf(
        conf.to_builder().interceptor(StripNullSlots).build(),
    );
    let output = order_roses(fixed, "s-fixed").await.unwrap();
    let intent = output.session_state().and_then(|s| s.intent()).unwrap();
    let mut names: Vec<&str> = intent.slots().unwrap().keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["FlowerType"], "unfilled slots read as absent");
}

#[tokio::test]
async fn concurrent_requests_on_one_session_conflict() {
    let emulator = LexEmulator::start().await.unwrap();
    emulator.set_latency(Duration::from_millis(300));
    let no_retry = LexSettings {
        conflict_retries: 0,
        ..settings()
    };
    let bot = LexBot::from_sdk_config(&loopback_sdk_config(&emulator.endpoint()), &no_retry);
    let busy = request("s-busy", "help");
    let first = bot.recognize_text(&busy, deadline());
    let second = async {
        // Start the second only once the first is inside the emulator.
        while emulator.busy_sessions() == 0 {
            tokio::task::yield_now().await;
        }
        bot.recognize_text(&busy, deadline()).await
    };
    let (a, b) = tokio::join!(first, second);
    assert!(a.is_ok());
    assert!(
        matches!(&b, Err(BotError::Unavailable { code, .. }) if code == "ConflictException"),
        "{b:?}"
    );
}

mod raw {
    //! Lex's strictness, checked with hand-made HTTP requests.

    use super::*;

    async fn post(
        emulator: &LexEmulator,
        path: &str,
        auth: bool,
        content_type: &str,
        body: String,
    ) -> reqwest::Response {
        let mut req = flexlex::adapters::http::client(Default::default())
            .expect("http client")
            .post(format!("{}{path}", emulator.endpoint()))
            .header("content-type", content_type)
            .body(body);
        if auth {
            req = req.header("authorization", "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/lex/aws4_request, SignedHeaders=host, Signature=00");
        }
        req.send().await.unwrap()
    }

    fn path(bot: &str, session: &str) -> String {
        format!(
            "/bots/{bot}/botAliases/{DEMO_ALIAS_ID}/botLocales/{DEMO_LOCALE_ID}/sessions/{session}/text"
        )
    }

    async fn expect_error(response: reqwest::Response, status: u16, error_type: &str) -> String {
        assert_eq!(response.status().as_u16(), status);
        assert_eq!(response.headers()["x-amzn-ErrorType"], error_type);
        assert!(response.headers().contains_key("x-amzn-RequestId"));
        let body: serde_json::Value = response.json().await.unwrap();
        body["message"].as_str().unwrap().to_owned()
    }

    fn body(text: &str) -> String {
        json!({ "text": text }).to_string()
    }

    #[tokio::test]
    async fn strictness() {
        let emulator = LexEmulator::start().await.unwrap();
        let ok = post(
            &emulator,
            &path(DEMO_BOT_ID, "abc"),
            true,
            "application/json",
            body("help"),
        )
        .await;
        assert_eq!(ok.status().as_u16(), 200);
        assert!(ok.headers().contains_key("x-amzn-RequestId"));
        let ok: serde_json::Value = ok.json().await.unwrap();
        assert_eq!(ok["sessionId"], "abc");
        assert_eq!(ok["sessionState"]["intent"]["name"], "HelpIntent");

        let r = post(
            &emulator,
            &path(DEMO_BOT_ID, "abc"),
            false,
            "application/json",
            body("hi"),
        )
        .await;
        expect_error(r, 403, "AccessDeniedException").await;
        let r = post(
            &emulator,
            &path("FLWRSDEMO", "abc"),
            true,
            "application/json",
            body("hi"),
        )
        .await;
        assert!(
            expect_error(r, 400, "ValidationException")
                .await
                .contains("botId")
        );
        let r = post(
            &emulator,
            &path(DEMO_BOT_ID, "a"),
            true,
            "application/json",
            body("hi"),
        )
        .await;
        assert!(
            expect_error(r, 400, "ValidationException")
                .await
                .contains("sessionId")
        );
        let r = post(
            &emulator,
            &path(DEMO_BOT_ID, "a%2Bb"),
            true,
            "application/json",
            body("hi"),
        )
        .await;
        assert!(
            expect_error(r, 400, "ValidationException")
                .await
                .contains("sessionId")
        );
        let r = post(
            &emulator,
            &path(DEMO_BOT_ID, "abc"),
            true,
            "application/json",
            body(&"😀".repeat(513)),
        )
        .await;
        assert!(
            expect_error(r, 400, "ValidationException")
                .await
                .contains("1024")
        );
        let r = post(
            &emulator,
            &path(DEMO_BOT_ID, "abc"),
            true,
            "application/json",
            body(""),
        )
        .await;
        assert!(
            expect_error(r, 400, "ValidationException")
                .await
                .contains("text")
        );
        let r = post(
            &emulator,
            &path(DEMO_BOT_ID, "abc"),
            true,
            "application/json",
            "{}".into(),
        )
        .await;
        assert!(
            expect_error(r, 400, "ValidationException")
                .await
                .contains("text")
        );
        let reserved =
            json!({"text": "hi", "requestAttributes": {"x-amz-lex:channel": "sms"}}).to_string();
        let r = post(
            &emulator,
            &path(DEMO_BOT_ID, "abc"),
            true,
            "application/json",
            reserved,
        )
        .await;
        assert!(
            expect_error(r, 400, "ValidationException")
                .await
                .contains("x-amz-lex:")
        );
        let r = post(
            &emulator,
            &path(DEMO_BOT_ID, "abc"),
            true,
            "text/plain",
            body("hi"),
        )
        .await;
        assert!(
            expect_error(r, 400, "ValidationException")
                .await
                .contains("Content-Type")
        );
        let r = post(
            &emulator,
            &path("NOSUCHBOT1", "abc"),
            true,
            "application/json",
            body("hi"),
        )
        .await;
        expect_error(r, 404, "ResourceNotFoundException").await;

        // Labels are percent-decoded: `:` arrives as %3A and is a legal session id character.
        let r = post(
            &emulator,
            &path(DEMO_BOT_ID, "conv%3A42"),
            true,
            "application/json",
            body("help"),
        )
        .await;
        assert_eq!(r.status().as_u16(), 200);
        let last = emulator.calls().pop().unwrap();
        assert_eq!(last.session_id, "conv:42");
        assert_eq!(last.text(), Some("help"));
        assert!(
            emulator
                .calls()
                .iter()
                .any(|c| c.status == 403 && !c.signed)
        );
    }
}

/// `LexBot::from_sdk_config` with `app::sdk_config` (`aws_config` defaults) honours
/// `AWS_ENDPOINT_URL_LEX_RUNTIME_V2`. The environment is only set in a child process (this test
/// binary, running the ignored test below), never mutated in this one.
#[tokio::test]
async fn endpoint_env_var_is_honoured_by_from_sdk_config() {
    let emulator = LexEmulator::start().await.unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap());
    child
        .args([
            "--exact",
            "lex_adapter::env_child::calls_lex_from_the_environment",
            "--ignored",
            "--test-threads=1",
        ])
        .env("AWS_ENDPOINT_URL_LEX_RUNTIME_V2", emulator.endpoint())
        .env("AWS_ACCESS_KEY_ID", "AKIDFLEXLEXTEST")
        .env("AWS_SECRET_ACCESS_KEY", "flexlex-test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent/flexlex/config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/flexlex/credentials",
        )
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
        .stdout(std::process::Stdio::null());
    let status = tokio::task::spawn_blocking(move || child.status())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());
    let calls = emulator.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].session_id, "s-env");
}

mod env_child {
    use super::*;

    #[tokio::test]
    #[ignore = "run in a child process by endpoint_env_var_is_honoured_by_from_sdk_config"]
    async fn calls_lex_from_the_environment() {
        // Never reach for real AWS when run by hand with `--ignored`.
        let endpoint = std::env::var("AWS_ENDPOINT_URL_LEX_RUNTIME_V2").unwrap_or_default();
        if !endpoint.starts_with("http://127.0.0.1:") {
            return;
        }
        let config = flexlex::app::compose::sdk_config(None)
            .await
            .expect("http client");
        let bot = LexBot::from_sdk_config(&config, &settings());
        // A slot-filling turn: Lex's `null` slots need the interceptor this client must carry.
        let turn = bot
            .recognize_text(&request("s-env", "I want to order roses"), deadline())
            .await
            .unwrap();
        assert_eq!(
            turn.dialog_action,
            Some(DialogAction::ElicitSlot(Some("PickupDate".into())))
        );
    }
}
