//! One event, end to end: envelope → signature → webhook → filters → bot → policy → Twilio.
//! Knows no environment variables and no SDK types; everything arrives through the ports.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::bot::{Bot, BotError, BotRequest, BotTurn, cap_text};
use crate::config::Behaviour;
use crate::conversations::{ConversationInfo, Conversations, TwilioError};
use crate::deadline::Deadline;
use crate::envelope::Envelope;
use crate::form::FormParams;
use crate::handoff::{channel_hint, identify_customer, interaction_request, task_attributes};
use crate::ids::{AccountSid, BotAliasId, BotId, BotRef, LocaleId, MessageSid};
use crate::outcome::{Failure, Ignored, Outcome, Rejected, Report, Stage, Trace};
use crate::policy::{Action, Plan, Reason, plan_bot_error, plan_media_only, plan_turn};
use crate::signature::{self, Verdict, Verifier};
use crate::webhook::{MessageAdded, WebhookEvent};

/// How many recent message SIDs an instance remembers to drop duplicate deliveries.
const RECENT_MESSAGES: usize = 1024;

/// Shared by every invocation of a warm instance: built once at cold start.
pub struct Bridge {
    behaviour: Behaviour,
    account: Option<AccountSid>,
    verifier: Verifier,
    bot: Arc<dyn Bot>,
    conversations: Arc<dyn Conversations>,
    recent: Mutex<RecentMessages>,
}

/// A bounded memory of handled message SIDs (async delivery is at-least-once).
#[derive(Default)]
struct RecentMessages {
    order: VecDeque<MessageSid>,
    seen: HashSet<MessageSid>,
}

impl RecentMessages {
    /// `false` when the SID was already there.
    fn insert(&mut self, sid: &MessageSid) -> bool {
        if self.seen.contains(sid) {
            return false;
        }
        if self.order.len() == RECENT_MESSAGES
            && let Some(old) = self.order.pop_front()
        {
            self.seen.remove(&old);
        }
        self.order.push_back(sid.clone());
        self.seen.insert(sid.clone());
        true
    }
}

impl Bridge {
    pub fn new(
        behaviour: Behaviour,
        account: Option<AccountSid>,
        verifier: Verifier,
        bot: Arc<dyn Bot>,
        conversations: Arc<dyn Conversations>,
    ) -> Self {
        Self {
            behaviour,
            account,
            verifier,
            bot,
            conversations,
            recent: Mutex::new(RecentMessages::default()),
        }
    }

    pub fn behaviour(&self) -> &Behaviour {
        &self.behaviour
    }

    /// Handles one API Gateway event. Never panics on input; every path ends in one outcome.
    pub async fn handle(&self, event: serde_json::Value, deadline: Deadline) -> Report {
        let started = Instant::now();
        let mut trace = Trace::default();
        let outcome = self.run(event, deadline, &mut trace).await;
        Report {
            outcome,
            trace,
            total: started.elapsed(),
        }
    }

    async fn run(
        &self,
        event: serde_json::Value,
        deadline: Deadline,
        trace: &mut Trace,
    ) -> Outcome {
        let envelope = match Envelope::from_value(event) {
            Ok(envelope) => envelope,
            Err(e) => return Outcome::Rejected(Rejected::Envelope(e.to_string())),
        };
        trace.request_id.clone_from(&envelope.request_id);

        let params = match FormParams::parse(&envelope.body) {
            Ok(params) => params,
            Err(e) => return Outcome::Rejected(Rejected::Form(e.to_string())),
        };

        let urls = signature::candidate_urls(
            self.behaviour.webhook_public_url.as_deref(),
            &envelope.domain_name,
            &envelope.path,
            &envelope.query,
        );
        match self
            .verifier
            .verify(envelope.header(signature::HEADER), &urls, &params)
        {
            Verdict::Valid { .. } => {}
            Verdict::Missing => {
                return Outcome::Rejected(Rejected::Signature {
                    missing: true,
                    urls_tried: 0,
                });
            }
            Verdict::Mismatch { tried } => {
                tracing::warn!(request_id = %envelope.request_id, urls_tried = ?tried, "signature mismatch");
                return Outcome::Rejected(Rejected::Signature {
                    missing: false,
                    urls_tried: tried.len(),
                });
            }
        }

        let message = match WebhookEvent::from_params(&params) {
            Ok(WebhookEvent::MessageAdded(message)) => message,
            Ok(WebhookEvent::Other { event_type }) => {
                return Outcome::Ignored(Ignored::EventType(event_type));
            }
            Err(e) => return Outcome::Rejected(Rejected::Webhook(e.to_string())),
        };
        trace.conversation = Some(message.conversation.to_string());
        trace.message = Some(message.message.to_string());

        if self.account.as_ref().is_some_and(|a| a != &message.account) {
            return Outcome::Rejected(Rejected::Account);
        }
        if message.author == self.behaviour.bot_author {
            return Outcome::Ignored(Ignored::OwnMessage);
        }
        if self
            .behaviour
            .ignore_authors
            .iter()
            .any(|a| a == &message.author)
        {
            return Outcome::Ignored(Ignored::NonCustomer);
        }
        let text = message.body.trim();
        if text.is_empty() && message.media.is_empty() {
            return Outcome::Ignored(Ignored::EmptyBody);
        }
        if !self.remember(&message.message) {
            return Outcome::Ignored(Ignored::Duplicate);
        }

        let bot = bot_ref(&envelope.query, &self.behaviour.default_locale);
        let (plan, turn) = if text.is_empty() {
            (plan_media_only(&self.behaviour), None)
        } else {
            match &bot {
                Ok(bot) => self.ask_bot(bot, &message, text, deadline, trace).await,
                Err(e) => {
                    trace.lex_error = Some(e.to_string());
                    (plan_bot_error(e, &self.behaviour), None)
                }
            }
        };
        self.execute(
            plan,
            &message,
            bot.ok().as_ref(),
            turn.as_ref(),
            deadline,
            trace,
        )
        .await
    }

    fn remember(&self, sid: &MessageSid) -> bool {
        match self.recent.lock() {
            Ok(mut recent) => recent.insert(sid),
            // A poisoned lock only loses duplicate detection; the event is still handled.
            Err(poisoned) => poisoned.into_inner().insert(sid),
        }
    }

    async fn ask_bot(
        &self,
        bot: &BotRef,
        message: &MessageAdded,
        text: &str,
        deadline: Deadline,
        trace: &mut Trace,
    ) -> (Plan, Option<BotTurn>) {
        let capped = cap_text(text);
        trace.text_truncated = capped.len() < text.len();
        let mut request_attributes = BTreeMap::new();
        request_attributes.insert(
            "flexlex_channel".to_owned(),
            channel_hint(&message.author).as_str().to_owned(),
        );
        if let Some(source) = &message.source {
            request_attributes.insert("flexlex_source".to_owned(), source.clone());
        }
        let request = BotRequest {
            bot: bot.clone(),
            session_id: message.conversation.to_string(),
            text: capped.to_owned(),
            request_attributes,
        };
        let started = Instant::now();
        let result = self.bot.recognize_text(&request, deadline).await;
        trace.lex += started.elapsed();
        match result {
            Ok(turn) => {
                trace.intent = turn.intent.as_ref().map(|i| i.name.clone());
                (plan_turn(&turn, &self.behaviour), Some(turn))
            }
            Err(e) => {
                tracing::warn!(error = %e, "bot failed; applying ON_BOT_ERROR");
                trace.lex_error = Some(e.code().to_owned());
                (plan_bot_error(&e, &self.behaviour), None)
            }
        }
    }

    async fn execute(
        &self,
        plan: Plan,
        message: &MessageAdded,
        bot: Option<&BotRef>,
        turn: Option<&BotTurn>,
        deadline: Deadline,
        trace: &mut Trace,
    ) -> Outcome {
        let conversation = &message.conversation;
        let author = self.behaviour.bot_author.as_str();
        for text in &plan.messages {
            let posted = timed(
                &mut trace.twilio,
                self.conversations
                    .post_message(conversation, author, text, deadline),
            )
            .await;
            if let Err(e) = posted {
                return failed(Stage::Reply, &e);
            }
            trace.messages_posted += 1;
        }

        match plan.action {
            Action::Wait => Outcome::Replied,
            Action::Close(reason) => match timed(
                &mut trace.twilio,
                self.conversations.close(conversation, deadline),
            )
            .await
            {
                Ok(()) => Outcome::Closed(reason),
                Err(e) => failed(Stage::Close, &e),
            },
            Action::Handoff(reason) => {
                self.hand_off(message, bot, turn, reason, deadline, trace)
                    .await
            }
        }
    }

    async fn hand_off(
        &self,
        message: &MessageAdded,
        bot: Option<&BotRef>,
        turn: Option<&BotTurn>,
        reason: Reason,
        deadline: Deadline,
        trace: &mut Trace,
    ) -> Outcome {
        let conversation = &message.conversation;
        let (participants, info) = timed(&mut trace.twilio, async {
            futures::join!(
                self.conversations.list_participants(conversation, deadline),
                self.conversations
                    .fetch_conversation(conversation, deadline),
            )
        })
        .await;
        // Without them the author still tells the channel; a degraded task beats no handoff.
        let participants = participants.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "participants unavailable; identifying the customer by author");
            Vec::new()
        });
        let info = info.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "conversation unavailable; handing off without its attributes");
            ConversationInfo::default()
        });

        let customer = identify_customer(message, &participants, &info);
        let attributes = task_attributes(&customer, bot, turn, &reason);
        let request = interaction_request(message, &customer, attributes, &self.behaviour);
        if let Err(e) = timed(
            &mut trace.twilio,
            self.conversations.create_interaction(&request, deadline),
        )
        .await
        {
            return failed(Stage::Interaction, &e);
        }
        match &message.webhook {
            Some(webhook) => {
                let removed = timed(
                    &mut trace.twilio,
                    self.conversations
                        .remove_webhook(conversation, webhook, deadline),
                )
                .await;
                if let Err(e) = removed {
                    return failed(Stage::RemoveWebhook, &e);
                }
            }
            None => tracing::warn!(
                "webhook carried no WebhookSid; the bot's webhook stays on the conversation"
            ),
        }
        Outcome::HandedOff(reason)
    }
}

fn failed(stage: Stage, error: &TwilioError) -> Outcome {
    Outcome::Failed(Failure {
        stage,
        error: error.to_string(),
        retryable: error.is_retryable(),
    })
}

async fn timed<T>(total: &mut Duration, work: impl Future<Output = T>) -> T {
    let started = Instant::now();
    let out = work.await;
    *total += started.elapsed();
    out
}

/// The bot to ask, from the webhook URL's `BotId`, `BotAliasId` and optional `LocaleId`.
fn bot_ref(
    query: &BTreeMap<String, String>,
    default_locale: &LocaleId,
) -> Result<BotRef, BotError> {
    let invalid = |message: String| BotError::Rejected {
        code: "InvalidWebhookUrl".into(),
        message,
    };
    let bot_id = query
        .get("BotId")
        .ok_or_else(|| invalid("the webhook URL has no BotId query parameter".into()))?;
    let alias = query
        .get("BotAliasId")
        .ok_or_else(|| invalid("the webhook URL has no BotAliasId query parameter".into()))?;
    Ok(BotRef {
        bot_id: BotId::parse(bot_id).map_err(|e| invalid(e.to_string()))?,
        alias_id: BotAliasId::parse(alias).map_err(|e| invalid(e.to_string()))?,
        locale: match query.get("LocaleId") {
            Some(locale) => LocaleId::parse(locale).map_err(|e| invalid(e.to_string()))?,
            None => default_locale.clone(),
        },
    })
}
