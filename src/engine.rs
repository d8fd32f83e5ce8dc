//! The engine: pane output in, rule firings out.
//!
//! It owns one [`PaneWatch`] per pane (screen text, ring, matcher state) and the firing
//! policy: a rule fires at most once per line (the matcher guarantees it), only for panes
//! its selector picks, at most once per daemon life with `once`, and not again within
//! its `cooldown` on the same pane. It does no I/O: the daemon feeds it from the tmux
//! reader tasks and `replay` feeds it from a transcript, so both behave the same.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use tmux_control_parser::{PaneId, SessionId, WindowId};

use crate::action::ActionContext;
use crate::matcher::{Matcher, PatternSpec};
use crate::pane::watch::{LineMatch, PaneWatch};
use crate::rules::{Rule, RuleSet};

/// What the daemon knows about a pane besides its text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PaneInfo {
    /// Session the pane belongs to (the first one seen, for windows linked twice).
    pub session: Option<SessionId>,
    /// That session's name, for actions' `CTMUX_SESSION`.
    pub session_name: String,
    /// Window holding the pane.
    pub window: Option<WindowId>,
    /// The `@ctmuxd_label` pane option, when set.
    pub label: Option<String>,
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
}

impl Firing {
    /// The rule that fired.
    pub fn rule(&self) -> &Rule {
        &self.rules.rules[self.rule]
    }
}

/// Compiles the patterns of a rule set into one matcher.
///
/// # Errors
/// A message naming the file and the rule whose pattern cannot be compiled.
pub fn compile(rules: &RuleSet) -> Result<Matcher, String> {
    let specs: Vec<PatternSpec> =
        rules.rules.iter().map(|r| PatternSpec { pattern: r.pattern.clone(), prompt: r.prompt }).collect();
    Matcher::new(&specs).map_err(|e| {
        let name = rules.rules.get(e.index).map(|r| r.name.as_str()).unwrap_or("?");
        format!("{}: rule `{name}`: {e}", rules.path.display())
    })
}

struct PaneState {
    watch: PaneWatch,
    info: PaneInfo,
}

/// Per-pane text and matching, and the firing policy over all panes.
pub struct Engine {
    rules: Arc<RuleSet>,
    matcher: Arc<Matcher>,
    panes: HashMap<PaneId, PaneState>,
    /// Rules with `once` that already fired.
    fired_once: HashSet<usize>,
    /// Last firing per (rule, pane), for cooldowns.
    last_fire: HashMap<(usize, PaneId), Instant>,
    /// Reused per feed so the output path does not allocate.
    scratch: Vec<LineMatch>,
}

impl Engine {
    /// An engine for `rules`, compiled into one matcher.
    ///
    /// # Errors
    /// See [`compile`].
    pub fn new(rules: RuleSet) -> Result<Engine, String> {
        let matcher = Arc::new(compile(&rules)?);
        Ok(Engine {
            rules: Arc::new(rules),
            matcher,
            panes: HashMap::new(),
            fired_once: HashSet::new(),
            last_fire: HashMap::new(),
            scratch: Vec::new(),
        })
    }

    /// The rules in force.
    pub fn rules(&self) -> &Arc<RuleSet> {
        &self.rules
    }

    /// Adds a pane or updates what is known about it; its text and state are kept.
    pub fn upsert_pane(&mut self, id: PaneId, info: PaneInfo) {
        match self.panes.get_mut(&id) {
            Some(p) => p.info = info,
            None => {
                let watch = PaneWatch::new(self.matcher.clone(), self.rules.settings.ring_lines);
                self.panes.insert(id, PaneState { watch, info });
            }
        }
    }

    /// Updates a pane's label (from the `@ctmuxd_label` subscription).
    pub fn set_label(&mut self, id: PaneId, label: Option<String>) {
        self.pane_mut(id).info.label = label;
    }

    /// Forgets a pane that is gone.
    pub fn remove_pane(&mut self, id: PaneId) {
        self.panes.remove(&id);
        self.last_fire.retain(|(_, p), _| *p != id);
    }

    /// The panes of `window` known to the engine.
    pub fn panes_in_window(&self, window: WindowId) -> Vec<PaneId> {
        self.panes.iter().filter(|(_, p)| p.info.window == Some(window)).map(|(id, _)| *id).collect()
    }

    /// All known panes and their info, ordered by id.
    pub fn panes(&self) -> Vec<(PaneId, PaneInfo)> {
        let mut v: Vec<_> = self.panes.iter().map(|(id, p)| (*id, p.info.clone())).collect();
        v.sort_by_key(|(id, _)| *id);
        v
    }

    /// Info of one pane.
    pub fn pane_info(&self, id: PaneId) -> Option<&PaneInfo> {
        self.panes.get(&id).map(|p| &p.info)
    }

    /// The last `n` lines of a pane as a person saw them (the partial line last).
    pub fn last_lines(&self, id: PaneId, n: usize) -> Option<Vec<String>> {
        self.panes.get(&id).map(|p| p.watch.ring().last_lines(n))
    }

    fn pane_mut(&mut self, id: PaneId) -> &mut PaneState {
        let (matcher, ring) = (&self.matcher, self.rules.settings.ring_lines);
        self.panes
            .entry(id)
            .or_insert_with(|| PaneState { watch: PaneWatch::new(matcher.clone(), ring), info: PaneInfo::default() })
    }

    /// Feeds bytes a pane printed; appends the rules that fire to `out`.
    ///
    /// `now` drives cooldowns (injected so tests and replay control time); `ts_ns` is
    /// the wall-clock stamp put on each firing.
    pub fn on_output(&mut self, pane: PaneId, data: &[u8], now: Instant, ts_ns: u64, out: &mut Vec<Firing>) {
        let mut matches = std::mem::take(&mut self.scratch);
        let state = self.pane_mut(pane);
        state.watch.feed(data, &mut matches);
        if matches.is_empty() {
            self.scratch = matches;
            return;
        }
        let info = state.info.clone();
        for m in matches.drain(..) {
            for &pid in &m.patterns {
                self.fire(pane, &info, pid, &m, now, ts_ns, out);
            }
        }
        self.scratch = matches;
    }

    #[allow(clippy::too_many_arguments)]
    fn fire(
        &mut self,
        pane: PaneId,
        info: &PaneInfo,
        rule_idx: usize,
        m: &LineMatch,
        now: Instant,
        ts_ns: u64,
        out: &mut Vec<Firing>,
    ) {
        let Some(rule) = self.rules.rules.get(rule_idx) else { return };
        if !rule.pane.matches(pane, info.label.as_deref()) {
            return;
        }
        if rule.once && self.fired_once.contains(&rule_idx) {
            return;
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
        self.last_fire.insert((rule_idx, pane), now);
        let captures = self.matcher.captures(rule_idx, &m.line);
        out.push(Firing {
            rules: self.rules.clone(),
            rule: rule_idx,
            ctx: ActionContext {
                rule: rule.name.clone(),
                line: m.line.clone(),
                pane_id: pane,
                pane_label: info.label.clone(),
                session: info.session_name.clone(),
                captures,
            },
            ts_ns,
            seq: m.seq,
            complete: m.complete,
        });
    }
}

/// Wall-clock now in ns since the Unix epoch.
pub fn now_ns() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}
