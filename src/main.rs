//! The `ctmuxd` binary: parse the command line, set up logging, call the library, and
//! map the result to an exit code (0 ok, 1 failure at run time, 2 bad usage or bad input).

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use ctmuxd::cli::{Cli, Command, DaemonArgs};
use ctmuxd::daemon::{self, DaemonExit, DaemonOptions};
use ctmuxd::eventlog::{self, EventLog};
use ctmuxd::{replay, rules};
use tmux_control_parser::PaneId;

/// An error that is the user's input's fault: exit status 2.
#[derive(Debug)]
struct BadInput(String);

impl std::fmt::Display for BadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for BadInput {}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A client command whose reader hangs up (`ctmuxd logs 1000 | head -1`) ends quietly,
    // as `cat` does: the default action of SIGPIPE (Rust ignores it, so every write then
    // fails and `println!` panics). Not for the daemon and the demo: they write to tmux and
    // to action processes, whose exit must never end ctmuxd.
    if matches!(
        cli.command,
        Some(
            Command::Logs { .. }
                | Command::Api(_)
                | Command::Completions { .. }
                | Command::Man
                | Command::ShellInit { .. }
                | Command::Replay { .. }
                | Command::Check { .. }
        )
    ) {
        // SAFETY: called before any thread starts; signal(2) with SIG_DFL only restores
        // the default disposition of SIGPIPE.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    // The demo prints its own timeline on stdout; the daemon's info lines would interleave.
    // `mcp`: the SDK's per-message info lines would bury ours in the agent client's log.
    let default_filter = match cli.command {
        Some(Command::Demo { .. }) => "warn",
        Some(Command::Mcp { .. }) => "warn,ctmuxd=info",
        _ => "info",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter)),
        )
        .with_writer(std::io::stderr)
        // Colours only on a terminal, and not when NO_COLOR is set (no-color.org): a log
        // redirected to a file stays plain text.
        .with_ansi(
            std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        )
        .init();
    let rt =
        match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
            Ok(rt) => rt,
            Err(e) => {
                eprintln!("ctmuxd: cannot start the runtime: {e}");
                return ExitCode::from(1);
            }
        };
    match rt.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ctmuxd: {e:#}");
            if let Some(snippet) = rules_snippet(&e) {
                eprintln!("{snippet}");
            }
            exit_status(&e)
        }
    }
}

/// For a mistake in a rules file: its line with a caret under the column. The file is read
/// again only when it is a small regular file (never a FIFO or a device).
fn rules_snippet(e: &anyhow::Error) -> Option<String> {
    let err = e.chain().find_map(|c| c.downcast_ref::<rules::RulesError>())?;
    if err.kind() == rules::RulesErrorKind::Read {
        return None;
    }
    let meta = std::fs::metadata(err.path()).ok()?;
    if !meta.is_file() || meta.len() > rules::MAX_RULES_BYTES {
        return None;
    }
    err.snippet(&std::fs::read_to_string(err.path()).ok()?)
}

/// The exit status of a failed command, decided here on the error's type: 2 when the
/// user's input is at fault (arguments, the rules file, its patterns), else 1.
fn exit_status(e: &anyhow::Error) -> ExitCode {
    let bad_input = e.chain().any(|cause| {
        cause.is::<BadInput>()
            || cause.is::<rules::RulesError>()
            || cause.is::<ctmuxd::firing::CompileError>()
            || cause.downcast_ref::<ctmuxd::daemon::DaemonError>().is_some_and(|e| e.is_bad_input())
            || cause.downcast_ref::<ctmuxd::demo::DemoError>().is_some_and(|e| e.is_usage())
    });
    ExitCode::from(if bad_input { 2 } else { 1 })
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        None => run_daemon(cli.daemon).await,
        Some(Command::Logs {
            n,
            follow,
            events,
            timeline,
            pane,
            rule,
            events_of,
            since,
            json,
            server,
        }) => {
            let dir = events.unwrap_or_else(EventLog::default_dir);
            if !follow && !dir.join(eventlog::LOG_FILE).exists() {
                eprintln!(
                    "ctmuxd: no event log in {} yet: no daemon has written one there (a daemon \
                     writes it from its start; `--events DIR` reads another)",
                    dir.display()
                );
                return Ok(ExitCode::from(1));
            }
            if timeline {
                let (w, h) = ctmuxd::timeline::terminal_size().unwrap_or((100, 30));
                let chart =
                    ctmuxd::timeline::render_log(&dir, w, h.saturating_sub(14).clamp(4, 20))
                        .with_context(|| format!("reading the event log in {}", dir.display()))?;
                print!("{chart}");
                return Ok(ExitCode::SUCCESS);
            }
            let mut filter = eventlog::RecordFilter {
                panes: pane,
                rules: rule,
                events: events_of,
                since_ns: None,
                // `-L`/`-S` given after `logs` or before it; without either, every server's.
                server: [&server, &cli.daemon.server]
                    .into_iter()
                    .find(|a| a.socket_name.is_some() || a.socket_path.is_some())
                    .map(|a| a.target().log_name()),
            };
            if let Some(age) = since {
                filter = filter.since(age, ctmuxd::firing::now_ns());
            }
            // For a person on a terminal; what a program reads stays the file's JSON lines.
            let human = !json && std::io::IsTerminal::is_terminal(&std::io::stdout());
            let shown = eventlog::Shown { filter, human };
            if follow {
                let mut out = tokio::io::stdout();
                eventlog::follow_shown(&dir, n, &shown, &mut out, shutdown_signal()).await?;
                return Ok(ExitCode::SUCCESS);
            }
            let lines = eventlog::read_last_shown(&dir, n, &shown)
                .with_context(|| format!("reading the event log in {}", dir.display()))?;
            for l in lines {
                println!("{l}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Demo { scenario, fast, fail, socket, events }) => {
            let opts =
                ctmuxd::demo::DemoOptions { scenario: scenario.into(), fast, fail, socket, events };
            match ctmuxd::demo::run(opts, &mut std::io::stdout(), shutdown_signal()).await {
                Ok(report) => {
                    Ok(if report.finished { ExitCode::SUCCESS } else { ExitCode::from(1) })
                }
                Err(e) => Err(e.into()),
            }
        }
        Some(Command::Api(cmd)) => ctmuxd::api::cli::run(cmd, &cli.daemon.server).await,
        Some(Command::Top { server }) => {
            // `-L`/`-S` after `top`, else before it, as for the other client commands.
            let server = if server.socket_name.is_some() || server.socket_path.is_some() {
                server
            } else {
                cli.daemon.server.clone()
            };
            match ctmuxd::top::run(server.target()).await {
                Ok(()) => Ok(ExitCode::SUCCESS),
                Err(ctmuxd::top::TopError::Client(e)) => {
                    eprintln!("ctmuxd top: {e}");
                    Ok(ctmuxd::api::cli::exit_code(e.code()))
                }
                Err(e) => Err(anyhow::Error::new(e).context("top")),
            }
        }
        Some(Command::Mcp { server, read_only, scope, session, allow_self, claude_channel }) => {
            let server = if server.socket_name.is_some() || server.socket_path.is_some() {
                server
            } else {
                cli.daemon.server.clone()
            };
            let target = server.target();
            let policy = ctmuxd::mcp::scope::Policy {
                read_only,
                label_glob: scope,
                session,
                self_pane: ctmuxd::mcp::own_pane(&target),
                allow_self,
            };
            let exe = std::env::current_exe().context("finding the ctmuxd binary")?;
            ctmuxd::mcp::run(ctmuxd::mcp::McpOptions { target, policy, exe, claude_channel })
                .await
                .context("mcp")?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Man) => {
            use clap::CommandFactory;
            // ctmuxd(1): the daemon's options, then every subcommand with what it does.
            clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout().lock())?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Completions { shell }) => {
            use clap::CommandFactory;
            ctmuxd::api::cli::completions(shell, &mut Cli::command());
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::ShellInit { shell }) => {
            use ctmuxd::shell_init::{fish_version, snippet, InitShell};
            let shell = InitShell::parse(&shell).map_err(BadInput)?;
            let version = if shell == InitShell::Fish { fish_version() } else { None };
            print!("{}", snippet(shell, version));
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Check { file, rules }) => {
            let found = rules::discover::find(file.as_deref().or(rules.as_deref()));
            let Some(rules) = found.path() else {
                return Err(BadInput(format!(
                    "no rules file given or found (looked for {}); give one: ctmuxd check FILE",
                    rules::discover::lookup_order()
                ))
                .into());
            };
            // Everything the daemon does with the file before it starts: load (syntax,
            // patterns, actions, `[[pane]]` order) and build the matcher (pattern sizes).
            let set = rules::load_async(rules).await?;
            ctmuxd::firing::compile(&set)?;
            println!(
                "{}: ok: {} rule(s), {} [[pane]] entr(y/ies)",
                rules.display(),
                set.rules.len(),
                set.panes.len()
            );
            for line in rules::explain(&set) {
                println!("  {line}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Replay { rules, label, transcripts }) => {
            let set = rules::load_async(&rules).await?;
            let mut labels = HashMap::new();
            for l in &label {
                let (p, name) = l
                    .split_once('=')
                    .and_then(|(p, n)| Some((p.parse::<PaneId>().ok()?, n)))
                    .ok_or_else(|| {
                        BadInput(format!("--label {l:?}: expected PANE=LABEL, e.g. %0=build"))
                    })?;
                labels.insert(p, name.to_string());
            }
            let mut data = Vec::new();
            for t in &transcripts {
                data.push(
                    std::fs::read(t)
                        .with_context(|| format!("reading transcript {}", t.display()))?,
                );
            }
            let firings = replay::replay(set, &data, &labels)?;
            replay::write_json_lines(&mut std::io::stdout().lock(), &firings)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn run_daemon(args: DaemonArgs) -> anyhow::Result<ExitCode> {
    let found = rules::discover::find(args.rules.as_deref());
    // One daemon per tmux server, whatever the mode: taken before anything else, held
    // until the daemon ends.
    let _lock = ctmuxd::api::lock::DaemonLock::acquire(&args.server.target())?;
    let set = match &found {
        rules::discover::RulesFile::Given(path) => rules::load_async(path).await?,
        rules::discover::RulesFile::Found { path, how } => {
            eprintln!("ctmuxd: rules from {} (found in {how})", path.display());
            rules::load_async(path).await?
        }
        rules::discover::RulesFile::None => {
            eprintln!(
                "ctmuxd: no rules file (looked for {}): serving the API only; give one with --rules FILE",
                rules::discover::lookup_order()
            );
            rules::RuleSet::none()
        }
    };
    // Compile now so a pattern the matcher refuses is also reported before anything starts.
    ctmuxd::firing::compile(&set)?;
    let mut servers = set.servers.clone();
    servers.extend(args.servers.iter().chain(&args.ssh).cloned());
    if !servers.is_empty() {
        if args.poll {
            anyhow::bail!(
                "--poll watches one server; drop it, or the [[server]] entries, --server and --ssh"
            );
        }
        ctmuxd::tmux::version::check_control_mode().await?;
        let opts = ctmuxd::servers::ServersOptions {
            home: args.server.target(),
            servers,
            session: args.session.clone(),
            rules: set,
            events_dir: args.events.clone().unwrap_or_else(EventLog::default_dir),
            record: args.record.clone(),
            shutdown_grace: Duration::from_secs(5),
        };
        ctmuxd::servers::run(opts, shutdown_signal()).await?;
        return Ok(ExitCode::SUCCESS);
    }
    // One server: a rule or spawn naming a server must name that one.
    let one =
        [rules::ServerSpec { name: args.server.target().log_name(), target: args.server.target() }];
    ctmuxd::servers::check_names(&set, &one)?;
    let opts = DaemonOptions {
        target: args.server.target(),
        session: args.session.clone(),
        rules: set,
        events_dir: args.events.clone().unwrap_or_else(EventLog::default_dir),
        record: args.record.clone(),
        shutdown_grace: Duration::from_secs(5),
        reconnect: args.reconnect,
    };
    let target = args.server.target();
    let poll_opts = || ctmuxd::poll::PollOptions {
        target: target.clone(),
        session: args.session.clone(),
        rules: opts.rules.clone(),
        events_dir: opts.events_dir.clone(),
        interval: args.interval,
        shutdown_grace: Duration::from_secs(5),
    };
    let exit = if args.poll {
        ctmuxd::poll::run(poll_opts(), shutdown_signal()).await?
    } else {
        let control = async {
            ctmuxd::tmux::version::check_control_mode().await?;
            daemon::run(opts.clone(), shutdown_signal()).await
        }
        .await;
        match control {
            Ok(exit) => exit,
            Err(e) if !args.no_fallback => match ctmuxd::poll::fallback_reason(&target, &e).await {
                Some(why) => {
                    eprintln!(
                        "ctmuxd: control mode cannot be used ({why}); polling every {:?} instead (--no-fallback to fail)",
                        args.interval
                    );
                    ctmuxd::poll::run(poll_opts(), shutdown_signal()).await?
                }
                None => return Err(e.into()),
            },
            Err(e) => return Err(e.into()),
        }
    };
    match exit {
        DaemonExit::Stopped => Ok(ExitCode::SUCCESS),
        DaemonExit::TmuxGone(why) => {
            eprintln!("ctmuxd: stopped because tmux went away: {why}");
            Ok(ExitCode::from(1))
        }
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) =
        (signal(SignalKind::interrupt()), signal(SignalKind::terminate()))
    else {
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
    tracing::info!("signal received, stopping");
}
