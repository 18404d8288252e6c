//! What `doctor --stack` reads from AWS: the stack's status, outputs and parameters
//! (CloudFormation `DescribeStacks`), the Twilio secret's keys (Secrets Manager
//! `GetSecretValue`; values are held as [`Secret`]s and never printed) and the depth of the
//! failure queues (SQS `GetQueueAttributes`). Clients use the product's HTTP stack and the
//! standard AWS configuration, endpoint overrides (`AWS_ENDPOINT_URL`) included.

use std::collections::BTreeMap;

use aws_sdk_sqs::types::QueueAttributeName;

use crate::CliError;
use flexlex::app::config::SECRET_KEYS;
use flexlex::domain::secret::Secret;

/// A stack as CloudFormation describes it.
#[derive(Debug, Clone, Default)]
pub struct StackFacts {
    pub status: String,
    pub outputs: BTreeMap<String, String>,
    pub parameters: BTreeMap<String, String>,
}

/// The Twilio secret's credential keys: which are filled, and the two values `doctor` uses
/// (to sign its probe and to compare accounts), never shown.
#[derive(Debug, Clone, Default)]
pub struct SecretFacts {
    /// Keys of [`SECRET_KEYS`] with a non-blank string value.
    pub filled: Vec<&'static str>,
    /// Keys present with something other than a string.
    pub not_strings: Vec<&'static str>,
    pub auth_token: Option<Secret>,
    pub account_sid: Option<String>,
    pub api_key_sid: Option<String>,
    /// The current shared key and its id, to sign a `--sign-with shared-key` probe.
    pub shared_key: Option<Secret>,
    pub shared_key_id: Option<String>,
}

impl SecretFacts {
    pub fn has(&self, key: &str) -> bool {
        self.filled.contains(&key)
    }
}

/// Messages in a queue: waiting, and received but not yet deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueDepth {
    pub visible: u64,
    pub in_flight: u64,
}

pub struct Aws {
    cloudformation: aws_sdk_cloudformation::Client,
    secrets: aws_sdk_secretsmanager::Client,
    sqs: aws_sdk_sqs::Client,
}

impl Aws {
    /// Clients from the AWS configuration the AWS CLI would use, in `region` when given.
    pub async fn new(region: Option<String>) -> Result<Self, CliError> {
        let sdk = flexlex::app::compose::sdk_config(region)
            .await
            .map_err(|e| CliError::Runtime(e.to_string()))?;
        if sdk.region().is_none() {
            return Err(CliError::Config(
                "no AWS region: pass --region, or set AWS_REGION (or a profile's region)".into(),
            ));
        }
        Ok(Self {
            cloudformation: aws_sdk_cloudformation::Client::new(&sdk),
            secrets: aws_sdk_secretsmanager::Client::new(&sdk),
            sqs: aws_sdk_sqs::Client::new(&sdk),
        })
    }

    pub async fn stack(&self, name: &str) -> Result<StackFacts, String> {
        let output = self
            .cloudformation
            .describe_stacks()
            .stack_name(name)
            .send()
            .await
            .map_err(|e| aws_sdk_cloudformation::error::DisplayErrorContext(&e).to_string())?;
        let stack = output
            .stacks()
            .first()
            .ok_or_else(|| format!("CloudFormation describes no stack named {name}"))?;
        Ok(StackFacts {
            status: stack
                .stack_status()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
            outputs: stack
                .outputs()
                .iter()
                .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())))
                .collect(),
            parameters: stack
                .parameters()
                .iter()
                .filter_map(|p| {
                    Some((
                        p.parameter_key()?.to_owned(),
                        p.parameter_value().unwrap_or_default().to_owned(),
                    ))
                })
                .collect(),
        })
    }

    /// Reads the secret and keeps only which keys hold what; an unreadable or non-JSON secret
    /// is an error whose text never contains the value.
    pub async fn secret(&self, id: &str) -> Result<SecretFacts, String> {
        let output = self
            .secrets
            .get_secret_value()
            .secret_id(id)
            .send()
            .await
            .map_err(|e| aws_sdk_secretsmanager::error::DisplayErrorContext(&e).to_string())?;
        let text = output
            .secret_string()
            .ok_or("the secret has no string value (it must hold JSON text)")?;
        let value: serde_json::Value = serde_json::from_str(text).map_err(
            |_| "the secret is not JSON (it must be a JSON object of the credential keys)",
        )?;
        let object = value
            .as_object()
            .ok_or("the secret is not a JSON object of the credential keys")?;
        let mut facts = SecretFacts::default();
        for key in SECRET_KEYS {
            match object.get(key) {
                Some(serde_json::Value::String(v)) if !v.trim().is_empty() => {
                    facts.filled.push(key);
                    match key {
                        "TWILIO_AUTH_TOKEN" => facts.auth_token = Some(Secret::new(v.trim())),
                        "TWILIO_ACCOUNT_SID" => facts.account_sid = Some(v.trim().to_owned()),
                        "TWILIO_API_KEY_SID" => facts.api_key_sid = Some(v.trim().to_owned()),
                        "TWILIO_SHARED_KEY_SECRET" => {
                            facts.shared_key = Some(Secret::new(v.trim()));
                        }
                        "TWILIO_SHARED_KEY_ID" => facts.shared_key_id = Some(v.trim().to_owned()),
                        _ => {}
                    }
                }
                Some(serde_json::Value::String(_) | serde_json::Value::Null) | None => {}
                Some(_) => facts.not_strings.push(key),
            }
        }
        Ok(facts)
    }

    pub async fn queue_depth(&self, url: &str) -> Result<QueueDepth, String> {
        let output = self
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(&e).to_string())?;
        let count = |name: QueueAttributeName| {
            output
                .attributes()
                .and_then(|a| a.get(&name))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        Ok(QueueDepth {
            visible: count(QueueAttributeName::ApproximateNumberOfMessages),
            in_flight: count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        })
    }
}

/// Outputs that name a failure or dead-letter queue (`FailureQueueUrl`, `…DeadLetterQueueUrl`,
/// `…DlqUrl`): where events the function gave up on wait for a person.
pub fn failure_queues(outputs: &BTreeMap<String, String>) -> Vec<(&str, &str)> {
    outputs
        .iter()
        .filter(|(key, _)| {
            let lower = key.to_ascii_lowercase();
            (lower.ends_with("queueurl") || lower.ends_with("dlqurl"))
                && (lower.contains("failure")
                    || lower.contains("deadletter")
                    || lower.contains("dlq"))
        })
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_queues_are_picked_by_output_name() {
        let outputs: BTreeMap<String, String> = [
            ("FailureQueueUrl", "https://q/1"),
            ("TurnQueueUrl", "https://q/2"),
            ("TurnDeadLetterQueueUrl", "https://q/3"),
            ("WebhookUrl", "https://w"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(
            failure_queues(&outputs),
            vec![
                ("FailureQueueUrl", "https://q/1"),
                ("TurnDeadLetterQueueUrl", "https://q/3")
            ]
        );
    }
}
