//! What a rule does when it fires: the [`Action`] enum the rules file is validated
//! into, the [`ActionContext`] describing the match that triggered it, and the
//! [`ActionOutcome`] recorded in the event log afterwards.
//!
//! Every action kind is one module (`exec`, `log`, `spawn`, `close`, `send`, `emit`)
//! whose type implements [`ActionKind`]: how the rules file writes it (parsing and
//! validation, with the byte span of each mistake), whether it needs a control
//! connection, what `ctmuxd replay` says it would do, and how it runs. The
//! `action_kinds!` list below registers each kind once and generates the [`Action`]
//! enum and its per-kind `match`es from it, so adding a kind is one module plus one line
//! there, and a kind missing a piece does not compile.
//!
//! Neighbours: [`crate::rules`] turns an action's table into an `Action` with
//! [`Action::parse_table`] / [`Action::parse_bare`], adding the file, line, column and
//! rule to any [`ParseError`]; the dispatcher runs it with [`Action::run`] over its
//! [`ActionHost`] (it sits above this layer, hence the trait); the outcome becomes an
//! [`crate::eventlog::ActionEvent`] through [`ActionOutcome::to_event`].

pub mod duration;

use std::future::Future;
use std::ops::Range;
use std::pin::Pin;
use std::time::{Duration, Instant};

use tmux_control_parser::PaneId;
use toml::{Spanned, Value};

use crate::eventlog::{ActionDetails, ActionEvent, Origin, Record};
use crate::tmux::control::ControlClient;

pub use exec::ExecRunner;

/// Registers the action kinds: `Variant(Type) in module;`, one line per kind, in the
/// order messages list them. Declares each module, re-exports its type, and generates
/// [`Action`] with one variant per kind plus every method that dispatches on the kind,
/// each an exhaustive `match` over the list (no wildcard arm to forget).
macro_rules! action_kinds {
    ($( $(#[$doc:meta])* $variant:ident($kind:ident) in $module:ident; )*) => {
        $( pub mod $module; pub use $module::$kind; )*

        /// One thing a rule does when it fires, in the order written in the rules file.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum Action {
            $( $(#[$doc])* $variant($kind), )*
        }

        impl Action {
            /// Every kind's name as the rules file writes it, in registration order.
            pub const KINDS: &'static [&'static str] = &[$( <$kind as ActionKind>::NAME ),*];

            /// The action's kind as written in the rules file (`"exec"`, `"log"`), used as
            /// the `action` field of event-log records.
            pub fn kind(&self) -> &'static str {
                match self { $( Action::$variant(_) => <$kind as ActionKind>::NAME, )* }
            }

            /// The names of the kinds that need a tmux control connection, in
            /// registration order (poll mode names them when it warns).
            pub fn kinds_needing_control() -> impl Iterator<Item = &'static str> {
                [$( (<$kind as ActionKind>::NAME, <$kind as ActionKind>::NEEDS_CONTROL) ),*]
                    .into_iter()
                    .filter_map(|(name, needs)| needs.then_some(name))
            }

            /// Whether it needs a tmux control connection ([`ActionKind::NEEDS_CONTROL`]).
            pub fn needs_control(&self) -> bool {
                match self { $( Action::$variant(_) => <$kind as ActionKind>::NEEDS_CONTROL, )* }
            }

            /// Whether the dispatcher runs and records it ([`ActionKind::RUNS`]).
            pub fn runs(&self) -> bool {
                match self { $( Action::$variant(_) => <$kind as ActionKind>::RUNS, )* }
            }

            /// What it would do, in one line, for `ctmuxd replay`.
            pub fn describe(&self) -> String {
                match self { $( Action::$variant(a) => a.describe(), )* }
            }

            /// Runs it over `host` for the match `ctx`; what it did beyond the outcome
            /// (argv, target pane) goes into `details`, copied into its event-log record.
            pub async fn run<H: ActionHost>(
                &self,
                host: &H,
                ctx: &ActionContext,
                details: &mut ActionDetails,
            ) -> ActionOutcome {
                match self { $( Action::$variant(a) => a.run(host, ctx, details).await, )* }
            }

            /// The action written as the bare string `name` (`"log"`) at `span`; `None`
            /// when no kind has that name.
            pub fn parse_bare(
                name: &str,
                span: Range<usize>,
            ) -> Option<Result<Action, ParseError>> {
                $( if name == <$kind as ActionKind>::NAME {
                    return Some(<$kind as ActionKind>::parse_bare(span).map(Action::$variant));
                } )*
                None
            }

            /// The action written as a table whose kind key is `name`; `None` when no
            /// kind has that name.
            pub fn parse_table(
                name: &str,
                table: &ActionTable<'_>,
            ) -> Option<Result<Action, ParseError>> {
                $( if name == <$kind as ActionKind>::NAME {
                    return Some(<$kind as ActionKind>::parse(table).map(Action::$variant));
                } )*
                None
            }

            /// Whether `key` is an option some kind takes beside its kind key (`timeout`).
            pub fn is_option(key: &str) -> bool {
                false $( || <$kind as ActionKind>::OPTIONS.contains(&key) )*
            }
        }
    };
}

action_kinds! {
    /// Run a program (argv, never a shell) with the match described in `CTMUX_*`
    /// environment variables.
    Exec(ExecAction) in exec;
    /// Only record the match in the event log.
    Log(LogAction) in log;
    /// Open a labelled pane.
    Spawn(SpawnSpec) in spawn;
    /// Close the panes whose label matches a label or glob.
    Close(CloseAction) in close;
    /// Type text into a labelled pane.
    Send(SendAction) in send;
    /// Raise a named event that `on = "event"` rules react to.
    Emit(EmitAction) in emit;
}

/// What one action kind is: how the rules file writes it, whether it needs control mode,
/// how `replay` describes it, and how it runs. Every kind registered in this module's
/// `action_kinds!` list implements it, so each of these pieces exists for every kind.
pub trait ActionKind: Sized {
    /// The kind's name in the rules file: its table key (`{ exec = [...] }`) and the
    /// `action` field of its event-log records.
    const NAME: &'static str;
    /// Needs a tmux control connection (pane commands): poll mode warns about rules
    /// using it, and it fails there.
    const NEEDS_CONTROL: bool;
    /// False for a kind whose whole effect is the match record (`log`): the dispatcher
    /// neither queues nor records it.
    const RUNS: bool = true;
    /// Keys the kind takes beside its own in the same table (`timeout` beside `exec`).
    const OPTIONS: &'static [&'static str] = &[];

    /// Reads `{ NAME = value, options... }`.
    ///
    /// # Errors
    /// A [`ParseError`] at the offending value or key, saying what to write instead.
    fn parse(table: &ActionTable<'_>) -> Result<Self, ParseError>;

    /// Reads the bare string `"NAME"` written at `span`; refused by default, since most
    /// kinds need a value.
    ///
    /// # Errors
    /// The kind needs a value: the message shows the table form.
    fn parse_bare(span: Range<usize>) -> Result<Self, ParseError> {
        Err(ParseError::new(
            span,
            format!("`{0}` needs a value; write it as a table, e.g. `{{ {0} = ... }}`", Self::NAME),
        ))
    }

    /// What it would do, in one line, for `ctmuxd replay` (which runs nothing).
    fn describe(&self) -> String;

    /// Does it for the match `ctx` over `host`; reports what it did in `details`.
    fn run<H: ActionHost>(
        &self,
        host: &H,
        ctx: &ActionContext,
        details: &mut ActionDetails,
    ) -> impl Future<Output = ActionOutcome> + Send;
}

/// A boxed future an [`ActionHost`] returns: boxed because the host may run actions
/// itself (an `emit` runs the rules it triggers), which an unboxed future cannot nest.
pub type HostFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What actions need from the daemon that runs them: the exec runner, the event log, a
/// tmux connection, panes and events. Defined here because the dispatcher, which
/// implements it, sits above this layer (as [`crate::pane_lifecycle::PaneHost`] does for
/// the pane lifecycle). A new kind that needs something new adds a method here.
pub trait ActionHost: Send + Sync {
    /// The exec runner (its cap applies to every exec the daemon runs).
    fn exec_runner(&self) -> &ExecRunner;
    /// Appends a record to the event log.
    fn append(&self, rec: &Record);
    /// A live control connection, or why there is none (poll mode, tmux gone).
    ///
    /// # Errors
    /// The reason, as the action's error.
    fn control(&self) -> Result<ControlClient, String>;
    /// The control connection of the server a `server/label` address names (a daemon
    /// watching several servers), with the label there; for any other address, this
    /// server's ([`ActionHost::control`]) and the address as it is.
    ///
    /// # Errors
    /// As [`ActionHost::control`], for the server named.
    fn control_for<'a>(&self, address: &'a str) -> Result<(ControlClient, &'a str), String> {
        Ok((self.control()?, address))
    }
    /// Spawns a labelled pane for the match `ctx` (in the rules' session, else the
    /// pane's); returns its id.
    fn spawn_pane<'a>(
        &'a self,
        spec: &'a SpawnSpec,
        ctx: &'a ActionContext,
    ) -> HostFuture<'a, Result<PaneId, String>>;
    /// Closes the panes whose label matches `glob` (`server/glob`: on that server, when the
    /// daemon watches several); returns their ids.
    fn close_panes<'a>(&'a self, glob: &'a str) -> HostFuture<'a, Result<Vec<PaneId>, String>>;
    /// How many `emit`s deep the running firing is (0 for a firing caused by a line).
    fn emit_depth(&self) -> usize;
    /// Fires the `on = "event"` rules for `name` raised by the match `ctx`, and runs
    /// their actions one level deeper.
    fn raise_event<'a>(&'a self, name: &'a str, ctx: &'a ActionContext) -> HostFuture<'a, ()>;
}

/// An action table in the rules file, split into its kind's value and the other keys.
#[derive(Debug, Clone, Copy)]
pub struct ActionTable<'a> {
    /// The value of the kind's key (`[...]` in `{ exec = [...] }`).
    pub value: &'a Spanned<Value>,
    /// Every key of the table, the kind's included, in file order.
    pub entries: &'a [(Spanned<String>, Spanned<Value>)],
}

impl<'a> ActionTable<'a> {
    /// The keys other than the kind's, in file order.
    pub fn options(&self) -> impl Iterator<Item = &'a (Spanned<String>, Spanned<Value>)> + 'a {
        self.entries.iter().filter(|(key, _)| !Action::KINDS.contains(&key.get_ref().as_str()))
    }

    /// Refuses any key beside the kind's (`kind` takes its options inside its value).
    ///
    /// # Errors
    /// At the first other key.
    pub fn no_options(&self, kind: &str) -> Result<(), ParseError> {
        match self.options().next() {
            Some((key, _)) => Err(ParseError::new(
                key.span(),
                format!(
                    "unknown field `{}` beside `{kind}`; put its options inside the {kind} value",
                    key.get_ref()
                ),
            )),
            None => Ok(()),
        }
    }

    /// The kind's value as a non-empty string (`close = "label"`, `emit = "name"`).
    ///
    /// # Errors
    /// Not a string, or empty: the message shows the form `kind` takes.
    pub fn name_value(&self, kind: &str) -> Result<String, ParseError> {
        match self.value.get_ref().as_str() {
            Some(s) if !s.is_empty() => Ok(s.to_owned()),
            _ => Err(ParseError::new(
                self.value.span(),
                format!("`{kind}` takes a non-empty string, e.g. {{ {kind} = \"name\" }}"),
            )),
        }
    }
}

/// A mistake in an action as written, at a byte span of the rules file; the rules loader
/// turns it into a [`crate::rules::RulesError`] with the path, line, column and rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Byte span of the offending text.
    pub span: Range<usize>,
    /// Lowercase, saying how to fix it.
    pub message: String,
}

impl ParseError {
    /// A mistake at `span`.
    pub fn new(span: Range<usize>, message: impl Into<String>) -> ParseError {
        ParseError { span, message: message.into() }
    }
}

/// What an action knows about the match that triggered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionContext {
    /// Name of the rule that fired.
    pub rule: String,
    /// The matched line as a person saw it (escape sequences already applied).
    pub line: String,
    /// The pane the line appeared in.
    pub pane_id: PaneId,
    /// The pane's label, if it has one.
    pub pane_label: Option<String>,
    /// Name of the tmux session the pane belongs to.
    pub session: String,
    /// Named capture groups that participated in the match: (name, text).
    pub captures: Vec<(String, String)>,
}

impl ActionContext {
    /// Where the firing came from, as event-log records name it: pane, label, session,
    /// rule and line.
    pub fn origin(&self) -> Origin {
        Origin {
            pane: Some(self.pane_id.to_string()),
            label: self.pane_label.clone(),
            session: Some(self.session.clone()),
            rule: Some(self.rule.clone()),
            line: Some(self.line.clone()),
        }
    }
}

/// How an action went; turned into an event-log record by [`ActionOutcome::to_event`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ActionOutcome {
    /// The action did what it was asked: for exec, exit status 0 without timeout.
    pub ok: bool,
    /// Exit code when the process exited normally.
    pub exit_code: Option<i32>,
    /// Signal number when the process was killed by a signal.
    pub signal: Option<i32>,
    /// Time from start (spawn, not queueing) to finish.
    pub duration: Duration,
    /// Why the action failed to run or was cut short, lowercase, naming the program.
    pub error: Option<String>,
    /// The timeout expired and the process group was killed.
    pub timed_out: bool,
    /// Last few KiB of the process's stdout (lossy UTF-8); empty for non-exec actions.
    pub stdout_tail: String,
    /// Last few KiB of the process's stderr (lossy UTF-8); empty for non-exec actions.
    pub stderr_tail: String,
}

impl ActionOutcome {
    /// The outcome of an action that succeeded instantly and has nothing to report
    /// (e.g. `log`).
    pub fn done() -> ActionOutcome {
        ActionOutcome { ok: true, ..ActionOutcome::default() }
    }

    /// The outcome of an action started at `start` that ended with `result`: ok, or
    /// failed with the error.
    pub fn finished(start: Instant, result: Result<(), String>) -> ActionOutcome {
        ActionOutcome {
            ok: result.is_ok(),
            error: result.err(),
            duration: start.elapsed(),
            ..ActionOutcome::default()
        }
    }

    /// The `"action"` event describing this outcome of `action` fired with `ctx`.
    /// Empty output tails are left out of the record.
    pub fn to_event(&self, action: &Action, ctx: &ActionContext) -> ActionEvent {
        ActionEvent {
            origin: ctx.origin(),
            action: action.kind().to_owned(),
            ok: self.ok,
            exit_code: self.exit_code,
            signal: self.signal,
            duration_ms: self.duration.as_secs_f64() * 1000.0,
            error: self.error.clone(),
            timed_out: self.timed_out,
            stdout_tail: non_empty(&self.stdout_tail),
            stderr_tail: non_empty(&self.stderr_tail),
            ..ActionEvent::default()
        }
    }
}

/// `Some(text)` unless it is empty, so empty fields are skipped in JSON.
fn non_empty(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registration_list_drives_names_control_mode_and_bare_names() {
        assert_eq!(Action::KINDS, ["exec", "log", "spawn", "close", "send", "emit"]);
        assert_eq!(Action::kinds_needing_control().collect::<Vec<_>>(), ["spawn", "close", "send"]);
        assert_eq!(Action::parse_bare("log", 0..5), Some(Ok(Action::Log(LogAction))));
        assert!(Action::parse_bare("nope", 0..6).is_none());
        let err = Action::parse_bare("close", 3..10).unwrap().unwrap_err();
        assert_eq!(err.span, 3..10);
        assert_eq!(
            err.message,
            "`close` needs a value; write it as a table, e.g. `{ close = ... }`"
        );
        assert!(Action::is_option("timeout") && !Action::is_option("label"));
        assert!(!Action::Log(LogAction).runs());
    }

    #[test]
    fn replay_descriptions_stay_as_they_were() {
        let close = Action::Close(CloseAction { label: "test-*".into() });
        assert_eq!(close.describe(), "close test-*");
        assert!(close.needs_control());
        let send = Action::Send(SendAction { pane: "sh".into(), text: "ls\n".into(), enter: true });
        assert_eq!(send.describe(), r#"send sh "ls\n""#);
        assert_eq!(Action::Emit(EmitAction { name: "built".into() }).describe(), "emit built");
        let exec = Action::Exec(ExecAction {
            argv: vec!["./a.sh".into(), "x".into()],
            timeout: None,
            cwd: None,
            env: vec![],
        });
        assert_eq!(exec.describe(), r#"exec ["./a.sh","x"]"#);
        assert!(!exec.needs_control() && exec.runs());
    }

    #[test]
    fn outcome_record_carries_context_and_skips_empty_tails() {
        let ctx = ActionContext {
            rule: "build".into(),
            line: "TRIGGER: START_BUILD 7".into(),
            pane_id: PaneId(3),
            pane_label: Some("test-1".into()),
            session: "main".into(),
            captures: vec![],
        };
        let outcome = ActionOutcome {
            ok: false,
            exit_code: Some(2),
            duration: Duration::from_millis(1500),
            stderr_tail: "boom\n".into(),
            ..ActionOutcome::default()
        };
        let action = Action::Exec(ExecAction {
            argv: vec!["true".into()],
            timeout: None,
            cwd: None,
            env: vec![],
        });
        let json = serde_json::to_value(Record::now(outcome.to_event(&action, &ctx))).unwrap();
        assert_eq!(json["event"], "action");
        assert_eq!(json["pane"], "%3");
        assert_eq!(json["label"], "test-1");
        assert_eq!(json["rule"], "build");
        assert_eq!(json["action"], "exec");
        assert_eq!(json["ok"], false);
        assert_eq!(json["exit_code"], 2);
        assert_eq!(json["duration_ms"], 1500.0);
        assert_eq!(json["stderr_tail"], "boom\n");
        assert!(json.get("stdout_tail").is_none());
        assert!(json.get("timed_out").is_none());
        assert!(json.get("signal").is_none());
    }
}
