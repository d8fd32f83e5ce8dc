//! ctmuxd: an event-driven daemon that watches tmux panes through control mode.
//!
//! Data flows one way: tmux bytes → [`tmux_control_parser`] → [`tmux`] (events,
//! command replies) → [`ctmuxd_text::pane`] (screen text, ring buffer) →
//! [`ctmuxd_text::matcher`] (one lazy DFA for every rule) → [`rules`] (firing policy) →
//! [`action`] → [`eventlog`].
//! The binary (`src/main.rs`) is a thin layer over this library. `ARCHITECTURE.md` gives
//! the layer list the modules follow (lowest first), which `tests/it/layers.rs` enforces.

pub mod action;
pub mod api;
pub mod backend;
pub mod checkpoint;
pub mod cli;
pub mod daemon;
pub mod demo;
pub mod dispatch;
pub mod engine;
pub mod eventlog;
pub mod exit;
pub mod glob;
pub mod hash;
pub mod orchestrate;
pub mod panes;
pub mod poll;
pub mod replay;
pub mod rules;
pub mod timeline;
pub mod tmux;
pub mod waiters;
