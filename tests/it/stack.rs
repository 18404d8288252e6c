//! Reads `template.yaml` and checks the promises the stack makes: asynchronous delivery, no
//! Lambda-level retry, a kept record of failures, least-privilege IAM, and a VTL text that is
//! byte for byte the one the VTL proof renders.

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

/// Every statement of the function's role, with `Fn::If [cond, stmt, AWS::NoValue]` unwrapped.
fn function_statements(t: &Value) -> Vec<&Value> {
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
                    out.push(&branches[1]);
                }
                _ => out.push(s),
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
    let passthrough = str_of(at(integ, &["passthroughBehavior"]));
    assert!(
        passthrough == "never" || passthrough == "when_no_templates",
        "unmapped content types must be refused, got {passthrough}"
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
fn async_delivery_never_retries_and_keeps_failures() {
    let t = template();
    let eic = at(
        resource(&t, "Function"),
        &["Properties", "EventInvokeConfig"],
    );
    assert_eq!(
        at(eic, &["MaximumRetryAttempts"]).as_u64(),
        Some(0),
        "Lex must not be asked twice"
    );
    let age_param = single(at(eic, &["MaximumEventAgeInSeconds"]), "Ref")
        .and_then(Value::as_str)
        .expect("age is a parameter");
    let age = at(&t, &["Parameters", age_param]);
    let max = at(age, &["MaxValue"]).as_u64().expect("MaxValue");
    assert!(max <= 21_600 && at(age, &["MinValue"]).as_u64() >= Some(60));
    assert!(at(age, &["Default"]).as_u64().expect("Default") <= 3600);

    let on_failure = at(eic, &["DestinationConfig", "OnFailure"]);
    assert_eq!(str_of(at(on_failure, &["Type"])), "SQS");
    let dest = single(at(on_failure, &["Destination"]), "Fn::GetAtt").expect("GetAtt queue");
    assert_eq!(
        dest,
        &Value::Sequence(vec!["FailureQueue".into(), "Arn".into()])
    );

    let q = at(resource(&t, "FailureQueue"), &["Properties"]);
    assert_eq!(
        str_of(at(resource(&t, "FailureQueue"), &["Type"])),
        "AWS::SQS::Queue"
    );
    let encrypted = q.get("SqsManagedSseEnabled").and_then(Value::as_bool) == Some(true)
        || q.get("KmsMasterKeyId").is_some();
    assert!(
        encrypted,
        "the failure queue holds customer messages: encrypt it"
    );
    assert_eq!(
        at(q, &["MessageRetentionPeriod"]).as_u64(),
        Some(1_209_600),
        "14 days"
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
    ] {
        assert!(names.contains(&required), "missing env var {required}");
    }
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
    let statements = function_statements(&t);
    assert!(!statements.is_empty());
    let mut lex_statements = 0;
    for s in &statements {
        assert_eq!(str_of(at(s, &["Effect"])), "Allow");
        let actions: Vec<&str> = as_list(at(s, &["Action"]))
            .into_iter()
            .map(str_of)
            .collect();
        let resources = as_list(at(s, &["Resource"]));
        for r in &resources {
            assert_ne!(r.as_str(), Some("*"), "no wildcard resource in {s:?}");
        }
        for a in &actions {
            assert!(!a.contains('*'), "no wildcard action: {a}");
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
        if actions.iter().any(|a| a.starts_with("sqs:")) {
            assert_eq!(actions, ["sqs:SendMessage"]);
            let dest = single(resources[0], "Fn::GetAtt").expect("GetAtt");
            assert_eq!(
                dest,
                &Value::Sequence(vec!["FailureQueue".into(), "Arn".into()])
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
    assert!(metric("AWS/SQS", "ApproximateNumberOfMessagesVisible").is_some());
    assert!(at(&t, &["Conditions"]).get("HasAlarmEmail").is_some());
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
