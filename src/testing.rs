//! Test doubles of three ports — a bot that answers from a script, a Twilio that records every
//! call (and one that is down), a Content API that records its templates — and the fixtures
//! the unit tests share. They isolate the handler from the network, for unit tests and for
//! measuring the handler's own overhead; the Lambda is never built with them.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::domain::bot::{BotError, BotRequest, BotTurn, Button, Card};
use crate::domain::cards::ContentTemplate;
use crate::domain::customer::{ConversationInfo, Participant};
use crate::domain::deadline::Deadline;
use crate::domain::handoff::InteractionRequest;
use crate::domain::ids::{
    ContentSid, ConversationSid, InteractionChannelSid, InteractionSid, WebhookSid,
};
use crate::domain::timers::TimerUpdate;
use crate::lock;
use crate::ports::bot::Bot;
use crate::ports::content::ContentApi;
use crate::ports::conversations::{
    ChannelParticipant, ChannelView, Conversations, CreatedInteraction, NewWebhook, PostedMessage,
    ReplyTag, ScopedWebhook, TwilioError, WEBHOOK_TARGET,
};

/// The bridge as the Lambda composes it, with `bot` and `twilio` as its Lex and Twilio (and
/// the in-memory store): a whole intake and turn without the network.
pub fn bridge(
    config: &crate::app::config::Config,
    bot: &ScriptedBot,
    twilio: &RecordingConversations,
) -> crate::app::bridge::Bridge {
    crate::app::compose::bridge(
        config,
        crate::app::compose::Ports::local(Arc::new(bot.clone()), Arc::new(twilio.clone())),
    )
}

/// A customer's SMS `hello` as intake queues it: message `message`, at `index`, of
/// `conversation`, for the OrderFlowers bot.
pub fn message_job(
    conversation: ConversationSid,
    message: crate::domain::ids::MessageSid,
    index: u64,
) -> crate::domain::job::Job {
    use crate::domain::job::{Job, MessageJob, Route};
    Job::Message(MessageJob {
        message: crate::domain::message::MessageAdded {
            account: "AC0123456789abcdef0123456789abcdef"
                .parse()
                .expect("an account SID"),
            conversation,
            message,
            author: "+15551234567".into(),
            body: "hello".into(),
            participant: None,
            webhook: None,
            source: Some("SMS".into()),
            client_identity: None,
            media: Vec::new(),
            index: Some(index),
            attributes: serde_json::json!({}),
        },
        route: Route::Bot(crate::domain::ids::BotRef {
            bot_id: "FLWRSDEMO1".parse().expect("a bot id"),
            alias_id: "TSTALIASID".parse().expect("an alias id"),
            locale: "en_US".parse().expect("a locale"),
        }),
        request_id: String::new(),
    })
}

/// A configuration as the tests use it: an account, an auth token (`token`) and a Flex
/// workspace, then `extra`, which may replace any of them.
pub fn config(extra: &[(&str, &str)]) -> crate::app::config::Config {
    let mut settings: std::collections::HashMap<String, String> = [
        ("TWILIO_ACCOUNT_SID", "AC0123456789abcdef0123456789abcdef"),
        ("TWILIO_AUTH_TOKEN", "token"),
        ("FLEX_WORKSPACE_SID", "WS0123456789abcdef0123456789abcdef"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    for (k, v) in extra {
        settings.insert((*k).to_owned(), (*v).to_owned());
    }
    match crate::app::config::Config::from_settings(&settings) {
        Ok(config) => config,
        Err(e) => panic!("a test configuration that does not parse: {e}"),
    }
}

/// A Studio flow's conversation-scoped webhook, as Twilio lists it.
pub fn studio_webhook(sid: &str, flow: &str) -> ScopedWebhook {
    ScopedWebhook {
        sid: WebhookSid::parse(sid).ok(),
        target: crate::ports::conversations::STUDIO_TARGET.into(),
        flow_sid: Some(flow.into()),
        ..ScopedWebhook::default()
    }
}

/// A card titled `title` whose buttons show `choices` and send them lower-cased, as the demo bot
/// offers flowers.
pub fn card(title: &str, choices: &[&str]) -> Card {
    Card {
        title: title.into(),
        buttons: choices
            .iter()
            .map(|t| Button {
                text: (*t).into(),
                value: t.to_lowercase(),
            })
            .collect(),
        ..Card::default()
    }
}

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
    Invite(
        InteractionSid,
        InteractionChannelSid,
        Box<InteractionRequest>,
    ),
    InteractionChannel(InteractionSid),
    RecentMessages(ConversationSid),
    MessagesBetween(ConversationSid),
    SetTimers(ConversationSid, TimerUpdate),
    PostContent {
        conversation: ConversationSid,
        author: String,
        content: ContentSid,
        variables: BTreeMap<String, String>,
        tag: ReplyTag,
    },
    ListWebhooks(ConversationSid),
    CreateWebhook(ConversationSid, NewWebhook),
}

/// Accepts every call and records it; participants and conversation info are preset. Scoped
/// webhooks are kept per conversation, so creating and removing them shows in later lists.
#[derive(Clone, Default)]
pub struct RecordingConversations {
    calls: Arc<Mutex<Vec<Call>>>,
    participants: Vec<Participant>,
    info: ConversationInfo,
    interaction: Option<InteractionSid>,
    webhooks: Arc<Mutex<BTreeMap<ConversationSid, Vec<ScopedWebhook>>>>,
    /// The next Index of each conversation: taken by the customer's messages
    /// ([`RecordingConversations::next_index`]) and by every post, as Twilio numbers them.
    indices: Arc<Mutex<BTreeMap<ConversationSid, u64>>>,
    /// What `interaction_channel` answers (`None`: the agent left, the customer remains).
    channel: Arc<Mutex<Option<ChannelView>>>,
}

/// The interaction channel every Interaction this double creates has.
pub const CHANNEL: &str = "UO0123456789abcdef0123456789abcdef";

impl RecordingConversations {
    /// Sets what the interaction channel looks like from now on.
    pub fn set_channel(&self, view: ChannelView) {
        *lock(&self.channel) = Some(view);
    }

    /// Takes the conversation's next Index, as Twilio does for a message written in it.
    pub fn next_index(&self, conversation: &ConversationSid) -> u64 {
        let mut indices = lock(&self.indices);
        let next = indices.entry(conversation.clone()).or_insert(0);
        *next += 1;
        *next - 1
    }

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

    /// Attaches a scoped webhook to `conversation`, as an address configuration would.
    pub fn attach_webhook(&self, conversation: &ConversationSid, webhook: ScopedWebhook) {
        lock(&self.webhooks)
            .entry(conversation.clone())
            .or_default()
            .push(webhook);
    }

    /// The scoped webhooks attached to `conversation` now.
    pub fn webhooks(&self, conversation: &ConversationSid) -> Vec<ScopedWebhook> {
        lock(&self.webhooks)
            .get(conversation)
            .cloned()
            .unwrap_or_default()
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
    ) -> Result<Option<u64>, TwilioError> {
        self.record(Call::Post {
            conversation: conversation.clone(),
            author: author.to_owned(),
            body: body.to_owned(),
            tag: tag.clone(),
        });
        Ok(Some(self.next_index(conversation)))
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
        if let Some(attached) = lock(&self.webhooks).get_mut(conversation) {
            attached.retain(|w| w.sid.as_ref() != Some(webhook));
        }
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
    ) -> Result<CreatedInteraction, TwilioError> {
        self.record(Call::CreateInteraction(Box::new(request.clone())));
        let sid = self.interaction.clone().ok_or(TwilioError::Malformed {
            operation: "create_interaction",
            detail: "no interaction sid configured".into(),
        })?;
        Ok(CreatedInteraction {
            sid,
            channel: InteractionChannelSid::parse(CHANNEL).ok(),
        })
    }

    async fn invite(
        &self,
        interaction: &InteractionSid,
        channel: &InteractionChannelSid,
        request: &InteractionRequest,
        _: Deadline,
    ) -> Result<(), TwilioError> {
        self.record(Call::Invite(
            interaction.clone(),
            channel.clone(),
            Box::new(request.clone()),
        ));
        Ok(())
    }

    /// The channel as [`RecordingConversations::set_channel`] left it: by default the agent
    /// left and only the customer remains.
    async fn interaction_channel(
        &self,
        interaction: &InteractionSid,
        _: &InteractionChannelSid,
        _: Deadline,
    ) -> Result<ChannelView, TwilioError> {
        self.record(Call::InteractionChannel(interaction.clone()));
        Ok(lock(&self.channel).clone().unwrap_or_else(|| ChannelView {
            status: Some("inactive".into()),
            participants: vec![ChannelParticipant {
                kind: "customer".into(),
                status: None,
            }],
        }))
    }

    /// The messages posted through this adapter, newest first (a template message shows its
    /// `ContentSid` as its body).
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
                Call::PostContent {
                    conversation: c,
                    author,
                    content,
                    tag,
                    ..
                } if &c == conversation => Some((author, content.to_string(), tag)),
                _ => None,
            })
            .enumerate()
            .map(|(index, (author, body, tag))| PostedMessage {
                index: index as u64,
                author,
                body,
                reply_to: Some(tag),
                ..PostedMessage::default()
            })
            .collect();
        Ok(posted.into_iter().rev().take(limit as usize).collect())
    }

    /// Holds no customer messages: a gap is found empty.
    async fn messages_between(
        &self,
        conversation: &ConversationSid,
        _: u64,
        _: u64,
        _: Deadline,
    ) -> Result<Vec<PostedMessage>, TwilioError> {
        self.record(Call::MessagesBetween(conversation.clone()));
        Ok(Vec::new())
    }

    async fn set_timers(
        &self,
        conversation: &ConversationSid,
        update: &TimerUpdate,
        _: Deadline,
    ) -> Result<(), TwilioError> {
        self.record(Call::SetTimers(conversation.clone(), update.clone()));
        Ok(())
    }

    async fn list_webhooks(
        &self,
        conversation: &ConversationSid,
        _: Deadline,
    ) -> Result<Vec<ScopedWebhook>, TwilioError> {
        self.record(Call::ListWebhooks(conversation.clone()));
        Ok(self.webhooks(conversation))
    }

    async fn create_webhook(
        &self,
        conversation: &ConversationSid,
        webhook: &NewWebhook,
        _: Deadline,
    ) -> Result<WebhookSid, TwilioError> {
        self.record(Call::CreateWebhook(conversation.clone(), webhook.clone()));
        let sid = WebhookSid::parse(&crate::domain::ids::random_sid("WH")).map_err(|e| {
            TwilioError::Malformed {
                operation: "create_webhook",
                detail: e.to_string(),
            }
        })?;
        self.attach_webhook(
            conversation,
            ScopedWebhook {
                sid: Some(sid.clone()),
                target: WEBHOOK_TARGET.to_owned(),
                url: Some(webhook.url.clone()),
                method: Some("post".to_owned()),
                filters: webhook.filters.clone(),
                flow_sid: None,
            },
        );
        Ok(sid)
    }

    async fn post_content(
        &self,
        conversation: &ConversationSid,
        author: &str,
        content: &ContentSid,
        variables: &BTreeMap<String, String>,
        tag: &ReplyTag,
        _: Deadline,
    ) -> Result<Option<u64>, TwilioError> {
        self.record(Call::PostContent {
            conversation: conversation.clone(),
            author: author.to_owned(),
            content: content.clone(),
            variables: variables.clone(),
            tag: tag.clone(),
        });
        Ok(Some(self.next_index(conversation)))
    }
}

/// A Content API that records the templates it is asked to create and answers with fresh
/// `HX…` SIDs, or with the error it was given.
#[derive(Clone, Default)]
pub struct RecordingContentApi {
    created: Arc<Mutex<Vec<ContentTemplate>>>,
    failure: Arc<Mutex<Option<TwilioError>>>,
}

impl RecordingContentApi {
    /// Every later create fails with `error`.
    pub fn fail_with(&self, error: TwilioError) {
        *lock(&self.failure) = Some(error);
    }

    pub fn created(&self) -> Vec<ContentTemplate> {
        lock(&self.created).clone()
    }
}

#[async_trait]
impl ContentApi for RecordingContentApi {
    async fn create_content(
        &self,
        template: &ContentTemplate,
        _: Deadline,
    ) -> Result<ContentSid, TwilioError> {
        if let Some(error) = lock(&self.failure).clone() {
            return Err(error);
        }
        lock(&self.created).push(template.clone());
        ContentSid::parse(&crate::domain::ids::random_sid("HX")).map_err(|e| {
            TwilioError::Malformed {
                operation: "create_content",
                detail: e.to_string(),
            }
        })
    }
}

/// Twilio down: every call fails as unavailable (nothing applied, waiting may help).
#[derive(Clone, Copy, Default)]
pub struct TwilioDown;

fn down<T>(operation: &'static str) -> Result<T, TwilioError> {
    Err(TwilioError::Unavailable {
        operation,
        attempts: 5,
        last: "HTTP 503".into(),
    })
}

#[async_trait]
impl Conversations for TwilioDown {
    async fn post_message(
        &self,
        _: &ConversationSid,
        _: &str,
        _: &str,
        _: &ReplyTag,
        _: Deadline,
    ) -> Result<Option<u64>, TwilioError> {
        down("post_message")
    }

    async fn close(&self, _: &ConversationSid, _: Deadline) -> Result<(), TwilioError> {
        down("close")
    }

    async fn remove_webhook(
        &self,
        _: &ConversationSid,
        _: &WebhookSid,
        _: Deadline,
    ) -> Result<(), TwilioError> {
        down("remove_webhook")
    }

    async fn fetch_conversation(
        &self,
        _: &ConversationSid,
        _: Deadline,
    ) -> Result<ConversationInfo, TwilioError> {
        down("fetch_conversation")
    }

    async fn list_participants(
        &self,
        _: &ConversationSid,
        _: Deadline,
    ) -> Result<Vec<Participant>, TwilioError> {
        down("list_participants")
    }

    async fn create_interaction(
        &self,
        _: &InteractionRequest,
        _: Deadline,
    ) -> Result<CreatedInteraction, TwilioError> {
        down("create_interaction")
    }

    async fn invite(
        &self,
        _: &InteractionSid,
        _: &InteractionChannelSid,
        _: &InteractionRequest,
        _: Deadline,
    ) -> Result<(), TwilioError> {
        down("invite")
    }

    async fn interaction_channel(
        &self,
        _: &InteractionSid,
        _: &InteractionChannelSid,
        _: Deadline,
    ) -> Result<ChannelView, TwilioError> {
        down("interaction_channel")
    }

    async fn recent_messages(
        &self,
        _: &ConversationSid,
        _: u32,
        _: Deadline,
    ) -> Result<Vec<PostedMessage>, TwilioError> {
        down("recent_messages")
    }

    async fn messages_between(
        &self,
        _: &ConversationSid,
        _: u64,
        _: u64,
        _: Deadline,
    ) -> Result<Vec<PostedMessage>, TwilioError> {
        down("messages_between")
    }

    async fn set_timers(
        &self,
        _: &ConversationSid,
        _: &TimerUpdate,
        _: Deadline,
    ) -> Result<(), TwilioError> {
        down("set_timers")
    }

    async fn list_webhooks(
        &self,
        _: &ConversationSid,
        _: Deadline,
    ) -> Result<Vec<ScopedWebhook>, TwilioError> {
        down("list_webhooks")
    }

    async fn create_webhook(
        &self,
        _: &ConversationSid,
        _: &NewWebhook,
        _: Deadline,
    ) -> Result<WebhookSid, TwilioError> {
        down("create_webhook")
    }

    async fn post_content(
        &self,
        _: &ConversationSid,
        _: &str,
        _: &ContentSid,
        _: &BTreeMap<String, String>,
        _: &ReplyTag,
        _: Deadline,
    ) -> Result<Option<u64>, TwilioError> {
        down("post_content")
    }
}
