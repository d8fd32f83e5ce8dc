//! `capture`: what a pane shows (`ctmuxd capture`): the rows on its screen, as
//! `tmux capture-pane -p` prints them, or with `--lines N` the last lines it printed.

use std::io::Write;
use std::process::ExitCode;

use serde::{Deserialize, Serialize};

use super::{ApiRequest, CliRequest, Daemon, Failure, Reply};

/// Arguments of `capture`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureRequest {
    /// The pane: a label, `%id` or `session:window.pane`.
    pub label: String,
    /// The last this many lines the pane printed (the line being written counts as one)
    /// instead of the rows on its screen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lines: Option<usize>,
}

/// Which view a capture shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CaptureView {
    /// The rows on the pane's screen, top to bottom.
    Screen,
    /// The last lines the pane printed, oldest first.
    Log,
}

/// Body of the `capture` reply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureReply {
    /// Screen rows (trailing blanks trimmed) or log lines (the last may be a line still
    /// being written).
    pub lines: Vec<String>,
    /// Which of the two `lines` holds.
    #[serde(default = "screen_view")]
    pub view: CaptureView,
    /// The screen's size, (columns, rows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<(u16, u16)>,
    /// The cursor, (column, row) from 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<(u16, u16)>,
    /// Log view: lines asked for that the pane printed but ctmuxd no longer keeps
    /// (the `ring_lines` setting bounds how many are kept per pane).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub not_kept: u64,
    /// Log view: how many lines ctmuxd keeps per pane (`ring_lines`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kept_per_pane: Option<usize>,
}

fn screen_view() -> CaptureView {
    CaptureView::Screen
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Reply for CaptureReply {}

impl ApiRequest for CaptureRequest {
    const CMD: &'static str = "capture";
    type Answer = CaptureReply;
}

/// `ctmuxd capture`.
#[derive(Debug, clap::Args)]
pub struct CaptureArgs {
    /// The pane: a label, `%id` or `session:window.pane`.
    pub label: String,
    /// Print the last N lines the pane printed (its log, lines unwrapped) instead of
    /// the rows on its screen.
    #[arg(long, short = 'n', visible_alias = "history", value_name = "N")]
    pub lines: Option<usize>,
}

impl CliRequest for CaptureRequest {
    const NAME: &'static str = "capture";
    const ABOUT: &'static str =
        "Print what a pane shows, row for row (or with --lines N its last lines)";
    const EXAMPLES: &'static str = "Examples:\n  ctmuxd capture build\n  \
        ctmuxd capture build --lines 200";
    type Args = CaptureArgs;

    fn from_args(a: &CaptureArgs) -> Result<CaptureRequest, String> {
        Ok(CaptureRequest { label: a.label.clone(), lines: a.lines })
    }

    async fn show(
        reply: CaptureReply,
        args: CaptureArgs,
        _: Daemon,
        out: &mut dyn Write,
    ) -> Result<ExitCode, Failure> {
        for l in &reply.lines {
            writeln!(out, "{l}")?;
        }
        let asked = args.lines.unwrap_or(0);
        if reply.not_kept == 0 && reply.view == CaptureView::Log && reply.lines.len() < asked {
            eprintln!(
                "ctmuxd: pane `{}` has printed {} line(s) so far; all of them are shown ({asked} asked for)",
                args.label,
                reply.lines.len()
            );
        }
        if reply.not_kept > 0 {
            let kept = reply.kept_per_pane.map_or(String::new(), |k| format!(" (ring_lines = {k})"));
            eprintln!(
                "ctmuxd: pane `{}`: {} of the {} lines asked for are no longer kept{kept}; raise `ring_lines` in [settings] to keep more",
                args.label,
                reply.not_kept,
                args.lines.unwrap_or(0)
            );
        }
        Ok(ExitCode::SUCCESS)
    }
}
