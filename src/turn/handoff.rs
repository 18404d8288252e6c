//! The handoff's Twilio side: create the Flex Interaction (recorded before and after, so a
//! redelivery never creates a second one), then remove the bot's conversation-scoped webhook.
//! What the task carries is decided in `domain::handoff`.

use super::context::{Run, StepError, Worker, timed_twilio};
use crate::domain::bot::BotTurn;
use crate::domain::conversation::{Memory, Progress};
use crate::domain::customer::{ConversationInfo, identify_customer};
use crate::domain::handoff::{handoff_attributes, interaction_request};
use crate::domain::ids::{BotRef, InteractionSid};
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
    Created(InteractionSid),
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
                ..
            } => Self::Created(sid.clone()),
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
    pub(super) async fn hand_off(
        &self,
        run: &mut Run<'_>,
        input: HandoffInput<'_>,
    ) -> Result<(), StepError> {
        let message = &run.turn.message;
        let conversation = &message.conversation;
        let interaction = match &input.requested {
            Interaction::Created(sid) => sid.clone(),
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
        Ok(())
    }

    /// Records that the Interaction is requested, creates it, records its SID.
    async fn create_interaction(
        &self,
        run: &mut Run<'_>,
        input: &HandoffInput<'_>,
    ) -> Result<InteractionSid, StepError> {
        let message = &run.turn.message;
        let conversation = &message.conversation;
        let handing_off = |interaction| Progress::HandingOff {
            plan: input.plan.clone(),
            turn: input.turn.cloned(),
            late: input.late,
            interaction,
        };
        self.record(run, &handing_off(None), None).await?;

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
        let sid = timed_twilio(
            &mut run.trace,
            self.conversations
                .create_interaction(&request, run.deadline),
        )
        .await
        .map_err(|e| (Stage::Interaction, Cause::from(e)))?;
        run.acted = true;
        self.record(run, &handing_off(Some(sid.clone())), None)
            .await?;
        Ok(sid)
    }
}
