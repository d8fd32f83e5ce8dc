//! The client subcommands (`ctmuxd panes`, `spawn`, `close`, `send`, `capture`, `wait-for`,
//! `subscribe`, `rules`, `reload`, `status`, `stop`, `events`): the [`ApiCommand`] enum and
//! its dispatch, generated from the `api_requests!` list, and what every subcommand does
//! alike (connect, send, wait, turn failures into exit statuses). Each subcommand's own
//! arguments, request and output are its request's module ([`super::request`],
//! [`CliRequest`]).
//!
//! The top-level parser (`crate::cli`) flattens [`ApiCommand`] into its own subcommands and
//! calls [`run`]. Exit statuses are decided here, in [`exit_code`]: 0 ok, 1 not found, timed
//! out or the daemon failed, 2 bad usage or bad input. Every message is printed here too, so
//! `run` only returns `Err` when writing to stdout fails.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use serde::de::DeserializeOwned;

use super::client::{Client, ClientError};
use super::protocol::ErrorCode;
use super::request::{api_requests, Answer, CliRequest, Daemon, Failure, Request};
use crate::tmux::TmuxTarget;

/// Extra time the client gives the daemon beyond a request's own timeout before it stops
/// waiting for the reply (the daemon enforces the timeout; this covers a daemon that hangs).
const REPLY_MARGIN: Duration = Duration::from_secs(10);

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
    /// The server these flags select; without `-L`/`-S`, the one a plain `tmux` reaches
    /// ([`TmuxTarget::ambient`]: inside a pane, that pane's server).
    pub fn target(&self) -> TmuxTarget {
        match (&self.socket_name, &self.socket_path) {
            (Some(n), _) => TmuxTarget::Name(n.clone()),
            (_, Some(p)) => TmuxTarget::Path(p.clone()),
            _ => TmuxTarget::ambient(),
        }
    }
}

/// A subcommand's arguments: the server selection (`-L`/`-S`, first in `--help`), then the
/// request's own ([`CliRequest::Args`]).
#[derive(Debug, Args)]
pub struct Invocation<A: Args> {
    /// Which tmux server's daemon.
    #[command(flatten)]
    pub server: ServerArgs,
    /// The request's own arguments.
    #[command(flatten)]
    pub args: A,
}

/// Generates [`ApiCommand`] and its dispatch from the `api_requests!` list.
macro_rules! api_commands {
    ($( $(#[$doc:meta])* $variant:ident($req:ident) in $module:ident; )*) => {
        /// The subcommands that talk to a running daemon, one per request; each one's
        /// name, help and behaviour are its request's [`CliRequest`] implementation.
        #[derive(Debug, Subcommand)]
        pub enum ApiCommand {
            $(
                $(#[$doc])*
                #[command(
                    name = <super::request::$req as CliRequest>::NAME,
                    about = <super::request::$req as CliRequest>::ABOUT,
                    after_help = <super::request::$req as CliRequest>::EXAMPLES
                )]
                $variant(Invocation<<super::request::$req as CliRequest>::Args>),
            )*
        }

        impl ApiCommand {
            /// The `-L`/`-S` given after the subcommand.
            pub fn server(&self) -> &ServerArgs {
                match self { $( ApiCommand::$variant(a) => &a.server, )* }
            }

            /// The subcommand's name (`wait-for`), the prefix of its messages.
            pub fn name(&self) -> &'static str {
                match self { $( ApiCommand::$variant(_) => <super::request::$req as CliRequest>::NAME, )* }
            }

            /// The request it sends (pure, so it can be tested without a daemon).
            ///
            /// # Errors
            /// Bad input caught before asking the daemon (exit status 2).
            pub fn request(&self) -> Result<Request, String> {
                match self {
                    $( ApiCommand::$variant(a) => {
                        <super::request::$req as CliRequest>::from_args(&a.args).map(Request::from)
                    } )*
                }
            }

            /// Runs it against the daemon serving `target`.
            async fn execute(self, target: TmuxTarget) -> Result<ExitCode, Failure> {
                match self {
                    $( ApiCommand::$variant(a) => invoke::<super::request::$req>(a.args, target).await, )*
                }
            }
        }
    };
}

api_requests!(api_commands);

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
    let name = cmd.name();
    match cmd.execute(server.target()).await {
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

/// How long `status` and `stop` keep trying while the daemon answers `busy`.
const BUSY_RETRY: Duration = Duration::from_secs(5);

/// Calls `req` (`status` or `stop`) on `client`; while the daemon answers `busy` (all its
/// connections, the ones reserved for these two included, are taken), connects again
/// after a short, growing pause, for up to [`BUSY_RETRY`]. Returns the reply and the
/// connection it came on.
async fn call_patiently<T: DeserializeOwned>(
    mut client: Client,
    target: &TmuxTarget,
    req: &Request,
    within: Duration,
) -> Result<(T, Client), ClientError> {
    let deadline = std::time::Instant::now() + BUSY_RETRY;
    let mut pause = Duration::from_millis(10);
    loop {
        match client.call(req, within).await {
            Err(ClientError::Api(e))
                if e.code == ErrorCode::Busy && std::time::Instant::now() < deadline => {}
            r => return r.map(|reply| (reply, client)),
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(200));
        client = Client::connect(target).await?;
    }
}

/// How long the client waits for the reply to `req`.
fn reply_deadline(req: &Request) -> Duration {
    Duration::from_millis(req.timeout_ms()).saturating_add(REPLY_MARGIN)
}

/// One subcommand of request `R`: builds the request, sends it (retrying on `busy` for
/// requests served on reserved connections), and has `R` print the reply.
async fn invoke<R: CliRequest>(args: R::Args, target: TmuxTarget) -> Result<ExitCode, Failure> {
    let req: Request = R::from_args(&args).map_err(Failure::Usage)?.into();
    let mut client = Client::connect(&target).await?;
    let within = reply_deadline(&req);
    let pid = client.peer_pid();
    let (reply, client) = if R::RESERVED {
        call_patiently::<<R::Answer as Answer>::Reply>(client, &target, &req, within).await?
    } else {
        (client.call(&req, within).await?, client)
    };
    let mut out = io::stdout().lock();
    let code = R::show(reply, args, Daemon { client, target, pid }, &mut out).await?;
    out.flush()?;
    Ok(code)
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
    use crate::api::protocol::REQUEST_TIMEOUT;
    use crate::api::request::{PanesRequest, Split, COMMANDS};

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

    /// The words of a shell command line up to its first unquoted `|` or `>`, with `'...'`
    /// quoting and `\` escapes outside quotes (enough for the `--help` examples).
    fn shell_words(line: &str) -> Vec<String> {
        let (mut words, mut word, mut quoted, mut any) = (Vec::new(), String::new(), false, false);
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            match c {
                '\'' => (quoted, any) = (!quoted, true),
                '\\' if !quoted => word.extend(chars.next()),
                '|' | '>' if !quoted => break,
                c if c.is_whitespace() && !quoted => {
                    if any || !word.is_empty() {
                        words.push(std::mem::take(&mut word));
                    }
                    any = false;
                }
                c => word.push(c),
            }
        }
        if any || !word.is_empty() {
            words.push(word);
        }
        words
    }

    /// Every subcommand sends its own request: each example in each subcommand's `--help`
    /// parses, and the request it makes has the subcommand's `cmd`. Every request has a
    /// subcommand.
    #[test]
    fn every_subcommand_maps_to_its_request() {
        let top = Top::command();
        let names: Vec<&str> = top.get_subcommands().map(|c| c.get_name()).collect();
        assert_eq!(names.len(), COMMANDS.len(), "{names:?}");
        for (sub, cmd) in top.get_subcommands().zip(COMMANDS) {
            let help = sub.get_after_help().map(|h| h.to_string()).unwrap_or_default();
            let examples: Vec<Vec<String>> = help
                .lines()
                .filter_map(|l| l.trim().strip_prefix("ctmuxd "))
                .map(shell_words)
                .collect();
            assert!(!examples.is_empty(), "`{}` --help has no example", sub.get_name());
            for words in examples {
                let args: Vec<&str> = words.iter().map(String::as_str).collect();
                let parsed = parse(&args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
                assert_eq!(parsed.name(), sub.get_name());
                assert_eq!(parsed.name(), cmd.replace('_', "-"), "subcommand named after its cmd");
                let req = parsed.request().unwrap_or_else(|e| panic!("{args:?}: {e}"));
                assert_eq!(req.cmd(), *cmd, "{args:?}");
            }
        }
        assert_eq!(
            shell_words("send db -- 'SELECT 1;' x\\ y | jq"),
            ["send", "db", "--", "SELECT 1;", "x y"]
        );
    }

    #[test]
    fn spawn_builds_its_request() {
        let cmd = parse(&[
            "spawn", "--label", "tests", "--meta", "role=ci", "--beside", "db", "--split", "h",
            "--size", "30%", "-L", "work", "--", "make", "-j4",
        ])
        .unwrap();
        assert_eq!(cmd.server().target(), crate::tmux::TmuxTarget::Name("work".into()));
        let Ok(Request::Spawn(s)) = cmd.request() else { panic!("not a spawn") };
        assert_eq!(s.label, "tests");
        assert_eq!(s.command, ["make", "-j4"]);
        assert_eq!(s.meta["role"], "ci");
        assert_eq!(
            (s.beside.as_deref(), s.split, s.size.as_deref()),
            (Some("db"), Some(Split::Horizontal), Some("30%"))
        );

        let Ok(Request::Spawn(s)) =
            parse(&["spawn", "--label", "x", "--beside", "db"]).unwrap().request()
        else {
            panic!()
        };
        assert_eq!(s.split, Some(Split::Vertical), "a split defaults to stacked");
        let Ok(Request::Spawn(s)) =
            parse(&["spawn", "--label", "x", "--cwd", "rel"]).unwrap().request()
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
        let Ok(Request::Send(s)) = cmd.request() else { panic!() };
        assert_eq!((s.text.as_str(), s.enter, s.timeout_ms), ("SELECT 1;", true, 120_000));
        assert_eq!(s.expect.as_deref(), Some("^ok$"));
        assert_eq!(
            parse(&["send", "db"]).unwrap().request().unwrap_err(),
            "nothing to send: give TEXT after `--`, --enter or --wait-ready"
        );

        let w = parse(&["wait-for", "db", "-p", "ready", "--timeout", "500ms", "--since", "3"])
            .unwrap()
            .request();
        let Ok(w @ Request::WaitFor(_)) = w else { panic!() };
        assert_eq!(reply_deadline(&w), Duration::from_millis(500) + REPLY_MARGIN);
        let Request::WaitFor(w) = w else { panic!() };
        assert_eq!((w.timeout_ms, w.since), (500, 3));
        assert_eq!(
            reply_deadline(&Request::Panes(PanesRequest {})),
            REQUEST_TIMEOUT + REPLY_MARGIN
        );
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
        let Ok(Request::Subscribe(s)) = cmd.request() else { panic!() };
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
