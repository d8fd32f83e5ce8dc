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
//! Where the open work slots in: a terminal screen grid and a shell state (at a prompt,
//! running a command, finished with a status) are fields of `Pane` beside `text`, fed by
//! the same bytes in [`crate::firing::Engine::on_output`].

use std::sync::Arc;

use ctmuxd_text::matcher::Matcher;
use ctmuxd_text::pane::watch::PaneWatch;
use tmux_control_parser::{SessionId, WindowId};

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
    /// How many times rules fired on it (line and exit rules), counted by the engine.
    pub matches: u64,
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
            feeder: None,
        }
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

#[cfg(test)]
mod tests {
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
