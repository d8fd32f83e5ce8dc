//! A `sequence`'s progress on one pane: which step comes next, the lines that matched the
//! steps so far and when the first did. A line matching the next step advances it; a line
//! matching only the first step starts over from it; with `within`, progress older than
//! that is dropped before the line is looked at.

use std::time::{Duration, Instant};

use regex_automata::meta::Regex;

use crate::eventlog::ConditionPart;

/// One step: its pattern as written and compiled (`None`: it did not compile on its own,
/// and never matches).
#[derive(Clone, Debug)]
pub(super) struct Step {
    /// As the rules file writes it (the record names the part by it).
    pub pattern: String,
    /// The step's own regex, asked only about lines some step matched.
    pub regex: Option<Regex>,
}

/// How far one pane is into a sequence.
#[derive(Clone, Debug)]
pub(super) struct Progress {
    /// When the first step's line came.
    started: Instant,
    /// The lines that matched steps 0.., in order; its length is the next step.
    parts: Vec<ConditionPart>,
}

/// A line (that some step matches: the rules' matcher saw to it) at `now`, with
/// `progress` the pane's state. Returns the parts when it completes the sequence.
pub(super) fn line(
    progress: &mut Option<Progress>,
    steps: &[Step],
    within: Option<Duration>,
    line: &str,
    part: ConditionPart,
    now: Instant,
) -> Option<Vec<ConditionPart>> {
    if let (Some(p), Some(within)) = (progress.as_ref(), within) {
        if now.saturating_duration_since(p.started) > within {
            *progress = None;
        }
    }
    let matches =
        |i: usize| steps.get(i).and_then(|s| s.regex.as_ref()).is_some_and(|re| re.is_match(line));
    let next = progress.as_ref().map_or(0, |p| p.parts.len());
    if next > 0 && matches(next) {
        let p = progress.as_mut().expect("next > 0");
        p.parts.push(ConditionPart { name: steps[next].pattern.clone(), ..part });
        if p.parts.len() == steps.len() {
            return progress.take().map(|p| p.parts);
        }
        return None;
    }
    if matches(0) {
        *progress = Some(Progress {
            started: now,
            parts: vec![ConditionPart { name: steps[0].pattern.clone(), ..part }],
        });
    }
    None
}
