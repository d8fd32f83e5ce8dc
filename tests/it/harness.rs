//! Test harness: a private tmux server per test (`tmux -L <unique> -f /dev/null`, killed
//! on drop) and the `ctmuxd` binary run against it, with helpers to read its event log.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use serde_json::Value;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// The tmux under test: `$CTMUXD_TMUX` (the CI matrix sets it; ctmuxd honours it too),
/// else `tmux` from `PATH`.
pub fn tmux_bin() -> String {
    std::env::var("CTMUXD_TMUX").unwrap_or_else(|_| "tmux".to_string())
}

/// Tests that assert latencies under load run alone: every test holds this lock shared
/// while its tmux server lives, and such a test holds it exclusively
/// ([`TmuxServer::alone`]), so on a small machine the other tests' servers and daemons do
/// not skew its figures. (std's `RwLock` lets a waiting writer in before new readers.)
static TURN: RwLock<()> = RwLock::new(());

/// A test's hold on [`TURN`].
pub enum Turn {
    /// Other tests may run alongside.
    Shared(RwLockReadGuard<'static, ()>),
    /// No other test's server is running.
    Alone(RwLockWriteGuard<'static, ()>),
}

/// A tmux server of the test's own: never the user's default server.
pub struct TmuxServer {
    /// The `-L` socket name.
    pub name: String,
    /// Scratch directory for the test (rules, event log, outputs).
    pub dir: tempfile::TempDir,
    /// Released after the server is killed (fields drop after `Drop::drop`).
    _turn: Turn,
}

impl TmuxServer {
    /// Starts a server with one session `main` (120x40, `/bin/sh` panes).
    pub fn new() -> TmuxServer {
        TmuxServer::start(shared_turn())
    }

    /// Like [`TmuxServer::new`], once no other test's server runs, and none starts until
    /// this one is dropped: for tests that measure latency.
    pub fn alone() -> TmuxServer {
        TmuxServer::start(Turn::Alone(TURN.write().unwrap_or_else(PoisonError::into_inner)))
    }

    fn start(turn: Turn) -> TmuxServer {
        let name =
            format!("ctmuxd-it-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst));
        let dir = tempfile::tempdir().expect("tempdir");
        let server = TmuxServer { name, dir, _turn: turn };
        let out = server.tmux(&["new-session", "-d", "-s", "main", "-x", "120", "-y", "40"]);
        assert!(
            out.status.success(),
            "tmux new-session failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        server
    }

    /// Runs `tmux -L <name> args...` and returns its output.
    pub fn tmux(&self, args: &[&str]) -> Output {
        Command::new(tmux_bin())
            .arg("-L")
            .arg(&self.name)
            .arg("-f")
            .arg("/dev/null")
            .args(args)
            .env("SHELL", "/bin/sh")
            .env_remove("TMUX")
            .stdin(Stdio::null())
            .output()
            .expect("run tmux")
    }

    /// Runs a tmux command that must succeed; returns its stdout.
    pub fn tmux_ok(&self, args: &[&str]) -> String {
        let out = self.tmux(args);
        assert!(out.status.success(), "tmux {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Opens a new window in session `main` running `argv` in the test's dir, with that
    /// dir as `HOME` (programs write their history and config there, not in yours) and
    /// the `KEY=VALUE` entries of `env`; returns its pane id.
    pub fn window_at_home(&self, env: &[&str], argv: &[&str]) -> String {
        let dir = self.dir.path().to_str().expect("utf-8 temp dir").to_string();
        let home = format!("HOME={dir}");
        let mut args = vec!["new-window", "-d", "-t", "main", "-P", "-F", "#{pane_id}", "-c", &dir];
        for e in std::iter::once(&home.as_str()).chain(env) {
            args.extend(["-e", e]);
        }
        args.extend_from_slice(argv);
        self.tmux_ok(&args).trim().to_string()
    }

    /// Opens a new window in session `main` running `sh -c script`; returns its pane id.
    pub fn spawn(&self, script: &str) -> String {
        self.tmux_ok(&[
            "new-window",
            "-d",
            "-t",
            "main",
            "-P",
            "-F",
            "#{pane_id}",
            "sh",
            "-c",
            script,
        ])
        .trim()
        .to_string()
    }

    /// A path inside the test's scratch directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes the rules file and returns its path.
    pub fn write_rules(&self, toml: &str) -> PathBuf {
        let p = self.path("rules.toml");
        std::fs::write(&p, toml).expect("write rules");
        p
    }
}

/// A shared hold on [`TURN`], for tests whose tmux server the harness does not start.
pub fn shared_turn() -> Turn {
    Turn::Shared(TURN.read().unwrap_or_else(PoisonError::into_inner))
}

impl Drop for TmuxServer {
    fn drop(&mut self) {
        // The panes' programs get SIGHUP and may write a history file into the test's
        // HOME (its temp dir) on their way out: the dir is removed only once they are
        // gone, so nothing is recreated in it while it is being removed.
        let pids: Vec<i32> =
            String::from_utf8_lossy(&self.tmux(&["list-panes", "-a", "-F", "#{pane_pid}"]).stdout)
                .lines()
                .filter_map(|l| l.trim().parse().ok())
                .collect();
        // tmux leaves its socket file behind when killed; a daemon killed with SIGKILL
        // leaves its API socket. Both are this test's own: remove them.
        let _ = self.tmux(&["kill-server"]);
        let end = Instant::now() + Duration::from_secs(3);
        // SAFETY: kill(2) with signal 0 only checks that the process exists.
        while pids.iter().any(|&p| unsafe { libc::kill(p, 0) } == 0) && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(10));
        }
        remove_sockets(&self.name);
    }
}

/// Removes the socket files a test's tmux server (`-L name`) and its daemon leave behind
/// once they are gone: tmux does not remove its socket when killed, and a daemon killed
/// with SIGKILL cannot remove its API socket.
pub fn remove_sockets(name: &str) {
    let dir = std::env::var_os("TMUX_TMPDIR").map(PathBuf::from).unwrap_or_else(|| "/tmp".into());
    // SAFETY: geteuid(2) cannot fail and touches no memory of ours.
    let uid = unsafe { libc::geteuid() };
    let _ = std::fs::remove_file(dir.join(format!("tmux-{uid}")).join(name));
    let target = ctmuxd::tmux::TmuxTarget::Name(name.to_string());
    let _ = std::fs::remove_file(ctmuxd::api::socket_path(&target));
    // A daemon killed with SIGKILL also leaves its lock file (the lock itself died with it).
    let _ = std::fs::remove_file(ctmuxd::api::lock::lock_path(&target));
}

/// Path of the built `ctmuxd` binary.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_ctmuxd")
}

/// A running `ctmuxd` daemon, stopped (SIGTERM, then SIGKILL) on drop.
pub struct Daemon {
    pub child: Child,
    pub events_dir: PathBuf,
}

impl Daemon {
    /// Starts `ctmuxd --control-mode -L <server> --rules <rules> --events <dir>` plus
    /// `extra` args, and waits for its "ready" record.
    pub fn start(server: &TmuxServer, rules: &str, extra: &[&str]) -> Daemon {
        let rules = server.write_rules(rules);
        let events_dir = server.path("events");
        let is_ready = |e: &Value| {
            e["event"] == "daemon" && e["message"].as_str().unwrap_or("").starts_with("ready")
        };
        // A daemon started earlier in the same test wrote its own "ready": wait for a new one.
        let before =
            read_events(&events_dir.join("events.jsonl")).iter().filter(|e| is_ready(e)).count();
        let child = Command::new(bin())
            .arg("--control-mode")
            .arg("-L")
            .arg(&server.name)
            .arg("--rules")
            .arg(&rules)
            .arg("--events")
            .arg(&events_dir)
            .args(extra)
            .env("RUST_LOG", "ctmuxd=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(server.path("daemon.stderr")).expect("stderr file"))
            .spawn()
            .expect("spawn ctmuxd");
        let mut d = Daemon { child, events_dir };
        let ok = d.wait_until(Duration::from_secs(10), |evs| {
            evs.iter().filter(|e| is_ready(e)).count() > before
        });
        if !ok {
            let _ = d.child.kill();
            panic!(
                "ctmuxd did not become ready; stderr:\n{}",
                std::fs::read_to_string(server.path("daemon.stderr")).unwrap_or_default()
            );
        }
        d
    }

    /// Every record in the event log so far.
    pub fn events(&self) -> Vec<Value> {
        read_events(&self.events_dir.join("events.jsonl"))
    }

    /// Records of kind `kind` (`match`, `action`, ...) for rule `rule`.
    pub fn of(&self, kind: &str, rule: &str) -> Vec<Value> {
        self.events().into_iter().filter(|e| e["event"] == kind && e["rule"] == rule).collect()
    }

    /// Polls the event log until `pred` holds or `timeout` passes (test-side polling only).
    pub fn wait_until(&mut self, timeout: Duration, pred: impl Fn(&[Value]) -> bool) -> bool {
        let end = Instant::now() + timeout;
        loop {
            if pred(&self.events()) {
                return true;
            }
            if Instant::now() > end {
                return false;
            }
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!("ctmuxd exited early with {st}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits (up to 10 s) for the daemon to exit by itself.
    pub fn wait_exit(mut self) -> std::process::ExitStatus {
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st;
            }
            assert!(Instant::now() < end, "ctmuxd did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn stop(mut self) -> std::process::ExitStatus {
        unsafe_kill(self.child.id(), libc::SIGTERM);
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st;
            }
            assert!(Instant::now() < end, "ctmuxd did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            unsafe_kill(self.child.id(), libc::SIGTERM);
            std::thread::sleep(Duration::from_millis(200));
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn unsafe_kill(pid: u32, sig: i32) {
    // SAFETY: kill(2) on our own child's pid has no memory-safety preconditions.
    unsafe {
        libc::kill(pid as i32, sig);
    }
}

/// Parses a JSON-lines event log; a missing file is an empty log.
pub fn read_events(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Waits for a file to exist with content satisfying `pred`.
pub fn wait_file(path: &Path, timeout: Duration, pred: impl Fn(&str) -> bool) -> Option<String> {
    let end = Instant::now() + timeout;
    loop {
        if let Ok(s) = std::fs::read_to_string(path) {
            if pred(&s) {
                return Some(s);
            }
        }
        if Instant::now() > end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A second control client (`tmux -C attach`, no `pause-after`) whose output a thread
/// reads and throws away: it keeps tmux reading the session's panes while the daemon is
/// stopped, so tmux pauses panes for the daemon instead of slowing their programs down.
/// Detached (stdin closed) and reaped on drop.
pub struct DrainClient {
    child: Child,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl DrainClient {
    /// Attaches to `session` of `server`.
    pub fn attach(server: &TmuxServer, session: &str) -> DrainClient {
        let mut child = Command::new("tmux")
            .arg("-L")
            .arg(&server.name)
            .args(["-f", "/dev/null", "-C", "attach-session", "-t", session])
            .env_remove("TMUX")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn tmux -C");
        let mut out = child.stdout.take().expect("stdout");
        let reader = std::thread::spawn(move || {
            let _ = std::io::copy(&mut out, &mut std::io::sink());
        });
        DrainClient { child, reader: Some(reader) }
    }
}

impl Drop for DrainClient {
    fn drop(&mut self) {
        drop(self.child.stdin.take()); // EOF on stdin: tmux detaches the client
        let end = Instant::now() + Duration::from_secs(2);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }
}

/// Sends `sig` to a process (the test's own children only).
pub fn signal(pid: u32, sig: i32) {
    unsafe_kill(pid, sig);
}
