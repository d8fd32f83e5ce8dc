//! ctmuxd-text: the text a person saw in a tmux pane and the one lazy DFA over it.
//!
//! [`pane`] turns a pane's raw output bytes into the lines a person saw (`screen`, with
//! escape sequences stripped by vte) and keeps the last of them (`ring`);
//! its `watch` feeds each line to the pane's [`matcher::PaneMatcher`]. [`matcher`]
//! compiles every rule's pattern into one multi-pattern lazy DFA shared by all panes.
//!
//! No tokio, no I/O, nothing of the daemon: bytes in, lines and pattern matches out.
//! Inside the crate `matcher` sits below `pane` (`tests/it/layers.rs` in ctmuxd checks it).

#![deny(missing_docs)]

pub mod matcher;
pub mod pane;
