//! End-to-end figures for the running daemon against a real tmux (not criterion: each
//! scenario is a timed run of real processes). Prints a table.
//!
//! 1. latency: 4 panes × 5 lines/s, each line a trigger carrying the time it was printed
//!    (`date +%s%N` in the pane); reports print→detection and print→exec-start
//!    percentiles from the event log, beside the baseline: a minimal control-mode reader
//!    (one thread, blocking reads) attached to the same session at the same time, which
//!    sees the same lines through the same tmux.
//! 2. no loss: 4 panes × 200 lines/s of numbered triggers; every (pane, n) must fire
//!    exactly once.
//! 3. quiet: once the panes stop printing, ctmuxd's CPU time and context switches over
//!    a quiet period (target: zero of both).
//!
//! `cargo bench --bench daemon` (set `CTMUXD_BENCH_SECS` to change the run length).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;
use common::{events, idle_cost, pct, printed_within, tmux_version, RawReader, Server};

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` probes with --list
    }
    let secs: u64 =
        std::env::var("CTMUXD_BENCH_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(20);
    let tmp = tempfile::tempdir().unwrap();

    // 1. latency
    let server = Server::new("lat");
    let dir = tmp.path().join("lat");
    std::fs::create_dir_all(&dir).unwrap();
    let mut d = server.daemon_with(
        &dir,
        "[[rule]]\nname = \"t\"\npattern = 'TRIGGER (?P<ts>\\d+) (?P<p>\\d)'\nactions = [ { exec = [\"true\"] } ]\n",
    );
    let raw = RawReader::attach(&server, b"TRIGGER ");
    server.trigger_workload(secs, 500);
    let raw = printed_within(&raw.finish(), 0, u64::MAX);
    let evs = events(&dir.join("events/events.jsonl"));
    let printed = |e: &Value| -> Option<f64> { e["captures"]["ts"].as_str()?.parse::<f64>().ok() };
    let mut detect: Vec<f64> = Vec::new();
    let mut printed_by_line: HashMap<String, f64> = HashMap::new();
    for e in evs.iter().filter(|e| e["event"] == "match") {
        if let (Some(p), Some(ts)) = (printed(e), e["ts_ns"].as_f64()) {
            detect.push((ts - p) / 1e6);
            printed_by_line.insert(format!("{}{}", e["pane"], e["line"]), p);
        }
    }
    let mut start: Vec<f64> = Vec::new();
    for e in evs.iter().filter(|e| e["event"] == "action") {
        let key = format!("{}{}", e["pane"], e["line"]);
        if let (Some(p), Some(s)) = (printed_by_line.get(&key), e["start_ns"].as_f64()) {
            start.push((s - p) / 1e6);
        }
    }
    detect.sort_by(f64::total_cmp);
    start.sort_by(f64::total_cmp);

    // 3. quiet (same daemon, panes gone)
    std::thread::sleep(Duration::from_secs(1));
    let (quiet_ticks, quiet_switches) = idle_cost(d.id(), Duration::from_secs(10));
    let _ = d.kill();
    let _ = d.wait();
    drop(server);

    // 2. no loss at 4 × 200 lines/s
    let server = Server::new("rate");
    let dir = tmp.path().join("rate");
    std::fs::create_dir_all(&dir).unwrap();
    let mut d = server.daemon_with(
        &dir,
        "[[rule]]\nname = \"n\"\npattern = '^SEQ (?P<p>\\d) (?P<n>\\d+)$'\nactions = [\"log\"]\n",
    );
    let per_pane = 200 * secs.min(10);
    for p in 0..4 {
        // 200 lines/s: a batch of 10 lines every 50 ms.
        let script = format!(
            "i=0; while [ $i -lt {per_pane} ]; do for k in 0 1 2 3 4 5 6 7 8 9; do echo \"SEQ {p} $i\"; i=$((i+1)); done; sleep 0.05; done; sleep 60"
        );
        server.tmux(&["new-window", "-d", "-t", "bench", "sh", "-c", &script]);
    }
    let log = dir.join("events/events.jsonl");
    let expected = 4 * per_pane as usize;
    let end = Instant::now() + Duration::from_secs(secs.min(10) * 4 + 10);
    while events(&log).iter().filter(|e| e["event"] == "match").count() < expected
        && Instant::now() < end
    {
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(500));
    let mut seen: HashMap<(String, String), usize> = HashMap::new();
    for e in events(&log).iter().filter(|e| e["event"] == "match") {
        let k = (
            e["captures"]["p"].as_str().unwrap_or("").to_string(),
            e["captures"]["n"].as_str().unwrap_or("").to_string(),
        );
        *seen.entry(k).or_default() += 1;
    }
    let missed = (0..4)
        .flat_map(|p| (0..per_pane).map(move |n| (p.to_string(), n.to_string())))
        .filter(|k| !seen.contains_key(k))
        .count();
    let twice = seen.values().filter(|&&c| c > 1).count();
    let _ = d.kill();
    let _ = d.wait();

    println!("ctmuxd end-to-end (real tmux {}), run {secs}s", tmux_version());
    println!("| scenario | figure | value |");
    println!("| --- | --- | --- |");
    println!("| 4 panes × 5 lines/s | triggers | {} |", detect.len());
    println!(
        "| | print → detection p50 / p99 / max (ms) | {:.2} / {:.2} / {:.2} |",
        pct(&detect, 0.5),
        pct(&detect, 0.99),
        pct(&detect, 1.0)
    );
    println!("| | print → detection p99 / p50 | {:.1}× |", pct(&detect, 0.99) / pct(&detect, 0.5));
    println!(
        "| | baseline: a minimal reader (one thread, blocking reads) print → read p50 / p99 / max (ms), {} lines | {:.2} / {:.2} / {:.2} |",
        raw.len(),
        pct(&raw, 0.5),
        pct(&raw, 0.99),
        pct(&raw, 1.0)
    );
    println!(
        "| | print → exec start p50 / p99 / max (ms) | {:.2} / {:.2} / {:.2} |",
        pct(&start, 0.5),
        pct(&start, 0.99),
        pct(&start, 1.0)
    );
    println!("| 4 panes × 200 lines/s | triggers expected / missed / fired twice | {expected} / {missed} / {twice} |");
    println!("| quiet 10 s | CPU ticks / context switches | {quiet_ticks} / {quiet_switches} |");
}
