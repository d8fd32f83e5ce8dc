//! Pattern checks and the build of the compiled rule set: each pattern is parsed
//! and validated on its own (so an error names its index), then all of them go into
//! one forward lazy DFA (`MatchKind::All`, bounded cache) and one `meta::Regex` each.
//!
//! The checks follow ripgrep's `crates/regex/src/ban.rs`: a pattern containing a
//! literal `'\n'` is rejected, because [`super::PaneMatcher`] feeds one line at a time
//! and such a pattern could never match. A Unicode `\b` is accepted: the DFA is built
//! with `unicode_word_boundary(true)`, which makes every non-ASCII byte a quit byte,
//! and a line where the DFA quits is matched with the `meta::Regex`es instead
//! (`stream.rs`).

use regex_automata::{
    hybrid::dfa::DFA,
    meta,
    nfa::thompson,
    util::syntax::{self, Config as SyntaxConfig},
    MatchKind,
};
use regex_syntax::hir::{Class, Hir, HirKind};

use super::{gate::Gate, MatcherError, MatcherErrorKind, MatcherOptions, PatternSpec};

/// Upper bound on the compiled NFA of a single pattern. Same figure as the `regex`
/// crate's default `size_limit`: a pattern above it is almost certainly a mistake
/// (`a{1000}{1000}`), and it is reported with its index.
const PATTERN_NFA_LIMIT: usize = 10 * (1 << 20);

/// Upper bound on the NFA of the whole rule set (all patterns in one automaton).
const SET_NFA_LIMIT: usize = 64 * (1 << 20);

/// The compiled parts of a [`super::Matcher`].
pub(super) struct Compiled {
    /// One forward lazy DFA for every pattern; pattern `i` is `PatternID` `i`.
    pub(super) dfa: DFA,
    /// The line gate, if every pattern has necessary literals.
    pub(super) gate: Option<Gate>,
    /// One regex per pattern: capture groups, one-shot checks, and the per-line
    /// fallback when the DFA gave up or quit on a non-ASCII byte (Unicode `\b`).
    pub(super) singles: Vec<meta::Regex>,
}

/// The syntax used everywhere (DFA, meta regexes): Unicode on, UTF-8 matches only,
/// the `regex` crate's defaults, so `^`/`$` are line anchors because every line is
/// searched as its own haystack.
fn syntax_config() -> SyntaxConfig {
    SyntaxConfig::new()
}

/// Validates every pattern and builds the automata.
///
/// # Errors
///
/// The first pattern (lowest index) that fails a check, or the rule set as a whole
/// if only the combined automaton is too big (then the largest pattern is named).
pub(super) fn compile(
    specs: &[PatternSpec],
    opts: &MatcherOptions,
) -> Result<Compiled, MatcherError> {
    let err =
        |index: usize, kind| MatcherError { index, pattern: specs[index].pattern.clone(), kind };
    let mut hirs = Vec::with_capacity(specs.len());
    let mut singles = Vec::with_capacity(specs.len());
    for (i, spec) in specs.iter().enumerate() {
        let hir = syntax::parse_with(&spec.pattern, &syntax_config())
            .map_err(|e| err(i, MatcherErrorKind::Syntax(e.to_string())))?;
        check_newline(&hir).map_err(|()| err(i, MatcherErrorKind::Newline))?;
        let single = meta::Regex::builder()
            .configure(meta::Config::new().nfa_size_limit(Some(PATTERN_NFA_LIMIT)))
            .build_from_hir(&hir)
            .map_err(|e| err(i, MatcherErrorKind::TooBig(e.to_string())))?;
        hirs.push(hir);
        singles.push(single);
    }
    let largest = || (0..singles.len()).max_by_key(|&i| singles[i].memory_usage()).unwrap_or(0);
    let set_err = |e: &dyn std::fmt::Display| {
        if specs.is_empty() {
            // Unreachable in practice (an empty set always builds), but never panic.
            MatcherError {
                index: 0,
                pattern: String::new(),
                kind: MatcherErrorKind::SetTooBig(e.to_string()),
            }
        } else {
            err(largest(), MatcherErrorKind::SetTooBig(e.to_string()))
        }
    };
    let nfa = thompson::Compiler::new()
        .configure(
            thompson::Config::new()
                .nfa_size_limit(Some(SET_NFA_LIMIT))
                // The DFA never reports groups: leave capture states out of its NFA.
                .which_captures(thompson::WhichCaptures::None),
        )
        .build_many_from_hir(&hirs)
        .map_err(|e| set_err(&e))?;
    let dfa = DFA::builder()
        .configure(
            DFA::config()
                .match_kind(MatchKind::All)
                .unicode_word_boundary(true)
                .cache_capacity(opts.cache_capacity)
                // PERF: without these two knobs the lazy DFA never gives up and a
                // pattern like `(a|b)*a(a|b){20}` thrashes: a clear every few
                // thousand bytes, each one rebuilding states. With them it returns a
                // CacheError after 3 clears if fewer than 10 bytes were scanned per
                // state created (meta::Regex uses the same figures), and the pane
                // switches to the per-line fallback.
                .minimum_cache_clear_count(opts.give_up_after_clears)
                .minimum_bytes_per_state(Some(10))
                // A rule set whose minimum cache is above `cache_capacity` runs with
                // that minimum instead of failing to load: it thrashes, gives up and
                // uses the fallback, which is still correct and bounded.
                .skip_cache_capacity_check(true),
        )
        .build_from_nfa(nfa)
        .map_err(|e| set_err(&e))?;
    let gate = if opts.line_gate { Gate::build(&hirs) } else { None };
    Ok(Compiled { dfa, gate, singles })
}

/// Rejects a pattern that contains a literal `'\n'` (in a literal, or a class that
/// is exactly `'\n'`). Classes that merely include it (`\s`, `[^a]`) are fine: on a
/// line they match the other characters. Recursion depth is bounded by the parser's
/// nest limit (250).
fn check_newline(hir: &Hir) -> Result<(), ()> {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => Ok(()),
        HirKind::Literal(lit) => {
            if lit.0.contains(&b'\n') {
                Err(())
            } else {
                Ok(())
            }
        }
        HirKind::Class(Class::Unicode(cls)) => {
            let only_nl = cls.ranges().len() == 1
                && cls.ranges()[0].start() == '\n'
                && cls.ranges()[0].end() == '\n';
            if only_nl {
                Err(())
            } else {
                Ok(())
            }
        }
        HirKind::Class(Class::Bytes(cls)) => {
            let only_nl = cls.ranges().len() == 1
                && cls.ranges()[0].start() == b'\n'
                && cls.ranges()[0].end() == b'\n';
            if only_nl {
                Err(())
            } else {
                Ok(())
            }
        }
        HirKind::Repetition(rep) => check_newline(&rep.sub),
        HirKind::Capture(cap) => check_newline(&cap.sub),
        HirKind::Concat(xs) | HirKind::Alternation(xs) => xs.iter().try_for_each(check_newline),
    }
}
