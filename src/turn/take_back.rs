//! The turn side of a take-back (agent → bot): the Interactions event was only a doorbell, so
//! the conversation's state, the interaction channel and who is in it are read back from
//! Twilio first; only when the conversation is open, the channel neither paused nor being
//! transferred and nobody but the customer remains does the bot take over again — its
//! webhook attached again (listed first: never twice), a new bot episode in the memory (Lex is
//! told on the next message), `AFTER_AGENT_MESSAGE` posted when set. The pipeline claims the
//! job under the event's key and finishes it, so a repeated or late event changes nothing.

use super::context::{Run, StepError, Worker, timed_twilio};
use super::pipeline::Done;
use super::replies::Destination;
use crate::domain::after_agent::{AgentTruth, Stay, may_take_back};
use crate::domain::conversation::{Memory, Status};
use crate::domain::customer::channel_hint;
use crate::domain::job::{BOT_FILTERS, TakeBackJob};
use crate::domain::plan::Reply;
use crate::domain::timers::TimersState;
use crate::outcome::{Cause, Ignored, Outcome, Stage};
use crate::ports::conversations::NewWebhook;

impl Worker {
    /// The claimed take-back: the memory and status to store.
    pub(super) async fn take_back(
        &self,
        run: &mut Run<'_>,
        job: &TakeBackJob,
        mut memory: Memory,
        status: Status,
    ) -> Result<Done, StepError> {
        let stays = |why: Stay, memory: Memory, status: Status| {
            tracing::info!(reason = why.as_str(), event = %job.take_back.event, "the conversation stays where it is");
            Ok(Done {
                outcome: Outcome::Ignored(Ignored::StaysWithAgent(why)),
                memory,
                status,
                then: None,
                history_through: None,
            })
        };
        let Some(settings) = self.behaviour.after_agent.settings() else {
            return stays(Stay::NotConfigured, memory, status);
        };
        let Some(episode) = memory.agent.clone() else {
            return stays(Stay::OtherInteraction, memory, status);
        };
        if status != Status::HandedOff || episode.interaction != job.take_back.interaction {
            let why = may_take_back(
                status,
                Some(&episode),
                &job.take_back.interaction,
                &AgentTruth {
                    conversation_state: None,
                    channel_status: None,
                    others_present: 0,
                },
            )
            .err()
            .unwrap_or(Stay::WithTheBot);
            return stays(why, memory, status);
        }

        // The truth, from Twilio: two reads of the channel, one of the conversation, at once.
        let conversation = run.conversation();
        run.trace.twilio_round_trips += 2;
        let (info, channel) = timed_twilio(&mut run.trace, async {
            futures::join!(
                self.conversations
                    .fetch_conversation(conversation, run.deadline),
                self.conversations.interaction_channel(
                    &episode.interaction,
                    &episode.channel,
                    run.deadline
                ),
            )
        })
        .await;
        let info = info.map_err(|e| (Stage::TakeBack, Cause::from(e)))?;
        let channel = channel.map_err(|e| (Stage::TakeBack, Cause::from(e)))?;
        let truth = AgentTruth {
            conversation_state: info.state.clone(),
            channel_status: channel.status.clone(),
            others_present: channel.others_present(),
        };
        if let Err(why) = may_take_back(status, Some(&episode), &job.take_back.interaction, &truth)
        {
            // Closed in Twilio: nothing will happen in this conversation again.
            let status = if why == Stay::Closed {
                Status::Closed
            } else {
                status
            };
            return stays(why, memory, status);
        }

        // The bot's webhook again, unless an identical one is there (a repeat of this job).
        let Some(url) = episode.bot_webhook_url.clone() else {
            tracing::error!("the bot's webhook URL was not kept at handoff; the conversation stays with Flex");
            return stays(Stay::NotConfigured, memory, status);
        };
        let wanted = NewWebhook {
            url,
            filters: BOT_FILTERS.iter().map(|f| (*f).to_owned()).collect(),
        };
        let listing = self
            .conversations
            .list_webhooks(conversation, run.deadline);
        let attached = timed_twilio(&mut run.trace, listing)
            .await
            .map_err(|e| (Stage::TakeBack, Cause::from(e)))?;
        if !attached.iter().any(|w| wanted.matches(w)) {
            let creating = self
                .conversations
                .create_webhook(conversation, &wanted, run.deadline);
            timed_twilio(&mut run.trace, creating)
                .await
                .map_err(|e| (Stage::TakeBack, Cause::from(e)))?;
            run.trace.bot_webhook_created = true;
        }
        run.acted = true;

        memory.back_from_agent += 1;
        memory.just_back = true;
        memory.dialog.new_episode();
        // The agent's long timers give way to the bot's again on its next turn.
        memory.timers = TimersState::Untouched;
        if let Some(text) = &settings.message {
            // Text: it reads the same on every channel.
            let destination = Destination {
                channel: channel_hint(""),
                locale: &self.behaviour.default_locale,
            };
            self.post_replies(run, &[Reply::from(text.as_str())], &destination)
                .await?;
        }
        tracing::info!(
            interaction = %episode.interaction,
            episodes = memory.back_from_agent,
            "the agent is done; the bot has the conversation again"
        );
        Ok(Done {
            outcome: Outcome::TakenBack,
            memory,
            status: Status::Bot,
            then: None,
            history_through: None,
        })
    }
}
