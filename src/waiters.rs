//! Run-time patterns, apart from the rules: `wait-for`, `send --expect` (and the echo
//! awaited before Enter), `subscribe`, a `[[pane]]`'s `ready`/`fail`.
//!
//! Each one is its own small regex ([`PatternRegex`], one regex-automata `meta::Regex`),
//! compiled by whoever registers it, outside any lock, and run only over the new
//! complete lines of the panes it watches (and, for prompt-style ones, the line being
//! written at the end of each feed). The rules' multi-pattern matcher is built from the
//! rules file alone: registering or removing a waiter never compiles it again, nor
//! resets any pane's DFA cache.
//!
//! PERF: registering a waiter costs one small regex compile (about 50 µs for
//! `^pong-42 (?P<t>\d+)`) and a hash-map insert under the engine lock, whatever the
//! number of rules; it used to be a compile of every rule plus every live waiter (seconds
//! with 2,000 rules, see `benches/storm.rs`). Matching costs one `is_match` per waiter per
//! new line of its pane (a literal prefilter, typically well under 1 µs), and nothing at all
//! for panes no waiter watches: their lines are not even looked at.

use std::collections::HashMap;

use regex_automata::{
    meta,
    util::syntax::{self, Config as SyntaxConfig},
    PatternID,
};
use regex_syntax::hir::{Class, Hir, HirKind};
use tmux_control_parser::PaneId;
use tokio::sync::{mpsc, oneshot};

/// Upper bound on a run-time pattern's compiled NFA: the `regex` crate's default
/// `size_limit`, as for the rules' own patterns.
const PATTERN_NFA_LIMIT: usize = 10 * (1 << 20);

/// A pattern added at run time, outside the rules file: a `wait-for`, a subscription,
/// a `[[pane]]`'s `ready`/`fail`, or an echo awaited before pressing Enter.
#[derive(Debug)]
pub struct DynamicPattern {
    /// The regex.
    pub pattern: String,
    /// May match the unterminated line (prompts, echoes).
    pub prompt: bool,
    /// Match the rows on the pane's screen instead of its lines (`wait-for --screen`).
    pub screen: bool,
    /// Only this pane; `None` for every pane.
    pub pane: Option<PaneId>,
    /// Where matches go.
    pub sink: DynamicSink,
}

/// Where a dynamic pattern's matches are delivered.
#[derive(Debug)]
pub enum DynamicSink {
    /// The first match (skipping one echo of `skip_echo`, if given) resolves the waiter;
    /// the pattern is then dropped.
    Once {
        /// Resolved with the match.
        tx: oneshot::Sender<DynamicMatch>,
        /// A line containing this text is taken as the echo of what was typed and skipped, once.
        skip_echo: Option<String>,
    },
    /// Every match is sent; the pattern is dropped when the receiver is gone. Bounded:
    /// a subscriber that does not keep up loses matches (counted in `lagged`).
    Stream {
        /// Matches in order.
        tx: mpsc::Sender<DynamicMatch>,
    },
}

impl DynamicSink {
    fn is_closed(&self) -> bool {
        match self {
            DynamicSink::Once { tx, .. } => tx.is_closed(),
            DynamicSink::Stream { tx } => tx.is_closed(),
        }
    }
}

/// A dynamic pattern matching a line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DynamicMatch {
    /// The handle the engine returned when the pattern was added.
    pub id: u64,
    /// The pane.
    pub pane: PaneId,
    /// Its label, if any.
    pub label: Option<String>,
    /// The line as shown.
    pub line: String,
    /// Named groups.
    pub captures: Vec<(String, String)>,
    /// False for a match on the unterminated line.
    pub complete: bool,
    /// Line sequence number in the pane.
    pub seq: u64,
}

/// A run-time pattern that cannot be used, naming it and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("pattern {pattern:?}: {why}")]
pub struct PatternError {
    /// The pattern as given.
    pub pattern: String,
    /// What is wrong with it.
    pub why: PatternProblem,
}

/// What is wrong with a run-time pattern.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PatternProblem {
    /// Not a valid regex (regex-syntax's message).
    #[error("invalid regex: {0}")]
    Syntax(String),
    /// It contains a literal newline, but lines are matched one at a time.
    #[error(
        "pattern contains a literal '\\n' but is matched one line at a time, so it can never match; match the line end with `$` instead"
    )]
    Newline,
    /// Its automaton is over the size limit.
    #[error("compiles to too big an automaton, simplify it: {0}")]
    TooBig(String),
}

/// One run-time pattern's compiled regex, with the rules' syntax and checks: the
/// `regex` crate's syntax, matched one line at a time (`^`/`$` anchor at the line's
/// ends), a literal `'\n'` refused.
///
/// # Example
///
/// ```
/// use ctmuxd::waiters::PatternRegex;
///
/// let re = PatternRegex::new(r"^done in (?P<secs>\d+)s")?;
/// assert!(re.is_match("done in 12s"));
/// assert_eq!(re.captures("done in 12s"), vec![("secs".to_string(), "12".to_string())]);
/// assert!(PatternRegex::new("a\nb").is_err());
/// # Ok::<(), ctmuxd::waiters::PatternError>(())
/// ```
#[derive(Clone, Debug)]
pub struct PatternRegex {
    regex: meta::Regex,
}

impl PatternRegex {
    /// Parses, checks and compiles `pattern`. Call it outside the engine's lock.
    ///
    /// # Errors
    /// [`PatternError`] naming the pattern: invalid syntax, a literal `'\n'`, too big.
    pub fn new(pattern: &str) -> Result<PatternRegex, PatternError> {
        let error = |why| PatternError { pattern: pattern.to_owned(), why };
        let hir = syntax::parse_with(pattern, &SyntaxConfig::new())
            .map_err(|e| error(PatternProblem::Syntax(e.to_string())))?;
        if has_newline(&hir) {
            return Err(error(PatternProblem::Newline));
        }
        let regex = meta::Regex::builder()
            .configure(meta::Config::new().nfa_size_limit(Some(PATTERN_NFA_LIMIT)))
            .build_from_hir(&hir)
            .map_err(|e| error(PatternProblem::TooBig(e.to_string())))?;
        Ok(PatternRegex { regex })
    }

    /// Whether the pattern matches somewhere in `line`.
    pub fn is_match(&self, line: &str) -> bool {
        self.regex.is_match(line)
    }

    /// Named capture groups on `line`, as `(name, value)` pairs in group order; groups
    /// that did not take part are left out, and a line that does not match gives none.
    pub fn captures(&self, line: &str) -> Vec<(String, String)> {
        let re = &self.regex;
        if re.group_info().explicit_slot_len() == 0 {
            return Vec::new();
        }
        let mut caps = re.create_captures();
        re.captures(line, &mut caps);
        if !caps.is_match() {
            return Vec::new();
        }
        re.group_info()
            .pattern_names(PatternID::ZERO)
            .enumerate()
            .filter_map(|(group, name)| {
                let span = caps.get_group(group)?;
                Some((name?.to_string(), line[span.range()].to_string()))
            })
            .collect()
    }
}

/// True when `hir` contains a literal `'\n'` (in a literal, or a class that is exactly
/// `'\n'`), which a line never holds. Same check as the rules' (`text/src/matcher/compile.rs`).
fn has_newline(hir: &Hir) -> bool {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => false,
        HirKind::Literal(lit) => lit.0.contains(&b'\n'),
        HirKind::Class(Class::Unicode(cls)) => {
            matches!(cls.ranges(), [r] if r.start() == '\n' && r.end() == '\n')
        }
        HirKind::Class(Class::Bytes(cls)) => {
            matches!(cls.ranges(), [r] if r.start() == b'\n' && r.end() == b'\n')
        }
        HirKind::Repetition(rep) => has_newline(&rep.sub),
        HirKind::Capture(cap) => has_newline(&cap.sub),
        HirKind::Concat(xs) | HirKind::Alternation(xs) => xs.iter().any(has_newline),
    }
}

/// A run-time pattern compiled and ready to register ([`Waiters::add`]).
#[derive(Debug)]
pub struct Waiter {
    regex: PatternRegex,
    prompt: bool,
    screen: bool,
    pane: Option<PaneId>,
    sink: DynamicSink,
    /// Sequence number of the last line reported (a prompt match on the line being
    /// written is not reported again when it completes, nor at the next feed).
    reported: u64,
}

impl Waiter {
    /// Compiles `pattern`'s regex. Call it outside the engine's lock.
    ///
    /// # Errors
    /// The pattern does not compile (see [`PatternRegex::new`]).
    pub fn compile(pattern: DynamicPattern) -> Result<Waiter, PatternError> {
        let regex = PatternRegex::new(&pattern.pattern)?;
        Ok(Waiter::new(regex, pattern))
    }

    /// A waiter for `pattern` with its regex already compiled (`pattern.pattern` is not
    /// read again).
    pub fn new(regex: PatternRegex, pattern: DynamicPattern) -> Waiter {
        Waiter {
            regex,
            prompt: pattern.prompt,
            screen: pattern.screen,
            pane: pattern.pane,
            sink: pattern.sink,
            reported: 0,
        }
    }

    /// The compiled regex (e.g. to search the ring for `wait-for --since`).
    pub fn regex(&self) -> &PatternRegex {
        &self.regex
    }

    /// Offers one line; false once the waiter is done (resolved, or nobody listens).
    fn offer(&mut self, id: u64, pane: PaneId, label: Option<&str>, line: &Line<'_>) -> bool {
        if line.seq == self.reported || !self.regex.is_match(line.text) {
            return !self.sink.is_closed();
        }
        let make = |re: &PatternRegex| DynamicMatch {
            id,
            pane,
            label: label.map(str::to_string),
            line: line.text.to_string(),
            captures: re.captures(line.text),
            complete: line.complete,
            seq: line.seq,
        };
        match &mut self.sink {
            DynamicSink::Once { tx, skip_echo } => {
                if let Some(echo) = skip_echo.as_deref() {
                    if line.text.contains(echo) {
                        *skip_echo = None;
                        return !tx.is_closed();
                    }
                }
                // Replace the sender with a closed one: the waiter is done.
                let (dead, _) = oneshot::channel();
                let _ = std::mem::replace(tx, dead).send(make(&self.regex));
                false
            }
            DynamicSink::Stream { tx } => {
                self.reported = line.seq;
                match tx.try_send(make(&self.regex)) {
                    Ok(()) => true,
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        tracing::debug!("subscriber {id} is not keeping up; match dropped");
                        true
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => false,
                }
            }
        }
    }
}

/// Which waiters a line is offered to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Offer {
    /// A complete line: every line waiter.
    Lines,
    /// The line being written, at the end of a feed: prompt-style line waiters.
    Prompts,
    /// The line being written, once output paused: line waiters that want one match.
    Paused,
    /// A row of the screen: screen waiters.
    Screen,
}

/// A line offered to the waiters.
struct Line<'a> {
    text: &'a str,
    seq: u64,
    complete: bool,
}

/// The registered waiters, by the pane they watch.
#[derive(Debug, Default)]
pub struct Waiters {
    /// Waiters of one pane (`Some`) or of every pane (`None`), oldest first.
    by_pane: HashMap<Option<PaneId>, Vec<(u64, Waiter)>>,
    /// Where each id is, for removal.
    index: HashMap<u64, Option<PaneId>>,
    next_id: u64,
}

impl Waiters {
    /// No waiters.
    pub fn new() -> Waiters {
        Waiters::default()
    }

    /// Registers `w`; returns its handle (never 0). Compiles nothing.
    pub fn add(&mut self, w: Waiter) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        self.index.insert(id, w.pane);
        self.by_pane.entry(w.pane).or_default().push((id, w));
        id
    }

    /// Removes a waiter: its sink is dropped at once (a subscription's stream ends).
    /// Unknown or finished ids are ignored.
    pub fn remove(&mut self, id: u64) {
        let Some(key) = self.index.remove(&id) else { return };
        if let Some(list) = self.by_pane.get_mut(&key) {
            list.retain(|(i, _)| *i != id);
            if list.is_empty() {
                self.by_pane.remove(&key);
            }
        }
    }

    /// Number of registered waiters.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// True when no waiter is registered.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// True if some waiter watches `pane` (then its new lines must be offered).
    #[inline]
    pub fn watches(&self, pane: PaneId) -> bool {
        !self.by_pane.is_empty()
            && (self.by_pane.contains_key(&Some(pane)) || self.by_pane.contains_key(&None))
    }

    /// Offers a complete line of `pane` to its waiters.
    pub fn on_line(&mut self, pane: PaneId, label: Option<&str>, text: &str, seq: u64) {
        self.offer(pane, label, &Line { text, seq, complete: true }, Offer::Lines);
    }

    /// Output paused: offers the line being written in `pane` (a prompt, a progress
    /// bar's last state) to the waiters that wait for one match, prompt-style or not.
    /// Streams (`subscribe`) are left out: they would see the line again, longer, when
    /// it completes.
    pub fn on_pause(&mut self, pane: PaneId, label: Option<&str>, text: &str, seq: u64) {
        if !text.is_empty() {
            self.offer(pane, label, &Line { text, seq, complete: false }, Offer::Paused);
        }
    }

    /// True if a screen waiter watches `pane`.
    pub fn watches_screen(&self, pane: PaneId) -> bool {
        [Some(pane), None]
            .iter()
            .any(|key| self.by_pane.get(key).is_some_and(|list| list.iter().any(|(_, w)| w.screen)))
    }

    /// Offers the rows `pane` shows to its screen waiters, top to bottom.
    pub fn on_screen(&mut self, pane: PaneId, label: Option<&str>, rows: &[String], seq: u64) {
        for row in rows {
            self.offer(pane, label, &Line { text: row, seq, complete: true }, Offer::Screen);
        }
    }

    /// Offers the line being written in `pane` to its prompt-style waiters.
    pub fn on_partial(&mut self, pane: PaneId, label: Option<&str>, text: &str, seq: u64) {
        if !text.is_empty() {
            self.offer(pane, label, &Line { text, seq, complete: false }, Offer::Prompts);
        }
    }

    fn offer(&mut self, pane: PaneId, label: Option<&str>, line: &Line<'_>, to: Offer) {
        for key in [Some(pane), None] {
            let Some(list) = self.by_pane.get_mut(&key) else { continue };
            let index = &mut self.index;
            list.retain_mut(|(id, w)| {
                let wanted = match to {
                    Offer::Lines => !w.screen,
                    Offer::Prompts => !w.screen && w.prompt,
                    Offer::Paused => !w.screen && matches!(w.sink, DynamicSink::Once { .. }),
                    Offer::Screen => w.screen,
                };
                if !wanted {
                    return true;
                }
                let keep = w.offer(*id, pane, label, line);
                if !keep {
                    index.remove(id);
                }
                keep
            });
            if list.is_empty() {
                self.by_pane.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn once(
        pattern: &str,
        pane: Option<PaneId>,
        prompt: bool,
        skip_echo: Option<&str>,
    ) -> (Waiter, oneshot::Receiver<DynamicMatch>) {
        let (tx, rx) = oneshot::channel();
        let w = Waiter::compile(DynamicPattern {
            pattern: pattern.into(),
            screen: false,
            prompt,
            pane,
            sink: DynamicSink::Once { tx, skip_echo: skip_echo.map(str::to_string) },
        })
        .unwrap();
        (w, rx)
    }

    #[test]
    fn a_waiter_sees_only_its_pane_and_resolves_once() {
        let (p1, p2) = (PaneId(1), PaneId(2));
        let mut ws = Waiters::new();
        let (w, mut rx) = once("^ok", Some(p1), false, None);
        let id = ws.add(w);
        assert!(ws.watches(p1) && !ws.watches(p2));
        ws.on_line(p2, None, "ok other pane", 1);
        assert!(rx.try_recv().is_err());
        ws.on_line(p1, Some("web"), "ok here", 7);
        let m = rx.try_recv().unwrap();
        assert_eq!(
            (m.id, m.pane, m.label.as_deref(), m.seq, m.complete),
            (id, p1, Some("web"), 7, true)
        );
        assert!(ws.is_empty() && !ws.watches(p1), "resolved waiters are dropped");
    }

    #[test]
    fn regex_errors_name_the_pattern() {
        let e = PatternRegex::new("(").unwrap_err();
        assert!(matches!(e.why, PatternProblem::Syntax(_)) && e.to_string().contains("\"(\""));
        let e = PatternRegex::new("a\\nb").unwrap_err();
        assert_eq!(e.why, PatternProblem::Newline);
        assert!(e.to_string().starts_with("pattern \"a\\\\nb\": pattern contains a literal '\\n'"));
        assert!(PatternRegex::new("[\\s]").is_ok(), "classes that include \\n are fine");
    }
}
