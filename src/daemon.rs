//! The control-mode daemon: attaches to tmux, keeps the pane registry current from
//! notifications alone, feeds every pane's output to the [`Engine`] on the reader tasks,
//! and hands firings to the [`Dispatcher`].
//!
//! Without `-t`, one control connection per session (a control client only receives
//! `%output` for panes of the session it is attached to), added and dropped as
//! `%sessions-changed` says. Each connection's events go through its
//! [`Router`]. A pane whose window is linked into two sessions
//! is fed from one connection only (the first to deliver its output, see
//! [`Pane::claim_feed`](crate::panes::Pane::claim_feed)), so nothing fires twice.

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tmux_control_parser::{Event, PaneId, SessionId, WindowId};
use tokio::sync::mpsc;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::action_tasks::Dispatcher;
use crate::checkpoint::{self, Checkpoint, PaneMark};
use crate::eventlog::{CatchUpEvent, DaemonEvent, Origin, Record, SkippedEvent};
use crate::firing::{now_ns, Engine, ScreenSeed};
use crate::pane_lifecycle;
use crate::panes::PaneInfo;
use crate::rules::RuleSet;
use crate::tmux::command::line;
use crate::tmux::control::{ConnectOptions, ConnectionEnd, ControlClient};
use crate::tmux::format;
use crate::tmux::labelled::{self, PaneRecord, LABEL_OPTION};
use crate::tmux::router::{Hold, RouteSink, Router};
use crate::tmux::version::TmuxVersion;
use crate::tmux::{TmuxError, TmuxTarget};

/// How a run ended: defined in [`crate::exit`] (polling returns it too), re-exported here
/// so `daemon::DaemonExit` keeps working.
pub use crate::exit::{DaemonError, DaemonExit};

/// Name of the format subscription that reports label changes.
const LABEL_SUBSCRIPTION: &str = "ctmuxd_label";
/// Name of the format subscription that reports dead panes and their exit status.
const DEAD_SUBSCRIPTION: &str = "ctmuxd_dead";

/// How to run the daemon.
#[derive(Clone, Debug)]
pub struct DaemonOptions {
    /// Which tmux server.
    pub target: TmuxTarget,
    /// Watch only this session (`-t`); `None` watches every session of the server.
    pub session: Option<String>,
    /// The validated rules.
    pub rules: RuleSet,
    /// Where the event log lives.
    pub events_dir: PathBuf,
    /// Record the raw control-mode stream here (`--record`).
    pub record: Option<PathBuf>,
    /// How long to wait for running actions at shutdown.
    pub shutdown_grace: Duration,
    /// When tmux goes away, wait for it (with backoff) and carry on instead of exiting.
    pub reconnect: bool,
}

/// Events the reader tasks forward to the control loop: everything but pane output.
enum Control {
    Event { session: SessionId, event: Event },
    Ended { session: SessionId, end: ConnectionEnd },
}

struct Conn {
    client: ControlClient,
    name: String,
    /// While `Some`, the connection's pane output is held here instead of matched, until
    /// its panes have been caught up (see [`catch_up`]).
    stash: Arc<Hold>,
}

/// Shared between the control loop and the reader tasks.
struct Shared {
    engine: Arc<Mutex<Engine>>,
    dispatcher: Dispatcher,
    /// Connections attached so far: numbers each `--record` file, so a connection made
    /// after another one ended never appends to a file a live connection writes.
    attached: std::sync::atomic::AtomicUsize,
    /// The release of the server watched now (`#{version}`), read at each connect.
    tmux_version: Arc<Mutex<Option<TmuxVersion>>>,
    /// The checkpoint file; `None` when it cannot be opened (catch-up is then off).
    checkpoint: Option<Checkpoint>,
    /// `pid start_time` of the server the panes belong to (the checkpoint's key).
    server_key: Mutex<String>,
    /// Marks loaded from the checkpoint, each taken by its pane's catch-up.
    saved: Mutex<HashMap<PaneId, PaneMark>>,
    /// Output arrived since the last checkpoint.
    dirty: AtomicBool,
    /// When output last arrived, ns since the epoch.
    last_output_ns: AtomicU64,
    /// Wakes the task that writes the checkpoint once output is quiet.
    quiet_save: tokio::sync::Notify,
    /// The link's state for `status`, when this server is one of several
    /// ([`ServerWatch`]); told when the server is attached, which ends an outage.
    link: Option<Arc<crate::link::Link>>,
}

impl Shared {
    fn new(
        dispatcher: Dispatcher,
        checkpoint: std::io::Result<Checkpoint>,
        link: Option<Arc<crate::link::Link>>,
    ) -> Arc<Shared> {
        Arc::new(Shared {
            engine: dispatcher.engine.clone(),
            dispatcher,
            attached: Default::default(),
            tmux_version: Default::default(),
            checkpoint: match checkpoint {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::warn!(
                        "no checkpoint (lines printed while ctmuxd is down will not be matched): {e}"
                    );
                    None
                }
            },
            server_key: Mutex::default(),
            saved: Mutex::default(),
            dirty: AtomicBool::new(false),
            last_output_ns: AtomicU64::new(0),
            quiet_save: tokio::sync::Notify::new(),
            link,
        })
    }

    /// Writes the checkpoint: the engine's marks, and the saved marks of panes still
    /// waiting for their catch-up (so a second restart does not lose or repeat them).
    fn save_checkpoint(&self, engine: &Engine) {
        let Some(cp) = &self.checkpoint else { return };
        let key = self.server_key.lock().expect("key").clone();
        if key.is_empty() {
            return;
        }
        let saved = self.saved.lock().expect("saved");
        let mut marks: Vec<(PaneId, PaneMark)> = engine
            .marks()
            .into_iter()
            .filter(|(id, m)| !m.tail.is_empty() && !saved.contains_key(id))
            .collect();
        marks.extend(saved.iter().map(|(id, m)| (*id, m.clone())));
        drop(saved);
        marks.sort_by_key(|(id, _)| *id);
        if let Err(e) = cp.save(&key, &marks) {
            tracing::warn!("writing {}: {e}", cp.path().display());
        }
    }

    /// Output arrived: the checkpoint is written once it has been quiet for 250 ms.
    fn output_seen(&self) {
        self.last_output_ns.store(now_ns(), Ordering::Relaxed);
        if !self.dirty.swap(true, Ordering::AcqRel) {
            self.quiet_save.notify_one();
        }
    }
}

/// How long output must pause before the checkpoint is written.
const CHECKPOINT_QUIET: Duration = Duration::from_millis(250);

/// Writes the checkpoint whenever output has been quiet for [`CHECKPOINT_QUIET`].
async fn quiet_saver(shared: Arc<Shared>) {
    loop {
        shared.quiet_save.notified().await;
        loop {
            let since = now_ns().saturating_sub(shared.last_output_ns.load(Ordering::Relaxed));
            let since = Duration::from_nanos(since);
            if since >= CHECKPOINT_QUIET {
                break;
            }
            tokio::time::sleep(CHECKPOINT_QUIET - since).await;
        }
        shared.dirty.store(false, Ordering::Release);
        let engine = shared.engine.lock().expect("engine");
        shared.save_checkpoint(&engine);
    }
}

/// Runs the daemon until `shutdown` resolves or tmux goes away (with
/// [`DaemonOptions::reconnect`], until `shutdown` only).
///
/// # Errors
/// When the server is not running, no session can be attached, the rules do not compile,
/// or the event log cannot be opened, at start. Once running, errors are logged, not returned.
pub async fn run(
    opts: DaemonOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<DaemonExit, DaemonError> {
    let dispatcher = Dispatcher::for_rules(&opts.rules, &opts.events_dir, "control")?;
    crate::deadlines::start(&dispatcher);
    dispatcher.log().set_server(opts.target.log_name());
    dispatcher.runner().set_server(&opts.target.log_name());
    let shared = Shared::new(dispatcher, Checkpoint::open(&opts.events_dir), None);
    let saver = tokio::spawn(quiet_saver(shared.clone()));

    // The control API: bound before anything starts, so a second daemon for the same
    // server is refused at once; `ctmuxd stop` ends the daemon like a signal.
    let listener = crate::api::server::bind(&crate::api::socket_path(&opts.target))
        .await
        .map_err(DaemonError::Api)?;
    let stop = Arc::new(tokio::sync::Notify::new());
    let backend: Arc<dyn crate::api::Backend> = Arc::new(crate::answers::DaemonBackend::new(
        shared.dispatcher.clone(),
        opts.target.clone(),
        stop.clone(),
        shared.tmux_version.clone(),
    ));
    let api_end = tokio_util::sync::CancellationToken::new();
    // On a thread and runtime of its own: a flood of API requests never keeps the tasks
    // that read tmux's output (and fire rules) waiting for a worker thread.
    let api = listener.serve_on_own_thread(backend, api_end.clone()).map_err(DaemonError::Api)?;
    let shutdown = async move {
        tokio::select! {
            _ = shutdown => {}
            _ = stop.notified() => tracing::info!("stop requested through the API"),
        }
    };
    tokio::pin!(shutdown);

    let mut server: Option<ServerIdentity> = None;
    let mut attempt = 0u32;
    let exit = loop {
        let phase = serve(&opts, &shared, &mut server, &mut shutdown).await;
        let why = match phase {
            Ok(Phase::Stopped) => break DaemonExit::Stopped,
            Ok(Phase::Gone(why)) => {
                attempt = 0;
                why
            }
            // The first connection must work; later ones are retried.
            Err(e) if server.is_none() => {
                api_end.cancel();
                let _ = api.await;
                shared.dispatcher.shutdown(Duration::ZERO).await;
                return Err(e);
            }
            Err(e) => e.to_string(),
        };
        if !opts.reconnect {
            break DaemonExit::TmuxGone(why);
        }
        let delay = backoff(attempt);
        attempt = attempt.saturating_add(1);
        let message = format!("tmux gone ({why}); reconnecting in {} ms", delay.as_millis());
        tracing::warn!("{message}");
        shared.dispatcher.append(&Record::now(DaemonEvent::say(message)));
        tokio::select! {
            _ = &mut shutdown => break DaemonExit::Stopped,
            _ = tokio::time::sleep(delay) => {}
        }
    };

    api_end.cancel();
    let _ = api.await;
    saver.abort();
    shared.save_checkpoint(&shared.engine.lock().expect("engine"));
    shared.dispatcher.append(&Record::now(DaemonEvent::say(match &exit {
        DaemonExit::Stopped => "stopping: signal".to_string(),
        DaemonExit::TmuxGone(why) => format!("stopping: {why}"),
    })));
    let left = shared.dispatcher.shutdown(opts.shutdown_grace).await;
    if left > 0 {
        tracing::warn!(
            "{left} action(s) still running after {:?}; leaving them",
            opts.shutdown_grace
        );
    }
    Ok(exit)
}

/// One server of a daemon that watches several ([`crate::servers`]): today's machinery
/// for one server (its control connections and routers, its engine and dispatcher, its
/// checkpoint), attached and re-attached by the supervisor's loop. A server lost leaves
/// the others alone: nothing here is shared with another server's watch but the log file.
pub struct ServerWatch {
    opts: DaemonOptions,
    shared: Arc<Shared>,
    identity: Option<ServerIdentity>,
    /// The task writing the checkpoint at quiet moments; aborted by [`ServerWatch::finish`].
    saver: tokio::task::JoinHandle<()>,
}

impl ServerWatch {
    /// Watches `opts.target` for `dispatcher` (its log and exec runner named after the
    /// server already), keeping its read marks in `checkpoint` and its state in `link`.
    pub fn new(
        opts: DaemonOptions,
        dispatcher: Dispatcher,
        checkpoint: std::io::Result<Checkpoint>,
        link: Arc<crate::link::Link>,
    ) -> ServerWatch {
        let shared = Shared::new(dispatcher, checkpoint, Some(link));
        let saver = tokio::spawn(quiet_saver(shared.clone()));
        ServerWatch { opts, shared, identity: None, saver }
    }

    /// The release of the server, read at each attach (for `status`).
    pub fn tmux_version(&self) -> Arc<Mutex<Option<TmuxVersion>>> {
        self.shared.tmux_version.clone()
    }

    /// Attaches and watches until `shutdown` resolves (`Ok`) or the server is lost or
    /// cannot be reached (`Err` with why). Panes and their read marks are kept across
    /// calls while the server stays the same process, so the next call catches up.
    pub async fn serve(
        &mut self,
        shutdown: &mut (impl Future<Output = ()> + Unpin),
    ) -> Result<(), String> {
        match serve(&self.opts, &self.shared, &mut self.identity, shutdown).await {
            Ok(Phase::Stopped) => Ok(()),
            Ok(Phase::Gone(why)) => Err(why),
            Err(e) => Err(e.to_string()),
        }
    }

    /// The panes watched now, as a `gap` record names them (`%3` or `%3 (label)`).
    pub fn panes(&self) -> Vec<String> {
        let engine = self.shared.engine.lock().expect("engine");
        let mut panes = engine.panes();
        panes.sort_by_key(|(id, _)| *id);
        panes
            .into_iter()
            .map(|(id, info)| match info.label {
                Some(label) => format!("{id} ({label})"),
                None => id.to_string(),
            })
            .collect()
    }

    /// Stops the checkpoint writer and writes the checkpoint a last time; the
    /// dispatcher's shutdown is the caller's.
    pub fn finish(self) {
        self.saver.abort();
        self.shared.save_checkpoint(&self.shared.engine.lock().expect("engine"));
    }
}

/// Reconnect delay: 250 ms doubling to 8 s, with up to 25 % jitter so several
/// daemons restarting together do not storm the server.
pub fn backoff(attempt: u32) -> Duration {
    let base = 250u64.saturating_mul(1 << attempt.min(5));
    let jitter = now_ns() % (base / 4 + 1);
    Duration::from_millis(base + jitter)
}

/// Bound on one attach (with its subscriptions) and on one pane listing.
const TMUX_STEP_TIMEOUT: Duration = Duration::from_secs(5);
/// Attempts to watch one session before giving up on it.
const MAX_ATTACH_TRIES: u32 = 5;

/// When a new control client may be started.
///
/// tmux 3.3a (and 3.5a) crash when a notification that goes to every control client
/// (`%sessions-changed`, `%session-window-changed`, `%window-pane-changed`,
/// `%client-detached`, ...) is written while a new control client is still identifying:
/// the client is flagged as a control client by its first identify message, but its
/// control state is only created by the last one, and `control_write` dereferences it.
/// Nothing on the client's side closes that window, so ctmuxd only starts a control
/// client once tmux has been quiet for a while: 150 ms without any such notification,
/// growing with recent activity up to 3 s, plus up to 25 % jitter.
#[derive(Debug)]
struct AttachGate {
    /// The last notification that told of session or client activity.
    last: Instant,
    /// Recent activity (distinct bursts at least 20 ms apart), oldest first.
    recent: std::collections::VecDeque<Instant>,
    /// Jitter added to the quiet time, picked at each burst.
    jitter: Duration,
}

impl AttachGate {
    /// Activity older than this no longer lengthens the quiet time.
    const MEMORY: Duration = Duration::from_secs(10);

    fn new(now: Instant) -> AttachGate {
        AttachGate { last: now, recent: Default::default(), jitter: Duration::ZERO }
    }

    /// tmux told of activity that reaches every control client.
    fn activity(&mut self, now: Instant) {
        if self
            .recent
            .back()
            .is_none_or(|t| now.saturating_duration_since(*t) >= Duration::from_millis(20))
        {
            self.recent.push_back(now);
        }
        while self.recent.front().is_some_and(|t| now.saturating_duration_since(*t) > Self::MEMORY)
        {
            self.recent.pop_front();
        }
        self.last = now;
        let quiet = self.quiet();
        self.jitter = Duration::from_nanos(now_ns() % (quiet.as_nanos() as u64 / 4 + 1));
    }

    /// How long tmux must stay quiet: 150 ms, doubling for every 4 recent bursts, at most 3 s.
    fn quiet(&self) -> Duration {
        let n = self.recent.len() as u32 / 4;
        Duration::from_millis(150u64 << n.min(5)).min(Duration::from_secs(3))
    }

    /// When a new control client may start, if nothing happens before.
    fn open_at(&self) -> Instant {
        self.last + self.quiet() + self.jitter
    }
}

/// Whether tmux wrote `event` to every control client (the notifications that make a
/// control client starting at that moment crash tmux), or it tells of session churn.
fn is_churn(event: &Event) -> bool {
    matches!(
        event,
        Event::SessionsChanged
            | Event::SessionRenamed { .. }
            | Event::SessionWindowChanged { .. }
            | Event::WindowPaneChanged { .. }
            | Event::PaneModeChanged { .. }
            | Event::ClientDetached { .. }
    )
}

/// Sessions waiting for a control client, started one at a time at quiet moments.
#[derive(Debug, Default)]
struct Pending {
    /// `list-sessions` must run (a `%sessions-changed` arrived, or a step failed).
    relist: bool,
    /// Session target and name, with the attempts made so far.
    sessions: Vec<(SessionId, String, u32)>,
}

impl Pending {
    fn is_empty(&self) -> bool {
        !self.relist && self.sessions.is_empty()
    }
}

/// Which tmux server process this is: a restarted server reuses pane ids from `%0`,
/// so ids learnt from another server must never be acted on.
#[derive(Clone, Debug, PartialEq, Eq)]
struct ServerIdentity {
    pid: String,
    start_time: String,
}

/// How one connected phase ended.
enum Phase {
    /// The shutdown future resolved.
    Stopped,
    /// tmux went away; the text says why.
    Gone(String),
}

/// Attaches to the server, runs until shutdown or until tmux goes away.
async fn serve(
    opts: &DaemonOptions,
    shared: &Arc<Shared>,
    server: &mut Option<ServerIdentity>,
    shutdown: &mut (impl Future<Output = ()> + Unpin),
) -> Result<Phase, DaemonError> {
    let (exit_tx, exit_rx) = mpsc::unbounded_channel();
    let (ctl_tx, mut ctl_rx) = mpsc::unbounded_channel::<Control>();

    let sessions = match &opts.session {
        Some(s) => vec![(s.clone(), s.clone())],
        None => list_sessions(&opts.target).await?,
    };
    if sessions.is_empty() {
        return Err(DaemonError::NoSessions { server: opts.target.describe() });
    }
    let mut conns: HashMap<SessionId, Conn> = HashMap::new();
    // The first control client starts at once (there is no other one to tell whether
    // tmux is quiet); every further one waits for a quiet moment (see `AttachGate`).
    let (target, name) = &sessions[0];
    let (sid, conn) = attach(opts, target, name, shared, &ctl_tx).await?;
    conns.insert(sid, conn);
    let mut gate = AttachGate::new(Instant::now());
    let mut pending = Pending::default();
    for (target, name) in &sessions[1..] {
        if let Ok(sid) = target.parse::<SessionId>() {
            pending.sessions.push((sid, name.clone(), 0));
        }
    }
    let first = conns.values().next().map(|c| c.client.clone()).expect("one connection");
    // Stamped now, written once every session is watched ([`announce_ready`]).
    let ready_ns = now_ns();
    let mut ready = DaemonEvent::default();
    let id_fmt =
        format::record(&[format::raw("pid"), format::raw("start_time"), format::clean("version")]);
    let id_line = first.command(line("display-message", &["-p", &id_fmt])).await?;
    let [pid, start_time, version] =
        id_line.first().and_then(|l| format::split::<3>(l)).unwrap_or_default();
    let identity = ServerIdentity { pid: pid.to_string(), start_time: start_time.to_string() };
    let version = TmuxVersion::parse(version);
    tracing::info!("tmux server {} runs tmux {version}", identity.pid);
    ready.tmux_version = Some(version.name.clone());
    *shared.tmux_version.lock().expect("tmux version") = Some(version);
    if server.as_ref().is_some_and(|old| *old != identity) {
        // A new server: every pane id, label and state learnt before is meaningless now.
        shared.engine.lock().expect("engine").clear_panes();
        ready.new_server = true;
    }
    *server = Some(identity.clone());
    let key = format!("{} {}", identity.pid, identity.start_time);
    *shared.server_key.lock().expect("key") = key.clone();
    if let Some(cp) = &shared.checkpoint {
        *shared.saved.lock().expect("saved") = cp.load(&key);
    }
    refresh_panes(&conns, shared, None).await;
    catch_up(&conns[&sid], sid, shared).await;
    if let Some(outage) = shared.link.as_ref().and_then(|l| l.up()) {
        shared.dispatcher.append(&Record::now(crate::eventlog::GapEvent::new(
            outage.since_ns,
            now_ns(),
            outage.panes,
        )));
    }
    let mut ready = Some((ready_ns, ready));
    let mut exit_rx = Some(exit_rx);

    let phase = loop {
        if pending.sessions.is_empty() {
            // Every session there was at start is watched (or given up): announce it.
            if let Some(rec) = ready.take() {
                announce_ready(opts, shared, &conns, rec, &identity, exit_rx.take());
            }
        }
        let open_at = gate.open_at();
        let msg = tokio::select! {
            biased;
            _ = &mut *shutdown => break Phase::Stopped,
            msg = ctl_rx.recv() => msg,
            _ = tokio::time::sleep_until(open_at.into()), if !pending.is_empty() => {
                quiet_step(opts, &mut conns, shared, &ctl_tx, &mut pending, &mut gate).await;
                continue;
            }
        };
        let Some(msg) = msg else { break Phase::Gone("all connections closed".into()) };
        match msg {
            Control::Ended { session, end } => {
                // Its client detaching is written to every other control client.
                gate.activity(Instant::now());
                let gone = conns.remove(&session);
                shared.dispatcher.clients.lock().expect("clients").remove(&session);
                shared.engine.lock().expect("engine").release_feeds(session);
                let why = match &end {
                    ConnectionEnd::Exit(Some(r)) => r.clone(),
                    ConnectionEnd::Exit(None) => "detached or session closed".to_string(),
                    ConnectionEnd::Lost => "the tmux -C process died".to_string(),
                };
                let name = gone.map(|c| c.name).unwrap_or_else(|| session.to_string());
                tracing::info!("connection to session {name} ended: {why}");
                let server_gone =
                    matches!(&end, ConnectionEnd::Exit(Some(r)) if r.contains("server exited"));
                if conns.is_empty() || server_gone || opts.session.is_some() {
                    break Phase::Gone(format!("tmux session {name}: {why}"));
                }
                // Panes of that session may still be linked elsewhere: re-read them.
                refresh_panes(&conns, shared, None).await;
            }
            Control::Event { session, event } => {
                if is_churn(&event) {
                    gate.activity(Instant::now());
                }
                if matches!(event, Event::SessionsChanged) && opts.session.is_none() {
                    pending.relist = true;
                    continue;
                }
                if let Err(e) = on_event(&mut conns, shared, &exit_tx, session, event).await {
                    tracing::warn!("handling a tmux notification: {e}");
                }
            }
        }
    };
    for sid in conns.keys() {
        shared.dispatcher.clients.lock().expect("clients").remove(sid);
    }
    conns.clear(); // closes every tmux -C stdin: tmux detaches them
    shared.save_checkpoint(&shared.engine.lock().expect("engine"));
    Ok(phase)
}

/// Writes the "ready" record and starts the `[[pane]]`s, once per connected phase.
fn announce_ready(
    opts: &DaemonOptions,
    shared: &Arc<Shared>,
    conns: &HashMap<SessionId, Conn>,
    (ready_ns, mut ready): (u64, DaemonEvent),
    identity: &ServerIdentity,
    exit_rx: Option<mpsc::UnboundedReceiver<(PaneId, Option<i32>)>>,
) {
    ready.message = format!(
        "{}watching {} session(s), {} pane(s), {} rule(s) {}",
        DaemonEvent::READY,
        conns.len(),
        shared.engine.lock().expect("engine").panes().len(),
        opts.rules.rules.len(),
        opts.rules.source()
    );
    ready.mode = Some("control".into());
    ready.server_pid = Some(identity.pid.clone());
    ready.server_start = Some(identity.start_time.clone());
    tracing::info!("{}", ready.message);
    shared.dispatcher.append(&Record { ts_ns: ready_ns, event: ready.into() });

    if !opts.rules.panes.is_empty() {
        let session = opts
            .rules
            .settings
            .session
            .clone()
            .or_else(|| conns.values().next().map(|c| c.name.clone()))
            .unwrap_or_default();
        let d = shared.dispatcher.clone();
        let specs = opts.rules.panes.clone();
        if let Some(exit_rx) = exit_rx {
            shared.dispatcher.spawn(pane_lifecycle::start_panes(d, specs, session, exit_rx));
        }
    }
}

/// One step at a quiet moment: re-list the sessions, or start the control client of one
/// session that has none. A failed step is retried at the next quiet moment (a session
/// at most [`MAX_ATTACH_TRIES`] times); every step is bounded by [`TMUX_STEP_TIMEOUT`].
async fn quiet_step(
    opts: &DaemonOptions,
    conns: &mut HashMap<SessionId, Conn>,
    shared: &Arc<Shared>,
    ctl_tx: &mpsc::UnboundedSender<Control>,
    pending: &mut Pending,
    gate: &mut AttachGate,
) {
    if pending.relist {
        match tokio::time::timeout(TMUX_STEP_TIMEOUT, list_sessions(&opts.target)).await {
            Ok(Ok(now)) => {
                pending.relist = false;
                let old = std::mem::take(&mut pending.sessions);
                for (target, name) in now {
                    let Ok(sid) = target.parse::<SessionId>() else { continue };
                    if conns.contains_key(&sid) {
                        continue;
                    }
                    let tries = old.iter().find(|p| p.0 == sid).map_or(0, |p| p.2);
                    if tries < MAX_ATTACH_TRIES {
                        pending.sessions.push((sid, name, tries));
                    }
                }
                // Panes of sessions that went away.
                refresh_panes(conns, shared, None).await;
            }
            Ok(Err(e)) => {
                tracing::warn!("list-sessions: {e}; retrying when tmux is quiet");
                gate.activity(Instant::now());
            }
            Err(_) => {
                tracing::warn!("list-sessions took over 5 s; retrying when tmux is quiet");
                gate.activity(Instant::now());
            }
        }
        return;
    }
    if pending.sessions.is_empty() {
        return;
    }
    let (sid, name, tries) = pending.sessions.remove(0);
    let target = sid.to_string();
    let result =
        tokio::time::timeout(TMUX_STEP_TIMEOUT, attach(opts, &target, &name, shared, ctl_tx)).await;
    let err = match result {
        Ok(Ok((sid, c))) => {
            conns.insert(sid, c);
            refresh_panes(conns, shared, None).await;
            catch_up(&conns[&sid], sid, shared).await;
            return;
        }
        Ok(Err(e)) => e.to_string(),
        Err(_) => "attaching took over 5 s".to_string(),
    };
    // Perhaps the session is gone: list again before the next try.
    pending.relist = true;
    gate.activity(Instant::now());
    if tries + 1 < MAX_ATTACH_TRIES {
        tracing::info!("cannot watch session {name} yet ({err}); retrying when tmux is quiet");
        pending.sessions.push((sid, name, tries + 1));
    } else {
        let message = format!(
            "not watching session {name}: {MAX_ATTACH_TRIES} attempts failed, the last: {err}"
        );
        tracing::warn!("{message}");
        shared
            .dispatcher
            .append(&Record::now(DaemonEvent { session: Some(name), ..DaemonEvent::say(message) }));
    }
}

/// Matches, once, what the panes of a just attached session printed while ctmuxd was not
/// watching them, then lets the connection's held output through.
///
/// For each pane with a saved mark (a checkpoint of this server), the pane's history is
/// read with `capture-pane -p -J -S -`; the lines after the mark's last lines are fed
/// as catch-up (firings marked `catch_up`, one `catch-up` record per pane). The output
/// held since the attach is dropped for such a pane: tmux answers a command after
/// writing the output it read before running it, so the capture holds all of it. If
/// the mark's lines are no longer in a full history, everything there is fed and the
/// record says lines may have been missed; if they are missing from a history that is
/// not full (the screen was reset), nothing is read back and the held output is
/// matched as live. Everything runs on the connection's reader task, in stream order.
async fn catch_up(conn: &Conn, sid: SessionId, shared: &Arc<Shared>) {
    let panes: Vec<PaneId> = {
        let engine = shared.engine.lock().expect("engine");
        engine
            .panes()
            .into_iter()
            .filter(|(_, i)| i.session == Some(sid))
            .map(|(id, _)| id)
            .collect()
    };
    for &pane in &panes {
        let Some(mark) = shared.saved.lock().expect("saved").get(&pane).cloned() else { continue };
        let geo: Arc<Mutex<Option<[u64; 4]>>> = Arc::default();
        let g = geo.clone();
        let fmt = "#{history_size} #{history_limit} #{cursor_y} #{pane_height}";
        let target = pane.to_string();
        let hook: crate::tmux::control::ReplyHook = Box::new(move |replies| {
            let Some(reply) = replies.first() else { return };
            let text = reply.lines.first().map(|l| String::from_utf8_lossy(l).into_owned());
            let nums: Vec<u64> =
                text.unwrap_or_default().split(' ').filter_map(|v| v.parse().ok()).collect();
            if let Ok(n) = <[u64; 4]>::try_from(nums) {
                *g.lock().expect("geo") = Some(n);
            }
        });
        if conn
            .client
            .command_with_hook(line("display-message", &["-p", "-t", &target, fmt]), hook)
            .await
            .is_err()
        {
            continue;
        }
        let (sh, stash) = (shared.clone(), conn.stash.clone());
        let hook: crate::tmux::control::ReplyHook = Box::new(move |replies| {
            let Some(reply) = replies.first() else { return };
            let lines: Vec<String> = reply
                .lines
                .iter()
                .map(|l| String::from_utf8_lossy(l).trim_end().to_string())
                .collect();
            let Some([history, limit, cursor_y, height]) = *geo.lock().expect("geo") else {
                return;
            };
            caught_up(
                &sh,
                &stash,
                pane,
                &mark,
                &lines,
                history >= limit,
                height.saturating_sub(cursor_y + 1),
            );
        });
        let cmd = line("capture-pane", &["-p", "-J", "-S", "-", "-t", &target]);
        if let Err(e) = conn.client.command_with_hook(cmd, hook).await {
            tracing::warn!("catch-up of {pane}: {e}");
        }
    }
    // Every pane's screen starts as tmux shows it; output held before this point is on
    // it already (see `Hold::screen_seeded`), output after it is applied on top.
    // Their logs start with what they printed before (a pane caught up above has its
    // lines already): read back, never matched.
    let depth = format!("-{}", shared.engine.lock().expect("engine").rules().settings.ring_lines);
    for pane in panes {
        let (sh, stash) = (shared.clone(), conn.stash.clone());
        let hook: crate::tmux::control::ReplyHook = Box::new(move |replies| {
            let Some(seed) = screen_seed(replies.get(..2).unwrap_or_default()) else { return };
            let mut engine = sh.engine.lock().expect("engine");
            if let Some(history) = replies.get(2).filter(|r| r.ok) {
                let mut lines: Vec<String> = history
                    .lines
                    .iter()
                    .map(|l| String::from_utf8_lossy(l).trim_end().to_string())
                    .collect();
                // The rows below the cursor are the empty screen, not output.
                let below = usize::from(seed.size.1.saturating_sub(seed.cursor.1 + 1));
                lines.truncate(lines.len().saturating_sub(below));
                let mut partial = lines.pop().unwrap_or_default();
                // tmux trims the blanks a prompt ends with; the cursor says where it is.
                let shown = partial.chars().count();
                partial.extend(std::iter::repeat_n(
                    ' ',
                    usize::from(seed.cursor.0).saturating_sub(shown),
                ));
                engine.prefill_history(pane, &lines, &partial);
            }
            engine.seed_screen(pane, &seed);
            stash.screen_seeded(pane);
        });
        let [geometry, visible] = screen_commands(pane);
        let id = pane.to_string();
        let history = line("capture-pane", &["-p", "-J", "-t", &id, "-S", &depth]);
        if let Err(e) = conn.client.request_all(&[geometry, visible, history], Some(hook)).await {
            tracing::debug!("reading the screen of {pane}: {e}");
        }
    }
    // Whatever is still held was printed after the attach: match it as live output.
    let (sh, stash) = (shared.clone(), conn.stash.clone());
    let hook: crate::tmux::control::ReplyHook = Box::new(move |_| {
        let held = stash.release();
        let mut firings = Vec::new();
        let mut engine = sh.engine.lock().expect("engine");
        for (pane, held) in held {
            let (data, from) = (&held.data, held.screen_from);
            engine.on_output_split(pane, data, from, Instant::now(), now_ns(), &mut firings);
        }
        if !firings.is_empty() {
            sh.save_checkpoint(&engine);
        }
        let commands = engine.take_commands();
        drop(engine);
        record_commands(&sh, commands);
        sh.output_seen();
        for f in firings {
            sh.dispatcher.fire(f);
        }
    });
    let cmd = line("display-message", &["-p", "ok"]);
    if conn.client.command_with_hook(cmd, hook).await.is_err() {
        // The connection is gone; nothing is held for a live pane any more.
        conn.stash.release();
    }
}

/// The catch-up of one pane from its capture (on the reader task); see [`catch_up`].
fn caught_up(
    shared: &Shared,
    stash: &Hold,
    pane: PaneId,
    mark: &PaneMark,
    lines: &[String],
    history_full: bool,
    below_cursor: u64,
) {
    shared.saved.lock().expect("saved").remove(&pane);
    let upto = lines.len().saturating_sub(below_cursor as usize);
    let (cursor, complete) = match lines[..upto].split_last() {
        Some((c, rest)) => (c.as_str(), rest),
        None => ("", &[][..]),
    };
    let refs: Vec<&str> = complete.iter().map(String::as_str).collect();
    let (start, gap) = match checkpoint::align(mark, &refs) {
        Some(i) => (i, false),
        None if history_full => (0, true),
        None => {
            shared.dispatcher.append(&Record::now(CatchUpEvent::note(
                pane,
                "the last lines seen are not in the pane's history (screen reset?); nothing read back"
                    .into(),
            )));
            return; // The held output stays and is matched as live.
        }
    };
    let held = stash.take_pane(pane);
    let mut data = Vec::new();
    for l in &complete[start..] {
        data.extend_from_slice(l.as_bytes());
        data.extend_from_slice(b"\r\n");
    }
    data.extend_from_slice(cursor.as_bytes());
    let mut firings = Vec::new();
    let mut engine = shared.engine.lock().expect("engine");
    // Lines read back from the history: the screen is seeded apart.
    engine.on_output_split(pane, &data, usize::MAX, Instant::now(), now_ns(), &mut firings);
    shared.save_checkpoint(&engine);
    drop(engine);
    let n = complete.len() - start;
    let message = if gap {
        format!(
            "matched {n} line(s) from tmux's history; the last line seen before has scrolled out of it, so lines may have been missed"
        )
    } else {
        format!("matched {n} line(s) printed while ctmuxd was not watching")
    };
    shared.dispatcher.append(&Record::now(CatchUpEvent {
        lines: Some(n),
        fired: Some(firings.len()),
        held_bytes: Some(held.map_or(0, |h| h.len())),
        gap,
        ..CatchUpEvent::note(pane, message)
    }));
    for mut f in firings {
        f.catch_up = true;
        shared.dispatcher.fire(f);
    }
}

/// `(target, name)` of every session, from a one-off `list-sessions`.
async fn list_sessions(target: &TmuxTarget) -> Result<Vec<(String, String)>, TmuxError> {
    let fmt = format::record(&[format::raw("session_id"), format::clean("session_name")]);
    let lines = target.run(["list-sessions", "-F", &fmt]).await?;
    Ok(lines
        .iter()
        .filter_map(|l| format::split::<2>(l))
        .map(|[id, n]| (id.to_string(), n.to_string()))
        .collect())
}

/// Writes the `command` records of the commands that just finished (after the engine's
/// lock is released, before the firings they caused are acted on).
fn record_commands(shared: &Shared, records: Vec<Record>) {
    for r in records {
        shared.dispatcher.append(&r);
    }
}

/// A connection's [`RouteSink`]: its pane output matched under the engine's one lock,
/// everything else to the control loop.
struct EngineFeed {
    shared: Arc<Shared>,
    tx: mpsc::UnboundedSender<Control>,
    /// The attached session's name (for panes first seen in their output).
    name: String,
    /// Firings of one feed, reused.
    firings: Vec<crate::firing::Firing>,
    /// A task waits to make the screen looks the engine put off (see
    /// [`Engine::on_pause`]).
    screen_timer: Arc<std::sync::atomic::AtomicBool>,
}

/// Makes sure one task runs [`Engine::look_deferred`] when `due` comes, and again
/// while looks stay put off. Nothing runs while no look is put off.
fn arm_screen_timer(
    shared: &Arc<Shared>,
    armed: &Arc<std::sync::atomic::AtomicBool>,
    due: Instant,
) {
    use std::sync::atomic::Ordering;
    if armed.swap(true, Ordering::AcqRel) {
        return;
    }
    let (shared, armed) = (shared.clone(), armed.clone());
    tokio::spawn(async move {
        let mut due = due;
        loop {
            tokio::time::sleep_until(due.into()).await;
            let mut firings = Vec::new();
            let next = shared.engine.lock().expect("engine").look_deferred(
                Instant::now(),
                now_ns(),
                &mut firings,
            );
            for f in firings {
                shared.dispatcher.fire(f);
            }
            if let Some(next) = next {
                due = next;
                continue;
            }
            armed.store(false, Ordering::Release);
            // A look put off between the engine's answer and the store above found the
            // timer armed: take it on.
            match shared.engine.lock().expect("engine").next_deferred() {
                Some(next) if !armed.swap(true, Ordering::AcqRel) => due = next,
                _ => return,
            }
        }
    });
}

impl RouteSink for EngineFeed {
    fn output(&mut self, session: SessionId, pane: PaneId, data: &[u8]) {
        let shared = &self.shared;
        shared.output_seen();
        let mut engine = shared.engine.lock().expect("engine");
        if !engine.claim_output(pane, session, &self.name) {
            return;
        }
        engine.on_output(pane, data, Instant::now(), now_ns(), &mut self.firings);
        if !self.firings.is_empty() {
            // Before any firing is acted on: a restart never fires it again.
            shared.save_checkpoint(&engine);
        }
        let commands = engine.take_commands();
        drop(engine);
        record_commands(shared, commands);
        for f in self.firings.drain(..) {
            shared.dispatcher.fire(f);
        }
    }

    fn claim(&mut self, session: SessionId, pane: PaneId) -> bool {
        self.shared.engine.lock().expect("engine").claim_output(pane, session, &self.name)
    }

    fn drained(&mut self) {
        let shared = &self.shared;
        let mut engine = shared.engine.lock().expect("engine");
        let next = engine.on_pause(Instant::now(), now_ns(), &mut self.firings);
        drop(engine);
        for f in self.firings.drain(..) {
            shared.dispatcher.fire(f);
        }
        if let Some(due) = next {
            arm_screen_timer(shared, &self.screen_timer, due);
        }
    }

    fn control(&mut self, session: SessionId, event: Event) {
        let _ = self.tx.send(Control::Event { session, event });
    }
}

async fn attach(
    opts: &DaemonOptions,
    target: &str,
    name: &str,
    shared: &Arc<Shared>,
    ctl_tx: &mpsc::UnboundedSender<Control>,
) -> Result<(SessionId, Conn), TmuxError> {
    let index = shared.attached.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // The session id is learnt from %session-changed (or the display-message below);
    // events before it are not attributed to a session (none arrive before the attach).
    let sid_cell: Arc<OnceLock<SessionId>> = Arc::default();
    let stash = Hold::active();
    let mut copts = ConnectOptions::new(target);
    copts.record = opts.record.as_ref().map(|p| {
        if index == 0 {
            p.clone()
        } else {
            let mut s = p.clone().into_os_string();
            s.push(format!(".{index}"));
            PathBuf::from(s)
        }
    });
    let feed = EngineFeed {
        shared: shared.clone(),
        tx: ctl_tx.clone(),
        name: name.to_string(),
        firings: Vec::new(),
        screen_timer: Arc::default(),
    };
    let router = Router::new(sid_cell.clone(), stash.clone(), feed);
    let (client, conn) = ControlClient::connect(&opts.target, copts, router).await?;
    // %session-changed follows the attach reply; a round trip guarantees it was read.
    let id_line = client.command(line("display-message", &["-p", "#{session_id}"])).await?;
    let sid: SessionId = id_line
        .first()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| TmuxError::Command(format!("unexpected session id reply {id_line:?}")))?;
    let _ = sid_cell.set(sid);
    // Subscription values are printed raw on every release: a newline in a label set by
    // hand would otherwise forge a protocol line.
    let label_sub = format!("{LABEL_SUBSCRIPTION}:%*:{}", format::clean(LABEL_OPTION));
    client.command(line("refresh-client", &["-B", &label_sub])).await?;
    // Exits with their status (panes ctmuxd spawns keep remain-on-exit on). tmux checks
    // subscriptions on its own one-second timer; ctmuxd itself never polls.
    let dead_sub = format!(
        "{DEAD_SUBSCRIPTION}:%*:#{{pane_dead}}/#{{pane_dead_status}}/#{{pane_dead_signal}}"
    );
    client.command(line("refresh-client", &["-B", &dead_sub])).await?;
    shared.dispatcher.clients.lock().expect("clients").insert(sid, client.clone());
    let tx = ctl_tx.clone();
    tokio::spawn(async move {
        let mut conn = conn;
        let end = (&mut conn.reader).await.unwrap_or(ConnectionEnd::Lost);
        let _ = conn.child.wait().await;
        let _ = tx.send(Control::Ended { session: sid, end });
    });
    tracing::info!("attached to session {name} ({sid})");
    Ok((sid, Conn { client, name: name.to_string(), stash }))
}

/// How many lines of a paused pane's history are read back when it is resumed.
pub const CATCH_UP_LINES: usize = 10_000;

/// The commands that read a pane's screen as tmux shows it: its cursor, whether a
/// program is on the alternate screen and its size, then its visible rows. Sent as one
/// command line, so no output comes between the two.
fn screen_commands(pane: PaneId) -> [String; 2] {
    let id = pane.to_string();
    let fmt = "#{cursor_x} #{cursor_y} #{alternate_on} #{pane_width} #{pane_height}";
    [line("display-message", &["-p", "-t", &id, fmt]), line("capture-pane", &["-p", "-t", &id])]
}

/// The screen read by [`screen_commands`]; `None` if either failed or is malformed.
fn screen_seed(replies: &[tmux_control_parser::Reply]) -> Option<ScreenSeed> {
    let [geometry, visible] = replies else { return None };
    if !geometry.ok || !visible.ok {
        return None;
    }
    let text = String::from_utf8_lossy(geometry.lines.first()?).into_owned();
    let n: Vec<u16> = text.split(' ').map(|v| v.trim().parse().ok()).collect::<Option<_>>()?;
    let [x, y, alternate, cols, rows] = n[..] else { return None };
    Some(ScreenSeed {
        rows: visible.lines.iter().map(|l| String::from_utf8_lossy(l).into_owned()).collect(),
        cursor: (x, y),
        alternate: alternate == 1,
        size: (cols, rows),
    })
}

/// Resumes a pane tmux paused for ctmuxd and matches the lines tmux dropped meanwhile.
///
/// `capture-pane` and `refresh-client -A %P:continue` go as one command line, so tmux
/// runs them back to back: the capture ends exactly where the resumed stream starts.
/// The capture is fed on the reader task (a reply hook) before any output that follows
/// the resume, aligned on the last line ctmuxd has, so each dropped line is matched
/// once; its matches are recorded with `"catch_up": true`, and a `catch-up` record says
/// how many lines were read back.
async fn resume_paused(
    shared: &Arc<Shared>,
    client: &ControlClient,
    pane: PaneId,
) -> Result<(), TmuxError> {
    let id = pane.to_string();
    let depth = format!("-{CATCH_UP_LINES}");
    let [geometry, visible] = screen_commands(pane);
    // The screen missed what tmux dropped too: it is read again, at the same point.
    let commands = [
        line("capture-pane", &["-p", "-J", "-t", &id, "-S", &depth]),
        geometry,
        visible,
        line("refresh-client", &["-A", &format!("{pane}:continue")]),
    ];
    let hook_shared = shared.clone();
    let hook: crate::tmux::control::ReplyHook = Box::new(move |replies| {
        let Some(reply) = replies.first().filter(|r| r.ok) else { return };
        if let Some(seed) = screen_seed(&replies[1..]) {
            // Applied after the lines below: the screen and the lines are apart.
            hook_shared.engine.lock().expect("engine").seed_screen(pane, &seed);
        }
        let mut lines: Vec<String> =
            reply.lines.iter().map(|l| String::from_utf8_lossy(l).into_owned()).collect();
        while lines.last().is_some_and(|l| l.trim().is_empty()) {
            lines.pop();
        }
        let mut firings = Vec::new();
        let done = hook_shared.engine.lock().expect("engine").catch_up(
            pane,
            &lines,
            Instant::now(),
            now_ns(),
            &mut firings,
        );
        let message = format!(
            "{} line(s) tmux dropped while the pane was paused were read back and matched{}",
            done.fed,
            if done.aligned {
                ""
            } else {
                " (the last line ctmuxd had is no longer in the history: all of it was read)"
            }
        );
        hook_shared.dispatcher.append(&Record::now(CatchUpEvent {
            lines: Some(done.fed),
            aligned: Some(done.aligned),
            matches: Some(firings.len()),
            ..CatchUpEvent::note(pane, message)
        }));
        for f in firings {
            hook_shared.dispatcher.fire_catch_up(f);
        }
    });
    let replies = client.request_all(&commands, Some(hook)).await?;
    match replies.as_slice() {
        [_, resumed] if resumed.ok => Ok(()),
        [_, resumed] => Err(TmuxError::Command(format!("resuming {pane}: {}", resumed.text()))),
        // The capture failed (the pane is gone?), so the resume did not run: resume alone.
        _ => client
            .command(line("refresh-client", &["-A", &format!("{pane}:continue")]))
            .await
            .map(drop),
    }
}

/// A pane side from tmux (a u32) as a screen side; tmux's own limit is 10,000.
fn side(n: u32) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

/// Re-reads panes (all of them, or one window's) with one `list-panes` and updates the engine.
async fn refresh_panes(
    conns: &HashMap<SessionId, Conn>,
    shared: &Shared,
    window: Option<WindowId>,
) {
    let Some(conn) = conns.values().next() else { return };
    let records = match tokio::time::timeout(TMUX_STEP_TIMEOUT, labelled::list(&conn.client)).await
    {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            tracing::debug!("list-panes: {e}");
            return;
        }
        Err(_) => {
            tracing::warn!("list-panes took over 5 s");
            return;
        }
    };
    let seen: HashMap<PaneId, (PaneInfo, bool, (u32, u32))> = records
        .into_iter()
        .filter(|r| window.is_none_or(|w| r.window == w))
        .map(|r: PaneRecord| {
            let info = PaneInfo {
                session: Some(r.session),
                session_name: r.session_name,
                window: Some(r.window),
                label: r.label,
            };
            (r.id, (info, r.dead, r.size))
        })
        .collect();
    let mut engine = shared.engine.lock().expect("engine");
    let known: Vec<PaneId> = match window {
        Some(w) => engine.panes_in_window(w),
        None => engine.panes().into_iter().map(|(id, _)| id).collect(),
    };
    for id in known {
        if !seen.contains_key(&id) {
            engine.remove_pane(id);
        }
    }
    for (id, (mut info, dead, (cols, rows))) in seen {
        if let Some(old) = engine.pane_info(id) {
            // A label set by ctmuxd itself may not have reached tmux yet: keep it. Labels
            // removed by hand arrive through the label subscription instead.
            if info.label.is_none() {
                info.label = old.label.clone();
            }
        }
        // Exits are recorded through the dead-pane subscription only, once: a pane already
        // dead when first seen is not news.
        if engine.upsert_pane(id, info) && dead {
            engine.mark_dead(id);
        }
        engine.resize_pane(id, side(cols), side(rows));
    }
}

async fn on_event(
    conns: &mut HashMap<SessionId, Conn>,
    shared: &Arc<Shared>,
    exits: &mpsc::UnboundedSender<(PaneId, Option<i32>)>,
    session: SessionId,
    event: Event,
) -> Result<(), TmuxError> {
    match event {
        Event::WindowAdd { window } | Event::UnlinkedWindowAdd { window } => {
            refresh_panes(conns, shared, Some(window)).await;
        }
        Event::WindowClose { window } | Event::UnlinkedWindowClose { window } => {
            let mut engine = shared.engine.lock().expect("engine");
            for id in engine.panes_in_window(window) {
                engine.remove_pane(id);
            }
        }
        Event::LayoutChange { window, layout, .. } => {
            let now: Vec<PaneId> = layout.as_ref().map(|l| l.pane_ids()).unwrap_or_default();
            let known = {
                let mut engine = shared.engine.lock().expect("engine");
                // Screens follow the layout before any output drawn at the new size.
                for cell in layout.iter().flat_map(|l| l.pane_cells()) {
                    if let tmux_control_parser::LayoutKind::Pane(id) = cell.kind {
                        engine.resize_pane(id, side(cell.width), side(cell.height));
                    }
                }
                engine.panes_in_window(window)
            };
            if now.iter().any(|p| !known.contains(p)) || known.iter().any(|p| !now.contains(p)) {
                refresh_panes(conns, shared, Some(window)).await;
            }
        }
        Event::SubscriptionChanged { name, pane: Some(pane), value, .. }
            if name == LABEL_SUBSCRIPTION =>
        {
            shared
                .engine
                .lock()
                .expect("engine")
                .label_from_tmux(pane, (!value.is_empty()).then_some(value));
        }
        Event::SubscriptionChanged { name, pane: Some(pane), value, .. }
            if name == DEAD_SUBSCRIPTION =>
        {
            if let Some((status, signal)) = pane_lifecycle::parse_dead(&value) {
                pane_lifecycle::pane_died(&shared.dispatcher, exits, pane, status, signal);
            }
        }
        Event::SessionRenamed { session: sid, name } => {
            if let Some(c) = conns.get_mut(&sid) {
                c.name = name;
            }
            refresh_panes(conns, shared, None).await;
        }
        Event::Pause { pane } => {
            let label =
                shared.engine.lock().expect("engine").pane_info(pane).and_then(|i| i.label.clone());
            shared.dispatcher.append(&Record::now(SkippedEvent {
                origin: Origin { pane: Some(pane.to_string()), label, ..Origin::default() },
                message: "tmux paused this pane's output for ctmuxd (ctmuxd fell 10 s behind); resuming, and reading what tmux dropped back from the pane's history"
                    .into(),
                ..SkippedEvent::default()
            }));
            if let Some(c) = conns.get(&session) {
                resume_paused(shared, &c.client, pane).await?;
            }
        }
        Event::Exit { .. } => {}
        Event::Stray { line } => {
            tracing::debug!("stray line from tmux: {}", String::from_utf8_lossy(&line));
        }
        Event::Unknown { name, .. } => tracing::debug!("unknown tmux notification %{name}"),
        // tmux 3.4+: an error in the server's configuration file; the user should know.
        Event::ConfigError { text } => tracing::warn!("tmux configuration error: {text}"),
        other => tracing::trace!("{other:?}"),
    }
    Ok(())
}
