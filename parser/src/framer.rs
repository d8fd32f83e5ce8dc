//! Incremental LF framing of the bytes `tmux -C` writes, independent of how
//! they were chunked by the pipe. [`LineFramer`] carries what cannot be
//! decoded straight out of the chunk given to `Decoder::feed`: the partial
//! line at the end of a chunk, an overlong line being skipped, and the bytes
//! around the `-CC` wrapper. While it is clean ([`LineFramer::is_clean`]) the
//! decoder frames complete lines itself, in place in the chunk. The framer
//! also enforces the line-length cap (overflow is discarded up to the next
//! LF and reported once, never fatal) and undoes the `-CC` wrapper: a leading
//! `ESC P 1000 p`, a trailing CR per line, and the `ESC \` after `%exit`.

use bytes::{Buf, Bytes, BytesMut};
use memchr::memchr;

use crate::error::MAX_KEPT_LINE;

/// The DCS introducer `tmux -CC` writes before the first line.
const DCS_START: &[u8] = b"\x1bP1000p";
/// The string terminator `tmux -CC` writes after `%exit`.
const DCS_END: &[u8] = b"\x1b\\";

/// One unit produced by the framer.
#[derive(Debug)]
pub(crate) enum Frame {
    /// A complete line without its LF (and without the CR in CRLF mode).
    Line(BytesMut),
    /// A line longer than the cap was discarded.
    Overlong {
        /// Its full length (up to EOF if it never ended).
        len: usize,
        /// Its first [`MAX_KEPT_LINE`] bytes, for the error report.
        head: Bytes,
    },
}

/// Where the framer stands with respect to the `-CC` wrapper.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wrapper {
    /// Nothing seen yet: the stream may start with `ESC P 1000 p`.
    Start,
    /// Inside the stream.
    Body,
    /// `%exit` was seen: the next bytes may be the closing `ESC \`.
    AfterExit,
    /// `ESC \` after `%exit` was seen: the stream is over, input is ignored.
    Ended,
}

/// Splits a byte stream into lines, incrementally and with bounded memory.
#[derive(Debug)]
pub(crate) struct LineFramer {
    /// Bytes received but not yet returned as lines: in practice the partial
    /// line a chunk ended with (the decoder hands over at most one line plus
    /// its LF at a time). Bounded by the line cap plus one fed chunk: once the
    /// pending partial line exceeds `max_line` it is dropped and the framer
    /// switches to discarding.
    buf: BytesMut,
    /// `buf[..scanned]` is known to contain no LF, so a line arriving one
    /// byte at a time is scanned in linear, not quadratic, time.
    scanned: usize,
    /// Maximum line length in bytes, LF excluded.
    max_line: usize,
    /// An overlong line is being skipped: its length so far and its first
    /// [`MAX_KEPT_LINE`] bytes (topped up from later chunks so the report is
    /// the same however the input was split).
    discarding: Option<(usize, Vec<u8>)>,
    /// Strip one trailing CR per line (`-CC`, or `-C` on a terminal).
    strip_cr: bool,
    /// Progress through the `-CC` wrapper.
    wrapper: Wrapper,
}

impl LineFramer {
    /// A framer that accepts lines of at most `max_line` bytes.
    pub(crate) fn new(max_line: usize) -> LineFramer {
        LineFramer {
            buf: BytesMut::new(),
            scanned: 0,
            max_line,
            discarding: None,
            strip_cr: false,
            wrapper: Wrapper::Start,
        }
    }

    /// Appends input bytes.
    pub(crate) fn feed(&mut self, chunk: &[u8]) {
        if self.wrapper == Wrapper::Ended {
            return;
        }
        self.buf.extend_from_slice(chunk);
    }

    /// Turns CR stripping on or off.
    pub(crate) fn set_strip_cr(&mut self, strip: bool) {
        self.strip_cr = strip;
    }

    /// The line cap in bytes.
    pub(crate) fn max_line(&self) -> usize {
        self.max_line
    }

    /// Whether CR stripping is on (set explicitly or by a `-CC` introducer).
    pub(crate) fn strip_cr(&self) -> bool {
        self.strip_cr
    }

    /// Tells the framer `%exit` was decoded, so a following `ESC \` ends the stream.
    pub(crate) fn saw_exit(&mut self) {
        if self.wrapper != Wrapper::Ended {
            self.wrapper = Wrapper::AfterExit;
        }
    }

    /// Whether the framer holds no state a new line depends on: no partial
    /// line, no overlong line being skipped, and no `-CC` marker that may
    /// still come. Only then may the decoder take complete lines straight out
    /// of a chunk without passing them through this buffer.
    pub(crate) fn is_clean(&self) -> bool {
        self.wrapper == Wrapper::Body && self.buf.is_empty() && self.discarding.is_none()
    }

    /// Whether `ESC \` after `%exit` ended the stream (later input is ignored).
    pub(crate) fn is_ended(&self) -> bool {
        self.wrapper == Wrapper::Ended
    }

    /// Frames one complete line taken straight out of a chunk (without its
    /// LF) while the framer [is clean](LineFramer::is_clean): applies the
    /// line cap and CR stripping exactly as [`LineFramer::next_frame`] does
    /// for a buffered line, so both paths yield the same frames.
    ///
    /// # Errors
    ///
    /// When the line is longer than the cap: its length and its first
    /// [`MAX_KEPT_LINE`] bytes, as in [`Frame::Overlong`].
    pub(crate) fn complete_line<'a>(&self, line: &'a [u8]) -> Result<&'a [u8], (usize, Bytes)> {
        if line.len() > self.max_line {
            let head = Bytes::copy_from_slice(&line[..MAX_KEPT_LINE.min(line.len())]);
            return Err((line.len(), head));
        }
        Ok(match line {
            [body @ .., b'\r'] if self.strip_cr => body,
            _ => line,
        })
    }

    /// Bytes currently buffered (for memory accounting in tests).
    pub(crate) fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Handles the wrapper bytes at the start of the buffer. Returns `false`
    /// when more input is needed to decide (and `eof` is not set).
    fn unwrap_dcs(&mut self, eof: bool) -> bool {
        let marker = match self.wrapper {
            Wrapper::Start => DCS_START,
            Wrapper::AfterExit => DCS_END,
            Wrapper::Body | Wrapper::Ended => return true,
        };
        if self.buf.starts_with(marker) {
            self.buf.advance(marker.len());
            self.scanned = 0;
            if self.wrapper == Wrapper::Start {
                self.strip_cr = true;
                self.wrapper = Wrapper::Body;
            } else {
                self.wrapper = Wrapper::Ended;
                self.buf.clear();
            }
            return true;
        }
        if marker.starts_with(&self.buf) && !eof {
            // A proper prefix of the marker (possibly empty): wait for more.
            return false;
        }
        if self.wrapper == Wrapper::Start {
            self.wrapper = Wrapper::Body;
        } else if !self.buf.is_empty() {
            // Something other than ESC \ after %exit: keep decoding it.
            self.wrapper = Wrapper::Body;
        }
        true
    }

    /// Returns the next line, an overlong-line report, or `None` when more
    /// input is needed. With `eof`, a final unterminated line is returned too.
    pub(crate) fn next_frame(&mut self, eof: bool) -> Option<Frame> {
        if let Some((len, head)) = &mut self.discarding {
            let (skip, done) = match memchr(b'\n', &self.buf) {
                Some(p) => (p, true),
                None => (self.buf.len(), eof),
            };
            let keep = (MAX_KEPT_LINE - head.len()).min(skip);
            head.extend_from_slice(&self.buf[..keep]);
            *len += skip;
            self.buf.advance((skip + 1).min(self.buf.len()));
            if !done {
                return None;
            }
            let (len, head) = self.discarding.take()?;
            return Some(Frame::Overlong { len, head: head.into() });
        }
        if !self.unwrap_dcs(eof) || self.wrapper == Wrapper::Ended {
            return None;
        }
        let end = match memchr(b'\n', &self.buf[self.scanned..]) {
            Some(p) => self.scanned + p,
            None if self.buf.len() > self.max_line => {
                // Over the cap with no LF in sight: keep the head for the
                // report, drop the rest, and skip to the next LF.
                let head = self.buf[..MAX_KEPT_LINE.min(self.buf.len())].to_vec();
                self.discarding = Some((self.buf.len(), head));
                self.buf.clear();
                self.scanned = 0;
                return self.next_frame(eof);
            }
            None if eof && !self.buf.is_empty() => self.buf.len(),
            None => {
                self.scanned = self.buf.len();
                return None;
            }
        };
        self.scanned = 0;
        if end > self.max_line {
            let head = Bytes::copy_from_slice(&self.buf[..MAX_KEPT_LINE.min(end)]);
            self.buf.advance((end + 1).min(self.buf.len()));
            return Some(Frame::Overlong { len: end, head });
        }
        let mut line = self.buf.split_to(end);
        if !self.buf.is_empty() {
            self.buf.advance(1);
        }
        if self.strip_cr && line.last() == Some(&b'\r') {
            line.truncate(line.len() - 1);
        }
        Some(Frame::Line(line))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(framer: &mut LineFramer, eof: bool) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while let Some(f) = framer.next_frame(eof) {
            match f {
                Frame::Line(l) => out.push(l.to_vec()),
                Frame::Overlong { len, head } => {
                    out.push(format!("<overlong {len} {}>", head.len()).into_bytes())
                }
            }
        }
        out
    }

    #[test]
    fn splits_lines_across_chunks() {
        let mut f = LineFramer::new(100);
        f.feed(b"ab");
        assert!(lines(&mut f, false).is_empty());
        f.feed(b"c\nde\n\nf");
        assert_eq!(lines(&mut f, false), vec![b"abc".to_vec(), b"de".to_vec(), b"".to_vec()]);
        assert_eq!(lines(&mut f, true), vec![b"f".to_vec()]);
        assert_eq!(f.buffered(), 0);
    }

    #[test]
    fn overlong_lines_are_reported_once_and_skipped() {
        let mut f = LineFramer::new(4);
        f.feed(b"ok\n0123456789");
        assert_eq!(lines(&mut f, false), vec![b"ok".to_vec()]);
        assert_eq!(f.buffered(), 0, "the overflow must not be buffered");
        f.feed(b"abc\nnext\n");
        assert_eq!(lines(&mut f, false), vec![b"<overlong 13 13>".to_vec(), b"next".to_vec()]);
        // A complete overlong line found in one piece gives the same report.
        f.feed(b"0123456789abc\n");
        assert_eq!(lines(&mut f, false), vec![b"<overlong 13 13>".to_vec()]);
    }

    #[test]
    fn cc_wrapper_is_removed() {
        let mut f = LineFramer::new(100);
        for b in b"\x1bP1000p%begin 1 2 0\r\n%exit\r\n" {
            f.feed(&[*b]);
        }
        assert_eq!(lines(&mut f, false), vec![b"%begin 1 2 0".to_vec(), b"%exit".to_vec()]);
        assert!(f.strip_cr());
        f.saw_exit();
        f.feed(b"\x1b");
        assert!(lines(&mut f, false).is_empty());
        f.feed(b"\\");
        assert!(lines(&mut f, true).is_empty());
        f.feed(b"ignored\n");
        assert!(lines(&mut f, true).is_empty());
    }

    #[test]
    fn plain_stream_keeps_cr_and_a_lone_escape() {
        let mut f = LineFramer::new(100);
        f.feed(b"\x1bP10");
        assert!(lines(&mut f, false).is_empty());
        assert_eq!(lines(&mut f, true), vec![b"\x1bP10".to_vec()]);
        let mut f = LineFramer::new(100);
        f.feed(b"body\r\n");
        assert_eq!(lines(&mut f, false), vec![b"body\r".to_vec()]);
    }
}
