//! Finding the daemon `ctmuxd mcp` talks to, and starting one when none runs: the same
//! `ctmuxd -L NAME` (or `-S PATH`) a user would type, run detached (its own process
//! group, no terminal, output to a log file beside the event log's directory), left
//! running when the MCP server exits, so the agent's panes stay watched.
//!
//! Nothing here writes to stdout: stdout is the MCP transport.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use crate::api::client::{Client, ClientError};
use crate::tmux::TmuxTarget;

/// How long a started daemon has to open its socket.
pub const START_WAIT: Duration = Duration::from_secs(15);

/// What [`ensure_daemon`] found or did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DaemonOrigin {
    /// A daemon already served the tmux server.
    Running,
    /// None did; this one was started.
    Started {
        /// Its process id.
        pid: u32,
        /// Where its log goes.
        log: PathBuf,
    },
}

/// Why no daemon could be reached or started.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Talking to the socket failed for another reason than "nobody listens".
    #[error(transparent)]
    Client(#[from] ClientError),
    /// Starting the daemon failed.
    #[error("starting `{command}` failed: {why}")]
    Spawn {
        /// The command line.
        command: String,
        /// What went wrong (its exit status and log file, or a timeout).
        why: String,
    },
}

/// Connects to the daemon serving `target`, starting one (`exe` with the server's `-L` /
/// `-S`) when none runs.
///
/// # Errors
/// [`StartError::Client`] when a daemon is there but cannot be trusted or reached,
/// [`StartError::Spawn`] when the one started exits or does not open its socket within
/// [`START_WAIT`].
pub async fn ensure_daemon(target: &TmuxTarget, exe: PathBuf) -> Result<DaemonOrigin, StartError> {
    match Client::connect(target).await {
        Ok(_) => return Ok(DaemonOrigin::Running),
        Err(ClientError::NoDaemon { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    let args = target.args();
    let command = std::iter::once(exe.display().to_string())
        .chain(args.iter().map(|a| a.to_string_lossy().into_owned()))
        .collect::<Vec<_>>()
        .join(" ");
    let log = log_path(target);
    let spawn_err = |why: String| StartError::Spawn { command: command.clone(), why };
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir).map_err(|e| spawn_err(format!("{}: {e}", dir.display())))?;
    }
    let log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .map_err(|e| spawn_err(format!("{}: {e}", log.display())))?;
    let mut child = std::process::Command::new(&exe)
        .args(&args)
        .stdin(Stdio::null())
        // Never the MCP server's stdout: that is the transport.
        .stdout(log_file.try_clone().map_err(|e| spawn_err(e.to_string()))?)
        .stderr(log_file)
        // Its own process group: a Ctrl-C meant for the agent's client does not stop it.
        .process_group(0)
        .spawn()
        .map_err(|e| spawn_err(e.to_string()))?;
    let pid = child.id();
    let end = tokio::time::Instant::now() + START_WAIT;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(spawn_err(format!(
                "it exited ({status}) before opening its socket; its log is {}",
                log.display()
            )));
        }
        match Client::connect(target).await {
            Ok(_) => break,
            Err(ClientError::NoDaemon { .. }) if tokio::time::Instant::now() < end => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(ClientError::NoDaemon { .. }) => {
                return Err(spawn_err(format!(
                    "it did not open its socket within {}s (pid {pid}; its log is {})",
                    START_WAIT.as_secs(),
                    log.display()
                )))
            }
            Err(e) => return Err(e.into()),
        }
    }
    // The daemon outlives us; reap it in the background should it exit while we run.
    std::thread::spawn(move || child.wait());
    Ok(DaemonOrigin::Started { pid, log })
}

/// Where a daemon started by `ctmuxd mcp` logs: `$XDG_STATE_HOME/ctmuxd/` (or
/// `~/.local/state/ctmuxd/`), `mcp-daemon-<server>.log`.
fn log_path(target: &TmuxTarget) -> PathBuf {
    let name: String = target
        .log_name()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
        .collect();
    crate::eventlog::EventLog::default_dir().join(format!("mcp-daemon-{name}.log"))
}
