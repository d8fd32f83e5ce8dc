//! Quiet timers: one deadline per (rule, pane) for `silence` and `at_prompt_for`, re-armed
//! by each output of the pane, dropped when it fires (once per quiet spell), when the pane
//! goes, or (`at_prompt_for`) when the shell leaves its prompt.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use tmux_control_parser::PaneId;

/// One armed timer: when it is due and what the pane last did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Armed {
    /// When the quiet spell reaches the rule's duration.
    pub due: Instant,
    /// When the pane last printed, ns since the epoch (the spell's start).
    pub since_ns: u64,
    /// The pane's line count then.
    pub seq: u64,
}

/// Every armed quiet timer, by (rule, pane), and the same ordered by deadline.
#[derive(Default, Debug)]
pub(super) struct Quiet {
    armed: HashMap<(usize, PaneId), Armed>,
    /// PERF: re-arming on each output is a remove and an insert, O(log n); the earliest
    /// deadline is the first entry.
    queue: BTreeSet<(Instant, usize, PaneId)>,
}

impl Quiet {
    /// Arms (or moves) the timer of `rule` on `pane`.
    pub fn arm(&mut self, rule: usize, pane: PaneId, armed: Armed) {
        if let Some(old) = self.armed.insert((rule, pane), armed) {
            self.queue.remove(&(old.due, rule, pane));
        }
        self.queue.insert((armed.due, rule, pane));
    }

    /// Whether the timer of `rule` on `pane` is armed.
    pub fn is_armed(&self, rule: usize, pane: PaneId) -> bool {
        self.armed.contains_key(&(rule, pane))
    }

    /// Drops the timer of `rule` on `pane`, if armed.
    pub fn disarm(&mut self, rule: usize, pane: PaneId) {
        if let Some(old) = self.armed.remove(&(rule, pane)) {
            self.queue.remove(&(old.due, rule, pane));
        }
    }

    /// Drops every timer of `pane`.
    pub fn pane_gone(&mut self, pane: PaneId) {
        self.armed.retain(|&(_, p), _| p != pane);
        self.queue.retain(|&(_, _, p)| p != pane);
    }

    /// Takes the timers due by `now`, earliest first.
    pub fn take_due(&mut self, now: Instant) -> Vec<(usize, PaneId, Armed)> {
        let mut out = Vec::new();
        while let Some(&(due, rule, pane)) = self.queue.first() {
            if due > now {
                break;
            }
            self.queue.pop_first();
            if let Some(armed) = self.armed.remove(&(rule, pane)) {
                out.push((rule, pane, armed));
            }
        }
        out
    }

    /// The earliest deadline.
    pub fn next(&self) -> Option<Instant> {
        self.queue.first().map(|&(due, _, _)| due)
    }

    /// How many timers are armed.
    pub fn len(&self) -> usize {
        self.armed.len()
    }

    /// Keeps the timers of rules `map` gives a new index (a reload), under that index.
    pub fn remap(&mut self, map: &HashMap<usize, usize>) {
        let armed = std::mem::take(&mut self.armed);
        self.queue.clear();
        for ((rule, pane), a) in armed {
            if let Some(&new) = map.get(&rule) {
                self.arm(new, pane, a);
            }
        }
    }
}
