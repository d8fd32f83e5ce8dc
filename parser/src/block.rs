//! Assembly of one `%begin` .. `%end`/`%error` block into a
//! [`Reply`](crate::Reply). The decoder keeps at most one [`OpenBlock`]
//! (tmux never nests blocks) and feeds it every line until the guard with the
//! same TIME NUMBER FLAGS closes it. The block's memory is capped: past the
//! cap the body is dropped and the close yields `BlockTooLarge` instead of a
//! reply, so a caller matching replies to commands still gets one item.

use std::mem::size_of;

use bytes::{Bytes, BytesMut};

use crate::error::{ParseError, ParseErrorKind};
use crate::event::{Event, Reply};
use crate::notification::{keep, Guard};

/// Whether the block's body is still being kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Health {
    /// All body lines so far are stored.
    Whole,
    /// The block exceeded the size cap; the body was dropped.
    TooLarge,
    /// A body line exceeded the line cap; the reply is incomplete.
    Truncated,
}

/// A block whose `%begin` has been seen and whose closing guard has not.
#[derive(Debug)]
pub(crate) struct OpenBlock {
    /// TIME NUMBER FLAGS of the `%begin`; the closing guard must repeat them.
    pub(crate) guard: Guard,
    /// Body lines so far (emptied once the block is over the cap).
    lines: Vec<Bytes>,
    /// Memory the body accounts for: line bytes plus one `Bytes` handle per
    /// line, so a flood of empty lines is bounded as well.
    cost: usize,
    /// Whether the body is intact.
    health: Health,
}

impl OpenBlock {
    /// Opens a block for `guard`.
    pub(crate) fn new(guard: Guard) -> OpenBlock {
        OpenBlock { guard, lines: Vec::new(), cost: 0, health: Health::Whole }
    }

    /// Adds one body line, enforcing `max_bytes`. The line is copied into
    /// `store` (the decoder's per-feed payload buffer) and split off it, and
    /// only while the body is still being kept: an oversized or truncated
    /// block costs no copies.
    pub(crate) fn push(&mut self, line: &[u8], store: &mut BytesMut, max_bytes: usize) {
        self.cost = self.cost.saturating_add(line.len() + size_of::<Bytes>());
        match self.health {
            Health::Whole if self.cost > max_bytes => {
                self.health = Health::TooLarge;
                self.lines = Vec::new();
            }
            Health::Whole => self.lines.push(keep(store, line)),
            Health::TooLarge | Health::Truncated => {}
        }
    }

    /// Records that a body line was discarded for exceeding the line cap.
    pub(crate) fn truncate(&mut self) {
        if self.health == Health::Whole {
            self.health = Health::Truncated;
            self.lines = Vec::new();
        }
    }

    /// Closes the block with `%end` (`ok`) or `%error`; `guard_line` is the
    /// closing line, kept in the error if the body was dropped.
    ///
    /// # Errors
    ///
    /// `BlockTooLarge` or `ReplyTruncated` when the body was dropped.
    pub(crate) fn close(
        self,
        ok: bool,
        max_bytes: usize,
        guard_line: &[u8],
    ) -> Result<Event, ParseError> {
        let Guard { time, number, flags } = self.guard;
        let kind = match self.health {
            Health::Whole => {
                return Ok(Event::Reply(Reply { time, number, flags, ok, lines: self.lines }))
            }
            Health::TooLarge => {
                ParseErrorKind::BlockTooLarge { len: self.cost, max: max_bytes, number, flags }
            }
            Health::Truncated => ParseErrorKind::ReplyTruncated { number, flags },
        };
        Err(ParseError::new(kind, Bytes::copy_from_slice(guard_line)))
    }

    /// Reports the block as unterminated at end of input.
    pub(crate) fn unterminated(self) -> ParseError {
        let Guard { time, number, flags } = self.guard;
        let line = format!("%begin {time} {number} {flags}");
        ParseError::new(ParseErrorKind::UnterminatedBlock { number, flags }, line.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const G: Guard = Guard { time: 10, number: 20, flags: 1 };

    #[test]
    fn closes_into_a_reply() {
        let mut b = OpenBlock::new(G);
        let mut store = BytesMut::new();
        b.push(b"%1", &mut store, 1000);
        b.push(b"", &mut store, 1000);
        let ev = b.close(false, 1000, b"%error 10 20 1").unwrap();
        let expected = Reply {
            time: 10,
            number: 20,
            flags: 1,
            ok: false,
            lines: vec!["%1".into(), Bytes::new()],
        };
        assert_eq!(ev, Event::Reply(expected));
    }

    #[test]
    fn oversized_block_becomes_an_error_at_close() {
        let mut b = OpenBlock::new(G);
        let mut store = BytesMut::new();
        for _ in 0..100 {
            b.push(b"", &mut store, 1000);
        }
        assert!(b.lines.is_empty(), "the dropped body must be freed");
        let err = b.close(true, 1000, b"%end 10 20 1").unwrap_err();
        let per_line = size_of::<Bytes>();
        assert_eq!(
            err.kind(),
            &ParseErrorKind::BlockTooLarge { len: 100 * per_line, max: 1000, number: 20, flags: 1 }
        );
        assert_eq!(err.line(), b"%end 10 20 1");
    }

    #[test]
    fn truncated_and_unterminated_blocks() {
        let mut b = OpenBlock::new(G);
        b.truncate();
        let mut store = BytesMut::new();
        b.push(b"x", &mut store, 1000);
        assert!(store.is_empty(), "a truncated block must not copy its body");
        let err = b.close(true, 1000, b"%end 10 20 1").unwrap_err();
        assert_eq!(err.kind(), &ParseErrorKind::ReplyTruncated { number: 20, flags: 1 });
        let err = OpenBlock::new(G).unterminated();
        assert_eq!(err.kind(), &ParseErrorKind::UnterminatedBlock { number: 20, flags: 1 });
        assert_eq!(err.line(), b"%begin 10 20 1");
    }
}
