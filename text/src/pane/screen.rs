//! The terminal screen of a pane: the rows a person sees in it, as tmux draws them.
//!
//! The line decoder ([`super::lines`]) turns output into the lines a program *printed*;
//! programs that *draw* (vim, htop, curses, progress bars, the prompts of a REPL) move
//! the cursor, erase and scroll regions, and only a terminal emulator the size of the
//! pane shows what they drew. [`Screen`] is that emulator: the `vt100` crate, chosen
//! over `alacritty_terminal` and `termwiz` because it has no I/O (alacritty_terminal
//! carries a pty and signal handling, termwiz a whole terminal toolkit), allocates the
//! alternate screen only when a program enters it (300 panes of 120×40: 45 MiB, where
//! alacritty_terminal's two grids per pane took 69 MiB), and reads rows back as text.
//! No scrollback is kept here: the pane's log is the ring of lines.
//!
//! PERF: vt100 applies ~60 MB/s of realistic coloured log output on the development
//! machine (alacritty_terminal 149 MB/s, vte alone 668 MB/s); the tmux server spends
//! about 6.7 s of CPU per 100 MB of the same output with ctmuxd attached, so the screen
//! adds about a quarter of tmux's own cost (the flood bench has the measured figures).

use std::num::NonZeroU16;

use unicode_width::UnicodeWidthChar;

/// Smallest and largest sizes accepted; tmux itself allows panes from 1×1 up to
/// 10000×10000, and a screen bigger than this is a layout string gone wrong.
const MAX_SIDE: u16 = 4096;

/// One pane's screen: a terminal emulator fed every byte the pane prints.
///
/// # Example
///
/// ```
/// use ctmuxd_text::pane::screen::Screen;
///
/// let mut s = Screen::new(20, 3);
/// s.feed(b"downloading  50%\rdone\x1b[K\r\n$ ");
/// s.feed(b"\x1b[1;12HREADY");
/// assert_eq!(s.rows(), ["done       READY", "$", ""]);
/// assert_eq!(s.cursor(), (16, 0));
/// ```
pub struct Screen {
    parser: vt100::Parser,
    /// Output arrived (or the size changed) since [`Screen::take_changed`] was last called.
    changed: bool,
}

impl std::fmt::Debug for Screen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (cols, rows) = self.size();
        f.debug_struct("Screen").field("cols", &cols).field("rows", &rows).finish_non_exhaustive()
    }
}

impl Default for Screen {
    /// An 80×24 screen: tmux's default size, used until the pane's real size is known.
    fn default() -> Screen {
        Screen::new(80, 24)
    }
}

fn side(n: u16) -> NonZeroU16 {
    NonZeroU16::new(n.clamp(1, MAX_SIDE)).expect("clamped to at least 1")
}

impl Screen {
    /// A blank screen of `cols` columns and `rows` rows (each clamped to 1..=4096), the
    /// cursor at the top left.
    pub fn new(cols: u16, rows: u16) -> Screen {
        Screen { parser: vt100::Parser::new(side(rows), side(cols), 0), changed: false }
    }

    /// Columns and rows.
    pub fn size(&self) -> (u16, u16) {
        let (rows, cols) = self.parser.screen().size();
        (cols.get(), rows.get())
    }

    /// Applies raw pane bytes (after `%output` un-escaping; any chunking).
    pub fn feed(&mut self, data: &[u8]) {
        if !data.is_empty() {
            self.parser.process(data);
            self.changed = true;
        }
    }

    /// Follows a resize of the pane. Like tmux, rows are added or removed at the
    /// bottom and the cursor is kept in the screen; the program redraws after
    /// SIGWINCH, and that output is applied at the new size.
    pub fn resize(&mut self, cols: u16, rows: u16) {
        if self.size() != (cols.clamp(1, MAX_SIDE), rows.clamp(1, MAX_SIDE)) {
            self.parser.set_size(side(rows), side(cols));
            self.changed = true;
        }
    }

    /// Replaces the whole screen with `rows` (as `tmux capture-pane -p` prints them) and
    /// puts the cursor at `cursor` (column, row), on the alternate screen if
    /// `alternate`: how a screen starts when ctmuxd attaches to a pane that already
    /// shows something. Rows beyond the screen are ignored, text beyond its width is
    /// cut, and control characters in the text are drawn as spaces (the text came out
    /// of a pane: it can never drive this screen).
    pub fn seed<'a>(
        &mut self,
        rows: impl IntoIterator<Item = &'a str>,
        cursor: (u16, u16),
        alternate: bool,
    ) {
        let (cols, height) = self.size();
        let mut bytes = Vec::with_capacity(usize::from(cols) * usize::from(height));
        bytes.extend_from_slice(b"\x1bc");
        if alternate {
            bytes.extend_from_slice(b"\x1b[?1049h");
        }
        for (i, row) in rows.into_iter().take(usize::from(height)).enumerate() {
            bytes.extend_from_slice(format!("\x1b[{};1H", i + 1).as_bytes());
            // Cut at the width, so that a row never wraps and scrolls the screen.
            let mut width = 0;
            for c in row.chars() {
                let c = if c.is_control() { ' ' } else { c };
                width += c.width().unwrap_or(0);
                if width > usize::from(cols) {
                    break;
                }
                let mut buf = [0; 4];
                bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
        let (x, y) = (cursor.0.min(cols - 1), cursor.1.min(height - 1));
        bytes.extend_from_slice(format!("\x1b[{};{}H", y + 1, x + 1).as_bytes());
        self.parser.process(&bytes);
        self.changed = true;
    }

    /// The visible rows, top to bottom, each without trailing blanks (what
    /// `tmux capture-pane -p` prints). A wide character is one `char`.
    pub fn rows(&self) -> Vec<String> {
        let mut rows = Vec::new();
        self.for_each_row(|_, row| rows.push(row.to_owned()));
        rows
    }

    /// Calls `f` with each visible row's index and text, top to bottom, reusing one
    /// buffer (the screen-view matcher's loop).
    pub fn for_each_row(&self, mut f: impl FnMut(usize, &str)) {
        let (cols, _) = self.size();
        for (i, row) in self.parser.screen().rows(0, cols).enumerate() {
            // Spaces a program wrote are cells like any other to vt100; tmux's capture
            // trims them as blanks.
            f(i, row.trim_end_matches(' '));
        }
    }

    /// The row the cursor is on, without trailing blanks: the prompt a shell or REPL
    /// is waiting at.
    pub fn cursor_row(&self) -> String {
        let (_, y) = self.cursor();
        let mut prompt = String::new();
        self.for_each_row(|i, row| {
            if i == usize::from(y) {
                prompt.push_str(row);
            }
        });
        prompt
    }

    /// Cursor position as (column, row), both from 0.
    pub fn cursor(&self) -> (u16, u16) {
        let (row, col) = self.parser.screen().cursor_position();
        (col, row)
    }

    /// Whether a program switched to the alternate screen (a full-screen program runs).
    pub fn alternate(&self) -> bool {
        self.parser.screen().alternate_screen()
    }

    /// Whether output arrived or the size changed since the last call; clears the flag.
    pub fn take_changed(&mut self) -> bool {
        std::mem::take(&mut self.changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn screen(cols: u16, rows: u16, data: &[u8]) -> Screen {
        let mut s = Screen::new(cols, rows);
        s.feed(data);
        s
    }

    #[test]
    fn cursor_movement_is_applied_not_stripped() {
        let s = screen(30, 4, b"\x1b[2J\x1b[3;5HSTATUS: \x1b[1mREADY\x1b[0m\x1b[1;1Htop");
        assert_eq!(s.rows(), ["top", "", "    STATUS: READY", ""]);
    }

    #[test]
    fn a_progress_bar_shows_its_last_state() {
        let mut s = Screen::new(20, 2);
        for pct in [10, 50, 100] {
            s.feed(format!("\r[{:<10}] {pct}%", "#".repeat(pct / 10)).as_bytes());
        }
        assert_eq!(s.rows()[0], "[##########] 100%");
        s.feed(b"\r\x1b[Kdone");
        assert_eq!(s.rows()[0], "done");
    }

    #[test]
    fn lines_wrap_and_scroll_at_the_pane_size() {
        let s = screen(5, 3, b"one\r\ntwo\r\nthree-four\r\nend");
        assert_eq!(s.rows(), ["three", "-four", "end"]);
    }

    #[test]
    fn wide_characters_take_two_columns() {
        let s = screen(6, 2, "日本語x".as_bytes());
        assert_eq!(s.rows(), ["日本語", "x"]);
        assert_eq!(s.cursor(), (1, 1));
    }

    #[test]
    fn the_alternate_screen_is_left_as_it_was() {
        let mut s = screen(10, 2, b"$ vim\r\n");
        s.feed(b"\x1b[?1049h\x1b[Hfull");
        assert!(s.alternate());
        assert_eq!(s.rows(), ["full", ""]);
        s.feed(b"\x1b[?1049l");
        assert!(!s.alternate());
        assert_eq!(s.rows(), ["$ vim", ""]);
    }

    #[test]
    fn seeding_draws_rows_and_places_the_cursor_without_scrolling() {
        let mut s = screen(8, 3, b"old old old\r\n");
        s.seed(["$ ls", "a-row-longer-than-eight", "x\x1b[2Jy"], (2, 2), false);
        assert_eq!(s.rows(), ["$ ls", "a-row-lo", "x [2Jy"]);
        assert_eq!(s.cursor(), (2, 2));
        s.feed(b"z");
        assert_eq!(s.rows()[2], "x z2Jy");
        s.seed(["menu"], (0, 0), true);
        assert!(s.alternate());
        assert_eq!(s.rows(), ["menu", "", ""]);
    }

    #[test]
    fn resize_keeps_the_rows_and_the_cursor_in_the_screen() {
        let mut s = screen(10, 4, b"a\r\nb\r\nc\r\nd");
        s.take_changed();
        s.resize(10, 4);
        assert!(!s.take_changed(), "same size: no change");
        s.resize(6, 2);
        assert!(s.take_changed());
        assert_eq!(s.size(), (6, 2));
        assert_eq!(s.rows().len(), 2);
        assert!(s.cursor().1 < 2);
        s.resize(0, 0);
        assert_eq!(s.size(), (1, 1));
    }

    #[test]
    fn cursor_row_is_the_prompt() {
        let s = screen(20, 3, b"Python 3.11\r\n>>> ");
        assert_eq!(s.cursor_row(), ">>>");
    }
}
