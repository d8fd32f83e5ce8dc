//! Rule conditions that reason about time and several panes: `silence`, `at_prompt_for`,
//! `all`, `any`, `count` and `sequence` (with `within`, `per` and `timeout_actions`), as
//! the rules file writes them, checked into a [`Condition`].
//!
//! `rule.rs` calls [`check`] for every rule, then reads the patterns a condition needs
//! (a `sequence`'s steps) and its `timeout_actions` with its own pattern and action
//! checks; [`check_parts`] runs once every rule is known, since an `all`/`any` names other
//! rules. The state machines that evaluate conditions live in [`crate::conditions`].

use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use super::error::{RulesError, Source};
use super::file::{DurationText, RawRule};
use super::Rule;
use crate::action::duration::parse_duration;
use crate::action::Action;

/// What, besides one matching line, makes a rule fire (README, "Conditions").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// `silence = "5m"`: a selected pane printed nothing for this long since its last
    /// output; fires once per silence.
    Silence(Duration),
    /// `at_prompt_for = "30s"`: a selected pane's shell (with integration) has been
    /// waiting at its prompt, with nothing printed, for this long; once per wait.
    AtPromptFor(Duration),
    /// `all = [...]`: every named rule or event fired, all within `within` of the first.
    All {
        /// Rule or event names, in file order; no repeats.
        parts: Vec<String>,
        /// The window, from the first part; `None`: no limit.
        within: Option<Duration>,
    },
    /// `any = [...]`: one of the named rules or events fired; with `within`, the parts
    /// that follow within that time of it join that firing instead of firing again.
    Any {
        /// Rule or event names, in file order; no repeats.
        parts: Vec<String>,
        /// The window, from the part that fired; `None`: every part fires.
        within: Option<Duration>,
    },
    /// `count = N, within = "10s"`: the rule's pattern matched N times within the window.
    Count {
        /// How many matches (at least 2).
        n: u32,
        /// From the first of the N matches to the last, at most.
        within: Duration,
        /// Whether matches are counted per pane or over every pane the rule selects.
        per: CountPer,
    },
    /// `sequence = ["a", "b"]`: lines matching each step, in order, on one pane.
    Sequence {
        /// The steps' patterns, in order (at least 2).
        steps: Vec<String>,
        /// From the first step's line to the last, at most; `None`: no limit.
        within: Option<Duration>,
    },
}

impl Condition {
    /// The key that names it in the rules file (`silence`, `all`, ...).
    pub fn key(&self) -> &'static str {
        match self {
            Condition::Silence(_) => "silence",
            Condition::AtPromptFor(_) => "at_prompt_for",
            Condition::All { .. } => "all",
            Condition::Any { .. } => "any",
            Condition::Count { .. } => "count",
            Condition::Sequence { .. } => "sequence",
        }
    }

    /// Whether the rule has no `pattern` of its own: it fires on time or on other rules.
    pub fn patternless(&self) -> bool {
        !matches!(self, Condition::Count { .. })
    }

    /// The rule or event names of an `all`/`any` (empty for the other conditions).
    pub fn parts(&self) -> &[String] {
        match self {
            Condition::All { parts, .. } | Condition::Any { parts, .. } => parts,
            _ => &[],
        }
    }
}

/// Over which panes a `count` counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CountPer {
    /// Each pane counts its own matches (`per = "pane"`, the default).
    #[default]
    Pane,
    /// Matches on every selected pane count together (`per = "rule"`).
    Rule,
}

/// The largest `count`.
pub const MAX_COUNT: u32 = 100_000;

/// The rule's condition, if it has one, checked on its own (the names an `all`/`any`
/// gives are checked later by [`check_parts`]).
///
/// # Errors
/// Two conditions in one rule, a key that belongs to another condition (`within` on a
/// `silence`, `per` without `count`), a bad or zero duration, a `count` out of range,
/// an empty or repeating list, a `timeout_actions` without `all` and `within`, or a
/// condition beside a key it cannot go with (`pattern`, `on`, `screen`, `prompt`).
pub(super) fn check(
    source: Source<'_>,
    rule: &str,
    raw: &RawRule,
) -> Result<Option<Condition>, RulesError> {
    let err = |span: Range<usize>, message: String| source.invalid(span, Some(rule), message);
    let duration = |value: &Spanned<DurationText>, key: &str| {
        let d = parse_duration(&value.get_ref().0).map_err(|e| err(value.span(), e.to_string()))?;
        if d.is_zero() {
            return Err(err(value.span(), format!("`{key}` must be greater than zero")));
        }
        Ok(d)
    };
    let mut keys: Vec<(&'static str, Range<usize>)> = Vec::new();
    let mut note = |key: &'static str, span: Option<Range<usize>>| {
        if let Some(span) = span {
            keys.push((key, span));
        }
    };
    note("silence", raw.silence.as_ref().map(Spanned::span));
    note("at_prompt_for", raw.at_prompt_for.as_ref().map(Spanned::span));
    note("all", raw.all.as_ref().map(Spanned::span));
    note("any", raw.any.as_ref().map(Spanned::span));
    note("count", raw.count.as_ref().map(Spanned::span));
    note("sequence", raw.sequence.as_ref().map(Spanned::span));
    keys.sort_by_key(|(_, span)| span.start);
    if let [(first, _), (second, span), ..] = keys.as_slice() {
        return Err(err(
            span.clone(),
            format!(
                "a rule has one condition, this one has both `{first}` and `{second}`; \
                 split it into two rules (an `all` can name both)"
            ),
        ));
    }
    let within = raw.within.as_ref().map(|w| duration(w, "within")).transpose()?;
    let Some((key, key_span)) = keys.pop() else {
        for (name, span) in [
            ("within", raw.within.as_ref().map(Spanned::span)),
            ("per", raw.per.as_ref().map(Spanned::span)),
            ("timeout_actions", raw.timeout_actions.as_ref().map(Spanned::span)),
        ] {
            if let Some(span) = span {
                return Err(err(
                    span,
                    format!(
                        "`{name}` needs a condition; add `all`, `any`, `count` or `sequence`, or remove it"
                    ),
                ));
            }
        }
        return Ok(None);
    };
    let only_with = |name: &str, span: Option<Range<usize>>, allowed: &[&str]| match span {
        Some(span) if !allowed.contains(&key) => Err(err(
            span,
            format!(
                "`{name}` does not apply to `{key}`; it goes with {}",
                allowed.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
            ),
        )),
        _ => Ok(()),
    };
    only_with(
        "within",
        raw.within.as_ref().map(Spanned::span),
        &["all", "any", "count", "sequence"],
    )?;
    only_with("per", raw.per.as_ref().map(Spanned::span), &["count"])?;
    only_with("timeout_actions", raw.timeout_actions.as_ref().map(Spanned::span), &["all"])?;
    if let Some(t) = &raw.timeout_actions {
        if within.is_none() {
            return Err(err(
                t.span(),
                "`timeout_actions` run when `within` passes without every part; add `within`"
                    .into(),
            ));
        }
    }
    if let Some(on) = &raw.on {
        return Err(err(
            on.span(),
            format!("`{key}` watches output and time, not `on = ...`; remove `on`"),
        ));
    }
    if let Some(screen) = raw.screen.as_ref().filter(|s| *s.get_ref()) {
        if key != "count" {
            return Err(err(
                screen.span(),
                format!("`screen` does not go with `{key}`; remove it"),
            ));
        }
    }
    if raw.prompt && key != "count" {
        return Err(err(key_span, format!("`prompt` does not go with `{key}`; remove it")));
    }
    let needs_no_pattern = key != "count";
    if let (true, Some(p)) = (needs_no_pattern, &raw.pattern) {
        let why = match key {
            "sequence" => "its steps are the patterns",
            "all" | "any" => "it fires on the rules and events it names",
            _ => "it fires on time, not on a line",
        };
        return Err(err(p.span(), format!("`{key}` rules have no `pattern` ({why}); remove it")));
    }
    let names = |list: &Spanned<Vec<Spanned<String>>>| -> Result<Vec<String>, RulesError> {
        if list.get_ref().is_empty() {
            return Err(err(
                list.span(),
                format!("`{key}` is empty; name the rules or events it waits for"),
            ));
        }
        let mut out: Vec<String> = Vec::new();
        for name in list.get_ref() {
            let text = name.get_ref();
            if text.trim().is_empty() {
                return Err(err(name.span(), "an empty name; write a rule or event name".into()));
            }
            if text == rule {
                return Err(err(name.span(), format!("`{key}` names its own rule `{rule}`")));
            }
            if out.contains(text) {
                return Err(err(name.span(), format!("`{text}` is named twice; name it once")));
            }
            out.push(text.clone());
        }
        Ok(out)
    };
    let condition = match key {
        "silence" => Condition::Silence(duration(raw.silence.as_ref().expect("noted"), "silence")?),
        "at_prompt_for" => Condition::AtPromptFor(duration(
            raw.at_prompt_for.as_ref().expect("noted"),
            "at_prompt_for",
        )?),
        "all" => Condition::All { parts: names(raw.all.as_ref().expect("noted"))?, within },
        "any" => Condition::Any { parts: names(raw.any.as_ref().expect("noted"))?, within },
        "count" => {
            let count = raw.count.as_ref().expect("noted");
            let n = *count.get_ref();
            if !(2..=i64::from(MAX_COUNT)).contains(&n) {
                return Err(err(
                    count.span(),
                    format!("`count` is {n}; use a number from 2 to {MAX_COUNT} (a plain rule fires on every match)"),
                ));
            }
            let Some(within) = within else {
                return Err(err(
                    count.span(),
                    "`count` needs `within`, the window the matches fall in, such as `within = \"10s\"`".into(),
                ));
            };
            let per = match raw.per.as_ref().map(|p| p.get_ref().as_str()) {
                None | Some("pane") => CountPer::Pane,
                Some("rule") => CountPer::Rule,
                Some(other) => {
                    return Err(err(
                        raw.per.as_ref().expect("some").span(),
                        format!("`per` is \"pane\" or \"rule\", not {other:?}"),
                    ))
                }
            };
            Condition::Count { n: n as u32, within, per }
        }
        _ => {
            let steps = raw.sequence.as_ref().expect("noted");
            if steps.get_ref().len() < 2 {
                return Err(err(
                    steps.span(),
                    "`sequence` needs at least two steps; a plain rule matches one".into(),
                ));
            }
            Condition::Sequence {
                steps: steps.get_ref().iter().map(|s| s.get_ref().clone()).collect(),
                within,
            }
        }
    };
    Ok(Some(condition))
}

/// The pattern the rules' matcher is given for a rule with `condition`: a `sequence`'s
/// steps as one alternation (so only lines some step matches reach the condition), none
/// for the other conditions without a pattern.
pub(super) fn matcher_pattern(condition: &Condition) -> Option<String> {
    match condition {
        Condition::Sequence { steps, .. } => {
            Some(steps.iter().map(|s| format!("(?:{s})")).collect::<Vec<_>>().join("|"))
        }
        _ => None,
    }
}

/// What sets off a rule with `condition` on `panes` (`panes labelled `build*``), in
/// words, for `ctmuxd check`.
pub(super) fn explain(condition: &Condition, panes: &str, pattern: &str) -> String {
    let d = |d: &Duration| crate::action::duration::format_duration(*d);
    let names =
        |parts: &[String]| parts.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", ");
    match condition {
        Condition::Silence(t) => format!("{panes} printing nothing for {} (once per silence)", d(t)),
        Condition::AtPromptFor(t) => format!(
            "the shell of {panes} waiting at its prompt for {}, nothing printed (once per wait)",
            d(t)
        ),
        Condition::All { parts, within: Some(w) } => format!(
            "all of {} firing within {} of the first (else its timeout actions, naming what is missing)",
            names(parts),
            d(w)
        ),
        Condition::All { parts, within: None } => format!("all of {} having fired", names(parts)),
        Condition::Any { parts, within: Some(w) } => format!(
            "any of {} firing (those within {} of it join that firing)",
            names(parts),
            d(w)
        ),
        Condition::Any { parts, within: None } => format!("any of {} firing", names(parts)),
        Condition::Count { n, within, per } => format!(
            "{n} lines matching `{pattern}` within {} {}",
            d(within),
            match per {
                CountPer::Pane => format!("in {panes}, counted per pane"),
                CountPer::Rule => format!("in {panes}, counted together"),
            }
        ),
        Condition::Sequence { steps, within } => format!(
            "lines matching {} in that order, in one pane ({panes}){}",
            steps.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(" then "),
            within.map(|w| format!(", within {}", d(&w))).unwrap_or_default()
        ),
    }
}

/// Checks the names each `all`/`any` gives: each must be another rule or an event that
/// some `emit` action raises (or an `on = "event"` rule waits for). `spans` holds, per
/// rule, where each of its names is written.
///
/// # Errors
/// The first name that is neither, at its position.
pub(super) fn check_parts(
    source: Source<'_>,
    rules: &[Rule],
    spans: &[Vec<Range<usize>>],
) -> Result<(), RulesError> {
    let mut events: Vec<&str> = Vec::new();
    for rule in rules {
        for action in rule.actions.iter().chain(&rule.timeout_actions) {
            if let Action::Emit(emit) = action {
                events.push(&emit.name);
            }
        }
        if let super::Trigger::Event(name) = &rule.trigger {
            events.push(name);
        }
    }
    for (rule, spans) in rules.iter().zip(spans) {
        let Some(condition) = &rule.condition else { continue };
        if let Some(cycle) = cycle_from(rules, &rule.name) {
            return Err(source.invalid(
                spans.first().cloned().unwrap_or(0..0),
                Some(&rule.name),
                format!(
                    "`all`/`any` rules wait for each other in a circle ({}); \
                     a condition cannot wait for itself",
                    cycle.join(" → ")
                ),
            ));
        }
        for (part, span) in condition.parts().iter().zip(spans) {
            let known = rules.iter().any(|r| &r.name == part) || events.contains(&part.as_str());
            if !known {
                return Err(source.invalid(
                    span.clone(),
                    Some(&rule.name),
                    format!(
                        "`{part}` is neither a rule nor an event an `emit` action raises; \
                         name a rule of this file or an emitted event"
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// A circle of `all`/`any` rules naming each other that starts at `start`, as the rule
/// names along it (`a → b → a`).
fn cycle_from(rules: &[Rule], start: &str) -> Option<Vec<String>> {
    fn walk(rules: &[Rule], at: &str, start: &str, path: &mut Vec<String>) -> bool {
        let Some(rule) = rules.iter().find(|r| r.name == at) else { return false };
        for part in rule.condition.as_ref().map(Condition::parts).unwrap_or(&[]) {
            if part == start {
                path.push(part.clone());
                return true;
            }
            if path.contains(part) {
                continue;
            }
            path.push(part.clone());
            if walk(rules, part, start, path) {
                return true;
            }
            path.pop();
        }
        false
    }
    let mut path = vec![start.to_string()];
    walk(rules, start, start, &mut path).then_some(path)
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use super::super::parse;
    use super::*;

    fn refused(text: &str) -> String {
        match parse(text, Path::new("rules.toml")) {
            Ok(set) => panic!("accepted: {set:?}"),
            Err(err) => err.to_string(),
        }
    }

    const READY: &str = "[[rule]]\nname = \"api\"\npattern = \"up\"\nactions = [\"log\"]\n";

    #[test]
    fn each_condition_parses_into_its_meaning() {
        let text = format!(
            "{READY}{}",
            r#"
[[rule]]
name = "hang"
silence = "5m"
actions = ["log"]

[[rule]]
name = "both"
all = ["api", "built"]
within = "1m"
actions = [{ emit = "built" }]
timeout_actions = ["log"]

[[rule]]
name = "burst"
pattern = "ERROR"
count = 3
within = "10s"
per = "rule"
actions = ["log"]

[[rule]]
name = "deploy"
sequence = ["migrating", "done"]
actions = ["log"]
"#
        );
        let set = parse(&text, Path::new("rules.toml")).unwrap();
        let c = |name: &str| set.get(name).unwrap().condition.clone().unwrap();
        assert_eq!(c("hang"), Condition::Silence(Duration::from_secs(300)));
        assert_eq!(
            c("both"),
            Condition::All {
                parts: vec!["api".into(), "built".into()],
                within: Some(Duration::from_secs(60))
            }
        );
        assert_eq!(set.get("both").unwrap().timeout_actions.len(), 1);
        assert_eq!(
            c("burst"),
            Condition::Count { n: 3, within: Duration::from_secs(10), per: CountPer::Rule }
        );
        assert_eq!(set.get("deploy").unwrap().pattern, "(?:migrating)|(?:done)");
        let said = super::super::explain(&set);
        assert_eq!(said[1], "rule hang: any pane printing nothing for 5m (once per silence) → log");
        assert_eq!(
            said[2],
            "rule both: all of `api`, `built` firing within 1m of the first (else its timeout \
             actions, naming what is missing) → emit built; on timeout → log"
        );
        assert_eq!(
            said[3],
            "rule burst: 3 lines matching `ERROR` within 10s in any pane, counted together → log"
        );
        assert_eq!(
            said[4],
            "rule deploy: lines matching `migrating` then `done` in that order, in one pane (any pane) → log"
        );
        assert_eq!(set.get("hang").unwrap().pattern, super::super::NEVER_PATTERN);
    }

    #[test]
    fn mistakes_name_file_line_column_and_rule() {
        let cases = [
            (
                "[[rule]]\nname = \"r\"\nsilence = \"5s\"\ncount = 2\nactions = [\"log\"]\n",
                "rules.toml:4:9: rule `r`: a rule has one condition, this one has both `silence` and `count`; split it into two rules (an `all` can name both)",
            ),
            (
                "[[rule]]\nname = \"r\"\npattern = \"x\"\ncount = 3\nactions = [\"log\"]\n",
                "rules.toml:4:9: rule `r`: `count` needs `within`, the window the matches fall in, such as `within = \"10s\"`",
            ),
            (
                "[[rule]]\nname = \"r\"\npattern = \"x\"\ncount = 1\nwithin = \"1s\"\nactions = [\"log\"]\n",
                "rules.toml:4:9: rule `r`: `count` is 1; use a number from 2 to 100000 (a plain rule fires on every match)",
            ),
            (
                "[[rule]]\nname = \"r\"\npattern = \"x\"\nwithin = \"1s\"\nactions = [\"log\"]\n",
                "rules.toml:4:10: rule `r`: `within` needs a condition; add `all`, `any`, `count` or `sequence`, or remove it",
            ),
            (
                "[[rule]]\nname = \"r\"\npattern = \"x\"\nsilence = \"0s\"\nactions = [\"log\"]\n",
                "rules.toml:3:11: rule `r`: `silence` rules have no `pattern` (it fires on time, not on a line); remove it",
            ),
            (
                "[[rule]]\nname = \"r\"\nsilence = \"1s\"\nwithin = \"1s\"\nactions = [\"log\"]\n",
                "rules.toml:4:10: rule `r`: `within` does not apply to `silence`; it goes with `all`, `any`, `count`, `sequence`",
            ),
            (
                "[[rule]]\nname = \"r\"\nany = [\"a\"]\nwithin = \"1s\"\nactions = [\"log\"]\ntimeout_actions = [\"log\"]\n",
                "rules.toml:6:19: rule `r`: `timeout_actions` does not apply to `any`; it goes with `all`",
            ),
            (
                "[[rule]]\nname = \"r\"\nall = [\"a\"]\nactions = [\"log\"]\ntimeout_actions = [\"log\"]\n",
                "rules.toml:5:19: rule `r`: `timeout_actions` run when `within` passes without every part; add `within`",
            ),
            (
                "[[rule]]\nname = \"r\"\nall = [\"api\", \"nope\"]\nactions = [\"log\"]\n",
                "rules.toml:3:15: rule `r`: `nope` is neither a rule nor an event an `emit` action raises; name a rule of this file or an emitted event",
            ),
            (
                "[[rule]]\nname = \"a\"\nany = [\"b\"]\nactions = [\"log\"]\n[[rule]]\nname = \"b\"\nall = [\"a\"]\nactions = [\"log\"]\n",
                "rules.toml:3:8: rule `a`: `all`/`any` rules wait for each other in a circle (a → b → a); a condition cannot wait for itself",
            ),
            (
                "[[rule]]\nname = \"r\"\nsequence = [\"a(\", \"b\"]\nactions = [\"log\"]\n",
                "rules.toml:3:15: rule `r`: invalid pattern: unclosed group",
            ),
            (
                "[[rule]]\nname = \"r\"\nsequence = [\"a\"]\nactions = [\"log\"]\n",
                "rules.toml:3:12: rule `r`: `sequence` needs at least two steps; a plain rule matches one",
            ),
            (
                "[[rule]]\nname = \"r\"\npattern = \"x\"\ncount = 2\nwithin = \"1s\"\nper = \"panes\"\nactions = [\"log\"]\n",
                "rules.toml:6:7: rule `r`: `per` is \"pane\" or \"rule\", not \"panes\"",
            ),
            (
                "[[rule]]\nname = \"r\"\nsilence = \"5\"\nactions = [\"log\"]\n",
                "rules.toml:3:11: rule `r`: invalid duration `5`: the number has no unit; write whole numbers with a unit, such as `500ms`, `2s`, `1m` or `1h30m`",
            ),
        ];
        for (text, expected) in cases {
            let text =
                if text.contains("\"api\"") { format!("{READY}{text}") } else { text.into() };
            let got = refused(&text);
            // The READY rule adds 4 lines in front.
            let expected = if text.starts_with(READY) {
                let (_, rest) = expected.split_once(':').unwrap();
                let (line, rest) = rest.split_once(':').unwrap();
                format!("rules.toml:{}:{rest}", line.parse::<usize>().unwrap() + 4)
            } else {
                expected.to_string()
            };
            assert_eq!(got, expected);
        }
    }
}
