//! moto's server as the SQS and DynamoDB the adapters talk to, through the real AWS SDK.
//! `.ci/run` starts one and sets `FLEXLEX_MOTO_ENDPOINT`; otherwise each test starts its own
//! `moto_server` on a free loopback port. Without moto the tests say "skipped", except under
//! `CI=true`, where they fail.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use aws_sdk_sqs::types::QueueAttributeName;

use crate::helpers::loopback_sdk_config;

pub struct Moto {
    pub endpoint: String,
    pub sdk: aws_config::SdkConfig,
    child: Option<Child>,
}

impl Drop for Moto {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A moto server to use, or `None` (after saying why) when the test should be skipped.
pub async fn moto(test: &str) -> Option<Moto> {
    if let Ok(endpoint) = std::env::var("FLEXLEX_MOTO_ENDPOINT") {
        let sdk = loopback_sdk_config(&endpoint);
        return Some(Moto {
            endpoint,
            sdk,
            child: None,
        });
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let spawned = Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let child = match spawned {
        Ok(child) => child,
        Err(e) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "moto_server is required under CI=true (pip install \"moto[server]\"): {e}"
            );
            eprintln!("{test}: skipped (moto_server not available: {e})");
            return None;
        }
    };
    let endpoint = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "moto_server did not start listening on {endpoint}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let sdk = loopback_sdk_config(&endpoint);
    Some(Moto {
        endpoint,
        sdk,
        child: Some(child),
    })
}

/// A name no other test uses on a shared server.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{:016x}", rand::random::<u64>())
}

/// A FIFO queue as the stack declares it, with a FIFO dead-letter queue after
/// `max_receives`; returns (queue URL, dead-letter queue URL).
pub async fn fifo_queue(
    sqs: &aws_sdk_sqs::Client,
    visibility_secs: u32,
    max_receives: u32,
) -> (String, String) {
    let dlq = sqs
        .create_queue()
        .queue_name(format!("{}.fifo", unique("turns-dlq")))
        .attributes(QueueAttributeName::FifoQueue, "true")
        .send()
        .await
        .expect("dead-letter queue")
        .queue_url
        .expect("dlq url");
    let dlq_arn = sqs
        .get_queue_attributes()
        .queue_url(&dlq)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("dlq attributes")
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .expect("dlq arn");
    let queue = sqs
        .create_queue()
        .queue_name(format!("{}.fifo", unique("turns")))
        .attributes(QueueAttributeName::FifoQueue, "true")
        .attributes(QueueAttributeName::ContentBasedDeduplication, "false")
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            visibility_secs.to_string(),
        )
        .attributes(
            QueueAttributeName::RedrivePolicy,
            serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receives})
                .to_string(),
        )
        .send()
        .await
        .expect("turn queue")
        .queue_url
        .expect("queue url");
    (queue, dlq)
}

/// The state table as the stack declares it (partition key `pk`).
pub async fn state_table(dynamodb: &aws_sdk_dynamodb::Client) -> String {
    let name = unique("state");
    dynamodb
        .create_table()
        .table_name(&name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("attribute"),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .expect("key"),
        )
        .send()
        .await
        .expect("state table");
    name
}
