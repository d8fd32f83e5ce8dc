//! The rules file: which pane lines to watch for and what to do when one shows up.
//! [`load`] / [`parse`] read a TOML file into a [`RuleSet`] or refuse it with a
//! [`RulesError`] pointing at the file, line, column and rule, before the daemon
//! starts anything.
//!
//! Layout: `file.rs` is the TOML shape (serde structs keeping spans), `rule.rs` the
//! validated types and their checks, `error.rs` the error. Neighbours: the matcher
//! compiles the patterns, the dispatcher applies each rule's firing policy and hands
//! its [`Action`]s to the runners in [`crate::action`].
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

mod error;
mod file;
mod orchestration;
mod rule;

use std::path::{Path, PathBuf};

pub use crate::action::{Action, ExecAction, SendAction, SpawnAction};
pub use error::{RulesError, RulesErrorKind};
pub use orchestration::{PaneSpec, StatusFilter, Trigger};
pub use rule::{
    glob_match, parse_duration, DurationError, PaneSelector, Rule, Settings,
    MAX_CONCURRENT_ACTIONS, MAX_RING_LINES,
};

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
}

impl RuleSet {
    /// The rule called `name`.
    pub fn get(&self, name: &str) -> Option<&Rule> {
        self.rules.iter().find(|rule| rule.name == name)
    }
}

/// Reads and validates the rules file at `path`.
///
/// # Errors
///
/// When the file cannot be read ([`RulesErrorKind::Read`]) or [`parse`] refuses it.
pub fn load(path: &Path) -> Result<RuleSet, RulesError> {
    let text = std::fs::read_to_string(path).map_err(|err| RulesError::read(path, err))?;
    parse(&text, path)
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
    let (settings, rules, panes) = rule::validate(raw, source)?;
    Ok(RuleSet { path: path.to_path_buf(), rules, settings, panes })
}

#[cfg(test)]
mod tests;
