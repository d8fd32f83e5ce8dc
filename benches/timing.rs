//! Time conditions at scale (issue 18), against a real tmux: 1,000 armed conditions
//! (10 `silence` rules × 100 panes). Not criterion: each scenario is a timed run of real
//! processes. Prints a table.
//!
//! 1. idle: the 1,000 conditions armed for an hour; ctmuxd's CPU ticks and context
//!    switches over 10 s (measured as `benches/daemon.rs` measures quiet: target zero of
//!    both), beside the same daemon and panes with one plain rule and no condition.
//! 2. deadline: the 1,000 conditions due between 2 s and 2.9 s after each pane's output
//!    (10 deadlines, 100 panes each); each firing's lateness, from its `condition` record
//!    (fired at − the pane's last output − the silence), beside the baseline under the same
//!    load at the same time: 100 threads each sleeping to 10 deadlines spread the same way
//!    (`std::thread::sleep`, the OS timer alone).
//!
//! `cargo bench --bench timing`

use std::process::Child;
use std::time::{Duration, Instant};

mod common;
use common::{events, idle_cost, pct, tmux_version, Server};

const PANES: usize = 100;
const RULES: usize = 10;

/// 100 panes, each printing one line once it is given an Enter (after the daemon
/// watches), then nothing for an hour.
fn panes(server: &Server) -> Vec<String> {
    (0..PANES)
        .map(|_| {
            server
                .tmux(&[
                    "new-window",
                    "-d",
                    "-t",
                    "bench",
                    "-P",
                    "-F",
                    "#{pane_id}",
                    "sh",
                    "-c",
                    "read x; echo armed; sleep 3600",
                ])
                .trim()
                .to_string()
        })
        .collect()
}

fn arm(server: &Server, panes: &[String]) {
    for p in panes {
        server.tmux(&["send-keys", "-t", p, "Enter"]);
    }
}

/// ctmuxd's CPU ticks and context switches over 10 s of quiet, after 1 s to settle.
fn idle(child: &Child) -> (u64, u64) {
    std::thread::sleep(Duration::from_secs(1));
    idle_cost(child.id(), Duration::from_secs(10))
}

/// Stops the daemon through its socket (so its runtime dir goes with it), then waits.
fn stop(server: &Server, mut child: Child) {
    if !server.ctmuxd(&["stop"]).status.success() {
        let _ = child.kill();
    }
    let _ = child.wait();
}

fn silence_rules(durations_ms: impl Iterator<Item = u64>) -> String {
    durations_ms
        .map(|ms| {
            format!(
                "[[rule]]\nname = \"quiet-{ms}\"\nsilence = \"{ms}ms\"\nactions = [\"log\"]\n\n"
            )
        })
        .collect()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` probes with --list
    }
    let tmp = tempfile::tempdir().unwrap();

    // 1. idle, with 1,000 conditions armed for an hour, then the baseline.
    let server = Server::new("timing-idle");
    let ids = panes(&server);
    let armed = server.daemon_with(
        &tmp.path().join("armed"),
        &silence_rules((0..RULES as u64).map(|i| 3_600_000 + i)),
    );
    arm(&server, &ids);
    let (armed_ticks, armed_switches) = idle(&armed);
    let armed_fired = events(&tmp.path().join("armed/events/events.jsonl"))
        .iter()
        .filter(|e| e["event"] == "condition")
        .count();
    stop(&server, armed);
    let plain = server.daemon_with(
        &tmp.path().join("plain"),
        "[[rule]]\nname = \"plain\"\npattern = '^NEVER-PRINTED-9f3c$'\nactions = [\"log\"]\n",
    );
    // The panes printed already: the baseline sees the same quiet panes.
    let (plain_ticks, plain_switches) = idle(&plain);
    stop(&server, plain);
    drop(server);

    // 2. deadlines: 1,000 conditions due 2 s to 2.9 s after each pane's output; beside
    // it, under the same load, the baseline: 100 threads each sleeping to 10 deadlines
    // spread the same way (`std::thread::sleep`, the OS timer alone).
    let server = Server::new("timing-due");
    let ids = panes(&server);
    let dir = tmp.path().join("due");
    let d = server.daemon_with(&dir, &silence_rules((0..RULES as u64).map(|i| 2000 + 100 * i)));
    let start = Instant::now();
    let threads: Vec<_> = (0..PANES)
        .map(|p| {
            std::thread::spawn(move || {
                let mut late = Vec::new();
                for r in 0..RULES as u64 {
                    let due = start + Duration::from_millis(2000 + 100 * r + 10 * p as u64);
                    std::thread::sleep(due.saturating_duration_since(Instant::now()));
                    late.push(Instant::now().saturating_duration_since(due).as_secs_f64() * 1e3);
                }
                late
            })
        })
        .collect();
    arm(&server, &ids);
    let log = dir.join("events/events.jsonl");
    let end = Instant::now() + Duration::from_secs(20);
    let expected = RULES * PANES;
    let ours = |e: &serde_json::Value| {
        e["event"] == "condition" && ids.iter().any(|id| e["pane"] == id.as_str())
    };
    while events(&log).iter().filter(|e| ours(e)).count() < expected && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut late: Vec<f64> = events(&log)
        .iter()
        .filter(|e| ours(e))
        .filter_map(|e| {
            let ms: f64 = e["rule"].as_str()?.strip_prefix("quiet-")?.parse().ok()?;
            let fired = e["ts_ns"].as_f64()?;
            let since = e["parts"][0]["ts_ns"].as_f64()?;
            Some((fired - since) / 1e6 - ms)
        })
        .collect();
    late.sort_by(f64::total_cmp);
    stop(&server, d);
    drop(server);
    let mut os: Vec<f64> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
    os.sort_by(f64::total_cmp);

    println!(
        "ctmuxd time conditions (real tmux {}), {PANES} panes × {RULES} silence rules",
        tmux_version()
    );
    println!("| scenario | figure | value |");
    println!("| --- | --- | --- |");
    println!(
        "| idle 10 s, {} conditions armed (1 h) | CPU ticks / context switches | {armed_ticks} / {armed_switches} (fired: {armed_fired}) |",
        RULES * PANES
    );
    println!("| | baseline: one plain rule, no condition | {plain_ticks} / {plain_switches} |");
    println!(
        "| {} conditions due 2–2.9 s after output | fired | {} of {expected} |",
        RULES * PANES,
        late.len()
    );
    println!(
        "| | fired after its deadline p50 / p99 / max (ms) | {:.2} / {:.2} / {:.2} |",
        pct(&late, 0.5),
        pct(&late, 0.99),
        pct(&late, 1.0)
    );
    println!(
        "| | baseline, same run: {PANES} threads × {RULES} `thread::sleep`s, late p50 / p99 / max (ms) | {:.2} / {:.2} / {:.2} |",
        pct(&os, 0.5),
        pct(&os, 0.99),
        pct(&os, 1.0)
    );
}
