//! `flexlex emulators`: the Lex and Twilio emulators on their own, holding the conversations
//! of the sample events in `events/`, for running the Lambda binary under a local runtime
//! (`cargo lambda watch`). Prints the environment the function needs (and writes it for
//! `--env-file` when asked), then shows what the function does in Twilio until stopped. With
//! `--moto`, also creates the turn queue and the state table there: the two-role path.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use aws_sdk_sqs::types::QueueAttributeName;

use crate::local::{actions_since, emulator_sdk_config};
use crate::transcript::record_lines;
use crate::{CliError, EmulatorsArgs};
use flexlex_emulators::lex::LexEmulator;
use flexlex_emulators::samples;
use flexlex_emulators::sid::Sid;
use flexlex_emulators::twilio::TwilioEmulator;

/// The queue and table `--moto` creates (names as a stack would have them, shorter).
const QUEUE_NAME: &str = "flexlex-turns.fifo";
const TABLE_NAME: &str = "flexlex-state";

/// Fixed credentials for loopback services: they check that a request is signed, not by whom.
const AWS_ACCESS_KEY_ID: &str = "AKIDFLEXLEXLOCAL";
const AWS_SECRET_ACCESS_KEY: &str = "flexlex-local";

/// How often what Twilio received is shown.
const SHOW_EVERY: Duration = Duration::from_millis(200);

pub async fn run(args: EmulatorsArgs) -> Result<(), CliError> {
    let lex = LexEmulator::start_at(SocketAddr::new(args.bind, args.lex_port))
        .await
        .map_err(|e| busy("Lex", args.lex_port, "--lex-port", &e))?;
    let account = Sid::parse("AC", samples::ACCOUNT_SID).map_err(CliError::Runtime)?;
    let twilio = TwilioEmulator::start_at(
        SocketAddr::new(args.bind, args.twilio_port),
        account,
        samples::AUTH_TOKEN.to_owned(),
    )
    .await
    .map_err(|e| busy("Twilio", args.twilio_port, "--twilio-port", &e))?;
    for sample in samples::CONVERSATIONS {
        let sids = sample.seed_sids().map_err(CliError::Runtime)?;
        twilio.create_conversation_with(sample.customer_kind(), sids);
    }

    let mut env = environment(&lex.endpoint(), &twilio.base_url());
    if let Some(moto) = &args.moto {
        env.extend(queue_and_table(moto).await?);
    }
    if let Some(path) = &args.env_file {
        let text: String = env.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
        std::fs::write(path, text)
            .map_err(|e| CliError::Runtime(format!("cannot write {}: {e}", path.display())))?;
    }

    let mut startup = String::new();
    let _ = writeln!(
        startup,
        "# Lex emulator (OrderFlowers bot {}/{}) on {}; Twilio emulator on {}",
        flexlex_emulators::lex::DEMO_BOT_ID,
        flexlex_emulators::lex::DEMO_ALIAS_ID,
        lex.endpoint(),
        twilio.base_url()
    );
    for sample in samples::CONVERSATIONS {
        let _ = writeln!(
            startup,
            "# conversation {} (customer {}) as in events/",
            sample.conversation,
            sample.author()
        );
    }
    let _ = writeln!(
        startup,
        "# the function's environment (events/ are signed for {}):",
        samples::WEBHOOK_URL
    );
    for (name, value) in &env {
        let _ = writeln!(startup, "export {name}={}", shell_quoted(value));
    }
    if let Some(path) = &args.env_file {
        let _ = writeln!(
            startup,
            "# also written to {} (cargo lambda watch --env-file)",
            path.display()
        );
    }
    startup.push_str("# ready: what the function does in Twilio shows below; Ctrl-C stops");
    outln!("{startup}");

    let mut cursor = 0;
    let mut tick = tokio::time::interval(SHOW_EVERY);
    let stop = crate::serve::shutdown_signal();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            _ = tick.tick() => {
                for line in record_lines(&actions_since(&twilio, &mut cursor)) {
                    outln!("twilio{line}");
                }
            }
        }
    }
    outln!("stopped");
    Ok(())
}

fn busy(which: &str, port: u16, flag: &str, error: &std::io::Error) -> CliError {
    CliError::Runtime(format!(
        "cannot start the {which} emulator on port {port}: {error} (choose another with {flag}, or 0 for any free port)"
    ))
}

/// What the function needs to run against the emulators and accept the sample events.
fn environment(lex: &str, twilio: &str) -> Vec<(&'static str, String)> {
    [
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", AWS_ACCESS_KEY_ID),
        ("AWS_SECRET_ACCESS_KEY", AWS_SECRET_ACCESS_KEY),
        ("AWS_ENDPOINT_URL_LEX_RUNTIME_V2", lex),
        ("TWILIO_ACCOUNT_SID", samples::ACCOUNT_SID),
        ("TWILIO_AUTH_TOKEN", samples::AUTH_TOKEN),
        ("TWILIO_CONVERSATIONS_BASE_URL", twilio),
        ("TWILIO_FLEX_BASE_URL", twilio),
        ("TWILIO_CONTENT_BASE_URL", twilio),
        ("FLEX_WORKSPACE_SID", samples::WORKSPACE_SID),
        ("FLEX_WORKFLOW_SID", samples::WORKFLOW_SID),
        ("FUNCTION_TIMEOUT_SECS", "30"),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_owned()))
    .collect()
}

/// Creates (or finds) the FIFO turn queue and the state table on moto at `endpoint`, as the
/// stack declares them, and returns the settings that point the function at them.
async fn queue_and_table(endpoint: &str) -> Result<Vec<(&'static str, String)>, CliError> {
    if !endpoint.starts_with("http://") && !endpoint.starts_with("https://") {
        return Err(CliError::Config(format!(
            "--moto `{endpoint}` must be moto's URL, e.g. http://127.0.0.1:5099"
        )));
    }
    let sdk = emulator_sdk_config(endpoint).map_err(|e| CliError::Runtime(e.to_string()))?;
    let unreachable = |what: &str, e: String| {
        CliError::Runtime(format!(
            "cannot create the {what} on moto at {endpoint}: {e} (is `moto_server -H 127.0.0.1 -p 5099` running?)"
        ))
    };
    let queue_url = aws_sdk_sqs::Client::new(&sdk)
        .create_queue()
        .queue_name(QUEUE_NAME)
        .attributes(QueueAttributeName::FifoQueue, "true")
        .attributes(QueueAttributeName::ContentBasedDeduplication, "false")
        // Six times the function's timeout, as Lambda asks of an SQS trigger's queue.
        .attributes(QueueAttributeName::VisibilityTimeout, "180")
        .send()
        .await
        .map_err(|e| {
            unreachable(
                "turn queue",
                aws_sdk_sqs::error::DisplayErrorContext(e).to_string(),
            )
        })?
        .queue_url
        .ok_or_else(|| unreachable("turn queue", "no queue URL in the answer".into()))?;
    let created = aws_sdk_dynamodb::Client::new(&sdk)
        .create_table()
        .table_name(TABLE_NAME)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(key(AttributeDefinition::builder()
            .attribute_name("pk")
            .attribute_type(ScalarAttributeType::S)
            .build())?)
        .key_schema(key(KeySchemaElement::builder()
            .attribute_name("pk")
            .key_type(KeyType::Hash)
            .build())?)
        .send()
        .await;
    match created {
        Ok(_) => {}
        // A second run against the same moto: the table is there already.
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception()) => {}
        Err(e) => {
            return Err(unreachable(
                "state table",
                aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string(),
            ));
        }
    }
    Ok(vec![
        ("AWS_ENDPOINT_URL_SQS", endpoint.to_owned()),
        ("AWS_ENDPOINT_URL_DYNAMODB", endpoint.to_owned()),
        ("TURN_QUEUE_URL", queue_url),
        ("STATE_TABLE", TABLE_NAME.to_owned()),
    ])
}

/// A key definition of the state table, built.
fn key<T>(build: Result<T, aws_sdk_dynamodb::error::BuildError>) -> Result<T, CliError> {
    build.map_err(|e| CliError::Runtime(format!("the state table's key: {e}")))
}

/// `value` as one shell word.
fn shell_quoted(value: &str) -> String {
    let plain = value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./:@%+=,".contains(c));
    if plain && !value.is_empty() {
        value.to_owned()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_quoted_only_when_the_shell_needs_it() {
        assert_eq!(
            shell_quoted("http://127.0.0.1:9101"),
            "http://127.0.0.1:9101"
        );
        assert_eq!(shell_quoted("a b"), "'a b'");
        assert_eq!(shell_quoted("it's"), r"'it'\''s'");
        assert_eq!(shell_quoted(""), "''");
    }
}
