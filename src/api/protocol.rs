//! The control API's wire vocabulary, shared by every request: the reply and error lines,
//! streamed lines, the views several replies carry, and error codes.
//!
//! The protocol is JSON lines over the daemon's Unix socket (see `docs/api.md`). A request
//! is one JSON object whose `"cmd"` field names its kind (each kind is a module of
//! [`super::request`]); the reply is one line, `{"ok":true, ...}` with the kind's body
//! flattened into it ([`ok_line`]), or `{"ok":false,"error":{"code":...,"message":...}}`
//! ([`ApiError`], [`error_line`]). `subscribe` and `events` answer
//! `{"ok":true,"streaming":true}` ([`StreamStarted`]) and then one `{"event":{...}}` line
//! per event ([`StreamLine`]). These same types are what `ctmuxd <command> --json` prints,
//! so field names are stable: add optional fields, never rename or remove one.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How long `wait_for` and `send` with `expect` wait when the request does not say.
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;

/// Bound on requests that do not wait for pane output (`panes`, `spawn`, ...): a stuck
/// tmux must not hold a client forever.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// A pane, as `panes`, `spawn` and `close` report it (`ctmuxd panes --json`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PaneView {
    /// tmux pane id (`%3`).
    pub id: String,
    /// The server it is on, when the daemon watches several (`[[server]]`): address it
    /// as `server/label` or `server/%3`; left out when it watches one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// The `@ctmuxd_label` option, when set.
    pub label: Option<String>,
    /// Metadata (a JSON object; `{}` when none).
    #[serde(default = "empty_object")]
    pub meta: Value,
    /// Session name.
    pub session: String,
    /// Window id (`@2`).
    pub window: String,
    /// Foreground command name.
    pub command: String,
    /// Process id of the pane's first process.
    pub pid: u32,
    /// Width in cells.
    pub width: u32,
    /// Height in cells.
    pub height: u32,
    /// False once the pane's process has exited (the pane was kept).
    pub alive: bool,
    /// Exit status, when it exited normally.
    pub exit_status: Option<i32>,
    /// Signal number, when a signal killed it.
    pub exit_signal: Option<i32>,
    /// The last line the pane printed, as a person saw it.
    pub last_line: Option<String>,
    /// For a `[[pane]]` entry's pane: where it is in the start order (`starting`, `ready`,
    /// `restarting`, `failed`); left out for other panes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// The tmux target people write for it, `session:window_index.pane_index` (`main:2.1`);
    /// left out by daemons from before the field was added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// How many times rules fired on this pane (line, exit and command rules) since the daemon
    /// learnt of it; left out for a pane the daemon does not watch, and by daemons from
    /// before the field was added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matches: Option<u64>,
    /// Its shell's state from shell-integration marks (`ctmuxd shell-init`); left out
    /// for a pane whose output never carried one, and by older daemons.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<ShellView>,
}

/// A pane's shell as its integration marks tell it (`panes`, `status`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShellView {
    /// `prompt` (waiting for a command) or `running`.
    pub state: String,
    /// The running command's line, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmdline: Option<String>,
    /// How long the running command has run, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running_ms: Option<u64>,
    /// The shell's working directory, when it reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// The last command that finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<LastCommandView>,
}

/// The last command a pane's shell finished.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastCommandView {
    /// Its command line, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmdline: Option<String>,
    /// Its exit status, when the shell gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<i32>,
    /// From its output start to its end.
    pub duration_ms: u64,
    /// Lines it printed.
    pub lines: u64,
}

impl ShellView {
    /// The view of a pane's shell, or `None` when it never sent a mark.
    pub fn of(shell: &crate::panes::Shell) -> Option<ShellView> {
        use crate::panes::ShellState;
        if !shell.integrated {
            return None;
        }
        let (state, cmdline, running_ms) = match &shell.state {
            ShellState::Running { cmdline, started, .. } => {
                ("running", cmdline.clone(), Some(started.elapsed().as_millis() as u64))
            }
            _ => ("prompt", None, None),
        };
        Some(ShellView {
            state: state.into(),
            cmdline,
            running_ms,
            cwd: shell.cwd.clone(),
            last: shell.last.as_ref().map(|l| LastCommandView {
                cmdline: l.cmdline.clone(),
                status: l.status,
                duration_ms: l.duration_ms,
                lines: l.line_count(),
            }),
        })
    }

    /// A few words for a table: `prompt, last 1`, `running make`.
    pub fn brief(&self) -> String {
        match (self.state.as_str(), &self.cmdline, &self.last) {
            ("running", Some(c), _) => format!("running {c}"),
            ("running", None, _) => "running".into(),
            (s, _, Some(LastCommandView { status: Some(st), .. })) => format!("{s}, last {st}"),
            (s, _, _) => s.into(),
        }
    }
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

/// A line that matched a pattern (`wait_for`, `send` with `expect`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchView {
    /// tmux pane id (`%3`).
    pub pane: String,
    /// The pane's label.
    pub label: Option<String>,
    /// The whole line as a person saw it.
    pub line: String,
    /// Capture groups by name (numbered groups under `"1"`, `"2"`, ...); unmatched groups absent.
    #[serde(default)]
    pub captures: BTreeMap<String, String>,
}

/// Body of the first reply of `subscribe` and `events`: the stream follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamStarted {
    /// Always true.
    pub streaming: bool,
}

/// Body of replies that carry nothing but success (`stop`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}

/// One line of a stream after [`StreamStarted`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamLine {
    /// An event: a match (`subscribe`) or an event-log record (`events`).
    Event(Value),
    /// The subscriber read too slowly and this many events were dropped for it.
    Lagged(u64),
}

/// What kind of failure an [`ApiError`] is; the CLI's exit status follows from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// No pane has that label (the message lists the labels that exist).
    NotFound,
    /// The awaited line did not appear in time.
    Timeout,
    /// The request is malformed: not JSON, too long, unknown kind, bad field, bad regex.
    BadRequest,
    /// The request clashes with the current state (a label already in use).
    Conflict,
    /// tmux refused a command.
    Tmux,
    /// The connection comes from another user.
    Forbidden,
    /// The daemon serves as many connections as it will; retry once some have closed.
    Busy,
    /// Anything else went wrong inside the daemon.
    Internal,
}

impl ErrorCode {
    /// The wire name (`not_found`).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::NotFound => "not_found",
            ErrorCode::Timeout => "timeout",
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::Conflict => "conflict",
            ErrorCode::Tmux => "tmux",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::Busy => "busy",
            ErrorCode::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed request: the `"error"` object of an `{"ok":false}` reply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// The kind of failure.
    pub code: ErrorCode,
    /// What went wrong, lowercase, naming the offending thing.
    pub message: String,
}

impl ApiError {
    /// An error of `code` with `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError { code, message: message.into() }
    }

    /// A [`ErrorCode::BadRequest`] error.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::BadRequest, message)
    }

    /// A [`ErrorCode::NotFound`] error.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::NotFound, message)
    }

    /// A [`ErrorCode::Internal`] error.
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::Internal, message)
    }
}

/// A millisecond count as people write it: `500ms`, `30s`, `2m`, `1h`, `1500ms`.
pub fn format_ms(ms: u64) -> String {
    match ms {
        0 => "0s".to_string(),
        ms if ms % 3_600_000 == 0 => format!("{}h", ms / 3_600_000),
        ms if ms % 60_000 == 0 => format!("{}m", ms / 60_000),
        ms if ms % 1000 == 0 => format!("{}s", ms / 1000),
        ms => format!("{ms}ms"),
    }
}

/// The `{"ok":false,"error":{...}}` line.
#[derive(Serialize, Deserialize)]
struct ErrorLine {
    ok: bool,
    error: ApiError,
}

/// The `{"ok":true, ...body}` line.
#[derive(Serialize)]
struct OkLine<'a, T: Serialize> {
    ok: bool,
    #[serde(flatten)]
    body: &'a T,
}

/// Serializes a success reply: `{"ok":true}` plus the fields of `body` (an object), and `\n`.
///
/// # Errors
/// When `body` does not serialize to an object (a programming error, reported as such).
pub fn ok_line<T: Serialize>(body: &T) -> Result<Vec<u8>, ApiError> {
    let mut out = serde_json::to_vec(&OkLine { ok: true, body })
        .map_err(|e| ApiError::internal(format!("cannot serialize the reply: {e}")))?;
    out.push(b'\n');
    Ok(out)
}

/// Serializes an error reply and its `\n`.
pub fn error_line(err: &ApiError) -> Vec<u8> {
    // An ErrorLine is two strings and a unit enum: serializing it cannot fail.
    let mut out =
        serde_json::to_vec(&ErrorLine { ok: false, error: err.clone() }).unwrap_or_default();
    out.push(b'\n');
    out
}

/// Serializes one stream line and its `\n`.
pub fn stream_line(line: &StreamLine) -> Vec<u8> {
    // A Value or a u64 under one key: serializing it cannot fail.
    let mut out = serde_json::to_vec(line).unwrap_or_default();
    out.push(b'\n');
    out
}

/// Parses one reply line into its body `T`, or the error it carries.
///
/// # Errors
/// The reply's own [`ApiError`]; [`ErrorCode::Internal`] when the line is not a reply or its
/// body does not have `T`'s shape (a daemon of another version).
pub fn parse_reply<T: serde::de::DeserializeOwned>(line: &str) -> Result<T, ApiError> {
    let value: Value = serde_json::from_str(line).map_err(|e| {
        ApiError::internal(format!("the daemon sent a line that is not JSON ({e}): {line:?}"))
    })?;
    match value.get("ok") {
        Some(Value::Bool(true)) => serde_json::from_value(value).map_err(|e| {
            ApiError::internal(format!("unexpected reply from the daemon ({e}): {line}"))
        }),
        Some(Value::Bool(false)) => {
            let err: ErrorLine = serde_json::from_value(value).map_err(|e| {
                ApiError::internal(format!("unreadable error from the daemon ({e}): {line}"))
            })?;
            Err(err.error)
        }
        _ => Err(ApiError::internal(format!("the daemon sent a line without \"ok\": {line}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_format_in_the_largest_whole_unit() {
        assert_eq!(format_ms(30_000), "30s");
        assert_eq!(format_ms(500), "500ms");
        assert_eq!(format_ms(1500), "1500ms");
        assert_eq!(format_ms(120_000), "2m");
        assert_eq!(format_ms(7_200_000), "2h");
        assert_eq!(format_ms(0), "0s");
    }

    #[test]
    fn pane_view_meta_defaults_to_an_object() {
        let p: PaneView = serde_json::from_str(
            r#"{"id":"%1","label":null,"session":"s","window":"@1","command":"sh","pid":1,"width":80,"height":24,
                "alive":true,"exit_status":null,"exit_signal":null,"last_line":null}"#,
        )
        .unwrap();
        assert_eq!(p.meta, serde_json::json!({}));
    }
}
