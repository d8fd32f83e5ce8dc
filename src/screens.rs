//! The screen view of the rules: rules with `screen = true` are compiled into a matcher
//! of their own (one lazy DFA, like the line rules) and matched against each row a pane
//! shows, after each burst of output that changed its screen, instead of against the
//! lines it prints. A rule fires when its pattern *appears* on a pane's screen (no row
//! matched at the last look, one does now) and not again while a row still matches:
//! what a person watching the pane would notice. A full-screen program redrawing the
//! same `READY` a hundred times fires once; `READY` erased and drawn again fires again.
//!
//! Rows are matched one at a time, so `^` and `$` anchor at a row's edges, and a match
//! cannot span two rows (a long line wrapped by the terminal is two rows).

use std::collections::HashSet;
use std::sync::Arc;

use ctmuxd_text::matcher::{Matcher, MatcherError, PaneMatcher, PatternId, PatternSpec};
use ctmuxd_text::pane::screen::Screen;
use tmux_control_parser::PaneId;

use crate::rules::RuleSet;

/// The screen rules of a rule set, compiled: immutable, shared by every pane.
#[derive(Clone, Debug, Default)]
pub struct ScreenMatcher {
    /// Index in the rule set of each pattern of `matcher`, in pattern order.
    rules: Vec<usize>,
    /// `None` when the rule set has no screen rules (nothing is ever looked at).
    matcher: Option<Arc<Matcher>>,
}

impl ScreenMatcher {
    /// Compiles the patterns of the rules with `screen = true`.
    ///
    /// # Errors
    /// The index in the returned error is the rule's index in `rules`.
    pub fn compile(rules: &RuleSet) -> Result<ScreenMatcher, MatcherError> {
        let rule_idx: Vec<usize> =
            rules.rules.iter().enumerate().filter(|(_, r)| r.screen).map(|(i, _)| i).collect();
        if rule_idx.is_empty() {
            return Ok(ScreenMatcher::default());
        }
        let specs: Vec<PatternSpec> =
            rule_idx.iter().map(|&i| PatternSpec::line(rules.rules[i].pattern.clone())).collect();
        let matcher = Matcher::new(&specs).map_err(|mut e| {
            e.index = rule_idx[e.index];
            e
        })?;
        Ok(ScreenMatcher { rules: rule_idx, matcher: Some(Arc::new(matcher)) })
    }

    /// True when no rule watches screens.
    pub fn is_empty(&self) -> bool {
        self.matcher.is_none()
    }

    /// Indices in the rule set of the screen rules.
    pub fn rules(&self) -> &[usize] {
        &self.rules
    }

    /// Named groups of rule `rule`'s pattern on `row`.
    pub fn captures(&self, rule: usize, row: &str) -> Vec<(String, String)> {
        let (Some(m), Some(id)) = (&self.matcher, self.rules.iter().position(|&r| r == rule))
        else {
            return Vec::new();
        };
        m.captures(id, row)
    }
}

/// Which screen rules are visible on which pane, and the matcher state to find out.
#[derive(Debug, Default)]
pub struct ScreenWatch {
    compiled: ScreenMatcher,
    /// Streaming state over rows (one per engine: rows are matched one after another).
    stream: Option<PaneMatcher>,
    /// (rule, pane) pairs whose pattern a row showed at the last look.
    visible: HashSet<(usize, PaneId)>,
    scratch: Vec<PatternId>,
    /// Rules matched at this look (reused).
    now: Vec<(usize, usize)>,
}

impl ScreenWatch {
    /// A watch over `compiled`'s rules; nothing is visible yet.
    pub fn new(compiled: ScreenMatcher) -> ScreenWatch {
        let stream = compiled.matcher.clone().map(PaneMatcher::new);
        ScreenWatch { compiled, stream, ..ScreenWatch::default() }
    }

    /// The compiled rules.
    pub fn compiled(&self) -> &ScreenMatcher {
        &self.compiled
    }

    /// True when no rule watches screens.
    pub fn is_empty(&self) -> bool {
        self.compiled.is_empty()
    }

    /// Looks at `pane`'s screen: calls `appeared(rule, row)` for each screen rule whose
    /// pattern is on screen now and was not at the last look (`row` is the first row
    /// that shows it), and forgets rules no longer shown. `wanted(rule)` says whether
    /// the rule watches this pane at all.
    pub fn look(
        &mut self,
        pane: PaneId,
        screen: &Screen,
        wanted: impl Fn(usize) -> bool,
        mut appeared: impl FnMut(usize, &str),
    ) {
        let Some(stream) = self.stream.as_mut() else { return };
        let (rules, scratch, now) = (&self.compiled.rules, &mut self.scratch, &mut self.now);
        now.clear();
        screen.for_each_row(|row_idx, row| {
            stream.scan(row);
            stream.end_line(row, scratch);
            for &p in scratch.iter() {
                let rule = rules[p];
                if !now.iter().any(|&(r, _)| r == rule) {
                    now.push((rule, row_idx));
                }
            }
        });
        self.visible.retain(|&(rule, p)| p != pane || now.iter().any(|&(r, _)| r == rule));
        if now.is_empty() {
            return;
        }
        let mut fresh: Vec<(usize, usize)> = Vec::new();
        for &(rule, row) in now.iter() {
            if wanted(rule) && self.visible.insert((rule, pane)) {
                fresh.push((rule, row));
            }
        }
        if fresh.is_empty() {
            return;
        }
        let rows = screen.rows();
        for (rule, row) in fresh {
            appeared(rule, rows.get(row).map_or("", String::as_str));
        }
    }

    /// Forgets a pane that is gone.
    pub fn forget_pane(&mut self, pane: PaneId) {
        self.visible.retain(|&(_, p)| p != pane);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watch(toml: &str) -> ScreenWatch {
        let rules = crate::rules::parse(toml, std::path::Path::new("rules.toml")).unwrap();
        ScreenWatch::new(ScreenMatcher::compile(&rules).unwrap())
    }

    const RULES: &str = "[[rule]]\nname = \"lines\"\npattern = 'READY'\nactions = [\"log\"]\n\
        [[rule]]\nname = \"ready\"\npattern = 'STATUS: (?P<s>READY)'\nscreen = true\nactions = [\"log\"]\n\
        [[rule]]\nname = \"err\"\npattern = '^E\\d+'\nscreen = true\nactions = [\"log\"]\n";

    fn look(w: &mut ScreenWatch, pane: u32, s: &Screen) -> Vec<(usize, String)> {
        let mut out = Vec::new();
        w.look(PaneId(pane), s, |_| true, |r, row| out.push((r, row.to_string())));
        out
    }

    #[test]
    fn a_screen_rule_fires_when_its_match_appears_and_not_while_it_stays() {
        let mut w = watch(RULES);
        let mut s = Screen::new(40, 5);
        s.feed(b"\x1b[3;10HSTATUS: READY");
        assert_eq!(look(&mut w, 1, &s), [(1, "         STATUS: READY".to_string())]);
        s.feed(b"\x1b[1;1Hredraw\x1b[3;10HSTATUS: READY");
        assert!(look(&mut w, 1, &s).is_empty(), "still visible: no second firing");
        s.feed(b"\x1b[3;1H\x1b[2K");
        assert!(look(&mut w, 1, &s).is_empty());
        s.feed(b"\x1b[5;1HSTATUS: READY");
        assert_eq!(look(&mut w, 1, &s).len(), 1, "it appeared again");
        assert_eq!(w.compiled().captures(1, "STATUS: READY"), [("s".into(), "READY".into())]);
    }

    #[test]
    fn panes_are_apart_and_rows_are_anchored() {
        let mut w = watch(RULES);
        let mut a = Screen::new(20, 3);
        a.feed(b"x E1 in the middle\r\nE42 at a row start");
        let b = Screen::new(20, 3);
        assert_eq!(look(&mut w, 1, &a), [(2, "E42 at a row start".to_string())]);
        assert!(look(&mut w, 2, &b).is_empty());
        let mut b = b;
        b.feed(b"E7");
        assert_eq!(look(&mut w, 2, &b).len(), 1, "another pane's visibility is its own");
        w.forget_pane(PaneId(2));
        assert_eq!(look(&mut w, 2, &b).len(), 1, "a forgotten pane starts over");
    }

    #[test]
    fn no_screen_rules_means_nothing_is_compiled_or_looked_at() {
        let w = watch("[[rule]]\nname = \"a\"\npattern = 'x'\nactions = [\"log\"]\n");
        assert!(w.is_empty());
    }
}
