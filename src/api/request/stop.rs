//! `stop`: the daemon answers, then stops as on SIGTERM (`ctmuxd stop`, which waits for
//! the process to exit). Served on a reserved connection when all others are taken.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{ApiRequest, CliRequest, Daemon, Failure, NoArgs};
use crate::api::client::wait_gone;
use crate::api::protocol::Empty;

/// How long `ctmuxd stop` waits for the daemon process to exit after it agreed to stop:
/// the daemon gives running actions 5 s, so this is that and a margin.
const STOP_WAIT: Duration = Duration::from_secs(10);

/// Arguments of `stop`: none. The backend resolves once the stop is under way; the
/// server writes the reply before its own shutdown closes the connection.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopRequest {}

impl ApiRequest for StopRequest {
    const CMD: &'static str = "stop";
    const RESERVED: bool = true;
    type Answer = Empty;
}

impl CliRequest for StopRequest {
    const NAME: &'static str = "stop";
    const ABOUT: &'static str = "Stop the daemon";
    const EXAMPLES: &'static str = "Example:\n  ctmuxd stop -L work";
    type Args = NoArgs;

    fn from_args(_: &NoArgs) -> Result<StopRequest, String> {
        Ok(StopRequest {})
    }

    async fn show(
        Empty {}: Empty,
        _: NoArgs,
        daemon: Daemon,
        out: &mut dyn Write,
    ) -> Result<ExitCode, Failure> {
        // The daemon's pid, from the first connection; a retry on `busy` reaches the same one.
        let target = &daemon.target;
        match daemon.pid {
            Some(pid) if wait_gone(pid, STOP_WAIT).await => {
                writeln!(out, "stopped the daemon for {} (pid {pid})", target.describe())?;
            }
            Some(pid) => {
                out.flush()?;
                eprintln!(
                    "ctmuxd: the daemon for {} (pid {pid}) was asked to stop but is still running after {} s",
                    target.describe(),
                    STOP_WAIT.as_secs()
                );
                return Ok(ExitCode::from(1));
            }
            None => writeln!(
                out,
                "stopping the daemon for {} (its pid is unknown: not waiting for it to exit)",
                target.describe()
            )?,
        }
        Ok(ExitCode::SUCCESS)
    }
}
