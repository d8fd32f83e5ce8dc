//! `spawn`: start a labelled pane (`ctmuxd spawn`).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{json_line, ApiRequest, CliRequest, Daemon, Failure, Reply};
use crate::api::protocol::PaneView;
use crate::tmux::labelled::{PaneCommand, SpawnSpec};

/// Which way a pane is split off its neighbour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Split {
    /// Side by side (`tmux split-window -h`).
    #[serde(rename = "h")]
    Horizontal,
    /// Stacked (`tmux split-window -v`).
    #[serde(rename = "v")]
    Vertical,
}

/// Arguments of `spawn`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SpawnRequest {
    /// The new pane's label (unique within its session).
    pub label: String,
    /// Session to put it in (name or `$1`); `None`: the daemon's first session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// Metadata stored with the pane.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub meta: BTreeMap<String, Value>,
    /// The program and its arguments; empty runs the default shell.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// Run `command` joined by spaces through `sh -c` instead of executing it directly.
    #[serde(default)]
    pub shell: bool,
    /// Working directory (absolute: the daemon's own directory is not the client's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<PathBuf>,
    /// Split beside the pane with this label; `None`: a new window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub beside: Option<String>,
    /// Split direction when `beside` is set (default `v`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<Split>,
    /// Size of the new pane when split (`30%` or a number of cells).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
    /// Keep the pane after its program exits, so its exit status shows in `panes`.
    #[serde(default)]
    pub keep: bool,
    /// Replace a pane that already has this label instead of answering `conflict`.
    #[serde(default)]
    pub replace: bool,
}

impl SpawnRequest {
    /// The spawn it asks for, in the daemon's one description of a spawn; the session
    /// stays with the request (the daemon picks one when it is `None`).
    pub fn spec(&self) -> SpawnSpec {
        let command = match (self.shell, self.command.is_empty()) {
            (_, true) => None,
            (true, false) => Some(PaneCommand::Shell(self.command.join(" "))),
            (false, false) => Some(PaneCommand::Argv(self.command.clone())),
        };
        SpawnSpec {
            label: self.label.clone(),
            command,
            cwd: self.cwd.clone(),
            env: Vec::new(),
            meta: self.meta.clone(),
            beside: self.beside.clone(),
            horizontal: matches!(self.split, Some(Split::Horizontal)),
            size: self.size.clone(),
            keep: self.keep,
            replace: self.replace,
            server: None,
        }
    }
}

/// Body of the `spawn` reply.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpawnReply {
    /// The new pane.
    pub pane: PaneView,
}

impl Reply for SpawnReply {}

impl ApiRequest for SpawnRequest {
    const CMD: &'static str = "spawn";
    type Answer = SpawnReply;

    fn validate(&self) -> Result<(), String> {
        match &self.cwd {
            // The daemon's working directory is not the client's: a relative path would
            // silently run the pane somewhere else.
            Some(cwd) if !cwd.is_absolute() => Err(format!(
                "cwd {:?} must be an absolute path",
                cwd.display().to_string()
            )),
            _ => Ok(()),
        }
    }
}

/// `ctmuxd spawn`.
#[derive(Debug, clap::Args)]
pub struct SpawnArgs {
    /// The new pane's label.
    #[arg(long, value_name = "LABEL")]
    pub label: String,
    /// Metadata stored with the pane; repeatable.
    #[arg(long, value_name = "KEY=VALUE", value_parser = parse_meta)]
    pub meta: Vec<(String, String)>,
    /// Split beside the pane with this label (default: a new window).
    #[arg(long, value_name = "LABEL", conflicts_with = "window")]
    pub beside: Option<String>,
    /// Split direction: h (side by side) or v (stacked).
    #[arg(long, value_name = "h|v", value_parser = parse_split, requires = "beside")]
    pub split: Option<Split>,
    /// Size of the split: `30%` or a number of cells.
    #[arg(long, value_name = "SIZE", requires = "beside")]
    pub size: Option<String>,
    /// Put the pane in a new window (the default).
    #[arg(long)]
    pub window: bool,
    /// Session for the new window (default: the daemon's first session).
    #[arg(long, value_name = "SESSION")]
    pub session: Option<String>,
    /// Working directory of the command.
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,
    /// Run CMD through `sh -c` (its words joined by spaces).
    #[arg(long, requires = "command")]
    pub shell: bool,
    /// Keep the pane after the command exits, so `panes` shows its exit status.
    #[arg(long)]
    pub keep: bool,
    /// Replace a pane that already has this label.
    #[arg(long)]
    pub replace: bool,
    /// Print the new pane as JSON.
    #[arg(long)]
    pub json: bool,
    /// The command and its arguments, after `--`.
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

/// `--meta k=v` → `(k, v)`.
pub(super) fn parse_meta(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, e.g. role=database, not {s:?}")),
    }
}

fn parse_split(s: &str) -> Result<Split, String> {
    match s {
        "h" => Ok(Split::Horizontal),
        "v" => Ok(Split::Vertical),
        _ => Err(format!("expected h (side by side) or v (stacked), not {s:?}")),
    }
}

impl CliRequest for SpawnRequest {
    const NAME: &'static str = "spawn";
    const ABOUT: &'static str = "Start a labelled pane running a command (default: a shell)";
    const EXAMPLES: &'static str = "Examples:\n  \
        ctmuxd spawn --label db --meta role=database -- postgres -D ./data\n  \
        ctmuxd spawn --label tests --beside db --split h --size 40% --shell -- 'make test 2>&1 | tee log'";
    type Args = SpawnArgs;

    fn from_args(a: &SpawnArgs) -> Result<SpawnRequest, String> {
        let cwd = match &a.cwd {
            // The daemon runs elsewhere: a relative directory means ours.
            Some(d) => {
                Some(std::path::absolute(d).map_err(|e| format!("--cwd {}: {e}", d.display()))?)
            }
            None => None,
        };
        Ok(SpawnRequest {
            label: a.label.clone(),
            session: a.session.clone(),
            meta: a
                .meta
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect::<BTreeMap<_, _>>(),
            command: a.command.clone(),
            shell: a.shell,
            cwd,
            beside: a.beside.clone(),
            split: a.beside.as_ref().map(|_| a.split.unwrap_or(Split::Vertical)),
            size: a.size.clone(),
            keep: a.keep,
            replace: a.replace,
        })
    }

    async fn show(
        SpawnReply { pane }: SpawnReply,
        args: SpawnArgs,
        _: Daemon,
        out: &mut dyn Write,
    ) -> Result<ExitCode, Failure> {
        if args.json {
            json_line(out, &pane)?;
        } else {
            writeln!(
                out,
                "{} {} in {} {}",
                pane.id,
                pane.label.as_deref().unwrap_or("-"),
                pane.session,
                pane.window
            )?;
        }
        Ok(ExitCode::SUCCESS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_becomes_the_spawn_it_asks_for() {
        let req = SpawnRequest {
            label: "db".into(),
            command: vec!["echo".into(), "hi".into()],
            shell: true,
            beside: Some("web".into()),
            split: Some(Split::Horizontal),
            size: Some("30%".into()),
            keep: true,
            ..SpawnRequest::default()
        };
        let spec = req.spec();
        assert_eq!(spec.command, Some(PaneCommand::Shell("echo hi".into())));
        assert_eq!(spec.beside.as_deref(), Some("web"));
        assert!(spec.horizontal && spec.keep && !spec.replace);
        assert_eq!(spec.size.as_deref(), Some("30%"));
        let argv = SpawnRequest { shell: false, split: Some(Split::Vertical), ..req };
        assert_eq!(argv.spec().command, Some(PaneCommand::Argv(vec!["echo".into(), "hi".into()])));
        assert!(!argv.spec().horizontal);
        assert_eq!(SpawnRequest::default().spec().command, None);
    }
}
