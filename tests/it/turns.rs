//! Turns delivered as the SQS trigger delivers them: intake enqueues on a FIFO queue (moto),
//! the test plays the trigger with Lambda-shaped SQS events, conversation state is DynamoDB
//! (moto); Lex and Twilio are the emulators, reached through the real clients.

use std::time::Duration;

use http::Method;
use serde_json::Value;

use flexlex::outcome::Outcome;
use flexlex_emulators::twilio::{Fault, FaultKind, SeededConversation};

use crate::helpers::{Stack, signed, stored_message_params, url};
use crate::moto::{Moto, fifo_queue, moto, state_table};
use crate::poller::{Poller, VISIBILITY_SECS, invoke_batch, lanes, run_record};

const QUEUE_ARN: &str = "arn:aws:sqs:us-east-1:123456789012:turns.fifo";

struct Fleetless {
    stack: Stack,
    poller: Poller,
    dlq: String,
    _moto: Moto,
}

async fn on_aws(test: &str, max_receives: u32) -> Option<Fleetless> {
    let moto = moto(test).await?;
    let sqs = aws_sdk_sqs::Client::new(&moto.sdk);
    let (queue, dlq) = fifo_queue(&sqs, VISIBILITY_SECS, max_receives).await;
    let table = state_table(&aws_sdk_dynamodb::Client::new(&moto.sdk)).await;
    let stack = Stack::on_aws(&moto.sdk, &queue, &table).await;
    Some(Fleetless {
        poller: Poller::new(&moto.sdk, &queue),
        stack,
        dlq,
        _moto: moto,
    })
}

impl Fleetless {
    /// The customer's message reaches intake (stored in Twilio first, as Twilio does).
    async fn intake(&self, seed: &SeededConversation, body: &str) -> Vec<(String, String)> {
        let params = self.stack.params(seed, body);
        self.deliver(&params).await;
        params
    }

    async fn deliver(&self, params: &[(String, String)]) {
        let report = self.stack.intake(signed(&url(), params)).await;
        assert_eq!(report.outcome, Outcome::Enqueued);
    }

    /// One trigger invocation: a batch in, the function's answer, settled.
    async fn trigger(&self) -> (usize, Value) {
        let batch = self.poller.receive(10).await;
        if batch.is_empty() {
            return (0, Value::Null);
        }
        let response = invoke_batch(&self.stack.bridge, &batch, QUEUE_ARN).await;
        self.poller.settle(&batch, &response).await;
        (batch.len(), response)
    }

    /// Receives a batch and runs its first record through the function's turn path, for the
    /// record's own report; how many records came.
    async fn run_one(&self) -> (usize, flexlex::outcome::Report) {
        let batch = self.poller.receive(10).await;
        let split = lanes(&batch, QUEUE_ARN);
        let report = run_record(
            &self.stack.bridge,
            &split.lanes[0].jobs[0],
            Duration::from_secs(10),
        )
        .await;
        (batch.len(), report)
    }
}

fn failed_ids(response: &Value) -> Vec<String> {
    response["batchItemFailures"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["itemIdentifier"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn a_batch_runs_conversations_in_index_order_and_sends_back_only_the_failing_ones() {
    let Some(f) = on_aws(
        "a_batch_runs_conversations_in_index_order_and_sends_back_only_the_failing_ones",
        5,
    )
    .await
    else {
        return;
    };
    let (a, b, c) = (f.stack.sms(), f.stack.web(), f.stack.whatsapp());
    // Intake can enqueue one conversation's messages out of order: a's second and third
    // messages are admitted before its first.
    let stored: Vec<_> = ["I would like to order roses", "tomorrow", "10:00"]
        .iter()
        .map(|text| {
            let m = f
                .stack
                .twilio
                .add_customer_message(&a.conversation, &a.customer_author, text)
                .unwrap();
            (m.index, *text)
        })
        .collect();
    for &(index, text) in [stored[1], stored[2], stored[0]].iter() {
        let mut params = f.stack.params(&a, text);
        for (k, v) in params.iter_mut() {
            if k == "Index" {
                *v = index.to_string();
            }
        }
        f.deliver(&params).await;
    }
    f.intake(&b, "hi").await;
    f.intake(&b, "what can you do?").await;
    f.intake(&c, "hello").await;
    f.intake(&c, "roses please").await;

    // Twilio refuses b's replies for now.
    f.stack.twilio.push_fault(
        Fault::always(FaultKind::Unavailable)
            .matching(Method::POST, &format!("{}/Messages", b.conversation)),
    );
    let (n, response) = f.trigger().await;
    assert_eq!(n, 7);
    let failed = failed_ids(&response);
    assert_eq!(failed.len(), 2, "b's two records, nothing else: {response}");

    assert_eq!(
        f.stack.lex_texts(&a),
        ["I would like to order roses", "tomorrow", "10:00"],
        "a in Index order"
    );
    assert_eq!(f.stack.lex_texts(&c), ["hello", "roses please"]);
    // b's first record got its answer, then failed posting; its second was not attempted.
    assert_eq!(f.stack.lex_texts(&b), ["hi"]);
    assert!(f.stack.bot_messages(&b).is_empty());
    assert_eq!(f.stack.bot_messages(&a).len(), 3);

    // Twilio recovers; b's records come back when the visibility timeout runs out, in order.
    // The recorded answer is reused: Lex is not asked "hi" again.
    f.stack.twilio.clear_faults();
    f.poller.expire_visibility().await;
    let mut delivered = 0;
    while delivered < 2 {
        let (n, response) = f.trigger().await;
        assert_eq!(failed_ids(&response), Vec::<String>::new());
        assert!(n > 0, "b's records come back");
        delivered += n;
    }
    assert_eq!(delivered, 2);
    assert_eq!(f.stack.lex_texts(&b), ["hi", "what can you do?"]);
    assert_eq!(f.stack.bot_messages(&b).len(), 2);
    assert_eq!(f.poller.depth(&f.poller.queue_url).await, 0);
    assert_eq!(f.poller.depth(&f.dlq).await, 0);
}

#[tokio::test]
async fn a_delivery_after_the_fifo_dedup_window_is_ignored_as_a_duplicate() {
    let Some(f) = on_aws(
        "a_delivery_after_the_fifo_dedup_window_is_ignored_as_a_duplicate",
        5,
    )
    .await
    else {
        return;
    };
    let seed = f.stack.sms();
    let params = f.intake(&seed, "hello").await;
    assert_eq!(f.trigger().await.0, 1);
    // The same webhook again, after the first copy left the queue: the queue no longer
    // deduplicates it (as after SQS's five minutes), the conversation state does.
    f.deliver(&params).await;
    let (n, report) = f.run_one().await;
    assert_eq!(n, 1, "the queue took the repeat");
    assert_eq!(
        report.outcome,
        Outcome::Ignored(flexlex::outcome::Ignored::Duplicate)
    );
    assert_eq!(report.trace.state_round_trips, 1);
    assert_eq!(f.stack.lex_texts(&seed), ["hello"]);
    assert_eq!(f.stack.bot_messages(&seed).len(), 1);
}

#[tokio::test]
async fn after_a_handoff_the_bot_stays_silent_and_a_message_behind_is_answered_first() {
    let Some(f) = on_aws(
        "after_a_handoff_the_bot_stays_silent_and_a_message_behind_is_answered_first",
        5,
    )
    .await
    else {
        return;
    };
    // Late: the second message's webhook is delivered first. Its turn answers the first
    // message before it, in Twilio's order; the first one's webhook is then a duplicate.
    let seed = f.stack.web();
    let first = f
        .stack
        .twilio
        .add_customer_message(&seed.conversation, &seed.customer_author, "hello")
        .unwrap();
    f.intake(&seed, "I would like to order tulips").await;
    let (n, response) = f.trigger().await;
    assert_eq!((n, failed_ids(&response).len()), (1, 0));
    assert_eq!(
        f.stack.lex_texts(&seed),
        ["hello", "I would like to order tulips"]
    );
    let params = stored_message_params(&seed, &f.stack.account(), &first);
    f.deliver(&params).await;
    let (n, report) = f.run_one().await;
    assert_eq!(n, 1);
    assert_eq!(
        report.outcome,
        Outcome::Ignored(flexlex::outcome::Ignored::Duplicate)
    );
    assert_eq!(f.stack.lex_texts(&seed).len(), 2);
    assert_eq!(f.stack.bot_messages(&seed).len(), 2);

    // Handoff, then a message while the agent joins: no bot reply, no Lex call.
    let sms = f.stack.sms();
    f.intake(&sms, "I want to talk to an agent").await;
    f.intake(&sms, "hello? anyone?").await;
    let (n, response) = f.trigger().await;
    assert_eq!((n, failed_ids(&response).len()), (2, 0));
    assert_eq!(f.stack.lex_texts(&sms), ["I want to talk to an agent"]);
    assert_eq!(f.stack.twilio.interactions().len(), 1);
    assert_eq!(
        f.stack.bot_messages(&sms),
        ["Okay - lets get you to an agent"]
    );
}

/// What SQS's dead-letter redrive does for the operator after an outage
/// (`aws sqs start-message-move-task`): every dead-lettered turn goes back to the turn queue,
/// in its conversation's group.
/// `copies` > 1 plays an operator who starts the redrive twice.
async fn redrive(poller: &Poller, dlq: &str, copies: usize) -> usize {
    let mut moved = 0;
    loop {
        let batch = poller
            .sqs
            .receive_message()
            .queue_url(dlq)
            .max_number_of_messages(10)
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
            .send()
            .await
            .unwrap()
            .messages
            .unwrap_or_default();
        if batch.is_empty() {
            return moved;
        }
        for message in batch {
            let group = message
                .attributes()
                .and_then(|a| {
                    a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId)
                })
                .cloned()
                .unwrap();
            for copy in 0..copies {
                poller
                    .sqs
                    .send_message()
                    .queue_url(&poller.queue_url)
                    .message_body(message.body().unwrap())
                    .message_group_id(&group)
                    .message_deduplication_id(format!("{}-{copy}", message.message_id().unwrap()))
                    .send()
                    .await
                    .unwrap();
            }
            poller
                .sqs
                .delete_message()
                .queue_url(dlq)
                .receipt_handle(message.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
            moved += 1;
        }
    }
}

#[tokio::test]
async fn dead_lettered_turns_replayed_after_an_outage_post_each_missing_reply_once() {
    // Two receives, then the dead-letter queue.
    let Some(f) = on_aws(
        "dead_lettered_turns_replayed_after_an_outage_post_each_missing_reply_once",
        2,
    )
    .await
    else {
        return;
    };
    let (a, b) = (f.stack.sms(), f.stack.web());
    f.intake(&a, "I would like to order roses").await;
    f.intake(&a, "tomorrow").await;
    f.intake(&b, "I want to talk to an agent").await;

    // Twilio is down for every write.
    f.stack
        .twilio
        .push_fault(Fault::always(FaultKind::Unavailable).matching(Method::POST, "/"));
    let mut rounds = 0;
    while f.poller.depth(&f.dlq).await < 3 {
        rounds += 1;
        assert!(rounds < 20, "the turns reach the dead-letter queue");
        let (_, response) = f.trigger().await;
        // Only the first record of each conversation is attempted; the rest go back with it.
        assert!(failed_ids(&response).len() <= 3);
        f.poller.expire_visibility().await;
    }
    assert_eq!(f.poller.depth(&f.poller.queue_url).await, 0);
    // Nothing reached the customers. Lex saw each message at most once and in sent order (a
    // dead-lettered head leaves its group, so the next message may be answered meanwhile).
    let sent_a = ["I would like to order roses", "tomorrow"];
    let asked = f.stack.lex_texts(&a);
    assert_eq!(asked, sent_a[..asked.len()]);
    assert_eq!(f.stack.lex_texts(&b), ["I want to talk to an agent"]);
    assert!(f.stack.bot_messages(&a).is_empty());
    assert!(f.stack.twilio.interactions().is_empty());

    // Twilio recovers; the operator redrives the dead-letter queue.
    f.stack.twilio.clear_faults();
    assert_eq!(redrive(&f.poller, &f.dlq, 2).await, 3);
    let mut rounds = 0;
    while f.poller.depth(&f.poller.queue_url).await > 0 {
        rounds += 1;
        assert!(rounds < 10, "the replayed turns are handled");
        let (_, response) = f.trigger().await;
        assert_eq!(failed_ids(&response), Vec::<String>::new());
    }
    // Each message reached Lex once in all, in order; each reply is posted once.
    assert_eq!(f.stack.lex_texts(&a), sent_a);
    assert_eq!(f.stack.lex_texts(&b), ["I want to talk to an agent"]);
    let replies_a = f.stack.bot_messages(&a);
    assert_eq!(replies_a.len(), 2, "{replies_a:?}");
    assert_eq!(
        f.stack.bot_messages(&b),
        ["Okay - lets get you to an agent"]
    );
    assert_eq!(f.stack.twilio.interactions().len(), 1);
    assert!(f.stack.twilio.webhooks(&b.conversation).is_empty());
    assert_eq!(f.poller.depth(&f.dlq).await, 0);
}

#[tokio::test]
async fn a_reply_twilio_stored_before_failing_is_not_posted_again_on_redelivery() {
    let Some(f) = on_aws(
        "a_reply_twilio_stored_before_failing_is_not_posted_again_on_redelivery",
        5,
    )
    .await
    else {
        return;
    };
    let seed = f.stack.sms();
    f.intake(&seed, "I would like to order roses").await;
    // Twilio stores the reply, then answers 500: the outcome is ambiguous, not repeated.
    f.stack.twilio.push_fault(
        Fault::next(1, FaultKind::ServerError { applied: true })
            .matching(Method::POST, &format!("{}/Messages", seed.conversation)),
    );
    let (n, response) = f.trigger().await;
    assert_eq!((n, failed_ids(&response).len()), (1, 1));
    assert_eq!(f.stack.bot_messages(&seed).len(), 1);

    // The redelivery reads the conversation, finds its tagged reply and posts nothing.
    f.poller.expire_visibility().await;
    let (_, report) = f.run_one().await;
    assert_eq!(report.outcome, Outcome::Replied);
    assert!(report.trace.resumed);
    assert_eq!(
        (report.trace.replies_skipped, report.trace.messages_posted),
        (1, 0)
    );
    assert_eq!(f.stack.bot_messages(&seed).len(), 1);
    assert_eq!(f.stack.lex_texts(&seed), ["I would like to order roses"]);
}
