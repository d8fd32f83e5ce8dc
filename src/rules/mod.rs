//! The rules file: which pane lines to watch for and what to do when one shows up.
//! [`load`] / [`parse`] read a TOML file into a [`RuleSet`] or refuse it with a
//! [`RulesError`] pointing at the file, line, column and rule, before the daemon
//! starts anything.
//!
//! Layout: `file.rs` is the TOML shape (serde structs keeping spans), `rule.rs` the
//! validated types and their checks, `orchestration.rs` the `[[pane]]` entries and
//! triggers (which `rule.rs` uses), `condition.rs` the time and multi-pane conditions
//! (`silence`, `all`, `count`, `sequence` ...), `error.rs` the error. Each action kind reads its own
//! table in [`crate::action`] (`rule.rs` only finds the kind key and adds the file, line,
//! column and rule to its mistakes); durations are [`crate::action::duration`]'s.
//! Neighbours: the matcher compiles the patterns, the dispatcher applies each rule's
//! firing policy and runs its [`Action`]s.
//!
//! ```
//! let text = r#"
//! [[rule]]
//! name = "build"
//! pattern = 'TRIGGER: START_BUILD (?P<id>\S+)'
//! actions = [ { exec = ["./scripts/on-build.sh", "--fast"] } ]
//! "#;
//! let rules = ctmuxd::rules::parse(text, std::path::Path::new("rules.toml"))?;
//! assert_eq!(rules.rules[0].name, "build");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod condition;
pub mod discover;
mod error;
mod explain;
mod file;
mod orchestration;
mod rule;
mod servers;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use crate::action::duration::{parse_duration, DurationError};
pub use crate::action::{
    Action, CloseAction, EmitAction, ExecAction, LogAction, SendAction, SpawnSpec,
};
pub use crate::glob::glob_match;
pub use condition::{Condition, CountPer, MAX_COUNT};
pub use error::{RulesError, RulesErrorKind};
pub use explain::explain;
pub use orchestration::{CmdlinePattern, PaneSpec, Restart, RestartWhen, StatusFilter, Trigger};
pub use rule::{
    LineSource, PaneSelector, Rule, Settings, MAX_CONCURRENT_ACTIONS, MAX_RING_LINES, NEVER_PATTERN,
};
pub use servers::{valid_name as valid_server_name, ServerSpec};

/// A validated rules file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSet {
    /// Where it was read from (as given), for messages and reloads.
    pub path: PathBuf,
    /// Rules in file order; names are unique.
    pub rules: Vec<Rule>,
    /// `[settings]`, with defaults for what the file leaves out.
    pub settings: Settings,
    /// `[[pane]]` entries, in file order (start order follows `after`).
    pub panes: Vec<PaneSpec>,
    /// `[[server]]` entries, in file order: the servers a daemon watches (none: the one
    /// its `-L`/`-S` selects).
    pub servers: Vec<ServerSpec>,
}

impl RuleSet {
    /// No rules, no `[[pane]]` entries, default settings and no file: what a daemon started
    /// without a rules file runs (it serves the API only).
    pub fn none() -> RuleSet {
        RuleSet {
            path: PathBuf::new(),
            rules: Vec::new(),
            settings: Settings::default(),
            panes: Vec::new(),
            servers: Vec::new(),
        }
    }

    /// Whether these rules were read from a file (which `reload` reads again).
    pub fn has_file(&self) -> bool {
        !self.path.as_os_str().is_empty()
    }

    /// Where the rules come from, for messages: `from PATH`, or that there is no file.
    pub fn source(&self) -> String {
        if self.has_file() {
            format!("from {}", self.path.display())
        } else {
            "(no rules file: the API only)".to_string()
        }
    }

    /// The rule called `name`.
    pub fn get(&self, name: &str) -> Option<&Rule> {
        self.rules.iter().find(|rule| rule.name == name)
    }
}

/// The largest rules file accepted: 16 MiB.
pub const MAX_RULES_BYTES: u64 = 16 << 20;

/// How long [`load_async`] waits for the rules file to be read: 5 s.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Reads and validates the rules file at `path`.
///
/// Only a regular file of at most [`MAX_RULES_BYTES`] is read, opened with `O_NONBLOCK` so
/// that a FIFO or a device is refused at once instead of blocking (or, like `/dev/zero`,
/// being read until memory runs out). This blocks the calling thread while it reads; in
/// async code use [`load_async`].
///
/// # Errors
///
/// When the file cannot be read or is not a small regular file
/// ([`RulesErrorKind::Read`]), or [`parse`] refuses it.
pub fn load(path: &Path) -> Result<RuleSet, RulesError> {
    let text = read_text(path)?;
    parse(&text, path).map(anchored)
}

/// [`load`] off the async threads (`spawn_blocking`), giving up on reading after
/// [`READ_TIMEOUT`] (a file on a hung network mount), so neither the daemon's start nor a
/// `reload` can hang or stop matching.
///
/// # Errors
///
/// As [`load`], plus a [`RulesErrorKind::Read`] error when reading takes longer than
/// [`READ_TIMEOUT`].
pub async fn load_async(path: &Path) -> Result<RuleSet, RulesError> {
    let owned = path.to_path_buf();
    let read = tokio::task::spawn_blocking(move || read_text(&owned));
    let text = match tokio::time::timeout(READ_TIMEOUT, read).await {
        Ok(Ok(text)) => text?,
        Ok(Err(join)) => {
            return Err(RulesError::refused(path, format!("reading the rules file failed: {join}")))
        }
        Err(_) => {
            return Err(RulesError::refused(
                path,
                format!(
                    "reading the rules file took longer than {}s; is it on a hung mount?",
                    READ_TIMEOUT.as_secs()
                ),
            ))
        }
    };
    let owned = path.to_path_buf();
    tokio::task::spawn_blocking(move || parse(&text, &owned).map(anchored)).await.map_err(
        |join| RulesError::refused(path, format!("checking the rules file failed: {join}")),
    )?
}

/// The directory relative paths in a rules file are read from: the file's own.
pub fn rules_dir(path: &Path) -> PathBuf {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::canonicalize(dir)
        .unwrap_or_else(|_| std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf()))
}

/// `set` with its `exec` actions anchored in the rules file's directory: an action runs
/// there unless its `cwd` says otherwise (a relative `cwd` is read from there too), so
/// `exec = ["./scripts/x.sh"]` means the script beside the rules file whatever directory
/// the daemon was started in. (`spawn` and `[[pane]]` `cwd`s are resolved the same way
/// when the pane starts.)
fn anchored(mut set: RuleSet) -> RuleSet {
    let base = rules_dir(&set.path);
    for rule in &mut set.rules {
        for action in rule.actions.iter_mut().chain(&mut rule.timeout_actions) {
            if let Action::Exec(exec) = action {
                exec.cwd = Some(match exec.cwd.take() {
                    Some(cwd) => base.join(cwd),
                    None => base.clone(),
                });
            }
        }
    }
    set
}

/// The text of the rules file, refusing anything but a regular file of at most
/// [`MAX_RULES_BYTES`].
fn read_text(path: &Path) -> Result<String, RulesError> {
    use std::io::Read as _;
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};

    // O_NONBLOCK: opening a FIFO with no writer returns at once instead of blocking;
    // O_NOCTTY: a terminal named as the rules file never becomes ours.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|err| RulesError::read(path, err))?;
    let meta = file.metadata().map_err(|err| RulesError::read(path, err))?;
    let ft = meta.file_type();
    if !ft.is_file() {
        let what = if ft.is_fifo() {
            "a FIFO"
        } else if ft.is_char_device() {
            "a character device"
        } else if ft.is_block_device() {
            "a block device"
        } else if ft.is_socket() {
            "a socket"
        } else if ft.is_dir() {
            "a directory"
        } else {
            "not a file"
        };
        return Err(RulesError::refused(
            path,
            format!(
                "refused: not a regular file ({what}); a rules file must be a regular TOML file"
            ),
        ));
    }
    let too_big = || {
        RulesError::refused(
            path,
            format!(
                "refused: larger than {} MiB, the limit for a rules file",
                MAX_RULES_BYTES >> 20
            ),
        )
    };
    if meta.len() > MAX_RULES_BYTES {
        return Err(too_big());
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // The file may grow while it is read: never read past the limit.
    file.take(MAX_RULES_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|err| RulesError::read(path, err))?;
    if bytes.len() as u64 > MAX_RULES_BYTES {
        return Err(too_big());
    }
    String::from_utf8(bytes).map_err(|err| {
        RulesError::read(path, std::io::Error::new(std::io::ErrorKind::InvalidData, err))
    })
}

/// Validates rules file `text`; `path` is only used in messages and
/// [`RuleSet::path`].
///
/// # Errors
///
/// [`RulesErrorKind::Syntax`] for invalid TOML, a wrong type, an unknown or a
/// missing field; [`RulesErrorKind::Invalid`] for a pattern that does not compile
/// or has a line break, a bad duration, pane selector or setting, an unknown
/// action, a rule without actions, or a duplicate rule name. The first mistake in
/// the file is reported.
pub fn parse(text: &str, path: &Path) -> Result<RuleSet, RulesError> {
    let source = error::Source { text, path };
    let raw = file::parse_raw(source)?;
    let servers = servers::validate(&raw.server, source)?;
    let (settings, rules, panes) = rule::validate(raw, source)?;
    Ok(RuleSet { path: path.to_path_buf(), rules, settings, panes, servers })
}

#[cfg(test)]
mod tests;
