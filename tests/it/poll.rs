//! Polling mode (`ctmuxd --poll`) against a real tmux, through `ctmuxd::poll::run` in the
//! test process with its own shutdown future: new lines fire once however many polls see
//! them, bursts longer than the capture depth, repeated lines, clears, the baseline,
//! prompts, exits, and pane actions refused.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ctmuxd::daemon::{DaemonError, DaemonExit};
use ctmuxd::poll::{self, PollOptions};
use ctmuxd::tmux::TmuxTarget;
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::harness::{read_events, TmuxServer};

/// `poll::run` on a task, stopped through its shutdown future.
struct Poller {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<DaemonExit, DaemonError>>,
    log: PathBuf,
}

impl Poller {
    /// Starts polling `server` every `interval` with `rules`; waits for the ready record.
    async fn start(server: &TmuxServer, rules: &str, interval: Duration) -> Poller {
        let path = server.write_rules(rules);
        let opts = PollOptions {
            target: TmuxTarget::Name(server.name.clone()),
            session: None,
            rules: ctmuxd::rules::load(&path).expect("rules"),
            events_dir: server.path("events"),
            interval,
            shutdown_grace: Duration::from_secs(2),
        };
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(poll::run(opts, async {
            let _ = rx.await;
        }));
        let p = Poller { stop: Some(tx), task, log: server.path("events").join("events.jsonl") };
        assert!(
            p.wait_until(Duration::from_secs(10), |e| e.iter().any(|e| {
                e["event"] == "daemon" && e["message"].as_str().unwrap_or("").starts_with("ready")
            }))
            .await,
            "poll mode did not become ready: {:?}",
            p.events()
        );
        p
    }

    fn events(&self) -> Vec<Value> {
        read_events(&self.log)
    }

    fn matches(&self, rule: &str) -> Vec<Value> {
        self.events().into_iter().filter(|e| e["event"] == "match" && e["rule"] == rule).collect()
    }

    async fn wait_until(&self, timeout: Duration, pred: impl Fn(&[Value]) -> bool) -> bool {
        let end = Instant::now() + timeout;
        loop {
            if pred(&self.events()) {
                return true;
            }
            if Instant::now() > end || self.task.is_finished() {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn wait_matches(&self, rule: &str, n: usize) -> Vec<Value> {
        self.wait_until(Duration::from_secs(15), |e| {
            e.iter().filter(|e| e["event"] == "match" && e["rule"] == rule).count() >= n
        })
        .await;
        self.matches(rule)
    }

    async fn stop(mut self) -> DaemonExit {
        let _ = self.stop.take().expect("running").send(());
        tokio::time::timeout(Duration::from_secs(10), &mut self.task)
            .await
            .expect("poll mode stops on its shutdown future")
            .expect("task")
            .expect("poll::run")
    }
}

const FAST: Duration = Duration::from_millis(100);

fn rule(name: &str, pattern: &str) -> String {
    format!("[[rule]]\nname = \"{name}\"\npattern = '{pattern}'\nactions = [\"log\"]\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trigger_fires_once_across_many_polls_with_mode_poll() {
    let server = TmuxServer::new();
    let p = Poller::start(&server, &rule("t", r"TRIGGER: (?P<w>\w+)"), FAST).await;
    let pane = server.spawn("echo 'TRIGGER: once'; sleep 30");
    p.wait_matches("t", 1).await;
    tokio::time::sleep(Duration::from_millis(1500)).await; // ~15 more polls
    let m = p.matches("t");
    assert_eq!(m.len(), 1, "{m:?}");
    assert_eq!(m[0]["line"], "TRIGGER: once");
    assert_eq!(m[0]["pane"], pane.as_str());
    assert_eq!(m[0]["mode"], "poll");
    assert_eq!(m[0]["captures"]["w"], "once");
    assert!(p.events().iter().filter(|e| e["event"] == "daemon").all(|e| e["mode"] == "poll"));
    assert_eq!(p.stop().await, DaemonExit::Stopped);
    let last = read_events(&server.path("events").join("events.jsonl"));
    assert_eq!(last.last().unwrap()["message"], "stopping: signal");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_present_at_start_does_not_fire() {
    let server = TmuxServer::new();
    server.spawn("echo 'TRIGGER: old'; printf 'TRIGGER: partial'; sleep 2; echo; echo 'TRIGGER: new'; sleep 30");
    std::thread::sleep(Duration::from_millis(300));
    let p = Poller::start(&server, &rule("t", r"TRIGGER: \w+"), FAST).await;
    p.wait_matches("t", 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let lines: Vec<Value> = p.matches("t").into_iter().map(|e| e["line"].clone()).collect();
    // The line that was being written at start ends after it; like control mode, only
    // what was printed after the start is seen, so it does not match the rule.
    assert_eq!(lines, vec![Value::from("TRIGGER: new")]);
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bursts_longer_than_the_capture_fire_every_line_once() {
    let server = TmuxServer::new();
    // Default ring_lines 50: 100 rows captured per poll, far fewer than a burst.
    let p =
        Poller::start(&server, &rule("n", r"^SEQ (?P<n>\d+)$"), Duration::from_millis(400)).await;
    server.spawn(
        "echo start; sleep 1; seq -f 'SEQ %g' 0 199; sleep 1; seq -f 'SEQ %g' 200 399; \
         sleep 1; seq -f 'SEQ %g' 400 1299; sleep 30",
    );
    let m = p.wait_matches("n", 1300).await;
    tokio::time::sleep(Duration::from_millis(900)).await;
    let m2 = p.matches("n");
    assert_eq!(m.len(), m2.len(), "no late duplicates");
    let mut seen: HashMap<u64, usize> = HashMap::new();
    for e in &m2 {
        *seen.entry(e["captures"]["n"].as_str().unwrap().parse().unwrap()).or_default() += 1;
    }
    let missing: Vec<u64> = (0..1300).filter(|n| !seen.contains_key(n)).collect();
    let twice: Vec<u64> = seen.iter().filter(|(_, c)| **c > 1).map(|(n, _)| *n).collect();
    assert!(missing.is_empty() && twice.is_empty(), "missing {missing:?}, twice {twice:?}");
    assert!(!p.events().iter().any(|e| e["event"] == "skipped"), "nothing was lost");
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_beyond_the_history_limit_are_reported_skipped() {
    let server = TmuxServer::new();
    server.tmux_ok(&["set-option", "-g", "history-limit", "100"]);
    let p =
        Poller::start(&server, &rule("n", r"^SEQ (?P<n>\d+)$"), Duration::from_millis(500)).await;
    server.spawn("echo start; sleep 1; seq -f 'SEQ %g' 0 999; sleep 30");
    assert!(
        p.wait_until(Duration::from_secs(10), |e| e.iter().any(|e| e["event"] == "skipped")).await,
        "{:?}",
        p.events()
    );
    let m = p.wait_matches("n", 130).await;
    // What tmux still held (history 100 rows + the 40-row screen) fired, once each.
    let mut n: Vec<u64> =
        m.iter().map(|e| e["captures"]["n"].as_str().unwrap().parse().unwrap()).collect();
    n.sort();
    n.dedup();
    assert_eq!(n.len(), m.len(), "no duplicates");
    assert_eq!(n.last(), Some(&999));
    assert!(n.len() < 1000);
    let skipped = p.events().into_iter().find(|e| e["event"] == "skipped").unwrap();
    assert_eq!(skipped["mode"], "poll");
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_identical_lines_each_fire() {
    let server = TmuxServer::new();
    let p = Poller::start(&server, &rule("dup", "^DUP$"), FAST).await;
    // 3, then 2, then 60 (more than the screen: the capture is all DUP), then 1, then 3
    // one poll apart: 69 in all.
    server.spawn(
        "echo DUP; echo DUP; echo DUP; sleep 0.5; echo DUP; echo DUP; sleep 0.5; \
         i=0; while [ $i -lt 60 ]; do echo DUP; i=$((i+1)); done; sleep 0.5; echo DUP; sleep 0.5; \
         for k in 1 2 3; do echo DUP; sleep 0.25; done; sleep 30",
    );
    p.wait_matches("dup", 69).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let m = p.matches("dup");
    assert_eq!(m.len(), 69);
    let mut seqs: Vec<u64> = m.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    seqs.dedup();
    assert_eq!(seqs, (1..=69).collect::<Vec<_>>(), "each line once, in order");
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clear_then_new_output_fires() {
    let server = TmuxServer::new();
    let p = Poller::start(&server, &rule("t", r"^TRIG (?P<w>\w+)$"), FAST).await;
    // `clear` (screen erased, history kept), then a clear of the history too (ESC [3J),
    // after which old text comes back.
    server.spawn(
        "echo 'TRIG one'; sleep 0.6; clear; echo 'TRIG two'; sleep 0.6; \
         printf '\\033[H\\033[2J\\033[3J'; echo 'TRIG three'; echo 'TRIG one'; sleep 30",
    );
    p.wait_matches("t", 4).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let words: Vec<String> =
        p.matches("t").iter().map(|e| e["captures"]["w"].as_str().unwrap().to_string()).collect();
    assert_eq!(words, ["one", "two", "three", "one"]);
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prompt_on_the_cursor_line_fires_once() {
    let server = TmuxServer::new();
    let rules =
        "[[rule]]\nname = \"pw\"\npattern = 'Password: $'\nprompt = true\nactions = [\"log\"]\n";
    let p = Poller::start(&server, rules, FAST).await;
    server.spawn("printf 'Password: '; sleep 0.8; echo; echo done; sleep 30");
    let m = p.wait_matches("pw", 1).await;
    assert_eq!(m[0]["prompt"], true, "{m:?}");
    assert_eq!(m[0]["line"], "Password: ");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(p.matches("pw").len(), 1, "not again when the line completes");
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exits_fire_exit_rules_and_pane_actions_are_refused() {
    let server = TmuxServer::new();
    server.tmux_ok(&["set-option", "-g", "remain-on-exit", "on"]);
    let rules =
        "[[rule]]\nname = \"failed\"\non = \"exit\"\nstatus = \"nonzero\"\nactions = [\"log\"]\n\n\
                 [[rule]]\nname = \"poke\"\npattern = '^POKE$'\n\
                 actions = [ { send = { pane = \"x\", text = \"hi\", enter = true } } ]\n";
    let p = Poller::start(&server, rules, FAST).await;
    let note = p.events().into_iter().find(|e| {
        e["event"] == "daemon" && e["message"].as_str().unwrap_or("").contains("need control mode")
    });
    assert!(note.is_some(), "{:?}", p.events());
    let pane = server.spawn("echo POKE; sleep 0.5; exit 3");
    assert!(
        p.wait_until(Duration::from_secs(10), |e| {
            e.iter().any(|e| e["event"] == "trigger" && e["rule"] == "failed")
                && e.iter().any(|e| e["event"] == "action" && e["rule"] == "poke")
        })
        .await,
        "{:?}",
        p.events()
    );
    let evs = p.events();
    let exited = evs.iter().find(|e| e["event"] == "pane" && e["action"] == "exited").unwrap();
    assert_eq!(exited["pane"], pane.as_str());
    // tmux 3.3a does not always fill #{pane_dead_status} (here it often stays empty).
    assert!(exited["exit_code"] == 3 || exited["exit_code"].is_null(), "{exited}");
    let action = evs.iter().find(|e| e["event"] == "action" && e["rule"] == "poke").unwrap();
    assert_eq!(action["ok"], false, "{action}");
    assert_eq!(action["mode"], "poll");
    assert!(!action["error"].as_str().unwrap_or("").is_empty(), "{action}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        p.events().iter().filter(|e| e["event"] == "trigger").count(),
        1,
        "exit recorded once"
    );
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_going_away_ends_the_run() {
    let server = TmuxServer::new();
    let p = Poller::start(&server, &rule("t", "x"), FAST).await;
    server.tmux_ok(&["kill-server"]);
    let exit =
        tokio::time::timeout(Duration::from_secs(5), p.task).await.unwrap().unwrap().unwrap();
    assert!(matches!(exit, DaemonExit::TmuxGone(_)), "{exit:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_server_is_an_error_not_a_reason_to_poll() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rules.toml");
    std::fs::write(&path, rule("t", "x")).unwrap();
    let target = TmuxTarget::Name(format!("ctmuxd-it-none-{}", std::process::id()));
    let opts = PollOptions {
        target: target.clone(),
        session: None,
        rules: ctmuxd::rules::load(&path).unwrap(),
        events_dir: dir.path().join("events"),
        interval: FAST,
        shutdown_grace: Duration::from_secs(1),
    };
    let err = poll::run(opts, std::future::pending()).await.unwrap_err();
    assert!(err.to_string().contains("no tmux server running"), "{err}");
    assert!(!err.control_mode_unusable());
    let attach = DaemonError::from(ctmuxd::tmux::TmuxError::Attach {
        session: "main".into(),
        message: "tmux exited before attaching".into(),
    });
    assert!(attach.control_mode_unusable());
    assert_eq!(poll::fallback_reason(&target, &attach).await, None, "no server: do not poll");
}
