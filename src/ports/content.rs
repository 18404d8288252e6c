//! The Content API port (templates for rich cards) and the fleet's cache of the templates
//! created, so a card is created once for all instances.

use async_trait::async_trait;

use crate::domain::cards::{ContentKey, ContentTemplate};
use crate::domain::deadline::Deadline;
use crate::domain::ids::ContentSid;
use crate::ports::conversations::TwilioError;

/// The Content API: creates templates.
#[async_trait]
pub trait ContentApi: Send + Sync {
    async fn create_content(
        &self,
        template: &ContentTemplate,
        deadline: Deadline,
    ) -> Result<ContentSid, TwilioError>;
}

/// Why the content cache could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("content cache: {0}")]
pub struct CacheError(pub String);

/// Which template SID a [`ContentKey`] was created as; shared by the fleet (the state table)
/// so a card is created once, not once per instance.
#[async_trait]
pub trait ContentCache: Send + Sync {
    async fn get(&self, key: &ContentKey) -> Result<Option<ContentSid>, CacheError>;
    async fn put(&self, key: &ContentKey, sid: &ContentSid) -> Result<(), CacheError>;
}
