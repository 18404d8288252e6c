//! Back to the bot after the agent: when the agent is done but the conversation stays open
//! (Flex's Leave with custom routing, or an interaction parked by API), the bot takes the
//! conversation back, and a later handoff invites into the same Interaction.
//!
//! An Interactions event (`onParticipantLeft`, `onChannelStatusUpdated`) is only a doorbell:
//! what is done is decided here from what Twilio's authenticated REST API says when the
//! take-back runs — the conversation's state, the interaction channel's status and who is
//! in it — never from the event.

use crate::domain::conversation::{AgentEpisode, Status};
use crate::domain::ids::InteractionSid;

/// What happens when the agent is done (`AFTER_AGENT`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AfterAgent {
    /// Nothing: the conversation stays with Flex (today's behaviour).
    #[default]
    None,
    /// The bot takes the conversation back.
    Bot(TakeBackSettings),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TakeBackSettings {
    /// The `ttid` of the `interaction`-type Interactions webhook that points at the stack
    /// (`flexlex connect` registers it): every Interaction the bot creates carries it.
    pub webhook_ttid: String,
    /// Posted when the bot takes the conversation back (`AFTER_AGENT_MESSAGE`).
    pub message: Option<String>,
}

impl AfterAgent {
    pub fn settings(&self) -> Option<&TakeBackSettings> {
        match self {
            Self::None => None,
            Self::Bot(settings) => Some(settings),
        }
    }
}

/// What Twilio says when a take-back runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentTruth {
    /// The conversation's state: `active`, `inactive` or `closed`.
    pub conversation_state: Option<String>,
    /// The interaction channel's status: `setup`, `active`, `failed`, `closed`, `inactive`,
    /// `pause`, `transfer`.
    pub channel_status: Option<String>,
    /// Participants of the interaction channel other than the customer that are still in it
    /// (agents, supervisors, externals).
    pub others_present: usize,
}

/// Why the conversation stays where it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stay {
    /// `AFTER_AGENT` is `none`.
    NotConfigured,
    /// The bot has the conversation already (an event delivered twice, or late).
    WithTheBot,
    /// Closed: the address starts a new conversation with the bot.
    Closed,
    /// The event names another Interaction than the conversation's current one.
    OtherInteraction,
    /// An agent (or a supervisor) is still in the interaction.
    AgentPresent,
    /// The agent paused the channel, or it is being transferred.
    Paused,
    Transferring,
}

impl Stay {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotConfigured => "not_configured",
            Self::WithTheBot => "with_the_bot",
            Self::Closed => "closed",
            Self::OtherInteraction => "other_interaction",
            Self::AgentPresent => "agent_present",
            Self::Paused => "paused",
            Self::Transferring => "transferring",
        }
    }
}

/// Whether our state says the conversation is the agent's, for the event's Interaction (pure,
/// no I/O): the episode to check against Twilio, or why there is nothing to check.
pub fn agents_episode<'a>(
    status: Status,
    episode: Option<&'a AgentEpisode>,
    event_interaction: &InteractionSid,
) -> Result<&'a AgentEpisode, Stay> {
    // The bot never handed this conversation to an agent: whatever its status, no Interaction
    // of ours.
    let episode = episode.ok_or(Stay::OtherInteraction)?;
    match status {
        Status::Bot => return Err(Stay::WithTheBot),
        Status::Closed => return Err(Stay::Closed),
        Status::HandedOff => {}
    }
    if &episode.interaction != event_interaction {
        return Err(Stay::OtherInteraction);
    }
    Ok(episode)
}

/// Whether the bot may take the conversation back (pure): the conversation is the agent's in
/// our state, for this Interaction ([`agents_episode`]); it is still open; the channel is
/// neither paused nor being transferred; nobody but the customer remains. Never two voices.
pub fn may_take_back(
    status: Status,
    episode: Option<&AgentEpisode>,
    event_interaction: &InteractionSid,
    truth: &AgentTruth,
) -> Result<(), Stay> {
    agents_episode(status, episode, event_interaction)?;
    if truth.conversation_state.as_deref() == Some("closed") {
        return Err(Stay::Closed);
    }
    match truth.channel_status.as_deref() {
        Some("pause") => return Err(Stay::Paused),
        Some("transfer") => return Err(Stay::Transferring),
        _ => {}
    }
    if truth.others_present > 0 {
        return Err(Stay::AgentPresent);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::InteractionChannelSid;

    fn kd(n: u8) -> InteractionSid {
        InteractionSid::parse(&format!("KD{n:032x}")).unwrap()
    }

    fn episode() -> AgentEpisode {
        AgentEpisode {
            interaction: kd(1),
            channel: InteractionChannelSid::parse(&format!("UO{:032x}", 1)).unwrap(),
            bot_webhook_url: None,
        }
    }

    fn left() -> AgentTruth {
        AgentTruth {
            conversation_state: Some("active".into()),
            channel_status: Some("inactive".into()),
            others_present: 0,
        }
    }

    #[test]
    fn the_bot_takes_back_only_an_open_conversation_nobody_else_is_in() {
        let e = episode();
        assert_eq!(
            may_take_back(Status::HandedOff, Some(&e), &kd(1), &left()),
            Ok(())
        );
        let cases = [
            (Status::Bot, left(), Stay::WithTheBot),
            (Status::Closed, left(), Stay::Closed),
            (
                Status::HandedOff,
                AgentTruth {
                    others_present: 1,
                    ..left()
                },
                Stay::AgentPresent,
            ),
            (
                Status::HandedOff,
                AgentTruth {
                    channel_status: Some("pause".into()),
                    ..left()
                },
                Stay::Paused,
            ),
            (
                Status::HandedOff,
                AgentTruth {
                    channel_status: Some("transfer".into()),
                    ..left()
                },
                Stay::Transferring,
            ),
            (
                Status::HandedOff,
                AgentTruth {
                    conversation_state: Some("closed".into()),
                    ..left()
                },
                Stay::Closed,
            ),
        ];
        for (status, truth, stay) in cases {
            assert_eq!(may_take_back(status, Some(&e), &kd(1), &truth), Err(stay));
        }
        assert_eq!(
            may_take_back(Status::HandedOff, Some(&e), &kd(2), &left()),
            Err(Stay::OtherInteraction)
        );
        assert_eq!(
            may_take_back(Status::HandedOff, None, &kd(1), &left()),
            Err(Stay::OtherInteraction)
        );
    }
}
