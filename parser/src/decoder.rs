//! [`Decoder`]: the public, incremental entry point. It glues the
//! `framer` (bytes to lines), the `notification` line parsers and the
//! `block` assembler: feed it chunks of any size as they come off the
//! `tmux -C` pipe, then drain [`Decoder::next_event`] until it returns
//! `None`. The sequence of results depends only on the bytes, never on how
//! they were split into chunks. Errors are per line and never stop the
//! stream.

use crate::block::OpenBlock;
use crate::error::{ParseError, ParseErrorKind};
use crate::event::Event;
use crate::framer::{Frame, LineFramer};
use crate::notification::{classify, closing_guard, flow_in_block, Line};

/// Default line cap: 16 MiB. tmux has no line limit (a `show-buffer` or
/// `capture-pane -S -` line can be megabytes) but `%output` lines stay under
/// ~11 KB, so only block bodies come near this.
pub const DEFAULT_MAX_LINE: usize = 16 << 20;

/// Default block cap: 64 MiB of body (bytes plus per-line overhead).
pub const DEFAULT_MAX_BLOCK: usize = 64 << 20;

/// Incremental decoder for the control-mode stream: bytes in, [`Event`]s out.
///
/// Memory is bounded by the line cap plus one fed chunk for the input buffer,
/// plus the block cap for an open reply. Lines are split off the input
/// buffer without copying, so events borrow it (`Bytes` share the
/// allocation).
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
        }
    }

    /// Strips (or stops stripping) one trailing `\r` from every line.
    ///
    /// Turned on automatically when the stream starts with the `-CC`
    /// introducer `ESC P 1000 p`; turn it on by hand for `tmux -C` run on a
    /// terminal, whose tty turns LF into CRLF. Leave it off on pipes, where a
    /// trailing CR in a body line is data.
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

    /// Bytes of input buffered and not yet returned as events (the partial
    /// last line, or complete lines not yet drained).
    pub fn buffered_len(&self) -> usize {
        self.framer.buffered()
    }

    /// Appends a chunk of `tmux -C` output; any size, split anywhere.
    pub fn feed(&mut self, chunk: &[u8]) {
        self.eof = false;
        self.framer.feed(chunk);
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
        loop {
            let Some(frame) = self.framer.next_frame(self.eof) else {
                if self.eof {
                    return self.block.take().map(|b| Err(b.unterminated()));
                }
                return None;
            };
            let line = match frame {
                Frame::Line(line) => line,
                Frame::Overlong { len, head } => {
                    if let Some(block) = &mut self.block {
                        block.truncate();
                    }
                    let max = self.framer.max_line();
                    return Some(Err(ParseError::new(
                        ParseErrorKind::LineTooLong { len, max },
                        head,
                    )));
                }
            };
            if let Some(block) = &mut self.block {
                if let Some(ok) = closing_guard(&line, &block.guard) {
                    let block = self.block.take()?;
                    return Some(block.close(ok, self.max_block, &line));
                }
                if let Some(ev) = flow_in_block(&line) {
                    return Some(Ok(ev));
                }
                block.push(line.freeze(), self.max_block);
                continue;
            }
            return match classify(line) {
                Ok(Line::Event(ev)) => {
                    if matches!(ev, Event::Exit { .. }) {
                        self.framer.saw_exit();
                    }
                    Some(Ok(ev))
                }
                Ok(Line::Begin(guard)) => {
                    self.block = Some(OpenBlock::new(guard));
                    continue;
                }
                Ok(Line::End(line)) => {
                    Some(Err(ParseError::new(ParseErrorKind::UnexpectedGuard, line)))
                }
                Err(e) => Some(Err(e)),
            };
        }
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Reply;
    use crate::PaneId;
    use bytes::Bytes;

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
    fn output_payload_shares_the_input_buffer() {
        let mut dec = Decoder::new();
        dec.feed(b"%output %1 plain text\n");
        let Some(Ok(Event::Output { data, .. })) = dec.next_event() else { panic!() };
        assert_eq!(data, "plain text");
        // Nothing left buffered: the line was split off, not copied.
        assert_eq!(dec.buffered_len(), 0);
    }
}
