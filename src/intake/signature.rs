//! Twilio's `X-Twilio-Signature`: base64(HMAC(key, URL + sorted params)).
//!
//! Two schemes, chosen per request by [`SETTINGS_HEADER`]:
//! - absent: HMAC-SHA1 keyed with the auth token (current, then previous);
//! - present (`key=…,algorithm=HMAC_SHA256`): Twilio's Webhooks configuration signed the request
//!   with a *shared key* and the named algorithm over the same string; the configured shared
//!   keys (current, then previous) are tried with that algorithm only. A header naming an
//!   algorithm or a key this deployment does not hold is refused, never checked another way.
//!
//! The URL must be byte-for-byte the one Twilio called, which the Lambda cannot see directly:
//! API Gateway hands over the host, the path and the query as a map. [`candidate_urls`]
//! rebuilds the URLs Twilio may have signed and [`Verifier::verify`] tries each of them (and
//! their default-port forms, as Twilio's own libraries do) with the current and the previous
//! auth token.

use std::collections::{BTreeMap, HashSet};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha1::Sha1;
use url::Url;

use crate::domain::secret::Secret;
use crate::intake::envelope::shown;
use crate::intake::form::FormParams;

pub const HEADER: &str = "X-Twilio-Signature";

/// Present when a Webhooks configuration rule signed the request with a shared key:
/// `key=<key id>,algorithm=HMAC_SHA256`.
pub const SETTINGS_HEADER: &str = "X-Twilio-Webhooks-Signature-Settings";

type HmacSha1 = Hmac<Sha1>;

/// Up to this many query parameters every order is tried (5! = 120 URLs); beyond it only the
/// sorted and reverse-sorted orders, because 6! = 720 URLs (times port forms and tokens) would
/// blow the warm-path budget and the mismatch log line. A webhook URL normally carries two or
/// three (`BotId`, `BotAliasId`, `LocaleId`); a longer one should be given verbatim in
/// `WEBHOOK_PUBLIC_URL`.
pub const MAX_PERMUTED_PARAMS: usize = 5;

/// What a person writing the Flex address URL leaves as is: RFC 3986 unreserved characters.
const QUERY_ESCAPE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn keyed(token: &str) -> HmacSha1 {
    HmacSha1::new_from_slice(token.as_bytes()).expect("HMAC accepts keys of any length")
}

/// The parameter half of the signed string: pairs sorted by name in byte order, values of a
/// repeated name sorted too and all kept (twilio-python's behaviour), `name` + `value` with no
/// delimiters. Sorting whole (name, value) pairs gives exactly that order.
fn param_string(params: &FormParams) -> Vec<u8> {
    let mut pairs: Vec<&(String, String)> = params.pairs().iter().collect();
    pairs.sort_unstable();
    let len = pairs.iter().map(|(k, v)| k.len() + v.len()).sum();
    let mut out = Vec::with_capacity(len);
    for (k, v) in pairs {
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(v.as_bytes());
    }
    out
}

/// The signature Twilio sends for a request to `url` with the (form-decoded) `params`.
pub fn sign(token: &str, url: &str, params: &FormParams) -> String {
    sign_with(Algorithm::HmacSha1, token, url, params)
}

/// The signature for `url` and `params` with `key` and `algorithm` (the shared-key scheme).
pub fn sign_with(algorithm: Algorithm, key: &str, url: &str, params: &FormParams) -> String {
    let mut mac = Keyed::new(algorithm, key).start();
    mac.update(url.as_bytes());
    mac.update(&param_string(params));
    STANDARD.encode(mac.finish())
}

/// A signing algorithm the settings header may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    HmacSha1,
    HmacSha256,
}

impl Algorithm {
    /// The name in the settings header.
    pub fn name(self) -> &'static str {
        match self {
            Self::HmacSha1 => "HMAC_SHA1",
            Self::HmacSha256 => "HMAC_SHA256",
        }
    }

    /// Exactly Twilio's spelling; anything else is not an algorithm this code checks.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "HMAC_SHA1" => Some(Self::HmacSha1),
            "HMAC_SHA256" => Some(Self::HmacSha256),
            _ => None,
        }
    }

    fn tag_len(self) -> usize {
        match self {
            Self::HmacSha1 => 20,
            Self::HmacSha256 => 32,
        }
    }
}

/// A key ready to sign: SHA-1 with the RustCrypto `hmac` crate (as before), SHA-256 with
/// aws-lc-rs (already linked for TLS).
#[derive(Clone)]
enum Keyed {
    Sha1(HmacSha1),
    Sha256(Box<aws_lc_rs::hmac::Key>),
}

enum Running {
    Sha1(HmacSha1),
    Sha256(Box<aws_lc_rs::hmac::Context>),
}

impl Keyed {
    fn new(algorithm: Algorithm, key: &str) -> Self {
        match algorithm {
            Algorithm::HmacSha1 => Self::Sha1(keyed(key)),
            Algorithm::HmacSha256 => Self::Sha256(Box::new(aws_lc_rs::hmac::Key::new(
                aws_lc_rs::hmac::HMAC_SHA256,
                key.as_bytes(),
            ))),
        }
    }

    fn start(&self) -> Running {
        match self {
            Self::Sha1(mac) => Running::Sha1(mac.clone()),
            Self::Sha256(key) => Running::Sha256(Box::new(aws_lc_rs::hmac::Context::with_key(key))),
        }
    }
}

impl Running {
    fn update(&mut self, data: &[u8]) {
        match self {
            Self::Sha1(mac) => mac.update(data),
            Self::Sha256(ctx) => ctx.update(data),
        }
    }

    fn finish(self) -> Vec<u8> {
        match self {
            Self::Sha1(mac) => mac.finalize().into_bytes().to_vec(),
            Self::Sha256(ctx) => ctx.sign().as_ref().to_vec(),
        }
    }

    /// Constant-time comparison with the decoded header.
    fn matches(self, expected: &[u8]) -> bool {
        match self {
            Self::Sha1(mac) => mac.verify_slice(expected).is_ok(),
            Self::Sha256(ctx) => {
                aws_lc_rs::constant_time::verify_slices_are_equal(ctx.sign().as_ref(), expected)
                    .is_ok()
            }
        }
    }
}

/// A Twilio Webhooks SharedKey: its secret, and its id when configured (then a header naming
/// another key is refused rather than tried).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedKey {
    pub id: Option<String>,
    pub secret: Secret,
}

/// What [`SETTINGS_HEADER`] says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `key=`: empty when Twilio leaves it blank.
    pub key: String,
    pub algorithm: Algorithm,
}

/// Why a request carrying [`SETTINGS_HEADER`] cannot be checked. The header names no secret,
/// so its excerpt may be logged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("{SETTINGS_HEADER} `{shown}` is not key=…,algorithm=… pairs")]
    Malformed { shown: String },
    #[error("{SETTINGS_HEADER} `{shown}` names no algorithm")]
    NoAlgorithm { shown: String },
    #[error(
        "{SETTINGS_HEADER} names algorithm `{shown}`, which this deployment does not check (HMAC_SHA1, HMAC_SHA256)"
    )]
    UnsupportedAlgorithm { shown: String },
    #[error(
        "{SETTINGS_HEADER} names shared key `{shown}`, which the Twilio secret does not hold (TWILIO_SHARED_KEY_ID, TWILIO_PREVIOUS_SHARED_KEY_ID)"
    )]
    UnknownKey { shown: String },
    #[error(
        "{SETTINGS_HEADER} asks for a shared-key signature, and the Twilio secret holds no TWILIO_SHARED_KEY_SECRET"
    )]
    NoSharedKey,
}

impl SettingsError {
    /// A short, bounded code for the log line and queries.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed { .. } => "settings_malformed",
            Self::NoAlgorithm { .. } => "settings_no_algorithm",
            Self::UnsupportedAlgorithm { .. } => "unsupported_algorithm",
            Self::UnknownKey { .. } => "unknown_key",
            Self::NoSharedKey => "no_shared_key",
        }
    }
}

/// Reads `key=…,algorithm=…` (names case-insensitive, spaces around items ignored, other
/// names ignored). A repeated name is malformed: which one Twilio meant would be a guess.
pub fn parse_settings(header: &str) -> Result<Settings, SettingsError> {
    let malformed = || SettingsError::Malformed {
        shown: shown(header),
    };
    let mut key: Option<String> = None;
    let mut algorithm: Option<String> = None;
    for item in header.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (name, value) = item.split_once('=').ok_or_else(malformed)?;
        let slot = match name.trim().to_ascii_lowercase().as_str() {
            "key" => &mut key,
            "algorithm" => &mut algorithm,
            _ => continue,
        };
        if slot.replace(value.trim().to_owned()).is_some() {
            return Err(malformed());
        }
    }
    let algorithm =
        algorithm
            .filter(|a| !a.is_empty())
            .ok_or_else(|| SettingsError::NoAlgorithm {
                shown: shown(header),
            })?;
    let algorithm =
        Algorithm::from_name(&algorithm).ok_or_else(|| SettingsError::UnsupportedAlgorithm {
            shown: shown(&algorithm),
        })?;
    Ok(Settings {
        key: key.unwrap_or_default(),
        algorithm,
    })
}

/// The URLs Twilio may have signed, deterministic, sorted query order first, no duplicates.
///
/// With `public_url` (`WEBHOOK_PUBLIC_URL`): used as is when it already has a query, else the
/// query is appended to it. Without: `https://{domain_name}{path}` plus the query. Since the
/// query arrives as a map, one URL per order of its parameters (see [`MAX_PERMUTED_PARAMS`]),
/// each name and value percent-encoded except for unreserved characters. A `#fragment` is never
/// part of what Twilio signs and is dropped.
pub fn candidate_urls(
    public_url: Option<&str>,
    domain_name: &str,
    path: &str,
    query: &BTreeMap<String, String>,
) -> Vec<String> {
    let base = match public_url.filter(|u| !u.is_empty()) {
        Some(url) => {
            let url = url.split_once('#').map_or(url, |(before, _)| before);
            if url.contains('?') {
                return vec![url.to_owned()];
            }
            url.to_owned()
        }
        None => format!("https://{domain_name}{path}"),
    };
    if query.is_empty() {
        return vec![base];
    }
    let encoded: Vec<String> = query
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                utf8_percent_encode(k, QUERY_ESCAPE),
                utf8_percent_encode(v, QUERY_ESCAPE)
            )
        })
        .collect();
    let build = |order: &[usize]| {
        let mut url = base.clone();
        for (n, &i) in order.iter().enumerate() {
            url.push(if n == 0 { '?' } else { '&' });
            url.push_str(&encoded[i]);
        }
        url
    };
    let mut order: Vec<usize> = (0..encoded.len()).collect();
    let mut urls = Vec::new();
    if order.len() <= MAX_PERMUTED_PARAMS {
        loop {
            urls.push(build(&order));
            if !next_permutation(&mut order) {
                break;
            }
        }
    } else {
        urls.push(build(&order));
        order.reverse();
        urls.push(build(&order));
    }
    let mut seen = HashSet::new();
    urls.retain(|u| seen.insert(u.clone()));
    urls
}

/// Advances to the next lexicographic order; false after the last one.
fn next_permutation(order: &mut [usize]) -> bool {
    let Some(i) = order.windows(2).rposition(|w| w[0] < w[1]) else {
        return false;
    };
    let Some(j) = order.iter().rposition(|&x| x > order[i]) else {
        return false;
    };
    order.swap(i, j);
    order[i + 1..].reverse();
    true
}

/// `url` and, when it differs, its other port form: an explicit port removed, or the scheme's
/// default port (443 for https, 80 for http) added, as twilio-python's validator tries both.
/// What [`Verifier::verify`] does for each candidate, with the origin's form read once.
#[cfg(test)]
fn port_variants(url: &str) -> (&str, Option<String>) {
    let other = split_origin(url).and_then(|(origin, rest)| Some(other_port(origin)? + rest));
    (url, other)
}

/// `url` cut where its authority ends: `scheme://authority` and the rest, kept as signed (RFC
/// 3986: the authority runs from `//` to the first `/`, `?` or `#`).
fn split_origin(url: &str) -> Option<(&str, &str)> {
    let start = url.find("://")? + 3;
    let end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| start + i);
    Some(url.split_at(end))
}

/// The other port form of `scheme://authority`. [`Url`] reads the authority (user info, an
/// IPv6 literal, the port); the variant is made from the text as given, since Twilio signs the
/// URL byte for byte and `Url` would normalise it (a default port disappears). An authority
/// `Url` reads differently from the text (an empty port, `h:`) gets no variant.
fn other_port(origin: &str) -> Option<String> {
    let parsed = Url::parse(origin).ok()?;
    let default = match parsed.scheme() {
        "https" => 443,
        "http" => 80,
        _ => return None,
    };
    let host = parsed.host_str()?;
    let (scheme, authority) = origin.split_once("://")?;
    let user = match (parsed.username(), parsed.password()) {
        ("", None) => String::new(),
        (name, None) => format!("{name}@"),
        (name, Some(password)) => format!("{name}:{password}@"),
    };
    let port = parsed.port().unwrap_or(default);
    if authority.eq_ignore_ascii_case(&format!("{user}{host}")) {
        Some(format!("{scheme}://{authority}:{default}"))
    } else if authority.eq_ignore_ascii_case(&format!("{user}{host}:{port}")) {
        let bare = &authority[..authority.len() - format!(":{port}").len()];
        Some(format!("{scheme}://{bare}"))
    } else {
        None
    }
}

/// Which configured auth token (or shared key) produced a valid signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSlot {
    Primary,
    Previous,
}

/// How a valid request was signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// No settings header: HMAC-SHA1 with an auth token.
    AuthToken(TokenSlot),
    /// The settings header's algorithm with a shared key.
    SharedKey {
        slot: TokenSlot,
        algorithm: Algorithm,
    },
}

impl Scheme {
    /// For the log line: `auth_token`, `shared_key:HMAC_SHA256`, ...
    pub fn label(self) -> String {
        match self {
            Self::AuthToken(_) => "auth_token".into(),
            Self::SharedKey { algorithm, .. } => format!("shared_key:{}", algorithm.name()),
        }
    }
}

/// The outcome of checking one request's signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Valid {
        url: String,
        token: TokenSlot,
    },
    /// No signature header, or an empty one.
    Missing,
    /// Nothing matched; `tried` lists every URL tried (never a token), for the log line.
    Mismatch {
        tried: Vec<String>,
    },
    /// The settings header asks for a scheme this deployment cannot check: refused, and no
    /// other scheme is tried.
    Refused(SettingsError),
}

/// Checks signatures against the current auth token and, during rotation, the previous one;
/// and, when the request says so, against the shared keys (current and previous).
#[derive(Debug, Clone)]
pub struct Verifier {
    primary: Secret,
    previous: Option<Secret>,
    shared: Option<SharedKey>,
    previous_shared: Option<SharedKey>,
}

impl Verifier {
    pub fn new(primary: Secret, previous: Option<Secret>) -> Self {
        Self {
            primary,
            previous,
            shared: None,
            previous_shared: None,
        }
    }

    /// The Webhooks configuration's shared keys, current and previous.
    pub fn with_shared_keys(
        mut self,
        current: Option<SharedKey>,
        previous: Option<SharedKey>,
    ) -> Self {
        // A previous key alone is still a key: keep the order current → previous.
        self.shared = current;
        self.previous_shared = previous;
        self
    }

    /// Checks one request: with `settings` (the [`SETTINGS_HEADER`] value) the shared-key
    /// scheme it names, else the auth-token scheme. `Ok`: the URL the signature matched and
    /// the scheme; `Err`: why not (never `Verdict::Valid`).
    pub fn verify_request(
        &self,
        signature: Option<&str>,
        settings: Option<&str>,
        urls: &[String],
        params: &FormParams,
    ) -> Result<(String, Scheme), Verdict> {
        let (verdict, algorithm) = match settings {
            None => (self.verify(signature, urls, params), None),
            Some(header) => {
                let settings = parse_settings(header).map_err(Verdict::Refused)?;
                let keys = self
                    .shared_keys_for(&settings.key)
                    .map_err(Verdict::Refused)?;
                let verdict = self.check(signature, urls, params, settings.algorithm, &keys);
                (verdict, Some(settings.algorithm))
            }
        };
        match (verdict, algorithm) {
            (Verdict::Valid { url, token }, None) => Ok((url, Scheme::AuthToken(token))),
            (Verdict::Valid { url, token }, Some(algorithm)) => Ok((
                url,
                Scheme::SharedKey {
                    slot: token,
                    algorithm,
                },
            )),
            (other, _) => Err(other),
        }
    }

    /// The shared keys that may have signed for a header's `key=`: those whose id it names,
    /// or every key without an id; all of them when the header names none.
    fn shared_keys_for(&self, named: &str) -> Result<Vec<(TokenSlot, &Secret)>, SettingsError> {
        let configured: Vec<(TokenSlot, &SharedKey)> = [
            (TokenSlot::Primary, self.shared.as_ref()),
            (TokenSlot::Previous, self.previous_shared.as_ref()),
        ]
        .into_iter()
        .filter_map(|(slot, key)| Some((slot, key?)))
        .collect();
        if configured.is_empty() {
            return Err(SettingsError::NoSharedKey);
        }
        let keys: Vec<(TokenSlot, &Secret)> = configured
            .iter()
            .filter(|(_, key)| named.is_empty() || key.id.as_deref().is_none_or(|id| id == named))
            .map(|(slot, key)| (*slot, &key.secret))
            .collect();
        if keys.is_empty() {
            return Err(SettingsError::UnknownKey {
                shown: shown(named),
            });
        }
        Ok(keys)
    }

    /// Tries each URL in `urls` and its other port form, with the primary token then the
    /// previous one (HMAC-SHA1). The comparison is constant-time over the decoded signature
    /// bytes.
    pub fn verify(&self, signature: Option<&str>, urls: &[String], params: &FormParams) -> Verdict {
        let tokens: Vec<(TokenSlot, &Secret)> =
            std::iter::once((TokenSlot::Primary, &self.primary))
                .chain(self.previous.iter().map(|t| (TokenSlot::Previous, t)))
                .collect();
        self.check(signature, urls, params, Algorithm::HmacSha1, &tokens)
    }

    fn check(
        &self,
        signature: Option<&str>,
        urls: &[String],
        params: &FormParams,
        algorithm: Algorithm,
        keys: &[(TokenSlot, &Secret)],
    ) -> Verdict {
        let Some(signature) = signature.map(str::trim).filter(|s| !s.is_empty()) else {
            return Verdict::Missing;
        };
        let mut tried: Vec<String> = Vec::with_capacity(urls.len() * 2);
        // The candidates differ in their query only: the origin's other port form is read once.
        let mut origins: Vec<(&str, Option<String>)> = Vec::with_capacity(1);
        for url in urls {
            let other = split_origin(url).and_then(|(origin, rest)| {
                let known = origins.iter().find(|(seen, _)| *seen == origin);
                let other = match known {
                    Some((_, other)) => other.clone(),
                    None => {
                        let other = other_port(origin);
                        origins.push((origin, other.clone()));
                        other
                    }
                };
                Some(other? + rest)
            });
            for candidate in std::iter::once(url.as_str()).chain(other.as_deref()) {
                if !tried.iter().any(|t| t == candidate) {
                    tried.push(candidate.to_owned());
                }
            }
        }
        // A header that is not canonical base64 of the algorithm's tag length cannot match.
        let expected = match STANDARD.decode(signature) {
            Ok(bytes) if bytes.len() == algorithm.tag_len() => bytes,
            _ => return Verdict::Mismatch { tried },
        };
        let params = param_string(params);
        for &(slot, token) in keys {
            let key = Keyed::new(algorithm, token.expose());
            for url in &tried {
                let mut mac = key.start();
                mac.update(url.as_bytes());
                mac.update(&params);
                if mac.matches(&expected) {
                    return Verdict::Valid {
                        url: url.clone(),
                        token: slot,
                    };
                }
            }
        }
        Verdict::Mismatch { tried }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const TOKEN: &str = "12345";
    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";

    fn params(list: &[(&str, &str)]) -> FormParams {
        FormParams::from_pairs(
            list.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    /// The common parameter set of Twilio's library tests.
    fn p() -> FormParams {
        params(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ])
    }

    fn verifier(token: &str) -> Verifier {
        Verifier::new(Secret::new(token), None)
    }

    fn check(token: &str, sig: &str, url: &str, params: &FormParams) -> Verdict {
        verifier(token).verify(Some(sig), &[url.to_string()], params)
    }

    fn valid(url: &str) -> Verdict {
        Verdict::Valid {
            url: url.into(),
            token: TokenSlot::Primary,
        }
    }

    #[test]
    fn vector_1_plain() {
        assert_eq!(sign(TOKEN, URL, &p()), "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
        assert_eq!(
            check(TOKEN, "RSOYDt4T1cUTdK1PDd93/VVr8B8=", URL, &p()),
            valid(URL)
        );
    }

    #[test]
    fn vector_2_signed_with_443_request_without_port() {
        let with_port = "https://mycompany.com:443/myapp.php?foo=1&bar=2";
        assert_eq!(sign(TOKEN, with_port, &p()), "kvajT1Ptam85bY51eRf/AJRuM3w=");
        assert_eq!(
            check(TOKEN, "kvajT1Ptam85bY51eRf/AJRuM3w=", URL, &p()),
            valid(with_port)
        );
    }

    #[test]
    fn vector_3_request_with_other_port_signed_without() {
        let request = "https://mycompany.com:1234/myapp.php?foo=1&bar=2";
        assert_eq!(
            check(TOKEN, "RSOYDt4T1cUTdK1PDd93/VVr8B8=", request, &p()),
            valid(URL)
        );
    }

    #[test]
    fn vector_4_http_with_other_port_as_given() {
        let url = "http://mycompany.com:1234/myapp.php?foo=1&bar=2";
        assert_eq!(sign(TOKEN, url, &p()), "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=");
        assert_eq!(
            check(TOKEN, "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=", url, &p()),
            valid(url)
        );
    }

    #[test]
    fn vector_5_and_6_http_default_port() {
        let with_port = "http://mycompany.com:80/myapp.php?foo=1&bar=2";
        let without = "http://mycompany.com/myapp.php?foo=1&bar=2";
        assert_eq!(sign(TOKEN, with_port, &p()), "0ZXoZLH/DfblKGATFgpif+LLRf4=");
        assert_eq!(sign(TOKEN, without, &p()), "OyGYPqTF6ztdbRNCvuQO/oPvqQ4=");
        assert_eq!(
            check(TOKEN, "0ZXoZLH/DfblKGATFgpif+LLRf4=", without, &p()),
            valid(with_port)
        );
        assert_eq!(
            check(TOKEN, "OyGYPqTF6ztdbRNCvuQO/oPvqQ4=", with_port, &p()),
            valid(without)
        );
    }

    #[test]
    fn vectors_7_to_9_credentials_hashed_as_given() {
        let user_pass = "https://user:pass@mycompany.com/myapp.php?foo=1&bar=2";
        let user = "https://user@mycompany.com/myapp.php?foo=1&bar=2";
        let user_pass_443 = "https://user:pass@mycompany.com:443/myapp.php?foo=1&bar=2";
        assert_eq!(sign(TOKEN, user_pass, &p()), "CukzLTc1tT5dXEDIHm/tKBanW10=");
        assert_eq!(sign(TOKEN, user, &p()), "2YRLlVAflCqxaNicjMpJcSTgzSs=");
        assert_eq!(
            sign(TOKEN, user_pass_443, &p()),
            "ZQFR1PTIZXF2MXB8ZnKCvnnA+rI="
        );
        assert_eq!(
            check(TOKEN, "CukzLTc1tT5dXEDIHm/tKBanW10=", user_pass, &p()),
            valid(user_pass)
        );
        assert_eq!(
            check(TOKEN, "2YRLlVAflCqxaNicjMpJcSTgzSs=", user, &p()),
            valid(user)
        );
        assert_eq!(
            check(TOKEN, "ZQFR1PTIZXF2MXB8ZnKCvnnA+rI=", user_pass, &p()),
            valid(user_pass_443)
        );
    }

    #[test]
    fn vector_10_url_bytes_as_received() {
        let raw = "https://mycompany.com/myapp.php?foo=1&bar=2&Body=It's+amazing";
        let escaped = "https://mycompany.com/myapp.php?foo=1&bar=2&Body=It%27s+amazing";
        assert_eq!(sign(TOKEN, raw, &p()), "dsq4Ehbj6cs+KdTkpF5sSSplOWw=");
        assert_eq!(sign(TOKEN, escaped, &p()), "TfZzewPq8wqrGlMfyAud8+/IvJ0=");
        assert_eq!(
            check(TOKEN, "dsq4Ehbj6cs+KdTkpF5sSSplOWw=", raw, &p()),
            valid(raw)
        );
        assert!(matches!(
            check(TOKEN, "dsq4Ehbj6cs+KdTkpF5sSSplOWw=", escaped, &p()),
            Verdict::Mismatch { .. }
        ));
    }

    #[test]
    fn vector_11_repeated_key_any_order() {
        for order in [
            ["+1325xxxxxxx", "+1415xxxxxxx"],
            ["+1415xxxxxxx", "+1325xxxxxxx"],
        ] {
            let ps = params(&[
                ("MessagingBinding.Address", order[0]),
                ("MessagingBinding.Address", order[1]),
            ]);
            assert_eq!(sign(TOKEN, URL, &ps), "83O6e2vORAoJHUNzJjDWN1jz+BA=");
            assert_eq!(
                check(TOKEN, "83O6e2vORAoJHUNzJjDWN1jz+BA=", URL, &ps),
                valid(URL)
            );
        }
    }

    #[test]
    fn vector_12_repeated_values_sorted() {
        let ps = params(&[
            ("Sid", "CA123"),
            ("SidAccount", "AC123"),
            ("Digits", "5678"),
            ("Digits", "1234"),
        ]);
        assert_eq!(
            param_string(&ps),
            b"Digits1234Digits5678SidCA123SidAccountAC123"
        );
        assert_eq!(sign(TOKEN, URL, &ps), "IK+Dwps556ElfBT0I3Rgjkr1wJU=");
        assert_eq!(
            check(TOKEN, "IK+Dwps556ElfBT0I3Rgjkr1wJU=", URL, &ps),
            valid(URL)
        );
    }

    #[test]
    fn vector_12b_repeated_values_not_deduplicated() {
        let ps = params(&[
            ("Sid", "CA123"),
            ("SidAccount", "AC123"),
            ("Digits", "5678"),
            ("Digits", "1234"),
            ("Digits", "1234"),
        ]);
        assert_eq!(sign(TOKEN, URL, &ps), "tM//N+MVWOh7+ol2z8YCNxSY0Eg=");
        assert_eq!(
            check(TOKEN, "tM//N+MVWOh7+ol2z8YCNxSY0Eg=", URL, &ps),
            valid(URL)
        );
        // twilio-node's deduplicated form is not what Twilio's python library accepts either.
        assert!(matches!(
            check(TOKEN, "IK+Dwps556ElfBT0I3Rgjkr1wJU=", URL, &ps),
            Verdict::Mismatch { .. }
        ));
    }

    // Vectors 13-15 sign JSON bodies via `bodySHA256`; Conversations webhooks are form bodies.

    #[test]
    fn vector_16_docs_example() {
        let ps = params(&[
            ("Digits", "1234"),
            ("To", "+18005551212"),
            ("From", "+14158675310"),
            ("Caller", "+14158675310"),
            ("CallSid", "CA1234567890ABCDE"),
        ]);
        let url = "https://example.com/myapp.php?foo=1&bar=2";
        assert_eq!(sign("12345", url, &ps), "L/OH5YylLD5NRKLltdqwSvS0BnU=");
    }

    #[test]
    fn vector_17_sorted_by_name_not_by_concatenation() {
        let ps = params(&[("SidAccount", "AC123"), ("Sid", "CA123")]);
        assert_eq!(sign(TOKEN, URL, &ps), "KbzCusS/GpHkn5AoozYUlIMTvvw=");
        assert!(matches!(
            check(TOKEN, "XCsNlJ3kmmT1stDFj3VzapP2c4Q=", URL, &ps),
            Verdict::Mismatch { .. }
        ));
    }

    #[test]
    fn negatives() {
        for bad in [
            "WRONG_SIGNATURE",
            "NOTRSOYDt4T1cUTdK1PDd93/VVr8B8=",
            "RSOYDt4T1cUTdK1PDd93/VVr8B8",
            "KbzCusS/GpHkn5AoozYUlIMTvvw=",
        ] {
            let verdict = check(TOKEN, bad, URL, &p());
            let Verdict::Mismatch { tried } = verdict else {
                panic!("{bad}: {verdict:?}")
            };
            assert_eq!(
                tried,
                [URL, "https://mycompany.com:443/myapp.php?foo=1&bar=2"]
            );
        }
        assert_eq!(
            check("54321", "RSOYDt4T1cUTdK1PDd93/VVr8B8=", URL, &p()).clone(),
            Verdict::Mismatch {
                tried: vec![
                    URL.into(),
                    "https://mycompany.com:443/myapp.php?foo=1&bar=2".into()
                ]
            }
        );
        let v = verifier(TOKEN);
        assert_eq!(v.verify(None, &[URL.into()], &p()), Verdict::Missing);
        assert_eq!(v.verify(Some(""), &[URL.into()], &p()), Verdict::Missing);
        assert_eq!(v.verify(Some("  "), &[URL.into()], &p()), Verdict::Missing);
    }

    #[test]
    fn s3cr3t_port_cross_validation() {
        let empty = FormParams::default();
        let plain = "https://example.com/path?test=param";
        let port = "https://example.com:443/path?test=param";
        assert_eq!(
            sign("s3cr3t", plain, &empty),
            "loLgTitFAoWx57yy5oEU4Hlddzw="
        );
        assert_eq!(sign("s3cr3t", port, &empty), "IdwMFypqvNxti3YgvWWmfcNL26M=");
        assert_eq!(
            check("s3cr3t", "loLgTitFAoWx57yy5oEU4Hlddzw=", port, &empty),
            valid(plain)
        );
        assert_eq!(
            check("s3cr3t", "IdwMFypqvNxti3YgvWWmfcNL26M=", plain, &empty),
            valid(port)
        );
        let other = "https://example.com/path?test=param2";
        assert!(matches!(
            check("s3cr3t", "loLgTitFAoWx57yy5oEU4Hlddzw=", other, &empty),
            Verdict::Mismatch { .. }
        ));
    }

    #[test]
    fn previous_token_accepted_and_reported() {
        let sig = sign("old-token", URL, &p());
        let v = Verifier::new(Secret::new("new-token"), Some(Secret::new("old-token")));
        assert_eq!(
            v.verify(Some(&sig), &[URL.into()], &p()),
            Verdict::Valid {
                url: URL.into(),
                token: TokenSlot::Previous
            }
        );
        let v = Verifier::new(Secret::new("new-token"), None);
        assert!(matches!(
            v.verify(Some(&sig), &[URL.into()], &p()),
            Verdict::Mismatch { .. }
        ));
    }

    #[test]
    fn mismatch_never_mentions_a_token() {
        let v = Verifier::new(
            Secret::new("tok-primary-xyz"),
            Some(Secret::new("tok-previous-xyz")),
        );
        let verdict = v.verify(Some("RSOYDt4T1cUTdK1PDd93/VVr8B8="), &[URL.into()], &p());
        let text = format!("{verdict:?} {v:?}");
        assert!(!text.contains("tok-"), "{text}");
    }

    #[test]
    fn port_forms() {
        assert_eq!(
            port_variants("https://h/p?q=1").1.as_deref(),
            Some("https://h:443/p?q=1")
        );
        assert_eq!(
            port_variants("https://h:443/p").1.as_deref(),
            Some("https://h/p")
        );
        assert_eq!(
            port_variants("http://h?x=1").1.as_deref(),
            Some("http://h:80?x=1")
        );
        assert_eq!(
            port_variants("https://h").1.as_deref(),
            Some("https://h:443")
        );
        assert_eq!(
            port_variants("https://u:p@h/x").1.as_deref(),
            Some("https://u:p@h:443/x")
        );
        assert_eq!(
            port_variants("https://[::1]/x").1.as_deref(),
            Some("https://[::1]:443/x")
        );
        assert_eq!(
            port_variants("https://[::1]:8443/x").1.as_deref(),
            Some("https://[::1]/x")
        );
        assert_eq!(
            port_variants("https://h/p?u=a:b").1.as_deref(),
            Some("https://h:443/p?u=a:b")
        );
        assert_eq!(port_variants("ftp://h/x").1, None);
        assert_eq!(port_variants("not a url").1, None);
        assert_eq!(port_variants("https://h:/x").1, None);
    }

    fn query(list: &[(&str, &str)]) -> BTreeMap<String, String> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const DOMAIN: &str = "abc.execute-api.us-east-1.amazonaws.com";

    #[test]
    fn candidates_without_query() {
        assert_eq!(
            candidate_urls(None, DOMAIN, "/prod/webhook", &BTreeMap::new()),
            ["https://abc.execute-api.us-east-1.amazonaws.com/prod/webhook"]
        );
    }

    #[test]
    fn candidates_every_order_sorted_first() {
        let q = query(&[
            ("BotId", "ABCDEFGHIJ"),
            ("BotAliasId", "TSTALIASID"),
            ("LocaleId", "en_US"),
        ]);
        let urls = candidate_urls(None, DOMAIN, "/prod/webhook", &q);
        let base = "https://abc.execute-api.us-east-1.amazonaws.com/prod/webhook";
        assert_eq!(urls.len(), 6);
        assert_eq!(
            urls[0],
            format!("{base}?BotAliasId=TSTALIASID&BotId=ABCDEFGHIJ&LocaleId=en_US")
        );
        assert!(urls.contains(&format!(
            "{base}?BotId=ABCDEFGHIJ&BotAliasId=TSTALIASID&LocaleId=en_US"
        )));
        assert_eq!(
            urls[5],
            format!("{base}?LocaleId=en_US&BotId=ABCDEFGHIJ&BotAliasId=TSTALIASID")
        );
        assert_eq!(urls.iter().collect::<HashSet<_>>().len(), 6);
        assert_eq!(
            urls,
            candidate_urls(None, DOMAIN, "/prod/webhook", &q),
            "deterministic"
        );
    }

    #[test]
    fn candidates_cap_permutations() {
        let five: BTreeMap<String, String> =
            (0..5).map(|i| (format!("k{i}"), "v".to_string())).collect();
        assert_eq!(candidate_urls(None, "h", "/p", &five).len(), 120);
        let six: BTreeMap<String, String> =
            (0..6).map(|i| (format!("k{i}"), "v".to_string())).collect();
        assert_eq!(
            candidate_urls(None, "h", "/p", &six),
            [
                "https://h/p?k0=v&k1=v&k2=v&k3=v&k4=v&k5=v",
                "https://h/p?k5=v&k4=v&k3=v&k2=v&k1=v&k0=v"
            ]
        );
    }

    #[test]
    fn candidates_encode_like_a_person_writes() {
        let q = query(&[("Note", "a b/c~é&=+")]);
        assert_eq!(
            candidate_urls(None, "h", "/p", &q),
            ["https://h/p?Note=a%20b%2Fc~%C3%A9%26%3D%2B"]
        );
    }

    #[test]
    fn candidates_from_public_url() {
        let q = query(&[("BotId", "B"), ("BotAliasId", "A")]);
        assert_eq!(
            candidate_urls(
                Some("https://bot.example.com/hook?BotId=B&BotAliasId=A#x"),
                DOMAIN,
                "/prod/w",
                &q
            ),
            ["https://bot.example.com/hook?BotId=B&BotAliasId=A"]
        );
        assert_eq!(
            candidate_urls(Some("https://bot.example.com/hook"), DOMAIN, "/prod/w", &q),
            [
                "https://bot.example.com/hook?BotAliasId=A&BotId=B",
                "https://bot.example.com/hook?BotId=B&BotAliasId=A"
            ]
        );
        assert_eq!(
            candidate_urls(Some(""), DOMAIN, "/prod/w", &BTreeMap::new()),
            [format!("https://{DOMAIN}/prod/w")]
        );
    }

    #[test]
    fn user_ordered_url_with_port_validates_end_to_end() {
        let q = query(&[("BotId", "ABCDEFGHIJ"), ("BotAliasId", "TSTALIASID")]);
        let signed =
            format!("https://{DOMAIN}:443/prod/webhook?BotId=ABCDEFGHIJ&BotAliasId=TSTALIASID");
        let body = FormParams::parse(
            b"EventType=onMessageAdded&Body=Hello+there%21&Author=%2B15551234567",
        )
        .unwrap();
        let sig = sign("tok", &signed, &body);
        let urls = candidate_urls(None, DOMAIN, "/prod/webhook", &q);
        assert_eq!(
            verifier("tok").verify(Some(&sig), &urls, &body),
            valid(&signed)
        );
        let Verdict::Mismatch { tried } = verifier("other").verify(Some(&sig), &urls, &body) else {
            panic!()
        };
        assert_eq!(tried.len(), 4);
        assert!(tried.contains(&signed));
    }

    // ---- independent reference implementation for generated cases ----

    mod reference {
        use std::collections::BTreeMap;

        use base64::Engine as _;
        use hmac::{Hmac, Mac};
        use sha1::Sha1;

        /// Groups values by name, sorts names and each name's values, then HMACs the string.
        pub fn sign(token: &str, url: &str, pairs: &[(String, String)]) -> String {
            let mut grouped: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
            for (k, v) in pairs {
                grouped.entry(k).or_default().push(v);
            }
            let mut data = String::from(url);
            for (name, mut values) in grouped {
                values.sort();
                for value in values {
                    data += name;
                    data += value;
                }
            }
            let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(token.as_bytes()).unwrap();
            mac.update(data.as_bytes());
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
        }

        pub fn escape(s: &str) -> String {
            s.bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect()
        }
    }

    #[derive(Debug, Clone)]
    struct Case {
        pairs: Vec<(String, String)>,
        ordered_query: Vec<(String, String)>,
        token: String,
        other_token: String,
        host: String,
        path: String,
        explicit_port: bool,
        rotated: bool,
    }

    impl Case {
        fn query(&self) -> BTreeMap<String, String> {
            self.ordered_query.iter().cloned().collect()
        }

        fn signed_url(&self) -> String {
            let port = if self.explicit_port { ":443" } else { "" };
            let mut url = format!("https://{}{port}{}", self.host, self.path);
            for (i, (k, v)) in self.ordered_query.iter().enumerate() {
                url += if i == 0 { "?" } else { "&" };
                url += &format!("{}={}", reference::escape(k), reference::escape(v));
            }
            url
        }

        fn verifier(&self) -> Verifier {
            if self.rotated {
                Verifier::new(
                    Secret::new(self.other_token.clone()),
                    Some(Secret::new(self.token.clone())),
                )
            } else {
                Verifier::new(Secret::new(self.token.clone()), None)
            }
        }

        fn verify(&self, sig: &str, pairs: &[(String, String)]) -> Verdict {
            let urls = candidate_urls(None, &self.host, &self.path, &self.query());
            let params =
                FormParams::parse(FormParams::from_pairs(pairs.to_vec()).encode().as_bytes())
                    .unwrap();
            self.verifier().verify(Some(sig), &urls, &params)
        }
    }

    fn name() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("Body".to_string()),
            Just("Author".to_string()),
            Just("MessagingBinding.Address".to_string()),
            Just("Sid".to_string()),
            Just("SidAccount".to_string()),
            "[A-Za-z+%=& ]{0,6}",
            any::<String>(),
        ]
    }

    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(String::new()),
            "[a-z+%=& é😀.*~-]{0,10}",
            any::<String>()
        ]
    }

    fn case() -> impl Strategy<Value = Case> {
        let query_text = "[A-Za-z0-9 _.~%+&=é/-]{0,8}";
        (
            proptest::collection::vec((name(), value()), 0..10),
            proptest::collection::btree_map("[A-Za-z0-9é ]{1,8}", query_text, 0..=4),
            "[a-f0-9]{32}",
            "[a-f0-9]{32}",
            "[a-z]{1,10}\\.example\\.com",
            "(/[a-z0-9]{1,6}){1,3}",
            any::<bool>(),
            any::<bool>(),
        )
            .prop_flat_map(
                |(pairs, query, token, other_token, host, path, explicit_port, rotated)| {
                    let entries: Vec<(String, String)> = query.into_iter().collect();
                    (
                        Just(entries).prop_shuffle(),
                        Just((
                            pairs,
                            token,
                            other_token,
                            host,
                            path,
                            explicit_port,
                            rotated,
                        )),
                    )
                },
            )
            .prop_map(
                |(
                    ordered_query,
                    (pairs, token, other_token, host, path, explicit_port, rotated),
                )| Case {
                    pairs,
                    ordered_query,
                    token,
                    other_token,
                    host,
                    path,
                    explicit_port,
                    rotated,
                },
            )
    }

    fn mismatch(verdict: &Verdict) -> bool {
        matches!(verdict, Verdict::Mismatch { .. })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        #[test]
        fn generated_signatures_verify(c in case(), pick in any::<prop::sample::Index>()) {
            let url = c.signed_url();
            let sig = reference::sign(&c.token, &url, &c.pairs);
            prop_assert_eq!(&sign(&c.token, &url, &FormParams::from_pairs(c.pairs.clone())), &sig);
            let slot = if c.rotated { TokenSlot::Previous } else { TokenSlot::Primary };
            prop_assert_eq!(c.verify(&sig, &c.pairs), Verdict::Valid { url: url.clone(), token: slot });

            // One byte of the signature changed.
            let mut flipped = sig.clone().into_bytes();
            let i = pick.index(flipped.len());
            flipped[i] = if flipped[i] == b'A' { b'B' } else { b'A' };
            let flipped = String::from_utf8(flipped).unwrap();
            prop_assert!(mismatch(&c.verify(&flipped, &c.pairs)));

            // One value changed.
            if !c.pairs.is_empty() {
                let mut changed = c.pairs.clone();
                let at = pick.index(changed.len());
                changed[at].1.push('x');
                prop_assert!(mismatch(&c.verify(&sig, &changed)));
            }

            // A parameter added.
            let mut added = c.pairs.clone();
            added.push(("RetryCount".into(), String::new()));
            prop_assert!(mismatch(&c.verify(&sig, &added)));

            // Signed with a token the verifier does not hold.
            prop_assume!(c.token != c.other_token);
            let foreign = reference::sign(&c.other_token, &url, &c.pairs);
            let v = Verifier::new(Secret::new(c.token.clone()), None);
            let urls = candidate_urls(None, &c.host, &c.path, &c.query());
            prop_assert!(mismatch(&v.verify(Some(&foreign), &urls, &FormParams::from_pairs(c.pairs.clone()))));
        }
    }
}

/// The shared-key scheme. Expected signatures were computed at authoring time with Python's
/// `hmac`/`hashlib` (another implementation than this module's aws-lc-rs), e.g.
/// `base64.b64encode(hmac.new(b"12345", (url + "".join(k + v for k, v in sorted(params))).encode(), hashlib.sha256).digest())`.
#[cfg(test)]
mod shared_key_tests {
    use super::*;

    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
    /// Python: HMAC-SHA256, key `12345`, Twilio's common URL and parameters.
    const SHA256_VECTOR: &str = "033hgUJA9M/hXIZsYjwkerEP/DBm35nEri5FhCYjA5s=";
    /// Python: the same over `https://mycompany.com:443/myapp.php?foo=1&bar=2`.
    const SHA256_VECTOR_443: &str = "grxRoa/VNtXxd524NGLxIdev83nh23xhrRUVm50Umq4=";
    const HOOK: &str = "https://abc123.execute-api.us-east-1.amazonaws.com/prod/webhook?BotId=ABCDEFGHIJ&BotAliasId=TSTALIASID";
    /// Python: HMAC-SHA256 over HOOK and the three form parameters below, keyed with
    /// `shared-key-secret-current` and `shared-key-secret-previous`.
    const HOOK_CURRENT: &str = "0ZbFp+41lgl4qYCCglP8NKPl2uDfFLtxJckF4JUfUe4=";
    const HOOK_PREVIOUS: &str = "dfd5NM3QPnJ68gsalgR3F/cw2bpFnlR6BHm8Lm68T4w=";

    fn p() -> FormParams {
        FormParams::from_pairs(
            [
                ("CallSid", "CA1234567890ABCDE"),
                ("Caller", "+14158675309"),
                ("Digits", "1234"),
                ("From", "+14158675309"),
                ("To", "+18005551212"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        )
    }

    fn hook_params() -> FormParams {
        FormParams::from_pairs(
            [
                ("EventType", "onMessageAdded"),
                ("Body", "Hello there!"),
                ("Author", "+15551234567"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        )
    }

    fn key(id: Option<&str>, secret: &str) -> SharedKey {
        SharedKey {
            id: id.map(str::to_owned),
            secret: Secret::new(secret),
        }
    }

    fn verifier(current: Option<SharedKey>, previous: Option<SharedKey>) -> Verifier {
        Verifier::new(Secret::new("auth-token"), Some(Secret::new("old-token")))
            .with_shared_keys(current, previous)
    }

    const SHA256: Option<&str> = Some("key=KS0001,algorithm=HMAC_SHA256");

    fn shared(slot: TokenSlot) -> Scheme {
        Scheme::SharedKey {
            slot,
            algorithm: Algorithm::HmacSha256,
        }
    }

    #[test]
    fn sha256_vectors_from_python() {
        assert_eq!(
            sign_with(Algorithm::HmacSha256, "12345", URL, &p()),
            SHA256_VECTOR
        );
        let with_port = "https://mycompany.com:443/myapp.php?foo=1&bar=2";
        assert_eq!(
            sign_with(Algorithm::HmacSha256, "12345", with_port, &p()),
            SHA256_VECTOR_443
        );
        // The SHA-1 form of the same inputs is still Twilio's published vector.
        assert_eq!(
            sign_with(Algorithm::HmacSha1, "12345", URL, &p()),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        );
        let v = verifier(Some(key(None, "12345")), None);
        assert_eq!(
            v.verify_request(Some(SHA256_VECTOR), SHA256, &[URL.into()], &p()),
            Ok((URL.to_owned(), shared(TokenSlot::Primary)))
        );
        // Signed with the default port, received without it.
        assert_eq!(
            v.verify_request(Some(SHA256_VECTOR_443), SHA256, &[URL.into()], &p()),
            Ok((with_port.to_owned(), shared(TokenSlot::Primary)))
        );
    }

    #[test]
    fn rotation_accepts_current_and_previous_and_says_which() {
        let v = verifier(
            Some(key(Some("KScurrent"), "shared-key-secret-current")),
            Some(key(Some("KSprevious"), "shared-key-secret-previous")),
        );
        let urls = [HOOK.to_owned()];
        for (sig, header, slot) in [
            (
                HOOK_CURRENT,
                "key=KScurrent,algorithm=HMAC_SHA256",
                TokenSlot::Primary,
            ),
            (
                HOOK_PREVIOUS,
                "key=KSprevious,algorithm=HMAC_SHA256",
                TokenSlot::Previous,
            ),
            // A blank key= (as Twilio's own example shows it): every key is tried.
            (
                HOOK_PREVIOUS,
                "key=,algorithm=HMAC_SHA256",
                TokenSlot::Previous,
            ),
            (
                HOOK_CURRENT,
                " algorithm=HMAC_SHA256 , key=KScurrent ",
                TokenSlot::Primary,
            ),
        ] {
            assert_eq!(
                v.verify_request(Some(sig), Some(header), &urls, &hook_params()),
                Ok((HOOK.to_owned(), shared(slot))),
                "{header}"
            );
        }
        // The header names the current key, the previous key signed: no match.
        assert!(matches!(
            v.verify_request(
                Some(HOOK_PREVIOUS),
                Some("key=KScurrent,algorithm=HMAC_SHA256"),
                &urls,
                &hook_params()
            ),
            Err(Verdict::Mismatch { .. })
        ));
        // Once the previous key is dropped, its signatures stop working.
        let v = verifier(Some(key(None, "shared-key-secret-current")), None);
        assert!(matches!(
            v.verify_request(
                Some(HOOK_PREVIOUS),
                Some("key=,algorithm=HMAC_SHA256"),
                &urls,
                &hook_params()
            ),
            Err(Verdict::Mismatch { .. })
        ));
    }

    #[test]
    fn a_key_or_an_algorithm_we_do_not_hold_is_refused_never_checked_otherwise() {
        let v = verifier(
            Some(key(Some("KScurrent"), "shared-key-secret-current")),
            None,
        );
        let urls = [HOOK.to_owned()];
        // A valid auth-token SHA-1 signature does not help a request whose header asks for
        // a shared key: no fallback.
        let sha1_by_token = sign("auth-token", HOOK, &hook_params());
        for (header, code) in [
            (
                "key=KScurrent,algorithm=HMAC_SHA512",
                "unsupported_algorithm",
            ),
            (
                "key=KScurrent,algorithm=hmac_sha256",
                "unsupported_algorithm",
            ),
            ("key=KScurrent,algorithm=", "settings_no_algorithm"),
            ("key=KScurrent", "settings_no_algorithm"),
            ("key=KSother,algorithm=HMAC_SHA256", "unknown_key"),
            ("garbage", "settings_malformed"),
            (
                "algorithm=HMAC_SHA256,algorithm=HMAC_SHA1",
                "settings_malformed",
            ),
            ("", "settings_no_algorithm"),
        ] {
            for sig in [HOOK_CURRENT, sha1_by_token.as_str()] {
                match v.verify_request(Some(sig), Some(header), &urls, &hook_params()) {
                    Err(Verdict::Refused(e)) => {
                        assert_eq!(e.code(), code, "{header}");
                        assert!(e.to_string().contains(SETTINGS_HEADER), "{e}");
                        assert!(!e.to_string().contains("shared-key-secret"), "{e}");
                    }
                    other => panic!("{header}: {other:?}"),
                }
            }
        }
        // No shared key configured at all.
        let bare = Verifier::new(Secret::new("auth-token"), None);
        assert_eq!(
            bare.verify_request(Some(&sha1_by_token), SHA256, &urls, &hook_params()),
            Err(Verdict::Refused(SettingsError::NoSharedKey))
        );
        // Without the header the same request is the auth-token scheme, as before.
        assert_eq!(
            bare.verify_request(Some(&sha1_by_token), None, &urls, &hook_params()),
            Ok((HOOK.to_owned(), Scheme::AuthToken(TokenSlot::Primary)))
        );
    }

    #[test]
    fn schemes_do_not_cross() {
        let v = verifier(Some(key(None, "shared-key-secret-current")), None);
        let urls = [HOOK.to_owned()];
        // A shared-key signature without the header is checked with the auth tokens: no.
        assert!(matches!(
            v.verify_request(Some(HOOK_CURRENT), None, &urls, &hook_params()),
            Err(Verdict::Mismatch { .. })
        ));
        // SHA-256 with the auth token under the header: no.
        let by_token = sign_with(Algorithm::HmacSha256, "auth-token", HOOK, &hook_params());
        assert!(matches!(
            v.verify_request(Some(&by_token), SHA256, &urls, &hook_params()),
            Err(Verdict::Mismatch { .. })
        ));
        // A changed parameter breaks a shared-key signature too.
        let mut changed = hook_params().pairs().to_vec();
        changed[1].1.push('!');
        assert!(matches!(
            v.verify_request(
                Some(HOOK_CURRENT),
                SHA256,
                &urls,
                &FormParams::from_pairs(changed)
            ),
            Err(Verdict::Mismatch { .. })
        ));
        // HMAC_SHA1 named in the header uses the shared key with SHA-1.
        let sha1_shared = sign("shared-key-secret-current", HOOK, &hook_params());
        assert_eq!(
            v.verify_request(
                Some(&sha1_shared),
                Some("key=,algorithm=HMAC_SHA1"),
                &urls,
                &hook_params()
            ),
            Ok((
                HOOK.to_owned(),
                Scheme::SharedKey {
                    slot: TokenSlot::Primary,
                    algorithm: Algorithm::HmacSha1
                }
            ))
        );
        assert_eq!(
            v.verify_request(None, SHA256, &urls, &hook_params()),
            Err(Verdict::Missing)
        );
    }
}
