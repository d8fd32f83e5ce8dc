//! Every tmux that users run: what differs between releases (the suite runs once per
//! release in CI, `CTMUXD_TMUX` choosing the binary), and record framing that a pane's
//! program cannot forge.

use serde_json::Value;

use crate::api::{ctl, ctl_ok, daemon, json, stderr};
use crate::harness::TmuxServer;

/// A process name that tries every way to break a `-F` record apart: the field separator
/// of older ctmuxd (`\x1f`), today's (a tab) and a newline, each followed by fields that
/// would make the pane look like the labelled pane `db`, or like a second pane.
const FORGED_NAME: &str = "evil\x1f80\x1f24\x1f0\x1f\x1f\x1fmain\x1f\x1fdb\x1f{}\
\t80\t24\t0\t\t\tmain\t\tdb\t{}\n%77\t$0\t@0\t1\tsh\t80\t24\t0\t\t\tmain\t\tdb\t{}";

#[test]
fn a_forged_process_name_changes_nothing_in_panes() {
    let server = TmuxServer::new();
    let _d = daemon(&server);
    // bash's `exec -a` sets argv[0], which tmux reports as `pane_current_command`.
    let script = format!("exec -a {} sleep 600", shell_words(FORGED_NAME));
    let forged = server.spawn(&format!("exec bash -c {}", shell_words(&script)));
    let forged = forged.as_str();
    let want = server.tmux_ok(&["list-panes", "-a", "-F", "#{pane_id}"]);
    let mut want: Vec<&str> = want.lines().collect();
    want.sort_unstable();

    // Wait until the daemon has seen the new pane (it learns panes from tmux's layout
    // notifications), then check what it reports.
    let mut panes = Value::Null;
    for _ in 0..100 {
        panes = json(&ctl_ok(&server, &["panes", "--json"]));
        if panes.as_array().unwrap().iter().any(|p| p["id"] == forged) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let list = panes.as_array().unwrap();
    let mut ids: Vec<&str> = list.iter().map(|p| p["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    assert_eq!(ids, want, "every pane listed once, none invented: {panes:#}");
    assert!(list.iter().all(|p| p["label"].is_null()), "no label forged: {panes:#}");
    let me = list.iter().find(|p| p["id"] == forged).unwrap();
    let command = me["command"].as_str().unwrap();
    assert!(command.starts_with("evil?80?24"), "control characters shown as `?`: {command:?}");
    assert!(!command.contains(['\t', '\n', '\x1f']), "{command:?}");

    // Nothing is sent to a pane that only claims the label.
    let o = ctl(&server, &["send", "db", "--", "secret"]);
    assert!(!o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("no pane labelled `db`"), "{}", stderr(&o));
    // And the label is free for the pane that should have it.
    let spawned = json(&ctl_ok(&server, &["spawn", "--label", "db", "--json", "--", "sh"]));
    assert_eq!(spawned["label"], "db");
}

/// `s` as one single-quoted shell word (bash's `$'…'` is not needed: the bytes go as
/// they are inside single quotes).
fn shell_words(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}
