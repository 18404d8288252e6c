//! A request as read off the wire and the reply sent back, with the checks every endpoint
//! shares (single-valued form parameters, paging) and Twilio's exception body. Kept apart from
//! the router so the resource modules it dispatches to can use them without importing it.

use axum::body::{Body, Bytes};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Value, json};

const INVALID_PARAMETER: u32 = 20001;
const NOT_FOUND: u32 = 20404;
const CONVERSATION_CLOSED: u32 = 50377;

/// An answer: status, optional JSON body, extra headers.
pub(crate) struct Reply {
    status: StatusCode,
    body: Option<Value>,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl Reply {
    pub(super) fn json(status: StatusCode, body: Value) -> Self {
        Self {
            status,
            body: Some(body),
            headers: Vec::new(),
        }
    }

    pub(super) fn error(status: StatusCode, code: u32, message: impl AsRef<str>) -> Self {
        Self::json(status, error(status.as_u16(), code, message.as_ref()))
    }

    pub(super) fn invalid(message: impl AsRef<str>) -> Self {
        Self::error(StatusCode::BAD_REQUEST, INVALID_PARAMETER, message)
    }

    pub(super) fn not_found(path: &str) -> Self {
        let resource = path.strip_prefix("/v1").unwrap_or(path);
        Self::error(
            StatusCode::NOT_FOUND,
            NOT_FOUND,
            format!("The requested resource {resource} was not found"),
        )
    }

    pub(super) fn closed() -> Self {
        Self::error(
            StatusCode::BAD_REQUEST,
            CONVERSATION_CLOSED,
            "Can't update conversation as it's in final closed state",
        )
    }

    pub(super) fn no_content() -> Self {
        Self {
            status: StatusCode::NO_CONTENT,
            body: None,
            headers: Vec::new(),
        }
    }

    pub(super) fn with_header(mut self, name: HeaderName, value: &str) -> Self {
        if let Ok(value) = HeaderValue::from_str(value) {
            self.headers.push((name, value));
        }
        self
    }

    pub(super) fn status(&self) -> StatusCode {
        self.status
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut response = match self.body {
            Some(body) => (self.status, axum::Json(body)).into_response(),
            None => (self.status, Body::empty()).into_response(),
        };
        response.headers_mut().extend(self.headers);
        response
    }
}

/// Twilio's exception body.
fn error(status: u16, code: u32, message: &str) -> Value {
    json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status,
    })
}

/// A request as read off the wire.
pub(super) struct Incoming {
    pub(super) method: Method,
    pub(super) path: String,
    pub(super) query: Option<String>,
    pub(super) headers: HeaderMap,
    pub(super) content_type: Option<String>,
    /// Decoded pairs, when the body is form-encoded.
    pub(super) form: Option<Vec<(String, String)>>,
    /// The body as received (the Content API takes JSON).
    pub(super) raw: Bytes,
}

impl Incoming {
    pub(super) fn read(parts: axum::http::request::Parts, body: Bytes) -> Self {
        let content_type = header(&parts.headers, CONTENT_TYPE.as_str());
        let is_form = content_type.as_deref().is_some_and(|ct| {
            ct.split(';').next().is_some_and(|m| {
                m.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
        });
        let form = is_form.then(|| form_urlencoded::parse(&body).into_owned().collect());
        Self {
            method: parts.method,
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().map(str::to_owned),
            headers: parts.headers,
            content_type,
            form,
            raw: body,
        }
    }

    pub(super) fn auth_user(&self) -> Option<String> {
        basic_credentials(&self.headers).map(|(user, _)| user)
    }

    /// The form, checked against the parameters the endpoint knows; a repeated parameter is
    /// refused since every parameter used here is single-valued.
    pub(super) fn params(&self, allowed: &[&str]) -> Result<Params<'_>, Reply> {
        let Some(pairs) = &self.form else {
            return Err(Reply::invalid(
                "Content-Type must be application/x-www-form-urlencoded",
            ));
        };
        for (i, (name, _)) in pairs.iter().enumerate() {
            if !allowed.contains(&name.as_str()) {
                return Err(Reply::invalid(format!("Unknown parameter: {name}")));
            }
            if pairs[..i].iter().any(|(earlier, _)| earlier == name) {
                return Err(Reply::invalid(format!(
                    "Parameter {name} was given more than once"
                )));
            }
        }
        Ok(Params(pairs))
    }

    pub(super) fn query_param(&self, name: &str) -> Option<String> {
        let query = self.query.as_deref()?;
        form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

/// Form parameters that passed [`Incoming::params`].
pub(super) struct Params<'a>(&'a [(String, String)]);

impl Params<'_> {
    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

pub(super) fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

pub(super) fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// `Page` (from 0) and `PageSize` (1 to `max`, default 50) of a list request.
pub(super) fn paging(incoming: &Incoming, max: usize) -> Result<(usize, usize), Reply> {
    let page_size = match incoming.query_param("PageSize") {
        None => 50,
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| Reply::invalid(format!("PageSize must be between 1 and {max}")))?,
    };
    let page = match incoming.query_param("Page") {
        None => 0,
        Some(raw) => raw
            .parse::<usize>()
            .map_err(|_| Reply::invalid("Page must be a non-negative integer"))?,
    };
    Ok((page, page_size))
}
