//! What `ctmuxd top` shows, as plain data: the daemon's last answers (`status`, `panes`,
//! `rules`), the events streamed since it started, the filter, the selection and the open
//! capture; and what each key does to them ([`Model::key`]). Nothing here draws or does
//! I/O: the run loop ([`super::run`]) feeds answers and keys in, the view
//! ([`super::view`]) draws the rows this module derives ([`Model::rows`],
//! [`Model::shown_events`]).

use std::collections::VecDeque;

use crate::api::protocol::PaneView;
use crate::api::request::{PaneEntryView, RuleView, StatusView};
use crate::eventlog::{about, Record};
use crate::glob::glob_match;

/// Events kept for the events list (the oldest is dropped past this).
pub const MAX_EVENTS: usize = 500;

/// Lines asked for when a pane's capture is opened (the daemon answers at most its ring).
pub const CAPTURE_LINES: usize = 2000;

/// Lines a PageUp / PageDown scrolls the capture by.
const PAGE: usize = 10;

/// Which table Up/Down move in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Focus {
    /// The panes table (Enter opens the selected pane's capture).
    #[default]
    Panes,
    /// The rules table.
    Rules,
}

/// A key, as far as `top` tells keys apart (the run loop maps terminal events to these).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    /// A printable character.
    Char(char),
    /// Enter.
    Enter,
    /// Escape.
    Esc,
    /// Backspace.
    Backspace,
    /// Tab.
    Tab,
    /// Up arrow.
    Up,
    /// Down arrow.
    Down,
    /// Page up.
    PageUp,
    /// Page down.
    PageDown,
    /// Home.
    Home,
    /// End.
    End,
    /// Ctrl-C (read as a key: the terminal is in raw mode).
    CtrlC,
}

/// What the run loop must do after a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Nothing beyond drawing again.
    Redraw,
    /// Leave `top`.
    Quit,
    /// Fetch this pane's capture (a pane id, `%3`) into [`Model::capture`].
    Capture(String),
}

/// A pane's capture, shown full-screen.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Capture {
    /// The pane id it is of (`%3`), what the `capture` request is sent for.
    pub pane: String,
    /// The title: label or id, and where the pane is.
    pub title: String,
    /// Its lines, oldest first; empty until the first answer.
    pub lines: Vec<String>,
    /// How many lines up from the bottom the view is scrolled (0: the last line shows).
    pub scroll: usize,
    /// Why the last fetch failed (the pane closed, the daemon is gone).
    pub error: Option<String>,
}

/// How a pane is doing, for its colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    /// Its process runs (a `[[pane]]` entry: starting).
    Running,
    /// A `[[pane]]` entry that is ready.
    Ready,
    /// A `[[pane]]` entry that waits for others, or restarts.
    Held,
    /// It failed: a non-zero exit, a signal, a failed `[[pane]]` entry.
    Failed,
    /// Its process exited with status 0.
    Exited,
}

/// One row of the panes table: a pane, or a `[[pane]]` entry that has no pane yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaneRow {
    /// The pane id (`%3`); `None` for an entry not started.
    pub id: Option<String>,
    /// Its label, else its id.
    pub name: String,
    /// `session:window.pane`, `-` when not known.
    pub place: String,
    /// Its state in words: `alive`, `exited 1`, `alive, ready`, `waiting: after db`.
    pub state: String,
    /// The same, as a class (for colour).
    pub health: Health,
    /// Its command.
    pub command: String,
    /// How many times rules fired on it; empty when the daemon does not say.
    pub matches: String,
    /// The last line it printed.
    pub last: String,
}

/// Everything `top` shows.
#[derive(Debug, Default)]
pub struct Model {
    /// The tmux server, as a command (`tmux -L work`), for the header.
    pub server: String,
    /// The daemon's last `status` answer.
    pub status: Option<StatusView>,
    /// The last `panes` answer.
    pub panes: Vec<PaneView>,
    /// The last `rules` answer.
    pub rules: Vec<RuleView>,
    /// Event-log records streamed since `top` started, oldest first, at most [`MAX_EVENTS`].
    pub events: VecDeque<Record>,
    /// Events the daemon dropped for this reader because it read too slowly.
    pub lagged: u64,
    /// The filter applied to panes and events (a glob when it holds `*` or `?`, else a
    /// substring); empty: none.
    pub filter: String,
    /// The filter being typed after `/`, until Enter or Esc.
    pub editing: Option<String>,
    /// Which table Up/Down move in.
    pub focus: Focus,
    /// The selected row of the panes table (among the rows the filter shows).
    pub selected: usize,
    /// The selected row of the rules table.
    pub rule_selected: usize,
    /// The capture shown full-screen, when one is open.
    pub capture: Option<Capture>,
    /// Why the last refresh failed (the daemon stopped), until one succeeds.
    pub error: Option<String>,
}

impl Model {
    /// An empty model for the daemon of `server` (`tmux -L work`).
    pub fn new(server: String) -> Model {
        Model { server, ..Model::default() }
    }

    /// Takes a refresh's answers; the selections stay within the rows there are.
    pub fn refreshed(&mut self, status: StatusView, panes: Vec<PaneView>, rules: Vec<RuleView>) {
        self.status = Some(status);
        self.panes = panes;
        self.rules = rules;
        self.error = None;
        self.clamp();
    }

    /// Adds a streamed event-log record.
    pub fn push_event(&mut self, rec: Record) {
        if self.events.len() == MAX_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(rec);
    }

    /// The `[[pane]]` entries of the last `status` answer.
    fn entries(&self) -> &[PaneEntryView] {
        self.status.as_ref().map_or(&[], |s| s.pane_entries.as_slice())
    }

    /// The panes table's rows the filter shows: every pane in id order, then the
    /// `[[pane]]` entries that have no pane (waiting for others, or failed to start).
    pub fn rows(&self) -> Vec<PaneRow> {
        let entries = self.entries();
        let mut rows: Vec<PaneRow> = self.panes.iter().map(|p| pane_row(p, entries)).collect();
        for e in entries {
            let has_pane =
                self.panes.iter().any(|p| p.start.is_some() && p.label.as_ref() == Some(&e.label));
            if !has_pane {
                rows.push(PaneRow {
                    id: None,
                    name: e.label.clone(),
                    place: "-".into(),
                    state: entry_state(&e.state, e.reason.as_deref()),
                    health: entry_health(&e.state),
                    command: String::new(),
                    matches: String::new(),
                    last: String::new(),
                });
            }
        }
        rows.retain(|r| {
            let id = r.id.as_deref().unwrap_or("");
            filter_admits(&self.filter, &[r.name.as_str(), id, r.place.as_str()])
        });
        rows
    }

    /// The events the filter shows (those about a pane it admits; all without a filter),
    /// oldest first.
    pub fn shown_events(&self) -> impl Iterator<Item = &Record> {
        self.events.iter().filter(|rec| {
            if self.filter.is_empty() {
                return true;
            }
            let (pane, label, _) = about(&rec.event);
            let names: Vec<&str> = pane.into_iter().chain(label).collect();
            !names.is_empty() && filter_admits(&self.filter, &names)
        })
    }

    /// The pane row selected, if any.
    pub fn selected_row(&self) -> Option<PaneRow> {
        self.rows().into_iter().nth(self.selected)
    }

    /// Keeps the selections within the rows shown.
    fn clamp(&mut self) {
        self.selected = self.selected.min(self.rows().len().saturating_sub(1));
        self.rule_selected = self.rule_selected.min(self.rules.len().saturating_sub(1));
    }

    /// What `key` does: to the filter being typed, to the open capture, or to the tables.
    pub fn key(&mut self, key: Key) -> Command {
        if key == Key::CtrlC {
            return Command::Quit;
        }
        if let Some(buf) = &mut self.editing {
            match key {
                Key::Char(c) => buf.push(c),
                Key::Backspace => {
                    buf.pop();
                }
                Key::Enter => {
                    self.filter = self.editing.take().unwrap_or_default();
                    self.selected = 0;
                }
                Key::Esc => {
                    self.editing = None;
                    self.filter.clear();
                    self.selected = 0;
                }
                _ => {}
            }
            return Command::Redraw;
        }
        if let Some(cap) = &mut self.capture {
            let bottom = cap.lines.len().saturating_sub(1);
            match key {
                Key::Esc | Key::Char('q') => self.capture = None,
                Key::Up | Key::Char('k') => cap.scroll = (cap.scroll + 1).min(bottom),
                Key::Down | Key::Char('j') => cap.scroll = cap.scroll.saturating_sub(1),
                Key::PageUp => cap.scroll = (cap.scroll + PAGE).min(bottom),
                Key::PageDown => cap.scroll = cap.scroll.saturating_sub(PAGE),
                Key::Home | Key::Char('g') => cap.scroll = bottom,
                Key::End | Key::Char('G') => cap.scroll = 0,
                _ => {}
            }
            return Command::Redraw;
        }
        match key {
            Key::Char('q') => return Command::Quit,
            // Esc first clears a filter in force; with none it quits.
            Key::Esc if !self.filter.is_empty() => {
                self.filter.clear();
                self.selected = 0;
            }
            Key::Esc => return Command::Quit,
            Key::Char('/') => self.editing = Some(self.filter.clone()),
            Key::Tab => {
                self.focus = match self.focus {
                    Focus::Panes => Focus::Rules,
                    Focus::Rules => Focus::Panes,
                }
            }
            Key::Up | Key::Char('k') => match self.focus {
                Focus::Panes => self.selected = self.selected.saturating_sub(1),
                Focus::Rules => self.rule_selected = self.rule_selected.saturating_sub(1),
            },
            Key::Down | Key::Char('j') => {
                match self.focus {
                    Focus::Panes => self.selected += 1,
                    Focus::Rules => self.rule_selected += 1,
                }
                self.clamp();
            }
            Key::Enter if self.focus == Focus::Panes => {
                if let Some(PaneRow { id: Some(id), name, place, .. }) = self.selected_row() {
                    let title = if name == id {
                        format!("{id} {place}")
                    } else {
                        format!("{name} {id} {place}")
                    };
                    self.capture = Some(Capture { pane: id.clone(), title, ..Capture::default() });
                    return Command::Capture(id);
                }
            }
            _ => {}
        }
        Command::Redraw
    }

    /// Takes the answer to the open capture's request (ignored if it was closed or another
    /// one opened meanwhile).
    pub fn captured(&mut self, pane: &str, answer: Result<Vec<String>, String>) {
        let Some(cap) = self.capture.as_mut().filter(|c| c.pane == pane) else { return };
        match answer {
            Ok(lines) => {
                // Text added below keeps a scrolled-up view on the same lines.
                let grown = lines.len().saturating_sub(cap.lines.len());
                if cap.scroll > 0 {
                    cap.scroll += grown;
                }
                cap.lines = lines;
                cap.scroll = cap.scroll.min(cap.lines.len().saturating_sub(1));
                cap.error = None;
            }
            Err(e) => cap.error = Some(e),
        }
    }
}

/// Whether `filter` admits something with these names: a glob (when it holds `*` or `?`)
/// that matches one of them whole, or text one of them contains (ignoring case).
pub fn filter_admits(filter: &str, names: &[&str]) -> bool {
    if filter.is_empty() {
        return true;
    }
    if filter.contains(['*', '?']) {
        names.iter().any(|n| glob_match(filter, n))
    } else {
        let f = filter.to_lowercase();
        names.iter().any(|n| n.to_lowercase().contains(&f))
    }
}

/// A pane's row; a `[[pane]]` entry's pane shows its start state after its process state,
/// with the reason `status` gives (`alive, restarting: exit 1`).
fn pane_row(p: &PaneView, entries: &[PaneEntryView]) -> PaneRow {
    let (process, mut health) = match (p.alive, p.exit_status, p.exit_signal) {
        (true, _, _) => ("alive".to_string(), Health::Running),
        (false, _, Some(sig)) => (format!("killed by signal {sig}"), Health::Failed),
        (false, Some(0), None) => ("exited 0".to_string(), Health::Exited),
        (false, Some(st), None) => (format!("exited {st}"), Health::Failed),
        (false, None, None) => ("exited".to_string(), Health::Exited),
    };
    let state = match &p.start {
        Some(start) => {
            let reason = entries
                .iter()
                .find(|e| p.label.as_ref() == Some(&e.label))
                .and_then(|e| e.reason.as_deref());
            // The start state says more, except for an entry still starting whose
            // process has ended (what ended it shows).
            health = match entry_health(start) {
                Health::Running if !p.alive => health,
                h => h,
            };
            // Alive goes without saying beside a start state (`ready`, not `alive, ready`).
            match p.alive {
                true => entry_state(start, reason),
                false => format!("{process}, {}", entry_state(start, reason)),
            }
        }
        None => process,
    };
    // A daemon of several servers: the pane's address says which (`gpu/%3`), and is what
    // its capture asks for.
    let id = match &p.server {
        Some(server) => format!("{server}/{}", p.id),
        None => p.id.clone(),
    };
    PaneRow {
        id: Some(id.clone()),
        name: p.label.clone().unwrap_or(id),
        place: {
            let place = p.target.clone().unwrap_or_else(|| format!("{}:{}", p.session, p.window));
            match &p.server {
                Some(server) => format!("{server}/{place}"),
                None => place,
            }
        },
        state,
        health,
        command: p.command.clone(),
        matches: p.matches.map(|n| n.to_string()).unwrap_or_default(),
        last: p.last_line.clone().unwrap_or_default(),
    }
}

/// A `[[pane]]` entry's state in words: `ready`, `waiting: after db`.
fn entry_state(state: &str, reason: Option<&str>) -> String {
    match reason {
        Some(r) => format!("{state}: {r}"),
        None => state.to_string(),
    }
}

fn entry_health(state: &str) -> Health {
    match state {
        "ready" => Health::Ready,
        "waiting" | "restarting" => Health::Held,
        "failed" => Health::Failed,
        _ => Health::Running,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::eventlog::{DaemonEvent, MatchEvent, Origin};

    pub(crate) fn pane(id: &str, label: Option<&str>) -> PaneView {
        PaneView {
            server: None,
            id: id.into(),
            label: label.map(String::from),
            session: "main".into(),
            window: "@1".into(),
            command: "sh".into(),
            alive: true,
            target: Some(format!("main:1.{}", &id[1..])),
            matches: Some(0),
            ..PaneView::default()
        }
    }

    pub(crate) fn matched(pane: &str, label: &str, rule: &str, line: &str) -> Record {
        let origin = Origin {
            pane: Some(pane.into()),
            label: Some(label.into()),
            rule: Some(rule.into()),
            line: Some(line.into()),
            ..Origin::default()
        };
        Record { ts_ns: 0, event: MatchEvent { origin, ..MatchEvent::default() }.into() }
    }

    /// Two panes, a `[[pane]]` entry waiting with no pane, one rule, two events.
    pub(crate) fn sample() -> Model {
        let mut m = Model::new("tmux -L work".into());
        let mut db = pane("%2", Some("db"));
        db.start = Some("restarting".into());
        db.alive = false;
        db.exit_status = Some(1);
        let mut build = pane("%1", Some("build"));
        build.matches = Some(1);
        build.last_line = Some("TRIGGER: START_BUILD 42".into());
        let status = StatusView {
            pane_entries: vec![
                PaneEntryView {
                    label: "db".into(),
                    state: "restarting".into(),
                    reason: Some("exit 1".into()),
                },
                PaneEntryView {
                    label: "api".into(),
                    state: "waiting".into(),
                    reason: Some("after db".into()),
                },
            ],
            ..StatusView::default()
        };
        let rules = vec![RuleView {
            name: "build".into(),
            pattern: "START_BUILD".into(),
            matches: 1,
            dynamic: false,
        }];
        m.refreshed(status, vec![build, db], rules);
        m.push_event(matched("%1", "build", "build", "TRIGGER: START_BUILD 42"));
        m.push_event(Record { ts_ns: 0, event: DaemonEvent::say("ready: x".into()).into() });
        m
    }

    #[test]
    fn rows_show_panes_then_entries_without_a_pane_with_their_states() {
        let m = sample();
        let rows = m.rows();
        let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["build", "db", "api"]);
        assert_eq!((rows[0].state.as_str(), rows[0].health), ("alive", Health::Running));
        assert_eq!(rows[0].matches, "1");
        assert_eq!(rows[0].place, "main:1.1");
        assert_eq!(rows[1].state, "exited 1, restarting: exit 1");
        assert_eq!(rows[1].health, Health::Held, "restarting holds, whatever the exit");
        assert_eq!((rows[2].id.as_deref(), rows[2].state.as_str()), (None, "waiting: after db"));
        assert_eq!(rows[2].health, Health::Held);
    }

    #[test]
    fn a_pane_of_one_of_several_servers_is_shown_and_captured_by_its_address() {
        let far = PaneView { server: Some("gpu".into()), ..pane("%4", None) };
        let row = pane_row(&far, &[]);
        assert_eq!((row.id.as_deref(), row.name.as_str()), (Some("gpu/%4"), "gpu/%4"));
        let labelled = PaneView { server: Some("gpu".into()), ..pane("%5", Some("train")) };
        let row = pane_row(&labelled, &[]);
        assert!(
            row.place.starts_with("gpu/"),
            "where a labelled pane is says its server: {}",
            row.place
        );
    }

    #[test]
    fn the_filter_is_a_glob_or_a_substring_over_panes_and_events() {
        let mut m = sample();
        assert_eq!(m.shown_events().count(), 2);
        for k in "/BUI".chars() {
            m.key(Key::Char(k));
        }
        assert_eq!(m.rows().len(), 3, "not applied while typed");
        m.key(Key::Enter);
        assert_eq!(m.filter, "BUI");
        assert_eq!(m.rows().iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["build"]);
        assert_eq!(m.shown_events().count(), 1, "the daemon record is about no pane");
        m.key(Key::Char('/'));
        m.key(Key::Backspace);
        m.key(Key::Backspace);
        m.key(Key::Backspace);
        for k in "?b".chars() {
            m.key(Key::Char(k));
        }
        m.key(Key::Enter);
        assert_eq!(m.rows().iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["db"]);
        assert_eq!(m.shown_events().count(), 0);
        assert_eq!(m.key(Key::Esc), Command::Redraw, "Esc clears a filter first");
        assert_eq!(m.rows().len(), 3);
        assert_eq!(m.key(Key::Esc), Command::Quit);
        m.key(Key::Char('/'));
        m.key(Key::Char('x'));
        assert_eq!(m.key(Key::Esc), Command::Redraw);
        assert_eq!((m.editing.as_deref(), m.filter.as_str()), (None, ""), "Esc clears the input");
    }

    #[test]
    fn keys_move_the_selection_open_a_capture_and_quit() {
        let mut m = sample();
        assert_eq!(m.key(Key::Up), Command::Redraw);
        assert_eq!(m.selected, 0);
        m.key(Key::Char('j'));
        m.key(Key::Down);
        m.key(Key::Down);
        assert_eq!(m.selected, 2, "stops at the last row");
        assert_eq!(m.key(Key::Enter), Command::Redraw, "an entry without a pane has no capture");
        m.key(Key::Char('k'));
        m.key(Key::Char('k'));
        assert_eq!(m.key(Key::Enter), Command::Capture("%1".into()));
        let cap = m.capture.as_ref().unwrap();
        assert_eq!(cap.title, "build %1 main:1.1");
        m.captured("%9", Ok(vec!["other".into()]));
        assert!(m.capture.as_ref().unwrap().lines.is_empty(), "another pane's answer is ignored");
        m.captured("%1", Ok((0..30).map(|i| format!("l{i}")).collect()));
        m.key(Key::PageUp);
        m.key(Key::Up);
        assert_eq!(m.capture.as_ref().unwrap().scroll, 11);
        m.captured("%1", Ok((0..32).map(|i| format!("l{i}")).collect()));
        assert_eq!(m.capture.as_ref().unwrap().scroll, 13, "new lines keep the view in place");
        assert_eq!(m.key(Key::Char('q')), Command::Redraw, "q closes the capture");
        assert!(m.capture.is_none());
        m.key(Key::Tab);
        assert_eq!(m.focus, Focus::Rules);
        m.key(Key::Down);
        assert_eq!(m.rule_selected, 0, "one rule");
        assert_eq!(m.key(Key::Char('q')), Command::Quit);
        assert_eq!(m.key(Key::CtrlC), Command::Quit);
    }

    #[test]
    fn events_are_bounded() {
        let mut m = Model::default();
        for i in 0..MAX_EVENTS + 3 {
            m.push_event(matched(&format!("%{i}"), "x", "r", "l"));
        }
        assert_eq!(m.events.len(), MAX_EVENTS);
        let (pane, _, _) = about(&m.events[0].event);
        assert_eq!(pane, Some("%3"), "the oldest went first");
    }
}
