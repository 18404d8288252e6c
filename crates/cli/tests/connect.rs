//! `flexlex connect` as a process against the Twilio emulator: create, an idempotent second
//! run, an update found on a later page, a dry run, the listing, Twilio's refusals and usage
//! errors.

mod support;

use flexlex_emulators::twilio::{AddressConfiguration, AutoCreation};
use support::{Twilio, flexlex, run};

const STACK_URL: &str = "https://abc123defg.execute-api.us-east-1.amazonaws.com/prod/webhook?BotId=<BotId>&BotAliasId=<BotAliasId>";
const BASE: &str = "https://abc123defg.execute-api.us-east-1.amazonaws.com/prod/webhook";
const NUMBER: &str = "+15017122661";

fn bot_url(locale: Option<&str>) -> String {
    let locale = locale.map(|l| format!("&LocaleId={l}")).unwrap_or_default();
    format!("{BASE}?BotId=ABCDEFGHIJ&BotAliasId=TSTALIASID{locale}")
}

fn connect(args: &[&str]) -> std::process::Command {
    let mut all = vec!["connect"];
    all.extend_from_slice(args);
    flexlex(&all)
}

fn only(configs: Vec<AddressConfiguration>) -> AddressConfiguration {
    assert_eq!(configs.len(), 1, "{configs:#?}");
    configs.into_iter().next().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_the_address_then_a_second_run_changes_nothing() {
    let twilio = Twilio::start().await;
    twilio.emulator.own_number(NUMBER);
    let args = [
        "--url",
        STACK_URL,
        "--bot-id",
        "ABCDEFGHIJ",
        "--bot-alias-id",
        "TSTALIASID",
        "--locale",
        "en_GB",
        "--sms",
        NUMBER,
    ];

    let mut first = connect(&args);
    twilio.with_api_key(&mut first);
    let first = run(first).await;
    assert_eq!(first.code, Some(0), "{}", first.all());
    let created = only(twilio.emulator.address_configurations());
    assert_eq!(created.kind, "sms");
    assert_eq!(created.address, NUMBER);
    assert_eq!(created.friendly_name.as_deref(), Some("flexlex"));
    assert_eq!(
        created.auto_creation,
        AutoCreation::webhook(&bot_url(Some("en_GB")), "POST", &["onMessageAdded"])
    );
    assert_eq!(
        first.stdout,
        format!(
            "{NUMBER} (sms): no address configuration yet\n  \
             Type: (none) → sms\n  \
             Address: (none) → {NUMBER}\n  \
             FriendlyName: (none) → flexlex\n  \
             AutoCreation.Enabled: (none) → true\n  \
             AutoCreation.Type: (none) → webhook\n  \
             AutoCreation.WebhookUrl: (none) → {url}\n  \
             AutoCreation.WebhookMethod: (none) → POST\n  \
             AutoCreation.WebhookFilters: (none) → onMessageAdded\n\
             created {sid}: it now reaches {url}\n",
            url = bot_url(Some("en_GB")),
            sid = created.sid
        )
    );
    let writes = twilio.address_writes();
    assert_eq!(writes.len(), 1, "{writes:#?}");
    assert_eq!(
        (
            writes[0].method.as_str(),
            writes[0].path.as_str(),
            writes[0].status
        ),
        ("POST", "/v1/Configuration/Addresses", 201)
    );
    assert!(
        writes[0].auth_user.as_deref() == Some(twilio.key_sid.as_str()),
        "the API key is preferred"
    );

    let mut second = connect(&args);
    twilio.with_api_key(&mut second);
    let second = run(second).await;
    assert_eq!(second.code, Some(0), "{}", second.all());
    assert_eq!(
        second.stdout,
        format!(
            "{} sms {NUMBER} \"flexlex\"\nnothing to change: it already reaches {}\n",
            created.sid,
            bot_url(Some("en_GB"))
        )
    );
    assert_eq!(
        twilio.address_writes().len(),
        1,
        "the second run wrote nothing"
    );
    assert_eq!(only(twilio.emulator.address_configurations()), created);
    for ran in [&first, &second] {
        ran.prints_none_of(
            &twilio
                .secrets()
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatsapp_addresses_are_prefixed_and_auth_tokens_work_too() {
    let twilio = Twilio::start().await;
    twilio.emulator.own_number("+447700900123");
    let mut command = connect(&[
        "--url",
        &bot_url(None),
        "--whatsapp",
        "+447700900123",
        "--friendly-name",
        "WhatsApp bot",
    ]);
    twilio.with_auth_token(&mut command);
    let ran = run(command).await;
    assert_eq!(ran.code, Some(0), "{}", ran.all());
    let created = only(twilio.emulator.address_configurations());
    assert_eq!(
        (
            created.kind.as_str(),
            created.address.as_str(),
            created.friendly_name.as_deref()
        ),
        ("whatsapp", "whatsapp:+447700900123", Some("WhatsApp bot"))
    );
    // The URL's own ids are used when no --bot-id is given.
    assert_eq!(
        created.auto_creation,
        AutoCreation::webhook(&bot_url(None), "POST", &["onMessageAdded"])
    );
    assert_eq!(
        twilio.address_writes()[0].auth_user,
        Some(twilio.emulator.account_sid().to_string())
    );
    ran.prints_none_of(&[&twilio.emulator.auth_token()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_the_configuration_found_on_a_later_page() {
    let twilio = Twilio::start().await;
    for i in 0..55 {
        twilio.emulator.seed_address_configuration(
            "sms",
            &format!("+1555000{i:04}"),
            None,
            AutoCreation::default(),
        );
    }
    let flow = "FW0123456789abcdef0123456789abcdef";
    let sid = twilio.emulator.seed_address_configuration(
        "sms",
        NUMBER,
        Some("Studio SMS"),
        AutoCreation::studio(flow),
    );
    let mut command = connect(&[
        "--url",
        STACK_URL,
        "--bot-id",
        "ABCDEFGHIJ",
        "--bot-alias-id",
        "TSTALIASID",
        "--sms",
        NUMBER,
    ]);
    twilio.with_api_key(&mut command);
    let ran = run(command).await;
    assert_eq!(ran.code, Some(0), "{}", ran.all());
    assert_eq!(
        ran.stdout,
        format!(
            "{sid} sms {NUMBER} \"Studio SMS\"\n  \
             AutoCreation.Type: studio → webhook\n  \
             AutoCreation.WebhookUrl: (none) → {url}\n  \
             AutoCreation.WebhookMethod: (none) → POST\n  \
             AutoCreation.WebhookFilters: (none) → onMessageAdded\n\
             updated {sid}: it now reaches {url}\n",
            url = bot_url(None)
        )
    );
    let configs = twilio.emulator.address_configurations();
    assert_eq!(configs.len(), 56, "updated, not created");
    let updated = configs.iter().find(|c| c.sid == sid).unwrap();
    assert_eq!(
        updated.auto_creation,
        AutoCreation {
            studio_flow_sid: Some(flow.to_owned()),
            ..AutoCreation::webhook(&bot_url(None), "POST", &["onMessageAdded"])
        }
    );
    let lists: Vec<String> = twilio
        .emulator
        .requests()
        .iter()
        .filter(|r| r.method == "GET")
        .map(|r| format!("{}?{}", r.path, r.query.clone().unwrap_or_default()))
        .collect();
    assert_eq!(
        lists,
        [
            "/v1/Configuration/Addresses?PageSize=50",
            "/v1/Configuration/Addresses?PageSize=50&Page=1&PageToken=PT50"
        ]
    );
    let writes = twilio.address_writes();
    assert_eq!(writes.len(), 1);
    assert_eq!(writes[0].path, format!("/v1/Configuration/Addresses/{sid}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_prints_the_plan_and_writes_nothing() {
    let twilio = Twilio::start().await;
    let before = AutoCreation::webhook(
        &bot_url(None),
        "GET",
        &["onParticipantAdded", "onMessageAdded"],
    );
    let sid = twilio
        .emulator
        .seed_address_configuration("sms", NUMBER, None, before.clone());
    let mut command = connect(&["--url", &bot_url(None), "--sms", NUMBER, "--dry-run"]);
    twilio.with_api_key(&mut command);
    let ran = run(command).await;
    assert_eq!(ran.code, Some(0), "{}", ran.all());
    assert_eq!(
        ran.stdout,
        format!(
            "{sid} sms {NUMBER}\nwould update:\n  \
             AutoCreation.WebhookMethod: GET → POST\n  \
             AutoCreation.WebhookFilters: onMessageAdded, onParticipantAdded → onMessageAdded\n\
             dry run: nothing was changed\n"
        )
    );
    assert!(twilio.address_writes().is_empty());
    assert_eq!(
        only(twilio.emulator.address_configurations()).auto_creation,
        before
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_marks_the_addresses_that_reach_the_url() {
    let twilio = Twilio::start().await;
    let reaching = twilio.emulator.seed_address_configuration(
        "sms",
        NUMBER,
        Some("bot"),
        AutoCreation::webhook(&bot_url(None), "POST", &["onMessageAdded"]),
    );
    let studio = twilio.emulator.seed_address_configuration(
        "chat",
        "urn:flex:webchat:1",
        Some("Webchat"),
        AutoCreation::studio("FW0123456789abcdef0123456789abcdef"),
    );
    let elsewhere = twilio.emulator.seed_address_configuration(
        "whatsapp",
        "whatsapp:+447700900123",
        Some("old"),
        AutoCreation::webhook(
            "https://old.example.com/webhook?BotId=ABCDEFGHIJ&BotAliasId=TSTALIASID",
            "POST",
            &["onMessageAdded"],
        ),
    );
    let mut command = connect(&["--list", "--url", STACK_URL]);
    twilio.with_api_key(&mut command);
    let ran = run(command).await;
    assert_eq!(ran.code, Some(0), "{}", ran.all());
    assert_eq!(
        ran.stdout,
        format!(
            "{reaching} sms {NUMBER} \"bot\": webhook POST [onMessageAdded] {}  ← reaches this URL\n\
             {studio} chat urn:flex:webchat:1 \"Webchat\": studio FW0123456789abcdef0123456789abcdef\n\
             {elsewhere} whatsapp whatsapp:+447700900123 \"old\": webhook POST [onMessageAdded] https://old.example.com/webhook?BotId=ABCDEFGHIJ&BotAliasId=TSTALIASID\n\
             3 address configuration(s), 1 reach {BASE}\n",
            bot_url(None)
        )
    );
    assert!(twilio.address_writes().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webchat_address_is_updated_by_its_sid() {
    let twilio = Twilio::start().await;
    let sid = twilio.emulator.seed_address_configuration(
        "chat",
        "urn:flex:webchat:1",
        Some("Webchat"),
        AutoCreation::studio("FW0123456789abcdef0123456789abcdef"),
    );
    let mut command = connect(&["--url", &bot_url(None), "--address-sid", sid.as_str()]);
    twilio.with_api_key(&mut command);
    let ran = run(command).await;
    assert_eq!(ran.code, Some(0), "{}", ran.all());
    assert!(
        ran.stdout.ends_with(&format!(
            "updated {sid}: it now reaches {}\n",
            bot_url(None)
        )),
        "{}",
        ran.all()
    );
    let config = only(twilio.emulator.address_configurations());
    assert_eq!(config.auto_creation.webhook_url, Some(bot_url(None)));

    let unknown = "IG00000000000000000000000000000000";
    let mut command = connect(&["--url", &bot_url(None), "--address-sid", unknown]);
    twilio.with_api_key(&mut command);
    let ran = run(command).await;
    assert_eq!(ran.code, Some(1), "{}", ran.all());
    assert_eq!(
        ran.stderr,
        format!(
            "flexlex: there is no address configuration {unknown} on this account (1 listed)\n  \
             what to do: `flexlex connect --list` shows them; webchat addresses are created in \
             the Flex Console (Flex > Manage > Messaging)\n"
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twilio_refusing_exits_1_with_its_code_and_what_to_do() {
    let twilio = Twilio::start().await;

    // A number the account does not own.
    let mut command = connect(&["--url", &bot_url(None), "--sms", "+15550009999"]);
    twilio.with_api_key(&mut command);
    let ran = run(command).await;
    assert_eq!(ran.code, Some(1), "{}", ran.all());
    assert_eq!(
        ran.stderr,
        "flexlex: Twilio refused to create the address configuration: HTTP 400, code 20001: \
         Address +15550009999 is not a phone number or sender of this account \
         (https://www.twilio.com/docs/errors/20001)\n  \
         what to do: check that +15550009999 is a number (or sender) of this Twilio account, \
         written in E.164 (+ and digits), and the command's values\n"
    );
    assert!(twilio.emulator.address_configurations().is_empty());

    // Wrong credentials.
    let mut command = connect(&["--url", &bot_url(None), "--sms", NUMBER]);
    twilio.with_api_key(&mut command);
    command.env("TWILIO_API_KEY_SECRET", "not-the-secret-4711");
    let ran = run(command).await;
    assert_eq!(ran.code, Some(1), "{}", ran.all());
    assert_eq!(
        ran.stderr,
        "flexlex: Twilio refused to list the address configurations: HTTP 401, code 20003: \
         Authenticate (https://www.twilio.com/docs/errors/20003)\n  \
         what to do: check the credentials: TWILIO_API_KEY_SID/TWILIO_API_KEY_SECRET, or \
         TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN, and TWILIO_REGION (API keys belong to one region)\n"
    );
    ran.prints_none_of(&["not-the-secret-4711", &twilio.key_secret]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_and_configuration_errors_exit_2_and_touch_nothing() {
    let twilio = Twilio::start().await;
    twilio.emulator.own_number(NUMBER);
    let cases: &[(&[&str], &str)] = &[
        (&["--url", BASE, "--sms", NUMBER], "--bot-id is required"),
        (
            &["--url", STACK_URL, "--sms", NUMBER],
            "--bot-id is required",
        ),
        (
            &[
                "--url",
                BASE,
                "--bot-id",
                "abcdefghij",
                "--bot-alias-id",
                "TSTALIASID",
                "--sms",
                NUMBER,
            ],
            "--bot-id: BotId `abcdefghij` is invalid: Lex bot ids are 10 upper-case letters and digits",
        ),
        (
            &[
                "--url",
                BASE,
                "--bot-id",
                "ABCDEFGHIJ",
                "--bot-alias-id",
                "TST-ALIAS",
                "--sms",
                NUMBER,
            ],
            "--bot-alias-id: BotAliasId `TST-ALIAS` is invalid: must be letters and digits",
        ),
        (
            &["--url", &bot_url(None), "--sms", "5017122661"],
            "--sms `5017122661` is not a phone number in E.164 format",
        ),
        (&["--url", &bot_url(None)], "name the address: --sms +E164"),
        (
            &["--url", "ftp://example.com/webhook", "--sms", NUMBER],
            "--url: `ftp://example.com/webhook` must start with https://",
        ),
        (
            &["--url", "https://", "--sms", NUMBER],
            "--url: `https://` is not a URL",
        ),
        (
            &[
                "--url",
                &bot_url(None),
                "--sms",
                NUMBER,
                "--whatsapp",
                NUMBER,
            ],
            "cannot be used with",
        ),
        (&["--sms", NUMBER], "--url <URL>"),
        (
            &[
                "--url",
                &bot_url(None),
                "--sms",
                NUMBER,
                "--studio-flow",
                "FW123",
            ],
            "--studio-flow `FW123` is not a Studio flow SID (FW and 32 hex digits)",
        ),
    ];
    for (args, expected) in cases {
        let mut command = connect(args);
        twilio.with_api_key(&mut command);
        let ran = run(command).await;
        assert_eq!(ran.code, Some(2), "{args:?}\n{}", ran.all());
        assert!(
            ran.stderr.contains(expected),
            "{args:?}: {expected:?} in\n{}",
            ran.all()
        );
        assert!(ran.stdout.is_empty(), "{args:?}\n{}", ran.all());
    }
    // No credentials at all: the variable to set is named.
    let ran = run(connect(&["--url", &bot_url(None), "--sms", NUMBER])).await;
    assert_eq!(ran.code, Some(2), "{}", ran.all());
    assert!(
        ran.stderr.contains("TWILIO_ACCOUNT_SID: missing"),
        "{}",
        ran.all()
    );
    assert!(
        twilio.emulator.requests().is_empty(),
        "no usage error reaches Twilio"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_url_is_accepted_with_a_warning() {
    let twilio = Twilio::start().await;
    twilio.emulator.own_number(NUMBER);
    let url = "http://bot.example.com/webhook?BotId=ABCDEFGHIJ&BotAliasId=TSTALIASID";
    let mut command = connect(&["--url", url, "--sms", NUMBER, "--dry-run"]);
    twilio.with_api_key(&mut command);
    let ran = run(command).await;
    assert_eq!(ran.code, Some(0), "{}", ran.all());
    assert_eq!(
        ran.stderr,
        "flexlex: warning: http://bot.example.com/webhook uses http: use https: API Gateway \
         serves https only, and the Lambda checks the signature against the https URL unless \
         WebhookPublicUrl says otherwise\n"
    );
    // A local endpoint (flexlex serve behind nothing) gets no warning.
    let mut command = connect(&[
        "--url",
        "http://127.0.0.1:8080/webhook?BotId=ABCDEFGHIJ&BotAliasId=TSTALIASID",
        "--sms",
        NUMBER,
        "--dry-run",
    ]);
    twilio.with_api_key(&mut command);
    let ran = run(command).await;
    assert_eq!(ran.code, Some(0), "{}", ran.all());
    assert_eq!(ran.stderr, "");
}

const FLOW: &str = "FW0123456789abcdef0123456789abcdef";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_studio_flow_is_put_in_front_of_the_bot_and_a_second_run_changes_nothing() {
    let twilio = Twilio::start().await;
    let before = AutoCreation::webhook(&bot_url(None), "POST", &["onMessageAdded"]);
    let sid = twilio
        .emulator
        .seed_address_configuration("sms", NUMBER, None, before.clone());
    let args = [
        "--url",
        &bot_url(None),
        "--sms",
        NUMBER,
        "--studio-flow",
        FLOW,
    ];
    let mut command = connect(&args);
    twilio.with_api_key(&mut command);
    let ran = run(command).await;
    assert_eq!(ran.code, Some(0), "{}", ran.all());
    let describe = format!(
        "starts Studio flow {FLOW}, whose Make HTTP Request hands over to {}",
        bot_url(None)
    );
    assert_eq!(
        ran.stdout,
        format!(
            "{sid} sms {NUMBER}\n  \
             AutoCreation.Type: webhook → studio\n  \
             AutoCreation.StudioFlowSid: (none) → {FLOW}\n\
             updated {sid}: it now {describe}\n"
        )
    );
    let writes = twilio.address_writes();
    assert_eq!(writes.len(), 1);
    assert_eq!(
        writes[0].form,
        [
            ("AutoCreation.Enabled", "true"),
            ("AutoCreation.Type", "studio"),
            ("AutoCreation.StudioFlowSid", FLOW),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
    );
    assert_eq!(
        only(twilio.emulator.address_configurations()).auto_creation,
        AutoCreation {
            kind: Some("studio".into()),
            studio_flow_sid: Some(FLOW.into()),
            ..before
        }
    );

    let mut again = connect(&args);
    twilio.with_api_key(&mut again);
    let ran = run(again).await;
    assert_eq!(ran.code, Some(0), "{}", ran.all());
    assert_eq!(
        ran.stdout,
        format!("{sid} sms {NUMBER}\nnothing to change: it already {describe}\n")
    );
    assert_eq!(twilio.address_writes().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_address_can_start_in_a_studio_flow() {
    let twilio = Twilio::start().await;
    twilio.emulator.own_number(NUMBER);
    let mut command = connect(&[
        "--url",
        &bot_url(None),
        "--sms",
        NUMBER,
        "--studio-flow",
        FLOW,
    ]);
    twilio.with_api_key(&mut command);
    let ran = run(command).await;
    assert_eq!(ran.code, Some(0), "{}", ran.all());
    let created = only(twilio.emulator.address_configurations());
    assert_eq!(created.auto_creation, AutoCreation::studio(FLOW));
    assert_eq!(
        twilio.address_writes()[0].form,
        [
            ("Type", "sms"),
            ("Address", NUMBER),
            ("FriendlyName", "flexlex"),
            ("AutoCreation.Enabled", "true"),
            ("AutoCreation.Type", "studio"),
            ("AutoCreation.StudioFlowSid", FLOW),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_after_agent_webhook_is_registered_once_and_its_ttid_printed() {
    let twilio = Twilio::start().await;
    let instance = twilio.emulator.flex_instance_sid().to_string();
    let args = ["--url", STACK_URL, "--after-agent", &instance];
    let mut first = connect(&args);
    twilio.with_api_key(&mut first);
    let first = run(first).await;
    assert_eq!(first.code, Some(0), "{}", first.all());
    let registered = twilio.emulator.interaction_webhooks();
    assert_eq!(registered.len(), 1, "{registered:?}");
    let webhook = &registered[0];
    assert_eq!(webhook.url, BASE);
    assert_eq!(
        webhook.events,
        ["onParticipantLeft", "onChannelStatusUpdated"]
    );
    assert!(
        first
            .stdout
            .contains(&format!("INTERACTION_WEBHOOK_TTID={}", webhook.ttid)),
        "{}",
        first.stdout
    );
    // Again: found, not registered twice, the same ttid.
    let mut second = connect(&args);
    twilio.with_api_key(&mut second);
    let second = run(second).await;
    assert_eq!(second.code, Some(0), "{}", second.all());
    assert_eq!(twilio.emulator.interaction_webhooks().len(), 1);
    assert!(second.stdout.contains("already posts"), "{}", second.stdout);
    assert!(second.stdout.contains(&webhook.ttid));
    // Not a Flex instance: a usage error, nothing registered.
    let mut wrong = connect(&["--url", STACK_URL, "--after-agent", "GOnope"]);
    twilio.with_api_key(&mut wrong);
    let wrong = run(wrong).await;
    assert_eq!(wrong.code, Some(2), "{}", wrong.all());
    assert_eq!(twilio.emulator.interaction_webhooks().len(), 1);
}
