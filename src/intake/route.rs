//! Which bot answers: read from the webhook URL's query, as the address (or the Studio flow)
//! was configured with it.

use std::collections::BTreeMap;

use crate::domain::ids::{BotAliasId, BotId, BotRef, LocaleId};

/// The bot to ask, from the webhook URL's `BotId`, `BotAliasId` and optional `LocaleId`.
pub(crate) fn bot_ref(
    query: &BTreeMap<String, String>,
    default_locale: &LocaleId,
) -> Result<BotRef, String> {
    let bot_id = query
        .get("BotId")
        .ok_or("the webhook URL has no BotId query parameter")?;
    let alias = query
        .get("BotAliasId")
        .ok_or("the webhook URL has no BotAliasId query parameter")?;
    Ok(BotRef {
        bot_id: BotId::parse(bot_id).map_err(|e| e.to_string())?,
        alias_id: BotAliasId::parse(alias).map_err(|e| e.to_string())?,
        locale: match query.get("LocaleId") {
            Some(locale) => LocaleId::parse(locale).map_err(|e| e.to_string())?,
            None => default_locale.clone(),
        },
    })
}
