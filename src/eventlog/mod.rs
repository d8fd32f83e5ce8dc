//! The event log: an append-only file of JSON lines, `<dir>/events.jsonl`, one
//! [`Record`] per line (matches, action outcomes, daemon and pane events: one typed
//! [`Event`] variant per kind, in `record`), rotated by size to `events.jsonl.1`, `.2`,
//! ...; plus the readers behind `ctmuxd logs` ([`read_last`]) and `ctmuxd logs --follow`
//! ([`follow`], [`Follower`]).
//!
//! Neighbours: the daemon appends records built by itself and by
//! [`crate::action::ActionOutcome::to_event`]; the CLI reads the files back. Each
//! line is written with one `write(2)` on an `O_APPEND` descriptor, so a crash can
//! only lose a whole record and two writers (even two processes) never interleave.

use serde::{Deserialize, Serialize};
use std::fs::{DirBuilder, File, OpenOptions};
use std::future::Future;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncWrite, AsyncWriteExt};

mod record;
mod view;

pub use record::{
    ActionDetails, ActionEvent, CatchUpEvent, CommandEvent, ConditionEvent, ConditionPart,
    DaemonEvent, EmitEvent, Event, EventsLostEvent, GapEvent, MatchEvent, Origin, OtherEvent,
    OverflowEvent, PaneChange, PaneEvent, Record, ResyncEvent, SkippedEvent, TriggerEvent,
    TriggerOn,
};
pub use view::{about, condition_text, human_line, human_text, RecordFilter};

/// Name of the live log file inside the log directory.
pub const LOG_FILE: &str = "events.jsonl";

/// Rotate once the live file would grow past this many bytes.
pub const DEFAULT_MAX_BYTES: u64 = 64 * 1024 * 1024;

/// How many rotated files (`events.jsonl.1` ..) are kept; older ones are deleted.
pub const DEFAULT_KEEP: usize = 3;

/// How often [`follow`] looks for new lines.
pub const FOLLOW_POLL: Duration = Duration::from_millis(200);

/// Bytes read per step when scanning a file backwards in [`read_last`].
const CHUNK: usize = 64 * 1024;

/// The most rotated files [`Follower`] looks through to find where its file went.
const MAX_ROTATED: usize = 1000;

/// [`Follower`] drops an unterminated line once it grows past this, so a file
/// without newlines cannot make it buffer without bound.
const MAX_PARTIAL: usize = 1024 * 1024;

/// An open event log. Internally synchronised: share it as `&EventLog` or in an
/// `Arc` and call [`append`](Self::append) from any thread.
#[derive(Debug)]
pub struct EventLog {
    /// The directory holding the live and rotated files.
    dir: PathBuf,
    /// `<dir>/events.jsonl`.
    path: PathBuf,
    /// Rotation threshold for the live file.
    max_bytes: u64,
    /// Rotated files kept (at least 1).
    keep: usize,
    /// The open file and its size; held only for one write (plus a rotation). Shared by
    /// the logs of several servers in one daemon ([`EventLog::for_server`]), so that one
    /// writer counts the file's size and rotates it.
    state: Arc<Mutex<WriteState>>,
    /// The tmux server the records are about, written into each (`"server"`), once known.
    server: std::sync::OnceLock<String>,
}

#[derive(Debug)]
struct WriteState {
    /// The live file, opened `O_APPEND`.
    file: File,
    /// Bytes in the live file, as far as this process knows.
    size: u64,
    /// A write stopped part-way through a line (disk full) and the fragment could not be
    /// cut off again; the next record starts with a newline so it is not glued to it.
    torn: bool,
    /// Records that could not be written since the last `events_lost` record.
    unreported: u64,
    /// Records that could not be written since the log was opened.
    lost: u64,
}

impl EventLog {
    /// Opens (creating with mode 0700 if needed) `dir` and appends to
    /// `dir/events.jsonl` (created with mode 0600), rotating at
    /// [`DEFAULT_MAX_BYTES`] and keeping [`DEFAULT_KEEP`] old files.
    ///
    /// # Errors
    ///
    /// When the directory cannot be created or the file cannot be opened.
    pub fn open(dir: &Path) -> io::Result<EventLog> {
        EventLog::open_with(dir, DEFAULT_MAX_BYTES, DEFAULT_KEEP)
    }

    /// Like [`open`](Self::open) with an explicit rotation size and number of
    /// rotated files to keep (0 is treated as 1).
    ///
    /// # Errors
    ///
    /// When the directory cannot be created or the file cannot be opened.
    pub fn open_with(dir: &Path, max_bytes: u64, keep: usize) -> io::Result<EventLog> {
        DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
        let path = dir.join(LOG_FILE);
        let file = open_append(&path)?;
        let size = file.metadata()?.len();
        // A writer killed by SIGKILL may have left a fragment: Linux stops a write(2) at a
        // page boundary when a fatal signal is pending. The next record then starts with a
        // newline, so it is never joined to the fragment (readers skip the fragment).
        let torn = size > 0 && {
            let mut last = [0u8; 1];
            std::os::unix::fs::FileExt::read_at(&file, &mut last, size - 1)? == 1
                && last[0] != b'\n'
        };
        Ok(EventLog {
            dir: dir.to_path_buf(),
            path,
            max_bytes: max_bytes.max(1),
            keep: keep.max(1),
            state: Arc::new(Mutex::new(WriteState { file, size, torn, unreported: 0, lost: 0 })),
            server: std::sync::OnceLock::new(),
        })
    }

    /// Where logs go by default: `$XDG_STATE_HOME/ctmuxd`, else
    /// `~/.local/state/ctmuxd`, else `<tmp>/ctmuxd-<uid>` when there is no home.
    pub fn default_dir() -> PathBuf {
        let env_dir = |name: &str| {
            std::env::var_os(name).map(PathBuf::from).filter(|path| path.is_absolute())
        };
        if let Some(state) = env_dir("XDG_STATE_HOME") {
            return state.join("ctmuxd");
        }
        if let Some(home) = env_dir("HOME") {
            return home.join(".local/state/ctmuxd");
        }
        // SAFETY: getuid(2) cannot fail and has no preconditions.
        let uid = unsafe { libc::getuid() };
        std::env::temp_dir().join(format!("ctmuxd-{uid}"))
    }

    /// The live log file, `<dir>/events.jsonl`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The log directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Records that could not be written (disk full, I/O error) since the log was
    /// opened; each was counted, and reported in an `events_lost` record once writing
    /// worked again.
    pub fn lost(&self) -> u64 {
        self.state.lock().unwrap_or_else(|poison| poison.into_inner()).lost
    }

    /// Records lost since the last `events_lost` record: 1 right after the first
    /// failure of a run of failures (so callers can complain once, not per record).
    pub fn unreported(&self) -> u64 {
        self.state.lock().unwrap_or_else(|poison| poison.into_inner()).unreported
    }

    /// The same log file for the records of another server: one writer, so a rotation
    /// moves every server's records together and none keeps appending to a rotated file.
    pub fn for_server(&self, name: String) -> EventLog {
        let server = std::sync::OnceLock::new();
        let _ = server.set(name);
        EventLog {
            dir: self.dir.clone(),
            path: self.path.clone(),
            max_bytes: self.max_bytes,
            keep: self.keep,
            state: self.state.clone(),
            server,
        }
    }

    /// Names the tmux server the records are about (`work` for `-L work`, `default`, or a
    /// socket path): every record written from now on carries it as `"server"`, so
    /// `ctmuxd logs -L work` can pick one server's records from a shared log. Set once.
    pub fn set_server(&self, name: String) {
        let _ = self.server.set(name);
    }

    /// The server named by [`EventLog::set_server`], if any.
    pub fn server(&self) -> Option<&str> {
        self.server.get().map(String::as_str)
    }

    /// The record's line: a newline first (which ends a fragment a killed writer left),
    /// the JSON, a newline.
    fn json_line(&self, record: &Record) -> io::Result<Vec<u8>> {
        let mut line = Vec::with_capacity(256);
        line.push(b'\n');
        match self.server.get() {
            Some(server) => serde_json::to_writer(&mut line, &Stamped { record, server }),
            None => serde_json::to_writer(&mut line, record),
        }
        .map_err(io::Error::other)?;
        line.push(b'\n');
        Ok(line)
    }

    /// Appends `record` as one JSON line, rotating first if the line would push the
    /// live file past the size limit.
    ///
    /// The whole line, newline included, is built first and handed to a single
    /// `write(2)`. A record is written whole or not at all: when a write stops part-way
    /// (disk full), the file is cut back to where the record began. A record that
    /// could not be written is counted ([`lost`](Self::lost)); once writing works again
    /// an `events_lost` record with the `count` of records lost goes first, on a line
    /// of its own.
    ///
    /// # Errors
    ///
    /// When the write fails (the record is then counted as lost). A failed rotation is
    /// not an error: the record is then appended to the current file, so nothing is lost.
    pub fn append(&self, record: &Record) -> io::Result<()> {
        let line = self.json_line(record)?;
        let mut state = self.state.lock().unwrap_or_else(|poison| poison.into_inner());
        if state.unreported > 0 {
            let lost = Record::now(EventsLostEvent {
                message: format!(
                    "{} event record(s) could not be written (disk full or write error) and are lost",
                    state.unreported
                ),
                count: state.unreported,
            });
            match self.write_whole(&mut state, &self.json_line(&lost)?) {
                Ok(()) => state.unreported = 0,
                Err(err) => {
                    state.unreported += 1;
                    state.lost += 1;
                    return Err(err);
                }
            }
        }
        let result = self.write_whole(&mut state, &line);
        if result.is_err() {
            state.unreported += 1;
            state.lost += 1;
        }
        result
    }

    /// Writes one line (`line` starts with the newline [`json_line`] puts first, used
    /// only after a fragment that could not be cut off), whole or not at all.
    fn write_whole(&self, state: &mut WriteState, line: &[u8]) -> io::Result<()> {
        let line = if state.torn { line } else { &line[1..] };
        let len = line.len() as u64;
        if state.size > 0 && state.size.saturating_add(len) > self.max_bytes {
            if let Err(err) = self.rotate(state) {
                tracing::warn!(path = %self.path.display(), error = %err, "cannot rotate the event log; appending to the current file");
            }
        }
        let mut written = 0;
        let result = loop {
            // The first iteration is the one write(2) of the line in every normal case.
            match state.file.write(&line[written..]) {
                Ok(0) => break Err(io::Error::from(io::ErrorKind::WriteZero)),
                Ok(n) => {
                    written += n;
                    if written == line.len() {
                        break Ok(());
                    }
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => break Err(err),
            }
        };
        if result.is_ok() {
            state.size += written as u64;
            state.torn = false;
        } else if written > 0 {
            // Cut the fragment off again, so the next record starts a line of its own and
            // every line of the log stays a whole record. The fragment is the file's last
            // `written` bytes: appends through this log are serialised by the lock.
            let cut = state
                .file
                .metadata()
                .and_then(|m| state.file.set_len(m.len().saturating_sub(written as u64)));
            if let Err(err) = cut {
                tracing::warn!(path = %self.path.display(), error = %err, "cannot cut a partly written record off the event log");
                state.size += written as u64;
                state.torn = true;
            }
        }
        result
    }

    /// Shifts `events.jsonl.N` to `.N+1` (the oldest falls off), renames the live
    /// file to `.1` and opens a fresh live file. Called with the write lock held, so
    /// every record lands whole in exactly one file.
    fn rotate(&self, state: &mut WriteState) -> io::Result<()> {
        for n in (1..self.keep).rev() {
            match std::fs::rename(rotated(&self.path, n), rotated(&self.path, n + 1)) {
                Err(err) if err.kind() != io::ErrorKind::NotFound => return Err(err),
                _ => {}
            }
        }
        std::fs::rename(&self.path, rotated(&self.path, 1))?;
        state.file = open_append(&self.path)?;
        state.size = 0;
        state.torn = false;
        Ok(())
    }
}

/// `record` as JSON between two newlines: the first is written only after a fragment
/// that could not be removed.
/// A record as written: its fields, then the server it is about when known.
#[derive(Serialize)]
struct Stamped<'a> {
    #[serde(flatten)]
    record: &'a Record,
    server: &'a str,
}

/// Opens `path` for appending, creating it with mode 0600.
fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).read(true).append(true).mode(0o600).open(path)
}

/// `events.jsonl.N`.
fn rotated(path: &Path, n: usize) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// The live file for a path that may name the log directory or the file itself.
fn live_file(path_or_dir: &Path) -> PathBuf {
    if path_or_dir.is_dir() {
        path_or_dir.join(LOG_FILE)
    } else {
        path_or_dir.to_path_buf()
    }
}

/// The last `n` complete lines of the log, oldest first.
///
/// `path_or_dir` is the log directory or a log file. The file is read backwards in
/// 64 KiB steps, so the cost follows `n`, not the file size; when the live file has
/// fewer than `n` lines the rotated files (`.1`, `.2`, ...) supply the rest. A torn
/// last line (no trailing newline: a crash mid-write, or a write in progress) is
/// skipped, and so are empty lines.
///
/// # Errors
///
/// When neither the live file nor `.1` exists, or a read fails.
pub fn read_last(path_or_dir: &Path, n: usize) -> io::Result<Vec<String>> {
    let path = live_file(path_or_dir);
    let newest_first = match File::open(&path) {
        Ok(mut file) => {
            let end = file.metadata()?.len();
            last_lines_from(&path, &mut file, end, n)?
        }
        // Between a rotation's rename and the new file's creation only `.1` exists.
        Err(err) if err.kind() == io::ErrorKind::NotFound && rotated(&path, 1).exists() => {
            rotated_lines(&path, n, Vec::new())?
        }
        Err(err) => return Err(err),
    };
    Ok(into_strings(newest_first))
}

/// Lines (newest first) of `file` up to byte `end`, continued into the rotated
/// files of `path` until there are `n`.
fn last_lines_from(path: &Path, file: &mut File, end: u64, n: usize) -> io::Result<Vec<Vec<u8>>> {
    let mut lines = Vec::new();
    last_lines(file, end, n, &mut lines)?;
    rotated_lines(path, n, lines)
}

/// Tops `lines` (newest first) up to `n` from `path.1`, `path.2`, ...
fn rotated_lines(path: &Path, n: usize, mut lines: Vec<Vec<u8>>) -> io::Result<Vec<Vec<u8>>> {
    let mut index = 1;
    while lines.len() < n {
        let mut file = match File::open(rotated(path, index)) {
            Ok(file) => file,
            Err(err) if err.kind() == io::ErrorKind::NotFound => break,
            Err(err) => return Err(err),
        };
        let end = file.metadata()?.len();
        last_lines(&mut file, end, n, &mut lines)?;
        index += 1;
    }
    Ok(lines)
}

/// Pushes the complete lines of `file[..end]`, newest first, onto `lines` until it
/// holds `n`. Bytes after the last newline are a torn line and are skipped.
fn last_lines(file: &mut File, end: u64, n: usize, lines: &mut Vec<Vec<u8>>) -> io::Result<()> {
    let mut chunk = vec![0u8; CHUNK];
    let mut pos = end;
    // Pieces (newest first) of the line being assembled backwards across chunks.
    let mut pieces: Vec<Vec<u8>> = Vec::new();
    // Whether the file's last newline has been seen; before it, bytes are torn.
    let mut past_last_newline = false;
    let push = |pieces: &mut Vec<Vec<u8>>, lines: &mut Vec<Vec<u8>>| {
        let line: Vec<u8> = pieces.drain(..).rev().flatten().collect();
        if !line.is_empty() {
            lines.push(line);
        }
    };
    while pos > 0 && lines.len() < n {
        let start = pos.saturating_sub(CHUNK as u64);
        // Bounded by CHUNK, so the cast cannot truncate.
        let len = (pos - start) as usize;
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut chunk[..len])?;
        let mut rest = &chunk[..len];
        while let Some(newline) = memchr::memrchr(b'\n', rest) {
            if past_last_newline {
                pieces.push(rest[newline + 1..].to_vec());
                push(&mut pieces, lines);
                if lines.len() == n {
                    return Ok(());
                }
            }
            past_last_newline = true;
            rest = &rest[..newline];
        }
        if past_last_newline && !rest.is_empty() {
            pieces.push(rest.to_vec());
        }
        pos = start;
    }
    // The file's first line has no newline before it.
    if past_last_newline && lines.len() < n {
        push(&mut pieces, lines);
    }
    Ok(())
}

/// Newest-first byte lines → oldest-first strings (lossy UTF-8).
fn into_strings(mut newest_first: Vec<Vec<u8>>) -> Vec<String> {
    newest_first.reverse();
    newest_first.into_iter().map(|line| String::from_utf8_lossy(&line).into_owned()).collect()
}

/// Reads lines as they are appended to the log, across rotations, truncation and a
/// file that does not exist yet. [`follow`] drives it on a timer; tests call
/// [`poll`](Self::poll) directly.
#[derive(Debug)]
pub struct Follower {
    /// The live file path being followed.
    path: PathBuf,
    /// The file being read (which may since have been rotated away) and its inode.
    file: Option<(File, u64)>,
    /// Read position in `file`.
    offset: u64,
    /// Bytes of a line whose newline has not arrived yet; at most [`MAX_PARTIAL`].
    partial: Vec<u8>,
}

impl Follower {
    /// Starts following `path_or_dir` at its current end and returns the last
    /// `backlog` lines before that point (oldest first), so nothing is shown twice
    /// or missed between the backlog and the first [`poll`](Self::poll).
    ///
    /// # Errors
    ///
    /// When the file exists but cannot be read. A missing file is not an error: the
    /// follower waits for it to appear.
    pub fn with_backlog(path_or_dir: &Path, backlog: usize) -> io::Result<(Follower, Vec<String>)> {
        let path = live_file(path_or_dir);
        let mut follower = Follower { path, file: None, offset: 0, partial: Vec::new() };
        let lines = match File::open(&follower.path) {
            Ok(mut file) => {
                let meta = file.metadata()?;
                let lines = last_lines_from(&follower.path, &mut file, meta.len(), backlog)?;
                // Resume after the last complete line; a torn tail is read again
                // once (if ever) its newline arrives.
                follower.offset = complete_prefix_len(&mut file, meta.len())?;
                follower.file = Some((file, meta.ino()));
                lines
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(err) => return Err(err),
        };
        Ok((follower, into_strings(lines)))
    }

    /// The complete lines appended since the last call, oldest first.
    ///
    /// When the file being read has been rotated away, it is read to its end and
    /// the follower walks to the next newer file (found by inode among `.N`, ...,
    /// `.1`, then the live file), so records are not skipped even when several
    /// rotations happened between two polls, as long as they are still kept.
    ///
    /// # Errors
    ///
    /// When reading fails for a reason other than the file not existing yet.
    pub fn poll(&mut self) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        // Each hop moves to a strictly newer file, so this bounds the walk even if
        // the files are rotated under our feet the whole time.
        for _hop in 0..=MAX_ROTATED {
            // Look at the path before reading, so that lines written to the old file
            // before a rotation are read before we switch to the new file.
            let current = match std::fs::metadata(&self.path) {
                Ok(meta) => Some((meta.ino(), meta.len())),
                Err(err) if err.kind() == io::ErrorKind::NotFound => None,
                Err(err) => return Err(err),
            };
            let Some(ino) = self.file.as_ref().map(|(_, ino)| *ino) else {
                if current.is_none() {
                    return Ok(out);
                }
                match File::open(&self.path) {
                    Ok(file) => {
                        let ino = file.metadata()?.ino();
                        self.switch_to(Some((file, ino)));
                        continue;
                    }
                    Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(out),
                    Err(err) => return Err(err),
                }
            };
            let same_file = current.is_some_and(|(current_ino, _)| current_ino == ino);
            if let Some((_, len)) = current.filter(|_| same_file) {
                if len < self.offset {
                    // Truncated in place: start over from the top.
                    let file = self.file.take();
                    self.switch_to(file);
                }
            }
            self.read_new(&mut out)?;
            if same_file {
                return Ok(out);
            }
            // Ours was rotated away and is now read to its end: on to the next one.
            let next = newer_than(&self.path, ino)?;
            self.switch_to(next);
        }
        Ok(out)
    }

    /// Starts reading `file` (or, with `None`, the live file on the next hop) from
    /// its beginning.
    fn switch_to(&mut self, file: Option<(File, u64)>) {
        self.file = file;
        self.offset = 0;
        self.partial.clear();
    }

    /// Reads from `offset` to the end of the current file, moving complete lines to
    /// `out`.
    fn read_new(&mut self, out: &mut Vec<String>) -> io::Result<()> {
        let Some((file, _)) = self.file.as_mut() else { return Ok(()) };
        file.seek(SeekFrom::Start(self.offset))?;
        let mut chunk = [0u8; 8192];
        loop {
            let n = match file.read(&mut chunk) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err),
            };
            self.offset += n as u64;
            let mut rest = &chunk[..n];
            while let Some(newline) = memchr::memchr(b'\n', rest) {
                self.partial.extend_from_slice(&rest[..newline]);
                if !self.partial.is_empty() {
                    out.push(String::from_utf8_lossy(&self.partial).into_owned());
                }
                self.partial.clear();
                rest = &rest[newline + 1..];
            }
            if self.partial.len() + rest.len() > MAX_PARTIAL {
                self.partial.clear();
            } else {
                self.partial.extend_from_slice(rest);
            }
        }
    }
}

/// The rotated file that came right after the one with inode `ino`, opened; `None`
/// means the live file is next (also when `ino` is no longer among the kept files:
/// then the records in between are gone and the live file is the best next step).
fn newer_than(path: &Path, ino: u64) -> io::Result<Option<(File, u64)>> {
    let ino_at = |index: usize| match std::fs::metadata(rotated(path, index)) {
        Ok(meta) => Ok(Some(meta.ino())),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err),
    };
    // Retried because a rotation between finding our file and opening its
    // neighbour would hand us the wrong neighbour.
    for _attempt in 0..3 {
        let mut found = None;
        for index in 1..=MAX_ROTATED {
            match ino_at(index)? {
                Some(at) if at == ino => {
                    found = Some(index);
                    break;
                }
                Some(_) => {}
                None => break,
            }
        }
        let Some(index) = found.filter(|&index| index > 1) else { return Ok(None) };
        let file = match File::open(rotated(path, index - 1)) {
            Ok(file) => file,
            Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
            Err(err) => return Err(err),
        };
        if ino_at(index)? == Some(ino) {
            let next_ino = file.metadata()?.ino();
            return Ok(Some((file, next_ino)));
        }
    }
    Ok(None)
}

/// Length of `file[..len]` up to and including its last newline.
fn complete_prefix_len(file: &mut File, len: u64) -> io::Result<u64> {
    let mut chunk = vec![0u8; CHUNK];
    let mut pos = len;
    while pos > 0 {
        let start = pos.saturating_sub(CHUNK as u64);
        // Bounded by CHUNK, so the cast cannot truncate.
        let size = (pos - start) as usize;
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut chunk[..size])?;
        if let Some(newline) = memchr::memrchr(b'\n', &chunk[..size]) {
            return Ok(start + newline as u64 + 1);
        }
        pos = start;
    }
    Ok(0)
}

/// Writes the last `backlog` lines of the log to `out`, then every new line as it
/// is appended (checking every [`FOLLOW_POLL`]), until `shutdown` completes. Used by
/// `ctmuxd logs --follow`; follows rotations and waits for a log that does not
/// exist yet.
///
/// # Errors
///
/// When reading the log or writing to `out` fails.
pub async fn follow<W, F>(
    path_or_dir: &Path,
    backlog: usize,
    out: &mut W,
    shutdown: F,
) -> io::Result<()>
where
    W: AsyncWrite + Unpin,
    F: Future<Output = ()>,
{
    follow_shown(path_or_dir, backlog, &Shown::default(), out, shutdown).await
}

/// How `ctmuxd logs` shows records: which ones, and whether for a person
/// ([`human_line`]) or as the JSON lines the file holds.
#[derive(Clone, Debug, Default)]
pub struct Shown {
    /// Which records.
    pub filter: RecordFilter,
    /// One aligned line per record instead of its JSON.
    pub human: bool,
}

impl Shown {
    /// What to print for one line of the log; `None` when it is not shown (filtered out,
    /// or not a record while filtering or showing for a person).
    pub fn line(&self, raw: &str) -> Option<String> {
        if self.filter.is_empty() && !self.human {
            return Some(raw.to_string());
        }
        // One parse: the server stamp is not part of the typed record, so it is read from
        // the same JSON value the record is built from.
        let value: serde_json::Value = serde_json::from_str(raw).ok()?;
        if let Some(server) = &self.filter.server {
            if value.get("server").and_then(serde_json::Value::as_str) != Some(server.as_str()) {
                return None;
            }
        }
        let rec = Record::deserialize(value).ok()?;
        if !self.filter.admits(&rec) {
            return None;
        }
        Some(if self.human { human_line(&rec) } else { raw.to_string() })
    }

    /// The last `n` of `lines` it shows, as it shows them, oldest first.
    fn last(&self, lines: &[String], n: usize) -> Vec<String> {
        let mut out: Vec<String> = lines.iter().filter_map(|l| self.line(l)).collect();
        out.drain(..out.len().saturating_sub(n));
        out
    }

    /// How many of the log's last lines to read to find `n` shown ones: `n` when nothing
    /// is filtered, else a wider window.
    fn window(&self, n: usize) -> usize {
        if self.filter.is_empty() {
            n
        } else {
            n.saturating_mul(16).max(4096)
        }
    }
}

/// The last `n` records `shown` admits, as it prints them, oldest first; searched among
/// the log's last `max(16 n, 4096)` lines when filtering.
///
/// # Errors
///
/// As [`read_last`].
pub fn read_last_shown(path_or_dir: &Path, n: usize, shown: &Shown) -> io::Result<Vec<String>> {
    Ok(shown.last(&read_last(path_or_dir, shown.window(n))?, n))
}

/// [`follow`], printing what `shown` admits, as it shows it.
///
/// # Errors
///
/// When reading the log or writing to `out` fails.
pub async fn follow_shown<W, F>(
    path_or_dir: &Path,
    backlog: usize,
    shown: &Shown,
    out: &mut W,
    shutdown: F,
) -> io::Result<()>
where
    W: AsyncWrite + Unpin,
    F: Future<Output = ()>,
{
    let (mut follower, lines) = Follower::with_backlog(path_or_dir, shown.window(backlog))?;
    let lines = shown.last(&lines, backlog);
    write_lines(out, &lines).await?;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => return Ok(()),
            () = tokio::time::sleep(FOLLOW_POLL) => {}
        }
        // PERF: a poll is one stat plus a read of only the new bytes; at 5 Hz that
        // is noise next to the daemon, and it needs no inotify dependency.
        let lines: Vec<String> = follower.poll()?.iter().filter_map(|l| shown.line(l)).collect();
        write_lines(out, &lines).await?;
    }
}

async fn write_lines<W: AsyncWrite + Unpin>(out: &mut W, lines: &[String]) -> io::Result<()> {
    if lines.is_empty() {
        return Ok(());
    }
    for line in lines {
        out.write_all(line.as_bytes()).await?;
        out.write_all(b"\n").await?;
    }
    out.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::sync::Arc;

    fn record(seq: usize, pad: usize) -> Record {
        Record::now(MatchEvent {
            origin: Origin {
                pane: Some("%3".into()),
                line: Some("x".repeat(pad)),
                ..Origin::default()
            },
            seq: Some(seq as u64),
            ..MatchEvent::default()
        })
    }

    /// The match event of a record written by [`record`].
    fn match_of(record: &Record) -> &MatchEvent {
        match &record.event {
            Event::Match(m) => m,
            other => panic!("not a match: {other:?}"),
        }
    }

    /// SIGKILL can stop a write(2) at a page boundary (Linux checks for a fatal signal
    /// between pages), leaving a fragment at the end of the file: the next daemon's first
    /// record must start a line of its own.
    #[test]
    fn a_fragment_left_by_a_killed_writer_is_not_joined_to_the_next_record() {
        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::open(dir.path()).unwrap();
        log.append(&record(1, 10)).unwrap();
        drop(log);
        let path = dir.path().join(LOG_FILE);
        let mut file = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b"{\"ts_ns\":2,\"event\":\"ma").unwrap();
        drop(file);
        let log = EventLog::open(dir.path()).unwrap();
        log.append(&record(3, 10)).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert_eq!((seq_of(lines[0]), seq_of(lines[2])), (1, 3));
        assert!(text.ends_with('\n'));
    }

    fn seq_of(line: &str) -> u64 {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        value["seq"].as_u64().unwrap()
    }

    /// Every line of every file in `dir`, each checked to be a whole record.
    fn all_records(dir: &Path) -> Vec<Record> {
        let mut records = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            assert!(text.is_empty() || text.ends_with('\n'));
            for line in text.lines() {
                records.push(
                    serde_json::from_str::<Record>(line)
                        .unwrap_or_else(|err| panic!("torn line {line:?}: {err}")),
                );
            }
        }
        records
    }

    #[test]
    fn open_creates_private_dir_and_file_and_appends_lines() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("state/ctmuxd");
        let log = EventLog::open(&dir).unwrap();
        assert_eq!(log.path(), dir.join("events.jsonl"));
        log.append(&record(1, 3)).unwrap();
        log.append(&record(2, 3)).unwrap();
        assert_eq!(std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
        assert_eq!(std::fs::metadata(log.path()).unwrap().permissions().mode() & 0o777, 0o600);
        let text = std::fs::read_to_string(log.path()).unwrap();
        let seqs: Vec<u64> = text.lines().map(seq_of).collect();
        assert_eq!(seqs, [1, 2]);
        // Reopening appends rather than truncating.
        drop(log);
        EventLog::open(&dir).unwrap().append(&record(3, 3)).unwrap();
        assert_eq!(
            read_last(&dir, 10).unwrap().iter().map(|l| seq_of(l)).collect::<Vec<_>>(),
            [1, 2, 3]
        );
    }

    #[test]
    fn concurrent_appends_from_threads_and_two_handles_are_whole_lines() {
        let tmp = tempfile::tempdir().unwrap();
        // Two independent handles (separate O_APPEND descriptors, as two processes
        // would have) shared by eight threads.
        let logs = [
            Arc::new(EventLog::open(tmp.path()).unwrap()),
            Arc::new(EventLog::open(tmp.path()).unwrap()),
        ];
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let log = Arc::clone(&logs[t % 2]);
                std::thread::spawn(move || {
                    for i in 0..400 {
                        // Lines from ~100 bytes to ~6 KiB, past the pipe-atomicity size.
                        log.append(&record(t * 1000 + i, (i * 37) % 6000)).unwrap();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let records = all_records(tmp.path());
        assert_eq!(records.len(), 8 * 400);
        let mut seqs: Vec<u64> = records.iter().map(|r| match_of(r).seq.unwrap()).collect();
        seqs.sort_unstable();
        seqs.dedup();
        assert_eq!(seqs.len(), 8 * 400);
    }

    #[test]
    fn the_logs_of_several_servers_rotate_as_one_file() {
        // Two servers' logs over one file: every record lands once, in write order, and
        // no file outgrows the limit (two writers each counting the size on its own and
        // renaming the live file under the other kept appending to a rotated file).
        let tmp = tempfile::tempdir().unwrap();
        let first = EventLog::open_with(tmp.path(), 2000, 100).unwrap();
        first.set_server("a".into());
        let second = first.for_server("b".into());
        for i in 0..200usize {
            let log = if i % 2 == 0 { &first } else { &second };
            log.append(&record(i, 100)).unwrap();
        }
        for entry in std::fs::read_dir(tmp.path()).unwrap() {
            assert!(entry.unwrap().metadata().unwrap().len() <= 2000);
        }
        let lines = read_last(tmp.path(), 1000).unwrap();
        let seqs: Vec<u64> = lines.iter().map(|l| seq_of(l)).collect();
        assert_eq!(seqs, (0..200).collect::<Vec<u64>>(), "once each, in write order");
        let servers: Vec<String> = lines
            .iter()
            .take(2)
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["server"].to_string())
            .collect();
        assert_eq!(servers, ["\"a\"", "\"b\""]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_appends_across_rotations_lose_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let log = Arc::new(EventLog::open_with(tmp.path(), 64 * 1024, 100).unwrap());
        let tasks: Vec<_> = (0..16)
            .map(|t| {
                let log = Arc::clone(&log);
                tokio::spawn(async move {
                    for i in 0..100 {
                        log.append(&record(t * 1000 + i, 500)).unwrap();
                        tokio::task::yield_now().await;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let files = std::fs::read_dir(tmp.path()).unwrap().count();
        assert!(files > 10, "expected many rotations, got {files} files");
        for entry in std::fs::read_dir(tmp.path()).unwrap() {
            assert!(entry.unwrap().metadata().unwrap().len() <= 64 * 1024);
        }
        assert_eq!(all_records(tmp.path()).len(), 16 * 100);
        // read_last across every rotated file sees them all, in write order.
        let lines = read_last(tmp.path(), 10_000).unwrap();
        assert_eq!(lines.len(), 1600);
        let mut last_per_task = [None; 16];
        for line in &lines {
            let seq = seq_of(line) as usize;
            let (task, i) = (seq / 1000, seq % 1000);
            assert!(last_per_task[task].is_none_or(|prev| prev < i), "out of order: {seq}");
            last_per_task[task] = Some(i);
        }
    }

    #[test]
    fn rotation_keeps_only_the_newest_files() {
        let tmp = tempfile::tempdir().unwrap();
        let log = EventLog::open_with(tmp.path(), 1000, 2).unwrap();
        for seq in 0..100 {
            log.append(&record(seq, 200)).unwrap();
        }
        let mut names: Vec<String> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["events.jsonl", "events.jsonl.1", "events.jsonl.2"]);
        let all: Vec<u64> =
            read_last(tmp.path(), 1000).unwrap().iter().map(|l| seq_of(l)).collect();
        assert_eq!(all.last(), Some(&99));
        assert!(all.windows(2).all(|w| w[1] == w[0] + 1), "{all:?}");
    }

    #[test]
    fn read_last_skips_a_torn_last_line() {
        let tmp = tempfile::tempdir().unwrap();
        let log = EventLog::open(tmp.path()).unwrap();
        for seq in 1..=3 {
            log.append(&record(seq, 10)).unwrap();
        }
        let mut file = OpenOptions::new().append(true).open(log.path()).unwrap();
        file.write_all(b"{\"ts_ns\":1,\"event\":\"ma").unwrap();
        let seqs =
            |n| read_last(tmp.path(), n).unwrap().iter().map(|l| seq_of(l)).collect::<Vec<_>>();
        assert_eq!(seqs(2), [2, 3]);
        assert_eq!(seqs(10), [1, 2, 3]);
        assert!(seqs(0).is_empty());
    }

    #[test]
    fn read_last_handles_lines_longer_than_a_chunk() {
        let tmp = tempfile::tempdir().unwrap();
        let log = EventLog::open(tmp.path()).unwrap();
        let sizes = [10, 200_000, 5, 70_000, 65_536, 1];
        for (seq, &pad) in sizes.iter().enumerate() {
            log.append(&record(seq, pad)).unwrap();
        }
        let lines = read_last(log.path(), 4).unwrap();
        let seqs: Vec<u64> = lines.iter().map(|l| seq_of(l)).collect();
        assert_eq!(seqs, [2, 3, 4, 5]);
        let lines = read_last(log.path(), 6).unwrap();
        let pads: Vec<usize> = lines
            .iter()
            .map(|l| {
                let record = serde_json::from_str::<Record>(l).unwrap();
                match_of(&record).origin.line.as_ref().unwrap().len()
            })
            .collect();
        assert_eq!(pads, sizes);
    }

    #[test]
    fn read_last_crosses_into_rotated_files() {
        let tmp = tempfile::tempdir().unwrap();
        let log = EventLog::open_with(tmp.path(), 2000, 5).unwrap();
        for seq in 0..60 {
            log.append(&record(seq, 100)).unwrap();
        }
        let live = std::fs::read_to_string(log.path()).unwrap().lines().count();
        assert!(live < 30, "the live file alone must not have enough lines ({live})");
        let seqs: Vec<u64> = read_last(tmp.path(), 30).unwrap().iter().map(|l| seq_of(l)).collect();
        assert_eq!(seqs, (30..60).collect::<Vec<_>>());
    }

    #[test]
    fn read_last_of_a_missing_log_is_not_found() {
        let tmp = tempfile::tempdir().unwrap();
        let err = read_last(&tmp.path().join("events.jsonl"), 5).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn follower_sees_appends_rotation_and_completed_torn_lines() {
        let tmp = tempfile::tempdir().unwrap();
        let (mut follower, backlog) = Follower::with_backlog(tmp.path(), 5).unwrap();
        assert!(backlog.is_empty());
        assert!(follower.poll().unwrap().is_empty());

        let log = EventLog::open_with(tmp.path(), 3000, 10).unwrap();
        log.append(&record(0, 10)).unwrap();
        log.append(&record(1, 10)).unwrap();
        let seqs = |lines: Vec<String>| lines.iter().map(|l| seq_of(l)).collect::<Vec<_>>();
        assert_eq!(seqs(follower.poll().unwrap()), [0, 1]);

        // A fresh follower gets a backlog and then only what comes after it.
        let (mut second, backlog) = Follower::with_backlog(tmp.path(), 1).unwrap();
        assert_eq!(seqs(backlog), [1]);

        // Enough records to rotate several times between two polls.
        for seq in 2..40 {
            log.append(&record(seq, 300)).unwrap();
        }
        assert!(tmp.path().join("events.jsonl.1").exists());
        let rotated_files = std::fs::read_dir(tmp.path()).unwrap().count() - 1;
        assert!(rotated_files >= 3, "only {rotated_files} rotations");
        // Every record, across every rotation since the last poll, exactly once.
        assert_eq!(seqs(follower.poll().unwrap()), (2..40).collect::<Vec<_>>());
        assert_eq!(seqs(second.poll().unwrap()), (2..40).collect::<Vec<_>>());
        assert!(follower.poll().unwrap().is_empty());

        // A torn line is held back until its newline arrives.
        let mut file = OpenOptions::new().append(true).open(log.path()).unwrap();
        file.write_all(b"{\"seq\":40,").unwrap();
        assert!(follower.poll().unwrap().is_empty());
        file.write_all(b"\"event\":\"x\"}\n").unwrap();
        assert_eq!(seqs(follower.poll().unwrap()), [40]);
    }

    #[tokio::test]
    async fn follow_writes_backlog_then_new_lines_until_shutdown() {
        let tmp = tempfile::tempdir().unwrap();
        let log = Arc::new(EventLog::open(tmp.path()).unwrap());
        log.append(&record(0, 1)).unwrap();
        log.append(&record(1, 1)).unwrap();
        let writer = {
            let log = Arc::clone(&log);
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(100)).await;
                log.append(&record(2, 1)).unwrap();
            })
        };
        let mut out = Vec::new();
        let shutdown = tokio::time::sleep(Duration::from_millis(700));
        follow(tmp.path(), 1, &mut out, shutdown).await.unwrap();
        writer.await.unwrap();
        let text = String::from_utf8(out).unwrap();
        let seqs: Vec<u64> = text.lines().map(seq_of).collect();
        assert_eq!(seqs, [1, 2]);
    }

    #[test]
    fn default_dir_is_under_xdg_state_or_home() {
        let dir = EventLog::default_dir();
        assert!(
            dir.ends_with("ctmuxd")
                || dir.file_name().unwrap().to_string_lossy().starts_with("ctmuxd-")
        );
        assert!(dir.is_absolute());
    }
}
