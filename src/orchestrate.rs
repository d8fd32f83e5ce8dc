//! Orchestration: pane actions (`spawn`, `close`, `send`), pane exits, and the start of
//! the `[[pane]]` entries in dependency order with readiness.
//!
//! Labels go into the engine on the connection's reader task the moment tmux answers a
//! spawn (see [`crate::tmux::ops::spawn`]), and `ready`/`fail` patterns are registered
//! there too, so a pane's first line is never matched without them. Every change to
//! the set of live panes is recorded as a `pane` event with `panes_alive`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tmux_control_parser::PaneId;
use tokio::sync::{mpsc, oneshot};

use crate::action::{Action, ActionContext, ActionOutcome, SpawnAction};
use crate::dispatch::Dispatcher;
use crate::engine::{now_ns, DynamicMatch, DynamicPattern, DynamicSink, PaneInfo};
use crate::eventlog::Record;
use crate::rules::PaneSpec;
use crate::tmux::ops::{self, glob_match, Placement, SpawnSpec};

/// Runs a `spawn`, `close` or `send` action; adds what it did to `extra`.
pub async fn run_pane_action(
    d: &Dispatcher,
    action: &Action,
    ctx: &ActionContext,
    extra: &mut serde_json::Map<String, serde_json::Value>,
) -> ActionOutcome {
    let start = Instant::now();
    let result = match action {
        Action::Spawn(spec) => {
            let session = d
                .engine
                .lock()
                .expect("engine")
                .rules()
                .settings
                .session
                .clone()
                .unwrap_or(ctx.session.clone());
            spawn(d, spec, &session, None).await.map(|(pane, _)| {
                extra.insert("target_label".into(), spec.label.clone().into());
                extra.insert("target_pane".into(), pane.to_string().into());
            })
        }
        Action::Close(glob) => close(d, glob).await.map(|closed| {
            extra.insert("target_label".into(), glob.clone().into());
            extra.insert(
                "closed".into(),
                closed.iter().map(|p| p.to_string()).collect::<Vec<_>>().into(),
            );
        }),
        Action::Send(send) => async {
            let client = d.client().ok_or("no tmux connection")?;
            let target = ops::resolve(&client, &send.pane).await.map_err(|e| e.to_string())?;
            ops::send(&client, target.id, &send.text, send.enter)
                .await
                .map_err(|e| e.to_string())?;
            extra.insert("target_label".into(), send.pane.clone().into());
            extra.insert("target_pane".into(), target.id.to_string().into());
            Ok::<(), String>(())
        }
        .await
        .map_err(|e: String| e),
        _ => Ok(()),
    };
    match result {
        Ok(()) => ActionOutcome { ok: true, duration: start.elapsed(), ..ActionOutcome::default() },
        Err(e) => ActionOutcome {
            ok: false,
            error: Some(e),
            duration: start.elapsed(),
            ..ActionOutcome::default()
        },
    }
}

/// Patterns to register on a new pane before its first output is read.
struct Watch {
    ready: Option<(String, oneshot::Sender<DynamicMatch>)>,
    fail: Option<(String, oneshot::Sender<DynamicMatch>)>,
}

/// Spawns a labelled pane in `session`; returns its id and session name.
async fn spawn(
    d: &Dispatcher,
    spec: &SpawnAction,
    session: &str,
    watch: Option<Watch>,
) -> Result<(PaneId, String), String> {
    let client = d.client().ok_or("no tmux connection")?;
    let placement = match &spec.beside {
        None => Placement::Window,
        Some(label) => {
            let beside = ops::resolve(&client, label)
                .await
                .map_err(|e| format!("spawn `{}`: {e}", spec.label))?;
            Placement::Split {
                beside: beside.id,
                horizontal: spec.horizontal,
                size: spec.size.clone(),
            }
        }
    };
    let base = rules_dir(d);
    let cwd = Some(match &spec.cwd {
        Some(c) if c.is_relative() => base.join(c),
        Some(c) => c.clone(),
        None => base,
    });
    let ospec = SpawnSpec {
        session: session.to_string(),
        label: spec.label.clone(),
        command: spec.command.clone(),
        cwd,
        env: spec.env.clone(),
        meta: spec.meta.clone().into_iter().collect::<BTreeMap<_, _>>(),
        placement,
        // Always keep the pane when its process exits, so the exit status can be read;
        // `keep = false` panes are closed by ctmuxd once the exit is recorded.
        keep: true,
        replace: spec.replace,
    };
    let engine = d.engine.clone();
    let label = spec.label.clone();
    let reap = !spec.keep;
    let sname = session.to_string();
    let hook = move |pane: PaneId| {
        let mut engine = engine.lock().expect("engine");
        let info = PaneInfo {
            session_name: sname,
            label: Some(label),
            reap,
            ..engine.pane_info(pane).cloned().unwrap_or_default()
        };
        engine.upsert_pane(pane, info);
        if let Some(w) = watch {
            for (pattern, tx) in [w.ready, w.fail].into_iter().flatten() {
                let dp = DynamicPattern {
                    pattern,
                    prompt: false,
                    pane: Some(pane),
                    sink: DynamicSink::Once { tx, skip_echo: None },
                };
                if let Err(e) = engine.add_dynamic(dp) {
                    tracing::error!("readiness pattern: {e}");
                }
            }
        }
    };
    let rec = ops::spawn(&client, &ospec, hook).await.map_err(|e| e.to_string())?;
    let alive = {
        let mut engine = d.engine.lock().expect("engine");
        let mut info = engine.pane_info(rec.id).cloned().unwrap_or_default();
        info.session = Some(rec.session);
        info.window = Some(rec.window);
        info.session_name = rec.session_name.clone();
        engine.upsert_pane(rec.id, info);
        engine.panes_alive()
    };
    pane_record(d, "spawned", rec.id, &spec.label, alive, None);
    Ok((rec.id, rec.session_name))
}

fn rules_dir(d: &Dispatcher) -> PathBuf {
    let engine = d.engine.lock().expect("engine");
    let path = &engine.rules().path;
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf())
}

/// Closes every pane whose label matches `glob`; returns their ids.
async fn close(d: &Dispatcher, glob: &str) -> Result<Vec<PaneId>, String> {
    let client = d.client().ok_or("no tmux connection")?;
    let panes = ops::find(&client, glob).await.map_err(|e| e.to_string())?;
    let mut closed = Vec::new();
    for p in panes {
        match ops::close(&client, p.id).await {
            Ok(()) => {
                let alive = {
                    let mut engine = d.engine.lock().expect("engine");
                    engine.remove_pane(p.id);
                    engine.panes_alive()
                };
                pane_record(d, "closed", p.id, p.label.as_deref().unwrap_or(glob), alive, None);
                closed.push(p.id);
            }
            Err(e) => tracing::debug!("close {}: {e}", p.id),
        }
    }
    Ok(closed)
}

fn pane_record(
    d: &Dispatcher,
    what: &str,
    pane: PaneId,
    label: &str,
    alive: usize,
    message: Option<String>,
) {
    let mut rec = Record::now("pane");
    rec.action = Some(what.to_string());
    rec.pane = Some(pane.to_string());
    rec.label = Some(label.to_string());
    rec.message = message;
    rec.extra.insert("panes_alive".into(), alive.into());
    d.append(&rec);
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

/// A pane's process exited: record it, fire `on = "exit"` rules, tell anyone waiting
/// for it to become ready, and close it if ctmuxd spawned it with `keep = false`.
pub fn pane_exited(
    d: &Dispatcher,
    exits: &mpsc::UnboundedSender<(PaneId, Option<i32>)>,
    pane: PaneId,
    status: Option<i32>,
    signal: Option<i32>,
) {
    let (firings, info, alive) = {
        let mut engine = d.engine.lock().expect("engine");
        let Some(firings) = engine.pane_exited(pane, status, now_ns()) else { return };
        (firings, engine.pane_info(pane).cloned().unwrap_or_default(), engine.panes_alive())
    };
    let mut rec = Record::now("pane");
    rec.action = Some("exited".into());
    rec.pane = Some(pane.to_string());
    rec.label = info.label.clone();
    rec.exit_code = status;
    rec.signal = signal;
    rec.extra.insert("panes_alive".into(), alive.into());
    d.append(&rec);
    let _ = exits.send((pane, status));
    let reap = info.reap;
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
                if ops::close(&c, pane).await.is_ok() {
                    let alive = {
                        let mut engine = d2.engine.lock().expect("engine");
                        engine.remove_pane(pane);
                        engine.panes_alive()
                    };
                    pane_record(
                        &d2,
                        "closed",
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

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Waiting,
    Starting,
    Ready,
    Failed(String),
}

/// Starts the `[[pane]]` entries in `session`: each once everything in its `after` is
/// ready; panes that already exist with their label (ctmuxd restarted) are adopted.
/// Returns when every pane is ready, failed or held back.
pub async fn start_panes(
    d: Dispatcher,
    specs: Vec<PaneSpec>,
    session: String,
    mut exits: mpsc::UnboundedReceiver<(PaneId, Option<i32>)>,
) {
    let mut state: HashMap<String, State> =
        specs.iter().map(|s| (s.spawn.label.clone(), State::Waiting)).collect();
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<(String, Result<(), String>)>();
    // Pane id → label, for exits of panes still starting.
    let mut starting: HashMap<PaneId, mpsc::UnboundedSender<Option<i32>>> = HashMap::new();
    let existing = match d.client() {
        Some(c) => ops::list(&c).await.unwrap_or_default(),
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
                    let mut rec = Record::now("pane");
                    rec.action = Some("held".into());
                    rec.label = Some(label.clone());
                    rec.message = Some(why.clone());
                    rec.extra.insert(
                        "panes_alive".into(),
                        d.engine.lock().expect("engine").panes_alive().into(),
                    );
                    d.append(&rec);
                    state.insert(label.clone(), State::Failed(why));
                    progressed = true;
                    continue;
                }
                if !spec.after.iter().all(|dep| state[dep] == State::Ready) {
                    continue;
                }
                state.insert(label.clone(), State::Starting);
                progressed = true;
                if let Some(p) =
                    existing.iter().find(|p| p.label.as_deref() == Some(label.as_str()) && !p.dead)
                {
                    let mut rec = Record::now("pane");
                    rec.action = Some("adopted".into());
                    rec.label = Some(label.clone());
                    rec.pane = Some(p.id.to_string());
                    d.append(&rec);
                    let _ = done_tx.send((label.clone(), Ok(())));
                    continue;
                }
                let (exit_tx, exit_rx) = mpsc::unbounded_channel();
                let spec = spec.clone();
                let d2 = d.clone();
                let done = done_tx.clone();
                let session = session.clone();
                let (id_tx, id_rx) = oneshot::channel();
                d.spawn(async move {
                    let r = start_one(&d2, &spec, &session, exit_rx, id_tx).await;
                    let _ = done.send((spec.spawn.label.clone(), r));
                });
                if let Ok(id) = id_rx.await {
                    starting.insert(id, exit_tx);
                }
            }
        }
        if state.values().all(|s| matches!(s, State::Ready | State::Failed(_))) {
            return;
        }
        tokio::select! {
            Some((label, result)) = done_rx.recv() => {
                let alive = d.engine.lock().expect("engine").panes_alive();
                let mut rec = Record::now("pane");
                rec.label = Some(label.clone());
                rec.extra.insert("panes_alive".into(), alive.into());
                match result {
                    Ok(()) => {
                        rec.action = Some("ready".into());
                        state.insert(label, State::Ready);
                    }
                    Err(why) => {
                        rec.action = Some("failed".into());
                        rec.message = Some(why.clone());
                        state.insert(label, State::Failed(why));
                    }
                }
                d.append(&rec);
            }
            Some((pane, status)) = exits.recv() => {
                if let Some(tx) = starting.get(&pane) {
                    let _ = tx.send(status);
                }
            }
            else => return,
        }
    }
}

async fn start_one(
    d: &Dispatcher,
    spec: &PaneSpec,
    session: &str,
    mut exit_rx: mpsc::UnboundedReceiver<Option<i32>>,
    id_tx: oneshot::Sender<PaneId>,
) -> Result<(), String> {
    let (ready_tx, ready_rx) = oneshot::channel();
    let (fail_tx, fail_rx) = oneshot::channel();
    let watch = Watch {
        ready: spec.ready.clone().map(|p| (p, ready_tx)),
        fail: spec.fail.clone().map(|p| (p, fail_tx)),
    };
    let (pane, _) = spawn(d, &spec.spawn, session, Some(watch)).await?;
    let _ = id_tx.send(pane);
    if spec.ready.is_none() {
        return Ok(());
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
    }
}

/// Whether a label matches a label glob (shared with `close`).
pub fn label_matches(glob: &str, label: &str) -> bool {
    glob_match(glob, label)
}
