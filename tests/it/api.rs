//! Issue 5: the control socket and the client subcommands, by label only, against a real
//! tmux and a real daemon.

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{bin, Daemon, TmuxServer};

/// A rule that never fires: the daemon needs a rules file, these tests need no rules.
pub(crate) const QUIET_RULES: &str =
    "[[rule]]\nname = \"quiet\"\npattern = '^NEVER-PRINTED-9f3c$'\nactions = [ \"log\" ]\n";

/// Runs `ctmuxd <sub> -L <server> <rest...>` (the server flag right after the subcommand,
/// so it never lands after a `--`).
pub(crate) fn ctl(server: &TmuxServer, args: &[&str]) -> Output {
    ctl_command(server, args).stdin(Stdio::null()).output().expect("run ctmuxd")
}

pub(crate) fn ctl_command(server: &TmuxServer, args: &[&str]) -> Command {
    let mut cmd = Command::new(bin());
    cmd.arg(args[0]).arg("-L").arg(&server.name).args(&args[1..]).env_remove("TMUX");
    cmd
}

pub(crate) fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs a subcommand that must exit 0; returns its stdout.
pub(crate) fn ctl_ok(server: &TmuxServer, args: &[&str]) -> String {
    let o = ctl(server, args);
    assert!(o.status.success(), "ctmuxd {args:?} exited {}: {}", o.status, stderr(&o));
    stdout(&o)
}

pub(crate) fn json(text: &str) -> Value {
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Starts the daemon and waits until its control socket answers.
pub(crate) fn daemon(server: &TmuxServer) -> Daemon {
    let d = Daemon::start(server, QUIET_RULES, &[]);
    let end = Instant::now() + Duration::from_secs(10);
    while !ctl(server, &["status"]).status.success() {
        assert!(
            Instant::now() < end,
            "the control socket never answered: {}",
            stderr(&ctl(server, &["status"]))
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    d
}

/// Every key of a pane in `ctmuxd panes --json`, as docs/api.md documents it.
const PANE_KEYS: &[&str] = &[
    "alive",
    "command",
    "exit_signal",
    "exit_status",
    "height",
    "id",
    "label",
    "last_line",
    "matches",
    "meta",
    "pid",
    "session",
    "target",
    "width",
    "window",
];

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().expect("an object").keys().map(String::as_str).collect();
    k.sort_unstable();
    k
}

#[test]
fn spawn_send_wait_for_capture_close_by_label_only() {
    let server = TmuxServer::new();
    let _d = daemon(&server);
    let spawned = json(&ctl_ok(
        &server,
        &["spawn", "--label", "sh1", "--meta", "role=demo", "--json", "--", "sh"],
    ));
    assert_eq!(spawned["label"], "sh1");
    assert!(spawned["id"].as_str().unwrap().starts_with('%'), "{spawned}");
    assert_eq!(spawned["meta"]["role"], "demo");

    // Text typed before the shell's first prompt makes its answer land on the prompt's
    // line (`# hello-42`): wait for the prompt first (input that arrives belongs to the
    // shell-integration work, not to this test).
    let id = spawned["id"].as_str().unwrap();
    let end = Instant::now() + Duration::from_secs(10);
    while !server.tmux_ok(&["capture-pane", "-p", "-t", id]).contains('#') {
        assert!(Instant::now() < end, "no shell prompt in {id}");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The typed text does not match the pattern; only the shell's answer does.
    ctl_ok(&server, &["send", "sh1", "--enter", "--", "echo hel\"\"lo-$((6*7))"]);
    let line = ctl_ok(
        &server,
        &["wait-for", "sh1", "--pattern", "^hello-42$", "--since", "20", "--timeout", "10s"],
    );
    assert_eq!(line, "hello-42\n");
    let captured = ctl_ok(&server, &["capture", "sh1", "--lines", "10"]);
    assert!(captured.lines().any(|l| l == "hello-42"), "{captured}");

    let panes = json(&ctl_ok(&server, &["panes", "--json"]));
    let me =
        panes.as_array().unwrap().iter().find(|p| p["label"] == "sh1").expect("sh1 listed").clone();
    assert_eq!(me["id"], spawned["id"]);
    assert_eq!(me["alive"], true);

    let closed = ctl_ok(&server, &["close", "sh1"]);
    assert!(closed.contains(spawned["id"].as_str().unwrap()), "{closed}");
    let panes = json(&ctl_ok(&server, &["panes", "--json"]));
    assert!(panes.as_array().unwrap().iter().all(|p| p["label"] != "sh1"), "{panes}");
}

#[test]
fn an_unknown_label_lists_the_labels_that_exist() {
    let server = TmuxServer::new();
    let _d = daemon(&server);
    ctl_ok(&server, &["spawn", "--label", "alpha", "--", "sleep", "60"]);
    let o = ctl(&server, &["capture", "alpah"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("alpah") && e.contains("alpha"), "{e}");
}

#[test]
fn send_expect_waits_for_a_prompt_that_takes_a_second() {
    let server = TmuxServer::new();
    let _d = daemon(&server);
    // The shell only starts reading after a second; the typed line waits in the tty.
    ctl_ok(
        &server,
        &["spawn", "--label", "slow", "--shell", "--", "sleep 1; PS1='slow$ ' exec sh"],
    );
    let t0 = Instant::now();
    let out = ctl_ok(
        &server,
        &[
            "send",
            "slow",
            "--enter",
            "--expect",
            "answer=(?P<n>\\d+)$",
            "--timeout",
            "15s",
            "--json",
            "--",
            "echo answer=$((40+2))",
        ],
    );
    let m = json(&out);
    // The shell prints its prompt, then the answer, on one line: `slow$ answer=42`.
    assert!(m["line"].as_str().unwrap().ends_with("answer=42"), "{m}");
    assert_eq!(m["captures"]["n"], "42");
    assert_eq!(m["label"], "slow");
    assert!(
        t0.elapsed() >= Duration::from_millis(700),
        "answered before the shell could: {:?}",
        t0.elapsed()
    );
}

#[test]
fn wait_for_catches_a_line_printed_right_after_the_request() {
    let server = TmuxServer::new();
    let _d = daemon(&server);
    // A new line every millisecond (and the sleep's fork): the next one after the request
    // must be returned, not an old one.
    ctl_ok(
        &server,
        &[
            "spawn",
            "--label",
            "ticker",
            "--shell",
            "--",
            "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); echo tick-$i; sleep 0.001; done",
        ],
    );
    ctl_ok(&server, &["wait-for", "ticker", "--pattern", "^tick-[0-9]+$", "--timeout", "10s"]);
    let before: u64 = ctl_ok(&server, &["capture", "ticker", "--lines", "2"])
        .lines()
        .filter_map(|l| l.strip_prefix("tick-")?.parse().ok())
        .max()
        .expect("a tick captured");
    let t0 = Instant::now();
    let m = json(&ctl_ok(
        &server,
        &["wait-for", "ticker", "--pattern", "^tick-(?P<n>[0-9]+)$", "--json"],
    ));
    let n: u64 = m["captures"]["n"].as_str().unwrap().parse().unwrap();
    assert!(n > before, "tick-{n} is not newer than tick-{before} seen before the request");
    assert!(t0.elapsed() < Duration::from_secs(3), "took {:?}", t0.elapsed());
    ctl_ok(&server, &["close", "ticker"]);
}

#[test]
fn wait_for_times_out_with_exit_1_and_says_what_it_awaited() {
    let server = TmuxServer::new();
    let _d = daemon(&server);
    ctl_ok(&server, &["spawn", "--label", "idle", "--", "sleep", "60"]);
    let t0 = Instant::now();
    let o = ctl(&server, &["wait-for", "idle", "--pattern", "never-printed", "--timeout", "300ms"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(t0.elapsed() >= Duration::from_millis(300));
    let e = stderr(&o);
    assert!(e.contains("never-printed") && e.contains("idle") && e.contains("300ms"), "{e}");
    assert!(stdout(&o).is_empty());
}

#[test]
fn json_output_follows_the_documented_schema() {
    let server = TmuxServer::new();
    let _d = daemon(&server);
    ctl_ok(
        &server,
        &["spawn", "--label", "done", "--keep", "--shell", "--", "echo finished; exit 3"],
    );
    ctl_ok(
        &server,
        &["wait-for", "done", "--pattern", "^finished$", "--since", "5", "--timeout", "10s"],
    );
    let end = Instant::now() + Duration::from_secs(10);
    let pane = loop {
        let panes = json(&ctl_ok(&server, &["panes", "--json"]));
        let p = panes
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["label"] == "done")
            .cloned()
            .expect("listed");
        if p["alive"] == false || Instant::now() > end {
            break p;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(keys(&pane), PANE_KEYS, "{pane}");
    assert_eq!(
        (pane["alive"].clone(), pane["exit_status"].clone()),
        (Value::Bool(false), Value::from(3)),
        "{pane}"
    );
    assert!(
        pane["meta"].is_object()
            && pane["pid"].is_u64()
            && pane["width"].is_u64()
            && pane["window"].is_string()
    );
    assert_eq!(pane["last_line"], "finished");
    assert_eq!(pane["matches"], 0, "no rule fired on it");
    let target = pane["target"].as_str().unwrap_or_default();
    assert!(target.starts_with("main:") && target.ends_with(".0"), "{pane}");

    let status = json(&ctl_ok(&server, &["status", "--json"]));
    assert_eq!(
        keys(&status),
        [
            "connected",
            "events_lost",
            "events_path",
            "mode",
            "panes",
            "pid",
            "rules",
            "sessions",
            "tmux",
            "tmux_version",
            "uptime_s",
            "waiters"
        ],
        "{status}"
    );
    assert_eq!(status["sessions"], serde_json::json!(["main"]));
    assert!(status["tmux"].as_str().unwrap().contains(&server.name));
    // The release of the server under test (`tmux -V` of the same binary: `tmux 3.5a`).
    let v = Command::new(crate::harness::tmux_bin()).arg("-V").output().expect("tmux -V");
    let v = String::from_utf8_lossy(&v.stdout).trim().trim_start_matches("tmux ").to_string();
    assert_eq!(status["tmux_version"], v.as_str(), "{status}");

    let rules = json(&ctl_ok(&server, &["rules", "--json"]));
    assert_eq!(keys(&rules[0]), ["dynamic", "matches", "name", "pattern"]);
    assert_eq!(
        (rules[0]["name"].clone(), rules[0]["dynamic"].clone()),
        ("quiet".into(), false.into())
    );

    let m = json(&ctl_ok(
        &server,
        &[
            "wait-for",
            "done",
            "--pattern",
            "^(?P<word>fin)ished$",
            "--since",
            "5",
            "--timeout",
            "5s",
            "--json",
        ],
    ));
    assert_eq!(keys(&m), ["captures", "label", "line", "pane"]);
    assert_eq!(m["captures"]["word"], "fin");
    assert_eq!(m["pane"], pane["id"]);
}

#[test]
fn a_connection_from_another_uid_is_refused() {
    // SAFETY: geteuid(2) has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root to run a client as another uid");
        return;
    }
    let server = TmuxServer::new();
    let _d = daemon(&server);
    // The nobody user must reach the same socket: point its XDG_RUNTIME_DIR at a directory
    // whose `ctmuxd` entry leads to ours.
    let ours = ctmuxd::api::runtime_dir();
    let shim = server.path("xdg");
    std::fs::create_dir(&shim).unwrap();
    std::os::unix::fs::symlink(&ours, shim.join("ctmuxd")).unwrap();
    for dir in [server.dir.path(), shim.as_path()] {
        std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }
    let mut cmd = ctl_command(&server, &["status"]);
    std::os::unix::process::CommandExt::uid(&mut cmd, 65534);
    cmd.env("XDG_RUNTIME_DIR", &shim).current_dir("/");
    let o = match cmd.stdin(Stdio::null()).output() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("skipped: cannot run {} as uid 65534: {e}", bin());
            return;
        }
    };
    // The client itself refuses first: the directory it is led to is not its own (the
    // daemon's refusal of a foreign peer uid is covered by `server::tests`, since no
    // ctmuxd client sends anything to a daemon of another user any more).
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("refusing to talk to"), "{}", stderr(&o));
    assert!(stdout(&o).is_empty());
    // The daemon is unaffected.
    assert!(json(&ctl_ok(&server, &["status", "--json"]))["pid"].is_u64());
}

#[test]
fn a_subscriber_that_disconnects_mid_stream_does_not_disturb_the_daemon() {
    let server = TmuxServer::new();
    let mut d = daemon(&server);
    ctl_ok(&server, &["spawn", "--label", "src", "--", "sh"]);
    let mut sub = ctl_command(&server, &["subscribe", "src", "--pattern", "^sub-[0-9]+$"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn subscribe");
    let (tx, rx) = std::sync::mpsc::channel();
    let out = sub.stdout.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    // Poke until the subscription (registered asynchronously) reports a line.
    let mut first = None;
    for i in 1..=50 {
        ctl_ok(&server, &["send", "src", "--enter", "--", &format!("echo sub-$(({i}))")]);
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(200)) {
            first = Some(l);
            break;
        }
    }
    let first = json(&first.expect("the subscription printed a match"));
    assert!(first["line"].as_str().unwrap().starts_with("sub-"), "{first}");
    assert_eq!(first["label"], "src");

    sub.kill().unwrap();
    sub.wait().unwrap();
    // More matching output with the subscriber gone, then the daemon still answers.
    ctl_ok(&server, &["send", "src", "--enter", "--", "echo sub-$((1000))"]);
    let line = ctl_ok(
        &server,
        &["wait-for", "src", "--pattern", "^sub-1000$", "--since", "5", "--timeout", "5s"],
    );
    assert_eq!(line, "sub-1000\n");
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        let rules = json(&ctl_ok(&server, &["rules", "--json"]));
        if rules.as_array().unwrap().iter().all(|r| r["dynamic"] == false) {
            break;
        }
        assert!(Instant::now() < end, "the subscription's rule outlived its client: {rules}");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(d.child.try_wait().unwrap().is_none(), "the daemon is still running");
}

#[test]
fn a_subscription_runs_its_exec_for_each_match() {
    let server = TmuxServer::new();
    let _d = daemon(&server);
    ctl_ok(&server, &["spawn", "--label", "src", "--", "sh"]);
    let out = server.path("exec-out");
    let script = format!("printf '%s\\n' \"$CTMUX_LINE\" >> '{}'", out.display());
    let args = ["subscribe", "src", "--pattern", "^ran-[0-9]+$", "--exec", "sh", "-c", &script];
    let mut sub = ctl_command(&server, &args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn subscribe");
    // Poke until the subscription (registered asynchronously) has run its exec.
    let found = (1..=50).any(|i| {
        ctl_ok(&server, &["send", "src", "--enter", "--", &format!("echo ran-$(({i}))")]);
        crate::harness::wait_file(&out, Duration::from_millis(200), |s| s.contains("ran-"))
            .is_some()
    });
    let _ = (sub.kill(), sub.wait());
    assert!(found, "the subscription's exec never ran");
}

#[test]
fn stop_ends_the_daemon() {
    let server = TmuxServer::new();
    let d = daemon(&server);
    ctl_ok(&server, &["stop"]);
    assert!(d.wait_exit().success());
    let o = ctl(&server, &["status"]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn without_a_daemon_each_command_says_how_to_start_one() {
    let server = TmuxServer::new();
    for args in [&["panes"][..], &["status"], &["wait-for", "x", "--pattern", "y"], &["stop"]] {
        let o = ctl(&server, args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        let e = stderr(&o);
        assert!(e.contains("no ctmuxd daemon is running"), "{e}");
        assert!(
            e.contains(&format!("ctmuxd --control-mode -L {} --rules FILE", server.name)),
            "{e}"
        );
    }
}

#[test]
fn bad_input_exits_2() {
    let server = TmuxServer::new();
    let _d = daemon(&server);
    ctl_ok(&server, &["spawn", "--label", "x", "--", "sleep", "60"]);
    // A pattern the daemon cannot compile.
    let o = ctl(&server, &["wait-for", "x", "--pattern", "(unclosed", "--timeout", "1s"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    // A duration without a unit is refused by the parser.
    let o = ctl(&server, &["wait-for", "x", "--pattern", "y", "--timeout", "5"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("invalid duration"), "{}", stderr(&o));
}

/// A reader that stops early (`ctmuxd logs 5000 | head -1`) ends a client command quietly,
/// as it ends `cat` or `rg`: no panic, no error message.
#[test]
fn a_closed_pipe_ends_client_commands_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let line = format!("{{\"ts_ns\":1,\"event\":\"match\",\"line\":\"{}\"}}\n", "x".repeat(200));
    std::fs::write(dir.path().join("events.jsonl"), line.repeat(5000)).unwrap();
    let events = dir.path().to_str().unwrap();
    for args in [&["logs", "--events", events, "5000"][..], &["completions", "bash"]] {
        let mut child = Command::new(bin())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run ctmuxd");
        // Read one line, then hang up, as `head -1` does.
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
        let out = child.wait_with_output().unwrap();
        let err = stderr(&out);
        assert!(!err.contains("panicked") && err.is_empty(), "{args:?}: {err}");
        use std::os::unix::process::ExitStatusExt;
        assert!(
            out.status.success() || out.status.signal() == Some(libc::SIGPIPE),
            "{args:?}: {}",
            out.status
        );
    }
}

/// The daemon's log on a redirected stderr is plain text: no colour escapes in a file.
#[test]
fn the_daemon_log_in_a_file_has_no_colour_escapes() {
    let server = TmuxServer::new();
    let d = daemon(&server);
    d.stop();
    let log = std::fs::read_to_string(server.path("daemon.stderr")).unwrap();
    assert!(log.contains("attached to session"), "{log}");
    assert!(!log.contains('\x1b'), "{log:?}");
}

/// A pane without a label is addressed by its tmux id (`%3`), as rules can address it.
#[test]
fn a_pane_is_addressed_by_its_id() {
    let server = TmuxServer::new();
    let _d = daemon(&server);
    let id = server.spawn("echo HELLO-BY-ID; cat");
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let o = ctl(&server, &["capture", &id, "--lines", "5"]);
        if o.status.success() && stdout(&o).contains("HELLO-BY-ID") {
            break;
        }
        assert!(Instant::now() < end, "capture {id}: {} {}", stdout(&o), stderr(&o));
        std::thread::sleep(Duration::from_millis(50));
    }
    ctl_ok(&server, &["send", &id, "--enter", "--", "typed-by-id"]);
    let line = ctl_ok(&server, &["wait-for", &id, "--pattern", "^typed-by-id$", "--since", "5"]);
    assert_eq!(line, "typed-by-id\n");
    // An id that is no pane is still an error naming it.
    let o = ctl(&server, &["capture", "%999"]);
    assert!(!o.status.success() && stderr(&o).contains("%999"), "{}", stderr(&o));
}

/// `label` gives a pane ctmuxd did not start a label that rules see from the pane's very
/// next line (tmux's label subscription would report it up to a second later), stores it
/// in tmux, and refuses a label another pane of the session holds.
#[test]
fn label_names_a_pane_for_rules_at_once() {
    let server = TmuxServer::new();
    let rules = "[[rule]]\nname = \"built\"\npattern = '^BUILT (?P<n>\\d+)$'\npane = \"build\"\nactions = [ \"log\" ]\n";
    let mut d = Daemon::start(&server, rules, &[]);
    let id = server.spawn("while read n; do echo \"BUILT $n\"; done");
    let other = server.spawn("cat");
    let out = ctl_ok(&server, &["label", &id, "build", "--meta", "stage=build", "--json"]);
    let view = json(&out);
    assert_eq!((view["id"].as_str(), view["label"].as_str()), (Some(id.as_str()), Some("build")));
    assert_eq!(view["meta"]["stage"], "build");
    // Printed at once: only a label the daemon knew before tmux reported it can fire.
    server.tmux_ok(&["send-keys", "-t", &id, "1", "Enter"]);
    assert!(
        d.wait_until(Duration::from_millis(900), |e| e
            .iter()
            .any(|e| e["event"] == "match" && e["rule"] == "built" && e["label"] == "build")),
        "no match for the labelled pane: {:?}",
        d.events()
    );
    let option = server.tmux_ok(&["show-options", "-p", "-v", "-t", &id, "@ctmuxd_label"]);
    assert_eq!(option.trim(), "build");
    // The label now addresses the pane.
    ctl_ok(&server, &["send", "build", "--enter", "--", "2"]);
    ctl_ok(&server, &["wait-for", "build", "--pattern", "^BUILT 2$", "--since", "5"]);
    // Unique within the session: conflict, exit status 2, the holder named.
    let o = ctl(&server, &["label", &other, "build"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("already used by pane") && stderr(&o).contains(&id),
        "{}",
        stderr(&o)
    );
    // An unknown pane is not found (1); an empty label is bad input (2).
    assert_eq!(ctl(&server, &["label", "%999", "x"]).status.code(), Some(1));
    assert_eq!(ctl(&server, &["label", &other, ""]).status.code(), Some(2));
}

/// Inside a pane (`$TMUX` set), commands without `-L`/`-S` reach the daemon of that pane's
/// server, as a daemon started there serves it: both key the control socket on the server
/// `$TMUX` names.
#[test]
fn inside_a_pane_commands_reach_that_servers_daemon() {
    let server = TmuxServer::new();
    let _d = daemon(&server);
    let base = std::env::var("TMUX_TMPDIR").ok().filter(|v| !v.is_empty());
    // SAFETY: getuid(2) cannot fail and touches no memory of ours.
    let uid = unsafe { libc::getuid() };
    let tmux_env =
        format!("{}/tmux-{uid}/{},4242,0", base.as_deref().unwrap_or("/tmp"), server.name);
    let o = Command::new(bin())
        .args(["status", "--json"])
        .env("TMUX", &tmux_env)
        .stdin(Stdio::null())
        .output()
        .expect("run ctmuxd");
    assert!(o.status.success(), "TMUX={tmux_env}: {}", stderr(&o));
    assert!(stdout(&o).contains("\"sessions\""), "{}", stdout(&o));
}

/// `logs` prints one line per event for a person on a terminal (here a tmux pane) and the
/// JSON lines through a pipe, filtered by pane, rule and kind either way.
#[test]
fn logs_are_for_people_on_a_terminal_and_json_through_a_pipe() {
    let server = TmuxServer::new();
    let dir = server.path("events");
    std::fs::create_dir_all(&dir).unwrap();
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let lines = [
        format!(
            r#"{{"ts_ns":{now},"event":"daemon","mode":"control","message":"ready: watching 1 session(s)"}}"#
        ),
        format!(
            r#"{{"ts_ns":{now},"event":"match","pane":"%3","label":"build","session":"main","rule":"built","line":"BUILT 42","mode":"control"}}"#
        ),
        format!(
            r#"{{"ts_ns":{now},"event":"match","pane":"%4","label":"web","session":"main","rule":"err","line":"ERROR x","mode":"control"}}"#
        ),
    ];
    std::fs::write(dir.join("events.jsonl"), lines.join("\n") + "\n").unwrap();
    let dir_s = dir.to_str().unwrap();
    // Through a pipe: the JSON lines as the file holds them, filtered.
    let o =
        Command::new(bin()).args(["logs", "--events", dir_s, "--pane", "build*"]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), format!("{}\n", lines[1]));
    let o = Command::new(bin())
        .args(["logs", "--events", dir_s, "--event", "daemon", "--since", "1h"])
        .output()
        .unwrap();
    assert_eq!(stdout(&o), format!("{}\n", lines[0]));
    // On a terminal: one line per event, for a person.
    let script = format!(
        "{} logs --events {} --rule 'bu*'; echo LOGS-DONE; cat",
        bin(),
        ctmuxd::tmux::command::quote(dir_s)
    );
    let pane = server.spawn(&script);
    let end = Instant::now() + Duration::from_secs(10);
    let shown = loop {
        let text = server.tmux_ok(&["capture-pane", "-p", "-t", &pane]);
        if text.contains("LOGS-DONE") {
            break text;
        }
        assert!(Instant::now() < end, "{text}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let first = shown.lines().next().unwrap_or("");
    assert!(
        first.contains(" match    %3 build") && first.ends_with("rule built: BUILT 42"),
        "{shown}"
    );
    assert!(!shown.contains("ERROR x") && !shown.contains('{'), "{shown}");
}

/// `ctmuxd man` prints a manual page that names every subcommand.
#[test]
fn the_manual_page_lists_every_subcommand() {
    let o = Command::new(bin()).arg("man").output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let page = stdout(&o);
    assert!(page.contains(".TH ctmuxd 1"), "{page}");
    for sub in
        ["logs", "check", "panes", "spawn", "label", "wait\\-for", "capture", "stop", "man", "top"]
    {
        assert!(
            page.contains(&format!("ctmuxd\\-{sub}")) || page.contains(&format!("\\fB{sub}\\fR")),
            "{sub} missing"
        );
    }
}

/// `panes` shows the command a spawned pane was given, not the spawn wrapper's `sh`.
#[test]
fn panes_shows_the_spawned_command_not_the_wrapper() {
    let server = TmuxServer::new();
    let _d = daemon(&server);
    ctl_ok(&server, &["spawn", "--label", "sleeper", "--", "sleep", "30"]);
    ctl_ok(&server, &["spawn", "--label", "script", "--shell", "--", "sleep 30; echo done"]);
    let panes = json(&ctl_ok(&server, &["panes", "--json"]));
    let command = |label: &str| {
        panes.as_array().unwrap().iter().find(|p| p["label"] == label).unwrap()["command"].clone()
    };
    assert_eq!(command("sleeper"), "sleep 30", "{panes}");
    assert_eq!(command("script"), "sleep 30; echo done", "{panes}");
    let table = ctl_ok(&server, &["panes"]);
    assert!(table.contains("sleep 30"), "{table}");
}

/// Relative paths: an `exec` action runs in the rules file's directory (wherever the daemon
/// was started), and `subscribe --exec` in the caller's.
#[test]
fn relative_exec_paths_are_the_rules_files_and_the_callers() {
    use std::os::unix::fs::PermissionsExt;
    let server = TmuxServer::new();
    let write_script = |path: &std::path::Path, out: &std::path::Path| {
        std::fs::write(path, format!("#!/bin/sh\npwd > '{}'\n", out.display())).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    // The rules file and its hook in the test's directory; the daemon runs from the
    // crate's directory (the test runner's), so only the rules file's directory finds it.
    let rule_out = server.path("rule-pwd");
    write_script(&server.path("hook.sh"), &rule_out);
    let rules = "[[rule]]\nname = \"hook\"\npattern = '^RUN-HOOK$'\nactions = [ { exec = [\"./hook.sh\"] } ]\n";
    let _d = Daemon::start(&server, rules, &[]);
    let pane = server.spawn("echo RUN-HOOK; cat");
    let ran = crate::harness::wait_file(&rule_out, Duration::from_secs(10), |s| !s.is_empty());
    let dir = std::fs::canonicalize(server.path("")).unwrap();
    assert_eq!(
        ran.as_deref().map(str::trim),
        Some(dir.to_str().unwrap()),
        "rule exec ran elsewhere"
    );
    // subscribe --exec ./notify.sh, typed in the caller's directory.
    let caller = server.path("caller");
    std::fs::create_dir_all(&caller).unwrap();
    let sub_out = server.path("sub-pwd");
    write_script(&caller.join("notify.sh"), &sub_out);
    ctl_ok(&server, &["label", &pane, "hooked"]);
    let mut sub = ctl_command(
        &server,
        &["subscribe", "hooked", "--pattern", "^poke", "--exec", "./notify.sh"],
    )
    .current_dir(&caller)
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .expect("spawn subscribe");
    let found = (1..=50).any(|i| {
        server.tmux_ok(&["send-keys", "-t", &pane, &format!("poke {i}"), "Enter"]);
        crate::harness::wait_file(&sub_out, Duration::from_millis(200), |s| !s.is_empty()).is_some()
    });
    let _ = (sub.kill(), sub.wait());
    assert!(found, "subscribe's ./notify.sh never ran");
    let ran = std::fs::read_to_string(&sub_out).unwrap();
    assert_eq!(ran.trim(), std::fs::canonicalize(&caller).unwrap().to_str().unwrap());
}

/// A pane is also addressed as tmux writes targets, `session:window.pane`.
#[test]
fn a_pane_is_addressed_as_session_window_pane() {
    let server = TmuxServer::new();
    let _d = daemon(&server);
    let id = server.spawn("echo TARGETED; cat");
    let target = server
        .tmux_ok(&[
            "display-message",
            "-p",
            "-t",
            &id,
            "#{session_name}:#{window_index}.#{pane_index}",
        ])
        .trim()
        .to_string();
    assert!(target.starts_with("main:"), "{target}");
    let line = ctl_ok(
        &server,
        &["wait-for", &target, "--pattern", "^TARGETED$", "--since", "5", "--timeout", "10s"],
    );
    assert_eq!(line, "TARGETED\n");
    let view = json(&ctl_ok(&server, &["label", &target, "aimed", "--json"]));
    assert_eq!(view["id"].as_str(), Some(id.as_str()));
    let o = ctl(&server, &["capture", "main:99.0"]);
    assert_eq!(o.status.code(), Some(1), "a target naming no pane is not found: {}", stderr(&o));
}

/// The daemon says each event on stderr, one line for a person (not JSON).
#[test]
fn the_daemon_says_each_event_on_stderr_for_a_person() {
    let server = TmuxServer::new();
    let rules =
        "[[rule]]\nname = \"said\"\npattern = '^SAY-IT (?P<n>\\d+)$'\nactions = [ \"log\" ]\n";
    let _d = Daemon::start(&server, rules, &[]);
    server.spawn("echo SAY-IT 7; cat");
    let said =
        crate::harness::wait_file(&server.path("daemon.stderr"), Duration::from_secs(10), |s| {
            s.contains("rule said: SAY-IT 7")
        });
    let said = said.expect("no human line for the match");
    let line = said.lines().find(|l| l.contains("rule said: SAY-IT 7")).unwrap();
    assert!(line.contains("match") && !line.contains('{') && !line.contains('\x1b'), "{line}");
}

/// A daemon that stops leaves nothing in its runtime directory, nor the directory itself
/// when no other daemon uses it (so test runs and demos leave nothing in /tmp).
#[test]
fn a_stopped_daemon_leaves_no_runtime_directory() {
    let server = TmuxServer::new();
    let rt = server.path("rt");
    std::fs::create_dir_all(&rt).unwrap();
    let rules = server.write_rules(QUIET_RULES);
    let mut child = Command::new(bin())
        .args(["--control-mode", "-L", &server.name, "--rules"])
        .arg(&rules)
        .arg("--events")
        .arg(server.path("events"))
        .env("XDG_RUNTIME_DIR", &rt)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let status = || {
        Command::new(bin())
            .args(["status", "-L", &server.name])
            .env("XDG_RUNTIME_DIR", &rt)
            .output()
            .unwrap()
    };
    let end = Instant::now() + Duration::from_secs(10);
    while !status().status.success() {
        assert!(Instant::now() < end, "the daemon never answered");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(rt.join("ctmuxd").is_dir(), "it serves from the runtime directory");
    let o = Command::new(bin())
        .args(["stop", "-L", &server.name])
        .env("XDG_RUNTIME_DIR", &rt)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let exited = child.wait().unwrap();
    assert!(exited.success(), "{exited}");
    assert!(
        !rt.join("ctmuxd").exists(),
        "left behind: {:?}",
        std::fs::read_dir(rt.join("ctmuxd")).map(|d| d.count())
    );
}

/// Each record names its tmux server, and `logs -L NAME` shows only that server's.
#[test]
fn records_name_their_server_and_logs_filter_by_it() {
    let server = TmuxServer::new();
    let rules = "[[rule]]\nname = \"mine\"\npattern = '^MINE$'\nactions = [ \"log\" ]\n";
    let mut d = Daemon::start(&server, rules, &[]);
    server.spawn("echo MINE; cat");
    assert!(d.wait_until(Duration::from_secs(10), |e| e.iter().any(|e| e["rule"] == "mine")));
    assert!(d.events().iter().all(|e| e["server"] == server.name.as_str()), "{:#?}", d.events());
    let events = d.events_dir.to_str().unwrap().to_string();
    let logs = |args: &[&str]| {
        let o = Command::new(bin())
            .args(["logs", "100", "--events", &events])
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
    };
    let mine = logs(&["-L", &server.name, "--rule", "mine"]);
    assert_eq!(mine.lines().count(), 1, "{mine}");
    assert!(logs(&["-L", "another-server"]).is_empty());
    // Before the subcommand too, as for the other commands.
    let o = Command::new(bin())
        .args(["-L", &server.name, "logs", "100", "--events", &events, "--event", "match"])
        .output()
        .unwrap();
    assert_eq!(stdout(&o).lines().count(), 1, "{}", stdout(&o));
}
