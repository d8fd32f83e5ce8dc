//! `subscribe`: a dynamic rule whose matches are streamed until the connection closes
//! (`ctmuxd subscribe`).

use std::future::Future;
use std::io::Write;
use std::pin::Pin;
use std::process::ExitCode;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::mpsc;

use super::{follow, Answer, ApiRequest, CliRequest, Daemon, EventSource, Failure, Outcome};
use crate::api::protocol::{ApiError, StreamLine, StreamStarted};

/// Arguments of `subscribe`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscribeRequest {
    /// A pane label or a glob of labels.
    pub label: String,
    /// A regex matched against each line as a person saw it.
    pub pattern: String,
    /// Also run this argv on each match (with the `CTMUX_*` environment of rule actions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<Vec<String>>,
    /// Where `exec` runs (absolute; `ctmuxd subscribe` sends the caller's directory, so a
    /// relative program path means the caller's). Default: the daemon's directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<std::path::PathBuf>,
    /// Keep the rule after the subscriber disconnects (until the daemon stops or reloads).
    #[serde(default)]
    pub persist: bool,
}

impl ApiRequest for SubscribeRequest {
    const CMD: &'static str = "subscribe";
    type Answer = Subscription;

    fn validate(&self) -> Result<(), String> {
        match &self.cwd {
            // The daemon's working directory is not the client's.
            Some(cwd) if !cwd.is_absolute() => {
                Err(format!("cwd {:?} must be an absolute path", cwd.display().to_string()))
            }
            _ => Ok(()),
        }
    }
}

/// A live `subscribe`, as the backend answers it: the matches, and what keeps the rule alive.
pub struct Subscription {
    /// Match events, one JSON object each (the shape of an event-log `match` record).
    /// The backend owns the sender; it should `try_send` and count what a full channel
    /// drops, so a slow subscriber never stalls pane processing. Closing the sender ends
    /// the stream (the client sees the connection close).
    pub events: mpsc::Receiver<Value>,
    /// Dropped by the server when the subscriber disconnects or the daemon stops; its
    /// `Drop` removes the dynamic rule unless the request asked to `persist`.
    pub guard: Box<dyn Send>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription").finish_non_exhaustive()
    }
}

impl Answer for Subscription {
    type Reply = StreamStarted;
    const STREAM: bool = true;
    fn into_outcome(self) -> Result<Outcome, ApiError> {
        Ok(Outcome::Stream(Box::new(self)))
    }
}

impl EventSource for Subscription {
    fn next_line(&mut self) -> Pin<Box<dyn Future<Output = Option<StreamLine>> + Send + '_>> {
        Box::pin(async { self.events.recv().await.map(StreamLine::Event) })
    }
}

/// `ctmuxd subscribe`.
#[derive(Debug, clap::Args)]
pub struct SubscribeArgs {
    /// A pane label or a glob of labels.
    pub label: String,
    /// The regex a line must match.
    #[arg(long, short = 'p', value_name = "RE")]
    pub pattern: String,
    /// Keep the rule in the daemon after this command ends.
    #[arg(long)]
    pub persist: bool,
    /// Also run this command on each match (it takes the rest of the command line).
    #[arg(long, value_name = "CMD", num_args = 1.., allow_hyphen_values = true)]
    pub exec: Option<Vec<String>>,
}

impl CliRequest for SubscribeRequest {
    const NAME: &'static str = "subscribe";
    const ABOUT: &'static str = "Print every line matching a regex as JSON lines until interrupted";
    const EXAMPLES: &'static str = "Examples:\n  \
        ctmuxd subscribe 'test-*' --pattern 'FAILED|panicked'\n  \
        ctmuxd subscribe build --pattern 'error\\[E[0-9]+\\]' --persist --exec notify-send 'build error'";
    type Args = SubscribeArgs;

    fn from_args(a: &SubscribeArgs) -> Result<SubscribeRequest, String> {
        Ok(SubscribeRequest {
            label: a.label.clone(),
            pattern: a.pattern.clone(),
            exec: a.exec.clone(),
            // The client's directory, not the daemon's: `--exec ./notify.sh` is the caller's.
            cwd: match &a.exec {
                Some(_) => Some(std::env::current_dir().map_err(|e| format!("--exec: {e}"))?),
                None => None,
            },
            persist: a.persist,
        })
    }

    async fn show(
        _: StreamStarted,
        _: SubscribeArgs,
        daemon: Daemon,
        out: &mut dyn Write,
    ) -> Result<ExitCode, Failure> {
        follow(daemon.client.into_stream(), out).await
    }
}
