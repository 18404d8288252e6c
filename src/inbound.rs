//! Builds what Twilio and API Gateway would deliver for a customer's message: the webhook's
//! form parameters, signed, wrapped in the envelope the request template produces. Used by
//! `flexlex demo`, `chat` and `serve`, which run the real handler on one machine.

use std::collections::BTreeMap;

use crate::envelope::{Envelope, Headers};
use crate::form::FormParams;
use crate::ids::{AccountSid, ConversationSid, MessageSid, ParticipantSid, WebhookSid};
use crate::signature;

pub use crate::ids::random_sid;

/// A customer's message as the Flex Conversations address webhook describes it.
#[derive(Debug, Clone)]
pub struct CustomerMessage<'a> {
    pub account: &'a AccountSid,
    pub conversation: &'a ConversationSid,
    pub webhook: &'a WebhookSid,
    pub participant: &'a ParticipantSid,
    pub author: &'a str,
    pub body: &'a str,
    pub index: u64,
    /// `SDK` for webchat, `SMS`/`WHATSAPP` for carrier messages.
    pub source: &'a str,
}

impl CustomerMessage<'_> {
    /// The `onMessageAdded` parameters, in the order Twilio lists them.
    pub fn params(&self) -> FormParams {
        let message = MessageSid::parse(&random_sid(MessageSid::PREFIX))
            .map(|m| m.to_string())
            .unwrap_or_default();
        let pairs = [
            ("AccountSid", self.account.to_string()),
            ("EventType", "onMessageAdded".to_owned()),
            ("Source", self.source.to_owned()),
            ("ConversationSid", self.conversation.to_string()),
            ("MessageSid", message),
            ("Index", self.index.to_string()),
            ("DateCreated", "2026-11-24T10:00:00.000Z".to_owned()),
            ("Body", self.body.to_owned()),
            ("Author", self.author.to_owned()),
            ("ParticipantSid", self.participant.to_string()),
            ("Attributes", "{}".to_owned()),
            ("WebhookSid", self.webhook.to_string()),
            ("RetryCount", "0".to_owned()),
        ];
        FormParams::from_pairs(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }
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

/// The envelope API Gateway would hand the Lambda for `params` POSTed to `url`, signed with
/// `token` over exactly that URL (the token never leaves this function).
pub fn signed_envelope(url: &str, params: &FormParams, token: &str) -> Result<Envelope, UrlError> {
    let signature = signature::sign(token, url, params);
    envelope_with_signature(url, params, Some(&signature))
}

/// As [`signed_envelope`], with any signature header (or none), e.g. to show a forged request.
pub fn envelope_with_signature(
    url: &str,
    params: &FormParams,
    signature: Option<&str>,
) -> Result<Envelope, UrlError> {
    let (domain_name, path, query) = split_url(url)?;
    let mut headers = vec![
        (
            "Content-Type".to_owned(),
            "application/x-www-form-urlencoded; charset=UTF-8".to_owned(),
        ),
        ("Host".to_owned(), domain_name.clone()),
        ("I-Twilio-Idempotency-Token".to_owned(), random_sid("")),
        ("User-Agent".to_owned(), "TwilioProxy/1.1".to_owned()),
        ("X-Home-Region".to_owned(), "us1".to_owned()),
    ];
    if let Some(signature) = signature {
        headers.push((signature::HEADER.to_owned(), signature.to_owned()));
    }
    Ok(Envelope {
        body: params.encode().into_bytes(),
        headers: Headers::new(headers),
        query,
        domain_name,
        stage: path
            .trim_start_matches('/')
            .split('/')
            .next()
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        path,
        request_id: random_sid(""),
        source_ip: Some("127.0.0.1".to_owned()),
    })
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

    #[test]
    fn random_sids_parse() {
        assert!(MessageSid::parse(&random_sid("IM")).is_ok());
        assert_ne!(random_sid("IM"), random_sid("IM"));
    }
}
