//! Issue 3: the control-mode engine against a real tmux.

use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

use crate::harness::{bin, read_events, Daemon, TmuxServer};

/// Rules whose exec action dumps its environment into `<dir>/<rule>.<pid>`, one file per run.
fn env_dump_rule(name: &str, pattern: &str, dir: &std::path::Path, extra: &str) -> String {
    format!(
        "[[rule]]\nname = \"{name}\"\npattern = '{pattern}'\n{extra}\nactions = [ {{ exec = [\"sh\", \"-c\", \"env > \\\"$0/$CTMUX_RULE.$$\\\"\", \"{}\"] }} ]\n",
        dir.display()
    )
}

fn dumps(dir: &std::path::Path, rule: &str) -> Vec<HashMap<String, String>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with(&format!("{rule}.")) {
            let text = std::fs::read_to_string(e.path()).unwrap();
            out.push(
                text.lines()
                    .filter_map(|l| l.split_once('='))
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            );
        }
    }
    out
}

fn out_dir(server: &TmuxServer) -> std::path::PathBuf {
    let d = server.path("out");
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn coloured_crlf_trigger_fires_exec_once_with_environment() {
    let server = TmuxServer::new();
    let out = out_dir(&server);
    let rules = env_dump_rule("build", r"TRIGGER: START_BUILD (?P<id>\S+)", &out, "");
    let mut d = Daemon::start(&server, &rules, &[]);
    // Colour codes around the trigger, CRLF written by the program (the pty makes it CRCRLF).
    let pane = server.spawn(r"printf '\033[1;31mTRIGGER: START_BUILD job-42\033[0m\r\n'; sleep 30");
    assert!(d.wait_until(Duration::from_secs(10), |e| e.iter().any(|e| e["event"] == "action")));
    let runs = dumps(&out, "build");
    assert_eq!(runs.len(), 1, "exactly one exec run");
    let env = &runs[0];
    assert_eq!(env["CTMUX_LINE"], "TRIGGER: START_BUILD job-42");
    assert_eq!(env["CTMUX_PANE_ID"], pane);
    assert_eq!(env["CTMUX_SESSION"], "main");
    assert_eq!(env["CTMUX_RULE"], "build");
    assert_eq!(env["CTMUX_CAP_id"], "job-42");
    let action = &d.of("action", "build")[0];
    assert_eq!(action["exit_code"], 0, "{action}");
    assert_eq!(d.of("match", "build").len(), 1);
}

#[test]
fn trigger_split_across_chunks_fires_once_and_noise_fires_nothing() {
    let server = TmuxServer::new();
    let rules =
        "[[rule]]\nname = \"split\"\npattern = 'TRIGGER: SPLIT (\\w+)'\nactions = [\"log\"]\n\n\
                 [[rule]]\nname = \"end\"\npattern = '^ALL DONE$'\nactions = [\"log\"]\n";
    let mut d = Daemon::start(&server, rules, &[]);
    server.spawn(
        "printf 'TRIGGER: SP'; sleep 0.5; printf 'LIT abc\\n'; \
         i=0; while [ $i -lt 100 ]; do echo \"noise line $i TRIGGER: SPL\"; i=$((i+1)); done; \
         echo 'ALL DONE'; sleep 30",
    );
    assert!(d.wait_until(Duration::from_secs(10), |e| e.iter().any(|e| e["rule"] == "end")));
    let m = d.of("match", "split");
    assert_eq!(m.len(), 1, "{m:?}");
    assert_eq!(m[0]["line"], "TRIGGER: SPLIT abc");
}

#[test]
fn prompt_without_newline_matches() {
    let server = TmuxServer::new();
    let rules =
        "[[rule]]\nname = \"pw\"\npattern = 'Password: $'\nprompt = true\nactions = [\"log\"]\n";
    let mut d = Daemon::start(&server, rules, &[]);
    server.spawn("printf 'Password: '; sleep 30");
    assert!(d.wait_until(Duration::from_secs(10), |e| e.iter().any(|e| e["rule"] == "pw")));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(d.of("match", "pw").len(), 1);
}

#[test]
fn invalid_utf8_and_a_megabyte_line_do_not_break_matching() {
    let server = TmuxServer::new();
    let rules =
        "[[rule]]\nname = \"after\"\npattern = 'TRIGGER: AFTER (\\S+)'\nactions = [\"log\"]\n";
    let mut d = Daemon::start(&server, rules, &[]);
    server.spawn(
        "printf '\\377\\376 bad \\300\\200 bytes\\n'; head -c 1048576 /dev/zero | tr '\\0' x; printf '\\n'; \
         echo 'TRIGGER: AFTER ok'; sleep 30",
    );
    assert!(
        d.wait_until(Duration::from_secs(20), |e| e.iter().any(|e| e["rule"] == "after")),
        "the trigger after the hostile bytes was not seen"
    );
    let m = d.of("match", "after");
    assert_eq!(m.len(), 1);
    assert_eq!(m[0]["line"], "TRIGGER: AFTER ok");
}

#[test]
fn bad_rules_file_names_line_and_column_and_exits_2() {
    let server = TmuxServer::new();
    let rules = server.write_rules("[[rule]]\nname = \"x\"\npatern = 'a'\nactions = [\"log\"]\n");
    let out = Command::new(bin())
        .args(["--control-mode", "-L", &server.name, "--rules"])
        .arg(&rules)
        .arg("--events")
        .arg(server.path("events"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("rules.toml:3:1"), "{err}");
    assert!(err.contains("patern"), "{err}");

    let rules =
        server.write_rules("[[rule]]\nname = \"bad-re\"\npattern = 'a(b'\nactions = [\"log\"]\n");
    let out =
        Command::new(bin()).args(["-L", &server.name, "--rules"]).arg(&rules).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad-re"), "{err}");
}

#[test]
fn record_then_replay_reproduces_the_matches() {
    let server = TmuxServer::new();
    let rules = "[[rule]]\nname = \"r\"\npattern = 'STEP (?P<n>\\d+) done'\nactions = [\"log\"]\n";
    let rec = server.path("session.rec");
    let mut d = Daemon::start(&server, rules, &["--record", rec.to_str().unwrap()]);
    server.spawn("for i in 1 2 3 4 5; do echo \"STEP $i done\"; done; sleep 30");
    assert!(d.wait_until(Duration::from_secs(10), |e| e
        .iter()
        .filter(|e| e["rule"] == "r")
        .count()
        == 5));
    d.stop();
    let out = Command::new(bin())
        .arg("replay")
        .arg("--rules")
        .arg(server.path("rules.toml"))
        .arg(&rec)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 5, "{lines:?}");
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l["captures"]["n"], (i + 1).to_string());
        assert_eq!(l["line"], format!("STEP {} done", i + 1));
    }
    let logged = read_events(&server.path("events").join("events.jsonl"));
    assert_eq!(logged.iter().filter(|e| e["event"] == "match").count(), 5);
}

#[test]
fn every_session_is_watched_and_new_sessions_are_picked_up() {
    let server = TmuxServer::new();
    server.tmux_ok(&["new-session", "-d", "-s", "second"]);
    let rules = "[[rule]]\nname = \"s\"\npattern = 'HELLO FROM (\\w+)'\nactions = [\"log\"]\n";
    let mut d = Daemon::start(&server, rules, &[]);
    server.tmux_ok(&[
        "new-window",
        "-d",
        "-t",
        "second",
        "sh",
        "-c",
        "echo HELLO FROM second; sleep 30",
    ]);
    server.tmux_ok(&["new-session", "-d", "-s", "third"]);
    // Give ctmuxd the %sessions-changed round trip before printing in the new session.
    assert!(d.wait_until(Duration::from_secs(10), |e| e.iter().any(|e| e["rule"] == "s")));
    std::thread::sleep(Duration::from_millis(500));
    server.tmux_ok(&[
        "new-window",
        "-d",
        "-t",
        "third",
        "sh",
        "-c",
        "echo HELLO FROM third; sleep 30",
    ]);
    assert!(d.wait_until(Duration::from_secs(10), |e| e
        .iter()
        .any(|e| e["rule"] == "s" && e["session"] == "third")));
    let m = d.of("match", "s");
    assert_eq!(m.len(), 2, "{m:?}");
}

#[test]
fn logs_prints_the_last_events() {
    let server = TmuxServer::new();
    let rules = "[[rule]]\nname = \"l\"\npattern = 'LOGME (\\d+)'\nactions = [\"log\"]\n";
    let mut d = Daemon::start(&server, rules, &[]);
    server.spawn("for i in 1 2 3; do echo \"LOGME $i\"; done; sleep 30");
    assert!(d.wait_until(Duration::from_secs(10), |e| e
        .iter()
        .filter(|e| e["rule"] == "l")
        .count()
        == 3));
    let out =
        Command::new(bin()).args(["logs", "2", "--events"]).arg(&d.events_dir).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[1].contains("LOGME 3"), "{text}");
    // Where no daemon wrote a log, it says so instead of an OS error.
    let none = server.path("no-log-here");
    let out = Command::new(bin()).args(["logs", "--events"]).arg(&none).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no event log in") && !err.contains("os error"), "{err}");
}

#[test]
fn tmux_server_exit_ends_the_daemon_with_a_message() {
    let server = TmuxServer::new();
    let d =
        Daemon::start(&server, "[[rule]]\nname = \"x\"\npattern = 'x'\nactions = [\"log\"]\n", &[]);
    server.tmux_ok(&["kill-server"]);
    let st = d.wait_exit();
    assert_eq!(st.code(), Some(1));
    let err = std::fs::read_to_string(server.path("daemon.stderr")).unwrap();
    assert!(err.contains("tmux went away"), "{err}");
}

/// `ctmuxd check` validates a rules file as the daemon would, without tmux or a daemon.
#[test]
fn check_validates_a_rules_file_without_starting_anything() {
    let dir = tempfile::tempdir().unwrap();
    let run = |text: &str| {
        let path = dir.path().join("rules.toml");
        std::fs::write(&path, text).unwrap();
        let out = Command::new(bin()).args(["check", "--rules"]).arg(&path).output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code(), text)
    };
    let (code, text) =
        run("[[rule]]\nname = \"r\"\npattern = 'x(?P<n>\\d+)'\nactions = [\"log\"]\n");
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("ok: 1 rule(s)"), "{text}");
    let (code, text) = run("[[rule]]\nname = \"r\"\npattern = 'a(b'\nactions = [\"log\"]\n");
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("rules.toml:3:") && text.contains("rule `r`"), "{text}");
    // With the line and a caret under the `(` that is never closed.
    assert!(text.contains("\n3 | pattern = 'a(b'\n  |             ^"), "{text}");
    // Found only when the matcher is built: still refused, naming the rule.
    let (code, text) =
        run("[[rule]]\nname = \"big\"\npattern = '\\w{1000}{1000}'\nactions = [\"log\"]\n");
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("rule `big`"), "{text}");
}
