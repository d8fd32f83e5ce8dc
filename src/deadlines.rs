//! The one timer behind the rules' time conditions (`silence`, `at_prompt_for`, an
//! `all`'s `within`): a task that sleeps until the engine's earliest condition deadline,
//! runs what is due and fires it through the dispatcher.
//!
//! While no deadline is pending it waits on a [`Notify`] only, so an idle daemon never
//! wakes for it; the engine's deadline hook ([`Engine::set_deadline_hook`]) pokes it when a
//! deadline comes earlier than the one it sleeps to. Both ways to watch panes (control
//! mode, polling) start it; `replay` and tests call [`Engine::conditions_due`] themselves.
//!
//! [`Engine::set_deadline_hook`]: crate::firing::Engine::set_deadline_hook
//! [`Engine::conditions_due`]: crate::firing::Engine::conditions_due

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::Notify;

use crate::action_tasks::Dispatcher;
use crate::firing::now_ns;

/// Installs the engine's deadline hook and starts the timer task, which ends when the
/// dispatcher stops ([`Dispatcher::stopping`]).
pub fn start(dispatcher: &Dispatcher) {
    let notify = Arc::new(Notify::new());
    let poke = notify.clone();
    // `notify_one` keeps a permit when the task is not waiting yet: no poke is lost.
    dispatcher
        .engine
        .lock()
        .expect("engine")
        .set_deadline_hook(Box::new(move || poke.notify_one()));
    let d = dispatcher.clone();
    tokio::spawn(async move {
        loop {
            let next = d.engine.lock().expect("engine").next_condition_deadline();
            let sleep = async {
                match next {
                    Some(due) => tokio::time::sleep_until(due.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = d.stopping().cancelled() => return,
                _ = notify.notified() => continue,
                _ = sleep => {}
            }
            let mut firings = Vec::new();
            d.engine.lock().expect("engine").conditions_due(Instant::now(), now_ns(), &mut firings);
            for f in firings {
                d.fire(f);
            }
        }
    });
}
