//! Shared by the end-to-end benches (`daemon`, `poll`, `waitfor`): a private tmux server
//! killed on drop, and reading the event log.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

/// A private tmux server (`tmux -L ctmuxd-bench-<tag>-<pid>`) with one session `bench`,
/// killed on drop.
pub struct Server {
    /// The `-L` socket name.
    pub name: String,
}

impl Server {
    /// Starts the server with a 120x40 session `bench` running `/bin/sh`.
    pub fn new(tag: &str) -> Server {
        let s = Server { name: format!("ctmuxd-bench-{tag}-{}", std::process::id()) };
        s.tmux(&["new-session", "-d", "-s", "bench", "-x", "120", "-y", "40"]);
        s
    }

    /// Runs `tmux -L <name> args...`; panics with tmux's message if it fails.
    pub fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.name, "-f", "/dev/null"])
            .args(args)
            .env("SHELL", "/bin/sh")
            .env_remove("TMUX")
            .stdin(Stdio::null())
            .output()
            .expect("run tmux");
        assert!(out.status.success(), "tmux {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("tmux").args(["-L", &self.name, "kill-server"]).output();
    }
}

/// Every record of a JSON-lines event log (a missing file is empty).
pub fn events(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}
