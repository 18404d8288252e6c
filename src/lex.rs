//! STUB (to be replaced): the Lex V2 adapter of the bot port.

use async_trait::async_trait;

use crate::bot::{Bot, BotError, BotRequest, BotTurn};
use crate::deadline::Deadline;

#[derive(Debug, Clone)]
pub struct LexBot {
    client: aws_sdk_lexruntimev2::Client,
}

impl LexBot {
    pub fn new(client: aws_sdk_lexruntimev2::Client) -> Self {
        Self { client }
    }
}

#[async_trait]
impl Bot for LexBot {
    async fn recognize_text(&self, _r: &BotRequest, _d: Deadline) -> Result<BotTurn, BotError> {
        let _ = &self.client;
        Err(BotError::Deadline)
    }
}
