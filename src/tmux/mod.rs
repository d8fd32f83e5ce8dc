//! Everything that talks to tmux: which server ([`TmuxTarget`]), how command lines are
//! built with safe quoting ([`command`]), and the control-mode connection that streams
//! events and answers commands ([`control`]).
//!
//! Upstream of this module is the tmux server; downstream are the daemon's engine
//! (fed events synchronously from the reader task) and whoever awaits command replies.

pub mod command;
pub mod control;
pub mod format;
pub mod labelled;
pub mod record;
pub mod router;
pub mod ssh;
pub mod version;

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use thiserror::Error;

/// Which tmux server to talk to, as `tmux -L name` / `tmux -S path` choose it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum TmuxTarget {
    /// tmux's default socket (what plain `tmux` uses).
    #[default]
    Default,
    /// `-L NAME`: a named socket in tmux's socket directory.
    Name(String),
    /// `-S PATH`: an explicit socket path.
    Path(PathBuf),
    /// A server on another host, reached by running tmux there over `ssh`.
    Ssh(Box<ssh::SshTarget>),
}

impl TmuxTarget {
    /// The server a plain `tmux` reaches from here: inside a tmux pane, the one `$TMUX`
    /// names (as `-L NAME`, or the default server, when its socket is in tmux's socket
    /// directory; else `-S PATH`), so the daemon and its clients started in a pane key their
    /// control socket on the same server as `-L NAME` would; outside tmux, the default.
    pub fn ambient() -> TmuxTarget {
        TmuxTarget::from_tmux_env(std::env::var_os("TMUX").as_deref(), &socket_dir())
    }

    /// [`TmuxTarget::ambient`] for a `$TMUX` value (`SOCKET,PID,SESSION`) and tmux's socket
    /// directory.
    fn from_tmux_env(tmux: Option<&OsStr>, socket_dir: &Path) -> TmuxTarget {
        let Some(value) = tmux.map(OsStr::to_string_lossy).filter(|v| !v.is_empty()) else {
            return TmuxTarget::Default;
        };
        // The socket path may itself hold commas: the last two fields are tmux's own.
        let socket = PathBuf::from(value.rsplitn(3, ',').last().unwrap_or_default());
        let same_dir = |dir: &Path| {
            let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
            canon(dir) == canon(socket_dir)
        };
        match (socket.parent(), socket.file_name().and_then(OsStr::to_str)) {
            (Some(dir), Some("default")) if same_dir(dir) => TmuxTarget::Default,
            (Some(dir), Some(name)) if same_dir(dir) => TmuxTarget::Name(name.to_owned()),
            _ => TmuxTarget::Path(socket),
        }
    }

    /// The server's name in event-log records (`"server"`): `default`, the `-L` name, or
    /// the `-S` path as given.
    pub fn log_name(&self) -> String {
        match self {
            TmuxTarget::Default => "default".to_string(),
            TmuxTarget::Name(n) => n.clone(),
            TmuxTarget::Path(p) => p.display().to_string(),
            TmuxTarget::Ssh(t) => t.destination.clone(),
        }
    }

    /// The global arguments that select this server (`[]`, `["-L", name]` or `["-S", path]`;
    /// for a remote server, the ones given to tmux there).
    pub fn args(&self) -> Vec<OsString> {
        match self {
            TmuxTarget::Default => vec![],
            TmuxTarget::Ssh(t) => match &t.socket {
                ssh::RemoteSocket::Default => vec![],
                ssh::RemoteSocket::Name(n) => vec!["-L".into(), n.into()],
                ssh::RemoteSocket::Path(p) => vec!["-S".into(), p.into()],
            },
            TmuxTarget::Name(n) => vec!["-L".into(), n.into()],
            TmuxTarget::Path(p) => vec!["-S".into(), p.into()],
        }
    }

    /// The same selection as a shell-ready string for messages (`tmux -L work`).
    pub fn describe(&self) -> String {
        match self {
            TmuxTarget::Default => "tmux".to_string(),
            TmuxTarget::Name(n) => format!("tmux -L {}", command::quote(n)),
            TmuxTarget::Path(p) => format!("tmux -S {}", command::quote(&p.to_string_lossy())),
            TmuxTarget::Ssh(t) => t.describe(),
        }
    }

    /// The program this target runs: ctmuxd's tmux ([`tmux_binary`]), or `ssh` for a
    /// remote server ([`ssh::ssh_binary`]).
    pub fn program(&self) -> String {
        match self {
            TmuxTarget::Ssh(_) => ssh::ssh_binary(),
            _ => tmux_binary(),
        }
    }

    /// A `tokio::process::Command` for `tmux <server args> <args...>` (for a remote
    /// server, `ssh … DEST tmux <server args> <args...>`, see [`ssh::SshTarget::argv`]).
    pub fn command<I, S>(&self, args: I) -> tokio::process::Command
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        if let TmuxTarget::Ssh(t) = self {
            let mut cmd = tokio::process::Command::new(ssh::ssh_binary());
            cmd.args(t.argv(args.into_iter().map(Into::into)));
            // A command given up on (a stop while the link hangs) takes its ssh with it.
            cmd.kill_on_drop(true);
            return cmd;
        }
        let mut cmd = tokio::process::Command::new(tmux_binary());
        cmd.args(self.args());
        cmd.args(args.into_iter().map(Into::into));
        cmd
    }

    /// Runs a one-off `tmux` command (not control mode) and returns its stdout lines.
    ///
    /// Used at start-up and for checks; the daemon itself talks over control mode.
    ///
    /// # Errors
    /// [`TmuxError::NoServer`] when no server listens on the socket, [`TmuxError::Command`]
    /// with tmux's message for any other failure, [`TmuxError::Io`] if tmux cannot run.
    pub async fn run<I, S>(&self, args: I) -> Result<Vec<String>, TmuxError>
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        let out = self
            .command(args)
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .map_err(|e| TmuxError::Io(format!("cannot run {}: {e}", self.program()), e))?;
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        if !out.status.success() {
            if TmuxFailure::of_message(&stderr) == TmuxFailure::NoServer {
                return Err(TmuxError::NoServer(self.describe()));
            }
            return Err(TmuxError::Command(stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect())
    }
}

/// tmux's socket directory: `$TMUX_TMPDIR/tmux-UID`, `/tmp/tmux-UID` without it.
fn socket_dir() -> PathBuf {
    let base = std::env::var_os("TMUX_TMPDIR")
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
    // SAFETY: getuid(2) takes no arguments, cannot fail and touches no memory of ours.
    base.join(format!("tmux-{}", unsafe { libc::getuid() }))
}

/// The tmux executable: `$CTMUXD_TMUX` if set (tests, odd installs), else `tmux` from `PATH`.
pub fn tmux_binary() -> String {
    std::env::var("CTMUXD_TMUX").unwrap_or_else(|_| "tmux".to_string())
}

/// What can go wrong talking to tmux.
#[derive(Debug, Error)]
pub enum TmuxError {
    /// No tmux server is running on the selected socket.
    #[error("no tmux server running for `{0}`; start one (e.g. `{0} new-session -d`) or pick another with -L/-S")]
    NoServer(String),
    /// The control client could not attach (tmux's own message).
    #[error("cannot attach to session {session}: {message}")]
    Attach {
        /// The session asked for.
        session: String,
        /// tmux's error text.
        message: String,
    },
    /// A command answered with `%error` (tmux's message).
    #[error("tmux: {0}")]
    Command(String),
    /// A command line we refused to send because it would desynchronise the protocol.
    #[error("refusing to send tmux command line {0:?}: it must be one non-empty command without newlines")]
    InvalidCommandLine(String),
    /// The control connection is gone (tmux exited, the session was closed or ctmuxd is stopping).
    #[error("tmux control connection closed{}", .0.as_deref().map(|r| format!(": {r}")).unwrap_or_default())]
    Closed(Option<String>),
    /// Running tmux failed at the OS level.
    #[error("{0}")]
    Io(String, #[source] std::io::Error),
}

/// What a [`TmuxError`] means, read once here from tmux's text (tmux reports failures only
/// as messages), so callers decide on a type, never on substrings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TmuxFailure {
    /// No server listens on the socket, or it exited.
    NoServer,
    /// The session asked for does not exist (or no longer does).
    NoSession,
    /// tmux does not know a flag or command ctmuxd sent: an older release.
    Unsupported,
    /// The control client could not attach, for another reason than the two above.
    AttachRefused,
    /// The control connection closed.
    ConnectionLost,
    /// Anything else (a refused command line, the OS failing to run tmux, ...).
    Other,
}

impl TmuxFailure {
    /// Classifies one of tmux's error messages.
    pub fn of_message(message: &str) -> TmuxFailure {
        if ["no server running", "error connecting to", "server exited"]
            .iter()
            .any(|m| message.contains(m))
        {
            TmuxFailure::NoServer
        } else if message.contains("can't find session") {
            TmuxFailure::NoSession
        } else if ["unknown flag", "unknown command", "usage:", "invalid option"]
            .iter()
            .any(|m| message.contains(m))
        {
            TmuxFailure::Unsupported
        } else {
            TmuxFailure::Other
        }
    }
}

impl TmuxError {
    /// What went wrong, as a type (see [`TmuxFailure`]).
    pub fn failure(&self) -> TmuxFailure {
        match self {
            TmuxError::NoServer(_) => TmuxFailure::NoServer,
            TmuxError::Attach { message, .. } => match TmuxFailure::of_message(message) {
                TmuxFailure::Other | TmuxFailure::Unsupported => TmuxFailure::AttachRefused,
                known => known,
            },
            TmuxError::Command(message) => TmuxFailure::of_message(message),
            TmuxError::Closed(_) => TmuxFailure::ConnectionLost,
            TmuxError::InvalidCommandLine(_) | TmuxError::Io(..) => TmuxFailure::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tmux_env_names_the_server_as_its_flags_would() {
        let dir = tempfile::tempdir().unwrap();
        let sockets = dir.path().join("tmux-1000");
        std::fs::create_dir_all(&sockets).unwrap();
        let env = |v: &str| TmuxTarget::from_tmux_env(Some(OsStr::new(v)), &sockets);
        let at = |name: &str| format!("{},4242,0", sockets.join(name).display());
        assert_eq!(TmuxTarget::from_tmux_env(None, &sockets), TmuxTarget::Default);
        assert_eq!(env(""), TmuxTarget::Default, "empty is unset");
        assert_eq!(env(&at("default")), TmuxTarget::Default);
        assert_eq!(env(&at("work")), TmuxTarget::Name("work".into()));
        assert_eq!(env(&at("a,b")), TmuxTarget::Name("a,b".into()), "commas in the name");
        assert_eq!(
            env("/elsewhere/sock,1,2"),
            TmuxTarget::Path("/elsewhere/sock".into()),
            "a socket outside tmux's directory is addressed by path"
        );
    }
}
