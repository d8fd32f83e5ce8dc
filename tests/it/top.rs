//! Issue 16: `ctmuxd top` run inside a tmux pane of the test's private server (80x24),
//! driven with `send-keys` and read with `capture-pane`, against a real daemon.

use std::time::{Duration, Instant};

use crate::api::{ctl, ctl_ok, stderr};
use crate::harness::{bin, Daemon, TmuxServer};

/// One rule, for the pane labelled `builder` only, so that the one firing counted is that
/// pane's line whatever else the server's panes show (`top`'s own pane among them).
const RULES: &str = "[[rule]]\nname = \"build\"\npattern = '^TRIGGER: START_BUILD (?P<id>\\S+)'\n\
                     pane = \"builder\"\nactions = [ \"log\" ]\n";

/// What pane `pane` shows now.
fn screen(server: &TmuxServer, pane: &str) -> String {
    server.tmux_ok(&["capture-pane", "-p", "-t", pane])
}

/// Polls pane `pane` until `pred` holds for what it shows; returns that screen, or fails
/// with `what` and the last screen after 10 s.
fn wait_screen(server: &TmuxServer, pane: &str, what: &str, pred: impl Fn(&str) -> bool) -> String {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let s = screen(server, pane);
        if pred(&s) {
            return s;
        }
        assert!(Instant::now() < end, "top never showed {what}; its pane shows:\n{s}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The text of the row starting with `first` under `column` of the header row starting
/// with `header` (the table's columns line up under their headings).
fn cell(screen: &str, header: &str, column: &str, first: &str) -> Option<String> {
    let lines: Vec<&str> = screen.lines().collect();
    let h = lines.iter().position(|l| l.starts_with(header))?;
    let at = lines[h].find(column)?;
    let row = lines[h + 1..].iter().find(|l| l.split(' ').next() == Some(first))?;
    let rest: String = row.chars().skip(at).collect();
    Some(rest.split_whitespace().next().unwrap_or("").to_string())
}

/// Types `keys` into pane `pane` (tmux key names: `Escape`, `Enter`, `q`).
fn keys(server: &TmuxServer, pane: &str, keys: &[&str]) {
    let mut args = vec!["send-keys", "-t", pane];
    args.extend_from_slice(keys);
    server.tmux_ok(&args);
}

#[test]
fn top_in_an_80x24_tmux_pane_shows_panes_rules_and_events_and_answers_keys() {
    let server = TmuxServer::new();
    let _d = Daemon::start(&server, RULES, &[]);
    ctl_ok(&server, &["spawn", "--label", "builder"]);
    // top in a session of its own at 80x24; what it exits with is printed after it.
    let top = server
        .tmux_ok(&[
            "new-session",
            "-d",
            "-s",
            "top",
            "-x",
            "80",
            "-y",
            "24",
            "-P",
            "-F",
            "#{pane_id}",
            "sh",
            "-c",
            "\"$0\" top -L \"$1\"; echo top-exited-$?; sleep 600",
            bin(),
            &server.name,
        ])
        .trim()
        .to_string();

    let s = wait_screen(&server, &top, "the builder pane and the rule", |s| {
        cell(s, "PANE", "FIRED", "builder").is_some() && cell(s, "RULE", "FIRED", "build").is_some()
    });
    assert!(s.lines().next().unwrap_or("").starts_with("ctmuxd top  tmux -L "), "{s}");
    assert_eq!(cell(&s, "RULE", "FIRED", "build").as_deref(), Some("0"), "{s}");
    assert!(s.lines().last().unwrap_or("").starts_with("q quit  / filter"), "{s}");
    assert_eq!(s.lines().count(), 24, "{s}");

    // The typed line holds START_''BUILD; only what echo prints matches.
    ctl_ok(&server, &["send", "builder", "--enter", "--", "echo TRIGGER: START_''BUILD 42"]);
    let s = wait_screen(&server, &top, "the firing: counts and the event", |s| {
        cell(s, "RULE", "FIRED", "build").as_deref() == Some("1")
            && cell(s, "PANE", "FIRED", "builder").as_deref() == Some("1")
            && s.lines().any(|l| {
                l.contains(" match ")
                    && l.contains(" builder ")
                    && l.contains("rule build: TRIGGER: START_BUILD 42")
            })
    });
    let row = s.lines().find(|l| l.starts_with("builder ")).unwrap_or_default();
    assert!(row.contains(" main:") && row.contains(" alive "), "{s}");

    // A filter: only the builder pane is left (the other panes have no label).
    keys(&server, &top, &["/"]);
    wait_screen(&server, &top, "the filter prompt", |s| s.contains("filter: _"));
    keys(&server, &top, &["-l", "build*"]);
    keys(&server, &top, &["Enter"]);
    let s = wait_screen(&server, &top, "the filtered panes", |s| s.contains("Panes (1 shown)"));
    assert!(s.lines().next().unwrap_or("").starts_with("ctmuxd top  filter: build*  tmux"), "{s}");
    assert!(!s.lines().any(|l| l.starts_with('%')), "unlabelled panes are filtered out:\n{s}");
    assert!(s.contains("rule build: TRIGGER: START_BUILD 42"), "its events stay:\n{s}");

    // Enter: the selected pane's capture, full-screen; Esc back to the tables.
    keys(&server, &top, &["Enter"]);
    let s = wait_screen(&server, &top, "the capture", |s| s.contains("Capture of builder"));
    assert!(s.lines().any(|l| l.starts_with("TRIGGER: START_BUILD 42")), "{s}");
    assert!(!s.contains("Rules ("), "{s}");
    assert!(s.lines().last().unwrap_or("").starts_with("Esc/q back"), "{s}");
    keys(&server, &top, &["Escape"]);
    wait_screen(&server, &top, "the tables again", |s| {
        s.contains("Panes (1 shown)") && s.contains("Rules (1)")
    });
    // Esc clears the filter; q quits, the terminal is given back and top exits 0.
    keys(&server, &top, &["Escape"]);
    wait_screen(&server, &top, "every pane again", |s| {
        s.contains("Panes (") && !s.contains("shown)") && s.lines().any(|l| l.starts_with('%'))
    });
    keys(&server, &top, &["q"]);
    let s = wait_screen(&server, &top, "its exit", |s| s.contains("top-exited-"));
    assert!(s.contains("top-exited-0"), "{s}");
    assert!(!s.contains("Rules ("), "the alternate screen was left:\n{s}");
}

#[test]
fn top_without_a_daemon_says_how_to_start_one() {
    let server = TmuxServer::new();
    let o = ctl(&server, &["top"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.starts_with("ctmuxd top: no ctmuxd daemon is running")
            && err.contains("ctmuxd --control-mode -L"),
        "{err}"
    );
}
