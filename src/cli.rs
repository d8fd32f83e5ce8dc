//! Command-line interface: the daemon's flags and the subcommands, parsed with clap.
//! `main.rs` turns these into calls on the library and decides exit codes.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub use crate::api::cli::ServerArgs;
use crate::demo;

/// Event-driven tmux pane watcher: streams every pane through control mode, matches all
/// rules incrementally and runs actions, with no polling.
#[derive(Debug, Parser)]
#[command(name = "ctmuxd", version, subcommand_precedence_over_arg = true)]
#[command(after_help = "Examples:\n  \
    ctmuxd --control-mode -L work --rules rules.toml     watch every session of server `work`\n  \
    ctmuxd -t build --rules rules.toml                   watch one session of the default server\n  \
    ctmuxd logs 100                                      the last 100 events\n  \
    ctmuxd replay --rules rules.toml session.rec         what would fire on a recorded stream")]
pub struct Cli {
    /// Daemon options (used when no subcommand is given).
    #[command(flatten)]
    pub daemon: DaemonArgs,
    /// A subcommand; none runs the daemon.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Flags of the daemon itself.
#[derive(Debug, Args, Clone, Default)]
pub struct DaemonArgs {
    /// Stream panes through tmux control mode (the default mode).
    #[arg(long)]
    pub control_mode: bool,
    /// Which tmux server.
    #[command(flatten)]
    pub server: ServerArgs,
    /// Watch only this session (default: every session of the server).
    #[arg(short = 't', value_name = "SESSION")]
    pub session: Option<String>,
    /// The rules file (TOML). Default: the first of $CTMUXD_RULES, ./ctmuxd.toml and
    /// $XDG_CONFIG_HOME/ctmuxd/rules.toml (~/.config/...) that exists; with none, the
    /// daemon serves the API only.
    #[arg(long, value_name = "FILE")]
    pub rules: Option<PathBuf>,
    /// Directory of the event log (default: $XDG_STATE_HOME/ctmuxd or ~/.local/state/ctmuxd).
    #[arg(long, value_name = "DIR")]
    pub events: Option<PathBuf>,
    /// Save the raw control-mode stream to FILE (more sessions: FILE.1, FILE.2, ...).
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
    /// Poll panes with `tmux capture-pane` instead of control mode.
    #[arg(long, conflicts_with_all = ["control_mode", "record"])]
    pub poll: bool,
    /// Time between polls with --poll (or after a fallback), e.g. 500ms, 1s.
    #[arg(long, value_name = "DURATION", default_value = "500ms",
          value_parser = |s: &str| crate::rules::parse_duration(s).map_err(|e| e.to_string()))]
    pub interval: std::time::Duration,
    /// Fail instead of falling back to polling when control mode cannot be used.
    #[arg(long)]
    pub no_fallback: bool,
    /// When the tmux server dies or the session goes away, wait for it to come back
    /// (with backoff) and carry on, instead of exiting (default: exit with status 1).
    #[arg(long)]
    pub reconnect: bool,
    /// Also watch the local tmux server `-L NAME` (named NAME), or the one on socket PATH
    /// with NAME=PATH. Repeatable; with --ssh or `[[server]]` entries, the daemon watches
    /// exactly those servers (each reconnected on its own) and -L/-S only name its socket.
    #[arg(long = "server", value_name = "NAME[=PATH]",
          value_parser = |s: &str| crate::rules::ServerSpec::from_server_flag(s))]
    pub servers: Vec<crate::rules::ServerSpec>,
    /// Also watch the default tmux server of a host over SSH (`ssh DEST tmux -C ...`,
    /// nothing to install there), named NAME, or the host's name. Repeatable.
    #[arg(long = "ssh", value_name = "[NAME=]DEST",
          value_parser = |s: &str| crate::rules::ServerSpec::from_ssh_flag(s))]
    pub ssh: Vec<crate::rules::ServerSpec>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the last N events of the event log (default 20), optionally following it: one
    /// line per event for a person on a terminal, the JSON lines when piped or with --json.
    #[command(after_help = "Examples:\n  ctmuxd logs 100 --follow\n  \
        ctmuxd logs --pane 'build*' --event match --event action --since 10m\n  \
        ctmuxd logs --rule tests-failed --json | jq .line")]
    Logs {
        /// How many events.
        #[arg(default_value_t = 20)]
        n: usize,
        /// Keep printing new events as they are appended.
        #[arg(long, short = 'f')]
        follow: bool,
        /// Only events about this pane: an id (`%3`) or a label glob; repeatable.
        #[arg(long, value_name = "PANE")]
        pane: Vec<String>,
        /// Only events of this rule (a glob); repeatable.
        #[arg(long, value_name = "RULE")]
        rule: Vec<String>,
        /// Only events of this kind (match, action, pane, daemon, trigger, emit, command,
        /// catch-up, resync, skipped, overflow, events_lost); repeatable.
        #[arg(long = "event", value_name = "KIND")]
        events_of: Vec<String>,
        /// Only events younger than this (`90s`, `10m`, `2h`).
        #[arg(long, value_name = "DURATION",
              value_parser = |s: &str| crate::rules::parse_duration(s).map_err(|e| e.to_string()))]
        since: Option<std::time::Duration>,
        /// Print the JSON lines even on a terminal.
        #[arg(long)]
        json: bool,
        /// Only events of this tmux server (`-L NAME` / `-S PATH` as the daemon was given).
        #[command(flatten)]
        server: crate::api::cli::ServerArgs,
        /// Directory of the event log.
        #[arg(long, value_name = "DIR")]
        events: Option<PathBuf>,
        /// Chart the number of panes alive over time (latest run) instead of listing events.
        #[arg(long, conflicts_with = "follow")]
        timeline: bool,
    },
    /// Run a self-contained demo on a private tmux server, printing its timeline.
    #[command(
        after_help = "Examples:\n  ctmuxd demo pipeline\n  ctmuxd demo services --fail db\n  ctmuxd demo pipeline --fail compiler\n  ctmuxd demo debug --fail tests"
    )]
    Demo {
        /// Which demo.
        #[arg(value_enum)]
        scenario: DemoScenario,
        /// Run the scripts five times faster (the pipeline in about 6 s).
        #[arg(long)]
        fast: bool,
        /// Make this fail: a service at start-up (services: db, api or frontend), a stage
        /// (pipeline: linter, type-checker, compiler, test-runner, security-scanner,
        /// deployer), or the tests (debug: tests).
        #[arg(long, value_name = "LABEL")]
        fail: Option<String>,
        /// tmux socket name (default: `ctmuxd-demo-<pid>`).
        #[arg(short = 'L', value_name = "SOCKET-NAME")]
        socket: Option<String>,
        /// Directory of the event log (default: inside the demo's temporary directory).
        #[arg(long, value_name = "DIR")]
        events: Option<PathBuf>,
    },
    /// Show a live terminal view of the running daemon: panes, rules, the latest events
    ///
    /// Panes with their state, rule firings and last line; rules with their fire counts;
    /// the events since it started. Keys filter panes and events and open a pane's capture.
    #[command(after_help = "Keys: q/Esc/Ctrl-C quit, / filter (a label glob or text; Enter \
        applies, Esc clears), Up/Down or j/k select, Enter open the pane's capture (Esc/q \
        back), Tab move between panes and rules.\n\nExample:\n  ctmuxd top -L work")]
    Top {
        /// Which tmux server's daemon.
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Serve the Model Context Protocol on stdio, for AI agents: tools over the daemon
    ///
    /// Tools: panes, spawn, close, label, send, run, wait_for, capture, read, events. Talks to
    /// the daemon of the tmux server (`-L`/`-S`), starting one when none runs. stdout is
    /// the MCP transport; logs go to stderr.
    #[command(after_help = "Register it with an MCP client as the command `ctmuxd` with the \
        arguments `mcp -L work` (see README, \"For AI agents\").\n\nExamples:\n  \
        ctmuxd mcp -L work\n  \
        ctmuxd mcp -L work --read-only\n  \
        ctmuxd mcp -L work --scope 'agent-*'\n  \
        ctmuxd mcp -L work --claude-channel")]
    Mcp {
        /// Which tmux server.
        #[command(flatten)]
        server: ServerArgs,
        /// Only the tools that change nothing: panes, wait_for, capture, read, events.
        #[arg(long)]
        read_only: bool,
        /// Only panes whose label matches this glob (`agent-*`); spawn and label must
        /// use labels matching it.
        #[arg(long, value_name = "GLOB")]
        scope: Option<String>,
        /// Only panes of this tmux session.
        #[arg(long, value_name = "NAME")]
        session: Option<String>,
        /// Allow send and close on the pane this server runs in ($TMUX_PANE), refused by
        /// default: it is most likely the agent's own.
        #[arg(long)]
        allow_self: bool,
        /// Also push rule firings and finished commands as Claude Code channel
        /// notifications (`notifications/claude/channel`), which Claude Code puts in the
        /// model's context (a research preview there; see README).
        #[arg(long)]
        claude_channel: bool,
    },
    /// Talk to the running daemon (panes, spawn, close, send, capture, wait-for, ...).
    #[command(flatten)]
    Api(crate::api::cli::ApiCommand),
    /// Print the manual page (roff), for `man`.
    #[command(
        after_help = "Example:\n  ctmuxd man > ~/.local/share/man/man1/ctmuxd.1 && man ctmuxd"
    )]
    Man,
    /// Print shell completions.
    #[command(
        after_help = "Example:\n  ctmuxd completions bash > ~/.local/share/bash-completion/completions/ctmuxd"
    )]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the lines to add to a shell's rc file so that it marks prompts and commands
    /// (OSC 133/633) for ctmuxd: `panes` shows each shell's state, `logs` a `command` event
    /// per command, and `ctmuxd run` works in its panes. fish ≥ 4 marks them itself.
    #[command(
        name = "shell-init",
        after_help = "Examples:\n  ctmuxd shell-init bash >> ~/.bashrc\n  \
            ctmuxd shell-init zsh >> ~/.zshrc\n  \
            ctmuxd shell-init fish >> ~/.config/fish/config.fish"
    )]
    ShellInit {
        /// The shell.
        #[arg(value_parser = ["bash", "zsh", "fish"])]
        shell: String,
    },
    /// Check a rules file without starting anything: exit 0 with a summary and what each
    /// rule does when it is valid, exit 2 with the file, line, column and rule when it is not.
    #[command(after_help = "Examples:\n  ctmuxd check examples/rules.toml\n  \
        ctmuxd check              the file the daemon would find ($CTMUXD_RULES, ./ctmuxd.toml, ~/.config/ctmuxd/rules.toml)")]
    Check {
        /// The rules file (TOML); default: the one the daemon would find.
        #[arg(value_name = "FILE", conflicts_with = "rules")]
        file: Option<PathBuf>,
        /// The rules file, as the daemon's flag names it.
        #[arg(long, value_name = "FILE")]
        rules: Option<PathBuf>,
    },
    /// Run the rules over recorded control-mode streams, without tmux; print what would fire as JSON lines.
    #[command(
        after_help = "Example:\n  ctmuxd replay --rules rules.toml --label %0=build session.rec"
    )]
    Replay {
        /// The rules file (TOML).
        #[arg(long, value_name = "FILE")]
        rules: PathBuf,
        /// Give a pane a label for rules' `pane` selectors (`%0=build`); repeatable.
        #[arg(long, value_name = "PANE=LABEL")]
        label: Vec<String>,
        /// Transcript files (raw `tmux -C` stdout bytes).
        #[arg(required = true)]
        transcripts: Vec<PathBuf>,
    },
}

/// The `ctmuxd demo` scenarios as clap sees them. The library's [`demo::Scenario`] knows
/// nothing of clap; this enum carries the command-line names and help, and maps onto it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DemoScenario {
    /// Four stages (analysis, build, security, deploy) opened and closed on triggers.
    Pipeline,
    /// db, then api once db is ready, then frontend once api listens.
    Services,
    /// A server error opens a debugger, its root cause a fix, the fix a test run; a
    /// composite rule closes the chain when the tests pass in time.
    Debug,
}

impl From<DemoScenario> for demo::Scenario {
    fn from(s: DemoScenario) -> demo::Scenario {
        match s {
            DemoScenario::Pipeline => demo::Scenario::Pipeline,
            DemoScenario::Services => demo::Scenario::Services,
            DemoScenario::Debug => demo::Scenario::Debug,
        }
    }
}
