//! Tests for the exec runner with real processes: environment, output tails,
//! timeouts that kill whole process groups, the concurrency cap, spawn failures and
//! hostile pane text.

use std::path::Path;
use std::time::{Duration, Instant};

use tmux_control_parser::PaneId;

use super::*;

fn ctx(line: &str) -> ActionContext {
    ActionContext {
        rule: "build".into(),
        line: line.into(),
        pane_id: PaneId(3),
        pane_label: None,
        session: "work".into(),
        captures: vec![("id".into(), "42".into())],
    }
}

fn exec(argv: &[&str]) -> ExecAction {
    ExecAction {
        argv: argv.iter().map(|s| s.to_string()).collect(),
        timeout: None,
        cwd: None,
        env: vec![],
    }
}

fn sh(script: &str) -> ExecAction {
    exec(&["sh", "-c", script])
}

/// True once `pid` no longer runs: absent from /proc or a zombie nobody reaped yet
/// (in a container, PID 1 may never reap the orphans we killed).
fn process_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // The state is the first field after the parenthesised command name.
        Ok(stat) => stat.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('Z')),
    }
}

async fn wait_gone(pid: u32) -> bool {
    for _ in 0..100 {
        if process_gone(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

fn read_pid(path: &Path) -> u32 {
    std::fs::read_to_string(path).unwrap().trim().parse().unwrap()
}

#[tokio::test]
async fn child_sees_ctmux_env_and_action_env() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("env.txt");
    let mut action = sh(&format!("env > '{}'", out.display()));
    action.env = vec![("EXTRA".into(), "yes".into())];
    let mut context = ctx("TRIGGER: START_BUILD 42");
    context.captures.push(("kind".into(), "fast".into()));
    let outcome = ExecRunner::new(2, Duration::from_secs(10)).run(&action, &context).await;
    assert!(outcome.ok, "{outcome:?}");
    assert_eq!(outcome.exit_code, Some(0));

    let env = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = env.lines().collect();
    for expected in [
        "CTMUX_LINE=TRIGGER: START_BUILD 42",
        "CTMUX_PANE_ID=%3",
        "CTMUX_PANE_LABEL=",
        "CTMUX_SESSION=work",
        "CTMUX_RULE=build",
        "CTMUX_CAP_id=42",
        "CTMUX_CAP_kind=fast",
        "EXTRA=yes",
    ] {
        assert!(lines.contains(&expected), "missing {expected:?} in:\n{env}");
    }
}

#[tokio::test]
async fn capture_reaches_argv_free_program_and_stdout_tail() {
    let mut context = ctx("x");
    context.pane_label = Some("test-1".into());
    let runner = ExecRunner::new(1, Duration::from_secs(10));
    let outcome =
        runner.run(&exec(&["printenv", "CTMUX_CAP_id", "CTMUX_PANE_LABEL"]), &context).await;
    assert!(outcome.ok, "{outcome:?}");
    assert_eq!(outcome.stdout_tail, "42\ntest-1\n");
    assert_eq!(outcome.stderr_tail, "");
}

#[tokio::test]
async fn failing_exit_is_reported_with_both_tails() {
    let runner = ExecRunner::new(1, Duration::from_secs(10));
    let outcome = runner.run(&sh("echo out; echo err >&2; exit 3"), &ctx("x")).await;
    assert!(!outcome.ok);
    assert_eq!(outcome.exit_code, Some(3));
    assert_eq!(outcome.signal, None);
    assert!(!outcome.timed_out);
    assert_eq!(outcome.stdout_tail, "out\n");
    assert_eq!(outcome.stderr_tail, "err\n");
    assert_eq!(outcome.error.as_deref(), Some("`sh` exited with status 3"));
}

#[tokio::test]
async fn output_tail_is_bounded_to_the_last_bytes() {
    let runner = ExecRunner::new(1, Duration::from_secs(10));
    // 100 000 bytes of "abc\n" then a marker line: only the end survives.
    let outcome = runner.run(&sh("yes abc | head -c 100000; echo END"), &ctx("x")).await;
    assert!(outcome.ok, "{outcome:?}");
    assert_eq!(outcome.stdout_tail.len(), OUTPUT_TAIL_BYTES);
    assert!(outcome.stdout_tail.ends_with("abc\nEND\n"));
}

#[tokio::test]
async fn timeout_kills_the_whole_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    let mut action = sh(&format!("sleep 100 & echo $! > '{}'; sleep 100", pid_file.display()));
    action.timeout = Some(Duration::from_millis(300));
    let runner = ExecRunner::new(1, Duration::from_secs(60));
    let started = Instant::now();
    let outcome = runner.run(&action, &ctx("x")).await;
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    assert!(outcome.timed_out);
    assert!(!outcome.ok);
    assert_eq!(outcome.signal, Some(libc::SIGTERM));
    assert!(outcome.error.as_deref().unwrap().contains("timed out after 300ms"), "{outcome:?}");
    let grandchild = read_pid(&pid_file);
    assert!(wait_gone(grandchild).await, "background sleep {grandchild} survived the timeout");
    assert_eq!(runner.running(), 0);
}

#[tokio::test]
async fn timeout_sigkills_a_group_that_ignores_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    // Ignored signals stay ignored across exec, so both sleeps shrug off SIGTERM.
    let mut action =
        sh(&format!("trap '' TERM; sleep 100 & echo $! > '{}'; sleep 100", pid_file.display()));
    action.timeout = Some(Duration::from_millis(300));
    let runner =
        ExecRunner::new(1, Duration::from_secs(60)).with_kill_grace(Duration::from_millis(200));
    let outcome = runner.run(&action, &ctx("x")).await;
    assert!(outcome.timed_out);
    assert_eq!(outcome.signal, Some(libc::SIGKILL));
    let grandchild = read_pid(&pid_file);
    assert!(wait_gone(grandchild).await, "background sleep {grandchild} survived SIGKILL");
}

#[tokio::test]
async fn default_timeout_applies_when_the_action_has_none() {
    let runner = ExecRunner::new(1, Duration::from_millis(200));
    let outcome = runner.run(&exec(&["sleep", "100"]), &ctx("x")).await;
    assert!(outcome.timed_out);
    assert!(outcome.duration < Duration::from_secs(5));
}

#[tokio::test]
async fn dropping_the_run_future_kills_the_group() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    let action = sh(&format!("sleep 100 & echo $! > '{}'; sleep 100", pid_file.display()));
    let runner = ExecRunner::new(1, Duration::from_secs(60));
    let task = {
        let runner = runner.clone();
        tokio::spawn(async move { runner.run(&action, &ctx("x")).await })
    };
    while !pid_file.exists() || std::fs::read_to_string(&pid_file).unwrap().trim().is_empty() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(runner.running(), 1);
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    assert!(wait_gone(read_pid(&pid_file)).await);
    assert_eq!(runner.running(), 0);
}

#[tokio::test]
async fn background_job_of_a_finished_action_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    // The background sleep keeps stdout open; run must still return promptly.
    let action = sh(&format!("sleep 5 & echo $! > '{}'; echo started", pid_file.display()));
    let started = Instant::now();
    let outcome = ExecRunner::new(1, Duration::from_secs(60)).run(&action, &ctx("x")).await;
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
    assert!(outcome.ok, "{outcome:?}");
    assert_eq!(outcome.stdout_tail, "started\n");
    let pid = read_pid(&pid_file);
    assert!(!process_gone(pid), "a normal exit must not kill the action's background job");
    // SAFETY: kill(2) on a pid we just read from our own child's pid file.
    unsafe {
        libc::kill(pid as i32, libc::SIGKILL);
    }
}

#[tokio::test]
async fn cap_of_two_never_runs_more_than_two() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let runner = ExecRunner::new(2, Duration::from_secs(30));
    let action = sh(&format!("echo + >> '{0}'; sleep 0.3; echo - >> '{0}'", log.display()));

    let sampler = {
        let runner = runner.clone();
        tokio::spawn(async move {
            let mut max = 0;
            for _ in 0..200 {
                max = max.max(runner.running());
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            max
        })
    };
    let started = Instant::now();
    let tasks: Vec<_> = (0..5)
        .map(|_| {
            let (runner, action) = (runner.clone(), action.clone());
            tokio::spawn(async move { runner.run(&action, &ctx("x")).await })
        })
        .collect();
    for task in tasks {
        assert!(task.await.unwrap().ok);
    }
    // Five 0.3 s actions two at a time need three rounds.
    assert!(started.elapsed() >= Duration::from_millis(850), "took {:?}", started.elapsed());
    assert!(sampler.await.unwrap() <= 2);
    assert_eq!((runner.running(), runner.waiting()), (0, 0));

    // The children's own record: at most two between a + and its -, and two did overlap.
    let (mut now, mut peak) = (0i32, 0i32);
    for line in std::fs::read_to_string(&log).unwrap().lines() {
        now += if line == "+" { 1 } else { -1 };
        peak = peak.max(now);
    }
    assert_eq!(peak, 2);
}

#[tokio::test]
async fn missing_binary_is_an_outcome_naming_argv0() {
    let runner = ExecRunner::new(1, Duration::from_secs(10));
    let outcome =
        runner.run(&exec(&["./scripts/no-such-ctmuxd-script.sh", "--fast"]), &ctx("x")).await;
    assert!(!outcome.ok);
    assert_eq!(outcome.exit_code, None);
    let error = outcome.error.unwrap();
    assert!(
        error.starts_with(
            "cannot run `./scripts/no-such-ctmuxd-script.sh`: no such file or directory"
        ),
        "{error}"
    );
    assert_eq!(runner.running(), 0);
}

#[tokio::test]
async fn missing_cwd_is_named_instead_of_the_program() {
    let mut action = exec(&["true"]);
    action.cwd = Some("/nonexistent/ctmuxd-dir".into());
    let outcome = ExecRunner::new(1, Duration::from_secs(10)).run(&action, &ctx("x")).await;
    assert!(!outcome.ok);
    assert_eq!(
        outcome.error.as_deref(),
        Some(
            "cannot run `true`: working directory `/nonexistent/ctmuxd-dir` does not exist; \
             fix the action's `cwd`"
        )
    );
}

#[tokio::test]
async fn hostile_line_text_is_only_data() {
    let dir = tempfile::tempdir().unwrap();
    let canary = dir.path().join("canary");
    let c = canary.display();
    let line = format!(
        "$(touch {c}) `touch {c}` ; touch {c}; rm -rf {} && touch {c} | x",
        dir.path().display()
    );
    let out = dir.path().join("out");
    let runner = ExecRunner::new(2, Duration::from_secs(10));

    // Through a configured shell that quotes the variable: printed, not run.
    let action = sh(&format!("printf '%s' \"$CTMUX_LINE\" > '{}'", out.display()));
    let outcome = runner.run(&action, &ctx(&line)).await;
    assert!(outcome.ok, "{outcome:?}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), line);

    // And with no shell at all.
    let outcome = runner.run(&exec(&["printenv", "CTMUX_LINE"]), &ctx(&line)).await;
    assert_eq!(outcome.stdout_tail, format!("{line}\n"));
    assert!(!canary.exists(), "pane text was executed");
    assert!(dir.path().exists());
}

#[tokio::test]
async fn nul_in_pane_text_does_not_fail_the_spawn() {
    let runner = ExecRunner::new(1, Duration::from_secs(10));
    let outcome = runner.run(&exec(&["printenv", "CTMUX_LINE"]), &ctx("a\0b")).await;
    assert!(outcome.ok, "{outcome:?}");
    assert_eq!(outcome.stdout_tail, "ab\n");
}

#[tokio::test]
async fn cwd_is_applied() {
    let dir = tempfile::tempdir().unwrap();
    let mut action = exec(&["pwd"]);
    action.cwd = Some(dir.path().to_path_buf());
    let outcome = ExecRunner::new(1, Duration::from_secs(10)).run(&action, &ctx("x")).await;
    let expected = dir.path().canonicalize().unwrap();
    assert_eq!(outcome.stdout_tail.trim_end(), expected.to_str().unwrap());
}
