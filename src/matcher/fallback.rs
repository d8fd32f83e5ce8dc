//! The per-line `meta::Regex` path, used by a [`super::PaneMatcher`] when its lazy
//! DFA cannot go on: the cache thrashes (`CacheError`, e.g. `(a|b)*a(a|b){20}` on
//! random input) or the DFA quit on a non-ASCII byte because a pattern has a
//! Unicode `\b`.
//!
//! Memory stays bounded: `meta::Regex` keeps its own lazy DFA with regex-automata's
//! give-up heuristics and falls back to the PikeVM, whose state is bounded by the
//! NFA size. The line itself is bounded by the screen (`pane::screen`).

use regex_automata::{Input, PatternSet};

use super::{Matcher, PatternId};

/// After the DFA gave up, completed lines to match with `meta::Regex` before the
/// pane tries the DFA again with a fresh cache. Output that made the DFA thrash
/// (random data) usually goes on for a while; 4096 lines keeps retries rare while
/// letting a pane recover once the output becomes ordinary again.
pub(super) const RETRY_AFTER_LINES: u32 = 4096;

impl Matcher {
    /// Every pattern matching the complete `line`, written into `set` (cleared first).
    pub(super) fn fallback_line(&self, line: &str, set: &mut PatternSet) {
        set.clear();
        self.all.which_overlapping_matches(&Input::new(line), set);
    }

    /// Whether prompt pattern `id` matches the unterminated `line`.
    pub(super) fn fallback_prompt(&self, id: PatternId, line: &str) -> bool {
        self.singles.get(id).is_some_and(|re| re.is_match(line))
    }
}
