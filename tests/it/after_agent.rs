//! Back to the bot after the agent, end to end in both modes: the Twilio emulator plays Flex
//! (an `interaction`-type Interactions webhook registered on the instance, the Interaction
//! created with its ttid, an agent joining, leaving, pausing; the signed events it sends) and
//! the test delivers those events to the stack as API Gateway would.

use flexlex::domain::after_agent::Stay;
use flexlex::outcome::{Ignored, Outcome, Rejected};
use flexlex_emulators::twilio::{CustomerKind, SeededConversation};
use flexlex_emulators::webhook::signed_envelope;
use serde_json::Value;

use crate::harness::Harness;
use crate::helpers::{TOKEN, url};

const AFTER: &str = "Welcome back! Is there anything else I can help with?";

/// Registers the stack's Interactions webhook on the emulator's Flex instance, as
/// `flexlex connect` does; its ttid.
async fn register(h: &Harness) -> String {
    let twilio = &h.stack.twilio;
    let (key, secret) = twilio.add_api_key();
    let http = flexlex::adapters::http::client(Default::default()).expect("http client");
    let response = http
        .post(format!(
            "{}/v1/Instances/{}/InteractionWebhooks",
            twilio.base_url(),
            twilio.flex_instance_sid()
        ))
        .basic_auth(key.as_str(), Some(&secret))
        .form(&[
            ("Type", "interaction"),
            ("WebhookUrl", url().as_str()),
            ("WebhookMethod", "POST"),
            ("WebhookEvents", "onParticipantLeft"),
            ("WebhookEvents", "onChannelStatusUpdated"),
        ])
        .send()
        .await
        .expect("the emulator answers");
    assert_eq!(response.status().as_u16(), 201);
    let body: Value = response.json().await.expect("a webhook resource");
    body["ttid"].as_str().expect("a ttid").to_owned()
}

/// Both modes start the same way: `AFTER_AGENT=bot` with the registered webhook's ttid. Flex
/// signs its events with the account's auth token (the emulator's); the tests' own webhooks
/// are signed with the one before it, which the stack still accepts.
async fn configured(mut h: Harness) -> Harness {
    let ttid = register(&h).await;
    let token = h.stack.twilio.auth_token();
    h.reconfigure(&[
        ("TWILIO_AUTH_TOKEN", &token),
        ("TWILIO_PREVIOUS_AUTH_TOKEN", TOKEN),
        ("AFTER_AGENT", "bot"),
        ("INTERACTION_WEBHOOK_TTID", &ttid),
        ("AFTER_AGENT_MESSAGE", AFTER),
    ]);
    h
}

/// The customer writes `body` through the bot's webhook attached now.
async fn say(h: &Harness, seed: &SeededConversation, body: &str) {
    let mut params = h.stack.params(seed, body);
    let attached = h.stack.twilio.scoped_webhooks(&seed.conversation);
    if let Some(webhook) = attached.first() {
        for (name, value) in &mut params {
            if name == "WebhookSid" {
                *value = webhook.sid.to_string();
            }
        }
    }
    h.deliver(&params).await;
    h.settle().await;
}

/// Flex's events so far, delivered in order; the outcome of each run in process.
async fn events(h: &Harness) -> Vec<Option<Outcome>> {
    let mut outcomes = Vec::new();
    for event in h.stack.twilio.take_events() {
        let envelope = event.envelope().expect("an envelope");
        let report = h.deliver_envelope(envelope, Outcome::Enqueued).await;
        h.settle().await;
        outcomes.push(report.map(|r| r.outcome));
    }
    outcomes
}

fn interaction_of(h: &Harness, seed: &SeededConversation) -> flexlex_emulators::sid::Sid {
    let interactions = h.interactions(seed);
    let found = interactions
        .first()
        .expect("an interaction for the conversation");
    found.sid.clone()
}

/// Twilio writes to the conversation since `from` (posts, webhooks, state), and to Flex.
fn writes_since(h: &Harness, from: usize) -> Vec<String> {
    h.stack.twilio.requests()[from..]
        .iter()
        .filter(|r| r.method != "GET")
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

/// Delivers the pending Interactions events: each must leave the conversation with the agent
/// for a reason `why` accepts, with no bot webhook attached and nothing written to Twilio.
async fn events_leave_it_with_the_agent(
    h: &Harness,
    seed: &SeededConversation,
    why: impl Fn(&Stay) -> bool,
) {
    let before = h.stack.twilio.requests().len();
    for outcome in events(h).await.into_iter().flatten() {
        assert!(
            matches!(&outcome, Outcome::Ignored(Ignored::StaysWithAgent(stay)) if why(stay)),
            "{outcome:?}"
        );
    }
    assert!(
        h.stack
            .twilio
            .scoped_webhooks(&seed.conversation)
            .is_empty()
    );
    assert_eq!(writes_since(h, before), Vec::<String>::new());
}

async fn the_agent_leaves_and_the_bot_takes_back_then_invites_again(h: &Harness) {
    let seed = h.stack.twilio.create_bot_conversation(
        CustomerKind::Sms {
            address: "+15557654321".into(),
        },
        &url(),
    );
    say(h, &seed, "I want to talk to an agent").await;
    let kd = interaction_of(h, &seed);
    assert!(
        h.stack
            .twilio
            .scoped_webhooks(&seed.conversation)
            .is_empty()
    );
    let created = h
        .stack
        .twilio
        .interactions()
        .into_iter()
        .find(|i| i.sid == kd)
        .unwrap();
    assert!(
        created.webhook_ttid.is_some(),
        "created with the webhook's ttid"
    );
    events(h).await;

    // The agent joins: the doorbell rings, Twilio says the agent is there, nothing happens.
    h.stack.twilio.agent_joins(&kd).expect("a task to accept");
    let before = h.stack.twilio.requests().len();
    for outcome in events(h).await.into_iter().flatten() {
        assert_eq!(
            outcome,
            Outcome::Ignored(Ignored::StaysWithAgent(Stay::AgentPresent))
        );
    }
    say(h, &seed, "hello? are you there").await;
    assert_eq!(h.stack.lex_texts(&seed), ["I want to talk to an agent"]);
    assert_eq!(writes_since(h, before), Vec::<String>::new());

    // The agent leaves (Flex's Leave): the bot takes the conversation back once.
    h.stack
        .twilio
        .agent_leaves(&kd)
        .expect("the agent was there");
    let outcomes = events(h).await;
    assert_eq!(outcomes.len(), 2);
    if outcomes[0].is_some() {
        assert_eq!(
            outcomes,
            [
                Some(Outcome::TakenBack),
                Some(Outcome::Ignored(Ignored::StaysWithAgent(Stay::WithTheBot)))
            ]
        );
    }
    let attached = h.stack.twilio.scoped_webhooks(&seed.conversation);
    assert_eq!(attached.len(), 1);
    assert_eq!(attached[0].url.as_deref(), Some(url().as_str()));
    assert_eq!(
        h.stack.bot_messages(&seed).last().map(String::as_str),
        Some(AFTER)
    );

    // The customer's next message is the bot's again, and Lex is told where it comes from.
    say(h, &seed, "I would like to order roses").await;
    assert_eq!(
        h.stack.lex_texts(&seed),
        ["I want to talk to an agent", "I would like to order roses"]
    );
    let told = h
        .stack
        .lex
        .calls()
        .iter()
        .rev()
        .find(|c| c.session_id == seed.conversation.as_str())
        .and_then(|c| c.body.clone())
        .expect("the last Lex request");
    assert_eq!(told["requestAttributes"]["flexlex_after_agent"], "true");

    // An agent again: an invite into the same Interaction, with the task attributes.
    say(h, &seed, "actually I want an agent").await;
    assert_eq!(h.interactions(&seed).len(), 1);
    let invites: Vec<_> = h
        .stack
        .twilio
        .invites()
        .into_iter()
        .filter(|i| i.interaction == kd)
        .collect();
    assert_eq!(invites.len(), 1);
    let attributes = &invites[0].routing["properties"]["attributes"];
    assert_eq!(attributes["returningFromAgent"], true);
    assert!(attributes["summary"].is_string());
    assert!(
        h.stack
            .twilio
            .scoped_webhooks(&seed.conversation)
            .is_empty()
    );
    // The new task can be accepted.
    assert!(h.stack.twilio.agent_joins(&kd).is_some());
    events(h).await;
}

/// A conversation the bot handed to an agent who accepted the task.
struct WithAgent {
    seed: SeededConversation,
    interaction: flexlex_emulators::sid::Sid,
    agent: flexlex_emulators::sid::Sid,
    channel: flexlex_emulators::sid::Sid,
}

/// `customer` asks for an agent in a new conversation, and an agent accepts the task (the
/// events so far delivered).
async fn with_an_agent(h: &Harness, customer: CustomerKind) -> WithAgent {
    let seed = h.stack.twilio.create_bot_conversation(customer, &url());
    say(h, &seed, "agent").await;
    let created = h
        .interactions(&seed)
        .into_iter()
        .next()
        .expect("an interaction for the conversation");
    let agent = h
        .stack
        .twilio
        .agent_joins(&created.sid)
        .expect("a task to accept");
    events(h).await;
    WithAgent {
        seed,
        interaction: created.sid,
        agent,
        channel: created.channel_sid,
    }
}

async fn a_paused_channel_keeps_the_agent(h: &Harness) {
    let WithAgent {
        seed,
        interaction: kd,
        ..
    } = with_an_agent(
        h,
        CustomerKind::Web {
            identity: "visitor-pause".into(),
            friendly_name: "Pat".into(),
        },
    )
    .await;
    assert!(h.stack.twilio.pause_channel(&kd));
    events_leave_it_with_the_agent(h, &seed, |_| true).await;
}

async fn a_forged_event_changes_nothing(h: &Harness) {
    let seed = h.stack.twilio.create_bot_conversation(
        CustomerKind::Sms {
            address: "+15550009999".into(),
        },
        &url(),
    );
    say(h, &seed, "agent").await;
    let kd = interaction_of(h, &seed);
    let forged: Vec<(String, String)> = [
        ("EventType", "onParticipantLeft"),
        ("AccountSid", h.stack.account().as_str()),
        ("InteractionSid", kd.as_str()),
        ("MediaChannelSid", seed.conversation.as_str()),
        ("ParticipantType", "agent"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let before = h.stack.twilio.requests().len();
    let lex = h.stack.lex.calls().len();
    // Signed with another token: refused at intake, in both modes.
    let envelope = signed_envelope(&url(), &forged, "not-the-token").unwrap();
    let report = h.stack.intake(envelope).await;
    assert!(
        matches!(
            report.outcome,
            Outcome::Rejected(Rejected::Signature { missing: false, .. })
        ),
        "{:?}",
        report.outcome
    );
    // Signed right but replayed while the agent is still there: nothing either.
    h.stack.twilio.agent_joins(&kd);
    h.stack.twilio.take_events();
    let envelope = signed_envelope(&url(), &forged, TOKEN).unwrap();
    let report = h.deliver_envelope(envelope, Outcome::Enqueued).await;
    h.settle().await;
    if let Some(report) = report {
        assert_eq!(
            report.outcome,
            Outcome::Ignored(Ignored::StaysWithAgent(Stay::AgentPresent))
        );
    }
    assert_eq!(writes_since(h, before), Vec::<String>::new());
    assert_eq!(h.stack.lex.calls().len(), lex);
}

/// A POST to the emulated Flex API, as an operator's script or Flex would make it.
async fn flex_post(h: &Harness, path: &str, form: &[(&str, &str)]) -> u16 {
    let twilio = &h.stack.twilio;
    let (key, secret) = twilio.add_api_key();
    let http = flexlex::adapters::http::client(Default::default()).expect("http client");
    http.post(format!("{}{path}", twilio.base_url()))
        .basic_auth(key.as_str(), Some(&secret))
        .form(form)
        .send()
        .await
        .expect("the emulator answers")
        .status()
        .as_u16()
}

/// The park pattern: the agent removed by API, the conversation left active. The bot answers
/// while parked and un-parks to an agent by an invite when the customer needs one.
async fn a_parked_interaction_is_the_bots_until_the_customer_needs_an_agent(h: &Harness) {
    let WithAgent {
        seed,
        interaction: kd,
        agent,
        channel,
    } = with_an_agent(
        h,
        CustomerKind::Whatsapp {
            address: "+447700900555".into(),
        },
    )
    .await;
    let parked = flex_post(
        h,
        &format!("/v1/Interactions/{kd}/Channels/{channel}/Participants/{agent}"),
        &[("Status", "closed")],
    )
    .await;
    assert_eq!(parked, 200);
    let outcomes = events(h).await;
    if let Some(first) = outcomes.first().cloned().flatten() {
        assert_eq!(first, Outcome::TakenBack);
    }
    say(h, &seed, "I would like to order lilies").await;
    assert_eq!(
        h.stack.lex_texts(&seed),
        ["agent", "I would like to order lilies"]
    );
    say(h, &seed, "agent please").await;
    assert_eq!(
        h.stack
            .twilio
            .invites()
            .iter()
            .filter(|i| i.interaction == kd)
            .count(),
        1
    );
}

/// Closed while the agent had it: nothing, and the conversation stays closed for the bot.
async fn a_closed_conversation_is_not_taken_back(h: &Harness) {
    let WithAgent {
        seed,
        interaction: kd,
        channel,
        ..
    } = with_an_agent(
        h,
        CustomerKind::Sms {
            address: "+15550004444".into(),
        },
    )
    .await;
    let closed = flex_post(
        h,
        &format!("/v1/Interactions/{kd}/Channels/{channel}"),
        &[("Status", "closed"), ("Routing", r#"{"status":"closed"}"#)],
    )
    .await;
    assert_eq!(closed, 200);
    events_leave_it_with_the_agent(h, &seed, |stay| {
        matches!(stay, Stay::Closed | Stay::AgentPresent)
    })
    .await;
}

async fn scenarios(h: &Harness) {
    the_agent_leaves_and_the_bot_takes_back_then_invites_again(h).await;
    a_paused_channel_keeps_the_agent(h).await;
    a_forged_event_changes_nothing(h).await;
    a_parked_interaction_is_the_bots_until_the_customer_needs_an_agent(h).await;
    a_closed_conversation_is_not_taken_back(h).await;
}

#[tokio::test]
async fn in_process_the_bot_takes_back_after_the_agent() {
    let h = configured(Harness::in_process(&[]).await).await;
    scenarios(&h).await;
}

#[tokio::test]
async fn through_the_queue_the_bot_takes_back_after_the_agent() {
    let Some(h) =
        Harness::on_aws("through_the_queue_the_bot_takes_back_after_the_agent", &[]).await
    else {
        return;
    };
    scenarios(&configured(h).await).await;
}
