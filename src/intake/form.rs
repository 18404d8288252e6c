//! Raw `application/x-www-form-urlencoded` parameters, decoded, in the order received.
//!
//! Twilio signs every parameter it sends, including ones this crate does not know about, so the
//! webhook body is kept as the full list of decoded pairs (repeats included) rather than a map.

use std::fmt;

/// Which half of a `name=value` pair was at fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Name,
    Value,
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Part::Name => "name",
            Part::Value => "value",
        })
    }
}

/// Why a form body was refused. `pair` counts the non-empty `&`-separated segments from 1;
/// `shown` is a bounded, printable rendition of that raw segment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    #[error("form pair {pair} (`{shown}`): {part} has a bad percent escape at byte {offset}")]
    BadEscape {
        pair: usize,
        shown: String,
        part: Part,
        offset: usize,
    },
    #[error("form pair {pair} (`{shown}`): {part} is not valid UTF-8 once decoded")]
    NotUtf8 {
        pair: usize,
        shown: String,
        part: Part,
    },
}

/// Longest rendition of a raw segment that an error carries.
const SHOWN_MAX: usize = 64;

fn shown(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let mut out: String = text
        .chars()
        .take(SHOWN_MAX)
        .flat_map(char::escape_default)
        .collect();
    if text.chars().nth(SHOWN_MAX).is_some() {
        out.push('…');
    }
    out
}

/// Decoded form parameters in the order received; repeated names kept.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FormParams {
    pairs: Vec<(String, String)>,
}

impl FormParams {
    /// Parses a form body strictly: `+` is a space, `%XX` a byte, and the decoded bytes must be
    /// UTF-8 (Twilio always sends UTF-8, so anything else is not a Twilio request). Empty
    /// segments (`a=1&&b=2`) are skipped and a segment without `=` has an empty value.
    pub fn parse(body: &[u8]) -> Result<Self, FormError> {
        let mut pairs = Vec::new();
        for (i, segment) in body
            .split(|&b| b == b'&')
            .filter(|s| !s.is_empty())
            .enumerate()
        {
            let pair = i + 1;
            let (name, value) = match segment.iter().position(|&b| b == b'=') {
                Some(at) => (&segment[..at], &segment[at + 1..]),
                None => (segment, &segment[segment.len()..]),
            };
            let decode = |raw: &[u8], part: Part| -> Result<String, FormError> {
                let bytes = decode_component(raw).map_err(|offset| FormError::BadEscape {
                    pair,
                    shown: shown(segment),
                    part,
                    offset,
                })?;
                String::from_utf8(bytes).map_err(|_| FormError::NotUtf8 {
                    pair,
                    shown: shown(segment),
                    part,
                })
            };
            pairs.push((decode(name, Part::Name)?, decode(value, Part::Value)?));
        }
        Ok(Self { pairs })
    }

    pub fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        Self { pairs }
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// The first value given for `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Form-encodes the pairs the way Twilio sends them: space as `+`, everything except
    /// ALPHA / DIGIT / `-._*` percent-encoded. `parse(encode(x)) == x` for every `x`. The
    /// product only reads forms; the tests write them to prove the reading.
    #[cfg(test)]
    pub(crate) fn encode(&self) -> String {
        let mut out = String::new();
        for (i, (name, value)) in self.pairs.iter().enumerate() {
            if i > 0 {
                out.push('&');
            }
            encode_component(name, &mut out);
            out.push('=');
            encode_component(value, &mut out);
        }
        out
    }
}

/// Decodes one name or value; on a bad escape returns the byte offset of its `%`.
fn decode_component(raw: &[u8]) -> Result<Vec<u8>, usize> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = raw.get(i + 1).copied().and_then(hex_value);
                let lo = raw.get(i + 2).copied().and_then(hex_value);
                match (hi, lo) {
                    (Some(hi), Some(lo)) => out.push(hi << 4 | lo),
                    _ => return Err(i),
                }
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    Ok(out)
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
fn encode_component(raw: &str, out: &mut String) {
    for &b in raw.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => {
                let _ = std::fmt::Write::write_fmt(out, format_args!("%{b:02X}"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn decodes_plus_and_escapes_in_order_with_repeats() {
        let p = FormParams::parse(b"Body=It%27s+amazing&Author=%2B15551234567&Body=again").unwrap();
        assert_eq!(
            p.pairs(),
            pairs(&[
                ("Body", "It's amazing"),
                ("Author", "+15551234567"),
                ("Body", "again")
            ])
        );
        assert_eq!(p.get("Body"), Some("It's amazing"));
        assert_eq!(p.get("Nope"), None);
    }

    #[test]
    fn empty_body_and_empty_segments() {
        assert!(FormParams::parse(b"").unwrap().pairs().is_empty());
        assert!(FormParams::parse(b"&&").unwrap().pairs().is_empty());
        let p = FormParams::parse(b"a=1&&b=2&").unwrap();
        assert_eq!(p.pairs(), pairs(&[("a", "1"), ("b", "2")]));
    }

    #[test]
    fn name_without_equals_has_empty_value_and_extra_equals_stay_in_value() {
        let p = FormParams::parse(b"flag&x=a=b&=v").unwrap();
        assert_eq!(p.pairs(), pairs(&[("flag", ""), ("x", "a=b"), ("", "v")]));
    }

    #[test]
    fn decodes_multibyte_utf8() {
        let p = FormParams::parse(b"Body=caf%C3%A9+%F0%9F%98%80&k=%e2%82%ac").unwrap();
        assert_eq!(p.pairs(), pairs(&[("Body", "café 😀"), ("k", "€")]));
    }

    #[test]
    fn bad_escape_names_the_pair_and_offset() {
        let err = FormParams::parse(b"a=1&Body=50%+off").unwrap_err();
        assert_eq!(
            err,
            FormError::BadEscape {
                pair: 2,
                shown: "Body=50%+off".into(),
                part: Part::Value,
                offset: 2
            }
        );
        assert!(err.to_string().contains("form pair 2"), "{err}");
        assert!(matches!(
            FormParams::parse(b"%zz=1"),
            Err(FormError::BadEscape {
                part: Part::Name,
                offset: 0,
                ..
            })
        ));
        assert!(matches!(
            FormParams::parse(b"a=%4"),
            Err(FormError::BadEscape { .. })
        ));
    }

    #[test]
    fn invalid_utf8_is_refused() {
        let err = FormParams::parse(b"ok=1&Body=%FF%FE").unwrap_err();
        assert!(
            matches!(
                err,
                FormError::NotUtf8 {
                    pair: 2,
                    part: Part::Value,
                    ..
                }
            ),
            "{err}"
        );
        assert!(matches!(
            FormParams::parse(b"\xff=1"),
            Err(FormError::NotUtf8 {
                part: Part::Name,
                ..
            })
        ));
    }

    #[test]
    fn error_text_is_bounded() {
        let mut body = b"Body=".to_vec();
        body.extend(std::iter::repeat_n(b'x', 10_000));
        body.extend_from_slice(b"%G0");
        let err = FormParams::parse(&body).unwrap_err();
        assert!(err.to_string().len() < 200, "{err}");
    }

    #[test]
    fn encodes_like_twilio() {
        let p = FormParams::from_pairs(pairs(&[
            ("Body", "It's 50% off & more = fun ~ *ok*"),
            ("Author", "whatsapp:+15551234567"),
            ("Media", "[]"),
        ]));
        assert_eq!(
            p.encode(),
            "Body=It%27s+50%25+off+%26+more+%3D+fun+%7E+*ok*&Author=whatsapp%3A%2B15551234567&Media=%5B%5D"
        );
        assert_eq!(FormParams::default().encode(), "");
    }

    proptest! {
        #[test]
        fn parse_inverts_encode(list in proptest::collection::vec((any::<String>(), any::<String>()), 0..8)) {
            let p = FormParams::from_pairs(list);
            prop_assert_eq!(FormParams::parse(p.encode().as_bytes()).unwrap(), p);
        }

        #[test]
        fn parse_never_panics(body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = FormParams::parse(&body);
        }

        #[test]
        fn parse_never_panics_on_form_like_bytes(body in "[a-z%+=&0-9A-F\u{e9}]{0,64}") {
            let _ = FormParams::parse(body.as_bytes());
        }
    }
}
