//! The real `bootstrap` under runtimes that send `Lambda-Runtime-Deadline-Ms` wrong: a duration
//! (Cargo Lambda's `600000`), a time long past (1970) and one decades ahead (the SAM CLI's
//! 2072). Each turn still completes, the fallback is said once per process with the value
//! seen, and the conversation's lease never reaches past the function's timeout.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;

use flexlex::domain::clock::epoch_ms;
use flexlex_emulators::lex::LexEmulator;
use flexlex_emulators::runtime::{DeadlineHeader, InvocationResult, RuntimeEmulator};
use flexlex_emulators::twilio::{
    CustomerKind, Fault, FaultKind, SeededConversation, TwilioEmulator,
};
use http::Method;

use crate::helpers::{message_params, signed, url};
use crate::lambda_process::{Function, env_for, spawn};

const WAIT: Duration = Duration::from_secs(30);

/// Fifty-six years: what a duration read as a Unix time is off by, and then some.
const DECADES: Duration = Duration::from_secs(56 * 365 * 86_400);

/// The odd headers, each as a local runtime sends it.
fn odd_headers() -> [(DeadlineHeader, &'static str); 3] {
    [
        (
            DeadlineHeader::Relative(Duration::from_secs(600)),
            "already_past",
        ),
        (DeadlineHeader::Past(DECADES), "already_past"),
        (DeadlineHeader::FarFuture(DECADES), "beyond_lambda_maximum"),
    ]
}

/// Every line the function wrote until its per-event line (the one carrying `outcome`).
async fn lines_until_event(function: &mut Function) -> (Vec<Value>, Value) {
    let mut before = Vec::new();
    loop {
        let line = tokio::time::timeout(WAIT, function.lines.recv())
            .await
            .expect("a log line")
            .expect("output open");
        let Ok(value) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        if value.get("outcome").is_some() {
            return (before, value);
        }
        before.push(value);
    }
}

/// The fallback's warning among `lines`: its fields.
fn fallbacks(lines: &[Value]) -> Vec<Value> {
    lines
        .iter()
        .filter(|l| {
            l["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("Lambda-Runtime-Deadline-Ms"))
        })
        .map(|l| {
            assert_eq!(l["level"], "WARN", "{l}");
            l["fields"].clone()
        })
        .collect()
}

fn seed(twilio: &TwilioEmulator, n: usize) -> SeededConversation {
    twilio.create_conversation(CustomerKind::Sms {
        address: format!("+1555000{n:04}"),
    })
}

#[tokio::test]
async fn turns_complete_under_odd_deadlines_and_the_fallback_is_said_once() {
    let lex = LexEmulator::start().await.unwrap();
    let twilio = TwilioEmulator::start().await.unwrap();
    let runtime = RuntimeEmulator::start().await.unwrap();
    let mut function = spawn(&runtime, &env_for(&lex, &twilio));
    assert!(runtime.wait_first_poll(WAIT).await.is_some());
    let account = twilio.account_sid().to_string();

    let mut said = Vec::new();
    for (n, (header, _)) in odd_headers().into_iter().enumerate() {
        let seeded = seed(&twilio, n);
        let event = signed(
            &url(),
            &message_params(&seeded, &account, "I would like to order flowers", 0),
        );
        // Twilio refuses the reply once: with the function's timeout standing in, there is time
        // to wait and post again (with the deadline read as 1970 there was none).
        let posts = format!("/Conversations/{}/Messages", seeded.conversation);
        twilio.push_fault(Fault::next(1, FaultKind::Unavailable).matching(Method::POST, &posts));
        let result = runtime.invoke_with_deadline(event, header, WAIT).await;
        assert_eq!(
            result,
            Some(InvocationResult::Response(Value::Null)),
            "{header:?}"
        );
        let (before, line) = lines_until_event(&mut function).await;
        assert_eq!(line["outcome"], "replied", "{header:?}: {line}");
        said.extend(fallbacks(&before));
        assert_eq!(
            twilio.messages(&seeded.conversation),
            [(
                "Lex".to_owned(),
                "What type of flowers would you like to order?\nChoose one\n1. Roses\n2. Lilies\n3. Tulips"
                    .to_owned()
            )],
            "{header:?}"
        );
        let statuses: Vec<u16> = twilio
            .requests()
            .into_iter()
            .filter(|r| r.method == "POST" && r.path.ends_with(&posts))
            .map(|r| r.status)
            .collect();
        assert_eq!(statuses, [503, 201], "{header:?}: refused once, retried");
    }
    // A real deadline after them: believed, and nothing more is said.
    let seeded = seed(&twilio, 9);
    let event = signed(&url(), &message_params(&seeded, &account, "help", 0));
    let result = runtime
        .invoke_with_deadline(event, DeadlineHeader::Lambda(Duration::from_secs(20)), WAIT)
        .await;
    assert_eq!(result, Some(InvocationResult::Response(Value::Null)));
    let (before, line) = lines_until_event(&mut function).await;
    assert_eq!(line["outcome"], "replied", "{line}");
    said.extend(fallbacks(&before));

    // Once per process, with the first value seen: Cargo Lambda's duration.
    let [first] = said.try_into().expect("one fallback line");
    assert_eq!(
        (
            &first["deadlineMs"],
            &first["reason"],
            &first["timeoutSecs"],
            &first["requestId"]
        ),
        (
            &Value::from(600_000),
            &Value::from("already_past"),
            &Value::from(30),
            &Value::from("req-00000001")
        )
    );
    let _ = function.child.kill().await;
}

#[tokio::test]
async fn a_lease_taken_under_an_odd_deadline_ends_within_the_functions_timeout() {
    let Some(moto) = crate::moto::moto("odd_deadline_lease").await else {
        return;
    };
    let dynamodb = aws_sdk_dynamodb::Client::new(&moto.sdk);
    let table = crate::moto::state_table(&dynamodb).await;
    let lex = LexEmulator::start().await.unwrap();
    let twilio = TwilioEmulator::start().await.unwrap();
    let runtime = RuntimeEmulator::start().await.unwrap();
    let mut vars = env_for(&lex, &twilio);
    // A timeout other than the default, to show the setting is the one used.
    vars.extend([
        ("STATE_TABLE", table.clone()),
        ("AWS_ENDPOINT_URL_DYNAMODB", moto.endpoint.clone()),
        ("FUNCTION_TIMEOUT_SECS", "12".to_owned()),
    ]);
    let mut function = spawn(&runtime, &vars);
    assert!(runtime.wait_first_poll(WAIT).await.is_some());
    let account = twilio.account_sid().to_string();

    for (n, (header, reason)) in odd_headers().into_iter().enumerate() {
        let seeded = seed(&twilio, n);
        let params = message_params(&seeded, &account, "I would like to order flowers", 0);
        let message = params
            .iter()
            .find(|(k, _)| k == "MessageSid")
            .map(|(_, v)| v.clone())
            .expect("a MessageSid");
        // Lex holds its answer: the turn is claimed and waits there, its lease in the table.
        lex.pause();
        let before_invoke = epoch_ms();
        let invocation = runtime.invoke_with_deadline(signed(&url(), &params), header, WAIT);
        let held = async {
            let started = Instant::now();
            while lex.busy_sessions() == 0 {
                assert!(
                    started.elapsed() < WAIT,
                    "{header:?}: the turn never asked Lex"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let item = dynamodb
                .get_item()
                .table_name(&table)
                .key("pk", AttributeValue::S(seeded.conversation.to_string()))
                .consistent_read(true)
                .send()
                .await
                .expect("the state item")
                .item
                .expect("the conversation is claimed");
            let read_at = epoch_ms();
            lex.resume();
            (item, read_at)
        };
        let (result, (item, read_at)) = tokio::join!(invocation, held);
        let number = |name: &str| -> u64 {
            item.get(name)
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("{header:?}: {name} in {item:?}"))
        };
        let (held_until, lease) = (number("held_until"), number(&format!("l_{message}")));
        assert_eq!(held_until, lease, "{header:?}");
        assert!(
            held_until > before_invoke && held_until <= read_at + 12_000,
            "{header:?}: the lease ends at {held_until}, read at {read_at}"
        );
        assert_eq!(
            result,
            Some(InvocationResult::Response(Value::Null)),
            "{header:?}"
        );
        let (before, line) = lines_until_event(&mut function).await;
        assert_eq!(line["outcome"], "replied", "{header:?}: {line}");
        let said = fallbacks(&before);
        if n == 0 {
            let [first] = said.try_into().expect("said on the first odd deadline");
            assert_eq!(
                (&first["reason"], &first["timeoutSecs"]),
                (&Value::from(reason), &Value::from(12))
            );
        } else {
            assert_eq!(said, Vec::<Value>::new(), "said once per process");
        }
    }
    let _ = function.child.kill().await;
}
