//! Idle-state acceleration for a [`super::PaneMatcher`], after the "accelerated
//! states" of regex-automata's dense DFAs: between candidate matches the
//! unanchored DFA sits in one state (the *idle* state) and most bytes lead it back
//! to itself. Once the bytes that can leave it (the *stop* bytes) are known, the
//! walk jumps from the idle state straight to the next stop byte with `memchr`
//! (one to three stop bytes) or a table scan without dependent loads, instead of
//! one transition-table load per byte.
//!
//! Correctness rests on construction, not on assumptions about the patterns: every
//! stop set is computed by asking the DFA for the transition of the idle state on
//! each byte class, and a byte is skippable only if that transition is the idle
//! state itself. Look-behind (`\b`, `^`, `$`, `(?m)`) makes states depend on the
//! previous byte; such a dependence shows up as a transition to another state, so
//! it makes the byte a stop byte. The skipped bytes are still consumed: they are
//! exactly the steps idle → idle the walk would have taken.
//!
//! State ids are valid only until the pane's cache is cleared, so an [`Accel`] is
//! tied to one cache generation (`Cache::clear_count`) and recomputed at the next
//! line start after a clear.

use regex_automata::hybrid::{
    dfa::{Cache, DFA},
    LazyStateID,
};

/// Largest stop set scanned with the byte table. Above it the idle state is left
/// too often for a skip to pay off and the plain DFA walk is used.
///
/// PERF: measured on the bench log (benches/matcher.rs `matcher_only`); see
/// [`super::PaneMatcher`]'s walk for the figures. The bench's rule sets, by stop
/// set of their idle state: 1 rule, `T` only (memchr, average skip ~190 bytes);
/// 16 rules, 30 bytes including the digits (from `(?P<n>\d+) tests? failed`), so
/// on log lines full of numbers the average skip is ~1 byte and the tally turns
/// the skip off; 256 rules, 111 bytes, every word byte (from a leading `\w+` in
/// `(?P<user>\w+)@host…`: any word byte may start it), too many to try. Without
/// that family it would be 33 bytes and still average ~1 byte. No stop set
/// computed from the idle state can do better on such rules: those bytes really
/// leave it.
const MAX_TABLE_STOPS: usize = 48;

/// Skips between two checks of their average length ([`Accel::tally`]).
const CHECK_EVERY: u32 = 1024;

/// Shortest average skip, in bytes, that keeps the acceleration on.
const MIN_AVERAGE_SKIP: usize = 16;

/// How the walk finds the next stop byte after the idle state.
#[derive(Clone, Debug)]
pub(super) enum Skip {
    /// No byte leaves the idle state: the rest of any text is skipped.
    All,
    /// `memchr` for the one stop byte.
    One(u8),
    /// `memchr2`.
    Two(u8, u8),
    /// `memchr3`.
    Three(u8, u8, u8),
    /// `stop[b]`: byte `b` may leave the idle state.
    Table(Box<[bool; 256]>),
}

impl Skip {
    /// Index of the first stop byte in `hay`, or `None` if every byte of it maps
    /// the idle state to itself.
    #[inline]
    pub(super) fn find(&self, hay: &[u8]) -> Option<usize> {
        match self {
            Skip::All => None,
            Skip::One(a) => memchr::memchr(*a, hay),
            Skip::Two(a, b) => memchr::memchr2(*a, *b, hay),
            Skip::Three(a, b, c) => memchr::memchr3(*a, *b, *c, hay),
            Skip::Table(stop) => find_table(stop, hay),
        }
    }
}

/// The first `i` with `stop[hay[i]]`.
///
/// PERF: four independent table loads per step, so the scan is bound by load
/// throughput instead of the latency chain of a DFA walk.
#[inline]
fn find_table(stop: &[bool; 256], hay: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(w) = hay.get(i..i + 4) {
        let hit = stop[usize::from(w[0])]
            | stop[usize::from(w[1])]
            | stop[usize::from(w[2])]
            | stop[usize::from(w[3])];
        if hit {
            break;
        }
        i += 4;
    }
    hay[i..].iter().position(|&b| stop[usize::from(b)]).map(|p| i + p)
}

/// The idle state of one cache generation and how to skip over it.
#[derive(Clone, Debug)]
pub(super) struct Accel {
    /// The `Cache::clear_count` this was computed for; the state id below is
    /// meaningless in any other generation.
    pub(super) generation: usize,
    /// The idle state and its skip, or `None` when this generation has no state
    /// worth accelerating (or the computation was cut short by a cache clear).
    pub(super) idle: Option<(LazyStateID, Skip)>,
    /// Skips that ended at a stop byte since the last check of their average.
    pub(super) calls: u32,
    /// Bytes skipped since that check (including skips that reached the text end).
    pub(super) skipped: usize,
}

impl Accel {
    /// Finds the idle state reached from the line-start state `start` (an id of
    /// `cache`'s current generation) and its stop bytes.
    ///
    /// The candidate is the state reached from `start` on a byte of the largest
    /// byte class (in practice bytes no pattern mentions), accepted only if that
    /// byte leads it back to itself. Its transition on every byte class is then
    /// computed with the checked `next_state`. That may add states and even clear
    /// the cache, which invalidates `start` and the candidate: the result is then
    /// "no idle state" for the new generation, and the caller fetches a fresh start
    /// state (the result's `generation` differs from the count it started with).
    pub(super) fn compute(dfa: &DFA, cache: &mut Cache, start: LazyStateID) -> Accel {
        let generation = cache.clear_count();
        let mut accel = Accel { generation, idle: None, calls: 0, skipped: 0 };
        let classes = dfa.byte_classes();
        let mut size = [0u16; 256];
        for b in 0..=255u8 {
            size[usize::from(classes.get(b))] += 1;
        }
        let Some(common) = (0..=255u8).max_by_key(|&b| size[usize::from(classes.get(b))]) else {
            return accel;
        };
        let next = |cache: &mut Cache, from: LazyStateID, b: u8| {
            let to = dfa.next_state(cache, from, b).ok()?;
            (cache.clear_count() == generation).then_some(to)
        };
        let Some(idle) = next(cache, start, common) else {
            accel.generation = cache.clear_count();
            return accel;
        };
        if idle.is_tagged() {
            return accel;
        }
        // `loops[class]`: the idle state's transition on that class, None = not
        // computed yet. One `next_state` per class, not per byte.
        let mut loops: [Option<bool>; 256] = [None; 256];
        let mut stop = [false; 256];
        let mut stops = 0;
        for b in 0..=255u8 {
            let class = usize::from(classes.get(b));
            let looped = match loops[class] {
                Some(l) => l,
                None => {
                    let Some(to) = next(cache, idle, b) else {
                        accel.generation = cache.clear_count();
                        return accel;
                    };
                    loops[class] = Some(to == idle);
                    to == idle
                }
            };
            if !looped {
                stop[usize::from(b)] = true;
                stops += 1;
            }
        }
        let mut bytes = (0..=255u8).filter(|&b| stop[usize::from(b)]);
        let skip = match (stops, bytes.next(), bytes.next(), bytes.next()) {
            (0, ..) => Skip::All,
            (1, Some(a), ..) => Skip::One(a),
            (2, Some(a), Some(b), _) => Skip::Two(a, b),
            (3, Some(a), Some(b), Some(c)) => Skip::Three(a, b, c),
            (n, ..) if n <= MAX_TABLE_STOPS => Skip::Table(Box::new(stop)),
            _ => return accel,
        };
        accel.idle = Some((idle, skip));
        accel
    }

    /// Counts one walk's skips and turns the acceleration off for the rest of the
    /// generation once they prove too short to pay for leaving the DFA loop.
    ///
    /// PERF: whether a skip pays depends on the text, not only on the stop set:
    /// with the bench's 16 rules the idle state has 30 stop bytes (digits among
    /// them) and log lines full of digits leave it every few bytes; the skip then
    /// halved `matcher_only` (684 → 335 MiB/s). After [`CHECK_EVERY`] skips the
    /// average skip length decides.
    pub(super) fn tally(&mut self, calls: u32, skipped: usize) {
        self.calls += calls;
        self.skipped += skipped;
        if self.calls >= CHECK_EVERY {
            if self.skipped < MIN_AVERAGE_SKIP * self.calls as usize {
                self.idle = None;
            }
            self.calls = 0;
            self.skipped = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_scan_finds_the_first_stop_byte() {
        let mut stop = [false; 256];
        stop[usize::from(b'x')] = true;
        stop[0xff] = true;
        for len in 0..12 {
            for at in 0..=len {
                let mut hay = vec![b'a'; len];
                if at < len {
                    hay[at] = if at % 2 == 0 { b'x' } else { 0xff };
                }
                let want = (at < len).then_some(at);
                assert_eq!(find_table(&stop, &hay), want, "len {len} at {at}");
            }
        }
    }

    fn idle_of(pattern: &str) -> (Accel, Cache, DFA) {
        let dfa = DFA::new(pattern).unwrap();
        let mut cache = dfa.create_cache();
        let cfg = regex_automata::util::start::Config::new();
        let start = dfa.start_state(&mut cache, &cfg).unwrap();
        (Accel::compute(&dfa, &mut cache, start), cache, dfa)
    }

    #[test]
    fn literal_gets_memchr_and_word_boundary_a_table_or_nothing() {
        let (a, ..) = idle_of("TRIGGER");
        assert!(matches!(a.idle, Some((_, Skip::One(b'T')))), "{a:?}");
        let (a, ..) = idle_of("(?i)ab");
        assert!(matches!(a.idle, Some((_, Skip::Two(b'A', b'a')))), "{a:?}");
        // After a non-word byte, every word byte leaves the state (it could start
        // `\bfoo` or not): far too many stop bytes to skip.
        let (a, ..) = idle_of(r"(?-u:\b)foo");
        assert!(a.idle.is_none(), "{a:?}");
    }

    #[test]
    fn every_skipped_byte_maps_idle_to_itself() {
        for pat in ["TRIGGER", r"^test .* FAILED$", r"error\[E\d{4}\]", "ok$", r"x(?-u:\b)"] {
            let (a, mut cache, dfa) = idle_of(pat);
            let Some((idle, skip)) = a.idle else { continue };
            for b in 0..=255u8 {
                let stops = skip.find(&[b]).is_some();
                let to = dfa.next_state(&mut cache, idle, b).unwrap();
                assert_eq!(stops, to != idle, "{pat}: byte {b:#x}");
            }
        }
    }
}
