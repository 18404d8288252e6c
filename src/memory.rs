//! In-memory adapters of the two ports: a bot that answers from a script and a conversations
//! store that records every call. They isolate the handler from the network, for unit tests and
//! for measuring the handler's own overhead.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::bot::{Bot, BotError, BotRequest, BotTurn};
use crate::conversations::{
    ConversationInfo, Conversations, InteractionRequest, Participant, PostedMessage, ReplyTag,
    TwilioError,
};
use crate::deadline::Deadline;
use crate::ids::{ConversationSid, InteractionSid, WebhookSid};
use crate::lock;

/// Answers each request with the next scripted result, or `fallback` when the script is empty.
#[derive(Clone, Default)]
pub struct ScriptedBot {
    script: Arc<Mutex<VecDeque<Result<BotTurn, BotError>>>>,
    fallback: BotTurn,
    requests: Arc<Mutex<Vec<BotRequest>>>,
}

impl ScriptedBot {
    pub fn answering(fallback: BotTurn) -> Self {
        Self {
            fallback,
            ..Self::default()
        }
    }

    pub fn push(&self, result: Result<BotTurn, BotError>) {
        lock(&self.script).push_back(result);
    }

    pub fn requests(&self) -> Vec<BotRequest> {
        lock(&self.requests).clone()
    }
}

#[async_trait]
impl Bot for ScriptedBot {
    async fn recognize_text(
        &self,
        request: &BotRequest,
        _deadline: Deadline,
    ) -> Result<BotTurn, BotError> {
        lock(&self.requests).push(request.clone());
        lock(&self.script)
            .pop_front()
            .unwrap_or_else(|| Ok(self.fallback.clone()))
    }
}

/// One call made to [`RecordingConversations`].
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    Post {
        conversation: ConversationSid,
        author: String,
        body: String,
        tag: ReplyTag,
    },
    Close(ConversationSid),
    RemoveWebhook(ConversationSid, WebhookSid),
    FetchConversation(ConversationSid),
    ListParticipants(ConversationSid),
    CreateInteraction(Box<InteractionRequest>),
    RecentMessages(ConversationSid),
}

/// Accepts every call and records it; participants and conversation info are preset.
#[derive(Clone, Default)]
pub struct RecordingConversations {
    calls: Arc<Mutex<Vec<Call>>>,
    participants: Vec<Participant>,
    info: ConversationInfo,
    interaction: Option<InteractionSid>,
}

impl RecordingConversations {
    pub fn new(
        participants: Vec<Participant>,
        info: ConversationInfo,
        interaction: InteractionSid,
    ) -> Self {
        Self {
            participants,
            info,
            interaction: Some(interaction),
            ..Self::default()
        }
    }

    pub fn calls(&self) -> Vec<Call> {
        lock(&self.calls).clone()
    }

    pub fn clear(&self) {
        lock(&self.calls).clear();
    }

    fn record(&self, call: Call) {
        lock(&self.calls).push(call);
    }
}

#[async_trait]
impl Conversations for RecordingConversations {
    async fn post_message(
        &self,
        conversation: &ConversationSid,
        author: &str,
        body: &str,
        tag: &ReplyTag,
        _: Deadline,
    ) -> Result<(), TwilioError> {
        self.record(Call::Post {
            conversation: conversation.clone(),
            author: author.to_owned(),
            body: body.to_owned(),
            tag: tag.clone(),
        });
        Ok(())
    }

    async fn close(&self, conversation: &ConversationSid, _: Deadline) -> Result<(), TwilioError> {
        self.record(Call::Close(conversation.clone()));
        Ok(())
    }

    async fn remove_webhook(
        &self,
        conversation: &ConversationSid,
        webhook: &WebhookSid,
        _: Deadline,
    ) -> Result<(), TwilioError> {
        self.record(Call::RemoveWebhook(conversation.clone(), webhook.clone()));
        Ok(())
    }

    async fn fetch_conversation(
        &self,
        conversation: &ConversationSid,
        _: Deadline,
    ) -> Result<ConversationInfo, TwilioError> {
        self.record(Call::FetchConversation(conversation.clone()));
        Ok(self.info.clone())
    }

    async fn list_participants(
        &self,
        conversation: &ConversationSid,
        _: Deadline,
    ) -> Result<Vec<Participant>, TwilioError> {
        self.record(Call::ListParticipants(conversation.clone()));
        Ok(self.participants.clone())
    }

    async fn create_interaction(
        &self,
        request: &InteractionRequest,
        _: Deadline,
    ) -> Result<InteractionSid, TwilioError> {
        self.record(Call::CreateInteraction(Box::new(request.clone())));
        self.interaction.clone().ok_or(TwilioError::Malformed {
            operation: "create_interaction",
            detail: "no interaction sid configured".into(),
        })
    }

    /// The messages posted through this adapter, newest first.
    async fn recent_messages(
        &self,
        conversation: &ConversationSid,
        limit: u32,
        _: Deadline,
    ) -> Result<Vec<PostedMessage>, TwilioError> {
        self.record(Call::RecentMessages(conversation.clone()));
        let posted: Vec<PostedMessage> = self
            .calls()
            .into_iter()
            .filter_map(|call| match call {
                Call::Post {
                    conversation: c,
                    author,
                    body,
                    tag,
                } if &c == conversation => Some((author, body, tag)),
                _ => None,
            })
            .enumerate()
            .map(|(index, (author, body, tag))| PostedMessage {
                index: index as u64,
                author,
                body,
                reply_to: Some(tag),
            })
            .collect();
        Ok(posted.into_iter().rev().take(limit as usize).collect())
    }
}
