//! A fleet: four `bootstrap` processes, each behind its own loopback Runtime API, sharing
//! moto's SQS FIFO queue and DynamoDB table and the Lex and Twilio emulators. The test plays
//! API Gateway (async intake invocations on any instance, 20% of them delivered twice, some
//! after the original was consumed) and the SQS trigger (receive, invoke an instance, delete
//! what succeeded; failed and unanswered records come back after the visibility timeout). One
//! instance is killed in the middle of a turn. Per conversation: Lex got each message once and
//! in sent order, each reply was posted once and in order, nothing was answered after a
//! handoff, nothing was lost.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use http::Method;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use tokio::sync::{Mutex, Notify};

use flexlex_emulators::lex::LexEmulator;
use flexlex_emulators::runtime::{InvocationResult, RuntimeEmulator};
use flexlex_emulators::twilio::{
    CustomerKind, Fault, FaultKind, SeededConversation, TwilioEmulator,
};

use crate::helpers::{message_params, signed, url};
use crate::lambda_process::{Function, env_for, spawn};
use crate::moto::{fifo_queue, moto, state_table};
use crate::poller::{Poller, lambda_event};

const INSTANCES: usize = 4;
const CONVERSATIONS: usize = 50;
const VISIBILITY_SECS: u32 = 2;
/// How long a received batch stays invisible in moto; the pollers give it back after
/// `VISIBILITY_SECS` themselves.
const HELD_SECS: i32 = 120;
const QUEUE_ARN: &str = "arn:aws:sqs:us-east-1:123456789012:fleet.fifo";
const INTAKE_BUDGET: Duration = Duration::from_secs(30);
/// The turn invocations' deadline. Deployed, the visibility timeout is six times the function
/// timeout, so a redelivery never meets a live delivery's lease; here the visibility timeout is
/// shorter than the budget, so redeliveries during a slow or killed turn wait for its lease.
const TURN_BUDGET: Duration = Duration::from_secs(8);

struct Instance {
    runtime: RuntimeEmulator,
    function: Mutex<Function>,
    /// One invocation at a time, as Lambda runs an execution environment.
    busy: Mutex<()>,
    alive: AtomicBool,
}

impl Instance {
    /// Invokes the function with `budget` until its deadline; `None` when it never answered
    /// (dead, or past `wait`).
    async fn invoke(
        &self,
        event: Value,
        budget: Duration,
        wait: Duration,
    ) -> Option<InvocationResult> {
        let _busy = self.busy.lock().await;
        if !self.alive.load(Ordering::SeqCst) {
            return None;
        }
        self.runtime.invoke(event, budget, wait).await
    }
}

struct Conversation {
    seed: SeededConversation,
    texts: [&'static str; 3],
    /// The MessageSids of the three customer messages, in sent order.
    messages: Vec<String>,
    params: Vec<Vec<(String, String)>>,
    /// Whether the second message asks for an agent (the third then gets no answer).
    hands_off: bool,
}

const ORDER: [&str; 3] = ["I would like to order tulips", "tomorrow", "10:00"];
const AGENT: [&str; 3] = [
    "I would like to order roses",
    "can I talk to a person?",
    "hello? is anyone there?",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fleet_answers_every_message_once_in_order_through_duplicates_and_a_crash() {
    let Some(moto) =
        moto("a_fleet_answers_every_message_once_in_order_through_duplicates_and_a_crash").await
    else {
        return;
    };
    let sqs = aws_sdk_sqs::Client::new(&moto.sdk);
    let (queue, dlq) = fifo_queue(&sqs, VISIBILITY_SECS, 10).await;
    let table = state_table(&aws_sdk_dynamodb::Client::new(&moto.sdk)).await;
    let lex = LexEmulator::start().await.unwrap();
    let twilio = TwilioEmulator::start().await.unwrap();

    let mut vars = env_for(&lex, &twilio);
    vars.extend([
        ("AWS_ENDPOINT_URL_SQS", moto.endpoint.clone()),
        ("AWS_ENDPOINT_URL_DYNAMODB", moto.endpoint.clone()),
        ("TURN_QUEUE_URL", queue.clone()),
        ("STATE_TABLE", table.clone()),
    ]);
    let mut instances = Vec::new();
    for _ in 0..INSTANCES {
        let runtime = RuntimeEmulator::start().await.unwrap();
        let function = spawn(&runtime, &vars);
        assert!(
            runtime
                .wait_first_poll(Duration::from_secs(30))
                .await
                .is_some(),
            "every instance starts"
        );
        instances.push(Arc::new(Instance {
            runtime,
            function: Mutex::new(function),
            busy: Mutex::new(()),
            alive: AtomicBool::new(true),
        }));
    }

    // The conversations: every fifth hands off on its second message.
    let account = twilio.account_sid().to_string();
    let conversations: Vec<Arc<Conversation>> = (0..CONVERSATIONS)
        .map(|i| {
            let seed = twilio.create_conversation(match i % 3 {
                0 => CustomerKind::Sms {
                    address: format!("+1555{:07}", i),
                },
                1 => CustomerKind::Web {
                    identity: format!("visitor-{i}"),
                    friendly_name: format!("Visitor {i}"),
                },
                _ => CustomerKind::Whatsapp {
                    address: format!("+4477{:08}", i),
                },
            });
            let hands_off = i % 5 == 0;
            let texts = if hands_off { AGENT } else { ORDER };
            let params: Vec<_> = texts
                .iter()
                .map(|text| {
                    let stored = twilio
                        .add_customer_message(&seed.conversation, &seed.customer_author, text)
                        .unwrap();
                    message_params(&seed, &account, text, stored.index)
                })
                .collect();
            let messages = params
                .iter()
                .map(|p| {
                    p.iter()
                        .find(|(k, _)| k == "MessageSid")
                        .map(|(_, v)| v.clone())
                        .unwrap()
                })
                .collect();
            Arc::new(Conversation {
                seed,
                texts,
                messages,
                params,
                hands_off,
            })
        })
        .collect();

    // The crash: conversation 1's first reply is stored at once and answered slowly; the
    // instance that runs it is killed while it waits.
    let victim_conversation = conversations[1].seed.conversation.to_string();
    twilio.push_fault(
        Fault::next(1, FaultKind::SlowAnswer(Duration::from_secs(4)))
            .matching(Method::POST, &format!("{victim_conversation}/Messages")),
    );
    let victim_taken = Arc::new(Notify::new());
    let victim_used = Arc::new(AtomicBool::new(false));
    let killer = {
        let victim = Arc::clone(&instances[0]);
        let taken = Arc::clone(&victim_taken);
        tokio::spawn(async move {
            taken.notified().await;
            // The bot has answered and the answer is recorded; the reply is in Twilio's hands.
            tokio::time::sleep(Duration::from_millis(1_000)).await;
            victim.alive.store(false, Ordering::SeqCst);
            let _ = victim.function.lock().await.child.kill().await;
        })
    };

    // API Gateway: each conversation's burst on instances 1..=3, 20% duplicated elsewhere.
    let mut rng = StdRng::seed_from_u64(0x5EED);
    let duplicates = Arc::new(AtomicUsize::new(0));
    let mut intakes = Vec::new();
    for conversation in &conversations {
        let picks: Vec<(usize, Option<(usize, u64)>)> = (0..3)
            .map(|_| {
                let first = rng.random_range(1..INSTANCES);
                let duplicate = rng.random_bool(0.2).then(|| {
                    let other = (first + rng.random_range(1..INSTANCES - 1)) % INSTANCES;
                    let other = if other == 0 {
                        1 + first % (INSTANCES - 1)
                    } else {
                        other
                    };
                    // Half at once, half after the original was likely consumed.
                    let delay = if rng.random_bool(0.5) { 0 } else { 2_500 };
                    (other, delay)
                });
                (first, duplicate)
            })
            .collect();
        let conversation = Arc::clone(conversation);
        let instances = instances.clone();
        let duplicates = Arc::clone(&duplicates);
        intakes.push(tokio::spawn(async move {
            let mut later = Vec::new();
            for (k, (first, duplicate)) in picks.into_iter().enumerate() {
                let event = signed(&url(), &conversation.params[k]);
                let original =
                    instances[first].invoke(event.clone(), INTAKE_BUDGET, Duration::from_secs(30));
                match duplicate {
                    Some((other, 0)) => {
                        duplicates.fetch_add(1, Ordering::SeqCst);
                        let copy =
                            instances[other].invoke(event, INTAKE_BUDGET, Duration::from_secs(30));
                        let (a, b) = tokio::join!(original, copy);
                        assert_eq!(a, Some(InvocationResult::Response(Value::Null)));
                        assert_eq!(b, Some(InvocationResult::Response(Value::Null)));
                    }
                    Some((other, delay)) => {
                        assert_eq!(
                            original.await,
                            Some(InvocationResult::Response(Value::Null))
                        );
                        later.push((other, delay, event));
                    }
                    None => {
                        assert_eq!(
                            original.await,
                            Some(InvocationResult::Response(Value::Null))
                        );
                    }
                }
            }
            for (other, delay, event) in later {
                tokio::time::sleep(Duration::from_millis(delay)).await;
                duplicates.fetch_add(1, Ordering::SeqCst);
                assert_eq!(
                    instances[other]
                        .invoke(event, INTAKE_BUDGET, Duration::from_secs(30))
                        .await,
                    Some(InvocationResult::Response(Value::Null))
                );
            }
        }));
    }

    // The SQS trigger: two pollers, round robin over live instances; the victim gets the
    // batch holding conversation 1's first turn.
    let intake_done = Arc::new(AtomicBool::new(false));
    let mut pollers = Vec::new();
    let next = Arc::new(AtomicUsize::new(1));
    // Two ways moto hands out a group's messages out of order, which SQS never does:
    // - its ReceiveMessage takes no lock: two receives at once can each hand out a message of the
    //   same group. The pollers take turns receiving, as Lambda's do.
    // - when a batch's visibility timeout runs out, a receive takes its messages back one at a
    //   time, each time checking whether the group still has messages in flight: the earlier ones
    //   are skipped for the later ones still pending, and the last one goes out alone. So the
    //   pollers receive with a long timeout and, once the queue's timeout has passed, hand the
    //   batch's remaining messages back themselves, in one request, between receives.
    let receiving = Arc::new(Mutex::new(()));
    for _ in 0..2 {
        let poller = Arc::new(Poller::new(&moto.sdk, &queue));
        let receiving = Arc::clone(&receiving);
        let instances = instances.clone();
        let intake_done = Arc::clone(&intake_done);
        let next = Arc::clone(&next);
        let victim_conversation = victim_conversation.clone();
        let victim_taken = Arc::clone(&victim_taken);
        let victim_used = Arc::clone(&victim_used);
        pollers.push(tokio::spawn(async move {
            let mut idle_since: Option<Instant> = None;
            loop {
                let batch = {
                    let _turn = receiving.lock().await;
                    poller.receive_for(10, HELD_SECS).await
                };
                if !batch.is_empty() {
                    let (poller, receiving, batch) =
                        (Arc::clone(&poller), Arc::clone(&receiving), batch.clone());
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_secs(u64::from(VISIBILITY_SECS))).await;
                        let _turn = receiving.lock().await;
                        poller.release(&batch).await;
                    });
                }
                if batch.is_empty() {
                    let idle = idle_since.get_or_insert_with(Instant::now);
                    // Done when intake is over and nothing came back for three visibility
                    // timeouts (failed records would have reappeared by then).
                    if intake_done.load(Ordering::SeqCst)
                        && idle.elapsed() > Duration::from_secs(3 * u64::from(VISIBILITY_SECS))
                    {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
                idle_since = None;
                let holds_victim = batch
                    .iter()
                    .any(|m| m.body().is_some_and(|b| b.contains(&victim_conversation)));
                let (instance, wait) = if holds_victim && !victim_used.swap(true, Ordering::SeqCst)
                {
                    victim_taken.notify_one();
                    (Arc::clone(&instances[0]), Duration::from_secs(6))
                } else {
                    let alive: Vec<_> = instances
                        .iter()
                        .filter(|i| i.alive.load(Ordering::SeqCst))
                        .cloned()
                        .collect();
                    let pick = next.fetch_add(1, Ordering::SeqCst) % alive.len();
                    (Arc::clone(&alive[pick]), Duration::from_secs(30))
                };
                // Dead or failed: nothing is deleted, the batch comes back.
                if let Some(InvocationResult::Response(response)) = instance
                    .invoke(lambda_event(&batch, QUEUE_ARN), TURN_BUDGET, wait)
                    .await
                {
                    poller.settle(&batch, &response).await;
                }
            }
        }));
    }

    for intake in intakes {
        intake.await.expect("intake task");
    }
    intake_done.store(true, Ordering::SeqCst);
    for poller in pollers {
        poller.await.expect("poller task");
    }
    killer.await.expect("the victim was killed");
    assert!(victim_used.load(Ordering::SeqCst), "the victim ran a turn");
    assert!(!instances[0].alive.load(Ordering::SeqCst));
    let duplicated = duplicates.load(Ordering::SeqCst);
    assert!(
        duplicated >= 15,
        "about 20% of 150 deliveries duplicated: {duplicated}"
    );

    // Every instance's log lines, the killed one's included.
    let mut logs: Vec<(usize, Value)> = Vec::new();
    for (n, instance) in instances.iter().enumerate() {
        let mut function = instance.function.lock().await;
        while let Ok(line) = function.lines.try_recv() {
            if let Ok(line) = serde_json::from_str::<Value>(&line) {
                logs.push((n, line));
            }
        }
    }
    // What the instances logged about one conversation, for a failed assertion's message.
    let story = |conversation: &str| -> String {
        logs.iter()
            .filter(|(_, l)| {
                l["conversationSid"] == conversation || l["span"]["conversation"] == conversation
            })
            .map(|(n, l)| format!("instance {n}: {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    };

    // Per conversation.
    let lex_calls = lex.calls();
    let interactions = twilio.interactions();
    for (i, c) in conversations.iter().enumerate() {
        let conversation = c.seed.conversation.as_str();
        let answered = if c.hands_off { 2 } else { 3 };
        let asked: Vec<&str> = lex_calls
            .iter()
            .filter(|call| call.session_id == conversation)
            .filter_map(|call| call.text())
            .collect();
        assert_eq!(
            asked,
            c.texts[..answered],
            "conversation {i}: Lex, once each, in order\n{}",
            story(conversation)
        );

        let position: HashMap<&str, usize> = c
            .messages
            .iter()
            .enumerate()
            .map(|(k, m)| (m.as_str(), k))
            .collect();
        let mut seen = BTreeSet::new();
        let mut last = 0;
        for reply in twilio
            .message_records(&c.seed.conversation)
            .into_iter()
            .filter(|m| m.author == "Lex")
        {
            let attributes: Value = serde_json::from_str(&reply.attributes).unwrap();
            let tag = &attributes["flexlex"];
            let k = position[tag["replyTo"].as_str().expect("a tagged reply")];
            let part = tag["part"].as_u64().unwrap();
            assert!(
                seen.insert((k, part)),
                "conversation {i}: reply {k}.{part} posted twice"
            );
            assert!(k >= last, "conversation {i}: replies out of order");
            last = k;
        }
        let replied: BTreeSet<usize> = seen.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            replied,
            (0..answered).collect::<BTreeSet<_>>(),
            "conversation {i}: every answered message has its reply, nothing after a handoff"
        );
        let handoffs = interactions
            .iter()
            .filter(|x| x.channel["properties"]["media_channel_sid"] == conversation)
            .count();
        assert_eq!(
            handoffs,
            usize::from(c.hands_off),
            "conversation {i}: handoffs"
        );
    }
    assert_eq!(
        Poller::new(&moto.sdk, &queue).depth(&dlq).await,
        0,
        "nothing dead-lettered"
    );

    // The killed turn was resumed elsewhere: its reply found in Twilio, not posted again; and
    // lines logged inside a turn carry its span's conversation and message.
    let mut resumed = Vec::new();
    let mut span_lines = Vec::new();
    let mut waited = Vec::new();
    // The survivors' lines: the killed instance's turn is the one resumed.
    for (_, line) in logs.iter().filter(|(n, _)| *n != 0) {
        let victims = line["conversationSid"] == victim_conversation.as_str();
        if victims && line["resumed"] == true {
            resumed.push(line);
        } else if victims && line["outcome"] == "failed:claim" {
            waited.push(line);
        } else if line["fields"]["message"] == "resuming a turn that started before"
            && line["span"]["conversation"] == victim_conversation.as_str()
        {
            span_lines.push(line);
        }
    }
    assert!(
        resumed.iter().any(|l| l["outcome"] == "replied"
            && l["repliesSkipped"] == 1
            && l["messagesPosted"] == 0),
        "{resumed:?}"
    );
    // Redelivered while the killed delivery's lease ran: sent back, not run beside it.
    assert!(
        waited
            .iter()
            .any(|l| l["errorType"] == "Transient.ReplaySafe"
                && l["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains("another delivery is running this turn"))),
        "{waited:?}"
    );
    assert!(
        span_lines
            .iter()
            .any(|l| l["span"]["message"].as_str() == Some(conversations[1].messages[0].as_str())),
        "{span_lines:?}"
    );

    for instance in &instances {
        let _ = instance.function.lock().await.child.kill().await;
    }
}

/// The fleet's pollers hand batches back themselves: moto 5.2 lets a group's messages out one
/// at a time when a batch's visibility timeout runs out, the last one first (received again
/// after the timeout, `m1 m2 m3` come back as `m3` alone). Handed back in one request, the
/// group comes out whole and in order, as SQS gives it.
#[tokio::test]
async fn a_batch_handed_back_comes_out_whole_and_in_order() {
    let Some(moto) = moto("a_batch_handed_back_comes_out_whole_and_in_order").await else {
        return;
    };
    let sqs = aws_sdk_sqs::Client::new(&moto.sdk);
    let bodies = |batch: &[aws_sdk_sqs::types::Message]| -> Vec<String> {
        batch
            .iter()
            .map(|m| m.body().unwrap_or_default().to_owned())
            .collect()
    };
    let (queue, _) = fifo_queue(&sqs, 1, 10).await;
    for n in 1..=3 {
        sqs.send_message()
            .queue_url(&queue)
            .message_body(format!("m{n}"))
            .message_group_id("CH-one-conversation")
            .message_deduplication_id(format!("m{n}"))
            .send()
            .await
            .unwrap();
    }
    let poller = Poller::new(&moto.sdk, &queue);
    let batch = poller.receive_for(10, HELD_SECS).await;
    assert_eq!(bodies(&batch), ["m1", "m2", "m3"]);
    // Held: the queue's own timeout (1 s) has passed, nothing comes out.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    assert!(poller.receive(10).await.is_empty());
    poller.release(&batch).await;
    assert_eq!(bodies(&poller.receive(10).await), ["m1", "m2", "m3"]);
}
