//! `status`: what the daemon is doing (`ctmuxd status`). Served on a reserved connection
//! when all others are taken.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use serde::{Deserialize, Serialize};

use crate::api::protocol::ShellView;

use super::{json_line, table, ApiRequest, CliRequest, Daemon, Failure, JsonArgs, Reply};

/// Arguments of `status`: none.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusRequest {}

/// What the daemon is doing (`status`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusView {
    /// The daemon's process id.
    pub pid: u32,
    /// The tmux server it serves, as a command (`tmux -L work`).
    pub tmux: String,
    /// That server's tmux release (`3.5a`), as `#{version}` reports it.
    pub tmux_version: String,
    /// Whether it is connected to tmux now (false while tmux is gone and `--reconnect`
    /// waits for it to come back; always true when polling).
    #[serde(default = "connected_by_default")]
    pub connected: bool,
    /// Names of the sessions it watches (none while not connected).
    pub sessions: Vec<String>,
    /// Number of panes it watches.
    pub panes: usize,
    /// Number of rules in force (file and dynamic).
    pub rules: usize,
    /// Run-time patterns registered now: pending `wait-for`s, `send --expect`s,
    /// subscriptions, `[[pane]]` readiness (a cancelled `wait_for` leaves at once).
    #[serde(default)]
    pub waiters: usize,
    /// Seconds since it started.
    pub uptime_s: u64,
    /// The event log file.
    pub events_path: PathBuf,
    /// How it gets pane output (`control`).
    pub mode: String,
    /// Event-log records that could not be written (disk full) since it started.
    #[serde(default)]
    pub events_lost: u64,
    /// The rules file's `[[pane]]` entries, in file order, with where each is in the start
    /// order (left out when there are none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pane_entries: Vec<PaneEntryView>,
    /// The panes whose shell sends integration marks (`ctmuxd shell-init`), by pane id,
    /// with their shell state; left out when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shells: Vec<PaneShellView>,
    /// A daemon watching several servers (`[[server]]`, `--server`, `--ssh`): each one's
    /// link; left out when it watches one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub servers: Vec<ServerView>,
}

/// One server's link in `status`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerView {
    /// Its name (`[[server]]` `name`), the prefix of its pane addresses (`gpu/build`).
    pub name: String,
    /// What is run to reach it (`tmux -L work`, `ssh me@gpu tmux`).
    pub tmux: String,
    /// `up`, `connecting` or `down`.
    pub state: String,
    /// Since when, ns since the epoch.
    pub since_ns: u64,
    /// Why it is down or still connecting (the last error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How many times it came back after going down.
    pub reconnects: u64,
    /// Its tmux release, once attached.
    pub tmux_version: String,
    /// Panes it watches.
    pub panes: usize,
}

/// One pane's shell in `status`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaneShellView {
    /// tmux pane id.
    pub pane: String,
    /// Its label, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Its shell's state, as `panes` shows it.
    #[serde(flatten)]
    pub shell: ShellView,
}

/// One `[[pane]]` entry in `status`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaneEntryView {
    /// Its label.
    pub label: String,
    /// `waiting` (for what `reason` names), `starting` (its ready line not seen yet),
    /// `ready`, or `failed` (`reason` says why).
    pub state: String,
    /// What it waits for, or why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Replies of daemons from before the field was added were connected to answer at all.
fn connected_by_default() -> bool {
    true
}

/// Body of the `status` reply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReply {
    /// The status.
    pub status: StatusView,
}

impl Reply for StatusReply {}

impl ApiRequest for StatusRequest {
    const CMD: &'static str = "status";
    const RESERVED: bool = true;
    type Answer = StatusReply;
}

impl CliRequest for StatusRequest {
    const NAME: &'static str = "status";
    const ABOUT: &'static str = "Show what the daemon is doing";
    const EXAMPLES: &'static str = "Example:\n  ctmuxd status -L work";
    type Args = JsonArgs;

    fn from_args(_: &JsonArgs) -> Result<StatusRequest, String> {
        Ok(StatusRequest {})
    }

    async fn show(
        StatusReply { status }: StatusReply,
        args: JsonArgs,
        _: Daemon,
        out: &mut dyn Write,
    ) -> Result<ExitCode, Failure> {
        if args.json {
            json_line(out, &status)?;
        } else {
            out.write_all(status_text(&status).as_bytes())?;
        }
        Ok(ExitCode::SUCCESS)
    }
}

fn status_text(s: &StatusView) -> String {
    let up = s.uptime_s;
    let uptime = match (up / 3600, up / 60 % 60, up % 60) {
        (0, 0, sec) => format!("{sec}s"),
        (0, m, sec) => format!("{m}m{sec}s"),
        (h, m, sec) => format!("{h}h{m}m{sec}s"),
    };
    let sessions = if !s.connected {
        "- (not connected: tmux is gone; waiting for it to come back)".to_string()
    } else if s.sessions.is_empty() {
        "-".to_string()
    } else {
        s.sessions.join(", ")
    };
    let rows = [
        ["pid", &s.pid.to_string()],
        ["tmux", &s.tmux],
        ["version", &s.tmux_version],
        ["mode", &s.mode],
        ["sessions", &sessions],
        ["panes", &s.panes.to_string()],
        ["rules", &s.rules.to_string()],
        ["uptime", &uptime],
        ["events", &s.events_path.display().to_string()],
    ]
    .map(|r| r.map(str::to_string).to_vec());
    let mut rows = rows.to_vec();
    if s.events_lost > 0 {
        // Shown only when it matters: records the daemon could not write (disk full).
        rows.push(vec!["events lost".to_string(), s.events_lost.to_string()]);
    }
    for e in &s.pane_entries {
        let state = match &e.reason {
            Some(r) => format!("{}: {r}", e.state),
            None => e.state.clone(),
        };
        rows.push(vec![format!("pane {}", e.label), state]);
    }
    for sh in &s.shells {
        let name = sh.label.as_deref().unwrap_or(&sh.pane);
        rows.push(vec![format!("shell {name}"), sh.shell.brief()]);
    }
    for v in &s.servers {
        let mut state = format!("{} ({}, {} pane(s)", v.state, v.tmux, v.panes);
        if v.reconnects > 0 {
            state.push_str(&format!(", back {} time(s)", v.reconnects));
        }
        state.push(')');
        if let Some(e) = &v.error {
            state.push_str(&format!(": {e}"));
        }
        rows.push(vec![format!("server {}", v.name), state]);
    }
    table(&rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_text_lays_out_uptime_and_sessions() {
        let s = StatusView {
            pid: 7,
            uptime_s: 3725,
            connected: true,
            sessions: vec!["a".into(), "b".into()],
            ..Default::default()
        };
        let t = status_text(&s);
        assert!(t.contains("uptime    1h2m5s") && t.contains("sessions  a, b"), "{t}");
        let gone = status_text(&StatusView { connected: false, ..s.clone() });
        assert!(gone.contains("sessions  - (not connected"), "{gone}");
        let two = StatusView {
            servers: vec![ServerView {
                name: "gpu".into(),
                tmux: "ssh gpu tmux".into(),
                state: "down".into(),
                error: Some("ssh died".into()),
                reconnects: 2,
                ..Default::default()
            }],
            ..s
        };
        let t = status_text(&two);
        assert!(t.contains("server gpu  down (ssh gpu tmux, 0 pane(s), back 2 time(s)): ssh died"), "{t}");
    }
}
