//! `flexlex serve`: a local stand-in for the deployed API Gateway. Any path takes a form POST,
//! answers 200 at once (as the asynchronous integration does) and hands the raw request, as
//! the request template would wrap it, to the bridge in the background.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use tokio::task::JoinSet;

use crate::local::{self, BotChoice, LocalStack, SIMULATE_SIGNING_TOKEN, StackOptions};
use crate::transcript::record_lines;
use crate::{Channel, CliError, ServeArgs};
use flexlex::app::bridge::Bridge;
use flexlex::app::config::Config;
use flexlex::domain::secret::Secret;
use flexlex::intake::envelope::{Envelope, Headers};
use flexlex::outcome::Report;
use flexlex_emulators::sid::random_hex;

/// Where events go: the emulated stack (one event at a time, so each event's recorded actions
/// are its own) or the real services.
enum Backend {
    Simulated(tokio::sync::Mutex<LocalStack>),
    Real(Bridge),
}

struct App {
    backend: Backend,
    /// Events still being handled; waited for on shutdown.
    tasks: Mutex<JoinSet<()>>,
}

pub async fn run(args: ServeArgs) -> Result<(), CliError> {
    let backend = if args.simulate {
        Backend::Simulated(tokio::sync::Mutex::new(simulated_stack().await?))
    } else {
        Backend::Real(real_bridge().await?)
    };
    let listener = tokio::net::TcpListener::bind(SocketAddr::new(args.bind, args.port))
        .await
        .map_err(|e| {
            CliError::Runtime(format!(
                "cannot listen on {}:{}: {e} (try another --port, or --port 0)",
                args.bind, args.port
            ))
        })?;
    let address = listener
        .local_addr()
        .map_err(|e| CliError::Runtime(format!("cannot read the bound address: {e}")))?;

    let mut startup = String::new();
    match &backend {
        Backend::Simulated(stack) => {
            let stack = stack.lock().await;
            let _ = writeln!(
                startup,
                "listening {}",
                stack.webhook_url(&format!("http://{address}/webhook"))
            );
            let _ = writeln!(startup, "account {}", stack.twilio.account_sid());
            if std::env::var_os("TWILIO_AUTH_TOKEN").is_some() {
                let _ = writeln!(startup, "signing-token from TWILIO_AUTH_TOKEN");
            } else {
                let _ = writeln!(startup, "signing-token {SIMULATE_SIGNING_TOKEN}");
            }
            for channel in [Channel::Web, Channel::Sms, Channel::Whatsapp] {
                let seeded = stack.seed(local::customer(channel, "Ada"));
                let _ = writeln!(
                    startup,
                    "conversation {} {} author {} participant {} webhook {}",
                    channel.as_str(),
                    seeded.conversation,
                    seeded.customer_author,
                    seeded.customer,
                    seeded.webhook
                );
            }
        }
        Backend::Real(_) => {
            let _ = writeln!(startup, "listening http://{address}/webhook");
        }
    }
    startup.push_str("ready");
    outln!("{startup}");

    let app = Arc::new(App {
        backend,
        tasks: Mutex::new(JoinSet::new()),
    });
    let router = axum::Router::new()
        .fallback(webhook)
        .with_state(Arc::clone(&app));
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| CliError::Runtime(format!("the server failed: {e}")))?;

    let mut in_flight = std::mem::take(&mut *flexlex::lock(&app.tasks));
    if !in_flight.is_empty() {
        eprintln!("flexlex: finishing {} event(s) in flight", in_flight.len());
    }
    while in_flight.join_next().await.is_some() {}
    outln!("stopped");
    Ok(())
}

/// The emulators with one seeded conversation per channel, signing with `TWILIO_AUTH_TOKEN`
/// or the documented development token.
async fn simulated_stack() -> Result<LocalStack, CliError> {
    let token = std::env::var("TWILIO_AUTH_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty())
        .unwrap_or_else(|| SIMULATE_SIGNING_TOKEN.to_owned());
    LocalStack::start(StackOptions {
        bot: BotChoice::Emulated,
        signing_token: Secret::new(token),
        settings: local::behaviour_from_env(),
    })
    .await
}

/// The bridge as the Lambda builds it. The Twilio settings are checked first so a missing
/// variable is reported without waiting on AWS configuration.
async fn real_bridge() -> Result<Bridge, CliError> {
    let advice = |e: flexlex::app::config::ConfigError| {
        CliError::Config(format!(
            "{e}\n  set {} (see `flexlex serve --help`), or use --simulate to try it with emulated Lex and Twilio",
            e.variable
        ))
    };
    if std::env::var_os("TWILIO_SECRET_ID").is_none() {
        Config::from_env().map_err(advice)?;
    }
    flexlex::app::compose::bridge_from_env()
        .await
        .map_err(|e| match e {
            flexlex::app::compose::InitError::Config(e) => advice(e),
            flexlex::app::compose::InitError::Http(e) => CliError::Runtime(e.to_string()),
            flexlex::app::compose::InitError::Client(e) => CliError::Runtime(e.to_string()),
        })
}

/// Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// Every path: Flex address URLs may use any.
async fn webhook(
    State(app): State<Arc<App>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if method != Method::POST {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "POST")],
            "Twilio delivers webhooks as POST requests\n",
        )
            .into_response();
    }
    if !is_form(&headers) {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "expected Content-Type: application/x-www-form-urlencoded\n",
        )
            .into_response();
    }
    let Some(host) = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| !h.is_empty())
        .map(str::to_owned)
    else {
        return (StatusCode::BAD_REQUEST, "a Host header is required\n").into_response();
    };
    let path = uri.path().to_owned();
    let query: BTreeMap<String, String> =
        form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let header_pairs = headers
        .iter()
        .filter_map(|(name, value)| {
            Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
        })
        .collect();
    let envelope = Envelope {
        body: body.to_vec(),
        headers: Headers::new(header_pairs),
        query,
        domain_name: host.clone(),
        path: path.clone(),
        request_id: random_hex(),
        stage: None,
        source_ip: None,
    };
    let public_url = format!("http://{host}{path}");
    let worker = Arc::clone(&app);
    let mut tasks = flexlex::lock(&app.tasks);
    while tasks.try_join_next().is_some() {}
    tasks.spawn(async move {
        process(&worker, envelope, &public_url).await;
    });
    StatusCode::OK.into_response()
}

async fn process(app: &App, envelope: Envelope, public_url: &str) {
    let event = envelope.to_value();
    match &app.backend {
        Backend::Simulated(stack) => {
            let mut stack = stack.lock().await;
            let exchange = stack.deliver(event, Some(public_url)).await;
            let mut out = event_line(&exchange.report);
            for line in record_lines(&exchange.actions) {
                out.push('\n');
                out.push_str(&line);
            }
            outln!("{out}");
        }
        Backend::Real(bridge) => {
            let report = bridge
                .intake_at(event, Some(public_url), local::event_deadline())
                .await;
            flexlex::app::telemetry::emit(&report, flexlex::app::telemetry::LogFormat::Text);
            outln!("{}", event_line(&report));
        }
    }
}

/// `event <outcome> conversation <CH…|-> [(<detail>)]`.
fn event_line(report: &Report) -> String {
    let conversation = report.trace.conversation.as_deref().unwrap_or("-");
    match report.outcome.detail() {
        Some(detail) => format!(
            "event {} conversation {conversation} ({detail})",
            report.outcome
        ),
        None => format!("event {} conversation {conversation}", report.outcome),
    }
}
