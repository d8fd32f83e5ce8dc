//! [`PaneMatcher`]: one pane's incremental matching state. It owns a lazy-DFA cache
//! and the current state id, and advances over each text byte of the line being
//! written at most once, however the text was chunked. At the line end it follows
//! the EOI transition and reports the patterns that matched the line.
//!
//! With a line gate (`gate.rs`) a line is not walked as it arrives: at its end (or
//! at a prompt peek, for the line so far) the gate looks for the patterns'
//! literals, and only a line holding one is walked, from its start, exactly as an
//! ungated line would have been. A line the gate refuses cannot match any pattern.
//! A per-pane tally switches the gate off while it admits most lines.
//!
//! This is the recipe of `shared/engine-notes.md` §2.6: an unanchored start state
//! with no look-behind at each line start (so `^`/`$` are line anchors), matches read
//! one byte late, a guarded EOI peek for prompt patterns, progress reported to the
//! cache so the give-up heuristic works, and the per-line `meta::Regex` fallback
//! (`fallback.rs`) when the DFA gives up or quits.

use std::sync::Arc;

use regex_automata::{
    hybrid::{dfa::Cache, LazyStateID},
    util::start,
    Anchored,
};

use super::{
    accel::{Accel, Skip},
    fallback::RETRY_AFTER_LINES,
    Matcher, PatternId,
};

/// Per-pattern mark on the current line: not matched yet.
const UNSEEN: u8 = 0;
/// Matched the line so far, not reported yet (reported at the line end).
const MATCHED: u8 = 1;
/// Already reported for this line (a prompt peek); never reported again.
const REPORTED: u8 = 2;

/// Where the DFA is on the current line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LineState {
    /// Nothing walked yet; the start state is fetched on first use.
    Start,
    /// `sid` is the state after the last scanned byte.
    Scanning,
    /// The DFA is dead: no pattern can match more of this line.
    Done,
    /// The DFA quit (non-ASCII byte with a Unicode `\b` pattern): match this line
    /// with `meta::Regex` at its end.
    Quit,
}

/// How [`PaneMatcher::walk_from`] ended.
enum Walk {
    /// The text is walked (or the line is settled: dead, quit, gave up).
    Done,
    /// The cache was cleared, so the idle state id is stale; the text from this
    /// index on still has to be walked, without acceleration.
    Cleared(usize),
}

/// Which engine the pane uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// The lazy DFA, byte by byte.
    Dfa,
    /// The DFA gave up (cache thrash): `meta::Regex` per completed line for this
    /// many more lines, then the DFA again with a fresh cache.
    Fallback { lines_left: u32 },
}

/// Per-pane incremental matching state: owns its lazy-DFA [`Cache`] and current
/// state id. Advances over each text byte exactly once; falls back to `meta::Regex`
/// per line if the DFA gives up.
///
/// The caller owns the line text (the pane's ring buffer) and passes the whole line
/// so far to [`PaneMatcher::scan`]; only the bytes after the last scanned offset are
/// walked. A `PaneMatcher` must never share its cache with another pane: a cache
/// clear caused by one would invalidate the other's state id.
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use ctmuxd_text::matcher::{Matcher, PaneMatcher, PatternSpec};
///
/// let m = Arc::new(Matcher::new(&[PatternSpec::line(r"done in \d+s$")])?);
/// let mut pm = PaneMatcher::new(m);
/// let mut hits = Vec::new();
/// pm.scan("build done");   // first chunk of the line
/// pm.scan("build done in 12s"); // the line grew; only " in 12s" is walked
/// pm.end_line("build done in 12s", &mut hits);
/// assert_eq!(hits, vec![0]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct PaneMatcher {
    /// The rule set; shared, immutable.
    matcher: Arc<Matcher>,
    /// This pane's DFA scratch space. Grows up to `MatcherOptions::cache_capacity`;
    /// when it fills the DFA clears it, and when clears come too often the DFA gives
    /// up and the pane switches to [`Mode::Fallback`].
    cache: Cache,
    /// Current state on the current line; meaningful only in `LineState::Scanning`.
    sid: LazyStateID,
    /// The unanchored line-start state, cached with the clear count it belongs to.
    start: Option<(LazyStateID, usize)>,
    /// The idle state and its skip for one cache generation (`accel.rs`); `None`
    /// until the first line start of this cache.
    accel: Option<Accel>,
    /// Bytes of the current line already walked.
    scanned: usize,
    line: LineState,
    mode: Mode,
    /// One mark per pattern (`UNSEEN`/`MATCHED`/`REPORTED`) for the current line.
    marks: Vec<u8>,
    /// The patterns whose mark is not `UNSEEN`: clearing costs O(matches), not
    /// O(patterns).
    touched: Vec<PatternId>,
    /// Bytes walked since this cache was created: the progress the cache's
    /// bytes-per-state heuristic needs (`Cache::search_update`).
    pos: usize,
    /// How many times the DFA gave up on this pane.
    give_ups: u64,
    /// The line gate is in use on this pane (the matcher has one, and it has not
    /// been switched off for admitting too many lines: [`GateTally`]).
    gate_on: bool,
    /// The gate let the current line through (or the gate is off): its bytes are
    /// walked as they arrive.
    admitted: bool,
    /// Bytes of the current line the gate already found no literal in (a prompt
    /// peek looked at the line so far): the next look starts just before them, so a
    /// long unterminated line fed in small pieces is not scanned again and again.
    refused_upto: usize,
    /// The gate's admission rate on this pane.
    tally: GateTally,
}

/// Lines per decision of [`GateTally`].
const GATE_WINDOW: u32 = 4096;

/// How many windows the gate stays off before it is tried again.
const GATE_OFF_WINDOWS: u32 = 16;

/// Counts the lines the gate admits and switches it off for a while when it admits
/// so many that scanning for literals costs more than it saves.
///
/// PERF: a line the gate admits is read twice (prefilter, then the DFA walk), one
/// it refuses once and only by the prefilter. The prefilter reads text several
/// times faster than the DFA walks it, so the gate pays while it refuses more than
/// a quarter of the lines; above three quarters admitted, the pane walks every
/// line for `GATE_OFF_WINDOWS` windows and then measures again.
#[derive(Clone, Copy, Debug, Default)]
struct GateTally {
    /// Lines ended in this window.
    lines: u32,
    /// Of those, lines the gate admitted.
    admitted: u32,
    /// Lines refused by the gate since the pane started: never walked.
    refused_total: u64,
}

impl GateTally {
    /// Counts one ended line; returns whether the gate should be on for the next.
    fn line(&mut self, gate_on: bool, admitted: bool) -> bool {
        self.lines += 1;
        if gate_on {
            self.admitted += u32::from(admitted);
            self.refused_total += u64::from(!admitted);
            if self.lines < GATE_WINDOW {
                return true;
            }
            let keep = u64::from(self.admitted) * 4 <= u64::from(self.lines) * 3;
            *self = GateTally { refused_total: self.refused_total, ..GateTally::default() };
            keep
        } else if self.lines >= GATE_WINDOW * GATE_OFF_WINDOWS {
            *self = GateTally { refused_total: self.refused_total, ..GateTally::default() };
            true
        } else {
            false
        }
    }
}

impl PaneMatcher {
    /// A fresh per-pane state for `matcher`, at the start of a line.
    pub fn new(matcher: Arc<Matcher>) -> PaneMatcher {
        let mut cache = matcher.dfa.create_cache();
        cache.search_start(0);
        let n = matcher.len();
        PaneMatcher {
            cache,
            sid: LazyStateID::default(),
            start: None,
            accel: None,
            scanned: 0,
            line: LineState::Start,
            mode: Mode::Dfa,
            marks: vec![UNSEEN; n],
            touched: Vec::new(),
            pos: 0,
            give_ups: 0,
            gate_on: matcher.gate.is_some(),
            admitted: matcher.gate.is_none(),
            refused_upto: 0,
            tally: GateTally::default(),
            matcher,
        }
    }

    /// The rule set in use.
    pub fn matcher(&self) -> &Arc<Matcher> {
        &self.matcher
    }

    /// Swaps in a new rule set. The line being written is matched against the new
    /// rules from its start at the next [`scan`](PaneMatcher::scan); a prompt that
    /// fired on it under the old rules may fire again under the new ones.
    pub fn set_matcher(&mut self, matcher: Arc<Matcher>) {
        *self = PaneMatcher { give_ups: self.give_ups, ..PaneMatcher::new(matcher) };
    }

    /// True while the pane uses the per-line `meta::Regex` fallback because its
    /// lazy DFA gave up.
    pub fn is_fallback(&self) -> bool {
        matches!(self.mode, Mode::Fallback { .. })
    }

    /// How many times this pane's DFA gave up (cache thrash) since it was created.
    pub fn give_ups(&self) -> u64 {
        self.give_ups
    }

    /// How many times this pane's DFA cache was cleared since it was last created.
    pub fn cache_clears(&self) -> usize {
        self.cache.clear_count()
    }

    /// Lines the line gate refused since this pane started: lines holding none of
    /// the patterns' literals, which the DFA never walked.
    pub fn gated_lines(&self) -> u64 {
        self.tally.refused_total
    }

    /// Heap bytes held by this pane's DFA cache (bounded by the cache capacity).
    pub fn cache_memory(&self) -> usize {
        self.cache.memory_usage()
    }

    /// Walks the bytes of `line` after the ones already scanned. `line` is the whole
    /// current line so far: each call must pass the previous text plus what was
    /// appended (see [`PaneMatcher::line_edited`] for anything else).
    pub fn scan(&mut self, line: &str) {
        if !self.admitted {
            // The gate decides on the whole line at its end (or at a prompt peek).
            return;
        }
        let bytes = line.as_bytes();
        let Some(new) = bytes.get(self.scanned..) else { return };
        if new.is_empty() {
            return;
        }
        self.scanned = bytes.len();
        if self.mode != Mode::Dfa {
            return;
        }
        match self.line {
            LineState::Start => {
                if self.begin_dfa_line() {
                    self.walk(new);
                }
            }
            LineState::Scanning => self.walk(new),
            LineState::Done | LineState::Quit => {}
        }
    }

    /// The current line was shortened to `new_len` bytes (a backspace). If that cut
    /// into text already scanned, the line is matched again from its start at the
    /// next scan (the only case where a line is rescanned); reported prompt matches
    /// stay reported.
    pub fn line_edited(&mut self, new_len: usize) {
        self.refused_upto = self.refused_upto.min(new_len);
        if new_len >= self.scanned {
            return;
        }
        self.scanned = 0;
        self.line = LineState::Start;
        let marks = &mut self.marks;
        self.touched.retain(|&p| {
            if marks[p] == MATCHED {
                marks[p] = UNSEEN;
                false
            } else {
                true
            }
        });
    }

    /// Ends the current line (whose whole text is `line`): writes into `out`
    /// (cleared first, ascending) every pattern that matched it and was not already
    /// reported by a prompt peek, then starts a new line.
    pub fn end_line(&mut self, line: &str, out: &mut Vec<PatternId>) {
        out.clear();
        self.admit(line);
        if self.admitted {
            self.scan(line);
            if self.mode == Mode::Dfa && self.line == LineState::Start {
                self.begin_dfa_line();
            }
            if self.mode == Mode::Dfa && self.line == LineState::Scanning {
                self.cache.search_update(self.pos);
                match self.matcher.dfa.next_eoi_state(&mut self.cache, self.sid) {
                    Ok(eoi) => self.record(eoi),
                    Err(_) => self.give_up(),
                }
            }
            if self.mode != Mode::Dfa || self.line == LineState::Quit {
                let (marks, touched) = (&mut self.marks, &mut self.touched);
                self.matcher.fallback_line(line, |p| mark(marks, touched, p));
            }
        }
        // A widened pattern's DFA match is only a candidate (`compile.rs`).
        let mut ascii = None;
        for &p in &self.touched {
            if self.marks[p] == MATCHED && self.matcher.confirms(p, line, &mut ascii) {
                out.push(p);
            }
            self.marks[p] = UNSEEN;
        }
        self.touched.clear();
        out.sort_unstable();
        if let Mode::Fallback { lines_left } = &mut self.mode {
            *lines_left = lines_left.saturating_sub(1);
            if *lines_left == 0 {
                self.mode = Mode::Dfa;
                self.cache.search_start(self.pos);
            }
        }
        self.scanned = 0;
        self.line = LineState::Start;
        self.gate_on = self.tally.line(self.gate_on, self.admitted) && self.matcher.gate.is_some();
        self.admitted = !self.gate_on;
        self.refused_upto = 0;
    }

    /// Lets the gate look at the line so far if it has not admitted it yet: a line
    /// holding one of the literals is admitted and from then on walked like any
    /// line (from its start, at the next [`scan`](PaneMatcher::scan)); one holding
    /// none stays unwalked, since no pattern can match it.
    fn admit(&mut self, line: &str) {
        if self.admitted {
            return;
        }
        if let Some(gate) = &self.matcher.gate {
            let bytes = line.as_bytes();
            let from = self.refused_upto.saturating_sub(gate.longest().saturating_sub(1));
            self.admitted = gate.admits(bytes.get(from..).unwrap_or(bytes));
            if !self.admitted {
                self.refused_upto = bytes.len();
            }
        }
    }

    /// Checks the prompt patterns against the unterminated `line` (the whole line so
    /// far) and writes into `out` (cleared first, ascending) those that match it and
    /// were not reported for this line yet. They are then marked reported, so the
    /// line's end does not report them again. Non-prompt patterns are never reported
    /// here: `\d+$` would fire on the "12" of a line that ends up "123x".
    pub fn peek_prompts(&mut self, line: &str, out: &mut Vec<PatternId>) {
        out.clear();
        if self.matcher.prompt_ids.is_empty() || line.is_empty() {
            return;
        }
        // A prompt pattern matches the line so far only if one of its literals is
        // in it already.
        self.admit(line);
        if !self.admitted {
            return;
        }
        self.scan(line);
        if self.mode == Mode::Dfa && self.line == LineState::Start {
            self.begin_dfa_line();
        }
        if self.mode == Mode::Dfa && self.line == LineState::Scanning {
            self.peek_dfa(line);
        }
        if self.mode != Mode::Dfa || self.line == LineState::Quit {
            for i in 0..self.matcher.prompt_ids.len() {
                let p = self.matcher.prompt_ids[i];
                if self.marks[p] != REPORTED && self.matcher.fallback_prompt(p, line) {
                    mark(&mut self.marks, &mut self.touched, p);
                }
            }
        }
        // A candidate the real regex refuses stays `MATCHED`: it is confirmed
        // again at the next peek and at the line end, on the longer line.
        let mut ascii = None;
        for &p in &self.touched {
            if self.marks[p] == MATCHED
                && self.matcher.is_prompt(p)
                && self.matcher.confirms(p, line, &mut ascii)
            {
                self.marks[p] = REPORTED;
                out.push(p);
            }
        }
        out.sort_unstable();
    }

    /// The EOI peek: reads the matches of the EOI state but keeps `sid`. The EOI
    /// transition may clear the cache, which invalidates `sid`; then the line is
    /// walked again from its start to rebuild it (engine-notes step 9).
    fn peek_dfa(&mut self, line: &str) {
        let clears = self.cache.clear_count();
        self.cache.search_update(self.pos);
        let eoi = match self.matcher.dfa.next_eoi_state(&mut self.cache, self.sid) {
            Ok(eoi) => eoi,
            Err(_) => return self.give_up(),
        };
        if eoi.is_match() {
            let dfa = &self.matcher.dfa;
            for i in 0..dfa.match_len(&self.cache, eoi) {
                let p = dfa.match_pattern(&self.cache, eoi, i).as_usize();
                if self.matcher.is_prompt(p) {
                    mark(&mut self.marks, &mut self.touched, p);
                }
            }
        }
        if self.cache.clear_count() != clears {
            self.line = LineState::Start;
            if self.begin_dfa_line() {
                self.walk(line.as_bytes());
            }
        }
    }

    /// Puts the DFA on the line-start state; false if it gave up doing so. Also
    /// (re)computes the idle-state acceleration when the cache generation changed.
    fn begin_dfa_line(&mut self) -> bool {
        let Some(mut sid) = self.line_start() else { return false };
        let clears = self.cache.clear_count();
        if self.accel.as_ref().is_none_or(|a| a.generation != clears) {
            self.accel = Some(Accel::compute(&self.matcher.dfa, &mut self.cache, sid));
            if self.cache.clear_count() != clears {
                // The computation cleared the cache: `sid` is stale.
                let Some(fresh) = self.line_start() else { return false };
                sid = fresh;
            }
        }
        self.sid = sid;
        self.line = LineState::Scanning;
        if sid.is_tagged() {
            self.arrive(sid);
        }
        self.line == LineState::Scanning
    }

    /// The unanchored line-start state of the current cache generation; `None` if
    /// the DFA gave up fetching it.
    fn line_start(&mut self) -> Option<LazyStateID> {
        let clears = self.cache.clear_count();
        if let Some((sid, c)) = self.start {
            if c == clears {
                return Some(sid);
            }
        }
        // `look_behind(None)` = start of haystack: every line is searched as its own
        // haystack, so `^` and `$` anchor at the line's ends.
        let cfg = start::Config::new().anchored(Anchored::No);
        match self.matcher.dfa.start_state(&mut self.cache, &cfg) {
            Ok(sid) => {
                self.start = Some((sid, self.cache.clear_count()));
                Some(sid)
            }
            Err(_) => {
                self.give_up();
                None
            }
        }
    }

    /// Reacts to arriving in a tagged state outside the hot loop.
    fn arrive(&mut self, sid: LazyStateID) {
        if sid.is_match() {
            self.record(sid);
        } else if sid.is_dead() {
            self.line = LineState::Done;
        } else if sid.is_quit() {
            self.line = LineState::Quit;
        }
    }

    /// Marks every pattern of match state `sid`.
    fn record(&mut self, sid: LazyStateID) {
        if !sid.is_match() {
            return;
        }
        let dfa = &self.matcher.dfa;
        for i in 0..dfa.match_len(&self.cache, sid) {
            mark(
                &mut self.marks,
                &mut self.touched,
                dfa.match_pattern(&self.cache, sid, i).as_usize(),
            );
        }
    }

    /// Walks `text` from `self.sid` (line state `Scanning`), with the idle-state
    /// skip while the acceleration belongs to the current cache generation.
    fn walk(&mut self, text: &[u8]) {
        let base = self.pos;
        let mut accel = self.accel.take();
        let mut at = 0;
        if let Some(a @ Accel { idle: Some(_), .. }) = &mut accel {
            if let (Some((idle, skip)), true) = (&a.idle, a.generation == self.cache.clear_count())
            {
                let (walk, calls, skipped) =
                    self.walk_from::<true>(text, base, 0, (a.generation, *idle, skip));
                a.tally(calls, skipped);
                match walk {
                    Walk::Done => at = text.len() + 1,
                    Walk::Cleared(resume) => at = resume,
                }
            }
        }
        if at <= text.len() {
            // No acceleration, or the cache was cleared mid-walk (the idle id is
            // stale): the rest without it. The ids are unused when `ACCEL` is false.
            self.walk_from::<false>(text, base, at, (0, LazyStateID::default(), &Skip::All));
        }
        // A give-up made a new cache; its generation count restarts, so the old
        // acceleration must not come back.
        if self.mode == Mode::Dfa {
            self.accel = accel;
        }
    }

    /// The hot loop: walks `text[at..]` from `self.sid`; `text[0]` is byte `base`
    /// of the cache's progress count. With `ACCEL`, `idle` is `(generation, idle
    /// state, skip)` of the current generation: in the idle state the walk jumps to
    /// the next stop byte, and if a checked transition clears the cache the walk
    /// stops and returns where the rest must continue without it.
    ///
    /// PERF: the inner loop is regex-automata's `hybrid/search.rs::find_fwd_imp`
    /// unrolled by four over `next_state_untagged_unchecked`, leaving it only for a
    /// tagged id (match, dead, quit, unknown) or, with `ACCEL`, the idle state.
    /// Measured (benches/matcher.rs `matcher_only`, 3.4 MB of stripped log, 2-core
    /// VM, same run): the checked `next_state_untagged` gave 656/643/550 MiB/s with
    /// 1/16/256 rules, the unchecked one 685/684/568 MiB/s. Only ~4%: the loop is
    /// bound by the latency of the dependent transition-table load (perf annotate:
    /// ~80% of its cycles wait on that load), not by the bounds checks or the rule
    /// count. The idle skip is what removes that chain (see `accel.rs`).
    fn walk_from<const ACCEL: bool>(
        &mut self,
        text: &[u8],
        base: usize,
        mut at: usize,
        (generation, idle, skip): (usize, LazyStateID, &Skip),
    ) -> (Walk, u32, usize) {
        let dfa = &self.matcher.dfa;
        let cache = &mut self.cache;
        let end = text.len();
        let mut sid = self.sid;
        let mut outcome = LineState::Scanning;
        let (mut calls, mut skipped) = (0, 0);
        while at < end {
            if ACCEL && sid == idle {
                // Every byte before the next stop byte maps idle to idle: consumed.
                match skip.find(&text[at..]) {
                    Some(i) => {
                        // Only skips that end at a stop byte count as calls: one
                        // that runs to the end of the text is cut by the chunk, not
                        // by the stop set.
                        calls += 1;
                        skipped += i;
                        at += i;
                    }
                    None => {
                        skipped += end - at;
                        break;
                    }
                }
            }
            if sid.is_tagged() {
                // Only a match state can be current here: dead and quit end the walk
                // and an unknown id is never kept.
                cache.search_update(base + at);
                sid = match dfa.next_state(cache, sid, text[at]) {
                    Ok(s) => s,
                    Err(_) => {
                        self.pos = base + at;
                        self.give_up();
                        return (Walk::Done, calls, skipped);
                    }
                };
            } else {
                let mut prev = sid;
                while at < end {
                    // SAFETY (all four steps): the state id passed in came from this
                    // DFA and this cache, it is the most recent id returned for the
                    // cache (no call that could clear it ran in between), and it is
                    // untagged (checked right after it was produced, or on entry).
                    // `at`, `at + 1`, `at + 2` and `at + 3` are below `end`: the
                    // first step breaks out when `at + 3 >= end`.
                    prev = unsafe { dfa.next_state_untagged_unchecked(cache, sid, byte(text, at)) };
                    if prev.is_tagged() || (ACCEL && prev == idle) || at + 3 >= end {
                        std::mem::swap(&mut prev, &mut sid);
                        break;
                    }
                    at += 1;
                    sid = unsafe { dfa.next_state_untagged_unchecked(cache, prev, byte(text, at)) };
                    if sid.is_tagged() || (ACCEL && sid == idle) {
                        break;
                    }
                    at += 1;
                    prev = unsafe { dfa.next_state_untagged_unchecked(cache, sid, byte(text, at)) };
                    if prev.is_tagged() || (ACCEL && prev == idle) {
                        std::mem::swap(&mut prev, &mut sid);
                        break;
                    }
                    at += 1;
                    sid = unsafe { dfa.next_state_untagged_unchecked(cache, prev, byte(text, at)) };
                    if sid.is_tagged() || (ACCEL && sid == idle) {
                        break;
                    }
                    at += 1;
                }
                if at >= end {
                    // Every byte stepped through untagged states.
                    break;
                }
                if sid.is_unknown() {
                    cache.search_update(base + at);
                    sid = match dfa.next_state(cache, prev, text[at]) {
                        Ok(s) => s,
                        Err(_) => {
                            self.pos = base + at;
                            self.give_up();
                            return (Walk::Done, calls, skipped);
                        }
                    };
                }
            }
            if sid.is_tagged() {
                if sid.is_match() {
                    for i in 0..dfa.match_len(cache, sid) {
                        let p = dfa.match_pattern(cache, sid, i).as_usize();
                        mark(&mut self.marks, &mut self.touched, p);
                    }
                } else if sid.is_dead() {
                    outcome = LineState::Done;
                    break;
                } else if sid.is_quit() {
                    outcome = LineState::Quit;
                    break;
                }
            }
            at += 1;
            if ACCEL && cache.clear_count() != generation {
                self.sid = sid;
                return (Walk::Cleared(at), calls, skipped);
            }
        }
        self.sid = sid;
        self.pos = base + end;
        self.line = outcome;
        (Walk::Done, calls, skipped)
    }

    /// The DFA gave up: drop its cache (freeing up to the cache capacity) and
    /// match with `meta::Regex` per completed line for a while. Patterns already
    /// marked on this line stay marked: they did match.
    fn give_up(&mut self) {
        self.give_ups += 1;
        self.mode = Mode::Fallback { lines_left: RETRY_AFTER_LINES };
        self.cache = self.matcher.dfa.create_cache();
        self.start = None;
        self.accel = None;
        self.pos = 0;
        self.cache.search_start(0);
    }
}

impl std::fmt::Debug for PaneMatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaneMatcher")
            .field("patterns", &self.matcher.len())
            .field("line", &self.line)
            .field("mode", &self.mode)
            .field("scanned", &self.scanned)
            .field("give_ups", &self.give_ups)
            .finish_non_exhaustive()
    }
}

/// `text[at]` without the bounds check, for the unrolled loop in
/// [`PaneMatcher::walk`].
///
/// # Safety
///
/// `at < text.len()`.
#[inline(always)]
unsafe fn byte(text: &[u8], at: usize) -> u8 {
    debug_assert!(at < text.len());
    // SAFETY: the caller guarantees `at < text.len()`.
    unsafe { *text.get_unchecked(at) }
}

/// Marks pattern `p` as matched on this line unless it already is (or was reported).
#[inline]
fn mark(marks: &mut [u8], touched: &mut Vec<PatternId>, p: PatternId) {
    if let Some(m) = marks.get_mut(p) {
        if *m == UNSEEN {
            *m = MATCHED;
            touched.push(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;
    use crate::matcher::{MatcherOptions, PatternSpec};
    use crate::pane::watch::{LineMatch, PaneWatch};

    /// Six+ realistic patterns: anchors, classes, a Unicode `\w`, a literal, a
    /// `\d`-run and an alternation.
    const PATTERNS: &[&str] = &[
        r"TRIGGER: START_\w+ (?P<id>\S+)",
        r"error\[E\d{4}\]",
        r"^test .* FAILED$",
        r"panicked at",
        r"^\s*$",
        r"(warning|note): unused",
        r"\d{3,}ms$",
        r"ok$",
    ];

    fn matcher_of(patterns: &[&str], opts: &MatcherOptions) -> Arc<Matcher> {
        let specs: Vec<_> = patterns.iter().map(|p| PatternSpec::line(*p)).collect();
        Arc::new(Matcher::with_options(&specs, opts).unwrap())
    }

    /// The oracle: complete lines of a plain stream (`\n` or `\r\n` ends a line,
    /// no escapes, no lone CR) and, per line, `regex::Regex::is_match` of each
    /// pattern.
    fn oracle(patterns: &[&str], text: &str) -> Vec<LineMatch> {
        let res: Vec<regex::Regex> =
            patterns.iter().map(|p| regex::Regex::new(p).unwrap()).collect();
        let mut out = Vec::new();
        let mut rest = text;
        let mut seq = 0;
        while let Some(nl) = rest.find('\n') {
            let line = rest[..nl].strip_suffix('\r').unwrap_or(&rest[..nl]);
            rest = &rest[nl + 1..];
            seq += 1;
            let hits: Vec<usize> = (0..res.len()).filter(|&i| res[i].is_match(line)).collect();
            if !hits.is_empty() {
                out.push(LineMatch { line: line.to_string(), patterns: hits, complete: true, seq });
            }
        }
        out
    }

    /// Feeds `text` to a fresh watch in chunks of `size` bytes (0 = whole).
    fn watch_run(m: &Arc<Matcher>, text: &[u8], size: usize) -> (Vec<LineMatch>, PaneWatch) {
        let mut w = PaneWatch::new(m.clone(), 50);
        let mut out = Vec::new();
        if size == 0 {
            w.feed(text, &mut out);
        } else {
            for c in text.chunks(size) {
                w.feed(c, &mut out);
            }
        }
        (out, w)
    }

    fn sample_stream() -> String {
        let mut s = String::new();
        for i in 0..300 {
            match i % 11 {
                0 => s.push_str(&format!("TRIGGER: START_build{i} job-{i}\r\n")),
                1 => s.push_str("error[E0308]: mismatched types\n"),
                2 => s.push_str(&format!("test suite::case_{i} ... FAILED\n")),
                3 => s.push_str(&format!("test suite::case_{i} ... ok\r\n")),
                4 => s.push_str("thread 'main' panicked at src/main.rs:1:1 after 1234ms\n"),
                5 => s.push_str("   \n"),
                6 => s.push_str("warning: unused variable `x`; note: unused import\n"),
                7 => s.push_str("naïve café — ünïcödé TRIGGER: START_ é\n"),
                8 => s.push('\n'),
                9 => s.push_str("   Compiling foo v0.1.0 (/src/foo) in 12ms\r\n"),
                _ => s.push_str(&format!("plain log line number {i} with nothing in it\n")),
            }
        }
        s.push_str("tail without newline ok");
        s
    }

    #[test]
    fn every_chunking_matches_the_per_line_oracle() {
        let m = matcher_of(PATTERNS, &MatcherOptions::default());
        let text = sample_stream();
        let want = oracle(PATTERNS, &text);
        assert!(want.len() > 200, "the stream must exercise the patterns");
        for size in [1, 2, 3, 7, 64, 0] {
            let (got, w) = watch_run(&m, text.as_bytes(), size);
            assert_eq!(got, want, "chunk size {size}");
            assert_eq!(w.ring().total_lines(), 300);
            assert_eq!(w.ring().partial(), "tail without newline ok");
            assert!(!w.pane_matcher().is_fallback());
        }
    }

    #[test]
    fn matches_line_agrees_with_the_oracle() {
        let m = matcher_of(PATTERNS, &MatcherOptions::default());
        for line in sample_stream().lines() {
            let want = oracle(PATTERNS, &format!("{line}\n"));
            let want = want.first().map(|l| l.patterns.clone()).unwrap_or_default();
            assert_eq!(m.matches_line(line), want, "{line:?}");
        }
    }

    #[test]
    fn trigger_split_across_feeds_fires_once_then_noise_is_quiet() {
        let m = matcher_of(PATTERNS, &MatcherOptions::default());
        let mut w = PaneWatch::new(m, 50);
        let mut out = Vec::new();
        w.feed(b"TRIGGER: STA", &mut out);
        assert!(out.is_empty());
        w.feed(b"RT_deploy abc123\r\n", &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].patterns, vec![0]);
        assert_eq!(out[0].seq, 1);
        for i in 0..100 {
            w.feed(format!("noise line {i} compiling things\r\n").as_bytes(), &mut out);
        }
        assert_eq!(out.len(), 1, "noise fired: {:?}", &out[1..]);
        assert_eq!(w.ring().total_lines(), 101);
    }

    #[test]
    fn pattern_fires_once_per_line() {
        let m = matcher_of(&["ab", "x+"], &MatcherOptions::default());
        let (out, _) = watch_run(&m, b"ab ab ab x xx\nab\n", 1);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].patterns, vec![0, 1]);
        assert_eq!(out[1].patterns, vec![0]);
    }

    #[test]
    fn prompt_fires_once_not_again_at_newline() {
        let specs = [PatternSpec::prompt(r"Password: $"), PatternSpec::line("secret")];
        let m = Arc::new(Matcher::new(&specs).unwrap());
        let mut w = PaneWatch::new(m, 50);
        let mut out = Vec::new();
        w.feed(b"Pass", &mut out);
        assert!(out.is_empty());
        w.feed(b"word: ", &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].line.as_str(), out[0].complete, out[0].seq), ("Password: ", false, 1));
        assert_eq!(out[0].patterns, vec![0]);
        w.feed(b"", &mut out);
        w.feed(b"\x1b[0m", &mut out);
        assert_eq!(out.len(), 1, "a peek of the same line must not fire again");
        w.feed(b"\r\n", &mut out);
        assert_eq!(out.len(), 1, "the completed line must not fire the prompt again");
        // Same prompt on the next line fires again; a non-prompt pattern never peeks.
        w.feed(b"secret\r\nPassword: ", &mut out);
        assert_eq!(out.len(), 3);
        assert_eq!((out[1].patterns.as_slice(), out[1].complete), (&[1][..], true));
        assert_eq!((out[2].seq, out[2].complete), (3, false));
    }

    #[test]
    fn non_prompt_never_fires_on_the_partial_line() {
        let specs = [PatternSpec::line(r"\d+$"), PatternSpec::prompt(">>> ")];
        let m = Arc::new(Matcher::new(&specs).unwrap());
        let mut w = PaneWatch::new(m, 50);
        let mut out = Vec::new();
        w.feed(b"12", &mut out);
        w.feed(b"3x\n>>> ", &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].patterns.as_slice(), out[0].complete), (&[1][..], false));
    }

    #[test]
    fn captures_named_groups() {
        let m = matcher_of(
            &[r"TRIGGER: START_(?P<kind>\w+) (?P<id>\S+)(?: (?P<opt>x))?", "plain"],
            &MatcherOptions::default(),
        );
        let line = "\u{1b}[1mTRIGGER: START_deploy build-7\u{1b}[0m\n";
        let (out, _) = watch_run(&m, line.as_bytes(), 0);
        assert_eq!(out.len(), 1);
        let caps = m.captures(out[0].patterns[0], &out[0].line);
        let want = [("kind", "deploy"), ("id", "build-7")];
        assert_eq!(caps, want.map(|(a, b)| (a.to_string(), b.to_string())));
        assert!(m.captures(1, &out[0].line).is_empty());
        assert!(m.captures(99, &out[0].line).is_empty());
    }

    #[test]
    fn backspace_into_scanned_text_rescans_the_line() {
        let m = matcher_of(&["abc", "abx"], &MatcherOptions::default());
        let mut w = PaneWatch::new(m, 50);
        let mut out = Vec::new();
        w.feed(b"abc", &mut out);
        w.feed(b"\x08x\n", &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].line.as_str(), out[0].patterns.as_slice()), ("abx", &[1][..]));
    }

    #[test]
    fn set_matcher_applies_new_rules_to_the_current_line() {
        let mut w = PaneWatch::new(matcher_of(&["old"], &MatcherOptions::default()), 50);
        let mut out = Vec::new();
        w.feed(b"old new", &mut out);
        w.set_matcher(matcher_of(&["x", "new"], &MatcherOptions::default()));
        w.feed(b" line\n", &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].patterns, vec![1]);
        assert_eq!(w.matcher().len(), 2);
    }

    #[test]
    fn validation_errors_name_the_pattern() {
        let e = Matcher::new(&[PatternSpec::line("ok"), PatternSpec::line("a(")]).unwrap_err();
        assert_eq!((e.index, e.pattern.as_str(), e.is_syntax()), (1, "a(", true));
        assert!(e.to_string().starts_with("pattern 1 (`a(`): invalid regex"), "{e}");
        for bad in [r"foo\nbar", "a[\n]b", "(x\n|y)", r"\x0A"] {
            let e = Matcher::new(&[PatternSpec::line(bad)]).unwrap_err();
            assert!(e.is_newline(), "{bad:?}: {e}");
            assert!(e.to_string().contains("literal '\\n'"), "{e}");
        }
        // Classes that merely include '\n' are fine.
        Matcher::new(&[
            PatternSpec::line(r"a\sb"),
            PatternSpec::line("[^x]+"),
            PatternSpec::line("(?s)."),
        ])
        .unwrap();
        let e = Matcher::new(&[PatternSpec::line(r"\w{1000}{1000}")]).unwrap_err();
        assert!(e.is_too_big(), "{e}");
        assert!(Matcher::new(&[]).unwrap().is_empty());
    }

    #[test]
    fn empty_rule_set_matches_nothing() {
        let m = Arc::new(Matcher::new(&[]).unwrap());
        let (out, w) = watch_run(&m, b"anything\n\nat all\n", 1);
        assert!(out.is_empty());
        assert_eq!(w.ring().total_lines(), 3);
    }

    #[test]
    fn unicode_word_boundary_supported_with_per_line_fallback() {
        let pats = [r"\bcafé\b", r"\bword\b", "plain"];
        let m = matcher_of(&pats, &MatcherOptions::default());
        let text = "a café here\nxcafé\nword\nswordfish\nnaïve word\nnaïve swordfish plain\n";
        let want = oracle(&pats, text);
        assert_eq!(want.len(), 4);
        for size in [1, 3, 0] {
            assert_eq!(watch_run(&m, text.as_bytes(), size).0, want, "chunk size {size}");
        }
    }

    /// xorshift64*: deterministic random input without another dependency.
    fn rng(seed: &mut u64) -> u64 {
        *seed ^= *seed >> 12;
        *seed ^= *seed << 25;
        *seed ^= *seed >> 27;
        seed.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    #[test]
    fn exploding_dfa_falls_back_and_agrees_with_the_oracle() {
        let pats = [r"(a|b)*a(a|b){20}", "abba", r"^b+$"];
        let opts = MatcherOptions { cache_capacity: 64 * 1024, ..MatcherOptions::default() };
        let m = matcher_of(&pats, &opts);
        let mut seed = 0x9e37_79b9_7f4a_7c15;
        let mut text = String::new();
        for _ in 0..6000 {
            let len = (rng(&mut seed) % 60) as usize;
            for _ in 0..len {
                text.push(if rng(&mut seed) & 1 == 0 { 'a' } else { 'b' });
            }
            text.push('\n');
        }
        // The `regex` crate as a second opinion, and meta::Regex via matches_line.
        let want = oracle(&pats, &text);
        for l in &want {
            assert_eq!(m.matches_line(&l.line), l.patterns);
        }
        for size in [7, 4096] {
            let (got, w) = watch_run(&m, text.as_bytes(), size);
            assert_eq!(got, want, "chunk size {size}");
            let pm = w.pane_matcher();
            assert!(pm.give_ups() >= 2, "gave up {} times: expected a retry too", pm.give_ups());
            assert!(pm.cache_memory() <= 256 * 1024, "cache grew to {}", pm.cache_memory());
        }
    }

    #[test]
    fn prompt_peek_survives_cache_clears() {
        // A minimum-size cache that never gives up clears all the time, also inside
        // the EOI peek; the guard must rebuild the state by re-walking the line.
        let opts =
            MatcherOptions { cache_capacity: 0, give_up_after_clears: None, line_gate: true };
        let pats = ["Password:", ">>> ", r"error\[E\d{4}\]", r"[a-z]+\d[a-z]+", "sudo"];
        let specs: Vec<_> = pats
            .iter()
            .enumerate()
            .map(|(i, p)| PatternSpec { pattern: p.to_string(), prompt: i < 2 })
            .collect();
        let m = Arc::new(Matcher::with_options(&specs, &opts).unwrap());
        let mut text = String::new();
        let mut seed = 7;
        let words = ["Password:", ">>> ", "error[E0308]", "ab1cd", "sudo", "zz", " ", "ü"];
        for _ in 0..400 {
            for _ in 0..(rng(&mut seed) % 6) {
                text.push_str(words[(rng(&mut seed) % words.len() as u64) as usize]);
            }
            text.push_str(if rng(&mut seed).is_multiple_of(2) { "\n" } else { "\r\n" });
        }
        // All patterns here are monotone (no `$`): a prefix match stays a match, so
        // per line, partial ∪ complete reports equal the oracle for any chunking.
        let want: BTreeMap<u64, Vec<usize>> =
            oracle(&pats, &text).into_iter().map(|l| (l.seq, l.patterns)).collect();
        for size in [1, 3, 7] {
            let (got, w) = watch_run(&m, text.as_bytes(), size);
            let mut per_line: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
            for l in got {
                per_line.entry(l.seq).or_default().extend(l.patterns);
            }
            for v in per_line.values_mut() {
                let n = v.len();
                v.sort_unstable();
                v.dedup();
                assert_eq!(v.len(), n, "a pattern fired twice on one line");
            }
            assert_eq!(per_line, want, "chunk size {size}");
            assert!(w.pane_matcher().cache_clears() > 100, "{}", w.pane_matcher().cache_clears());
            assert!(!w.pane_matcher().is_fallback());
        }
    }

    /// Patterns for the idle-skip tests: a lone literal (memchr), case folding
    /// (memchr2), anchors, ASCII word boundaries (the state depends on the previous
    /// byte), classes and repetitions.
    const SKIP_POOL: &[&str] = &[
        "TRIGGER",
        "(?i)ok$",
        r"^test \w+ FAILED$",
        r"(?-u:\b)job(?-u:\b)",
        r"x[0-9]{2}",
        r"[A-Z]{3}:",
        "^$",
        r"(?m)^ab",
        "zz|qq|é",
    ];

    #[test]
    fn idle_skip_is_used_and_agrees_with_the_oracle() {
        let pats = ["TRIGGER"];
        let m = matcher_of(&pats, &MatcherOptions::default());
        let mut text = String::new();
        for i in 0..200 {
            text.push_str(&format!("plain line {i} with nothing, then TRIGGER {i} and more\n"));
        }
        let (got, w) = watch_run(&m, text.as_bytes(), 13);
        assert_eq!(got, oracle(&pats, &text));
        let accel = w.pane_matcher().accel.as_ref().expect("computed at the first line");
        assert!(matches!(accel.idle, Some((_, Skip::One(b'T')))), "{accel:?}");
    }

    #[test]
    fn gate_skips_lines_without_literals_and_agrees_with_the_oracle() {
        let pats = [r"TRIGGER: START_\w+ (?P<id>\S+)", r"error\[E\d{4}\]", r"^test .* FAILED$"];
        let m = matcher_of(&pats, &MatcherOptions::default());
        assert!(m.is_gated());
        let mut text = String::new();
        for i in 0..300 {
            text.push_str(&format!("plain line {i}, test {i} ok\r\n"));
            if i % 7 == 0 {
                text.push_str(&format!(
                    "TRIGGER: START_job{i} x\nerror[E0{i:03}] and test x FAILED\n"
                ));
            }
            if i % 11 == 0 {
                // Literal present, pattern not matching: admitted, walked, no match.
                text.push_str("error[E12] TRIGGER: START_ test FAILED!\n");
            }
        }
        let want = oracle(&pats, &text);
        for size in [1, 5, 64, 0] {
            let (got, w) = watch_run(&m, text.as_bytes(), size);
            assert_eq!(got, want, "chunk size {size}");
            assert_eq!(w.pane_matcher().gated_lines(), 300, "chunk size {size}");
        }
    }

    #[test]
    fn gate_turns_itself_off_when_it_admits_most_lines_and_back_on_later() {
        let m = matcher_of(&["ok"], &MatcherOptions::default());
        let mut pm = PaneMatcher::new(m);
        let mut hits = Vec::new();
        // Every line holds the literal: after one window the gate is off.
        for _ in 0..GATE_WINDOW {
            pm.end_line("ok", &mut hits);
            assert_eq!(hits, vec![0]);
        }
        assert!(!pm.gate_on);
        // Off, lines are walked and still match; refused lines are not counted.
        for i in 0..GATE_WINDOW * GATE_OFF_WINDOWS {
            let line = if i % 2 == 0 { "ok" } else { "no" };
            pm.end_line(line, &mut hits);
            assert_eq!(hits.len(), usize::from(i % 2 == 0));
        }
        assert!(pm.gate_on, "the gate is tried again after its pause");
        assert_eq!(pm.gated_lines(), 0);
        pm.end_line("nothing here", &mut hits);
        assert!(hits.is_empty());
        assert_eq!(pm.gated_lines(), 1);
    }

    #[test]
    fn gated_prompt_fires_on_a_partial_line_only_once_its_literal_arrived() {
        let specs = [PatternSpec::prompt(r">>> $"), PatternSpec::line("Traceback")];
        let m = Arc::new(Matcher::new(&specs).unwrap());
        assert!(m.is_gated());
        let mut w = PaneWatch::new(m, 50);
        let mut out = Vec::new();
        w.feed(b">", &mut out);
        w.feed(b">", &mut out);
        assert!(out.is_empty());
        // The literal `>>> ` is completed by the next feed: the gate must look back
        // into the text it already refused.
        w.feed(b"> ", &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].line.as_str(), out[0].complete), (">>> ", false));
        w.feed(b"1+1\r\n2\r\n>>> ", &mut out);
        assert_eq!(out.len(), 2, "{out:?}");
        assert_eq!((out[1].seq, out[1].complete), (3, false));
    }

    /// Feeds `text` in the chunk sizes of `cuts`, round robin.
    fn feed_cut(m: &Arc<Matcher>, text: &str, cuts: &[usize]) -> Vec<LineMatch> {
        let mut w = PaneWatch::new(m.clone(), 50);
        let mut got = Vec::new();
        let bytes = text.as_bytes();
        let (mut at, mut i) = (0, 0);
        while at < bytes.len() {
            let n = cuts[i % cuts.len()].min(bytes.len() - at);
            w.feed(&bytes[at..at + n], &mut got);
            at += n;
            i += 1;
        }
        got
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Random text built from pattern-ish words, cut into random chunks, gives
        /// exactly the per-line oracle.
        #[test]
        fn random_text_any_chunking(
            words in prop::collection::vec(prop::sample::select(vec![
                "TRIGGER: START_", "x", "job", " ", "error[E", "1234", "]", "test ", " FAILED",
                "panicked at", "warning: unused", "ok", "\n", "\r\n", "\n", "é", "\t", "99ms",
            ]), 0..200),
            cuts in prop::collection::vec(1usize..40, 1..20),
        ) {
            let text: String = words.concat();
            let m = matcher_of(PATTERNS, &MatcherOptions::default());
            prop_assert_eq!(feed_cut(&m, &text, &cuts), oracle(PATTERNS, &text));
            // Without `^\s*$` every pattern has a literal: the same through the gate.
            let gated: Vec<&str> = PATTERNS.iter().copied().filter(|p| *p != r"^\s*$").collect();
            let m = matcher_of(&gated, &MatcherOptions::default());
            prop_assert!(m.is_gated());
            prop_assert_eq!(feed_cut(&m, &text, &cuts), oracle(&gated, &text));
        }

        /// The idle skip (memchr, memchr2/3, table) against the per-line oracle:
        /// random subsets of patterns with anchors and `\b`, random text and
        /// chunking, with the default cache and with a minimum-size cache that
        /// clears all the time (stale idle ids, recomputation, mid-walk clears).
        #[test]
        fn idle_skip_matches_the_oracle(
            picks in prop::collection::vec(0..SKIP_POOL.len(), 1..4),
            words in prop::collection::vec(prop::sample::select(vec![
                "TRIGGER", "trig", "ok", "OK", "test ", "abc", " FAILED", "job", "jobs", "x",
                "12", "ABC:", "AB", ":", "zz", "q", "é", " ", "  ", "\t", "\n", "\r\n",
                "plain words here ", "ab", "\x1b[31m",
            ]), 0..300),
            cuts in prop::collection::vec(1usize..64, 1..10),
            tiny in any::<bool>(),
        ) {
            let pats: Vec<&str> = picks.iter().map(|&i| SKIP_POOL[i]).collect();
            let opts = if tiny {
                MatcherOptions { cache_capacity: 0, give_up_after_clears: None, line_gate: true }
            } else {
                MatcherOptions::default()
            };
            let m = matcher_of(&pats, &opts);
            let text: String = words.concat();
            // The oracle knows no escapes: strip the one colour code it may contain.
            let want = oracle(&pats, &text.replace("\x1b[31m", ""));
            prop_assert_eq!(feed_cut(&m, &text, &cuts), want);
        }
    }
}
