//! `close`: kill the panes whose labels match (`ctmuxd close`).

use std::io::Write;
use std::process::ExitCode;

use serde::{Deserialize, Serialize};

use super::{json_line, ApiRequest, CliRequest, Daemon, Failure, Reply};
use crate::api::protocol::PaneView;

/// Arguments of `close`. A pattern that matches no pane is `not_found`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloseRequest {
    /// Labels or globs (`test-*`).
    pub labels: Vec<String>,
}

/// Body of the `close` reply.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CloseReply {
    /// The panes that were closed.
    pub closed: Vec<PaneView>,
}

impl Reply for CloseReply {}

impl ApiRequest for CloseRequest {
    const CMD: &'static str = "close";
    type Answer = CloseReply;
}

/// `ctmuxd close`.
#[derive(Debug, clap::Args)]
pub struct CloseArgs {
    /// Labels or globs (`test-*`).
    #[arg(required = true, value_name = "LABEL")]
    pub labels: Vec<String>,
    /// Print the closed panes as JSON.
    #[arg(long)]
    pub json: bool,
}

impl CliRequest for CloseRequest {
    const NAME: &'static str = "close";
    const ABOUT: &'static str = "Close the panes with these labels (globs allowed)";
    const EXAMPLES: &'static str = "Example:\n  ctmuxd close db 'test-*'";
    type Args = CloseArgs;

    fn from_args(a: &CloseArgs) -> Result<CloseRequest, String> {
        Ok(CloseRequest { labels: a.labels.clone() })
    }

    async fn show(
        CloseReply { closed }: CloseReply,
        args: CloseArgs,
        _: Daemon,
        out: &mut dyn Write,
    ) -> Result<ExitCode, Failure> {
        if args.json {
            json_line(out, &closed)?;
        } else {
            for p in &closed {
                writeln!(out, "closed {} {}", p.id, p.label.as_deref().unwrap_or("-"))?;
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}
