//! The typed records of the event log: one [`Event`] variant per kind, each a struct of
//! typed fields, serialised as one flat JSON object `{"ts_ns":…,"event":"<kind>",…}`.
//!
//! Writers build a variant and stamp it with [`Record::now`]; readers (`timeline`, the
//! demo, the API's `events` stream) deserialise the same types. A line a reader does not
//! understand (a kind from a newer daemon, or fields of the wrong type) is kept whole as
//! [`Event::Other`], so reading never fails on it. Field names and their order are those
//! of the free-form records written before, so the JSON lines are unchanged.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::de::Error as _;
use serde::ser::SerializeMap as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// One line of the event log: when, and what happened.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// Wall-clock time, nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    /// What happened; its kind is the line's `"event"` field.
    pub event: Event,
}

impl Record {
    /// `event` stamped with the current wall-clock time.
    pub fn now(event: impl Into<Event>) -> Record {
        let ts_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| u64::try_from(since.as_nanos()).unwrap_or(u64::MAX));
        Record { ts_ns, event: event.into() }
    }
}

/// What a record says happened, by kind (the JSON `"event"` field).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A rule matched a line (`"match"`).
    Match(MatchEvent),
    /// An action of a firing finished (`"action"`).
    Action(ActionEvent),
    /// The daemon started, stopped, reconnected, reloaded ... (`"daemon"`).
    Daemon(DaemonEvent),
    /// A labelled pane changed: spawned, closed, exited, ready ... (`"pane"`).
    Pane(PaneEvent),
    /// Output printed while ctmuxd was not reading was read back and matched (`"catch-up"`).
    #[serde(rename = "catch-up")]
    CatchUp(CatchUpEvent),
    /// Lines tmux had not sent before a pane exited were read back (`"resync"`).
    Resync(ResyncEvent),
    /// A server's link came back after an outage (`"gap"`): how long, which panes.
    Gap(GapEvent),
    /// Lines or actions that were not matched or run, and why (`"skipped"`).
    Skipped(SkippedEvent),
    /// The action queue was full and a firing's actions were dropped (`"overflow"`).
    Overflow(OverflowEvent),
    /// An exit or event rule fired (`"trigger"`); output rules have a `match` instead.
    Trigger(TriggerEvent),
    /// An `emit` action raised a named event (`"emit"`).
    Emit(EmitEvent),
    /// A shell command finished in a pane with shell integration (`"command"`).
    Command(CommandEvent),
    /// A rule with a condition (`silence`, `all`, `count`, ...) fired or timed out, with
    /// the parts that satisfied it (`"condition"`).
    Condition(ConditionEvent),
    /// Records that could not be written, reported once writing worked again (`"events_lost"`).
    EventsLost(EventsLostEvent),
    /// A line this build does not understand (a newer kind, or fields of the wrong type),
    /// kept whole so that writing its [`Record`] gives the line back unchanged (an `Event`
    /// serialised on its own refuses this variant: only `Record` knows how to write it).
    #[serde(skip)]
    Other(OtherEvent),
}

impl Event {
    /// The kind as the JSON `"event"` field writes it (`"catch-up"`, `"pane"`, ...).
    pub fn kind(&self) -> &str {
        match self {
            Event::Match(_) => "match",
            Event::Action(_) => "action",
            Event::Daemon(_) => "daemon",
            Event::Pane(_) => "pane",
            Event::CatchUp(_) => "catch-up",
            Event::Resync(_) => "resync",
            Event::Gap(_) => "gap",
            Event::Skipped(_) => "skipped",
            Event::Overflow(_) => "overflow",
            Event::Trigger(_) => "trigger",
            Event::Emit(_) => "emit",
            Event::Command(_) => "command",
            Event::Condition(_) => "condition",
            Event::EventsLost(_) => "events_lost",
            Event::Other(other) => &other.kind,
        }
    }

    /// The record's free-text `message`, for kinds that carry one.
    pub fn message(&self) -> Option<&str> {
        match self {
            Event::Daemon(e) => Some(&e.message),
            Event::Pane(e) => e.message.as_deref(),
            Event::CatchUp(e) => Some(&e.message),
            Event::Resync(e) => Some(&e.message),
            Event::Gap(e) => Some(&e.message),
            Event::Skipped(e) => Some(&e.message),
            Event::Overflow(e) => Some(&e.message),
            Event::EventsLost(e) => Some(&e.message),
            Event::Other(e) => e.fields.get("message").and_then(Value::as_str),
            Event::Match(_)
            | Event::Action(_)
            | Event::Trigger(_)
            | Event::Emit(_)
            | Event::Command(_)
            | Event::Condition(_) => None,
        }
    }
}

/// `Event::Variant(payload)` from each payload type, so writers say `Record::now(payload)`.
macro_rules! event_from {
    ($($variant:ident($payload:ty)),* $(,)?) => {
        $( impl From<$payload> for Event {
            fn from(payload: $payload) -> Event {
                Event::$variant(payload)
            }
        } )*
    };
}

event_from! {
    Match(MatchEvent), Action(ActionEvent), Daemon(DaemonEvent), Pane(PaneEvent),
    CatchUp(CatchUpEvent), Resync(ResyncEvent), Gap(GapEvent), Skipped(SkippedEvent),
    Overflow(OverflowEvent), Trigger(TriggerEvent), Emit(EmitEvent), Command(CommandEvent),
    Condition(ConditionEvent),
    EventsLost(EventsLostEvent), Other(OtherEvent),
}

/// For `skip_serializing_if`: a flag written only when set.
fn is_false(flag: &bool) -> bool {
    !*flag
}

/// Which firing a record is about: the pane, its label and session, the rule and the
/// line. Each is left out when unknown (an overflow total has none of them).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default)]
pub struct Origin {
    /// Pane id, e.g. `"%3"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pane: Option<String>,
    /// Pane label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// tmux session name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// Rule name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The matched line as shown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<String>,
}

/// `"match"`: a rule matched a line.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default)]
pub struct MatchEvent {
    /// The pane, rule and line.
    #[serde(flatten)]
    pub origin: Origin,
    /// How the daemon sees panes: `"control"` or `"poll"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// Named capture groups that took part in the match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub captures: Option<BTreeMap<String, String>>,
    /// The line was read back from tmux's history (a paused pane), not seen live.
    #[serde(skip_serializing_if = "is_false")]
    pub catch_up: bool,
    /// The line was a prompt (no newline yet) matched by a `prompt = true` rule.
    #[serde(skip_serializing_if = "is_false")]
    pub prompt: bool,
    /// The line's number in its pane (the engine's sequence).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
}

/// `"action"`: how one action of a firing went.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default)]
pub struct ActionEvent {
    /// The firing's pane, rule and line.
    #[serde(flatten)]
    pub origin: Origin,
    /// Action kind (`"exec"`, `"spawn"`, ...).
    pub action: String,
    /// Whether the action succeeded.
    pub ok: bool,
    /// Exit code of an exec action.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Signal that killed an exec action.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// How long the action ran, in milliseconds.
    pub duration_ms: f64,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The action hit its timeout.
    #[serde(skip_serializing_if = "is_false")]
    pub timed_out: bool,
    /// How the daemon sees panes: `"control"` or `"poll"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// Last bytes an exec action wrote to stdout.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stdout_tail: Option<String>,
    /// Last bytes an exec action wrote to stderr.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stderr_tail: Option<String>,
    /// The argv an exec action ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub argv: Option<Vec<String>>,
    /// Pane ids a close action closed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closed: Option<Vec<String>>,
    /// The action's position in its rule's `actions` list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    /// When the action started, nanoseconds since the Unix epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_ns: Option<u64>,
    /// The label a pane action worked on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_label: Option<String>,
    /// The pane a spawn or send action worked on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_pane: Option<String>,
}

/// What an action reports about what it did beyond its outcome (the pane it opened, the
/// argv it ran): filled in by the action while it runs, copied into its [`ActionEvent`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ActionDetails {
    /// The argv an exec action ran.
    pub argv: Option<Vec<String>>,
    /// Pane ids a close action closed.
    pub closed: Option<Vec<String>>,
    /// The label a pane action worked on.
    pub target_label: Option<String>,
    /// The pane a spawn or send action worked on.
    pub target_pane: Option<String>,
}

impl ActionEvent {
    /// This event with what the action reported about itself.
    pub fn with_details(self, details: ActionDetails) -> ActionEvent {
        let ActionDetails { argv, closed, target_label, target_pane } = details;
        ActionEvent { argv, closed, target_label, target_pane, ..self }
    }
}

/// `"daemon"`: the daemon started, stopped, reconnected, reloaded its rules, or warns.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default)]
pub struct DaemonEvent {
    /// The tmux session the message is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// How the daemon sees panes: `"control"` or `"poll"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// What happened, for people; a start reads `ready: ...` ([`DaemonEvent::READY`]).
    pub message: String,
    /// The tmux server is not the one of the last connection: pane state was reset.
    #[serde(skip_serializing_if = "is_false")]
    pub new_server: bool,
    /// The tmux server's pid (control mode's `ready`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_pid: Option<String>,
    /// The tmux server's start time (control mode's `ready`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_start: Option<String>,
    /// The tmux server's version (control mode's `ready`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tmux_version: Option<String>,
}

impl DaemonEvent {
    /// How the message of the record a daemon writes once it watches starts: the
    /// timeline charts the run from the last such record.
    pub const READY: &'static str = "ready: ";

    /// A daemon event saying `message`, and nothing else.
    pub fn say(message: String) -> DaemonEvent {
        DaemonEvent { message, ..DaemonEvent::default() }
    }

    /// Whether this is the record of a daemon start ([`DaemonEvent::READY`]).
    pub fn is_ready(&self) -> bool {
        self.message.starts_with(Self::READY)
    }
}

/// What happened to a pane in a `"pane"` record (its JSON `action` field).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum PaneChange {
    /// Opened by a spawn action or a `[[pane]]` entry.
    Spawned,
    /// Closed by a close action, or reaped after its exit.
    Closed,
    /// Its process exited.
    Exited,
    /// A `[[pane]]` entry found alive from before (ctmuxd restarted) and taken over.
    Adopted,
    /// A `[[pane]]` entry printed its ready line.
    Ready,
    /// A `[[pane]]` entry failed to start or to get ready.
    Failed,
    /// A `[[pane]]` entry not started because one it waits for failed.
    Held,
    /// A `[[pane]]` entry that failed or exited will be started again (its restart policy).
    Restarting,
    /// A change this build does not know (written by a newer daemon).
    #[default]
    #[serde(other)]
    Unknown,
}

impl PaneChange {
    /// The change as the record's `action` field writes it (`"spawned"`, ...).
    pub fn name(self) -> &'static str {
        match self {
            PaneChange::Spawned => "spawned",
            PaneChange::Closed => "closed",
            PaneChange::Exited => "exited",
            PaneChange::Adopted => "adopted",
            PaneChange::Ready => "ready",
            PaneChange::Failed => "failed",
            PaneChange::Held => "held",
            PaneChange::Restarting => "restarting",
            PaneChange::Unknown => "unknown",
        }
    }
}

/// `"pane"`: a labelled pane changed; most carry how many panes are alive now.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default)]
pub struct PaneEvent {
    /// Pane id, e.g. `"%3"` (none for a `[[pane]]` that never started).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pane: Option<String>,
    /// Pane label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// What happened to it.
    #[serde(rename = "action")]
    pub change: PaneChange,
    /// Exit code of an exited pane.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Signal that killed an exited pane.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// Why (a failure, a hold, a reap).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Labelled panes alive after the change: the timeline's y axis.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub panes_alive: Option<usize>,
}

impl PaneEvent {
    /// A `change` of the pane labelled `label`, with `alive` labelled panes left.
    pub fn new(change: PaneChange, label: &str, alive: usize) -> PaneEvent {
        PaneEvent {
            change,
            label: Some(label.to_owned()),
            panes_alive: Some(alive),
            ..PaneEvent::default()
        }
    }
}

/// `"catch-up"`: what a pane printed while ctmuxd was not reading it was read back from
/// tmux's history and matched (after an attach, or after tmux paused the pane).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default)]
pub struct CatchUpEvent {
    /// Pane id.
    pub pane: String,
    /// What was read back, for people.
    pub message: String,
    /// After a pause: the last line seen was found in the history (else all was read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aligned: Option<bool>,
    /// After an attach: firings the lines caused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fired: Option<usize>,
    /// After an attach: the last line seen had scrolled out, so lines may be missing.
    #[serde(skip_serializing_if = "is_false")]
    pub gap: bool,
    /// After an attach: live output held back while the history was read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held_bytes: Option<usize>,
    /// Lines read back and matched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lines: Option<usize>,
    /// After a pause: matches among the lines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matches: Option<usize>,
}

impl CatchUpEvent {
    /// A catch-up of `pane` that says only `message` (nothing was read back).
    pub fn note(pane: impl ToString, message: String) -> CatchUpEvent {
        CatchUpEvent { pane: pane.to_string(), message, ..CatchUpEvent::default() }
    }
}

/// `"gap"`: the link to a server (an SSH connection, a tmux server) came back after an
/// outage; the record's `server` names it. Lines the panes printed meanwhile are read back
/// from their history and matched once (`catch-up` records follow, pane by pane).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default)]
pub struct GapEvent {
    /// How long the link was down, in ms.
    pub gap_ms: u64,
    /// The panes watched when it went down (`%3` or `%3 (label)`).
    pub panes: Vec<String>,
    /// For people.
    pub message: String,
}

impl GapEvent {
    /// The gap from `since_ns` to `now_ns` over `panes`.
    pub fn new(since_ns: u64, now_ns: u64, panes: Vec<String>) -> GapEvent {
        let gap_ms = now_ns.saturating_sub(since_ns) / 1_000_000;
        let message = format!(
            "link back after {gap_ms} ms; {} pane(s) were not watched meanwhile{}; what they printed is read back and matched once",
            panes.len(),
            if panes.is_empty() { String::new() } else { format!(" ({})", panes.join(", ")) }
        );
        GapEvent { gap_ms, panes, message }
    }
}

/// `"resync"`: lines tmux had not sent before a pane exited were read back.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default)]
pub struct ResyncEvent {
    /// Pane id.
    pub pane: String,
    /// How many lines, for people.
    pub message: String,
}

/// `"skipped"`: lines scrolled away unmatched, or a firing's remaining actions not run.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default)]
pub struct SkippedEvent {
    /// The pane (and, for actions, the firing's rule and line).
    #[serde(flatten)]
    pub origin: Origin,
    /// How the daemon sees panes: `"control"` or `"poll"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// What was skipped and why.
    pub message: String,
    /// How many lines were skipped, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lines: Option<u64>,
}

/// `"overflow"`: the action queue was full: a firing's actions were dropped (or, without
/// an origin, the queue drained and this is the total).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default)]
pub struct OverflowEvent {
    /// The firing dropped, if this record is about one.
    #[serde(flatten)]
    pub origin: Origin,
    /// How the daemon sees panes: `"control"` or `"poll"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// What happened, for people.
    pub message: String,
    /// Firings dropped so far.
    pub dropped: u64,
}

/// What fired a rule that has a `trigger` record rather than a `match`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TriggerOn {
    /// A pane exited (`on = "exit"`).
    #[default]
    Exit,
    /// A named event was emitted (`on = "event"`).
    Event,
    /// A shell command finished (`on = "command"`).
    Command,
}

/// `"trigger"`: an exit or event rule fired.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default)]
pub struct TriggerEvent {
    /// The firing's pane and rule.
    #[serde(flatten)]
    pub origin: Origin,
    /// How the daemon sees panes: `"control"` or `"poll"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// What fired it.
    pub on: TriggerOn,
}

/// `"emit"`: a rule raised a named event.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default)]
pub struct EmitEvent {
    /// The rule whose `emit` action raised it.
    pub rule: String,
    /// The event's name.
    pub name: String,
}

/// `"command"`: a shell command finished in a pane whose shell emits integration marks
/// (OSC 133/633): one record per command, whether rules fired or not.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default)]
pub struct CommandEvent {
    /// tmux pane id.
    pub pane: String,
    /// Its label, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The command line, when the shell said it (633 `E`) or `ctmuxd run` typed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cmdline: Option<String>,
    /// Its exit status, when the shell gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<i32>,
    /// From its output start (`C`) to its end (`D`).
    pub duration_ms: u64,
    /// Lines it printed (a last line without a newline counts).
    pub lines: u64,
}

/// `"condition"`: a rule with a condition fired (or, for an `all` with `within`, timed
/// out), and what satisfied it: the rules, events, lines or quiet spell that made it fire.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default)]
pub struct ConditionEvent {
    /// The rule, and the pane and line its actions get (the last part's).
    #[serde(flatten)]
    pub origin: Origin,
    /// How the daemon sees panes: `"control"` or `"poll"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// The condition's key: `silence`, `at_prompt_for`, `all`, `any`, `count`, `sequence`.
    pub condition: String,
    /// The `within` of an `all` passed without every part: `timeout_actions` ran.
    #[serde(skip_serializing_if = "is_false")]
    pub timed_out: bool,
    /// What satisfied it, oldest first (for a timeout: the parts that did come).
    pub parts: Vec<ConditionPart>,
    /// The parts that did not come in time (a timeout only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
}

/// One part of a [`ConditionEvent`]: a rule that fired, an event raised, a line matched,
/// or a pane's last output before a silence.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(default)]
pub struct ConditionPart {
    /// The rule or event name (`all`/`any`), the step's pattern (`sequence`), the rule's
    /// pattern (`count`), or `last output` (`silence`, `at_prompt_for`).
    pub name: String,
    /// The pane it happened in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pane: Option<String>,
    /// That pane's label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The line (for a rule part: the line its firing had).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<String>,
    /// The line's number in its pane (for a silence: the pane's last line).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// When it happened, ns since the epoch.
    pub ts_ns: u64,
}

/// `"events_lost"`: records that could not be written (disk full), counted and reported
/// once writing worked again.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default)]
pub struct EventsLostEvent {
    /// What was lost, for people.
    pub message: String,
    /// How many records.
    pub count: u64,
}

/// A record this build does not understand, kept whole: its `"event"` and every other
/// field but `ts_ns`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OtherEvent {
    /// The `"event"` field as written (empty when missing or not a string).
    pub kind: String,
    /// The other fields, `"event"` and `ts_ns` left out.
    pub fields: Map<String, Value>,
}

/// The wire shape of a known record: `ts_ns`, then the event's tag and fields.
#[derive(Serialize)]
struct Wire<'a> {
    ts_ns: u64,
    #[serde(flatten)]
    event: &'a Event,
}

impl Serialize for Record {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let Event::Other(other) = &self.event else {
            return Wire { ts_ns: self.ts_ns, event: &self.event }.serialize(serializer);
        };
        let mut map = serializer.serialize_map(Some(other.fields.len() + 2))?;
        map.serialize_entry("ts_ns", &self.ts_ns)?;
        map.serialize_entry("event", &other.kind)?;
        for (key, value) in &other.fields {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Record {
    /// A JSON object with a numeric `ts_ns`; anything else is not a record. Its event is
    /// the typed kind its `"event"` names, or [`Event::Other`] when the kind is unknown or
    /// its fields do not fit; fields a kind does not have are ignored.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Record, D::Error> {
        let value = Value::deserialize(deserializer)?;
        let ts_ns = value
            .get("ts_ns")
            .and_then(Value::as_u64)
            .ok_or_else(|| D::Error::custom("an event-log record is an object with ts_ns"))?;
        let event = match Event::deserialize(&value) {
            Ok(event) => event,
            Err(_) => {
                let Value::Object(mut fields) = value else { unreachable!("ts_ns was read") };
                fields.remove("ts_ns");
                let kind = match fields.remove("event") {
                    Some(Value::String(kind)) => kind,
                    _ => String::new(),
                };
                Event::Other(OtherEvent { kind, fields })
            }
        };
        Ok(Record { ts_ns, event })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Origin {
        Origin {
            pane: Some("%3".into()),
            label: Some("l".into()),
            session: Some("s".into()),
            rule: Some("ru".into()),
            line: Some("li".into()),
        }
    }

    fn at(event: impl Into<Event>) -> Record {
        Record { ts_ns: 1, event: event.into() }
    }

    /// One record of every kind, each as written by the free-form `Record` (fields set by
    /// hand and an `extra` map) before the kinds were typed: the lines must not change.
    fn golden() -> Vec<(Record, &'static str)> {
        let exited = PaneEvent {
            pane: Some("%3".into()),
            exit_code: Some(1),
            signal: Some(15),
            message: Some("m".into()),
            ..PaneEvent::new(PaneChange::Exited, "db", 2)
        };
        vec![
            (
                at(MatchEvent {
                    origin: Origin {
                        label: Some("build".into()),
                        rule: Some("fail".into()),
                        line: Some("FAIL x".into()),
                        ..origin()
                    },
                    mode: Some("control".into()),
                    captures: Some(
                        [("t", "12"), ("a", "b")].map(|(k, v)| (k.into(), v.into())).into(),
                    ),
                    catch_up: true,
                    prompt: true,
                    seq: Some(7),
                }),
                r#"{"ts_ns":1,"event":"match","pane":"%3","label":"build","session":"s","rule":"fail","line":"FAIL x","mode":"control","captures":{"a":"b","t":"12"},"catch_up":true,"prompt":true,"seq":7}"#,
            ),
            (
                at(MatchEvent {
                    origin: Origin {
                        pane: Some("%3".into()),
                        rule: Some("sub".into()),
                        line: Some("x".into()),
                        ..Origin::default()
                    },
                    captures: Some(BTreeMap::new()),
                    ..MatchEvent::default()
                }),
                r#"{"ts_ns":1,"event":"match","pane":"%3","rule":"sub","line":"x","captures":{}}"#,
            ),
            (
                at(ActionEvent {
                    origin: Origin {
                        label: Some("build".into()),
                        rule: Some("fail".into()),
                        line: Some("FAIL x".into()),
                        ..origin()
                    },
                    action: "exec".into(),
                    ok: false,
                    exit_code: Some(2),
                    signal: Some(9),
                    duration_ms: 12.5,
                    error: Some("boom".into()),
                    timed_out: true,
                    mode: Some("control".into()),
                    stdout_tail: Some("out".into()),
                    stderr_tail: Some("err".into()),
                    index: Some(0),
                    start_ns: Some(5),
                    ..ActionEvent::default()
                }
                .with_details(ActionDetails {
                    argv: Some(vec!["a".into(), "b".into()]),
                    closed: Some(vec!["%5".into()]),
                    target_label: Some("t".into()),
                    target_pane: Some("%4".into()),
                })),
                r#"{"ts_ns":1,"event":"action","pane":"%3","label":"build","session":"s","rule":"fail","line":"FAIL x","action":"exec","ok":false,"exit_code":2,"signal":9,"duration_ms":12.5,"error":"boom","timed_out":true,"mode":"control","stdout_tail":"out","stderr_tail":"err","argv":["a","b"],"closed":["%5"],"index":0,"start_ns":5,"target_label":"t","target_pane":"%4"}"#,
            ),
            (
                at(DaemonEvent {
                    session: Some("s".into()),
                    mode: Some("control".into()),
                    new_server: true,
                    server_pid: Some("12".into()),
                    server_start: Some("99".into()),
                    tmux_version: Some("3.3a".into()),
                    ..DaemonEvent::say("ready: x".into())
                }),
                r#"{"ts_ns":1,"event":"daemon","session":"s","mode":"control","message":"ready: x","new_server":true,"server_pid":"12","server_start":"99","tmux_version":"3.3a"}"#,
            ),
            (
                at(exited),
                r#"{"ts_ns":1,"event":"pane","pane":"%3","label":"db","action":"exited","exit_code":1,"signal":15,"message":"m","panes_alive":2}"#,
            ),
            (
                at(CatchUpEvent {
                    lines: Some(4),
                    fired: Some(1),
                    held_bytes: Some(10),
                    gap: true,
                    ..CatchUpEvent::note("%3", "m".into())
                }),
                r#"{"ts_ns":1,"event":"catch-up","pane":"%3","message":"m","fired":1,"gap":true,"held_bytes":10,"lines":4}"#,
            ),
            (
                at(CatchUpEvent {
                    lines: Some(4),
                    aligned: Some(false),
                    matches: Some(2),
                    ..CatchUpEvent::note("%3", "m".into())
                }),
                r#"{"ts_ns":1,"event":"catch-up","pane":"%3","message":"m","aligned":false,"lines":4,"matches":2}"#,
            ),
            (
                at(ResyncEvent { pane: "%3".into(), message: "m".into() }),
                r#"{"ts_ns":1,"event":"resync","pane":"%3","message":"m"}"#,
            ),
            (
                at(SkippedEvent {
                    origin: origin(),
                    mode: Some("poll".into()),
                    message: "m".into(),
                    lines: Some(3),
                }),
                r#"{"ts_ns":1,"event":"skipped","pane":"%3","label":"l","session":"s","rule":"ru","line":"li","mode":"poll","message":"m","lines":3}"#,
            ),
            (
                at(OverflowEvent {
                    origin: origin(),
                    mode: Some("control".into()),
                    message: "m".into(),
                    dropped: 100,
                }),
                r#"{"ts_ns":1,"event":"overflow","pane":"%3","label":"l","session":"s","rule":"ru","line":"li","mode":"control","message":"m","dropped":100}"#,
            ),
            (
                at(TriggerEvent {
                    origin: origin(),
                    mode: Some("control".into()),
                    on: TriggerOn::Exit,
                }),
                r#"{"ts_ns":1,"event":"trigger","pane":"%3","label":"l","session":"s","rule":"ru","line":"li","mode":"control","on":"exit"}"#,
            ),
            (
                at(EmitEvent { rule: "ru".into(), name: "done".into() }),
                r#"{"ts_ns":1,"event":"emit","rule":"ru","name":"done"}"#,
            ),
            (
                at(TriggerEvent {
                    origin: origin(),
                    mode: Some("control".into()),
                    on: TriggerOn::Command,
                }),
                r#"{"ts_ns":1,"event":"trigger","pane":"%3","label":"l","session":"s","rule":"ru","line":"li","mode":"control","on":"command"}"#,
            ),
            (
                at(CommandEvent {
                    pane: "%3".into(),
                    label: Some("l".into()),
                    cmdline: Some("make test".into()),
                    status: Some(2),
                    duration_ms: 1500,
                    lines: 40,
                }),
                r#"{"ts_ns":1,"event":"command","pane":"%3","label":"l","cmdline":"make test","status":2,"duration_ms":1500,"lines":40}"#,
            ),
            (
                at(ConditionEvent {
                    origin: origin(),
                    mode: Some("control".into()),
                    condition: "all".into(),
                    timed_out: true,
                    parts: vec![ConditionPart {
                        name: "api-ready".into(),
                        pane: Some("%1".into()),
                        label: Some("api".into()),
                        line: Some("up".into()),
                        seq: Some(4),
                        ts_ns: 7,
                    }],
                    missing: vec!["worker-ready".into()],
                }),
                r#"{"ts_ns":1,"event":"condition","pane":"%3","label":"l","session":"s","rule":"ru","line":"li","mode":"control","condition":"all","timed_out":true,"parts":[{"name":"api-ready","pane":"%1","label":"api","line":"up","seq":4,"ts_ns":7}],"missing":["worker-ready"]}"#,
            ),
            (
                at(EventsLostEvent { message: "m".into(), count: 3 }),
                r#"{"ts_ns":1,"event":"events_lost","message":"m","count":3}"#,
            ),
        ]
    }

    #[test]
    fn every_kind_writes_the_same_json_line_as_before_and_reads_back_equal() {
        for (record, line) in golden() {
            assert_eq!(serde_json::to_string(&record).unwrap(), line);
            assert_eq!(record.event.kind(), serde_json::from_str::<Value>(line).unwrap()["event"]);
            let back: Record = serde_json::from_str(line).unwrap();
            assert_eq!(back, record, "{line}");
            assert!(!matches!(back.event, Event::Other(_)), "{line}");
        }
    }

    #[test]
    fn now_stamps_the_wall_clock() {
        let record = Record::now(ResyncEvent::default());
        // A fairly recent wall-clock time, not zero or monotonic.
        assert!(record.ts_ns > 1_600_000_000_000_000_000);
    }

    #[test]
    fn an_unknown_kind_is_kept_whole_and_written_back_unchanged() {
        let line = r#"{"ts_ns":5,"event":"teleport","to":{"x":1},"message":"beam"}"#;
        let record: Record = serde_json::from_str(line).unwrap();
        let Event::Other(other) = &record.event else { panic!("{record:?}") };
        assert_eq!(other.kind, "teleport");
        assert_eq!(record.event.kind(), "teleport");
        assert_eq!(record.event.message(), Some("beam"));
        let back: Value = serde_json::from_str(&serde_json::to_string(&record).unwrap()).unwrap();
        assert_eq!(back, serde_json::from_str::<Value>(line).unwrap());
    }

    #[test]
    fn fields_of_the_wrong_type_make_an_other_and_unknown_fields_are_ignored() {
        let bad: Record =
            serde_json::from_str(r#"{"ts_ns":5,"event":"pane","action":7,"panes_alive":-1}"#)
                .unwrap();
        assert!(
            matches!(&bad.event, Event::Other(o) if o.kind == "pane" && o.fields["action"] == 7)
        );
        let newer: Record = serde_json::from_str(
            r#"{"ts_ns":5,"event":"pane","action":"restarted","label":"db","panes_alive":1,"cpu":3}"#,
        )
        .unwrap();
        let Event::Pane(pane) = newer.event else { panic!("{newer:?}") };
        assert_eq!(pane.change, PaneChange::Unknown);
        for change in [PaneChange::Spawned, PaneChange::Held, PaneChange::Unknown] {
            assert_eq!(serde_json::to_value(change).unwrap(), change.name());
        }
        assert_eq!((pane.label.as_deref(), pane.panes_alive), (Some("db"), Some(1)));
    }

    #[test]
    fn a_line_without_a_numeric_ts_ns_is_not_a_record() {
        for line in [r#"{"event":"daemon","message":"m"}"#, r#"{"ts_ns":"soon","event":"x"}"#, "42"]
        {
            assert!(serde_json::from_str::<Record>(line).is_err(), "{line}");
        }
    }

    #[test]
    fn a_ready_record_is_told_by_its_message() {
        assert!(DaemonEvent::say(format!("{}watching", DaemonEvent::READY)).is_ready());
        assert!(!DaemonEvent::say("stopping: signal".into()).is_ready());
    }
}
