//! `ctmuxd replay`: runs the same screen-text, matcher and rule logic as the daemon over a
//! recorded control-mode stream (from `--record`, or any `tmux -C` transcript) with no
//! tmux at all, and reports what would have fired. Actions are not run.

use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, Instant};

use tmux_control_parser::{Decoder, Event, PaneId};

use crate::action::Action;
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
    /// What the actions would have done, one short description each.
    pub actions: Vec<String>,
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
        }
    }
}

/// Replays transcripts through a fresh engine and returns every firing in order.
///
/// `labels` gives panes the labels rules may select on (a transcript does not carry
/// them). Time does not pass during a replay, so a `cooldown` spans the whole replay.
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
                    engine.on_output(pane, &scratch, start + Duration::ZERO, 0, &mut firings);
                    // A transcript has no read boundaries: each output block is a burst,
                    // after which screen rules look at the rows.
                    let _ = engine.on_pause(start + Duration::ZERO, 0, &mut firings);
                    out.extend(firings.drain(..).map(|f| ReplayFiring::from(&f)));
                    // Replay prints firings only; finished commands are not kept.
                    engine.take_commands();
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
