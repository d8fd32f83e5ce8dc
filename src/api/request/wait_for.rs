//! `wait_for`: block until a line of a pane matches, or until its shell is at a prompt or
//! has finished a command (`ctmuxd wait-for`).

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{
    json_line, millis, parse_timeout, print_match, ApiRequest, CliRequest, Daemon, Failure,
    Reply,
};
use crate::api::protocol::{format_ms, MatchView, ShellView};

/// The shell states a `wait_for` can wait for (a shell with integration marks:
/// `ctmuxd shell-init`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WaitState {
    /// At its prompt: now, or as soon as the running command ends.
    Prompt,
    /// A command finished: the one running now or the next one; with `after`, any
    /// command whose output ended after that line (one that already ended answers).
    Finished,
}

/// Arguments of `wait_for`. The backend pends until a line matches (or the shell reaches
/// `state`); the server applies `timeout_ms` by dropping its future.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitRequest {
    /// The pane's label.
    pub label: String,
    /// A regex matched against each line as a person saw it (empty with `state`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub pattern: String,
    /// Instead of a pattern, a shell state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<WaitState>,
    /// With `state: finished`: only a command whose output ended after this line (a
    /// `read` cursor taken before the command was typed) counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<u64>,
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
    /// The line that matched (a `pattern` wait).
    #[serde(rename = "match", default, skip_serializing_if = "Option::is_none")]
    pub matched: Option<MatchView>,
    /// The shell's state when it answered (a `state` wait): `last` is the command that
    /// finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<ShellView>,
}

impl Reply for WaitReply {}

impl ApiRequest for WaitRequest {
    const CMD: &'static str = "wait_for";
    type Answer = WaitReply;

    fn timeout_ms(&self) -> u64 {
        self.timeout_ms
    }

    fn validate(&self) -> Result<(), String> {
        match (&self.state, self.pattern.is_empty()) {
            (None, true) => Err("give a `pattern` (a regex) or a shell `state`".into()),
            (Some(_), false) => Err("give a `pattern` or a shell `state`, not both".into()),
            (Some(_), _) if self.screen || self.since > 0 => {
                Err("`screen` and `since` go with a `pattern`, not a shell `state`".into())
            }
            (None, _) if self.after.is_some() => Err("`after` goes with `state: finished`".into()),
            _ => Ok(()),
        }
    }

    fn timeout_message(&self, ms: u64) -> String {
        if let Some(state) = self.state {
            return format!(
                "the shell in pane `{}` {} within {} (a shell shows its state only with \
                 integration marks: `ctmuxd shell-init`)",
                self.label,
                match state {
                    WaitState::Prompt => "was not at its prompt",
                    WaitState::Finished => "finished no command",
                },
                format_ms(ms)
            );
        }
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
    #[arg(long, short = 'p', value_name = "RE", required_unless_present = "state")]
    pub pattern: Option<String>,
    /// Instead of a pattern: wait until the pane's shell is at its `prompt`, or has
    /// `finished` a command (the running one or the next; needs `ctmuxd shell-init`).
    #[arg(long, value_name = "STATE", value_parser = ["prompt", "finished"], conflicts_with_all = ["pattern", "screen", "since"])]
    pub state: Option<String>,
    /// With `--state finished`: a command whose output ended after this line counts, even
    /// one that already ended (a cursor `ctmuxd read` printed before it was typed).
    #[arg(long, value_name = "CURSOR", requires = "state")]
    pub after: Option<u64>,
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
        ctmuxd wait-for htop --screen --pattern 'Load average'\n  \
        ctmuxd wait-for dev --state finished --timeout 10m --json";
    type Args = WaitForArgs;

    fn from_args(a: &WaitForArgs) -> Result<WaitRequest, String> {
        Ok(WaitRequest {
            label: a.label.clone(),
            pattern: a.pattern.clone().unwrap_or_default(),
            state: match a.state.as_deref() {
                None => None,
                Some("prompt") => Some(WaitState::Prompt),
                Some(_) => Some(WaitState::Finished),
            },
            after: a.after,
            timeout_ms: millis(a.timeout),
            since: a.since,
            screen: a.screen,
        })
    }

    async fn show(
        WaitReply { matched, shell }: WaitReply,
        args: WaitForArgs,
        _: Daemon,
        out: &mut dyn Write,
    ) -> Result<ExitCode, Failure> {
        if let Some(m) = matched {
            print_match(out, &m, args.json)?;
            return Ok(ExitCode::SUCCESS);
        }
        let Some(shell) = shell else { return Ok(ExitCode::SUCCESS) };
        if args.json {
            json_line(out, &shell)?;
        } else {
            match &shell.last {
                Some(l) if args.state.as_deref() == Some("finished") => writeln!(
                    out,
                    "{} exited {} after {}",
                    l.cmdline.as_deref().unwrap_or("the command"),
                    l.status.map_or("(no status)".to_string(), |s| s.to_string()),
                    format_ms(l.duration_ms)
                )?,
                _ => writeln!(out, "{}", shell.state)?,
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}
