//! The bot port: one customer message in, the bot's turn out. Implemented by
//! `adapters::lex` (Lex V2 `RecognizeText`).

use async_trait::async_trait;

use crate::domain::bot::{BotError, BotRequest, BotTurn};
use crate::domain::deadline::Deadline;

#[async_trait]
pub trait Bot: Send + Sync {
    async fn recognize_text(
        &self,
        request: &BotRequest,
        deadline: Deadline,
    ) -> Result<BotTurn, BotError>;
}
