//! The state of the rules' conditions (`silence`, `at_prompt_for`, `all`, `any`, `count`,
//! `sequence`; see [`Condition`]): what each is waiting for, per rule and pane, and the
//! deadlines that make time conditions fire.
//!
//! Pure state machines on an injected clock: every call takes `now` (and the wall-clock
//! `ts_ns` it stamps on what it records), nothing reads the time or sleeps, so unit tests
//! and `replay` drive them deterministically. The engine ([`crate::firing`]) feeds them
//! what it already sees (a pane's output, its shell state, a rule's hits and firings,
//! raised events, panes going) and turns each [`Satisfied`] into a firing; whoever runs the
//! engine calls it back at [`Conditions::next_deadline`] (the daemon arms one timer for it,
//! only while a deadline is pending), which runs [`Conditions::due`].
//!
//! One file per kind: `quiet` (`silence`, `at_prompt_for`), `window` (`all`, `any`),
//! `count`, `sequence`.

mod count;
mod quiet;
mod sequence;
mod window;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use regex_automata::meta::Regex;
use tmux_control_parser::PaneId;

use crate::eventlog::ConditionPart;
use crate::rules::{Condition, CountPer, RuleSet};
use quiet::{Armed, Quiet};
use sequence::{Progress, Step};
use window::{Outcome, Window};

/// A rule whose condition holds (or, for an `all` with `within`, timed out).
#[derive(Clone, Debug, PartialEq)]
pub struct Satisfied {
    /// Index of the rule in the rule set the conditions were built for.
    pub rule: usize,
    /// The pane it fired for (`silence`, `count` per pane, `sequence`); `None` when it
    /// spans panes (then the last part's pane is the firing's).
    pub pane: Option<PaneId>,
    /// The `within` of an `all` passed before every part came.
    pub timed_out: bool,
    /// What satisfied it, oldest first (for a timeout: what came).
    pub parts: Vec<ConditionPart>,
    /// The names that did not come (a timeout only).
    pub missing: Vec<String>,
}

/// Every condition's state, for one rule set.
#[derive(Debug)]
pub struct Conditions {
    rules: Arc<RuleSet>,
    /// `silence` and `at_prompt_for` rules, by index.
    silence: Vec<usize>,
    prompt: Vec<usize>,
    /// Which (rule, position) each `all`/`any` name is, by name.
    part_of: HashMap<String, Vec<(usize, usize)>>,
    /// `sequence` steps by rule.
    steps: HashMap<usize, Vec<Step>>,
    quiet: Quiet,
    /// Open `all`/`any` windows by rule.
    windows: HashMap<usize, Window>,
    /// No rule has a condition.
    empty: bool,
    /// `count` windows by rule and pane (`None`: `per = "rule"`).
    counters: HashMap<(usize, Option<PaneId>), count::Counter>,
    /// `sequence` progress by rule and pane.
    progress: HashMap<(usize, PaneId), Progress>,
}

impl Conditions {
    /// The conditions of `rules`, nothing armed.
    pub fn new(rules: Arc<RuleSet>) -> Conditions {
        let mut c = Conditions {
            rules: rules.clone(),
            silence: Vec::new(),
            prompt: Vec::new(),
            part_of: HashMap::new(),
            steps: HashMap::new(),
            quiet: Quiet::default(),
            windows: HashMap::new(),
            counters: HashMap::new(),
            progress: HashMap::new(),
            empty: !rules.rules.iter().any(|r| r.condition.is_some()),
        };
        for (idx, rule) in rules.rules.iter().enumerate() {
            match &rule.condition {
                Some(Condition::Silence(_)) => c.silence.push(idx),
                Some(Condition::AtPromptFor(_)) => c.prompt.push(idx),
                Some(Condition::All { parts, .. } | Condition::Any { parts, .. }) => {
                    for (pos, name) in parts.iter().enumerate() {
                        c.part_of.entry(name.clone()).or_default().push((idx, pos));
                    }
                }
                Some(Condition::Sequence { steps, .. }) => {
                    let steps = steps
                        .iter()
                        .map(|s| Step { pattern: s.clone(), regex: compile_step(&rule.name, s) })
                        .collect();
                    c.steps.insert(idx, steps);
                }
                Some(Condition::Count { .. }) | None => {}
            }
        }
        c
    }

    /// The conditions of `rules` replacing these (a reload): the state of every rule
    /// whose definition is unchanged (same name, same everything) is kept; the rest start
    /// afresh.
    pub fn reload(&mut self, rules: Arc<RuleSet>) -> Conditions {
        let mut next = Conditions::new(rules.clone());
        let mut map = HashMap::new();
        for (new, rule) in rules.rules.iter().enumerate() {
            if rule.condition.is_none() {
                continue;
            }
            if let Some(old) = self.rules.rules.iter().position(|o| o == rule) {
                map.insert(old, new);
            }
        }
        next.quiet = std::mem::take(&mut self.quiet);
        next.quiet.remap(&map);
        let moved = |old: usize| map.get(&old).copied();
        next.windows = self.windows.drain().filter_map(|(r, w)| Some((moved(r)?, w))).collect();
        next.counters =
            self.counters.drain().filter_map(|((r, p), c)| Some(((moved(r)?, p), c))).collect();
        next.progress =
            self.progress.drain().filter_map(|((r, p), s)| Some(((moved(r)?, p), s))).collect();
        next
    }

    /// Whether no rule has a condition (the engine skips every call then).
    pub fn is_empty(&self) -> bool {
        self.empty
    }

    /// How many conditions wait on something: armed quiet timers, open windows, counts
    /// and sequences under way.
    pub fn pending(&self) -> usize {
        self.quiet.len()
            + self.windows.len()
            + self.counters.values().filter(|c| c.len() > 0).count()
            + self.progress.len()
    }

    /// `pane` (labelled `label`) printed at `now` (`ts_ns`), its line count now `seq`,
    /// its shell reading a command line (`at_prompt`) or not: its `silence` timers start
    /// again, its `at_prompt_for` timers too while it waits at the prompt (else they stop).
    pub fn on_output(
        &mut self,
        pane: PaneId,
        label: Option<&str>,
        at_prompt: bool,
        now: Instant,
        ts_ns: u64,
        seq: u64,
    ) {
        let rules = &self.rules.rules;
        for &idx in &self.silence {
            let rule = &rules[idx];
            if let (Some(Condition::Silence(d)), true) =
                (&rule.condition, rule.pane.matches(pane, label))
            {
                self.quiet.arm(idx, pane, Armed { due: now + *d, since_ns: ts_ns, seq });
            }
        }
        for &idx in &self.prompt {
            let rule = &rules[idx];
            let Some(Condition::AtPromptFor(d)) = &rule.condition else { continue };
            if at_prompt && rule.pane.matches(pane, label) {
                self.quiet.arm(idx, pane, Armed { due: now + *d, since_ns: ts_ns, seq });
            } else {
                self.quiet.disarm(idx, pane);
            }
        }
    }

    /// `pane` took the label `label`: a `silence` that now selects it starts timing from
    /// now (it printed nothing since: a pane labelled after its last output is quiet
    /// too), one that no longer selects it stops. `seq` as [`Conditions::on_output`].
    pub fn on_label(
        &mut self,
        pane: PaneId,
        label: Option<&str>,
        now: Instant,
        ts_ns: u64,
        seq: u64,
    ) {
        let rules = &self.rules.rules;
        for &idx in &self.silence {
            let rule = &rules[idx];
            let Some(Condition::Silence(d)) = &rule.condition else { continue };
            match rule.pane.matches(pane, label) {
                true if !self.quiet.is_armed(idx, pane) => {
                    self.quiet.arm(idx, pane, Armed { due: now + *d, since_ns: ts_ns, seq });
                }
                true => {}
                false => self.quiet.disarm(idx, pane),
            }
        }
    }

    /// A line of `pane` matched the pattern of `rule`, a `count` or `sequence` rule (its
    /// selector and `source` already passed). Returns whether the condition now holds.
    pub fn on_hit(
        &mut self,
        rule: usize,
        pane: PaneId,
        line: &str,
        part: ConditionPart,
        now: Instant,
    ) -> Option<Satisfied> {
        let satisfied =
            |pane, parts| Satisfied { rule, pane, timed_out: false, parts, missing: Vec::new() };
        match &self.rules.rules.get(rule)?.condition {
            Some(Condition::Count { n, within, per }) => {
                let key = match per {
                    CountPer::Pane => Some(pane),
                    CountPer::Rule => None,
                };
                let parts =
                    self.counters.entry((rule, key)).or_default().hit(*n, *within, now, part)?;
                self.counters.remove(&(rule, key));
                Some(satisfied(Some(pane), parts))
            }
            Some(Condition::Sequence { within, .. }) => {
                let steps = self.steps.get(&rule)?;
                let mut progress = self.progress.remove(&(rule, pane));
                let done = sequence::line(&mut progress, steps, *within, line, part, now);
                if let Some(p) = progress {
                    self.progress.insert((rule, pane), p);
                }
                Some(satisfied(Some(pane), done?))
            }
            _ => None,
        }
    }

    /// Whether `name` is a part of some `all`/`any` (a rule's firing or an event worth
    /// offering to [`Conditions::on_part`]).
    pub fn is_part(&self, name: &str) -> bool {
        self.part_of.contains_key(name)
    }

    /// The rule or event `name` fired at `now` (`part` says where): each `all`/`any` that
    /// names it moves on; those that hold are appended to `out`. A window whose time ran
    /// out is timed out first (also appended), as if [`Conditions::due`] had run.
    pub fn on_part(
        &mut self,
        name: &str,
        part: &ConditionPart,
        now: Instant,
        out: &mut Vec<Satisfied>,
    ) {
        let Some(places) = self.part_of.get(name) else { return };
        for &(rule, pos) in places {
            let Some(condition) = &self.rules.rules[rule].condition else { continue };
            let mut open = self.windows.remove(&rule);
            let outcome = match condition {
                Condition::All { parts, within } => {
                    // The timer ran late: the window's end passed before this part (one
                    // at the very end still counts).
                    let late = window::timed_out(&mut open, parts, *within, now, true);
                    if let Some((came, missing)) = late {
                        out.push(timeout(rule, came, missing));
                    }
                    window::all_part(&mut open, parts.len(), pos, part.clone(), now)
                }
                Condition::Any { parts, within } => {
                    window::any_part(&mut open, parts.len(), *within, pos, part.clone(), now)
                }
                _ => Outcome::Waiting,
            };
            if let Some(w) = open {
                self.windows.insert(rule, w);
            }
            if let Outcome::Fired(parts) = outcome {
                out.push(Satisfied { rule, pane: None, timed_out: false, parts, missing: vec![] });
            }
        }
    }

    /// `pane` is gone (closed, or its process exited): its quiet timers, counts and
    /// sequences are dropped. Parts it gave to an `all`/`any` stay: they did happen.
    pub fn pane_gone(&mut self, pane: PaneId) {
        self.quiet.pane_gone(pane);
        self.counters.retain(|(_, p), _| *p != Some(pane));
        self.progress.retain(|(_, p), _| *p != pane);
    }

    /// Every pane is forgotten (a new tmux server).
    pub fn clear_panes(&mut self) {
        self.quiet = Quiet::default();
        self.counters.retain(|(_, p), _| p.is_none());
        self.progress.clear();
    }

    /// Runs what is due by `now`: quiet timers that ran out (a `silence` or
    /// `at_prompt_for` holds) and `all` windows whose `within` passed (timed out), in
    /// deadline order; appended to `out`.
    pub fn due(&mut self, now: Instant, out: &mut Vec<Satisfied>) {
        for (rule, pane, armed) in self.quiet.take_due(now) {
            let part = ConditionPart {
                name: "last output".into(),
                pane: Some(pane.to_string()),
                seq: Some(armed.seq),
                ts_ns: armed.since_ns,
                ..ConditionPart::default()
            };
            out.push(Satisfied {
                rule,
                pane: Some(pane),
                timed_out: false,
                parts: vec![part],
                missing: vec![],
            });
        }
        let mut expired: Vec<(Instant, usize)> = self
            .windows
            .iter()
            .filter_map(|(&rule, w)| {
                let Some(Condition::All { within, .. }) = &self.rules.rules[rule].condition else {
                    return None;
                };
                w.deadline(*within).filter(|&d| d <= now).map(|d| (d, rule))
            })
            .collect();
        expired.sort_unstable();
        for (_, rule) in expired {
            let Some(Condition::All { parts, within }) = &self.rules.rules[rule].condition else {
                continue;
            };
            let mut open = self.windows.remove(&rule);
            if let Some((came, missing)) = window::timed_out(&mut open, parts, *within, now, false)
            {
                out.push(timeout(rule, came, missing));
            }
        }
    }

    /// The earliest deadline pending: a quiet timer or an `all`'s `within`. `None` while
    /// nothing waits on time (then nothing needs to wake).
    pub fn next_deadline(&self) -> Option<Instant> {
        let windows =
            self.windows.iter().filter_map(|(&rule, w)| match &self.rules.rules[rule].condition {
                Some(Condition::All { within, .. }) => w.deadline(*within),
                _ => None,
            });
        self.quiet.next().into_iter().chain(windows).min()
    }
}

fn timeout(rule: usize, parts: Vec<ConditionPart>, missing: Vec<String>) -> Satisfied {
    Satisfied { rule, pane: None, timed_out: true, parts, missing }
}

/// A `sequence` step compiled on its own. It was checked with the rules file and
/// compiled into the rules' matcher; if it cannot be compiled alone (a size limit), it
/// never matches and the rule says so in the log.
fn compile_step(rule: &str, pattern: &str) -> Option<Regex> {
    match Regex::new(pattern) {
        Ok(re) => Some(re),
        Err(e) => {
            tracing::warn!("rule {rule}: sequence step `{pattern}` cannot be compiled: {e}");
            None
        }
    }
}

#[cfg(test)]
mod tests;
