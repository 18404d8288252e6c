//! Answering in Twilio's order. Intake instances race, so a burst's later message can reach
//! the queue first, and a webhook can be lost altogether; the conversation itself is the
//! truth. When a message's Index is past the next one the ledger expects, its turn first reads
//! the gap from Twilio (one list call, newest first, a page just big enough) and runs every
//! customer message in it not answered yet, in Index order, each as a full turn with its own
//! claim, under this job's hold. Other messages of the gap (the bot's, `IGNORE_AUTHORS`,
//! empty ones) are accounted for without the bot. Nothing runs once a turn hands off or
//! closes. When their own webhooks arrive later, those messages are duplicates.
//!
//! The catch-up never reaches back past [`MAX_LOOKBACK`] messages before the one at hand, nor
//! to messages written more than [`MAX_AGE_SECS`] before it: a burst is seconds, and a
//! conversation that existed before the bot was attached is history, never answered
//! retroactively. (A Studio handover marks everything before it as history too.)

use std::ops::RangeInclusive;

use super::context::{Run, StepError, timed_twilio};
use super::pipeline::{Pipeline, add_counts};
use crate::domain::behaviour::Behaviour;
use crate::domain::conversation::{Snapshot, Status, TurnKey};
use crate::domain::job::{Job, MessageJob};
use crate::domain::message::{Media, MessageAdded};
use crate::outcome::{Cause, Ignored, Outcome, Stage};
use crate::ports::conversations::PostedMessage;

/// How many messages before the one at hand a catch-up may answer.
pub const MAX_LOOKBACK: u64 = 20;

/// How much older than the message at hand a message a catch-up answers may be (10 minutes).
pub const MAX_AGE_SECS: u64 = 600;

/// What a catch-up does with one Index of the gap.
#[derive(Debug, Clone, PartialEq)]
pub enum GapStep<'a> {
    /// A customer's message not answered yet: a full turn.
    Answer(&'a PostedMessage),
    /// Accounted for without the bot, and why.
    Account(u64, Skip),
}

/// Why a message of the gap does not go to the bot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// The bot's, or an author in `IGNORE_AUTHORS`, or neither text nor media.
    NotForTheBot,
    /// Older than the bounds: the conversation's history.
    History,
    /// Not in Twilio's listing (deleted).
    Gone,
}

impl Skip {
    fn as_str(self) -> &'static str {
        match self {
            Self::NotForTheBot => "not_for_the_bot",
            Self::History => "history",
            Self::Gone => "gone",
        }
    }
}

/// The part of the gap before `at_hand` a catch-up may answer: at most [`MAX_LOOKBACK`]
/// messages back. Whatever lies before it is history.
pub fn within_reach(gap: &RangeInclusive<u64>) -> RangeInclusive<u64> {
    let at_hand = gap.end() + 1;
    (*gap.start()).max(at_hand.saturating_sub(MAX_LOOKBACK))..=*gap.end()
}

/// Plans the catch-up over `span`, the part of the gap within reach (pure): `listed` are the
/// messages Twilio listed, oldest first; `at_hand_created` is when the message at hand was
/// written.
pub fn plan_gap<'a>(
    behaviour: &Behaviour,
    span: RangeInclusive<u64>,
    listed: &'a [PostedMessage],
    at_hand_created: Option<u64>,
) -> Vec<GapStep<'a>> {
    span.map(|index| {
        let Some(message) = listed.iter().find(|m| m.index == index) else {
            return GapStep::Account(index, Skip::Gone);
        };
        let too_old = at_hand_created
            .zip(message.created)
            .is_some_and(|(at_hand, created)| created + MAX_AGE_SECS < at_hand);
        if too_old {
            return GapStep::Account(index, Skip::History);
        }
        match behaviour.screen(&message.author, &message.body, message.has_media) {
            Ok(()) => GapStep::Answer(message),
            Err(_) => GapStep::Account(index, Skip::NotForTheBot),
        }
    })
    .collect()
}

/// The message a webhook would have carried, from Twilio's listing and the message at hand
/// (same conversation, same bot webhook).
fn as_webhook(listed: &PostedMessage, at_hand: &MessageAdded) -> Option<MessageAdded> {
    Some(MessageAdded {
        account: at_hand.account.clone(),
        conversation: at_hand.conversation.clone(),
        message: listed.sid.clone()?,
        author: listed.author.clone(),
        body: listed.body.clone(),
        participant: listed.participant.clone(),
        webhook: at_hand.webhook.clone(),
        source: at_hand.source.clone(),
        client_identity: None,
        media: if listed.has_media {
            vec![Media::default()]
        } else {
            Vec::new()
        },
        index: Some(listed.index),
        attributes: listed.attributes.clone(),
    })
}

impl Pipeline {
    /// Runs the customer's messages before this one that are not answered yet, in Index order;
    /// the conversation as they leave it. Nothing when the message follows the ledger's mark.
    pub(super) async fn catch_up(
        &self,
        run: &mut Run<'_>,
        job: &MessageJob,
        mut state: Snapshot,
    ) -> Result<Snapshot, StepError> {
        let Some(index) = run.claim.index else {
            return Ok(state);
        };
        let Some(gap) = state.ledger.gap_before(index) else {
            return Ok(state);
        };
        let span = within_reach(&gap);
        if span.start() > gap.start() {
            let before = span.start() - 1;
            tracing::info!(
                from = gap.start(),
                to = before,
                "messages too far back are history; accounted for, not answered"
            );
            run.trace.gap_skipped += u32::try_from(before - gap.start() + 1).unwrap_or(u32::MAX);
            state.ledger.account_through(before);
        }
        let listing = self.worker.conversations.messages_between(
            run.conversation(),
            *span.start(),
            index,
            run.deadline,
        );
        let listed = timed_twilio(&mut run.trace, listing)
            .await
            .map_err(|e| (Stage::CatchUp, Cause::from(e)))?;
        let at_hand_created = listed
            .iter()
            .find(|m| m.index == index)
            .and_then(|m| m.created);
        tracing::info!(
            from = span.start(),
            to = span.end(),
            listed = listed.len(),
            "messages before this one are not answered yet; catching up in Twilio's order"
        );
        for step in plan_gap(&self.worker.behaviour, span, &listed, at_hand_created) {
            if state.status != Status::Bot {
                break;
            }
            match step {
                GapStep::Account(skipped, why) => {
                    if !state.ledger.covers(skipped) {
                        tracing::debug!(index = skipped, why = why.as_str(), "accounted for");
                        run.trace.gap_skipped += 1;
                    }
                    state.ledger.account(skipped);
                }
                GapStep::Answer(listed) if state.ledger.covers(listed.index) => {}
                GapStep::Answer(listed) => {
                    let Some(message) = as_webhook(listed, &job.message) else {
                        run.trace.gap_skipped += 1;
                        state.ledger.account(listed.index);
                        continue;
                    };
                    state = self.earlier_turn(run, job, message, state).await?;
                }
            }
        }
        if state.status == Status::Bot {
            state.ledger.account_through(index - 1);
        }
        Ok(state)
    }

    /// One customer message of the gap, as a full turn under this job's hold.
    async fn earlier_turn(
        &self,
        run: &mut Run<'_>,
        at_hand: &MessageJob,
        message: MessageAdded,
        state: Snapshot,
    ) -> Result<Snapshot, StepError> {
        let index = message.index;
        let earlier = Job::Message(MessageJob {
            message,
            route: at_hand.route.clone(),
            request_id: at_hand.request_id.clone(),
        });
        let key = TurnKey {
            key: earlier.key(),
            index,
            holder: run.claim.holder,
            from_agent: false,
        };
        let mut inner = super::context::Run::new(earlier.turn(), key, run.deadline);
        inner.lease = run.lease;
        let ended = Box::pin(self.attempt(&earlier, &mut inner, Some(state.clone()))).await;
        add_counts(&mut run.trace, &inner.trace);
        run.acted |= inner.acted;
        tracing::info!(
            caught_up = %earlier.key(),
            index,
            outcome = %ended.outcome,
            intent = inner.trace.intent.as_deref(),
            "an earlier message answered first"
        );
        let outcome = match ended.outcome {
            Outcome::Failed(failure) => return Err((failure.stage, failure.cause)),
            outcome => outcome,
        };
        run.trace.caught_up += 1;
        let mut state = match ended.state {
            Some(after) => return Ok(after),
            None => state,
        };
        // Ended at the claim: the conversation moved on, or the message was answered.
        match outcome {
            Outcome::Ignored(Ignored::HandedOff) => state.status = Status::HandedOff,
            Outcome::Ignored(Ignored::Closed) => state.status = Status::Closed,
            _ => {
                if let Some(index) = index {
                    state.ledger.account(index);
                }
            }
        }
        Ok(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(index: u64, author: &str, body: &str, created: u64) -> PostedMessage {
        PostedMessage {
            sid: Some(format!("IM{index:032x}").parse().unwrap()),
            index,
            author: author.into(),
            body: body.into(),
            created: Some(created),
            ..PostedMessage::default()
        }
    }

    #[test]
    fn customer_messages_are_answered_and_the_rest_accounted_for() {
        let behaviour = crate::testing::config(&[("IGNORE_AUTHORS", "supervisor")]).behaviour;
        let messages = [
            listed(3, "+15551234567", "roses", 1_000),
            listed(4, "Lex", "What kind?", 1_001),
            listed(5, "supervisor", "note", 1_002),
            listed(7, "+15551234567", "   ", 1_003),
            listed(8, "+15551234567", "tomorrow", 1_004),
        ];
        let steps = plan_gap(&behaviour, 3..=8, &messages, Some(1_005));
        assert_eq!(
            steps,
            [
                GapStep::Answer(&messages[0]),
                GapStep::Account(4, Skip::NotForTheBot),
                GapStep::Account(5, Skip::NotForTheBot),
                GapStep::Account(6, Skip::Gone),
                GapStep::Account(7, Skip::NotForTheBot),
                GapStep::Answer(&messages[4]),
            ]
        );
    }

    #[test]
    fn history_is_never_answered() {
        let behaviour = crate::testing::config(&[]).behaviour;
        // Too old: written more than ten minutes before the message at hand.
        let messages = [
            listed(40, "+15551234567", "old", 10_000),
            listed(41, "+15551234567", "recent", 10_000 + 1_000),
        ];
        // Too far back: more than twenty messages before the one at hand (42).
        let span = within_reach(&(0..=41));
        assert_eq!(span, 22..=41);
        assert_eq!(within_reach(&(30..=41)), 30..=41);
        assert_eq!(within_reach(&(0..=1_000_000)), 999_981..=1_000_000);
        let steps = plan_gap(&behaviour, span, &messages, Some(10_000 + 1_200));
        assert_eq!(steps.len(), 20);
        assert!(
            steps[..18]
                .iter()
                .all(|s| matches!(s, GapStep::Account(_, Skip::Gone)))
        );
        assert_eq!(steps[18], GapStep::Account(40, Skip::History));
        assert_eq!(steps[19], GapStep::Answer(&messages[1]));
    }
}
