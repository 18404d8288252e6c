//! The HTTP stack both clients share: reqwest over rustls with the aws-lc provider and the
//! Mozilla root certificates compiled in. Loading the system's certificate store costs
//! milliseconds of file reads and parsing per client at every cold start; compiled-in roots cost
//! nothing. The AWS SDK gets the same stack through [`SmithyHttpClient`].

use std::sync::Arc;
use std::time::Duration;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;

/// Why the HTTP client could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the HTTP client could not be built: {0}")]
pub struct HttpBuildError(String);

/// Timings of a shared client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpSettings {
    pub connect_timeout: Duration,
    /// Idle pooled connections are dropped after this, before the server side closes them.
    pub pool_idle_timeout: Duration,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(3),
            pool_idle_timeout: Duration::from_secs(50),
        }
    }
}

/// TLS 1.2/1.3 with the aws-lc provider, trusting the compiled-in Mozilla roots.
fn tls_config() -> Result<rustls::ClientConfig, HttpBuildError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| HttpBuildError(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// A pooled keep-alive client; build one per cold start and share it.
pub fn client(settings: HttpSettings) -> Result<reqwest::Client, HttpBuildError> {
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls_config()?)
        .connect_timeout(settings.connect_timeout)
        .pool_idle_timeout(settings.pool_idle_timeout)
        .tcp_keepalive(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("flexlex/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| HttpBuildError(e.without_url().to_string()))
}

/// The SDK's standard retry mode, minus connection poisoning: reqwest already drops broken
/// connections, and a throttled or 5xx answer says nothing bad about the connection it came on.
pub fn sdk_retry_config() -> aws_smithy_types::retry::RetryConfig {
    aws_smithy_types::retry::RetryConfig::standard()
        .with_reconnect_mode(aws_smithy_types::retry::ReconnectMode::ReuseAllConnections)
}

/// The AWS SDK's HTTP client, on top of a reqwest client. The SDK's own timeouts and retries
/// still apply around each call.
#[derive(Debug, Clone)]
pub struct SmithyHttpClient {
    connector: SharedHttpConnector,
}

impl SmithyHttpClient {
    pub fn new(client: reqwest::Client) -> Self {
        Self {
            connector: SharedHttpConnector::new(ReqwestConnector(client)),
        }
    }

    pub fn shared(client: reqwest::Client) -> SharedHttpClient {
        SharedHttpClient::new(Self::new(client))
    }
}

impl HttpClient for SmithyHttpClient {
    fn http_connector(
        &self,
        _: &HttpConnectorSettings,
        _: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.connector.clone()
    }
}

#[derive(Debug, Clone)]
struct ReqwestConnector(reqwest::Client);

impl HttpConnector for ReqwestConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let client = self.0.clone();
        HttpConnectorFuture::new(async move { send(&client, request).await })
    }
}

async fn send(
    client: &reqwest::Client,
    request: HttpRequest,
) -> Result<HttpResponse, ConnectorError> {
    let request = request
        .try_into_http1x()
        .map_err(|e| ConnectorError::user(e.into()))?;
    let (parts, body) = request.into_parts();
    // The operations flexlex calls (RecognizeText, GetSecretValue, credential lookups) have
    // small bodies the SDK holds in memory; a streaming body is a programming error here.
    let body = body
        .bytes()
        .map(bytes::Bytes::copy_from_slice)
        .ok_or_else(|| ConnectorError::user("streaming request bodies are not supported".into()))?;
    let response = client
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body)
        .send()
        .await
        .map_err(classify)?;
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.map_err(classify)?;
    let mut http_response = http::Response::new(SdkBody::from(bytes));
    *http_response.status_mut() = status;
    *http_response.headers_mut() = headers;
    HttpResponse::try_from(http_response).map_err(|e| ConnectorError::other(e.into(), None))
}

/// Timeouts and I/O failures are what the SDK's retry classifier treats as transient.
fn classify(error: reqwest::Error) -> ConnectorError {
    let error = error.without_url();
    if error.is_timeout() {
        ConnectorError::timeout(error.into())
    } else if error.is_connect() || error.is_request() || error.is_body() {
        ConnectorError::io(error.into())
    } else {
        ConnectorError::other(error.into(), None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tls_config_offers_tls_1_3_and_1_2_and_a_client_builds_on_it() {
        let config = tls_config().unwrap();
        assert!(client(HttpSettings::default()).is_ok());
        // Both TLS 1.3 and 1.2 suites are offered (AWS and Twilio endpoints speak both).
        assert!(
            config
                .crypto_provider()
                .cipher_suites
                .iter()
                .any(|s| s.version() == &rustls::version::TLS13)
        );
        assert!(
            config
                .crypto_provider()
                .cipher_suites
                .iter()
                .any(|s| s.version() == &rustls::version::TLS12)
        );
    }
}
