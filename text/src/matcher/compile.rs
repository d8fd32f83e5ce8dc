//! Pattern checks and the build of the compiled rule set: each pattern is parsed
//! and validated on its own (so an error names its index), *widened* (below), and
//! all of them go into one forward lazy DFA (`MatchKind::All`, bounded cache). No
//! per-pattern regex is built here: [`super::Matcher`] builds a pattern's
//! `meta::Regex` on first need (captures, confirmation, fallback).
//!
//! The checks follow ripgrep's `crates/regex/src/ban.rs`: a pattern containing a
//! literal `'\n'` is rejected, because [`super::PaneMatcher`] feeds one line at a time
//! and such a pattern could never match.
//!
//! # Widening
//!
//! A Unicode class such as `\w` (about 770 ranges) or `\d` (about 70) compiles to a
//! UTF-8 automaton of hundreds of NFA states, once per pattern that uses it. The
//! DFA's NFA is built from a widened copy of each pattern instead:
//!
//! - a class with more than [`WIDEN_ABOVE_RANGES`] non-ASCII ranges becomes its
//!   ASCII part, or any one UTF-8 encoded non-ASCII character
//!   (`[\xC2-\xF4][\x80-\xBF]{1,3}`);
//! - a Unicode word boundary (`\b`, `\B`, `\<`, ...) becomes the empty regex.
//!
//! Each step only adds byte strings to the pattern's language, so the widened
//! pattern matches every line the real one matches (a superset). On a line that is
//! all ASCII the first step changes nothing (its new branch needs a byte >= 0x80),
//! so a pattern widened only by classes is exact there, and is confirmed with its
//! real regex only on a line holding a non-ASCII byte ([`Confirm::NonAscii`]). A
//! pattern that lost a word boundary is confirmed on every line it matches
//! ([`Confirm::Always`]); before, such a pattern made every non-ASCII byte a quit
//! byte of the whole DFA. Confirmation costs one `is_match` per candidate match.
//!
//! PERF: 2,000 rules `ALERT-0042 code=(?P<c>\d+) (?:failed|crashed) in
//! (?P<m>\w+)`: the exact set NFA has 755,129 states (39 MB) and a 12 MB minimum
//! DFA cache per pane, built in 0.5 s; widened, 104,003 states (2.6 MB), a 1.6 MB
//! cache, 66 ms including the parse (2-core VM, `benches/startup.rs`).

use regex_automata::{
    hybrid::dfa::DFA,
    nfa::thompson::{self, NFA},
    util::syntax::{self, Config as SyntaxConfig},
    MatchKind,
};
use regex_syntax::hir::{
    Capture, Class, ClassBytes, ClassBytesRange, Hir, HirKind, Look, Repetition,
};

use super::{gate::Gate, MatcherError, MatcherErrorKind, MatcherOptions, PatternSpec};

/// Upper bound on the compiled (widened) NFA of a single pattern. Same figure as
/// the `regex` crate's default `size_limit`: a pattern above it is almost certainly
/// a mistake (`a{1000}{1000}`), and it is reported with its index.
const PATTERN_NFA_LIMIT: usize = 10 * (1 << 20);

/// Upper bound on the NFA of the whole rule set (all patterns in one automaton).
const SET_NFA_LIMIT: usize = 64 * (1 << 20);

/// A Unicode class with more non-ASCII ranges than this is widened. Up to it the
/// exact UTF-8 automaton is small (`.` and `[^']` have one non-ASCII range, `\s`
/// and case-folded letters a few) and the pattern stays exact.
const WIDEN_ABOVE_RANGES: usize = 4;

/// When a DFA match of a pattern must be confirmed by the pattern's real regex.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Confirm {
    /// The DFA is exact for this pattern.
    Never,
    /// Widened classes: exact on ASCII lines, confirm on lines with a non-ASCII byte.
    NonAscii,
    /// A Unicode word boundary was dropped: confirm every match.
    Always,
}

/// The compiled parts of a [`super::Matcher`].
pub(super) struct Compiled {
    /// One forward lazy DFA for every (widened) pattern; pattern `i` is `PatternID` `i`.
    pub(super) dfa: DFA,
    /// The line gate, if every pattern has necessary literals.
    pub(super) gate: Option<Gate>,
    /// `confirm[i]`: when a DFA match of pattern `i` needs its real regex.
    pub(super) confirm: Vec<Confirm>,
}

/// The syntax used everywhere (DFA, meta regexes): Unicode on, UTF-8 matches only,
/// the `regex` crate's defaults, so `^`/`$` are line anchors because every line is
/// searched as its own haystack.
pub(super) fn syntax_config() -> SyntaxConfig {
    SyntaxConfig::new()
}

/// Validates every pattern and builds the automata.
///
/// # Errors
///
/// The first pattern (lowest index) with invalid syntax or a literal `'\n'`; else
/// the first whose widened NFA alone is too big; else the rule set as a whole if
/// only the combined automaton is too big (then the largest pattern is named).
pub(super) fn compile(
    specs: &[PatternSpec],
    opts: &MatcherOptions,
) -> Result<Compiled, MatcherError> {
    let err =
        |index: usize, kind| MatcherError { index, pattern: specs[index].pattern.clone(), kind };
    let mut hirs = Vec::with_capacity(specs.len());
    let mut confirm = Vec::with_capacity(specs.len());
    for (i, spec) in specs.iter().enumerate() {
        let hir = syntax::parse_with(&spec.pattern, &syntax_config())
            .map_err(|e| err(i, MatcherErrorKind::Syntax(e.to_string())))?;
        check_newline(&hir).map_err(|()| err(i, MatcherErrorKind::Newline))?;
        // PERF: widened at once, so the big Unicode classes of only one pattern are
        // alive at a time (2,000 parsed `\w` patterns hold 21 MB).
        let mut c = Confirm::Never;
        let wide = widen(&hir, &mut c);
        hirs.push(wide);
        confirm.push(c);
    }
    let set = build_nfa(&hirs, SET_NFA_LIMIT);
    // Every pattern's states are in the set NFA, so when it is small no pattern
    // alone is too big; otherwise compile them one by one to name the culprit.
    if set.as_ref().map_or(true, |nfa| nfa.memory_usage() > PATTERN_NFA_LIMIT) {
        let mut largest = (0, 0);
        for (i, hir) in hirs.iter().enumerate() {
            let one = build_nfa(std::slice::from_ref(hir), PATTERN_NFA_LIMIT)
                .map_err(|e| err(i, MatcherErrorKind::TooBig(e)))?;
            largest = largest.max((one.memory_usage(), i));
        }
        if let Err(e) = &set {
            return Err(err(largest.1, MatcherErrorKind::SetTooBig(e.clone())));
        }
    }
    let set_err = |e: &dyn std::fmt::Display| MatcherError {
        index: 0,
        pattern: specs.first().map(|s| s.pattern.clone()).unwrap_or_default(),
        kind: MatcherErrorKind::SetTooBig(e.to_string()),
    };
    let nfa = set.map_err(|e| set_err(&e))?;
    let dfa = DFA::builder()
        .configure(
            DFA::config()
                .match_kind(MatchKind::All)
                // No Unicode word boundary is left after widening; kept so that a
                // future one makes non-ASCII bytes quit bytes instead of an error.
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
    // Literals necessary for a widened pattern are necessary for the real one (its
    // language is a subset), so the gate may be built from the widened patterns.
    let gate = if opts.line_gate { Gate::build(&hirs) } else { None };
    Ok(Compiled { dfa, gate, confirm })
}

/// The forward NFA of `hirs` (one pattern each), without capture states: the DFA
/// never reports groups.
fn build_nfa(hirs: &[Hir], limit: usize) -> Result<NFA, String> {
    thompson::Compiler::new()
        .configure(
            thompson::Config::new()
                .nfa_size_limit(Some(limit))
                .which_captures(thompson::WhichCaptures::None),
        )
        .build_many_from_hir(hirs)
        .map_err(|e| e.to_string())
}

/// The widened copy of `hir` (module docs): big Unicode classes become their ASCII
/// part or any non-ASCII character, Unicode word boundaries become empty. Raises
/// `confirm` to what the changes made need. Recursion depth is bounded by the
/// parser's nest limit (250).
pub(super) fn widen(hir: &Hir, confirm: &mut Confirm) -> Hir {
    match hir.kind() {
        HirKind::Class(Class::Unicode(cls)) => {
            let non_ascii = cls.ranges().iter().filter(|r| u32::from(r.end()) >= 0x80).count();
            if non_ascii <= WIDEN_ABOVE_RANGES {
                return hir.clone();
            }
            *confirm = (*confirm).max(Confirm::NonAscii);
            let ascii = cls.ranges().iter().filter(|r| u32::from(r.start()) < 0x80).map(|r| {
                // Both ends are below 0x80 after the `min`, so the casts are exact.
                ClassBytesRange::new(r.start() as u8, u32::from(r.end()).min(0x7F) as u8)
            });
            let byte_class =
                |lo, hi| Hir::class(Class::Bytes(ClassBytes::new([ClassBytesRange::new(lo, hi)])));
            let any_non_ascii = Hir::concat(vec![
                byte_class(0xC2, 0xF4),
                Hir::repetition(Repetition {
                    min: 1,
                    max: Some(3),
                    greedy: true,
                    sub: Box::new(byte_class(0x80, 0xBF)),
                }),
            ]);
            Hir::alternation(vec![Hir::class(Class::Bytes(ClassBytes::new(ascii))), any_non_ascii])
        }
        HirKind::Look(
            Look::WordUnicode
            | Look::WordUnicodeNegate
            | Look::WordStartUnicode
            | Look::WordEndUnicode
            | Look::WordStartHalfUnicode
            | Look::WordEndHalfUnicode,
        ) => {
            *confirm = Confirm::Always;
            Hir::empty()
        }
        HirKind::Empty
        | HirKind::Literal(_)
        | HirKind::Class(Class::Bytes(_))
        | HirKind::Look(_) => hir.clone(),
        HirKind::Repetition(rep) => Hir::repetition(Repetition {
            min: rep.min,
            max: rep.max,
            greedy: rep.greedy,
            sub: Box::new(widen(&rep.sub, confirm)),
        }),
        HirKind::Capture(cap) => Hir::capture(Capture {
            index: cap.index,
            name: cap.name.clone(),
            sub: Box::new(widen(&cap.sub, confirm)),
        }),
        HirKind::Concat(xs) => Hir::concat(xs.iter().map(|x| widen(x, confirm)).collect()),
        HirKind::Alternation(xs) => {
            Hir::alternation(xs.iter().map(|x| widen(x, confirm)).collect())
        }
    }
}

/// The names of the capture groups of `hir`, in group order (unnamed groups left
/// out).
pub(super) fn capture_names(hir: &Hir, out: &mut Vec<String>) {
    match hir.kind() {
        HirKind::Empty | HirKind::Literal(_) | HirKind::Class(_) | HirKind::Look(_) => {}
        HirKind::Repetition(rep) => capture_names(&rep.sub, out),
        HirKind::Capture(cap) => {
            if let Some(name) = &cap.name {
                out.push(name.to_string());
            }
            capture_names(&cap.sub, out);
        }
        HirKind::Concat(xs) | HirKind::Alternation(xs) => {
            xs.iter().for_each(|x| capture_names(x, out));
        }
    }
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use proptest::prelude::*;

    use super::*;
    use crate::matcher::{Matcher, PaneMatcher, PatternId};

    /// Patterns whose widened form differs from the real one in every way widening
    /// can: big classes alone, repeated, negated, in captures, next to non-ASCII
    /// literals, and Unicode word boundaries. The last ones stay exact.
    const WIDE: &[&str] = &[
        r"a\wb",
        r"^\w{3}$",
        r"code=(?P<c>\d+) (?:failed|crashed) in (?P<m>\w+)",
        r"x\W+y",
        r"\bcafé\b",
        r"\bword\b",
        r"\Bor\B",
        r"\p{Han}+",
        r"(?i)straße \d",
        r"^\S+ \S+$",
        r"[\w&&[^a-z]]{2}$",
        r"é\w",
        r"\w😀",
        r"[^']+'",
        r"(?i)ok",
        "plain",
    ];

    /// Lines mixing ASCII and `é`, `中`, `😀`, `ß`, combining and other-script
    /// word characters.
    const LINES: &[&str] = &[
        "aéb",
        "a中b",
        "axb",
        "a😀b",
        "é中x",
        "abc",
        "中文字",
        "ab",
        "code=12 failed in main",
        "code=١٢ failed in módulo",
        "code=12 crashed in 中",
        "code=12 crashed in ",
        "x é y",
        "x y",
        "x_y",
        "a café here",
        "xcafé",
        "word",
        "swordfish",
        "naïve word",
        "wörd",
        "STRASSE 1",
        "straße 1",
        "straße ٣",
        "a b",
        "é 中",
        "a b c",
        "AB",
        "1中",
        "ÉÉ",
        "éa",
        "é😀",
        "a😀",
        "it's",
        "OK",
        "plain",
        "",
    ];

    fn matcher(pats: &[&str]) -> Arc<Matcher> {
        let specs: Vec<_> = pats.iter().map(|p| crate::matcher::PatternSpec::prompt(*p)).collect();
        Arc::new(Matcher::new(&specs).unwrap())
    }

    fn regexes(pats: &[&str]) -> Vec<regex::Regex> {
        pats.iter().map(|p| regex::Regex::new(p).unwrap()).collect()
    }

    fn oracle(res: &[regex::Regex], line: &str) -> Vec<PatternId> {
        (0..res.len()).filter(|&i| res[i].is_match(line)).collect()
    }

    /// Feeds `line` cut at the char boundaries `cuts` (a prompt peek after each
    /// piece), then ends it; checks every peek and the end against `regex`: a peek
    /// reports the patterns matching the line so far not reported yet, the end
    /// those matching the whole line not reported yet.
    fn check_line(pm: &mut PaneMatcher, res: &[regex::Regex], line: &str, cuts: &[usize]) {
        let mut reported = vec![false; res.len()];
        let mut out = Vec::new();
        let mut cuts: Vec<usize> =
            cuts.iter().copied().filter(|&c| c < line.len() && line.is_char_boundary(c)).collect();
        cuts.sort_unstable();
        cuts.dedup();
        for cut in cuts {
            let part = &line[..cut];
            pm.scan(part);
            pm.peek_prompts(part, &mut out);
            let want: Vec<_> = oracle(res, part)
                .into_iter()
                .filter(|&p| !part.is_empty() && !reported[p])
                .collect();
            assert_eq!(out, want, "peek at {part:?} of {line:?}");
            out.iter().for_each(|&p| reported[p] = true);
        }
        pm.scan(line);
        pm.end_line(line, &mut out);
        let want: Vec<_> = oracle(res, line).into_iter().filter(|&p| !reported[p]).collect();
        assert_eq!(out, want, "end of {line:?}");
    }

    #[test]
    fn widening_keeps_small_classes_and_flags_what_needs_confirming() {
        let confirm = |p: &str| {
            let mut c = Confirm::Never;
            widen(&syntax::parse(p).unwrap(), &mut c);
            c
        };
        for p in [r"foo.*bar", r"[^']+", r"(?i)ok", r"(?-u:\w+)", r"(?-u:\b)x"] {
            assert_eq!(confirm(p), Confirm::Never, "{p}");
        }
        for p in [r"\w+", r"\d", r"\s+x", r"\p{Han}", r"x\W", r"a|\S{2}"] {
            assert_eq!(confirm(p), Confirm::NonAscii, "{p}");
        }
        for p in [r"\bx", r"\w\b", r"\B", r"\<x\>"] {
            assert_eq!(confirm(p), Confirm::Always, "{p}");
        }
    }

    #[test]
    fn widened_matcher_agrees_with_regex_on_ascii_and_non_ascii_lines() {
        let m = matcher(WIDE);
        let res = regexes(WIDE);
        let mut pm = PaneMatcher::new(m.clone());
        for line in LINES {
            assert_eq!(m.matches_line(line), oracle(&res, line), "matches_line({line:?})");
            check_line(&mut pm, &res, line, &[]);
            let every: Vec<usize> = (1..line.len()).collect();
            check_line(&mut pm, &res, line, &every);
        }
        // `\w` takes `é` and `中` as one character each, the widened DFA too.
        assert_eq!(m.matches_line("aéb"), vec![0, 1, 11]);
        assert_eq!(m.matches_line("é中x"), vec![1, 7, 11]);
        // Captures come from the real regex, built on first use.
        let caps = m.captures(2, "code=12 crashed in 中");
        assert_eq!(caps, vec![("c".into(), "12".into()), ("m".into(), "中".into())]);
    }

    #[test]
    fn check_pattern_parses_without_building_and_lists_group_names() {
        assert_eq!(
            crate::matcher::check_pattern(r"(?P<a>\w+)(x)(?<b>\d)").unwrap(),
            vec!["a".to_string(), "b".to_string()]
        );
        assert!(crate::matcher::check_pattern("a(").is_err());
    }

    #[test]
    fn a_pattern_too_big_alone_or_only_together_is_named() {
        let specs = |ps: &[&str]| {
            ps.iter().map(|p| crate::matcher::PatternSpec::line(*p)).collect::<Vec<_>>()
        };
        let e = Matcher::new(&specs(&["ok", r"\w{1000}{1000}"])).unwrap_err();
        assert_eq!((e.index, e.is_too_big()), (1, true), "{e}");
        // Exact `\w{2000}` is ~40 MB of NFA; widened it is small and accepted, and
        // its real regex (built without a size limit) still confirms matches.
        let m = Matcher::new(&specs(&[r"^\w{200}$"])).unwrap();
        assert_eq!(m.matches_line(&"é".repeat(200)), vec![0]);
        assert!(m.matches_line(&"é".repeat(199)).is_empty());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        /// Random lines over ASCII and non-ASCII words, any subset of `WIDE`, with
        /// and without prompt peeks: the widened matcher reports what `regex` does.
        #[test]
        fn widened_matcher_agrees_with_regex(
            picks in prop::collection::vec(0..WIDE.len(), 1..6),
            lines in prop::collection::vec(prop::collection::vec(prop::sample::select(vec![
                "a", "b", "x", "y", "é", "中", "😀", "ß", "ï", "٣", "1", "12", " ", "_", "'",
                "code=", " failed in ", "café", "word", "straße", "OK", "plain", "-",
            ]), 0..12), 1..8),
            cuts in prop::collection::vec(1usize..30, 0..4),
        ) {
            let pats: Vec<&str> = picks.iter().map(|&i| WIDE[i]).collect();
            let m = matcher(&pats);
            let res = regexes(&pats);
            let mut pm = PaneMatcher::new(m.clone());
            for words in &lines {
                let line = words.concat();
                prop_assert_eq!(m.matches_line(&line), oracle(&res, &line));
                check_line(&mut pm, &res, &line, &cuts);
            }
        }
    }
}
