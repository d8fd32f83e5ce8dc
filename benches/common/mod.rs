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
    /// `dir/rules.toml`, `dir` created), its event log in `dir/events`; returns once its
    /// first `daemon` record is written (it is attached).
    pub fn daemon_with(&self, dir: &Path, rules: &str) -> std::process::Child {
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
        let end = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while !events(&log).iter().any(|e| e["event"] == "daemon") {
            assert!(std::time::Instant::now() < end, "ctmuxd not ready");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        child
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
        let tmux = std::env::var("CTMUXD_TMUX").unwrap_or_else(|_| "tmux".into());
        let mut child = Command::new(tmux)
            .args(["-L", &server.name, "-C", "attach-session", "-t", "bench", "-f", "ignore-size"])
            .env_remove("TMUX")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("tmux -C");
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
