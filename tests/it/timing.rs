//! Issue 18: rules that reason about time and several panes, against a real tmux: two
//! services ready within a window (one late: the timeout actions name it), a hanging
//! build found by `silence`, a burst counted, a sequence with a decoy in the wrong order.
//!
//! Panes wait for an Enter (`read`) before they print, so what they print comes after the
//! daemon is watching, at the moment the test chooses.

use std::time::Duration;

use serde_json::Value;

use crate::harness::{wait_file, Daemon, TmuxServer};

/// A pane labelled `label` running `sh -c script`; returns its id.
fn labelled(server: &TmuxServer, label: &str, script: &str) -> String {
    let pane = server.spawn(script);
    server.tmux_ok(&["set-option", "-p", "-t", &pane, "@ctmuxd_label", label]);
    pane
}

fn enter(server: &TmuxServer, pane: &str) {
    server.tmux_ok(&["send-keys", "-t", pane, "Enter"]);
}

fn conditions(evs: &[Value], rule: &str) -> Vec<Value> {
    evs.iter().filter(|e| e["event"] == "condition" && e["rule"] == rule).cloned().collect()
}

fn part_names(record: &Value) -> Vec<String> {
    let parts = record["parts"].as_array().expect("parts");
    parts.iter().map(|p| p["name"].as_str().unwrap_or("").to_string()).collect()
}

#[test]
fn api_and_worker_ready_within_the_window_and_the_late_one_named_on_timeout() {
    let server = TmuxServer::new();
    let api = labelled(&server, "api", "while read x; do echo 'API listening on :8080'; done");
    let worker = labelled(&server, "worker", "while read x; do echo 'worker consuming jobs'; done");
    let rules = r#"
[[rule]]
name = "api-ready"
pane = "api"
pattern = 'API listening'
actions = ["log"]

[[rule]]
name = "worker-ready"
pane = "worker"
pattern = 'worker consuming'
actions = ["log"]

[[rule]]
name = "integration"
all = ["api-ready", "worker-ready"]
within = "1500ms"
actions = [ { exec = ["sh", "-c", "echo started >> started"] } ]
timeout_actions = [ { exec = ["sh", "-c", "echo \"missing: $CTMUX_CAP_missing\" >> missing"] } ]
"#;
    let mut d = Daemon::start(&server, rules, &[]);
    // The API is ready; the worker is late.
    enter(&server, &api);
    assert!(
        d.wait_until(Duration::from_secs(10), |e| !conditions(e, "integration").is_empty()),
        "{:#?}",
        d.events()
    );
    let timeout = &conditions(&d.events(), "integration")[0];
    assert_eq!(timeout["timed_out"], true, "{timeout}");
    assert_eq!(timeout["missing"], serde_json::json!(["worker-ready"]));
    assert_eq!(part_names(timeout), ["api-ready"]);
    assert_eq!(timeout["parts"][0]["label"], "api");
    assert_eq!(timeout["parts"][0]["line"], "API listening on :8080");
    let missing =
        wait_file(&server.path("missing"), Duration::from_secs(10), |t| t.ends_with('\n'));
    assert_eq!(missing.as_deref(), Some("missing: worker-ready\n"));
    // The window ends 1.5 s after the first part: the timeout comes then, not before.
    let api_ts = timeout["parts"][0]["ts_ns"].as_u64().unwrap();
    let after = timeout["ts_ns"].as_u64().unwrap() - api_ts;
    assert!((1_500_000_000..2_500_000_000).contains(&after), "timed out {after} ns after the API");

    // Both within the window: the rule's actions run, naming both parts.
    enter(&server, &worker);
    enter(&server, &api);
    assert!(
        d.wait_until(Duration::from_secs(10), |e| conditions(e, "integration")
            .iter()
            .any(|c| c["timed_out"] != true)),
        "{:#?}",
        d.events()
    );
    let fired: Vec<Value> = conditions(&d.events(), "integration")
        .into_iter()
        .filter(|c| c["timed_out"] != true)
        .collect();
    assert_eq!(fired.len(), 1);
    assert_eq!(part_names(&fired[0]), ["worker-ready", "api-ready"]);
    assert_eq!(fired[0]["parts"][0]["label"], "worker");
    let started =
        wait_file(&server.path("started"), Duration::from_secs(10), |t| t.ends_with('\n'));
    assert_eq!(started.as_deref(), Some("started\n"));
    assert_eq!(
        std::fs::read_to_string(server.path("missing")).unwrap(),
        "missing: worker-ready\n",
        "the timeout actions ran once"
    );
}

#[test]
fn a_hanging_build_is_found_by_silence_once_and_a_busy_pane_is_not() {
    let server = TmuxServer::new();
    let build = labelled(&server, "build", "read x; echo compiling; echo linking; sleep 60");
    let busy = labelled(&server, "build-busy", "read x; while :; do echo tick; sleep 0.2; done");
    let rules = r#"
[[rule]]
name = "hang"
pane = "build*"
silence = "1s"
actions = [ { exec = ["sh", "-c", "echo \"$CTMUX_PANE_LABEL $CTMUX_LINE\" >> hung"] } ]
"#;
    let mut d = Daemon::start(&server, rules, &[]);
    enter(&server, &build);
    enter(&server, &busy);
    assert!(
        d.wait_until(Duration::from_secs(10), |e| !conditions(e, "hang").is_empty()),
        "{:#?}",
        d.events()
    );
    // Twice the silence more: it fired once, for the quiet pane only.
    std::thread::sleep(Duration::from_millis(2500));
    let fired = conditions(&d.events(), "hang");
    assert_eq!(fired.len(), 1, "{fired:#?}");
    let c = &fired[0];
    assert_eq!(c["condition"], "silence");
    assert_eq!(c["label"], "build");
    assert_eq!(c["line"], "silent for 1s");
    assert_eq!(c["parts"][0]["line"], "linking", "the last thing it printed");
    let quiet_ns = c["ts_ns"].as_u64().unwrap() - c["parts"][0]["ts_ns"].as_u64().unwrap();
    assert!((1_000_000_000..1_500_000_000).contains(&quiet_ns), "fired {quiet_ns} ns after");
    let hung = wait_file(&server.path("hung"), Duration::from_secs(10), |t| t.ends_with('\n'));
    assert_eq!(hung.as_deref(), Some("build silent for 1s\n"));
}

#[test]
fn a_burst_is_counted_once_and_spread_out_matches_are_not() {
    let server = TmuxServer::new();
    let api = labelled(
        &server,
        "api-1",
        "read x; echo 'ERROR 1'; echo 'ERROR 2'; sleep 2.5; echo 'ERROR 3'; echo ok; \
         echo 'ERROR 4'; echo 'ERROR 5'; echo 'ERROR 6'; sleep 60",
    );
    let rules = r#"
[[rule]]
name = "burst"
pane = "api-*"
pattern = 'ERROR (?P<n>\d+)'
count = 3
within = "2s"
actions = [ "log" ]
"#;
    let mut d = Daemon::start(&server, rules, &[]);
    enter(&server, &api);
    assert!(
        d.wait_until(Duration::from_secs(10), |e| !conditions(e, "burst").is_empty()),
        "{:#?}",
        d.events()
    );
    std::thread::sleep(Duration::from_millis(500));
    let fired = conditions(&d.events(), "burst");
    assert_eq!(fired.len(), 1, "{fired:#?}");
    let lines: Vec<&str> =
        fired[0]["parts"].as_array().unwrap().iter().map(|p| p["line"].as_str().unwrap()).collect();
    // ERROR 1 and 2 were too long before ERROR 3; 3, 4 and 5 make the burst.
    assert_eq!(lines, ["ERROR 3", "ERROR 4", "ERROR 5"]);
    assert_eq!(fired[0]["line"], "ERROR 5");
    assert_eq!(fired[0]["label"], "api-1");
}

#[test]
fn a_sequence_fires_in_order_on_one_pane_and_decoys_do_not() {
    let server = TmuxServer::new();
    let deploy = labelled(
        &server,
        "deploy",
        "read x; echo 'done (decoy)'; echo 'migrating db'; echo 'migration done'; sleep 60",
    );
    let other = labelled(&server, "deploy-2", "read x; echo 'migrating db'; sleep 60");
    let other_done = labelled(&server, "deploy-3", "read x; echo 'all done'; sleep 60");
    let rules = r#"
[[rule]]
name = "deployed"
pane = "deploy*"
sequence = ["migrating", "done"]
within = "30s"
actions = [ "log" ]
"#;
    let mut d = Daemon::start(&server, rules, &[]);
    // Another pane's `migrating` and a third's `done` are not one pane's sequence.
    enter(&server, &other);
    std::thread::sleep(Duration::from_millis(300));
    enter(&server, &other_done);
    std::thread::sleep(Duration::from_millis(300));
    enter(&server, &deploy);
    assert!(
        d.wait_until(Duration::from_secs(10), |e| !conditions(e, "deployed").is_empty()),
        "{:#?}",
        d.events()
    );
    std::thread::sleep(Duration::from_millis(500));
    let fired = conditions(&d.events(), "deployed");
    assert_eq!(fired.len(), 1, "{fired:#?}");
    assert_eq!(fired[0]["label"], "deploy");
    let parts: Vec<(&str, &str)> = fired[0]["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p["line"].as_str().unwrap()))
        .collect();
    assert_eq!(parts, [("migrating", "migrating db"), ("done", "migration done")]);
    assert!(
        d.of("match", "deployed").is_empty(),
        "a sequence's steps are parts, not matches of their own"
    );
}

#[test]
fn a_recording_replays_its_silence_on_its_own_clock() {
    let server = TmuxServer::new();
    let build = labelled(&server, "build", "read x; echo compiling; sleep 60");
    // By pane id, which the recording carries (labels it does not): the session's first
    // pane, read back at attach, must not be the one that goes quiet first.
    let rules = format!(
        "[[rule]]\nname = \"hang\"\npane = \"{build}\"\nsilence = \"1s\"\nactions = [\"log\"]\n"
    );
    let rec = server.path("session.rec");
    let mut d = Daemon::start(&server, &rules, &["--record", rec.to_str().unwrap()]);
    enter(&server, &build);
    assert!(
        d.wait_until(Duration::from_secs(10), |e| !conditions(e, "hang").is_empty()),
        "{:#?}",
        d.events()
    );
    // Something read after the silence ended puts a clock line past its deadline.
    server.tmux_ok(&["send-keys", "-t", &build, "x"]);
    std::thread::sleep(Duration::from_millis(300));
    d.stop();
    let recorded = std::fs::read_to_string(&rec).unwrap();
    assert!(recorded.contains("%ctmuxd-clock "), "{recorded}");
    let out = std::process::Command::new(crate::harness::bin())
        .args(["replay", "--rules"])
        .arg(server.path("rules.toml"))
        .arg(&rec)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let fired: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|f: &Value| f["rule"] == "hang")
        .collect();
    assert_eq!(fired.len(), 1, "{fired:?}\nrecorded:\n{recorded}");
    assert_eq!(fired[0]["condition"], "silence");
    assert_eq!(fired[0]["pane"], build);
    assert_eq!(fired[0]["parts"][0]["line"], "compiling");
}

#[test]
fn a_shell_quiet_at_its_prompt_is_found_once_per_wait_and_never_while_a_command_runs() {
    let server = TmuxServer::new();
    let dir = server.path("");
    let home = format!("HOME={}", dir.display());
    let pane = server.window_at_home(
        &[&home, "PS1=$ ", "HISTFILE=/dev/null"],
        &["bash", "--norc", "--noprofile"],
    );
    let rules = format!(
        "[[rule]]\nname = \"idle\"\npane = \"{pane}\"\nat_prompt_for = \"1s\"\nactions = [\"log\"]\n"
    );
    let mut d = Daemon::start(&server, &rules, &[]);
    let init = std::process::Command::new(crate::harness::bin())
        .args(["shell-init", "bash"])
        .output()
        .expect("shell-init");
    let init_file = server.path("init.bash");
    std::fs::write(&init_file, &init.stdout).unwrap();
    // Without integration the shell's prompt is unknown: nothing fires however long it waits.
    std::thread::sleep(Duration::from_millis(1500));
    assert!(conditions(&d.events(), "idle").is_empty());
    server.tmux_ok(&[
        "send-keys",
        "-t",
        &pane,
        &format!("source {}", init_file.display()),
        "Enter",
    ]);
    assert!(
        d.wait_until(Duration::from_secs(10), |e| !conditions(e, "idle").is_empty()),
        "{:#?}",
        d.events()
    );
    // A command that runs 2 s: quiet, but not at the prompt.
    server.tmux_ok(&["send-keys", "-t", &pane, "sleep 2", "Enter"]);
    assert!(
        d.wait_until(Duration::from_secs(10), |e| conditions(e, "idle").len() == 2),
        "{:#?}",
        d.events()
    );
    std::thread::sleep(Duration::from_millis(1500));
    let fired = conditions(&d.events(), "idle");
    assert_eq!(fired.len(), 2, "once per wait: {fired:#?}");
    assert_eq!(fired[1]["condition"], "at_prompt_for");
    assert_eq!(fired[1]["line"], "at the prompt for 1s");
    let gap = fired[1]["ts_ns"].as_u64().unwrap() - fired[0]["ts_ns"].as_u64().unwrap();
    assert!(gap >= 3_000_000_000, "the 2 s command and 1 s at the prompt: {gap} ns");
}

#[test]
fn an_exit_rule_is_a_part_like_any_other() {
    let server = TmuxServer::new();
    let job = labelled(&server, "job", "read x; echo 'job started'; exit 3");
    server.tmux_ok(&["set-option", "-p", "-t", &job, "remain-on-exit", "on"]);
    let rules = r#"
[[rule]]
name = "started"
pane = "job"
pattern = 'job started'
actions = ["log"]

[[rule]]
name = "failed"
on = "exit"
pane = "job"
status = "nonzero"
actions = ["log"]

[[rule]]
name = "started-then-failed"
all = ["started", "failed"]
within = "10s"
actions = ["log"]
"#;
    let mut d = Daemon::start(&server, rules, &[]);
    enter(&server, &job);
    assert!(
        d.wait_until(Duration::from_secs(10), |e| !conditions(e, "started-then-failed").is_empty()),
        "{:#?}",
        d.events()
    );
    let c = &conditions(&d.events(), "started-then-failed")[0];
    assert_eq!(part_names(c), ["started", "failed"]);
    assert_eq!(c["parts"][1]["line"], "exited with status 3");
    assert_eq!(c["label"], "job");
}
