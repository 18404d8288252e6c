//! `flexlex stats --stack NAME [--since 24h]`: the dashboard's figures in the terminal, read
//! from CloudWatch with one `GetMetricData` over the whole window (one period), plus the
//! dashboard's console URL from the stack's outputs. The metric names and dimensions are the
//! product's own (`flexlex::app::metrics`), so the terminal and the dashboard cannot disagree.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};
use clap::Args;
use flexlex::app::metrics as m;

use crate::CliError;

#[derive(Debug, Clone, Args)]
#[command(after_long_help = concat!(
    "Prints, for the window: conversations taken by the bot, closed by it, handed off, the \
containment rate (taken and not handed off), handoffs by reason, fallback and low-confidence \
turns, Lex and Twilio latency p50/p99, the oldest waiting turn, the dead-letter and failure \
queues, signature rejections and failures by stage; then the dashboard's URL. AWS credentials \
as the AWS CLI finds them (cloudformation:DescribeStacks, cloudwatch:GetMetricData).\n\n",
    "Exit codes:\n  0  the figures were printed\n  1  CloudFormation or CloudWatch refused or failed\n  2  usage error (a bad --since, no region)"
))]
pub struct StatsArgs {
    /// The CloudFormation stack (its outputs name the queues and the dashboard).
    #[arg(long, value_name = "NAME")]
    pub stack: String,

    /// The window, ending now: minutes, hours or days (`90m`, `24h`, `7d`), 1 minute to 63 days.
    #[arg(long, default_value = "24h", value_name = "DURATION")]
    pub since: String,

    /// AWS region of the stack (default: from the AWS configuration).
    #[arg(long)]
    pub region: Option<String>,
}

/// `90m`, `24h`, `7d` → a duration; a whole number of minutes between 1 minute and 63 days
/// (what one GetMetricData period over 1-minute data may span).
pub fn parse_since(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let n: u64 = number
        .parse()
        .map_err(|_| format!("--since `{text}`: write a number and m, h or d (`24h`)"))?;
    let minutes = match unit {
        "m" => n,
        "h" => n.saturating_mul(60),
        "d" => n.saturating_mul(24 * 60),
        _ => return Err(format!("--since `{text}`: the unit is m, h or d (`24h`)")),
    };
    if !(1..=63 * 24 * 60).contains(&minutes) {
        return Err(format!("--since `{text}`: between 1m and 63d"));
    }
    Ok(Duration::from_secs(minutes * 60))
}

/// One figure to read: its query id, the metric, its non-Service dimension and statistic.
struct Figure {
    id: String,
    namespace: &'static str,
    name: &'static str,
    dimensions: Vec<(&'static str, String)>,
    stat: &'static str,
}

fn flexlex(id: &str, name: &'static str, stat: &'static str) -> Figure {
    Figure {
        id: id.to_owned(),
        namespace: m::NAMESPACE,
        name,
        dimensions: vec![(m::SERVICE, m::NAMESPACE.to_owned())],
        stat,
    }
}

fn queue(id: &str, name: &'static str, queue: &str) -> Figure {
    Figure {
        id: id.to_owned(),
        namespace: "AWS/SQS",
        name,
        dimensions: vec![("QueueName", queue.to_owned())],
        stat: "Maximum",
    }
}

/// The queue's name: the last segment of its URL.
fn queue_name(url: &str) -> &str {
    url.rsplit('/').next().unwrap_or(url)
}

/// Every figure `stats` reads, for a stack whose outputs are `outputs`.
fn figures(outputs: &BTreeMap<String, String>) -> Vec<Figure> {
    let mut out = vec![
        flexlex("taken", m::CONVERSATION_STARTED, "Sum"),
        flexlex("closed", m::CLOSED, "Sum"),
        flexlex("handoff", m::HANDOFF, "Sum"),
        flexlex("fallback", m::FALLBACK_TURN, "Sum"),
        flexlex("lowconf", m::LOW_CONFIDENCE_TURN, "Sum"),
        flexlex("sigrej", m::SIGNATURE_REJECTED, "Sum"),
        flexlex("lexp50", m::LEX_LATENCY, "p50"),
        flexlex("lexp99", m::LEX_LATENCY, "p99"),
        flexlex("twp50", m::TWILIO_LATENCY, "p50"),
        flexlex("twp99", m::TWILIO_LATENCY, "p99"),
    ];
    for (i, reason) in m::HANDOFF_REASONS.iter().enumerate() {
        let mut f = flexlex(&format!("reason{i}"), m::HANDOFF_BY_REASON, "Sum");
        f.dimensions.push((m::HANDOFF_REASON, (*reason).to_owned()));
        out.push(f);
    }
    for (i, stage) in m::STAGES.iter().enumerate() {
        let mut f = flexlex(&format!("stage{i}"), m::FAILED_BY_STAGE, "Sum");
        f.dimensions.push((m::STAGE, (*stage).to_owned()));
        out.push(f);
    }
    for (id, metric, output) in [
        ("age", "ApproximateAgeOfOldestMessage", "TurnQueueUrl"),
        (
            "dlq",
            "ApproximateNumberOfMessagesVisible",
            "TurnDeadLetterQueueUrl",
        ),
        (
            "failq",
            "ApproximateNumberOfMessagesVisible",
            "FailureQueueUrl",
        ),
    ] {
        if let Some(url) = outputs.get(output) {
            out.push(queue(id, metric, queue_name(url)));
        }
    }
    out
}

fn query(f: &Figure, period: i32) -> MetricDataQuery {
    let dimensions = f
        .dimensions
        .iter()
        .map(|(k, v)| Dimension::builder().name(*k).value(v).build())
        .collect();
    let metric = Metric::builder()
        .namespace(f.namespace)
        .metric_name(f.name)
        .set_dimensions(Some(dimensions))
        .build();
    MetricDataQuery::builder()
        .id(&f.id)
        .metric_stat(
            MetricStat::builder()
                .metric(metric)
                .period(period)
                .stat(f.stat)
                .build(),
        )
        .return_data(true)
        .build()
}

/// The figures' values over the window: a sum adds the periods, a maximum or percentile keeps
/// the largest; no datapoint is `None`.
fn combine(stat: &str, values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    Some(match stat {
        "Sum" => values.iter().sum(),
        _ => values.iter().copied().fold(f64::MIN, f64::max),
    })
}

fn count(v: Option<f64>) -> String {
    format!("{}", v.unwrap_or(0.0).round() as u64)
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{v:.0} ms"))
}

/// The report, from the values by query id (pure, for tests).
pub fn render(
    stack: &str,
    since: &str,
    values: &BTreeMap<String, Option<f64>>,
    dashboard: Option<&str>,
) -> String {
    let get = |id: &str| values.get(id).copied().flatten();
    let taken = get("taken").unwrap_or(0.0);
    let handoff = get("handoff").unwrap_or(0.0);
    let containment = if taken > 0.0 {
        format!("{:.1}%", 100.0 * (taken - handoff).max(0.0) / taken)
    } else {
        "- (no conversation taken)".to_owned()
    };
    let listed = |prefix: &str, labels: &[&str]| -> String {
        let parts: Vec<String> = labels
            .iter()
            .enumerate()
            .filter_map(|(i, label)| {
                let n = get(&format!("{prefix}{i}"))?;
                (n > 0.0).then(|| format!("{label} {}", count(Some(n))))
            })
            .collect();
        if parts.is_empty() {
            "none".to_owned()
        } else {
            parts.join(", ")
        }
    };
    let queue_line = |id: &str| match get(id) {
        Some(v) => count(Some(v)),
        None if values.contains_key(id) => "0".to_owned(),
        None => "- (no such output)".to_owned(),
    };
    let rows = [
        ("conversations taken by the bot", count(get("taken"))),
        ("closed by the bot", count(get("closed"))),
        ("handed off", count(get("handoff"))),
        ("containment", containment),
        ("handoffs by reason", listed("reason", &m::HANDOFF_REASONS)),
        ("fallback turns", count(get("fallback"))),
        ("low-confidence turns", count(get("lowconf"))),
        (
            "Lex latency p50 / p99",
            format!("{} / {}", ms(get("lexp50")), ms(get("lexp99"))),
        ),
        (
            "Twilio latency p50 / p99",
            format!("{} / {}", ms(get("twp50")), ms(get("twp99"))),
        ),
        (
            "oldest waiting turn",
            match get("age") {
                Some(v) => format!("{v:.0} s"),
                None => "-".to_owned(),
            },
        ),
        ("turn dead-letter queue (most)", queue_line("dlq")),
        ("intake failure queue (most)", queue_line("failq")),
        ("signature rejections", count(get("sigrej"))),
        ("failures by stage", listed("stage", &m::STAGES)),
    ];
    let mut out = format!("flexlex stats {stack}, the last {since}\n");
    for (label, value) in rows {
        out.push_str(&format!("{label:<31} {value}\n"));
    }
    out.push_str(&format!(
        "{:<31} {}\n",
        "dashboard",
        dashboard.unwrap_or("- (the stack has no DashboardUrl output: redeploy it)")
    ));
    out
}

/// Values by query id for `figures` over `window`, one period; `Err` is CloudWatch's refusal.
async fn metric_data(
    cloudwatch: &aws_sdk_cloudwatch::Client,
    figures: &[&Figure],
    period: i32,
    window: (DateTime, DateTime),
) -> Result<BTreeMap<String, Vec<f64>>, String> {
    let mut raw: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    if figures.is_empty() {
        return Ok(raw);
    }
    let mut pages = cloudwatch
        .get_metric_data()
        .set_metric_data_queries(Some(figures.iter().map(|f| query(f, period)).collect()))
        .start_time(window.0)
        .end_time(window.1)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            let e = aws_sdk_cloudwatch::error::DisplayErrorContext(&e).to_string();
            e.chars().take(300).collect::<String>()
        })?;
        for result in page.metric_data_results() {
            if let Some(id) = result.id() {
                raw.entry(id.to_owned())
                    .or_default()
                    .extend(result.values().iter().copied());
            }
        }
    }
    Ok(raw)
}

pub async fn run(args: StatsArgs) -> Result<(), CliError> {
    let window = parse_since(&args.since).map_err(CliError::Config)?;
    let sdk = flexlex::app::compose::sdk_config(args.region.clone())
        .await
        .map_err(|e| CliError::Runtime(e.to_string()))?;
    if sdk.region().is_none() {
        return Err(CliError::Config(
            "no AWS region: pass --region, or set AWS_REGION (or a profile's region)".into(),
        ));
    }
    let cloudformation = aws_sdk_cloudformation::Client::new(&sdk);
    let stack = cloudformation
        .describe_stacks()
        .stack_name(&args.stack)
        .send()
        .await
        .map_err(|e| {
            CliError::Runtime(format!(
                "CloudFormation cannot describe stack {}: {}",
                args.stack,
                aws_sdk_cloudformation::error::DisplayErrorContext(&e)
            ))
        })?;
    let outputs: BTreeMap<String, String> = stack
        .stacks()
        .first()
        .map(|s| {
            s.outputs()
                .iter()
                .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    let figures = figures(&outputs);
    let period = i32::try_from(window.as_secs()).unwrap_or(i32::MAX);
    let end = SystemTime::now();
    let start = end.checked_sub(window).unwrap_or(SystemTime::UNIX_EPOCH);
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&sdk);
    let mut values: BTreeMap<String, Option<f64>> = BTreeMap::new();
    let (counts, percentiles): (Vec<&Figure>, Vec<&Figure>) =
        figures.iter().partition(|f| !f.stat.starts_with('p'));
    let window = (DateTime::from(start), DateTime::from(end));
    // The counts and queues must be read: CloudWatch refusing them is exit 1.
    let mut raw = metric_data(&cloudwatch, &counts, period, window)
        .await
        .map_err(|e| CliError::Runtime(format!("CloudWatch refused GetMetricData: {e}")))?;
    // Percentiles are asked apart: a CloudWatch that cannot compute them (an emulator) costs
    // the latency line only, said on stderr.
    match metric_data(&cloudwatch, &percentiles, period, window).await {
        Ok(more) => raw.extend(more),
        Err(e) => eprintln!("flexlex: no latency percentiles from CloudWatch: {e}"),
    }
    for f in &figures {
        let got = raw.get(&f.id).map(Vec::as_slice).unwrap_or_default();
        values.insert(f.id.clone(), combine(f.stat, got));
    }
    outln!(
        "{}",
        render(
            &args.stack,
            &args.since,
            &values,
            outputs.get("DashboardUrl").map(String::as_str)
        )
        .trim_end()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows() {
        assert_eq!(parse_since("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_since("90m"), Ok(Duration::from_secs(5_400)));
        assert_eq!(parse_since("7d"), Ok(Duration::from_secs(604_800)));
        for bad in ["", "h", "24", "24s", "0m", "64d", "-1h", "1.5h"] {
            assert!(parse_since(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn containment_is_taken_minus_handed_off() {
        let values: BTreeMap<String, Option<f64>> = [
            ("taken", Some(8.0)),
            ("handoff", Some(2.0)),
            ("reason0", Some(1.0)),
            ("reason6", Some(1.0)),
            ("dlq", None),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let text = render("s", "24h", &values, Some("https://x"));
        assert!(
            text.contains("containment                     75.0%"),
            "{text}"
        );
        assert!(
            text.contains("handoffs by reason              intent 1, media 1"),
            "{text}"
        );
        assert!(text.contains("turn dead-letter queue (most)   0"), "{text}");
        assert!(
            text.contains("dashboard                       https://x"),
            "{text}"
        );
    }
}
