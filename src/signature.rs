//! STUB (to be replaced): Twilio request signatures.

use std::collections::BTreeMap;

use crate::form::FormParams;
use crate::secret::Secret;

pub const HEADER: &str = "X-Twilio-Signature";

pub fn sign(_token: &str, _url: &str, _params: &FormParams) -> String {
    String::new()
}

pub fn candidate_urls(
    _public_url: Option<&str>,
    _domain_name: &str,
    _path: &str,
    _query: &BTreeMap<String, String>,
) -> Vec<String> {
    Vec::new()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSlot {
    Primary,
    Previous,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Valid { url: String, token: TokenSlot },
    Missing,
    Mismatch { tried: Vec<String> },
}

#[derive(Debug, Clone)]
pub struct Verifier {
    primary: Secret,
    previous: Option<Secret>,
}

impl Verifier {
    pub fn new(primary: Secret, previous: Option<Secret>) -> Self {
        Self { primary, previous }
    }
    pub fn verify(
        &self,
        _signature: Option<&str>,
        urls: &[String],
        _params: &FormParams,
    ) -> Verdict {
        let _ = (&self.primary, &self.previous);
        Verdict::Mismatch {
            tried: urls.to_vec(),
        }
    }
}
