//! The engine: pane output in, rule firings out.
//!
//! It owns one [`PaneWatch`](ctmuxd_text::pane::watch::PaneWatch) per pane (screen text,
//! ring, matcher state) and the firing policy: a rule fires at most once per line (the
//! matcher guarantees it), only for panes its selector picks, at most once per daemon life
//! with `once`, and not again within its `cooldown` on the same pane. It does no I/O: the daemon feeds it from the tmux
//! reader tasks and `replay` feeds it from a transcript, so both behave the same.
//!
//! Run-time patterns (`wait-for`, `send --expect`, `subscribe`, readiness) are not rules:
//! they live in [`crate::waiters`], each its own regex, offered only the new lines of the
//! panes they watch. The rules' matcher is compiled from the rules file alone, so adding
//! or removing one never recompiles it nor resets a pane's DFA cache.

mod conditions;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::action::{Action, ActionContext};
use crate::conditions::Conditions;
use crate::eventlog::{CommandEvent, Record};
use crate::panes::{
    FinishedCommand, Life, Pane, PaneInfo, RunCapture, Shell, ShellState, StartState,
};
use crate::rules::{LineSource, Rule, RuleSet, Trigger};
use crate::screens::{ScreenMatcher, ScreenWatch};
pub use crate::waiters::{DynamicMatch, DynamicPattern, DynamicSink};
use crate::waiters::{PatternError, PatternRegex, Waiter, Waiters};
pub use conditions::{ConditionFired, DeadlineHook};
use ctmuxd_text::matcher::{Matcher, MatcherError, PatternSpec};
use ctmuxd_text::pane::watch::{LineMatch, TextEvent};
use tmux_control_parser::{PaneId, SessionId, WindowId};

/// What [`Engine::catch_up`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CatchUp {
    /// Lines fed to the matcher.
    pub fed: usize,
    /// The capture held ctmuxd's last line (else it was fed whole).
    pub aligned: bool,
}

/// A rule that fired on a line: everything its actions need.
#[derive(Clone, Debug)]
pub struct Firing {
    /// The rule set the rule belongs to (rules can be reloaded while actions run).
    pub rules: Arc<RuleSet>,
    /// Index of the rule in `rules.rules`.
    pub rule: usize,
    /// The match, as actions see it.
    pub ctx: ActionContext,
    /// Wall-clock time of detection, ns since the epoch.
    pub ts_ns: u64,
    /// Line sequence number in the pane.
    pub seq: u64,
    /// False when a prompt pattern matched an unterminated line.
    pub complete: bool,
    /// Matched in lines read back from tmux's history after a restart or reconnect
    /// (printed while ctmuxd was not watching), not in the live stream.
    pub catch_up: bool,
    /// For a rule with a condition: what satisfied it (a `condition` record says it).
    pub condition: Option<Box<ConditionFired>>,
}

impl Firing {
    /// The rule that fired.
    pub fn rule(&self) -> &Rule {
        &self.rules.rules[self.rule]
    }

    /// The actions to run: the rule's `timeout_actions` when its `all` timed out, else
    /// its `actions`.
    pub fn actions(&self) -> &[Action] {
        match &self.condition {
            Some(c) if c.timed_out => &self.rule().timeout_actions,
            _ => &self.rule().actions,
        }
    }
}

/// A rule set's patterns compiled: the line rules into one matcher, the screen rules
/// (`screen = true`) into another.
#[derive(Debug)]
pub struct CompiledRules {
    /// Every rule, in rule order (screen and non-output rules never match a line).
    pub lines: Matcher,
    /// The screen rules.
    pub screen: ScreenMatcher,
}

/// Compiles the patterns of a rule set. Only the rules go in: run-time patterns are
/// matched apart (see [`crate::waiters`]).
///
/// # Errors
/// [`CompileError`] naming the file and the rule whose pattern cannot be compiled.
pub fn compile(rules: &RuleSet) -> Result<CompiledRules, CompileError> {
    let lines = compile_lines(rules)?;
    let screen = ScreenMatcher::compile(rules).map_err(|source| CompileError {
        path: rules.path.clone(),
        rule: rules.rules.get(source.index).map(|r| r.name.clone()),
        source,
    })?;
    Ok(CompiledRules { lines, screen })
}

fn compile_lines(rules: &RuleSet) -> Result<Matcher, CompileError> {
    let specs: Vec<PatternSpec> = rules
        .rules
        .iter()
        .map(|r| match r.screen {
            // Screen rules are matched on rows by `screens`, never on lines.
            true => PatternSpec::line(crate::rules::NEVER_PATTERN),
            false => PatternSpec { pattern: r.pattern.clone(), prompt: r.prompt },
        })
        .collect();
    Matcher::new(&specs).map_err(|source| CompileError {
        path: rules.path.clone(),
        rule: rules.rules.get(source.index).map(|r| r.name.clone()),
        source,
    })
}

/// A rule set whose patterns cannot be compiled into one matcher.
///
/// Displays as ``rules.toml: rule `build`: pattern 0 (`a(`): invalid regex: ...``.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompileError {
    /// The rules file.
    pub path: std::path::PathBuf,
    /// The rule whose pattern failed (`None` when the whole set is too big).
    pub rule: Option<String>,
    /// The matcher's error.
    pub source: MatcherError,
}

impl std::fmt::Display for CompileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.rule {
            Some(rule) => write!(f, "{}: rule `{rule}`: {}", self.path.display(), self.source),
            None => write!(f, "pattern {:?}: {}", self.source.pattern, self.source),
        }
    }
}

impl std::error::Error for CompileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Replaces the rules of the engine behind `engine` with `rules` (a reload), compiled
/// outside its lock so that matching goes on meanwhile; see [`install_compiled`].
///
/// # Errors
/// The rules do not compile; the old ones stay.
pub fn reload_off_lock(
    engine: &std::sync::Mutex<Engine>,
    rules: RuleSet,
) -> Result<(), CompileError> {
    let plan = engine.lock().expect("engine").plan_reload();
    let compiled = plan.compile_rules(&rules)?;
    install_compiled(engine, plan, rules, compiled)
}

/// Installs `rules`, compiled into `compiled` under `plan` outside the lock. When another
/// reload came in between, compiles again (outside the lock) a few times, then under it.
///
/// # Errors
/// The rules do not compile; the old ones stay.
pub fn install_compiled(
    engine: &std::sync::Mutex<Engine>,
    plan: ReloadPlan,
    rules: RuleSet,
    compiled: CompiledRules,
) -> Result<(), CompileError> {
    let (mut plan, mut compiled) = (plan, compiled);
    let mut rules = rules;
    for _ in 0..4 {
        match engine.lock().expect("engine").commit_reload(&plan, rules, compiled) {
            Ok(()) => return Ok(()),
            Err(back) => rules = *back,
        }
        plan = engine.lock().expect("engine").plan_reload();
        compiled = plan.compile_rules(&rules)?;
    }
    engine.lock().expect("engine").reload(rules)
}

/// A reload prepared under the engine's lock by [`Engine::plan_reload`], so that the new
/// rules' matcher (milliseconds, seconds with thousands of rules) is compiled outside it.
#[derive(Clone, Debug)]
pub struct ReloadPlan {
    /// [`Engine`]'s matcher generation when the plan was taken.
    generation: u64,
}

impl ReloadPlan {
    /// Compiles `rules` into one matcher. Call it without holding the engine's lock.
    ///
    /// # Errors
    /// A rule's pattern does not compile (the message names the file and the rule).
    pub fn compile_rules(&self, rules: &RuleSet) -> Result<CompiledRules, CompileError> {
        compile(rules)
    }
}

/// Per-pane text and matching, and the firing policy over all panes.
pub struct Engine {
    rules: Arc<RuleSet>,
    matcher: Arc<Matcher>,
    /// Run-time patterns, each its own small regex, apart from the rules' matcher.
    waiters: Waiters,
    /// Bumped whenever a rules matcher is installed (see [`ReloadPlan`]); never by a
    /// run-time pattern.
    generation: u64,
    /// Matches per rule since start (for `ctmuxd rules`).
    counts: Vec<u64>,
    /// Every pane known, the one place pane state lives (see [`crate::panes`]).
    panes: HashMap<PaneId, Pane>,
    /// Rules with `once` that already fired.
    fired_once: HashSet<usize>,
    /// Last firing per (rule, pane), for cooldowns.
    last_fire: HashMap<(usize, PaneId), Instant>,
    /// Reused per feed so the output path does not allocate.
    scratch: Vec<LineMatch>,
    /// Where each `[[pane]]` entry is in its start order, by label.
    start_states: std::collections::BTreeMap<String, StartState>,
    /// The screen rules and which of them each pane shows.
    screens: ScreenWatch,
    /// Panes that printed since the last [`Engine::on_pause`] (the last one may repeat
    /// an earlier one; deduplicated there).
    touched: Vec<PaneId>,
    /// Where each line of one feed of a shell with integration stands (reused).
    line_regions: Vec<(u64, Region)>,
    /// When each pane's screen was last looked at.
    looked: HashMap<PaneId, Instant>,
    /// Screen looks put off, and when each is due.
    deferred: Vec<(PaneId, Instant)>,
    /// See [`SCREEN_LOOK_INTERVAL`].
    screen_interval: Duration,
    /// Shell commands that finished since the last [`Engine::take_commands`], in order;
    /// the daemon records each (a `command` event) right after the feed that ended it.
    commands: Vec<(PaneId, FinishedCommand)>,
    /// The rules' conditions (`silence`, `all`, `count` ...) and their deadlines.
    conditions: Conditions,
    /// Told of a deadline earlier than `announced` (see [`Engine::set_deadline_hook`]).
    deadline_hook: Option<DeadlineHook>,
    /// The deadline last taken by [`Engine::next_condition_deadline`].
    announced: Option<Instant>,
}

/// How often at most the screen of a pane whose output keeps coming is looked at by
/// screen rules and waiters. PERF: in a 100 MB flood with a screen rule on the
/// flooding pane, looking after every read (a few KB) cost 0.38× the tmux server's CPU;
/// once per 25 ms, the screen costs next to nothing and a match on screen is seen at
/// most 25 ms after it was drawn.
pub const SCREEN_LOOK_INTERVAL: Duration = Duration::from_millis(25);

impl Engine {
    /// An engine for `rules`, compiled into one matcher.
    ///
    /// # Errors
    /// See [`compile`].
    pub fn new(rules: RuleSet) -> Result<Engine, CompileError> {
        let CompiledRules { lines, screen } = compile(&rules)?;
        let matcher = Arc::new(lines);
        let rules = Arc::new(rules);
        Ok(Engine {
            screens: ScreenWatch::new(screen),
            touched: Vec::new(),
            looked: HashMap::new(),
            line_regions: Vec::new(),
            deferred: Vec::new(),
            screen_interval: SCREEN_LOOK_INTERVAL,
            commands: Vec::new(),
            counts: vec![0; rules.rules.len()],
            deadline_hook: None,
            announced: None,
            conditions: Conditions::new(rules.clone()),
            rules,
            matcher,
            waiters: Waiters::new(),
            generation: 0,
            panes: HashMap::new(),
            fired_once: HashSet::new(),
            last_fire: HashMap::new(),
            scratch: Vec::new(),
            start_states: Default::default(),
        })
    }

    /// The rules in force.
    pub fn rules(&self) -> &Arc<RuleSet> {
        &self.rules
    }

    /// Matches per rule since start, in rule order.
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// Replaces the rules (reload). Panes, their text and the run-time patterns are
    /// kept; match counts carry over for rules whose name is unchanged.
    ///
    /// # Errors
    /// The new rules do not compile; the old ones stay in force.
    pub fn reload(&mut self, rules: RuleSet) -> Result<(), CompileError> {
        let plan = self.plan_reload();
        let matcher = plan.compile_rules(&rules)?;
        let installed = self.commit_reload(&plan, rules, matcher);
        debug_assert!(installed.is_ok(), "nothing can change the engine under `&mut self`");
        Ok(())
    }

    /// The generation of the rules' matcher: bumped by each reload, never by run-time
    /// patterns.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The rules' matcher in force.
    pub fn matcher(&self) -> &Arc<Matcher> {
        &self.matcher
    }

    /// Takes a plan for a reload whose matcher is compiled outside the lock
    /// ([`ReloadPlan::compile_rules`]) and installed by [`Engine::commit_reload`].
    pub fn plan_reload(&self) -> ReloadPlan {
        ReloadPlan { generation: self.generation }
    }

    /// Replaces the rules with `rules`, compiled into `matcher` by
    /// [`ReloadPlan::compile_rules`] outside the lock (see [`Engine::reload`]).
    ///
    /// # Errors
    /// Gives `rules` back when another reload was installed since `plan` was taken.
    pub fn commit_reload(
        &mut self,
        plan: &ReloadPlan,
        rules: RuleSet,
        compiled: CompiledRules,
    ) -> Result<(), Box<RuleSet>> {
        if plan.generation != self.generation {
            return Err(Box::new(rules));
        }
        let CompiledRules { lines, screen } = compiled;
        let matcher = Arc::new(lines);
        self.screens = ScreenWatch::new(screen);
        let counts = rules
            .rules
            .iter()
            .map(|r| {
                self.rules
                    .rules
                    .iter()
                    .position(|o| o.name == r.name)
                    .map(|i| self.counts[i])
                    .unwrap_or(0)
            })
            .collect();
        self.counts = counts;
        self.fired_once.clear();
        self.last_fire.clear();
        self.rules = Arc::new(rules);
        self.conditions = self.conditions.reload(self.rules.clone());
        self.install(matcher);
        self.wake();
        Ok(())
    }

    /// Adds a run-time pattern; returns its handle. Compiles its regex under the
    /// caller's lock (one small regex, tens of µs: the rules are not touched); code
    /// that must not hold up the output path compiles it first with
    /// [`Waiter::compile`] and registers it with [`Engine::add_waiter`].
    ///
    /// # Errors
    /// The pattern does not compile.
    pub fn add_dynamic(&mut self, pattern: DynamicPattern) -> Result<u64, PatternError> {
        Ok(self.add_waiter(Waiter::compile(pattern)?))
    }

    /// Registers a run-time pattern compiled outside the lock; returns its handle. From
    /// now on every new line of the panes it watches is offered to it. Compiles nothing
    /// and leaves the rules' matcher and every pane's DFA cache as they are.
    pub fn add_waiter(&mut self, waiter: Waiter) -> u64 {
        self.waiters.add(waiter)
    }

    /// Run-time patterns registered (resolved ones are gone).
    pub fn waiters_len(&self) -> usize {
        self.waiters.len()
    }

    /// Removes a run-time pattern (a subscription that ended, a wait-for that timed out):
    /// its sink is dropped at once (a subscription's stream ends). Nothing is compiled.
    pub fn remove_dynamic(&mut self, id: u64) {
        self.waiters.remove(id);
    }

    fn install(&mut self, matcher: Arc<Matcher>) {
        self.generation += 1;
        for p in self.panes.values_mut() {
            p.text.set_matcher(matcher.clone());
        }
        self.matcher = matcher;
    }

    /// The first of the last `n` complete lines of `pane` that `re` (compiled by the
    /// caller outside the engine's lock) matches, oldest first (for `wait-for --since`).
    pub fn search_recent(&self, pane: PaneId, re: &PatternRegex, n: usize) -> Option<DynamicMatch> {
        let p = self.panes.get(&pane)?;
        let ring = p.text.ring();
        let count = ring.lines().count();
        let total = ring.total_lines();
        let start = count.saturating_sub(n);
        for (i, l) in ring.lines().enumerate().skip(start) {
            if re.is_match(l) {
                return Some(DynamicMatch {
                    id: 0,
                    pane,
                    label: p.info.label.clone(),
                    line: l.to_string(),
                    captures: re.captures(l),
                    complete: true,
                    seq: total - (count - 1 - i) as u64,
                });
            }
        }
        None
    }

    /// The panes labelled exactly `label`, ordered by id.
    pub fn panes_labelled(&self, label: &str) -> Vec<PaneId> {
        let mut v: Vec<PaneId> = self
            .panes
            .iter()
            .filter(|(_, p)| p.info.label.as_deref() == Some(label))
            .map(|(id, _)| *id)
            .collect();
        v.sort_unstable();
        v
    }

    /// Adds a pane or updates where it is and its label; returns true when it was new.
    /// Its text, lifecycle and feeder are kept.
    pub fn upsert_pane(&mut self, id: PaneId, info: PaneInfo) -> bool {
        match self.panes.get_mut(&id) {
            Some(p) => {
                p.info = info;
                false
            }
            None => {
                let pane = Pane::new(info, self.matcher.clone(), self.rules.settings.ring_lines);
                self.panes.insert(id, pane);
                true
            }
        }
    }

    /// A pane's label as tmux reports it (the `@ctmuxd_label` subscription). A pane
    /// ctmuxd spawned keeps the label it was given until tmux has reported that label
    /// once: tmux checks subscriptions once a second, and a check between the pane's
    /// creation and its `set-option` reports it unlabelled (its first lines were then
    /// missed by the rules selecting it by label).
    pub fn label_from_tmux(&mut self, id: PaneId, label: Option<String>) {
        if let Some(p) = self.panes.get_mut(&id) {
            if p.label_unconfirmed {
                if label.is_none() {
                    return;
                }
                p.label_unconfirmed = false;
            }
        }
        self.set_label(id, label);
    }

    /// Notes that ctmuxd gave `id` its label itself (see [`Engine::label_from_tmux`]).
    pub fn label_given(&mut self, id: PaneId) {
        if let Some(p) = self.panes.get_mut(&id) {
            p.label_unconfirmed = true;
        }
    }

    /// Updates a pane's label.
    pub fn set_label(&mut self, id: PaneId, label: Option<String>) {
        let pane = self.pane_mut(id);
        if pane.info.label == label {
            return;
        }
        pane.info.label = label;
        if pane.is_alive() {
            let seq = pane.text.ring().total_lines();
            let label = pane.info.label.clone();
            self.conditions.on_label(id, label.as_deref(), Instant::now(), now_ns(), seq);
            self.wake();
        }
    }

    /// Marks a pane ctmuxd spawned with `keep = false`: it is closed once its exit is
    /// recorded.
    pub fn close_on_exit(&mut self, id: PaneId) {
        self.pane_mut(id).close_on_exit = true;
    }

    /// Records a pane as dead without an exit (it was dead when ctmuxd first saw it:
    /// that exit is not news, and exit rules never fire for it).
    pub fn mark_dead(&mut self, id: PaneId) {
        self.pane_mut(id).life = Life::Dead;
    }

    /// Whether `%output` of `pane` arriving on the connection attached to `session`
    /// (named `session_name`) is to be matched: the first connection to deliver output for
    /// a pane feeds it (see [`Pane::claim_feed`]). A pane not known yet is added (tmux
    /// delivers `%window-add` after the first output of a new window).
    pub fn claim_output(&mut self, pane: PaneId, session: SessionId, session_name: &str) -> bool {
        // PERF: one map lookup per `%output`; the name is copied only for a new pane.
        let (matcher, ring) = (&self.matcher, self.rules.settings.ring_lines);
        let state = self.panes.entry(pane).or_insert_with(|| {
            let info = PaneInfo {
                session: Some(session),
                session_name: session_name.to_owned(),
                ..PaneInfo::default()
            };
            Pane::new(info, matcher.clone(), ring)
        });
        state.claim_feed(session)
    }

    /// The connection attached to `session` ended: the panes it fed are fed by the next
    /// connection that delivers their output.
    pub fn release_feeds(&mut self, session: SessionId) {
        for p in self.panes.values_mut() {
            p.release_feed(session);
        }
    }

    /// Records where the `[[pane]]` entry `label` is in its start order.
    pub fn set_start_state(&mut self, label: &str, state: StartState) {
        self.start_states.insert(label.to_owned(), state);
    }

    /// Where each `[[pane]]` entry is in its start order, by label (empty before the
    /// start order runs, and without `[[pane]]` entries).
    pub fn start_states(&self) -> &std::collections::BTreeMap<String, StartState> {
        &self.start_states
    }

    /// Number of labelled panes whose process is still running (the timeline's measure).
    pub fn panes_alive(&self) -> usize {
        self.panes.values().filter(|p| p.info.label.is_some() && p.is_alive()).count()
    }

    /// Claims the handling of a pane's exit: true the first time tmux reports it dead,
    /// false for repeated reports (subscriptions report state, not edges).
    pub fn begin_exit(&mut self, pane: PaneId) -> bool {
        match self.panes.get_mut(&pane) {
            Some(p) if p.life == Life::Alive => {
                p.life = Life::Exiting;
                true
            }
            _ => false,
        }
    }

    /// Marks a pane's process as exited; returns the `on = "exit"` rules that fire, or
    /// `None` if the exit was already recorded (subscriptions report state, not edges).
    pub fn pane_exited(
        &mut self,
        pane: PaneId,
        status: Option<i32>,
        ts_ns: u64,
    ) -> Option<Vec<Firing>> {
        let state = self.panes.get_mut(&pane)?;
        if state.life == Life::Dead {
            return None;
        }
        state.life = Life::Dead;
        let info = state.info.clone();
        let line = match status {
            Some(s) => format!("exited with status {s}"),
            None => "killed by a signal".to_string(),
        };
        let mut out = Vec::new();
        for (idx, rule) in self.rules.rules.iter().enumerate() {
            let Trigger::Exit(filter) = &rule.trigger else { continue };
            if !filter.accepts(status) || !rule.pane.matches(pane, info.label.as_deref()) {
                continue;
            }
            if rule.once && !self.fired_once.insert(idx) {
                continue;
            }
            self.counts[idx] += 1;
            let mut captures = vec![];
            if let Some(s) = status {
                captures.push(("status".to_string(), s.to_string()));
            }
            out.push(Firing { ts_ns, ..self.firing(idx, pane, &info, line.clone(), captures) });
        }
        if let Some(state) = self.panes.get_mut(&pane) {
            state.matches += out.len() as u64;
        }
        // A dead pane prints no more: its quiet timers, counts and sequences end.
        self.conditions.pane_gone(pane);
        self.chain(&mut out, 0, Instant::now(), ts_ns);
        self.wake();
        Some(out)
    }

    /// The `on = "command"` rules a finished shell command fires, appended to `out`.
    fn command_finished(
        &mut self,
        pane: PaneId,
        done: &FinishedCommand,
        ts_ns: u64,
        out: &mut Vec<Firing>,
    ) {
        let info = self.panes.get(&pane).map(|p| p.info.clone()).unwrap_or_default();
        let cmdline = done.cmdline.as_deref().unwrap_or("");
        let line = match done.status {
            Some(s) => format!("`{cmdline}` finished with status {s}"),
            None => format!("`{cmdline}` finished"),
        };
        let before = out.len();
        for (idx, rule) in self.rules.rules.iter().enumerate() {
            let Trigger::Command(filter, pattern) = &rule.trigger else { continue };
            // A command without a status (the shell gave none) passes only `any`.
            let status_ok = match done.status {
                Some(s) => filter.accepts(Some(s)),
                None => *filter == crate::rules::StatusFilter::Any,
            };
            if !status_ok || !rule.pane.matches(pane, info.label.as_deref()) {
                continue;
            }
            if pattern.as_ref().is_some_and(|p| !p.is_match(cmdline)) {
                continue;
            }
            if rule.once && !self.fired_once.insert(idx) {
                continue;
            }
            self.counts[idx] += 1;
            let mut captures = vec![
                ("cmdline".to_string(), cmdline.to_string()),
                ("duration_ms".to_string(), done.duration_ms.to_string()),
                ("lines".to_string(), done.line_count().to_string()),
            ];
            if let Some(s) = done.status {
                captures.push(("status".to_string(), s.to_string()));
            }
            let firing = self.firing(idx, pane, &info, line.clone(), captures);
            out.push(Firing { ts_ns, seq: done.lines.1, ..firing });
        }
        if let Some(state) = self.panes.get_mut(&pane) {
            state.matches += (out.len() - before) as u64;
        }
    }

    /// The `command` records of the shell commands that finished since the last call,
    /// oldest first.
    pub fn take_commands(&mut self) -> Vec<Record> {
        if self.commands.is_empty() {
            return Vec::new();
        }
        let commands = std::mem::take(&mut self.commands);
        commands
            .into_iter()
            .map(|(pane, done)| Record {
                ts_ns: done.ended_ns,
                event: CommandEvent {
                    pane: pane.to_string(),
                    label: self.panes.get(&pane).and_then(|p| p.info.label.clone()),
                    lines: done.line_count(),
                    cmdline: done.cmdline,
                    status: done.status,
                    duration_ms: done.duration_ms,
                }
                .into(),
            })
            .collect()
    }

    /// Starts collecting the output of the next command on `pane` for `ctmuxd run`.
    ///
    /// # Errors
    /// The pane is unknown, its shell never sent an integration mark, a command is
    /// running in it, or another `run` waits on it (the message says which).
    pub fn start_run(&mut self, pane: PaneId, capture: RunCapture) -> Result<(), RunRefusal> {
        let Some(p) = self.panes.get_mut(&pane) else { return Err(RunRefusal::NoIntegration) };
        if !p.shell.integrated {
            return Err(RunRefusal::NoIntegration);
        }
        if let crate::panes::ShellState::Running { cmdline, .. } = &p.shell.state {
            return Err(RunRefusal::Busy(cmdline.clone()));
        }
        if p.shell.run.is_some() {
            return Err(RunRefusal::Busy(None));
        }
        let mut capture = capture;
        capture.arm(p.text.ring().total_lines());
        p.shell.run = Some(capture);
        Ok(())
    }

    /// Stops the `run` collection `id` on `pane` if it is still there (it timed out or
    /// its typing failed).
    pub fn cancel_run(&mut self, pane: PaneId, id: u64) {
        if let Some(p) = self.panes.get_mut(&pane) {
            if p.shell.run.as_ref().is_some_and(|r| r.id == id) {
                p.shell.run = None;
            }
        }
    }

    /// The `on = "event"` rules that a named event fires, with the emitting match's context.
    pub fn fire_event(&mut self, name: &str, cause: &ActionContext) -> Vec<Firing> {
        let mut out = Vec::new();
        for (idx, rule) in self.rules.rules.iter().enumerate() {
            if rule.trigger != Trigger::Event(name.to_string()) {
                continue;
            }
            if rule.once && !self.fired_once.insert(idx) {
                continue;
            }
            self.counts[idx] += 1;
            let mut ctx = cause.clone();
            ctx.rule = rule.name.clone();
            out.push(Firing {
                rules: self.rules.clone(),
                rule: idx,
                ctx,
                ts_ns: now_ns(),
                seq: 0,
                complete: true,
                catch_up: false,
                condition: None,
            });
        }
        // The event rules' firings may be parts themselves; then the event is one.
        self.chain(&mut out, 0, Instant::now(), now_ns());
        self.event_part(name, cause, Instant::now(), now_ns(), &mut out);
        out
    }

    /// Feeds the lines of `captured` (a `capture-pane` of the pane, oldest first) that the
    /// pane printed but ctmuxd never received, and returns how many lines it fed.
    ///
    /// tmux drops output it had not yet sent to a control client when the pane's process
    /// exits (the pane's fd is closed first), so a command that prints and exits at once
    /// can lose its last lines in the stream. The capture is aligned on the last complete
    /// line ctmuxd has (and the line being written); what follows it is fed as if it had
    /// arrived, so rules, `wait-for` and readiness see it. Without an alignment (the
    /// capture does not contain that line) nothing is fed.
    pub fn resync_tail(
        &mut self,
        pane: PaneId,
        captured: &[String],
        now: Instant,
        ts_ns: u64,
        out: &mut Vec<Firing>,
    ) -> usize {
        self.feed_missing(pane, captured, false, now, ts_ns, out).fed
    }

    /// Feeds the lines of `captured` that tmux dropped while it paused the pane for
    /// ctmuxd (`%pause`), and says how many and whether the capture lined up.
    ///
    /// As [`Engine::resync_tail`], except that a capture that does not contain ctmuxd's
    /// last line is fed whole: while the pane was paused it printed so much that what
    /// ctmuxd last saw has scrolled out of the capture, so all of it is new. Lines that
    /// repeat (`yes`) can line up too late, and then fewer lines are fed.
    pub fn catch_up(
        &mut self,
        pane: PaneId,
        captured: &[String],
        now: Instant,
        ts_ns: u64,
        out: &mut Vec<Firing>,
    ) -> CatchUp {
        let before = self.panes.get(&pane).map(|p| p.text.ring().total_lines());
        let done = self.feed_missing(pane, captured, true, now, ts_ns, out);
        if let (Some(line), Some(p)) = (before, self.panes.get_mut(&pane)) {
            p.paused(line, done.fed as u64, done.aligned);
        }
        done
    }

    fn feed_missing(
        &mut self,
        pane: PaneId,
        captured: &[String],
        whole_if_unaligned: bool,
        now: Instant,
        ts_ns: u64,
        out: &mut Vec<Firing>,
    ) -> CatchUp {
        let none = CatchUp { fed: 0, aligned: false };
        let Some(state) = self.panes.get(&pane) else { return none };
        let ring = state.text.ring();
        let ours: Vec<&str> = ring.lines().map(str::trim_end).collect();
        let partial = ring.partial().trim_end().to_string();
        let cap: Vec<&str> = captured.iter().map(|l| l.trim_end()).collect();
        // Where our text ends in the capture: after the last occurrence of our last
        // non-empty complete line whose predecessors (up to 3) also agree.
        let last_ours = ours.iter().rposition(|l| !l.is_empty());
        let found = match last_ours {
            None => Some(0),
            Some(li) => (0..cap.len())
                .rev()
                .find(|&j| {
                    cap[j] == ours[li] && (1..=3.min(li).min(j)).all(|k| cap[j - k] == ours[li - k])
                })
                .map(|j| j + 1 + ours[li + 1..].len().min(cap.len().saturating_sub(j + 1))),
        };
        let mut data = Vec::new();
        let mut partial_fed = false;
        let mut aligned = found.is_some();
        let mut rest: &[&str];
        if let Some(start) = found {
            rest = &cap[start.min(cap.len())..];
            if !partial.is_empty() {
                match rest.first() {
                    Some(first) if first.starts_with(partial.as_str()) => {
                        data.extend_from_slice(&first.as_bytes()[partial.len()..]);
                        data.extend_from_slice(b"\r\n");
                        rest = &rest[1..];
                        partial_fed = true;
                    }
                    _ if whole_if_unaligned => {
                        rest = &cap;
                        aligned = false;
                    }
                    _ => return none,
                }
            }
        } else if whole_if_unaligned {
            rest = &cap;
        } else {
            return none;
        }
        if !partial_fed && !partial.is_empty() {
            // The line ctmuxd was in the middle of is not in the capture: end it here.
            data.extend_from_slice(b"\r\n");
        }
        // Trailing blank lines are the empty screen below the text, not output.
        let end = rest.iter().rposition(|l| !l.is_empty()).map_or(0, |i| i + 1);
        for l in &rest[..end] {
            data.extend_from_slice(l.as_bytes());
            data.extend_from_slice(b"\r\n");
        }
        let fed = end + usize::from(partial_fed);
        if !data.is_empty() {
            // Lines read back from the history: the screen is not drawn by them.
            self.on_output_split(pane, &data, usize::MAX, now, ts_ns, out);
        }
        CatchUp { fed, aligned }
    }

    /// Forgets every pane (a new tmux server: its pane ids mean other panes).
    pub fn clear_panes(&mut self) {
        self.panes.clear();
        self.screens = ScreenWatch::new(self.screens.compiled().clone());
        self.looked.clear();
        self.deferred.clear();
        self.last_fire.clear();
        self.conditions.clear_panes();
    }

    /// Forgets a pane that is gone.
    pub fn remove_pane(&mut self, id: PaneId) {
        self.panes.remove(&id);
        self.screens.forget_pane(id);
        self.looked.remove(&id);
        self.deferred.retain(|&(p, _)| p != id);
        self.last_fire.retain(|(_, p), _| *p != id);
        self.conditions.pane_gone(id);
    }

    /// The panes of `window` known to the engine.
    pub fn panes_in_window(&self, window: WindowId) -> Vec<PaneId> {
        self.panes
            .iter()
            .filter(|(_, p)| p.info.window == Some(window))
            .map(|(id, _)| *id)
            .collect()
    }

    /// All known panes and their info, ordered by id.
    pub fn panes(&self) -> Vec<(PaneId, PaneInfo)> {
        let mut v: Vec<_> = self.panes.iter().map(|(id, p)| (*id, p.info.clone())).collect();
        v.sort_by_key(|(id, _)| *id);
        v
    }

    /// Where one pane is and its label.
    pub fn pane_info(&self, id: PaneId) -> Option<&PaneInfo> {
        self.panes.get(&id).map(|p| &p.info)
    }

    /// One pane: identity, lifecycle, text.
    pub fn pane(&self, id: PaneId) -> Option<&Pane> {
        self.panes.get(&id)
    }

    /// How far each pane has been read: its complete line count and the hashes of its
    /// last complete lines (see [`crate::checkpoint`]).
    pub fn marks(&self) -> Vec<(PaneId, crate::checkpoint::PaneMark)> {
        let mut v: Vec<_> = self
            .panes
            .iter()
            .map(|(id, p)| {
                let ring = p.text.ring();
                let skip = ring.lines().count().saturating_sub(crate::checkpoint::TAIL);
                let tail = ring.lines().skip(skip).map(crate::checkpoint::line_hash).collect();
                (*id, crate::checkpoint::PaneMark { lines: ring.total_lines(), tail })
            })
            .collect();
        v.sort_by_key(|(id, _)| *id);
        v
    }

    /// Follows a pane's size in tmux (a layout change, a resize, the first listing).
    /// Unknown panes are ignored.
    pub fn resize_pane(&mut self, id: PaneId, cols: u16, rows: u16) {
        if let Some(p) = self.panes.get_mut(&id) {
            p.text.resize(cols, rows);
        }
    }

    /// Sets a pane's screen from tmux's own (`capture-pane` rows, cursor, alternate
    /// screen, size), when ctmuxd attaches to a pane that already shows something.
    pub fn seed_screen(&mut self, id: PaneId, seed: &ScreenSeed) {
        let screen = self.pane_mut(id).text.screen_mut();
        screen.resize(seed.size.0, seed.size.1);
        screen.seed(seed.rows.iter().map(String::as_str), seed.cursor, seed.alternate);
    }

    /// The first row `pane` shows that `re` matches, top to bottom (`wait-for --screen`
    /// answered at once).
    pub fn search_screen(&self, pane: PaneId, re: &PatternRegex) -> Option<DynamicMatch> {
        let p = self.panes.get(&pane)?;
        let row = p.text.screen().rows().into_iter().find(|r| re.is_match(r))?;
        Some(DynamicMatch {
            id: 0,
            pane,
            label: p.info.label.clone(),
            captures: re.captures(&row),
            line: row,
            complete: true,
            seq: p.text.ring().total_lines() + 1,
        })
    }

    /// Fills a pane's empty log with what it printed before ctmuxd watched it, without
    /// matching it (see [`PaneWatch::prefill`](ctmuxd_text::pane::watch::PaneWatch::prefill)).
    pub fn prefill_history(&mut self, id: PaneId, lines: &[String], partial: &str) {
        self.pane_mut(id).text.prefill(lines.iter().map(String::as_str), partial);
    }

    /// The rows a pane shows, top to bottom, without trailing blanks.
    pub fn screen_rows(&self, id: PaneId) -> Option<Vec<String>> {
        self.panes.get(&id).map(|p| p.text.screen().rows())
    }

    /// Output paused: everything read from tmux so far has been fed. Offers the line
    /// under the cursor of each pane that printed since the last pause to the waiters
    /// that wait for one match (`wait-for`, `send --expect`: a prompt with no newline
    /// yet), and looks at the screens that changed for screen waiters and screen rules;
    /// appends the screen rules that fire to `out`.
    ///
    /// A pane's screen is looked at most once per [`SCREEN_LOOK_INTERVAL`] while its
    /// output keeps coming: a look that comes sooner is put off, and the time it is due
    /// is returned; the caller then calls [`Engine::look_deferred`] at that time (the
    /// daemon arms one timer), so the last state of a burst is always looked at.
    pub fn on_pause(&mut self, now: Instant, ts_ns: u64, out: &mut Vec<Firing>) -> Option<Instant> {
        let from = out.len();
        let mut touched = std::mem::take(&mut self.touched);
        touched.sort_unstable();
        touched.dedup();
        for &pane in &touched {
            let Engine { panes, waiters, screens, rules, .. } = self;
            let Some(state) = panes.get_mut(&pane) else { continue };
            let label = state.info.label.as_deref();
            if waiters.watches(pane) {
                let ring = state.text.ring();
                waiters.on_pause(pane, label, ring.partial(), ring.total_lines() + 1);
            }
            // PERF: a screen nothing watches is never read, so never allocated.
            let watched = waiters.watches_screen(pane)
                || screens
                    .compiled()
                    .rules()
                    .iter()
                    .any(|&r| rules.rules[r].pane.matches(pane, label));
            if !watched || !state.text.screen_mut().take_changed() {
                continue;
            }
            let due = self.looked.get(&pane).map(|&t| t + self.screen_interval);
            match due {
                Some(due) if due > now => {
                    if !self.deferred.iter().any(|&(p, _)| p == pane) {
                        self.deferred.push((pane, due));
                    }
                }
                _ => self.look_screen(pane, now, ts_ns, out),
            }
        }
        touched.clear();
        self.touched = touched;
        self.chain(out, from, now, ts_ns);
        self.wake();
        self.deferred.iter().map(|&(_, due)| due).min()
    }

    /// Looks at the screens whose look [`Engine::on_pause`] put off and that are due by
    /// `now`; returns when the next one is due, if any is left.
    pub fn look_deferred(
        &mut self,
        now: Instant,
        ts_ns: u64,
        out: &mut Vec<Firing>,
    ) -> Option<Instant> {
        let from = out.len();
        let deferred = std::mem::take(&mut self.deferred);
        for &(pane, due) in &deferred {
            if due <= now {
                self.look_screen(pane, now, ts_ns, out);
            } else {
                self.deferred.push((pane, due));
            }
        }
        self.chain(out, from, now, ts_ns);
        self.wake();
        self.deferred.iter().map(|&(_, due)| due).min()
    }

    /// Offers a pane's rows to its screen waiters and matches the screen rules on them.
    fn look_screen(&mut self, pane: PaneId, now: Instant, ts_ns: u64, out: &mut Vec<Firing>) {
        self.looked.insert(pane, now);
        self.deferred.retain(|&(p, _)| p != pane);
        let Engine { panes, waiters, screens, rules, .. } = self;
        let Some(state) = panes.get_mut(&pane) else { return };
        let label = state.info.label.as_deref();
        let next_seq = state.text.ring().total_lines() + 1;
        if waiters.watches_screen(pane) {
            waiters.on_screen(pane, label, &state.text.screen().rows(), next_seq);
        }
        let mut hits: Vec<(usize, String)> = Vec::new();
        let wanted = |rule: usize| rules.rules[rule].pane.matches(pane, label);
        screens.look(pane, state.text.screen(), wanted, |rule, row| {
            hits.push((rule, row.to_string()))
        });
        if hits.is_empty() {
            return;
        }
        let info = state.info.clone();
        let before = out.len();
        for (rule, row) in hits {
            let hit = Hit { line: &row, seq: next_seq, complete: true, region: Region::Screen };
            self.fire(pane, &info, rule, hit, now, ts_ns, out);
        }
        let fired = (out.len() - before) as u64;
        if let Some(state) = self.panes.get_mut(&pane) {
            state.matches += fired;
        }
    }

    /// When the next screen look put off by [`Engine::on_pause`] is due, if any.
    pub fn next_deferred(&self) -> Option<Instant> {
        self.deferred.iter().map(|&(_, due)| due).min()
    }

    /// Sets how often at most a busy pane's screen is looked at (see
    /// [`Engine::on_pause`]); `replay` sets zero, to look after every output block.
    pub fn set_screen_interval(&mut self, interval: Duration) {
        self.screen_interval = interval;
    }

    /// The last `n` lines of a pane as a person saw them (the partial line last).
    pub fn last_lines(&self, id: PaneId, n: usize) -> Option<Vec<String>> {
        self.panes.get(&id).map(|p| p.text.ring().last_lines(n))
    }

    fn pane_mut(&mut self, id: PaneId) -> &mut Pane {
        let (matcher, ring) = (&self.matcher, self.rules.settings.ring_lines);
        self.panes
            .entry(id)
            .or_insert_with(|| Pane::new(PaneInfo::default(), matcher.clone(), ring))
    }

    /// Feeds bytes a pane printed; appends the rules that fire to `out`.
    ///
    /// `now` drives cooldowns (injected so tests and replay control time); `ts_ns` is
    /// the wall-clock stamp put on each firing.
    pub fn on_output(
        &mut self,
        pane: PaneId,
        data: &[u8],
        now: Instant,
        ts_ns: u64,
        out: &mut Vec<Firing>,
    ) {
        self.on_output_split(pane, data, 0, now, ts_ns, out);
    }

    /// As [`Engine::on_output`], with the pane's screen given only `data[screen_from..]`
    /// (see [`PaneWatch::feed_events`](ctmuxd_text::pane::watch::PaneWatch::feed_events)):
    /// output held while the screen was seeded from tmux, and lines read back from
    /// tmux's history (`usize::MAX`: lines only).
    pub fn on_output_split(
        &mut self,
        pane: PaneId,
        data: &[u8],
        screen_from: usize,
        now: Instant,
        ts_ns: u64,
        out: &mut Vec<Firing>,
    ) {
        let from = out.len();
        self.feed_split(pane, data, screen_from, now, ts_ns, out);
        if !self.conditions.is_empty() {
            self.conditions_after_output(pane, from, now, ts_ns, out);
        }
    }

    fn feed_split(
        &mut self,
        pane: PaneId,
        data: &[u8],
        screen_from: usize,
        now: Instant,
        ts_ns: u64,
        out: &mut Vec<Firing>,
    ) {
        let mut matches = std::mem::take(&mut self.scratch);
        self.pane_mut(pane);
        if self.touched.last() != Some(&pane) {
            self.touched.push(pane);
        }
        let Engine { panes, waiters, commands, .. } = self;
        let state = panes.get_mut(&pane).expect("pane_mut inserted it");
        let Pane { text, shell, info, .. } = state;
        let label = info.label.as_deref();
        // PERF: only panes some waiter watches pay for the waiters: one `is_match` per
        // waiter per completed line, and one per prompt-style waiter on the line being
        // written. A pane's shell state costs one branch per line (a `run` collecting).
        let watched = waiters.watches(pane);
        let before_commands = commands.len();
        let line_regions = &mut self.line_regions;
        line_regions.clear();
        text.feed_events(data, screen_from, &mut matches, |e| match e {
            TextEvent::Line(line, seq) => {
                // A line that ends where a shell with integration reads its command line is
                // the command typed there: waiters never take it for output.
                let region = region_of(shell);
                if region != Region::Unknown {
                    line_regions.push((seq, region));
                }
                if watched && region != Region::Typed {
                    waiters.on_line(pane, label, line, seq);
                }
                shell.on_line(line, seq);
            }
            TextEvent::Mark { mark, lines, partial } => {
                if let Some(done) = shell.on_mark(mark, lines, partial, now, ts_ns) {
                    commands.push((pane, done));
                }
            }
        });
        if watched {
            let ring = text.ring();
            waiters.on_partial(pane, label, ring.partial(), ring.total_lines() + 1);
        }
        if self.commands.len() > before_commands {
            let finished: Vec<FinishedCommand> =
                self.commands[before_commands..].iter().map(|(_, c)| c.clone()).collect();
            for done in &finished {
                self.command_finished(pane, done, ts_ns, out);
            }
        }
        let state = self.panes.get_mut(&pane).expect("pane_mut inserted it");
        if matches.is_empty() {
            self.scratch = matches;
            return;
        }
        let info = state.info.clone();
        let at_end = region_of(&state.shell);
        let before = out.len();
        for m in matches.drain(..) {
            // Every line of this feed was classified as it ended; the line being written
            // (a prompt match) is where the shell is now.
            let region = match m.complete {
                false => at_end,
                true => {
                    // Pushed in line order: a binary search, not a scan per match.
                    let found = self.line_regions.binary_search_by_key(&m.seq, |&(s, _)| s);
                    found.map_or(Region::Unknown, |i| self.line_regions[i].1)
                }
            };
            for &pid in &m.patterns {
                let hit = Hit { line: &m.line, seq: m.seq, complete: m.complete, region };
                self.fire(pane, &info, pid, hit, now, ts_ns, out);
            }
        }
        self.scratch = matches;
        let fired = (out.len() - before) as u64;
        if fired > 0 {
            if let Some(state) = self.panes.get_mut(&pane) {
                state.matches += fired;
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn fire(
        &mut self,
        pane: PaneId,
        info: &PaneInfo,
        rule_idx: usize,
        m: Hit<'_>,
        now: Instant,
        ts_ns: u64,
        out: &mut Vec<Firing>,
    ) {
        let Some(rule) = self.rules.rules.get(rule_idx) else { return };
        if !rule.pane.matches(pane, info.label.as_deref()) {
            return;
        }
        let seen = match rule.source {
            LineSource::All => true,
            LineSource::NotTyped => m.region != Region::Typed,
            LineSource::Output => !matches!(m.region, Region::Typed | Region::Prompt),
        };
        if !seen {
            return;
        }
        if rule.once && self.fired_once.contains(&rule_idx) {
            return;
        }
        if rule.condition.is_some() {
            // A `count` or `sequence`: the hit is one part; the rule fires when it holds.
            return self.condition_hit(pane, info, rule_idx, m, now, ts_ns, out);
        }
        if let Some(cd) = rule.cooldown {
            if let Some(last) = self.last_fire.get(&(rule_idx, pane)) {
                if now.saturating_duration_since(*last) < cd {
                    return;
                }
            }
        }
        if rule.once {
            self.fired_once.insert(rule_idx);
        }
        self.counts[rule_idx] += 1;
        self.last_fire.insert((rule_idx, pane), now);
        let captures = match m.region {
            Region::Screen => self.screens.compiled().captures(rule_idx, m.line),
            _ => self.matcher.captures(rule_idx, m.line),
        };
        out.push(Firing {
            ts_ns,
            seq: m.seq,
            complete: m.complete,
            ..self.firing(rule_idx, pane, info, m.line.to_string(), captures)
        });
    }

    /// Rule `idx` fired on `pane` with `line` and `captures`: the firing, stamped 0, on
    /// no line (`seq` 0), complete, live; callers set what differs.
    fn firing(
        &self,
        idx: usize,
        pane: PaneId,
        info: &PaneInfo,
        line: String,
        captures: Vec<(String, String)>,
    ) -> Firing {
        Firing {
            rules: self.rules.clone(),
            rule: idx,
            ctx: ActionContext {
                rule: self.rules.rules[idx].name.clone(),
                line,
                pane_id: pane,
                pane_label: info.label.clone(),
                session: info.session_name.clone(),
                captures,
            },
            ts_ns: 0,
            seq: 0,
            complete: true,
            catch_up: false,
            condition: None,
        }
    }
}

/// A pane's screen as tmux shows it, to start ctmuxd's copy from
/// ([`Engine::seed_screen`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScreenSeed {
    /// The visible rows (`capture-pane -p`), top to bottom.
    pub rows: Vec<String>,
    /// Cursor (column, row).
    pub cursor: (u16, u16),
    /// A program is on the alternate screen.
    pub alternate: bool,
    /// (columns, rows).
    pub size: (u16, u16),
}

/// Where a line of a pane stands in its shell's command lifecycle (shells with
/// integration; [`Region::Unknown`] otherwise).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Region {
    /// No marks say: every rule sees it.
    Unknown,
    /// The command line typed at a prompt (a line ended, or being written, while the
    /// shell reads its command line: after its input mark, before the command starts).
    Typed,
    /// The prompt's own lines (after a command ended, before the shell reads input).
    Prompt,
    /// What a command printed.
    Output,
    /// Not a line: a row of the screen, matched by a screen rule.
    Screen,
}

fn region_of(shell: &Shell) -> Region {
    match shell.state {
        ShellState::Unknown => Region::Unknown,
        ShellState::Prompt if shell.reading_input() => Region::Typed,
        ShellState::Prompt => Region::Prompt,
        ShellState::Running { .. } => Region::Output,
    }
}

/// What a rule matched: a line of the log view, or a row of the screen view.
#[derive(Clone, Copy)]
struct Hit<'a> {
    line: &'a str,
    /// The line's sequence number (for a screen row: the pane's next line number).
    seq: u64,
    complete: bool,
    /// Where the line stands in its shell's command lifecycle, or [`Region::Screen`]
    /// for a row matched by a screen rule (captures come from the screen matcher).
    region: Region,
}

/// Why [`Engine::start_run`] refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunRefusal {
    /// No integration mark was ever seen from the pane.
    NoIntegration,
    /// A command runs there (its command line when known), or another `run` waits.
    Busy(Option<String>),
}

/// Wall-clock now in ns since the Unix epoch.
pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use std::time::Duration;

    use tokio::sync::{mpsc, oneshot};

    use super::*;
    use crate::panes::ShellState;

    fn engine() -> Engine {
        let rules = crate::rules::parse(
            "[[rule]]\nname = \"r\"\npattern = 'RULE'\nactions = [ \"log\" ]\n",
            Path::new("rules.toml"),
        )
        .unwrap();
        Engine::new(rules).unwrap()
    }

    fn once(pattern: &str, pane: PaneId) -> (DynamicPattern, oneshot::Receiver<DynamicMatch>) {
        let (tx, rx) = oneshot::channel();
        let dp = DynamicPattern {
            pattern: pattern.into(),
            screen: false,
            prompt: false,
            pane: Some(pane),
            sink: DynamicSink::Once { tx, skip_echo: None },
        };
        (dp, rx)
    }

    fn feed(e: &mut Engine, pane: PaneId, text: &str) -> Vec<Firing> {
        let mut out = Vec::new();
        e.on_output(pane, text.as_bytes(), Instant::now(), 0, &mut out);
        out
    }

    fn info(label: &str) -> PaneInfo {
        PaneInfo { label: Some(label.into()), ..PaneInfo::default() }
    }

    #[test]
    fn a_pattern_compiled_outside_the_lock_is_installed_whatever_happened_meanwhile() {
        let mut e = engine();
        let pane: PaneId = "%1".parse().unwrap();
        e.upsert_pane(pane, PaneInfo::default());
        let (a, mut rx_a) = once("^alpha$", pane);
        let a = Waiter::compile(a).unwrap();
        // Another pattern lands in between: nothing is stale, nothing is compiled again.
        let (b, mut rx_b) = once("^beta$", pane);
        e.add_dynamic(b).unwrap();
        e.add_waiter(a);

        let fired = feed(&mut e, pane, "beta\r\nalpha\r\nRULE\r\n");
        assert_eq!(fired.len(), 1, "the rule still fires");
        assert_eq!(rx_a.try_recv().unwrap().line, "alpha");
        assert_eq!(rx_b.try_recv().unwrap().line, "beta");
        assert!(Waiter::compile(once("(", pane).0).is_err(), "a bad pattern is refused");
        assert_eq!(e.waiters_len(), 0, "resolved waiters are gone");
    }

    #[test]
    fn a_reload_compiled_outside_the_lock_keeps_the_run_time_patterns() {
        let mut e = engine();
        let pane: PaneId = "%1".parse().unwrap();
        e.upsert_pane(pane, PaneInfo::default());
        let (w, mut rx) = once("^wait$", pane);
        let new_rules = crate::rules::parse(
            "[[rule]]\nname = \"n\"\npattern = 'NEW'\nactions = [ \"log\" ]\n",
            Path::new("rules.toml"),
        )
        .unwrap();
        let stale = e.plan_reload();
        e.add_dynamic(w).unwrap();
        e.reload(e.rules().as_ref().clone()).unwrap();
        let m = stale.compile_rules(&new_rules).unwrap();
        let back = e.commit_reload(&stale, new_rules, m).unwrap_err();
        let plan = e.plan_reload();
        let m = plan.compile_rules(&back).unwrap();
        e.commit_reload(&plan, *back, m).unwrap();
        let fired = feed(&mut e, pane, "RULE\r\nNEW\r\nwait\r\n");
        assert_eq!(fired.iter().map(|f| f.ctx.rule.as_str()).collect::<Vec<_>>(), ["n"]);
        assert_eq!(rx.try_recv().unwrap().line, "wait");
    }

    #[test]
    fn removing_a_pattern_ends_its_stream_at_once_and_compiles_nothing() {
        let mut e = engine();
        let pane: PaneId = "%1".parse().unwrap();
        e.upsert_pane(pane, PaneInfo::default());
        let (tx, mut rx) = mpsc::channel(4);
        let dp = DynamicPattern {
            pattern: "^x$".into(),
            screen: false,
            prompt: false,
            pane: None,
            sink: DynamicSink::Stream { tx },
        };
        let id = e.add_dynamic(dp).unwrap();
        let generation = e.generation;
        e.remove_dynamic(id);
        assert_eq!(e.generation, generation, "no new matcher");
        assert!(rx.try_recv().is_err() && rx.is_closed(), "the stream ended");
        assert_eq!(feed(&mut e, pane, "x\r\nRULE\r\n").len(), 1);
        let (w, _rx) = once("^y$", pane);
        e.add_dynamic(w).unwrap();
        assert_eq!(e.waiters_len(), 1);
    }

    #[test]
    fn at_a_pause_waiters_see_the_line_under_the_cursor_and_screen_waiters_the_rows() {
        let mut e = engine();
        let pane = PaneId(1);
        e.upsert_pane(pane, PaneInfo::default());
        let (prompt, mut prompt_rx) = once("^>>> $", pane);
        e.add_dynamic(prompt).unwrap();
        let (mut screen, mut screen_rx) = once("^ +STATUS: (?P<s>\\w+)$", pane);
        screen.screen = true;
        e.add_dynamic(screen).unwrap();
        feed(&mut e, pane, "Python 3\r\n>>> ");
        assert!(prompt_rx.try_recv().is_err(), "not before output pauses");
        let mut out = Vec::new();
        let t0 = Instant::now();
        assert_eq!(e.on_pause(t0, 0, &mut out), None);
        let m = prompt_rx.try_recv().unwrap();
        assert_eq!((m.line.as_str(), m.complete, m.seq), (">>> ", false, 2));
        assert!(screen_rx.try_recv().is_err(), "no row shows it yet");
        feed(&mut e, pane, "\x1b[5;9HSTATUS: READY");
        assert!(screen_rx.try_recv().is_err(), "rows are looked at when output pauses");
        // Looked at 1 ms ago: the look is put off until the interval has passed.
        let due = e.on_pause(t0 + Duration::from_millis(1), 0, &mut out);
        assert_eq!(due, Some(t0 + SCREEN_LOOK_INTERVAL));
        assert!(screen_rx.try_recv().is_err(), "put off");
        assert_eq!(e.look_deferred(t0 + Duration::from_millis(2), 0, &mut out), due);
        assert!(screen_rx.try_recv().is_err(), "not due yet");
        assert_eq!(e.look_deferred(t0 + SCREEN_LOOK_INTERVAL, 0, &mut out), None);
        let m = screen_rx.try_recv().unwrap();
        assert_eq!(m.line, "        STATUS: READY");
        assert_eq!(m.captures, [("s".to_string(), "READY".to_string())]);
        assert!(out.is_empty());
    }

    #[test]
    fn a_screen_rule_fires_once_per_appearance_with_the_policy_of_line_rules() {
        let mut e = engine_with(
            "[[rule]]\nname = \"ready\"\npattern = 'STATUS: (?P<s>READY)'\nscreen = true\n\
             pane = \"tui\"\nactions = [\"log\"]\n",
        );
        let (tui, other) = (PaneId(1), PaneId(2));
        e.upsert_pane(tui, info("tui"));
        e.upsert_pane(other, info("other"));
        e.resize_pane(tui, 40, 10);
        let mut out = Vec::new();
        let mut now = Instant::now();
        let mut draw = |e: &mut Engine, pane, text: &str| {
            // Each burst comes after the look interval: every pause looks.
            now += SCREEN_LOOK_INTERVAL;
            e.on_output(pane, text.as_bytes(), now, 0, &mut out);
            assert_eq!(e.on_pause(now, 0, &mut out), None);
            out.drain(..).map(|f| (f.ctx.rule, f.ctx.line, f.ctx.captures)).collect::<Vec<_>>()
        };
        assert!(draw(&mut e, tui, "STATUS: READY as a line\r\n").len() == 1, "a row shows it");
        assert!(draw(&mut e, tui, "more\r\n").is_empty(), "still on screen");
        let fired = draw(&mut e, tui, "\x1b[2J\x1b[3;5HSTATUS: READY");
        assert!(fired.is_empty(), "cleared and drawn again in one burst: never seen gone");
        assert!(draw(&mut e, tui, "\x1b[2J").is_empty());
        let fired = draw(&mut e, tui, "\x1b[3;5HSTATUS: READY");
        assert_eq!(fired.len(), 1, "gone at a pause, back at the next: fires again");
        assert_eq!(fired[0].1, "    STATUS: READY");
        assert_eq!(fired[0].2, [("s".to_string(), "READY".to_string())]);
        assert!(draw(&mut e, other, "STATUS: READY").is_empty(), "another label");
        assert_eq!(e.counts(), [2]);
        assert!(feed(&mut e, tui, "STATUS: READY\r\n").is_empty(), "never on lines");
    }

    #[test]
    fn typed_command_lines_of_an_integrated_shell_fire_only_rules_that_ask_for_them() {
        let mut e = engine_with(
            "[[rule]]\nname = \"default\"\npattern = 'TRIGGER'\nactions = [\"log\"]\n\
             [[rule]]\nname = \"all\"\npattern = 'TRIGGER'\nsource = \"all\"\nactions = [\"log\"]\n\
             [[rule]]\nname = \"output\"\npattern = 'TRIGGER'\nsource = \"output\"\nactions = [\"log\"]\n",
        );
        let (shell, plain) = (PaneId(1), PaneId(2));
        let (w, mut rx) = once("TRIGGER", shell);
        e.add_dynamic(w).unwrap();
        let session = "\x1b]133;A\x07$ \x1b]133;B\x07echo TRIGGER\r\n\x1b]133;C\x07TRIGGER\r\n\
                       \x1b]133;D;0\x07\x1b]133;A\x07$ \x1b]133;B\x07";
        let fired = |out: &[Firing]| {
            let mut v: Vec<(String, String)> =
                out.iter().map(|f| (f.ctx.rule.clone(), f.ctx.line.clone())).collect();
            v.sort();
            v
        };
        let out = feed(&mut e, shell, session);
        let s = |a: &str, b: &str| (a.to_string(), b.to_string());
        assert_eq!(
            fired(&out),
            [
                s("all", "$ echo TRIGGER"),
                s("all", "TRIGGER"),
                s("default", "TRIGGER"),
                s("output", "TRIGGER")
            ]
        );
        assert_eq!(rx.try_recv().unwrap().line, "TRIGGER", "the waiter skipped the typed line");
        // A two-line prompt's first line is not typed, nor a command's output.
        let out = feed(&mut e, shell, "true\r\n\x1b]133;C\x07\x1b]133;D;0\x07\x1b]133;A\x07TRIGGER in the prompt\r\n$ \x1b]133;B\x07");
        assert_eq!(
            fired(&out),
            [s("all", "TRIGGER in the prompt"), s("default", "TRIGGER in the prompt")]
        );
        // Without marks nothing is known: every rule sees every line.
        let out = feed(&mut e, plain, "$ echo TRIGGER\r\nTRIGGER\r\n");
        assert_eq!(out.len(), 6, "{:?}", fired(&out));
    }

    #[test]
    fn registering_waiters_leaves_the_rules_matcher_and_pane_caches_untouched() {
        let mut e = engine();
        let pane = PaneId(1);
        e.upsert_pane(pane, PaneInfo::default());
        assert_eq!(feed(&mut e, pane, "warm RULE up\r\n").len(), 1);
        let (matcher, generation) = (e.matcher().clone(), e.generation());
        let cache = e.panes[&pane].text.pane_matcher().cache_memory();
        let gated = e.panes[&pane].text.pane_matcher().gated_lines();
        let mut rxs = Vec::new();
        for i in 0..100 {
            let (w, rx) = once(&format!("^w{i} (?P<n>\\d+)$"), pane);
            e.add_dynamic(w).unwrap();
            rxs.push(rx);
        }
        assert_eq!(e.generation(), generation, "no matcher installed");
        assert!(Arc::ptr_eq(e.matcher(), &matcher), "the rules' matcher is the same");
        assert_eq!(e.matcher().len(), 1, "it holds the rules only");
        let pm = e.panes[&pane].text.pane_matcher();
        assert!(Arc::ptr_eq(pm.matcher(), &matcher), "the pane kept its matcher");
        assert_eq!(pm.cache_memory(), cache, "and its DFA cache");
        assert_eq!(pm.gated_lines(), gated, "and its state");
        // Waiters and rules both see the next lines.
        assert_eq!(feed(&mut e, pane, "w7 42\r\nRULE\r\n").len(), 1);
        let m = rxs[7].try_recv().unwrap();
        assert_eq!((m.line.as_str(), m.seq), ("w7 42", 2));
        assert_eq!(m.captures, [("n".to_string(), "42".to_string())]);
        assert!(rxs[8].try_recv().is_err());
        assert_eq!(e.waiters_len(), 99);
    }

    #[test]
    fn waiters_see_only_their_pane_with_its_label() {
        let mut e = engine();
        let (p1, p2) = (PaneId(1), PaneId(2));
        e.upsert_pane(p1, info("one"));
        e.upsert_pane(p2, info("two"));
        let (w, mut rx) = once("^done$", p2);
        let (tx, mut all) = mpsc::channel(8);
        e.add_dynamic(w).unwrap();
        e.add_dynamic(DynamicPattern {
            pattern: "^done$".into(),
            screen: false,
            prompt: false,
            pane: None,
            sink: DynamicSink::Stream { tx },
        })
        .unwrap();
        feed(&mut e, p1, "done\r\n");
        assert!(rx.try_recv().is_err(), "another pane's line");
        feed(&mut e, p2, "not yet\r\ndone\r\n");
        let m = rx.try_recv().unwrap();
        assert_eq!((m.pane, m.label.as_deref(), m.seq), (p2, Some("two"), 2));
        let seen: Vec<_> = std::iter::from_fn(|| all.try_recv().ok()).collect();
        assert_eq!(
            seen.iter().map(|m| (m.pane, m.label.as_deref())).collect::<Vec<_>>(),
            [(p1, Some("one")), (p2, Some("two"))],
            "a stream for every pane sees both, in order"
        );
    }

    #[test]
    fn prompt_waiters_match_the_line_being_written_and_others_do_not() {
        let mut e = engine();
        let pane = PaneId(1);
        let (tx, mut prompt_rx) = oneshot::channel();
        e.add_dynamic(DynamicPattern {
            pattern: "^Password: $".into(),
            screen: false,
            prompt: true,
            pane: Some(pane),
            sink: DynamicSink::Once { tx, skip_echo: None },
        })
        .unwrap();
        let (line_only, mut line_rx) = once("^Password: $", pane);
        e.add_dynamic(line_only).unwrap();
        feed(&mut e, pane, "login ok\r\nPass");
        assert!(prompt_rx.try_recv().is_err());
        feed(&mut e, pane, "word: ");
        let m = prompt_rx.try_recv().unwrap();
        assert_eq!((m.line.as_str(), m.complete, m.seq), ("Password: ", false, 2));
        assert!(line_rx.try_recv().is_err(), "a line pattern waits for the line end");
        feed(&mut e, pane, "\r\n");
        assert!(line_rx.try_recv().unwrap().complete);
    }

    #[test]
    fn an_expect_waiter_skips_the_echo_of_what_was_typed_once() {
        let mut e = engine();
        let pane = PaneId(1);
        let (tx, mut rx) = oneshot::channel();
        e.add_dynamic(DynamicPattern {
            pattern: "rows".into(),
            screen: false,
            prompt: false,
            pane: Some(pane),
            sink: DynamicSink::Once {
                tx,
                skip_echo: Some(crate::waiters::Echo::new("SELECT count(*) AS rows", 1, "db> ")),
            },
        })
        .unwrap();
        feed(&mut e, pane, "db> SELECT count(*) AS rows\r\n");
        assert!(rx.try_recv().is_err(), "the echo is skipped");
        feed(&mut e, pane, "rows: 3\r\n");
        assert_eq!(rx.try_recv().unwrap().line, "rows: 3");
    }

    #[test]
    fn search_recent_finds_the_oldest_of_the_last_lines_with_captures() {
        let mut e = engine();
        let pane = PaneId(1);
        feed(&mut e, pane, "job 1 done\r\njob 2 done\r\nother\r\n");
        let re = PatternRegex::new(r"^job (?P<n>\d) done$").unwrap();
        assert!(e.search_recent(pane, &re, 1).is_none());
        let m = e.search_recent(pane, &re, 2).unwrap();
        assert_eq!((m.line.as_str(), m.seq), ("job 2 done", 2));
        assert_eq!(m.captures, [("n".to_string(), "2".to_string())]);
        assert_eq!(e.search_recent(pane, &re, 10).unwrap().seq, 1);
    }

    fn trigger_engine() -> Engine {
        let text = "[[rule]]\nname = \"t\"\npattern = '^TRIGGER \\d+$'\nactions = [\"log\"]\n";
        Engine::new(crate::rules::parse(text, std::path::Path::new("r.toml")).unwrap()).unwrap()
    }

    fn lines(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn fired(out: &[Firing]) -> Vec<&str> {
        out.iter().map(|f| f.ctx.line.as_str()).collect()
    }

    #[test]
    fn catch_up_feeds_only_what_follows_the_last_line_received() {
        let mut e = trigger_engine();
        let p = PaneId(1);
        let mut out = Vec::new();
        e.on_output(p, b"a 1\r\nTRIGGER 1\r\na 2\r\na 3", Instant::now(), 0, &mut out);
        assert_eq!(fired(&out), ["TRIGGER 1"]);
        out.clear();
        let cap = lines(&["a 1", "TRIGGER 1", "a 2", "a 34", "TRIGGER 2", "a 5", ""]);
        let done = e.catch_up(p, &cap, Instant::now(), 0, &mut out);
        assert_eq!(done, CatchUp { fed: 3, aligned: true });
        assert_eq!(fired(&out), ["TRIGGER 2"]);
    }

    #[test]
    fn catch_up_feeds_the_whole_capture_when_the_last_line_scrolled_out() {
        let mut e = trigger_engine();
        let p = PaneId(1);
        let mut out = Vec::new();
        e.on_output(p, b"old 1\r\nold 2\r\n", Instant::now(), 0, &mut out);
        let cap = lines(&["new 7", "TRIGGER 3", "new 8"]);
        let done = e.catch_up(p, &cap, Instant::now(), 0, &mut out);
        assert_eq!(done, CatchUp { fed: 3, aligned: false });
        assert_eq!(fired(&out), ["TRIGGER 3"]);
        // resync_tail (a pane that exited) still feeds nothing without an alignment.
        out.clear();
        let mut e = trigger_engine();
        e.on_output(p, b"old 1\r\n", Instant::now(), 0, &mut out);
        assert_eq!(e.resync_tail(p, &cap, Instant::now(), 0, &mut out), 0);
        assert!(out.is_empty());
    }

    /// An engine over the rules in `toml` (each rule's actions default to `log`).
    fn engine_with(toml: &str) -> Engine {
        Engine::new(crate::rules::parse(toml, Path::new("rules.toml")).unwrap()).unwrap()
    }

    fn feed_at(e: &mut Engine, pane: PaneId, text: &str, now: Instant) -> Vec<String> {
        let mut out = Vec::new();
        e.on_output(pane, text.as_bytes(), now, 0, &mut out);
        out.iter().map(|f| format!("{}:{}", f.ctx.rule, f.ctx.line)).collect()
    }

    #[test]
    fn a_once_rule_fires_once_for_the_daemons_life_and_again_after_a_reload() {
        let mut e = engine_with(
            "[[rule]]\nname = \"o\"\npattern = 'BOOT'\nonce = true\nactions = [\"log\"]\n\
             [[rule]]\nname = \"many\"\npattern = 'BOOT'\nactions = [\"log\"]\n",
        );
        let (p1, p2, now) = (PaneId(1), PaneId(2), Instant::now());
        assert_eq!(feed_at(&mut e, p1, "BOOT 1\r\n", now), ["o:BOOT 1", "many:BOOT 1"]);
        assert_eq!(feed_at(&mut e, p1, "BOOT 2\r\n", now), ["many:BOOT 2"]);
        assert_eq!(feed_at(&mut e, p2, "BOOT 3\r\n", now), ["many:BOOT 3"], "not per pane");
        assert_eq!(e.counts(), [1, 3]);
        let per_pane = |e: &Engine, p| e.pane(p).map(|p| p.matches);
        assert_eq!((per_pane(&e, p1), per_pane(&e, p2)), (Some(3), Some(1)), "firings per pane");
        e.reload(e.rules().as_ref().clone()).unwrap();
        assert_eq!(feed_at(&mut e, p2, "BOOT 4\r\n", now), ["o:BOOT 4", "many:BOOT 4"]);
        assert_eq!(e.counts(), [2, 4], "counts carry over a reload by rule name");
    }

    #[test]
    fn a_cooldown_holds_a_rule_per_pane_until_it_has_passed() {
        let mut e = engine_with(
            "[[rule]]\nname = \"c\"\npattern = 'ERR'\ncooldown = \"5s\"\nactions = [\"log\"]\n",
        );
        let (p1, p2, t0) = (PaneId(1), PaneId(2), Instant::now());
        let at = |s: u64| t0 + Duration::from_secs(s);
        assert_eq!(feed_at(&mut e, p1, "ERR a\r\nERR b\r\n", at(0)), ["c:ERR a"]);
        assert_eq!(feed_at(&mut e, p2, "ERR c\r\n", at(1)), ["c:ERR c"], "another pane");
        assert!(feed_at(&mut e, p1, "ERR d\r\n", at(4)).is_empty(), "within 5 s");
        assert_eq!(feed_at(&mut e, p1, "ERR e\r\n", at(5)), ["c:ERR e"]);
        assert!(feed_at(&mut e, p1, "ERR f\r\n", at(9)).is_empty(), "timed from the last firing");
        e.remove_pane(p1);
        assert_eq!(feed_at(&mut e, p1, "ERR g\r\n", at(9)), ["c:ERR g"], "a new pane %1");
    }

    #[test]
    fn selectors_pick_panes_by_label_glob_and_id_and_follow_relabelling() {
        let mut e = engine_with(
            "[[rule]]\nname = \"glob\"\npattern = 'X'\npane = \"db-*\"\nactions = [\"log\"]\n\
             [[rule]]\nname = \"id\"\npattern = 'X'\npane = \"%2\"\nactions = [\"log\"]\n\
             [[rule]]\nname = \"all\"\npattern = 'X'\npane = \"*\"\nactions = [\"log\"]\n",
        );
        let now = Instant::now();
        let (p1, p2, p3) = (PaneId(1), PaneId(2), PaneId(3));
        e.upsert_pane(p1, info("db-main"));
        e.upsert_pane(p2, info("web"));
        assert_eq!(feed_at(&mut e, p1, "X1\r\n", now), ["glob:X1", "all:X1"]);
        assert_eq!(feed_at(&mut e, p2, "X2\r\n", now), ["id:X2", "all:X2"]);
        assert_eq!(feed_at(&mut e, p3, "X3\r\n", now), ["all:X3"], "an unlabelled pane");
        e.set_label(p3, Some("db-replica".into()));
        assert_eq!(feed_at(&mut e, p3, "X4\r\n", now), ["glob:X4", "all:X4"]);
        e.set_label(p1, None);
        assert_eq!(feed_at(&mut e, p1, "X5\r\n", now), ["all:X5"], "its label was removed");
        // A pane ctmuxd labelled: tmux's report from before its `set-option` is ignored,
        // until tmux has reported the label once.
        e.upsert_pane(p1, info("db-main"));
        e.label_given(p1);
        e.label_from_tmux(p1, None);
        assert_eq!(feed_at(&mut e, p1, "X7\r\n", now), ["glob:X7", "all:X7"]);
        e.label_from_tmux(p1, Some("db-main".into()));
        e.label_from_tmux(p1, None);
        assert_eq!(feed_at(&mut e, p1, "X8\r\n", now), ["all:X8"], "removed by hand later");
        let f = &{
            let mut out = Vec::new();
            e.on_output(p3, b"X6\r\n", now, 7, &mut out);
            out
        }[0];
        assert_eq!((f.ctx.pane_label.as_deref(), f.ts_ns, f.seq), (Some("db-replica"), 7, 3));
    }

    #[test]
    fn a_prompt_rule_fires_on_the_line_being_written_once_and_a_line_rule_waits() {
        let mut e = engine_with(
            "[[rule]]\nname = \"pw\"\npattern = 'Password: $'\nprompt = true\nactions = [\"log\"]\n\
             [[rule]]\nname = \"line\"\npattern = 'Password: $'\nactions = [\"log\"]\n",
        );
        let (p, now) = (PaneId(1), Instant::now());
        assert!(feed_at(&mut e, p, "Pass", now).is_empty());
        let mut out = Vec::new();
        e.on_output(p, b"word: ", now, 0, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].ctx.rule.as_str(), out[0].complete), ("pw", false));
        assert_eq!(feed_at(&mut e, p, "\r\n", now), ["line:Password: "], "not twice per line");
    }

    #[test]
    fn exit_rules_filter_by_status_and_pane_and_fire_once_per_exit() {
        let mut e = engine_with(
            "[[rule]]\nname = \"failed\"\non = \"exit\"\nstatus = \"nonzero\"\npane = \"t-*\"\nactions = [\"log\"]\n\
             [[rule]]\nname = \"any\"\non = \"exit\"\nactions = [\"log\"]\n",
        );
        let (p1, p2) = (PaneId(1), PaneId(2));
        e.upsert_pane(p1, info("t-unit"));
        e.upsert_pane(p2, info("web"));
        assert!(e.pane_exited(PaneId(9), Some(1), 0).is_none(), "an unknown pane");
        assert!(e.begin_exit(p1) && !e.begin_exit(p1), "an exit is claimed once");
        let fired = e.pane_exited(p1, Some(3), 0).unwrap();
        let names: Vec<_> = fired.iter().map(|f| f.ctx.rule.as_str()).collect();
        assert_eq!(names, ["failed", "any"]);
        assert_eq!(fired[0].ctx.captures, [("status".to_string(), "3".to_string())]);
        assert!(e.pane_exited(p1, Some(3), 0).is_none(), "recorded already");
        assert!(!e.begin_exit(p1), "a dead pane is not claimed again");
        let fired = e.pane_exited(p2, Some(3), 0).unwrap();
        assert_eq!(fired.iter().map(|f| f.ctx.rule.as_str()).collect::<Vec<_>>(), ["any"]);
        assert_eq!(e.panes_alive(), 0);
        let per_pane = |p| e.pane(p).map(|p| p.matches);
        assert_eq!((per_pane(p1), per_pane(p2)), (Some(2), Some(1)), "exit firings per pane");
    }

    #[test]
    fn an_event_fires_its_rules_with_the_cause_and_once_holds() {
        let mut e = engine_with(
            "[[rule]]\nname = \"next\"\non = \"event\"\nevent = \"built\"\nonce = true\nactions = [\"log\"]\n\
             [[rule]]\nname = \"other\"\non = \"event\"\nevent = \"tested\"\nactions = [\"log\"]\n",
        );
        let cause = ActionContext {
            rule: "build".into(),
            line: "BUILD OK".into(),
            pane_id: PaneId(4),
            pane_label: Some("b".into()),
            session: "s".into(),
            captures: vec![],
        };
        let fired = e.fire_event("built", &cause);
        assert_eq!(fired.len(), 1);
        assert_eq!((fired[0].ctx.rule.as_str(), fired[0].ctx.line.as_str()), ("next", "BUILD OK"));
        assert_eq!(fired[0].ctx.pane_id, PaneId(4));
        assert!(e.fire_event("built", &cause).is_empty(), "once");
        assert!(e.fire_event("nothing", &cause).is_empty());
    }

    #[test]
    fn a_linked_pane_is_fed_by_one_connection_and_learnt_from_its_first_output() {
        let mut e = trigger_engine();
        let (pane, s1, s2) = (PaneId(5), SessionId(1), SessionId(2));
        assert!(e.claim_output(pane, s1, "one"), "an unknown pane is added by its output");
        let info = e.pane_info(pane).unwrap();
        assert_eq!((info.session, info.session_name.as_str()), (Some(s1), "one"));
        assert!(!e.claim_output(pane, s2, "two"), "the second connection's copy");
        assert_eq!(e.pane_info(pane).unwrap().session_name, "one");
        e.release_feeds(s1);
        assert!(e.claim_output(pane, s2, "two"), "taken over once the first one ended");
        e.upsert_pane(pane, info_in(s2));
        assert!(!e.claim_output(pane, s1, "one"));
        e.clear_panes();
        assert!(e.claim_output(pane, s1, "one"), "a new server: nobody feeds it yet");
    }

    fn info_in(session: SessionId) -> PaneInfo {
        PaneInfo { session: Some(session), ..PaneInfo::default() }
    }

    #[test]
    fn a_pane_already_dead_when_first_seen_never_fires_exit_rules() {
        let mut e = engine_with("[[rule]]\nname = \"x\"\non = \"exit\"\nactions = [\"log\"]\n");
        let (old, new) = (PaneId(1), PaneId(2));
        assert!(e.upsert_pane(old, info("old")) && !e.upsert_pane(old, info("old")));
        e.mark_dead(old);
        assert!(!e.begin_exit(old));
        assert!(e.pane_exited(old, Some(0), 0).is_none());
        e.upsert_pane(new, info("new"));
        e.close_on_exit(new);
        assert_eq!(e.panes_alive(), 1);
        assert!(e.begin_exit(new));
        assert_eq!(e.panes_alive(), 1, "alive until the exit is recorded");
        assert_eq!(e.pane_exited(new, Some(0), 0).unwrap().len(), 1);
        let p = e.pane(new).unwrap();
        assert_eq!((p.life, p.close_on_exit, e.panes_alive()), (Life::Dead, true, 0));
    }

    /// One command as ctmuxd's bash integration prints it: D of the last, A, prompt, B,
    /// the typed line, C, its output, D.
    fn shell_command(cmd: &str, output: &str, status: i32) -> String {
        format!(
            "\x1b]133;A\x07$ \x1b]133;B\x07{cmd}\r\n\x1b]633;E;{cmd}\x07\x1b]133;C\x07{output}\x1b]133;D;{status}\x07"
        )
    }

    #[test]
    fn shell_marks_move_the_pane_state_and_each_finished_command_is_recorded_once() {
        let mut e = engine_with("");
        let p = PaneId(1);
        let t0 = Instant::now();
        feed_at(&mut e, p, "plain output\r\n", t0);
        let shell = &e.pane(p).unwrap().shell;
        assert_eq!((shell.integrated, &shell.state), (false, &ShellState::Unknown));
        feed_at(&mut e, p, "\x1b]133;A\x07$ \x1b]133;B\x07make\r\n\x1b]633;E;make\x07", t0);
        assert_eq!(e.pane(p).unwrap().shell.state, ShellState::Prompt);
        feed_at(&mut e, p, "\x1b]133;C\x07a\r\nb\r\n", t0);
        assert!(matches!(
            &e.pane(p).unwrap().shell.state,
            ShellState::Running { cmdline: Some(c), after_line: 2, .. } if c == "make"
        ));
        assert!(e.take_commands().is_empty());
        feed_at(&mut e, p, "c\x1b]133;D;2\x07", t0 + Duration::from_millis(1500));
        let shell = &e.pane(p).unwrap().shell;
        assert_eq!(shell.state, ShellState::Prompt);
        let last = shell.last.clone().unwrap();
        assert_eq!(
            (last.status, last.duration_ms, last.lines, last.line_count()),
            (Some(2), 1500, (3, 5), 3)
        );
        let records = e.take_commands();
        assert_eq!(records.len(), 1);
        let crate::eventlog::Event::Command(c) = &records[0].event else { panic!() };
        assert_eq!((c.cmdline.as_deref(), c.status, c.lines), (Some("make"), Some(2), 3));
        // A `D` with no command (an empty line) and a repeated `D` record nothing.
        feed_at(&mut e, p, "\x1b]133;A\x07$ \x1b]133;D;0\x07\x1b]133;D;0\x07", t0);
        assert!(e.take_commands().is_empty());
        // A second `C` before the `D` does not restart the command.
        feed_at(&mut e, p, "\x1b]133;C\x07one\r\n\x1b]133;C\x07two\r\n\x1b]133;D;0\x07", t0);
        let c = e.take_commands();
        let crate::eventlog::Event::Command(c) = &c[0].event else { panic!() };
        assert_eq!((c.lines, c.status), (2, Some(0)));
        // A prompt without a `D` ends the command with no status.
        feed_at(&mut e, p, "\x1b]133;C\x07x\r\n\x1b]133;A\x07$ ", t0);
        let c = e.take_commands();
        let crate::eventlog::Event::Command(c) = &c[0].event else { panic!() };
        assert_eq!((c.status, c.cmdline.as_deref(), c.lines), (None, None, 1));
    }

    #[test]
    fn command_rules_filter_by_status_cmdline_and_pane() {
        let mut e = engine_with(
            "[[rule]]\nname = \"failed\"\non = \"command\"\nstatus = \"nonzero\"\nactions = [\"log\"]\n\
             [[rule]]\nname = \"make\"\non = \"command\"\ncmdline = '^make\\b'\npane = \"b*\"\nactions = [\"log\"]\n\
             [[rule]]\nname = \"three\"\non = \"command\"\nstatus = 3\nactions = [\"log\"]\n",
        );
        let (a, b) = (PaneId(1), PaneId(2));
        e.upsert_pane(b, info("build"));
        let t = Instant::now();
        assert_eq!(feed_at(&mut e, a, &shell_command("ls", "x\r\n", 0), t), Vec::<String>::new());
        assert_eq!(
            feed_at(&mut e, a, &shell_command("false", "", 1), t),
            ["failed:`false` finished with status 1"]
        );
        assert_eq!(
            feed_at(&mut e, a, &shell_command("make", "", 0), t),
            Vec::<String>::new(),
            "pane a is not b*"
        );
        assert_eq!(
            feed_at(&mut e, b, &shell_command("make all", "", 3), t),
            [
                "failed:`make all` finished with status 3",
                "make:`make all` finished with status 3",
                "three:`make all` finished with status 3",
            ]
        );
        // Fed one byte at a time, the same.
        let mut out = Vec::new();
        for byte in shell_command("false", "", 1).as_bytes() {
            e.on_output(a, std::slice::from_ref(byte), t, 0, &mut out);
        }
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].ctx.captures.iter().find(|(k, _)| k == "status").unwrap().1, "1");
        assert_eq!(e.take_commands().len(), 5);
    }

    #[test]
    fn command_rule_fields_are_checked() {
        let bad =
            |toml: &str| crate::rules::parse(toml, Path::new("r.toml")).unwrap_err().to_string();
        assert!(bad(
            "[[rule]]\nname = \"x\"\ncmdline = \"a\"\npattern = \"a\"\nactions = [\"log\"]\n"
        )
        .contains("only applies to `on = \"command\"`"));
        assert!(bad(
            "[[rule]]\nname = \"x\"\non = \"command\"\ncmdline = \"(\"\nactions = [\"log\"]\n"
        )
        .contains("invalid `cmdline` pattern"));
        assert!(bad(
            "[[rule]]\nname = \"x\"\non = \"command\"\nstatus = \"often\"\nactions = [\"log\"]\n"
        )
        .contains("`status` is an exit code"));
    }

    #[test]
    fn a_run_collects_its_commands_output_from_c_to_d_keeping_the_tail() {
        let mut e = engine_with("");
        let p = PaneId(1);
        let t = Instant::now();
        assert_eq!(
            e.start_run(p, RunCapture::new(1, "x".into(), 100).0),
            Err(RunRefusal::NoIntegration)
        );
        feed_at(&mut e, p, "\x1b]133;A\x07$ ", t);
        let (cap, mut rx) = RunCapture::new(1, "seq 3; printf end".into(), 100);
        e.start_run(p, cap).unwrap();
        assert!(matches!(
            e.start_run(p, RunCapture::new(2, "y".into(), 100).0),
            Err(RunRefusal::Busy(None))
        ));
        feed_at(&mut e, p, "seq 3; printf end\r\n\x1b]133;C\x071\r\n2\r", t);
        assert!(rx.try_recv().is_err());
        feed_at(&mut e, p, "\n3\r\nend\x1b]133;D;0\x07\x1b]133;A\x07$ ", t);
        let out = rx.try_recv().unwrap();
        assert_eq!(out.output, ["1", "2", "3", "end"]);
        assert_eq!((out.dropped_lines, out.command.status), (0, Some(0)));
        assert_eq!(out.command.cmdline.as_deref(), Some("seq 3; printf end"), "the typed line");
        // Past the limit, the tail is kept and the rest counted.
        let (cap, mut rx) = RunCapture::new(3, "big".into(), 10);
        e.start_run(p, cap).unwrap();
        let mut text = String::from("big\r\n\x1b]133;C\x07");
        for i in 0..100 {
            text.push_str(&format!("{i:03}\r\n"));
        }
        text.push_str("\x1b]133;D;0\x07");
        feed_at(&mut e, p, &text, t);
        let out = rx.try_recv().unwrap();
        assert_eq!(out.output, ["098", "099"]);
        assert_eq!(
            (out.dropped_lines, out.dropped_bytes, out.command.line_count()),
            (98, 392, 100)
        );
        // A running command refuses a run; a cancelled run is gone.
        feed_at(&mut e, p, "\x1b]133;C\x07", t);
        assert!(matches!(
            e.start_run(p, RunCapture::new(4, "z".into(), 10).0),
            Err(RunRefusal::Busy(_))
        ));
        feed_at(&mut e, p, "\x1b]133;D;0\x07", t);
        e.start_run(p, RunCapture::new(5, "z".into(), 10).0).unwrap();
        e.cancel_run(p, 5);
        assert!(e.pane(p).unwrap().shell.run.is_none());
    }

    #[test]
    fn a_command_the_shell_does_not_run_ends_the_run_at_the_next_prompt() {
        let mut e = engine_with("");
        let p = PaneId(1);
        let t = Instant::now();
        feed_at(&mut e, p, "\x1b]133;C\x07x\r\n\x1b]133;D;0\x07", t);
        // Registered between the `D` and its prompt's `A`: that `A` (no new line since)
        // is not taken for a refusal.
        let (cap, mut rx) = RunCapture::new(1, "fi".into(), 1000);
        e.start_run(p, cap).unwrap();
        feed_at(&mut e, p, "\x1b]133;A\x07$ \x1b]133;B\x07", t);
        assert!(rx.try_recv().is_err());
        feed_at(&mut e, p, "fi\r\nbash: syntax error near unexpected token `fi'\r\n", t);
        assert!(rx.try_recv().is_err());
        feed_at(&mut e, p, "\x1b]133;A\x07$ ", t);
        let out = rx.try_recv().unwrap();
        assert!(!out.ran);
        assert_eq!(out.output, ["$ fi", "bash: syntax error near unexpected token `fi'"]);
        assert_eq!((out.command.status, e.take_commands().len()), (None, 1), "only the first ran");
        // The typed lines are not part of a command's output when it runs.
        let (cap, mut rx) = RunCapture::new(2, "echo a".into(), 1000);
        e.start_run(p, cap).unwrap();
        feed_at(&mut e, p, "echo a\r\n\x1b]133;C\x07a\r\n\x1b]133;D;0\x07\x1b]133;A\x07$ ", t);
        let out = rx.try_recv().unwrap();
        assert!(out.ran);
        assert_eq!(out.output, ["a"]);
    }
}
