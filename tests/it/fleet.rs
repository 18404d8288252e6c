//! A fleet: four `bootstrap` processes, each behind its own loopback Runtime API, sharing
//! moto's SQS FIFO queue and DynamoDB table and the Lex and Twilio emulators. The test plays
//! API Gateway (async intake invocations on any instance, each burst's three webhooks in a
//! shuffled order 25 ms apart, 20% of them delivered twice, some after the original was
//! consumed) and the SQS trigger (receive, invoke an instance, delete
//! what succeeded; failed and unanswered records come back as when the visibility timeout runs
//! out, at once). One instance is killed in the middle of a turn; its lease runs out once a
//! redelivery has met it. Per conversation: Lex got each message once and in Index order, each
//! reply was posted once and in order, nothing was answered after a handoff, nothing was lost.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use http::Method;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use tokio::sync::{Mutex, Notify};

use aws_sdk_sqs::types::Message;
use flexlex::domain::job::Job;
use flexlex_emulators::lex::LexEmulator;
use flexlex_emulators::runtime::{InvocationResult, RuntimeEmulator};
use flexlex_emulators::twilio::{
    CustomerKind, Fault, FaultKind, SeededConversation, TwilioEmulator,
};

use crate::helpers::{signed, stored_message_params, url};
use crate::lambda_process::{Function, env_for, spawn};
use crate::moto::{fifo_queue, moto, state_table};
use crate::poller::{Poller, VISIBILITY_SECS, lambda_event};

const INSTANCES: usize = 4;
const CONVERSATIONS: usize = 50;
const QUEUE_ARN: &str = "arn:aws:sqs:us-east-1:123456789012:fleet.fifo";
const INTAKE_BUDGET: Duration = Duration::from_secs(30);
/// The turn invocations' deadline: a delivery's lease on its turn runs until then. Deployed,
/// the visibility timeout is six times the function timeout, so a redelivery never meets a
/// live delivery's lease; here a failed batch comes back at once, so the redelivery of the
/// killed instance's batch meets its lease (and is sent back) until the test runs it out. No
/// one waits for it: it is long, so the redelivery meets it however slow the machine.
const TURN_BUDGET: Duration = Duration::from_secs(30);

struct Instance {
    runtime: RuntimeEmulator,
    function: Mutex<Function>,
    /// One invocation at a time, as Lambda runs an execution environment.
    busy: Mutex<()>,
    alive: AtomicBool,
    /// Told when the instance is killed: its invocation in progress never answers.
    killed: Notify,
}

impl Instance {
    /// Invokes the function with `budget` until its deadline; `None` when it never answered
    /// (dead, killed meanwhile, or past `wait`).
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
        tokio::select! {
            answer = self.runtime.invoke(event, budget, wait) => answer,
            () = self.killed.notified() => None,
        }
    }
}

/// What the clock does to a killed delivery's leases on `body`'s job: they run out. Written
/// into the state item as the time they ran out: the job's own (`l_<key>`), those of the turns
/// a catch-up ran under its hold (the same lease), and `held_until` while that job holds the
/// conversation; nothing is touched once another delivery took the conversation over.
async fn run_out_lease(dynamodb: &aws_sdk_dynamodb::Client, table: &str, body: &str) {
    let job = Job::from_body(body).expect("a job");
    let now_ms: u128 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let key = AttributeValue::S(job.conversation().to_string());
    let item = dynamodb
        .get_item()
        .table_name(table)
        .key("pk", key.clone())
        .consistent_read(true)
        .send()
        .await
        .expect("the state item")
        .item
        .unwrap_or_default();
    let holds = item.get("holder") == Some(&AttributeValue::S(job.key().to_string()));
    if !holds {
        return;
    }
    let held_until = item.get("held_until").and_then(|v| v.as_n().ok()).cloned();
    // The leases the killed delivery holds: the same deadline as the conversation's hold.
    let leases: Vec<String> = item
        .iter()
        .filter(|(name, value)| name.starts_with("l_") && value.as_n().ok() == held_until.as_ref())
        .map(|(name, _)| name.clone())
        .collect();
    let mut update = dynamodb
        .update_item()
        .table_name(table)
        .key("pk", key)
        .condition_expression("holder = :m AND held_until > :now")
        .expression_attribute_values(":m", AttributeValue::S(job.key().to_string()))
        .expression_attribute_values(":now", AttributeValue::N(now_ms.to_string()));
    let mut sets = vec!["held_until = :now".to_owned()];
    for (i, lease) in leases.iter().enumerate() {
        update = update.expression_attribute_names(format!("#l{i}"), lease);
        sets.push(format!("#l{i} = :now"));
    }
    let result = update
        .update_expression(format!("SET {}", sets.join(", ")))
        .send()
        .await;
    if let Err(error) = result {
        let refused = error
            .as_service_error()
            .is_some_and(|e| e.is_conditional_check_failed_exception());
        assert!(refused, "the lease could not be run out: {error:?}");
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
    // A received batch stays invisible longer than the test: the pollers give it back
    // themselves, at once, when its invocation failed or never answered.
    let (queue, dlq) = fifo_queue(&sqs, VISIBILITY_SECS, 10).await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&moto.sdk);
    let table = state_table(&dynamodb).await;
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
            killed: Notify::new(),
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
                    stored_message_params(&seed, &account, &stored)
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

    // The crash: conversation 1's first reply is stored at once and answered slowly (long
    // after the kill, which no one waits for); the instance that runs it is killed while it
    // waits.
    let victim_conversation = conversations[1].seed.conversation.to_string();
    twilio.push_fault(
        Fault::next(1, FaultKind::SlowAnswer(Duration::from_secs(20)))
            .matching(Method::POST, &format!("{victim_conversation}/Messages")),
    );
    let victim_taken = Arc::new(Notify::new());
    let victim_used = Arc::new(AtomicBool::new(false));
    // The batch the victim got: the leases it held run out once a redelivery has met them.
    let killed_batch: Arc<std::sync::Mutex<Vec<Message>>> = Arc::default();
    // The killer returns the victim's log lines it read; the rest are read at the end.
    let killer = {
        let victim = Arc::clone(&instances[0]);
        let taken = Arc::clone(&victim_taken);
        let killed_batch = Arc::clone(&killed_batch);
        let twilio = twilio.clone();
        let conversation = conversations[1].seed.conversation.clone();
        tokio::spawn(async move {
            taken.notified().await;
            // The batch's other conversations: their turns.
            let mut lanes: HashMap<String, Vec<String>> = HashMap::new();
            for message in flexlex::lock(&killed_batch).iter() {
                let job = Job::from_body(message.body().unwrap_or_default()).expect("a job");
                if job.conversation().as_str() != conversation.as_str() {
                    lanes
                        .entry(job.conversation().to_string())
                        .or_default()
                        .push(job.key().to_string());
                }
            }
            // Killed once the bot has answered and the answer is recorded, the reply in Twilio's
            // hands (stored, its answer held back by the fault), and the batch's other turns
            // are over (each logged its outcome; a failed one ends its conversation's lane): no
            // other turn dies between asking the bot and recording its answer.
            let mut function = victim.function.lock().await;
            let mut lines = Vec::new();
            let mut outcomes: HashMap<String, String> = HashMap::new();
            let started = Instant::now();
            loop {
                while let Ok(line) = function.lines.try_recv() {
                    if let Ok(parsed) = serde_json::from_str::<Value>(&line)
                        && parsed["message"] == "event handled"
                        && let (Some(message), Some(outcome)) =
                            (parsed["messageSid"].as_str(), parsed["outcome"].as_str())
                    {
                        outcomes.insert(message.to_owned(), outcome.to_owned());
                    }
                    lines.push(line);
                }
                let replied = twilio
                    .messages(&conversation)
                    .iter()
                    .any(|(author, _)| author == "Lex");
                let others_over = lanes.values().all(|turns| {
                    turns.iter().all(|m| outcomes.contains_key(m))
                        || turns
                            .iter()
                            .any(|m| outcomes.get(m).is_some_and(|o| o.starts_with("failed")))
                });
                if replied && others_over {
                    break;
                }
                assert!(
                    started.elapsed() < Duration::from_secs(30),
                    "the victim posts its reply and ends its other turns"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            victim.alive.store(false, Ordering::SeqCst);
            let _ = function.child.kill().await;
            drop(function);
            victim.killed.notify_one();
            lines
        })
    };

    // API Gateway: each conversation's burst on instances 1..=3, 20% duplicated elsewhere.
    let mut rng = StdRng::seed_from_u64(0x5EED);
    let duplicates = Arc::new(AtomicUsize::new(0));
    let mut intakes = Vec::new();
    for (i, conversation) in conversations.iter().enumerate() {
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
        // The burst's webhooks reach intake in a shuffled order, 25 ms apart, side by side:
        // a later message can be enqueued first, and Twilio's Index decides. Conversation 1's,
        // where an instance is killed in its first turn, come one after the other.
        let mut order: Vec<usize> = (0..3).collect();
        let crash = i == 1;
        if !crash {
            order.shuffle(&mut rng);
        }
        let conversation = Arc::clone(conversation);
        let instances = instances.clone();
        let duplicates = Arc::clone(&duplicates);
        intakes.push(tokio::spawn(async move {
            let sends = order.into_iter().enumerate().map(|(slot, k)| {
                let (first, duplicate) = picks[k];
                let event = signed(&url(), &conversation.params[k]);
                let instances = instances.clone();
                let duplicates = Arc::clone(&duplicates);
                async move {
                    tokio::time::sleep(Duration::from_millis(25 * slot as u64)).await;
                    let original = instances[first].invoke(
                        event.clone(),
                        INTAKE_BUDGET,
                        Duration::from_secs(30),
                    );
                    match duplicate {
                        Some((other, 0)) => {
                            duplicates.fetch_add(1, Ordering::SeqCst);
                            let copy = instances[other].invoke(
                                event,
                                INTAKE_BUDGET,
                                Duration::from_secs(30),
                            );
                            let (a, b) = tokio::join!(original, copy);
                            assert_eq!(a, Some(InvocationResult::Response(Value::Null)));
                            assert_eq!(b, Some(InvocationResult::Response(Value::Null)));
                            None
                        }
                        Some((other, delay)) => {
                            assert_eq!(
                                original.await,
                                Some(InvocationResult::Response(Value::Null))
                            );
                            Some((other, delay, event))
                        }
                        None => {
                            assert_eq!(
                                original.await,
                                Some(InvocationResult::Response(Value::Null))
                            );
                            None
                        }
                    }
                }
            });
            let mut later = Vec::new();
            if crash {
                for send in sends {
                    later.extend(send.await);
                }
            } else {
                later.extend(futures::future::join_all(sends).await.into_iter().flatten());
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
    // Batches received and not yet settled or handed back, across both pollers.
    let in_flight = Arc::new(AtomicUsize::new(0));
    // Two ways moto hands out a group's messages out of order, which SQS never does:
    // - its ReceiveMessage takes no lock: two receives at once can each hand out a message of the
    //   same group. The pollers take turns receiving, as Lambda's do.
    // - when a batch's visibility timeout runs out, a receive takes its messages back one at a
    //   time, each time checking whether the group still has messages in flight: the earlier ones
    //   are skipped for the later ones still pending, and the last one goes out alone. So the
    //   queue's timeout is longer than the test, and the pollers hand a failed or unanswered
    //   batch's remaining messages back themselves, at once, in one request, between receives:
    //   the visibility timeout, run out.
    let receiving = Arc::new(Mutex::new(()));
    for _ in 0..2 {
        let poller = Arc::new(Poller::new(&moto.sdk, &queue));
        let receiving = Arc::clone(&receiving);
        let instances = instances.clone();
        let intake_done = Arc::clone(&intake_done);
        let next = Arc::clone(&next);
        let in_flight = Arc::clone(&in_flight);
        let killed_batch = Arc::clone(&killed_batch);
        let (dynamodb, table) = (dynamodb.clone(), table.clone());
        let victim_conversation = victim_conversation.clone();
        let victim_taken = Arc::clone(&victim_taken);
        let victim_used = Arc::clone(&victim_used);
        pollers.push(tokio::spawn(async move {
            loop {
                let batch = {
                    let _turn = receiving.lock().await;
                    let batch = poller.receive(10).await;
                    if !batch.is_empty() {
                        in_flight.fetch_add(1, Ordering::SeqCst);
                    }
                    batch
                };
                if batch.is_empty() {
                    // Done when intake is over, nothing is visible and no batch is out: a
                    // failed record is handed back before its batch stops counting.
                    if intake_done.load(Ordering::SeqCst) && in_flight.load(Ordering::SeqCst) == 0 {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
                let holds_victim = batch
                    .iter()
                    .any(|m| m.body().is_some_and(|b| b.contains(&victim_conversation)));
                let victim = holds_victim && !victim_used.swap(true, Ordering::SeqCst);
                let instance = if victim {
                    *flexlex::lock(&killed_batch) = batch.clone();
                    victim_taken.notify_one();
                    Arc::clone(&instances[0])
                } else {
                    let alive: Vec<_> = instances
                        .iter()
                        .filter(|i| i.alive.load(Ordering::SeqCst))
                        .cloned()
                        .collect();
                    let pick = next.fetch_add(1, Ordering::SeqCst) % alive.len();
                    Arc::clone(&alive[pick])
                };
                // Dead or failed: nothing is deleted, the batch comes back. A live instance has
                // answered well before twice its deadline.
                let answer = instance
                    .invoke(
                        lambda_event(&batch, QUEUE_ARN),
                        TURN_BUDGET,
                        2 * TURN_BUDGET,
                    )
                    .await;
                let failed: Vec<String> = match &answer {
                    Some(InvocationResult::Response(response)) => {
                        poller.settle(&batch, response).await;
                        response["batchItemFailures"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|f| f["itemIdentifier"].as_str().map(str::to_owned))
                            .collect()
                    }
                    _ => batch
                        .iter()
                        .map(|m| m.message_id().unwrap_or_default().to_owned())
                        .collect(),
                };
                if !failed.is_empty() {
                    // A record of the killed batch that failed since has met the dead
                    // delivery's lease (live deliveries give theirs up when they fail).
                    if !victim {
                        let killed: Vec<String> = flexlex::lock(&killed_batch)
                            .iter()
                            .map(|m| m.message_id().unwrap_or_default().to_owned())
                            .collect();
                        for message in batch.iter().filter(|m| {
                            let id = m.message_id().unwrap_or_default().to_owned();
                            failed.contains(&id) && killed.contains(&id)
                        }) {
                            run_out_lease(&dynamodb, &table, message.body().unwrap_or_default())
                                .await;
                        }
                    }
                    let _turn = receiving.lock().await;
                    poller.release(&batch).await;
                }
                in_flight.fetch_sub(1, Ordering::SeqCst);
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
    let mut killed_lines = killer.await.expect("the victim was killed");
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
        let read = if n == 0 {
            std::mem::take(&mut killed_lines)
        } else {
            Vec::new()
        };
        for line in read
            .into_iter()
            .chain(std::iter::from_fn(|| function.lines.try_recv().ok()))
        {
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

    // How often a later message of a burst ran first and answered the ones before it.
    let caught_up = logs
        .iter()
        .filter(|(_, l)| l["fields"]["message"] == "an earlier message answered first")
        .count();
    let reordered = logs
        .iter()
        .filter(|(_, l)| {
            l["fields"]["message"]
                == "messages before this one are not answered yet; catching up in Twilio's order"
        })
        .count();
    eprintln!("fleet: {reordered} catch-ups answered {caught_up} earlier messages first");

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
                && l["busy"] == "this_message"
                && l["busyUntilMs"].as_u64().is_some()),
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
    let (queue, _) = fifo_queue(&sqs, VISIBILITY_SECS, 10).await;
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
    let batch = poller.receive(10).await;
    assert_eq!(bodies(&batch), ["m1", "m2", "m3"]);
    // Held: within the visibility timeout, nothing comes out.
    assert!(poller.receive(10).await.is_empty());
    poller.release(&batch).await;
    assert_eq!(bodies(&poller.receive(10).await), ["m1", "m2", "m3"]);
}
