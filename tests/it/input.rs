//! Issue 14, "input that arrives" and "output, not echo": `send` into real programs
//! (python3's REPL and `input()`, bash's `read -p` and `read -s`, bracketed paste into
//! bash 5) returns the program's answer, never the echo of what it typed, waits for no
//! echo that never comes, and waits for a prompt when asked.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::api::{ctl, daemon, json, stderr, stdout};
use crate::harness::{Daemon, TmuxServer};

/// A private tmux server, its daemon, and panes started with `HOME` in the scratch
/// directory (no history or settings written elsewhere).
struct Scene {
    server: TmuxServer,
    _daemon: Daemon,
}

impl Scene {
    fn new() -> Scene {
        let server = TmuxServer::new();
        let d = daemon(&server);
        Scene { server, _daemon: d }
    }

    /// `ctmuxd spawn --label LABEL -- env HOME=<scratch> PS1='$ ' ... argv`.
    fn spawn(&self, label: &str, argv: &[&str]) {
        let home = format!("HOME={}", self.server.dir.path().display());
        let mut args = vec![
            "spawn",
            "--label",
            label,
            "--",
            "env",
            &home,
            "PS1=$ ",
            "PYTHONSTARTUP=",
            "HISTFILE=/dev/null",
        ];
        args.extend_from_slice(argv);
        let o = ctl(&self.server, &args);
        assert!(o.status.success(), "spawn {label}: {}", stderr(&o));
    }

    /// Runs `ctmuxd send LABEL args...`, which must succeed; returns its stdout and how
    /// long it took.
    fn send(&self, label: &str, args: &[&str]) -> (String, Duration) {
        let mut all = vec!["send", label, "--timeout", "10s"];
        all.extend_from_slice(args);
        let t0 = Instant::now();
        let o = ctl(&self.server, &all);
        let took = t0.elapsed();
        assert!(
            o.status.success(),
            "send {args:?} exited {} after {took:?}: {}\npane:\n{}",
            o.status,
            stderr(&o),
            self.screen(label)
        );
        (stdout(&o), took)
    }

    /// `send --json`: the matched line's object.
    fn send_json(&self, label: &str, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        json(&self.send(label, &all).0)
    }

    /// What tmux shows in the pane, for failure messages.
    fn screen(&self, label: &str) -> String {
        stdout(&ctl(&self.server, &["capture", label]))
    }
}

/// python3's REPL: `6*7` answers `42`, and `42` answers `42`, which the old echo
/// heuristic skipped as the echo of the typed `42` (the send timed out).
#[test]
fn python_answers_are_returned_even_when_they_contain_the_typed_text() {
    let scene = Scene::new();
    scene.spawn("py", &["python3", "-q"]);
    let (out, _) = scene.send("py", &["--wait-ready", "--enter", "--expect", "^42$", "--", "6*7"]);
    assert_eq!(out, "42\n");
    let (out, _) = scene.send("py", &["--wait-ready", "--enter", "--expect", "^42$", "--", "42"]);
    assert_eq!(out, "42\n");
    // The echo `>>> 42` is never the answer, even to a pattern it matches.
    let (out, _) = scene.send("py", &["--wait-ready", "--enter", "--expect", "42", "--", "42"]);
    assert_eq!(out, "42\n");
}

/// `input('Name: ')` in python3: the reply is typed at `Name: `, and the program's line
/// that repeats it is returned. (Anchored at both ends: python's `print` may write `hello`
/// and ` ann` apart, and the line being written is looked at whenever output pauses.)
#[test]
fn python_input_answers_are_returned() {
    let scene = Scene::new();
    scene.spawn("py", &["python3", "-q"]);
    scene.send("py", &["--wait-ready", "--enter", "--", "n = input('Name: '); print('hello', n)"]);
    let m = scene.send_json(
        "py",
        &["--wait-ready", "--prompt", "Name: $", "--enter", "--expect", "^hello ann$", "--", "ann"],
    );
    assert_eq!(m["line"], "hello ann", "{m}");
}

/// bash's `read -p 'Name: '`: the echo `Name: bob` is skipped, `got bob` returned.
#[test]
fn bash_read_p_replies_are_returned() {
    let scene = Scene::new();
    scene.spawn("sh", &["bash", "--norc", "--noprofile"]);
    scene.send("sh", &["--wait-ready", "--enter", "--", "read -p 'Name: ' n; echo \"got $n\""]);
    let m = scene.send_json(
        "sh",
        &["--wait-ready", "--prompt", "Name: $", "--enter", "--expect", "^got bob$", "--", "bob"],
    );
    assert_eq!(m["line"], "got bob", "{m}");
}

/// bash's `read -s`: nothing is echoed, so Enter is pressed once the pane is quiet
/// (100 ms), not after the old fixed 2 s; the program's answer, printed on the prompt's
/// line, is output, not the echo.
#[test]
fn read_s_without_echo_returns_quickly_with_the_answer() {
    let scene = Scene::new();
    scene.spawn("sh", &["bash", "--norc", "--noprofile"]);
    scene.send(
        "sh",
        &["--wait-ready", "--enter", "--", "read -s -p 'Password: ' pw; echo \"got $pw\""],
    );
    // Ready first (not timed): the prompt shows.
    scene.send("sh", &["--wait-ready", "--prompt", "Password: $", "--idle", "10s"]);
    let t0 = Instant::now();
    let m =
        scene.send_json("sh", &["--enter", "--expect", r"got (?P<pw>hunter2)$", "--", "hunter2"]);
    let took = t0.elapsed();
    assert_eq!(m["captures"]["pw"], "hunter2", "{m}");
    assert_eq!(m["line"], "Password: got hunter2", "{m}");
    assert!(took < Duration::from_secs(1), "send with no echo took {took:?}");
}

/// `wait-for DONE` after typing `echo DONE` used to match the typed line: `send --enter
/// --expect` returns the command's output line, exactly.
#[test]
fn expect_returns_the_output_not_the_typed_command_line() {
    let scene = Scene::new();
    scene.spawn("sh", &["bash", "--norc", "--noprofile"]);
    for _ in 0..3 {
        let m = scene
            .send_json("sh", &["--wait-ready", "--enter", "--expect", "DONE", "--", "echo DONE"]);
        assert_eq!(m["line"], "DONE", "{m}");
    }
}

/// bash 5 turns bracketed paste on at its prompt: text of several lines, with a tab
/// (which readline would take for completion if typed), arrives as one paste and runs
/// whole on Enter.
#[test]
fn bracketed_paste_into_bash_keeps_multi_line_text_intact() {
    let scene = Scene::new();
    scene.spawn("sh", &["bash", "--norc", "--noprofile"]);
    // The prompt shows, with bracketed paste on.
    scene.send("sh", &["--wait-ready", "--idle", "10s"]);
    let text = "x='a\tb\nc'\necho \"len=${#x}\"";
    let m = scene.send_json("sh", &["--enter", "--expect", "len=", "--", text]);
    assert_eq!(m["line"], "len=5", "{m}\npane:\n{}", scene.screen("sh"));
}

/// `--wait-ready` types only once the prompt shows: text typed before a shell reads would
/// land on its prompt's line (`slow$ answer=42`, see `api::send_expect_waits_for_a_prompt_that_takes_a_second`).
#[test]
fn wait_ready_types_once_the_prompt_shows() {
    let scene = Scene::new();
    let o = ctl(
        &scene.server,
        &["spawn", "--label", "slow", "--shell", "--", "sleep 1; PS1='slow$ ' exec sh"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let m = scene.send_json(
        "slow",
        &[
            "--wait-ready",
            "--prompt",
            r"^slow\$ $",
            "--idle",
            "10s",
            "--enter",
            "--expect",
            "answer=",
            "--",
            "echo answer=$((40+2))",
        ],
    );
    assert_eq!(m["line"], "answer=42", "{m}");
}

/// Text typed while the program is busy is echoed twice: by the terminal where the cursor
/// is (`42`), then by the program behind its next prompt (`>>> 42`). Neither is the answer.
#[test]
fn text_typed_ahead_is_skipped_where_the_terminal_and_the_program_echo_it() {
    let scene = Scene::new();
    scene.spawn("py", &["python3", "-q"]);
    scene.send("py", &["--wait-ready", "--enter", "--", "import time; time.sleep(1)"]);
    let t0 = Instant::now();
    let (out, _) = scene.send("py", &["--enter", "--expect", "42", "--", "42"]);
    assert_eq!(out, "42\n");
    assert!(t0.elapsed() > Duration::from_millis(500), "answered before python could");
    let lines = stdout(&ctl(&scene.server, &["capture", "py", "--lines", "4"]));
    assert!(lines.contains("\n>>> 42\n42\n"), "both echoes, then the answer:\n{lines}");
}

/// A prompt the default pattern does not know (`Value? `): `--wait-ready` types once the
/// pane has printed nothing for `--idle`; output before the prompt keeps it waiting.
#[test]
fn wait_ready_takes_a_quiet_pane_as_ready() {
    let scene = Scene::new();
    let script = "for i in 1 2 3 4; do echo loading $i; sleep 0.2; done; printf 'Value? '; \
                  read v; echo \"v=$v\"; sleep 60";
    let o = ctl(&scene.server, &["spawn", "--label", "ask", "--shell", "--", script]);
    assert!(o.status.success(), "{}", stderr(&o));
    let t0 = Instant::now();
    let m = scene.send_json(
        "ask",
        &["--wait-ready", "--idle", "300ms", "--enter", "--expect", "^v=", "--", "7"],
    );
    let took = t0.elapsed();
    // Typed at the prompt, not during the loading lines (then `read` would take the
    // line the terminal echoed, and print `Value? v=7`).
    assert_eq!(m["line"], "v=7", "{m}");
    assert!(took >= Duration::from_millis(600), "did not wait for quiet: {took:?}");
    assert!(took < Duration::from_secs(3), "took {took:?}");
}
