//! Round two, item 5: API requests that go to tmux must not starve rule firing, and the
//! CLI's `status` and `stop` must still get through while a flood holds the connection cap.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ctmuxd::tmux::TmuxTarget;

use crate::harness::{bin, Daemon, TmuxServer};

/// One rule; the printed line carries its number and the pane's clock when it was printed.
const RULES: &str = "[[rule]]\nname = \"trig\"\npattern = 'STARVE-(?P<n>\\d+)-(?P<t>\\d+)'\nactions = [ \"log\" ]\n";

/// Connections flooding `panes` (more than the daemon's cap of 128).
const FLOOD: usize = 200;
/// `panes` requests each flooding connection keeps in flight.
const PIPELINE: usize = 16;
/// Numbered triggers the pane prints, one every [`INTERVAL_MS`].
const TRIGGERS: usize = 100;
const INTERVAL_MS: u64 = 50;

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
    /// Connections that got at least one `panes` answer and are still open.
    holding: AtomicUsize,
    /// `panes` answers received.
    answers: AtomicU64,
    /// Connections refused (an error line, then the close).
    refused: AtomicU64,
}

/// One flooding client: connect, keep [`PIPELINE`] `panes` requests in flight until the
/// daemon goes away; when refused, try again a little later.
fn flood_client(path: std::path::PathBuf, f: Arc<Flood>) {
    let batch = "{\"cmd\":\"panes\"}\n".repeat(PIPELINE);
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
            for _ in 0..PIPELINE {
                line.clear();
                match rd.read_line(&mut line) {
                    Ok(n) if n > 0 && line.starts_with("{\"ok\":true") => {
                        f.answers.fetch_add(1, Ordering::Relaxed);
                        if !held {
                            held = true;
                            f.holding.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    Ok(n) if n > 0 => {
                        f.refused.fetch_add(1, Ordering::Relaxed);
                        break 'conn;
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

#[test]
fn a_panes_flood_does_not_delay_triggers_and_status_and_stop_still_work() {
    let server = TmuxServer::new();
    let d = Daemon::start(&server, RULES, &[]);
    let end = Instant::now() + Duration::from_secs(10);
    while !ctl(&server, &["status"]).status.success() {
        assert!(Instant::now() < end, "the control socket never answered");
        std::thread::sleep(Duration::from_millis(50));
    }
    let go = server.path("go");
    server.spawn(&format!(
        "while [ ! -e '{}' ]; do sleep 0.05; done; i=1; while [ $i -le {TRIGGERS} ]; do \
         echo \"STARVE-$i-$(date +%s%N)\"; i=$((i+1)); sleep {}; done; sleep 600",
        go.display(),
        INTERVAL_MS as f64 / 1000.0
    ));

    let path = ctmuxd::api::socket_path(&TmuxTarget::Name(server.name.clone()));
    let flood = Arc::new(Flood::default());
    let threads: Vec<_> = (0..FLOOD)
        .map(|_| {
            let (p, f) = (path.clone(), flood.clone());
            std::thread::Builder::new()
                .stack_size(64 * 1024)
                .spawn(move || flood_client(p, f))
                .expect("flood thread")
        })
        .collect();
    // The flood holds the cap before the first trigger is printed.
    let end = Instant::now() + Duration::from_secs(60);
    while flood.holding.load(Ordering::SeqCst) < 128 {
        assert!(
            Instant::now() < end,
            "the flood never held 128 connections ({} did)",
            flood.holding.load(Ordering::SeqCst)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let answers_before = flood.answers.load(Ordering::Relaxed);
    std::fs::write(&go, "").unwrap();

    let mut d = d;
    let all = d.wait_until(Duration::from_secs(180), |evs| {
        evs.iter().filter(|e| e["event"] == "match" && e["rule"] == "trig").count() >= TRIGGERS
    });
    let answers = flood.answers.load(Ordering::Relaxed) - answers_before;
    let held = flood.holding.load(Ordering::SeqCst);
    // `status` while the flood still holds the cap.
    let status = ctl(&server, &["status", "--json"]);

    let matches = d.of("match", "trig");
    let mut numbers: Vec<u64> =
        matches.iter().filter_map(|e| e["captures"]["n"].as_str()?.parse().ok()).collect();
    numbers.sort_unstable();
    numbers.dedup();
    let mut lat: Vec<u64> = matches
        .iter()
        .filter_map(|e| {
            let printed: u64 = e["captures"]["t"].as_str()?.parse().ok()?;
            Some(e["ts_ns"].as_u64()?.saturating_sub(printed))
        })
        .collect();
    lat.sort_unstable();
    let ms = |ns: u64| ns as f64 / 1e6;
    eprintln!(
        "print -> match under a {FLOOD}-connection panes flood: {} of {TRIGGERS} recorded, \
         p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; {answers} panes answers meanwhile, \
         {held} connections held, {} refused",
        lat.len(),
        ms(pct(&lat, 0.5)),
        ms(pct(&lat, 0.99)),
        ms(*lat.last().unwrap_or(&0)),
        flood.refused.load(Ordering::Relaxed),
    );

    assert!(held >= 128, "the flood no longer held the cap ({held} connections)");
    assert!(
        status.status.success(),
        "status while the cap is full: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    assert!(String::from_utf8_lossy(&status.stdout).contains("\"pid\""));
    // `stop` while the cap is full, then the daemon exits.
    let stop = ctl(&server, &["stop"]);
    assert!(
        stop.status.success(),
        "stop while the cap is full: {}",
        String::from_utf8_lossy(&stop.stderr)
    );
    flood.stop.store(true, Ordering::SeqCst);
    let st = d.wait_exit();
    assert!(st.success(), "{st}");
    for t in threads {
        t.join().unwrap();
    }

    assert!(all, "not every trigger was recorded");
    assert_eq!(numbers, (1..=TRIGGERS as u64).collect::<Vec<_>>(), "each trigger once");
    assert!(answers > 0, "the flood was answered while the triggers ran");
    assert!(
        pct(&lat, 0.99) < 50_000_000,
        "trigger print -> match p99 {:.2} ms (must stay under 50 ms)",
        ms(pct(&lat, 0.99))
    );
}
