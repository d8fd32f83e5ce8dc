//! Finding the rules file: `$CTMUXD_RULES`, `./ctmuxd.toml`, `$XDG_CONFIG_HOME/ctmuxd/rules.toml`;
//! none found is an API-only daemon; `ctmuxd check` without a file checks the one found.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::api::{ctl, ctl_ok, stderr, stdout};
use crate::harness::{bin, Daemon, TmuxServer};

/// `ctmuxd ARGS` run in `cwd` with a config home of its own (so the user's is never read).
fn ctmuxd(server: &TmuxServer, cwd: &Path, env: &[(&str, &str)]) -> Command {
    let mut c = Command::new(bin());
    c.current_dir(cwd)
        .env("XDG_CONFIG_HOME", server.path("config"))
        .env_remove("CTMUXD_RULES")
        .env_remove("TMUX")
        .envs(env.iter().copied())
        .stdin(Stdio::null());
    c
}

/// Starts the daemon on `server` without `--rules`, in `cwd`; waits for its ready record.
fn start(server: &TmuxServer, cwd: &Path, env: &[(&str, &str)]) -> Daemon {
    let events_dir = server.path("events");
    let child = ctmuxd(server, cwd, env)
        .args(["--control-mode", "-L", &server.name, "--events"])
        .arg(&events_dir)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(server.path("daemon.stderr")).expect("stderr file"))
        .spawn()
        .expect("spawn ctmuxd");
    let mut d = Daemon { child, events_dir };
    let ready = d.wait_until(Duration::from_secs(10), |evs| {
        evs.iter().any(|e| {
            e["event"] == "daemon" && e["message"].as_str().unwrap_or("").starts_with("ready")
        })
    });
    assert!(
        ready,
        "not ready: {}",
        std::fs::read_to_string(server.path("daemon.stderr")).unwrap_or_default()
    );
    d
}

const RULE: &str = "[[rule]]\nname = \"found\"\npattern = '^FOUND-IT$'\nactions = [ \"log\" ]\n";

#[test]
fn without_a_rules_file_the_daemon_serves_the_api_only_and_says_so() {
    let server = TmuxServer::new();
    let cwd = server.path("empty");
    std::fs::create_dir_all(&cwd).unwrap();
    let d = start(&server, &cwd, &[]);
    let said = std::fs::read_to_string(server.path("daemon.stderr")).unwrap();
    assert!(said.contains("no rules file (looked for $CTMUXD_RULES, ./ctmuxd.toml, $XDG_CONFIG_HOME/ctmuxd/rules.toml): serving the API only"), "{said}");
    assert!(d.events().iter().any(|e| e["message"]
        .as_str()
        .unwrap_or("")
        .contains("0 rule(s) (no rules file: the API only)")));
    // The API works: a pane is waited for and captured.
    let id = server.spawn("echo API-ONLY; cat");
    ctl_ok(
        &server,
        &["wait-for", &id, "--pattern", "^API-ONLY$", "--since", "10", "--timeout", "10s"],
    );
    // There is nothing to reload: a clear refusal, exit status 2.
    let o = ctl(&server, &["reload"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("started without a rules file"), "{}", stderr(&o));
}

#[test]
fn the_rules_are_found_in_the_working_directory_then_the_config_directory() {
    let server = TmuxServer::new();
    let cwd = server.path("project");
    std::fs::create_dir_all(&cwd).unwrap();
    let config = server.path("config/ctmuxd");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("rules.toml"), RULE.replace("found", "from-config")).unwrap();
    std::fs::write(cwd.join("ctmuxd.toml"), RULE).unwrap();
    let mut d = start(&server, &cwd, &[]);
    let said = std::fs::read_to_string(server.path("daemon.stderr")).unwrap();
    assert!(said.contains("rules from ctmuxd.toml (found in the working directory)"), "{said}");
    server.spawn("echo FOUND-IT; cat");
    assert!(d.wait_until(Duration::from_secs(10), |e| e
        .iter()
        .any(|e| e["event"] == "match" && e["rule"] == "found")));
    assert!(d.of("match", "from-config").is_empty(), "./ctmuxd.toml comes first");
    // `check` with no file checks the same one and says what its rule does.
    let o = check(&server, &cwd, &[], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "ctmuxd.toml: ok: 1 rule(s), 0 [[pane]] entr(y/ies)\n  rule found: a line matching `^FOUND-IT$` in any pane → log\n"
    );
    // Without ./ctmuxd.toml, the config directory's file.
    std::fs::remove_file(cwd.join("ctmuxd.toml")).unwrap();
    let o = check(&server, &cwd, &[], &[]);
    assert!(o.status.success() && stdout(&o).contains("rule from-config:"), "{}", stdout(&o));
}

fn check(server: &TmuxServer, cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    ctmuxd(server, cwd, env).arg("check").args(args).output().expect("ctmuxd check")
}

#[test]
fn ctmuxd_rules_wins_and_a_missing_file_it_names_is_an_error() {
    let server = TmuxServer::new();
    let cwd = server.path("project");
    std::fs::create_dir_all(&cwd).unwrap();
    std::fs::write(cwd.join("ctmuxd.toml"), RULE).unwrap();
    let env_file = server.path("env.toml");
    std::fs::write(&env_file, RULE.replace("found", "from-env")).unwrap();
    let env = env_file.to_str().unwrap();
    let o = check(&server, &cwd, &[], &[("CTMUXD_RULES", env)]);
    assert!(o.status.success() && stdout(&o).contains("rule from-env:"), "{}", stdout(&o));
    let o = check(&server, &cwd, &[], &[("CTMUXD_RULES", "/nonexistent/rules.toml")]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("/nonexistent/rules.toml"), "{}", stderr(&o));
    // A file given on the command line wins over everything.
    let o = check(&server, &cwd, &[env], &[]);
    assert!(stdout(&o).contains("rule from-env:"), "{}", stdout(&o));
    // Nothing given or found: exit 2, saying where it looked.
    let empty = server.path("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let o = check(&server, &empty, &[], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o)
            .contains("no rules file given or found (looked for $CTMUXD_RULES, ./ctmuxd.toml"),
        "{}",
        stderr(&o)
    );
}
