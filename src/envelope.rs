//! STUB (to be replaced): the JSON event the VTL request template produces.

use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    #[error("envelope is not valid: {0}")]
    Invalid(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Headers(Vec<(String, String)>);

impl Headers {
    pub fn new(pairs: Vec<(String, String)>) -> Self {
        Self(pairs)
    }
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Envelope {
    pub body: Vec<u8>,
    pub headers: Headers,
    pub query: BTreeMap<String, String>,
    pub domain_name: String,
    pub path: String,
    pub request_id: String,
    pub stage: Option<String>,
    pub source_ip: Option<String>,
}

impl Envelope {
    pub fn from_json(_json: &[u8]) -> Result<Self, EnvelopeError> {
        Err(EnvelopeError::Invalid("not implemented".into()))
    }
    pub fn from_value(_value: serde_json::Value) -> Result<Self, EnvelopeError> {
        Err(EnvelopeError::Invalid("not implemented".into()))
    }
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::Value::Null
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }
}
