//! `ctmuxd top`: a live terminal view of one daemon, over its socket API only. It shows
//! the panes (label or id, where, state: alive or exited with its status, a `[[pane]]`
//! entry's start state with what it waits for or why it failed, command, rule firings,
//! last line), the rules with their fire counts, and the event-log records streamed since
//! it started, one line each; `/` filters panes and events, Enter opens a pane's capture.
//!
//! Three parts, one job each: [`model`] (what is shown and what keys do, pure), [`view`]
//! (drawing a model with ratatui, pure), and the run loop (the terminal, keys, the
//! `events` stream and the one-second refresh). It sits beside `cli` at the top of the
//! library: it uses the API client and the event log's one-line view, and nothing uses it
//! but the binary.

pub mod model;
mod run;
pub mod view;

pub use run::{run, TopError};
