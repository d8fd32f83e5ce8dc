//! `read`: the lines a pane printed after a cursor (`ctmuxd read`), for a reader that
//! comes back for more: each reply says where the next call starts, so successive calls
//! see every line once, and a reply says how many lines it could not give (dropped from
//! the pane's ring before it was read, or cut by the line budget).
//!
//! Lines are numbered from 1 in the order the pane completed them (the ring's
//! `total_lines`); the line being written (a prompt) is not numbered yet and comes apart,
//! in `partial`, so it is seen again once complete.

use std::io::Write;
use std::process::ExitCode;

use serde::{Deserialize, Serialize};

use super::{json_line, ApiRequest, CliRequest, Daemon, Failure, Reply};

/// Lines a `read` answers when the request does not say.
pub const DEFAULT_READ_LINES: usize = 1000;

/// Arguments of `read`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadRequest {
    /// The pane: a label, `%id` or `session:window.pane`.
    pub label: String,
    /// The cursor: the last line already read (the previous reply's `cursor`); 0 reads
    /// from the oldest line kept.
    #[serde(default)]
    pub after: u64,
    /// At most this many lines, the newest kept: older ones are counted in `cut`.
    #[serde(default = "default_max_lines")]
    pub max_lines: usize,
}

fn default_max_lines() -> usize {
    DEFAULT_READ_LINES
}

/// Body of the `read` reply.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadReply {
    /// Complete lines after the cursor, oldest first.
    pub lines: Vec<String>,
    /// The number of the first of `lines` (when `lines` is empty: `cursor + 1`).
    pub first: u64,
    /// The number of the last complete line the pane printed: the `after` of the next
    /// call.
    pub cursor: u64,
    /// Lines after `after` the pane printed but ctmuxd no longer keeps (its ring holds
    /// the last `ring_lines`): they come before `lines` and are lost.
    #[serde(default)]
    pub gap: u64,
    /// Lines after the gap that `max_lines` left out (the oldest ones).
    #[serde(default)]
    pub cut: u64,
    /// The line being written (a prompt, no line end yet); not counted by `cursor`.
    #[serde(default)]
    pub partial: String,
    /// Times tmux paused the pane's output for ctmuxd (it fell behind) that touch the
    /// lines after `after`, oldest first; left out when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paused: Vec<PausedView>,
}

/// A pause of the pane's output, in a `read` reply.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PausedView {
    /// The last line before the pause.
    pub after_line: u64,
    /// Lines after it read back from tmux's history once the pane was resumed (their text
    /// as a person saw it, without escapes or redraws).
    pub read_back: u64,
    /// Whether lines were lost: the pane printed more than its history holds while
    /// paused, so lines between `after_line` and the read-back are missing (and some read
    /// back may repeat earlier ones).
    pub lost: bool,
}

impl Reply for ReadReply {}

impl ApiRequest for ReadRequest {
    const CMD: &'static str = "read";
    type Answer = ReadReply;
}

/// Which lines of a ring holding the complete lines `oldest..=total` answer a read after
/// `after` with at most `max` lines: (first number answered, gap, cut). Lines numbered
/// from `first` to `total` are answered.
pub fn read_window(after: u64, total: u64, kept: u64, max: usize) -> (u64, u64, u64) {
    let oldest = total.saturating_sub(kept) + 1;
    let want = after.min(total) + 1;
    let gap = oldest.saturating_sub(want);
    let from = want.max(oldest);
    let available = (total + 1).saturating_sub(from);
    let cut = available.saturating_sub(max as u64);
    (from + cut, gap, cut)
}

/// `ctmuxd read`.
#[derive(Debug, clap::Args)]
pub struct ReadArgs {
    /// The pane: a label, `%id` or `session:window.pane`.
    pub label: String,
    /// Print only the lines after this one (the cursor a previous `read` printed).
    #[arg(long, value_name = "CURSOR", default_value_t = 0)]
    pub after: u64,
    /// At most this many lines (the newest).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_READ_LINES)]
    pub max_lines: usize,
    /// Print the reply as JSON (lines, cursor, gap, cut, partial).
    #[arg(long)]
    pub json: bool,
}

impl CliRequest for ReadRequest {
    const NAME: &'static str = "read";
    const ABOUT: &'static str =
        "Print the lines a pane printed after a cursor, and the cursor to read on from";
    const EXAMPLES: &'static str = "Examples:\n  ctmuxd read build\n  \
        ctmuxd read build --after 120 --max-lines 50 --json";
    type Args = ReadArgs;

    fn from_args(a: &ReadArgs) -> Result<ReadRequest, String> {
        Ok(ReadRequest { label: a.label.clone(), after: a.after, max_lines: a.max_lines })
    }

    async fn show(
        reply: ReadReply,
        args: ReadArgs,
        _: Daemon,
        out: &mut dyn Write,
    ) -> Result<ExitCode, Failure> {
        if args.json {
            json_line(out, &reply)?;
            return Ok(ExitCode::SUCCESS);
        }
        for l in &reply.lines {
            writeln!(out, "{l}")?;
        }
        if reply.gap > 0 {
            eprintln!(
                "ctmuxd: {} line(s) after {} are no longer kept (raise `ring_lines` in [settings])",
                reply.gap, args.after
            );
        }
        if reply.cut > 0 {
            eprintln!("ctmuxd: {} older line(s) left out by --max-lines", reply.cut);
        }
        for p in &reply.paused {
            eprintln!(
                "ctmuxd: tmux paused this pane after line {} (ctmuxd fell behind); {} line(s) \
                 after it were read back from its history{}",
                p.after_line,
                p.read_back,
                if p.lost { ", and lines before those are lost" } else { "" }
            );
        }
        eprintln!("ctmuxd: cursor {} (read on with --after {})", reply.cursor, reply.cursor);
        Ok(ExitCode::SUCCESS)
    }
}

#[cfg(test)]
mod tests {
    use super::read_window;

    #[test]
    fn window_reads_everything_after_the_cursor() {
        // Lines 1..=10 kept (10 of them), read after 7: 8, 9, 10.
        assert_eq!(read_window(7, 10, 10, 100), (8, 0, 0));
        // Nothing new.
        assert_eq!(read_window(10, 10, 10, 100), (11, 0, 0));
        // A cursor beyond the end (another daemon's) reads nothing, not everything.
        assert_eq!(read_window(50, 10, 10, 100), (11, 0, 0));
    }

    #[test]
    fn window_reports_dropped_lines_as_a_gap() {
        // Ring keeps 5 of 20 lines: 16..=20. Read after 3: 4..=15 are gone.
        assert_eq!(read_window(3, 20, 5, 100), (16, 12, 0));
        // From the start.
        assert_eq!(read_window(0, 20, 5, 100), (16, 15, 0));
    }

    #[test]
    fn window_budget_keeps_the_tail() {
        assert_eq!(read_window(0, 10, 10, 3), (8, 0, 7));
        assert_eq!(read_window(3, 20, 5, 2), (19, 12, 3));
        assert_eq!(read_window(0, 0, 10, 3), (1, 0, 0));
    }
}
