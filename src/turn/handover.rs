//! The turn side of a Studio handover (Studio → bot; the bot giving the conversation to an
//! agent is the *handoff*): the flow's webhooks are replaced by the bot's, idempotently (list;
//! delete every `studio` webhook; create the bot's only if no identical one is there). The
//! pipeline claims the swap under its own key and finishes it; the first turn, when the flow
//! passed the customer's text, then runs as a message job. The conversation's messages up to
//! the handover were the flow's: the swap marks them as history in the ledger, so a catch-up
//! never answers them. So a duplicate or replayed request
//! writes nothing to Twilio and asks the bot nothing, and a request replayed after a handoff
//! or close does not bring the bot back.

use super::context::{Run, StepError, Worker, timed_twilio};
use super::pipeline::Done;
use crate::domain::conversation::{Memory, Status};
use crate::domain::ids::WebhookSid;
use crate::domain::job::{BOT_FILTERS, Handover, HandoverJob, MessageJob};
use crate::outcome::{Cause, Outcome, Stage};
use crate::ports::conversations::{NewWebhook, PostedMessage, STUDIO_TARGET, ScopedWebhook};

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

/// Where the bot takes the conversation over: every message up to the newest one when the
/// webhooks are swapped was the flow's (its menus, the customer's answers to them, whatever
/// reached the flow's webhook meanwhile). The first turn is answered by its key, not its Index,
/// since the flow may name a message older than the newest.
pub fn history_before(newest: &[PostedMessage]) -> Option<u64> {
    newest.iter().map(|m| m.index).max()
}

/// The first turn, knowing the bot's webhook: the one a later handoff removes.
fn first_turn(job: &HandoverJob, webhook: Option<WebhookSid>) -> Option<MessageJob> {
    job.handover.first_turn.then(|| {
        let mut first = job.turn.clone();
        first.message.webhook = webhook;
        first.message.index = None;
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
        let history = self.newest_index(run, Stage::SwapWebhooks).await?;
        let conversation = run.conversation().clone();
        for studio in &plan.remove {
            let removed = self
                .conversations
                .remove_webhook(&conversation, studio, run.deadline);
            timed_twilio(&mut run.trace, removed)
                .await
                .map_err(|e| (Stage::SwapWebhooks, Cause::from(e)))?;
            run.trace.studio_webhooks_removed += 1;
        }
        let webhook = match plan.existing {
            Some(existing) => existing,
            None => {
                let created =
                    self.conversations
                        .create_webhook(&conversation, &wanted, run.deadline);
                let created = timed_twilio(&mut run.trace, created)
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
            history_through: history,
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

    /// The Index of the conversation's newest message (one read): where the bot takes over
    /// after a Studio flow or an agent, so everything up to it is history. `stage` names the
    /// step a failure belongs to.
    pub(super) async fn newest_index(
        &self,
        run: &mut Run<'_>,
        stage: Stage,
    ) -> Result<Option<u64>, StepError> {
        let newest = self
            .conversations
            .recent_messages(run.conversation(), 1, run.deadline);
        let newest = timed_twilio(&mut run.trace, newest)
            .await
            .map_err(|e| (stage, Cause::from(e)))?;
        Ok(history_before(&newest))
    }

    async fn list_webhooks(&self, run: &mut Run<'_>) -> Result<Vec<ScopedWebhook>, StepError> {
        let listed = self
            .conversations
            .list_webhooks(run.conversation(), run.deadline);
        timed_twilio(&mut run.trace, listed)
            .await
            .map_err(|e| (Stage::SwapWebhooks, Cause::from(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::conversations::WEBHOOK_TARGET;

    const BASE: &str = "https://abc123.execute-api.us-east-1.amazonaws.com/prod/webhook";
    const STUDIO_WH: &str = "WH5555555555abcdef0123456789abcdef";
    const FLOW: &str = "FW0123456789abcdef0123456789abcdef";

    fn url() -> String {
        format!("{BASE}?BotId=FLWRSDEMO1&BotAliasId=TSTALIASID")
    }

    fn studio_webhook() -> ScopedWebhook {
        crate::testing::studio_webhook(STUDIO_WH, FLOW)
    }

    #[test]
    fn the_swap_removes_every_studio_webhook_and_reuses_an_identical_bot_webhook() {
        let wanted = NewWebhook {
            url: url(),
            filters: vec!["onMessageAdded".into()],
        };
        let bot = |sid: &str, method: &str, filters: &[&str], url: &str| ScopedWebhook {
            sid: Some(WebhookSid::parse(sid).unwrap()),
            target: WEBHOOK_TARGET.into(),
            url: Some(url.into()),
            method: Some(method.into()),
            filters: filters.iter().map(|f| (*f).to_owned()).collect(),
            flow_sid: None,
        };
        let same = "WH1111111111abcdef0123456789abcdef";
        let plan = plan_swap(
            &[
                studio_webhook(),
                bot(
                    "WH2222222222abcdef0123456789abcdef",
                    "post",
                    &["onMessageAdded"],
                    BASE,
                ),
                bot(
                    "WH3333333333abcdef0123456789abcdef",
                    "get",
                    &["onMessageAdded"],
                    &url(),
                ),
                bot(
                    "WH4444444444abcdef0123456789abcdef",
                    "post",
                    &["onMessageAdded", "onMessageUpdated"],
                    &url(),
                ),
                bot(same, "POST", &["onMessageAdded", "onMessageAdded"], &url()),
                ScopedWebhook {
                    sid: None,
                    ..studio_webhook()
                },
            ],
            &wanted,
        );
        assert_eq!(
            plan,
            SwapPlan {
                remove: vec![WebhookSid::parse(STUDIO_WH).unwrap()],
                existing: Some(WebhookSid::parse(same).unwrap()),
            }
        );
        assert_eq!(plan_swap(&[], &wanted), SwapPlan::default());
    }
}
