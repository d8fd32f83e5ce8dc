//! The terminal timeline chart behind `ctmuxd logs --timeline` and the end of
//! `ctmuxd demo`: how many labelled panes were alive over time, drawn as a step chart
//! with Unicode block characters, with the spawn/close events marked under the time
//! axis and listed with their times.
//!
//! Input is the event log as typed records ([`Record`]); only `"pane"` records carry
//! `panes_alive`, so they alone shape the chart, while every record's `ts_ns` stretches
//! the time axis (the chart starts at the first record of the run). Under the chart, the
//! firings of rules with a condition (`"condition"` records) are listed with their parts.
//! Pure text in, text out: no terminal I/O besides [`terminal_size`].

use std::fmt::Write as _;
use std::io;
use std::path::Path;

use crate::eventlog::{Event, PaneChange, Record};

/// The most records [`render_log`] reads from the end of the log (a run of ctmuxd
/// writes one per match, action and pane change; this is hours of busy panes).
pub const MAX_LOG_RECORDS: usize = 200_000;

/// Narrowest plot area drawn, whatever width the caller asks for.
const MIN_PLOT_WIDTH: usize = 8;

/// Lower blocks for a partly filled cell, by eighths (index 0 = empty).
const EIGHTHS: [char; 8] = [' ', '▁', '▂', '▃', '▄', '▅', '▆', '▇'];

/// Candidate tick spacings on the time axis, in seconds; the first that leaves room
/// for the labels is used.
const TICK_STEPS: [f64; 14] =
    [0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0];

/// Pane changes closer than this to the previous one are listed with it.
const GROUP_GAP_NS: u64 = 50_000_000;

/// Width reserved for one tick label ("12.5s" plus a gap).
const TICK_LABEL_ROOM: usize = 7;

/// A pane-lifecycle change that is marked on the chart.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Mark {
    /// Nanoseconds since the first record.
    at_ns: u64,
    /// `true` for `spawned`, `false` for `closed`.
    spawned: bool,
    /// The pane's label (or its id when it has none).
    label: String,
}

/// Parses JSON lines (an `events.jsonl` text) into records, skipping lines that are
/// not records (a torn last line, a stray blank, an object without a numeric `ts_ns`).
pub fn parse_lines<'a>(lines: impl IntoIterator<Item = &'a str>) -> Vec<Record> {
    lines.into_iter().filter_map(|l| serde_json::from_str::<Record>(l).ok()).collect()
}

/// The records of the latest daemon run: everything from the last
/// `{"event":"daemon","message":"ready: ..."}` record on (all records if there is none),
/// so that a log holding several runs charts the one a person just watched.
pub fn last_run(records: &[Record]) -> &[Record] {
    let start = records
        .iter()
        .rposition(|r| matches!(&r.event, Event::Daemon(d) if d.is_ready()))
        .unwrap_or(0);
    &records[start..]
}

/// The chart of the latest run in an event log (`ctmuxd logs --timeline`): reads the last
/// [`MAX_LOG_RECORDS`] records of `path_or_dir` (the log directory or its
/// `events.jsonl`), keeps the latest run ([`last_run`]) and [`render`]s it.
///
/// # Errors
/// When the log cannot be read.
pub fn render_log(path_or_dir: &Path, width: usize, height: usize) -> io::Result<String> {
    let lines = crate::eventlog::read_last(path_or_dir, MAX_LOG_RECORDS)?;
    let records = parse_lines(lines.iter().map(String::as_str));
    Ok(render(last_run(&records), width, height))
}

/// Draws the number of panes alive over time as a step chart `width` columns wide
/// whose plot area is at most `height` rows tall, followed by the spawn/close events
/// with their times.
///
/// - y axis: panes alive (`panes_alive` of `"event":"pane"` records). With
///   `height >= peak` each row is one pane; otherwise each row stands for
///   `ceil(peak / height)` panes and a partly reached row is drawn with a lower
///   eighth block.
/// - x axis: seconds since the first record; each column shows the most panes alive
///   at any moment of its time slice, so a short peak is never lost between columns.
/// - Under the axis, `▲` marks a column where panes were spawned, `▼` where panes were
///   closed, `◆` both; one legend line per marked column lists the labels.
///
/// Never panics: tiny sizes are raised to a minimum and a log without pane records
/// yields a one-line note.
pub fn render(records: &[Record], width: usize, height: usize) -> String {
    let Some(t0) = records.iter().map(|r| r.ts_ns).min() else {
        return "no events to chart\n".to_string();
    };
    let t_end = records.iter().map(|r| r.ts_ns).max().unwrap_or(t0);
    let mut steps: Vec<(u64, u64)> = Vec::new();
    let mut marks: Vec<Mark> = Vec::new();
    for r in records {
        let Event::Pane(pane) = &r.event else { continue };
        let t = r.ts_ns;
        if let Some(alive) = pane.panes_alive {
            steps.push((t - t0, alive as u64));
        }
        let spawned = match pane.change {
            PaneChange::Spawned => true,
            PaneChange::Closed => false,
            _ => continue,
        };
        let label = pane.label.as_deref().or(pane.pane.as_deref()).unwrap_or("?").to_string();
        marks.push(Mark { at_ns: t - t0, spawned, label });
    }
    if steps.is_empty() {
        let mut out =
            "no pane records (panes_alive) in these events: nothing to chart\n".to_string();
        out.push_str(&conditions(records, t0));
        return out;
    }
    // Stable: records written in the same nanosecond keep their log order.
    steps.sort_by_key(|(t, _)| *t);
    marks.sort_by_key(|m| m.at_ns);

    let span = (t_end - t0).max(1);
    let peak = steps.iter().map(|(_, a)| *a).max().unwrap_or(0);
    let per_row = peak.max(1).div_ceil(height.max(1) as u64);
    let rows = peak.max(1).div_ceil(per_row);
    let label_w = (rows * per_row).to_string().len();
    let plot_w = width.saturating_sub(label_w + 2).max(MIN_PLOT_WIDTH);
    let cols = column_values(&steps, span, plot_w);

    let mut out = String::new();
    let peak_at = steps.iter().find(|(_, a)| *a == peak).map_or(0, |(t, _)| *t);
    let _ = writeln!(
        out,
        "panes alive over {} (peak {peak} at +{}, {} change(s))",
        secs(span),
        secs(peak_at),
        steps.len()
    );
    for row in (1..=rows).rev() {
        let (lo, hi) = ((row - 1) * per_row, row * per_row);
        let _ = write!(out, "{:>label_w$} ┤", hi);
        let line: String = cols.iter().map(|&v| cell(v, lo, hi)).collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    let ticks = ticks(span, plot_w);
    let mut axis: Vec<char> = vec!['─'; plot_w];
    let mut tick_line: Vec<char> = vec![' '; plot_w];
    for &(col, ref text) in &ticks {
        axis[col] = '┬';
        // A label that would run past the plot is left out rather than cut ("3." for 3.5s).
        if col + text.len() <= plot_w {
            tick_line.splice(col..col + text.len(), text.chars());
        }
    }
    let pad = " ".repeat(label_w + 2);
    let _ = writeln!(out, "{:>label_w$} └{}", 0, axis.iter().collect::<String>());
    let _ = writeln!(out, "{pad}{}", tick_line.iter().collect::<String>().trim_end());

    let groups = group_marks(&marks, span, plot_w);
    if !groups.is_empty() {
        let mut marker_line: Vec<char> = vec![' '; plot_w];
        for g in &groups {
            marker_line[g.col] = match (g.spawned.is_empty(), g.closed.is_empty()) {
                (false, true) => '▲',
                (true, false) => '▼',
                _ => '◆',
            };
        }
        let _ = writeln!(out, "{pad}{}", marker_line.iter().collect::<String>().trim_end());
        for g in &groups {
            let mut line = format!("  +{:<7}", secs(g.at_ns));
            if !g.closed.is_empty() {
                let _ = write!(line, " ▼ {}", g.closed.join(" "));
            }
            if !g.spawned.is_empty() {
                let _ = write!(line, " ▲ {}", g.spawned.join(" "));
            }
            out.push_str(&line);
            out.push('\n');
        }
    }
    out.push_str(&conditions(records, t0));
    out
}

/// The firings of rules with a condition (`condition` records), one line each with
/// its time since `t0`: what fired (or timed out) and the parts that made it, each with
/// its pane. Empty when there are none.
fn conditions(records: &[Record], t0: u64) -> String {
    let mut out = String::new();
    for r in records {
        let Event::Condition(c) = &r.event else { continue };
        if out.is_empty() {
            out.push_str("conditions:\n");
        }
        let rule = c.origin.rule.as_deref().unwrap_or("?");
        let text = crate::eventlog::condition_text(c);
        let _ = writeln!(out, "  +{:<7} rule {rule}: {text}", secs(r.ts_ns.saturating_sub(t0)));
    }
    // Pane text is data: its control characters are shown, never sent to the terminal.
    out.chars().map(|c| if c.is_control() && c != '\n' { '\u{FFFD}' } else { c }).collect()
}

/// The most panes alive during each of `plot_w` equal time slices of `[0, span]`
/// (the last slice includes `span` itself, where the last record sits).
fn column_values(steps: &[(u64, u64)], span: u64, plot_w: usize) -> Vec<u64> {
    let mut out = Vec::with_capacity(plot_w);
    let mut next = 0; // index of the first step not yet applied
    let mut current = 0; // panes alive before the first record: none labelled yet
    for col in 0..plot_w {
        let start = slice_start(col, span, plot_w);
        let end = if col + 1 == plot_w {
            span.saturating_add(1)
        } else {
            slice_start(col + 1, span, plot_w)
        };
        // Bring `current` up to the value holding at the start of the slice.
        while next < steps.len() && steps[next].0 <= start {
            current = steps[next].1;
            next += 1;
        }
        let mut max = current;
        while next < steps.len() && steps[next].0 < end {
            current = steps[next].1;
            max = max.max(current);
            next += 1;
        }
        out.push(max);
    }
    out
}

/// Start (ns since the first record) of column `col` of `plot_w` over `span`.
fn slice_start(col: usize, span: u64, plot_w: usize) -> u64 {
    // u128: span (up to u64::MAX ns) times a column index cannot overflow.
    (u128::from(span) * col as u128 / plot_w as u128) as u64
}

/// The character for a cell of the row covering `(lo, hi]` panes when `v` are alive.
fn cell(v: u64, lo: u64, hi: u64) -> char {
    if v >= hi {
        '█'
    } else if v <= lo {
        ' '
    } else {
        // 1..=7 eighths: at least a sliver, so a partial count is never invisible.
        let eighths = ((v - lo) * 8 / (hi - lo)).clamp(1, 7);
        EIGHTHS[eighths as usize]
    }
}

/// Tick columns and labels along the time axis: the finest spacing from
/// [`TICK_STEPS`] whose labels do not collide.
fn ticks(span: u64, plot_w: usize) -> Vec<(usize, String)> {
    let span_s = span as f64 / 1e9;
    let cols_per_s = plot_w as f64 / span_s.max(1e-9);
    let step = TICK_STEPS
        .iter()
        .copied()
        .find(|s| s * cols_per_s >= TICK_LABEL_ROOM as f64)
        .unwrap_or(TICK_STEPS[TICK_STEPS.len() - 1]);
    let mut out = Vec::new();
    let mut i = 0u32;
    loop {
        let at = f64::from(i) * step;
        if at > span_s + 1e-9 {
            break;
        }
        let col = (at * cols_per_s).round() as usize;
        if col >= plot_w {
            break;
        }
        let text = if step < 1.0 { format!("{at:.1}s") } else { format!("{at:.0}s") };
        out.push((col, text));
        i += 1;
    }
    out
}

/// Spawn/close marks that fall in the same column, listed together.
struct Group {
    /// Column of the first mark.
    col: usize,
    /// Time of the first and of the latest mark.
    at_ns: u64,
    last_ns: u64,
    spawned: Vec<String>,
    closed: Vec<String>,
}

/// Marks join the previous group when they fall in its column or follow its last mark
/// within [`GROUP_GAP_NS`] (one rule's closes and spawns, a few ms apart, can straddle
/// a column boundary); the group is drawn at its first mark's column.
fn group_marks(marks: &[Mark], span: u64, plot_w: usize) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    for m in marks {
        let col =
            ((u128::from(m.at_ns) * plot_w as u128 / u128::from(span)) as usize).min(plot_w - 1);
        let g = match groups.last_mut() {
            Some(g) if g.col == col || m.at_ns.saturating_sub(g.last_ns) <= GROUP_GAP_NS => g,
            _ => {
                groups.push(Group {
                    col,
                    at_ns: m.at_ns,
                    last_ns: m.at_ns,
                    spawned: Vec::new(),
                    closed: Vec::new(),
                });
                groups.last_mut().expect("just pushed")
            }
        };
        g.last_ns = m.at_ns;
        if m.spawned {
            g.spawned.push(m.label.clone());
        } else {
            g.closed.push(m.label.clone());
        }
    }
    groups
}

/// `1.234s` style durations for the chart's captions.
fn secs(ns: u64) -> String {
    format!("{:.1}s", ns as f64 / 1e9)
}

/// The size of the terminal on stdout as `(columns, rows)`, from `TIOCGWINSZ`, else from
/// `$COLUMNS`/`$LINES`; `None` when neither says (output is not a terminal).
pub fn terminal_size() -> Option<(usize, usize)> {
    let mut ws = libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCGWINSZ writes one `winsize` into the struct we pass; fd 1 may be
    // anything, and on failure the call returns -1 and writes nothing.
    let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) } == 0;
    if ok && ws.ws_col > 0 && ws.ws_row > 0 {
        return Some((usize::from(ws.ws_col), usize::from(ws.ws_row)));
    }
    let env = |k: &str| std::env::var(k).ok()?.parse::<usize>().ok().filter(|n| *n > 0);
    Some((env("COLUMNS")?, env("LINES")?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    const S: u64 = 1_000_000_000;
    const T0: u64 = 1_700_000_000 * S;

    /// A record read from the JSON line a daemon writes for a pane change.
    fn record(line: Value) -> Record {
        serde_json::from_value(line).unwrap()
    }

    fn pane(at_s: f64, action: &str, label: &str, alive: u64) -> Record {
        record(json!({"ts_ns": T0 + (at_s * 1e9) as u64, "event": "pane", "action": action,
               "label": label, "pane": "%1", "panes_alive": alive}))
    }

    /// The plot cells (after the `┤`) of the row whose y label is `label`.
    fn row<'a>(chart: &'a str, label: &str) -> &'a str {
        let line = chart
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{label} ┤")))
            .unwrap_or_else(|| panic!("no row {label} in\n{chart}"));
        line.split_once('┤').map_or("", |(_, cells)| cells)
    }

    /// Columns of `cells` holding a full block.
    fn full(cells: &str) -> Vec<usize> {
        cells.chars().enumerate().filter(|(_, c)| *c == '█').map(|(i, _)| i).collect()
    }

    /// 0 s: a (1), 1 s: b (2), 2 s: c (3), 6 s: close c (2), 10 s: close b (1).
    fn staircase() -> Vec<Record> {
        vec![
            pane(0.0, "spawned", "a", 1),
            pane(1.0, "spawned", "b", 2),
            pane(2.0, "spawned", "c", 3),
            pane(6.0, "closed", "c", 2),
            pane(10.0, "closed", "b", 1),
        ]
    }

    #[test]
    fn condition_firings_are_listed_under_the_chart_with_their_parts() {
        let mut records = staircase();
        records.push(record(json!({"ts_ns": T0 + 3 * S, "event": "condition", "rule": "tests",
            "pane": "%2", "condition": "all", "parts": [
                {"name": "api-ready", "pane": "%1", "label": "api", "ts_ns": T0 + S},
                {"name": "worker-ready", "pane": "%2", "ts_ns": T0 + 3 * S}]})));
        records.push(record(json!({"ts_ns": T0 + 5 * S, "event": "condition", "rule": "gate",
            "condition": "all", "timed_out": true, "missing": ["db-ready"], "parts": []})));
        let chart = render(&records, 40, 10);
        let tail: Vec<&str> = chart.lines().skip_while(|l| *l != "conditions:").collect();
        assert_eq!(
            tail,
            [
                "conditions:",
                "  +3.0s    rule tests: all fired: api-ready (%1 api), worker-ready (%2)",
                "  +5.0s    rule gate: all timed out, missing db-ready; came: nothing",
            ],
            "\n{chart}"
        );
        // Without pane records the firings are still listed.
        let only = render(&records[5..], 40, 10);
        assert!(only.contains("rule gate: all timed out"), "{only}");
    }

    #[test]
    fn one_row_per_pane_and_one_column_per_second() {
        // Label width 1 + " ┤" = 3 columns of prefix: 13 - 3 = 10 plot columns over 10 s.
        let chart = render(&staircase(), 13, 10);
        assert_eq!(full(row(&chart, "3")), (2..6).collect::<Vec<_>>(), "peak row\n{chart}");
        // Column 9 is [9 s, 10 s] and includes the close at 10 s: still 2 at its start.
        assert_eq!(full(row(&chart, "2")), (1..10).collect::<Vec<_>>(), "{chart}");
        assert_eq!(full(row(&chart, "1")), (0..10).collect::<Vec<_>>(), "{chart}");
        assert!(!chart.contains("4 ┤"), "no row above the peak\n{chart}");
        assert!(
            chart.starts_with("panes alive over 10.0s (peak 3 at +2.0s, 5 change(s))"),
            "{chart}"
        );
    }

    #[test]
    fn axis_ticks_and_marks_sit_under_their_columns() {
        let chart = render(&staircase(), 13, 10);
        let lines: Vec<&str> = chart.lines().collect();
        let axis = lines.iter().position(|l| l.contains('└')).expect("axis");
        assert!(lines[axis].starts_with("0 └┬"), "tick at 0 s\n{chart}");
        assert!(lines[axis + 1].starts_with("   0s"), "first tick label under column 0\n{chart}");
        // Marks: ▲ at 0, 1, 2; ▼ at 6 and at column 9 (10 s is the end of the last slice).
        let marks: Vec<(usize, char)> =
            lines[axis + 2].chars().skip(3).enumerate().filter(|(_, c)| *c != ' ').collect();
        assert_eq!(marks, vec![(0, '▲'), (1, '▲'), (2, '▲'), (6, '▼'), (9, '▼')], "\n{chart}");
        assert_eq!(lines[axis + 3].trim_end(), "  +0.0s    ▲ a");
        assert_eq!(lines[axis + 6].trim_end(), "  +6.0s    ▼ c");
        assert_eq!(lines.len(), axis + 3 + 5, "one legend line per marked column\n{chart}");
    }

    #[test]
    fn a_tick_label_that_does_not_fit_is_left_out_not_cut() {
        // 3.5 s over 117 columns: ticks every 0.5 s, the last (3.5s) at column 116.
        let recs = vec![pane(0.0, "spawned", "a", 1), pane(3.534, "spawned", "b", 2)];
        let chart = render(&recs, 120, 5);
        let labels =
            chart.lines().find(|l| l.trim_start().starts_with("0.0s")).expect("tick labels");
        assert!(labels.trim_end().ends_with("3.0s"), "{labels}");
        let axis = chart.lines().find(|l| l.contains('└')).expect("axis");
        assert_eq!(axis.matches('┬').count(), 8, "the 3.5 s tick mark stays: {axis}");
    }

    #[test]
    fn short_peak_inside_a_column_is_kept() {
        // Up to 3 for 50 ms inside the slice [4 s, 5 s).
        let mut recs = staircase();
        recs.truncate(2);
        recs.push(pane(4.2, "spawned", "blip", 3));
        recs.push(pane(4.25, "closed", "blip", 2));
        recs.push(pane(10.0, "closed", "b", 1));
        let chart = render(&recs, 13, 10);
        assert_eq!(full(row(&chart, "3")), vec![4], "{chart}");
        // Spawn and close in one column: ◆, and both listed on one legend line.
        assert!(chart.contains("◆"), "{chart}");
        assert!(chart.contains("+4.2s    ▼ blip ▲ blip"), "{chart}");
    }

    #[test]
    fn one_rules_changes_across_a_column_boundary_are_listed_together() {
        // 1.99 s and 2.01 s fall in columns 1 and 2 of 1 s each, 20 ms apart.
        let recs = vec![
            pane(0.0, "spawned", "a", 1),
            pane(1.99, "closed", "a", 0),
            pane(2.01, "spawned", "b", 1),
            pane(10.0, "spawned", "c", 2),
        ];
        let chart = render(&recs, 13, 5);
        assert!(chart.contains("  +2.0s    ▼ a ▲ b\n"), "{chart}");
        assert!(chart.contains("  +0.0s    ▲ a\n"), "{chart}");
        assert_eq!(chart.matches("  +").count(), 3, "{chart}");
        let marks = chart.lines().find(|l| l.starts_with("   ▲")).expect("marker line");
        assert_eq!(
            marks, "   ▲◆       ▲",
            "a close and a spawn: ◆ at the group's first column\n{chart}"
        );
    }

    #[test]
    fn rows_scale_with_eighth_blocks_when_the_height_is_short() {
        let recs = vec![
            pane(0.0, "spawned", "a", 3),
            pane(5.0, "spawned", "b", 4),
            pane(10.0, "closed", "b", 3),
        ];
        // Peak 4 in 2 rows: 2 panes per row; 3 alive is half of the top row.
        let chart = render(&recs, 13, 2);
        let top: Vec<char> = row(&chart, "4").chars().collect();
        assert_eq!(top[0], '▄', "{chart}");
        assert_eq!(top[5], '█', "{chart}");
        assert_eq!(full(row(&chart, "2")).len(), 10, "{chart}");
        assert_eq!(chart.lines().filter(|l| l.contains('┤')).count(), 2, "{chart}");
    }

    #[test]
    fn a_zero_count_leaves_its_columns_empty() {
        let recs = vec![
            pane(0.0, "spawned", "a", 1),
            pane(5.0, "closed", "a", 0),
            pane(10.0, "spawned", "b", 1),
        ];
        let chart = render(&recs, 13, 5);
        // [0,5) full; [5,9) empty; column 9 holds the spawn at 10 s.
        assert_eq!(full(row(&chart, "1")), vec![0, 1, 2, 3, 4, 9], "{chart}");
    }

    #[test]
    fn last_run_starts_at_the_last_ready_record() {
        let ready = |t: u64| {
            record(
                json!({"ts_ns": t, "event": "daemon", "message": "ready: watching 1 session(s)"}),
            )
        };
        let recs = vec![
            ready(1),
            pane(0.0, "spawned", "old", 1),
            ready(2),
            pane(1.0, "spawned", "new", 1),
        ];
        let run = last_run(&recs);
        assert_eq!(run.len(), 2);
        assert!(matches!(&run[1].event, Event::Pane(p) if p.label.as_deref() == Some("new")));
        assert_eq!(last_run(&recs[1..2]).len(), 1, "no ready record: everything");
    }

    #[test]
    fn render_log_charts_the_latest_run_of_a_log_directory() {
        let dir = tempfile::tempdir().unwrap();
        let ready = record(
            json!({"ts_ns": T0, "event": "daemon", "message": "ready: watching 1 session(s)"}),
        );
        let mut text = String::new();
        for r in [
            pane(0.0, "spawned", "old", 9),
            ready,
            pane(1.0, "spawned", "a", 1),
            pane(2.0, "spawned", "b", 2),
        ] {
            text.push_str(&serde_json::to_string(&r).unwrap());
            text.push('\n');
        }
        std::fs::write(dir.path().join("events.jsonl"), text).unwrap();
        let chart = render_log(dir.path(), 40, 10).unwrap();
        assert!(chart.contains("peak 2 at +2.0s"), "the older run's 9 is not in it:\n{chart}");
        assert!(chart.contains("▲ a"), "{chart}");
    }

    #[test]
    fn parse_lines_skips_torn_and_non_object_lines() {
        let text =
            "{\"ts_ns\":1,\"event\":\"pane\"}\n\n42\n{\"event\":\"pane\"}\n{\"ts_ns\":2,\"ev";
        let recs = parse_lines(text.lines());
        assert_eq!(recs.len(), 1);
        assert!(matches!(&recs[0].event, Event::Pane(p) if p.change == PaneChange::Unknown));
    }

    #[test]
    fn degenerate_inputs_do_not_panic() {
        assert_eq!(render(&[], 80, 20), "no events to chart\n");
        let only_match = vec![record(json!({"ts_ns": T0, "event": "match", "rule": "r"}))];
        assert!(render(&only_match, 80, 20).starts_with("no pane records"));
        // One record: zero span; zero sizes; junk fields.
        let one = vec![pane(0.0, "spawned", "a", 2)];
        for (w, h) in [(0, 0), (1, 1), (80, 0), (300, 100)] {
            let chart = render(&one, w, h);
            assert!(chart.contains("2 ┤"), "{chart}");
        }
        // Lines of the wrong shape are not pane changes: only their times count.
        let junk = [
            json!({"ts_ns": "soon", "event": "pane", "panes_alive": 3}),
            json!({"ts_ns": T0, "event": "pane", "action": "spawned", "panes_alive": -1}),
            json!({"ts_ns": T0 + 1, "event": "pane", "action": "closed", "panes_alive": 1}),
            json!({"ts_ns": u64::MAX, "event": "pane", "action": 7, "panes_alive": 1000}),
        ]
        .map(|v| v.to_string());
        let junk = parse_lines(junk.iter().map(String::as_str));
        assert_eq!(junk.len(), 3, "no ts_ns, no record");
        let chart = render(&junk, 40, 6);
        assert!(chart.contains("peak 1 at +0.0s, 1 change(s)"), "{chart}");
        assert!(chart.contains("▼ ?"), "the close, without label or pane\n{chart}");
    }
}
