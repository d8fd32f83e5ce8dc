//! [`Decoder`]: the public, incremental entry point. It glues the
//! `framer` (bytes to lines), the `notification` line parsers and the
//! `block` assembler: feed it chunks of any size as they come off the
//! `tmux -C` pipe, then drain [`Decoder::next_event`] until it returns
//! `None`. The sequence of results depends only on the bytes, never on how
//! they were split into chunks. Errors are per line and never stop the
//! stream.
//!
//! Decoding happens in [`Decoder::feed`], while the chunk is still borrowed:
//! every line that lies wholly inside the chunk is parsed straight out of it
//! (an `%output` payload is copied, still escaped, from the chunk into one
//! `BytesMut` per feed and split off as a [`Payload`](crate::Payload)), and
//! only a line that straddles a chunk boundary (or the `-CC` wrapper around
//! the stream) goes through the framer's buffer. The results wait in a queue for
//! `next_event`.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};
use memchr::memchr;

use crate::block::OpenBlock;
use crate::error::{ParseError, ParseErrorKind};
use crate::event::Event;
use crate::framer::{Frame, LineFramer};
use crate::notification::{classify, closing_guard, flow_in_block};

/// Default line cap: 16 MiB. tmux has no line limit (a `show-buffer` or
/// `capture-pane -S -` line can be megabytes) but `%output` lines stay under
/// ~11 KB, so only block bodies come near this.
pub const DEFAULT_MAX_LINE: usize = 16 << 20;

/// Default block cap: 64 MiB of body (bytes plus per-line overhead).
pub const DEFAULT_MAX_BLOCK: usize = 64 << 20;

/// Incremental decoder for the control-mode stream: bytes in, [`Event`]s out.
///
/// Memory is bounded by the line cap plus one fed chunk for the input buffer,
/// plus the block cap for an open reply, plus the events of the chunks fed
/// and not yet drained. Every `Bytes` in the events of one feed (payloads,
/// reply lines, stray lines) is a slice of one shared buffer of at most the
/// chunk's size, allocated only when the previous one is still referenced.
///
/// `-CC` captures are accepted: a leading `ESC P 1000 p` switches the decoder
/// to stripping one trailing CR per line, and `ESC \` after `%exit` ends the
/// stream.
///
/// # Example
///
/// ```
/// use tmux_control_parser::{Decoder, Event, PaneId};
///
/// let mut dec = Decoder::new();
/// dec.feed(b"%begin 1700000000 260 0\n%1\n%end 1700000000 260 0\n%output %1 ls\\015\\0");
/// dec.feed(b"12\n%exit\n");
/// let mut events = Vec::new();
/// while let Some(ev) = dec.next_event() {
///     events.push(ev?);
/// }
/// match &events[0] {
///     Event::Reply(r) => assert_eq!((r.number, r.flags, r.text().as_str()), (260, 0, "%1")),
///     other => panic!("unexpected {other:?}"),
/// }
/// assert_eq!(events[1], Event::Output { pane: PaneId(1), data: "ls\r\n".into() });
/// assert_eq!(events[2], Event::Exit { reason: None });
/// assert!(dec.finish().is_none());
/// Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Decoder {
    /// Line splitting, the line cap and the `-CC` wrapper.
    framer: LineFramer,
    /// The block being assembled, if a `%begin` is open.
    block: Option<OpenBlock>,
    /// Cap on one block's body, in bytes plus per-line overhead.
    max_block: usize,
    /// Set by [`Decoder::finish`]: flush the final unterminated line.
    eof: bool,
    /// Results decoded by `feed` and not yet returned by `next_event`, in
    /// stream order. Filled by `feed` and drained by the caller; it holds the
    /// events of at most the chunks fed since the last drain, and its
    /// capacity is reused, so a caller that drains after every feed (as the
    /// docs ask) keeps it at one chunk's worth.
    ready: VecDeque<Result<Event, ParseError>>,
    /// Where the `Bytes` fields of events are written before being split off:
    /// reserved for the whole chunk at the start of a feed, so one feed costs
    /// at most one allocation (none once consumers have dropped the previous
    /// feed's events and the buffer can be reclaimed).
    store: BytesMut,
}

impl Default for Decoder {
    fn default() -> Decoder {
        Decoder::new()
    }
}

impl Decoder {
    /// A decoder with the default caps ([`DEFAULT_MAX_LINE`], [`DEFAULT_MAX_BLOCK`]).
    pub fn new() -> Decoder {
        Decoder::with_limits(DEFAULT_MAX_LINE, DEFAULT_MAX_BLOCK)
    }

    /// A decoder that reports lines longer than `max_line` bytes as
    /// [`ParseErrorKind::LineTooLong`] and blocks whose body exceeds
    /// `max_block_bytes` as [`ParseErrorKind::BlockTooLarge`].
    pub fn with_limits(max_line: usize, max_block_bytes: usize) -> Decoder {
        Decoder {
            framer: LineFramer::new(max_line),
            block: None,
            max_block: max_block_bytes,
            eof: false,
            ready: VecDeque::new(),
            store: BytesMut::new(),
        }
    }

    /// Strips (or stops stripping) one trailing `\r` from every line.
    ///
    /// Turned on automatically when the stream starts with the `-CC`
    /// introducer `ESC P 1000 p`; turn it on by hand for `tmux -C` run on a
    /// terminal, whose tty turns LF into CRLF. Leave it off on pipes, where a
    /// trailing CR in a body line is data. Lines are decoded as they are fed,
    /// so set it before the first [`Decoder::feed`]: it applies to lines
    /// completed by later feeds.
    pub fn set_strip_cr(&mut self, strip: bool) {
        self.framer.set_strip_cr(strip);
    }

    /// Whether trailing CRs are being stripped.
    pub fn strips_cr(&self) -> bool {
        self.framer.strip_cr()
    }

    /// Whether a `%begin` block is open (its reply is still being assembled).
    pub fn in_block(&self) -> bool {
        self.block.is_some()
    }

    /// Bytes of input buffered and not yet decoded: the partial last line
    /// (complete lines are decoded by [`Decoder::feed`] itself).
    pub fn buffered_len(&self) -> usize {
        self.framer.buffered()
    }

    /// Appends a chunk of `tmux -C` output; any size, split anywhere.
    ///
    /// Every line the chunk completes is decoded here; the results wait for
    /// [`Decoder::next_event`].
    pub fn feed(&mut self, mut chunk: &[u8]) {
        self.eof = false;
        // PERF: one reservation covers every payload, reply line and stray
        // line of the chunk (none is longer than its input), so splitting
        // them off never reallocates mid-feed.
        self.store.reserve(chunk.len());
        while !chunk.is_empty() {
            if self.framer.is_ended() {
                return;
            }
            let lf = memchr(b'\n', chunk);
            let p = match lf {
                Some(p) if self.framer.is_clean() => p,
                _ => {
                    // A line started in an earlier chunk, the -CC wrapper may
                    // be in the way, or this is the partial line the chunk
                    // ends with: pass this one line (or the unterminated
                    // rest) through the framer's buffer, which also applies
                    // the line cap to a partial line as it grows.
                    let take = lf.map_or(chunk.len(), |p| p + 1);
                    self.framer.feed(&chunk[..take]);
                    chunk = &chunk[take..];
                    self.decode_buffered();
                    continue;
                }
            };
            // PERF: the fast path. The line is decoded from the chunk itself;
            // it is never copied into the framer's buffer.
            match self.framer.complete_line(&chunk[..p]) {
                Ok(line) => self.decode_line(line),
                Err((len, head)) => self.overlong(len, head),
            }
            chunk = &chunk[p + 1..];
        }
    }

    /// Returns the next decoded event, or `None` when more input is needed.
    ///
    /// Call it until it returns `None` after every [`Decoder::feed`].
    ///
    /// # Errors
    ///
    /// `Some(Err(_))` for one line or block that could not be decoded (see
    /// [`ParseErrorKind`]); decoding continues with the next line.
    pub fn next_event(&mut self) -> Option<Result<Event, ParseError>> {
        // Complete lines were all decoded by `feed`; only `finish` can make
        // the framer yield more (the final unterminated line).
        if self.eof && self.ready.is_empty() {
            self.decode_buffered();
        }
        self.ready.pop_front()
    }

    /// Signals end of input and returns what is left: the final line if it
    /// had no LF, then an [`ParseErrorKind::UnterminatedBlock`] error if a
    /// block is still open. Call it until it returns `None`.
    ///
    /// # Errors
    ///
    /// As [`Decoder::next_event`], plus `UnterminatedBlock`.
    pub fn finish(&mut self) -> Option<Result<Event, ParseError>> {
        self.eof = true;
        self.next_event()
    }

    /// Decodes every line the framer's buffer holds (at end of input, also
    /// the final unterminated line and the open block's error) into `ready`.
    fn decode_buffered(&mut self) {
        while let Some(frame) = self.framer.next_frame(self.eof) {
            match frame {
                Frame::Line(line) => self.decode_line(&line),
                Frame::Overlong { len, head } => self.overlong(len, head),
            }
        }
        if self.eof {
            if let Some(block) = self.block.take() {
                self.ready.push_back(Err(block.unterminated()));
            }
        }
    }

    /// Queues the error for a discarded line of `len` bytes starting with
    /// `head`; an open block loses its body (its close becomes
    /// `ReplyTruncated`).
    fn overlong(&mut self, len: usize, head: Bytes) {
        if let Some(block) = &mut self.block {
            block.truncate();
        }
        let max = self.framer.max_line();
        self.ready.push_back(Err(ParseError::new(ParseErrorKind::LineTooLong { len, max }, head)));
    }

    /// Decodes one complete line (LF and any stripped CR removed), from the
    /// fed chunk or from the framer's buffer, and queues its result, if it
    /// has one of its own (a `%begin` or a block body line has none).
    ///
    /// PERF: results go straight into `ready` instead of being returned: an
    /// `Event` is ~200 bytes and every hop is a memcpy.
    fn decode_line(&mut self, line: &[u8]) {
        if let Some(block) = &mut self.block {
            if let Some(ok) = closing_guard(line, &block.guard) {
                if let Some(block) = self.block.take() {
                    self.ready.push_back(block.close(ok, self.max_block, line));
                }
            } else if let Some(ev) = flow_in_block(line) {
                self.ready.push_back(Ok(ev));
            } else {
                block.push(line, &mut self.store, self.max_block);
            }
            return;
        }
        let (framer, ready) = (&mut self.framer, &mut self.ready);
        let begin = classify(line, &mut self.store, |result| {
            if matches!(result, Ok(Event::Exit { .. })) {
                framer.saw_exit();
            }
            ready.push_back(result);
        });
        if let Some(guard) = begin {
            self.block = Some(OpenBlock::new(guard));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Reply;
    use crate::PaneId;

    /// Feeds `input` whole and drains everything, including `finish`.
    fn decode(dec: &mut Decoder, input: &[u8]) -> Vec<Result<Event, ParseError>> {
        dec.feed(input);
        let mut out: Vec<_> = std::iter::from_fn(|| dec.next_event()).collect();
        out.extend(std::iter::from_fn(|| dec.finish()));
        out
    }

    fn reply(number: u32, ok: bool, lines: &[&'static str]) -> Result<Event, ParseError> {
        let lines = lines.iter().map(|l| Bytes::from_static(l.as_bytes())).collect();
        Ok(Event::Reply(Reply { time: 7, number, flags: 1, ok, lines }))
    }

    #[test]
    fn block_body_may_look_like_anything() {
        let input = b"%begin 7 3 1\n%1\n%end 7 2 1\n%begin 7 9 9\n\n%output %1 x\n%end 7 3 1\n";
        let events = decode(&mut Decoder::new(), input);
        assert_eq!(
            events,
            vec![reply(3, true, &["%1", "%end 7 2 1", "%begin 7 9 9", "", "%output %1 x"])]
        );
    }

    #[test]
    fn error_blocks_and_empty_blocks() {
        let input = b"%begin 7 4 1\nparse error: unknown command: x\n%error 7 4 1\n%begin 7 5 1\n%end 7 5 1\n";
        let events = decode(&mut Decoder::new(), input);
        assert_eq!(
            events,
            vec![reply(4, false, &["parse error: unknown command: x"]), reply(5, true, &[])]
        );
    }

    #[test]
    fn flow_notifications_inside_a_block_are_events() {
        let input = b"%begin 7 6 1\n%continue %0\n%pause %1\n%end 7 6 1\n";
        let events = decode(&mut Decoder::new(), input);
        assert_eq!(
            events,
            vec![
                Ok(Event::Continue { pane: PaneId(0) }),
                Ok(Event::Pause { pane: PaneId(1) }),
                reply(6, true, &[])
            ]
        );
    }

    #[test]
    fn errors_do_not_stop_the_stream() {
        let input = b"%window-add 3\n%end 1 2 3\n%begin x\n%sessions-changed\n";
        let events = decode(&mut Decoder::new(), input);
        assert_eq!(events.len(), 4);
        assert!(matches!(events[0].as_ref().unwrap_err().kind(), ParseErrorKind::Malformed { .. }));
        let guard = events[1].as_ref().unwrap_err();
        assert_eq!(
            (guard.kind(), guard.line()),
            (&ParseErrorKind::UnexpectedGuard, &b"%end 1 2 3"[..])
        );
        assert!(matches!(events[2].as_ref().unwrap_err().kind(), ParseErrorKind::Malformed { .. }));
        assert_eq!(events[3], Ok(Event::SessionsChanged));
    }

    #[test]
    fn oversized_block_is_one_error_in_place_of_the_reply() {
        let mut dec = Decoder::with_limits(1024, 200);
        let mut input = b"%begin 7 8 1\n".to_vec();
        for _ in 0..50 {
            input.extend_from_slice(b"0123456789\n");
        }
        input.extend_from_slice(b"%end 7 8 1\n%exit\n");
        let events = decode(&mut dec, &input);
        assert_eq!(events.len(), 2);
        let err = events[0].as_ref().unwrap_err();
        assert!(matches!(
            err.kind(),
            ParseErrorKind::BlockTooLarge { max: 200, number: 8, flags: 1, .. }
        ));
        assert_eq!(err.line(), b"%end 7 8 1");
        assert_eq!(events[1], Ok(Event::Exit { reason: None }));
    }

    #[test]
    fn overlong_lines_are_reported_and_skipped() {
        let mut dec = Decoder::with_limits(16, 1 << 20);
        let long = [b'x'; 40];
        let mut input = Vec::new();
        for part in [
            &b"%output %1 "[..],
            &long,
            b"\n%begin 7 9 1\n",
            &long,
            b"\nshort\n%end 7 9 1\n%exit\n",
        ] {
            input.extend_from_slice(part);
        }
        let events = decode(&mut dec, &input);
        let kinds: Vec<_> =
            events.iter().map(|e| e.as_ref().map_err(|e| e.kind().clone())).collect();
        assert_eq!(
            kinds,
            vec![
                Err(ParseErrorKind::LineTooLong { len: 51, max: 16 }),
                Err(ParseErrorKind::LineTooLong { len: 40, max: 16 }),
                Err(ParseErrorKind::ReplyTruncated { number: 9, flags: 1 }),
                Ok(&Event::Exit { reason: None }),
            ]
        );
        assert_eq!(events[0].as_ref().unwrap_err().line(), &input[..51]);
    }

    #[test]
    fn unterminated_tail_and_block_are_flushed_by_finish() {
        let mut dec = Decoder::new();
        dec.feed(b"%begin 7 10 1\npartial body");
        assert!(dec.next_event().is_none());
        assert!(dec.in_block());
        let err = dec.finish().unwrap().unwrap_err();
        assert_eq!(err.kind(), &ParseErrorKind::UnterminatedBlock { number: 10, flags: 1 });
        assert!(dec.finish().is_none());
        assert_eq!(
            decode(&mut Decoder::new(), b"%exit reason"),
            vec![Ok(Event::Exit { reason: Some("reason".into()) })]
        );
    }

    #[test]
    fn cc_mode_wrapper_and_crlf() {
        let input = b"\x1bP1000p%begin 7 11 1\r\nbody\r\n%end 7 11 1\r\n%output %0 a\\015\\012\r\n%exit\r\n\x1b\\";
        let mut dec = Decoder::new();
        let events = decode(&mut dec, input);
        assert!(dec.strips_cr());
        assert_eq!(
            events,
            vec![
                reply(11, true, &["body"]),
                Ok(Event::Output { pane: PaneId(0), data: "a\r\n".into() }),
                Ok(Event::Exit { reason: None })
            ]
        );
    }

    #[test]
    fn cr_is_data_on_pipes_unless_stripping_is_asked_for() {
        let input = b"x\r\n";
        assert_eq!(
            decode(&mut Decoder::new(), input),
            vec![Ok(Event::Stray { line: "x\r".into() })]
        );
        let mut dec = Decoder::new();
        dec.set_strip_cr(true);
        assert_eq!(decode(&mut dec, input), vec![Ok(Event::Stray { line: "x".into() })]);
    }

    #[test]
    fn complete_lines_bypass_the_line_buffer() {
        let mut dec = Decoder::new();
        dec.feed(b"%output %1 plain text\n%output %2 a\\015\\012b\n%output %3 par");
        // Only the partial line is buffered; complete lines were decoded
        // straight out of the chunk.
        assert_eq!(dec.buffered_len(), b"%output %3 par".len());
        let Some(Ok(Event::Output { data, .. })) = dec.next_event() else { panic!() };
        assert_eq!(data, "plain text");
        let Some(Ok(Event::Output { data: second, .. })) = dec.next_event() else { panic!() };
        assert_eq!(second, "a\r\nb");
        // Handed over escaped, exactly as on the wire.
        assert_eq!(&second.escaped()[..], br"a\015\012b");
        assert!(dec.next_event().is_none());
        dec.feed(b"tial\n");
        assert_eq!(
            dec.next_event(),
            Some(Ok(Event::Output { pane: PaneId(3), data: "partial".into() }))
        );
        assert_eq!(dec.buffered_len(), 0);
        // Payloads of one feed share one buffer, independent of the input.
        assert_eq!(data, "plain text");
    }

    #[test]
    fn every_split_of_a_wrapped_stream_with_long_and_crlf_lines_agrees() {
        // -CC wrapper, an overlong line inside a block, CRLF, %exit and the
        // closing ESC \ followed by ignored bytes: each switches the decoder
        // between decoding lines straight out of the chunk and buffering.
        let mut input = b"\x1bP1000p%output %0 a\\015\r\n%begin 7 1 1\r\n".to_vec();
        input.extend_from_slice(&[b'x'; 40]);
        input.extend_from_slice(b"\r\n%end 7 1 1\r\n%output %1 ");
        input.extend_from_slice(&[b'y'; 30]);
        input.extend_from_slice(b"\r\n%exit\r\n\x1b\\%output %2 ignored\n");
        let whole = decode(&mut Decoder::with_limits(32, 1024), &input);
        let kinds: Vec<_> =
            whole.iter().map(|e| e.as_ref().map_err(|e| e.kind().clone())).collect();
        assert_eq!(
            kinds,
            vec![
                Ok(&Event::Output { pane: PaneId(0), data: "a\r".into() }),
                Err(ParseErrorKind::LineTooLong { len: 41, max: 32 }),
                Err(ParseErrorKind::ReplyTruncated { number: 1, flags: 1 }),
                Err(ParseErrorKind::LineTooLong { len: 42, max: 32 }),
                Ok(&Event::Exit { reason: None }),
            ]
        );
        for a in 0..input.len() {
            for b in a..input.len() {
                let mut dec = Decoder::with_limits(32, 1024);
                let mut got = Vec::new();
                for piece in [&input[..a], &input[a..b], &input[b..]] {
                    dec.feed(piece);
                    got.extend(std::iter::from_fn(|| dec.next_event()));
                }
                got.extend(std::iter::from_fn(|| dec.finish()));
                assert_eq!(got, whole, "cut at {a} and {b}");
            }
        }
    }
}
