//! The scripted OrderFlowers bot: the AWS sample bot, plus Agent, HelpIntent and FallbackIntent.
//!
//! A small state machine over the session's memory:
//!
//! ```text
//! idle ──"order roses"──► eliciting FlowerType / PickupDate / PickupTime ──► confirming
//!   ▲                          │ (anything unparsed re-asks the same slot)        │ yes → ReadyForFulfillment, Close
//!   └──────────────────────────┴──────────────── "agent" / "help" ◄──────────────┘ no  → Failed, Close
//! ```
//!
//! As in Lex, the OrderFlowers intent always lists its three slots, `null` until filled.
//!
//! An agent request switches to the `Agent` intent at any point (ReadyForFulfillment, Close).
//! Lex returns only the current intent in `sessionState`; the abandoned OrderFlowers intent,
//! with the slots gathered so far, is listed among the `interpretations`, as Lex lists the other
//! candidate intents, so a handoff can still report them. "help" mid-order abandons the order.
//!
//! Relative dates ("today", "tomorrow") are computed from today's UTC date on the system clock,
//! or from a fixed date given to [`OrderFlowers::with_today`] so tests are repeatable.

use std::time::{SystemTime, UNIX_EPOCH};

use super::ScriptedBot;
use super::Session;
use super::wire::{
    Button, ConfirmationState, DialogAction, DialogActionType, ImageResponseCard, Intent,
    IntentState, Interpretation, Message, RecognizeTextResponse, SessionState, Slot,
};

pub const ORDER_FLOWERS: &str = "OrderFlowers";
pub const AGENT: &str = "Agent";
pub const HELP: &str = "HelpIntent";
pub const FALLBACK: &str = "FallbackIntent";

pub const AGENT_REPLY: &str = "Okay - lets get you to an agent";
pub const HELP_REPLY: &str = "I can help you order flowers for pickup (roses, lilies or tulips), or get you to an agent. What would you like to do?";
pub const FALLBACK_REPLY: &str =
    "Sorry, I did not understand. You can order flowers or ask for an agent.";
pub const CANCEL_REPLY: &str = "Okay, I will not place your order.";

const FLOWERS: [&str; 3] = ["roses", "lilies", "tulips"];

/// The OrderFlowers sample bot.
#[derive(Debug, Clone, Default)]
pub struct OrderFlowers {
    today: Option<CivilDate>,
}

impl OrderFlowers {
    /// Relative dates are counted from today's UTC date.
    pub fn new() -> Self {
        Self::default()
    }

    /// Relative dates are counted from `today`, whatever the clock says.
    pub fn with_today(today: CivilDate) -> Self {
        Self { today: Some(today) }
    }

    fn today(&self) -> CivilDate {
        self.today.unwrap_or_else(|| {
            let secs = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            CivilDate::from_days(i64::try_from(secs / 86_400).unwrap_or(0))
        })
    }
}

impl ScriptedBot for OrderFlowers {
    fn turn(&self, text: &str, session: &mut Session) -> RecognizeTextResponse {
        let mut dialog: Dialog = session.take_memory();
        let reply = self.respond(&mut dialog, &Utterance::new(text));
        session.put_memory(dialog);
        reply
    }
}

/// What the bot remembers between turns of one session.
#[derive(Debug, Default)]
struct Dialog {
    order: Option<Order>,
}

#[derive(Debug, Clone, Default)]
struct Order {
    flower: Option<Slot>,
    date: Option<Slot>,
    time: Option<Slot>,
    awaiting: Awaiting,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Awaiting {
    #[default]
    FlowerType,
    PickupDate,
    PickupTime,
    Confirmation,
}

impl Order {
    fn slot_mut(&mut self, which: Awaiting) -> Option<&mut Option<Slot>> {
        match which {
            Awaiting::FlowerType => Some(&mut self.flower),
            Awaiting::PickupDate => Some(&mut self.date),
            Awaiting::PickupTime => Some(&mut self.time),
            Awaiting::Confirmation => None,
        }
    }

    fn first_missing(&self) -> Awaiting {
        if self.flower.is_none() {
            Awaiting::FlowerType
        } else if self.date.is_none() {
            Awaiting::PickupDate
        } else if self.time.is_none() {
            Awaiting::PickupTime
        } else {
            Awaiting::Confirmation
        }
    }

    fn value(slot: &Option<Slot>) -> &str {
        slot.as_ref()
            .map_or("", |s| s.value.interpreted_value.as_str())
    }

    fn intent(&self, state: IntentState, confirmation: ConfirmationState) -> Intent {
        let mut intent = Intent::new(ORDER_FLOWERS, state);
        intent.confirmation_state = confirmation;
        intent
            .slots
            .insert("FlowerType".into(), self.flower.clone());
        intent.slots.insert("PickupDate".into(), self.date.clone());
        intent.slots.insert("PickupTime".into(), self.time.clone());
        intent
    }
}

impl OrderFlowers {
    fn respond(&self, dialog: &mut Dialog, said: &Utterance) -> RecognizeTextResponse {
        if said.asks_for_agent() {
            return agent(dialog.order.take());
        }
        if let Some(order) = dialog.order.take() {
            if said.asks_for_help() {
                return help();
            }
            return self.continue_order(dialog, order, said);
        }
        if said.wants_to_order() {
            let mut order = Order::default();
            self.fill_slots(&mut order, said, None);
            return self.next_step(dialog, order, false);
        }
        if said.asks_for_help() {
            return help();
        }
        fallback()
    }

    fn continue_order(
        &self,
        dialog: &mut Dialog,
        order: Order,
        said: &Utterance,
    ) -> RecognizeTextResponse {
        match order.awaiting {
            Awaiting::Confirmation => match said.yes_or_no() {
                Some(true) => confirmed(&order),
                Some(false) => declined(&order),
                None => self.next_step(dialog, order, true),
            },
            awaited => {
                let mut order = order;
                let got_it = self.fill_slots(&mut order, said, Some(awaited));
                self.next_step(dialog, order, !got_it)
            }
        }
    }

    /// Fills every slot the utterance mentions; returns whether the awaited one was among them.
    fn fill_slots(&self, order: &mut Order, said: &Utterance, awaited: Option<Awaiting>) -> bool {
        if let Some((original, flower)) = said.flower() {
            order.flower = Some(Slot::resolved(&original, flower));
        }
        if let Some((original, date)) = said.date(self.today()) {
            order.date = Some(Slot::resolved(&original, &date));
        }
        if let Some((original, time)) = said.time(awaited == Some(Awaiting::PickupTime)) {
            order.time = Some(Slot::resolved(&original, &time));
        }
        awaited.is_some_and(|a| order.slot_mut(a).is_some_and(|s| s.is_some()))
    }

    fn next_step(
        &self,
        dialog: &mut Dialog,
        mut order: Order,
        again: bool,
    ) -> RecognizeTextResponse {
        order.awaiting = order.first_missing();
        let flower = Order::value(&order.flower).to_owned();
        let sorry = if again {
            "Sorry, I didn't get that. "
        } else {
            ""
        };
        let (message, action) = match order.awaiting {
            Awaiting::FlowerType => (
                Message::card(ImageResponseCard {
                    title: format!("{sorry}What type of flowers would you like to order?"),
                    subtitle: Some("Choose one".into()),
                    image_url: None,
                    buttons: FLOWERS
                        .iter()
                        .map(|f| Button {
                            text: capitalise(f),
                            value: (*f).into(),
                        })
                        .collect(),
                }),
                DialogAction::elicit_slot("FlowerType"),
            ),
            Awaiting::PickupDate => (
                Message::plain(format!(
                    "{sorry}What day do you want the {flower} to be picked up?"
                )),
                DialogAction::elicit_slot("PickupDate"),
            ),
            Awaiting::PickupTime => (
                Message::plain(format!(
                    "{sorry}At what time do you want the {flower} to be picked up?"
                )),
                DialogAction::elicit_slot("PickupTime"),
            ),
            Awaiting::Confirmation => (
                Message::plain(format!(
                    "{sorry}Okay, your {flower} will be ready for pickup by {} on {}. Does this sound okay?",
                    Order::value(&order.time),
                    Order::value(&order.date)
                )),
                DialogAction::of(DialogActionType::ConfirmIntent),
            ),
        };
        let intent = order.intent(IntentState::InProgress, ConfirmationState::None);
        dialog.order = Some(order);
        response(vec![message], action, intent, None)
    }
}

fn confirmed(order: &Order) -> RecognizeTextResponse {
    let text = format!(
        "Thanks, your order for {} has been placed and will be ready for pickup by {} on {}.",
        Order::value(&order.flower),
        Order::value(&order.time),
        Order::value(&order.date)
    );
    let intent = order.intent(
        IntentState::ReadyForFulfillment,
        ConfirmationState::Confirmed,
    );
    response(
        vec![Message::plain(text)],
        DialogAction::of(DialogActionType::Close),
        intent,
        None,
    )
}

fn declined(order: &Order) -> RecognizeTextResponse {
    let intent = order.intent(IntentState::Failed, ConfirmationState::Denied);
    response(
        vec![Message::plain(CANCEL_REPLY)],
        DialogAction::of(DialogActionType::Close),
        intent,
        None,
    )
}

fn agent(abandoned: Option<Order>) -> RecognizeTextResponse {
    let intent = Intent::new(AGENT, IntentState::ReadyForFulfillment);
    let runner_up = abandoned.map(|o| o.intent(IntentState::InProgress, ConfirmationState::None));
    response(
        vec![Message::plain(AGENT_REPLY)],
        DialogAction::of(DialogActionType::Close),
        intent,
        runner_up,
    )
}

fn help() -> RecognizeTextResponse {
    let intent = Intent::new(HELP, IntentState::Fulfilled);
    response(
        vec![Message::plain(HELP_REPLY)],
        DialogAction::of(DialogActionType::ElicitIntent),
        intent,
        None,
    )
}

fn fallback() -> RecognizeTextResponse {
    let intent = Intent::new(FALLBACK, IntentState::ReadyForFulfillment);
    response(
        vec![Message::plain(FALLBACK_REPLY)],
        DialogAction::of(DialogActionType::Close),
        intent,
        None,
    )
}

/// The matched intent comes first (scored), then any abandoned intent, then FallbackIntent
/// (Lex always lists it, unscored).
fn response(
    messages: Vec<Message>,
    dialog_action: DialogAction,
    intent: Intent,
    runner_up: Option<Intent>,
) -> RecognizeTextResponse {
    let mut interpretations = Vec::new();
    if intent.name == FALLBACK {
        interpretations.push(Interpretation::unscored(intent.clone()));
    } else {
        interpretations.push(Interpretation::scored(intent.clone(), 0.95));
        if let Some(other) = runner_up {
            interpretations.push(Interpretation::scored(other, 0.41));
        }
        interpretations.push(Interpretation::unscored(Intent::new(
            FALLBACK,
            IntentState::InProgress,
        )));
    }
    RecognizeTextResponse {
        messages,
        session_state: SessionState {
            dialog_action,
            intent: Some(intent),
            ..Default::default()
        },
        interpretations,
        ..Default::default()
    }
}

fn capitalise(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// An utterance split into lower-case words, punctuation trimmed.
struct Utterance {
    words: Vec<String>,
}

impl Utterance {
    fn new(text: &str) -> Self {
        let lowered = text
            .to_lowercase()
            .replace("a.m.", "am")
            .replace("p.m.", "pm");
        let words = lowered
            .split_whitespace()
            .map(|w| {
                w.trim_matches(|c: char| !c.is_alphanumeric() && c != ':' && c != '-')
                    .to_owned()
            })
            .filter(|w| !w.is_empty())
            .collect();
        Self { words }
    }

    fn has(&self, any: &[&str]) -> bool {
        self.words.iter().any(|w| any.contains(&w.as_str()))
    }

    fn asks_for_agent(&self) -> bool {
        self.has(&["agent", "human", "person", "representative", "operator"])
    }

    fn asks_for_help(&self) -> bool {
        self.has(&["help"])
    }

    fn wants_to_order(&self) -> bool {
        self.has(&["order", "flower", "flowers", "bouquet", "buy"]) || self.flower().is_some()
    }

    fn yes_or_no(&self) -> Option<bool> {
        if self.has(&["no", "nope", "nah", "cancel", "don't", "dont", "not"]) {
            Some(false)
        } else if self.has(&[
            "yes", "yeah", "yep", "sure", "ok", "okay", "correct", "confirm", "y", "good",
        ]) {
            Some(true)
        } else {
            None
        }
    }

    /// The word as written and the canonical flower type.
    fn flower(&self) -> Option<(String, &'static str)> {
        self.words.iter().find_map(|w| {
            let canonical = match w.as_str() {
                "rose" | "roses" => "roses",
                "lily" | "lilies" => "lilies",
                "tulip" | "tulips" => "tulips",
                _ => return None,
            };
            Some((w.clone(), canonical))
        })
    }

    /// The date as written and as an ISO date.
    fn date(&self, today: CivilDate) -> Option<(String, String)> {
        let joined = self.words.join(" ");
        if joined.contains("day after tomorrow") {
            return Some(("day after tomorrow".into(), today.plus_days(2).to_string()));
        }
        self.words.iter().find_map(|w| {
            let date = match w.as_str() {
                "today" => today,
                "tomorrow" => today.plus_days(1),
                other => CivilDate::parse_iso(other)?,
            };
            Some((w.clone(), date.to_string()))
        })
    }

    /// The time as written and as `HH:MM`. A bare hour ("10") counts only when a time was asked.
    fn time(&self, bare_hour_ok: bool) -> Option<(String, String)> {
        for (i, word) in self.words.iter().enumerate() {
            let next = self.words.get(i + 1).map(String::as_str);
            let (clock, meridiem, original) = match word.as_str() {
                "noon" | "midday" => return Some((word.clone(), "12:00".into())),
                "midnight" => return Some((word.clone(), "00:00".into())),
                w if w.ends_with("am") || w.ends_with("pm") => {
                    let (clock, m) = w.split_at(w.len() - 2);
                    (clock, Some(m), word.clone())
                }
                w if matches!(next, Some("am" | "pm")) => {
                    (w, next, format!("{w} {}", next.unwrap_or("")))
                }
                w => (w, None, word.clone()),
            };
            if let Some(time) = parse_clock(clock, meridiem, bare_hour_ok) {
                return Some((original, time));
            }
        }
        None
    }
}

/// `H`, `HH`, `H:MM` with an optional am/pm; a bare hour without am/pm only when `bare_ok`.
fn parse_clock(clock: &str, meridiem: Option<&str>, bare_ok: bool) -> Option<String> {
    let (hour, minute) = match clock.split_once(':') {
        Some((h, m)) if m.len() == 2 => (h, m),
        Some(_) => return None,
        None if meridiem.is_some() || bare_ok => (clock, "00"),
        None => return None,
    };
    if hour.is_empty()
        || hour.len() > 2
        || !hour
            .bytes()
            .chain(minute.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let mut h: u32 = hour.parse().ok()?;
    let m: u32 = minute.parse().ok()?;
    if m > 59 {
        return None;
    }
    match meridiem {
        Some(_) if !(1..=12).contains(&h) => return None,
        Some("pm") if h != 12 => h += 12,
        Some("am") if h == 12 => h = 0,
        _ => {}
    }
    (h < 24).then(|| format!("{h:02}:{m:02}"))
}

/// A proleptic Gregorian calendar date, enough for "tomorrow" without a date crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CivilDate {
    pub year: i32,
    pub month: u32,
    pub day: u32,
}

impl CivilDate {
    /// `None` unless the date exists.
    pub fn new(year: i32, month: u32, day: u32) -> Option<Self> {
        let ok = (1..=12).contains(&month) && day >= 1 && day <= days_in_month(year, month);
        ok.then_some(Self { year, month, day })
    }

    /// `YYYY-MM-DD`.
    pub fn parse_iso(s: &str) -> Option<Self> {
        let mut parts = s.splitn(3, '-');
        let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
        if y.len() != 4 || m.len() != 2 || d.len() != 2 {
            return None;
        }
        Self::new(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)
    }

    /// Days since 1970-01-01 to a date (Howard Hinnant's `civil_from_days`).
    pub fn from_days(days: i64) -> Self {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
        Self { year, month, day }
    }

    /// The inverse of [`CivilDate::from_days`].
    pub fn to_days(self) -> i64 {
        let y = i64::from(self.year) - i64::from(self.month <= 2);
        let era = y.div_euclid(400);
        let yoe = y.rem_euclid(400);
        let m = i64::from(self.month);
        let mp = if m > 2 { m - 3 } else { m + 9 };
        let doy = (153 * mp + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    pub fn plus_days(self, n: i64) -> Self {
        Self::from_days(self.to_days() + n)
    }
}

impl std::fmt::Display for CivilDate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

fn days_in_month(year: i32, month: u32) -> u32 {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bot() -> OrderFlowers {
        OrderFlowers::with_today(CivilDate::new(2026, 2, 28).unwrap())
    }

    fn say(bot: &OrderFlowers, session: &mut Session, text: &str) -> RecognizeTextResponse {
        bot.turn(text, session)
    }

    fn slot(r: &RecognizeTextResponse, name: &str) -> Option<String> {
        let intent = r.session_state.intent.as_ref()?;
        intent
            .slots
            .get(name)?
            .as_ref()
            .map(|s| s.value.interpreted_value.clone())
    }

    #[test]
    fn full_order_walks_the_slots_then_confirms() {
        let (bot, mut s) = (bot(), Session::default());
        let r = say(&bot, &mut s, "I would like to order some flowers");
        assert_eq!(
            r.session_state.dialog_action,
            DialogAction::elicit_slot("FlowerType")
        );
        let card = r.messages[0].image_response_card.as_ref().unwrap();
        assert_eq!(
            card.buttons
                .iter()
                .map(|b| b.value.as_str())
                .collect::<Vec<_>>(),
            FLOWERS
        );
        let r = say(&bot, &mut s, "tulips");
        assert_eq!(
            r.session_state.dialog_action,
            DialogAction::elicit_slot("PickupDate")
        );
        assert_eq!(slot(&r, "FlowerType").as_deref(), Some("tulips"));
        let r = say(&bot, &mut s, "tomorrow");
        assert_eq!(slot(&r, "PickupDate").as_deref(), Some("2026-03-01"));
        let r = say(&bot, &mut s, "10");
        assert_eq!(slot(&r, "PickupTime").as_deref(), Some("10:00"));
        assert_eq!(
            r.session_state.dialog_action.kind,
            DialogActionType::ConfirmIntent
        );
        assert_eq!(
            r.messages[0].content.as_deref(),
            Some(
                "Okay, your tulips will be ready for pickup by 10:00 on 2026-03-01. Does this sound okay?"
            )
        );
        let r = say(&bot, &mut s, "yes please");
        let intent = r.session_state.intent.unwrap();
        assert_eq!(
            (intent.state, intent.confirmation_state),
            (
                IntentState::ReadyForFulfillment,
                ConfirmationState::Confirmed
            )
        );
        assert_eq!(r.session_state.dialog_action.kind, DialogActionType::Close);
        // The order is over: the next utterance starts afresh.
        assert_eq!(
            say(&bot, &mut s, "hmm").session_state.intent.unwrap().name,
            FALLBACK
        );
    }

    #[test]
    fn one_utterance_can_fill_every_slot_and_no_cancels() {
        let (bot, mut s) = (bot(), Session::default());
        let r = say(
            &bot,
            &mut s,
            "I want to order roses on 2026-12-01 at 3:30 p.m.",
        );
        assert_eq!(slot(&r, "PickupTime").as_deref(), Some("15:30"));
        assert_eq!(slot(&r, "PickupDate").as_deref(), Some("2026-12-01"));
        assert_eq!(
            r.session_state.dialog_action.kind,
            DialogActionType::ConfirmIntent
        );
        let r = say(&bot, &mut s, "no");
        assert_eq!(r.messages[0].content.as_deref(), Some(CANCEL_REPLY));
        assert_eq!(r.session_state.intent.unwrap().state, IntentState::Failed);
    }

    #[test]
    fn unparsed_answers_re_ask_the_same_slot() {
        let (bot, mut s) = (bot(), Session::default());
        say(&bot, &mut s, "lilies please");
        let r = say(&bot, &mut s, "whenever");
        assert_eq!(
            r.session_state.dialog_action,
            DialogAction::elicit_slot("PickupDate")
        );
        assert!(
            r.messages[0]
                .content
                .as_deref()
                .unwrap()
                .starts_with("Sorry")
        );
        let r = say(&bot, &mut s, "2026-02-30");
        assert_eq!(
            r.session_state.dialog_action,
            DialogAction::elicit_slot("PickupDate")
        );
    }

    #[test]
    fn agent_mid_order_switches_intent_and_keeps_gathered_slots_in_interpretations() {
        let (bot, mut s) = (bot(), Session::default());
        say(&bot, &mut s, "order roses");
        let r = say(&bot, &mut s, "can I talk to a person");
        let intent = r.session_state.intent.as_ref().unwrap();
        assert_eq!(
            (intent.name.as_str(), intent.state),
            (AGENT, IntentState::ReadyForFulfillment)
        );
        assert_eq!(r.messages[0].content.as_deref(), Some(AGENT_REPLY));
        let order = r
            .interpretations
            .iter()
            .find(|i| i.intent.name == ORDER_FLOWERS)
            .unwrap();
        let flower = order.intent.slots["FlowerType"].as_ref().unwrap();
        assert_eq!(flower.value.interpreted_value, "roses");
        assert_eq!(order.intent.slots["PickupDate"], None);
    }

    #[test]
    fn unfilled_slots_are_serialised_as_null_like_lex_does() {
        let (bot, mut s) = (bot(), Session::default());
        let r = serde_json::to_value(say(&bot, &mut s, "order roses")).unwrap();
        let expected = serde_json::json!({
            "FlowerType": {"value": {"originalValue": "roses", "interpretedValue": "roses", "resolvedValues": ["roses"]}},
            "PickupDate": null,
            "PickupTime": null
        });
        assert_eq!(r["sessionState"]["intent"]["slots"], expected);
        assert_eq!(r["interpretations"][0]["intent"]["slots"], expected);
        let r = serde_json::to_value(say(&bot, &mut s, "agent")).unwrap();
        assert_eq!(r["sessionState"]["intent"]["slots"], serde_json::json!({}));
        assert_eq!(r["interpretations"][1]["intent"]["name"], ORDER_FLOWERS);
        assert_eq!(r["interpretations"][1]["intent"]["slots"], expected);
    }

    #[test]
    fn help_and_fallback() {
        let (bot, mut s) = (bot(), Session::default());
        let r = say(&bot, &mut s, "help");
        assert_eq!(
            r.session_state.dialog_action.kind,
            DialogActionType::ElicitIntent
        );
        assert_eq!(r.session_state.intent.unwrap().name, HELP);
        let r = say(&bot, &mut s, "what is the weather");
        assert_eq!(r.messages[0].content.as_deref(), Some(FALLBACK_REPLY));
        assert!(r.interpretations[0].nlu_confidence.is_none());
    }

    #[test]
    fn clock_parsing() {
        let t = |s: &str, bare| Utterance::new(s).time(bare).map(|(_, t)| t);
        assert_eq!(t("10am", false).as_deref(), Some("10:00"));
        assert_eq!(t("at 10 am", false).as_deref(), Some("10:00"));
        assert_eq!(t("10:00", false).as_deref(), Some("10:00"));
        assert_eq!(t("12am", false).as_deref(), Some("00:00"));
        assert_eq!(t("12pm", false).as_deref(), Some("12:00"));
        assert_eq!(t("noon", false).as_deref(), Some("12:00"));
        assert_eq!(t("10", false), None);
        assert_eq!(t("10", true).as_deref(), Some("10:00"));
        assert_eq!(t("13pm", false), None);
        assert_eq!(t("25:00", false), None);
        assert_eq!(t("10:7", false), None);
    }

    #[test]
    fn civil_dates_round_trip_and_roll_over() {
        assert_eq!(CivilDate::from_days(0).to_string(), "1970-01-01");
        let d = CivilDate::new(2024, 2, 28).unwrap();
        assert_eq!(d.plus_days(1).to_string(), "2024-02-29");
        assert_eq!(d.plus_days(2).to_string(), "2024-03-01");
        assert_eq!(
            CivilDate::new(2026, 12, 31)
                .unwrap()
                .plus_days(1)
                .to_string(),
            "2027-01-01"
        );
        for days in [-800_000, -1, 0, 59, 20_000, 2_000_000] {
            assert_eq!(CivilDate::from_days(days).to_days(), days);
        }
        assert!(CivilDate::parse_iso("2025-02-29").is_none());
        assert!(CivilDate::parse_iso("2024-02-29").is_some());
        assert!(CivilDate::parse_iso("24-02-29").is_none());
    }
}
