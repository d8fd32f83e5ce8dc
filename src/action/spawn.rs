//! The `spawn` action, `{ spawn = { label, command | shell, cwd, env, meta, window |
//! beside + split + size, keep, replace } }`: opens a labelled pane through the host
//! (which registers its label with the engine before its first line is read). Needs
//! control mode.
//!
//! The action is a [`SpawnSpec`], the one description of a spawn, which tmux's side
//! ([`crate::tmux::labelled::spawn`]) and the API's `spawn` request use too; this module
//! reads the rules file's table into it.
//!
//! A `[[pane]]` entry is a spawn plus start-order fields (`after`, `ready`, `fail`,
//! `ready_timeout`), so [`SpawnTable`] reads both: one serde table refusing unknown
//! fields cannot be split in two.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::PathBuf;
use std::time::Instant;

use serde::Deserialize;
use toml::{Spanned, Value};

use super::{ActionContext, ActionDetails, ActionHost, ActionKind, ActionOutcome, ActionTable, ParseError};
use crate::tmux::labelled::PaneCommand;
pub use crate::tmux::labelled::SpawnSpec;

/// `{ spawn = { label, command | shell, cwd, env, meta, window | beside + split + size,
/// keep, replace } }`, read by [`SpawnTable`]: `split = "h"` sets
/// [`SpawnSpec::horizontal`], and `window = true` means no `beside`.
impl ActionKind for SpawnSpec {
    const NAME: &'static str = "spawn";
    const NEEDS_CONTROL: bool = true;

    fn parse(table: &ActionTable<'_>) -> Result<SpawnSpec, ParseError> {
        table.no_options(Self::NAME)?;
        let value = table.value;
        let raw = SpawnTable::read(value, "spawn action")?;
        if !raw.after.is_empty()
            || raw.ready.is_some()
            || raw.fail.is_some()
            || raw.ready_timeout.is_some()
            || raw.restart.is_some()
            || raw.max_restarts.is_some()
            || raw.restart_backoff.is_some()
        {
            return Err(ParseError::new(
                value.span(),
                "`after`, `ready`, `fail`, `ready_timeout` and the `restart` settings belong to [[pane]] entries, not to a spawn action",
            ));
        }
        raw.spawn(value.span(), false)
    }

    fn describe(&self) -> String {
        match &self.server {
            Some(server) => format!("spawn {} on {server}", self.label),
            None => format!("spawn {}", self.label),
        }
    }

    async fn run<H: ActionHost>(
        &self,
        host: &H,
        ctx: &ActionContext,
        details: &mut ActionDetails,
    ) -> ActionOutcome {
        let start = Instant::now();
        let result = host.spawn_pane(self, ctx).await.map(|pane| {
            details.target_label = Some(self.label.clone());
            details.target_pane = Some(pane.to_string());
        });
        ActionOutcome::finished(start, result)
    }
}

/// The table of a spawn action or a `[[pane]]` entry, as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpawnTable {
    /// The pane's label.
    pub label: String,
    command: Option<Vec<String>>,
    shell: Option<String>,
    cwd: Option<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    meta: toml::Table,
    window: Option<bool>,
    beside: Option<String>,
    split: Option<String>,
    size: Option<String>,
    keep: Option<bool>,
    #[serde(default)]
    replace: bool,
    /// The server to open the pane on (a `[[server]]` name).
    server: Option<String>,
    /// `[[pane]]` only: labels of panes that must be ready first.
    #[serde(default)]
    pub after: Vec<String>,
    /// `[[pane]]` only: the readiness pattern.
    pub ready: Option<String>,
    /// `[[pane]]` only: the failure pattern.
    pub fail: Option<String>,
    /// `[[pane]]` only: how long readiness may take.
    pub ready_timeout: Option<String>,
    /// `[[pane]]` only: `"no"`, `"on-failure"` or `"always"`.
    pub restart: Option<String>,
    /// `[[pane]]` only: the most restarts before it counts as failed.
    pub max_restarts: Option<u32>,
    /// `[[pane]]` only: the first wait before a restart (doubling each time, to a cap).
    pub restart_backoff: Option<String>,
}

impl SpawnTable {
    /// Reads `value` as a spawn table; `what` names it in messages (`spawn action`,
    /// `[[pane]]`).
    ///
    /// # Errors
    /// A wrong type, an unknown or a missing field, at `value`.
    pub fn read(value: &Spanned<Value>, what: &str) -> Result<SpawnTable, ParseError> {
        SpawnTable::deserialize(value.get_ref().clone()).map_err(|e| {
            let msg = e.to_string().trim().trim_end_matches('.').replace('\n', "; ");
            ParseError::new(value.span(), format!("invalid {what}: {msg}"))
        })
    }

    /// The spawn it describes, checked; `default_keep` applies when `keep` is not given
    /// (`[[pane]]` entries keep their pane, spawn actions do not).
    ///
    /// # Errors
    /// An invalid label, command, placement, size or env name, at `span`.
    pub fn spawn(&self, span: Range<usize>, default_keep: bool) -> Result<SpawnSpec, ParseError> {
        let err = |message: String| Err(ParseError::new(span.clone(), message));
        if self.label.is_empty() || self.label.chars().any(char::is_control) {
            return err("`label` must be a non-empty name without control characters".into());
        }
        let command = match (&self.command, &self.shell) {
            (Some(_), Some(_)) => {
                return err(
                    "give either `command` (an argv) or `shell` (a string for sh -c), not both"
                        .into(),
                )
            }
            (Some(argv), None) if argv.is_empty() || argv[0].is_empty() => {
                return err("`command` is empty; name the program and its arguments".into())
            }
            (Some(argv), None) => Some(PaneCommand::Argv(argv.clone())),
            (None, Some(sh)) => Some(PaneCommand::Shell(sh.clone())),
            (None, None) => None,
        };
        if self.window == Some(true) && self.beside.is_some() {
            return err("give either `window = true` or `beside = \"label\"`, not both".into());
        }
        let horizontal = match self.split.as_deref() {
            None | Some("v") => false,
            Some("h") => true,
            Some(other) => {
                return err(format!(
                    "`split` is `{other}`; use \"h\" (side by side) or \"v\" (stacked)"
                ))
            }
        };
        if self.beside.is_none() && (self.split.is_some() || self.size.is_some()) {
            return err("`split` and `size` need `beside = \"label\"` (the pane to split)".into());
        }
        if let Some(size) = &self.size {
            let digits = size.strip_suffix('%').unwrap_or(size);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return err(format!(
                    "`size` is `{size}`; use cells (`20`) or a percentage (`30%`)"
                ));
            }
        }
        for name in self.env.keys() {
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return err(format!("`env` name `{name}` is not a valid variable name"));
            }
        }
        let meta = self
            .meta
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::to_value(v).unwrap_or(serde_json::Value::Null)))
            .collect();
        Ok(SpawnSpec {
            label: self.label.clone(),
            command,
            cwd: self.cwd.as_ref().map(PathBuf::from),
            env: self.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            meta,
            beside: self.beside.clone(),
            horizontal,
            size: self.size.clone(),
            keep: self.keep.unwrap_or(default_keep),
            replace: self.replace,
            server: match &self.server {
                Some(s)
                    if !s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
                        || !s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)) =>
                {
                    return err(format!("`server` {s:?} is not a server name; use the `name` of a [[server]] entry"));
                }
                s => s.clone(),
            },
        })
    }
}
