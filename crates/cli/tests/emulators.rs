//! `flexlex emulators` as a process: the environment it prints and writes, the sample events'
//! conversations held by its Twilio emulator, and what the function does there shown as it
//! happens.

mod support;

use std::collections::BTreeMap;

use flexlex_emulators::samples;
use support::{Serve, flexlex};

/// The `export NAME=value` lines of the startup, in order.
fn exports(server: &mut Serve) -> Vec<(String, String)> {
    server.until(|l| l.starts_with("# ready"));
    server
        .seen
        .iter()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[tokio::test]
async fn the_emulators_print_the_functions_environment_and_hold_the_sample_conversations() {
    let dir = tempfile::tempdir().unwrap();
    let env_file = dir.path().join("local.env");
    let mut server = Serve::spawn(flexlex(&[
        "emulators",
        "--lex-port",
        "0",
        "--twilio-port",
        "0",
        "--env-file",
        env_file.to_str().unwrap(),
    ]));
    let exported = exports(&mut server);
    let written: Vec<(String, String)> = std::fs::read_to_string(&env_file)
        .unwrap()
        .lines()
        .map(|l| l.split_once('=').expect("KEY=VALUE"))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    assert_eq!(written, exported, "the file holds what is printed");

    let env: BTreeMap<String, String> = exported.into_iter().collect();
    let twilio = env["TWILIO_CONVERSATIONS_BASE_URL"].clone();
    let lex = env["AWS_ENDPOINT_URL_LEX_RUNTIME_V2"].clone();
    assert!(twilio.starts_with("http://127.0.0.1:"), "{twilio}");
    assert!(lex.starts_with("http://127.0.0.1:"), "{lex}");
    let fixed: BTreeMap<&str, &str> = env
        .iter()
        .filter(|(k, _)| !k.ends_with("_BASE_URL") && !k.starts_with("AWS_ENDPOINT_URL"))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        fixed,
        BTreeMap::from([
            ("AWS_ACCESS_KEY_ID", "AKIDFLEXLEXLOCAL"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_SECRET_ACCESS_KEY", "flexlex-local"),
            ("FLEX_WORKFLOW_SID", samples::WORKFLOW_SID),
            ("FLEX_WORKSPACE_SID", samples::WORKSPACE_SID),
            ("FUNCTION_TIMEOUT_SECS", "30"),
            ("TWILIO_ACCOUNT_SID", samples::ACCOUNT_SID),
            ("TWILIO_AUTH_TOKEN", samples::AUTH_TOKEN),
        ])
    );
    assert_eq!(
        (
            &env["TWILIO_FLEX_BASE_URL"],
            &env["TWILIO_CONTENT_BASE_URL"]
        ),
        (&twilio, &twilio)
    );

    // The account and token the events are signed for open the Twilio emulator, which holds
    // each sample conversation with its customer.
    let client = flexlex::adapters::http::client(Default::default()).expect("http client");
    for sample in samples::CONVERSATIONS {
        let participants: serde_json::Value = client
            .get(format!(
                "{twilio}/v1/Conversations/{}/Participants",
                sample.conversation
            ))
            .basic_auth(samples::ACCOUNT_SID, Some(samples::AUTH_TOKEN))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let participant = &participants["participants"][0];
        assert_eq!(
            (
                participant["sid"].as_str(),
                participant["messaging_binding"]["address"].as_str()
            ),
            (Some(sample.participant), Some(sample.author().as_str())),
            "{participants}"
        );
    }

    // What the function does in Twilio is shown as it happens.
    let posted = client
        .post(format!(
            "{twilio}/v1/Conversations/{}/Messages",
            samples::ORDER.conversation
        ))
        .basic_auth(samples::ACCOUNT_SID, Some(samples::AUTH_TOKEN))
        .form(&[("Author", "Lex"), ("Body", "What type of flowers?")])
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 201);
    assert_eq!(
        server.until(|l| l.starts_with("twilio ")),
        format!(
            "twilio  message {} Lex: What type of flowers?",
            samples::ORDER.conversation
        )
    );
}

#[test]
fn a_port_in_use_is_named_with_the_flag_that_changes_it() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let output = flexlex(&["emulators", "--lex-port", &port])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("cannot start the Lex emulator on port {port}"))
            && stderr.contains("--lex-port"),
        "{stderr}"
    );
}

#[test]
fn help_says_how_to_run_the_function_against_them() {
    let output = flexlex(&["emulators", "--help"]).output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&output.stdout);
    for needle in [
        "cargo lambda watch --env-file",
        "--moto",
        "--lex-port",
        "Exit codes",
    ] {
        assert!(stdout.contains(needle), "missing {needle:?} in:\n{stdout}");
    }
}
