//! One daemon over several tmux servers, here and over SSH (issue 17), against real tmux
//! and a real OpenSSH server on 127.0.0.1 (the bench's own `sshd`, as the integration
//! tests start it). Prints a table.
//!
//! 1. latency: one daemon watching two servers, one on its local socket and one reached
//!    over loopback SSH, each with 4 panes × 5 lines/s of triggers carrying the time they
//!    were printed; print→match percentiles per server from the event log, beside the
//!    baseline: a minimal control-mode reader (one thread, blocking reads) on the local
//!    server's socket, seeing the same lines at the same time.
//! 2. no loss: one daemon over 8 servers (4 local, 4 over SSH) × 4 panes × 50 lines/s of
//!    numbered lines; every (server, pane, n) must match exactly once.
//! 3. idle cost: the daemon's RSS watching 1 and then 8 quiet local servers (one shell
//!    each), and its CPU ticks and context switches over 10 s of quiet with 8.
//!
//! `cargo bench --bench servers` (`CTMUXD_BENCH_SECS` sets the run length, default 10 s).
//! Needs `/usr/sbin/sshd` (Debian's openssh-server).

use std::collections::HashMap;
use std::time::{Duration, Instant};

mod common;
use common::{events, idle_cost, now_ns, pct, printed_within, tmux_version, RawReader, Server};

#[path = "../tests/it/sshd.rs"]
mod sshd;

/// A `[[server]]` entry for `server`'s local socket.
fn local_entry(name: &str, server: &Server) -> String {
    format!("[[server]]\nname = {name:?}\nsocket_name = {:?}\n", server.name)
}

/// Opens 4 windows in `server`'s session `bench` running `script(p)` for pane p.
fn panes(server: &Server, script: impl Fn(usize) -> String) {
    for p in 0..4 {
        server.tmux(&["new-window", "-d", "-t", "bench", "sh", "-c", &script(p)]);
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` probes with --list
    }
    let secs: u64 =
        std::env::var("CTMUXD_BENCH_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(10);
    let tmp = tempfile::tempdir().unwrap();
    let ssh = sshd::Sshd::start();

    // 1. latency: a local server and one over SSH, in one daemon.
    let here = Server::new("here");
    let far = Server::new("far");
    let dir = tmp.path().join("lat");
    std::fs::create_dir_all(&dir).unwrap();
    let rules = format!(
        "{}\n{}\n[[rule]]\nname = \"t\"\npattern = 'TRIGGER (?P<ts>\\d+) (?P<p>\\d)'\nactions = [\"log\"]\n",
        local_entry("here", &here),
        ssh.server_entry("far", &far.name)
    );
    let mut d = here.daemon_ready(&dir, &rules, 2);
    let raw = RawReader::attach(&here, b"TRIGGER ");
    let trigger =
        |p: usize| format!("while :; do echo \"TRIGGER $(date +%s%N) {p}\"; sleep 0.2; done");
    let from = now_ns() + 500_000_000;
    panes(&here, trigger);
    panes(&far, trigger);
    std::thread::sleep(Duration::from_secs(secs));
    let to = now_ns();
    std::thread::sleep(Duration::from_millis(500));
    let raw = printed_within(&raw.finish(), from, to);
    let mut detect: HashMap<String, Vec<f64>> = HashMap::new();
    for e in events(&dir.join("events/events.jsonl")).iter().filter(|e| e["event"] == "match") {
        let printed = e["captures"]["ts"].as_str().and_then(|t| t.parse::<u64>().ok());
        if let (Some(p), Some(ts), Some(server)) =
            (printed, e["ts_ns"].as_u64(), e["server"].as_str())
        {
            if (from..to).contains(&p) {
                detect
                    .entry(server.to_string())
                    .or_default()
                    .push(ts.saturating_sub(p) as f64 / 1e6);
            }
        }
    }
    for v in detect.values_mut() {
        v.sort_by(f64::total_cmp);
    }
    let _ = d.kill();
    let _ = d.wait();
    drop((here, far));

    // 2. 8 servers (4 local, 4 over SSH) × 4 panes × 50 lines/s.
    let servers: Vec<Server> = (0..8).map(|i| Server::new(&format!("s{i}"))).collect();
    let dir = tmp.path().join("many");
    std::fs::create_dir_all(&dir).unwrap();
    let mut rules = String::new();
    for (i, s) in servers.iter().enumerate() {
        let name = format!("s{i}");
        rules.push_str(&if i < 4 {
            local_entry(&name, s)
        } else {
            ssh.server_entry(&name, &s.name)
        });
        rules.push('\n');
    }
    rules.push_str(
        "[[rule]]\nname = \"n\"\npattern = '^SEQ (?P<p>\\d) (?P<n>\\d+)$'\nactions = [\"log\"]\n",
    );
    let mut d = servers[0].daemon_ready(&dir, &rules, 8);
    let per_pane = 50 * secs;
    for s in &servers {
        // 50 lines/s: a batch of 5 lines every 100 ms.
        panes(s, |p| {
            format!(
                "i=0; while [ $i -lt {per_pane} ]; do for k in 0 1 2 3 4; do echo \"SEQ {p} $i\"; i=$((i+1)); done; sleep 0.1; done; sleep 600"
            )
        });
    }
    let log = dir.join("events/events.jsonl");
    let expected = 8 * 4 * per_pane as usize;
    let end = Instant::now() + Duration::from_secs(secs * 4 + 20);
    while events(&log).iter().filter(|e| e["event"] == "match").count() < expected
        && Instant::now() < end
    {
        std::thread::sleep(Duration::from_millis(250));
    }
    std::thread::sleep(Duration::from_millis(500));
    let mut seen: HashMap<(String, String, String), usize> = HashMap::new();
    for e in events(&log).iter().filter(|e| e["event"] == "match") {
        let k = (
            e["server"].as_str().unwrap_or("").to_string(),
            e["captures"]["p"].as_str().unwrap_or("").to_string(),
            e["captures"]["n"].as_str().unwrap_or("").to_string(),
        );
        *seen.entry(k).or_default() += 1;
    }
    let missed = (0..8)
        .flat_map(|s| {
            (0..4).flat_map(move |p| {
                (0..per_pane).map(move |n| (format!("s{s}"), p.to_string(), n.to_string()))
            })
        })
        .filter(|k| !seen.contains_key(k))
        .count();
    let twice = seen.values().filter(|&&c| c > 1).count();
    let _ = d.kill();
    let _ = d.wait();
    drop(servers);

    // 3. idle cost of a server.
    let rss_of = |n: usize| -> (u64, u64, u64) {
        let servers: Vec<Server> = (0..n).map(|i| Server::new(&format!("idle{n}-{i}"))).collect();
        let dir = tmp.path().join(format!("idle{n}"));
        std::fs::create_dir_all(&dir).unwrap();
        let rules: String = servers
            .iter()
            .enumerate()
            .map(|(i, s)| local_entry(&format!("i{i}"), s) + "\n")
            .collect::<String>()
            + "[[rule]]\nname = \"quiet\"\npattern = '^NEVER-PRINTED-9f3c$'\nactions = [\"log\"]\n";
        let mut d = servers[0].daemon_ready(&dir, &rules, n);
        // tokio's blocking threads (used while starting) end after 10 s idle: let them go
        // before measuring, or their exits are counted as the quiet daemon's activity.
        std::thread::sleep(Duration::from_secs(12));
        let rss = proc_rss_kib(d.id());
        let (ticks, switches) = idle_cost(d.id(), Duration::from_secs(10));
        let _ = d.kill();
        let _ = d.wait();
        (rss, ticks, switches)
    };
    let (rss1, _, _) = rss_of(1);
    let (rss8, ticks8, switches8) = rss_of(8);

    let empty = Vec::new();
    let (local, remote) =
        (detect.get("here").unwrap_or(&empty), detect.get("far").unwrap_or(&empty));
    println!(
        "ctmuxd over several servers (real tmux {}, OpenSSH on 127.0.0.1), run {secs}s",
        tmux_version()
    );
    println!("| scenario | figure | value |");
    println!("| --- | --- | --- |");
    println!(
        "| 2 servers × 4 panes × 5 lines/s | local socket: print → match p50 / p99 / max (ms), {} lines | {:.2} / {:.2} / {:.2} |",
        local.len(),
        pct(local, 0.5),
        pct(local, 0.99),
        pct(local, 1.0)
    );
    println!(
        "| | over loopback SSH: print → match p50 / p99 / max (ms), {} lines | {:.2} / {:.2} / {:.2} |",
        remote.len(),
        pct(remote, 0.5),
        pct(remote, 0.99),
        pct(remote, 1.0)
    );
    println!(
        "| | baseline: a minimal reader on the local socket, print → read p50 / p99 / max (ms), {} lines | {:.2} / {:.2} / {:.2} |",
        raw.len(),
        pct(&raw, 0.5),
        pct(&raw, 0.99),
        pct(&raw, 1.0)
    );
    println!("| 8 servers (4 local, 4 SSH) × 4 panes × 50 lines/s | lines expected / missed / matched twice | {expected} / {missed} / {twice} |");
    println!(
        "| quiet local servers, one shell each | daemon RSS with 1 / with 8; per further server (KiB) | {rss1} / {rss8}; {} |",
        rss8.saturating_sub(rss1) / 7
    );
    println!("| same, 8 servers, 10 s quiet | daemon CPU ticks / context switches | {ticks8} / {switches8} |");
}

/// The process's resident set (KiB), from `/proc/PID/status`.
fn proc_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}
