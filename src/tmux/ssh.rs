//! A tmux server on another host, reached over OpenSSH: `ssh [options] DEST -- tmux …`.
//!
//! Nothing of ctmuxd runs on the remote host and no port is opened: every tmux command
//! line ctmuxd would run here (the control client `tmux -C`, `list-sessions`, the
//! out-of-band commands of polling) is run there by `ssh`, which keeps the user's keys,
//! agent, `~/.ssh/config` and `ProxyJump`. `ssh` joins its command arguments with spaces
//! and hands them to the remote user's shell, so each one is quoted for a POSIX shell
//! here ([`shell_quote`]): a label or a pane's text never becomes shell syntax there.

use std::ffi::OsString;

use super::TmuxTarget;

/// One remote tmux server: where `ssh` connects, how, and which server there.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SshTarget {
    /// `user@host` (or a `Host` alias of `~/.ssh/config`), as `ssh` takes it.
    pub destination: String,
    /// Extra `ssh` arguments before the destination (`["-p", "2222", "-i", "key"]`).
    pub options: Vec<String>,
    /// Which server on the remote host: its default one, `-L NAME` or `-S PATH` there.
    pub socket: RemoteSocket,
    /// The tmux program on the remote host (`tmux` on its `PATH` unless told otherwise).
    pub tmux: String,
}

/// The server on the remote host, as `-L`/`-S` select it there.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum RemoteSocket {
    /// The remote user's default server.
    #[default]
    Default,
    /// `-L NAME` on the remote host.
    Name(String),
    /// `-S PATH` on the remote host.
    Path(String),
}

/// The `-o` options every link gets after the user's own (see [`SshTarget::argv`]).
const DEFAULT_OPTIONS: [&str; 4] =
    ["BatchMode=yes", "ConnectTimeout=10", "ServerAliveInterval=5", "ServerAliveCountMax=3"];

impl SshTarget {
    /// A remote server on `destination`'s default tmux socket, with `tmux` from its `PATH`.
    pub fn new(destination: impl Into<String>) -> SshTarget {
        SshTarget { destination: destination.into(), tmux: "tmux".into(), ..SshTarget::default() }
    }

    /// `ssh -T [options] -o BatchMode=yes … -- DEST 'tmux' -u [socket args] 'arg'…`: never
    /// a terminal (tmux's control mode reads a pipe), never a password prompt (a daemon
    /// has no one to type it; keys or an agent must do), and a link that stops answering
    /// is given up after about 15 s (`ServerAliveInterval=5`, `ServerAliveCountMax=3`;
    /// `ConnectTimeout=10`), so it is reconnected rather than waited on forever. ssh takes
    /// the first value it is given for an option: `options` come first and win.
    pub fn argv(&self, args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
        // `-u`: the remote shell seldom has the locale of ours (ssh passes none by default),
        // and tmux in a C locale prints the tab of a `-F` record as `_`.
        let mut remote = vec![shell_quote(&self.tmux), "-u".to_string()];
        match &self.socket {
            RemoteSocket::Default => {}
            RemoteSocket::Name(n) => remote.extend(["-L".to_string(), shell_quote(n)]),
            RemoteSocket::Path(p) => remote.extend(["-S".to_string(), shell_quote(p)]),
        }
        remote.extend(args.into_iter().map(|a| shell_quote(&a.to_string_lossy())));
        let mut argv: Vec<OsString> = vec!["-T".into()];
        argv.extend(self.options.iter().map(OsString::from));
        for option in DEFAULT_OPTIONS {
            argv.extend(["-o".into(), option.into()]);
        }
        argv.push("--".into());
        argv.push(self.destination.clone().into());
        argv.push(remote.join(" ").into());
        argv
    }

    /// `ssh DEST tmux -L NAME`, for messages.
    pub fn describe(&self) -> String {
        let socket = match &self.socket {
            RemoteSocket::Default => String::new(),
            RemoteSocket::Name(n) => format!(" -L {}", shell_quote(n)),
            RemoteSocket::Path(p) => format!(" -S {}", shell_quote(p)),
        };
        format!("ssh {} {}{socket}", shell_quote(&self.destination), shell_quote(&self.tmux))
    }
}

impl From<SshTarget> for TmuxTarget {
    fn from(t: SshTarget) -> TmuxTarget {
        TmuxTarget::Ssh(Box::new(t))
    }
}

/// The `ssh` executable: `$CTMUXD_SSH` if set, else `ssh` from `PATH`.
pub fn ssh_binary() -> String {
    std::env::var("CTMUXD_SSH").unwrap_or_else(|_| "ssh".to_string())
}

/// `arg` as one word of a POSIX shell: bare when it holds only safe bytes, else in single
/// quotes with each `'` written `'\''`.
pub fn shell_quote(arg: &str) -> String {
    let safe = !arg.is_empty()
        && arg.bytes().all(|b| b.is_ascii_alphanumeric() || b"_@%./:=+,-".contains(&b));
    if safe {
        return arg.to_string();
    }
    format!("'{}'", arg.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_words_are_quoted_for_the_remote_shell() {
        assert_eq!(shell_quote("abc-1.2"), "abc-1.2");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's $(rm -rf /)"), r"'it'\''s $(rm -rf /)'");
        assert_eq!(shell_quote("#{pane_id}"), "'#{pane_id}'");
    }

    #[test]
    fn the_argv_puts_options_before_the_destination_and_quotes_the_command() {
        let t = SshTarget {
            destination: "me@box".into(),
            options: vec!["-p".into(), "2222".into()],
            socket: RemoteSocket::Name("work".into()),
            tmux: "/opt/tmux".into(),
        };
        let argv: Vec<String> = t
            .argv(["-C".into(), "display-message".into(), "-p".into(), "#{pid} x".into()])
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect();
        assert_eq!(
            argv,
            [
                "-T",
                "-p",
                "2222",
                "-o",
                "BatchMode=yes",
                "-o",
                "ConnectTimeout=10",
                "-o",
                "ServerAliveInterval=5",
                "-o",
                "ServerAliveCountMax=3",
                "--",
                "me@box",
                "/opt/tmux -u -L work -C display-message -p '#{pid} x'"
            ]
        );
        assert_eq!(t.describe(), "ssh me@box /opt/tmux -L work");
    }
}
