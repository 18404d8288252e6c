//! The dashboard and the Logs Insights queries in `template.yaml` name only what the code emits:
//! every flexlex metric, dimension and dimension value the dashboard plots is one the event line
//! publishes (src/app/metrics.rs), every SQS metric names a queue of the stack, and every log field
//! a query reads is a key of some event line. A rename in the code fails here, not on a blank
//! widget in production.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use flexlex::app::metrics as m;
use flexlex::app::telemetry::event_line;
use flexlex::domain::escalation::Escalation;
use flexlex::domain::plan::Reason;
use flexlex::outcome::{Failure, Outcome, Rejected, Replay, Report, Stage, Trace};
use flexlex::ports::conversations::TwilioError;
use serde_json::Value as Json;
use serde_yaml::Value;

fn template() -> Value {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("template.yaml"))
        .expect("template.yaml");
    serde_yaml::from_str(&text).expect("template.yaml is YAML")
}

/// The string under a `!Sub` tag, or a plain string.
fn sub_or_str(v: &Value) -> &str {
    match v {
        Value::Tagged(t) if t.tag == "!Sub" => t.value.as_str().expect("!Sub string"),
        Value::String(s) => s,
        other => panic!("not a string or !Sub: {other:?}"),
    }
}

fn resources_of_type<'a>(t: &'a Value, ty: &str) -> Vec<(&'a str, &'a Value)> {
    t["Resources"]
        .as_mapping()
        .expect("Resources")
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some(ty))
        .map(|(k, r)| (k.as_str().expect("name"), r))
        .collect()
}

/// Every key some event line carries: one report of each kind, with every optional part set.
fn emitted_log_fields() -> BTreeSet<String> {
    let full = Trace {
        request_id: "r".into(),
        conversation: Some("CH0".into()),
        message: Some("IM0".into()),
        intent: Some("Agent".into()),
        lex_error: Some("x".into()),
        messages_posted: 1,
        text_truncated: true,
        choice_mapped: true,
        resumed: true,
        late: true,
        replies_skipped: 1,
        cards_rich: 1,
        cards_as_text: 1,
        templates_created: 1,
        lex: Duration::from_millis(3),
        twilio: Duration::from_millis(4),
        twilio_round_trips: 1,
        caught_up: 1,
        gap_skipped: 1,
        state: Duration::from_millis(1),
        state_round_trips: 1,
        queue: Duration::from_millis(1),
        studio_webhooks_removed: 1,
        bot_webhook_created: true,
        signature: Some("auth_token".into()),
        json_body: true,
        first_turn: true,
        fallback: true,
        low_confidence: true,
        ..Trace::default()
    };
    let failure = Failure {
        stage: Stage::Reply,
        cause: flexlex::outcome::Cause::Twilio(TwilioError::Unavailable {
            operation: "post_message",
            attempts: 5,
            last: "HTTP 503".into(),
        }),
        replay: Replay::Safe,
    };
    let outcomes = [
        Outcome::Replied,
        Outcome::HandedOff(Reason::Escalation(Escalation::Fallbacks { count: 2 })),
        Outcome::Closed(Reason::Intent("OrderFlowers".into())),
        Outcome::Failed(failure),
        Outcome::Rejected(Rejected::Signature {
            missing: false,
            tried: vec!["https://h/p".into()],
        }),
        Outcome::Rejected(Rejected::SignatureScheme {
            code: "unknown_key",
            reason: "x".into(),
        }),
    ];
    let mut keys = BTreeSet::new();
    for outcome in outcomes {
        let report = Report {
            outcome,
            trace: full.clone(),
            total: Duration::from_millis(9),
        };
        let line = event_line(&report, 0);
        keys.extend(line.as_object().expect("object").keys().cloned());
    }
    keys
}

/// What the flexlex namespace publishes: metric → (its dimension names, allowed values of the
/// dimension that is not Service).
fn emitted_metrics() -> BTreeMap<&'static str, (Vec<&'static str>, Vec<&'static str>)> {
    let mut out: BTreeMap<&'static str, (Vec<&'static str>, Vec<&'static str>)> =
        m::SERVICE_METRICS
            .iter()
            .map(|name| (*name, (vec![m::SERVICE], vec![])))
            .collect();
    out.insert(
        m::HANDOFF_BY_REASON,
        (
            vec![m::SERVICE, m::HANDOFF_REASON],
            m::HANDOFF_REASONS.to_vec(),
        ),
    );
    out.insert(
        m::FAILED_BY_STAGE,
        (vec![m::SERVICE, m::STAGE], m::STAGES.to_vec()),
    );
    out
}

/// Identifiers a Logs Insights query reads as fields: string literals, regexes, commands,
/// functions, keywords and `as` aliases taken out.
fn query_fields(query: &str) -> BTreeSet<String> {
    let mut text = String::new();
    let mut quote: Option<char> = None;
    for c in query.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' || c == '/' => quote = Some(c),
            None => text.push(c),
        }
    }
    let words: Vec<&str> = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '@' || c == '.'))
        .filter(|w| !w.is_empty())
        .collect();
    let keywords = [
        "SOURCE",
        "fields",
        "filter",
        "stats",
        "sort",
        "limit",
        "by",
        "as",
        "asc",
        "desc",
        "and",
        "or",
        "not",
        "like",
        "in",
        "count",
        "ispresent",
        "avg",
        "max",
        "min",
        "sum",
        "pct",
    ];
    let aliases: BTreeSet<&str> = words
        .windows(2)
        .filter(|w| w[0] == "as")
        .map(|w| w[1])
        .collect();
    words
        .iter()
        .filter(|w| !keywords.contains(w) && !aliases.contains(*w))
        .filter(|w| !w.starts_with('@') && !w.chars().all(|c| c.is_ascii_digit()))
        .map(|w| (*w).to_owned())
        .collect()
}

#[test]
fn the_dashboard_plots_only_what_the_code_emits_and_all_of_it() {
    let t = template();
    let dashboards = resources_of_type(&t, "AWS::CloudWatch::Dashboard");
    assert_eq!(dashboards.len(), 1, "one dashboard");
    let body = sub_or_str(&dashboards[0].1["Properties"]["DashboardBody"]);
    let queues: BTreeSet<String> = resources_of_type(&t, "AWS::SQS::Queue")
        .iter()
        .map(|(name, _)| format!("${{{name}.QueueName}}"))
        .collect();
    let body: Json = serde_json::from_str(body).expect("the dashboard body is JSON");
    let emitted = emitted_metrics();
    let fields = emitted_log_fields();
    let mut plotted: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut titles = Vec::new();
    let mut sqs = BTreeSet::new();
    for widget in body["widgets"].as_array().expect("widgets") {
        let props = &widget["properties"];
        if let Some(title) = props["title"].as_str() {
            titles.push(title.to_owned());
        }
        if let Some(query) = props["query"].as_str() {
            let (source, query) = query.split_once('|').expect("SOURCE … | query");
            assert!(source.contains("${LogGroup}"), "{source}");
            for field in query_fields(query) {
                assert!(
                    fields.contains(&field),
                    "log widget reads `{field}`, which no event line has"
                );
            }
        }
        for metric in props["metrics"].as_array().into_iter().flatten() {
            let parts = metric.as_array().expect("metric array");
            let names: Vec<&str> = parts.iter().filter_map(Json::as_str).collect();
            if names.is_empty() {
                let expr = parts[0]["expression"].as_str().expect("an expression");
                assert!(!expr.is_empty());
                continue;
            }
            let (namespace, name, dims) = (names[0], names[1], &names[2..]);
            assert_eq!(dims.len() % 2, 0, "{metric}");
            let dims: Vec<(&str, &str)> = dims.chunks(2).map(|d| (d[0], d[1])).collect();
            match namespace {
                "flexlex" => {
                    let (dim_names, values) = emitted.get(name).unwrap_or_else(|| {
                        panic!("the dashboard plots {name}, which the code does not emit")
                    });
                    let names: Vec<&str> = dims.iter().map(|(k, _)| *k).collect();
                    assert_eq!(&names, dim_names, "{name}: dimensions");
                    for (k, v) in &dims {
                        if *k == m::SERVICE {
                            assert_eq!(*v, m::NAMESPACE);
                        } else {
                            assert!(values.contains(v), "{name}: {k}={v} is never emitted");
                            plotted
                                .entry(name.to_owned())
                                .or_default()
                                .insert((*v).to_owned());
                        }
                    }
                    plotted.entry(name.to_owned()).or_default();
                }
                "AWS/SQS" => {
                    assert_eq!(dims.len(), 1, "{metric}");
                    assert_eq!(dims[0].0, "QueueName");
                    assert!(
                        queues.contains(dims[0].1),
                        "{} is not a queue of the stack",
                        dims[0].1
                    );
                    sqs.insert((name.to_owned(), dims[0].1.to_owned()));
                }
                other => panic!("unexpected namespace {other}"),
            }
        }
    }
    // Everything the issue asks the dashboard to show.
    for name in [
        m::CONVERSATION_STARTED,
        m::CLOSED,
        m::HANDOFF,
        m::FALLBACK_TURN,
        m::LOW_CONFIDENCE_TURN,
        m::LEX_LATENCY,
        m::TWILIO_LATENCY,
        m::SIGNATURE_REJECTED,
    ] {
        assert!(
            plotted.contains_key(name),
            "the dashboard does not plot {name}"
        );
    }
    let reasons: BTreeSet<String> = m::HANDOFF_REASONS.iter().map(|r| (*r).to_owned()).collect();
    assert_eq!(
        plotted[m::HANDOFF_BY_REASON],
        reasons,
        "every handoff reason"
    );
    let stages: BTreeSet<String> = m::STAGES.iter().map(|r| (*r).to_owned()).collect();
    assert_eq!(plotted[m::FAILED_BY_STAGE], stages, "every stage");
    assert!(sqs.contains(&(
        "ApproximateAgeOfOldestMessage".into(),
        "${TurnQueue.QueueName}".into()
    )));
    assert!(sqs.contains(&(
        "ApproximateNumberOfMessagesVisible".into(),
        "${TurnDeadLetterQueue.QueueName}".into()
    )));
    assert!(
        body.to_string().contains("100 * (taken - handoff) / taken"),
        "containment by metric math"
    );
    assert!(titles.iter().any(|t| t.contains("Containment")));
    // The URL is an output.
    let url = sub_or_str(&t["Outputs"]["DashboardUrl"]["Value"]);
    assert!(url.contains("#dashboards/dashboard/${Dashboard}"), "{url}");
}

#[test]
fn the_queries_read_only_fields_the_event_line_has() {
    let t = template();
    let fields = emitted_log_fields();
    let queries = resources_of_type(&t, "AWS::Logs::QueryDefinition");
    let mut names = BTreeSet::new();
    for (resource, q) in &queries {
        let props = &q["Properties"];
        names.insert(sub_or_str(&props["Name"]).to_owned());
        let groups = props["LogGroupNames"].as_sequence().expect("LogGroupNames");
        assert!(
            groups.iter().all(|g| matches!(g, Value::Tagged(t) if t.tag == "!Ref" && t.value.as_str() == Some("LogGroup"))),
            "{resource}: the function's log group"
        );
        let query = props["QueryString"].as_str().expect("QueryString");
        let used = query_fields(query);
        assert!(!used.is_empty(), "{resource}");
        for field in used {
            assert!(
                fields.contains(&field),
                "{resource} reads `{field}`, which no event line has"
            );
        }
    }
    for wanted in [
        "conversation-timeline",
        "handoffs-by-reason",
        "failed-turns-by-stage",
        "slowest-turns",
    ] {
        assert!(
            names.contains(&format!("${{AWS::StackName}}/{wanted}")),
            "missing query {wanted}: {names:?}"
        );
    }
    // The checker itself: a misspelt field is caught.
    assert!(!fields.contains("conversationSID"));
    assert_eq!(
        query_fields("filter outcome = \"x\" | stats count(*) as n by conversationSID"),
        BTreeSet::from(["outcome".to_owned(), "conversationSID".to_owned()])
    );
}
