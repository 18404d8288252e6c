//! The stack's webhook URL: what `connect` writes into an address configuration and what
//! `doctor` expects to find there. Twilio signs the exact URL it calls, and the Lambda rebuilds
//! that URL as `https://{domainName}{path}?{query}`, so scheme, host, port and path matter to
//! the byte; the query carries the bot (`BotId`, `BotAliasId`, optional `LocaleId`).

use reqwest::Url;

use crate::CliError;
use flexlex::domain::ids::{BotAliasId, BotId, LocaleId};

/// The query parameters that name the bot, in the order `connect` writes them.
pub const BOT_PARAMS: [&str; 3] = ["BotId", "BotAliasId", "LocaleId"];

/// A webhook URL taken apart, keeping the text as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl {
    /// `scheme://authority/path`, as written (no query, no fragment).
    pub base: String,
    /// The raw `name=value` pieces of the query, in order.
    pub query: Vec<String>,
    pub scheme: String,
    /// Lower-case host, without port or brackets.
    pub host: String,
    /// The port as written in the URL, when there is one.
    pub explicit_port: Option<String>,
    pub path: String,
}

impl WebhookUrl {
    /// Parses an absolute http(s) URL; the error says what is wrong with it.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        let parsed = Url::parse(raw).map_err(|e| format!("`{raw}` is not a URL: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!("`{raw}` must start with https://"));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err("a webhook URL carries no user or password".to_owned());
        }
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| format!("`{raw}` has no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        let without_fragment = raw.split('#').next().unwrap_or(raw);
        let (base, query) = without_fragment
            .split_once('?')
            .unwrap_or((without_fragment, ""));
        let scheme = parsed.scheme().to_owned();
        let authority = base
            .get(scheme.len() + 3..)
            .unwrap_or_default()
            .split('/')
            .next()
            .unwrap_or_default();
        let explicit_port = authority
            .rsplit_once(':')
            .filter(|(_, port)| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()))
            .map(|(_, port)| port.to_owned());
        Ok(Self {
            base: base.to_owned(),
            query: query
                .split('&')
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect(),
            scheme,
            host,
            explicit_port,
            path: parsed.path().to_owned(),
        })
    }

    /// `localhost`, `127.x.x.x` or `::1`: a local `flexlex serve`, where http is expected.
    pub fn is_local(&self) -> bool {
        self.host == "localhost"
            || self.host == "::1"
            || self
                .host
                .parse::<std::net::Ipv4Addr>()
                .is_ok_and(|ip| ip.is_loopback())
    }

    /// A decoded query parameter.
    pub fn param(&self, name: &str) -> Option<String> {
        self.query.iter().find_map(|piece| {
            form_urlencoded::parse(piece.as_bytes())
                .next()
                .filter(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        })
    }

    /// Scheme, host, port and path the same: Twilio calls the same endpoint.
    pub fn same_endpoint(&self, other: &Self) -> bool {
        self.scheme == other.scheme
            && self.host == other.host
            && self.effective_port() == other.effective_port()
            && self.path == other.path
    }

    fn effective_port(&self) -> Option<&str> {
        match (self.scheme.as_str(), self.explicit_port.as_deref()) {
            ("https", Some("443")) | ("http", Some("80")) => None,
            (_, port) => port,
        }
    }

    /// This URL with the bot's parameters, in the order `BotId`, `BotAliasId`, `LocaleId`,
    /// after any other parameters it already had (bot parameters it had are replaced).
    pub fn with_bot(&self, bot: &BotRefArgs) -> String {
        let mut query: Vec<String> = self
            .query
            .iter()
            .filter(|piece| {
                let name = piece.split('=').next().unwrap_or_default();
                !BOT_PARAMS.contains(&name)
            })
            .cloned()
            .collect();
        query.push(format!("BotId={}", bot.bot_id));
        query.push(format!("BotAliasId={}", bot.alias_id));
        if let Some(locale) = &bot.locale {
            query.push(format!("LocaleId={locale}"));
        }
        format!("{}?{}", self.base, query.join("&"))
    }

    /// Why Twilio's requests to this URL would not validate or not arrive, if anything:
    /// `(problem, what to do)`. A local URL may be plain http on any port.
    pub fn pitfalls(&self) -> Vec<(String, String)> {
        let mut found = Vec::new();
        if self.is_local() {
            return found;
        }
        if self.scheme == "http" {
            found.push((
                format!("{} uses http", self.base),
                "use https: API Gateway serves https only, and the Lambda checks the signature \
                 against the https URL unless WebhookPublicUrl says otherwise"
                    .to_owned(),
            ));
        }
        match (self.scheme.as_str(), self.explicit_port.as_deref()) {
            ("https", Some("443")) => found.push((
                format!("{} names the default port :443", self.base),
                "drop `:443`: harmless for flexlex (it checks both forms), but keep the URL in \
                 Twilio exactly the stack's WebhookUrl"
                    .to_owned(),
            )),
            (_, Some(port)) => found.push((
                format!("{} names port {port}", self.base),
                "API Gateway answers on 443 only: use the stack's WebhookUrl without a port"
                    .to_owned(),
            )),
            _ => {}
        }
        found
    }
}

/// The bot a webhook URL names, as given on the command line or found in a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotRefArgs {
    pub bot_id: BotId,
    pub alias_id: BotAliasId,
    pub locale: Option<LocaleId>,
}

/// A Lex V2 bot id: the product's parser (10 letters or digits), and upper-case as Lex
/// generates them, so a mistyped id is caught here rather than as a silent bot error.
pub fn parse_bot_id(raw: &str) -> Result<BotId, String> {
    let id = BotId::parse(raw).map_err(|e| e.to_string())?;
    if raw.bytes().any(|b| b.is_ascii_lowercase()) {
        return Err(format!(
            "BotId `{raw}` is invalid: Lex bot ids are 10 upper-case letters and digits"
        ));
    }
    Ok(id)
}

pub fn parse_alias_id(raw: &str) -> Result<BotAliasId, String> {
    BotAliasId::parse(raw).map_err(|e| e.to_string())
}

pub fn parse_locale(raw: &str) -> Result<LocaleId, String> {
    LocaleId::parse(raw).map_err(|e| e.to_string())
}

/// A placeholder such as the stack's `<BotId>` rather than a value.
pub fn is_placeholder(value: &str) -> bool {
    value.starts_with('<') && value.ends_with('>')
}

/// The `--url` of `connect` and `doctor`. Anything but an http(s) URL with a host is a usage
/// error; what is merely risky (http, a port) is left to [`WebhookUrl::pitfalls`].
pub fn stack_url(raw: &str) -> Result<WebhookUrl, CliError> {
    WebhookUrl::parse(raw).map_err(|e| CliError::Config(format!("--url: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bot(locale: Option<&str>) -> BotRefArgs {
        BotRefArgs {
            bot_id: parse_bot_id("ABCDEFGHIJ").unwrap(),
            alias_id: parse_alias_id("TSTALIASID").unwrap(),
            locale: locale.map(|l| parse_locale(l).unwrap()),
        }
    }

    #[test]
    fn bot_parameters_replace_placeholders_in_order() {
        let url = WebhookUrl::parse(
            "https://abc.execute-api.us-east-1.amazonaws.com/prod/webhook?BotId=<BotId>&BotAliasId=<BotAliasId>",
        )
        .unwrap();
        assert_eq!(
            url.with_bot(&bot(Some("fr_CA"))),
            "https://abc.execute-api.us-east-1.amazonaws.com/prod/webhook?BotId=ABCDEFGHIJ&BotAliasId=TSTALIASID&LocaleId=fr_CA"
        );
        let url = WebhookUrl::parse("https://h.example/w?x=1").unwrap();
        assert_eq!(
            url.with_bot(&bot(None)),
            "https://h.example/w?x=1&BotId=ABCDEFGHIJ&BotAliasId=TSTALIASID"
        );
    }

    #[test]
    fn ports_and_schemes_are_pitfalls_except_locally() {
        let url = WebhookUrl::parse("https://h.example:443/w").unwrap();
        assert_eq!(url.explicit_port.as_deref(), Some("443"));
        assert_eq!(url.pitfalls().len(), 1);
        assert!(url.same_endpoint(&WebhookUrl::parse("https://h.example/w?BotId=A").unwrap()));
        let url = WebhookUrl::parse("http://h.example:8080/w").unwrap();
        assert_eq!(url.pitfalls().len(), 2);
        let local = WebhookUrl::parse("http://127.0.0.1:8080/w").unwrap();
        assert!(local.is_local());
        assert!(local.pitfalls().is_empty());
        assert!(WebhookUrl::parse("ftp://h/w").is_err());
        assert!(WebhookUrl::parse("https://user:pw@h/w").is_err());
    }

    #[test]
    fn bot_ids_are_upper_case_alphanumerics() {
        assert!(parse_bot_id("ABCDEFGHIJ").is_ok());
        assert!(parse_bot_id("abcdefghij").is_err());
        assert!(parse_bot_id("ABCDEFGHI").is_err());
        assert!(parse_alias_id("TSTALIASID").is_ok());
        assert!(parse_alias_id("TST-ALIAS").is_err());
    }
}
