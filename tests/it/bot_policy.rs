//! The bot policy end to end: escalation rules with their memory in the conversation state,
//! the summary the agent reads, conversation timers set once per conversation, and cards that
//! fit the channel. Two bridges (two Lambda instances) share moto's FIFO queue and DynamoDB
//! table; Lex and Twilio are the emulators, reached through the real clients. The test plays
//! the SQS trigger and picks which instance runs each delivery.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use http::Method;
use serde_json::{Value, json};

use flexlex::app::bridge::Bridge;
use flexlex::domain::plan::Reason;
use flexlex::domain::timers::TimersState;
use flexlex::outcome::{Outcome, Report};
use flexlex_emulators::lex::orderflowers::{AGENT_REPLY, FALLBACK_REPLY};
use flexlex_emulators::twilio::{Fault, FaultKind, RecordedRequest, SeededConversation};

use crate::helpers::Stack;
use crate::moto::{Moto, fifo_queue, moto, state_table};
use crate::poller::{Poller, VISIBILITY_SECS, lanes, run_record};

const QUEUE_ARN: &str = "arn:aws:sqs:us-east-1:123456789012:policy.fifo";
const CARD_TEXT: &str =
    "What type of flowers would you like to order?\nChoose one\n1. Roses\n2. Lilies\n3. Tulips";

/// Which of the two instances the trigger invokes.
#[derive(Clone, Copy)]
enum On {
    First,
    Second,
}

struct Fleet {
    stack: Stack,
    /// A second instance over the same emulators, queue and table.
    second: Bridge,
    poller: Poller,
    table: String,
    moto: Moto,
}

async fn fleet(test: &str, extra: &[(&str, &str)]) -> Option<Fleet> {
    let moto = moto(test).await?;
    let sqs = aws_sdk_sqs::Client::new(&moto.sdk);
    let (queue, _dlq) = fifo_queue(&sqs, VISIBILITY_SECS, 5).await;
    let table = state_table(&aws_sdk_dynamodb::Client::new(&moto.sdk)).await;
    let stack = Stack::on_aws_with(extra, &moto.sdk, &queue, &table).await;
    let second = stack.another_bridge(extra, &moto.sdk, &queue, &table);
    Some(Fleet {
        poller: Poller::new(&moto.sdk, &queue),
        stack,
        second,
        table,
        moto,
    })
}

impl Fleet {
    fn bridge(&self, on: On) -> &Bridge {
        match on {
            On::First => &self.stack.bridge,
            On::Second => &self.second,
        }
    }

    /// The customer writes `body`: stored in Twilio, then the webhook reaches intake.
    async fn says(&self, seed: &SeededConversation, body: &str) {
        let report = self.stack.say(seed, body).await;
        assert_eq!(report.outcome, Outcome::Enqueued);
    }

    /// One trigger delivery to instance `on`: every record's report, in order; what succeeded
    /// is deleted from the queue.
    async fn deliver(&self, on: On) -> Vec<Report> {
        let batch = self.poller.receive(10).await;
        let split = lanes(&batch, QUEUE_ARN);
        assert!(split.unreadable.is_empty());
        let mut reports = Vec::new();
        let mut failed = Vec::new();
        for record in split.lanes.into_iter().flat_map(|lane| lane.jobs) {
            let report = run_record(self.bridge(on), &record, Duration::from_secs(20)).await;
            if matches!(report.outcome, Outcome::Failed(_)) {
                failed.push(json!({"itemIdentifier": record.message_id}));
            }
            reports.push(report);
        }
        self.poller
            .settle(&batch, &json!({ "batchItemFailures": failed }))
            .await;
        reports
    }

    /// The customer writes `body` and instance `on` runs the turn: its report.
    async fn turn(&self, on: On, seed: &SeededConversation, body: &str) -> Report {
        self.says(seed, body).await;
        let mut reports = self.deliver(on).await;
        assert_eq!(reports.len(), 1, "one message, one turn");
        reports.remove(0)
    }

    /// The task attributes of the only Interaction created.
    fn task_attributes(&self) -> Value {
        let [interaction] = self.stack.twilio.interactions().try_into().unwrap();
        interaction.routing["properties"]["attributes"].clone()
    }

    /// The timer updates Twilio received for a conversation, as (inactive, closed).
    fn timer_posts(&self, seed: &SeededConversation) -> Vec<(String, String)> {
        let path = format!("/v1/Conversations/{}", seed.conversation);
        self.stack
            .twilio
            .requests()
            .iter()
            .filter(|r| r.method == "POST" && r.path == path)
            .filter(|r| r.param("Timers.Inactive").is_some() || r.param("Timers.Closed").is_some())
            .map(|r| {
                (
                    r.param("Timers.Inactive").unwrap_or("-").to_owned(),
                    r.param("Timers.Closed").unwrap_or("-").to_owned(),
                )
            })
            .collect()
    }
}

fn position(requests: &[RecordedRequest], pred: impl Fn(&RecordedRequest) -> bool) -> usize {
    requests
        .iter()
        .rposition(pred)
        .expect("the request was made")
}

/// A RecognizeText response Lex would send for an utterance of `intent`, with the given
/// confidence and sentiment.
fn lex_turn(
    seed: &SeededConversation,
    intent: &str,
    confidence: f64,
    sentiment: Option<&str>,
) -> Value {
    let mut top = json!({
        "nluConfidence": {"score": confidence},
        "intent": {"name": intent, "state": "InProgress", "confirmationState": "None", "slots": {}},
        "interpretationSource": "Lex"
    });
    if let Some(sentiment) = sentiment {
        top["sentimentResponse"] = json!({
            "sentiment": sentiment,
            "sentimentScore": {"positive": 0.01, "negative": 0.9, "neutral": 0.08, "mixed": 0.01}
        });
    }
    json!({
        "sessionId": seed.conversation.as_str(),
        "messages": [{"contentType": "PlainText", "content": format!("{intent} noted.")}],
        "sessionState": {
            "dialogAction": {"type": "ElicitIntent"},
            "intent": {"name": intent, "state": "InProgress", "confirmationState": "None", "slots": {}}
        },
        "interpretations": [top]
    })
}

/// A RecognizeText response with one card.
fn card_turn(seed: &SeededConversation, titles: &[String]) -> Value {
    let buttons: Vec<Value> = titles
        .iter()
        .map(|t| json!({"text": t, "value": t.to_lowercase()}))
        .collect();
    json!({
        "sessionId": seed.conversation.as_str(),
        "messages": [{"contentType": "ImageResponseCard", "imageResponseCard": {
            "title": "Pick one", "buttons": buttons}}],
        "sessionState": {
            "dialogAction": {"type": "ElicitSlot", "slotToElicit": "Choice"},
            "intent": {"name": "Browse", "state": "InProgress", "confirmationState": "None", "slots": {"Choice": null}}
        },
        "interpretations": [{"nluConfidence": {"score": 0.9}, "intent": {"name": "Browse", "state": "InProgress", "confirmationState": "None", "slots": {"Choice": null}}, "interpretationSource": "Lex"}]
    })
}

fn numbered(titles: &[String]) -> String {
    let mut text = "Pick one".to_owned();
    for (i, t) in titles.iter().enumerate() {
        text.push_str(&format!("\n{}. {t}", i + 1));
    }
    text
}

#[tokio::test]
async fn two_fallbacks_in_a_row_hand_off_after_the_bots_reply_with_the_summary() {
    let Some(f) = fleet(
        "two_fallbacks_in_a_row_hand_off_after_the_bots_reply_with_the_summary",
        &[],
    )
    .await
    else {
        return;
    };
    // The streak restarts when the bot understands: fallback, help, fallback stays with the bot.
    let web = f.stack.web();
    for (on, text) in [
        (On::First, "what is the weather"),
        (On::Second, "help"),
        (On::First, "is it raining"),
    ] {
        assert_eq!(f.turn(on, &web, text).await.outcome, Outcome::Replied);
    }
    assert!(f.stack.twilio.interactions().is_empty());

    // Two in a row, on two instances: the memory is in the conversation state.
    let sms = f.stack.sms();
    assert_eq!(
        f.turn(On::First, &sms, "what is the weather").await.outcome,
        Outcome::Replied
    );
    let report = f.turn(On::Second, &sms, "blue skies?").await;
    assert_eq!(
        report.outcome,
        Outcome::HandedOff(Reason::Escalation(
            flexlex::domain::escalation::Escalation::Fallbacks { count: 2 }
        ))
    );
    assert_eq!(
        report.outcome.detail().as_deref(),
        Some("escalation:fallbacks:2")
    );
    // The bot's own reply of that turn is posted first, then the Interaction is created.
    assert_eq!(f.stack.bot_messages(&sms), [FALLBACK_REPLY, FALLBACK_REPLY]);
    let requests = f.stack.twilio.requests();
    assert!(
        position(&requests, |r| r.method == "POST"
            && r.path.ends_with("/Messages"))
            < position(&requests, |r| r.path == "/v1/Interactions")
    );
    assert_eq!(
        f.task_attributes(),
        json!({
            "from": "+15551234567",
            "customerName": "+15551234567",
            "customerAddress": "+15551234567",
            "handoffReason": "escalation:fallbacks:2",
            "handoffDetail": "the bot did not understand 2 messages in a row",
            "botTurns": 2,
            "summary": "2 turns · FallbackIntent · 2 fallbacks",
            "botSummary": {
                "turns": 2,
                "intentsVisited": ["FallbackIntent"],
                "slotsGathered": {},
                "fallbacks": 2,
                "sentimentTrend": []
            },
            "lex": {
                "botId": "FLWRSDEMO1",
                "botAliasId": "TSTALIASID",
                "localeId": "en_US",
                "intent": "FallbackIntent",
                "intentState": "ReadyForFulfillment",
                "slots": {},
                "sessionAttributes": {},
                "gatheredSlots": {}
            }
        })
    );
    assert!(f.stack.twilio.webhooks(&sms.conversation).is_empty());
    // Silence afterwards: the next message is not for the bot.
    let report = f.turn(On::First, &sms, "hello?").await;
    assert_eq!(report.outcome.to_string(), "ignored:handed_off");
    assert_eq!(
        f.stack.lex_texts(&sms),
        ["what is the weather", "blue skies?"]
    );
}

#[tokio::test]
async fn low_confidence_turns_hand_off_and_a_confident_turn_resets_the_streak() {
    let Some(f) = fleet(
        "low_confidence_turns_hand_off_and_a_confident_turn_resets_the_streak",
        &[
            ("HANDOFF_BELOW_CONFIDENCE", "0.96"),
            ("LOW_CONFIDENCE_TURNS", "2"),
        ],
    )
    .await
    else {
        return;
    };
    // The OrderFlowers bot is 0.95 sure of its intent; a confident turn in between resets.
    let reset = f.stack.sms();
    assert_eq!(
        f.turn(On::First, &reset, "I would like to order roses")
            .await
            .outcome,
        Outcome::Replied
    );
    f.stack.lex.push_turn(
        reset.conversation.as_str(),
        lex_turn(&reset, "OrderFlowers", 0.99, None),
    );
    assert_eq!(
        f.turn(On::Second, &reset, "roses, yes").await.outcome,
        Outcome::Replied
    );
    assert_eq!(
        f.turn(On::First, &reset, "tomorrow").await.outcome,
        Outcome::Replied
    );
    assert!(f.stack.twilio.interactions().is_empty());

    let web = f.stack.web();
    assert_eq!(
        f.turn(On::Second, &web, "I would like to order roses")
            .await
            .outcome
            .to_string(),
        "replied"
    );
    let report = f.turn(On::First, &web, "tomorrow").await;
    assert_eq!(
        report.outcome.detail().as_deref(),
        Some("escalation:low_confidence:2")
    );
    assert_eq!(report.outcome.to_string(), "handed_off");
    assert_eq!(
        f.stack.bot_messages(&web).last().map(String::as_str),
        Some("At what time do you want the roses to be picked up?")
    );
    let attributes = f.task_attributes();
    assert_eq!(attributes["handoffReason"], "escalation:low_confidence:2");
    assert_eq!(
        attributes["handoffDetail"],
        "the bot was unsure (confidence below 0.96) 2 turns in a row"
    );
    assert_eq!(
        attributes["summary"],
        format!(
            "2 turns · OrderFlowers · FlowerType=roses, PickupDate={} · confidence 0.95",
            attributes["lex"]["slots"]["PickupDate"].as_str().unwrap()
        )
    );
    assert_eq!(attributes["botSummary"]["lastConfidence"], 0.95);
}

#[tokio::test]
async fn negative_sentiment_hands_off_and_a_bot_without_sentiment_is_reported_once() {
    let Some(f) = fleet(
        "negative_sentiment_hands_off_and_a_bot_without_sentiment_is_reported_once",
        &[("HANDOFF_ON_NEGATIVE_SENTIMENT", "2")],
    )
    .await
    else {
        return;
    };
    let reset = f.stack.whatsapp();
    for (sentiment, text) in [
        ("NEGATIVE", "this is bad"),
        ("MIXED", "well, fine"),
        ("NEGATIVE", "still bad"),
    ] {
        f.stack.lex.push_turn(
            reset.conversation.as_str(),
            lex_turn(&reset, "Complaint", 0.9, Some(sentiment)),
        );
        assert_eq!(
            f.turn(On::First, &reset, text).await.outcome,
            Outcome::Replied
        );
    }

    let sms = f.stack.sms();
    for text in ["my order is late", "this is unacceptable"] {
        f.stack.lex.push_turn(
            sms.conversation.as_str(),
            lex_turn(&sms, "Complaint", 0.9, Some("NEGATIVE")),
        );
        f.says(&sms, text).await;
    }
    // Both messages in one delivery, in order, on the second instance.
    let reports = f.deliver(On::Second).await;
    let outcomes: Vec<String> = reports
        .iter()
        .map(|r| format!("{} {}", r.outcome, r.outcome.detail().unwrap_or_default()))
        .collect();
    assert_eq!(
        outcomes,
        ["replied ", "handed_off escalation:negative_sentiment:2"]
    );
    assert_eq!(
        f.stack.bot_messages(&sms),
        ["Complaint noted.", "Complaint noted."]
    );
    let attributes = f.task_attributes();
    assert_eq!(
        attributes["handoffReason"],
        "escalation:negative_sentiment:2"
    );
    assert_eq!(
        attributes["handoffDetail"],
        "the customer sounded negative 2 turns in a row"
    );
    assert_eq!(
        attributes["botSummary"]["sentimentTrend"],
        json!(["NEGATIVE", "NEGATIVE"])
    );

    // A bot that never sends a sentiment: one warning for the instance, not one per turn.
    let logs = Capture::default();
    let _guard = tracing::subscriber::set_default(
        tracing_subscriber::fmt()
            .with_writer(logs.clone())
            .with_ansi(false)
            .finish(),
    );
    let web = f.stack.web();
    for text in ["I would like to order tulips", "tomorrow", "10:00"] {
        assert_eq!(
            f.turn(On::First, &web, text).await.outcome,
            Outcome::Replied
        );
    }
    assert_eq!(
        logs.text()
            .matches("the bot sends no sentiment: turn on sentiment analysis")
            .count(),
        1
    );
}

/// Log lines written while a test's subscriber is the default.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Capture {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn timers_are_set_once_per_conversation_across_instances_and_extended_at_handoff() {
    let Some(f) = fleet(
        "timers_are_set_once_per_conversation_across_instances_and_extended_at_handoff",
        &[("INACTIVE_AFTER", "PT15M"), ("CLOSE_AFTER", "P1D")],
    )
    .await
    else {
        return;
    };
    let sms = f.stack.sms();
    let first = f.turn(On::First, &sms, "I would like to order roses").await;
    assert_eq!(first.outcome, Outcome::Replied);
    assert_eq!(first.trace.timers, Some(TimersState::Set));
    assert_eq!(first.trace.state_round_trips, 3);
    assert_eq!(
        f.timer_posts(&sms),
        [("PT15M".to_owned(), "P1D".to_owned())]
    );
    let timers = f.stack.twilio.timers(&sms.conversation).unwrap();
    assert_eq!(
        (timers.inactive.as_deref(), timers.closed.as_deref()),
        (Some("PT15M"), Some("P1D"))
    );
    // Later turns, on either instance, leave the timers alone.
    for on in [On::Second, On::First] {
        let text = match on {
            On::Second => "tomorrow",
            On::First => "what?",
        };
        let report = f.turn(on, &sms, text).await;
        assert_eq!(report.outcome, Outcome::Replied);
        assert_eq!(report.trace.timers, None);
        assert_eq!(report.trace.state_round_trips, 3);
    }
    assert_eq!(f.timer_posts(&sms).len(), 1);

    // The handoff extends what the bot set to the agent durations (a day, a week by default),
    // after the Interaction exists.
    let report = f.turn(On::Second, &sms, "get me an agent").await;
    assert_eq!(report.outcome.to_string(), "handed_off");
    assert_eq!(report.trace.timers, Some(TimersState::Extended));
    assert_eq!(
        f.timer_posts(&sms),
        [
            ("PT15M".to_owned(), "P1D".to_owned()),
            ("P1D".to_owned(), "P7D".to_owned())
        ]
    );
    let timers = f.stack.twilio.timers(&sms.conversation).unwrap();
    assert_eq!(
        (timers.inactive.as_deref(), timers.closed.as_deref()),
        (Some("P1D"), Some("P7D"))
    );
    let requests = f.stack.twilio.requests();
    assert!(
        position(&requests, |r| r.path == "/v1/Interactions")
            < position(&requests, |r| r.param("Timers.Closed") == Some("P7D"))
    );
    assert!(requests.iter().all(|r| r.status < 400), "no refused call");

    // A conversation whose first turn hands off never had timers: nothing to set or clear.
    let web = f.stack.web();
    let report = f.turn(On::First, &web, "agent please").await;
    assert_eq!(report.outcome.to_string(), "handed_off");
    assert_eq!(f.stack.bot_messages(&web), [AGENT_REPLY]);
    assert_eq!(f.timer_posts(&web), []);
    assert_eq!(report.trace.timers, None);
}

#[tokio::test]
async fn a_whatsapp_card_is_created_once_for_the_fleet_and_a_tap_answers_with_its_value() {
    let Some(f) = fleet(
        "a_whatsapp_card_is_created_once_for_the_fleet_and_a_tap_answers_with_its_value",
        &[],
    )
    .await
    else {
        return;
    };
    let (a, b, c) = (f.stack.whatsapp(), f.stack.whatsapp(), f.stack.whatsapp());
    // First instance: not in the table, so the template is created and remembered.
    let first = f.turn(On::First, &a, "I would like to order flowers").await;
    assert_eq!(first.outcome, Outcome::Replied);
    assert_eq!(
        (
            first.trace.cards_rich,
            first.trace.templates_created,
            first.trace.state_round_trips
        ),
        (1, 1, 5)
    );
    // Second instance: found in the table (one read), not created again.
    let second = f
        .turn(On::Second, &b, "I would like to order flowers")
        .await;
    assert_eq!(
        (
            second.trace.cards_rich,
            second.trace.templates_created,
            second.trace.state_round_trips
        ),
        (1, 0, 4)
    );
    // First instance again: its own copy, no read at all.
    let third = f.turn(On::First, &c, "I would like to order flowers").await;
    assert_eq!(
        (
            third.trace.cards_rich,
            third.trace.templates_created,
            third.trace.state_round_trips
        ),
        (1, 0, 3)
    );

    let [template] = f.stack.twilio.contents().try_into().unwrap();
    assert_eq!(
        template.types,
        json!({
            "twilio/text": {"body": CARD_TEXT},
            "twilio/quick-reply": {
                "body": "What type of flowers would you like to order?\nChoose one",
                "actions": [
                    {"type": "QUICK_REPLY", "title": "Roses", "id": "roses"},
                    {"type": "QUICK_REPLY", "title": "Lilies", "id": "lilies"},
                    {"type": "QUICK_REPLY", "title": "Tulips", "id": "tulips"}
                ]
            }
        })
    );
    let sent = f.stack.twilio.content_messages();
    assert_eq!(
        sent.iter()
            .map(|m| (m.conversation.as_str(), m.content.as_str()))
            .collect::<Vec<_>>(),
        [
            (a.conversation.as_str(), template.sid.as_str()),
            (b.conversation.as_str(), template.sid.as_str()),
            (c.conversation.as_str(), template.sid.as_str())
        ]
    );
    // The card message is tagged like a text reply: a resumed turn would find it.
    let [record] = f
        .stack
        .twilio
        .message_records(&a.conversation)
        .into_iter()
        .filter(|m| m.author == "Lex")
        .collect::<Vec<_>>()
        .try_into()
        .unwrap();
    let attributes: Value = serde_json::from_str(&record.attributes).unwrap();
    assert_eq!(attributes["flexlex"]["part"], 0);
    assert_eq!(
        record.content_sid.as_ref().map(|s| s.as_str()),
        Some(template.sid.as_str())
    );

    // The tap arrives as the button's title; a typed number works too. Lex gets the value,
    // and the conversation is not read to find the card.
    let tapped = f.turn(On::Second, &a, "Lilies").await;
    assert!(tapped.trace.choice_mapped);
    let typed = f.turn(On::First, &b, "3").await;
    assert!(typed.trace.choice_mapped);
    assert_eq!(f.stack.lex_texts(&a)[1], "lilies");
    assert_eq!(f.stack.lex_texts(&b)[1], "tulips");
    assert_eq!(
        f.stack.bot_messages(&a).last().map(String::as_str),
        Some("What day do you want the lilies to be picked up?")
    );
    // Once the bot has moved on, a number is just a number.
    let after = f.turn(On::Second, &a, "2").await;
    assert!(!after.trace.choice_mapped);
    assert_eq!(f.stack.lex_texts(&a)[2], "2");
    assert_eq!(
        f.stack
            .twilio
            .requests()
            .iter()
            .filter(|r| r.method == "GET" && r.path.ends_with("/Messages"))
            .count(),
        0
    );
}

#[tokio::test]
async fn a_card_with_four_to_ten_buttons_is_a_list_and_a_picked_item_answers_with_its_value() {
    let Some(f) = fleet(
        "a_card_with_four_to_ten_buttons_is_a_list_and_a_picked_item_answers_with_its_value",
        &[],
    )
    .await
    else {
        return;
    };
    let seed = f.stack.whatsapp();
    let titles: Vec<String> = ["Red roses", "Lilies", "Tulips", "Sunflowers"]
        .iter()
        .map(|t| (*t).to_owned())
        .collect();
    f.stack
        .lex
        .push_turn(seed.conversation.as_str(), card_turn(&seed, &titles));
    let report = f.turn(On::First, &seed, "show me").await;
    assert_eq!(
        (report.trace.cards_rich, report.trace.cards_as_text),
        (1, 0)
    );
    let [template] = f.stack.twilio.contents().try_into().unwrap();
    assert_eq!(
        template.types["twilio/list-picker"],
        json!({
            "body": "Pick one",
            "button": "Choose",
            "items": [
                {"item": "Red roses", "id": "red roses", "description": "Red roses"},
                {"item": "Lilies", "id": "lilies", "description": "Lilies"},
                {"item": "Tulips", "id": "tulips", "description": "Tulips"},
                {"item": "Sunflowers", "id": "sunflowers", "description": "Sunflowers"}
            ]
        })
    );
    assert_eq!(template.types["twilio/text"]["body"], numbered(&titles));
    f.stack.lex.push_turn(
        seed.conversation.as_str(),
        lex_turn(&seed, "Browse", 0.9, None),
    );
    let picked = f.turn(On::Second, &seed, "Sunflowers").await;
    assert!(picked.trace.choice_mapped);
    assert_eq!(f.stack.lex_texts(&seed), ["show me", "sunflowers"]);
}

#[tokio::test]
async fn cards_fall_back_to_numbered_text_when_they_do_not_fit_or_the_content_api_fails() {
    let Some(f) = fleet(
        "cards_fall_back_to_numbered_text_when_they_do_not_fit_or_the_content_api_fails",
        &[],
    )
    .await
    else {
        return;
    };
    let titles = |n: usize, len: usize| -> Vec<String> {
        (0..n)
            .map(|i| format!("{i}{}", "x".repeat(len.saturating_sub(1))))
            .collect()
    };
    // A title over the list item's 24 characters, and more than ten buttons.
    for buttons in [titles(2, 25), titles(11, 5)] {
        let seed = f.stack.whatsapp();
        f.stack
            .lex
            .push_turn(seed.conversation.as_str(), card_turn(&seed, &buttons));
        let report = f.turn(On::First, &seed, "show me").await;
        assert_eq!(report.outcome, Outcome::Replied);
        assert_eq!(
            (report.trace.cards_rich, report.trace.cards_as_text),
            (0, 1)
        );
        assert_eq!(report.trace.state_round_trips, 3);
        assert_eq!(f.stack.bot_messages(&seed), [numbered(&buttons)]);
        // The customer answers with a number: the value, from the memory.
        f.stack.lex.push_turn(
            seed.conversation.as_str(),
            lex_turn(&seed, "Browse", 0.9, None),
        );
        let answer = f.turn(On::Second, &seed, "2").await;
        assert!(answer.trace.choice_mapped);
        assert_eq!(f.stack.lex_texts(&seed)[1], buttons[1].to_lowercase());
    }
    assert!(f.stack.twilio.contents().is_empty());

    // The Content API is down: the card is posted as numbered text, never silence.
    let seed = f.stack.whatsapp();
    f.stack
        .twilio
        .push_fault(Fault::always(FaultKind::Unavailable).matching(Method::POST, "/v1/Content"));
    let report = f
        .turn(On::Second, &seed, "I would like to order flowers")
        .await;
    assert_eq!(report.outcome, Outcome::Replied);
    assert_eq!(
        (
            report.trace.cards_rich,
            report.trace.cards_as_text,
            report.trace.templates_created
        ),
        (0, 1, 0)
    );
    assert_eq!(f.stack.bot_messages(&seed), [CARD_TEXT]);
    assert!(f.stack.twilio.content_messages().is_empty());
    // Back up: the next card is a template, created now.
    f.stack.twilio.clear_faults();
    let next = f.stack.whatsapp();
    let report = f
        .turn(On::Second, &next, "I would like to order flowers")
        .await;
    assert_eq!(
        (report.trace.cards_rich, report.trace.templates_created),
        (1, 1)
    );

    // SMS and webchat keep the numbered text, with no Content API call.
    for seed in [f.stack.sms(), f.stack.web()] {
        let report = f
            .turn(On::First, &seed, "I would like to order flowers")
            .await;
        assert_eq!(
            (report.trace.cards_rich, report.trace.cards_as_text),
            (0, 0)
        );
        assert_eq!(f.stack.bot_messages(&seed), [CARD_TEXT]);
    }
    assert_eq!(f.stack.twilio.contents().len(), 1);
}

#[tokio::test]
async fn a_card_twilio_stored_before_failing_is_not_posted_again_on_redelivery() {
    let Some(f) = fleet(
        "a_card_twilio_stored_before_failing_is_not_posted_again_on_redelivery",
        &[],
    )
    .await
    else {
        return;
    };
    let seed = f.stack.whatsapp();
    f.stack.twilio.push_fault(
        Fault::next(1, FaultKind::ServerError { applied: true })
            .matching(Method::POST, &format!("{}/Messages", seed.conversation)),
    );
    let report = f
        .turn(On::First, &seed, "I would like to order flowers")
        .await;
    assert_eq!(report.outcome.to_string(), "failed:reply");
    assert_eq!(f.stack.twilio.content_messages().len(), 1);

    // The visibility timeout runs out; the redelivery, on the other instance, finds the
    // tagged card and posts nothing.
    f.poller.expire_visibility().await;
    let [report] = f.deliver(On::Second).await.try_into().unwrap();
    assert_eq!(report.outcome, Outcome::Replied);
    assert!(report.trace.resumed);
    assert_eq!(
        (report.trace.replies_skipped, report.trace.messages_posted),
        (1, 0)
    );
    assert_eq!(f.stack.twilio.content_messages().len(), 1);
    assert_eq!(f.stack.bot_messages(&seed), [CARD_TEXT]);
    assert_eq!(f.stack.lex_texts(&seed), ["I would like to order flowers"]);
    // The card's buttons are in the memory the resumed turn stored: a tap still works.
    let tapped = f.turn(On::First, &seed, "Roses").await;
    assert!(tapped.trace.choice_mapped);
    assert_eq!(f.stack.lex_texts(&seed)[1], "roses");
}

#[tokio::test]
async fn a_conversation_from_before_the_memory_kept_cards_still_reads_its_card() {
    let Some(f) = fleet(
        "a_conversation_from_before_the_memory_kept_cards_still_reads_its_card",
        &[],
    )
    .await
    else {
        return;
    };
    let seed = f.stack.sms();
    // The item an earlier version wrote after the bot's first answer: no dialog memory.
    let old_memory = json!({
        "turns": 1,
        "last_index": 0,
        "slots": {},
        "started_at": 1_764_000_000u64,
        "updated_at": 1_764_000_000u64
    });
    aws_sdk_dynamodb::Client::new(&f.moto.sdk)
        .put_item()
        .table_name(&f.table)
        .item("pk", AttributeValue::S(seed.conversation.to_string()))
        .item("status", AttributeValue::S("bot".into()))
        .item(
            "handled",
            AttributeValue::Ss(vec!["IM00000000000000000000000000000001".into()]),
        )
        .item("memory", AttributeValue::S(old_memory.to_string()))
        .send()
        .await
        .unwrap();
    f.stack
        .twilio
        .add_customer_message(&seed.conversation, &seed.customer_author, "flowers please")
        .unwrap();
    f.stack
        .twilio
        .add_customer_message(&seed.conversation, "Lex", CARD_TEXT)
        .unwrap();

    let report = f.turn(On::First, &seed, "2").await;
    assert_eq!(report.outcome, Outcome::Replied);
    assert!(report.trace.choice_mapped);
    assert_eq!(f.stack.lex_texts(&seed), ["Lilies"]);
    // Two reads: the earlier version did not keep the Index of the bot's card, so the turn
    // reads the gap before it (the card: accounted for, not the customer's), then the card.
    assert_eq!(report.trace.gap_skipped, 1);
    assert_eq!(
        f.stack
            .twilio
            .requests()
            .iter()
            .filter(|r| r.method == "GET" && r.path.ends_with("/Messages"))
            .count(),
        2
    );
    // From now on the memory knows, and the ledger has the bot's post: the next number
    // costs no read.
    f.turn(On::Second, &seed, "2").await;
    assert_eq!(
        f.stack
            .twilio
            .requests()
            .iter()
            .filter(|r| r.method == "GET" && r.path.ends_with("/Messages"))
            .count(),
        2
    );
}
