//! `ctmuxd demo`: the real binary runs each scenario in fast mode on a tmux server of the
//! test's own (`-L <unique>`, killed on drop), and the event log it writes is checked:
//! the pipeline's spawn/close sequence and pane ceiling, the services' start order and
//! start delays, and the held dependants of a failing database.

use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{bin, read_events};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// The longest a fast demo may take, setup included (the pipeline needs about 6 s).
const DEMO_TIMEOUT: Duration = Duration::from_secs(60);

/// A tmux socket name and scratch directory for one demo run; the server the demo
/// leaves running is killed on drop.
struct DemoServer {
    name: String,
    dir: tempfile::TempDir,
    _turn: crate::harness::Turn,
}

impl DemoServer {
    fn new() -> DemoServer {
        let name = format!(
            "ctmuxd-it-demo-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        DemoServer {
            name,
            dir: tempfile::tempdir().expect("tempdir"),
            _turn: crate::harness::shared_turn(),
        }
    }

    /// Runs `ctmuxd demo <args> -L <name> --events <dir>/events` to its end.
    fn demo(&self, args: &[&str]) -> Output {
        let mut child = Command::new(bin())
            .arg("demo")
            .args(args)
            .arg("-L")
            .arg(&self.name)
            .arg("--events")
            .arg(self.events_dir())
            .env_remove("TMUX")
            // The demo writes its scripts under the temporary directory: the test's own,
            // removed with it.
            .env("TMPDIR", self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ctmuxd demo");
        let end = Instant::now() + DEMO_TIMEOUT;
        while child.try_wait().expect("wait").is_none() {
            if Instant::now() > end {
                let _ = child.kill();
                let out = child.wait_with_output().expect("output");
                panic!(
                    "ctmuxd demo {args:?} did not finish; stdout:\n{}",
                    String::from_utf8_lossy(&out.stdout)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        child.wait_with_output().expect("output")
    }

    fn events_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("events")
    }

    fn events(&self) -> Vec<Value> {
        read_events(&self.events_dir().join("events.jsonl"))
    }

    /// `tmux -L <name> args...` stdout, or `None` when it fails.
    fn tmux(&self, args: &[&str]) -> Option<String> {
        let out = Command::new(crate::harness::tmux_bin())
            .arg("-L")
            .arg(&self.name)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

impl Drop for DemoServer {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
        crate::harness::remove_sockets(&self.name);
    }
}

/// `pane` records with this `action`, as `(label, record)` in log order.
fn pane_records<'a>(events: &'a [Value], action: &str) -> Vec<(&'a str, &'a Value)> {
    events
        .iter()
        .filter(|e| e["event"] == "pane" && e["action"] == action)
        .map(|e| (e["label"].as_str().unwrap_or_default(), e))
        .collect()
}

fn ts(rec: &Value) -> u64 {
    rec["ts_ns"].as_u64().expect("ts_ns")
}

fn text(out: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn pipeline_fast_opens_and_closes_each_stage_in_order_never_above_five_panes() {
    let server = DemoServer::new();
    let out = server.demo(&["pipeline", "--fast"]);
    assert!(out.status.success(), "{}", text(&out));
    let events = server.events();

    let changes: Vec<String> = events
        .iter()
        .filter(|e| e["event"] == "pane" && (e["action"] == "spawned" || e["action"] == "closed"))
        .map(|e| {
            format!(
                "{}{}",
                if e["action"] == "spawned" { '+' } else { '-' },
                e["label"].as_str().unwrap_or("?")
            )
        })
        .collect();
    assert_eq!(changes, ctmuxd::demo::PIPELINE_CHANGES, "{}", text(&out));
    let alive: Vec<u64> = events.iter().filter_map(|e| e["panes_alive"].as_u64()).collect();
    assert_eq!(alive.iter().max(), Some(&5), "peak is 3 permanent + 2 stage panes: {alive:?}");

    // Each trigger was detected once, after it was printed, and well under a second later.
    let matches: Vec<&Value> =
        events.iter().filter(|e| e["event"] == "match" && e["captures"]["t"].is_string()).collect();
    let rules: Vec<&str> = matches.iter().map(|m| m["rule"].as_str().unwrap_or_default()).collect();
    assert_eq!(rules, ["start-analysis", "start-build", "start-security", "start-deploy"]);
    for m in &matches {
        let printed: u64 = m["captures"]["t"].as_str().unwrap().parse().unwrap();
        let latency =
            ts(m).checked_sub(printed).unwrap_or_else(|| panic!("matched before printed: {m}"));
        assert!(latency < 1_000_000_000, "detection took {latency} ns: {m}");
    }
    assert!(events.iter().any(|e| e["event"] == "emit" && e["name"] == "pipeline-done"));

    // The summary and the way back in are printed; the session stays with its panes.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("peak panes alive: 5"), "{stdout}");
    assert!(stdout.contains(&format!("tmux -L {} attach -t pipeline", server.name)), "{stdout}");
    let labels = server
        .tmux(&["list-panes", "-s", "-t", "pipeline", "-F", "#{@ctmuxd_label}"])
        .expect("session stays");
    let mut labels: Vec<&str> = labels.lines().collect();
    labels.sort_unstable();
    assert_eq!(
        labels,
        ["deployer", "logger", "monitor", "orchestrator"],
        "the initial shell window is gone too"
    );
}

#[test]
fn services_start_in_dependency_order_each_promptly_after_the_ready_line() {
    let server = DemoServer::new();
    let out = server.demo(&["services", "--fast"]);
    assert!(out.status.success(), "{}", text(&out));
    let events = server.events();
    let spawned = pane_records(&events, "spawned");
    let ready = pane_records(&events, "ready");
    let order: Vec<&str> = spawned.iter().map(|(l, _)| *l).collect();
    assert_eq!(order, ["db", "api", "frontend"], "{}", text(&out));
    let when = |recs: &[(&str, &Value)], label: &str| {
        ts(recs
            .iter()
            .find(|(l, _)| *l == label)
            .unwrap_or_else(|| panic!("no record for {label}"))
            .1)
    };
    for (dependant, dependency) in [("api", "db"), ("frontend", "api")] {
        let (start, dep_ready) = (when(&spawned, dependant), when(&ready, dependency));
        assert!(start >= dep_ready, "{dependant} started before {dependency} was ready");
        // Promptly: driven by the ready line itself, not a poll tick. The start takes one
        // tmux round trip (about 5 ms on an idle machine); the bound leaves room for a
        // loaded CI machine. How fast is measured by the benches, not here.
        let delay_ms = (start - dep_ready) as f64 / 1e6;
        assert!(
            delay_ms < 500.0,
            "{dependant} started {delay_ms:.1} ms after {dependency}'s ready line"
        );
    }
    assert_eq!(ready.len(), 3, "all three ready: {ready:?}");
    assert!(events.iter().all(|e| e["action"] != "held" && e["action"] != "failed"), "{events:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("after db was ready") && stdout.contains("after api was ready"),
        "{stdout}"
    );
}

#[test]
fn services_with_a_failing_db_hold_api_and_frontend_with_the_reason() {
    let server = DemoServer::new();
    let out = server.demo(&["services", "--fast", "--fail", "db"]);
    assert!(out.status.success(), "a held chain is the scenario's end: {}", text(&out));
    let events = server.events();
    assert_eq!(pane_records(&events, "failed").iter().map(|(l, _)| *l).collect::<Vec<_>>(), ["db"]);
    let held = pane_records(&events, "held");
    let api = held
        .iter()
        .find(|(l, _)| *l == "api")
        .unwrap_or_else(|| panic!("api not held: {events:?}"))
        .1;
    assert!(
        api["message"].as_str().unwrap_or_default().contains("db"),
        "the reason names db: {api}"
    );
    assert!(held.iter().any(|(l, _)| *l == "frontend"), "frontend not held: {events:?}");
    let started: Vec<&str> = pane_records(&events, "spawned").iter().map(|(l, _)| *l).collect();
    assert_eq!(started, ["db"], "dependants never start");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("HELD") && stdout.contains("FAILED"), "{stdout}");
}

#[test]
fn fail_naming_no_service_is_refused_with_status_2() {
    let server = DemoServer::new();
    let out = server.demo(&["services", "--fast", "--fail", "cache"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--fail cache: no such service"),
        "{}",
        text(&out)
    );
    assert!(server.tmux(&["list-sessions"]).is_none(), "nothing was started");
}

/// `condition` records of rule `rule`.
fn conditions<'a>(events: &'a [Value], rule: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["event"] == "condition" && e["rule"] == rule).collect()
}

#[test]
fn debug_opens_each_step_on_the_last_ones_line_and_closes_the_chain_when_tests_pass() {
    let server = DemoServer::new();
    let out = server.demo(&["debug", "--fast"]);
    assert!(out.status.success(), "{}", text(&out));
    let events = server.events();
    let spawned: Vec<&str> = pane_records(&events, "spawned").iter().map(|(l, _)| *l).collect();
    assert_eq!(spawned, ["server", "debugger", "fix", "tests"], "{}", text(&out));
    // Each step opened on the line of the one before.
    let matched: Vec<&str> = events
        .iter()
        .filter(|e| e["event"] == "match")
        .map(|e| e["rule"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(matched, ["invalid-token", "root-cause", "fix-done", "tests-passed"]);
    let closed = conditions(&events, "chain-closed");
    assert_eq!(closed.len(), 1, "{}", text(&out));
    assert!(closed[0]["timed_out"].is_null());
    let parts: Vec<(&str, &str)> = closed[0]["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p["label"].as_str().unwrap()))
        .collect();
    assert_eq!(parts, [("fix-done", "fix"), ("tests-passed", "tests")]);
    // The chain's panes went; the server and the test run stay.
    let closed: Vec<&str> = pane_records(&events, "closed").iter().map(|(l, _)| *l).collect();
    assert_eq!(closed, ["debugger", "fix"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("closed by chain-closed: all fired: fix-done (%"),
        "the summary says what closed it\n{stdout}"
    );
    assert!(stdout.contains("conditions:\n"), "the timeline lists the firing\n{stdout}");
}

#[test]
fn debug_with_failing_tests_reports_the_missing_pass_at_the_deadline() {
    let server = DemoServer::new();
    let out = server.demo(&["debug", "--fast", "--fail", "tests"]);
    assert!(out.status.success(), "{}", text(&out));
    let events = server.events();
    let timeout = conditions(&events, "chain-closed");
    assert_eq!(timeout.len(), 1, "{}", text(&out));
    assert_eq!(timeout[0]["timed_out"], true);
    assert_eq!(timeout[0]["missing"], serde_json::json!(["tests-passed"]));
    // 8 s after the fix was done, not before.
    let fix_done = events.iter().find(|e| e["event"] == "match" && e["rule"] == "fix-done");
    let waited = ts(timeout[0]) - ts(fix_done.expect("fix-done matched"));
    assert!((8_000_000_000..9_000_000_000).contains(&waited), "timed out after {waited} ns");
    let spawned: Vec<&str> = pane_records(&events, "spawned").iter().map(|(l, _)| *l).collect();
    assert_eq!(spawned.last(), Some(&"report"));
    assert!(pane_records(&events, "closed").is_empty(), "the chain stays open for a look");
    let report_pane = pane_records(&events, "spawned").last().and_then(|(_, e)| e["pane"].as_str());
    // -J: the report pane is narrow, its line wraps.
    let report = server
        .tmux(&["capture-pane", "-p", "-J", "-t", report_pane.expect("report pane id")])
        .unwrap_or_default();
    assert!(report.contains("debug chain not closed: missing tests-passed"), "{report}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("NOT CLOSED"), "{}", text(&out));
}

#[test]
fn debug_fails_tests_only() {
    let server = DemoServer::new();
    let out = server.demo(&["debug", "--fast", "--fail", "server"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("the debug demo can fail `tests` only"),
        "{}",
        text(&out)
    );
}

#[test]
fn pipeline_with_a_failing_stage_reports_it_and_starts_no_later_stage() {
    let server = DemoServer::new();
    let out = server.demo(&["pipeline", "--fast", "--fail", "compiler"]);
    assert!(out.status.success(), "{}", text(&out));
    let events = server.events();
    let failed = conditions(&events, "pipeline-failed");
    assert_eq!(failed.len(), 1, "one failure, one report: {}", text(&out));
    assert_eq!(failed[0]["label"], "compiler", "the firing is the failing stage's");
    assert_eq!(failed[0]["parts"][0]["name"], "stage-said-failed");
    let starts: Vec<&str> = events
        .iter()
        .filter(|e| e["event"] == "match" && e["captures"]["t"].is_string())
        .map(|e| e["rule"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(starts, ["start-analysis", "start-build"], "security and deploy never started");
    let closed: Vec<&str> = pane_records(&events, "closed").iter().map(|(l, _)| *l).collect();
    assert!(closed.contains(&"orchestrator"), "{closed:?}");
    let spawned = pane_records(&events, "spawned");
    let (label, report) = spawned.last().expect("spawned");
    assert_eq!(*label, "report");
    let pane = report["pane"].as_str().expect("report pane id");
    let shown = server.tmux(&["capture-pane", "-p", "-J", "-t", pane]).unwrap_or_default();
    assert!(
        shown.contains("pipeline stopped: stage compiler failed: compiler: FAILED: error[E0308]"),
        "{shown}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("FAILED: stage compiler (compiler: FAILED:"), "{stdout}");
}
