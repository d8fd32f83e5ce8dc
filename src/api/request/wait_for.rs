//! `wait_for`: block until a line of a pane matches (`ctmuxd wait-for`).

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{
    millis, parse_timeout, print_match, ApiRequest, CliRequest, Daemon, Failure, Reply,
};
use crate::api::protocol::{format_ms, MatchView};

/// Arguments of `wait_for`. The backend pends until a line matches; the server applies
/// `timeout_ms` by dropping its future.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitRequest {
    /// The pane's label.
    pub label: String,
    /// A regex matched against each line as a person saw it.
    pub pattern: String,
    /// Give up after this many milliseconds (`timeout` error).
    #[serde(default = "super::default_timeout_ms")]
    pub timeout_ms: u64,
    /// Also look at the last `since` lines the pane already printed (0: only new lines).
    #[serde(default)]
    pub since: usize,
    /// Match the rows on the pane's screen instead of its lines: answered at once if a
    /// row shows a match now, else at the first burst of output after which one does.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub screen: bool,
}

/// Body of the `wait_for` reply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitReply {
    /// The line that matched.
    #[serde(rename = "match")]
    pub matched: MatchView,
}

impl Reply for WaitReply {}

impl ApiRequest for WaitRequest {
    const CMD: &'static str = "wait_for";
    type Answer = WaitReply;

    fn timeout_ms(&self) -> u64 {
        self.timeout_ms
    }

    fn timeout_message(&self, ms: u64) -> String {
        format!(
            "no {} matching `{}` appeared in pane `{}` within {}",
            if self.screen { "row on screen" } else { "line" },
            self.pattern,
            self.label,
            format_ms(ms)
        )
    }
}

/// `ctmuxd wait-for`.
#[derive(Debug, clap::Args)]
pub struct WaitForArgs {
    /// The pane's label.
    pub label: String,
    /// The regex a line must match.
    #[arg(long, short = 'p', value_name = "RE")]
    pub pattern: String,
    /// Give up after this long (exit status 1).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_timeout)]
    pub timeout: Duration,
    /// Also look at the last N lines already printed.
    #[arg(long, value_name = "N", default_value_t = 0, conflicts_with = "screen")]
    pub since: usize,
    /// Match the rows the pane shows (full-screen programs, prompts, progress bars)
    /// instead of the lines it prints; a row already showing a match answers at once.
    #[arg(long)]
    pub screen: bool,
    /// Print the match with its capture groups as JSON.
    #[arg(long)]
    pub json: bool,
}

impl CliRequest for WaitRequest {
    const NAME: &'static str = "wait-for";
    const ABOUT: &'static str = "Block until a line matching a regex appears in a pane; print it";
    const EXAMPLES: &'static str = "Examples:\n  \
        ctmuxd wait-for db --pattern 'ready to accept connections' --timeout 1m\n  \
        ctmuxd wait-for build --pattern 'Finished .* in (?P<secs>[0-9.]+)s' --since 50 --json\n  \
        ctmuxd wait-for htop --screen --pattern 'Load average'";
    type Args = WaitForArgs;

    fn from_args(a: &WaitForArgs) -> Result<WaitRequest, String> {
        Ok(WaitRequest {
            label: a.label.clone(),
            pattern: a.pattern.clone(),
            timeout_ms: millis(a.timeout),
            since: a.since,
            screen: a.screen,
        })
    }

    async fn show(
        WaitReply { matched }: WaitReply,
        args: WaitForArgs,
        _: Daemon,
        out: &mut dyn Write,
    ) -> Result<ExitCode, Failure> {
        print_match(out, &matched, args.json)?;
        Ok(ExitCode::SUCCESS)
    }
}
