//! The `exec` action: [`ExecAction`], read from `{ exec = [argv...], timeout, cwd, env }`,
//! and its runner, which starts a rule's program with its argv (never through a
//! shell), describes the match in `CTMUX_*` environment variables, captures a bounded
//! tail of its output, and enforces a timeout on its whole process group.
//!
//! Neighbours: the daemon's dispatcher calls [`ExecRunner::run`] once per fired
//! `exec` action (usually from a spawned task); the returned [`ActionOutcome`] goes
//! to the event log. Pane text reaches the child only as environment variable
//! values, so a line such as `$(rm -rf ~)` is data, never code.

use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::{Child, Command};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use toml::{Spanned, Value};

use super::duration::parse_duration;
use super::{ActionContext, ActionDetails, ActionHost, ActionKind, ActionOutcome, ActionTable, ParseError};

/// A program to run when a rule fires: `{ exec = [argv...], timeout, cwd, env }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecAction {
    /// Program and arguments; `argv[0]` is looked up in `PATH` like `execvp`.
    /// Never empty once validated by [`crate::rules`].
    pub argv: Vec<String>,
    /// Kill the process group after this long; `None` uses the runner's default.
    pub timeout: Option<Duration>,
    /// Working directory; `None` inherits the daemon's.
    pub cwd: Option<PathBuf>,
    /// Extra environment, applied before the `CTMUX_*` variables (which the rules
    /// loader refuses to let a file override).
    pub env: Vec<(String, String)>,
}

/// Keys an `exec` action table accepts, for messages.
const EXEC_KEYS: &str = "`exec`, `timeout`, `cwd`, `env`";

impl ActionKind for ExecAction {
    const NAME: &'static str = "exec";
    const NEEDS_CONTROL: bool = false;
    const OPTIONS: &'static [&'static str] = &["timeout", "cwd", "env"];

    fn parse(table: &ActionTable<'_>) -> Result<ExecAction, ParseError> {
        let mut exec =
            ExecAction { argv: argv(table.value)?, timeout: None, cwd: None, env: Vec::new() };
        for (key, value) in table.options() {
            match key.get_ref().as_str() {
                "timeout" => {
                    let text = string(value, "timeout", "a duration such as \"10s\"")?;
                    let timeout = parse_duration(text)
                        .map_err(|err| ParseError::new(value.span(), err.to_string()))?;
                    if timeout.is_zero() {
                        return Err(ParseError::new(
                            value.span(),
                            "`timeout` must be greater than zero",
                        ));
                    }
                    exec.timeout = Some(timeout);
                }
                "cwd" => {
                    let dir = string(value, "cwd", "a directory path")?;
                    if dir.is_empty() || dir.contains('\0') {
                        return Err(ParseError::new(
                            value.span(),
                            "`cwd` must be a non-empty path without NUL",
                        ));
                    }
                    exec.cwd = Some(PathBuf::from(dir));
                }
                "env" => exec.env = env(value)?,
                other => {
                    return Err(ParseError::new(
                        key.span(),
                        format!(
                            "unknown field `{other}` in exec action, expected one of {EXEC_KEYS}"
                        ),
                    ))
                }
            }
        }
        Ok(exec)
    }

    fn parse_bare(span: std::ops::Range<usize>) -> Result<ExecAction, ParseError> {
        Err(ParseError::new(span, "`exec` needs an argv; write `{ exec = [\"program\", \"arg\"] }`"))
    }

    fn describe(&self) -> String {
        format!("exec {}", serde_json::to_string(&self.argv).unwrap_or_default())
    }

    async fn run<H: ActionHost>(
        &self,
        host: &H,
        ctx: &ActionContext,
        details: &mut ActionDetails,
    ) -> ActionOutcome {
        details.argv = Some(self.argv.clone());
        host.exec_runner().run(self, ctx).await
    }
}

/// The argv array: strings without NUL, a non-empty program first.
fn argv(value: &Spanned<Value>) -> Result<Vec<String>, ParseError> {
    let span = value.span();
    let Value::Array(items) = value.get_ref() else {
        return Err(ParseError::new(
            span,
            format!(
                "`exec` takes an argv array such as [\"./script.sh\", \"--flag\"], found {}; \
                 it is never split into words or run by a shell",
                value.get_ref().type_str()
            ),
        ));
    };
    let mut argv = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        match item.as_str() {
            Some(arg) if arg.contains('\0') => {
                return Err(ParseError::new(
                    span,
                    format!("`exec` argument {index} contains a NUL byte; remove it"),
                ));
            }
            Some(arg) => argv.push(arg.to_owned()),
            None => {
                return Err(ParseError::new(
                    span,
                    format!(
                        "`exec` argument {index} is {}, not a string; quote it",
                        item.type_str()
                    ),
                ));
            }
        }
    }
    match argv.first().map(String::as_str) {
        None => Err(ParseError::new(
            span,
            "`exec` argv is empty; name the program to run and its arguments",
        )),
        Some("") => Err(ParseError::new(
            span,
            "`exec` program (argument 0) is empty; name the program to run",
        )),
        Some(_) => Ok(argv),
    }
}

/// `env = { NAME = "value" }`: names usable as environment variables and not
/// in the reserved `CTMUX_` namespace, string values.
fn env(value: &Spanned<Value>) -> Result<Vec<(String, String)>, ParseError> {
    let span = value.span();
    let Value::Table(table) = value.get_ref() else {
        return Err(ParseError::new(
            span,
            format!(
                "`env` takes a table such as {{ NAME = \"value\" }}, found {}",
                value.get_ref().type_str()
            ),
        ));
    };
    let mut env = Vec::with_capacity(table.len());
    for (name, item) in table {
        let valid_name = !name.is_empty()
            && !name.starts_with(|c: char| c.is_ascii_digit())
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid_name {
            return Err(ParseError::new(
                span,
                format!("`env` name `{name}` is not a valid variable name; use letters, digits and `_`"),
            ));
        }
        if name.starts_with("CTMUX_") {
            return Err(ParseError::new(
                span,
                format!("`env` name `{name}` is reserved: CTMUX_* variables describe the match; rename it"),
            ));
        }
        match item.as_str() {
            Some(text) if !text.contains('\0') => env.push((name.clone(), text.to_owned())),
            Some(_) => {
                return Err(ParseError::new(
                    span,
                    format!("`env` value of `{name}` contains a NUL byte; remove it"),
                ))
            }
            None => {
                return Err(ParseError::new(
                    span,
                    format!("`env` value of `{name}` is {}, not a string; quote it", item.type_str()),
                ))
            }
        }
    }
    Ok(env)
}

/// The string in `value`, or an error saying `key` takes `what`.
fn string<'v>(value: &'v Spanned<Value>, key: &str, what: &str) -> Result<&'v str, ParseError> {
    value.get_ref().as_str().ok_or_else(|| {
        ParseError::new(
            value.span(),
            format!("`{key}` takes {what}, found {}", value.get_ref().type_str()),
        )
    })
}

/// How much of each of stdout and stderr is kept for the event log.
pub const OUTPUT_TAIL_BYTES: usize = 4096;

/// Default time between SIGTERM and SIGKILL when a timeout expires.
pub const DEFAULT_KILL_GRACE: Duration = Duration::from_secs(1);

/// After the child exits, how long to wait for its output pipes to reach EOF before
/// taking the tail. A background grandchild can hold the pipes open forever; its
/// later output is drained (and discarded) by the detached reader task instead.
const DRAIN_GRACE: Duration = Duration::from_millis(100);

/// Runs `exec` actions with a cap on how many run at once.
///
/// Cloning is cheap and every clone shares the cap and the counters (an `Arc`
/// inside), so the daemon can hand one clone to each task.
#[derive(Clone, Debug)]
pub struct ExecRunner {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// One permit per action allowed to run; `run` waits here when all are taken.
    permits: Semaphore,
    /// The cap `permits` was created with.
    max_concurrent: usize,
    /// Actions holding a permit (their process is being started, runs or is reaped).
    running: AtomicUsize,
    /// Actions waiting for a permit.
    waiting: AtomicUsize,
    /// Timeout for actions that do not set their own.
    default_timeout: Duration,
    /// Time between SIGTERM and SIGKILL to the process group on timeout.
    kill_grace: Duration,
    /// The tmux server the firings come from, given to actions as `CTMUX_SERVER`.
    server: std::sync::OnceLock<String>,
}

impl ExecRunner {
    /// A runner that lets at most `max_concurrent` actions run at once (0 is
    /// treated as 1, so nothing can wait forever) and kills an action's process
    /// group after `default_timeout` unless the action sets its own `timeout`.
    pub fn new(max_concurrent: usize, default_timeout: Duration) -> ExecRunner {
        ExecRunner::build(max_concurrent, default_timeout, DEFAULT_KILL_GRACE)
    }

    /// The same runner configuration with a different SIGTERM→SIGKILL grace
    /// period (default [`DEFAULT_KILL_GRACE`]). Returns a new runner with its own
    /// cap and counters.
    pub fn with_kill_grace(&self, grace: Duration) -> ExecRunner {
        ExecRunner::build(self.inner.max_concurrent, self.inner.default_timeout, grace)
    }

    fn build(max_concurrent: usize, default_timeout: Duration, kill_grace: Duration) -> ExecRunner {
        let max_concurrent = max_concurrent.clamp(1, Semaphore::MAX_PERMITS);
        ExecRunner {
            inner: Arc::new(Inner {
                permits: Semaphore::new(max_concurrent),
                max_concurrent,
                running: AtomicUsize::new(0),
                waiting: AtomicUsize::new(0),
                default_timeout,
                kill_grace,
                server: std::sync::OnceLock::new(),
            }),
        }
    }

    /// Names the tmux server this runner's firings come from (`CTMUX_SERVER`). Set once.
    pub fn set_server(&self, name: &str) {
        let _ = self.inner.server.set(name.to_string());
    }

    /// How many actions may run at once.
    pub fn max_concurrent(&self) -> usize {
        self.inner.max_concurrent
    }

    /// How many actions are running right now (never more than
    /// [`max_concurrent`](Self::max_concurrent)).
    pub fn running(&self) -> usize {
        self.inner.running.load(Ordering::SeqCst)
    }

    /// How many actions are waiting for a free slot.
    pub fn waiting(&self) -> usize {
        self.inner.waiting.load(Ordering::SeqCst)
    }

    /// Runs `action` for the match described by `ctx` and waits for it to finish.
    ///
    /// Waits first for a free slot. The child gets `/dev/null` as stdin, its own
    /// process group, the action's `env` and then `CTMUX_LINE`, `CTMUX_PANE_ID`,
    /// `CTMUX_PANE_LABEL` (empty without a label), `CTMUX_SESSION`, `CTMUX_RULE`,
    /// `CTMUX_SERVER` (the server's name, once [`ExecRunner::set_server`] gave it) and
    /// `CTMUX_CAP_<name>` for each capture. On timeout the group gets SIGTERM, then
    /// SIGKILL after the grace period, and the outcome has `timed_out`.
    ///
    /// Failures are reported in the outcome (`ok == false`, `error` naming
    /// `argv[0]`), never as a panic. Dropping the future while the process runs
    /// kills its process group.
    pub async fn run(&self, action: &ExecAction, ctx: &ActionContext) -> ActionOutcome {
        let waiting = CountGuard::enter(&self.inner.waiting);
        let Ok(_permit) = self.inner.permits.acquire().await else {
            // The semaphore is never closed; this arm only keeps `run` panic-free.
            return failure(Duration::ZERO, "exec runner is shut down".to_owned());
        };
        drop(waiting);
        let _running = CountGuard::enter(&self.inner.running);

        let Some((program, args)) = action.argv.split_first().filter(|(p, _)| !p.is_empty()) else {
            return failure(Duration::ZERO, "exec action has no program in its argv".to_owned());
        };
        let start = Instant::now();
        let mut child = match command(program, args, action, ctx, self.inner.server.get()).spawn() {
            Ok(child) => child,
            Err(err) => {
                return failure(start.elapsed(), spawn_error(program, action, &err));
            }
        };
        // The child leads its own group (`process_group(0)`), so its pid is the pgid.
        let mut group = GroupGuard { pgid: child.id().and_then(|pid| i32::try_from(pid).ok()) };
        let mut stdout = TailReader::spawn(child.stdout.take());
        let mut stderr = TailReader::spawn(child.stderr.take());

        let timeout = action.timeout.unwrap_or(self.inner.default_timeout);
        let (status, timed_out) = match tokio::time::timeout(timeout, child.wait()).await {
            Ok(status) => {
                // Exited by itself: anything it left running in the background was
                // started on purpose, so the guard must not kill it.
                group.disarm();
                (status, false)
            }
            Err(_elapsed) => {
                let status = self.kill_group(&mut child, &mut group).await;
                (status, true)
            }
        };
        let duration = start.elapsed();

        // Give the pipes a moment to reach EOF, then take whatever arrived.
        let _ = tokio::time::timeout(DRAIN_GRACE, async {
            stdout.finished().await;
            stderr.finished().await;
        })
        .await;
        let mut outcome = ActionOutcome {
            duration,
            timed_out,
            stdout_tail: stdout.tail(),
            stderr_tail: stderr.tail(),
            ..ActionOutcome::default()
        };
        match status {
            Ok(status) => describe_exit(&mut outcome, program, status),
            Err(err) => {
                outcome.error = Some(format!("cannot wait for `{program}`: {}", io_message(&err)));
            }
        }
        if timed_out {
            outcome.ok = false;
            outcome.error = Some(format!(
                "`{program}` timed out after {timeout:?} and its process group was killed; \
                 raise the action's `timeout` if it needs longer"
            ));
        }
        outcome
    }

    /// SIGTERM to the group, SIGKILL after the grace period, then reap the child.
    async fn kill_group(
        &self,
        child: &mut Child,
        group: &mut GroupGuard,
    ) -> std::io::Result<ExitStatus> {
        group.signal(libc::SIGTERM);
        let early = tokio::time::timeout(self.inner.kill_grace, child.wait()).await;
        // SIGKILL even when the leader died from SIGTERM: a grandchild may ignore
        // SIGTERM and would otherwise outlive its timeout. The group id cannot have
        // been reused while any member lives; if none does, this is ESRCH.
        group.signal(libc::SIGKILL);
        group.disarm();
        match early {
            Ok(status) => status,
            Err(_) => child.wait().await,
        }
    }
}

/// The `Command` for `action` (`program` and `args` are its argv): argv only, env,
/// cwd, null stdin, piped output, own process group.
fn command(
    program: &str,
    args: &[String],
    action: &ExecAction,
    ctx: &ActionContext,
    server: Option<&String>,
) -> Command {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(cwd) = &action.cwd {
        cmd.current_dir(cwd);
    }
    for (key, value) in &action.env {
        cmd.env(key, &*without_nul(value));
    }
    let pane_id = ctx.pane_id.to_string();
    cmd.env("CTMUX_LINE", &*without_nul(&ctx.line))
        .env("CTMUX_PANE_ID", pane_id)
        .env("CTMUX_PANE_LABEL", &*without_nul(ctx.pane_label.as_deref().unwrap_or("")))
        .env("CTMUX_SESSION", &*without_nul(&ctx.session))
        .env("CTMUX_RULE", &*without_nul(&ctx.rule));
    if let Some(server) = server {
        cmd.env("CTMUX_SERVER", &*without_nul(server));
    }
    for (name, text) in &ctx.captures {
        cmd.env(format!("CTMUX_CAP_{name}"), &*without_nul(text));
    }
    cmd
}

/// Environment values cannot hold NUL; pane text could, so NULs are dropped rather
/// than failing the spawn.
fn without_nul(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains('\0') {
        std::borrow::Cow::Owned(text.replace('\0', ""))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

/// Fills `ok`, `exit_code`, `signal` and `error` from how the process ended.
fn describe_exit(outcome: &mut ActionOutcome, program: &str, status: ExitStatus) {
    outcome.exit_code = status.code();
    outcome.signal = status.signal();
    outcome.ok = status.success();
    if let Some(code) = status.code().filter(|&code| code != 0) {
        outcome.error = Some(format!("`{program}` exited with status {code}"));
    } else if let Some(signal) = status.signal() {
        outcome.error = Some(format!("`{program}` was killed by signal {signal}"));
    }
}

/// A failed outcome with `error` set.
fn failure(duration: Duration, error: String) -> ActionOutcome {
    ActionOutcome { ok: false, duration, error: Some(error), ..ActionOutcome::default() }
}

/// "cannot run `prog`: <reason>; <fix>" for a spawn failure.
fn spawn_error(program: &str, action: &ExecAction, err: &std::io::Error) -> String {
    // execve and chdir both report ENOENT; say which one it was.
    if let Some(cwd) = action.cwd.as_ref().filter(|cwd| !cwd.is_dir()) {
        return format!(
            "cannot run `{program}`: working directory `{}` does not exist; fix the action's `cwd`",
            cwd.display()
        );
    }
    let fix = match err.kind() {
        std::io::ErrorKind::NotFound => {
            "; check the program exists (a relative path is resolved from the action's working \
             directory: its `cwd`, else the rules file's directory; a bare name from PATH)"
        }
        std::io::ErrorKind::PermissionDenied => "; make it executable (chmod +x)",
        _ => "",
    };
    format!("cannot run `{program}`: {}{fix}", io_message(err))
}

/// An io error's message with a lowercase first letter, as our messages are.
pub(crate) fn io_message(err: &std::io::Error) -> String {
    let text = err.to_string();
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => text,
    }
}

/// Increments a counter for as long as it lives, so `running()`/`waiting()` stay
/// right even when the `run` future is dropped part-way.
struct CountGuard<'a>(&'a AtomicUsize);

impl<'a> CountGuard<'a> {
    fn enter(counter: &'a AtomicUsize) -> CountGuard<'a> {
        counter.fetch_add(1, Ordering::SeqCst);
        CountGuard(counter)
    }
}

impl Drop for CountGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The running action's process group; SIGKILLs it on drop unless disarmed, so a
/// cancelled `run` never leaves the group behind.
struct GroupGuard {
    pgid: Option<i32>,
}

impl GroupGuard {
    fn signal(&self, signal: i32) {
        if let Some(pgid) = self.pgid.filter(|&pgid| pgid > 0) {
            // SAFETY: kill(2) has no memory-safety preconditions; a negative pid
            // addresses the process group we created with `process_group(0)`.
            // ESRCH (group already gone) is the expected outcome once it exited.
            unsafe {
                libc::kill(-pgid, signal);
            }
        }
    }

    fn disarm(&mut self) {
        self.pgid = None;
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.signal(libc::SIGKILL);
    }
}

/// A task reading one output pipe to EOF, keeping only the last
/// [`OUTPUT_TAIL_BYTES`] (memory stays bounded whatever the child prints).
struct TailReader {
    /// Shared with the task; holds at most `2 * OUTPUT_TAIL_BYTES` bytes.
    tail: Arc<Mutex<Vec<u8>>>,
    /// The reading task; `None` when there was no pipe. Dropping it detaches the
    /// task, which keeps draining so a background grandchild never gets SIGPIPE.
    task: Option<JoinHandle<()>>,
}

impl TailReader {
    fn spawn<R: AsyncRead + Unpin + Send + 'static>(pipe: Option<R>) -> TailReader {
        let tail = Arc::new(Mutex::new(Vec::new()));
        let task = pipe.map(|mut pipe| {
            let tail = Arc::clone(&tail);
            tokio::spawn(async move {
                let mut chunk = [0u8; 4096];
                while let Ok(n @ 1..) = pipe.read(&mut chunk).await {
                    let mut buf = tail.lock().unwrap_or_else(|poison| poison.into_inner());
                    buf.extend_from_slice(&chunk[..n]);
                    // PERF: compact only past twice the bound, so each byte is
                    // moved at most once on average instead of on every read.
                    if buf.len() > 2 * OUTPUT_TAIL_BYTES {
                        let excess = buf.len() - OUTPUT_TAIL_BYTES;
                        buf.drain(..excess);
                    }
                }
            })
        });
        TailReader { tail, task }
    }

    /// Waits for the pipe to reach EOF (immediately if there was no pipe).
    async fn finished(&mut self) {
        if let Some(task) = self.task.as_mut() {
            // A reader task cannot panic or be aborted, so the join result carries
            // nothing worth reporting.
            let _ = task.await;
            self.task = None;
        }
    }

    /// The last [`OUTPUT_TAIL_BYTES`] read so far, as lossy UTF-8 that does not start
    /// in the middle of a character.
    fn tail(&self) -> String {
        let buf = self.tail.lock().unwrap_or_else(|poison| poison.into_inner());
        let mut bytes = &buf[buf.len().saturating_sub(OUTPUT_TAIL_BYTES)..];
        // Skip continuation bytes (10xxxxxx) left over from a character we cut.
        let cut = bytes.iter().take(3).take_while(|&&b| b & 0xC0 == 0x80).count();
        bytes = &bytes[cut..];
        String::from_utf8_lossy(bytes).into_owned()
    }
}

#[cfg(test)]
mod tests;
