//! TEMP parser shim for the `rules` branch: only the `PaneId` newtype, so the rules,
//! action and eventlog modules compile before the real parser crate is merged.
//! The integrator drops this file in favour of the real `tmux_control_parser`.

use std::fmt;
use std::str::FromStr;

/// A tmux pane id such as `%3`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PaneId(pub u32);

impl fmt::Display for PaneId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "%{}", self.0)
    }
}

/// The text was not a pane id of the form `%N`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaneIdError;

impl fmt::Display for PaneIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid pane id: expected `%` followed by digits")
    }
}

impl std::error::Error for PaneIdError {}

impl FromStr for PaneId {
    type Err = PaneIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let digits = s.strip_prefix('%').ok_or(PaneIdError)?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PaneIdError);
        }
        digits.parse().map(PaneId).map_err(|_| PaneIdError)
    }
}
