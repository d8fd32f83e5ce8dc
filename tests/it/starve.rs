//! Round two, item 5: API requests must not starve rule firing, and the CLI's `status`
//! and `stop` must still get through while a flood holds the connection cap.
//!
//! Each test floods the daemon's socket from many connections while a pane prints numbered
//! triggers that carry the pane's clock (`date +%s%N`); the latency of a trigger is the
//! event log's `ts_ns` minus that clock.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ctmuxd::tmux::TmuxTarget;

use crate::harness::{bin, Daemon, TmuxServer};

/// One rule; the printed line carries its number and the pane's clock when it was printed.
const RULES: &str = "[[rule]]\nname = \"trig\"\npattern = 'STARVE-(?P<n>\\d+)-(?P<t>\\d+)'\nactions = [ \"log\" ]\n";

/// The daemon's connection cap (`ctmuxd::api::server::MAX_CONNECTIONS`).
const CAP: usize = 128;
/// Numbered triggers the pane prints, one every [`INTERVAL_MS`].
const TRIGGERS: usize = 200;
const INTERVAL_MS: u64 = 30;
/// The bound on the 99th percentile of print → match.
const P99_MAX_NS: u64 = 50_000_000;

fn ctl(server: &TmuxServer, args: &[&str]) -> Output {
    Command::new(bin())
        .arg(args[0])
        .arg("-L")
        .arg(&server.name)
        .args(&args[1..])
        .env_remove("TMUX")
        .stdin(Stdio::null())
        .output()
        .expect("run ctmuxd")
}

/// Counters shared by the flooding threads.
#[derive(Default)]
struct Flood {
    stop: AtomicBool,
    /// Connections that got at least one answer and are still open.
    holding: AtomicUsize,
    /// Answers received (any reply but a `busy` refusal).
    answers: AtomicU64,
    /// Connections refused with `busy`.
    refused: AtomicU64,
}

/// One flooding client: connect, keep `pipeline` copies of `request` in flight until the
/// daemon goes away; when refused, try again a little later.
fn flood_client(path: PathBuf, request: String, pipeline: usize, f: Arc<Flood>) {
    let batch = format!("{request}\n").repeat(pipeline);
    while !f.stop.load(Ordering::SeqCst) {
        let Ok(mut s) = UnixStream::connect(&path) else {
            std::thread::sleep(Duration::from_millis(200));
            continue;
        };
        s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
        let mut rd = BufReader::new(s.try_clone().unwrap());
        let mut held = false;
        let mut line = String::new();
        'conn: while !f.stop.load(Ordering::SeqCst) {
            if s.write_all(batch.as_bytes()).is_err() {
                break;
            }
            for _ in 0..pipeline {
                line.clear();
                match rd.read_line(&mut line) {
                    Ok(n) if n > 0 && line.contains("\"code\":\"busy\"") => {
                        f.refused.fetch_add(1, Ordering::Relaxed);
                        break 'conn;
                    }
                    Ok(n) if n > 0 => {
                        f.answers.fetch_add(1, Ordering::Relaxed);
                        if !held {
                            held = true;
                            f.holding.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    _ => break 'conn,
                }
            }
        }
        if held {
            f.holding.fetch_sub(1, Ordering::SeqCst);
        }
        drop(s);
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn pct(sorted: &[u64], p: f64) -> u64 {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

/// A daemon, a trigger pane waiting for its go, and a flood holding the socket.
struct Scenario {
    server: TmuxServer,
    daemon: Daemon,
    flood: Arc<Flood>,
    threads: Vec<JoinHandle<()>>,
}

/// What the triggers measured.
struct Measured {
    /// Every trigger recorded, each once.
    all_once: bool,
    /// print → match latencies, sorted, ns.
    latencies: Vec<u64>,
    /// Answers the flood got while the triggers ran.
    answers: u64,
}

impl Scenario {
    /// Starts the daemon, `setup` (e.g. a labelled pane), the trigger pane, and `conns`
    /// connections each keeping `pipeline` `request`s in flight; returns once `hold` of
    /// them are being answered.
    fn start(
        conns: usize,
        pipeline: usize,
        request: &str,
        hold: usize,
        setup: impl FnOnce(&TmuxServer),
    ) -> Scenario {
        let server = TmuxServer::alone();
        let daemon = Daemon::start(&server, RULES, &[]);
        let end = Instant::now() + Duration::from_secs(10);
        while !ctl(&server, &["status"]).status.success() {
            assert!(Instant::now() < end, "the control socket never answered");
            std::thread::sleep(Duration::from_millis(50));
        }
        setup(&server);
        server.spawn(&format!(
            "while [ ! -e '{}' ]; do sleep 0.05; done; i=1; while [ $i -le {TRIGGERS} ]; do \
             echo \"STARVE-$i-$(date +%s%N)\"; i=$((i+1)); sleep {}; done; sleep 600",
            server.path("go").display(),
            INTERVAL_MS as f64 / 1000.0
        ));
        let path = ctmuxd::api::socket_path(&TmuxTarget::Name(server.name.clone()));
        let flood = Arc::new(Flood::default());
        let threads = (0..conns)
            .map(|_| {
                let (p, r, f) = (path.clone(), request.to_string(), flood.clone());
                std::thread::Builder::new()
                    .stack_size(64 * 1024)
                    .spawn(move || flood_client(p, r, pipeline, f))
                    .expect("flood thread")
            })
            .collect();
        let end = Instant::now() + Duration::from_secs(60);
        while flood.holding.load(Ordering::SeqCst) < hold {
            assert!(
                Instant::now() < end,
                "the flood never held {hold} connections ({} did)",
                flood.holding.load(Ordering::SeqCst)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Scenario { server, daemon, flood, threads }
    }

    /// Lets the pane print its triggers and waits for them to be recorded (up to 3 min,
    /// so that the figures of a daemon that falls behind are still measured).
    fn triggers(&mut self, what: &str) -> Measured {
        let answers_before = self.flood.answers.load(Ordering::Relaxed);
        std::fs::write(self.server.path("go"), "").unwrap();
        let all = self.daemon.wait_until(Duration::from_secs(180), |evs| {
            evs.iter().filter(|e| e["event"] == "match" && e["rule"] == "trig").count() >= TRIGGERS
        });
        let answers = self.flood.answers.load(Ordering::Relaxed) - answers_before;
        let matches = self.daemon.of("match", "trig");
        let mut numbers: Vec<u64> =
            matches.iter().filter_map(|e| e["captures"]["n"].as_str()?.parse().ok()).collect();
        numbers.sort_unstable();
        let mut latencies: Vec<u64> = matches
            .iter()
            .filter_map(|e| {
                let printed: u64 = e["captures"]["t"].as_str()?.parse().ok()?;
                Some(e["ts_ns"].as_u64()?.saturating_sub(printed))
            })
            .collect();
        latencies.sort_unstable();
        let ms = |ns: u64| ns as f64 / 1e6;
        eprintln!(
            "print -> match under {what}: {} of {TRIGGERS} recorded, p50 {:.2} ms, \
             p99 {:.2} ms, max {:.2} ms; {answers} answers meanwhile, {} connections held, \
             {} refused",
            latencies.len(),
            ms(pct(&latencies, 0.5)),
            ms(pct(&latencies, 0.99)),
            ms(*latencies.last().unwrap_or(&0)),
            self.flood.holding.load(Ordering::SeqCst),
            self.flood.refused.load(Ordering::Relaxed),
        );
        let all_once = all && numbers == (1..=TRIGGERS as u64).collect::<Vec<_>>();
        Measured { all_once, latencies, answers }
    }

    /// Ends the flood (after the daemon is gone or about to be) and joins its threads.
    fn end_flood(self) {
        self.flood.stop.store(true, Ordering::SeqCst);
        drop(self.daemon);
        for t in self.threads {
            t.join().unwrap();
        }
    }
}

fn assert_on_time(m: &Measured) {
    assert!(m.all_once, "every trigger recorded, once each");
    assert!(m.answers > 0, "the flood was answered while the triggers ran");
    let p99 = pct(&m.latencies, 0.99);
    assert!(
        p99 < P99_MAX_NS,
        "trigger print -> match p99 {:.2} ms (must stay under {} ms)",
        p99 as f64 / 1e6,
        P99_MAX_NS / 1_000_000
    );
}

#[test]
fn a_panes_flood_does_not_delay_triggers_and_status_and_stop_still_work() {
    // 200 connections, 128 served, the rest refused and retrying.
    let mut s = Scenario::start(200, 16, r#"{"cmd":"panes"}"#, CAP, |_| {});
    let m = s.triggers("200 connections pipelining panes");
    let held = s.flood.holding.load(Ordering::SeqCst);
    // `status` and `stop` while the flood still holds the cap; then the daemon exits.
    let status = ctl(&s.server, &["status", "--json"]);
    let stop = ctl(&s.server, &["stop"]);
    let stopped = {
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            match s.daemon.child.try_wait() {
                Ok(Some(st)) => break Some(st),
                _ if Instant::now() > end => break None,
                _ => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    };
    s.end_flood();

    assert!(held >= CAP, "the flood held the cap throughout ({held} connections)");
    assert!(
        status.status.success(),
        "status while the cap is full: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    assert!(String::from_utf8_lossy(&status.stdout).contains("\"pid\""));
    assert!(
        stop.status.success(),
        "stop while the cap is full: {}",
        String::from_utf8_lossy(&stop.stderr)
    );
    assert!(stopped.is_some_and(|st| st.success()), "the daemon stopped: {stopped:?}");
    assert_on_time(&m);
}

#[test]
fn a_wait_for_flood_does_not_delay_triggers() {
    // Every request registers a run-time pattern (its own small regex, compiled outside
    // the engine's lock) and drops it at its timeout: none of it may hold up the output path.
    let request =
        r#"{"cmd":"wait_for","label":"sink","pattern":"^never printed [0-9]+$","timeout_ms":10}"#;
    let mut s = Scenario::start(32, 4, request, 32, |server| {
        let o = ctl(server, &["spawn", "--label", "sink", "--", "sleep", "600"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    });
    let m = s.triggers("32 connections pipelining wait_for");
    s.end_flood();
    assert_on_time(&m);
}
