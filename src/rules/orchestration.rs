//! The orchestration parts of the rules file: `[[pane]]` entries (permanent panes with
//! start order and readiness) and rule triggers other than output (`on = "exit"`,
//! `on = "event"`). The pane actions (`spawn`, `close`, `send`, `emit`) are read by their
//! own modules in [`crate::action`]; a `[[pane]]` is read as a spawn table
//! ([`SpawnTable`]) plus its start-order fields.
//!
//! Tables are read with serde (`deny_unknown_fields`) from the kept `toml::Value`, and
//! every mistake is reported at the table's position with the rule or pane it is in.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use toml::{Spanned, Value};

use super::error::{RulesError, Source};
use crate::action::duration::parse_duration;
use crate::action::spawn::SpawnTable;
use crate::action::SpawnSpec;

/// What makes a rule fire.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Trigger {
    /// A line of pane output matching the rule's pattern (the default).
    #[default]
    Output,
    /// A pane's process exiting with a status the filter accepts.
    Exit(StatusFilter),
    /// A named event raised by an `emit` action.
    Event(String),
    /// A shell command finishing in a pane with shell integration (`on = "command"`),
    /// with a status the filter accepts and, with `cmdline`, a command line matching it.
    Command(StatusFilter, Option<CmdlinePattern>),
}

/// The `cmdline` regex of an `on = "command"` rule, compiled once.
#[derive(Debug, Clone)]
pub struct CmdlinePattern {
    /// The regex as written.
    pub pattern: String,
    regex: Arc<regex_automata::meta::Regex>,
}

impl CmdlinePattern {
    /// Whether a command line matches (anywhere in it, as rule patterns do).
    pub fn is_match(&self, cmdline: &str) -> bool {
        self.regex.is_match(cmdline)
    }
}

impl PartialEq for CmdlinePattern {
    fn eq(&self, other: &CmdlinePattern) -> bool {
        self.pattern == other.pattern
    }
}

impl Eq for CmdlinePattern {}

/// Which exit statuses an `on = "exit"` rule reacts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StatusFilter {
    /// Any exit, including death by a signal.
    #[default]
    Any,
    /// Exit status 0.
    Code(i32),
    /// Anything but a clean 0: a non-zero status or a signal.
    NonZero,
}

impl StatusFilter {
    /// Whether an exit with `status` (None when killed by a signal) passes.
    pub fn accepts(&self, status: Option<i32>) -> bool {
        match self {
            StatusFilter::Any => true,
            StatusFilter::Code(c) => status == Some(*c),
            StatusFilter::NonZero => status != Some(0),
        }
    }
}

/// One validated `[[pane]]`: a permanent pane created at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaneSpec {
    /// How to create it (label, command, placement, ...).
    pub spawn: SpawnSpec,
    /// Labels of panes that must be ready first.
    pub after: Vec<String>,
    /// Ready when a line matches this; `None`: ready once started.
    pub ready: Option<String>,
    /// Failed when a line matches this before `ready` does.
    pub fail: Option<String>,
    /// Failed if not ready within this time.
    pub ready_timeout: Option<Duration>,
    /// Whether and how it is started again when it fails or exits.
    pub restart: Restart,
}

/// When a `[[pane]]` is started again (`restart = "no" | "on-failure" | "always"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RestartWhen {
    /// Never (the default): a failure holds its dependants back for good.
    #[default]
    No,
    /// When it fails: a `fail` line, a non-zero exit or a signal, the `ready_timeout`.
    OnFailure,
    /// Whenever its process exits, and when it fails.
    Always,
}

/// A `[[pane]]`'s restart policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Restart {
    /// When.
    pub when: RestartWhen,
    /// The most restarts; then it counts as failed (`max_restarts`, default 10).
    pub max: u32,
    /// The wait before the first restart (`restart_backoff`, default 1 s); each further
    /// one waits twice as long as the one before, up to [`Restart::MAX_BACKOFF`].
    pub backoff: Duration,
}

impl Restart {
    /// The longest wait between two restarts: 60 s.
    pub const MAX_BACKOFF: Duration = Duration::from_secs(60);

    /// The wait before restart number `n` (1 for the first).
    pub fn delay(&self, n: u32) -> Duration {
        let factor = 1u32.checked_shl(n.saturating_sub(1).min(20)).unwrap_or(u32::MAX);
        self.backoff.saturating_mul(factor).min(Restart::MAX_BACKOFF)
    }
}

impl Default for Restart {
    fn default() -> Restart {
        Restart { when: RestartWhen::No, max: 10, backoff: Duration::from_secs(1) }
    }
}

/// Checks the orchestration parts of one rules file.
pub(super) struct Checker<'a> {
    pub source: Source<'a>,
    /// Rule name, for messages (None for `[[pane]]`).
    pub rule: Option<&'a str>,
}

impl Checker<'_> {
    fn err(&self, span: std::ops::Range<usize>, message: String) -> RulesError {
        self.source.invalid(span, self.rule, message)
    }

    /// `on`, `status`, `event` and `cmdline` of a rule.
    pub fn trigger(
        &self,
        on: Option<&Spanned<String>>,
        status: Option<&Spanned<Value>>,
        event: Option<&Spanned<String>>,
        cmdline: Option<&Spanned<String>>,
        table: std::ops::Range<usize>,
    ) -> Result<Trigger, RulesError> {
        let kind = on.map(|o| o.get_ref().as_str()).unwrap_or("output");
        if kind != "exit" && kind != "command" {
            if let Some(s) = status {
                return Err(self.err(
                    s.span(),
                    "`status` only applies to `on = \"exit\"` and `on = \"command\"` rules".into(),
                ));
            }
        }
        if kind != "command" {
            if let Some(c) = cmdline {
                return Err(
                    self.err(c.span(), "`cmdline` only applies to `on = \"command\"` rules".into())
                );
            }
        }
        if kind != "event" {
            if let Some(e) = event {
                return Err(
                    self.err(e.span(), "`event` only applies to `on = \"event\"` rules".into())
                );
            }
        }
        let filter = || -> Result<StatusFilter, RulesError> {
            Ok(match status {
                None => StatusFilter::Any,
                Some(v) => match v.get_ref() {
                    Value::Integer(i) => StatusFilter::Code(*i as i32),
                    Value::String(s) if s == "any" => StatusFilter::Any,
                    Value::String(s) if s == "nonzero" => StatusFilter::NonZero,
                    _ => {
                        return Err(self.err(
                            v.span(),
                            "`status` is an exit code (0, 3, ...), \"nonzero\" or \"any\"".into(),
                        ))
                    }
                },
            })
        };
        match kind {
            "output" => Ok(Trigger::Output),
            "exit" => Ok(Trigger::Exit(filter()?)),
            "command" => {
                let cmdline = match cmdline {
                    None => None,
                    Some(c) => {
                        let regex = regex_automata::meta::Regex::new(c.get_ref()).map_err(|e| {
                            self.err(c.span(), format!("invalid `cmdline` pattern: {e}"))
                        })?;
                        Some(CmdlinePattern { pattern: c.get_ref().clone(), regex: Arc::new(regex) })
                    }
                };
                Ok(Trigger::Command(filter()?, cmdline))
            }
            "event" => match event {
                Some(e) if !e.get_ref().is_empty() => Ok(Trigger::Event(e.get_ref().clone())),
                _ => Err(self.err(table, "an `on = \"event\"` rule needs `event = \"name\"` (the name an emit action raises)".into())),
            },
            other => Err(self.err(
                on.map(|o| o.span()).unwrap_or(table),
                format!("unknown trigger `on = \"{other}\"`; use \"output\" (default), \"exit\", \"command\" or \"event\""),
            )),
        }
    }

    /// All `[[pane]]` entries: each valid, labels unique, `after` naming known panes, no cycles.
    pub fn panes(&self, raw: &[Spanned<Value>]) -> Result<Vec<PaneSpec>, RulesError> {
        let mut out: Vec<PaneSpec> = Vec::new();
        let mut spans = HashMap::new();
        for value in raw {
            let r = SpawnTable::read(value, "[[pane]]")
                .and_then(|r| Ok((r.spawn(value.span(), true)?, r)));
            let (spawn, r) = r.map_err(|err| self.source.action(err, None))?;
            let at = |m: String| {
                self.source.invalid(value.span(), None, format!("pane `{}`: {m}", r.label))
            };
            if spans.insert(r.label.clone(), value.span()).is_some() {
                return Err(at("duplicate label; each [[pane]] needs its own".into()));
            }
            for (what, p) in [("ready", &r.ready), ("fail", &r.fail)] {
                if let Some(p) = p {
                    if p.contains(['\n', '\r']) {
                        return Err(at(format!("`{what}` pattern contains a line break")));
                    }
                    regex_automata::meta::Regex::new(p)
                        .map_err(|e| at(format!("invalid `{what}` pattern: {e}")))?;
                }
            }
            let ready_timeout = match &r.ready_timeout {
                Some(t) => {
                    Some(parse_duration(t).map_err(|e| at(format!("`ready_timeout`: {e}")))?)
                }
                None => None,
            };
            let when = match r.restart.as_deref() {
                None | Some("no") => RestartWhen::No,
                Some("on-failure") => RestartWhen::OnFailure,
                Some("always") => RestartWhen::Always,
                Some(other) => {
                    return Err(at(format!(
                        "`restart` is `{other}`; use \"no\", \"on-failure\" or \"always\""
                    )))
                }
            };
            let mut restart = Restart { when, ..Restart::default() };
            if let Some(max) = r.max_restarts {
                restart.max = max;
            }
            if let Some(b) = &r.restart_backoff {
                restart.backoff =
                    parse_duration(b).map_err(|e| at(format!("`restart_backoff`: {e}")))?;
            }
            out.push(PaneSpec {
                spawn,
                after: r.after,
                ready: r.ready,
                fail: r.fail,
                ready_timeout,
                restart,
            });
        }
        for p in &out {
            for dep in &p.after {
                if !spans.contains_key(dep) {
                    return Err(self.source.invalid(
                        spans[&p.spawn.label].clone(),
                        None,
                        format!(
                            "pane `{}`: `after` names `{dep}`, which is not a [[pane]] label",
                            p.spawn.label
                        ),
                    ));
                }
            }
        }
        // Cycle check: repeatedly remove panes whose dependencies are all removed.
        let mut done: Vec<&str> = Vec::new();
        while done.len() < out.len() {
            let next = out.iter().find(|p| {
                !done.contains(&p.spawn.label.as_str())
                    && p.after.iter().all(|d| done.contains(&d.as_str()))
            });
            match next {
                Some(p) => done.push(&p.spawn.label),
                None => {
                    let stuck = out
                        .iter()
                        .find(|p| !done.contains(&p.spawn.label.as_str()))
                        .expect("some pane left");
                    return Err(self.source.invalid(
                        spans[&stuck.spawn.label].clone(),
                        None,
                        format!("pane `{}`: `after` dependencies form a cycle", stuck.spawn.label),
                    ));
                }
            }
        }
        Ok(out)
    }
}
