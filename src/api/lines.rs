//! Bounded JSON-lines framing shared by the server and the client: a `LinesCodec` with a
//! maximum length driven by hand over any `AsyncRead`, so a line that is too long or not
//! UTF-8 is reported and skipped instead of ending the connection (a `FramedRead` stops
//! yielding after its decoder's first error).

use std::io;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_util::codec::{Decoder, LinesCodec, LinesCodecError};

/// One framing result.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Incoming {
    /// A complete line, without its `\n` (or `\r\n`).
    Line(String),
    /// A line that was skipped; the text says why.
    Bad(String),
    /// The peer closed its side and every line was returned.
    Eof,
}

/// The read side of a connection, split into lines of at most `max` bytes.
#[derive(Debug)]
pub(crate) struct LineReader<R> {
    rd: R,
    /// Bytes read but not yet framed: at most `max` plus one read, because the codec
    /// errors (and then discards up to the next newline) once a line outgrows `max`.
    buf: BytesMut,
    codec: LinesCodec,
    max: usize,
    eof: bool,
}

impl<R: AsyncRead + Unpin> LineReader<R> {
    /// Frames `rd` into lines of at most `max` bytes.
    pub(crate) fn new(rd: R, max: usize) -> LineReader<R> {
        LineReader {
            rd,
            buf: BytesMut::new(),
            codec: LinesCodec::new_with_max_length(max),
            max,
            eof: false,
        }
    }

    /// The next line. Cancel-safe: the only await is `read_buf`, and all framing state
    /// lives in `self`, so a `select!` may drop this future and call it again.
    ///
    /// # Errors
    /// Read errors of the underlying stream.
    pub(crate) async fn next(&mut self) -> io::Result<Incoming> {
        loop {
            let framed = if self.eof {
                self.codec.decode_eof(&mut self.buf)
            } else {
                self.codec.decode(&mut self.buf)
            };
            match framed {
                Ok(Some(line)) => return Ok(Incoming::Line(line)),
                Ok(None) if self.eof => return Ok(Incoming::Eof),
                Ok(None) => {}
                Err(LinesCodecError::MaxLineLengthExceeded) => {
                    return Ok(Incoming::Bad(format!(
                        "line longer than {} bytes; skipped up to its newline",
                        self.max
                    )));
                }
                Err(LinesCodecError::Io(e)) if e.kind() == io::ErrorKind::InvalidData => {
                    return Ok(Incoming::Bad("line is not UTF-8".to_string()));
                }
                Err(LinesCodecError::Io(e)) => return Err(e),
            }
            self.buf.reserve(8 * 1024);
            if self.rd.read_buf(&mut self.buf).await? == 0 {
                self.eof = true;
            }
        }
    }

    /// Resolves once the peer has closed its side, keeping whatever it sent meanwhile for
    /// [`LineReader::next`] (pipelined requests stay queued). Once more than `max` bytes
    /// wait unread it stops reading and never resolves: the kernel's buffer holds the
    /// rest. Cancel-safe like `next`. Lets the server drop a pending `wait_for` whose
    /// client went away at once, not at its timeout.
    pub(crate) async fn closed(&mut self) {
        while !self.eof && self.buf.len() <= self.max {
            self.buf.reserve(8 * 1024);
            match self.rd.read_buf(&mut self.buf).await {
                Ok(0) | Err(_) => self.eof = true,
                Ok(_) => {}
            }
        }
        if !self.eof {
            std::future::pending::<()>().await;
        }
    }

    /// Reads and drops whatever arrives (a streaming connection ignores further input);
    /// false once the peer closed its side or the read failed.
    pub(crate) async fn discard(&mut self) -> bool {
        self.buf.clear();
        self.buf.reserve(1024);
        matches!(self.rd.read_buf(&mut self.buf).await, Ok(n) if n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn all(input: &[u8], max: usize) -> Vec<Incoming> {
        let mut r = LineReader::new(input, max);
        let mut out = Vec::new();
        loop {
            let i = r.next().await.unwrap();
            let end = i == Incoming::Eof;
            out.push(i);
            if end {
                return out;
            }
        }
    }

    #[tokio::test]
    async fn long_and_invalid_lines_are_skipped_not_fatal() {
        let mut input = b"{\"a\":1}\r\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', 100));
        input.extend(b"\n\xff\xfe\nlast");
        let got = all(&input, 16).await;
        assert_eq!(got.len(), 5, "{got:?}");
        assert_eq!(got[0], Incoming::Line("{\"a\":1}".into()));
        assert!(
            matches!(&got[1], Incoming::Bad(m) if m.contains("longer than 16 bytes")),
            "{got:?}"
        );
        assert_eq!(got[2], Incoming::Bad("line is not UTF-8".into()));
        assert_eq!(got[3], Incoming::Line("last".into()));
    }

    #[tokio::test]
    async fn closed_keeps_pipelined_lines_and_resolves_at_eof() {
        let (client, mut server) = tokio::io::duplex(64);
        let mut r = LineReader::new(client, 64);
        use tokio::io::AsyncWriteExt;
        server.write_all(b"one\ntw").await.unwrap();
        let pending = tokio::time::timeout(std::time::Duration::from_millis(50), r.closed());
        assert!(pending.await.is_err(), "open: closed() pends");
        server.write_all(b"o\n").await.unwrap();
        drop(server);
        r.closed().await;
        assert_eq!(r.next().await.unwrap(), Incoming::Line("one".into()));
        assert_eq!(r.next().await.unwrap(), Incoming::Line("two".into()));
        assert_eq!(r.next().await.unwrap(), Incoming::Eof);
    }

    #[tokio::test]
    async fn every_cut_of_the_input_frames_the_same() {
        let input = b"one\ntwo\r\n\nthree\n";
        let (client, mut server) = tokio::io::duplex(4);
        let mut r = LineReader::new(client, 64);
        tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            for b in input {
                server.write_all(&[*b]).await.unwrap();
            }
        });
        let mut got = Vec::new();
        loop {
            match r.next().await.unwrap() {
                Incoming::Line(l) => got.push(l),
                Incoming::Eof => break,
                Incoming::Bad(b) => panic!("{b}"),
            }
        }
        assert_eq!(got, ["one", "two", "", "three"]);
    }
}
