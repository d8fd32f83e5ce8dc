//! Raw pane bytes (after `%output` un-escaping) → the text lines a person saw, via
//! a `vte` parser kept alive across chunks. Escape sequences (colours, cursor moves,
//! OSC titles, DCS) are dropped, lines end at LF, CRLF and CRCRLF, a lone CR ends
//! the text shown so far (a progress bar redraw), TAB is kept, backspace removes the
//! last character, invalid UTF-8 becomes U+FFFD (vte does this) and lines are cut
//! at [`MAX_LINE_BYTES`].
//!
//! The decoder does not own the line: it writes into a [`LineSink`] (the pane's ring
//! buffer, wrapped by [`super::watch::PaneWatch`] so the matcher sees each line), and
//! hands it the shell-integration marks among the OSC strings ([`super::shell`]).
//! vte is built with `default-features = false` and `Parser::<1024>`, so an
//! unterminated OSC string is truncated at 1 KiB instead of growing without bound.

use vte::{Params, Parser, Perform};

use super::shell::{parse_osc, ShellMark};

/// Longest line kept, in bytes of UTF-8 text. The rest of a longer line, up to its
/// end, is dropped from both the ring buffer and the matcher (a line of a few MB is
/// a binary dump or a minified file, not something a rule should match on).
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// Size of vte's OSC buffer: longer OSC strings (titles, hyperlinks) are truncated.
const OSC_BYTES: usize = 1024;

/// Where the decoder writes the text it decodes.
pub trait LineSink {
    /// The line being written; the decoder appends characters to it and removes the
    /// last one on backspace.
    fn line(&mut self) -> &mut String;
    /// The screen removed text from the line (backspace); it is now `new_len` bytes.
    fn line_edited(&mut self, new_len: usize);
    /// The line is complete (LF, CRLF, or a lone CR); the sink starts a new, empty
    /// line before the decoder writes again.
    fn end_line(&mut self);
    /// A shell-integration mark (OSC 133/633, see [`super::shell`]) at this point of
    /// the stream: after every line ended before it, before any text that follows.
    fn mark(&mut self, _mark: ShellMark) {}
}

/// A pane's line decoder: one `vte::Parser` plus the CR and line-cut state, all
/// kept across chunks so any chunking gives the same lines.
pub struct LineDecoder {
    /// Escape-sequence state machine; fixed size (OSC bounded at [`OSC_BYTES`]).
    parser: Parser<OSC_BYTES>,
    state: State,
    /// The start of a UTF-8 character cut by the end of the last chunk.
    carry: [u8; 4],
    /// Bytes used in `carry` (0 to 3 between feeds).
    carry_len: usize,
    /// vte is known to be in its ground state (and holds no partial character), so
    /// plain text can bypass it.
    ground: bool,
}

/// What the performer needs to remember between callbacks and chunks.
#[derive(Clone, Copy, Debug)]
struct State {
    /// A CR was seen and not yet resolved: an LF or another CR next makes it part
    /// of a line end (CRLF, CRCRLF); visible text next makes it a lone CR.
    pending_cr: bool,
    /// The current line reached `max_line`: drop text until the line ends.
    cut: bool,
    /// Line length bound in bytes.
    max_line: usize,
}

impl Default for LineDecoder {
    fn default() -> LineDecoder {
        LineDecoder::new()
    }
}

impl LineDecoder {
    /// A decoder at the start of a line, with lines bounded at [`MAX_LINE_BYTES`].
    pub fn new() -> LineDecoder {
        LineDecoder::with_max_line(MAX_LINE_BYTES)
    }

    /// A decoder with lines bounded at `max_line` bytes (at least 4, so one
    /// character always fits).
    pub fn with_max_line(max_line: usize) -> LineDecoder {
        LineDecoder {
            parser: Parser::<OSC_BYTES>::new_with_size(),
            state: State { pending_cr: false, cut: false, max_line: max_line.max(4) },
            carry: [0; 4],
            carry_len: 0,
            ground: true,
        }
    }

    /// True if the last byte fed was a CR whose meaning is still open (a CRLF may
    /// be split across chunks).
    pub fn pending_cr(&self) -> bool {
        self.state.pending_cr
    }

    /// Decodes `data` (any chunk of the pane's byte stream) into `sink`.
    ///
    /// A UTF-8 character cut by the chunk end is held back here and handed on
    /// whole with the next chunk, instead of going through vte's own carry-over:
    /// vte 0.15.0's `advance_partial_utf8` loses the bytes that follow the completed
    /// character when they fit in its 4-byte buffer and are followed by another
    /// split character (`"é]é"` cut after the first `0xC3` prints `"éé"`). Holding
    /// bytes back never changes the result: vte handles bytes strictly in order.
    pub fn feed<S: LineSink>(&mut self, mut data: &[u8], sink: &mut S) {
        if self.carry_len > 0 {
            let want = utf8_len(self.carry[0]);
            let more = data
                .iter()
                .take(want.saturating_sub(self.carry_len))
                .take_while(|&&b| is_continuation(b))
                .count();
            self.carry[self.carry_len..self.carry_len + more].copy_from_slice(&data[..more]);
            self.carry_len += more;
            data = &data[more..];
            if self.carry_len < want {
                if data.is_empty() {
                    return; // Still incomplete: wait for the next chunk.
                }
                // Cut short by a non-continuation byte: an invalid sequence, shown as
                // U+FFFD as vte does. Substituting it keeps vte's carry-over unused.
                self.carry[..3].copy_from_slice("\u{fffd}".as_bytes());
                self.carry_len = 3;
            }
            let (carry, len) = (self.carry, self.carry_len);
            self.carry_len = 0;
            self.run(&carry[..len], sink);
        }
        let keep = incomplete_suffix(data);
        let (mut now, later) = data.split_at(data.len() - keep);
        // A truncated sequence right before the held-back one (`C3` in `C3 F0`) is
        // invalid, since a lead byte follows it; vte, seeing it at the end of its
        // input, would keep it as a partial character. Hand it on as the U+FFFD vte
        // would print once it saw the next byte.
        let bad = if keep > 0 { incomplete_suffix(now) } else { 0 };
        if bad > 0 {
            self.run(&now[..now.len() - bad], sink);
            now = "\u{fffd}".as_bytes();
        }
        self.run(now, sink);
        self.carry[..keep].copy_from_slice(later);
        self.carry_len = keep;
    }

    /// Decodes `data`, which never ends inside a UTF-8 character.
    ///
    /// While vte is known to be in its ground state, [`Performer::ground`] handles
    /// the common bytes itself; anything else (OSC, DCS, non-ASCII, an escape cut by
    /// the chunk end) goes to vte, from its first byte, until a callback shows vte is
    /// back in ground.
    fn run<S: LineSink>(&mut self, mut data: &[u8], sink: &mut S) {
        let mut p = Performer { state: &mut self.state, sink, grounded: false };
        while !data.is_empty() {
            if self.ground {
                data = &data[p.ground(data)..];
                if data.is_empty() {
                    break;
                }
                self.ground = false;
            }
            p.grounded = false;
            let mut n = self.parser.advance_until_terminated(&mut p, data).min(data.len());
            if n == 0 {
                // Only vte's own partial-character path can print without consuming
                // a byte; `feed` never leaves it one, but never loop on it either.
                self.parser.advance(&mut p, &data[..1]);
                n = 1;
            }
            // A step that printed may have consumed the ESC that follows the text
            // (vte's ground state handles it directly); ESC always enters the escape
            // state, wherever the parser was.
            self.ground = p.grounded && data[n - 1] != 0x1b;
            data = &data[n..];
        }
    }
}

/// Length of the escape sequence at the start of `data` (which starts with ESC) if
/// it is complete and one that vte, from its ground state, would consume silently
/// and leave in ground again: a CSI (`ESC [`, any bytes 0x20..=0x3F, a final byte
/// 0x40..=0x7E: SGR colours, erase-line, cursor moves, private modes) or a plain
/// escape (`ESC`, intermediates 0x20..=0x2F, a final byte that dispatches it, e.g.
/// `ESC ( B`, `ESC =`). `None` for anything else (OSC, DCS, SOS/PM/APC, a control
/// or non-ASCII byte inside, or a sequence cut by the end of `data`): vte must see
/// it from the ESC on.
///
/// Equivalence with vte 0.15 (`advance_esc`, `advance_csi_*`): from `CsiEntry`,
/// `CsiParam`, `CsiIntermediate` and `CsiIgnore`, bytes 0x20..=0x3F only move
/// between those four states (collecting or ignoring, never executing), and 0x40
/// ..=0x7E dispatches or ends the ignore, back to ground. Our performer ignores
/// every dispatch, so skipping the sequence is exactly what vte would show.
#[inline]
fn escape_len(data: &[u8]) -> Option<usize> {
    let body = data.get(1..)?;
    if body.first() == Some(&b'[') {
        let params = &body[1..];
        let n = params.iter().position(|&b| !(0x20..=0x3f).contains(&b))?;
        return (0x40..=0x7e).contains(&params[n]).then_some(n + 3);
    }
    let n = body.iter().position(|&b| !(0x20..=0x2f).contains(&b))?;
    let dispatches = match body[n] {
        // After intermediates every final byte dispatches (`advance_esc_intermediate`).
        0x30..=0x7e if n > 0 => true,
        // Without: `P` (DCS), `X`/`^`/`_` (SOS/PM/APC), `[` and `]` open strings.
        0x30..=0x4f | 0x51..=0x57 | 0x59 | 0x5a | 0x5c | 0x60..=0x7e => true,
        _ => false,
    };
    dispatches.then_some(n + 2)
}

/// Length of the run of printable ASCII (0x20..=0x7E) at the start of `data`.
///
/// PERF: sixteen bytes per step with SSE2 (part of the x86-64 baseline): a signed
/// compare above 0x1F (bytes of 0x80 and up are negative) minus the bytes equal to
/// 0x7F, one `movemask`; the SWAR loop takes the tail. Runs between two escapes
/// are ~10–40 bytes, so one or two steps end most runs. perf on `screen+matcher`
/// (1 rule) had the SWAR loop at ~25% of `LineDecoder::run`; SSE2 took `screen_only`
/// from 2.86 to 2.63 ms per 4 MB (1.30 → 1.42 GiB/s; best of 5 alternating runs
/// of both builds).
#[cfg(target_arch = "x86_64")]
fn plain_prefix(data: &[u8]) -> usize {
    use std::arch::x86_64::{
        __m128i, _mm_andnot_si128, _mm_cmpeq_epi8, _mm_cmpgt_epi8, _mm_loadu_si128,
        _mm_movemask_epi8, _mm_set1_epi8,
    };
    let mut i = 0;
    while i + 16 <= data.len() {
        // SAFETY: SSE2 is enabled on every x86-64 target (so the intrinsics can be
        // called), and the unaligned load reads `data[i..i + 16]`, in bounds.
        let printable = unsafe {
            let v = _mm_loadu_si128(data.as_ptr().add(i).cast::<__m128i>());
            let above = _mm_cmpgt_epi8(v, _mm_set1_epi8(0x1f));
            let del = _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7f));
            _mm_movemask_epi8(_mm_andnot_si128(del, above)) as u32
        };
        if printable != 0xffff {
            return i + (!printable).trailing_zeros() as usize;
        }
        i += 16;
    }
    i + plain_prefix_swar(&data[i..])
}

/// [`plain_prefix`] without SIMD.
#[cfg(not(target_arch = "x86_64"))]
fn plain_prefix(data: &[u8]) -> usize {
    plain_prefix_swar(data)
}

/// Length of the run of printable ASCII at the start of `data`, eight bytes at a
/// time (SWAR): bit 7 of a byte of `low` is set for a byte below 0x20, of `high`
/// for a byte of 0x7F or more; carries can only flag bytes above the first real
/// hit, so the lowest flagged byte is exact.
fn plain_prefix_swar(data: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut i = 0;
    while let Some(word) = data.get(i..i + 8) {
        let mut bytes = [0; 8];
        bytes.copy_from_slice(word);
        let w = u64::from_le_bytes(bytes);
        let low = w.wrapping_sub(ONES * 0x20) & !w & HIGHS;
        let high = (w.wrapping_add(ONES) | w) & HIGHS;
        let hits = low | high;
        if hits != 0 {
            return i + (hits.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i + data[i..].iter().take_while(|&&b| (0x20..0x7f).contains(&b)).count()
}

/// Length of the UTF-8 sequence a lead byte starts (1 for ASCII and invalid bytes).
fn utf8_len(lead: u8) -> usize {
    match lead {
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => 1,
    }
}

fn is_continuation(b: u8) -> bool {
    b & 0xC0 == 0x80
}

/// How many bytes at the end of `data` are the start of a UTF-8 sequence that
/// needs more bytes (0 to 3).
fn incomplete_suffix(data: &[u8]) -> usize {
    for back in 1..=3.min(data.len()) {
        let b = data[data.len() - back];
        if !is_continuation(b) {
            return if utf8_len(b) > back { back } else { 0 };
        }
    }
    0
}

impl std::fmt::Debug for LineDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LineDecoder").field("state", &self.state).finish_non_exhaustive()
    }
}

/// The vte callbacks for one `feed` call.
struct Performer<'a, S> {
    state: &'a mut State,
    sink: &'a mut S,
    /// Set by a callback that vte makes only in (or when returning to) its ground
    /// state: `print`, `csi_dispatch`, `esc_dispatch`. Stops vte at that step.
    grounded: bool,
}

impl<S: LineSink> Performer<'_, S> {
    /// Settles a pending CR before visible text: it was a lone CR, so the text shown
    /// so far is a finished line. A CR on an empty line ends nothing.
    #[inline]
    fn resolve_cr(&mut self) {
        if self.state.pending_cr {
            self.state.pending_cr = false;
            if !self.sink.line().is_empty() {
                self.end_line();
            }
        }
    }

    fn end_line(&mut self) {
        self.state.cut = false;
        self.sink.end_line();
    }

    /// Appends ASCII `text` (so any cut falls on a char boundary), as one `push`
    /// per char would.
    #[inline]
    fn push_str(&mut self, text: &str) {
        self.resolve_cr();
        if self.state.cut {
            return;
        }
        let max = self.state.max_line;
        let line = self.sink.line();
        let room = max.saturating_sub(line.len());
        if text.len() <= room {
            line.push_str(text);
        } else {
            line.push_str(text.get(..room).unwrap_or_default());
            self.state.cut = true;
        }
    }

    /// Handles the start of `data` as vte's ground state would, for the bytes that
    /// need no decoding; returns how many bytes it consumed. Stops at a non-ASCII
    /// byte or an escape sequence [`escape_len`] does not take; vte is left in
    /// ground, since nothing here changed its state.
    ///
    /// PERF: most pane output is printable ASCII with CRLF and SGR colours. Runs of
    /// printable ASCII are appended in one `push_str`, C0 controls executed
    /// directly and CSI/ESC sequences skipped without vte's callbacks. On the bench
    /// log (4 MB, ANSI colours, CRLF; `screen_only`) vte alone gave 328 MiB/s and
    /// the fast path for text and controls only 358 MiB/s; handling the escapes
    /// here as well made it 888 MiB/s (the next run, machine under load), and
    /// the line text now goes into the ring with one `push_str` per run between
    /// escapes.
    #[inline]
    fn ground(&mut self, data: &[u8]) -> usize {
        let mut at = 0;
        loop {
            let plain = plain_prefix(&data[at..]);
            if plain > 0 {
                // SAFETY: `plain_prefix` returned a run of bytes 0x20..=0x7E, which
                // is ASCII and so valid UTF-8 (any cut of it is a char boundary).
                // PERF: the checked `from_utf8` was not inlined and took 24% of
                // `screen_only` (perf), for runs of ~10 bytes between escapes.
                let text = unsafe { std::str::from_utf8_unchecked(&data[at..at + plain]) };
                self.push_str(text);
                at += plain;
            }
            let Some(&b) = data.get(at) else { return at };
            match b {
                0x1b => match escape_len(&data[at..]) {
                    Some(n) => at += n,
                    None => return at,
                },
                0x00..=0x1f => {
                    self.execute(b);
                    at += 1;
                }
                // DEL shows nothing.
                0x7f => at += 1,
                _ => return at,
            }
        }
    }

    #[inline]
    fn push(&mut self, c: char) {
        self.resolve_cr();
        if self.state.cut {
            return;
        }
        let max = self.state.max_line;
        let line = self.sink.line();
        if line.len() + c.len_utf8() > max {
            self.state.cut = true;
        } else {
            line.push(c);
        }
    }
}

impl<S: LineSink> Perform for Performer<'_, S> {
    #[inline]
    fn print(&mut self, c: char) {
        self.grounded = true;
        // DEL reaches `print`; it shows nothing.
        if c != '\x7f' {
            self.push(c);
        }
    }

    fn execute(&mut self, byte: u8) {
        match byte {
            b'\n' => {
                self.state.pending_cr = false;
                self.end_line();
            }
            b'\r' => self.state.pending_cr = true,
            b'\t' => self.push('\t'),
            0x08 => {
                self.resolve_cr();
                if self.state.cut {
                    return;
                }
                let line = self.sink.line();
                if line.pop().is_some() {
                    let len = line.len();
                    self.sink.line_edited(len);
                }
            }
            // Other C0/C1 controls (BEL, SO/SI, ...) show nothing; like escape
            // sequences they leave a pending CR open, so `\r\x1b[K\n` is one line end.
            _ => {}
        }
    }

    // Everything else (CSI, OSC, DCS, ESC) is invisible. A CSI or ESC dispatch
    // leaves vte in its ground state; OSC and DCS may end with ESC `\\`, so they
    // do not tell (the next `print` will).
    fn csi_dispatch(&mut self, _: &Params, _: &[u8], _: bool, _: char) {
        self.grounded = true;
    }

    fn esc_dispatch(&mut self, _: &[u8], _: bool, _: u8) {
        self.grounded = true;
    }

    // OSC strings show nothing; shell-integration marks among them go to the sink.
    fn osc_dispatch(&mut self, params: &[&[u8]], _: bool) {
        if let Some(mark) = parse_osc(params) {
            self.sink.mark(mark);
        }
    }

    fn terminated(&self) -> bool {
        self.grounded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink that records lines like the ring does, plus the edit notifications.
    #[derive(Default)]
    struct Lines {
        done: Vec<String>,
        cur: String,
        edits: usize,
        /// Each mark with the number of lines ended before it and the partial line.
        marks: Vec<(usize, String, ShellMark)>,
    }

    impl LineSink for Lines {
        fn line(&mut self) -> &mut String {
            &mut self.cur
        }
        fn line_edited(&mut self, _: usize) {
            self.edits += 1;
        }
        fn end_line(&mut self) {
            self.done.push(std::mem::take(&mut self.cur));
        }
        fn mark(&mut self, mark: ShellMark) {
            self.marks.push((self.done.len(), self.cur.clone(), mark));
        }
    }

    /// Feeds `data` in chunks of `size` (0 = whole) and returns (lines, partial).
    fn run(data: &[u8], size: usize) -> (Vec<String>, String) {
        let mut s = LineDecoder::new();
        let mut l = Lines::default();
        if size == 0 {
            s.feed(data, &mut l);
        } else {
            for c in data.chunks(size) {
                s.feed(c, &mut l);
            }
        }
        (l.done, l.cur)
    }

    /// Same result for every chunking.
    fn lines(data: &[u8]) -> (Vec<String>, String) {
        let whole = run(data, 0);
        for size in [1, 2, 3, 7, 64] {
            assert_eq!(run(data, size), whole, "chunk size {size}");
        }
        whole
    }

    fn strs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    /// The reference: the same performer driven by vte alone over the whole input
    /// (no fast path, no chunking, so no vte carry-over either).
    fn reference(data: &[u8]) -> (Vec<String>, String) {
        let mut parser = Parser::<OSC_BYTES>::new_with_size();
        let mut state = State { pending_cr: false, cut: false, max_line: 40 };
        let mut l = Lines::default();
        parser.advance(&mut Performer { state: &mut state, sink: &mut l, grounded: false }, data);
        (l.done, l.cur)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// The fast path and the UTF-8 hold-back give exactly what vte alone gives,
        /// for random mixes of text, escapes and controls cut anywhere.
        #[test]
        fn fast_path_equals_plain_vte(
            tokens in proptest::collection::vec(proptest::sample::select(vec![
                &b"plain text "[..], b"x", b"1234567890abcdef", b"\x1b[1;32m", b"\x1b[0m", b"\x1b[K",
                b"\x1b]0;title \xc3\xa9\x07", b"\x1b]2;t\x1b\\", b"\x1bP1;2|dcs data\x1b\\", b"\x1b(B",
                b"\r", b"\n", b"\r\n", b"\t", b"\x08", "é".as_bytes(), "☃".as_bytes(),
                "😀".as_bytes(), b"\xff", b"\xc3", b"\xe2\x98", b"\x7f", b"\x1b", b"\x9b", b"\x00",
                b"\x1b[", b"\x18", b"~ ~", b"\x1b[38;5;196m", b"\x1b[2K", b"\x1b[?25l",
                b"\x1b[1;2 q", b"\x1b[<1;2m", b"\x1b[1\n2m", b"\x1b[1\xc3\xa9m", b"\x1b[1\x7fm",
                b"\x1b=", b"\x1b#8", b"\x1b(", b"\x1b[4:3m", b"\x1bX sos \x1b\\", b"\x1b\x1b[m",
            ]), 0..120),
            cuts in proptest::collection::vec(1usize..20, 1..10),
        ) {
            let data = tokens.concat();
            let mut s = LineDecoder::with_max_line(40);
            let mut l = Lines::default();
            let (mut at, mut i) = (0, 0);
            while at < data.len() {
                let n = cuts[i % cuts.len()].min(data.len() - at);
                s.feed(&data[at..at + n], &mut l);
                at += n;
                i += 1;
            }
            proptest::prop_assert_eq!((l.done, l.cur), reference(&data));
        }
    }

    /// SGR, erase-line and plain escapes cut at every pair of points (three feeds)
    /// give what vte alone gives: the fast path never half-consumes a sequence.
    #[test]
    fn escapes_split_at_every_point_equal_plain_vte() {
        let data: &[u8] =
            b"\x1b[1m\x1b[32m   Compiling\x1b[0m foo\r\x1b[K\r\nok \x1b[38;5;196mred\x1b[m\r\n\
            \x1b(B\x1b[?25lbar\x1b[2K\rbaz\x1b[1;2 q\x1b=\n\x1b[1\n2mq\x1b[";
        let want = reference(data);
        for i in 0..=data.len() {
            for j in i..=data.len() {
                let mut s = LineDecoder::with_max_line(40);
                let mut l = Lines::default();
                for part in [&data[..i], &data[i..j], &data[j..]] {
                    s.feed(part, &mut l);
                }
                assert_eq!((&l.done, &l.cur), (&want.0, &want.1), "cuts at {i}, {j}");
            }
        }
        // vte executes the LF inside `ESC [1\n2m` and then finishes the CSI.
        assert_eq!(want.0, strs(&["   Compiling foo", "ok red", "bar", "baz", ""]));
        assert_eq!(want.1, "q");
    }

    #[test]
    fn escape_len_takes_only_complete_silent_sequences() {
        for (data, want) in [
            (&b"\x1b[0m"[..], Some(4)),
            (b"\x1b[38;5;196mx", Some(11)),
            (b"\x1b[K", Some(3)),
            (b"\x1b[?25l", Some(6)),
            (b"\x1b[1;2 q", Some(7)),
            (b"\x1b(B", Some(3)),
            (b"\x1b=", Some(2)),
            (b"\x1b", None),
            (b"\x1b[", None),
            (b"\x1b[1;3", None),
            (b"\x1b[1\nm", None),
            (b"\x1b]0;t\x07", None),
            (b"\x1bPq\x1b\\", None),
            (b"\x1b_apc\x1b\\", None),
            (b"\x1b(", None),
        ] {
            assert_eq!(escape_len(data), want, "{data:?}");
        }
    }

    #[test]
    fn plain_prefix_stops_at_the_first_non_printable() {
        for (data, want) in [
            (&b""[..], 0),
            (b"abc", 3),
            (b"0123456789abcdef\x1bxyz", 16),
            (b"01234\n6789", 5),
            (b"0123456789\x7f", 10),
            (b"01234567\xc3\xa9", 8),
            (b" ~~~~~~~~~~~~~~~~~~~~~\x1f", 22),
        ] {
            assert_eq!(plain_prefix(data), want, "{data:?}");
            assert_eq!(plain_prefix_swar(data), want, "{data:?}");
        }
        // Every stop byte at every position of a 40-byte run, for both versions.
        for stop in (0u8..0x20).chain(0x7f..=0xff) {
            for at in 0..=40 {
                let mut data = vec![b'a'; 40];
                if at < 40 {
                    data[at] = stop;
                }
                assert_eq!(plain_prefix(&data), at, "{stop:#x} at {at}");
                assert_eq!(plain_prefix_swar(&data), at, "{stop:#x} at {at}");
            }
        }
    }

    #[test]
    fn colour_codes_stripped() {
        let (l, p) =
            lines(b"\x1b[1m\x1b[32m   Compiling\x1b[0m foo v0.1.0\r\n\x1b[38;5;196mred\x1b[m");
        assert_eq!(l, strs(&["   Compiling foo v0.1.0"]));
        assert_eq!(p, "red");
    }

    /// A bash session with ctmuxd's integration: BEL and ST terminators, a title OSC,
    /// colours, a 633 command line with escapes, output without a final newline.
    const SHELL: &[u8] = b"\x1b]133;A\x07\x1b]633;P;Cwd=/tmp\x07\x1b[32m$ \x1b[0m\x1b]133;B\x1b\\ls x\r\n\
        \x1b]633;E;ls x\x3b y\x5c\x5c\x07\x1b]133;C\x07\x1b]0;title\x07one\r\ntwo\r\nno-nl\x1b]133;D;2\x07\
        \x1b]133;A\x07$ ";

    fn shell_marks() -> Vec<(usize, String, ShellMark)> {
        vec![
            (0, "".into(), ShellMark::PromptStart),
            (0, "".into(), ShellMark::Cwd("/tmp".into())),
            (0, "$ ".into(), ShellMark::InputStart),
            (1, "".into(), ShellMark::CommandLine("ls x; y\\".into())),
            (1, "".into(), ShellMark::OutputStart),
            (3, "no-nl".into(), ShellMark::Finished(Some(2))),
            (3, "no-nl".into(), ShellMark::PromptStart),
        ]
    }

    #[test]
    fn shell_marks_come_in_order_with_the_lines_at_every_chunking() {
        for size in 0..=SHELL.len() {
            let mut s = LineDecoder::new();
            let mut l = Lines::default();
            if size == 0 {
                s.feed(SHELL, &mut l);
            } else {
                for c in SHELL.chunks(size) {
                    s.feed(c, &mut l);
                }
            }
            assert_eq!(l.marks, shell_marks(), "chunks of {size}");
            assert_eq!(l.done, strs(&["$ ls x", "one", "two"]), "chunks of {size}");
        }
        // Every split in two, and every split in three around each mark's terminator.
        for a in 0..SHELL.len() {
            for b in a..SHELL.len() {
                let mut s = LineDecoder::new();
                let mut l = Lines::default();
                s.feed(&SHELL[..a], &mut l);
                s.feed(&SHELL[a..b], &mut l);
                s.feed(&SHELL[b..], &mut l);
                assert_eq!(l.marks, shell_marks(), "split at {a}, {b}");
            }
        }
    }

    #[test]
    fn a_mark_cut_by_the_osc_bound_or_unterminated_gives_nothing_wrong() {
        let mut s = LineDecoder::new();
        let mut l = Lines::default();
        // Unterminated: nothing until its terminator.
        s.feed(b"\x1b]133;D;0", &mut l);
        assert!(l.marks.is_empty());
        s.feed(b"\x07", &mut l);
        assert_eq!(l.marks, vec![(0, "".into(), ShellMark::Finished(Some(0)))]);
        // A command line over vte's 1 KiB OSC bound arrives cut, not lost.
        let mut long = b"\x1b]633;E;".to_vec();
        long.extend(std::iter::repeat_n(b'x', 3000));
        long.push(7);
        s.feed(&long, &mut l);
        match &l.marks[1].2 {
            ShellMark::CommandLine(c) => assert!(c.len() < 1024 && c.len() > 900, "{}", c.len()),
            m => panic!("{m:?}"),
        }
    }

    #[test]
    fn osc_title_stripped() {
        let (l, p) = lines(b"\x1b]0;my title\x07before\x1b]2;other\x1b\\after\n");
        assert_eq!(l, strs(&["beforeafter"]));
        assert_eq!(p, "");
    }

    #[test]
    fn crlf_crcrlf_and_lf_end_one_line_each() {
        let (l, _) = lines(b"a\r\nb\r\r\nc\nd\r\n\r\ne\n");
        assert_eq!(l, strs(&["a", "b", "c", "d", "", "e"]));
    }

    #[test]
    fn lone_cr_progress_bar_ends_the_text_shown() {
        let (l, p) = lines(b" 10%\r 50%\r\x1b[K100%\r\ndone");
        assert_eq!(l, strs(&[" 10%", " 50%", "100%"]));
        assert_eq!(p, "done");
    }

    #[test]
    fn cr_at_chunk_end_then_lf_is_one_line_end() {
        let mut s = LineDecoder::new();
        let mut l = Lines::default();
        s.feed(b"abc\r", &mut l);
        assert!(s.pending_cr());
        assert!(l.done.is_empty(), "a CR at the chunk end must wait");
        s.feed(b"\ndef", &mut l);
        assert_eq!(l.done, strs(&["abc"]));
        assert_eq!(l.cur, "def");
    }

    #[test]
    fn utf8_split_across_chunks_intact() {
        let data = "red café ☃ 𝄞\r\n".as_bytes();
        let (l, _) = lines(data);
        assert_eq!(l, strs(&["red café ☃ 𝄞"]));
    }

    #[test]
    fn utf8_chars_close_together_split_anywhere() {
        // Regression (found by the matcher proptest): vte's own carry-over dropped
        // the `]` when `é` was split and another `é` followed within 3 bytes.
        let (l, _) = lines("é]é ü☃x𝄞é\n".as_bytes());
        assert_eq!(l, strs(&["é]é ü☃x𝄞é"]));
    }

    #[test]
    fn invalid_utf8_becomes_replacement() {
        let (l, _) = lines(b"a\xffb\xc3(c\xe2\x98\n");
        assert_eq!(l, strs(&["a\u{fffd}b\u{fffd}(c\u{fffd}"]));
        let (l, p) = lines(b"x\xf0\x9f");
        assert!(l.is_empty());
        assert_eq!(p, "x", "an incomplete char at the end waits");
    }

    #[test]
    fn tab_kept_other_controls_dropped() {
        let (l, _) = lines(b"a\tb\x07c\x00d\x7fe\n");
        assert_eq!(l, strs(&["a\tbcde"]));
    }

    #[test]
    fn backspace_removes_last_char() {
        let mut s = LineDecoder::new();
        let mut l = Lines::default();
        s.feed("abé\x08\x08c\n\x08x\n".as_bytes(), &mut l);
        assert_eq!(l.done, strs(&["ac", "x"]));
        assert_eq!(l.edits, 2, "backspace on an empty line edits nothing");
    }

    #[test]
    fn one_megabyte_line_is_bounded() {
        let mut data = vec![b'x'; 1 << 20];
        data.extend_from_slice(b"\nnext\n");
        let (l, _) = run(&data, 4096);
        assert_eq!(l.len(), 2);
        assert_eq!(l[0].len(), MAX_LINE_BYTES);
        assert_eq!(l[1], "next");
    }

    #[test]
    fn cut_never_splits_a_char() {
        let mut s = LineDecoder::with_max_line(5);
        let mut l = Lines::default();
        s.feed("abc☃☃\n".as_bytes(), &mut l);
        assert_eq!(l.done, strs(&["abc"]));
    }

    #[test]
    fn unterminated_osc_of_10_mb_does_not_grow() {
        let mut s = LineDecoder::new();
        let mut l = Lines::default();
        s.feed(b"before\x1b]0;", &mut l);
        let chunk = vec![b'A'; 64 * 1024];
        for _ in 0..160 {
            s.feed(&chunk, &mut l);
        }
        assert_eq!(l.cur, "before");
        assert!(l.cur.capacity() < 1024, "partial grew to {}", l.cur.capacity());
        assert!(std::mem::size_of::<LineDecoder>() < 4096, "decoder state is fixed size");
        s.feed(b"\x07after\n", &mut l);
        assert_eq!(l.done, strs(&["beforeafter"]));
    }
}
