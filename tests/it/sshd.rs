//! A real OpenSSH server for a test: `sshd` on 127.0.0.1 at a free port, with a host key,
//! a client key and its `authorized_keys` generated in the test's temp dir, killed on drop.
//! The client side is the options a `[[server]]` entry passes (`ssh_options`): that key,
//! no user config, no known-hosts file of the user's. Self-contained (std, libc, tempfile):
//! `benches/servers.rs` uses it too.

#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where Debian's `openssh-server` puts the daemon (`.ci/run` installs it).
const SSHD: &str = "/usr/sbin/sshd";

/// A running `sshd -D` of the test's own.
pub struct Sshd {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Holds the keys, the config and its log.
    pub dir: tempfile::TempDir,
}

fn keygen(path: &Path) {
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .status()
        .expect("ssh-keygen (openssh-client) runs");
    assert!(st.success(), "ssh-keygen failed");
}

impl Sshd {
    /// Starts sshd and waits until it accepts connections.
    pub fn start() -> Sshd {
        assert!(
            Path::new(SSHD).exists(),
            "{SSHD} is missing: install openssh-server (.ci/run does)"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let p = |n: &str| dir.path().join(n);
        keygen(&p("host_key"));
        keygen(&p("client_key"));
        std::fs::copy(p("client_key.pub"), p("authorized_keys")).expect("authorized_keys");
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        // Run as root, sshd insists on its privilege-separation directory (Debian's
        // package creates it at boot through tmpfiles, which a container may not run).
        // SAFETY: geteuid(2) cannot fail and touches no memory of ours.
        if unsafe { libc::geteuid() } == 0 {
            let _ = std::fs::create_dir_all("/run/sshd");
        }
        let mut config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nAuthorizedKeysFile {}\nPidFile {}\n\
             StrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
             PubkeyAuthentication yes\nPermitRootLogin prohibit-password\nLogLevel ERROR\n",
            p("host_key").display(),
            p("authorized_keys").display(),
            p("sshd.pid").display(),
        );
        // SHLVL=1: bash, run by sshd for each command, reads the user's ~/.bashrc only as
        // a top-level shell; the test's commands must not wait on whatever that file does
        // (a pyenv rehash lock left behind held every login 60 s on a CI image). And the
        // remote shell must find the test's tmux servers where the local side does.
        config.push_str("SetEnv SHLVL=1");
        if let Some(t) = std::env::var_os("TMUX_TMPDIR") {
            config.push_str(&format!(" TMUX_TMPDIR={}", t.to_string_lossy()));
        }
        config.push('\n');
        std::fs::write(p("sshd_config"), config).unwrap();
        let child = Command::new(SSHD)
            .arg("-D")
            .arg("-f")
            .arg(p("sshd_config"))
            .arg("-E")
            .arg(p("sshd.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start sshd");
        let mut sshd = Sshd { child, port, dir };
        let end = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(st)) = sshd.child.try_wait() {
                panic!("sshd exited with {st}: {}", sshd.log());
            }
            assert!(Instant::now() < end, "sshd did not listen: {}", sshd.log());
            std::thread::sleep(Duration::from_millis(20));
        }
        sshd
    }

    /// sshd's own log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    /// `user@127.0.0.1` for the user running the test.
    pub fn destination(&self) -> String {
        let out = Command::new("id").arg("-un").output().expect("id -un");
        format!("{}@127.0.0.1", String::from_utf8_lossy(&out.stdout).trim())
    }

    /// The client's options: this server's port, its key, no config or known hosts of the
    /// user's.
    pub fn options(&self) -> Vec<String> {
        let key: PathBuf = self.dir.path().join("client_key");
        let known = self.dir.path().join("known_hosts");
        vec![
            "-F".into(),
            "/dev/null".into(),
            "-p".into(),
            self.port.to_string(),
            "-i".into(),
            key.display().to_string(),
            "-o".into(),
            "IdentitiesOnly=yes".into(),
            "-o".into(),
            "StrictHostKeyChecking=no".into(),
            "-o".into(),
            format!("UserKnownHostsFile={}", known.display()),
            "-o".into(),
            "LogLevel=ERROR".into(),
        ]
    }

    /// A `[[server]]` entry reaching the tmux server `-L socket` through this sshd, with
    /// the tmux under test on the remote side.
    pub fn server_entry(&self, name: &str, socket: &str) -> String {
        let opts: Vec<String> = self.options().iter().map(|o| format!("{o:?}")).collect();
        format!(
            "[[server]]\nname = {name:?}\nssh = {:?}\nsocket_name = {socket:?}\ntmux = {:?}\nssh_options = [{}]\n",
            self.destination(),
            std::env::var("CTMUXD_TMUX").unwrap_or_else(|_| "tmux".to_string()),
            opts.join(", ")
        )
    }

    /// The per-connection sshd processes (children of the listener): killing them drops
    /// every SSH connection as a network failure would.
    pub fn connections(&self) -> Vec<u32> {
        let parent = self.child.id();
        let mut out = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
            // `pid (comm) state ppid ...`: comm may hold spaces, so split after the last ')'.
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u32>().ok());
            if ppid == Some(parent) {
                out.push(pid);
            }
        }
        out
    }

    /// Kills every SSH connection (not the listener): returns how many there were.
    pub fn drop_connections(&self) -> usize {
        let conns = self.connections();
        for &pid in &conns {
            // SAFETY: kill(2) has no memory-safety preconditions; the pids are children of
            // the test's own sshd.
            unsafe {
                libc::kill(pid as i32, libc::SIGKILL);
            }
        }
        conns.len()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
