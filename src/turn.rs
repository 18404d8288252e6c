//! The turn: one admitted message, handled once and in its conversation's order. Claim the
//! message in the conversation state → ask the bot (unless its answer is recorded) → decide
//! with the conversation's memory → record the answer → post the replies (skipping those Twilio
//! already has; cards as templates where the channel shows buttons) → wait, close or hand off →
//! set or clear the timers → finish, storing the memory. Glue only: decisions are the policy's,
//! I/O goes through the ports.

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::admission::{AdmittedTurn, Route};
use crate::bot::{Bot, BotRequest, BotTurn, Card, cap_text};
use crate::config::Behaviour;
use crate::content::{
    AsText, CardForm, ContentApi, ContentCache, MemoryContentCache, RichCard, RichCardError,
};
use crate::conversations::{ChannelType, ConversationInfo, Conversations, ReplyTag, TwilioError};
use crate::deadline::Deadline;
use crate::escalation::decide_turn;
use crate::handoff::{channel_hint, handoff_attributes, identify_customer, interaction_request};
use crate::ids::{BotRef, InteractionSid, LocaleId};
use crate::message_body::{MAX_BODY_CHARS, split_body};
use crate::outcome::{Cause, Failure, Ignored, Outcome, Replay, Report, Stage, Trace};
use crate::policy::{
    Action, Plan, Reason, Reply, plan_bot_error, plan_media_only, plan_unroutable,
};
use crate::render::{card_to_text, choice_in, choice_number};
use crate::state::{
    BusyTurn, Claim, ConversationStore, Lease, Memory, Progress, Status, StoreError, epoch_secs,
};
use crate::timers::TimerStep;
use crate::webhook::MessageAdded;

/// How many of the latest messages are searched for the card a numbered reply answers.
const CHOICE_LOOKBACK: u32 = 10;

/// How many of the latest messages a resumed turn reads to find the replies already posted.
const RESUME_LOOKBACK: u32 = 50;

/// Twilio's code for a write to a closed conversation.
const CONVERSATION_CLOSED: u32 = 50377;

/// Runs turns. Built once per cold start and shared by every invocation.
pub struct TurnEngine {
    behaviour: Behaviour,
    bot: Arc<dyn Bot>,
    conversations: Arc<dyn Conversations>,
    store: Arc<dyn ConversationStore>,
    cards: Cards,
    /// `HANDOFF_ON_NEGATIVE_SENTIMENT` is on and a conversation showed no sentiment: said once
    /// per process, since every turn of such a bot would say it again.
    sentiment_warned: AtomicBool,
}

/// What rich cards need: the Content API (`None`: numbered text everywhere), the fleet's
/// template cache (the state store), and this instance's copy of it, which makes a card this
/// instance already sent cost no state read.
pub struct Cards {
    api: Option<Arc<dyn ContentApi>>,
    shared: Arc<dyn ContentCache>,
    local: MemoryContentCache,
}

impl Cards {
    pub fn new(api: Option<Arc<dyn ContentApi>>, shared: Arc<dyn ContentCache>) -> Self {
        Self {
            api,
            shared,
            local: MemoryContentCache::default(),
        }
    }
}

/// Where the replies of a turn go, and in which form cards are posted there.
struct Destination<'a> {
    channel: ChannelType,
    locale: &'a LocaleId,
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

/// Where the turn is, for the failure's replay verdict.
struct Run<'a> {
    turn: &'a AdmittedTurn,
    deadline: Deadline,
    trace: &'a mut Trace,
    /// An irreversible step happened in this process (the bot answered, a reply was posted).
    acted: bool,
    /// This delivery's claim on the turn; `None` until the claim succeeded.
    lease: Option<Lease>,
}

impl TurnEngine {
    pub fn new(
        behaviour: Behaviour,
        bot: Arc<dyn Bot>,
        conversations: Arc<dyn Conversations>,
        store: Arc<dyn ConversationStore>,
        cards: Cards,
    ) -> Self {
        Self {
            behaviour,
            bot,
            conversations,
            store,
            cards,
            sentiment_warned: AtomicBool::new(false),
        }
    }

    pub fn behaviour(&self) -> &Behaviour {
        &self.behaviour
    }

    /// The Twilio port, for turn kinds handled in their own modules (`studio`).
    pub(crate) fn conversations(&self) -> &dyn Conversations {
        self.conversations.as_ref()
    }

    /// The state port, likewise.
    pub(crate) fn store(&self) -> &dyn ConversationStore {
        self.store.as_ref()
    }

    /// Handles one admitted turn to its outcome. Never panics on input.
    pub async fn run(&self, turn: &AdmittedTurn, deadline: Deadline) -> Report {
        if let Some(handover) = &turn.handover {
            return crate::studio::run(self, turn, handover, deadline).await;
        }
        let started = Instant::now();
        let mut trace = Trace {
            request_id: turn.request_id.clone(),
            conversation: Some(turn.message.conversation.to_string()),
            message: Some(turn.message.message.to_string()),
            ..Trace::default()
        };
        let mut run = Run {
            turn,
            deadline,
            trace: &mut trace,
            acted: false,
            lease: None,
        };
        let outcome = match self.steps(&mut run).await {
            Ok(outcome) => outcome,
            Err((stage, cause)) => {
                if let Some(lease) = run.lease {
                    self.release(&mut run, lease).await;
                }
                let replay = if self.store.durable() || !run.acted {
                    Replay::Safe
                } else {
                    Replay::Unsafe
                };
                Outcome::Failed(Failure {
                    stage,
                    cause,
                    replay,
                })
            }
        };
        Report {
            outcome,
            trace,
            total: started.elapsed(),
        }
    }

    async fn steps(&self, run: &mut Run<'_>) -> Result<Outcome, (Stage, Cause)> {
        let message = &run.turn.message;
        let lease = Lease::until(run.deadline);
        let claim = timed_state(
            run.trace,
            self.store
                .claim(&message.conversation, &message.message, lease),
        )
        .await
        .map_err(|e| (Stage::Claim, e.into()))?;
        if matches!(claim, Claim::Fresh { .. } | Claim::Resume { .. }) {
            run.lease = Some(lease);
        }
        let (mut memory, progress) = match claim {
            Claim::Busy { until_ms, turn } => return Err((Stage::Claim, busy(until_ms, turn))),
            Claim::Duplicate => return Ok(Outcome::Ignored(Ignored::Duplicate)),
            Claim::HandedOff => return Ok(Outcome::Ignored(Ignored::HandedOff)),
            Claim::Closed => return Ok(Outcome::Ignored(Ignored::Closed)),
            Claim::Fresh { memory } => (memory, Progress::Claimed),
            Claim::Resume { memory, progress } => {
                run.trace.resumed = true;
                tracing::info!(
                    stage = stage_name(&progress),
                    "resuming a turn that started before"
                );
                (memory, *progress)
            }
        };

        let (plan, bot_turn, late, interaction) = match progress {
            Progress::Claimed => {
                let late = message
                    .index
                    .zip(memory.last_index)
                    .is_some_and(|(index, last)| index < last);
                let answer = self.answer(run, &memory).await;
                run.acted = true;
                let (plan, bot_turn) = match answer {
                    Answer::Bot(turn) => (self.decide(&turn, &mut memory), Some(turn)),
                    Answer::Without(plan) => {
                        forget_choices(&mut memory);
                        (plan, None)
                    }
                };
                let status = terminal_status(&plan.action);
                let answered = Progress::Answered {
                    plan: plan.clone(),
                    turn: bot_turn.clone(),
                    late,
                };
                timed_state(
                    run.trace,
                    self.store.record(
                        &message.conversation,
                        &message.message,
                        &answered,
                        status,
                        epoch_secs(),
                    ),
                )
                .await
                .map_err(|e| (Stage::Record, e.into()))?;
                (plan, bot_turn, late, None)
            }
            // The plan is recorded; the memory is the one from before this turn (the finish
            // did not happen), so observing the recorded turn again gives the same memory.
            Progress::Answered { plan, turn, late } => {
                self.observe_again(turn.as_ref(), &mut memory);
                (plan, turn, late, None)
            }
            Progress::HandingOff {
                plan,
                turn,
                late,
                interaction,
            } => {
                self.observe_again(turn.as_ref(), &mut memory);
                (plan, turn, late, Some(interaction))
            }
        };
        run.trace.late = late;
        if late {
            tracing::warn!(
                index = message.index,
                last_index = memory.last_index,
                "late message: older than one already handled; answered anyway"
            );
        }
        if let Some(turn) = &bot_turn {
            run.trace.intent = turn.intent.as_ref().map(|i| i.name.clone());
        }

        let bot = match &run.turn.route {
            Route::Bot(bot) => Some(bot),
            Route::Unroutable(_) => None,
        };
        let destination = Destination {
            channel: channel_hint(&message.author),
            locale: bot.map_or(&self.behaviour.default_locale, |b| &b.locale),
        };
        self.post_replies(run, &plan.messages, &destination).await?;

        memory.turns += 1;
        let (outcome, status) = match &plan.action {
            Action::Wait => (Outcome::Replied, Status::Bot),
            Action::Close(reason) => {
                self.close(run).await?;
                (Outcome::Closed(reason.clone()), Status::Closed)
            }
            Action::Handoff(reason) => {
                self.hand_off(
                    run,
                    HandoffInput {
                        plan: &plan,
                        bot,
                        turn: bot_turn.as_ref(),
                        late,
                        memory: &memory,
                        reason,
                        requested: interaction,
                    },
                )
                .await?;
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
        timed_state(
            run.trace,
            self.store.finish(
                &message.conversation,
                &message.message,
                &memory,
                status,
                epoch_secs(),
            ),
        )
        .await
        .map_err(|e| (Stage::Finish, e.into()))?;
        Ok(outcome)
    }

    /// Observes the bot's turn into the memory, then plans it with the escalation rules.
    fn decide(&self, turn: &BotTurn, memory: &mut Memory) -> Plan {
        let decision = decide_turn(turn, &mut memory.dialog, &self.behaviour);
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

    /// Sets or clears the timers. A failure is logged, not the turn's: the customer already
    /// has the replies, and a conversation without timers is what Twilio does by default. The
    /// state is only moved on when Twilio took the update, so the next turn tries again.
    async fn apply_timers(&self, run: &mut Run<'_>, step: &TimerStep, memory: &mut Memory) {
        let result = timed(
            &mut run.trace.twilio,
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
        let request = bot_request(bot, message, capped);
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
        let recent = timed(
            &mut run.trace.twilio,
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

    /// Posts the plan's replies in order, each tagged with its part number. A resumed turn
    /// first reads which parts Twilio already has and posts only the others.
    async fn post_replies(
        &self,
        run: &mut Run<'_>,
        replies: &[Reply],
        destination: &Destination<'_>,
    ) -> Result<(), (Stage, Cause)> {
        let posted = if run.trace.resumed && !replies.is_empty() {
            self.posted_pieces(run).await?
        } else {
            HashSet::new()
        };
        for (part, reply) in (0u32..).zip(replies) {
            match reply {
                Reply::Text(text) => self.post_text(run, text, part, &posted).await?,
                // A card is one message, whichever form it took.
                Reply::Card(_) if posted.contains(&(part, 0)) => run.trace.replies_skipped += 1,
                Reply::Card(card) => self.post_card(run, card, part, destination).await?,
            }
        }
        Ok(())
    }

    /// `text` cut to Twilio's limit, each piece tagged on its own; the pieces in `posted` (a
    /// resumed turn found them in the conversation) are not posted again.
    async fn post_text(
        &self,
        run: &mut Run<'_>,
        text: &str,
        part: u32,
        posted: &HashSet<(u32, u32)>,
    ) -> Result<(), (Stage, Cause)> {
        for (piece, body) in (0u32..).zip(split_body(text, MAX_BODY_CHARS)) {
            if posted.contains(&(part, piece)) {
                run.trace.replies_skipped += 1;
                continue;
            }
            let tag = ReplyTag {
                message: run.turn.message.message.clone(),
                part,
                piece,
            };
            let result = timed(
                &mut run.trace.twilio,
                self.conversations.post_message(
                    &run.turn.message.conversation,
                    &self.behaviour.bot_author,
                    &body,
                    &tag,
                    run.deadline,
                ),
            )
            .await;
            if let Err(e) = result {
                if matches!(e, TwilioError::Ambiguous { .. }) {
                    tracing::warn!(part, piece, error = %e, "reply outcome ambiguous; a redelivery checks Twilio before posting again");
                }
                return Err((Stage::Reply, e.into()));
            }
            run.acted = true;
            run.trace.messages_posted += 1;
        }
        Ok(())
    }

    /// A card as a template where the channel shows buttons, else (or when the template
    /// cannot be made or is refused) as numbered text: never silence. A template message whose
    /// outcome Twilio left ambiguous fails the turn instead, as a text reply would.
    async fn post_card(
        &self,
        run: &mut Run<'_>,
        card: &Card,
        part: u32,
        destination: &Destination<'_>,
    ) -> Result<(), (Stage, Cause)> {
        let as_text = |run: &mut Run<'_>| {
            run.trace.cards_as_text += 1;
            card_to_text(card)
        };
        let none_posted = HashSet::new();
        let form = match &self.cards.api {
            Some(_) => {
                self.behaviour
                    .rich_cards
                    .form(card, destination.channel, destination.locale)
            }
            None => CardForm::Text(AsText::Channel),
        };
        let (rich, api) = match (form, &self.cards.api) {
            (CardForm::Rich(rich), Some(api)) => (rich, api),
            (CardForm::Text(AsText::DoesNotFit), _) => {
                tracing::info!(part, "the card fits no template; posted as numbered text");
                let text = as_text(run);
                return self.post_text(run, &text, part, &none_posted).await;
            }
            _ => {
                return self
                    .post_text(run, &card_to_text(card), part, &none_posted)
                    .await;
            }
        };
        let tag = ReplyTag {
            message: run.turn.message.message.clone(),
            part,
            piece: 0,
        };
        match self.send_card(run, api.as_ref(), &rich, &tag).await {
            Ok(()) => {
                run.trace.cards_rich += 1;
                run.acted = true;
                run.trace.messages_posted += 1;
                Ok(())
            }
            Err(error) if error.falls_back_to_text() => {
                tracing::warn!(part, %error, "rich card not sent; posted as numbered text");
                let text = as_text(run);
                self.post_text(run, &text, part, &none_posted).await
            }
            Err(RichCardError::Create(e) | RichCardError::Send(e)) => {
                tracing::warn!(part, error = %e, "rich card outcome ambiguous; a redelivery checks Twilio before posting again");
                Err((Stage::Reply, e.into()))
            }
        }
    }

    /// The template's SID from this instance's copy, else the fleet's cache (one state read),
    /// else created and remembered in both; then the tagged template message.
    async fn send_card(
        &self,
        run: &mut Run<'_>,
        api: &dyn ContentApi,
        rich: &RichCard,
        tag: &ReplyTag,
    ) -> Result<(), RichCardError> {
        let local = self.cards.local.get(&rich.key).await.ok().flatten();
        let sid = match local {
            Some(sid) => sid,
            None => {
                let shared = timed_state(run.trace, self.cards.shared.get(&rich.key)).await;
                let found = match shared {
                    Ok(found) => found,
                    Err(error) => {
                        tracing::warn!(%error, key = %rich.key, "content cache unreadable; creating the template");
                        None
                    }
                };
                let sid = match found {
                    Some(sid) => sid,
                    None => {
                        let sid = timed(
                            &mut run.trace.twilio,
                            api.create_content(&rich.template, run.deadline),
                        )
                        .await
                        .map_err(RichCardError::Create)?;
                        run.trace.templates_created += 1;
                        let stored =
                            timed_state(run.trace, self.cards.shared.put(&rich.key, &sid)).await;
                        if let Err(error) = stored {
                            tracing::warn!(%error, key = %rich.key, "content cache not updated; another instance may create the template again");
                        }
                        sid
                    }
                };
                // The local copy cannot fail; a failure would only cost a state read later.
                let _ = self.cards.local.put(&rich.key, &sid).await;
                sid
            }
        };
        timed(
            &mut run.trace.twilio,
            self.conversations.post_content(
                &run.turn.message.conversation,
                &self.behaviour.bot_author,
                &sid,
                &BTreeMap::new(),
                tag,
                run.deadline,
            ),
        )
        .await
        .map_err(RichCardError::Send)
    }

    /// The (part, piece) of every reply to this message the conversation already holds.
    async fn posted_pieces(
        &self,
        run: &mut Run<'_>,
    ) -> Result<HashSet<(u32, u32)>, (Stage, Cause)> {
        let message = &run.turn.message;
        let recent = timed(
            &mut run.trace.twilio,
            self.conversations.recent_messages(
                &message.conversation,
                RESUME_LOOKBACK,
                run.deadline,
            ),
        )
        .await
        .map_err(|e| (Stage::Reply, Cause::from(e)))?;
        Ok(recent
            .into_iter()
            .filter_map(|m| m.reply_to)
            .filter(|tag| tag.message == message.message)
            .map(|tag| (tag.part, tag.piece))
            .collect())
    }

    async fn close(&self, run: &mut Run<'_>) -> Result<(), (Stage, Cause)> {
        let conversation = &run.turn.message.conversation;
        let result = timed(
            &mut run.trace.twilio,
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

    async fn hand_off(
        &self,
        run: &mut Run<'_>,
        input: HandoffInput<'_>,
    ) -> Result<(), (Stage, Cause)> {
        let message = &run.turn.message;
        let conversation = &message.conversation;
        let interaction = match input.requested {
            Some(Some(sid)) => sid,
            Some(None) => {
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
            None => self.create_interaction(run, &input).await?,
        };
        tracing::info!(interaction = %interaction, "interaction created");
        match &message.webhook {
            Some(webhook) => {
                let removed = timed(
                    &mut run.trace.twilio,
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
    ) -> Result<InteractionSid, (Stage, Cause)> {
        let message = &run.turn.message;
        let conversation = &message.conversation;
        let handing_off = |interaction| Progress::HandingOff {
            plan: input.plan.clone(),
            turn: input.turn.cloned(),
            late: input.late,
            interaction,
        };
        self.record(run, &handing_off(None)).await?;

        let (participants, info) = timed(&mut run.trace.twilio, async {
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
        let sid = timed(
            &mut run.trace.twilio,
            self.conversations
                .create_interaction(&request, run.deadline),
        )
        .await
        .map_err(|e| (Stage::Interaction, Cause::from(e)))?;
        run.acted = true;
        self.record(run, &handing_off(Some(sid.clone()))).await?;
        Ok(sid)
    }

    /// Best effort: a lease that stays only delays the redelivery until it runs out.
    async fn release(&self, run: &mut Run<'_>, lease: Lease) {
        let message = &run.turn.message;
        let released = timed_state(
            run.trace,
            self.store
                .release(&message.conversation, &message.message, lease),
        )
        .await;
        if let Err(e) = released {
            tracing::warn!(error = %e, "could not release the turn; its redelivery waits for the lease to run out");
        }
    }

    async fn record(&self, run: &mut Run<'_>, progress: &Progress) -> Result<(), (Stage, Cause)> {
        let message = &run.turn.message;
        timed_state(
            run.trace,
            self.store.record(
                &message.conversation,
                &message.message,
                progress,
                None,
                epoch_secs(),
            ),
        )
        .await
        .map_err(|e| (Stage::Record, e.into()))
    }
}

struct HandoffInput<'a> {
    plan: &'a Plan,
    bot: Option<&'a BotRef>,
    turn: Option<&'a BotTurn>,
    late: bool,
    memory: &'a Memory,
    reason: &'a Reason,
    /// `Some` when an earlier delivery requested the Interaction: its SID, if recorded.
    requested: Option<Option<InteractionSid>>,
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

fn stage_name(progress: &Progress) -> &'static str {
    match progress {
        Progress::Claimed => "claimed",
        Progress::Answered { .. } => "answered",
        Progress::HandingOff { .. } => "handing_off",
    }
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

/// Another delivery of the message is inside its lease: this one goes back to the queue and
/// comes again after the visibility timeout, by when the other has finished or died.
pub(crate) fn busy(until_ms: u64, turn: BusyTurn) -> Cause {
    let running = match turn {
        BusyTurn::ThisMessage => "another delivery is running this turn",
        BusyTurn::AnotherMessage => "a turn of another message of this conversation is running",
    };
    Cause::State(StoreError::Busy {
        detail: format!("{running} until epoch ms {until_ms}; this one waits its turn"),
    })
}

pub(crate) async fn timed<T>(total: &mut Duration, work: impl Future<Output = T>) -> T {
    let started = Instant::now();
    let out = work.await;
    *total += started.elapsed();
    out
}

async fn timed_state<T>(trace: &mut Trace, work: impl Future<Output = T>) -> T {
    trace.state_round_trips += 1;
    timed(&mut trace.state, work).await
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use async_trait::async_trait;
    use serde_json::json;

    use super::*;
    use crate::bot::BotMessage;
    use crate::config::Config;
    use crate::ids::{ConversationSid, MessageSid};
    use crate::memory::{Call, RecordingConversations, ScriptedBot};
    use crate::outcome::Report;
    use crate::state::StoreError;
    use crate::state::in_memory::InMemoryStore;

    const CH: &str = "CH0123456789abcdef0123456789abcdef";

    fn behaviour() -> Behaviour {
        let settings: HashMap<String, String> = [
            ("TWILIO_ACCOUNT_SID", "AC0123456789abcdef0123456789abcdef"),
            ("TWILIO_AUTH_TOKEN", "token"),
            ("FLEX_WORKSPACE_SID", "WS0123456789abcdef0123456789abcdef"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        Config::from_settings(&settings).unwrap().behaviour
    }

    fn turn(message: &MessageSid) -> AdmittedTurn {
        AdmittedTurn {
            v: crate::admission::TURN_VERSION,
            message: MessageAdded {
                account: "AC0123456789abcdef0123456789abcdef".parse().unwrap(),
                conversation: CH.parse().unwrap(),
                message: message.clone(),
                author: "+15551234567".into(),
                body: "hello".into(),
                participant: None,
                webhook: None,
                source: Some("SMS".into()),
                client_identity: None,
                media: Vec::new(),
                index: Some(1),
                attributes: json!({}),
            },
            route: Route::Bot(BotRef {
                bot_id: "FLWRSDEMO1".parse().unwrap(),
                alias_id: "TSTALIASID".parse().unwrap(),
                locale: "en_US".parse().unwrap(),
            }),
            request_id: String::new(),
            handover: None,
        }
    }

    fn greeting() -> BotTurn {
        BotTurn {
            messages: vec![BotMessage::PlainText("Hello!".into())],
            ..BotTurn::default()
        }
    }

    /// The in-memory store, claiming to outlive the process: what DynamoDB gives.
    struct Durable(InMemoryStore);

    #[async_trait]
    impl ConversationStore for Durable {
        async fn claim(
            &self,
            c: &ConversationSid,
            m: &MessageSid,
            lease: Lease,
        ) -> Result<Claim, StoreError> {
            self.0.claim(c, m, lease).await
        }
        async fn record(
            &self,
            c: &ConversationSid,
            m: &MessageSid,
            p: &Progress,
            s: Option<Status>,
            now: u64,
        ) -> Result<(), StoreError> {
            self.0.record(c, m, p, s, now).await
        }
        async fn finish(
            &self,
            c: &ConversationSid,
            m: &MessageSid,
            memory: &Memory,
            s: Status,
            now: u64,
        ) -> Result<(), StoreError> {
            self.0.finish(c, m, memory, s, now).await
        }
        async fn release(
            &self,
            c: &ConversationSid,
            m: &MessageSid,
            lease: Lease,
        ) -> Result<(), StoreError> {
            self.0.release(c, m, lease).await
        }
        fn durable(&self) -> bool {
            true
        }
    }

    /// A store that cannot be reached.
    struct Unreachable;

    #[async_trait]
    impl ConversationStore for Unreachable {
        async fn claim(
            &self,
            _: &ConversationSid,
            _: &MessageSid,
            _: Lease,
        ) -> Result<Claim, StoreError> {
            Err(StoreError::Unavailable {
                operation: "claim",
                detail: "throttled".into(),
            })
        }
        async fn record(
            &self,
            _: &ConversationSid,
            _: &MessageSid,
            _: &Progress,
            _: Option<Status>,
            _: u64,
        ) -> Result<(), StoreError> {
            unreachable!("nothing is recorded without a claim")
        }
        async fn finish(
            &self,
            _: &ConversationSid,
            _: &MessageSid,
            _: &Memory,
            _: Status,
            _: u64,
        ) -> Result<(), StoreError> {
            unreachable!("nothing is finished without a claim")
        }
        async fn release(
            &self,
            _: &ConversationSid,
            _: &MessageSid,
            _: Lease,
        ) -> Result<(), StoreError> {
            unreachable!("nothing is released without a claim")
        }
        fn durable(&self) -> bool {
            false
        }
    }

    async fn run(engine: &TurnEngine, message: &MessageSid) -> Report {
        engine
            .run(&turn(message), Deadline::after(Duration::from_secs(5)))
            .await
    }

    fn engine(
        store: Arc<dyn ConversationStore>,
        twilio: Arc<dyn Conversations>,
    ) -> (TurnEngine, ScriptedBot) {
        let bot = ScriptedBot::answering(greeting());
        (
            TurnEngine::new(
                behaviour(),
                Arc::new(bot.clone()),
                twilio,
                store,
                Cards::new(None, Arc::new(MemoryContentCache::default())),
            ),
            bot,
        )
    }

    fn label(report: &Report) -> &'static str {
        match &report.outcome {
            Outcome::Failed(failure) => failure.label(),
            other => panic!("expected a failure, got {other}"),
        }
    }

    #[tokio::test]
    async fn state_unreachable_before_the_claim_is_transient_and_safe_to_replay() {
        let (engine, bot) = engine(
            Arc::new(Unreachable),
            Arc::new(RecordingConversations::default()),
        );
        let report = run(
            &engine,
            &"IM0123456789abcdef0123456789abcdef".parse().unwrap(),
        )
        .await;
        assert_eq!(report.outcome.to_string(), "failed:claim");
        assert_eq!(label(&report), "Transient.ReplaySafe");
        assert!(bot.requests().is_empty());
    }

    #[tokio::test]
    async fn a_message_waits_while_another_turn_of_its_conversation_runs() {
        let store = Arc::new(InMemoryStore::new());
        let (engine, bot) = engine(store.clone(), Arc::new(RecordingConversations::default()));
        let conversation: ConversationSid = CH.parse().unwrap();
        let earlier: MessageSid = "IM00000000000000000000000000000001".parse().unwrap();
        // Another delivery runs the earlier message's turn for a minute more.
        let now = crate::state::epoch_ms();
        let running = Lease {
            now_ms: now,
            until_ms: now + 60_000,
        };
        store.claim(&conversation, &earlier, running).await.unwrap();
        let report = run(
            &engine,
            &"IM0123456789abcdef0123456789abcdef".parse().unwrap(),
        )
        .await;
        assert_eq!(report.outcome.to_string(), "failed:claim");
        assert_eq!(label(&report), "Transient.ReplaySafe");
        let Outcome::Failed(failure) = &report.outcome else {
            panic!("{:?}", report.outcome)
        };
        assert_eq!(
            failure.cause.to_string(),
            format!(
                "conversation state busy: a turn of another message of this conversation is \
                 running until epoch ms {}; this one waits its turn",
                now + 60_000
            )
        );
        assert!(bot.requests().is_empty());
    }

    #[tokio::test]
    async fn a_reply_failure_is_safe_to_replay_only_with_durable_state() {
        let message: MessageSid = "IM0123456789abcdef0123456789abcdef".parse().unwrap();
        let (in_process, _) = engine(
            Arc::new(InMemoryStore::new()),
            Arc::new(crate::memory::TwilioDown),
        );
        assert_eq!(
            label(&run(&in_process, &message).await),
            "Transient.ReplayUnsafe"
        );
        let (durable, bot) = engine(
            Arc::new(Durable(InMemoryStore::new())),
            Arc::new(crate::memory::TwilioDown),
        );
        let report = run(&durable, &message).await;
        assert_eq!(report.outcome.to_string(), "failed:reply");
        assert_eq!(label(&report), "Transient.ReplaySafe");
        // The replay resumes: the recorded answer is reused, the bot is not asked again.
        let again = run(&durable, &message).await;
        assert!(again.trace.resumed);
        assert_eq!(bot.requests().len(), 1);
    }

    /// A delivery whose invocation ended long ago claimed `message` and recorded the bot's
    /// answer, `messages` to post and nothing else to do.
    async fn answered_by_a_dead_delivery(
        store: &dyn ConversationStore,
        message: &MessageSid,
        messages: Vec<Reply>,
    ) {
        let conversation: ConversationSid = CH.parse().unwrap();
        let expired = Lease {
            now_ms: 1_000,
            until_ms: 2_000,
        };
        store.claim(&conversation, message, expired).await.unwrap();
        let answered = Progress::Answered {
            plan: Plan {
                messages,
                action: Action::Wait,
            },
            turn: None,
            late: false,
        };
        store
            .record(&conversation, message, &answered, None, 2)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_resumed_turn_posts_only_the_replies_twilio_lacks() {
        let store = Arc::new(Durable(InMemoryStore::new()));
        let twilio = RecordingConversations::default();
        let (engine, bot) = engine(store.clone(), Arc::new(twilio.clone()));
        let message: MessageSid = "IM0123456789abcdef0123456789abcdef".parse().unwrap();
        let conversation: ConversationSid = CH.parse().unwrap();
        // An earlier delivery: claimed, answered with two replies, the first one posted.
        answered_by_a_dead_delivery(
            store.as_ref(),
            &message,
            vec!["first".into(), "second".into()],
        )
        .await;
        twilio
            .post_message(
                &conversation,
                "Lex",
                "first",
                &ReplyTag {
                    message: message.clone(),
                    part: 0,
                    piece: 0,
                },
                Deadline::after(Duration::from_secs(1)),
            )
            .await
            .unwrap();
        let report = run(&engine, &message).await;
        assert_eq!(report.outcome, Outcome::Replied);
        assert_eq!(
            (report.trace.replies_skipped, report.trace.messages_posted),
            (1, 1)
        );
        assert!(bot.requests().is_empty());
        let posted: Vec<String> = twilio
            .calls()
            .into_iter()
            .filter_map(|c| match c {
                Call::Post { body, .. } => Some(body),
                _ => None,
            })
            .collect();
        assert_eq!(posted, ["first", "second"]);
        assert_eq!(
            run(&engine, &message).await.outcome,
            Outcome::Ignored(Ignored::Duplicate)
        );
    }

    /// A reply of `words` words: over Twilio's limit from about 180 words on.
    fn long_text(words: usize) -> String {
        (0..words)
            .map(|i| format!("word{i}"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn posts(twilio: &RecordingConversations) -> Vec<(String, u32, u32)> {
        twilio
            .calls()
            .into_iter()
            .filter_map(|c| match c {
                Call::Post { body, tag, .. } => Some((body, tag.part, tag.piece)),
                _ => None,
            })
            .collect()
    }

    #[tokio::test]
    async fn a_long_reply_is_cut_into_pieces_tagged_one_by_one() {
        let text = long_text(1000);
        let twilio = RecordingConversations::default();
        let bot = ScriptedBot::answering(BotTurn {
            messages: vec![BotMessage::PlainText(text.clone())],
            ..greeting()
        });
        let store = Arc::new(InMemoryStore::new());
        let engine = TurnEngine::new(
            behaviour(),
            Arc::new(bot),
            Arc::new(twilio.clone()),
            store,
            Cards::new(None, Arc::new(InMemoryStore::new())),
        );
        let message: MessageSid = "IM0123456789abcdef0123456789abcdef".parse().unwrap();
        let report = run(&engine, &message).await;
        assert_eq!(report.outcome, Outcome::Replied);
        let posted = posts(&twilio);
        let pieces: Vec<(u32, u32)> = posted
            .iter()
            .map(|(_, part, piece)| (*part, *piece))
            .collect();
        let expected: Vec<(u32, u32)> = (0..posted.len() as u32).map(|piece| (0, piece)).collect();
        assert_eq!(posted.len(), 5);
        assert_eq!(pieces, expected);
        assert!(
            posted
                .iter()
                .all(|(body, ..)| body.encode_utf16().count() <= 1600)
        );
        let bodies: Vec<&str> = posted.iter().map(|(body, ..)| body.as_str()).collect();
        assert_eq!(bodies.join(" "), text);
        assert_eq!(report.trace.messages_posted, 5);
    }

    #[tokio::test]
    async fn a_resumed_turn_posts_only_the_pieces_of_a_long_reply_twilio_lacks() {
        let text = long_text(1000);
        let pieces = split_body(&text, MAX_BODY_CHARS);
        assert_eq!(pieces.len(), 5);
        let store = Arc::new(Durable(InMemoryStore::new()));
        let twilio = RecordingConversations::default();
        let (engine, bot) = engine(store.clone(), Arc::new(twilio.clone()));
        let message: MessageSid = "IM0123456789abcdef0123456789abcdef".parse().unwrap();
        let conversation: ConversationSid = CH.parse().unwrap();
        answered_by_a_dead_delivery(
            store.as_ref(),
            &message,
            vec![text.as_str().into(), "after".into()],
        )
        .await;
        // The earlier delivery stopped after the first two pieces of the long reply.
        for piece in 0..2u32 {
            let tag = ReplyTag {
                message: message.clone(),
                part: 0,
                piece,
            };
            twilio
                .post_message(
                    &conversation,
                    "Lex",
                    &pieces[piece as usize],
                    &tag,
                    Deadline::after(Duration::from_secs(1)),
                )
                .await
                .unwrap();
        }
        let report = run(&engine, &message).await;
        assert_eq!(report.outcome, Outcome::Replied);
        assert!(bot.requests().is_empty());
        assert_eq!(
            (report.trace.replies_skipped, report.trace.messages_posted),
            (2, 4)
        );
        let posted = posts(&twilio);
        let tags: Vec<(u32, u32)> = posted
            .iter()
            .map(|(_, part, piece)| (*part, *piece))
            .collect();
        assert_eq!(tags, [(0, 0), (0, 1), (0, 2), (0, 3), (0, 4), (1, 0)]);
        let bodies: Vec<&str> = posted.iter().map(|(body, ..)| body.as_str()).collect();
        assert_eq!(bodies[..5].join(" "), text);
        assert_eq!(bodies[5], "after");
    }

    use crate::bot::Button;
    use crate::escalation::EscalationRules;

    fn with_card() -> Memory {
        let mut memory = Memory {
            turns: 1,
            ..Memory::default()
        };
        memory.dialog.observe(
            &BotTurn {
                messages: vec![BotMessage::Card(Card {
                    title: "Pick".into(),
                    buttons: ["Roses", "Lilies"]
                        .iter()
                        .map(|t| Button {
                            text: (*t).into(),
                            value: t.to_lowercase(),
                        })
                        .collect(),
                    ..Card::default()
                })],
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
