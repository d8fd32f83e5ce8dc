//! What an agent may touch through `ctmuxd mcp`: the user's choice of `--read-only`,
//! `--scope GLOB` (panes whose label matches), `--session NAME` (panes of one session),
//! and the pane the server itself runs in (`$TMUX_PANE`, on the same tmux server), which
//! is never typed into nor closed unless `--allow-self`.
//!
//! Every tool asks the [`Policy`] before it calls the daemon; the answers are sentences
//! an agent can act on ("refused: ..."), never a silent filter on a write.

use crate::api::protocol::PaneView;
use crate::glob::glob_match;

/// Tools that change panes: hidden and refused under `--read-only`.
pub const WRITE_TOOLS: &[&str] = &["send", "run", "spawn", "close", "label"];

/// The limits of one MCP server.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    /// No tool may change a pane (`--read-only`).
    pub read_only: bool,
    /// Only panes whose label matches this glob (`--scope`).
    pub label_glob: Option<String>,
    /// Only panes of this session (`--session`).
    pub session: Option<String>,
    /// The pane the server runs in (`%3`), when it is on the server it serves.
    pub self_pane: Option<String>,
    /// Allow sending to and closing `self_pane` (`--allow-self`).
    pub allow_self: bool,
}

impl Policy {
    /// Whether `pane` is one the agent may see and use.
    pub fn in_scope(&self, pane: &PaneView) -> bool {
        let label_ok = match &self.label_glob {
            None => true,
            Some(g) => pane.label.as_deref().is_some_and(|l| glob_match(g, l)),
        };
        label_ok && self.session.as_deref().is_none_or(|s| s == pane.session)
    }

    /// Whether an event-log record about a pane (its `label` and `session`, when it has
    /// them) is one the agent may see; records about no pane always are.
    pub fn event_in_scope(&self, label: Option<&str>, session: Option<&str>) -> bool {
        let label_ok = match (&self.label_glob, label) {
            (None, _) => true,
            (Some(g), Some(l)) => glob_match(g, l),
            (Some(_), None) => false,
        };
        let session_ok = match (&self.session, session) {
            (Some(want), Some(s)) => want == s,
            _ => true,
        };
        label_ok && session_ok
    }

    /// Refuses a tool that changes panes under `--read-only`.
    ///
    /// # Errors
    /// The refusal, for the agent.
    pub fn check_write(&self, tool: &str) -> Result<(), String> {
        if self.read_only {
            return Err(format!(
                "refused: `{tool}` changes panes and this server runs with --read-only"
            ));
        }
        Ok(())
    }

    /// Refuses to act on a pane out of scope.
    ///
    /// # Errors
    /// The refusal, naming the scope.
    pub fn check_pane(&self, pane: &PaneView) -> Result<(), String> {
        if self.in_scope(pane) {
            return Ok(());
        }
        Err(format!(
            "refused: pane {} ({}) is outside this server's scope ({})",
            pane.id,
            pane.label.as_deref().map_or("no label".to_string(), |l| format!("label `{l}`")),
            self.describe()
        ))
    }

    /// Refuses to type into or close the server's own pane.
    ///
    /// # Errors
    /// The refusal, with the flag that allows it.
    pub fn check_not_self(&self, pane: &PaneView, tool: &str) -> Result<(), String> {
        if !self.allow_self && self.self_pane.as_deref() == Some(pane.id.as_str()) {
            return Err(format!(
                "refused: pane {} is the pane this MCP server (and so probably the agent) runs \
                 in; `{tool}` on it would act on the agent itself (start the server with \
                 --allow-self to permit it)",
                pane.id
            ));
        }
        Ok(())
    }

    /// Refuses a label a new or relabelled pane could not be seen under.
    ///
    /// # Errors
    /// The refusal, naming the glob.
    pub fn check_new_label(&self, label: &str) -> Result<(), String> {
        match &self.label_glob {
            Some(g) if !glob_match(g, label) => Err(format!(
                "refused: label `{label}` does not match this server's scope `{g}`; choose a \
                 label matching it"
            )),
            _ => Ok(()),
        }
    }

    /// The scope in words, for messages and the server's instructions.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(g) = &self.label_glob {
            parts.push(format!("panes labelled `{g}`"));
        }
        if let Some(s) = &self.session {
            parts.push(format!("session `{s}`"));
        }
        if parts.is_empty() {
            "every pane of the server".to_string()
        } else {
            parts.join(" in ")
        }
    }
}

/// Finds the pane a tool names among `panes`: by label first, then by id (`%3`), then by
/// tmux target (`main:1.0`); among panes in scope only, so a label held in two sessions is
/// resolved by `--session`.
///
/// # Errors
/// No such pane (listing the labels in scope), one out of scope, or an ambiguous label.
pub fn resolve<'a>(
    policy: &Policy,
    panes: &'a [PaneView],
    name: &str,
) -> Result<&'a PaneView, String> {
    let by_label: Vec<&PaneView> =
        panes.iter().filter(|p| p.label.as_deref() == Some(name)).collect();
    let found: Vec<&PaneView> = if by_label.is_empty() {
        panes.iter().filter(|p| p.id == name || p.target.as_deref() == Some(name)).collect()
    } else {
        by_label
    };
    let visible: Vec<&PaneView> = found.iter().copied().filter(|p| policy.in_scope(p)).collect();
    match (visible.as_slice(), found.first()) {
        ([one], _) => Ok(one),
        ([], Some(p)) => policy.check_pane(p).map(|()| *p),
        ([], None) => {
            let labels: Vec<&str> = panes
                .iter()
                .filter(|p| policy.in_scope(p))
                .filter_map(|p| p.label.as_deref())
                .collect();
            Err(format!(
                "no pane `{name}` (a label, %id or session:window.pane); labels in scope: {}",
                if labels.is_empty() { "none".to_string() } else { labels.join(", ") }
            ))
        }
        (many, _) => Err(format!(
            "label `{name}` is held by {} panes ({}); name one by its id",
            many.len(),
            many.iter().map(|p| p.id.as_str()).collect::<Vec<_>>().join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pane(id: &str, label: Option<&str>, session: &str) -> PaneView {
        PaneView {
            server: None,
            id: id.into(),
            label: label.map(str::to_string),
            session: session.into(),
            target: Some(format!("{session}:1.{}", &id[1..])),
            ..Default::default()
        }
    }

    #[test]
    fn scope_glob_and_session_limit_panes() {
        let p = Policy {
            label_glob: Some("agent-*".into()),
            session: Some("work".into()),
            ..Default::default()
        };
        assert!(p.in_scope(&pane("%1", Some("agent-build"), "work")));
        assert!(!p.in_scope(&pane("%2", Some("agent-build"), "other")));
        assert!(!p.in_scope(&pane("%3", Some("db"), "work")));
        assert!(!p.in_scope(&pane("%4", None, "work")));
        assert!(Policy::default().in_scope(&pane("%4", None, "work")));
        let err = p.check_pane(&pane("%3", Some("db"), "work")).unwrap_err();
        assert!(err.contains("outside this server's scope"), "{err}");
        assert!(p.check_new_label("agent-x").is_ok());
        assert!(p.check_new_label("db").is_err());
        assert!(p.event_in_scope(Some("agent-x"), Some("work")));
        assert!(!p.event_in_scope(Some("db"), None));
        assert!(!p.event_in_scope(None, None));
        assert!(Policy::default().event_in_scope(None, None));
    }

    #[test]
    fn read_only_refuses_writes() {
        let p = Policy { read_only: true, ..Default::default() };
        assert!(p.check_write("send").unwrap_err().contains("--read-only"));
        assert!(Policy::default().check_write("send").is_ok());
    }

    #[test]
    fn own_pane_is_refused_unless_allowed() {
        let mut p = Policy { self_pane: Some("%7".into()), ..Default::default() };
        let own = pane("%7", Some("me"), "work");
        assert!(p.check_not_self(&own, "send").unwrap_err().contains("--allow-self"));
        assert!(p.check_not_self(&pane("%8", None, "work"), "send").is_ok());
        p.allow_self = true;
        assert!(p.check_not_self(&own, "send").is_ok());
    }

    #[test]
    fn resolve_by_label_id_and_target_within_scope() {
        let panes = vec![
            pane("%1", Some("build"), "work"),
            pane("%2", Some("build"), "other"),
            pane("%3", None, "work"),
        ];
        let all = Policy::default();
        assert!(resolve(&all, &panes, "build").unwrap_err().contains("held by 2 panes"));
        assert_eq!(resolve(&all, &panes, "%3").unwrap().id, "%3");
        assert_eq!(resolve(&all, &panes, "work:1.3").unwrap().id, "%3");
        let work = Policy { session: Some("work".into()), ..Default::default() };
        assert_eq!(resolve(&work, &panes, "build").unwrap().id, "%1");
        let scoped = Policy { label_glob: Some("b*".into()), ..Default::default() };
        assert!(resolve(&scoped, &panes, "%3").unwrap_err().contains("outside"));
        let err = resolve(&scoped, &panes, "nope").unwrap_err();
        assert!(err.contains("labels in scope: build, build"), "{err}");
    }
}
