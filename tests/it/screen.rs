//! Issue 13, panes as a person sees them: `ctmuxd capture PANE` against tmux's own
//! `capture-pane -p` (a differential test, one scenario per test: vim, less, top, htop, a
//! curses program, progress bars, wide text, tabs, long lines, resizes, the alternate
//! screen), `capture --lines`, `wait-for --screen`, `screen = true` rules, and REPL
//! prompts (`send --enter --expect`) in python3, bash and psql.
//!
//! Each scenario drives a real program with `tmux send-keys` and, after each step, polls
//! until ctmuxd's screen equals tmux's (rows with trailing blanks trimmed, trailing empty
//! rows dropped); on a timeout it fails with both screens side by side.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::api::{ctl, ctl_command, stderr, stdout, QUIET_RULES};
use crate::harness::{Daemon, TmuxServer};

/// How long a step may take to show the same screen in tmux and ctmuxd.
const STEP: Duration = Duration::from_secs(10);

/// The harness's session size (`new-session -x 120 -y 40`).
const SIZE: (usize, usize) = (120, 40);

/// A private tmux server, a daemon watching it, and helpers to drive panes.
struct Scene {
    server: TmuxServer,
    daemon: Option<Daemon>,
}

impl Scene {
    /// A server with a daemon that has no rules that fire.
    fn new() -> Scene {
        let mut s = Scene::without_daemon();
        s.start_daemon(QUIET_RULES);
        s
    }

    /// A server with no daemon yet ([`Scene::start_daemon`] starts one).
    fn without_daemon() -> Scene {
        // No client sizes the windows (the daemon's connections use `ignore-size`), so new
        // windows take the session's size, and `resize-window` sets `window-size manual`
        // on its window by itself. (`set-option -g window-size manual` would make tmux
        // 3.3a crash on the next `new-window` when no client is attached.)
        let server = TmuxServer::new();
        Scene { server, daemon: None }
    }

    /// Starts the daemon with `rules` and waits until its control socket answers.
    fn start_daemon(&mut self, rules: &str) {
        let d = Daemon::start(&self.server, rules, &[]);
        let end = Instant::now() + Duration::from_secs(10);
        while !ctl(&self.server, &["status"]).status.success() {
            assert!(Instant::now() < end, "the control socket never answered");
            std::thread::sleep(Duration::from_millis(50));
        }
        self.daemon = Some(d);
    }

    fn daemon(&self) -> &Daemon {
        self.daemon.as_ref().expect("a daemon")
    }

    /// The test's scratch directory.
    fn dir(&self) -> &Path {
        self.server.dir.path()
    }

    /// Writes `content` to `name` in the scratch directory; returns its path.
    fn write(&self, name: &str, content: &str) -> PathBuf {
        let p = self.server.path(name);
        std::fs::write(&p, content).expect("write scratch file");
        p
    }

    /// Opens a window running `argv` (in the scratch directory, `HOME` there too so no
    /// program writes history or settings elsewhere, `PS1='$ '`); returns its pane id,
    /// once the pane has the harness's size.
    fn pane(&self, argv: &[&str]) -> String {
        let id = self
            .server
            .window_at_home(&["PS1=$ ", "ENV=", "LESSHISTFILE=-", "PYTHONSTARTUP="], argv);
        assert_eq!(self.size(&id), SIZE, "pane {id} does not have the session's size");
        id
    }

    /// A pane running `/bin/sh` with the prompt `$ `, once the prompt shows.
    fn shell(&self) -> String {
        let id = self.pane(&["sh"]);
        self.wait_tmux(&id, "the first prompt", |rows| rows.last().is_some_and(|r| r == "$"));
        id
    }

    /// The pane's width and height as tmux has them.
    fn size(&self, pane: &str) -> (usize, usize) {
        let out = self.server.tmux_ok(&[
            "display-message",
            "-p",
            "-t",
            pane,
            "#{pane_width} #{pane_height}",
        ]);
        let mut it = out.split_whitespace().map(|v| v.parse::<usize>().expect("a number"));
        (it.next().expect("width"), it.next().expect("height"))
    }

    /// `tmux send-keys` with key names (`Enter`, `C-d`, `Escape`, `q`).
    fn keys(&self, pane: &str, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", pane];
        args.extend_from_slice(keys);
        self.server.tmux_ok(&args);
    }

    /// Types `text` literally, then Enter.
    fn type_line(&self, pane: &str, text: &str) {
        self.server.tmux_ok(&["send-keys", "-t", pane, "-l", text]);
        self.keys(pane, &["Enter"]);
    }

    /// In a shell pane: types `cmd` and waits for the next prompt.
    fn shell_run(&self, pane: &str, cmd: &str) {
        let before = self.tmux_screen(pane);
        self.type_line(pane, cmd);
        self.wait_tmux(pane, &format!("`{cmd}` to finish"), |rows| {
            rows != before.as_slice() && rows.last().is_some_and(|r| r.ends_with('$'))
        });
    }

    /// [`Scene::shell_run`], then waits for the same screen in ctmuxd.
    fn shell_step(&self, pane: &str, cmd: &str) {
        self.shell_run(pane, cmd);
        self.same(pane, cmd);
    }

    /// Sends keys, waits until tmux's screen changed and `done` holds, then for the same
    /// screen in ctmuxd.
    fn step(&self, pane: &str, keys: &[&str], what: &str, done: impl Fn(&[String]) -> bool) {
        let before = self.tmux_screen(pane);
        self.keys(pane, keys);
        self.wait_tmux(pane, what, |rows| rows != before.as_slice() && done(rows));
        self.same(pane, what);
    }

    /// tmux's screen of the pane (`capture-pane -p`), normalised.
    fn tmux_screen(&self, pane: &str) -> Vec<String> {
        normalise(&self.server.tmux_ok(&["capture-pane", "-p", "-t", pane]))
    }

    /// ctmuxd's screen of the pane (`ctmuxd capture PANE`), normalised; its error
    /// message when it fails.
    fn ctmuxd_screen(&self, pane: &str) -> Result<Vec<String>, String> {
        let o = ctl(&self.server, &["capture", pane]);
        if o.status.success() {
            Ok(normalise(&stdout(&o)))
        } else {
            Err(format!("ctmuxd capture {pane} exited {}: {}", o.status, stderr(&o)))
        }
    }

    /// Polls tmux (never ctmuxd) until `pred` holds on its screen of the pane.
    fn wait_tmux(&self, pane: &str, what: &str, pred: impl Fn(&[String]) -> bool) {
        let end = Instant::now() + STEP;
        loop {
            let rows = self.tmux_screen(pane);
            if pred(&rows) {
                return;
            }
            assert!(
                Instant::now() < end,
                "tmux never showed {what} in {pane}; its screen:\n{}",
                rows.join("\n")
            );
            std::thread::sleep(Duration::from_millis(30));
        }
    }

    /// Polls until ctmuxd's screen equals tmux's (and tmux's held still around the
    /// comparison); fails after [`STEP`] with both side by side.
    fn same(&self, pane: &str, step: &str) {
        let end = Instant::now() + STEP;
        loop {
            let before = self.tmux_screen(pane);
            let ours = self.ctmuxd_screen(pane);
            let after = self.tmux_screen(pane);
            if before == after && ours.as_ref() == Ok(&after) {
                return;
            }
            if Instant::now() > end {
                panic!(
                    "after `{step}` in {pane} ({}x{}), ctmuxd's screen is not tmux's:\n{}",
                    self.size(pane).0,
                    self.size(pane).1,
                    match ours {
                        Ok(ours) => side_by_side(&after, &ours),
                        Err(e) => format!("{e}\ntmux:\n{}", after.join("\n")),
                    }
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Resizes the pane's window and waits until tmux has the new size.
    fn resize(&self, pane: &str, w: usize, h: usize) {
        self.server.tmux_ok(&[
            "resize-window",
            "-t",
            pane,
            "-x",
            &w.to_string(),
            "-y",
            &h.to_string(),
        ]);
        let end = Instant::now() + STEP;
        while self.size(pane) != (w, h) {
            assert!(Instant::now() < end, "{pane} never became {w}x{h}: {:?}", self.size(pane));
            std::thread::sleep(Duration::from_millis(30));
        }
    }
}

/// Rows with trailing blanks trimmed, trailing empty rows dropped.
fn normalise(screen: &str) -> Vec<String> {
    let mut rows: Vec<String> = screen.lines().map(|l| l.trim_end().to_string()).collect();
    while rows.last().is_some_and(String::is_empty) {
        rows.pop();
    }
    rows
}

/// Two screens in columns, a `!` on rows that differ.
fn side_by_side(tmux: &[String], ours: &[String]) -> String {
    let width = tmux.iter().map(|r| cols(r)).max().unwrap_or(0).max(6);
    let mut out = format!("    {:<width$} | ctmuxd\n", "tmux");
    for i in 0..tmux.len().max(ours.len()) {
        let t = tmux.get(i).map_or("<none>", String::as_str);
        let o = ours.get(i).map_or("<none>", String::as_str);
        let mark = if t == o { ' ' } else { '!' };
        let pad = width.saturating_sub(cols(t));
        out.push_str(&format!("{mark}{i:>2} {t}{:pad$} | {o}\n", ""));
    }
    out
}

/// Roughly how many columns a row takes (wide CJK and emoji 2, combining marks 0), to
/// line up [`side_by_side`]; only for showing a failure.
fn cols(row: &str) -> usize {
    row.chars()
        .map(|c| match u32::from(c) {
            0x300..=0x36f | 0x200d | 0xfe00..=0xfe0f | 0x1f3fb..=0x1f3ff => 0,
            0x1100..=0x115f
            | 0x2e80..=0xa4cf
            | 0xac00..=0xd7a3
            | 0xf900..=0xfaff
            | 0xfe30..=0xfe4f
            | 0xff00..=0xff60
            | 0xffe0..=0xffe6
            | 0x1f1e6..=0x1f1ff
            | 0x1f300..=0x1faff
            | 0x20000..=0x3fffd => 2,
            _ => 1,
        })
        .sum()
}

/// Whether any row contains `needle`.
fn shows(rows: &[String], needle: &str) -> bool {
    rows.iter().any(|r| r.contains(needle))
}

/// The first row containing `needle`.
fn row_with(rows: &[String], needle: &str) -> Option<String> {
    rows.iter().find(|r| r.contains(needle)).cloned()
}

/// Whether `prog` is on `PATH`.
fn have(prog: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {prog}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A file of `n` numbered lines of varied length, one with a tab, for pagers and editors.
fn numbered_lines(n: usize) -> String {
    const WORDS: [&str; 8] =
        ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"];
    let mut s = String::new();
    for i in 1..=n {
        s.push_str(&format!("line {i:04}:"));
        for k in 0..(i % 7 + 1) {
            s.push(' ');
            s.push_str(WORDS[(i + k) % WORDS.len()]);
        }
        if i.is_multiple_of(10) {
            s.push_str("\tafter a tab");
        }
        s.push('\n');
    }
    s
}

/// A curses program: a border, the screen size, `STATUS: <state>` at row 5 column 10, a
/// box, a tick counter. Keys: `d` DONE, `h` HIDDEN, `s` READY again, `m` moves the box,
/// `t` ticks (the status row is not redrawn), `q` quits. Redraws on resize.
const CURSES_PROG: &str = r#"
import curses

def main(s):
    curses.curs_set(0)
    state, left, tick = "READY", 10, 0
    while True:
        s.erase()
        h, w = s.getmaxyx()
        s.box()
        s.addstr(0, 2, " %dx%d " % (w, h))
        s.addstr(5, 10, "STATUS: " + state, curses.A_BOLD)
        if h > 14 and w > left + 26:
            box = s.derwin(5, 24, 8, left)
            box.box()
            box.addstr(2, 2, "inside the box")
        s.addstr(h - 2, 2, "tick %d" % tick)
        s.refresh()
        c = s.getch()
        if c == ord("q"):
            return
        elif c == ord("d"):
            state = "DONE"
        elif c == ord("h"):
            state = "HIDDEN"
        elif c == ord("s"):
            state = "READY"
        elif c == ord("m"):
            left = 40 if left == 10 else 10
        elif c == ord("t"):
            tick += 1

curses.wrapper(main)
"#;

/// Starts the curses program in a shell pane and waits for its first screen.
fn curses_pane(scene: &Scene) -> String {
    scene.write("prog.py", CURSES_PROG);
    let id = scene.shell();
    scene.type_line(&id, "python3 prog.py");
    scene.wait_tmux(&id, "STATUS: READY", |r| shows(r, "STATUS: READY") && shows(r, "tick 0"));
    id
}

// ---- differential scenarios -------------------------------------------------------------

#[test]
fn screen_matches_tmux_in_vim() {
    let scene = Scene::new();
    scene.write("poem.txt", &numbered_lines(200));
    let id = scene.shell();
    scene.type_line(&id, "vim -u NONE -i NONE -N -n poem.txt");
    scene.wait_tmux(&id, "vim with the file", |r| shows(r, "line 0001") && shows(r, "200L"));
    scene.same(&id, "vim opened");
    scene.step(&id, &[":echo \"hel\" . \"lo\"", "Enter"], ":echo", |r| {
        r.last().is_some_and(|l| l == "hello")
    });
    scene.step(&id, &["G", "o", "inserted by the test"], "insert", |r| {
        shows(r, "inserted by the test") && shows(r, "-- INSERT --")
    });
    scene.step(&id, &["Escape"], "leaving insert mode", |r| !shows(r, "-- INSERT --"));
    scene.step(&id, &["g", "g"], "gg", |r| r.first().is_some_and(|l| l.starts_with("line 0001")));
    scene.step(&id, &["C-d"], "Ctrl-D", |r| !shows(r, "line 0001"));
    scene.step(&id, &["C-d"], "Ctrl-D again", |r| !shows(r, "line 0020"));
    scene.step(&id, &["C-u"], "Ctrl-U", |r| shows(r, "line 0030"));
    scene.step(&id, &[":q!", "Enter"], "quitting vim", |r| {
        r.last().is_some_and(|l| l == "$") && !shows(r, "line 0030")
    });
}

#[test]
fn screen_matches_tmux_in_less() {
    let scene = Scene::new();
    scene.write("long.txt", &numbered_lines(2000));
    let id = scene.shell();
    scene.type_line(&id, "less long.txt");
    scene.wait_tmux(&id, "less with the file", |r| shows(r, "line 0001"));
    scene.same(&id, "less opened");
    scene.step(&id, &["Space"], "a page down", |r| !shows(r, "line 0001"));
    scene.step(&id, &["/line 0500", "Enter"], "a search", |r| {
        r.first().is_some_and(|l| l.starts_with("line 0500"))
    });
    scene.step(&id, &["n"], "the next match", |r| shows(r, "line 0500"));
    scene.step(&id, &["q"], "quitting less", |r| r.last().is_some_and(|l| l == "$"));
}

#[test]
fn screen_matches_tmux_in_top() {
    if !have("top") {
        eprintln!("skipped: top is not installed (Debian package procps)");
        return;
    }
    let scene = Scene::new();
    let id = scene.shell();
    // Ten seconds between refreshes: the screen holds still long enough to compare.
    scene.type_line(&id, "top -d 10");
    scene.wait_tmux(&id, "top's header", |r| shows(r, "PID") && shows(r, "Tasks:"));
    scene.same(&id, "top started");
    scene.step(&id, &["q"], "quitting top", |r| r.last().is_some_and(|l| l == "$"));
}

#[test]
fn screen_matches_tmux_in_htop() {
    if !have("htop") {
        eprintln!("skipped: htop is not installed (Debian package htop; .ci/run installs it)");
        return;
    }
    let scene = Scene::new();
    let id = scene.shell();
    scene.type_line(&id, "htop -d 100");
    scene.wait_tmux(&id, "htop's header", |r| shows(r, "PID") && shows(r, "Tasks:"));
    scene.same(&id, "htop started");
    scene.step(&id, &["q"], "quitting htop", |r| r.last().is_some_and(|l| l == "$"));
}

#[test]
fn screen_matches_tmux_in_a_curses_program() {
    let scene = Scene::new();
    let id = curses_pane(&scene);
    scene.same(&id, "the curses program started");
    scene.step(&id, &["d"], "STATUS: DONE", |r| shows(r, "STATUS: DONE"));
    scene.step(&id, &["m"], "the box moved", |r| {
        r.iter().any(|l| l.chars().nth(42).is_some() && l.contains("inside the box"))
    });
    scene.step(&id, &["t"], "a tick", |r| shows(r, "tick 1"));
    scene.step(&id, &["q"], "quitting", |r| r.last().is_some_and(|l| l == "$"));
}

#[test]
fn screen_matches_tmux_with_cr_progress_bars() {
    let scene = Scene::new();
    scene.write(
        "bar.sh",
        r#"i=0; bar=""
while [ $i -le 10 ]; do
  printf '\rdownloading %3d%% [%-10s]' $((i*10)) "$bar"; bar="$bar#"; i=$((i+1)); sleep 0.01
done
printf '\rdone'
echo
i=0
while [ $i -le 5 ]; do printf '\r\033[Kstep %d of 10' $i; i=$((i+1)); sleep 0.01; done
stty -echo; read x; stty echo
while [ $i -le 10 ]; do printf '\r\033[Kstep %d of 10' $i; i=$((i+1)); sleep 0.01; done
"#,
    );
    let id = scene.shell();
    scene.type_line(&id, "sh bar.sh");
    scene.wait_tmux(&id, "the bar half way", |r| r.last().is_some_and(|l| l == "step 5 of 10"));
    // The leftover of a longer line overwritten after a lone CR stays on screen.
    scene.same(&id, "half way (a line without newline, the cursor after it)");
    scene.step(&id, &["Enter"], "the bars finished", |r| {
        r.last().is_some_and(|l| l == "step 10 of 10$")
    });
}

#[test]
fn screen_matches_tmux_with_wide_cjk_and_emoji() {
    let scene = Scene::new();
    let edge = "x".repeat(SIZE.0 - 1);
    let full = "y".repeat(SIZE.0 - 2);
    scene.write(
        "wide.txt",
        &format!(
            "日本語のテキスト|ascii after\n한국어 텍스트|\n中文 mixed with ASCII 文字|\n\
             emoji 🙂👍 end|\nwide at the edge: {edge}日本\nexactly full: {full}語\nafter\n"
        ),
    );
    let id = scene.shell();
    scene.shell_step(&id, "cat wide.txt");
    // A wide character overwritten by a narrow one (half of it).
    scene.shell_step(&id, r"printf '日本語\r x\n'");
}

#[test]
fn screen_matches_tmux_with_combining_marks_and_emoji_sequences() {
    let scene = Scene::new();
    scene.write(
        "seq.txt",
        "combining: e\u{301} a\u{308} n\u{303}|\nskin tone: 👍🏽|\nzwj family: 👨\u{200d}👩\u{200d}👧|\n\
         flag: 🇯🇵|\nvariation selector: ❤\u{fe0f} ☺\u{fe0f}|\n",
    );
    let id = scene.shell();
    scene.shell_step(&id, "cat seq.txt");
}

#[test]
fn screen_matches_tmux_with_tabs() {
    let scene = Scene::new();
    let near_edge = "z".repeat(SIZE.0 - 5);
    scene.write(
        "tabs.txt",
        &format!(
            "a\tb\tc\n1234567\t8\n12345678\t9\n\t\t\tthree tabs\n{near_edge}\tZ\n\
             tab then backspace\t\x08X\n"
        ),
    );
    let id = scene.shell();
    scene.shell_step(&id, "cat tabs.txt");
}

#[test]
fn screen_matches_tmux_with_lines_longer_than_the_pane() {
    let scene = Scene::new();
    let digits: String = (0..330).map(|i| char::from(b'0' + (i % 10) as u8)).collect();
    scene.write(
        "long.txt",
        &format!(
            "{}\nexactly one row:\n{}\nexactly two rows:\n{}\nnext\n{}",
            &digits[..300],
            "a".repeat(SIZE.0),
            "b".repeat(2 * SIZE.0),
            "c".repeat(SIZE.0)
        ),
    );
    let id = scene.shell();
    // The last row fills the pane exactly with no newline: the prompt wraps after it.
    scene.shell_step(&id, "cat long.txt");
}

#[test]
fn screen_matches_tmux_after_a_resize_in_a_full_screen_program() {
    let scene = Scene::new();
    let id = curses_pane(&scene);
    scene.same(&id, "the curses program started");
    scene.resize(&id, 80, 20);
    scene.wait_tmux(&id, "the redraw at 80x20", |r| shows(r, " 80x20 "));
    scene.same(&id, "resized to 80x20");
    scene.step(&id, &["d"], "STATUS: DONE at 80x20", |r| shows(r, "STATUS: DONE"));
    scene.resize(&id, 120, 40);
    scene.wait_tmux(&id, "the redraw at 120x40", |r| shows(r, " 120x40 "));
    scene.same(&id, "resized back to 120x40");
    scene.step(&id, &["q"], "quitting", |r| r.last().is_some_and(|l| l == "$"));
}

#[test]
fn screen_matches_tmux_after_a_resize_in_a_shell() {
    let scene = Scene::new();
    let id = scene.shell();
    scene.shell_step(
        &id,
        "i=0; while [ $i -lt 60 ]; do echo \"row $i $(printf '%*s' $((i*3)) '' | tr ' ' '=')\"; i=$((i+1)); done",
    );
    scene.resize(&id, 80, 20);
    scene.same(&id, "shrunk to 80x20 (long rows rewrapped by tmux)");
    scene.shell_step(&id, "echo after the shrink");
    scene.resize(&id, 120, 40);
    scene.same(&id, "grown back to 120x40 (rows pulled back from the history)");
    scene.shell_step(&id, "echo after growing");
}

#[test]
fn screen_matches_tmux_with_the_alternate_screen() {
    let scene = Scene::new();
    let id = scene.shell();
    scene.shell_step(&id, "for i in 1 2 3 4 5; do echo before-$i; done");
    scene.shell_step(&id, r"printf '\033[?1049h\033[H\033[2Jon the alternate screen\n'");
    scene.shell_step(&id, r"printf '\033[?1049l'");
    scene.shell_step(&id, "tput smcup; echo inside tput smcup");
    scene.shell_step(&id, "tput rmcup");
}

#[test]
fn screen_matches_tmux_for_a_pane_older_than_the_daemon() {
    let mut scene = Scene::without_daemon();
    let id = scene.shell();
    scene.type_line(
        &id,
        "i=0; while [ $i -lt 50 ]; do echo \"before the daemon $i\"; i=$((i+1)); done",
    );
    scene.wait_tmux(&id, "the lines", |r| shows(r, "before the daemon 49"));
    let curses = curses_pane(&scene);
    scene.start_daemon(QUIET_RULES);
    scene.same(&id, "the daemon attached to a shell");
    scene.same(&curses, "the daemon attached to a curses program");
    scene.shell_step(&id, "echo after the daemon");
}

#[test]
fn a_pane_older_than_the_daemon_has_its_history_in_the_log_and_fires_nothing() {
    let mut scene = Scene::without_daemon();
    let id = scene.shell();
    scene.type_line(&id, "echo 'TRIGGER: START_BUILD old'; echo older line");
    scene.wait_tmux(&id, "the lines", |r| shows(r, "older line"));
    scene.start_daemon(
        "[[rule]]\nname = \"build\"\npattern = '^TRIGGER: START_BUILD (?P<id>\\w+)'\nactions = [\"log\"]\n",
    );
    // At once, from the history read back when the daemon attached.
    let o = ctl(
        &scene.server,
        &["wait-for", &id, "--pattern", "^older line$", "--since", "20", "--timeout", "1s"],
    );
    assert!(o.status.success(), "wait-for --since missed the history: {}", stderr(&o));
    let o = ctl(&scene.server, &["capture", &id, "--lines", "2"]);
    assert_eq!(stdout(&o).lines().collect::<Vec<_>>(), ["older line", "$ "], "{}", stderr(&o));
    // New lines continue the prompt line and fire; old ones never did.
    scene.shell_run(&id, "echo 'TRIGGER: START_BUILD new'");
    let o = ctl(&scene.server, &["wait-for", &id, "--pattern", "^TRIGGER", "--since", "3"]);
    assert!(o.status.success());
    let fired: Vec<String> = scene
        .daemon()
        .events()
        .iter()
        .filter(|e| e["event"] == "match")
        .map(|e| e["line"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(fired, ["TRIGGER: START_BUILD new"], "only the new line fires");
}

#[test]
fn capture_prints_one_line_per_screen_row() {
    let scene = Scene::new();
    let id = scene.shell();
    scene.shell_run(&id, "echo one row");
    let o = ctl(&scene.server, &["capture", &id]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows = stdout(&o);
    assert_eq!(rows.lines().count(), SIZE.1, "capture printed:\n{rows}");
    assert_eq!(rows.lines().next(), Some("$ echo one row"), "capture printed:\n{rows}");
}

#[test]
fn capture_lines_prints_the_log_unwrapped() {
    let scene = Scene::new();
    let id = scene.shell();
    let long = "w".repeat(200);
    scene.shell_run(&id, &format!("for i in 1 2 3; do echo \"log $i {long}\"; done"));
    for flag in ["--lines", "--history"] {
        let o = ctl(&scene.server, &["capture", &id, flag, "3"]);
        assert!(o.status.success(), "capture {flag} 3: {}", stderr(&o));
        let out = stdout(&o);
        let lines: Vec<&str> = out.lines().collect();
        // The line being written (the prompt) is the last.
        assert_eq!(lines.len(), 3, "capture {flag} 3 printed:\n{out}");
        assert_eq!(lines[0], format!("log 2 {long}"), "capture {flag} 3 printed:\n{out}");
        assert_eq!(lines[1], format!("log 3 {long}"), "capture {flag} 3 printed:\n{out}");
        assert_eq!(lines[2].trim_end(), "$", "capture {flag} 3 printed:\n{out}");
    }
    // More than kept: what is kept, and a word on stderr.
    let o = ctl(&scene.server, &["capture", &id, "--lines", "100000"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains(&format!("log 3 {long}")), "{}", stdout(&o));
    assert!(!stderr(&o).trim().is_empty(), "capture --lines 100000 said nothing on stderr");
}

// ---- wait-for --screen and screen rules -------------------------------------------------

/// `ctmuxd wait-for PANE --pattern RE --screen --timeout 10s`, started in the background.
fn wait_for_screen(scene: &Scene, pane: &str, pattern: &str) -> Child {
    ctl_command(
        &scene.server,
        &["wait-for", pane, "--pattern", pattern, "--screen", "--timeout", "10s"],
    )
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("run ctmuxd wait-for")
}

fn finished(child: Child, what: &str) -> Output {
    let o = child.wait_with_output().expect("wait for ctmuxd");
    assert!(o.status.success(), "{what}: exited {}: {}", o.status, stderr(&o));
    o
}

#[test]
fn wait_for_screen_sees_a_word_drawn_by_a_curses_program() {
    let scene = Scene::new();
    let id = curses_pane(&scene);
    // Already on screen: at once.
    let t = Instant::now();
    let o = finished(wait_for_screen(&scene, &id, "STATUS: READY"), "wait-for READY");
    assert!(t.elapsed() < Duration::from_secs(5), "took {:?}", t.elapsed());
    let row = row_with(&scene.tmux_screen(&id), "STATUS: READY").expect("READY in tmux");
    assert_eq!(stdout(&o).trim_end(), row, "wait-for printed {:?}", stdout(&o));
    // Drawn after the request.
    let waiting = wait_for_screen(&scene, &id, "STATUS: DONE");
    std::thread::sleep(Duration::from_millis(300));
    scene.keys(&id, &["d"]);
    let o = finished(waiting, "wait-for DONE");
    let row = row_with(&scene.tmux_screen(&id), "STATUS: DONE").expect("DONE in tmux");
    assert_eq!(stdout(&o).trim_end(), row, "wait-for printed {:?}", stdout(&o));
}

#[test]
fn wait_for_screen_sees_a_word_drawn_by_vim() {
    let scene = Scene::new();
    scene.write("poem.txt", &numbered_lines(200));
    let id = scene.shell();
    scene.type_line(&id, "vim -u NONE -i NONE -N -n poem.txt");
    scene.wait_tmux(&id, "vim with the file", |r| shows(r, "line 0007"));
    let o = finished(wait_for_screen(&scene, &id, r"^line 0007:"), "wait-for line 0007");
    assert!(stdout(&o).starts_with("line 0007:"), "{}", stdout(&o));
    // vim's message line never gets a newline: only the screen has it.
    let waiting = wait_for_screen(&scene, &id, "^hello-vim$");
    std::thread::sleep(Duration::from_millis(300));
    scene.keys(&id, &[":echo \"hello-\" . \"vim\"", "Enter"]);
    let o = finished(waiting, "wait-for hello-vim");
    assert_eq!(stdout(&o).trim_end(), "hello-vim");
    scene.keys(&id, &[":q!", "Enter"]);
}

#[test]
fn wait_for_screen_ignores_rows_scrolled_off_the_screen() {
    let scene = Scene::new();
    let id = scene.shell();
    scene.shell_step(
        &id,
        "echo GONE-MARKER; i=0; while [ $i -lt 60 ]; do echo filler $i; i=$((i+1)); done",
    );
    assert!(!shows(&scene.tmux_screen(&id), "GONE-MARKER"));
    // A visible row matches (so the option works at all) ...
    finished(wait_for_screen(&scene, &id, "^filler 59$"), "wait-for filler 59");
    // ... a row in the history does not.
    let o = ctl(
        &scene.server,
        &["wait-for", &id, "--pattern", "GONE-MARKER", "--screen", "--timeout", "1s"],
    );
    assert!(!o.status.success(), "matched a row that is off screen: {}", stdout(&o));
    assert!(stderr(&o).contains("within"), "not a timeout: {}", stderr(&o));
}

#[test]
fn screen_rule_fires_once_per_appearance() {
    let mut scene = Scene::without_daemon();
    scene.start_daemon(
        "[[rule]]\nname = \"ready\"\npattern = 'STATUS: READY'\nscreen = true\nactions = [\"log\"]\n\n\
         [[rule]]\nname = \"hidden\"\npattern = 'STATUS: HIDDEN'\nscreen = true\nactions = [\"log\"]\n",
    );
    let id = curses_pane(&scene);
    let wait = |rule: &str, n: usize| {
        let d = scene.daemon.as_ref().expect("daemon");
        let ok = (0..500).any(|_| {
            let got = d.of("match", rule).len();
            assert!(got <= n, "rule {rule} fired {got} times, expected {n}");
            got == n || {
                std::thread::sleep(Duration::from_millis(20));
                false
            }
        });
        assert!(ok, "rule {rule} did not fire {n} times: {:?}", d.of("match", rule));
    };
    wait("ready", 1);
    // Output elsewhere on the screen while READY stays: not again.
    for k in 1..=5 {
        scene.keys(&id, &["t"]);
        scene.wait_tmux(&id, "a tick", |r| shows(r, &format!("tick {k}")));
    }
    // Gone (HIDDEN firing shows the daemon has seen the screen without READY) ...
    scene.keys(&id, &["h"]);
    wait("hidden", 1);
    assert_eq!(scene.daemon().of("match", "ready").len(), 1, "READY fired again while it stayed");
    // ... and back: again.
    scene.keys(&id, &["s"]);
    wait("ready", 2);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(scene.daemon().of("match", "ready").len(), 2);
    assert_eq!(scene.daemon().of("match", "hidden").len(), 1);
    let m = &scene.daemon().of("match", "ready")[1];
    assert_eq!(m["pane"], id.as_str(), "{m}");
    assert!(m["line"].as_str().unwrap_or("").contains("STATUS: READY"), "{m}");
}

// ---- REPL prompts ----------------------------------------------------------------------

/// `ctmuxd send PANE --enter --expect RE --timeout 10s -- TEXT`; returns what it printed.
fn send_expect(scene: &Scene, pane: &str, text: &str, re: &str) -> String {
    let o = ctl(
        &scene.server,
        &["send", pane, "--enter", "--expect", re, "--timeout", "10s", "--", text],
    );
    assert!(
        o.status.success(),
        "send {text:?} --expect {re:?} exited {}: {}\ntmux's screen:\n{}",
        o.status,
        stderr(&o),
        scene.tmux_screen(pane).join("\n")
    );
    stdout(&o)
}

#[test]
fn repl_prompts_in_python3() {
    let scene = Scene::new();
    let id = scene.pane(&["python3", "-q"]);
    scene.wait_tmux(&id, "the first prompt", |r| r.last().is_some_and(|l| l == ">>>"));
    assert_eq!(send_expect(&scene, &id, "x = 1", "^>>> $").trim_end(), ">>>");
    assert_eq!(send_expect(&scene, &id, "6*7", "^42$"), "42\n");
    assert_eq!(send_expect(&scene, &id, "def f():", r"^\.\.\. $").trim_end(), "...");
    assert_eq!(send_expect(&scene, &id, "    return x + 41", r"^\.\.\. $").trim_end(), "...");
    assert_eq!(send_expect(&scene, &id, "", "^>>> $").trim_end(), ">>>");
    assert_eq!(send_expect(&scene, &id, "f()", "^42$"), "42\n");
    assert_eq!(send_expect(&scene, &id, "print('a')", "^>>> $").trim_end(), ">>>");
}

#[test]
fn repl_prompts_in_bash() {
    if !have("bash") {
        eprintln!("skipped: bash is not installed");
        return;
    }
    let scene = Scene::new();
    let id = scene.pane(&["bash", "--norc", "--noprofile"]);
    scene.wait_tmux(&id, "the first prompt", |r| r.last().is_some_and(|l| l == "$"));
    assert_eq!(send_expect(&scene, &id, "x=1", r"^\$ $").trim_end(), "$");
    assert_eq!(send_expect(&scene, &id, "echo $((6*7))", "^42$"), "42\n");
    assert_eq!(send_expect(&scene, &id, "if true", r"^> $").trim_end(), ">");
    assert_eq!(send_expect(&scene, &id, "then echo $((x+41)); fi", "^42$"), "42\n");
    assert_eq!(send_expect(&scene, &id, "true", r"^\$ $").trim_end(), "$");
}

/// A PostgreSQL server of the test's own: data and Unix socket in the scratch directory,
/// no TCP; run as `nobody` when the tests run as root. Stopped on drop.
struct Postgres {
    bin: PathBuf,
    data: PathBuf,
    sock: PathBuf,
    port: u16,
    /// `runuser -u nobody --` when running as root.
    prefix: Vec<String>,
}

impl Postgres {
    /// Starts one, or says why it cannot.
    fn start(scratch: &Path) -> Result<Postgres, String> {
        let bin = postgres_bin().ok_or("no initdb (Debian package postgresql)")?;
        // SAFETY: geteuid(2) cannot fail and touches no memory of ours.
        let root = unsafe { libc::geteuid() } == 0;
        let prefix: Vec<String> = if root {
            if !have("runuser") {
                return Err("running as root and runuser is missing".into());
            }
            ["runuser", "-u", "nobody", "--"].map(String::from).to_vec()
        } else {
            Vec::new()
        };
        let base = scratch.join("pg");
        let (data, sock) = (base.join("data"), base.join("sock"));
        std::fs::create_dir_all(&sock).map_err(|e| e.to_string())?;
        if root {
            // nobody must reach its directories through the scratch directory (0700).
            let searchable = std::fs::Permissions::from_mode(0o711);
            std::fs::set_permissions(scratch, searchable).map_err(|e| e.to_string())?;
            let (uid, gid) = (65534, 65534);
            for d in [&base, &sock] {
                std::os::unix::fs::chown(d, Some(uid), Some(gid)).map_err(|e| e.to_string())?;
            }
        }
        let port = 20000 + (std::process::id() % 20000) as u16;
        let pg = Postgres { bin, data, sock, port, prefix };
        pg.run(&[
            "initdb",
            "-D",
            pg.data.to_str().unwrap_or_default(),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
        ])?;
        let opts = format!("-k {} -p {} -c listen_addresses=''", pg.sock.display(), port);
        let log = base.join("log");
        pg.run(&[
            "pg_ctl",
            "-D",
            pg.data.to_str().unwrap_or_default(),
            "-o",
            &opts,
            "-l",
            log.to_str().unwrap_or_default(),
            "-w",
            "start",
        ])?;
        Ok(pg)
    }

    fn run(&self, args: &[&str]) -> Result<(), String> {
        let prog = self.bin.join(args[0]);
        let mut cmd = match self.prefix.split_first() {
            Some((runner, rest)) => {
                let mut c = Command::new(runner);
                c.args(rest).arg(&prog);
                c
            }
            None => Command::new(&prog),
        };
        let o = cmd
            .args(&args[1..])
            .env("LC_ALL", "C")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("{}: {e}", args[0]))?;
        if o.status.success() {
            Ok(())
        } else {
            Err(format!("{} exited {}: {}{}", args[0], o.status, stdout(&o), stderr(&o)))
        }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self.run(&[
            "pg_ctl",
            "-D",
            self.data.to_str().unwrap_or_default(),
            "-m",
            "immediate",
            "-w",
            "stop",
        ]);
    }
}

/// The newest `/usr/lib/postgresql/*/bin` with an `initdb`, else the directory of
/// `initdb` on `PATH`.
fn postgres_bin() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    found.sort();
    if let Some((_, bin)) = found.pop() {
        return Some(bin);
    }
    let o = Command::new("sh").args(["-c", "command -v initdb"]).output().ok()?;
    let path = PathBuf::from(String::from_utf8_lossy(&o.stdout).trim());
    path.parent().map(Path::to_path_buf).filter(|_| o.status.success())
}

#[test]
fn repl_prompts_in_psql() {
    let scene = Scene::new();
    let pg = match Postgres::start(scene.dir()) {
        Ok(pg) => pg,
        Err(why) => {
            eprintln!("skipped: cannot start a PostgreSQL server: {why}");
            return;
        }
    };
    let psql = pg.bin.join("psql");
    let psql = if psql.exists() { psql.to_string_lossy().into_owned() } else { "psql".into() };
    let sock = pg.sock.to_string_lossy().into_owned();
    let port = pg.port.to_string();
    let id = scene.pane(&[
        "env",
        "PSQL_HISTORY=/dev/null",
        &psql,
        "-X",
        "-P",
        "pager=off",
        "-h",
        &sock,
        "-p",
        &port,
        "-U",
        "postgres",
        "-d",
        "postgres",
    ]);
    scene.wait_tmux(&id, "the first prompt", |r| r.last().is_some_and(|l| l == "postgres=#"));
    assert_eq!(send_expect(&scene, &id, "\\set x 1", "^postgres=# $").trim_end(), "postgres=#");
    assert_eq!(send_expect(&scene, &id, "select 6*7 as answer;", "^ +42$").trim(), "42");
    assert_eq!(send_expect(&scene, &id, "select", "^postgres-# $").trim_end(), "postgres-#");
    assert_eq!(send_expect(&scene, &id, "'ok' as word;", "^ ok$").trim(), "ok");
    assert_eq!(send_expect(&scene, &id, "select 1;", "^postgres=# $").trim_end(), "postgres=#");
    scene.keys(&id, &["\\q", "Enter"]);
    drop(pg);
}
