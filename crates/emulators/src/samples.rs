//! The world the sample events in `events/` belong to: the account, the signing token, the
//! webhook URL they were signed for and their conversations. `flexlex emulators` seeds these
//! into the Twilio emulator so a local Lambda run with those events finds what Twilio would
//! have; the test that renders the events reads the same values.

use crate::sid::Sid;
use crate::twilio::{CustomerKind, SeedSids};

/// The account of every sample webhook.
pub const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";

/// The auth token the samples are signed with: `TWILIO_AUTH_TOKEN` for a local run. It signs
/// webhooks for the emulated account only and is not a credential of anything real.
pub const AUTH_TOKEN: &str = "flexlex-local-auth-token";

/// The URL Twilio signed: what API Gateway's `$context` rebuilds from the events.
pub const WEBHOOK_URL: &str = "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/prod/webhook?BotId=FLWRSDEMO1&BotAliasId=TSTALIASID";

/// TaskRouter SIDs for the handoffs of a local run (the emulator accepts any well-formed one).
pub const WORKSPACE_SID: &str = "WS00000000000000000000000000f1e71e";
pub const WORKFLOW_SID: &str = "WW00000000000000000000000000f1e71e";

/// One sample conversation and its customer's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleConversation {
    pub conversation: &'static str,
    pub webhook: &'static str,
    pub participant: &'static str,
    pub message: &'static str,
    /// The customer's WhatsApp number.
    pub customer: &'static str,
}

/// `order-flowers.json` (and its job, `turn-batch.json`), `bot-echo.json` and
/// `forged-signature.json`.
pub const ORDER: SampleConversation = SampleConversation {
    conversation: "CH0123456789abcdef0123456789abcdef",
    webhook: "WH0123456789abcdef0123456789abcdef",
    participant: "MB0123456789abcdef0123456789abcdef",
    message: "IM0123456789abcdef0123456789abcdef",
    customer: "+15551234567",
};

/// `ask-for-agent.json`: a conversation of its own, so the events can be sent in any order.
pub const AGENT: SampleConversation = SampleConversation {
    conversation: "CHfedcba9876543210fedcba9876543210",
    webhook: "WHfedcba9876543210fedcba9876543210",
    participant: "MBfedcba9876543210fedcba9876543210",
    message: "IMfedcba9876543210fedcba9876543210",
    customer: "+15557654321",
};

impl SampleConversation {
    /// The customer, as the Twilio emulator seeds one.
    pub fn customer_kind(&self) -> CustomerKind {
        CustomerKind::Whatsapp {
            address: self.customer.to_owned(),
        }
    }

    /// The `Author` of the customer's messages.
    pub fn author(&self) -> String {
        format!("whatsapp:{}", self.customer)
    }

    /// The SIDs to seed the conversation under.
    pub fn seed_sids(&self) -> Result<SeedSids, String> {
        Ok(SeedSids {
            conversation: Sid::parse("CH", self.conversation)?,
            webhook: Sid::parse("WH", self.webhook)?,
            customer: Sid::parse("MB", self.participant)?,
        })
    }
}

/// Every sample conversation.
pub const CONVERSATIONS: [SampleConversation; 2] = [ORDER, AGENT];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_samples_sids_are_well_formed() {
        for sample in CONVERSATIONS {
            assert!(sample.seed_sids().is_ok(), "{sample:?}");
            assert!(Sid::parse("IM", sample.message).is_ok(), "{sample:?}");
        }
        assert!(Sid::parse("AC", ACCOUNT_SID).is_ok());
        assert!(Sid::parse("WS", WORKSPACE_SID).is_ok());
        assert!(Sid::parse("WW", WORKFLOW_SID).is_ok());
    }
}
