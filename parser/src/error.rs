//! The one error type of the crate. A [`ParseError`] describes a single line
//! (or a single block) the decoder could not turn into an event; it is never
//! fatal: the [`Decoder`](crate::Decoder) reports it and goes on with the next
//! line. "Need more bytes" is not an error (the decoder just returns `None`).
//! The shape mirrors regex-automata's `hybrid/error.rs`: an opaque struct that
//! carries a public, `#[non_exhaustive]` kind plus the offending line.

use std::fmt;

use bytes::Bytes;

/// How much of an overlong line is kept in [`ParseError::line`]: enough to
/// recognise it in a log, without holding megabytes of a line that was
/// discarded precisely to bound memory.
pub(crate) const MAX_KEPT_LINE: usize = 256;

/// What went wrong with one line or block of the control-mode stream.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseErrorKind {
    /// A line was longer than the decoder's line cap; it was discarded up to
    /// its terminating LF. `len` is the full length of the line (without the
    /// LF; at end of input, what had arrived).
    LineTooLong {
        /// Length of the discarded line in bytes.
        len: usize,
        /// The configured maximum line length.
        max: usize,
    },
    /// A `%begin` block grew past the decoder's block cap; its body was
    /// discarded and this error is reported in place of its `Reply` when the
    /// matching `%end`/`%error` arrives (so a caller correlating replies with
    /// commands still sees exactly one item per block).
    BlockTooLarge {
        /// Bytes the block accounted for (body bytes plus per-line overhead).
        len: usize,
        /// The configured maximum block size.
        max: usize,
        /// The command number from the block's guard lines.
        number: u32,
        /// The flags from the block's guard lines.
        flags: u32,
    },
    /// A body line of a block exceeded the line cap (already reported as
    /// [`ParseErrorKind::LineTooLong`]); the rest of the block was consumed
    /// and this error replaces its `Reply`.
    ReplyTruncated {
        /// The command number from the block's guard lines.
        number: u32,
        /// The flags from the block's guard lines.
        flags: u32,
    },
    /// The input ended while a `%begin` block was still open.
    UnterminatedBlock {
        /// The command number from the open `%begin`.
        number: u32,
        /// The flags from the open `%begin`.
        flags: u32,
    },
    /// A `%end`/`%error` guard arrived with no block open (or a guard line
    /// was given to [`parse_line`](crate::parse_line), which has no block
    /// state).
    UnexpectedGuard,
    /// A line names a known notification (or guard) but its arguments do not
    /// follow tmux's grammar; `what` names the field that failed.
    Malformed {
        /// The offending notification or field, e.g. `"%output pane id"`.
        what: &'static str,
    },
    /// A layout string does not follow the layout grammar; `what` names the
    /// part that failed.
    BadLayout {
        /// The offending part of the layout, e.g. `"cell size"`.
        what: &'static str,
    },
    /// A layout string parsed but its checksum does not match its body.
    BadChecksum {
        /// The checksum written at the start of the layout.
        expected: u16,
        /// The checksum computed over the layout body.
        computed: u16,
    },
}

impl fmt::Display for ParseErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseErrorKind::LineTooLong { len, max } => {
                write!(f, "line of {len} bytes exceeds the maximum line length of {max} bytes")
            }
            ParseErrorKind::BlockTooLarge { len, max, number, flags } => write!(
                f,
                "reply block {number} (flags {flags}) of at least {len} bytes exceeds the maximum block size of {max} bytes"
            ),
            ParseErrorKind::ReplyTruncated { number, flags } => write!(
                f,
                "reply block {number} (flags {flags}) dropped: one of its lines exceeded the maximum line length"
            ),
            ParseErrorKind::UnterminatedBlock { number, flags } => write!(
                f,
                "input ended inside reply block {number} (flags {flags}) with no %end or %error"
            ),
            ParseErrorKind::UnexpectedGuard => write!(f, "guard line outside a block"),
            ParseErrorKind::Malformed { what } => write!(f, "malformed {what}"),
            ParseErrorKind::BadLayout { what } => write!(f, "bad layout: invalid {what}"),
            ParseErrorKind::BadChecksum { expected, computed } => write!(
                f,
                "bad layout checksum: layout says {expected:04x}, body sums to {computed:04x}"
            ),
        }
    }
}

/// A line (or block) of the control-mode stream that could not be decoded.
///
/// Opaque on purpose: inspect it with [`ParseError::kind`] and
/// [`ParseError::line`]. The decoder keeps going after reporting one.
#[derive(Clone, PartialEq, Eq)]
pub struct ParseError {
    /// What went wrong.
    kind: ParseErrorKind,
    /// The offending line without its LF (at most [`MAX_KEPT_LINE`] bytes of
    /// it for overlong lines; the guard line for block-level errors).
    line: Bytes,
}

impl ParseError {
    /// Creates an error for `line`.
    pub(crate) fn new(kind: ParseErrorKind, line: Bytes) -> ParseError {
        ParseError { kind, line }
    }

    /// Shorthand for a [`ParseErrorKind::Malformed`] error.
    pub(crate) fn malformed(what: &'static str, line: &[u8]) -> ParseError {
        ParseError::new(ParseErrorKind::Malformed { what }, Bytes::copy_from_slice(line))
    }

    /// Replaces the recorded line (used when a sub-parser such as the layout
    /// parser failed on a field and the whole line is the useful context).
    pub(crate) fn with_line(mut self, line: &[u8]) -> ParseError {
        self.line = Bytes::copy_from_slice(line);
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> &ParseErrorKind {
        &self.kind
    }

    /// The offending line as received, without its LF.
    ///
    /// For [`ParseErrorKind::LineTooLong`] only the first 256 bytes are kept;
    /// for block-level errors it is the closing (or opening) guard line.
    pub fn line(&self) -> &[u8] {
        &self.line
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 80;
        let shown = &self.line[..self.line.len().min(SHOWN)];
        let ellipsis = if self.line.len() > SHOWN { "..." } else { "" };
        write!(f, "{} in line {:?}{}", self.kind, String::from_utf8_lossy(shown), ellipsis)
    }
}

impl fmt::Debug for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParseError")
            .field("kind", &self.kind)
            .field("line", &String::from_utf8_lossy(&self.line))
            .finish()
    }
}

impl std::error::Error for ParseError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_the_kind_and_the_line() {
        let err = ParseError::malformed("%output pane id", b"%output x y");
        assert_eq!(err.to_string(), "malformed %output pane id in line \"%output x y\"");
        assert_eq!(err.line(), b"%output x y");
        assert_eq!(err.kind(), &ParseErrorKind::Malformed { what: "%output pane id" });
    }

    #[test]
    fn display_shortens_long_lines() {
        let line = vec![b'x'; 200];
        let err = ParseError::new(ParseErrorKind::LineTooLong { len: 200, max: 100 }, line.into());
        let text = err.to_string();
        assert!(text.starts_with("line of 200 bytes exceeds the maximum line length of 100 bytes"));
        assert!(text.ends_with("\"..."), "{text}");
    }
}
