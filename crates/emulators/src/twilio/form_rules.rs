//! Parameter checks for the resources whose forms carry arrays (one repeated key per value, as
//! Twilio's libraries send `AutoCreation.WebhookFilters` or `Configuration.Filters`), which the
//! single-valued [`super::wire::Incoming::params`] refuses by design, and for their list
//! queries.

use serde_json::{Value, json};

use super::wire::{Incoming, Reply};

/// A form checked against the parameters an endpoint knows.
pub(super) struct Form<'a> {
    pairs: &'a [(String, String)],
}

impl<'a> Form<'a> {
    /// `single` names may appear once, `arrays` names any number of times; anything else is
    /// refused, as Twilio refuses parameters an endpoint does not define.
    pub(super) fn read(
        incoming: &'a Incoming,
        single: &[&str],
        arrays: &[&str],
    ) -> Result<Self, Reply> {
        let Some(pairs) = &incoming.form else {
            return Err(Reply::invalid(
                "Content-Type must be application/x-www-form-urlencoded",
            ));
        };
        for (i, (name, _)) in pairs.iter().enumerate() {
            let is_array = arrays.contains(&name.as_str());
            if !is_array && !single.contains(&name.as_str()) {
                return Err(Reply::invalid(format!("Unknown parameter: {name}")));
            }
            if !is_array && pairs[..i].iter().any(|(earlier, _)| earlier == name) {
                return Err(Reply::invalid(format!(
                    "Parameter {name} was given more than once"
                )));
            }
        }
        Ok(Self { pairs })
    }

    pub(super) fn get(&self, name: &str) -> Option<&'a str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeated parameter, in the order sent.
    pub(super) fn all(&self, name: &str) -> Vec<String> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub(super) fn has(&self, name: &str) -> bool {
        self.pairs.iter().any(|(k, _)| k == name)
    }

    pub(super) fn required(&self, name: &str) -> Result<&'a str, Reply> {
        self.get(name).filter(|v| !v.is_empty()).ok_or_else(|| {
            Reply::invalid(format!(
                "Missing required parameter {name} in the post body"
            ))
        })
    }
}

/// Refuses query parameters a list endpoint does not define.
pub(super) fn check_query(incoming: &Incoming, allowed: &[&str]) -> Result<(), Reply> {
    if let Some(query) = incoming.query.as_deref() {
        for (name, _) in form_urlencoded::parse(query.as_bytes()) {
            if !allowed.contains(&name.as_ref()) {
                return Err(Reply::invalid(format!("Unknown query parameter {name}")));
            }
        }
    }
    Ok(())
}

/// `true` or `false` in any case, as Twilio's boolean parameters accept.
pub(super) fn boolean(name: &str, raw: &str) -> Result<bool, Reply> {
    match raw.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(Reply::invalid(format!(
            "{name} must be a boolean (true or false)"
        ))),
    }
}

pub(super) fn integer(name: &str, raw: &str) -> Result<u64, Reply> {
    raw.parse::<u64>()
        .map_err(|_| Reply::invalid(format!("{name} must be a non-negative integer")))
}

/// One of `allowed`, compared without regard to case (the spec's own example sends
/// `whAtsAPP`); the value is returned as sent.
pub(super) fn one_of<'v>(name: &str, raw: &'v str, allowed: &[&str]) -> Result<&'v str, Reply> {
    if allowed.iter().any(|a| a.eq_ignore_ascii_case(raw)) {
        Ok(raw)
    } else {
        Err(Reply::invalid(format!(
            "Invalid {name} `{}`: must be one of {}",
            raw.escape_default(),
            allowed.join(", ")
        )))
    }
}

/// A SID parameter: `prefix` and 32 hex digits, as the spec's pattern says.
pub(super) fn sid(name: &str, prefix: &str, raw: &str) -> Result<String, Reply> {
    crate::sid::Sid::parse(prefix, raw)
        .map(|s| s.to_string())
        .map_err(|e| Reply::invalid(format!("{name}: {e}")))
}

/// An absolute http(s) URL with a host.
pub(super) fn absolute_url(name: &str, raw: &str) -> Result<String, Reply> {
    let rest = raw
        .strip_prefix("https://")
        .or_else(|| raw.strip_prefix("http://"));
    match rest {
        Some(rest) if !rest.is_empty() && !rest.starts_with(['/', '?', '#']) => Ok(raw.to_owned()),
        _ => Err(Reply::invalid(format!(
            "{name} must be an absolute http or https URL"
        ))),
    }
}

/// The slice of `total` items one page holds, and Twilio's `meta` block for it. `list_url`
/// already carries any filter (`?Type=sms`); paging parameters follow it.
pub(super) fn page(
    list_url: &str,
    key: &str,
    page: usize,
    page_size: usize,
    total: usize,
) -> (std::ops::Range<usize>, Value) {
    let joiner = if list_url.contains('?') { '&' } else { '?' };
    let page_url = |p: usize| format!("{list_url}{joiner}PageSize={page_size}&Page={p}");
    let start = page.saturating_mul(page_size).min(total);
    let end = start.saturating_add(page_size).min(total);
    let next = (end < total).then(|| format!("{}&PageToken=PT{end}", page_url(page + 1)));
    let meta = json!({
        "page": page,
        "page_size": page_size,
        "first_page_url": page_url(0),
        "previous_page_url": (page > 0).then(|| page_url(page - 1)),
        "url": page_url(page),
        "next_page_url": next,
        "key": key,
    });
    (start..end, meta)
}

/// Decodes `%XX` escapes in a path segment (an address such as `%2B15017122661`); a `+` stays
/// a plus, as in any URL path.
pub(super) fn decode_segment(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            out.push((hi * 16 + lo) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_decode_escapes_and_keep_plus() {
        assert_eq!(decode_segment("%2B15017122661"), "+15017122661");
        assert_eq!(decode_segment("+1501"), "+1501");
        assert_eq!(decode_segment("whatsapp%3A%2B1"), "whatsapp:+1");
        assert_eq!(decode_segment("100%"), "100%");
    }

    #[test]
    fn pages_link_to_the_next_until_the_end() {
        let (range, meta) = page("http://x/v1/A", "a", 0, 2, 3);
        assert_eq!(range, 0..2);
        assert_eq!(
            meta["next_page_url"],
            "http://x/v1/A?PageSize=2&Page=1&PageToken=PT2"
        );
        let (range, meta) = page("http://x/v1/A?Type=sms", "a", 1, 2, 3);
        assert_eq!(range, 2..3);
        assert_eq!(meta["next_page_url"], Value::Null);
        assert_eq!(meta["url"], "http://x/v1/A?Type=sms&PageSize=2&Page=1");
    }
}
