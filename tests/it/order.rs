//! Twilio's order is the truth: whatever order a conversation's webhooks arrive in (or whether
//! they arrive at all), the bot answers its customer's messages once each, in `Index` order.
//! The same scenarios run in both modes: turns in process with in-memory state, and intake →
//! SQS FIFO → turn with DynamoDB state (moto). Lex and Twilio are the emulators, reached
//! through the real clients; every message is stored in the Twilio emulator before its
//! webhook, as Twilio does.

use std::time::Duration;

use flexlex::outcome::{Ignored, Outcome};

use crate::harness::Harness;

const SETTINGS: &[(&str, &str)] = &[("IGNORE_AUTHORS", "supervisor")];

const ORDER: [&str; 3] = ["I would like to order flowers", "roses", "tomorrow"];

/// A burst delivered backwards, each webhook's turn run before the next arrives (a batch
/// sorts its own records by Index; these come in separate batches): the last message's turn
/// answers the two before it first; their own webhooks are then duplicates.
async fn a_burst_delivered_backwards(h: &Harness) {
    let seed = h.stack.sms();
    let burst = h.write(&seed, &ORDER);
    let first = h.turn(&burst[2]).await;
    let rest = [h.turn(&burst[1]).await, h.turn(&burst[0]).await];
    assert_eq!(h.stack.lex_texts(&seed), ORDER);
    assert_eq!(h.stack.bot_messages(&seed).len(), 3);
    // One read of the gap, by the turn that found it.
    assert_eq!(h.listings(&seed), 1);
    if let Some(first) = first {
        assert_eq!(first.outcome, Outcome::Replied);
        assert_eq!((first.trace.caught_up, first.trace.gap_skipped), (2, 0));
        for late in rest {
            assert_eq!(
                late.map(|r| r.outcome),
                Some(Outcome::Ignored(Ignored::Duplicate))
            );
        }
    }
}

/// The middle webhook never arrives: the next message's turn answers it first.
async fn a_burst_whose_middle_webhook_never_arrives(h: &Harness) {
    let seed = h.stack.web();
    let burst = h.write(&seed, &ORDER);
    h.deliver(&burst[0]).await;
    h.settle().await;
    h.deliver(&burst[2]).await;
    h.settle().await;
    assert_eq!(h.stack.lex_texts(&seed), ORDER);
    assert_eq!(h.stack.bot_messages(&seed).len(), 3);
}

/// The first message asks for an agent and arrives last: only it reaches Lex, one
/// Interaction, and nothing is answered after the handoff.
async fn a_burst_whose_first_message_asks_for_an_agent_delivered_last_first(h: &Harness) {
    let seed = h.stack.whatsapp();
    let burst = h.write(
        &seed,
        &["I want to talk to an agent", "hello?", "is anyone there"],
    );
    let first = h.turn(&burst[2]).await;
    h.turn(&burst[1]).await;
    h.turn(&burst[0]).await;
    assert_eq!(h.stack.lex_texts(&seed), ["I want to talk to an agent"]);
    assert_eq!(h.interactions(&seed).len(), 1);
    assert_eq!(h.stack.bot_messages(&seed).len(), 1);
    if let Some(first) = first {
        assert_eq!(first.outcome, Outcome::Ignored(Ignored::HandedOff));
        assert_eq!(first.trace.caught_up, 1);
    }
}

/// Another author's message in the gap is accounted for, never sent to Lex.
async fn another_authors_message_in_the_gap(h: &Harness) {
    let seed = h.stack.sms();
    let first = h.write(&seed, &[ORDER[0]]);
    h.deliver(&first[0]).await;
    h.settle().await;
    h.stack
        .twilio
        .add_customer_message(&seed.conversation, "supervisor", "looks fine")
        .unwrap();
    let next = h.write(&seed, &[ORDER[1]]);
    let report = h.deliver(&next[0]).await;
    h.settle().await;
    assert_eq!(h.stack.lex_texts(&seed), &ORDER[..2]);
    assert_eq!(h.listings(&seed), 1);
    if let Some(report) = report {
        assert_eq!(report.outcome, Outcome::Replied);
        assert_eq!((report.trace.caught_up, report.trace.gap_skipped), (0, 1));
    }
}

/// In order, the bot's own posts close every gap: no listing at all.
async fn an_in_order_conversation_makes_no_list_call(h: &Harness) {
    let seed = h.stack.web();
    for text in ORDER {
        let params = h.write(&seed, &[text]);
        if let Some(report) = h.deliver(&params[0]).await {
            assert_eq!(report.outcome, Outcome::Replied);
            // Claim, record, finish; one post.
            assert_eq!(
                (
                    report.trace.state_round_trips,
                    report.trace.twilio_round_trips
                ),
                (3, 1)
            );
        }
        h.settle().await;
    }
    assert_eq!(h.stack.lex_texts(&seed), ORDER);
    assert_eq!(h.listings(&seed), 0);
}

/// A conversation that existed before the bot saw it: its history is never answered.
async fn history_is_never_answered(h: &Harness) {
    let seed = h.stack.sms();
    for old in ["an hour ago", "still an hour ago"] {
        h.stack
            .twilio
            .add_customer_message_written(
                &seed.conversation,
                &seed.customer_author,
                old,
                Duration::from_secs(3_600),
            )
            .unwrap();
    }
    let now = h.write(&seed, &[ORDER[0]]);
    let report = h.deliver(&now[0]).await;
    h.settle().await;
    assert_eq!(h.stack.lex_texts(&seed), [ORDER[0]]);
    if let Some(report) = report {
        assert_eq!((report.trace.caught_up, report.trace.gap_skipped), (0, 2));
    }
}

async fn scenarios(h: &Harness) {
    a_burst_delivered_backwards(h).await;
    a_burst_whose_middle_webhook_never_arrives(h).await;
    a_burst_whose_first_message_asks_for_an_agent_delivered_last_first(h).await;
    another_authors_message_in_the_gap(h).await;
    an_in_order_conversation_makes_no_list_call(h).await;
    history_is_never_answered(h).await;
}

#[tokio::test]
async fn in_process_messages_are_answered_in_twilios_order() {
    scenarios(&Harness::in_process(SETTINGS).await).await;
}

#[tokio::test]
async fn through_the_queue_messages_are_answered_in_twilios_order() {
    let Some(h) = Harness::on_aws(
        "through_the_queue_messages_are_answered_in_twilios_order",
        SETTINGS,
    )
    .await
    else {
        return;
    };
    scenarios(&h).await;
}
