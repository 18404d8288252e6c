//! The RecognizeText response body as Lex V2 serialises it (rest-json, camelCase).
//!
//! Scripted bots build these; the emulator serialises them.
//!
//! Like Lex, an intent lists every slot it declares, `null` for those not filled yet, in
//! `sessionState.intent.slots` and in each interpretation. The SDK cannot read those `null`s on
//! its own; the adapter's `StripNullSlots` interceptor is what makes them readable.

use std::collections::BTreeMap;

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct RecognizeTextResponse {
    pub messages: Vec<Message>,
    pub session_state: SessionState,
    pub interpretations: Vec<Interpretation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_attributes: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ContentType {
    PlainText,
    #[serde(rename = "SSML")]
    Ssml,
    ImageResponseCard,
    CustomPayload,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    pub content_type: ContentType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_response_card: Option<ImageResponseCard>,
}

impl Message {
    pub fn plain(text: impl Into<String>) -> Self {
        Self {
            content_type: ContentType::PlainText,
            content: Some(text.into()),
            image_response_card: None,
        }
    }

    pub fn card(card: ImageResponseCard) -> Self {
        Self {
            content_type: ContentType::ImageResponseCard,
            content: None,
            image_response_card: Some(card),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageResponseCard {
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subtitle: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
    pub buttons: Vec<Button>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Button {
    pub text: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct SessionState {
    pub dialog_action: DialogAction,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intent: Option<Intent>,
    pub session_attributes: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub enum DialogActionType {
    Close,
    ConfirmIntent,
    Delegate,
    #[default]
    ElicitIntent,
    ElicitSlot,
    None,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct DialogAction {
    #[serde(rename = "type")]
    pub kind: DialogActionType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slot_to_elicit: Option<String>,
}

impl DialogAction {
    pub fn of(kind: DialogActionType) -> Self {
        Self {
            kind,
            slot_to_elicit: None,
        }
    }

    pub fn elicit_slot(slot: &str) -> Self {
        Self {
            kind: DialogActionType::ElicitSlot,
            slot_to_elicit: Some(slot.to_owned()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum IntentState {
    Failed,
    Fulfilled,
    InProgress,
    ReadyForFulfillment,
    Waiting,
    FulfillmentInProgress,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ConfirmationState {
    Confirmed,
    Denied,
    None,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Intent {
    pub name: String,
    /// Every slot the intent declares; `None` (serialised as `null`) while it is still empty.
    pub slots: BTreeMap<String, Option<Slot>>,
    pub state: IntentState,
    pub confirmation_state: ConfirmationState,
}

impl Intent {
    pub fn new(name: &str, state: IntentState) -> Self {
        Self {
            name: name.to_owned(),
            slots: BTreeMap::new(),
            state,
            confirmation_state: ConfirmationState::None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Slot {
    pub value: SlotValue,
}

impl Slot {
    /// A slot resolved to one value, as Lex reports a custom slot type or a built-in one.
    pub fn resolved(original: &str, interpreted: &str) -> Self {
        Self {
            value: SlotValue {
                original_value: original.to_owned(),
                interpreted_value: interpreted.to_owned(),
                resolved_values: vec![interpreted.to_owned()],
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SlotValue {
    pub original_value: String,
    pub interpreted_value: String,
    pub resolved_values: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Interpretation {
    /// Lex gives no confidence for `FallbackIntent`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nlu_confidence: Option<Confidence>,
    pub intent: Intent,
    pub interpretation_source: &'static str,
}

impl Interpretation {
    pub fn scored(intent: Intent, score: f64) -> Self {
        Self {
            nlu_confidence: Some(Confidence { score }),
            intent,
            interpretation_source: "Lex",
        }
    }

    pub fn unscored(intent: Intent) -> Self {
        Self {
            nlu_confidence: None,
            intent,
            interpretation_source: "Lex",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Confidence {
    pub score: f64,
}
