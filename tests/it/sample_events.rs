//! `events/` for a local run (`cargo lambda invoke --data-file events/…`, docs/deploy.md):
//! each webhook sample meets the fate the docs promise under the settings `flexlex emulators`
//! prints, and `turn-batch.json` is exactly the SQS batch the turn role gets once intake has
//! queued `order-flowers.json`. `FLEXLEX_BLESS=1 cargo test --test it sample_events::` rewrites
//! it (the webhook samples are Velocity renderings: `vtl::` rewrites those).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use flexlex::app::config::Config;
use flexlex::domain::job::Job;
use flexlex::intake::admission::admit;
use flexlex::intake::gate::Gate;
use flexlex::intake::signature::Verifier;
use flexlex::outcome::{Outcome, Trace};
use flexlex_emulators::samples;

fn events() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("events")
}

fn event(name: &str) -> Value {
    let path = events().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The settings `flexlex emulators` prints, as far as admission reads them.
fn local_config() -> Config {
    let settings: HashMap<String, String> = [
        ("TWILIO_ACCOUNT_SID", samples::ACCOUNT_SID),
        ("TWILIO_AUTH_TOKEN", samples::AUTH_TOKEN),
        ("FLEX_WORKSPACE_SID", samples::WORKSPACE_SID),
        ("FLEX_WORKFLOW_SID", samples::WORKFLOW_SID),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    Config::from_settings(&settings).expect("the local settings are valid")
}

fn admitted(name: &str) -> Result<Job, Outcome> {
    let config = local_config();
    let verifier = Verifier::new(config.twilio.auth_token.clone(), None);
    let gate = Gate {
        behaviour: &config.behaviour,
        account: config.twilio.account.as_ref(),
        verifier: &verifier,
    };
    admit(&gate, event(name), None, &mut Trace::default())
}

#[test]
fn each_webhook_sample_meets_the_documented_fate() {
    let order = admitted("order-flowers.json").expect("order-flowers is admitted");
    assert_eq!(
        (order.conversation().as_str(), order.key().as_str()),
        (samples::ORDER.conversation, samples::ORDER.message)
    );
    let agent = admitted("ask-for-agent.json").expect("ask-for-agent is admitted");
    assert_eq!(
        (agent.conversation().as_str(), agent.key().as_str()),
        (samples::AGENT.conversation, samples::AGENT.message)
    );
    let outcome = |name| admitted(name).map(|_| ()).unwrap_err().to_string();
    assert_eq!(outcome("bot-echo.json"), "ignored:own_message");
    assert_eq!(outcome("forged-signature.json"), "rejected:signature");
}

/// What Lambda's SQS event source mapping hands the function for the job intake queued.
fn turn_batch(job: &Job) -> Value {
    let body = job.to_body().expect("the job encodes");
    json!({
        "Records": [{
            "messageId": "2f4e8c1a-6b3d-4e5f-9a7b-0c1d2e3f4a5b",
            "receiptHandle": "AQEBflexlexLocalSampleReceiptHandle==",
            "body": body,
            "attributes": {
                "ApproximateReceiveCount": "1",
                "SentTimestamp": "1793526030456",
                "SenderId": "AROAEXAMPLEFLEXLEX:flexlex",
                "ApproximateFirstReceiveTimestamp": "1793526030467",
                "SequenceNumber": "18890000000000000001",
                "MessageGroupId": job.conversation().as_str(),
                "MessageDeduplicationId": job.key().as_str(),
            },
            "messageAttributes": {},
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:flexlex-TurnQueue.fifo",
            "awsRegion": "us-east-1",
        }]
    })
}

#[test]
fn the_turn_batch_sample_is_the_job_intake_queues_for_order_flowers() {
    let job = admitted("order-flowers.json").expect("order-flowers is admitted");
    let mut text = serde_json::to_string_pretty(&turn_batch(&job)).expect("JSON");
    text.push('\n');
    let path = events().join("turn-batch.json");
    if std::env::var_os("FLEXLEX_BLESS").is_some() {
        std::fs::write(&path, &text).expect("write turn-batch.json");
        return;
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        current == text,
        "{} is stale; run FLEXLEX_BLESS=1 cargo test --test it sample_events::",
        path.display()
    );
    // And the turn role reads it back as that job.
    let flexlex::app::lambda::Event::Turns(batch) =
        flexlex::app::lambda::Event::classify(event("turn-batch.json"))
    else {
        panic!("turn-batch.json is an SQS batch")
    };
    let [record] = batch.records.try_into().expect("one record");
    assert_eq!(
        Job::from_body(record.body.as_deref().unwrap_or_default()),
        Ok(job)
    );
}
