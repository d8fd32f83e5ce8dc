//! The per-line `meta::Regex` path, used by a [`super::PaneMatcher`] when its lazy
//! DFA cannot go on: the cache thrashes (`CacheError`, e.g. `(a|b)*a(a|b){20}` on
//! random input) or the DFA quit on a non-ASCII byte because a pattern has a
//! Unicode `\b`.
//!
//! Each pattern's own `meta::Regex` (built on first use) is asked `is_match` on
//! the line. Memory stays
//! bounded: `meta::Regex` keeps its own lazy DFA with regex-automata's
//! give-up heuristics and falls back to the PikeVM, whose state is bounded by the
//! NFA size. The line itself is bounded by the screen (`pane::lines`).

use regex_automata::Input;

use super::{Matcher, PatternId};

/// After the DFA gave up, completed lines to match with `meta::Regex` before the
/// pane tries the DFA again with a fresh cache. Output that made the DFA thrash
/// (random data) usually goes on for a while; 4096 lines keeps retries rare while
/// letting a pane recover once the output becomes ordinary again.
pub(super) const RETRY_AFTER_LINES: u32 = 4096;

impl Matcher {
    /// Every pattern matching the complete `line`, in ascending order, passed to
    /// `hit`.
    ///
    /// PERF: one `is_match` per pattern, not one multi-pattern overlapping search.
    /// With the bench's 256 rules the `MatchKind::All` set regex (like
    /// `regex::RegexSet`) gave up on its lazy DFA and ran the PikeVM: about 137 µs
    /// per line, against 5 µs for 256 `is_match` calls (benches/matcher.rs).
    pub(super) fn fallback_line(&self, line: &str, mut hit: impl FnMut(PatternId)) {
        let input = Input::new(line);
        for i in 0..self.len() {
            if self.single(i).is_some_and(|re| re.is_match(input.clone())) {
                hit(i);
            }
        }
    }

    /// Whether prompt pattern `id` matches the unterminated `line`.
    pub(super) fn fallback_prompt(&self, id: PatternId, line: &str) -> bool {
        self.single(id).is_some_and(|re| re.is_match(line))
    }
}
