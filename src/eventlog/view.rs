//! What `ctmuxd logs` shows: which records ([`RecordFilter`]: by pane, rule, kind, age) and
//! how, for a person ([`human_line`]: one aligned line per record, local time first).
//! Piped or with `--json`, the lines are written as the file holds them.

use std::time::Duration;

use super::record::{Event, Origin, Record};
use crate::glob::glob_match;

/// Which records to show. Empty lists admit everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecordFilter {
    /// Pane ids (`%3`) or label globs (`build-*`); a record about no pane is left out
    /// when this is set.
    pub panes: Vec<String>,
    /// Rule name globs.
    pub rules: Vec<String>,
    /// Kinds as the `"event"` field writes them (`match`, `action`, `pane`, ...).
    pub events: Vec<String>,
    /// Only records written at or after this time, ns since the epoch.
    pub since_ns: Option<u64>,
    /// Only records about this tmux server (their `"server"`, see
    /// [`super::EventLog::set_server`]); records without one are left out.
    pub server: Option<String>,
}

impl RecordFilter {
    /// Whether nothing is filtered.
    pub fn is_empty(&self) -> bool {
        self.panes.is_empty()
            && self.rules.is_empty()
            && self.events.is_empty()
            && self.since_ns.is_none()
            && self.server.is_none()
    }

    /// Only records younger than `age`, counted from `now_ns`.
    pub fn since(mut self, age: Duration, now_ns: u64) -> RecordFilter {
        self.since_ns = Some(now_ns.saturating_sub(age.as_nanos().min(u64::MAX as u128) as u64));
        self
    }

    /// Whether `rec` is shown.
    pub fn admits(&self, rec: &Record) -> bool {
        if self.since_ns.is_some_and(|since| rec.ts_ns < since) {
            return false;
        }
        if !self.events.is_empty() && !self.events.iter().any(|k| k == rec.event.kind()) {
            return false;
        }
        let (pane, label, rule) = about(&rec.event);
        if !self.rules.is_empty()
            && !rule.is_some_and(|r| self.rules.iter().any(|g| glob_match(g, r)))
        {
            return false;
        }
        if !self.panes.is_empty() {
            let hit = self
                .panes
                .iter()
                .any(|p| pane == Some(p.as_str()) || label.is_some_and(|l| glob_match(p, l)));
            if !hit {
                return false;
            }
        }
        true
    }
}

/// The pane id, label and rule a record is about, where it says (`None` for what it does
/// not name: a daemon record is about no pane).
pub fn about(event: &Event) -> (Option<&str>, Option<&str>, Option<&str>) {
    fn origin(o: &Origin) -> (Option<&str>, Option<&str>, Option<&str>) {
        (o.pane.as_deref(), o.label.as_deref(), o.rule.as_deref())
    }
    match event {
        Event::Match(e) => origin(&e.origin),
        Event::Action(e) => origin(&e.origin),
        Event::Skipped(e) => origin(&e.origin),
        Event::Overflow(e) => origin(&e.origin),
        Event::Trigger(e) => origin(&e.origin),
        Event::Condition(e) => origin(&e.origin),
        Event::Pane(e) => (e.pane.as_deref(), e.label.as_deref(), None),
        Event::CatchUp(e) => (Some(e.pane.as_str()), None, None),
        Event::Resync(e) => (Some(e.pane.as_str()), None, None),
        Event::Gap(_) => (None, None, None),
        Event::Emit(e) => (None, None, Some(e.rule.as_str())),
        Event::Command(e) => (Some(e.pane.as_str()), e.label.as_deref(), None),
        Event::Daemon(_) | Event::EventsLost(_) | Event::Other(_) => (None, None, None),
    }
}

/// One record for a person: local time, kind, pane and label, then what happened.
///
/// ```text
/// 14:02:07.512 match    %3 build      rule build: TRIGGER: START_BUILD 42
/// 14:02:07.530 action   %3 build      rule build: exec ok, exit 0, 17.9 ms
/// ```
pub fn human_line(rec: &Record) -> String {
    format!("{} {}", clock(rec.ts_ns), human_text(rec))
}

/// [`human_line`] without the time: kind, pane and label, what happened (the daemon's
/// own stderr lines, which carry their time already).
pub fn human_text(rec: &Record) -> String {
    let (pane, label, rule) = about(&rec.event);
    let rule = rule.map(|r| format!("rule {r}: ")).unwrap_or_default();
    let what = match &rec.event {
        Event::Match(e) => {
            let line = e.origin.line.as_deref().unwrap_or("");
            let mut s = format!("{rule}{line}");
            if e.catch_up {
                s.push_str("  (read back)");
            }
            s
        }
        Event::Action(e) => {
            let mut s = format!("{rule}{} {}", e.action, if e.ok { "ok" } else { "FAILED" });
            if let Some(code) = e.exit_code {
                s.push_str(&format!(", exit {code}"));
            }
            if let Some(sig) = e.signal {
                s.push_str(&format!(", signal {sig}"));
            }
            if e.timed_out {
                s.push_str(", timed out");
            }
            s.push_str(&format!(", {:.1} ms", e.duration_ms));
            if let Some(err) = &e.error {
                s.push_str(&format!(": {err}"));
            }
            s
        }
        Event::Pane(e) => {
            let mut s = e.change.name().to_string();
            if let Some(code) = e.exit_code {
                s.push_str(&format!(" (status {code})"));
            }
            if let Some(sig) = e.signal {
                s.push_str(&format!(" (signal {sig})"));
            }
            if let Some(m) = &e.message {
                s.push_str(&format!(": {m}"));
            }
            if let Some(n) = e.panes_alive {
                s.push_str(&format!("  [{n} alive]"));
            }
            s
        }
        Event::Trigger(e) => format!("{rule}{}", e.origin.line.as_deref().unwrap_or("")),
        Event::Emit(e) => format!("{rule}emit {}", e.name),
        Event::Condition(e) => format!("{rule}{}", condition_text(e)),
        Event::Command(e) => {
            let status = e.status.map_or("?".to_string(), |s| s.to_string());
            let cmd = e.cmdline.as_deref().unwrap_or("(command line not known)");
            format!("{cmd}  → status {status} in {} ms, {} line(s)", e.duration_ms, e.lines)
        }
        other => other.message().unwrap_or("").to_string(),
    };
    let place = match (pane, label) {
        (Some(p), Some(l)) => format!("{p} {l}"),
        (Some(p), None) => p.to_string(),
        (None, Some(l)) => l.to_string(),
        (None, None) => String::new(),
    };
    let line = format!("{:<8} {:<16} {what}", rec.event.kind(), place);
    // Pane text is data: its control characters are shown, never sent to the terminal.
    line.trim_end().chars().map(|c| if c.is_control() { '\u{FFFD}' } else { c }).collect()
}

/// A condition record for a person: what fired it (or what was missing) and its parts,
/// each with its pane: `all fired: api-ready (%1 api), worker-ready (%2 worker)`.
pub fn condition_text(e: &crate::eventlog::ConditionEvent) -> String {
    let parts: Vec<String> = e
        .parts
        .iter()
        .map(|p| match (&p.pane, &p.label) {
            (Some(pane), Some(label)) => format!("{} ({pane} {label})", p.name),
            (Some(pane), None) => format!("{} ({pane})", p.name),
            _ => p.name.clone(),
        })
        .collect();
    if e.timed_out {
        format!(
            "{} timed out, missing {}; came: {}",
            e.condition,
            e.missing.join(", "),
            if parts.is_empty() { "nothing".to_string() } else { parts.join(", ") }
        )
    } else {
        format!("{} fired: {}", e.condition, parts.join(", "))
    }
}

/// `HH:MM:SS.mmm` in local time.
fn clock(ts_ns: u64) -> String {
    let secs = (ts_ns / 1_000_000_000) as libc::time_t;
    let ms = (ts_ns / 1_000_000) % 1000;
    // SAFETY: localtime_r writes only into `tm`, which lives on this stack frame.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&secs, &mut tm).is_null() {
            return format!("{secs}.{ms:03}");
        }
        tm
    };
    format!("{:02}:{:02}:{:02}.{ms:03}", tm.tm_hour, tm.tm_min, tm.tm_sec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eventlog::{ActionEvent, DaemonEvent, MatchEvent, PaneChange, PaneEvent};

    fn origin(pane: &str, label: &str, rule: &str, line: &str) -> Origin {
        Origin {
            pane: Some(pane.into()),
            label: Some(label.into()),
            session: Some("main".into()),
            rule: Some(rule.into()),
            line: Some(line.into()),
        }
    }

    fn matched(ts_ns: u64, pane: &str, label: &str, rule: &str, line: &str) -> Record {
        let event = MatchEvent { origin: origin(pane, label, rule, line), ..MatchEvent::default() };
        Record { ts_ns, event: event.into() }
    }

    #[test]
    fn filters_pick_by_pane_id_or_label_glob_rule_kind_and_age() {
        let a = matched(100, "%1", "build-main", "built", "BUILT 1");
        let b = matched(200, "%2", "web", "err", "ERROR x");
        let d = Record { ts_ns: 300, event: DaemonEvent::say("ready: x".into()).into() };
        let show = |f: &RecordFilter| [&a, &b, &d].iter().filter(|r| f.admits(r)).count();
        assert_eq!(show(&RecordFilter::default()), 3);
        assert!(RecordFilter::default().is_empty());
        let f = RecordFilter { panes: vec!["build-*".into()], ..Default::default() };
        assert!(
            f.admits(&a) && !f.admits(&b) && !f.admits(&d),
            "a label glob; the daemon is about no pane"
        );
        let f = RecordFilter { panes: vec!["%2".into()], ..Default::default() };
        assert!(!f.admits(&a) && f.admits(&b));
        let f = RecordFilter { rules: vec!["bu*".into()], ..Default::default() };
        assert_eq!((f.admits(&a), f.admits(&b)), (true, false));
        let f = RecordFilter { events: vec!["daemon".into()], ..Default::default() };
        assert_eq!(show(&f), 1);
        let f = RecordFilter::default().since(Duration::from_nanos(150), 350);
        assert!(!f.admits(&a) && f.admits(&b) && f.admits(&d), "at or after 200 ns");
    }

    #[test]
    fn a_human_line_says_when_what_where_and_never_carries_control_characters() {
        let m = human_line(&matched(0, "%3", "build", "built", "BUILT \x1b[31m42"));
        assert!(m.ends_with("match    %3 build         rule built: BUILT \u{FFFD}[31m42"), "{m:?}");
        assert_eq!(
            m.len()
                - m.trim_start_matches(|c: char| c.is_ascii_digit() || c == ':' || c == '.').len(),
            12,
            "{m}"
        );
        let act = ActionEvent {
            origin: origin("%3", "build", "built", "BUILT 42"),
            action: "exec".into(),
            ok: false,
            exit_code: Some(3),
            duration_ms: 17.94,
            ..ActionEvent::default()
        };
        let a = human_line(&Record { ts_ns: 0, event: act.into() });
        assert!(a.ends_with("rule built: exec FAILED, exit 3, 17.9 ms"), "{a}");
        let mut p = PaneEvent::new(PaneChange::Exited, "tests", 2);
        p.pane = Some("%4".into());
        p.exit_code = Some(1);
        let p = human_line(&Record { ts_ns: 0, event: p.into() });
        assert!(p.ends_with("pane     %4 tests         exited (status 1)  [2 alive]"), "{p}");
        let c = crate::eventlog::CommandEvent {
            pane: "%5".into(),
            label: Some("dev".into()),
            cmdline: Some("make".into()),
            status: Some(2),
            duration_ms: 1500,
            lines: 40,
        };
        let line = human_line(&Record { ts_ns: 0, event: c.clone().into() });
        assert!(
            line.ends_with("command  %5 dev           make  → status 2 in 1500 ms, 40 line(s)"),
            "{line}"
        );
        let c = crate::eventlog::CommandEvent { cmdline: None, status: None, ..c };
        let line = human_line(&Record { ts_ns: 0, event: c.into() });
        assert!(
            line.ends_with("(command line not known)  → status ? in 1500 ms, 40 line(s)"),
            "{line}"
        );
    }
}
