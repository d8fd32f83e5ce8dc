//! The MCP tools of `ctmuxd mcp`, one method each on [`CtmuxdMcp`]: their arguments
//! (JSON schemas derived from the types below, whose doc comments are the field
//! descriptions an agent reads), what they ask the daemon over the socket API, and the
//! structured results they answer (the same JSON as text content and as
//! `structuredContent`).
//!
//! Every tool goes through the [`Policy`] first (read-only, scope, the server's own pane).
//! Failures the agent can act on (an unknown pane, a timeout, a refusal) are tool results
//! with `isError` and `{"error": {"code", "message"}}`, not protocol errors.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ProgressNotificationParam};
use rmcp::service::RequestContext;
use rmcp::{tool, tool_router, RoleServer};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};

use super::budget::{fit, Budget};
use super::events::EventBuffer;
use super::scope::{resolve, Policy, WRITE_TOOLS};
use crate::api::client::{Client, ClientError};
use crate::api::protocol::PaneView;
use crate::api::request::{
    Answer, ApiRequest, CaptureRequest, CaptureView, CloseRequest, LabelRequest, PanesRequest,
    ReadRequest, Request, RunRequest, SendRequest, SpawnRequest, Split, StatusRequest, WaitRequest,
    WaitState, DEFAULT_READ_LINES,
};
use crate::tmux::TmuxTarget;

/// How often a waiting `wait_for` tells a client that gave a progress token that it is
/// still waiting (clients time out a silent request, often after 60 s).
pub const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// The time bound of `send` and `wait_for` when the agent does not give one (ms).
const DEFAULT_WAIT_MS: u64 = 30_000;

/// How long `run` waits for a command by default: builds and test suites take minutes.
const DEFAULT_RUN_MS: u64 = 120_000;

/// The MCP server: the daemon it talks to, its policy, the events kept for `events`.
#[derive(Clone)]
pub struct CtmuxdMcp {
    /// The tmux server whose daemon answers (each call opens a connection of its own).
    pub(super) target: TmuxTarget,
    /// What the agent may touch.
    pub(super) policy: Arc<Policy>,
    /// Records of the daemon's `events` stream, fed by [`super::events::follow`].
    pub(super) events: Arc<Mutex<EventBuffer>>,
    /// The server's instructions (what it serves, whether it started the daemon).
    pub(super) instructions: String,
    /// The tools, less the write tools under `--read-only`.
    pub(super) tool_router: ToolRouter<CtmuxdMcp>,
    /// The least severe log message pushed (`logging/setLevel`), shared with the push.
    pub(super) level: Arc<Mutex<super::push::Level>>,
    /// Declares Claude Code's `claude/channel` capability (`--claude-channel`).
    pub(super) claude_channel: bool,
}

/// A tool's failure, as the agent sees it.
struct Failed {
    code: &'static str,
    message: String,
}

impl From<ClientError> for Failed {
    fn from(e: ClientError) -> Failed {
        let code = match &e {
            ClientError::Api(a) => a.code.as_str(),
            ClientError::NoDaemon { .. } => "no_daemon",
            ClientError::NoAnswer { .. } => "timeout",
            _ => "internal",
        };
        Failed { code, message: e.to_string() }
    }
}

fn refused(message: String) -> Failed {
    Failed { code: "refused", message }
}

fn bad(message: impl Into<String>) -> Failed {
    Failed { code: "bad_request", message: message.into() }
}

type ToolResult = Result<Value, Failed>;

/// A tool's answer: its JSON object as text and as structured content.
fn finish(r: ToolResult) -> Result<CallToolResult, rmcp::ErrorData> {
    Ok(match r {
        Ok(v) => CallToolResult::structured(v),
        Err(f) => CallToolResult::structured_error(
            json!({"error": {"code": f.code, "message": f.message}}),
        ),
    })
}

/// The arguments of `panes`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct PanesArgs {
    /// Only panes whose label matches this glob (`*`, `?`); default: every pane in scope.
    #[serde(default)]
    pub label: Option<String>,
}

/// The arguments of `spawn`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct SpawnArgs {
    /// The new pane's label (unique in its session); other tools name the pane by it.
    pub label: String,
    /// The program and its arguments, run directly; empty: the user's default shell, which
    /// is what to use for a pane to `send` commands to.
    #[serde(default)]
    pub command: Vec<String>,
    /// Run `command` joined by spaces through `sh -c` (pipes, `&&`, globs).
    #[serde(default)]
    pub shell: bool,
    /// Working directory, absolute.
    #[serde(default)]
    pub cwd: Option<String>,
    /// Split this labelled pane instead of opening a new window.
    #[serde(default)]
    pub beside: Option<String>,
    /// With `beside`: `h` side by side, `v` stacked (default).
    #[serde(default)]
    pub split: Option<String>,
    /// Session for a new window (default: the daemon's first session).
    #[serde(default)]
    pub session: Option<String>,
    /// Metadata stored with the pane (shown by `panes`).
    #[serde(default)]
    pub meta: BTreeMap<String, Value>,
    /// Keep the pane after its program exits, so `panes` shows its exit status.
    #[serde(default)]
    pub keep: bool,
}

/// The arguments of `close`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct CloseArgs {
    /// Labels or label globs of the panes to kill.
    pub labels: Vec<String>,
}

/// The arguments of `label`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct LabelArgs {
    /// The pane: its id (`%3`), current label or `session:window.pane`.
    pub pane: String,
    /// Its new label.
    pub label: String,
    /// Metadata replacing what it had (omit to keep it).
    #[serde(default)]
    pub meta: Option<BTreeMap<String, Value>>,
}

/// The arguments of `send`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct SendArgs {
    /// The pane: a label, `%id` or `session:window.pane`.
    pub pane: String,
    /// Text typed literally (nothing is interpreted by tmux).
    #[serde(default)]
    pub text: String,
    /// Keys pressed after the text, by name: `Enter`, `Tab`, `Escape`, `Backspace`,
    /// `Up`, `Down`, `Left`, `Right`, `C-c`, `C-d`, `C-z`, `C-l` (any `C-<letter>`).
    #[serde(default)]
    pub keys: Vec<String>,
    /// Press Enter last, as a key of its own after the text has arrived (submits in
    /// shells and in TUIs that drop an Enter pasted with text).
    #[serde(default)]
    pub enter: bool,
    /// A regex: wait for the first line of the pane matching it, watched from before the
    /// text is sent, so a fast answer is not missed; the echo of the typed text is never
    /// taken for the answer.
    #[serde(default)]
    pub expect: Option<String>,
    /// Give up after this many milliseconds (default 30000).
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// Before typing, wait until the pane is ready for input: the line under the cursor
    /// looks like a prompt (`prompt`, default `[$#>%] ?$`) or the pane printed nothing
    /// for a while. Keystrokes sent before a program is ready can be lost.
    #[serde(default)]
    pub wait_ready: bool,
    /// With `wait_ready`: the prompt's regex.
    #[serde(default)]
    pub prompt: Option<String>,
}

/// A shell state `wait_for` can wait for.
#[derive(Clone, Copy, Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ShellStateArg {
    /// The shell is at its prompt (answers at once if it is now).
    Prompt,
    /// A command finished: the one running now, or the next one; with `after`, any
    /// command whose output ended after that line, even one that already ended.
    Finished,
}

/// The arguments of `wait_for`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct WaitForArgs {
    /// The pane: a label, `%id` or `session:window.pane`.
    pub pane: String,
    /// A regex (Rust syntax) matched against each line as a person saw it; named groups
    /// come back in `captures`. Give this or `state`.
    #[serde(default)]
    pub pattern: Option<String>,
    /// Instead of a pattern, wait for the pane's shell (one with integration marks,
    /// `ctmuxd shell-init`): `prompt` or `finished` (answers with the command's exit
    /// status, command line, duration and line count in `shell.last`).
    #[serde(default)]
    pub state: Option<ShellStateArg>,
    /// With `state: finished`: a line number (the `cursor` of `send` or `read`, taken
    /// before the command was typed); a command whose output ended after it answers,
    /// even if it ended before this call.
    #[serde(default)]
    pub after: Option<u64>,
    /// Match the rows on the pane's screen (full-screen programs, prompts, progress bars)
    /// instead of its lines; a row showing a match now answers at once.
    #[serde(default)]
    pub screen: bool,
    /// Also look at the last this many lines already printed (default 0: only new lines).
    #[serde(default)]
    pub since: usize,
    /// Give up after this many milliseconds (default 30000). Progress notifications are
    /// sent every 5 s meanwhile when the request carries a progress token.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

/// The arguments of `capture`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct CaptureArgs {
    /// The pane: a label, `%id` or `session:window.pane`.
    pub pane: String,
    /// Instead of the screen's rows, the last this many lines the pane printed (its log).
    #[serde(default)]
    pub lines: Option<usize>,
    /// Most lines answered (default 200; the newest are kept).
    #[serde(default)]
    pub max_lines: Option<usize>,
    /// Most bytes of text answered (default 16384; the newest are kept).
    #[serde(default)]
    pub max_bytes: Option<usize>,
}

/// The arguments of `run`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct RunArgs {
    /// The pane: a label, `%id` or `session:window.pane`. Its shell must emit the
    /// shell-integration marks (`ctmuxd shell-init`).
    pub pane: String,
    /// The command line, typed as it is (multi-line commands and heredocs work).
    pub command: String,
    /// Give up waiting after this many milliseconds (default 120000); the command keeps
    /// running in the pane.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// Most lines of output answered (default 200; the newest are kept).
    #[serde(default)]
    pub max_lines: Option<usize>,
    /// Most bytes of output answered (default 16384; the newest are kept).
    #[serde(default)]
    pub max_bytes: Option<usize>,
}

/// The arguments of `read`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct ReadArgs {
    /// The pane: a label, `%id` or `session:window.pane`.
    pub pane: String,
    /// The `cursor` the previous `read` of this pane returned; omit (or 0) to read from
    /// the oldest line kept.
    #[serde(default)]
    pub cursor: Option<u64>,
    /// Most lines answered (default 200; the newest are kept, the cut is reported).
    #[serde(default)]
    pub max_lines: Option<usize>,
    /// Most bytes of text answered (default 16384; the newest are kept).
    #[serde(default)]
    pub max_bytes: Option<usize>,
}

/// The arguments of `events`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct EventsArgs {
    /// The `cursor` the previous `events` call returned; omit (or 0) for every event kept
    /// since the server started.
    #[serde(default)]
    pub cursor: Option<u64>,
    /// Most events answered (default 100; the oldest first, page on with `cursor`).
    #[serde(default)]
    pub limit: Option<usize>,
}

/// Bytes a key name sends (the API types control characters as keys).
fn key_bytes(name: &str) -> Option<String> {
    let s = match name {
        "Enter" | "Return" => "\r",
        "Tab" => "\t",
        "Escape" | "Esc" => "\x1b",
        "Backspace" | "BSpace" => "\x7f",
        "Up" => "\x1b[A",
        "Down" => "\x1b[B",
        "Right" => "\x1b[C",
        "Left" => "\x1b[D",
        "Space" => " ",
        _ => {
            let c = name.strip_prefix("C-")?;
            let mut chars = c.chars();
            let (Some(ch), None) = (chars.next(), chars.next()) else { return None };
            let ch = ch.to_ascii_lowercase();
            if !ch.is_ascii_lowercase() {
                return None;
            }
            return Some(char::from(ch as u8 - b'a' + 1).to_string());
        }
    };
    Some(s.to_string())
}

/// A pane as an agent needs it: the API's view, with its size as one field.
fn pane_json(p: &PaneView) -> Value {
    json!({
        "id": p.id,
        "label": p.label,
        "meta": p.meta,
        "session": p.session,
        "target": p.target,
        "command": p.command,
        "size": [p.width, p.height],
        "alive": p.alive,
        "exit_status": p.exit_status,
        "exit_signal": p.exit_signal,
        "last_line": p.last_line,
        "start": p.start,
        "matches": p.matches,
    })
}

impl CtmuxdMcp {
    /// Sends one request to the daemon on a connection of its own.
    async fn call<R: ApiRequest>(&self, req: R) -> Result<<R::Answer as Answer>::Reply, Failed> {
        let req: Request = req.into();
        let within = Duration::from_millis(req.timeout_ms()).saturating_add(Duration::from_secs(5));
        let mut client = Client::connect(&self.target).await?;
        Ok(client.call(&req, within).await?)
    }

    /// Every pane of the server.
    async fn all_panes(&self) -> Result<Vec<PaneView>, Failed> {
        Ok(self.call(PanesRequest {}).await?.panes)
    }

    /// The pane a tool names, in scope.
    async fn pane(&self, name: &str) -> Result<PaneView, Failed> {
        let panes = self.all_panes().await?;
        resolve(&self.policy, &panes, name).cloned().map_err(|m| {
            let code = if m.starts_with("refused") { "refused" } else { "not_found" };
            Failed { code, message: m }
        })
    }

    async fn do_panes(&self, a: PanesArgs) -> ToolResult {
        let panes = self.all_panes().await?;
        let status = self.call(StatusRequest {}).await?.status;
        let shown: Vec<Value> = panes
            .iter()
            .filter(|p| self.policy.in_scope(p))
            .filter(|p| {
                a.label.as_deref().is_none_or(|g| {
                    p.label.as_deref().is_some_and(|l| crate::glob::glob_match(g, l))
                })
            })
            .map(pane_json)
            .collect();
        let entries: Vec<Value> = status
            .pane_entries
            .iter()
            .filter(|e| {
                self.policy
                    .label_glob
                    .as_deref()
                    .is_none_or(|g| crate::glob::glob_match(g, &e.label))
            })
            .map(|e| json!({"label": e.label, "state": e.state, "reason": e.reason}))
            .collect();
        Ok(json!({"panes": shown, "pane_entries": entries, "scope": self.policy.describe()}))
    }

    async fn do_spawn(&self, a: SpawnArgs) -> ToolResult {
        self.policy.check_write("spawn").map_err(refused)?;
        self.policy.check_new_label(&a.label).map_err(refused)?;
        let session = match (&self.policy.session, a.session) {
            (Some(s), Some(asked)) if *s != asked => {
                return Err(refused(format!(
                    "refused: session `{asked}` is outside this server's scope ({})",
                    self.policy.describe()
                )))
            }
            (Some(s), _) => Some(s.clone()),
            (None, asked) => asked,
        };
        if let Some(b) = &a.beside {
            self.pane(b).await?;
        }
        let split = match a.split.as_deref() {
            None => None,
            Some("h") => Some(Split::Horizontal),
            Some("v") => Some(Split::Vertical),
            Some(other) => return Err(bad(format!("split must be `h` or `v`, not `{other}`"))),
        };
        let req = SpawnRequest {
            label: a.label,
            session,
            meta: a.meta,
            command: a.command,
            shell: a.shell,
            cwd: a.cwd.map(Into::into),
            beside: a.beside,
            split,
            keep: a.keep,
            ..Default::default()
        };
        let reply = self.call(req).await?;
        Ok(json!({"pane": pane_json(&reply.pane)}))
    }

    async fn do_close(&self, a: CloseArgs) -> ToolResult {
        self.policy.check_write("close").map_err(refused)?;
        if a.labels.is_empty() {
            return Err(bad("labels is empty: name the panes to close"));
        }
        let panes = self.all_panes().await?;
        for p in panes.iter().filter(|p| {
            p.label
                .as_deref()
                .is_some_and(|l| a.labels.iter().any(|g| crate::glob::glob_match(g, l)))
        }) {
            self.policy.check_pane(p).map_err(refused)?;
            self.policy.check_not_self(p, "close").map_err(refused)?;
        }
        let reply = self.call(CloseRequest { labels: a.labels }).await?;
        Ok(json!({"closed": reply.closed.iter().map(pane_json).collect::<Vec<_>>()}))
    }

    async fn do_label(&self, a: LabelArgs) -> ToolResult {
        self.policy.check_write("label").map_err(refused)?;
        self.policy.check_new_label(&a.label).map_err(refused)?;
        let pane = self.pane(&a.pane).await?;
        let reply = self.call(LabelRequest { pane: pane.id, label: a.label, meta: a.meta }).await?;
        Ok(json!({"pane": pane_json(&reply.pane)}))
    }

    async fn do_send(&self, a: SendArgs) -> ToolResult {
        self.policy.check_write("send").map_err(refused)?;
        let mut text = a.text;
        for k in &a.keys {
            text.push_str(&key_bytes(k).ok_or_else(|| {
                bad(format!("unknown key `{k}`: use Enter, Tab, Escape, Backspace, Up, Down, Left, Right, Space or C-<letter>"))
            })?);
        }
        if text.is_empty() && !a.enter {
            return Err(bad("nothing to send: give text, keys or enter"));
        }
        let pane = self.pane(&a.pane).await?;
        self.policy.check_not_self(&pane, "send").map_err(refused)?;
        let req = SendRequest {
            label: pane.id.clone(),
            text,
            enter: a.enter,
            expect: a.expect,
            timeout_ms: a.timeout_ms.unwrap_or(DEFAULT_WAIT_MS),
            wait_ready: a.wait_ready,
            prompt: a.prompt,
            idle_ms: None,
        };
        // The pane's last line before typing: `wait_for` `state: finished` `after` it
        // finds the command even when it ends before that call.
        let before = self
            .call(ReadRequest { label: pane.id.clone(), after: u64::MAX, max_lines: 0 })
            .await?
            .cursor;
        let reply = self.call(req).await?;
        Ok(json!({"pane": pane.id, "label": pane.label, "sent": true, "matched": reply.matched,
                  "cursor": before}))
    }

    async fn do_run(&self, a: RunArgs) -> ToolResult {
        self.policy.check_write("run").map_err(refused)?;
        let pane = self.pane(&a.pane).await?;
        self.policy.check_not_self(&pane, "run").map_err(refused)?;
        let budget = Budget::from_args(a.max_lines, a.max_bytes);
        let req = RunRequest {
            label: pane.id.clone(),
            command: a.command,
            timeout_ms: a.timeout_ms.unwrap_or(DEFAULT_RUN_MS),
            max_bytes: crate::api::request::DEFAULT_RUN_BYTES,
        };
        let reply = self.call(req).await?;
        let fitted = fit(&reply.output, budget);
        Ok(json!({
            "pane": reply.pane,
            "label": reply.label,
            "status": reply.status,
            "not_run": reply.not_run,
            "duration_ms": reply.duration_ms,
            "output": fitted.lines,
            "lines": reply.lines,
            "dropped_lines": reply.dropped_lines,
            "collapsed": fitted.collapsed,
            "cut_lines": fitted.cut_lines,
            "truncated": fitted.note(budget),
            "cwd": reply.cwd,
        }))
    }

    async fn do_wait_for(&self, a: WaitForArgs, ctx: RequestContext<RoleServer>) -> ToolResult {
        let pane = self.pane(&a.pane).await?;
        let timeout_ms = a.timeout_ms.unwrap_or(DEFAULT_WAIT_MS);
        let req = WaitRequest {
            label: pane.id.clone(),
            pattern: a.pattern.unwrap_or_default(),
            state: a.state.map(|s| match s {
                ShellStateArg::Prompt => WaitState::Prompt,
                ShellStateArg::Finished => WaitState::Finished,
            }),
            after: a.after,
            timeout_ms,
            since: a.since,
            screen: a.screen,
        };
        req.validate().map_err(bad)?;
        let what = match req.state {
            None => format!("`{}`", req.pattern),
            Some(WaitState::Prompt) => "its shell's prompt".to_string(),
            Some(WaitState::Finished) => "a command to finish".to_string(),
        };
        let wait = self.call(req);
        tokio::pin!(wait);
        let token = ctx.meta.get_progress_token();
        let started = tokio::time::Instant::now();
        let mut tick = tokio::time::interval_at(started + PROGRESS_EVERY, PROGRESS_EVERY);
        loop {
            tokio::select! {
                r = &mut wait => {
                    let reply = r?;
                    let mut answer = json!({"waited_ms": started.elapsed().as_millis() as u64});
                    if let Some(m) = reply.matched {
                        answer["match"] = json!(m);
                    }
                    if let Some(shell) = reply.shell {
                        answer["shell"] = json!(shell);
                    }
                    return Ok(answer);
                }
                _ = ctx.ct.cancelled() => {
                    return Err(Failed { code: "cancelled", message: "the client cancelled the wait".into() });
                }
                _ = tick.tick() => {
                    if let Some(t) = &token {
                        let secs = started.elapsed().as_secs_f64();
                        let _ = ctx
                            .peer
                            .notify_progress(
                                ProgressNotificationParam::new(t.clone(), secs)
                                    .with_total(timeout_ms as f64 / 1000.0)
                                    .with_message(format!("waiting for {what} in pane `{}` ({}, {secs:.0}s)", pane_name(&pane), pane.id)),
                            )
                            .await;
                    }
                }
            }
        }
    }

    async fn do_capture(&self, a: CaptureArgs) -> ToolResult {
        let pane = self.pane(&a.pane).await?;
        let budget = Budget::from_args(a.max_lines, a.max_bytes);
        let reply = self.call(CaptureRequest { label: pane.id.clone(), lines: a.lines }).await?;
        let mut lines = reply.lines;
        let rows = lines.len();
        if reply.view == CaptureView::Screen {
            // Blank rows below the last text say nothing to a model.
            while lines.last().is_some_and(|l| l.is_empty()) {
                lines.pop();
            }
        }
        let fitted = fit(&lines, budget);
        Ok(json!({
            "pane": pane.id,
            "label": pane.label,
            "view": reply.view,
            "lines": fitted.lines,
            "rows": rows,
            "size": reply.size,
            "cursor": reply.cursor,
            "not_kept": reply.not_kept,
            "collapsed": fitted.collapsed,
            "cut_lines": fitted.cut_lines,
            "truncated": fitted.note(budget),
        }))
    }

    async fn do_read(&self, a: ReadArgs) -> ToolResult {
        let pane = self.pane(&a.pane).await?;
        let budget = Budget::from_args(a.max_lines, a.max_bytes);
        let after = a.cursor.unwrap_or(0);
        // More lines than the budget: runs of repeats collapse before the budget cuts.
        let fetch = budget.max_lines.saturating_mul(10).clamp(DEFAULT_READ_LINES, 20_000);
        let reply =
            self.call(ReadRequest { label: pane.id.clone(), after, max_lines: fetch }).await?;
        let fitted = fit(&reply.lines, budget);
        let cut = reply.cut + fitted.cut_lines as u64;
        let mut notes = Vec::new();
        if reply.gap > 0 {
            notes.push(format!(
                "{} line(s) after cursor {after} were no longer kept by ctmuxd (its ring_lines \
                 setting) and are lost",
                reply.gap
            ));
        }
        if cut > 0 {
            notes.push(format!(
                "{cut} older line(s) left out to fit the budget ({} lines / {} bytes); the \
                 newest are shown",
                budget.max_lines, budget.max_bytes
            ));
        }
        for p in &reply.paused {
            notes.push(if p.lost {
                format!(
                    "tmux paused this pane's output after line {} (ctmuxd fell behind) and \
                     it printed more than tmux's history holds meanwhile: lines after {} are \
                     lost; the {} line(s) that follow were read back from the history and \
                     may repeat some seen before",
                    p.after_line, p.after_line, p.read_back
                )
            } else {
                format!(
                    "tmux paused this pane's output after line {} (ctmuxd fell behind); the \
                     {} line(s) after it were read back from tmux's history, none lost \
                     (their text as shown, without escapes or redraws)",
                    p.after_line, p.read_back
                )
            });
        }
        if fitted.cut_line_start {
            notes.push("the first line shown was cut short: only its end is kept".into());
        }
        Ok(json!({
            "pane": pane.id,
            "label": pane.label,
            "lines": fitted.lines,
            "first": reply.first + fitted.cut_lines as u64,
            "cursor": reply.cursor,
            "gap": reply.gap,
            "cut": cut,
            "collapsed": fitted.collapsed,
            "partial": reply.partial,
            "paused": reply.paused,
            "truncated": (!notes.is_empty()).then(|| notes.join("; ")),
        }))
    }

    async fn do_events(&self, a: EventsArgs) -> ToolResult {
        let page = self.events.lock().expect("events").page(
            a.cursor.unwrap_or(0),
            a.limit.unwrap_or(100).max(1),
            &self.policy,
        );
        serde_json::to_value(page).map_err(|e| Failed { code: "internal", message: e.to_string() })
    }
}

/// The pane's label, or its id when it has none.
fn pane_name(p: &PaneView) -> &str {
    p.label.as_deref().unwrap_or(&p.id)
}

#[tool_router]
impl CtmuxdMcp {
    /// The tools, less the write tools when `read_only`.
    pub(super) fn router(read_only: bool) -> ToolRouter<CtmuxdMcp> {
        let mut r = Self::tool_router();
        if read_only {
            for t in WRITE_TOOLS {
                r.remove_route(t);
            }
        }
        r
    }

    /// List the tmux panes this server may use: id, label, metadata, session, tmux target,
    /// foreground command, size [columns, rows], whether alive (exit status when not),
    /// the last line shown, rule matches, and for panes of the rules file's [[pane]]
    /// entries their start state (`start`; `pane_entries` lists every entry's state:
    /// waiting, starting, ready, restarting, failed). Name panes in other tools by label,
    /// id or target.
    #[tool(annotations(read_only_hint = true))]
    async fn panes(
        &self,
        Parameters(a): Parameters<PanesArgs>,
    ) -> Result<CallToolResult, rmcp::ErrorData> {
        finish(self.do_panes(a).await)
    }

    /// Start a new labelled tmux pane running a command (or the default shell when
    /// `command` is empty), in a new window or split beside another pane. Returns the pane.
    /// Then `send` to it, `read` or `wait_for` its output.
    #[tool(annotations(destructive_hint = false))]
    async fn spawn(
        &self,
        Parameters(a): Parameters<SpawnArgs>,
    ) -> Result<CallToolResult, rmcp::ErrorData> {
        finish(self.do_spawn(a).await)
    }

    /// Kill the panes whose labels match (labels or globs). Returns the panes closed.
    #[tool(annotations(destructive_hint = true))]
    async fn close(
        &self,
        Parameters(a): Parameters<CloseArgs>,
    ) -> Result<CallToolResult, rmcp::ErrorData> {
        finish(self.do_close(a).await)
    }

    /// Give an existing pane (by id, label or target) a label and optionally metadata, so
    /// other tools and rules can name it.
    #[tool(annotations(destructive_hint = false))]
    async fn label(
        &self,
        Parameters(a): Parameters<LabelArgs>,
    ) -> Result<CallToolResult, rmcp::ErrorData> {
        finish(self.do_label(a).await)
    }

    /// Type into a pane: `text` literally, then `keys` by name, then Enter if `enter`
    /// (pressed on its own once the text has arrived). With `expect` (a regex), waits for
    /// the first line matching it (watched from before sending, so a fast answer is not
    /// missed) and returns it in `matched` with its capture groups; `cursor` is the pane's
    /// last line before typing (for `read` or `wait_for` `after`). To run a shell command:
    /// text = the command, enter = true, expect = a pattern its output ends with.
    #[tool(annotations(destructive_hint = true))]
    async fn send(
        &self,
        Parameters(a): Parameters<SendArgs>,
    ) -> Result<CallToolResult, rmcp::ErrorData> {
        finish(self.do_send(a).await)
    }

    /// Run a shell command in an existing shell pane (the same shell: `cd`, `export` and
    /// virtualenvs persist) and wait until it finishes: returns its exit `status`, its
    /// `output` (all lines it printed between its start and end, escapes stripped, fitted
    /// to the budget with the newest kept) and `duration_ms`. The pane's shell must emit
    /// the shell-integration marks (`ctmuxd shell-init bash|zsh|fish`); a pane without
    /// them is refused with that hint. Prefer this to `send` + `expect` for shell commands.
    #[tool(annotations(destructive_hint = true))]
    async fn run(
        &self,
        Parameters(a): Parameters<RunArgs>,
    ) -> Result<CallToolResult, rmcp::ErrorData> {
        finish(self.do_run(a).await)
    }

    /// Block until a line of the pane matches `pattern` (a regex; or with `screen` a row of
    /// its screen), or until its shell reaches `state` (`prompt`; `finished`: a command
    /// ended, with its exit status in `shell.last`), up to `timeout_ms`. Answers at the
    /// moment it happens (streamed, not polled), with the line and its captures or the
    /// shell's state; `since` also looks at lines already printed. After `send`ing a
    /// command, `state: finished` with `after` = the send's `cursor` cannot miss it.
    /// Sends progress notifications every 5 s while it waits; a cancelled call stops it.
    #[tool(annotations(read_only_hint = true))]
    async fn wait_for(
        &self,
        Parameters(a): Parameters<WaitForArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, rmcp::ErrorData> {
        finish(self.do_wait_for(a, ctx).await)
    }

    /// What a pane shows now, row by row, as a person sees it (trailing blank rows
    /// dropped), with the screen size and cursor; or with `lines: N` the last N lines it
    /// printed (its log, lines unwrapped). Runs of identical lines and progress-bar
    /// redraws are collapsed (a bar shows its last state) and the answer fits a budget
    /// (newest kept, cut reported in `truncated`).
    #[tool(annotations(read_only_hint = true))]
    async fn capture(
        &self,
        Parameters(a): Parameters<CaptureArgs>,
    ) -> Result<CallToolResult, rmcp::ErrorData> {
        finish(self.do_capture(a).await)
    }

    /// New output of a pane since `cursor` (the `cursor` the previous `read` returned;
    /// omit it the first time): complete lines, escapes stripped, oldest first, never one
    /// twice and none skipped; progress-bar redraws collapse into the bar's last state and
    /// repeats into a count (`collapsed`); `paused` lists times tmux paused the pane for
    /// ctmuxd (`lost`: lines missing there); `gap` counts lines lost before they were read, `cut` lines
    /// left out by the budget (newest kept), `partial` is the line being written (a
    /// prompt), returned again once complete. Pass the returned `cursor` next time.
    #[tool(annotations(read_only_hint = true))]
    async fn read(
        &self,
        Parameters(a): Parameters<ReadArgs>,
    ) -> Result<CallToolResult, rmcp::ErrorData> {
        finish(self.do_read(a).await)
    }

    /// Rule firings (`match`), pane lifecycle (`pane`: spawned, exited, closed) and other
    /// daemon events since `cursor` (the `cursor` the previous call returned; omit it for
    /// everything since this server started), oldest first, each with its own `cursor`.
    #[tool(annotations(read_only_hint = true))]
    async fn events(
        &self,
        Parameters(a): Parameters<EventsArgs>,
    ) -> Result<CallToolResult, rmcp::ErrorData> {
        finish(self.do_events(a).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_names_map_to_the_bytes_a_terminal_sends() {
        assert_eq!(key_bytes("Enter").as_deref(), Some("\r"));
        assert_eq!(key_bytes("C-c").as_deref(), Some("\x03"));
        assert_eq!(key_bytes("C-D").as_deref(), Some("\x04"));
        assert_eq!(key_bytes("Up").as_deref(), Some("\x1b[A"));
        assert_eq!(key_bytes("C-1"), None);
        assert_eq!(key_bytes("Hyper"), None);
    }

    #[test]
    fn read_only_hides_the_write_tools() {
        let names = |r: &ToolRouter<CtmuxdMcp>| {
            let mut v: Vec<String> = r.list_all().into_iter().map(|t| t.name.to_string()).collect();
            v.sort();
            v
        };
        assert_eq!(
            names(&CtmuxdMcp::router(false)),
            [
                "capture", "close", "events", "label", "panes", "read", "run", "send", "spawn",
                "wait_for"
            ]
        );
        assert_eq!(
            names(&CtmuxdMcp::router(true)),
            ["capture", "events", "panes", "read", "wait_for"]
        );
    }
}
