//! The daemon's side of the control API: [`DaemonBackend`] implements
//! [`crate::api::Backend`] over the engine (labels, ring buffers, run-time patterns) and
//! the control connections (pane commands).
//!
//! `wait-for` and `send --expect` register their pattern with the engine *before* anything
//! else happens (under the same lock as the ring search for `--since`, before the keys are
//! sent), so a line printed after the request can never slip past; the pattern is removed
//! when the request's future is dropped (answer, timeout or client gone). Each pattern is
//! its own small regex compiled before the engine is locked ([`crate::waiters`]): the
//! rules' matcher is never compiled again for it.
//!
//! Requests must not delay rule firing, which shares the control connections with them:
//! tmux answers a connection's commands and sends its pane output on one stream, in order,
//! so every API command queued there is output waiting behind it. Hence:
//! - what the daemon knows is answered from memory: labels are resolved from the engine's
//!   pane registry for `send`, `capture` and `wait_for` (tmux is asked only when the
//!   registry does not know the label, or knows it twice); `capture`, `rules`, `status` and
//!   the last lines of `panes` never go to tmux, and pane views are built under one lock;
//! - API requests take turns for tmux: at most [`API_TMUX_TURNS`] of them, all clients
//!   together, have a tmux command in flight, and a request holds at most one turn (a
//!   connection's requests are answered one at a time), so waiting is fair (first come,
//!   first served) and the reply queue never holds more than a few API commands;
//! - concurrent `list-panes` are shared: a request that needs the pane list gets the
//!   result of the next listing that starts after it arrived, so any number of clients
//!   asking `panes` at once cost one `list-panes` at a time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tmux_control_parser::PaneId;
use tokio::sync::{mpsc, oneshot, watch, Notify, Semaphore, SemaphorePermit};

use crate::action::{ActionContext, ExecAction};
use crate::action_tasks::Dispatcher;
use crate::api::protocol::ShellView;
use crate::api::protocol::{ApiError, Empty, ErrorCode, MatchView, PaneView};
use crate::api::request::{read_window, PausedView, ReadReply, ReadRequest};
use crate::api::request::{
    CaptureReply, CaptureRequest, CaptureView, CloseReply, CloseRequest, EventFeed, EventsRequest,
    LabelReply, LabelRequest, PaneEntryView, PanesReply, PanesRequest, ReloadReply, ReloadRequest,
    RuleView, RulesReply, RulesRequest, SendReply, SendRequest, SpawnReply, SpawnRequest,
    StatusReply, StatusRequest, StatusView, StopRequest, SubscribeRequest, WaitReply, WaitRequest,
};
use crate::api::request::{RunReply, RunRequest, WaitState};
use crate::api::request::{DEFAULT_IDLE_MS, DEFAULT_PROMPT};
use crate::api::{Backend, BackendFuture, Subscription};
use crate::eventlog::{DaemonEvent, MatchEvent, Origin, Record};
use crate::firing::RunRefusal;
use crate::firing::{DynamicMatch, DynamicPattern, DynamicSink};
use crate::pane_lifecycle;
use crate::panes::StartState;
use crate::panes::{RunCapture, ShellWait};
use crate::tmux::control::ReplyHook;
use crate::tmux::labelled::{self, glob_match, OpsError, PaneRecord};
use crate::tmux::version::TmuxVersion;
use crate::tmux::TmuxTarget;
use crate::waiters::{Echo, EchoAnchor, PatternRegex, Progress, Waiter};

/// The longest `send --enter` waits for the typed text to be echoed before pressing Enter
/// anyway: reached only by a pane that keeps printing without showing the text.
const ECHO_WAIT: Duration = Duration::from_secs(2);
/// `send --enter` presses Enter once the pane printed nothing for this long after the text
/// was sent, echoed or not: a program that does not echo (`read -s`, `stty -echo`, a
/// password prompt) costs this, not [`ECHO_WAIT`]. An echo comes within a few
/// milliseconds of the keys; a slower one means the program is busy, and the keys wait
/// in its terminal in order either way.
const ECHO_QUIET: Duration = Duration::from_millis(100);
/// Matches a subscriber may fall behind by before further ones are dropped (and counted).
const SUBSCRIBER_QUEUE: usize = 1024;
/// API requests that may have a tmux command in flight at once, all clients together.
pub const API_TMUX_TURNS: usize = 2;

/// The last shared `list-panes`: its sequence number (listings started before it, plus
/// one) and its result.
type Listing = Option<(u64, Result<Arc<Vec<PaneRecord>>, ApiError>)>;

/// A rule added at run time with `subscribe`.
struct RuntimeRule {
    id: u64,
    name: String,
    pattern: String,
    matches: Arc<AtomicU64>,
}

/// The daemon's implementation of the API.
pub struct DaemonBackend {
    dispatcher: Dispatcher,
    target: TmuxTarget,
    started: Instant,
    stop: Arc<Notify>,
    runtime_rules: Arc<Mutex<Vec<RuntimeRule>>>,
    next_rule: AtomicU64,
    /// The watched server's tmux release, once connected.
    tmux_version: Arc<Mutex<Option<TmuxVersion>>>,
    /// Turns for tmux (see the module docs); fair, first come first served.
    tmux_turns: Semaphore,
    /// The last shared listing; held while a listing runs, so waiters queue behind it.
    listing: tokio::sync::Mutex<Listing>,
    /// Listings started so far.
    listings_started: AtomicU64,
}

impl DaemonBackend {
    /// A backend over `dispatcher` (engine + connections); `stop` is notified by `ctmuxd stop`.
    /// `tmux_version` is filled in by the daemon at each connect and shown by `status`.
    pub fn new(
        dispatcher: Dispatcher,
        target: TmuxTarget,
        stop: Arc<Notify>,
        tmux_version: Arc<Mutex<Option<TmuxVersion>>>,
    ) -> DaemonBackend {
        DaemonBackend {
            dispatcher,
            target,
            started: Instant::now(),
            stop,
            runtime_rules: Arc::default(),
            next_rule: AtomicU64::new(1),
            tmux_version,
            tmux_turns: Semaphore::new(API_TMUX_TURNS),
            listing: tokio::sync::Mutex::new(None),
            listings_started: AtomicU64::new(0),
        }
    }

    /// Waits for this request's turn to send tmux commands; the turn ends when dropped.
    /// Never hold one across a wait for pane output, nor while asking for another.
    async fn tmux_turn(&self) -> SemaphorePermit<'_> {
        self.tmux_turns.acquire().await.expect("the tmux turns are never closed")
    }

    /// Every pane of the server from a `list-panes` that started after this call; callers
    /// arriving while one runs share the next one.
    async fn list(&self) -> Result<Arc<Vec<PaneRecord>>, ApiError> {
        let arrived = self.listings_started.load(Ordering::SeqCst);
        let mut last = self.listing.lock().await;
        if let Some((n, result)) = last.as_ref() {
            if *n > arrived {
                return result.clone();
            }
        }
        let n = self.listings_started.fetch_add(1, Ordering::SeqCst) + 1;
        let result = async {
            let client = self.client()?;
            let _turn = self.tmux_turn().await;
            labelled::list(&client).await.map(Arc::new).map_err(ops_error)
        }
        .await;
        *last = Some((n, result.clone()));
        result
    }

    fn client(&self) -> Result<crate::tmux::control::ControlClient, ApiError> {
        self.dispatcher.client().ok_or_else(|| {
            if self.dispatcher.mode() == "poll" {
                ApiError::new(
                    ErrorCode::Tmux,
                    "this daemon polls (--poll): panes, spawn, close, send, capture and \
                     wait-for need a daemon in control mode",
                )
            } else {
                ApiError::new(
                    ErrorCode::Tmux,
                    "no tmux connection (tmux is gone; ctmuxd is waiting for it)",
                )
            }
        })
    }

    /// The pane labelled exactly `label`: from the engine's registry when exactly one pane
    /// there has it, else from tmux (a label set by hand a moment ago, or one used in two
    /// sessions, which tmux lists in its own order). A pane id (`%3`) that no pane has as
    /// its label names that pane, labelled or not, as it does in rules; so does a tmux
    /// target (`main:2.1`) that no pane has as its label.
    async fn resolve(&self, label: &str) -> Result<PaneId, ApiError> {
        let id: Option<PaneId> = label.parse().ok();
        {
            let engine = self.dispatcher.engine.lock().expect("engine");
            let known = engine.panes_labelled(label);
            if let [one] = known[..] {
                return Ok(one);
            }
            if let Some(id) = id.filter(|id| known.is_empty() && engine.pane_info(*id).is_some()) {
                return Ok(id);
            }
        }
        let all = self.list().await?;
        if let Some(r) = all.iter().find(|r| r.label.as_deref() == Some(label)) {
            return Ok(r.id);
        }
        if let Some(r) = id.and_then(|id| all.iter().find(|r| r.id == id)) {
            return Ok(r.id);
        }
        // A tmux target as people write it (`main:2.1`, `build:editor`): tmux resolves it.
        if label.contains(':') {
            if let Some(pane) = self.tmux_target_pane(label).await {
                if all.iter().any(|r| r.id == pane) {
                    return Ok(pane);
                }
            }
        }
        let mut known: Vec<String> = all.iter().filter_map(|r| r.label.clone()).collect();
        known.sort();
        known.dedup();
        Err(ops_error(OpsError::UnknownLabel { label: label.to_string(), known }))
    }

    /// The pane tmux's target syntax `target` (`session:window.pane`, `session:window`)
    /// names, if any. tmux's `display-message` falls back to the current pane for a target
    /// that names none, so what it resolved is checked against each part given.
    async fn tmux_target_pane(&self, target: &str) -> Option<PaneId> {
        use crate::tmux::format;
        let (session, rest) = target.split_once(':')?;
        let (window, pane) = match rest.rsplit_once('.') {
            Some((w, p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => (w, Some(p)),
            _ => (rest, None),
        };
        let client = self.client().ok()?;
        let fmt = format::record(&[
            format::raw("pane_id"),
            format::clean("session_name"),
            format::raw("window_index"),
            format::clean("window_name"),
            format::raw("pane_index"),
        ]);
        let out = {
            let _turn = self.tmux_turn().await;
            let cmd = crate::tmux::command::line("display-message", &["-p", "-t", target, &fmt]);
            client.command(cmd).await.ok()?
        };
        let [id, s, wi, wn, pi] = format::split::<5>(out.first()?)?;
        let agrees = (session.is_empty() || session == s)
            && (window.is_empty() || window == wi || window == wn)
            && pane.is_none_or(|p| p == pi);
        agrees.then(|| id.parse().ok()).flatten()
    }

    /// The views of `records`, their last lines read under one engine lock.
    fn views<'a>(&self, records: impl IntoIterator<Item = &'a PaneRecord>) -> Vec<PaneView> {
        let engine = self.dispatcher.engine.lock().expect("engine");
        records
            .into_iter()
            .map(|r| {
                let last_line =
                    engine.last_lines(r.id, 1).and_then(|mut l| l.pop()).filter(|l| !l.is_empty());
                PaneView {
                    server: None,
                    id: r.id.to_string(),
                    label: r.label.clone(),
                    meta: r.meta.clone().unwrap_or_else(|| Value::Object(Default::default())),
                    session: r.session_name.clone(),
                    window: r.window.to_string(),
                    command: r.command.clone(),
                    pid: r.pid,
                    width: r.size.0,
                    height: r.size.1,
                    alive: !r.dead,
                    exit_status: r.exit_status,
                    exit_signal: r.exit_signal,
                    last_line,
                    start: r
                        .label
                        .as_ref()
                        .filter(|l| engine.rules().panes.iter().any(|p| &p.spawn.label == *l))
                        .and_then(|l| engine.start_states().get(l))
                        .map(|s| s.name().to_string()),
                    target: Some(format!("{}:{}.{}", r.session_name, r.index.0, r.index.1)),
                    matches: engine.pane(r.id).map(|p| p.matches),
                    shell: engine.pane(r.id).and_then(|p| ShellView::of(&p.shell)),
                }
            })
            .collect()
    }
}

/// A pattern of `send` on `pane` (its regex compiled already: `pattern` is not read).
fn pattern(pane: PaneId, prompt: bool, sink: DynamicSink) -> DynamicPattern {
    DynamicPattern { pattern: String::new(), prompt, screen: false, pane: Some(pane), sink }
}

/// Returns once the typed text shows on the line being written (`rx` says so), or the pane
/// printed nothing for [`ECHO_QUIET`], or after [`ECHO_WAIT`] at the latest.
async fn until_echoed(mut rx: watch::Receiver<Progress>) {
    let cap = tokio::time::sleep(ECHO_WAIT);
    tokio::pin!(cap);
    while !rx.borrow_and_update().seen {
        tokio::select! {
            _ = &mut cap => return,
            _ = tokio::time::sleep(ECHO_QUIET) => return,
            changed = rx.changed() => if changed.is_err() { return },
        }
    }
}

/// A `wait_for` on a pane's shell state: looked at now and at each mark its shell sends,
/// until it answers (the server's time bound drops it otherwise).
async fn wait_shell(
    dispatcher: &Dispatcher,
    pane: PaneId,
    state: WaitState,
    after: Option<u64>,
) -> Result<WaitReply, ApiError> {
    let gone = || ApiError::not_found(format!("pane {pane} is gone"));
    let wait = {
        let engine = dispatcher.engine.lock().expect("engine");
        let shell = &engine.pane(pane).ok_or_else(gone)?.shell;
        match state {
            WaitState::Prompt => ShellWait::Prompt,
            WaitState::Finished => ShellWait::Finished {
                after_line: after,
                known: shell.last.as_ref().map(|l| l.ended_ns),
            },
        }
    };
    let answered = until_shell(dispatcher, pane, None, |shell| {
        shell.answers(wait).then(|| ShellView::of(shell))
    });
    match answered.await {
        Ok(Some(shell)) => Ok(WaitReply { matched: None, shell }),
        Ok(None) | Err(ShellGone) => Err(gone()),
    }
}

/// The pane went away while [`until_shell`] waited on its shell.
struct ShellGone;

/// Waits until `answer` gives something for `pane`'s shell, looked at now and again at
/// each mark the shell sends (`Shell::changes`), or until `deadline` (then `Ok(None)`).
async fn until_shell<T>(
    dispatcher: &Dispatcher,
    pane: PaneId,
    deadline: Option<tokio::time::Instant>,
    answer: impl Fn(&crate::panes::Shell) -> Option<T>,
) -> Result<Option<T>, ShellGone> {
    let mut changes = None;
    loop {
        {
            let engine = dispatcher.engine.lock().expect("engine");
            let shell = &engine.pane(pane).ok_or(ShellGone)?.shell;
            if let Some(found) = answer(shell) {
                return Ok(Some(found));
            }
            // Subscribed under the lock of the first look: a mark after it wakes this.
            changes.get_or_insert_with(|| shell.changes.subscribe());
        }
        let rx = changes.as_mut().expect("subscribed above");
        match deadline {
            None => rx.changed().await.map_err(|_| ShellGone)?,
            Some(at) => tokio::select! {
                changed = rx.changed() => changed.map_err(|_| ShellGone)?,
                _ = tokio::time::sleep_until(at) => return Ok(None),
            },
        }
    }
}

/// Removes a run-time pattern from the engine when dropped (unless `keep`).
struct PatternGuard {
    dispatcher: Dispatcher,
    id: u64,
    keep: bool,
}

impl Drop for PatternGuard {
    fn drop(&mut self) {
        if !self.keep {
            if let Ok(mut engine) = self.dispatcher.engine.lock() {
                engine.remove_dynamic(self.id);
            }
        }
    }
}

/// Stops a `run`'s collection when its request ends (answered, timed out, or failed).
struct RunGuard {
    dispatcher: Dispatcher,
    pane: PaneId,
    id: u64,
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        if let Ok(mut engine) = self.dispatcher.engine.lock() {
            engine.cancel_run(self.pane, self.id);
        }
    }
}

/// Why a pane cannot take a `run`, as an API error.
fn run_refused(label: &str, why: RunRefusal) -> ApiError {
    match why {
        RunRefusal::NoIntegration => ApiError::new(
            ErrorCode::BadRequest,
            format!(
                "pane `{label}` shows no shell integration (no OSC 133 mark seen), so ctmuxd \
                 cannot tell where a command's output ends or its status; add it to the \
                 shell's rc file (`ctmuxd shell-init bash >> ~/.bashrc`, or zsh, fish) and \
                 start a new shell in the pane, or load it there now: \
                 `eval \"$(ctmuxd shell-init bash)\"`"
            ),
        ),
        RunRefusal::Busy(Some(cmd)) => ApiError::new(
            ErrorCode::Conflict,
            format!("pane `{label}` is running `{cmd}`; wait for it to finish"),
        ),
        RunRefusal::Busy(None) => ApiError::new(
            ErrorCode::Conflict,
            format!("pane `{label}` is running a command (or another run waits on it); wait for it to finish"),
        ),
    }
}

/// The panes whose shells send integration marks, by pane id, with their state.
fn shells(engine: &crate::firing::Engine) -> Vec<crate::api::request::PaneShellView> {
    let mut out: Vec<_> = engine
        .panes()
        .into_iter()
        .filter_map(|(id, info)| {
            let shell = ShellView::of(&engine.pane(id)?.shell)?;
            Some(crate::api::request::PaneShellView {
                pane: id.to_string(),
                label: info.label,
                shell,
            })
        })
        .collect();
    out.sort_by_key(|s| s.pane.trim_start_matches('%').parse::<u64>().unwrap_or(u64::MAX));
    out
}

/// The `[[pane]]` entries of the rules in force, in file order, with their start state;
/// a waiting entry names the dependencies not ready yet.
fn pane_entries(engine: &crate::firing::Engine) -> Vec<PaneEntryView> {
    let states = engine.start_states();
    engine
        .rules()
        .panes
        .iter()
        .map(|spec| {
            let label = spec.spawn.label.clone();
            let state = states.get(&label).cloned().unwrap_or(StartState::Waiting);
            let reason = match &state {
                StartState::Failed(why) | StartState::Restarting(why) => Some(why.clone()),
                StartState::Waiting => {
                    let pending: Vec<&str> = spec
                        .after
                        .iter()
                        .filter(|dep| states.get(*dep) != Some(&StartState::Ready))
                        .map(String::as_str)
                        .collect();
                    (!pending.is_empty()).then(|| format!("after {}", pending.join(", ")))
                }
                StartState::Starting | StartState::Ready => None,
            };
            PaneEntryView { label, state: state.name().to_string(), reason }
        })
        .collect()
}

fn ops_error(e: OpsError) -> ApiError {
    let code = match &e {
        OpsError::UnknownLabel { .. } => ErrorCode::NotFound,
        OpsError::DuplicateLabel { .. } => ErrorCode::Conflict,
        OpsError::InvalidLabel(_) => ErrorCode::BadRequest,
        OpsError::Tmux(_) | OpsError::Unexpected(_) => ErrorCode::Tmux,
    };
    ApiError::new(code, e.to_string())
}

fn match_view(m: DynamicMatch) -> MatchView {
    MatchView {
        pane: m.pane.to_string(),
        label: m.label,
        line: m.line,
        captures: m.captures.into_iter().collect(),
    }
}

impl Backend for DaemonBackend {
    fn panes(&self, _req: PanesRequest) -> BackendFuture<'_, PanesReply> {
        Box::pin(async move {
            let list = self.list().await?;
            Ok(PanesReply { panes: self.views(list.iter()) })
        })
    }

    fn spawn(&self, req: SpawnRequest) -> BackendFuture<'_, SpawnReply> {
        Box::pin(async move {
            let spec = req.spec();
            let session = match req.session.clone() {
                Some(s) => s,
                None => self.default_session(),
            };
            let (pane, _) = {
                let _turn = self.tmux_turn().await;
                pane_lifecycle::spawn(&self.dispatcher, &spec, &session, None).await.map_err(
                    |e| match e {
                        pane_lifecycle::SpawnError::Ops(e) => ops_error(e),
                        pane_lifecycle::SpawnError::Other(m) => ApiError::new(ErrorCode::Tmux, m),
                    },
                )?
            };
            let list = self.list().await?;
            let rec = list.iter().find(|r| r.id == pane).ok_or_else(|| {
                ApiError::new(ErrorCode::Tmux, format!("pane {pane} vanished right after spawning"))
            })?;
            Ok(SpawnReply { pane: self.views([rec]).remove(0) })
        })
    }

    fn label(&self, req: LabelRequest) -> BackendFuture<'_, LabelReply> {
        Box::pin(async move {
            let pane = self.resolve(&req.pane).await?;
            let client = self.client()?;
            let record = {
                let _turn = self.tmux_turn().await;
                labelled::label(&client, pane, &req.label, req.meta.as_ref())
                    .await
                    .map_err(ops_error)?
            };
            // Rules see the label from the pane's next line on, not only once tmux's label
            // subscription reports it (up to a second later).
            self.dispatcher.engine.lock().expect("engine").set_label(pane, Some(req.label));
            Ok(LabelReply { pane: self.views([&record]).remove(0) })
        })
    }

    fn close(&self, req: CloseRequest) -> BackendFuture<'_, CloseReply> {
        let labels = req.labels;
        Box::pin(async move {
            let list = self.list().await?;
            let targets: Vec<&PaneRecord> = list
                .iter()
                .filter(|r| {
                    r.label.as_deref().is_some_and(|l| labels.iter().any(|g| glob_match(g, l)))
                })
                .collect();
            if targets.is_empty() {
                let mut known: Vec<String> = list.iter().filter_map(|r| r.label.clone()).collect();
                known.sort();
                return Err(ops_error(OpsError::UnknownLabel { label: labels.join(" "), known }));
            }
            let views = self.views(targets);
            let _turn = self.tmux_turn().await;
            for g in &labels {
                pane_lifecycle::close(&self.dispatcher, g)
                    .await
                    .map_err(|e| ApiError::new(ErrorCode::Tmux, e))?;
            }
            Ok(CloseReply { closed: views })
        })
    }

    fn send(&self, req: SendRequest) -> BackendFuture<'_, SendReply> {
        Box::pin(async move {
            let pane = self.resolve(&req.label).await?;
            let client = self.client()?;
            let bad = |e: crate::waiters::PatternError| ApiError::bad_request(e.to_string());
            if req.wait_ready {
                let prompt = PatternRegex::new(req.prompt.as_deref().unwrap_or(DEFAULT_PROMPT))
                    .map_err(bad)?;
                let idle = Duration::from_millis(req.idle_ms.unwrap_or(DEFAULT_IDLE_MS));
                self.until_ready(pane, prompt, idle).await?;
            }
            // Compiled before the engine is locked.
            let expect = req.expect.as_deref().map(PatternRegex::new).transpose().map_err(bad)?;
            // The last typed line as shown: its words, blanks between them as they come
            // (a tab shows as spaces).
            let words: Vec<String> = req
                .text
                .lines()
                .last()
                .map(|l| l.split_whitespace().map(regex_syntax::escape).collect())
                .unwrap_or_default();
            let shown = match req.enter && !words.is_empty() {
                true => Some(PatternRegex::new(&words.join(r"\s+")).map_err(bad)?),
                false => None,
            };
            // The expected line must come after the send: register first. Where the text
            // is typed (the line being written, whose echo is skipped) is taken when tmux
            // has taken the first key, in order with the pane's output.
            let (expect, echo, paste) = {
                let mut engine = self.dispatcher.engine.lock().expect("engine");
                // Pasted only when typing would differ: a newline would run the text
                // line by line, a tab complete; a paste of one plain line changes nothing
                // but makes readline draw it twice.
                let paste = engine.pane(pane).is_some_and(|p| p.text.screen().bracketed_paste())
                    && req.text.contains(|c: char| c.is_control());
                let expect = expect.map(|re| {
                    let (tx, rx) = oneshot::channel();
                    let echo = Echo::pending(&req.text, paste);
                    let anchor = echo.anchor().clone();
                    let sink = DynamicSink::Once { tx, skip_echo: Some(echo) };
                    let id = engine.add_waiter(Waiter::new(re, pattern(pane, false, sink)));
                    (rx, self.guard(id), anchor)
                });
                let echo = shown.map(|re| {
                    let (tx, rx) = watch::channel(Progress::default());
                    let sink = DynamicSink::Watch { tx };
                    let id = engine.add_waiter(Waiter::new(re, pattern(pane, true, sink)));
                    (rx, self.guard(id))
                });
                (expect, echo, paste)
            };
            let mut typed = expect.as_ref().map(|(_, _, anchor)| self.anchor_hook(pane, anchor));
            if !req.text.is_empty() {
                let _turn = self.tmux_turn().await;
                let first_key = typed.take();
                labelled::type_text(&client, pane, &req.text, paste, first_key)
                    .await
                    .map_err(ops_error)?;
            }
            if req.enter {
                if let Some((rx, _guard)) = echo {
                    // TUIs drop an Enter that arrives with pasted text: wait for the echo
                    // (without holding a turn for tmux), or for the pane to go quiet (a
                    // program that does not echo), at most ECHO_WAIT.
                    until_echoed(rx).await;
                }
                let _turn = self.tmux_turn().await;
                labelled::press_enter(&client, pane, typed.take()).await.map_err(ops_error)?;
            }
            if let Some(hook) = typed {
                // Nothing was typed (`expect` alone): output from now on is the answer.
                hook(&[]);
            }
            let matched = match expect {
                Some((rx, _guard, _)) => {
                    let m = rx
                        .await
                        .map_err(|_| ApiError::internal("the pane went away while waiting"))?;
                    Some(match_view(m))
                }
                None => None,
            };
            Ok(SendReply { matched })
        })
    }

    fn capture(&self, req: CaptureRequest) -> BackendFuture<'_, CaptureReply> {
        let CaptureRequest { label, lines } = req;
        Box::pin(async move {
            let pane = self.resolve(&label).await?;
            let engine = self.dispatcher.engine.lock().expect("engine");
            let Some(p) = engine.pane(pane) else {
                return Err(ApiError::not_found(format!("pane {pane} is gone")));
            };
            let screen = p.text.screen();
            let (size, cursor) = (Some(screen.size()), Some(screen.cursor()));
            let Some(n) = lines else {
                let reply = CaptureReply {
                    lines: screen.rows(),
                    view: CaptureView::Screen,
                    size,
                    cursor,
                    not_kept: 0,
                    kept_per_pane: None,
                };
                return Ok(reply);
            };
            let ring = p.text.ring();
            let lines = ring.last_lines(n);
            // Lines printed (the one being written counts) that the ring no longer has.
            let printed = ring.total_lines() + u64::from(!ring.partial().is_empty());
            let not_kept = (n as u64).min(printed).saturating_sub(lines.len() as u64);
            Ok(CaptureReply {
                lines,
                view: CaptureView::Log,
                size,
                cursor,
                not_kept,
                kept_per_pane: Some(ring.capacity()),
            })
        })
    }

    fn read(&self, req: ReadRequest) -> BackendFuture<'_, ReadReply> {
        Box::pin(async move {
            let pane = self.resolve(&req.label).await?;
            let engine = self.dispatcher.engine.lock().expect("engine");
            let Some(p) = engine.pane(pane) else {
                return Err(ApiError::not_found(format!("pane {pane} is gone")));
            };
            let ring = p.text.ring();
            let total = ring.total_lines();
            let kept = ring.lines().count();
            let (first, gap, cut) = read_window(req.after, total, kept as u64, req.max_lines);
            // Line `total` is the ring's last; `first` is at index `kept - (total - first + 1)`.
            let skip = kept.saturating_sub((total + 1).saturating_sub(first) as usize);
            let after = req.after.min(total);
            let paused = p
                .pauses
                .iter()
                .filter(|m| m.line + m.read_back > after || (!m.complete && m.line >= after))
                .map(|m| PausedView {
                    after_line: m.line,
                    read_back: m.read_back,
                    lost: !m.complete,
                })
                .collect();
            Ok(ReadReply {
                lines: ring.lines().skip(skip).map(str::to_string).collect(),
                first,
                cursor: total,
                gap,
                cut,
                partial: ring.partial().to_string(),
                paused,
            })
        })
    }

    fn wait_for(&self, req: WaitRequest) -> BackendFuture<'_, WaitReply> {
        Box::pin(async move {
            let pane = self.resolve(&req.label).await?;
            if let Some(state) = req.state {
                return wait_shell(&self.dispatcher, pane, state, req.after).await;
            }
            let (tx, rx) = oneshot::channel();
            // Compiled before the engine is locked: the output path never waits for it.
            let waiter = Waiter::compile(DynamicPattern {
                pattern: req.pattern.clone(),
                prompt: false,
                screen: req.screen,
                pane: Some(pane),
                sink: DynamicSink::Once { tx, skip_echo: None },
            })
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
            // Registered and the ring searched under one lock: no line slips between.
            let (_guard, found) = {
                let mut engine = self.dispatcher.engine.lock().expect("engine");
                let found = match req.since {
                    _ if req.screen => engine.search_screen(pane, waiter.regex()),
                    0 => None,
                    n => engine.search_recent(pane, waiter.regex(), n),
                };
                let id = engine.add_waiter(waiter);
                (self.guard(id), found)
            };
            if let Some(m) = found {
                return Ok(WaitReply { matched: Some(match_view(m)), shell: None });
            }
            rx.await
                .map(|m| WaitReply { matched: Some(match_view(m)), shell: None })
                .map_err(|_| ApiError::internal("the pane went away while waiting"))
        })
    }

    fn subscribe(&self, req: SubscribeRequest) -> BackendFuture<'_, Subscription> {
        Box::pin(async move {
            let (tx, mut rx) = mpsc::channel::<DynamicMatch>(SUBSCRIBER_QUEUE);
            let dp = DynamicPattern {
                pattern: req.pattern.clone(),
                prompt: false,
                screen: false,
                pane: None,
                sink: DynamicSink::Stream { tx },
            };
            let id = self.add_pattern(dp)?;
            let n = self.next_rule.fetch_add(1, Ordering::Relaxed);
            let name = format!("subscribe-{n}");
            let matches = Arc::new(AtomicU64::new(0));
            self.runtime_rules.lock().expect("rules").push(RuntimeRule {
                id,
                name: name.clone(),
                pattern: req.pattern.clone(),
                matches: matches.clone(),
            });
            let (out_tx, out_rx) = mpsc::channel::<Value>(SUBSCRIBER_QUEUE);
            // Subscriptions' execs share the daemon's runner: one cap for every exec.
            let runner = self.dispatcher.runner().clone();
            let exec = req.exec.clone().map(|argv| ExecAction {
                argv,
                timeout: None,
                cwd: req.cwd.clone(),
                env: Vec::new(),
            });
            let glob = req.label.clone();
            let dispatcher = self.dispatcher.clone();
            let rule_name = name.clone();
            tokio::spawn(async move {
                while let Some(m) = rx.recv().await {
                    if !m.label.as_deref().is_some_and(|l| glob_match(&glob, l)) {
                        continue;
                    }
                    matches.fetch_add(1, Ordering::Relaxed);
                    let rec = Record::now(MatchEvent {
                        origin: Origin {
                            pane: Some(m.pane.to_string()),
                            label: m.label.clone(),
                            rule: Some(rule_name.clone()),
                            line: Some(m.line.clone()),
                            ..Origin::default()
                        },
                        captures: Some(m.captures.iter().cloned().collect()),
                        ..MatchEvent::default()
                    });
                    dispatcher.append(&rec);
                    if let Ok(v) = serde_json::to_value(&rec) {
                        let _ = out_tx.try_send(v);
                    }
                    if let Some(exec) = &exec {
                        let ctx = ActionContext {
                            rule: rule_name.clone(),
                            line: m.line.clone(),
                            pane_id: m.pane,
                            pane_label: m.label.clone(),
                            session: String::new(),
                            captures: m.captures.clone(),
                        };
                        let outcome = runner.run(exec, &ctx).await;
                        let action = crate::action::Action::Exec(exec.clone());
                        dispatcher.append(&Record::now(outcome.to_event(&action, &ctx)));
                    }
                }
            });
            let guard = SubscriptionGuard {
                _pattern: PatternGuard {
                    dispatcher: self.dispatcher.clone(),
                    id,
                    keep: req.persist,
                },
                rules: self.runtime_rules.clone(),
                id,
                persist: req.persist,
            };
            Ok(Subscription { events: out_rx, guard: Box::new(guard) })
        })
    }

    fn rules(&self, _req: RulesRequest) -> BackendFuture<'_, RulesReply> {
        Box::pin(async move {
            let engine = self.dispatcher.engine.lock().expect("engine");
            let mut out: Vec<RuleView> = engine
                .rules()
                .rules
                .iter()
                .zip(engine.counts())
                .map(|(r, c)| RuleView {
                    name: r.name.clone(),
                    pattern: r.pattern.clone(),
                    matches: *c,
                    dynamic: false,
                })
                .collect();
            drop(engine);
            for r in self.runtime_rules.lock().expect("rules").iter() {
                out.push(RuleView {
                    name: r.name.clone(),
                    pattern: r.pattern.clone(),
                    matches: r.matches.load(Ordering::Relaxed),
                    dynamic: true,
                });
            }
            Ok(RulesReply { rules: out })
        })
    }

    fn reload(&self, _req: ReloadRequest) -> BackendFuture<'_, ReloadReply> {
        Box::pin(async move {
            let (path, has_file) = {
                let engine = self.dispatcher.engine.lock().expect("engine");
                (engine.rules().path.clone(), engine.rules().has_file())
            };
            if !has_file {
                return Err(ApiError::bad_request(
                    "this daemon was started without a rules file (it serves the API only); \
                     start it with --rules FILE to have rules to reload",
                ));
            }
            // Off the matching path and bounded in time: a FIFO, a device or a hung
            // mount at the rules path must not freeze the daemon.
            let set = crate::rules::load_async(&path)
                .await
                .map_err(|e| ApiError::bad_request(format!("{e}; the old rules stay in force")))?;
            let n = set.rules.len();
            let refused = |e: crate::firing::CompileError| {
                ApiError::bad_request(format!("{e}; the old rules stay in force"))
            };
            // Compiled outside the engine's lock (seconds with thousands of rules).
            crate::firing::reload_off_lock(&self.dispatcher.engine, set).map_err(refused)?;
            self.dispatcher.append(&Record::now(DaemonEvent::say(format!(
                "reloaded {n} rule(s) from {}",
                path.display()
            ))));
            Ok(ReloadReply { rules: n })
        })
    }

    fn status(&self, _req: StatusRequest) -> BackendFuture<'_, StatusReply> {
        Box::pin(async move {
            // Polling has no connection to lose; in control mode, none while tmux is gone.
            let connected = self.dispatcher.mode() == "poll" || self.dispatcher.client().is_some();
            let engine = self.dispatcher.engine.lock().expect("engine");
            let mut sessions: Vec<String> = match connected {
                true => engine.panes().into_iter().map(|(_, i)| i.session_name).collect(),
                false => Vec::new(),
            };
            sessions.sort();
            sessions.dedup();
            let status = StatusView {
                pid: std::process::id(),
                tmux: self.target.describe(),
                tmux_version: self
                    .tmux_version
                    .lock()
                    .expect("tmux version")
                    .as_ref()
                    .map(|v| v.name.clone())
                    .unwrap_or_default(),
                connected,
                sessions,
                panes: engine.panes().len(),
                rules: engine.rules().rules.len(),
                waiters: engine.waiters_len(),
                uptime_s: self.started.elapsed().as_secs(),
                events_path: self.dispatcher.log().path().to_path_buf(),
                mode: self.dispatcher.mode().into(),
                events_lost: self.dispatcher.log().lost(),
                pane_entries: pane_entries(&engine),
                shells: shells(&engine),
                servers: Vec::new(),
            };
            Ok(StatusReply { status })
        })
    }

    fn stop(&self, _req: StopRequest) -> BackendFuture<'_, Empty> {
        Box::pin(async move {
            self.stop.notify_one();
            Ok(Empty {})
        })
    }

    fn events(&self, _req: EventsRequest) -> BackendFuture<'_, EventFeed> {
        Box::pin(async move { Ok(EventFeed::One(self.dispatcher.subscribe_events())) })
    }

    fn run(&self, req: RunRequest) -> BackendFuture<'_, RunReply> {
        Box::pin(async move {
            let pane = self.resolve(&req.label).await?;
            let client = self.client()?;
            static NEXT_RUN: AtomicU64 = AtomicU64::new(1);
            let id = NEXT_RUN.fetch_add(1, Ordering::Relaxed);
            let limit = usize::try_from(req.max_bytes).unwrap_or(usize::MAX);
            let (capture, rx) = RunCapture::new(id, req.command.clone(), limit);
            // Registered before the first key is typed: the command's `C` cannot be missed.
            let (bracketed, label) = {
                let mut engine = self.dispatcher.engine.lock().expect("engine");
                engine.start_run(pane, capture).map_err(|r| run_refused(&req.label, r))?;
                let p = engine.pane(pane).expect("start_run found it");
                (p.text.screen().bracketed_paste(), p.info.label.clone())
            };
            let _guard = RunGuard { dispatcher: self.dispatcher.clone(), pane, id };
            // Typed only once the shell reads input: text typed while it is still between
            // the last command's end and its prompt is echoed by the terminal and then
            // again by the shell. Woken by each of its marks (`Shell::changes`); at most 2 s
            // (then typed anyway).
            let end = tokio::time::Instant::now() + Duration::from_secs(2);
            let reading = |shell: &crate::panes::Shell| shell.reading_input().then_some(());
            // Gone meanwhile or not reading after 2 s: typed anyway (and a gone pane's
            // typing fails with its own error).
            let _ = until_shell(&self.dispatcher, pane, Some(end), reading).await;
            // A multi-line command goes as one bracketed paste when the shell asked for
            // them (bash ≥ 5.1, zsh, fish): the shell reads it as one command line, so
            // one `C`/`D` pair delimits it all. Otherwise each line is typed as it is.
            // The text and its Enter go on as few control-mode lines as they fit: the
            // shell reads its command line, nothing needs to see the text first.
            let paste = bracketed && req.command.contains('\n');
            {
                let _turn = self.tmux_turn().await;
                labelled::type_line(&client, pane, &req.command, paste).await.map_err(ops_error)?;
            }
            let outcome = self.until_run_ends(pane, id, rx).await?;
            Ok(RunReply {
                pane: pane.to_string(),
                label,
                status: outcome.command.status,
                duration_ms: outcome.command.duration_ms,
                lines: outcome.command.line_count(),
                output: outcome.output,
                dropped_lines: outcome.dropped_lines,
                dropped_bytes: outcome.dropped_bytes,
                cwd: outcome.cwd,
                not_run: !outcome.ran,
            })
        })
    }
}

/// How long a shell that was typed a command may show nothing new without starting it
/// (no `C`) before `run` takes the line to be held in its editor (see
/// `DaemonBackend::until_run_ends`). A shell marks `C` right after reading the line, so
/// this is only reached when it did not take it.
const RUN_START_QUIET: Duration = Duration::from_secs(1);

impl DaemonBackend {
    /// A hook that sets `anchor` to the line `pane` is writing, run on the connection's
    /// reader when tmux has taken a `send`'s first key.
    fn anchor_hook(&self, pane: PaneId, anchor: &EchoAnchor) -> ReplyHook {
        let (engine, anchor) = (self.dispatcher.engine.clone(), anchor.clone());
        Box::new(move |_| {
            let engine = engine.lock().expect("engine");
            let ring = engine.pane(pane).map(|p| p.text.ring());
            let seq = ring.map_or(0, |r| r.total_lines()) + 1;
            anchor.set(seq, ring.map_or("", |r| r.partial()));
        })
    }

    /// Awaits the end of `run` `id` on `pane`. A shell that has not started the command
    /// (no `C`) while its pane stayed unchanged for [`RUN_START_QUIET`] holds the line
    /// in its editor: fish keeps a line it rejects (`end` outside a block), every shell
    /// waits for the rest of an unclosed quote or block. Ctrl-C drops that line, so the
    /// next command is not typed behind it, and the new prompt ends the run as not run.
    async fn until_run_ends(
        &self,
        pane: PaneId,
        id: u64,
        mut rx: tokio::sync::oneshot::Receiver<crate::panes::RunOutcome>,
    ) -> Result<crate::panes::RunOutcome, ApiError> {
        let gone = || ApiError::internal("the pane went away while waiting");
        // What the pane shows changes as `(lines completed, bytes of the line written)`.
        let look = || {
            let engine = self.dispatcher.engine.lock().expect("engine");
            let p = engine.pane(pane)?;
            let run = p.shell.run.as_ref().filter(|r| r.id == id)?;
            let ring = p.text.ring();
            Some((run.started(), ring.total_lines(), ring.partial().len()))
        };
        let mut last = None;
        loop {
            tokio::select! {
                outcome = &mut rx => return outcome.map_err(|_| gone()),
                _ = tokio::time::sleep(RUN_START_QUIET) => {}
            }
            match look() {
                None | Some((true, ..)) => return rx.await.map_err(|_| gone()),
                Some((false, lines, partial)) if last == Some((lines, partial)) => break,
                Some((false, lines, partial)) => last = Some((lines, partial)),
            }
        }
        let client = self.client()?;
        {
            let _turn = self.tmux_turn().await;
            labelled::interrupt(&client, pane).await.map_err(ops_error)?;
        }
        rx.await.map_err(|_| gone())
    }

    /// Removes the run-time pattern `id` when dropped.
    fn guard(&self, id: u64) -> PatternGuard {
        PatternGuard { dispatcher: self.dispatcher.clone(), id, keep: false }
    }

    /// Returns once `pane` is ready for input (`send --wait-ready`): the line under its
    /// cursor matches `prompt` now or after some output, or it printed nothing for `idle`.
    async fn until_ready(
        &self,
        pane: PaneId,
        prompt: PatternRegex,
        idle: Duration,
    ) -> Result<(), ApiError> {
        let (tx, mut rx) = watch::channel(Progress::default());
        let _guard = {
            let mut engine = self.dispatcher.engine.lock().expect("engine");
            if engine.pane(pane).is_some_and(|p| prompt.is_match(p.text.ring().partial())) {
                return Ok(());
            }
            let sink = DynamicSink::Watch { tx };
            self.guard(engine.add_waiter(Waiter::new(prompt, pattern(pane, true, sink))))
        };
        while !rx.borrow_and_update().seen {
            tokio::select! {
                _ = tokio::time::sleep(idle) => return Ok(()),
                changed = rx.changed() => if changed.is_err() {
                    return Err(ApiError::internal("the pane went away while waiting"));
                },
            }
        }
        Ok(())
    }

    /// Adds a run-time pattern to the engine; a pattern that does not compile is a bad request.
    ///
    /// Its regex is compiled before the engine is locked; registering it compiles nothing
    /// and leaves the rules' matcher alone (see [`crate::waiters`]).
    fn add_pattern(&self, dp: DynamicPattern) -> Result<u64, ApiError> {
        let waiter = Waiter::compile(dp).map_err(|e| ApiError::bad_request(e.to_string()))?;
        Ok(self.dispatcher.engine.lock().expect("engine").add_waiter(waiter))
    }

    fn default_session(&self) -> String {
        let engine = self.dispatcher.engine.lock().expect("engine");
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
}

/// Keeps a `subscribe` rule alive; removes it from the engine and the rule list on drop
/// unless `persist`.
struct SubscriptionGuard {
    _pattern: PatternGuard,
    rules: Arc<Mutex<Vec<RuntimeRule>>>,
    id: u64,
    persist: bool,
}

impl Drop for SubscriptionGuard {
    fn drop(&mut self) {
        if !self.persist {
            if let Ok(mut rules) = self.rules.lock() {
                rules.retain(|r| r.id != self.id);
            }
        }
        // `_pattern` drops next and removes the engine pattern unless `persist`.
    }
}
