//! `flexlex demo`: scripted conversations through the real handler and clients against the
//! emulators, each checked against what should have happened.

use std::collections::HashMap;
use std::time::Instant;

use serde_json::Value;

use crate::local::{self, BotChoice, LocalStack, StackOptions};
use crate::transcript::Style;
use crate::{Channel, CliError};
use flexlex::domain::behaviour::DEFAULT_BOT_ERROR_MESSAGE;
use flexlex::domain::secret::Secret;
use flexlex_emulators::lex::{Fault, Times};
use flexlex_emulators::sid::Sid;
use flexlex_emulators::twilio::SeededConversation;

/// The execute-api URL Twilio would call in production (without the bot query).
const WEBHOOK_BASE: &str = "https://demo.execute-api.us-east-1.amazonaws.com/prod/webhook";
/// A token that is not the account's: what a forger would have to guess.
const FORGED_TOKEN: &str = "a-guessed-token-that-is-not-the-auth-token";

/// One customer message and the outcome it must have (as `Outcome` displays it).
struct Turn {
    say: &'static str,
    expect: &'static str,
}

/// What must hold once a conversation has been played.
enum Expect {
    /// The conversation's state (`active`, `closed`).
    State(&'static str),
    /// Some bot message contains this text.
    BotSaid(&'static str),
    /// An Interaction was created for the conversation with this channel type and task channel.
    Interaction {
        channel_type: &'static str,
        task_channel: &'static str,
    },
    /// The Interaction's task attribute at this JSON pointer has this value.
    TaskAttribute {
        pointer: &'static str,
        value: &'static str,
    },
    /// The bot's conversation-scoped webhook is gone.
    WebhookRemoved,
    /// Neither Lex nor Twilio received any request during the conversation.
    NoServiceCalls,
    /// A bot message went out as a Content API template of this type with these choices.
    CardSent {
        kind: &'static str,
        choices: &'static [&'static str],
    },
    /// Lex received exactly this text in the conversation.
    LexHeard(&'static str),
}

struct Scene {
    title: &'static str,
    channel: Channel,
    name: &'static str,
    /// Signed with a wrong token instead of the account's.
    forged: bool,
    /// Lex answers every request with a 500.
    lex_down: bool,
    turns: Vec<Turn>,
    expect: Vec<Expect>,
}

fn scenes() -> Vec<Scene> {
    let turn = |say, expect| Turn { say, expect };
    vec![
        Scene {
            title: "Webchat: Ada orders roses",
            channel: Channel::Web,
            name: "Ada",
            forged: false,
            lex_down: false,
            turns: vec![
                turn("Hi, I would like to order some flowers", "replied"),
                turn("1", "replied"),
                turn("tomorrow", "replied"),
                turn("10am", "replied"),
                turn("yes", "closed"),
            ],
            expect: vec![Expect::BotSaid("1. Roses"), Expect::State("closed")],
        },
        Scene {
            title: "SMS: a customer asks for a person mid-order",
            channel: Channel::Sms,
            name: "",
            forged: false,
            lex_down: false,
            turns: vec![
                turn("I want to order lilies", "replied"),
                turn("can I talk to a person?", "handed_off"),
            ],
            expect: vec![
                Expect::Interaction {
                    channel_type: "sms",
                    task_channel: "sms",
                },
                Expect::TaskAttribute {
                    pointer: "/lex/intent",
                    value: "Agent",
                },
                Expect::TaskAttribute {
                    pointer: "/lex/otherIntentSlots/OrderFlowers/FlowerType",
                    value: "lilies",
                },
                Expect::WebhookRemoved,
                Expect::State("active"),
            ],
        },
        Scene {
            title: "WhatsApp: help, then an agent",
            channel: Channel::Whatsapp,
            name: "",
            forged: false,
            lex_down: false,
            turns: vec![turn("help", "replied"), turn("agent", "handed_off")],
            expect: vec![
                Expect::BotSaid("I can help you order flowers"),
                Expect::Interaction {
                    channel_type: "whatsapp",
                    task_channel: "chat",
                },
                Expect::WebhookRemoved,
            ],
        },
        Scene {
            title: "A forged request (signed with the wrong token)",
            channel: Channel::Sms,
            name: "",
            forged: true,
            lex_down: false,
            turns: vec![turn("I want to order roses", "rejected:signature")],
            expect: vec![Expect::NoServiceCalls, Expect::State("active")],
        },
        Scene {
            title: "Webchat while Lex is down: an apology, then an agent",
            channel: Channel::Web,
            name: "Grace",
            forged: false,
            lex_down: true,
            turns: vec![turn("I want to order tulips", "handed_off")],
            expect: vec![
                Expect::BotSaid(DEFAULT_BOT_ERROR_MESSAGE),
                Expect::Interaction {
                    channel_type: "web",
                    task_channel: "chat",
                },
                Expect::TaskAttribute {
                    pointer: "/customerName",
                    value: "Grace",
                },
                Expect::WebhookRemoved,
            ],
        },
        misunderstood_twice(),
        whatsapp_card_tapped(),
    ]
}

/// The escalation rule: the bot's reply to the second misunderstanding is still posted, then
/// an agent gets the conversation with the summary of what the bot saw.
fn misunderstood_twice() -> Scene {
    Scene {
        title: "SMS: two misunderstandings in a row, then an agent with the summary",
        channel: Channel::Sms,
        name: "",
        forged: false,
        lex_down: false,
        turns: vec![
            Turn {
                say: "what's the weather like?",
                expect: "replied",
            },
            Turn {
                say: "do you sell umbrellas?",
                expect: "handed_off",
            },
        ],
        expect: vec![
            Expect::BotSaid("Sorry, I did not understand"),
            Expect::Interaction {
                channel_type: "sms",
                task_channel: "sms",
            },
            Expect::TaskAttribute {
                pointer: "/handoffReason",
                value: "escalation:fallbacks:2",
            },
            Expect::TaskAttribute {
                pointer: "/summary",
                value: "2 turns · FallbackIntent · 2 fallbacks",
            },
            Expect::WebhookRemoved,
        ],
    }
}

/// A card on WhatsApp becomes quick replies; the tap arrives as the button's title and the
/// bot gets the button's value.
fn whatsapp_card_tapped() -> Scene {
    Scene {
        title: "WhatsApp: the flower card as quick replies, answered with a tap",
        channel: Channel::Whatsapp,
        name: "",
        forged: false,
        lex_down: false,
        turns: vec![
            Turn {
                say: "I would like to order flowers",
                expect: "replied",
            },
            Turn {
                say: "Lilies",
                expect: "replied",
            },
        ],
        expect: vec![
            Expect::CardSent {
                kind: "twilio/quick-reply",
                choices: &["Roses", "Lilies", "Tulips"],
            },
            Expect::LexHeard("lilies"),
            Expect::BotSaid("What day do you want the lilies to be picked up?"),
            Expect::State("active"),
        ],
    }
}

pub async fn run(style: Style) -> Result<(), CliError> {
    let started = Instant::now();
    let mut stack = LocalStack::start(StackOptions {
        bot: BotChoice::Emulated,
        signing_token: Secret::new(format!("{:032x}", rand::random::<u128>())),
        settings: HashMap::new(),
    })
    .await?;
    let url = stack.webhook_url(WEBHOOK_BASE);
    outln!("{}", style.dim(&format!("webhook URL: {url}")));
    outln!(
        "{}",
        style.dim(&format!(
            "Lex: the OrderFlowers bot behind the AWS SDK client · Twilio: account {} behind the REST client",
            stack.twilio.account_sid()
        ))
    );

    let scenes = scenes();
    let mut deviations = 0;
    for (i, scene) in scenes.iter().enumerate() {
        heading(style, i + 1, scene.title);
        let found = play(&mut stack, scene, &url, style).await?;
        deviations += verdict(style, &found);
    }
    heading(style, scenes.len() + 1, BURST_TITLE);
    let found = play_burst(&mut stack, &url, style).await?;
    deviations += verdict(style, &found);
    heading(style, scenes.len() + 2, AFTER_AGENT_TITLE);
    let found = play_after_agent(&mut stack, &url, style).await?;
    deviations += verdict(style, &found);
    let played = scenes.len() + 2;

    outln!();
    let summary = format!(
        "demo: {played} conversations, {} as expected, {deviations} deviated ({:.1} s)",
        played - deviations,
        started.elapsed().as_secs_f64()
    );
    if deviations == 0 {
        outln!("{}", style.good(&summary));
        Ok(())
    } else {
        outln!("{}", style.bad(&summary));
        Err(CliError::Expectations(deviations))
    }
}

/// A conversation's numbered title.
fn heading(style: Style, number: usize, title: &str) {
    outln!();
    outln!("{}", style.header(&format!("{number}. {title}")));
}

/// Prints whether a conversation went as expected; 1 when it deviated, else 0.
fn verdict(style: Style, found: &[String]) -> usize {
    if found.is_empty() {
        outln!("  {}", style.good("✓ as expected"));
        return 0;
    }
    for problem in found {
        outln!("  {}", style.bad(&format!("✗ {problem}")));
    }
    1
}

/// Plays one scene and returns what deviated from its expectations.
async fn play(
    stack: &mut LocalStack,
    scene: &Scene,
    url: &str,
    style: Style,
) -> Result<Vec<String>, CliError> {
    let seeded = stack.seed(local::customer(scene.channel, scene.name));
    describe(scene, &seeded, style);
    if scene.lex_down
        && let Some(lex) = &stack.lex
    {
        lex.push_fault(Fault::InternalServer, Times::Always);
        outln!(
            "{}",
            style.dim("  (the Lex emulator now answers every request with HTTP 500)")
        );
    }
    let before = stack.service_calls();
    let bot_author = stack.bridge.behaviour().bot_author.clone();
    let mut problems = Vec::new();
    for turn in &scene.turns {
        let token = scene.forged.then_some(FORGED_TOKEN);
        out!("{}", style.customer(turn.say));
        let exchange = stack.say(&seeded, turn.say, url, token).await?;
        out!("{}", style.actions(&exchange.actions, &bot_author));
        out!("{}", style.outcome(&exchange.report));
        let got = exchange.report.outcome.to_string();
        if got != turn.expect {
            problems.push(format!(
                "after {:?}: expected {}, got {got}",
                turn.say, turn.expect
            ));
        }
    }
    if let Some(lex) = &stack.lex {
        lex.clear_faults();
    }
    let after = stack.service_calls();
    if scene.forged {
        outln!(
            "{}",
            style.dim(&format!(
                "  Lex requests during this conversation: {}, Twilio requests: {}",
                after.0 - before.0,
                after.1 - before.1
            ))
        );
    }
    for expect in &scene.expect {
        if let Err(problem) = check(stack, &seeded.conversation, expect, before, after) {
            problems.push(problem);
        }
    }
    Ok(problems)
}

/// The titles of a quick reply's buttons or a list picker's items.
fn choice_titles(content: &Value) -> Vec<&str> {
    let (list, key) = match content.get("actions") {
        Some(actions) => (actions, "title"),
        None => (&content["items"], "item"),
    };
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a.get(key).and_then(Value::as_str))
        .collect()
}

fn describe(scene: &Scene, seeded: &SeededConversation, style: Style) {
    let who = match scene.channel {
        Channel::Web => format!(
            "webchat identity {} (pre-engagement name {:?})",
            seeded.customer_author, scene.name
        ),
        Channel::Sms => format!("SMS from {}", seeded.customer_author),
        Channel::Whatsapp => format!("WhatsApp from {}", seeded.customer_author),
    };
    outln!(
        "{}",
        style.dim(&format!("  conversation {} · {who}", seeded.conversation))
    );
}

fn check(
    stack: &LocalStack,
    conversation: &Sid,
    expect: &Expect,
    before: (usize, usize),
    after: (usize, usize),
) -> Result<(), String> {
    let twilio = &stack.twilio;
    let bot_author = stack.bridge.behaviour().bot_author.as_str();
    let interaction = || {
        twilio.interactions().into_iter().find(|i| {
            i.channel
                .pointer("/properties/media_channel_sid")
                .and_then(Value::as_str)
                == Some(conversation.as_str())
        })
    };
    match expect {
        Expect::State(want) => {
            let got = twilio.conversation_state(conversation);
            if got.as_deref() == Some(*want) {
                Ok(())
            } else {
                Err(format!("conversation state: expected {want}, got {got:?}"))
            }
        }
        Expect::BotSaid(text) => {
            if twilio
                .messages(conversation)
                .iter()
                .any(|(author, body)| author == bot_author && body.contains(text))
            {
                Ok(())
            } else {
                Err(format!("the bot never said {text:?}"))
            }
        }
        Expect::Interaction {
            channel_type,
            task_channel,
        } => {
            let found = interaction().ok_or("no Interaction was created")?;
            let kind = found.channel.get("type").and_then(Value::as_str);
            let task = found
                .routing
                .pointer("/properties/task_channel_unique_name")
                .and_then(Value::as_str);
            if kind == Some(*channel_type) && task == Some(*task_channel) {
                Ok(())
            } else {
                Err(format!(
                    "Interaction: expected type {channel_type} / task channel {task_channel}, got {kind:?} / {task:?}"
                ))
            }
        }
        Expect::TaskAttribute { pointer, value } => {
            let found = interaction().ok_or("no Interaction was created")?;
            let got = found
                .routing
                .pointer(&format!("/properties/attributes{pointer}"))
                .and_then(Value::as_str)
                .map(str::to_owned);
            if got.as_deref() == Some(*value) {
                Ok(())
            } else {
                Err(format!(
                    "task attribute {pointer}: expected {value:?}, got {got:?}"
                ))
            }
        }
        Expect::WebhookRemoved => {
            let left = twilio.webhooks(conversation);
            if left.is_empty() {
                Ok(())
            } else {
                Err(format!("the bot's webhook is still attached: {left:?}"))
            }
        }
        Expect::CardSent { kind, choices } => {
            let templates = twilio.contents();
            let sent: Vec<Vec<&str>> = twilio
                .content_messages()
                .iter()
                .filter(|m| m.conversation == *conversation)
                .filter_map(|m| templates.iter().find(|t| t.sid == m.content))
                .filter_map(|t| t.types.get(*kind))
                .map(choice_titles)
                .collect();
            if sent.iter().any(|titles| titles == choices) {
                Ok(())
            } else {
                Err(format!(
                    "no {kind} card with {choices:?} was sent (sent: {sent:?})"
                ))
            }
        }
        Expect::LexHeard(text) => {
            let heard: Vec<String> = stack
                .lex
                .as_ref()
                .map(|lex| lex.calls())
                .unwrap_or_default()
                .iter()
                .filter(|c| c.session_id == conversation.as_str())
                .filter_map(|c| c.text().map(str::to_owned))
                .collect();
            if heard.iter().any(|h| h == text) {
                Ok(())
            } else {
                Err(format!("Lex never heard {text:?}: {heard:?}"))
            }
        }
        Expect::NoServiceCalls => {
            if before == after {
                Ok(())
            } else {
                Err(format!(
                    "a rejected request reached the services: {} Lex and {} Twilio request(s)",
                    after.0 - before.0,
                    after.1 - before.1
                ))
            }
        }
    }
}

const BURST_TITLE: &str = "SMS: two quick messages, and Twilio delivers one of them twice";
/// The burst, in the order the customer sent it.
const BURST: [&str; 2] = ["I would like to order tulips", "tomorrow"];

/// Two webhooks arrive together and one arrives again: the conversation's turns run one
/// after another in the order sent, and the repeat is recognised and dropped.
async fn play_burst(
    stack: &mut LocalStack,
    url: &str,
    style: Style,
) -> Result<Vec<String>, CliError> {
    let seeded = stack.seed(local::customer(Channel::Sms, ""));
    outln!(
        "{}",
        style.dim(&format!(
            "  conversation {} · SMS from {}",
            seeded.conversation, seeded.customer_author
        ))
    );
    let bot_author = stack.bridge.behaviour().bot_author.clone();
    let lex_before = stack.lex.as_ref().map_or(0, |l| l.calls().len());
    let events = BURST
        .iter()
        .map(|text| stack.webhook_for(&seeded, text, url, None))
        .collect::<Result<Vec<_>, _>>()?;
    for text in BURST {
        out!("{}", style.customer(text));
    }
    outln!(
        "{}",
        style.dim("  (both webhooks reach the bridge at the same time)")
    );
    let (reports, actions) = stack.deliver_together(events.clone()).await;
    out!("{}", style.actions(&actions, &bot_author));
    for report in &reports {
        out!("{}", style.outcome(report));
    }
    outln!(
        "{}",
        style.dim("  (Twilio delivers the first webhook again)")
    );
    let (repeat, actions) = stack.deliver_together(events[..1].to_vec()).await;
    out!("{}", style.actions(&actions, &bot_author));
    for report in &repeat {
        out!("{}", style.outcome(report));
    }

    let mut problems = Vec::new();
    let outcomes: Vec<String> = reports
        .iter()
        .chain(&repeat)
        .map(|r| r.outcome.to_string())
        .collect();
    let expected = ["replied", "replied", "ignored:duplicate"];
    if outcomes != expected {
        problems.push(format!("outcomes: expected {expected:?}, got {outcomes:?}"));
    }
    if let Some(lex) = &stack.lex {
        let asked: Vec<String> = lex.calls()[lex_before..]
            .iter()
            .filter(|c| c.session_id == seeded.conversation.as_str())
            .filter_map(|c| c.text().map(str::to_owned))
            .collect();
        if asked != BURST {
            problems.push(format!(
                "Lex should see each message once, in the order sent: got {asked:?}"
            ));
        }
    }
    let replies = stack
        .twilio
        .messages(&seeded.conversation)
        .into_iter()
        .filter(|(author, _)| *author == bot_author)
        .count();
    if replies != BURST.len() {
        problems.push(format!(
            "expected {} bot replies, got {replies}",
            BURST.len()
        ));
    }
    Ok(problems)
}

const AFTER_AGENT_TITLE: &str =
    "SMS: an agent helps, leaves, the bot takes the conversation back, then an agent again";
/// What the bot says when it takes a conversation back.
const AFTER_AGENT_MESSAGE: &str = "Welcome back! Is there anything else I can help you with?";

/// `AFTER_AGENT=bot`: an order handed to an agent; the agent joins (the bot stays silent), then
/// leaves; the bot takes the conversation back and asks whether there is anything else; the
/// customer asks for an agent again and the same Interaction is used.
async fn play_after_agent(
    stack: &mut LocalStack,
    url: &str,
    style: Style,
) -> Result<Vec<String>, CliError> {
    stack
        .take_back_after_agent(url, AFTER_AGENT_MESSAGE)
        .await?;
    outln!(
        "{}",
        style.dim("  (AFTER_AGENT=bot: the stack's Interactions webhook is registered on Flex)")
    );
    let seeded = stack
        .twilio
        .create_bot_conversation(local::customer(Channel::Sms, ""), url);
    outln!(
        "{}",
        style.dim(&format!(
            "  conversation {} · SMS from {}",
            seeded.conversation, seeded.customer_author
        ))
    );
    let bot_author = stack.bridge.behaviour().bot_author.clone();
    let mut problems = Vec::new();
    let mut outcomes = Vec::new();
    let say = |stack: &mut LocalStack, text: &'static str| {
        // The webhook that fires is the one attached now (the bot's again after a take-back).
        let mut now = seeded.clone();
        if let Some(attached) = stack.twilio.scoped_webhooks(&seeded.conversation).first() {
            now.webhook = attached.sid.clone();
        }
        (now, text)
    };
    for text in ["I would like to order roses", "can I talk to a person?"] {
        let (now, text) = say(stack, text);
        out!("{}", style.customer(text));
        let exchange = stack.say(&now, text, url, None).await?;
        out!("{}", style.actions(&exchange.actions, &bot_author));
        out!("{}", style.outcome(&exchange.report));
        outcomes.push(exchange.report.outcome.to_string());
    }
    let interaction = stack
        .twilio
        .interactions()
        .into_iter()
        .find(|i| {
            i.channel
                .pointer("/properties/media_channel_sid")
                .and_then(Value::as_str)
                == Some(seeded.conversation.as_str())
        })
        .map(|i| i.sid);
    let Some(interaction) = interaction else {
        problems.push("no Interaction was created".into());
        return Ok(problems);
    };
    outln!("{}", style.dim("  (an agent accepts the task)"));
    if stack.twilio.agent_joins(&interaction).is_none() {
        problems.push("the emulated Flex had no task for an agent".into());
    }
    for exchange in stack.flex_events().await? {
        out!("{}", style.actions(&exchange.actions, &bot_author));
        out!("{}", style.outcome(&exchange.report));
        outcomes.push(exchange.report.outcome.to_string());
    }
    // While the agent is there, the bot stays silent.
    let (now, text) = say(stack, "thanks, I'll wait");
    out!("{}", style.customer(text));
    let exchange = stack.say(&now, text, url, None).await?;
    out!("{}", style.outcome(&exchange.report));
    outcomes.push(exchange.report.outcome.to_string());
    outln!(
        "{}",
        style.dim("  (the agent leaves the conversation: Flex's Leave)")
    );
    if stack.twilio.agent_leaves(&interaction).is_none() {
        problems.push("the emulated Flex had no agent to leave".into());
    }
    for exchange in stack.flex_events().await? {
        out!("{}", style.actions(&exchange.actions, &bot_author));
        out!("{}", style.outcome(&exchange.report));
        outcomes.push(exchange.report.outcome.to_string());
    }
    for text in ["I would like to order tulips", "agent please"] {
        let (now, text) = say(stack, text);
        out!("{}", style.customer(text));
        let exchange = stack.say(&now, text, url, None).await?;
        out!("{}", style.actions(&exchange.actions, &bot_author));
        out!("{}", style.outcome(&exchange.report));
        outcomes.push(exchange.report.outcome.to_string());
    }
    let expected = [
        "replied",
        "handed_off",
        "ignored:handed_off",
        "taken_back",
        "ignored:stays_with_agent",
        "replied",
        "handed_off",
    ];
    if outcomes != expected {
        problems.push(format!("outcomes: expected {expected:?}, got {outcomes:?}"));
    }
    let said_it = stack
        .twilio
        .messages(&seeded.conversation)
        .iter()
        .any(|(author, body)| *author == bot_author && body == AFTER_AGENT_MESSAGE);
    if !said_it {
        problems.push("the bot did not say it was back".into());
    }
    let interactions = stack
        .twilio
        .interactions()
        .iter()
        .filter(|i| {
            i.channel
                .pointer("/properties/media_channel_sid")
                .and_then(Value::as_str)
                == Some(seeded.conversation.as_str())
        })
        .count();
    let invites = stack
        .twilio
        .invites()
        .iter()
        .filter(|i| i.interaction == interaction)
        .count();
    if (interactions, invites) != (1, 1) {
        problems.push(format!(
            "the second handoff should invite into the first Interaction: {interactions} \
             Interaction(s), {invites} invite(s)"
        ));
    }
    Ok(problems)
}
