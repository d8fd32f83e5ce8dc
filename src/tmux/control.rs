//! One control-mode connection: a `tmux -C attach-session` child, the task that reads
//! and decodes its stdout, and request/reply correlation for the commands we send.
//!
//! Every event other than a command reply is handed, on the reader task and in stream
//! order, to the [`EventSink`] given at connect time: pane output reaches the matcher
//! without a channel hop. Replies are matched to requests in FIFO order on flags-1
//! blocks (tmux answers one client's commands in order; command numbers are
//! server-wide with gaps, so they cannot be predicted); flags-0 blocks (the initial
//! attach, hooks) are not ours and are only logged.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use tmux_control_parser::{Decoder, Event, Reply};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStdin};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::command::is_sendable;
use super::{TmuxError, TmuxTarget};

/// Receives every non-reply event of a connection, synchronously, on its reader task.
///
/// It must return quickly (no blocking I/O beyond an append to the event log): while it
/// runs, tmux output for this connection is not read.
pub trait EventSink: Send + 'static {
    /// Called once per decoded event, in stream order.
    fn event(&mut self, event: Event);

    /// Called when tmux had nothing more to send for now: every byte read so far was
    /// decoded and handed to [`EventSink::event`], and the last read did not fill the
    /// buffer. The end of a burst of output: where prompts and screens are looked at.
    fn drained(&mut self) {}
}

impl<F: FnMut(Event) + Send + 'static> EventSink for F {
    fn event(&mut self, event: Event) {
        self(event)
    }
}

/// How to attach.
#[derive(Clone, Debug)]
pub struct ConnectOptions {
    /// Session to attach to (`$3` or a name).
    pub session: String,
    /// Client flags for `attach-session -f`. Default `ignore-size,pause-after=10`: never
    /// resize the user's windows, and if ctmuxd ever falls 10 s behind a pane (only
    /// possible while another client keeps tmux reading it), tmux pauses that pane for
    /// ctmuxd (`%pause`, recorded and resumed) instead of disconnecting it as too far behind.
    pub client_flags: String,
    /// Append every byte read from tmux to this file (`--record`), with a clock line
    /// before each read that starts a line (see [`super::record`]).
    pub record: Option<PathBuf>,
}

impl ConnectOptions {
    /// Options for `session` with the default flags and no recording.
    pub fn new(session: impl Into<String>) -> Self {
        ConnectOptions {
            session: session.into(),
            client_flags: "ignore-size,pause-after=10".into(),
            record: None,
        }
    }
}

/// Why a connection ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnectionEnd {
    /// tmux sent `%exit`, with its reason if any (`server exited unexpectedly`, `too far behind`).
    Exit(Option<String>),
    /// stdout closed without `%exit`: the `tmux -C` process died.
    Lost,
}

/// Runs on the reader task when a command line's last reply arrives, with every reply
/// of the line, before any later event is handed to the sink: lets a caller record what
/// a command created (a new pane's label) before that pane's first output is matched,
/// or read a pane's state at an exact point of its output stream.
pub type ReplyHook = Box<dyn FnOnce(&[Reply]) + Send>;

/// A command line waiting for its reply blocks: one per command of the line, fewer when
/// one fails (tmux skips the rest of a line after a failing command, with no block).
struct PendingReply {
    tx: oneshot::Sender<Result<Vec<Reply>, TmuxError>>,
    hook: Option<ReplyHook>,
    /// How many commands the line holds.
    expect: usize,
    /// Blocks read so far.
    got: Vec<Reply>,
}

/// A live control-mode connection. Cheap to clone; commands can be sent from any task.
#[derive(Clone)]
pub struct ControlClient {
    /// Lines to write, in order, each with the slot for its reply. Owned by the writer
    /// task; unbounded because callers are our own code (a handful of commands per event),
    /// never pane output.
    tx: mpsc::UnboundedSender<(String, PendingReply)>,
    session: String,
}

/// The connection's background side: await it to learn how the connection ended.
pub struct Connection {
    /// Resolves when tmux's stdout is closed.
    pub reader: JoinHandle<ConnectionEnd>,
    /// The `tmux -C` child; killed if still running when dropped.
    pub child: Child,
}

impl ControlClient {
    /// Starts `tmux -u -C attach-session -t SESSION -f FLAGS` and waits for the attach
    /// to finish (tmux 3.3a may run commands sent before the initial attach completes,
    /// so nothing is sent before its flags-0 reply arrives).
    ///
    /// # Errors
    /// [`TmuxError::Attach`] with tmux's message when the session cannot be attached,
    /// [`TmuxError::Io`] when tmux cannot be started or the record file cannot be opened.
    pub async fn connect(
        target: &TmuxTarget,
        opts: ConnectOptions,
        sink: impl EventSink,
    ) -> Result<(ControlClient, Connection), TmuxError> {
        // Every argument goes through `command`: for a remote server it quotes them for
        // the remote shell (an argument added after would reach that shell raw: `$0`).
        let mut cmd = target.command([
            "-u",
            "-C",
            "attach-session",
            "-t",
            opts.session.as_str(),
            "-f",
            opts.client_flags.as_str(),
        ]);
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .map_err(|e| TmuxError::Io(format!("cannot start {} -C: {e}", target.program()), e))?;
        let stdin = child.stdin.take().expect("stdin piped");
        let stdout = child.stdout.take().expect("stdout piped");
        let stderr = child.stderr.take().expect("stderr piped");
        let record = match &opts.record {
            Some(p) => Some(
                tokio::fs::OpenOptions::new().create(true).append(true).open(p).await.map_err(
                    |e| TmuxError::Io(format!("cannot open record file {}: {e}", p.display()), e),
                )?,
            ),
            None => None,
        };

        let pending: Arc<Mutex<VecDeque<PendingReply>>> = Arc::default();
        let (attached_tx, attached_rx) = oneshot::channel();
        let reader =
            tokio::spawn(read_loop(stdout, record, pending.clone(), attached_tx, Box::new(sink)));
        let session = opts.session.clone();
        tokio::spawn(async move {
            let mut buf = String::new();
            let mut stderr = stderr;
            let _ = stderr.read_to_string(&mut buf).await;
            for l in buf.lines().filter(|l| !l.trim().is_empty()) {
                tracing::warn!(session = %session, "tmux -C stderr: {l}");
            }
        });

        match attached_rx.await {
            Ok(Ok(())) => {}
            Ok(Err(message)) => {
                return Err(TmuxError::Attach { session: opts.session, message });
            }
            Err(_) => {
                let end = reader.await.unwrap_or(ConnectionEnd::Lost);
                let message = match end {
                    ConnectionEnd::Exit(Some(r)) => r,
                    _ => "tmux exited before attaching".to_string(),
                };
                return Err(TmuxError::Attach { session: opts.session, message });
            }
        }

        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(write_loop(stdin, rx, pending));
        Ok((ControlClient { tx, session: opts.session }, Connection { reader, child }))
    }

    /// The session this client attached to, as it was asked for.
    pub fn session(&self) -> &str {
        &self.session
    }

    /// Sends one command line and waits for its reply block.
    ///
    /// Build `line` with [`super::command`] so every argument is quoted; a line holding
    /// two commands (`a ; b`) would produce two replies and is the caller's bug.
    ///
    /// # Errors
    /// [`TmuxError::Command`] with tmux's message on `%error`, [`TmuxError::Closed`] if the
    /// connection ends first, [`TmuxError::InvalidCommandLine`] for an empty, blank,
    /// comment or multi-line string.
    pub async fn command(&self, line: impl Into<String>) -> Result<Vec<String>, TmuxError> {
        let reply = self.request(line).await?;
        let lines = reply.lines.iter().map(|l| String::from_utf8_lossy(l).into_owned()).collect();
        if reply.ok {
            Ok(lines)
        } else {
            Err(TmuxError::Command(reply.text()))
        }
    }

    /// Like [`ControlClient::command`] but returns the raw [`Reply`], `%error` included.
    ///
    /// # Errors
    /// As [`ControlClient::command`], except that `%error` is returned as `Ok(reply)`.
    pub async fn request(&self, line: impl Into<String>) -> Result<Reply, TmuxError> {
        self.request_with_hook(line, None).await
    }

    /// Like [`ControlClient::command`], with a [`ReplyHook`] run on the reader task as
    /// soon as the reply is read.
    ///
    /// # Errors
    /// As [`ControlClient::command`].
    pub async fn command_with_hook(
        &self,
        line: impl Into<String>,
        hook: ReplyHook,
    ) -> Result<Vec<String>, TmuxError> {
        let reply = self.request_with_hook(line, Some(hook)).await?;
        if reply.ok {
            Ok(reply.lines.iter().map(|l| String::from_utf8_lossy(l).into_owned()).collect())
        } else {
            Err(TmuxError::Command(reply.text()))
        }
    }

    async fn request_with_hook(
        &self,
        line: impl Into<String>,
        hook: Option<ReplyHook>,
    ) -> Result<Reply, TmuxError> {
        let line = line.into();
        let mut replies = self.send_line(line, 1, hook).await?;
        Ok(replies.pop().expect("one reply"))
    }

    /// Sends several commands as one line (`a ; b`), so tmux runs them back to back with
    /// nothing in between (no pane output is read between them), and returns their reply
    /// blocks in order. When one fails tmux skips the rest: the last reply returned is
    /// then the `%error` and there are fewer replies than commands. `hook`, if given,
    /// runs on the reader task with all the replies, before anything read after them.
    ///
    /// # Errors
    /// [`TmuxError::Closed`] if the connection ends first, [`TmuxError::InvalidCommandLine`]
    /// when there is no command or one of them is not sendable on its own.
    pub async fn request_all(
        &self,
        commands: &[String],
        hook: Option<ReplyHook>,
    ) -> Result<Vec<Reply>, TmuxError> {
        if commands.is_empty() || !commands.iter().all(|c| is_sendable(c)) {
            return Err(TmuxError::InvalidCommandLine(commands.join(" ; ")));
        }
        self.send_line(commands.join(" ; "), commands.len(), hook).await
    }

    async fn send_line(
        &self,
        line: String,
        expect: usize,
        hook: Option<ReplyHook>,
    ) -> Result<Vec<Reply>, TmuxError> {
        if !is_sendable(&line) {
            return Err(TmuxError::InvalidCommandLine(line));
        }
        let (tx, rx) = oneshot::channel();
        let slot = PendingReply { tx, hook, expect, got: Vec::with_capacity(expect) };
        self.tx.send((line, slot)).map_err(|_| TmuxError::Closed(None))?;
        rx.await.map_err(|_| TmuxError::Closed(None))?
    }
}

async fn write_loop(
    mut stdin: ChildStdin,
    mut rx: mpsc::UnboundedReceiver<(String, PendingReply)>,
    pending: Arc<Mutex<VecDeque<PendingReply>>>,
) {
    let mut buf = Vec::with_capacity(256);
    while let Some((line, reply)) = rx.recv().await {
        // The slot goes in before the bytes go out, so the reader always finds it.
        pending.lock().expect("pending lock").push_back(reply);
        buf.clear();
        buf.extend_from_slice(line.as_bytes());
        buf.push(b'\n');
        tracing::trace!(line = %line, "tmux <");
        if stdin.write_all(&buf).await.is_err() || stdin.flush().await.is_err() {
            break;
        }
    }
    // Dropping stdin closes it: tmux answers with %exit and the reader ends.
}

/// The read buffer's first size; see [`read_loop`].
const READ_START: usize = 4 * 1024;
/// The read buffer's largest size: a pipe's default capacity, more than one read returns.
const READ_MAX: usize = 64 * 1024;

async fn read_loop(
    mut stdout: tokio::process::ChildStdout,
    mut record: Option<tokio::fs::File>,
    pending: Arc<Mutex<VecDeque<PendingReply>>>,
    attached: oneshot::Sender<Result<(), String>>,
    mut sink: Box<dyn EventSink>,
) -> ConnectionEnd {
    let mut decoder = Decoder::new();
    // PERF: the buffer starts at 4 KiB and doubles, up to 64 KiB, each time a read fills
    // it: a flood is read 64 KiB at a time after five reads, and a quiet server's
    // connection holds 4 KiB, not 64.
    let mut buf = vec![0u8; READ_START];
    let mut attached = Some(attached);
    let mut exit: Option<Option<String>> = None;
    let mut clock = super::record::RecordClock::default();
    loop {
        let n = match stdout.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some(f) = record.as_mut() {
            let stamp = clock.before(&buf[..n], wall_ns());
            let mut wrote = Ok(());
            if let Some(line) = stamp {
                wrote = f.write_all(line.as_bytes()).await;
            }
            if wrote.is_ok() {
                wrote = f.write_all(&buf[..n]).await;
            }
            if let Err(e) = wrote {
                tracing::error!("recording stopped: {e}");
                record = None;
            }
        }
        decoder.feed(&buf[..n]);
        while let Some(item) = decoder.next_event() {
            handle(item, &pending, &mut attached, &mut exit, sink.as_mut());
        }
        if n < buf.len() {
            sink.drained();
        } else if buf.len() < READ_MAX {
            buf.resize(buf.len() * 2, 0);
        }
    }
    while let Some(item) = decoder.finish() {
        handle(item, &pending, &mut attached, &mut exit, sink.as_mut());
    }
    for slot in pending.lock().expect("pending lock").drain(..) {
        let _ = slot.tx.send(Err(TmuxError::Closed(exit.clone().flatten())));
    }
    if let Some(f) = record.as_mut() {
        let _ = f.flush().await;
    }
    match exit {
        Some(reason) => ConnectionEnd::Exit(reason),
        None => ConnectionEnd::Lost,
    }
}

/// Wall-clock now, ns since the epoch (the `--record` file's clock lines).
fn wall_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

fn handle(
    item: Result<Event, tmux_control_parser::ParseError>,
    pending: &Mutex<VecDeque<PendingReply>>,
    attached: &mut Option<oneshot::Sender<Result<(), String>>>,
    exit: &mut Option<Option<String>>,
    sink: &mut dyn EventSink,
) {
    match item {
        Ok(Event::Reply(reply)) if reply.flags == 0 => {
            if let Some(tx) = attached.take() {
                let _ = tx.send(if reply.ok { Ok(()) } else { Err(reply.text()) });
            } else {
                tracing::debug!(
                    number = reply.number,
                    ok = reply.ok,
                    "unsolicited reply: {}",
                    reply.text()
                );
            }
        }
        Ok(Event::Reply(reply)) => {
            let mut pending = pending.lock().expect("pending lock");
            let Some(slot) = pending.front_mut() else {
                tracing::warn!(
                    number = reply.number,
                    "reply with no command waiting: {}",
                    reply.text()
                );
                return;
            };
            let last = !reply.ok;
            slot.got.push(reply);
            if last || slot.got.len() >= slot.expect {
                let mut slot = pending.pop_front().expect("front slot");
                if let Some(hook) = slot.hook.take() {
                    hook(&slot.got);
                }
                let _ = slot.tx.send(Ok(slot.got));
            }
        }
        Ok(Event::Exit { reason }) => {
            *exit = Some(reason.clone());
            sink.event(Event::Exit { reason });
        }
        Ok(event) => sink.event(event),
        Err(e) => tracing::warn!("tmux protocol: {e}"),
    }
}
