//! Polling mode (`ctmuxd --poll`): the same rules, matcher, firing policy and actions as
//! the control-mode daemon ([`crate::daemon`]), fed from `tmux capture-pane` instead of a
//! control-mode stream, for when control mode cannot be used (tmux older than 3.2, an
//! attach that fails) or is not wanted.
//!
//! Each interval one `tmux` process runs one command queue: `list-panes` (ids, sessions,
//! labels, exits), then for every watched pane a marker line from `display-message -p`
//! (the pane's history size, history limit, cursor row, height, width, alternate screen)
//! followed by `capture-pane -p -J` of its last rows. tmux runs a queue without serving
//! pane output in between, so each marker describes exactly the capture that follows it.
//!
//! Only lines that are new since the last poll of the pane reach the [`Engine`](crate::firing::Engine), as the
//! bytes `line\n`. New lines are found by content: the previous capture's complete lines
//! are aligned with the new capture (the old capture's longest suffix that starts the new
//! one), and when repeated identical lines make several alignments possible, the pane's
//! cursor position (`history_size + cursor_y` grows by the rows printed) picks the one
//! that fits; if it cannot tell (the history is at its limit), the alignment that
//! declares the fewest lines new wins, so a line never fires twice. When no alignment
//! exists the pane is captured again from the start of its history; lines that scrolled
//! out of tmux's history between two polls are lost, and a `skipped` record says so.
//!
//! The line the cursor is on has no newline yet: it is fed as the unterminated line when
//! it changed, extended in place when it grew and rewritten (backspaces) when it did not,
//! so `prompt = true` rules fire as in control mode. Lines present when ctmuxd started
//! are not new (the first capture of each pane is a baseline); panes that appear later
//! are new from their first line. Panes in the alternate screen (full-screen programs)
//! are left alone until they leave it. Pane actions (`spawn`, `close`, `send`) need a
//! control connection and fail in this mode, with the reason in the event log.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;

use std::time::{Duration, Instant};

use tmux_control_parser::PaneId;
use tokio::sync::mpsc;

use crate::action::Action;
use crate::action_tasks::Dispatcher;
use crate::eventlog::{DaemonEvent, Origin, Record, SkippedEvent};
use crate::exit::{DaemonError, DaemonExit};
use crate::firing::{now_ns, Firing};
use crate::pane_lifecycle;
use crate::panes::PaneInfo;
use crate::rules::RuleSet;
use crate::tmux::format::{self, SEP};
use crate::tmux::labelled::PaneRecord;
use crate::tmux::{TmuxError, TmuxFailure, TmuxTarget};

/// The value of the `mode` field in every record this mode writes.
pub const MODE: &str = "poll";

/// Start of the marker lines printed between captures: a tab, a word drawn at random once
/// per process, and a tab. tmux 3.5 escapes other control characters in command output,
/// so a tab is the one that reads the same on every release; a pane's program cannot
/// print a marker because it never sees the word (ctmuxd never shows it anywhere).
fn marker() -> &'static str {
    static MARKER: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    MARKER.get_or_init(|| {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(now_ns() as u128 ^ (u128::from(std::process::id()) << 64));
        format!("{SEP}ctmuxd-poll-{:016x}{SEP}", h.finish())
    })
}

/// Shortest interval accepted; anything shorter would keep tmux busy for nothing.
pub const MIN_INTERVAL: Duration = Duration::from_millis(10);

/// Rows captured per pane and poll, at least (the depth is twice `ring_lines`).
const MIN_DEPTH: usize = 20;

/// How to run the polling daemon.
#[derive(Clone, Debug)]
pub struct PollOptions {
    /// Which tmux server.
    pub target: TmuxTarget,
    /// Watch only this session (`-t`); `None` watches every pane of the server.
    pub session: Option<String>,
    /// The validated rules.
    pub rules: RuleSet,
    /// Where the event log lives.
    pub events_dir: PathBuf,
    /// Time between two polls (`--interval`, at least [`MIN_INTERVAL`]).
    pub interval: Duration,
    /// How long to wait for running actions at shutdown.
    pub shutdown_grace: Duration,
}

/// Runs the polling daemon until `shutdown` resolves or tmux goes away.
///
/// The first poll takes a baseline of every pane (nothing fires on what is already on
/// screen); the `ready` record follows it.
///
/// # Errors
/// When the event log cannot be opened, the rules do not compile, no server runs, the
/// session (`-t`) does not exist, or the first poll fails. Once running, failed polls are
/// logged and retried; the server or the session going away ends the run with
/// [`DaemonExit::TmuxGone`].
pub async fn run(
    opts: PollOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<DaemonExit, DaemonError> {
    let dispatcher = Dispatcher::for_rules(&opts.rules, &opts.events_dir, MODE)?;
    crate::deadlines::start(&dispatcher);
    dispatcher.log().set_server(opts.target.log_name());
    let interval = opts.interval.max(MIN_INTERVAL);
    // The control API, as in control mode: `status`, `rules`, `reload`, `events` and
    // `stop` work; the pane requests answer that they need control mode.
    let listener = crate::api::server::bind(&crate::api::socket_path(&opts.target))
        .await
        .map_err(DaemonError::Api)?;
    let stop_api = Arc::new(tokio::sync::Notify::new());
    let backend: Arc<dyn crate::api::Backend> = Arc::new(crate::answers::DaemonBackend::new(
        dispatcher.clone(),
        opts.target.clone(),
        stop_api.clone(),
        // A poll runs the installed tmux as a client, which a server of another release
        // refuses: the server's release is the client's.
        Arc::new(std::sync::Mutex::new(crate::tmux::version::installed().await)),
    ));
    let api_end = tokio_util::sync::CancellationToken::new();
    let api = tokio::spawn(listener.serve(backend, api_end.clone().cancelled_owned()));
    let result = serve(&opts, &dispatcher, interval, shutdown, stop_api).await;
    api_end.cancel();
    let _ = api.await;
    result
}

/// The polling loop behind [`run`], between the API's start and its end.
async fn serve(
    opts: &PollOptions,
    dispatcher: &Dispatcher,
    interval: Duration,
    shutdown: impl Future<Output = ()>,
    stop_api: Arc<tokio::sync::Notify>,
) -> Result<DaemonExit, DaemonError> {
    let shutdown = async move {
        tokio::select! {
            _ = shutdown => {}
            _ = stop_api.notified() => tracing::info!("stop requested through the API"),
        }
    };
    let mut poller = Poller::new(opts, dispatcher.clone());
    poller.poll().await?;

    let ready = DaemonEvent {
        mode: Some(MODE.into()),
        ..DaemonEvent::say(format!(
            "{}polling {} pane(s) every {interval:?} with capture-pane ({} rows deep), {} rule(s) {}",
            DaemonEvent::READY,
            poller.tracks.len(),
            poller.depth,
            opts.rules.rules.len(),
            opts.rules.source()
        ))
    };
    tracing::info!("{}", ready.message);
    dispatcher.append(&Record::now(ready));
    if let Some(note) = unsupported(&opts.rules) {
        tracing::warn!("{note}");
        dispatcher.append(&Record::now(DaemonEvent {
            mode: Some(MODE.into()),
            ..DaemonEvent::say(note)
        }));
    }

    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await; // the first tick is immediate: the baseline poll was it
    tokio::pin!(shutdown);
    let exit = loop {
        tokio::select! {
            _ = &mut shutdown => break DaemonExit::Stopped,
            _ = tick.tick() => {}
        }
        let result = tokio::select! {
            _ = &mut shutdown => break DaemonExit::Stopped,
            r = poller.poll() => r,
        };
        match result {
            Ok(()) => {}
            Err(e) if poller.is_gone(&e) => break DaemonExit::TmuxGone(e.to_string()),
            Err(e) => tracing::warn!("poll failed, trying again in {interval:?}: {e}"),
        }
    };

    dispatcher.append(&Record::now(DaemonEvent {
        mode: Some(MODE.into()),
        ..DaemonEvent::say(match &exit {
            DaemonExit::Stopped => "stopping: signal".to_string(),
            DaemonExit::TmuxGone(why) => format!("stopping: {why}"),
        })
    }));
    let left = dispatcher.shutdown(opts.shutdown_grace).await;
    if left > 0 {
        tracing::warn!(
            "{left} action(s) still running after {:?}; leaving them",
            opts.shutdown_grace
        );
    }
    Ok(exit)
}

/// What the rules ask for that polling cannot do, as one message (or `None`).
fn unsupported(rules: &RuleSet) -> Option<String> {
    let mut parts = Vec::new();
    let pane_rules: Vec<&str> = rules
        .rules
        .iter()
        .filter(|r| r.actions.iter().any(Action::needs_control))
        .map(|r| r.name.as_str())
        .collect();
    if !pane_rules.is_empty() {
        // The kinds that need control mode, as registered: "spawn/close/send".
        let kinds: Vec<&str> = Action::kinds_needing_control().collect();
        parts.push(format!(
            "rule(s) {} use {}, which need control mode: those actions will fail",
            pane_rules.join(", "),
            kinds.join("/")
        ));
    }
    if !rules.panes.is_empty() {
        parts.push(format!(
            "{} [[pane]] entr(y/ies) not started: spawning panes needs control mode",
            rules.panes.len()
        ));
    }
    (!parts.is_empty()).then(|| format!("poll mode: {}", parts.join("; ")))
}

/// [`DaemonError::control_mode_unusable`], and the server answers a plain
/// `list-sessions`: returns the reason to print before falling back to polling, or `None`
/// when polling would not help.
pub async fn fallback_reason(target: &TmuxTarget, err: &DaemonError) -> Option<String> {
    if !err.control_mode_unusable() {
        return None;
    }
    match target.run(["list-sessions", "-F", "#{session_id}"]).await {
        Err(TmuxError::NoServer(_)) => None,
        _ => Some(err.to_string()),
    }
}

/// What one marker line says about its pane, read just before the capture.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Geometry {
    /// Rows in the pane's history (`#{history_size}`).
    history: u64,
    /// The most rows tmux keeps (`#{history_limit}`); at the limit old rows are dropped.
    limit: u64,
    /// Cursor row on the visible screen.
    cursor_y: u64,
    /// Visible rows.
    height: u64,
    /// Visible columns.
    width: u64,
    /// A full-screen program has the alternate screen up.
    alternate: bool,
}

impl Geometry {
    /// The marker format: `marker() pane SEP history SEP limit SEP cursor_y SEP height SEP width SEP alternate`.
    fn format() -> String {
        let fields = [
            "#{history_size}",
            "#{history_limit}",
            "#{cursor_y}",
            "#{pane_height}",
            "#{pane_width}",
            "#{alternate_on}",
        ];
        format!("{}#{{pane_id}}{SEP}{}", marker(), format::record(&fields))
    }

    /// Parses a marker line; `None` if `line` is not one.
    fn parse(line: &str) -> Option<(PaneId, Geometry)> {
        let mut f = line.strip_prefix(marker())?.split(SEP);
        let pane = f.next()?.parse().ok()?;
        let mut num = || f.next().and_then(|v| v.parse::<u64>().ok());
        let geo = Geometry {
            history: num()?,
            limit: num()?,
            cursor_y: num()?,
            height: num()?,
            width: num()?,
            alternate: num()? == 1,
        };
        Some((pane, geo))
    }

    /// Absolute row of the cursor, counted from the oldest history row.
    fn cursor_row(&self) -> u64 {
        self.history + self.cursor_y
    }
}

/// Rows a line of text takes on a screen `width` columns wide (one per started row).
///
/// Characters are counted as one column each: exact for ASCII, low for wide characters.
/// The count only ranks alignments (see [`choose`]), so an error of a row is harmless.
fn rows(line: &str, width: u64) -> i64 {
    let cols = line.chars().count() as u64;
    cols.div_ceil(width.max(1)).max(1) as i64
}

/// One capture split at the cursor.
#[derive(Debug, PartialEq, Eq)]
struct Capture<'a> {
    /// The lines above the cursor line: complete (their newline was printed).
    complete: Vec<&'a str>,
    /// The line the cursor is on (wrapped rows joined): no newline yet.
    cursor: &'a str,
}

/// Splits captured lines (`-J`: wrapped rows joined) into complete lines and the cursor
/// line. The rows below the cursor are the last `height - 1 - cursor_y` lines (never
/// wrapped: nothing was written there, or a full-screen program owns them).
fn split_capture<'a>(lines: &[&'a str], geo: &Geometry) -> Capture<'a> {
    let below = geo.height.saturating_sub(geo.cursor_y + 1) as usize;
    let upto = lines.len().saturating_sub(below);
    match lines[..upto].split_last() {
        Some((cursor, complete)) => Capture { complete: complete.to_vec(), cursor },
        None => Capture { complete: Vec::new(), cursor: "" },
    }
}

/// What the cursor position says about the rows printed between two captures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hint {
    /// This many rows were added (history below its limit, same width).
    Rows(i64),
    /// The cursor's absolute row went back: the history was cleared.
    Cleared,
    /// Cannot tell: the history is near its limit (tmux drops the oldest tenth of it
    /// each time it is full, so rows may have gone), or the width changed.
    Unknown,
}

impl Hint {
    fn new(old: &Geometry, new: &Geometry) -> Hint {
        if new.cursor_row() < old.cursor_row() {
            Hint::Cleared
        } else if new.history + (new.limit / 10).max(1) >= new.limit || new.width != old.width {
            Hint::Unknown
        } else {
            Hint::Rows((new.cursor_row() - old.cursor_row()) as i64)
        }
    }
}

/// Every `p > 0` such that the new capture's first `p` lines end with the old capture's
/// lines (all of them, or its last `p` when `p` is shorter): then those `p` lines are old.
/// Largest first, lazily. The new capture may start after the old one (the pane scrolled)
/// or before it (a capture of the whole history following a shallow one).
///
/// `old_cut` / `new_cut`: that capture starts inside the history, so its first line may
/// be the tail of a wrapped line; it is compared as a suffix.
fn known_prefixes<'a>(
    old: &'a [String],
    new: &'a [&'a str],
    old_cut: bool,
    new_cut: bool,
) -> impl Iterator<Item = usize> + 'a {
    (1..=new.len()).rev().filter(move |&p| {
        let n = p.min(old.len());
        if n == 0 {
            return false;
        }
        let (o, w) = (&old[old.len() - n..], &new[p - n..p]);
        // PERF: the last line first, so a misaligned `p` costs one comparison.
        o[n - 1] == w[n - 1]
            && o.iter().zip(w).enumerate().all(|(i, (o, w))| match i {
                0 if p == n && new_cut && o.ends_with(w) => true,
                0 if n == old.len() && old_cut && w.ends_with(o.as_str()) => true,
                _ => o == w,
            })
    })
}

/// Picks how many of the new capture's lines are old among `candidates` (largest
/// first): the one whose implied row count fits the hint best (ties: the larger), or the
/// largest when there is no hint. `None`: none of them is old.
///
/// With a row hint, "none" competes too, so a line repeated on every row cannot hide a
/// burst that scrolled past the capture. `implied_rows` grows as `p` shrinks, so the
/// search stops once it is past the hint (a screen of identical lines stays linear).
fn choose(
    candidates: impl Iterator<Item = usize>,
    hint: Hint,
    implied_rows: impl Fn(usize) -> i64,
) -> Option<usize> {
    let mut candidates = candidates;
    let Hint::Rows(r) = hint else { return candidates.next() };
    let mut best = (0, (implied_rows(0) - r).abs());
    for p in candidates {
        let d = implied_rows(p) - r;
        if d.abs() < best.1 || (d.abs() == best.1 && p > best.0) {
            best = (p, d.abs());
        }
        if d > best.1 {
            break;
        }
    }
    (best.0 > 0).then_some(best.0)
}

/// Polling state of one pane.
#[derive(Debug, Default)]
struct Track {
    /// The complete lines of the last capture, oldest first (one capture's worth).
    lines: Vec<String>,
    /// How many of `lines` were on the visible screen (the rest in the history).
    visible: usize,
    /// Text of the cursor line that is accounted for (fed, or there at the baseline).
    cursor: String,
    /// Characters the engine holds on its unterminated line: what backspaces must erase
    /// to rewrite it (0 at the baseline, where the cursor line was never fed).
    fed: usize,
    /// The last capture's geometry; `None` before the first capture.
    geo: Option<Geometry>,
    /// The pane existed when ctmuxd started: its first capture feeds nothing.
    baseline: bool,
    /// The last capture started inside the history (its first line may be cut).
    cut: bool,
    /// Polls that saw the pane dead without an exit status yet (tmux can set
    /// `pane_dead` before `pane_dead_status`).
    dead_unknown: u8,
}

/// What became of one capture.
#[derive(Debug, PartialEq, Eq)]
enum Advance {
    /// Lines were aligned (and new ones written to the feed buffer). `lost`: lines
    /// scrolled out of reach since the last poll (`Some(None)`: how many is unknown).
    Done { lost: Option<Option<u64>> },
    /// No alignment with a capture that started inside the history: capture the whole
    /// history and try again (nothing was changed).
    NeedDeep,
    /// The alternate screen is up; nothing was changed.
    Ignored,
}

impl Track {
    fn new(baseline: bool) -> Track {
        Track { baseline, ..Track::default() }
    }

    /// Takes a capture (`lines`, from the row `depth` above the screen, or from the
    /// start of the history when `deep`), writes the bytes to feed to `out` and keeps
    /// the capture for the next poll.
    fn advance(
        &mut self,
        geo: Geometry,
        lines: &[&str],
        deep: bool,
        depth: usize,
        out: &mut Vec<u8>,
    ) -> Advance {
        if geo.alternate {
            return Advance::Ignored;
        }
        let cap = split_capture(lines, &geo);
        let head_cut = !deep && geo.history > depth as u64;
        let Some(old) = self.geo else {
            if self.baseline {
                self.cursor = cap.cursor.to_string();
                self.fed = 0;
            } else {
                self.feed(&cap.complete, cap.cursor, out);
            }
            self.keep(&cap, geo, head_cut);
            return Advance::Done { lost: None };
        };
        let hint = Hint::new(&old, &geo);
        let candidates = known_prefixes(&self.lines, &cap.complete, self.cut, head_cut);
        let width = geo.width;
        let (old_cursor_rows, new_cursor_rows) =
            (rows(&self.cursor, width), rows(cap.cursor, width));
        let implied = |k: usize| {
            cap.complete[k..].iter().map(|l| rows(l, width)).sum::<i64>() + new_cursor_rows
                - old_cursor_rows
        };
        let mut lost = None;
        let k = match choose(candidates, hint, implied) {
            // After a clear of the history, an overlap shorter than what was on the
            // screen is text that happens to repeat, not the old screen kept.
            Some(k) if hint == Hint::Cleared && k < self.visible => 0,
            Some(k) => k,
            None if self.lines.is_empty() || hint == Hint::Cleared => 0,
            None if !deep && head_cut => return Advance::NeedDeep,
            None => {
                // Nothing of the last capture is left: count what scrolled away unseen.
                lost = match hint {
                    Hint::Rows(r) => {
                        u64::try_from(r - implied(0)).ok().filter(|&n| n > 0).map(Some)
                    }
                    Hint::Cleared | Hint::Unknown => Some(None),
                };
                0
            }
        };
        self.feed(&cap.complete[k..], cap.cursor, out);
        self.keep(&cap, geo, head_cut);
        Advance::Done { lost }
    }

    /// Writes the new complete lines (`line\n`) and the cursor line's change to `out`.
    fn feed(&mut self, complete: &[&str], cursor: &str, out: &mut Vec<u8>) {
        for (i, line) in complete.iter().enumerate() {
            if i == 0 {
                self.rewrite(line, out);
            } else {
                out.extend_from_slice(line.as_bytes());
            }
            out.push(b'\n');
        }
        if !complete.is_empty() {
            self.cursor.clear();
            self.fed = 0;
        }
        if cursor != self.cursor {
            self.fed = self.rewrite(cursor, out);
            self.cursor.clear();
            self.cursor.push_str(cursor);
        }
    }

    /// Brings the engine's unterminated line from `self.cursor` to `text`: appends what
    /// was added, or erases what was fed (one backspace per character, which the screen
    /// model applies to the line) and writes `text` whole. Returns the characters the
    /// engine then holds.
    fn rewrite(&self, text: &str, out: &mut Vec<u8>) -> usize {
        match text.strip_prefix(self.cursor.as_str()) {
            Some(rest) => {
                out.extend_from_slice(rest.as_bytes());
                self.fed + rest.chars().count()
            }
            None => {
                out.extend(std::iter::repeat_n(0x08, self.fed));
                out.extend_from_slice(text.as_bytes());
                text.chars().count()
            }
        }
    }

    /// Keeps `cap` as the reference for the next poll.
    fn keep(&mut self, cap: &Capture<'_>, geo: Geometry, cut: bool) {
        self.cut = cut;
        self.lines.clear();
        self.lines.extend(cap.complete.iter().map(|l| l.to_string()));
        // Rows of the screen above the cursor line hold the last complete lines.
        let mut above = geo.cursor_y as i64 - (rows(cap.cursor, geo.width) - 1);
        self.visible = 0;
        for l in self.lines.iter().rev() {
            above -= rows(l, geo.width);
            if above < 0 {
                break;
            }
            self.visible += 1;
        }
        self.geo = Some(geo);
    }
}

/// A `tmux` run's output: stdout, and whether every command succeeded.
struct Batch {
    stdout: String,
    ok: bool,
    stderr: String,
}

/// Captured panes from one batch: each marker and the lines after it, complete sections
/// only (one that a failed command cut short is dropped and retried next poll).
fn sections(lines: &[&str]) -> Vec<(PaneId, Geometry, std::ops::Range<usize>)> {
    let mut out: Vec<(PaneId, Geometry, std::ops::Range<usize>)> = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if let Some((pane, geo)) = Geometry::parse(l) {
            if let Some(last) = out.last_mut() {
                last.2.end = i;
            }
            out.push((pane, geo, i + 1..lines.len()));
        }
    }
    // The last marker is the end marker, or its capture may be cut short.
    out.pop();
    out
}

/// The poller: pane tracking, the tmux batches, and feeding the engine.
struct Poller {
    target: TmuxTarget,
    session: Option<String>,
    /// Rows captured above the screen per pane and poll.
    depth: usize,
    tracks: HashMap<PaneId, Track>,
    dispatcher: Dispatcher,
    /// Polls done; the first is the baseline.
    polls: u64,
    /// Exit notices for [`pane_lifecycle::pane_exited`]; nobody waits on them in this mode.
    exits: mpsc::UnboundedSender<(PaneId, Option<i32>)>,
    /// Bytes fed to the engine for one pane; reused.
    feed: Vec<u8>,
    /// Firings of one feed; reused.
    firings: Vec<Firing>,
}

impl Poller {
    fn new(opts: &PollOptions, dispatcher: Dispatcher) -> Poller {
        Poller {
            target: opts.target.clone(),
            session: opts.session.clone(),
            depth: (opts.rules.settings.ring_lines * 2).max(MIN_DEPTH),
            tracks: HashMap::new(),
            dispatcher,
            polls: 0,
            exits: mpsc::unbounded_channel().0,
            feed: Vec::new(),
            firings: Vec::new(),
        }
    }

    /// The server or the watched session is gone: stop instead of retrying.
    fn is_gone(&self, e: &TmuxError) -> bool {
        match e.failure() {
            TmuxFailure::NoServer => true,
            TmuxFailure::NoSession => self.session.is_some(),
            _ => false,
        }
    }

    /// One poll: list panes and capture the known ones (one tmux run), capture panes seen
    /// for the first time (a second run, only when there are any), and capture from the
    /// start of the history the panes whose capture did not reach the last poll's lines.
    ///
    /// PERF: one `tmux` process per poll instead of one per pane. With 5 panes, 100 rows
    /// deep, `list-panes` plus 5 `capture-pane` as separate processes took 21 ms per poll
    /// (3.6 ms per process, mostly process start and server round trip); as one command
    /// queue 3.9 ms.
    async fn poll(&mut self) -> Result<(), TmuxError> {
        let mut known: Vec<PaneId> = self.tracks.keys().copied().collect();
        known.sort();
        let mut args = self.list_args();
        args.extend(capture_args(&known, Some(self.depth), true));
        let batch = run_batch(&self.target, &args).await?;
        let lines: Vec<&str> = batch.stdout.lines().collect();
        let list_end = lines.iter().position(|l| l.starts_with(marker())).unwrap_or(lines.len());
        // A failed queue still printed the pane list if `list-panes` itself ran (a pane
        // that vanished fails its own capture later in the queue).
        if !batch.ok && lines[..list_end].iter().all(|l| PaneRecord::parse(l).is_none()) {
            return Err(TmuxError::Command(batch.stderr));
        }
        let exits = self.update_panes(&lines[..list_end]);
        let mut deep = Vec::new();
        self.take(&lines, sections(&lines), false, &mut deep);

        let fresh: Vec<PaneId> = {
            let mut v: Vec<PaneId> =
                self.tracks.iter().filter(|(_, t)| t.geo.is_none()).map(|(id, _)| *id).collect();
            v.sort();
            v
        };
        if !fresh.is_empty() {
            let batch =
                run_batch(&self.target, &capture_args(&fresh, Some(self.depth), false)).await?;
            let lines: Vec<&str> = batch.stdout.lines().collect();
            self.take(&lines, sections(&lines), false, &mut deep);
        }
        if !deep.is_empty() {
            let batch = run_batch(&self.target, &capture_args(&deep, None, false)).await?;
            let lines: Vec<&str> = batch.stdout.lines().collect();
            self.take(&lines, sections(&lines), true, &mut Vec::new());
        }
        for (pane, status, signal) in exits {
            pane_lifecycle::pane_exited(&self.dispatcher, &self.exits, pane, status, signal);
        }
        self.polls += 1;
        Ok(())
    }

    fn list_args(&self) -> Vec<String> {
        let mut args = vec!["list-panes".to_string()];
        match &self.session {
            Some(s) => args.extend(["-s".into(), "-t".into(), s.clone()]),
            None => args.push("-a".into()),
        }
        args.extend(["-F".into(), PaneRecord::format()]);
        args
    }

    /// Brings the engine's pane registry in line with `list-panes`; returns the exits
    /// to record (panes that died since the last poll, or new panes already dead).
    fn update_panes(&mut self, lines: &[&str]) -> Vec<(PaneId, Option<i32>, Option<i32>)> {
        let mut seen = HashSet::new();
        let records: Vec<PaneRecord> = lines
            .iter()
            .filter_map(|l| PaneRecord::parse(l))
            .filter(|r| seen.insert(r.id))
            .collect();
        let baseline = self.polls == 0;
        let mut exits = Vec::new();
        let mut engine = self.dispatcher.engine.lock().expect("engine");
        for (id, _) in engine.panes() {
            if !seen.contains(&id) {
                engine.remove_pane(id);
            }
        }
        self.tracks.retain(|id, _| seen.contains(id));
        for r in records {
            let old_dead = engine.pane(r.id).map(|p| !p.is_alive());
            let info = PaneInfo {
                session: Some(r.session),
                session_name: r.session_name.clone(),
                window: Some(r.window),
                label: r.label.clone(),
            };
            // Exits before ctmuxd started are not news; later ones are recorded once,
            // through `pane_exited`.
            if engine.upsert_pane(r.id, info) && baseline && r.dead {
                engine.mark_dead(r.id);
            }
            let track = self.tracks.entry(r.id).or_insert_with(|| Track::new(baseline));
            if r.dead && old_dead != Some(true) && !(baseline && old_dead.is_none()) {
                // Give tmux one more poll to fill in the status before recording none.
                if r.exit_status.is_none() && r.exit_signal.is_none() && track.dead_unknown == 0 {
                    track.dead_unknown += 1;
                    continue;
                }
                exits.push((r.id, r.exit_status, r.exit_signal));
            }
        }
        exits
    }

    /// Feeds the captures of one batch; panes needing a capture from the start of their
    /// history go to `deep`.
    fn take(
        &mut self,
        lines: &[&str],
        sections: Vec<(PaneId, Geometry, std::ops::Range<usize>)>,
        deep: bool,
        need_deep: &mut Vec<PaneId>,
    ) {
        for (pane, geo, range) in sections {
            let Some(track) = self.tracks.get_mut(&pane) else { continue };
            self.feed.clear();
            let lost = match track.advance(geo, &lines[range], deep, self.depth, &mut self.feed) {
                Advance::NeedDeep => {
                    need_deep.push(pane);
                    continue;
                }
                Advance::Ignored => continue,
                Advance::Done { lost } => lost,
            };
            let mut engine = self.dispatcher.engine.lock().expect("engine");
            let label = engine.pane_info(pane).and_then(|i| i.label.clone());
            if !self.feed.is_empty() {
                engine.on_output(pane, &self.feed, Instant::now(), now_ns(), &mut self.firings);
            }
            // Captured text carries no shell-integration marks; drained all the same.
            let commands = engine.take_commands();
            drop(engine);
            for r in commands {
                self.dispatcher.append(&r);
            }
            if let Some(count) = lost {
                self.dispatcher.append(&Record::now(SkippedEvent {
                    origin: Origin { pane: Some(pane.to_string()), label, ..Origin::default() },
                    mode: Some(MODE.into()),
                    message: match count {
                    Some(n) => format!(
                        "about {n} line(s) scrolled out of tmux's history between two polls and were not matched; poll more often"
                    ),
                    None => "lines scrolled out of tmux's history between two polls and were not matched (how many is unknown); poll more often or raise history-limit".to_string(),
                    },
                    lines: count,
                }));
            }
            for f in self.firings.drain(..) {
                self.dispatcher.fire(f);
            }
        }
    }
}

/// tmux arguments that print a marker and capture each of `panes` (`depth` rows above the
/// screen, or the whole history for `None`), then an end marker. `after_list`: the
/// commands follow another one, so the first needs a separator.
fn capture_args(panes: &[PaneId], depth: Option<usize>, after_list: bool) -> Vec<String> {
    let Some(last) = panes.last() else { return Vec::new() };
    let start = depth.map_or("-".to_string(), |d| format!("-{d}"));
    let marker = Geometry::format();
    let mut args = Vec::new();
    let mut sep = after_list;
    let mut push = |args: &mut Vec<String>, cmd: Vec<String>| {
        if sep {
            args.push(";".to_string());
        }
        sep = true;
        args.extend(cmd);
    };
    for p in panes {
        let id = p.to_string();
        push(
            &mut args,
            vec!["display-message".into(), "-p".into(), "-t".into(), id.clone(), marker.clone()],
        );
        push(
            &mut args,
            vec![
                "capture-pane".into(),
                "-p".into(),
                "-J".into(),
                "-t".into(),
                id,
                "-S".into(),
                start.clone(),
            ],
        );
    }
    push(
        &mut args,
        vec!["display-message".into(), "-p".into(), "-t".into(), last.to_string(), marker],
    );
    args
}

/// Runs `tmux -u <args>` (UTF-8 output whatever the locale) and keeps its stdout even when
/// a command in the queue failed: the sections before the failure are valid.
///
/// # Errors
/// [`TmuxError::NoServer`] when no server runs; [`TmuxError::Io`] when tmux cannot run.
async fn run_batch(target: &TmuxTarget, args: &[String]) -> Result<Batch, TmuxError> {
    let mut all = vec!["-u".to_string()];
    all.extend_from_slice(args);
    let out = target
        .command(all)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| TmuxError::Io(format!("cannot run {}: {e}", target.program()), e))?;
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    if !out.status.success() && TmuxFailure::of_message(&stderr) == TmuxFailure::NoServer {
        return Err(TmuxError::NoServer(target.describe()));
    }
    if !out.status.success() {
        tracing::debug!("tmux poll batch: {stderr}");
    }
    Ok(Batch {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        ok: out.status.success(),
        stderr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tmux::version::{ControlModeUnusable, TmuxVersion};

    fn geo(history: u64, cursor_y: u64) -> Geometry {
        Geometry { history, limit: 2000, cursor_y, height: 5, width: 80, alternate: false }
    }

    /// A capture as tmux prints it: `history` rows above a 5-row screen whose cursor is on
    /// the row after the last line of `text` (the empty cursor line), blank rows below.
    fn capture(text: &[&str]) -> (Vec<String>, Geometry) {
        let mut rows: Vec<String> = text.iter().map(|s| s.to_string()).collect();
        rows.push(String::new());
        let history = rows.len().saturating_sub(5) as u64;
        let cursor_y = (rows.len() - 1) as u64 - history;
        while rows.len() < history as usize + 5 {
            rows.push(String::new());
        }
        (rows, geo(history, cursor_y))
    }

    fn step(t: &mut Track, text: &[&str]) -> (String, Advance) {
        let (rows, g) = capture(text);
        let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
        let mut out = Vec::new();
        let a = t.advance(g, &rows, true, 100, &mut out);
        (String::from_utf8(out).unwrap(), a)
    }

    #[test]
    fn marker_round_trip() {
        let line = format!("{}%7\t12\t2000\t3\t40\t120\t1", marker());
        let (pane, g) = Geometry::parse(&line).unwrap();
        assert_eq!(pane, PaneId(7));
        assert_eq!(
            g,
            Geometry {
                history: 12,
                limit: 2000,
                cursor_y: 3,
                height: 40,
                width: 120,
                alternate: true
            }
        );
        assert_eq!(Geometry::parse("%7\t12"), None);
        assert_eq!(Geometry::parse(&format!("{}%7\tx", marker())), None);
        assert!(Geometry::format().starts_with(marker()));
    }

    #[test]
    fn split_at_cursor() {
        let g = Geometry {
            history: 0,
            limit: 2000,
            cursor_y: 2,
            height: 5,
            width: 80,
            alternate: false,
        };
        let c = split_capture(&["a", "b", "Password: ", "", ""], &g);
        assert_eq!(c, Capture { complete: vec!["a", "b"], cursor: "Password: " });
        assert_eq!(split_capture(&[], &g), Capture { complete: vec![], cursor: "" });
    }

    #[test]
    fn baseline_feeds_nothing_then_only_new_lines() {
        let mut t = Track::new(true);
        assert_eq!(step(&mut t, &["old 1", "old 2"]).0, "");
        assert_eq!(step(&mut t, &["old 1", "old 2", "new 3"]).0, "new 3\n");
        assert_eq!(step(&mut t, &["old 1", "old 2", "new 3"]).0, "");
    }

    #[test]
    fn new_pane_feeds_everything() {
        let mut t = Track::new(false);
        assert_eq!(step(&mut t, &["a", "b"]).0, "a\nb\n");
    }

    #[test]
    fn repeated_lines_use_the_cursor_hint() {
        let mut t = Track::new(true);
        step(&mut t, &["x", "x", "x"]);
        let (fed, a) = step(&mut t, &["x", "x", "x", "x", "x"]);
        assert_eq!((fed.as_str(), a), ("x\nx\n", Advance::Done { lost: None }));
    }

    #[test]
    fn repeated_lines_without_hint_declare_the_fewest_new() {
        let old = vec!["x".to_string(); 3];
        let all = |new: &[&str]| known_prefixes(&old, new, false, false).collect::<Vec<_>>();
        assert_eq!(all(&["x", "x", "x"]), vec![3, 2, 1]);
        assert_eq!(all(&["a", "x", "x", "x", "x"]), vec![5, 4]);
        assert_eq!(choose([3, 2, 1].into_iter(), Hint::Unknown, |_| 0), Some(3));
        assert_eq!(choose([3, 2, 1].into_iter(), Hint::Rows(2), |k| 3 - k as i64), Some(1));
        assert_eq!(choose(std::iter::empty(), Hint::Rows(2), |_| 2), None);
    }

    #[test]
    fn cut_first_line_matches_as_suffix() {
        let old = vec!["a".to_string(), "long wrapped line".to_string(), "b".to_string()];
        let found = |new: &[&str], old_cut, new_cut| {
            known_prefixes(&old, new, old_cut, new_cut).collect::<Vec<_>>()
        };
        assert_eq!(found(&["wrapped line", "b", "c"], false, true), vec![2]);
        assert!(found(&["wrapped line", "b", "c"], false, false).is_empty());
        // The old capture was the cut one; the new one (whole history) starts earlier.
        let old = vec!["line".to_string(), "b".to_string()];
        let found = known_prefixes(&old, &["z", "long wrapped line", "b", "c"], true, false);
        assert_eq!(found.collect::<Vec<_>>(), vec![3]);
    }

    #[test]
    fn prompt_is_fed_unterminated_and_completed_in_place() {
        let mut t = Track::new(false);
        let g = Geometry {
            history: 0,
            limit: 2000,
            cursor_y: 1,
            height: 3,
            width: 80,
            alternate: false,
        };
        let mut out = Vec::new();
        t.advance(g, &["a", "Password: ", ""], false, 100, &mut out);
        assert_eq!(out, b"a\nPassword: ");
        out.clear();
        t.advance(g, &["a", "Password: ", ""], false, 100, &mut out);
        assert_eq!(out, b"", "unchanged cursor line: nothing");
        out.clear();
        let g2 = Geometry { cursor_y: 2, ..g };
        t.advance(g2, &["a", "Password: ", "ok"], false, 100, &mut out);
        assert_eq!(out, b"\nok");
        out.clear();
        t.advance(g2, &["a", "Password: ", "50%"], false, 100, &mut out);
        assert_eq!(out, b"\x08\x0850%", "a rewritten cursor line is erased first");
    }

    #[test]
    fn cleared_history_starts_over() {
        let mut t = Track::new(true);
        step(&mut t, &["TRIG x", "other", "TRIG x"]);
        let g = geo(0, 1);
        let mut out = Vec::new();
        let a = t.advance(g, &["TRIG x", "", "", "", ""], true, 100, &mut out);
        assert_eq!((out.as_slice(), a), (&b"TRIG x\n"[..], Advance::Done { lost: None }));
    }

    #[test]
    fn clear_history_by_hand_keeps_the_screen() {
        let mut t = Track::new(true);
        let text: Vec<String> = (0..10).map(|i| format!("l{i}")).collect();
        let text: Vec<&str> = text.iter().map(String::as_str).collect();
        step(&mut t, &text);
        // `clear-history`: the screen (l6..l9, cursor) stays, the history is gone.
        let mut out = Vec::new();
        let a = t.advance(geo(0, 4), &["l6", "l7", "l8", "l9", ""], true, 100, &mut out);
        assert_eq!((out.as_slice(), a), (&b""[..], Advance::Done { lost: None }));
    }

    #[test]
    fn shallow_capture_without_overlap_asks_for_the_whole_history() {
        let mut t = Track::new(true);
        step(&mut t, &["start"]);
        let text: Vec<String> = (0..300).map(|i| format!("SEQ {i}")).collect();
        let mut all = vec!["start".to_string()];
        all.extend(text.iter().cloned());
        let (rows, g) = capture(&all.iter().map(String::as_str).collect::<Vec<_>>());
        let shallow: Vec<&str> = rows[rows.len() - 105..].iter().map(String::as_str).collect();
        let mut out = Vec::new();
        assert_eq!(t.advance(g, &shallow, false, 100, &mut out), Advance::NeedDeep);
        assert!(out.is_empty());
        let deep: Vec<&str> = rows.iter().map(String::as_str).collect();
        assert_eq!(t.advance(g, &deep, true, 100, &mut out), Advance::Done { lost: None });
        assert_eq!(String::from_utf8(out).unwrap().lines().count(), 300);
    }

    #[test]
    fn lines_beyond_the_history_are_counted_as_lost() {
        let mut t = Track::new(true);
        step(&mut t, &["start"]);
        // 50 rows printed, the capture (whole history) shows the last 10 of them only:
        // as if history-limit were tiny, but below it (the hint still holds).
        let text: Vec<String> = (40..50).map(|i| format!("SEQ {i}")).collect();
        let mut rows: Vec<&str> = text.iter().map(String::as_str).collect();
        rows.push("");
        let g = Geometry {
            history: 52 - 5,
            limit: 2000,
            cursor_y: 4,
            height: 5,
            width: 80,
            alternate: false,
        };
        let mut out = Vec::new();
        let a = t.advance(g, &rows[6..], true, 100, &mut out);
        assert_eq!(a, Advance::Done { lost: Some(Some(46)) });
        assert_eq!(String::from_utf8(out).unwrap(), "SEQ 46\nSEQ 47\nSEQ 48\nSEQ 49\n");
    }

    #[test]
    fn alternate_screen_is_left_alone() {
        let mut t = Track::new(true);
        step(&mut t, &["a"]);
        let g = Geometry { alternate: true, ..geo(0, 1) };
        assert_eq!(t.advance(g, &["vim"], true, 100, &mut Vec::new()), Advance::Ignored);
        assert_eq!(step(&mut t, &["a", "b"]).0, "b\n");
    }

    #[test]
    fn unusable_control_mode_is_told_apart_from_no_server() {
        let unusable = |t: TmuxError| DaemonError::Tmux(t).control_mode_unusable();
        assert!(!unusable(TmuxError::NoServer("tmux".into())));
        let attach = |m: &str| TmuxError::Attach { session: "main".into(), message: m.into() };
        assert!(unusable(attach("tmux exited before attaching")));
        assert!(!unusable(attach("can't find session: x")));
        assert!(!unusable(attach("no server running on /tmp/x")));
        assert!(unusable(TmuxError::Command("unknown flag -B".into())));
        assert!(!unusable(TmuxError::Command("can't find pane: %9".into())));
        assert!(unusable(TmuxError::Closed(None)));
        let old = DaemonError::from(ControlModeUnusable::TooOld {
            found: TmuxVersion::parse("tmux 3.0a"),
        });
        assert!(old.control_mode_unusable());
        let server = "-L x".to_string();
        assert!(!DaemonError::NoSessions { server }.control_mode_unusable());
    }

    #[test]
    fn sections_drop_the_cut_one() {
        let m = |p: u32| format!("{}%{p}\t0\t2000\t0\t1\t80\t0", marker());
        let (m1, m2) = (m(1), m(2));
        let lines = ["%1 list", m1.as_str(), "a", m2.as_str(), "b", "c"];
        let s = sections(&lines);
        assert_eq!(s.len(), 1);
        assert_eq!((s[0].0, s[0].2.clone()), (PaneId(1), 2..3));
    }

    #[test]
    fn capture_arguments_are_separate_commands() {
        let a = capture_args(&[PaneId(1), PaneId(2)], Some(100), true);
        assert_eq!(a[0], ";");
        assert_eq!(a.iter().filter(|x| *x == ";").count(), 5);
        assert!(a.windows(2).any(|w| w[0] == "-S" && w[1] == "-100"));
        let a = capture_args(&[PaneId(1)], None, false);
        assert_eq!(a[0], "display-message");
        assert!(a.windows(2).any(|w| w[0] == "-S" && w[1] == "-"));
        assert!(capture_args(&[], None, false).is_empty());
    }
}
