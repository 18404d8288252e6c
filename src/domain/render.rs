//! Turns the bot's messages into text a customer can read on any channel: webchat, SMS and
//! WhatsApp all render plain text, so cards become numbered choices and SSML loses its tags.

use crate::domain::bot::{BotMessage, Button, Card};

/// The text to post for one bot message; `None` for messages that are not for the customer
/// (custom payloads are instructions to the bridge, not text).
pub fn render(message: &BotMessage) -> Option<String> {
    let text = match message {
        BotMessage::PlainText(text) => text.trim().to_owned(),
        BotMessage::Ssml(ssml) => ssml_to_text(ssml),
        BotMessage::Card(card) => card_to_text(card),
        BotMessage::CustomPayload(_) => return None,
    };
    (!text.is_empty()).then_some(text)
}

/// Title, subtitle and buttons as `1. Roses` lines: a reply of `1` or `Roses` both read well.
pub fn card_to_text(card: &Card) -> String {
    let mut lines: Vec<String> = Vec::with_capacity(card.buttons.len() + 2);
    for part in [Some(card.title.as_str()), card.subtitle.as_deref()]
        .into_iter()
        .flatten()
    {
        let part = part.trim();
        if !part.is_empty() {
            lines.push(part.to_owned());
        }
    }
    for (i, button) in card.buttons.iter().enumerate() {
        lines.push(format!("{}. {}", i + 1, button.text.trim()));
    }
    lines.join("\n")
}

/// Drops tags and decodes the five XML entities; whitespace runs collapse to one space.
fn ssml_to_text(ssml: &str) -> String {
    let mut text = String::with_capacity(ssml.len());
    let mut in_tag = false;
    for c in ssml.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                text.push(' ');
            }
            _ if !in_tag => text.push(c),
            _ => {}
        }
    }
    let decoded = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&");
    decoded.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The choice a bare number picks (`2`, `2.`, `2)`), 1-based; `None` for any other text.
pub fn choice_number(text: &str) -> Option<usize> {
    let digits = text.trim().trim_end_matches(['.', ')']).trim();
    if digits.is_empty() || digits.len() > 2 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|n| *n >= 1)
}

/// The text of choice `n` in a card as [`render`] wrote it (a line `n. text`), if there is one.
pub fn choice_in(rendered: &str, n: usize) -> Option<&str> {
    let prefix = format!("{n}. ");
    rendered
        .lines()
        .find_map(|line| line.strip_prefix(prefix.as_str()))
        .map(str::trim)
        .filter(|text| !text.is_empty())
}

/// What the bot should receive for a reply to a card with these buttons: the chosen button's
/// **value**, whether the customer sent its number (`2`, as numbered text invites) or its title
/// (`Lilies`, which is what a tapped WhatsApp quick reply or list item arrives as). Titles match
/// whole and case-insensitively; `None` for any other reply, which goes to the bot as typed.
pub fn choice_value<'a>(reply: &str, buttons: &'a [Button]) -> Option<&'a str> {
    let button = match choice_number(reply) {
        Some(n) => buttons.get(n - 1)?,
        None => {
            let reply = reply.trim().to_lowercase();
            if reply.is_empty() {
                return None;
            }
            buttons
                .iter()
                .find(|b| b.text.trim().to_lowercase() == reply)?
        }
    };
    // Lex requires a value; an empty one would erase the customer's choice.
    Some(if button.value.trim().is_empty() {
        button.text.trim()
    } else {
        button.value.as_str()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::bot::Button;

    fn card() -> Card {
        Card {
            title: "What type of flowers would you like?".into(),
            subtitle: Some("Pick one".into()),
            image_url: None,
            buttons: ["Roses", "Lilies", "Tulips"]
                .iter()
                .map(|t| Button {
                    text: (*t).into(),
                    value: t.to_lowercase(),
                })
                .collect(),
        }
    }

    #[test]
    fn plain_text_is_posted_as_is_and_blank_is_dropped() {
        assert_eq!(
            render(&BotMessage::PlainText("Hi there".into())).as_deref(),
            Some("Hi there")
        );
        assert_eq!(render(&BotMessage::PlainText("  \n".into())), None);
    }

    #[test]
    fn cards_become_numbered_choices() {
        assert_eq!(
            render(&BotMessage::Card(card())).as_deref(),
            Some("What type of flowers would you like?\nPick one\n1. Roses\n2. Lilies\n3. Tulips")
        );
        let bare = Card {
            title: "Choose".into(),
            ..Card::default()
        };
        assert_eq!(render(&BotMessage::Card(bare)).as_deref(), Some("Choose"));
    }

    #[test]
    fn ssml_loses_tags_and_entities() {
        let ssml = "<speak>Your order of <emphasis>roses</emphasis> &amp; lilies\n is <break time=\"1s\"/>ready &lt;3</speak>";
        assert_eq!(
            render(&BotMessage::Ssml(ssml.into())).as_deref(),
            Some("Your order of roses & lilies is ready <3")
        );
    }

    #[test]
    fn custom_payloads_are_not_posted() {
        assert_eq!(
            render(&BotMessage::CustomPayload("{\"flexlex\":{}}".into())),
            None
        );
    }

    #[test]
    fn bare_numbers_pick_choices_from_the_rendered_card() {
        let rendered = card_to_text(&card());
        for (reply, expected) in [
            ("1", Some("Roses")),
            (" 2. ", Some("Lilies")),
            ("3)", Some("Tulips")),
        ] {
            let n = choice_number(reply).unwrap();
            assert_eq!(choice_in(&rendered, n), expected, "{reply:?}");
        }
        assert_eq!(choice_in(&rendered, 4), None);
        for not_a_choice in ["0", "", "two", "1 please", "123", "-1", "1.5"] {
            assert_eq!(choice_number(not_a_choice), None, "{not_a_choice:?}");
        }
        assert_eq!(choice_in("no choices here", 1), None);
    }

    #[test]
    fn a_number_or_a_title_becomes_the_buttons_value() {
        let buttons = vec![
            Button {
                text: "Red roses".into(),
                value: "roses".into(),
            },
            Button {
                text: "Lilies".into(),
                value: "lilies".into(),
            },
            Button {
                text: "Tulips".into(),
                value: " ".into(),
            },
        ];
        for (reply, expected) in [
            ("1", Some("roses")),
            ("2.", Some("lilies")),
            ("Red roses", Some("roses")),
            ("  red ROSES ", Some("roses")),
            ("lilies", Some("lilies")),
            ("3", Some("Tulips")),
            ("4", None),
            ("0", None),
            ("roses", None),
            ("Red", None),
            ("", None),
        ] {
            assert_eq!(choice_value(reply, &buttons), expected, "{reply:?}");
        }
        assert_eq!(choice_value("1", &[]), None);
        let accented = [Button {
            text: "Écharpe".into(),
            value: "scarf".into(),
        }];
        assert_eq!(choice_value("écharpe", &accented), Some("scarf"));
    }
}
