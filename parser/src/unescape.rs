//! `%output` payload encoding. tmux writes every pane byte below 0x20 and the
//! backslash as `\` plus exactly three octal digits, and every other byte
//! (printable ASCII, DEL, all of 0x80-0xFF) raw. [`unescape`] reverses that;
//! [`escape`] reproduces what tmux does (used by tests, fuzz round trips and
//! anyone synthesising a stream). The decoder itself does not un-escape: it
//! hands `%output` data over escaped as a [`Payload`](crate::Payload), whose
//! `unescape_into` runs the appending variant `unescape_append` here when the
//! consumer asks for the bytes.

use std::borrow::Cow;

use memchr::memchr;

/// Decodes the three octal digits after a backslash, if they form an escape.
///
/// tmux always writes exactly three digits, so the value is at most `0o377`;
/// a first digit above `3` (or fewer than three digits) is not an escape.
#[inline]
fn octal3(d: &[u8]) -> Option<u8> {
    match d {
        [a @ b'0'..=b'3', b @ b'0'..=b'7', c @ b'0'..=b'7', ..] => {
            Some(((a - b'0') << 6) | ((b - b'0') << 3) | (c - b'0'))
        }
        _ => None,
    }
}

/// Bytes scanned per backslash bitmask.
const BLOCK: usize = 64;

/// `0x7f` in every byte of a `u64`.
const LOW7: u64 = u64::from_le_bytes([0x7f; 8]);
/// A backslash in every byte of a `u64`.
const BACKSLASHES: u64 = u64::from_le_bytes([b'\\'; 8]);
/// Multiplier that gathers bit 0 of each byte of a `u64` into its top byte,
/// byte `i` to bit `56 + i` (every partial product lands on its own bit, so
/// nothing carries).
const GATHER: u64 = 0x0102_0408_1020_4080;

/// Bit `i` set iff `block[i]` is a backslash.
///
/// PERF: SWAR over eight `u64` words (exact per-byte equality test, then a
/// multiply to gather one bit per byte). The equivalent plain loop is
/// vectorised badly for baseline x86-64 (SSE2 lane widening) and made
/// decoding 35% slower; intrinsics would need `unsafe`, forbidden here.
#[inline]
fn backslash_mask(block: &[u8; BLOCK]) -> u64 {
    let mut mask = 0u64;
    for (i, word) in block.chunks_exact(8).enumerate() {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(word);
        let x = u64::from_le_bytes(bytes) ^ BACKSLASHES;
        // 0x80 exactly in the bytes of `x` that are zero: no borrow crosses
        // bytes because the low 7 bits are added separately.
        let zero = !(((x & LOW7) + LOW7) | x | LOW7);
        mask |= ((zero >> 7).wrapping_mul(GATHER) >> 56) << (8 * i);
    }
    mask
}

/// Bytes of a literal run copied with one blind fixed-size block.
const RUN: usize = 64;

/// Copies the literal run `src[r..r + n]` to `out[w..]`, where `w <= r`.
///
/// PERF: runs are short (~20 bytes between escapes), so a memcpy call per
/// run costs more than the copy, and a loop whose trip count follows the run
/// length mispredicts at almost every run. One blind 64-byte block (four
/// vector loads and stores) covers nearly every run without a data-dependent
/// branch: output-heavy decoding 1.20 GiB/s with 16-byte blocks, 1.37 with
/// 32, 1.46 with 64 (pbench, best of 3 s, loaded machine). Skipping the call
/// for the empty run between two escapes (`\015\012`) costs a mispredicted
/// branch and was slower: 1.30 GiB/s. (Figures from when the decoder still
/// un-escaped eagerly.) The block may write past `w + n`: those bytes of
/// `out` lie beyond the write cursor and are overwritten or truncated later.
#[inline]
fn copy_run(src: &[u8], out: &mut [u8], r: usize, w: usize, n: usize) {
    if r + RUN > src.len() {
        // Near the end of the payload: exact copy.
        out[w..w + n].copy_from_slice(&src[r..r + n]);
        return;
    }
    out[w..w + RUN].copy_from_slice(&src[r..r + RUN]);
    let mut i = RUN;
    while i < n {
        if r + i + RUN <= src.len() {
            out[w + i..w + i + RUN].copy_from_slice(&src[r + i..r + i + RUN]);
            i += RUN;
        } else {
            out[w + i..w + n].copy_from_slice(&src[r + i..r + n]);
            return;
        }
    }
}

/// Un-escapes `src` into `out`, which has `src`'s length and already holds a
/// copy of it, and returns the decoded length (`out[..len]` is the result).
///
/// Reads only `src` and writes only `out`: they are different buffers (the
/// payload and the consumer's output buffer), so literal runs can be copied in
/// blind fixed-size blocks. The write cursor never overtakes the read cursor
/// (an escape shrinks 4 bytes to 1, anything else is copied 1:1), so every
/// store lands inside `out`.
fn unescape_copy(src: &[u8], out: &mut [u8]) -> usize {
    // PERF: the common payload has no backslash at all; `out` already holds
    // the bytes, so one SIMD memchr finishes it. Up to the first backslash
    // the bytes are in place too.
    let Some(first) = memchr(b'\\', src) else { return src.len() };
    let len = src.len();
    let (mut r, mut w) = (first, first);
    // PERF: tmux output has an escape every ~20 bytes (colour, CRLF). A
    // memchr + memcpy call per literal run spent 80% of decoding time in call
    // overhead; one backslash bitmask per 64 bytes, walked bit by bit, made
    // output-heavy decoding 2.6x faster (benches/parser.rs, when the decoder
    // still un-escaped eagerly; re-checked against memchr + extend_from_slice
    // for `Payload::unescape_into`: 1.44 vs 1.01 GiB/s, `decoder+unescape`).
    let mut base = first;
    while base < len {
        let end = (base + BLOCK).min(len);
        let mut block = [0u8; BLOCK];
        block[..end - base].copy_from_slice(&src[base..end]);
        let mut mask = backslash_mask(&block);
        while mask != 0 {
            let p = base + mask.trailing_zeros() as usize;
            mask &= mask - 1;
            if p < r {
                // Consumed by an escape that started in the previous block.
                continue;
            }
            copy_run(src, out, r, w, p - r);
            w += p - r;
            match octal3(&src[p + 1..]) {
                Some(byte) => {
                    out[w] = byte;
                    r = p + 4;
                }
                None => {
                    // Malformed escape: keep the backslash literally, go on after it.
                    out[w] = b'\\';
                    r = p + 1;
                }
            }
            w += 1;
        }
        base = end;
    }
    if r < len {
        copy_run(src, out, r, w, len - r);
        w += len - r;
    }
    w
}

/// Appends the un-escaped form of `src` to `dst`: what
/// [`Payload::unescape_into`](crate::Payload::unescape_into) runs.
///
/// The payload is appended with one memcpy (which finishes a payload without
/// backslashes) and then decoded from `src` into that space, from its first
/// backslash on. Malformed escapes are kept literally, as documented on
/// [`unescape`].
pub(crate) fn unescape_append(src: &[u8], dst: &mut Vec<u8>) {
    let start = dst.len();
    dst.extend_from_slice(src);
    let len = unescape_copy(src, &mut dst[start..]);
    dst.truncate(start + len);
}

/// Decodes `%output` data: each `\ooo` (a backslash and exactly three octal
/// digits, at most `\377`) becomes that byte; every other byte is kept.
///
/// A backslash not followed by three octal digits is kept literally (tmux
/// never writes one, so this only matters for damaged input, and losing bytes
/// would be worse than passing them on). Bytes that are not valid UTF-8 pass
/// through untouched.
///
/// Returns [`Cow::Borrowed`] without copying when `data` has no backslash
/// (the common case: most terminal output is printable).
///
/// # Example
///
/// ```
/// use tmux_control_parser::unescape;
/// assert_eq!(&*unescape(br"hi\015\012"), b"hi\r\n");
/// assert_eq!(&*unescape(br"C:\x"), br"C:\x");
/// ```
pub fn unescape(data: &[u8]) -> Cow<'_, [u8]> {
    match memchr(b'\\', data) {
        None => Cow::Borrowed(data),
        Some(first) => {
            let mut out = data.to_vec();
            let len = unescape_copy(&data[first..], &mut out[first..]);
            out.truncate(first + len);
            Cow::Owned(out)
        }
    }
}

/// Encodes raw pane bytes the way tmux writes them in `%output`: bytes below
/// 0x20 and the backslash become `\ooo`, everything else is copied.
///
/// # Example
///
/// ```
/// use tmux_control_parser::{escape, unescape};
/// let raw = b"\x1b[1m\\bold\xff\r\n";
/// assert_eq!(escape(raw), b"\\033[1m\\134bold\xff\\015\\012".to_vec());
/// assert_eq!(&*unescape(&escape(raw)), raw);
/// ```
pub fn escape(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 4);
    for &b in data {
        if b < 0x20 || b == b'\\' {
            out.extend_from_slice(&[b'\\', b'0' + (b >> 6), b'0' + ((b >> 3) & 7), b'0' + (b & 7)]);
        } else {
            out.push(b);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_backslash_borrows() {
        let data = b"plain \xff\xfe text";
        assert!(matches!(unescape(data), Cow::Borrowed(d) if d == data));
    }

    #[test]
    fn escapes_decode() {
        assert_eq!(&*unescape(br"\033[31mred\033[0m\015\012"), b"\x1b[31mred\x1b[0m\r\n");
        assert_eq!(&*unescape(br"\134\000\377"), b"\\\x00\xff");
        assert_eq!(&*unescape(br"a\011b"), b"a\tb");
    }

    #[test]
    fn malformed_escapes_are_literal() {
        // Too few digits, non-octal digits, value above 0o377, trailing backslash.
        assert_eq!(&*unescape(br"\12"), br"\12");
        assert_eq!(&*unescape(br"\1"), br"\1");
        assert_eq!(&*unescape(br"\"), br"\");
        assert_eq!(&*unescape(br"\8000"), br"\8000");
        assert_eq!(&*unescape(br"\400"), br"\400");
        assert_eq!(&*unescape(br"\\101"), b"\\A");
        assert_eq!(&*unescape(br"x\q\101"), b"x\\qA");
    }

    #[test]
    fn escape_matches_tmux_rule() {
        assert_eq!(escape(b"\x00\x1f \x7f\x80\\"), b"\\000\\037 \x7f\x80\\134".to_vec());
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(&*unescape(&escape(&all)), &all[..]);
    }

    /// Byte-by-byte reference for [`unescape`].
    fn reference(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < data.len() {
            match (data[i], octal3(&data[i + 1..])) {
                (b'\\', Some(byte)) => {
                    out.push(byte);
                    i += 4;
                }
                (b, _) => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        out
    }

    #[test]
    fn escapes_at_every_block_offset_and_long_runs() {
        // Escapes (valid, malformed, truncated) straddling the 64-byte mask
        // blocks and the blind 64-byte run copies, between runs longer than
        // one block.
        for piece in [&br"\015"[..], br"\\q", br"\1", br"\015\012\033", br"\400"] {
            for at in 0..200 {
                let mut data: Vec<u8> = (0..at).map(|i| b'a' + (i % 26) as u8).collect();
                data.extend_from_slice(piece);
                data.extend((0..150).map(|i| b'A' + (i % 26) as u8));
                data.extend_from_slice(piece);
                assert_eq!(&*unescape(&data), &reference(&data)[..], "{piece:?} at {at}");
                let cut = &data[..at + piece.len() - 1];
                assert_eq!(&*unescape(cut), &reference(cut)[..], "{piece:?} cut at {at}");
            }
        }
    }

    #[test]
    fn appending_variant_keeps_what_is_already_there() {
        let mut out = b"kept:".to_vec();
        unescape_append(br"ab\015\012cd\\x\1", &mut out);
        assert_eq!(&out[..], b"kept:ab\r\ncd\\\\x\\1");
        unescape_append(b"", &mut out);
        unescape_append(br"\", &mut out);
        assert_eq!(&out[..], b"kept:ab\r\ncd\\\\x\\1\\");
    }
}
