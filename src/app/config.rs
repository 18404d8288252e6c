//! Every setting, read and validated once per cold start. A bad or missing value fails
//! initialisation with the variable's name, so a misconfigured stack is caught at deploy time
//! rather than on a customer's first message.

use std::collections::{BTreeMap, HashMap};

use crate::domain::after_agent::{AfterAgent, TakeBackSettings};
use crate::domain::behaviour::{
    Behaviour, BotErrorAction, DEFAULT_BOT_ERROR_MESSAGE, DEFAULT_MEDIA_REPLY, MediaAction,
};
use crate::domain::cards::RichCards;
use crate::domain::channel::ChannelType;
use crate::domain::deadline::FunctionTimeout;
use crate::domain::escalation_rules::{EscalationRules, Threshold};
use crate::domain::ids::{AccountSid, ApiKeySid, LocaleId, WorkflowSid, WorkspaceSid};
use crate::domain::secret::{Secret, TwilioCredentials};
use crate::domain::timers::{AfterHandoff, AgentTimers, IsoDuration, Timer, TimerSettings};
use crate::intake::signature::SharedKey;

/// A setting that could not be used, named by its variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {reason}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub reason: String,
}

impl ConfigError {
    fn new(variable: &'static str, reason: impl Into<String>) -> Self {
        Self {
            variable,
            reason: reason.into(),
        }
    }
}

/// A setting that works but should change (deprecated, or without effect), named by its
/// variable; logged once at init.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {advice}")]
pub struct ConfigWarning {
    pub variable: &'static str,
    pub advice: String,
}

/// Keys a Secrets Manager secret (`TWILIO_SECRET_ID`) may hold; they override the environment.
pub const SECRET_KEYS: [&str; 9] = [
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "TWILIO_PREVIOUS_AUTH_TOKEN",
    "TWILIO_API_KEY_SID",
    "TWILIO_API_KEY_SECRET",
    "TWILIO_SHARED_KEY_SECRET",
    "TWILIO_SHARED_KEY_ID",
    "TWILIO_PREVIOUS_SHARED_KEY_SECRET",
    "TWILIO_PREVIOUS_SHARED_KEY_ID",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwilioSettings {
    pub credentials: TwilioCredentials,
    pub account: Option<AccountSid>,
    pub auth_token: Secret,
    pub previous_auth_token: Option<Secret>,
    /// Webhooks configuration shared keys (`TWILIO_SHARED_KEY_SECRET`/`_ID` and the
    /// `TWILIO_PREVIOUS_…` pair): signatures of requests that carry the settings header.
    pub shared_key: Option<SharedKey>,
    pub previous_shared_key: Option<SharedKey>,
    pub conversations_base_url: Option<String>,
    pub flex_base_url: Option<String>,
    /// `TWILIO_CONTENT_BASE_URL`: the Content API host (rich cards).
    pub content_base_url: Option<String>,
    pub region: Option<String>,
    pub edge: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub twilio: TwilioSettings,
    pub behaviour: Behaviour,
    pub aws: AwsResources,
    /// `FUNCTION_TIMEOUT_SECS`: the function's timeout, which bounds every invocation's
    /// deadline and lease and stands in for a runtime deadline no real Lambda would send.
    pub function_timeout: FunctionTimeout,
    /// Settings accepted with advice, for the log at init.
    pub warnings: Vec<ConfigWarning>,
}

/// The AWS resources the stack created for turns and state. Unset: turns run in this process behind a
/// per-conversation lane, with state in memory (local runs and tests).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AwsResources {
    /// `TURN_QUEUE_URL`: the SQS FIFO queue of jobs.
    pub turn_queue_url: Option<String>,
    /// `STATE_TABLE`: the DynamoDB table of conversation state.
    pub state_table: Option<String>,
}

/// Why `raw` cannot be a Twilio base URL (scheme, host and nothing else), if it cannot. The
/// URL itself is never part of the reason: credentials may have been pasted into it.
fn base_url_problem(raw: &str) -> Option<&'static str> {
    let Ok(url) = url::Url::parse(raw) else {
        return Some("not a URL");
    };
    if !url.username().is_empty() || url.password().is_some() {
        Some("credentials belong in the Twilio secret, not in the URL")
    } else if url.query().is_some() || url.fragment().is_some() {
        Some("a base URL has no query or fragment")
    } else if !matches!(url.path(), "" | "/") {
        Some("a base URL has no path")
    } else if url.host_str().is_none_or(str::is_empty) {
        Some("there is no host")
    } else {
        None
    }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        let vars: HashMap<String, String> = std::env::vars().collect();
        Self::from_settings(&vars)
    }

    /// Reads a settings map (the environment, possibly overlaid with the Twilio secret).
    pub fn from_settings(settings: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let get = |name: &'static str| -> Option<&str> {
            settings
                .get(name)
                .map(|v| v.trim())
                .filter(|v| !v.is_empty())
        };

        let account = get("TWILIO_ACCOUNT_SID")
            .map(|v| {
                AccountSid::parse(v)
                    .map_err(|e| ConfigError::new("TWILIO_ACCOUNT_SID", e.to_string()))
            })
            .transpose()?;
        let auth_token = get("TWILIO_AUTH_TOKEN").map(Secret::new).ok_or_else(|| {
            ConfigError::new(
                "TWILIO_AUTH_TOKEN",
                "missing: set it, or TWILIO_SECRET_ID to a Secrets Manager secret holding it",
            )
        })?;
        let previous_auth_token = get("TWILIO_PREVIOUS_AUTH_TOKEN").map(Secret::new);
        let shared_key = |secret: &'static str, id: &'static str| match (get(secret), get(id)) {
            (Some(value), id) => Ok(Some(SharedKey {
                id: id.map(str::to_owned),
                secret: Secret::new(value),
            })),
            (None, Some(_)) => Err(ConfigError::new(
                secret,
                format!("missing while {id} is set"),
            )),
            (None, None) => Ok(None),
        };
        let current_shared_key = shared_key("TWILIO_SHARED_KEY_SECRET", "TWILIO_SHARED_KEY_ID")?;
        let previous_shared_key = shared_key(
            "TWILIO_PREVIOUS_SHARED_KEY_SECRET",
            "TWILIO_PREVIOUS_SHARED_KEY_ID",
        )?;
        if previous_shared_key.is_some() && current_shared_key.is_none() {
            return Err(ConfigError::new(
                "TWILIO_SHARED_KEY_SECRET",
                "missing while TWILIO_PREVIOUS_SHARED_KEY_SECRET is set (the previous key is for rotation)",
            ));
        }
        let api_key = match (get("TWILIO_API_KEY_SID"), get("TWILIO_API_KEY_SECRET")) {
            (Some(sid), Some(secret)) => Some((
                ApiKeySid::parse(sid)
                    .map_err(|e| ConfigError::new("TWILIO_API_KEY_SID", e.to_string()))?,
                Secret::new(secret),
            )),
            (Some(_), None) => {
                return Err(ConfigError::new(
                    "TWILIO_API_KEY_SECRET",
                    "missing while TWILIO_API_KEY_SID is set",
                ));
            }
            (None, Some(_)) => {
                return Err(ConfigError::new(
                    "TWILIO_API_KEY_SID",
                    "missing while TWILIO_API_KEY_SECRET is set",
                ));
            }
            (None, None) => None,
        };
        let credentials = match (api_key, &account) {
            (Some((sid, secret)), _) => TwilioCredentials::ApiKey { sid, secret },
            (None, Some(account)) => TwilioCredentials::AuthToken {
                account: account.clone(),
                token: auth_token.clone(),
            },
            (None, None) => {
                return Err(ConfigError::new(
                    "TWILIO_ACCOUNT_SID",
                    "missing: REST calls need TWILIO_API_KEY_SID/TWILIO_API_KEY_SECRET or TWILIO_ACCOUNT_SID with TWILIO_AUTH_TOKEN",
                ));
            }
        };

        let url = |name: &'static str| -> Result<Option<String>, ConfigError> {
            get(name)
                .map(|v| {
                    if v.starts_with("https://") || v.starts_with("http://") {
                        Ok(v.trim_end_matches('/').to_owned())
                    } else {
                        Err(ConfigError::new(name, "must be an http(s) URL"))
                    }
                })
                .transpose()
        };
        // Checked here, at init, although the Twilio client that uses them is only built by
        // the first turn: a base URL it would refuse fails init, naming the variable.
        let base_url = |name: &'static str| -> Result<Option<String>, ConfigError> {
            let checked = url(name)?;
            match checked.as_deref().and_then(base_url_problem) {
                Some(reason) => Err(ConfigError::new(name, reason)),
                None => Ok(checked),
            }
        };
        let hostname_part = |name: &'static str| -> Result<Option<String>, ConfigError> {
            get(name)
                .map(|v| {
                    if v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                        Ok(v.to_ascii_lowercase())
                    } else {
                        Err(ConfigError::new(
                            name,
                            "must be letters, digits and `-` (e.g. `ie1`, `dublin`)",
                        ))
                    }
                })
                .transpose()
        };

        let twilio = TwilioSettings {
            credentials,
            account,
            auth_token,
            previous_auth_token,
            shared_key: current_shared_key,
            previous_shared_key,
            conversations_base_url: base_url("TWILIO_CONVERSATIONS_BASE_URL")?,
            flex_base_url: base_url("TWILIO_FLEX_BASE_URL")?,
            content_base_url: base_url("TWILIO_CONTENT_BASE_URL")?,
            region: hostname_part("TWILIO_REGION")?,
            edge: hostname_part("TWILIO_EDGE")?,
        };

        let names = |name: &'static str, default: &str| -> Vec<String> {
            get(name)
                .unwrap_or(default)
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        };

        let on_bot_error = match get("ON_BOT_ERROR")
            .unwrap_or("handoff")
            .to_ascii_lowercase()
            .as_str()
        {
            "handoff" => BotErrorAction::Handoff,
            "close" => BotErrorAction::Close,
            "reply" => BotErrorAction::Reply,
            other => {
                return Err(ConfigError::new(
                    "ON_BOT_ERROR",
                    format!("`{other}` is not one of handoff, close, reply"),
                ));
            }
        };
        let on_media = match get("ON_MEDIA")
            .unwrap_or("reply")
            .to_ascii_lowercase()
            .as_str()
        {
            "reply" => MediaAction::Reply(
                get("MEDIA_REPLY_MESSAGE")
                    .unwrap_or(DEFAULT_MEDIA_REPLY)
                    .to_owned(),
            ),
            "handoff" => MediaAction::Handoff,
            other => {
                return Err(ConfigError::new(
                    "ON_MEDIA",
                    format!("`{other}` is not one of reply, handoff"),
                ));
            }
        };

        let workspace = get("FLEX_WORKSPACE_SID")
            .ok_or_else(|| {
                ConfigError::new(
                    "FLEX_WORKSPACE_SID",
                    "missing: the TaskRouter workspace for handoffs (WS…)",
                )
            })
            .and_then(|v| {
                WorkspaceSid::parse(v)
                    .map_err(|e| ConfigError::new("FLEX_WORKSPACE_SID", e.to_string()))
            })?;
        let workflow = get("FLEX_WORKFLOW_SID")
            .map(|v| {
                WorkflowSid::parse(v)
                    .map_err(|e| ConfigError::new("FLEX_WORKFLOW_SID", e.to_string()))
            })
            .transpose()?;

        let mut warnings = Vec::new();
        let behaviour = Behaviour {
            handoff_intents: names("HANDOFF_INTENTS", "Agent"),
            close_intents: names("CLOSE_INTENTS", "OrderFlowers"),
            bot_author: get("BOT_AUTHOR").unwrap_or("Lex").to_owned(),
            ignore_authors: names("IGNORE_AUTHORS", "system"),
            default_locale: LocaleId::parse(get("DEFAULT_LOCALE").unwrap_or("en_US"))
                .map_err(|e| ConfigError::new("DEFAULT_LOCALE", e.to_string()))?,
            on_bot_error,
            bot_error_message: get("BOT_ERROR_MESSAGE")
                .unwrap_or(DEFAULT_BOT_ERROR_MESSAGE)
                .to_owned(),
            on_media,
            workspace,
            workflow,
            task_channels: parse_task_channels(
                get("TASK_CHANNELS").unwrap_or("web=chat,sms=sms,whatsapp=chat"),
            )?,
            webhook_public_url: url("WEBHOOK_PUBLIC_URL")?,
            escalation: escalation_rules(&get, &names)?,
            timers: timer_settings(&get, &mut warnings)?,
            rich_cards: parse_rich_cards(get("RICH_CARDS").unwrap_or("whatsapp"))?,
            after_agent: after_agent(&get)?,
        };

        let aws = AwsResources {
            turn_queue_url: get("TURN_QUEUE_URL")
                .map(|raw| {
                    if !raw.starts_with("https://") && !raw.starts_with("http://") {
                        return Err(ConfigError::new("TURN_QUEUE_URL", "must be the queue's URL"));
                    }
                    if !raw.ends_with(".fifo") {
                        return Err(ConfigError::new(
                            "TURN_QUEUE_URL",
                            "must be a FIFO queue (its name ends in .fifo): turns of one conversation must stay in order",
                        ));
                    }
                    Ok(raw.to_owned())
                })
                .transpose()?,
            state_table: get("STATE_TABLE").map(str::to_owned),
        };
        if aws.turn_queue_url.is_some() && aws.state_table.is_none() {
            return Err(ConfigError::new(
                "STATE_TABLE",
                "missing while TURN_QUEUE_URL is set: turns delivered by the queue need the shared conversation state to be handled once",
            ));
        }

        let function_timeout = get("FUNCTION_TIMEOUT_SECS")
            .map(|raw| {
                FunctionTimeout::parse(raw)
                    .map_err(|e| ConfigError::new("FUNCTION_TIMEOUT_SECS", e.to_string()))
            })
            .transpose()?
            .unwrap_or(FunctionTimeout::DEFAULT);

        Ok(Self {
            twilio,
            behaviour,
            aws,
            function_timeout,
            warnings,
        })
    }
}

/// A whole number of turns; `None` when unset.
fn turns(name: &'static str, raw: Option<&str>) -> Result<Option<u32>, ConfigError> {
    raw.map(|v| {
        v.parse::<u32>()
            .map_err(|_| ConfigError::new(name, format!("`{v}` is not a whole number of turns")))
    })
    .transpose()
}

fn escalation_rules<'a>(
    get: &dyn Fn(&'static str) -> Option<&'a str>,
    names: &dyn Fn(&'static str, &str) -> Vec<String>,
) -> Result<EscalationRules, ConfigError> {
    let defaults = EscalationRules::default();
    // 0 turns the rule off, as "hand off after zero fallbacks" has no other sensible meaning.
    let after_fallbacks = match turns("HANDOFF_AFTER_FALLBACKS", get("HANDOFF_AFTER_FALLBACKS"))? {
        Some(0) => None,
        Some(n) => Some(n),
        None => defaults.after_fallbacks,
    };
    let fallback_intents = names("FALLBACK_INTENTS", "FallbackIntent");
    if after_fallbacks.is_some() && fallback_intents.is_empty() {
        return Err(ConfigError::new(
            "FALLBACK_INTENTS",
            "names no intent while HANDOFF_AFTER_FALLBACKS is on",
        ));
    }
    let below_confidence = get("HANDOFF_BELOW_CONFIDENCE")
        .map(|v| {
            v.parse::<f64>()
                .ok()
                .and_then(Threshold::new)
                .ok_or_else(|| {
                    ConfigError::new(
                        "HANDOFF_BELOW_CONFIDENCE",
                        format!("`{v}` is not a confidence between 0 and 1"),
                    )
                })
        })
        .transpose()?;
    let low_confidence_turns = match turns("LOW_CONFIDENCE_TURNS", get("LOW_CONFIDENCE_TURNS"))? {
        Some(0) => {
            return Err(ConfigError::new(
                "LOW_CONFIDENCE_TURNS",
                "must be at least 1",
            ));
        }
        Some(n) => n,
        None => defaults.low_confidence_turns,
    };
    let on_negative_sentiment = turns(
        "HANDOFF_ON_NEGATIVE_SENTIMENT",
        get("HANDOFF_ON_NEGATIVE_SENTIMENT"),
    )?
    .filter(|n| *n > 0);
    Ok(EscalationRules {
        after_fallbacks,
        fallback_intents,
        below_confidence,
        low_confidence_turns,
        on_negative_sentiment,
    })
}

/// `INACTIVE_AFTER`, `CLOSE_AFTER`, `TIMERS_AFTER_HANDOFF`, `AGENT_INACTIVE_AFTER` and
/// `AGENT_CLOSE_AFTER`: every duration at least Twilio's minimum for its timer, and the agent
/// durations never shorter than the bot's own, so no update the bot makes is one Twilio
/// refuses or one that brings a close nearer.
fn timer_settings<'a>(
    get: &dyn Fn(&'static str) -> Option<&'a str>,
    warnings: &mut Vec<ConfigWarning>,
) -> Result<TimerSettings, ConfigError> {
    let no_timer = "no timer";
    let inactive_after = timer(
        Timer::Inactive,
        "INACTIVE_AFTER",
        get("INACTIVE_AFTER"),
        no_timer,
    )?;
    let close_after = timer(Timer::Closed, "CLOSE_AFTER", get("CLOSE_AFTER"), no_timer)?;
    let extensions = [
        Extension {
            timer: Timer::Inactive,
            name: "AGENT_INACTIVE_AFTER",
            set: timer(
                Timer::Inactive,
                "AGENT_INACTIVE_AFTER",
                get("AGENT_INACTIVE_AFTER"),
                "the default (P1D)",
            )?,
            bot_name: "INACTIVE_AFTER",
            bot: inactive_after.as_ref(),
        },
        Extension {
            timer: Timer::Closed,
            name: "AGENT_CLOSE_AFTER",
            set: timer(
                Timer::Closed,
                "AGENT_CLOSE_AFTER",
                get("AGENT_CLOSE_AFTER"),
                "the default (P7D)",
            )?,
            bot_name: "CLOSE_AFTER",
            bot: close_after.as_ref(),
        },
    ];
    let extend = match get("TIMERS_AFTER_HANDOFF")
        .unwrap_or("extend")
        .to_ascii_lowercase()
        .as_str()
    {
        "extend" => true,
        // It turned the bot's timers off with PT0S, which Twilio documents for no conversation
        // timer. Its purpose — no bot timer closes an agent's conversation — is what `extend`
        // does, so a stack that had it (it was the default) keeps working, and is told.
        "clear" => {
            warnings.push(ConfigWarning {
                variable: "TIMERS_AFTER_HANDOFF",
                advice: "`clear` is deprecated and now means `extend`: Twilio documents no value \
                         that turns a conversation's timer off, so at handoff the bot's timers \
                         are extended to AGENT_INACTIVE_AFTER / AGENT_CLOSE_AFTER (P1D / P7D by \
                         default); set TIMERS_AFTER_HANDOFF=extend (or keep)"
                    .into(),
            });
            true
        }
        "keep" => false,
        other => {
            return Err(ConfigError::new(
                "TIMERS_AFTER_HANDOFF",
                format!("`{other}` is not one of extend, keep"),
            ));
        }
    };
    for extension in &extensions {
        if let Some(advice) = extension.unused(extend) {
            warnings.push(ConfigWarning {
                variable: extension.name,
                advice,
            });
        }
    }
    let after_handoff = if extend {
        let [inactive, closed] = extensions;
        AfterHandoff::Extend(AgentTimers {
            inactive_after: inactive.resolve()?,
            close_after: closed.resolve()?,
        })
    } else {
        AfterHandoff::Keep
    };
    Ok(TimerSettings {
        inactive_after,
        close_after,
        after_handoff,
    })
}

/// An agent duration (`AGENT_…_AFTER`) and the bot timer it extends at handoff.
struct Extension<'a> {
    timer: Timer,
    name: &'static str,
    set: Option<IsoDuration>,
    bot_name: &'static str,
    bot: Option<&'a IsoDuration>,
}

impl Extension<'_> {
    /// Why the operator's duration is never sent, if it is set and never is.
    fn unused(&self, extend: bool) -> Option<String> {
        self.set.as_ref()?;
        if !extend {
            return Some(
                "has no effect with TIMERS_AFTER_HANDOFF=keep: the bot's timers keep running \
                 after handoff"
                    .into(),
            );
        }
        self.bot.is_none().then(|| {
            format!(
                "has no effect while {} is unset: only the timers the bot sets are extended at \
                 handoff",
                self.bot_name
            )
        })
    }

    /// What the bot's timer becomes at handoff: the operator's duration, refused when shorter
    /// than the bot's own (extending never brings a close nearer); unset, the agent default, or
    /// the bot's own when that is longer.
    fn resolve(self) -> Result<IsoDuration, ConfigError> {
        match (self.set, self.bot) {
            (Some(agent), Some(bot)) if agent.length() < bot.length() => Err(ConfigError::new(
                self.name,
                format!(
                    "`{agent}` is shorter than {} (`{bot}`): at handoff the bot's timers are \
                     extended, never shortened; set it to at least `{bot}`, unset it, or set \
                     TIMERS_AFTER_HANDOFF=keep",
                    self.bot_name
                ),
            )),
            (Some(agent), _) => Ok(agent),
            (None, Some(bot)) if bot.length() > self.timer.agent_default().length() => {
                Ok(bot.clone())
            }
            (None, _) => Ok(self.timer.agent_default()),
        }
    }
}

/// A timer duration, refused below Twilio's minimum (a shorter one, `PT0S` included, would fail
/// every update); `unset` says what leaving the variable out does instead.
fn timer(
    which: Timer,
    name: &'static str,
    raw: Option<&str>,
    unset: &str,
) -> Result<Option<IsoDuration>, ConfigError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let duration = IsoDuration::parse(raw).map_err(|e| ConfigError::new(name, e.to_string()))?;
    which
        .check(&duration)
        .map_err(|e| ConfigError::new(name, format!("{e}; unset it for {unset}")))?;
    Ok(Some(duration))
}

/// `AFTER_AGENT` (`none` or `bot`), with `INTERACTION_WEBHOOK_TTID` (required for `bot`: the
/// Interactions webhook `flexlex connect` registers) and `AFTER_AGENT_MESSAGE`.
fn after_agent<'a>(
    get: &dyn Fn(&'static str) -> Option<&'a str>,
) -> Result<AfterAgent, ConfigError> {
    match get("AFTER_AGENT")
        .unwrap_or("none")
        .to_ascii_lowercase()
        .as_str()
    {
        "none" => Ok(AfterAgent::None),
        "bot" => {
            let webhook_ttid = get("INTERACTION_WEBHOOK_TTID")
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .ok_or_else(|| {
                    ConfigError::new(
                        "INTERACTION_WEBHOOK_TTID",
                        "missing: AFTER_AGENT=bot needs the ttid of the Interactions webhook \
                         that tells the stack when the agent is done (`flexlex connect` \
                         registers it and prints it)",
                    )
                })?;
            if webhook_ttid.len() > 256 || webhook_ttid.chars().any(char::is_whitespace) {
                return Err(ConfigError::new(
                    "INTERACTION_WEBHOOK_TTID",
                    "not a ttid (one word, as the InteractionWebhooks API returns it)",
                ));
            }
            Ok(AfterAgent::Bot(TakeBackSettings {
                webhook_ttid: webhook_ttid.to_owned(),
                message: get("AFTER_AGENT_MESSAGE")
                    .map(str::trim)
                    .filter(|m| !m.is_empty())
                    .map(str::to_owned),
            }))
        }
        other => Err(ConfigError::new(
            "AFTER_AGENT",
            format!("`{other}` is not one of none, bot"),
        )),
    }
}

fn parse_rich_cards(raw: &str) -> Result<RichCards, ConfigError> {
    let err = |reason: String| ConfigError::new("RICH_CARDS", reason);
    let entries: Vec<String> = raw
        .split(',')
        .map(|e| e.trim().to_ascii_lowercase())
        .filter(|e| !e.is_empty())
        .collect();
    if entries.iter().any(|e| e == "none") {
        if entries.len() > 1 {
            return Err(err("`none` cannot be combined with channels".into()));
        }
        return Ok(RichCards::none());
    }
    let mut channels = Vec::with_capacity(entries.len());
    for entry in &entries {
        channels.push(match entry.as_str() {
            "web" => ChannelType::Web,
            "sms" => ChannelType::Sms,
            "whatsapp" => ChannelType::Whatsapp,
            other => {
                return Err(err(format!(
                    "unknown channel `{other}` (whatsapp, sms, web, or none)"
                )));
            }
        });
    }
    Ok(RichCards::on(channels))
}

fn parse_task_channels(raw: &str) -> Result<BTreeMap<ChannelType, String>, ConfigError> {
    let err = |reason: String| ConfigError::new("TASK_CHANNELS", reason);
    let mut map = BTreeMap::from([
        (ChannelType::Web, "chat".to_owned()),
        (ChannelType::Sms, "sms".to_owned()),
        (ChannelType::Whatsapp, "chat".to_owned()),
    ]);
    for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (channel, task_channel) = entry
            .split_once('=')
            .ok_or_else(|| err(format!("`{entry}` is not channel=task_channel")))?;
        let channel = match channel.trim() {
            "web" => ChannelType::Web,
            "sms" => ChannelType::Sms,
            "whatsapp" => ChannelType::Whatsapp,
            other => {
                return Err(err(format!(
                    "unknown channel `{other}` (web, sms, whatsapp)"
                )));
            }
        };
        let task_channel = task_channel.trim();
        if task_channel.is_empty()
            || !task_channel
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(err(format!(
                "task channel `{task_channel}` must be a TaskRouter unique name"
            )));
        }
        map.insert(channel, task_channel.to_owned());
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> HashMap<String, String> {
        [
            ("TWILIO_ACCOUNT_SID", "AC0123456789abcdef0123456789abcdef"),
            ("TWILIO_AUTH_TOKEN", "tok-primary"),
            ("FLEX_WORKSPACE_SID", "WS0123456789abcdef0123456789abcdef"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    fn with(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        let mut m = base();
        for (k, v) in pairs {
            m.insert((*k).to_owned(), (*v).to_owned());
        }
        m
    }

    #[test]
    fn defaults_follow_the_design() {
        let c = Config::from_settings(&base()).unwrap();
        let b = &c.behaviour;
        assert_eq!(b.handoff_intents, ["Agent"]);
        assert_eq!(b.close_intents, ["OrderFlowers"]);
        assert_eq!(b.bot_author, "Lex");
        assert_eq!(b.default_locale.as_str(), "en_US");
        assert_eq!(b.on_bot_error, BotErrorAction::Handoff);
        assert_eq!(b.task_channels[&ChannelType::Sms], "sms");
        assert_eq!(b.task_channels[&ChannelType::Web], "chat");
        assert!(matches!(
            c.twilio.credentials,
            TwilioCredentials::AuthToken { .. }
        ));
        assert_eq!(b.escalation, EscalationRules::default());
        assert_eq!(b.escalation.after_fallbacks, Some(2));
        assert_eq!(b.escalation.fallback_intents, ["FallbackIntent"]);
        assert_eq!(b.escalation.below_confidence, None);
        assert_eq!(b.escalation.low_confidence_turns, 2);
        assert_eq!(b.escalation.on_negative_sentiment, None);
        assert_eq!(b.timers, TimerSettings::default());
        assert_eq!(
            b.timers.after_handoff,
            AfterHandoff::Extend(AgentTimers {
                inactive_after: IsoDuration::parse("P1D").unwrap(),
                close_after: IsoDuration::parse("P7D").unwrap(),
            })
        );
        assert_eq!(c.warnings, []);
        assert!(b.rich_cards.enabled_for(ChannelType::Whatsapp));
        assert!(!b.rich_cards.enabled_for(ChannelType::Sms));
        assert!(!b.rich_cards.enabled_for(ChannelType::Web));
        assert_eq!(c.twilio.content_base_url, None);
        assert_eq!(c.function_timeout, FunctionTimeout::DEFAULT);
    }

    #[test]
    fn the_function_timeout_is_read_in_seconds() {
        let c = Config::from_settings(&with(&[("FUNCTION_TIMEOUT_SECS", "900")])).unwrap();
        assert_eq!(
            c.function_timeout.duration(),
            std::time::Duration::from_secs(900)
        );
        let err = Config::from_settings(&with(&[("FUNCTION_TIMEOUT_SECS", "901")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "FUNCTION_TIMEOUT_SECS: 901 s is not a Lambda timeout (1 to 900 s)"
        );
    }

    #[test]
    fn escalation_timers_and_cards_are_read() {
        let c = Config::from_settings(&with(&[
            ("HANDOFF_AFTER_FALLBACKS", "0"),
            ("FALLBACK_INTENTS", "Unknown, Confused"),
            ("HANDOFF_BELOW_CONFIDENCE", "0.45"),
            ("LOW_CONFIDENCE_TURNS", "3"),
            ("HANDOFF_ON_NEGATIVE_SENTIMENT", "2"),
            ("INACTIVE_AFTER", "PT15M"),
            ("CLOSE_AFTER", "P1D"),
            ("TIMERS_AFTER_HANDOFF", "Keep"),
            ("RICH_CARDS", "whatsapp, web"),
            ("TWILIO_CONTENT_BASE_URL", "http://127.0.0.1:9/"),
        ]))
        .unwrap();
        let b = &c.behaviour;
        assert_eq!(b.escalation.after_fallbacks, None);
        assert_eq!(b.escalation.fallback_intents, ["Unknown", "Confused"]);
        assert_eq!(b.escalation.below_confidence, Threshold::new(0.45));
        assert_eq!(b.escalation.low_confidence_turns, 3);
        assert_eq!(b.escalation.on_negative_sentiment, Some(2));
        assert_eq!(
            b.timers.inactive_after.as_ref().map(IsoDuration::as_str),
            Some("PT15M")
        );
        assert_eq!(
            b.timers.close_after.as_ref().map(|d| d.length().as_secs()),
            Some(86_400)
        );
        assert_eq!(b.timers.after_handoff, AfterHandoff::Keep);
        assert!(b.rich_cards.enabled_for(ChannelType::Web));
        assert!(!b.rich_cards.enabled_for(ChannelType::Sms));
        assert_eq!(
            c.twilio.content_base_url.as_deref(),
            Some("http://127.0.0.1:9")
        );
        let off = Config::from_settings(&with(&[
            ("RICH_CARDS", "none"),
            ("HANDOFF_ON_NEGATIVE_SENTIMENT", "0"),
        ]))
        .unwrap();
        assert!(!off.behaviour.rich_cards.enabled_for(ChannelType::Whatsapp));
        assert_eq!(off.behaviour.escalation.on_negative_sentiment, None);
        let minimums = Config::from_settings(&with(&[
            ("INACTIVE_AFTER", "PT1M"),
            ("CLOSE_AFTER", "PT10M"),
        ]))
        .unwrap();
        assert_eq!(
            minimums.behaviour.timers.on_first_turn().unwrap().form(),
            vec![
                ("Timers.Inactive", "PT1M".to_owned()),
                ("Timers.Closed", "PT10M".to_owned())
            ]
        );
    }

    fn timers_of(pairs: &[(&str, &str)]) -> (TimerSettings, Vec<ConfigWarning>) {
        let c = Config::from_settings(&with(pairs)).unwrap();
        (c.behaviour.timers, c.warnings)
    }

    fn handoff_form(pairs: &[(&str, &str)]) -> Vec<(&'static str, String)> {
        timers_of(pairs)
            .0
            .on_handoff()
            .map(|u| u.form())
            .unwrap_or_default()
    }

    fn owned(pairs: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
        pairs.iter().map(|(k, v)| (*k, (*v).to_owned())).collect()
    }

    #[test]
    fn handoff_extends_the_bots_timers_to_the_agent_durations() {
        let bot = [("INACTIVE_AFTER", "PT15M"), ("CLOSE_AFTER", "PT30M")];
        // Default: a day and a week.
        assert_eq!(
            handoff_form(&bot),
            owned(&[("Timers.Inactive", "P1D"), ("Timers.Closed", "P7D")])
        );
        // Explicitly `extend`, with the operator's durations.
        let mut set = bot.to_vec();
        set.extend([
            ("TIMERS_AFTER_HANDOFF", "Extend"),
            ("AGENT_INACTIVE_AFTER", "PT8H"),
            ("AGENT_CLOSE_AFTER", "P3D"),
        ]);
        assert_eq!(
            handoff_form(&set),
            owned(&[("Timers.Inactive", "PT8H"), ("Timers.Closed", "P3D")])
        );
        assert_eq!(timers_of(&set).1, []);
        // Equal to the bot's own is allowed: the countdown restarts, nothing gets nearer.
        assert_eq!(
            handoff_form(&[
                ("CLOSE_AFTER", "P2D"),
                ("AGENT_CLOSE_AFTER", "P2D"),
                ("AGENT_INACTIVE_AFTER", "PT1M"),
            ]),
            owned(&[("Timers.Closed", "P2D")])
        );
        // Unset, the default never shortens a bot timer that is already longer.
        assert_eq!(
            handoff_form(&[("INACTIVE_AFTER", "P2D"), ("CLOSE_AFTER", "P30D")]),
            owned(&[("Timers.Inactive", "P2D"), ("Timers.Closed", "P30D")])
        );
        // `keep`: no call at handoff.
        assert_eq!(
            handoff_form(&[
                ("INACTIVE_AFTER", "PT15M"),
                ("TIMERS_AFTER_HANDOFF", "keep")
            ]),
            []
        );
        // No bot timers: nothing to extend.
        assert_eq!(handoff_form(&[]), []);
    }

    #[test]
    fn an_agent_duration_shorter_than_the_bots_fails_init() {
        for (pairs, named) in [
            (
                &[("CLOSE_AFTER", "P30D"), ("AGENT_CLOSE_AFTER", "P7D")][..],
                "AGENT_CLOSE_AFTER",
            ),
            (
                &[("INACTIVE_AFTER", "PT2H"), ("AGENT_INACTIVE_AFTER", "PT1H")][..],
                "AGENT_INACTIVE_AFTER",
            ),
        ] {
            let err = Config::from_settings(&with(pairs)).unwrap_err();
            assert_eq!(err.variable, named, "{pairs:?}");
            assert!(err.reason.contains("never shortened"), "{err}");
        }
        // Under `keep` the agent durations are never sent, so nothing contradicts.
        let (kept, warnings) = timers_of(&[
            ("CLOSE_AFTER", "P30D"),
            ("AGENT_CLOSE_AFTER", "P7D"),
            ("TIMERS_AFTER_HANDOFF", "keep"),
        ]);
        assert_eq!(kept.after_handoff, AfterHandoff::Keep);
        assert_eq!(
            warnings.iter().map(|w| w.variable).collect::<Vec<_>>(),
            ["AGENT_CLOSE_AFTER"]
        );
    }

    #[test]
    fn clear_is_a_deprecated_name_for_extend() {
        let (clear, warnings) = timers_of(&[
            ("INACTIVE_AFTER", "PT15M"),
            ("CLOSE_AFTER", "P1D"),
            ("TIMERS_AFTER_HANDOFF", "clear"),
        ]);
        let (extend, none) = timers_of(&[("INACTIVE_AFTER", "PT15M"), ("CLOSE_AFTER", "P1D")]);
        assert_eq!(clear, extend);
        assert_eq!(none, []);
        let [warning] = warnings.try_into().unwrap();
        assert_eq!(warning.variable, "TIMERS_AFTER_HANDOFF");
        for needle in [
            "deprecated",
            "now means `extend`",
            "TIMERS_AFTER_HANDOFF=extend",
        ] {
            assert!(warning.to_string().contains(needle), "{warning}");
        }
        assert!(
            warning
                .to_string()
                .starts_with("TIMERS_AFTER_HANDOFF: `clear`")
        );
    }

    #[test]
    fn pt0s_fails_init_for_every_timer_with_twilios_minimum_named() {
        for (var, minimum, unset) in [
            ("INACTIVE_AFTER", "1 minute (PT1M)", "no timer"),
            ("CLOSE_AFTER", "10 minutes (PT10M)", "no timer"),
            (
                "AGENT_INACTIVE_AFTER",
                "1 minute (PT1M)",
                "the default (P1D)",
            ),
            (
                "AGENT_CLOSE_AFTER",
                "10 minutes (PT10M)",
                "the default (P7D)",
            ),
        ] {
            let err = Config::from_settings(&with(&[(var, "PT0S")])).unwrap_err();
            assert_eq!(err.variable, var);
            assert!(
                err.reason.contains(minimum)
                    && err.reason.ends_with(&format!("unset it for {unset}")),
                "{err}"
            );
        }
    }

    #[test]
    fn an_agent_duration_without_its_bot_timer_is_warned_about() {
        let (settings, warnings) =
            timers_of(&[("CLOSE_AFTER", "P1D"), ("AGENT_INACTIVE_AFTER", "PT8H")]);
        assert_eq!(
            settings.on_handoff().unwrap().form(),
            owned(&[("Timers.Closed", "P7D")])
        );
        assert_eq!(
            warnings.iter().map(|w| w.variable).collect::<Vec<_>>(),
            ["AGENT_INACTIVE_AFTER"]
        );
    }

    /// Whatever configuration init accepts, no timer update the bot makes is one Twilio
    /// documents as refused: every value at least its minimum, never `PT0S`.
    #[test]
    fn every_accepted_configuration_sends_only_values_twilio_accepts() {
        use crate::domain::plan::{Action, Reason};
        use crate::domain::timers::TimersState;
        let inactive = [None, Some("PT1M"), Some("PT15M"), Some("P2D")];
        let closed = [None, Some("PT10M"), Some("P1D"), Some("P30D")];
        let agent_inactive = [None, Some("PT0S"), Some("PT1M"), Some("PT8H"), Some("P3D")];
        let agent_closed = [None, Some("PT0S"), Some("PT9M"), Some("PT10M"), Some("P7D")];
        let after = [None, Some("extend"), Some("clear"), Some("keep")];
        let mut accepted = 0;
        for i in inactive {
            for c in closed {
                for ai in agent_inactive {
                    for ac in agent_closed {
                        for a in after {
                            let pairs: Vec<(&str, &str)> = [
                                ("INACTIVE_AFTER", i),
                                ("CLOSE_AFTER", c),
                                ("AGENT_INACTIVE_AFTER", ai),
                                ("AGENT_CLOSE_AFTER", ac),
                                ("TIMERS_AFTER_HANDOFF", a),
                            ]
                            .into_iter()
                            .filter_map(|(k, v)| v.map(|v| (k, v)))
                            .collect();
                            let Ok(config) = Config::from_settings(&with(&pairs)) else {
                                continue;
                            };
                            accepted += 1;
                            let timers = &config.behaviour.timers;
                            let first = timers.step(TimersState::Untouched, &Action::Wait);
                            let handoff =
                                timers.step(TimersState::Set, &Action::Handoff(Reason::MediaOnly));
                            for step in first.iter().chain(&handoff) {
                                assert_eq!(step.update.check(), Ok(()), "{pairs:?}");
                                assert!(
                                    step.update.form().iter().all(|(_, v)| v != "PT0S"),
                                    "{pairs:?}"
                                );
                            }
                            // Extending never brings a close nearer.
                            if let (Some(first), Some(handoff)) = (&first, &handoff) {
                                for (bot, agent) in [
                                    (&first.update.inactive, &handoff.update.inactive),
                                    (&first.update.closed, &handoff.update.closed),
                                ] {
                                    if let (Some(bot), Some(agent)) = (bot, agent) {
                                        assert!(agent.length() >= bot.length(), "{pairs:?}");
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        assert!(accepted > 100, "{accepted}");
    }

    #[test]
    fn api_key_is_preferred_for_rest() {
        let c = Config::from_settings(&with(&[
            ("TWILIO_API_KEY_SID", "SK0123456789abcdef0123456789abcdef"),
            ("TWILIO_API_KEY_SECRET", "key-secret"),
        ]))
        .unwrap();
        assert!(matches!(
            c.twilio.credentials,
            TwilioCredentials::ApiKey { .. }
        ));
    }

    #[test]
    fn bad_values_name_their_variable() {
        let cases: &[(&str, &str, &str)] = &[
            ("ON_BOT_ERROR", "explode", "ON_BOT_ERROR"),
            ("ON_MEDIA", "ignore", "ON_MEDIA"),
            ("AFTER_AGENT", "survey", "AFTER_AGENT"),
            ("AFTER_AGENT", "bot", "INTERACTION_WEBHOOK_TTID"),
            ("DEFAULT_LOCALE", "en US", "DEFAULT_LOCALE"),
            ("FLEX_WORKSPACE_SID", "WSnope", "FLEX_WORKSPACE_SID"),
            (
                "FLEX_WORKFLOW_SID",
                "WS0123456789abcdef0123456789abcdef",
                "FLEX_WORKFLOW_SID",
            ),
            ("TASK_CHANNELS", "fax=chat", "TASK_CHANNELS"),
            ("TASK_CHANNELS", "sms", "TASK_CHANNELS"),
            (
                "WEBHOOK_PUBLIC_URL",
                "example.com/hook",
                "WEBHOOK_PUBLIC_URL",
            ),
            ("TWILIO_REGION", "ie1.", "TWILIO_REGION"),
            ("HANDOFF_AFTER_FALLBACKS", "two", "HANDOFF_AFTER_FALLBACKS"),
            ("HANDOFF_AFTER_FALLBACKS", "-1", "HANDOFF_AFTER_FALLBACKS"),
            ("FALLBACK_INTENTS", " , ", "FALLBACK_INTENTS"),
            (
                "HANDOFF_BELOW_CONFIDENCE",
                "1.5",
                "HANDOFF_BELOW_CONFIDENCE",
            ),
            (
                "HANDOFF_BELOW_CONFIDENCE",
                "NaN",
                "HANDOFF_BELOW_CONFIDENCE",
            ),
            (
                "HANDOFF_BELOW_CONFIDENCE",
                "low",
                "HANDOFF_BELOW_CONFIDENCE",
            ),
            ("LOW_CONFIDENCE_TURNS", "0", "LOW_CONFIDENCE_TURNS"),
            ("LOW_CONFIDENCE_TURNS", "2.5", "LOW_CONFIDENCE_TURNS"),
            (
                "HANDOFF_ON_NEGATIVE_SENTIMENT",
                "yes",
                "HANDOFF_ON_NEGATIVE_SENTIMENT",
            ),
            ("INACTIVE_AFTER", "15m", "INACTIVE_AFTER"),
            ("INACTIVE_AFTER", "PT59S", "INACTIVE_AFTER"),
            ("INACTIVE_AFTER", "PT0S", "INACTIVE_AFTER"),
            ("INACTIVE_AFTER", "P1W", "INACTIVE_AFTER"),
            ("CLOSE_AFTER", "PT9M59S", "CLOSE_AFTER"),
            ("CLOSE_AFTER", "P1M", "CLOSE_AFTER"),
            ("TIMERS_AFTER_HANDOFF", "forget", "TIMERS_AFTER_HANDOFF"),
            ("FUNCTION_TIMEOUT_SECS", "0", "FUNCTION_TIMEOUT_SECS"),
            ("FUNCTION_TIMEOUT_SECS", "30s", "FUNCTION_TIMEOUT_SECS"),
            ("TIMERS_AFTER_HANDOFF", "off", "TIMERS_AFTER_HANDOFF"),
            ("AGENT_INACTIVE_AFTER", "PT0S", "AGENT_INACTIVE_AFTER"),
            ("AGENT_INACTIVE_AFTER", "PT59S", "AGENT_INACTIVE_AFTER"),
            ("AGENT_INACTIVE_AFTER", "P1W", "AGENT_INACTIVE_AFTER"),
            ("AGENT_CLOSE_AFTER", "PT0S", "AGENT_CLOSE_AFTER"),
            ("AGENT_CLOSE_AFTER", "PT9M59S", "AGENT_CLOSE_AFTER"),
            ("AGENT_CLOSE_AFTER", "a week", "AGENT_CLOSE_AFTER"),
            ("CLOSE_AFTER", "PT0S", "CLOSE_AFTER"),
            ("RICH_CARDS", "telegram", "RICH_CARDS"),
            ("RICH_CARDS", "none,whatsapp", "RICH_CARDS"),
            (
                "TWILIO_CONTENT_BASE_URL",
                "content.twilio.com",
                "TWILIO_CONTENT_BASE_URL",
            ),
            (
                "TWILIO_CONTENT_BASE_URL",
                "https://content.twilio.com/v1",
                "TWILIO_CONTENT_BASE_URL",
            ),
            (
                "TWILIO_FLEX_BASE_URL",
                "https://flex-api.twilio.com?x=1",
                "TWILIO_FLEX_BASE_URL",
            ),
            (
                "TWILIO_CONVERSATIONS_BASE_URL",
                "https://AC123:topsecret@conversations.twilio.com",
                "TWILIO_CONVERSATIONS_BASE_URL",
            ),
            (
                "TWILIO_API_KEY_SID",
                "SK0123456789abcdef0123456789abcdef",
                "TWILIO_API_KEY_SECRET",
            ),
        ];
        for (var, value, named) in cases {
            let err = Config::from_settings(&with(&[(var, value)])).unwrap_err();
            assert_eq!(err.variable, *named, "{var}={value}");
            assert!(!err.to_string().contains("topsecret"), "{err}");
        }
        let mut m = base();
        m.remove("TWILIO_AUTH_TOKEN");
        assert_eq!(
            Config::from_settings(&m).unwrap_err().variable,
            "TWILIO_AUTH_TOKEN"
        );
        let mut m = base();
        m.remove("FLEX_WORKSPACE_SID");
        assert_eq!(
            Config::from_settings(&m).unwrap_err().variable,
            "FLEX_WORKSPACE_SID"
        );
    }

    #[test]
    fn shared_keys_are_read_in_pairs_and_the_previous_needs_a_current() {
        let c = Config::from_settings(&base()).unwrap();
        assert_eq!(
            (c.twilio.shared_key, c.twilio.previous_shared_key),
            (None, None)
        );
        let c = Config::from_settings(&with(&[
            ("TWILIO_SHARED_KEY_SECRET", "shared-now"),
            ("TWILIO_SHARED_KEY_ID", "KSnow"),
            ("TWILIO_PREVIOUS_SHARED_KEY_SECRET", "shared-before"),
        ]))
        .unwrap();
        let current = c.twilio.shared_key.unwrap();
        assert_eq!(
            (current.id.as_deref(), current.secret.expose()),
            (Some("KSnow"), "shared-now")
        );
        let previous = c.twilio.previous_shared_key.unwrap();
        assert_eq!(
            (previous.id, previous.secret.expose()),
            (None, "shared-before")
        );
        let err = Config::from_settings(&with(&[("TWILIO_SHARED_KEY_ID", "KSnow")])).unwrap_err();
        assert_eq!(err.variable, "TWILIO_SHARED_KEY_SECRET");
        let err = Config::from_settings(&with(&[(
            "TWILIO_PREVIOUS_SHARED_KEY_SECRET",
            "very-secret-shared",
        )]))
        .unwrap_err();
        assert_eq!(err.variable, "TWILIO_SHARED_KEY_SECRET");
        assert!(!err.to_string().contains("very-secret-shared"));
        assert!(
            !format!(
                "{c:?}",
                c = Config::from_settings(&with(&[(
                    "TWILIO_SHARED_KEY_SECRET",
                    "very-secret-shared"
                )]))
                .unwrap()
            )
            .contains("very-secret-shared")
        );
    }

    #[test]
    fn errors_never_echo_secrets() {
        let err = Config::from_settings(&with(&[("TWILIO_API_KEY_SECRET", "very-secret-value")]))
            .unwrap_err();
        assert!(!err.to_string().contains("very-secret-value"));
        let c = Config::from_settings(&base()).unwrap();
        assert!(!format!("{c:?}").contains("tok-primary"));
    }

    #[test]
    fn lists_are_trimmed_and_task_channels_overridable() {
        let c = Config::from_settings(&with(&[
            ("HANDOFF_INTENTS", " Agent , Human,,"),
            ("TASK_CHANNELS", "whatsapp=whatsapp, web=chat"),
        ]))
        .unwrap();
        assert_eq!(c.behaviour.handoff_intents, ["Agent", "Human"]);
        assert_eq!(
            c.behaviour.task_channels[&ChannelType::Whatsapp],
            "whatsapp"
        );
        assert_eq!(c.behaviour.task_channels[&ChannelType::Sms], "sms");
    }
}
