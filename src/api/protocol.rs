//! The control API's wire schema: every request, reply and streamed event as serde types.
//!
//! The protocol is JSON lines over the daemon's Unix socket (see `docs/api.md`). A request
//! is one JSON object whose `"cmd"` field names its kind ([`Request`]); the reply is one line,
//! `{"ok":true, ...}` with the kind's body ([`PanesReply`], [`WaitReply`], ...) flattened
//! into it, or `{"ok":false,"error":{"code":...,"message":...}}` ([`ApiError`]). `subscribe`
//! and `events` answer `{"ok":true,"streaming":true}` and then one `{"event":{...}}` line per
//! event ([`StreamLine`]). These same types are what `ctmuxd <command> --json` prints, so
//! field names are stable: add optional fields, never rename or remove one.
//!
//! Upstream: the client and the CLI build [`Request`]s; downstream: the server parses them
//! with [`parse_request`] and hands them to the daemon through [`super::Backend`].

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How long `wait_for` and `send` with `expect` wait when the request does not say.
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;

/// Every request kind's `"cmd"` value, in documentation order (used in error messages).
pub const COMMANDS: &[&str] = &[
    "panes",
    "spawn",
    "close",
    "send",
    "capture",
    "wait_for",
    "subscribe",
    "rules",
    "reload",
    "status",
    "stop",
    "events",
];

/// One request: the `"cmd"` field picks the variant, the other fields are its arguments.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Request {
    /// Every pane of the server. Reply: [`PanesReply`].
    Panes,
    /// Start a labelled pane. Reply: [`SpawnReply`].
    Spawn(SpawnRequest),
    /// Kill the panes whose labels match. Reply: [`CloseReply`].
    Close {
        /// Labels or globs (`test-*`).
        labels: Vec<String>,
    },
    /// Type text into a pane, optionally waiting for a line. Reply: [`SendReply`].
    Send(SendRequest),
    /// The last lines of a pane as a person saw them. Reply: [`CaptureReply`].
    Capture {
        /// The pane's label.
        label: String,
        /// How many lines (the line being written counts as one).
        #[serde(default = "default_capture_lines")]
        lines: usize,
    },
    /// Block until a line matches. Reply: [`WaitReply`].
    WaitFor(WaitRequest),
    /// Stream every line that matches, until the connection closes. Replies: [`StreamLine`].
    Subscribe(SubscribeRequest),
    /// The rules in force. Reply: [`RulesReply`].
    Rules,
    /// Re-read the rules file. Reply: [`ReloadReply`].
    Reload,
    /// What the daemon is doing. Reply: [`StatusReply`].
    Status,
    /// Stop the daemon. Reply: `{"ok":true}`.
    Stop,
    /// Stream the event-log records as they are written. Replies: [`StreamLine`].
    Events,
}

fn default_capture_lines() -> usize {
    50
}

fn default_timeout_ms() -> u64 {
    DEFAULT_TIMEOUT_MS
}

impl Request {
    /// The request's `"cmd"` value (`wait_for`).
    pub fn cmd(&self) -> &'static str {
        match self {
            Request::Panes => "panes",
            Request::Spawn(_) => "spawn",
            Request::Close { .. } => "close",
            Request::Send(_) => "send",
            Request::Capture { .. } => "capture",
            Request::WaitFor(_) => "wait_for",
            Request::Subscribe(_) => "subscribe",
            Request::Rules => "rules",
            Request::Reload => "reload",
            Request::Status => "status",
            Request::Stop => "stop",
            Request::Events => "events",
        }
    }

    /// Whether a successful reply is followed by a stream of events.
    pub fn is_stream(&self) -> bool {
        matches!(self, Request::Subscribe(_) | Request::Events)
    }
}

/// Which way a pane is split off its neighbour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Split {
    /// Side by side (`tmux split-window -h`).
    #[serde(rename = "h")]
    Horizontal,
    /// Stacked (`tmux split-window -v`).
    #[serde(rename = "v")]
    Vertical,
}

/// Arguments of `spawn`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SpawnRequest {
    /// The new pane's label (unique within its session).
    pub label: String,
    /// Session to put it in (name or `$1`); `None`: the daemon's first session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// Metadata stored with the pane.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub meta: BTreeMap<String, Value>,
    /// The program and its arguments; empty runs the default shell.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// Run `command` joined by spaces through `sh -c` instead of executing it directly.
    #[serde(default)]
    pub shell: bool,
    /// Working directory (absolute: the daemon's own directory is not the client's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<PathBuf>,
    /// Split beside the pane with this label; `None`: a new window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub beside: Option<String>,
    /// Split direction when `beside` is set (default `v`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<Split>,
    /// Size of the new pane when split (`30%` or a number of cells).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
    /// Keep the pane after its program exits, so its exit status shows in `panes`.
    #[serde(default)]
    pub keep: bool,
    /// Replace a pane that already has this label instead of answering `conflict`.
    #[serde(default)]
    pub replace: bool,
}

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
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

/// Arguments of `wait_for`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitRequest {
    /// The pane's label.
    pub label: String,
    /// A regex matched against each line as a person saw it.
    pub pattern: String,
    /// Give up after this many milliseconds (`timeout` error).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Also look at the last `since` lines the pane already printed (0: only new lines).
    #[serde(default)]
    pub since: usize,
}

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
    /// Keep the rule after the subscriber disconnects (until the daemon stops or reloads).
    #[serde(default)]
    pub persist: bool,
}

/// A pane, as `panes`, `spawn` and `close` report it (`ctmuxd panes --json`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PaneView {
    /// tmux pane id (`%3`).
    pub id: String,
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

/// A rule in force (`rules`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleView {
    /// The rule's name (subscriptions get a generated one).
    pub name: String,
    /// Its regex.
    pub pattern: String,
    /// How many times it fired since the daemon started (or the last reload).
    pub matches: u64,
    /// True for rules added through `subscribe`, false for the rules file's.
    pub dynamic: bool,
}

/// What the daemon is doing (`status`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusView {
    /// The daemon's process id.
    pub pid: u32,
    /// The tmux server it serves, as a command (`tmux -L work`).
    pub tmux: String,
    /// That server's tmux release (`3.5a`), as `#{version}` reports it.
    pub tmux_version: String,
    /// Names of the sessions it watches.
    pub sessions: Vec<String>,
    /// Number of panes it watches.
    pub panes: usize,
    /// Number of rules in force (file and dynamic).
    pub rules: usize,
    /// Seconds since it started.
    pub uptime_s: u64,
    /// The event log file.
    pub events_path: PathBuf,
    /// How it gets pane output (`control`).
    pub mode: String,
    /// Event-log records that could not be written (disk full) since it started.
    #[serde(default)]
    pub events_lost: u64,
}

/// Body of the `panes` reply.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PanesReply {
    /// Every pane, ordered by id.
    pub panes: Vec<PaneView>,
}

/// Body of the `spawn` reply.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpawnReply {
    /// The new pane.
    pub pane: PaneView,
}

/// Body of the `close` reply.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CloseReply {
    /// The panes that were closed.
    pub closed: Vec<PaneView>,
}

/// Body of the `send` reply.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendReply {
    /// The line that matched `expect`; `null` when no `expect` was given.
    pub matched: Option<MatchView>,
}

/// Body of the `capture` reply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureReply {
    /// Oldest first; the last one may be a line still being written.
    pub lines: Vec<String>,
}

/// Body of the `wait_for` reply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitReply {
    /// The line that matched.
    #[serde(rename = "match")]
    pub matched: MatchView,
}

/// Body of the `rules` reply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RulesReply {
    /// File rules first, then dynamic ones.
    pub rules: Vec<RuleView>,
}

/// Body of the `reload` reply.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReloadReply {
    /// How many rules the new file has.
    pub rules: usize,
}

/// Body of the `status` reply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReply {
    /// The status.
    pub status: StatusView,
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

/// Parses one request line.
///
/// # Errors
/// [`ErrorCode::BadRequest`] with a message saying what is wrong: not JSON, not an object,
/// no `"cmd"`, an unknown `"cmd"` (listing the known ones), or a bad field of a known kind.
pub fn parse_request(line: &str) -> Result<Request, ApiError> {
    let value: Value = serde_json::from_str(line)
        .map_err(|e| ApiError::bad_request(format!("request is not JSON: {e}")))?;
    let Some(obj) = value.as_object() else {
        return Err(ApiError::bad_request("request must be a JSON object with a \"cmd\" field"));
    };
    let cmd = match obj.get("cmd") {
        Some(Value::String(c)) => c.clone(),
        Some(other) => {
            return Err(ApiError::bad_request(format!("\"cmd\" must be a string, not {other}")))
        }
        None => return Err(ApiError::bad_request("request has no \"cmd\" field")),
    };
    if !COMMANDS.contains(&cmd.as_str()) {
        return Err(ApiError::bad_request(format!(
            "unknown cmd {cmd:?}; known: {}",
            COMMANDS.join(", ")
        )));
    }
    let req: Request = serde_json::from_value(value)
        .map_err(|e| ApiError::bad_request(format!("bad {cmd} request: {e}")))?;
    if let Request::Spawn(SpawnRequest { cwd: Some(cwd), .. }) = &req {
        // The daemon's working directory is not the client's: a relative path would
        // silently run the pane somewhere else.
        if !cwd.is_absolute() {
            return Err(ApiError::bad_request(format!(
                "bad spawn request: cwd {:?} must be an absolute path",
                cwd.display().to_string()
            )));
        }
    }
    Ok(req)
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
    fn requests_parse_with_defaults() {
        assert_eq!(parse_request(r#"{"cmd":"panes"}"#).unwrap(), Request::Panes);
        let w = parse_request(r#"{"cmd":"wait_for","label":"db","pattern":"ready"}"#).unwrap();
        assert_eq!(
            w,
            Request::WaitFor(WaitRequest {
                label: "db".into(),
                pattern: "ready".into(),
                timeout_ms: DEFAULT_TIMEOUT_MS,
                since: 0
            })
        );
        assert_eq!(
            parse_request(r#"{"cmd":"capture","label":"x"}"#).unwrap(),
            Request::Capture { label: "x".into(), lines: 50 }
        );
        let s = parse_request(
            r#"{"cmd":"spawn","label":"b","command":["make"],"split":"h","beside":"a"}"#,
        )
        .unwrap();
        let Request::Spawn(s) = s else { panic!("not a spawn: {s:?}") };
        assert_eq!(s.split, Some(Split::Horizontal));
        assert_eq!(s.command, vec!["make"]);
    }

    #[test]
    fn every_command_round_trips() {
        let reqs = vec![
            Request::Panes,
            Request::Spawn(SpawnRequest { label: "a".into(), ..Default::default() }),
            Request::Close { labels: vec!["t-*".into()] },
            Request::Send(SendRequest {
                label: "a".into(),
                text: "x\n".into(),
                enter: true,
                expect: Some("\\$ $".into()),
                timeout_ms: 5,
            }),
            Request::Capture { label: "a".into(), lines: 3 },
            Request::WaitFor(WaitRequest {
                label: "a".into(),
                pattern: "p".into(),
                timeout_ms: 1,
                since: 2,
            }),
            Request::Subscribe(SubscribeRequest {
                label: "*".into(),
                pattern: "p".into(),
                exec: Some(vec!["true".into()]),
                persist: true,
            }),
            Request::Rules,
            Request::Reload,
            Request::Status,
            Request::Stop,
            Request::Events,
        ];
        assert_eq!(reqs.len(), COMMANDS.len());
        for (r, name) in reqs.iter().zip(COMMANDS) {
            let text = serde_json::to_string(r).unwrap();
            assert_eq!(r.cmd(), *name);
            assert!(text.contains(&format!("\"cmd\":\"{name}\"")), "{text}");
            assert_eq!(&parse_request(&text).unwrap(), r);
        }
    }

    #[test]
    fn bad_requests_say_what_is_wrong() {
        let e = parse_request("hello").unwrap_err();
        assert_eq!(e.code, ErrorCode::BadRequest);
        assert!(e.message.starts_with("request is not JSON"), "{e}");
        assert!(parse_request("[1]").unwrap_err().message.contains("JSON object"));
        assert!(parse_request(r#"{"label":"x"}"#).unwrap_err().message.contains("no \"cmd\""));
        assert!(parse_request(r#"{"cmd":7}"#).unwrap_err().message.contains("must be a string"));
        let e = parse_request(r#"{"cmd":"explode"}"#).unwrap_err();
        assert!(
            e.message.contains("unknown cmd \"explode\"") && e.message.contains("wait_for"),
            "{e}"
        );
        let e = parse_request(r#"{"cmd":"wait_for","label":"x"}"#).unwrap_err();
        assert!(e.message.contains("bad wait_for request") && e.message.contains("pattern"), "{e}");
    }

    #[test]
    fn reply_lines() {
        let line = ok_line(&WaitReply {
            matched: MatchView {
                pane: "%1".into(),
                label: Some("db".into()),
                line: "ok".into(),
                ..Default::default()
            },
        })
        .unwrap();
        let text = std::str::from_utf8(&line).unwrap();
        assert!(text.starts_with(r#"{"ok":true,"match":{"pane":"%1""#), "{text}");
        assert!(text.ends_with('\n'));
        let back: WaitReply = parse_reply(text.trim_end()).unwrap();
        assert_eq!(back.matched.line, "ok");
        assert_eq!(ok_line(&Empty {}).unwrap(), b"{\"ok\":true}\n");

        let err = ApiError::not_found("no pane labelled `x`; labels in use: a, b");
        let text = String::from_utf8(error_line(&err)).unwrap();
        assert_eq!(
            text,
            "{\"ok\":false,\"error\":{\"code\":\"not_found\",\"message\":\"no pane labelled `x`; labels in use: a, b\"}}\n"
        );
        assert_eq!(parse_reply::<Empty>(text.trim_end()).unwrap_err(), err);
        assert_eq!(parse_reply::<Empty>("{}").unwrap_err().code, ErrorCode::Internal);
        assert_eq!(
            parse_reply::<PanesReply>("{\"ok\":true}").unwrap_err().code,
            ErrorCode::Internal
        );

        assert_eq!(stream_line(&StreamLine::Lagged(3)), b"{\"lagged\":3}\n");
        assert_eq!(
            stream_line(&StreamLine::Event(serde_json::json!({"a":1}))),
            b"{\"event\":{\"a\":1}}\n"
        );
    }

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

    /// Every example in docs/api.md is valid: requests parse, replies are replies or stream lines.
    #[test]
    fn documented_examples_parse() {
        let doc = include_str!("../../docs/api.md");
        let (mut requests, mut replies) = (std::collections::BTreeSet::new(), 0);
        // A request the server refuses: the next reply must be exactly that refusal.
        let mut refused: Option<ApiError> = None;
        for l in doc.lines() {
            if let Some(req) = l.strip_prefix("→ ") {
                match parse_request(req) {
                    Ok(r) => {
                        requests.insert(r.cmd());
                    }
                    Err(e) => refused = Some(e),
                }
            } else if let Some(rep) = l.strip_prefix("← ") {
                let v: Value = serde_json::from_str(rep)
                    .unwrap_or_else(|e| panic!("docs/api.md reply {rep}: {e}"));
                assert!(
                    v.get("ok").is_some() || v.get("event").is_some() || v.get("lagged").is_some(),
                    "{rep}"
                );
                if let Some(e) = refused.take() {
                    assert_eq!(
                        format!("{rep}\n").as_bytes(),
                        error_line(&e),
                        "documented refusal differs"
                    );
                }
                replies += 1;
            }
        }
        assert!(refused.is_none());
        assert_eq!(requests.len(), COMMANDS.len(), "every kind is documented: {requests:?}");
        assert!(replies >= COMMANDS.len());
    }
}
