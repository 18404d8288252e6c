//! The settings that decide behaviour (the policy, the handoff, cards, timers), free of I/O
//! concerns. `app::config` reads them from the environment once.

use std::collections::BTreeMap;

use crate::domain::after_agent::AfterAgent;
use crate::domain::cards::RichCards;
use crate::domain::channel::ChannelType;
use crate::domain::escalation_rules::EscalationRules;
use crate::domain::ids::{LocaleId, WorkflowSid, WorkspaceSid};
use crate::domain::timers::TimerSettings;

/// What the customer's conversation gets when the bot cannot answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BotErrorAction {
    /// Apologise and hand the conversation to an agent (default: nobody talks to nothing).
    Handoff,
    /// Apologise and close the conversation.
    Close,
    /// Apologise and wait for the customer's next message.
    Reply,
}

/// What a message with attachments and no text gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaAction {
    Reply(String),
    Handoff,
}

/// The settings that decide behaviour (the policy and the handoff), free of I/O concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Behaviour {
    pub handoff_intents: Vec<String>,
    pub close_intents: Vec<String>,
    pub bot_author: String,
    /// Authors besides the bot whose messages never go to the bot (agents, system).
    pub ignore_authors: Vec<String>,
    pub default_locale: LocaleId,
    pub on_bot_error: BotErrorAction,
    pub bot_error_message: String,
    pub on_media: MediaAction,
    pub workspace: WorkspaceSid,
    pub workflow: Option<WorkflowSid>,
    /// Interaction channel type → TaskRouter task channel unique name.
    pub task_channels: BTreeMap<ChannelType, String>,
    /// The URL Twilio calls when it is not `https://{domainName}{path}`.
    pub webhook_public_url: Option<String>,
    /// When a conversation going badly is handed off without the bot asking.
    pub escalation: EscalationRules,
    /// Conversation timers the bot sets, and what happens to them at handoff.
    pub timers: TimerSettings,
    /// Channels whose cards are sent as Content API templates (buttons, lists).
    pub rich_cards: RichCards,
    /// What happens when the agent is done and the conversation stays open.
    pub after_agent: AfterAgent,
}

/// Why a message in a conversation is not one for the bot to answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotForTheBot {
    /// The bot's own.
    OwnMessage,
    /// An author in `IGNORE_AUTHORS` (an agent, a system).
    NonCustomer,
    /// Neither text nor media.
    Empty,
}

impl Behaviour {
    /// Whether a message goes to the bot: the same rules for a webhook at intake and for a
    /// message a catch-up finds in the conversation.
    pub fn screen(&self, author: &str, body: &str, has_media: bool) -> Result<(), NotForTheBot> {
        if author == self.bot_author {
            return Err(NotForTheBot::OwnMessage);
        }
        if self.ignore_authors.iter().any(|a| a == author) {
            return Err(NotForTheBot::NonCustomer);
        }
        if body.trim().is_empty() && !has_media {
            return Err(NotForTheBot::Empty);
        }
        Ok(())
    }
}

pub const DEFAULT_BOT_ERROR_MESSAGE: &str =
    "Sorry, I'm having trouble right now. Let me connect you with someone who can help.";

pub const DEFAULT_MEDIA_REPLY: &str = "Sorry, I can only read text. Please type your message.";
