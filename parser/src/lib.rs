//! Incremental parser for the tmux control-mode protocol: the bytes
//! `tmux -C` writes to its stdout go in, typed [`Event`]s come out.
//!
//! The stream is a sequence of LF-terminated byte lines: `%begin`/`%end`/
//! `%error` guards around each command's reply (assembled into a [`Reply`]),
//! body lines inside them (which may themselves start with `%`), and
//! notifications outside them (`%output`, `%layout-change`, `%exit`, ...).
//! [`Decoder`] frames lines with memchr straight out of each fed chunk
//! (only a line split across chunks is carried in a buffer), classifies each
//! line by its first bytes, parses arguments with nom 8, and keeps the block
//! state itself. Every `Bytes` an event carries is copied from the chunk into
//! one buffer per feed and handed out as a slice of it, so the hot path does
//! not allocate per line. Lines are never assumed to be UTF-8.
//!
//! `%output` / `%extended-output` data is handed over **still escaped** (tmux
//! writes bytes below 0x20 and `\` as `\ooo`), as a [`Payload`]: the decoder
//! only copies it, and the raw pane bytes are produced when the consumer asks,
//! with [`Payload::unescape_into`] (appends to a reusable `Vec<u8>`, no
//! allocation) or [`Payload::unescape`] (a `Bytes`, zero-copy when there is
//! no backslash). A consumer that ignores a pane's output never pays for
//! decoding it.
//!
//! Robustness rules (see the protocol reference, §11): an unknown `%name` is
//! [`Event::Unknown`], a bare line outside a block is [`Event::Stray`], a
//! malformed known line is one [`ParseError`] and decoding continues; lines
//! and blocks are capped, and overflow is reported, not fatal. `-CC`
//! captures (DCS wrapper, CRLF) are accepted.
//!
//! Modules: `framer` (line splitting), `notification` (per-line grammars),
//! `block` (reply assembly), `layout` (layout strings), `unescape`
//! (`%output` encoding), `payload` (escaped output data), `id`, `event`,
//! `error`, `decoder` (the glue).
//!
//! # Example
//!
//! ```
//! use tmux_control_parser::{Decoder, Event, LayoutKind, PaneId, WindowId};
//!
//! let stream: &[u8] = b"%begin 1795465898 266 1\n%1\n%end 1795465898 266 1\n\
//!     %layout-change @0 c195,80x24,0,0[80x12,0,0,0,80x11,0,13,1] c195,80x24,0,0[80x12,0,0,0,80x11,0,13,1] *\n\
//!     %output %1 \\033[1mhi\\015\\012\n%exit\n";
//! let mut decoder = Decoder::new();
//! let mut events = Vec::new();
//! // Chunks may be split anywhere, even inside an escape.
//! for chunk in stream.chunks(5) {
//!     decoder.feed(chunk);
//!     while let Some(event) = decoder.next_event() {
//!         events.push(event?);
//!     }
//! }
//! while let Some(event) = decoder.finish() {
//!     events.push(event?);
//! }
//!
//! let Event::Reply(reply) = &events[0] else { panic!("expected a reply") };
//! assert!(reply.ok);
//! assert_eq!(reply.lines, vec!["%1"]);
//! let Event::LayoutChange { window, layout: Some(layout), flags, .. } = &events[1] else { panic!() };
//! assert_eq!((*window, flags.as_str()), (WindowId(0), "*"));
//! assert!(matches!(layout.root.kind, LayoutKind::TopBottom(_)));
//! assert_eq!(layout.pane_ids(), vec![PaneId(0), PaneId(1)]);
//! // Output arrives escaped; un-escape it into a buffer reused for every payload.
//! let Event::Output { pane, data } = &events[2] else { panic!("expected output") };
//! assert_eq!((*pane, &data.escaped()[..]), (PaneId(1), &br"\033[1mhi\015\012"[..]));
//! let mut scratch = Vec::new();
//! data.unescape_into(&mut scratch);
//! assert_eq!(scratch, b"\x1b[1mhi\r\n");
//! // Payloads compare by their raw bytes; `From` takes raw bytes.
//! assert_eq!(events[2], Event::Output { pane: PaneId(1), data: "\x1b[1mhi\r\n".into() });
//! assert_eq!(events[3], Event::Exit { reason: None });
//! Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod block;
mod decoder;
mod error;
mod event;
mod framer;
mod id;
mod layout;
mod notification;
mod payload;
mod scan;
mod unescape;

pub use decoder::{Decoder, DEFAULT_MAX_BLOCK, DEFAULT_MAX_LINE};
pub use error::{ParseError, ParseErrorKind};
pub use event::{Event, Reply};
pub use id::{IdError, PaneId, SessionId, WindowId};
pub use layout::{layout_checksum, parse_layout, Layout, LayoutCell, LayoutKind};
pub use notification::parse_line;
pub use payload::Payload;
pub use unescape::{escape, unescape};
