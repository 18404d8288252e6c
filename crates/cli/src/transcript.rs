//! How conversations are shown: a readable transcript for people (`demo`, `chat`), optionally
//! coloured, and one-line-per-action records for programs (`serve --simulate`).

use std::io::IsTerminal;

use serde_json::Value;

use crate::ColorChoice;
use crate::local::Action;
use flexlex::outcome::{Outcome, Report};

/// Whether to colour: only for a terminal, never when `NO_COLOR` is set, unless forced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    color: bool,
}

const RESET: &str = "\x1b[0m";
const BOLD: &str = "\x1b[1m";
const DIM: &str = "\x1b[2m";
const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const BLUE: &str = "\x1b[34m";
const MAGENTA: &str = "\x1b[35m";
const CYAN: &str = "\x1b[36m";

/// Width of the speaker column, so the text column lines up.
const LABEL_WIDTH: usize = 8;

impl Style {
    pub fn for_stdout(choice: ColorChoice) -> Self {
        let color = match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::io::stdout().is_terminal()
                    && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        };
        Self { color }
    }

    pub fn plain() -> Self {
        Self { color: false }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("{code}{text}{RESET}")
        } else {
            text.to_owned()
        }
    }

    pub fn header(&self, text: &str) -> String {
        self.paint(BOLD, &format!("── {text} ──"))
    }

    pub fn dim(&self, text: &str) -> String {
        self.paint(DIM, text)
    }

    pub fn good(&self, text: &str) -> String {
        self.paint(GREEN, text)
    }

    pub fn bad(&self, text: &str) -> String {
        self.paint(RED, text)
    }

    /// `  label    │ text`, continuation lines indented under the text.
    fn speaker(&self, label: &str, colour: &str, text: &str) -> String {
        let mut out = String::new();
        for (i, line) in text.lines().enumerate() {
            let shown = if i == 0 { label } else { "" };
            let bar = self.paint(DIM, "│");
            out.push_str(&format!(
                "  {} {bar} {line}\n",
                self.paint(colour, &format!("{shown:<LABEL_WIDTH$}"))
            ));
        }
        if out.is_empty() {
            out.push_str(&format!(
                "  {} │\n",
                self.paint(colour, &format!("{label:<LABEL_WIDTH$}"))
            ));
        }
        out
    }

    pub fn customer(&self, text: &str) -> String {
        self.speaker("customer", CYAN, text)
    }

    fn twilio(&self, text: &str) -> String {
        self.speaker("twilio", MAGENTA, text)
    }

    /// What the bridge did, as the Twilio emulator saw it.
    pub fn actions(&self, actions: &[Action], bot_author: &str) -> String {
        let mut out = String::new();
        for action in actions {
            match action {
                Action::Message { author, body, .. } if author == bot_author => {
                    out.push_str(&self.speaker("bot", GREEN, body));
                }
                Action::Message { author, body, .. } => {
                    out.push_str(&self.speaker(author, GREEN, body));
                }
                Action::Card {
                    author,
                    kind,
                    body,
                    choices,
                    ..
                } => {
                    let label = if author == bot_author { "bot" } else { author };
                    let buttons: Vec<String> = choices.iter().map(|c| format!("[{c}]")).collect();
                    out.push_str(&self.speaker(
                        label,
                        GREEN,
                        &format!("{body}\n{}", buttons.join(" ")),
                    ));
                    out.push_str(&self.json_line("sent as", &Value::String(kind.clone())));
                }
                Action::TemplateCreated { kind } => {
                    out.push_str(&self.twilio(&format!("Content API template created ({kind})")));
                }
                Action::Timers {
                    conversation,
                    inactive,
                    closed,
                } => {
                    out.push_str(&self.twilio(&format!(
                        "conversation {conversation} timers: inactive {}, closed {}",
                        inactive.as_deref().unwrap_or("unchanged"),
                        closed.as_deref().unwrap_or("unchanged")
                    )));
                }
                Action::Closed { conversation } => {
                    out.push_str(&self.twilio(&format!("conversation {conversation} closed")));
                }
                Action::Interaction {
                    channel, routing, ..
                } => {
                    out.push_str(&self.twilio("Flex Interaction created"));
                    out.push_str(&self.json_line("Channel", channel));
                    out.push_str(&self.json_block("Routing", routing));
                }
                Action::WebhookRemoved { webhook, .. } => {
                    out.push_str(&self.twilio(&format!("bot webhook {webhook} removed")));
                }
                Action::Refused {
                    method,
                    path,
                    status,
                } => {
                    out.push_str(
                        &self.twilio(&self.bad(&format!("refused {method} {path}: HTTP {status}"))),
                    );
                }
            }
        }
        out
    }

    /// A titled JSON value on one line, indented under the text column.
    fn json_line(&self, title: &str, value: &Value) -> String {
        let indent = " ".repeat(LABEL_WIDTH + 5);
        format!(
            "{indent}{} {}\n",
            self.paint(BLUE, &format!("{title}:")),
            self.dim(&value.to_string())
        )
    }

    /// A titled JSON value, pretty-printed and indented under the text column.
    fn json_block(&self, title: &str, value: &Value) -> String {
        let pretty = serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string());
        let indent = " ".repeat(LABEL_WIDTH + 5);
        let mut out = format!("{indent}{}\n", self.paint(BLUE, &format!("{title}:")));
        for line in pretty.lines() {
            out.push_str(&format!("{indent}  {}\n", self.dim(line)));
        }
        out
    }

    /// `  ⇒ closed (intent:OrderFlowers)`.
    pub fn outcome(&self, report: &Report) -> String {
        let mut text = match report.outcome.detail() {
            Some(detail) => format!("{} ({detail})", report.outcome),
            None => match report.outcome {
                Outcome::Replied => "replied, waiting for the customer".to_owned(),
                _ => report.outcome.to_string(),
            },
        };
        if report.trace.choice_mapped {
            text.push_str(
                "; the reply was sent to the bot as the value of the card choice it picks",
            );
        }
        let colour = match report.outcome {
            Outcome::Enqueued | Outcome::Replied | Outcome::BotAttached | Outcome::Ignored(_) => {
                DIM
            }
            Outcome::Closed(_) | Outcome::HandedOff(_) | Outcome::TakenBack => YELLOW,
            Outcome::Rejected(_) | Outcome::Failed(_) => RED,
        };
        format!(
            "  {} {}\n",
            self.paint(colour, "⇒"),
            self.paint(colour, &text)
        )
    }
}

/// One line per action, for programs reading `serve --simulate`'s stdout. Message text stays
/// on one line (newlines shown as ` / `).
pub fn record_lines(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .map(|action| match action {
            Action::Message {
                conversation,
                author,
                body,
            } => format!(
                "  message {conversation} {author}: {}",
                body.lines().collect::<Vec<_>>().join(" / ")
            ),
            Action::Card {
                conversation,
                author,
                content,
                kind,
                body,
                choices,
            } => format!(
                "  card {conversation} {author}: {content} {kind}: {} / {}",
                body.lines().collect::<Vec<_>>().join(" / "),
                choices.join(" | ")
            ),
            Action::TemplateCreated { kind } => format!("  template-created {kind}"),
            Action::Timers {
                conversation,
                inactive,
                closed,
            } => format!(
                "  timers {conversation} inactive={} closed={}",
                inactive.as_deref().unwrap_or("-"),
                closed.as_deref().unwrap_or("-")
            ),
            Action::Closed { conversation } => format!("  closed {conversation}"),
            Action::Interaction {
                conversation,
                channel,
                routing,
            } => {
                let kind = channel.get("type").and_then(Value::as_str).unwrap_or("?");
                let task_channel = routing
                    .pointer("/properties/task_channel_unique_name")
                    .and_then(Value::as_str)
                    .unwrap_or("?");
                let attributes = routing
                    .pointer("/properties/attributes")
                    .cloned()
                    .unwrap_or(Value::Null);
                format!(
                    "  interaction {conversation} type={kind} task_channel={task_channel} attributes={attributes}"
                )
            }
            Action::WebhookRemoved {
                conversation,
                webhook,
            } => format!("  webhook-removed {conversation} {webhook}"),
            Action::Refused {
                method,
                path,
                status,
            } => format!("  refused {method} {path} {status}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn multi_line_bot_text_is_indented_under_the_text_column() {
        let style = Style::plain();
        let shown = style.actions(
            &[Action::Message {
                conversation: "CH1".into(),
                author: "Lex".into(),
                body: "Pick one\n1. Roses\n2. Lilies".into(),
            }],
            "Lex",
        );
        assert_eq!(
            shown,
            "  bot      │ Pick one\n           │ 1. Roses\n           │ 2. Lilies\n"
        );
        assert!(!shown.contains('\x1b'));
    }

    #[test]
    fn colour_only_when_asked() {
        let coloured = Style { color: true }.customer("hi");
        assert!(coloured.contains("\x1b[36m"));
        assert!(!Style::plain().customer("hi").contains('\x1b'));
    }

    #[test]
    fn record_lines_keep_one_action_per_line() {
        let lines = record_lines(&[
            Action::Message {
                conversation: "CH1".into(),
                author: "Lex".into(),
                body: "a\nb".into(),
            },
            Action::Interaction {
                conversation: "CH1".into(),
                channel: json!({"type": "sms"}),
                routing: json!({"properties": {"task_channel_unique_name": "sms", "attributes": {"from": "+1"}}}),
            },
            Action::WebhookRemoved {
                conversation: "CH1".into(),
                webhook: "WH1".into(),
            },
            Action::TemplateCreated {
                kind: "twilio/quick-reply".into(),
            },
            Action::Card {
                conversation: "CH1".into(),
                author: "Lex".into(),
                content: "HX1".into(),
                kind: "twilio/quick-reply".into(),
                body: "Pick\nOne".into(),
                choices: vec!["Roses".into(), "Lilies".into()],
            },
            Action::Timers {
                conversation: "CH1".into(),
                inactive: Some("PT15M".into()),
                closed: None,
            },
        ]);
        assert_eq!(
            lines,
            vec![
                "  message CH1 Lex: a / b".to_owned(),
                r#"  interaction CH1 type=sms task_channel=sms attributes={"from":"+1"}"#
                    .to_owned(),
                "  webhook-removed CH1 WH1".to_owned(),
                "  template-created twilio/quick-reply".to_owned(),
                "  card CH1 Lex: HX1 twilio/quick-reply: Pick / One / Roses | Lilies".to_owned(),
                "  timers CH1 inactive=PT15M closed=-".to_owned(),
            ]
        );
    }
}
