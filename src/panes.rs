//! What ctmuxd knows of one pane, in one place: [`Pane`].
//!
//! A pane has an identity (where it is: session, window, and the label a person or
//! ctmuxd gave it, [`PaneInfo`]), the text it showed and the rules' matcher state over it
//! ([`PaneWatch`]), a lifecycle ([`Life`]: alive, its exit being handled, dead), whether
//! ctmuxd closes it once its exit is recorded, and which control connection feeds its
//! output. The [`crate::firing::Engine`] owns every `Pane` and is the only writer: the
//! daemon, poll mode, `replay` and orchestration change a pane through the engine's
//! narrow methods (`upsert_pane`, `set_label`, `close_on_exit`, `begin_exit`,
//! `pane_exited`, `claim_output`), always under the engine's one lock, so no second copy
//! of pane state lives elsewhere.
//!
//! A pane's shell state ([`Shell`]: at a prompt, running a command, the last command
//! finished with its status, duration and output lines) is kept beside `text` and
//! moved by the shell-integration marks (OSC 133/633) the text crate reads out of the
//! same bytes in [`crate::firing::Engine::on_output`]; a `ctmuxd run` waiting on the
//! pane collects its command's output there ([`RunCapture`]), line by line as it
//! arrives, since the ring keeps only the last `ring_lines`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use ctmuxd_text::matcher::Matcher;
use ctmuxd_text::pane::shell::ShellMark;
use ctmuxd_text::pane::watch::PaneWatch;
use tmux_control_parser::{SessionId, WindowId};
use tokio::sync::{oneshot, watch};

/// Where a pane is and what it is called: what tmux's pane list and the label
/// subscription say, apart from its lifecycle.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PaneInfo {
    /// Session the pane belongs to (the first one seen, for windows linked twice).
    pub session: Option<SessionId>,
    /// That session's name, for actions' `CTMUX_SESSION`.
    pub session_name: String,
    /// Window holding the pane.
    pub window: Option<WindowId>,
    /// The `@ctmuxd_label` pane option, when set.
    pub label: Option<String>,
}

/// A pane's lifecycle as ctmuxd has recorded it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Life {
    /// Its process runs (or ctmuxd has not heard otherwise).
    #[default]
    Alive,
    /// tmux reported it dead and the exit is being handled (its last output read back,
    /// its status read); not yet recorded.
    Exiting,
    /// Its exit is recorded (or it was already dead when ctmuxd first saw it): exit rules
    /// never fire for it again.
    Dead,
}

/// Where a `[[pane]]` entry is in its start order (issue-16 `status` shows it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StartState {
    /// Not started: something in its `after` is not ready yet.
    Waiting,
    /// Started (or adopted), its `ready` line not seen yet.
    Starting,
    /// Ready: its dependants may start.
    Ready,
    /// Failed (its `fail` line, an exit, a timeout) or held back because a dependency
    /// failed; the text says which.
    Failed(String),
    /// Failed or exited, and started again once its restart backoff has passed; the text
    /// says why and when.
    Restarting(String),
}

impl StartState {
    /// The state's name as `status` shows it: `waiting`, `starting`, `ready`, `failed`.
    pub fn name(&self) -> &'static str {
        match self {
            StartState::Waiting => "waiting",
            StartState::Starting => "starting",
            StartState::Ready => "ready",
            StartState::Failed(_) => "failed",
            StartState::Restarting(_) => "restarting",
        }
    }
}

/// Pauses remembered per pane ([`Pane::pauses`]).
pub const KEPT_PAUSES: usize = 32;

/// A time tmux paused a pane's output for ctmuxd (`%pause`: ctmuxd fell behind) and
/// ctmuxd read what tmux dropped back from the pane's history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PauseMark {
    /// Lines the pane had completed when it was paused: the read-back starts after it.
    pub line: u64,
    /// Lines read back from the history (numbered from `line + 1`): the text a person
    /// saw, without the escapes and redraws the pane printed.
    pub read_back: u64,
    /// The history still held the last line ctmuxd had, so the read-back starts just
    /// after it; false: the pane printed more than its history keeps, lines between
    /// `line` and the read-back are lost (and some read back may repeat earlier ones).
    pub complete: bool,
}

/// Everything ctmuxd knows of one pane.
#[derive(Debug)]
pub struct Pane {
    /// Where it is and its label.
    pub info: PaneInfo,
    /// Alive, exiting, or dead.
    pub life: Life,
    /// Spawned by ctmuxd with `keep = false`: closed once its exit is recorded.
    pub close_on_exit: bool,
    /// The text it showed (ring of last lines, the line being written) and the rules'
    /// matcher state over it.
    pub text: PaneWatch,
    /// How many times rules fired on it (line, exit and command rules), counted by the engine.
    pub matches: u64,
    /// Its shell's state, from shell-integration marks.
    pub shell: Shell,
    /// ctmuxd gave it its label (a spawn) and tmux has not reported that label yet: an
    /// empty label tmux reports meanwhile is from before the option was set.
    pub label_unconfirmed: bool,
    /// The last [`KEPT_PAUSES`] times tmux paused its output for ctmuxd and the lines
    /// dropped meanwhile were read back from tmux's history, oldest first: `read`
    /// reports those after its cursor.
    pub pauses: VecDeque<PauseMark>,
    /// The control connection (by its attached session) whose `%output` for this pane is
    /// matched: a pane in a window linked into two watched sessions is reported on both
    /// connections, and only the first one feeds it.
    feeder: Option<SessionId>,
}

impl Pane {
    /// A pane ctmuxd has just learnt of: alive, nothing read yet.
    pub fn new(info: PaneInfo, matcher: Arc<Matcher>, ring_lines: usize) -> Pane {
        Pane {
            info,
            life: Life::Alive,
            close_on_exit: false,
            text: PaneWatch::new(matcher, ring_lines),
            matches: 0,
            shell: Shell::default(),
            pauses: VecDeque::new(),
            label_unconfirmed: false,
            feeder: None,
        }
    }

    /// Notes that tmux paused the pane's output when it had completed `line` lines, and
    /// that `read_back` lines were then read back from its history (`complete`: from
    /// just after the last line ctmuxd had, so nothing was lost).
    pub fn paused(&mut self, line: u64, read_back: u64, complete: bool) {
        if self.pauses.len() == KEPT_PAUSES {
            self.pauses.pop_front();
        }
        self.pauses.push_back(PauseMark { line, read_back, complete });
    }

    /// Whether its process still runs as far as ctmuxd knows (an exit being handled
    /// counts as running until it is recorded).
    pub fn is_alive(&self) -> bool {
        self.life != Life::Dead
    }

    /// Whether output arriving on connection `session` is this pane's to match: the first
    /// connection to deliver output for it claims it; the others' copies are dropped.
    pub fn claim_feed(&mut self, session: SessionId) -> bool {
        *self.feeder.get_or_insert(session) == session
    }

    /// Forgets that connection `session` fed this pane (it ended): the next connection to
    /// deliver output claims it.
    pub fn release_feed(&mut self, session: SessionId) {
        if self.feeder == Some(session) {
            self.feeder = None;
        }
    }
}

/// What a pane's shell is doing, as its shell-integration marks say.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ShellState {
    /// No mark seen yet: no integration, or none so far.
    #[default]
    Unknown,
    /// At a prompt (after `A`, `B`, or a `D`).
    Prompt,
    /// A command runs (after `C`).
    Running {
        /// Its command line, when the shell said it (633 `E`) or `run` typed it.
        cmdline: Option<String>,
        /// When its output started.
        started: Instant,
        /// Wall-clock start, ns since the epoch.
        started_ns: u64,
        /// Lines the pane had completed at its start: its output is numbered from the
        /// next one.
        after_line: u64,
    },
}

/// A command that finished (a `D` mark after a `C`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FinishedCommand {
    /// Its command line, when known.
    pub cmdline: Option<String>,
    /// Its exit status (None when the shell gave none).
    pub status: Option<i32>,
    /// From its `C` mark to its `D` mark.
    pub duration_ms: u64,
    /// Wall-clock end, ns since the epoch.
    pub ended_ns: u64,
    /// Its output lines' sequence numbers in the pane, first and last (`first > last`
    /// when it printed nothing); a last line without a newline counts.
    pub lines: (u64, u64),
}

impl FinishedCommand {
    /// How many lines it printed.
    pub fn line_count(&self) -> u64 {
        (self.lines.1 + 1).saturating_sub(self.lines.0)
    }
}

/// A pane's shell as its integration marks tell it.
#[derive(Debug, Default)]
pub struct Shell {
    /// What it is doing.
    pub state: ShellState,
    /// Any mark was ever seen: the shell has integration (`run` needs it).
    pub integrated: bool,
    /// Its working directory (633 `P;Cwd=`).
    pub cwd: Option<String>,
    /// The last command that finished.
    pub last: Option<FinishedCommand>,
    /// A 633 `E` command line waiting for its `C`.
    pending_cmdline: Option<String>,
    /// A `ctmuxd run` waiting for the next command on this pane.
    pub run: Option<RunCapture>,
    /// The shell marks where input starts (`B`): then only a `B` says it reads input.
    marks_input: bool,
    /// The shell is reading a command line: a `B` (or, for a shell that never sends
    /// one, an `A`) came after the last command's start or end.
    reading: bool,
    /// The command line as the pane showed it, from the `B` on (see [`TypedLine`]).
    typed: TypedLine,
    /// Counts the marks followed: a `wait_for` on the shell's state (API `state`)
    /// subscribes and looks again at each change. Never blocks (a `watch` keeps the last
    /// value); receivers see the change once the engine's lock is released.
    pub changes: watch::Sender<u64>,
}

/// The command line a shell's line editor showed between its `B` and `C` marks: the
/// command line of a `command` event when the shell sends no 633 `E` (bash before 5.3
/// has no fork-free way to) and `run` did not type it. Lines as the line decoder gives
/// them (backspaces applied, escapes dropped); the first without the prompt before `B`.
#[derive(Debug, Default)]
struct TypedLine {
    /// Where input starts: the line number and byte offset of the `B`; None outside.
    from: Option<(u64, usize)>,
    /// The typed text so far, lines joined by `\n`, at most [`TypedLine::MAX`] bytes.
    text: String,
}

impl TypedLine {
    /// PERF/bound: a command line shown longer than this is not kept (a line editor
    /// left open for hours keeps no more).
    const MAX: usize = 4096;

    fn start(&mut self, lines: u64, partial: &str) {
        self.from = Some((lines + 1, partial.len()));
        self.text.clear();
    }

    fn line(&mut self, line: &str, seq: u64) {
        let Some((first, offset)) = self.from else { return };
        if seq < first {
            return;
        }
        let shown = match seq == first {
            true => line.get(offset..).unwrap_or(line),
            false => line,
        };
        if self.text.len() + shown.len() + 1 > Self::MAX {
            self.from = None;
            self.text.clear();
            return;
        }
        if seq > first {
            self.text.push('\n');
        }
        self.text.push_str(shown);
    }

    /// The `C`: the text typed, when any (the last line may still be being written).
    fn take(&mut self, lines: u64, partial: &str) -> Option<String> {
        let (first, _) = self.from?;
        if lines + 1 == first {
            self.line(partial, first);
        }
        self.from = None;
        let text = std::mem::take(&mut self.text);
        let text = text.trim_end();
        (!text.trim().is_empty()).then(|| text.to_string())
    }
}

/// What a `wait_for` on a shell's state waits for ([`Shell::answers`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShellWait {
    /// The shell at its prompt (now, or when the running command ends).
    Prompt,
    /// A command finished: one whose last output line is after line `after_line` when
    /// given (so a command that ended before the wait came still answers), else one
    /// other than the command that had finished last when the wait began (`known`: its
    /// end, ns since the epoch).
    Finished {
        /// Only commands ending after this line count (a `read` cursor).
        after_line: Option<u64>,
        /// The end of the last finished command when the wait began.
        known: Option<u64>,
    },
}

impl Shell {
    /// Follows one mark. `lines` is how many lines the pane had completed before it and
    /// `partial` the line being written then (see `TextEvent::Mark`). Returns the
    /// command that finished at a `D`.
    pub fn on_mark(
        &mut self,
        mark: ShellMark,
        lines: u64,
        partial: &str,
        now: Instant,
        now_ns: u64,
    ) -> Option<FinishedCommand> {
        self.integrated = true;
        self.changes.send_modify(|n| *n += 1);
        match mark {
            ShellMark::InputStart => {
                self.marks_input = true;
                self.reading = true;
                self.typed.start(lines, partial);
            }
            ShellMark::PromptStart => self.reading = !self.marks_input,
            ShellMark::OutputStart | ShellMark::Finished(_) => self.reading = false,
            _ => {}
        }
        match mark.clone() {
            ShellMark::CommandLine(c) => self.pending_cmdline = Some(c),
            ShellMark::Cwd(c) => self.cwd = Some(c),
            ShellMark::OutputStart => {
                if let ShellState::Running { .. } = self.state {
                    // A second `C` before the `D` (integrations that mark each part of
                    // a command line): the command started at the first.
                    return None;
                }
                let typed = self.run.as_mut().and_then(|r| r.start(lines));
                let shown = self.typed.take(lines, partial);
                let cmdline = self.pending_cmdline.take().or(typed).or(shown);
                self.state = ShellState::Running {
                    cmdline,
                    started: now,
                    started_ns: now_ns,
                    after_line: lines,
                };
            }
            ShellMark::Finished(status) => {
                let ShellState::Running { cmdline, started, after_line, .. } =
                    std::mem::replace(&mut self.state, ShellState::Prompt)
                else {
                    // A `D` without a `C`: an empty command line or the first prompt.
                    return None;
                };
                let last = lines + u64::from(!partial.is_empty());
                let done = FinishedCommand {
                    cmdline,
                    status,
                    duration_ms: now.saturating_duration_since(started).as_millis() as u64,
                    ended_ns: now_ns,
                    lines: (after_line + 1, last),
                };
                self.last = Some(done.clone());
                self.finish_run(&done, partial);
                return Some(done);
            }
            ShellMark::PromptStart | ShellMark::InputStart => {
                self.pending_cmdline = None;
                if let ShellState::Running { .. } = self.state {
                    // A new prompt without a `D` (a shell that does not send one):
                    // the command is over, its status unknown.
                    return self.on_mark(ShellMark::Finished(None), lines, partial, now, now_ns);
                }
                self.state = ShellState::Prompt;
                // Back at a prompt after lines were printed since `run` typed its command,
                // and no `C`: the shell did not run it (a syntax error). Only `A` tells:
                // a prompt's own lines (a two-line `PS1`) come after it, before `B`.
                let refused = self.run.as_ref().is_some_and(|r| {
                    mark == ShellMark::PromptStart && r.after_line.is_none() && lines > r.armed
                });
                if refused {
                    let run = self.run.take().expect("checked");
                    run.not_run(lines, now_ns, self.cwd.clone());
                }
            }
        }
        None
    }

    /// Whether `wait` is answered now: at a prompt, or a command that counts finished
    /// (it is then [`Shell::last`]).
    pub fn answers(&self, wait: ShellWait) -> bool {
        match wait {
            ShellWait::Prompt => self.state == ShellState::Prompt,
            ShellWait::Finished { after_line: Some(after), .. } => {
                self.last.as_ref().is_some_and(|l| l.lines.1 > after)
            }
            ShellWait::Finished { after_line: None, known } => {
                self.last.as_ref().is_some_and(|l| Some(l.ended_ns) != known)
            }
        }
    }

    /// Whether the shell is reading a command line now: text typed now goes to its line
    /// editor, not to the terminal's own echo ahead of the prompt (which a shell such as
    /// zsh echoes again behind the prompt).
    pub fn reading_input(&self) -> bool {
        self.reading
    }

    /// A completed line (`seq`): a running `ctmuxd run` collects it.
    pub fn on_line(&mut self, line: &str, seq: u64) {
        if self.reading {
            self.typed.line(line, seq);
        }
        if let Some(run) = &mut self.run {
            run.line(line, seq);
        }
    }

    fn finish_run(&mut self, done: &FinishedCommand, partial: &str) {
        if self.run.as_ref().is_some_and(|r| r.after_line.is_some()) {
            let run = self.run.take().expect("checked");
            run.finish(done, partial, self.cwd.clone());
        }
    }
}

/// What `ctmuxd run` learns of its command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunOutcome {
    /// The finished command.
    pub command: FinishedCommand,
    /// Its output lines, the last ones when it printed more than the byte limit.
    pub output: Vec<String>,
    /// Lines left out at the start to keep within the limit.
    pub dropped_lines: u64,
    /// Their bytes (each line's text plus its newline).
    pub dropped_bytes: u64,
    /// The shell's working directory when it finished, when the shell reports it.
    pub cwd: Option<String>,
    /// False when the shell went back to its prompt without running it (no `C`: a
    /// syntax error); `output` is then what it printed since the command was typed,
    /// the typed lines included.
    pub ran: bool,
}

/// The output of the next command on a pane, collected for `ctmuxd run` as it arrives.
///
/// Lines are kept from the `C` mark on, up to `limit` bytes (text plus one for each
/// newline): past it the oldest go, so the tail is kept, and the count of what went is
/// reported.
#[derive(Debug)]
pub struct RunCapture {
    /// Which request this is (so a timed-out one removes only itself).
    pub id: u64,
    /// The command line typed (the command's `cmdline` when the shell gives none).
    cmdline: String,
    /// The byte bound on `lines`.
    limit: usize,
    /// Lines completed when the command's `C` came; None until then.
    after_line: Option<u64>,
    /// Lines completed when the capture was registered (see [`RunCapture::arm`]).
    armed: u64,
    /// Collected lines, oldest first; their bytes in `bytes`.
    lines: VecDeque<String>,
    bytes: usize,
    dropped_lines: u64,
    dropped_bytes: u64,
    /// The waiting request (dropped: it gave up).
    tx: oneshot::Sender<RunOutcome>,
}

impl RunCapture {
    /// A capture for the next command on the pane, keeping at most `limit` bytes.
    pub fn new(
        id: u64,
        cmdline: String,
        limit: usize,
    ) -> (RunCapture, oneshot::Receiver<RunOutcome>) {
        let (tx, rx) = oneshot::channel();
        let capture = RunCapture {
            id,
            cmdline,
            limit,
            after_line: None,
            armed: 0,
            lines: VecDeque::new(),
            bytes: 0,
            dropped_lines: 0,
            dropped_bytes: 0,
            tx,
        };
        (capture, rx)
    }

    /// Whether the shell started the command (its `C` came).
    pub fn started(&self) -> bool {
        self.after_line.is_some()
    }

    /// Notes how many lines the pane had completed when the capture was registered:
    /// lines after that and before a `C` are what the shell printed for the typed
    /// command (its echo, a syntax error).
    pub fn arm(&mut self, lines: u64) {
        self.armed = lines;
    }

    /// The command's `C`: what was kept of the typed lines goes, and collecting the
    /// output starts. Returns the typed command line.
    fn start(&mut self, lines: u64) -> Option<String> {
        if self.after_line.is_some() {
            return None;
        }
        self.after_line = Some(lines);
        self.lines.clear();
        (self.bytes, self.dropped_lines, self.dropped_bytes) = (0, 0, 0);
        Some(self.cmdline.clone())
    }

    /// Lines before the `C` are kept too (bounded the same way), in case the shell
    /// refuses the command; they are dropped at the `C`.
    fn line(&mut self, line: &str, seq: u64) {
        if seq > self.after_line.unwrap_or(self.armed) {
            self.push(line.to_string());
        }
    }

    fn push(&mut self, line: String) {
        self.bytes += line.len() + 1;
        self.lines.push_back(line);
        while self.bytes > self.limit {
            let Some(old) = self.lines.pop_front() else { break };
            self.bytes -= old.len() + 1;
            self.dropped_lines += 1;
            self.dropped_bytes += old.len() as u64 + 1;
        }
    }

    fn finish(mut self, done: &FinishedCommand, partial: &str, cwd: Option<String>) {
        if !partial.is_empty() {
            self.push(partial.to_string());
        }
        let outcome = RunOutcome {
            command: done.clone(),
            output: self.lines.into(),
            dropped_lines: self.dropped_lines,
            dropped_bytes: self.dropped_bytes,
            cwd,
            ran: true,
        };
        let _ = self.tx.send(outcome);
    }

    /// The shell went back to its prompt without running the command: the outcome has
    /// no status and the lines printed since it was typed.
    fn not_run(self, lines: u64, now_ns: u64, cwd: Option<String>) {
        let done = FinishedCommand {
            cmdline: Some(self.cmdline.clone()),
            status: None,
            duration_ms: 0,
            ended_ns: now_ns,
            lines: (self.armed + 1, lines),
        };
        let outcome = RunOutcome {
            command: done,
            output: self.lines.into(),
            dropped_lines: self.dropped_lines,
            dropped_bytes: self.dropped_bytes,
            cwd,
            ran: false,
        };
        let _ = self.tx.send(outcome);
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn shell_waits_answer_at_a_prompt_and_when_a_command_counts_finished() {
        let mut sh = Shell::default();
        let now = Instant::now();
        let changes = sh.changes.subscribe();
        assert!(!sh.answers(ShellWait::Prompt), "no mark yet");
        sh.on_mark(ShellMark::PromptStart, 4, "$ ", now, 10);
        assert!(changes.has_changed().unwrap(), "a mark wakes the waits");
        assert!(sh.answers(ShellWait::Prompt));
        let next = ShellWait::Finished { after_line: None, known: None };
        assert!(!sh.answers(next), "nothing finished yet");
        sh.on_mark(ShellMark::OutputStart, 5, "", now, 20);
        assert!(!sh.answers(ShellWait::Prompt), "running");
        sh.on_mark(ShellMark::Finished(Some(2)), 8, "", now, 30);
        assert!(sh.answers(ShellWait::Prompt) && sh.answers(next));
        assert_eq!(sh.last.as_ref().unwrap().status, Some(2));
        // Begun after that command ended: only the next one answers.
        let later = ShellWait::Finished { after_line: None, known: Some(30) };
        assert!(!sh.answers(later));
        // By line: the command's output (lines 6..=8) ended after line 4, not after 8.
        assert!(sh.answers(ShellWait::Finished { after_line: Some(4), known: Some(30) }));
        assert!(!sh.answers(ShellWait::Finished { after_line: Some(8), known: None }));
        sh.on_mark(ShellMark::OutputStart, 9, "", now, 40);
        sh.on_mark(ShellMark::Finished(Some(0)), 9, "", now, 50);
        assert!(sh.answers(later), "another command finished");
        assert!(sh.answers(ShellWait::Finished { after_line: Some(8), known: None }));
    }

    #[test]
    fn a_shell_reads_input_from_its_input_mark_until_a_command_starts() {
        let mut sh = Shell::default();
        let now = Instant::now();
        let mark = |sh: &mut Shell, m: ShellMark| {
            sh.on_mark(m, 0, "", now, 0);
            sh.reading_input()
        };
        assert!(!sh.reading_input());
        assert!(mark(&mut sh, ShellMark::PromptStart), "no B seen yet: A is all there is");
        assert!(mark(&mut sh, ShellMark::InputStart));
        assert!(!mark(&mut sh, ShellMark::OutputStart));
        assert!(!mark(&mut sh, ShellMark::Finished(Some(0))), "between D and the next prompt");
        assert!(!mark(&mut sh, ShellMark::PromptStart), "this shell marks input: wait for B");
        assert!(mark(&mut sh, ShellMark::InputStart));
        // A shell that never sends B reads input from its prompt mark.
        let mut bare = Shell::default();
        assert!(mark(&mut bare, ShellMark::PromptStart));
        assert!(!mark(&mut bare, ShellMark::OutputStart));
        assert!(!mark(&mut bare, ShellMark::Finished(None)));
        assert!(mark(&mut bare, ShellMark::PromptStart));
    }

    #[test]
    fn without_an_e_mark_the_command_line_is_what_the_editor_showed_after_b() {
        let now = Instant::now();
        let mut sh = Shell::default();
        let cmdline = |sh: &Shell| match &sh.state {
            ShellState::Running { cmdline, .. } => cmdline.clone(),
            other => panic!("not running: {other:?}"),
        };
        // Lines 1..=3 done; the prompt `$ ` is written, then B.
        sh.on_mark(ShellMark::PromptStart, 3, "", now, 0);
        sh.on_mark(ShellMark::InputStart, 3, "$ ", now, 0);
        sh.on_line("$ make && make test", 4);
        sh.on_mark(ShellMark::OutputStart, 4, "", now, 0);
        assert_eq!(cmdline(&sh).as_deref(), Some("make && make test"));
        sh.on_line("built", 5);
        sh.on_mark(ShellMark::Finished(Some(0)), 5, "", now, 0);
        // A multi-line command: the continuation lines as shown.
        sh.on_mark(ShellMark::InputStart, 5, "~/src $ ", now, 0);
        sh.on_line("~/src $ for i in 1 2", 6);
        sh.on_line("> do echo $i; done", 7);
        sh.on_mark(ShellMark::OutputStart, 7, "", now, 0);
        assert_eq!(cmdline(&sh).as_deref(), Some("for i in 1 2\n> do echo $i; done"));
        sh.on_mark(ShellMark::Finished(Some(0)), 9, "", now, 0);
        // A 633 E wins; an empty line gives none; C in the middle of the line takes it.
        sh.on_mark(ShellMark::InputStart, 9, "$ ", now, 0);
        sh.on_mark(ShellMark::CommandLine("ls -l".into()), 9, "$ ls", now, 0);
        sh.on_line("$ ls", 10);
        sh.on_mark(ShellMark::OutputStart, 10, "", now, 0);
        assert_eq!(cmdline(&sh).as_deref(), Some("ls -l"));
        sh.on_mark(ShellMark::Finished(Some(0)), 10, "", now, 0);
        sh.on_mark(ShellMark::InputStart, 10, "$ ", now, 0);
        sh.on_mark(ShellMark::OutputStart, 10, "$   ", now, 0);
        assert_eq!(cmdline(&sh), None, "only blanks typed");
        sh.on_mark(ShellMark::Finished(Some(0)), 10, "", now, 0);
        sh.on_mark(ShellMark::InputStart, 10, "$ ", now, 0);
        sh.on_mark(ShellMark::OutputStart, 10, "$ true", now, 0);
        assert_eq!(cmdline(&sh).as_deref(), Some("true"));
        sh.on_mark(ShellMark::Finished(Some(0)), 10, "", now, 0);
        // Bounded: a line past the limit is not kept.
        sh.on_mark(ShellMark::InputStart, 10, "$ ", now, 0);
        sh.on_line(&format!("$ {}", "x".repeat(TypedLine::MAX)), 11);
        sh.on_mark(ShellMark::OutputStart, 11, "", now, 0);
        assert_eq!(cmdline(&sh), None);
    }

    use super::*;
    use ctmuxd_text::matcher::PatternSpec;

    fn pane() -> Pane {
        let m = Matcher::new(&[PatternSpec { pattern: "X".into(), prompt: false }]).unwrap();
        Pane::new(PaneInfo::default(), Arc::new(m), 100)
    }

    #[test]
    fn the_first_connection_to_deliver_output_feeds_the_pane_until_it_ends() {
        let mut p = pane();
        let (a, b) = (SessionId(1), SessionId(2));
        assert!(p.claim_feed(a));
        assert!(!p.claim_feed(b), "a linked window's second copy is dropped");
        assert!(p.claim_feed(a));
        p.release_feed(b);
        assert!(!p.claim_feed(b), "another connection ending changes nothing");
        p.release_feed(a);
        assert!(p.claim_feed(b), "once the feeder ended, the next one takes over");
        assert!(!p.claim_feed(a));
    }

    #[test]
    fn a_pane_is_alive_until_its_exit_is_recorded() {
        let mut p = pane();
        assert!(p.is_alive());
        p.life = Life::Exiting;
        assert!(p.is_alive());
        p.life = Life::Dead;
        assert!(!p.is_alive());
    }
}
