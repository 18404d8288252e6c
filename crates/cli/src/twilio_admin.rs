//! The Address Configuration REST calls `connect` and `doctor` make, with the credentials and
//! hosts the Lambda uses: `TWILIO_API_KEY_SID`/`TWILIO_API_KEY_SECRET` when set, else
//! `TWILIO_ACCOUNT_SID` with `TWILIO_AUTH_TOKEN`; `TWILIO_CONVERSATIONS_BASE_URL`,
//! `TWILIO_REGION` and `TWILIO_EDGE` as the product's client applies them.
//!
//! These calls configure an account rather than serve a customer, so they live here and not in
//! the product's client: no retries (a person is watching), every refusal reported with
//! Twilio's code.

use std::collections::HashMap;
use std::fmt;

use reqwest::{Method, Url};
use serde::Deserialize;

use crate::CliError;
use flexlex::adapters::twilio::api::ErrorBody;
use flexlex::adapters::twilio::client::{DEFAULT_CONVERSATIONS_BASE, DEFAULT_FLEX_BASE};
use flexlex::adapters::twilio::regional_host;
use flexlex::domain::ids::{AccountSid, ApiKeySid};
use flexlex::domain::secret::Secret;
use flexlex::domain::secret::TwilioCredentials;

/// The list is paged by 50 (Twilio's maximum); a real account has far fewer pages than this.
const PAGE_SIZE: usize = 50;
const MAX_PAGES: usize = 200;

/// One address configuration, read leniently: Twilio adds fields, and omits those of other
/// auto-creation types.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct AddressConfig {
    pub sid: String,
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub address: String,
    #[serde(default)]
    pub friendly_name: Option<String>,
    #[serde(default)]
    pub auto_creation: Option<AutoCreation>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct AutoCreation {
    #[serde(default)]
    pub enabled: bool,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub webhook_url: Option<String>,
    #[serde(default)]
    pub webhook_method: Option<String>,
    #[serde(default)]
    pub webhook_filters: Option<Vec<String>>,
    #[serde(default)]
    pub studio_flow_sid: Option<String>,
}

impl AddressConfig {
    pub fn auto(&self) -> AutoCreation {
        self.auto_creation.clone().unwrap_or_default()
    }
}

#[derive(Debug, Deserialize)]
struct Page {
    #[serde(default)]
    address_configurations: Vec<AddressConfig>,
    #[serde(default)]
    meta: Option<Meta>,
}

#[derive(Debug, Deserialize)]
struct Meta {
    #[serde(default)]
    next_page_url: Option<String>,
}

/// Why a call did not give the answer wanted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminError {
    /// Twilio answered with an error.
    Refused {
        status: u16,
        code: Option<u32>,
        message: String,
        more_info: Option<String>,
    },
    /// Twilio could not be reached, or answered with something that is not its JSON.
    Transport(String),
}

impl fmt::Display for AdminError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Refused {
                status,
                code,
                message,
                more_info,
            } => {
                write!(f, "HTTP {status}")?;
                if let Some(code) = code {
                    write!(f, ", code {code}")?;
                }
                write!(f, ": {message}")?;
                if let Some(more) = more_info {
                    write!(f, " ({more})")?;
                }
                Ok(())
            }
            Self::Transport(what) => f.write_str(what),
        }
    }
}

/// Reads the Twilio REST credentials the way the Lambda's configuration does, from `vars`.
/// Errors name the variable to set, for exit code 2.
pub fn credentials_from(vars: &HashMap<String, String>) -> Result<TwilioCredentials, CliError> {
    let get = |name: &str| vars.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    let config = |variable: &str, reason: String| CliError::Config(format!("{variable}: {reason}"));
    match (get("TWILIO_API_KEY_SID"), get("TWILIO_API_KEY_SECRET")) {
        (Some(sid), Some(secret)) => {
            let sid =
                ApiKeySid::parse(sid).map_err(|e| config("TWILIO_API_KEY_SID", e.to_string()))?;
            return Ok(TwilioCredentials::ApiKey {
                sid,
                secret: Secret::new(secret),
            });
        }
        (Some(_), None) => {
            return Err(config(
                "TWILIO_API_KEY_SECRET",
                "missing while TWILIO_API_KEY_SID is set".into(),
            ));
        }
        (None, Some(_)) => {
            return Err(config(
                "TWILIO_API_KEY_SID",
                "missing while TWILIO_API_KEY_SECRET is set".into(),
            ));
        }
        (None, None) => {}
    }
    let account = get("TWILIO_ACCOUNT_SID").ok_or_else(|| {
        config(
            "TWILIO_ACCOUNT_SID",
            "missing: set TWILIO_API_KEY_SID and TWILIO_API_KEY_SECRET, or TWILIO_ACCOUNT_SID \
             and TWILIO_AUTH_TOKEN (the values the stack's secret holds)"
                .into(),
        )
    })?;
    let account =
        AccountSid::parse(account).map_err(|e| config("TWILIO_ACCOUNT_SID", e.to_string()))?;
    let token = get("TWILIO_AUTH_TOKEN").ok_or_else(|| {
        config(
            "TWILIO_AUTH_TOKEN",
            "missing: REST calls with TWILIO_ACCOUNT_SID need the auth token (or set an API key)"
                .into(),
        )
    })?;
    Ok(TwilioCredentials::AuthToken {
        account,
        token: Secret::new(token),
    })
}

/// The Conversations host after `TWILIO_CONVERSATIONS_BASE_URL`, `TWILIO_REGION` and
/// `TWILIO_EDGE`.
pub fn conversations_base(vars: &HashMap<String, String>) -> Result<Url, CliError> {
    base_from(
        vars,
        "TWILIO_CONVERSATIONS_BASE_URL",
        DEFAULT_CONVERSATIONS_BASE,
    )
}

/// The Flex host after `TWILIO_FLEX_BASE_URL`, `TWILIO_REGION` and `TWILIO_EDGE`.
pub fn flex_base(vars: &HashMap<String, String>) -> Result<Url, CliError> {
    base_from(vars, "TWILIO_FLEX_BASE_URL", DEFAULT_FLEX_BASE)
}

fn base_from(
    vars: &HashMap<String, String>,
    variable: &str,
    default: &str,
) -> Result<Url, CliError> {
    let get = |name: &str| vars.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    let raw = get(variable).unwrap_or(default);
    let refuse = |reason: &str| {
        CliError::Config(format!(
            "{variable}: {reason} (an http(s) URL without path, e.g. {default})"
        ))
    };
    let mut url = Url::parse(raw).map_err(|e| refuse(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https")
        || !url.username().is_empty()
        || url.password().is_some()
        || url.query().is_some()
        || !matches!(url.path(), "" | "/")
    {
        return Err(refuse("not usable"));
    }
    let host = url.host_str().ok_or_else(|| refuse("no host"))?.to_owned();
    let rewritten = regional_host(&host, get("TWILIO_REGION"), get("TWILIO_EDGE"));
    if rewritten != host {
        url.set_host(Some(&rewritten))
            .map_err(|e| refuse(&e.to_string()))?;
    }
    Ok(url)
}

/// A client for `/v1/Configuration/Addresses` and the Flex instance's Interactions webhooks on
/// one account.
pub struct TwilioAdmin {
    http: reqwest::Client,
    credentials: TwilioCredentials,
    base: Url,
    flex: Url,
}

/// An Interactions webhook of a Flex instance, read leniently.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct InteractionWebhook {
    #[serde(default)]
    pub ttid: String,
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub webhook_url: String,
    #[serde(default)]
    pub webhook_method: String,
    #[serde(default)]
    pub webhook_events: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct WebhookList {
    #[serde(default)]
    data: Vec<InteractionWebhook>,
}

impl TwilioAdmin {
    /// From the process environment.
    pub fn from_env() -> Result<Self, CliError> {
        let vars: HashMap<String, String> = std::env::vars().collect();
        let admin = Self::new(credentials_from(&vars)?, conversations_base(&vars)?)?;
        Ok(Self {
            flex: flex_base(&vars)?,
            ..admin
        })
    }

    /// With `base` for Conversations and Flex both (an emulator serves both).
    pub fn new(credentials: TwilioCredentials, base: Url) -> Result<Self, CliError> {
        let http =
            flexlex::adapters::http::client(flexlex::adapters::http::HttpSettings::default())
                .map_err(|e| CliError::Runtime(e.to_string()))?;
        Ok(Self {
            http,
            credentials,
            flex: base.clone(),
            base,
        })
    }

    /// The Flex instance's `interaction`-type Interactions webhooks.
    pub async fn interaction_webhooks(
        &self,
        instance: &str,
    ) -> Result<Vec<InteractionWebhook>, AdminError> {
        let mut url = self.flex.clone();
        url.set_path(&format!("v1/Instances/{instance}/InteractionWebhooks"));
        url.set_query(Some("Type=interaction&PageSize=50"));
        let list: WebhookList = self.call(Method::GET, url, &[]).await?;
        Ok(list.data)
    }

    /// Registers an `interaction`-type Interactions webhook posting `events` to `url`.
    pub async fn create_interaction_webhook(
        &self,
        instance: &str,
        url: &str,
        events: &[&str],
    ) -> Result<InteractionWebhook, AdminError> {
        let mut endpoint = self.flex.clone();
        endpoint.set_path(&format!("v1/Instances/{instance}/InteractionWebhooks"));
        let mut form = vec![
            ("Type".to_owned(), "interaction".to_owned()),
            ("WebhookUrl".to_owned(), url.to_owned()),
            ("WebhookMethod".to_owned(), "POST".to_owned()),
            (
                "FriendlyName".to_owned(),
                "flexlex: back to the bot".to_owned(),
            ),
        ];
        form.extend(
            events
                .iter()
                .map(|e| ("WebhookEvents".to_owned(), (*e).to_owned())),
        );
        self.call(Method::POST, endpoint, &form).await
    }

    /// The host calls go to, for messages.
    pub fn host(&self) -> &str {
        self.base.host_str().unwrap_or_default()
    }

    /// Every address configuration of the account, following `next_page_url` on the
    /// configured host only (its path and query), so credentials never go to a host taken
    /// from a response.
    pub async fn list_addresses(&self) -> Result<Vec<AddressConfig>, AdminError> {
        let mut url = self.url("v1/Configuration/Addresses");
        url.set_query(Some(&format!("PageSize={PAGE_SIZE}")));
        let mut all = Vec::new();
        for _ in 0..MAX_PAGES {
            let page: Page = self.call(Method::GET, url.clone(), &[]).await?;
            all.extend(page.address_configurations);
            let Some(next) = page
                .meta
                .and_then(|m| m.next_page_url)
                .filter(|n| !n.is_empty())
            else {
                return Ok(all);
            };
            let next = Url::parse(&next).map_err(|e| {
                AdminError::Transport(format!("Twilio's next_page_url is not a URL: {e}"))
            })?;
            url = self.base.clone();
            url.set_path(next.path());
            url.set_query(next.query());
        }
        Err(AdminError::Transport(format!(
            "more than {MAX_PAGES} pages of address configurations"
        )))
    }

    pub async fn create_address(
        &self,
        form: &[(String, String)],
    ) -> Result<AddressConfig, AdminError> {
        let url = self.url("v1/Configuration/Addresses");
        self.call(Method::POST, url, form).await
    }

    pub async fn update_address(
        &self,
        sid: &str,
        form: &[(String, String)],
    ) -> Result<AddressConfig, AdminError> {
        let url = self.url(&format!("v1/Configuration/Addresses/{sid}"));
        self.call(Method::POST, url, form).await
    }

    fn url(&self, path: &str) -> Url {
        let mut url = self.base.clone();
        url.set_path(path);
        url
    }

    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        form: &[(String, String)],
    ) -> Result<T, AdminError> {
        let (user, password) = match &self.credentials {
            TwilioCredentials::ApiKey { sid, secret } => (sid.as_str(), secret),
            TwilioCredentials::AuthToken { account, token } => (account.as_str(), token),
        };
        let mut request = self
            .http
            .request(method.clone(), url)
            .basic_auth(user, Some(password.expose()))
            .timeout(std::time::Duration::from_secs(20));
        if method == Method::POST {
            request = request.form(form);
        }
        let response = request.send().await.map_err(|e| {
            AdminError::Transport(format!(
                "cannot reach Twilio at {}: {}",
                self.host(),
                describe(&e)
            ))
        })?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| {
            AdminError::Transport(format!("Twilio's answer was cut off: {}", describe(&e)))
        })?;
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|e| {
                AdminError::Transport(format!("Twilio answered with unexpected JSON: {e}"))
            });
        }
        let error = ErrorBody::parse(&body);
        Err(AdminError::Refused {
            status: status.as_u16(),
            code: error.code,
            message: error.message_or(status.as_u16()),
            more_info: error.more_info,
        })
    }
}

/// A transport error with its causes, never with the URL's credentials (there are none in it)
/// or headers.
fn describe(error: &reqwest::Error) -> String {
    let mut what = if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connect() {
        "could not connect".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        what.push_str(": ");
        what.push_str(&cause.to_string());
        source = cause.source();
    }
    what
}

/// What to do about a refusal, for the person reading the error.
pub fn advice(error: &AdminError, address: Option<&str>) -> String {
    match error {
        AdminError::Refused { status: 401, .. } | AdminError::Refused { code: Some(20003), .. } => {
            "check the credentials: TWILIO_API_KEY_SID/TWILIO_API_KEY_SECRET, or \
             TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN, and TWILIO_REGION (API keys belong to one region)"
                .to_owned()
        }
        AdminError::Refused { status: 403, .. } => {
            "the credentials may not manage Conversations (a restricted API key?): use a standard \
             API key of this account"
                .to_owned()
        }
        AdminError::Refused { status: 409, .. } => {
            "an address configuration for it exists already: `flexlex connect --list` shows it"
                .to_owned()
        }
        AdminError::Refused { status: 404, .. } => {
            "the address configuration is gone: `flexlex connect --list` shows what exists"
                .to_owned()
        }
        AdminError::Refused { status: 429, .. } => {
            "Twilio is rate limiting this account: wait a minute and run it again".to_owned()
        }
        AdminError::Refused { status, .. } if *status >= 500 => {
            "Twilio failed: run it again in a minute (it changes nothing twice)".to_owned()
        }
        AdminError::Refused { .. } => match address {
            Some(address) => format!(
                "check that {address} is a number (or sender) of this Twilio account, written in \
                 E.164 (+ and digits), and the command's values"
            ),
            None => "check the command's values".to_owned(),
        },
        AdminError::Transport(_) => {
            "check the network, TWILIO_CONVERSATIONS_BASE_URL and TWILIO_REGION/TWILIO_EDGE"
                .to_owned()
        }
    }
}
