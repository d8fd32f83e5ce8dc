//! [`PaneWatch`]: the facade the daemon keeps for each pane. Raw pane bytes go to
//! the pane's terminal [`Screen`] (the rows it shows) and through the [`LineDecoder`]
//! into the [`Ring`] (the lines it printed), and each line's text is walked by the
//! pane's [`PaneMatcher`] as it grows; every line that matched becomes a
//! [`LineMatch`]. Prompt patterns are also checked on the unterminated line at the
//! end of each feed.
//!
//! The matcher walks the text of the current line lazily, at the line end or at
//! the end of the feed, over the bytes appended since its last walk: each byte
//! once, in one tight loop over a slice rather than one call per character.

use std::sync::Arc;

use crate::matcher::{Matcher, PaneMatcher, PatternId};

use super::{
    lines::{LineDecoder, LineSink},
    ring::Ring,
    screen::Screen,
    shell::ShellMark,
};

/// What one feed shows a caller of [`PaneWatch::feed_events`], in stream order.
#[derive(Debug)]
pub enum TextEvent<'a> {
    /// A completed line and its sequence number.
    Line(&'a str, u64),
    /// A shell-integration mark. `lines` is how many lines the pane had completed
    /// before it ([`Ring::total_lines`] then): a command's output is the lines
    /// numbered after its `C` mark's `lines` up to its `D` mark's, plus `partial`
    /// at `D` when the output did not end with a newline. `partial` is the line
    /// being written when the mark came.
    Mark {
        /// The mark.
        mark: ShellMark,
        /// Lines completed before it.
        lines: u64,
        /// The line being written at that point.
        partial: &'a str,
    },
}

/// One line on which rule patterns fired.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineMatch {
    /// The line as shown: escapes stripped, lossy UTF-8, bounded length.
    pub line: String,
    /// Every pattern that matched this line, ascending; each at most once per line.
    pub patterns: Vec<PatternId>,
    /// False if this matched prompt patterns on the unterminated line.
    pub complete: bool,
    /// The line's sequence number in this pane, counted from 1: the value of
    /// [`Ring::total_lines`] once this line is complete (for a prompt match on the
    /// unterminated line, the number the line will get).
    pub seq: u64,
}

/// One pane's screen, lines, ring buffer and matcher state.
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use ctmuxd_text::matcher::{Matcher, PatternSpec};
/// use ctmuxd_text::pane::watch::PaneWatch;
///
/// let m = Arc::new(Matcher::new(&[
///     PatternSpec::line(r"TRIGGER: START_\w+ (?P<id>\S+)"),
///     PatternSpec::prompt(r"Password: $"),
/// ])?);
/// let mut w = PaneWatch::new(m.clone(), 50);
/// let mut out = Vec::new();
/// w.feed(b"\x1b[32mTRIGGER: START_", &mut out);
/// w.feed(b"JOB 42\x1b[0m\r\nPassword: ", &mut out);
/// assert_eq!(out.len(), 2);
/// assert_eq!((out[0].patterns.as_slice(), out[0].complete, out[0].seq), (&[0][..], true, 1));
/// assert_eq!(m.captures(0, &out[0].line), vec![("id".to_string(), "42".to_string())]);
/// assert_eq!((out[1].patterns.as_slice(), out[1].complete), (&[1][..], false));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct PaneWatch {
    /// The rows the pane shows (80×24 until [`PaneWatch::screen_mut`] resizes it).
    screen: Screen,
    lines: LineDecoder,
    ring: Ring,
    matcher: PaneMatcher,
    /// Reused pattern list for each line's matches (copied out only on a match).
    scratch: Vec<PatternId>,
}

impl PaneWatch {
    /// A watch for a new pane, keeping the last `ring_lines` complete lines.
    pub fn new(matcher: Arc<Matcher>, ring_lines: usize) -> PaneWatch {
        PaneWatch {
            screen: Screen::default(),
            lines: LineDecoder::new(),
            ring: Ring::new(ring_lines),
            matcher: PaneMatcher::new(matcher),
            scratch: Vec::new(),
        }
    }

    /// Feeds raw pane bytes (any chunking) and appends the matches found to `out`:
    /// one [`LineMatch`] per completed line that matched, then at most one for
    /// prompt patterns on the unterminated line.
    pub fn feed(&mut self, data: &[u8], out: &mut Vec<LineMatch>) {
        self.feed_events(data, 0, out, |_| {});
    }

    /// As [`PaneWatch::feed`], and passes every line completed by this feed (with its
    /// sequence number) and every shell-integration mark to `on_event`, in stream order
    /// ([`TextEvent`]); the line being written is [`Ring::partial`] afterwards. The
    /// screen is given only `data[screen_from..]` (nothing when `screen_from >=
    /// data.len()`): for bytes the screen already shows (it was seeded from tmux after
    /// they were printed) and for lines read back from tmux's history, which are lines,
    /// not what the screen drew.
    pub fn feed_events(
        &mut self,
        data: &[u8],
        screen_from: usize,
        out: &mut Vec<LineMatch>,
        on_event: impl FnMut(TextEvent<'_>),
    ) {
        if let Some(drawn) = data.get(screen_from..) {
            self.screen.feed(drawn);
        }
        let mut sink = Sink {
            ring: &mut self.ring,
            matcher: &mut self.matcher,
            scratch: &mut self.scratch,
            out,
            on_event,
        };
        self.lines.feed(data, &mut sink);
        let partial = self.ring.partial();
        self.matcher.scan(partial);
        self.matcher.peek_prompts(partial, &mut self.scratch);
        if !self.scratch.is_empty() {
            out.push(LineMatch {
                line: partial.to_string(),
                patterns: self.scratch.clone(),
                complete: false,
                seq: self.ring.total_lines() + 1,
            });
        }
    }

    /// Fills an empty ring with what the pane printed before ctmuxd watched it (its
    /// history, read back from tmux), the line under the cursor as the line being
    /// written, without matching any of it: `capture --lines` and `wait-for --since`
    /// see it at once, and no rule fires on old output. Does nothing if the pane has
    /// printed since it was first seen.
    pub fn prefill<'a>(&mut self, lines: impl IntoIterator<Item = &'a str>, partial: &str) {
        if self.ring.total_lines() > 0 || !self.ring.partial().is_empty() {
            return;
        }
        for line in lines {
            self.ring.partial_mut().push_str(line);
            self.ring.complete_line();
        }
        self.ring.partial_mut().push_str(partial);
    }

    /// The rows the pane shows.
    pub fn screen(&self) -> &Screen {
        &self.screen
    }

    /// The pane's screen, to seed it or to take its changed flag.
    pub fn screen_mut(&mut self) -> &mut Screen {
        &mut self.screen
    }

    /// Follows a resize of the pane. On the alternate screen the rows are kept and the
    /// program redraws; on the primary screen (a shell and what it printed) the screen
    /// is redrawn from the last lines of the log at the new size, as tmux rewraps its
    /// lines and pulls them back from its history when the pane grows.
    pub fn resize(&mut self, cols: u16, rows: u16) {
        if self.screen.size() == (cols, rows) {
            return;
        }
        let alternate = self.screen.alternate();
        self.screen.resize(cols, rows);
        if !alternate {
            let (_, rows) = self.screen.size();
            let count = self.ring.lines().count();
            let skip = count.saturating_sub(usize::from(rows));
            self.screen.redraw_lines(self.ring.lines().skip(skip), self.ring.partial());
        }
    }

    /// The pane's recent lines.
    pub fn ring(&self) -> &Ring {
        &self.ring
    }

    /// The rule set in use.
    pub fn matcher(&self) -> &Arc<Matcher> {
        self.matcher.matcher()
    }

    /// The pane's matcher state (fallback status, cache size).
    pub fn pane_matcher(&self) -> &PaneMatcher {
        &self.matcher
    }

    /// Swaps in a new rule set (reload). The DFA state is reset and the line being
    /// written is matched against the new rules from its start.
    pub fn set_matcher(&mut self, matcher: Arc<Matcher>) {
        self.matcher.set_matcher(matcher);
    }
}

/// The screen's view of the pane during one feed.
struct Sink<'a, F> {
    ring: &'a mut Ring,
    matcher: &'a mut PaneMatcher,
    scratch: &'a mut Vec<PatternId>,
    out: &'a mut Vec<LineMatch>,
    /// Sees every completed line and mark (a no-op closure, inlined away, for
    /// [`PaneWatch::feed`]).
    on_event: F,
}

impl<F: FnMut(TextEvent<'_>)> LineSink for Sink<'_, F> {
    #[inline]
    fn line(&mut self) -> &mut String {
        self.ring.partial_mut()
    }

    fn line_edited(&mut self, new_len: usize) {
        self.matcher.line_edited(new_len);
    }

    fn end_line(&mut self) {
        let line = self.ring.partial();
        self.matcher.end_line(line, self.scratch);
        if !self.scratch.is_empty() {
            self.out.push(LineMatch {
                line: line.to_string(),
                patterns: self.scratch.clone(),
                complete: true,
                seq: self.ring.total_lines() + 1,
            });
        }
        (self.on_event)(TextEvent::Line(line, self.ring.total_lines() + 1));
        self.ring.complete_line();
    }

    fn mark(&mut self, mark: ShellMark) {
        let (lines, partial) = (self.ring.total_lines(), self.ring.partial());
        (self.on_event)(TextEvent::Mark { mark, lines, partial });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matcher::PatternSpec;

    #[test]
    fn lines_and_marks_come_in_stream_order_with_line_counts_at_every_chunking() {
        let data: &[u8] =
            b"$ \x1b]133;B\x07ls\r\n\x1b]133;C\x07a\r\nb\x1b]133;D;0\x07\x1b]133;A\x07$ ";
        for size in 1..=data.len() {
            let m = Arc::new(Matcher::new(&[PatternSpec::line("^a$")]).unwrap());
            let mut w = PaneWatch::new(m, 10);
            let (mut out, mut seen) = (Vec::new(), Vec::new());
            for c in data.chunks(size) {
                w.feed_events(c, 0, &mut out, |e| {
                    seen.push(match e {
                        TextEvent::Line(l, seq) => format!("line {seq} {l}"),
                        TextEvent::Mark { mark, lines, partial } => {
                            format!("mark {mark:?} after {lines} at {partial:?}")
                        }
                    })
                });
            }
            assert_eq!(
                seen,
                [
                    "mark InputStart after 0 at \"$ \"",
                    "line 1 $ ls",
                    "mark OutputStart after 1 at \"\"",
                    "line 2 a",
                    "mark Finished(Some(0)) after 2 at \"b\"",
                    "mark PromptStart after 2 at \"b\"",
                ],
                "chunks of {size}"
            );
            assert_eq!((out.len(), out[0].seq), (1, 2), "the rule saw `a`");
        }
    }
}
