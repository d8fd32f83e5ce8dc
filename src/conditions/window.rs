//! The window of an `all` or an `any`: which of the named rules and events came, and
//! when the first came. An `all` fires once every part came within `within` of the first
//! (the window includes its end) and times out when `within` passes first; an `any` fires
//! on a part and, with `within`, lets the parts that follow within that time join it.

use std::time::{Duration, Instant};

use crate::eventlog::ConditionPart;

/// What a part did to a window.
#[derive(Debug, PartialEq)]
pub(super) enum Outcome {
    /// Nothing to fire yet.
    Waiting,
    /// The condition holds: these parts, in the order they came.
    Fired(Vec<ConditionPart>),
}

/// An open window: when it opened and the first occurrence of each part seen in it.
#[derive(Clone, Debug)]
pub(super) struct Window {
    /// When the first part came.
    pub opened: Instant,
    /// By position in the rule's list: the part's first occurrence in this window.
    pub seen: Vec<Option<ConditionPart>>,
    /// The order parts came in (positions in `seen`).
    order: Vec<usize>,
}

impl Window {
    fn open(now: Instant, parts: usize) -> Window {
        Window { opened: now, seen: vec![None; parts], order: Vec::new() }
    }

    /// The parts seen, in the order they came.
    pub fn came(&self) -> Vec<ConditionPart> {
        self.order.iter().filter_map(|&i| self.seen[i].clone()).collect()
    }

    /// The deadline of an `all` with `within`.
    pub fn deadline(&self, within: Option<Duration>) -> Option<Instant> {
        within.map(|w| self.opened + w)
    }
}

/// Part `index` of an `all` of `parts` names came at `now`. `window` is the rule's open
/// window, if any; it is closed (`None`) when the condition fires. A window whose
/// deadline passed without a timeout run (the caller runs [`timed_out`] first) is not
/// expected here.
pub(super) fn all_part(
    window: &mut Option<Window>,
    parts: usize,
    index: usize,
    part: ConditionPart,
    now: Instant,
) -> Outcome {
    let w = window.get_or_insert_with(|| Window::open(now, parts));
    if w.seen[index].is_none() {
        w.seen[index] = Some(part);
        w.order.push(index);
    }
    if w.seen.iter().all(Option::is_some) {
        let fired = w.came();
        *window = None;
        return Outcome::Fired(fired);
    }
    Outcome::Waiting
}

/// Part `index` of an `any` came at `now`: it fires unless a window opened by an earlier
/// firing is still open (`within` of it, end included), which it then joins.
pub(super) fn any_part(
    window: &mut Option<Window>,
    parts: usize,
    within: Option<Duration>,
    index: usize,
    part: ConditionPart,
    now: Instant,
) -> Outcome {
    match (window.as_mut(), within) {
        (Some(w), Some(within)) if now.saturating_duration_since(w.opened) <= within => {
            if w.seen[index].is_none() {
                w.seen[index] = Some(part);
                w.order.push(index);
            }
            Outcome::Waiting
        }
        (_, within) => {
            *window = within.map(|_| {
                let mut w = Window::open(now, parts);
                w.seen[index] = Some(part.clone());
                w.order.push(index);
                w
            });
            Outcome::Fired(vec![part])
        }
    }
}

/// Whether an `all`'s window timed out by `now` (its deadline reached without every
/// part; with `past`, only once `now` is beyond it, so a part at the very end still
/// counts): then the parts that came and the names missing, and the window is closed.
pub(super) fn timed_out(
    window: &mut Option<Window>,
    names: &[String],
    within: Option<Duration>,
    now: Instant,
    past: bool,
) -> Option<(Vec<ConditionPart>, Vec<String>)> {
    let due = window.as_ref()?.deadline(within)?;
    if now < due || (past && now == due) {
        return None;
    }
    let w = window.take()?;
    let missing = names
        .iter()
        .zip(&w.seen)
        .filter(|(_, seen)| seen.is_none())
        .map(|(name, _)| name.clone())
        .collect();
    Some((w.came(), missing))
}
