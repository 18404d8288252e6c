//! The conversation state item stays small however long the conversation runs.
//!
//! One conversation of 1,000 customer messages, in order, each answered by the OrderFlowers
//! demo bot of the Lex emulator, with the state in DynamoDB (moto) and Twilio the emulator,
//! everything reached through the real clients. Paths:
//!
//! - the first [`QUEUED_TURNS`] turns take the production path: signed webhook → intake →
//!   SQS FIFO (moto) → the Lambda's SQS handler (`app::lambda::invoke`) → DynamoDB;
//! - the rest run through intake of a second bridge over the same emulators and the same table
//!   with no queue configured, which runs each turn at once in the process — the same
//!   pipeline and the same DynamoDB store, without the SQS round trips (1,000 turns through
//!   moto's SQS take too long for the suite);
//! - the duplicate at the end goes through SQS again.
//!
//! The customer repeats "I would like to order roses" / "tomorrow" / "10:00" / "help": the bot
//! asks for the date, the time, the confirmation, then answers the help request (which drops
//! the order), so every turn is understood (no fallback, no escalation streak), no intent is
//! terminal (no handoff, no close), and the memory visits two intents over and over — its
//! bounded lists fill up.
//!
//! Sizes are DynamoDB's item size, computed from the item `GetItem` returns by the rules of
//! the DynamoDB Developer Guide, "Item sizes and formats" ([`item_size`]). A write's
//! capacity is `ceil(size / 1 KB)` of the larger of the item before and after it; a turn
//! writes three times (claim, record the answer, finish), so its write units are those of:
//! the claim (the item at rest → with the turn's claim attributes), the record (→ with the
//! answer recorded: the item's peak) and the finish (peak → at rest). The peak is read from
//! DynamoDB during a checkpoint turn, while Twilio holds the reply back.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use http::Method;

use flexlex::app::bridge::Bridge;
use flexlex::domain::conversation::{Memory, Progress};
use flexlex::domain::deadline::Deadline;
use flexlex::domain::dialog_memory::MAX_INTENTS_KEPT;
use flexlex::outcome::{Ignored, Outcome, Report};
use flexlex_emulators::twilio::{Fault, FaultKind, SeededConversation};

use crate::helpers::{Stack, signed, url};
use crate::moto::{Moto, fifo_queue, moto, state_table};
use crate::poller::{Poller, VISIBILITY_SECS, invoke_batch, lanes, run_record};

const QUEUE_ARN: &str = "arn:aws:sqs:us-east-1:123456789012:turns.fifo";

/// The customer's messages, over and over.
const SCRIPT: [&str; 4] = ["I would like to order roses", "tomorrow", "10:00", "help"];

/// Turns through SQS before the rest run in-process.
const QUEUED_TURNS: usize = 10;

/// After how many turns the item is measured.
const CHECKPOINTS: [usize; 5] = [10, 50, 100, 400, 1_000];

const TURNS: usize = 1_000;

/// Which message is delivered again at the end: far behind the window of recent keys.
const REDELIVERED: usize = 5;

type Item = HashMap<String, AttributeValue>;

/// DynamoDB's size of an item: the sum over its attributes of the name's UTF-8 bytes and the
/// value's size. Strings: UTF-8 bytes; binaries: raw bytes; numbers: about one byte per two
/// significant digits (leading and trailing zeros trimmed) plus one; booleans and null: one;
/// sets: the sum of their elements; lists and maps: three bytes, plus one byte and the size of
/// each element (a map element counts its key too).
/// <https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html>
fn item_size(item: &Item) -> usize {
    item.iter()
        .map(|(name, value)| name.len() + value_size(value))
        .sum()
}

fn value_size(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => number_size(n),
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::Ss(set) => set.iter().map(String::len).sum(),
        AttributeValue::Ns(set) => set.iter().map(|n| number_size(n)).sum(),
        AttributeValue::Bs(set) => set.iter().map(|b| b.as_ref().len()).sum(),
        AttributeValue::L(list) => 3 + list.iter().map(|v| 1 + value_size(v)).sum::<usize>(),
        AttributeValue::M(map) => {
            3 + map
                .iter()
                .map(|(k, v)| 1 + k.len() + value_size(v))
                .sum::<usize>()
        }
        other => panic!("an attribute type the state never holds: {other:?}"),
    }
}

fn number_size(n: &str) -> usize {
    let digits: String = n
        .split(['e', 'E'])
        .next()
        .unwrap_or_default()
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let significant = digits.trim_start_matches('0').trim_end_matches('0');
    significant.len().div_ceil(2) + 1
}

/// Write capacity units of one write that leaves or finds the item at `bytes`.
fn units(bytes: usize) -> usize {
    bytes.div_ceil(1024).max(1)
}

/// What a checkpoint measured.
#[derive(Debug, Clone, Copy)]
struct Measure {
    turns: usize,
    /// The item at rest, after the turn.
    at_rest: usize,
    /// The item while the turn is claimed, before its answer is recorded.
    claimed: usize,
    /// The item with the turn's answer recorded: its largest.
    peak: usize,
    /// The `memory` attribute's value, and the `recent` list's, at rest.
    memory: usize,
    recent: usize,
    /// Intents in the memory's list of intents visited.
    intents: usize,
}

impl Measure {
    /// Write units of one turn: claim (at rest → claimed), record (claimed → peak), finish
    /// (peak → at rest), each the larger of the item before and after.
    fn write_units(&self) -> usize {
        units(self.claimed) + 2 * units(self.peak)
    }
}

struct Growth {
    stack: Stack,
    /// The same pipeline and table, turns run in-process.
    direct: Bridge,
    poller: Poller,
    dynamodb: aws_sdk_dynamodb::Client,
    table: String,
    _moto: Moto,
}

impl Growth {
    async fn item(&self, seed: &SeededConversation) -> Item {
        self.dynamodb
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(seed.conversation.to_string()))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
            .expect("the conversation's item")
    }

    /// One turn through intake → SQS → the Lambda's SQS handler.
    async fn queued(&self, params: &[(String, String)]) {
        let report = self.stack.intake(signed(&url(), params)).await;
        assert_eq!(report.outcome, Outcome::Enqueued);
        let batch = self.poller.receive(10).await;
        assert_eq!(batch.len(), 1);
        let response = invoke_batch(&self.stack.bridge, &batch, QUEUE_ARN).await;
        assert_eq!(
            response["batchItemFailures"].as_array().map_or(0, Vec::len),
            0,
            "{response}"
        );
        self.poller.settle(&batch, &response).await;
    }

    /// One turn through intake of the queue-less bridge: the turn's own report.
    async fn direct(&self, params: &[(String, String)]) -> Report {
        let report = self
            .direct
            .intake(
                signed(&url(), params),
                Deadline::after(Duration::from_secs(20)),
            )
            .await;
        assert_eq!(report.outcome, Outcome::Replied, "{report:?}");
        report
    }

    /// Runs `turn` while Twilio holds the bot's reply back, and reads the item meanwhile,
    /// once the answer is recorded: the item at its largest.
    async fn peak_during<F: std::future::Future>(
        &self,
        seed: &SeededConversation,
        turn: F,
    ) -> (F::Output, Item) {
        self.stack.twilio.push_fault(
            Fault::next(1, FaultKind::Latency(Duration::from_millis(600)))
                .matching(Method::POST, &format!("{}/Messages", seed.conversation)),
        );
        let peek = async {
            for _ in 0..100 {
                let item = self.item(seed).await;
                let answered = item.iter().any(|(name, value)| {
                    name.starts_with("t_")
                        && matches!(value, AttributeValue::S(p) if p.contains("\"answered\""))
                });
                if answered {
                    return item;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            panic!("the turn's answer is recorded while Twilio holds the reply")
        };
        tokio::join!(turn, peek)
    }
}

#[tokio::test]
async fn a_thousand_turns_keep_the_state_item_small_and_an_old_duplicate_recognised() {
    let test = "a_thousand_turns_keep_the_state_item_small_and_an_old_duplicate_recognised";
    let Some(moto) = moto(test).await else {
        return;
    };
    let sqs = aws_sdk_sqs::Client::new(&moto.sdk);
    let (queue, _dlq) = fifo_queue(&sqs, VISIBILITY_SECS, 5).await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&moto.sdk);
    let table = state_table(&dynamodb).await;
    let stack = Stack::on_aws(&moto.sdk, &queue, &table).await;
    let g = Growth {
        direct: stack.direct_bridge(&moto.sdk, &table),
        poller: Poller::new(&moto.sdk, &queue),
        stack,
        dynamodb,
        table,
        _moto: moto,
    };
    let seed = g.stack.sms();
    let claimed_progress = serde_json::to_string(&Progress::Claimed).unwrap().len();

    let started = Instant::now();
    let mut redelivered = None;
    let mut measures: Vec<Measure> = Vec::new();
    let mut round_trips = Vec::new();
    // Time the in-process turns spent in DynamoDB, Lex and Twilio.
    let (mut in_state, mut in_lex, mut in_twilio) =
        (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    for turn in 1..=TURNS {
        let text = SCRIPT[(turn - 1) % SCRIPT.len()];
        let params = g.stack.params(&seed, text);
        if turn == REDELIVERED {
            redelivered = Some((params.clone(), text));
        }
        let checkpoint = CHECKPOINTS.contains(&turn);
        let queued = turn <= QUEUED_TURNS;
        let peak = match (checkpoint, queued) {
            (false, true) => {
                g.queued(&params).await;
                None
            }
            (false, false) => {
                let trace = g.direct(&params).await.trace;
                round_trips.push(trace.state_round_trips);
                in_state += trace.state;
                in_lex += trace.lex;
                in_twilio += trace.twilio;
                None
            }
            (true, true) => Some(g.peak_during(&seed, g.queued(&params)).await.1),
            (true, false) => {
                let (report, peak) = g.peak_during(&seed, g.direct(&params)).await;
                round_trips.push(report.trace.state_round_trips);
                Some(peak)
            }
        };
        if let Some(peak) = peak {
            let at_rest = g.item(&seed).await;
            assert!(
                !at_rest
                    .keys()
                    .any(|k| k.starts_with("t_") || k.starts_with("l_")),
                "a finished turn leaves nothing of itself: {at_rest:?}"
            );
            // The claim's item: the peak's, with the progress still `claimed`.
            let progress = peak
                .iter()
                .find(|(name, _)| name.starts_with("t_"))
                .map(|(_, value)| value_size(value))
                .unwrap();
            let peak_size = item_size(&peak);
            measures.push(Measure {
                turns: turn,
                at_rest: item_size(&at_rest),
                claimed: peak_size - progress + claimed_progress,
                peak: peak_size,
                memory: value_size(&at_rest["memory"]),
                recent: value_size(&at_rest["recent"]),
                intents: match &at_rest["memory"] {
                    AttributeValue::S(json) => serde_json::from_str::<Memory>(json)
                        .unwrap()
                        .dialog
                        .intents
                        .len(),
                    other => panic!("memory is JSON: {other:?}"),
                },
            });
        }
    }
    let elapsed = started.elapsed();

    // The whole conversation stayed with the bot: every message answered once, no handoff.
    let item = g.item(&seed).await;
    assert_eq!(item["status"], AttributeValue::S("bot".into()));
    assert!(g.stack.twilio.interactions().is_empty());
    let lex_calls = |g: &Growth| {
        g.stack
            .lex
            .calls()
            .iter()
            .filter(|c| c.session_id == seed.conversation.as_str() && c.status == 200)
            .count()
    };
    assert_eq!(lex_calls(&g), TURNS);
    assert_eq!(g.stack.bot_messages(&seed).len(), TURNS);
    // Every turn in-process made its three writes: claim, record, finish.
    assert!(round_trips.iter().all(|&n| n == 3), "{round_trips:?}");

    eprintln!(
        "growth: {TURNS} turns in {:.1} s ({QUEUED_TURNS} through SQS, the rest in-process: \
         {:.1} s in DynamoDB, {:.1} s in Lex, {:.1} s in Twilio), DynamoDB item sizes in bytes:",
        elapsed.as_secs_f64(),
        in_state.as_secs_f64(),
        in_lex.as_secs_f64(),
        in_twilio.as_secs_f64(),
    );
    for m in &measures {
        eprintln!(
            "growth: after {:>5} turns: at rest {:>5} (memory {:>4} with {:>2} intents, \
             recent {:>3}), claimed {:>5}, peak {:>5}; write units per turn {} ({} writes)",
            m.turns,
            m.at_rest,
            m.memory,
            m.intents,
            m.recent,
            m.claimed,
            m.peak,
            m.write_units(),
            3,
        );
    }

    let at = |turns: usize| measures.iter().find(|m| m.turns == turns).copied().unwrap();
    let (m50, m100, m400, m1000) = (at(50), at(100), at(400), at(1_000));
    assert!(
        m1000.at_rest * 4 <= m100.at_rest * 5,
        "after 1,000 turns the item is within 1.25× its size after 100: {m1000:?} {m100:?}"
    );
    assert!(
        m400.at_rest * 4 <= m50.at_rest * 5,
        "after 400 turns the item is within 1.25× its size after 50: {m400:?} {m50:?}"
    );
    // The intents visited fill their bounded list within 50 turns here; past it, nothing
    // grows but the counters' digits.
    assert_eq!(m50.intents, MAX_INTENTS_KEPT);
    assert!(
        m400.at_rest <= m100.at_rest + 16 && m1000.at_rest <= m400.at_rest + 16,
        "past 100 turns the item no longer grows: {m100:?} {m400:?} {m1000:?}"
    );
    for m in &measures {
        assert!(m.peak < 8 * 1024, "the item stays under 8 KB: {m:?}");
        assert!(m.at_rest <= m.claimed && m.claimed <= m.peak, "{m:?}");
    }
    assert!(m1000.peak * 4 <= m100.peak * 5, "{m1000:?} {m100:?}");

    // The 5th message again, 995 turns later, through the queue: recognised by the ledger's
    // mark (its key left the window of recent keys long ago), answered no second time.
    let (params, text) = redelivered.unwrap();
    let lex_before = lex_calls(&g);
    let posts_before = g.stack.bot_messages(&seed).len();
    let report = g.stack.intake(signed(&url(), &params)).await;
    assert_eq!(report.outcome, Outcome::Enqueued);
    let batch = g.poller.receive(10).await;
    assert_eq!(batch.len(), 1, "the queue took the repeat");
    let split = lanes(&batch, QUEUE_ARN);
    let report = run_record(
        &g.stack.bridge,
        &split.lanes[0].jobs[0],
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(report.outcome, Outcome::Ignored(Ignored::Duplicate));
    assert_eq!(report.trace.state_round_trips, 1);
    assert_eq!(lex_calls(&g), lex_before, "Lex is not asked {text:?} again");
    assert_eq!(g.stack.bot_messages(&seed).len(), posts_before);
    let key = params
        .iter()
        .find(|(k, _)| k == "MessageSid")
        .map(|(_, v)| v.clone())
        .unwrap();
    assert!(
        !matches!(&item["recent"], AttributeValue::L(l) if l.contains(&AttributeValue::S(key))),
        "the redelivered key is no longer among the recent ones"
    );
}
