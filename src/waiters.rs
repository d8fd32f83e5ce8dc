//! Run-time patterns, apart from the rules: `wait-for`, `send --expect` (and the echo
//! awaited before Enter, the prompt awaited by `send --wait-ready`), `subscribe`, a
//! `[[pane]]`'s `ready`/`fail`; and [`Echo`], which tells the echo of typed text from the
//! output that answers it.
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

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, OnceLock};

use regex_automata::{
    meta,
    util::syntax::{self, Config as SyntaxConfig},
    PatternID,
};
use regex_syntax::hir::{Class, Hir, HirKind};
use tmux_control_parser::PaneId;
use tokio::sync::{mpsc, oneshot, watch};

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
    /// The first match (not counting the echo of `skip_echo`, if given) resolves the
    /// waiter; the pattern is then dropped.
    Once {
        /// Resolved with the match.
        tx: oneshot::Sender<DynamicMatch>,
        /// What a `send` typed: the lines that are its echo are never matched.
        skip_echo: Option<Echo>,
    },
    /// Every line offered is counted, and whether the line being written matched:
    /// `send` waiting for its echo before Enter, or for a prompt (`--wait-ready`). The
    /// pattern is dropped when the receiver is gone.
    Watch {
        /// Updated at each line offered; never blocks (a `watch` keeps the last value).
        tx: watch::Sender<Progress>,
    },
    /// Every match is sent; the pattern is dropped when the receiver is gone. Bounded:
    /// a subscriber that does not keep up loses matches (counted in `lagged`).
    Stream {
        /// Matches in order.
        tx: mpsc::Sender<DynamicMatch>,
    },
}

impl DynamicSink {
    /// True when `line` is the echo of what a `send` typed (see [`Echo`]).
    fn skips(&mut self, line: &Line<'_>) -> bool {
        match self {
            DynamicSink::Once { skip_echo: Some(echo), .. } => {
                echo.skip(line.text, line.seq, line.complete)
            }
            _ => false,
        }
    }

    fn is_closed(&self) -> bool {
        match self {
            DynamicSink::Once { tx, .. } => tx.is_closed(),
            DynamicSink::Stream { tx } => tx.is_closed(),
            DynamicSink::Watch { tx } => tx.is_closed(),
        }
    }
}

/// What a [`DynamicSink::Watch`] saw of a pane.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Lines offered so far (complete ones, and the line being written at the end of each
    /// feed and at each pause): the pane printed when this grows.
    pub offers: u64,
    /// The pattern matched the line being written (the one under the cursor) at least once.
    pub seen: bool,
}

/// Text a `send` typed into a pane, and where: tells the echo of it from the output that
/// answers it.
///
/// The echo of a line of typed text is the line the program was writing when the text
/// was typed (its prompt), extended by the text *at the cursor*: the line with the
/// sequence number of the line being written at that moment, which starts with what that
/// line showed then, followed by the typed text (blanks between ignored). Any other line,
/// even one containing the typed text (`42` answering `42`, `got secret` after a `read
/// -s`), is output. For text of several lines, each further line's echo is the first line
/// after the previous echo that contains it. A program that does not echo leaves nothing
/// to skip. Until the moment of typing is known ([`EchoAnchor::set`]), every line is
/// output printed before the text was typed, and is skipped too.
///
/// # Example
///
/// ```
/// use ctmuxd::waiters::Echo;
///
/// // `42` typed at python's prompt, the line being written (number 7) was `>>> `.
/// let mut echo = Echo::new("42", 7, ">>> ");
/// assert!(echo.skip(">>> 42", 7, true), "the prompt line with the text is the echo");
/// assert!(!echo.skip("42", 8, true), "the answer is output, though it contains `42`");
///
/// // A password typed at `Password: ` is not echoed; the program then prints it.
/// let mut echo = Echo::new("secret", 3, "Password: ");
/// assert!(!echo.skip("Password: got secret", 3, true));
/// ```
#[derive(Clone, Debug)]
pub struct Echo {
    /// Where the text was typed: set once, when tmux took the first key.
    anchor: EchoAnchor,
    /// The typed lines whose echo has not been seen yet, [`squash`]ed.
    typed: VecDeque<String>,
    /// For a bracketed paste: the typed lines again, for the program's redraw of them on
    /// Enter (readline takes the paste's highlight off by drawing it again).
    redraw: VecDeque<String>,
    /// Sequence number of the last echo seen; 0 before the first.
    last: u64,
    /// Text typed ahead (nothing was shown when it was typed) that the terminal echoed
    /// where the cursor was: the program may echo it again right after, behind its prompt.
    again: Option<String>,
}

/// Where a `send`'s text was typed: the sequence number of the line the pane was writing
/// and what it showed then. Shared by the [`Echo`] registered before the keys are sent and
/// whoever learns when tmux took them: the first key's reply, read in order with the
/// pane's output (what tmux read from the pane before the keys is in the pane's lines by
/// then, and their echo is not).
#[derive(Clone, Debug, Default)]
pub struct EchoAnchor(Arc<OnceLock<(u64, String)>>);

impl EchoAnchor {
    /// The pane was writing line `seq`, showing `before`. Only the first call counts.
    pub fn set(&self, seq: u64, before: &str) {
        let _ = self.0.set((seq, squash(before)));
    }
}

impl Echo {
    /// The echo of `text` typed when the pane was writing line `seq`, which showed `before`.
    pub fn new(text: &str, seq: u64, before: &str) -> Echo {
        let echo = Echo::pending(text, false);
        echo.anchor.set(seq, before);
        echo
    }

    /// The echo of `text`, typed where [`Echo::anchor`] will say (set it when tmux has
    /// taken the first key, before the program can answer). `pasted`: sent as a bracketed
    /// paste, so the lines right after the echo that show the text again from their start
    /// (the program drew it again, as readline does on Enter) are its echo too.
    pub fn pending(text: &str, pasted: bool) -> Echo {
        let typed: VecDeque<String> = text
            .split(['\n', '\r'])
            .enumerate()
            .filter(|(i, l)| *i == 0 || !l.trim().is_empty())
            .map(|(_, l)| squash(l))
            .collect();
        let redraw = if pasted { typed.clone() } else { VecDeque::new() };
        Echo { anchor: EchoAnchor::default(), typed, redraw, last: 0, again: None }
    }

    /// Where the text was typed, to set when it is.
    pub fn anchor(&self) -> &EchoAnchor {
        &self.anchor
    }

    /// Whether `line` (number `seq`; `complete` false for the line being written) is
    /// the echo of typed text, so that no pattern may match it. The line being written at
    /// send time, while it shows what it showed then or part of the text, counts as its
    /// echo too: it is not output that came after the send. A complete echo is skipped
    /// once: the next typed line is looked for after it.
    pub fn skip(&mut self, line: &str, seq: u64, complete: bool) -> bool {
        if self.typed.is_empty() && self.redraw.is_empty() && self.again.is_none() {
            return false;
        }
        let Some((at, before)) = self.anchor.0.get() else {
            // Printed before the text was typed: not an answer to it.
            return true;
        };
        let line = squash(line);
        if let Some(want) = &self.again {
            let echo = seq == self.last + 1 && (line.ends_with(want.as_str()) || !complete);
            if complete || !echo {
                self.again = None;
            }
            if echo {
                if complete {
                    self.last = seq;
                }
                return true;
            }
            if self.typed.is_empty() && self.redraw.is_empty() {
                return false;
            }
        }
        let echo = if let Some(want) = self.typed.front() {
            if self.last == 0 {
                // The first line: the one being written when the text was typed, the text
                // at its cursor.
                let rest = match line.strip_prefix(before.as_str()) {
                    Some(rest) if seq == *at => rest.trim_start(),
                    _ => return false,
                };
                let at_cursor = rest.starts_with(want.as_str())
                    // Still being written: as it was at send time, or part of the text.
                    || (!complete && want.starts_with(rest));
                // Nothing was shown when the text was sent: the program may draw its
                // prompt first, and the text after it, at the end of the line.
                at_cursor || (before.is_empty() && rest.ends_with(want.as_str()))
            } else {
                seq > self.last && line.contains(want.as_str())
            }
        } else {
            // A redraw comes at once, each line from its start; anything else ends it.
            let want = self.redraw.front().map_or("", String::as_str);
            let echo = seq == self.last + 1
                && (line.starts_with(want) || (!complete && want.starts_with(line.as_str())));
            if !echo && complete {
                self.redraw.clear();
            }
            echo
        };
        if echo && complete {
            match self.typed.pop_front() {
                Some(first) if self.last == 0 && before.is_empty() => self.again = Some(first),
                Some(_) => {}
                None => {
                    self.redraw.pop_front();
                }
            }
            self.last = seq;
        }
        echo
    }
}

/// `s` with blanks at both ends trimmed and each run of blanks inside made one space:
/// programs show a typed tab as spaces, and may pad or trim.
fn squash(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
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
        // Every line goes past the echo tracker, matching or not: it follows the typed
        // lines in order.
        if self.sink.skips(line) {
            return !self.sink.is_closed();
        }
        if let DynamicSink::Watch { tx } = &self.sink {
            let seen = !line.complete && self.regex.is_match(line.text);
            tx.send_modify(|p| {
                p.offers += 1;
                p.seen |= seen;
            });
            return !tx.is_closed();
        }
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
            DynamicSink::Once { tx, .. } => {
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
            // Counted above, never resolved by a match.
            DynamicSink::Watch { tx } => !tx.is_closed(),
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
                    Offer::Paused => {
                        !w.screen
                            && matches!(
                                w.sink,
                                DynamicSink::Once { .. } | DynamicSink::Watch { .. }
                            )
                    }
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
        skip_echo: Option<Echo>,
    ) -> (Waiter, oneshot::Receiver<DynamicMatch>) {
        let (tx, rx) = oneshot::channel();
        let w = Waiter::compile(DynamicPattern {
            pattern: pattern.into(),
            screen: false,
            prompt,
            pane,
            sink: DynamicSink::Once { tx, skip_echo },
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

    #[test]
    fn the_echo_is_the_line_being_written_at_send_time_extended_by_the_text() {
        // python: `42` typed at `>>> ` (line 5 being written); the answer is `42`.
        let mut ws = Waiters::new();
        let (w, mut rx) = once("^42$", None, false, Some(Echo::new("42", 5, ">>> ")));
        ws.add(w);
        let p = PaneId(1);
        ws.on_pause(p, None, ">>> 4", 5);
        ws.on_pause(p, None, ">>> 42", 5);
        ws.on_line(p, None, ">>> 42", 5);
        assert!(rx.try_recv().is_err(), "the echo is skipped");
        ws.on_line(p, None, "42", 6);
        assert_eq!(rx.try_recv().unwrap().line, "42", "the answer is not taken for the echo");
    }

    #[test]
    fn a_line_containing_the_text_elsewhere_is_output() {
        // `read -s` does not echo: the program's answer completes the prompt line.
        let mut e = Echo::new("secret", 3, "Password: ");
        assert!(e.skip("Password: ", 3, false), "the prompt as it was is not new output");
        assert!(!e.skip("Password: got secret", 3, true));
        // A later line containing the text, before any echo, is output too.
        let mut e = Echo::new("echo DONE", 2, "$ ");
        assert!(!e.skip("echo DONE", 3, true));
        // Text typed before the program drew its prompt: echoed by the tty at column 0,
        // or by the program after its prompt.
        let mut e = Echo::new("echo DONE", 1, "");
        assert!(e.skip("echo DONE", 1, true));
        assert!(!e.skip("DONE", 2, true), "skipped once");
        let mut e = Echo::new("echo DONE", 1, "");
        assert!(e.skip("$ echo DONE", 1, true));
        // Typed while the shell ran a command: the terminal echoes it, then the shell
        // again behind its prompt (the line overwritten after a carriage return).
        let mut e = Echo::new("echo DONE", 4, "");
        assert!(e.skip("echo DONE", 4, true));
        assert!(e.skip("$ echo DO", 5, false));
        assert!(e.skip("$ echo DONE", 5, true));
        assert!(!e.skip("DONE", 6, true));
    }

    #[test]
    fn each_typed_line_is_skipped_once_where_it_shows_after_the_previous_one() {
        let mut e = Echo::new("print(1)\nprint(2)\n", 4, ">>>");
        assert!(e.skip(">>> print(1)", 4, true));
        assert!(!e.skip("1", 5, true));
        assert!(e.skip(">>> print(2)", 6, true));
        assert!(!e.skip(">>> print(2)", 7, true), "once");
        assert!(!e.skip("2", 8, true));
    }

    #[test]
    fn a_bracketed_paste_drawn_again_on_enter_is_skipped_then_output_is_not() {
        // bash 5.2 after a paste of two lines and Enter (the tab shown as spaces).
        let mut e = Echo::pending("x='a\tb\nc'\n", true);
        assert!(e.skip("c'", 2, true), "printed before the keys: skipped");
        e.anchor().set(3, "$ ");
        assert!(e.skip("$ x='a  b", 3, true));
        assert!(e.skip("c'", 4, false));
        assert!(e.skip("c'", 4, true));
        assert!(e.skip("x='a  b", 5, true), "drawn again");
        assert!(e.skip("c'", 6, true));
        assert!(!e.skip("c'", 7, true), "output");
        // No redraw (readline's active region off): the first output line is output.
        let mut e = Echo::pending("42", true);
        e.anchor().set(3, ">>> ");
        assert!(e.skip(">>> 42", 3, true));
        assert!(!e.skip("43", 4, true));
        assert!(!e.skip("42", 5, true));
    }

    #[test]
    fn a_watch_counts_every_line_and_sees_the_pattern_only_in_the_line_being_written() {
        let (tx, rx) = watch::channel(Progress::default());
        let w = Waiter::compile(DynamicPattern {
            pattern: r"[$#>%] ?$".into(),
            screen: false,
            prompt: true,
            pane: Some(PaneId(1)),
            sink: DynamicSink::Watch { tx },
        })
        .unwrap();
        let mut ws = Waiters::new();
        ws.add(w);
        ws.on_line(PaneId(1), None, "100%", 1);
        assert_eq!(*rx.borrow(), Progress { offers: 1, seen: false });
        ws.on_partial(PaneId(1), None, "$ ", 2);
        ws.on_pause(PaneId(1), None, "$ ", 2);
        assert_eq!(*rx.borrow(), Progress { offers: 3, seen: true });
        drop(rx);
        ws.on_line(PaneId(1), None, "x", 2);
        assert!(ws.is_empty(), "dropped once nobody watches");
    }
}
