//! The socket server: accepts connections on the daemon's Unix socket, reads JSON-lines
//! requests, hands them to the [`Backend`] and writes the replies.
//!
//! Safety of the socket: its directory is created `0700` and refused if it exists with
//! another owner or group/other permissions; the socket is `0600`; and every connection's
//! peer uid (`SO_PEERCRED`) must be ours, since root can connect past file modes.
//!
//! Robustness: requests are read with a `LinesCodec` bounded at [`MAX_REQUEST_BYTES`]; a
//! line that is not JSON, too long, not UTF-8 or of an unknown kind gets an error reply and
//! the connection stays usable. Each connection is its own task and handles one request at a
//! time, in order, so a client flooding requests only fills its own socket buffer (the
//! kernel's bound) and cannot starve the daemon. `subscribe` and `events` turn the
//! connection into a stream until the client closes it (EOF on its side is the signal).
//! A `wait_for` is dropped, its waiter with it, as soon as its client closes the
//! connection (an MCP client cancelled it); other requests run to their end.
//!
//! Limits: at most [`MAX_CONNECTIONS`] connections are served at once. While they are all
//! taken, [`RESERVED_CONNECTIONS`] more are accepted for the CLI's own `status` and `stop`:
//! such a connection is answered one of those two requests and closed, and anything else
//! on it gets an error naming the limit. Beyond that, connections get an error and are closed.
//!
//! The daemon serves the API on a thread and runtime of its own
//! ([`Listener::serve_on_own_thread`]), so however busy the API is, the tasks that read
//! tmux's output never wait behind it for a worker thread.

use std::future::Future;
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{oneshot, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::backend::{Backend, BackendFuture};
use super::lines::{Incoming, LineReader};
pub use super::protocol::REQUEST_TIMEOUT;
use super::protocol::{error_line, ok_line, stream_line, ApiError, ErrorCode, StreamStarted};
use super::request::{
    api_requests, parse_request, Answer, ApiRequest, EventSource, Outcome, Request,
};

/// Longest request line accepted (1 MiB); longer lines are discarded up to their newline.
pub const MAX_REQUEST_BYTES: usize = 1 << 20;
/// Connections served at once; more are answered with an error and closed (except for
/// the [`RESERVED_CONNECTIONS`]).
pub const MAX_CONNECTIONS: usize = 128;
/// Connections accepted beyond [`MAX_CONNECTIONS`] for one `status` or `stop` request each,
/// so the CLI can still inspect or stop a daemon whose other connections are all taken.
pub const RESERVED_CONNECTIONS: usize = 2;
/// How long a connection on a reserved slot has to send its request.
pub const RESERVED_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// How long connections get to finish their current reply when the daemon stops.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// A bound listening socket; [`Listener::serve`] answers on it.
///
/// Binding is separate from serving so the daemon can report "another ctmuxd is running"
/// or a bad runtime directory before it says it is ready.
#[derive(Debug)]
pub struct Listener {
    listener: UnixListener,
    path: PathBuf,
    /// Device and inode of the socket we bound: at exit the path is removed only if it is
    /// still ours (a second daemon may have replaced a socket we thought stale).
    id: (u64, u64),
    /// Connections served at once, and the extra ones reserved for `status`/`stop`.
    limits: (usize, usize),
}

/// Binds the socket at `path`: prepares its directory, removes a stale socket, binds, and
/// restricts the socket to its owner.
///
/// # Errors
/// `PermissionDenied` when the directory belongs to another user or is open to group or
/// others; `AddrInUse` when a daemon already answers on `path`; `AlreadyExists` when `path`
/// is something other than a socket; any I/O error from creating, binding or chmod, with
/// the path in the message.
pub async fn bind(path: &Path) -> io::Result<Listener> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    prepare_dir(dir)?;
    remove_stale(path)?;
    let listener = UnixListener::bind(path).map_err(|e| {
        io::Error::new(e.kind(), format!("cannot listen on {}: {e}", path.display()))
    })?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(|e| {
        io::Error::new(e.kind(), format!("cannot chmod 600 {}: {e}", path.display()))
    })?;
    let meta = std::fs::symlink_metadata(path)?;
    Ok(Listener {
        listener,
        path: path.to_path_buf(),
        id: (meta.dev(), meta.ino()),
        limits: (MAX_CONNECTIONS, RESERVED_CONNECTIONS),
    })
}

/// Binds `listener_path` and serves `backend` on it until `shutdown` resolves; then lets
/// connections finish their current reply (up to [`SHUTDOWN_GRACE`]), closes the rest and
/// removes the socket.
///
/// # Errors
/// See [`bind`]; once listening, failures are per connection and only logged.
pub async fn serve(
    listener_path: PathBuf,
    backend: Arc<dyn Backend>,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    bind(&listener_path).await?.serve(backend, shutdown).await;
    Ok(())
}

impl Listener {
    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Changes how many connections are served at once and how many more are reserved
    /// for `status`/`stop` (default [`MAX_CONNECTIONS`] and [`RESERVED_CONNECTIONS`]).
    #[must_use]
    pub fn with_limits(mut self, connections: usize, reserved: usize) -> Listener {
        self.limits = (connections, reserved);
        self
    }

    /// Serves `backend` on a thread of its own, with a single-threaded runtime of its own,
    /// until `stop` is cancelled; the returned receiver resolves once the server has ended
    /// (its socket removed).
    ///
    /// API work (parsing, building replies, waiting its turn for tmux) then never occupies
    /// the worker threads that read tmux's output and fire rules: a flood of requests costs
    /// at most this one thread.
    ///
    /// # Errors
    /// The thread cannot be started or the socket cannot be handed over to it.
    pub fn serve_on_own_thread(
        self,
        backend: Arc<dyn Backend>,
        stop: CancellationToken,
    ) -> io::Result<oneshot::Receiver<()>> {
        let Listener { listener, path, id, limits } = self;
        let std_listener = listener.into_std()?;
        let (done_tx, done_rx) = oneshot::channel();
        std::thread::Builder::new().name("ctmuxd-api".into()).spawn(move || {
            lower_priority();
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
            match runtime {
                Ok(rt) => rt.block_on(async move {
                    match UnixListener::from_std(std_listener) {
                        Ok(listener) => {
                            Listener { listener, path, id, limits }
                                .serve(backend, stop.cancelled_owned())
                                .await
                        }
                        Err(e) => tracing::error!("control socket {}: {e}", path.display()),
                    }
                }),
                Err(e) => tracing::error!("cannot start the API runtime: {e}"),
            }
            let _ = done_tx.send(());
        })?;
        Ok(done_rx)
    }

    /// Serves `backend` until `shutdown` resolves (see [`serve`]).
    pub async fn serve(self, backend: Arc<dyn Backend>, shutdown: impl Future<Output = ()>) {
        let token = CancellationToken::new();
        let (max, reserved) = self.limits;
        let slots = Arc::new(Semaphore::new(max));
        let reserved_slots = Arc::new(Semaphore::new(reserved));
        let mut tasks = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                // Reap finished connections so the set stays as small as the live ones.
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        let (backend, token) = (backend.clone(), token.clone());
                        if let Ok(slot) = slots.clone().try_acquire_owned() {
                            tasks.spawn(async move {
                                connection(stream, backend, token).await;
                                drop(slot);
                            });
                        } else if let Ok(slot) = reserved_slots.clone().try_acquire_owned() {
                            tasks.spawn(async move {
                                reserved_connection(stream, backend, token, max).await;
                                drop(slot);
                            });
                        } else {
                            tasks.spawn(refuse(stream, ApiError::new(ErrorCode::Busy, format!(
                                "too many connections (the daemon serves {max} at once, plus {reserved} for `status` and `stop`); close some and retry"
                            ))));
                        }
                    }
                    Err(e) => {
                        // EMFILE and friends: back off instead of spinning on accept.
                        tracing::warn!("accepting on {}: {e}", self.path.display());
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
            }
        }
        token.cancel();
        let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::debug!(
                "{} API connection(s) still busy at shutdown; closing them",
                tasks.len()
            );
        }
        tasks.shutdown().await;
        self.remove_socket();
    }

    fn remove_socket(&self) {
        match std::fs::symlink_metadata(&self.path) {
            Ok(m) if (m.dev(), m.ino()) == self.id => {
                if let Err(e) = std::fs::remove_file(&self.path) {
                    tracing::warn!("cannot remove {}: {e}", self.path.display());
                }
            }
            _ => {}
        }
    }
}

/// How much lower than the rest of the daemon the API thread runs (`nice` steps).
const API_NICENESS: libc::c_int = 10;

/// Lowers the calling thread's scheduling priority by [`API_NICENESS`], so that when the
/// CPU is short the threads reading tmux's output (and the tmux server) run first. On
/// Linux a thread has a niceness of its own; elsewhere this does nothing.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid(2) and setpriority(2) take plain integers and touch no memory of
        // ours; raising one's own niceness needs no privilege.
        let r = unsafe {
            let tid = libc::gettid();
            let now = libc::getpriority(libc::PRIO_PROCESS, tid as libc::id_t);
            libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, (now + API_NICENESS).min(19))
        };
        if r != 0 {
            tracing::debug!(
                "cannot lower the API thread's priority: {}",
                io::Error::last_os_error()
            );
        }
    }
}

/// Creates `dir` with mode 0700, or checks that an existing one is ours and private.
pub(crate) fn prepare_dir(dir: &Path) -> io::Result<()> {
    match std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) => {
            return Err(io::Error::new(e.kind(), format!("cannot create {}: {e}", dir.display())))
        }
    }
    let meta = std::fs::symlink_metadata(dir)?;
    check_dir(dir, meta.is_dir(), meta.uid(), meta.mode(), super::current_uid())
}

/// The ownership and mode rules for the socket directory, separate from the file system
/// so each refusal can be tested.
fn check_dir(dir: &Path, is_dir: bool, owner: u32, mode: u32, own_uid: u32) -> io::Result<()> {
    let denied = |why: String| {
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("refusing to use {} for the control socket: {why}", dir.display()),
        ))
    };
    if !is_dir {
        return denied("it is not a directory (a symlink or a file); remove it".into());
    }
    if owner != own_uid {
        return denied(format!("it belongs to uid {owner}, not to us (uid {own_uid}); remove it or set XDG_RUNTIME_DIR"));
    }
    if mode & 0o077 != 0 {
        return denied(format!(
            "group or others have access (mode {:04o}); run `chmod 700 {}`",
            mode & 0o7777,
            dir.display()
        ));
    }
    Ok(())
}

/// Removes a socket left behind by a daemon that died, after checking that nobody answers.
fn remove_stale(path: &Path) -> io::Result<()> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if !meta.file_type().is_socket() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} exists and is not a socket; remove it", path.display()),
        ));
    }
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        return Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!(
                "another ctmuxd already serves this tmux server on {} (stop it with `ctmuxd stop`)",
                path.display()
            ),
        ));
    }
    tracing::info!("removing stale socket {}", path.display());
    std::fs::remove_file(path)
}

/// Whether a peer may talk to us: only our own uid. `None` (credentials unreadable) is refused.
fn authorize(peer_uid: Option<u32>, own_uid: u32) -> Result<(), ApiError> {
    match peer_uid {
        Some(uid) if uid == own_uid => Ok(()),
        Some(uid) => Err(ApiError::new(
            ErrorCode::Forbidden,
            format!("connection refused: you are uid {uid}, this daemon belongs to uid {own_uid}"),
        )),
        None => Err(ApiError::new(
            ErrorCode::Forbidden,
            "connection refused: cannot read the peer's credentials",
        )),
    }
}

/// Answers one error line and closes.
async fn refuse(mut stream: UnixStream, err: ApiError) {
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(&error_line(&err))).await;
}

/// A connection from our own uid, split into its request reader and reply writer; any
/// other peer is refused (and `None` returned).
async fn accept_peer(stream: UnixStream) -> Option<(LineReader<OwnedReadHalf>, OwnedWriteHalf)> {
    let peer = stream.peer_cred().ok().map(|c| c.uid());
    if let Err(e) = authorize(peer, super::current_uid()) {
        tracing::warn!("API: {e}");
        refuse(stream, e).await;
        return None;
    }
    let (rd, wr) = stream.into_split();
    Some((LineReader::new(rd, MAX_REQUEST_BYTES), wr))
}

/// Serves one connection until it closes or the daemon stops.
async fn connection(stream: UnixStream, backend: Arc<dyn Backend>, token: CancellationToken) {
    let Some((mut reader, mut wr)) = accept_peer(stream).await else { return };
    loop {
        let incoming = tokio::select! {
            _ = token.cancelled() => return,
            r = reader.next() => r,
        };
        let line = match incoming {
            Ok(Incoming::Line(l)) => l,
            Ok(Incoming::Bad(why)) => {
                if wr
                    .write_all(&error_line(&ApiError::bad_request(format!("request {why}"))))
                    .await
                    .is_err()
                {
                    return;
                }
                continue;
            }
            Ok(Incoming::Eof) => return,
            Err(e) => {
                tracing::debug!("API connection read: {e}");
                return;
            }
        };
        if line.trim().is_empty() {
            continue; // blank lines (an interactive user pressing Enter) get no reply
        }
        let outcome = match parse_request(&line) {
            Err(e) => Err(e),
            // `biased`: a request that completes together with shutdown (`stop` itself) is
            // still answered.
            Ok(req) => {
                // A `wait_for` only waits: when its client goes away (an MCP client
                // cancelled it) its waiter is dropped now, not at its timeout. Other
                // requests act, and run to the end even if nobody reads the reply.
                let watch_close = matches!(req, Request::WaitFor(_));
                tokio::select! {
                    biased;
                    r = execute(backend.as_ref(), req) => r,
                    _ = token.cancelled() => Err(ApiError::internal("the daemon is stopping")),
                    _ = reader.closed(), if watch_close => return,
                }
            }
        };
        match outcome {
            Ok(Outcome::Reply(bytes)) => {
                if wr.write_all(&bytes).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                if wr.write_all(&error_line(&e)).await.is_err() {
                    return;
                }
            }
            Ok(Outcome::Stream(s)) => {
                stream_to(s, &mut reader, &mut wr, &token).await;
                return;
            }
        }
    }
}

/// Serves a connection on a reserved slot: one `status` or `stop` request, then the close.
/// Anything else is answered with an error naming the limit.
async fn reserved_connection(
    stream: UnixStream,
    backend: Arc<dyn Backend>,
    token: CancellationToken,
    max: usize,
) {
    let Some((mut reader, mut wr)) = accept_peer(stream).await else { return };
    let first = async {
        loop {
            match reader.next().await {
                Ok(Incoming::Line(l)) if l.trim().is_empty() => continue,
                Ok(Incoming::Line(l)) => return Some(Ok(l)),
                Ok(Incoming::Bad(why)) => {
                    return Some(Err(ApiError::bad_request(format!("request {why}"))))
                }
                Ok(Incoming::Eof) | Err(_) => return None,
            }
        }
    };
    let line = tokio::select! {
        _ = token.cancelled() => return,
        r = tokio::time::timeout(RESERVED_REQUEST_TIMEOUT, first) => match r {
            Ok(Some(l)) => l,
            Ok(None) | Err(_) => return,
        },
    };
    let outcome = match line.and_then(|l| parse_request(&l)) {
        Ok(req) if req.is_reserved() => tokio::select! {
            biased;
            r = execute(backend.as_ref(), req) => r,
            _ = token.cancelled() => Err(ApiError::internal("the daemon is stopping")),
        },
        Ok(other) => Err(ApiError::new(ErrorCode::Busy, format!(
            "too many connections: all {max} are taken, and this one is on a slot reserved for `status` and `stop`, so `{}` is not served on it; close some connections and retry",
            other.cmd()
        ))),
        Err(e) => Err(e),
    };
    let bytes = match outcome {
        Ok(Outcome::Reply(bytes)) => bytes,
        Ok(Outcome::Stream(_)) => {
            error_line(&ApiError::internal("streams are not served on a reserved slot"))
        }
        Err(e) => error_line(&e),
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), wr.write_all(&bytes)).await;
}

/// Writes the stream acknowledgement, then every event until the client closes, the source
/// ends or the daemon stops. Dropping `s` on return drops a subscription's guard.
async fn stream_to(
    mut s: Box<dyn EventSource>,
    reader: &mut LineReader<OwnedReadHalf>,
    wr: &mut OwnedWriteHalf,
    token: &CancellationToken,
) {
    let Ok(ack) = ok_line(&StreamStarted { streaming: true }) else { return };
    if wr.write_all(&ack).await.is_err() {
        return;
    }
    loop {
        let line = tokio::select! {
            _ = token.cancelled() => return,
            open = reader.discard() => if open { continue } else { return },
            line = s.next_line() => match line {
                Some(l) => l,
                None => return,
            },
        };
        let bytes = stream_line(&line);
        tokio::select! {
            _ = token.cancelled() => return,
            r = wr.write_all(&bytes) => if r.is_err() { return },
        }
    }
}

/// Generates [`execute`] from the `api_requests!` list.
macro_rules! dispatch {
    ($( $(#[$doc:meta])* $variant:ident($req:ident) in $module:ident; )*) => {
        /// Runs one request against the backend method of its kind, with its time bound.
        async fn execute(backend: &dyn Backend, req: Request) -> Result<Outcome, ApiError> {
            match req {
                $( Request::$variant(r) => answer(r, |r| backend.$module(r)).await, )*
            }
        }
    };
}

api_requests!(dispatch);

/// Calls the backend for `req` and turns its answer into what is written: a reply bounded
/// by the request's [`ApiRequest::timeout_ms`], or the start of a stream (not bounded).
async fn answer<'a, R: ApiRequest>(
    req: R,
    call: impl FnOnce(R) -> BackendFuture<'a, R::Answer>,
) -> Result<Outcome, ApiError> {
    if <R::Answer as Answer>::STREAM {
        return call(req).await?.into_outcome();
    }
    let ms = req.timeout_ms();
    let what = req.timeout_message(ms);
    bounded(call(req), ms, || what).await?.into_outcome()
}

/// Awaits `fut` for at most `ms` milliseconds; a [`ErrorCode::Timeout`] error with `what()` after.
///
/// The future is polled before the deadline is checked, so a `wait_for` with `since` lines
/// and a zero timeout still reports a line that is already there.
async fn bounded<T>(
    fut: impl Future<Output = Result<T, ApiError>>,
    ms: u64,
    what: impl FnOnce() -> String,
) -> Result<T, ApiError> {
    match tokio::time::timeout(Duration::from_millis(ms), fut).await {
        Ok(r) => r,
        Err(_) => Err(ApiError::new(ErrorCode::Timeout, what())),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

    use serde_json::{json, Value};
    use tokio::io::{AsyncBufReadExt, BufReader, Lines};
    use tokio::sync::{broadcast, mpsc, oneshot};

    use super::*;
    use crate::api::protocol::{Empty, MatchView, PaneView};
    use crate::api::request::*;
    use crate::eventlog::{EmitEvent, Record};

    /// Decrements the live-guard count when the server drops a subscription.
    struct Guard(Arc<AtomicUsize>);

    impl Drop for Guard {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// A backend with scripted behaviour: pattern `slow` answers after 100 ms, `never` pends.
    struct Fake {
        live_guards: Arc<AtomicUsize>,
        sub_tx: Mutex<Option<mpsc::Sender<Value>>>,
        events: broadcast::Sender<Arc<Record>>,
        stop: Mutex<Option<oneshot::Sender<()>>>,
    }

    impl Fake {
        fn new() -> (Arc<Fake>, oneshot::Receiver<()>) {
            let (tx, rx) = oneshot::channel();
            let fake = Fake {
                live_guards: Arc::default(),
                sub_tx: Mutex::new(None),
                events: broadcast::channel(4).0,
                stop: Mutex::new(Some(tx)),
            };
            (Arc::new(fake), rx)
        }
    }

    fn pane(label: &str) -> PaneView {
        PaneView {
            server: None,
            id: "%1".into(),
            label: Some(label.into()),
            meta: json!({}),
            alive: true,
            ..Default::default()
        }
    }

    impl Backend for Fake {
        fn panes(&self, _: PanesRequest) -> BackendFuture<'_, PanesReply> {
            Box::pin(async { Ok(PanesReply { panes: vec![pane("a")] }) })
        }
        fn spawn(&self, req: SpawnRequest) -> BackendFuture<'_, SpawnReply> {
            Box::pin(async move {
                if req.label == "a" {
                    return Err(ApiError::new(
                        ErrorCode::Conflict,
                        "label `a` is already used by pane %1",
                    ));
                }
                Ok(SpawnReply { pane: pane(&req.label) })
            })
        }
        fn close(&self, req: CloseRequest) -> BackendFuture<'_, CloseReply> {
            Box::pin(async move {
                Ok(CloseReply { closed: req.labels.iter().map(|l| pane(l)).collect() })
            })
        }
        fn label(&self, req: LabelRequest) -> BackendFuture<'_, LabelReply> {
            Box::pin(async move {
                let mut view = pane(&req.label);
                view.id = req.pane;
                Ok(LabelReply { pane: view })
            })
        }
        fn send(&self, req: SendRequest) -> BackendFuture<'_, SendReply> {
            Box::pin(async move {
                if req.expect.is_some() {
                    std::future::pending::<()>().await;
                }
                Ok(SendReply { matched: None })
            })
        }
        fn capture(&self, req: CaptureRequest) -> BackendFuture<'_, CaptureReply> {
            let CaptureRequest { label, lines } = req;
            Box::pin(async move {
                if label != "a" {
                    return Err(ApiError::not_found(format!(
                        "no pane labelled `{label}`; labels in use: a"
                    )));
                }
                Ok(CaptureReply {
                    lines: (0..lines.unwrap_or(2)).map(|i| format!("line {i}")).collect(),
                    view: CaptureView::Log,
                    size: None,
                    cursor: None,
                    not_kept: 0,
                    kept_per_pane: None,
                })
            })
        }
        fn read(&self, req: ReadRequest) -> BackendFuture<'_, ReadReply> {
            Box::pin(async move {
                Ok(ReadReply {
                    lines: vec!["line".into()],
                    first: req.after + 1,
                    cursor: req.after + 1,
                    ..Default::default()
                })
            })
        }
        fn run(&self, req: RunRequest) -> BackendFuture<'_, RunReply> {
            Box::pin(async move {
                Ok(RunReply {
                    pane: "%1".into(),
                    label: Some(req.label),
                    status: Some(0),
                    duration_ms: 1,
                    output: vec![req.command],
                    lines: 1,
                    dropped_lines: 0,
                    dropped_bytes: 0,
                    cwd: None,
                    not_run: false,
                })
            })
        }
        fn wait_for(&self, req: WaitRequest) -> BackendFuture<'_, WaitReply> {
            Box::pin(async move {
                match req.pattern.as_str() {
                    "slow" => tokio::time::sleep(Duration::from_millis(100)).await,
                    "never" => std::future::pending::<()>().await,
                    _ => {}
                }
                Ok(WaitReply {
                    matched: Some(MatchView {
                        pane: "%1".into(),
                        label: Some(req.label),
                        line: req.pattern,
                        ..Default::default()
                    }),
                    shell: None,
                })
            })
        }
        fn subscribe(&self, _req: SubscribeRequest) -> BackendFuture<'_, Subscription> {
            Box::pin(async move {
                let (tx, rx) = mpsc::channel(16);
                *self.sub_tx.lock().unwrap() = Some(tx);
                self.live_guards.fetch_add(1, Ordering::SeqCst);
                Ok(Subscription { events: rx, guard: Box::new(Guard(self.live_guards.clone())) })
            })
        }
        fn rules(&self, _: RulesRequest) -> BackendFuture<'_, RulesReply> {
            Box::pin(async {
                Ok(RulesReply {
                    rules: vec![RuleView {
                        name: "r".into(),
                        pattern: "p".into(),
                        matches: 2,
                        dynamic: false,
                    }],
                })
            })
        }
        fn reload(&self, _: ReloadRequest) -> BackendFuture<'_, ReloadReply> {
            Box::pin(async { Ok(ReloadReply { rules: 3 }) })
        }
        fn status(&self, _: StatusRequest) -> BackendFuture<'_, StatusReply> {
            Box::pin(async {
                Ok(StatusReply {
                    status: StatusView { pid: 1, mode: "control".into(), ..Default::default() },
                })
            })
        }
        fn stop(&self, _: StopRequest) -> BackendFuture<'_, Empty> {
            Box::pin(async move {
                if let Some(tx) = self.stop.lock().unwrap().take() {
                    let _ = tx.send(());
                }
                Ok(Empty {})
            })
        }
        fn events(&self, _: EventsRequest) -> BackendFuture<'_, EventFeed> {
            Box::pin(async move { Ok(EventFeed::One(self.events.subscribe())) })
        }
    }

    struct Running {
        _dir: tempfile::TempDir,
        path: PathBuf,
        fake: Arc<Fake>,
        server: tokio::task::JoinHandle<()>,
    }

    /// Serves a fresh Fake on a socket in a private temporary directory; `stop` ends it.
    async fn start() -> Running {
        start_with(MAX_CONNECTIONS, RESERVED_CONNECTIONS).await
    }

    /// [`start`] with other connection limits.
    async fn start_with(connections: usize, reserved: usize) -> Running {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run").join("t.sock");
        let (fake, stopped) = Fake::new();
        let listener = bind(&path).await.unwrap().with_limits(connections, reserved);
        let backend: Arc<dyn Backend> = fake.clone();
        let server = tokio::spawn(listener.serve(backend, async {
            let _ = stopped.await;
        }));
        Running { _dir: dir, path, fake, server }
    }

    struct Conn {
        lines: Lines<BufReader<OwnedReadHalf>>,
        wr: OwnedWriteHalf,
    }

    impl Conn {
        async fn open(path: &Path) -> Conn {
            let (rd, wr) = UnixStream::connect(path).await.unwrap().into_split();
            Conn { lines: BufReader::new(rd).lines(), wr }
        }
        async fn write(&mut self, bytes: &[u8]) {
            self.wr.write_all(bytes).await.unwrap();
        }
        async fn read(&mut self) -> Value {
            let l = tokio::time::timeout(Duration::from_secs(5), self.lines.next_line())
                .await
                .expect("a reply within 5 s")
                .unwrap()
                .expect("a line, not EOF");
            serde_json::from_str(&l).unwrap()
        }
        async fn ask(&mut self, line: &str) -> Value {
            self.write(format!("{line}\n").as_bytes()).await;
            self.read().await
        }
    }

    fn code(v: &Value) -> &str {
        v["error"]["code"].as_str().unwrap_or("")
    }

    #[tokio::test]
    async fn reserved_slots_serve_one_status_or_stop_while_the_cap_is_full() {
        let r = start_with(1, 2).await;
        let mut held = Conn::open(&r.path).await;
        assert_eq!(held.ask(r#"{"cmd":"panes"}"#).await["ok"], true);

        // The cap is full: a reserved slot answers one status, then closes.
        let mut c = Conn::open(&r.path).await;
        let v = c.ask(r#"{"cmd":"status"}"#).await;
        assert_eq!(v["status"]["pid"], 1, "{v}");
        assert!(c.lines.next_line().await.unwrap().is_none(), "closed after one answer");

        // Anything else on a reserved slot is refused, naming the limit.
        let mut c = Conn::open(&r.path).await;
        let v = c.ask(r#"{"cmd":"panes"}"#).await;
        assert_eq!(code(&v), "busy", "{v}");
        let m = v["error"]["message"].as_str().unwrap();
        assert!(m.contains("all 1 are taken") && m.contains("`status` and `stop`"), "{m}");
        assert!(c.lines.next_line().await.unwrap().is_none(), "closed after the refusal");

        // Both reserved slots taken (by clients that have not asked yet): refused outright.
        let (_r1, _r2) = (Conn::open(&r.path).await, Conn::open(&r.path).await);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut c = Conn::open(&r.path).await;
        let v = c.read().await;
        assert_eq!(code(&v), "busy", "{v}");
        assert!(v["error"]["message"].as_str().unwrap().contains("plus 2 for `status`"), "{v}");

        // The held connection is still served, and a stop on a reserved slot is answered.
        assert_eq!(held.ask(r#"{"cmd":"panes"}"#).await["ok"], true);
        drop((_r1, _r2));
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut c = Conn::open(&r.path).await;
        assert_eq!(c.ask(r#"{"cmd":"stop"}"#).await, json!({"ok": true}));
        tokio::time::timeout(Duration::from_secs(5), r.server).await.expect("server ends").unwrap();
    }

    #[tokio::test]
    async fn garbage_gets_an_error_and_the_connection_stays_usable() {
        let r = start().await;
        let mut c = Conn::open(&r.path).await;
        let v = c.ask("this is not json").await;
        assert_eq!((v["ok"].clone(), code(&v)), (json!(false), "bad_request"), "{v}");
        assert!(v["error"]["message"].as_str().unwrap().starts_with("request is not JSON"));
        let v = c.ask(r#"{"cmd":"launch_missiles"}"#).await;
        assert_eq!(code(&v), "bad_request");
        assert!(
            v["error"]["message"].as_str().unwrap().contains("unknown cmd \"launch_missiles\""),
            "{v}"
        );
        c.write(b"\xff\xfe\n").await;
        assert_eq!(c.read().await["error"]["message"], "request line is not UTF-8");
        let v = c.ask(r#"{"cmd":"panes"}"#).await;
        assert_eq!(v["ok"], true);
        assert_eq!(v["panes"][0]["label"], "a");
    }

    #[tokio::test]
    async fn a_request_over_the_limit_is_refused_and_skipped() {
        let r = start().await;
        let mut c = Conn::open(&r.path).await;
        let huge = format!(
            "{{\"cmd\":\"capture\",\"label\":\"{}\"}}\n",
            "x".repeat(MAX_REQUEST_BYTES + 10)
        );
        // Written from another task: the server replies before the whole line has arrived.
        let mut wr = c.wr;
        let writer = tokio::spawn(async move {
            wr.write_all(huge.as_bytes()).await.unwrap();
            wr.write_all(b"{\"cmd\":\"capture\",\"label\":\"a\",\"lines\":2}\n").await.unwrap();
            wr
        });
        let mut lines = c.lines;
        let first: Value =
            serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
        assert_eq!(code(&first), "bad_request");
        assert!(
            first["error"]["message"].as_str().unwrap().contains("longer than 1048576 bytes"),
            "{first}"
        );
        let second: Value =
            serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
        assert_eq!(
            second["lines"],
            json!(["line 0", "line 1"]),
            "the next request is served: {second}"
        );
        c = Conn { lines, wr: writer.await.unwrap() };
        assert_eq!(c.ask(r#"{"cmd":"status"}"#).await["status"]["mode"], "control");
    }

    #[tokio::test]
    async fn pipelined_requests_are_answered_in_order() {
        let r = start().await;
        let mut c = Conn::open(&r.path).await;
        // The first is slow (100 ms), the second instant: order must still hold.
        c.write(
            b"{\"cmd\":\"wait_for\",\"label\":\"a\",\"pattern\":\"slow\"}\n{\"cmd\":\"rules\"}\n\n{\"cmd\":\"reload\"}\n",
        )
        .await;
        assert_eq!(c.read().await["match"]["line"], "slow");
        assert_eq!(c.read().await["rules"][0]["matches"], 2);
        assert_eq!(c.read().await["rules"], 3, "the blank line got no reply");
    }

    #[tokio::test]
    async fn backend_errors_and_timeouts_are_replies() {
        let r = start().await;
        let mut c = Conn::open(&r.path).await;
        let v = c.ask(r#"{"cmd":"capture","label":"zz"}"#).await;
        assert_eq!(code(&v), "not_found");
        assert_eq!(v["error"]["message"], "no pane labelled `zz`; labels in use: a");
        assert_eq!(code(&c.ask(r#"{"cmd":"spawn","label":"a"}"#).await), "conflict");
        let v = c.ask(r#"{"cmd":"wait_for","label":"db","pattern":"never","timeout_ms":50}"#).await;
        assert_eq!(code(&v), "timeout");
        assert_eq!(
            v["error"]["message"],
            "no line matching `never` appeared in pane `db` within 50ms"
        );
        let v =
            c.ask(r#"{"cmd":"send","label":"db","text":"x","expect":"y","timeout_ms":20}"#).await;
        assert_eq!(
            v["error"]["message"],
            "sent to pane `db`, but no line matching `y` appeared within 20ms"
        );
        let v = c.ask(r#"{"cmd":"send","label":"db","text":"x"}"#).await;
        assert_eq!(v, json!({"ok": true, "matched": null}));
        let v = c.ask(r#"{"cmd":"close","labels":["b","c"]}"#).await;
        assert_eq!(v["closed"].as_array().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn a_subscriber_that_leaves_mid_stream_does_not_disturb_the_server() {
        let r = start().await;
        let mut c = Conn::open(&r.path).await;
        assert_eq!(
            c.ask(r#"{"cmd":"subscribe","label":"*","pattern":"x"}"#).await,
            json!({"ok":true,"streaming":true})
        );
        let tx = r.fake.sub_tx.lock().unwrap().clone().unwrap();
        assert_eq!(r.fake.live_guards.load(Ordering::SeqCst), 1);
        tx.send(json!({"line": "x1"})).await.unwrap();
        tx.send(json!({"line": "x2"})).await.unwrap();
        assert_eq!(c.read().await, json!({"event": {"line": "x1"}}));
        assert_eq!(c.read().await, json!({"event": {"line": "x2"}}));
        // Requests written on a streaming connection are ignored, not answered.
        c.write(b"{\"cmd\":\"panes\"}\n").await;
        tx.send(json!({"line": "x3"})).await.unwrap();
        assert_eq!(c.read().await, json!({"event": {"line": "x3"}}));
        drop(c);
        // The guard is dropped (the dynamic rule removed) once the server sees the close.
        let t0 = std::time::Instant::now();
        while r.fake.live_guards.load(Ordering::SeqCst) != 0 {
            assert!(t0.elapsed() < Duration::from_secs(5), "guard not dropped after disconnect");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(tx.send(json!({})).await.is_err(), "the stream's receiver is gone");
        let mut c2 = Conn::open(&r.path).await;
        assert_eq!(c2.ask(r#"{"cmd":"panes"}"#).await["ok"], true);
    }

    #[tokio::test]
    async fn the_event_stream_reports_lag() {
        let r = start().await;
        let mut c = Conn::open(&r.path).await;
        assert_eq!(c.ask(r#"{"cmd":"events"}"#).await["streaming"], true);
        // Capacity 4: six sends before the server task runs lose two.
        for i in 0..6 {
            let emit = EmitEvent { rule: "r".into(), name: "n".into() };
            r.fake.events.send(Arc::new(Record { ts_ns: i, event: emit.into() })).unwrap();
        }
        assert_eq!(c.read().await, json!({"lagged": 2}));
        for i in 2..6 {
            let event = json!({"ts_ns": i, "event": "emit", "rule": "r", "name": "n"});
            assert_eq!(c.read().await, json!({ "event": event }));
        }
    }

    #[tokio::test]
    async fn stop_is_answered_then_the_server_ends_and_removes_its_socket() {
        let r = start().await;
        let mut streaming = Conn::open(&r.path).await;
        assert_eq!(
            streaming.ask(r#"{"cmd":"subscribe","label":"*","pattern":"x"}"#).await["ok"],
            true
        );
        let mut c = Conn::open(&r.path).await;
        assert_eq!(c.ask(r#"{"cmd":"stop"}"#).await, json!({"ok": true}));
        tokio::time::timeout(Duration::from_secs(5), r.server).await.expect("server ends").unwrap();
        assert!(!r.path.exists(), "socket removed");
        assert_eq!(r.fake.live_guards.load(Ordering::SeqCst), 0, "subscriptions ended");
        assert!(streaming.lines.next_line().await.unwrap().is_none(), "streams closed");
    }

    #[tokio::test]
    async fn socket_and_directory_are_private() {
        let r = start().await;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&r.path), 0o600);
        assert_eq!(mode(r.path.parent().unwrap()), 0o700);
    }

    #[tokio::test]
    async fn a_live_socket_is_not_taken_over_and_a_stale_one_is_replaced() {
        let r = start().await;
        let e = bind(&r.path).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AddrInUse);
        assert!(e.to_string().contains("another ctmuxd already serves"), "{e}");

        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("private");
        std::fs::DirBuilder::new().mode(0o700).create(&dir).unwrap();
        let stale = dir.join("s.sock");
        drop(std::os::unix::net::UnixListener::bind(&stale).unwrap()); // leaves the file, nobody listens
        assert!(stale.exists());
        let l = bind(&stale).await.unwrap();
        assert!(UnixStream::connect(&stale).await.is_ok());
        drop(l);

        let file = dir.join("f.sock");
        std::fs::write(&file, "data").unwrap();
        assert_eq!(bind(&file).await.unwrap_err().kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            "data",
            "a non-socket is never removed"
        );
    }

    #[tokio::test]
    async fn an_open_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let open = dir.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
        let e = bind(&open.join("x.sock")).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
        assert!(e.to_string().contains("mode 0755") && e.to_string().contains("chmod 700"), "{e}");
    }

    #[test]
    fn directory_rules() {
        let d = Path::new("/run/x");
        assert!(check_dir(d, true, 1000, 0o40700, 1000).is_ok());
        let e = check_dir(d, true, 0, 0o40700, 1000).unwrap_err().to_string();
        assert!(e.contains("belongs to uid 0, not to us (uid 1000)"), "{e}");
        assert!(check_dir(d, true, 1000, 0o40710, 1000)
            .unwrap_err()
            .to_string()
            .contains("mode 0710"));
        assert!(check_dir(d, false, 1000, 0o120777, 1000)
            .unwrap_err()
            .to_string()
            .contains("not a directory"));
    }

    #[test]
    fn only_our_own_uid_may_connect() {
        assert!(authorize(Some(1000), 1000).is_ok());
        let e = authorize(Some(0), 1000).unwrap_err();
        assert_eq!(e.code, ErrorCode::Forbidden);
        assert_eq!(e.message, "connection refused: you are uid 0, this daemon belongs to uid 1000");
        assert_eq!(authorize(None, 1000).unwrap_err().code, ErrorCode::Forbidden);
    }
}
