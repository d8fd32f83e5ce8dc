//! Several tmux servers and SSH hosts in one daemon (issue 17): a rule on a pane behind a
//! real OpenSSH link spawning a pane on a local server, an SSH connection killed mid-run
//! (reconnect, a `gap` record, each trigger fired once), a second local server killed
//! while the first keeps firing. The SSH server is the test's own `sshd` on 127.0.0.1.

use std::time::Duration;

use serde_json::Value;

use crate::api::{ctl, ctl_ok, stdout};
use crate::harness::{Daemon, TmuxServer};
use crate::sshd::Sshd;

/// Whether `e` is the "ready" record of server `server`.
fn ready_of(e: &Value, server: &str) -> bool {
    e["event"] == "daemon"
        && e["server"] == server
        && e["message"].as_str().unwrap_or("").starts_with("ready")
}

/// Waits until every server in `servers` has written its "ready" record.
fn wait_ready(d: &mut Daemon, servers: &[&str]) {
    let ok = d.wait_until(Duration::from_secs(20), |evs| {
        servers.iter().all(|s| evs.iter().any(|e| ready_of(e, s)))
    });
    assert!(ok, "not every server became ready: {:#?}", d.events());
}

/// `match` records of `rule` whose line is `line`.
fn matches_of<'a>(evs: &'a [Value], rule: &str, line: &str) -> Vec<&'a Value> {
    evs.iter().filter(|e| e["event"] == "match" && e["rule"] == rule && e["line"] == line).collect()
}

/// A pane script printing `WORD-n` once file `fn` appears in `dir`, for n = 0, 1, 2, ...
fn ticker(dir: &std::path::Path, word: &str) -> String {
    format!(
        "cd '{}'; i=0; while :; do if [ -e f$i ]; then echo {word}-$i; i=$((i+1)); fi; sleep 0.05; done",
        dir.display()
    )
}

fn touch(dir: &std::path::Path, n: usize) {
    std::fs::write(dir.join(format!("f{n}")), "").unwrap();
}

#[test]
fn a_rule_on_a_pane_behind_ssh_spawns_a_pane_on_a_local_server() {
    let here = TmuxServer::new();
    let far = TmuxServer::new();
    let sshd = Sshd::start();
    let rules = format!(
        "[[server]]\nname = \"here\"\nsocket_name = {:?}\n\n{}\n\
         [[rule]]\nname = \"api-up\"\nserver = \"far\"\npattern = '^API READY$'\n\
         actions = [ {{ spawn = {{ label = \"load\", server = \"here\", command = [\"sh\", \"-c\", \"echo load-started; exec sleep 60\"] }} }} ]\n",
        here.name,
        sshd.server_entry("far", &far.name),
    );
    let mut d = Daemon::start(&here, &rules, &[]);
    wait_ready(&mut d, &["here", "far"]);

    far.spawn("sleep 0.3; echo API READY; exec sleep 60");
    let ok = d.wait_until(Duration::from_secs(15), |evs| {
        evs.iter().any(|e| {
            e["event"] == "pane"
                && e["action"] == "spawned"
                && e["label"] == "load"
                && e["server"] == "here"
        })
    });
    assert!(ok, "no pane spawned on `here`: {:#?}\nsshd: {}", d.events(), sshd.log());
    let evs = d.events();
    let m = matches_of(&evs, "api-up", "API READY");
    assert_eq!(m.len(), 1, "{evs:#?}");
    assert_eq!(m[0]["server"], "far", "the match is recorded with the server it came from");
    // The pane is on the local server, labelled, and not on the remote one.
    let labels = here.tmux_ok(&["list-panes", "-a", "-F", "#{@ctmuxd_label}"]);
    assert!(labels.lines().any(|l| l == "load"), "{labels}");
    let far_labels = far.tmux_ok(&["list-panes", "-a", "-F", "#{@ctmuxd_label}"]);
    assert!(!far_labels.lines().any(|l| l == "load"), "{far_labels}");

    // One socket answers for both servers: `panes` says where each pane is, and
    // `server/label` addresses one.
    let panes: Value = serde_json::from_str(&ctl_ok(&here, &["panes", "--json"])).unwrap();
    let panes =
        panes.as_array().cloned().unwrap_or_else(|| panes["panes"].as_array().unwrap().clone());
    assert!(panes.iter().any(|p| p["server"] == "here" && p["label"] == "load"), "{panes:#?}");
    assert!(panes.iter().any(|p| p["server"] == "far"), "{panes:#?}");
    let waited = ctl(
        &here,
        &[
            "wait-for",
            "here/load",
            "--pattern",
            "load-started",
            "--since",
            "50",
            "--timeout",
            "10s",
        ],
    );
    assert!(waited.status.success(), "{}", String::from_utf8_lossy(&waited.stderr));
    let status: Value = serde_json::from_str(&ctl_ok(&here, &["status", "--json"])).unwrap();
    let servers = status["servers"].as_array().expect("servers in status");
    assert_eq!(servers.len(), 2, "{status:#}");
    assert!(servers.iter().all(|s| s["state"] == "up"), "{status:#}");
    assert!(stdout(&ctl(&here, &["status"])).contains("server far"), "status shows each server");

    // Spawn, send and close work over the SSH link as on a local server.
    ctl_ok(
        &here,
        &[
            "spawn",
            "--label",
            "far/job",
            "--",
            "sh",
            "-c",
            "echo remote-job; exec sed -u 's/^/got-/'",
        ],
    );
    let far_labels = far.tmux_ok(&["list-panes", "-a", "-F", "#{@ctmuxd_label}"]);
    assert!(far_labels.lines().any(|l| l == "job"), "{far_labels}");
    ctl_ok(&here, &["send", "far/job", "--enter", "--", "echoed-back"]);
    let got = ctl(
        &here,
        &[
            "wait-for",
            "far/job",
            "--pattern",
            "^got-echoed-back$",
            "--since",
            "20",
            "--timeout",
            "10s",
        ],
    );
    assert!(
        got.status.success(),
        "{}\nthe pane shows:\n{}",
        String::from_utf8_lossy(&got.stderr),
        far.tmux_ok(&["capture-pane", "-p", "-t", "main:2"]),
    );
    ctl_ok(&here, &["close", "far/job"]);
    let far_labels = far.tmux_ok(&["list-panes", "-a", "-F", "#{@ctmuxd_label}"]);
    assert!(!far_labels.lines().any(|l| l == "job"), "{far_labels}");
    d.stop();
}

#[test]
fn killing_the_ssh_connection_reconnects_records_the_gap_and_fires_once() {
    let home = TmuxServer::new();
    let far = TmuxServer::new();
    let sshd = Sshd::start();
    let rules = format!(
        "{}\n[[rule]]\nname = \"tick\"\npattern = '^TICK-\\d+$'\nactions = [\"log\"]\n",
        sshd.server_entry("far", &far.name)
    );
    let mut d = Daemon::start(&home, &rules, &[]);
    wait_ready(&mut d, &["far"]);
    let files = far.dir.path().join("ticks");
    std::fs::create_dir(&files).unwrap();
    let pane = far.spawn(&ticker(&files, "TICK"));

    touch(&files, 0);
    assert!(
        d.wait_until(Duration::from_secs(10), |evs| matches_of(evs, "tick", "TICK-0").len() == 1),
        "{:#?}",
        d.events()
    );
    // The link dies as a network failure would: the sshd side of the connection is killed.
    assert!(sshd.drop_connections() >= 1, "no ssh connection to drop");
    // Printed while the link is down or coming back.
    touch(&files, 1);
    assert!(
        d.wait_until(Duration::from_secs(15), |evs| {
            evs.iter().any(|e| e["event"] == "gap" && e["server"] == "far")
        }),
        "no gap record: {:#?}",
        d.events()
    );
    touch(&files, 2);
    let all_once =
        |evs: &[Value]| (0..3).all(|n| matches_of(evs, "tick", &format!("TICK-{n}")).len() == 1);
    assert!(d.wait_until(Duration::from_secs(15), all_once), "{:#?}", d.events());
    // Nothing fires twice, even a while later.
    std::thread::sleep(Duration::from_millis(500));
    let evs = d.events();
    for n in 0..3 {
        assert_eq!(matches_of(&evs, "tick", &format!("TICK-{n}")).len(), 1, "TICK-{n}: {evs:#?}");
    }
    let gap = evs.iter().find(|e| e["event"] == "gap").unwrap();
    assert!(gap["gap_ms"].as_u64().is_some(), "{gap:#}");
    let panes: Vec<&str> =
        gap["panes"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(panes.iter().any(|p| p.starts_with(&pane)), "the gap names {pane}: {gap:#}");
    assert!(
        evs.iter().any(|e| e["event"] == "daemon"
            && e["server"] == "far"
            && e["message"].as_str().unwrap_or("").contains("lost")),
        "the loss is recorded: {evs:#?}"
    );
    let status: Value = serde_json::from_str(&ctl_ok(&home, &["status", "--json"])).unwrap();
    let far_link = &status["servers"][0];
    assert_eq!(
        (far_link["state"].as_str(), far_link["reconnects"].as_u64()),
        (Some("up"), Some(1)),
        "{status:#}"
    );
    d.stop();
}

#[test]
fn a_second_local_server_killed_while_the_first_keeps_firing() {
    let a = TmuxServer::new();
    let b = TmuxServer::new();
    let rules = "[[rule]]\nname = \"tick\"\npattern = '^TICK-\\d+$'\nactions = [ { exec = [\"sh\", \"-c\", \"echo \\\"$CTMUX_SERVER $CTMUX_LINE\\\" >> served\"] } ]\n";
    let mut d = Daemon::start(&a, rules, &["--server", &a.name, "--server", &b.name]);
    wait_ready(&mut d, &[a.name.as_str(), b.name.as_str()]);
    let files = a.dir.path().join("ticks");
    std::fs::create_dir(&files).unwrap();
    a.spawn(&ticker(&files, "TICK"));
    touch(&files, 0);
    assert!(
        d.wait_until(Duration::from_secs(10), |evs| matches_of(evs, "tick", "TICK-0").len() == 1)
    );

    b.tmux_ok(&["kill-server"]);
    assert!(
        d.wait_until(Duration::from_secs(10), |evs| evs.iter().any(|e| e["event"] == "daemon"
            && e["server"] == b.name.as_str()
            && e["message"].as_str().unwrap_or("").contains("lost"))),
        "{:#?}",
        d.events()
    );
    for n in 1..4 {
        touch(&files, n);
        let line = format!("TICK-{n}");
        assert!(
            d.wait_until(Duration::from_secs(10), |evs| matches_of(evs, "tick", &line).len() == 1),
            "{line} did not fire while the other server is gone: {:#?}",
            d.events()
        );
    }
    let evs = d.events();
    for n in 0..4 {
        let m = matches_of(&evs, "tick", &format!("TICK-{n}"));
        assert_eq!(m.len(), 1, "{evs:#?}");
        assert_eq!(m[0]["server"], a.name.as_str());
    }
    // exec actions learn the server in CTMUX_SERVER (they run in the rules file's dir).
    let served = crate::harness::wait_file(&a.path("served"), Duration::from_secs(10), |t| {
        t.lines().count() >= 4
    })
    .expect("exec actions ran");
    assert!(served.lines().all(|l| l.starts_with(&format!("{} TICK-", a.name))), "{served}");
    let status: Value = serde_json::from_str(&ctl_ok(&a, &["status", "--json"])).unwrap();
    let states: Vec<(&str, &str)> = status["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s["state"].as_str().unwrap()))
        .collect();
    assert_eq!(states, [(a.name.as_str(), "up"), (b.name.as_str(), "down")], "{status:#}");
    d.stop();
}

#[test]
fn a_rule_naming_an_undeclared_server_is_refused_with_the_file_and_rule() {
    let s = TmuxServer::new();
    let rules = s.write_rules(
        "[[server]]\nname = \"gpu\"\nssh = \"me@gpu\"\n\n[[rule]]\nname = \"r\"\nserver = \"gpux\"\npattern = 'x'\nactions = [\"log\"]\n",
    );
    let out = std::process::Command::new(crate::harness::bin())
        .arg("check")
        .arg(&rules)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("rules.toml:7:10") && err.contains("gpux") && err.contains("gpu"),
        "{err}"
    );
}

#[test]
fn a_bare_label_on_two_servers_is_refused_and_an_address_picks_one() {
    let a = TmuxServer::new();
    let b = TmuxServer::new();
    let mut d = Daemon::start(&a, "", &["--server", &a.name, "--server", &b.name]);
    wait_ready(&mut d, &[a.name.as_str(), b.name.as_str()]);
    for (server, word) in [(&a.name, "from-a"), (&b.name, "from-b")] {
        let label = format!("{server}/dup");
        let script = format!("echo {word}; exec sleep 60");
        ctl_ok(&a, &["spawn", "--label", &label, "--", "sh", "-c", &script]);
    }
    // Each spawn went to the server its address named.
    assert!(b.tmux_ok(&["list-panes", "-a", "-F", "#{@ctmuxd_label}"]).lines().any(|l| l == "dup"));
    let bare = ctl(&a, &["capture", "dup"]);
    let err = String::from_utf8_lossy(&bare.stderr);
    assert!(!bare.status.success(), "a bare label on two servers must be refused");
    assert!(
        err.contains(&format!("{}/dup", a.name)) && err.contains(&format!("{}/dup", b.name)),
        "{err}"
    );
    let addressed = format!("{}/dup", b.name);
    let waited = ctl(
        &a,
        &["wait-for", &addressed, "--pattern", "^from-", "--since", "20", "--timeout", "10s"],
    );
    assert!(stdout(&waited).contains("from-b"), "{}", String::from_utf8_lossy(&waited.stderr));
    let panes = stdout(&ctl(&a, &["panes"]));
    assert!(
        panes.lines().any(|l| l.starts_with(&format!("{}/%", b.name)) && l.contains("dup")),
        "{panes}"
    );
    d.stop();
}

#[test]
fn a_hung_link_neither_blocks_the_other_servers_nor_the_stop() {
    let here = TmuxServer::new();
    // An SSH link that never answers: the proxy swallows what ssh sends, and ends when
    // ssh does.
    let rules = format!(
        "[[server]]\nname = \"here\"\nsocket_name = {:?}\n\n\
         [[server]]\nname = \"stuck\"\nssh = \"nobody@127.0.0.1\"\n\
         ssh_options = [\"-F\", \"/dev/null\", \"-o\", \"ProxyCommand=sh -c 'while read x; do :; done'\"]\n\n\
         [[rule]]\nname = \"tick\"\npattern = '^TICK-\\d+$'\nactions = [\"log\"]\n",
        here.name
    );
    let mut d = Daemon::start(&here, &rules, &[]);
    wait_ready(&mut d, &["here"]);
    let files = here.dir.path().join("ticks");
    std::fs::create_dir(&files).unwrap();
    here.spawn(&ticker(&files, "TICK"));
    touch(&files, 0);
    assert!(
        d.wait_until(Duration::from_secs(10), |evs| matches_of(evs, "tick", "TICK-0").len() == 1),
        "{:#?}",
        d.events()
    );
    let status: Value = serde_json::from_str(&ctl_ok(&here, &["status", "--json"])).unwrap();
    let stuck =
        status["servers"].as_array().unwrap().iter().find(|s| s["name"] == "stuck").cloned();
    assert_eq!(
        stuck.as_ref().map(|s| s["state"].clone()),
        Some(Value::from("connecting")),
        "{status:#}"
    );
    let started = std::time::Instant::now();
    assert!(d.stop().success());
    assert!(started.elapsed() < Duration::from_secs(5), "stop took {:?}", started.elapsed());
}

#[test]
fn time_conditions_run_on_every_server() {
    // A `silence` on each server's build pane: every server's engine has its own timer.
    let a = TmuxServer::new();
    let b = TmuxServer::new();
    let rules =
        "[[rule]]\nname = \"hang\"\npane = \"build\"\nsilence = \"1s\"\nactions = [\"log\"]\n";
    let mut d = Daemon::start(&a, rules, &["--server", &a.name, "--server", &b.name]);
    wait_ready(&mut d, &[a.name.as_str(), b.name.as_str()]);
    for s in [&a, &b] {
        let pane = s.spawn("read x; echo compiling; sleep 60");
        s.tmux_ok(&["set-option", "-p", "-t", &pane, "@ctmuxd_label", "build"]);
        s.tmux_ok(&["send-keys", "-t", &pane, "Enter"]);
    }
    let hung = |evs: &[Value]| -> Vec<String> {
        let mut servers: Vec<String> = evs
            .iter()
            .filter(|e| e["event"] == "condition" && e["rule"] == "hang")
            .map(|e| e["server"].as_str().unwrap_or("").to_string())
            .collect();
        servers.sort();
        servers
    };
    let mut both = vec![a.name.clone(), b.name.clone()];
    both.sort();
    assert!(d.wait_until(Duration::from_secs(10), |evs| hung(evs) == both), "{:#?}", d.events());
    d.stop();
}

#[test]
fn an_all_whose_parts_are_on_two_servers_is_refused_at_start() {
    let a = TmuxServer::new();
    let b = TmuxServer::new();
    let rules = a.write_rules(&format!(
        "[[rule]]\nname = \"api-up\"\nserver = \"{}\"\npattern = 'API UP'\nactions = [\"log\"]\n\
         [[rule]]\nname = \"worker-up\"\nserver = \"{}\"\npattern = 'WORKER UP'\nactions = [\"log\"]\n\
         [[rule]]\nname = \"both\"\nall = [\"api-up\", \"worker-up\"]\nwithin = \"60s\"\nactions = [\"log\"]\n",
        a.name, b.name
    ));
    let out = std::process::Command::new(crate::harness::bin())
        .args(["--control-mode", "-L", &a.name, "--rules"])
        .arg(&rules)
        .arg("--events")
        .arg(a.path("events"))
        .args(["--server", &a.name, "--server", &b.name])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("rule `both` spans several servers")
            && err.contains(&format!("`api-up` on {}", a.name))
            && err.contains(&format!("`worker-up` on {}", b.name)),
        "{err}"
    );
}
