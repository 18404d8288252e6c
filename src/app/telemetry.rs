//! The one log line per event. In Lambda (JSON log format) it is a JSON object that is also a
//! CloudWatch embedded-metric document, so the alarms need no extra calls; elsewhere it is a
//! readable `tracing` event. Never carries secrets or message text.

use std::io::Write;

use serde_json::{Map, Value, json};

use crate::app::metrics as m;
use crate::outcome::{Cause, Outcome, Rejected, Report};
use crate::ports::store::StoreError;

/// CloudWatch namespace of the metrics (the stack's alarms read it).
pub const NAMESPACE: &str = m::NAMESPACE;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Text,
}

impl LogFormat {
    /// JSON when Lambda's `LoggingConfig.LogFormat` is JSON (`AWS_LAMBDA_LOG_FORMAT`).
    pub fn from_env() -> Self {
        match std::env::var("AWS_LAMBDA_LOG_FORMAT") {
            Ok(v) if v.eq_ignore_ascii_case("json") => Self::Json,
            _ => Self::Text,
        }
    }
}

fn level(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Failed(_) => "ERROR",
        Outcome::Rejected(_) => "WARN",
        _ => "INFO",
    }
}

fn millis(d: std::time::Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

/// The metric values one event contributes under [`m::SERVICE`]. Counters are published by
/// every event (0 or 1); a latency only by events that spent time there, so its percentiles
/// describe calls, not events that made none.
fn metrics(report: &Report) -> Vec<(&'static str, &'static str, f64)> {
    let o = &report.outcome;
    let t = &report.trace;
    let count = |hit: bool| if hit { 1.0 } else { 0.0 };
    let mut out = vec![
        (
            m::SIGNATURE_REJECTED,
            "Count",
            count(matches!(
                o,
                Outcome::Rejected(Rejected::Signature { .. } | Rejected::SignatureScheme { .. })
            )),
        ),
        (
            m::EVENT_FAILED,
            "Count",
            count(matches!(o, Outcome::Failed(_))),
        ),
        (
            m::HANDOFF,
            "Count",
            count(matches!(o, Outcome::HandedOff(_))),
        ),
        (m::CLOSED, "Count", count(matches!(o, Outcome::Closed(_)))),
        (m::REPLIED, "Count", count(matches!(o, Outcome::Replied))),
        (m::CONVERSATION_STARTED, "Count", count(t.first_turn)),
        (m::FALLBACK_TURN, "Count", count(t.fallback)),
        (m::LOW_CONFIDENCE_TURN, "Count", count(t.low_confidence)),
    ];
    if !t.lex.is_zero() {
        out.push((m::LEX_LATENCY, "Milliseconds", millis(t.lex)));
    }
    if !t.twilio.is_zero() {
        out.push((m::TWILIO_LATENCY, "Milliseconds", millis(t.twilio)));
    }
    out
}

/// The one metric an event publishes under a bounded dimension besides [`m::SERVICE`]: a
/// handoff by its reason, a failure by its stage.
fn dimensioned(report: &Report) -> Option<(&'static str, &'static str, &'static str)> {
    match &report.outcome {
        Outcome::HandedOff(reason) => Some((
            m::HANDOFF_BY_REASON,
            m::HANDOFF_REASON,
            m::handoff_reason(reason),
        )),
        Outcome::Failed(failure) => Some((m::FAILED_BY_STAGE, m::STAGE, m::stage(failure.stage))),
        _ => None,
    }
}

/// Why a signature was refused, as a short bounded code (`missing`, `mismatch`,
/// `unsupported_algorithm`, `body_hash_mismatch`, ...).
fn signature_check(outcome: &Outcome) -> Option<&'static str> {
    match outcome {
        Outcome::Rejected(Rejected::Signature { missing: true, .. }) => Some("missing"),
        Outcome::Rejected(Rejected::Signature { missing: false, .. }) => Some("mismatch"),
        Outcome::Rejected(Rejected::SignatureScheme { code, .. }) => Some(code),
        _ => None,
    }
}

/// The JSON log line for one event (pure, for tests).
pub fn event_line(report: &Report, timestamp_ms: u64) -> Value {
    let t = &report.trace;
    let mut line = Map::new();
    line.insert("level".into(), json!(level(&report.outcome)));
    line.insert("message".into(), json!("event handled"));
    line.insert("outcome".into(), json!(report.outcome.to_string()));
    let optional = [
        ("detail", report.outcome.detail()),
        (
            "requestId",
            Some(t.request_id.clone()).filter(|s| !s.is_empty()),
        ),
        ("conversationSid", t.conversation.clone()),
        ("messageSid", t.message.clone()),
        ("intent", t.intent.clone()),
        ("lexError", t.lex_error.clone()),
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            line.insert(key.into(), json!(value));
        }
    }
    if let Outcome::Rejected(Rejected::Signature { tried, .. }) = &report.outcome
        && !tried.is_empty()
    {
        line.insert("urlsTried".into(), json!(tried));
    }
    if let Some(check) = signature_check(&report.outcome) {
        line.insert("signatureCheck".into(), json!(check));
    }
    if let Some(scheme) = &t.signature {
        line.insert("signatureScheme".into(), json!(scheme));
    }
    if t.json_body {
        line.insert("jsonBody".into(), json!(true));
    }
    if let Outcome::Failed(failure) = &report.outcome {
        // Both halves of the Lambda error type, as fields a query can filter on.
        line.insert("errorType".into(), json!(failure.label()));
        line.insert("transient".into(), json!(failure.cause.is_transient()));
        line.insert(
            "replaySafe".into(),
            json!(failure.replay == crate::outcome::Replay::Safe),
        );
        // A busy conversation, typed: whose turn held it and until when.
        if let Cause::State(StoreError::Busy { until_ms, turn }) = &failure.cause {
            line.insert("busy".into(), json!(turn.as_str()));
            line.insert("busyUntilMs".into(), json!(until_ms));
        }
    }
    line.insert("messagesPosted".into(), json!(t.messages_posted));
    for (key, on) in [("resumed", t.resumed), ("late", t.late)] {
        if on {
            line.insert(key.into(), json!(true));
        }
    }
    if t.replies_skipped > 0 {
        line.insert("repliesSkipped".into(), json!(t.replies_skipped));
    }
    if t.state_round_trips > 0 {
        line.insert("stateMs".into(), json!(millis(t.state)));
        line.insert("stateRoundTrips".into(), json!(t.state_round_trips));
    }
    if !t.queue.is_zero() {
        line.insert("queueMs".into(), json!(millis(t.queue)));
    }
    if t.text_truncated {
        line.insert("textTruncated".into(), json!(true));
    }
    if t.choice_mapped {
        line.insert("choiceMapped".into(), json!(true));
    }
    if t.studio_webhooks_removed > 0 {
        line.insert(
            "studioWebhooksRemoved".into(),
            json!(t.studio_webhooks_removed),
        );
    }
    if t.bot_webhook_created {
        line.insert("botWebhookCreated".into(), json!(true));
    }
    for (key, n) in [
        ("cardsRich", t.cards_rich),
        ("cardsAsText", t.cards_as_text),
        ("templatesCreated", t.templates_created),
        ("twilioRoundTrips", t.twilio_round_trips),
        ("caughtUp", t.caught_up),
        ("gapSkipped", t.gap_skipped),
    ] {
        if n > 0 {
            line.insert(key.into(), json!(n));
        }
    }
    if let Some(timers) = t.timers {
        let done = match timers {
            crate::domain::timers::TimersState::Untouched => "untouched",
            crate::domain::timers::TimersState::Set => "set",
            crate::domain::timers::TimersState::Extended => "extended",
        };
        line.insert("timers".into(), json!(done));
    }
    if !t.lex.is_zero() {
        line.insert("lexMs".into(), json!(millis(t.lex)));
    }
    if !t.twilio.is_zero() {
        line.insert("twilioMs".into(), json!(millis(t.twilio)));
    }
    for (key, on) in [
        ("firstTurn", t.first_turn),
        ("fallback", t.fallback),
        ("lowConfidence", t.low_confidence),
    ] {
        if on {
            line.insert(key.into(), json!(true));
        }
    }
    line.insert("totalMs".into(), json!(millis(report.total)));

    let metrics = metrics(report);
    let definitions: Vec<Value> = metrics
        .iter()
        .map(|(name, unit, _)| json!({"Name": name, "Unit": unit}))
        .collect();
    for (name, _, value) in metrics {
        line.insert(name.into(), json!(value));
    }
    line.insert(m::SERVICE.into(), json!(NAMESPACE));
    let mut directives = vec![json!({
        "Namespace": NAMESPACE,
        "Dimensions": [[m::SERVICE]],
        "Metrics": definitions,
    })];
    if let Some((metric, dimension, label)) = dimensioned(report) {
        line.insert(dimension.into(), json!(label));
        line.insert(metric.into(), json!(1.0));
        directives.push(json!({
            "Namespace": NAMESPACE,
            "Dimensions": [[m::SERVICE, dimension]],
            "Metrics": [{"Name": metric, "Unit": "Count"}],
        }));
    }
    line.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": directives,
        }),
    );
    Value::Object(line)
}

/// Writes the event's line in the given format.
pub fn emit(report: &Report, format: LogFormat) {
    match format {
        LogFormat::Json => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0);
            let mut out = std::io::stdout().lock();
            // Logging must never fail an event; a closed stdout loses only the line.
            let _ = writeln!(out, "{}", event_line(report, now));
        }
        LogFormat::Text => {
            let t = &report.trace;
            let outcome = report.outcome.to_string();
            let detail = report.outcome.detail().unwrap_or_default();
            let conversation = t.conversation.as_deref().unwrap_or("-");
            let lex_ms = millis(t.lex);
            let twilio_ms = millis(t.twilio);
            let total_ms = millis(report.total);
            match &report.outcome {
                Outcome::Failed(failure) => {
                    let error_type = failure.label();
                    tracing::error!(%outcome, %error_type, %detail, %conversation, lex_ms, twilio_ms, total_ms, "event handled")
                }
                Outcome::Rejected(_) => {
                    tracing::warn!(%outcome, %detail, %conversation, lex_ms, twilio_ms, total_ms, "event handled")
                }
                _ => {
                    tracing::info!(%outcome, %detail, %conversation, lex_ms, twilio_ms, total_ms, "event handled")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::domain::conversation::BusyTurn;
    use crate::domain::plan::Reason;
    use crate::outcome::{Failure, Replay, Stage, Trace};

    fn report(outcome: Outcome) -> Report {
        Report {
            outcome,
            trace: Trace {
                request_id: "req-1".into(),
                conversation: Some("CH0123456789abcdef0123456789abcdef".into()),
                lex: Duration::from_micros(12_345),
                twilio: Duration::from_millis(40),
                ..Trace::default()
            },
            total: Duration::from_millis(60),
        }
    }

    #[test]
    fn line_is_an_emf_document_with_the_outcome() {
        let line = event_line(
            &report(Outcome::HandedOff(Reason::Intent("Agent".into()))),
            1_700_000_000_000,
        );
        assert_eq!(line["outcome"], "handed_off");
        assert_eq!(line["detail"], "intent:Agent");
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["Handoff"], 1.0);
        assert_eq!(line["Closed"], 0.0);
        assert_eq!(line["LexLatencyMs"], 12.345);
        assert_eq!(line["TwilioLatencyMs"], 40.0);
        let emf = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(emf["Namespace"], NAMESPACE);
        assert_eq!(emf["Dimensions"], json!([["Service"]]));
        let names: Vec<&str> = emf["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        for name in &names {
            assert!(line.get(*name).is_some(), "metric {name} has a value");
        }
        assert!(names.contains(&"SignatureRejected") && names.contains(&"EventFailed"));
    }

    #[test]
    fn rejections_and_failures_raise_the_level_and_counters() {
        let line = event_line(
            &report(Outcome::Rejected(Rejected::Signature {
                missing: false,
                tried: vec!["https://a.example/prod/webhook?BotId=X".into()],
            })),
            0,
        );
        assert_eq!(
            (line["level"].as_str(), line["SignatureRejected"].as_f64()),
            (Some("WARN"), Some(1.0))
        );
        let failure = Failure {
            stage: Stage::Reply,
            cause: Cause::Twilio(crate::ports::conversations::TwilioError::Unavailable {
                operation: "post_message",
                attempts: 5,
                last: "HTTP 503".into(),
            }),
            replay: Replay::Safe,
        };
        let line = event_line(&report(Outcome::Failed(failure)), 0);
        assert_eq!(
            (line["level"].as_str(), line["EventFailed"].as_f64()),
            (Some("ERROR"), Some(1.0))
        );
        assert_eq!(line["outcome"], "failed:reply");
        assert_eq!(line["errorType"], "Transient.ReplaySafe");
        assert_eq!(
            (line["transient"].as_bool(), line["replaySafe"].as_bool()),
            (Some(true), Some(true))
        );
        assert!(line.get("urlsTried").is_none());
    }

    #[test]
    fn a_busy_conversation_is_typed_in_the_line() {
        let busy = report(Outcome::Failed(Failure {
            stage: Stage::Claim,
            cause: Cause::State(StoreError::Busy {
                until_ms: 1_700_000_000_000,
                turn: BusyTurn::ThisMessage,
            }),
            replay: Replay::Safe,
        }));
        let line = event_line(&busy, 1);
        assert_eq!(line["outcome"], "failed:claim");
        assert_eq!(line["errorType"], "Transient.ReplaySafe");
        assert_eq!(line["busy"], "this_message");
        assert_eq!(line["busyUntilMs"], 1_700_000_000_000u64);
        let other = report(Outcome::Replied);
        assert!(event_line(&other, 1).get("busy").is_none());
    }

    #[test]
    fn bounded_dimensions_and_dashboard_counters() {
        use crate::app::metrics as m;
        use crate::domain::escalation::Escalation;
        let handoff = report(Outcome::HandedOff(Reason::Escalation(
            Escalation::Fallbacks { count: 2 },
        )));
        let line = event_line(&handoff, 1);
        assert_eq!(line["HandoffReason"], "escalation_fallbacks");
        assert_eq!(line[m::HANDOFF_BY_REASON], 1.0);
        let directives = line["_aws"]["CloudWatchMetrics"].as_array().unwrap();
        assert_eq!(directives.len(), 2);
        assert_eq!(
            directives[1]["Dimensions"],
            json!([["Service", "HandoffReason"]])
        );
        assert_eq!(directives[1]["Metrics"][0]["Name"], m::HANDOFF_BY_REASON);
        // Never the intent name or the conversation as a dimension value.
        let intent = event_line(
            &report(Outcome::HandedOff(Reason::Intent("Agent".into()))),
            1,
        );
        assert_eq!(intent["HandoffReason"], "intent");

        let failed = report(Outcome::Failed(Failure {
            stage: Stage::Interaction,
            cause: Cause::State(StoreError::Busy {
                until_ms: 1,
                turn: BusyTurn::ThisMessage,
            }),
            replay: Replay::Safe,
        }));
        let line = event_line(&failed, 1);
        assert_eq!(line["Stage"], "interaction");
        assert_eq!(line[m::FAILED_BY_STAGE], 1.0);

        let mut quiet = report(Outcome::Enqueued);
        quiet.trace.lex = Duration::ZERO;
        quiet.trace.twilio = Duration::ZERO;
        let line = event_line(&quiet, 1);
        assert!(line.get(m::LEX_LATENCY).is_none() && line.get(m::TWILIO_LATENCY).is_none());
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"].as_array().unwrap().len(),
            1
        );
        assert_eq!(line[m::CONVERSATION_STARTED], 0.0);

        let mut first = report(Outcome::Replied);
        first.trace.first_turn = true;
        first.trace.fallback = true;
        let line = event_line(&first, 1);
        assert_eq!(
            (
                line[m::CONVERSATION_STARTED].as_f64(),
                line[m::FALLBACK_TURN].as_f64()
            ),
            (Some(1.0), Some(1.0))
        );
        assert_eq!(line["lexMs"], 12.345);
        let names: Vec<&str> = line["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["Name"].as_str().unwrap())
            .collect();
        for name in &names {
            assert!(
                m::SERVICE_METRICS.contains(name),
                "{name} is listed in metrics.rs"
            );
        }
    }
}
