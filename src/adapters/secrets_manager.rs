//! Secrets Manager: the string value of one secret (`TWILIO_SECRET_ID`), read once at cold
//! start. What the secret may hold and how it is laid over the settings is `app::secret_settings`.

use crate::adapters::lazy::Lazy;

/// The secret could not be read. Says which secret and why, never its value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SecretReadError(String);

/// The secret's string value (the JSON text the stack stores).
pub async fn secret_string(
    sdk: &Lazy<aws_config::SdkConfig>,
    secret_id: &str,
) -> Result<String, SecretReadError> {
    let sdk = sdk
        .get()
        .await
        .map_err(|e| SecretReadError(format!("cannot read secret `{secret_id}`: {e}")))?;
    let client = aws_sdk_secretsmanager::Client::new(sdk);
    let output = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| {
            let detail = aws_sdk_secretsmanager::error::DisplayErrorContext(&e).to_string();
            SecretReadError(format!("cannot read secret `{secret_id}`: {detail}"))
        })?;
    output.secret_string().map(str::to_owned).ok_or_else(|| {
        SecretReadError(format!(
            "secret `{secret_id}` has no string value (store JSON text)"
        ))
    })
}
