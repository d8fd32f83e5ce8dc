//! Running what a firing asks for: each firing's actions run in order on their own task;
//! a failing action is recorded with its reason and the rule's remaining actions are
//! skipped. Every match and every outcome becomes one event-log record.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::task::TaskTracker;

use crate::action::{Action, ActionOutcome, ExecRunner};
use crate::engine::{now_ns, Firing};
use crate::eventlog::{EventLog, Record};

/// Runs firings' actions and records them.
#[derive(Clone)]
pub struct Dispatcher {
    runner: ExecRunner,
    log: Arc<EventLog>,
    /// Every running firing; [`Dispatcher::shutdown`] waits on it with a bound.
    tracker: TaskTracker,
    /// Which source produced the events (`control`, `poll`), written into each record.
    mode: &'static str,
}

impl Dispatcher {
    /// A dispatcher writing to `log`, running exec actions through `runner`.
    pub fn new(runner: ExecRunner, log: Arc<EventLog>, mode: &'static str) -> Dispatcher {
        Dispatcher { runner, log, tracker: TaskTracker::new(), mode }
    }

    /// The event log records go to.
    pub fn log(&self) -> &Arc<EventLog> {
        &self.log
    }

    /// Records the match now (synchronously, so the log order is the detection order),
    /// then runs the rule's actions on a task of their own.
    pub fn fire(&self, firing: Firing) {
        let mut rec = match_record(&firing, self.mode);
        rec.ts_ns = firing.ts_ns;
        self.append(&rec);
        let this = self.clone();
        self.tracker.spawn(async move { this.run_actions(firing).await });
    }

    async fn run_actions(&self, firing: Firing) {
        let actions = firing.rule().actions.clone();
        for (i, action) in actions.iter().enumerate() {
            let start_ns = now_ns();
            let outcome: ActionOutcome = match action {
                Action::Exec(exec) => self.runner.run(exec, &firing.ctx).await,
                Action::Log => continue,
            };
            let name = action.kind();
            let mut rec = outcome.to_record(action, &firing.ctx);
            rec.mode = Some(self.mode.to_string());
            rec.extra.insert("start_ns".into(), start_ns.into());
            rec.extra.insert("index".into(), i.into());
            if let Action::Exec(exec) = action {
                rec.extra.insert("argv".into(), exec.argv.clone().into());
            }
            self.append(&rec);
            if !outcome.ok {
                if i + 1 < actions.len() {
                    let mut skip = Record::now("skipped");
                    fill_common(&mut skip, &firing, self.mode);
                    skip.message = Some(format!(
                        "{} remaining action(s) skipped after a failed {name}",
                        actions.len() - i - 1
                    ));
                    self.append(&skip);
                }
                break;
            }
        }
    }

    /// Stops accepting work and waits up to `grace` for running actions.
    /// Returns how many were still running when the wait gave up.
    pub async fn shutdown(&self, grace: Duration) -> usize {
        self.tracker.close();
        if tokio::time::timeout(grace, self.tracker.wait()).await.is_err() {
            return self.tracker.len();
        }
        0
    }

    /// Appends a record; a failing log write is reported on stderr, never fatal.
    pub fn append(&self, rec: &Record) {
        if let Err(e) = self.log.append(rec) {
            tracing::error!("event log {}: {e}", self.log.path().display());
        }
    }
}

fn fill_common(rec: &mut Record, f: &Firing, mode: &str) {
    rec.pane = Some(f.ctx.pane_id.to_string());
    rec.label = f.ctx.pane_label.clone();
    rec.session = Some(f.ctx.session.clone());
    rec.rule = Some(f.ctx.rule.clone());
    rec.line = Some(f.ctx.line.clone());
    rec.mode = Some(mode.to_string());
}

/// The record for a rule matching a line.
pub fn match_record(f: &Firing, mode: &str) -> Record {
    let mut rec = Record::now("match");
    fill_common(&mut rec, f, mode);
    rec.extra.insert("seq".into(), f.seq.into());
    if !f.complete {
        rec.extra.insert("prompt".into(), true.into());
    }
    if !f.ctx.captures.is_empty() {
        let caps: serde_json::Map<String, serde_json::Value> =
            f.ctx.captures.iter().map(|(k, v)| (k.clone(), v.clone().into())).collect();
        rec.extra.insert("captures".into(), caps.into());
    }
    rec
}
