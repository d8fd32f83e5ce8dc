//! How a watching run ended without error, whichever mode ran it: control mode
//! ([`crate::daemon`]) or polling ([`crate::poll`]). A leaf both modes use, so that
//! polling does not depend on the control-mode daemon for its return type.

/// How the daemon ended without error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DaemonExit {
    /// The shutdown future resolved (SIGINT/SIGTERM).
    Stopped,
    /// tmux ended the last connection; the text says why.
    TmuxGone(String),
}
