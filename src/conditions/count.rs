//! The sliding window of a `count`: the times of the last matches, oldest first, dropped
//! once older than `within` before the newest; N of them in the window fire the rule and
//! empty it, so a burst fires once and the next burst counts from zero.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::eventlog::ConditionPart;

/// The matches in the window of one `count` (per pane, or for the whole rule).
#[derive(Clone, Debug, Default)]
pub(super) struct Counter {
    /// At most N - 1 entries between calls: full windows fire and are emptied.
    hits: VecDeque<(Instant, ConditionPart)>,
}

impl Counter {
    /// A match at `now`: the N matches when they now fall within `within` (first to
    /// last, end included), else `None`.
    pub fn hit(
        &mut self,
        n: u32,
        within: Duration,
        now: Instant,
        part: ConditionPart,
    ) -> Option<Vec<ConditionPart>> {
        while self.hits.front().is_some_and(|(t, _)| now.saturating_duration_since(*t) > within) {
            self.hits.pop_front();
        }
        self.hits.push_back((now, part));
        if self.hits.len() >= n as usize {
            return Some(self.hits.drain(..).map(|(_, p)| p).collect());
        }
        None
    }

    /// How many matches are in the window.
    pub fn len(&self) -> usize {
        self.hits.len()
    }
}
