//! `[[server]]` entries: the tmux servers one daemon watches, local (`socket_name`,
//! `socket_path`) or on another host over SSH (`ssh`, with `ssh_options`, a remote
//! socket and the remote `tmux`), each under a name that rules (`server = "gpu"`), spawn
//! actions, API addresses (`gpu/build`) and event records use. The `--server` and `--ssh`
//! flags make the same [`ServerSpec`]s ([`ServerSpec::from_server_flag`],
//! [`ServerSpec::from_ssh_flag`]).

use std::ops::Range;
use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

use super::error::{RulesError, Source};
use crate::tmux::ssh::{RemoteSocket, SshTarget};
use crate::tmux::TmuxTarget;

/// One watched server: its name and how to reach it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerSpec {
    /// Letters, digits, `.`, `_`, `-`; unique.
    pub name: String,
    /// Which server, here or over SSH.
    pub target: TmuxTarget,
}

/// A `[[server]]` table as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServer {
    pub(super) name: Spanned<String>,
    socket_name: Option<String>,
    socket_path: Option<String>,
    ssh: Option<String>,
    #[serde(default)]
    ssh_options: Vec<String>,
    tmux: Option<String>,
}

/// Whether `name` can name a server: a letter or digit, then letters, digits, `.`, `_`,
/// `-` (it is written before a `/` in pane addresses and in file names).
pub fn valid_name(name: &str) -> bool {
    name.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

const NAME_RULE: &str =
    "start with a letter or digit, then use letters, digits, `.`, `_` and `-` only";

impl ServerSpec {
    /// `--server NAME` (the local server `tmux -L NAME`) or `--server NAME=PATH` (the
    /// local server on socket `PATH`, as `-S`).
    ///
    /// # Errors
    /// The name is empty or holds other characters than letters, digits, `.`, `_`, `-`.
    pub fn from_server_flag(text: &str) -> Result<ServerSpec, String> {
        let (name, target) = match text.split_once('=') {
            Some((name, path)) => (name, TmuxTarget::Path(PathBuf::from(path))),
            None => (text, TmuxTarget::Name(text.to_string())),
        };
        if !valid_name(name) {
            return Err(format!(
                "--server {text:?}: the server name {name:?} is invalid; {NAME_RULE}"
            ));
        }
        Ok(ServerSpec { name: name.to_string(), target })
    }

    /// `--ssh [NAME=]DEST`: the default tmux server of `DEST` (`user@host`, or a host of
    /// `~/.ssh/config`), named `NAME`, or the host part of `DEST` without `NAME=`.
    ///
    /// # Errors
    /// An empty destination, or a name that is not valid (see [`valid_name`]).
    pub fn from_ssh_flag(text: &str) -> Result<ServerSpec, String> {
        let (name, dest) = match text.split_once('=') {
            Some((name, dest)) => (name.to_string(), dest),
            None => (text.rsplit('@').next().unwrap_or(text).to_string(), text),
        };
        if dest.is_empty() || dest.starts_with('-') {
            return Err(format!("--ssh {text:?}: give a destination such as me@build-box"));
        }
        if !valid_name(&name) {
            return Err(format!(
                "--ssh {text:?}: the server name {name:?} is invalid; {NAME_RULE} (write --ssh NAME={dest})"
            ));
        }
        Ok(ServerSpec { name, target: SshTarget::new(dest).into() })
    }
}

/// Validates the `[[server]]` tables, in file order.
///
/// # Errors
/// A bad or repeated name, both sockets given, or SSH settings without `ssh`.
pub(super) fn validate(
    raw: &[Spanned<RawServer>],
    source: Source<'_>,
) -> Result<Vec<ServerSpec>, RulesError> {
    let mut out: Vec<ServerSpec> = Vec::with_capacity(raw.len());
    for entry in raw {
        let span: Range<usize> = entry.span();
        let r = entry.get_ref();
        let name = r.name.get_ref();
        let err = |message: String| source.invalid(span.clone(), None, message);
        if !valid_name(name) {
            return Err(source.invalid(
                r.name.span(),
                None,
                format!("[[server]] name {name:?} is invalid; {NAME_RULE}"),
            ));
        }
        if out.iter().any(|s| s.name == *name) {
            return Err(source.invalid(
                r.name.span(),
                None,
                format!("[[server]] name {name:?} is used twice; give each server its own name"),
            ));
        }
        if r.socket_name.is_some() && r.socket_path.is_some() {
            return Err(err(format!(
                "[[server]] {name:?} has both `socket_name` and `socket_path`; keep one"
            )));
        }
        let target = match &r.ssh {
            Some(dest) => {
                if dest.is_empty() || dest.starts_with('-') {
                    return Err(err(format!(
                        "[[server]] {name:?}: `ssh` must be a destination such as \"me@build-box\""
                    )));
                }
                let socket = match (&r.socket_name, &r.socket_path) {
                    (Some(n), _) => RemoteSocket::Name(n.clone()),
                    (_, Some(p)) => RemoteSocket::Path(p.clone()),
                    _ => RemoteSocket::Default,
                };
                TmuxTarget::from(SshTarget {
                    destination: dest.clone(),
                    options: r.ssh_options.clone(),
                    socket,
                    tmux: r.tmux.clone().unwrap_or_else(|| "tmux".into()),
                })
            }
            None => {
                if !r.ssh_options.is_empty() || r.tmux.is_some() {
                    return Err(err(format!(
                        "[[server]] {name:?}: `ssh_options` and `tmux` apply to a server reached over SSH; add `ssh = \"user@host\"` or remove them"
                    )));
                }
                match (&r.socket_name, &r.socket_path) {
                    (Some(n), _) => TmuxTarget::Name(n.clone()),
                    (_, Some(p)) => TmuxTarget::Path(PathBuf::from(p)),
                    _ => TmuxTarget::Default,
                }
            }
        };
        out.push(ServerSpec { name: name.clone(), target });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_name_local_and_remote_servers() {
        let s = ServerSpec::from_server_flag("work").unwrap();
        assert_eq!(s.target, TmuxTarget::Name("work".into()));
        let s = ServerSpec::from_server_flag("x=/tmp/sock").unwrap();
        assert_eq!((s.name.as_str(), s.target), ("x", TmuxTarget::Path("/tmp/sock".into())));
        assert!(ServerSpec::from_server_flag("a/b").unwrap_err().contains("invalid"));
        let s = ServerSpec::from_ssh_flag("me@gpu-1").unwrap();
        assert_eq!(s.name, "gpu-1");
        assert_eq!(s.target, SshTarget::new("me@gpu-1").into());
        let s = ServerSpec::from_ssh_flag("gpu=me@10.0.0.2").unwrap();
        assert_eq!(s.name, "gpu");
        assert!(ServerSpec::from_ssh_flag("-oProxyCommand=x").is_err(), "not a name");
        assert!(ServerSpec::from_ssh_flag("x=-oProxyCommand").is_err(), "not a destination");
        assert!(ServerSpec::from_server_flag(".hidden").is_err());
    }
}
