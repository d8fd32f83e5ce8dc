//! Per-pane checkpoints: how far ctmuxd had read each pane, so a restart can match the
//! lines printed while it was down (read back from tmux's history) once.
//!
//! A checkpoint holds, per pane, the number of lines seen and hashes of the last
//! complete lines (never pane text), for one tmux server (its pid and start time). It
//! lives in the daemon's state directory as `checkpoint`, and is rewritten in place
//! (`pwrite` at offset 0, then `ftruncate`): no create and rename on the output path.
//! A header checksum tells a torn write (kill -9 in the middle) from a whole one.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use tmux_control_parser::PaneId;

use crate::hash::fnv1a;

/// Complete lines hashed per pane.
pub const TAIL: usize = 4;

/// How far ctmuxd had read one pane.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PaneMark {
    /// Complete lines seen on that pane (by the daemon that wrote the checkpoint).
    pub lines: u64,
    /// [`line_hash`] of the last complete lines, oldest first (at most [`TAIL`]).
    pub tail: Vec<u64>,
}

/// FNV-1a over a line with its trailing whitespace removed (as `capture-pane` prints it).
pub fn line_hash(line: &str) -> u64 {
    fnv1a(line.trim_end().as_bytes())
}

/// The checkpoint file of a state directory, open for rewriting in place.
#[derive(Debug)]
pub struct Checkpoint {
    file: File,
    path: PathBuf,
}

impl Checkpoint {
    /// Opens (creating it if needed, never truncating) `DIR/checkpoint`.
    ///
    /// # Errors
    /// The file cannot be opened or created.
    pub fn open(dir: &Path) -> io::Result<Checkpoint> {
        Checkpoint::open_named(dir, "checkpoint")
    }

    /// Opens `DIR/NAME` the same way: one file per server when a daemon watches several
    /// (each file holds one server's marks).
    ///
    /// # Errors
    /// The file cannot be opened or created.
    pub fn open_named(dir: &Path, name: &str) -> io::Result<Checkpoint> {
        let path = dir.join(name);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        Ok(Checkpoint { file, path })
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the marks saved for `server`; empty when the file is missing, torn, or for
    /// another server.
    pub fn load(&self, server: &str) -> HashMap<PaneId, PaneMark> {
        let text = std::fs::read_to_string(&self.path).unwrap_or_default();
        parse(&text, server).unwrap_or_default()
    }

    /// Replaces the file's content with `marks` for `server`, in place.
    ///
    /// # Errors
    /// The write or the truncation failed.
    pub fn save(&self, server: &str, marks: &[(PaneId, PaneMark)]) -> io::Result<()> {
        let body = render_body(marks);
        let text = format!("ctmuxd-checkpoint 1 {:016x} {server}\n{body}", fnv1a(body.as_bytes()));
        self.file.write_all_at(text.as_bytes(), 0)?;
        self.file.set_len(text.len() as u64)
    }
}

fn render_body(marks: &[(PaneId, PaneMark)]) -> String {
    let mut body = String::new();
    for (pane, m) in marks {
        let tail: Vec<String> = m.tail.iter().map(|h| format!("{h:016x}")).collect();
        body.push_str(&format!("{pane} {} {}\n", m.lines, tail.join(",")));
    }
    body
}

fn parse(text: &str, server: &str) -> Option<HashMap<PaneId, PaneMark>> {
    let (header, body) = text.split_once('\n')?;
    let mut h = header.splitn(4, ' ');
    if h.next()? != "ctmuxd-checkpoint" || h.next()? != "1" {
        return None;
    }
    let sum = u64::from_str_radix(h.next()?, 16).ok()?;
    if h.next()? != server || fnv1a(body.as_bytes()) != sum {
        return None;
    }
    let mut out = HashMap::new();
    for l in body.lines() {
        let mut f = l.split(' ');
        let pane: PaneId = f.next()?.parse().ok()?;
        let lines = f.next()?.parse().ok()?;
        let tail = match f.next()? {
            "" => Vec::new(),
            t => t.split(',').map(|x| u64::from_str_radix(x, 16).ok()).collect::<Option<_>>()?,
        };
        out.insert(pane, PaneMark { lines, tail });
    }
    Some(out)
}

/// Where the lines printed after `mark` start in `captured` (a pane's history and
/// screen, oldest first, trailing whitespace removed): the index after the latest run
/// of lines whose hashes are the mark's tail. `None` when the tail is not there, or the
/// mark has no tail (nothing was seen, so nothing tells old lines from new ones).
pub fn align(mark: &PaneMark, captured: &[&str]) -> Option<usize> {
    let k = mark.tail.len();
    if k == 0 {
        return None;
    }
    (k..=captured.len())
        .rev()
        .find(|&end| captured[end - k..end].iter().zip(&mark.tail).all(|(l, h)| line_hash(l) == *h))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_in_place_and_loads_only_for_its_server() {
        let dir = tempfile::tempdir().unwrap();
        let c = Checkpoint::open(dir.path()).unwrap();
        let m = PaneMark { lines: 7, tail: vec![line_hash("a"), line_hash("b  ")] };
        c.save("1 2", &[(PaneId(3), m.clone()), (PaneId(4), PaneMark::default())]).unwrap();
        c.save("1 2", &[(PaneId(3), m.clone())]).unwrap();
        let got = c.load("1 2");
        assert_eq!(got.len(), 1, "a shorter save truncates");
        assert_eq!(got[&PaneId(3)], m);
        assert!(c.load("1 3").is_empty());
        let mut text = std::fs::read_to_string(c.path()).unwrap();
        text.push_str("%9 1 \n");
        std::fs::write(c.path(), text).unwrap();
        assert!(c.load("1 2").is_empty(), "a torn or altered file is refused");
    }

    #[test]
    fn aligns_on_the_latest_run_of_the_tail() {
        let mark = PaneMark { lines: 2, tail: vec![line_hash("x"), line_hash("y")] };
        assert_eq!(align(&mark, &["x", "y", "z", "x", "y", "w"]), Some(5));
        assert_eq!(align(&mark, &["y", "z"]), None);
        assert_eq!(align(&PaneMark::default(), &["a"]), None, "nothing seen: no alignment");
    }
}
