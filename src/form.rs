//! STUB (to be replaced): raw `application/x-www-form-urlencoded` parameters.

#[derive(Debug, thiserror::Error)]
pub enum FormError {
    #[error("form body is not valid: {0}")]
    Invalid(String),
}

/// Decoded form parameters in the order received; repeated names kept.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FormParams {
    pairs: Vec<(String, String)>,
}

impl FormParams {
    pub fn parse(_body: &[u8]) -> Result<Self, FormError> {
        Err(FormError::Invalid("not implemented".into()))
    }
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        Self { pairs }
    }
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    pub fn encode(&self) -> String {
        String::new()
    }
}
