//! Sizing pane text for a model's context: runs of identical lines collapsed into one
//! line and a count, then a line and byte budget that keeps the newest lines (the tail is
//! what an agent acts on) and says how much it left out.
//!
//! The text arrives from the daemon already as a person saw it (escapes stripped, a
//! carriage-return redraw replaced by its last state). A progress bar that redraws by
//! moving the cursor up (docker, pip, cargo's multi-line bars) or prints one line per step
//! still comes as a run of lines that differ only in their numbers and bar: such a run
//! collapses into its last line, the state a person sees when it ends. Exact repeats (a
//! blank screen's rows, a repeated warning) collapse into the line and a count.

use serde::Serialize;

/// Lines an answer holds when the caller does not say.
pub const DEFAULT_MAX_LINES: usize = 200;

/// Bytes of text an answer holds when the caller does not say.
pub const DEFAULT_MAX_BYTES: usize = 16 * 1024;

/// The bounds of one answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Most lines kept (collapsed runs count as one line each).
    pub max_lines: usize,
    /// Most bytes of line text kept (line ends not counted).
    pub max_bytes: usize,
}

impl Default for Budget {
    fn default() -> Budget {
        Budget { max_lines: DEFAULT_MAX_LINES, max_bytes: DEFAULT_MAX_BYTES }
    }
}

impl Budget {
    /// The budget a tool call asks for, defaults where it does not; never 0 lines or
    /// fewer than 64 bytes (an answer must be able to hold something).
    pub fn from_args(max_lines: Option<usize>, max_bytes: Option<usize>) -> Budget {
        Budget {
            max_lines: max_lines.unwrap_or(DEFAULT_MAX_LINES).max(1),
            max_bytes: max_bytes.unwrap_or(DEFAULT_MAX_BYTES).max(64),
        }
    }
}

/// Lines fitted to a [`Budget`], with what was left out.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Fitted {
    /// The lines kept, oldest first; a collapsed run reads `… (N identical lines)` after
    /// its line.
    pub lines: Vec<String>,
    /// How many of the given lines the collapsing folded away (repeats).
    pub collapsed: usize,
    /// How many of the given lines (oldest first) the budget left out.
    pub cut_lines: usize,
    /// Whether the oldest line kept was itself cut short (only its end kept).
    pub cut_line_start: bool,
}

impl Fitted {
    /// A sentence saying what was left out, or `None` when nothing was.
    pub fn note(&self, budget: Budget) -> Option<String> {
        let mut parts = Vec::new();
        if self.cut_lines > 0 {
            parts.push(format!(
                "{} older line(s) left out to fit the budget ({} lines / {} bytes; raise \
                 max_lines or max_bytes to see more)",
                self.cut_lines, budget.max_lines, budget.max_bytes
            ));
        }
        if self.cut_line_start {
            parts.push("the first line shown was cut short: only its end is kept".to_string());
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

/// How a collapsed run is marked: the line itself, then this one.
fn repeat_marker(n: usize) -> String {
    format!("… (previous line repeated {n} more time(s))")
}

/// How a collapsed progress run is marked: its last line, then this one.
fn progress_marker(n: usize) -> String {
    format!("… (progress line redrawn {n} more time(s) before it; its last state is shown)")
}

/// Characters progress bars and spinners draw with; they do not count in a line's shape.
fn is_bar_char(c: char) -> bool {
    matches!(c, '=' | '#' | '>' | '-' | '*' | '.' | '|' | '/' | '\\' | ' ' | '\u{2500}'..='\u{259f}')
        || ('\u{2800}'..='\u{28ff}').contains(&c) // braille spinners
        || matches!(c, '■' | '□' | '▪' | '▫' | '●' | '○' | '•' | '·')
}

/// A progress line's shape: the line with its numbers and bar drawing left out, `None`
/// when it does not look like progress (no `%`, no `N/M`, no run of 3 bar glyphs), so
/// log lines that differ only in a number (`request 1 served`) never collapse.
fn progress_shape(line: &str) -> Option<String> {
    let has_fraction = line
        .as_bytes()
        .windows(3)
        .any(|w| w[0].is_ascii_digit() && w[1] == b'/' && w[2].is_ascii_digit());
    let mut glyph_run = 0;
    let mut has_bar = false;
    for c in line.chars() {
        if is_bar_char(c) && c != ' ' && c != '.' {
            glyph_run += 1;
            has_bar |= glyph_run >= 3;
        } else {
            glyph_run = 0;
        }
    }
    if !(line.contains('%') || has_fraction || has_bar) {
        return None;
    }
    Some(line.chars().filter(|c| !c.is_ascii_digit() && !is_bar_char(*c)).collect())
}

/// Length of the run of progress redraws starting at `lines[0]`: lines of the same
/// progress shape that are not all the same line (those are repeats).
fn progress_run(lines: &[String]) -> usize {
    let Some(shape) = progress_shape(&lines[0]) else { return 1 };
    let run = 1 + lines[1..]
        .iter()
        .take_while(|l| progress_shape(l).as_deref() == Some(shape.as_str()))
        .count();
    if lines[..run].iter().all(|l| *l == lines[0]) {
        1
    } else {
        run
    }
}

/// Collapses runs of progress redraws (2 or more lines of one progress shape) into their
/// last line and a marker, and runs of identical lines (3 or more: a pair costs less as
/// itself than as a marker) into the line and a marker; returns the lines and how many
/// were folded away.
pub fn collapse(lines: &[String]) -> (Vec<String>, usize) {
    let mut out = Vec::with_capacity(lines.len());
    let mut folded = 0;
    let mut i = 0;
    while i < lines.len() {
        let progress = progress_run(&lines[i..]);
        if progress >= 2 {
            out.push(lines[i + progress - 1].clone());
            out.push(progress_marker(progress - 1));
            folded += progress - 1;
            i += progress;
            continue;
        }
        let run = lines[i..].iter().take_while(|l| **l == lines[i]).count();
        out.push(lines[i].clone());
        if run >= 3 {
            out.push(repeat_marker(run - 1));
            folded += run - 1;
        } else if run == 2 {
            out.push(lines[i].clone());
        }
        i += run;
    }
    (out, folded)
}

/// Collapses `lines`, then keeps the newest that fit `budget`. A single kept line longer
/// than the byte budget keeps only its end.
pub fn fit(lines: &[String], budget: Budget) -> Fitted {
    let (collapsed_lines, collapsed) = collapse(lines);
    let mut bytes = 0;
    let mut keep = 0;
    for l in collapsed_lines.iter().rev() {
        if keep == budget.max_lines || (keep > 0 && bytes + l.len() > budget.max_bytes) {
            break;
        }
        bytes += l.len();
        keep += 1;
    }
    let start = collapsed_lines.len() - keep;
    let mut kept: Vec<String> = collapsed_lines[start..].to_vec();
    // The cut counts given lines, not collapsed ones: map back through the markers.
    let cut_lines = count_original(&collapsed_lines[..start]);
    let mut cut_line_start = false;
    if let Some(first) = kept.first_mut() {
        if first.len() > budget.max_bytes {
            let mut from = first.len() - budget.max_bytes;
            while !first.is_char_boundary(from) {
                from += 1;
            }
            *first = format!("…{}", &first[from..]);
            cut_line_start = true;
        }
    }
    Fitted { lines: kept, collapsed, cut_lines, cut_line_start }
}

/// How many given lines a prefix of collapsed lines stands for (a marker stands for the
/// repeats it folded).
fn count_original(collapsed: &[String]) -> usize {
    collapsed
        .iter()
        .map(|l| {
            let repeats = l
                .strip_prefix("… (previous line repeated ")
                .and_then(|r| r.strip_suffix(" more time(s))"));
            let redraws = || {
                l.strip_prefix("… (progress line redrawn ").and_then(|r| {
                    r.strip_suffix(" more time(s) before it; its last state is shown)")
                })
            };
            repeats.or_else(redraws).and_then(|n| n.parse().ok()).unwrap_or(1)
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn runs_of_three_or_more_collapse_pairs_stay() {
        let (out, folded) = collapse(&lines(&["a", "b", "b", "c", "c", "c", "c", "d"]));
        assert_eq!(
            out,
            lines(&["a", "b", "b", "c", "… (previous line repeated 3 more time(s))", "d"])
        );
        assert_eq!(folded, 3);
        assert_eq!(collapse(&[]), (vec![], 0));
    }

    #[test]
    fn progress_redraws_collapse_into_their_last_state() {
        let mut given = lines(&["$ docker pull x"]);
        given.extend((0..=100).map(|p| format!("layer 3f2a: [{:<20}] {p}%", "=".repeat(p / 5))));
        given.extend(lines(&["done", "⠋ fetching 1/9", "⠙ fetching 2/9", "⠹ fetching 9/9"]));
        let (out, folded) = collapse(&given);
        assert_eq!(
            out,
            [
                "$ docker pull x".to_string(),
                format!("layer 3f2a: [{}] 100%", "=".repeat(20)),
                progress_marker(100),
                "done".into(),
                "⠹ fetching 9/9".into(),
                progress_marker(2),
            ]
        );
        assert_eq!(folded, 102);
        // Cut before the bar: the marker stands for the redraws it folded.
        let f = fit(&given, Budget { max_lines: 3, max_bytes: 1000 });
        assert_eq!(f.cut_lines, 1 + 101);
    }

    #[test]
    fn log_lines_differing_in_a_number_are_not_progress() {
        let given: Vec<String> = (1..=5).map(|i| format!("request {i} served")).collect();
        assert_eq!(collapse(&given), (given.clone(), 0));
        // Two different bars (other words) stay apart.
        let bars = lines(&["a.tar 10% ###", "b.tar 10% ###"]);
        assert_eq!(collapse(&bars), (bars.clone(), 0));
    }

    #[test]
    fn fit_keeps_the_tail_within_the_line_budget() {
        let given: Vec<String> = (1..=10).map(|i| format!("line {i}")).collect();
        let f = fit(&given, Budget { max_lines: 3, max_bytes: 1000 });
        assert_eq!(f.lines, lines(&["line 8", "line 9", "line 10"]));
        assert_eq!(f.cut_lines, 7);
        assert!(f.note(Budget { max_lines: 3, max_bytes: 1000 }).unwrap().contains("7 older"));
        let all = fit(&given, Budget::default());
        assert_eq!(all.lines.len(), 10);
        assert_eq!(all.cut_lines, 0);
        assert_eq!(all.note(Budget::default()), None);
    }

    #[test]
    fn fit_keeps_the_tail_within_the_byte_budget() {
        let given = lines(&["aaaa", "bbbb", "cccc"]);
        let f = fit(&given, Budget { max_lines: 100, max_bytes: 9 });
        assert_eq!(f.lines, lines(&["bbbb", "cccc"]));
        assert_eq!(f.cut_lines, 1);
    }

    #[test]
    fn a_collapsed_run_counts_its_repeats_when_cut() {
        let mut given = vec!["x".to_string(); 50];
        given.push("last".into());
        let f = fit(&given, Budget { max_lines: 1, max_bytes: 1000 });
        assert_eq!(f.lines, lines(&["last"]));
        assert_eq!(f.collapsed, 49);
        assert_eq!(f.cut_lines, 50);
    }

    #[test]
    fn an_overlong_line_keeps_its_end_on_a_char_boundary() {
        let given = vec![format!("{}end", "é".repeat(100))];
        let f = fit(&given, Budget { max_lines: 10, max_bytes: 64 });
        assert!(f.cut_line_start);
        assert!(f.lines[0].ends_with("end"));
        assert!(f.lines[0].starts_with('…'));
        assert!(f.lines[0].len() <= 64 + '…'.len_utf8() + 1);
        assert_eq!(f.cut_lines, 0);
    }
}
