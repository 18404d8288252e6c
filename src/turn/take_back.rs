//! The turn side of a take-back (agent → bot): the Interactions event was only a doorbell, so
//! the conversation's state, the interaction channel and who is in it are read back from
//! Twilio first; only when the conversation is open, the channel neither paused nor being
//! transferred and nobody but the customer remains does the bot take over again — its
//! webhook attached again (listed first: never twice), a new bot episode in the memory (Lex is
//! told on the next message), the messages written while the agent had it marked as history
//! (a catch-up never answers them), `AFTER_AGENT_MESSAGE` posted when set. The pipeline claims the
//! job under the event's key and finishes it, so a repeated or late event changes nothing.

use super::context::{Run, StepError, Worker, timed_twilio};
use super::pipeline::Done;
use super::replies::Destination;
use crate::domain::after_agent::{AgentTruth, Stay, agents_episode, may_take_back};
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
        // Nothing to read from Twilio unless our state says the agent has it, for this event.
        let episode =
            match agents_episode(status, memory.agent.as_ref(), &job.take_back.interaction) {
                Ok(episode) => episode.clone(),
                Err(why) => return stays(why, memory, status),
            };

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
            tracing::error!(
                "the bot's webhook URL was not kept at handoff; the conversation stays with Flex"
            );
            return stays(Stay::NotConfigured, memory, status);
        };
        let wanted = NewWebhook {
            url,
            filters: BOT_FILTERS.iter().map(|f| (*f).to_owned()).collect(),
        };
        let listing = self.conversations.list_webhooks(conversation, run.deadline);
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
        // What was written while the agent had the conversation is the agent's: history, never
        // answered by a catch-up.
        let history = self.newest_index(run, Stage::TakeBack).await?;

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
            history_through: history,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use flexlex_emulators::webhook::{CustomerMessage, signed_envelope};
    use serde_json::Value;

    use crate::app::bridge::Bridge;
    use crate::domain::bot::{BotMessage, BotTurn, Intent, IntentState};
    use crate::domain::deadline::Deadline;
    use crate::domain::ids::{ConversationSid, InteractionSid, WebhookSid};
    use crate::outcome::{Ignored, Outcome, Report};
    use crate::ports::conversations::{
        ChannelParticipant, ChannelView, ScopedWebhook, WEBHOOK_TARGET,
    };
    use crate::testing::{CHANNEL, Call, RecordingConversations, ScriptedBot};

    use super::Stay;

    const TOKEN: &str = "test-auth-token";
    const URL: &str = "https://abc123.execute-api.us-east-1.amazonaws.com/prod/webhook?BotId=FLWRSDEMO1&BotAliasId=TSTALIASID";
    const AC: &str = "AC0123456789abcdef0123456789abcdef";
    const CH: &str = "CH0123456789abcdef0123456789abcdef";
    const WH: &str = "WH0123456789abcdef0123456789abcdef";
    const MB: &str = "MB0123456789abcdef0123456789abcdef";
    const KD: &str = "KD0123456789abcdef0123456789abcdef";
    const TTID: &str = "flex_interaction_webhook_0123";

    struct Fixture {
        bridge: Bridge,
        bot: ScriptedBot,
        twilio: RecordingConversations,
    }

    fn fixture() -> Fixture {
        let config = crate::testing::config(&[
            ("TWILIO_AUTH_TOKEN", TOKEN),
            ("AFTER_AGENT", "bot"),
            ("INTERACTION_WEBHOOK_TTID", TTID),
            ("AFTER_AGENT_MESSAGE", "Is there anything else I can do?"),
        ]);
        let bot = ScriptedBot::answering(BotTurn {
            messages: vec![BotMessage::PlainText("Hello!".into())],
            ..BotTurn::default()
        });
        let twilio = RecordingConversations::new(
            Vec::new(),
            Default::default(),
            InteractionSid::parse(KD).unwrap(),
        );
        twilio.attach_webhook(
            &ch(),
            ScopedWebhook {
                sid: WebhookSid::parse(WH).ok(),
                target: WEBHOOK_TARGET.into(),
                url: Some(URL.into()),
                method: Some("POST".into()),
                filters: vec!["onMessageAdded".into()],
                flow_sid: None,
            },
        );
        let bridge = crate::testing::bridge(&config, &bot, &twilio);
        Fixture {
            bridge,
            bot,
            twilio,
        }
    }

    fn ch() -> ConversationSid {
        ConversationSid::parse(CH).unwrap()
    }

    fn agent_turn() -> BotTurn {
        BotTurn {
            messages: vec![BotMessage::PlainText("Connecting you to an agent".into())],
            intent: Some(Intent {
                name: "Agent".into(),
                state: IntentState::ReadyForFulfillment,
                confirmation: None,
                slots: Default::default(),
            }),
            ..BotTurn::default()
        }
    }

    async fn handle(f: &Fixture, event: Value) -> Report {
        f.bridge
            .intake(event, Deadline::after(Duration::from_secs(10)))
            .await
    }

    /// The customer writes `body`; the webhook that fires is the one attached now.
    async fn say(f: &Fixture, body: &str) -> Report {
        let attached = f
            .twilio
            .webhooks(&ch())
            .first()
            .and_then(|w| w.sid.clone())
            .map_or_else(|| WH.to_owned(), |sid| sid.to_string());
        let params = CustomerMessage {
            account: AC,
            conversation: CH,
            webhook: &attached,
            participant: MB,
            author: "+15551234567",
            body,
            index: f.twilio.next_index(&ch()),
            source: "SMS",
        }
        .params();
        handle(f, signed_envelope(URL, &params, TOKEN).unwrap()).await
    }

    /// Flex's event for the interaction: `participant` left.
    fn left(participant: &str) -> Vec<(String, String)> {
        [
            ("EventType", "onParticipantLeft"),
            ("AccountSid", AC),
            ("InstanceSid", "GO0123456789abcdef0123456789abcdef"),
            ("InteractionSid", KD),
            ("ChannelSid", CHANNEL),
            ("MediaChannelSid", CH),
            ("ParticipantSid", participant),
            ("ParticipantType", "agent"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    async fn event(f: &Fixture, params: &[(String, String)]) -> Report {
        handle(f, signed_envelope(URL, params, TOKEN).unwrap()).await
    }

    fn writes(twilio: &RecordingConversations) -> Vec<Call> {
        twilio
            .calls()
            .into_iter()
            .filter(|c| {
                !matches!(
                    c,
                    Call::FetchConversation(_)
                        | Call::InteractionChannel(_)
                        | Call::ListWebhooks(_)
                        | Call::ListParticipants(_)
                        | Call::RecentMessages(_)
                )
            })
            .collect()
    }

    #[tokio::test]
    async fn the_bot_takes_back_when_the_agent_left_and_hands_off_again_into_the_same_interaction()
    {
        let f = fixture();
        f.bot.push(Ok(agent_turn()));
        let report = say(&f, "agent please").await;
        assert!(matches!(report.outcome, Outcome::HandedOff(_)));
        let created = f.twilio.calls().into_iter().find_map(|c| match c {
            Call::CreateInteraction(request) => Some(request),
            _ => None,
        });
        assert_eq!(created.and_then(|r| r.webhook_ttid), Some(TTID.to_owned()));
        assert!(f.twilio.webhooks(&ch()).is_empty());

        // The agent still there: nothing happens.
        f.twilio.set_channel(ChannelView {
            status: Some("active".into()),
            participants: vec![
                ChannelParticipant {
                    kind: "customer".into(),
                    status: None,
                },
                ChannelParticipant {
                    kind: "agent".into(),
                    status: None,
                },
            ],
        });
        f.twilio.clear();
        let early = event(&f, &left("UT00000000000000000000000000000001")).await;
        assert_eq!(
            early.outcome,
            Outcome::Ignored(Ignored::StaysWithAgent(Stay::AgentPresent))
        );
        assert_eq!(writes(&f.twilio), []);
        // Paused: nothing either.
        f.twilio.set_channel(ChannelView {
            status: Some("pause".into()),
            participants: Vec::new(),
        });
        let paused = event(&f, &left("UT00000000000000000000000000000002")).await;
        assert_eq!(
            paused.outcome,
            Outcome::Ignored(Ignored::StaysWithAgent(Stay::Paused))
        );
        assert_eq!(writes(&f.twilio), []);

        // The agent left, only the customer remains: the bot's webhook again, the message.
        f.twilio.set_channel(ChannelView {
            status: Some("inactive".into()),
            participants: vec![ChannelParticipant {
                kind: "customer".into(),
                status: None,
            }],
        });
        let done = left("UT00000000000000000000000000000003");
        let report = event(&f, &done).await;
        assert_eq!(report.outcome, Outcome::TakenBack);
        assert!(report.trace.bot_webhook_created);
        let attached = f.twilio.webhooks(&ch());
        assert_eq!(attached.len(), 1);
        assert_eq!(attached[0].url.as_deref(), Some(URL));
        let posted: Vec<String> = writes(&f.twilio)
            .into_iter()
            .filter_map(|c| match c {
                Call::Post { body, .. } => Some(body),
                _ => None,
            })
            .collect();
        assert_eq!(posted, ["Is there anything else I can do?"]);
        // The same event again: a duplicate, nothing written.
        f.twilio.clear();
        let again = event(&f, &done).await;
        assert_eq!(again.outcome, Outcome::Ignored(Ignored::Duplicate));
        assert_eq!(f.twilio.calls(), []);

        // The customer's next message goes to the bot, which is told the agent was there.
        let report = say(&f, "yes, one more thing").await;
        assert_eq!(report.outcome, Outcome::Replied);
        let asked = f.bot.requests().pop().unwrap();
        assert_eq!(asked.request_attributes["flexlex_after_agent"], "true");
        assert_eq!(asked.request_attributes["flexlex_agent_episodes"], "1");
        let report = say(&f, "and then?").await;
        assert_eq!(report.outcome, Outcome::Replied);
        assert!(
            !f.bot
                .requests()
                .pop()
                .unwrap()
                .request_attributes
                .contains_key("flexlex_after_agent")
        );

        // An agent again: an invite into the same interaction, the attributes sent again.
        f.bot.push(Ok(agent_turn()));
        f.twilio.clear();
        let report = say(&f, "agent again").await;
        assert!(matches!(report.outcome, Outcome::HandedOff(_)));
        let calls = f.twilio.calls();
        assert!(
            !calls
                .iter()
                .any(|c| matches!(c, Call::CreateInteraction(_)))
        );
        let invite = calls.iter().find_map(|c| match c {
            Call::Invite(kd, uo, request) => Some((kd, uo, request)),
            _ => None,
        });
        let Some((kd, uo, request)) = invite else {
            panic!("an invite: {calls:?}")
        };
        assert_eq!((kd.as_str(), uo.as_str()), (KD, CHANNEL));
        assert_eq!(request.attributes["returningFromAgent"], true);
        assert_eq!(request.attributes["agentEpisodes"], 1);
        assert!(f.twilio.webhooks(&ch()).is_empty());
    }

    #[tokio::test]
    async fn a_forged_or_unasked_for_event_changes_nothing() {
        let f = fixture();
        // Forged: signed with another token.
        let forged =
            signed_envelope(URL, &left("UT00000000000000000000000000000001"), "guess").unwrap();
        let report = handle(&f, forged).await;
        assert_eq!(report.outcome.to_string(), "rejected:signature");
        // Signed, but the bot never handed this conversation over.
        let report = event(&f, &left("UT00000000000000000000000000000001")).await;
        assert_eq!(
            report.outcome,
            Outcome::Ignored(Ignored::StaysWithAgent(Stay::OtherInteraction))
        );
        assert_eq!(writes(&f.twilio), []);
        assert!(f.bot.requests().is_empty());
    }
}
