//! Reads `template.yaml` and checks the promises the stack makes: asynchronous delivery, intake
//! retries that stay inside the FIFO deduplication window, ordered turns on a FIFO queue with a
//! dead-letter queue, a conversation state table, a kept record of failures, least-privilege IAM,
//! alarms, API access logs, an optional customer managed KMS key used by everything that stores
//! data, every security-scan exception explained, and a VTL text that is byte for byte the one the
//! VTL proof renders.

use std::collections::BTreeMap;
use std::path::Path;

use serde_yaml::{Mapping, Value};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The template with CloudFormation short forms (`!Sub x`, `!GetAtt A.B`, ...) rewritten to their
/// long forms (`{"Fn::Sub": x}`, `{"Fn::GetAtt": [A, B]}`), so assertions see one shape.
fn template() -> Value {
    let text = std::fs::read_to_string(root().join("template.yaml")).expect("template.yaml");
    let raw: Value = serde_yaml::from_str(&text).expect("template.yaml is YAML");
    long_form(raw)
}

fn long_form(v: Value) -> Value {
    match v {
        Value::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.trim_start_matches('!');
            let inner = long_form(tagged.value);
            let (key, value) = match name {
                "Ref" | "Condition" => (name.to_string(), inner),
                "GetAtt" => {
                    let value = match inner {
                        Value::String(s) => {
                            let (res, attr) = s.split_once('.').expect("GetAtt Resource.Attr");
                            Value::Sequence(vec![res.into(), attr.into()])
                        }
                        other => other,
                    };
                    ("Fn::GetAtt".to_string(), value)
                }
                other => (format!("Fn::{other}"), inner),
            };
            let mut m = Mapping::new();
            m.insert(Value::String(key), value);
            Value::Mapping(m)
        }
        Value::Mapping(m) => {
            Value::Mapping(m.into_iter().map(|(k, v)| (k, long_form(v))).collect())
        }
        Value::Sequence(s) => Value::Sequence(s.into_iter().map(long_form).collect()),
        other => other,
    }
}

/// `v[a][b]...`, panicking with the path when a step is missing.
fn at<'a>(v: &'a Value, path: &[&str]) -> &'a Value {
    let mut cur = v;
    for (i, key) in path.iter().enumerate() {
        cur = cur
            .get(*key)
            .unwrap_or_else(|| panic!("template has no {}", path[..=i].join(".")));
    }
    cur
}

fn resource<'a>(t: &'a Value, name: &str) -> &'a Value {
    at(t, &["Resources", name])
}

fn resources_of_type<'a>(t: &'a Value, ty: &str) -> Vec<(&'a str, &'a Value)> {
    at(t, &["Resources"])
        .as_mapping()
        .expect("Resources is a mapping")
        .iter()
        .filter(|(_, r)| r.get("Type").and_then(Value::as_str) == Some(ty))
        .map(|(k, r)| (k.as_str().expect("resource name"), r))
        .collect()
}

fn single<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    let m = v.as_mapping()?;
    if m.len() == 1 { m.get(key) } else { None }
}

fn str_of(v: &Value) -> &str {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {v:?}"))
}

/// `Fn::Sub` text, or the plain string.
fn sub_text(v: &Value) -> &str {
    match single(v, "Fn::Sub") {
        Some(Value::String(s)) => s,
        Some(other) => panic!("Fn::Sub with variables map not expected here: {other:?}"),
        None => str_of(v),
    }
}

fn integration(t: &Value) -> &Value {
    at(
        resource(t, "WebhookApi"),
        &[
            "Properties",
            "DefinitionBody",
            "paths",
            "/webhook",
            "post",
            "x-amazon-apigateway-integration",
        ],
    )
}

/// Every statement of the function's role, with `Fn::If [cond, stmt, AWS::NoValue]` unwrapped
/// into the statement and the condition it depends on.
fn conditional_statements(t: &Value) -> Vec<(Option<&str>, &Value)> {
    let role = resource(t, "FunctionRole");
    let policies = at(role, &["Properties", "Policies"])
        .as_sequence()
        .expect("Policies list");
    let mut out = Vec::new();
    for p in policies {
        for s in at(p, &["PolicyDocument", "Statement"])
            .as_sequence()
            .expect("Statement list")
        {
            match single(s, "Fn::If") {
                Some(Value::Sequence(branches)) => {
                    assert_eq!(branches.len(), 3, "Fn::If has a condition and two branches");
                    assert_eq!(
                        single(&branches[2], "Ref").and_then(Value::as_str),
                        Some("AWS::NoValue"),
                        "an optional statement falls back to nothing"
                    );
                    out.push((Some(str_of(&branches[0])), &branches[1]));
                }
                _ => out.push((None, s)),
            }
        }
    }
    out
}

fn as_list(v: &Value) -> Vec<&Value> {
    match v {
        Value::Sequence(s) => s.iter().collect(),
        other => vec![other],
    }
}

/// `(resource, attribute)` of an `Fn::GetAtt`.
fn get_att(v: &Value) -> Option<(&str, &str)> {
    match single(v, "Fn::GetAtt")?.as_sequence()?.as_slice() {
        [res, attr] => Some((res.as_str()?, attr.as_str()?)),
        _ => None,
    }
}

fn ref_name(v: &Value) -> Option<&str> {
    single(v, "Ref").and_then(Value::as_str)
}

/// A number written in the template, or the bound of the parameter it refers to (`MinValue` or
/// `MaxValue`), so a relation checked on bounds holds for every value a deploy may pass.
fn number(t: &Value, v: &Value, bound: &str) -> u64 {
    match ref_name(v) {
        Some(param) => at(t, &["Parameters", param, bound])
            .as_u64()
            .unwrap_or_else(|| panic!("parameter {param} needs a numeric {bound}")),
        None => v
            .as_u64()
            .unwrap_or_else(|| panic!("expected a number, got {v:?}")),
    }
}

/// The function's timeout in seconds, at its largest: its own `Timeout`, else the `Globals` one.
fn function_timeout(t: &Value) -> u64 {
    let own = at(resource(t, "Function"), &["Properties"]).get("Timeout");
    let global = t
        .get("Globals")
        .and_then(|g| g.get("Function"))
        .and_then(|f| f.get("Timeout"));
    number(
        t,
        own.or(global).expect("the function has a Timeout"),
        "MaxValue",
    )
}

fn queue_props<'a>(t: &'a Value, name: &str) -> &'a Value {
    let q = resource(t, name);
    assert_eq!(str_of(at(q, &["Type"])), "AWS::SQS::Queue", "{name}");
    at(q, &["Properties"])
}

/// The `Fn::If [cond, a, b]` branches of `v`, panicking with `what` when it is something else.
fn if_branches<'a>(v: &'a Value, what: &str) -> (&'a str, &'a Value, &'a Value) {
    match single(v, "Fn::If")
        .and_then(Value::as_sequence)
        .map(Vec::as_slice)
    {
        Some([cond, yes, no]) => (str_of(cond), yes, no),
        _ => panic!("{what}: expected Fn::If [condition, then, else], got {v:?}"),
    }
}

/// `!If [HasKmsKey, !Ref KmsKeyArn, !Ref AWS::NoValue]`: the stack's key when one is given,
/// else the property is left out (AWS managed or service-managed encryption).
fn assert_uses_stack_key(v: &Value, what: &str) {
    let (cond, yes, no) = if_branches(v, what);
    assert_eq!(cond, "HasKmsKey", "{what}");
    assert_eq!(ref_name(yes), Some("KmsKeyArn"), "{what} uses KmsKeyArn");
    assert_eq!(ref_name(no), Some("AWS::NoValue"), "{what} without a key");
}

/// SSE-SQS by default; SSE-KMS with the stack's key when one is given (the two exclude each other).
fn assert_queue_encrypted(t: &Value, name: &str) {
    let q = queue_props(t, name);
    let (cond, yes, no) = if_branches(at(q, &["SqsManagedSseEnabled"]), name);
    assert_eq!(cond, "HasKmsKey", "{name}");
    assert_eq!(
        yes.as_bool(),
        Some(false),
        "{name}: SSE-KMS replaces SSE-SQS"
    );
    assert_eq!(no.as_bool(), Some(true), "{name}: SSE-SQS without a key");
    assert_uses_stack_key(at(q, &["KmsMasterKeyId"]), name);
}

#[test]
fn webhook_integration_is_async_non_proxy_lambda() {
    let t = template();
    let integ = integration(&t);
    assert_eq!(
        str_of(at(integ, &["type"])),
        "aws",
        "non-proxy Lambda integration"
    );
    assert_eq!(str_of(at(integ, &["httpMethod"])), "POST");
    assert_eq!(
        str_of(at(
            integ,
            &[
                "requestParameters",
                "integration.request.header.X-Amz-Invocation-Type"
            ]
        )),
        "'Event'",
        "API Gateway must invoke the function asynchronously"
    );
    assert_eq!(
        str_of(at(integ, &["passthroughBehavior"])),
        "never",
        "unmapped content types are refused (415), whatever templates exist"
    );
    let uri = sub_text(at(integ, &["uri"]));
    assert!(
        uri.contains(":lambda:path/2015-03-31/functions/${Function.Arn}/invocations"),
        "{uri}"
    );
    let status = at(integ, &["responses", "default", "statusCode"]);
    assert_eq!(str_of(status), "200", "Twilio gets a 200 at once");
}

#[test]
fn mapping_templates_equal_the_vtl_files() {
    let t = template();
    let integ = integration(&t);
    let request = std::fs::read_to_string(root().join("vtl/request.vtl")).expect("vtl/request.vtl");
    let templates = at(integ, &["requestTemplates"])
        .as_mapping()
        .expect("requestTemplates");
    let keys: Vec<&str> = templates.keys().map(str_of).collect();
    assert_eq!(
        keys,
        [
            "application/x-www-form-urlencoded",
            "application/x-www-form-urlencoded; charset=utf-8",
            "application/x-www-form-urlencoded; charset=UTF-8",
            "application/x-www-form-urlencoded;charset=utf-8",
            "application/json",
            "application/json; charset=utf-8",
            "application/json; charset=UTF-8",
            "application/json;charset=utf-8",
        ]
    );
    for (key, text) in templates {
        assert!(
            str_of(text) == request,
            "template.yaml's mapping template for {} drifted from vtl/request.vtl (run scripts/sync-vtl.py)",
            str_of(key)
        );
    }
    let response =
        std::fs::read_to_string(root().join("vtl/response.vtl")).expect("vtl/response.vtl");
    let responses = at(integ, &["responses", "default", "responseTemplates"])
        .as_mapping()
        .expect("responseTemplates");
    assert!(!responses.is_empty());
    for (key, text) in responses {
        assert!(
            str_of(text) == response,
            "response template for {} drifted from vtl/response.vtl",
            str_of(key)
        );
    }
}

#[test]
fn api_stage_is_throttled_and_named_by_parameter() {
    let t = template();
    let api = at(resource(&t, "WebhookApi"), &["Properties"]);
    assert_eq!(
        single(at(api, &["StageName"]), "Ref").and_then(Value::as_str),
        Some("StageName")
    );
    assert_eq!(
        str_of(at(&t, &["Parameters", "StageName", "Default"])),
        "prod"
    );
    assert_eq!(
        str_of(at(api, &["OpenApiVersion"])),
        "3.0.1",
        "avoids SAM's extra 'Stage' stage"
    );
    let settings = at(api, &["MethodSettings"])
        .as_sequence()
        .expect("MethodSettings");
    assert!(settings.iter().any(|s| {
        single(at(s, &["ThrottlingBurstLimit"]), "Ref").is_some()
            && single(at(s, &["ThrottlingRateLimit"]), "Ref").is_some()
    }));
}

#[test]
fn permission_is_scoped_to_this_api_post_webhook() {
    let t = template();
    let perms = resources_of_type(&t, "AWS::Lambda::Permission");
    assert_eq!(perms.len(), 1);
    let p = at(perms[0].1, &["Properties"]);
    assert_eq!(str_of(at(p, &["Principal"])), "apigateway.amazonaws.com");
    assert_eq!(str_of(at(p, &["Action"])), "lambda:InvokeFunction");
    let arn = sub_text(at(p, &["SourceArn"]));
    assert!(arn.contains(":execute-api:"), "{arn}");
    assert!(
        arn.contains("${WebhookApi}/"),
        "SourceArn must name this API: {arn}"
    );
    assert!(
        arn.ends_with("/POST/webhook"),
        "SourceArn must name POST /webhook: {arn}"
    );
    assert!(!arn.ends_with("/*/*"), "{arn}");
}

#[test]
fn async_intake_retries_within_the_dedup_window_and_keeps_failures() {
    let t = template();
    let eic = at(
        resource(&t, "Function"),
        &["Properties", "EventInvokeConfig"],
    );
    // Intake only enqueues under the message's dedup id: Lambda's retries are safe and keep a
    // message from being lost.
    assert_eq!(at(eic, &["MaximumRetryAttempts"]).as_u64(), Some(2));
    let age_param = ref_name(at(eic, &["MaximumEventAgeInSeconds"])).expect("age is a parameter");
    assert_eq!(age_param, "MaxEventAgeSeconds");
    let age = at(&t, &["Parameters", age_param]);
    assert_eq!(
        at(age, &["MinValue"]).as_u64(),
        Some(60),
        "Lambda's minimum"
    );
    assert_eq!(at(age, &["MaxValue"]).as_u64(), Some(240));
    assert_eq!(at(age, &["Default"]).as_u64(), Some(240));
    // The latest retry starts at most MaxValue after the event was queued and may run the whole
    // Timeout before it sends: still inside SQS's 5-minute deduplication window.
    let latest_send =
        number(&t, at(eic, &["MaximumEventAgeInSeconds"]), "MaxValue") + function_timeout(&t);
    assert!(
        latest_send < 300,
        "a retried intake could send after the dedup window: {latest_send} s"
    );

    let on_failure = at(eic, &["DestinationConfig", "OnFailure"]);
    assert_eq!(str_of(at(on_failure, &["Type"])), "SQS");
    assert_eq!(
        get_att(at(on_failure, &["Destination"])),
        Some(("FailureQueue", "Arn"))
    );

    let q = queue_props(&t, "FailureQueue");
    // The failure queue holds customer messages: encrypted, with the stack's key when given.
    assert_queue_encrypted(&t, "FailureQueue");
    assert_eq!(
        at(q, &["MessageRetentionPeriod"]).as_u64(),
        Some(1_209_600),
        "14 days"
    );
}

#[test]
fn turn_queue_is_fifo_deduplicated_by_message_and_encrypted() {
    let t = template();
    let q = queue_props(&t, "TurnQueue");
    assert_eq!(at(q, &["FifoQueue"]).as_bool(), Some(true));
    assert_eq!(
        at(q, &["ContentBasedDeduplication"]).as_bool(),
        Some(false),
        "intake gives MessageSid as the dedup id; equal texts are distinct turns"
    );
    assert_eq!(str_of(at(q, &["DeduplicationScope"])), "messageGroup");
    assert_eq!(str_of(at(q, &["FifoThroughputLimit"])), "perMessageGroupId");
    assert_queue_encrypted(&t, "TurnQueue");
    assert!(
        q.get("QueueName").is_none(),
        "CloudFormation names it (with .fifo)"
    );
    assert!(q.get("DelaySeconds").is_none(), "a turn is due at once");

    let visibility = number(&t, at(q, &["VisibilityTimeout"]), "MinValue");
    assert_eq!(visibility, 180);
    let timeout = function_timeout(&t);
    assert!(
        visibility >= 6 * timeout,
        "Lambda asks for a visibility timeout of at least 6 x the function timeout: {visibility} < 6 x {timeout}"
    );
}

#[test]
fn failed_turns_are_dead_lettered_to_a_fifo_queue_after_five_tries() {
    let t = template();
    let redrive = at(queue_props(&t, "TurnQueue"), &["RedrivePolicy"]);
    assert_eq!(
        get_att(at(redrive, &["deadLetterTargetArn"])),
        Some(("TurnDeadLetterQueue", "Arn"))
    );
    assert_eq!(at(redrive, &["maxReceiveCount"]).as_u64(), Some(5));

    let dlq = queue_props(&t, "TurnDeadLetterQueue");
    assert_eq!(
        at(dlq, &["FifoQueue"]).as_bool(),
        Some(true),
        "a FIFO queue's dead-letter queue is FIFO too"
    );
    assert_queue_encrypted(&t, "TurnDeadLetterQueue");
    assert_eq!(
        at(dlq, &["MessageRetentionPeriod"]).as_u64(),
        Some(1_209_600),
        "14 days"
    );
    assert!(dlq.get("RedrivePolicy").is_none());
    assert!(dlq.get("QueueName").is_none());
}

#[test]
fn turn_queue_triggers_the_function_in_small_ordered_batches() {
    let t = template();
    let events = at(resource(&t, "Function"), &["Properties", "Events"])
        .as_mapping()
        .expect("Events");
    assert_eq!(events.len(), 1, "the turn queue is the only event source");
    let turns = at(
        &t,
        &["Resources", "Function", "Properties", "Events", "Turns"],
    );
    assert_eq!(str_of(at(turns, &["Type"])), "SQS");
    let p = at(turns, &["Properties"]);
    assert_eq!(get_att(at(p, &["Queue"])), Some(("TurnQueue", "Arn")));
    let batch = at(p, &["BatchSize"]).as_u64().expect("BatchSize");
    assert_eq!(batch, 5);
    assert!(batch <= 10, "FIFO batches hold at most 10");
    assert_eq!(
        at(p, &["FunctionResponseTypes"]),
        &Value::Sequence(vec!["ReportBatchItemFailures".into()])
    );
    assert!(
        p.get("MaximumBatchingWindowInSeconds").is_none(),
        "no batching window on FIFO queues"
    );
    assert_eq!(
        ref_name(at(p, &["ScalingConfig", "MaximumConcurrency"])),
        Some("TurnConcurrency")
    );
    let c = at(&t, &["Parameters", "TurnConcurrency"]);
    assert_eq!(str_of(at(c, &["Type"])), "Number");
    assert_eq!(at(c, &["Default"]).as_u64(), Some(10));
    assert_eq!(at(c, &["MinValue"]).as_u64(), Some(2), "Lambda's minimum");
    assert_eq!(
        at(c, &["MaxValue"]).as_u64(),
        Some(1000),
        "Lambda's maximum"
    );
}

#[test]
fn state_table_is_on_demand_expiring_encrypted_and_kept() {
    let t = template();
    let table = resource(&t, "StateTable");
    assert_eq!(str_of(at(table, &["Type"])), "AWS::DynamoDB::Table");
    assert_eq!(str_of(at(table, &["DeletionPolicy"])), "Retain");
    assert_eq!(str_of(at(table, &["UpdateReplacePolicy"])), "Retain");
    let p = at(table, &["Properties"]);
    assert_eq!(str_of(at(p, &["BillingMode"])), "PAY_PER_REQUEST");
    let keys = at(p, &["KeySchema"]).as_sequence().expect("KeySchema");
    assert_eq!(
        keys.len(),
        1,
        "one item per conversation: partition key only"
    );
    assert_eq!(str_of(at(&keys[0], &["AttributeName"])), "pk");
    assert_eq!(str_of(at(&keys[0], &["KeyType"])), "HASH");
    let attrs = at(p, &["AttributeDefinitions"])
        .as_sequence()
        .expect("AttributeDefinitions");
    assert_eq!(attrs.len(), 1);
    assert_eq!(str_of(at(&attrs[0], &["AttributeName"])), "pk");
    assert_eq!(str_of(at(&attrs[0], &["AttributeType"])), "S");
    assert!(p.get("GlobalSecondaryIndexes").is_none());
    assert!(p.get("StreamSpecification").is_none());

    let ttl = at(p, &["TimeToLiveSpecification"]);
    assert_eq!(str_of(at(ttl, &["AttributeName"])), "expires_at");
    assert_eq!(at(ttl, &["Enabled"]).as_bool(), Some(true));
    let sse = at(p, &["SSESpecification"]);
    assert_eq!(at(sse, &["SSEEnabled"]).as_bool(), Some(true));
    assert_eq!(str_of(at(sse, &["SSEType"])), "KMS");
    assert_uses_stack_key(at(sse, &["KMSMasterKeyId"]), "StateTable");

    // The parameter itself, so a scanner reads its default ('true') as the table's setting.
    assert_eq!(
        ref_name(at(
            p,
            &[
                "PointInTimeRecoverySpecification",
                "PointInTimeRecoveryEnabled",
            ],
        )),
        Some("PointInTimeRecovery")
    );
    let param = at(&t, &["Parameters", "PointInTimeRecovery"]);
    assert_eq!(str_of(at(param, &["Default"])), "true");
    assert_eq!(
        at(param, &["AllowedValues"]),
        &Value::Sequence(vec!["true".into(), "false".into()])
    );
}

#[test]
fn function_runtime_build_and_logging() {
    let t = template();
    let f = resource(&t, "Function");
    assert_eq!(
        str_of(at(f, &["Metadata", "BuildMethod"])),
        "rust-cargolambda"
    );
    assert_eq!(
        str_of(at(f, &["Metadata", "BuildProperties", "Binary"])),
        "bootstrap"
    );
    let p = at(f, &["Properties"]);
    assert_eq!(str_of(at(p, &["Runtime"])), "provided.al2023");
    assert_eq!(str_of(at(p, &["Handler"])), "bootstrap");
    assert_eq!(str_of(at(p, &["CodeUri"])), ".");
    assert_eq!(
        at(p, &["Architectures"]),
        &Value::Sequence(vec!["arm64".into()])
    );
    assert_eq!(at(p, &["MemorySize"]).as_u64(), Some(256));
    let timeout = at(p, &["Timeout"]).as_u64().expect("Timeout");
    assert!(
        (20..=60).contains(&timeout),
        "room for Lex and Twilio retries: {timeout}"
    );

    let logging = at(p, &["LoggingConfig"]);
    assert_eq!(str_of(at(logging, &["LogFormat"])), "JSON");
    assert_eq!(
        single(at(logging, &["LogGroup"]), "Ref").and_then(Value::as_str),
        Some("LogGroup")
    );
    let lg = at(resource(&t, "LogGroup"), &["Properties", "RetentionInDays"]);
    assert_eq!(
        single(lg, "Ref").and_then(Value::as_str),
        Some("LogRetentionDays")
    );
}

#[test]
fn environment_carries_config_but_no_secret_values() {
    let t = template();
    let vars = at(
        resource(&t, "Function"),
        &["Properties", "Environment", "Variables"],
    )
    .as_mapping()
    .expect("Variables");
    let names: Vec<&str> = vars.keys().map(str_of).collect();
    for required in [
        "TWILIO_SECRET_ID",
        "FLEX_WORKSPACE_SID",
        "FLEX_WORKFLOW_SID",
        "HANDOFF_INTENTS",
        "CLOSE_INTENTS",
        "BOT_AUTHOR",
        "DEFAULT_LOCALE",
        "ON_BOT_ERROR",
        "BOT_ERROR_MESSAGE",
        "WEBHOOK_PUBLIC_URL",
        "TURN_QUEUE_URL",
        "STATE_TABLE",
    ] {
        assert!(names.contains(&required), "missing env var {required}");
    }
    let var = |name: &str| {
        at(
            &t,
            &[
                "Resources",
                "Function",
                "Properties",
                "Environment",
                "Variables",
                name,
            ],
        )
    };
    assert_eq!(
        ref_name(var("TURN_QUEUE_URL")),
        Some("TurnQueue"),
        "Ref of a queue is its URL"
    );
    assert_eq!(
        ref_name(var("STATE_TABLE")),
        Some("StateTable"),
        "Ref of a table is its name"
    );
    for forbidden in [
        "TWILIO_AUTH_TOKEN",
        "TWILIO_PREVIOUS_AUTH_TOKEN",
        "TWILIO_API_KEY_SECRET",
        "AWS_LC_SYS_NO_JITTER_ENTROPY",
    ] {
        assert!(
            !names.contains(&forbidden),
            "{forbidden} must not be in the function's environment"
        );
    }
    let params = at(&t, &["Parameters"]).as_mapping().expect("Parameters");
    for (name, p) in params {
        let name = str_of(name);
        assert!(
            p.get("NoEcho").is_none(),
            "no secret may be passed as a parameter ({name})"
        );
        assert!(
            !name.to_ascii_lowercase().contains("token"),
            "no secret may be passed as a parameter ({name})"
        );
    }
    let defaults = |p: &str| str_of(at(&t, &["Parameters", p, "Default"])).to_string();
    assert_eq!(defaults("HandoffIntents"), "Agent");
    assert_eq!(defaults("CloseIntents"), "OrderFlowers");
    assert_eq!(defaults("BotAuthor"), "Lex");
    assert_eq!(defaults("DefaultLocale"), "en_US");
    assert_eq!(defaults("OnBotError"), "handoff");
}

#[test]
fn the_function_knows_its_own_timeout() {
    // A runtime deadline no real Lambda sends falls back to this, and leases never outlast it:
    // it must be the Timeout Lambda enforces.
    let t = template();
    let passed = at(
        resource(&t, "Function"),
        &[
            "Properties",
            "Environment",
            "Variables",
            "FUNCTION_TIMEOUT_SECS",
        ],
    );
    assert_eq!(str_of(passed), function_timeout(&t).to_string());
}

/// How a setting reaches the function: always, or only when its parameter is not empty (an
/// empty value would fail init, where unset means "off").
#[derive(Clone, Copy)]
enum Passed {
    Always,
    UnlessEmpty(&'static str),
}

/// A parameter's default as the text the environment receives.
fn default_text(t: &Value, param: &str) -> String {
    match at(t, &["Parameters", param, "Default"]) {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => panic!("{param}: unexpected default {other:?}"),
    }
}

#[test]
fn bot_policy_settings_are_grouped_parameters_passed_to_the_function() {
    let t = template();
    let cases = [
        (
            "HandoffAfterFallbacks",
            "HANDOFF_AFTER_FALLBACKS",
            "2",
            Passed::Always,
        ),
        (
            "FallbackIntents",
            "FALLBACK_INTENTS",
            "FallbackIntent",
            Passed::Always,
        ),
        (
            "HandoffBelowConfidence",
            "HANDOFF_BELOW_CONFIDENCE",
            "",
            Passed::UnlessEmpty("HasHandoffBelowConfidence"),
        ),
        (
            "LowConfidenceTurns",
            "LOW_CONFIDENCE_TURNS",
            "2",
            Passed::Always,
        ),
        (
            "HandoffOnNegativeSentiment",
            "HANDOFF_ON_NEGATIVE_SENTIMENT",
            "0",
            Passed::Always,
        ),
        (
            "InactiveAfter",
            "INACTIVE_AFTER",
            "",
            Passed::UnlessEmpty("HasInactiveAfter"),
        ),
        (
            "CloseAfter",
            "CLOSE_AFTER",
            "",
            Passed::UnlessEmpty("HasCloseAfter"),
        ),
        (
            "TimersAfterHandoff",
            "TIMERS_AFTER_HANDOFF",
            "extend",
            Passed::Always,
        ),
        (
            "AgentInactiveAfter",
            "AGENT_INACTIVE_AFTER",
            "",
            Passed::UnlessEmpty("HasAgentInactiveAfter"),
        ),
        (
            "AgentCloseAfter",
            "AGENT_CLOSE_AFTER",
            "",
            Passed::UnlessEmpty("HasAgentCloseAfter"),
        ),
        ("RichCards", "RICH_CARDS", "whatsapp", Passed::Always),
    ];
    let group = at(
        &t,
        &[
            "Metadata",
            "AWS::CloudFormation::Interface",
            "ParameterGroups",
        ],
    )
    .as_sequence()
    .expect("ParameterGroups")
    .iter()
    .find(|g| {
        str_of(at(g, &["Label", "default"])) == "Escalation, conversation timers and rich cards"
    })
    .expect("the policy group");
    let grouped: Vec<&str> = at(group, &["Parameters"])
        .as_sequence()
        .expect("Parameters")
        .iter()
        .map(str_of)
        .collect();
    assert_eq!(
        grouped,
        cases.iter().map(|(param, ..)| *param).collect::<Vec<_>>()
    );
    let variables = at(
        resource(&t, "Function"),
        &["Properties", "Environment", "Variables"],
    );
    let mut settings: std::collections::HashMap<String, String> = [
        ("TWILIO_ACCOUNT_SID", "AC0123456789abcdef0123456789abcdef"),
        ("TWILIO_AUTH_TOKEN", "t"),
        ("FLEX_WORKSPACE_SID", "WS0123456789abcdef0123456789abcdef"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let unset = flexlex::app::config::Config::from_settings(&settings).expect("base settings");
    for (param, var, default, passed) in cases {
        assert_eq!(default_text(&t, param), default, "{param}'s default");
        let description = str_of(at(&t, &["Parameters", param, "Description"]));
        assert!(!description.trim().is_empty(), "{param} has a description");
        let env = at(variables, &[var]);
        match passed {
            Passed::Always => assert_eq!(ref_name(env), Some(param), "{var}"),
            Passed::UnlessEmpty(condition) => {
                let branches = single(env, "Fn::If")
                    .and_then(Value::as_sequence)
                    .unwrap_or_else(|| panic!("{var} is passed through Fn::If"));
                assert_eq!(str_of(&branches[0]), condition);
                assert_eq!(ref_name(&branches[1]), Some(param));
                assert_eq!(ref_name(&branches[2]), Some("AWS::NoValue"));
                let not_empty = single(at(&t, &["Conditions", condition]), "Fn::Not")
                    .and_then(Value::as_sequence)
                    .and_then(|s| single(&s[0], "Fn::Equals"))
                    .and_then(Value::as_sequence)
                    .unwrap_or_else(|| panic!("{condition} is Not(Equals(..))"));
                assert_eq!(ref_name(&not_empty[0]), Some(param));
                assert_eq!(str_of(&not_empty[1]), "");
            }
        }
        if !default.is_empty() {
            settings.insert(var.to_owned(), default.to_owned());
        }
    }
    // The template's defaults are the product's: a stack deployed with them behaves as if
    // none of these variables were set.
    let deployed =
        flexlex::app::config::Config::from_settings(&settings).expect("defaults are valid");
    assert_eq!(deployed.behaviour, unset.behaviour);
}

/// Every value the stack lets an operator pick for `TimersAfterHandoff` starts the function
/// (`clear`, the former default, included: a stack deployed with it keeps working).
#[test]
fn every_allowed_timers_after_handoff_passes_init() {
    let t = template();
    let allowed: Vec<&str> = at(&t, &["Parameters", "TimersAfterHandoff", "AllowedValues"])
        .as_sequence()
        .expect("AllowedValues")
        .iter()
        .map(str_of)
        .collect();
    assert_eq!(allowed, ["extend", "keep", "clear"]);
    for value in allowed {
        let settings: std::collections::HashMap<String, String> = [
            ("TWILIO_ACCOUNT_SID", "AC0123456789abcdef0123456789abcdef"),
            ("TWILIO_AUTH_TOKEN", "t"),
            ("FLEX_WORKSPACE_SID", "WS0123456789abcdef0123456789abcdef"),
            ("INACTIVE_AFTER", "PT15M"),
            ("CLOSE_AFTER", "P1D"),
            ("TIMERS_AFTER_HANDOFF", value),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let config = flexlex::app::config::Config::from_settings(&settings)
            .unwrap_or_else(|e| panic!("{value}: {e}"));
        assert_eq!(
            config.warnings.len(),
            usize::from(value == "clear"),
            "{value}: {:?}",
            config.warnings
        );
    }
}

#[test]
fn twilio_secret_is_created_only_when_none_is_given() {
    let t = template();
    let secret = resource(&t, "TwilioSecret");
    assert_eq!(str_of(at(secret, &["Type"])), "AWS::SecretsManager::Secret");
    assert_eq!(str_of(at(secret, &["Condition"])), "CreateTwilioSecret");
    let cond =
        single(at(&t, &["Conditions", "CreateTwilioSecret"]), "Fn::Equals").expect("Fn::Equals");
    assert_eq!(
        single(&cond[0], "Ref").and_then(Value::as_str),
        Some("TwilioSecretArn")
    );
    assert_eq!(str_of(&cond[1]), "");
    let shape: serde_json::Value =
        serde_json::from_str(str_of(at(secret, &["Properties", "SecretString"])))
            .expect("JSON secret template");
    let obj = shape.as_object().expect("object");
    for k in [
        "TWILIO_ACCOUNT_SID",
        "TWILIO_AUTH_TOKEN",
        "TWILIO_PREVIOUS_AUTH_TOKEN",
        "TWILIO_API_KEY_SID",
        "TWILIO_API_KEY_SECRET",
    ] {
        assert_eq!(
            obj.get(k).and_then(|v| v.as_str()),
            Some(""),
            "{k} is an empty placeholder"
        );
    }
}

#[test]
fn iam_is_least_privilege() {
    let t = template();
    let statements = conditional_statements(&t);
    assert!(!statements.is_empty());
    let mut lex_statements = 0;
    let mut grants: BTreeMap<&str, std::collections::BTreeSet<&str>> = BTreeMap::new();
    for (condition, s) in &statements {
        assert_eq!(str_of(at(s, &["Effect"])), "Allow");
        let actions: Vec<&str> = as_list(at(s, &["Action"]))
            .into_iter()
            .map(str_of)
            .collect();
        let resources = as_list(at(s, &["Resource"]));
        for r in &resources {
            if r.as_str() == Some("*") {
                // X-Ray's write actions accept no resource; nothing else may name every one.
                assert_eq!(
                    actions,
                    ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
                    "no wildcard resource in {s:?}"
                );
                assert_eq!(*condition, Some("WithTracing"), "X-Ray only when tracing");
                continue;
            }
            if let Some(Value::String(text)) = single(r, "Fn::Sub") {
                assert!(!text.contains('*'), "no wildcard in {text}");
            }
        }
        for a in &actions {
            assert!(!a.contains('*'), "no wildcard action: {a}");
        }
        if actions
            .iter()
            .any(|a| a.starts_with("sqs:") || a.starts_with("dynamodb:"))
        {
            assert_eq!(
                resources.len(),
                1,
                "one queue or table per statement: {s:?}"
            );
            let (res, attr) = get_att(resources[0]).expect("GetAtt of this stack's resource");
            assert_eq!(attr, "Arn");
            let granted = grants.entry(res).or_default();
            for a in &actions {
                assert!(granted.insert(*a), "{a} granted twice on {res}");
            }
        }
        if actions.iter().any(|a| a.starts_with("lex:")) {
            lex_statements += 1;
            assert_eq!(actions, ["lex:RecognizeText"]);
            for r in &resources {
                match single(r, "Ref").and_then(Value::as_str) {
                    // The user's list; `*` there is their explicit opt-in.
                    Some(param) => {
                        assert_eq!(param, "LexBotAliasArns");
                        assert_eq!(
                            str_of(at(&t, &["Parameters", param, "Type"])),
                            "CommaDelimitedList"
                        );
                    }
                    None => {
                        let arn = sub_text(r);
                        assert!(
                            arn.contains(":lex:${AWS::Region}:${AWS::AccountId}:bot-alias/"),
                            "{arn}"
                        );
                    }
                }
            }
        }
        if actions.iter().any(|a| a.starts_with("secretsmanager:")) {
            assert_eq!(actions, ["secretsmanager:GetSecretValue"]);
            let r = single(resources[0], "Fn::If")
                .and_then(Value::as_sequence)
                .expect("Fn::If secret");
            assert_eq!(str_of(&r[0]), "CreateTwilioSecret");
            assert_eq!(
                single(&r[1], "Ref").and_then(Value::as_str),
                Some("TwilioSecret")
            );
            assert_eq!(
                single(&r[2], "Ref").and_then(Value::as_str),
                Some("TwilioSecretArn")
            );
        }
        if actions.iter().any(|a| a.starts_with("logs:")) {
            assert!(
                single(resources[0], "Fn::GetAtt").is_some(),
                "logs only to the function's log group"
            );
        }
    }
    assert_eq!(
        lex_statements, 2,
        "the user's aliases and the demo bot's alias"
    );
    // Exactly these actions on exactly these resources: intake sends to the turn queue, the SQS
    // trigger polls it, the turn reads and writes single items. No batch, delete, query, scan or
    // transaction; nothing on the dead-letter queue (SQS moves dead letters itself).
    let expected: BTreeMap<&str, Vec<&str>> = [
        ("FailureQueue", vec!["sqs:SendMessage"]),
        (
            "TurnQueue",
            vec![
                "sqs:ChangeMessageVisibility",
                "sqs:DeleteMessage",
                "sqs:GetQueueAttributes",
                "sqs:ReceiveMessage",
                "sqs:SendMessage",
            ],
        ),
        (
            "StateTable",
            vec![
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
            ],
        ),
    ]
    .into_iter()
    .collect();
    let granted: BTreeMap<&str, Vec<&str>> = grants
        .into_iter()
        .map(|(res, actions)| (res, actions.into_iter().collect()))
        .collect();
    assert_eq!(granted, expected);
    // The role is the function's whole authority: no managed policies slipped in.
    let role = at(resource(&t, "FunctionRole"), &["Properties"]);
    assert!(role.get("ManagedPolicyArns").is_none());
    assert!(
        at(resource(&t, "Function"), &["Properties"])
            .get("Policies")
            .is_none()
    );
}

#[test]
fn alarms_watch_signatures_and_failures() {
    let t = template();
    let alarms = resources_of_type(&t, "AWS::CloudWatch::Alarm");
    let metric = |ns: &str, name: &str| {
        alarms.iter().find(|(_, a)| {
            let p = at(a, &["Properties"]);
            p.get("Namespace").and_then(Value::as_str) == Some(ns)
                && p.get("MetricName").and_then(Value::as_str) == Some(name)
        })
    };
    let (_, sig) = metric("flexlex", "SignatureRejected").expect("SignatureRejected alarm");
    let p = at(sig, &["Properties"]);
    assert_eq!(str_of(at(p, &["Statistic"])), "Sum");
    assert_eq!(at(p, &["Period"]).as_u64(), Some(300));
    assert_eq!(
        str_of(at(p, &["ComparisonOperator"])),
        "GreaterThanOrEqualToThreshold"
    );
    let dims = at(p, &["Dimensions"]).as_sequence().expect("Dimensions");
    assert_eq!(str_of(at(&dims[0], &["Name"])), "Service");
    assert_eq!(str_of(at(&dims[0], &["Value"])), "flexlex");
    assert!(metric("flexlex", "EventFailed").is_some());
    assert!(at(&t, &["Conditions"]).get("HasAlarmEmail").is_some());
    for (_, a) in &alarms {
        let actions = single(at(a, &["Properties", "AlarmActions"]), "Fn::If")
            .and_then(Value::as_sequence)
            .expect("AlarmActions: Fn::If");
        assert_eq!(str_of(&actions[0]), "HasAlarmEmail");
        assert_eq!(ref_name(&actions[1][0]), Some("AlarmTopic"));
        assert_eq!(ref_name(&actions[2]), Some("AWS::NoValue"));
    }
}

/// The properties of the `AWS/SQS` alarm on `metric` for the queue `queue`.
fn queue_alarm<'a>(t: &'a Value, metric: &str, queue: &str) -> &'a Value {
    let found: Vec<&Value> = resources_of_type(t, "AWS::CloudWatch::Alarm")
        .into_iter()
        .map(|(_, a)| at(a, &["Properties"]))
        .filter(|p| {
            p.get("Namespace").and_then(Value::as_str) == Some("AWS/SQS")
                && p.get("MetricName").and_then(Value::as_str) == Some(metric)
                && p.get("Dimensions")
                    .and_then(Value::as_sequence)
                    .is_some_and(|d| {
                        d.len() == 1
                            && str_of(at(&d[0], &["Name"])) == "QueueName"
                            && get_att(at(&d[0], &["Value"])) == Some((queue, "QueueName"))
                    })
        })
        .collect();
    assert_eq!(found.len(), 1, "one {metric} alarm on {queue}");
    found[0]
}

#[test]
fn alarms_watch_dead_letters_and_waiting_turns() {
    let t = template();
    for queue in ["TurnDeadLetterQueue", "FailureQueue"] {
        let p = queue_alarm(&t, "ApproximateNumberOfMessagesVisible", queue);
        assert_eq!(str_of(at(p, &["Statistic"])), "Maximum", "{queue}");
        assert_eq!(at(p, &["Threshold"]).as_u64(), Some(0), "{queue}");
        assert_eq!(
            str_of(at(p, &["ComparisonOperator"])),
            "GreaterThanThreshold",
            "any message in {queue} alarms"
        );
        assert_eq!(str_of(at(p, &["TreatMissingData"])), "notBreaching");
    }
    let age = queue_alarm(&t, "ApproximateAgeOfOldestMessage", "TurnQueue");
    assert_eq!(str_of(at(age, &["Statistic"])), "Maximum");
    assert_eq!(
        ref_name(at(age, &["Threshold"])),
        Some("TurnAgeAlarmSeconds")
    );
    assert_eq!(
        str_of(at(age, &["ComparisonOperator"])),
        "GreaterThanOrEqualToThreshold"
    );
    let param = at(&t, &["Parameters", "TurnAgeAlarmSeconds"]);
    assert_eq!(at(param, &["Default"]).as_u64(), Some(300));
}

#[test]
fn every_parameter_is_described_and_grouped_once() {
    let t = template();
    let params = at(&t, &["Parameters"]).as_mapping().expect("Parameters");
    let groups = at(
        &t,
        &[
            "Metadata",
            "AWS::CloudFormation::Interface",
            "ParameterGroups",
        ],
    )
    .as_sequence()
    .expect("ParameterGroups");
    let mut grouped: BTreeMap<&str, usize> = BTreeMap::new();
    for g in groups {
        for name in at(g, &["Parameters"]).as_sequence().expect("Parameters") {
            let name = str_of(name);
            assert!(
                params.contains_key(name),
                "group lists unknown parameter {name}"
            );
            *grouped.entry(name).or_default() += 1;
        }
    }
    for (name, p) in params {
        let name = str_of(name);
        let description = p.get("Description").and_then(Value::as_str).unwrap_or("");
        assert!(!description.trim().is_empty(), "{name} has no description");
        assert_eq!(
            grouped.get(name),
            Some(&1),
            "{name} is in exactly one group"
        );
    }
}

#[test]
fn demo_bot_is_optional_and_complete() {
    let t = template();
    assert_eq!(
        str_of(at(&t, &["Parameters", "DeployDemoBot", "Default"])),
        "false"
    );
    for name in ["DemoBot", "DemoBotVersion", "DemoBotAlias", "DemoBotRole"] {
        assert_eq!(
            str_of(at(resource(&t, name), &["Condition"])),
            "WithDemoBot",
            "{name}"
        );
    }
    let bot = at(resource(&t, "DemoBot"), &["Properties"]);
    assert_eq!(at(bot, &["AutoBuildBotLocales"]).as_bool(), Some(true));
    let locale = &at(bot, &["BotLocales"]).as_sequence().expect("BotLocales")[0];
    let intents = at(locale, &["Intents"]).as_sequence().expect("Intents");
    let names: Vec<&str> = intents.iter().map(|i| str_of(at(i, &["Name"]))).collect();
    assert_eq!(
        names,
        ["OrderFlowers", "Agent", "HelpIntent", "FallbackIntent"]
    );
    let agent = &intents[1];
    let utterances: Vec<&str> = at(agent, &["SampleUtterances"])
        .as_sequence()
        .expect("utterances")
        .iter()
        .map(|u| str_of(at(u, &["Utterance"])))
        .collect();
    assert_eq!(
        utterances,
        ["agent", "talk to a person", "human", "representative"]
    );
    let closing = at(
        agent,
        &[
            "IntentClosingSetting",
            "ClosingResponse",
            "MessageGroupsList",
        ],
    );
    assert_eq!(
        str_of(at(&closing[0], &["Message", "PlainTextMessage", "Value"])),
        "Okay - lets get you to an agent"
    );
    let slots: Vec<(&str, &str)> = at(&intents[0], &["Slots"])
        .as_sequence()
        .expect("Slots")
        .iter()
        .map(|s| (str_of(at(s, &["Name"])), str_of(at(s, &["SlotTypeName"]))))
        .collect();
    assert_eq!(
        slots,
        [
            ("FlowerType", "FlowerTypes"),
            ("PickupDate", "AMAZON.Date"),
            ("PickupTime", "AMAZON.Time")
        ]
    );
    assert!(intents[0].get("IntentConfirmationSetting").is_some());
    assert_eq!(
        str_of(at(&intents[3], &["ParentIntentSignature"])),
        "AMAZON.FallbackIntent"
    );
    let trust = at(
        resource(&t, "DemoBotRole"),
        &["Properties", "AssumeRolePolicyDocument", "Statement"],
    );
    assert_eq!(
        str_of(at(&trust[0], &["Principal", "Service"])),
        "lexv2.amazonaws.com"
    );
}

#[test]
fn outputs_tell_the_user_what_to_paste() {
    let t = template();
    let outputs = at(&t, &["Outputs"]);
    for name in [
        "WebhookUrl",
        "FailureQueueUrl",
        "FunctionName",
        "LogGroupName",
        "TwilioSecretArn",
    ] {
        assert!(outputs.get(name).is_some(), "missing output {name}");
    }
    let value = |name: &str| at(outputs, &[name, "Value"]);
    assert_eq!(ref_name(value("TurnQueueUrl")), Some("TurnQueue"));
    assert_eq!(get_att(value("TurnQueueArn")), Some(("TurnQueue", "Arn")));
    assert_eq!(
        ref_name(value("TurnDeadLetterQueueUrl")),
        Some("TurnDeadLetterQueue")
    );
    assert_eq!(
        get_att(value("TurnDeadLetterQueueArn")),
        Some(("TurnDeadLetterQueue", "Arn"))
    );
    assert_eq!(ref_name(value("StateTableName")), Some("StateTable"));
    let url = single(at(outputs, &["WebhookUrl", "Value"]), "Fn::If")
        .and_then(Value::as_sequence)
        .expect("Fn::If");
    assert_eq!(str_of(&url[0]), "WithDemoBot");
    let demo = sub_text(&url[1]);
    let plain = sub_text(&url[2]);
    for u in [demo, plain] {
        assert!(
            u.starts_with("https://${WebhookApi}.execute-api.${AWS::Region}."),
            "{u}"
        );
        assert!(u.contains("/${StageName}/webhook?BotId="), "{u}");
        assert!(u.contains("&BotAliasId="), "{u}");
    }
    assert!(
        demo.contains("BotId=${DemoBot}&BotAliasId=${DemoBotAlias.BotAliasId}"),
        "{demo}"
    );
    assert!(
        plain.contains("BotId=<BotId>&BotAliasId=<BotAliasId>"),
        "{plain}"
    );
}

#[test]
fn short_forms_are_rewritten() {
    let v: Value =
        serde_yaml::from_str("a: !GetAtt Fn.Arn\nb: !Sub x\nc: !If [C, !Ref P, !Ref AWS::NoValue]")
            .expect("yaml");
    let v = long_form(v);
    assert_eq!(
        single(at(&v, &["a"]), "Fn::GetAtt"),
        Some(&Value::Sequence(vec!["Fn".into(), "Arn".into()]))
    );
    assert_eq!(
        single(at(&v, &["b"]), "Fn::Sub").and_then(Value::as_str),
        Some("x")
    );
    let c = single(at(&v, &["c"]), "Fn::If")
        .and_then(Value::as_sequence)
        .expect("Fn::If");
    assert_eq!(single(&c[1], "Ref").and_then(Value::as_str), Some("P"));
}

#[test]
fn deploy_refuses_a_stack_with_no_bot_to_call() {
    let t = template();
    let assertion = &at(&t, &["Rules", "SomeBotToCall", "Assertions"])[0];
    let or = single(at(assertion, &["Assert"]), "Fn::Or")
        .and_then(Value::as_sequence)
        .expect("Fn::Or");
    let demo = single(&or[0], "Fn::Equals")
        .and_then(Value::as_sequence)
        .expect("Fn::Equals");
    assert_eq!(
        single(&demo[0], "Ref").and_then(Value::as_str),
        Some("DeployDemoBot")
    );
    let not = single(&or[1], "Fn::Not")
        .and_then(Value::as_sequence)
        .expect("Fn::Not");
    let contains = single(&not[0], "Fn::Contains")
        .and_then(Value::as_sequence)
        .expect("Fn::Contains");
    assert_eq!(
        single(&contains[0], "Ref").and_then(Value::as_str),
        Some("LexBotAliasArns")
    );
    assert_eq!(str_of(&contains[1]), "");
}

#[test]
fn api_access_log_records_who_called_and_how_it_went_never_the_request() {
    let t = template();
    let setting = at(
        resource(&t, "WebhookApi"),
        &["Properties", "AccessLogSetting"],
    );
    assert_eq!(
        get_att(at(setting, &["DestinationArn"])),
        Some(("ApiAccessLogGroup", "Arn")),
        "its own log group"
    );
    let format = str_of(at(setting, &["Format"]));
    assert!(!format.contains('\n'), "one line per request: {format}");
    let fields: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(format).expect("the access log format is a JSON object");
    for (key, variable) in [
        ("requestId", "$context.requestId"),
        ("sourceIp", "$context.identity.sourceIp"),
        ("status", "$context.status"),
        ("integrationStatus", "$context.integration.status"),
        ("integrationLatency", "$context.integrationLatency"),
        ("responseLatency", "$context.responseLatency"),
    ] {
        assert_eq!(
            fields.get(key).and_then(|v| v.as_str()),
            Some(variable),
            "the access log carries {key}"
        );
    }
    // Each field is exactly one value API Gateway sets itself: nothing the caller wrote (body,
    // headers, query, user agent) can reach the log or forge a field in it.
    for (key, value) in &fields {
        let value = value.as_str().unwrap_or_else(|| panic!("{key}: a string"));
        let variable = value.strip_prefix("$context.").unwrap_or("");
        assert!(
            !variable.is_empty()
                && variable
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.'),
            "{key}: one $context variable, got {value:?}"
        );
    }
    let lower = format.to_ascii_lowercase();
    for never in [
        "$input",
        "requestoverride",
        "responseoverride",
        "body",
        "header",
        "signature",
        "querystring",
        "useragent",
        "$stagevariables",
        "apikey",
    ] {
        assert!(
            !lower.contains(never),
            "the access log must never carry {never}: {format}"
        );
    }

    let access = resource(&t, "ApiAccessLogGroup");
    assert_eq!(str_of(at(access, &["Type"])), "AWS::Logs::LogGroup");
    let name = sub_text(at(access, &["Properties", "LogGroupName"]));
    assert!(name.contains("${AWS::StackName}"), "{name}");
    assert_ne!(
        name,
        sub_text(at(
            resource(&t, "LogGroup"),
            &["Properties", "LogGroupName"]
        )),
        "apart from the function's logs"
    );
    // Every log group, the function's and the access log, is kept LogRetentionDays.
    let groups = resources_of_type(&t, "AWS::Logs::LogGroup");
    assert_eq!(groups.len(), 2);
    for (name, group) in groups {
        assert_eq!(
            ref_name(at(group, &["Properties", "RetentionInDays"])),
            Some("LogRetentionDays"),
            "{name}"
        );
    }
}

#[test]
fn stack_key_is_optional_and_encrypts_everything_that_stores_data() {
    let t = template();
    let param = at(&t, &["Parameters", "KmsKeyArn"]);
    assert_eq!(
        str_of(at(param, &["Default"])),
        "",
        "AWS managed keys by default"
    );
    let pattern = str_of(at(param, &["AllowedPattern"]));
    assert!(
        pattern.starts_with("^$|") && pattern.contains(":kms:") && pattern.contains(":key/"),
        "empty or a key ARN: {pattern}"
    );
    let not = single(at(&t, &["Conditions", "HasKmsKey"]), "Fn::Not")
        .and_then(Value::as_sequence)
        .expect("HasKmsKey is Not(Equals(..))");
    let equals = single(&not[0], "Fn::Equals")
        .and_then(Value::as_sequence)
        .expect("Fn::Equals");
    assert_eq!(ref_name(&equals[0]), Some("KmsKeyArn"));
    assert_eq!(str_of(&equals[1]), "");

    // Every resource that stores data, of every type that can, takes the key when it is given:
    // a new queue, table, secret, log group or topic without it fails here.
    let key_property: [(&str, &[&str]); 5] = [
        ("AWS::SQS::Queue", &["KmsMasterKeyId"]),
        (
            "AWS::DynamoDB::Table",
            &["SSESpecification", "KMSMasterKeyId"],
        ),
        ("AWS::SecretsManager::Secret", &["KmsKeyId"]),
        ("AWS::Logs::LogGroup", &["KmsKeyId"]),
        ("AWS::SNS::Topic", &["KmsMasterKeyId"]),
    ];
    let mut encrypted = std::collections::BTreeSet::new();
    for (ty, path) in key_property {
        for (name, r) in resources_of_type(&t, ty) {
            let key = path
                .iter()
                .try_fold(at(r, &["Properties"]), |v, k| v.get(*k))
                .unwrap_or_else(|| panic!("{name} ({ty}) has no {}", path.join(".")));
            if ty == "AWS::SNS::Topic" {
                // Never unencrypted: without the stack's key, the topic's own key.
                let (cond, yes, no) = if_branches(key, name);
                assert_eq!(
                    (cond, ref_name(yes), get_att(no)),
                    (
                        "HasKmsKey",
                        Some("KmsKeyArn"),
                        Some(("AlarmTopicKey", "Arn"))
                    ),
                    "{name}"
                );
            } else {
                assert_uses_stack_key(key, name);
            }
            encrypted.insert(name);
        }
    }
    assert_eq!(
        encrypted.into_iter().collect::<Vec<_>>(),
        [
            "AlarmTopic",
            "ApiAccessLogGroup",
            "FailureQueue",
            "LogGroup",
            "StateTable",
            "TurnDeadLetterQueue",
            "TurnQueue",
            "TwilioSecret",
        ],
        "the queues, the table, the secret, the log groups and the SNS alarm topic"
    );
    for queue in ["FailureQueue", "TurnQueue", "TurnDeadLetterQueue"] {
        assert_queue_encrypted(&t, queue);
    }

    // The function may use a key only through the services that encrypt with it, and only the
    // key it is given.
    let kms: Vec<(Option<&str>, &Value)> = conditional_statements(&t)
        .into_iter()
        .filter(|(_, s)| {
            as_list(at(s, &["Action"]))
                .iter()
                .any(|a| str_of(a).starts_with("kms:"))
        })
        .collect();
    assert_eq!(kms.len(), 2, "the stack's key and an existing secret's key");
    let via = |s: &Value| at(s, &["Condition", "StringEquals", "kms:ViaService"]).clone();
    let (cond, stack_key) = kms
        .iter()
        .find(|(_, s)| ref_name(at(s, &["Resource"])) == Some("KmsKeyArn"))
        .expect("a statement on KmsKeyArn");
    assert_eq!(*cond, Some("HasKmsKey"), "only when a key is given");
    let actions: Vec<&str> = as_list(at(stack_key, &["Action"]))
        .into_iter()
        .map(str_of)
        .collect();
    assert_eq!(
        actions,
        ["kms:Decrypt", "kms:GenerateDataKey"],
        "send and receive, read and write: nothing else"
    );
    let services = via(stack_key);
    let services = services.as_sequence().expect("kms:ViaService list");
    assert_eq!(services.len(), 3);
    assert_eq!(sub_text(&services[0]), "sqs.${AWS::Region}.amazonaws.com");
    assert_eq!(
        sub_text(&services[1]),
        "dynamodb.${AWS::Region}.amazonaws.com"
    );
    let (cond, secrets, none) = if_branches(&services[2], "Secrets Manager");
    assert_eq!(cond, "CreateTwilioSecret", "the stack's own secret only");
    assert_eq!(
        sub_text(secrets),
        "secretsmanager.${AWS::Region}.amazonaws.com"
    );
    assert_eq!(ref_name(none), Some("AWS::NoValue"));

    let (cond, secret_key) = kms
        .iter()
        .find(|(_, s)| ref_name(at(s, &["Resource"])) == Some("TwilioSecretKmsKeyArn"))
        .expect("a statement on TwilioSecretKmsKeyArn");
    assert_eq!(*cond, Some("HasSecretKmsKey"));
    assert_eq!(str_of(at(secret_key, &["Action"])), "kms:Decrypt");
    assert_eq!(
        sub_text(&via(secret_key)),
        "secretsmanager.${AWS::Region}.amazonaws.com"
    );
}

#[test]
fn api_gateway_logs_role_is_opt_in_kept_and_set_before_the_stage() {
    let t = template();
    let param = at(&t, &["Parameters", "CreateApiGatewayLogsRole"]);
    assert_eq!(
        str_of(at(param, &["Default"])),
        "false",
        "an account-wide setting is replaced only on request"
    );
    let cond = single(
        at(&t, &["Conditions", "WithApiGatewayLogsRole"]),
        "Fn::Equals",
    )
    .and_then(Value::as_sequence)
    .expect("Fn::Equals");
    assert_eq!(ref_name(&cond[0]), Some("CreateApiGatewayLogsRole"));
    assert_eq!(str_of(&cond[1]), "true");
    for name in ["ApiGatewayLogsRole", "ApiGatewayAccount"] {
        let r = resource(&t, name);
        assert_eq!(
            str_of(at(r, &["Condition"])),
            "WithApiGatewayLogsRole",
            "{name}"
        );
        // Other APIs of the account log through it: a stack deletion must not take it away.
        assert_eq!(str_of(at(r, &["DeletionPolicy"])), "Retain", "{name}");
        assert_eq!(str_of(at(r, &["UpdateReplacePolicy"])), "Retain", "{name}");
    }
    assert_eq!(
        get_att(at(
            resource(&t, "ApiGatewayAccount"),
            &["Properties", "CloudWatchRoleArn"]
        )),
        Some(("ApiGatewayLogsRole", "Arn"))
    );
    let role = at(resource(&t, "ApiGatewayLogsRole"), &["Properties"]);
    let trust = at(role, &["AssumeRolePolicyDocument", "Statement"])
        .as_sequence()
        .expect("Statement");
    assert_eq!(trust.len(), 1);
    assert_eq!(
        str_of(at(&trust[0], &["Principal", "Service"])),
        "apigateway.amazonaws.com"
    );
    let managed = at(role, &["ManagedPolicyArns"])
        .as_sequence()
        .expect("ManagedPolicyArns");
    assert_eq!(managed.len(), 1);
    assert!(
        sub_text(&managed[0])
            .ends_with(":iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"),
        "API Gateway's own logging policy, nothing more"
    );
    assert!(role.get("Policies").is_none());
    // DependsOn cannot be conditional: a tag referring to the account setting orders the stage
    // (with its access log) after it.
    let tags = at(resource(&t, "WebhookApi"), &["Properties", "Tags"])
        .as_mapping()
        .expect("Tags");
    assert!(
        tags.values().any(|v| {
            single(v, "Fn::If")
                .and_then(Value::as_sequence)
                .is_some_and(|b| {
                    str_of(&b[0]) == "WithApiGatewayLogsRole"
                        && ref_name(&b[1]) == Some("ApiGatewayAccount")
                })
        }),
        "the stage refers to ApiGatewayAccount when the stack creates it"
    );
}

#[test]
fn tracing_and_reserved_concurrency_are_one_parameter_each_off_by_default() {
    let t = template();
    let tracing = at(&t, &["Parameters", "Tracing"]);
    assert_eq!(str_of(at(tracing, &["Default"])), "PassThrough");
    assert_eq!(
        at(tracing, &["AllowedValues"]),
        &Value::Sequence(vec!["Active".into(), "PassThrough".into()])
    );
    let with_tracing = single(at(&t, &["Conditions", "WithTracing"]), "Fn::Equals")
        .and_then(Value::as_sequence)
        .expect("Fn::Equals");
    assert_eq!(ref_name(&with_tracing[0]), Some("Tracing"));
    assert_eq!(str_of(&with_tracing[1]), "Active");
    let function = at(resource(&t, "Function"), &["Properties"]);
    assert_eq!(ref_name(at(function, &["Tracing"])), Some("Tracing"));
    let (cond, on, off) = if_branches(
        at(
            resource(&t, "WebhookApi"),
            &["Properties", "TracingEnabled"],
        ),
        "TracingEnabled",
    );
    assert_eq!(cond, "WithTracing");
    assert_eq!((on.as_bool(), off.as_bool()), (Some(true), Some(false)));
    assert!(
        conditional_statements(&t)
            .iter()
            .any(|(c, s)| *c == Some("WithTracing")
                && as_list(at(s, &["Action"]))
                    .iter()
                    .any(|a| str_of(a) == "xray:PutTraceSegments")),
        "the role may send traces when tracing is on"
    );

    let reserved = at(&t, &["Parameters", "ReservedConcurrency"]);
    assert_eq!(str_of(at(reserved, &["Type"])), "Number");
    assert_eq!(
        at(reserved, &["Default"]).as_u64(),
        Some(0),
        "none reserved"
    );
    assert_eq!(at(reserved, &["MinValue"]).as_u64(), Some(0));
    let (cond, value, none) = if_branches(
        at(function, &["ReservedConcurrentExecutions"]),
        "ReservedConcurrentExecutions",
    );
    assert_eq!(cond, "HasReservedConcurrency");
    assert_eq!(ref_name(value), Some("ReservedConcurrency"));
    assert_eq!(
        ref_name(none),
        Some("AWS::NoValue"),
        "0 leaves the property out (0 itself would stop the function)"
    );
    let not = single(at(&t, &["Conditions", "HasReservedConcurrency"]), "Fn::Not")
        .and_then(Value::as_sequence)
        .and_then(|s| single(&s[0], "Fn::Equals"))
        .and_then(Value::as_sequence)
        .expect("Not(Equals(..))");
    assert_eq!(ref_name(&not[0]), Some("ReservedConcurrency"));
    assert_eq!(str_of(&not[1]), "0");
}

#[test]
fn the_alarm_topic_without_the_stacks_key_has_a_key_that_admits_only_this_accounts_alarms() {
    let t = template();
    // Only where the topic would otherwise go unencrypted: alarms on, no KmsKeyArn.
    let both = single(at(&t, &["Conditions", "WithAlarmTopicKey"]), "Fn::And")
        .and_then(Value::as_sequence)
        .expect("WithAlarmTopicKey is And(..)");
    assert_eq!(
        single(&both[0], "Condition").map(str_of),
        Some("HasAlarmEmail")
    );
    let not = single(&both[1], "Fn::Not")
        .and_then(Value::as_sequence)
        .expect("Not(Condition HasKmsKey)");
    assert_eq!(single(&not[0], "Condition").map(str_of), Some("HasKmsKey"));

    let key = resource(&t, "AlarmTopicKey");
    assert_eq!(str_of(at(key, &["Type"])), "AWS::KMS::Key");
    assert_eq!(str_of(at(key, &["Condition"])), "WithAlarmTopicKey");
    let props = at(key, &["Properties"]);
    assert_eq!(at(props, &["EnableKeyRotation"]).as_bool(), Some(true));
    let statements = at(props, &["KeyPolicy", "Statement"])
        .as_sequence()
        .expect("key policy statements");
    assert_eq!(statements.len(), 2, "{statements:?}");
    // The account administers it through IAM (as every key's default policy says)...
    let account = &statements[0];
    assert_eq!(
        sub_text(at(account, &["Principal", "AWS"])),
        "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"
    );
    assert_eq!(str_of(at(account, &["Action"])), "kms:*");
    // ...and CloudWatch may encrypt for and decrypt from the topic, for this account's alarms.
    let alarms = &statements[1];
    assert_eq!(
        str_of(at(alarms, &["Principal", "Service"])),
        "cloudwatch.amazonaws.com"
    );
    let actions: Vec<&str> = as_list(at(alarms, &["Action"]))
        .into_iter()
        .map(str_of)
        .collect();
    assert_eq!(actions, ["kms:Decrypt", "kms:GenerateDataKey*"]);
    assert_eq!(
        ref_name(at(
            alarms,
            &["Condition", "StringEquals", "aws:SourceAccount"]
        )),
        Some("AWS::AccountId")
    );
    for s in statements {
        assert_eq!(str_of(at(s, &["Effect"])), "Allow");
        assert_ne!(
            at(s, &["Principal"]).as_str(),
            Some("*"),
            "no wildcard principal"
        );
    }
}

/// `(resource, check id, comment)` of every checkov suppression in the template's Metadata.
fn suppressions(t: &Value) -> Vec<(&str, &str, &str)> {
    let mut out = Vec::new();
    for (name, r) in at(t, &["Resources"]).as_mapping().expect("Resources") {
        let Some(skips) = r.get("Metadata").and_then(|m| m.get("checkov")) else {
            continue;
        };
        let name = str_of(name);
        for skip in at(skips, &["skip"])
            .as_sequence()
            .expect("checkov: skip: list")
        {
            let comment = skip.get("comment").map(str_of).unwrap_or("");
            out.push((name, str_of(at(skip, &["id"])), comment));
        }
    }
    out
}

#[test]
fn every_scanner_exception_is_explained() {
    let t = template();
    let found = suppressions(&t);
    for (resource, id, comment) in &found {
        let number = id
            .strip_prefix("CKV_AWS_")
            .or_else(|| id.strip_prefix("CKV2_AWS_"))
            .unwrap_or("");
        assert!(
            !number.is_empty() && number.chars().all(|c| c.is_ascii_digit()),
            "{resource}: {id} is not a checkov AWS check id"
        );
        assert!(
            comment.trim().len() >= 40 && !comment.contains('\n') && comment.len() <= 220,
            "{resource}: {id} needs a one-line reason a reviewer can accept, got {comment:?}"
        );
    }
    let mut reviewed = std::collections::BTreeSet::new();
    for (resource, id, _) in &found {
        assert!(
            reviewed.insert((*resource, *id)),
            "{id} suppressed twice on {resource}"
        );
    }
    // Each exception is a security decision: a new one is reviewed, listed here and in
    // docs/deploy.md's Security review.
    let expected: std::collections::BTreeSet<(&str, &str)> = [
        ("WebhookApi", "CKV_AWS_120"),
        ("WebhookApi", "CKV_AWS_73"),
        ("Function", "CKV_AWS_116"),
        ("Function", "CKV_AWS_117"),
        ("Function", "CKV_AWS_115"),
        ("Function", "CKV_AWS_173"),
        ("LogGroup", "CKV_AWS_158"),
        ("ApiAccessLogGroup", "CKV_AWS_158"),
        ("FailureQueue", "CKV_AWS_27"),
        ("TurnQueue", "CKV_AWS_27"),
        ("TurnDeadLetterQueue", "CKV_AWS_27"),
        ("StateTable", "CKV_AWS_119"),
        ("TwilioSecret", "CKV_AWS_149"),
    ]
    .into_iter()
    .collect();
    assert_eq!(reviewed, expected);
    // Where the check would pass with KmsKeyArn set, the reason says the key is optional.
    for (resource, id, comment) in &found {
        if ["CKV_AWS_27", "CKV_AWS_119", "CKV_AWS_149", "CKV_AWS_158"].contains(id) {
            assert!(
                comment.contains("KmsKeyArn") && comment.contains("optional"),
                "{resource}: {id}: {comment}"
            );
        }
    }
    // Suppressions live in Metadata only, where they carry their reason: no inline comments.
    let text = std::fs::read_to_string(root().join("template.yaml")).expect("template.yaml");
    for inline in ["checkov:skip", "bridgecrew:skip"] {
        assert!(
            !text.contains(inline),
            "suppress in the resource's Metadata, not with an inline {inline} comment"
        );
    }

    // docs/deploy.md's Security review lists every exception, and only those.
    let docs = std::fs::read_to_string(root().join("docs/deploy.md")).expect("docs/deploy.md");
    let section = docs
        .split("\n## ")
        .find(|s| s.starts_with("Security review"))
        .expect("docs/deploy.md has a Security review section");
    // `(check id, resources cell)` of each row of the exceptions table.
    let rows: Vec<(&str, &str)> = section
        .lines()
        .filter(|l| l.starts_with("| `CKV"))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let id = cells[1].split('`').nth(1).unwrap_or("");
            (id, cells.get(2).copied().unwrap_or(""))
        })
        .collect();
    for (resource, id) in &expected {
        assert!(
            rows.iter()
                .any(|(row_id, resources)| row_id == id
                    && resources.contains(&format!("`{resource}`"))),
            "docs/deploy.md's Security review has no row for {id} on {resource}"
        );
    }
    for (id, resources) in &rows {
        assert!(
            expected.iter().any(|(_, e)| e == id),
            "docs/deploy.md explains {id} ({resources}), which the template does not suppress"
        );
    }
}

#[test]
fn taking_back_after_the_agent_is_one_group_off_by_default() {
    let t = template();
    let variables = at(
        resource(&t, "Function"),
        &["Properties", "Environment", "Variables"],
    );
    assert_eq!(
        at(variables, &["AFTER_AGENT"]),
        &serde_yaml::from_str::<serde_yaml::Value>("{Ref: AfterAgent}").unwrap()
    );
    for (variable, condition) in [
        ("INTERACTION_WEBHOOK_TTID", "HasInteractionWebhookTtid"),
        ("AFTER_AGENT_MESSAGE", "HasAfterAgentMessage"),
    ] {
        let passed = at(variables, &[variable]);
        assert_eq!(
            str_of(&passed["Fn::If"][0]),
            condition,
            "{variable} is passed only when set"
        );
    }
    assert_eq!(
        str_of(at(&t, &["Parameters", "AfterAgent", "Default"])),
        "none"
    );
    // The defaults pass init; `bot` needs the webhook's ttid.
    let settings = |extra: &[(&str, &str)]| {
        let mut all: std::collections::HashMap<String, String> = [
            ("TWILIO_ACCOUNT_SID", "AC0123456789abcdef0123456789abcdef"),
            ("TWILIO_AUTH_TOKEN", "t"),
            ("FLEX_WORKSPACE_SID", "WS0123456789abcdef0123456789abcdef"),
            ("AFTER_AGENT", "none"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        for (k, v) in extra {
            all.insert((*k).to_owned(), (*v).to_owned());
        }
        flexlex::app::config::Config::from_settings(&all)
    };
    assert!(settings(&[]).is_ok());
    assert!(
        settings(&[
            ("AFTER_AGENT", "bot"),
            ("INTERACTION_WEBHOOK_TTID", "flex_interactionwebhook_abc")
        ])
        .is_ok()
    );
    let missing = settings(&[("AFTER_AGENT", "bot")]).unwrap_err();
    assert_eq!(missing.variable, "INTERACTION_WEBHOOK_TTID");
}
