//! ctmuxd: an event-driven daemon that watches tmux panes through control mode.
//!
//! Data flows one way: tmux bytes → [`tmux_control_parser`] → [`tmux`] (events,
//! command replies) → [`ctmuxd_text::pane`] (screen text, ring buffer) →
//! [`ctmuxd_text::matcher`] (one lazy DFA for every rule) → [`rules`] (firing policy) →
//! [`action`] → [`eventlog`].
//! The binary (`src/main.rs`) is a thin layer over this library. `ARCHITECTURE.md` gives
//! the layer list the modules follow (lowest first), which `tests/it/layers.rs` enforces.

pub mod action;
pub mod action_tasks;
pub mod answers;
pub mod api;
pub mod checkpoint;
pub mod cli;
pub mod conditions;
pub mod daemon;
pub mod deadlines;
pub mod demo;
pub mod eventlog;
pub mod exit;
pub mod firing;
pub mod glob;
pub mod hash;
pub mod link;
pub mod mcp;
pub mod pane_lifecycle;
pub mod panes;
pub mod poll;
pub mod replay;
pub mod rules;
pub mod screens;
pub mod servers;
pub mod shell_init;
pub mod timeline;
pub mod tmux;
pub mod top;
pub mod waiters;
