//! The `flexlex` command line: `demo` plays scripted conversations through the real handler and
//! clients against the emulators, `chat` lets a person be the customer, `serve` stands in for
//! API Gateway on a local port. The binary only parses arguments and calls [`run`].

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

mod chat;
mod demo;
mod local;
mod serve;
mod transcript;

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub use local::{Action, BotChoice, Exchange, LocalStack, SIMULATE_SIGNING_TOKEN, StackOptions};
pub use transcript::Style;

/// The exit codes, shown after every command's help.
macro_rules! exit_codes {
    () => {
        "Exit codes:
  0  success (for `demo`: every conversation ended as expected)
  1  a demo conversation deviated from what was expected, or a runtime failure
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
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Config(_) => 2,
            Self::Runtime(_) | Self::Expectations(_) => 1,
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
