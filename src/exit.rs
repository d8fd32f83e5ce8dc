//! How a watching run ends, whichever mode ran it: control mode ([`crate::daemon`]) or
//! polling ([`crate::poll`]): [`DaemonExit`] when it ended without error, [`DaemonError`]
//! when it could not start or go on. Both modes use it, so polling does not depend on the
//! control-mode daemon for its types, and the binary decides exit statuses on types.

use std::path::PathBuf;

use crate::firing::CompileError;
use crate::tmux::version::ControlModeUnusable;
use crate::tmux::{TmuxError, TmuxFailure};

/// How the daemon ended without error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DaemonExit {
    /// The shutdown future resolved (SIGINT/SIGTERM).
    Stopped,
    /// tmux ended the last connection; the text says why.
    TmuxGone(String),
}

/// Why a daemon (control mode or polling) could not start, or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The event log could not be opened.
    #[error("cannot open event log in {}: {source}", dir.display())]
    EventLog {
        /// The log directory.
        dir: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The rules' patterns do not compile into one matcher.
    #[error(transparent)]
    Rules(#[from] CompileError),
    /// The control socket could not be bound or served.
    #[error("control socket: {0}")]
    Api(std::io::Error),
    /// The installed tmux cannot run control mode.
    #[error(transparent)]
    ControlMode(#[from] ControlModeUnusable),
    /// The server has no session to attach to.
    #[error("the tmux server `{server}` has no sessions to watch")]
    NoSessions {
        /// The server, as `-L name` / `-S path`.
        server: String,
    },
    /// Talking to tmux failed.
    #[error(transparent)]
    Tmux(#[from] TmuxError),
    /// The servers to watch do not fit together: a rule or spawn names an undeclared
    /// server, or two servers share a name (the message says which and how to fix it).
    #[error("{0}")]
    Servers(String),
}

impl DaemonError {
    /// Whether this failure means control mode cannot be used here, so polling should take
    /// over: tmux too old, the control client refused or lost while attaching, or tmux
    /// rejecting a flag or command ctmuxd sends while setting up (an older release).
    ///
    /// "No server running", a session that does not exist and tmux not being installed are
    /// not reasons to poll (polling would fail the same way), nor is any other error.
    pub fn control_mode_unusable(&self) -> bool {
        match self {
            DaemonError::ControlMode(_) => true,
            DaemonError::Tmux(t) => matches!(
                t.failure(),
                TmuxFailure::AttachRefused | TmuxFailure::Unsupported | TmuxFailure::ConnectionLost
            ),
            _ => false,
        }
    }

    /// Whether the user's input is at fault (the rules do not compile): exit status 2.
    pub fn is_bad_input(&self) -> bool {
        matches!(self, DaemonError::Rules(_) | DaemonError::Servers(_))
    }
}
