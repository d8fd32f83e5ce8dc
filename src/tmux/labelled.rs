//! Pane operations over a control connection, by label: spawn a labelled pane (with
//! metadata), close, send keys, list. Labels and metadata live in tmux itself as pane
//! user options (`@ctmuxd_label`, `@ctmuxd_meta`), so they survive a ctmuxd restart, show
//! in tmux formats, and can be set by hand.
//!
//! Every value is passed through [`super::command::quote`]; pane text never reaches a
//! command line unquoted.

use std::collections::BTreeMap;
use std::path::PathBuf;

use tmux_control_parser::{PaneId, SessionId, WindowId};

use super::command::{line, send_keys_literal};
use super::control::{ControlClient, ReplyHook};
use super::format;
use super::TmuxError;

/// Pane option holding the label.
pub const LABEL_OPTION: &str = "@ctmuxd_label";
/// Pane option holding the metadata (a JSON object, on one line).
pub const META_OPTION: &str = "@ctmuxd_meta";
/// Variable the start gate of a spawned command reads into (see [`spawn`]).
const GATE_VAR: &str = "_ctmuxd_go";
/// Pane option where a spawned command's wrapper leaves its exit status.
pub const EXIT_OPTION: &str = "@ctmuxd_exit";
/// Pane option holding the command ctmuxd spawned the pane with, as `panes` shows it: the
/// pane's own foreground command is the spawn wrapper's `sh`.
pub const COMMAND_OPTION: &str = "@ctmuxd_command";
/// Runs after a spawned command: stores its exit status in the pane (tmux 3.3a does not
/// always fill `#{pane_dead_status}`), then exits with it. tmux finds the server from
/// `TMUX`; the pane must be named with `TMUX_PANE` (without `-t` tmux picks the active
/// pane). The tmux called is ctmuxd's own ([`super::tmux_binary`]): a server refuses a
/// client of another release, and the first `tmux` on the pane's `PATH` may be one.
fn exit_trailer() -> String {
    let tmux = super::tmux_binary().replace('\'', "'\\''");
    format!(
        "; s=$?; '{tmux}' set-option -p -t \"$TMUX_PANE\" @ctmuxd_exit \"$s\" 2>/dev/null; exit \"$s\""
    )
}

/// The command a new pane runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PaneCommand {
    /// Run this argv directly (no shell).
    Argv(Vec<String>),
    /// Run this string with `sh -c` (explicitly asked for).
    Shell(String),
}

/// One spawn of a labelled pane: the one description the `spawn` action, a `[[pane]]`
/// entry and the API's `spawn` request are each converted into at their boundary (the
/// rules file's table, the wire request). The session is not part of it: it is chosen at
/// run time (the rules' session, the matched pane's, the request's) and given to
/// [`spawn`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpawnSpec {
    /// Label of the new pane, unique within its session.
    pub label: String,
    /// What it runs; `None` runs the default shell.
    pub command: Option<PaneCommand>,
    /// Working directory.
    pub cwd: Option<PathBuf>,
    /// Extra environment for the pane.
    pub env: Vec<(String, String)>,
    /// Metadata stored with the pane (`@ctmuxd_meta`, a JSON object).
    pub meta: BTreeMap<String, serde_json::Value>,
    /// Split beside the pane with this label; `None`: a new window.
    pub beside: Option<String>,
    /// With `beside`: side by side (`split-window -h`) rather than stacked (`-v`).
    pub horizontal: bool,
    /// With `beside`: size of the new pane (`30%`, or cells), tmux's `-l`.
    pub size: Option<String>,
    /// The pane stays (dead) after its process exits, so its exit status can be read.
    pub keep: bool,
    /// Replace a pane that already has the label instead of refusing.
    pub replace: bool,
    /// The server the pane opens on (a `[[server]]` name); `None`: the server of the rule
    /// or request that spawns it.
    pub server: Option<String>,
}

/// A pane as `list-panes` reports it, with its ctmuxd label and metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaneRecord {
    /// Pane id (`%3`).
    pub id: PaneId,
    /// Session id.
    pub session: SessionId,
    /// Session name.
    pub session_name: String,
    /// Window id.
    pub window: WindowId,
    /// The window's index in its session and the pane's index in its window: with the
    /// session name, the tmux target people write (`main:2.1`).
    pub index: (u32, u32),
    /// Process id of the pane's first process.
    pub pid: u32,
    /// Foreground command name; for a pane ctmuxd spawned, the command it was given.
    pub command: String,
    /// Width and height in cells.
    pub size: (u32, u32),
    /// Whether the pane's process has exited (the pane remains).
    pub dead: bool,
    /// Exit status, when it exited normally.
    pub exit_status: Option<i32>,
    /// Signal number, when it was killed by one.
    pub exit_signal: Option<i32>,
    /// `@ctmuxd_label`, if set.
    pub label: Option<String>,
    /// `@ctmuxd_meta` parsed as JSON (an object), if set and valid.
    pub meta: Option<serde_json::Value>,
}

impl PaneRecord {
    /// The `-F` format that [`PaneRecord::parse`] reads. User-set fields come last.
    /// Every text field is cleaned by tmux (see [`super::format`]): a process name or a
    /// label holding a tab or a newline cannot split or forge a record.
    pub fn format() -> String {
        format::record(&[
            format::raw("pane_id"),
            format::raw("session_id"),
            format::raw("window_id"),
            format::raw("pane_pid"),
            format::clean("pane_current_command"),
            format::raw("pane_width"),
            format::raw("pane_height"),
            format::raw("pane_dead"),
            format::raw("pane_dead_status"),
            format::raw("pane_dead_signal"),
            format::raw("window_index"),
            format::raw("pane_index"),
            format::clean("session_name"),
            format::clean(EXIT_OPTION),
            format::clean(LABEL_OPTION),
            format::clean(META_OPTION),
            format::clean(COMMAND_OPTION),
        ])
    }

    /// Parses one line of [`PaneRecord::format`] output; `None` for a malformed line.
    pub fn parse(l: &str) -> Option<PaneRecord> {
        let f: [&str; 17] = format::split(l)?;
        let signal: Option<i32> = f[9].parse().ok();
        // tmux 3.3a does not always fill pane_dead_status: fall back to the status the
        // spawn wrapper stored in the pane.
        let stored: Option<i32> = if signal.is_none() { f[13].parse().ok() } else { None };
        let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
        Some(PaneRecord {
            id: f[0].parse().ok()?,
            session: f[1].parse().ok()?,
            window: f[2].parse().ok()?,
            pid: f[3].parse().unwrap_or(0),
            // The spawn wrapper's `sh` stays the foreground process: show what it runs.
            command: if f[4] == "sh" && !f[16].is_empty() { f[16] } else { f[4] }.to_string(),
            size: (f[5].parse().unwrap_or(0), f[6].parse().unwrap_or(0)),
            dead: f[7] == "1",
            exit_status: f[8].parse().ok().or(stored),
            exit_signal: signal,
            index: (f[10].parse().unwrap_or(0), f[11].parse().unwrap_or(0)),
            session_name: f[12].to_string(),
            label: opt(f[14]),
            meta: opt(f[15]).and_then(|m| serde_json::from_str(&m).ok()),
        })
    }
}

/// What can go wrong with a pane operation.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    /// tmux refused or the connection is gone.
    #[error(transparent)]
    Tmux(#[from] TmuxError),
    /// A label is already taken in that session.
    #[error("label `{label}` is already used by pane {pane} in session {session}; pick another label or ask to replace it")]
    DuplicateLabel {
        /// The label.
        label: String,
        /// The pane holding it.
        pane: PaneId,
        /// The session.
        session: String,
    },
    /// No pane has that label.
    #[error("no pane labelled `{label}`{}", known_suffix(.known))]
    UnknownLabel {
        /// What was asked for.
        label: String,
        /// The labels that exist.
        known: Vec<String>,
    },
    /// A label that cannot be stored (empty, control characters).
    #[error("invalid label {0:?}: use a non-empty name without control characters")]
    InvalidLabel(String),
    /// tmux answered something unexpected.
    #[error("unexpected reply from tmux: {0}")]
    Unexpected(String),
}

fn known_suffix(known: &[String]) -> String {
    if known.is_empty() {
        "; no pane has a label yet".to_string()
    } else {
        format!("; labels in use: {}", known.join(", "))
    }
}

/// Every pane of the server (`list-panes -a`), one record per pane (a window linked into
/// two sessions is reported once, for the first session).
///
/// # Errors
/// tmux errors.
pub async fn list(client: &ControlClient) -> Result<Vec<PaneRecord>, OpsError> {
    let lines = client.command(line("list-panes", &["-a", "-F", &PaneRecord::format()])).await?;
    let mut seen = std::collections::HashSet::new();
    Ok(lines.iter().filter_map(|l| PaneRecord::parse(l)).filter(|r| seen.insert(r.id)).collect())
}

/// Panes whose label matches `pattern` (a label or a glob with `*` and `?`).
///
/// # Errors
/// tmux errors.
pub async fn find(client: &ControlClient, pattern: &str) -> Result<Vec<PaneRecord>, OpsError> {
    Ok(list(client)
        .await?
        .into_iter()
        .filter(|r| r.label.as_deref().is_some_and(|l| glob_match(pattern, l)))
        .collect())
}

/// The one pane labelled exactly `label`.
///
/// # Errors
/// [`OpsError::UnknownLabel`] listing the labels that exist.
pub async fn resolve(client: &ControlClient, label: &str) -> Result<PaneRecord, OpsError> {
    let all = list(client).await?;
    if let Some(r) = all.iter().find(|r| r.label.as_deref() == Some(label)) {
        return Ok(r.clone());
    }
    let mut known: Vec<String> = all.into_iter().filter_map(|r| r.label).collect();
    known.sort();
    known.dedup();
    Err(OpsError::UnknownLabel { label: label.to_string(), known })
}

/// Spawns a labelled pane in `session` (`$1` or a name) and returns its record.
///
/// `on_created` runs on the connection's reader task with the new pane's id as soon as
/// tmux answers, before the pane's first output is processed: the caller records the
/// label there so no early line is matched without it.
///
/// # Errors
/// [`OpsError::UnknownLabel`] when no pane has the `beside` label;
/// [`OpsError::DuplicateLabel`] when the label is taken in the session and `replace` is
/// false; [`OpsError::InvalidLabel`]; tmux errors (bad directory, pane to split gone).
pub async fn spawn(
    client: &ControlClient,
    session: &str,
    spec: &SpawnSpec,
    on_created: impl FnOnce(PaneId) + Send + 'static,
) -> Result<PaneRecord, OpsError> {
    // The pane to split comes first: an unknown `beside` label is the first error.
    let beside = match &spec.beside {
        Some(label) => Some(resolve(client, label).await?.id),
        None => None,
    };
    check_label(&spec.label)?;
    let all = list(client).await?;
    let sid = resolve_session(client, session).await?;
    if let Some(taken) =
        all.iter().find(|r| r.session == sid && r.label.as_deref() == Some(spec.label.as_str()))
    {
        if spec.replace {
            client.command(line("kill-pane", &["-t", &taken.id.to_string()])).await?;
        } else {
            return Err(OpsError::DuplicateLabel {
                label: spec.label.clone(),
                pane: taken.id,
                session: taken.session_name.clone(),
            });
        }
    }
    let mut args: Vec<String> = Vec::new();
    let name = match beside {
        None => {
            args.extend([
                "-d".into(),
                "-t".into(),
                format!("{sid}:"),
                "-n".into(),
                spec.label.clone(),
            ]);
            "new-window"
        }
        Some(beside) => {
            args.extend(["-d".into(), "-t".into(), beside.to_string()]);
            args.push(if spec.horizontal { "-h" } else { "-v" }.into());
            if let Some(s) = &spec.size {
                args.extend(["-l".into(), s.clone()]);
            }
            "split-window"
        }
    };
    args.extend(["-P".into(), "-F".into(), "#{pane_id}".into()]);
    if let Some(cwd) = &spec.cwd {
        args.extend(["-c".into(), cwd.to_string_lossy().into_owned()]);
    }
    for (k, v) in &spec.env {
        args.extend(["-e".into(), format!("{k}={v}")]);
    }
    // The command is gated: it starts only when ctmuxd presses Enter in the pane, after
    // `remain-on-exit` and the label are set. Otherwise a command that exits at once
    // (`exit 3`) would be gone before its exit status could be kept. The gate is a
    // `read` in `sh`, which then `exec`s the argv (same pid, no shell parsing of it) or
    // runs the shell string. The Enter shows as one empty first line in the pane.
    let gated = spec.command.is_some();
    match &spec.command {
        None => {}
        Some(PaneCommand::Argv(argv)) => {
            args.extend([
                "sh".into(),
                "-c".into(),
                format!("read -r {GATE_VAR}; \"$@\"{}", exit_trailer()),
                "sh".into(),
            ]);
            args.extend(argv.iter().cloned());
        }
        Some(PaneCommand::Shell(s)) => {
            // A subshell, so an `exit` in the script still reaches the trailer.
            args.extend([
                "sh".into(),
                "-c".into(),
                format!("read -r {GATE_VAR}\n(\n{s}\n){}", exit_trailer()),
            ]);
        }
    }
    let hook = Box::new(move |replies: &[tmux_control_parser::Reply]| {
        let Some(reply) = replies.first() else { return };
        if let Some(id) = reply.lines.first().and_then(|l| PaneId::from_bytes(l.trim_ascii())) {
            if reply.ok {
                on_created(id);
            }
        }
    });
    let out = client.command_with_hook(line(name, &args), hook).await?;
    let id: PaneId = out.first().and_then(|l| l.trim().parse().ok()).ok_or_else(|| {
        OpsError::Unexpected(format!("{name} printed {out:?} instead of a pane id"))
    })?;
    let pane = id.to_string();
    if spec.keep {
        client.command(line("set-option", &["-p", "-t", &pane, "remain-on-exit", "on"])).await?;
    }
    client.command(line("set-option", &["-p", "-t", &pane, LABEL_OPTION, &spec.label])).await?;
    let shown = match &spec.command {
        Some(PaneCommand::Argv(argv)) => argv.join(" "),
        Some(PaneCommand::Shell(s)) => s.clone(),
        None => String::new(),
    };
    if !shown.is_empty() {
        client.command(line("set-option", &["-p", "-t", &pane, COMMAND_OPTION, &shown])).await?;
    }
    if !spec.meta.is_empty() {
        let json = serde_json::to_string(&spec.meta).unwrap_or_default();
        client.command(line("set-option", &["-p", "-t", &pane, META_OPTION, &json])).await?;
    }
    if gated {
        send_enter(client, id).await?;
    }
    let fmt = PaneRecord::format();
    let lines = client.command(line("display-message", &["-p", "-t", &pane, &fmt])).await?;
    lines
        .first()
        .and_then(|l| PaneRecord::parse(l))
        .ok_or_else(|| OpsError::Unexpected(format!("cannot read back pane {pane}")))
}

async fn resolve_session(client: &ControlClient, session: &str) -> Result<SessionId, OpsError> {
    let out = client
        .command(line("display-message", &["-p", "-t", &format!("{session}:"), "#{session_id}"]))
        .await?;
    out.first()
        .and_then(|l| l.parse().ok())
        .ok_or_else(|| OpsError::Unexpected(format!("no session id for {session}: {out:?}")))
}

/// Whether `label` can be stored as a pane's label: non-empty, no control characters.
///
/// # Errors
/// [`OpsError::InvalidLabel`] naming it.
pub fn check_label(label: &str) -> Result<(), OpsError> {
    if label.is_empty() || label.chars().any(char::is_control) {
        return Err(OpsError::InvalidLabel(label.to_owned()));
    }
    Ok(())
}

/// Gives an existing pane `label` (and, when given, replaces its metadata), stored in
/// its pane options as a spawned pane's are; returns the pane as tmux then lists it.
///
/// # Errors
/// [`OpsError::InvalidLabel`] for an empty label or one with control characters,
/// [`OpsError::DuplicateLabel`] when another pane of the same session has it, a tmux
/// error when the pane is gone.
pub async fn label(
    client: &ControlClient,
    pane: PaneId,
    label: &str,
    meta: Option<&BTreeMap<String, serde_json::Value>>,
) -> Result<PaneRecord, OpsError> {
    check_label(label)?;
    let all = list(client).await?;
    let Some(this) = all.iter().find(|r| r.id == pane) else {
        return Err(OpsError::Unexpected(format!("pane {pane} is not in tmux's pane list")));
    };
    if let Some(taken) = all
        .iter()
        .find(|r| r.id != pane && r.session == this.session && r.label.as_deref() == Some(label))
    {
        return Err(OpsError::DuplicateLabel {
            label: label.to_owned(),
            pane: taken.id,
            session: taken.session_name.clone(),
        });
    }
    let target = pane.to_string();
    client.command(line("set-option", &["-p", "-t", &target, LABEL_OPTION, label])).await?;
    if let Some(meta) = meta {
        let json = serde_json::to_string(meta).map_err(|e| OpsError::Unexpected(e.to_string()))?;
        client.command(line("set-option", &["-p", "-t", &target, META_OPTION, &json])).await?;
    }
    let mut record = this.clone();
    record.label = Some(label.to_owned());
    if let Some(meta) = meta {
        record.meta = Some(serde_json::Value::Object(meta.clone().into_iter().collect()));
    }
    Ok(record)
}

/// Kills a pane.
///
/// # Errors
/// tmux errors (the pane is already gone).
pub async fn close(client: &ControlClient, pane: PaneId) -> Result<(), OpsError> {
    client.command(line("kill-pane", &["-t", &pane.to_string()])).await?;
    Ok(())
}

/// Types `text` into `pane` literally; then Enter, as its own keystroke, if `enter`.
///
/// # Errors
/// tmux errors.
pub async fn send(
    client: &ControlClient,
    pane: PaneId,
    text: &str,
    enter: bool,
) -> Result<(), OpsError> {
    type_text(client, pane, text, false, None).await?;
    if enter {
        send_enter(client, pane).await?;
    }
    Ok(())
}

/// Types `text` into `pane` literally (see [`send_keys_literal`]), or with `paste` as one
/// bracketed paste, for a program that turned bracketed paste on (`ESC [ ? 2004 h`):
/// `ESC [ 200 ~`, the text typed as without, `ESC [ 201 ~`. The program then takes it all
/// as text (a newline in it runs nothing, a tab completes nothing) until Enter. Paste marks
/// in the text are left out, so it cannot end the paste early. `first_key` runs on the
/// connection's reader as soon as tmux has taken the first key (its reply is read): after
/// the output tmux read from the pane before, before any that follows.
///
/// Everything goes with `send-keys`: the text stays out of tmux's paste buffers and off
/// any command line but `send-keys -l`'s quoted one; the marks go as `send-keys -H`, one
/// byte each, which tmux 3.3a passes on as they are.
///
/// # Errors
/// tmux errors.
pub async fn type_text(
    client: &ControlClient,
    pane: PaneId,
    text: &str,
    paste: bool,
    first_key: Option<ReplyHook>,
) -> Result<(), OpsError> {
    let mut hook = first_key;
    for l in typing_lines(pane, text, paste) {
        match hook.take() {
            Some(h) => client.command_with_hook(l, h).await?,
            None => client.command(l).await?,
        };
    }
    Ok(())
}

/// The `send-keys` command lines [`type_text`] sends, one reply each.
fn typing_lines(pane: PaneId, text: &str, paste: bool) -> Vec<String> {
    const START: [&str; 6] = ["1b", "5b", "32", "30", "30", "7e"];
    const END: [&str; 6] = ["1b", "5b", "32", "30", "31", "7e"];
    let target = pane.to_string();
    let marks = |bytes: [&str; 6]| {
        let mut args = vec!["-t", &target, "-H"];
        args.extend(bytes);
        line("send-keys", &args)
    };
    match paste {
        true => {
            let text = text.replace("\x1b[200~", "").replace("\x1b[201~", "");
            let mut lines = vec![marks(START)];
            lines.extend(send_keys_literal(&target, &text));
            lines.push(marks(END));
            lines
        }
        false => send_keys_literal(&target, text),
    }
}

/// How many `send-keys` commands [`type_line`] puts on one control-mode line.
const TYPING_BATCH: usize = 64;

/// Types `text` into `pane` as [`type_text`] does, then presses Enter, with the commands
/// sent 64 to a line (`a ; b ; …`): for a shell that reads its command line
/// (`ctmuxd run`), where nothing waits to see the text before Enter. PERF: one round trip
/// to tmux instead of one per command (with the wait on the shell's marks: `run true`
/// over the socket 0.84 → 0.72 ms p50, `cargo bench --bench send`).
///
/// # Errors
/// tmux errors (the first command tmux refused; it runs none after it).
pub async fn type_line(
    client: &ControlClient,
    pane: PaneId,
    text: &str,
    paste: bool,
) -> Result<(), OpsError> {
    let mut lines = typing_lines(pane, text, paste);
    lines.push(line("send-keys", &["-t", &pane.to_string(), "Enter"]));
    for batch in lines.chunks(TYPING_BATCH) {
        let replies = client.request_all(batch, None).await?;
        if let Some(failed) = replies.iter().find(|r| !r.ok) {
            return Err(TmuxError::Command(failed.text()).into());
        }
    }
    Ok(())
}

/// Presses Ctrl-C in `pane`: a shell's line editor drops the line it holds.
///
/// # Errors
/// tmux errors.
pub async fn interrupt(client: &ControlClient, pane: PaneId) -> Result<(), OpsError> {
    client.command(line("send-keys", &["-t", &pane.to_string(), "C-c"])).await?;
    Ok(())
}

/// Presses Enter in `pane`; `hook` as [`type_text`]'s `first_key`.
///
/// # Errors
/// tmux errors.
pub async fn press_enter(
    client: &ControlClient,
    pane: PaneId,
    hook: Option<ReplyHook>,
) -> Result<(), OpsError> {
    let l = line("send-keys", &["-t", &pane.to_string(), "Enter"]);
    match hook {
        Some(h) => client.command_with_hook(l, h).await?,
        None => client.command(l).await?,
    };
    Ok(())
}

/// Presses Enter in `pane`.
///
/// # Errors
/// tmux errors.
pub async fn send_enter(client: &ControlClient, pane: PaneId) -> Result<(), OpsError> {
    client.command(line("send-keys", &["-t", &pane.to_string(), "Enter"])).await?;
    Ok(())
}

pub use crate::glob::glob_match;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tmux::format::SEP;

    #[test]
    fn record_round_trip() {
        let l = [
            "%3",
            "$0",
            "@2",
            "123",
            "sh",
            "80",
            "24",
            "1",
            "3",
            "",
            "2",
            "1",
            "main",
            "",
            "build",
            "{\"stage\":\"b\"}",
            "make test",
        ]
        .join(&SEP.to_string());
        let r = PaneRecord::parse(&l).unwrap();
        assert_eq!(r.command, "make test", "the spawned command, not the wrapper's sh");
        let hand_made = l.replace(&format!("{SEP}make test"), &SEP.to_string());
        assert_eq!(PaneRecord::parse(&hand_made).unwrap().command, "sh");
        assert_eq!(r.id, PaneId(3));
        assert_eq!(r.index, (2, 1), "window and pane index");
        assert!(r.dead);
        assert_eq!(r.exit_status, Some(3));
        // No status from tmux: the one the spawn wrapper stored is used.
        let l2 = l.replacen(
            &format!("{SEP}3{SEP}{SEP}2{SEP}1{SEP}main{SEP}{SEP}"),
            &format!("{SEP}{SEP}{SEP}2{SEP}1{SEP}main{SEP}7{SEP}"),
            1,
        );
        assert_eq!(PaneRecord::parse(&l2).unwrap().exit_status, Some(7));
        assert_eq!(r.exit_signal, None);
        assert_eq!(r.label.as_deref(), Some("build"));
        assert_eq!(r.meta.unwrap()["stage"], "b");
        assert!(PaneRecord::parse("%3").is_none());
    }
}
