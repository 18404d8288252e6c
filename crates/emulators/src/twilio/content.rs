//! The Content API as far as rich cards need it: `POST /v1/Content` (JSON) creates a
//! template, and a conversation message may carry `ContentSid` / `ContentVariables`.
//!
//! Validation follows `twilio_content_v1.json` (`ContentCreateRequest`: `language` and `types`
//! required, `variables` an object of strings; `twilio/text`, `twilio/quick-reply`,
//! `twilio/list-picker` with `additionalProperties: false`) and the content type pages for
//! lengths and counts (quick-reply body ≤ 1,024, 1–10 actions, title ≤ 20, id ≤ 200;
//! list-picker body ≤ 1,024, `button` required, 1–10 items, `item` ≤ 24, `id` ≤ 200,
//! `description` ≤ 72 and required per the page; `twilio/text` body ≤ 1,600 per the
//! Conversations rich-content page). Other content types exist at Twilio but are not
//! emulated: they are refused with a message saying so, never accepted unchecked.
//!
//! Message errors use the Conversations codes Twilio documents: 50526 (content SID pattern),
//! 50527 (variables not a JSON object), 50528 (variables without a content SID). A well-formed
//! SID the account does not have gets 21655, the Messaging code for it (the Conversations
//! code, if any, is not documented).

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde_json::{Map, Value, json};

use super::model::{ContentStore, ContentTemplate};
use super::stamps::{iso8601, new_sid};
use crate::sid::Sid;

const INVALID_PARAMETER: u32 = 20001;
const CONTENT_SID_INVALID: u32 = 50526;
const CONTENT_VARIABLES_INVALID: u32 = 50527;
const CONTENT_SID_MISSING: u32 = 50528;
const CONTENT_SID_UNKNOWN: u32 = 21655;

const BODY_MAX: usize = 1024;
const TEXT_BODY_MAX: usize = 1600;
const ACTIONS_MAX: usize = 10;
const TITLE_MAX: usize = 20;
const ID_MAX: usize = 200;
const ITEMS_MAX: usize = 10;
const ITEM_MAX: usize = 24;
const DESCRIPTION_MAX: usize = 72;

/// Every type name Twilio's schema knows; the emulator implements the first three.
const EMULATED: [&str; 3] = ["twilio/text", "twilio/quick-reply", "twilio/list-picker"];
const NOT_EMULATED: [&str; 11] = [
    "twilio/media",
    "twilio/location",
    "twilio/call-to-action",
    "twilio/card",
    "twilio/catalog",
    "twilio/carousel",
    "twilio/flows",
    "twilio/schedule",
    "whatsapp/card",
    "whatsapp/authentication",
    "whatsapp/flows",
];

/// A refusal: the code and the message.
pub(crate) type Refusal = (u32, String);

/// The template a message names, with the variables it fills in.
pub(crate) type Filled<'a> = (&'a ContentTemplate, BTreeMap<String, String>);

fn invalid(message: impl Into<String>) -> Refusal {
    (INVALID_PARAMETER, message.into())
}

impl ContentStore {
    /// `POST /v1/Content`: the JSON body, checked; the stored template on success.
    pub fn create(
        &mut self,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<&ContentTemplate, Refusal> {
        let is_json = content_type.is_some_and(|ct| {
            ct.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
        });
        if !is_json {
            return Err(invalid("Content-Type must be application/json"));
        }
        let request: Value =
            serde_json::from_slice(body).map_err(|e| invalid(format!("Invalid JSON body: {e}")))?;
        let request = request
            .as_object()
            .ok_or_else(|| invalid("The body must be a JSON object"))?;
        for key in request.keys() {
            if !matches!(
                key.as_str(),
                "friendly_name" | "language" | "variables" | "types"
            ) {
                return Err(invalid(format!("Unknown field: {key}")));
            }
        }
        let language = request
            .get("language")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("Missing required field: language"))?;
        if !valid_language(language) {
            return Err(invalid(format!(
                "language `{language}` is not a language code such as en"
            )));
        }
        let friendly_name = match request.get("friendly_name") {
            None => String::new(),
            Some(Value::String(name)) => name.clone(),
            Some(_) => return Err(invalid("friendly_name must be a string")),
        };
        let variables = match request.get("variables") {
            None => Map::new(),
            Some(Value::Object(vars)) => {
                if let Some((name, _)) = vars.iter().find(|(_, v)| !v.is_string()) {
                    return Err(invalid(format!("variables.{name} must be a string")));
                }
                vars.clone()
            }
            Some(_) => return Err(invalid("variables must be an object of strings")),
        };
        let types = request
            .get("types")
            .ok_or_else(|| invalid("Missing required field: types"))?;
        check_types(types)?;
        let sid = Sid::parse("HX", &new_sid("HX")).map_err(invalid)?;
        self.templates.push(ContentTemplate {
            sid,
            friendly_name,
            language: language.to_owned(),
            variables,
            types: types.clone(),
            date_created: iso8601(SystemTime::now()),
        });
        self.templates
            .last()
            .ok_or_else(|| invalid("template not stored"))
    }

    /// The `ContentSid` / `ContentVariables` of a message, checked; the template and the
    /// variables when the message carries one.
    pub fn message_content(
        &self,
        content_sid: Option<&str>,
        variables: Option<&str>,
    ) -> Result<Option<Filled<'_>>, Refusal> {
        let Some(raw) = content_sid else {
            return match variables {
                Some(_) => Err((
                    CONTENT_SID_MISSING,
                    "Message content variables are defined without a proper content sid".into(),
                )),
                None => Ok(None),
            };
        };
        let sid = Sid::parse("HX", raw).map_err(|_| {
            (
                CONTENT_SID_INVALID,
                "An invalid value was specified for the message content sid".to_owned(),
            )
        })?;
        let template = self
            .templates
            .iter()
            .find(|t| t.sid == sid)
            .ok_or_else(|| (CONTENT_SID_UNKNOWN, "The ContentSid is Invalid".to_owned()))?;
        let variables = match variables {
            None => BTreeMap::new(),
            Some(raw) => {
                let refuse = || {
                    (
                        CONTENT_VARIABLES_INVALID,
                        "An invalid value was specified for the message content variables"
                            .to_owned(),
                    )
                };
                let parsed: Value = serde_json::from_str(raw).map_err(|_| refuse())?;
                let object = parsed.as_object().ok_or_else(refuse)?;
                object
                    .iter()
                    .map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect::<Option<BTreeMap<_, _>>>()
                    .ok_or_else(refuse)?
            }
        };
        Ok(Some((template, variables)))
    }
}

impl ContentTemplate {
    /// What the message shows where only text is possible: the `twilio/text` body, else the
    /// richest type's body, with `{{name}}` placeholders filled from the message's variables,
    /// then the template's defaults.
    pub fn text(&self, variables: &BTreeMap<String, String>) -> String {
        let body = EMULATED
            .iter()
            .find_map(|name| self.types.get(*name)?.get("body")?.as_str())
            .unwrap_or_default();
        let mut text = body.to_owned();
        let defaults = self
            .variables
            .iter()
            .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?)));
        let given = variables.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        for (name, value) in given.chain(defaults) {
            text = text.replace(&format!("{{{{{name}}}}}"), value);
        }
        text
    }

    /// The resource Twilio answers with.
    pub fn view(&self, base_url: &str, account: &Sid) -> Value {
        let url = format!("{base_url}/v1/Content/{}", self.sid);
        json!({
            "sid": self.sid.as_str(),
            "account_sid": account.as_str(),
            "friendly_name": self.friendly_name,
            "language": self.language,
            "variables": self.variables,
            "types": self.types,
            "url": url,
            "date_created": self.date_created,
            "date_updated": self.date_created,
            "links": {
                "approval_create": format!("{url}/ApprovalRequests/whatsapp"),
                "approval_fetch": format!("{url}/ApprovalRequests"),
            },
        })
    }
}

/// Two lower-case letters, optionally followed by `_` or `-` and a region.
fn valid_language(code: &str) -> bool {
    let (language, region) = match code.split_once(['_', '-']) {
        Some((language, region)) => (language, Some(region)),
        None => (code, None),
    };
    language.len() == 2
        && language.bytes().all(|b| b.is_ascii_lowercase())
        && region.is_none_or(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_alphanumeric()))
}

fn check_types(types: &Value) -> Result<(), Refusal> {
    let types = types
        .as_object()
        .ok_or_else(|| invalid("types must be an object"))?;
    if types.is_empty() {
        return Err(invalid("types must contain at least one content type"));
    }
    for (name, value) in types {
        match name.as_str() {
            "twilio/text" => check_text(value)?,
            "twilio/quick-reply" => check_quick_reply(value)?,
            "twilio/list-picker" => check_list_picker(value)?,
            other if NOT_EMULATED.contains(&other) => {
                return Err(invalid(format!(
                    "types.{other} is a Twilio content type this emulator does not implement"
                )));
            }
            other => return Err(invalid(format!("Unknown content type: {other}"))),
        }
    }
    Ok(())
}

/// An object with only `allowed` fields.
fn object<'a>(
    value: &'a Value,
    path: &str,
    allowed: &[&str],
) -> Result<&'a Map<String, Value>, Refusal> {
    let map = value
        .as_object()
        .ok_or_else(|| invalid(format!("{path} must be an object")))?;
    if let Some(key) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(invalid(format!("Unknown field: {path}.{key}")));
    }
    Ok(map)
}

/// A required, non-blank string of at most `max` characters.
fn text<'a>(
    map: &'a Map<String, Value>,
    path: &str,
    key: &str,
    max: usize,
) -> Result<&'a str, Refusal> {
    let value = map
        .get(key)
        .ok_or_else(|| invalid(format!("Missing required field: {path}.{key}")))?
        .as_str()
        .ok_or_else(|| invalid(format!("{path}.{key} must be a string")))?;
    if value.trim().is_empty() {
        return Err(invalid(format!("{path}.{key} must not be empty")));
    }
    let length = value.chars().count();
    if length > max {
        return Err(invalid(format!(
            "{path}.{key} is {length} characters; the maximum is {max}"
        )));
    }
    Ok(value)
}

/// An array of `min..=max` elements.
fn array<'a>(
    map: &'a Map<String, Value>,
    path: &str,
    key: &str,
    max: usize,
) -> Result<&'a [Value], Refusal> {
    let items = map
        .get(key)
        .ok_or_else(|| invalid(format!("Missing required field: {path}.{key}")))?
        .as_array()
        .ok_or_else(|| invalid(format!("{path}.{key} must be an array")))?;
    if items.is_empty() || items.len() > max {
        return Err(invalid(format!(
            "{path}.{key} must have between 1 and {max} elements, not {}",
            items.len()
        )));
    }
    Ok(items)
}

fn check_text(value: &Value) -> Result<(), Refusal> {
    let path = "types.twilio/text";
    let map = object(value, path, &["body"])?;
    text(map, path, "body", TEXT_BODY_MAX).map(drop)
}

fn check_quick_reply(value: &Value) -> Result<(), Refusal> {
    let path = "types.twilio/quick-reply";
    let map = object(value, path, &["body", "actions"])?;
    text(map, path, "body", BODY_MAX)?;
    for (i, action) in array(map, path, "actions", ACTIONS_MAX)?.iter().enumerate() {
        let path = format!("{path}.actions[{i}]");
        let action = object(action, &path, &["type", "title", "id"])?;
        text(action, &path, "title", TITLE_MAX)?;
        if action.contains_key("id") {
            text(action, &path, "id", ID_MAX)?;
        }
        match action.get("type") {
            None => {}
            Some(Value::String(kind)) if kind == "QUICK_REPLY" => {}
            Some(_) => return Err(invalid(format!("{path}.type must be QUICK_REPLY"))),
        }
    }
    Ok(())
}

fn check_list_picker(value: &Value) -> Result<(), Refusal> {
    let path = "types.twilio/list-picker";
    let map = object(value, path, &["body", "button", "items"])?;
    text(map, path, "body", BODY_MAX)?;
    text(map, path, "button", usize::MAX)?;
    for (i, item) in array(map, path, "items", ITEMS_MAX)?.iter().enumerate() {
        let path = format!("{path}.items[{i}]");
        let item = object(item, &path, &["item", "id", "description"])?;
        text(item, &path, "item", ITEM_MAX)?;
        text(item, &path, "id", ID_MAX)?;
        text(item, &path, "description", DESCRIPTION_MAX)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create(body: Value) -> Result<ContentTemplate, Refusal> {
        let mut store = ContentStore::default();
        store
            .create(Some("application/json"), body.to_string().as_bytes())
            .cloned()
    }

    fn refusal(body: Value) -> String {
        create(body).unwrap_err().1
    }

    fn quick_reply(actions: Value) -> Value {
        json!({"language": "en", "types": {"twilio/quick-reply": {"body": "Pick", "actions": actions}}})
    }

    #[test]
    fn a_quick_reply_with_a_text_fallback_is_created() {
        let t = create(json!({
            "friendly_name": "card",
            "language": "en",
            "variables": {"1": "x"},
            "types": {
                "twilio/text": {"body": "Pick\n1. Roses"},
                "twilio/quick-reply": {"body": "Pick", "actions": [{"type": "QUICK_REPLY", "title": "Roses", "id": "roses"}]}
            }
        }))
        .unwrap();
        assert!(t.sid.as_str().starts_with("HX"));
        assert_eq!(t.text(&BTreeMap::new()), "Pick\n1. Roses");
    }

    #[test]
    fn the_request_shape_is_checked() {
        let mut store = ContentStore::default();
        assert!(
            store
                .create(Some("application/x-www-form-urlencoded"), b"{}")
                .is_err()
        );
        assert!(store.create(Some("application/json"), b"not json").is_err());
        assert_eq!(refusal(json!([])), "The body must be a JSON object");
        assert_eq!(
            refusal(json!({"types": {}})),
            "Missing required field: language"
        );
        assert_eq!(
            refusal(json!({"language": "en"})),
            "Missing required field: types"
        );
        assert_eq!(
            refusal(json!({"language": "English", "types": {}})),
            "language `English` is not a language code such as en"
        );
        assert_eq!(
            refusal(json!({"language": "en", "types": {}})),
            "types must contain at least one content type"
        );
        assert_eq!(
            refusal(json!({"language": "en", "extra": 1, "types": {}})),
            "Unknown field: extra"
        );
        assert_eq!(
            refusal(json!({"language": "en", "variables": {"1": 2}, "types": {}})),
            "variables.1 must be a string"
        );
        assert_eq!(
            refusal(json!({"language": "en", "types": {"twilio/fax": {}}})),
            "Unknown content type: twilio/fax"
        );
        assert_eq!(
            refusal(json!({"language": "en", "types": {"twilio/card": {}}})),
            "types.twilio/card is a Twilio content type this emulator does not implement"
        );
        assert!(
            create(json!({"language": "pt_BR", "types": {"twilio/text": {"body": "x"}}})).is_ok()
        );
    }

    #[test]
    fn quick_reply_counts_and_lengths_are_twilios() {
        let action = |title: &str| json!({"type": "QUICK_REPLY", "title": title, "id": "x"});
        assert!(create(quick_reply(json!(vec![action("a"); 10]))).is_ok());
        assert_eq!(
            refusal(quick_reply(json!(vec![action("a"); 11]))),
            "types.twilio/quick-reply.actions must have between 1 and 10 elements, not 11"
        );
        assert_eq!(
            refusal(quick_reply(json!([]))),
            "types.twilio/quick-reply.actions must have between 1 and 10 elements, not 0"
        );
        assert!(create(quick_reply(json!([action(&"t".repeat(20))]))).is_ok());
        assert_eq!(
            refusal(quick_reply(json!([action(&"t".repeat(21))]))),
            "types.twilio/quick-reply.actions[0].title is 21 characters; the maximum is 20"
        );
        assert_eq!(
            refusal(quick_reply(json!([{"type": "BUTTON", "title": "a"}]))),
            "types.twilio/quick-reply.actions[0].type must be QUICK_REPLY"
        );
        assert_eq!(
            refusal(quick_reply(json!([{"title": "a", "id": "i".repeat(201)}]))),
            "types.twilio/quick-reply.actions[0].id is 201 characters; the maximum is 200"
        );
        assert_eq!(
            refusal(quick_reply(json!([{"title": "a", "url": "x"}]))),
            "Unknown field: types.twilio/quick-reply.actions[0].url"
        );
    }

    #[test]
    fn list_picker_counts_and_lengths_are_twilios() {
        let item = |title: &str, description: &str| json!({"item": title, "id": "i", "description": description});
        let list = |items: Value| json!({"language": "en", "types": {"twilio/list-picker": {"body": "Pick", "button": "Choose", "items": items}}});
        assert!(create(list(json!(vec![item("a", "d"); 10]))).is_ok());
        assert_eq!(
            refusal(list(json!(vec![item("a", "d"); 11]))),
            "types.twilio/list-picker.items must have between 1 and 10 elements, not 11"
        );
        assert_eq!(
            refusal(list(json!([item(&"x".repeat(25), "d")]))),
            "types.twilio/list-picker.items[0].item is 25 characters; the maximum is 24"
        );
        assert_eq!(
            refusal(list(json!([item("a", &"d".repeat(73))]))),
            "types.twilio/list-picker.items[0].description is 73 characters; the maximum is 72"
        );
        assert_eq!(
            refusal(list(json!([{"item": "a", "id": "i"}]))),
            "Missing required field: types.twilio/list-picker.items[0].description"
        );
        assert_eq!(
            refusal(
                json!({"language": "en", "types": {"twilio/list-picker": {"body": "b", "items": [item("a", "d")]}}})
            ),
            "Missing required field: types.twilio/list-picker.button"
        );
        assert_eq!(
            refusal(
                json!({"language": "en", "types": {"twilio/text": {"body": "b".repeat(1601)}}})
            ),
            "types.twilio/text.body is 1601 characters; the maximum is 1600"
        );
        assert_eq!(
            refusal(
                json!({"language": "en", "types": {"twilio/quick-reply": {"body": "b".repeat(1025), "actions": [{"title": "a"}]}}})
            ),
            "types.twilio/quick-reply.body is 1025 characters; the maximum is 1024"
        );
    }

    #[test]
    fn messages_need_a_known_sid_and_object_variables() {
        let mut store = ContentStore::default();
        let sid = store
            .create(
                Some("application/json"),
                json!({"language": "en", "variables": {"1": "there"}, "types": {"twilio/text": {"body": "Hi {{1}}, {{2}}"}}})
                    .to_string()
                    .as_bytes(),
            )
            .unwrap()
            .sid
            .clone();
        assert!(store.message_content(None, None).unwrap().is_none());
        assert_eq!(
            store.message_content(None, Some("{}")).unwrap_err().0,
            50528
        );
        assert_eq!(
            store.message_content(Some("HX1"), None).unwrap_err().0,
            50526
        );
        let unknown = Sid::random("HX");
        assert_eq!(
            store
                .message_content(Some(unknown.as_str()), None)
                .unwrap_err()
                .0,
            21655
        );
        for bad in ["[]", "nope", "{\"1\": 2}"] {
            assert_eq!(
                store
                    .message_content(Some(sid.as_str()), Some(bad))
                    .unwrap_err()
                    .0,
                50527,
                "{bad}"
            );
        }
        let (template, variables) = store
            .message_content(Some(sid.as_str()), Some("{\"2\": \"welcome\"}"))
            .unwrap()
            .unwrap();
        assert_eq!(template.text(&variables), "Hi there, welcome");
    }
}
