//! Issue 4: labelled panes, pane actions, exit rules and `[[pane]]` start order.

use std::time::Duration;

use serde_json::Value;

use crate::harness::{Daemon, TmuxServer};

fn pane_events<'a>(evs: &'a [Value], action: &str) -> Vec<&'a Value> {
    evs.iter().filter(|e| e["event"] == "pane" && e["action"] == action).collect()
}

#[test]
fn spawn_send_and_close_by_label_with_literal_text() {
    let server = TmuxServer::new();
    let rules = r#"
[[rule]]
name = "go"
pattern = '^GO$'
actions = [
  { spawn = { label = "echoer", command = ["cat"], meta = { stage = "test", owner = "ci" } } },
  { send = { pane = "echoer", text = "a;b 'q' \"d\" $(touch /tmp/ctmuxd-canary) `x` ~", enter = true } },
]

[[rule]]
name = "echoed"
pattern = '^a;b .*~$'
pane = "echoer"
actions = [ { close = "echo*" } ]
"#;
    let mut d = Daemon::start(&server, rules, &[]);
    server.spawn("echo GO; sleep 30");
    assert!(
        d.wait_until(Duration::from_secs(10), |e| !pane_events(e, "closed").is_empty()),
        "{:#?}",
        d.events()
    );
    let m = d.of("match", "echoed");
    // The tty echo of the typed text and cat's copy of it: both are the literal text.
    assert!(!m.is_empty());
    assert_eq!(m[0]["line"], "a;b 'q' \"d\" $(touch /tmp/ctmuxd-canary) `x` ~");
    assert_eq!(m[0]["label"], "echoer");
    assert!(!std::path::Path::new("/tmp/ctmuxd-canary").exists());
    let spawned = pane_events(&d.events(), "spawned").into_iter().cloned().collect::<Vec<_>>();
    assert_eq!(spawned.len(), 1);
    assert_eq!(spawned[0]["label"], "echoer");
}

#[test]
fn exit_rule_fires_with_status_and_labels_survive_a_restart() {
    let server = TmuxServer::new();
    let rules = r#"
[[rule]]
name = "start"
pattern = '^START$'
actions = [
  { spawn = { label = "stage", shell = "echo working; sleep 0.3; exit 3", keep = true, meta = { task = "build" } } },
  { spawn = { label = "keeper", command = ["sleep", "60"], meta = { task = "keep" } } },
]

[[rule]]
name = "failed"
on = "exit"
pane = "stage"
status = "nonzero"
actions = [ "log", { emit = "stage-failed" } ]

[[rule]]
name = "ok"
on = "exit"
pane = "stage"
status = 0
actions = [ "log" ]

[[rule]]
name = "chained"
on = "event"
event = "stage-failed"
actions = [ "log" ]
"#;
    let mut d = Daemon::start(&server, rules, &[]);
    server.spawn("echo START; sleep 30");
    assert!(
        d.wait_until(Duration::from_secs(10), |e| e
            .iter()
            .any(|e| e["event"] == "trigger" && e["rule"] == "chained")),
        "{:#?}",
        d.events()
    );
    let exited = pane_events(&d.events(), "exited").into_iter().cloned().collect::<Vec<_>>();
    assert_eq!(exited.len(), 1);
    assert_eq!(exited[0]["label"], "stage");
    // tmux 3.3a now and then marks a pane dead without ever filling its exit status;
    // the spawn wrapper's stored status (@ctmuxd_exit) covers that.
    assert_eq!(exited[0]["exit_code"], 3, "{:?}", exited[0]);
    assert!(d.of("action", "ok").is_empty());
    let failed = d.of("trigger", "failed");
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["line"], "exited with status 3");
    assert_eq!(d.of("action", "failed")[0]["action"], "emit");
    // keep = true: the dead pane is still there, with its label.
    let list = server.tmux_ok(&[
        "list-panes",
        "-a",
        "-F",
        "#{@ctmuxd_label} #{pane_dead} #{@ctmuxd_meta}",
    ]);
    assert!(list.contains("stage 1 {\"task\":\"build\"}"), "{list}");
    d.stop();

    // A new daemon finds the labels and metadata in tmux.
    let mut d2 = Daemon::start(
        &server,
        "[[rule]]\nname = \"k\"\npattern = 'PING'\npane = \"keeper\"\nactions = [\"log\"]\n",
        &[],
    );
    let keeper = server.tmux_ok(&[
        "list-panes",
        "-a",
        "-f",
        "#{==:#{@ctmuxd_label},keeper}",
        "-F",
        "#{pane_id}",
    ]);
    server.tmux_ok(&["send-keys", "-t", keeper.trim(), "-l", "x"]);
    server.tmux_ok(&["respawn-pane", "-k", "-t", keeper.trim(), "sh", "-c", "echo PING; sleep 30"]);
    assert!(
        d2.wait_until(Duration::from_secs(10), |e| e.iter().any(|e| e["rule"] == "k")),
        "{:#?}",
        d2.events()
    );
    assert_eq!(d2.of("match", "k")[0]["label"], "keeper");
    let meta = server.tmux_ok(&["show-options", "-p", "-v", "-t", keeper.trim(), "@ctmuxd_meta"]);
    assert_eq!(meta.trim(), "{\"task\":\"keep\"}");
}

#[test]
fn duplicate_label_is_refused_with_a_clear_message() {
    let server = TmuxServer::new();
    let rules = r#"
[[rule]]
name = "twice"
pattern = '^DUP$'
actions = [
  { spawn = { label = "worker", command = ["sleep", "60"] } },
  { spawn = { label = "worker", command = ["sleep", "60"] } },
  "log",
]
"#;
    let mut d = Daemon::start(&server, rules, &[]);
    server.spawn("echo DUP; sleep 30");
    assert!(d.wait_until(Duration::from_secs(10), |e| e.iter().any(|e| e["event"] == "skipped")));
    let actions = d.of("action", "twice");
    assert_eq!(actions.len(), 2);
    assert_eq!(actions[0]["ok"], true);
    assert_eq!(actions[1]["ok"], false);
    let err = actions[1]["error"].as_str().unwrap();
    assert!(err.contains("label `worker` is already used by pane"), "{err}");
}

#[test]
fn panes_start_in_order_and_failures_hold_dependants() {
    let server = TmuxServer::new();
    let rules = r#"
[[pane]]
label = "db"
shell = "sleep 0.3; echo 'database system is ready to accept connections'; sleep 60"
ready = 'ready to accept connections'

[[pane]]
label = "api"
shell = "echo 'listening on :8080'; sleep 60"
after = ["db"]
ready = 'listening on'

[[pane]]
label = "broken"
shell = "echo 'FATAL: could not bind'; sleep 60"
ready = 'started'
fail = 'FATAL'

[[pane]]
label = "needs-broken"
shell = "sleep 60"
after = ["broken"]

[[pane]]
label = "slow"
shell = "sleep 60"
ready = 'never printed'
ready_timeout = "500ms"

[[pane]]
label = "needs-slow"
shell = "sleep 60"
after = ["slow"]
"#;
    let mut d = Daemon::start(&server, rules, &[]);
    assert!(
        d.wait_until(Duration::from_secs(10), |e| pane_events(e, "held").len() == 2
            && pane_events(e, "ready").iter().any(|r| r["label"] == "api")),
        "{:#?}",
        d.events()
    );
    let evs = d.events();
    let ts = |action: &str, label: &str| -> u64 {
        pane_events(&evs, action)
            .iter()
            .find(|e| e["label"] == label)
            .map(|e| e["ts_ns"].as_u64().unwrap())
            .unwrap()
    };
    assert!(ts("ready", "db") <= ts("spawned", "api"), "api started before db was ready");
    let delay_ms = (ts("spawned", "api") - ts("ready", "db")) as f64 / 1e6;
    // Promptly (one tmux round trip on an idle machine); the bound leaves room for a loaded
    // CI machine: speed is measured by the benches.
    assert!(delay_ms < 500.0, "api started {delay_ms} ms after db was ready");
    let failed = pane_events(&evs, "failed");
    assert!(failed
        .iter()
        .any(|f| f["label"] == "broken" && f["message"].as_str().unwrap().contains("FATAL")));
    assert!(failed.iter().any(
        |f| f["label"] == "slow" && f["message"].as_str().unwrap().contains("not ready within")
    ));
    let held = pane_events(&evs, "held");
    assert!(held.iter().any(|h| h["label"] == "needs-broken"
        && h["message"].as_str().unwrap().contains("`broken` failed")));
    assert!(held.iter().any(|h| h["label"] == "needs-slow"));
    assert!(pane_events(&evs, "spawned")
        .iter()
        .all(|s| s["label"] != "needs-broken" && s["label"] != "needs-slow"));
}

/// Issue "round two", item 9: a `[[pane]]` adopted after a restart is ready only once its
/// `ready` line is in its history or appears later, so dependants keep the start order.
#[test]
fn adopted_panes_are_ready_only_after_their_ready_line() {
    let server = TmuxServer::new();
    let rules = r#"
[[pane]]
label = "db"
shell = "sleep 6; echo \"db is ready $(date +%s%N)\"; sleep 600"
ready = 'db is ready'

[[pane]]
label = "api"
shell = "echo 'api up'; sleep 600"
after = ["db"]
ready = 'api up'
"#;
    let mut d1 = Daemon::start(&server, rules, &[]);
    assert!(d1.wait_until(Duration::from_secs(10), |e| pane_events(e, "spawned")
        .iter()
        .any(|s| s["label"] == "db")));
    d1.stop();
    // The second daemon adopts db while it is still starting.
    let mut d2 = Daemon::start(&server, rules, &[]);
    assert!(
        d2.wait_until(Duration::from_secs(20), |e| pane_events(e, "spawned")
            .iter()
            .any(|s| s["label"] == "api")),
        "{:#?}",
        d2.events()
    );
    let evs = d2.events();
    let spawned_api = pane_events(&evs, "spawned")
        .iter()
        .find(|s| s["label"] == "api")
        .map(|s| s["ts_ns"].as_u64().unwrap())
        .unwrap();
    let db = server.tmux_ok(&[
        "list-panes",
        "-a",
        "-f",
        "#{==:#{@ctmuxd_label},db}",
        "-F",
        "#{pane_id}",
    ]);
    let end = std::time::Instant::now() + Duration::from_secs(15);
    let printed: u64 = loop {
        let text = server.tmux_ok(&["capture-pane", "-p", "-J", "-t", db.trim()]);
        if let Some(t) = text.lines().find_map(|l| l.strip_prefix("db is ready ")) {
            break t.trim().parse().expect("timestamp");
        }
        assert!(std::time::Instant::now() < end, "db never printed its ready line: {text}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let early_ms = (printed as f64 - spawned_api as f64) / 1e6;
    assert!(
        spawned_api >= printed,
        "api started {early_ms:.0} ms before db printed its ready line: {evs:#?}"
    );
    let ready_db = pane_events(&evs, "ready").iter().find(|r| r["label"] == "db").cloned();
    assert!(ready_db.is_some(), "{evs:#?}");
    d2.stop();

    // A third daemon finds db's ready line in its history: ready at once, api adopted.
    let mut d3 = Daemon::start(&server, rules, &[]);
    let ready_records = |e: &[Value]| {
        e.iter()
            .filter(|e| {
                e["event"] == "daemon" && e["message"].as_str().unwrap_or("").starts_with("ready")
            })
            .count()
    };
    // Only what the third daemon wrote (the log is shared by the three).
    let own = |e: &[Value]| -> Vec<Value> {
        let start = e
            .iter()
            .rposition(|e| {
                e["event"] == "daemon" && e["message"].as_str().unwrap_or("").starts_with("ready")
            })
            .unwrap_or(0);
        e[start..].to_vec()
    };
    assert_eq!(ready_records(&d3.events()), 3);
    assert!(
        d3.wait_until(Duration::from_secs(5), |e| {
            let e = own(e);
            let ready = pane_events(&e, "ready");
            ready.iter().any(|r| r["label"] == "db") && ready.iter().any(|r| r["label"] == "api")
        }),
        "{:#?}",
        d3.events()
    );
    let e3 = own(&d3.events());
    assert_eq!(pane_events(&e3, "adopted").len(), 2, "{e3:#?}");
    assert!(pane_events(&e3, "spawned").is_empty(), "nothing started twice: {e3:#?}");
}

/// Issue "round two", item 10: `ctmuxd stop` while a `[[pane]]` waits for its ready line
/// ends the daemon at once, and returns only once the daemon process is gone.
#[test]
fn stop_while_a_pane_waits_for_ready_is_prompt_and_waits_for_the_exit() {
    let server = TmuxServer::new();
    let rules = r#"
[[pane]]
label = "slow"
shell = "sleep 600"
ready = 'never printed'
"#;
    let mut d = Daemon::start(&server, rules, &[]);
    assert!(d.wait_until(Duration::from_secs(10), |e| pane_events(e, "spawned")
        .iter()
        .any(|s| s["label"] == "slow")));
    let start = std::time::Instant::now();
    let out = std::process::Command::new(crate::harness::bin())
        .args(["stop", "-L", &server.name])
        .env_remove("TMUX")
        .output()
        .expect("run ctmuxd stop");
    let returned = start.elapsed();
    let gone_at_return = d.child.try_wait().expect("try_wait").is_some();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let status = d.wait_exit();
    let gone = start.elapsed();
    println!("stop returned after {returned:?}; daemon gone after {gone:?} ({status})");
    assert!(gone_at_return, "`ctmuxd stop` returned after {returned:?}, before the daemon exited");
    assert!(gone < Duration::from_secs(2), "the daemon took {gone:?} to stop");
}

/// `status`'s `pane_entries` by label: (state, reason).
type Entries = std::collections::BTreeMap<String, (String, Option<String>)>;

/// `status` shows each `[[pane]]` entry's place in the start order: waiting (and for
/// what), starting, ready, failed (and why), as it changes.
#[test]
fn status_shows_where_each_pane_entry_is_in_the_start_order() {
    let server = TmuxServer::new();
    let gate = server.path("go");
    let rules = format!(
        r#"
[[pane]]
label = "db"
shell = "while [ ! -e {gate} ]; do sleep 0.05; done; echo 'db is ready'; sleep 60"
ready = 'db is ready'

[[pane]]
label = "api"
shell = "echo 'FATAL: no config'; sleep 60"
after = ["db"]
ready = 'listening'
fail = 'FATAL'

[[pane]]
label = "web"
shell = "sleep 60"
after = ["api"]
"#,
        gate = gate.display()
    );
    let _d = Daemon::start(&server, &rules, &[]);
    let entries = || {
        let out = crate::api::ctl_ok(&server, &["status", "--json"]);
        let v: Value = serde_json::from_str(&out).unwrap();
        let mut m = std::collections::BTreeMap::new();
        for e in v["pane_entries"].as_array().cloned().unwrap_or_default() {
            let label = e["label"].as_str().unwrap().to_string();
            m.insert(
                label,
                (
                    e["state"].as_str().unwrap().to_string(),
                    e["reason"].as_str().map(str::to_string),
                ),
            );
        }
        m
    };
    let until = |want: &dyn Fn(&Entries) -> bool| {
        let end = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let e = entries();
            if want(&e) {
                return e;
            }
            assert!(std::time::Instant::now() < end, "{e:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let e = until(&|e| e.get("db").is_some_and(|s| s.0 == "starting"));
    assert_eq!(e["api"], ("waiting".to_string(), Some("after db".to_string())));
    assert_eq!(e["web"], ("waiting".to_string(), Some("after api".to_string())));
    std::fs::write(&gate, "").unwrap();
    let e = until(&|e| e.get("web").is_some_and(|s| s.0 == "failed"));
    assert_eq!(e["db"].0, "ready");
    assert_eq!(e["api"].0, "failed");
    assert!(e["api"].1.as_deref().unwrap_or("").contains("FATAL"), "{e:?}");
    assert!(e["web"].1.as_deref().unwrap_or("").contains("`api` failed"), "{e:?}");
    // `panes` shows it beside each entry's pane.
    let panes: Value =
        serde_json::from_str(&crate::api::ctl_ok(&server, &["panes", "--json"])).unwrap();
    let db = panes.as_array().unwrap().iter().find(|p| p["label"] == "db").unwrap();
    assert_eq!(db["start"], "ready", "{db}");
    let table = crate::api::ctl_ok(&server, &["panes"]);
    assert!(table.contains("alive, ready"), "{table}");
    // The human view has a row per entry.
    let text = crate::api::ctl_ok(&server, &["status"]);
    assert!(
        text.contains("pane db")
            && text.contains("pane web")
            && text.contains("failed: not started"),
        "{text}"
    );
}

/// `restart = "on-failure"`: a pane that fails is started again after a backoff that
/// doubles, up to `max_restarts`; then it fails for good and holds its dependants. One that
/// fails once and then works becomes ready, and its dependants start.
#[test]
fn a_failing_pane_is_restarted_with_backoff_up_to_max_restarts() {
    let server = TmuxServer::new();
    let tries = server.path("tries");
    let rules = format!(
        r#"
[[pane]]
label = "flaky"
shell = "echo try >> {tries}; echo 'FATAL: cannot start'; sleep 60"
ready = 'started'
fail = 'FATAL'
restart = "on-failure"
max_restarts = 2
restart_backoff = "200ms"

[[pane]]
label = "needs-flaky"
shell = "sleep 60"
after = ["flaky"]

[[pane]]
label = "second-time"
shell = "if [ -e {tries}.ok ]; then echo 'started fine'; else touch {tries}.ok; exit 3; fi; sleep 60"
ready = 'started'
restart = "on-failure"
restart_backoff = "100ms"

[[pane]]
label = "after-second"
shell = "echo 'up'; sleep 60"
after = ["second-time"]
ready = 'up'
"#,
        tries = tries.display()
    );
    let mut d = Daemon::start(&server, &rules, &[]);
    assert!(
        d.wait_until(Duration::from_secs(20), |e| pane_events(e, "failed")
            .iter()
            .any(|f| f["label"] == "flaky")
            && pane_events(e, "ready").iter().any(|r| r["label"] == "after-second")),
        "{:#?}",
        d.events()
    );
    let evs = d.events();
    let of = |action: &str, label: &str| -> Vec<Value> {
        pane_events(&evs, action).into_iter().filter(|e| e["label"] == label).cloned().collect()
    };
    assert_eq!(of("spawned", "flaky").len(), 3, "started once and restarted twice");
    assert_eq!(std::fs::read_to_string(&tries).unwrap().lines().count(), 3);
    let restarting = of("restarting", "flaky");
    assert_eq!(restarting.len(), 2);
    assert!(
        restarting[0]["message"].as_str().unwrap().contains("restart 1 of 2 in 200ms"),
        "{restarting:?}"
    );
    assert!(
        restarting[1]["message"].as_str().unwrap().contains("restart 2 of 2 in 400ms"),
        "{restarting:?}"
    );
    // The backoff doubles: spawns at least 200 ms, then 400 ms, after the failures.
    let ts = |e: &Value| e["ts_ns"].as_u64().unwrap();
    let spawned = of("spawned", "flaky");
    assert!(ts(&spawned[1]) - ts(&restarting[0]) >= 200_000_000);
    assert!(ts(&spawned[2]) - ts(&restarting[1]) >= 400_000_000);
    let failed = of("failed", "flaky");
    assert!(
        failed.last().unwrap()["message"].as_str().unwrap().contains("gave up after 2 restart(s)"),
        "{failed:?}"
    );
    assert!(of("held", "needs-flaky").len() == 1 && of("spawned", "needs-flaky").is_empty());
    // The second one exited 3 once, was restarted, then came up, and so did its dependant.
    assert_eq!(of("restarting", "second-time").len(), 1);
    assert_eq!(of("ready", "second-time").len(), 1);
    let status = crate::api::ctl_ok(&server, &["status"]);
    assert!(status.contains("pane flaky") && status.contains("gave up after 2"), "{status}");
}

/// `restart = "always"`: a ready pane whose process exits, even with status 0, is started
/// again, up to `max_restarts`.
#[test]
fn an_always_pane_is_restarted_after_a_clean_exit() {
    let server = TmuxServer::new();
    let rules = r#"
[[pane]]
label = "cycler"
shell = "echo up; sleep 0.3; exit 0"
ready = 'up'
restart = "always"
max_restarts = 2
restart_backoff = "100ms"
"#;
    let mut d = Daemon::start(&server, rules, &[]);
    assert!(
        d.wait_until(Duration::from_secs(20), |e| pane_events(e, "failed")
            .iter()
            .any(|f| f["label"] == "cycler")),
        "{:#?}",
        d.events()
    );
    let evs = d.events();
    let count =
        |action: &str| pane_events(&evs, action).iter().filter(|e| e["label"] == "cycler").count();
    assert_eq!((count("spawned"), count("ready"), count("restarting")), (3, 3, 2));
    let restarting = pane_events(&evs, "restarting");
    assert!(
        restarting[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("exited with status 0; restart 1 of 2"),
        "{restarting:?}"
    );
}
