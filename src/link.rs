//! The state of one watched tmux server's link, as `status` shows it: up, connecting or
//! down (with why and since when), how many times it came back, and the gap it left.
//!
//! Written by the daemon's connect loop ([`crate::daemon`]) and the supervisor of several
//! servers ([`crate::servers`]), read by the API's answers. A std `Mutex` held for a copy
//! only: nothing waits on it.

use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// Where one server's link is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkState {
    /// Not connected yet (the first attach is under way or being retried).
    Connecting,
    /// Attached: its panes are watched.
    Up,
    /// Lost; a reconnect is due (with backoff).
    Down,
}

impl LinkState {
    /// The word `status` shows: `connecting`, `up`, `down`.
    pub fn name(self) -> &'static str {
        match self {
            LinkState::Connecting => "connecting",
            LinkState::Up => "up",
            LinkState::Down => "down",
        }
    }
}

/// A copy of a [`Link`] at one moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkView {
    /// The server's name (`[[server]]` `name`).
    pub name: String,
    /// What `ssh`/`tmux` reach, for people (`ssh me@box tmux`, `tmux -L work`).
    pub describe: String,
    /// Where the link is.
    pub state: LinkState,
    /// Since when, ns since the epoch.
    pub since_ns: u64,
    /// Why it is down or still connecting (the last error), if known.
    pub error: Option<String>,
    /// How many times it came back after going down.
    pub reconnects: u64,
}

/// The panes a link was watching when it went down, and when: the gap's start.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outage {
    /// When it went down, ns since the epoch.
    pub since_ns: u64,
    /// The panes watched then (`%3` or `%3 (label)`).
    pub panes: Vec<String>,
}

/// One server's link; shared by its connect loop and the API.
#[derive(Debug)]
pub struct Link {
    name: String,
    describe: String,
    state: Mutex<(LinkView, Option<Outage>)>,
}

/// Now, ns since the epoch.
fn now_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

impl Link {
    /// A link that is connecting.
    pub fn new(name: impl Into<String>, describe: impl Into<String>) -> Link {
        let (name, describe) = (name.into(), describe.into());
        let view = LinkView {
            name: name.clone(),
            describe: describe.clone(),
            state: LinkState::Connecting,
            since_ns: now_ns(),
            error: None,
            reconnects: 0,
        };
        Link { name, describe, state: Mutex::new((view, None)) }
    }

    /// The server's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What the link reaches, for people.
    pub fn describe(&self) -> &str {
        &self.describe
    }

    /// A copy of the state now.
    pub fn view(&self) -> LinkView {
        self.state.lock().expect("link").0.clone()
    }

    /// Attached: returns the outage this ends, if the link had been up before.
    pub fn up(&self) -> Option<Outage> {
        let mut s = self.state.lock().expect("link");
        let outage = s.1.take();
        if outage.is_some() {
            s.0.reconnects += 1;
        }
        s.0.state = LinkState::Up;
        s.0.since_ns = now_ns();
        s.0.error = None;
        outage
    }

    /// Lost, with why and the panes it was watching (kept from the first loss of an
    /// outage: a failed reconnect does not restart the gap).
    pub fn down(&self, why: String, panes: Vec<String>) {
        let mut s = self.state.lock().expect("link");
        let now = now_ns();
        if s.0.state == LinkState::Up {
            s.1 = Some(Outage { since_ns: now, panes });
            s.0.since_ns = now;
        }
        if s.0.state != LinkState::Connecting {
            s.0.state = LinkState::Down;
        }
        s.0.error = Some(why);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_runs_from_the_first_loss_to_the_next_attach() {
        let link = Link::new("gpu", "ssh gpu tmux");
        assert_eq!(link.view().state, LinkState::Connecting);
        link.down("refused".into(), vec![]);
        assert_eq!(link.view().state, LinkState::Connecting, "never up: still connecting");
        assert_eq!(link.up(), None, "the first attach ends no outage");
        link.down("ssh died".into(), vec!["%1 (build)".into()]);
        let first = link.view().since_ns;
        link.down("connection refused".into(), vec![]);
        let view = link.view();
        assert_eq!((view.state, view.since_ns), (LinkState::Down, first));
        assert_eq!(view.error.as_deref(), Some("connection refused"));
        let outage = link.up().expect("an outage");
        assert_eq!((outage.since_ns, outage.panes), (first, vec!["%1 (build)".to_string()]));
        assert_eq!((link.view().state, link.view().reconnects), (LinkState::Up, 1));
    }
}
