//! Running what a firing asks for: each firing's actions run in order on their own task;
//! a failing action is recorded with its reason and the rule's remaining actions are
//! skipped. Every match and every outcome becomes one event-log record.
//!
//! Each action runs itself ([`Action::run`]) over [`ActionHost`], which the dispatcher
//! provides per firing: the exec runner, any live control connection, pane spawning and
//! closing ([`crate::pane_lifecycle`]), and the `on = "event"` rules an `emit` fires.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tmux_control_parser::{PaneId, SessionId};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::action::{
    Action, ActionContext, ActionHost, ActionOutcome, ExecRunner, HostFuture, SpawnSpec,
};
use crate::eventlog::{
    ActionDetails, ConditionEvent, EventLog, MatchEvent, OverflowEvent, Record, SkippedEvent,
    TriggerEvent, TriggerOn,
};
use crate::exit::DaemonError;
use crate::firing::{now_ns, Engine, Firing};
use crate::pane_lifecycle;
use crate::rules::{RuleSet, Trigger};
use crate::tmux::control::ControlClient;

/// Runs firings' actions and records them.
#[derive(Clone)]
pub struct Dispatcher {
    runner: ExecRunner,
    log: Arc<EventLog>,
    /// Every running firing; [`Dispatcher::shutdown`] waits on it with a bound.
    tracker: TaskTracker,
    /// Which source produced the events (`control`, `poll`), written into each record.
    mode: &'static str,
    /// The engine (panes, labels, rules); shared with the reader tasks.
    pub(crate) engine: Arc<Mutex<Engine>>,
    /// Live control connections by session; pane actions use any of them.
    pub(crate) clients: Arc<Mutex<HashMap<SessionId, ControlClient>>>,
    /// Every record appended, for `ctmuxd events` subscribers. Bounded: a subscriber
    /// that falls behind is told how many it lost (`Lagged`).
    /// PERF: records go in `Arc`s: the channel's 1,024 slots are allocated and written up
    /// front, and a `Record` is 408 bytes: about 440 KiB per server (per engine, with
    /// several servers) held by whole records, about 40 KiB by pointers.
    events: broadcast::Sender<Arc<Record>>,
    /// Firings whose actions wait or run; bounded by `max_queued`.
    queued: Arc<AtomicUsize>,
    /// Firings dropped since the queue was last empty.
    dropped: Arc<AtomicU64>,
    /// The bound on `queued`.
    max_queued: usize,
    /// Cancelled when the daemon stops: waits that are not actions (a `[[pane]]`
    /// waiting for its ready line) end at once instead of holding up the exit.
    stopping: CancellationToken,
    /// The dispatchers of every server a daemon of several watches, by name (unset with
    /// one server): a spawn with `server = "gpu"` runs on gpu's. Set once, by
    /// [`crate::servers`], before any firing.
    peers: Peers,
    /// Its panes are on another host (over SSH): see [`pane_lifecycle::PaneHost::remote`].
    remote: bool,
}

/// Every server's dispatcher by server name, shared by all of them.
pub type Peers = Arc<std::sync::OnceLock<HashMap<String, Dispatcher>>>;

/// Firings that may wait for or run their actions at once, per allowed concurrent exec.
const QUEUE_PER_SLOT: usize = 128;

impl Dispatcher {
    /// A dispatcher writing to `log`, running exec actions through `runner`.
    pub fn new(
        runner: ExecRunner,
        log: Arc<EventLog>,
        mode: &'static str,
        engine: Arc<Mutex<Engine>>,
    ) -> Dispatcher {
        let (events, _) = broadcast::channel(1024);
        Dispatcher {
            events,
            queued: Arc::default(),
            dropped: Arc::default(),
            max_queued: runner.max_concurrent().max(1) * QUEUE_PER_SLOT,
            runner,
            log,
            tracker: TaskTracker::new(),
            mode,
            engine,
            clients: Arc::default(),
            stopping: CancellationToken::new(),
            peers: Peers::default(),
            remote: false,
        }
    }

    /// Marks the panes as on another host (call before cloning it).
    pub fn set_remote(&mut self) {
        self.remote = true;
    }

    /// Joins this dispatcher to the servers of one daemon (call before cloning it).
    pub fn set_peers(&mut self, peers: Peers) {
        self.peers = peers;
    }

    /// The dispatcher of the server called `name`: this one (its log names it, or it is
    /// the only one), or a peer's.
    pub fn on_server(&self, name: &str) -> Option<Dispatcher> {
        match self.peers.get() {
            Some(peers) => peers.get(name).cloned(),
            None => (self.log.server() == Some(name)).then(|| self.clone()),
        }
    }

    /// For a `server/label` address naming a server of this daemon: that server's
    /// dispatcher and the label there. `None` for a bare label, or with one server.
    pub fn peer_address<'a>(&self, address: &'a str) -> Option<(Dispatcher, &'a str)> {
        let (server, rest) = address.split_once('/')?;
        self.peers.get()?.get(server).map(|d| (d.clone(), rest))
    }

    /// The session a pane spawned on this server without a session of its own opens in:
    /// the rules' `session`, else the first session a watched pane is in.
    pub fn default_session(&self) -> String {
        let engine = self.engine.lock().expect("engine");
        engine
            .rules()
            .settings
            .session
            .clone()
            .or_else(|| {
                engine.panes().into_iter().map(|(_, i)| i.session_name).find(|s| !s.is_empty())
            })
            .unwrap_or_default()
    }

    /// Cancelled when [`Dispatcher::shutdown`] begins: waits that must not delay the
    /// daemon's exit (readiness) select on it.
    pub fn stopping(&self) -> &CancellationToken {
        &self.stopping
    }

    /// The dispatcher a daemon runs on: the event log in `events_dir`, an engine for
    /// `rules`, and an exec runner with the rules' concurrency cap and default timeout.
    ///
    /// # Errors
    /// The event log cannot be opened, or the rules do not compile.
    pub fn for_rules(
        rules: &RuleSet,
        events_dir: &Path,
        mode: &'static str,
    ) -> Result<Dispatcher, DaemonError> {
        let log = EventLog::open(events_dir)
            .map_err(|source| DaemonError::EventLog { dir: events_dir.to_path_buf(), source })?;
        Dispatcher::for_rules_on(rules, log, mode)
    }

    /// Like [`Dispatcher::for_rules`], writing to `log` (one server's view of a log
    /// several servers share: [`EventLog::for_server`]).
    ///
    /// # Errors
    /// The rules do not compile.
    pub fn for_rules_on(
        rules: &RuleSet,
        log: EventLog,
        mode: &'static str,
    ) -> Result<Dispatcher, DaemonError> {
        let log = Arc::new(log);
        let engine = Arc::new(Mutex::new(Engine::new(rules.clone())?));
        let runner =
            ExecRunner::new(rules.settings.max_concurrent_actions, rules.settings.default_timeout);
        Ok(Dispatcher::new(runner, log, mode, engine))
    }

    /// Keeps at most `records` records for a subscriber that falls behind (1,024 by
    /// default): one server of several has one subscriber, the task handing its records
    /// on to the daemon's feed at once, and needs fewer. Before anything subscribes.
    pub fn set_event_capacity(&mut self, records: usize) {
        self.events = broadcast::channel(records.max(1)).0;
    }

    /// A live feed of the records appended from now on.
    pub fn subscribe_events(&self) -> broadcast::Receiver<Arc<Record>> {
        self.events.subscribe()
    }

    /// The exec runner (its cap applies to every exec the daemon runs).
    pub fn runner(&self) -> &ExecRunner {
        &self.runner
    }

    /// The event log records go to.
    pub fn log(&self) -> &Arc<EventLog> {
        &self.log
    }

    /// Which source feeds this dispatcher (`control`, `poll`).
    pub fn mode(&self) -> &'static str {
        self.mode
    }

    /// Any live control connection, for pane commands.
    pub fn client(&self) -> Option<ControlClient> {
        self.clients.lock().expect("clients").values().next().cloned()
    }

    /// Records the match now (synchronously, so the log order is the detection order),
    /// then runs the rule's actions on a task of their own.
    pub fn fire(&self, firing: Firing) {
        self.fire_marked(firing, false);
    }

    /// As [`Dispatcher::fire`], for a line read back with `capture-pane` after tmux had
    /// dropped it (a paused pane): the match record carries `"catch_up": true`.
    pub fn fire_catch_up(&self, firing: Firing) {
        self.fire_marked(firing, true);
    }

    fn fire_marked(&self, firing: Firing, catch_up: bool) {
        if firing.condition.is_some() {
            self.append(&Record {
                ts_ns: firing.ts_ns,
                event: condition_event(&firing, self.mode).into(),
            });
        } else if firing.rule().trigger == Trigger::Output {
            let mut event = match_event(&firing, self.mode);
            event.catch_up |= catch_up;
            self.append(&Record { ts_ns: firing.ts_ns, event: event.into() });
        }
        if !firing.actions().iter().any(Action::runs) {
            // Nothing to run (`log` only): the trigger record is all an exit, command or
            // event rule does, as the match record is for an output rule.
            if firing.rule().trigger != Trigger::Output && firing.condition.is_none() {
                self.append(&Record::now(self.trigger_event(&firing)));
            }
            return;
        }
        self.queue(firing);
    }

    /// Runs a firing's actions on a task, unless the queue of firings waiting or running
    /// is full: then the firing is dropped, counted and recorded (the first drop, every
    /// hundredth, and a total once the queue has room again). Never silent, never unbounded.
    fn queue(&self, firing: Firing) {
        let queued = self.queued.fetch_add(1, Ordering::SeqCst);
        if queued >= self.max_queued {
            self.queued.fetch_sub(1, Ordering::SeqCst);
            let dropped = self.dropped.fetch_add(1, Ordering::SeqCst) + 1;
            if dropped == 1 || dropped.is_multiple_of(100) {
                self.append(&Record::now(OverflowEvent {
                    origin: firing.ctx.origin(),
                    mode: Some(self.mode.to_string()),
                    message: format!(
                        "action queue full ({} firings waiting or running): actions of this firing not run; {dropped} dropped so far",
                        self.max_queued
                    ),
                    dropped,
                }));
            }
            return;
        }
        let this = self.clone();
        self.tracker.spawn(async move {
            this.run_actions(firing, 0).await;
            if this.queued.fetch_sub(1, Ordering::SeqCst) == 1 {
                let dropped = this.dropped.swap(0, Ordering::SeqCst);
                if dropped > 0 {
                    this.append(&Record::now(OverflowEvent {
                        message: format!(
                            "action queue drained; {dropped} firing(s) were dropped while it was full"
                        ),
                        dropped,
                        ..OverflowEvent::default()
                    }));
                }
            }
        });
    }

    /// Runs `task` on the dispatcher's tracker (waited for at shutdown).
    pub fn spawn<F>(&self, task: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        self.tracker.spawn(task);
    }

    /// The `trigger` record of a firing of an exit, command or event rule.
    fn trigger_event(&self, firing: &Firing) -> TriggerEvent {
        TriggerEvent {
            origin: firing.ctx.origin(),
            mode: Some(self.mode.to_string()),
            on: match firing.rule().trigger {
                Trigger::Exit(_) => TriggerOn::Exit,
                Trigger::Command(..) => TriggerOn::Command,
                Trigger::Event(_) | Trigger::Output => TriggerOn::Event,
            },
        }
    }

    fn run_actions(
        &self,
        firing: Firing,
        depth: usize,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            let trigger = &firing.rule().trigger;
            if *trigger != Trigger::Output && firing.condition.is_none() {
                // Exit, command and event rules have no match record: say why they fired.
                self.append(&Record::now(self.trigger_event(&firing)));
            }
            let actions = firing.actions().to_vec();
            let host = FiringHost { dispatcher: self, depth };
            for (i, action) in actions.iter().enumerate() {
                if !action.runs() {
                    continue;
                }
                let start_ns = now_ns();
                let mut details = ActionDetails::default();
                let outcome: ActionOutcome = action.run(&host, &firing.ctx, &mut details).await;
                let mut event = outcome.to_event(action, &firing.ctx).with_details(details);
                event.mode = Some(self.mode.to_string());
                event.start_ns = Some(start_ns);
                event.index = Some(i);
                self.append(&Record::now(event));
                if !outcome.ok {
                    if i + 1 < actions.len() {
                        self.append(&Record::now(SkippedEvent {
                            origin: firing.ctx.origin(),
                            mode: Some(self.mode.to_string()),
                            message: format!(
                                "{} remaining action(s) skipped after a failed {}",
                                actions.len() - i - 1,
                                action.kind()
                            ),
                            lines: None,
                        }));
                    }
                    break;
                }
            }
        })
    }

    /// Runs the actions of firings not caused by a line (exits), on the tracker; a
    /// condition an exit completed (an `all`/`any` naming an exit rule) is recorded first,
    /// as [`Dispatcher::fire`] does.
    pub fn fire_all(&self, firings: Vec<Firing>) {
        for f in firings {
            match f.condition {
                Some(_) => self.fire(f),
                None => self.queue(f),
            }
        }
    }

    /// Stops accepting work, ends readiness waits at once ([`Dispatcher::stopping`]) and
    /// waits up to `grace` for running actions. Returns how many were still running when
    /// the wait gave up.
    pub async fn shutdown(&self, grace: Duration) -> usize {
        self.stopping.cancel();
        self.tracker.close();
        if tokio::time::timeout(grace, self.tracker.wait()).await.is_err() {
            return self.tracker.len();
        }
        0
    }

    /// Appends a record; a failing log write is reported on stderr, never fatal.
    pub fn append(&self, rec: &Record) {
        if let Err(e) = self.log.append(rec) {
            // Once per run of failures (a full disk fails every record): the records lost
            // are counted and reported in the log once writing works again.
            if self.log.unreported() == 1 {
                tracing::error!(
                    "event log {}: {e}; records are counted as lost until writing works again",
                    self.log.path().display()
                );
            }
        }
        if self.events.receiver_count() > 0 {
            let _ = self.events.send(Arc::new(rec.clone()));
        }
        // One line per event on the daemon's stderr, for a person watching it (formatted
        // only when that level is on; `RUST_LOG=warn` turns it off). Daemon records are
        // said by the daemon itself as they happen.
        if !matches!(rec.event, crate::eventlog::Event::Daemon(_)) {
            tracing::info!(target: "ctmuxd::event", "{}", crate::eventlog::human_text(rec));
        }
    }
}

impl pane_lifecycle::PaneHost for Dispatcher {
    fn engine(&self) -> &Arc<Mutex<Engine>> {
        &self.engine
    }
    fn client(&self) -> Option<ControlClient> {
        Dispatcher::client(self)
    }
    fn mode(&self) -> &'static str {
        Dispatcher::mode(self)
    }
    fn append(&self, rec: &Record) {
        Dispatcher::append(self, rec);
    }
    fn fire(&self, firing: Firing) {
        Dispatcher::fire(self, firing);
    }
    fn fire_all(&self, firings: Vec<Firing>) {
        Dispatcher::fire_all(self, firings);
    }
    fn spawn<F>(&self, task: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        Dispatcher::spawn(self, task);
    }
    fn stopping(&self) -> &CancellationToken {
        Dispatcher::stopping(self)
    }
    fn remote(&self) -> bool {
        self.remote
    }
}

/// The [`ActionHost`] a firing's actions run over: the dispatcher, plus how many `emit`s
/// deep the firing is (so an `emit` chain can be cut).
struct FiringHost<'d> {
    dispatcher: &'d Dispatcher,
    depth: usize,
}

impl ActionHost for FiringHost<'_> {
    fn exec_runner(&self) -> &ExecRunner {
        &self.dispatcher.runner
    }
    fn append(&self, rec: &Record) {
        self.dispatcher.append(rec);
    }
    fn control(&self) -> Result<ControlClient, String> {
        pane_lifecycle::need_client(self.dispatcher)
    }
    fn spawn_pane<'a>(
        &'a self,
        spec: &'a SpawnSpec,
        ctx: &'a ActionContext,
    ) -> HostFuture<'a, Result<PaneId, String>> {
        Box::pin(async move {
            let d = self.dispatcher;
            if let Some(server) = spec.server.as_deref().filter(|s| d.log.server() != Some(*s)) {
                // Another server's pane: its dispatcher spawns it, in one of its sessions.
                let Some(peer) = d.on_server(server) else {
                    return Err(format!("no server named `{server}` is watched"));
                };
                let session = peer.default_session();
                let (pane, _) = pane_lifecycle::spawn(&peer, spec, &session, None)
                    .await
                    .map_err(String::from)?;
                return Ok(pane);
            }
            let session = d.engine.lock().expect("engine").rules().settings.session.clone();
            let session = session.unwrap_or(ctx.session.clone());
            let (pane, _) =
                pane_lifecycle::spawn(d, spec, &session, None).await.map_err(String::from)?;
            Ok(pane)
        })
    }
    fn control_for<'a>(&self, address: &'a str) -> Result<(ControlClient, &'a str), String> {
        match self.dispatcher.peer_address(address) {
            Some((peer, rest)) => Ok((pane_lifecycle::need_client(&peer)?, rest)),
            None => Ok((self.control()?, address)),
        }
    }
    fn close_panes<'a>(&'a self, glob: &'a str) -> HostFuture<'a, Result<Vec<PaneId>, String>> {
        Box::pin(async move {
            match self.dispatcher.peer_address(glob) {
                Some((peer, rest)) => pane_lifecycle::close(&peer, rest).await,
                None => pane_lifecycle::close(self.dispatcher, glob).await,
            }
        })
    }
    fn emit_depth(&self) -> usize {
        self.depth
    }
    fn raise_event<'a>(&'a self, name: &'a str, ctx: &'a ActionContext) -> HostFuture<'a, ()> {
        Box::pin(async move {
            let firings = self.dispatcher.engine.lock().expect("engine").fire_event(name, ctx);
            for f in firings {
                if f.condition.is_some() {
                    // An `all`/`any` the event completed: its record, as `fire` writes it.
                    let event = condition_event(&f, self.dispatcher.mode);
                    self.dispatcher.append(&Record { ts_ns: f.ts_ns, event: event.into() });
                }
                self.dispatcher.run_actions(f, self.depth + 1).await;
            }
        })
    }
}

/// The `condition` record of a firing of a rule with a condition: the rule, the pane and
/// line its actions get, and the parts that satisfied it.
pub fn condition_event(f: &Firing, mode: &str) -> ConditionEvent {
    let fired = f.condition.as_deref();
    ConditionEvent {
        origin: f.ctx.origin(),
        mode: Some(mode.to_string()),
        condition: fired.map_or("", |c| c.condition).to_string(),
        timed_out: fired.is_some_and(|c| c.timed_out),
        parts: fired.map(|c| c.parts.clone()).unwrap_or_default(),
        missing: fired.map(|c| c.missing.clone()).unwrap_or_default(),
    }
}

/// The event of a rule matching a line (the dispatcher stamps it with the firing's time).
pub fn match_event(f: &Firing, mode: &str) -> MatchEvent {
    MatchEvent {
        origin: f.ctx.origin(),
        mode: Some(mode.to_string()),
        captures: (!f.ctx.captures.is_empty()).then(|| f.ctx.captures.iter().cloned().collect()),
        catch_up: f.catch_up,
        prompt: !f.complete,
        seq: Some(f.seq),
    }
}
