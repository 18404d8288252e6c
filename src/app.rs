//! The composition root: builds the clients and the bridge once per cold start, from the
//! configuration. Entry points (the Lambda, the CLI) only call in here.

use std::collections::HashMap;
use std::sync::Arc;

use crate::bot::Bot;
use crate::config::{Config, ConfigError, TwilioSettings};
use crate::conversations::Conversations;
use crate::handler::Bridge;
use crate::http::{HttpBuildError, HttpSettings, SmithyHttpClient};
use crate::lex::{LexBot, LexSettings};
use crate::secrets_manager;
use crate::signature::Verifier;
use crate::twilio::{TwilioClient, TwilioClientConfig};

/// The bridge over the given ports, with the configured behaviour and signature tokens.
pub fn bridge(config: &Config, bot: Arc<dyn Bot>, conversations: Arc<dyn Conversations>) -> Bridge {
    let verifier = Verifier::new(
        config.twilio.auth_token.clone(),
        config.twilio.previous_auth_token.clone(),
    );
    Bridge::new(
        config.behaviour.clone(),
        config.twilio.account.clone(),
        verifier,
        bot,
        conversations,
    )
}

/// The Twilio REST client for these settings.
pub fn twilio_client(settings: &TwilioSettings) -> Result<TwilioClient, ConfigError> {
    let mut client = TwilioClientConfig::new(settings.credentials.clone());
    if let Some(url) = &settings.conversations_base_url {
        client.conversations_base.clone_from(url);
    }
    if let Some(url) = &settings.flex_base_url {
        client.flex_base.clone_from(url);
    }
    if let Some(url) = &settings.content_base_url {
        client.content_base.clone_from(url);
    }
    client.region.clone_from(&settings.region);
    client.edge.clone_from(&settings.edge);
    TwilioClient::new(client).map_err(|e| ConfigError {
        variable: match e {
            crate::twilio::TwilioConfigError::BaseUrl { name, .. } => name,
            _ => "TWILIO_AUTH_TOKEN",
        },
        reason: e.to_string(),
    })
}

/// Why the bridge could not be built at cold start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Http(#[from] HttpBuildError),
}

/// AWS configuration from the environment (region, credentials, endpoint overrides), with the
/// crate's shared HTTP stack for every AWS call.
pub async fn sdk_config(region: Option<String>) -> Result<aws_config::SdkConfig, HttpBuildError> {
    let http = crate::http::client(HttpSettings::default())?;
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(SmithyHttpClient::shared(http));
    if let Some(region) = region {
        loader = loader.region(aws_config::Region::new(region));
    }
    Ok(loader.load().await)
}

/// Everything from the process environment (and the Twilio secret, when `TWILIO_SECRET_ID` is
/// set): AWS config, settings, Lex and Twilio clients. Errors name the variable at fault.
pub async fn bridge_from_env() -> Result<Bridge, InitError> {
    let sdk = sdk_config(None).await?;
    let env: HashMap<String, String> = std::env::vars().collect();
    let settings = secrets_manager::settings_with_secret(env, &sdk).await?;
    let config = Config::from_settings(&settings)?;
    let bot = LexBot::from_sdk_config(&sdk, &LexSettings::default());
    let twilio = twilio_client(&config.twilio)?;
    Ok(bridge(&config, Arc::new(bot), Arc::new(twilio)))
}
