//! The Lex V2 adapter of the bot port: `RecognizeText` through the AWS SDK, mapped to domain
//! types. Nothing outside this module sees an SDK type.
//!
//! Retries are split by who can do them safely: the SDK retries throttling, 5xx and transport
//! faults (standard mode, few attempts, short backoff); this adapter retries
//! `ConflictException` (another request still running on the session), which the SDK does not.
//! Everything runs inside the invocation's [`Deadline`].
//!
//! Every client this module builds carries the [`StripNullSlots`] interceptor, without which
//! the SDK cannot read Lex's `null` slots (see [`nulls`]).

pub mod nulls;

pub use nulls::StripNullSlots;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_lexruntimev2::Client;
use aws_sdk_lexruntimev2::config::http::HttpResponse;
use aws_sdk_lexruntimev2::config::retry::RetryConfig;
use aws_sdk_lexruntimev2::config::timeout::TimeoutConfig;
use aws_sdk_lexruntimev2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_lexruntimev2::operation::recognize_text::{RecognizeTextError, RecognizeTextOutput};
use aws_sdk_lexruntimev2::types;

use crate::adapters::backoff::Backoff;
use crate::domain::bot::{
    BotError, BotMessage, BotRequest, BotTurn, Button, Card, DialogAction, Intent, IntentState,
};
use crate::domain::deadline::Deadline;
use crate::ports::bot::Bot;

/// Timeouts and retries for the Lex client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexSettings {
    pub connect_timeout: Duration,
    /// One HTTP attempt.
    pub attempt_timeout: Duration,
    /// All the SDK's attempts of one call together.
    pub operation_timeout: Duration,
    /// SDK attempts per call (throttling, 5xx, timeouts), the first included.
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// Extra calls after a `ConflictException`.
    pub conflict_retries: u32,
    /// Base pause before a conflict retry; doubled each time, with jitter.
    pub conflict_backoff: Duration,
}

impl Default for LexSettings {
    /// Sized for a Lambda with a budget of seconds: a slow Lex is given up on rather than
    /// waited for, so the customer still gets the fallback in time.
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(2),
            attempt_timeout: Duration::from_secs(4),
            operation_timeout: Duration::from_secs(9),
            max_attempts: 3,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            conflict_retries: 2,
            conflict_backoff: Duration::from_millis(200),
        }
    }
}

impl LexSettings {
    fn retry_config(&self) -> RetryConfig {
        crate::adapters::http::sdk_retry_config()
            .with_max_attempts(self.max_attempts.max(1))
            .with_initial_backoff(self.initial_backoff)
            .with_max_backoff(self.max_backoff)
    }

    fn timeout_config(&self) -> TimeoutConfig {
        TimeoutConfig::builder()
            .connect_timeout(self.connect_timeout)
            .operation_attempt_timeout(self.attempt_timeout)
            .operation_timeout(self.operation_timeout)
            .build()
    }
}

#[derive(Debug, Clone)]
pub struct LexBot {
    client: Client,
    conflict_retries: u32,
    conflict_backoff: Duration,
}

impl LexBot {
    /// Wraps a client configured elsewhere; conflict retries use the default settings. The
    /// client's config must carry [`StripNullSlots`], or slot-filling turns fail to deserialise.
    pub fn new(client: Client) -> Self {
        let defaults = LexSettings::default();
        Self {
            client,
            conflict_retries: defaults.conflict_retries,
            conflict_backoff: defaults.conflict_backoff,
        }
    }

    /// The production client: region, credentials and endpoint from `config` (which
    /// `app::sdk_config` fills from the environment, including
    /// `AWS_ENDPOINT_URL_LEX_RUNTIME_V2`), with `settings`' timeouts and retries replacing
    /// whatever the environment said.
    pub fn from_sdk_config(config: &aws_config::SdkConfig, settings: &LexSettings) -> Self {
        let conf = aws_sdk_lexruntimev2::config::Builder::from(config)
            .retry_config(settings.retry_config())
            .timeout_config(settings.timeout_config())
            .interceptor(StripNullSlots)
            .build();
        Self::with_settings(Client::from_conf(conf), settings)
    }

    fn with_settings(client: Client, settings: &LexSettings) -> Self {
        Self {
            client,
            conflict_retries: settings.conflict_retries,
            conflict_backoff: settings.conflict_backoff,
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    async fn call(&self, request: &BotRequest) -> Result<RecognizeTextOutput, LexFailure> {
        let attributes: HashMap<String, String> = request
            .request_attributes
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        self.client
            .recognize_text()
            .bot_id(request.bot.bot_id.as_str())
            .bot_alias_id(request.bot.alias_id.as_str())
            .locale_id(request.bot.locale.as_str())
            .session_id(&request.session_id)
            .text(&request.text)
            .set_request_attributes((!attributes.is_empty()).then_some(attributes))
            .send()
            .await
            .map_err(|e| classify(&e))
    }

    /// Calls Lex, calling again after a conflict while the deadline leaves room for another
    /// attempt as long as the last one.
    async fn call_with_conflict_retries(
        &self,
        request: &BotRequest,
        deadline: Deadline,
    ) -> Result<BotTurn, BotError> {
        let mut conflicts = 0;
        loop {
            let started = Instant::now();
            match self.call(request).await {
                Ok(output) => return Ok(turn_from_output(&output)),
                Err(LexFailure::Conflict(error)) if conflicts < self.conflict_retries => {
                    let pause = jittered(self.conflict_backoff, conflicts);
                    if !deadline.allows(pause, started.elapsed()) {
                        return Err(error);
                    }
                    conflicts += 1;
                    tracing::debug!(session = %request.session_id, attempt = conflicts, ?pause, "lex session busy; retrying");
                    tokio::time::sleep(pause).await;
                }
                Err(LexFailure::Conflict(error) | LexFailure::Other(error)) => return Err(error),
            }
        }
    }
}

#[async_trait]
impl Bot for LexBot {
    async fn recognize_text(
        &self,
        request: &BotRequest,
        deadline: Deadline,
    ) -> Result<BotTurn, BotError> {
        let remaining = deadline.remaining();
        if remaining.is_zero() {
            return Err(BotError::Deadline);
        }
        match tokio::time::timeout(
            remaining,
            self.call_with_conflict_retries(request, deadline),
        )
        .await
        {
            Ok(result) => result,
            Err(_elapsed) => Err(BotError::Deadline),
        }
    }
}

/// A failed call, with conflicts kept apart because only they are retried here.
#[derive(Debug, Clone, PartialEq, Eq)]
enum LexFailure {
    Conflict(BotError),
    Other(BotError),
}

/// The pause before the `n`-th conflict retry: the shared backoff over the base, doubled each
/// time (up to 2⁸ times), so busy sessions do not retry in step.
fn jittered(base: Duration, n: u32) -> Duration {
    Backoff {
        base,
        cap: base.saturating_mul(1 << 8),
        max_attempts: u32::MAX,
    }
    .jittered(n)
}

/// Maps an SDK failure to the port's error, keeping Lex's error code.
fn classify(error: &SdkError<RecognizeTextError, HttpResponse>) -> LexFailure {
    let unavailable = |code: &str, message: String| BotError::Unavailable {
        code: code.to_owned(),
        message,
    };
    let service = match error {
        SdkError::ServiceError(service) => service.err(),
        SdkError::TimeoutError(_) => {
            return LexFailure::Other(unavailable("Timeout", "Lex did not answer in time".into()));
        }
        SdkError::DispatchFailure(failure) => {
            let what = if failure.is_timeout() {
                "connection timed out"
            } else {
                "request could not be sent"
            };
            return LexFailure::Other(unavailable("DispatchFailure", what.into()));
        }
        SdkError::ResponseError(_) => {
            return LexFailure::Other(unavailable(
                "ResponseError",
                "Lex's response could not be read".into(),
            ));
        }
        SdkError::ConstructionFailure(_) => {
            return LexFailure::Other(BotError::Rejected {
                code: "ConstructionFailure".into(),
                message: "the request could not be built".into(),
            });
        }
        _ => return LexFailure::Other(unavailable("Unknown", "unexpected SDK failure".into())),
    };
    let code = service.code().unwrap_or("Unknown").to_owned();
    let message = service.message().unwrap_or_default().to_owned();
    match service {
        RecognizeTextError::ConflictException(_) => {
            LexFailure::Conflict(BotError::Unavailable { code, message })
        }
        RecognizeTextError::ThrottlingException(_)
        | RecognizeTextError::InternalServerException(_)
        | RecognizeTextError::BadGatewayException(_) => {
            LexFailure::Other(BotError::Unavailable { code, message })
        }
        RecognizeTextError::ValidationException(_)
        | RecognizeTextError::AccessDeniedException(_)
        | RecognizeTextError::ResourceNotFoundException(_) => {
            LexFailure::Other(BotError::Rejected { code, message })
        }
        RecognizeTextError::DependencyFailedException(_) => {
            LexFailure::Other(BotError::Dependency { message })
        }
        // An error code this SDK version does not model: 4xx other than throttling is a refusal.
        _ => {
            let status = match error {
                SdkError::ServiceError(s) => Some(s.raw().status().as_u16()),
                _ => None,
            };
            match status {
                Some(s) if (400..500).contains(&s) && s != 429 => {
                    LexFailure::Other(BotError::Rejected { code, message })
                }
                _ => LexFailure::Other(BotError::Unavailable { code, message }),
            }
        }
    }
}

/// The whole response in domain terms.
pub fn turn_from_output(output: &RecognizeTextOutput) -> BotTurn {
    let state = output.session_state();
    let intent = state.and_then(types::SessionState::intent);
    let top = top_interpretation(output.interpretations(), intent.map(types::Intent::name));
    BotTurn {
        messages: output.messages().iter().filter_map(message_from).collect(),
        dialog_action: state
            .and_then(types::SessionState::dialog_action)
            .map(dialog_action_from),
        intent: intent.map(intent_from),
        session_attributes: state
            .and_then(types::SessionState::session_attributes)
            .map(|a| a.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
        confidence: top
            .and_then(types::Interpretation::nlu_confidence)
            .map(types::ConfidenceScore::score),
        sentiment: sentiment(output.interpretations(), top),
        alternatives: alternatives(output.interpretations(), intent.map(types::Intent::name)),
    }
}

/// The utterance's sentiment: it describes what the customer wrote, not an intent, so it is
/// taken from the chosen interpretation, else from whichever interpretation carries it.
fn sentiment(all: &[types::Interpretation], top: Option<&types::Interpretation>) -> Option<String> {
    let of = |i: &types::Interpretation| {
        i.sentiment_response()
            .and_then(types::SentimentResponse::sentiment)
            .map(|s| s.as_str().to_owned())
    };
    top.and_then(of).or_else(|| all.iter().find_map(of))
}

/// The interpretation of the intent Lex went with, else the first (Lex lists best first).
fn top_interpretation<'a>(
    all: &'a [types::Interpretation],
    intent: Option<&str>,
) -> Option<&'a types::Interpretation> {
    let same = |i: &&types::Interpretation| i.intent().map(types::Intent::name) == intent;
    all.iter().find(same).or_else(|| all.first())
}

/// The other intents Lex considered. When Lex switches intent mid-dialog (say to `Agent` while
/// ordering), the slots gathered for the abandoned intent survive only here, so a handoff can
/// still report what the customer already said.
fn alternatives(interpretations: &[types::Interpretation], current: Option<&str>) -> Vec<Intent> {
    interpretations
        .iter()
        .filter_map(types::Interpretation::intent)
        .filter(|i| Some(i.name()) != current)
        .map(intent_from)
        .collect()
}

/// One message; `None` for a message this adapter cannot render (an unknown content type or
/// a card without its card).
pub fn message_from(message: &types::Message) -> Option<BotMessage> {
    let content = || message.content().map(str::to_owned);
    match message.content_type() {
        types::MessageContentType::PlainText => content().map(BotMessage::PlainText),
        types::MessageContentType::Ssml => content().map(BotMessage::Ssml),
        types::MessageContentType::CustomPayload => content().map(BotMessage::CustomPayload),
        types::MessageContentType::ImageResponseCard => message.image_response_card().map(|card| {
            BotMessage::Card(Card {
                title: card.title().to_owned(),
                subtitle: card.subtitle().map(str::to_owned),
                image_url: card.image_url().map(str::to_owned),
                buttons: card
                    .buttons()
                    .iter()
                    .map(|b| Button {
                        text: b.text().to_owned(),
                        value: b.value().to_owned(),
                    })
                    .collect(),
            })
        }),
        other => {
            tracing::warn!(
                content_type = other.as_str(),
                "skipping a Lex message of unknown type"
            );
            None
        }
    }
}

pub fn dialog_action_from(action: &types::DialogAction) -> DialogAction {
    match action.r#type() {
        types::DialogActionType::Close => DialogAction::Close,
        types::DialogActionType::ConfirmIntent => DialogAction::ConfirmIntent,
        types::DialogActionType::Delegate => DialogAction::Delegate,
        types::DialogActionType::ElicitIntent => DialogAction::ElicitIntent,
        types::DialogActionType::ElicitSlot => {
            DialogAction::ElicitSlot(action.slot_to_elicit().map(str::to_owned))
        }
        types::DialogActionType::None => DialogAction::None,
        other => DialogAction::Other(other.as_str().to_owned()),
    }
}

/// An intent without a state maps to `IntentState::Other("")`.
pub fn intent_from(intent: &types::Intent) -> Intent {
    let state = match intent.state() {
        Some(types::IntentState::Failed) => IntentState::Failed,
        Some(types::IntentState::Fulfilled) => IntentState::Fulfilled,
        Some(types::IntentState::InProgress) => IntentState::InProgress,
        Some(types::IntentState::ReadyForFulfillment) => IntentState::ReadyForFulfillment,
        Some(types::IntentState::Waiting) => IntentState::Waiting,
        Some(types::IntentState::FulfillmentInProgress) => IntentState::FulfillmentInProgress,
        Some(other) => IntentState::Other(other.as_str().to_owned()),
        None => IntentState::Other(String::new()),
    };
    let slots: BTreeMap<String, Option<String>> = intent
        .slots()
        .into_iter()
        .flatten()
        .map(|(name, slot)| (name.clone(), slot_value(slot)))
        .collect();
    Intent {
        name: intent.name().to_owned(),
        state,
        confirmation: intent.confirmation_state().map(|c| c.as_str().to_owned()),
        slots,
    }
}

/// The interpreted value, else what the customer typed; a list slot's values joined by ", ".
pub fn slot_value(slot: &types::Slot) -> Option<String> {
    if let Some(value) = slot.value() {
        let interpreted = value.interpreted_value();
        let chosen = if interpreted.is_empty() {
            value.original_value().unwrap_or_default()
        } else {
            interpreted
        };
        return (!chosen.is_empty()).then(|| chosen.to_owned());
    }
    let items: Vec<String> = slot.values().iter().filter_map(slot_value).collect();
    (!items.is_empty()).then(|| items.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_lexruntimev2::types::error as lex_err;
    use aws_smithy_types::body::SdkBody;

    fn value(original: Option<&str>, interpreted: &str) -> types::Slot {
        let mut v = types::Value::builder().interpreted_value(interpreted);
        if let Some(o) = original {
            v = v.original_value(o);
        }
        types::Slot::builder().value(v.build().unwrap()).build()
    }

    fn intent(name: &str) -> types::builders::IntentBuilder {
        types::Intent::builder().name(name)
    }

    #[test]
    fn messages_keep_their_order_and_kinds() {
        let card = types::ImageResponseCard::builder()
            .title("Pick")
            .subtitle("one")
            .buttons(
                types::Button::builder()
                    .text("Roses")
                    .value("roses")
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        let msg = |t: types::MessageContentType, c: Option<&str>| {
            let mut b = types::Message::builder().content_type(t);
            if let Some(c) = c {
                b = b.content(c);
            }
            b
        };
        let output = RecognizeTextOutput::builder()
            .messages(
                msg(types::MessageContentType::Ssml, Some("<speak>Hi</speak>"))
                    .build()
                    .unwrap(),
            )
            .messages(
                msg(types::MessageContentType::PlainText, Some("Hello"))
                    .build()
                    .unwrap(),
            )
            .messages(
                msg(types::MessageContentType::ImageResponseCard, None)
                    .image_response_card(card)
                    .build()
                    .unwrap(),
            )
            .messages(
                msg(types::MessageContentType::CustomPayload, Some("{\"a\":1}"))
                    .build()
                    .unwrap(),
            )
            .messages(
                msg(types::MessageContentType::from("Carousel"), Some("?"))
                    .build()
                    .unwrap(),
            )
            .build();
        let turn = turn_from_output(&output);
        assert_eq!(
            turn.messages,
            vec![
                BotMessage::Ssml("<speak>Hi</speak>".into()),
                BotMessage::PlainText("Hello".into()),
                BotMessage::Card(Card {
                    title: "Pick".into(),
                    subtitle: Some("one".into()),
                    image_url: None,
                    buttons: vec![Button {
                        text: "Roses".into(),
                        value: "roses".into()
                    }],
                }),
                BotMessage::CustomPayload("{\"a\":1}".into()),
            ]
        );
    }

    #[test]
    fn dialog_actions_and_unknown_values_map_to_other() {
        let action = |t: &str| {
            types::DialogAction::builder()
                .r#type(t.into())
                .build()
                .unwrap()
        };
        assert_eq!(dialog_action_from(&action("Close")), DialogAction::Close);
        assert_eq!(dialog_action_from(&action("None")), DialogAction::None);
        assert_eq!(
            dialog_action_from(&action("Teleport")),
            DialogAction::Other("Teleport".into())
        );
        let elicit = types::DialogAction::builder()
            .r#type(types::DialogActionType::ElicitSlot)
            .slot_to_elicit("PickupDate")
            .build()
            .unwrap();
        assert_eq!(
            dialog_action_from(&elicit),
            DialogAction::ElicitSlot(Some("PickupDate".into()))
        );
        let i = intent("X").state("Pondering".into()).build().unwrap();
        assert_eq!(
            intent_from(&i).state,
            IntentState::Other("Pondering".into())
        );
        assert_eq!(
            intent_from(&intent("X").build().unwrap()).state,
            IntentState::Other(String::new())
        );
    }

    #[test]
    fn slots_prefer_interpreted_then_original_and_join_lists() {
        assert_eq!(
            slot_value(&value(Some("red roses"), "roses")).as_deref(),
            Some("roses")
        );
        assert_eq!(
            slot_value(&value(Some("tmrw"), "")).as_deref(),
            Some("tmrw")
        );
        assert_eq!(slot_value(&value(None, "")), None);
        let list = types::Slot::builder()
            .values(value(None, "a"))
            .values(value(None, "b"))
            .build();
        assert_eq!(slot_value(&list).as_deref(), Some("a, b"));
        assert_eq!(slot_value(&types::Slot::builder().build()), None);
    }

    #[test]
    fn intent_attributes_confidence_and_sentiment() {
        let current = intent("Agent")
            .state(types::IntentState::ReadyForFulfillment)
            .confirmation_state(types::ConfirmationState::None)
            .build()
            .unwrap();
        let abandoned = intent("OrderFlowers")
            .slots("FlowerType", value(Some("rose"), "roses"))
            .build()
            .unwrap();
        let output = RecognizeTextOutput::builder()
            .session_state(
                types::SessionState::builder()
                    .intent(current.clone())
                    .session_attributes("flexlex_action", "handoff")
                    .build(),
            )
            .interpretations(
                types::Interpretation::builder()
                    .intent(abandoned)
                    .nlu_confidence(types::ConfidenceScore::builder().score(0.4).build())
                    .build(),
            )
            .interpretations(
                types::Interpretation::builder()
                    .intent(current)
                    .nlu_confidence(types::ConfidenceScore::builder().score(0.9).build())
                    .sentiment_response(
                        types::SentimentResponse::builder()
                            .sentiment(types::SentimentType::Negative)
                            .build(),
                    )
                    .build(),
            )
            .build();
        let turn = turn_from_output(&output);
        let intent = turn.intent.unwrap();
        assert_eq!(intent.name, "Agent");
        assert_eq!(intent.state, IntentState::ReadyForFulfillment);
        assert_eq!(intent.confirmation.as_deref(), Some("None"));
        assert!(
            intent.slots.is_empty(),
            "the current intent keeps only its own slots"
        );
        assert_eq!(turn.alternatives.len(), 1);
        assert_eq!(turn.alternatives[0].name, "OrderFlowers");
        assert_eq!(
            turn.alternatives[0].slots.get("FlowerType"),
            Some(&Some("roses".to_owned()))
        );
        assert_eq!(turn.confidence, Some(0.9));
        assert_eq!(turn.sentiment.as_deref(), Some("NEGATIVE"));
        assert_eq!(turn.session_attributes["flexlex_action"], "handoff");
    }

    #[test]
    fn sentiment_is_the_utterances_wherever_lex_put_it() {
        let chosen = intent("FallbackIntent").build().unwrap();
        let output = RecognizeTextOutput::builder()
            .session_state(
                types::SessionState::builder()
                    .intent(chosen.clone())
                    .build(),
            )
            .interpretations(
                types::Interpretation::builder()
                    .intent(intent("OrderFlowers").build().unwrap())
                    .nlu_confidence(types::ConfidenceScore::builder().score(0.3).build())
                    .sentiment_response(
                        types::SentimentResponse::builder()
                            .sentiment(types::SentimentType::Mixed)
                            .build(),
                    )
                    .build(),
            )
            .interpretations(types::Interpretation::builder().intent(chosen).build())
            .build();
        let turn = turn_from_output(&output);
        assert_eq!(turn.sentiment.as_deref(), Some("MIXED"));
        assert_eq!(turn.confidence, None, "no score for the chosen fallback");
    }

    fn service_error(
        err: RecognizeTextError,
        status: u16,
    ) -> SdkError<RecognizeTextError, HttpResponse> {
        let raw = HttpResponse::new(status.try_into().unwrap(), SdkBody::empty());
        SdkError::service_error(err, raw)
    }

    #[test]
    fn errors_are_classified_with_their_codes() {
        let throttled = RecognizeTextError::ThrottlingException(
            lex_err::ThrottlingException::builder()
                .message("slow down")
                .meta(
                    aws_sdk_lexruntimev2::error::ErrorMetadata::builder()
                        .code("ThrottlingException")
                        .message("slow down")
                        .build(),
                )
                .build()
                .unwrap(),
        );
        assert_eq!(
            classify(&service_error(throttled, 429)),
            LexFailure::Other(BotError::Unavailable {
                code: "ThrottlingException".into(),
                message: "slow down".into()
            })
        );
        let conflict = RecognizeTextError::ConflictException(
            lex_err::ConflictException::builder()
                .message("busy")
                .meta(
                    aws_sdk_lexruntimev2::error::ErrorMetadata::builder()
                        .code("ConflictException")
                        .build(),
                )
                .build()
                .unwrap(),
        );
        assert!(matches!(
            classify(&service_error(conflict, 409)),
            LexFailure::Conflict(BotError::Unavailable { .. })
        ));
        let missing = RecognizeTextError::ResourceNotFoundException(
            lex_err::ResourceNotFoundException::builder()
                .message("no bot")
                .meta(
                    aws_sdk_lexruntimev2::error::ErrorMetadata::builder()
                        .code("ResourceNotFoundException")
                        .build(),
                )
                .build()
                .unwrap(),
        );
        assert!(
            matches!(classify(&service_error(missing, 404)), LexFailure::Other(BotError::Rejected { code, .. }) if code == "ResourceNotFoundException")
        );
        let hook = RecognizeTextError::DependencyFailedException(
            lex_err::DependencyFailedException::builder()
                .message("lambda")
                .meta(
                    aws_sdk_lexruntimev2::error::ErrorMetadata::builder()
                        .message("lambda")
                        .build(),
                )
                .build()
                .unwrap(),
        );
        assert_eq!(
            classify(&service_error(hook, 424)),
            LexFailure::Other(BotError::Dependency {
                message: "lambda".into()
            })
        );
        let teapot = |status| {
            let meta = aws_sdk_lexruntimev2::error::ErrorMetadata::builder()
                .code("TeapotException")
                .build();
            classify(&service_error(RecognizeTextError::generic(meta), status))
        };
        assert!(matches!(
            teapot(418),
            LexFailure::Other(BotError::Rejected { .. })
        ));
        assert!(matches!(
            teapot(503),
            LexFailure::Other(BotError::Unavailable { .. })
        ));
    }

    #[test]
    fn jitter_stays_within_half_to_full_of_the_doubled_base() {
        for n in 0..4 {
            let full = Duration::from_millis(100) * (1 << n);
            let pause = jittered(Duration::from_millis(100), n);
            assert!(pause >= full / 2 && pause <= full, "{pause:?} vs {full:?}");
        }
    }
}
