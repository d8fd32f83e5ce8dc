//! Routes one control connection's events: pane output to be matched, or held while the
//! connection's catch-up runs, and everything else to the daemon's control loop.
//!
//! A [`Router`] runs on the connection's reader task, one event at a time, in stream
//! order. It learns which session the connection is attached to (events before that are
//! not attributed), un-escapes `%output` into one reused buffer (no allocation per
//! event), and hands it to its [`RouteSink`]. While [`Hold`] is active (the connection
//! has just attached and its panes are being caught up from tmux's history), output is
//! held per pane instead, to be matched after the catch-up or dropped where the capture
//! already holds it.
//!
//! PERF: on the live path the router takes no lock of its own: the session is a
//! `OnceLock`, the hold an atomic flag, so each `%output` costs the sink's one lock (the
//! engine's). Before, it took four (a session cell, a pane-owner map, the stash, the
//! engine).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use tmux_control_parser::{Event, PaneId, SessionId};

/// Where a connection's events go.
pub trait RouteSink {
    /// Pane output (un-escaped) on the connection attached to `session`, to be matched.
    /// The sink decides whether this connection feeds the pane (a window linked into two
    /// watched sessions is reported on both).
    fn output(&mut self, session: SessionId, pane: PaneId, data: &[u8]);

    /// Whether output of `pane` on this connection is the pane's to match; asked before
    /// output is held, so held output is only ever output that would have been matched.
    fn claim(&mut self, session: SessionId, pane: PaneId) -> bool;

    /// Any event other than pane output (notifications, exits, layout), for the control
    /// loop.
    fn control(&mut self, session: SessionId, event: Event);

    /// The connection's output paused (see
    /// [`EventSink::drained`](super::control::EventSink::drained)); not called while
    /// output is held.
    fn drained(&mut self) {}
}

/// Output held per pane while a connection's catch-up runs. Shared between the
/// connection's [`Router`] and its catch-up.
#[derive(Debug, Default)]
pub struct Hold {
    /// Mirrors whether `held` is `Some`: read on every `%output` without the lock.
    active: AtomicBool,
    held: Mutex<Option<HashMap<PaneId, Held>>>,
}

/// What is held for one pane.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Held {
    /// The pane's output, in order.
    pub data: Vec<u8>,
    /// Where in `data` the output not yet on the pane's screen starts: the screen was
    /// seeded from tmux after the bytes before it were printed.
    pub screen_from: usize,
}

impl Hold {
    /// A hold that is active from the start (a connection's output is held from its
    /// first byte until its catch-up is done).
    pub fn active() -> Arc<Hold> {
        Arc::new(Hold { active: AtomicBool::new(true), held: Mutex::new(Some(HashMap::new())) })
    }

    /// Whether output is being held.
    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    /// Appends `data` to what is held for `pane`; false (nothing held) once the hold was
    /// released, so the caller matches it as live.
    pub fn push(&self, pane: PaneId, data: &[u8]) -> bool {
        match self.held.lock().expect("hold").as_mut() {
            Some(held) => {
                held.entry(pane).or_default().data.extend_from_slice(data);
                true
            }
            None => false,
        }
    }

    /// Takes what is held for one pane (its catch-up read it back from tmux instead).
    pub fn take_pane(&self, pane: PaneId) -> Option<Vec<u8>> {
        self.held.lock().expect("hold").as_mut().and_then(|h| h.remove(&pane)).map(|h| h.data)
    }

    /// The pane's screen was just seeded from tmux: what is held so far is on it
    /// already. Call it on the reader task, in stream order (a command's reply hook).
    pub fn screen_seeded(&self, pane: PaneId) {
        if let Some(held) = self.held.lock().expect("hold").as_mut() {
            let h = held.entry(pane).or_default();
            h.screen_from = h.data.len();
        }
    }

    /// Ends the hold and returns what is still held, per pane: from now on output is
    /// matched as it arrives.
    pub fn release(&self) -> HashMap<PaneId, Held> {
        let mut held = self.held.lock().expect("hold");
        self.active.store(false, Ordering::Release);
        held.take().unwrap_or_default()
    }
}

/// One connection's router: see the module docs.
#[derive(Debug)]
pub struct Router<S> {
    /// The session the connection is attached to, once known.
    session: Arc<OnceLock<SessionId>>,
    hold: Arc<Hold>,
    /// `%output` is un-escaped into this buffer, reused for every payload.
    scratch: Vec<u8>,
    sink: S,
}

impl<S: RouteSink + Send + 'static> super::control::EventSink for Router<S> {
    fn event(&mut self, event: Event) {
        self.route(event);
    }

    fn drained(&mut self) {
        Router::drained(self);
    }
}

impl<S: RouteSink> Router<S> {
    /// A router feeding `sink`, holding output while `hold` is active. `session` is
    /// filled from `%session-changed`, or by the caller once it has asked tmux.
    pub fn new(session: Arc<OnceLock<SessionId>>, hold: Arc<Hold>, sink: S) -> Router<S> {
        Router { session, hold, scratch: Vec::new(), sink }
    }

    /// Routes one event.
    pub fn route(&mut self, event: Event) {
        let sid = self.session.get().copied();
        match event {
            Event::Output { pane, data } | Event::ExtendedOutput { pane, data, .. } => {
                // Output before the attach is known belongs to no session: none arrives
                // before the attach reply.
                let Some(sid) = sid else { return };
                self.scratch.clear();
                data.unescape_into(&mut self.scratch);
                if self.hold.is_active() {
                    if !self.sink.claim(sid, pane) {
                        return;
                    }
                    if self.hold.push(pane, &self.scratch) {
                        return;
                    }
                }
                self.sink.output(sid, pane, &self.scratch);
            }
            Event::SessionChanged { session, .. } if sid.is_none() => {
                let _ = self.session.set(session);
            }
            event => {
                if let Some(session) = sid {
                    self.sink.control(session, event);
                }
            }
        }
    }

    /// The connection's output paused: passed on to the sink unless output is held.
    pub fn drained(&mut self) {
        if !self.hold.is_active() {
            self.sink.drained();
        }
    }

    /// The sink (for tests and for the caller's own state).
    pub fn sink(&self) -> &S {
        &self.sink
    }
}

#[cfg(test)]
mod tests {
    use tmux_control_parser::Decoder;

    use super::*;

    /// Records what reaches it; refuses output of the panes in `foreign`.
    #[derive(Default, Debug)]
    struct Fake {
        out: Vec<(SessionId, PaneId, Vec<u8>)>,
        control: Vec<(SessionId, String)>,
        foreign: Vec<PaneId>,
    }

    impl RouteSink for Fake {
        fn output(&mut self, session: SessionId, pane: PaneId, data: &[u8]) {
            if !self.foreign.contains(&pane) {
                self.out.push((session, pane, data.to_vec()));
            }
        }
        fn claim(&mut self, _: SessionId, pane: PaneId) -> bool {
            !self.foreign.contains(&pane)
        }
        fn control(&mut self, session: SessionId, event: Event) {
            self.control.push((session, format!("{event:?}")));
        }
    }

    fn events(wire: &str) -> Vec<Event> {
        let mut d = Decoder::new();
        d.feed(wire.as_bytes());
        std::iter::from_fn(|| d.next_event()).map(|e| e.unwrap()).collect()
    }

    fn router(hold: Arc<Hold>) -> Router<Fake> {
        Router::new(Arc::default(), hold, Fake::default())
    }

    #[test]
    fn output_is_attributed_to_the_attached_session_and_unescaped() {
        let mut r = router(Arc::new(Hold::default()));
        let wire = "%output %1 early\\015\\012\n\
                    %session-changed $3 main\n\
                    %output %1 a\\134b\\015\\012\n\
                    %extended-output %2 12 : \\033[1mx\n\
                    %session-changed $4 other\n\
                    %window-add @2\n";
        for e in events(wire) {
            r.route(e);
        }
        let s3 = SessionId(3);
        assert_eq!(
            r.sink().out,
            [(s3, PaneId(1), b"a\\b\r\n".to_vec()), (s3, PaneId(2), b"\x1b[1mx".to_vec()),],
            "output before the attach is dropped; escapes are undone"
        );
        let control: Vec<_> = r.sink().control.iter().map(|(s, e)| (*s, e.as_str())).collect();
        assert_eq!(control.len(), 2, "{control:?}");
        assert!(control.iter().all(|(s, _)| *s == s3), "the first session stays");
        assert!(
            control[0].1.starts_with("SessionChanged") && control[1].1.starts_with("WindowAdd")
        );
    }

    #[test]
    fn output_is_held_while_catching_up_then_matched_live() {
        let hold = Hold::active();
        let mut r = router(hold.clone());
        r.sink.foreign.push(PaneId(9));
        let _ = r.session.set(SessionId(1));
        for e in events("%output %1 one\\012\n%output %2 two\n%output %1 more\n%output %9 x\n") {
            r.route(e);
        }
        assert!(r.sink().out.is_empty(), "nothing matched while held");
        assert_eq!(hold.take_pane(PaneId(2)), Some(b"two".to_vec()));
        let held = hold.release();
        assert_eq!(held.len(), 1, "another connection's pane is not held: {held:?}");
        assert_eq!(held[&PaneId(1)], Held { data: b"one\nmore".to_vec(), screen_from: 0 });
        assert!(!hold.is_active() && !hold.push(PaneId(1), b"late"));
        for e in events("%output %1 live\n") {
            r.route(e);
        }
        assert_eq!(r.sink().out, [(SessionId(1), PaneId(1), b"live".to_vec())]);
    }
}
