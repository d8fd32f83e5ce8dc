//! The compiled rule set: every rule's pattern, widened (`compile.rs`), in one
//! multi-pattern lazy DFA (regex-automata `hybrid`, `MatchKind::All`), plus one
//! `meta::Regex` per pattern, built on first need, for capture groups, the
//! confirmation of widened patterns' matches and the fallback path.
//!
//! A [`Matcher`] is built once per rules version and shared by every pane through an
//! `Arc`; it is immutable. Each pane owns a [`PaneMatcher`] (`stream.rs`) with its own
//! DFA cache and state, fed the pane's text by [`crate::pane::watch`]. Pattern checks
//! and the build live in `compile.rs`; the per-line `meta::Regex` path used when the
//! DFA gives up lives in `fallback.rs`.
//!
//! Two ways of not walking bytes, both exact: the *line gate* (`gate.rs`) refuses,
//! with one literal scan (Teddy or memmem), every line that holds none of the
//! literals some pattern needs, so the DFA never walks it; inside a walked line the
//! *idle skip* (`accel.rs`) jumps over bytes that leave the DFA where it is.

mod accel;
mod compile;
mod fallback;
mod gate;
mod stream;

use std::fmt;
use std::sync::OnceLock;

use regex_automata::{hybrid::dfa::DFA, meta, util::syntax, PatternID};

use compile::Confirm;

pub use stream::PaneMatcher;

/// One pattern to compile; its index in the slice is its [`PatternId`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatternSpec {
    /// The regex, in `regex` crate syntax. It is matched against one line at a
    /// time, so `^` and `$` anchor at the line's start and end.
    pub pattern: String,
    /// Also check this pattern against the unterminated line at the end of every
    /// feed (`Password: `, `>>> `), not only against completed lines.
    pub prompt: bool,
}

impl PatternSpec {
    /// A pattern matched on completed lines only.
    pub fn line(pattern: impl Into<String>) -> PatternSpec {
        PatternSpec { pattern: pattern.into(), prompt: false }
    }

    /// A pattern also matched on the unterminated line (a prompt).
    pub fn prompt(pattern: impl Into<String>) -> PatternSpec {
        PatternSpec { pattern: pattern.into(), prompt: true }
    }
}

/// Index of a pattern in the slice given to [`Matcher::new`].
pub type PatternId = usize;

/// Build knobs for a [`Matcher`]; [`MatcherOptions::default`] is what the daemon uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MatcherOptions {
    /// Upper bound, in bytes, of each pane's lazy-DFA cache. When the cache keeps
    /// filling up (few bytes scanned per state built) the pane gives up on the DFA
    /// and matches completed lines with `meta::Regex` instead.
    pub cache_capacity: usize,
    /// Clears of a pane's cache after which the DFA may give up (when it also
    /// scanned fewer than 10 bytes per state built); `None` never gives up, which
    /// lets a thrashing rule set rebuild states forever, so only tests use it.
    pub give_up_after_clears: Option<usize>,
    /// Build the line gate (`gate.rs`) when every pattern has necessary literals.
    /// Off only to measure what the gate saves (the matcher bench's `_ungated` rows).
    pub line_gate: bool,
}

impl Default for MatcherOptions {
    fn default() -> MatcherOptions {
        // The bench's 256 realistic rules settle at 1.6 MiB of cache per pane
        // (1 rule: 30 KiB, 16 rules: 113 KiB); twice regex-automata's 2 MiB default
        // leaves room for rule sets like that. The cache only grows as states are
        // needed, so small rule sets never use it.
        MatcherOptions {
            cache_capacity: 4 * (1 << 20),
            give_up_after_clears: Some(3),
            line_gate: true,
        }
    }
}

/// All patterns compiled once into one multi-pattern lazy DFA plus one
/// `meta::Regex` per pattern, built on first need, for captures, confirmation and
/// fallback. Immutable (but for those lazily built regexes); share it with `Arc`.
///
/// # Example
///
/// ```
/// use ctmuxd_text::matcher::{Matcher, PatternSpec};
///
/// let m = Matcher::new(&[PatternSpec::line(r"error\[E\d{4}\]"), PatternSpec::line("^ok$")])?;
/// assert_eq!(m.matches_line("error[E0308]: mismatched types"), vec![0]);
/// assert_eq!(m.matches_line("ok"), vec![1]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Matcher {
    /// The one forward DFA; panes create their own caches from it.
    dfa: DFA,
    /// The line gate (`gate.rs`): lines holding none of the patterns' necessary
    /// literals are not walked. `None` when some pattern needs no literal.
    gate: Option<gate::Gate>,
    /// Pattern `i`'s own regex (captures, confirmation, fallback), built by
    /// [`Matcher::single`] on first use.
    ///
    /// PERF: built eagerly, 2,000 rules `ALERT-0042 code=(?P<c>\d+) (?:failed|crashed)
    /// in (?P<m>\w+)` took 2.2 s and 1.66 GB (834 KB each, 770 KB of it the one-pass
    /// DFA for captures); lazily, only the rules that match pay, 64 KB each without
    /// the one-pass DFA.
    singles: Vec<OnceLock<meta::Regex>>,
    /// `confirm[i]`: when a DFA match of pattern `i` needs its real regex
    /// (`compile.rs`, widening).
    confirm: Vec<Confirm>,
    /// `prompt[i]`: pattern `i` is also checked on the unterminated line.
    prompt: Vec<bool>,
    /// The ids of the prompt patterns, so peeks cost nothing when there are none.
    prompt_ids: Vec<PatternId>,
    /// The source patterns, for error messages and reloads.
    specs: Vec<PatternSpec>,
}

impl Matcher {
    /// Validates and compiles `specs` with the default options.
    ///
    /// # Errors
    ///
    /// A [`MatcherError`] naming the first bad pattern: invalid syntax, a literal
    /// `'\n'` (lines never contain one), or a pattern (or rule set) too big.
    pub fn new(specs: &[PatternSpec]) -> Result<Matcher, MatcherError> {
        Matcher::with_options(specs, &MatcherOptions::default())
    }

    /// Validates and compiles `specs` with explicit options.
    ///
    /// # Errors
    ///
    /// As for [`Matcher::new`].
    pub fn with_options(
        specs: &[PatternSpec],
        opts: &MatcherOptions,
    ) -> Result<Matcher, MatcherError> {
        let compiled = compile::compile(specs, opts)?;
        let prompt: Vec<bool> = specs.iter().map(|s| s.prompt).collect();
        let prompt_ids = (0..specs.len()).filter(|&i| prompt[i]).collect();
        Ok(Matcher {
            dfa: compiled.dfa,
            gate: compiled.gate,
            singles: (0..specs.len()).map(|_| OnceLock::new()).collect(),
            confirm: compiled.confirm,
            prompt,
            prompt_ids,
            specs: specs.to_vec(),
        })
    }

    /// Number of patterns.
    pub fn len(&self) -> usize {
        self.specs.len()
    }

    /// True if there are no patterns (then nothing ever matches).
    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }

    /// True if lines are gated by a literal prefilter: every pattern has literals
    /// one of which a matching line must contain, and lines holding none of them
    /// are never walked by the DFA.
    pub fn is_gated(&self) -> bool {
        self.gate.is_some()
    }

    /// The literals the line gate looks for (lossy UTF-8), empty without a gate.
    /// For diagnostics (the matcher bench prints them).
    pub fn gate_literals(&self) -> Vec<String> {
        self.gate
            .iter()
            .flat_map(|g| g.needles())
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect()
    }

    /// The patterns this matcher was built from, in [`PatternId`] order.
    pub fn specs(&self) -> &[PatternSpec] {
        &self.specs
    }

    /// Named capture groups of pattern `id` on `line`, as `(name, value)` pairs in
    /// group order. Groups that did not take part in the match are left out; an
    /// unknown `id` or a line the pattern does not match gives an empty list.
    ///
    /// Meant for a line that matched, so it allocates freely.
    pub fn captures(&self, id: PatternId, line: &str) -> Vec<(String, String)> {
        let Some(re) = self.single(id) else { return Vec::new() };
        let mut caps = re.create_captures();
        re.captures(line, &mut caps);
        if !caps.is_match() {
            return Vec::new();
        }
        let names = re.group_info().pattern_names(PatternID::ZERO);
        names
            .enumerate()
            .filter_map(|(group, name)| {
                let span = caps.get_group(group)?;
                Some((name?.to_string(), line[span.range()].to_string()))
            })
            .collect()
    }

    /// One-shot: which patterns match this complete line, in ascending order (for
    /// tests, replay oracles and `wait-for --since` over lines already in the ring).
    pub fn matches_line(&self, line: &str) -> Vec<PatternId> {
        let mut out = Vec::new();
        if self.gate.as_ref().is_some_and(|g| !g.admits(line.as_bytes())) {
            // No pattern can match: do not build the regexes to find that out.
            return out;
        }
        self.fallback_line(line, |p| out.push(p));
        out
    }

    /// Pattern `id`'s own regex, built on first use; `None` for an unknown id.
    ///
    /// The pattern passed [`compile::compile`]'s checks, so only its size can make
    /// the build fail: none is set here (the size limit applies to the widened
    /// automaton, and a pattern that was accepted must keep working). Without the
    /// one-pass DFA (see `singles`), captures come from the bounded backtracker or
    /// the PikeVM, on matched lines only.
    fn single(&self, id: PatternId) -> Option<&meta::Regex> {
        let cell = self.singles.get(id)?;
        if let Some(re) = cell.get() {
            return Some(re);
        }
        let built = meta::Regex::builder()
            .syntax(compile::syntax_config())
            .configure(meta::Config::new().onepass(false).nfa_size_limit(None))
            .build(&self.specs[id].pattern)
            .ok()?;
        Some(cell.get_or_init(|| built))
    }

    /// Whether a DFA match of pattern `id` on `line` (a complete line, or a line so
    /// far at a prompt peek) stands: always for an exact pattern, else by its real
    /// regex (only on a line with a non-ASCII byte for [`Confirm::NonAscii`]).
    /// `ascii` caches whether `line` is all ASCII across calls for one line.
    fn confirms(&self, id: PatternId, line: &str, ascii: &mut Option<bool>) -> bool {
        match self.confirm.get(id).copied().unwrap_or(Confirm::Never) {
            Confirm::Never => true,
            Confirm::NonAscii if *ascii.get_or_insert_with(|| line.is_ascii()) => true,
            Confirm::NonAscii | Confirm::Always => {
                self.single(id).is_some_and(|re| re.is_match(line))
            }
        }
    }

    fn is_prompt(&self, id: PatternId) -> bool {
        self.prompt.get(id).copied().unwrap_or(false)
    }
}

impl fmt::Debug for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Matcher").field("specs", &self.specs).finish_non_exhaustive()
    }
}

/// Parses `pattern` as [`Matcher::new`] does, without building any automaton, and
/// returns the names of its capture groups in group order. For the rules loader:
/// a syntax check of 2,000 patterns this way takes about 40 ms, against 1.7 s with
/// a `meta::Regex` each. A pattern that parses can still be refused by
/// [`Matcher::new`] (a literal `'\n'`, too big).
///
/// # Errors
///
/// The parser's error (its `Display` has the pattern with a caret line).
pub fn check_pattern(pattern: &str) -> Result<Vec<String>, Box<regex_syntax::Error>> {
    let hir = syntax::parse_with(pattern, &compile::syntax_config()).map_err(Box::new)?;
    let mut names = Vec::new();
    compile::capture_names(&hir, &mut names);
    Ok(names)
}

/// Why a pattern was rejected; [`MatcherError`] names the pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
enum MatcherErrorKind {
    /// The regex does not parse (the parser's message, with its caret line).
    Syntax(String),
    /// The pattern contains a literal `'\n'`, which a line never contains.
    Newline,
    /// The pattern alone compiles to too big an automaton.
    TooBig(String),
    /// The rule set as a whole is too big; the largest pattern is named.
    SetTooBig(String),
}

/// A pattern that cannot be used, with its index and text.
///
/// Displays as ``pattern 3 (`a(`): invalid regex: ...``.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MatcherError {
    /// Index of the offending pattern in the slice given to [`Matcher::new`].
    pub index: usize,
    /// The offending pattern's text.
    pub pattern: String,
    kind: MatcherErrorKind,
}

impl MatcherError {
    /// True if the pattern was rejected for containing a literal `'\n'`.
    pub fn is_newline(&self) -> bool {
        self.kind == MatcherErrorKind::Newline
    }

    /// True if the pattern's syntax is invalid.
    pub fn is_syntax(&self) -> bool {
        matches!(self.kind, MatcherErrorKind::Syntax(_))
    }

    /// True if the pattern, or the whole rule set, compiles to too big an automaton.
    pub fn is_too_big(&self) -> bool {
        matches!(self.kind, MatcherErrorKind::TooBig(_) | MatcherErrorKind::SetTooBig(_))
    }
}

impl fmt::Display for MatcherError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pattern {} (`{}`): ", self.index, self.pattern)?;
        match &self.kind {
            MatcherErrorKind::Syntax(msg) => write!(f, "invalid regex: {msg}"),
            MatcherErrorKind::Newline => f.write_str(
                "pattern contains a literal '\\n' but is matched one line at a time, \
                 so it can never match; match the line end with `$` instead",
            ),
            MatcherErrorKind::TooBig(msg) => {
                write!(f, "pattern compiles to too big an automaton, simplify it: {msg}")
            }
            MatcherErrorKind::SetTooBig(msg) => write!(
                f,
                "the rule set compiles to too big an automaton (this is its largest \
                 pattern), use fewer or simpler patterns: {msg}"
            ),
        }
    }
}

impl std::error::Error for MatcherError {}
