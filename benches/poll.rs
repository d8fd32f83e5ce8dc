//! Detection latency of polling (`ctmuxd --poll --interval 500ms`) against control mode,
//! on the same workload and a real tmux: 4 panes, each printing 5 triggers a second that
//! carry the time they were printed (`date +%s%N` in the pane), for ~10 s. Latency is
//! print → match record (`ts_ns`). Control mode runs the real binary; polling runs
//! `ctmuxd::poll::run` in this process (the same code `--poll` runs). Prints a table.
//!
//! `cargo bench --bench poll` (set `CTMUXD_BENCH_SECS` to change the run length).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ctmuxd::poll::{self, PollOptions};
use ctmuxd::tmux::TmuxTarget;

mod common;
use common::{events, pct, tmux_version, Server};

const RULES: &str =
    "[[rule]]\nname = \"t\"\npattern = 'TRIGGER (?P<ts>\\d+) (?P<p>\\d)'\nactions = [\"log\"]\n";

fn wait_ready(log: &Path) {
    let end = Instant::now() + Duration::from_secs(10);
    while !events(log).iter().any(|e| e["event"] == "daemon") {
        assert!(Instant::now() < end, "not ready");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// print → detection latencies (ms), sorted, and how many triggers fired twice.
fn latencies(log: &Path) -> (Vec<f64>, usize) {
    let mut seen = std::collections::HashSet::new();
    let mut twice = 0;
    let mut v: Vec<f64> = Vec::new();
    for e in events(log).iter().filter(|e| e["event"] == "match") {
        let printed = e["captures"]["ts"].as_str().and_then(|s| s.parse::<f64>().ok());
        if let (Some(p), Some(ts)) = (printed, e["ts_ns"].as_f64()) {
            if !seen.insert((e["pane"].to_string(), e["line"].to_string())) {
                twice += 1;
            }
            v.push((ts - p) / 1e6);
        }
    }
    v.sort_by(f64::total_cmp);
    (v, twice)
}

/// CPU ticks (utime + stime, and those of reaped children) of a process.
fn ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    (11..=14).filter_map(|i| f.get(i).and_then(|v| v.parse::<u64>().ok())).sum()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` probes with --list
    }
    let secs: u64 =
        std::env::var("CTMUXD_BENCH_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(10);
    let tmp = tempfile::tempdir().unwrap();
    let rules_path = tmp.path().join("rules.toml");
    std::fs::write(&rules_path, RULES).unwrap();

    // Control mode: the real binary.
    let server = Server::new("ctl");
    let dir = tmp.path().join("ctl");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ctmuxd"))
        .args(["--control-mode", "-L", &server.name, "--rules"])
        .arg(&rules_path)
        .arg("--events")
        .arg(&dir)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .spawn()
        .expect("ctmuxd");
    wait_ready(&dir.join("events.jsonl"));
    let t0 = ticks(child.id());
    server.trigger_workload(secs, 1000);
    let control_ticks = ticks(child.id()) - t0;
    let _ = child.kill();
    let _ = child.wait();
    let (control, control_twice) = latencies(&dir.join("events.jsonl"));
    drop(server);

    // Polling every 500 ms: poll::run in this process.
    let server = Server::new("poll");
    let dir = tmp.path().join("poll");
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let opts = PollOptions {
        target: TmuxTarget::Name(server.name.clone()),
        session: None,
        rules: ctmuxd::rules::load(&rules_path).unwrap(),
        events_dir: dir.clone(),
        interval: Duration::from_millis(500),
        shutdown_grace: Duration::from_secs(1),
    };
    let task = rt.spawn(poll::run(opts, async {
        let _ = rx.await;
    }));
    wait_ready(&dir.join("events.jsonl"));
    let t0 = ticks(std::process::id());
    server.trigger_workload(secs, 1000);
    let poll_ticks = ticks(std::process::id()) - t0;
    let _ = tx.send(());
    let _ = rt.block_on(task);
    let (polled, poll_twice) = latencies(&dir.join("events.jsonl"));

    let expected = 4 * 5 * secs;
    println!("detection latency, 4 panes × 5 lines/s, {secs} s ({})", tmux_version());
    println!("| mode | triggers (≈{expected} printed) | fired twice | p50 ms | p99 ms | max ms | CPU ticks |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for (name, v, twice, t) in [
        ("control mode", &control, control_twice, control_ticks),
        ("--poll --interval 500ms", &polled, poll_twice, poll_ticks),
    ] {
        println!(
            "| {name} | {} | {twice} | {:.2} | {:.2} | {:.2} | {t} |",
            v.len(),
            pct(v, 0.5),
            pct(v, 0.99),
            pct(v, 1.0)
        );
    }
    println!("CPU ticks: ctmuxd's user+system time during the run (polling: with its tmux children), 1 tick = 10 ms");
}
