//! Which tmux release a server runs, read once per server, and the features that depend
//! on it.
//!
//! ctmuxd reads every release the same way where it can (see [`super::format`]); a
//! difference that ever needs a branch belongs in a method of [`TmuxVersion`], never in a
//! string comparison at the call site.

use std::fmt;
use std::process::Stdio;

use super::tmux_binary;

/// Oldest tmux whose control mode ctmuxd can use (client flags, subscriptions).
pub const MIN_CONTROL_VERSION: (u32, u32) = (3, 2);

/// A tmux release as tmux names it (`3.3a`, `3.5a`, `next-3.6`, `master`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TmuxVersion {
    /// The name as tmux prints it, without the leading `tmux ` (`3.5a`).
    pub name: String,
    /// `(major, minor)` when the name holds them; `None` for `master`, `openbsd-7.4`.
    pub number: Option<(u32, u32)>,
}

impl TmuxVersion {
    /// Reads `tmux -V` output (`tmux 3.3a`) or a `#{version}` value (`3.5a`).
    ///
    /// # Example
    /// ```
    /// use ctmuxd::tmux::version::TmuxVersion;
    /// assert_eq!(TmuxVersion::parse("tmux 3.5a").number, Some((3, 5)));
    /// assert_eq!(TmuxVersion::parse("next-3.6").number, Some((3, 6)));
    /// assert_eq!(TmuxVersion::parse("tmux master").number, None);
    /// ```
    pub fn parse(text: &str) -> TmuxVersion {
        let text = text.trim();
        let name = text.strip_prefix("tmux ").unwrap_or(text).trim().to_string();
        let v = name.strip_prefix("next-").unwrap_or(&name);
        let number = v.split_once('.').and_then(|(major, rest)| {
            let minor: String = rest.chars().take_while(char::is_ascii_digit).collect();
            Some((major.parse().ok()?, minor.parse().ok()?))
        });
        TmuxVersion { name, number }
    }

    /// Whether this release's control mode has what ctmuxd needs (≥ 3.2). A release whose
    /// number cannot be read is taken as new enough: builds from source and OpenBSD's
    /// tmux track the current release.
    pub fn supports_control_mode(&self) -> bool {
        self.number.is_none_or(|n| n >= MIN_CONTROL_VERSION)
    }
}

impl fmt::Display for TmuxVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// Why control mode cannot be used with the installed tmux.
#[derive(Debug, thiserror::Error)]
pub enum ControlModeUnusable {
    /// `tmux -V` reports a version older than [`MIN_CONTROL_VERSION`].
    #[error("tmux {found} is too old for control mode (ctmuxd needs tmux 3.2 or newer)")]
    TooOld {
        /// The release found.
        found: TmuxVersion,
    },
}

/// The installed tmux's release (`tmux -V`); `None` if tmux cannot be run.
pub async fn installed() -> Option<TmuxVersion> {
    let out = tokio::process::Command::new(tmux_binary())
        .arg("-V")
        .stdin(Stdio::null())
        .output()
        .await
        .ok()?;
    Some(TmuxVersion::parse(&String::from_utf8_lossy(&out.stdout)))
}

/// Checks that the installed tmux is new enough for control mode.
///
/// # Errors
/// [`ControlModeUnusable::TooOld`] naming the version found. A tmux that cannot be run at
/// all is not reported here: the attach reports it.
pub async fn check_control_mode() -> Result<(), ControlModeUnusable> {
    match installed().await {
        Some(v) if !v.supports_control_mode() => Err(ControlModeUnusable::TooOld { found: v }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        let n = |t: &str| TmuxVersion::parse(t).number;
        assert_eq!(n("tmux 3.3a"), Some((3, 3)));
        assert_eq!(n("3.5a"), Some((3, 5)));
        assert_eq!(n("tmux 3.2-rc2"), Some((3, 2)));
        assert_eq!(n("tmux next-3.4"), Some((3, 4)));
        assert_eq!(n("tmux 2.9a"), Some((2, 9)));
        assert_eq!(n("tmux master"), None);
        assert_eq!(TmuxVersion::parse("tmux 3.5a\n").to_string(), "3.5a");
        assert!(!TmuxVersion::parse("tmux 3.1c").supports_control_mode());
        assert!(TmuxVersion::parse("tmux 3.2").supports_control_mode());
        assert!(TmuxVersion::parse("tmux openbsd-7.4").supports_control_mode());
    }
}
