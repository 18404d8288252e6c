//! Which of a conversation's messages are accounted for, in Twilio's order, in a size that does
//! not depend on how long the conversation is.
//!
//! Twilio gives every message of a conversation its `Index`, in the order it accepted them.
//! The ledger keeps a high-water mark (every message up to it is accounted for: the customer's
//! handled, the bot's own posts, other authors' seen), the few indices above it already
//! accounted for (the bot's posts that landed after a customer message not seen yet), and a
//! short window of the latest keys handled (redeliveries of a message without an Index, the
//! Studio handover's keys). A message at or below the mark is recognised however far behind
//! the window it is.

use std::collections::BTreeSet;
use std::ops::RangeInclusive;

use serde::{Deserialize, Serialize};

use crate::domain::ids::MessageSid;

/// How many of the latest keys handled are kept: more than a conversation's redeliveries and
/// handover keys in flight at once, few enough to keep the record small.
pub const RECENT_KEYS: usize = 16;

/// How many indices above the mark are kept. The bot's posts beyond a gap are few (one turn's
/// replies); when more pile up, the highest are forgotten and a catch-up finds them instead.
pub const AHEAD_INDICES: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Ledger {
    /// Every message with an Index up to and including this one is accounted for; `None`
    /// before the first.
    pub accounted: Option<u64>,
    /// Indices above `accounted` accounted for already.
    pub ahead: BTreeSet<u64>,
    /// The latest keys handled, newest first.
    pub recent: Vec<MessageSid>,
}

impl Ledger {
    /// Whether the job keyed `key` (with the message's `index`, when it has one) is done.
    pub fn handled(&self, key: &MessageSid, index: Option<u64>) -> bool {
        self.recent.contains(key) || index.is_some_and(|i| self.covers(i))
    }

    /// Whether the message at `index` is accounted for.
    pub fn covers(&self, index: u64) -> bool {
        self.accounted.is_some_and(|mark| index <= mark) || self.ahead.contains(&index)
    }

    /// The lowest Index not accounted for.
    pub fn next(&self) -> u64 {
        self.accounted.map_or(0, |mark| mark + 1)
    }

    /// The indices before `index` not accounted for, lowest to highest, when there are some:
    /// the gap a catch-up fills before the message at `index` is answered.
    pub fn gap_before(&self, index: u64) -> Option<RangeInclusive<u64>> {
        let from = self.next();
        if index <= from {
            return None;
        }
        let to = index - 1;
        // A gap made only of indices accounted for already is no gap.
        let missing = (to - from + 1) as usize > self.ahead.range(from..=to).count();
        missing.then_some(from..=to)
    }

    /// Accounts for the message at `index`.
    pub fn account(&mut self, index: u64) {
        if self.covers(index) {
            return;
        }
        if index == self.next() {
            self.accounted = Some(index);
            self.settle();
        } else {
            self.ahead.insert(index);
            while self.ahead.len() > AHEAD_INDICES {
                self.ahead.pop_last();
            }
        }
    }

    /// Accounts for every message up to and including `index`.
    pub fn account_through(&mut self, index: u64) {
        if self.accounted.is_some_and(|mark| mark >= index) {
            return;
        }
        self.accounted = Some(index);
        self.ahead.retain(|i| *i > index);
        self.settle();
    }

    /// Remembers `key` as handled.
    pub fn remember(&mut self, key: &MessageSid) {
        if !self.recent.contains(key) {
            self.recent.insert(0, key.clone());
            self.recent.truncate(RECENT_KEYS);
        }
    }

    /// Moves the mark over the indices above it that are accounted for.
    fn settle(&mut self) {
        while self.ahead.remove(&self.next()) {
            self.accounted = Some(self.next());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u32) -> MessageSid {
        MessageSid::parse(&format!("IM{n:032x}")).unwrap()
    }

    #[test]
    fn in_order_the_mark_moves_and_nothing_is_kept_above_it() {
        let mut ledger = Ledger::default();
        assert_eq!(ledger.gap_before(0), None);
        for index in 0..5 {
            assert_eq!(ledger.gap_before(index), None, "{index}");
            ledger.account(index);
        }
        assert_eq!(ledger.accounted, Some(4));
        assert!(ledger.ahead.is_empty());
        assert!(ledger.handled(&key(99), Some(2)));
        assert!(!ledger.handled(&key(99), Some(5)));
    }

    #[test]
    fn a_bot_post_beyond_a_customer_message_not_seen_yet_waits_above_the_mark() {
        let mut ledger = Ledger::default();
        ledger.account(0);
        ledger.account(1);
        // The customer wrote 2 while the bot posted 3.
        ledger.account(3);
        assert_eq!((ledger.accounted, ledger.next()), (Some(1), 2));
        assert_eq!(ledger.gap_before(2), None);
        assert_eq!(ledger.gap_before(4), Some(2..=3));
        ledger.account(2);
        assert_eq!(ledger.accounted, Some(3));
        assert!(ledger.ahead.is_empty());
        // A gap made of indices above the mark only is none.
        ledger.account(5);
        ledger.account(6);
        assert_eq!(ledger.gap_before(7), Some(4..=6));
        ledger.account(4);
        assert_eq!(ledger.accounted, Some(6));
    }

    #[test]
    fn a_first_message_past_index_zero_has_a_gap_from_zero() {
        let ledger = Ledger::default();
        assert_eq!(ledger.gap_before(3), Some(0..=2));
    }

    #[test]
    fn accounting_through_an_index_covers_everything_below_it() {
        let mut ledger = Ledger::default();
        ledger.account(0);
        ledger.account(5);
        ledger.account(9);
        ledger.account_through(7);
        assert_eq!(ledger.accounted, Some(7));
        assert_eq!(ledger.ahead, BTreeSet::from([9]));
        ledger.account_through(8);
        assert_eq!(ledger.accounted, Some(9));
        assert!(ledger.ahead.is_empty());
    }

    #[test]
    fn what_is_kept_stays_bounded() {
        let mut ledger = Ledger::default();
        for n in 0..100 {
            ledger.remember(&key(n));
            ledger.account(1_000 + 2 * u64::from(n));
        }
        assert_eq!(ledger.recent.len(), RECENT_KEYS);
        assert_eq!(ledger.recent[0], key(99));
        assert_eq!(ledger.ahead.len(), AHEAD_INDICES);
        assert_eq!(ledger.ahead.first(), Some(&1_000));
        // A key remembered twice is kept once.
        ledger.remember(&key(99));
        assert_eq!(ledger.recent.len(), RECENT_KEYS);
        assert!(ledger.handled(&key(99), None));
        assert!(!ledger.handled(&key(0), None));
    }
}
