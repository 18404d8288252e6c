//! Wall-clock time as the state store keeps it: epoch milliseconds and seconds.

/// Milliseconds since the Unix epoch (0 on a clock before it).
pub fn epoch_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Seconds since the Unix epoch.
pub fn epoch_secs() -> u64 {
    epoch_ms() / 1000
}
