//! From an envelope to signed parameters: which body, which scheme, and the checks in the
//! order Twilio's libraries make them.
//!
//! - A form body: its parameters are part of the signed string; the scheme is the one the
//!   settings header names (auth token and HMAC-SHA1 without it).
//! - A JSON body (or any request whose URL carries `bodySHA256`): the body's SHA-256 must equal
//!   `bodySHA256` (constant time), then the signature is checked over the URL alone, which
//!   includes that hash. A JSON body without `bodySHA256` is refused: its bytes would be
//!   covered by nothing.

use crate::intake::body::{self, BODY_HASH_PARAM, BodyError, BodyKind};
use crate::intake::envelope::Envelope;
use crate::intake::form::FormParams;
use crate::intake::signature::{self, Scheme, Verdict, Verifier};
use crate::outcome::{Outcome, Rejected};

/// A request whose signature holds: its parameters, the URL its signature matched, how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    pub params: FormParams,
    pub url: String,
    pub scheme: Scheme,
    pub body: BodyKind,
}

fn scheme_refused(code: &'static str, reason: String) -> Outcome {
    Outcome::Rejected(Rejected::SignatureScheme { code, reason })
}

fn body_refused(e: &BodyError) -> Outcome {
    scheme_refused(e.code(), e.to_string())
}

fn form(body: &[u8]) -> Result<FormParams, Outcome> {
    FormParams::parse(body).map_err(|e| Outcome::Rejected(Rejected::Form(e.to_string())))
}

/// Checks `envelope` against `urls` (the URLs Twilio may have signed).
pub fn authenticate(
    verifier: &Verifier,
    envelope: &Envelope,
    urls: &[String],
) -> Result<Signed, Outcome> {
    let kind = BodyKind::of(envelope.header("Content-Type"));
    let hashed = envelope.query.contains_key(BODY_HASH_PARAM);
    let signed_params = if hashed {
        body::check_hash(&envelope.query, &envelope.body).map_err(|e| body_refused(&e))?;
        FormParams::default()
    } else if kind == BodyKind::Json {
        return Err(body_refused(&BodyError::HashMissing));
    } else {
        form(&envelope.body)?
    };
    let verdict = verifier.verify_request(
        envelope.header(signature::HEADER),
        envelope.header(signature::SETTINGS_HEADER),
        urls,
        &signed_params,
    );
    let (url, scheme) = match verdict {
        Ok(signed) => signed,
        Err(Verdict::Refused(e)) => return Err(scheme_refused(e.code(), e.to_string())),
        Err(Verdict::Missing) => {
            return Err(Outcome::Rejected(Rejected::Signature {
                missing: true,
                tried: Vec::new(),
            }));
        }
        Err(Verdict::Mismatch { tried }) => {
            return Err(Outcome::Rejected(Rejected::Signature {
                missing: false,
                tried,
            }));
        }
        Err(Verdict::Valid { url, .. }) => {
            return Err(Outcome::Rejected(Rejected::Signature {
                missing: false,
                tried: vec![url],
            }));
        }
    };
    let params = match (hashed, kind) {
        (false, _) => signed_params,
        (true, BodyKind::Json) => body::json_params(&envelope.body)
            .map_err(|e| Outcome::Rejected(Rejected::Form(e.to_string())))?,
        (true, BodyKind::Form) => form(&envelope.body)?,
    };
    Ok(Signed {
        params,
        url,
        scheme,
        body: kind,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use base64::Engine as _;

    use super::*;
    use crate::domain::secret::Secret;
    use crate::intake::envelope::Headers;
    use crate::intake::signature::{Algorithm, SharedKey, TokenSlot};

    const BASE: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
    const BODY: &str = r#"{"property": "value", "boolean": true}"#;
    const BODY_HASH: &str = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
    /// Twilio's library tests (twilio-python, -node, -go, -java), token `12345`: the URL with
    /// `bodySHA256`, HMAC-SHA1, no parameters.
    const TWILIO_JSON_VECTOR: &str = "a9nBmqA0ju/hNViExpshrM61xv4=";
    /// Python `hmac`/`hashlib` at authoring time: the same URL, HMAC-SHA256, key `12345`.
    const SHA256_JSON_VECTOR: &str = "+UOCWf84gdgo/5Hpg4m5/EgKnJA2/TbOw5sPNVr3bPk=";

    fn url() -> String {
        format!("{BASE}&bodySHA256={BODY_HASH}")
    }

    fn envelope(body: &str, content_type: &str, url: &str, headers: &[(&str, &str)]) -> Envelope {
        let query: BTreeMap<String, String> = url
            .split_once('?')
            .map(|(_, q)| form_urlencoded_pairs(q))
            .unwrap_or_default();
        let mut all = vec![("Content-Type".to_owned(), content_type.to_owned())];
        all.extend(
            headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        Envelope {
            body: body.as_bytes().to_vec(),
            headers: Headers::new(all),
            query,
            domain_name: "mycompany.com".into(),
            path: "/myapp.php".into(),
            ..Envelope::default()
        }
    }

    fn form_urlencoded_pairs(q: &str) -> BTreeMap<String, String> {
        q.split('&')
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    fn verifier() -> Verifier {
        Verifier::new(Secret::new("12345"), None).with_shared_keys(
            Some(SharedKey {
                id: None,
                secret: Secret::new("12345"),
            }),
            None,
        )
    }

    fn refusal(result: Result<Signed, Outcome>) -> (&'static str, String) {
        match result {
            Err(Outcome::Rejected(Rejected::SignatureScheme { code, reason })) => (code, reason),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn twilios_json_vector_validates_and_the_body_is_read() {
        let env = envelope(
            BODY,
            "application/json",
            &url(),
            &[("X-Twilio-Signature", TWILIO_JSON_VECTOR)],
        );
        let signed = authenticate(&verifier(), &env, &[url()]).unwrap();
        assert_eq!(signed.url, url());
        assert_eq!(signed.scheme, Scheme::AuthToken(TokenSlot::Primary));
        assert_eq!(signed.body, BodyKind::Json);
        assert_eq!(signed.params.get("property"), Some("value"));
        assert_eq!(signed.params.get("boolean"), Some("true"));
    }

    #[test]
    fn sha256_json_vector_validates_with_the_shared_key() {
        let env = envelope(
            BODY,
            "application/json; charset=utf-8",
            &url(),
            &[
                ("X-Twilio-Signature", SHA256_JSON_VECTOR),
                (signature::SETTINGS_HEADER, "key=,algorithm=HMAC_SHA256"),
            ],
        );
        let signed = authenticate(&verifier(), &env, &[url()]).unwrap();
        assert_eq!(
            signed.scheme,
            Scheme::SharedKey {
                slot: TokenSlot::Primary,
                algorithm: Algorithm::HmacSha256
            }
        );
        // The same signature without the header is a SHA-1 check with the token: refused.
        let env = envelope(
            BODY,
            "application/json",
            &url(),
            &[("X-Twilio-Signature", SHA256_JSON_VECTOR)],
        );
        assert!(matches!(
            authenticate(&verifier(), &env, &[url()]),
            Err(Outcome::Rejected(Rejected::Signature {
                missing: false,
                ..
            }))
        ));
    }

    #[test]
    fn a_tampered_json_body_is_refused_before_the_signature() {
        let tampered = r#"{"property": "value", "boolean": false}"#;
        let env = envelope(
            tampered,
            "application/json",
            &url(),
            &[("X-Twilio-Signature", TWILIO_JSON_VECTOR)],
        );
        let (code, reason) = refusal(authenticate(&verifier(), &env, &[url()]));
        assert_eq!(code, "body_hash_mismatch");
        assert!(reason.contains("bodySHA256"), "{reason}");
    }

    #[test]
    fn a_stripped_body_hash_is_refused() {
        // The JSON body arrives on the URL without bodySHA256: nothing covers its bytes.
        let env = envelope(
            BODY,
            "application/json",
            BASE,
            &[("X-Twilio-Signature", TWILIO_JSON_VECTOR)],
        );
        let (code, _) = refusal(authenticate(&verifier(), &env, &[BASE.into()]));
        assert_eq!(code, "body_hash_missing");
        // A signature recomputed over the stripped URL (by someone holding no key) is no help:
        // the check stops at the missing hash.
        let env = envelope(
            BODY,
            "application/json",
            BASE,
            &[(
                "X-Twilio-Signature",
                &signature::sign("12345", BASE, &FormParams::default()),
            )],
        );
        assert_eq!(
            refusal(authenticate(&verifier(), &env, &[BASE.into()])).0,
            "body_hash_missing"
        );
    }

    #[test]
    fn a_changed_body_hash_breaks_the_signature() {
        // Body and bodySHA256 swapped together for another body: the hash matches, the URL
        // signature does not.
        let other = r#"{"property": "other"}"#;
        let other_url = format!("{BASE}&bodySHA256={}", body::sha256_hex(other.as_bytes()));
        let env = envelope(
            other,
            "application/json",
            &other_url,
            &[("X-Twilio-Signature", TWILIO_JSON_VECTOR)],
        );
        assert!(matches!(
            authenticate(&verifier(), &env, std::slice::from_ref(&other_url)),
            Err(Outcome::Rejected(Rejected::Signature {
                missing: false,
                ..
            }))
        ));
    }

    #[test]
    fn form_bodies_keep_the_classic_scheme() {
        let body = "Digits=1234&To=%2B18005551212&From=%2B14158675309&Caller=%2B14158675309&CallSid=CA1234567890ABCDE";
        let env = envelope(
            body,
            "application/x-www-form-urlencoded",
            BASE,
            &[("X-Twilio-Signature", "RSOYDt4T1cUTdK1PDd93/VVr8B8=")],
        );
        let signed = authenticate(&verifier(), &env, &[BASE.into()]).unwrap();
        assert_eq!(signed.body, BodyKind::Form);
        assert_eq!(signed.params.get("Digits"), Some("1234"));
        let env = envelope(
            "a=%zz",
            "application/x-www-form-urlencoded",
            BASE,
            &[("X-Twilio-Signature", "RSOYDt4T1cUTdK1PDd93/VVr8B8=")],
        );
        assert!(matches!(
            authenticate(&verifier(), &env, &[BASE.into()]),
            Err(Outcome::Rejected(Rejected::Form(_)))
        ));
        // The raw envelope round trip keeps JSON bytes exactly.
        let raw = base64::engine::general_purpose::STANDARD.encode(BODY);
        let back = Envelope::from_value(serde_json::json!({
            "v": "1", "body": raw, "headers": {"Content-Type": "application/json"},
            "query": {"bodySHA256": BODY_HASH}, "domainName": "mycompany.com", "path": "/myapp.php"
        }))
        .unwrap();
        assert_eq!(back.body, BODY.as_bytes());
    }
}
