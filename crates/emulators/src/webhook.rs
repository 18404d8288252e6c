//! What Twilio and API Gateway deliver for a customer's message: the `onMessageAdded` form
//! parameters, the `X-Twilio-Signature` over them, and the JSON envelope the stack's request
//! template produces. Written from Twilio's documented algorithm and the VTL contract, not from
//! the product's code, so a request built here tests the product rather than agreeing with it.

use std::collections::BTreeMap;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha1::Sha1;

use crate::sid::{Sid, random_hex};

/// Form parameters in the order they are sent.
pub type Params = Vec<(String, String)>;

/// A customer's message as the Flex Conversations address webhook describes it.
#[derive(Debug, Clone)]
pub struct CustomerMessage<'a> {
    pub account: &'a str,
    pub conversation: &'a str,
    pub webhook: &'a str,
    pub participant: &'a str,
    pub author: &'a str,
    pub body: &'a str,
    pub index: u64,
    /// `SDK` for webchat, `SMS`/`WHATSAPP` for carrier messages.
    pub source: &'a str,
}

impl CustomerMessage<'_> {
    /// The `onMessageAdded` parameters, in the order Twilio lists them, with a fresh MessageSid.
    pub fn params(&self) -> Params {
        self.params_for(&Sid::random("IM"))
    }

    /// As [`CustomerMessage::params`], for a given MessageSid (a redelivery of one message).
    pub fn params_for(&self, message: &Sid) -> Params {
        [
            ("AccountSid", self.account.to_owned()),
            ("EventType", "onMessageAdded".to_owned()),
            ("Source", self.source.to_owned()),
            ("ConversationSid", self.conversation.to_owned()),
            ("MessageSid", message.to_string()),
            ("Index", self.index.to_string()),
            ("DateCreated", "2026-11-24T10:00:00.000Z".to_owned()),
            ("Body", self.body.to_owned()),
            ("Author", self.author.to_owned()),
            ("ParticipantSid", self.participant.to_owned()),
            ("Attributes", "{}".to_owned()),
            ("WebhookSid", self.webhook.to_owned()),
            ("RetryCount", "0".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }
}

/// What a Studio flow's Make HTTP Request widget posts to hand a conversation to the bot, as
/// flexlex's `docs/studio.md` defines it (a contract of the stack, not a Twilio event).
/// Optional values are sent empty when absent, as an unresolved Liquid variable renders.
#[derive(Debug, Clone, Default)]
pub struct StudioHandover<'a> {
    pub account: &'a str,
    pub conversation: &'a str,
    pub message: Option<&'a str>,
    pub body: &'a str,
    pub author: &'a str,
    pub participant: Option<&'a str>,
    pub source: Option<&'a str>,
}

impl StudioHandover<'_> {
    /// The form parameters, in the order the sample flow's widget lists them.
    pub fn params(&self) -> Params {
        [
            ("EventType", "onStudioHandover"),
            ("AccountSid", self.account),
            ("ConversationSid", self.conversation),
            ("MessageSid", self.message.unwrap_or_default()),
            ("Body", self.body),
            ("Author", self.author),
            ("ParticipantSid", self.participant.unwrap_or_default()),
            ("Source", self.source.unwrap_or_default()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }
}

/// The `Source` Twilio reports for a customer author: `whatsapp:` and phone numbers are carrier
/// messages, anything else a webchat identity.
pub fn source_for(author: &str) -> &'static str {
    if author.starts_with("whatsapp:") {
        "WHATSAPP"
    } else if author.starts_with('+') {
        "SMS"
    } else {
        "SDK"
    }
}

/// `X-Twilio-Signature` as Twilio computes it: HMAC-SHA1 keyed with the auth token over the full
/// URL followed by every parameter name and value, sorted by name (values sorted within a
/// repeated name), base64-encoded.
pub fn signature(token: &str, url: &str, params: &[(String, String)]) -> String {
    let data = signed_string(url, params);
    // HMAC accepts keys of any length; the error arm cannot happen.
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(token.as_bytes()) else {
        return String::new();
    };
    mac.update(data.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The settings header Twilio adds when a Webhooks configuration signs with a shared key.
pub const SIGNATURE_SETTINGS_HEADER: &str = "X-Twilio-Webhooks-Signature-Settings";

/// Who signs a request, as Twilio would.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signer<'a> {
    /// No settings header: HMAC-SHA1 with the auth token.
    AuthToken(&'a str),
    /// A Webhooks configuration SharedKey: `algorithm` is the header's name for it
    /// (`HMAC_SHA256`, `HMAC_SHA1`, or anything else to show a refusal).
    SharedKey {
        key_id: &'a str,
        secret: &'a str,
        algorithm: &'a str,
    },
}

impl Signer<'_> {
    /// `X-Twilio-Signature` for `url` and `params`. An algorithm name this module does not know
    /// signs with HMAC-SHA256 (the request is meant to be refused for its header anyway).
    pub fn sign(&self, url: &str, params: &[(String, String)]) -> String {
        match *self {
            Self::AuthToken(token) => signature(token, url, params),
            Self::SharedKey {
                secret,
                algorithm: "HMAC_SHA1",
                ..
            } => signature(secret, url, params),
            Self::SharedKey { secret, .. } => signature_sha256(secret, url, params),
        }
    }

    /// The settings header's value, when the signer is a shared key.
    pub fn settings_header(&self) -> Option<String> {
        match *self {
            Self::AuthToken(_) => None,
            Self::SharedKey {
                key_id, algorithm, ..
            } => Some(format!("key={key_id},algorithm={algorithm}")),
        }
    }
}

/// The string Twilio signs: the URL, then every parameter name and value sorted by name
/// (values sorted within a repeated name).
fn signed_string(url: &str, params: &[(String, String)]) -> String {
    let mut grouped: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (k, v) in params {
        grouped.entry(k).or_default().push(v);
    }
    let mut data = url.to_owned();
    for (k, mut values) in grouped {
        values.sort_unstable();
        for v in values {
            data.push_str(k);
            data.push_str(v);
        }
    }
    data
}

/// The shared-key signature with HMAC-SHA256 (RustCrypto's `hmac` 0.13 and `sha2`, not the
/// product's implementation): base64 of the MAC over the same string as [`signature`].
pub fn signature_sha256(secret: &str, url: &str, params: &[(String, String)]) -> String {
    use hmac_sha2::{KeyInit, Mac as _};
    let Ok(mut mac) = hmac_sha2::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(signed_string(url, params).as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Lowercase hex SHA-256 of a body, as Twilio puts it in `bodySHA256`.
pub fn body_sha256(body: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `url` with `bodySHA256=<hash of body>` appended, as Twilio calls a URL with a JSON body.
pub fn url_with_body_hash(url: &str, body: &[u8]) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}bodySHA256={}", body_sha256(body))
}

/// The envelope for `params` POSTed as a form to `url`, signed by `signer` (with the settings
/// header when it is a shared key).
pub fn signed_envelope_by(
    url: &str,
    params: &[(String, String)],
    signer: Signer<'_>,
) -> Result<Value, UrlError> {
    let mut envelope = envelope(url, params, Some(&signer.sign(url, params)))?;
    if let Some(settings) = signer.settings_header() {
        envelope["headers"][SIGNATURE_SETTINGS_HEADER] = json!(settings);
    }
    Ok(envelope)
}

/// The envelope for a JSON `body` POSTed to `url` as Twilio sends one: `bodySHA256` appended to
/// the URL, the signature over that URL alone, `Content-Type: application/json`.
pub fn signed_json_envelope(url: &str, body: &str, signer: Signer<'_>) -> Result<Value, UrlError> {
    let hashed = url_with_body_hash(url, body.as_bytes());
    let mut envelope = json_envelope(&hashed, body, Some(&signer.sign(&hashed, &[])))?;
    if let Some(settings) = signer.settings_header() {
        envelope["headers"][SIGNATURE_SETTINGS_HEADER] = json!(settings);
    }
    Ok(envelope)
}

/// The request template's JSON for a JSON `body` POSTed to `url` (taken as is: add
/// `bodySHA256` with [`url_with_body_hash`]), with any signature header or none.
pub fn json_envelope(url: &str, body: &str, signature: Option<&str>) -> Result<Value, UrlError> {
    let mut envelope = envelope(url, &[], signature)?;
    envelope["body"] = json!(base64::engine::general_purpose::STANDARD.encode(body));
    envelope["headers"]["Content-Type"] = json!("application/json");
    Ok(envelope)
}

/// Why a webhook URL could not be turned into an envelope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("webhook URL `{url}` is not usable: {reason}")]
pub struct UrlError {
    pub url: String,
    pub reason: &'static str,
}

/// Splits `https://host/path?query` the way API Gateway reports it: host, path, query map.
pub fn split_url(url: &str) -> Result<(String, String, BTreeMap<String, String>), UrlError> {
    let err = |reason| UrlError {
        url: url.to_owned(),
        reason,
    };
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| err("must start with https:// or http://"))?;
    let (host_path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (host, path) = match host_path.find('/') {
        Some(i) => (&host_path[..i], &host_path[i..]),
        None => (host_path, "/"),
    };
    if host.is_empty() {
        return Err(err("has no host"));
    }
    let query = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    Ok((host.to_owned(), path.to_owned(), query))
}

/// The envelope API Gateway hands the Lambda for `params` POSTed to `url`, signed with `token`
/// over exactly that URL.
pub fn signed_envelope(
    url: &str,
    params: &[(String, String)],
    token: &str,
) -> Result<Value, UrlError> {
    envelope(url, params, Some(&signature(token, url, params)))
}

/// The request template's JSON (version 1) for `params` POSTed to `url`, with any signature
/// header or none, e.g. to show a forged request.
pub fn envelope(
    url: &str,
    params: &[(String, String)],
    signature: Option<&str>,
) -> Result<Value, UrlError> {
    let (host, path, query) = split_url(url)?;
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    let mut headers = json!({
        "Content-Type": "application/x-www-form-urlencoded; charset=UTF-8",
        "Host": host,
        "I-Twilio-Idempotency-Token": random_hex(),
        "User-Agent": "TwilioProxy/1.1",
        "X-Home-Region": "us1",
    });
    if let Some(signature) = signature {
        headers["X-Twilio-Signature"] = json!(signature);
    }
    let stage = path
        .trim_start_matches('/')
        .split('/')
        .next()
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    Ok(json!({
        "v": "1",
        "body": base64::engine::general_purpose::STANDARD.encode(body),
        "headers": headers,
        "query": query,
        "domainName": host,
        "path": path,
        "requestId": random_hex(),
        "stage": stage,
        "sourceIp": "127.0.0.1",
        "requestTimeEpoch": "1764000000000",
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_like_api_gateway_reports_them() {
        let (host, path, query) =
            split_url("https://abc.execute-api.us-east-1.amazonaws.com/prod/webhook?BotId=ABCDEFGHIJ&BotAliasId=TSTALIASID").unwrap();
        assert_eq!(host, "abc.execute-api.us-east-1.amazonaws.com");
        assert_eq!(path, "/prod/webhook");
        assert_eq!(query["BotId"], "ABCDEFGHIJ");
        assert_eq!(query["BotAliasId"], "TSTALIASID");
        assert!(split_url("ftp://x").is_err());
        assert!(split_url("https:///path").is_err());
    }

    /// Twilio's published example: the auth token `12345`, the URL
    /// `https://mycompany.com/myapp.php?foo=1&bar=2` and five parameters.
    #[test]
    fn twilios_published_vector_is_reproduced() {
        let params: Params = [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        assert_eq!(
            signature(
                "12345",
                "https://mycompany.com/myapp.php?foo=1&bar=2",
                &params
            ),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        );
    }
}
