//! `ctmuxd replay`: runs the same screen-text, matcher and rule logic as the daemon over a
//! recorded control-mode stream (from `--record`, or any `tmux -C` transcript) with no
//! tmux at all, and reports what would have fired. Actions are not run.
//!
//! Time is the transcript's own: a `--record` file has a clock line before each read
//! ([`crate::tmux::record`]); between two, time stands still, and each clock line first
//! runs the time conditions due by then (`silence`, an `all`'s `within`), as the daemon's
//! timer would have. Deadlines past the last clock line never come. A transcript without
//! clock lines replays with time standing still.

use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, Instant};

use tmux_control_parser::{Decoder, Event, PaneId};

use crate::action::Action;
use crate::eventlog::ConditionPart;
use crate::firing::{CompileError, Engine, Firing};
use crate::panes::PaneInfo;
use crate::rules::RuleSet;

/// One firing as `replay` prints it (one JSON object per line).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReplayFiring {
    /// Rule name.
    pub rule: String,
    /// Pane id (`%3`).
    pub pane: String,
    /// Pane label, when given with `--label`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The line as a person saw it.
    pub line: String,
    /// Line sequence number in the pane.
    pub seq: u64,
    /// False when a prompt rule matched an unterminated line.
    pub complete: bool,
    /// Named capture groups.
    pub captures: std::collections::BTreeMap<String, String>,
    /// What the actions would have done, one short description each (the
    /// `timeout_actions` for an `all` that timed out).
    pub actions: Vec<String>,
    /// For a rule with a condition: its key (`silence`, `all`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// The condition's `within` passed before every part came.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub timed_out: bool,
    /// What satisfied the condition, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<ConditionPart>,
    /// The parts that did not come (a timeout).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
}

impl From<&Firing> for ReplayFiring {
    fn from(f: &Firing) -> Self {
        ReplayFiring {
            rule: f.ctx.rule.clone(),
            pane: f.ctx.pane_id.to_string(),
            label: f.ctx.pane_label.clone(),
            line: f.ctx.line.clone(),
            seq: f.seq,
            complete: f.complete,
            captures: f.ctx.captures.iter().cloned().collect(),
            actions: f.actions().iter().map(Action::describe).collect(),
            condition: f.condition.as_ref().map(|c| c.condition.to_string()),
            timed_out: f.condition.as_ref().is_some_and(|c| c.timed_out),
            parts: f.condition.as_ref().map(|c| c.parts.clone()).unwrap_or_default(),
            missing: f.condition.as_ref().map(|c| c.missing.clone()).unwrap_or_default(),
        }
    }
}

/// Replays transcripts through a fresh engine and returns every firing in order.
///
/// `labels` gives panes the labels rules may select on (a transcript does not carry
/// them). Time passes as the transcript's clock lines say (see the module docs); without
/// them it does not, and a `cooldown` spans the whole replay.
///
/// # Errors
/// [`CompileError`] when the rules do not compile.
pub fn replay(
    rules: RuleSet,
    transcripts: &[Vec<u8>],
    labels: &HashMap<PaneId, String>,
) -> Result<Vec<ReplayFiring>, CompileError> {
    let mut engine = Engine::new(rules)?;
    for (id, label) in labels {
        engine.upsert_pane(
            *id,
            PaneInfo {
                label: Some(label.clone()),
                session_name: "replay".into(),
                ..PaneInfo::default()
            },
        );
    }
    // A transcript is looked at after every output block, whatever its timing.
    engine.set_screen_interval(Duration::ZERO);
    let start = Instant::now();
    // The transcript's clock: the first clock line is `start`.
    let mut clock: Option<u64> = None;
    let mut now = start;
    let mut ts_ns = 0;
    let mut out = Vec::new();
    let mut firings = Vec::new();
    // Output payloads arrive escaped; each is un-escaped into this reused buffer.
    let mut scratch = Vec::new();
    for bytes in transcripts {
        let mut decoder = Decoder::new();
        decoder.feed(bytes);
        loop {
            let item = match decoder.next_event() {
                Some(i) => i,
                None => match decoder.finish() {
                    Some(i) => i,
                    None => break,
                },
            };
            match item {
                Ok(Event::Output { pane, data }) | Ok(Event::ExtendedOutput { pane, data, .. }) => {
                    scratch.clear();
                    data.unescape_into(&mut scratch);
                    engine.on_output(pane, &scratch, now, ts_ns, &mut firings);
                    // A transcript has no read boundaries: each output block is a burst,
                    // after which screen rules look at the rows.
                    let _ = engine.on_pause(now, ts_ns, &mut firings);
                    out.extend(firings.drain(..).map(|f| ReplayFiring::from(&f)));
                    // Replay prints firings only; finished commands are not kept.
                    engine.take_commands();
                }
                Ok(Event::Unknown { name, rest }) => {
                    let Some(at) = crate::tmux::record::clock_ns(&name, &rest) else { continue };
                    let first = *clock.get_or_insert(at);
                    // A clock never runs back: a later connection's file may start earlier.
                    let next = start + Duration::from_nanos(at.saturating_sub(first));
                    if next >= now {
                        now = next;
                        ts_ns = at;
                    }
                    engine.conditions_due(now, ts_ns, &mut firings);
                    out.extend(firings.drain(..).map(|f| ReplayFiring::from(&f)));
                }
                Ok(_) => {}
                Err(e) => tracing::warn!("transcript: {e}"),
            }
        }
    }
    Ok(out)
}

/// Writes firings as JSON lines.
///
/// # Errors
/// I/O errors from `w`.
pub fn write_json_lines(w: &mut impl Write, firings: &[ReplayFiring]) -> std::io::Result<()> {
    for f in firings {
        serde_json::to_writer(&mut *w, f)?;
        w.write_all(b"\n")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const HANG: &str = "[[rule]]\nname = \"hang\"\nsilence = \"5s\"\nactions = [\"log\"]\n";

    fn run(transcript: &str) -> Vec<ReplayFiring> {
        let rules = crate::rules::parse(HANG, Path::new("rules.toml")).unwrap();
        replay(rules, &[transcript.as_bytes().to_vec()], &HashMap::new()).unwrap()
    }

    #[test]
    fn time_conditions_run_on_the_transcripts_own_clock() {
        let s = 1_000_000_000u64;
        let t = format!(
            "%ctmuxd-clock {}\n%output %1 compiling\\015\\012\n%ctmuxd-clock {}\n%ctmuxd-clock {}\n",
            s,
            5 * s,
            7 * s
        );
        let fired = run(&t);
        assert_eq!(fired.len(), 1, "{fired:?}");
        assert_eq!(fired[0].rule, "hang");
        assert_eq!(fired[0].condition.as_deref(), Some("silence"));
        assert_eq!(fired[0].parts[0].line.as_deref(), Some("compiling"));
        assert_eq!(fired[0].parts[0].ts_ns, s, "the silence began at the output");
        // Cut before the deadline: the recording ended first, nothing fires.
        let cut = t.rsplit_once("%ctmuxd-clock").unwrap().0;
        assert!(run(cut).is_empty());
        // No clock lines: time stands still.
        assert!(run("%output %1 compiling\\015\\012\n").is_empty());
    }
}
