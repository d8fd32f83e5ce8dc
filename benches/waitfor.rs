//! `ctmuxd wait-for` latency against a real tmux and daemon, beside the shell-loop way of
//! waiting (`tmux capture-pane` every 100 ms). Not criterion: each sample is a real process
//! round trip. Prints a table.
//!
//! A pane runs `while read x; do sleep 0.05; echo "pong-$x $(date +%s%N)"; done`. Each
//! sample starts a waiter for `^pong-<i> `, types `<i>` into the pane, and measures from
//! the stamp the pane printed to the moment the waiter returned. The 50 ms pause lets the
//! `wait-for` process start and register first; `--since 1` keeps a sample honest (and
//! slower) if it did not.
//!
//! `cargo bench --bench waitfor` (`CTMUXD_BENCH_N` samples for wait-for, default 1000;
//! `CTMUXD_BENCH_POLL_N` for the polling baseline, default 200).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

mod common;
use common::Server;

fn now_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

/// The stamp in a `pong-<i> <ns>` line.
fn stamp(text: &str, i: usize) -> Option<u64> {
    let prefix = format!("pong-{i} ");
    text.lines().find_map(|l| l.trim_end().strip_prefix(&prefix)?.parse().ok())
}

fn env_n(var: &str, default: usize) -> usize {
    std::env::var(var).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Median, p99 and max of `ms`, in that order.
fn summary(ms: &mut [f64]) -> (f64, f64, f64) {
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((ms.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.99), ms[ms.len() - 1])
}

fn main() {
    let server = Server::new("waitfor");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut daemon = server.quiet_daemon(dir.path());
    let script = "while read x; do sleep 0.05; echo \"pong-$x $(date +%s%N)\"; done";
    let out = server.ctmuxd(&["spawn", "--label", "poked", "--shell", "--json", "--", script]);
    assert!(out.status.success(), "spawn: {}", String::from_utf8_lossy(&out.stderr));
    let pane: serde_json::Value = serde_json::from_slice(&out.stdout).expect("spawn --json");
    let pane = pane["id"].as_str().expect("pane id").to_string();
    let poke = |i: usize| {
        server.tmux(&[
            "send-keys",
            "-t",
            &pane,
            "-l",
            &i.to_string(),
            ";",
            "send-keys",
            "-t",
            &pane,
            "Enter",
        ])
    };

    let n = env_n("CTMUXD_BENCH_N", 1000);
    let mut waitfor = Vec::with_capacity(n);
    for i in 0..n {
        let pattern = format!("^pong-{i} ");
        let child = Command::new(env!("CARGO_BIN_EXE_ctmuxd"))
            .args([
                "wait-for",
                "-L",
                &server.name,
                "poked",
                "--pattern",
                &pattern,
                "--since",
                "1",
                "--timeout",
                "10s",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn wait-for");
        poke(i);
        let out = child.wait_with_output().expect("wait-for");
        let returned = now_ns();
        assert!(out.status.success(), "wait-for {i}: {}", String::from_utf8_lossy(&out.stderr));
        let printed = stamp(&String::from_utf8_lossy(&out.stdout), i).expect("the pong line");
        waitfor.push(returned.saturating_sub(printed) as f64 / 1e6);
    }

    let poll_n = env_n("CTMUXD_BENCH_POLL_N", 200);
    let mut polled = Vec::with_capacity(poll_n);
    for i in n..n + poll_n {
        poke(i);
        let deadline = Instant::now() + Duration::from_secs(10);
        let printed = loop {
            let screen = server.tmux(&["capture-pane", "-p", "-t", &pane]);
            if let Some(s) = stamp(&screen, i) {
                break s;
            }
            assert!(Instant::now() < deadline, "pong-{i} never appeared");
            std::thread::sleep(Duration::from_millis(100));
        };
        polled.push(now_ns().saturating_sub(printed) as f64 / 1e6);
    }

    let _ = daemon.kill();
    let _ = daemon.wait();
    println!("wait-for latency: from the line's print to the waiter's return (ms)");
    println!("{:<34} {:>6} {:>9} {:>9} {:>9}", "method", "n", "median", "p99", "max");
    for (name, samples) in [
        ("ctmuxd wait-for (process)", &mut waitfor),
        ("tmux capture-pane poll, 100 ms", &mut polled),
    ] {
        if samples.is_empty() {
            continue;
        }
        let (med, p99, max) = summary(samples);
        println!("{name:<34} {:>6} {med:>9.2} {p99:>9.2} {max:>9.2}", samples.len());
    }
}
