//! The control API: a Unix socket on which the running daemon answers JSON-lines requests
//! (list, spawn, close and type into panes; capture them; wait for or subscribe to lines;
//! rules, reload, status, stop, live events), and the command-line client that talks to it.
//!
//! Data flow: `ctmuxd <command>` ([`cli`]) → [`client`] → socket → [`server`] → the daemon's
//! [`Backend`] implementation. Each request is one module of [`request`] (its wire type,
//! reply, and subcommand), registered in one list from which the server's dispatch, the
//! [`Backend`] trait and the subcommands are generated; the vocabulary they share lives in
//! [`protocol`]. `docs/api.md` documents the wire protocol. One daemon serves one tmux
//! server; [`socket_path`] derives the socket's name from the same `-L`/`-S` selection, so
//! client and daemon meet without configuration.

pub mod backend;
pub mod cli;
pub mod client;
mod lines;
pub mod lock;
pub mod protocol;
pub mod request;
pub mod server;

use std::path::{Path, PathBuf};

pub use backend::{Backend, BackendFuture};
pub use protocol::{ApiError, ErrorCode};
pub use request::{parse_request, Request, Subscription};

use crate::tmux::TmuxTarget;

/// The directory holding the sockets: `$XDG_RUNTIME_DIR/ctmuxd`, or `/tmp/ctmuxd-<uid>`
/// when that variable is unset or not absolute.
pub fn runtime_dir() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from) {
        Some(d) if d.is_absolute() => d.join("ctmuxd"),
        // Literally /tmp, not $TMPDIR: a client and a daemon with different TMPDIRs must still meet.
        _ => PathBuf::from(format!("/tmp/ctmuxd-{}", current_uid())),
    }
}

/// The socket of the daemon that serves `target`, inside [`runtime_dir`].
///
/// `default.sock` for tmux's default server, `L-<name>.sock` for `-L name` (bytes outside
/// `[A-Za-z0-9._-]` written as `%xx`), `S-<hash>.sock` for `-S path`, the hash being FNV-1a
/// of the canonical path (a path that does not exist yet is made absolute instead), so
/// `-S ./sock` and `-S /abs/sock` find the same daemon.
pub fn socket_path(target: &TmuxTarget) -> PathBuf {
    runtime_dir().join(socket_file_name(target))
}

/// The file name part of [`socket_path`].
pub fn socket_file_name(target: &TmuxTarget) -> String {
    match target {
        TmuxTarget::Default => "default.sock".to_string(),
        TmuxTarget::Name(n) => {
            let mut out = String::from("L-");
            for b in n.bytes() {
                if b.is_ascii_alphanumeric() || b"._-".contains(&b) {
                    out.push(b as char);
                } else {
                    out.push_str(&format!("%{b:02x}"));
                }
            }
            out.push_str(".sock");
            out
        }
        TmuxTarget::Path(p) => {
            format!(
                "S-{:016x}.sock",
                crate::hash::fnv1a(canonical(p).as_os_str().as_encoded_bytes())
            )
        }
        TmuxTarget::Ssh(t) => {
            format!("ssh-{:016x}.sock", crate::hash::fnv1a(t.describe().as_bytes()))
        }
    }
}

fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p)
        .unwrap_or_else(|_| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()))
}

/// The effective user id of this process.
pub fn current_uid() -> u32 {
    // SAFETY: geteuid(2) takes no arguments, cannot fail and touches no memory of ours.
    unsafe { libc::geteuid() }
}

/// The command that starts a daemon for `target`, for "no daemon running" messages.
pub fn start_command(target: &TmuxTarget) -> String {
    match target {
        TmuxTarget::Default => "ctmuxd --control-mode --rules FILE".to_string(),
        TmuxTarget::Name(n) => {
            format!("ctmuxd --control-mode -L {} --rules FILE", crate::tmux::command::quote(n))
        }
        TmuxTarget::Path(p) => {
            format!(
                "ctmuxd --control-mode -S {} --rules FILE",
                crate::tmux::command::quote(&p.to_string_lossy())
            )
        }
        TmuxTarget::Ssh(t) => format!(
            "ctmuxd --control-mode --ssh {} --rules FILE",
            crate::tmux::command::quote(&t.destination)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_names_follow_the_server_selection() {
        assert_eq!(socket_file_name(&TmuxTarget::Default), "default.sock");
        assert_eq!(socket_file_name(&TmuxTarget::Name("work".into())), "L-work.sock");
        assert_eq!(socket_file_name(&TmuxTarget::Name("a/b c".into())), "L-a%2fb%20c.sock");
        assert_ne!(
            socket_file_name(&TmuxTarget::Name("a b".into())),
            socket_file_name(&TmuxTarget::Name("a%20b".into()))
        );
        let s = socket_file_name(&TmuxTarget::Path("/tmp/some/sock".into()));
        assert!(s.starts_with("S-") && s.ends_with(".sock") && s.len() == 2 + 16 + 5, "{s}");
        assert_ne!(s, socket_file_name(&TmuxTarget::Path("/tmp/other/sock".into())));
    }

    #[test]
    fn dash_s_paths_are_canonical() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("sock"), "").unwrap();
        let direct = socket_file_name(&TmuxTarget::Path(dir.path().join("sock")));
        let dotted = socket_file_name(&TmuxTarget::Path(dir.path().join(".").join("sock")));
        assert_eq!(direct, dotted);
    }

    #[test]
    fn start_commands_name_the_server() {
        assert_eq!(
            start_command(&TmuxTarget::Name("w".into())),
            "ctmuxd --control-mode -L w --rules FILE"
        );
        assert_eq!(start_command(&TmuxTarget::Default), "ctmuxd --control-mode --rules FILE");
    }
}
