//! `flexlex doctor`: checks a deployment end to end and prints each finding with what to do.
//!
//! Order: the URL itself; with `--stack`, the stack (it says which host is really served and
//! holds the token the probe is signed with); the address configurations that should reach the
//! URL; then a signed probe. A finding is `ok`, `warn` (works, but worth a look), `FIX` (Twilio's
//! messages will not reach the bot, or not validate) or `skip` (not checked, and why). Any `FIX`
//! makes the exit code 1.

use std::time::{Duration, Instant};

use crate::aws_stack::{self, Aws, StackFacts};
use crate::connect::{FILTER, METHOD, refused};
use crate::signing;
use crate::twilio_admin::{AddressConfig, TwilioAdmin};
use crate::webhook_url::{
    self, WebhookUrl, is_placeholder, parse_alias_id, parse_bot_id, parse_locale,
};
use crate::{CliError, DoctorArgs};
use flexlex::domain::secret::Secret;
use flexlex_emulators::sid::random_hex;

/// A parser of one of the URL's bot parameters.
type IdCheck = fn(&str) -> Result<(), String>;

/// Twilio waits this long for a Conversations webhook to answer.
const TWILIO_TIMEOUT: Duration = Duration::from_secs(5);

/// Findings as they are printed, and how many need fixing.
#[derive(Default)]
struct Report {
    fixes: usize,
}

impl Report {
    fn ok(&mut self, subject: &str, what: &str) {
        outln!("ok    {subject}: {what}");
    }

    fn warn(&mut self, subject: &str, what: &str, todo: &str) {
        outln!("warn  {subject}: {what}\n      → {todo}");
    }

    fn fix(&mut self, subject: &str, what: &str, todo: &str) {
        self.fixes += 1;
        outln!("FIX   {subject}: {what}\n      → {todo}");
    }

    fn skip(&mut self, subject: &str, why: &str) {
        outln!("skip  {subject}: {why}");
    }
}

pub async fn run(args: DoctorArgs) -> Result<(), CliError> {
    let url = webhook_url::stack_url(&args.url)?;
    let admin = TwilioAdmin::from_env()?;
    let aws = match &args.stack {
        Some(_) => Some(Aws::new(args.region.clone()).await?),
        None => None,
    };
    let mut report = Report::default();
    outln!("flexlex doctor {}", url.base);

    check_url(&mut report, &url);
    let stack = match (&aws, &args.stack) {
        (Some(aws), Some(name)) => check_stack(&mut report, aws, name, &url).await,
        _ => {
            report.skip(
                "stack",
                "no --stack: the stack's outputs, secret and failure queue are not checked",
            );
            if !is_execute_api(&url) && !url.is_local() {
                report.warn(
                    "URL",
                    &format!(
                        "{} is not an execute-api host (a custom domain or proxy)",
                        url.host
                    ),
                    &format!(
                        "the stack's WebhookPublicUrl must be exactly {} (check with --stack)",
                        url.base
                    ),
                );
            }
            StackCheck::default()
        }
    };
    check_addresses(&mut report, &admin, &args, &url).await;
    if let Some(instance) = &args.after_agent {
        check_after_agent(&mut report, &admin, instance.trim(), &url).await;
    }
    probe(
        &mut report,
        &args,
        &url,
        stack.auth_token.as_ref(),
        stack.shared_key.as_ref(),
    )
    .await;

    if report.fixes == 0 {
        outln!("everything holds");
        Ok(())
    } else {
        Err(CliError::Findings(report.fixes))
    }
}

/// The `interaction`-type Interactions webhook that tells the stack when the agent is done:
/// there, posting both events to this stack.
async fn check_after_agent(
    report: &mut Report,
    admin: &TwilioAdmin,
    instance: &str,
    url: &WebhookUrl,
) {
    let subject = "after agent";
    let connect = format!(
        "flexlex connect --url {} --after-agent {instance}",
        url.base
    );
    let listed = match admin.interaction_webhooks(instance).await {
        Ok(listed) => listed,
        Err(e) => {
            report.fix(
                subject,
                &format!("the Interactions webhooks of {instance} cannot be read: {e}"),
                "check the Flex instance SID (Flex Console > Settings > General) and the credentials",
            );
            return;
        }
    };
    let events = flexlex::intake::interactions::TAKE_BACK_EVENTS;
    let ours: Vec<_> = listed
        .iter()
        .filter(|w| w.kind == "interaction" && w.webhook_url == url.base)
        .collect();
    match ours.iter().find(|w| {
        events
            .iter()
            .all(|e| w.webhook_events.iter().any(|have| have == e))
    }) {
        Some(webhook) if webhook.webhook_method.eq_ignore_ascii_case("post") => report.ok(
            subject,
            &format!(
                "Interactions webhook {} posts {} here; deploy with AFTER_AGENT=bot \
                 INTERACTION_WEBHOOK_TTID={}",
                webhook.ttid,
                events.join(", "),
                webhook.ttid
            ),
        ),
        Some(webhook) => report.fix(
            subject,
            &format!(
                "Interactions webhook {} uses {}",
                webhook.ttid, webhook.webhook_method
            ),
            &format!("it must POST; {connect} registers one that does"),
        ),
        None if ours.is_empty() => report.fix(
            subject,
            &format!("no Interactions webhook of {instance} reaches {}", url.base),
            &format!("{connect} registers it and prints the ttid"),
        ),
        None => report.fix(
            subject,
            &format!(
                "the Interactions webhook reaching {} lacks {}",
                url.base,
                events.join(" or ")
            ),
            &format!("{connect} registers one with both"),
        ),
    }
}

fn is_execute_api(url: &WebhookUrl) -> bool {
    url.host.contains(".execute-api.") && url.host.ends_with(".amazonaws.com")
}

/// The `connect` command that repairs a configuration.
fn repair(url: &WebhookUrl, config: Option<&AddressConfig>) -> String {
    let address = match config {
        Some(c) if c.kind.eq_ignore_ascii_case("sms") => format!("--sms {}", c.address),
        Some(c) if c.kind.eq_ignore_ascii_case("whatsapp") => {
            format!("--whatsapp {}", c.address.trim_start_matches("whatsapp:"))
        }
        Some(c) if c.kind.eq_ignore_ascii_case("messenger") => {
            format!("--messenger {}", c.address.trim_start_matches("messenger:"))
        }
        Some(c) => format!("--address-sid {}", c.sid),
        None => "--sms +E164 (or --whatsapp, --messenger, --address-sid)".to_owned(),
    };
    let bot = |name: &str, flag: &str| match url.param(name).filter(|v| !is_placeholder(v)) {
        Some(value) => format!(" {flag} {value}"),
        None if name == "LocaleId" => String::new(),
        None => format!(" {flag} …"),
    };
    format!(
        "run `flexlex connect --url {}{}{}{} {address}`",
        url.base,
        bot("BotId", "--bot-id"),
        bot("BotAliasId", "--bot-alias-id"),
        bot("LocaleId", "--locale"),
    )
}

fn check_url(report: &mut Report, url: &WebhookUrl) {
    let pitfalls = url.pitfalls();
    for (problem, todo) in &pitfalls {
        if url.explicit_port.as_deref() == Some("443") && url.scheme == "https" {
            report.warn("URL", problem, todo);
        } else {
            report.fix("URL", problem, todo);
        }
    }
    if pitfalls.is_empty() {
        let how = if url.is_local() {
            "a local endpoint"
        } else {
            "https, no port"
        };
        report.ok("URL", &format!("{} ({how})", url.base));
    }
    let named: Vec<String> = ["BotId", "BotAliasId"]
        .iter()
        .filter_map(|name| url.param(name).map(|v| (name, v)))
        .filter(|(_, v)| is_placeholder(v))
        .map(|(name, v)| format!("{name}={v}"))
        .collect();
    if !named.is_empty() {
        report.fix(
            "URL",
            &format!("still has the placeholder(s) {}", named.join(", ")),
            "put your bot's ids in (Lex console: the bot's id and its alias id)",
        );
    }
}

/// What the stack check learned for the later checks.
#[derive(Default)]
struct StackCheck {
    /// The auth token in the stack's secret, to sign the probe with.
    auth_token: Option<Secret>,
    /// The shared key (and its id) in the stack's secret, for `--sign-with shared-key`.
    shared_key: Option<(Option<String>, Secret)>,
}

async fn check_stack(report: &mut Report, aws: &Aws, name: &str, url: &WebhookUrl) -> StackCheck {
    let subject = format!("stack {name}");
    let facts = match aws.stack(name).await {
        Ok(facts) => facts,
        Err(e) => {
            report.fix(
                &subject,
                &format!("cannot describe it: {e}"),
                "check the stack name, --region and the AWS credentials (cloudformation:DescribeStacks)",
            );
            return StackCheck::default();
        }
    };
    let complete = facts.status.ends_with("_COMPLETE");
    if !complete || facts.status.contains("ROLLBACK") {
        let what = format!("status {}", facts.status);
        if complete {
            report.warn(
                &subject,
                &what,
                "the last update was rolled back: see the stack's events",
            );
        } else {
            report.fix(
                &subject,
                &what,
                "wait for the deployment to finish, or fix what its events report",
            );
        }
    } else {
        report.ok(&subject, &format!("status {}", facts.status));
    }
    let mut check = StackCheck::default();
    check_served_url(report, &subject, &facts, url);
    check_secret(report, aws, &facts, &mut check).await;
    check_queues(report, aws, &facts).await;
    check
}

/// Whether the stack serves the URL: its `WebhookUrl` output, or for a custom domain or proxy
/// in front of it, its `WebhookPublicUrl` parameter.
fn check_served_url(report: &mut Report, subject: &str, facts: &StackFacts, url: &WebhookUrl) {
    let Some(served) = facts
        .outputs
        .get("WebhookUrl")
        .and_then(|raw| WebhookUrl::parse(raw).ok())
    else {
        report.fix(
            subject,
            "has no WebhookUrl output",
            "deploy flexlex's template.yaml (sam deploy)",
        );
        return;
    };
    let public = facts
        .parameters
        .get("WebhookPublicUrl")
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty());
    if served.same_endpoint(url) {
        report.ok(subject, &format!("serves {}", served.base));
        if let Some(public) = public {
            report.warn(
                subject,
                &format!("WebhookPublicUrl is {public}, but Twilio calls the execute-api URL"),
                "leave WebhookPublicUrl empty unless Twilio calls a custom domain or proxy",
            );
        }
    } else if is_execute_api(url) || url.is_local() {
        report.fix(
            subject,
            &format!("serves {}, not {}", served.base, url.base),
            "use the stack's WebhookUrl output (sam list stack-outputs), or the right --stack",
        );
    } else {
        // A custom domain or proxy in front: the Lambda can only check signatures against
        // the URL Twilio calls when WebhookPublicUrl names it.
        match public {
            None => report.fix(
                subject,
                &format!(
                    "{} is a custom domain or proxy, and the stack's WebhookPublicUrl is empty: \
                     signatures are checked against https://{{domainName}}{{path}}, not this URL",
                    url.host
                ),
                &format!(
                    "sam deploy --parameter-overrides WebhookPublicUrl={}",
                    url.base
                ),
            ),
            Some(public) if WebhookUrl::parse(&public).is_ok_and(|p| p.same_endpoint(url)) => {
                report.ok(subject, &format!("WebhookPublicUrl is {public}"));
            }
            Some(public) => report.fix(
                subject,
                &format!(
                    "WebhookPublicUrl is {public}, but Twilio calls {}",
                    url.base
                ),
                &format!(
                    "sam deploy --parameter-overrides WebhookPublicUrl={}",
                    url.base
                ),
            ),
        }
    }
}

async fn check_secret(report: &mut Report, aws: &Aws, facts: &StackFacts, check: &mut StackCheck) {
    let arn = facts
        .outputs
        .get("TwilioSecretArn")
        .or_else(|| facts.parameters.get("TwilioSecretArn"))
        .filter(|a| !a.trim().is_empty());
    let Some(arn) = arn else {
        report.fix(
            "secret",
            "the stack names no Twilio secret (no TwilioSecretArn output)",
            "deploy flexlex's template.yaml",
        );
        return;
    };
    let secret = match aws.secret(arn).await {
        Ok(secret) => secret,
        Err(e) => {
            report.fix(
                "secret",
                &format!("cannot read {arn}: {e}"),
                "check the AWS credentials (secretsmanager:GetSecretValue) and that the secret exists",
            );
            return;
        }
    };
    let subject = format!("secret {arn}");
    let fill = "fill it: aws secretsmanager put-secret-value (docs/deploy.md, step 3)";
    let mut problems = 0;
    for key in &secret.not_strings {
        problems += 1;
        report.fix(&subject, &format!("{key} is not a string"), fill);
    }
    if !secret.has("TWILIO_AUTH_TOKEN") {
        problems += 1;
        report.fix(
            &subject,
            "TWILIO_AUTH_TOKEN is empty: the Lambda cannot check any webhook's signature",
            fill,
        );
    }
    let key = secret.has("TWILIO_API_KEY_SID");
    let key_secret = secret.has("TWILIO_API_KEY_SECRET");
    if key != key_secret {
        problems += 1;
        report.fix(
            &subject,
            "only one of TWILIO_API_KEY_SID and TWILIO_API_KEY_SECRET is set: the Lambda refuses to start",
            fill,
        );
    } else if !key && !secret.has("TWILIO_ACCOUNT_SID") {
        problems += 1;
        report.fix(
            &subject,
            "neither an API key nor TWILIO_ACCOUNT_SID: the Lambda cannot call Twilio",
            fill,
        );
    }
    if let Some(sid) = &secret.account_sid
        && flexlex::domain::ids::AccountSid::parse(sid).is_err()
    {
        problems += 1;
        report.fix(&subject, "TWILIO_ACCOUNT_SID is not an AC… SID", fill);
    }
    if let Some(sid) = &secret.api_key_sid
        && flexlex::domain::ids::ApiKeySid::parse(sid).is_err()
    {
        problems += 1;
        report.fix(&subject, "TWILIO_API_KEY_SID is not an SK… SID", fill);
    }
    let local_token = std::env::var("TWILIO_AUTH_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty());
    if let (Some(local), Some(stored)) = (&local_token, &secret.auth_token)
        && local.trim() != stored.expose()
    {
        report.warn(
            &subject,
            "its TWILIO_AUTH_TOKEN differs from the one in this environment",
            "the Lambda needs the account's primary auth token: make sure the secret holds it",
        );
    }
    let local_account = std::env::var("TWILIO_ACCOUNT_SID").ok();
    if let (Some(local), Some(stored)) = (&local_account, &secret.account_sid)
        && local.trim() != stored
    {
        report.warn(
            &subject,
            &format!(
                "its account {stored} is not this environment's {}",
                local.trim()
            ),
            "connect and check the account the stack serves",
        );
    }
    if problems == 0 {
        report.ok(
            &subject,
            &format!("holds {} (values not shown)", secret.filled.join(", ")),
        );
    }
    for finding in signing::secret_findings(&secret) {
        match finding {
            signing::Finding::Ok(what) => report.ok("signatures", &what),
            signing::Finding::Fix(what, todo) => report.fix("signatures", &what, todo),
        }
    }
    check.shared_key = secret
        .shared_key
        .clone()
        .map(|key| (secret.shared_key_id.clone(), key));
    check.auth_token = secret.auth_token;
}

async fn check_queues(report: &mut Report, aws: &Aws, facts: &StackFacts) {
    let queues = aws_stack::failure_queues(&facts.outputs);
    if queues.is_empty() {
        report.skip("failure queue", "the stack has no failure queue output");
    }
    for (output, queue) in queues {
        let subject = format!("{output} {queue}");
        match aws.queue_depth(queue).await {
            Ok(depth) if depth.visible + depth.in_flight == 0 => report.ok(&subject, "empty"),
            Ok(depth) => report.fix(
                &subject,
                &format!(
                    "{} event(s) the function gave up on are waiting ({} being read)",
                    depth.visible + depth.in_flight,
                    depth.in_flight
                ),
                &format!(
                    "read them (aws sqs receive-message --queue-url {queue}), then replay or \
                     delete each (docs/deploy.md, The failure queue)"
                ),
            ),
            Err(e) => report.fix(
                &subject,
                &format!("cannot read its depth: {e}"),
                "check the AWS credentials (sqs:GetQueueAttributes)",
            ),
        }
    }
}

/// The configurations to check: the `--address` ones, else those calling this endpoint.
/// Others whose URL has the same path and a bot but another host are mentioned: perhaps
/// another deployment, perhaps a stale one.
async fn check_addresses(
    report: &mut Report,
    admin: &TwilioAdmin,
    args: &DoctorArgs,
    url: &WebhookUrl,
) {
    let configs = match admin.list_addresses().await {
        Ok(configs) => configs,
        Err(e) => {
            let error = refused("list the address configurations", &e, None);
            report.fix(
                "addresses",
                &error.to_string(),
                "fix the Twilio credentials, then run doctor again",
            );
            return;
        }
    };
    let mut chosen: Vec<&AddressConfig> = Vec::new();
    if args.address.is_empty() {
        for config in &configs {
            let target = config
                .auto()
                .webhook_url
                .as_deref()
                .and_then(|u| WebhookUrl::parse(u).ok());
            match target {
                Some(t) if t.same_endpoint(url) => chosen.push(config),
                Some(t) if t.path == url.path && t.param("BotId").is_some() => report.warn(
                    &describe(config),
                    &format!("calls {}, another host with the same path", t.base),
                    "if it should reach this deployment, check it with --address",
                ),
                _ => {}
            }
        }
        if chosen.is_empty() {
            report.fix(
                "addresses",
                &format!(
                    "none of the {} address configuration(s) calls {}",
                    configs.len(),
                    url.base
                ),
                &repair(url, None),
            );
        }
    } else {
        for wanted in &args.address {
            let wanted = wanted.trim();
            match configs
                .iter()
                .find(|c| c.sid == wanted || c.address == wanted)
            {
                Some(config) => chosen.push(config),
                None => report.fix(
                    wanted,
                    "no address configuration has this address or SID",
                    &format!("create it ({}), or check the account", repair(url, None)),
                ),
            }
        }
    }
    for config in chosen {
        check_address(report, config, url);
    }
}

fn describe(config: &AddressConfig) -> String {
    format!(
        "address {} {} ({})",
        config.sid, config.address, config.kind
    )
}

fn check_address(report: &mut Report, config: &AddressConfig, url: &WebhookUrl) {
    let subject = describe(config);
    let todo = repair(url, Some(config));
    let before = report.fixes;
    let auto = config.auto();
    if !auto.enabled {
        report.fix(
            &subject,
            "auto-creation is off: messages create no conversation",
            &todo,
        );
    }
    match auto.kind.as_deref() {
        Some("webhook") => {}
        Some("studio") => report.fix(
            &subject,
            "its integration is a Studio flow: the flow gets the messages, not the bot",
            &todo,
        ),
        other => report.fix(
            &subject,
            &format!(
                "its integration is {}, not webhook",
                other.unwrap_or("unset")
            ),
            &todo,
        ),
    }
    let Some(raw) = auto.webhook_url.as_deref() else {
        if auto.kind.as_deref() == Some("webhook") {
            report.fix(&subject, "has no webhook URL", &todo);
        }
        return;
    };
    let target = match WebhookUrl::parse(raw) {
        Ok(target) => target,
        Err(e) => {
            report.fix(
                &subject,
                &format!("its webhook URL is unusable: {e}"),
                &todo,
            );
            return;
        }
    };
    for (problem, what) in target.pitfalls() {
        if target.explicit_port.as_deref() == Some("443") && target.scheme == "https" {
            report.warn(&subject, &problem, &what);
        } else {
            report.fix(&subject, &problem, &format!("{what}; {todo}"));
        }
    }
    // The host given is the one the stack serves (the stack check compares it with the
    // stack's WebhookUrl output or WebhookPublicUrl).
    let expected_host = &url.host;
    if target.host != *expected_host {
        report.fix(
            &subject,
            &format!(
                "calls host {}, but the stack is served at {expected_host}",
                target.host
            ),
            &todo,
        );
    } else if target.path != url.path {
        report.fix(
            &subject,
            &format!(
                "calls path {}, but the webhook is at {}",
                target.path, url.path
            ),
            &todo,
        );
    }
    let method = auto.webhook_method.as_deref().unwrap_or("(unset)");
    if !method.eq_ignore_ascii_case(METHOD) {
        report.fix(
            &subject,
            &format!("method {method}: the bridge reads the form body of a POST"),
            &todo,
        );
    }
    let filters = auto.webhook_filters.clone().unwrap_or_default();
    if !filters.iter().any(|f| f == FILTER) {
        report.fix(
            &subject,
            &format!(
                "filters [{}] lack onMessageAdded: the bot never hears the customer",
                filters.join(", ")
            ),
            &todo,
        );
    } else if filters.len() > 1 {
        report.warn(
            &subject,
            &format!("filters [{}]: the bridge acts on onMessageAdded only", filters.join(", ")),
            "the other events invoke the Lambda for nothing; `flexlex connect` sets onMessageAdded alone",
        );
    }
    let bot_checks: [(&str, IdCheck, bool); 3] = [
        ("BotId", |v| parse_bot_id(v).map(drop), true),
        ("BotAliasId", |v| parse_alias_id(v).map(drop), true),
        ("LocaleId", |v| parse_locale(v).map(drop), false),
    ];
    for (name, parse, required) in bot_checks {
        match target.param(name) {
            None if required => report.fix(
                &subject,
                &format!("its URL has no {name}: the bridge cannot tell which bot to ask"),
                &todo,
            ),
            None => {}
            Some(value) if is_placeholder(&value) => report.fix(
                &subject,
                &format!("its URL still has the placeholder {name}={value}"),
                &todo,
            ),
            Some(value) => {
                if let Err(e) = parse(&value) {
                    report.fix(&subject, &format!("its URL's {e}"), &todo);
                }
            }
        }
    }
    if report.fixes == before {
        report.ok(
            &subject,
            &format!(
                "{METHOD} {FILTER} → {} (BotId {}, BotAliasId {}{})",
                target.base,
                target.param("BotId").unwrap_or_default(),
                target.param("BotAliasId").unwrap_or_default(),
                target
                    .param("LocaleId")
                    .map(|l| format!(", LocaleId {l}"))
                    .unwrap_or_default()
            ),
        );
    }
}

/// POSTs a signed `onConversationStateUpdated` event, which the bridge validates and ignores,
/// to the URL exactly as given: API Gateway (or `flexlex serve`) must answer 200 at once.
async fn probe(
    report: &mut Report,
    args: &DoctorArgs,
    url: &WebhookUrl,
    stack_token: Option<&Secret>,
    stack_shared: Option<&(Option<String>, Secret)>,
) {
    if args.no_probe {
        report.skip("probe", "--no-probe");
        return;
    }
    let key = match signing::probe_key(args.sign_with, stack_token, stack_shared) {
        Ok(key) => key,
        Err(why) => {
            report.skip("probe", why);
            return;
        }
    };
    let exact = args
        .url
        .trim()
        .split('#')
        .next()
        .unwrap_or_default()
        .to_owned();
    let account = std::env::var("TWILIO_ACCOUNT_SID")
        .ok()
        .filter(|a| flexlex::domain::ids::AccountSid::parse(a.trim()).is_ok())
        .unwrap_or_else(|| format!("AC{}", random_hex()));
    let params: Vec<(String, String)> = [
        ("AccountSid", account),
        ("EventType", "onConversationStateUpdated".to_owned()),
        ("Source", "API".to_owned()),
        ("ChatServiceSid", format!("IS{}", random_hex())),
        ("ConversationSid", format!("CH{}", random_hex())),
        ("StateFrom", "active".to_owned()),
        ("StateTo", "inactive".to_owned()),
        ("StateUpdated", "2026-01-01T00:00:00.000Z".to_owned()),
        ("Reason", "API".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let signer = key.signer();
    let signature = signer.sign(&exact, &params);
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&params)
        .finish();
    let client =
        match flexlex::adapters::http::client(flexlex::adapters::http::HttpSettings::default()) {
            Ok(client) => client,
            Err(e) => {
                report.fix("probe", &e.to_string(), "report this as a bug");
                return;
            }
        };
    let started = Instant::now();
    let mut request = client.post(&exact);
    if let Some(settings) = signer.settings_header() {
        request = request.header(
            flexlex_emulators::webhook::SIGNATURE_SETTINGS_HEADER,
            settings,
        );
    }
    let sent = request
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("X-Twilio-Signature", signature)
        .header("I-Twilio-Idempotency-Token", random_hex())
        .body(body)
        .timeout(TWILIO_TIMEOUT * 2)
        .send()
        .await;
    let elapsed = started.elapsed();
    let response = match sent {
        Ok(response) => response,
        Err(e) => {
            let what = if e.is_timeout() {
                "no answer in time".to_owned()
            } else {
                format!("cannot reach {}: {}", url.host, e.without_url())
            };
            report.fix(
                "probe",
                &what,
                "check the host in the URL (the stack's WebhookUrl output) and that the stack is deployed",
            );
            return;
        }
    };
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    let shown: String = body.chars().take(120).collect();
    let todo = match status {
        200 => None,
        300..=399 => Some("Twilio needs the final URL: use the one the redirect points to".to_owned()),
        403 if body.contains("Missing Authentication Token") => Some(
            "API Gateway has no such resource: check the stage and path (…/prod/webhook)".to_owned(),
        ),
        403 | 404 => Some("check the stage and path against the stack's WebhookUrl output".to_owned()),
        405 => Some("the endpoint does not take POST: check the path".to_owned()),
        415 => Some("the API has no request template for Twilio's form content type: redeploy the stack".to_owned()),
        500..=599 => Some(
            "API Gateway could not hand the event to the Lambda: check the function's invoke permission and the stack's events".to_owned(),
        ),
        _ => Some("check the URL against the stack's WebhookUrl output".to_owned()),
    };
    match todo {
        None if elapsed > TWILIO_TIMEOUT => report.warn(
            "probe",
            &format!("answered 200 after {} ms", elapsed.as_millis()),
            "Twilio gives up after 5 s: the integration must answer at once (asynchronous invocation)",
        ),
        None => report.ok(
            "probe",
            &format!(
                "a {} onConversationStateUpdated answered 200 in {} ms",
                key.describe(),
                elapsed.as_millis()
            ),
        ),
        Some(todo) => report.fix(
            "probe",
            &format!("answered HTTP {status} {}", shown.trim()),
            &todo,
        ),
    }
}
