//! The client side of the control socket, used by the CLI subcommands (and usable by any
//! Rust program): connect to the daemon serving a tmux server, send a request (a
//! [`super::Request`], or any one request type of [`super::request`]), read its typed reply
//! or follow a stream.
//!
//! When nothing listens, the error says so and names the command that starts a daemon for
//! that server ([`ClientError::NoDaemon`]), which is what `ctmuxd <command>` prints.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::io::AsyncWriteExt;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;

use super::lines::{Incoming, LineReader};
use super::protocol::{parse_reply, ApiError, ErrorCode, StreamLine, StreamStarted};
use super::{current_uid, socket_path, start_command};
use crate::tmux::TmuxTarget;

/// Longest reply line the client accepts (64 MiB: a `panes` reply of thousands of panes,
/// a large capture); a longer one is an error, not an unbounded allocation.
pub const MAX_REPLY_BYTES: usize = 64 << 20;

/// What can go wrong talking to the daemon.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing listens on the socket for this tmux server.
    #[error("no ctmuxd daemon is running for `{server}` (no socket at {}); start one with `{start}`", .path.display())]
    NoDaemon {
        /// The tmux server, as a command (`tmux -L work`).
        server: String,
        /// The socket looked for.
        path: PathBuf,
        /// The command that starts a daemon for that server.
        start: String,
    },
    /// The socket or its directory belongs to another user.
    #[error("permission denied connecting to {}: the daemon there belongs to another user", .path.display())]
    PermissionDenied {
        /// The socket.
        path: PathBuf,
    },
    /// The socket cannot be trusted: its directory is not ours and private, or the process
    /// listening on it runs as another user. Nothing was sent to it.
    #[error("refusing to talk to {}: {why}", .path.display())]
    Untrusted {
        /// The socket.
        path: PathBuf,
        /// Which check failed and how to fix it.
        why: String,
    },
    /// The daemon answered with an error.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The daemon did not answer in time.
    #[error("the daemon at {} did not answer within {}s", .path.display(), .after.as_secs())]
    NoAnswer {
        /// The socket.
        path: PathBuf,
        /// How long we waited.
        after: Duration,
    },
    /// The daemon closed the connection before answering.
    #[error("the daemon closed the connection (it may be stopping)")]
    Closed,
    /// Any other I/O failure on the socket.
    #[error("talking to the daemon at {}: {source}", .path.display())]
    Io {
        /// The socket.
        path: PathBuf,
        /// The failure.
        source: io::Error,
    },
}

impl ClientError {
    /// The [`ErrorCode`] this error corresponds to, for exit statuses.
    pub fn code(&self) -> ErrorCode {
        match self {
            ClientError::Api(e) => e.code,
            ClientError::PermissionDenied { .. } | ClientError::Untrusted { .. } => {
                ErrorCode::Forbidden
            }
            ClientError::NoAnswer { .. } => ErrorCode::Timeout,
            ClientError::NoDaemon { .. } | ClientError::Closed | ClientError::Io { .. } => {
                ErrorCode::Internal
            }
        }
    }
}

/// A connection to the daemon; requests on it are answered in order.
#[derive(Debug)]
pub struct Client {
    lines: LineReader<OwnedReadHalf>,
    wr: OwnedWriteHalf,
    path: PathBuf,
    /// The daemon's process id, from the socket's peer credentials (`SO_PEERCRED`).
    peer_pid: Option<u32>,
}

impl Client {
    /// Connects to the daemon serving `target` (at [`socket_path`]).
    ///
    /// # Errors
    /// [`ClientError::NoDaemon`] when no socket exists or nobody accepts on it,
    /// [`ClientError::PermissionDenied`], [`ClientError::Io`].
    pub async fn connect(target: &TmuxTarget) -> Result<Client, ClientError> {
        let path = socket_path(target);
        Client::connect_path(&path, target).await
    }

    /// Connects to the socket at `path`; `target` only words the "no daemon" error.
    ///
    /// Before anything is sent, the socket must be trusted: its directory must be a real
    /// directory owned by us and closed to group and others (mode `0700`), and the process
    /// listening on it must run as our uid (`SO_PEERCRED`). Otherwise another user could
    /// plant a listener where we look (`/tmp/ctmuxd-<uid>/` when `XDG_RUNTIME_DIR` is
    /// unset) and read every `send`, or answer with forged data.
    ///
    /// # Errors
    /// See [`Client::connect`]; [`ClientError::Untrusted`] when a check fails.
    pub async fn connect_path(path: &Path, target: &TmuxTarget) -> Result<Client, ClientError> {
        let no_daemon = || ClientError::NoDaemon {
            server: target.describe(),
            path: path.to_path_buf(),
            start: start_command(target),
        };
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        match std::fs::symlink_metadata(dir) {
            Ok(meta) => check_dir(path, dir, &meta)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(no_daemon()),
            Err(e) => return Err(ClientError::Io { path: path.to_path_buf(), source: e }),
        }
        let stream = UnixStream::connect(path).await.map_err(|e| match e.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => no_daemon(),
            io::ErrorKind::PermissionDenied => {
                ClientError::PermissionDenied { path: path.to_path_buf() }
            }
            _ => ClientError::Io { path: path.to_path_buf(), source: e },
        })?;
        check_peer(path, &stream)?;
        let peer_pid =
            stream.peer_cred().ok().and_then(|c| c.pid()).and_then(|p| u32::try_from(p).ok());
        let (rd, wr) = stream.into_split();
        let lines = LineReader::new(rd, MAX_REPLY_BYTES);
        Ok(Client { lines, wr, path: path.to_path_buf(), peer_pid })
    }

    /// The daemon's process id as the kernel reports it for the socket's other end
    /// (`None` where the platform does not say).
    pub fn peer_pid(&self) -> Option<u32> {
        self.peer_pid
    }

    /// Sends `req` and returns its reply body, waiting at most `within`.
    ///
    /// # Errors
    /// The daemon's [`ApiError`]; [`ClientError::NoAnswer`] after `within`;
    /// [`ClientError::Closed`] / [`ClientError::Io`] when the connection fails.
    pub async fn call<T: DeserializeOwned>(
        &mut self,
        req: &impl Serialize,
        within: Duration,
    ) -> Result<T, ClientError> {
        if let Err(e) = self.send(req).await {
            // A daemon that refuses the connection (too many, another user) writes its
            // reason and closes, maybe before our request went out: report that reason.
            return match tokio::time::timeout(Duration::from_secs(1), self.read_line()).await {
                Ok(Ok(line)) => {
                    Err(parse_reply::<serde_json::Value>(&line).err().map_or(e, Into::into))
                }
                _ => Err(e),
            };
        }
        let line = match tokio::time::timeout(within, self.read_line()).await {
            Ok(r) => r?,
            Err(_) => return Err(ClientError::NoAnswer { path: self.path.clone(), after: within }),
        };
        Ok(parse_reply(&line)?)
    }

    /// Sends a streaming request (`subscribe`, `events`) and returns the stream once the
    /// daemon acknowledged it (for `subscribe`: once the rule is in force).
    ///
    /// # Errors
    /// As [`Client::call`].
    pub async fn stream(
        mut self,
        req: &impl Serialize,
        within: Duration,
    ) -> Result<EventStream, ClientError> {
        let StreamStarted { .. } = self.call(req, within).await?;
        Ok(self.into_stream())
    }

    /// The stream's lines, once a streaming request was acknowledged on this connection
    /// (what [`Client::stream`] does after its call).
    pub fn into_stream(self) -> EventStream {
        EventStream { client: self }
    }

    async fn send(&mut self, req: &impl Serialize) -> Result<(), ClientError> {
        // A request is plain data: serializing it cannot fail.
        let mut bytes = serde_json::to_vec(req).unwrap_or_default();
        bytes.push(b'\n');
        self.wr.write_all(&bytes).await.map_err(|e| self.io(e))
    }

    async fn read_line(&mut self) -> Result<String, ClientError> {
        match self.lines.next().await {
            Ok(Incoming::Line(l)) => Ok(l),
            Ok(Incoming::Bad(why)) => {
                Err(self.io(io::Error::new(io::ErrorKind::InvalidData, format!("reply {why}"))))
            }
            Ok(Incoming::Eof) => Err(ClientError::Closed),
            Err(e) => Err(self.io(e)),
        }
    }

    fn io(&self, e: io::Error) -> ClientError {
        match e.kind() {
            io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset => ClientError::Closed,
            _ => ClientError::Io { path: self.path.clone(), source: e },
        }
    }
}

/// The socket's directory must be a directory (not a symlink) of ours, mode `0700`: the
/// same rules the daemon applies when it creates it.
fn check_dir(path: &Path, dir: &Path, meta: &std::fs::Metadata) -> Result<(), ClientError> {
    use std::os::unix::fs::MetadataExt;
    let own = current_uid();
    let untrusted = |why: String| Err(ClientError::Untrusted { path: path.to_path_buf(), why });
    if !meta.is_dir() {
        return untrusted(format!(
            "{} is not a directory (a symlink or a file); remove it, or set XDG_RUNTIME_DIR to a private directory",
            dir.display()
        ));
    }
    if meta.uid() != own {
        return untrusted(format!(
            "its directory {} belongs to uid {}, not to you (uid {own}): another user may have \
             planted it to read what you send; remove it (`rm -r {}`, as root if need be) or \
             set XDG_RUNTIME_DIR to a private directory",
            dir.display(),
            meta.uid(),
            dir.display()
        ));
    }
    if meta.mode() & 0o077 != 0 {
        return untrusted(format!(
            "its directory {} is open to group or others (mode {:04o}); if it is yours, run \
             `chmod 700 {}`",
            dir.display(),
            meta.mode() & 0o7777,
            dir.display()
        ));
    }
    Ok(())
}

/// The process listening on the socket must run as us; checked before anything is sent.
fn check_peer(path: &Path, stream: &UnixStream) -> Result<(), ClientError> {
    let own = current_uid();
    let (pid, uid) = peer_cred(stream).map_err(|e| ClientError::Untrusted {
        path: path.to_path_buf(),
        why: format!("cannot read the listening process's credentials: {e}"),
    })?;
    if uid != own {
        let pid = pid.map(|p| format!(" (pid {p})")).unwrap_or_default();
        return Err(ClientError::Untrusted {
            path: path.to_path_buf(),
            why: format!(
                "the process listening there{pid} runs as uid {uid}, not as you (uid {own}): \
                 it is not your daemon; remove the socket (`rm {}`) and start your own",
                path.display()
            ),
        });
    }
    Ok(())
}

/// Pid (when known) and uid of the peer: `SO_PEERCRED` through `getsockopt(2)`.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn peer_cred(stream: &UnixStream) -> io::Result<(Option<i32>, u32)> {
    use std::os::fd::AsRawFd;
    let mut cred = libc::ucred { pid: 0, uid: 0, gid: 0 };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: SO_PEERCRED fills a `ucred` of the length passed; the descriptor is open for
    // the duration of the call (borrowed from `stream`).
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((Some(cred.pid), cred.uid))
}

/// Pid (when known) and uid of the peer, from the platform's peer credentials.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn peer_cred(stream: &UnixStream) -> io::Result<(Option<i32>, u32)> {
    let cred = stream.peer_cred()?;
    Ok((cred.pid(), cred.uid()))
}

/// The lines after a stream's acknowledgement.
#[derive(Debug)]
pub struct EventStream {
    client: Client,
}

impl EventStream {
    /// The next event; `None` when the daemon ended the stream.
    ///
    /// # Errors
    /// [`ClientError::Io`] on a read failure or a line that is not a stream line.
    pub async fn next(&mut self) -> Result<Option<StreamLine>, ClientError> {
        let line = match self.client.read_line().await {
            Ok(l) => l,
            Err(ClientError::Closed) => return Ok(None),
            Err(e) => return Err(e),
        };
        serde_json::from_str(&line).map(Some).map_err(|e| {
            self.client.io(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("not a stream line ({e}): {line}"),
            ))
        })
    }
}

/// Whether process `pid` has exited: it no longer exists, or it is a zombie (exited,
/// not yet reaped by its parent).
pub fn process_gone(pid: u32) -> bool {
    let Ok(raw) = libc::pid_t::try_from(pid) else { return true };
    // SAFETY: kill(2) with signal 0 only checks that the process exists; no memory is touched.
    if unsafe { libc::kill(raw, 0) } != 0 {
        return io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
    }
    // The state is the field after the command name in parentheses (which may hold spaces).
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state == "Z" || state == "X")
    })
}

/// Waits until process `pid` has exited ([`process_gone`]), checking every 10 ms, for at
/// most `within`. Returns whether it did.
pub async fn wait_gone(pid: u32, within: Duration) -> bool {
    let end = tokio::time::Instant::now() + within;
    loop {
        if process_gone(pid) {
            return true;
        }
        if tokio::time::Instant::now() >= end {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn check(dir: &Path) -> Result<(), ClientError> {
        let meta = std::fs::symlink_metadata(dir).unwrap();
        check_dir(&dir.join("x.sock"), dir, &meta)
    }

    #[test]
    fn the_socket_directory_must_be_a_private_directory_of_ours() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("ctmuxd");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert!(check(&dir).is_ok());
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let e = check(&dir).unwrap_err();
        assert!(e.to_string().contains("mode 0755") && e.to_string().contains("chmod 700"), "{e}");
        assert_eq!(e.code(), ErrorCode::Forbidden);
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&dir, &link).unwrap();
        assert!(check(&link).unwrap_err().to_string().contains("not a directory"));
    }
}
