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
