//! The line gate: a literal prefilter that decides, once per line, whether the DFA
//! has to walk that line at all.
//!
//! For every pattern the gate finds a set of *necessary literals*: strings one of
//! which occurs in every line the pattern matches (taken from the pattern's
//! prefixes, its suffixes, or the prefixes of a tail of its top-level
//! concatenation, with regex-syntax's literal extractor, the same analysis the
//! `regex` crate builds its prefilters from). The union over all patterns goes into
//! one regex-automata [`Prefilter`] (memchr, memmem, Teddy or Aho-Corasick, chosen
//! by the crate). A line in which the prefilter finds none of the literals cannot be
//! matched by any pattern, so the DFA never walks it; a line with a hit is walked
//! by the one multi-pattern DFA exactly as before, each byte once.
//!
//! The gate exists only if every pattern has such a set: one pattern that can match
//! without a literal (`^\s*$`, `\d+`) makes every line a candidate, and the matcher
//! then walks every line as it did without a gate.
//!
//! Soundness does not depend on which literals are picked: any literal of a
//! necessary set may be shortened to any of its substrings (a line containing the
//! literal contains the substring), so shortening only admits more lines. That is
//! what [`shrink`] uses to fit many patterns' literals into a fast prefilter.

use std::collections::{HashMap, HashSet};

use aho_corasick::packed;
use regex_automata::{util::prefilter::Prefilter, MatchKind, Span};
use regex_syntax::hir::{
    literal::{rank, ExtractKind, Extractor, Seq},
    Hir, HirKind,
};

/// Most literals kept for one pattern: beyond it the set says little (every case
/// variant of a long word) and would crowd the prefilter.
const MAX_PER_PATTERN: usize = 64;

/// Literal count up to which regex-automata's prefilter takes the set (memchr,
/// memmem, or Teddy: SIMD, its fastest multi-literal scanner).
const TEDDY_LIMIT: usize = 64;

/// Literal count up to which aho-corasick's packed (Teddy) searcher takes the set
/// with its pattern-count heuristics off; above it the set is shrunk first.
const PACKED_LIMIT: usize = 128;

/// Longest literal [`shrink`] keeps when the set is too big for one scanner.
const MAX_LITERAL: usize = 16;

/// Shortest window [`shrink`] cuts literals to before giving up on fitting Teddy.
const MIN_WINDOW: usize = 3;

/// The compiled gate of a rule set: one prefilter over every pattern's necessary
/// literals.
#[derive(Clone, Debug)]
pub(super) struct Gate {
    scanner: Scanner,
    /// The literals in the prefilter (for tests and diagnostics).
    needles: Vec<Vec<u8>>,
    /// Length of the longest literal, computed once: [`Gate::longest`] is asked
    /// at every line end.
    longest: usize,
}

impl Gate {
    /// The gate for these patterns, or `None` when some pattern has no necessary
    /// literal (it could match a line made of anything) or no prefilter fits.
    pub(super) fn build(hirs: &[Hir]) -> Option<Gate> {
        if hirs.is_empty() {
            return None;
        }
        let mut needles = Vec::new();
        for hir in hirs {
            needles.extend(necessary_literals(hir)?);
        }
        let needles = shrink(needles);
        let scanner = if needles.len() <= TEDDY_LIMIT {
            Scanner::Prefilter(Prefilter::new(MatchKind::LeftmostFirst, &needles)?)
        } else {
            Scanner::Packed(
                packed::Config::new()
                    .heuristic_pattern_limits(false)
                    .builder()
                    .extend(&needles)
                    .build()?,
            )
        };
        let longest = needles.iter().map(Vec::len).max().unwrap_or(0);
        Some(Gate { scanner, needles, longest })
    }

    /// True if `line` contains one of the literals: some pattern may match it.
    #[inline]
    pub(super) fn admits(&self, line: &[u8]) -> bool {
        match &self.scanner {
            Scanner::Prefilter(p) => p.find(line, Span::from(0..line.len())).is_some(),
            Scanner::Packed(p) => p.find(line).is_some(),
        }
    }

    /// Length of the longest literal: a literal ending in new text starts at most
    /// this many bytes minus one before it.
    pub(super) fn longest(&self) -> usize {
        self.longest
    }

    /// The literals the gate looks for.
    pub(super) fn needles(&self) -> &[Vec<u8>] {
        &self.needles
    }
}

/// The literal scanner of a [`Gate`].
#[derive(Clone, Debug)]
enum Scanner {
    /// Up to [`TEDDY_LIMIT`] literals: whatever regex-automata picks.
    Prefilter(Prefilter),
    /// More: Teddy with up to [`PACKED_LIMIT`] literals.
    Packed(packed::Searcher),
}

/// A set of strings one of which occurs in every haystack `hir` matches, or `None`
/// if no finite set of non-empty literals was found.
///
/// Candidates: the prefixes of the whole pattern, its suffixes, and the prefixes of
/// each tail `c[i..]` of a top-level concatenation `c` (any match contains a match
/// of that tail). The candidate whose weakest literal is rarest wins.
fn necessary_literals(hir: &Hir) -> Option<Vec<Vec<u8>>> {
    let mut prefix = Extractor::new();
    prefix.kind(ExtractKind::Prefix);
    let mut suffix = Extractor::new();
    suffix.kind(ExtractKind::Suffix);
    let mut candidates = vec![prefix.extract(hir), suffix.extract(hir)];
    let mut inner = hir;
    while let HirKind::Capture(cap) = inner.kind() {
        inner = &cap.sub;
    }
    if let HirKind::Concat(children) = inner.kind() {
        for i in 1..children.len() {
            candidates.push(prefix.extract(&Hir::concat(children[i..].to_vec())));
        }
    }
    // A case-insensitive word gives one literal per case variant (64 for
    // `(?i)n fault`), which crowds the scanner: also offer each set cut to shorter
    // prefixes, which merge variants, and prefer a set of at most `FEW` literals.
    for i in 0..candidates.len() {
        let Some(longest) = candidates[i].max_literal_len() else { continue };
        for len in (2..longest).rev() {
            let mut cut = candidates[i].clone();
            cut.keep_first_bytes(len);
            cut.dedup();
            if cut.len().is_some_and(|n| n <= FEW) {
                candidates.push(cut);
                break;
            }
        }
    }
    candidates.iter().filter_map(usable).max_by_key(|lits| {
        (lits.len() <= FEW, lits.iter().map(|l| rarity(l)).min(), std::cmp::Reverse(lits.len()))
    })
}

/// Literal count of a pattern's set that the choice in [`necessary_literals`]
/// prefers to stay under.
const FEW: usize = 8;

/// The literals of `seq` if it is finite, non-empty, small, and has no empty
/// literal (which would occur everywhere).
fn usable(seq: &Seq) -> Option<Vec<Vec<u8>>> {
    let lits = seq.literals()?;
    if lits.is_empty() || lits.len() > MAX_PER_PATTERN || lits.iter().any(|l| l.is_empty()) {
        return None;
    }
    Some(lits.iter().map(|l| l.as_bytes().to_vec()).collect())
}

/// How rarely a literal should occur in text: the sum over its bytes of how
/// uncommon each byte is (regex-syntax's background byte frequencies).
fn rarity(lit: &[u8]) -> u32 {
    lit.iter().map(|&b| 256 - u32::from(rank(b))).sum()
}

/// The windows of `len` bytes of `lit` (all of it if shorter).
fn windows(lit: &[u8], len: usize) -> impl Iterator<Item = &[u8]> {
    let len = len.min(lit.len()).max(1);
    lit.windows(len)
}

/// Cuts every literal to one window of at most `len` bytes: the window shared by
/// the most literals of the set (so a family like `worker-3 crashed`, `worker-4
/// crashed`... collapses into `crashed`), the rarest such window on a tie.
fn cut_to(needles: &[Vec<u8>], len: usize) -> Vec<Vec<u8>> {
    let mut shared: HashMap<&[u8], usize> = HashMap::new();
    for lit in needles {
        let mut seen = HashSet::new();
        for w in windows(lit, len) {
            if seen.insert(w) {
                *shared.entry(w).or_default() += 1;
            }
        }
    }
    needles
        .iter()
        .map(|lit| {
            windows(lit, len)
                .max_by_key(|w| (shared.get(w).copied().unwrap_or(0), rarity(w)))
                .unwrap_or(lit)
                .to_vec()
        })
        .collect()
}

/// Deduplicates the literals and drops any literal that contains another one (the
/// shorter one already admits every line the longer one would). If more than
/// Teddy takes at its best remain, each literal is cut to its longest digit-free
/// run and to [`MAX_LITERAL`] bytes; if still more than the packed searcher takes,
/// to shorter and shorter windows ([`cut_to`]) until they fit or the window
/// reaches [`MIN_WINDOW`] bytes.
///
/// PERF: measured on the bench's 256 rules (benches/matcher.rs `matcher_only`,
/// same run, 3.4 MB of log): 326 uncut literals in an Aho-Corasick DFA (what
/// regex-automata picks above Teddy's limit) 605 MiB/s, no faster than our own
/// DFA; cut to 5-byte windows for Teddy 709 MiB/s, but `"worke"` admitted the
/// log's 27% `worker-N processed` lines; digit-free runs and 16-byte cuts (33
/// literals, 4% of lines admitted: the lines that match) 1.01 GiB/s.
fn shrink(mut needles: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    minimal(&mut needles);
    if needles.len() <= TEDDY_LIMIT {
        return needles;
    }
    // Rules made from one template differ in their numbers (`worker-3 crashed`,
    // `worker-4 crashed`): the longest digit-free run of each literal merges them.
    needles = needles.iter().map(|l| longest_digit_free(l).to_vec()).collect();
    // Literals beyond `MAX_LITERAL` bytes add little selectivity; cut, a family
    // that differs only at the end (`/dev/sda`, `/dev/sdb`) merges.
    needles = cut_to(&needles, MAX_LITERAL);
    minimal(&mut needles);
    let longest = needles.iter().map(Vec::len).max().unwrap_or(0);
    // Every cut starts from the same literals, so a window is chosen among all
    // of a literal's windows, not inside an earlier, longer cut.
    let mut cut = needles.clone();
    let mut window = longest;
    while cut.len() > PACKED_LIMIT && window > MIN_WINDOW {
        window -= 1;
        cut = cut_to(&needles, window);
        minimal(&mut cut);
    }
    cut
}

/// The longest run of `lit` without an ASCII digit, if it has [`MIN_WINDOW`]
/// bytes or more (the rarest of equally long runs); else `lit` itself.
fn longest_digit_free(lit: &[u8]) -> &[u8] {
    lit.split(u8::is_ascii_digit)
        .filter(|run| run.len() >= MIN_WINDOW)
        .max_by_key(|run| (run.len(), rarity(run)))
        .unwrap_or(lit)
}

/// Sorts, deduplicates and removes every literal that has another literal of the
/// set as a substring.
fn minimal(lits: &mut Vec<Vec<u8>>) {
    lits.sort_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.cmp(b)));
    lits.dedup();
    let mut kept: Vec<Vec<u8>> = Vec::with_capacity(lits.len());
    for lit in lits.drain(..) {
        if !kept.iter().any(|k| memchr::memmem::find(&lit, k).is_some()) {
            kept.push(lit);
        }
    }
    *lits = kept;
}

#[cfg(test)]
mod tests {
    use regex_automata::util::syntax;

    use super::*;

    fn hir(p: &str) -> Hir {
        syntax::parse(p).unwrap()
    }

    fn lits(p: &str) -> Option<Vec<String>> {
        necessary_literals(&hir(p))
            .map(|v| v.into_iter().map(|l| String::from_utf8_lossy(&l).into_owned()).collect())
    }

    #[test]
    fn literals_come_from_prefixes_suffixes_or_inner_tails() {
        assert_eq!(lits(r"TRIGGER: START_\w+ (?P<id>\S+)").unwrap(), vec!["TRIGGER: START_"]);
        // The suffix ` FAILED` is rarer than the prefix `test `.
        assert_eq!(lits(r"^test .* FAILED$").unwrap(), vec![" FAILED"]);
        // No prefix (`\w+` is unbounded), the tail after it is a literal.
        assert_eq!(
            lits(r"(?P<user>\w+)@host3: permission denied").unwrap(),
            vec!["@host3: permission denied"]
        );
        assert_eq!(lits(r"(?P<n>\d+) tests? failed").unwrap().len(), 2);
        let alt = lits(r"worker-3 (crashed|exited with code \d+)").unwrap();
        assert!(alt.contains(&"worker-3 crashed".to_string()), "{alt:?}");
    }

    #[test]
    fn patterns_that_need_no_literal_have_none() {
        for p in [r"^\s*$", r"\d+", r"(a|b)*", r".", r"^", r"\w+@?"] {
            assert_eq!(lits(p), None, "{p}");
        }
    }

    #[test]
    fn one_literal_free_pattern_disables_the_gate() {
        assert!(Gate::build(&[hir("panicked at"), hir("ok")]).is_some());
        assert!(Gate::build(&[hir("panicked at"), hir(r"^\d+$")]).is_none());
        assert!(Gate::build(&[]).is_none());
    }

    #[test]
    fn gate_admits_exactly_the_lines_holding_a_literal() {
        let g = Gate::build(&[hir(r"error\[E\d{4}\]"), hir("(?i)segfault")]).unwrap();
        assert!(g.admits(b"error[E0308]: mismatched types"));
        assert!(g.admits(b"xx SEGFAULT yy"));
        assert!(g.admits(b"error[Exxxx] is only a candidate"));
        assert!(!g.admits(b"warning: unused variable"));
        assert!(!g.admits(b""));
    }

    #[test]
    fn shrinking_keeps_every_literal_covered() {
        let many: Vec<Vec<u8>> =
            (0..200).map(|i| format!("worker-{i} crashed hard").into_bytes()).collect();
        let cut = shrink(many.clone());
        assert!(cut.len() <= PACKED_LIMIT, "{}", cut.len());
        for lit in &many {
            assert!(
                cut.iter().any(|c| memchr::memmem::find(lit, c).is_some()),
                "{} lost",
                String::from_utf8_lossy(lit)
            );
        }
        assert_eq!(longest_digit_free(b"worker-12 crashed"), b" crashed");
        assert_eq!(longest_digit_free(b"a1b2"), b"a1b2");
        let mut m = vec![b"abc".to_vec(), b"xabcx".to_vec(), b"abc".to_vec(), b"zz".to_vec()];
        minimal(&mut m);
        assert_eq!(m, vec![b"zz".to_vec(), b"abc".to_vec()]);
    }
}
