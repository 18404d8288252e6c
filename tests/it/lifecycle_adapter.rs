//! The Twilio adapter's conversation-lifecycle calls against the emulator over loopback:
//! conversation timers, Content API templates and template messages, each emulator refusal,
//! and what the rich-card path does when Twilio fails.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::helpers::{Stack, api_key, ch};
use flexlex::adapters::twilio::{Backoff, TwilioClient, TwilioClientConfig};
use flexlex::domain::bot::{Button, Card};
use flexlex::domain::cards::{
    ActionKind, ContentTemplate, ContentTypes, ListItem, ListPicker, QuickReply, QuickReplyAction,
    TextContent, rich_card,
};
use flexlex::domain::deadline::Deadline;
use flexlex::domain::ids::{ContentSid, LocaleId, MessageSid};
use flexlex::domain::timers::{AfterHandoff, IsoDuration, TimerSettings, TimerUpdate};
use flexlex::outcome::{Outcome, Report};
use flexlex::ports::content::ContentApi;
use flexlex::ports::conversations::{Conversations, ReplyTag, TwilioError};
use flexlex::turn::replies::RichCardError;
use flexlex_emulators::sid::Sid;
use flexlex_emulators::twilio::{
    CustomerKind, Fault, FaultKind, SeededConversation, TwilioEmulator,
};
use reqwest::Method;
use serde_json::{Value, json};

fn config(emulator: &TwilioEmulator) -> TwilioClientConfig {
    TwilioClientConfig {
        conversations_base: emulator.base_url(),
        flex_base: emulator.base_url(),
        content_base: emulator.base_url(),
        backoff: Backoff {
            base: Duration::from_millis(1),
            cap: Duration::from_millis(5),
            max_attempts: 5,
        },
        ..TwilioClientConfig::new(api_key(emulator))
    }
}

async fn setup() -> (TwilioEmulator, TwilioClient, SeededConversation) {
    let emulator = TwilioEmulator::start().await.unwrap();
    let client = TwilioClient::new(config(&emulator)).unwrap();
    let seeded = emulator.create_conversation(CustomerKind::Whatsapp {
        address: "+447700900123".into(),
    });
    (emulator, client, seeded)
}

/// The tag a bot reply carries: which customer message it answers, and its position.
fn reply_tag() -> ReplyTag {
    ReplyTag {
        message: MessageSid::parse("IM0123456789abcdef0123456789abcdef").unwrap(),
        part: 0,
        piece: 0,
    }
}

fn deadline() -> Deadline {
    Deadline::after(Duration::from_secs(10))
}

fn duration(raw: &str) -> IsoDuration {
    IsoDuration::parse(raw).unwrap()
}

/// The bot's timers, extended at handoff to the default agent durations (P1D, P7D).
fn timers(inactive: Option<&str>, closed: Option<&str>) -> TimerSettings {
    TimerSettings {
        inactive_after: inactive.map(duration),
        close_after: closed.map(duration),
        after_handoff: AfterHandoff::default(),
    }
}

/// The timer settings the product runs with for these variables, as init reads them.
fn configured(pairs: &[(&str, &str)]) -> TimerSettings {
    let mut settings: std::collections::HashMap<String, String> = [
        ("TWILIO_ACCOUNT_SID", "AC0123456789abcdef0123456789abcdef"),
        ("TWILIO_AUTH_TOKEN", "t"),
        ("FLEX_WORKSPACE_SID", "WS0123456789abcdef0123456789abcdef"),
    ]
    .into_iter()
    .chain(pairs.iter().copied())
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    settings.retain(|_, v| !v.is_empty());
    flexlex::app::config::Config::from_settings(&settings)
        .unwrap()
        .behaviour
        .timers
}

/// A plain HTTP client with the emulator's account credentials, for requests the adapter
/// never makes.
async fn raw(emulator: &TwilioEmulator, path: &str, body: RawBody<'_>) -> (u16, Value) {
    let http = flexlex::adapters::http::client(Default::default()).unwrap();
    let request = http
        .post(format!("{}{path}", emulator.base_url()))
        .basic_auth(emulator.account_sid().as_str(), Some(emulator.auth_token()));
    let request = match body {
        RawBody::Form(pairs) => request.form(pairs),
        RawBody::Json(value) => request.json(value),
        RawBody::Text(content_type, text) => request
            .header("content-type", content_type)
            .body(text.to_owned()),
    };
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

enum RawBody<'a> {
    Form(&'a [(&'a str, &'a str)]),
    Json(&'a Value),
    Text(&'a str, &'a str),
}

fn rejected_code(error: &TwilioError) -> Option<u32> {
    match error {
        TwilioError::Rejected {
            status: 400, code, ..
        } => *code,
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Timers
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_first_turn_sets_both_timers_and_the_conversation_shows_them() {
    let (emulator, client, seeded) = setup().await;
    let update = timers(Some("PT15M"), Some("P1D")).on_first_turn().unwrap();
    client
        .set_timers(&ch(&seeded.conversation), &update, deadline())
        .await
        .unwrap();
    let request = emulator.requests().pop().unwrap();
    assert_eq!(
        (
            request.method.as_str(),
            request.path.clone(),
            request.status
        ),
        (
            "POST",
            format!("/v1/Conversations/{}", seeded.conversation),
            200
        )
    );
    assert_eq!(
        request.form,
        vec![
            ("Timers.Inactive".to_owned(), "PT15M".to_owned()),
            ("Timers.Closed".to_owned(), "P1D".to_owned())
        ]
    );
    let shown = emulator.timers(&seeded.conversation).unwrap();
    assert_eq!(shown.inactive.as_deref(), Some("PT15M"));
    assert_eq!(shown.closed.as_deref(), Some("P1D"));
    let view = shown.view.as_object().unwrap();
    assert_eq!(
        view.keys().map(String::as_str).collect::<Vec<_>>(),
        ["date_closed", "date_inactive"]
    );
    // The resource as the adapter reads it still parses with timers in it.
    let info = client
        .fetch_conversation(&ch(&seeded.conversation), deadline())
        .await
        .unwrap();
    assert_eq!(info.state.as_deref(), Some("active"));
}

#[tokio::test]
async fn handoff_extends_the_bots_timers_to_the_agent_durations() {
    let (emulator, client, seeded) = setup().await;
    let settings = timers(Some("PT15M"), Some("P1D"));
    let conversation = ch(&seeded.conversation);
    client
        .set_timers(
            &conversation,
            &settings.on_first_turn().unwrap(),
            deadline(),
        )
        .await
        .unwrap();
    let before = emulator.timers(&seeded.conversation).unwrap().view;
    client
        .set_timers(&conversation, &settings.on_handoff().unwrap(), deadline())
        .await
        .unwrap();
    let request = emulator.requests().pop().unwrap();
    assert_eq!(request.status, 200);
    assert_eq!(
        request.form,
        vec![
            ("Timers.Inactive".to_owned(), "P1D".to_owned()),
            ("Timers.Closed".to_owned(), "P7D".to_owned())
        ]
    );
    let shown = emulator.timers(&seeded.conversation).unwrap();
    assert_eq!(
        (shown.inactive.as_deref(), shown.closed.as_deref()),
        (Some("P1D"), Some("P7D"))
    );
    // Both fire later than the bot's did (ISO-8601 UTC stamps compare as text).
    for key in ["date_inactive", "date_closed"] {
        let (was, now) = (
            before[key].as_str().unwrap(),
            shown.view[key].as_str().unwrap(),
        );
        assert!(now > was, "{key}: {was} -> {now}");
    }
}

#[tokio::test]
async fn pt0s_on_a_conversation_is_refused_as_below_twilios_minimums() {
    let (emulator, client, seeded) = setup().await;
    let conversation = ch(&seeded.conversation);
    client
        .set_timers(
            &conversation,
            &timers(Some("PT15M"), Some("P1D")).on_first_turn().unwrap(),
            deadline(),
        )
        .await
        .unwrap();
    let path = format!("/v1/Conversations/{}", seeded.conversation);
    for (pairs, code, message) in [
        (
            &[("Timers.Inactive", "PT0S")][..],
            50375,
            "'TimeToInactive' duration should be greater or equal to 1 minute",
        ),
        (
            &[("Timers.Closed", "PT0S")][..],
            50376,
            "'TimeToClosed' duration should be greater or equal to 10 minutes",
        ),
        (
            &[("Timers.Inactive", "PT0S"), ("Timers.Closed", "PT0S")][..],
            50375,
            "'TimeToInactive' duration should be greater or equal to 1 minute",
        ),
        (
            &[("Timers.Inactive", "P1D"), ("Timers.Closed", "P0D")][..],
            50376,
            "'TimeToClosed' duration should be greater or equal to 10 minutes",
        ),
    ] {
        let (status, body) = raw(&emulator, &path, RawBody::Form(pairs)).await;
        assert_eq!(status, 400, "{pairs:?}");
        // Twilio's error body: code, message, more_info, status.
        assert_eq!(
            body,
            json!({
                "code": code,
                "message": message,
                "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
                "status": 400
            }),
            "{pairs:?}"
        );
    }
    // Through the adapter, the same refusal is a 400 with Twilio's code.
    let error = client
        .set_timers(
            &conversation,
            &TimerUpdate {
                inactive: Some(duration("PT0S")),
                closed: Some(duration("PT0S")),
            },
            deadline(),
        )
        .await
        .unwrap_err();
    assert_eq!(rejected_code(&error), Some(50375), "{error:?}");
    // Nothing was turned off: the bot's timers still run.
    let shown = emulator.timers(&seeded.conversation).unwrap();
    assert_eq!(
        (shown.inactive.as_deref(), shown.closed.as_deref()),
        (Some("PT15M"), Some("P1D"))
    );
}

/// Every update the product can make, from configurations init accepts, is one the emulator
/// (Twilio's documented rules) accepts: the bot's timers on its first answer, then the
/// extension at handoff. None of them is `PT0S`.
#[tokio::test]
async fn the_product_never_sends_a_timer_twilio_refuses() {
    let (emulator, client, _) = setup().await;
    let configurations: &[&[(&str, &str)]] = &[
        &[("INACTIVE_AFTER", "PT15M"), ("CLOSE_AFTER", "P1D")],
        &[("INACTIVE_AFTER", "PT1M"), ("CLOSE_AFTER", "PT10M")],
        &[
            ("INACTIVE_AFTER", "PT1M"),
            ("CLOSE_AFTER", "PT10M"),
            ("AGENT_INACTIVE_AFTER", "PT1M"),
            ("AGENT_CLOSE_AFTER", "PT10M"),
        ],
        &[
            ("INACTIVE_AFTER", "PT15M"),
            ("CLOSE_AFTER", "PT30M"),
            ("TIMERS_AFTER_HANDOFF", "clear"),
        ],
        &[("CLOSE_AFTER", "P30D"), ("TIMERS_AFTER_HANDOFF", "extend")],
        &[("INACTIVE_AFTER", "PT5M"), ("TIMERS_AFTER_HANDOFF", "keep")],
    ];
    let mut sent = 0;
    for pairs in configurations {
        let settings = configured(pairs);
        let seeded = emulator.create_conversation(CustomerKind::Sms {
            address: "+15551234567".into(),
        });
        let conversation = ch(&seeded.conversation);
        for update in [settings.on_first_turn(), settings.on_handoff()]
            .into_iter()
            .flatten()
        {
            client
                .set_timers(&conversation, &update, deadline())
                .await
                .unwrap_or_else(|e| panic!("{pairs:?}: {update:?} refused: {e:?}"));
            sent += 1;
        }
    }
    let requests = emulator.requests();
    assert_eq!(requests.len(), sent);
    assert_eq!(sent, 11);
    for request in &requests {
        assert_eq!(request.status, 200, "{:?}", request.form);
        assert!(
            request.form.iter().all(|(_, v)| v != "PT0S"),
            "{:?}",
            request.form
        );
    }
}

#[tokio::test]
async fn an_empty_update_makes_no_request() {
    let (emulator, client, seeded) = setup().await;
    client
        .set_timers(
            &ch(&seeded.conversation),
            &TimerUpdate::default(),
            deadline(),
        )
        .await
        .unwrap();
    assert!(emulator.requests().is_empty());
}

#[tokio::test]
async fn timers_below_twilios_minimums_are_refused_with_its_codes() {
    let (emulator, client, seeded) = setup().await;
    let conversation = ch(&seeded.conversation);
    for (update, code) in [
        (
            TimerUpdate {
                inactive: Some(duration("PT59S")),
                closed: None,
            },
            50375,
        ),
        (
            TimerUpdate {
                inactive: None,
                closed: Some(duration("PT9M59S")),
            },
            50376,
        ),
        (
            TimerUpdate {
                inactive: Some(duration("PT15M")),
                closed: Some(duration("PT5M")),
            },
            50376,
        ),
    ] {
        let error = client
            .set_timers(&conversation, &update, deadline())
            .await
            .unwrap_err();
        assert_eq!(rejected_code(&error), Some(code), "{error:?}");
    }
    // A refused update changes nothing, not even its valid half.
    assert_eq!(
        emulator.timers(&seeded.conversation).unwrap().inactive,
        None
    );
}

#[tokio::test]
async fn timers_that_are_not_iso_8601_are_refused() {
    let (emulator, _, seeded) = setup().await;
    let path = format!("/v1/Conversations/{}", seeded.conversation);
    for (pairs, code) in [
        (&[("Timers.Inactive", "15 minutes")][..], 50379),
        (&[("Timers.Inactive", "")][..], 50379),
        (&[("Timers.Closed", "P1W")][..], 50380),
        (&[("Timers.Closed", "PT10.5M")][..], 50380),
    ] {
        let (status, body) = raw(&emulator, &path, RawBody::Form(pairs)).await;
        assert_eq!(
            (status, body["code"].as_u64()),
            (400, Some(code)),
            "{pairs:?}"
        );
    }
    let (status, _) = raw(
        &emulator,
        &path,
        RawBody::Form(&[("Timers.Inactive", "PT1M"), ("Timers.Closed", "PT10M")]),
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn timers_on_a_closed_or_unknown_conversation_are_refused() {
    let (_emulator, client, seeded) = setup().await;
    let conversation = ch(&seeded.conversation);
    client.close(&conversation, deadline()).await.unwrap();
    let update = timers(Some("PT15M"), None).on_first_turn().unwrap();
    let error = client
        .set_timers(&conversation, &update, deadline())
        .await
        .unwrap_err();
    assert_eq!(rejected_code(&error), Some(50377));
    let unknown = ch(&flexlex_emulators::sid::Sid::random("CH"));
    let error = client
        .set_timers(&unknown, &update, deadline())
        .await
        .unwrap_err();
    assert!(
        matches!(error, TwilioError::Rejected { status: 404, .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn an_ambiguous_timer_failure_is_repeated() {
    let (emulator, client, seeded) = setup().await;
    emulator.push_fault(
        Fault::next(1, FaultKind::ServerError { applied: true })
            .matching(Method::POST, "/v1/Conversations/"),
    );
    let update = timers(Some("PT15M"), None).on_first_turn().unwrap();
    client
        .set_timers(&ch(&seeded.conversation), &update, deadline())
        .await
        .unwrap();
    let statuses: Vec<u16> = emulator.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [500, 200]);
}

// ---------------------------------------------------------------------------------------------
// Content API
// ---------------------------------------------------------------------------------------------

fn flowers(titles: &[&str]) -> Card {
    Card {
        title: "What type of flowers would you like?".into(),
        subtitle: None,
        image_url: None,
        buttons: titles
            .iter()
            .map(|t| Button {
                text: (*t).into(),
                value: t.to_lowercase(),
            })
            .collect(),
    }
}

fn en() -> LocaleId {
    LocaleId::parse("en_US").unwrap()
}

#[tokio::test]
async fn a_card_template_is_created_as_json_and_stored_as_sent() {
    let (emulator, client, _) = setup().await;
    let card = rich_card(&flowers(&["Roses", "Lilies", "Tulips"]), &en()).unwrap();
    let sid = client
        .create_content(&card.template, deadline())
        .await
        .unwrap();
    let request = emulator.requests().pop().unwrap();
    assert_eq!(
        (
            request.method.as_str(),
            request.path.as_str(),
            request.status
        ),
        ("POST", "/v1/Content", 201)
    );
    assert_eq!(request.content_type.as_deref(), Some("application/json"));
    let stored = emulator.contents();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].sid.as_str(), sid.as_str());
    assert_eq!(stored[0].language, "en");
    assert_eq!(stored[0].friendly_name, card.template.friendly_name);
    assert_eq!(
        stored[0].types,
        serde_json::to_value(&card.template.types).unwrap()
    );
    assert_eq!(
        stored[0].types["twilio/quick-reply"]["actions"][1],
        json!({"type": "QUICK_REPLY", "title": "Lilies", "id": "lilies"})
    );
}

#[tokio::test]
async fn a_template_message_carries_the_sid_and_its_variables() {
    let (emulator, client, seeded) = setup().await;
    let template = ContentTemplate {
        friendly_name: "greeting".into(),
        language: "en".into(),
        variables: BTreeMap::from([("1".into(), "there".into())]),
        types: ContentTypes {
            text: Some(TextContent {
                body: "Hello {{1}}".into(),
            }),
            ..ContentTypes::default()
        },
    };
    let sid = client.create_content(&template, deadline()).await.unwrap();
    let conversation = ch(&seeded.conversation);
    client
        .post_content(
            &conversation,
            "Lex",
            &sid,
            &BTreeMap::from([("1".into(), "Ada".into())]),
            &reply_tag(),
            deadline(),
        )
        .await
        .unwrap();
    client
        .post_content(
            &conversation,
            "Lex",
            &sid,
            &BTreeMap::new(),
            &reply_tag(),
            deadline(),
        )
        .await
        .unwrap();
    let posts: Vec<_> = emulator
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/Messages"))
        .collect();
    assert_eq!(
        posts[0].form,
        vec![
            ("Author".to_owned(), "Lex".to_owned()),
            ("ContentSid".to_owned(), sid.to_string()),
            ("ContentVariables".to_owned(), "{\"1\":\"Ada\"}".to_owned()),
            (
                "Attributes".to_owned(),
                reply_tag().attributes().to_string()
            )
        ]
    );
    assert_eq!(
        posts[1].form,
        vec![
            ("Author".to_owned(), "Lex".to_owned()),
            ("ContentSid".to_owned(), sid.to_string()),
            (
                "Attributes".to_owned(),
                reply_tag().attributes().to_string()
            )
        ]
    );
    assert_eq!(posts[0].webhook_enabled, None);
    assert_eq!(
        emulator.messages(&seeded.conversation),
        vec![
            ("Lex".to_owned(), "Hello Ada".to_owned()),
            ("Lex".to_owned(), "Hello there".to_owned())
        ]
    );
    let sent = emulator.content_messages();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].content.as_str(), sid.as_str());
    assert_eq!(
        sent[0].variables,
        BTreeMap::from([("1".into(), "Ada".into())])
    );
    let records = emulator.message_records(&seeded.conversation);
    assert_eq!(
        records[0].content_sid.as_ref().map(|s| s.as_str()),
        Some(sid.as_str())
    );
}

/// A hand-built template, so the adapter can send what the card mapping never would.
fn quick_reply(body: &str, titles: &[&str]) -> ContentTemplate {
    ContentTemplate {
        friendly_name: "t".into(),
        language: "en".into(),
        variables: BTreeMap::new(),
        types: ContentTypes {
            quick_reply: Some(QuickReply {
                body: body.into(),
                actions: titles
                    .iter()
                    .map(|t| QuickReplyAction {
                        kind: ActionKind::QuickReply,
                        title: (*t).into(),
                        id: "id".into(),
                    })
                    .collect(),
            }),
            ..ContentTypes::default()
        },
    }
}

fn list(items: Vec<ListItem>) -> ContentTemplate {
    ContentTemplate {
        types: ContentTypes {
            list_picker: Some(ListPicker {
                body: "Pick".into(),
                button: "Choose".into(),
                items,
            }),
            ..ContentTypes::default()
        },
        ..quick_reply("x", &[])
    }
}

fn item(title: &str, id: &str, description: &str) -> ListItem {
    ListItem {
        item: title.into(),
        id: id.into(),
        description: description.into(),
    }
}

#[tokio::test]
async fn templates_outside_twilios_limits_are_refused_and_fall_back_to_text() {
    let (emulator, client, _) = setup().await;
    let eleven = ["a"; 11];
    let cases: Vec<(ContentTemplate, &str)> = vec![
        (
            quick_reply("Pick", &eleven),
            "actions must have between 1 and 10 elements",
        ),
        (
            quick_reply("Pick", &[]),
            "actions must have between 1 and 10",
        ),
        (
            quick_reply("Pick", &[&"t".repeat(21)]),
            "title is 21 characters",
        ),
        (
            quick_reply(&"b".repeat(1025), &["a"]),
            "body is 1025 characters",
        ),
        (quick_reply(" ", &["a"]), "body must not be empty"),
        (
            list(vec![item(&"i".repeat(25), "x", "d")]),
            "item is 25 characters",
        ),
        (
            list(vec![item("a", &"x".repeat(201), "d")]),
            "id is 201 characters",
        ),
        (
            list(vec![item("a", "x", &"d".repeat(73))]),
            "description is 73 characters",
        ),
        (list(vec![item("a", "x", "d"); 11]), "between 1 and 10"),
        (
            ContentTemplate {
                types: ContentTypes::default(),
                ..quick_reply("x", &["a"])
            },
            "at least one content type",
        ),
        (
            ContentTemplate {
                language: "English".into(),
                ..quick_reply("x", &["a"])
            },
            "not a language code",
        ),
        (
            ContentTemplate {
                types: ContentTypes {
                    text: Some(TextContent {
                        body: "t".repeat(1601),
                    }),
                    ..ContentTypes::default()
                },
                ..quick_reply("x", &["a"])
            },
            "body is 1601 characters",
        ),
    ];
    for (template, expected) in cases {
        let error = client
            .create_content(&template, deadline())
            .await
            .unwrap_err();
        assert_eq!(rejected_code(&error), Some(20001), "{error:?}");
        assert!(
            error.to_string().contains(expected),
            "{error} vs {expected}"
        );
        assert!(RichCardError::Create(error).falls_back_to_text());
    }
    assert!(emulator.contents().is_empty());
}

#[tokio::test]
async fn content_requests_the_adapter_never_sends_are_refused_too() {
    let (emulator, _, _) = setup().await;
    let text = json!({"twilio/text": {"body": "hi"}});
    for (body, expected) in [
        (json!({"types": text}), "Missing required field: language"),
        (json!({"language": "en"}), "Missing required field: types"),
        (
            json!({"language": "en", "types": text, "approval": true}),
            "Unknown field: approval",
        ),
        (
            json!({"language": "en", "variables": {"1": 1}, "types": text}),
            "variables.1 must be a string",
        ),
        (
            json!({"language": "en", "types": {"twilio/card": {"title": "x"}}}),
            "does not implement",
        ),
        (
            json!({"language": "en", "types": {"twilio/fax": {}}}),
            "Unknown content type: twilio/fax",
        ),
        (
            json!({"language": "en", "types": {"twilio/text": {"body": "hi", "media": []}}}),
            "Unknown field: types.twilio/text.media",
        ),
        (
            json!({"language": "en", "types": {"twilio/quick-reply": {"body": "b", "actions": [{"type": "URL", "title": "a"}]}}}),
            "type must be QUICK_REPLY",
        ),
        (
            json!({"language": "en", "types": {"twilio/list-picker": {"body": "b", "items": [{"item": "a", "id": "i", "description": "d"}]}}}),
            "Missing required field: types.twilio/list-picker.button",
        ),
        (
            json!({"language": "en", "types": {"twilio/list-picker": {"body": "b", "button": "Go", "items": [{"item": "a", "id": "i"}]}}}),
            "items[0].description",
        ),
    ] {
        let (status, reply) = raw(&emulator, "/v1/Content", RawBody::Json(&body)).await;
        assert_eq!(
            (status, reply["code"].as_u64()),
            (400, Some(20001)),
            "{body}"
        );
        let message = reply["message"].as_str().unwrap();
        assert!(message.contains(expected), "{message} vs {expected}");
    }
    for (content_type, text) in [
        ("application/x-www-form-urlencoded", "language=en"),
        ("application/json", "{not json"),
        ("application/json", "[]"),
    ] {
        let (status, _) = raw(&emulator, "/v1/Content", RawBody::Text(content_type, text)).await;
        assert_eq!(status, 400, "{content_type} {text}");
    }
    assert!(emulator.contents().is_empty());
}

#[tokio::test]
async fn template_messages_need_a_real_sid_and_object_variables() {
    let (emulator, client, seeded) = setup().await;
    let conversation = ch(&seeded.conversation);
    let unknown = ContentSid::parse(flexlex_emulators::sid::Sid::random("HX").as_str()).unwrap();
    let error = client
        .post_content(
            &conversation,
            "Lex",
            &unknown,
            &BTreeMap::new(),
            &reply_tag(),
            deadline(),
        )
        .await
        .unwrap_err();
    assert_eq!(rejected_code(&error), Some(21655));
    assert!(RichCardError::Send(error).falls_back_to_text());

    let sid = client
        .create_content(&quick_reply("Pick", &["a"]), deadline())
        .await
        .unwrap();
    let path = format!("/v1/Conversations/{}/Messages", seeded.conversation);
    for (pairs, code) in [
        (&[("Author", "Lex"), ("ContentSid", "HX123")][..], 50526),
        (
            &[
                ("Author", "Lex"),
                ("ContentSid", sid.as_str()),
                ("ContentVariables", "[]"),
            ][..],
            50527,
        ),
        (
            &[
                ("Author", "Lex"),
                ("ContentSid", sid.as_str()),
                ("ContentVariables", "{\"1\": 1}"),
            ][..],
            50527,
        ),
        (
            &[
                ("Author", "Lex"),
                ("Body", "hi"),
                ("ContentVariables", "{}"),
            ][..],
            50528,
        ),
    ] {
        let (status, body) = raw(&emulator, &path, RawBody::Form(pairs)).await;
        assert_eq!(
            (status, body["code"].as_u64()),
            (400, Some(code)),
            "{pairs:?}"
        );
    }
    assert!(emulator.messages(&seeded.conversation).is_empty());
    client.close(&conversation, deadline()).await.unwrap();
    let error = client
        .post_content(
            &conversation,
            "Lex",
            &sid,
            &BTreeMap::new(),
            &reply_tag(),
            deadline(),
        )
        .await
        .unwrap_err();
    assert_eq!(rejected_code(&error), Some(50377));
}

#[tokio::test]
async fn the_content_host_follows_region_and_edge_like_the_others() {
    let emulator = TwilioEmulator::start().await.unwrap();
    let regional = TwilioClient::new(TwilioClientConfig {
        region: Some("ie1".into()),
        edge: Some("dublin".into()),
        ..TwilioClientConfig::new(api_key(&emulator))
    })
    .unwrap();
    assert_eq!(
        regional.content_base().host_str(),
        Some("content.dublin.ie1.twilio.com")
    );
    let local = TwilioClient::new(TwilioClientConfig {
        region: Some("ie1".into()),
        ..config(&emulator)
    })
    .unwrap();
    assert_eq!(
        local.content_base().as_str(),
        format!("{}/", emulator.base_url())
    );
    let error = TwilioClient::new(TwilioClientConfig {
        content_base: "https://content.twilio.com/v1".into(),
        ..TwilioClientConfig::new(api_key(&emulator))
    })
    .unwrap_err();
    assert!(
        error.to_string().contains("TWILIO_CONTENT_BASE_URL"),
        "{error}"
    );
}

// ---------------------------------------------------------------------------------------------
// Rich cards through a turn: the bridge over the real clients, the Lex emulator answering with
// an ImageResponseCard, WhatsApp (rich cards by default), and what the Twilio emulator stored.
// ---------------------------------------------------------------------------------------------

/// The RecognizeText response Lex sends for `card`: the card alone, eliciting a slot.
fn card_turn(seed: &SeededConversation, card: &Card) -> Value {
    let buttons: Vec<Value> = card
        .buttons
        .iter()
        .map(|b| json!({"text": b.text, "value": b.value}))
        .collect();
    let intent = json!({"name": "OrderFlowers", "state": "InProgress", "confirmationState": "None", "slots": {"FlowerType": null}});
    json!({
        "sessionId": seed.conversation.as_str(),
        "messages": [{"contentType": "ImageResponseCard", "imageResponseCard": {
            "title": card.title, "buttons": buttons}}],
        "sessionState": {
            "dialogAction": {"type": "ElicitSlot", "slotToElicit": "FlowerType"},
            "intent": intent
        },
        "interpretations": [{"nluConfidence": {"score": 0.9}, "intent": intent, "interpretationSource": "Lex"}]
    })
}

/// The customer writes in `seed`'s conversation and Lex answers with `card`: the turn's report.
async fn card_reply(stack: &Stack, seed: &SeededConversation, card: &Card) -> Report {
    stack
        .lex
        .push_turn(seed.conversation.as_str(), card_turn(seed, card));
    stack.say(seed, "I would like to order flowers").await
}

/// The statuses Twilio answered the template creates with, in order.
fn content_creates(twilio: &TwilioEmulator) -> Vec<u16> {
    twilio
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path == "/v1/Content")
        .map(|r| r.status)
        .collect()
}

#[tokio::test]
async fn the_same_card_is_created_once_and_sent_each_time() {
    let stack = Stack::start().await;
    let seed = stack.whatsapp();
    let card = flowers(&["Roses", "Lilies"]);
    let mut created = Vec::new();
    for _ in 0..2 {
        let report = card_reply(&stack, &seed, &card).await;
        assert_eq!(report.outcome, Outcome::Replied);
        assert_eq!(
            (report.trace.cards_rich, report.trace.cards_as_text),
            (1, 0)
        );
        created.push(report.trace.templates_created);
    }
    assert_eq!(created, [1, 0], "created by the first turn only");
    let [template] = stack.twilio.contents().try_into().unwrap();
    let sent: Vec<Sid> = stack
        .twilio
        .content_messages()
        .into_iter()
        .map(|m| m.content)
        .collect();
    assert_eq!(sent, [template.sid.clone(), template.sid]);
    assert_eq!(
        stack.bot_messages(&seed),
        ["What type of flowers would you like?\n1. Roses\n2. Lilies"; 2]
    );
}

#[tokio::test]
async fn an_unavailable_content_api_is_retried_then_falls_back() {
    let stack = Stack::start().await;
    let seed = stack.whatsapp();
    stack
        .twilio
        .push_fault(Fault::next(1, FaultKind::Unavailable).matching(Method::POST, "/v1/Content"));
    let report = card_reply(&stack, &seed, &flowers(&["Roses", "Lilies"])).await;
    assert_eq!(report.outcome, Outcome::Replied);
    assert_eq!(
        (report.trace.cards_rich, report.trace.templates_created),
        (1, 1)
    );
    assert_eq!(content_creates(&stack.twilio), [503, 201], "retried");
    assert_eq!(stack.twilio.contents().len(), 1);
    assert_eq!(stack.twilio.content_messages().len(), 1);

    // The Content API stays down: the create gives up (after the client's five attempts), and
    // as nothing reached the customer, the card goes as numbered text.
    stack
        .twilio
        .push_fault(Fault::always(FaultKind::Unavailable).matching(Method::POST, "/v1/Content"));
    let report = card_reply(&stack, &seed, &flowers(&["Tulips"])).await;
    assert_eq!(report.outcome, Outcome::Replied);
    assert_eq!(
        (
            report.trace.cards_rich,
            report.trace.cards_as_text,
            report.trace.templates_created,
            report.trace.messages_posted
        ),
        (0, 1, 0, 1)
    );
    assert_eq!(content_creates(&stack.twilio)[2..], [503; 5]);
    assert_eq!(stack.twilio.contents().len(), 1);
    assert_eq!(stack.twilio.content_messages().len(), 1);
    assert_eq!(
        stack.bot_messages(&seed),
        [
            "What type of flowers would you like?\n1. Roses\n2. Lilies",
            "What type of flowers would you like?\n1. Tulips",
        ]
    );
}

#[tokio::test]
async fn an_ambiguous_template_message_is_not_repeated_nor_replaced_by_text() {
    let stack = Stack::start().await;
    let seed = stack.whatsapp();
    // Twilio stores the template message, then answers 500.
    stack.twilio.push_fault(
        Fault::next(1, FaultKind::ServerError { applied: true })
            .matching(Method::POST, "/Messages"),
    );
    let report = card_reply(&stack, &seed, &flowers(&["Roses", "Lilies"])).await;
    assert_eq!(report.outcome.to_string(), "failed:reply");
    assert_eq!(
        (
            report.trace.cards_rich,
            report.trace.cards_as_text,
            report.trace.messages_posted
        ),
        (0, 0, 0)
    );
    let posts = stack
        .twilio
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/Messages"))
        .count();
    assert_eq!(posts, 1);
    assert_eq!(stack.twilio.content_messages().len(), 1);
    assert_eq!(
        stack.bot_messages(&seed),
        ["What type of flowers would you like?\n1. Roses\n2. Lilies"]
    );
}
