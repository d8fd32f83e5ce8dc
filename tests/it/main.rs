//! Integration tests: the real `ctmuxd` binary against a real tmux server on a private
//! socket, one server per test (see `harness`).

/// Private tmux servers and daemon processes, cleaned up on drop.
mod harness;

/// The control-mode engine: triggers, chunking, prompts, hostile bytes, bad rules, replay.
mod engine;

/// Labelled panes, pane actions, exit rules, `[[pane]]` readiness.
mod orchestration;

/// Faults and hostile input: restarts, floods, hostile text, kill -9, bad rules.
mod faults;

/// `ctmuxd demo`: the pipeline and services scenarios end to end, from their event logs.
mod demo;

/// The control socket and the client subcommands.
mod api;

/// Shell integration: `shell-init` snippets in real bash, zsh and fish, `ctmuxd run`,
/// `command` events and rules.
mod shell;

/// Finding the rules file, the API-only daemon, `check` without a file.
mod config;

/// tmux releases: what differs, and record framing a pane's program cannot forge.
mod versions;

/// Polling mode: capture-pane alignment, bursts, repeats, clears, baseline, fallback checks.
mod poll;

/// Replays the parser's fuzz corpora and saved crashes (decoder, layout, unescape).
mod fuzz_parser;

/// Replays the `rules_file` and `api_request` fuzz corpora and saved crashes through the fuzz checks.
mod fuzz_replay;

/// Reliability and security, round two: untrusted sockets, a full disk, rules files that
/// hang, relative spawn cwd, two daemons on one server.
mod security;

/// Session churn while every session is watched (tmux control-client start race).
mod churn;

/// API requests that go to tmux must not starve triggers; reserved slots for status/stop.
mod starve;

/// `ctmuxd top` in a tmux pane: driven with send-keys, read with capture-pane.
mod top;

/// Panes as a person sees them (issue 13): `capture` against tmux's own screen in real
/// programs, `wait-for --screen`, screen rules, REPL prompts.
mod screen;

/// `ctmuxd mcp` (issue 15) over stdio, as an MCP client drives it.
mod mcp;

/// Input that arrives (issue 14): `send` into real programs returns their answer, never
/// the echo; no wait for an echo that never comes; bracketed paste; `--wait-ready`.
mod input;

/// A private OpenSSH server on the loopback address, for the SSH tests.
mod sshd;

/// Several tmux servers and SSH hosts in one daemon (issue 17).
mod servers;

/// Rules that reason about time and several panes (issue 18): `all` within a window and
/// its timeout, `silence`, `count`, `sequence`.
mod timing;

/// The module graph runs one way: the layer list of `ARCHITECTURE.md`, checked on the source.
mod layers;
