//! A storm of `wait_for` clients against a daemon with thousands of rules, against a real
//! tmux (not criterion: each figure is a timed run of real processes). Prints a table.
//!
//! The daemon gets `--rules N` distinct rules written as users write them (four shapes in
//! turn, e.g. `ALERT-0042 code=(?P<c>\d+) (?:failed|crashed) in (?P<m>\w+)`). One pane
//! (label `storm`) prints an `ALERT-…` rule's trigger every 20 ms carrying the time it was
//! printed (`date +%s%N`), so the event log gives print→match latency. Phases, per daemon:
//! 1. quiet: the trigger pane alone for `--secs`;
//! 2. storm: `--clients` connections on the API socket, each looping `wait_for` on the
//!    trigger pane with a fresh pattern that never matches and a 50 ms timeout (JSON
//!    lines, docs/api.md); reports waits served per second, their round trip, and the
//!    trigger latency meanwhile;
//! 3. registration: one client, 30 `wait_for`s with a fresh pattern that a line already in
//!    the ring matches (`since: 50`), so the round trip is registration + ring search.
//!
//! `cargo bench --bench storm [-- --rules 2000 --clients 100 --secs 10 --baseline PATH]`
//! (or `CTMUXD_STORM_BASELINE`): `--baseline` is another `ctmuxd` binary (e.g. built from the
//! commit before waiters were split from the rules) run the same way in the same run.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

mod common;
use common::{events, now_ns, pct, printed_within, RawReader, Server};

struct Args {
    rules: usize,
    clients: usize,
    secs: u64,
    baseline: Option<PathBuf>,
}

fn args() -> Args {
    let mut a = Args {
        rules: 2000,
        clients: 100,
        secs: 10,
        baseline: std::env::var_os("CTMUXD_STORM_BASELINE").map(PathBuf::from),
    };
    let argv: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < argv.len() {
        let val = argv.get(i + 1).cloned().unwrap_or_default();
        match argv[i].as_str() {
            "--rules" => a.rules = val.parse().expect("--rules N"),
            "--clients" => a.clients = val.parse().expect("--clients N"),
            "--secs" => a.secs = val.parse().expect("--secs N"),
            "--baseline" => a.baseline = Some(val.into()),
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    a
}

/// `n` distinct rules in four shapes; rule `i` with `i % 4 == 0` is `ALERT-<i>`.
fn rules_file(n: usize) -> String {
    let mut s = String::new();
    for i in 0..n {
        let pattern = match i % 4 {
            0 => format!(r"ALERT-{i:04} code=(?P<c>\d+) (?:failed|crashed) in (?P<m>\w+)"),
            1 => format!(r"^\[svc-{i}\] (?:ERROR|FATAL): (?P<msg>.+)$"),
            2 => format!(r"job-{i} finished in (?P<secs>[0-9.]+)s"),
            _ => format!(r"user (?P<u>\w+) denied on host-{i}\b"),
        };
        s.push_str(&format!(
            "[[rule]]\nname = \"r{i}\"\npattern = '{pattern}'\nactions = [ \"log\" ]\n"
        ));
    }
    s
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// One API connection.
struct Client {
    rd: BufReader<UnixStream>,
    wr: UnixStream,
}

impl Client {
    fn connect(sock: &Path) -> std::io::Result<Client> {
        let s = UnixStream::connect(sock)?;
        s.set_read_timeout(Some(Duration::from_secs(120)))?;
        Ok(Client { rd: BufReader::new(s.try_clone()?), wr: s })
    }

    fn call(&mut self, req: &Value) -> std::io::Result<Value> {
        let mut line = req.to_string();
        line.push('\n');
        self.wr.write_all(line.as_bytes())?;
        let mut reply = String::new();
        if self.rd.read_line(&mut reply)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        serde_json::from_str(&reply).map_err(std::io::Error::other)
    }
}

/// Peak resident memory of a process, MiB.
fn peak_rss_mib(pid: u32) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:")?.trim().strip_suffix("kB")?.trim().parse().ok())
        .map_or(f64::NAN, |kb: f64| kb / 1024.0)
}

/// Print→match latencies (ms) of the triggers printed in `[from, to)` ns.
fn trigger_latency(log: &Path, from: u64, to: u64) -> Vec<f64> {
    let mut v: Vec<f64> = events(log)
        .iter()
        .filter(|e| e["event"] == "match")
        .filter_map(|e| {
            let printed: u64 = e["captures"]["c"].as_str()?.parse().ok()?;
            let seen = e["ts_ns"].as_u64()?;
            (printed >= from && printed < to).then(|| seen.saturating_sub(printed) as f64 / 1e6)
        })
        .collect();
    v.sort_by(f64::total_cmp);
    v
}

#[derive(Default)]
struct Row {
    name: String,
    startup_s: f64,
    rss_mib: f64,
    quiet: Vec<f64>,
    storm: Vec<f64>,
    waits_per_s: f64,
    errors: usize,
    rt: Vec<f64>,
    reg: Vec<f64>,
    /// The minimal reader's print→read latencies of the same lines, quiet and in the storm.
    raw_quiet: Vec<f64>,
    raw_storm: Vec<f64>,
}

fn run(name: &str, bin: &Path, a: &Args, tag: &str) -> Row {
    let server = Server::new(tag);
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = dir.path().join("rules.toml");
    std::fs::write(&rules, rules_file(a.rules)).unwrap();
    let runtime = dir.path().join("run");
    std::fs::create_dir_all(&runtime).unwrap();
    std::fs::set_permissions(&runtime, std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .unwrap();
    let sock = runtime.join("ctmuxd").join(format!("L-{}.sock", server.name));
    let log = dir.path().join("events/events.jsonl");
    let started = Instant::now();
    let mut daemon: Child = Command::new(bin)
        .args(["--control-mode", "-L", &server.name, "--rules"])
        .arg(&rules)
        .arg("--events")
        .arg(dir.path().join("events"))
        .env("XDG_RUNTIME_DIR", &runtime)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn ctmuxd");
    let end = Instant::now() + Duration::from_secs(300);
    loop {
        if let Ok(mut c) = Client::connect(&sock) {
            if c.call(&json!({"cmd": "status"})).is_ok_and(|r| r["ok"] == true) {
                break;
            }
        }
        assert!(Instant::now() < end, "{name}: the daemon never answered");
        assert!(daemon.try_wait().unwrap().is_none(), "{name}: the daemon exited");
        std::thread::sleep(Duration::from_millis(20));
    }
    let startup_s = started.elapsed().as_secs_f64();

    let script = "k=0; while :; do n=$(( (k % 50) * 4 )); \
                  printf 'ALERT-%04d code=%s failed in db\\n' $n $(date +%s%N); \
                  k=$((k+1)); sleep 0.02; done";
    let pane = server.tmux(&[
        "new-window",
        "-d",
        "-P",
        "-F",
        "#{pane_id}",
        "-t",
        "bench",
        "sh",
        "-c",
        script,
    ]);
    server.tmux(&["set-option", "-p", "-t", pane.trim(), "@ctmuxd_label", "storm"]);
    // Ready once a trigger line can be waited for on the label.
    let mut probe = Client::connect(&sock).expect("connect");
    let end = Instant::now() + Duration::from_secs(30);
    while probe
        .call(&json!({"cmd": "wait_for", "label": "storm", "pattern": "^ALERT", "since": 50, "timeout_ms": 1000}))
        .map_or(true, |r| r["ok"] != true)
    {
        assert!(Instant::now() < end, "{name}: the trigger pane never showed up");
        std::thread::sleep(Duration::from_millis(100));
    }
    // The baseline on the same lines: a minimal reader attached beside the daemon.
    let raw = RawReader::attach(&server, b"code=");
    std::thread::sleep(Duration::from_secs(1));

    // 1. quiet
    let t0 = now_ns();
    std::thread::sleep(Duration::from_secs(a.secs));
    let t1 = now_ns();

    // 2. storm
    let stop = Arc::new(AtomicBool::new(false));
    let rts = Arc::new(Mutex::new(Vec::new()));
    let errors = Arc::new(Mutex::new(0usize));
    let mut threads = Vec::new();
    let mut conns = Vec::new();
    for c in 0..a.clients {
        let (stop, rts, errors) = (stop.clone(), rts.clone(), errors.clone());
        let Ok(mut client) = Client::connect(&sock) else {
            *errors.lock().unwrap() += 1;
            continue;
        };
        conns.push(client.wr.try_clone().expect("clone"));
        threads.push(std::thread::spawn(move || {
            let mut k = 0u64;
            while !stop.load(Ordering::Relaxed) {
                k += 1;
                let req = json!({"cmd": "wait_for", "label": "storm",
                    "pattern": format!("^never-{c}-{k} (?P<x>\\d+)$"), "timeout_ms": 50});
                let t = Instant::now();
                match client.call(&req) {
                    Ok(r) if r["error"]["code"] == "timeout" => {
                        if !stop.load(Ordering::Relaxed) {
                            rts.lock().unwrap().push(ms(t.elapsed()));
                        }
                    }
                    _ => {
                        if !stop.load(Ordering::Relaxed) {
                            *errors.lock().unwrap() += 1;
                        }
                        return;
                    }
                }
            }
        }));
    }
    let s0 = now_ns();
    std::thread::sleep(Duration::from_secs(a.secs));
    let s1 = now_ns();
    stop.store(true, Ordering::Relaxed);
    let mut rt = std::mem::take(&mut *rts.lock().unwrap());
    // Hang up: requests still queued (a baseline compiling for seconds each) are dropped.
    for c in &conns {
        let _ = c.shutdown(std::net::Shutdown::Both);
    }
    let waits_per_s = rt.len() as f64 / ((s1 - s0) as f64 / 1e9);
    // Stragglers (a baseline compiling for seconds) finish or see the daemon go.
    let end = Instant::now() + Duration::from_secs(30);
    while threads.iter().any(|t| !t.is_finished()) && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(50));
    }

    let raw = raw.finish();

    // 3. registration, one client, quiet again
    std::thread::sleep(Duration::from_secs(1));
    let mut reg = Vec::new();
    let budget = Instant::now() + Duration::from_secs(60);
    for k in 0..30 {
        if Instant::now() > budget {
            break;
        }
        let req = json!({"cmd": "wait_for", "label": "storm", "since": 50, "timeout_ms": 60000,
            "pattern": format!(r"^ALERT-\d+ code=(?P<c>\d+) failed in db(?:-{k})?$")});
        let t = Instant::now();
        match probe.call(&req) {
            Ok(r) if r["ok"] == true => reg.push(ms(t.elapsed())),
            other => {
                println!("  {name}: registration probe failed: {other:?}");
                break;
            }
        }
    }
    let rss_mib = peak_rss_mib(daemon.id());
    std::thread::sleep(Duration::from_millis(500));
    let _ = daemon.kill();
    let _ = daemon.wait();
    for t in threads {
        if t.is_finished() {
            let _ = t.join();
        }
    }
    rt.sort_by(f64::total_cmp);
    reg.sort_by(f64::total_cmp);
    let errors = *errors.lock().unwrap();
    Row {
        name: name.to_string(),
        startup_s,
        rss_mib,
        quiet: trigger_latency(&log, t0, t1),
        storm: trigger_latency(&log, s0, s1),
        waits_per_s,
        errors,
        rt,
        reg,
        raw_quiet: printed_within(&raw, t0, t1),
        raw_storm: printed_within(&raw, s0, s1),
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` probes with --list
    }
    let a = args();
    println!(
        "storm: {} rules, 1 pane printing a trigger every 20 ms, {} clients looping wait_for \
         (fresh pattern, 50 ms timeout), {} s per phase",
        a.rules, a.clients, a.secs
    );
    println!(
        "{:<10} {:>8} {:>8} {:>17} {:>17} {:>9} {:>19} {:>17}",
        "daemon",
        "start s",
        "RSS MiB",
        "quiet p50/p99 ms",
        "storm p50/p99 ms",
        "waits/s",
        "wait rt p50/p99 ms",
        "reg rt p50/p99 ms"
    );
    let mut runs: Vec<(&str, PathBuf, &str)> =
        vec![("this tree", PathBuf::from(env!("CARGO_BIN_EXE_ctmuxd")), "storm")];
    if let Some(base) = &a.baseline {
        runs.push(("baseline", base.clone(), "storm-base"));
    }
    for (name, bin, tag) in runs {
        let r = &run(name, &bin, &a, tag);
        let pair = |v: &[f64]| format!("{:.1}/{:.1}", pct(v, 0.5), pct(v, 0.99));
        println!(
            "{:<10} {:>8.2} {:>8.0} {:>17} {:>17} {:>9.0} {:>19} {:>17}",
            r.name,
            r.startup_s,
            r.rss_mib,
            pair(&r.quiet),
            pair(&r.storm),
            r.waits_per_s,
            pair(&r.rt),
            pair(&r.reg)
        );
        if r.errors > 0 {
            println!("  {}: {} client(s) stopped on an error", r.name, r.errors);
        }
        println!(
            "  {}: triggers seen quiet {}, storm {}; waits {}",
            r.name,
            r.quiet.len(),
            r.storm.len(),
            r.rt.len()
        );
        println!(
            "  {}: storm p99 / quiet p99 {:.2}×; a minimal reader on the same lines: quiet {} ms, storm {} ms, {:.2}×",
            r.name,
            pct(&r.storm, 0.99) / pct(&r.quiet, 0.99),
            pair(&r.raw_quiet),
            pair(&r.raw_storm),
            pct(&r.raw_storm, 0.99) / pct(&r.raw_quiet, 0.99)
        );
    }
}
