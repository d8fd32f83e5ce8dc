//! Where the rules file is when none is given: `$CTMUXD_RULES`, then `./ctmuxd.toml`, then
//! `$XDG_CONFIG_HOME/ctmuxd/rules.toml` (`~/.config/ctmuxd/rules.toml` without it). A
//! daemon that finds none serves the API only; `ctmuxd check` without a file checks the
//! one found.

use std::path::{Path, PathBuf};

/// The environment variable naming the rules file.
pub const RULES_ENV: &str = "CTMUXD_RULES";

/// The rules file in the working directory.
pub const LOCAL_FILE: &str = "ctmuxd.toml";

/// How the rules file was chosen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RulesFile {
    /// Given with `--rules` (or as `check`'s argument).
    Given(PathBuf),
    /// Found by the lookup; `how` says which step found it (`$CTMUXD_RULES`, ...).
    Found {
        /// The file.
        path: PathBuf,
        /// The lookup step that found it.
        how: &'static str,
    },
    /// None given and none found.
    None,
}

impl RulesFile {
    /// The file, if any.
    pub fn path(&self) -> Option<&Path> {
        match self {
            RulesFile::Given(path) | RulesFile::Found { path, .. } => Some(path),
            RulesFile::None => None,
        }
    }
}

/// Where [`find`] looks, in order, as a person would write it (for messages).
pub fn lookup_order() -> String {
    format!("${RULES_ENV}, ./{LOCAL_FILE}, {}", config_file_display())
}

/// The rules file to use: `given` when there is one, else the first of
/// [`lookup_order`] that exists (`$CTMUXD_RULES` counts when set and non-empty, whether or
/// not the file exists, so a mistyped path is reported instead of silently skipped).
pub fn find(given: Option<&Path>) -> RulesFile {
    find_in(given, std::env::var_os(RULES_ENV).map(PathBuf::from), config_file(), Path::new("."))
}

/// [`find`] over explicit inputs (tests).
fn find_in(
    given: Option<&Path>,
    env: Option<PathBuf>,
    config: Option<PathBuf>,
    cwd: &Path,
) -> RulesFile {
    if let Some(path) = given {
        return RulesFile::Given(path.to_path_buf());
    }
    if let Some(path) = env.filter(|p| !p.as_os_str().is_empty()) {
        return RulesFile::Found { path, how: "$CTMUXD_RULES" };
    }
    let local = cwd.join(LOCAL_FILE);
    if local.is_file() {
        return RulesFile::Found { path: PathBuf::from(LOCAL_FILE), how: "the working directory" };
    }
    match config.filter(|p| p.is_file()) {
        Some(path) => RulesFile::Found { path, how: "the user's config directory" },
        None => RulesFile::None,
    }
}

/// `$XDG_CONFIG_HOME/ctmuxd/rules.toml`, else `~/.config/ctmuxd/rules.toml`.
fn config_file() -> Option<PathBuf> {
    let abs = |name: &str| std::env::var_os(name).map(PathBuf::from).filter(|p| p.is_absolute());
    abs("XDG_CONFIG_HOME")
        .or_else(|| abs("HOME").map(|h| h.join(".config")))
        .map(|dir| dir.join("ctmuxd").join("rules.toml"))
}

fn config_file_display() -> String {
    match std::env::var_os("XDG_CONFIG_HOME").filter(|v| Path::new(v).is_absolute()) {
        Some(_) => "$XDG_CONFIG_HOME/ctmuxd/rules.toml".into(),
        None => "~/.config/ctmuxd/rules.toml".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lookup_takes_the_first_that_applies() {
        let dir = tempfile::tempdir().unwrap();
        let cwd = dir.path().join("work");
        let config = dir.path().join("config.toml");
        std::fs::create_dir_all(&cwd).unwrap();
        let given = Path::new("given.toml");
        let env = Some(PathBuf::from("/nowhere/env.toml"));
        let find = |g, e: Option<PathBuf>| find_in(g, e, Some(config.clone()), &cwd);
        assert_eq!(find(Some(given), env.clone()), RulesFile::Given(given.into()));
        assert_eq!(
            find(None, env.clone()),
            RulesFile::Found { path: "/nowhere/env.toml".into(), how: "$CTMUXD_RULES" },
            "a set variable is taken even when its file is missing (reported, not skipped)"
        );
        assert_eq!(find(None, Some(PathBuf::new())), RulesFile::None, "empty is unset");
        std::fs::write(&config, "").unwrap();
        assert_eq!(
            find(None, None),
            RulesFile::Found { path: config.clone(), how: "the user's config directory" }
        );
        std::fs::write(cwd.join(LOCAL_FILE), "").unwrap();
        let found = find(None, None);
        assert_eq!(
            found,
            RulesFile::Found { path: LOCAL_FILE.into(), how: "the working directory" }
        );
        assert_eq!(found.path(), Some(Path::new(LOCAL_FILE)));
        assert_eq!(RulesFile::None.path(), None);
    }
}
