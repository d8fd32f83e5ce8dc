//! How `ctmuxd top` draws a [`Model`] into a ratatui frame: a header line, the panes
//! table, the rules table, the latest events and a line of key help; or, when a capture is
//! open, that pane's lines full-screen. Pure drawing, no I/O: tests render into ratatui's
//! `TestBackend` and read the cells.
//!
//! It must fit an 80x24 tmux pane and degrade below: on a short pane the rules table goes
//! first, then the events; on a narrow one the panes table drops its place and command
//! columns. Colour only marks states and the header; without colour (`NO_COLOR`) the same
//! things read through bold and reversed text.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, TableState};
use ratatui::Frame;

use super::model::{Focus, Health, Model};
use crate::eventlog::human_line;

/// Below this width the panes table keeps only name, state, matches and last line.
const NARROW: u16 = 70;

/// Which styles to use: with colour, or (`NO_COLOR`) only bold and reversed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Theme {
    /// Whether colours are used.
    pub color: bool,
}

impl Theme {
    /// The theme the environment asks for: no colour when `NO_COLOR` is set and not empty
    /// (no-color.org).
    pub fn from_env() -> Theme {
        Theme { color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) }
    }

    fn fg(self, c: Color) -> Style {
        if self.color {
            Style::new().fg(c)
        } else {
            Style::new()
        }
    }

    fn health(self, h: Health) -> Style {
        match h {
            Health::Running => Style::new(),
            Health::Ready => self.fg(Color::Green),
            Health::Held => self.fg(Color::Yellow),
            Health::Failed => self.fg(Color::Red).add_modifier(Modifier::BOLD),
            Health::Exited => self.fg(Color::DarkGray),
        }
    }

    fn heading(self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    fn selected(self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }
}

/// Draws `model` into the whole frame.
pub fn draw(frame: &mut Frame, model: &Model, theme: Theme) {
    let [header, body, help] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(0), Constraint::Length(1)])
            .areas(frame.area());
    frame.render_widget(Paragraph::new(header_line(model, theme)), header);
    frame.render_widget(Paragraph::new(help_line(model, theme)), help);
    if let Some(cap) = &model.capture {
        draw_capture(frame, body, cap, theme);
        return;
    }
    // Short panes keep the panes table first, then the events, then the rules.
    let rules_h = (model.rules.len() as u16 + 2).clamp(3, (body.height / 4).max(3));
    let (panes, rules, events) = if body.height >= 14 {
        let [p, r, e] = Layout::vertical([
            Constraint::Fill(3),
            Constraint::Length(rules_h),
            Constraint::Fill(2),
        ])
        .areas(body);
        (p, Some(r), Some(e))
    } else if body.height >= 7 {
        let [p, e] = Layout::vertical([Constraint::Fill(1), Constraint::Fill(1)]).areas(body);
        (p, None, Some(e))
    } else {
        (body, None, None)
    };
    draw_panes(frame, panes, model, theme);
    if let Some(area) = rules {
        draw_rules(frame, area, model, theme);
    }
    if let Some(area) = events {
        draw_events(frame, area, model, theme);
    }
}

/// The first line: the filter and a refresh error first (they must show on a narrow
/// pane), then the server, the daemon's mode and counts.
fn header_line(model: &Model, theme: Theme) -> Line<'static> {
    let mut spans = vec![Span::styled("ctmuxd top", theme.heading()), Span::raw("  ")];
    if !model.filter.is_empty() {
        spans.push(Span::styled(
            format!("filter: {}", clean(&model.filter)),
            Style::new().add_modifier(Modifier::BOLD),
        ));
        spans.push(Span::raw("  "));
    }
    if let Some(e) = &model.error {
        spans.push(Span::styled(format!("! {}", clean(e)), theme.health(Health::Failed)));
        spans.push(Span::raw("  "));
    }
    let mut facts = vec![model.server.clone()];
    if let Some(s) = &model.status {
        facts.push(s.mode.clone());
        facts.push(format!("{} panes", s.panes));
        facts.push(format!("{} rules", s.rules));
        facts.push(format!("up {}", uptime(s.uptime_s)));
    }
    facts.retain(|f| !f.is_empty());
    spans.push(Span::raw(facts.join(" · ")));
    Line::from(spans)
}

/// The last line: what the keys do here, or the filter being typed.
fn help_line(model: &Model, theme: Theme) -> Line<'static> {
    if let Some(buf) = &model.editing {
        return Line::from(vec![
            Span::styled("filter: ", theme.heading()),
            Span::raw(format!("{}_", clean(buf))),
            Span::raw("   Enter apply  Esc clear"),
        ]);
    }
    let text = if model.capture.is_some() {
        "Esc/q back  ↑↓/jk scroll  PgUp/PgDn page  g/G top/bottom"
    } else if model.filter.is_empty() {
        "q quit  / filter  ↑↓/jk select  Enter capture  Tab panes/rules"
    } else {
        "q quit  / filter  Esc clear filter  ↑↓/jk select  Enter capture  Tab panes/rules"
    };
    Line::from(Span::styled(text, Style::new().add_modifier(Modifier::REVERSED)))
}

fn section(title: String, theme: Theme) -> Block<'static> {
    Block::new().borders(Borders::TOP).title(Span::styled(title, theme.heading()))
}

fn draw_panes(frame: &mut Frame, area: Rect, model: &Model, theme: Theme) {
    let rows = model.rows();
    let narrow = area.width < NARROW;
    let head: &[&str] = if narrow {
        &["PANE", "STATE", "FIRED", "LAST LINE"]
    } else {
        &["PANE", "WHERE", "STATE", "COMMAND", "FIRED", "LAST LINE"]
    };
    let widths: Vec<Constraint> = if narrow {
        vec![
            Constraint::Length(10),
            Constraint::Length(14),
            Constraint::Length(5),
            Constraint::Fill(1),
        ]
    } else {
        vec![
            Constraint::Length(11),
            Constraint::Length(9),
            Constraint::Length(20),
            Constraint::Length(7),
            Constraint::Length(5),
            Constraint::Fill(1),
        ]
    };
    let body: Vec<Row> = rows
        .iter()
        .map(|r| {
            let state = Cell::from(clean(&r.state)).style(theme.health(r.health));
            let cells = if narrow {
                vec![
                    Cell::from(clean(&r.name)),
                    state,
                    Cell::from(r.matches.clone()),
                    Cell::from(clean(&r.last)),
                ]
            } else {
                vec![
                    Cell::from(clean(&r.name)),
                    Cell::from(clean(&r.place)),
                    state,
                    Cell::from(clean(&r.command)),
                    Cell::from(r.matches.clone()),
                    Cell::from(clean(&r.last)),
                ]
            };
            Row::new(cells)
        })
        .collect();
    let title = if model.filter.is_empty() {
        format!(" Panes ({}) ", rows.len())
    } else {
        format!(" Panes ({} shown) ", rows.len())
    };
    let table = Table::new(body, widths)
        .header(Row::new(head.iter().copied()).style(Style::new().add_modifier(Modifier::BOLD)))
        .block(section(title, theme))
        .column_spacing(1)
        .row_highlight_style(theme.selected());
    let focused = model.focus == Focus::Panes && !rows.is_empty();
    let mut state = TableState::default().with_selected(focused.then_some(model.selected));
    frame.render_stateful_widget(table, area, &mut state);
}

fn draw_rules(frame: &mut Frame, area: Rect, model: &Model, theme: Theme) {
    let body: Vec<Row> = model
        .rules
        .iter()
        .map(|r| {
            let kind = if r.dynamic { "dynamic" } else { "file" };
            Row::new(vec![
                Cell::from(clean(&r.name)),
                Cell::from(r.matches.to_string()),
                Cell::from(kind),
                Cell::from(clean(&r.pattern)),
            ])
        })
        .collect();
    let widths =
        [Constraint::Length(20), Constraint::Length(6), Constraint::Length(7), Constraint::Fill(1)];
    let table = Table::new(body, widths)
        .header(
            Row::new(["RULE", "FIRED", "KIND", "PATTERN"])
                .style(Style::new().add_modifier(Modifier::BOLD)),
        )
        .block(section(format!(" Rules ({}) ", model.rules.len()), theme))
        .column_spacing(1)
        .row_highlight_style(theme.selected());
    let focused = model.focus == Focus::Rules && !model.rules.is_empty();
    let mut state = TableState::default().with_selected(focused.then_some(model.rule_selected));
    frame.render_stateful_widget(table, area, &mut state);
}

fn draw_events(frame: &mut Frame, area: Rect, model: &Model, theme: Theme) {
    let room = area.height.saturating_sub(1) as usize;
    let shown: Vec<String> = model.shown_events().map(human_line).collect();
    let mut lines: Vec<Line> = Vec::new();
    if model.lagged > 0 {
        lines.push(Line::styled(
            format!("({} events dropped: this view read too slowly)", model.lagged),
            theme.health(Health::Held),
        ));
    }
    if shown.is_empty() {
        let none = if model.filter.is_empty() {
            "no events since top started"
        } else {
            "no events about the panes the filter shows"
        };
        lines.push(Line::styled(none, Style::new().add_modifier(Modifier::DIM)));
    }
    let keep = room.saturating_sub(lines.len());
    let skip = shown.len().saturating_sub(keep);
    lines.extend(shown.into_iter().skip(skip).map(Line::from));
    frame.render_widget(Paragraph::new(lines).block(section(" Events ".into(), theme)), area);
}

fn draw_capture(frame: &mut Frame, area: Rect, cap: &super::model::Capture, theme: Theme) {
    let room = area.height.saturating_sub(1) as usize;
    let end = cap.lines.len().saturating_sub(cap.scroll);
    let start = end.saturating_sub(room);
    let mut lines: Vec<Line> = cap.lines[start..end].iter().map(|l| Line::raw(clean(l))).collect();
    if let Some(e) = &cap.error {
        lines.push(Line::styled(format!("! {}", clean(e)), theme.health(Health::Failed)));
    }
    let where_ = if cap.scroll > 0 { format!(", {} lines up", cap.scroll) } else { String::new() };
    let title = format!(" Capture of {}{where_} ", cap.title);
    frame.render_widget(Paragraph::new(lines).block(section(title, theme)), area);
}

/// Pane text is data: control characters are shown as U+FFFD, never sent to the terminal.
fn clean(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { '\u{FFFD}' } else { c }).collect()
}

fn uptime(s: u64) -> String {
    match (s / 3600, s / 60 % 60, s % 60) {
        (0, 0, sec) => format!("{sec}s"),
        (0, m, sec) => format!("{m}m{sec}s"),
        (h, m, _) => format!("{h}h{m}m"),
    }
}

#[cfg(test)]
mod tests {
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    use super::super::model::tests::sample;
    use super::super::model::Key;
    use super::*;

    /// Renders `model` at `w`x`h`; the screen's rows as text, and the terminal to read
    /// styles from.
    fn render(model: &Model, w: u16, h: u16, theme: Theme) -> (Vec<String>, Terminal<TestBackend>) {
        let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
        term.draw(|f| draw(f, model, theme)).unwrap();
        let buf = term.backend().buffer().clone();
        let rows = buf
            .content()
            .chunks(w as usize)
            .map(|row| row.iter().map(|c| c.symbol()).collect::<String>())
            .collect();
        (rows, term)
    }

    fn row_with<'a>(rows: &'a [String], needle: &str) -> &'a str {
        rows.iter().find(|r| r.contains(needle)).unwrap_or_else(|| panic!("{needle:?}:\n{rows:#?}"))
    }

    #[test]
    fn an_80x24_pane_shows_panes_rules_events_and_the_key_help() {
        let m = sample();
        let (rows, _) = render(&m, 80, 24, Theme { color: true });
        assert!(rows[0].starts_with("ctmuxd top  tmux -L work"), "{rows:#?}");
        let build = row_with(&rows, "build       main:1.1");
        assert!(
            build.contains("alive    ") && build.contains("1     TRIGGER: START_BUILD"),
            "{build}"
        );
        assert!(row_with(&rows, "db          main:1.2").contains("exited 1, restarting"));
        assert!(row_with(&rows, "api         -").contains("waiting: after db"));

        assert!(row_with(&rows, "Rules (1)").ends_with('─'));
        let rule = row_with(&rows, "START_BUILD  ");
        assert!(rule.starts_with("build                1      file"), "{rule}");
        assert!(row_with(&rows, "match    %1 build").contains("rule build: TRIGGER"));
        assert!(rows[23].starts_with("q quit  / filter"), "{}", rows[23]);
    }

    #[test]
    fn a_small_pane_drops_rules_then_events_and_narrow_columns() {
        let m = sample();
        let (rows, _) = render(&m, 50, 12, Theme { color: true });
        assert!(!rows.iter().any(|r| r.contains("Rules")), "{rows:#?}");
        assert!(rows.iter().any(|r| r.contains("Events")), "{rows:#?}");
        assert!(row_with(&rows, "PANE").starts_with("PANE       STATE          FIRED"));
        let (rows, _) = render(&m, 30, 5, Theme { color: true });
        assert!(rows.iter().any(|r| r.contains("build")), "{rows:#?}");
        assert!(!rows.iter().any(|r| r.contains("Events")), "{rows:#?}");
        render(&m, 1, 1, Theme { color: true });
    }

    #[test]
    fn no_colour_without_losing_the_selection() {
        let m = sample();
        let (rows, term) = render(&m, 80, 24, Theme { color: false });
        let buf = term.backend().buffer();
        assert!(buf.content().iter().all(|c| c.fg == Color::Reset && c.bg == Color::Reset));
        let y = rows.iter().position(|r| r.contains("build       main")).unwrap() as u16;
        assert!(buf[(0, y)].modifier.contains(Modifier::REVERSED), "the selected row");
        let (_, term) = render(&m, 80, 24, Theme { color: true });
        assert!(term.backend().buffer().content().iter().any(|c| c.fg == Color::Yellow));
    }

    #[test]
    fn the_filter_and_the_capture_take_over_the_screen() {
        let mut m = sample();
        m.key(Key::Char('/'));
        m.key(Key::Char('b'));
        let (rows, _) = render(&m, 80, 24, Theme { color: true });
        assert!(rows[23].starts_with("filter: b_"), "{}", rows[23]);
        m.key(Key::Enter);
        let (rows, _) = render(&m, 80, 24, Theme { color: true });
        assert!(rows[0].starts_with("ctmuxd top  filter: b  tmux -L work"), "{}", rows[0]);
        assert!(row_with(&rows, "Panes (2 shown)").ends_with('─'));
        m.key(Key::Enter);
        m.captured("%1", Ok((0..40).map(|i| format!("line {i}\x1b")).collect()));
        let (rows, _) = render(&m, 80, 24, Theme { color: true });
        assert!(row_with(&rows, "Capture of build %1 main:1.1").ends_with('─'));
        assert!(rows[22].starts_with("line 39\u{FFFD}"), "{rows:#?}");
        assert!(rows[23].starts_with("Esc/q back"));
        m.key(Key::Up);
        let (rows, _) = render(&m, 80, 24, Theme { color: true });
        assert!(rows[22].starts_with("line 38"), "{rows:#?}");
    }
}
