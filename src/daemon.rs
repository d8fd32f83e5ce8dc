//! The control-mode daemon: attaches to tmux, keeps the pane registry current from
//! notifications alone, feeds every pane's output to the [`Engine`] on the reader tasks,
//! and hands firings to the [`Dispatcher`].
//!
//! Without `-t`, one control connection per session (a control client only receives
//! `%output` for panes of the session it is attached to), added and dropped as
//! `%sessions-changed` says. A pane whose window is linked into two sessions is fed
//! from one connection only (its owner), so nothing fires twice.

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tmux_control_parser::{Event, PaneId, SessionId, WindowId};
use tokio::sync::mpsc;

use crate::dispatch::Dispatcher;
use crate::engine::{now_ns, Engine, PaneInfo};
use crate::eventlog::Record;
use crate::orchestrate;
use crate::rules::RuleSet;
use crate::tmux::command::line;
use crate::tmux::control::{ConnectOptions, ConnectionEnd, ControlClient};
use crate::tmux::ops::{self, PaneRecord, LABEL_OPTION, SEP};
use crate::tmux::{TmuxError, TmuxTarget};

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

/// How the daemon ended without error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DaemonExit {
    /// The shutdown future resolved (SIGINT/SIGTERM).
    Stopped,
    /// tmux ended the last connection; the text says why.
    TmuxGone(String),
}

/// Events the reader tasks forward to the control loop: everything but pane output.
enum Control {
    Event { session: SessionId, event: Event },
    Ended { session: SessionId, end: ConnectionEnd },
}

struct Conn {
    client: ControlClient,
    name: String,
}

/// Shared between the control loop and the reader tasks.
struct Shared {
    engine: Arc<Mutex<Engine>>,
    /// Which connection feeds each pane's output (first come); see the module docs.
    owner: Mutex<HashMap<PaneId, SessionId>>,
    dispatcher: Dispatcher,
    /// Connections attached so far: numbers each `--record` file, so a connection made
    /// after another one ended never appends to a file a live connection writes.
    attached: std::sync::atomic::AtomicUsize,
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
) -> anyhow::Result<DaemonExit> {
    let dispatcher = Dispatcher::for_rules(&opts.rules, &opts.events_dir, "control")?;
    let shared = Arc::new(Shared {
        engine: dispatcher.engine.clone(),
        owner: Mutex::new(HashMap::new()),
        dispatcher,
        attached: Default::default(),
    });

    // The control API: bound before anything starts, so a second daemon for the same
    // server is refused at once; `ctmuxd stop` ends the daemon like a signal.
    let listener = crate::api::server::bind(&crate::api::socket_path(&opts.target))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let stop = Arc::new(tokio::sync::Notify::new());
    let backend: Arc<dyn crate::api::Backend> = Arc::new(crate::backend::DaemonBackend::new(
        shared.dispatcher.clone(),
        opts.target.clone(),
        stop.clone(),
    ));
    let api_end = tokio_util::sync::CancellationToken::new();
    // On a thread and runtime of its own: a flood of API requests never keeps the tasks
    // that read tmux's output (and fire rules) waiting for a worker thread.
    let api = listener.serve_on_own_thread(backend, api_end.clone())?;
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
            Err(e) => format!("{e:#}"),
        };
        if !opts.reconnect {
            break DaemonExit::TmuxGone(why);
        }
        let delay = backoff(attempt);
        attempt = attempt.saturating_add(1);
        let mut rec = Record::now("daemon");
        rec.message = Some(format!("tmux gone ({why}); reconnecting in {} ms", delay.as_millis()));
        shared.dispatcher.append(&rec);
        tracing::warn!("{}", rec.message.as_deref().unwrap_or_default());
        tokio::select! {
            _ = &mut shutdown => break DaemonExit::Stopped,
            _ = tokio::time::sleep(delay) => {}
        }
    };

    api_end.cancel();
    let _ = api.await;
    let mut stop = Record::now("daemon");
    stop.message = Some(match &exit {
        DaemonExit::Stopped => "stopping: signal".to_string(),
        DaemonExit::TmuxGone(why) => format!("stopping: {why}"),
    });
    shared.dispatcher.append(&stop);
    let left = shared.dispatcher.shutdown(opts.shutdown_grace).await;
    if left > 0 {
        tracing::warn!(
            "{left} action(s) still running after {:?}; leaving them",
            opts.shutdown_grace
        );
    }
    Ok(exit)
}

/// Reconnect delay: 250 ms doubling to 8 s, with up to 25 % jitter so several
/// daemons restarting together do not storm the server.
fn backoff(attempt: u32) -> Duration {
    let base = 250u64.saturating_mul(1 << attempt.min(5));
    let jitter = now_ns() % (base / 4 + 1);
    Duration::from_millis(base + jitter)
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
) -> anyhow::Result<Phase> {
    let (exit_tx, exit_rx) = mpsc::unbounded_channel();
    let (ctl_tx, mut ctl_rx) = mpsc::unbounded_channel::<Control>();

    let sessions = match &opts.session {
        Some(s) => vec![(s.clone(), s.clone())],
        None => list_sessions(&opts.target).await?,
    };
    if sessions.is_empty() {
        anyhow::bail!("the tmux server `{}` has no sessions to watch", opts.target.describe());
    }
    let mut conns: HashMap<SessionId, Conn> = HashMap::new();
    for (target, name) in &sessions {
        let (sid, conn) = attach(opts, target, name, shared, &ctl_tx).await?;
        conns.insert(sid, conn);
    }
    let first = conns.values().next().map(|c| c.client.clone()).expect("one connection");
    let id_line = first.command(line("display-message", &["-p", "#{pid} #{start_time}"])).await?;
    let (pid, start_time) = id_line
        .first()
        .and_then(|l| l.split_once(' '))
        .map(|(p, t)| (p.to_string(), t.to_string()))
        .unwrap_or_default();
    let identity = ServerIdentity { pid, start_time };
    let mut ready = Record::now("daemon");
    if server.as_ref().is_some_and(|old| *old != identity) {
        // A new server: every pane id, label and state learnt before is meaningless now.
        shared.engine.lock().expect("engine").clear_panes();
        shared.owner.lock().expect("owner").clear();
        ready.extra.insert("new_server".into(), true.into());
    }
    *server = Some(identity.clone());
    refresh_panes(&conns, shared, None).await;

    ready.message = Some(format!(
        "ready: watching {} session(s), {} pane(s), {} rule(s) from {}",
        conns.len(),
        shared.engine.lock().expect("engine").panes().len(),
        opts.rules.rules.len(),
        opts.rules.path.display()
    ));
    ready.mode = Some("control".into());
    ready.extra.insert("server_pid".into(), identity.pid.clone().into());
    ready.extra.insert("server_start".into(), identity.start_time.clone().into());
    shared.dispatcher.append(&ready);
    tracing::info!("{}", ready.message.as_deref().unwrap_or_default());

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
        shared.dispatcher.spawn(orchestrate::start_panes(d, specs, session, exit_rx));
    }

    let phase = loop {
        let msg = tokio::select! {
            _ = &mut *shutdown => break Phase::Stopped,
            msg = ctl_rx.recv() => msg,
        };
        let Some(msg) = msg else { break Phase::Gone("all connections closed".into()) };
        match msg {
            Control::Ended { session, end } => {
                let gone = conns.remove(&session);
                shared.dispatcher.clients.lock().expect("clients").remove(&session);
                shared.owner.lock().expect("owner").retain(|_, s| *s != session);
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
                if let Err(e) =
                    on_event(opts, &mut conns, shared, &ctl_tx, &exit_tx, session, event).await
                {
                    tracing::warn!("handling a tmux notification: {e}");
                }
            }
        }
    };
    for sid in conns.keys() {
        shared.dispatcher.clients.lock().expect("clients").remove(sid);
    }
    conns.clear(); // closes every tmux -C stdin: tmux detaches them
    Ok(phase)
}

/// `(target, name)` of every session, from a one-off `list-sessions`.
async fn list_sessions(target: &TmuxTarget) -> anyhow::Result<Vec<(String, String)>> {
    let fmt = format!("#{{session_id}}{SEP}#{{session_name}}");
    let lines = target.run(["list-sessions", "-F", &fmt]).await?;
    Ok(lines
        .iter()
        .filter_map(|l| l.split_once(SEP))
        .map(|(id, n)| (id.to_string(), n.to_string()))
        .collect())
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
    let sid_cell: Arc<Mutex<Option<SessionId>>> = Arc::default();
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
    let sink = {
        let shared = shared.clone();
        let tx = ctl_tx.clone();
        let sid_cell = sid_cell.clone();
        let sname = name.to_string();
        let mut firings = Vec::new();
        // Output arrives still escaped; it is un-escaped into this buffer, reused for
        // every payload, so the hot path does not allocate.
        let mut scratch = Vec::new();
        move |event: Event| {
            let sid = *sid_cell.lock().expect("sid");
            match event {
                Event::Output { pane, data } | Event::ExtendedOutput { pane, data, .. } => {
                    let Some(sid) = sid else { return };
                    {
                        let mut owner = shared.owner.lock().expect("owner");
                        if *owner.entry(pane).or_insert(sid) != sid {
                            return;
                        }
                    }
                    // Un-escaped before taking the engine lock, so other connections'
                    // output is not held up by it.
                    scratch.clear();
                    data.unescape_into(&mut scratch);
                    let mut engine = shared.engine.lock().expect("engine");
                    if engine.pane_info(pane).is_none() {
                        // First output of a pane the registry has not caught up with yet
                        // (tmux delivers %window-add after the output of a new window).
                        let info = PaneInfo {
                            session: Some(sid),
                            session_name: sname.clone(),
                            ..PaneInfo::default()
                        };
                        engine.upsert_pane(pane, info);
                    }
                    engine.on_output(pane, &scratch, Instant::now(), now_ns(), &mut firings);
                    drop(engine);
                    for f in firings.drain(..) {
                        shared.dispatcher.fire(f);
                    }
                }
                Event::SessionChanged { session, .. } if sid.is_none() => {
                    *sid_cell.lock().expect("sid") = Some(session);
                }
                event => {
                    if let Some(session) = sid {
                        let _ = tx.send(Control::Event { session, event });
                    }
                }
            }
        }
    };
    let (client, conn) = ControlClient::connect(&opts.target, copts, sink).await?;
    // %session-changed follows the attach reply; a round trip guarantees it was read.
    let id_line = client.command(line("display-message", &["-p", "#{session_id}"])).await?;
    let sid: SessionId = id_line
        .first()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| TmuxError::Command(format!("unexpected session id reply {id_line:?}")))?;
    *sid_cell.lock().expect("sid") = Some(sid);
    let label_sub = format!("{LABEL_SUBSCRIPTION}:%*:#{{{LABEL_OPTION}}}");
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
    Ok((sid, Conn { client, name: name.to_string() }))
}

/// Re-reads panes (all of them, or one window's) with one `list-panes` and updates the engine.
async fn refresh_panes(
    conns: &HashMap<SessionId, Conn>,
    shared: &Shared,
    window: Option<WindowId>,
) {
    let Some(conn) = conns.values().next() else { return };
    let records = match ops::list(&conn.client).await {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!("list-panes: {e}");
            return;
        }
    };
    let seen: HashMap<PaneId, PaneInfo> = records
        .into_iter()
        .filter(|r| window.is_none_or(|w| r.window == w))
        .map(|r: PaneRecord| {
            let info = PaneInfo {
                dead: r.dead,
                reap: false,
                session: Some(r.session),
                session_name: r.session_name,
                window: Some(r.window),
                label: r.label,
            };
            (r.id, info)
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
    for (id, mut info) in seen {
        if let Some(old) = engine.pane_info(id) {
            // A label set by ctmuxd itself may not have reached tmux yet: keep it. Labels
            // removed by hand arrive through the label subscription instead.
            if info.label.is_none() {
                info.label = old.label.clone();
            }
            // Exits are recorded through the dead-pane subscription only, once.
            info.dead = old.dead;
            info.reap = old.reap;
        }
        engine.upsert_pane(id, info);
    }
}

async fn on_event(
    opts: &DaemonOptions,
    conns: &mut HashMap<SessionId, Conn>,
    shared: &Arc<Shared>,
    ctl_tx: &mpsc::UnboundedSender<Control>,
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
            let now: Vec<PaneId> = layout.map(|l| l.pane_ids()).unwrap_or_default();
            let known = shared.engine.lock().expect("engine").panes_in_window(window);
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
                .set_label(pane, (!value.is_empty()).then_some(value));
        }
        Event::SubscriptionChanged { name, pane: Some(pane), value, .. }
            if name == DEAD_SUBSCRIPTION =>
        {
            if let Some((status, signal)) = orchestrate::parse_dead(&value) {
                orchestrate::pane_died(&shared.dispatcher, exits, pane, status, signal);
            }
        }
        Event::SessionRenamed { session: sid, name } => {
            if let Some(c) = conns.get_mut(&sid) {
                c.name = name;
            }
            refresh_panes(conns, shared, None).await;
        }
        Event::SessionsChanged if opts.session.is_none() => {
            let Ok(now) = list_sessions(&opts.target).await else { return Ok(()) };
            for (target, name) in now {
                let Ok(sid) = target.parse::<SessionId>() else { continue };
                if conns.contains_key(&sid) {
                    continue;
                }
                match attach(opts, &target, &name, shared, ctl_tx).await {
                    Ok((sid, c)) => {
                        conns.insert(sid, c);
                    }
                    Err(e) => tracing::warn!("cannot watch new session {name}: {e}"),
                }
            }
            refresh_panes(conns, shared, None).await;
        }
        Event::Pause { pane } => {
            let mut rec = Record::now("skipped");
            rec.pane = Some(pane.to_string());
            rec.message = Some(
                "tmux paused this pane's output for ctmuxd; resuming (output in between is lost)"
                    .into(),
            );
            shared.dispatcher.append(&rec);
            if let Some(c) = conns.get(&session) {
                c.client
                    .command(line("refresh-client", &["-A", &format!("{pane}:continue")]))
                    .await?;
            }
        }
        Event::Exit { .. } => {}
        Event::Stray { line } => {
            tracing::debug!("stray line from tmux: {}", String::from_utf8_lossy(&line));
        }
        Event::Unknown { name, .. } => tracing::debug!("unknown tmux notification %{name}"),
        other => tracing::trace!("{other:?}"),
    }
    Ok(())
}
