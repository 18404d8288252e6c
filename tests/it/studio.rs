//! A Studio flow hands the conversation over to the bot, end to end: the flow's Make HTTP
//! Request, signed independently of the product, reaches intake; the turn swaps the
//! conversation's Studio webhook for the bot's on the Twilio emulator and answers the first
//! turn through the Lex emulator, once, however often the request or its queue record comes.

use std::time::Duration;

use http::Method;
use serde_json::Value;

use flexlex::outcome::{Ignored, Outcome, Rejected};
use flexlex_emulators::twilio::{
    CustomerKind, Fault, FaultKind, ScopedWebhook, SeededConversation,
};
use flexlex_emulators::webhook::{StudioHandover, signature};

use crate::helpers::{Stack, TOKEN, envelope, url};
use crate::moto::{Moto, fifo_queue, moto, state_table};
use crate::poller::{Poller, VISIBILITY_SECS, invoke_batch, lanes, run_record};

const FLOW: &str = "FW0123456789abcdef0123456789abcdef";
const QUEUE_ARN: &str = "arn:aws:sqs:us-east-1:123456789012:turns.fifo";
const ROSES: &str = "I would like to order roses";

/// A conversation an SMS address created with its Studio flow attached, and the customer's
/// message that started the flow (stored first, as Twilio does).
fn studio_sms(stack: &Stack) -> (SeededConversation, String) {
    let seed = stack.twilio.create_studio_conversation(
        CustomerKind::Sms {
            address: "+15551234567".into(),
        },
        FLOW,
    );
    let trigger = stack
        .twilio
        .add_customer_message(&seed.conversation, &seed.customer_author, "hi")
        .expect("a seeded conversation");
    (seed, trigger.sid.to_string())
}

/// The widget's parameters for `seed`, carrying `body` as the customer's words.
fn handover_params(
    stack: &Stack,
    seed: &SeededConversation,
    trigger: &str,
    body: &str,
) -> Vec<(String, String)> {
    let account = stack.account();
    let conversation = seed.conversation.to_string();
    let participant = seed.customer.to_string();
    StudioHandover {
        account: &account,
        conversation: &conversation,
        message: Some(trigger),
        body,
        author: &seed.customer_author,
        participant: Some(&participant),
        source: Some("SMS"),
    }
    .params()
}

/// The request as API Gateway hands it over, signed with `token` for `url`.
fn signed_with(token: &str, url: &str, params: &[(String, String)]) -> Value {
    envelope(url, params, Some(&signature(token, url, params)))
}

fn bot_webhook_of(stack: &Stack, seed: &SeededConversation) -> ScopedWebhook {
    let webhooks = stack.twilio.scoped_webhooks(&seed.conversation);
    assert_eq!(webhooks.len(), 1, "{webhooks:?}");
    webhooks[0].clone()
}

/// The only webhook left is the bot's: POSTs of new messages to the stack with the bot's ids.
fn assert_swapped(stack: &Stack, seed: &SeededConversation) -> ScopedWebhook {
    let webhook = bot_webhook_of(stack, seed);
    assert_eq!(webhook.target, "webhook");
    assert_eq!(webhook.url.as_deref(), Some(url().as_str()));
    assert_eq!(webhook.method.as_deref(), Some("post"));
    assert_eq!(webhook.filters, ["onMessageAdded"]);
    assert_eq!(webhook.flow_sid, None);
    assert_ne!(webhook.sid, seed.webhook);
    webhook
}

/// Every request that changed something in Twilio, as `METHOD path`.
fn twilio_writes(stack: &Stack) -> Vec<String> {
    stack
        .twilio
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET")
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

#[tokio::test]
async fn studio_hands_over_and_the_bot_answers_the_first_turn_once() {
    let stack = Stack::start().await;
    let (seed, trigger) = studio_sms(&stack);
    // The flow's menu and the customer's choice: the flow's part of the conversation.
    for (author, body) in [
        ("system", "1. Order  2. Help"),
        (seed.customer_author.as_str(), "1"),
    ] {
        stack
            .twilio
            .add_customer_message(&seed.conversation, author, body)
            .unwrap();
    }
    let params = handover_params(&stack, &seed, &trigger, ROSES);

    let report = stack.intake(signed_with(TOKEN, &url(), &params)).await;
    assert_eq!(report.outcome, Outcome::Replied);
    assert_eq!(report.trace.studio_webhooks_removed, 1);
    assert!(report.trace.bot_webhook_created);
    assert_eq!(report.trace.message.as_deref(), Some(trigger.as_str()));
    let bot_webhook = assert_swapped(&stack, &seed);
    assert_eq!(stack.lex_texts(&seed), [ROSES]);
    let replies = stack.bot_messages(&seed);
    assert_eq!(replies, ["What day do you want the roses to be picked up?"]);
    let conversation = &seed.conversation;
    let writes = [
        format!(
            "DELETE /v1/Conversations/{conversation}/Webhooks/{}",
            seed.webhook
        ),
        format!("POST /v1/Conversations/{conversation}/Webhooks"),
        format!("POST /v1/Conversations/{conversation}/Messages"),
    ];
    assert_eq!(twilio_writes(&stack), writes);

    // The same request again (a repeated delivery): nothing changes, the bot is not asked.
    let again = stack.intake(signed_with(TOKEN, &url(), &params)).await;
    assert_eq!(again.outcome, Outcome::Ignored(Ignored::Duplicate));
    assert_eq!(bot_webhook_of(&stack, &seed), bot_webhook);
    assert_eq!(stack.lex_texts(&seed), [ROSES]);
    assert_eq!(stack.bot_messages(&seed), replies);
    assert_eq!(twilio_writes(&stack), writes);

    // The customer's next message comes through the bot's webhook, signed for its URL. The
    // flow's messages before the handover are history: no catch-up reads or answers them.
    let mut next = stack.params(&seed, "tomorrow");
    for (k, v) in next.iter_mut() {
        if k == "WebhookSid" {
            *v = bot_webhook.sid.to_string();
        }
    }
    let webhook_url = bot_webhook.url.clone().unwrap();
    let report = stack.intake(signed_with(TOKEN, &webhook_url, &next)).await;
    assert_eq!(report.outcome, Outcome::Replied);
    assert_eq!((report.trace.caught_up, report.trace.gap_skipped), (0, 0));
    assert_eq!(stack.lex_texts(&seed), [ROSES, "tomorrow"]);
    assert_eq!(stack.bot_messages(&seed).len(), 2);
}

#[tokio::test]
async fn a_forged_handover_changes_nothing() {
    let stack = Stack::start().await;
    let (seed, trigger) = studio_sms(&stack);
    let params = handover_params(&stack, &seed, &trigger, ROSES);
    let elsewhere = "https://evil.example.com/prod/webhook?BotId=FLWRSDEMO1&BotAliasId=TSTALIASID";
    let forged = [
        (
            envelope(&url(), &params, Some("AAAAAAAAAAAAAAAAAAAAAAAAAAA=")),
            false,
        ),
        (envelope(&url(), &params, None), true),
        (signed_with("another-token", &url(), &params), false),
        (
            envelope(&url(), &params, Some(&signature(TOKEN, elsewhere, &params))),
            false,
        ),
    ];
    for (event, missing_header) in forged {
        let report = stack.intake(event).await;
        let Outcome::Rejected(Rejected::Signature { missing, .. }) = report.outcome else {
            panic!("{:?}", report.outcome)
        };
        assert_eq!(missing, missing_header);
    }
    // A signed request whose params were changed afterwards.
    let mut tampered = signed_with(TOKEN, &url(), &params);
    let mut changed = params.clone();
    for (k, v) in changed.iter_mut() {
        if k == "Body" {
            *v = "give me an agent".into();
        }
    }
    let signed_body = tampered["headers"]["X-Twilio-Signature"].clone();
    tampered = envelope(&url(), &changed, signed_body.as_str());
    assert!(matches!(
        stack.intake(tampered).await.outcome,
        Outcome::Rejected(Rejected::Signature { missing: false, .. })
    ));

    assert_eq!(stack.twilio.requests().len(), 0);
    assert_eq!(stack.lex.calls().len(), 0);
    let webhooks = stack.twilio.scoped_webhooks(&seed.conversation);
    assert_eq!(webhooks.len(), 1);
    assert_eq!(webhooks[0].target, "studio");
    assert_eq!(webhooks[0].sid, seed.webhook);
}

#[tokio::test]
async fn a_handover_without_text_swaps_the_webhooks_and_asks_the_bot_nothing() {
    let stack = Stack::start().await;
    let (seed, trigger) = studio_sms(&stack);
    let params = handover_params(&stack, &seed, &trigger, "");
    let report = stack.intake(signed_with(TOKEN, &url(), &params)).await;
    assert_eq!(report.outcome, Outcome::BotAttached);
    assert_swapped(&stack, &seed);
    assert_eq!(stack.lex_texts(&seed), Vec::<String>::new());
    assert_eq!(stack.bot_messages(&seed), Vec::<String>::new());
    let writes = twilio_writes(&stack);
    assert_eq!(writes.len(), 2);

    let again = stack.intake(signed_with(TOKEN, &url(), &params)).await;
    assert_eq!(again.outcome, Outcome::Ignored(Ignored::Duplicate));
    assert_eq!(twilio_writes(&stack), writes);
    assert_eq!(stack.lex.calls().len(), 0);
}

#[tokio::test]
async fn a_first_turn_that_asks_for_an_agent_hands_off_and_removes_the_new_webhook() {
    let stack = Stack::start().await;
    let (seed, trigger) = studio_sms(&stack);
    let params = handover_params(&stack, &seed, &trigger, "I want to talk to an agent");
    let report = stack.intake(signed_with(TOKEN, &url(), &params)).await;
    assert!(
        matches!(report.outcome, Outcome::HandedOff(_)),
        "{:?}",
        report.outcome
    );
    assert_eq!(stack.twilio.interactions().len(), 1);
    assert_eq!(stack.twilio.scoped_webhooks(&seed.conversation), []);
    // Replayed after the handoff: the bot's webhook does not come back.
    let before = twilio_writes(&stack);
    let again = stack.intake(signed_with(TOKEN, &url(), &params)).await;
    assert_eq!(again.outcome, Outcome::Ignored(Ignored::Duplicate));
    assert_eq!(twilio_writes(&stack), before);
    assert_eq!(stack.twilio.scoped_webhooks(&seed.conversation), []);
}

struct OnAws {
    stack: Stack,
    poller: Poller,
    _moto: Moto,
}

async fn on_aws(test: &str) -> Option<OnAws> {
    let moto = moto(test).await?;
    let sqs = aws_sdk_sqs::Client::new(&moto.sdk);
    let (queue, _dlq) = fifo_queue(&sqs, VISIBILITY_SECS, 5).await;
    let table = state_table(&aws_sdk_dynamodb::Client::new(&moto.sdk)).await;
    let stack = Stack::on_aws(&moto.sdk, &queue, &table).await;
    Some(OnAws {
        poller: Poller::new(&moto.sdk, &queue),
        stack,
        _moto: moto,
    })
}

impl OnAws {
    /// One trigger invocation over what the queue gives; settled unless `keep` (a Lambda that
    /// timed out after doing the work: SQS delivers the same records again).
    async fn trigger(&self, keep: bool) -> (Vec<String>, Value) {
        let batch = self.poller.receive(10).await;
        let ids = batch
            .iter()
            .map(|m| m.message_id().unwrap_or_default().to_owned())
            .collect();
        if batch.is_empty() {
            return (ids, Value::Null);
        }
        let response = invoke_batch(&self.stack.bridge, &batch, QUEUE_ARN).await;
        if !keep {
            self.poller.settle(&batch, &response).await;
        }
        (ids, response)
    }

    /// Receives the next record and runs it as the trigger would, for its report.
    async fn run_next(&self) -> flexlex::outcome::Report {
        let batch = self.poller.receive(10).await;
        assert_eq!(batch.len(), 1);
        let split = lanes(&batch, QUEUE_ARN);
        assert_eq!(split.unreadable, []);
        let report = run_record(
            &self.stack.bridge,
            &split.lanes[0].jobs[0],
            Duration::from_secs(10),
        )
        .await;
        self.poller.settle(&batch, &serde_json::json!({})).await;
        report
    }
}

fn failed(response: &Value) -> usize {
    response["batchItemFailures"].as_array().map_or(0, Vec::len)
}

#[tokio::test]
async fn a_handover_redelivered_by_the_queue_or_repeated_at_intake_changes_nothing_more() {
    let Some(f) =
        on_aws("a_handover_redelivered_by_the_queue_or_repeated_at_intake_changes_nothing_more")
            .await
    else {
        return;
    };
    let (seed, trigger) = studio_sms(&f.stack);
    let params = handover_params(&f.stack, &seed, &trigger, ROSES);
    let event = signed_with(TOKEN, &url(), &params);
    // Intake twice while the first copy is queued: the FIFO queue keeps one.
    assert_eq!(
        f.stack.intake(event.clone()).await.outcome,
        Outcome::Enqueued
    );
    assert_eq!(
        f.stack.intake(event.clone()).await.outcome,
        Outcome::Enqueued
    );

    // The turn runs, but the record is not deleted: SQS delivers it again.
    let (first, response) = f.trigger(true).await;
    assert_eq!((first.len(), failed(&response)), (1, 0));
    let bot_webhook = assert_swapped(&f.stack, &seed);
    let writes = twilio_writes(&f.stack);
    assert_eq!(writes.len(), 3);
    // Its visibility timeout runs out.
    f.poller.expire_visibility().await;
    let report = f.run_next().await;
    assert_eq!(report.outcome, Outcome::Ignored(Ignored::Duplicate));

    // The same request at intake after the queue forgot it: the state catches it.
    assert_eq!(f.stack.intake(event).await.outcome, Outcome::Enqueued);
    let report = f.run_next().await;
    assert_eq!(report.outcome, Outcome::Ignored(Ignored::Duplicate));

    assert_eq!(bot_webhook_of(&f.stack, &seed), bot_webhook);
    assert_eq!(twilio_writes(&f.stack), writes);
    assert_eq!(f.stack.lex_texts(&seed), [ROSES]);
    assert_eq!(f.stack.bot_messages(&seed).len(), 1);
}

#[tokio::test]
async fn a_webhook_create_twilio_applied_before_failing_is_found_on_redelivery() {
    let Some(f) =
        on_aws("a_webhook_create_twilio_applied_before_failing_is_found_on_redelivery").await
    else {
        return;
    };
    let (seed, trigger) = studio_sms(&f.stack);
    f.stack.twilio.push_fault(
        Fault::next(1, FaultKind::ServerError { applied: true })
            .matching(Method::POST, "/Webhooks"),
    );
    let params = handover_params(&f.stack, &seed, &trigger, ROSES);
    assert_eq!(
        f.stack
            .intake(signed_with(TOKEN, &url(), &params))
            .await
            .outcome,
        Outcome::Enqueued
    );
    // The create's answer is lost: the record goes back, nothing asked of the bot yet.
    let (_, response) = f.trigger(false).await;
    assert_eq!(failed(&response), 1);
    assert_eq!(f.stack.lex_texts(&seed), Vec::<String>::new());
    assert_swapped(&f.stack, &seed);

    // Redelivered: the bot's webhook is found, not created again; the first turn runs once.
    f.poller.expire_visibility().await;
    let (again, response) = f.trigger(false).await;
    assert_eq!((again.len(), failed(&response)), (1, 0));
    assert_swapped(&f.stack, &seed);
    let creates = twilio_writes(&f.stack)
        .into_iter()
        .filter(|w| w.ends_with("/Webhooks"))
        .count();
    assert_eq!(creates, 1);
    assert_eq!(f.stack.lex_texts(&seed), [ROSES]);
    assert_eq!(f.stack.bot_messages(&seed).len(), 1);
}

/// Renders a widget value as Studio's Liquid would for the variables in `known`; any other
/// variable fails the test, so the sample flow uses only variables this suite vouches for.
fn render(value: &str, known: &[(&str, String)]) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("}}").expect("a closed Liquid tag") + start;
        let name = rest[start + 2..end].trim();
        let (_, rendered) = known.iter().find(|(k, _)| *k == name).unwrap_or_else(|| {
            panic!("the sample flow uses `{name}`, which the suite does not know")
        });
        out.push_str(rendered);
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    out
}

#[tokio::test]
async fn the_sample_flows_request_hands_over_as_documented() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/studio-flow.json");
    let flow: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let states = flow["states"].as_array().unwrap();
    let names: Vec<&str> = states.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(flow["initial_state"], "Trigger");
    for state in states {
        for transition in state["transitions"].as_array().unwrap() {
            if let Some(next) = transition["next"].as_str() {
                assert!(names.contains(&next), "{next} is not a state");
            }
        }
    }
    let trigger = &states[0];
    assert_eq!(trigger["type"], "trigger");
    assert!(
        trigger["transitions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["event"] == "incomingConversationMessage" && t["next"].is_string())
    );
    let requests: Vec<&Value> = states
        .iter()
        .filter(|s| s["type"] == "make-http-request")
        .collect();
    assert_eq!(requests.len(), 1);
    let widget = &requests[0]["properties"];
    assert_eq!(widget["method"], "POST");
    assert_eq!(
        widget["content_type"],
        "application/x-www-form-urlencoded;charset=utf-8"
    );
    assert_eq!(widget["add_twilio_auth"], false);
    let placeholder = widget["url"].as_str().unwrap();
    assert!(placeholder.ends_with("/webhook?BotId=BOT_ID&BotAliasId=BOT_ALIAS_ID"));

    let stack = Stack::start().await;
    let (seed, trigger_sid) = studio_sms(&stack);
    let known = [
        ("trigger.conversation.AccountSid", stack.account()),
        (
            "trigger.conversation.ConversationSid",
            seed.conversation.to_string(),
        ),
        ("trigger.conversation.MessageSid", trigger_sid.clone()),
        ("trigger.conversation.Author", seed.customer_author.clone()),
        ("trigger.conversation.Source", "SMS".to_owned()),
        ("widgets.ask.inbound.Body", ROSES.to_owned()),
    ];
    let params: Vec<(String, String)> = widget["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["key"].as_str().unwrap().to_owned(),
                render(p["value"].as_str().unwrap(), &known),
            )
        })
        .collect();
    let report = stack.intake(signed_with(TOKEN, &url(), &params)).await;
    assert_eq!(report.outcome, Outcome::Replied);
    assert_eq!(report.trace.message.as_deref(), Some(trigger_sid.as_str()));
    assert_swapped(&stack, &seed);
    assert_eq!(stack.lex_texts(&seed), [ROSES]);
}
