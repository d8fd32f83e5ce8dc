//! The engine's side of the rules' conditions ([`crate::conditions`]): it offers them what
//! it sees (each output's pane and shell state, the hits of `count` and `sequence` rules,
//! the firings and events an `all`/`any` names, panes going) and turns each condition
//! that holds into a [`Firing`] carrying what satisfied it ([`ConditionFired`]), under the
//! rule's `once` and `cooldown` like any firing.
//!
//! Time comes in as arguments (`now`), so tests and `replay` drive it; the daemon calls
//! [`Engine::conditions_due`] at [`Engine::next_condition_deadline`], and hears of an
//! earlier deadline through the hook it installs ([`Engine::set_deadline_hook`]).

use std::time::Instant;

use tmux_control_parser::PaneId;

use super::{Engine, Firing, Hit, Region};
use crate::action::duration::format_duration;
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
    #[allow(clippy::too_many_arguments)] // `fire`'s arguments, handed on
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
            Condition::Count { .. } | Condition::Sequence { .. } | Condition::Any { .. } => {
                let caps = match (screen, condition) {
                    // An `any`'s line is its part's: the rule has no pattern to capture with.
                    (_, Condition::Any { .. }) => vec![],
                    (true, _) => self.screens.compiled().captures(s.rule, &last_line),
                    (false, _) => self.matcher.captures(s.rule, &last_line),
                };
                (last_line.clone(), caps)
            }
            Condition::Silence(d) => (format!("silent for {}", format_duration(*d)), vec![]),
            Condition::AtPromptFor(d) => {
                (format!("at the prompt for {}", format_duration(*d)), vec![])
            }
            Condition::All { within, .. } if s.timed_out => (
                format!(
                    "not all within {}: missing {}",
                    within.map(format_duration).unwrap_or_default(),
                    s.missing.join(", ")
                ),
                vec![("missing".to_string(), s.missing.join(" "))],
            ),
            Condition::All { .. } => (format!("all of {}", names()), vec![]),
        };
        captures.push((
            "parts".to_string(),
            parts.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(" "),
        ));
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

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    fn engine(text: &str) -> Engine {
        Engine::new(crate::rules::parse(text, Path::new("rules.toml")).unwrap()).unwrap()
    }

    fn pane(n: u32) -> PaneId {
        format!("%{n}").parse().unwrap()
    }

    fn labelled(e: &mut Engine, n: u32, label: &str) {
        e.upsert_pane(pane(n), PaneInfo { label: Some(label.into()), ..PaneInfo::default() });
    }

    fn feed(e: &mut Engine, n: u32, text: &str, now: Instant) -> Vec<Firing> {
        let mut out = Vec::new();
        e.on_output(pane(n), text.as_bytes(), now, 1, &mut out);
        out
    }

    const READY: &str = r#"
[[rule]]
name = "api-ready"
pane = "api"
pattern = "listening"
actions = ["log"]

[[rule]]
name = "worker-ready"
pane = "worker"
pattern = "consuming"
actions = ["log"]

[[rule]]
name = "tests"
all = ["api-ready", "worker-ready"]
within = "2s"
actions = [{ exec = ["./run-tests.sh"] }]
timeout_actions = [{ exec = ["./report.sh"] }]
"#;

    #[test]
    fn an_all_fires_with_its_parts_and_panes_and_runs_its_actions() {
        let t0 = Instant::now();
        let mut e = engine(READY);
        labelled(&mut e, 1, "api");
        labelled(&mut e, 2, "worker");
        assert_eq!(feed(&mut e, 1, "listening on 8080\r\n", t0).len(), 1, "the part fires");
        let out = feed(&mut e, 2, "consuming jobs\r\n", t0 + Duration::from_millis(1500));
        assert_eq!(out.len(), 2, "the part, then the `all`");
        let f = &out[1];
        assert_eq!(f.ctx.rule, "tests");
        assert_eq!(f.ctx.pane_label.as_deref(), Some("worker"), "the last part's pane");
        let c = f.condition.as_ref().unwrap();
        assert_eq!(c.condition, "all");
        let where_: Vec<_> =
            c.parts.iter().map(|p| (p.name.as_str(), p.label.as_deref(), p.seq)).collect();
        assert_eq!(
            where_,
            [("api-ready", Some("api"), Some(1)), ("worker-ready", Some("worker"), Some(1))]
        );
        assert_eq!(f.actions()[0].describe(), f.rule().actions[0].describe());
        assert_eq!(e.next_condition_deadline(), None);
    }

    #[test]
    fn an_all_timing_out_runs_its_timeout_actions_naming_the_missing_part() {
        let t0 = Instant::now();
        let mut e = engine(READY);
        labelled(&mut e, 1, "api");
        let pokes = Arc::new(AtomicUsize::new(0));
        let seen = pokes.clone();
        e.set_deadline_hook(Box::new(move || {
            seen.fetch_add(1, Ordering::SeqCst);
        }));
        feed(&mut e, 1, "listening\r\n", t0);
        assert_eq!(pokes.load(Ordering::SeqCst), 1, "the timer is told of the deadline");
        assert_eq!(e.next_condition_deadline(), Some(t0 + Duration::from_secs(2)));
        let mut out = Vec::new();
        assert_eq!(
            e.conditions_due(t0 + Duration::from_millis(1999), 2, &mut out),
            Some(t0 + Duration::from_secs(2))
        );
        assert!(out.is_empty());
        assert_eq!(e.conditions_due(t0 + Duration::from_secs(2), 2, &mut out), None);
        assert_eq!(out.len(), 1);
        let f = &out[0];
        assert!(f.condition.as_ref().unwrap().timed_out);
        assert_eq!(f.ctx.line, "not all within 2s: missing worker-ready");
        assert!(f.ctx.captures.contains(&("missing".into(), "worker-ready".into())));
        assert_eq!(f.actions(), f.rule().timeout_actions.as_slice());
        assert_eq!(f.ts_ns, 2);
    }

    #[test]
    fn a_count_fires_once_per_burst_on_the_last_line_with_its_captures() {
        let t0 = Instant::now();
        let mut e = engine(
            "[[rule]]\nname = \"burst\"\npattern = 'ERROR (?P<code>\\d+)'\ncount = 3\nwithin = \"10s\"\nactions = [\"log\"]\n",
        );
        let out = feed(&mut e, 1, "ERROR 1\r\nok\r\nERROR 2\r\nERROR 3\r\nERROR 4\r\n", t0);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].ctx.line, "ERROR 3");
        assert!(out[0].ctx.captures.contains(&("code".into(), "3".into())));
        let seqs: Vec<_> =
            out[0].condition.as_ref().unwrap().parts.iter().map(|p| p.seq.unwrap()).collect();
        assert_eq!(seqs, [1, 3, 4], "which lines made the burst");
        assert_eq!(e.counts()[0], 1);
    }

    #[test]
    fn a_silence_fires_with_the_panes_last_line_and_not_after_the_pane_exited() {
        let t0 = Instant::now();
        let mut e = engine("[[rule]]\nname = \"hang\"\nsilence = \"5s\"\nactions = [\"log\"]\n");
        feed(&mut e, 1, "compiling foo\r\n", t0);
        feed(&mut e, 2, "compiling bar\r\n", t0);
        e.pane_exited(pane(2), Some(0), 0);
        let mut out = Vec::new();
        e.conditions_due(t0 + Duration::from_secs(5), 9, &mut out);
        assert_eq!(out.len(), 1, "the exited pane is not hanging");
        assert_eq!(out[0].ctx.pane_id, pane(1));
        assert_eq!(out[0].ctx.line, "silent for 5s");
        let part = &out[0].condition.as_ref().unwrap().parts[0];
        assert_eq!(part.line.as_deref(), Some("compiling foo"));
    }

    #[test]
    fn a_pane_labelled_after_its_last_output_is_timed_from_its_label() {
        let t0 = Instant::now();
        let mut e = engine(
            "[[rule]]\nname = \"hang\"\npane = \"build\"\nsilence = \"5s\"\nactions = [\"log\"]\n",
        );
        feed(&mut e, 1, "compiling\r\n", t0);
        feed(&mut e, 2, "compiling\r\n", t0);
        assert_eq!(e.next_condition_deadline(), None, "no pane is selected yet");
        e.set_label(pane(1), Some("build".into()));
        e.set_label(pane(2), Some("build".into()));
        e.set_label(pane(2), Some("docs".into()));
        let mut out = Vec::new();
        e.conditions_due(t0 + Duration::from_secs(6), 9, &mut out);
        let fired: Vec<_> = out.iter().map(|f| f.ctx.pane_id).collect();
        assert_eq!(fired, [pane(1)], "selected once labelled; unselected when relabelled");
    }

    #[test]
    fn a_reload_mid_way_keeps_an_unchanged_rules_window() {
        let t0 = Instant::now();
        let mut e = engine(READY);
        labelled(&mut e, 1, "api");
        labelled(&mut e, 2, "worker");
        feed(&mut e, 1, "listening\r\n", t0);
        let more =
            format!("{READY}\n[[rule]]\nname = \"new\"\npattern = \"x\"\nactions = [\"log\"]\n");
        e.reload(crate::rules::parse(&more, Path::new("rules.toml")).unwrap()).unwrap();
        let out = feed(&mut e, 2, "consuming\r\n", t0 + Duration::from_secs(1));
        assert_eq!(out.iter().filter(|f| f.ctx.rule == "tests").count(), 1);
    }

    #[test]
    fn an_emitted_event_is_a_part() {
        let t0 = Instant::now();
        let mut e = engine(
            "[[rule]]\nname = \"built\"\npattern = \"built\"\nactions = [{ emit = \"artifact\" }]\n\
             [[rule]]\nname = \"ship\"\nall = [\"artifact\", \"built\"]\nactions = [\"log\"]\n",
        );
        let out = feed(&mut e, 1, "built\r\n", t0);
        assert_eq!(out.len(), 1, "the `all` waits for the event too");
        let fired = e.fire_event("artifact", &out[0].ctx);
        assert_eq!(fired.len(), 1);
        assert_eq!(fired[0].ctx.rule, "ship");
    }
}
