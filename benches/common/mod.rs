//! Shared by the end-to-end benches: a private tmux server killed on drop, the build
//! under test as its client or quiet daemon, and reading the event log.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

/// A private tmux server (`tmux -L ctmuxd-bench-<tag>-<pid>`) with one session `bench`,
/// killed on drop.
pub struct Server {
    /// The `-L` socket name.
    pub name: String,
}

impl Server {
    /// Starts the server with a 120x40 session `bench` running `/bin/sh`.
    pub fn new(tag: &str) -> Server {
        let s = Server { name: format!("ctmuxd-bench-{tag}-{}", std::process::id()) };
        s.tmux(&["new-session", "-d", "-s", "bench", "-x", "120", "-y", "40"]);
        s
    }

    /// 4 panes × 5 lines/s of triggers `TRIGGER <ns printed> <pane>` for `secs`, then the
    /// panes are closed and the last lines get `settle_ms` to be seen.
    pub fn trigger_workload(&self, secs: u64, settle_ms: u64) {
        for p in 0..4 {
            let script = format!("while :; do echo \"TRIGGER $(date +%s%N) {p}\"; sleep 0.2; done");
            self.tmux(&["new-window", "-d", "-t", "bench", "sh", "-c", &script]);
        }
        std::thread::sleep(std::time::Duration::from_secs(secs));
        for w in self.tmux(&["list-windows", "-t", "bench", "-F", "#{window_id}"]).lines().skip(1) {
            self.tmux(&["kill-window", "-t", w]);
        }
        std::thread::sleep(std::time::Duration::from_millis(settle_ms));
    }

    /// Runs `ctmuxd SUBCOMMAND -L <name> ARGS...` (the build under test) and returns its
    /// output.
    pub fn ctmuxd(&self, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_ctmuxd"))
            .arg(args[0])
            .args(["-L", &self.name])
            .args(&args[1..])
            .stdin(Stdio::null())
            .output()
            .expect("run ctmuxd")
    }

    /// Starts the build under test as this server's daemon over `rules` (written to
    /// `dir/rules.toml`, `dir` created), its event log in `dir/events`; returns once it
    /// is ready (its `ready` record is written).
    pub fn daemon_with(&self, dir: &Path, rules: &str) -> std::process::Child {
        self.daemon_ready(dir, rules, 1)
    }

    /// As [`Server::daemon_with`], for a rules file watching `servers` servers: returns
    /// once each has written its `ready` record.
    pub fn daemon_ready(&self, dir: &Path, rules: &str, servers: usize) -> std::process::Child {
        std::fs::create_dir_all(dir).unwrap();
        let rules_path = dir.join("rules.toml");
        std::fs::write(&rules_path, rules).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_ctmuxd"))
            .args(["--control-mode", "-L", &self.name, "--rules"])
            .arg(&rules_path)
            .arg("--events")
            .arg(dir.join("events"))
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .spawn()
            .expect("ctmuxd");
        let log = dir.join("events/events.jsonl");
        let ready = |e: &Value| {
            e["event"] == "daemon" && e["message"].as_str().unwrap_or("").starts_with("ready")
        };
        let end = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while events(&log).iter().filter(|e| ready(e)).count() < servers {
            assert!(std::time::Instant::now() < end, "ctmuxd not ready on every server");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        child
    }

    /// Spawns a bash labelled `label` (no rc file, `$ ` prompt, `HOME` = `home`) through
    /// the daemon and returns its pane id once its first prompt shows.
    pub fn bash(&self, home: &Path, label: &str) -> String {
        let home = format!("HOME={}", home.display());
        let argv = ["spawn", "--label", label, "--json", "--", "env", &home, "PS1=$ "];
        let argv = [&argv[..], &["HISTFILE=/dev/null", "bash", "--norc"]].concat();
        let spawned: Value =
            serde_json::from_str(&ok(self.ctmuxd(&argv), "spawn")).expect("spawn --json");
        ok(self.ctmuxd(&["send", label, "--wait-ready", "--idle", "10s"]), "first prompt");
        spawned["id"].as_str().expect("pane id").to_string()
    }

    /// Starts the build under test as this server's daemon, with a rule that never fires
    /// and its event log in `dir`; returns once its socket answers.
    pub fn quiet_daemon(&self, dir: &Path) -> std::process::Child {
        let rules = dir.join("rules.toml");
        std::fs::write(
            &rules,
            "[[rule]]\nname = \"quiet\"\npattern = '^NEVER-PRINTED-9f3c$'\nactions = [ \"log\" ]\n",
        )
        .unwrap();
        let daemon = Command::new(env!("CARGO_BIN_EXE_ctmuxd"))
            .args(["--control-mode", "-L", &self.name, "--rules"])
            .arg(&rules)
            .arg("--events")
            .arg(dir.join("events"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn ctmuxd");
        let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !self.ctmuxd(&["status"]).status.success() {
            assert!(std::time::Instant::now() < end, "the daemon's socket never answered");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        daemon
    }

    /// Runs `tmux -L <name> args...`; panics with tmux's message if it fails.
    pub fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new(std::env::var("CTMUXD_TMUX").unwrap_or_else(|_| "tmux".into()))
            .args(["-L", &self.name, "-f", "/dev/null"])
            .args(args)
            .env("SHELL", "/bin/sh")
            .env_remove("TMUX")
            .stdin(Stdio::null())
            .output()
            .expect("run tmux");
        assert!(out.status.success(), "tmux {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new(std::env::var("CTMUXD_TMUX").unwrap_or_else(|_| "tmux".into()))
            .args(["-L", &self.name, "kill-server"])
            .output();
        // Leave nothing behind in /tmp: tmux keeps its socket file after kill-server, and a
        // daemon the bench killed keeps its API socket and lock file.
        // SAFETY: geteuid(2) cannot fail and touches no memory of ours.
        let uid = unsafe { libc::geteuid() };
        let tmpdir = std::env::var_os("TMUX_TMPDIR").unwrap_or_else(|| "/tmp".into());
        let _ = std::fs::remove_file(
            std::path::PathBuf::from(tmpdir).join(format!("tmux-{uid}")).join(&self.name),
        );
        let target = ctmuxd::tmux::TmuxTarget::Name(self.name.clone());
        let socket = ctmuxd::api::socket_path(&target);
        let _ = std::fs::remove_file(&socket);
        let _ = std::fs::remove_file(ctmuxd::api::lock::lock_path(&target));
        // The daemon's runtime dir (`/tmp/ctmuxd-<uid>/` without XDG_RUNTIME_DIR) goes too
        // when nothing else is in it: a daemon the bench killed did not remove it.
        if let Some(dir) = socket.parent() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// Every record of a JSON-lines event log (a missing file is empty).
pub fn events(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The `p` quantile (0..=1) of an ascending slice, nearest rank; NaN when empty.
pub fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// The baseline for print→detection: a minimal control-mode reader (one thread, blocking
/// reads, no matching beyond finding `<marker><ns>` in `%output` lines), attached to the
/// same session as ctmuxd, so both see the same printed lines through the same tmux.
pub struct RawReader {
    child: std::process::Child,
    thread: Option<std::thread::JoinHandle<Vec<(u64, f64)>>>,
}

impl RawReader {
    /// Attaches `tmux -C` to session `bench` of `server` and starts reading; a line
    /// carries its print time as the digits after `marker` (`TRIGGER `, `code=`).
    pub fn attach(server: &Server, marker: &'static [u8]) -> RawReader {
        use std::io::BufRead;
        let mut child = control_client(server);
        let stdout = child.stdout.take().expect("stdout");
        let thread = std::thread::spawn(move || {
            let mut seen = Vec::new();
            let mut reader = std::io::BufReader::new(stdout);
            let mut line = Vec::new();
            while reader.read_until(b'\n', &mut line).map(|n| n > 0).unwrap_or(false) {
                let now = now_ns();
                if line.starts_with(b"%output ") {
                    if let Some(printed) = stamp(&line, marker) {
                        seen.push((printed, now.saturating_sub(printed) as f64 / 1e6));
                    }
                }
                line.clear();
            }
            seen
        });
        RawReader { child, thread: Some(thread) }
    }

    /// Detaches and returns each line's print time (ns) and print→read latency (ms).
    pub fn finish(mut self) -> Vec<(u64, f64)> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.thread.take().expect("thread").join().unwrap_or_default()
    }
}

/// The latencies (ms, ascending) of the lines printed in `[from, to)` ns.
pub fn printed_within(seen: &[(u64, f64)], from: u64, to: u64) -> Vec<f64> {
    let mut v: Vec<f64> =
        seen.iter().filter(|(p, _)| *p >= from && *p < to).map(|(_, l)| *l).collect();
    v.sort_by(f64::total_cmp);
    v
}

/// The `<ns>` after `marker` in a raw `%output` line.
fn stamp(line: &[u8], marker: &[u8]) -> Option<u64> {
    let at = line.windows(marker.len()).position(|w| w == marker)? + marker.len();
    let digits: Vec<u8> = line[at..].iter().copied().take_while(u8::is_ascii_digit).collect();
    std::str::from_utf8(&digits).ok()?.parse().ok()
}

/// Wall-clock now, ns since the epoch.
pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// A command's stdout; panics with its stderr when it failed.
pub fn ok(out: std::process::Output, what: &str) -> String {
    assert!(out.status.success(), "{what}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What the tmux in use says of its version (`tmux 3.3a`).
pub fn tmux_version() -> String {
    Command::new(std::env::var("CTMUXD_TMUX").unwrap_or_else(|_| "tmux".into()))
        .arg("-V")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// utime + stime (clock ticks) of process `pid`, and the context switches of each of its
/// threads by thread id.
fn proc_stat(pid: u32) -> (u64, std::collections::HashMap<String, u64>) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let field = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let mut switches = std::collections::HashMap::new();
    for t in std::fs::read_dir(format!("/proc/{pid}/task")).into_iter().flatten().flatten() {
        let s = std::fs::read_to_string(t.path().join("status")).unwrap_or_default();
        let n: u64 = s
            .lines()
            .filter(|l| l.contains("ctxt_switches"))
            .filter_map(|l| l.split_whitespace().last()?.parse::<u64>().ok())
            .sum();
        switches.insert(t.file_name().to_string_lossy().into_owned(), n);
    }
    (field(11) + field(12), switches)
}

/// Process `pid`'s CPU ticks and context switches over `quiet`: how idle it is. A
/// thread that ends meanwhile (an idle tokio blocking thread) takes its switches along
/// and counts for none, a new one from zero.
pub fn idle_cost(pid: u32, quiet: std::time::Duration) -> (u64, u64) {
    let (t0, c0) = proc_stat(pid);
    std::thread::sleep(quiet);
    let (t1, c1) = proc_stat(pid);
    let switches = c1.iter().map(|(tid, n)| n - c0.get(tid).copied().unwrap_or(0).min(*n)).sum();
    (t1.saturating_sub(t0), switches)
}

/// A `tmux -C` client of `server`'s session `bench` (not resizing it), its stdin and
/// stdout piped: the minimal control-mode client the benches measure beside ctmuxd.
pub fn control_client(server: &Server) -> std::process::Child {
    Command::new(std::env::var("CTMUXD_TMUX").unwrap_or_else(|_| "tmux".into()))
        .args(["-L", &server.name, "-C", "attach-session", "-t", "bench", "-f", "ignore-size"])
        .env_remove("TMUX")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("tmux -C")
}
