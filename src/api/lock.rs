//! One daemon per tmux server, whatever its mode: [`DaemonLock`] is an exclusive `flock`
//! on `<server>.lock` beside the control socket (`L-work.lock` beside `L-work.sock`),
//! taken before the daemon does anything else and held for its whole life.
//!
//! The socket alone could not do this: a `--poll` daemon serves no socket, so a
//! control-mode daemon and a polling one could run on the same server and fire every
//! rule twice. The lock file holds the holder's pid, for the refusal message. It is
//! removed when the daemon ends; a daemon that takes the lock checks that the file it
//! locked is still the one at the path, so removal never lets two daemons in.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::socket_path;
use crate::tmux::TmuxTarget;

/// Why the lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another daemon holds it.
    #[error("another ctmuxd ({holder}) already serves the tmux server `{server}` (it holds {}); stop it first with `{stop}`", .path.display())]
    Held {
        /// `pid N`, or `pid unknown`.
        holder: String,
        /// The tmux server, as a command (`tmux -L work`).
        server: String,
        /// The lock file.
        path: PathBuf,
        /// The command that stops the running daemon.
        stop: String,
    },
    /// The runtime directory or the lock file could not be used.
    #[error("cannot take the daemon lock {}: {source}", .path.display())]
    Io {
        /// The lock file.
        path: PathBuf,
        /// The failure.
        source: io::Error,
    },
}

/// The lock of the daemon serving one tmux server; released (and its file removed) on drop.
#[derive(Debug)]
pub struct DaemonLock {
    /// Held open for the daemon's life: closing it releases the lock.
    _file: File,
    path: PathBuf,
    /// Device and inode of the file we locked.
    id: (u64, u64),
}

/// The lock file of the daemon serving `target`: [`socket_path`] with `.lock` for `.sock`.
pub fn lock_path(target: &TmuxTarget) -> PathBuf {
    socket_path(target).with_extension("lock")
}

impl DaemonLock {
    /// Takes the lock for `target` without waiting, creating the runtime directory
    /// (`0700`, refused when it is not ours and private) and the lock file (`0600`) as needed.
    ///
    /// # Errors
    /// [`LockError::Held`] (with the holder's pid) when another daemon serves `target`;
    /// [`LockError::Io`] when the directory or file cannot be used.
    pub fn acquire(target: &TmuxTarget) -> Result<DaemonLock, LockError> {
        let path = lock_path(target);
        let io_err = |source: io::Error| LockError::Io { path: path.clone(), source };
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        // A daemon ending removes its file: if that happened between our open and our
        // flock, we locked a file nobody else will ever look at, and must start over. It
        // also removes the directory when that leaves it empty: if that happened between
        // our check of the directory and our open, the open finds no directory: again.
        for _ in 0..16 {
            super::server::prepare_dir(dir).map_err(io_err)?;
            let opened = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&path);
            let mut file = match opened {
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                other => other.map_err(io_err)?,
            };
            // SAFETY: flock(2) on a descriptor we own; no memory is passed.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
                let e = io::Error::last_os_error();
                if e.raw_os_error() != Some(libc::EWOULDBLOCK) {
                    return Err(io_err(e));
                }
                return Err(LockError::Held {
                    holder: holder(&mut file),
                    server: target.describe(),
                    path,
                    stop: stop_command(target),
                });
            }
            let meta = file.metadata().map_err(io_err)?;
            let id = (meta.dev(), meta.ino());
            match std::fs::symlink_metadata(&path) {
                Ok(m) if (m.dev(), m.ino()) == id => {}
                _ => continue,
            }
            file.set_len(0).map_err(io_err)?;
            file.write_all(format!("{}\n", std::process::id()).as_bytes()).map_err(io_err)?;
            return Ok(DaemonLock { _file: file, path, id });
        }
        Err(io_err(io::Error::other("the lock file keeps being replaced; try again")))
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for DaemonLock {
    fn drop(&mut self) {
        // Removed while still locked, and only if it is still ours.
        if let Ok(m) = std::fs::symlink_metadata(&self.path) {
            if (m.dev(), m.ino()) == self.id {
                let _ = std::fs::remove_file(&self.path);
            }
        }
        // The runtime directory too, when no other daemon's socket or lock is left in it
        // (rmdir(2) removes only an empty directory): a daemon leaves nothing in /tmp. One
        // starting at this moment retries (see `acquire`).
        if let Some(dir) = self.path.parent() {
            let _ = std::fs::remove_dir(dir);
        }
        // `_file` closes after this: that releases the lock.
    }
}

/// `pid N` of the lock's holder, read from the file (which the holder writes right after
/// taking the lock: a moment's wait covers a holder that has just started).
fn holder(file: &mut File) -> String {
    for _ in 0..20 {
        let mut text = String::new();
        if std::io::Seek::rewind(file).is_ok() && file.read_to_string(&mut text).is_ok() {
            if let Ok(pid) = text.trim().parse::<u32>() {
                return format!("pid {pid}");
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    "pid unknown".to_string()
}

/// `ctmuxd stop` with the server selection of `target`.
fn stop_command(target: &TmuxTarget) -> String {
    use crate::tmux::command::quote;
    match target {
        TmuxTarget::Default => "ctmuxd stop".to_string(),
        TmuxTarget::Name(n) => format!("ctmuxd stop -L {}", quote(n)),
        TmuxTarget::Path(p) => format!("ctmuxd stop -S {}", quote(&p.to_string_lossy())),
        // A daemon's socket is keyed on its local `-L`/`-S` selection, never on a remote one.
        TmuxTarget::Ssh(_) => "ctmuxd stop".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_commands_name_the_server() {
        assert_eq!(stop_command(&TmuxTarget::Default), "ctmuxd stop");
        assert_eq!(stop_command(&TmuxTarget::Name("w".into())), "ctmuxd stop -L w");
        assert_eq!(lock_path(&TmuxTarget::Name("a.b".into())).file_name().unwrap(), "L-a.b.lock");
    }
}
