//! The function's two roles behind one value, as the Lambda entry and the local tools use
//! them: *intake* (an API Gateway event: admit, then queue the job) and *turns* (an SQS batch:
//! each conversation's jobs in order). Knows no environment variables and no SDK types.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};

use crate::adapters::lazy::{BuildError, Lazy};
use crate::app::invocation_deadline::InvocationDeadlines;
use crate::app::telemetry::{self, LogFormat};
use crate::domain::behaviour::Behaviour;
use crate::domain::deadline::Deadline;
use crate::intake::Intake;
use crate::outcome::Report;
use crate::turn::batch::{Batch, Queued};

/// Shared by every invocation of a warm instance: built once at cold start. The turn role (and
/// its clients) is built by the first batch that needs it.
pub struct Bridge {
    intake: Intake,
    batch: Lazy<Batch>,
    deadlines: InvocationDeadlines,
}

impl Bridge {
    pub fn new(intake: Intake, batch: Lazy<Batch>, deadlines: InvocationDeadlines) -> Self {
        Self {
            intake,
            batch,
            deadlines,
        }
    }

    /// How each invocation's deadline is read from the runtime, within the function's timeout.
    pub fn deadlines(&self) -> &InvocationDeadlines {
        &self.deadlines
    }

    pub fn behaviour(&self) -> &Behaviour {
        self.intake.behaviour()
    }

    /// Intake: one API Gateway event. With no queue configured the turn runs at once and its
    /// report is returned.
    pub async fn intake(&self, event: serde_json::Value, deadline: Deadline) -> Report {
        self.intake.handle(event, None, deadline).await
    }

    /// As [`Bridge::intake`], for a request that reached us at `public_url` (scheme, host and
    /// path, without the query) rather than at the execute-api URL: the local server validates
    /// signatures against the URL it is reached at. `WEBHOOK_PUBLIC_URL` still wins.
    pub async fn intake_at(
        &self,
        event: serde_json::Value,
        public_url: Option<&str>,
        deadline: Deadline,
    ) -> Report {
        self.intake.handle(event, public_url, deadline).await
    }

    /// Turns: an SQS batch. Every record gets its log line; the answer lists the records to
    /// deliver again. An error: the turn role's clients could not be built, and nothing ran.
    pub async fn turns(
        &self,
        event: SqsEvent,
        deadline: Deadline,
        format: LogFormat,
    ) -> Result<SqsBatchResponse, BuildError> {
        let batch = self.batch.get().await?;
        let emit = move |report: &Report| telemetry::emit(report, format);
        Ok(batch.run(event, deadline, &emit).await)
    }

    /// One decoded record of a batch, as [`Bridge::turns`] runs it: for tools and tests that
    /// play the SQS trigger record by record.
    pub async fn turn_record(
        &self,
        record: &Queued,
        deadline: Deadline,
        format: LogFormat,
    ) -> Result<Report, BuildError> {
        let batch = self.batch.get().await?;
        let emit = move |report: &Report| telemetry::emit(report, format);
        Ok(batch.run_record(record, deadline, &emit).await)
    }

    /// Whether the turn role's clients have been built (by a batch, or given at construction).
    pub fn turn_role_built(&self) -> bool {
        self.batch.is_built()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::outcome::Outcome;

    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::app::config::Config;
    use crate::domain::bot::{BotError, BotTurn};
    use crate::domain::bot::{BotMessage, Intent, IntentState};
    use crate::domain::channel::ChannelType;
    use crate::domain::customer::{MessagingBinding, Participant};

    use crate::domain::ids::MessageSid;
    use crate::domain::ids::{ConversationSid, InteractionSid, ParticipantSid, WebhookSid};
    use crate::domain::plan::Reason;
    use crate::domain::secret::Secret;
    use crate::outcome::Stage;
    use crate::outcome::{Ignored, Rejected};
    use crate::testing::{Call, RecordingConversations, ScriptedBot};
    use flexlex_emulators::webhook::{
        CustomerMessage, Params, envelope, signature, signed_envelope,
    };

    const TOKEN: &str = "test-auth-token";
    const URL: &str = "https://abc123.execute-api.us-east-1.amazonaws.com/prod/webhook?BotId=FLWRSDEMO1&BotAliasId=TSTALIASID";
    const AC: &str = "AC0123456789abcdef0123456789abcdef";
    const CH: &str = "CH0123456789abcdef0123456789abcdef";
    const WH: &str = "WH0123456789abcdef0123456789abcdef";
    const MB: &str = "MB0123456789abcdef0123456789abcdef";

    struct Fixture {
        config: Config,
        bridge: Bridge,
        bot: ScriptedBot,
        twilio: RecordingConversations,
    }

    fn fixture(extra: &[(&str, &str)]) -> Fixture {
        let settings = [
            [("TWILIO_AUTH_TOKEN", TOKEN)].as_slice(),
            &[("FLEX_WORKFLOW_SID", "WW0123456789abcdef0123456789abcdef")],
            extra,
        ]
        .concat();
        let config = crate::testing::config(&settings);
        let bot = ScriptedBot::answering(reply_turn("Hello!", "Greeting", IntentState::InProgress));
        let sms = Participant {
            sid: Some(ParticipantSid::parse(MB).unwrap()),
            identity: None,
            binding: Some(MessagingBinding {
                kind: Some("sms".into()),
                address: Some("+15551234567".into()),
                proxy_address: Some("+15550001111".into()),
            }),
            attributes: json!({}),
        };
        let twilio = RecordingConversations::new(
            vec![sms],
            Default::default(),
            InteractionSid::parse("KD0123456789abcdef0123456789abcdef").unwrap(),
        );
        let bridge = crate::testing::bridge(&config, &bot, &twilio);
        Fixture {
            config,
            bridge,
            bot,
            twilio,
        }
    }

    fn reply_turn(text: &str, intent: &str, state: IntentState) -> BotTurn {
        BotTurn {
            messages: vec![BotMessage::PlainText(text.into())],
            intent: Some(Intent {
                name: intent.into(),
                state,
                confirmation: None,
                slots: Default::default(),
            }),
            ..BotTurn::default()
        }
    }

    fn params(author: &str, body: &str) -> Params {
        params_at(author, body, 0)
    }

    fn params_at(author: &str, body: &str, index: u64) -> Params {
        CustomerMessage {
            account: AC,
            conversation: CH,
            webhook: WH,
            participant: MB,
            author,
            body,
            index,
            source: "SMS",
        }
        .params()
    }

    /// The webhook of a message just written in the conversation: Twilio gave it the next
    /// Index.
    fn event(f: &Fixture, author: &str, body: &str) -> serde_json::Value {
        let index = f.twilio.next_index(&CH.parse().unwrap());
        signed_envelope(URL, &params_at(author, body, index), TOKEN).unwrap()
    }

    async fn handle(f: &Fixture, event: serde_json::Value) -> Report {
        f.bridge
            .intake(event, Deadline::after(Duration::from_secs(10)))
            .await
    }

    #[tokio::test]
    async fn a_turn_is_answered_and_the_conversation_waits() {
        let f = fixture(&[]);
        let report = handle(&f, event(&f, "+15551234567", "hi there")).await;
        assert_eq!(report.outcome, Outcome::Replied);
        let requests = f.bot.requests();
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].session_id, CH);
        assert_eq!(requests[0].text, "hi there");
        assert_eq!(requests[0].bot.locale.as_str(), "en_US");
        assert_eq!(requests[0].request_attributes["flexlex_channel"], "sms");
        assert_eq!(
            f.twilio.calls(),
            [Call::Post {
                conversation: ConversationSid::parse(CH).unwrap(),
                author: "Lex".into(),
                body: "Hello!".into(),
                tag: crate::ports::conversations::ReplyTag {
                    message: MessageSid::parse(report.trace.message.as_deref().unwrap()).unwrap(),
                    part: 0,
                    piece: 0,
                },
            }]
        );
        assert_eq!(report.trace.messages_posted, 1);
    }

    #[tokio::test]
    async fn a_fulfilled_close_intent_closes_after_the_reply() {
        let f = fixture(&[]);
        f.bot.push(Ok(reply_turn(
            "Thanks, order placed.",
            "OrderFlowers",
            IntentState::Fulfilled,
        )));
        let report = handle(&f, event(&f, "+15551234567", "yes")).await;
        assert_eq!(
            report.outcome,
            Outcome::Closed(Reason::Intent("OrderFlowers".into()))
        );
        let calls = f.twilio.calls();
        assert!(matches!(&calls[0], Call::Post { body, .. } if body == "Thanks, order placed."));
        assert_eq!(calls[1], Call::Close(ConversationSid::parse(CH).unwrap()));
        assert_eq!(calls.len(), 2);
    }

    #[tokio::test]
    async fn a_handoff_creates_the_interaction_then_removes_the_webhook() {
        let f = fixture(&[]);
        f.bot.push(Ok(reply_turn(
            "Okay - lets get you to an agent",
            "Agent",
            IntentState::ReadyForFulfillment,
        )));
        let report = handle(&f, event(&f, "+15551234567", "agent")).await;
        assert_eq!(
            report.outcome,
            Outcome::HandedOff(Reason::Intent("Agent".into()))
        );
        let calls = f.twilio.calls();
        assert!(matches!(&calls[0], Call::Post { .. }));
        let interaction = calls
            .iter()
            .position(|c| matches!(c, Call::CreateInteraction(_)))
            .expect("an interaction");
        let removal = calls
            .iter()
            .position(|c| matches!(c, Call::RemoveWebhook(..)))
            .expect("a webhook removal");
        assert!(
            interaction < removal,
            "interaction first, then the webhook goes"
        );
        let Call::CreateInteraction(request) = &calls[interaction] else {
            unreachable!()
        };
        assert_eq!(request.channel_type, ChannelType::Sms);
        assert_eq!(request.task_channel, "sms");
        assert_eq!(request.attributes["from"], "+15551234567");
        assert_eq!(request.attributes["lex"]["intent"], "Agent");
        assert_eq!(request.attributes["lex"]["botId"], "FLWRSDEMO1");
        assert_eq!(
            calls[removal],
            Call::RemoveWebhook(
                ConversationSid::parse(CH).unwrap(),
                WebhookSid::parse(WH).unwrap()
            )
        );
    }

    #[tokio::test]
    async fn forged_missing_and_wrong_url_signatures_touch_nothing() {
        let f = fixture(&[]);
        let forged = envelope(
            URL,
            &params("+15551234567", "hi"),
            Some("AAAAAAAAAAAAAAAAAAAAAAAAAAA="),
        )
        .unwrap();
        let missing = envelope(URL, &params("+15551234567", "hi"), None).unwrap();
        let signed_elsewhere = signature(
            TOKEN,
            "https://evil.example.com/prod/webhook?BotId=FLWRSDEMO1&BotAliasId=TSTALIASID",
            &params("+15551234567", "hi"),
        );
        let other_url =
            envelope(URL, &params("+15551234567", "hi"), Some(&signed_elsewhere)).unwrap();
        let wrong_token =
            signed_envelope(URL, &params("+15551234567", "hi"), "another-token").unwrap();
        for (envelope, missing_header) in [
            (forged, false),
            (missing, true),
            (other_url, false),
            (wrong_token, false),
        ] {
            let report = handle(&f, envelope).await;
            assert!(
                matches!(report.outcome, Outcome::Rejected(Rejected::Signature { missing, .. }) if missing == missing_header),
                "{:?}",
                report.outcome
            );
        }
        assert!(f.bot.requests().is_empty());
        assert!(f.twilio.calls().is_empty());
    }

    #[tokio::test]
    async fn the_previous_token_is_accepted_during_rotation() {
        let f = fixture(&[]);
        let mut config = f.config.clone();
        config.twilio.auth_token = Secret::new("new-token");
        config.twilio.previous_auth_token = Some(Secret::new(TOKEN));
        let rotated = crate::testing::bridge(&config, &f.bot, &f.twilio);
        let report = rotated
            .intake(
                event(&f, "+15551234567", "hi"),
                Deadline::after(Duration::from_secs(5)),
            )
            .await;
        assert_eq!(report.outcome, Outcome::Replied);
    }

    #[tokio::test]
    async fn the_bots_own_and_other_non_customer_messages_are_ignored() {
        let f = fixture(&[("IGNORE_AUTHORS", "system,supervisor")]);
        assert_eq!(
            handle(&f, event(&f, "Lex", "Hello!")).await.outcome,
            Outcome::Ignored(Ignored::OwnMessage)
        );
        assert_eq!(
            handle(&f, event(&f, "supervisor", "hi")).await.outcome,
            Outcome::Ignored(Ignored::NonCustomer)
        );
        assert_eq!(
            handle(&f, event(&f, "+15551234567", "  ")).await.outcome,
            Outcome::Ignored(Ignored::EmptyBody)
        );
        assert!(f.bot.requests().is_empty());
        assert!(f.twilio.calls().is_empty());
    }

    #[tokio::test]
    async fn a_redelivered_message_is_handled_once() {
        let f = fixture(&[]);
        let e = event(&f, "+15551234567", "hi");
        assert_eq!(handle(&f, e.clone()).await.outcome, Outcome::Replied);
        assert_eq!(
            handle(&f, e).await.outcome,
            Outcome::Ignored(Ignored::Duplicate)
        );
        assert_eq!(f.bot.requests().len(), 1);
    }

    #[tokio::test]
    async fn a_failing_bot_gets_the_apology_and_a_handoff() {
        let f = fixture(&[]);
        f.bot.push(Err(BotError::Unavailable {
            code: "ThrottlingException".into(),
            message: "Rate exceeded".into(),
        }));
        let report = handle(&f, event(&f, "+15551234567", "hi")).await;
        assert_eq!(
            report.outcome,
            Outcome::HandedOff(Reason::BotError("ThrottlingException".into()))
        );
        let calls = f.twilio.calls();
        assert!(
            matches!(&calls[0], Call::Post { body, .. } if body == crate::domain::behaviour::DEFAULT_BOT_ERROR_MESSAGE)
        );
        assert!(
            calls
                .iter()
                .any(|c| matches!(c, Call::CreateInteraction(_)))
        );
    }

    #[tokio::test]
    async fn a_url_without_bot_ids_is_a_bot_error_not_silence() {
        let f = fixture(&[("ON_BOT_ERROR", "reply")]);
        let envelope = signed_envelope(
            "https://abc123.execute-api.us-east-1.amazonaws.com/prod/webhook",
            &params("+15551234567", "hi"),
            TOKEN,
        )
        .unwrap();
        let report = handle(&f, envelope).await;
        assert_eq!(report.outcome, Outcome::Replied);
        assert!(
            report
                .trace
                .lex_error
                .as_deref()
                .is_some_and(|e| e.contains("BotId"))
        );
        assert!(f.bot.requests().is_empty());
        assert_eq!(f.twilio.calls().len(), 1);
    }

    #[tokio::test]
    async fn the_locale_comes_from_the_url_and_long_text_is_capped() {
        let f = fixture(&[]);
        let long = "é".repeat(1500);
        let url = format!("{URL}&LocaleId=fr_CA");
        let envelope = signed_envelope(&url, &params("+15551234567", &long), TOKEN).unwrap();
        let report = handle(&f, envelope).await;
        assert_eq!(report.outcome, Outcome::Replied);
        assert!(report.trace.text_truncated);
        let request = &f.bot.requests()[0];
        assert_eq!(request.bot.locale.as_str(), "fr_CA");
        assert_eq!(request.text.chars().count(), 1024);
    }

    #[tokio::test]
    async fn malformed_envelopes_and_other_accounts_are_rejected() {
        let f = fixture(&[]);
        for bad in [
            json!(null),
            json!("text"),
            json!({"v": "1"}),
            json!({"v": "9", "body": ""}),
        ] {
            assert!(matches!(
                handle(&f, bad).await.outcome,
                Outcome::Rejected(Rejected::Envelope(_))
            ));
        }
        let mut other = params("+15551234567", "hi");
        other[0].1 = "AC99999999999999999999999999999999".into();
        let envelope = signed_envelope(URL, &other, TOKEN).unwrap();
        assert_eq!(
            handle(&f, envelope).await.outcome,
            Outcome::Rejected(Rejected::Account)
        );
        assert!(f.twilio.calls().is_empty());
    }

    #[tokio::test]
    async fn other_event_types_are_ignored() {
        let f = fixture(&[]);
        let p: Params = vec![
            ("AccountSid".into(), AC.into()),
            ("EventType".into(), "onConversationStateUpdated".into()),
            ("ConversationSid".into(), CH.into()),
        ];
        let report = handle(&f, signed_envelope(URL, &p, TOKEN).unwrap()).await;
        assert_eq!(
            report.outcome,
            Outcome::Ignored(Ignored::EventType("onConversationStateUpdated".into()))
        );
    }

    #[tokio::test]
    async fn twilio_failures_become_failed_outcomes_with_their_stage() {
        let f = fixture(&[]);
        let bridge = crate::app::compose::bridge(
            &f.config,
            crate::app::compose::Ports::local(
                Arc::new(f.bot.clone()),
                Arc::new(crate::testing::TwilioDown),
            ),
        );
        let report = bridge
            .intake(
                event(&f, "+15551234567", "hi"),
                Deadline::after(Duration::from_secs(5)),
            )
            .await;
        let Outcome::Failed(failure) = report.outcome else {
            panic!("expected a failure")
        };
        assert_eq!(failure.stage, Stage::Reply);
        // Twilio may come back; the bot already answered and the state is in this process
        // only, so a replay elsewhere would ask it again.
        assert_eq!(failure.label(), "Transient.ReplayUnsafe");
    }

    #[tokio::test]
    async fn media_only_messages_get_the_media_reply() {
        let f = fixture(&[]);
        let mut pairs = params("+15551234567", "");
        pairs.push((
            "Media".into(),
            r#"[{"Sid":"ME0123","ContentType":"image/jpeg","Filename":"a.jpg","Size":1}]"#.into(),
        ));
        let envelope = signed_envelope(URL, &pairs, TOKEN).unwrap();
        let report = handle(&f, envelope).await;
        assert_eq!(report.outcome, Outcome::Replied);
        assert!(f.bot.requests().is_empty());
        assert!(
            matches!(&f.twilio.calls()[0], Call::Post { body, .. } if body == crate::domain::behaviour::DEFAULT_MEDIA_REPLY)
        );
    }

    #[tokio::test]
    async fn a_whatsapp_card_is_a_tagged_template_only_where_a_content_api_is_given() {
        let f = fixture(&[]);
        let card = BotTurn {
            messages: vec![
                BotMessage::PlainText("Sure.".into()),
                BotMessage::Card(crate::domain::bot::Card {
                    title: "Which flowers?".into(),
                    buttons: ["Roses", "Lilies"]
                        .iter()
                        .map(|t| crate::domain::bot::Button {
                            text: (*t).into(),
                            value: t.to_lowercase(),
                        })
                        .collect(),
                    ..crate::domain::bot::Card::default()
                }),
            ],
            ..BotTurn::default()
        };
        let whatsapp = "whatsapp:+447700900123";
        // The fixture's ports have no Content API: numbered text.
        f.bot.push(Ok(card.clone()));
        let report = handle(&f, event(&f, whatsapp, "flowers")).await;
        assert_eq!(
            (report.trace.cards_rich, report.trace.cards_as_text),
            (0, 0)
        );
        assert!(matches!(
            &f.twilio.calls()[..],
            [Call::Post { .. }, Call::Post { body, .. }] if body == "Which flowers?\n1. Roses\n2. Lilies"
        ));
        // With one: the template is created and posted with the reply's tag (its part).
        let api = crate::testing::RecordingContentApi::default();
        let twilio = RecordingConversations::default();
        let bridge = crate::app::compose::bridge(
            &f.config,
            crate::app::compose::Ports::local(Arc::new(f.bot.clone()), Arc::new(twilio.clone()))
                .with_content(Arc::new(api.clone())),
        );
        f.bot.push(Ok(card));
        let report = bridge
            .intake(
                signed_envelope(
                    URL,
                    &params_at(whatsapp, "flowers", twilio.next_index(&CH.parse().unwrap())),
                    TOKEN,
                )
                .unwrap(),
                Deadline::after(Duration::from_secs(5)),
            )
            .await;
        assert_eq!(
            (report.trace.cards_rich, report.trace.templates_created),
            (1, 1)
        );
        assert_eq!(api.created().len(), 1);
        let calls = twilio.calls();
        let [
            Call::Post { tag: text, .. },
            Call::PostContent { tag: card, .. },
        ] = &calls[..]
        else {
            panic!("a text then a template: {calls:?}")
        };
        assert_eq!((text.part, card.part), (0, 1));
        assert_eq!(text.message, card.message);
    }

    #[tokio::test]
    async fn a_bare_number_answers_the_card_the_bot_just_posted() {
        let f = fixture(&[]);
        f.bot.push(Ok(BotTurn {
            messages: vec![BotMessage::Card(crate::domain::bot::Card {
                title: "Which flowers?".into(),
                buttons: ["Roses", "Lilies"]
                    .iter()
                    .map(|t| crate::domain::bot::Button {
                        text: (*t).into(),
                        value: t.to_lowercase(),
                    })
                    .collect(),
                ..crate::domain::bot::Card::default()
            })],
            ..BotTurn::default()
        }));
        assert_eq!(
            handle(&f, event(&f, "+15551234567", "flowers"))
                .await
                .outcome,
            Outcome::Replied
        );
        // The card's buttons are in the conversation's memory: the number becomes the
        // button's value without reading the conversation.
        let report = handle(&f, event(&f, "+15551234567", "2")).await;
        assert!(report.trace.choice_mapped);
        assert_eq!(f.bot.requests()[1].text, "lilies");
        assert!(
            !f.twilio
                .calls()
                .iter()
                .any(|c| matches!(c, Call::RecentMessages(_)))
        );
        // The bot's answer had no card: a number goes to the bot as typed.
        let report = handle(&f, event(&f, "+15551234567", "7")).await;
        assert!(!report.trace.choice_mapped);
        assert_eq!(f.bot.requests()[2].text, "7");
    }

    /// A queued job body, as intake writes it, for `conversation`.
    fn job_body(conversation: &str, index: u64) -> String {
        crate::testing::message_job(
            conversation.parse().unwrap(),
            format!("IM{index:032x}").parse().unwrap(),
            index,
        )
        .to_body()
        .unwrap()
    }

    #[tokio::test]
    async fn an_unreadable_record_goes_back_with_its_conversation_and_nothing_behind_it_runs() {
        let f = fixture(&[]);
        const OTHER: &str = "CH00000000000000000000000000000002";
        let record = |id: &str, group: &str, body: String| {
            serde_json::json!({
                "messageId": id,
                "body": body,
                "attributes": {"MessageGroupId": group, "ApproximateReceiveCount": "1"},
                "eventSource": "aws:sqs"
            })
        };
        let future_kind =
            job_body(CH, 1).replacen("\"kind\":\"message\"", "\"kind\":\"takeback\"", 1);
        let event: SqsEvent = serde_json::from_value(serde_json::json!({"Records": [
            record("unreadable", CH, future_kind),
            record("behind", CH, job_body(CH, 2)),
            record("other", OTHER, job_body(OTHER, 0)),
        ]}))
        .unwrap();
        let answer = f
            .bridge
            .turns(
                event,
                Deadline::after(Duration::from_secs(10)),
                LogFormat::Text,
            )
            .await
            .unwrap();
        let again: Vec<&str> = answer
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(again, ["unreadable", "behind"]);
        // Only the other conversation's message reached the bot and got its reply.
        let asked: Vec<String> = f
            .bot
            .requests()
            .iter()
            .map(|r| r.session_id.clone())
            .collect();
        assert_eq!(asked, [OTHER]);
        let calls = f.twilio.calls();
        let [
            Call::Post {
                conversation, body, ..
            },
        ] = calls.as_slice()
        else {
            panic!("{calls:?}")
        };
        assert_eq!((conversation.as_str(), body.as_str()), (OTHER, "Hello!"));
    }
}
