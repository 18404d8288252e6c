//! The jobs of one conversation that the turn queue carries, and their wire form.
//!
//! Every job is one of a known set of kinds, each with its own version, so a reader never
//! half-reads a body it does not know: an unknown kind, an unknown version, a field the kind
//! does not have, or a missing one is refused whole ([`JobError`]) and the record goes to the
//! dead-letter path.
//!
//! | `kind` | `v` | carries |
//! |---|---|---|
//! | `message` | 1 | a customer's message and the bot that answers it |
//! | `handover` | 1 | a Studio flow handing the conversation to the bot, and its first turn |
//! | `take_back` | 1 | Flex says the agent may be done: the bot takes the conversation back if Twilio confirms |
//!
//! Bodies written before jobs had a `kind` are read as well, so records queued by the
//! previous release are not lost during a deployment: `v` 1 without `handover` is a message,
//! `v` 2 with `handover` a handover.

use serde::{Deserialize, Serialize};

use crate::domain::ids::{BotRef, ConversationSid, InteractionSid, MessageSid};
use crate::domain::message::MessageAdded;

/// One unit of a conversation's work.
#[derive(Debug, Clone, PartialEq)]
pub enum Job {
    /// A customer's message for the bot.
    Message(MessageJob),
    /// A Studio flow hands the conversation to the bot (Studio → bot: a *handover*; the bot
    /// giving the conversation to an agent is a *handoff*).
    Handover(HandoverJob),
    /// An Interactions event says the agent may be done (agent → bot: a *take-back*).
    TakeBack(TakeBackJob),
}

/// A take-back: `turn` names the conversation and the job's key (derived from the event, not
/// a message: its body is empty); `take_back` what the event says.
#[derive(Debug, Clone, PartialEq)]
pub struct TakeBackJob {
    pub turn: MessageJob,
    pub take_back: TakeBack,
}

/// What an Interactions event says: only a doorbell, the turn reads the truth from Twilio.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TakeBack {
    pub interaction: InteractionSid,
    /// The event's `EventType`, for the log.
    pub event: String,
}

/// A customer's message that passed admission, and which bot should answer it.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageJob {
    pub message: MessageAdded,
    pub route: Route,
    /// The intake request's id, so a turn's log line can be tied to its webhook.
    pub request_id: String,
}

/// A Studio handover: the webhook swap, then (when the flow passed the customer's text) the
/// first turn, which is `turn`.
#[derive(Debug, Clone, PartialEq)]
pub struct HandoverJob {
    pub turn: MessageJob,
    pub handover: Handover,
}

/// The bot named by the webhook URL's query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Route {
    Bot(BotRef),
    /// The URL names no usable bot; the turn still answers (never silence), with why.
    Unroutable(String),
}

/// What the bot's webhook delivers: only new messages, as the address webhook does.
pub const BOT_FILTERS: &[&str] = &["onMessageAdded"];

/// What the turn side needs beyond the first turn's message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handover {
    /// The bot's webhook: what replaces the flow's.
    pub webhook_url: String,
    /// The key the swap is claimed and recorded under in the conversation state.
    pub swap_key: MessageSid,
    /// Whether the request's text goes to the bot (it has text, from the customer).
    pub first_turn: bool,
}

/// The version of each kind this release writes and reads.
pub const MESSAGE_VERSION: u32 = 1;
pub const HANDOVER_VERSION: u32 = 1;
pub const TAKE_BACK_VERSION: u32 = 1;

/// The `v` of the bodies written before jobs had a `kind`.
const UNKINDED_MESSAGE: u32 = 1;
const UNKINDED_HANDOVER: u32 = 2;

/// A queued body this release cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    #[error("the body is not a job: {0}")]
    Malformed(String),
    #[error("job kind `{0}` is unknown")]
    UnknownKind(String),
    #[error("{kind} job version {v} is unknown (this release reads version {known})")]
    UnknownVersion {
        kind: &'static str,
        v: u32,
        known: u32,
    },
    #[error("{0}")]
    Shape(&'static str),
}

/// The wire form as written: borrowed, so encoding a job copies nothing.
#[derive(Serialize)]
struct WireOut<'a> {
    kind: &'a str,
    v: u32,
    message: &'a MessageAdded,
    route: &'a Route,
    request_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    handover: Option<&'a Handover>,
    #[serde(skip_serializing_if = "Option::is_none")]
    take_back: Option<&'a TakeBack>,
}

/// The wire form as read: one flat object, every field named, nothing else accepted.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    #[serde(default)]
    kind: Option<String>,
    v: u32,
    message: MessageAdded,
    route: Route,
    request_id: String,
    #[serde(default)]
    handover: Option<Handover>,
    #[serde(default)]
    take_back: Option<TakeBack>,
}

impl Job {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Message(_) => "message",
            Self::Handover(_) => "handover",
            Self::TakeBack(_) => "take_back",
        }
    }

    /// The conversation the job belongs to: the queue's message group.
    pub fn conversation(&self) -> &ConversationSid {
        &self.turn().message.conversation
    }

    /// The key the job is deduplicated on the queue, and claimed and recorded under in the
    /// conversation state.
    pub fn key(&self) -> &MessageSid {
        match self {
            Self::Message(job) => &job.message.message,
            Self::Handover(job) => &job.handover.swap_key,
            Self::TakeBack(job) => &job.turn.message.message,
        }
    }

    /// The message the job answers: the job itself, or a handover's first turn.
    pub fn turn(&self) -> &MessageJob {
        match self {
            Self::Message(job) => job,
            Self::Handover(job) => &job.turn,
            Self::TakeBack(job) => &job.turn,
        }
    }

    /// The queue body.
    pub fn to_body(&self) -> Result<String, serde_json::Error> {
        let (turn, handover, take_back, v) = match self {
            Self::Message(job) => (job, None, None, MESSAGE_VERSION),
            Self::Handover(job) => (&job.turn, Some(&job.handover), None, HANDOVER_VERSION),
            Self::TakeBack(job) => (&job.turn, None, Some(&job.take_back), TAKE_BACK_VERSION),
        };
        serde_json::to_string(&WireOut {
            kind: self.kind(),
            v,
            message: &turn.message,
            route: &turn.route,
            request_id: &turn.request_id,
            handover,
            take_back,
        })
    }

    /// Reads a queue body, whole or not at all.
    pub fn from_body(body: &str) -> Result<Self, JobError> {
        let wire: Wire =
            serde_json::from_str(body).map_err(|e| JobError::Malformed(e.to_string()))?;
        let turn = MessageJob {
            message: wire.message,
            route: wire.route,
            request_id: wire.request_id,
        };
        let kind = match wire.kind.as_deref() {
            Some("message") if wire.v == MESSAGE_VERSION => "message",
            Some("handover") if wire.v == HANDOVER_VERSION => "handover",
            Some("take_back") if wire.v == TAKE_BACK_VERSION => "take_back",
            Some("message") => return Err(unknown_version("message", wire.v, MESSAGE_VERSION)),
            Some("handover") => {
                return Err(unknown_version("handover", wire.v, HANDOVER_VERSION));
            }
            Some("take_back") => {
                return Err(unknown_version("take_back", wire.v, TAKE_BACK_VERSION));
            }
            Some(other) => return Err(JobError::UnknownKind(other.to_owned())),
            None if wire.v == UNKINDED_MESSAGE => "message",
            None if wire.v == UNKINDED_HANDOVER => "handover",
            None => return Err(unknown_version("message", wire.v, MESSAGE_VERSION)),
        };
        match (kind, wire.handover, wire.take_back) {
            ("message", None, None) => Ok(Self::Message(turn)),
            ("message", Some(_), _) => Err(JobError::Shape("a message job carries no handover")),
            ("message", _, Some(_)) => Err(JobError::Shape("a message job carries no take-back")),
            ("take_back", None, Some(take_back)) => {
                Ok(Self::TakeBack(TakeBackJob { turn, take_back }))
            }
            ("take_back", _, _) => Err(JobError::Shape(
                "a take-back job carries its take-back and nothing else",
            )),
            (_, Some(handover), None) => Ok(Self::Handover(HandoverJob { turn, handover })),
            (_, _, Some(_)) => Err(JobError::Shape("a handover job carries no take-back")),
            (_, None, None) => Err(JobError::Shape("a handover job without its handover")),
        }
    }
}

fn unknown_version(kind: &'static str, v: u32, known: u32) -> JobError {
    JobError::UnknownVersion { kind, v, known }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn message() -> Value {
        json!({
            "account": "AC0123456789abcdef0123456789abcdef",
            "conversation": "CH0123456789abcdef0123456789abcdef",
            "message": "IM0123456789abcdef0123456789abcdef",
            "author": "+15551234567",
            "body": "hello",
            "participant": null,
            "webhook": null,
            "source": "SMS",
            "client_identity": null,
            "media": [],
            "index": 3,
            "attributes": {}
        })
    }

    fn route() -> Value {
        json!({"bot": {"bot_id": "FLWRSDEMO1", "alias_id": "TSTALIASID", "locale": "en_US"}})
    }

    fn handover() -> Value {
        json!({
            "webhook_url": "https://example.test/webhook?BotId=FLWRSDEMO1&BotAliasId=TSTALIASID",
            "swap_key": "IMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "first_turn": true
        })
    }

    fn body(mut fields: Value) -> String {
        let object = fields.as_object_mut().unwrap();
        object.insert("message".into(), message());
        object.insert("route".into(), route());
        object.insert("request_id".into(), json!("req-1"));
        fields.to_string()
    }

    #[test]
    fn each_kind_reads_back_what_it_writes() {
        let Job::Message(job) = Job::from_body(&body(json!({"kind": "message", "v": 1}))).unwrap()
        else {
            panic!("not a message job");
        };
        let written = Job::Message(job.clone()).to_body().unwrap();
        assert_eq!(Job::from_body(&written).unwrap(), Job::Message(job.clone()));
        let value: Value = serde_json::from_str(&written).unwrap();
        assert_eq!(value["kind"], "message");
        assert_eq!(value["v"], 1);

        let handover_job = Job::Handover(HandoverJob {
            turn: job,
            handover: serde_json::from_value(handover()).unwrap(),
        });
        let written = handover_job.to_body().unwrap();
        assert_eq!(Job::from_body(&written).unwrap(), handover_job);
        let value: Value = serde_json::from_str(&written).unwrap();
        assert_eq!(value["kind"], "handover");
        assert_eq!(
            handover_job.key().as_str(),
            "IMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        );
    }

    #[test]
    fn bodies_of_the_previous_release_are_read() {
        let job = Job::from_body(&body(json!({"v": 1}))).unwrap();
        assert_eq!(job.kind(), "message");
        let job = Job::from_body(&body(json!({"v": 2, "handover": handover()}))).unwrap();
        assert_eq!(job.kind(), "handover");
    }

    #[test]
    fn a_message_carrying_a_handover_is_refused() {
        let refused = Job::from_body(&body(json!({"v": 1, "handover": handover()})));
        assert_eq!(
            refused,
            Err(JobError::Shape("a message job carries no handover"))
        );
        let refused = Job::from_body(&body(
            json!({"kind": "message", "v": 1, "handover": handover()}),
        ));
        assert_eq!(
            refused,
            Err(JobError::Shape("a message job carries no handover"))
        );
        let refused = Job::from_body(&body(json!({"kind": "handover", "v": 1})));
        assert_eq!(
            refused,
            Err(JobError::Shape("a handover job without its handover"))
        );
    }

    #[test]
    fn a_take_back_reads_back_and_carries_nothing_else() {
        let take_back = json!({
            "interaction": "KD0123456789abcdef0123456789abcdef",
            "event": "onParticipantLeft"
        });
        let job = Job::from_body(&body(
            json!({"kind": "take_back", "v": 1, "take_back": take_back}),
        ))
        .unwrap();
        assert_eq!(job.kind(), "take_back");
        assert_eq!(Job::from_body(&job.to_body().unwrap()).unwrap(), job);
        assert_eq!(
            Job::from_body(&body(json!({"kind": "take_back", "v": 1}))),
            Err(JobError::Shape(
                "a take-back job carries its take-back and nothing else"
            ))
        );
        assert_eq!(
            Job::from_body(&body(
                json!({"kind": "message", "v": 1, "take_back": take_back})
            )),
            Err(JobError::Shape("a message job carries no take-back"))
        );
        assert_eq!(
            Job::from_body(&body(
                json!({"kind": "take_back", "v": 2, "take_back": take_back})
            )),
            Err(JobError::UnknownVersion {
                kind: "take_back",
                v: 2,
                known: 1
            })
        );
    }

    #[test]
    fn unknown_kinds_versions_and_fields_are_refused_whole() {
        assert_eq!(
            Job::from_body(&body(json!({"kind": "takeback", "v": 1}))),
            Err(JobError::UnknownKind("takeback".into()))
        );
        assert_eq!(
            Job::from_body(&body(json!({"kind": "message", "v": 2}))),
            Err(JobError::UnknownVersion {
                kind: "message",
                v: 2,
                known: 1
            })
        );
        assert_eq!(
            Job::from_body(&body(json!({"v": 3}))),
            Err(JobError::UnknownVersion {
                kind: "message",
                v: 3,
                known: 1
            })
        );
        let extra = Job::from_body(&body(json!({"kind": "message", "v": 1, "episode": 2})));
        assert!(
            matches!(&extra, Err(JobError::Malformed(why)) if why.contains("unknown field `episode`")),
            "{extra:?}"
        );
        assert!(matches!(
            Job::from_body("not json"),
            Err(JobError::Malformed(_))
        ));
    }
}
