//! `send`: type text into a pane, optionally waiting first for it to be ready for input
//! and afterwards for a line of output (`ctmuxd send`).

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
    /// sent, so a fast answer is not missed; the echo of the typed text never matches).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<String>,
    /// Before typing, wait until the pane is ready for input: the line under the cursor
    /// matches `prompt`, or the pane printed nothing for `idle_ms`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub wait_ready: bool,
    /// With `wait_ready`: the prompt's regex (default [`DEFAULT_PROMPT`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// With `wait_ready`: how long the pane must print nothing to count as ready
    /// (default [`DEFAULT_IDLE_MS`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_ms: Option<u64>,
    /// Bound on the whole request, sending and waiting, in milliseconds.
    #[serde(default = "super::default_timeout_ms")]
    pub timeout_ms: u64,
}

/// The prompt `send --wait-ready` waits for when none is given: the line under the cursor
/// ends with `$`, `#`, `>` or `%`, and a space or not (`$ `, `# `, `>>> `, `% `, `db=>`).
pub const DEFAULT_PROMPT: &str = r"[$#>%] ?$";

/// How long a pane must print nothing for `send --wait-ready` to take it as ready, when
/// its line under the cursor does not look like a prompt.
pub const DEFAULT_IDLE_MS: u64 = 500;

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

    fn validate(&self) -> Result<(), String> {
        if !self.wait_ready && (self.prompt.is_some() || self.idle_ms.is_some()) {
            return Err("`prompt` and `idle_ms` apply only with `wait_ready`: true".into());
        }
        Ok(())
    }

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
    /// Then wait for a line of output matching this regex and print it (never the echo
    /// of the typed text).
    #[arg(long, value_name = "RE")]
    pub expect: Option<String>,
    /// Before typing, wait until the pane is ready for input: the line under the cursor
    /// matches --prompt, or the pane printed nothing for --idle.
    #[arg(long)]
    pub wait_ready: bool,
    /// With --wait-ready: the prompt's regex [default: `[$#>%] ?$`].
    #[arg(long, value_name = "RE", requires = "wait_ready")]
    pub prompt: Option<String>,
    /// With --wait-ready: how long the pane must print nothing to count as ready
    /// [default: 500ms].
    #[arg(long, value_name = "DURATION", requires = "wait_ready", value_parser = parse_timeout)]
    pub idle: Option<Duration>,
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
    const EXAMPLES: &'static str = "Examples:\n  ctmuxd send db --enter --expect '^\\(1 row\\)' --timeout 10s -- 'SELECT 1;'\n  ctmuxd send repl --wait-ready --enter --expect '^42$' -- '6*7'";
    type Args = SendArgs;

    fn from_args(a: &SendArgs) -> Result<SendRequest, String> {
        if a.text.is_empty() && !a.enter && !a.wait_ready {
            return Err("nothing to send: give TEXT after `--`, --enter or --wait-ready".into());
        }
        Ok(SendRequest {
            label: a.label.clone(),
            text: a.text.join(" "),
            enter: a.enter,
            expect: a.expect.clone(),
            wait_ready: a.wait_ready,
            prompt: a.prompt.clone(),
            idle_ms: a.idle.map(millis),
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
