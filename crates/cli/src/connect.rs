//! `flexlex connect`: points a Conversations address at the stack through the Address
//! Configuration API, or lists the account's addresses. The existing configuration is found by
//! listing every page, never by guessing a SID; only what differs is reported, and nothing is
//! written when nothing differs, so a second run is a no-op that says so. With
//! `--studio-flow`, the address starts its conversations in a Studio flow, which hands over to
//! the bot at the URL (`docs/studio.md`).

use crate::twilio_admin::{AddressConfig, AdminError, TwilioAdmin, advice};
use crate::webhook_url::{
    self, BotRefArgs, WebhookUrl, is_placeholder, parse_alias_id, parse_bot_id, parse_locale,
};
use crate::{CliError, ConnectArgs};

/// The only event the bridge acts on; anything more would invoke the Lambda for nothing.
pub const FILTER: &str = "onMessageAdded";
pub const METHOD: &str = "POST";
const DEFAULT_FRIENDLY_NAME: &str = "flexlex";

/// Which address configuration to point at the stack.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    /// Created when missing: `Type` and `Address` as Twilio spells them.
    Address { kind: &'static str, address: String },
    /// Updated only (webchat addresses are created in the Flex Console).
    Sid(String),
}

impl Target {
    fn matches(&self, config: &AddressConfig) -> bool {
        match self {
            Self::Address { address, .. } => config.address == *address,
            Self::Sid(sid) => config.sid == *sid,
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::Address { kind, address } => format!("{address} ({kind})"),
            Self::Sid(sid) => sid.clone(),
        }
    }

    fn address(&self) -> Option<&str> {
        match self {
            Self::Address { address, .. } => Some(address),
            Self::Sid(_) => None,
        }
    }
}

/// One field that differs: `name: before → after`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub field: &'static str,
    pub before: Option<String>,
    pub after: String,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let before = self.before.as_deref().unwrap_or("(none)");
        write!(f, "  {}: {before} → {}", self.field, self.after)
    }
}

/// What the address configuration must say.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Desired {
    webhook_url: String,
    friendly_name: Option<String>,
    /// `AutoCreation.Type=studio` with this flow instead of the webhook.
    studio_flow: Option<String>,
}

impl Desired {
    /// What the address does once configured, for the last line.
    fn describe(&self) -> String {
        match &self.studio_flow {
            Some(flow) => format!(
                "starts Studio flow {flow}, whose Make HTTP Request hands over to {}",
                self.webhook_url
            ),
            None => format!("reaches {}", self.webhook_url),
        }
    }

    /// The `AutoCreation.*` fields and the values they must have.
    fn auto_creation(&self) -> Vec<(&'static str, &str)> {
        match &self.studio_flow {
            Some(flow) => vec![
                ("AutoCreation.Enabled", "true"),
                ("AutoCreation.Type", "studio"),
                ("AutoCreation.StudioFlowSid", flow.as_str()),
            ],
            None => vec![
                ("AutoCreation.Enabled", "true"),
                ("AutoCreation.Type", "webhook"),
                ("AutoCreation.WebhookUrl", self.webhook_url.as_str()),
                ("AutoCreation.WebhookMethod", METHOD),
                ("AutoCreation.WebhookFilters", FILTER),
            ],
        }
    }
}

pub async fn run(args: ConnectArgs) -> Result<(), CliError> {
    if args.list {
        return list(args.url.as_deref()).await;
    }
    let raw_url = args
        .url
        .as_deref()
        .ok_or_else(|| CliError::Config("--url is required".into()))?;
    let url = webhook_url::stack_url(raw_url)?;
    if let Some(instance) = &args.after_agent {
        after_agent(instance, &url, args.dry_run).await?;
        let no_address = args.sms.is_none()
            && args.whatsapp.is_none()
            && args.messenger.is_none()
            && args.address_sid.is_none();
        if no_address {
            return Ok(());
        }
    }
    let bot = bot_from(&args, &url)?;
    let target = target_from(&args)?;
    for (problem, what_to_do) in url.pitfalls() {
        eprintln!("flexlex: warning: {problem}: {what_to_do}");
    }
    let desired = Desired {
        webhook_url: url.with_bot(&bot),
        friendly_name: args.friendly_name.clone(),
        studio_flow: args.studio_flow.as_deref().map(flow_sid).transpose()?,
    };
    let admin = TwilioAdmin::from_env()?;
    let configs = admin
        .list_addresses()
        .await
        .map_err(|e| refused("list the address configurations", &e, None))?;
    let existing = configs.iter().find(|c| target.matches(c));

    let (verb, changes) = match (existing, &target) {
        (Some(config), _) => ("update", update_changes(config, &desired)),
        (None, Target::Address { kind, address }) => {
            ("create", create_changes(kind, address, &desired))
        }
        (None, Target::Sid(sid)) => {
            return Err(CliError::Runtime(format!(
                "there is no address configuration {sid} on this account ({} listed)\n  \
                 what to do: `flexlex connect --list` shows them; webchat addresses are created \
                 in the Flex Console (Flex > Manage > Messaging)",
                configs.len()
            )));
        }
    };
    let heading = match existing {
        Some(config) => format!(
            "{} {} {}{}",
            config.sid,
            config.kind,
            config.address,
            config
                .friendly_name
                .as_deref()
                .map(|n| format!(" \"{n}\""))
                .unwrap_or_default()
        ),
        None => format!("{}: no address configuration yet", target.describe()),
    };
    if changes.is_empty() {
        outln!(
            "{heading}\nnothing to change: it already {}",
            desired.describe()
        );
        return Ok(());
    }
    let lines: Vec<String> = changes.iter().map(ToString::to_string).collect();
    if args.dry_run {
        outln!(
            "{heading}\nwould {verb}:\n{}\ndry run: nothing was changed",
            lines.join("\n")
        );
        return Ok(());
    }
    let result = match existing {
        Some(config) => admin
            .update_address(&config.sid, &update_form(&desired))
            .await
            .map_err(|e| refused("update the address configuration", &e, target.address()))?,
        None => {
            let Target::Address { kind, address } = &target else {
                return Err(CliError::Runtime("nothing to create".into()));
            };
            admin
                .create_address(&create_form(kind, address, &desired))
                .await
                .map_err(|e| refused("create the address configuration", &e, Some(address)))?
        }
    };
    let left = update_changes(&result, &desired);
    if !left.is_empty() {
        let lines: Vec<String> = left.iter().map(ToString::to_string).collect();
        return Err(CliError::Runtime(format!(
            "Twilio accepted the change to {} but still shows:\n{}",
            result.sid,
            lines.join("\n")
        )));
    }
    let past = if verb == "create" {
        "created"
    } else {
        "updated"
    };
    outln!(
        "{heading}\n{}\n{past} {}: it now {}",
        lines.join("\n"),
        result.sid,
        desired.describe()
    );
    Ok(())
}

/// Registers the `interaction`-type Interactions webhook pointing at the stack, unless one
/// with the same URL and events is there already; prints its ttid.
async fn after_agent(instance: &str, url: &WebhookUrl, dry_run: bool) -> Result<(), CliError> {
    let instance = instance.trim();
    let well_formed = instance.len() == 34
        && instance.starts_with("GO")
        && instance[2..].bytes().all(|b| b.is_ascii_hexdigit());
    if !well_formed {
        return Err(CliError::Config(format!(
            "--after-agent `{instance}` is not a Flex instance SID (GO and 32 hex digits; \
             Flex Console > Settings > General)"
        )));
    }
    let target = url.base.clone();
    let admin = TwilioAdmin::from_env()?;
    let existing = admin
        .interaction_webhooks(instance)
        .await
        .map_err(|e| refused("list the Interactions webhooks", &e, None))?;
    let events = flexlex::intake::interactions::TAKE_BACK_EVENTS;
    let found = existing.into_iter().find(|w| {
        w.kind == "interaction"
            && w.webhook_url == target
            && w.webhook_method.eq_ignore_ascii_case("post")
            && events
                .iter()
                .all(|e| w.webhook_events.iter().any(|have| have == e))
    });
    let ttid = match found {
        Some(webhook) => {
            outln!(
                "Interactions webhook {} already posts {} to {target}",
                webhook.ttid,
                events.join(", ")
            );
            webhook.ttid
        }
        None if dry_run => {
            outln!(
                "would register an Interactions webhook (interaction) posting {} to {target}\n\
                 dry run: nothing was changed",
                events.join(", ")
            );
            return Ok(());
        }
        None => {
            let created = admin
                .create_interaction_webhook(instance, &target, events)
                .await
                .map_err(|e| refused("register the Interactions webhook", &e, None))?;
            outln!(
                "registered Interactions webhook {} posting {} to {target}",
                created.ttid,
                events.join(", ")
            );
            created.ttid
        }
    };
    outln!(
        "deploy with: AFTER_AGENT=bot INTERACTION_WEBHOOK_TTID={ttid}\n  \
         (sam deploy --parameter-overrides AfterAgent=bot InteractionWebhookTtid={ttid})"
    );
    Ok(())
}

/// The bot from the flags, else from the URL's own query (the demo bot's WebhookUrl carries
/// real ids); placeholders such as `<BotId>` count as missing.
fn bot_from(args: &ConnectArgs, url: &WebhookUrl) -> Result<BotRefArgs, CliError> {
    let pick = |flag: &Option<String>, name: &str| -> Option<String> {
        flag.clone()
            .or_else(|| url.param(name).filter(|v| !is_placeholder(v)))
    };
    let usage = |e: String| CliError::Config(e);
    let bot_id = pick(&args.bot_id, "BotId").ok_or_else(|| {
        usage("--bot-id is required: the URL names no bot (10 upper-case letters and digits, from the Lex console)".into())
    })?;
    let alias_id = pick(&args.bot_alias_id, "BotAliasId").ok_or_else(|| {
        usage("--bot-alias-id is required: the URL names no bot alias (TSTALIASID is the draft alias)".into())
    })?;
    Ok(BotRefArgs {
        bot_id: parse_bot_id(&bot_id).map_err(|e| usage(format!("--bot-id: {e}")))?,
        alias_id: parse_alias_id(&alias_id).map_err(|e| usage(format!("--bot-alias-id: {e}")))?,
        locale: pick(&args.locale, "LocaleId")
            .map(|l| parse_locale(&l).map_err(|e| usage(format!("--locale: {e}"))))
            .transpose()?,
    })
}

/// A Studio flow SID: `FW` and 32 hex digits.
fn flow_sid(raw: &str) -> Result<String, CliError> {
    let sid = raw.trim();
    let well_formed =
        sid.len() == 34 && sid.starts_with("FW") && sid[2..].bytes().all(|b| b.is_ascii_hexdigit());
    if well_formed {
        Ok(sid.to_owned())
    } else {
        Err(CliError::Config(format!(
            "--studio-flow `{sid}` is not a Studio flow SID (FW and 32 hex digits)"
        )))
    }
}

/// `+` and 2 to 15 digits, no leading zero.
fn e164(flag: &str, raw: &str) -> Result<String, CliError> {
    let raw = raw.trim();
    let ok = raw.strip_prefix('+').is_some_and(|digits| {
        (2..=15).contains(&digits.len())
            && !digits.starts_with('0')
            && digits.bytes().all(|b| b.is_ascii_digit())
    });
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(CliError::Config(format!(
            "{flag} `{raw}` is not a phone number in E.164 format (+ and digits, e.g. +15017122661)"
        )))
    }
}

fn target_from(args: &ConnectArgs) -> Result<Target, CliError> {
    if let Some(number) = &args.sms {
        return Ok(Target::Address {
            kind: "sms",
            address: e164("--sms", number)?,
        });
    }
    if let Some(number) = &args.whatsapp {
        let number = number.trim().trim_start_matches("whatsapp:");
        return Ok(Target::Address {
            kind: "whatsapp",
            address: format!("whatsapp:{}", e164("--whatsapp", number)?),
        });
    }
    if let Some(page) = &args.messenger {
        let page = page.trim().trim_start_matches("messenger:");
        if page.is_empty() || !page.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CliError::Config(format!(
                "--messenger `{page}` is not a Facebook page id (digits)"
            )));
        }
        return Ok(Target::Address {
            kind: "messenger",
            address: format!("messenger:{page}"),
        });
    }
    if let Some(sid) = &args.address_sid {
        let sid = sid.trim();
        let well_formed = sid.len() == 34
            && sid.starts_with("IG")
            && sid[2..].bytes().all(|b| b.is_ascii_hexdigit());
        if !well_formed {
            return Err(CliError::Config(format!(
                "--address-sid `{sid}` is not an address configuration SID (IG and 32 hex digits)"
            )));
        }
        return Ok(Target::Sid(sid.to_owned()));
    }
    Err(CliError::Config(
        "name the address: --sms +E164, --whatsapp +E164, --messenger PAGE_ID or --address-sid IG... (or --list)".into(),
    ))
}

fn change(field: &'static str, before: Option<String>, after: &str) -> Option<Change> {
    (before.as_deref() != Some(after)).then(|| Change {
        field,
        before,
        after: after.to_owned(),
    })
}

/// The fields of `config` that differ from `desired`. Method case and filter order do not
/// matter to Twilio, so they do not count as differences.
fn update_changes(config: &AddressConfig, desired: &Desired) -> Vec<Change> {
    let auto = config.auto();
    let method = auto.webhook_method.clone().map(|m| m.to_ascii_uppercase());
    let filters = auto.webhook_filters.clone().map(|mut f| {
        f.sort();
        f.dedup();
        f.join(", ")
    });
    let mut changes = Vec::new();
    if let Some(name) = &desired.friendly_name {
        changes.extend(change("FriendlyName", config.friendly_name.clone(), name));
    }
    changes.extend(change(
        "AutoCreation.Enabled",
        config.auto_creation.as_ref().map(|a| a.enabled.to_string()),
        "true",
    ));
    if let Some(flow) = &desired.studio_flow {
        // The webhook fields stay as they are: Twilio ignores them for a studio address.
        changes.extend(change("AutoCreation.Type", auto.kind.clone(), "studio"));
        changes.extend(change(
            "AutoCreation.StudioFlowSid",
            auto.studio_flow_sid.clone(),
            flow,
        ));
        return changes;
    }
    changes.extend(change("AutoCreation.Type", auto.kind.clone(), "webhook"));
    changes.extend(change(
        "AutoCreation.WebhookUrl",
        auto.webhook_url.clone(),
        &desired.webhook_url,
    ));
    changes.extend(change("AutoCreation.WebhookMethod", method, METHOD));
    changes.extend(change("AutoCreation.WebhookFilters", filters, FILTER));
    changes
}

fn create_changes(kind: &str, address: &str, desired: &Desired) -> Vec<Change> {
    let name = desired
        .friendly_name
        .as_deref()
        .unwrap_or(DEFAULT_FRIENDLY_NAME);
    [("Type", kind), ("Address", address), ("FriendlyName", name)]
        .into_iter()
        .chain(desired.auto_creation())
        .filter_map(|(field, after)| change(field, None, after))
        .collect()
}

fn auto_creation_form(desired: &Desired) -> Vec<(String, String)> {
    desired
        .auto_creation()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn create_form(kind: &str, address: &str, desired: &Desired) -> Vec<(String, String)> {
    let name = desired
        .friendly_name
        .as_deref()
        .unwrap_or(DEFAULT_FRIENDLY_NAME);
    let mut form = vec![
        ("Type".to_owned(), kind.to_owned()),
        ("Address".to_owned(), address.to_owned()),
        ("FriendlyName".to_owned(), name.to_owned()),
    ];
    form.extend(auto_creation_form(desired));
    form
}

fn update_form(desired: &Desired) -> Vec<(String, String)> {
    let mut form = auto_creation_form(desired);
    if let Some(name) = &desired.friendly_name {
        form.push(("FriendlyName".to_owned(), name.clone()));
    }
    form
}

/// A refusal as the error the process exits 1 with: Twilio's code and message, then advice.
pub fn refused(action: &str, error: &AdminError, address: Option<&str>) -> CliError {
    CliError::Runtime(format!(
        "Twilio refused to {action}: {error}\n  what to do: {}",
        advice(error, address)
    ))
}

/// Whether a configuration sends this endpoint the bridge's events.
pub fn reaches(config: &AddressConfig, url: &WebhookUrl) -> bool {
    let auto = config.auto();
    auto.enabled
        && auto.kind.as_deref() == Some("webhook")
        && auto
            .webhook_url
            .as_deref()
            .and_then(|u| WebhookUrl::parse(u).ok())
            .is_some_and(|u| u.same_endpoint(url))
}

/// `--list`: every configuration, one line each, marked when it reaches `url`.
async fn list(url: Option<&str>) -> Result<(), CliError> {
    let url = url.map(webhook_url::stack_url).transpose()?;
    let admin = TwilioAdmin::from_env()?;
    let configs = admin
        .list_addresses()
        .await
        .map_err(|e| refused("list the address configurations", &e, None))?;
    let mut reaching = 0;
    let mut out = String::new();
    for config in &configs {
        let auto = config.auto();
        let integration = match auto.kind.as_deref() {
            Some("webhook") => format!(
                "webhook {} [{}] {}",
                auto.webhook_method.as_deref().unwrap_or("-"),
                auto.webhook_filters.clone().unwrap_or_default().join(","),
                auto.webhook_url.as_deref().unwrap_or("-")
            ),
            Some("studio") => format!("studio {}", auto.studio_flow_sid.as_deref().unwrap_or("-")),
            Some(other) => other.to_owned(),
            None => "-".to_owned(),
        };
        let enabled = if auto.enabled {
            ""
        } else {
            " (auto-creation off)"
        };
        let mark = match &url {
            Some(url) if reaches(config, url) => {
                reaching += 1;
                "  ← reaches this URL"
            }
            _ => "",
        };
        out.push_str(&format!(
            "{} {} {} \"{}\": {integration}{enabled}{mark}\n",
            config.sid,
            config.kind,
            config.address,
            config.friendly_name.as_deref().unwrap_or("")
        ));
    }
    out.push_str(&format!("{} address configuration(s)", configs.len()));
    if let Some(url) = &url {
        out.push_str(&format!(", {reaching} reach {}", url.base));
    }
    outln!("{out}");
    Ok(())
}
