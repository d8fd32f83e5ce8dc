//! What a rule does when it fires: the [`Action`] enum the rules file is validated
//! into, the [`ActionContext`] describing the match that triggered it, and the
//! [`ActionOutcome`] recorded in the event log afterwards.
//!
//! Neighbours: [`crate::rules`] builds `Action`s from the rules file; the daemon's
//! dispatcher hands each fired action plus its context to a runner ([`ExecRunner`]
//! for `exec`); the outcome becomes an [`crate::eventlog::Record`] through
//! [`ActionOutcome::to_record`]. New action kinds (spawn, close, send, emit) are new
//! `Action` variants plus a parser arm in `rules/rule.rs`; nothing here assumes the
//! set is closed except the `match` in [`Action::kind`].

pub mod exec;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use tmux_control_parser::PaneId;

use crate::eventlog::Record;

pub use exec::ExecRunner;

/// One thing a rule does when it fires, in the order written in the rules file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Run a program (argv, never a shell) with the match described in `CTMUX_*`
    /// environment variables.
    Exec(ExecAction),
    /// Only record the match in the event log.
    Log,
    /// Open a labelled pane.
    Spawn(SpawnAction),
    /// Close the panes whose label matches this label or glob.
    Close(String),
    /// Type text into a labelled pane.
    Send(SendAction),
    /// Raise a named event that `on = "event"` rules react to.
    Emit(String),
}

/// `{ spawn = { label, command | shell, cwd, env, meta, window | beside + split + size, keep, replace } }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpawnAction {
    /// Label of the new pane, unique within its session.
    pub label: String,
    /// What it runs; `None` runs the default shell.
    pub command: Option<crate::tmux::ops::PaneCommand>,
    /// Working directory.
    pub cwd: Option<PathBuf>,
    /// Extra environment for the pane.
    pub env: Vec<(String, String)>,
    /// Metadata stored with the pane (`@ctmuxd_meta`).
    pub meta: BTreeMap<String, serde_json::Value>,
    /// Split beside the pane with this label; `None`: a new window.
    pub beside: Option<String>,
    /// With `beside`: side by side (`split = "h"`) rather than stacked.
    pub horizontal: bool,
    /// With `beside`: size of the new pane (`30%`, or cells).
    pub size: Option<String>,
    /// The pane stays (dead) after its process exits.
    pub keep: bool,
    /// Replace a pane that already has the label instead of failing.
    pub replace: bool,
}

/// `{ send = { pane, text, enter } }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendAction {
    /// Label of the pane to type into.
    pub pane: String,
    /// Text typed literally.
    pub text: String,
    /// Press Enter afterwards, as its own keystroke.
    pub enter: bool,
}

impl Action {
    /// The action's kind as written in the rules file (`"exec"`, `"log"`), used as
    /// the `action` field of event-log records.
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Exec(_) => "exec",
            Action::Log => "log",
            Action::Spawn(_) => "spawn",
            Action::Close(_) => "close",
            Action::Send(_) => "send",
            Action::Emit(_) => "emit",
        }
    }
}

/// A program to run when a rule fires: `{ exec = [argv...], timeout, cwd, env }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecAction {
    /// Program and arguments; `argv[0]` is looked up in `PATH` like `execvp`.
    /// Never empty once validated by [`crate::rules`].
    pub argv: Vec<String>,
    /// Kill the process group after this long; `None` uses the runner's default.
    pub timeout: Option<Duration>,
    /// Working directory; `None` inherits the daemon's.
    pub cwd: Option<PathBuf>,
    /// Extra environment, applied before the `CTMUX_*` variables (which the rules
    /// loader refuses to let a file override).
    pub env: Vec<(String, String)>,
}

/// What an action knows about the match that triggered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionContext {
    /// Name of the rule that fired.
    pub rule: String,
    /// The matched line as a person saw it (escape sequences already applied).
    pub line: String,
    /// The pane the line appeared in.
    pub pane_id: PaneId,
    /// The pane's label, if it has one.
    pub pane_label: Option<String>,
    /// Name of the tmux session the pane belongs to.
    pub session: String,
    /// Named capture groups that participated in the match: (name, text).
    pub captures: Vec<(String, String)>,
}

/// How an action went; turned into an event-log record by [`ActionOutcome::to_record`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ActionOutcome {
    /// The action did what it was asked: for exec, exit status 0 without timeout.
    pub ok: bool,
    /// Exit code when the process exited normally.
    pub exit_code: Option<i32>,
    /// Signal number when the process was killed by a signal.
    pub signal: Option<i32>,
    /// Time from start (spawn, not queueing) to finish.
    pub duration: Duration,
    /// Why the action failed to run or was cut short, lowercase, naming the program.
    pub error: Option<String>,
    /// The timeout expired and the process group was killed.
    pub timed_out: bool,
    /// Last few KiB of the process's stdout (lossy UTF-8); empty for non-exec actions.
    pub stdout_tail: String,
    /// Last few KiB of the process's stderr (lossy UTF-8); empty for non-exec actions.
    pub stderr_tail: String,
}

impl ActionOutcome {
    /// The outcome of an action that succeeded instantly and has nothing to report
    /// (e.g. `log`).
    pub fn done() -> ActionOutcome {
        ActionOutcome { ok: true, ..ActionOutcome::default() }
    }

    /// An `"action"` event-log record describing this outcome of `action` fired
    /// with `ctx`. Empty output tails are left out of the record.
    pub fn to_record(&self, action: &Action, ctx: &ActionContext) -> Record {
        let mut record = Record::now("action");
        record.pane = Some(ctx.pane_id.to_string());
        record.label = ctx.pane_label.clone();
        record.session = Some(ctx.session.clone());
        record.rule = Some(ctx.rule.clone());
        record.line = Some(ctx.line.clone());
        record.action = Some(action.kind().to_owned());
        record.ok = Some(self.ok);
        record.exit_code = self.exit_code;
        record.signal = self.signal;
        record.duration_ms = Some(self.duration.as_secs_f64() * 1000.0);
        record.error = self.error.clone();
        record.timed_out = self.timed_out.then_some(true);
        record.stdout_tail = non_empty(&self.stdout_tail);
        record.stderr_tail = non_empty(&self.stderr_tail);
        record
    }
}

/// `Some(text)` unless it is empty, so empty fields are skipped in JSON.
fn non_empty(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_record_carries_context_and_skips_empty_tails() {
        let ctx = ActionContext {
            rule: "build".into(),
            line: "TRIGGER: START_BUILD 7".into(),
            pane_id: PaneId(3),
            pane_label: Some("test-1".into()),
            session: "main".into(),
            captures: vec![],
        };
        let outcome = ActionOutcome {
            ok: false,
            exit_code: Some(2),
            duration: Duration::from_millis(1500),
            stderr_tail: "boom\n".into(),
            ..ActionOutcome::default()
        };
        let action = Action::Exec(ExecAction {
            argv: vec!["true".into()],
            timeout: None,
            cwd: None,
            env: vec![],
        });
        let json = serde_json::to_value(outcome.to_record(&action, &ctx)).unwrap();
        assert_eq!(json["event"], "action");
        assert_eq!(json["pane"], "%3");
        assert_eq!(json["label"], "test-1");
        assert_eq!(json["rule"], "build");
        assert_eq!(json["action"], "exec");
        assert_eq!(json["ok"], false);
        assert_eq!(json["exit_code"], 2);
        assert_eq!(json["duration_ms"], 1500.0);
        assert_eq!(json["stderr_tail"], "boom\n");
        assert!(json.get("stdout_tail").is_none());
        assert!(json.get("timed_out").is_none());
        assert!(json.get("signal").is_none());
    }
}
