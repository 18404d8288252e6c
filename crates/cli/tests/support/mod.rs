//! What the process tests share: the binary with a clean environment, the Twilio emulator's
//! credentials, a local `flexlex serve --simulate` (as the stack's URL for `connect` and
//! `doctor`), and moto's server for the AWS parts.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use flexlex_emulators::twilio::{RecordedRequest, TwilioEmulator};

/// Settings from the developer's environment that would change what the binary does.
const ENV_TO_CLEAR: &[&str] = &[
    "TWILIO_AUTH_TOKEN",
    "TWILIO_PREVIOUS_AUTH_TOKEN",
    "TWILIO_ACCOUNT_SID",
    "TWILIO_API_KEY_SID",
    "TWILIO_API_KEY_SECRET",
    "TWILIO_SECRET_ID",
    "TWILIO_CONVERSATIONS_BASE_URL",
    "TWILIO_FLEX_BASE_URL",
    "TWILIO_REGION",
    "TWILIO_EDGE",
    "TWILIO_CONTENT_BASE_URL",
    "FLEX_WORKSPACE_SID",
    "FLEX_WORKFLOW_SID",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "RUST_LOG",
];

/// Generous: only a hung process gets near it.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// The binary with nothing from the developer's environment that matters.
pub fn flexlex(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_flexlex"));
    command.args(args).env("NO_COLOR", "1");
    // And none of the bot's behaviour settings the tool reads.
    for name in ENV_TO_CLEAR.iter().chain(&flexlex_cli::BEHAVIOUR_SETTINGS) {
        command.env_remove(name);
    }
    // No AWS configuration files from the developer's home either.
    command
        .env("AWS_CONFIG_FILE", "/nonexistent/flexlex-test-config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/flexlex-test-credentials",
        )
        .env("AWS_EC2_METADATA_DISABLED", "true");
    command
}

/// A finished process: exit code and both streams.
#[derive(Debug)]
pub struct Ran {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    /// Both streams, for assertion messages.
    pub fn all(&self) -> String {
        format!("--- stdout\n{}--- stderr\n{}", self.stdout, self.stderr)
    }

    /// Asserts that none of `secrets` was printed on either stream.
    pub fn prints_none_of(&self, secrets: &[&str]) {
        for secret in secrets {
            assert!(!secret.is_empty());
            assert!(
                !self.stdout.contains(secret) && !self.stderr.contains(secret),
                "a secret was printed:\n{}",
                self.all()
            );
        }
    }
}

/// Runs `command` to the end off the async runtime, so the emulators keep serving meanwhile.
pub async fn run(mut command: Command) -> Ran {
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap();
    Ran {
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

/// The Twilio emulator and the API key the binary authenticates with.
pub struct Twilio {
    pub emulator: TwilioEmulator,
    pub key_sid: String,
    pub key_secret: String,
}

impl Twilio {
    pub async fn start() -> Self {
        let emulator = TwilioEmulator::start().await.unwrap();
        let (sid, secret) = emulator.add_api_key();
        Self {
            emulator,
            key_sid: sid.to_string(),
            key_secret: secret,
        }
    }

    /// REST credentials as the stack's secret holds them: the API key.
    pub fn with_api_key<'c>(&self, command: &'c mut Command) -> &'c mut Command {
        command
            .env("TWILIO_API_KEY_SID", &self.key_sid)
            .env("TWILIO_API_KEY_SECRET", &self.key_secret)
            .env("TWILIO_CONVERSATIONS_BASE_URL", self.emulator.base_url())
            .env("TWILIO_FLEX_BASE_URL", self.emulator.base_url())
    }

    /// REST credentials as the account SID and auth token.
    pub fn with_auth_token<'c>(&self, command: &'c mut Command) -> &'c mut Command {
        command
            .env(
                "TWILIO_ACCOUNT_SID",
                self.emulator.account_sid().to_string(),
            )
            .env("TWILIO_AUTH_TOKEN", self.emulator.auth_token())
            .env("TWILIO_CONVERSATIONS_BASE_URL", self.emulator.base_url())
    }

    /// Requests that change address configurations (anything but a read).
    pub fn address_writes(&self) -> Vec<RecordedRequest> {
        self.emulator
            .requests()
            .into_iter()
            .filter(|r| r.path.starts_with("/v1/Configuration/Addresses") && r.method != "GET")
            .collect()
    }

    /// The secrets that must never be printed.
    pub fn secrets(&self) -> Vec<String> {
        vec![self.key_secret.clone(), self.emulator.auth_token()]
    }
}

/// `flexlex serve --simulate` on a free port: the stand-in for the deployed stack's URL.
pub struct Serve {
    pub child: Child,
    lines: Receiver<String>,
    /// `http://127.0.0.1:PORT/webhook?BotId=FLWRSDEMO1&BotAliasId=TSTALIASID`.
    pub url: String,
    pub seen: Vec<String>,
}

impl Serve {
    /// Signs (and validates) with `token`; returns once it is ready.
    pub fn start(token: &str) -> Self {
        let mut command = flexlex(&["serve", "--simulate", "--port", "0"]);
        command.env("TWILIO_AUTH_TOKEN", token);
        let mut serve = Self::spawn(command);
        let listening = serve.until(|l| l.starts_with("listening "));
        serve.url = listening.trim_start_matches("listening ").to_owned();
        serve.until(|l| l == "ready");
        serve
    }

    /// Starts `command` (a `serve`) with its stdout read line by line; waits for nothing.
    pub fn spawn(mut command: Command) -> Self {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (send, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            url: String::new(),
            seen: Vec::new(),
        }
    }

    /// Reads lines until one satisfies `done`, and returns it.
    pub fn until(&mut self, done: impl Fn(&str) -> bool) -> String {
        loop {
            match self.lines.recv_timeout(PATIENCE) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if done(&line) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => panic!("no such line; got {:#?}", self.seen),
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("stdout closed; got {:#?}", self.seen)
                }
            }
        }
    }

    /// `http://127.0.0.1:PORT/webhook` without the query.
    pub fn base(&self) -> String {
        self.url.split('?').next().unwrap().to_owned()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// moto's server on a free loopback port, stopped when dropped.
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Moto {
    /// `None` (after printing "skipped") when `moto_server` is not installed; under `CI=true`
    /// its absence fails the test instead.
    pub fn start(test: &str) -> Option<Self> {
        let installed = Command::new("moto_server")
            .arg("--help")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !installed {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!(
                    "{test}: moto_server is required under CI=true (pip install \"moto[server]\")"
                );
            }
            println!("{test}: skipped (moto_server is not installed)");
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let moto = Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < PATIENCE, "moto_server did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(moto)
    }

    /// AWS settings for the binary: moto's endpoint, a region, test credentials.
    pub fn env<'c>(&self, command: &'c mut Command) -> &'c mut Command {
        command
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
    }

    /// The same, for clients in the test itself.
    pub fn sdk_config(&self) -> aws_config::SdkConfig {
        let credentials =
            aws_credential_types::Credentials::new("testing", "testing", None, None, "moto");
        aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(credentials),
            )
            .endpoint_url(&self.endpoint)
            .http_client(flexlex::adapters::http::SmithyHttpClient::shared(
                flexlex::adapters::http::client(Default::default()).unwrap(),
            ))
            .build()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
