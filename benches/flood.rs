//! What a flood of output costs, and what many panes weigh (issue 13: each pane now keeps
//! a screen). A timed run of real processes, not criterion; prints two tables.
//!
//! 1. flood: one pane `cat`s a generated log (default 100 MB; timestamps, levels in SGR
//!    colours, key=value fields, some lines longer than the pane, every 1000th line
//!    `TRIGGER n reached`), ctmuxd the only client, with a rule matching the triggers.
//!    Reports the CPU time (`/proc/PID/stat` utime + stime) of the tmux server and of
//!    ctmuxd from the start of the `cat` until ctmuxd matched the end marker, and the
//!    triggers printed against those matched (none may be missed).
//! 2. memory: 300 panes of 120x40 in 30 sessions, each a shell that printed 60 lines;
//!    ctmuxd's `VmRSS` and `VmHWM` once it watches every session and pane.
//!
//! `cargo bench --bench flood [-- --baseline PATH]`: `--baseline` runs another ctmuxd
//! binary (say a release build of `main`) through the same scenarios in the same run.
//! `CTMUXD_FLOOD_MB` changes the flood's size.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{events, tmux_version, Server};

/// The rules of both scenarios: the triggers and the end marker.
const RULES: &str =
    "[[rule]]\nname = \"t\"\npattern = 'TRIGGER (?P<n>\\d+) reached'\nactions = [\"log\"]\n\n\
                     [[rule]]\nname = \"end\"\npattern = '^FLOOD-END$'\nactions = [\"log\"]\n";

/// [`RULES`] and a screen rule on the same triggers: every burst of the flood is then
/// applied to the pane's screen and its rows matched (this build only: older builds
/// refuse `screen`).
const SCREEN_RULE: &str =
    "\n[[rule]]\nname = \"on-screen\"\npattern = 'TRIGGER \\d+ reached'\nscreen = true\nactions = [\"log\"]\n";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        return; // `cargo test --benches` probes with --list
    }
    let mut bins = vec![("this build".to_string(), PathBuf::from(env!("CARGO_BIN_EXE_ctmuxd")))];
    if let Some(i) = args.iter().position(|a| a == "--baseline") {
        let path = PathBuf::from(args.get(i + 1).expect("--baseline PATH"));
        assert!(path.is_file(), "--baseline {}: no such file", path.display());
        bins.push((format!("baseline {}", path.display()), path));
    }
    let mb: usize =
        std::env::var("CTMUXD_FLOOD_MB").ok().and_then(|s| s.parse().ok()).unwrap_or(100);
    let tmp = tempfile::tempdir().expect("tempdir");
    let log = tmp.path().join("flood.log");
    let printed = write_flood(&log, mb << 20);

    let mut flood_rows = Vec::new();
    let mut memory_rows = Vec::new();
    for (i, (name, bin)) in bins.iter().enumerate() {
        let dir = tmp.path().join(format!("run{i}"));
        std::fs::create_dir_all(&dir).expect("run dir");
        flood_rows.push((name.clone(), flood(bin, &dir.join("flood"), &log, i, RULES)));
        memory_rows.push((name, memory(bin, &dir.join("memory"), i)));
    }
    let dir = tmp.path().join("screen");
    let rules = format!("{RULES}{SCREEN_RULE}");
    let with_screen = flood(&bins[0].1, &dir, &log, bins.len(), &rules);
    flood_rows.insert(1, ("this build, with a screen rule".to_string(), with_screen));

    println!("ctmuxd flood and memory (real {}), {mb} MB flood", tmux_version());
    println!();
    println!(
        "| ctmuxd | MB | wall s | tmux server CPU s | ctmuxd CPU s | ctmuxd / tmux | triggers printed / matched |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for (name, f) in &flood_rows {
        println!(
            "| {name} | {mb} | {:.1} | {:.2} | {:.2} | {:.2} | {printed} / {}{} |",
            f.wall_s,
            f.tmux_cpu_s,
            f.ctmuxd_cpu_s,
            f.ctmuxd_cpu_s / f.tmux_cpu_s,
            f.matched,
            if f.finished { "" } else { " (end marker not matched in time)" }
        );
    }
    println!();
    println!("| ctmuxd | sessions / panes watched | VmRSS MiB | VmHWM MiB |");
    println!("| --- | --- | --- | --- |");
    for (name, m) in &memory_rows {
        println!(
            "| {name} | {} / {} | {:.1} | {:.1} |",
            m.sessions,
            m.panes,
            m.rss_kib as f64 / 1024.0,
            m.hwm_kib as f64 / 1024.0
        );
    }
    let missed: Vec<&str> =
        flood_rows.iter().filter(|(_, f)| f.matched != printed).map(|(n, _)| n.as_str()).collect();
    if !missed.is_empty() {
        eprintln!("flood: triggers missed by {}", missed.join(", "));
        std::process::exit(1);
    }
}

/// Writes about `bytes` of log lines; returns how many triggers it holds.
fn write_flood(path: &Path, bytes: usize) -> usize {
    const LEVELS: [(&str, &str); 4] =
        [("INFO ", "32"), ("DEBUG", "34"), ("WARN ", "33"), ("ERROR", "31")];
    const PATHS: [&str; 5] =
        ["/v1/items", "/v1/users", "/healthz", "/v2/orders/search", "/static/app.js"];
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).expect("flood file"));
    let (mut written, mut n, mut triggers) = (0usize, 0u64, 0usize);
    let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        // xorshift64: the same file on every run.
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut line = Vec::with_capacity(512);
    while written < bytes {
        n += 1;
        line.clear();
        let ms = n * 7;
        write!(
            line,
            "2026-12-06T{:02}:{:02}:{:02}.{:03}Z ",
            (ms / 3_600_000) % 24,
            (ms / 60_000) % 60,
            (ms / 1000) % 60,
            ms % 1000
        )
        .expect("write to a Vec");
        if n.is_multiple_of(1000) {
            triggers += 1;
            write!(line, "\x1b[1;35mNOTE \x1b[0m flood: TRIGGER {triggers} reached")
                .expect("write to a Vec");
        } else {
            let r = next();
            let (level, colour) = LEVELS[[0, 0, 0, 0, 0, 1, 1, 2, 2, 3][(r % 10) as usize]];
            write!(
                line,
                "\x1b[{colour}m{level}\x1b[0m \x1b[2mapi.http\x1b[0m request done method=GET path={}/{} \
                 status={} dur_ms={}.{:03} bytes={} req={:08x}",
                PATHS[(r >> 8) as usize % PATHS.len()],
                (r >> 16) % 100_000,
                [200, 200, 200, 201, 304, 404, 500][(r >> 24) as usize % 7],
                (r >> 32) % 900,
                (r >> 40) % 1000,
                (r >> 20) % 65_536,
                r as u32
            )
            .expect("write to a Vec");
            if r.is_multiple_of(8) {
                // Longer than the pane: wraps on screen, one line in the log.
                write!(line, " user_agent=\"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36\"")
                    .expect("write to a Vec");
            }
        }
        line.push(b'\n');
        out.write_all(&line).expect("write flood file");
        written += line.len();
    }
    out.flush().expect("flush flood file");
    triggers
}

/// Starts `bin` as the daemon of `server` with [`RULES`]; waits for its ready record.
fn start_daemon(bin: &Path, server: &Server, dir: &Path, text: &str) -> Child {
    std::fs::create_dir_all(dir).expect("daemon dir");
    let rules = dir.join("rules.toml");
    std::fs::write(&rules, text).expect("rules");
    let child = Command::new(bin)
        .args(["--control-mode", "-L", &server.name, "--rules"])
        .arg(&rules)
        .arg("--events")
        .arg(dir.join("events"))
        .env("RUST_LOG", "warn")
        .env_remove("TMUX")
        .stdin(Stdio::null())
        .spawn()
        .expect("ctmuxd");
    let log = dir.join("events/events.jsonl");
    let end = Instant::now() + Duration::from_secs(20);
    while !events(&log).iter().any(|e| e["event"] == "daemon") {
        assert!(Instant::now() < end, "{} not ready", bin.display());
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

fn stop(mut child: Child) {
    // SAFETY: kill(2) on our own child's pid has no memory-safety preconditions.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let end = Instant::now() + Duration::from_secs(10);
    while matches!(child.try_wait(), Ok(None)) && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// utime + stime of a process, in seconds.
fn cpu_s(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // SAFETY: sysconf(3) reads a constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1);
    ticks as f64 / hz as f64
}

struct Flood {
    wall_s: f64,
    tmux_cpu_s: f64,
    ctmuxd_cpu_s: f64,
    matched: usize,
    finished: bool,
}

/// Scenario 1 with `bin`.
fn flood(bin: &Path, dir: &Path, log: &Path, run: usize, rules: &str) -> Flood {
    let server = Server::new(&format!("flood{run}"));
    let tmux_pid: u32 =
        server.tmux(&["display-message", "-p", "#{pid}"]).trim().parse().expect("pid");
    let d = start_daemon(bin, &server, dir, rules);
    std::thread::sleep(Duration::from_millis(500));
    let (t0, c0, w0) = (cpu_s(tmux_pid), cpu_s(d.id()), Instant::now());
    let script = format!("cat '{}'; echo FLOOD-END; exec sleep 3600", log.display());
    server.tmux(&["new-window", "-d", "-t", "bench", "sh", "-c", &script]);
    let evlog = dir.join("events/events.jsonl");
    let end = Instant::now() + Duration::from_secs(150);
    let mut finished = false;
    while Instant::now() < end {
        if events(&evlog).iter().any(|e| e["event"] == "match" && e["rule"] == "end") {
            finished = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let (t1, c1, wall) = (cpu_s(tmux_pid), cpu_s(d.id()), w0.elapsed());
    let matched: HashSet<String> = events(&evlog)
        .iter()
        .filter(|e| e["event"] == "match" && e["rule"] == "t")
        .filter_map(|e| e["captures"]["n"].as_str().map(str::to_string))
        .collect();
    stop(d);
    Flood {
        wall_s: wall.as_secs_f64(),
        tmux_cpu_s: t1 - t0,
        ctmuxd_cpu_s: c1 - c0,
        matched: matched.len(),
        finished,
    }
}

struct Memory {
    sessions: usize,
    panes: usize,
    rss_kib: u64,
    hwm_kib: u64,
}

/// Scenario 2 with `bin`.
fn memory(bin: &Path, dir: &Path, run: usize) -> Memory {
    const SESSIONS: usize = 30;
    const PER_SESSION: usize = 10;
    let server = Server::new(&format!("mem{run}"));
    let script = "i=0; while [ $i -lt 60 ]; do echo \"line $i of a shell that printed some lines before ctmuxd came\"; i=$((i+1)); done; exec sh";
    for s in 0..SESSIONS {
        let name = format!("s{s:02}");
        server.tmux(&[
            "new-session",
            "-d",
            "-s",
            &name,
            "-x",
            "120",
            "-y",
            "40",
            "sh",
            "-c",
            script,
        ]);
        for _ in 1..PER_SESSION {
            server.tmux(&["new-window", "-d", "-t", &name, "sh", "-c", script]);
        }
    }
    // The session `bench` Server::new made holds one more pane.
    let want_panes = SESSIONS * PER_SESSION + 1;
    let d = start_daemon(bin, &server, dir, RULES);
    let end = Instant::now() + Duration::from_secs(90);
    let (mut sessions, mut panes) = (0, 0);
    while Instant::now() < end {
        let o = Command::new(bin)
            .args(["status", "-L", &server.name, "--json"])
            .env_remove("TMUX")
            .output()
            .expect("ctmuxd status");
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&o.stdout) {
            let st = if v["status"].is_object() { &v["status"] } else { &v };
            sessions = st["sessions"].as_array().map_or(0, Vec::len);
            panes = st["panes"].as_u64().unwrap_or(0) as usize;
            if sessions > SESSIONS && panes >= want_panes {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    // Let the last attach's catch-up finish.
    std::thread::sleep(Duration::from_secs(2));
    let status = std::fs::read_to_string(format!("/proc/{}/status", d.id())).unwrap_or_default();
    let kib = |key: &str| -> u64 {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let m = Memory { sessions, panes, rss_kib: kib("VmRSS:"), hwm_kib: kib("VmHWM:") };
    stop(d);
    m
}
