//! What every step of a job works with: the ports and settings ([`Worker`], built once per
//! execution environment), and the job's own run ([`Run`]: its deadline, lease and trace).

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use crate::domain::behaviour::Behaviour;
use crate::domain::cards::ContentKey;
use crate::domain::clock::epoch_ms;
use crate::domain::conversation::{Lease, TurnKey};
use crate::domain::deadline::Deadline;
use crate::domain::ids::{ContentSid, ConversationSid, MessageSid};
use crate::domain::job::MessageJob;
use crate::outcome::{Cause, Stage, Trace, timed};
use crate::ports::bot::Bot;
use crate::ports::content::{ContentApi, ContentCache};
use crate::ports::conversations::Conversations;
use crate::ports::store::ConversationStore;

/// The step that failed and why: every step of a job returns it, and the pipeline turns it
/// into the job's failure.
pub type StepError = (Stage, Cause);

/// The ports and settings a job's steps use. Built once per cold start and shared by every
/// invocation.
pub struct Worker {
    pub(super) behaviour: Behaviour,
    pub(super) bot: Arc<dyn Bot>,
    pub(super) conversations: Arc<dyn Conversations>,
    pub(super) store: Arc<dyn ConversationStore>,
    pub(super) cards: Cards,
    /// `HANDOFF_ON_NEGATIVE_SENTIMENT` is on and a conversation showed no sentiment: said once
    /// per process, since every turn of such a bot would say it again.
    pub(super) sentiment_warned: AtomicBool,
}

impl Worker {
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
}

/// What rich cards need: the Content API (`None`: numbered text everywhere), the fleet's
/// template cache (the state store), and this instance's copy of it, which makes a card this
/// instance already sent cost no state read.
pub struct Cards {
    pub(super) api: Option<Arc<dyn ContentApi>>,
    pub(super) shared: Arc<dyn ContentCache>,
    pub(super) local: Mutex<HashMap<ContentKey, ContentSid>>,
}

impl Cards {
    pub fn new(api: Option<Arc<dyn ContentApi>>, shared: Arc<dyn ContentCache>) -> Self {
        Self {
            api,
            shared,
            local: Mutex::new(HashMap::new()),
        }
    }
}

/// One job's run: where it is, for the steps and for the failure's replay verdict.
pub struct Run<'a> {
    /// The message the job answers (a handover's first turn).
    pub turn: &'a MessageJob,
    /// What the job is claimed as: its key, its message's Index (a message job's), and the
    /// job holding the conversation (itself, or the job whose catch-up runs it).
    pub claim: TurnKey<'a>,
    pub deadline: Deadline,
    pub trace: Trace,
    /// An irreversible step happened in this process (the bot answered, a reply was posted).
    pub acted: bool,
    /// This delivery's lease, from the claim to its invocation's deadline.
    pub lease: Lease,
    /// The claim succeeded: a failure releases it.
    pub claimed: bool,
    /// The indices of the bot's messages this turn posted or found posted: accounted for at
    /// the finish, so the customer's next message finds no gap.
    pub posted: Vec<u64>,
}

impl<'a> Run<'a> {
    /// A run not claimed yet, its lease from now to `deadline`.
    pub fn new(turn: &'a MessageJob, claim: TurnKey<'a>, deadline: Deadline) -> Self {
        Self {
            turn,
            claim,
            deadline,
            trace: Trace {
                request_id: turn.request_id.clone(),
                conversation: Some(turn.message.conversation.to_string()),
                message: Some(turn.message.message.to_string()),
                ..Trace::default()
            },
            acted: false,
            lease: Lease::until(epoch_ms(), deadline),
            claimed: false,
            posted: Vec::new(),
        }
    }

    pub fn conversation(&self) -> &'a ConversationSid {
        &self.turn.message.conversation
    }

    /// The key the job is claimed under.
    pub fn key(&self) -> &'a MessageSid {
        self.claim.key
    }
}

/// Runs a Twilio call, counting its round trip and time in the trace.
pub async fn timed_twilio<T>(trace: &mut Trace, work: impl Future<Output = T>) -> T {
    trace.twilio_round_trips += 1;
    timed(&mut trace.twilio, work).await
}

/// Runs a state store call, counting its round trip and time in the trace.
pub async fn timed_state<T>(trace: &mut Trace, work: impl Future<Output = T>) -> T {
    trace.state_round_trips += 1;
    timed(&mut trace.state, work).await
}
