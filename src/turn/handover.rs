//! The turn side of a Studio handover (Studio → bot; the bot giving the conversation to an
//! agent is the *handoff*): the flow's webhooks are replaced by the bot's, idempotently (list;
//! delete every `studio` webhook; create the bot's only if no identical one is there). The
//! pipeline claims the swap under its own key and finishes it; the first turn, when the flow
//! passed the customer's text, then runs as a message job. So a duplicate or replayed request
//! writes nothing to Twilio and asks the bot nothing, and a request replayed after a handoff
//! or close does not bring the bot back.

use super::context::{Run, StepError, Worker, timed};
use super::pipeline::Done;
use crate::domain::conversation::{Memory, Status};
use crate::domain::ids::WebhookSid;
use crate::domain::job::{BOT_FILTERS, Handover, HandoverJob, MessageJob};
use crate::outcome::{Cause, Outcome, Stage};
use crate::ports::conversations::{NewWebhook, STUDIO_TARGET, ScopedWebhook};

/// The webhook the handover attaches: the bot's, for new messages only.
pub fn bot_webhook(handover: &Handover) -> NewWebhook {
    NewWebhook {
        url: handover.webhook_url.clone(),
        filters: BOT_FILTERS.iter().map(|f| (*f).to_owned()).collect(),
    }
}

/// What the swap finds and does: the `studio` webhooks to delete, and the bot's webhook if
/// an identical one is already attached.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SwapPlan {
    pub remove: Vec<WebhookSid>,
    pub existing: Option<WebhookSid>,
}

/// Plans the swap over the listed webhooks (pure).
pub fn plan_swap(attached: &[ScopedWebhook], wanted: &NewWebhook) -> SwapPlan {
    SwapPlan {
        remove: attached
            .iter()
            .filter(|w| w.target == STUDIO_TARGET)
            .filter_map(|w| w.sid.clone())
            .collect(),
        existing: attached
            .iter()
            .filter(|w| wanted.matches(w))
            .find_map(|w| w.sid.clone()),
    }
}

/// The first turn, knowing the bot's webhook: the one a later handoff removes.
fn first_turn(job: &HandoverJob, webhook: Option<WebhookSid>) -> Option<MessageJob> {
    job.handover.first_turn.then(|| {
        let mut first = job.turn.clone();
        first.message.webhook = webhook;
        first
    })
}

impl Worker {
    /// The claimed swap: list, remove Studio's webhooks, attach the bot's.
    pub(super) async fn swap(
        &self,
        run: &mut Run<'_>,
        job: &HandoverJob,
        memory: Memory,
    ) -> Result<Done, StepError> {
        let wanted = bot_webhook(&job.handover);
        let plan = plan_swap(&self.list_webhooks(run).await?, &wanted);
        let conversation = run.conversation().clone();
        for studio in &plan.remove {
            let removed = self
                .conversations
                .remove_webhook(&conversation, studio, run.deadline);
            timed(&mut run.trace.twilio, removed)
                .await
                .map_err(|e| (Stage::SwapWebhooks, Cause::from(e)))?;
            run.trace.studio_webhooks_removed += 1;
        }
        let webhook = match plan.existing {
            Some(existing) => existing,
            None => {
                let created = self
                    .conversations
                    .create_webhook(&conversation, &wanted, run.deadline);
                let created = timed(&mut run.trace.twilio, created)
                    .await
                    .map_err(|e| (Stage::SwapWebhooks, Cause::from(e)))?;
                run.trace.bot_webhook_created = true;
                created
            }
        };
        tracing::info!(
            removed = run.trace.studio_webhooks_removed,
            created = run.trace.bot_webhook_created,
            webhook = %webhook,
            "studio webhooks replaced by the bot's"
        );
        let then = first_turn(job, Some(webhook));
        if then.is_none() {
            tracing::info!("studio handed over; no text for a first turn");
        }
        Ok(Done {
            outcome: Outcome::BotAttached,
            memory,
            status: Status::Bot,
            then,
        })
    }

    /// A repeat of a handover already done: only reads, to name the bot's webhook for a first
    /// turn that may still have to run.
    pub(super) async fn repeated_handover(
        &self,
        run: &mut Run<'_>,
        job: &HandoverJob,
    ) -> Result<Option<MessageJob>, StepError> {
        if !job.handover.first_turn {
            return Ok(None);
        }
        let attached = self.list_webhooks(run).await?;
        let existing = plan_swap(&attached, &bot_webhook(&job.handover)).existing;
        Ok(first_turn(job, existing))
    }

    async fn list_webhooks(&self, run: &mut Run<'_>) -> Result<Vec<ScopedWebhook>, StepError> {
        let listed = self
            .conversations
            .list_webhooks(run.conversation(), run.deadline);
        timed(&mut run.trace.twilio, listed)
            .await
            .map_err(|e| (Stage::SwapWebhooks, Cause::from(e)))
    }
}
