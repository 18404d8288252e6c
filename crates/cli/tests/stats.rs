//! `flexlex stats` as a process against moto's CloudFormation and CloudWatch: metrics put as
//! the Lambda's embedded-metric lines publish them (namespace, names and dimensions from
//! `flexlex::app::metrics`), read back as the dashboard's figures; exit 2 on bad arguments, 1
//! when CloudWatch refuses.

mod support;

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use flexlex::app::metrics as m;
use support::{Moto, flexlex, run};

const TEMPLATE: &str = r#"{
  "Resources": {
    "TurnQueue": {"Type": "AWS::SQS::Queue", "Properties": {}},
    "TurnDeadLetterQueue": {"Type": "AWS::SQS::Queue", "Properties": {}},
    "FailureQueue": {"Type": "AWS::SQS::Queue", "Properties": {}}
  },
  "Outputs": {
    "TurnQueueUrl": {"Value": {"Ref": "TurnQueue"}},
    "TurnDeadLetterQueueUrl": {"Value": {"Ref": "TurnDeadLetterQueue"}},
    "FailureQueueUrl": {"Value": {"Ref": "FailureQueue"}},
    "DashboardUrl": {"Value": "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#dashboards/dashboard/flexlex-stats"}
  }
}"#;

fn datum(name: &str, dims: &[(&str, &str)], value: f64, unit: StandardUnit) -> MetricDatum {
    let now = std::time::SystemTime::now() - std::time::Duration::from_secs(600);
    let mut d = MetricDatum::builder()
        .metric_name(name)
        .value(value)
        .unit(unit)
        .timestamp(DateTime::from(now));
    for (k, v) in dims {
        d = d.dimensions(Dimension::builder().name(*k).value(*v).build());
    }
    d.build()
}

fn stats(args: &[&str]) -> std::process::Command {
    let mut all = vec!["stats"];
    all.extend_from_slice(args);
    flexlex(&all)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_reads_the_dashboards_figures_from_cloudwatch() {
    let Some(moto) = Moto::start("stats_reads_the_dashboards_figures_from_cloudwatch") else {
        return;
    };
    let sdk = moto.sdk_config();
    aws_sdk_cloudformation::Client::new(&sdk)
        .create_stack()
        .stack_name("flexlex-stats")
        .template_body(TEMPLATE)
        .send()
        .await
        .unwrap();
    let service = [(m::SERVICE, m::NAMESPACE)];
    let count = StandardUnit::Count;
    let mut data = Vec::new();
    for _ in 0..4 {
        data.push(datum(m::CONVERSATION_STARTED, &service, 1.0, count.clone()));
    }
    for (name, n) in [
        (m::CLOSED, 2),
        (m::HANDOFF, 1),
        (m::FALLBACK_TURN, 3),
        (m::LOW_CONFIDENCE_TURN, 1),
        (m::SIGNATURE_REJECTED, 2),
    ] {
        for _ in 0..n {
            data.push(datum(name, &service, 1.0, count.clone()));
        }
    }
    data.push(datum(
        m::HANDOFF_BY_REASON,
        &[
            (m::SERVICE, m::NAMESPACE),
            (m::HANDOFF_REASON, "escalation_fallbacks"),
        ],
        1.0,
        count.clone(),
    ));
    data.push(datum(
        m::FAILED_BY_STAGE,
        &[(m::SERVICE, m::NAMESPACE), (m::STAGE, "reply")],
        1.0,
        count.clone(),
    ));
    for ms in [120.0, 180.0, 900.0] {
        data.push(datum(
            m::LEX_LATENCY,
            &service,
            ms,
            StandardUnit::Milliseconds,
        ));
    }
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&sdk);
    cloudwatch
        .put_metric_data()
        .namespace(m::NAMESPACE)
        .set_metric_data(Some(data))
        .send()
        .await
        .unwrap();

    let mut command = stats(&["--stack", "flexlex-stats", "--since", "24h"]);
    moto.env(&mut command);
    let ran = run(command).await;
    println!("flexlex stats output:\n{}", ran.stdout);
    assert_eq!(ran.code, Some(0), "{}", ran.all());
    for line in [
        "flexlex stats flexlex-stats, the last 24h",
        "conversations taken by the bot  4",
        "closed by the bot               2",
        "handed off                      1",
        "containment                     75.0%",
        "handoffs by reason              escalation_fallbacks 1",
        "fallback turns                  3",
        "low-confidence turns            1",
        "signature rejections            2",
        "failures by stage               reply 1",
        "turn dead-letter queue (most)   0",
        "dashboard                       https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#dashboards/dashboard/flexlex-stats",
    ] {
        assert!(
            ran.stdout.contains(line),
            "missing `{line}` in\n{}",
            ran.stdout
        );
    }
    assert!(
        ran.stdout.contains("Lex latency p50 / p99"),
        "{}",
        ran.stdout
    );
    // moto computes no percentiles: the latency line says "-" and stderr says why; nothing
    // else is refused.
    assert!(!ran.stderr.contains("refused"), "{}", ran.stderr);
    let lex = ran
        .stdout
        .lines()
        .find(|l| l.starts_with("Lex latency p50 / p99"))
        .unwrap_or_default();
    assert!(lex.ends_with("- / -") || lex.ends_with(" ms"), "{lex}");

    // CloudWatch refuses (nothing listens where it is sent): exit 1, said on stderr.
    let mut command = stats(&["--stack", "flexlex-stats"]);
    moto.env(&mut command)
        .env("AWS_ENDPOINT_URL_CLOUDWATCH", "http://127.0.0.1:9")
        .env("AWS_MAX_ATTEMPTS", "1");
    let ran = run(command).await;
    assert_eq!(ran.code, Some(1), "{}", ran.all());
    assert!(
        ran.stderr.contains("CloudWatch refused GetMetricData"),
        "{}",
        ran.stderr
    );

    // An unknown stack: CloudFormation refuses, exit 1.
    let mut command = stats(&["--stack", "no-such-stack"]);
    moto.env(&mut command);
    let ran = run(command).await;
    assert_eq!(ran.code, Some(1), "{}", ran.all());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_arguments_exit_2() {
    for args in [
        vec!["--stack", "s", "--since", "5x"],
        vec!["--stack", "s", "--since", "0m"],
        vec!["--since", "24h"],
        vec!["--stack"],
    ] {
        let ran = run(stats(&args)).await;
        assert_eq!(ran.code, Some(2), "{args:?}: {}", ran.all());
    }
}
