//! Posting a turn's replies: text cut to Twilio's limit and tagged piece by piece, cards as
//! templates where the channel shows buttons (numbered text otherwise, never silence), and on a
//! resumed turn only what Twilio lacks.

use std::collections::{BTreeMap, HashSet};

use super::context::{Run, StepError, Worker, timed_state, timed_twilio};
use crate::domain::bot::Card;
use crate::domain::cards::{AsText, CardForm, RichCard};
use crate::domain::channel::ChannelType;
use crate::domain::ids::LocaleId;
use crate::domain::message_body::{MAX_MESSAGE_CHARS, split_body};
use crate::domain::plan::Reply;
use crate::domain::render::card_to_text;
use crate::lock;
use crate::outcome::{Cause, Stage};
use crate::ports::content::ContentApi;
use crate::ports::conversations::{ReplyTag, TwilioError};

/// How many of the latest messages a resumed turn reads to find the replies already posted.
const RESUME_LOOKBACK: u32 = 50;

/// Where the replies of a turn go, and in which form cards are posted there.
pub(super) struct Destination<'a> {
    pub(super) channel: ChannelType,
    pub(super) locale: &'a LocaleId,
}

impl Worker {
    /// Posts the plan's replies in order, each tagged with its part number. A resumed turn
    /// first reads which parts Twilio already has and posts only the others.
    pub(super) async fn post_replies(
        &self,
        run: &mut Run<'_>,
        replies: &[Reply],
        destination: &Destination<'_>,
    ) -> Result<(), StepError> {
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
    ) -> Result<(), StepError> {
        for (piece, body) in (0u32..).zip(split_body(text, MAX_MESSAGE_CHARS)) {
            if posted.contains(&(part, piece)) {
                run.trace.replies_skipped += 1;
                continue;
            }
            let tag = ReplyTag {
                message: run.turn.message.message.clone(),
                part,
                piece,
            };
            let result = timed_twilio(
                &mut run.trace,
                self.conversations.post_message(
                    &run.turn.message.conversation,
                    &self.behaviour.bot_author,
                    &body,
                    &tag,
                    run.deadline,
                ),
            )
            .await;
            let index = match result {
                Ok(index) => index,
                Err(e) => {
                    if matches!(e, TwilioError::Ambiguous { .. }) {
                        tracing::warn!(part, piece, error = %e, "reply outcome ambiguous; a redelivery checks Twilio before posting again");
                    }
                    return Err((Stage::Reply, e.into()));
                }
            };
            run.posted.extend(index);
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
    ) -> Result<(), StepError> {
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
            Ok(index) => {
                run.posted.extend(index);
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
    ) -> Result<Option<u64>, RichCardError> {
        let local = lock(&self.cards.local).get(&rich.key).cloned();
        let sid = match local {
            Some(sid) => sid,
            None => {
                let shared = timed_state(&mut run.trace, self.cards.shared.get(&rich.key)).await;
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
                        let sid = timed_twilio(
                            &mut run.trace,
                            api.create_content(&rich.template, run.deadline),
                        )
                        .await
                        .map_err(RichCardError::Create)?;
                        run.trace.templates_created += 1;
                        let stored =
                            timed_state(&mut run.trace, self.cards.shared.put(&rich.key, &sid))
                                .await;
                        if let Err(error) = stored {
                            tracing::warn!(%error, key = %rich.key, "content cache not updated; another instance may create the template again");
                        }
                        sid
                    }
                };
                lock(&self.cards.local)
                    .entry(rich.key.clone())
                    .or_insert_with(|| sid.clone());
                sid
            }
        };
        timed_twilio(
            &mut run.trace,
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

    /// The (part, piece) of every reply to this message the conversation already holds; their
    /// indices are the turn's posts too.
    async fn posted_pieces(&self, run: &mut Run<'_>) -> Result<HashSet<(u32, u32)>, StepError> {
        let message = &run.turn.message;
        let recent = timed_twilio(
            &mut run.trace,
            self.conversations.recent_messages(
                &message.conversation,
                RESUME_LOOKBACK,
                run.deadline,
            ),
        )
        .await
        .map_err(|e| (Stage::Reply, Cause::from(e)))?;
        let mut pieces = HashSet::new();
        for posted in recent {
            if let Some(tag) = posted.reply_to
                && tag.message == message.message
            {
                pieces.insert((tag.part, tag.piece));
                run.posted.push(posted.index);
            }
        }
        Ok(pieces)
    }
}

/// A rich card that was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RichCardError {
    /// The template could not be created: nothing was posted.
    #[error("content template not created: {0}")]
    Create(TwilioError),
    /// The message carrying the template failed.
    #[error("content message not posted: {0}")]
    Send(TwilioError),
}

impl RichCardError {
    /// Whether posting the numbered text instead is safe: nothing reached the customer. A send
    /// that Twilio may have applied (unavailable after the request went out, or a 2xx we could
    /// not read) is not retried as text, or the customer could see the card twice.
    pub fn falls_back_to_text(&self) -> bool {
        match self {
            Self::Create(_) => true,
            Self::Send(error) => matches!(error, TwilioError::Rejected { .. }),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::adapters::in_memory::InMemoryStore;

    use crate::domain::cards::rich_card;
    use crate::domain::conversation::TurnKey;
    use crate::domain::deadline::Deadline;
    use crate::domain::ids::{ConversationSid, MessageSid};
    use crate::domain::job::{MessageJob, Route};
    use crate::domain::message::MessageAdded;
    use crate::ports::content::ContentCache;
    use crate::testing::{Call, RecordingContentApi, RecordingConversations, ScriptedBot};
    use crate::turn::context::Cards;

    const CH: &str = "CH0123456789abcdef0123456789abcdef";
    const IM: &str = "IM0123456789abcdef0123456789abcdef";

    fn card() -> RichCard {
        let card = crate::testing::card("Which flowers?", &["Roses", "Lilies"]);
        rich_card(&card, &LocaleId::parse("en_US").unwrap()).unwrap()
    }

    fn tag() -> ReplyTag {
        ReplyTag {
            message: MessageSid::parse(IM).unwrap(),
            part: 1,
            piece: 0,
        }
    }

    fn job() -> MessageJob {
        MessageJob {
            message: MessageAdded {
                account: "AC0123456789abcdef0123456789abcdef".parse().unwrap(),
                conversation: CH.parse().unwrap(),
                message: IM.parse().unwrap(),
                author: "whatsapp:+15551234567".into(),
                body: "hi".into(),
                participant: None,
                webhook: None,
                source: None,
                client_identity: None,
                media: Vec::new(),
                index: Some(1),
                attributes: serde_json::json!({}),
            },
            route: Route::Unroutable("test".into()),
            request_id: String::new(),
        }
    }

    /// A worker whose cards go through `api`, with `cache` as the fleet's template cache.
    fn worker(
        conversations: &RecordingConversations,
        api: &RecordingContentApi,
        cache: Arc<InMemoryStore>,
    ) -> Worker {
        Worker::new(
            crate::testing::config(&[]).behaviour,
            Arc::new(ScriptedBot::default()),
            Arc::new(conversations.clone()),
            Arc::new(InMemoryStore::new()),
            Cards::new(Some(Arc::new(api.clone())), cache),
        )
    }

    async fn send(worker: &Worker, rich: &RichCard) -> Result<(), RichCardError> {
        let job = job();
        let key = job.message.message.clone();
        let mut run = Run::new(
            &job,
            TurnKey::own(&key, None),
            Deadline::after(Duration::from_secs(5)),
        );
        let api = worker.cards.api.clone().unwrap();
        worker
            .send_card(&mut run, api.as_ref(), rich, &tag())
            .await
            .map(drop)
    }

    #[tokio::test]
    async fn a_card_is_created_once_and_posted_by_sid() {
        let conversations = RecordingConversations::default();
        let api = RecordingContentApi::default();
        let cache = Arc::new(InMemoryStore::new());
        let worker = worker(&conversations, &api, cache.clone());
        let rich = card();
        send(&worker, &rich).await.unwrap();
        send(&worker, &rich).await.unwrap();
        assert_eq!(api.created(), vec![rich.template.clone()]);
        let sid = cache
            .get(&rich.key)
            .await
            .unwrap()
            .expect("the template's SID, cached");
        let posted = Call::PostContent {
            conversation: CH.parse::<ConversationSid>().unwrap(),
            author: "Lex".into(),
            content: sid,
            variables: BTreeMap::new(),
            tag: tag(),
        };
        assert_eq!(conversations.calls(), vec![posted.clone(), posted]);
    }

    #[tokio::test]
    async fn a_content_api_failure_posts_nothing_and_falls_back_to_text() {
        let conversations = RecordingConversations::default();
        let api = RecordingContentApi::default();
        api.fail_with(TwilioError::Rejected {
            operation: "create_content",
            status: 400,
            code: Some(20001),
            message: "bad".into(),
        });
        let cache = Arc::new(InMemoryStore::new());
        let worker = worker(&conversations, &api, cache.clone());
        let rich = card();
        let error = send(&worker, &rich).await.unwrap_err();
        assert!(matches!(error, RichCardError::Create(_)));
        assert!(error.falls_back_to_text());
        assert_eq!(conversations.calls(), vec![]);
        assert_eq!(cache.get(&rich.key).await.unwrap(), None);
    }

    #[test]
    fn only_failures_that_posted_nothing_fall_back_to_text() {
        let rejected = TwilioError::Rejected {
            operation: "x",
            status: 400,
            code: None,
            message: "no".into(),
        };
        let unavailable = TwilioError::Unavailable {
            operation: "x",
            attempts: 1,
            last: "503".into(),
        };
        let malformed = TwilioError::Malformed {
            operation: "x",
            detail: "?".into(),
        };
        assert!(RichCardError::Create(unavailable.clone()).falls_back_to_text());
        assert!(RichCardError::Create(malformed.clone()).falls_back_to_text());
        assert!(RichCardError::Send(rejected).falls_back_to_text());
        assert!(!RichCardError::Send(unavailable).falls_back_to_text());
        assert!(!RichCardError::Send(malformed).falls_back_to_text());
    }
}
