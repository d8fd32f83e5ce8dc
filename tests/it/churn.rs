//! Issue "round two", item 2: session churn while ctmuxd watches every session.
//!
//! tmux 3.3a .. 3.5a crash when a session is created or closed while a new control
//! client is between its first identify message and the last (`control_write` on a
//! client whose control state does not exist yet). ctmuxd starts one control client
//! per session, so churn used to kill the user's server.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::harness::{Daemon, TmuxServer};

/// Creates and kills `total` sessions, `at_once` at a time, as fast as tmux takes it.
fn churn(server: &TmuxServer, total: usize, at_once: usize) {
    for batch in 0..total / at_once {
        let names: Vec<String> =
            (0..at_once).map(|k| format!("churn{}", batch * at_once + k)).collect();
        for n in &names {
            let _ = server.tmux(&["new-session", "-d", "-s", n, "sleep 30"]);
        }
        std::thread::sleep(Duration::from_millis(20));
        for n in &names {
            let _ = server.tmux(&["kill-session", "-t", n]);
        }
    }
}

#[test]
fn session_churn_keeps_tmux_alive_and_fires_every_stable_trigger_once() {
    let server = TmuxServer::new();
    let rules = "[[rule]]\nname = \"stable\"\npattern = '^STABLE (\\d+)$'\nactions = [\"log\"]\n";
    let mut d = Daemon::start(&server, rules, &[]);
    let n = 60;
    server.spawn(&format!(
        "i=0; while [ $i -lt {n} ]; do echo \"STABLE $i\"; i=$((i+1)); sleep 0.1; done; sleep 60"
    ));
    let start = Instant::now();
    churn(&server, 50, 5);
    let churn_time = start.elapsed();
    let alive = server.tmux(&["has-session", "-t", "main"]).status.success();
    assert!(alive, "the tmux server died during the churn");
    assert!(
        d.wait_until(Duration::from_secs(20), |e| e
            .iter()
            .filter(|e| e["event"] == "match" && e["rule"] == "stable")
            .count()
            >= n),
        "not every stable trigger fired: {} of {n}",
        d.of("match", "stable").len()
    );
    std::thread::sleep(Duration::from_millis(300));
    let mut seen: HashMap<String, usize> = HashMap::new();
    for e in d.of("match", "stable") {
        *seen.entry(e["line"].as_str().unwrap().to_string()).or_default() += 1;
    }
    for i in 0..n {
        assert_eq!(seen.get(&format!("STABLE {i}")), Some(&1), "STABLE {i}: {seen:?}");
    }
    assert!(server.tmux(&["has-session", "-t", "main"]).status.success(), "tmux died afterwards");
    println!("churn of 50 sessions took {} ms; tmux alive", churn_time.as_millis());
}
