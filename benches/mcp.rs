//! `ctmuxd mcp` beside libtmux-mcp, the tmux MCP server on PyPI, driven by the same MCP
//! client (the official Python SDK, `benches/mcp_driver.py`) over stdio, on the same
//! private tmux server, one after the other in each round. Prints a table:
//!
//! - `wait_for` print → return: ours `wait_for` (the daemon's streamed waiter) and
//!   libtmux-mcp's `wait_for_text` (polls `capture-pane` every 50 ms), each called for a
//!   fresh marker that `cat` in a pane then prints (written to its FIFO 150 ms after the
//!   call, so both are surely waiting); p50 / p99 over `CTMUXD_BENCH_N` rounds (default 50).
//! - a marker followed by 5,000 lines in one write: how many of `CTMUXD_BENCH_FLOOD`
//!   tries (default 8) the wait saw the marker within 3 s.
//! - `run` of `true` (ours: a bash with `ctmuxd shell-init`, the command typed as it is)
//!   beside libtmux-mcp's `run_command` (another bash: the command wrapped with `tmux
//!   wait-for -S` and a status option): call → return, p50 / p99.
//!
//! `cargo bench --bench mcp`. The Python is `$CTMUXD_BENCH_PYTHON` (default `python3`); it
//! needs the MCP SDK (`pip install mcp`), and libtmux-mcp (`pip install libtmux-mcp`) for
//! the baseline: without it the bench says so and measures ours alone. libtmux-mcp runs
//! the `tmux` on `PATH`, so leave `CTMUXD_TMUX` unset (both must be one tmux release).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;
use common::{ok, pct, Server};

/// `p50 / p99` of samples in ms.
fn quantiles(samples: &Value) -> (f64, f64) {
    let mut v: Vec<f64> =
        samples.as_array().map_or(vec![], |a| a.iter().filter_map(Value::as_f64).collect());
    v.sort_by(f64::total_cmp);
    (pct(&v, 0.5), pct(&v, 0.99))
}

fn main() {
    let n: usize = std::env::var("CTMUXD_BENCH_N").ok().and_then(|v| v.parse().ok()).unwrap_or(50);
    let tries: usize =
        std::env::var("CTMUXD_BENCH_FLOOD").ok().and_then(|v| v.parse().ok()).unwrap_or(8);
    let python = std::env::var("CTMUXD_BENCH_PYTHON").unwrap_or_else(|_| "python3".into());
    let has = |module: &str| {
        Command::new(&python)
            .args(["-c", &format!("import {module}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !has("mcp") {
        println!(
            "mcp bench: `{python}` cannot import the MCP Python SDK (`pip install mcp`), \
             which drives both servers; nothing measured"
        );
        return;
    }
    if !has("libtmux_mcp") {
        println!(
            "mcp bench: libtmux-mcp is not installed in `{python}` (`pip install libtmux-mcp`, \
             or set CTMUXD_BENCH_PYTHON to a Python that has it): measuring ctmuxd mcp alone"
        );
    }

    let server = Server::new("mcp");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut daemon = server.quiet_daemon(dir.path());
    // A bash labelled `label` at its first prompt; its pane id.
    let bash = |label: &str| server.bash(dir.path(), label);
    let ours_run = bash("ours");
    let init = Command::new(env!("CARGO_BIN_EXE_ctmuxd")).args(["shell-init", "bash"]).output();
    let init_file = dir.path().join("init.bash");
    std::fs::write(&init_file, init.expect("shell-init").stdout).unwrap();
    let source = format!("source {}", init_file.display());
    ok(server.ctmuxd(&["send", "ours", "--enter", "--", &source]), "shell-init");
    let end = Instant::now() + Duration::from_secs(10);
    while !server.ctmuxd(&["run", "ours", "--", "true"]).status.success() {
        assert!(Instant::now() < end, "the shell never showed integration");
        std::thread::sleep(Duration::from_millis(100));
    }
    let theirs_run = bash("theirs");
    let fifo = dir.path().join("print.fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success(), "mkfifo failed");
    let print_pane = server
        .tmux(&[
            "new-window",
            "-d",
            "-t",
            "bench",
            "-P",
            "-F",
            "#{pane_id}",
            "cat",
            &fifo.to_string_lossy(),
        ])
        .trim()
        .to_string();

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/mcp_driver.py");
    let out = Command::new(&python)
        .arg(script)
        .args([env!("CARGO_BIN_EXE_ctmuxd"), &server.name, &print_pane])
        .arg(&fifo)
        .args([&ours_run, &theirs_run, &n.to_string(), &tries.to_string()])
        .env_remove("TMUX")
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .expect("run the MCP driver");
    let _ = server.ctmuxd(&["stop"]);
    let _ = daemon.wait();
    assert!(out.status.success(), "the driver failed: {}", String::from_utf8_lossy(&out.stdout));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let r: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("driver output is not JSON ({e}): {stdout}"));

    let sides: Vec<(&str, &Value)> = [("ctmuxd mcp", &r["ours"]), ("libtmux-mcp", &r["theirs"])]
        .into_iter()
        .filter(|(_, v)| v.get("wait_ms").is_some())
        .collect();
    if sides.len() == 2 {
        println!("\nctmuxd mcp beside libtmux-mcp, MCP Python SDK over stdio, same tmux server");
    } else {
        println!("\nctmuxd mcp alone (libtmux-mcp not installed), MCP Python SDK over stdio");
    }
    println!("{:<44} {:>22} {:>22}", "measure", sides[0].0, sides.get(1).map_or("", |s| s.0));
    let row = |name: &str, f: &dyn Fn(&Value) -> String| {
        let cells: Vec<String> = sides.iter().map(|(_, v)| f(v)).collect();
        println!("{name:<44} {:>22} {:>22}", cells[0], cells.get(1).cloned().unwrap_or_default());
    };
    row(&format!("wait_for print→return p50 / p99 (ms, n={n})"), &|v| {
        let (p50, p99) = quantiles(&v["wait_ms"]);
        format!("{p50:.2} / {p99:.2}")
    });
    row("wait_for: marker not seen within 3 s", &|v| format!("{}", v["wait_missed"]));
    row("marker + 5,000 lines: seen", &|v| format!("{} of {}", v["flood_hits"], v["flood_tries"]));
    row(&format!("run `true` round trip p50 / p99 (ms, n={n})"), &|v| {
        let (p50, p99) = quantiles(&v["run_ms"]);
        format!("{p50:.2} / {p99:.2}")
    });
    if sides.len() == 2 {
        let ratio = |k: &str, q: usize| {
            let a = quantiles(&sides[0].1[k]);
            let b = quantiles(&sides[1].1[k]);
            [a.0 / b.0, a.1 / b.1][q]
        };
        println!(
            "ratio ours/theirs: wait_for p50 {:.3}× p99 {:.3}× (target ≤ 0.1×); run p50 {:.3}× p99 {:.3}×",
            ratio("wait_ms", 0),
            ratio("wait_ms", 1),
            ratio("run_ms", 0),
            ratio("run_ms", 1)
        );
    }
}
