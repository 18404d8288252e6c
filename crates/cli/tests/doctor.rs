//! `flexlex doctor` as a process: against the Twilio emulator, a local `flexlex serve
//! --simulate` (or an in-test server) as the stack's URL, and moto's server for the stack, its
//! secret and its failure queue.

mod support;

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use flexlex_emulators::twilio::AutoCreation;
use flexlex_emulators::webhook::signature;
use support::{Moto, Serve, Twilio, flexlex, run};

const TOKEN: &str = "doctor-signing-token-0f9e";

fn doctor(args: &[&str]) -> std::process::Command {
    let mut all = vec!["doctor"];
    all.extend_from_slice(args);
    flexlex(&all)
}

/// The output with the probe's timing made stable.
fn stable(stdout: &str) -> String {
    stdout
        .lines()
        .map(|line| match line.find("answered 200 in ") {
            Some(at) => format!("{}answered 200 in N ms", &line[..at]),
            None => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn fixes(stdout: &str) -> Vec<&str> {
    stdout.lines().filter(|l| l.starts_with("FIX ")).collect()
}

fn webhook(url: &str) -> AutoCreation {
    AutoCreation::webhook(url, "POST", &["onMessageAdded"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_deployment_exits_0_and_the_probe_validates() {
    let twilio = Twilio::start().await;
    let mut serve = Serve::start(TOKEN);
    let sid = twilio.emulator.seed_address_configuration(
        "sms",
        "+15017122661",
        None,
        webhook(&serve.url),
    );
    let mut command = doctor(&["--url", &serve.url]);
    twilio
        .with_api_key(&mut command)
        .env("TWILIO_AUTH_TOKEN", TOKEN);
    let ran = run(command).await;
    assert_eq!(ran.code, Some(0), "{}", ran.all());
    let base = serve.base();
    assert_eq!(
        stable(&ran.stdout),
        format!(
            "flexlex doctor {base}\n\
             ok    URL: {base} (a local endpoint)\n\
             skip  stack: no --stack: the stack's outputs, secret and failure queue are not checked\n\
             ok    address {sid} +15017122661 (sms): POST onMessageAdded → {base} (BotId FLWRSDEMO1, BotAliasId TSTALIASID)\n\
             ok    probe: a signed onConversationStateUpdated answered 200 in N ms\n\
             everything holds"
        )
    );
    assert_eq!(ran.stderr, "");
    // The bridge behind the URL checked the probe's signature, then ignored the event.
    let event = serve.until(|l| l.starts_with("event "));
    assert_eq!(
        event,
        "event ignored:event_type conversation - (event type onConversationStateUpdated)"
    );
    let mut secrets = twilio.secrets();
    secrets.push(TOKEN.to_owned());
    ran.prints_none_of(&secrets.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        twilio.address_writes().is_empty(),
        "doctor only reads from Twilio"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_address_pitfall_is_a_finding_with_the_command_that_fixes_it() {
    let twilio = Twilio::start().await;
    let serve = Serve::start(TOKEN);
    let base = serve.base();
    let port = base
        .trim_start_matches("http://127.0.0.1:")
        .trim_end_matches("/webhook");
    let bot = "BotId=FLWRSDEMO1&BotAliasId=TSTALIASID";
    let api = "abc.execute-api.us-east-1.amazonaws.com";
    let seeds: Vec<(&str, AutoCreation)> = vec![
        (
            "+15550000001",
            AutoCreation::webhook(&serve.url, "GET", &["onMessageAdded"]),
        ),
        (
            "+15550000002",
            AutoCreation::webhook(&serve.url, "POST", &["onParticipantAdded"]),
        ),
        (
            "+15550000003",
            webhook(&format!("{base}?BotAliasId=TSTALIASID")),
        ),
        (
            "+15550000004",
            webhook(&format!("{base}?BotId=flwrsdemo1&BotAliasId=TSTALIASID")),
        ),
        (
            "+15550000005",
            webhook(&format!("http://127.0.0.2:{port}/webhook?{bot}")),
        ),
        (
            "+15550000006",
            webhook(&format!("https://{api}:8443/prod/webhook?{bot}")),
        ),
        (
            "+15550000007",
            webhook(&format!("http://{api}/prod/webhook?{bot}")),
        ),
        (
            "+15550000008",
            AutoCreation::studio("FW0123456789abcdef0123456789abcdef"),
        ),
        (
            "+15550000009",
            AutoCreation {
                enabled: false,
                ..webhook(&serve.url)
            },
        ),
        (
            "+15550000010",
            webhook(&format!("{base}?BotId=<BotId>&BotAliasId=<BotAliasId>")),
        ),
    ];
    let mut sids = Vec::new();
    let mut args = vec!["--url".to_owned(), serve.url.clone()];
    for (number, auto) in seeds {
        sids.push(
            twilio
                .emulator
                .seed_address_configuration("sms", number, None, auto),
        );
        args.extend(["--address".to_owned(), number.to_owned()]);
    }
    args.extend(["--address".to_owned(), "+15559999999".to_owned()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut command = doctor(&args);
    twilio
        .with_api_key(&mut command)
        .env("TWILIO_AUTH_TOKEN", TOKEN);
    let ran = run(command).await;
    assert_eq!(ran.code, Some(1), "{}", ran.all());
    assert_eq!(ran.stderr, "flexlex: 14 finding(s) to fix\n");

    let subject = |i: usize| format!("FIX   address {} +155500000{:02} (sms)", sids[i], i + 1);
    // Unknown addresses first, then each named one in turn.
    let expected = [
        "FIX   +15559999999: no address configuration has this address or SID".to_owned(),
        format!(
            "{}: method GET: the bridge reads the form body of a POST",
            subject(0)
        ),
        format!(
            "{}: filters [onParticipantAdded] lack onMessageAdded: the bot never hears the customer",
            subject(1)
        ),
        format!(
            "{}: its URL has no BotId: the bridge cannot tell which bot to ask",
            subject(2)
        ),
        format!(
            "{}: its URL's BotId `flwrsdemo1` is invalid: Lex bot ids are 10 upper-case letters and digits",
            subject(3)
        ),
        format!(
            "{}: calls host 127.0.0.2, but the stack is served at 127.0.0.1",
            subject(4)
        ),
        format!(
            "{}: https://{api}:8443/prod/webhook names port 8443",
            subject(5)
        ),
        format!(
            "{}: calls host {api}, but the stack is served at 127.0.0.1",
            subject(5)
        ),
        format!("{}: http://{api}/prod/webhook uses http", subject(6)),
        format!(
            "{}: calls host {api}, but the stack is served at 127.0.0.1",
            subject(6)
        ),
        format!(
            "{}: its integration is a Studio flow: the flow gets the messages, not the bot",
            subject(7)
        ),
        format!(
            "{}: auto-creation is off: messages create no conversation",
            subject(8)
        ),
        format!(
            "{}: its URL still has the placeholder BotId=<BotId>",
            subject(9)
        ),
        format!(
            "{}: its URL still has the placeholder BotAliasId=<BotAliasId>",
            subject(9)
        ),
    ];
    assert_eq!(fixes(&ran.stdout), expected, "{}", ran.all());
    // Each finding says what to do: the connect command for that very address.
    assert!(
        ran.stdout.contains(&format!(
            "      → run `flexlex connect --url {base} --bot-id FLWRSDEMO1 --bot-alias-id TSTALIASID --sms +15550000001`"
        )),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains(
            "      → API Gateway answers on 443 only: use the stack's WebhookUrl without a port; run `flexlex connect"
        ),
        "{}",
        ran.stdout
    );
    // The probe still reached the bridge.
    assert!(
        stable(&ran.stdout)
            .contains("ok    probe: a signed onConversationStateUpdated answered 200 in N ms"),
        "{}",
        ran.stdout
    );
}

/// An endpoint that answers like API Gateway for a path it does not have, and keeps what it
/// received.
async fn missing_resource_endpoint() -> (String, Arc<Mutex<Vec<(Uri, HeaderMap, Bytes)>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let kept = Arc::clone(&seen);
    let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
        let kept = Arc::clone(&kept);
        async move {
            kept.lock().unwrap().push((uri, headers, body));
            (
                StatusCode::FORBIDDEN,
                r#"{"message":"Missing Authentication Token"}"#,
            )
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (format!("http://{address}"), seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_address_reaching_the_url_and_a_refused_probe_are_findings() {
    let twilio = Twilio::start().await;
    let (origin, seen) = missing_resource_endpoint().await;
    let url = format!("{origin}/prod/webhook?BotId=FLWRSDEMO1&BotAliasId=TSTALIASID");
    let elsewhere = twilio.emulator.seed_address_configuration(
        "sms",
        "+15017122661",
        None,
        webhook("https://old.example.com/prod/webhook?BotId=FLWRSDEMO1&BotAliasId=TSTALIASID"),
    );
    let mut command = doctor(&["--url", &url]);
    twilio
        .with_api_key(&mut command)
        .env("TWILIO_AUTH_TOKEN", TOKEN);
    let ran = run(command).await;
    assert_eq!(ran.code, Some(1), "{}", ran.all());
    let base = format!("{origin}/prod/webhook");
    assert_eq!(
        stable(&ran.stdout),
        format!(
            "flexlex doctor {base}\n\
             ok    URL: {base} (a local endpoint)\n\
             skip  stack: no --stack: the stack's outputs, secret and failure queue are not checked\n\
             warn  address {elsewhere} +15017122661 (sms): calls https://old.example.com/prod/webhook, another host with the same path\n      \
             → if it should reach this deployment, check it with --address\n\
             FIX   addresses: none of the 1 address configuration(s) calls {base}\n      \
             → run `flexlex connect --url {base} --bot-id FLWRSDEMO1 --bot-alias-id TSTALIASID --sms +E164 (or --whatsapp, --messenger, --address-sid)`\n\
             FIX   probe: answered HTTP 403 {{\"message\":\"Missing Authentication Token\"}}\n      \
             → API Gateway has no such resource: check the stage and path (…/prod/webhook)"
        )
    );
    assert_eq!(ran.stderr, "flexlex: 2 finding(s) to fix\n");
    // The probe was signed over the exact URL with the auth token, as Twilio signs.
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    let (uri, headers, body) = &seen[0];
    assert_eq!(
        uri.to_string(),
        "/prod/webhook?BotId=FLWRSDEMO1&BotAliasId=TSTALIASID"
    );
    let params: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
    assert_eq!(
        params
            .iter()
            .find(|(k, _)| k == "EventType")
            .map(|(_, v)| v.as_str()),
        Some("onConversationStateUpdated")
    );
    assert_eq!(
        headers["x-twilio-signature"].to_str().unwrap(),
        signature(TOKEN, &url, &params)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn url_pitfalls_are_reported_without_sending_anything() {
    let twilio = Twilio::start().await;
    let bot = "BotId=FLWRSDEMO1&BotAliasId=TSTALIASID";
    let cases = [
        (
            format!("https://bot.example.com:8443/webhook?{bot}"),
            "FIX   URL: https://bot.example.com:8443/webhook names port 8443",
        ),
        (
            format!("http://bot.example.com/webhook?{bot}"),
            "FIX   URL: http://bot.example.com/webhook uses http",
        ),
        (
            format!("https://bot.example.com:443/webhook?{bot}"),
            "warn  URL: https://bot.example.com:443/webhook names the default port :443",
        ),
        (
            "https://bot.example.com/webhook?BotId=<BotId>&BotAliasId=<BotAliasId>".to_owned(),
            "FIX   URL: still has the placeholder(s) BotId=<BotId>, BotAliasId=<BotAliasId>",
        ),
        (
            format!("https://bot.example.com/webhook?{bot}"),
            "warn  URL: bot.example.com is not an execute-api host (a custom domain or proxy)",
        ),
    ];
    for (url, expected) in cases {
        let mut command = doctor(&["--url", &url, "--no-probe"]);
        twilio.with_api_key(&mut command);
        let ran = run(command).await;
        // Every case also lacks an address calling it, so each exits 1.
        assert_eq!(ran.code, Some(1), "{}", ran.all());
        assert!(
            ran.stdout.lines().any(|l| l == expected),
            "{expected:?} in\n{}",
            ran.stdout
        );
        assert!(
            ran.stdout.contains("skip  probe: --no-probe"),
            "{}",
            ran.stdout
        );
    }
    let ran = run(doctor(&["--url", "ftp://bot.example.com/webhook"])).await;
    assert_eq!(ran.code, Some(2), "{}", ran.all());
    assert_eq!(
        ran.stderr,
        "flexlex: --url: `ftp://bot.example.com/webhook` must start with https://\n"
    );
    let ran = run(doctor(&["--stack"])).await;
    assert_eq!(ran.code, Some(2), "{}", ran.all());
}

/// A template moto's CloudFormation runs: the outputs `doctor` reads, named as flexlex's
/// template names them, with the secret passed in as the template's `TwilioSecretArn`
/// parameter (the "existing secret" path of the real template).
const TEMPLATE: &str = r#"{
  "Parameters": {
    "ServedUrl": {"Type": "String"},
    "TwilioSecretArn": {"Type": "String"},
    "WebhookPublicUrl": {"Type": "String", "Default": ""}
  },
  "Resources": {"FailureQueue": {"Type": "AWS::SQS::Queue", "Properties": {}}},
  "Outputs": {
    "WebhookUrl": {"Value": {"Ref": "ServedUrl"}},
    "FailureQueueUrl": {"Value": {"Ref": "FailureQueue"}},
    "TwilioSecretArn": {"Value": {"Ref": "TwilioSecretArn"}}
  }
}"#;

struct Stack {
    secret_arn: String,
    queue_url: String,
}

async fn create_stack(
    sdk: &aws_config::SdkConfig,
    name: &str,
    served: &str,
    public_url: &str,
    secret: &serde_json::Value,
) -> Stack {
    let secrets = aws_sdk_secretsmanager::Client::new(sdk);
    let secret_arn = secrets
        .create_secret()
        .name(format!("{name}-twilio"))
        .secret_string(secret.to_string())
        .send()
        .await
        .unwrap()
        .arn()
        .unwrap()
        .to_owned();
    let cloudformation = aws_sdk_cloudformation::Client::new(sdk);
    let parameter = |key: &str, value: &str| {
        aws_sdk_cloudformation::types::Parameter::builder()
            .parameter_key(key)
            .parameter_value(value)
            .build()
    };
    cloudformation
        .create_stack()
        .stack_name(name)
        .template_body(TEMPLATE)
        .parameters(parameter("ServedUrl", served))
        .parameters(parameter("TwilioSecretArn", &secret_arn))
        .parameters(parameter("WebhookPublicUrl", public_url))
        .send()
        .await
        .unwrap();
    let described = cloudformation
        .describe_stacks()
        .stack_name(name)
        .send()
        .await
        .unwrap();
    let queue_url = described.stacks()[0]
        .outputs()
        .iter()
        .find(|o| o.output_key() == Some("FailureQueueUrl"))
        .and_then(|o| o.output_value())
        .unwrap()
        .to_owned();
    Stack {
        secret_arn,
        queue_url,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stack_its_secret_and_its_failure_queue_are_checked() {
    let Some(moto) = Moto::start("the_stack_its_secret_and_its_failure_queue_are_checked") else {
        return;
    };
    let sdk = moto.sdk_config();
    let twilio = Twilio::start().await;
    let mut serve = Serve::start(TOKEN);
    let base = serve.base();
    let sid = twilio.emulator.seed_address_configuration(
        "sms",
        "+15017122661",
        None,
        webhook(&serve.url),
    );
    let full = serde_json::json!({
        "TWILIO_ACCOUNT_SID": twilio.emulator.account_sid().to_string(),
        "TWILIO_AUTH_TOKEN": TOKEN,
        "TWILIO_PREVIOUS_AUTH_TOKEN": "",
        "TWILIO_API_KEY_SID": twilio.key_sid,
        "TWILIO_API_KEY_SECRET": twilio.key_secret,
    });

    // A healthy stack: the probe is signed with the secret's token (none in the environment).
    let ok = create_stack(&sdk, "flexlex-ok", &serve.url, "", &full).await;
    let mut command = doctor(&["--url", &serve.url, "--stack", "flexlex-ok"]);
    twilio.with_api_key(&mut command);
    moto.env(&mut command);
    let ran = run(command).await;
    assert_eq!(ran.code, Some(0), "{}", ran.all());
    assert_eq!(
        stable(&ran.stdout),
        format!(
            "flexlex doctor {base}\n\
             ok    URL: {base} (a local endpoint)\n\
             ok    stack flexlex-ok: status CREATE_COMPLETE\n\
             ok    stack flexlex-ok: serves {base}\n\
             ok    secret {arn}: holds TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_API_KEY_SID, TWILIO_API_KEY_SECRET (values not shown)\n\
             ok    signatures: without the settings header: auth token (HMAC-SHA1); with it: no shared key: a request a Webhooks configuration signs with a shared key (X-Twilio-Webhooks-Signature-Settings) is refused\n\
             ok    FailureQueueUrl {queue}: empty\n\
             ok    address {sid} +15017122661 (sms): POST onMessageAdded → {base} (BotId FLWRSDEMO1, BotAliasId TSTALIASID)\n\
             ok    probe: a signed onConversationStateUpdated answered 200 in N ms\n\
             everything holds",
            arn = ok.secret_arn,
            queue = ok.queue_url
        )
    );
    assert_eq!(
        serve.until(|l| l.starts_with("event ")),
        "event ignored:event_type conversation - (event type onConversationStateUpdated)",
        "the secret's token signed a probe the bridge accepted"
    );
    let mut secrets = twilio.secrets();
    secrets.push(TOKEN.to_owned());
    ran.prints_none_of(&secrets.iter().map(String::as_str).collect::<Vec<_>>());

    // A broken one: another URL, a half-filled secret, events in the failure queue.
    let served = "https://abc.execute-api.us-east-1.amazonaws.com/prod/webhook?BotId=<BotId>&BotAliasId=<BotAliasId>";
    let half = serde_json::json!({
        "TWILIO_ACCOUNT_SID": "",
        "TWILIO_AUTH_TOKEN": "",
        "TWILIO_API_KEY_SID": twilio.key_sid,
        "TWILIO_API_KEY_SECRET": "",
    });
    let broken = create_stack(&sdk, "flexlex-broken", served, "", &half).await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    for body in ["{\"requestPayload\":1}", "{\"requestPayload\":2}"] {
        sqs.send_message()
            .queue_url(&broken.queue_url)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }
    let mut command = doctor(&["--url", &serve.url, "--stack", "flexlex-broken"]);
    twilio.with_api_key(&mut command);
    moto.env(&mut command);
    let ran = run(command).await;
    assert_eq!(ran.code, Some(1), "{}", ran.all());
    let secret = format!("FIX   secret {}", broken.secret_arn);
    assert_eq!(
        fixes(&ran.stdout),
        [
            format!(
                "FIX   stack flexlex-broken: serves https://abc.execute-api.us-east-1.amazonaws.com/prod/webhook, not {base}"
            ),
            format!(
                "{secret}: TWILIO_AUTH_TOKEN is empty: the Lambda cannot check any webhook's signature"
            ),
            format!(
                "{secret}: only one of TWILIO_API_KEY_SID and TWILIO_API_KEY_SECRET is set: the Lambda refuses to start"
            ),
            format!(
                "FIX   FailureQueueUrl {}: 2 event(s) the function gave up on are waiting (0 being read)",
                broken.queue_url
            ),
        ],
        "{}",
        ran.all()
    );
    assert!(
        ran.stdout.lines().any(|l| l
            == "skip  probe: no auth token to sign it with: set TWILIO_AUTH_TOKEN, or pass --stack to use the secret's"),
        "{}",
        ran.stdout
    );

    // A custom domain: the stack must name it in WebhookPublicUrl.
    let custom = "https://bot.example.com/webhook?BotId=FLWRSDEMO1&BotAliasId=TSTALIASID";
    let mut command = doctor(&["--url", custom, "--stack", "flexlex-ok", "--no-probe"]);
    twilio.with_api_key(&mut command);
    moto.env(&mut command);
    let ran = run(command).await;
    assert_eq!(ran.code, Some(1), "{}", ran.all());
    assert!(
        ran.stdout.lines().any(|l| l
            == "FIX   stack flexlex-ok: bot.example.com is a custom domain or proxy, and the stack's \
                WebhookPublicUrl is empty: signatures are checked against \
                https://{domainName}{path}, not this URL"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains(
            "      → sam deploy --parameter-overrides WebhookPublicUrl=https://bot.example.com/webhook"
        ),
        "{}",
        ran.stdout
    );
    create_stack(
        &sdk,
        "flexlex-public",
        &serve.url,
        "https://bot.example.com/webhook",
        &full,
    )
    .await;
    twilio
        .emulator
        .seed_address_configuration("sms", "+15017122662", None, webhook(custom));
    let mut command = doctor(&["--url", custom, "--stack", "flexlex-public", "--no-probe"]);
    twilio.with_api_key(&mut command);
    moto.env(&mut command);
    let ran = run(command).await;
    assert_eq!(ran.code, Some(0), "{}", ran.all());
    assert!(
        ran.stdout.lines().any(|l| l
            == "ok    stack flexlex-public: WebhookPublicUrl is https://bot.example.com/webhook"),
        "{}",
        ran.stdout
    );
    ran.prints_none_of(&secrets.iter().map(String::as_str).collect::<Vec<_>>());

    // A stack that does not exist.
    let mut command = doctor(&[
        "--url",
        &serve.url,
        "--stack",
        "no-such-stack",
        "--no-probe",
    ]);
    twilio.with_api_key(&mut command);
    moto.env(&mut command);
    let ran = run(command).await;
    assert_eq!(ran.code, Some(1), "{}", ran.all());
    assert!(
        fixes(&ran.stdout)[0].starts_with("FIX   stack no-such-stack: cannot describe it: "),
        "{}",
        ran.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_after_agent_webhook_is_checked_and_its_absence_is_a_finding() {
    let twilio = Twilio::start().await;
    let instance = twilio.emulator.flex_instance_sid().to_string();
    let url = "https://abc123defg.execute-api.us-east-1.amazonaws.com/prod/webhook?BotId=ABCDEFGHIJ&BotAliasId=TSTALIASID";
    let base = "https://abc123defg.execute-api.us-east-1.amazonaws.com/prod/webhook";
    let check = || {
        let mut command = doctor(&["--url", url, "--no-probe", "--after-agent", &instance]);
        twilio.with_api_key(&mut command);
        command
    };
    // Nothing registered: a finding with the command that fixes it.
    let missing = run(check()).await;
    assert_eq!(missing.code, Some(1), "{}", missing.all());
    let after: Vec<&str> = fixes(&missing.stdout)
        .into_iter()
        .filter(|l| l.contains("after agent"))
        .collect();
    assert_eq!(
        after,
        [
            format!("FIX   after agent: no Interactions webhook of {instance} reaches {base}")
                .as_str()
        ]
    );
    assert!(
        missing.stdout.contains(&format!(
            "flexlex connect --url {base} --after-agent {instance}"
        )),
        "{}",
        missing.stdout
    );
    // Registered by connect: ok, with the ttid to deploy with.
    let mut connect = flexlex(&["connect", "--url", url, "--after-agent", &instance]);
    twilio.with_api_key(&mut connect);
    assert_eq!(run(connect).await.code, Some(0));
    let ttid = twilio.emulator.interaction_webhooks()[0].ttid.clone();
    let fine = run(check()).await;
    assert!(
        fine.stdout.contains(&format!(
            "ok    after agent: Interactions webhook {ttid} posts onParticipantLeft, onChannelStatusUpdated here"
        )),
        "{}",
        fine.stdout
    );
    assert!(
        !fine.stdout.contains("FIX   after agent"),
        "{}",
        fine.stdout
    );
}

/// `--sign-with shared-key`: the probe carries the settings header and an HMAC-SHA256 signature
/// with the shared key; a bridge holding that key accepts it, one holding another refuses it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_probe_signs_with_the_shared_key_when_asked() {
    const SHARED: &str = "doctor-shared-key-secret-0123456789";
    let twilio = Twilio::start().await;
    for (held, accepted) in [(SHARED, true), ("another-shared-key-secret", false)] {
        let mut command = flexlex(&["serve", "--simulate", "--port", "0"]);
        command
            .env("TWILIO_AUTH_TOKEN", TOKEN)
            .env("TWILIO_SHARED_KEY_SECRET", held);
        let mut serve = Serve::spawn(command);
        let listening = serve.until(|l| l.starts_with("listening "));
        serve.url = listening.trim_start_matches("listening ").to_owned();
        serve.until(|l| l == "ready");
        twilio.emulator.seed_address_configuration(
            "sms",
            "+15017122661",
            None,
            webhook(&serve.url),
        );
        let mut command = doctor(&["--url", &serve.url, "--sign-with", "shared-key"]);
        twilio
            .with_api_key(&mut command)
            .env("TWILIO_SHARED_KEY_SECRET", SHARED)
            .env("TWILIO_SHARED_KEY_ID", "KS0123");
        let ran = run(command).await;
        assert!(
            ran.stdout.contains("ok    probe: a shared-key (HMAC_SHA256) signed onConversationStateUpdated answered 200"),
            "{}",
            ran.all()
        );
        ran.prints_none_of(&[SHARED, TOKEN]);
        let event = serve.until(|l| l.starts_with("event "));
        if accepted {
            assert_eq!(
                event,
                "event ignored:event_type conversation - (event type onConversationStateUpdated)"
            );
        } else {
            assert!(event.starts_with("event rejected:signature"), "{event}");
        }
    }
}
