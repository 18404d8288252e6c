//! Both modes for one scenario: turns in process with in-memory state, or intake → SQS FIFO
//! → turn with DynamoDB state (moto), the test playing the SQS trigger.

use std::time::Duration;

use serde_json::Value;

use flexlex::outcome::{Outcome, Report};
use flexlex_emulators::twilio::{RecordedInteraction, SeededConversation};

use crate::helpers::{Stack, signed, url};
use crate::moto::{Moto, fifo_queue, moto, state_table};
use crate::poller::{Poller, VISIBILITY_SECS, invoke_batch};

const QUEUE_ARN: &str = "arn:aws:sqs:us-east-1:123456789012:order.fifo";

pub struct Harness {
    pub stack: Stack,
    /// The queue and table, or `None`: turns run in process.
    aws: Option<(Poller, Moto)>,
    /// The queue's URL and the table's name.
    names: Option<(String, String)>,
}

impl Harness {
    pub async fn in_process(settings: &[(&str, &str)]) -> Self {
        Self {
            stack: Stack::start_with(settings).await,
            aws: None,
            names: None,
        }
    }

    pub async fn on_aws(test: &str, settings: &[(&str, &str)]) -> Option<Self> {
        let moto = moto(test).await?;
        let sqs = aws_sdk_sqs::Client::new(&moto.sdk);
        let (queue, _dlq) = fifo_queue(&sqs, VISIBILITY_SECS, 5).await;
        let table = state_table(&aws_sdk_dynamodb::Client::new(&moto.sdk)).await;
        let stack = Stack::on_aws_with(settings, &moto.sdk, &queue, &table).await;
        Some(Self {
            stack,
            aws: Some((Poller::new(&moto.sdk, &queue), moto)),
            names: Some((queue, table)),
        })
    }

    /// The same emulators, queue and table with other settings: a deployment reconfigured
    /// (the state stays).
    pub fn reconfigure(&mut self, settings: &[(&str, &str)]) {
        self.stack.bridge = match (&self.aws, &self.names) {
            (Some((_, moto)), Some((queue, table))) => {
                self.stack.another_bridge(settings, &moto.sdk, queue, table)
            }
            _ => self.stack.local_bridge(settings),
        };
    }

    /// An envelope (an Interactions event, a forged request) reaches intake: the report in
    /// process, `None` when it was queued; `expect` says what intake should answer on a queue.
    pub async fn deliver_envelope(&self, envelope: Value, queued: Outcome) -> Option<Report> {
        let report = self
            .stack
            .bridge
            .intake(
                envelope,
                flexlex::domain::deadline::Deadline::after(Duration::from_secs(20)),
            )
            .await;
        match self.aws {
            None => Some(report),
            Some(_) => {
                assert_eq!(report.outcome, queued);
                None
            }
        }
    }

    /// The customer writes each of `texts`: stored in Twilio, webhooks not delivered yet.
    pub fn write(&self, seed: &SeededConversation, texts: &[&str]) -> Vec<Vec<(String, String)>> {
        texts.iter().map(|t| self.stack.params(seed, t)).collect()
    }

    /// A webhook reaches intake: the turn's report in process, `None` when it was queued.
    pub async fn deliver(&self, params: &[(String, String)]) -> Option<Report> {
        let report = self.stack.intake(signed(&url(), params)).await;
        match self.aws {
            None => Some(report),
            Some(_) => {
                assert_eq!(report.outcome, Outcome::Enqueued);
                None
            }
        }
    }

    /// Runs what the queue holds, as the SQS trigger would, until it is empty.
    pub async fn settle(&self) {
        let Some((poller, _)) = &self.aws else {
            return;
        };
        loop {
            let batch = poller.receive(10).await;
            if batch.is_empty() {
                return;
            }
            let response = invoke_batch(&self.stack.bridge, &batch, QUEUE_ARN).await;
            assert_eq!(response["batchItemFailures"], Value::Array(Vec::new()));
            poller.settle(&batch, &response).await;
        }
    }

    /// `GET …/Messages` requests for the conversation.
    pub fn listings(&self, seed: &SeededConversation) -> usize {
        self.stack
            .twilio
            .requests()
            .iter()
            .filter(|r| r.method == "GET")
            .filter(|r| r.path.ends_with(&format!("{}/Messages", seed.conversation)))
            .count()
    }

    /// The Interactions created for `seed`'s conversation.
    pub fn interactions(&self, seed: &SeededConversation) -> Vec<RecordedInteraction> {
        self.stack
            .twilio
            .interactions()
            .into_iter()
            .filter(|i| i.channel["properties"]["media_channel_sid"] == seed.conversation.as_str())
            .collect()
    }

    /// Delivers one webhook and runs its turn.
    pub async fn turn(&self, params: &[(String, String)]) -> Option<Report> {
        let report = self.deliver(params).await;
        self.settle().await;
        report
    }
}
