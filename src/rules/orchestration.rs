//! The orchestration parts of the rules file: `[[pane]]` entries (permanent panes with
//! start order and readiness), the `spawn`/`close`/`send`/`emit` actions, and rule
//! triggers other than output (`on = "exit"`, `on = "event"`).
//!
//! Tables are read with serde (`deny_unknown_fields`) from the kept `toml::Value`, and
//! every mistake is reported at the table's position with the rule or pane it is in.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use toml::{Spanned, Value};

use super::duration::parse_duration;
use super::error::{RulesError, Source};
use crate::action::{SendAction, SpawnAction};
use crate::tmux::ops::PaneCommand;

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
}

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
    pub spawn: SpawnAction,
    /// Labels of panes that must be ready first.
    pub after: Vec<String>,
    /// Ready when a line matches this; `None`: ready once started.
    pub ready: Option<String>,
    /// Failed when a line matches this before `ready` does.
    pub fail: Option<String>,
    /// Failed if not ready within this time.
    pub ready_timeout: Option<Duration>,
}

/// Fields shared by `[[pane]]` and the `spawn` action.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSpawn {
    label: String,
    command: Option<Vec<String>>,
    shell: Option<String>,
    cwd: Option<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    meta: toml::Table,
    window: Option<bool>,
    beside: Option<String>,
    split: Option<String>,
    size: Option<String>,
    keep: Option<bool>,
    #[serde(default)]
    replace: bool,
    // [[pane]] only; refused in a spawn action.
    #[serde(default)]
    after: Vec<String>,
    ready: Option<String>,
    fail: Option<String>,
    ready_timeout: Option<String>,
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

    fn raw_spawn(&self, value: &Spanned<Value>, what: &str) -> Result<RawSpawn, RulesError> {
        RawSpawn::deserialize(value.get_ref().clone()).map_err(|e| {
            let msg = e.to_string().trim().trim_end_matches('.').replace('\n', "; ");
            self.err(value.span(), format!("invalid {what}: {msg}"))
        })
    }

    fn spawn_from(
        &self,
        raw: &RawSpawn,
        span: std::ops::Range<usize>,
        default_keep: bool,
    ) -> Result<SpawnAction, RulesError> {
        if raw.label.is_empty() || raw.label.chars().any(char::is_control) {
            return Err(self
                .err(span, "`label` must be a non-empty name without control characters".into()));
        }
        let command = match (&raw.command, &raw.shell) {
            (Some(_), Some(_)) => {
                return Err(self.err(
                    span,
                    "give either `command` (an argv) or `shell` (a string for sh -c), not both"
                        .into(),
                ))
            }
            (Some(argv), None) if argv.is_empty() || argv[0].is_empty() => {
                return Err(
                    self.err(span, "`command` is empty; name the program and its arguments".into())
                )
            }
            (Some(argv), None) => Some(PaneCommand::Argv(argv.clone())),
            (None, Some(sh)) => Some(PaneCommand::Shell(sh.clone())),
            (None, None) => None,
        };
        if raw.window == Some(true) && raw.beside.is_some() {
            return Err(self.err(
                span,
                "give either `window = true` or `beside = \"label\"`, not both".into(),
            ));
        }
        let horizontal = match raw.split.as_deref() {
            None | Some("v") => false,
            Some("h") => true,
            Some(other) => {
                return Err(self.err(
                    span,
                    format!("`split` is `{other}`; use \"h\" (side by side) or \"v\" (stacked)"),
                ))
            }
        };
        if raw.beside.is_none() && (raw.split.is_some() || raw.size.is_some()) {
            return Err(self.err(
                span,
                "`split` and `size` need `beside = \"label\"` (the pane to split)".into(),
            ));
        }
        if let Some(size) = &raw.size {
            let digits = size.strip_suffix('%').unwrap_or(size);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(self.err(
                    span,
                    format!("`size` is `{size}`; use cells (`20`) or a percentage (`30%`)"),
                ));
            }
        }
        for name in raw.env.keys() {
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(
                    self.err(span, format!("`env` name `{name}` is not a valid variable name"))
                );
            }
        }
        let meta = raw
            .meta
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::to_value(v).unwrap_or(serde_json::Value::Null)))
            .collect();
        Ok(SpawnAction {
            label: raw.label.clone(),
            command,
            cwd: raw.cwd.as_ref().map(PathBuf::from),
            env: raw.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            meta,
            beside: raw.beside.clone(),
            horizontal,
            size: raw.size.clone(),
            keep: raw.keep.unwrap_or(default_keep),
            replace: raw.replace,
        })
    }

    /// `{ spawn = { ... } }`.
    pub fn spawn_action(&self, value: &Spanned<Value>) -> Result<SpawnAction, RulesError> {
        let raw = self.raw_spawn(value, "spawn action")?;
        if !raw.after.is_empty()
            || raw.ready.is_some()
            || raw.fail.is_some()
            || raw.ready_timeout.is_some()
        {
            return Err(self.err(
                value.span(),
                "`after`, `ready`, `fail` and `ready_timeout` belong to [[pane]] entries, not to a spawn action".into(),
            ));
        }
        self.spawn_from(&raw, value.span(), false)
    }

    /// `{ send = { pane, text, enter } }`.
    pub fn send_action(&self, value: &Spanned<Value>) -> Result<SendAction, RulesError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct RawSend {
            pane: String,
            text: String,
            #[serde(default)]
            enter: bool,
        }
        let raw = RawSend::deserialize(value.get_ref().clone()).map_err(|e| {
            let msg = e.to_string().trim().trim_end_matches('.').replace('\n', "; ");
            self.err(value.span(), format!("invalid send action: {msg}; write {{ send = {{ pane = \"label\", text = \"...\", enter = true }} }}"))
        })?;
        Ok(SendAction { pane: raw.pane, text: raw.text, enter: raw.enter })
    }

    /// A string-valued action (`close = "label"`, `emit = "name"`).
    pub fn name_action(&self, value: &Spanned<Value>, kind: &str) -> Result<String, RulesError> {
        match value.get_ref().as_str() {
            Some(s) if !s.is_empty() => Ok(s.to_string()),
            _ => Err(self.err(
                value.span(),
                format!("`{kind}` takes a non-empty string, e.g. {{ {kind} = \"name\" }}"),
            )),
        }
    }

    /// `on`, `status` and `event` of a rule.
    pub fn trigger(
        &self,
        on: Option<&Spanned<String>>,
        status: Option<&Spanned<Value>>,
        event: Option<&Spanned<String>>,
        table: std::ops::Range<usize>,
    ) -> Result<Trigger, RulesError> {
        let kind = on.map(|o| o.get_ref().as_str()).unwrap_or("output");
        if kind != "exit" {
            if let Some(s) = status {
                return Err(
                    self.err(s.span(), "`status` only applies to `on = \"exit\"` rules".into())
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
        match kind {
            "output" => Ok(Trigger::Output),
            "exit" => {
                let filter = match status {
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
                };
                Ok(Trigger::Exit(filter))
            }
            "event" => match event {
                Some(e) if !e.get_ref().is_empty() => Ok(Trigger::Event(e.get_ref().clone())),
                _ => Err(self.err(table, "an `on = \"event\"` rule needs `event = \"name\"` (the name an emit action raises)".into())),
            },
            other => Err(self.err(
                on.map(|o| o.span()).unwrap_or(table),
                format!("unknown trigger `on = \"{other}\"`; use \"output\" (default), \"exit\" or \"event\""),
            )),
        }
    }

    /// All `[[pane]]` entries: each valid, labels unique, `after` naming known panes, no cycles.
    pub fn panes(&self, raw: &[Spanned<Value>]) -> Result<Vec<PaneSpec>, RulesError> {
        let mut out: Vec<PaneSpec> = Vec::new();
        let mut spans = HashMap::new();
        for value in raw {
            let r = self.raw_spawn(value, "[[pane]]")?;
            let checker = Checker { source: self.source, rule: None };
            let spawn = checker.spawn_from(&r, value.span(), true)?;
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
            out.push(PaneSpec {
                spawn,
                after: r.after,
                ready: r.ready,
                fail: r.fail,
                ready_timeout,
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
