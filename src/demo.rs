//! `ctmuxd demo <pipeline|services>`: a self-contained tour of orchestration. It starts
//! a private tmux server (`tmux -L ctmuxd-demo-<pid> -f /dev/null`, or the `-L` given)
//! with a fresh 160x48 session, writes the example rules and their pane scripts
//! (embedded in the binary, so the demo runs from anywhere) into a temporary
//! directory, runs the daemon in-process with [`daemon::run`] on that session, and
//! prints a live timeline by following the event log. When the scenario is over
//! (pipeline: the deployer reported `DEPLOY COMPLETE`; services: every service ready,
//! or a failure holding its dependants back) it stops the daemon, prints a summary
//! (peak panes alive, detection latencies, start order with delays) and the
//! [`timeline`] chart, and leaves the tmux server running with the command to attach.
//!
//! Neighbours: [`daemon::run`] does all the work; the event log ([`Follower`]) is the
//! only channel back, exactly what a user of `ctmuxd logs` sees.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::future::Future;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use thiserror::Error;
use tokio::sync::oneshot;

use crate::daemon::{self, DaemonExit, DaemonOptions};
use crate::eventlog::{Event, Follower, MatchEvent, PaneChange, Record, LOG_FILE};
use crate::firing::now_ns;
use crate::timeline;
use crate::tmux::TmuxTarget;

/// Pause factor of `--fast` (the scripts' `CTMUXD_DEMO_SPEED`): the 30 s pipeline in
/// about 6 s, still leaving >= 1 s between triggers for the spawns and closes.
pub const FAST_SPEED: f64 = 0.2;

/// Size of the demo session, so the split layout fits (3 permanent + 2 stage panes).
const SESSION_SIZE: (&str, &str) = ("160", "48");

/// How often the event log is read for the live timeline.
///
/// PERF: this is a display refresh, not the detection path: every latency the demo
/// reports comes from the records' own `ts_ns`, so reading late only delays printing.
const REFRESH: Duration = Duration::from_millis(25);

/// Beyond the scenario's own length (scaled), how long to wait before giving up.
const SLACK: Duration = Duration::from_secs(30);

/// After a failure, the services scenario ends once the log has been quiet this long
/// (in case a dependant's `held` record never comes).
const SETTLE_NS: u64 = 1_500_000_000;

/// Records kept for the summary and the chart; a demo run writes a few dozen.
const MAX_KEPT: usize = 100_000;

/// The pane changes the pipeline makes, in order (`+` spawned, `-` closed): the three
/// permanent panes, then each stage closing the previous stage's panes before opening
/// its own, so at most 5 are alive.
pub const PIPELINE_CHANGES: [&str; 14] = [
    "+orchestrator",
    "+monitor",
    "+logger",
    "+linter",
    "+type-checker",
    "-linter",
    "-type-checker",
    "+compiler",
    "+test-runner",
    "-compiler",
    "-test-runner",
    "+security-scanner",
    "-security-scanner",
    "+deployer",
];

/// The emitted event that ends the pipeline (the `deployed` rule of `pipeline.toml`).
pub const PIPELINE_DONE: &str = "pipeline-done";

/// The pipeline's stage panes, each of which `--fail` can make fail.
pub const PIPELINE_STAGES: [&str; 6] =
    ["linter", "type-checker", "compiler", "test-runner", "security-scanner", "deployer"];

/// The event the debug demo's chain ends on (closed, or reported at its deadline).
pub const DEBUG_DONE: &str = "debug-done";

/// Which demo to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// Four stages (analysis, build, security, deploy) opened and closed on triggers.
    Pipeline,
    /// db, then api once db is ready, then frontend once api listens.
    Services,
    /// A server's error opens a debugger, its root cause a fix, the fix a test run; a
    /// composite rule closes the chain when the tests pass within a deadline.
    Debug,
}

/// One file of a scenario, embedded from `examples/`.
struct Embedded {
    /// Path relative to the rules file's directory.
    path: &'static str,
    text: &'static str,
}

macro_rules! embed {
    ($($path:literal),* $(,)?) => {
        &[$(Embedded { path: $path, text: include_str!(concat!("../examples/", $path)) }),*]
    };
}

const PIPELINE_FILES: &[Embedded] = embed![
    "pipeline.toml",
    "pipeline/lib.sh",
    "pipeline/orchestrator.sh",
    "pipeline/monitor.sh",
    "pipeline/logger.sh",
    "pipeline/linter.sh",
    "pipeline/type-checker.sh",
    "pipeline/compiler.sh",
    "pipeline/test-runner.sh",
    "pipeline/security-scanner.sh",
    "pipeline/deployer.sh",
];

const DEBUG_FILES: &[Embedded] = embed![
    "debug.toml",
    "debug/lib.sh",
    "debug/server.sh",
    "debug/debugger.sh",
    "debug/fix.sh",
    "debug/tests.sh",
];

const SERVICES_FILES: &[Embedded] = embed![
    "services.toml",
    "services/lib.sh",
    "services/db.sh",
    "services/api.sh",
    "services/frontend.sh"
];

impl Scenario {
    /// The session name, which is also the rules file's stem.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Pipeline => "pipeline",
            Scenario::Services => "services",
            Scenario::Debug => "debug",
        }
    }

    fn files(self) -> &'static [Embedded] {
        match self {
            Scenario::Pipeline => PIPELINE_FILES,
            Scenario::Services => SERVICES_FILES,
            Scenario::Debug => DEBUG_FILES,
        }
    }

    /// Seconds the scenario takes at speed 1 (the scripts' pauses added up).
    fn length_secs(self) -> f64 {
        match self {
            Scenario::Pipeline => 30.0,
            Scenario::Services => 6.0,
            // The chain's steps, and the 8 s deadline of its composite rule.
            Scenario::Debug => 20.0,
        }
    }

    /// The event the scenario ends on, for the scenarios that end on one.
    fn done_event(self) -> Option<&'static str> {
        match self {
            Scenario::Pipeline => Some(PIPELINE_DONE),
            Scenario::Debug => Some(DEBUG_DONE),
            Scenario::Services => None,
        }
    }

    fn rules_text(self) -> &'static str {
        self.files()[0].text
    }
}

/// How to run a demo (the flags of `ctmuxd demo`).
#[derive(Clone, Debug)]
pub struct DemoOptions {
    /// Which demo.
    pub scenario: Scenario,
    /// Run the scripts at [`FAST_SPEED`] (tests, impatient people).
    pub fast: bool,
    /// Make this fail: a service at start-up (`services`: its dependants are held), a stage
    /// (`pipeline`: the later stages are not started) or the tests (`debug`).
    pub fail: Option<String>,
    /// tmux socket name; default `ctmuxd-demo-<pid>`.
    pub socket: Option<String>,
    /// Event-log directory; default `events/` in the demo's temporary directory.
    pub events: Option<PathBuf>,
}

/// How a demo ended (setup errors are [`DemoError`]s).
#[derive(Clone, Debug)]
pub struct DemoReport {
    /// The scenario reached its end (a held chain under `--fail` counts as an end).
    pub finished: bool,
    /// The tmux socket name (`tmux -L <socket>`), left running.
    pub socket: String,
    /// The demo's session on it.
    pub session: String,
    /// Where the event log is.
    pub events_dir: PathBuf,
    /// Where the rules and scripts were written.
    pub files_dir: PathBuf,
}

/// Why a demo could not run.
#[derive(Debug, Error)]
pub enum DemoError {
    /// `--fail` named something that cannot fail in this scenario.
    #[error("--fail {label}: {why}")]
    BadFail {
        /// The label given.
        label: String,
        /// What would be accepted.
        why: String,
    },
    /// The session already exists on the chosen server.
    #[error("session `{session}` already exists on `{server}`; kill it (`{server} kill-session -t {session}`) or pick another -L")]
    SessionExists {
        /// `tmux -L name`.
        server: String,
        /// The session name.
        session: String,
    },
    /// A tmux command failed (tmux missing, bad socket name, ...).
    #[error("tmux {what}: {message}")]
    Tmux {
        /// Which step.
        what: &'static str,
        /// tmux's message or the I/O error.
        message: String,
    },
    /// The demo's files could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Files {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The embedded rules were refused (a build of mismatched rules and engine).
    #[error("the demo's rules file {}: {message}", path.display())]
    Rules {
        /// The rules file written.
        path: PathBuf,
        /// The loader's message.
        message: String,
    },
    /// The daemon failed to start or stopped with an error.
    #[error("the daemon: {0}")]
    Daemon(String),
    /// The event log could not be read.
    #[error("reading the event log {}: {source}", path.display())]
    EventLog {
        /// The log file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// Writing the timeline failed (stdout closed).
    #[error("writing the timeline: {0}")]
    Output(#[from] io::Error),
}

impl DemoError {
    /// Whether the user's arguments are at fault (exit status 2) rather than the run.
    pub fn is_usage(&self) -> bool {
        matches!(self, DemoError::BadFail { .. } | DemoError::SessionExists { .. })
    }
}

/// A `[[pane]]` of the scenario's rules: its label and what it waits for.
#[derive(Clone, Debug, PartialEq, Eq)]
struct PaneSpec {
    label: String,
    after: Vec<String>,
}

/// The `[[pane]]` tables of a rules text, in file order.
fn pane_specs(rules_text: &str) -> Result<Vec<PaneSpec>, String> {
    let doc: toml::Value = toml::from_str(rules_text).map_err(|e| e.to_string())?;
    let panes = doc.get("pane").and_then(toml::Value::as_array).cloned().unwrap_or_default();
    panes
        .iter()
        .map(|p| {
            let label =
                p.get("label").and_then(toml::Value::as_str).ok_or("a [[pane]] without a label")?;
            let after = p
                .get("after")
                .and_then(toml::Value::as_array)
                .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
                .unwrap_or_default();
            Ok(PaneSpec { label: label.to_string(), after })
        })
        .collect()
}

/// Runs a demo end to end, printing the timeline and summary to `out`; returns once
/// the scenario is over, `interrupt` resolves (Ctrl-C) or the scenario overran.
/// The tmux server is left running either way.
///
/// # Errors
/// [`DemoError`] when the arguments are wrong, tmux cannot start the session, the files
/// cannot be written, the daemon fails, or `out` cannot be written.
pub async fn run<W: Write>(
    opts: DemoOptions,
    out: &mut W,
    interrupt: impl Future<Output = ()>,
) -> Result<DemoReport, DemoError> {
    let scenario = opts.scenario;
    let session = scenario.name().to_string();
    let specs = pane_specs(scenario.rules_text()).map_err(|message| DemoError::Rules {
        path: PathBuf::from(scenario.files()[0].path),
        message,
    })?;
    if let Some(label) = &opts.fail {
        check_fail(scenario, &specs, label)?;
    }
    let speed = if opts.fast { FAST_SPEED } else { 1.0 };
    let socket =
        opts.socket.clone().unwrap_or_else(|| format!("ctmuxd-demo-{}", std::process::id()));
    let target = TmuxTarget::Name(socket.clone());
    let server = target.describe();

    let existing = tmux(&target, &["list-sessions", "-F", "#{session_name}"]).await.ok();
    if existing.as_ref().is_some_and(|names| names.contains(&session)) {
        return Err(DemoError::SessionExists { server, session });
    }
    let own_server = existing.is_none();

    let files_dir = write_files(scenario)?;
    let rules_path = files_dir.join(scenario.files()[0].path);
    let events_dir = opts.events.clone().unwrap_or_else(|| files_dir.join("events"));
    let log_path = events_dir.join(LOG_FILE);
    let mut args: Vec<String> =
        ["-f", "/dev/null", "new-session", "-d", "-s", &session, "-x", SESSION_SIZE.0]
            .iter()
            .map(|s| s.to_string())
            .collect();
    args.extend(["-y", SESSION_SIZE.1, "-P", "-F", "#{window_id}"].map(String::from));
    args.extend(["-c".to_string(), files_dir.display().to_string()]);
    for (k, v) in [
        ("CTMUXD_DEMO_SPEED", speed.to_string()),
        ("CTMUXD_DEMO_EVENTS", events_dir.display().to_string()),
        ("CTMUXD_DEMO_FAIL", opts.fail.clone().unwrap_or_default()),
        // Scripts that call tmux use the same release as ctmuxd (see `tmux_binary`).
        ("CTMUXD_TMUX", crate::tmux::tmux_binary()),
    ] {
        args.extend(["-e".to_string(), format!("{k}={v}")]);
    }
    let first_window = tmux(&target, &args)
        .await
        .map_err(|message| DemoError::Tmux { what: "starting the demo session", message })?
        .into_iter()
        .next()
        .unwrap_or_default();

    let rules = crate::rules::load(&rules_path)
        .map_err(|e| DemoError::Rules { path: rules_path.clone(), message: e.to_string() })?;
    let (mut follower, _) = Follower::with_backlog(&log_path, 0)
        .map_err(|source| DemoError::EventLog { path: log_path.clone(), source })?;

    writeln!(out, "ctmuxd demo {session}{}", if opts.fast { " (fast)" } else { "" })?;
    writeln!(
        out,
        "  tmux server  {server} (session {session}, {}x{})",
        SESSION_SIZE.0, SESSION_SIZE.1
    )?;
    writeln!(out, "  rules        {}", rules_path.display())?;
    writeln!(out, "  event log    {}", log_path.display())?;
    if let Some(label) = &opts.fail {
        writeln!(out, "  failing      {label} (CTMUXD_DEMO_FAIL={label})")?;
    }
    writeln!(
        out,
        "  attach       {server} attach -t {session}   (any time; Ctrl-C here stops the demo)\n"
    )?;
    writeln!(out, "{}", Progress::header())?;

    let start_ns = now_ns();
    let mut progress = Progress::new(scenario, specs, start_ns);
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let mut stop_tx = Some(stop_tx);
    let daemon_opts = DaemonOptions {
        target: target.clone(),
        session: Some(session.clone()),
        rules,
        events_dir: events_dir.clone(),
        record: None,
        shutdown_grace: Duration::from_secs(2),
        reconnect: false,
    };
    let daemon = daemon::run(daemon_opts, async move {
        let _ = stop_rx.await;
    });
    tokio::pin!(daemon);
    tokio::pin!(interrupt);
    let deadline =
        tokio::time::sleep(Duration::from_secs_f64(scenario.length_secs() * speed) + SLACK);
    tokio::pin!(deadline);
    let mut tick = tokio::time::interval(REFRESH);
    let mut window_tidied = false;
    let width = timeline::terminal_size().map_or(120, |(w, _)| w);

    // `ended`: why the loop stopped, when it was not the scenario finishing.
    let (exit, ended) = loop {
        tokio::select! {
            res = &mut daemon => break (Some(res), Some("the daemon stopped on its own".to_string())),
            _ = &mut interrupt => break (None, Some("interrupted".to_string())),
            _ = &mut deadline => break (None, Some("the scenario did not finish in time".to_string())),
            _ = tick.tick() => {
                let lines = follower.poll().map_err(|source| DemoError::EventLog { path: log_path.clone(), source })?;
                for line in lines {
                    let Ok(rec) = serde_json::from_str::<Record>(&line) else { continue };
                    if let Some(text) = progress.observe(&rec) {
                        writeln!(out, "{}", clip(&text, width))?;
                    }
                    if let Event::Pane(pane) = &rec.event {
                        if !window_tidied && pane.change == PaneChange::Spawned {
                            window_tidied = true;
                            tidy_first_window(&target, &first_window, pane.pane.as_deref().unwrap_or_default()).await;
                        }
                    }
                }
                out.flush()?;
                if progress.is_over(now_ns()) {
                    break (None, None);
                }
            }
        }
    };
    let exit = match exit {
        Some(res) => res,
        None => {
            if let Some(tx) = stop_tx.take() {
                let _ = tx.send(());
            }
            daemon.await
        }
    };
    // The daemon's last records (its "stopping" line) land after the loop.
    for line in follower.poll().unwrap_or_default() {
        if let Ok(rec) = serde_json::from_str::<Record>(&line) {
            if let Some(text) = progress.observe(&rec) {
                writeln!(out, "{}", clip(&text, width))?;
            }
        }
    }
    match exit {
        Ok(DaemonExit::Stopped) => {}
        Ok(DaemonExit::TmuxGone(why)) => {
            writeln!(out, "\nthe daemon stopped: tmux went away: {why}")?
        }
        Err(e) => return Err(DemoError::Daemon(format!("{e:#}"))),
    }
    if let Some(why) = &ended {
        writeln!(out, "\n{why}; stopping (the event log has everything so far)")?;
    }
    writeln!(out, "\n{}", progress.summary())?;
    write!(out, "{}", timeline::render(&progress.records, width.min(120), 8))?;
    writeln!(out, "\nthe session stays for inspection:")?;
    writeln!(out, "  attach   {server} attach -t {session}")?;
    if own_server {
        writeln!(out, "  remove   {server} kill-server && rm -r {}", files_dir.display())?;
    } else {
        writeln!(
            out,
            "  remove   {server} kill-session -t {session} && rm -r {}",
            files_dir.display()
        )?;
    }
    out.flush()?;
    Ok(DemoReport { finished: ended.is_none(), socket, session, events_dir, files_dir })
}

/// `--fail` only makes sense for a service the scripts know how to fail.
fn check_fail(scenario: Scenario, specs: &[PaneSpec], label: &str) -> Result<(), DemoError> {
    let why = match scenario {
        Scenario::Pipeline if PIPELINE_STAGES.contains(&label) => return Ok(()),
        Scenario::Pipeline => {
            format!("no such stage; pick one of {}", PIPELINE_STAGES.join(", "))
        }
        Scenario::Debug if label == "tests" => return Ok(()),
        Scenario::Debug => "the debug demo can fail `tests` only".to_string(),
        Scenario::Services if specs.iter().any(|s| s.label == label) => return Ok(()),
        Scenario::Services => format!(
            "no such service; pick one of {}",
            specs.iter().map(|s| s.label.as_str()).collect::<Vec<_>>().join(", ")
        ),
    };
    Err(DemoError::BadFail { label: label.to_string(), why })
}

/// Writes the scenario's embedded files into a fresh directory under the system's
/// temporary directory and returns it. It is left behind on purpose: the panes run
/// the scripts from it and the event log is in it.
fn write_files(scenario: Scenario) -> Result<PathBuf, DemoError> {
    let dir = std::env::temp_dir().join(format!(
        "ctmuxd-demo-{}-{}-{}",
        scenario.name(),
        std::process::id(),
        now_ns()
    ));
    write_embedded(scenario.files(), &dir)?;
    Ok(dir)
}

fn write_embedded(files: &[Embedded], dir: &Path) -> Result<(), DemoError> {
    use std::os::unix::fs::PermissionsExt;
    for f in files {
        let path = dir.join(f.path);
        let err = |source| DemoError::Files { path: path.clone(), source };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(err)?;
        }
        std::fs::write(&path, f.text).map_err(err)?;
        let mode = if f.path.ends_with(".sh") { 0o755 } else { 0o644 };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).map_err(err)?;
    }
    Ok(())
}

/// Runs a one-off tmux command on the demo's server (outside any tmux the user is in).
async fn tmux<S: AsRef<str>>(target: &TmuxTarget, args: &[S]) -> Result<Vec<String>, String> {
    let out = target
        .command(args.iter().map(|a| a.as_ref().to_string()))
        .env_remove("TMUX")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| format!("cannot run {}: {e}", crate::tmux::tmux_binary()))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    Ok(String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect())
}

/// Removes the session's initial shell window once the daemon's first pane has a window
/// of its own, and shows that window, so attaching lands on the demo's panes.
async fn tidy_first_window(target: &TmuxTarget, first_window: &str, pane: &str) {
    if first_window.is_empty() || pane.is_empty() {
        return;
    }
    let Ok(window) = tmux(target, &["display-message", "-p", "-t", pane, "#{window_id}"]).await
    else {
        return;
    };
    if window.first().is_some_and(|w| w != first_window) {
        let _ = tmux(target, &["kill-window", "-t", first_window]).await;
        let _ = tmux(target, &["select-window", "-t", pane]).await;
    }
}

/// Cuts a timeline line to the terminal width (by characters).
fn clip(text: &str, width: usize) -> String {
    let width = width.max(20);
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(width - 1).collect();
    cut.push('…');
    cut
}

/// A pane's lifecycle as far as the summary cares.
#[derive(Clone, Debug, Default)]
struct PaneTrack {
    spawned_ns: Option<u64>,
    ready_ns: Option<u64>,
    /// `failed` or `held`, with the record's message.
    stopped: Option<(String, String)>,
}

/// A trigger seen by a rule: when it was printed (`t=`) and when the match was recorded.
#[derive(Clone, Debug)]
struct Detection {
    rule: String,
    printed_ns: u64,
    matched_ns: u64,
    /// End of the rule's last successful spawn action, once recorded.
    opened_ns: Option<u64>,
}

/// The demo's reading of the event log: feeds the live timeline, decides when the
/// scenario is over and writes the summary. Pure (no I/O), so it is unit-tested on
/// synthetic records.
#[derive(Debug)]
struct Progress {
    scenario: Scenario,
    specs: Vec<PaneSpec>,
    start_ns: u64,
    alive: u64,
    peak: u64,
    panes: HashMap<String, PaneTrack>,
    detections: Vec<Detection>,
    /// The scenario's end event was seen.
    done_emitted: bool,
    /// The matches of the debug chain's steps: (rule, when, line).
    steps: Vec<(String, u64, String)>,
    /// Firings of rules with a condition, in order.
    conditions: Vec<crate::eventlog::ConditionEvent>,
    /// Time of the newest record and of the first failure (services).
    last_ns: u64,
    failure_ns: Option<u64>,
    /// Records of this run, for the chart (at most [`MAX_KEPT`]).
    records: Vec<Record>,
}

impl Progress {
    fn new(scenario: Scenario, specs: Vec<PaneSpec>, start_ns: u64) -> Progress {
        Progress {
            scenario,
            specs,
            start_ns,
            alive: 0,
            peak: 0,
            panes: HashMap::new(),
            detections: Vec::new(),
            done_emitted: false,
            steps: Vec::new(),
            conditions: Vec::new(),
            last_ns: start_ns,
            failure_ns: None,
            records: Vec::new(),
        }
    }

    fn header() -> String {
        format!("  {:>9}  {:<8}  {:<22}  {}", "time", "panes", "event", "action")
    }

    /// Takes one record into account; returns its timeline line, if it gets one.
    fn observe(&mut self, rec: &Record) -> Option<String> {
        let ts = rec.ts_ns;
        self.last_ns = self.last_ns.max(ts);
        if self.records.len() < MAX_KEPT {
            self.records.push(rec.clone());
        }
        let text = |field: &Option<String>| field.clone().unwrap_or_default();
        let (event, action) = match &rec.event {
            Event::Match(m) => {
                let (rule, line) = (text(&m.origin.rule), text(&m.origin.line));
                let action = match capture_ns(m) {
                    Some(printed) => {
                        self.detections.push(Detection {
                            rule: rule.clone(),
                            printed_ns: printed,
                            matched_ns: ts,
                            opened_ns: None,
                        });
                        format!("seen {} after printing: {line}", ms(ts as i128 - printed as i128))
                    }
                    None => format!("{}: {line}", text(&m.origin.label)),
                };
                self.steps.push((rule.clone(), ts, line.clone()));
                (format!("match {rule}"), action)
            }
            Event::Action(a) => {
                let (kind, ok, rule) = (a.action.as_str(), a.ok, text(&a.origin.rule));
                if kind == "spawn" && ok {
                    if let Some(d) = self.detections.iter_mut().rev().find(|d| d.rule == rule) {
                        d.opened_ns = Some(d.opened_ns.map_or(ts, |o| o.max(ts)));
                    }
                }
                // Successful spawns, closes and emits show as their own records.
                if ok && matches!(kind, "spawn" | "close" | "emit") {
                    return None;
                }
                let target = [&a.target_label, &a.origin.label, &a.origin.pane]
                    .into_iter()
                    .map(text)
                    .find(|t| !t.is_empty());
                let outcome =
                    if ok { "ok".to_string() } else { format!("FAILED: {}", text(&a.error)) };
                (format!("{kind} by {rule}"), format!("{} {outcome}", target.unwrap_or_default()))
            }
            Event::Pane(p) => {
                let what = p.change.name().to_string();
                let label = text(&p.label);
                if let Some(n) = p.panes_alive {
                    self.alive = n as u64;
                    self.peak = self.peak.max(self.alive);
                }
                let track = self.panes.entry(label.clone()).or_default();
                let message = text(&p.message);
                match p.change {
                    PaneChange::Spawned => track.spawned_ns = Some(ts),
                    PaneChange::Ready => track.ready_ns = Some(ts),
                    PaneChange::Failed | PaneChange::Held => {
                        track.stopped = Some((what.clone(), message.clone()));
                        self.failure_ns.get_or_insert(ts);
                    }
                    _ => {}
                }
                let action = if message.is_empty() { label } else { format!("{label}: {message}") };
                (format!("pane {what}"), action)
            }
            Event::Condition(c) => {
                self.conditions.push(c.clone());
                (format!("condition {}", text(&c.origin.rule)), crate::eventlog::condition_text(c))
            }
            Event::Emit(e) => {
                if Some(e.name.as_str()) == self.scenario.done_event() {
                    self.done_emitted = true;
                }
                (format!("emit {}", e.name), format!("by {}", e.rule))
            }
            other => (other.kind().to_string(), other.message().unwrap_or_default().to_string()),
        };
        let bar: String = "█".repeat(self.alive.min(8) as usize);
        Some(format!(
            "  {:>9}  {:<2} {:<5}  {:<22}  {action}",
            format!("+{:.3}s", ts.saturating_sub(self.start_ns) as f64 / 1e9),
            self.alive,
            bar,
            event
        ))
    }

    /// Whether the scenario has reached its end by the records so far.
    fn is_over(&self, now_ns: u64) -> bool {
        match self.scenario {
            Scenario::Pipeline | Scenario::Debug => self.done_emitted,
            Scenario::Services => {
                let settled = |p: Option<&PaneTrack>| {
                    p.is_some_and(|p| p.ready_ns.is_some() || p.stopped.is_some())
                };
                self.specs.iter().all(|s| settled(self.panes.get(&s.label)))
                    || self.failure_ns.is_some() && now_ns.saturating_sub(self.last_ns) >= SETTLE_NS
            }
        }
    }

    /// The end-of-run summary.
    fn summary(&self) -> String {
        let mut out = String::from("summary\n");
        let _ = writeln!(out, "  peak panes alive: {}", self.peak);
        match self.scenario {
            Scenario::Pipeline => self.pipeline_summary(&mut out),
            Scenario::Services => self.services_summary(&mut out),
            Scenario::Debug => self.debug_summary(&mut out),
        }
        out
    }

    fn debug_summary(&self, out: &mut String) {
        out.push_str("  the chain (each step's line, and when it was seen):\n");
        for (rule, ts, line) in &self.steps {
            let at = ts.saturating_sub(self.start_ns) as f64 / 1e9;
            let _ = writeln!(out, "    {rule:<14} +{at:.3}s  {}", clip(line, 80));
        }
        match self
            .conditions
            .iter()
            .rev()
            .find(|c| c.origin.rule.as_deref() == Some("chain-closed"))
        {
            Some(c) if c.timed_out => {
                let _ = writeln!(
                    out,
                    "  NOT CLOSED: the tests did not pass in time; missing {} (see the report pane)",
                    c.missing.join(", ")
                );
            }
            Some(c) => {
                let _ = writeln!(
                    out,
                    "  closed by chain-closed: {}",
                    crate::eventlog::condition_text(c)
                );
            }
            None => out.push_str("  the chain did not reach its composite rule\n"),
        }
    }

    fn pipeline_summary(&self, out: &mut String) {
        let failed =
            self.conditions.iter().find(|c| c.origin.rule.as_deref() == Some("pipeline-failed"));
        if let Some(c) = failed {
            let stage = c.origin.label.as_deref().unwrap_or("?");
            let line = c.parts.last().and_then(|p| p.line.as_deref()).unwrap_or("");
            let _ = writeln!(
                out,
                "  FAILED: stage {stage} ({}); the later stages were not started (see the report pane)",
                clip(line, 80)
            );
        }
        if self.detections.is_empty() {
            out.push_str("  no trigger was detected\n");
            return;
        }
        out.push_str("  detection (trigger printed -> match recorded), and until the stage's panes were open:\n");
        let mut lat: Vec<i128> = Vec::new();
        for d in &self.detections {
            let seen = d.matched_ns as i128 - d.printed_ns as i128;
            lat.push(seen);
            let opened = d.opened_ns.map_or(String::new(), |o| {
                format!("   panes open {}", ms(o as i128 - d.printed_ns as i128))
            });
            let _ = writeln!(out, "    {:<16} {:>9}{opened}", d.rule, ms(seen));
        }
        lat.sort_unstable();
        let mid = lat.len() / 2;
        let median =
            if lat.len().is_multiple_of(2) { (lat[mid - 1] + lat[mid]) / 2 } else { lat[mid] };
        let _ = writeln!(
            out,
            "    {} trigger(s): median {}, max {}",
            lat.len(),
            ms(median),
            ms(*lat.last().unwrap_or(&0))
        );
    }

    fn services_summary(&self, out: &mut String) {
        out.push_str(
            "  start order (delay = started after its dependency printed its ready line):\n",
        );
        let mut order: Vec<&PaneSpec> = self.specs.iter().collect();
        let started = |s: &PaneSpec| self.panes.get(&s.label).and_then(|p| p.spawned_ns);
        // Started ones by start time, then the ones that never started, in file order.
        order.sort_by_key(|s| started(s).map_or((1, 0), |t| (0, t)));
        for spec in order {
            let track = self.panes.get(&spec.label).cloned().unwrap_or_default();
            let mut line = format!("    {:<10}", spec.label);
            match track.spawned_ns {
                Some(t) => {
                    let dep_ready = spec
                        .after
                        .iter()
                        .filter_map(|d| self.panes.get(d).and_then(|p| p.ready_ns).map(|r| (d, r)))
                        .max_by_key(|(_, r)| *r);
                    match dep_ready {
                        Some((dep, r)) => {
                            let _ = write!(
                                line,
                                " started {} after {dep} was ready",
                                ms(t as i128 - r as i128)
                            );
                        }
                        None => {
                            let _ = write!(
                                line,
                                " started at +{:.3}s",
                                t.saturating_sub(self.start_ns) as f64 / 1e9
                            );
                        }
                    }
                    if let Some(r) = track.ready_ns {
                        let _ =
                            write!(line, ", ready {:.3}s later", r.saturating_sub(t) as f64 / 1e9);
                    }
                }
                None if track.stopped.is_none() => line.push_str(" never started"),
                None => {}
            }
            if let Some((what, message)) = &track.stopped {
                let _ = write!(line, " {}: {message}", what.to_uppercase());
            }
            out.push_str(&line);
            out.push('\n');
        }
    }
}

/// The `t=<ns>` a trigger line carried, from the match record's `captures.t`.
fn capture_ns(m: &MatchEvent) -> Option<u64> {
    m.captures.as_ref()?.get("t")?.parse().ok()
}

/// A signed nanosecond difference as milliseconds (`1.234 ms`).
fn ms(ns: i128) -> String {
    format!("{:.3} ms", ns as f64 / 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    const T0: u64 = 1_800_000_000_000_000_000;
    const MS: u64 = 1_000_000;

    fn pane(at_ms: u64, action: &str, label: &str, alive: u64) -> Value {
        json!({"ts_ns": T0 + at_ms * MS, "event": "pane", "action": action, "label": label,
               "pane": "%9", "panes_alive": alive})
    }

    /// What the demo does with a line of the log: read it as a record, then observe it.
    fn observe(p: &mut Progress, line: &Value) -> Option<String> {
        p.observe(&serde_json::from_value(line.clone()).ok()?)
    }

    fn services() -> Progress {
        Progress::new(Scenario::Services, pane_specs(Scenario::Services.rules_text()).unwrap(), T0)
    }

    #[test]
    fn embedded_rules_declare_the_panes_and_the_chain() {
        let labels = |s: Scenario| pane_specs(s.rules_text()).unwrap();
        let p = labels(Scenario::Pipeline);
        assert_eq!(
            p.iter().map(|s| s.label.as_str()).collect::<Vec<_>>(),
            ["orchestrator", "monitor", "logger"]
        );
        let s = labels(Scenario::Services);
        assert_eq!(
            s.iter().map(|s| (s.label.as_str(), s.after.clone())).collect::<Vec<_>>(),
            [
                ("db", vec![]),
                ("api", vec!["db".to_string()]),
                ("frontend", vec!["api".to_string()])
            ]
        );
    }

    /// Plays the pipeline rules' actions in order on the 3 permanent panes: the
    /// sequence of spawns and closes the integration test expects, never above 5.
    #[test]
    fn pipeline_rules_open_and_close_stages_in_order_within_five_panes() {
        let doc: toml::Value = toml::from_str(Scenario::Pipeline.rules_text()).unwrap();
        let mut alive: Vec<String> = Vec::new();
        let (mut seq, mut peak) = (Vec::new(), 0);
        for pane in doc["pane"].as_array().unwrap() {
            alive.push(pane["label"].as_str().unwrap().to_string());
            seq.push(format!("+{}", alive[alive.len() - 1]));
        }
        for rule in doc["rule"].as_array().unwrap() {
            if rule["name"].as_str() == Some("pipeline-failed") {
                // The failure branch: only under `--fail` (tests/it/demo.rs runs it).
                continue;
            }
            for action in rule["actions"].as_array().unwrap() {
                if let Some(label) = action.get("close").and_then(|c| c.as_str()) {
                    assert!(alive.iter().any(|a| a == label), "{label} closed while not open");
                    alive.retain(|a| a != label);
                    seq.push(format!("-{label}"));
                }
                if let Some(spawn) = action.get("spawn") {
                    let label = spawn["label"].as_str().unwrap().to_string();
                    let script = spawn["command"][1].as_str().unwrap();
                    assert!(
                        PIPELINE_FILES.iter().any(|f| f.path == script),
                        "{script} is embedded"
                    );
                    alive.push(label.clone());
                    peak = peak.max(alive.len());
                    seq.push(format!("+{label}"));
                }
            }
        }
        assert_eq!(seq, PIPELINE_CHANGES);
        assert_eq!(peak, 5);
    }

    #[test]
    fn embedded_scripts_are_valid_sh_and_land_executable() {
        let dir = tempfile::tempdir().unwrap();
        for scenario in [Scenario::Pipeline, Scenario::Services] {
            write_embedded(scenario.files(), dir.path()).unwrap();
            for f in scenario.files().iter().filter(|f| f.path.ends_with(".sh")) {
                let path = dir.path().join(f.path);
                let st = std::process::Command::new("sh").arg("-n").arg(&path).status().unwrap();
                assert!(st.success(), "sh -n {}", f.path);
                use std::os::unix::fs::PermissionsExt;
                assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o755);
            }
        }
    }

    #[test]
    fn orchestrator_prints_the_four_triggers_with_their_print_time() {
        let dir = tempfile::tempdir().unwrap();
        write_embedded(PIPELINE_FILES, dir.path()).unwrap();
        let before = now_ns();
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg("timeout 5 sh pipeline/orchestrator.sh 0.01 | head -n 6")
            .current_dir(dir.path())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let triggers: Vec<(&str, u64)> = text
            .lines()
            .filter_map(|l| l.strip_prefix("TRIGGER: "))
            .map(|l| {
                let (name, t) = l.split_once(" t=").unwrap();
                (name, t.parse().unwrap())
            })
            .collect();
        let names: Vec<&str> = triggers.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            ["START_ANALYSIS", "START_BUILD", "START_SECURITY", "START_DEPLOY"],
            "{text}"
        );
        assert!(triggers.windows(2).all(|w| w[0].1 < w[1].1), "times increase: {triggers:?}");
        assert!(
            triggers[0].1 >= before && triggers[3].1 <= now_ns(),
            "wall-clock ns: {triggers:?}"
        );
    }

    #[test]
    fn failing_db_script_says_fatal_and_exits_non_zero() {
        let dir = tempfile::tempdir().unwrap();
        write_embedded(SERVICES_FILES, dir.path()).unwrap();
        let out = std::process::Command::new("sh")
            .arg("services/db.sh")
            .env("CTMUXD_DEMO_SPEED", "0.01")
            .env("CTMUXD_DEMO_FAIL", "api,db")
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("FATAL:  could not bind"), "{text}");
        assert!(!text.contains("ready to accept connections"), "{text}");
    }

    #[test]
    fn fail_is_checked_against_the_services() {
        let specs = pane_specs(Scenario::Services.rules_text()).unwrap();
        assert!(check_fail(Scenario::Services, &specs, "db").is_ok());
        let e = check_fail(Scenario::Services, &specs, "cache").unwrap_err();
        assert_eq!(e.to_string(), "--fail cache: no such service; pick one of db, api, frontend");
        assert!(e.is_usage());
        assert!(check_fail(Scenario::Pipeline, &[], "linter").is_ok());
        let e = check_fail(Scenario::Pipeline, &[], "db").unwrap_err();
        assert_eq!(
            e.to_string(),
            "--fail db: no such stage; pick one of linter, type-checker, compiler, test-runner, security-scanner, deployer"
        );
        assert!(check_fail(Scenario::Debug, &[], "tests").is_ok());
        assert!(check_fail(Scenario::Debug, &[], "fix").is_err());
    }

    #[test]
    fn every_pipeline_stage_can_fail_and_says_so_in_the_line_its_rule_watches() {
        let rules =
            crate::rules::parse(Scenario::Pipeline.rules_text(), Path::new("p.toml")).unwrap();
        let said = rules.get("stage-said-failed").unwrap();
        let re = regex::Regex::new(&said.pattern).unwrap();
        for stage in PIPELINE_STAGES {
            let script = PIPELINE_FILES
                .iter()
                .find(|f| f.path == format!("pipeline/{stage}.sh"))
                .unwrap_or_else(|| panic!("no script for {stage}"));
            assert!(script.text.contains(&format!("fail_if_asked {stage} '")), "{stage}");
            assert!(re.is_match(&format!("{stage}: FAILED: x")), "{stage}");
        }
    }

    #[test]
    fn debug_progress_lists_the_chain_and_ends_closed_or_reported() {
        let chain = |end: Value| {
            let mut p = Progress::new(Scenario::Debug, Vec::new(), T0);
            for (at, rule, line) in
                [(1_000, "invalid-token", "Error: Invalid token"), (2_000, "fix-done", "fix: done")]
            {
                observe(
                    &mut p,
                    &json!({"ts_ns": T0 + at * MS, "event": "match", "rule": rule, "label": "x", "line": line}),
                );
            }
            let shown = observe(&mut p, &end).unwrap();
            assert!(!p.is_over(u64::MAX), "the chain ends on its done event");
            observe(
                &mut p,
                &json!({"ts_ns": T0 + 9_000 * MS, "event": "emit", "name": DEBUG_DONE, "rule": "chain-closed"}),
            );
            assert!(p.is_over(0));
            (shown, p.summary())
        };
        let (shown, sum) = chain(
            json!({"ts_ns": T0 + 3_000 * MS, "event": "condition", "rule": "chain-closed",
            "condition": "all", "parts": [{"name": "fix-done", "pane": "%3", "label": "fix", "ts_ns": T0},
                                          {"name": "tests-passed", "pane": "%4", "label": "tests", "ts_ns": T0}]}),
        );
        assert!(
            shown.contains(
                "condition chain-closed  all fired: fix-done (%3 fix), tests-passed (%4 tests)"
            ),
            "{shown}"
        );
        assert!(sum.contains("    invalid-token  +1.000s  Error: Invalid token\n"), "{sum}");
        assert!(sum.contains("  closed by chain-closed: all fired: fix-done (%3 fix)"), "{sum}");
        let (_, sum) =
            chain(json!({"ts_ns": T0 + 10_000 * MS, "event": "condition", "rule": "chain-closed",
            "condition": "all", "timed_out": true, "missing": ["tests-passed"], "parts": []}));
        assert!(
            sum.contains("NOT CLOSED: the tests did not pass in time; missing tests-passed"),
            "{sum}"
        );
    }

    #[test]
    fn pipeline_progress_measures_detection_and_ends_on_the_done_event() {
        let mut p = Progress::new(Scenario::Pipeline, Vec::new(), T0);
        observe(&mut p, &pane(10, "spawned", "orchestrator", 1));
        let printed = T0 + 5_000 * MS;
        let m = json!({"ts_ns": printed + 2 * MS, "event": "match", "rule": "start-analysis", "label": "orchestrator",
                       "line": format!("TRIGGER: START_ANALYSIS t={printed}"), "captures": {"t": printed.to_string()}});
        let line = observe(&mut p, &m).unwrap();
        assert!(line.contains("match start-analysis"), "{line}");
        assert!(
            line.contains("seen 2.000 ms after printing: TRIGGER: START_ANALYSIS t="),
            "{line}"
        );
        let spawn = json!({"ts_ns": printed + 9 * MS, "event": "action", "rule": "start-analysis", "action": "spawn",
                           "ok": true, "label": "linter"});
        assert_eq!(observe(&mut p, &spawn), None, "a successful spawn shows as its pane record");
        let line = observe(&mut p, &pane(5_010, "spawned", "linter", 5)).unwrap();
        assert!(
            line.starts_with("    +5.010s  5  █████  pane spawned            linter"),
            "{line}"
        );
        assert!(!p.is_over(u64::MAX));
        let printed2 = T0 + 5_500 * MS;
        observe(
            &mut p,
            &json!({"ts_ns": printed2 + 4 * MS, "event": "match", "rule": "start-build", "label": "orchestrator",
                          "line": "TRIGGER: START_BUILD", "captures": {"t": printed2.to_string()}}),
        );
        observe(
            &mut p,
            &json!({"ts_ns": T0 + 6_000 * MS, "event": "emit", "name": PIPELINE_DONE, "rule": "deployed"}),
        );
        assert!(p.is_over(0));
        let sum = p.summary();
        assert!(sum.contains("peak panes alive: 5"), "{sum}");
        assert!(sum.contains("    start-analysis    2.000 ms   panes open 9.000 ms\n"), "{sum}");
        assert!(
            sum.contains("    start-build       4.000 ms\n"),
            "no spawn recorded: no open time\n{sum}"
        );
        assert!(sum.contains("2 trigger(s): median 3.000 ms, max 4.000 ms"), "{sum}");
    }

    #[test]
    fn failed_actions_are_shown_with_their_error() {
        let mut p = Progress::new(Scenario::Pipeline, Vec::new(), T0);
        let rec = json!({"ts_ns": T0, "event": "action", "rule": "start-build", "action": "close", "ok": false,
                         "target_label": "linter", "error": "no pane labelled linter"});
        let line = observe(&mut p, &rec).unwrap();
        assert!(line.contains("close by start-build"), "{line}");
        assert!(line.ends_with("linter FAILED: no pane labelled linter"), "{line}");
        assert_eq!(observe(&mut p, &json!({"event": "pane"})), None, "no ts_ns: ignored");
    }

    #[test]
    fn services_end_when_all_are_ready_with_delays_after_dependencies() {
        let mut p = services();
        for rec in [
            pane(5, "spawned", "db", 1),
            pane(1_500, "ready", "db", 1),
            pane(1_502, "spawned", "api", 2),
            pane(3_000, "ready", "api", 2),
            pane(3_001, "spawned", "frontend", 3),
        ] {
            observe(&mut p, &rec);
            assert!(!p.is_over(T0 + 3_100 * MS));
        }
        observe(&mut p, &pane(4_000, "ready", "frontend", 3));
        assert!(p.is_over(T0 + 4_000 * MS));
        let sum = p.summary();
        let lines: Vec<&str> = sum.lines().skip(3).collect();
        assert_eq!(lines[0], "    db         started at +0.005s, ready 1.495s later");
        assert_eq!(
            lines[1],
            "    api        started 2.000 ms after db was ready, ready 1.498s later"
        );
        assert_eq!(
            lines[2],
            "    frontend   started 1.000 ms after api was ready, ready 0.999s later"
        );
    }

    #[test]
    fn services_with_a_failed_db_end_once_dependants_are_held() {
        let mut p = services();
        observe(&mut p, &pane(5, "spawned", "db", 1));
        let failed = json!({"ts_ns": T0 + 400 * MS, "event": "pane", "action": "failed", "label": "db",
                            "message": "output matched fail pattern", "panes_alive": 0});
        observe(&mut p, &failed);
        assert!(!p.is_over(T0 + 500 * MS), "api not held yet");
        let held = |label: &str| {
            json!({"ts_ns": T0 + 401 * MS, "event": "pane", "action": "held", "label": label,
                   "message": "waiting for db, which failed", "panes_alive": 0})
        };
        let line = observe(&mut p, &held("api")).unwrap();
        assert!(
            line.contains("pane held") && line.contains("api: waiting for db, which failed"),
            "{line}"
        );
        assert!(!p.is_over(T0 + 402 * MS));
        // Without the frontend's record the scenario still ends once the log goes quiet.
        assert!(p.is_over(T0 + 401 * MS + SETTLE_NS));
        observe(&mut p, &held("frontend"));
        assert!(p.is_over(T0 + 402 * MS));
        let sum = p.summary();
        assert!(
            sum.contains("    db         started at +0.005s FAILED: output matched fail pattern"),
            "{sum}"
        );
        assert!(sum.contains("    api        HELD: waiting for db, which failed"), "{sum}");
        assert!(sum.contains("    frontend   HELD: waiting for db, which failed"), "{sum}");
    }

    #[test]
    fn clip_cuts_long_lines_on_a_character_boundary() {
        assert_eq!(clip("short", 80), "short");
        let long = "é".repeat(100);
        let cut = clip(&long, 30);
        assert_eq!(cut.chars().count(), 30);
        assert!(cut.ends_with('…'));
    }
}
