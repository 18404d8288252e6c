//! The real Twilio REST client against the Twilio emulator over loopback.

use std::time::Duration;

use crate::helpers::{api_key, ch, mb, wh};
use flexlex::adapters::twilio::{Backoff, TwilioClient, TwilioClientConfig, regional_host};
use flexlex::domain::channel::ChannelType;
use flexlex::domain::deadline::Deadline;
use flexlex::domain::handoff::InteractionRequest;
use flexlex::domain::ids::{
    AccountSid, ApiKeySid, ConversationSid, WebhookSid, WorkflowSid, WorkspaceSid,
};
use flexlex::domain::secret::Secret;
use flexlex::domain::secret::TwilioCredentials;
use flexlex::ports::conversations::{Conversations, TwilioError};
use flexlex_emulators::twilio::{
    CustomerKind, Fault, FaultKind, SeededConversation, TwilioEmulator,
};
use reqwest::Method;
use serde_json::{Value, json};

fn tiny_backoff() -> Backoff {
    Backoff {
        base: Duration::from_millis(1),
        cap: Duration::from_millis(5),
        max_attempts: 5,
    }
}

fn config(emulator: &TwilioEmulator, auth: TwilioCredentials) -> TwilioClientConfig {
    TwilioClientConfig {
        conversations_base: emulator.base_url(),
        flex_base: emulator.base_url(),
        backoff: tiny_backoff(),
        ..TwilioClientConfig::new(auth)
    }
}

fn token_auth(emulator: &TwilioEmulator) -> TwilioCredentials {
    TwilioCredentials::AuthToken {
        account: AccountSid::parse(emulator.account_sid().as_str()).unwrap(),
        token: Secret::new(emulator.auth_token()),
    }
}

async fn setup() -> (TwilioEmulator, TwilioClient) {
    let emulator = TwilioEmulator::start().await.unwrap();
    let client = TwilioClient::new(config(&emulator, api_key(&emulator))).unwrap();
    (emulator, client)
}

fn deadline() -> Deadline {
    Deadline::after(Duration::from_secs(10))
}

fn sms(emulator: &TwilioEmulator) -> SeededConversation {
    emulator.create_conversation(CustomerKind::Sms {
        address: "+15558675310".into(),
    })
}

fn interaction_request(conversation: &ConversationSid) -> InteractionRequest {
    let mut attributes = serde_json::Map::new();
    attributes.insert("from".into(), json!("+15558675310"));
    attributes.insert("botId".into(), json!("ABCDEFGHIJ"));
    InteractionRequest {
        channel_type: ChannelType::Sms,
        conversation: conversation.clone(),
        workspace: WorkspaceSid::parse("WS0123456789abcdef0123456789abcdef").unwrap(),
        workflow: Some(WorkflowSid::parse("WW0123456789abcdef0123456789abcdef").unwrap()),
        task_channel: "sms".into(),
        attributes,
        webhook_ttid: None,
    }
}

#[tokio::test]
async fn post_message_sends_author_and_body_without_the_webhook_header() {
    let (emulator, client) = setup().await;
    let seeded = sms(&emulator);
    client
        .post_message(
            &ch(&seeded.conversation),
            "Lex",
            "Hello there",
            &tag(),
            deadline(),
        )
        .await
        .unwrap();
    assert_eq!(
        emulator.messages(&seeded.conversation),
        vec![("Lex".into(), "Hello there".into())]
    );
    let requests = emulator.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(
        request.path,
        format!("/v1/Conversations/{}/Messages", seeded.conversation)
    );
    assert_eq!(
        request.form,
        vec![
            ("Author".to_owned(), "Lex".to_owned()),
            ("Body".to_owned(), "Hello there".to_owned()),
            (
                "Attributes".to_owned(),
                r#"{"flexlex":{"part":0,"piece":0,"replyTo":"IM0123456789abcdef0123456789abcdef"}}"#
                    .to_owned()
            )
        ]
    );
    assert_eq!(request.webhook_enabled, None);
    assert_eq!(
        request.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(request.status, 201);
}

#[tokio::test]
async fn close_sets_the_state_to_closed() {
    let (emulator, client) = setup().await;
    let seeded = sms(&emulator);
    client
        .close(&ch(&seeded.conversation), deadline())
        .await
        .unwrap();
    assert_eq!(
        emulator.conversation_state(&seeded.conversation).as_deref(),
        Some("closed")
    );
    let requests = emulator.requests();
    assert_eq!(
        requests[0].path,
        format!("/v1/Conversations/{}", seeded.conversation)
    );
    assert_eq!(
        requests[0].form,
        vec![("State".to_owned(), "closed".to_owned())]
    );
}

#[tokio::test]
async fn remove_webhook_deletes_it_and_a_second_removal_is_fine() {
    let (emulator, client) = setup().await;
    let seeded = sms(&emulator);
    client
        .remove_webhook(&ch(&seeded.conversation), &wh(&seeded.webhook), deadline())
        .await
        .unwrap();
    assert!(emulator.webhooks(&seeded.conversation).is_empty());
    client
        .remove_webhook(&ch(&seeded.conversation), &wh(&seeded.webhook), deadline())
        .await
        .unwrap();
    let statuses: Vec<(String, u16)> = emulator
        .requests()
        .into_iter()
        .map(|r| (r.method, r.status))
        .collect();
    assert_eq!(
        statuses,
        vec![("DELETE".into(), 204), ("DELETE".into(), 404)]
    );
}

#[tokio::test]
async fn fetch_conversation_parses_the_attributes_string() {
    let (emulator, client) = setup().await;
    let seeded = emulator.create_conversation(CustomerKind::Web {
        identity: "guest-42".into(),
        friendly_name: "Ann Lee".into(),
    });
    let info = client
        .fetch_conversation(&ch(&seeded.conversation), deadline())
        .await
        .unwrap();
    assert_eq!(info.state.as_deref(), Some("active"));
    assert_eq!(
        info.attributes["pre_engagement_data"]["friendlyName"],
        json!("Ann Lee")
    );
    assert_eq!(emulator.requests()[0].method, "GET");
}

#[tokio::test]
async fn list_participants_maps_bindings_and_follows_pages() {
    let (emulator, client) = setup().await;
    let seeded = emulator.create_conversation(CustomerKind::Whatsapp {
        address: "+15550001111".into(),
    });
    for i in 0..60 {
        emulator
            .add_chat_participant(&seeded.conversation, &format!("agent-{i}"))
            .unwrap();
    }
    let participants = client
        .list_participants(&ch(&seeded.conversation), deadline())
        .await
        .unwrap();
    assert_eq!(participants.len(), 61);
    let customer = &participants[0];
    assert_eq!(customer.sid.as_ref(), Some(&mb(&seeded.customer)));
    assert_eq!(customer.identity, None);
    let binding = customer.binding.as_ref().unwrap();
    assert_eq!(binding.kind.as_deref(), Some("whatsapp"));
    assert_eq!(binding.address.as_deref(), Some("whatsapp:+15550001111"));
    assert_eq!(participants[60].identity.as_deref(), Some("agent-59"));
    let requests = emulator.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].query.as_deref(), Some("PageSize=50"));
    assert!(requests[1].query.as_deref().unwrap().contains("Page=1"));
}

#[tokio::test]
async fn create_interaction_sends_channel_and_routing_as_json_strings() {
    let (emulator, client) = setup().await;
    let seeded = sms(&emulator);
    let request = interaction_request(&ch(&seeded.conversation));
    let created = client
        .create_interaction(&request, deadline())
        .await
        .unwrap();
    let sid = created.sid;
    assert!(sid.as_str().starts_with("KD"));
    // The channel Twilio answered with, kept for a take-back.
    assert!(
        created
            .channel
            .is_some_and(|c| c.as_str().starts_with("UO"))
    );
    let recorded = emulator.requests();
    assert_eq!(recorded[0].path, "/v1/Interactions");
    let names: Vec<&str> = recorded[0].form.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, vec!["Channel", "Routing"]);
    let channel: Value = serde_json::from_str(recorded[0].param("Channel").unwrap()).unwrap();
    let routing: Value = serde_json::from_str(recorded[0].param("Routing").unwrap()).unwrap();
    assert_eq!(channel, request.channel_json());
    assert_eq!(routing, request.routing_json());
    let interactions = emulator.interactions();
    assert_eq!(interactions.len(), 1);
    assert_eq!(interactions[0].sid.as_str(), sid.as_str());
    assert_eq!(
        interactions[0].channel["properties"]["media_channel_sid"],
        json!(seeded.conversation.as_str())
    );
}

#[tokio::test]
async fn interaction_without_a_customer_participant_is_rejected() {
    let (emulator, client) = setup().await;
    let (conversation, _) = emulator.create_conversation_without_customer();
    let error = client
        .create_interaction(&interaction_request(&ch(&conversation)), deadline())
        .await
        .unwrap_err();
    assert!(
        matches!(error, TwilioError::Rejected { status: 400, .. }),
        "{error:?}"
    );
    assert!(emulator.interactions().is_empty());
}

#[tokio::test]
async fn api_key_and_auth_token_both_authenticate() {
    let emulator = TwilioEmulator::start().await.unwrap();
    let seeded = sms(&emulator);
    let (key, secret) = emulator.add_api_key();
    let with_key = TwilioClient::new(config(
        &emulator,
        TwilioCredentials::ApiKey {
            sid: ApiKeySid::parse(key.as_str()).unwrap(),
            secret: Secret::new(secret),
        },
    ))
    .unwrap();
    let with_token = TwilioClient::new(config(&emulator, token_auth(&emulator))).unwrap();
    with_key
        .fetch_conversation(&ch(&seeded.conversation), deadline())
        .await
        .unwrap();
    with_token
        .fetch_conversation(&ch(&seeded.conversation), deadline())
        .await
        .unwrap();
    let users: Vec<Option<String>> = emulator
        .requests()
        .into_iter()
        .map(|r| r.auth_user)
        .collect();
    assert_eq!(
        users,
        vec![
            Some(key.as_str().to_owned()),
            Some(emulator.account_sid().as_str().to_owned())
        ]
    );
}

#[tokio::test]
async fn wrong_credentials_are_rejected_once_and_never_shown() {
    let emulator = TwilioEmulator::start().await.unwrap();
    let seeded = sms(&emulator);
    let (key, _) = emulator.add_api_key();
    let wrong = "wrong-secret-value-0123456789";
    let client = TwilioClient::new(config(
        &emulator,
        TwilioCredentials::ApiKey {
            sid: ApiKeySid::parse(key.as_str()).unwrap(),
            secret: Secret::new(wrong),
        },
    ))
    .unwrap();
    let error = client
        .post_message(&ch(&seeded.conversation), "Lex", "hi", &tag(), deadline())
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            TwilioError::Rejected {
                status: 401,
                code: Some(20003),
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(emulator.requests().len(), 1);
    assert!(emulator.messages(&seeded.conversation).is_empty());
    let shown = format!("{error} {error:?} {client:?}");
    assert!(!shown.contains(wrong));
}

#[tokio::test]
async fn too_many_requests_waits_and_succeeds() {
    let (emulator, client) = setup().await;
    let seeded = sms(&emulator);
    emulator.push_fault(Fault::next(
        1,
        FaultKind::TooManyRequests {
            retry_after: Some(0),
        },
    ));
    client
        .post_message(
            &ch(&seeded.conversation),
            "Lex",
            "after a 429",
            &tag(),
            deadline(),
        )
        .await
        .unwrap();
    let statuses: Vec<u16> = emulator.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![429, 201]);
    assert_eq!(emulator.messages(&seeded.conversation).len(), 1);
}

#[tokio::test]
async fn a_503_on_a_message_post_is_repeated() {
    let (emulator, client) = setup().await;
    let seeded = sms(&emulator);
    emulator.push_fault(Fault::next(2, FaultKind::Unavailable).matching(Method::POST, "/Messages"));
    client
        .post_message(
            &ch(&seeded.conversation),
            "Lex",
            "after two 503s",
            &tag(),
            deadline(),
        )
        .await
        .unwrap();
    let statuses: Vec<u16> = emulator.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![503, 503, 201]);
    assert_eq!(emulator.messages(&seeded.conversation).len(), 1);
}

#[tokio::test]
async fn persistent_server_errors_end_unavailable_after_the_attempt_limit() {
    let (emulator, client) = setup().await;
    let seeded = sms(&emulator);
    emulator.push_fault(Fault::always(FaultKind::ServerError { applied: false }));
    let error = client
        .fetch_conversation(&ch(&seeded.conversation), deadline())
        .await
        .unwrap_err();
    assert!(
        matches!(error, TwilioError::Unavailable { attempts: 5, .. }),
        "{error:?}"
    );
    assert!(error.is_transient());
    assert_eq!(emulator.requests().len(), 5);
}

#[tokio::test]
async fn a_wait_that_would_pass_the_deadline_is_not_taken() {
    let (emulator, client) = setup().await;
    let seeded = sms(&emulator);
    emulator.push_fault(Fault::always(FaultKind::TooManyRequests {
        retry_after: Some(1),
    }));
    let error = client
        .post_message(
            &ch(&seeded.conversation),
            "Lex",
            "hi",
            &tag(),
            Deadline::after(Duration::from_millis(500)),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(error, TwilioError::Unavailable { attempts: 1, .. }),
        "{error:?}"
    );
    assert_eq!(emulator.requests().len(), 1);
}

#[tokio::test]
async fn a_passed_deadline_sends_nothing() {
    let (emulator, client) = setup().await;
    let seeded = sms(&emulator);
    let error = client
        .close(&ch(&seeded.conversation), Deadline::after(Duration::ZERO))
        .await
        .unwrap_err();
    assert!(
        matches!(error, TwilioError::Unavailable { attempts: 0, .. }),
        "{error:?}"
    );
    assert!(emulator.requests().is_empty());
}

#[tokio::test]
async fn a_message_post_that_may_have_been_applied_is_not_repeated() {
    let (emulator, client) = setup().await;
    let seeded = sms(&emulator);
    emulator.push_fault(Fault::next(1, FaultKind::ServerError { applied: true }));
    let error = client
        .post_message(
            &ch(&seeded.conversation),
            "Lex",
            "once only",
            &tag(),
            deadline(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(error, TwilioError::Ambiguous { attempts: 1, .. }),
        "{error:?}"
    );
    assert_eq!(emulator.requests().len(), 1);
    assert_eq!(emulator.messages(&seeded.conversation).len(), 1);
}

#[tokio::test]
async fn a_close_that_was_applied_before_a_500_succeeds_on_repeat() {
    let (emulator, client) = setup().await;
    let seeded = sms(&emulator);
    emulator.push_fault(Fault::next(1, FaultKind::ServerError { applied: true }));
    client
        .close(&ch(&seeded.conversation), deadline())
        .await
        .unwrap();
    let statuses: Vec<u16> = emulator.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![500, 400]);
    assert_eq!(
        emulator.conversation_state(&seeded.conversation).as_deref(),
        Some("closed")
    );
}

#[tokio::test]
async fn a_closed_conversation_refuses_posts_without_repeats() {
    let (emulator, client) = setup().await;
    let seeded = sms(&emulator);
    client
        .close(&ch(&seeded.conversation), deadline())
        .await
        .unwrap();
    let error = client
        .post_message(
            &ch(&seeded.conversation),
            "Lex",
            "too late",
            &tag(),
            deadline(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            TwilioError::Rejected {
                status: 400,
                code: Some(50377),
                ..
            }
        ),
        "{error:?}"
    );
    assert!(!error.is_transient());
    assert_eq!(emulator.requests().len(), 2);
    let error = client
        .close(&ch(&seeded.conversation), deadline())
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            TwilioError::Rejected {
                code: Some(50377),
                ..
            }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_reply_reads_back_with_its_tag_and_a_body_over_the_limit_is_refused() {
    let (emulator, client) = setup().await;
    let seeded = sms(&emulator);
    let conversation = ch(&seeded.conversation);
    let tag = flexlex::ports::conversations::ReplyTag { piece: 3, ..tag() };
    client
        .post_message(&conversation, "Lex", "the fourth piece", &tag, deadline())
        .await
        .unwrap();
    let recent = client
        .recent_messages(&conversation, 1, deadline())
        .await
        .unwrap();
    assert_eq!(recent[0].body, "the fourth piece");
    assert_eq!(recent[0].reply_to, Some(tag.clone()));

    // The turn cuts long replies; a body Twilio would refuse is refused, not cut here.
    let error = client
        .post_message(&conversation, "Lex", &"x".repeat(1601), &tag, deadline())
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            TwilioError::Rejected {
                code: Some(21617),
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(emulator.messages(&seeded.conversation).len(), 1);
}

#[tokio::test]
async fn unknown_conversation_is_rejected_404() {
    let (_emulator, client) = setup().await;
    let unknown = ConversationSid::parse("CH00000000000000000000000000000000").unwrap();
    let error = client
        .fetch_conversation(&unknown, deadline())
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            TwilioError::Rejected {
                status: 404,
                code: Some(20404),
                ..
            }
        ),
        "{error:?}"
    );
    let webhook = WebhookSid::parse("WH00000000000000000000000000000000").unwrap();
    // The conversation is gone too: removing its webhook has nothing left to do.
    client
        .remove_webhook(&unknown, &webhook, deadline())
        .await
        .unwrap();
}

/// Raw requests, to check the emulator's own strictness.
async fn raw_post(
    emulator: &TwilioEmulator,
    path: &str,
    form: &[(&str, &str)],
    auth: bool,
) -> (u16, Value) {
    let http = flexlex::adapters::http::client(Default::default()).expect("http client");
    let mut request = http
        .post(format!("{}{path}", emulator.base_url()))
        .form(form);
    if auth {
        request = request.basic_auth(
            emulator.account_sid().as_str(),
            Some(emulator.auth_token().as_str()),
        );
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_emulator_refuses_unknown_parameters() {
    let emulator = TwilioEmulator::start().await.unwrap();
    let seeded = sms(&emulator);
    let path = format!("/v1/Conversations/{}/Messages", seeded.conversation);
    let (status, body) = raw_post(
        &emulator,
        &path,
        &[("Author", "Lex"), ("Body", "hi"), ("Colour", "red")],
        true,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["code"], json!(20001));
    assert!(body["message"].as_str().unwrap().contains("Colour"));
    assert!(emulator.messages(&seeded.conversation).is_empty());
}

#[tokio::test]
async fn the_emulator_enforces_message_bodies() {
    let emulator = TwilioEmulator::start().await.unwrap();
    let seeded = sms(&emulator);
    let path = format!("/v1/Conversations/{}/Messages", seeded.conversation);
    let (status, body) = raw_post(&emulator, &path, &[("Author", "Lex")], true).await;
    assert_eq!((status, body["code"].clone()), (400, json!(20001)));
    let long = "x".repeat(1601);
    let (status, body) = raw_post(&emulator, &path, &[("Body", &long)], true).await;
    assert_eq!((status, body["code"].clone()), (400, json!(21617)));
    let (status, body) = raw_post(&emulator, &path, &[("Body", &long[..1600])], true).await;
    assert_eq!(status, 201);
    assert_eq!(body["author"], json!("system"));
    assert_eq!(body["index"], json!(0));
    assert!(body["sid"].as_str().unwrap().starts_with("IM"));
}

#[tokio::test]
async fn the_emulator_validates_interaction_json() {
    let emulator = TwilioEmulator::start().await.unwrap();
    let seeded = sms(&emulator);
    let channel = json!({"type": "sms", "initiated_by": "customer", "properties": {"media_channel_sid": seeded.conversation.as_str()}}).to_string();
    let routing =
        json!({"properties": {"workspace_sid": "WS0123456789abcdef0123456789abcdef"}}).to_string();
    let cases: Vec<Vec<(&str, &str)>> = vec![
        vec![("Routing", &routing)],
        vec![("Channel", &channel)],
        vec![("Channel", "{not json"), ("Routing", &routing)],
        vec![
            ("Channel", r#"{"type":"sms","initiated_by":"customer"}"#),
            ("Routing", &routing),
        ],
        vec![
            ("Channel", r#"{"type":"fax","initiated_by":"customer"}"#),
            ("Routing", &routing),
        ],
        vec![("Channel", &channel), ("Routing", r#"{"properties":{}}"#)],
    ];
    for form in cases {
        let (status, body) = raw_post(&emulator, "/v1/Interactions", &form, true).await;
        assert_eq!(status, 400, "{form:?} → {body}");
    }
    let (status, body) = raw_post(
        &emulator,
        "/v1/Interactions",
        &[("Channel", &channel), ("Routing", &routing)],
        true,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert!(body["channel"]["sid"].as_str().unwrap().starts_with("UO"));
    assert!(body["routing"]["properties"]["attributes"].is_string());
}

#[tokio::test]
async fn the_emulator_requires_auth() {
    let emulator = TwilioEmulator::start().await.unwrap();
    let seeded = sms(&emulator);
    let path = format!("/v1/Conversations/{}/Messages", seeded.conversation);
    let (status, body) = raw_post(&emulator, &path, &[("Body", "hi")], false).await;
    assert_eq!(status, 401);
    assert_eq!(body["code"], json!(20003));
    assert!(emulator.messages(&seeded.conversation).is_empty());
    assert_eq!(emulator.requests()[0].auth_user, None);
}

#[test]
fn hostname_rule_follows_the_official_libraries() {
    let host = "conversations.twilio.com";
    assert_eq!(regional_host(host, None, None), host);
    assert_eq!(
        regional_host(host, Some("ie1"), None),
        "conversations.ie1.twilio.com"
    );
    assert_eq!(
        regional_host(host, Some("ie1"), Some("dublin")),
        "conversations.dublin.ie1.twilio.com"
    );
    assert_eq!(
        regional_host("flex-api.twilio.com", None, Some("sydney")),
        "flex-api.sydney.us1.twilio.com"
    );
    assert_eq!(
        regional_host("conversations.ie1.twilio.com", None, Some("dublin")),
        "conversations.dublin.ie1.twilio.com"
    );
    assert_eq!(
        regional_host("conversations.dublin.ie1.twilio.com", Some("au1"), None),
        "conversations.dublin.au1.twilio.com"
    );
    assert_eq!(
        regional_host("127.0.0.1", Some("ie1"), Some("dublin")),
        "127.0.0.1"
    );
    assert_eq!(regional_host(host, Some(""), Some("")), host);
}

#[tokio::test]
async fn region_and_edge_apply_to_twilio_hosts_only() {
    let emulator = TwilioEmulator::start().await.unwrap();
    let regional = TwilioClient::new(TwilioClientConfig {
        region: Some("ie1".into()),
        edge: Some("dublin".into()),
        ..TwilioClientConfig::new(token_auth(&emulator))
    })
    .unwrap();
    assert_eq!(
        regional.conversations_base().host_str(),
        Some("conversations.dublin.ie1.twilio.com")
    );
    assert_eq!(
        regional.flex_base().host_str(),
        Some("flex-api.dublin.ie1.twilio.com")
    );
    let local = TwilioClient::new(TwilioClientConfig {
        region: Some("ie1".into()),
        ..config(&emulator, token_auth(&emulator))
    })
    .unwrap();
    assert_eq!(
        local.conversations_base().as_str(),
        format!("{}/", emulator.base_url())
    );
}

#[tokio::test]
async fn credentials_in_a_base_url_are_refused_without_being_shown() {
    let emulator = TwilioEmulator::start().await.unwrap();
    let error = TwilioClient::new(TwilioClientConfig {
        conversations_base: "https://AC123:topsecret@conversations.twilio.com".into(),
        ..TwilioClientConfig::new(token_auth(&emulator))
    })
    .unwrap_err();
    let shown = format!("{error} {error:?}");
    assert!(shown.contains("TWILIO_CONVERSATIONS_BASE_URL"));
    assert!(!shown.contains("topsecret"));
    let config = config(&emulator, token_auth(&emulator));
    assert!(!format!("{config:?}").contains(emulator.auth_token().as_str()));
}

#[tokio::test]
async fn a_refused_connection_is_repeated_then_unavailable() {
    let emulator = TwilioEmulator::start().await.unwrap();
    let seeded = sms(&emulator);
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let client = TwilioClient::new(TwilioClientConfig {
        conversations_base: dead_url,
        ..config(&emulator, token_auth(&emulator))
    })
    .unwrap();
    // Nothing was sent, so even a message post may be repeated.
    let error = client
        .post_message(&ch(&seeded.conversation), "Lex", "hi", &tag(), deadline())
        .await
        .unwrap_err();
    assert!(
        matches!(error, TwilioError::Unavailable { attempts: 5, .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("could not connect"), "{error}");
}

#[tokio::test]
async fn recent_messages_come_newest_first_and_the_listing_is_strict() {
    let emulator = TwilioEmulator::start().await.unwrap();
    let client = TwilioClient::new(config(&emulator, api_key(&emulator))).unwrap();
    let seed = emulator.create_conversation(CustomerKind::Sms {
        address: "+15551234567".into(),
    });
    for body in ["one", "two", "three"] {
        emulator
            .add_customer_message(&seed.conversation, &seed.customer_author, body)
            .unwrap();
    }
    let recent = client
        .recent_messages(&ch(&seed.conversation), 2, deadline())
        .await
        .unwrap();
    let bodies: Vec<(u64, &str)> = recent.iter().map(|m| (m.index, m.body.as_str())).collect();
    assert_eq!(bodies, [(2, "three"), (1, "two")]);
    assert_eq!(recent[0].author, "+15551234567");
    let request = emulator.requests().pop().unwrap();
    assert_eq!((request.method.as_str(), request.status), ("GET", 200));
    assert_eq!(request.query.as_deref(), Some("Order=desc&PageSize=2"));

    let http = flexlex::adapters::http::client(Default::default()).expect("http client");
    let (key, secret) = emulator.add_api_key();
    let list = format!(
        "{}/v1/Conversations/{}/Messages",
        emulator.base_url(),
        seed.conversation
    );
    for query in [
        "Order=sideways",
        "PageSize=0",
        "PageSize=1001",
        "Page=-1",
        "Colour=blue",
    ] {
        let response = http
            .get(format!("{list}?{query}"))
            .basic_auth(key.as_str(), Some(&secret))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 400, "{query}");
    }
}

#[tokio::test]
async fn a_span_of_messages_is_read_newest_first_in_pages_just_big_enough() {
    let (emulator, client) = setup().await;
    let seed = sms(&emulator);
    let conversation = ch(&seed.conversation);
    for n in 0..30 {
        emulator
            .add_customer_message(&seed.conversation, &seed.customer_author, &format!("m{n}"))
            .unwrap();
    }
    emulator
        .add_customer_message(&seed.conversation, "Lex", "a reply")
        .unwrap();
    // Indices 3..=5: one page of the span plus room for newer messages, which are many
    // here (25), so a second page is read; only the span is answered, oldest first.
    let span = client
        .messages_between(&conversation, 3, 5, deadline())
        .await
        .unwrap();
    let got: Vec<(u64, &str)> = span.iter().map(|m| (m.index, m.body.as_str())).collect();
    assert_eq!(got, [(3, "m3"), (4, "m4"), (5, "m5")]);
    assert!(span.iter().all(|m| m.sid.is_some() && m.created.is_some()));
    let listed: Vec<String> = emulator
        .requests()
        .iter()
        .filter(|r| r.method == "GET")
        .map(|r| r.query.clone().unwrap_or_default())
        .collect();
    assert_eq!(
        listed,
        [
            "Order=desc&PageSize=13",
            "Order=desc&PageSize=13&Page=1",
            "Order=desc&PageSize=13&Page=2"
        ]
    );
    // The newest messages: one page holds them, and the bot's own is told apart.
    let newest = client
        .messages_between(&conversation, 29, 30, deadline())
        .await
        .unwrap();
    let authors: Vec<&str> = newest.iter().map(|m| m.author.as_str()).collect();
    assert_eq!(authors, ["+15558675310", "Lex"]);
}

/// A reply tag for adapter calls that are not part of a turn.
fn tag() -> flexlex::ports::conversations::ReplyTag {
    flexlex::ports::conversations::ReplyTag {
        message: flexlex::domain::ids::MessageSid::parse("IM0123456789abcdef0123456789abcdef")
            .unwrap(),
        part: 0,
        piece: 0,
    }
}

const FLOW: &str = "FW0123456789abcdef0123456789abcdef";

fn bot_webhook() -> flexlex::ports::conversations::NewWebhook {
    flexlex::ports::conversations::NewWebhook {
        url: "https://abc.execute-api.us-east-1.amazonaws.com/prod/webhook?BotId=ABCDEFGHIJ&BotAliasId=TSTALIASID".into(),
        filters: vec!["onMessageAdded".into()],
    }
}

#[tokio::test]
async fn scoped_webhooks_are_listed_created_with_repeated_filters_and_removed() {
    let (emulator, client) = setup().await;
    let seeded = emulator.create_studio_conversation(
        CustomerKind::Sms {
            address: "+15558675310".into(),
        },
        FLOW,
    );
    let conversation = ch(&seeded.conversation);
    let listed = client
        .list_webhooks(&conversation, deadline())
        .await
        .unwrap();
    assert_eq!(
        listed,
        vec![flexlex::ports::conversations::ScopedWebhook {
            sid: Some(wh(&seeded.webhook)),
            target: "studio".into(),
            url: None,
            method: None,
            filters: Vec::new(),
            flow_sid: Some(FLOW.into()),
        }]
    );
    let mut two_filters = bot_webhook();
    two_filters
        .filters
        .push("onConversationStateUpdated".into());
    let created = client
        .create_webhook(&conversation, &two_filters, deadline())
        .await
        .unwrap();
    let create = emulator
        .requests()
        .into_iter()
        .find(|r| r.method == "POST")
        .unwrap();
    assert_eq!(
        create.path,
        format!("/v1/Conversations/{}/Webhooks", seeded.conversation)
    );
    assert_eq!(
        create.form,
        [
            ("Target", "webhook"),
            ("Configuration.Url", two_filters.url.as_str()),
            ("Configuration.Method", "POST"),
            ("Configuration.Filters", "onMessageAdded"),
            ("Configuration.Filters", "onConversationStateUpdated"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
    );
    client
        .remove_webhook(&conversation, &wh(&seeded.webhook), deadline())
        .await
        .unwrap();
    let listed = client
        .list_webhooks(&conversation, deadline())
        .await
        .unwrap();
    assert_eq!(
        listed,
        vec![flexlex::ports::conversations::ScopedWebhook {
            sid: Some(created),
            target: "webhook".into(),
            url: Some(two_filters.url.clone()),
            method: Some("post".into()),
            filters: two_filters.filters.clone(),
            flow_sid: None,
        }]
    );
    let list = emulator
        .requests()
        .into_iter()
        .find(|r| r.method == "GET")
        .unwrap();
    assert_eq!(list.query.as_deref(), Some("PageSize=5"));
}

#[tokio::test]
async fn a_webhook_create_that_may_have_been_applied_is_not_repeated() {
    let (emulator, client) = setup().await;
    let seeded = sms(&emulator);
    emulator.push_fault(Fault::next(1, FaultKind::ServerError { applied: true }));
    let error = client
        .create_webhook(&ch(&seeded.conversation), &bot_webhook(), deadline())
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            TwilioError::Ambiguous {
                operation: "create_webhook",
                attempts: 1,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(emulator.requests().len(), 1);
    // The seeded bot webhook and the one the failed answer hid.
    assert_eq!(emulator.scoped_webhooks(&seeded.conversation).len(), 2);
}

#[tokio::test]
async fn listing_the_webhooks_of_an_unknown_conversation_is_rejected() {
    let (_emulator, client) = setup().await;
    let unknown = ConversationSid::parse("CH00000000000000000000000000000000").unwrap();
    let error = client
        .list_webhooks(&unknown, deadline())
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            TwilioError::Rejected {
                operation: "list_webhooks",
                status: 404,
                code: Some(20404),
                ..
            }
        ),
        "{error:?}"
    );
}
