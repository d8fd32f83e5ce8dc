//! The client side of the control socket, used by the CLI subcommands (and usable by any
//! Rust program): connect to the daemon serving a tmux server, send a [`Request`], read
//! its typed reply or follow a stream.
//!
//! When nothing listens, the error says so and names the command that starts a daemon for
//! that server ([`ClientError::NoDaemon`]), which is what `ctmuxd <command>` prints.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;
use tokio::io::AsyncWriteExt;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;

use super::lines::{Incoming, LineReader};
use super::protocol::{parse_reply, ApiError, ErrorCode, StreamLine, StreamStarted};
use super::{socket_path, start_command, Request};
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
            ClientError::PermissionDenied { .. } => ErrorCode::Forbidden,
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
    /// # Errors
    /// See [`Client::connect`].
    pub async fn connect_path(path: &Path, target: &TmuxTarget) -> Result<Client, ClientError> {
        let stream = UnixStream::connect(path).await.map_err(|e| match e.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => ClientError::NoDaemon {
                server: target.describe(),
                path: path.to_path_buf(),
                start: start_command(target),
            },
            io::ErrorKind::PermissionDenied => {
                ClientError::PermissionDenied { path: path.to_path_buf() }
            }
            _ => ClientError::Io { path: path.to_path_buf(), source: e },
        })?;
        let (rd, wr) = stream.into_split();
        let lines = LineReader::new(rd, MAX_REPLY_BYTES);
        Ok(Client { lines, wr, path: path.to_path_buf() })
    }

    /// Sends `req` and returns its reply body, waiting at most `within`.
    ///
    /// # Errors
    /// The daemon's [`ApiError`]; [`ClientError::NoAnswer`] after `within`;
    /// [`ClientError::Closed`] / [`ClientError::Io`] when the connection fails.
    pub async fn call<T: DeserializeOwned>(
        &mut self,
        req: &Request,
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
        req: &Request,
        within: Duration,
    ) -> Result<EventStream, ClientError> {
        let StreamStarted { .. } = self.call(req, within).await?;
        Ok(EventStream { client: self })
    }

    async fn send(&mut self, req: &Request) -> Result<(), ClientError> {
        // A Request is plain data: serializing it cannot fail.
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
