//! The one timer behind the rules' time conditions (`silence`, `at_prompt_for`, an
//! `all`'s `within`): a thread that sleeps until the engine's earliest condition deadline,
//! runs what is due and fires it through the dispatcher.
//!
//! While no deadline is pending it waits on a condition variable with no timeout, so an
//! idle daemon never wakes for it; the engine's deadline hook
//! ([`Engine::set_deadline_hook`]) pokes it when a deadline comes earlier than the one it
//! sleeps to. Both ways to watch panes (control mode, polling) start it; `replay` and
//! tests call [`Engine::conditions_due`] themselves.
//!
//! PERF: a thread of its own rather than a tokio sleep: tokio's timer ticks in whole
//! milliseconds, which made every firing 0.5–1 ms late (1,000 silences, `cargo bench
//! --bench timing`: late p50 / p99 / max 0.89 / 3.01 / 5.46 ms); a condition-variable
//! timeout wakes within the OS timer's slack: 0.08 / 1.12 / 3.68 ms, beside 0.12 / 1.10 /
//! 2.11 ms for plain `thread::sleep`s in the same run.
//!
//! [`Engine::set_deadline_hook`]: crate::firing::Engine::set_deadline_hook
//! [`Engine::conditions_due`]: crate::firing::Engine::conditions_due

use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use crate::action_tasks::Dispatcher;
use crate::firing::now_ns;

/// Installs the engine's deadline hook and starts the timer thread, which ends when the
/// dispatcher stops ([`Dispatcher::stopping`]). Call it from within the tokio runtime the
/// dispatcher runs on (firings' actions are spawned on it).
pub fn start(dispatcher: &Dispatcher) {
    let wake = Arc::new(Wake::default());
    let poke = wake.clone();
    dispatcher.engine.lock().expect("engine").set_deadline_hook(Box::new(move || poke.poke()));
    let (stop, stopping) = (wake.clone(), dispatcher.stopping().clone());
    tokio::spawn(async move {
        stopping.cancelled().await;
        stop.stop();
    });
    let d = dispatcher.clone();
    let runtime = tokio::runtime::Handle::current();
    let spawned = std::thread::Builder::new().name("ctmuxd-deadlines".into()).spawn(move || {
        let _runtime = runtime.enter();
        loop {
            let next = d.engine.lock().expect("engine").next_condition_deadline();
            if !wake.wait(next) {
                return;
            }
            let now = Instant::now();
            if next.is_none_or(|due| due > now) {
                continue; // poked: a new deadline, or a spurious wake-up
            }
            let mut firings = Vec::new();
            d.engine.lock().expect("engine").conditions_due(now, now_ns(), &mut firings);
            for f in firings {
                d.fire(f);
            }
        }
    });
    if let Err(e) = spawned {
        tracing::error!("cannot start the timer of time conditions: {e}; they will not fire");
    }
}

/// What wakes the timer thread: a poke (an earlier deadline) or the daemon stopping.
#[derive(Default)]
struct Wake {
    /// (poked, stopping), guarded together so a poke between the thread's reading of the
    /// deadline and its wait is never lost.
    state: Mutex<(bool, bool)>,
    cond: Condvar,
}

impl Wake {
    /// An earlier deadline: the thread reads the deadline again. Called under the
    /// engine's lock: takes only this lock, briefly.
    fn poke(&self) {
        self.state.lock().expect("wake").0 = true;
        self.cond.notify_one();
    }

    /// The daemon stops: the thread ends.
    fn stop(&self) {
        self.state.lock().expect("wake").1 = true;
        self.cond.notify_one();
    }

    /// Sleeps until `due` (forever when `None`) or a poke; false when the daemon stops.
    fn wait(&self, due: Option<Instant>) -> bool {
        let mut state = self.state.lock().expect("wake");
        loop {
            if state.1 {
                return false;
            }
            if std::mem::take(&mut state.0) {
                return true;
            }
            state = match due {
                None => self.cond.wait(state).expect("wake"),
                Some(due) => {
                    let now = Instant::now();
                    if now >= due {
                        return true;
                    }
                    self.cond.wait_timeout(state, due - now).expect("wake").0
                }
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_wait_ends_at_its_deadline_on_a_poke_and_for_good_on_stop() {
        let wake = Arc::new(Wake::default());
        let start = Instant::now();
        assert!(wake.wait(Some(start + Duration::from_millis(20))));
        assert!(start.elapsed() >= Duration::from_millis(20));
        // A poke made before the wait is not lost.
        wake.poke();
        assert!(wake.wait(None));
        let w = wake.clone();
        let poker = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            w.poke();
        });
        assert!(wake.wait(None), "a poke ends a wait with no deadline");
        poker.join().unwrap();
        wake.stop();
        assert!(!wake.wait(None));
        assert!(!wake.wait(Some(Instant::now())));
    }
}
