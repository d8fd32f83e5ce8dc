//! "Reliability and security, round two": a client that trusts any socket, an event log
//! torn by a full disk, rules files that hang the daemon, a relative `spawn` cwd, and two
//! daemons on one tmux server. Each test drives the real binary against a real tmux.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{bin, read_events, Daemon, TmuxServer};

/// What a command run with [`run_limited`] did.
struct Ran {
    /// `None`: still running at the limit (then killed).
    status: Option<ExitStatus>,
    stderr: String,
    elapsed: Duration,
}

/// Runs `cmd` (stdin from /dev/null, output to files in `dir`), killing it after `limit`.
fn run_limited(cmd: &mut Command, dir: &Path, limit: Duration) -> Ran {
    let err_path = dir.join(format!("limited-{}.stderr", Instant::now().elapsed().as_nanos()));
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(File::create(&err_path).expect("stderr file"))
        .spawn()
        .expect("spawn");
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break Some(st);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let elapsed = start.elapsed();
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    let _ = std::fs::remove_file(&err_path);
    Ran { status, stderr, elapsed }
}

fn is_root() -> bool {
    // SAFETY: geteuid(2) has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo {}", path.display());
}

/// The control socket of the daemon serving `server` (as the daemon computes it).
fn socket(server: &TmuxServer) -> PathBuf {
    ctmuxd::api::socket_path(&ctmuxd::tmux::TmuxTarget::Name(server.name.clone()))
}

/// One request over the daemon's socket, one reply.
fn request(server: &TmuxServer, line: &str) -> Value {
    let mut s = UnixStream::connect(socket(server)).expect("connect to the daemon");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(line.as_bytes()).unwrap();
    s.write_all(b"\n").unwrap();
    let mut reply = String::new();
    BufReader::new(s).read_line(&mut reply).unwrap();
    serde_json::from_str(&reply).unwrap_or_else(|e| panic!("reply not JSON ({e}): {reply}"))
}

/// Waits until the daemon's socket answers `status`.
fn wait_api(server: &TmuxServer) {
    let end = Instant::now() + Duration::from_secs(10);
    while UnixStream::connect(socket(server)).is_err() {
        assert!(Instant::now() < end, "the control socket never answered");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A process started by the test (a daemon, a listener), killed on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            // SAFETY: kill(2) on our own child.
            unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
            std::thread::sleep(Duration::from_millis(300));
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

// ---------------------------------------------------------------------------------------
// Item 7: rules files that are not regular files, or too big, or turn into a FIFO.

#[test]
fn rules_that_are_not_small_regular_files_are_refused_at_start() {
    let server = TmuxServer::new();
    let fifo = server.path("rules.fifo");
    mkfifo(&fifo);
    let big = server.path("big.toml");
    // Sparse: 17 MiB long, nothing on disk.
    File::create(&big).unwrap().set_len(17 << 20).unwrap();
    let cases: [(&Path, &str); 3] = [
        (&fifo, "not a regular file"),
        (Path::new("/dev/zero"), "not a regular file"),
        (&big, "16 MiB"),
    ];
    for (path, why) in cases {
        let mut cmd = Command::new(bin());
        cmd.args(["--control-mode", "-L", &server.name, "--rules"])
            .arg(path)
            .arg("--events")
            .arg(server.path("events"));
        // SAFETY: setrlimit only, between fork and exec: a loader that reads /dev/zero
        // to the end must hit a wall, not the machine's memory.
        unsafe {
            cmd.pre_exec(|| {
                let lim = libc::rlimit { rlim_cur: 2 << 30, rlim_max: 2 << 30 };
                libc::setrlimit(libc::RLIMIT_AS, &lim);
                Ok(())
            });
        }
        let ran = run_limited(&mut cmd, server.dir.path(), Duration::from_secs(5));
        println!("--rules {}: refused in {:?}", path.display(), ran.elapsed);
        assert_eq!(
            ran.status.and_then(|s| s.code()),
            Some(2),
            "{}: {}",
            path.display(),
            ran.stderr
        );
        assert!(ran.elapsed < Duration::from_secs(1), "{}: took {:?}", path.display(), ran.elapsed);
        assert!(
            ran.stderr.contains(&path.display().to_string()) && ran.stderr.contains(why),
            "{}: expected the file and {why:?} in: {}",
            path.display(),
            ran.stderr
        );
    }
    assert!(!server.path("events").join("events.jsonl").exists(), "nothing started");
}

#[test]
fn reload_of_a_rules_file_turned_fifo_fails_and_matching_goes_on() {
    let server = TmuxServer::new();
    let rules = "[[rule]]\nname = \"t\"\npattern = '^AFTER RELOAD (\\d+)$'\nactions = [\"log\"]\n";
    let mut d = Daemon::start(&server, rules, &[]);
    wait_api(&server);
    let path = server.path("rules.toml");
    std::fs::remove_file(&path).unwrap();
    mkfifo(&path);
    let mut cmd = Command::new(bin());
    cmd.args(["reload", "-L", &server.name]);
    let ran = run_limited(&mut cmd, server.dir.path(), Duration::from_secs(15));
    println!("reload of a FIFO answered in {:?}: {}", ran.elapsed, ran.stderr.trim());
    assert_eq!(ran.status.and_then(|s| s.code()), Some(2), "{}", ran.stderr);
    assert!(ran.elapsed < Duration::from_secs(2), "took {:?}", ran.elapsed);
    assert!(ran.stderr.contains(&path.display().to_string()), "{}", ran.stderr);
    assert!(ran.stderr.contains("not a regular file"), "{}", ran.stderr);
    assert!(ran.stderr.contains("old rules stay in force"), "{}", ran.stderr);
    // The daemon still matches with the old rules.
    server.spawn("echo 'AFTER RELOAD 1'; sleep 30");
    assert!(
        d.wait_until(Duration::from_secs(10), |e| e
            .iter()
            .any(|e| e["rule"] == "t" && e["line"] == "AFTER RELOAD 1")),
        "a trigger printed after the failed reload did not fire: {:#?}",
        d.events()
    );
    assert_eq!(request(&server, r#"{"cmd":"status"}"#)["ok"], true);
}

// ---------------------------------------------------------------------------------------
// Item 11: relative spawn cwd; one daemon per tmux server.

#[test]
fn spawn_with_a_relative_cwd_is_a_bad_request() {
    let server = TmuxServer::new();
    let _d = Daemon::start(
        &server,
        "[[rule]]\nname = \"q\"\npattern = '^NEVER-9f3c$'\nactions = [\"log\"]\n",
        &[],
    );
    wait_api(&server);
    let reply = request(
        &server,
        r#"{"cmd":"spawn","label":"relcwd","command":["sleep","30"],"cwd":"some/relative/dir"}"#,
    );
    assert_eq!(reply["ok"], false, "{reply}");
    assert_eq!(reply["error"]["code"], "bad_request", "{reply}");
    let msg = reply["error"]["message"].as_str().unwrap();
    assert!(msg.contains("absolute") && msg.contains("some/relative/dir"), "{msg}");
    let panes = request(&server, r#"{"cmd":"panes"}"#);
    assert!(panes["panes"].as_array().unwrap().iter().all(|p| p["label"] != "relcwd"), "{panes}");
    // An absolute one is still accepted.
    let ok =
        request(&server, r#"{"cmd":"spawn","label":"abscwd","command":["sleep","30"],"cwd":"/"}"#);
    assert_eq!(ok["ok"], true, "{ok}");
}

#[test]
fn one_daemon_per_tmux_server_whatever_the_mode() {
    let server = TmuxServer::new();
    let rules = "[[rule]]\nname = \"t\"\npattern = '^TWICE (\\d+)$'\nactions = [\"log\"]\n";
    let d = Daemon::start(&server, rules, &[]);
    let rules_path = server.path("rules.toml");
    let daemon = |mode: &str, events: &str| {
        let mut c = Command::new(bin());
        c.args([mode, "-L", &server.name, "--rules"])
            .arg(&rules_path)
            .arg("--events")
            .arg(server.path(events));
        c
    };
    // A polling daemon beside the control-mode one is refused.
    let ran = run_limited(
        &mut daemon("--poll", "events-poll"),
        server.dir.path(),
        Duration::from_secs(8),
    );
    println!("second daemon (--poll) refused in {:?}: {}", ran.elapsed, ran.stderr.trim());
    assert_eq!(ran.status.and_then(|s| s.code()), Some(1), "{}", ran.stderr);
    assert!(ran.stderr.contains(&format!("pid {}", d.child.id())), "{}", ran.stderr);
    assert!(read_events(&server.path("events-poll").join("events.jsonl")).is_empty());
    assert!(d.stop().success());

    // And the other way round: a control-mode daemon beside a polling one.
    let events = server.path("events-poll2").join("events.jsonl");
    let poll = Proc(
        daemon("--poll", "events-poll2")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let end = Instant::now() + Duration::from_secs(10);
    while !read_events(&events)
        .iter()
        .any(|e| e["message"].as_str().unwrap_or("").starts_with("ready"))
    {
        assert!(Instant::now() < end, "the polling daemon never got ready");
        std::thread::sleep(Duration::from_millis(20));
    }
    let ran = run_limited(
        &mut daemon("--control-mode", "events-second"),
        server.dir.path(),
        Duration::from_secs(8),
    );
    println!("second daemon (control mode) refused in {:?}: {}", ran.elapsed, ran.stderr.trim());
    assert_eq!(ran.status.and_then(|s| s.code()), Some(1), "{}", ran.stderr);
    assert!(ran.stderr.contains(&format!("pid {}", poll.0.id())), "{}", ran.stderr);
    // The polling daemon serves the API too: status, and `stop` as the message says.
    let ctl = |args: &[&str]| {
        Command::new(bin()).args(args).arg("-L").arg(&server.name).output().unwrap()
    };
    let status = ctl(&["status", "--json"]);
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["mode"], "poll", "{status}");
    assert_eq!(status["pid"], poll.0.id(), "{status}");
    let panes = ctl(&["panes"]);
    assert_eq!(panes.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&panes.stderr).contains("control mode"));
    assert!(ctl(&["stop"]).status.success());
    let mut poll = poll;
    let end = Instant::now() + Duration::from_secs(10);
    while poll.0.try_wait().unwrap().is_none() {
        assert!(Instant::now() < end, "`ctmuxd stop` did not stop the polling daemon");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(poll.0.try_wait().unwrap().unwrap().success());
    let lock = socket(&server).with_extension("lock");
    assert!(!lock.exists(), "{} left behind", lock.display());
}

// ---------------------------------------------------------------------------------------
// Item 6: a full disk under the event log.

/// A tmpfs mounted on a directory of the test's own, unmounted on drop.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let ok = Command::new("umount").arg(&self.0).status().is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
}

fn free_bytes(dir: &Path) -> u64 {
    let c = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: statvfs fills the struct we pass.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::statvfs(c.as_ptr(), &mut st) }, 0);
    st.f_bavail * st.f_bsize
}

fn fill_matches(server: &TmuxServer) -> u64 {
    let rules = request(server, r#"{"cmd":"rules"}"#);
    rules["rules"].as_array().unwrap().iter().find(|r| r["name"] == "fill").unwrap()["matches"]
        .as_u64()
        .unwrap()
}

#[test]
fn a_full_disk_loses_whole_records_and_counts_them() {
    if !is_root() {
        println!("SKIPPED: mounting a tmpfs needs root");
        return;
    }
    let server = TmuxServer::new();
    let events = server.path("events");
    std::fs::create_dir(&events).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m,mode=0700", "ctmuxd-it"])
        .arg(&events)
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        println!("SKIPPED: cannot mount a tmpfs here");
        return;
    }
    let _mount = Mount(events.clone());
    let rules = "[[rule]]\nname = \"fill\"\npattern = '^FILL (\\d+) x+$'\nactions = [\"log\"]\n";
    let mut d = Daemon::start(&server, rules, &[]);
    wait_api(&server);
    // Leave about 160 KiB: room for some of the records to come, not for all.
    let filler = events.join("filler");
    let spare = free_bytes(&events).saturating_sub(160 << 10);
    std::fs::write(&filler, vec![0u8; spare as usize]).unwrap();
    let (first, more) = (800u64, 30u64);
    let (go1, go2) = (server.path("go1"), server.path("go2"));
    server.spawn(&format!(
        "x=$(printf '%0400d' 0 | tr 0 x); \
         while [ ! -e {g1} ]; do sleep 0.05; done; \
         i=0; while [ $i -lt {first} ]; do printf 'FILL %d %s\\n' $i $x; i=$((i+1)); done; \
         while [ ! -e {g2} ]; do sleep 0.05; done; \
         while [ $i -lt {total} ]; do printf 'FILL %d %s\\n' $i $x; i=$((i+1)); done; sleep 60",
        g1 = go1.display(),
        g2 = go2.display(),
        total = first + more
    ));
    File::create(&go1).unwrap();
    let end = Instant::now() + Duration::from_secs(30);
    while fill_matches(&server) < first {
        assert!(Instant::now() < end, "only {} of {first} lines matched", fill_matches(&server));
        std::thread::sleep(Duration::from_millis(50));
    }
    // Space comes back; more records follow.
    std::fs::remove_file(&filler).unwrap();
    File::create(&go2).unwrap();
    let log = events.join("events.jsonl");
    let last = format!("FILL {} ", first + more - 1);
    assert!(
        d.wait_until(Duration::from_secs(30), |e| e
            .iter()
            .any(|e| e["line"].as_str().is_some_and(|l| l.starts_with(&last)))),
        "the last record never arrived"
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.ends_with('\n'), "the log ends in a torn record");
    let mut written = 0u64;
    let mut lost = 0u64;
    let mut lost_records = 0;
    for (n, line) in text.lines().enumerate() {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("line {} is not JSON ({e}): {:.120}", n + 1, line));
        if v["event"] == "match" && v["rule"] == "fill" {
            written += 1;
        }
        if v["event"] == "events_lost" {
            lost += v["count"].as_u64().expect("events_lost has a count");
            lost_records += 1;
        }
    }
    println!("{written} records written, {lost} lost ({lost_records} events_lost record(s))");
    assert!(lost > 0, "the disk never filled up");
    assert_eq!(written + lost, first + more, "written + lost = total");
    let status = request(&server, r#"{"cmd":"status"}"#);
    assert_eq!(status["status"]["events_lost"], lost, "{status}");
}

// ---------------------------------------------------------------------------------------
// Item 4: the client must not trust a socket another user planted.

/// A local user created for the test, deleted on drop.
struct TempUser {
    name: String,
    uid: u32,
    gid: u32,
}

impl TempUser {
    fn new(tag: &str) -> TempUser {
        let name = format!("ctit{tag}{}", std::process::id());
        let ok = Command::new("useradd")
            .args(["-M", "-s", "/usr/sbin/nologin", &name])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "useradd {name} failed");
        let id = |flag: &str| -> u32 {
            let out = Command::new("id").args([flag, &name]).output().unwrap();
            String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
        };
        TempUser { uid: id("-u"), gid: id("-g"), name }
    }
}

impl Drop for TempUser {
    fn drop(&mut self) {
        let _ = Command::new("userdel").arg(&self.name).stderr(Stdio::null()).status();
    }
}

/// A directory removed (with its contents) on drop.
struct RemoveDir(PathBuf);

impl Drop for RemoveDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Environment of the planted-listener helper (this test binary re-run as another user).
const PLANT_SOCKET: &str = "CTMUXD_IT_PLANT_SOCKET";
const PLANT_COUNT: &str = "CTMUXD_IT_PLANT_COUNT";

/// Not a test: the listener another user plants, run by
/// `the_client_refuses_a_socket_planted_by_another_user` as that user. It accepts
/// connections, counts every byte received into a file and answers forged replies.
#[test]
#[ignore = "helper process for the_client_refuses_a_socket_planted_by_another_user"]
fn planted_listener() {
    let (Some(sock), Some(count)) = (std::env::var_os(PLANT_SOCKET), std::env::var_os(PLANT_COUNT))
    else {
        return;
    };
    std::thread::spawn(|| {
        std::thread::sleep(Duration::from_secs(60));
        std::process::exit(0);
    });
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o777)).unwrap();
    std::fs::write(&count, "0").unwrap();
    let mut total = 0usize;
    for conn in listener.incoming() {
        let Ok(mut conn) = conn else { continue };
        conn.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
        let mut buf = [0u8; 4096];
        let mut got = Vec::new();
        while let Ok(n) = conn.read(&mut buf) {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
            total += n;
            std::fs::write(&count, total.to_string()).unwrap();
            if got.contains(&b'\n') {
                let _ = conn.write_all(
                    b"{\"ok\":true,\"matched\":null,\"status\":{\"pid\":1,\"tmux\":\"forged\",\"sessions\":[],\"panes\":0,\"rules\":0,\"uptime_s\":0,\"events_path\":\"/forged\",\"mode\":\"control\"}}\n",
                );
                got.clear();
            }
        }
    }
}

#[test]
fn the_client_refuses_a_socket_planted_by_another_user() {
    if !is_root() {
        println!("SKIPPED: creating users needs root");
        return;
    }
    let server = TmuxServer::new();
    let victim = TempUser::new("v");
    let attacker = TempUser::new("a");
    // The victim has no XDG_RUNTIME_DIR: its client looks in /tmp/ctmuxd-<uid>/, which
    // the attacker created first, open to everyone, with a listener in it.
    let planted = PathBuf::from(format!("/tmp/ctmuxd-{}", victim.uid));
    assert!(!planted.exists(), "{} exists already", planted.display());
    std::fs::create_dir(&planted).unwrap();
    let _planted_guard = RemoveDir(planted.clone());
    std::os::unix::fs::chown(&planted, Some(attacker.uid), Some(attacker.gid)).unwrap();
    std::fs::set_permissions(&planted, std::fs::Permissions::from_mode(0o755)).unwrap();
    let sock = planted.join(format!("L-{}.sock", server.name));
    let count = planted.join("bytes-received");
    let listener = Proc(
        Command::new(std::env::current_exe().unwrap())
            .args(["security::planted_listener", "--exact", "--ignored", "--nocapture"])
            .env(PLANT_SOCKET, &sock)
            .env(PLANT_COUNT, &count)
            .uid(attacker.uid)
            .gid(attacker.gid)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let end = Instant::now() + Duration::from_secs(10);
    while !count.exists() {
        assert!(Instant::now() < end, "the planted listener did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let received = || std::fs::read_to_string(&count).unwrap_or_default().trim().to_string();

    // 1. The victim's client, the directory belonging to someone else.
    for args in [
        vec!["send", "-L", &server.name, "repl", "--", "SECRET-PASSWORD"],
        vec!["status", "-L", &server.name],
    ] {
        let mut cmd = Command::new(bin());
        cmd.args(&args)
            .env_remove("XDG_RUNTIME_DIR")
            .env_remove("TMUX")
            .uid(victim.uid)
            .gid(victim.gid);
        let ran = run_limited(&mut cmd, server.dir.path(), Duration::from_secs(10));
        println!("victim `{}` refused in {:?}: {}", args[0], ran.elapsed, ran.stderr.trim());
        assert_eq!(received(), "0", "bytes reached the planted listener");
        assert_eq!(ran.status.and_then(|s| s.code()), Some(1), "{}", ran.stderr);
        assert!(ran.elapsed < Duration::from_secs(1), "took {:?}", ran.elapsed);
        assert!(ran.stderr.contains(&planted.display().to_string()), "{}", ran.stderr);
        assert!(ran.stderr.contains(&format!("uid {}", attacker.uid)), "{}", ran.stderr);
    }

    // 2. A private directory of ours, but the process listening on the socket is not
    // ours (root's client: file modes alone would not stop it).
    let xdg = server.path("xdg");
    std::fs::create_dir_all(xdg.join("ctmuxd")).unwrap();
    std::fs::set_permissions(xdg.join("ctmuxd"), std::fs::Permissions::from_mode(0o700)).unwrap();
    let ours = xdg.join("ctmuxd").join(format!("L-{}.sock", server.name));
    std::fs::hard_link(&sock, &ours).unwrap();
    let mut cmd = Command::new(bin());
    cmd.args(["send", "-L", &server.name, "repl", "--", "SECRET-PASSWORD"])
        .env("XDG_RUNTIME_DIR", &xdg)
        .env_remove("TMUX");
    let ran = run_limited(&mut cmd, server.dir.path(), Duration::from_secs(10));
    println!(
        "root's `send` to a foreign listener refused in {:?}: {}",
        ran.elapsed,
        ran.stderr.trim()
    );
    assert_eq!(received(), "0", "bytes reached the planted listener");
    assert_eq!(ran.status.and_then(|s| s.code()), Some(1), "{}", ran.stderr);
    assert!(ran.elapsed < Duration::from_secs(1), "took {:?}", ran.elapsed);
    assert!(ran.stderr.contains(&ours.display().to_string()), "{}", ran.stderr);
    assert!(ran.stderr.contains(&format!("uid {}", attacker.uid)), "{}", ran.stderr);
    drop(listener);
}
