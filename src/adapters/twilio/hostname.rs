//! Twilio's regional host rule, as the official libraries apply `TWILIO_REGION` and
//! `TWILIO_EDGE`: `product.[edge.]region.twilio.com`.

/// The region the official libraries assume when only an edge is given.
pub const DEFAULT_REGION_WITH_EDGE: &str = "us1";

const TWILIO_DOMAIN: &str = ".twilio.com";

/// Rewrites a Twilio host for a region and/or edge.
///
/// Hosts outside `twilio.com` (an emulator, a proxy) are returned unchanged, and so is a
/// Twilio host when neither a region nor an edge applies. A region or edge already in the
/// host is kept unless a new one replaces it. Empty strings count as unset.
pub fn regional_host(host: &str, region: Option<&str>, edge: Option<&str>) -> String {
    let region = region.map(str::trim).filter(|r| !r.is_empty());
    let edge = edge.map(str::trim).filter(|e| !e.is_empty());
    let Some(prefix) = host.strip_suffix(TWILIO_DOMAIN) else {
        return host.to_owned();
    };
    let mut labels = prefix.split('.');
    let product = labels.next().unwrap_or(prefix);
    let (existing_edge, existing_region) = match (labels.next(), labels.next()) {
        (Some(edge), Some(region)) => (Some(edge), Some(region)),
        (Some(region), None) => (None, Some(region)),
        _ => (None, None),
    };
    let chosen_region = region
        .or(existing_region)
        .or(edge.map(|_| DEFAULT_REGION_WITH_EDGE));
    let Some(chosen_region) = chosen_region else {
        return host.to_owned();
    };
    match edge.or(existing_edge) {
        Some(edge) => format!("{product}.{edge}.{chosen_region}{TWILIO_DOMAIN}"),
        None => format!("{product}.{chosen_region}{TWILIO_DOMAIN}"),
    }
}
