//! Rich cards: on channels that show buttons (WhatsApp), a Lex card is sent as a Twilio Content
//! API template instead of numbered text, so the customer taps rather than types.
//!
//! - [`rich_card`] maps a card to a template, purely; `None` when the card does not fit
//!   Twilio's limits, and the caller posts today's numbered text instead.
//! - A template is created once per distinct card, fleet-wide: [`ContentKey`] is a stable hash
//!   of the template; the fleet's cache (`ports::content::ContentCache`) maps it to the `HX…`
//!   SID, the Content API creates it. The turn sends it (`turn::replies`): cache → create →
//!   post, falling back to numbered text when the template cannot be made or is refused.
//!
//! Twilio's limits, as documented (each constant cites its page):
//! - <https://www.twilio.com/docs/content/twilio-quick-reply>: body ≤ 1,024 characters; 1–10
//!   buttons, **3 in a WhatsApp session without an approved template** (our case: a bot
//!   replies inside the customer's 24-hour session); a button's `title` ≤ 20, its `id` ≤ 200.
//! - <https://www.twilio.com/docs/content/twiliolist-picker>: body ≤ 1,024; `button` required;
//!   1–10 items, each `item` ≤ 24, `id` ≤ 200, `description` ≤ 72 (the page marks it required,
//!   the OpenAPI schema does not; it is always sent). Session-only, WhatsApp only.
//! - <https://www.twilio.com/docs/conversations/send-rich-content-messages-with-conversations>:
//!   `twilio/text` body ≤ 1,600, the fallback other channels receive.
//! - `twilio_content_v1.json`: `POST https://content.twilio.com/v1/Content`, JSON body with
//!   `friendly_name`, `language` (required), `variables`, `types` (required); the response's
//!   `sid` matches `^HX[0-9a-fA-F]{32}$`.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use sha1::{Digest, Sha1};

use crate::domain::bot::{Button, Card};
use crate::domain::channel::ChannelType;
use crate::domain::ids::LocaleId;
use crate::domain::message_body::MAX_MESSAGE_CHARS;
use crate::domain::render::card_to_text;

/// `twilio/quick-reply` and `twilio/list-picker` body limit. A card's `twilio/text` fallback is
/// a message body, limited like any ([`MAX_MESSAGE_CHARS`]).
pub const MAX_CARD_BODY_CHARS: usize = 1024;
/// Quick-reply buttons WhatsApp shows in a session without an approved template.
pub const MAX_QUICK_REPLIES: usize = 3;
/// Quick-reply button `title`.
pub const MAX_TITLE_CHARS: usize = 20;
/// Quick-reply `id` and list item `id`.
pub const MAX_ID_CHARS: usize = 200;
/// List-picker items.
pub const MAX_LIST_ITEMS: usize = 10;
/// List item `item` (its title).
pub const MAX_ITEM_CHARS: usize = 24;
/// List item `description`.
pub const MAX_DESCRIPTION_CHARS: usize = 72;
/// The list-picker's menu button. Kept short: WhatsApp truncates long labels.
pub const LIST_BUTTON: &str = "Choose";
/// Bumped whenever the mapping changes, so a new mapping never reuses an old template.
const KEY_VERSION: &str = "flexlex-card-v1";

/// `RICH_CARDS`: the channels whose cards become templates. WhatsApp by default: webchat and
/// SMS would receive only the `twilio/text` fallback, which the numbered text already is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RichCards {
    channels: BTreeSet<ChannelType>,
}

impl RichCards {
    pub fn none() -> Self {
        Self {
            channels: BTreeSet::new(),
        }
    }

    pub fn on(channels: impl IntoIterator<Item = ChannelType>) -> Self {
        Self {
            channels: channels.into_iter().collect(),
        }
    }

    pub fn enabled_for(&self, channel: ChannelType) -> bool {
        self.channels.contains(&channel)
    }
}

/// How a card is posted on a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardForm {
    /// As a template: quick replies or a list.
    Rich(Box<RichCard>),
    /// As numbered text, and why.
    Text(AsText),
}

/// Why a card goes out as numbered text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsText {
    /// The channel is not in `RICH_CARDS`, or no Content API is configured.
    Channel,
    /// The card fits no template: see [`rich_card`].
    DoesNotFit,
}

impl RichCards {
    /// The form `card` takes on `channel`: a template where the channel shows buttons and the
    /// card fits one, numbered text otherwise.
    pub fn form(&self, card: &Card, channel: ChannelType, locale: &LocaleId) -> CardForm {
        if !self.enabled_for(channel) {
            return CardForm::Text(AsText::Channel);
        }
        match rich_card(card, locale) {
            Some(rich) => CardForm::Rich(Box::new(rich)),
            None => CardForm::Text(AsText::DoesNotFit),
        }
    }
}

impl Default for RichCards {
    fn default() -> Self {
        Self::on([ChannelType::Whatsapp])
    }
}

/// The JSON body of `POST /v1/Content`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContentTemplate {
    pub friendly_name: String,
    pub language: String,
    pub variables: BTreeMap<String, String>,
    pub types: ContentTypes,
}

/// The types of one template; Twilio sends each channel the richest one it supports.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct ContentTypes {
    #[serde(rename = "twilio/text", skip_serializing_if = "Option::is_none")]
    pub text: Option<TextContent>,
    #[serde(rename = "twilio/quick-reply", skip_serializing_if = "Option::is_none")]
    pub quick_reply: Option<QuickReply>,
    #[serde(rename = "twilio/list-picker", skip_serializing_if = "Option::is_none")]
    pub list_picker: Option<ListPicker>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TextContent {
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuickReply {
    pub body: String,
    pub actions: Vec<QuickReplyAction>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuickReplyAction {
    #[serde(rename = "type")]
    pub kind: ActionKind,
    pub title: String,
    pub id: String,
}

/// The only action type a quick reply has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ActionKind {
    #[serde(rename = "QUICK_REPLY")]
    QuickReply,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListPicker {
    pub body: String,
    pub button: String,
    pub items: Vec<ListItem>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListItem {
    pub item: String,
    pub id: String,
    pub description: String,
}

/// Identifies a template by its content: equal cards in the same language have equal keys on
/// every instance and every version with the same [`KEY_VERSION`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ContentKey(String);

impl ContentKey {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ContentKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A card ready to be created (or found) as a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RichCard {
    pub key: ContentKey,
    pub template: ContentTemplate,
}

/// The template for `card`, or `None` when it cannot be one: no buttons, more than
/// [`MAX_LIST_ITEMS`], a title too long for both forms, an empty or too long body, or two
/// buttons with the same title (the reply could not say which was tapped).
///
/// Up to [`MAX_QUICK_REPLIES`] buttons whose titles fit [`MAX_TITLE_CHARS`] become quick
/// replies; otherwise up to [`MAX_LIST_ITEMS`] whose titles fit [`MAX_ITEM_CHARS`] become a
/// list. A button's `id` is its Lex value; a list item's description is its value when that
/// says more than the title, else the title. The card's image is not carried (WhatsApp cards
/// with media need an approved template).
pub fn rich_card(card: &Card, locale: &LocaleId) -> Option<RichCard> {
    let buttons: Vec<(&str, &str)> = card
        .buttons
        .iter()
        .map(|b| (b.text.trim(), value_of(b)))
        .collect();
    if buttons.is_empty() || buttons.len() > MAX_LIST_ITEMS {
        return None;
    }
    if buttons
        .iter()
        .any(|(title, id)| title.is_empty() || chars(id) > MAX_ID_CHARS)
    {
        return None;
    }
    let mut seen = BTreeSet::new();
    if !buttons
        .iter()
        .all(|(title, _)| seen.insert(title.to_lowercase()))
    {
        return None;
    }

    let body = [Some(card.title.as_str()), card.subtitle.as_deref()]
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    let fallback = card_to_text(card);
    if body.is_empty() || chars(&body) > MAX_CARD_BODY_CHARS || chars(&fallback) > MAX_MESSAGE_CHARS
    {
        return None;
    }

    let longest = buttons.iter().map(|(title, _)| chars(title)).max()?;
    let mut types = ContentTypes {
        text: Some(TextContent { body: fallback }),
        ..ContentTypes::default()
    };
    if buttons.len() <= MAX_QUICK_REPLIES && longest <= MAX_TITLE_CHARS {
        types.quick_reply = Some(QuickReply {
            body,
            actions: buttons
                .iter()
                .map(|(title, id)| QuickReplyAction {
                    kind: ActionKind::QuickReply,
                    title: (*title).to_owned(),
                    id: (*id).to_owned(),
                })
                .collect(),
        });
    } else if longest <= MAX_ITEM_CHARS {
        types.list_picker = Some(ListPicker {
            body,
            button: LIST_BUTTON.to_owned(),
            items: buttons
                .iter()
                .map(|(title, id)| ListItem {
                    item: (*title).to_owned(),
                    id: (*id).to_owned(),
                    description: description(title, id),
                })
                .collect(),
        });
    } else {
        return None;
    }

    let language = language_of(locale);
    let key = content_key(&language, &types);
    let template = ContentTemplate {
        friendly_name: format!("flexlex_card_{}", &key.0[KEY_VERSION.len() + 1..][..16]),
        language,
        variables: BTreeMap::new(),
        types,
    };
    Some(RichCard { key, template })
}

/// Lex requires a value; should one be blank anyway, the title stands in.
fn value_of(button: &Button) -> &str {
    let value = button.value.trim();
    if value.is_empty() {
        button.text.trim()
    } else {
        value
    }
}

fn description(title: &str, value: &str) -> String {
    let said = if value.eq_ignore_ascii_case(title) {
        title
    } else {
        value
    };
    said.chars().take(MAX_DESCRIPTION_CHARS).collect()
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

/// The Content API's `language`: the ISO 639-1 part of the Lex locale (`en_US` → `en`).
pub fn language_of(locale: &LocaleId) -> String {
    locale
        .as_str()
        .split('_')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
}

/// SHA-1 over the canonical JSON of the language and the types (object keys sorted), after a
/// version tag. Not a security boundary: it only has to be stable and collision-free in
/// practice, and SHA-1 is already linked for signatures.
pub fn content_key(language: &str, types: &ContentTypes) -> ContentKey {
    let canonical = serde_json::json!({ "language": language, "types": types }).to_string();
    let mut hasher = Sha1::new();
    hasher.update(KEY_VERSION.as_bytes());
    hasher.update([0]);
    hasher.update(canonical.as_bytes());
    let hex: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    ContentKey(format!("{KEY_VERSION}-{hex}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn locale() -> LocaleId {
        LocaleId::parse("en_US").unwrap()
    }

    fn card(titles: &[&str]) -> Card {
        Card {
            title: "What type of flowers would you like?".into(),
            subtitle: Some("Pick one".into()),
            image_url: Some("https://example.com/f.png".into()),
            buttons: titles
                .iter()
                .map(|t| Button {
                    text: (*t).into(),
                    value: t.to_lowercase(),
                })
                .collect(),
        }
    }

    fn types(card: &RichCard) -> serde_json::Value {
        serde_json::to_value(&card.template.types).unwrap()
    }

    #[test]
    fn up_to_three_short_buttons_are_quick_replies_with_a_text_fallback() {
        let rich = rich_card(&card(&["Roses", "Lilies", "Tulips"]), &locale()).unwrap();
        assert_eq!(
            types(&rich),
            json!({
                "twilio/text": {"body": "What type of flowers would you like?\nPick one\n1. Roses\n2. Lilies\n3. Tulips"},
                "twilio/quick-reply": {
                    "body": "What type of flowers would you like?\nPick one",
                    "actions": [
                        {"type": "QUICK_REPLY", "title": "Roses", "id": "roses"},
                        {"type": "QUICK_REPLY", "title": "Lilies", "id": "lilies"},
                        {"type": "QUICK_REPLY", "title": "Tulips", "id": "tulips"}
                    ]
                }
            })
        );
        assert_eq!(rich.template.language, "en");
        assert_eq!(rich.template.variables, BTreeMap::new());
        assert!(rich.template.friendly_name.starts_with("flexlex_card_"));
        assert_eq!(
            rich.template.friendly_name.len(),
            "flexlex_card_".len() + 16
        );
    }

    #[test]
    fn four_to_ten_buttons_are_a_list() {
        let titles = ["A", "B", "C", "D", "E", "F", "G", "H", "I", "J"];
        let rich = rich_card(&card(&titles[..4]), &locale()).unwrap();
        assert_eq!(
            types(&rich)["twilio/list-picker"],
            json!({
                "body": "What type of flowers would you like?\nPick one",
                "button": "Choose",
                "items": [
                    {"item": "A", "id": "a", "description": "A"},
                    {"item": "B", "id": "b", "description": "B"},
                    {"item": "C", "id": "c", "description": "C"},
                    {"item": "D", "id": "d", "description": "D"}
                ]
            })
        );
        assert_eq!(types(&rich)["twilio/quick-reply"], serde_json::Value::Null);
        assert!(rich_card(&card(&titles), &locale()).is_some());
        let eleven: Vec<String> = (0..11).map(|i| format!("Option {i}")).collect();
        let eleven: Vec<&str> = eleven.iter().map(String::as_str).collect();
        assert_eq!(rich_card(&card(&eleven), &locale()), None);
    }

    #[test]
    fn title_lengths_pick_the_form_or_refuse() {
        let twenty = "x".repeat(MAX_TITLE_CHARS);
        let rich = rich_card(&card(&[&twenty]), &locale()).unwrap();
        assert!(rich.template.types.quick_reply.is_some());
        let twenty_one = "y".repeat(MAX_TITLE_CHARS + 1);
        let rich = rich_card(&card(&[&twenty_one]), &locale()).unwrap();
        assert!(rich.template.types.list_picker.is_some());
        let twenty_four = "é".repeat(MAX_ITEM_CHARS);
        assert!(rich_card(&card(&[&twenty_four, "b", "c", "d"]), &locale()).is_some());
        let twenty_five = "z".repeat(MAX_ITEM_CHARS + 1);
        assert_eq!(rich_card(&card(&[&twenty_five]), &locale()), None);
    }

    #[test]
    fn cards_that_cannot_be_templates_are_refused() {
        assert_eq!(rich_card(&card(&[]), &locale()), None);
        assert_eq!(rich_card(&card(&["Roses", " roses "]), &locale()), None);
        assert_eq!(rich_card(&card(&["Roses", "  "]), &locale()), None);
        let untitled = Card {
            title: " ".into(),
            subtitle: None,
            ..card(&["A"])
        };
        assert_eq!(rich_card(&untitled, &locale()), None);
        let long_body = Card {
            title: "t".repeat(MAX_CARD_BODY_CHARS + 1),
            subtitle: None,
            ..card(&["A"])
        };
        assert_eq!(rich_card(&long_body, &locale()), None);
        let long_id = Card {
            buttons: vec![Button {
                text: "A".into(),
                value: "v".repeat(MAX_ID_CHARS + 1),
            }],
            ..card(&[])
        };
        assert_eq!(rich_card(&long_id, &locale()), None);
    }

    #[test]
    fn values_become_ids_and_descriptions() {
        let c = Card {
            buttons: vec![
                Button {
                    text: "Red roses".into(),
                    value: "roses".into(),
                },
                Button {
                    text: "Lilies".into(),
                    value: "".into(),
                },
                Button {
                    text: "Tulips".into(),
                    value: "t".repeat(100),
                },
                Button {
                    text: "Daisies".into(),
                    value: "daisies".into(),
                },
            ],
            ..card(&[])
        };
        let rich = rich_card(&c, &locale()).unwrap();
        let items = rich.template.types.list_picker.unwrap().items;
        assert_eq!(
            items
                .iter()
                .map(|i| (i.id.as_str(), i.description.chars().count()))
                .collect::<Vec<_>>(),
            [
                ("roses", 5),
                ("Lilies", 6),
                (&*"t".repeat(100), MAX_DESCRIPTION_CHARS),
                ("daisies", 7)
            ]
        );
        assert_eq!(items[3].description, "Daisies");
    }

    #[test]
    fn keys_are_stable_and_tell_cards_apart() {
        let a = rich_card(&card(&["Roses", "Lilies"]), &locale()).unwrap();
        let again = rich_card(&card(&["Roses", "Lilies"]), &locale()).unwrap();
        assert_eq!(a.key, again.key);
        assert!(a.key.as_str().starts_with("flexlex-card-v1-"));
        assert_eq!(a.key.as_str().len(), "flexlex-card-v1-".len() + 40);
        let reordered = rich_card(&card(&["Lilies", "Roses"]), &locale()).unwrap();
        assert_ne!(a.key, reordered.key);
        let french = rich_card(
            &card(&["Roses", "Lilies"]),
            &LocaleId::parse("fr_CA").unwrap(),
        )
        .unwrap();
        assert_eq!(french.template.language, "fr");
        assert_ne!(a.key, french.key);
        // The exact input is pinned: a change here would re-create every template in use.
        let pinned = content_key(
            "en",
            &ContentTypes {
                text: Some(TextContent { body: "hi".into() }),
                ..ContentTypes::default()
            },
        );
        let mut hasher = Sha1::new();
        hasher.update(
            b"flexlex-card-v1\0{\"language\":\"en\",\"types\":{\"twilio/text\":{\"body\":\"hi\"}}}",
        );
        let expected: String = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(pinned.as_str(), format!("flexlex-card-v1-{expected}"));
    }

    #[test]
    fn the_form_depends_on_the_channel_and_the_fit() {
        let cards = RichCards::default();
        let fits = card(&["Roses", "Lilies"]);
        assert!(matches!(
            cards.form(&fits, ChannelType::Whatsapp, &locale()),
            CardForm::Rich(rich) if rich.template.types.quick_reply.is_some()
        ));
        assert_eq!(
            cards.form(&fits, ChannelType::Sms, &locale()),
            CardForm::Text(AsText::Channel)
        );
        let eleven: Vec<String> = (0..11).map(|i| format!("Option {i}")).collect();
        let eleven: Vec<&str> = eleven.iter().map(String::as_str).collect();
        assert_eq!(
            cards.form(&card(&eleven), ChannelType::Whatsapp, &locale()),
            CardForm::Text(AsText::DoesNotFit)
        );
    }

    #[test]
    fn rich_cards_are_per_channel() {
        assert!(RichCards::default().enabled_for(ChannelType::Whatsapp));
        assert!(!RichCards::default().enabled_for(ChannelType::Web));
        assert!(!RichCards::none().enabled_for(ChannelType::Whatsapp));
        assert!(RichCards::on([ChannelType::Sms]).enabled_for(ChannelType::Sms));
    }
}
