//! [`Payload`]: the data of one `%output` / `%extended-output` line, handed
//! over still escaped the way tmux wrote it (`\ooo` for bytes below 0x20 and
//! the backslash). The decoder copies the escaped bytes out of the fed chunk
//! with one memcpy into its per-feed buffer and does nothing else with them;
//! the raw pane bytes are produced only when a consumer asks, with
//! [`Payload::unescape`] (a `Bytes`, zero-copy when there is nothing to
//! decode) or [`Payload::unescape_into`] (appended to a reusable buffer, the
//! daemon's hot path). A consumer that ignores a pane's output pays nothing
//! for decoding it.
//!
//! Equality and `Debug` are about the un-escaped content, because tmux's
//! escaping is not canonical for input that did not come from tmux (`\101`
//! and `A` are the same byte).

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;

use crate::unescape::{escape, unescape, unescape_append};

/// Pane bytes from `%output` / `%extended-output`, kept in tmux's escaped
/// form until asked for.
///
/// Build one with [`Payload::from_escaped`] (bytes as they appear on the
/// wire) or from raw bytes (`from_raw` and the `From` impls, which escape
/// them). Two payloads are equal when their un-escaped bytes are.
///
/// # Example
///
/// ```
/// use bytes::Bytes;
/// use tmux_control_parser::Payload;
///
/// let p = Payload::from_escaped(Bytes::from_static(br"ls\015\012"));
/// assert_eq!(p.escaped_len(), 10);
/// assert_eq!(&p.unescape()[..], b"ls\r\n");
///
/// // The daemon's way: decode into one buffer reused for every payload.
/// let mut scratch = Vec::new();
/// p.unescape_into(&mut scratch);
/// assert_eq!(scratch, b"ls\r\n");
///
/// // `From` takes raw bytes; equality compares what the bytes decode to.
/// assert_eq!(p, Payload::from("ls\r\n"));
/// assert_eq!(p, "ls\r\n");
/// ```
#[derive(Clone, Default)]
pub struct Payload {
    /// The bytes exactly as tmux wrote them (escaped).
    escaped: Bytes,
}

impl Payload {
    /// Wraps bytes that are already escaped (the DATA field of an `%output`
    /// line), without copying or checking them: any byte string is a valid
    /// escaped payload (a backslash that does not start `\ooo` stands for
    /// itself, as in [`unescape`](crate::unescape)).
    ///
    /// This is what the decoder uses; it is public for consumers that frame
    /// lines themselves.
    pub fn from_escaped(escaped: Bytes) -> Payload {
        Payload { escaped }
    }

    /// Escapes raw pane bytes the way tmux does (see [`escape`](crate::escape))
    /// and wraps the result.
    ///
    /// ```
    /// use tmux_control_parser::Payload;
    /// let p = Payload::from_raw(b"a\\b\r\n");
    /// assert_eq!(&p.escaped()[..], br"a\134b\015\012");
    /// assert_eq!(&p.unescape()[..], b"a\\b\r\n");
    /// ```
    pub fn from_raw(raw: &[u8]) -> Payload {
        Payload { escaped: Bytes::from(escape(raw)) }
    }

    /// The escaped bytes, as they appeared on the wire.
    pub fn escaped(&self) -> &Bytes {
        &self.escaped
    }

    /// Gives up the escaped bytes.
    pub fn into_escaped(self) -> Bytes {
        self.escaped
    }

    /// Length of the escaped form; the raw bytes are at most this long (an
    /// escape turns four bytes into one, everything else is kept).
    pub fn escaped_len(&self) -> usize {
        self.escaped.len()
    }

    /// Whether the payload holds no bytes (escaped and raw emptiness agree:
    /// every escaped byte or escape decodes to at least one byte).
    pub fn is_empty(&self) -> bool {
        self.escaped.is_empty()
    }

    /// The raw pane bytes.
    ///
    /// Without a backslash (found with one SIMD memchr) the escaped bytes are
    /// the raw bytes and the result is a zero-copy clone of
    /// [`Payload::escaped`]; otherwise it is a fresh buffer. Prefer
    /// [`Payload::unescape_into`] in a loop: it reuses one buffer.
    ///
    /// ```
    /// use tmux_control_parser::Payload;
    /// let plain = Payload::from("no escapes");
    /// assert_eq!(plain.unescape().as_ptr(), plain.escaped().as_ptr());
    /// ```
    pub fn unescape(&self) -> Bytes {
        match unescape(&self.escaped) {
            Cow::Borrowed(_) => self.escaped.clone(),
            Cow::Owned(raw) => Bytes::from(raw),
        }
    }

    /// Appends the raw pane bytes to `out` (it is not cleared first).
    ///
    /// The hot path for consumers: with a reused `out` it does not allocate.
    /// PERF: the escaped bytes go into `out` with one memcpy, then the part
    /// from the first backslash on is rewritten with the crate's block-wise
    /// un-escape (a SWAR backslash mask per 64 bytes and blind 64-byte run
    /// copies; see `unescape.rs`). Measured against a memchr_iter over `\`
    /// with an `extend_from_slice` per literal run, on the output-heavy bench
    /// stream (one escape per ~21 bytes), decode + un-escape of every payload:
    /// 1.44 GiB/s with this, 1.01 GiB/s with memchr (call overhead on ~20-byte
    /// runs).
    ///
    /// ```
    /// use tmux_control_parser::Payload;
    /// let mut out = b"> ".to_vec();
    /// Payload::from("hi\r\n").unescape_into(&mut out);
    /// assert_eq!(out, b"> hi\r\n");
    /// ```
    pub fn unescape_into(&self, out: &mut Vec<u8>) {
        unescape_append(&self.escaped, out);
    }
}

/// Raw bytes, escaped (see [`Payload::from_raw`]).
impl From<&[u8]> for Payload {
    fn from(raw: &[u8]) -> Payload {
        Payload::from_raw(raw)
    }
}

/// Raw bytes, escaped (see [`Payload::from_raw`]).
impl<const N: usize> From<&[u8; N]> for Payload {
    fn from(raw: &[u8; N]) -> Payload {
        Payload::from_raw(raw)
    }
}

/// Raw bytes, escaped (see [`Payload::from_raw`]).
impl From<Vec<u8>> for Payload {
    fn from(raw: Vec<u8>) -> Payload {
        Payload::from_raw(&raw)
    }
}

/// Raw bytes of the string, escaped (see [`Payload::from_raw`]).
impl From<&str> for Payload {
    fn from(raw: &str) -> Payload {
        Payload::from_raw(raw.as_bytes())
    }
}

/// Equal when the un-escaped bytes are equal (`\101` equals `A`).
impl PartialEq for Payload {
    fn eq(&self, other: &Payload) -> bool {
        // Identical escaped bytes decode identically: skip decoding.
        self.escaped == other.escaped || unescape(&self.escaped) == unescape(&other.escaped)
    }
}

impl Eq for Payload {}

/// Compares the un-escaped bytes with raw bytes.
impl PartialEq<[u8]> for Payload {
    fn eq(&self, raw: &[u8]) -> bool {
        *unescape(&self.escaped) == *raw
    }
}

/// Compares the un-escaped bytes with raw bytes.
impl PartialEq<&[u8]> for Payload {
    fn eq(&self, raw: &&[u8]) -> bool {
        *self == **raw
    }
}

/// Compares the un-escaped bytes with the string's bytes.
impl PartialEq<str> for Payload {
    fn eq(&self, raw: &str) -> bool {
        *self == *raw.as_bytes()
    }
}

/// Compares the un-escaped bytes with the string's bytes.
impl PartialEq<&str> for Payload {
    fn eq(&self, raw: &&str) -> bool {
        *self == *raw.as_bytes()
    }
}

/// `Payload(b"...")` with the un-escaped bytes, as a byte string literal.
impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Payload").field(&self.unescape()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(b: &'static [u8]) -> Payload {
        Payload::from_escaped(Bytes::from_static(b))
    }

    #[test]
    fn from_raw_round_trips() {
        let all: Vec<u8> = (0..=255).collect();
        let p = Payload::from_raw(&all);
        assert_eq!(&p.unescape()[..], &all[..]);
        assert_eq!(p.escaped_len(), 256 + 3 * 33);
        let mut out = Vec::new();
        p.unescape_into(&mut out);
        assert_eq!(out, all);
        assert_eq!(Payload::from(all.clone()), p);
        assert_eq!(Payload::from(&all[..]), p);
    }

    #[test]
    fn non_canonical_escapes_compare_equal() {
        assert_eq!(escaped(br"\101\102C"), escaped(b"ABC"));
        assert_eq!(escaped(br"\101\102C"), Payload::from("ABC"));
        assert_ne!(escaped(br"\101"), escaped(br"\102"));
        assert_ne!(escaped(br"\101"), escaped(b"AA"));
        // A malformed escape stands for itself.
        assert_eq!(escaped(br"\q"), escaped(br"\134q"));
        assert_eq!(escaped(br"\101"), "A");
        assert_eq!(escaped(br"\101"), &b"A"[..]);
        assert_ne!(escaped(br"\101"), &br"\101"[..]);
    }

    #[test]
    fn no_backslash_is_zero_copy() {
        let p = escaped(b"plain \xff text");
        let raw = p.unescape();
        assert_eq!(raw.as_ptr(), p.escaped().as_ptr());
        assert_eq!(raw.len(), p.escaped_len());
        let q = escaped(br"a\015");
        assert_ne!(q.unescape().as_ptr(), q.escaped().as_ptr());
        assert_eq!(&q.unescape()[..], b"a\r");
    }

    #[test]
    fn unescape_into_appends() {
        let mut out = b"kept:".to_vec();
        escaped(br"ab\015\012").unescape_into(&mut out);
        escaped(b"").unescape_into(&mut out);
        escaped(b"cd").unescape_into(&mut out);
        assert_eq!(out, b"kept:ab\r\ncd");
    }

    #[test]
    fn partial_and_invalid_escapes_pass_through_like_unescape() {
        for data in [
            &br"\"[..],
            br"\1",
            br"\12",
            br"\400",
            br"x\",
            br"x\1",
            br"x\12",
            br"x\400",
            br"\8000",
            br"\\101",
            br"\015\",
        ] {
            let p = Payload::from_escaped(Bytes::copy_from_slice(data));
            let expected = unescape(data);
            assert_eq!(&p.unescape()[..], &*expected, "{data:?}");
            let mut out = vec![b'>'];
            p.unescape_into(&mut out);
            assert_eq!(&out[1..], &*expected, "{data:?}");
        }
        assert_eq!(&escaped(br"x\12").unescape()[..], br"x\12");
        assert_eq!(&escaped(br"\015\").unescape()[..], b"\r\\");
    }

    #[test]
    fn empty_default_and_debug() {
        assert!(Payload::default().is_empty());
        assert_eq!(Payload::default(), Payload::from(""));
        assert!(!escaped(br"\000").is_empty());
        assert_eq!(format!("{:?}", escaped(br"hi\015\012")), r#"Payload(b"hi\r\n")"#);
        assert_eq!(escaped(b"x").clone().into_escaped(), Bytes::from_static(b"x"));
    }
}
