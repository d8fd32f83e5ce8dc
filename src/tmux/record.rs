//! The `--record` file: every byte read from tmux, in order, with a clock line
//! `%ctmuxd-clock <ns since the epoch>` before each read that starts a new line outside a
//! command's `%begin`/`%end` block, so `replay` can run time conditions on the stream's own
//! timing. To any `tmux -C` reader (and to older `ctmuxd replay`s) the clock line is an
//! unknown notification, which is skipped; recordings without clock lines replay with
//! time standing still, as they always did.

/// The name of the clock notification.
pub const CLOCK: &str = "ctmuxd-clock";

/// Where the recorded stream stands: at a line start or not, inside a reply block or not.
#[derive(Debug, Default)]
pub struct RecordClock {
    /// The last byte written was not a newline.
    mid_line: bool,
    /// Between a `%begin` and its `%end`/`%error`: a line there is a reply line.
    in_block: bool,
    /// The start of the line being written (enough to tell `%begin `, `%end `, `%error `).
    head: Vec<u8>,
}

impl RecordClock {
    /// The clock line to write before `chunk` (read at `ts_ns`), if one may go there; then
    /// takes note of `chunk`.
    pub fn before(&mut self, chunk: &[u8], ts_ns: u64) -> Option<String> {
        let stamp = (!self.mid_line && !self.in_block && !chunk.is_empty())
            .then(|| format!("%{CLOCK} {ts_ns}\n"));
        self.saw(chunk);
        stamp
    }

    fn saw(&mut self, chunk: &[u8]) {
        for &b in chunk {
            if b == b'\n' {
                let head = self.head.as_slice();
                if head.starts_with(b"%begin ") {
                    self.in_block = true;
                } else if head.starts_with(b"%end ") || head.starts_with(b"%error ") {
                    self.in_block = false;
                }
                self.head.clear();
                self.mid_line = false;
            } else {
                if self.head.len() < 8 {
                    self.head.push(b);
                }
                self.mid_line = true;
            }
        }
    }
}

/// The time a clock line gives, if `name`/`rest` (an unknown notification) is one.
pub fn clock_ns(name: &str, rest: &[u8]) -> Option<u64> {
    if name != CLOCK {
        return None;
    }
    std::str::from_utf8(rest).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_lines_go_only_at_line_starts_outside_reply_blocks() {
        let mut c = RecordClock::default();
        assert_eq!(c.before(b"%output %1 a", 5).as_deref(), Some("%ctmuxd-clock 5\n"));
        assert_eq!(c.before(b"b\n%begin 1 2 0\nrep", 6), None, "mid-line");
        assert_eq!(c.before(b"ly\n", 7), None, "inside a reply block");
        assert_eq!(c.before(b"%end 1 2 0\n", 8), None, "still inside until its end line");
        assert_eq!(c.before(b"%output %1 c\n", 9).as_deref(), Some("%ctmuxd-clock 9\n"));
        assert_eq!(clock_ns("ctmuxd-clock", b"123"), Some(123));
        assert_eq!(clock_ns("ctmuxd-clock", b"x"), None);
        assert_eq!(clock_ns("output", b"123"), None);
    }
}
