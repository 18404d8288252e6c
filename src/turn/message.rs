//! A customer's message: ask the bot (unless its answer is recorded) → decide with the
//! conversation's memory → record the answer → post the replies → wait, close or hand off →
//! set or extend the timers. The pipeline claims before and finishes after. Decisions are the
//! domain's (`domain::policy`); I/O goes through the ports.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::context::{Run, StepError, Worker, timed_state, timed_twilio};
use super::handoff::{HandoffInput, Interaction};
use super::pipeline::Done;
use super::replies::Destination;
use crate::domain::bot::{BotRequest, BotTurn, cap_text};
use crate::domain::clock::epoch_secs;
use crate::domain::conversation::{Memory, Progress, Status};
use crate::domain::customer::channel_hint;
use crate::domain::ids::BotRef;
use crate::domain::job::{MessageJob, Route};
use crate::domain::message::MessageAdded;
use crate::domain::plan::{Action, Plan, Reason};
use crate::domain::policy::{decide, plan_bot_error, plan_media_only, plan_unroutable};
use crate::domain::render::{choice_in, choice_number};
use crate::domain::timers::{TimerStep, TimersState};
use crate::outcome::{Outcome, Stage};
use crate::ports::conversations::TwilioError;

/// How many of the latest messages are searched for the card a numbered reply answers.
const CHOICE_LOOKBACK: u32 = 10;

/// Twilio's code for a write to a closed conversation.
const CONVERSATION_CLOSED: u32 = 50377;

/// What the turn will do, fixed once the bot answered (or could not) and recorded, so a
/// resumed turn does the same.
struct Decided {
    plan: Plan,
    turn: Option<BotTurn>,
    /// The message is older than one already handled in its conversation.
    late: bool,
    interaction: Interaction,
}

/// What asking produced: the bot's turn, or a plan made without one.
enum Answer {
    Bot(BotTurn),
    Without(Plan),
}

/// What the customer's reply stands for when it may answer a card.
#[derive(Debug, PartialEq, Eq)]
enum Choice<'a> {
    /// A button of the last card, by title or number: the bot gets its value.
    Value(&'a str),
    /// A bare number, and the memory cannot tell what the bot last offered (a conversation
    /// whose turns ran before the memory kept cards): the conversation is read.
    LookUp(usize),
    /// Anything else goes to the bot as typed.
    AsTyped,
}

fn choice<'a>(memory: &'a Memory, text: &str) -> Choice<'a> {
    if let Some(value) = memory.dialog.choice_for(text) {
        return Choice::Value(value);
    }
    match choice_number(text) {
        Some(n) if memory.dialog.turns == 0 && memory.turns > 0 => Choice::LookUp(n),
        _ => Choice::AsTyped,
    }
}

impl Worker {
    /// The message's work between the claim and the finish: the memory and status to store.
    pub(super) async fn answer_message(
        &self,
        run: &mut Run<'_>,
        job: &MessageJob,
        mut memory: Memory,
        progress: Progress,
    ) -> Result<Done, StepError> {
        let message = &job.message;
        let decided = self.decided(run, &mut memory, progress).await?;
        run.trace.late = decided.late;
        if decided.late {
            tracing::warn!(
                index = message.index,
                last_index = memory.last_index,
                "late message: older than one already handled; answered anyway"
            );
        }
        if let Some(turn) = &decided.turn {
            run.trace.intent = turn.intent.as_ref().map(|i| i.name.clone());
        }

        let bot = match &job.route {
            Route::Bot(bot) => Some(bot),
            Route::Unroutable(_) => None,
        };
        let destination = Destination {
            channel: channel_hint(&message.author),
            locale: bot.map_or(&self.behaviour.default_locale, |b| &b.locale),
        };
        self.post_replies(run, &decided.plan.messages, &destination)
            .await?;

        memory.turns += 1;
        memory.just_back = false;
        // For the dashboard: the bot took the conversation; this turn's fallback and confidence.
        run.trace.first_turn = memory.turns == 1;
        if decided.turn.is_some() {
            run.trace.fallback = memory.dialog.fallback_streak > 0;
            run.trace.low_confidence = memory.dialog.low_confidence_streak > 0;
        }
        let plan = &decided.plan;
        let (outcome, status) = match &plan.action {
            Action::Wait => (Outcome::Replied, Status::Bot),
            Action::Close(reason) => {
                self.close(run).await?;
                (Outcome::Closed(reason.clone()), Status::Closed)
            }
            Action::Handoff(reason) => {
                let episode = self
                    .hand_off(
                        run,
                        HandoffInput {
                            plan,
                            bot,
                            turn: decided.turn.as_ref(),
                            late: decided.late,
                            memory: &memory,
                            reason,
                            requested: decided.interaction.clone(),
                        },
                    )
                    .await?;
                memory.agent = episode;
                (Outcome::HandedOff(reason.clone()), Status::HandedOff)
            }
        };
        if let Some(step) = self.behaviour.timers.step(memory.timers, &plan.action) {
            self.apply_timers(run, &step, &mut memory).await;
        }

        memory.updated_at = epoch_secs();
        if let Some(index) = message.index {
            memory.last_index = Some(memory.last_index.map_or(index, |last| last.max(index)));
        }
        Ok(Done {
            outcome,
            memory,
            status,
            then: None,
            history_through: None,
        })
    }

    /// The plan: asked and recorded now, or as an earlier delivery recorded it (the memory is
    /// then the one from before this turn, since the finish did not happen, so observing the
    /// recorded turn again gives the same memory).
    async fn decided(
        &self,
        run: &mut Run<'_>,
        memory: &mut Memory,
        progress: Progress,
    ) -> Result<Decided, StepError> {
        let interaction = Interaction::of(&progress);
        match progress {
            Progress::Claimed => {}
            Progress::Answered { plan, turn, late }
            | Progress::HandingOff {
                plan, turn, late, ..
            } => {
                self.observe_again(turn.as_ref(), memory);
                return Ok(Decided {
                    plan,
                    turn,
                    late,
                    interaction,
                });
            }
        }
        let message = &run.turn.message;
        let late = message
            .index
            .zip(memory.last_index)
            .is_some_and(|(index, last)| index < last);
        let answer = self.answer(run, memory).await;
        run.acted = true;
        let (plan, turn) = match answer {
            Answer::Bot(turn) => (self.plan_and_log(&turn, memory), Some(turn)),
            Answer::Without(plan) => {
                forget_choices(memory);
                (plan, None)
            }
        };
        let answered = Progress::Answered {
            plan: plan.clone(),
            turn: turn.clone(),
            late,
        };
        self.record(run, &answered, terminal_status(&plan.action))
            .await?;
        Ok(Decided {
            plan,
            turn,
            late,
            interaction,
        })
    }

    /// Observes the bot's turn into the memory, plans it with the escalation rules (the pure
    /// `policy::decide`), and logs what an operator must hear about: a rule that fired, a
    /// sentiment rule the bot cannot feed.
    fn plan_and_log(&self, turn: &BotTurn, memory: &mut Memory) -> Plan {
        let decision = decide(turn, &mut memory.dialog, &self.behaviour);
        if decision.observed.sentiment_missing
            && !self.sentiment_warned.swap(true, Ordering::Relaxed)
        {
            tracing::warn!(
                "HANDOFF_ON_NEGATIVE_SENTIMENT is on but the bot sends no sentiment: turn on \
                 sentiment analysis on the bot alias, or the rule never fires"
            );
        }
        if let Action::Handoff(Reason::Escalation(rule)) = &decision.plan.action {
            tracing::info!(
                reason = %Reason::Escalation(rule.clone()),
                detail = %rule.describe(),
                "escalation rule fired"
            );
        }
        decision.plan
    }

    fn observe_again(&self, turn: Option<&BotTurn>, memory: &mut Memory) {
        match turn {
            Some(turn) => {
                memory.dialog.observe(turn, &self.behaviour.escalation);
            }
            None => forget_choices(memory),
        }
    }

    /// Sets the timers, or extends them at handoff. A failure is logged, not the turn's: the
    /// customer already has the replies (or the Interaction exists), and a conversation without
    /// timers is what Twilio does by default. The state is only moved on when Twilio took the
    /// update, so the bot's next turn tries again; after a handoff there is none, and the log
    /// says the bot's timers are still running.
    async fn apply_timers(&self, run: &mut Run<'_>, step: &TimerStep, memory: &mut Memory) {
        let result = timed_twilio(
            &mut run.trace,
            self.conversations.set_timers(
                &run.turn.message.conversation,
                &step.update,
                run.deadline,
            ),
        )
        .await;
        match result {
            Ok(()) => {
                memory.timers = step.then;
                run.trace.timers = Some(step.then);
            }
            Err(error) if step.then == TimersState::Extended => tracing::warn!(
                %error,
                "conversation timers not extended at handoff; the bot's timers keep running"
            ),
            Err(error) => {
                tracing::warn!(%error, "conversation timers not updated; the next turn tries again")
            }
        }
    }

    /// The bot's answer for this message, or the plan for a message it cannot get.
    async fn answer(&self, run: &mut Run<'_>, memory: &Memory) -> Answer {
        let message = &run.turn.message;
        let text = message.body.trim();
        if text.is_empty() {
            return Answer::Without(plan_media_only(&self.behaviour));
        }
        let bot = match &run.turn.route {
            Route::Bot(bot) => bot,
            Route::Unroutable(why) => {
                tracing::warn!(reason = %why, "the webhook URL names no usable bot");
                run.trace.lex_error = Some(why.clone());
                return Answer::Without(plan_unroutable(&self.behaviour));
            }
        };
        let chosen = match choice(memory, text) {
            Choice::Value(value) => Some(value.to_owned()),
            Choice::LookUp(n) => self.choice_text(run, n).await,
            Choice::AsTyped => None,
        };
        run.trace.choice_mapped = chosen.is_some();
        let text = chosen.as_deref().unwrap_or(text);
        let capped = cap_text(text);
        run.trace.text_truncated = capped.len() < text.len();
        let mut request = bot_request(bot, message, capped);
        if memory.just_back {
            // The first message since the bot took the conversation back from an agent.
            request
                .request_attributes
                .insert("flexlex_after_agent".to_owned(), "true".to_owned());
            request.request_attributes.insert(
                "flexlex_agent_episodes".to_owned(),
                memory.back_from_agent.to_string(),
            );
        }
        let started = Instant::now();
        let result = self.bot.recognize_text(&request, run.deadline).await;
        run.trace.lex += started.elapsed();
        match result {
            Ok(turn) => Answer::Bot(turn),
            Err(e) => {
                tracing::warn!(error = %e, "bot failed; applying ON_BOT_ERROR");
                run.trace.lex_error = Some(e.code().to_owned());
                Answer::Without(plan_bot_error(&e, &self.behaviour))
            }
        }
    }

    /// A bare number answering a card the bot posted before the memory kept cards stands for
    /// that choice's text, found in the conversation's latest messages (one read).
    async fn choice_text(&self, run: &mut Run<'_>, n: usize) -> Option<String> {
        let message = &run.turn.message;
        let recent = timed_twilio(
            &mut run.trace,
            self.conversations.recent_messages(
                &message.conversation,
                CHOICE_LOOKBACK,
                run.deadline,
            ),
        )
        .await;
        let recent = match recent {
            Ok(recent) => recent,
            Err(e) => {
                tracing::warn!(error = %e, "recent messages unavailable; the number goes to the bot as typed");
                return None;
            }
        };
        let bot = self.behaviour.bot_author.as_str();
        recent
            .iter()
            // This message itself, when Twilio already lists it.
            .filter(|m| message.index.is_none_or(|index| m.index < index))
            .skip_while(|m| message.index.is_none() && m.author == message.author)
            // Only the bot's messages since the customer last wrote.
            .take_while(|m| m.author == bot)
            .find_map(|m| choice_in(&m.body, n))
            .map(str::to_owned)
    }

    async fn close(&self, run: &mut Run<'_>) -> Result<(), StepError> {
        let conversation = &run.turn.message.conversation;
        let result = timed_twilio(
            &mut run.trace,
            self.conversations.close(conversation, run.deadline),
        )
        .await;
        match result {
            Ok(()) => Ok(()),
            // A resumed turn whose close went through before: the conversation is closed.
            Err(TwilioError::Rejected {
                code: Some(CONVERSATION_CLOSED),
                ..
            }) if run.trace.resumed => Ok(()),
            Err(e) => Err((Stage::Close, e.into())),
        }
    }

    /// Records the turn's progress and, when the plan ends the bot's part, the new status, so
    /// later messages are not answered while the handoff or close is under way.
    pub(super) async fn record(
        &self,
        run: &mut Run<'_>,
        progress: &Progress,
        status: Option<Status>,
    ) -> Result<(), StepError> {
        let recorded = self.store.record(
            run.conversation(),
            run.key(),
            progress,
            status,
            epoch_secs(),
        );
        timed_state(&mut run.trace, recorded)
            .await
            .map_err(|e| (Stage::Record, e.into()))
    }
}

/// The status a plan's action leaves the conversation in once it is decided: later messages
/// must not be answered while the handoff or close is under way.
fn terminal_status(action: &Action) -> Option<Status> {
    match action {
        Action::Wait => None,
        Action::Close(_) => Some(Status::Closed),
        Action::Handoff(_) => Some(Status::HandedOff),
    }
}

/// A turn without the bot's answer posted no card: nothing the customer writes next picks one.
fn forget_choices(memory: &mut Memory) {
    memory.dialog.choices.clear();
}

fn bot_request(bot: &BotRef, message: &MessageAdded, text: &str) -> BotRequest {
    let mut request_attributes = BTreeMap::new();
    request_attributes.insert(
        "flexlex_channel".to_owned(),
        channel_hint(&message.author).as_str().to_owned(),
    );
    if let Some(source) = &message.source {
        request_attributes.insert("flexlex_source".to_owned(), source.clone());
    }
    BotRequest {
        bot: bot.clone(),
        session_id: message.conversation.to_string(),
        text: text.to_owned(),
        request_attributes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::domain::bot::BotMessage;
    use crate::domain::escalation_rules::EscalationRules;
    use crate::testing::card;

    fn with_card() -> Memory {
        let mut memory = Memory {
            turns: 1,
            ..Memory::default()
        };
        memory.dialog.observe(
            &BotTurn {
                messages: vec![BotMessage::Card(card("Pick", &["Roses", "Lilies"]))],
                ..BotTurn::default()
            },
            &EscalationRules::default(),
        );
        memory
    }

    #[test]
    fn a_reply_to_a_card_is_read_from_the_memory() {
        let memory = with_card();
        assert_eq!(choice(&memory, "2"), Choice::Value("lilies"));
        assert_eq!(choice(&memory, " roses "), Choice::Value("roses"));
        assert_eq!(choice(&memory, "3"), Choice::AsTyped);
        assert_eq!(choice(&memory, "tulips"), Choice::AsTyped);
    }

    #[test]
    fn the_conversation_is_read_only_when_the_memory_cannot_tell() {
        // Turns handled before the memory kept cards: a bare number is looked up.
        let legacy = Memory {
            turns: 3,
            ..Memory::default()
        };
        assert_eq!(choice(&legacy, "2"), Choice::LookUp(2));
        assert_eq!(choice(&legacy, "roses"), Choice::AsTyped);
        // A first message, or a bot that posted no card last: as typed, no read.
        assert_eq!(choice(&Memory::default(), "2"), Choice::AsTyped);
        let mut moved_on = with_card();
        moved_on
            .dialog
            .observe(&BotTurn::default(), &EscalationRules::default());
        assert_eq!(choice(&moved_on, "2"), Choice::AsTyped);
        let mut failed = with_card();
        forget_choices(&mut failed);
        assert_eq!(choice(&failed, "2"), Choice::AsTyped);
    }
}
