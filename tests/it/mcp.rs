//! `ctmuxd mcp` (issue 15) driven as an MCP client drives it: the binary as a child with
//! piped stdio, JSON-RPC lines written and read here (initialize, initialized,
//! tools/list, tools/call, progress, cancellation), against a real tmux and daemon.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::harness::{bin, Daemon, TmuxServer};

/// An MCP session with a `ctmuxd mcp` child.
struct Mcp {
    child: Child,
    stdin: ChildStdin,
    /// Lines the child writes on stdout (its messages), read by a thread.
    lines: mpsc::Receiver<Value>,
    /// Notifications seen while waiting for responses.
    notes: Vec<Value>,
    next_id: u64,
}

impl Mcp {
    /// Starts `ctmuxd mcp -L <server> extra...` with `env`, and initializes the session;
    /// returns it and the `initialize` result.
    fn start(server: &TmuxServer, extra: &[&str], env: &[(&str, &str)]) -> (Mcp, Value) {
        let mut cmd = Command::new(bin());
        cmd.arg("mcp").arg("-L").arg(&server.name).args(extra).env_remove("TMUX");
        cmd.env_remove("TMUX_PANE").env("XDG_STATE_HOME", server.path("state"));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(server.path("mcp.stderr")).expect("stderr file"))
            .spawn()
            .expect("spawn ctmuxd mcp");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let v: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line}"));
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        let mut mcp = Mcp { child, stdin, lines, notes: Vec::new(), next_id: 1 };
        let init = mcp.request(
            "initialize",
            json!({"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "ctmuxd-it", "version": "0"}}),
        );
        mcp.notify("notifications/initialized", json!({}));
        (mcp, init)
    }

    fn write(&mut self, msg: Value) {
        let mut line = serde_json::to_vec(&msg).unwrap();
        line.push(b'\n');
        self.stdin.write_all(&line).expect("write to ctmuxd mcp");
        self.stdin.flush().unwrap();
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.write(json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    /// Sends a request without waiting; returns its id.
    fn send_request(&mut self, method: &str, params: Value) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.write(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        id
    }

    /// The response to request `id` (its whole message), keeping notifications.
    fn response(&mut self, id: u64, within: Duration) -> Value {
        let end = Instant::now() + within;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            let msg = self.lines.recv_timeout(left).unwrap_or_else(|_| {
                panic!("no response to request {id} within {within:?}; notes: {:?}", self.notes)
            });
            if msg["id"] == id && msg.get("method").is_none() {
                return msg;
            }
            self.notes.push(msg);
        }
    }

    /// A request's result (panics on a JSON-RPC error).
    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.send_request(method, params);
        let msg = self.response(id, Duration::from_secs(30));
        assert!(msg.get("error").is_none(), "{method} failed: {msg}");
        msg["result"].clone()
    }

    /// A tool's result: (`structuredContent`, `isError`); checks the text content is the
    /// same JSON.
    fn call(&mut self, tool: &str, args: Value) -> (Value, bool) {
        let r = self.request("tools/call", json!({"name": tool, "arguments": args}));
        let text = r["content"][0]["text"].as_str().unwrap_or_else(|| panic!("no text: {r}"));
        let from_text: Value = serde_json::from_str(text).unwrap();
        assert_eq!(from_text, r["structuredContent"], "text and structuredContent differ");
        (r["structuredContent"].clone(), r["isError"] == true)
    }

    /// A tool's result that must succeed.
    fn ok(&mut self, tool: &str, args: Value) -> Value {
        let (v, err) = self.call(tool, args.clone());
        assert!(!err, "{tool} {args} failed: {v}");
        v
    }
}

impl Drop for Mcp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The daemon's count of run-time waiters (`ctmuxd status --json`).
fn daemon_waiters(server: &TmuxServer) -> u64 {
    let o = Command::new(bin())
        .args(["status", "-L", &server.name, "--json"])
        .env_remove("TMUX")
        .env("XDG_STATE_HOME", server.path("state"))
        .output()
        .expect("ctmuxd status");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).expect("status JSON");
    v["waiters"].as_u64().unwrap_or_else(|| panic!("no waiters in {v}"))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|l| l.as_str().unwrap().to_string()).collect()
}

/// The whole path an agent takes: list tools, label a shell pane, run commands in it
/// with send+expect, follow its output with read (no line twice, none skipped), wait_for
/// with captures, capture the screen, and see a rule's firing in events.
#[test]
fn mcp_tools_drive_a_shell_pane() {
    let server = TmuxServer::new();
    let rules =
        "[[rule]]\nname = \"answer\"\npattern = '^mark-(?P<n>\\d+)$'\nactions = [ \"log\" ]\n";
    let _d = Daemon::start(&server, rules, &[]);
    let pane = server.spawn("exec sh");
    let (mut mcp, init) = Mcp::start(&server, &[], &[]);
    assert_eq!(init["serverInfo"]["name"], "ctmuxd");
    assert!(init["instructions"].as_str().unwrap().contains("read"), "{init}");

    let tools = mcp.request("tools/list", json!({}));
    let mut names: Vec<&str> =
        tools["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "capture", "close", "events", "label", "panes", "read", "run", "send", "spawn",
            "wait_for"
        ]
    );
    for t in tools["tools"].as_array().unwrap() {
        assert_eq!(t["inputSchema"]["type"], "object", "{t}");
        assert!(t["description"].as_str().unwrap().len() > 40, "{t}");
    }

    let labelled = mcp.ok("label", json!({"pane": pane, "label": "shell"}));
    assert_eq!(labelled["pane"]["id"], pane.as_str());
    let panes = mcp.ok("panes", json!({}));
    let me = panes["panes"].as_array().unwrap().iter().find(|p| p["label"] == "shell").unwrap();
    assert_eq!(me["id"], pane.as_str());
    assert_eq!(me["size"].as_array().unwrap().len(), 2);

    let start = mcp.ok("read", json!({"pane": "shell"}));
    let c0 = start["cursor"].as_u64().unwrap();

    let sent = mcp.ok(
        "send",
        json!({"pane": "shell", "text": "echo mark-$((6*7))", "enter": true, "expect": "^mark-42$"}),
    );
    assert_eq!(sent["matched"]["line"], "mark-42");
    let sent = mcp.ok(
        "send",
        json!({"pane": "shell", "text": "for i in 1 2 3 4 5; do echo n$i; done", "enter": true,
               "expect": "^n5$"}),
    );
    assert_eq!(sent["matched"]["line"], "n5");

    let r1 = mcp.ok("read", json!({"pane": "shell", "cursor": c0}));
    let lines = strings(&r1["lines"]);
    let outputs: Vec<&str> = lines
        .iter()
        .map(String::as_str)
        .filter(|l| *l == "mark-42" || l.starts_with('n'))
        .collect();
    assert_eq!(outputs, ["mark-42", "n1", "n2", "n3", "n4", "n5"], "{r1}");
    assert_eq!(r1["first"].as_u64(), Some(c0 + 1), "{r1}");
    assert_eq!((r1["gap"].as_u64(), r1["cut"].as_u64()), (Some(0), Some(0)), "{r1}");
    let c1 = r1["cursor"].as_u64().unwrap();
    assert_eq!(c1 - c0, lines.len() as u64, "every line between the cursors, once: {r1}");

    mcp.ok(
        "send",
        json!({"pane": "shell", "text": "echo after", "enter": true, "expect": "^after$"}),
    );
    let r2 = mcp.ok("read", json!({"pane": "shell", "cursor": c1}));
    let lines2 = strings(&r2["lines"]);
    assert_eq!(r2["first"].as_u64(), Some(c1 + 1), "no gap: {r2}");
    assert!(lines2.iter().any(|l| l == "after"), "{r2}");
    assert!(!lines2.iter().any(|l| l == "n5" || l == "mark-42"), "no line twice: {r2}");

    // A small budget keeps the newest line and says what it cut.
    let small = mcp.ok("read", json!({"pane": "shell", "cursor": c0, "max_lines": 1}));
    assert_eq!(strings(&small["lines"]).len(), 1);
    assert!(small["cut"].as_u64().unwrap() > 0 && small["truncated"].is_string(), "{small}");

    let w = mcp.ok(
        "wait_for",
        json!({"pane": "shell", "pattern": "^mark-(?P<n>\\d+)$", "since": 50, "timeout_ms": 5000}),
    );
    assert_eq!(w["match"]["captures"]["n"], "42", "{w}");
    let (timeout, is_err) =
        mcp.call("wait_for", json!({"pane": "shell", "pattern": "^never$", "timeout_ms": 300}));
    assert!(is_err && timeout["error"]["code"] == "timeout", "{timeout}");

    let cap = mcp.ok("capture", json!({"pane": "shell"}));
    assert_eq!(cap["view"], "screen");
    assert!(strings(&cap["lines"]).iter().any(|l| l == "after"), "{cap}");
    let log = mcp.ok("capture", json!({"pane": "shell", "lines": 3}));
    assert_eq!(log["view"], "log");

    let ev = mcp.ok("events", json!({}));
    let fired: Vec<&Value> =
        ev["events"].as_array().unwrap().iter().filter(|e| e["rule"] == "answer").collect();
    assert!(!fired.is_empty(), "the rule's firing is among the events: {ev}");
    let again = mcp.ok("events", json!({"cursor": ev["cursor"]}));
    assert!(
        again["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["cursor"].as_u64() > ev["cursor"].as_u64()),
        "{again}"
    );

    let (unknown, is_err) = mcp.call("capture", json!({"pane": "nope"}));
    assert!(is_err && unknown["error"]["code"] == "not_found", "{unknown}");

    let spawned = mcp.ok(
        "spawn",
        json!({"label": "job", "command": ["sh", "-c", "echo spawned-ok; exec cat"],
               "meta": {"by": "agent"}}),
    );
    assert_eq!(spawned["pane"]["label"], "job");
    mcp.ok("wait_for", json!({"pane": "job", "pattern": "^spawned-ok$", "since": 5}));
    let closed = mcp.ok("close", json!({"labels": ["job"]}));
    assert_eq!(closed["closed"][0]["label"], "job", "{closed}");
}

/// A long `wait_for` sends progress notifications for the client's token, answers when
/// the line comes; a cancelled one is not answered and the session goes on.
#[test]
fn mcp_wait_for_reports_progress_and_can_be_cancelled() {
    let server = TmuxServer::new();
    let _d = Daemon::start(&server, "", &[]);
    let pane = server.spawn("exec sh");
    let (mut mcp, _) = Mcp::start(&server, &[], &[]);
    let id = mcp.send_request(
        "tools/call",
        json!({"name": "wait_for", "_meta": {"progressToken": "tok-1"},
               "arguments": {"pane": pane, "pattern": "^late$", "timeout_ms": 20000}}),
    );
    // The line comes only once a progress notification has (every 5 s): timing-proof.
    let note = mcp.lines.recv_timeout(Duration::from_secs(15)).expect("no progress in 15 s");
    assert_eq!(note["method"], "notifications/progress", "{note}");
    mcp.notes.push(note);
    server.tmux_ok(&["send-keys", "-t", &pane, "echo late", "Enter"]);
    let msg = mcp.response(id, Duration::from_secs(10));
    assert_eq!(msg["result"]["structuredContent"]["match"]["line"], "late", "{msg}");
    let progress: Vec<&Value> =
        mcp.notes.iter().filter(|n| n["method"] == "notifications/progress").collect();
    assert!(!progress.is_empty(), "no progress notification: {:?}", mcp.notes);
    assert_eq!(progress[0]["params"]["progressToken"], "tok-1");

    let id = mcp.send_request(
        "tools/call",
        json!({"name": "wait_for", "arguments": {"pane": pane, "pattern": "^never$", "timeout_ms": 20000}}),
    );
    let registered = Instant::now() + Duration::from_secs(5);
    while daemon_waiters(&server) != 1 {
        assert!(Instant::now() < registered, "the wait never reached the daemon");
        std::thread::sleep(Duration::from_millis(50));
    }
    mcp.notify("notifications/cancelled", json!({"requestId": id, "reason": "test"}));
    let t = Instant::now();
    let panes = mcp.ok("panes", json!({}));
    assert!(!panes["panes"].as_array().unwrap().is_empty());
    assert!(t.elapsed() < Duration::from_secs(5));
    // The daemon drops the cancelled wait's waiter at once, not at its 20 s timeout.
    while daemon_waiters(&server) != 0 {
        assert!(t.elapsed() < Duration::from_secs(3), "the cancelled wait's waiter stayed");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    while let Ok(m) = mcp.lines.try_recv() {
        assert_ne!(m["id"], id, "a cancelled request was answered: {m}");
    }
}

/// `--read-only` hides and refuses the write tools; `--scope` hides other panes and refuses
/// them by name; the server's own pane is refused to `send` unless `--allow-self`.
#[test]
fn mcp_safety_flags_limit_what_the_agent_touches() {
    let server = TmuxServer::new();
    let _d = Daemon::start(&server, "", &[]);
    let mine = server.spawn("exec sh");
    let other = server.spawn("exec sh");
    let (mut setup, _) = Mcp::start(&server, &[], &[]);
    setup.ok("label", json!({"pane": mine, "label": "agent-1"}));
    setup.ok("label", json!({"pane": other, "label": "db"}));
    drop(setup);

    let (mut ro, init) = Mcp::start(&server, &["--read-only", "--scope", "agent-*"], &[]);
    assert!(init["instructions"].as_str().unwrap().contains("Read-only"), "{init}");
    let tools = ro.request("tools/list", json!({}));
    let names: Vec<&str> =
        tools["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert!(!names.contains(&"send") && names.contains(&"read"), "{names:?}");
    let id = ro.send_request(
        "tools/call",
        json!({"name": "send", "arguments": {"pane": "agent-1", "text": "x"}}),
    );
    let msg = ro.response(id, Duration::from_secs(10));
    assert!(
        msg.get("error").is_some() || msg["result"]["isError"] == true,
        "send under --read-only: {msg}"
    );
    let panes = ro.ok("panes", json!({}));
    let labels: Vec<&str> =
        panes["panes"].as_array().unwrap().iter().map(|p| p["label"].as_str().unwrap()).collect();
    assert_eq!(labels, ["agent-1"]);
    let (out, is_err) = ro.call("capture", json!({"pane": "db"}));
    assert!(is_err && out["error"]["message"].as_str().unwrap().contains("outside"), "{out}");
    drop(ro);
    let (mut scoped, _) = Mcp::start(&server, &["--scope", "agent-*"], &[]);
    let (out, is_err) = scoped.call("spawn", json!({"label": "db2"}));
    assert!(is_err && out["error"]["code"] == "refused", "{out}");
    let (out, is_err) = scoped.call("close", json!({"labels": ["db"]}));
    assert!(is_err && out["error"]["code"] == "refused", "{out}");
    drop(scoped);

    // As if the server ran in pane `mine` of this tmux server.
    let socket = server.tmux_ok(&["display", "-p", "#{socket_path}"]).trim().to_string();
    let tmux_env = format!("{socket},1,0");
    let env = [("TMUX", tmux_env.as_str()), ("TMUX_PANE", mine.as_str())];
    let (mut inside, _) = Mcp::start(&server, &[], &env);
    let (out, is_err) = inside.call("send", json!({"pane": "agent-1", "text": "echo hi"}));
    assert!(is_err && out["error"]["message"].as_str().unwrap().contains("--allow-self"), "{out}");
    inside
        .ok("send", json!({"pane": "db", "text": "echo fine", "enter": true, "expect": "^fine$"}));
    let (mut allowed, _) = Mcp::start(&server, &["--allow-self"], &env);
    allowed
        .ok("send", json!({"pane": "agent-1", "text": "echo me", "enter": true, "expect": "^me$"}));
}

/// With no daemon for the server, `ctmuxd mcp` starts one and says so.
#[test]
fn mcp_starts_a_daemon_when_none_runs() {
    let server = TmuxServer::new();
    let (mut mcp, init) = Mcp::start(&server, &[], &[]);
    let text = init["instructions"].as_str().unwrap();
    assert!(text.contains("started one"), "{text}");
    let panes = mcp.ok("panes", json!({}));
    assert!(!panes["panes"].as_array().unwrap().is_empty(), "{panes}");
    drop(mcp);
    let o = Command::new(bin())
        .args(["stop", "-L", &server.name])
        .env_remove("TMUX")
        .env("XDG_STATE_HOME", server.path("state"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// A client no one here wrote: the official MCP Python SDK drives the server
/// (tests/mcp/python_client.py: tools, progress, a rule firing pushed to its
/// `logging_callback`, a call it abandons cancelled in the daemon too). Skipped, saying
/// why, when `python3 -c 'import mcp'` fails (`.ci/run` installs it with `pip install mcp`
/// when it can).
#[test]
fn mcp_python_sdk_client() {
    let have = Command::new("python3")
        .args(["-c", "import mcp"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !have {
        eprintln!("skipped: the MCP Python SDK is not installed (`pip install mcp`)");
        return;
    }
    let server = TmuxServer::new();
    let rules = "[[rule]]\nname = \"py\"\npattern = '^py-\\d+$'\nactions = [\"log\"]\n";
    let _d = Daemon::start(&server, rules, &[]);
    let pane = server.spawn("exec sh");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/mcp/python_client.py");
    let o = Command::new("python3")
        .args([script, bin(), &server.name, &pane])
        .env_remove("TMUX")
        .env("XDG_STATE_HOME", server.path("state"))
        .stdin(Stdio::null())
        .output()
        .expect("run python3");
    assert!(
        o.status.success(),
        "python client failed:\n{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("python mcp client: ok"));
}

/// `read` says what it could not give: lines the pane printed after the cursor that the
/// ring no longer keeps (`gap`), and lines the budget left out (`cut`), keeping the newest;
/// identical lines collapse.
#[test]
fn mcp_read_reports_gaps_cuts_and_repeats() {
    let server = TmuxServer::new();
    let _d = Daemon::start(&server, "[settings]\nring_lines = 10\n", &[]);
    let pane = server.spawn("exec sh");
    let (mut mcp, _) = Mcp::start(&server, &[], &[]);
    let c0 = mcp.ok("read", json!({"pane": pane}))["cursor"].as_u64().unwrap();
    mcp.ok(
        "send",
        json!({"pane": pane, "text": "for i in $(seq 1 30); do echo r$i; done", "enter": true,
               "expect": "^r30$"}),
    );
    let r = mcp.ok("read", json!({"pane": pane, "cursor": c0}));
    let lines = strings(&r["lines"]);
    assert_eq!(lines.last().map(String::as_str), Some("r30"), "{r}");
    assert_eq!(lines.len(), 10, "the ring keeps 10: {r}");
    let gap = r["gap"].as_u64().unwrap();
    assert_eq!(r["first"].as_u64().unwrap(), c0 + 1 + gap, "the gap ends where lines start: {r}");
    assert!(gap >= 20 && r["truncated"].as_str().unwrap().contains("no longer kept"), "{r}");

    let c1 = r["cursor"].as_u64().unwrap();
    mcp.ok(
        "send",
        json!({"pane": pane, "text": "for i in 1 2 3 4 5 6; do echo same; done; echo end", "enter": true,
               "expect": "^end$"}),
    );
    let r = mcp.ok("read", json!({"pane": pane, "cursor": c1, "max_lines": 3}));
    let lines = strings(&r["lines"]);
    assert_eq!(
        lines[lines.len() - 3..],
        ["same", "… (previous line repeated 5 more time(s))", "end"],
        "{r}"
    );
    assert_eq!((r["gap"].as_u64(), r["collapsed"].as_u64()), (Some(0), Some(5)), "{r}");
    assert!(r["cut"].as_u64().unwrap() >= 1, "the command line is cut: {r}");
}

/// `run` through MCP: a command typed into a bash pane with shell integration answers its
/// exit status and all its output, and `--read-only` hides it.
#[test]
fn mcp_run_answers_a_commands_status_and_output() {
    let server = TmuxServer::new();
    let _d = Daemon::start(
        &server,
        "[[rule]]\nname = \"x\"\npattern = 'x^'\nactions = [\"log\"]\n",
        &[],
    );
    let pane = integrated_bash(&server);
    let (mut mcp, _) = Mcp::start(&server, &[], &[]);
    let reply = run_when_integrated(&mut mcp, &pane, "seq 3; false");
    assert_eq!(reply["status"], 1, "{reply}");
    assert_eq!(strings(&reply["output"]), ["1", "2", "3"], "{reply}");
    assert!(reply["duration_ms"].is_u64(), "{reply}");

    let (mut ro, _) = Mcp::start(&server, &["--read-only"], &[]);
    let tools = ro.request("tools/list", json!({}));
    assert!(
        tools["tools"].as_array().unwrap().iter().all(|t| t["name"] != "run"),
        "read-only hides run: {tools}"
    );
}

/// Outputs sized for a model: a progress bar redrawn with carriage returns and one
/// redrawn by moving the cursor up (one line per step in the log) both come out of `read`
/// as their last state, not as 50 lines of 2%..100%.
#[test]
fn mcp_read_collapses_progress_bar_redraws() {
    let server = TmuxServer::new();
    let _d = Daemon::start(&server, "", &[]);
    let pane = server.spawn("exec sh");
    let (mut mcp, _) = Mcp::start(&server, &[], &[]);
    let c0 = mcp.ok("read", json!({"pane": pane}))["cursor"].as_u64().unwrap();
    let script =
        "i=0; while [ $i -lt 50 ]; do i=$((i+1)); printf '\\rcr-bar %d%%' $((i*2)); done; \
                  echo; echo up-bar 0% [====]; i=0; while [ $i -lt 50 ]; do i=$((i+1)); \
                  printf '\\033[1A\\033[2Kup-bar %d%% [%s]\\n' $((i*2)) ====; done; echo the-end";
    mcp.ok("send", json!({"pane": pane, "text": script, "enter": true, "expect": "^the-end$"}));
    let r = mcp.ok("read", json!({"pane": pane, "cursor": c0}));
    let lines = strings(&r["lines"]);
    let bars: Vec<&String> =
        lines.iter().filter(|l| l.starts_with("cr-bar") || l.starts_with("up-bar")).collect();
    assert_eq!(bars, ["cr-bar 100%", "up-bar 100% [====]"], "{r}");
    let at = lines.iter().position(|l| l == "up-bar 100% [====]").unwrap();
    assert!(lines[at + 1].contains("redrawn 50 more time(s)"), "{r}");
    assert!(r["collapsed"].as_u64().unwrap() >= 50, "{r}");
    assert_eq!(lines.last().map(String::as_str), Some("the-end"), "{r}");
}

/// A bash pane (prompt `$ `) that has loaded `ctmuxd shell-init bash`.
fn integrated_bash(server: &TmuxServer) -> String {
    let init = Command::new(bin()).args(["shell-init", "bash"]).output().expect("shell-init");
    assert!(init.status.success());
    let init_file = server.path("init.bash");
    std::fs::write(&init_file, &init.stdout).unwrap();
    let pane = server
        .window_at_home(&["PS1=$ ", "HISTFILE=/dev/null"], &["bash", "--norc", "--noprofile"]);
    std::thread::sleep(Duration::from_millis(300));
    let source = format!("source {}", init_file.display());
    server.tmux_ok(&["send-keys", "-t", &pane, "-l", &source]);
    server.tmux_ok(&["send-keys", "-t", &pane, "Enter"]);
    pane
}

/// `run` of `command`, retried until the shell has shown its first mark (just after the
/// snippet loads).
fn run_when_integrated(mcp: &mut Mcp, pane: &str, command: &str) -> Value {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let (r, error) = mcp.call("run", json!({"pane": pane, "command": command}));
        if !error {
            return r;
        }
        assert!(r.to_string().contains("shell-init"), "{r}");
        assert!(Instant::now() < end, "the shell never showed integration: {r}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

impl Mcp {
    /// The next notification with `method` (kept or new) matching `pred`, within `within`.
    fn notification(
        &mut self,
        method: &str,
        within: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        let end = Instant::now() + within;
        loop {
            if let Some(i) = self.notes.iter().position(|n| n["method"] == method && pred(n)) {
                return Some(self.notes.remove(i));
            }
            let left = end.checked_duration_since(Instant::now())?;
            match self.lines.recv_timeout(left) {
                Ok(m) => self.notes.push(m),
                Err(_) => return None,
            }
        }
    }
}

/// Push: a rule firing and a finished command reach the client as MCP log messages
/// (`notice`; `warning` for a failed command) and, with `--claude-channel`, as Claude
/// Code channel notifications; `logging/setLevel` silences the levels below it.
#[test]
fn mcp_pushes_rule_firings_and_finished_commands() {
    let server = TmuxServer::new();
    let rules =
        "[[rule]]\nname = \"deployed\"\npattern = '^deployed (?P<v>v\\d+)$'\nactions = [\"log\"]\n";
    let _d = Daemon::start(&server, rules, &[]);
    let pane = integrated_bash(&server);
    let (mut mcp, init) = Mcp::start(&server, &["--claude-channel"], &[]);
    assert!(init["capabilities"]["logging"].is_object(), "{init}");
    assert!(init["capabilities"]["experimental"]["claude/channel"].is_object(), "{init}");

    let ran = run_when_integrated(&mut mcp, &pane, "echo deployed v7; false");
    assert_eq!(ran["status"], 1, "{ran}");
    let within = Duration::from_secs(10);
    let fired = mcp
        .notification("notifications/message", within, |n| {
            n["params"]["data"]["rule"] == "deployed"
        })
        .unwrap_or_else(|| panic!("no log message for the firing: {:?}", mcp.notes));
    assert_eq!(fired["params"]["level"], "notice", "{fired}");
    assert_eq!(fired["params"]["logger"], "ctmuxd", "{fired}");
    assert_eq!(fired["params"]["data"]["line"], "deployed v7", "{fired}");
    assert!(fired["params"]["data"]["cursor"].is_u64(), "{fired}");
    let message = fired["params"]["data"]["message"].as_str().unwrap();
    assert!(message.starts_with("rule `deployed` fired in pane"), "{message}");
    let done = mcp
        .notification("notifications/message", within, |n| {
            n["params"]["data"]["event"] == "command"
        })
        .unwrap_or_else(|| panic!("no log message for the command: {:?}", mcp.notes));
    assert_eq!(done["params"]["level"], "warning", "{done}");
    assert_eq!(done["params"]["data"]["status"], 1, "{done}");
    let channel = mcp
        .notification("notifications/claude/channel", within, |n| {
            n["params"]["meta"]["event"] == "command"
        })
        .unwrap_or_else(|| panic!("no channel notification: {:?}", mcp.notes));
    assert_eq!(channel["params"]["meta"]["status"], "1", "{channel}");
    assert!(channel["params"]["content"].as_str().unwrap().contains("exited 1"), "{channel}");

    // At `warning`, a firing (notice) and a command that exits 0 (info) are not pushed,
    // a failed command is.
    mcp.request("logging/setLevel", json!({"level": "warning"}));
    run_when_integrated(&mut mcp, &pane, "echo deployed v8");
    run_when_integrated(&mut mcp, &pane, "exit_code() { return 3; }; exit_code");
    let failed = mcp.notification("notifications/message", within, |n| {
        n["params"]["data"]["event"] == "command"
    });
    assert_eq!(failed.as_ref().map(|n| n["params"]["data"]["status"].clone()), Some(json!(3)));
    assert!(
        !mcp.notes.iter().any(|n| n["method"] == "notifications/message"
            && (n["params"]["data"]["line"] == "deployed v8"
                || n["params"]["data"]["status"] == 0)),
        "pushed below the level set: {:?}",
        mcp.notes
    );
}

/// `wait_for` on a shell state: `prompt` answers at once at a prompt; `finished` answers
/// when the running command ends, with its status; with `after` (the `cursor` `send`
/// returned) a command that already ended still answers; the CLI's `--state` too.
#[test]
fn mcp_wait_for_a_shell_state() {
    let server = TmuxServer::new();
    let _d = Daemon::start(&server, "", &[]);
    let pane = integrated_bash(&server);
    let (mut mcp, _) = Mcp::start(&server, &[], &[]);
    run_when_integrated(&mut mcp, &pane, "true");
    let at = mcp.ok("wait_for", json!({"pane": pane, "state": "prompt", "timeout_ms": 5000}));
    assert_eq!(at["shell"]["state"], "prompt", "{at}");
    assert!(at.get("match").is_none(), "{at}");

    let sent = mcp.ok("send", json!({"pane": pane, "text": "sleep 1; (exit 3)", "enter": true}));
    let t = Instant::now();
    let done = mcp.ok("wait_for", json!({"pane": pane, "state": "finished", "timeout_ms": 10000}));
    assert!(t.elapsed() >= Duration::from_millis(500), "answered before the command ended");
    assert_eq!(done["shell"]["last"]["status"], 3, "{done}");
    assert_eq!(done["shell"]["state"], "prompt", "{done}");

    let sent2 = mcp.ok("send", json!({"pane": pane, "text": "(exit 5)", "enter": true}));
    assert!(sent2["cursor"].as_u64() > sent["cursor"].as_u64(), "{sent2}");
    std::thread::sleep(Duration::from_millis(500)); // it has ended by now
    let (late, is_err) =
        mcp.call("wait_for", json!({"pane": pane, "state": "finished", "timeout_ms": 300}));
    assert!(is_err && late["error"]["code"] == "timeout", "no new command: {late}");
    assert!(late["error"]["message"].as_str().unwrap().contains("finished no command"), "{late}");
    let found = mcp.ok(
        "wait_for",
        json!({"pane": pane, "state": "finished", "after": sent2["cursor"], "timeout_ms": 300}),
    );
    assert_eq!(found["shell"]["last"]["status"], 5, "{found}");

    let (neither, is_err) = mcp.call("wait_for", json!({"pane": pane}));
    assert!(is_err && neither["error"]["code"] == "bad_request", "{neither}");

    let o = Command::new(bin())
        .args(["wait-for", &pane, "--state", "prompt", "-L", &server.name])
        .env_remove("TMUX")
        .env("XDG_STATE_HOME", server.path("state"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "prompt\n");
}

/// `read` reports a gap when tmux paused the pane: the daemon is stopped, tmux is told to
/// pause both panes for it (as `pause-after` does when it falls behind) and they print
/// while paused. Once it runs again, the pane whose history kept everything reads on with
/// no line lost or repeated, `paused` saying the lines were read back; the pane with a
/// 5-line history says lines were lost.
#[test]
fn mcp_read_reports_a_pause() {
    let server = TmuxServer::new();
    server.tmux_ok(&["set-option", "-g", "history-limit", "50000"]);
    let mut d = Daemon::start(&server, "", &[]);
    let kept = server.spawn("exec sh");
    server.tmux_ok(&["set-option", "-g", "history-limit", "5"]);
    let short = server.spawn("exec sh");
    let (mut mcp, _) = Mcp::start(&server, &[], &[]);
    let mut cursors = Vec::new();
    for (i, p) in [&kept, &short].into_iter().enumerate() {
        let text = format!("echo before-{i}");
        let expect = format!("^before-{i}$");
        mcp.ok("send", json!({"pane": p, "text": text, "enter": true, "expect": expect}));
        cursors.push(mcp.ok("read", json!({"pane": p}))["cursor"].as_u64().unwrap());
    }
    let clients = server.tmux_ok(&["list-clients", "-F", "#{client_name} #{client_control_mode}"]);
    let daemon_client = clients
        .lines()
        .find_map(|l| l.strip_suffix(" 1"))
        .unwrap_or_else(|| panic!("no control client: {clients}"))
        .to_string();
    crate::harness::signal(d.child.id(), libc::SIGSTOP);
    for p in [&kept, &short] {
        server.tmux_ok(&["refresh-client", "-t", &daemon_client, "-A", &format!("{p}:pause")]);
        server.tmux_ok(&["send-keys", "-t", p, "-l", "seq 1 200 | sed s/^/paused-/"]);
        server.tmux_ok(&["send-keys", "-t", p, "Enter"]);
    }
    let end = Instant::now() + Duration::from_secs(10);
    for p in [&kept, &short] {
        while !server.tmux_ok(&["capture-pane", "-p", "-t", p]).contains("paused-200") {
            assert!(Instant::now() < end, "the panes did not print");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    crate::harness::signal(d.child.id(), libc::SIGCONT);
    assert!(
        d.wait_until(Duration::from_secs(10), |e| {
            e.iter().filter(|e| e["event"] == "catch-up").count() >= 2
        }),
        "no catch-up: {:?}",
        d.events()
    );
    mcp.ok(
        "send",
        json!({"pane": kept, "text": "echo after-0", "enter": true, "expect": "^after-0$"}),
    );

    let r = mcp.ok("read", json!({"pane": kept, "cursor": cursors[0], "max_lines": 1000}));
    let lines = strings(&r["lines"]);
    let paused: Vec<&String> = lines.iter().filter(|l| l.starts_with("paused-")).collect();
    assert_eq!(paused.len(), 200, "every line printed while paused, once: {r}");
    assert_eq!(paused[0], "paused-1");
    assert_eq!(lines.iter().filter(|l| *l == "before-0").count(), 0, "nothing repeated: {r}");
    assert!(lines.iter().any(|l| l == "after-0"), "{r}");
    assert_eq!(r["paused"].as_array().map(Vec::len), Some(1), "{r}");
    assert_eq!(r["paused"][0]["lost"], false, "{r}");
    assert_eq!(r["paused"][0]["after_line"].as_u64(), Some(cursors[0]), "{r}");
    assert!(r["paused"][0]["read_back"].as_u64().unwrap() >= 200, "{r}");
    assert!(r["truncated"].as_str().unwrap().contains("none lost"), "{r}");
    // Read on past it: no more talk of the pause.
    let on = mcp.ok("read", json!({"pane": kept, "cursor": r["cursor"]}));
    assert!(on["paused"].as_array().unwrap().is_empty(), "{on}");

    // `ctmuxd read` says so on stderr.
    let o = Command::new(bin())
        .args(["read", &kept, "--after", &cursors[0].to_string(), "-L", &server.name])
        .env_remove("TMUX")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success() && err.contains("tmux paused this pane after line"), "{err}");

    let r = mcp.ok("read", json!({"pane": short, "cursor": cursors[1], "max_lines": 1000}));
    assert_eq!(r["paused"][0]["lost"], true, "{r}");
    assert!(r["truncated"].as_str().unwrap().contains("are lost"), "{r}");
    let lines = strings(&r["lines"]);
    assert!(lines.iter().any(|l| l == "paused-200"), "{r}");
    assert!(!lines.iter().any(|l| l == "paused-1"), "a 5-line history cannot hold it: {r}");
}
