//! The `flexlex` command line: `demo` plays scripted conversations through the real handler and
//! clients against the emulators, `chat` lets a person be the customer, `serve` stands in for
//! API Gateway on a local port, `emulators` starts Lex and Twilio alone for a local Lambda
//! runtime. `connect` points a Twilio address at a deployed stack and `doctor` checks one end
//! to end. The binary only parses arguments and calls [`run`].

/// `print!`/`println!` that shrug off a closed stdout (`flexlex demo | head`) instead of
/// panicking; what was not shown cannot be helped.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut stdout = std::io::stdout().lock();
        let _ = write!(stdout, $($arg)*);
        let _ = stdout.flush();
    }};
}
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

mod aws_stack;
mod chat;
mod connect;
mod demo;
mod doctor;
mod emulators;
mod local;
mod serve;
mod signing;
mod stats;
mod transcript;
mod twilio_admin;
mod webhook_url;

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub use local::{
    Action, BEHAVIOUR_SETTINGS, BotChoice, Exchange, LocalStack, SIMULATE_SIGNING_TOKEN,
    StackOptions,
};
pub use transcript::Style;

/// The exit codes, shown after every command's help.
macro_rules! exit_codes {
    () => {
        "Exit codes:
  0  success (for `demo`: every conversation ended as expected; for `doctor`: everything holds)
  1  a demo conversation deviated, Twilio refused a change, `doctor` found something to fix,
     or a runtime failure
  2  usage or configuration error (the message names the setting to fix)"
    };
}
const EXIT_CODES: &str = exit_codes!();

/// An Amazon Lex V2 bot in front of Twilio Flex Conversations, on your machine.
#[derive(Debug, Parser)]
#[command(name = "flexlex", version, after_help = EXIT_CODES, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// Colour the output: `auto` colours only a terminal, and never when NO_COLOR is set.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    /// More log detail on stderr (-v info, -vv debug). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Play scripted conversations (webchat, SMS, WhatsApp, a forged request, Lex down)
    /// through the real handler, Lex SDK client and Twilio client against local emulators.
    ///
    /// Logs go to stderr; the warnings the demo provokes on purpose are shown with -v.
    #[command(after_help = EXIT_CODES)]
    Demo,
    /// Be the customer: type messages on stdin, see the bot's replies and what it did.
    #[command(after_help = EXIT_CODES)]
    Chat(ChatArgs),
    /// A local webhook endpoint that behaves like the deployed API Gateway.
    #[command(after_help = EXIT_CODES)]
    Serve(ServeArgs),
    /// Point a Twilio Conversations address at the stack (Address Configuration API), or
    /// list the account's addresses with --list.
    #[command(after_help = EXIT_CODES)]
    Connect(ConnectArgs),
    /// Check a deployment end to end: the addresses that should reach it, a signed probe,
    /// and with --stack the stack's outputs, secret and failure queue.
    #[command(after_help = EXIT_CODES)]
    Doctor(DoctorArgs),
    /// The dashboard's figures from CloudWatch: containment, handoffs by reason, latencies,
    /// waiting turns, dead letters, signature rejections, failures by stage.
    Stats(stats::StatsArgs),
    /// Start the Lex and Twilio emulators on their own, holding the conversations of events/,
    /// and print the environment for running the Lambda binary under `cargo lambda watch`.
    #[command(after_help = EXIT_CODES)]
    Emulators(EmulatorsArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Channel {
    Web,
    Sms,
    Whatsapp,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Web => "web",
            Self::Sms => "sms",
            Self::Whatsapp => "whatsapp",
        }
    }
}

#[derive(Debug, Clone, Args)]
#[command(after_long_help = concat!(
    "Behaviour settings (HANDOFF_INTENTS, CLOSE_INTENTS, BOT_AUTHOR, ON_BOT_ERROR, BOT_ERROR_MESSAGE, \
ON_MEDIA, MEDIA_REPLY_MESSAGE, TASK_CHANNELS, DEFAULT_LOCALE, IGNORE_AUTHORS) are read from the \
environment when set. Twilio is always emulated. Type /quit or end input (Ctrl-D) to stop.\n\n",
    exit_codes!()
))]
pub struct ChatArgs {
    /// The customer's channel.
    #[arg(long, value_enum, default_value_t = Channel::Web)]
    pub channel: Channel,

    /// Talk to a real Lex V2 bot (AWS credentials as the AWS CLI finds them) instead of the
    /// emulated OrderFlowers bot.
    #[arg(long, requires_all = ["bot_id", "bot_alias_id"])]
    pub lex: bool,

    /// The Lex bot id (10 characters), with --lex.
    #[arg(long, requires = "lex")]
    pub bot_id: Option<String>,

    /// The Lex bot alias id, with --lex.
    #[arg(long, requires = "lex")]
    pub bot_alias_id: Option<String>,

    /// The Lex locale.
    #[arg(long, default_value = "en_US")]
    pub locale: String,

    /// The AWS region of the bot (default: from the AWS configuration).
    #[arg(long, requires = "lex")]
    pub region: Option<String>,
}

#[derive(Debug, Clone, Args)]
#[command(after_long_help = concat!(
    "Without --simulate the bridge is configured from the environment exactly like the Lambda \
(TWILIO_AUTH_TOKEN, TWILIO_ACCOUNT_SID or TWILIO_API_KEY_SID/TWILIO_API_KEY_SECRET, \
FLEX_WORKSPACE_SID, AWS credentials, ...). WEBHOOK_PUBLIC_URL (e.g. a tunnel's https URL) is the \
URL signatures are checked against when set; otherwise http://{Host}{path}.\n\n\
With --simulate, Lex and Twilio are emulated; one conversation per channel is seeded and printed \
on startup, with the signing token: TWILIO_AUTH_TOKEN if set, else the development token \
`flexlex-simulate-signing-token` (not a credential of anything real).\n\n",
    exit_codes!()
))]
pub struct ServeArgs {
    /// Port to listen on; 0 picks a free one (the real port is printed).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,

    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: std::net::IpAddr,

    /// Emulate Lex and Twilio instead of calling the real services.
    #[arg(long)]
    pub simulate: bool,
}

#[derive(Debug, Clone, Args)]
#[command(
    group(clap::ArgGroup::new("address").args(["sms", "whatsapp", "messenger", "address_sid"])),
    after_long_help = concat!(
    "Creates the address configuration, or updates the one that exists for the address (found by \
listing every page of them): auto-creation enabled, type webhook, method POST, filter \
onMessageAdded, and the URL with BotId, BotAliasId and LocaleId. A second run with the same \
values changes nothing and says so. It prints every field it changes (before -> after).\n\n\
Credentials are read like the Lambda reads them: TWILIO_API_KEY_SID and TWILIO_API_KEY_SECRET, \
or TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN; TWILIO_REGION, TWILIO_EDGE and \
TWILIO_CONVERSATIONS_BASE_URL are honoured.\n\n\
Webchat addresses (type chat) are created in the Flex Console (Flex > Manage > Messaging); \
--address-sid IG... points an existing one at the stack.\n\n\
With --studio-flow FW..., the address starts its conversations in that Studio flow instead \
(type studio); the flow's Make HTTP Request widget posts to --url to hand over to the bot \
(docs/studio.md).\n\n",
    exit_codes!()
))]
pub struct ConnectArgs {
    /// The stack's WebhookUrl output (its <BotId>/<BotAliasId> placeholders may stay).
    #[arg(long, required_unless_present = "list")]
    pub url: Option<String>,

    /// The Lex bot id (10 upper-case letters and digits); default: the URL's BotId.
    #[arg(long)]
    pub bot_id: Option<String>,

    /// The Lex bot alias id; default: the URL's BotAliasId.
    #[arg(long)]
    pub bot_alias_id: Option<String>,

    /// The Lex locale (LocaleId in the URL); default: the URL's, else the stack's DefaultLocale.
    #[arg(long)]
    pub locale: Option<String>,

    /// An SMS number of the account, in E.164 (+15017122661).
    #[arg(long, value_name = "+E164")]
    pub sms: Option<String>,

    /// A WhatsApp sender of the account, in E.164.
    #[arg(long, value_name = "+E164")]
    pub whatsapp: Option<String>,

    /// A Facebook Messenger page id.
    #[arg(long, value_name = "PAGE_ID")]
    pub messenger: Option<String>,

    /// An existing address configuration (IG...), e.g. a webchat address.
    #[arg(long, value_name = "IG...")]
    pub address_sid: Option<String>,

    /// The configuration's name in the Flex Console (default on create: flexlex).
    #[arg(long)]
    pub friendly_name: Option<String>,

    /// Start the address's conversations in this Studio flow (FW...) instead of the bot; the
    /// flow hands over to the bot at --url with a Make HTTP Request (docs/studio.md).
    #[arg(long, value_name = "FW...")]
    pub studio_flow: Option<String>,

    /// Register (once) the Interactions webhook on this Flex instance (GO...) that tells the
    /// stack when the agent is done, and print the INTERACTION_WEBHOOK_TTID to deploy with
    /// AFTER_AGENT=bot (docs/after-agent.md). Alone, or with an address to connect too.
    #[arg(long, value_name = "GO...", conflicts_with = "list")]
    pub after_agent: Option<String>,

    /// Print what would change; change nothing.
    #[arg(long, conflicts_with = "list")]
    pub dry_run: bool,

    /// List every address configuration and mark those that reach --url.
    #[arg(long, conflicts_with_all = ["bot_id", "bot_alias_id", "locale", "address", "friendly_name", "studio_flow"])]
    pub list: bool,
}

#[derive(Debug, Clone, Args)]
#[command(after_long_help = concat!(
    "Checks, each with what to do when it fails: the URL itself (https, no port); the address \
configurations that reach it (or the --address ones): enabled, webhook, POST, onMessageAdded, \
well-formed BotId/BotAliasId/LocaleId, the host the stack serves; a signed probe (an \
onConversationStateUpdated event, which the bridge ignores) answered 200. With --stack and AWS \
credentials: the stack's status and outputs, WebhookPublicUrl for custom domains, the Twilio \
secret's keys (values are never printed) and the failure queue's depth.\n\n\
Twilio credentials as for `connect`; the probe is signed with TWILIO_AUTH_TOKEN, or the auth \
token in the stack's secret.\n\n",
    exit_codes!()
))]
pub struct DoctorArgs {
    /// The webhook URL Twilio should call (the stack's WebhookUrl, with the bot's ids).
    #[arg(long)]
    pub url: String,

    /// An address that should reach the URL: +E164, whatsapp:+E164, messenger:PAGE_ID or IG...
    /// (repeatable). Default: every address configuration whose URL is this endpoint.
    #[arg(long, value_name = "ADDRESS")]
    pub address: Vec<String>,

    /// The CloudFormation stack to check (needs AWS credentials as the AWS CLI finds them).
    #[arg(long, value_name = "NAME")]
    pub stack: Option<String>,

    /// AWS region of the stack (default: from the AWS configuration).
    #[arg(long, requires = "stack")]
    pub region: Option<String>,

    /// Do not send the probe request.
    #[arg(long)]
    pub no_probe: bool,

    /// Check the Interactions webhook `AFTER_AGENT=bot` needs on this Flex instance (GO...).
    #[arg(long, value_name = "GO...")]
    pub after_agent: Option<String>,

    /// What signs the probe: the auth token (HMAC-SHA1), or the shared key (HMAC-SHA256 with
    /// X-Twilio-Webhooks-Signature-Settings), from TWILIO_SHARED_KEY_SECRET/_ID or the stack's
    /// secret.
    #[arg(long, value_enum, default_value = "auth-token")]
    pub sign_with: signing::SignWith,
}

#[derive(Debug, Clone, Args)]
#[command(after_long_help = concat!(
    "Prints `export` lines for the function (Lex endpoint, Twilio hosts, the account and the \
token the sample events are signed with, placeholder AWS credentials, the TaskRouter SIDs), then \
one line for each thing the function does in Twilio, until Ctrl-C. Then, in another terminal:\n\n\
  cargo lambda watch --env-file target/flexlex-local.env\n\
  cargo lambda invoke bootstrap --data-file events/order-flowers.json\n\n\
order-flowers gets the bot's question, ask-for-agent is handed to Flex, bot-echo is ignored and \
forged-signature rejected (docs/deploy.md, Running locally).\n\n",
    exit_codes!()
))]
pub struct EmulatorsArgs {
    /// The Lex emulator's port; 0 picks a free one.
    #[arg(long, default_value_t = 9101)]
    pub lex_port: u16,

    /// The Twilio emulator's port; 0 picks a free one.
    #[arg(long, default_value_t = 9102)]
    pub twilio_port: u16,

    /// Address to bind both.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: std::net::IpAddr,

    /// Also write the environment to this file, KEY=VALUE per line (cargo lambda watch
    /// --env-file).
    #[arg(long, value_name = "PATH")]
    pub env_file: Option<std::path::PathBuf>,

    /// moto's URL (moto_server -H 127.0.0.1 -p 5099): create the FIFO turn queue and the state
    /// table there and add them to the environment, so intake queues and the turn role keeps
    /// its state as deployed.
    #[arg(long, value_name = "URL")]
    pub moto: Option<String>,
}

/// Why a command did not succeed, and so the process's exit code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A setting or argument is missing or wrong: exit code 2.
    #[error("{0}")]
    Config(String),
    /// Something failed while running (I/O, an emulator, a server): exit code 1.
    #[error("{0}")]
    Runtime(String),
    /// The demo ran, but some conversation ended differently than expected: exit code 1.
    #[error("{0} expectation(s) not met")]
    Expectations(usize),
    /// `doctor` ran and found this many things to fix: exit code 1.
    #[error("{0} finding(s) to fix")]
    Findings(usize),
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Config(_) => 2,
            Self::Runtime(_) | Self::Expectations(_) | Self::Findings(_) => 1,
        }
    }
}

/// Runs a parsed command line to completion and returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    // The demo provokes warnings on purpose (a forged request, Lex down); -v shows them.
    let quiet = matches!(cli.command, Command::Demo);
    init_logging(cli.verbose, quiet);
    let style = Style::for_stdout(cli.color);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("flexlex: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Demo => demo::run(style).await,
            Command::Chat(args) => chat::run(args, style).await,
            Command::Serve(args) => serve::run(args).await,
            Command::Connect(args) => connect::run(args).await,
            Command::Doctor(args) => doctor::run(args).await,
            Command::Emulators(args) => emulators::run(args).await,
            Command::Stats(args) => stats::run(args).await,
        }
    });
    // Emulator and client tasks still parked on the runtime need not finish.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("flexlex: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// Logs go to stderr so stdout stays the transcript (or machine-readable lines for `serve`).
fn init_logging(verbose: u8, quiet: bool) {
    let default = match verbose {
        0 if quiet => "error",
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}
