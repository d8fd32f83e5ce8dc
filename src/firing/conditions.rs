//! The engine's side of the rules' conditions ([`crate::conditions`]): it offers them what
//! it sees (each output's pane and shell state, the hits of `count` and `sequence` rules,
//! the firings and events an `all`/`any` names, panes going) and turns each condition
//! that holds into a [`Firing`] carrying what satisfied it ([`ConditionFired`]), under the
//! rule's `once` and `cooldown` like any firing.
//!
//! Time comes in as arguments (`now`), so tests and `replay` drive it; the daemon calls
//! [`Engine::conditions_due`] at [`Engine::next_condition_deadline`], and hears of an
//! earlier deadline through the hook it installs ([`Engine::set_deadline_hook`]).

use std::time::{Duration, Instant};

use tmux_control_parser::PaneId;

use super::{Engine, Firing, Hit, Region};
use crate::conditions::Satisfied;
use crate::eventlog::ConditionPart;
use crate::panes::PaneInfo;
use crate::rules::Condition;

/// What satisfied a firing of a rule with a condition (the `condition` record's body).
#[derive(Clone, Debug, PartialEq)]
pub struct ConditionFired {
    /// The condition's key (`silence`, `all`, ...).
    pub condition: &'static str,
    /// An `all`'s `within` passed first: the rule's `timeout_actions` run.
    pub timed_out: bool,
    /// What satisfied it, oldest first.
    pub parts: Vec<ConditionPart>,
    /// What did not come (a timeout only).
    pub missing: Vec<String>,
}

/// Called (under the engine's lock, so it must be quick and never lock it) when a
/// condition's deadline comes earlier than the one last taken with
/// [`Engine::next_condition_deadline`].
pub type DeadlineHook = Box<dyn Fn() + Send>;

impl Engine {
    /// Installs the hook told of each earlier deadline (the daemon's timer task wakes on
    /// it and sleeps to [`Engine::next_condition_deadline`]).
    pub fn set_deadline_hook(&mut self, hook: DeadlineHook) {
        self.deadline_hook = Some(hook);
    }

    /// The earliest pending condition deadline (`None`: nothing waits on time); from now
    /// on, only a deadline earlier than it calls the hook.
    pub fn next_condition_deadline(&mut self) -> Option<Instant> {
        self.announced = self.conditions.next_deadline();
        self.announced
    }

    /// Runs the conditions due by `now` (quiet spells that lasted, `all`s whose `within`
    /// passed), appends their firings (and those of `all`/`any`s they complete) to `out`,
    /// and returns the next deadline, as [`Engine::next_condition_deadline`].
    pub fn conditions_due(
        &mut self,
        now: Instant,
        ts_ns: u64,
        out: &mut Vec<Firing>,
    ) -> Option<Instant> {
        let from = out.len();
        let mut due = Vec::new();
        self.conditions.due(now, &mut due);
        for s in due {
            self.push_satisfied(s, now, ts_ns, out);
        }
        self.chain(out, from, now, ts_ns);
        self.next_condition_deadline()
    }

    /// How many conditions wait on something (armed timers, open windows, counts and
    /// sequences under way).
    pub fn conditions_pending(&self) -> usize {
        self.conditions.pending()
    }

    /// After a feed of `pane` that appended `out[from..]`: its quiet timers start again,
    /// and the firings are offered to the `all`/`any`s that name them.
    pub(super) fn conditions_after_output(
        &mut self,
        pane: PaneId,
        from: usize,
        now: Instant,
        ts_ns: u64,
        out: &mut Vec<Firing>,
    ) {
        if let Some(p) = self.panes.get(&pane) {
            let seq = p.text.ring().total_lines();
            let at_prompt = p.shell.reading_input();
            self.conditions.on_output(pane, p.info.label.as_deref(), at_prompt, now, ts_ns, seq);
        }
        self.chain(out, from, now, ts_ns);
        self.wake();
    }

    /// A line or row of `pane` matched `rule`, which has a condition (a `count` or a
    /// `sequence`): it fires when the condition now holds.
    pub(super) fn condition_hit(
        &mut self,
        pane: PaneId,
        info: &PaneInfo,
        rule: usize,
        m: Hit<'_>,
        now: Instant,
        ts_ns: u64,
        out: &mut Vec<Firing>,
    ) {
        let part = ConditionPart {
            name: self.rules.rules[rule].pattern.clone(),
            pane: Some(pane.to_string()),
            label: info.label.clone(),
            line: Some(m.line.to_string()),
            seq: Some(m.seq),
            ts_ns,
        };
        if let Some(s) = self.conditions.on_hit(rule, pane, m.line, part, now) {
            let screen = m.region == Region::Screen;
            self.push_satisfied_as(s, now, ts_ns, screen, out);
        }
    }

    /// Offers the firings `out[from..]` (and those they bring about) to the `all`/`any`
    /// conditions naming their rules.
    pub(super) fn chain(&mut self, out: &mut Vec<Firing>, from: usize, now: Instant, ts_ns: u64) {
        let mut i = from;
        let mut held = Vec::new();
        while i < out.len() {
            let f = &out[i];
            i += 1;
            let timed_out = f.condition.as_ref().is_some_and(|c| c.timed_out);
            if timed_out || !self.conditions.is_part(&f.ctx.rule) {
                continue;
            }
            let part = ConditionPart {
                name: f.ctx.rule.clone(),
                pane: Some(f.ctx.pane_id.to_string()),
                label: f.ctx.pane_label.clone(),
                line: Some(f.ctx.line.clone()),
                seq: (f.seq > 0).then_some(f.seq),
                ts_ns: if f.ts_ns > 0 { f.ts_ns } else { ts_ns },
            };
            let name = f.ctx.rule.clone();
            self.conditions.on_part(&name, &part, now, &mut held);
            for s in held.drain(..) {
                self.push_satisfied(s, now, ts_ns, out);
            }
        }
    }

    /// The event `name` was raised (an `emit`) from `cause`'s pane at `now`: the
    /// `all`/`any`s naming it move on; those that hold are appended to `out`.
    pub(super) fn event_part(
        &mut self,
        name: &str,
        cause: &crate::action::ActionContext,
        now: Instant,
        ts_ns: u64,
        out: &mut Vec<Firing>,
    ) {
        if !self.conditions.is_part(name) {
            return;
        }
        let part = ConditionPart {
            name: name.to_string(),
            pane: Some(cause.pane_id.to_string()),
            label: cause.pane_label.clone(),
            line: Some(cause.line.clone()),
            seq: None,
            ts_ns,
        };
        let mut held = Vec::new();
        self.conditions.on_part(name, &part, now, &mut held);
        let from = out.len();
        for s in held {
            self.push_satisfied(s, now, ts_ns, out);
        }
        self.chain(out, from, now, ts_ns);
        self.wake();
    }

    /// Calls the deadline hook when the earliest deadline is now earlier than the one
    /// last taken (or there was none).
    pub(super) fn wake(&mut self) {
        let next = self.conditions.next_deadline();
        let earlier = match (next, self.announced) {
            (Some(n), Some(a)) => n < a,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if earlier {
            self.announced = next;
            if let Some(hook) = &self.deadline_hook {
                hook();
            }
        }
    }

    fn push_satisfied(&mut self, s: Satisfied, now: Instant, ts_ns: u64, out: &mut Vec<Firing>) {
        self.push_satisfied_as(s, now, ts_ns, false, out);
    }

    /// The firing of a condition that holds, under the rule's `once` and `cooldown`.
    fn push_satisfied_as(
        &mut self,
        s: Satisfied,
        now: Instant,
        ts_ns: u64,
        screen: bool,
        out: &mut Vec<Firing>,
    ) {
        let rules = self.rules.clone();
        let Some(rule) = rules.rules.get(s.rule) else { return };
        let Some(condition) = &rule.condition else { return };
        let last_pane = s.parts.last().and_then(|p| p.pane.as_deref()?.parse::<PaneId>().ok());
        let Some(pane) = s.pane.or(last_pane) else { return };
        if rule.once && !self.fired_once.insert(s.rule) {
            return;
        }
        if let Some(cd) = rule.cooldown {
            if let Some(last) = self.last_fire.get(&(s.rule, pane)) {
                if now.saturating_duration_since(*last) < cd {
                    return;
                }
            }
        }
        self.counts[s.rule] += 1;
        self.last_fire.insert((s.rule, pane), now);
        let info = self.panes.get(&pane).map(|p| p.info.clone()).unwrap_or_default();
        let mut parts = s.parts;
        for part in &mut parts {
            let Some(p) = part.pane.as_deref().and_then(|p| p.parse::<PaneId>().ok()) else {
                continue;
            };
            let Some(state) = self.panes.get(&p) else { continue };
            if part.label.is_none() {
                part.label = state.info.label.clone();
            }
            if part.line.is_none() {
                // A quiet spell: the pane's last line, as it stands.
                let ring = state.text.ring();
                let last = ring.last_lines(1).pop().filter(|l| !l.is_empty());
                part.line = last.or_else(|| ring.lines().last().map(str::to_string));
            }
        }
        let names = || parts.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", ");
        let last_line = parts.last().and_then(|p| p.line.clone()).unwrap_or_default();
        let (line, mut captures) = match condition {
            Condition::Count { .. } | Condition::Sequence { .. } => {
                let caps = match screen {
                    true => self.screens.compiled().captures(s.rule, &last_line),
                    false => self.matcher.captures(s.rule, &last_line),
                };
                (last_line.clone(), caps)
            }
            Condition::Silence(d) => (format!("silent for {}", duration_text(*d)), vec![]),
            Condition::AtPromptFor(d) => {
                (format!("at the prompt for {}", duration_text(*d)), vec![])
            }
            Condition::All { within, .. } if s.timed_out => (
                format!(
                    "not all within {}: missing {}",
                    within.map(duration_text).unwrap_or_default(),
                    s.missing.join(", ")
                ),
                vec![("missing".to_string(), s.missing.join(" "))],
            ),
            Condition::All { .. } => (format!("all of {}", names()), vec![]),
            Condition::Any { .. } => (format!("any of: {}", names()), vec![]),
        };
        captures.push(("parts".to_string(), parts.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(" ")));
        let seq = parts.last().and_then(|p| p.seq).unwrap_or(0);
        let fired = ConditionFired {
            condition: condition.key(),
            timed_out: s.timed_out,
            parts,
            missing: s.missing,
        };
        out.push(Firing {
            ts_ns,
            seq,
            condition: Some(Box::new(fired)),
            ..self.firing(s.rule, pane, &info, line, captures)
        });
    }
}

/// A duration as the rules file writes it: `5m`, `1h30m`, `10s`, `250ms`.
pub fn duration_text(d: Duration) -> String {
    let ms = d.as_millis();
    if ms % 1000 != 0 {
        return format!("{ms}ms");
    }
    let (h, m, s) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60);
    let mut out = String::new();
    for (n, unit) in [(h, "h"), (m, "m"), (s, "s")] {
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    if out.is_empty() {
        out.push_str("0s");
    }
    out
}
