//! What Twilio stamps on every resource it creates: a fresh SID and an RFC 3339 date. A leaf,
//! so the store, the views and every resource module can share them.

use std::time::SystemTime;

use crate::sid::Sid;

/// A fresh Twilio-shaped SID as text.
pub(crate) fn new_sid(prefix: &str) -> String {
    Sid::random(prefix).to_string()
}

/// RFC 3339 UTC with whole seconds, as Twilio formats `date_created`.
pub(crate) fn iso8601(time: SystemTime) -> String {
    let secs = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let crate::lex::orderflowers::CivilDate { year, month, day } =
        crate::lex::orderflowers::CivilDate::from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dates_are_rfc3339() {
        assert_eq!(iso8601(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_709_251_199);
        assert_eq!(iso8601(t), "2024-02-29T23:59:59Z");
    }
}
