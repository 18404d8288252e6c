//! The Address Configuration resource, `/v1/Configuration/Addresses`: which addresses
//! auto-create a conversation on an inbound message, and what the conversation-scoped webhook
//! attached to it calls. This is what the Flex Console's "Conversations Addresses" page edits.
//!
//! Parameters, enums and response shapes follow `twilio_conversations_v1.json` in Twilio's
//! OpenAPI description. Where it is silent the emulator is strict and says so here:
//!
//! - an `sms` or `whatsapp` address must be a number of the account ([`TwilioEmulator::own_number`]),
//!   `+` and digits (or a short code), `whatsapp:` prefixed for WhatsApp; otherwise 400;
//! - `AutoCreation.Type=webhook` needs `AutoCreation.WebhookUrl`, `studio` needs
//!   `AutoCreation.StudioFlowSid` (after an update too);
//! - a second configuration for the same address is refused with 409.
//!
//! Refusals carry code 20001 (invalid parameter) and a message naming the problem, 404/20404
//! for an unknown SID: Twilio does not document a code per case for this resource.

use std::time::SystemTime;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

// The data is the store's (`model`), so the store needs nothing from here; it is still
// public under this module's name.
pub use super::model::{AddressConfiguration, AutoCreation};

use super::TwilioEmulator;
use super::form_rules::{self, Form};
use super::model::{AddressBook, State};
use super::stamps::iso8601;
use super::views::Context;
use super::wire::{Incoming, Reply, paging};
use crate::sid::Sid;

/// `Type`, as the spec's enum lists it. There is no `web`: Flex webchat addresses are `chat`.
pub const ADDRESS_TYPES: &[&str] = &[
    "sms",
    "whatsapp",
    "messenger",
    "gbm",
    "email",
    "rcs",
    "apple",
    "chat",
];
/// `AutoCreation.Type`.
pub const AUTO_CREATION_TYPES: &[&str] = &["webhook", "studio", "default"];
/// `AutoCreation.WebhookFilters` values the spec allows.
pub const WEBHOOK_FILTERS: &[&str] = &[
    "onMessageAdded",
    "onMessageUpdated",
    "onMessageRemoved",
    "onConversationUpdated",
    "onConversationStateUpdated",
    "onConversationRemoved",
    "onParticipantAdded",
    "onParticipantUpdated",
    "onParticipantRemoved",
    "onDeliveryUpdated",
];

const AUTO_CREATION_PARAMS: &[&str] = &[
    "AutoCreation.Enabled",
    "AutoCreation.Type",
    "AutoCreation.ConversationServiceSid",
    "AutoCreation.WebhookUrl",
    "AutoCreation.WebhookMethod",
    "AutoCreation.StudioFlowSid",
    "AutoCreation.StudioRetryCount",
];
const FILTERS: &str = "AutoCreation.WebhookFilters";
const MAX_FRIENDLY_NAME: usize = 256;
const MAX_PAGE_SIZE: usize = 50;

impl AutoCreation {
    /// Whether `AutoCreation.Type` is `kind`, in any case.
    fn kind_is(&self, kind: &str) -> bool {
        self.kind
            .as_deref()
            .is_some_and(|k| k.eq_ignore_ascii_case(kind))
    }
}

impl AddressBook {
    /// The configuration whose SID or address is `key`.
    fn find(&self, key: &str) -> Option<usize> {
        self.configs
            .iter()
            .position(|c| c.sid.as_str() == key || c.address == key)
    }
}

impl TwilioEmulator {
    /// Makes `number` (`+E.164` or a short code) one of the account's: `sms` and `whatsapp`
    /// address configurations for it are accepted from then on.
    pub fn own_number(&self, number: &str) {
        self.shared
            .lock()
            .addresses
            .owned_numbers
            .insert(number.to_owned());
    }

    /// Adds an address configuration without HTTP and without checks (what the Flex Console
    /// or an earlier deployment left), and returns its SID.
    pub fn seed_address_configuration(
        &self,
        kind: &str,
        address: &str,
        friendly_name: Option<&str>,
        auto_creation: AutoCreation,
    ) -> Sid {
        let now = iso8601(SystemTime::now());
        let sid = Sid::random("IG");
        self.shared
            .lock()
            .addresses
            .configs
            .push(AddressConfiguration {
                sid: sid.clone(),
                kind: kind.to_owned(),
                address: address.to_owned(),
                friendly_name: friendly_name.map(str::to_owned),
                address_country: None,
                auto_creation,
                date_created: now.clone(),
                date_updated: now,
            });
        sid
    }

    /// Every address configuration, in creation order.
    pub fn address_configurations(&self) -> Vec<AddressConfiguration> {
        self.shared.lock().addresses.configs.clone()
    }
}

/// `/v1/Configuration/Addresses` and `/v1/Configuration/Addresses/{Sid}`.
pub(super) fn route(
    ctx: &Context<'_>,
    state: &mut State,
    incoming: &Incoming,
    rest: &[&str],
) -> Reply {
    let result = match (rest, &incoming.method) {
        ([], &Method::GET) => list(ctx, state, incoming),
        ([], &Method::POST) => create(ctx, state, incoming),
        ([key], &Method::GET) => find(state, key, incoming)
            .map(|i| Reply::json(StatusCode::OK, view(ctx, &state.addresses.configs[i]))),
        ([key], &Method::POST) => update(ctx, state, incoming, key),
        ([key], &Method::DELETE) => find(state, key, incoming).map(|i| {
            state.addresses.configs.remove(i);
            Reply::no_content()
        }),
        ([] | [_], _) => Err(Reply::error(
            StatusCode::METHOD_NOT_ALLOWED,
            20004,
            "Method not allowed",
        )),
        _ => Err(Reply::not_found(&incoming.path)),
    };
    result.unwrap_or_else(|reply| reply)
}

/// `{Sid}` is the `IG…` SID or the address itself, as the spec allows.
fn find(state: &State, raw: &str, incoming: &Incoming) -> Result<usize, Reply> {
    state
        .addresses
        .find(&form_rules::decode_segment(raw))
        .ok_or_else(|| Reply::not_found(&incoming.path))
}

fn list(ctx: &Context<'_>, state: &State, incoming: &Incoming) -> Result<Reply, Reply> {
    form_rules::check_query(incoming, &["Type", "PageSize", "Page", "PageToken"])?;
    let (page, page_size) = paging(incoming, MAX_PAGE_SIZE)?;
    let kind = incoming.query_param("Type");
    let matching: Vec<&AddressConfiguration> = state
        .addresses
        .configs
        .iter()
        .filter(|c| {
            kind.as_deref()
                .is_none_or(|k| c.kind.eq_ignore_ascii_case(k))
        })
        .collect();
    let mut list_url = format!("{}/v1/Configuration/Addresses", ctx.base_url);
    if let Some(kind) = &kind {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("Type", kind)
            .finish();
        list_url = format!("{list_url}?{query}");
    }
    let (range, meta) = form_rules::page(
        &list_url,
        "address_configurations",
        page,
        page_size,
        matching.len(),
    );
    let items: Vec<Value> = matching[range].iter().map(|c| view(ctx, c)).collect();
    Ok(Reply::json(
        StatusCode::OK,
        json!({ "meta": meta, "address_configurations": items }),
    ))
}

fn create(ctx: &Context<'_>, state: &mut State, incoming: &Incoming) -> Result<Reply, Reply> {
    let mut single = vec!["Type", "Address", "FriendlyName", "AddressCountry"];
    single.extend_from_slice(AUTO_CREATION_PARAMS);
    let form = Form::read(incoming, &single, &[FILTERS])?;
    let kind = form_rules::one_of("Type", form.required("Type")?, ADDRESS_TYPES)?;
    let address = form.required("Address")?;
    check_address(&state.addresses, kind, address)?;
    if let Some(existing) = state
        .addresses
        .configs
        .iter()
        .find(|c| c.address == address)
    {
        return Err(Reply::error(
            StatusCode::CONFLICT,
            20001,
            format!(
                "An address configuration for {address} already exists ({})",
                existing.sid
            ),
        ));
    }
    let friendly_name = friendly_name(&form)?;
    let address_country = form
        .get("AddressCountry")
        .map(|c| {
            if c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphabetic()) {
                Ok(c.to_ascii_uppercase())
            } else {
                Err(Reply::invalid(
                    "AddressCountry must be an ISO 3166-1 alpha-2 country code",
                ))
            }
        })
        .transpose()?;
    let mut auto_creation = AutoCreation::default();
    apply_auto_creation(&form, &mut auto_creation)?;
    check_complete(&auto_creation)?;
    let now = iso8601(SystemTime::now());
    let config = AddressConfiguration {
        sid: Sid::random("IG"),
        kind: kind.to_owned(),
        address: address.to_owned(),
        friendly_name,
        address_country,
        auto_creation,
        date_created: now.clone(),
        date_updated: now,
    };
    let body = view(ctx, &config);
    state.addresses.configs.push(config);
    Ok(Reply::json(StatusCode::CREATED, body))
}

/// Only `FriendlyName` and `AutoCreation.*` can change; `Type`, `Address` and
/// `AddressCountry` are refused as unknown parameters, as the update schema lacks them.
fn update(
    ctx: &Context<'_>,
    state: &mut State,
    incoming: &Incoming,
    key: &str,
) -> Result<Reply, Reply> {
    let index = find(state, key, incoming)?;
    let mut single = vec!["FriendlyName"];
    single.extend_from_slice(AUTO_CREATION_PARAMS);
    let form = Form::read(incoming, &single, &[FILTERS])?;
    let mut config = state.addresses.configs[index].clone();
    if form.has("FriendlyName") {
        config.friendly_name = friendly_name(&form)?;
    }
    apply_auto_creation(&form, &mut config.auto_creation)?;
    check_complete(&config.auto_creation)?;
    config.date_updated = iso8601(SystemTime::now());
    let body = view(ctx, &config);
    state.addresses.configs[index] = config;
    Ok(Reply::json(StatusCode::OK, body))
}

fn friendly_name(form: &Form<'_>) -> Result<Option<String>, Reply> {
    match form.get("FriendlyName") {
        Some(name) if name.chars().count() > MAX_FRIENDLY_NAME => {
            Err(Reply::invalid("FriendlyName is limited to 256 characters"))
        }
        Some(name) => Ok(Some(name.to_owned())),
        None => Ok(None),
    }
}

/// Lays the `AutoCreation.*` parameters that were sent over `auto`.
fn apply_auto_creation(form: &Form<'_>, auto: &mut AutoCreation) -> Result<(), Reply> {
    if let Some(raw) = form.get("AutoCreation.Enabled") {
        auto.enabled = form_rules::boolean("AutoCreation.Enabled", raw)?;
    }
    if let Some(raw) = form.get("AutoCreation.Type") {
        let kind = form_rules::one_of("AutoCreation.Type", raw, AUTO_CREATION_TYPES)?;
        auto.kind = Some(kind.to_ascii_lowercase());
    }
    if let Some(raw) = form.get("AutoCreation.ConversationServiceSid") {
        auto.conversation_service_sid = Some(form_rules::sid(
            "AutoCreation.ConversationServiceSid",
            "IS",
            raw,
        )?);
    }
    if let Some(raw) = form.get("AutoCreation.WebhookUrl") {
        auto.webhook_url = Some(form_rules::absolute_url("AutoCreation.WebhookUrl", raw)?);
    }
    if let Some(raw) = form.get("AutoCreation.WebhookMethod") {
        let method = form_rules::one_of("AutoCreation.WebhookMethod", raw, &["get", "post"])?;
        auto.webhook_method = Some(method.to_ascii_uppercase());
    }
    if form.has(FILTERS) {
        let filters = form.all(FILTERS);
        for filter in &filters {
            if !WEBHOOK_FILTERS.contains(&filter.as_str()) {
                return Err(Reply::invalid(format!(
                    "Invalid {FILTERS} value `{}`: must be one of {}",
                    filter.escape_default(),
                    WEBHOOK_FILTERS.join(", ")
                )));
            }
        }
        auto.webhook_filters = filters;
    }
    if let Some(raw) = form.get("AutoCreation.StudioFlowSid") {
        auto.studio_flow_sid = Some(form_rules::sid("AutoCreation.StudioFlowSid", "FW", raw)?);
    }
    if let Some(raw) = form.get("AutoCreation.StudioRetryCount") {
        auto.studio_retry_count = Some(form_rules::integer("AutoCreation.StudioRetryCount", raw)?);
    }
    Ok(())
}

fn check_complete(auto: &AutoCreation) -> Result<(), Reply> {
    if auto.kind_is("webhook") && auto.webhook_url.is_none() {
        return Err(Reply::invalid(
            "AutoCreation.WebhookUrl is required when AutoCreation.Type is webhook",
        ));
    }
    if auto.kind_is("studio") && auto.studio_flow_sid.is_none() {
        return Err(Reply::invalid(
            "AutoCreation.StudioFlowSid is required when AutoCreation.Type is studio",
        ));
    }
    Ok(())
}

/// `+` and 2 to 15 digits, or a short code of 3 to 8 digits.
fn is_number(raw: &str) -> bool {
    match raw.strip_prefix('+') {
        Some(digits) => {
            (2..=15).contains(&digits.len())
                && !digits.starts_with('0')
                && digits.bytes().all(|b| b.is_ascii_digit())
        }
        None => (3..=8).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_digit()),
    }
}

fn check_address(book: &AddressBook, kind: &str, address: &str) -> Result<(), Reply> {
    let kind = kind.to_ascii_lowercase();
    let number = match kind.as_str() {
        "sms" => Some(address),
        "whatsapp" => Some(address.strip_prefix("whatsapp:").ok_or_else(|| {
            Reply::invalid(format!(
                "Address {address} is not a WhatsApp address: expected whatsapp:+<number>"
            ))
        })?),
        "messenger" => {
            let page = address.strip_prefix("messenger:").unwrap_or_default();
            if page.is_empty() || !page.bytes().all(|b| b.is_ascii_digit()) {
                return Err(Reply::invalid(format!(
                    "Address {address} is not a Messenger address: expected messenger:<page id>"
                )));
            }
            None
        }
        _ => None,
    };
    if let Some(number) = number {
        if !is_number(number) {
            return Err(Reply::invalid(format!(
                "Address {address} is not a phone number in E.164 format"
            )));
        }
        if !book.owned_numbers.contains(number) {
            return Err(Reply::invalid(format!(
                "Address {address} is not a phone number or sender of this account"
            )));
        }
    }
    Ok(())
}

/// The resource JSON; `auto_creation` shows the fields of its type only, as Twilio's
/// examples do.
fn view(ctx: &Context<'_>, c: &AddressConfiguration) -> Value {
    let a = &c.auto_creation;
    let service = a
        .conversation_service_sid
        .clone()
        .unwrap_or_else(|| ctx.chat_service.to_owned());
    let auto_creation = match a.kind.as_deref() {
        Some("webhook") => json!({
            "enabled": a.enabled,
            "type": "webhook",
            "conversation_service_sid": service,
            "webhook_url": a.webhook_url,
            "webhook_method": a.webhook_method.as_deref().unwrap_or("POST"),
            "webhook_filters": a.webhook_filters,
        }),
        Some("studio") => json!({
            "enabled": a.enabled,
            "type": "studio",
            "conversation_service_sid": service,
            "studio_flow_sid": a.studio_flow_sid,
            "studio_retry_count": a.studio_retry_count,
        }),
        kind => json!({ "enabled": a.enabled, "type": kind.unwrap_or("default") }),
    };
    json!({
        "account_sid": ctx.account.as_str(),
        "sid": c.sid.as_str(),
        "address": c.address,
        "type": c.kind,
        "friendly_name": c.friendly_name,
        "address_country": c.address_country,
        "auto_creation": auto_creation,
        "date_created": c.date_created,
        "date_updated": c.date_updated,
        "url": format!("{}/v1/Configuration/Addresses/{}", ctx.base_url, c.sid),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_e164_or_short_codes() {
        assert!(is_number("+15017122661"));
        assert!(is_number("12345"));
        assert!(!is_number("+0123"));
        assert!(!is_number("15017122661x"));
        assert!(!is_number("+1"));
    }
}
