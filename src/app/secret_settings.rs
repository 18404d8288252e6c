//! The settings with the Twilio credentials of a Secrets Manager secret (`TWILIO_SECRET_ID`)
//! laid over the environment, so no credential ever sits in the function's configuration.
//! Both roles need them (intake checks signatures with the auth token, a turn calls Twilio), so
//! the secret is read at init; without a secret, init builds no AWS configuration at all.

use std::collections::HashMap;

use crate::adapters::lazy::Lazy;
use crate::adapters::secrets_manager::secret_string;
use crate::app::config::{ConfigError, SECRET_KEYS};

/// The environment with the secret's credential keys laid over it. `sdk` is only built when
/// `TWILIO_SECRET_ID` is set.
pub async fn settings_with_secret(
    env: HashMap<String, String>,
    sdk: &Lazy<aws_config::SdkConfig>,
) -> Result<HashMap<String, String>, ConfigError> {
    let Some(secret_id) = env
        .get("TWILIO_SECRET_ID")
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
    else {
        return Ok(env);
    };
    let text = secret_string(sdk, &secret_id)
        .await
        .map_err(|e| ConfigError {
            variable: "TWILIO_SECRET_ID",
            reason: e.to_string(),
        })?;
    overlay(env, &text)
}

/// Lays the secret's JSON object over the environment. Only the credential keys are taken;
/// values are never echoed in errors.
pub fn overlay(
    mut env: HashMap<String, String>,
    secret_json: &str,
) -> Result<HashMap<String, String>, ConfigError> {
    let invalid = |reason: &str| ConfigError {
        variable: "TWILIO_SECRET_ID",
        reason: reason.to_owned(),
    };
    let value: serde_json::Value = serde_json::from_str(secret_json)
        .map_err(|_| invalid("the secret is not a JSON object"))?;
    let object = value
        .as_object()
        .ok_or_else(|| invalid("the secret is not a JSON object"))?;
    for key in SECRET_KEYS {
        match object.get(key) {
            Some(serde_json::Value::String(v)) if !v.trim().is_empty() => {
                env.insert(key.to_owned(), v.clone());
            }
            Some(serde_json::Value::String(_)) | Some(serde_json::Value::Null) | None => {}
            Some(_) => {
                return Err(ConfigError {
                    variable: "TWILIO_SECRET_ID",
                    reason: format!("key `{key}` in the secret must be a string"),
                });
            }
        }
    }
    Ok(env)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_keys_override_and_blank_values_do_not() {
        let env = HashMap::from([
            ("TWILIO_AUTH_TOKEN".to_owned(), "from-env".to_owned()),
            ("TWILIO_ACCOUNT_SID".to_owned(), "ACenv".to_owned()),
            ("BOT_AUTHOR".to_owned(), "Lex".to_owned()),
        ]);
        let out = overlay(
            env,
            r#"{"TWILIO_AUTH_TOKEN":"from-secret","TWILIO_ACCOUNT_SID":"","BOT_AUTHOR":"Mallory","TWILIO_API_KEY_SID":null}"#,
        )
        .unwrap();
        assert_eq!(out["TWILIO_AUTH_TOKEN"], "from-secret");
        assert_eq!(out["TWILIO_ACCOUNT_SID"], "ACenv");
        assert_eq!(
            out["BOT_AUTHOR"], "Lex",
            "only credential keys come from the secret"
        );
        assert!(!out.contains_key("TWILIO_API_KEY_SID"));
    }

    #[test]
    fn malformed_secrets_fail_without_echoing_values() {
        let err = overlay(HashMap::new(), "not json hunter2").unwrap_err();
        assert_eq!(err.variable, "TWILIO_SECRET_ID");
        assert!(!err.to_string().contains("hunter2"));
        let err = overlay(HashMap::new(), r#"{"TWILIO_AUTH_TOKEN": 12345}"#).unwrap_err();
        assert!(!err.to_string().contains("12345"));
        assert!(overlay(HashMap::new(), "[]").is_err());
    }
}
