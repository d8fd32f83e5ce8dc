//! `send`: type text into a pane, optionally waiting for a line (`ctmuxd send`).

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{
    millis, parse_timeout, print_match, ApiRequest, CliRequest, Daemon, Failure, Reply,
};
use crate::api::protocol::{format_ms, MatchView};

/// Arguments of `send`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendRequest {
    /// The pane's label.
    pub label: String,
    /// Text typed literally (control characters are sent as keys, never interpreted by tmux).
    pub text: String,
    /// Press Enter after the text.
    #[serde(default)]
    pub enter: bool,
    /// A regex: after sending, wait for a line matching it (watched from before the text is
    /// sent, so a fast answer is not missed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<String>,
    /// Bound on the whole request, sending and waiting, in milliseconds.
    #[serde(default = "super::default_timeout_ms")]
    pub timeout_ms: u64,
}

/// Body of the `send` reply.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendReply {
    /// The line that matched `expect`; `null` when no `expect` was given.
    pub matched: Option<MatchView>,
}

impl Reply for SendReply {}

impl ApiRequest for SendRequest {
    const CMD: &'static str = "send";
    type Answer = SendReply;

    fn timeout_ms(&self) -> u64 {
        self.timeout_ms
    }

    fn timeout_message(&self, ms: u64) -> String {
        match &self.expect {
            Some(re) => format!(
                "sent to pane `{}`, but no line matching `{re}` appeared within {}",
                self.label,
                format_ms(ms)
            ),
            None => {
                format!("sending to pane `{}` did not finish within {}", self.label, format_ms(ms))
            }
        }
    }
}

/// `ctmuxd send`.
#[derive(Debug, clap::Args)]
pub struct SendArgs {
    /// The pane's label.
    pub label: String,
    /// Press Enter after the text.
    #[arg(long)]
    pub enter: bool,
    /// Then wait for a line matching this regex and print it.
    #[arg(long, value_name = "RE")]
    pub expect: Option<String>,
    /// Give up after this long (`500ms`, `30s`, `2m`).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_timeout)]
    pub timeout: Duration,
    /// Print the matched line as JSON.
    #[arg(long)]
    pub json: bool,
    /// The text, after `--` (several words are joined by spaces).
    #[arg(last = true, value_name = "TEXT")]
    pub text: Vec<String>,
}

impl CliRequest for SendRequest {
    const NAME: &'static str = "send";
    const ABOUT: &'static str =
        "Type text into a pane, optionally pressing Enter and waiting for a line";
    const EXAMPLES: &'static str =
        "Example:\n  ctmuxd send db --enter --expect '^\\(1 row\\)' --timeout 10s -- 'SELECT 1;'";
    type Args = SendArgs;

    fn from_args(a: &SendArgs) -> Result<SendRequest, String> {
        if a.text.is_empty() && !a.enter {
            return Err("nothing to send: give TEXT after `--`, or --enter".into());
        }
        Ok(SendRequest {
            label: a.label.clone(),
            text: a.text.join(" "),
            enter: a.enter,
            expect: a.expect.clone(),
            timeout_ms: millis(a.timeout),
        })
    }

    async fn show(
        SendReply { matched }: SendReply,
        args: SendArgs,
        _: Daemon,
        out: &mut dyn Write,
    ) -> Result<ExitCode, Failure> {
        if let Some(m) = matched {
            print_match(out, &m, args.json)?;
        }
        Ok(ExitCode::SUCCESS)
    }
}
