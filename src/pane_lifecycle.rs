//! The life of labelled panes: spawning and closing them (for the `spawn` and `close`
//! actions, the API and `[[pane]]` entries), their exits, and the start of the `[[pane]]`
//! entries in dependency order with readiness.
//!
//! Labels go into the engine on the connection's reader task the moment tmux answers a
//! spawn (see [`crate::tmux::labelled::spawn`]), and `ready`/`fail` patterns are registered
//! there too, so a pane's first line is never matched without them. Every change to
//! the set of live panes is recorded as a `pane` event with `panes_alive`.

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tmux_control_parser::PaneId;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::eventlog::{PaneChange, PaneEvent, Record, ResyncEvent};
use crate::firing::{now_ns, DynamicMatch, DynamicPattern, DynamicSink, Engine, Firing};
use crate::panes::{PaneInfo, StartState};
use crate::rules::{PaneSpec, Restart, RestartWhen};
use crate::tmux::control::ControlClient;
use crate::tmux::labelled::{self, SpawnSpec};

/// What the pane lifecycle needs from the daemon that runs it: the engine, a live tmux
/// connection, the event log, and a way to fire rules and to run tasks that shutdown waits
/// for.
///
/// The dispatcher ([`crate::action_tasks::Dispatcher`]) implements it. It is defined here,
/// rather than this module taking the dispatcher itself, because the dispatcher spawns
/// and closes panes through [`spawn`] and [`close`]: with this trait this module sits
/// below [`crate::action_tasks`] and the two do not use each other.
pub trait PaneHost: Clone + Send + Sync + 'static {
    /// The engine (panes, labels, rules), shared with the connection reader tasks.
    fn engine(&self) -> &Arc<Mutex<Engine>>;
    /// Any live control connection, for pane commands.
    fn client(&self) -> Option<ControlClient>;
    /// Which source feeds the daemon (`control`, `poll`).
    fn mode(&self) -> &'static str;
    /// Appends a record to the event log.
    fn append(&self, rec: &Record);
    /// Records a match and runs its rule's actions.
    fn fire(&self, firing: Firing);
    /// Runs the actions of firings not caused by a line (exits).
    fn fire_all(&self, firings: Vec<Firing>);
    /// Runs `task` on a task that shutdown waits for.
    fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static;
    /// Cancelled when the daemon starts to stop: readiness waits end at once.
    fn stopping(&self) -> &CancellationToken;
    /// Whether the panes are on another host (over SSH): paths of this machine mean
    /// nothing there, so a spawn's `cwd` is passed as written and none is made up.
    fn remote(&self) -> bool {
        false
    }
}

/// A control connection for a pane command, or why there is none (poll mode, tmux gone).
///
/// # Errors
/// The reason, worded for an action's or a request's error.
pub fn need_client(d: &impl PaneHost) -> Result<ControlClient, String> {
    match d.client() {
        Some(c) => Ok(c),
        None if d.mode() == "poll" => {
            Err("pane actions need control mode; ctmuxd is running with --poll".to_string())
        }
        None => Err("no tmux connection (tmux is gone; ctmuxd is waiting for it)".to_string()),
    }
}

/// Patterns to register on a new pane before its first output is read.
pub struct Watch {
    ready: Option<(String, oneshot::Sender<DynamicMatch>)>,
    fail: Option<(String, oneshot::Sender<DynamicMatch>)>,
}

/// Why a spawn failed.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// tmux or label trouble (duplicate label, unknown `beside` label, ...).
    #[error(transparent)]
    Ops(#[from] labelled::OpsError),
    /// Anything else (no connection).
    #[error("{0}")]
    Other(String),
}

impl From<SpawnError> for String {
    fn from(e: SpawnError) -> String {
        e.to_string()
    }
}

/// Spawns a labelled pane in `session`; returns its id and session name.
///
/// # Errors
/// [`SpawnError`] when there is no connection, the label is taken, or tmux refuses.
pub async fn spawn<D: PaneHost>(
    d: &D,
    spec: &SpawnSpec,
    session: &str,
    watch: Option<Watch>,
) -> Result<(PaneId, String), SpawnError> {
    let client = need_client(d).map_err(SpawnError::Other)?;
    let cwd = if d.remote() {
        // On another host: its own directories (relative to the remote home), else its home.
        spec.cwd.clone()
    } else {
        let base = rules_dir(d);
        Some(match &spec.cwd {
            Some(c) if c.is_relative() => base.join(c),
            Some(c) => c.clone(),
            None => base,
        })
    };
    let spawned = SpawnSpec {
        cwd,
        // Always keep the pane when its process exits, so the exit status can be read;
        // `keep = false` panes are closed by ctmuxd once the exit is recorded.
        keep: true,
        ..spec.clone()
    };
    let engine = d.engine().clone();
    let label = spec.label.clone();
    let reap = !spec.keep;
    let sname = session.to_string();
    let hook = move |pane: PaneId| {
        let mut engine = engine.lock().expect("engine");
        let info = PaneInfo {
            session_name: sname,
            label: Some(label),
            ..engine.pane_info(pane).cloned().unwrap_or_default()
        };
        engine.upsert_pane(pane, info);
        engine.label_given(pane);
        if reap {
            engine.close_on_exit(pane);
        }
        if let Some(w) = watch {
            register_watch(&mut engine, pane, w);
        }
    };
    let rec = labelled::spawn(&client, session, &spawned, hook).await?;
    let alive = {
        let mut engine = d.engine().lock().expect("engine");
        let mut info = engine.pane_info(rec.id).cloned().unwrap_or_default();
        info.session = Some(rec.session);
        info.window = Some(rec.window);
        info.session_name = rec.session_name.clone();
        engine.upsert_pane(rec.id, info);
        engine.panes_alive()
    };
    pane_record(d, PaneChange::Spawned, rec.id, &spec.label, alive, None);
    Ok((rec.id, rec.session_name))
}

fn rules_dir<D: PaneHost>(d: &D) -> PathBuf {
    crate::rules::rules_dir(&d.engine().lock().expect("engine").rules().path)
}

/// Closes every pane whose label matches `glob`; returns their ids.
///
/// # Errors
/// A message when there is no connection or tmux cannot list panes.
pub async fn close<D: PaneHost>(d: &D, glob: &str) -> Result<Vec<PaneId>, String> {
    let client = need_client(d)?;
    let panes = labelled::find(&client, glob).await.map_err(|e| e.to_string())?;
    let mut closed = Vec::new();
    for p in panes {
        match labelled::close(&client, p.id).await {
            Ok(()) => {
                let alive = {
                    let mut engine = d.engine().lock().expect("engine");
                    engine.remove_pane(p.id);
                    engine.panes_alive()
                };
                let label = p.label.as_deref().unwrap_or(glob);
                pane_record(d, PaneChange::Closed, p.id, label, alive, None);
                closed.push(p.id);
            }
            Err(e) => tracing::debug!("close {}: {e}", p.id),
        }
    }
    Ok(closed)
}

fn pane_record<D: PaneHost>(
    d: &D,
    change: PaneChange,
    pane: PaneId,
    label: &str,
    alive: usize,
    message: Option<String>,
) {
    d.append(&Record::now(PaneEvent {
        pane: Some(pane.to_string()),
        message,
        ..PaneEvent::new(change, label, alive)
    }));
}

/// Parses a `pane_dead/status/signal` subscription value; `Some((status, signal))` when dead.
pub fn parse_dead(value: &str) -> Option<(Option<i32>, Option<i32>)> {
    let mut f = value.split('/');
    if f.next()? != "1" {
        return None;
    }
    let status = f.next().and_then(|s| s.parse().ok());
    let signal = f.next().and_then(|s| s.parse().ok());
    Some((status, signal))
}

/// tmux reported a pane dead. Before the exit is recorded, the pane's last lines are
/// re-read with `capture-pane` and whatever the stream lost is fed to the engine (tmux
/// drops unsent output of a pane whose process exited), so a command that prints its
/// result and exits at once is still matched, and in order: output first, then exit.
pub fn pane_died<D: PaneHost>(
    d: &D,
    exits: &mpsc::UnboundedSender<(PaneId, Option<i32>)>,
    pane: PaneId,
    status: Option<i32>,
    signal: Option<i32>,
) {
    let (claimed, ring) = {
        let mut engine = d.engine().lock().expect("engine");
        (engine.begin_exit(pane), engine.rules().settings.ring_lines)
    };
    if !claimed {
        return;
    }
    let d = d.clone();
    let exits = exits.clone();
    tokio::spawn(async move {
        let (mut status, mut signal) = (status, signal);
        if status.is_none() && signal.is_none() {
            // tmux 3.3a can report `pane_dead` before it has filled the exit status
            // (fixed upstream later): ask for it, a few times over about four seconds.
            for delay_ms in [0, 100, 250, 500, 1000, 2000] {
                tokio::time::sleep(Duration::from_millis(delay_ms)).await;
                (status, signal) = exit_status(&d, pane).await;
                tracing::debug!(%pane, ?status, ?signal, delay_ms, "exit status re-read");
                if status.is_some() || signal.is_some() {
                    break;
                }
            }
        }
        if let Some(client) = d.client() {
            let depth = format!("-{}", ring.max(1));
            let cmd = crate::tmux::command::line(
                "capture-pane",
                &["-p", "-J", "-t", &pane.to_string(), "-S", &depth],
            );
            if let Ok(mut lines) = client.command(cmd).await {
                while lines.last().is_some_and(|l| l.trim().is_empty()) {
                    lines.pop();
                }
                if lines.last().is_some_and(|l| l.starts_with("Pane is dead")) {
                    lines.pop();
                }
                let mut firings = Vec::new();
                let fed = d.engine().lock().expect("engine").resync_tail(
                    pane,
                    &lines,
                    Instant::now(),
                    now_ns(),
                    &mut firings,
                );
                if fed > 0 {
                    d.append(&Record::now(ResyncEvent {
                        pane: pane.to_string(),
                        message: format!(
                            "{fed} line(s) tmux did not send before the pane exited were read back"
                        ),
                    }));
                }
                for f in firings {
                    d.fire(f);
                }
            }
        }
        pane_exited(&d, &exits, pane, status, signal);
    });
}

/// The exit status and signal tmux has for a dead pane (both `None` if not filled in yet).
async fn exit_status<D: PaneHost>(d: &D, pane: PaneId) -> (Option<i32>, Option<i32>) {
    let Some(client) = d.client() else { return (None, None) };
    let cmd = crate::tmux::command::line(
        "display-message",
        &[
            "-p",
            "-t",
            &pane.to_string(),
            &format!(
                "1/#{{pane_dead_status}}/#{{pane_dead_signal}}/{}",
                crate::tmux::format::clean(labelled::EXIT_OPTION)
            ),
        ],
    );
    match client.command(cmd).await {
        Ok(lines) => {
            let line = lines.first().map(String::as_str).unwrap_or("");
            let (status, signal) = parse_dead(line).unwrap_or((None, None));
            // The status the spawn wrapper stored, when tmux has none.
            let stored = line.rsplit('/').next().and_then(|s| s.parse().ok());
            (status.or(if signal.is_none() { stored } else { None }), signal)
        }
        Err(e) => {
            tracing::debug!(%pane, "exit status: {e}");
            (None, None)
        }
    }
}

/// A pane's process exited: record it, fire `on = "exit"` rules, tell anyone waiting
/// for it to become ready, and close it if ctmuxd spawned it with `keep = false`.
pub fn pane_exited<D: PaneHost>(
    d: &D,
    exits: &mpsc::UnboundedSender<(PaneId, Option<i32>)>,
    pane: PaneId,
    status: Option<i32>,
    signal: Option<i32>,
) {
    let (firings, info, reap, alive) = {
        let mut engine = d.engine().lock().expect("engine");
        let Some(firings) = engine.pane_exited(pane, status, now_ns()) else { return };
        let reap = engine.pane(pane).is_some_and(|p| p.close_on_exit);
        let info = engine.pane_info(pane).cloned().unwrap_or_default();
        (firings, info, reap, engine.panes_alive())
    };
    d.append(&Record::now(PaneEvent {
        pane: Some(pane.to_string()),
        label: info.label.clone(),
        change: PaneChange::Exited,
        exit_code: status,
        signal,
        message: None,
        panes_alive: Some(alive),
    }));
    let _ = exits.send((pane, status));
    let d2 = d.clone();
    let firings_empty = firings.is_empty();
    d.fire_all(firings);
    if reap {
        d.spawn(async move {
            // Let exit rules read the pane first (they run on their own tasks).
            if !firings_empty {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            if let Some(c) = d2.client() {
                if labelled::close(&c, pane).await.is_ok() {
                    let alive = {
                        let mut engine = d2.engine().lock().expect("engine");
                        engine.remove_pane(pane);
                        engine.panes_alive()
                    };
                    pane_record(
                        &d2,
                        PaneChange::Closed,
                        pane,
                        info.label.as_deref().unwrap_or(""),
                        alive,
                        Some("reaped after exit".into()),
                    );
                }
            }
        });
    }
}

/// Schedules restart number n of `label` after its backoff, or, past `max_restarts`,
/// records it as failed for good; records either.
fn schedule_restart<D: PaneHost>(
    d: &D,
    state: &mut HashMap<String, State>,
    restarts: &mut HashMap<String, u32>,
    again: &mpsc::UnboundedSender<String>,
    label: &str,
    policy: Restart,
    why: String,
) {
    let alive = d.engine().lock().expect("engine").panes_alive();
    let n = restarts.entry(label.to_owned()).or_insert(0);
    if *n >= policy.max {
        let why = format!("{why}; gave up after {n} restart(s)");
        d.append(&Record::now(PaneEvent {
            message: Some(why.clone()),
            ..PaneEvent::new(PaneChange::Failed, label, alive)
        }));
        set_state(d, state, label, State::Failed(why));
        return;
    }
    *n += 1;
    let delay = policy.delay(*n);
    let note = format!("{why}; restart {n} of {} in {delay:?}", policy.max);
    d.append(&Record::now(PaneEvent {
        message: Some(note.clone()),
        ..PaneEvent::new(PaneChange::Restarting, label, alive)
    }));
    set_state(d, state, label, State::Restarting(note));
    let (again, label) = (again.clone(), label.to_owned());
    d.spawn(async move {
        tokio::time::sleep(delay).await;
        let _ = again.send(label);
    });
}

/// The start order's own view of each entry; every change is mirrored to the engine
/// ([`Engine::set_start_state`]) for `status`.
type State = StartState;

/// Sets `label`'s state here and in the engine.
fn set_state<D: PaneHost>(d: &D, states: &mut HashMap<String, State>, label: &str, st: State) {
    d.engine().lock().expect("engine").set_start_state(label, st.clone());
    states.insert(label.to_owned(), st);
}

/// Starts the `[[pane]]` entries in `session`: each once everything in its `after` is
/// ready; panes that already exist with their label (ctmuxd restarted) are adopted.
/// Returns when every pane is ready, failed or held back.
pub async fn start_panes<D: PaneHost>(
    d: D,
    specs: Vec<PaneSpec>,
    session: String,
    mut exits: mpsc::UnboundedReceiver<(PaneId, Option<i32>)>,
) {
    let mut state: HashMap<String, State> = HashMap::new();
    for s in &specs {
        set_state(&d, &mut state, &s.spawn.label, State::Waiting);
    }
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<(String, Result<(), String>)>();
    // Pane id → label, for exits of panes still starting.
    let mut starting: HashMap<PaneId, mpsc::UnboundedSender<Option<i32>>> = HashMap::new();
    // Restart policies: each entry's pane now, its restarts so far, and the timers that
    // say a restart's backoff has passed.
    let mut pane_of: HashMap<String, PaneId> = HashMap::new();
    let mut restarts: HashMap<String, u32> = HashMap::new();
    let (again_tx, mut again_rx) = mpsc::unbounded_channel::<String>();
    let existing = match d.client() {
        Some(c) => labelled::list(&c).await.unwrap_or_default(),
        None => Vec::new(),
    };
    loop {
        // Hold back dependants of failed panes; start panes whose dependencies are ready.
        let mut progressed = true;
        while progressed {
            progressed = false;
            for spec in &specs {
                let label = &spec.spawn.label;
                if state[label] != State::Waiting {
                    continue;
                }
                if let Some(bad) =
                    spec.after.iter().find(|dep| matches!(state[*dep], State::Failed(_)))
                {
                    let why = match &state[bad] {
                        State::Failed(r) => format!("not started: `{bad}` failed ({r})"),
                        _ => unreachable!(),
                    };
                    let alive = d.engine().lock().expect("engine").panes_alive();
                    d.append(&Record::now(PaneEvent {
                        message: Some(why.clone()),
                        ..PaneEvent::new(PaneChange::Held, label, alive)
                    }));
                    set_state(&d, &mut state, label, State::Failed(why));
                    progressed = true;
                    continue;
                }
                if !spec.after.iter().all(|dep| state[dep] == State::Ready) {
                    continue;
                }
                set_state(&d, &mut state, label, State::Starting);
                progressed = true;
                // A pane with this label still alive (ctmuxd restarted) is adopted, not
                // started twice; it is ready once its ready line is in its history or
                // appears later, like a pane started now.
                let restarted = restarts.get(label).copied().unwrap_or(0) > 0;
                let adopt = existing
                    .iter()
                    .find(|p| p.label.as_deref() == Some(label.as_str()) && !p.dead)
                    .map(|p| p.id)
                    .filter(|_| !restarted);
                if let Some(pane) = adopt {
                    d.append(&Record::now(PaneEvent {
                        pane: Some(pane.to_string()),
                        label: Some(label.clone()),
                        change: PaneChange::Adopted,
                        ..PaneEvent::default()
                    }));
                }
                let (exit_tx, exit_rx) = mpsc::unbounded_channel();
                let mut spec = spec.clone();
                // A restart takes the label over from the pane that failed, kept or not.
                spec.spawn.replace |= restarted;
                let d2 = d.clone();
                let done = done_tx.clone();
                let session = session.clone();
                let (id_tx, id_rx) = oneshot::channel();
                d.spawn(async move {
                    let r = start_one(&d2, &spec, &session, exit_rx, id_tx, adopt).await;
                    let _ = done.send((spec.spawn.label.clone(), r));
                });
                if let Ok(id) = id_rx.await {
                    starting.insert(id, exit_tx);
                    pane_of.insert(label.clone(), id);
                }
            }
        }
        // Done when every entry is ready or failed, and no ready one may need a restart.
        let settled = specs.iter().all(|s| match &state[&s.spawn.label] {
            State::Failed(_) => true,
            State::Ready => s.restart.when == RestartWhen::No,
            _ => false,
        });
        if settled {
            return;
        }
        tokio::select! {
            Some((label, result)) = done_rx.recv() => {
                let alive = d.engine().lock().expect("engine").panes_alive();
                let rec = match result {
                    Ok(()) => {
                        let rec = Record::now(PaneEvent::new(PaneChange::Ready, &label, alive));
                        set_state(&d, &mut state, &label, State::Ready);
                        rec
                    }
                    Err(why) => {
                        let spec = specs.iter().find(|s| s.spawn.label == label);
                        let policy = spec.map(|s| s.restart).unwrap_or_default();
                        if policy.when != RestartWhen::No {
                            schedule_restart(&d, &mut state, &mut restarts, &again_tx, &label, policy, why);
                            continue;
                        }
                        let rec = Record::now(PaneEvent {
                            message: Some(why.clone()),
                            ..PaneEvent::new(PaneChange::Failed, &label, alive)
                        });
                        set_state(&d, &mut state, &label, State::Failed(why));
                        rec
                    }
                };
                d.append(&rec);
            }
            Some((pane, status)) = exits.recv() => {
                if let Some(tx) = starting.get(&pane) {
                    let _ = tx.send(status);
                }
                // A ready entry's process exited: its restart policy decides.
                let ready = pane_of.iter().find(|(l, p)| **p == pane && state[*l] == State::Ready);
                if let Some((label, _)) = ready {
                    let label = label.clone();
                    let policy = specs.iter().find(|s| s.spawn.label == label).map(|s| s.restart).unwrap_or_default();
                    let failed = status != Some(0);
                    if policy.when == RestartWhen::Always || (policy.when == RestartWhen::OnFailure && failed) {
                        let why = match status {
                            Some(s) => format!("exited with status {s}"),
                            None => "killed by a signal".to_string(),
                        };
                        schedule_restart(&d, &mut state, &mut restarts, &again_tx, &label, policy, why);
                    }
                }
            }
            Some(label) = again_rx.recv() => {
                // The backoff has passed: waiting again, it starts once its `after` is ready.
                if matches!(state.get(&label), Some(State::Restarting(_))) {
                    set_state(&d, &mut state, &label, State::Waiting);
                }
            }
            _ = d.stopping().cancelled() => return,
            else => return,
        }
    }
}

async fn start_one<D: PaneHost>(
    d: &D,
    spec: &PaneSpec,
    session: &str,
    mut exit_rx: mpsc::UnboundedReceiver<Option<i32>>,
    id_tx: oneshot::Sender<PaneId>,
    adopt: Option<PaneId>,
) -> Result<(), String> {
    let (ready_tx, ready_rx) = oneshot::channel();
    let (fail_tx, fail_rx) = oneshot::channel();
    let watch = Watch {
        ready: spec.ready.clone().map(|p| (p, ready_tx)),
        fail: spec.fail.clone().map(|p| (p, fail_tx)),
    };
    let pane = match adopt {
        None => spawn(d, &spec.spawn, session, Some(watch)).await?.0,
        Some(pane) => {
            // Watched from now on, before its history is read: a ready line printed in
            // between is seen by one or the other.
            watch_pane(d, pane, watch);
            pane
        }
    };
    let _ = id_tx.send(pane);
    if spec.ready.is_none() {
        return Ok(());
    }
    if adopt.is_some() {
        if let Some(found) = ready_in_history(d, spec, pane).await {
            return found;
        }
    }
    let timeout = async {
        match spec.ready_timeout {
            Some(t) => tokio::time::sleep(t).await,
            None => std::future::pending().await,
        }
    };
    let fail = async {
        match fail_rx.await {
            Ok(m) => m,
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        Ok(_) = ready_rx => Ok(()),
        m = fail => Err(format!("matched `fail` pattern: {}", m.line)),
        Some(status) = exit_rx.recv() => match status {
            Some(0) => Ok(()),
            Some(s) => Err(format!("exited with status {s} before it was ready")),
            None => Err("killed by a signal before it was ready".into()),
        },
        _ = timeout => Err(format!(
            "not ready within {:?}",
            spec.ready_timeout.unwrap_or_default()
        )),
        _ = d.stopping().cancelled() => Err("ctmuxd stopped before it was ready".into()),
    }
}

/// Registers a `[[pane]]`'s `ready`/`fail` patterns on a pane that already exists.
fn watch_pane<D: PaneHost>(d: &D, pane: PaneId, watch: Watch) {
    register_watch(&mut d.engine().lock().expect("engine"), pane, watch);
}

fn register_watch(engine: &mut crate::firing::Engine, pane: PaneId, watch: Watch) {
    for (pattern, tx) in [watch.ready, watch.fail].into_iter().flatten() {
        let dp = DynamicPattern {
            pattern,
            prompt: false,
            screen: false,
            pane: Some(pane),
            sink: DynamicSink::Once { tx, skip_echo: None },
        };
        if let Err(e) = engine.add_dynamic(dp) {
            tracing::error!("readiness pattern: {e}");
        }
    }
}

/// Reads an adopted pane's whole history (`capture-pane -S -`): `Some(Ok)` when its
/// `ready` line is there, `Some(Err)` when a `fail` line comes first, `None` when
/// neither is (or the history cannot be read): then it is ready once the line appears.
async fn ready_in_history<D: PaneHost>(
    d: &D,
    spec: &PaneSpec,
    pane: PaneId,
) -> Option<Result<(), String>> {
    let client = d.client()?;
    let compile =
        |p: &Option<String>| p.as_deref().and_then(|p| regex_automata::meta::Regex::new(p).ok());
    let (ready, fail) = (compile(&spec.ready), compile(&spec.fail));
    let cmd = crate::tmux::command::line(
        "capture-pane",
        &["-p", "-J", "-t", &pane.to_string(), "-S", "-"],
    );
    let lines = match client.command(cmd).await {
        Ok(l) => l,
        Err(e) => {
            tracing::debug!(%pane, "reading an adopted pane's history: {e}");
            return None;
        }
    };
    lines.iter().find_map(|l| {
        if fail.as_ref().is_some_and(|re| re.is_match(l.as_str())) {
            Some(Err(format!("matched `fail` pattern: {l}")))
        } else if ready.as_ref().is_some_and(|re| re.is_match(l.as_str())) {
            Some(Ok(()))
        } else {
            None
        }
    })
}
