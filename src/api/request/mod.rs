//! Every API request, one module each, registered once in the `api_requests!` list.
//!
//! A request's module holds all of it: its wire type (the JSON object with its `"cmd"`),
//! its reply body, its validation and time bound ([`ApiRequest`]), its `ctmuxd`
//! subcommand (clap arguments, the request they make, how the reply prints and the exit
//! status: [`CliRequest`]). The list below registers each request in one line; every
//! per-request `match` is generated from it, each exhaustive (no wildcard arm):
//!
//! - here: the modules, [`Request`] (the parsed wire request), [`COMMANDS`],
//!   [`Request::cmd`] and the other per-request questions the server and client ask;
//! - [`super::backend`]: the [`super::Backend`] trait, one method per request (named after
//!   its module), which the daemon implements;
//! - [`super::server`]: the dispatch from a [`Request`] to its backend method;
//! - [`super::cli`]: the `ApiCommand` subcommands and their dispatch.
//!
//! Adding a request is therefore one module here, one line in the list, its
//! `Backend` method's implementation in `src/answers.rs` (and in the server tests' fake),
//! which the compiler asks for, and its section in `docs/api.md`.

use std::future::Future;
use std::io::{self, Write};
use std::pin::Pin;
use std::process::ExitCode;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::client::{Client, ClientError, EventStream};
use super::protocol::{
    format_ms, ok_line, ApiError, Empty, MatchView, StreamLine, DEFAULT_TIMEOUT_MS, REQUEST_TIMEOUT,
};
use crate::tmux::TmuxTarget;

/// Registers the API requests: `Variant(RequestType) in module;`, one line per request,
/// in documentation order (the order [`COMMANDS`] and error messages list them). The doc
/// comment says what the request does; it documents the [`Request`] variant and the
/// `Backend` method. Hands the list to `$callback`, a macro of the module that generates
/// its own per-request piece (see the module docs).
macro_rules! api_requests {
    ($callback:ident) => {
        $callback! {
            /// Every pane of the server.
            Panes(PanesRequest) in panes;
            /// Start a labelled pane.
            Spawn(SpawnRequest) in spawn;
            /// Kill the panes whose labels match.
            Close(CloseRequest) in close;
            /// Give an existing pane a label and metadata.
            Label(LabelRequest) in label;
            /// Type text into a pane, optionally waiting for a line.
            Send(SendRequest) in send;
            /// The last lines of a pane as a person saw them.
            Capture(CaptureRequest) in capture;
            /// The lines a pane printed after a cursor.
            Read(ReadRequest) in read;
            /// Block until a line matches.
            WaitFor(WaitRequest) in wait_for;
            /// Run a command in a shell pane with integration; its status and output.
            Run(RunRequest) in run;
            /// Stream every line that matches, until the connection closes.
            Subscribe(SubscribeRequest) in subscribe;
            /// The rules in force.
            Rules(RulesRequest) in rules;
            /// Re-read the rules file.
            Reload(ReloadRequest) in reload;
            /// What the daemon is doing.
            Status(StatusRequest) in status;
            /// Stop the daemon.
            Stop(StopRequest) in stop;
            /// Stream the event-log records as they are written.
            Events(EventsRequest) in events;
        }
    };
}
pub(crate) use api_requests;

/// Generates, from the `api_requests!` list, the request modules and [`Request`].
macro_rules! requests {
    ($( $(#[$doc:meta])* $variant:ident($req:ident) in $module:ident; )*) => {
        $( pub mod $module; pub use $module::*; )*

        /// Every request kind's `"cmd"` value, in documentation order (used in error messages).
        pub const COMMANDS: &[&str] = &[$( <$req as ApiRequest>::CMD ),*];

        /// One request: the `"cmd"` field picks the variant, the other fields are its
        /// arguments. The serde name of each variant is its type's [`ApiRequest::CMD`]
        /// (checked by a test).
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "cmd", rename_all = "snake_case")]
        pub enum Request {
            $( $(#[$doc])* $variant($req), )*
        }

        $(
            impl From<$req> for Request {
                fn from(r: $req) -> Request {
                    Request::$variant(r)
                }
            }
        )*

        impl Request {
            /// The request's `"cmd"` value (`wait_for`).
            pub fn cmd(&self) -> &'static str {
                match self { $( Request::$variant(_) => <$req as ApiRequest>::CMD, )* }
            }

            /// Whether a successful reply is followed by a stream of events.
            pub fn is_stream(&self) -> bool {
                match self {
                    $( Request::$variant(_) => <<$req as ApiRequest>::Answer as Answer>::STREAM, )*
                }
            }

            /// Whether it is served on a connection reserved for when all others are
            /// taken ([`ApiRequest::RESERVED`]).
            pub fn is_reserved(&self) -> bool {
                match self { $( Request::$variant(_) => <$req as ApiRequest>::RESERVED, )* }
            }

            /// How long it may take ([`ApiRequest::timeout_ms`]).
            pub fn timeout_ms(&self) -> u64 {
                match self { $( Request::$variant(r) => r.timeout_ms(), )* }
            }

            /// Its own checks beyond the JSON shape ([`ApiRequest::validate`]).
            fn validate(&self) -> Result<(), String> {
                match self { $( Request::$variant(r) => r.validate(), )* }
            }
        }
    };
}

api_requests!(requests);

/// One API request kind: its wire type implements this (and serde), and its module
/// registers it in the `api_requests!` list.
pub trait ApiRequest: Serialize + DeserializeOwned + Into<Request> + Send + 'static {
    /// The `"cmd"` value naming it on the wire (`wait_for`).
    const CMD: &'static str;
    /// Served on the connections reserved for when all others are taken (`status`,
    /// `stop`); the CLI retries it while the daemon answers `busy`.
    const RESERVED: bool = false;
    /// What the daemon's `Backend` method answers: the reply body ([`Reply`]), or a stream.
    type Answer: Answer;

    /// Checks beyond the JSON shape; the message follows `bad <cmd> request: `.
    ///
    /// # Errors
    /// What is wrong with the request.
    fn validate(&self) -> Result<(), String> {
        Ok(())
    }

    /// How long it may take, in milliseconds: the server answers `timeout` after that
    /// (streams: only their start is awaited, unbounded), the client waits that plus a margin.
    fn timeout_ms(&self) -> u64 {
        REQUEST_TIMEOUT.as_millis() as u64
    }

    /// The message of the `timeout` error after `ms` milliseconds.
    fn timeout_message(&self, ms: u64) -> String {
        format!("the daemon did not answer {} within {}", Self::CMD, format_ms(ms))
    }
}

/// A reply body: the fields of `{"ok":true, ...}` for a request answered in one line.
/// Every `Reply` is an [`Answer`] written as that one line.
pub trait Reply: Serialize + DeserializeOwned + Send + 'static {}

impl Reply for Empty {}

/// What a `Backend` method answers, and how the server writes it.
pub trait Answer: Send + 'static {
    /// The body of the first reply line, as the client reads it.
    type Reply: Serialize + DeserializeOwned;
    /// Whether event lines follow that first line.
    const STREAM: bool;
    /// What the server writes for it.
    ///
    /// # Errors
    /// The body does not serialize to a JSON object (a programming error).
    fn into_outcome(self) -> Result<Outcome, ApiError>;
}

impl<T: Reply> Answer for T {
    type Reply = T;
    const STREAM: bool = false;
    fn into_outcome(self) -> Result<Outcome, ApiError> {
        ok_line(&self).map(Outcome::Reply)
    }
}

/// What the server writes for a successful request.
pub enum Outcome {
    /// One reply line.
    Reply(Vec<u8>),
    /// The acknowledgement line (`{"ok":true,"streaming":true}`), then the stream's lines
    /// until the client closes the connection or the source ends.
    Stream(Box<dyn EventSource>),
}

/// The source of a stream's lines (`subscribe`, `events`). Dropping it ends the stream
/// (a subscription's rule is removed then).
pub trait EventSource: Send {
    /// The next line to send; `None` when the source closed.
    fn next_line(&mut self) -> Pin<Box<dyn Future<Output = Option<StreamLine>> + Send + '_>>;
}

/// Parses one request line.
///
/// # Errors
/// [`super::ErrorCode::BadRequest`] with a message saying what is wrong: not JSON, not an
/// object, no `"cmd"`, an unknown `"cmd"` (listing the known ones), or a bad field of a
/// known kind.
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
    req.validate().map_err(|e| ApiError::bad_request(format!("bad {cmd} request: {e}")))?;
    Ok(req)
}

/// The `ctmuxd` subcommand of a request: its arguments, the request they make, how the
/// reply prints and the exit status. `api::cli` generates the subcommands from the list.
pub trait CliRequest: ApiRequest {
    /// The subcommand's name (`wait-for`), also the prefix of its error messages.
    const NAME: &'static str;
    /// One line of `--help` (and of `ctmuxd --help`'s list), without a final period.
    const ABOUT: &'static str;
    /// The examples after `--help`'s options.
    const EXAMPLES: &'static str;
    /// The subcommand's arguments besides the server selection (`-L`/`-S`).
    type Args: clap::Args + std::fmt::Debug;

    /// The request `args` make.
    ///
    /// # Errors
    /// Bad input caught before asking the daemon (printed, exit status 2).
    fn from_args(args: &Self::Args) -> Result<Self, String>;

    /// Prints the reply (for a stream: follows it) and returns the exit status.
    fn show(
        reply: <Self::Answer as Answer>::Reply,
        args: Self::Args,
        daemon: Daemon,
        out: &mut dyn Write,
    ) -> impl Future<Output = Result<ExitCode, Failure>>;
}

/// The daemon a subcommand talked to, for the requests whose output needs more than the
/// reply (`stop` waits for the process, streams read on).
#[derive(Debug)]
pub struct Daemon {
    /// The connection the reply came on.
    pub client: Client,
    /// The tmux server it serves.
    pub target: TmuxTarget,
    /// Its process id, from the first connection's peer credentials.
    pub pid: Option<u32>,
}

/// Why a subcommand did not succeed.
#[derive(Debug)]
pub enum Failure {
    /// The daemon or the connection (message printed, status from its code).
    Client(ClientError),
    /// Bad input caught before asking the daemon (status 2).
    Usage(String),
    /// Writing our own output failed.
    Output(io::Error),
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Failure {
        Failure::Client(e)
    }
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Failure {
        Failure::Output(e)
    }
}

/// The arguments of a subcommand that has none besides the server selection.
#[derive(Debug, clap::Args)]
pub struct NoArgs {}

/// The arguments of a subcommand whose only option is `--json`.
#[derive(Debug, clap::Args)]
pub struct JsonArgs {
    /// Print the reply as JSON (the schema in docs/api.md).
    #[arg(long)]
    pub json: bool,
}

/// Writes `v` as one JSON line.
fn json_line<T: Serialize>(out: &mut dyn Write, v: &T) -> io::Result<()> {
    serde_json::to_writer(&mut *out, v)?;
    out.write_all(b"\n")
}

/// A matched line: the line, or with `json` the match with its captures.
fn print_match(out: &mut dyn Write, m: &MatchView, json: bool) -> io::Result<()> {
    if json {
        json_line(out, m)
    } else {
        writeln!(out, "{}", m.line)
    }
}

/// Lays out rows in columns two spaces apart; the last column is not padded.
fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0; cols];
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            out.push_str(c);
            if i + 1 < r.len() {
                out.extend(std::iter::repeat_n(' ', widths[i] - c.chars().count() + 2));
            }
        }
        out.push('\n');
    }
    out
}

/// Prints a stream's events as JSON lines until Ctrl-C (exit 0) or the daemon ends it (exit 1).
async fn follow(mut stream: EventStream, out: &mut dyn Write) -> Result<ExitCode, Failure> {
    loop {
        let next = tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(ExitCode::SUCCESS),
            n = stream.next() => n?,
        };
        match next {
            Some(StreamLine::Event(v)) => {
                json_line(out, &v)?;
                // Flushed per line: the reader is usually another program waiting for it.
                out.flush()?;
            }
            Some(StreamLine::Lagged(n)) => {
                eprintln!("ctmuxd: {n} event(s) dropped because this reader was too slow")
            }
            None => {
                eprintln!(
                    "ctmuxd: the daemon ended the stream (it stopped, or the watched pane is gone)"
                );
                return Ok(ExitCode::from(1));
            }
        }
    }
}

/// The `timeout_ms` of `send` and `wait_for` when the request does not say.
fn default_timeout_ms() -> u64 {
    DEFAULT_TIMEOUT_MS
}

/// `s` as a millisecond count for the wire (saturating).
fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// `--timeout 30s` → a duration, with the rules file's syntax.
fn parse_timeout(s: &str) -> Result<std::time::Duration, String> {
    crate::rules::parse_duration(s).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests;
