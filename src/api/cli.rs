//! The client subcommands (`ctmuxd panes`, `spawn`, `close`, `send`, `capture`, `wait-for`,
//! `subscribe`, `rules`, `reload`, `status`, `stop`, `events`): clap definitions, the
//! request each one sends, how its reply is printed, and its exit status.
//!
//! The top-level parser (`crate::cli`) flattens [`ApiCommand`] into its own subcommands and
//! calls [`run`]. Exit statuses are decided here, in [`exit_code`]: 0 ok, 1 not found, timed
//! out or the daemon failed, 2 bad usage or bad input. Every message is printed here too, so
//! `run` only returns `Err` when writing to stdout fails.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use serde::Serialize;
use serde_json::Value;

use super::client::{Client, ClientError};
use super::protocol::{
    CaptureReply, CloseReply, Empty, ErrorCode, MatchView, PaneView, PanesReply, ReloadReply,
    RuleView, RulesReply, SendReply, SendRequest, SpawnReply, SpawnRequest, Split, StatusReply,
    StatusView, StreamLine, SubscribeRequest, WaitReply, WaitRequest,
};
use super::server::REQUEST_TIMEOUT;
use super::Request;
use crate::rules::parse_duration;
use crate::tmux::TmuxTarget;

/// Extra time the client gives the daemon beyond a request's own timeout before it stops
/// waiting for the reply (the daemon enforces the timeout; this covers a daemon that hangs).
const REPLY_MARGIN: Duration = Duration::from_secs(10);

/// How long `ctmuxd stop` waits for the daemon process to exit after it agreed to stop:
/// the daemon gives running actions 5 s, so this is that and a margin.
const STOP_WAIT: Duration = Duration::from_secs(10);

/// Which tmux server, as `tmux -L`/`-S` choose it.
///
/// Shared by every client subcommand here and by the daemon's own flags
/// (`crate::cli::DaemonArgs`); it lives here, below `crate::cli`, so that the two
/// command-line modules do not use each other.
#[derive(Debug, Args, Clone, Default)]
pub struct ServerArgs {
    /// tmux socket name (`tmux -L NAME`).
    #[arg(short = 'L', value_name = "SOCKET-NAME", conflicts_with = "socket_path")]
    pub socket_name: Option<String>,
    /// tmux socket path (`tmux -S PATH`).
    #[arg(short = 'S', value_name = "SOCKET-PATH")]
    pub socket_path: Option<PathBuf>,
}

impl ServerArgs {
    /// The server these flags select.
    pub fn target(&self) -> TmuxTarget {
        match (&self.socket_name, &self.socket_path) {
            (Some(n), _) => TmuxTarget::Name(n.clone()),
            (_, Some(p)) => TmuxTarget::Path(p.clone()),
            _ => TmuxTarget::Default,
        }
    }
}

/// The subcommands that talk to a running daemon.
#[derive(Debug, Subcommand)]
pub enum ApiCommand {
    /// List every pane: id, label, metadata, session, window, command, pid, size, state, last line.
    #[command(
        after_help = "Examples:\n  ctmuxd panes -L work\n  ctmuxd panes --json | jq '.[] | select(.alive) | .label'"
    )]
    Panes(PanesArgs),
    /// Start a labelled pane running a command (default: a shell).
    #[command(after_help = "Examples:\n  \
        ctmuxd spawn --label db --meta role=database -- postgres -D ./data\n  \
        ctmuxd spawn --label tests --beside db --split h --size 40% --shell -- 'make test 2>&1 | tee log'")]
    Spawn(SpawnArgs),
    /// Close the panes with these labels (globs allowed).
    #[command(after_help = "Example:\n  ctmuxd close db 'test-*'")]
    Close(CloseArgs),
    /// Type text into a pane, optionally pressing Enter and waiting for a line.
    #[command(
        after_help = "Example:\n  ctmuxd send db --enter --expect '^\\(1 row\\)' --timeout 10s -- 'SELECT 1;'"
    )]
    Send(SendArgs),
    /// Print a pane's last lines as a person saw them.
    #[command(after_help = "Example:\n  ctmuxd capture build --lines 20")]
    Capture(CaptureArgs),
    /// Block until a line matching a regex appears in a pane; print it.
    #[command(after_help = "Examples:\n  \
        ctmuxd wait-for db --pattern 'ready to accept connections' --timeout 1m\n  \
        ctmuxd wait-for build --pattern 'Finished .* in (?P<secs>[0-9.]+)s' --since 50 --json")]
    WaitFor(WaitForArgs),
    /// Print every line matching a regex as JSON lines until interrupted.
    #[command(after_help = "Examples:\n  \
        ctmuxd subscribe 'test-*' --pattern 'FAILED|panicked'\n  \
        ctmuxd subscribe build --pattern 'error\\[E[0-9]+\\]' --persist --exec notify-send 'build error'")]
    Subscribe(SubscribeArgs),
    /// List the rules in force with their match counts.
    #[command(after_help = "Example:\n  ctmuxd rules --json")]
    Rules(JsonArgs),
    /// Re-read the rules file (the old rules stay if the new file is bad).
    #[command(after_help = "Example:\n  ctmuxd reload -L work")]
    Reload(ServerOnly),
    /// Show what the daemon is doing.
    #[command(after_help = "Example:\n  ctmuxd status -L work")]
    Status(JsonArgs),
    /// Stop the daemon.
    #[command(after_help = "Example:\n  ctmuxd stop -L work")]
    Stop(ServerOnly),
    /// Print the daemon's event-log records live, as JSON lines, until interrupted.
    #[command(after_help = "Example:\n  ctmuxd events | jq 'select(.event == \"match\")'")]
    Events(ServerOnly),
}

/// Only the server selection.
#[derive(Debug, Args)]
pub struct ServerOnly {
    /// Which tmux server's daemon.
    #[command(flatten)]
    pub server: ServerArgs,
}

/// The server selection and `--json`.
#[derive(Debug, Args)]
pub struct JsonArgs {
    /// Which tmux server's daemon.
    #[command(flatten)]
    pub server: ServerArgs,
    /// Print the reply as JSON (the schema in docs/api.md).
    #[arg(long)]
    pub json: bool,
}

/// `ctmuxd panes`.
pub type PanesArgs = JsonArgs;

/// `ctmuxd spawn`.
#[derive(Debug, Args)]
pub struct SpawnArgs {
    /// Which tmux server's daemon.
    #[command(flatten)]
    pub server: ServerArgs,
    /// The new pane's label.
    #[arg(long, value_name = "LABEL")]
    pub label: String,
    /// Metadata stored with the pane; repeatable.
    #[arg(long, value_name = "KEY=VALUE", value_parser = parse_meta)]
    pub meta: Vec<(String, String)>,
    /// Split beside the pane with this label (default: a new window).
    #[arg(long, value_name = "LABEL", conflicts_with = "window")]
    pub beside: Option<String>,
    /// Split direction: h (side by side) or v (stacked).
    #[arg(long, value_name = "h|v", value_parser = parse_split, requires = "beside")]
    pub split: Option<Split>,
    /// Size of the split: `30%` or a number of cells.
    #[arg(long, value_name = "SIZE", requires = "beside")]
    pub size: Option<String>,
    /// Put the pane in a new window (the default).
    #[arg(long)]
    pub window: bool,
    /// Session for the new window (default: the daemon's first session).
    #[arg(long, value_name = "SESSION")]
    pub session: Option<String>,
    /// Working directory of the command.
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,
    /// Run CMD through `sh -c` (its words joined by spaces).
    #[arg(long, requires = "command")]
    pub shell: bool,
    /// Keep the pane after the command exits, so `panes` shows its exit status.
    #[arg(long)]
    pub keep: bool,
    /// Replace a pane that already has this label.
    #[arg(long)]
    pub replace: bool,
    /// Print the new pane as JSON.
    #[arg(long)]
    pub json: bool,
    /// The command and its arguments, after `--`.
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

/// `ctmuxd close`.
#[derive(Debug, Args)]
pub struct CloseArgs {
    /// Which tmux server's daemon.
    #[command(flatten)]
    pub server: ServerArgs,
    /// Labels or globs (`test-*`).
    #[arg(required = true, value_name = "LABEL")]
    pub labels: Vec<String>,
    /// Print the closed panes as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `ctmuxd send`.
#[derive(Debug, Args)]
pub struct SendArgs {
    /// Which tmux server's daemon.
    #[command(flatten)]
    pub server: ServerArgs,
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

/// `ctmuxd capture`.
#[derive(Debug, Args)]
pub struct CaptureArgs {
    /// Which tmux server's daemon.
    #[command(flatten)]
    pub server: ServerArgs,
    /// The pane's label.
    pub label: String,
    /// How many lines.
    #[arg(long, short = 'n', default_value_t = 50)]
    pub lines: usize,
}

/// `ctmuxd wait-for`.
#[derive(Debug, Args)]
pub struct WaitForArgs {
    /// Which tmux server's daemon.
    #[command(flatten)]
    pub server: ServerArgs,
    /// The pane's label.
    pub label: String,
    /// The regex a line must match.
    #[arg(long, short = 'p', value_name = "RE")]
    pub pattern: String,
    /// Give up after this long (exit status 1).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_timeout)]
    pub timeout: Duration,
    /// Also look at the last N lines already printed.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub since: usize,
    /// Print the match with its capture groups as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `ctmuxd subscribe`.
#[derive(Debug, Args)]
pub struct SubscribeArgs {
    /// Which tmux server's daemon.
    #[command(flatten)]
    pub server: ServerArgs,
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

impl ApiCommand {
    /// The `-L`/`-S` given after the subcommand.
    pub fn server(&self) -> &ServerArgs {
        match self {
            ApiCommand::Panes(a) | ApiCommand::Rules(a) | ApiCommand::Status(a) => &a.server,
            ApiCommand::Spawn(a) => &a.server,
            ApiCommand::Close(a) => &a.server,
            ApiCommand::Send(a) => &a.server,
            ApiCommand::Capture(a) => &a.server,
            ApiCommand::WaitFor(a) => &a.server,
            ApiCommand::Subscribe(a) => &a.server,
            ApiCommand::Reload(a) | ApiCommand::Stop(a) | ApiCommand::Events(a) => &a.server,
        }
    }
}

/// `--meta k=v` → `(k, v)`.
fn parse_meta(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, e.g. role=database, not {s:?}")),
    }
}

fn parse_split(s: &str) -> Result<Split, String> {
    match s {
        "h" => Ok(Split::Horizontal),
        "v" => Ok(Split::Vertical),
        _ => Err(format!("expected h (side by side) or v (stacked), not {s:?}")),
    }
}

fn parse_timeout(s: &str) -> Result<Duration, String> {
    parse_duration(s).map_err(|e| e.to_string())
}

/// The exit status for a failure of `code`: 1 for not found, timed out and daemon-side
/// failures; 2 for the caller's input (bad request, label conflict).
pub fn exit_code(code: ErrorCode) -> ExitCode {
    match code {
        ErrorCode::BadRequest | ErrorCode::Conflict => ExitCode::from(2),
        ErrorCode::NotFound
        | ErrorCode::Timeout
        | ErrorCode::Tmux
        | ErrorCode::Forbidden
        | ErrorCode::Busy
        | ErrorCode::Internal => ExitCode::from(1),
    }
}

/// Why a subcommand did not succeed.
enum Failure {
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

/// Runs one subcommand against the daemon serving the selected tmux server: the `-L`/`-S`
/// given after the subcommand, else `server` (the top-level ones).
///
/// # Errors
/// Only when writing to stdout fails (other than a closed pipe); every other failure is
/// printed to stderr and turned into the exit status.
pub async fn run(cmd: ApiCommand, server: &ServerArgs) -> anyhow::Result<ExitCode> {
    let own = cmd.server();
    let server = if own.socket_name.is_some() || own.socket_path.is_some() {
        own.clone()
    } else {
        server.clone()
    };
    let name = command_name(&cmd);
    match execute(cmd, &server).await {
        Ok(code) => Ok(code),
        Err(Failure::Client(e)) => {
            eprintln!("ctmuxd {name}: {e}");
            Ok(exit_code(e.code()))
        }
        Err(Failure::Usage(msg)) => {
            eprintln!("ctmuxd {name}: {msg}");
            Ok(ExitCode::from(2))
        }
        Err(Failure::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(Failure::Output(e)) => Err(anyhow::Error::new(e).context("writing to stdout")),
    }
}

fn command_name(cmd: &ApiCommand) -> &'static str {
    match cmd {
        ApiCommand::Panes(_) => "panes",
        ApiCommand::Spawn(_) => "spawn",
        ApiCommand::Close(_) => "close",
        ApiCommand::Send(_) => "send",
        ApiCommand::Capture(_) => "capture",
        ApiCommand::WaitFor(_) => "wait-for",
        ApiCommand::Subscribe(_) => "subscribe",
        ApiCommand::Rules(_) => "rules",
        ApiCommand::Reload(_) => "reload",
        ApiCommand::Status(_) => "status",
        ApiCommand::Stop(_) => "stop",
        ApiCommand::Events(_) => "events",
    }
}

/// The request a subcommand sends (pure, so it can be tested without a daemon).
fn request(cmd: &ApiCommand) -> Result<Request, Failure> {
    Ok(match cmd {
        ApiCommand::Panes(_) => Request::Panes,
        ApiCommand::Spawn(a) => {
            let cwd = match &a.cwd {
                // The daemon runs elsewhere: a relative directory means ours.
                Some(d) => Some(
                    std::path::absolute(d)
                        .map_err(|e| Failure::Usage(format!("--cwd {}: {e}", d.display())))?,
                ),
                None => None,
            };
            Request::Spawn(SpawnRequest {
                label: a.label.clone(),
                session: a.session.clone(),
                meta: a
                    .meta
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect::<BTreeMap<_, _>>(),
                command: a.command.clone(),
                shell: a.shell,
                cwd,
                beside: a.beside.clone(),
                split: a.beside.as_ref().map(|_| a.split.unwrap_or(Split::Vertical)),
                size: a.size.clone(),
                keep: a.keep,
                replace: a.replace,
            })
        }
        ApiCommand::Close(a) => Request::Close { labels: a.labels.clone() },
        ApiCommand::Send(a) => {
            if a.text.is_empty() && !a.enter {
                return Err(Failure::Usage(
                    "nothing to send: give TEXT after `--`, or --enter".into(),
                ));
            }
            Request::Send(SendRequest {
                label: a.label.clone(),
                text: a.text.join(" "),
                enter: a.enter,
                expect: a.expect.clone(),
                timeout_ms: millis(a.timeout),
            })
        }
        ApiCommand::Capture(a) => Request::Capture { label: a.label.clone(), lines: a.lines },
        ApiCommand::WaitFor(a) => Request::WaitFor(WaitRequest {
            label: a.label.clone(),
            pattern: a.pattern.clone(),
            timeout_ms: millis(a.timeout),
            since: a.since,
        }),
        ApiCommand::Subscribe(a) => Request::Subscribe(SubscribeRequest {
            label: a.label.clone(),
            pattern: a.pattern.clone(),
            exec: a.exec.clone(),
            persist: a.persist,
        }),
        ApiCommand::Rules(_) => Request::Rules,
        ApiCommand::Reload(_) => Request::Reload,
        ApiCommand::Status(_) => Request::Status,
        ApiCommand::Stop(_) => Request::Stop,
        ApiCommand::Events(_) => Request::Events,
    })
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// How long `status` and `stop` keep trying while the daemon answers `busy`.
const BUSY_RETRY: Duration = Duration::from_secs(5);

/// Calls `req` (`status` or `stop`) on `client`; while the daemon answers `busy` (all its
/// connections, the ones reserved for these two included, are taken), connects again
/// after a short, growing pause, for up to [`BUSY_RETRY`].
async fn call_patiently<T: serde::de::DeserializeOwned>(
    mut client: Client,
    target: &TmuxTarget,
    req: &Request,
    within: Duration,
) -> Result<T, ClientError> {
    let deadline = std::time::Instant::now() + BUSY_RETRY;
    let mut pause = Duration::from_millis(10);
    loop {
        match client.call(req, within).await {
            Err(ClientError::Api(e))
                if e.code == ErrorCode::Busy && std::time::Instant::now() < deadline => {}
            r => return r,
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(200));
        client = Client::connect(target).await?;
    }
}

/// How long the client waits for the reply to `req`.
fn reply_deadline(req: &Request) -> Duration {
    let own = match req {
        Request::WaitFor(w) => Duration::from_millis(w.timeout_ms),
        Request::Send(s) => Duration::from_millis(s.timeout_ms),
        _ => REQUEST_TIMEOUT,
    };
    own.saturating_add(REPLY_MARGIN)
}

async fn execute(cmd: ApiCommand, server: &ServerArgs) -> Result<ExitCode, Failure> {
    let req = request(&cmd)?;
    let target = server.target();
    let mut client = Client::connect(&target).await?;
    let within = reply_deadline(&req);
    if req.is_stream() {
        return follow(client.stream(&req, within).await?).await;
    }
    let mut out = io::stdout().lock();
    match cmd {
        ApiCommand::Panes(a) => {
            let PanesReply { panes } = client.call(&req, within).await?;
            if a.json {
                json_line(&mut out, &panes)?;
            } else {
                out.write_all(panes_table(&panes).as_bytes())?;
            }
        }
        ApiCommand::Spawn(a) => {
            let SpawnReply { pane } = client.call(&req, within).await?;
            if a.json {
                json_line(&mut out, &pane)?;
            } else {
                writeln!(
                    out,
                    "{} {} in {} {}",
                    pane.id,
                    pane.label.as_deref().unwrap_or("-"),
                    pane.session,
                    pane.window
                )?;
            }
        }
        ApiCommand::Close(a) => {
            let CloseReply { closed } = client.call(&req, within).await?;
            if a.json {
                json_line(&mut out, &closed)?;
            } else {
                for p in &closed {
                    writeln!(out, "closed {} {}", p.id, p.label.as_deref().unwrap_or("-"))?;
                }
            }
        }
        ApiCommand::Send(a) => {
            let SendReply { matched } = client.call(&req, within).await?;
            if let Some(m) = matched {
                print_match(&mut out, &m, a.json)?;
            }
        }
        ApiCommand::Capture(_) => {
            let CaptureReply { lines } = client.call(&req, within).await?;
            for l in &lines {
                writeln!(out, "{l}")?;
            }
        }
        ApiCommand::WaitFor(a) => {
            let WaitReply { matched } = client.call(&req, within).await?;
            print_match(&mut out, &matched, a.json)?;
        }
        ApiCommand::Rules(a) => {
            let RulesReply { rules } = client.call(&req, within).await?;
            if a.json {
                json_line(&mut out, &rules)?;
            } else {
                out.write_all(rules_table(&rules).as_bytes())?;
            }
        }
        ApiCommand::Reload(_) => {
            let ReloadReply { rules } = client.call(&req, within).await?;
            writeln!(out, "reloaded: {rules} rule(s)")?;
        }
        ApiCommand::Status(a) => {
            let StatusReply { status } = call_patiently(client, &target, &req, within).await?;
            if a.json {
                json_line(&mut out, &status)?;
            } else {
                out.write_all(status_text(&status).as_bytes())?;
            }
        }
        ApiCommand::Stop(_) => {
            // The daemon's pid, from this connection; a retry on `busy` reaches the same one.
            let pid = client.peer_pid();
            let Empty {} = call_patiently(client, &target, &req, within).await?;
            match pid {
                Some(pid) if super::client::wait_gone(pid, STOP_WAIT).await => {
                    writeln!(out, "stopped the daemon for {} (pid {pid})", target.describe())?;
                }
                Some(pid) => {
                    out.flush()?;
                    eprintln!(
                        "ctmuxd: the daemon for {} (pid {pid}) was asked to stop but is still running after {} s",
                        target.describe(),
                        STOP_WAIT.as_secs()
                    );
                    return Ok(ExitCode::from(1));
                }
                None => writeln!(
                    out,
                    "stopping the daemon for {} (its pid is unknown: not waiting for it to exit)",
                    target.describe()
                )?,
            }
        }
        ApiCommand::Subscribe(_) | ApiCommand::Events(_) => {
            return Err(Failure::Usage("internal: a stream request reached the reply path".into()))
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Prints a stream's events as JSON lines until Ctrl-C (exit 0) or the daemon ends it (exit 1).
async fn follow(mut stream: super::client::EventStream) -> Result<ExitCode, Failure> {
    loop {
        let next = tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(ExitCode::SUCCESS),
            n = stream.next() => n?,
        };
        match next {
            Some(StreamLine::Event(v)) => {
                let mut out = io::stdout().lock();
                json_line(&mut out, &v)?;
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

fn json_line<T: Serialize>(out: &mut impl Write, v: &T) -> io::Result<()> {
    serde_json::to_writer(&mut *out, v)?;
    out.write_all(b"\n")
}

fn print_match(out: &mut impl Write, m: &MatchView, json: bool) -> io::Result<()> {
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

/// Longest last line shown in the `panes` table (the JSON has it whole).
const LAST_LINE_CHARS: usize = 60;

fn panes_table(panes: &[PaneView]) -> String {
    let mut rows = vec![[
        "ID",
        "LABEL",
        "SESSION",
        "WINDOW",
        "COMMAND",
        "PID",
        "SIZE",
        "STATE",
        "META",
        "LAST LINE",
    ]
    .map(String::from)
    .to_vec()];
    for p in panes {
        let state = match (p.alive, p.exit_status, p.exit_signal) {
            (true, _, _) => "alive".to_string(),
            (false, _, Some(sig)) => format!("killed by signal {sig}"),
            (false, Some(st), None) => format!("exited {st}"),
            (false, None, None) => "exited".to_string(),
        };
        let meta = match &p.meta {
            Value::Object(m) if !m.is_empty() => m
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => format!("{k}={s}"),
                    v => format!("{k}={v}"),
                })
                .collect::<Vec<_>>()
                .join(","),
            _ => "-".to_string(),
        };
        let last = p.last_line.as_deref().unwrap_or("");
        let last = if last.chars().count() > LAST_LINE_CHARS {
            format!("{}…", last.chars().take(LAST_LINE_CHARS - 1).collect::<String>())
        } else {
            last.to_string()
        };
        rows.push(vec![
            p.id.clone(),
            p.label.clone().unwrap_or_else(|| "-".into()),
            p.session.clone(),
            p.window.clone(),
            p.command.clone(),
            p.pid.to_string(),
            format!("{}x{}", p.width, p.height),
            state,
            meta,
            last,
        ]);
    }
    table(&rows)
}

fn rules_table(rules: &[RuleView]) -> String {
    let mut rows = vec![["NAME", "MATCHES", "KIND", "PATTERN"].map(String::from).to_vec()];
    for r in rules {
        let kind = if r.dynamic { "dynamic" } else { "file" };
        rows.push(vec![r.name.clone(), r.matches.to_string(), kind.to_string(), r.pattern.clone()]);
    }
    table(&rows)
}

fn status_text(s: &StatusView) -> String {
    let up = s.uptime_s;
    let uptime = match (up / 3600, up / 60 % 60, up % 60) {
        (0, 0, sec) => format!("{sec}s"),
        (0, m, sec) => format!("{m}m{sec}s"),
        (h, m, sec) => format!("{h}h{m}m{sec}s"),
    };
    let sessions = if s.sessions.is_empty() { "-".to_string() } else { s.sessions.join(", ") };
    let rows = [
        ["pid", &s.pid.to_string()],
        ["tmux", &s.tmux],
        ["version", &s.tmux_version],
        ["mode", &s.mode],
        ["sessions", &sessions],
        ["panes", &s.panes.to_string()],
        ["rules", &s.rules.to_string()],
        ["uptime", &uptime],
        ["events", &s.events_path.display().to_string()],
    ]
    .map(|r| r.map(str::to_string).to_vec());
    let mut rows = rows.to_vec();
    if s.events_lost > 0 {
        // Shown only when it matters: records the daemon could not write (disk full).
        rows.push(vec!["events lost".to_string(), s.events_lost.to_string()]);
    }
    table(&rows)
}

/// Writes shell completions for `cmd` (the top-level command, with these subcommands
/// flattened in) to stdout, for `ctmuxd completions <bash|zsh|fish>`.
pub fn completions(shell: clap_complete::Shell, cmd: &mut clap::Command) {
    completions_to(shell, cmd, &mut io::stdout());
}

fn completions_to(shell: clap_complete::Shell, cmd: &mut clap::Command, out: &mut dyn Write) {
    let name = cmd.get_name().to_string();
    clap_complete::generate(shell, cmd, name, out);
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;

    /// Stand-in for the top-level parser the integrator builds.
    #[derive(Debug, Parser)]
    #[command(name = "ctmuxd")]
    struct Top {
        #[command(subcommand)]
        cmd: ApiCommand,
    }

    fn parse(args: &[&str]) -> Result<ApiCommand, clap::Error> {
        Top::try_parse_from(std::iter::once("ctmuxd").chain(args.iter().copied())).map(|t| t.cmd)
    }

    #[test]
    fn the_command_definitions_are_consistent() {
        Top::command().debug_assert();
        for sub in Top::command().get_subcommands() {
            let help = sub.get_after_help().map(|h| h.to_string()).unwrap_or_default();
            assert!(help.contains("ctmuxd "), "`{}` --help has no example", sub.get_name());
        }
    }

    #[test]
    fn spawn_builds_its_request() {
        let cmd = parse(&[
            "spawn", "--label", "tests", "--meta", "role=ci", "--beside", "db", "--split", "h",
            "--size", "30%", "-L", "work", "--", "make", "-j4",
        ])
        .unwrap();
        assert_eq!(cmd.server().target(), crate::tmux::TmuxTarget::Name("work".into()));
        let Ok(Request::Spawn(s)) = request(&cmd) else { panic!("not a spawn") };
        assert_eq!(s.label, "tests");
        assert_eq!(s.command, ["make", "-j4"]);
        assert_eq!(s.meta["role"], "ci");
        assert_eq!(
            (s.beside.as_deref(), s.split, s.size.as_deref()),
            (Some("db"), Some(Split::Horizontal), Some("30%"))
        );

        let Ok(Request::Spawn(s)) =
            request(&parse(&["spawn", "--label", "x", "--beside", "db"]).unwrap())
        else {
            panic!()
        };
        assert_eq!(s.split, Some(Split::Vertical), "a split defaults to stacked");
        let Ok(Request::Spawn(s)) =
            request(&parse(&["spawn", "--label", "x", "--cwd", "rel"]).unwrap())
        else {
            panic!()
        };
        assert!(s.cwd.unwrap().is_absolute(), "a relative --cwd is the client's");
    }

    #[test]
    fn bad_usage_is_refused_by_the_parser() {
        for args in [
            &["spawn", "--label", "x", "--split", "h"][..], // --split needs --beside
            &["spawn", "--label", "x", "--beside", "a", "--window"],
            &["spawn", "--label", "x", "--meta", "novalue"],
            &["spawn", "--label", "x", "--shell"], // --shell needs a command
            &["send", "db", "--timeout", "5", "--", "x"], // no unit
            &["wait-for", "db"],                   // no --pattern
            &["close"],
            &["panes", "-L", "a", "-S", "/b"],
        ] {
            let e = parse(args).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{args:?}: {e}");
        }
        let e = parse(&["send", "db", "--timeout", "1.5s", "--", "x"]).unwrap_err().to_string();
        assert!(e.contains("invalid duration"), "{e}");
    }

    #[test]
    fn send_and_wait_carry_their_timeouts() {
        let cmd = parse(&[
            "send",
            "db",
            "--enter",
            "--expect",
            "^ok$",
            "--timeout",
            "2m",
            "--",
            "SELECT",
            "1;",
        ])
        .unwrap();
        let Ok(Request::Send(s)) = request(&cmd) else { panic!() };
        assert_eq!((s.text.as_str(), s.enter, s.timeout_ms), ("SELECT 1;", true, 120_000));
        assert_eq!(s.expect.as_deref(), Some("^ok$"));
        assert!(matches!(request(&parse(&["send", "db"]).unwrap()), Err(Failure::Usage(_))));

        let w = request(
            &parse(&["wait-for", "db", "-p", "ready", "--timeout", "500ms", "--since", "3"])
                .unwrap(),
        );
        let Ok(w @ Request::WaitFor(_)) = w else { panic!() };
        assert_eq!(reply_deadline(&w), Duration::from_millis(500) + REPLY_MARGIN);
        let Request::WaitFor(w) = w else { panic!() };
        assert_eq!((w.timeout_ms, w.since), (500, 3));
        assert_eq!(reply_deadline(&Request::Panes), REQUEST_TIMEOUT + REPLY_MARGIN);
    }

    #[test]
    fn subscribe_exec_takes_the_rest() {
        let cmd = parse(&[
            "subscribe",
            "t-*",
            "--pattern",
            "FAIL",
            "--persist",
            "--exec",
            "notify-send",
            "-u",
            "x",
        ])
        .unwrap();
        let Ok(Request::Subscribe(s)) = request(&cmd) else { panic!() };
        assert_eq!(s.exec.unwrap(), ["notify-send", "-u", "x"]);
        assert!(s.persist);
    }

    #[test]
    fn exit_codes() {
        assert_eq!(exit_code(ErrorCode::NotFound), ExitCode::from(1));
        assert_eq!(exit_code(ErrorCode::Timeout), ExitCode::from(1));
        assert_eq!(exit_code(ErrorCode::BadRequest), ExitCode::from(2));
        assert_eq!(exit_code(ErrorCode::Conflict), ExitCode::from(2));
        assert_eq!(exit_code(ErrorCode::Internal), ExitCode::from(1));
    }

    #[test]
    fn panes_table_shows_state_meta_and_a_shortened_line() {
        let p = PaneView {
            id: "%3".into(),
            label: Some("db".into()),
            meta: serde_json::json!({"role":"database","n":2}),
            session: "main".into(),
            window: "@1".into(),
            command: "postgres".into(),
            pid: 42,
            width: 80,
            height: 24,
            alive: false,
            exit_status: Some(3),
            exit_signal: None,
            last_line: Some("x".repeat(100)),
        };
        let t = panes_table(&[
            p.clone(),
            PaneView { alive: true, label: None, meta: Value::Null, ..p },
        ]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("ID  LABEL  SESSION"), "{t}");
        assert!(
            lines[1].contains("exited 3")
                && lines[1].contains("n=2,role=database")
                && lines[1].contains("80x24")
        );
        assert!(
            lines[1].ends_with('…')
                && lines[1].chars().filter(|&c| c == 'x').count() >= LAST_LINE_CHARS - 1
        );
        assert!(lines[2].contains("alive") && lines[2].contains("%3  -  "), "{t}");
        // Columns line up.
        let col = |l: &str| l.find("main").unwrap();
        assert_eq!(col(lines[1]), col(lines[2]));
    }

    #[test]
    fn status_and_rules_text() {
        let s = StatusView {
            pid: 7,
            uptime_s: 3725,
            sessions: vec!["a".into(), "b".into()],
            ..Default::default()
        };
        let t = status_text(&s);
        assert!(t.contains("uptime    1h2m5s") && t.contains("sessions  a, b"), "{t}");
        let r = rules_table(&[RuleView {
            name: "build".into(),
            pattern: "x".into(),
            matches: 3,
            dynamic: true,
        }]);
        assert!(r.lines().nth(1).unwrap().starts_with("build  3        dynamic  x"), "{r}");
    }

    #[test]
    fn completions_name_the_subcommands() {
        let mut out = Vec::new();
        completions_to(clap_complete::Shell::Bash, &mut Top::command(), &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("wait-for") && text.contains("subscribe"),
            "{}",
            &text[..200.min(text.len())]
        );
    }
}
