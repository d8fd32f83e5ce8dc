//! `run`: type a command into a shell pane that has shell integration, wait for it to
//! finish, and answer its exit status, its output and its duration (`ctmuxd run`).
//!
//! The pane's shell marks where the command's output starts (OSC 133 `C`) and that it
//! finished (`D;status`); the daemon collects every line between the two as it arrives
//! (not from the ring, which keeps only `ring_lines`), up to `max_bytes`, keeping the
//! tail. The command is typed as it is, never wrapped, so it runs in the pane's own
//! shell (`cd`, `export` and a virtualenv stay) and heredocs and multi-line commands
//! work. A pane without integration is refused with the `ctmuxd shell-init` hint: any
//! fallback (echoed sentinels, `tmux wait-for` wrappers) changes the command typed and
//! breaks on heredocs, prompts that reprint the line, or output that looks like the
//! sentinel; the marks are exact.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{json_line, millis, parse_timeout, ApiRequest, CliRequest, Daemon, Failure, Reply};
use crate::api::protocol::format_ms;

/// The default bound on the output kept: 8 MiB.
pub const DEFAULT_RUN_BYTES: u64 = 8 << 20;

/// The largest `max_bytes` accepted: 32 MiB (a reply line stays under the client's
/// 64 MiB even with JSON escaping).
pub const MAX_RUN_BYTES: u64 = 32 << 20;

/// Arguments of `run`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRequest {
    /// The pane: its label, id (`%3`) or tmux target (`main:2.1`).
    pub label: String,
    /// The command line, typed as it is (newlines included), then Enter.
    pub command: String,
    /// Give up waiting after this many milliseconds (`timeout` error; the command keeps
    /// running in the pane).
    #[serde(default = "super::default_timeout_ms")]
    pub timeout_ms: u64,
    /// Keep at most this many bytes of output (each line plus its newline), the last
    /// ones; what went is counted in the reply.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: u64,
}

fn default_max_bytes() -> u64 {
    DEFAULT_RUN_BYTES
}

/// Body of the `run` reply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunReply {
    /// The pane's id.
    pub pane: String,
    /// Its label, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The exit status the shell reported (`null` if it gave none).
    pub status: Option<i32>,
    /// From the command's output start to its end, in milliseconds.
    pub duration_ms: u64,
    /// Its output lines as a person saw them (escapes stripped), oldest first; a last
    /// line without a newline is included.
    pub output: Vec<String>,
    /// How many lines it printed in all.
    pub lines: u64,
    /// Lines left out at the start to keep within `max_bytes` (0: none).
    #[serde(default)]
    pub dropped_lines: u64,
    /// Their bytes.
    #[serde(default)]
    pub dropped_bytes: u64,
    /// The shell's working directory after it, when the shell reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// True when the shell went back to its prompt without running the command (a
    /// syntax error): `status` is `null` and `output` is what the shell printed since
    /// the command was typed, its echo included. Left out otherwise.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub not_run: bool,
}

impl Reply for RunReply {}

impl ApiRequest for RunRequest {
    const CMD: &'static str = "run";
    type Answer = RunReply;

    fn validate(&self) -> Result<(), String> {
        if self.command.trim().is_empty() {
            return Err("`command` is empty; give the command line to run".into());
        }
        if self.max_bytes == 0 || self.max_bytes > MAX_RUN_BYTES {
            return Err(format!("`max_bytes` must be 1 to {MAX_RUN_BYTES}"));
        }
        Ok(())
    }

    fn timeout_ms(&self) -> u64 {
        self.timeout_ms
    }

    fn timeout_message(&self, ms: u64) -> String {
        format!(
            "`{}` did not finish in pane `{}` within {} (it keeps running there)",
            self.command,
            self.label,
            format_ms(ms)
        )
    }
}

/// `ctmuxd run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The pane: its label, id (`%3`) or tmux target (`main:2.1`).
    pub label: String,
    /// The command line; several words are joined with spaces.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
    /// Give up waiting after this long (exit status 1; the command keeps running).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_timeout)]
    pub timeout: Duration,
    /// Keep at most this many bytes of output, the last ones.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_RUN_BYTES)]
    pub max_bytes: u64,
    /// Print the reply as JSON (status, output lines, duration, what was dropped).
    #[arg(long)]
    pub json: bool,
}

impl CliRequest for RunRequest {
    const NAME: &'static str = "run";
    const ABOUT: &'static str = "Run a command in a shell pane (one with `ctmuxd shell-init`), \
        print its output and exit with its status";
    const EXAMPLES: &'static str = "Examples:\n  \
        ctmuxd run dev -- make test\n  \
        ctmuxd run dev --timeout 5m --json -- 'cargo build 2>&1'\n  \
        ctmuxd run %3 -- cd /tmp";
    type Args = RunArgs;

    fn from_args(a: &RunArgs) -> Result<RunRequest, String> {
        Ok(RunRequest {
            label: a.label.clone(),
            command: a.command.join(" "),
            timeout_ms: millis(a.timeout),
            max_bytes: a.max_bytes,
        })
    }

    async fn show(
        reply: RunReply,
        args: RunArgs,
        _: Daemon,
        out: &mut dyn Write,
    ) -> Result<ExitCode, Failure> {
        if args.json {
            json_line(out, &reply)?;
        } else {
            if reply.dropped_lines > 0 {
                writeln!(
                    out,
                    "[ctmuxd: the first {} line(s) ({} bytes) were dropped; --max-bytes keeps more]",
                    reply.dropped_lines, reply.dropped_bytes
                )?;
            }
            for line in &reply.output {
                writeln!(out, "{line}")?;
            }
            if reply.not_run {
                writeln!(
                    out,
                    "[ctmuxd: the shell went back to its prompt without running the command]"
                )?;
            }
        }
        // The command's status is ctmuxd's: 0..=255 as a shell reports it; none known: 1.
        let code = reply.status.map_or(1, |s| s.clamp(0, 255) as u8);
        Ok(ExitCode::from(code))
    }
}
