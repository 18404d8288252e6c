//! Which signature schemes a deployment expects, read from its Twilio secret, and the key
//! `doctor`'s probe signs with: the auth token (HMAC-SHA1, no settings header) or the shared key
//! (HMAC-SHA256 with `X-Twilio-Webhooks-Signature-Settings`, as a Webhooks configuration rule
//! signs). Values are held as [`Secret`]s and never printed.

use clap::ValueEnum;
use flexlex::domain::secret::Secret;
use flexlex_emulators::webhook::Signer;

use crate::aws_stack::SecretFacts;

/// How `doctor`'s probe is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum SignWith {
    /// The auth token and HMAC-SHA1, as Twilio signs without a Webhooks configuration.
    #[default]
    AuthToken,
    /// The shared key and HMAC-SHA256, with the settings header, as a Webhooks configuration
    /// rule signs.
    SharedKey,
}

/// One finding about the secret's signing keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    Ok(String),
    Fix(String, &'static str),
}

const FILL: &str = "fill it: aws secretsmanager put-secret-value (docs/deploy.md, step 3)";

/// What the secret says about signatures: the schemes the Lambda will accept, and what is
/// missing for them.
pub fn secret_findings(secret: &SecretFacts) -> Vec<Finding> {
    let mut out = Vec::new();
    let has = |k: &str| secret.has(k);
    for (key, id) in [
        ("TWILIO_SHARED_KEY_SECRET", "TWILIO_SHARED_KEY_ID"),
        (
            "TWILIO_PREVIOUS_SHARED_KEY_SECRET",
            "TWILIO_PREVIOUS_SHARED_KEY_ID",
        ),
    ] {
        if has(id) && !has(key) {
            out.push(Finding::Fix(
                format!("{id} is set without {key}: the Lambda refuses to start"),
                FILL,
            ));
        }
    }
    if has("TWILIO_PREVIOUS_SHARED_KEY_SECRET") && !has("TWILIO_SHARED_KEY_SECRET") {
        out.push(Finding::Fix(
            "TWILIO_PREVIOUS_SHARED_KEY_SECRET is set without TWILIO_SHARED_KEY_SECRET: the Lambda refuses to start".into(),
            FILL,
        ));
    }
    if !out.is_empty() {
        return out;
    }
    let token = if has("TWILIO_AUTH_TOKEN") {
        if has("TWILIO_PREVIOUS_AUTH_TOKEN") {
            "auth token, current and previous (HMAC-SHA1)"
        } else {
            "auth token (HMAC-SHA1)"
        }
    } else {
        "no auth token"
    };
    let shared = match (
        has("TWILIO_SHARED_KEY_SECRET"),
        has("TWILIO_PREVIOUS_SHARED_KEY_SECRET"),
    ) {
        (false, _) => "no shared key: a request a Webhooks configuration signs with a shared key (X-Twilio-Webhooks-Signature-Settings) is refused".to_owned(),
        (true, previous) => format!(
            "shared key{}{} (HMAC_SHA256 or HMAC_SHA1, as the header names)",
            if has("TWILIO_SHARED_KEY_ID") {
                format!(" {}", secret.shared_key_id.as_deref().unwrap_or_default())
            } else {
                String::new()
            },
            if previous { ", and the previous one" } else { "" }
        ),
    };
    out.push(Finding::Ok(format!(
        "without the settings header: {token}; with it: {shared}"
    )));
    out
}

/// The key the probe signs with, owned.
#[derive(Debug, Clone)]
pub enum ProbeKey {
    AuthToken(Secret),
    SharedKey { id: String, secret: Secret },
}

impl ProbeKey {
    pub fn signer(&self) -> Signer<'_> {
        match self {
            Self::AuthToken(token) => Signer::AuthToken(token.expose()),
            Self::SharedKey { id, secret } => Signer::SharedKey {
                key_id: id,
                secret: secret.expose(),
                algorithm: "HMAC_SHA256",
            },
        }
    }

    /// How the probe was signed, for its finding.
    pub fn describe(&self) -> &'static str {
        match self {
            Self::AuthToken(_) => "signed",
            Self::SharedKey { .. } => "shared-key (HMAC_SHA256) signed",
        }
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// The probe's key: from this environment first, else from the stack's secret; `Err` says why
/// the probe cannot be signed as asked.
pub fn probe_key(
    with: SignWith,
    stack_token: Option<&Secret>,
    stack_shared: Option<&(Option<String>, Secret)>,
) -> Result<ProbeKey, &'static str> {
    match with {
        SignWith::AuthToken => env("TWILIO_AUTH_TOKEN")
            .map(Secret::new)
            .or_else(|| stack_token.cloned())
            .map(ProbeKey::AuthToken)
            .ok_or(
                "no auth token to sign it with: set TWILIO_AUTH_TOKEN, or pass --stack to use the secret's",
            ),
        SignWith::SharedKey => match env("TWILIO_SHARED_KEY_SECRET") {
            Some(secret) => Ok(ProbeKey::SharedKey {
                id: env("TWILIO_SHARED_KEY_ID").unwrap_or_default(),
                secret: Secret::new(secret),
            }),
            None => stack_shared
                .map(|(id, secret)| ProbeKey::SharedKey {
                    id: id.clone().unwrap_or_default(),
                    secret: secret.clone(),
                })
                .ok_or(
                    "no shared key to sign it with: set TWILIO_SHARED_KEY_SECRET, or pass --stack to use the secret's",
                ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(filled: &[&'static str]) -> SecretFacts {
        SecretFacts {
            filled: filled.to_vec(),
            shared_key_id: filled
                .contains(&"TWILIO_SHARED_KEY_ID")
                .then(|| "KS0123".to_owned()),
            ..SecretFacts::default()
        }
    }

    #[test]
    fn the_schemes_a_secret_allows_are_named() {
        assert_eq!(
            secret_findings(&facts(&["TWILIO_AUTH_TOKEN"])),
            [Finding::Ok("without the settings header: auth token (HMAC-SHA1); with it: no shared key: a request a Webhooks configuration signs with a shared key (X-Twilio-Webhooks-Signature-Settings) is refused".into())]
        );
        assert_eq!(
            secret_findings(&facts(&[
                "TWILIO_AUTH_TOKEN",
                "TWILIO_SHARED_KEY_SECRET",
                "TWILIO_SHARED_KEY_ID",
                "TWILIO_PREVIOUS_SHARED_KEY_SECRET"
            ])),
            [Finding::Ok("without the settings header: auth token (HMAC-SHA1); with it: shared key KS0123, and the previous one (HMAC_SHA256 or HMAC_SHA1, as the header names)".into())]
        );
        let broken = secret_findings(&facts(&[
            "TWILIO_AUTH_TOKEN",
            "TWILIO_SHARED_KEY_ID",
            "TWILIO_PREVIOUS_SHARED_KEY_SECRET",
        ]));
        assert_eq!(broken.len(), 2, "{broken:?}");
        assert!(broken.iter().all(|f| matches!(f, Finding::Fix(..))));
    }

    #[test]
    fn the_probe_key_is_the_one_asked_for() {
        let token = Secret::new("stack-token");
        let shared = (Some("KS1".to_owned()), Secret::new("stack-shared"));
        // The test process has no TWILIO_* variables of its own.
        if env("TWILIO_AUTH_TOKEN").is_none() && env("TWILIO_SHARED_KEY_SECRET").is_none() {
            let key = probe_key(SignWith::SharedKey, Some(&token), Some(&shared)).unwrap();
            assert_eq!(
                key.signer().settings_header().as_deref(),
                Some("key=KS1,algorithm=HMAC_SHA256")
            );
            let key = probe_key(SignWith::AuthToken, Some(&token), Some(&shared)).unwrap();
            assert_eq!(key.signer().settings_header(), None);
            assert!(probe_key(SignWith::SharedKey, Some(&token), None).is_err());
            assert!(probe_key(SignWith::AuthToken, None, Some(&shared)).is_err());
        }
    }
}
