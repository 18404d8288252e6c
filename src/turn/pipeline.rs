//! The one pipeline every job goes through, whatever its kind: claim the job's key in the
//! conversation state → the kind's work → finish, storing the memory, the ledger and the
//! status; on a failure, release the claim so a redelivery can resume at once. A duplicate, or
//! a conversation already with an agent or closed, ends at the claim.
//!
//! | kind | work | module |
//! |---|---|---|
//! | message | catch up on earlier messages not answered yet → bot → replies → wait, close or hand off | [`super::catch_up`], [`super::message`] |
//! | handover | swap the Studio flow's webhook for the bot's; then the first turn, as a message | [`super::handover`] |
//! | take-back | read the truth from Twilio; attach the bot again when the agent is done | [`super::take_back`] |

use std::time::Instant;

use super::context::{Run, StepError, Worker, timed_state};
use crate::domain::clock::epoch_secs;
use crate::domain::conversation::{Claim, Memory, Progress, Snapshot, Status, TurnKey};
use crate::domain::deadline::Deadline;
use crate::domain::job::{Job, MessageJob};
use crate::outcome::{Failure, Ignored, Outcome, Replay, Report, Stage, Trace};
use crate::ports::store::StoreError;

/// What a job's work leaves for the finish.
pub struct Done {
    pub outcome: Outcome,
    pub memory: Memory,
    pub status: Status,
    /// A message to run next, in the same invocation (a handover's first turn).
    pub then: Option<MessageJob>,
    /// Every message up to this Index is accounted for without the bot (the conversation's
    /// history when a Studio flow hands it over).
    pub history_through: Option<u64>,
}

/// How a job ended before its report.
pub(super) struct Ended {
    pub(super) outcome: Outcome,
    then: Option<MessageJob>,
    /// The conversation as the finish stored it (`None`: nothing was claimed or stored).
    pub(super) state: Option<Snapshot>,
}

impl Ended {
    fn at(outcome: Outcome) -> Self {
        Self {
            outcome,
            then: None,
            state: None,
        }
    }
}

/// Runs jobs. Built once per cold start and shared by every invocation.
pub struct Pipeline {
    pub(super) worker: Worker,
}

impl Pipeline {
    pub fn new(worker: Worker) -> Self {
        Self { worker }
    }

    pub fn worker(&self) -> &Worker {
        &self.worker
    }

    /// Runs one job to its outcome. Never panics on input.
    pub async fn run(&self, job: &Job, deadline: Deadline) -> Report {
        let started = Instant::now();
        let claim = match job {
            Job::Message(message) => TurnKey::own(job.key(), message.message.index),
            // The swap's key is the handover's own, not a message's.
            Job::Handover(_) => TurnKey::own(job.key(), None),
            Job::TakeBack(_) => TurnKey::take_back(job.key()),
        };
        let mut run = Run::new(job.turn(), claim, deadline);
        let ended = self.attempt(job, &mut run, None).await;
        let Some(next) = ended.then else {
            return Report {
                outcome: ended.outcome,
                trace: run.trace,
                total: started.elapsed(),
            };
        };
        // The next job's report, with this one's time and counts added.
        let mut report = Box::pin(self.run(&Job::Message(next), deadline)).await;
        let (t, first) = (&mut report.trace, &run.trace);
        add_counts(t, first);
        t.studio_webhooks_removed = first.studio_webhooks_removed;
        t.bot_webhook_created = first.bot_webhook_created;
        report.total = started.elapsed();
        report
    }

    /// Claim → work → finish, or the failure, its claim released. `carried`: the
    /// conversation as a catch-up left it, for a turn the catch-up runs.
    pub(super) async fn attempt(
        &self,
        job: &Job,
        run: &mut Run<'_>,
        carried: Option<Snapshot>,
    ) -> Ended {
        match self.claimed(job, run, carried).await {
            Ok(ended) => ended,
            Err((stage, cause)) => {
                if run.claimed {
                    self.release(run).await;
                }
                let replay = if self.worker.store.durable() || !run.acted {
                    Replay::Safe
                } else {
                    Replay::Unsafe
                };
                Ended::at(Outcome::Failed(Failure {
                    stage,
                    cause,
                    replay,
                }))
            }
        }
    }

    /// Claim → (catch up →) work → finish.
    async fn claimed(
        &self,
        job: &Job,
        run: &mut Run<'_>,
        carried: Option<Snapshot>,
    ) -> Result<Ended, StepError> {
        let worker = &self.worker;
        let claim = worker.store.claim(run.conversation(), run.claim, run.lease);
        let claim = timed_state(&mut run.trace, claim)
            .await
            .map_err(|e| (Stage::Claim, e.into()))?;
        let (state, progress) = match claim {
            Claim::Busy { until_ms, turn } => {
                return Err((Stage::Claim, StoreError::Busy { until_ms, turn }.into()));
            }
            Claim::Duplicate => {
                return match job {
                    Job::Message(_) | Job::TakeBack(_) => {
                        Ok(Ended::at(Outcome::Ignored(Ignored::Duplicate)))
                    }
                    Job::Handover(handover) => {
                        let then = worker.repeated_handover(run, handover).await?;
                        Ok(Ended {
                            then,
                            ..Ended::at(Outcome::Ignored(Ignored::Duplicate))
                        })
                    }
                };
            }
            Claim::HandedOff => return Ok(Ended::at(Outcome::Ignored(Ignored::HandedOff))),
            Claim::Closed => return Ok(Ended::at(Outcome::Ignored(Ignored::Closed))),
            Claim::Fresh { state } => (state, Progress::Claimed),
            Claim::Resume { state, progress } => {
                run.trace.resumed = true;
                tracing::info!(
                    stage = progress.stage(),
                    "resuming a turn that started before"
                );
                (state, *progress)
            }
        };
        run.claimed = true;
        // A catch-up's turn continues from the conversation as the turns before it left it.
        let mut state = carried.unwrap_or(state);
        let done = match job {
            Job::Message(message) if progress == Progress::Claimed => {
                if state.status == Status::Bot && run.claim.holds() {
                    state = self.catch_up(run, message, state).await?;
                }
                match state.status {
                    Status::Bot => {
                        worker
                            .answer_message(run, message, state.memory.clone(), progress)
                            .await?
                    }
                    // Nothing is answered once the conversation is an agent's or closed,
                    // whatever came before it in the queue.
                    Status::HandedOff | Status::Closed => Done {
                        outcome: Outcome::Ignored(ignored_for(state.status)),
                        memory: state.memory.clone(),
                        status: state.status,
                        then: None,
                        history_through: None,
                    },
                }
            }
            Job::Message(message) => {
                worker
                    .answer_message(run, message, state.memory.clone(), progress)
                    .await?
            }
            Job::Handover(handover) => worker.swap(run, handover, state.memory.clone()).await?,
            Job::TakeBack(take_back) => {
                worker
                    .take_back(run, take_back, state.memory.clone(), state.status)
                    .await?
            }
        };
        let mut ledger = state.ledger;
        if let Some(history) = done.history_through {
            ledger.account_through(history);
        }
        ledger.remember(run.key());
        if let Some(index) = run.claim.index {
            ledger.account(index);
        }
        for posted in &run.posted {
            ledger.account(*posted);
        }
        let stored = Snapshot {
            memory: done.memory,
            ledger,
            status: done.status,
        };
        let finished = worker
            .store
            .finish(run.conversation(), run.claim, &stored, epoch_secs());
        timed_state(&mut run.trace, finished)
            .await
            .map_err(|e| (Stage::Finish, e.into()))?;
        Ok(Ended {
            outcome: done.outcome,
            then: done.then,
            state: Some(stored),
        })
    }

    /// Best effort: a lease that stays only delays the redelivery until it runs out.
    async fn release(&self, run: &mut Run<'_>) {
        let released = self
            .worker
            .store
            .release(run.conversation(), run.claim, run.lease);
        if let Err(e) = timed_state(&mut run.trace, released).await {
            tracing::warn!(error = %e, "could not release the turn; its redelivery waits for the lease to run out");
        }
    }
}

/// What a message gets once the conversation is no longer the bot's.
pub(super) fn ignored_for(status: Status) -> Ignored {
    match status {
        Status::Closed => Ignored::Closed,
        Status::Bot | Status::HandedOff => Ignored::HandedOff,
    }
}

/// Adds the round trips and times of `other` (an earlier or nested job) to `trace`.
pub(super) fn add_counts(trace: &mut Trace, other: &Trace) {
    trace.state += other.state;
    trace.state_round_trips += other.state_round_trips;
    trace.twilio += other.twilio;
    trace.twilio_round_trips += other.twilio_round_trips;
    trace.lex += other.lex;
}

#[cfg(test)]
mod tests {

    use async_trait::async_trait;

    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::adapters::in_memory::InMemoryStore;

    use crate::domain::behaviour::Behaviour;
    use crate::domain::bot::{BotMessage, BotTurn};
    use crate::domain::conversation::{BusyTurn, Lease};
    use crate::domain::ids::{ConversationSid, MessageSid};
    use crate::domain::message_body::{MAX_MESSAGE_CHARS, split_body};
    use crate::domain::plan::{Action, Plan, Reply};
    use crate::outcome::Cause;
    use crate::ports::conversations::{Conversations, ReplyTag};
    use crate::ports::store::ConversationStore;
    use crate::testing::{Call, RecordingConversations, ScriptedBot};
    use crate::turn::context::Cards;

    const CH: &str = "CH0123456789abcdef0123456789abcdef";

    fn behaviour() -> Behaviour {
        crate::testing::config(&[]).behaviour
    }

    fn turn(message: &MessageSid) -> Job {
        crate::testing::message_job(CH.parse().unwrap(), message.clone(), 0)
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
            turn: TurnKey<'_>,
            lease: Lease,
        ) -> Result<Claim, StoreError> {
            self.0.claim(c, turn, lease).await
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
            turn: TurnKey<'_>,
            state: &Snapshot,
            now: u64,
        ) -> Result<(), StoreError> {
            self.0.finish(c, turn, state, now).await
        }
        async fn release(
            &self,
            c: &ConversationSid,
            turn: TurnKey<'_>,
            lease: Lease,
        ) -> Result<(), StoreError> {
            self.0.release(c, turn, lease).await
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
            _: TurnKey<'_>,
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
            _: TurnKey<'_>,
            _: &Snapshot,
            _: u64,
        ) -> Result<(), StoreError> {
            unreachable!("nothing is finished without a claim")
        }
        async fn release(
            &self,
            _: &ConversationSid,
            _: TurnKey<'_>,
            _: Lease,
        ) -> Result<(), StoreError> {
            unreachable!("nothing is released without a claim")
        }
        fn durable(&self) -> bool {
            false
        }
    }

    async fn run(engine: &Pipeline, message: &MessageSid) -> Report {
        engine
            .run(&turn(message), Deadline::after(Duration::from_secs(5)))
            .await
    }

    fn engine(
        store: Arc<dyn ConversationStore>,
        twilio: Arc<dyn Conversations>,
    ) -> (Pipeline, ScriptedBot) {
        let bot = ScriptedBot::answering(greeting());
        (
            Pipeline::new(Worker::new(
                behaviour(),
                Arc::new(bot.clone()),
                twilio,
                store,
                Cards::new(None, Arc::new(InMemoryStore::new())),
            )),
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
        let now = crate::domain::clock::epoch_ms();
        let running = Lease {
            now_ms: now,
            until_ms: now + 60_000,
        };
        store
            .claim(&conversation, TurnKey::own(&earlier, None), running)
            .await
            .unwrap();
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
            failure.cause,
            Cause::State(StoreError::Busy {
                until_ms: now + 60_000,
                turn: BusyTurn::AnotherMessage,
            })
        );
        assert!(bot.requests().is_empty());
    }

    #[tokio::test]
    async fn a_reply_failure_is_safe_to_replay_only_with_durable_state() {
        let message: MessageSid = "IM0123456789abcdef0123456789abcdef".parse().unwrap();
        let (in_process, _) = engine(
            Arc::new(InMemoryStore::new()),
            Arc::new(crate::testing::TwilioDown),
        );
        assert_eq!(
            label(&run(&in_process, &message).await),
            "Transient.ReplayUnsafe"
        );
        let (durable, bot) = engine(
            Arc::new(Durable(InMemoryStore::new())),
            Arc::new(crate::testing::TwilioDown),
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
        store
            .claim(&conversation, TurnKey::own(message, Some(0)), expired)
            .await
            .unwrap();
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
        let engine = Pipeline::new(Worker::new(
            behaviour(),
            Arc::new(bot),
            Arc::new(twilio.clone()),
            store,
            Cards::new(None, Arc::new(InMemoryStore::new())),
        ));
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
        let pieces = split_body(&text, MAX_MESSAGE_CHARS);
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
}
