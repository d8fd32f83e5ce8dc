//! Shell integration end to end: a real shell in a pane loads `ctmuxd shell-init`'s
//! snippet (written to a file in the test's directory and sourced), then `ctmuxd run`
//! runs commands in it (statuses 0, 1, 2 and 130 from Ctrl-C, 5,000 lines of output, a
//! heredoc, a multi-line command, `cd` persisting), a command typed by hand gives a
//! `command` event, and an `on = "command"` rule with `status = "nonzero"` fires once
//! per failing command. bash always; zsh and fish when installed (else the test says
//! why it skipped them). `HOME` and the XDG directories are the test's directory, so no
//! shell writes history or settings elsewhere.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::api::{ctl, ctl_command, json, stderr, stdout};
use crate::harness::{Daemon, TmuxServer};

/// One shell under test.
#[derive(Clone, Copy)]
struct Shell {
    name: &'static str,
    /// argv of a shell that reads no rc file.
    argv: &'static [&'static str],
}

const BASH: Shell = Shell { name: "bash", argv: &["bash", "--norc", "--noprofile"] };
const ZSH: Shell = Shell { name: "zsh", argv: &["zsh", "-f"] };
const FISH: Shell = Shell { name: "fish", argv: &["fish", "--no-config"] };

/// A tmux server, a daemon with a `nonzero` command rule, and a pane running `shell`
/// with ctmuxd's integration loaded.
struct Fixture {
    server: TmuxServer,
    daemon: Daemon,
    pane: String,
    shell: Shell,
}

fn installed(name: &str) -> bool {
    Command::new(name)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl Fixture {
    fn new(shell: Shell) -> Fixture {
        Fixture::with_setup(shell, None)
    }

    /// As [`Fixture::new`], typing `setup` into the shell before the snippet is loaded
    /// (a user's own prompt settings).
    fn with_setup(shell: Shell, setup: Option<&str>) -> Fixture {
        let server = TmuxServer::new();
        let fired = server.path("fired.txt");
        let rules = format!(
            "[[rule]]\nname = \"failed\"\non = \"command\"\nstatus = \"nonzero\"\n\
             actions = [ {{ exec = [\"sh\", \"-c\", \"echo \\\"$CTMUX_CAP_status\\\" >> '{}'\"] }} ]\n\
             [[rule]]\nname = \"seq\"\non = \"command\"\ncmdline = '^seq '\nactions = [\"log\"]\n",
            fired.display()
        );
        let daemon = Daemon::start(&server, &rules, &[]);
        let init = Command::new(crate::harness::bin())
            .args(["shell-init", shell.name])
            .output()
            .expect("run shell-init");
        assert!(init.status.success(), "shell-init {}: {}", shell.name, stderr(&init));
        let init_file = server.path(&format!("init.{}", shell.name));
        std::fs::write(&init_file, &init.stdout).unwrap();
        let dir = server.dir.path().to_str().expect("utf-8 temp dir").to_string();
        // fish keeps its runtime files in $XDG_RUNTIME_DIR, else in /tmp/fish.$USER,
        // which would outlive the test: a dir (0700) inside the test's own instead.
        std::fs::create_dir(format!("{dir}/run")).expect("runtime dir");
        std::fs::set_permissions(
            format!("{dir}/run"),
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .expect("runtime dir mode");
        let (cfg, data, runtime) = (
            format!("XDG_CONFIG_HOME={dir}/config"),
            format!("XDG_DATA_HOME={dir}/data"),
            format!("XDG_RUNTIME_DIR={dir}/run"),
        );
        let env = [cfg.as_str(), &data, &runtime, "PS1=$ ", "HISTFILE=/dev/null"];
        let pane = server.window_at_home(&env, shell.argv);
        let f = Fixture { server, daemon, pane, shell };
        // The daemon's socket answers, then the snippet is loaded as a user would.
        f.wait("the control socket", |f| ctl(&f.server, &["status"]).status.success());
        std::thread::sleep(Duration::from_millis(300));
        if let Some(setup) = setup {
            f.keys(&["-l", setup]);
            f.keys(&["Enter"]);
        }
        f.keys(&[&format!("source {}", init_file.display()), "Enter"]);
        f.wait("the shell's first integration mark", |f| f.shell_state().is_some());
        f
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", &self.pane];
        args.extend_from_slice(keys);
        self.server.tmux_ok(&args);
    }

    fn wait(&self, what: &str, pred: impl Fn(&Fixture) -> bool) {
        let end = Instant::now() + Duration::from_secs(10);
        while !pred(self) {
            assert!(
                Instant::now() < end,
                "{}: waited 10 s for {what}; the pane shows:\n{}",
                self.shell.name,
                self.server.tmux_ok(&["capture-pane", "-p", "-t", &self.pane])
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The pane's `shell` field in `ctmuxd panes --json`.
    fn shell_state(&self) -> Option<Value> {
        let out = ctl(&self.server, &["panes", "--json"]);
        let panes = json(&stdout(&out));
        let pane = panes.as_array()?.iter().find(|p| p["id"] == self.pane.as_str())?.clone();
        pane.get("shell").cloned()
    }

    fn run_command(&self, command: &str) -> Command {
        let mut cmd = ctl_command(&self.server, &["run", &self.pane, "--json", "--timeout", "30s"]);
        cmd.arg("--").arg(command);
        cmd
    }

    /// `ctmuxd run PANE --json -- command`: the reply and ctmuxd's exit code.
    fn run(&self, command: &str) -> (Value, i32) {
        let out: Output = self.run_command(command).stdin(Stdio::null()).output().unwrap();
        let code = out.status.code().expect("exit code");
        assert!(
            !stdout(&out).trim().is_empty(),
            "{}: run {command:?} answered nothing (exit {code}): {}",
            self.shell.name,
            stderr(&out)
        );
        (json(&stdout(&out)), code)
    }

    fn output(reply: &Value) -> Vec<String> {
        reply["output"]
            .as_array()
            .expect("output")
            .iter()
            .map(|l| l.as_str().unwrap().to_string())
            .collect()
    }

    /// The `command` records so far.
    fn commands(&self) -> Vec<Value> {
        self.daemon.events().into_iter().filter(|e| e["event"] == "command").collect()
    }

    /// The statuses the `failed` rule's exec wrote, one line per firing, sorted (each
    /// firing's exec runs on a task of its own, so two close together may append in
    /// either order).
    fn fired(&self) -> Vec<String> {
        let mut fired: Vec<String> = std::fs::read_to_string(self.server.path("fired.txt"))
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect();
        fired.sort();
        fired
    }
}

/// Everything the issue asks of one shell.
fn exercise(shell: Shell) {
    let f = Fixture::new(shell);
    let name = shell.name;

    // Exit statuses, and ctmuxd's own exit code is the command's.
    for (command, status) in [("true", 0), ("false", 1), ("sh -c 'exit 2'", 2)] {
        let (reply, code) = f.run(command);
        assert_eq!(
            (reply["status"].as_i64(), code),
            (Some(status), status as i32),
            "{name}: {command}"
        );
    }
    let (reply, _) = f.run("echo one; echo two");
    assert_eq!(Fixture::output(&reply), ["one", "two"], "{name}");
    assert_eq!(reply["lines"], 2);

    // A line the shell refuses (a syntax error) ends the run at the next prompt. fish
    // keeps such a line in its editor for the user to fix, and every shell waits for
    // the rest of an unclosed quote: `run` drops the line held (Ctrl-C) once the pane
    // shows nothing new without the command starting, so the next command is not typed
    // behind it.
    let refused = if name == "fish" { "end" } else { "fi" };
    for line in [refused, "echo \"unclosed"] {
        let (reply, code) = f.run(line);
        assert_eq!(
            (reply["not_run"].as_bool(), reply["status"].as_i64(), code),
            (Some(true), None, 1),
            "{name}: {line}: {reply}"
        );
        assert!(Fixture::output(&reply).len() >= 2, "{name}: the echo and the error: {reply}");
        let (reply, code) = f.run("echo after");
        assert_eq!((code, Fixture::output(&reply)), (0, vec!["after".to_string()]), "{name}");
    }

    // The rule fired once for each failing command, with its status.
    f.wait("the rule's two firings", |f| f.fired().len() >= 2);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(f.fired(), ["1", "2"], "{name}: once per failing command");

    // 5,000 lines, all of them.
    let (reply, code) = f.run("seq 5000");
    let out = Fixture::output(&reply);
    assert_eq!((code, out.len(), reply["dropped_lines"].as_u64()), (0, 5000, Some(0)), "{name}");
    assert_eq!((out[0].as_str(), out[4999].as_str()), ("1", "5000"), "{name}");
    // Past --max-bytes the tail is kept and the rest counted.
    let out =
        ctl_command(&f.server, &["run", &f.pane, "--json", "--max-bytes", "100", "--", "seq 1000"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
    let reply = json(&stdout(&out));
    let kept = Fixture::output(&reply);
    assert_eq!(kept.last().map(String::as_str), Some("1000"), "{name}: {reply}");
    assert_eq!(reply["dropped_lines"].as_u64(), Some(1000 - kept.len() as u64), "{name}: {reply}");
    assert!(kept.iter().map(|l| l.len() + 1).sum::<usize>() <= 100, "{name}: {reply}");
    assert_eq!(reply["lines"], 1000);

    // A `log`-only command rule's firing is its trigger record, with the command line.
    let seq = |f: &Fixture| {
        f.daemon
            .events()
            .into_iter()
            .filter(|e| e["event"] == "trigger" && e["rule"] == "seq")
            .count()
    };
    f.wait("the seq rule's trigger records", |f| seq(f) == 2);

    // A heredoc and a multi-line command, typed as they are.
    let heredoc = match name {
        "fish" => "printf '%s\\n' 'hello $HOME' world".to_string(),
        _ => "cat <<'EOF'\nhello $HOME\nworld\nEOF".to_string(),
    };
    let (reply, code) = f.run(&heredoc);
    assert_eq!(
        (code, Fixture::output(&reply)),
        (0, vec!["hello $HOME".into(), "world".into()]),
        "{name}: heredoc"
    );
    let multi = match name {
        "fish" => "for i in 1 2 3\n  echo n=$i\nend",
        _ => "for i in 1 2 3; do\n  echo n=$i\ndone",
    };
    let (reply, _) = f.run(multi);
    assert_eq!(Fixture::output(&reply), ["n=1", "n=2", "n=3"], "{name}: multi-line");

    // `cd` persists: the same shell runs every command.
    std::fs::create_dir_all(f.server.path("sub dir")).unwrap();
    let (reply, _) = f.run("cd 'sub dir'");
    assert!(reply["cwd"].as_str().unwrap_or("").ends_with("/sub dir"), "{name}: {reply}");
    let (reply, _) = f.run("pwd");
    assert!(Fixture::output(&reply)[0].ends_with("/sub dir"), "{name}: {reply}");

    // Ctrl-C while `sleep 10` runs: 130.
    let child =
        f.run_command("sleep 10").stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    f.wait("sleep to run", |f| f.shell_state().is_some_and(|s| s["state"] == "running"));
    std::thread::sleep(Duration::from_millis(200));
    f.keys(&["C-c"]);
    let out = child.wait_with_output().unwrap();
    let reply = json(&stdout(&out));
    assert_eq!(
        (reply["status"].as_i64(), out.status.code()),
        (Some(130), Some(130)),
        "{name}: {reply}"
    );
    assert!(reply["duration_ms"].as_u64().unwrap() < 9000, "{name}");

    // Typed by hand, with a typo mended: a `command` event with the command line as the
    // line editor showed it at Enter (from the shell's `E` where it sends one, from the
    // screen between its `B` and `C` where not: bash).
    let before = f.commands().len();
    f.keys(&["-l", "echo by-hand; falsx"]);
    f.keys(&["BSpace"]);
    f.keys(&["-l", "e"]);
    f.keys(&["Enter"]);
    f.wait("the typed command's event", |f| f.commands().len() > before);
    let event = f.commands().pop().unwrap();
    assert_eq!(
        (event["status"].as_i64(), event["lines"].as_u64()),
        (Some(1), Some(1)),
        "{name}: {event}"
    );
    assert_eq!(event["pane"], f.pane.as_str());
    assert_eq!(event["cmdline"], "echo by-hand; false", "{name}: {event}");
    // One event per command: the 13 run above and this one (none for the lines refused).
    assert_eq!(f.commands().len(), 14, "{name}: {:#?}", f.commands());
    f.wait("the rule's firings", |f| f.fired().len() >= 4);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(f.fired(), ["1", "1", "130", "2"], "{name}: once per failing command");

    // The state `panes` and `status` show.
    let state = f.shell_state().unwrap();
    assert_eq!(
        (state["state"].as_str(), state["last"]["status"].as_i64()),
        (Some("prompt"), Some(1)),
        "{state}"
    );
    let status = json(&stdout(&ctl(&f.server, &["status", "--json"])));
    assert_eq!(status["shells"][0]["pane"], f.pane.as_str(), "{status}");
}

#[test]
fn bash_runs_commands_with_statuses_output_and_events() {
    exercise(BASH);
}

#[test]
fn zsh_runs_commands_with_statuses_output_and_events() {
    if !installed("zsh") {
        eprintln!("skipped: zsh is not installed (apt-get install zsh)");
        return;
    }
    exercise(ZSH);
}

#[test]
fn fish_runs_commands_with_statuses_output_and_events() {
    if !installed("fish") {
        eprintln!("skipped: fish is not installed (apt-get install fish)");
        return;
    }
    exercise(FISH);
}

#[test]
fn bash_integration_chains_prompt_command_keeps_its_status_and_loads_once() {
    let f = Fixture::with_setup(BASH, Some("PROMPT_COMMAND='__st=$?'"));
    let init = f.server.path("init.bash");
    f.keys(&[&format!("source {}", init.display()), "Enter"]);
    f.wait("the second source to finish", |f| f.commands().len() == 1);
    let (reply, code) = f.run("false");
    assert_eq!((reply["status"].as_i64(), code), (Some(1), 1));
    let (reply, _) = f.run(
        "echo \"$__st|$PROMPT_COMMAND\"; [[ $PS0 == *__ctmuxd_ran*__ctmuxd_ran* ]] && echo twice || echo once",
    );
    assert_eq!(Fixture::output(&reply), ["1|__ctmuxd_prompt;__st=$?", "once"], "{reply}");
    // The second `source`, `false` and the `echo`: one event each.
    assert_eq!(f.commands().len(), 3, "{:#?}", f.commands());
}

#[test]
fn a_pane_without_integration_is_refused_with_the_shell_init_hint() {
    let server = TmuxServer::new();
    let _d = crate::api::daemon(&server);
    let pane = server.spawn("exec cat");
    let out = ctl(&server, &["run", &pane, "--", "echo hi"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("ctmuxd shell-init bash"), "{}", stderr(&out));
}
