//! A Studio flow hands a conversation over to the bot.
//!
//! An address integrated with Studio attaches a conversation-scoped webhook with
//! `target=studio`: every customer message runs the flow (menus, business hours). When the flow
//! is done, one *Make HTTP Request* widget POSTs to the stack, signed with
//! `X-Twilio-Signature` like any webhook. From then on the bot answers: the flow's webhook is
//! replaced by the bot's (`target=webhook`, `onMessageAdded`, the stack URL with the bot's
//! ids), and the customer's text, when the request carries it, is the bot's first turn, so
//! the customer does not repeat it.
//!
//! The request (form-encoded; empty values count as absent, since a Liquid variable that does
//! not resolve renders as nothing):
//!
//! | parameter | | widget value |
//! |---|---|---|
//! | `EventType` | required, [`HANDOVER_EVENT`] | literal |
//! | `AccountSid` | required | `{{trigger.conversation.AccountSid}}` |
//! | `ConversationSid` | required | `{{trigger.conversation.ConversationSid}}` |
//! | `MessageSid` | optional: the handover's key | `{{trigger.conversation.MessageSid}}` |
//! | `Body` | optional: the first turn's text | the customer's words |
//! | `Author` | optional: who wrote `Body` | `{{trigger.conversation.Author}}` |
//! | `ParticipantSid`, `Source` | optional | |
//!
//! Intake admits it purely, like a message: signature (same verifier, same URL candidates),
//! then [`admit`], then the turn queue as a handover job (group = the conversation, dedup id =
//! the swap's key). The turn side (`turn::handover`) swaps the webhooks idempotently and then
//! runs the first turn as a message.
//!
//! Keys, because the state store keys turns by `IM…` SIDs: the first turn's key is
//! `MessageSid` when the flow sends it, else derived from the conversation and the text; the
//! swap's key is derived from the conversation and the first turn's key. Derived keys are `IM`
//! and the first 32 hex digits of a SHA-1 over a label and those values: deterministic, so a
//! repeat of the same request maps to the same keys, and never equal to a Twilio message SID
//! in practice.

use serde_json::{Map, Value};

use crate::domain::ids::{AccountSid, BotRef, ConversationSid, MessageSid, ParticipantSid};
use crate::domain::job::{Handover, HandoverJob, Job, MessageJob, Route};
use crate::domain::message::MessageAdded;
use crate::intake::envelope::Envelope;
use crate::intake::form::FormParams;
use crate::intake::gate::Gate;
use crate::intake::route::bot_ref;
use crate::intake::webhook::{WebhookError, optional_sid, present, sid};
use crate::outcome::{Outcome, Rejected, Trace};

/// The `EventType` that marks a Studio handover. Twilio sends no such event; the flow's
/// widget does, so the request cannot be mistaken for a Conversations webhook.
pub const HANDOVER_EVENT: &str = "onStudioHandover";

/// What the flow's Make HTTP Request widget posts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandoverRequest {
    pub account: AccountSid,
    pub conversation: ConversationSid,
    pub message: Option<MessageSid>,
    /// Empty when the flow passes no text.
    pub body: String,
    /// Empty when the flow does not say.
    pub author: String,
    pub participant: Option<ParticipantSid>,
    pub source: Option<String>,
}

impl HandoverRequest {
    /// Reads the request from the raw params (unknown params stay for the signature only).
    pub fn from_params(params: &FormParams) -> Result<Self, WebhookError> {
        Ok(Self {
            account: sid(params, "AccountSid", AccountSid::parse)?,
            conversation: sid(params, "ConversationSid", ConversationSid::parse)?,
            message: optional_sid(params, "MessageSid", MessageSid::parse)?,
            body: params.get("Body").unwrap_or_default().to_owned(),
            author: params.get("Author").unwrap_or_default().to_owned(),
            participant: optional_sid(params, "ParticipantSid", ParticipantSid::parse)?,
            source: present(params, "Source").map(str::to_owned),
        })
    }

    /// The first turn's key: the flow's `MessageSid`, else one derived from the conversation
    /// and the text (so a second handover with other words in the same conversation is not
    /// taken for a repeat).
    pub fn turn_key(&self) -> MessageSid {
        match &self.message {
            Some(message) => message.clone(),
            None => derived_key("turn", &[self.conversation.as_str(), &self.body]),
        }
    }
}

/// Whether signed params are a Studio handover rather than a Conversations webhook.
pub fn is_handover(params: &FormParams) -> bool {
    params.get("EventType") == Some(HANDOVER_EVENT)
}

/// `IM` and 32 hex digits of SHA-1 over a label and the values, separated so that no two
/// different inputs give the same string.
fn derived_key(label: &str, parts: &[&str]) -> MessageSid {
    crate::intake::keys::derived_key("flexlex studio handover ", label, parts)
}

/// The swap's key for a handover whose first turn has `turn_key`.
pub fn swap_key(conversation: &ConversationSid, turn_key: &MessageSid) -> MessageSid {
    derived_key("swap", &[conversation.as_str(), turn_key.as_str()])
}

/// The bot's webhook URL: the URL the flow's request was signed for, without its query, and
/// the bot's ids as that URL names them (`LocaleId` only when it names one, so the stack's
/// default still applies).
pub fn bot_webhook_url(signed_url: &str, bot: &BotRef, locale_named: bool) -> String {
    let base = signed_url
        .split_once('?')
        .map_or(signed_url, |(base, _)| base);
    let mut url = format!(
        "{base}?BotId={}&BotAliasId={}",
        bot.bot_id.as_str(),
        bot.alias_id.as_str()
    );
    if locale_named {
        url.push_str("&LocaleId=");
        url.push_str(bot.locale.as_str());
    }
    url
}

/// Admits a signed handover request (pure). `signed_url` is the URL its signature matched.
pub(crate) fn admit(
    gate: &Gate<'_>,
    envelope: &Envelope,
    params: &FormParams,
    signed_url: &str,
    trace: &mut Trace,
) -> Result<Job, Outcome> {
    let rejected = |why: String| Outcome::Rejected(Rejected::Webhook(why));
    let request = HandoverRequest::from_params(params)
        .map_err(|e| rejected(format!("studio handover: {e}")))?;
    let turn_key = request.turn_key();
    trace.conversation = Some(request.conversation.to_string());
    trace.message = Some(turn_key.to_string());
    if gate.account.is_some_and(|a| a != &request.account) {
        return Err(Outcome::Rejected(Rejected::Account));
    }
    // A bot webhook without a usable bot would answer every later message with an error:
    // the flow keeps the conversation instead.
    let bot = bot_ref(&envelope.query, &gate.behaviour.default_locale)
        .map_err(|why| rejected(format!("studio handover: {why}")))?;
    let behaviour = gate.behaviour;
    let from_customer = request.author != behaviour.bot_author
        && !behaviour
            .ignore_authors
            .iter()
            .any(|a| a == &request.author);
    let handover = Handover {
        webhook_url: bot_webhook_url(signed_url, &bot, envelope.query.contains_key("LocaleId")),
        swap_key: swap_key(&request.conversation, &turn_key),
        first_turn: from_customer && !request.body.trim().is_empty(),
    };
    let message = MessageAdded {
        account: request.account,
        conversation: request.conversation,
        message: turn_key,
        author: request.author,
        body: request.body,
        participant: request.participant,
        // Set on the turn side, once the bot's webhook exists: the one a handoff removes.
        webhook: None,
        source: request.source,
        client_identity: None,
        media: Vec::new(),
        index: None,
        attributes: Value::Object(Map::new()),
    };
    Ok(Job::Handover(HandoverJob {
        turn: MessageJob {
            message,
            route: Route::Bot(bot),
            request_id: envelope.request_id.clone(),
        },
        handover,
    }))
}

#[cfg(test)]
mod tests {

    use std::time::Duration;

    use flexlex_emulators::webhook::{
        CustomerMessage, Params, StudioHandover, envelope, signed_envelope,
    };
    use serde_json::json;

    use super::*;
    use crate::app::config::Config;
    use crate::domain::bot::{BotMessage, BotTurn, Intent, IntentState};
    use crate::domain::deadline::Deadline;
    use crate::domain::ids::{InteractionSid, WebhookSid};
    use crate::domain::job::HandoverJob;
    use crate::intake::signature::Verifier;
    use crate::outcome::{Ignored, Report};
    use crate::ports::conversations::{NewWebhook, ScopedWebhook};
    use crate::testing::{Call, RecordingConversations, ScriptedBot};
    use crate::turn::handover::bot_webhook;

    const TOKEN: &str = "studio-test-token";
    const BASE: &str = "https://abc123.execute-api.us-east-1.amazonaws.com/prod/webhook";
    const QUERY: &str = "?BotId=FLWRSDEMO1&BotAliasId=TSTALIASID";
    const AC: &str = "AC0123456789abcdef0123456789abcdef";
    const CH: &str = "CH0123456789abcdef0123456789abcdef";
    const IM: &str = "IM0123456789abcdef0123456789abcdef";
    const MB: &str = "MB0123456789abcdef0123456789abcdef";
    const STUDIO_WH: &str = "WH5555555555abcdef0123456789abcdef";
    const FLOW: &str = "FW0123456789abcdef0123456789abcdef";

    fn url() -> String {
        format!("{BASE}{QUERY}")
    }

    fn config(extra: &[(&str, &str)]) -> Config {
        let settings = [
            [("TWILIO_AUTH_TOKEN", TOKEN)].as_slice(),
            &[("FLEX_WORKFLOW_SID", "WW0123456789abcdef0123456789abcdef")],
            extra,
        ]
        .concat();
        crate::testing::config(&settings)
    }

    fn request<'a>(body: &'a str, message: Option<&'a str>) -> StudioHandover<'a> {
        StudioHandover {
            account: AC,
            conversation: CH,
            message,
            body,
            author: "+15551234567",
            participant: Some(MB),
            source: Some("SMS"),
        }
    }

    fn admit_with(config: &Config, event: Value) -> Result<Job, Outcome> {
        let verifier = Verifier::new(config.twilio.auth_token.clone(), None);
        let gate = Gate {
            behaviour: &config.behaviour,
            account: config.twilio.account.as_ref(),
            verifier: &verifier,
        };
        crate::intake::admission::admit(&gate, event, None, &mut Trace::default())
    }

    fn admit_signed(params: &Params) -> Result<Job, Outcome> {
        admit_with(
            &config(&[]),
            signed_envelope(&url(), params, TOKEN).unwrap(),
        )
    }

    fn admitted(params: &Params) -> Job {
        match admit_signed(params) {
            Ok(job) => job,
            Err(outcome) => panic!("not admitted: {outcome:?}"),
        }
    }

    fn handover(job: &Job) -> &Handover {
        match job {
            Job::Handover(HandoverJob { handover, .. }) => handover,
            other => panic!("not a handover: {}", other.kind()),
        }
    }

    #[test]
    fn a_signed_handover_becomes_a_first_turn_with_the_bot_webhook_to_attach() {
        let job = admitted(&request("I want roses", Some(IM)).params());
        let turn = job.turn();
        let ch = ConversationSid::parse(CH).unwrap();
        let im = MessageSid::parse(IM).unwrap();
        assert_eq!(job.kind(), "handover");
        assert_eq!(turn.message.conversation, ch);
        assert_eq!(turn.message.message, im);
        assert_eq!(turn.message.body, "I want roses");
        assert_eq!(turn.message.author, "+15551234567");
        assert_eq!(
            turn.message.participant,
            Some(ParticipantSid::parse(MB).unwrap())
        );
        assert_eq!(turn.message.source.as_deref(), Some("SMS"));
        assert_eq!(turn.message.webhook, None);
        assert_eq!(turn.message.index, None);
        let Route::Bot(bot) = &turn.route else {
            panic!("routed: {:?}", turn.route)
        };
        assert_eq!(
            (
                bot.bot_id.as_str(),
                bot.alias_id.as_str(),
                bot.locale.as_str()
            ),
            ("FLWRSDEMO1", "TSTALIASID", "en_US")
        );
        assert_eq!(
            handover(&job),
            &Handover {
                webhook_url: url(),
                swap_key: swap_key(&ch, &im),
                first_turn: true,
            }
        );
        assert_eq!(
            bot_webhook(handover(&job)),
            NewWebhook {
                url: url(),
                filters: vec!["onMessageAdded".into()],
            }
        );
    }

    #[test]
    fn a_json_handover_is_the_same_handover_as_a_form_one() {
        use flexlex_emulators::webhook::{Signer, signed_json_envelope};
        let form = admitted(&request("I want roses", Some(IM)).params());
        let params: serde_json::Map<String, Value> = request("I want roses", Some(IM))
            .params()
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        let body = Value::Object(params).to_string();
        let json = admit_with(
            &config(&[]),
            signed_json_envelope(&url(), &body, Signer::AuthToken(TOKEN)).unwrap(),
        )
        .unwrap_or_else(|o| panic!("not admitted: {o:?}"));
        assert_eq!(json.turn().message, form.turn().message);
        // The bot's webhook URL is the flow's URL without bodySHA256.
        assert_eq!(handover(&json), handover(&form));
        // The body changed after signing: refused.
        let mut tampered = signed_json_envelope(&url(), &body, Signer::AuthToken(TOKEN)).unwrap();
        let other = body.replace("roses", "lilies");
        tampered["body"] = serde_json::json!(base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            other
        ));
        assert!(matches!(
            admit_with(&config(&[]), tampered),
            Err(Outcome::Rejected(Rejected::SignatureScheme {
                code: "body_hash_mismatch",
                ..
            }))
        ));
    }

    #[test]
    fn without_a_message_sid_the_keys_are_derived_from_the_conversation_and_the_text() {
        let first = admitted(&request("hello", None).params());
        let again = admitted(&request("hello", None).params());
        let other = admitted(&request("goodbye", None).params());
        let key = &first.turn().message.message;
        assert_eq!(key, &again.turn().message.message);
        assert_eq!(handover(&first).swap_key, handover(&again).swap_key);
        assert_ne!(key, &other.turn().message.message);
        assert_ne!(handover(&first).swap_key, handover(&other).swap_key);
        assert_ne!(key, &handover(&first).swap_key);
        // Fixed derivation: a key stored by one version is found by the next.
        let ch = ConversationSid::parse(CH).unwrap();
        assert_eq!(key, &derived_key("turn", &[CH, "hello"]));
        assert_eq!(handover(&first).swap_key, swap_key(&ch, key));
        assert_eq!(key.as_str().len(), 34);
        assert!(key.as_str().starts_with("IM"));
        // An empty MessageSid (an unresolved Liquid variable) counts as absent.
        assert_eq!(
            admitted(&request("hello", Some("")).params())
                .turn()
                .message
                .message,
            *key
        );
    }

    #[test]
    fn derived_keys_separate_their_parts() {
        assert_ne!(
            derived_key("turn", &["ab", "c"]),
            derived_key("turn", &["a", "bc"])
        );
        assert_ne!(derived_key("turn", &["a"]), derived_key("swap", &["a"]));
    }

    #[test]
    fn only_a_customers_text_makes_a_first_turn() {
        for body in ["", "   "] {
            let turn = admitted(&request(body, Some(IM)).params());
            assert!(!handover(&turn).first_turn, "{body:?}");
        }
        for author in ["Lex", "system"] {
            let mut req = request("Hello from the bot", Some(IM));
            req.author = author;
            assert!(!handover(&admitted(&req.params())).first_turn, "{author}");
        }
        let mut anonymous = request("roses", Some(IM));
        anonymous.author = "";
        assert!(handover(&admitted(&anonymous.params())).first_turn);
    }

    #[test]
    fn the_bot_webhook_keeps_the_signed_url_and_the_bot_ids_it_names() {
        let with_locale =
            format!("{BASE}?BotAliasId=TSTALIASID&LocaleId=fr_CA&BotId=FLWRSDEMO1&Extra=1");
        let params = request("bonjour", Some(IM)).params();
        let turn = admit_with(
            &config(&[]),
            signed_envelope(&with_locale, &params, TOKEN).unwrap(),
        )
        .unwrap();
        assert_eq!(
            handover(&turn).webhook_url,
            format!("{BASE}?BotId=FLWRSDEMO1&BotAliasId=TSTALIASID&LocaleId=fr_CA")
        );
        // Behind a custom domain, the public URL is what Twilio signed and what it will call.
        let public = "https://bots.example.com/flexlex";
        let signed_public = signed_envelope(&format!("{public}{QUERY}"), &params, TOKEN).unwrap();
        let mut event = signed_public.clone();
        event["domainName"] = json!("abc123.execute-api.us-east-1.amazonaws.com");
        event["path"] = json!("/prod/webhook");
        let turn = admit_with(&config(&[("WEBHOOK_PUBLIC_URL", public)]), event).unwrap();
        assert_eq!(handover(&turn).webhook_url, format!("{public}{QUERY}"));
    }

    #[test]
    fn refused_handovers_say_why() {
        let forged = envelope(
            &url(),
            &request("hi", Some(IM)).params(),
            Some("AAAAAAAAAAAAAAAAAAAAAAAAAAA="),
        )
        .unwrap();
        assert!(matches!(
            admit_with(&config(&[]), forged),
            Err(Outcome::Rejected(Rejected::Signature {
                missing: false,
                ..
            }))
        ));
        let without = |name: &str| -> Params {
            request("hi", Some(IM))
                .params()
                .into_iter()
                .filter(|(k, _)| k != name)
                .collect()
        };
        let webhook_reason = |params: &Params| match admit_signed(params) {
            Err(Outcome::Rejected(Rejected::Webhook(why))) => why,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            webhook_reason(&without("ConversationSid")),
            "studio handover: webhook parameter `ConversationSid` is missing"
        );
        assert_eq!(
            webhook_reason(&without("AccountSid")),
            "studio handover: webhook parameter `AccountSid` is missing"
        );
        let mut bad = request("hi", Some("IM123")).params();
        assert!(
            webhook_reason(&bad)
                .starts_with("studio handover: webhook parameter `MessageSid` is invalid")
        );
        bad = request("hi", Some(IM)).params();
        bad.retain(|(k, _)| k != "ParticipantSid");
        bad.push(("ParticipantSid".into(), "MB1".into()));
        assert!(
            webhook_reason(&bad)
                .starts_with("studio handover: webhook parameter `ParticipantSid` is invalid")
        );

        let mut other_account = request("hi", Some(IM));
        other_account.account = "AC99999999999999999999999999999999";
        assert_eq!(
            admit_signed(&other_account.params()).unwrap_err(),
            Outcome::Rejected(Rejected::Account)
        );
        let no_bot = signed_envelope(BASE, &request("hi", Some(IM)).params(), TOKEN).unwrap();
        assert_eq!(
            admit_with(&config(&[]), no_bot).unwrap_err(),
            Outcome::Rejected(Rejected::Webhook(
                "studio handover: the webhook URL has no BotId query parameter".into()
            ))
        );
    }

    #[test]
    fn a_message_webhook_is_still_a_message() {
        let params = CustomerMessage {
            account: AC,
            conversation: CH,
            webhook: "WH0123456789abcdef0123456789abcdef",
            participant: MB,
            author: "+15551234567",
            body: "hi",
            index: 1,
            source: "SMS",
        }
        .params();
        let job = admitted(&params);
        assert_eq!(job.kind(), "message");
        let json: Value = serde_json::from_str(&job.to_body().unwrap()).unwrap();
        assert!(json.get("handover").is_none(), "{json}");
    }

    #[test]
    fn the_queue_carries_a_handover_and_drops_a_mislabelled_one() {
        let job = admitted(&request("roses", Some(IM)).params());
        let body = job.to_body().unwrap();
        let mut unlabelled: Value = serde_json::from_str(&body).unwrap();
        unlabelled.as_object_mut().unwrap().remove("handover");
        let event: aws_lambda_events::event::sqs::SqsEvent = serde_json::from_value(json!({
            "Records": [
                {"messageId": "1", "body": body, "attributes": {"MessageGroupId": CH}},
                {"messageId": "2", "body": unlabelled.to_string(), "attributes": {"MessageGroupId": CH}},
            ]
        }))
        .unwrap();
        let split = crate::turn::batch::lanes(event);
        assert_eq!(split.lanes.len(), 1);
        assert_eq!(split.lanes[0].jobs.len(), 1);
        assert_eq!(split.lanes[0].jobs[0].job, job);
        assert_eq!(split.lanes[0].back, ["2"]);
        assert_eq!(split.unreadable.len(), 1);
        assert_eq!(split.unreadable[0].message_id, "2");
        assert_eq!(
            split.unreadable[0].reason,
            "a handover job without its handover"
        );
    }

    fn studio_webhook() -> ScopedWebhook {
        crate::testing::studio_webhook(STUDIO_WH, FLOW)
    }

    struct Fixture {
        bridge: crate::app::bridge::Bridge,
        bot: ScriptedBot,
        twilio: RecordingConversations,
        ch: ConversationSid,
    }

    fn fixture() -> Fixture {
        let config = config(&[]);
        let bot = ScriptedBot::answering(BotTurn {
            messages: vec![BotMessage::PlainText("What kind of flowers?".into())],
            intent: Some(Intent {
                name: "OrderFlowers".into(),
                state: IntentState::InProgress,
                confirmation: None,
                slots: Default::default(),
            }),
            ..BotTurn::default()
        });
        let twilio = RecordingConversations::new(
            Vec::new(),
            Default::default(),
            InteractionSid::parse("KD0123456789abcdef0123456789abcdef").unwrap(),
        );
        let ch = ConversationSid::parse(CH).unwrap();
        twilio.attach_webhook(&ch, studio_webhook());
        let bridge = crate::testing::bridge(&config, &bot, &twilio);
        Fixture {
            bridge,
            bot,
            twilio,
            ch,
        }
    }

    async fn handle(f: &Fixture, params: &Params) -> Report {
        f.bridge
            .intake(
                signed_envelope(&url(), params, TOKEN).unwrap(),
                Deadline::after(Duration::from_secs(10)),
            )
            .await
    }

    #[tokio::test]
    async fn the_turn_swaps_the_webhooks_then_answers_the_first_turn_once() {
        let f = fixture();
        let params = request("I would like roses", Some(IM)).params();
        let report = handle(&f, &params).await;
        assert_eq!(report.outcome, Outcome::Replied);
        assert_eq!(report.trace.studio_webhooks_removed, 1);
        assert!(report.trace.bot_webhook_created);
        let attached = f.twilio.webhooks(&f.ch);
        assert_eq!(attached.len(), 1);
        let bot_webhook = attached[0].sid.clone().unwrap();
        assert_eq!(
            f.twilio.calls(),
            [
                Call::ListWebhooks(f.ch.clone()),
                Call::RecentMessages(f.ch.clone()),
                Call::RemoveWebhook(f.ch.clone(), WebhookSid::parse(STUDIO_WH).unwrap()),
                Call::CreateWebhook(
                    f.ch.clone(),
                    NewWebhook {
                        url: url(),
                        filters: vec!["onMessageAdded".into()],
                    }
                ),
                Call::Post {
                    conversation: f.ch.clone(),
                    author: "Lex".into(),
                    body: "What kind of flowers?".into(),
                    tag: crate::ports::conversations::ReplyTag {
                        message: MessageSid::parse(IM).unwrap(),
                        part: 0,
                        piece: 0,
                    },
                },
            ]
        );
        let requests = f.bot.requests();
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].text, "I would like roses");
        assert_eq!(requests[0].session_id, CH);
        assert_eq!(requests[0].request_attributes["flexlex_channel"], "sms");

        // The same request again: one read, nothing written, the bot not asked.
        f.twilio.clear();
        let again = handle(&f, &params).await;
        assert_eq!(again.outcome, Outcome::Ignored(Ignored::Duplicate));
        assert_eq!(f.twilio.calls(), [Call::ListWebhooks(f.ch.clone())]);
        assert_eq!(f.bot.requests().len(), 1);
        assert_eq!(f.twilio.webhooks(&f.ch)[0].sid, Some(bot_webhook));
    }

    #[tokio::test]
    async fn without_text_the_webhooks_are_swapped_and_the_bot_is_not_asked() {
        let f = fixture();
        let params = request("", Some(IM)).params();
        let report = handle(&f, &params).await;
        assert_eq!(report.outcome, Outcome::BotAttached);
        assert_eq!(report.outcome.to_string(), "bot_attached");
        assert_eq!(f.twilio.calls().len(), 4);
        assert_eq!(f.twilio.webhooks(&f.ch).len(), 1);
        assert!(f.bot.requests().is_empty());
        f.twilio.clear();
        assert_eq!(
            handle(&f, &params).await.outcome,
            Outcome::Ignored(Ignored::Duplicate)
        );
        assert_eq!(f.twilio.calls(), []);
    }

    #[tokio::test]
    async fn a_first_turn_that_hands_off_removes_the_bot_webhook_it_just_attached() {
        let f = fixture();
        f.bot.push(Ok(BotTurn {
            messages: vec![BotMessage::PlainText(
                "Okay - lets get you to an agent".into(),
            )],
            intent: Some(Intent {
                name: "Agent".into(),
                state: IntentState::ReadyForFulfillment,
                confirmation: None,
                slots: Default::default(),
            }),
            ..BotTurn::default()
        }));
        let params = request("agent please", Some(IM)).params();
        let report = handle(&f, &params).await;
        assert!(
            matches!(report.outcome, Outcome::HandedOff(_)),
            "{:?}",
            report.outcome
        );
        assert_eq!(f.twilio.webhooks(&f.ch), []);
        // Replayed after the handoff: a read, and the bot does not come back.
        f.twilio.clear();
        assert_eq!(
            handle(&f, &params).await.outcome,
            Outcome::Ignored(Ignored::Duplicate)
        );
        assert_eq!(f.twilio.calls(), [Call::ListWebhooks(f.ch.clone())]);
        // Another handover of the same conversation while an agent has it: nothing at all.
        f.twilio.clear();
        let later = request("hello again", Some("IM9999999999abcdef0123456789abcdef")).params();
        assert_eq!(
            handle(&f, &later).await.outcome,
            Outcome::Ignored(Ignored::HandedOff)
        );
        assert_eq!(f.twilio.calls(), []);
        assert_eq!(f.twilio.webhooks(&f.ch), []);
        assert_eq!(f.bot.requests().len(), 1);
    }
}
