//! What a rule set does, one line per rule and per `[[pane]]`, as `ctmuxd check` prints it.

use super::{PaneSelector, RuleSet, StatusFilter, Trigger};
use crate::tmux::labelled::PaneCommand;

/// One line per rule, then one per `[[pane]]` entry, in file order: what sets it off, on
/// which panes, its limits, and its actions (as `replay` names them).
pub fn explain(set: &RuleSet) -> Vec<String> {
    let mut out = Vec::new();
    for rule in &set.rules {
        let panes = match &rule.pane {
            PaneSelector::All => "any pane".to_string(),
            PaneSelector::Id(id) => format!("pane {id}"),
            PaneSelector::Label(glob) => format!("panes labelled `{glob}`"),
        };
        let panes = match &rule.server {
            Some(server) => format!("{panes} of server {server}"),
            None => panes,
        };
        let when = match &rule.trigger {
            _ if rule.condition.is_some() => {
                let condition = rule.condition.as_ref().expect("checked");
                super::condition::explain(condition, &panes, &rule.pattern)
            }
            Trigger::Output if rule.screen => {
                format!("`{}` appearing on the screen of {panes}", rule.pattern)
            }
            Trigger::Output => {
                let what = if rule.prompt { "a line (or a prompt)" } else { "a line" };
                format!("{what} matching `{}` in {panes}", rule.pattern)
            }
            Trigger::Exit(filter) => {
                let status = match filter {
                    StatusFilter::Any => "exiting".to_string(),
                    StatusFilter::Code(c) => format!("exiting with status {c}"),
                    StatusFilter::NonZero => "exiting with a non-zero status or a signal".into(),
                };
                format!("{panes} {status}")
            }
            Trigger::Event(name) => format!("event `{name}`"),
            Trigger::Command(filter, cmdline) => {
                let status = match filter {
                    StatusFilter::Any => "finishing".to_string(),
                    StatusFilter::Code(c) => format!("finishing with status {c}"),
                    StatusFilter::NonZero => "finishing with a non-zero status".into(),
                };
                let line = match cmdline {
                    Some(c) => format!(" whose command line matches `{}`", c.pattern),
                    None => String::new(),
                };
                format!("a shell command{line} in {panes} {status}")
            }
        };
        let mut limits = Vec::new();
        if rule.once {
            limits.push("once".to_string());
        }
        if let Some(cd) = rule.cooldown {
            limits.push(format!("not again within {cd:?} on the same pane"));
        }
        let limits =
            if limits.is_empty() { String::new() } else { format!(" ({})", limits.join(", ")) };
        let actions: Vec<String> = rule.actions.iter().map(|a| a.describe()).collect();
        let mut actions = actions.join(", ");
        if !rule.timeout_actions.is_empty() {
            let timeout: Vec<String> = rule.timeout_actions.iter().map(|a| a.describe()).collect();
            actions.push_str(&format!("; on timeout → {}", timeout.join(", ")));
        }
        out.push(format!("rule {}: {when}{limits} → {actions}", rule.name));
    }
    for pane in &set.panes {
        let command = match &pane.spawn.command {
            Some(PaneCommand::Argv(argv)) => format!("runs `{}`", argv.join(" ")),
            Some(PaneCommand::Shell(s)) => format!("runs `sh -c {s:?}`"),
            None => "runs a shell".to_string(),
        };
        let mut parts = Vec::new();
        if !pane.after.is_empty() {
            parts.push(format!("after {}", pane.after.join(", ")));
        }
        parts.push(command);
        match &pane.ready {
            Some(re) => parts.push(format!("ready on `{re}`")),
            None => parts.push("ready once started".to_string()),
        }
        if let Some(re) = &pane.fail {
            parts.push(format!("failed on `{re}`"));
        }
        if let Some(t) = pane.ready_timeout {
            parts.push(format!("failed if not ready within {t:?}"));
        }
        let r = pane.restart;
        let when = match r.when {
            super::RestartWhen::No => None,
            super::RestartWhen::OnFailure => Some("when it fails"),
            super::RestartWhen::Always => Some("whenever it exits or fails"),
        };
        if let Some(when) = when {
            parts.push(format!(
                "restarted {when}, up to {} times, {:?} apart at first",
                r.max, r.backoff
            ));
        }
        out.push(format!("pane {}: {}", pane.spawn.label, parts.join("; ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn each_rule_and_pane_says_what_sets_it_off_and_what_it_does() {
        let text = r#"
[[rule]]
name = "build"
pattern = 'START (?P<id>\S+)'
actions = [ { exec = ["./on-build.sh"] } ]

[[rule]]
name = "pw"
pattern = 'Password: $'
prompt = true
pane = "db-*"
cooldown = "5s"
once = true
actions = [ "log" ]

[[rule]]
name = "failed"
on = "exit"
pane = "%3"
status = "nonzero"
actions = [ { emit = "broken" } ]

[[rule]]
name = "chain"
on = "event"
event = "broken"
actions = [ "log" ]

[[pane]]
label = "db"
command = ["postgres", "-D", "data"]
ready = "ready to accept"

[[pane]]
label = "api"
shell = "make run"
after = ["db"]
fail = "FATAL"
restart = "on-failure"
max_restarts = 3
restart_backoff = "500ms"
"#;
        let set = crate::rules::parse(text, Path::new("r.toml")).unwrap();
        let lines = explain(&set);
        assert_eq!(lines.len(), 6, "{lines:#?}");
        assert!(
            lines[0]
                .starts_with("rule build: a line matching `START (?P<id>\\S+)` in any pane → exec"),
            "{}",
            lines[0]
        );
        assert_eq!(
            lines[1],
            "rule pw: a line (or a prompt) matching `Password: $` in panes labelled `db-*` (once, not again within 5s on the same pane) → log"
        );
        assert!(
            lines[2].starts_with(
                "rule failed: pane %3 exiting with a non-zero status or a signal → emit"
            ),
            "{}",
            lines[2]
        );
        assert_eq!(lines[3], "rule chain: event `broken` → log");
        assert_eq!(lines[4], "pane db: runs `postgres -D data`; ready on `ready to accept`");
        assert_eq!(
            lines[5],
            "pane api: after db; runs `sh -c \"make run\"`; ready once started; failed on \
             `FATAL`; restarted when it fails, up to 3 times, 500ms apart at first"
        );
    }
}
