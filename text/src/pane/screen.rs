//! The terminal screen of a pane: the rows a person sees in it, as tmux draws them.
//!
//! The line decoder ([`super::lines`]) turns output into the lines a program *printed*;
//! programs that *draw* (vim, htop, curses, progress bars, the prompts of a REPL) move
//! the cursor, erase and scroll regions, and only a terminal emulator the size of the
//! pane shows what they drew. [`Screen`] is that emulator: the `vt100` crate, chosen
//! over `alacritty_terminal` and `termwiz` because it has no I/O (alacritty_terminal
//! carries a pty and signal handling, termwiz a whole terminal toolkit) and allocates
//! the alternate screen only when a program enters it (300 panes of 120×40: 45 MiB,
//! where alacritty_terminal's two grids per pane took 69 MiB). No scrollback is kept
//! here: the pane's log is the ring of lines.
//!
//! Nobody looks at most screens most of the time, and most output is lines scrolling
//! by, so the screen is lazy:
//!
//! - Output is kept as bytes and applied to the emulator only when the rows are read
//!   (`capture`, a screen rule or waiter at a pause) or when more than
//!   [`MAX_PENDING`] bytes wait. The emulator itself (and its grid) is allocated at the
//!   first read: a pane that is never looked at costs its pending bytes and the rows
//!   tmux showed when ctmuxd attached.
//! - While the bytes waiting are *plain* (printable text, CRLF line ends, colours,
//!   titles, modes that do not move text), once they hold twice as many line ends as
//!   the screen has rows everything before the last of those is dropped: those lines
//!   have scrolled off whatever the screen showed before them (each line end moves
//!   the cursor down one row or scrolls, so after twice the height no earlier cell
//!   is left), and the screen is cleared and redrawn from the lines kept. This holds
//!   only with the whole screen as scroll region, insert mode off and autowrap on,
//!   which the scanner tracks.
//!
//! PERF: vt100 applies ~60 MB/s of realistic coloured log output on the development
//! machine (alacritty_terminal 149 MB/s, vte alone 668 MB/s), about a quarter of what
//! the tmux server spends on the same bytes. The scanner that decides what may be
//! dropped runs at memory speed over plain text (the flood bench has the figures).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::num::NonZeroU16;

use unicode_width::UnicodeWidthChar;

/// Largest side accepted; tmux allows up to 10000, a bigger one is a layout gone wrong.
const MAX_SIDE: u16 = 4096;

/// Bytes of output that may wait before they are applied to the emulator.
pub const MAX_PENDING: usize = 64 * 1024;

/// One pane's screen: a terminal emulator fed every byte the pane prints, lazily (see
/// the module docs).
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
    /// (columns, rows).
    size: (u16, u16),
    /// The emulator and what waits for it; behind a `RefCell` so that reading rows,
    /// which applies what waits, takes `&self` like any other read.
    inner: RefCell<Inner>,
    /// Output arrived (or the size changed) since [`Screen::take_changed`] was last called.
    changed: bool,
}

struct Inner {
    /// Allocated at the first read (or when too much waits).
    parser: Option<Box<vt100::Parser>>,
    /// Rows to start the emulator from when it is allocated.
    seed: Option<Seed>,
    /// Output not yet applied.
    pending: Vec<u8>,
    /// Clear the screen and home the cursor before applying `pending` (lines before it
    /// were dropped).
    cleared: bool,
    scan: Scanner,
}

/// The screen tmux showed when ctmuxd attached.
struct Seed {
    rows: Vec<String>,
    cursor: (u16, u16),
    alternate: bool,
}

impl std::fmt::Debug for Screen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.inner.borrow();
        f.debug_struct("Screen")
            .field("size", &self.size)
            .field("allocated", &inner.parser.is_some())
            .field("pending", &inner.pending.len())
            .finish_non_exhaustive()
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
    /// cursor at the top left. Nothing is allocated until it is read.
    pub fn new(cols: u16, rows: u16) -> Screen {
        Screen {
            size: (cols.clamp(1, MAX_SIDE), rows.clamp(1, MAX_SIDE)),
            inner: RefCell::new(Inner {
                parser: None,
                seed: None,
                pending: Vec::new(),
                cleared: false,
                scan: Scanner::default(),
            }),
            changed: false,
        }
    }

    /// Columns and rows.
    pub fn size(&self) -> (u16, u16) {
        self.size
    }

    /// Takes raw pane bytes (after `%output` un-escaping; any chunking).
    pub fn feed(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        self.changed = true;
        let rows = usize::from(self.size.1);
        let inner = self.inner.get_mut();
        let start = inner.pending.len();
        inner.pending.extend_from_slice(data);
        inner.scan.scan(&inner.pending, start, rows);
        inner.drop_scrolled(self.size);
        if inner.pending.len() > MAX_PENDING {
            inner.apply(self.size);
        }
    }

    /// Follows a resize of the pane: what waits is applied at the old size, then the
    /// emulator's rows are kept from the top and cut or padded at the bottom (a program
    /// redraws after SIGWINCH). tmux rewraps the lines of a shell instead:
    /// [`Screen::redraw_lines`] does that from the pane's log.
    pub fn resize(&mut self, cols: u16, rows: u16) {
        let size = (cols.clamp(1, MAX_SIDE), rows.clamp(1, MAX_SIDE));
        if size == self.size {
            return;
        }
        let inner = self.inner.get_mut();
        if inner.parser.is_some() || !inner.pending.is_empty() || inner.seed.is_some() {
            inner.apply(self.size);
            if let Some(p) = inner.parser.as_mut() {
                p.set_size(side(size.1), side(size.0));
            }
        }
        self.size = size;
        self.changed = true;
    }

    /// Replaces the screen with `lines` (oldest first) and `partial`, the line being
    /// written, drawn from the top as a terminal of this size shows them: how a shell's
    /// screen looks after tmux rewraps it at a new width (tmux also pulls lines back from
    /// its history when the pane grows: the log has them).
    pub fn redraw_lines<'a>(&mut self, lines: impl IntoIterator<Item = &'a str>, partial: &str) {
        let inner = self.inner.get_mut();
        inner.reset();
        for l in lines {
            inner.pending.extend(l.bytes().filter(|b| !b.is_ascii_control() || *b == b'\t'));
            inner.pending.extend_from_slice(b"\r\n");
        }
        inner.pending.extend(partial.bytes().filter(|b| !b.is_ascii_control() || *b == b'\t'));
        let rows = usize::from(self.size.1);
        inner.scan.scan(&inner.pending, 0, rows);
        inner.drop_scrolled(self.size);
        self.changed = true;
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
        let inner = self.inner.get_mut();
        inner.reset();
        let rows = rows.into_iter().take(usize::from(self.size.1)).map(str::to_owned).collect();
        inner.seed = Some(Seed { rows, cursor, alternate });
        self.changed = true;
    }

    /// The visible rows, top to bottom, each without trailing blanks (what
    /// `tmux capture-pane -p` prints). A wide character is one `char`.
    pub fn rows(&self) -> Vec<String> {
        let mut rows = Vec::new();
        self.for_each_row(|_, row| rows.push(row.to_owned()));
        rows
    }

    /// Calls `f` with each visible row's index and text, top to bottom (the screen-view
    /// matcher's loop).
    pub fn for_each_row(&self, mut f: impl FnMut(usize, &str)) {
        let mut inner = self.inner.borrow_mut();
        let parser = inner.materialize(self.size);
        for (i, row) in parser.screen().rows(0, self.size.0).enumerate() {
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
        let mut inner = self.inner.borrow_mut();
        let (row, col) = inner.materialize(self.size).screen().cursor_position();
        (col, row)
    }

    /// Whether a program switched to the alternate screen (a full-screen program runs).
    pub fn alternate(&self) -> bool {
        let mut inner = self.inner.borrow_mut();
        inner.materialize(self.size).screen().alternate_screen()
    }

    /// Whether the program in the pane turned bracketed paste on (`CSI ? 2004 h`): text
    /// sent to it should then be wrapped in `ESC [200~` … `ESC [201~`. Known without
    /// reading the rows (the scanner follows the mode in every byte).
    pub fn bracketed_paste(&self) -> bool {
        self.inner.borrow().scan.bracketed_paste
    }

    /// Whether output arrived or the size changed since the last call; clears the flag.
    pub fn take_changed(&mut self) -> bool {
        std::mem::take(&mut self.changed)
    }

    /// Whether the emulator is allocated (it is at the first read), and how many bytes
    /// wait for it: for memory accounting and tests.
    pub fn footprint(&self) -> (bool, usize) {
        let inner = self.inner.borrow();
        (inner.parser.is_some(), inner.pending.len())
    }
}

impl Inner {
    /// Forgets everything: the emulator, what waits, the scanner's state (but not
    /// the program's bracketed-paste mode: a redraw does not change the program).
    fn reset(&mut self) {
        self.parser = None;
        self.seed = None;
        self.pending.clear();
        self.cleared = false;
        let paste = self.scan.bracketed_paste;
        self.scan = Scanner { bracketed_paste: paste, ..Scanner::default() };
    }

    /// The emulator, allocated (from the seed) if need be, with everything waiting
    /// applied.
    fn materialize(&mut self, size: (u16, u16)) -> &mut vt100::Parser {
        self.apply(size);
        self.parser.as_mut().expect("apply allocates the emulator")
    }

    fn parser(&mut self, size: (u16, u16)) -> &mut vt100::Parser {
        if self.parser.is_none() {
            let mut p = vt100::Parser::new(side(size.1), side(size.0), 0);
            if let Some(seed) = self.seed.take() {
                p.process(&seed_bytes(&seed, size));
            }
            self.parser = Some(Box::new(p));
        }
        self.parser.as_mut().expect("just allocated")
    }

    /// Applies everything waiting.
    fn apply(&mut self, size: (u16, u16)) {
        let end = self.pending.len();
        self.apply_to(end, size);
    }

    /// Applies `pending[..end]` (and the clear before it, if lines were dropped), with
    /// the cursor put where tmux puts it where vt100 differs (see [`Fixup`]).
    fn apply_to(&mut self, end: usize, size: (u16, u16)) {
        let cleared = std::mem::take(&mut self.cleared);
        let pending = std::mem::take(&mut self.pending);
        let fixups = std::mem::take(&mut self.scan.fixups);
        let parser = self.parser(size);
        if cleared {
            parser.process(b"\x1b[H\x1b[2J");
        }
        let mut at = 0;
        for &(start, stop, fixup) in fixups.iter().filter(|(_, stop, _)| *stop <= end) {
            parser.process(&pending[at..start]);
            let (row, col) = parser.screen().cursor_position();
            parser.process(&pending[start..stop]);
            match fixup {
                Fixup::KeepCursor => {
                    parser.process(format!("\x1b[{};{}H", row + 1, col + 1).as_bytes())
                }
                Fixup::Home => parser.process(b"\x1b[H"),
            }
            at = stop;
        }
        parser.process(&pending[at..end]);
        self.pending = pending;
        self.pending.drain(..end);
        self.scan.fixups = fixups
            .into_iter()
            .filter(|(_, stop, _)| *stop > end)
            .map(|(a, b, f)| (a - end, b - end, f))
            .collect();
        self.scan.shift(end);
    }

    /// Drops the lines that have scrolled off everything before them (see the module
    /// docs), applying first what is not plain before them.
    fn drop_scrolled(&mut self, size: (u16, u16)) {
        let keep = 2 * usize::from(size.1);
        if self.scan.line_ends.len() <= keep || !self.scan.modes.simple() {
            return;
        }
        let cut = self.scan.line_ends[self.scan.line_ends.len() - keep - 1];
        if self.scan.plain_from > 0 {
            let from = self.scan.plain_from;
            self.apply_to(from, size);
            // Positions moved by `from`; so did the cut.
            return self.drop_before(cut - from);
        }
        self.drop_before(cut);
    }

    fn drop_before(&mut self, cut: usize) {
        self.pending.drain(..cut);
        self.scan.shift(cut);
        self.seed = None;
        self.cleared = true;
    }
}

/// The bytes that draw a seed on a blank emulator of `size`.
fn seed_bytes(seed: &Seed, (cols, height): (u16, u16)) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(usize::from(cols) * usize::from(height));
    if seed.alternate {
        bytes.extend_from_slice(b"\x1b[?1049h");
    }
    for (i, row) in seed.rows.iter().take(usize::from(height)).enumerate() {
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
    let (x, y) = (seed.cursor.0.min(cols - 1), seed.cursor.1.min(height - 1));
    bytes.extend_from_slice(format!("\x1b[{};{}H", y + 1, x + 1).as_bytes());
    bytes
}

/// Where vt100 leaves the cursor elsewhere than tmux does, and what to do after the
/// sequence to agree with tmux.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fixup {
    /// A switch to the alternate screen: vt100 homes the cursor, tmux (and xterm)
    /// leave it where it was.
    KeepCursor,
    /// A scroll region set (DECSTBM) without origin mode: vt100 puts the cursor at the
    /// region's top, tmux (and xterm) at the screen's top left.
    Home,
}

/// The modes that decide whether lines may be dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Modes {
    /// The scroll region is the whole screen.
    full_region: bool,
    /// Insert mode (IRM, `CSI 4 h`) is on: text shifts what is right of it.
    insert: bool,
    /// Autowrap (DECAWM, `CSI ? 7 h`) is on.
    autowrap: bool,
    /// Origin mode (DECOM, `CSI ? 6 h`): the cursor is placed within the scroll region.
    origin: bool,
}

impl Default for Modes {
    fn default() -> Modes {
        Modes { full_region: true, insert: false, autowrap: true, origin: false }
    }
}

impl Modes {
    fn simple(self) -> bool {
        self.full_region && !self.insert && self.autowrap
    }
}

/// Where the scanner is inside an escape sequence, across chunks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum State {
    #[default]
    Ground,
    /// A CR was seen: plain only if an LF follows.
    Cr,
    Esc,
    Csi,
    Osc,
    /// ESC inside an OSC string: `\` ends it.
    OscEsc,
}

/// Longest CSI parameter string looked at; longer ones are never plain.
const CSI_PARAMS: usize = 32;

/// Follows the output waiting for the emulator just enough to know which of it is
/// plain, where its line ends are, and the modes that matter (see the module docs).
#[derive(Clone, Debug, Default)]
struct Scanner {
    state: State,
    /// Where the sequence being read started in `pending`.
    seq_start: usize,
    params: [u8; CSI_PARAMS],
    params_len: usize,
    /// The CSI had an intermediate byte or too many parameters: never plain.
    odd: bool,
    /// Everything in `pending` from here on is plain.
    plain_from: usize,
    /// End of each CRLF in the plain part, oldest first; only the last ones are kept.
    line_ends: VecDeque<usize>,
    modes: Modes,
    /// The last `CSI ? 2004 h/l` seen turned bracketed paste on.
    bracketed_paste: bool,
    /// (start, end) of each sequence waiting in `pending` after which the cursor is
    /// moved to where tmux has it.
    fixups: Vec<(usize, usize, Fixup)>,
}

impl Scanner {
    /// Scans `pending[from..]`; `rows` bounds how many line ends are remembered.
    fn scan(&mut self, pending: &[u8], from: usize, rows: usize) {
        let keep = 2 * rows + 1;
        let mut i = from;
        while i < pending.len() {
            let b = pending[i];
            match self.state {
                State::Ground => {
                    // PERF: the common case, printable text, in a tight loop.
                    if (0x20..0x7f).contains(&b) || b >= 0x80 || b == b'\t' {
                        i += 1;
                        while i < pending.len() {
                            let c = pending[i];
                            if !((0x20..0x7f).contains(&c) || c >= 0x80 || c == b'\t') {
                                break;
                            }
                            i += 1;
                        }
                        continue;
                    }
                    match b {
                        b'\r' => self.state = State::Cr,
                        0x1b => {
                            self.state = State::Esc;
                            self.seq_start = i;
                        }
                        _ => self.not_plain(i + 1),
                    }
                }
                State::Cr => match b {
                    b'\n' => {
                        self.state = State::Ground;
                        self.line_ends.push_back(i + 1);
                        if self.line_ends.len() > keep {
                            self.line_ends.pop_front();
                        }
                    }
                    b'\r' => {}
                    _ => {
                        // A lone CR: what follows overwrites the row.
                        self.state = State::Ground;
                        self.not_plain(i);
                        continue;
                    }
                },
                State::Esc => match b {
                    b'[' => {
                        self.state = State::Csi;
                        self.params_len = 0;
                        self.odd = false;
                    }
                    b']' => self.state = State::Osc,
                    // Keypad modes: they change what keys send, not the rows.
                    b'=' | b'>' => self.state = State::Ground,
                    b'c' => {
                        self.modes = Modes::default();
                        self.state = State::Ground;
                        self.not_plain(i + 1);
                    }
                    _ => {
                        self.state = State::Ground;
                        self.not_plain(i + 1);
                    }
                },
                State::Csi => match b {
                    0x30..=0x3f => {
                        if self.params_len < CSI_PARAMS {
                            self.params[self.params_len] = b;
                            self.params_len += 1;
                        } else {
                            self.odd = true;
                        }
                    }
                    0x20..=0x2f => self.odd = true,
                    0x40..=0x7e => {
                        self.state = State::Ground;
                        self.csi(b, i + 1, rows);
                    }
                    _ => {
                        // A control character inside the sequence: give up on it.
                        self.state = State::Ground;
                        self.not_plain(i + 1);
                    }
                },
                State::Osc => match b {
                    0x07 => self.state = State::Ground,
                    0x1b => self.state = State::OscEsc,
                    _ => {}
                },
                State::OscEsc => {
                    if b == b'\\' {
                        self.state = State::Ground;
                    } else {
                        self.state = State::Ground;
                        self.not_plain(i + 1);
                    }
                }
            }
            i += 1;
        }
    }

    /// A CSI sequence ended with `fin`; `end` is where it ends in `pending`.
    fn csi(&mut self, fin: u8, end: usize, rows: usize) {
        let params = &self.params[..self.params_len];
        if self.odd {
            return self.not_plain(end);
        }
        let private = params.first() == Some(&b'?');
        let numbers = || {
            let body = if private { &params[1..] } else { params };
            body.split(|&c| c == b';')
                .map(|n| std::str::from_utf8(n).ok().and_then(|n| n.parse::<usize>().ok()))
                .collect::<Vec<_>>()
        };
        match (fin, private) {
            (b'm', false) => {}
            (b'h' | b'l', true) => {
                let on = fin == b'h';
                let mut harmless = true;
                for n in numbers() {
                    match n {
                        // Cursor keys, cursor blink and visibility, mouse reports,
                        // focus events, synchronised output.
                        Some(1 | 12 | 25 | 1000..=1006 | 1015 | 2026) => {}
                        Some(2004) => self.bracketed_paste = on,
                        Some(7) => {
                            self.modes.autowrap = on;
                            harmless = false;
                        }
                        Some(6) => {
                            self.modes.origin = on;
                            harmless = false;
                        }
                        Some(47 | 1047 | 1049) if on => {
                            self.fixups.push((self.seq_start, end, Fixup::KeepCursor));
                            harmless = false;
                        }
                        _ => harmless = false,
                    }
                }
                if !harmless {
                    self.not_plain(end);
                }
            }
            (b'h' | b'l', false) => {
                if numbers().contains(&Some(4)) {
                    self.modes.insert = fin == b'h';
                }
                self.not_plain(end);
            }
            (b'r', false) => {
                let n = numbers();
                let top = n.first().copied().flatten().unwrap_or(1);
                let bottom = n.get(1).copied().flatten().unwrap_or(0);
                self.modes.full_region = top <= 1 && (bottom == 0 || bottom >= rows);
                if !self.modes.origin {
                    self.fixups.push((self.seq_start, end, Fixup::Home));
                }
                self.not_plain(end);
            }
            _ => self.not_plain(end),
        }
    }

    /// Something at `end` or before it is not plain: lines before it cannot be dropped.
    fn not_plain(&mut self, end: usize) {
        self.plain_from = end;
        self.line_ends.clear();
    }

    /// `pending[..by]` was applied or dropped: positions move back.
    fn shift(&mut self, by: usize) {
        self.plain_from = self.plain_from.saturating_sub(by);
        self.seq_start = self.seq_start.saturating_sub(by);
        self.line_ends.retain(|&e| e > by);
        for e in &mut self.line_ends {
            *e -= by;
        }
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

    /// The emulator fed eagerly, every byte: what the lazy screen must equal.
    fn eager(cols: u16, rows: u16, chunks: &[Vec<u8>]) -> (Vec<String>, (u16, u16)) {
        let mut p = vt100::Parser::new(side(rows), side(cols), 0);
        for c in chunks {
            p.process(c);
        }
        let rows = p.screen().rows(0, cols).map(|r| r.trim_end_matches(' ').to_owned()).collect();
        let (row, col) = p.screen().cursor_position();
        (rows, (col, row))
    }

    proptest::proptest! {
        #[test]
        fn the_lazy_screen_equals_the_emulator_fed_every_byte(
            parts in proptest::collection::vec(0usize..12, 1..120),
            cuts in proptest::collection::vec(1usize..200, 1..40),
            read_every in 0usize..6,
        ) {
            const PIECES: &[&str] = &[
                "plain line of text\r\n", "\x1b[32mgreen\x1b[0m log\r\n",
                "a line much longer than the screen is wide, it wraps\r\n", "\t tab\r\n",
                "\x1b]0;title\x07\x1b[?2004hprompt$ ", "\r\n", "\x1b[3;4HXY",
                "\rprogress 50%", "\x1b[2;3r", "\x1b[r", "\x1b[4hins\x1b[4l", "日本\r\n",
            ];
            let bytes: Vec<u8> = parts.iter().flat_map(|&i| PIECES[i].bytes()).collect();
            let mut chunks = Vec::new();
            let mut at = 0;
            for (k, cut) in cuts.iter().cycle().enumerate() {
                if at >= bytes.len() || k > 10_000 {
                    break;
                }
                let end = (at + cut).min(bytes.len());
                chunks.push(bytes[at..end].to_vec());
                at = end;
            }
            let mut lazy = Screen::new(16, 4);
            for (k, c) in chunks.iter().enumerate() {
                lazy.feed(c);
                if read_every > 0 && k % read_every == 0 {
                    let _ = lazy.rows();
                }
            }
            // tmux homes the cursor after DECSTBM, vt100 does not: the reference is told.
            let text = String::from_utf8(bytes.clone()).unwrap();
            let tmux_like = text.replace("\x1b[2;3r", "\x1b[2;3r\x1b[H").replace("\x1b[r", "\x1b[r\x1b[H");
            let (rows, cursor) = eager(16, 4, &[tmux_like.into_bytes()]);
            proptest::prop_assert_eq!(lazy.rows(), rows);
            proptest::prop_assert_eq!(lazy.cursor(), cursor);
        }
    }

    #[test]
    fn lines_scrolling_by_allocate_nothing_and_keep_only_the_last_screens() {
        let mut s = Screen::new(120, 40);
        for i in 0..100_000 {
            s.feed(format!("2026-12-06 \x1b[32mINFO\x1b[0m request {i} served\r\n").as_bytes());
        }
        let (allocated, pending) = s.footprint();
        assert!(!allocated, "nobody read the rows");
        assert!(pending < 2 * 41 * 64, "only the last two screens of lines wait: {pending}");
        assert_eq!(s.rows()[38], "2026-12-06 INFO request 99999 served");
        assert_eq!(s.rows()[39], "");
        // A drawing program stops the dropping until the screen is simple again.
        s.feed(b"\x1b[5;30r");
        for i in 0..1000 {
            s.feed(format!("in region {i}\r\n").as_bytes());
        }
        assert!(s.footprint().1 > 1000 * 10, "a scroll region keeps every byte");
        // DECSTBM homes the cursor (as tmux does): the first rows are written from the
        // top, then the region scrolls.
        assert_eq!(s.rows()[28], "in region 999");
        assert!(s.rows()[3].starts_with("in region 3"), "above the region nothing scrolls");
    }

    #[test]
    fn entering_the_alternate_screen_keeps_the_cursor_where_it_was() {
        let mut s = screen(20, 10, b"one\r\ntwo\r\n$ ");
        s.feed(b"\x1b[?1049hinside");
        assert_eq!(s.rows()[2], "  inside");
        s.feed(b"\x1b[?1049l");
        assert_eq!(s.rows()[..3], ["one", "two", "$"]);
        assert_eq!(s.cursor(), (2, 2));
    }

    #[test]
    fn redrawing_lines_rewraps_them_at_the_new_width() {
        let mut s = Screen::new(10, 3);
        s.redraw_lines(["0123456789abcdef", "second"], "$ ");
        assert_eq!(s.rows(), ["abcdef", "second", "$"]);
        assert_eq!(s.cursor(), (2, 2));
    }

    #[test]
    fn bracketed_paste_is_followed_without_reading_the_rows() {
        let mut s = Screen::new(20, 3);
        assert!(!s.bracketed_paste());
        s.feed(b"\x1b[?2004h$ ");
        assert!(s.bracketed_paste());
        assert!(!s.footprint().0, "nothing allocated to know it");
        s.feed(b"ls\r\n\x1b[?2004l");
        assert!(!s.bracketed_paste());
    }

    #[test]
    fn cursor_row_is_the_prompt() {
        let s = screen(20, 3, b"Python 3.11\r\n>>> ");
        assert_eq!(s.cursor_row(), ">>>");
    }
}
