//! `flexlex chat`: the person at the keyboard is the customer. Each line is one message through
//! the real handler; Twilio is emulated, Lex is emulated or real (`--lex`).

use std::io::{IsTerminal, Write};

use tokio::io::{AsyncBufReadExt, BufReader};

use crate::local::{self, BotChoice, LocalStack, StackOptions};
use crate::transcript::Style;
use crate::{ChatArgs, CliError};
use flexlex::domain::ids::{BotAliasId, BotId, LocaleId};
use flexlex::domain::secret::Secret;
use flexlex::outcome::Outcome;
use flexlex_emulators::twilio::SeededConversation;

/// The execute-api-shaped URL the chat's webhooks are signed for.
const WEBHOOK_BASE: &str = "https://chat.execute-api.us-east-1.amazonaws.com/prod/webhook";

pub async fn run(args: ChatArgs, style: Style) -> Result<(), CliError> {
    let bot = bot_choice(&args).await?;
    let mut stack = LocalStack::start(StackOptions {
        bot,
        signing_token: Secret::new(format!("{:032x}", rand::random::<u128>())),
        settings: local::behaviour_from_env(),
    })
    .await?;
    let url = stack.webhook_url(WEBHOOK_BASE);
    let bot_author = stack.bridge.behaviour().bot_author.clone();
    let interactive = std::io::stdin().is_terminal();
    if interactive {
        outln!(
            "{}",
            style.dim("Type as the customer. /quit or Ctrl-D ends; each line is one message.")
        );
    }
    // Started when a line needs it, so an ended conversation is not followed by an empty one.
    // At a terminal it starts at once, to show whom you are writing as.
    let mut current: Option<SeededConversation> =
        interactive.then(|| start_conversation(&stack, &args, style));
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    loop {
        if interactive {
            out!("{}", style.dim("you › "));
            let _ = std::io::stdout().flush();
        }
        let line = match lines.next_line().await {
            Ok(Some(line)) => line,
            Ok(None) => break,
            Err(e) => return Err(CliError::Runtime(format!("cannot read stdin: {e}"))),
        };
        let text = line.trim();
        if text.is_empty() {
            continue;
        }
        if text == "/quit" {
            break;
        }
        if !interactive {
            out!("{}", style.customer(text));
        }
        let seeded = match current.take() {
            Some(seeded) => seeded,
            None => start_conversation(&stack, &args, style),
        };
        let exchange = stack.say(&seeded, text, &url, None).await?;
        out!("{}", style.actions(&exchange.actions, &bot_author));
        out!("{}", style.outcome(&exchange.report));
        let ended = match exchange.report.outcome {
            Outcome::Closed(_) => Some("the conversation was closed"),
            Outcome::HandedOff(_) => Some("the conversation is with a Flex agent now"),
            Outcome::Failed(_) => Some("the conversation could not be completed"),
            _ => None,
        };
        if let Some(why) = ended {
            outln!(
                "{}",
                style.dim(&format!(
                    "  ({why}; your next line starts a new conversation)"
                ))
            );
            if interactive {
                current = Some(start_conversation(&stack, &args, style));
            }
        } else {
            current = Some(seeded);
        }
    }
    Ok(())
}

fn start_conversation(stack: &LocalStack, args: &ChatArgs, style: Style) -> SeededConversation {
    let seeded = stack.seed(local::customer(args.channel, "Ada"));
    outln!(
        "{}",
        style.header(&format!(
            "{} conversation {} · customer {}",
            args.channel.as_str(),
            seeded.conversation,
            seeded.customer_author
        ))
    );
    seeded
}

/// The emulated bot, or a real one with ids checked before anything starts.
async fn bot_choice(args: &ChatArgs) -> Result<BotChoice, CliError> {
    if !args.lex {
        return Ok(BotChoice::Emulated);
    }
    let bot_id = args
        .bot_id
        .clone()
        .ok_or_else(|| CliError::Config("--lex needs --bot-id".into()))?;
    let alias_id = args
        .bot_alias_id
        .clone()
        .ok_or_else(|| CliError::Config("--lex needs --bot-alias-id".into()))?;
    BotId::parse(&bot_id).map_err(|e| CliError::Config(format!("--bot-id: {e}")))?;
    BotAliasId::parse(&alias_id).map_err(|e| CliError::Config(format!("--bot-alias-id: {e}")))?;
    LocaleId::parse(&args.locale).map_err(|e| CliError::Config(format!("--locale: {e}")))?;
    let sdk = flexlex::app::compose::sdk_config(args.region.clone())
        .await
        .map_err(|e| CliError::Runtime(e.to_string()))?;
    if sdk.region().is_none() {
        return Err(CliError::Config(
            "no AWS region: pass --region or set AWS_REGION".into(),
        ));
    }
    Ok(BotChoice::Real {
        sdk: Box::new(sdk),
        bot_id,
        alias_id,
        locale: args.locale.clone(),
    })
}
