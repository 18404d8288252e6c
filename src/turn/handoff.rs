//! The handoff's Twilio side: create the Flex Interaction (recorded before and after, so a
//! redelivery never creates a second one), then remove the bot's conversation-scoped webhook.
//! What the task carries is decided in `domain::handoff`.

use super::context::{Run, StepError, Worker, timed_twilio};
use crate::domain::after_agent::AfterAgent;
use crate::domain::bot::BotTurn;
use crate::domain::conversation::{AgentEpisode, Memory, Progress};
use crate::domain::customer::{ConversationInfo, identify_customer};
use crate::domain::handoff::{handoff_attributes, interaction_request};
use crate::domain::ids::{BotRef, InteractionChannelSid, InteractionSid, WebhookSid};
use crate::domain::plan::{Plan, Reason};
use crate::outcome::{Cause, Stage};
use crate::ports::conversations::TwilioError;

/// Where an earlier delivery of this turn left the Interaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Interaction {
    /// Not requested yet.
    NotRequested,
    /// Requested, and Twilio's answer never recorded: the task may exist.
    Unrecorded,
    Created(InteractionSid, Option<InteractionChannelSid>),
}

impl Interaction {
    /// As the turn's progress records it.
    pub(super) fn of(progress: &Progress) -> Self {
        match progress {
            Progress::Claimed | Progress::Answered { .. } => Self::NotRequested,
            Progress::HandingOff {
                interaction: None, ..
            } => Self::Unrecorded,
            Progress::HandingOff {
                interaction: Some(sid),
                channel,
                ..
            } => Self::Created(sid.clone(), channel.clone()),
        }
    }
}

pub(super) struct HandoffInput<'a> {
    pub(super) plan: &'a Plan,
    pub(super) bot: Option<&'a BotRef>,
    pub(super) turn: Option<&'a BotTurn>,
    pub(super) late: bool,
    pub(super) memory: &'a Memory,
    pub(super) reason: &'a Reason,
    pub(super) requested: Interaction,
}

impl Worker {
    /// Creates the Interaction — or, when the bot took the conversation back from an agent
    /// before, invites into that same Interaction — then removes the bot's webhook. With
    /// `AFTER_AGENT=bot`, what the take-back needs is returned for the memory.
    pub(super) async fn hand_off(
        &self,
        run: &mut Run<'_>,
        input: HandoffInput<'_>,
    ) -> Result<Option<AgentEpisode>, StepError> {
        let message = &run.turn.message;
        let conversation = &message.conversation;
        let (interaction, channel) = match &input.requested {
            Interaction::Created(sid, channel) => (sid.clone(), channel.clone()),
            Interaction::Unrecorded => {
                // Requested before, and Twilio's answer never recorded: the task may exist.
                let error = TwilioError::Ambiguous {
                    operation: "create_interaction",
                    attempts: 1,
                    last: "an earlier delivery requested the Interaction and stopped before \
                           recording Twilio's answer; not created again (check Flex for a task \
                           on this conversation)"
                        .into(),
                };
                tracing::error!(error = %error, "handoff ambiguous");
                return Err((Stage::Interaction, error.into()));
            }
            Interaction::NotRequested => self.create_interaction(run, &input).await?,
        };
        tracing::info!(interaction = %interaction, "interaction created");
        // The bot's webhook as it is, for the take-back to attach it again.
        let bot_webhook_url = match (&self.behaviour.after_agent, &message.webhook) {
            (AfterAgent::Bot(_), Some(webhook)) => match &input.memory.agent {
                Some(earlier) if earlier.bot_webhook_url.is_some() => {
                    earlier.bot_webhook_url.clone()
                }
                _ => self.webhook_url(run, webhook).await,
            },
            _ => None,
        };
        let message = &run.turn.message;
        match &message.webhook {
            Some(webhook) => {
                let removed = timed_twilio(
                    &mut run.trace,
                    self.conversations
                        .remove_webhook(conversation, webhook, run.deadline),
                )
                .await;
                match removed {
                    Ok(()) => {}
                    // Removed by an earlier delivery of this turn.
                    Err(TwilioError::Rejected { status: 404, .. }) if run.trace.resumed => {}
                    Err(e) => return Err((Stage::RemoveWebhook, e.into())),
                }
            }
            None => tracing::warn!(
                "webhook carried no WebhookSid; the bot's webhook stays on the conversation"
            ),
        }
        Ok(match (&self.behaviour.after_agent, channel) {
            (AfterAgent::Bot(_), Some(channel)) => Some(AgentEpisode {
                interaction,
                channel,
                bot_webhook_url,
            }),
            (AfterAgent::Bot(_), None) => {
                tracing::warn!(
                    "Twilio's answer named no interaction channel; the bot cannot take this \
                     conversation back"
                );
                None
            }
            (AfterAgent::None, _) => None,
        })
    }

    /// The URL of the conversation's webhook `sid` (best effort: without it the take-back
    /// attaches the bot with the URL the handoff knew, or not at all).
    async fn webhook_url(&self, run: &mut Run<'_>, sid: &WebhookSid) -> Option<String> {
        let listing = self
            .conversations
            .list_webhooks(run.conversation(), run.deadline);
        let listed = timed_twilio(&mut run.trace, listing).await;
        match listed {
            Ok(listed) => listed
                .into_iter()
                .find(|w| w.sid.as_ref() == Some(sid))
                .and_then(|w| w.url),
            Err(e) => {
                tracing::warn!(error = %e, "the bot's webhook could not be read; a take-back will not attach it again");
                None
            }
        }
    }

    /// Records that the Interaction is requested, creates it (or invites into the one the
    /// conversation had with an agent before), records its SID.
    async fn create_interaction(
        &self,
        run: &mut Run<'_>,
        input: &HandoffInput<'_>,
    ) -> Result<(InteractionSid, Option<InteractionChannelSid>), StepError> {
        let message = &run.turn.message;
        let conversation = &message.conversation;
        let handing_off = |interaction, channel| Progress::HandingOff {
            plan: input.plan.clone(),
            turn: input.turn.cloned(),
            late: input.late,
            interaction,
            channel,
        };
        self.record(run, &handing_off(None, None), None).await?;

        // Two calls at once: one counted here, one by `timed_twilio`.
        run.trace.twilio_round_trips += 1;
        let (participants, info) = timed_twilio(&mut run.trace, async {
            futures::join!(
                self.conversations
                    .list_participants(conversation, run.deadline),
                self.conversations
                    .fetch_conversation(conversation, run.deadline),
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
        let (attributes, cuts) =
            handoff_attributes(&customer, input.bot, input.turn, input.reason, input.memory);
        if !cuts.is_empty() {
            let cuts: Vec<&str> = cuts.iter().map(|c| c.as_str()).collect();
            tracing::warn!(?cuts, "task attributes cut to fit TaskRouter's limit");
        }
        let request = interaction_request(message, &customer, attributes, &self.behaviour);
        let created = match input
            .memory
            .agent
            .as_ref()
            .filter(|_| matches!(self.behaviour.after_agent, AfterAgent::Bot(_)))
        {
            // Back with an agent: the same Interaction, a new task, the attributes sent again.
            Some(earlier) => {
                timed_twilio(
                    &mut run.trace,
                    self.conversations.invite(
                        &earlier.interaction,
                        &earlier.channel,
                        &request,
                        run.deadline,
                    ),
                )
                .await
                .map_err(|e| (Stage::Interaction, Cause::from(e)))?;
                tracing::info!(interaction = %earlier.interaction, "invited into the conversation's interaction again");
                (earlier.interaction.clone(), Some(earlier.channel.clone()))
            }
            None => {
                let created = timed_twilio(
                    &mut run.trace,
                    self.conversations
                        .create_interaction(&request, run.deadline),
                )
                .await
                .map_err(|e| (Stage::Interaction, Cause::from(e)))?;
                (created.sid, created.channel)
            }
        };
        run.acted = true;
        self.record(
            run,
            &handing_off(Some(created.0.clone()), created.1.clone()),
            None,
        )
        .await?;
        Ok(created)
    }
}
