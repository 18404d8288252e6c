//! The whole bridge: signed envelopes in, the real Lex SDK client and the real Twilio client
//! out, against the emulators; assertions on what the emulators recorded.

use std::time::Duration;

use http::Method;
use serde_json::json;

use flexlex::domain::plan::Reason;
use flexlex::domain::timers::TimersState;
use flexlex::outcome::{Ignored, Outcome, Rejected};
use flexlex_emulators::lex::{DEMO_BOT_ID, Fault as LexFault, Times};
use flexlex_emulators::twilio::{Fault, FaultKind};

use crate::helpers::{
    HOST, PATH, Stack, TOKEN, WORKFLOW, WORKSPACE, deadline_in, envelope, signed, twilio_signature,
    url,
};

#[tokio::test]
async fn ordering_flowers_ends_with_the_conversation_closed() {
    let stack = Stack::start().await;
    let web = stack.web();

    let report = stack
        .say(&web, "Hi, I would like to order some flowers")
        .await;
    assert_eq!(report.outcome, Outcome::Replied);
    let card = stack.bot_messages(&web).pop().unwrap();
    assert!(
        card.contains("1. Roses") && card.contains("2. Lilies") && card.contains("3. Tulips"),
        "{card}"
    );

    for text in ["roses", "tomorrow", "10am"] {
        assert_eq!(
            stack.say(&web, text).await.outcome,
            Outcome::Replied,
            "after {text:?}"
        );
    }
    assert_eq!(
        stack
            .twilio
            .conversation_state(&web.conversation)
            .as_deref(),
        Some("active")
    );
    let confirm = stack.bot_messages(&web).pop().unwrap();
    assert!(
        confirm.contains("roses") && confirm.contains("10:00"),
        "{confirm}"
    );

    let report = stack.say(&web, "yes").await;
    assert_eq!(
        report.outcome,
        Outcome::Closed(Reason::Intent("OrderFlowers".into()))
    );
    assert_eq!(
        stack
            .twilio
            .conversation_state(&web.conversation)
            .as_deref(),
        Some("closed")
    );
    assert_eq!(stack.bot_messages(&web).len(), 5, "one reply per turn");
    assert!(stack.twilio.interactions().is_empty());

    let lex_calls = stack.lex.calls();
    assert_eq!(lex_calls.len(), 5);
    assert!(lex_calls.iter().all(|c| {
        c.path
            .contains(&format!("/sessions/{}/text", web.conversation))
    }));
    assert_eq!(lex_calls[0].request_attributes()["flexlex_channel"], "web");
    // Replies are posted as the bot, never with the webhook echo enabled.
    let posts: Vec<_> = stack
        .twilio
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/Messages"))
        .collect();
    assert_eq!(posts.len(), 5);
    assert!(
        posts
            .iter()
            .all(|r| r.param("Author") == Some("Lex") && r.webhook_enabled.is_none())
    );
}

#[tokio::test]
async fn asking_for_an_agent_creates_the_interaction_then_removes_the_webhook() {
    let stack = Stack::start().await;
    let sms = stack.sms();
    assert_eq!(
        stack.say(&sms, "I want to order lilies").await.outcome,
        Outcome::Replied
    );

    let report = stack.say(&sms, "can I talk to a person?").await;
    assert_eq!(
        report.outcome,
        Outcome::HandedOff(Reason::Intent("Agent".into()))
    );
    assert_eq!(
        stack.bot_messages(&sms).last().map(String::as_str),
        Some("Okay - lets get you to an agent")
    );

    let [interaction] = stack
        .twilio
        .interactions()
        .try_into()
        .expect("exactly one interaction");
    assert_eq!(
        interaction.channel,
        json!({"type": "sms", "initiated_by": "customer", "properties": {"media_channel_sid": sms.conversation.as_str()}})
    );
    assert_eq!(
        interaction.routing,
        json!({"properties": {
            "workspace_sid": WORKSPACE,
            "workflow_sid": WORKFLOW,
            "task_channel_unique_name": "sms",
            "attributes": {
                "from": "+15551234567",
                "customerName": "+15551234567",
                "customerAddress": "+15551234567",
                "handoffReason": "intent:Agent",
                "botTurns": 2,
                "summary": "2 turns · OrderFlowers → Agent · FlowerType=lilies · confidence 0.95",
                "botSummary": {
                    "turns": 2,
                    "intentsVisited": ["OrderFlowers", "Agent"],
                    "slotsGathered": {"OrderFlowers": {"FlowerType": "lilies"}},
                    "fallbacks": 0,
                    "lastConfidence": 0.95,
                    "sentimentTrend": []
                },
                "lex": {
                    "botId": DEMO_BOT_ID,
                    "botAliasId": "TSTALIASID",
                    "localeId": "en_US",
                    "intent": "Agent",
                    "intentState": "ReadyForFulfillment",
                    "slots": {},
                    "otherIntentSlots": {"OrderFlowers": {"FlowerType": "lilies"}},
                    "gatheredSlots": {"OrderFlowers": {"FlowerType": "lilies"}},
                    "sessionAttributes": {},
                    "confidence": interaction.routing["properties"]["attributes"]["lex"]["confidence"].clone(),
                },
            },
        }})
    );

    // Order of effects: the interaction is accepted before the bot's webhook goes.
    let requests = stack.twilio.requests();
    let created = requests
        .iter()
        .position(|r| r.path == "/v1/Interactions")
        .unwrap();
    let removed = requests
        .iter()
        .position(|r| {
            r.method == "DELETE" && r.path.ends_with(&format!("/Webhooks/{}", sms.webhook))
        })
        .unwrap();
    assert!(created < removed);
    assert!(stack.twilio.webhooks(&sms.conversation).is_empty());
    assert_eq!(
        stack
            .twilio
            .conversation_state(&sms.conversation)
            .as_deref(),
        Some("active")
    );
}

/// The timer values Twilio received for a conversation, as (inactive, closed), in order.
fn timer_posts(stack: &Stack, conversation: &str) -> Vec<(String, String)> {
    let path = format!("/v1/Conversations/{conversation}");
    stack
        .twilio
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path == path)
        .filter(|r| r.param("Timers.Inactive").is_some() || r.param("Timers.Closed").is_some())
        .map(|r| {
            assert_eq!(r.status, 200, "Twilio took the timers");
            (
                r.param("Timers.Inactive").unwrap_or("-").to_owned(),
                r.param("Timers.Closed").unwrap_or("-").to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_handoff_turn_extends_the_bots_timers_to_exactly_the_agent_durations() {
    let stack = Stack::start_with(&[
        ("INACTIVE_AFTER", "PT15M"),
        ("CLOSE_AFTER", "PT30M"),
        ("AGENT_INACTIVE_AFTER", "PT8H"),
        ("AGENT_CLOSE_AFTER", "P3D"),
    ])
    .await;
    let sms = stack.sms();
    let first = stack.say(&sms, "I want to order lilies").await;
    assert_eq!(first.outcome, Outcome::Replied);
    assert_eq!(first.trace.timers, Some(TimersState::Set));
    let handoff = stack.say(&sms, "can I talk to a person?").await;
    assert_eq!(
        handoff.outcome,
        Outcome::HandedOff(Reason::Intent("Agent".into()))
    );
    assert_eq!(handoff.trace.timers, Some(TimersState::Extended));
    assert_eq!(
        timer_posts(&stack, sms.conversation.as_str()),
        [
            ("PT15M".to_owned(), "PT30M".to_owned()),
            ("PT8H".to_owned(), "P3D".to_owned())
        ]
    );
    let shown = stack.twilio.timers(&sms.conversation).unwrap();
    assert_eq!(
        (shown.inactive.as_deref(), shown.closed.as_deref()),
        (Some("PT8H"), Some("P3D"))
    );
    // Extended once the Interaction exists.
    let requests = stack.twilio.requests();
    let created = requests
        .iter()
        .position(|r| r.path == "/v1/Interactions")
        .unwrap();
    let extended = requests
        .iter()
        .position(|r| r.param("Timers.Closed") == Some("P3D"))
        .unwrap();
    assert!(created < extended);
}

#[tokio::test]
async fn a_handoff_turn_with_the_defaults_extends_to_a_day_and_a_week_and_keep_sends_nothing() {
    // `clear`, the former default, is read as `extend`: no PT0S is ever sent.
    for (after, expected) in [
        (None, Some(("P1D", "P7D"))),
        (Some("clear"), Some(("P1D", "P7D"))),
        (Some("keep"), None),
    ] {
        let mut settings = vec![("INACTIVE_AFTER", "PT15M"), ("CLOSE_AFTER", "PT30M")];
        settings.extend(after.map(|a| ("TIMERS_AFTER_HANDOFF", a)));
        let stack = Stack::start_with(&settings).await;
        let web = stack.web();
        stack.say(&web, "I want to order lilies").await;
        let report = stack.say(&web, "can I talk to a person?").await;
        assert_eq!(report.outcome.to_string(), "handed_off", "{after:?}");
        let mut posts = vec![("PT15M".to_owned(), "PT30M".to_owned())];
        posts.extend(expected.map(|(i, c)| (i.to_owned(), c.to_owned())));
        assert_eq!(
            timer_posts(&stack, web.conversation.as_str()),
            posts,
            "{after:?}"
        );
        assert_eq!(
            report.trace.timers,
            expected.map(|_| TimersState::Extended),
            "{after:?}"
        );
    }
}

#[tokio::test]
async fn each_channel_hands_off_with_its_own_type_and_task_channel() {
    let stack = Stack::start_with(&[("TASK_CHANNELS", "web=chat,sms=sms,whatsapp=whatsapp")]).await;
    let cases = [
        (stack.web(), "web", "chat", "Ada Lovelace"),
        (stack.sms(), "sms", "sms", "+15551234567"),
        (
            stack.whatsapp(),
            "whatsapp",
            "whatsapp",
            "whatsapp:+447700900123",
        ),
    ];
    for (seed, _, _, _) in &cases {
        assert!(matches!(
            stack.say(seed, "agent").await.outcome,
            Outcome::HandedOff(_)
        ));
    }
    let interactions = stack.twilio.interactions();
    assert_eq!(interactions.len(), 3);
    for ((seed, kind, task_channel, from), interaction) in cases.iter().zip(&interactions) {
        assert_eq!(interaction.channel["type"], *kind);
        assert_eq!(
            interaction.channel["properties"]["media_channel_sid"],
            seed.conversation.as_str()
        );
        let properties = &interaction.routing["properties"];
        assert_eq!(properties["task_channel_unique_name"], *task_channel);
        assert_eq!(properties["attributes"]["from"], *from);
    }
    assert_eq!(
        interactions[0].routing["properties"]["attributes"]["customerAddress"],
        "visitor-7f3a"
    );
}

#[tokio::test]
async fn multi_message_and_card_turns_are_posted_in_order() {
    let stack = Stack::start().await;
    let sms = stack.sms();
    stack.lex.push_turn(
        sms.conversation.as_str(),
        json!({
            "sessionId": sms.conversation.as_str(),
            "messages": [
                {"contentType": "PlainText", "content": "Welcome back!"},
                {"contentType": "SSML", "content": "<speak>We have <emphasis>fresh</emphasis> tulips &amp; roses.</speak>"},
                {"contentType": "ImageResponseCard", "imageResponseCard": {
                    "title": "Pick a bouquet", "subtitle": "Today only",
                    "buttons": [{"text": "Spring", "value": "spring"}, {"text": "Classic", "value": "classic"}]}},
                {"contentType": "CustomPayload", "content": "{\"widget\":\"carousel\"}"},
                {"contentType": "PlainText", "content": "Anything else?"}
            ],
            "sessionState": {"dialogAction": {"type": "ElicitIntent"}, "intent": {"name": "Browse", "state": "InProgress"}},
            "interpretations": []
        }),
    );
    assert_eq!(
        stack.say(&sms, "what do you have?").await.outcome,
        Outcome::Replied
    );
    assert_eq!(
        stack.bot_messages(&sms),
        [
            "Welcome back!",
            "We have fresh tulips & roses.",
            "Pick a bouquet\nToday only\n1. Spring\n2. Classic",
            "Anything else?",
        ]
    );
}

#[tokio::test]
async fn a_bot_can_request_the_handoff_through_a_session_attribute() {
    let stack = Stack::start().await;
    let sms = stack.sms();
    stack.lex.push_turn(
        sms.conversation.as_str(),
        json!({
            "sessionId": sms.conversation.as_str(),
            "messages": [{"contentType": "PlainText", "content": "A specialist will take it from here."}],
            "sessionState": {
                "dialogAction": {"type": "Close"},
                "intent": {"name": "Complaint", "state": "Fulfilled"},
                "sessionAttributes": {"flexlex_action": "handoff", "flexlex_reason": "complaint"}
            }
        }),
    );
    let report = stack.say(&sms, "my flowers arrived wilted").await;
    assert!(matches!(
        report.outcome,
        Outcome::HandedOff(Reason::BotRequested { .. })
    ));
    let [interaction] = stack.twilio.interactions().try_into().unwrap();
    let attributes = &interaction.routing["properties"]["attributes"];
    assert_eq!(
        attributes["handoffReason"],
        "bot_requested:session_attribute"
    );
    assert_eq!(attributes["handoffDetail"], "complaint");
    assert_eq!(
        attributes["lex"]["sessionAttributes"]["flexlex_action"],
        "handoff"
    );
}

#[tokio::test]
async fn forged_missing_and_wrong_url_signatures_reach_neither_lex_nor_twilio() {
    let stack = Stack::start().await;
    let sms = stack.sms();
    let params = stack.params(&sms, "agent");
    let wrong_url = format!("https://{HOST}/prod/other?BotId={DEMO_BOT_ID}&BotAliasId=TSTALIASID");
    let cases = [
        envelope(
            &url(),
            &params,
            Some(&twilio_signature("not-the-token", &url(), &params)),
        ),
        envelope(&url(), &params, None),
        envelope(
            &url(),
            &params,
            Some(&twilio_signature(TOKEN, &wrong_url, &params)),
        ),
        envelope(&url(), &params, Some("")),
    ];
    for event in cases {
        let report = stack.intake(event).await;
        assert!(
            matches!(
                report.outcome,
                Outcome::Rejected(Rejected::Signature { .. })
            ),
            "{:?}",
            report.outcome
        );
    }
    // A body altered after signing is a forgery too.
    let signature = twilio_signature(TOKEN, &url(), &params);
    let mut tampered = params.clone();
    tampered.iter_mut().find(|(k, _)| k == "Body").unwrap().1 = "close my account".into();
    let report = stack
        .intake(envelope(&url(), &tampered, Some(&signature)))
        .await;
    assert!(matches!(
        report.outcome,
        Outcome::Rejected(Rejected::Signature { .. })
    ));

    assert!(stack.lex.calls().is_empty());
    assert!(stack.twilio.requests().is_empty());
}

#[tokio::test]
async fn query_order_and_default_port_do_not_matter_for_the_signature() {
    let stack = Stack::start().await;
    let sms = stack.sms();
    let params = stack.params(&sms, "help");
    let reordered = format!("https://{HOST}:443{PATH}?BotAliasId=TSTALIASID&BotId={DEMO_BOT_ID}");
    let event = envelope(
        &url(),
        &params,
        Some(&twilio_signature(TOKEN, &reordered, &params)),
    );
    assert_eq!(stack.intake(event).await.outcome, Outcome::Replied);
}

#[tokio::test]
async fn the_bots_own_messages_and_other_events_do_nothing() {
    let stack = Stack::start().await;
    let sms = stack.sms();
    let mut own = stack.params(&sms, "Okay - lets get you to an agent");
    own.iter_mut().find(|(k, _)| k == "Author").unwrap().1 = "Lex".into();
    assert_eq!(
        stack.intake(signed(&url(), &own)).await.outcome,
        Outcome::Ignored(Ignored::OwnMessage)
    );

    let state_change: Vec<(String, String)> = [
        ("AccountSid", stack.account()),
        ("ConversationSid", sms.conversation.to_string()),
        ("EventType", "onConversationStateUpdated".to_owned()),
        ("StateFrom", "active".to_owned()),
        ("StateTo", "inactive".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert!(matches!(
        stack.intake(signed(&url(), &state_change)).await.outcome,
        Outcome::Ignored(Ignored::EventType(_))
    ));
    assert!(stack.lex.calls().is_empty());
    assert!(stack.twilio.requests().is_empty());
}

#[tokio::test]
async fn lex_throttled_once_is_retried_and_answered() {
    let stack = Stack::start().await;
    let sms = stack.sms();
    stack.lex.push_fault(LexFault::Throttling, 1);
    assert_eq!(stack.say(&sms, "help").await.outcome, Outcome::Replied);
    let statuses: Vec<u16> = stack.lex.calls().iter().map(|c| c.status).collect();
    assert_eq!(statuses, [429, 200]);
    assert_eq!(stack.bot_messages(&sms).len(), 1);
}

#[tokio::test]
async fn lex_down_gets_the_customer_an_apology_and_an_agent() {
    let stack = Stack::start().await;
    let sms = stack.sms();
    stack
        .lex
        .push_fault(LexFault::InternalServer, Times::Always);
    let report = stack.say(&sms, "I want roses").await;
    assert_eq!(
        report.outcome,
        Outcome::HandedOff(Reason::BotError("InternalServerException".into()))
    );
    assert_eq!(
        stack.bot_messages(&sms),
        [flexlex::domain::behaviour::DEFAULT_BOT_ERROR_MESSAGE]
    );
    let [interaction] = stack.twilio.interactions().try_into().unwrap();
    assert_eq!(
        interaction.routing["properties"]["attributes"]["handoffReason"],
        "bot_error:InternalServerException"
    );
    assert!(stack.twilio.webhooks(&sms.conversation).is_empty());
}

#[tokio::test]
async fn lex_down_with_on_bot_error_close_apologises_and_closes() {
    let stack = Stack::start_with(&[
        ("ON_BOT_ERROR", "close"),
        ("BOT_ERROR_MESSAGE", "We are closed today."),
    ])
    .await;
    let sms = stack.sms();
    stack.lex.push_fault(LexFault::AccessDenied, Times::Always);
    let report = stack.say(&sms, "hi").await;
    assert_eq!(
        report.outcome,
        Outcome::Closed(Reason::BotError("AccessDeniedException".into()))
    );
    assert_eq!(stack.bot_messages(&sms), ["We are closed today."]);
    assert_eq!(
        stack
            .twilio
            .conversation_state(&sms.conversation)
            .as_deref(),
        Some("closed")
    );
}

#[tokio::test]
async fn twilio_429_with_retry_after_is_waited_out() {
    let stack = Stack::start().await;
    let sms = stack.sms();
    stack.twilio.push_fault(
        Fault::next(
            1,
            FaultKind::TooManyRequests {
                retry_after: Some(0),
            },
        )
        .matching(Method::POST, "/Messages"),
    );
    assert_eq!(stack.say(&sms, "help").await.outcome, Outcome::Replied);
    let posts: Vec<u16> = stack
        .twilio
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/Messages"))
        .map(|r| r.status)
        .collect();
    assert_eq!(posts, [429, 201]);
    assert_eq!(stack.bot_messages(&sms).len(), 1);
}

#[tokio::test]
async fn twilio_failing_for_good_is_an_invocation_error_without_duplicates() {
    let stack = Stack::start().await;
    let sms = stack.sms();
    stack.twilio.push_fault(
        Fault::always(FaultKind::ServerError { applied: true }).matching(Method::POST, "/Messages"),
    );
    let event = signed(&url(), &stack.params(&sms, "help"));
    let mut context = lambda_runtime::Context::default();
    context.request_id = "req-1".into();
    context.deadline = deadline_in(Duration::from_secs(20));
    let result = flexlex::app::lambda::invoke(
        &stack.bridge,
        lambda_runtime::LambdaEvent::new(event, context),
        flexlex::app::telemetry::LogFormat::Text,
    )
    .await;
    let error = result.expect_err("the event must reach the on-failure destination");
    assert_eq!(error.outcome, "failed:reply");
    let diagnostic: lambda_runtime::Diagnostic = error.into();
    // Waiting can help (Twilio is down), but the conversation state of this stack lives in
    // the process: a replay elsewhere would ask Lex again. With DynamoDB state the same
    // failure is `Transient.ReplaySafe` (see the state tests).
    assert_eq!(diagnostic.error_type, "Transient.ReplayUnsafe");
    // The 500 came after Twilio stored the message: a blind retry would have posted it twice.
    assert_eq!(stack.bot_messages(&sms).len(), 1);
    assert_eq!(stack.lex.calls().len(), 1, "Lex is asked once");
}

#[tokio::test]
async fn malformed_envelopes_and_bodies_are_dropped_with_a_reason() {
    let stack = Stack::start().await;
    let sms = stack.sms();
    let good = signed(&url(), &stack.params(&sms, "hi"));
    let mut bad_base64 = good.clone();
    bad_base64["body"] = json!("%%% not base64 %%%");
    let mut no_domain = good.clone();
    no_domain.as_object_mut().unwrap().remove("domainName");
    let mut not_form = good.clone();
    not_form["body"] = json!(base64_of(b"Body=%ZZbroken"));
    let mut not_utf8 = good.clone();
    not_utf8["body"] = json!(base64_of(&[0x42, 0x6f, 0x64, 0x79, 0x3d, 0xff, 0xfe]));
    let cases = [
        (json!(null), "rejected:envelope"),
        (json!([1, 2, 3]), "rejected:envelope"),
        (json!({"v": "2", "body": ""}), "rejected:envelope"),
        (bad_base64, "rejected:envelope"),
        (no_domain, "rejected:envelope"),
        (not_form, "rejected:form"),
        (not_utf8, "rejected:form"),
    ];
    for (event, expected) in cases {
        let report = stack.intake(event).await;
        assert_eq!(report.outcome.to_string(), expected);
        assert!(
            report.outcome.detail().is_some_and(|d| !d.is_empty()),
            "a reason is given"
        );
    }
    // Signed, but missing what an onMessageAdded must carry.
    let mut params = stack.params(&sms, "hi");
    params.retain(|(k, _)| k != "ConversationSid");
    let report = stack.intake(signed(&url(), &params)).await;
    assert_eq!(report.outcome.to_string(), "rejected:webhook");
    assert!(report.outcome.detail().unwrap().contains("ConversationSid"));
    assert!(stack.lex.calls().is_empty());
    assert!(stack.twilio.requests().is_empty());
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test]
async fn a_numbered_reply_picks_the_card_choice() {
    let stack = Stack::start().await;
    let sms = stack.sms();
    assert_eq!(
        stack
            .say(&sms, "I would like to order flowers")
            .await
            .outcome,
        Outcome::Replied
    );
    assert!(stack.bot_messages(&sms)[0].contains("2. Lilies"));

    // The card's buttons are in the conversation's memory: the number stands for the
    // button's value, which is what the bot's slot expects.
    let report = stack.say(&sms, "2").await;
    assert_eq!(report.outcome, Outcome::Replied);
    assert!(report.trace.choice_mapped);
    assert_eq!(
        stack
            .lex
            .calls()
            .last()
            .and_then(|c| c.text().map(str::to_owned))
            .as_deref(),
        Some("lilies")
    );
    assert!(
        stack.bot_messages(&sms).last().unwrap().contains("lilies"),
        "the order moves on to the date"
    );

    // Once the customer has written again, the old card no longer answers for numbers.
    let report = stack.say(&sms, "3").await;
    assert!(!report.trace.choice_mapped);
    assert_eq!(
        stack
            .lex
            .calls()
            .last()
            .and_then(|c| c.text().map(str::to_owned))
            .as_deref(),
        Some("3")
    );
    let listings = stack
        .twilio
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("/Messages"))
        .count();
    assert_eq!(listings, 0, "the conversation is never read for a choice");
}
