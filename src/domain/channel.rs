//! The customer's channel, as the Interactions API names it.

/// The media type of the customer's channel, as the Interactions API names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelType {
    Web,
    Sms,
    Whatsapp,
}

impl ChannelType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Web => "web",
            Self::Sms => "sms",
            Self::Whatsapp => "whatsapp",
        }
    }
}
