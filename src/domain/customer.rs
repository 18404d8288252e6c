//! Who the customer is: what Twilio says about the conversation and its participants, read
//! into the channel and the identity the agent sees.

use serde_json::Value;

use crate::domain::channel::ChannelType;
use crate::domain::ids::ParticipantSid;
use crate::domain::message::MessageAdded;

/// A conversation participant as Twilio lists it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Participant {
    pub sid: Option<ParticipantSid>,
    /// Set only for Conversations SDK (webchat) participants.
    pub identity: Option<String>,
    pub binding: Option<MessagingBinding>,
    /// The participant's attributes, parsed (`{}` when absent or not JSON).
    pub attributes: Value,
}

/// How a participant is reached outside the SDK.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MessagingBinding {
    /// `sms`, `whatsapp`, ...
    pub kind: Option<String>,
    pub address: Option<String>,
    pub proxy_address: Option<String>,
}

/// The parts of a conversation the handoff uses.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConversationInfo {
    pub state: Option<String>,
    pub friendly_name: Option<String>,
    /// The conversation's attributes, parsed (`{}` when absent or not JSON); webchat keeps
    /// `pre_engagement_data` here.
    pub attributes: Value,
}

/// The customer as the agent sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    pub channel: ChannelType,
    /// Flex UI's preferred label for non-email tasks.
    pub from: String,
    pub name: String,
    pub address: String,
}

/// The channel a message came from, judged by its author alone (no REST call): SMS and WhatsApp
/// authors are addresses, webchat authors are SDK identities.
pub fn channel_hint(author: &str) -> ChannelType {
    if author.starts_with("whatsapp:") {
        ChannelType::Whatsapp
    } else if is_phone_number(author) {
        ChannelType::Sms
    } else {
        ChannelType::Web
    }
}

fn is_phone_number(s: &str) -> bool {
    s.strip_prefix('+').is_some_and(|digits| {
        (6..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
    })
}

fn nonempty(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// Finds the customer among the participants: the message's author first (by participant SID,
/// then identity, then address); without participants, the author alone.
pub fn identify_customer(
    event: &MessageAdded,
    participants: &[Participant],
    conversation: &ConversationInfo,
) -> Customer {
    let author = event.author.as_str();
    let participant = participants
        .iter()
        .find(|p| p.sid.is_some() && p.sid == event.participant)
        .or_else(|| {
            participants
                .iter()
                .find(|p| p.identity.as_deref() == Some(author))
        })
        .or_else(|| {
            participants
                .iter()
                .find(|p| p.binding.as_ref().and_then(|b| b.address.as_deref()) == Some(author))
        });

    let binding = participant.and_then(|p| p.binding.as_ref());
    let address = binding.and_then(|b| b.address.clone());
    let channel = match (binding.and_then(|b| b.kind.as_deref()), address.as_deref()) {
        (Some(kind), _) if kind.eq_ignore_ascii_case("whatsapp") => ChannelType::Whatsapp,
        (_, Some(a)) if a.starts_with("whatsapp:") => ChannelType::Whatsapp,
        (Some(kind), _) if kind.eq_ignore_ascii_case("sms") => ChannelType::Sms,
        (Some(_), _) => ChannelType::Sms,
        (None, _) if participant.is_some_and(|p| p.identity.is_some()) => ChannelType::Web,
        (None, _) => channel_hint(author),
    };

    let pre_engagement = conversation.attributes.get("pre_engagement_data");
    let friendly = nonempty(pre_engagement.and_then(|p| p.get("friendlyName")))
        .or_else(|| participant.and_then(|p| nonempty(p.attributes.get("friendlyName"))))
        .or_else(|| nonempty(conversation.attributes.get("friendlyName")));

    match channel {
        ChannelType::Web => {
            let identity = participant
                .and_then(|p| p.identity.clone())
                .unwrap_or_else(|| author.to_owned());
            let email = nonempty(pre_engagement.and_then(|p| p.get("email")));
            let name = friendly.unwrap_or_else(|| identity.clone());
            Customer {
                channel,
                from: name.clone(),
                name,
                address: email.unwrap_or(identity),
            }
        }
        ChannelType::Sms | ChannelType::Whatsapp => {
            let address = address.unwrap_or_else(|| author.to_owned());
            let name = friendly.unwrap_or_else(|| address.clone());
            Customer {
                channel,
                from: address.clone(),
                name,
                address,
            }
        }
    }
}
