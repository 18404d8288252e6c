//! Cutting a reply into messages Twilio accepts. The turn cuts, not the Twilio adapter, so that
//! every piece is tagged on its own and a resumed turn posts exactly the pieces that are missing.
//!
//! Twilio limits a message `Body` to 1,600 characters. Whether it counts Unicode scalar values
//! or UTF-16 code units is not documented, so length is measured in UTF-16 code units, which is
//! never less than the character count: a part that fits this way fits either way.

/// Twilio's documented maximum length of a message body.
pub const MAX_MESSAGE_CHARS: usize = 1600;

/// Splits `text` into parts of at most `max_units` UTF-16 code units, in order.
///
/// A cut is made at the last whitespace that keeps the part within the limit, and the
/// whitespace at the cut is dropped; a run without whitespace is cut between characters. Text
/// that already fits is returned unchanged as one part. Text with no visible content yields no
/// part, because Twilio refuses a message without a body.
pub fn split_body(text: &str, max_units: usize) -> Vec<String> {
    let max_units = max_units.max(2);
    if text.trim().is_empty() {
        return Vec::new();
    }
    let mut parts = Vec::new();
    let mut rest = text;
    while utf16_len(rest) > max_units {
        let (part, tail) = cut(rest, max_units);
        if !part.is_empty() {
            parts.push(part.to_owned());
        }
        rest = tail;
    }
    if !rest.trim().is_empty() {
        parts.push(rest.to_owned());
    }
    parts
}

/// One cut: the part before it and the text after it (whitespace at the cut removed).
fn cut(text: &str, max_units: usize) -> (&str, &str) {
    let mut units = 0;
    let mut hard_end = 0;
    let mut last_space: Option<usize> = None;
    for (index, ch) in text.char_indices() {
        if units + ch.len_utf16() > max_units {
            break;
        }
        if ch.is_whitespace() {
            last_space = Some(index);
        }
        units += ch.len_utf16();
        hard_end = index + ch.len_utf8();
    }
    // The character after the window may itself be the whitespace to cut at.
    if text[hard_end..].starts_with(char::is_whitespace) {
        last_space = Some(hard_end);
    }
    if let Some(space) = last_space {
        let part = text[..space].trim_end();
        if !part.is_empty() {
            return (part, text[space..].trim_start());
        }
    }
    (&text[..hard_end], &text[hard_end..])
}

fn utf16_len(text: &str) -> usize {
    text.chars().map(char::len_utf16).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_one_unchanged_part() {
        assert_eq!(split_body(" hello  ", 10), vec![" hello  ".to_owned()]);
    }

    #[test]
    fn blank_text_is_no_part() {
        assert!(split_body("", 10).is_empty());
        assert!(split_body(" \n ", 10).is_empty());
    }

    #[test]
    fn cuts_at_whitespace() {
        assert_eq!(split_body("aaa bbb ccc", 7), vec!["aaa bbb", "ccc"]);
        assert_eq!(split_body("aaa bbbb ccc", 7), vec!["aaa", "bbbb", "ccc"]);
    }

    #[test]
    fn cuts_long_words_between_characters() {
        assert_eq!(split_body("abcdefghij", 4), vec!["abcd", "efgh", "ij"]);
    }

    #[test]
    fn counts_utf16_units_and_never_splits_a_character() {
        let text = "😀".repeat(5);
        let parts = split_body(&text, 4);
        assert_eq!(parts, vec!["😀😀", "😀😀", "😀"]);
    }

    #[test]
    fn parts_fit_and_keep_every_word_in_order() {
        let words: Vec<String> = (0..900).map(|i| format!("w{i}")).collect();
        let text = words.join(" ");
        let parts = split_body(&text, MAX_MESSAGE_CHARS);
        assert!(parts.len() > 1);
        assert!(parts.iter().all(|p| utf16_len(p) <= MAX_MESSAGE_CHARS));
        assert_eq!(parts.join(" "), text);
    }
}
