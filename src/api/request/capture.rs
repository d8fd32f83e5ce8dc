//! `capture`: the last lines of a pane as a person saw them (`ctmuxd capture`).

use std::io::Write;
use std::process::ExitCode;

use serde::{Deserialize, Serialize};

use super::{ApiRequest, CliRequest, Daemon, Failure, Reply};

/// Arguments of `capture`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureRequest {
    /// The pane's label.
    pub label: String,
    /// How many lines (the line being written counts as one).
    #[serde(default = "default_capture_lines")]
    pub lines: usize,
}

fn default_capture_lines() -> usize {
    50
}

/// Body of the `capture` reply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureReply {
    /// Oldest first; the last one may be a line still being written.
    pub lines: Vec<String>,
}

impl Reply for CaptureReply {}

impl ApiRequest for CaptureRequest {
    const CMD: &'static str = "capture";
    type Answer = CaptureReply;
}

/// `ctmuxd capture`.
#[derive(Debug, clap::Args)]
pub struct CaptureArgs {
    /// The pane's label.
    pub label: String,
    /// How many lines.
    #[arg(long, short = 'n', default_value_t = 50)]
    pub lines: usize,
}

impl CliRequest for CaptureRequest {
    const NAME: &'static str = "capture";
    const ABOUT: &'static str = "Print a pane's last lines as a person saw them";
    const EXAMPLES: &'static str = "Example:\n  ctmuxd capture build --lines 20";
    type Args = CaptureArgs;

    fn from_args(a: &CaptureArgs) -> Result<CaptureRequest, String> {
        Ok(CaptureRequest { label: a.label.clone(), lines: a.lines })
    }

    async fn show(
        CaptureReply { lines }: CaptureReply,
        _: CaptureArgs,
        _: Daemon,
        out: &mut dyn Write,
    ) -> Result<ExitCode, Failure> {
        for l in &lines {
            writeln!(out, "{l}")?;
        }
        Ok(ExitCode::SUCCESS)
    }
}
