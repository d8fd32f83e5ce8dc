//! Validated rules: [`Rule`], [`PaneSelector`], [`Settings`], and the checks that
//! turn `file.rs`'s raw structs into them (pattern compiles, durations parse, actions
//! are known, names are unique), each failure pointing at its line and column.
//!
//! Neighbours: the matcher compiles `Rule::pattern`s into one DFA; the dispatcher
//! applies `pane`, `once`, `cooldown` and `prompt`, then runs `actions`.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::time::Duration;

use tmux_control_parser::PaneId;
use toml::{Spanned, Value};

use super::condition::{self, Condition};
use super::error::{RulesError, Source};
use super::file::{DurationText, RawAction, RawFile, RawRule, RawSettings};
use super::orchestration::{Checker, PaneSpec, Trigger};
use crate::action::duration::parse_duration;
use crate::action::{Action, ActionTable};
use crate::glob::glob_match;

/// Daemon-wide knobs from the `[settings]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Lines kept per pane for `capture` and `--since` (default 1000).
    pub ring_lines: usize,
    /// Cap on `exec` actions running at once (default 8).
    pub max_concurrent_actions: usize,
    /// Timeout for `exec` actions that set none (default 60 s).
    pub default_timeout: Duration,
    /// Session where spawned panes go (default: the triggering pane's session, or
    /// the first watched session for `[[pane]]` entries).
    pub session: Option<String>,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            ring_lines: 1000,
            max_concurrent_actions: 8,
            default_timeout: Duration::from_secs(60),
            session: None,
        }
    }
}

/// Upper bound for `ring_lines`: each pane keeps this many lines in memory.
pub const MAX_RING_LINES: usize = 100_000;

/// Upper bound for `max_concurrent_actions`.
pub const MAX_CONCURRENT_ACTIONS: usize = 1024;

/// One validated `[[rule]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Unique, non-empty name; `CTMUX_RULE` and the event log use it.
    pub name: String,
    /// Regex (regex-automata syntax) known to compile, without line breaks, whose
    /// named groups are valid environment variable suffixes.
    pub pattern: String,
    /// May match the line still being written (`Password:`, `>>> `), not only
    /// completed lines.
    pub prompt: bool,
    /// Match the rows on the pane's screen (after each burst of output) instead of the
    /// lines it prints: fires when a match appears on screen, not again while it stays.
    pub screen: bool,
    /// Which lines of a shell with integration the rule sees (see [`LineSource`]).
    pub source: LineSource,
    /// Which panes the rule watches.
    pub pane: PaneSelector,
    /// Only panes of this server (a `[[server]]` name); `None`: every server's.
    pub server: Option<String>,
    /// Fire at most once for the daemon's life.
    pub once: bool,
    /// Per pane: do not fire again within this time.
    pub cooldown: Option<Duration>,
    /// What to do, in order; never empty.
    pub actions: Vec<Action>,
    /// What makes it fire: output (the pattern), a pane exiting, or a named event.
    pub trigger: Trigger,
    /// A condition on time or on several rules and panes (`silence`, `all`, `count`, ...)
    /// that decides when it fires instead of every matching line.
    pub condition: Option<Condition>,
    /// What to do when an `all` with `within` times out (empty otherwise).
    pub timeout_actions: Vec<Action>,
}

/// The pattern given to the matcher for rules that do not watch output: a NUL byte,
/// which the screen model never lets into a line, so it never matches.
pub const NEVER_PATTERN: &str = r"\x00";

/// Which lines of a pane whose shell has integration (`ctmuxd shell-init`) a line rule
/// sees. In panes without integration every line is seen, whatever the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LineSource {
    /// Every line but the command lines typed at a prompt (no `source` key): a trigger
    /// typed into the shell does not fire, its output does.
    #[default]
    NotTyped,
    /// Only what commands printed, between their start and end marks (`"output"`).
    Output,
    /// Every line, typed command lines included (`"all"`).
    All,
}

/// Which panes a rule watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaneSelector {
    /// Every pane (no `pane` key, or `pane = "*"`).
    All,
    /// One pane by id (`pane = "%3"`).
    Id(PaneId),
    /// Panes whose label matches this glob (`*` any run of characters, `?` one
    /// character); unlabelled panes never match.
    Label(String),
}

impl PaneSelector {
    /// Whether a pane with this id and label is watched.
    pub fn matches(&self, pane: PaneId, label: Option<&str>) -> bool {
        match self {
            PaneSelector::All => true,
            PaneSelector::Id(id) => *id == pane,
            PaneSelector::Label(glob) => label.is_some_and(|label| glob_match(glob, label)),
        }
    }

    /// Parses a `pane` value: `*`, a pane id such as `%3`, or a label glob.
    ///
    /// # Errors
    ///
    /// An empty selector, or one starting with `%` that is not a pane id; the
    /// message says what to write instead.
    pub fn parse(text: &str) -> Result<PaneSelector, String> {
        if text.is_empty() {
            Err("pane selector is empty; write a label, a glob such as `test-*`, or a pane id such as `%3`".to_owned())
        } else if text == "*" {
            Ok(PaneSelector::All)
        } else if text.starts_with('%') {
            text.parse().map(PaneSelector::Id).map_err(|_| {
                format!(
                    "invalid pane id `{text}`; a pane id is `%` followed by digits, such as `%3`"
                )
            })
        } else {
            Ok(PaneSelector::Label(text.to_owned()))
        }
    }
}

impl fmt::Display for PaneSelector {
    /// The selector as it would be written in the rules file.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PaneSelector::All => f.write_str("*"),
            PaneSelector::Id(id) => write!(f, "{id}"),
            PaneSelector::Label(glob) => f.write_str(glob),
        }
    }
}

/// Turns the raw file into settings and rules.
///
/// # Errors
///
/// The first invalid setting or rule, at its position.
pub(super) fn validate(
    raw: RawFile,
    source: Source<'_>,
) -> Result<(Settings, Vec<Rule>, Vec<PaneSpec>), RulesError> {
    let settings = match raw.settings {
        Some(settings) => validate_settings(settings, source)?,
        None => Settings::default(),
    };
    let mut first_line: HashMap<String, usize> = HashMap::new();
    let mut rules = Vec::with_capacity(raw.rule.len());
    let declared: Vec<&str> =
        raw.server.iter().map(|s| s.get_ref().name.get_ref().as_str()).collect();
    for raw_rule in &raw.rule {
        if let (false, Some(server)) = (declared.is_empty(), &raw_rule.get_ref().server) {
            if !declared.contains(&server.get_ref().as_str()) {
                return Err(source.invalid(
                    server.span(),
                    Some(raw_rule.get_ref().name.get_ref()),
                    format!(
                        "`server` {:?} is not declared; the [[server]] entries are: {}",
                        server.get_ref(),
                        declared.join(", ")
                    ),
                ));
            }
        }
    }
    // Where each rule's `all`/`any` names are written, checked once every rule is known.
    let mut part_spans: Vec<Vec<Range<usize>>> = Vec::with_capacity(raw.rule.len());
    for raw_rule in raw.rule {
        let named = raw_rule.get_ref().all.as_ref().or(raw_rule.get_ref().any.as_ref());
        part_spans.push(
            named.map(|l| l.get_ref().iter().map(Spanned::span).collect()).unwrap_or_default(),
        );
        let table_start = raw_rule.span().start;
        let rule = RuleChecker { source, name: raw_rule.get_ref().name.get_ref() }
            .check(raw_rule.get_ref())?;
        let (line, _) = source.line_col(table_start);
        if let Some(first) = first_line.get(&rule.name) {
            return Err(source.invalid(
                table_start..table_start,
                Some(&rule.name),
                format!("duplicate rule name, already used by the rule on line {first}; give each rule a unique name"),
            ));
        }
        first_line.insert(rule.name.clone(), line);
        rules.push(rule);
    }
    condition::check_parts(source, &rules, &part_spans)?;
    let panes = Checker { source, rule: None }.panes(&raw.pane)?;
    Ok((settings, rules, panes))
}

fn validate_settings(raw: RawSettings, source: Source<'_>) -> Result<Settings, RulesError> {
    let mut settings = Settings::default();
    let in_range = |value: &Spanned<usize>, key: &str, max: usize| {
        let n = *value.get_ref();
        if (1..=max).contains(&n) {
            Ok(n)
        } else {
            Err(source.invalid(
                value.span(),
                None,
                format!("`{key}` is {n}; use a number from 1 to {max}"),
            ))
        }
    };
    if let Some(value) = &raw.ring_lines {
        settings.ring_lines = in_range(value, "ring_lines", MAX_RING_LINES)?;
    }
    if let Some(value) = &raw.max_concurrent_actions {
        settings.max_concurrent_actions =
            in_range(value, "max_concurrent_actions", MAX_CONCURRENT_ACTIONS)?;
    }
    if let Some(value) = &raw.default_timeout {
        settings.default_timeout = positive_duration(source, None, value, "default_timeout")?;
    }
    if let Some(value) = &raw.session {
        settings.session = Some(value.get_ref().clone());
    }
    Ok(settings)
}

/// Parses a duration value that must be greater than zero.
fn positive_duration(
    source: Source<'_>,
    rule: Option<&str>,
    value: &Spanned<DurationText>,
    key: &str,
) -> Result<Duration, RulesError> {
    let duration = duration_at(source, rule, value.span(), &value.get_ref().0)?;
    if duration.is_zero() {
        return Err(source.invalid(
            value.span(),
            rule,
            format!("`{key}` must be greater than zero"),
        ));
    }
    Ok(duration)
}

fn duration_at(
    source: Source<'_>,
    rule: Option<&str>,
    span: Range<usize>,
    text: &str,
) -> Result<Duration, RulesError> {
    parse_duration(text).map_err(|err| source.invalid(span, rule, err.to_string()))
}

/// Checks one rule; every error names it.
struct RuleChecker<'a> {
    source: Source<'a>,
    name: &'a str,
}

impl RuleChecker<'_> {
    fn err(&self, span: Range<usize>, message: String) -> RulesError {
        self.source.invalid(span, Some(self.name), message)
    }

    fn check(&self, raw: &RawRule) -> Result<Rule, RulesError> {
        if self.name.trim().is_empty() {
            return Err(self.err(
                raw.name.span(),
                "rule name is empty; give every rule a unique name".to_owned(),
            ));
        }
        let trigger = self.orchestration().trigger(
            raw.on.as_ref(),
            raw.status.as_ref(),
            raw.event.as_ref(),
            raw.cmdline.as_ref(),
            raw.name.span(),
        )?;
        let condition = condition::check(self.source, self.name, raw)?;
        if let Some(Condition::Sequence { .. }) = &condition {
            for step in raw.sequence.iter().flat_map(|s| s.get_ref()) {
                self.check_pattern(step)?;
            }
        }
        let pattern = match (&trigger, &raw.pattern) {
            _ if condition.as_ref().is_some_and(Condition::patternless) => condition
                .as_ref()
                .and_then(condition::matcher_pattern)
                .unwrap_or_else(|| NEVER_PATTERN.to_owned()),
            (Trigger::Output, Some(p)) => {
                self.check_pattern(p)?;
                p.get_ref().clone()
            }
            (Trigger::Output, None) => {
                return Err(self.err(
                    raw.name.span(),
                    "rule has no `pattern`; add the regex to watch for, or `on = \"exit\"` / `on = \"command\"` / `on = \"event\"`".to_owned(),
                ))
            }
            (_, Some(p)) => {
                return Err(self.err(p.span(), "`pattern` only applies to output rules; remove it or drop `on`".to_owned()))
            }
            (_, None) => NEVER_PATTERN.to_owned(),
        };
        let screen = match &raw.screen {
            Some(flag) if *flag.get_ref() && trigger != Trigger::Output => {
                return Err(self.err(
                    flag.span(),
                    "`screen` only applies to output rules; remove it or drop `on`".to_owned(),
                ))
            }
            Some(flag) if *flag.get_ref() && raw.prompt => {
                return Err(self.err(
                    flag.span(),
                    "`screen` and `prompt` do not go together: the screen already shows the line being written; remove `prompt`".to_owned(),
                ))
            }
            Some(flag) => *flag.get_ref(),
            None => false,
        };
        let source = match &raw.source {
            None => LineSource::default(),
            Some(s) if screen || trigger != Trigger::Output => {
                return Err(self.err(
                    s.span(),
                    "`source` applies to rules on printed lines; remove it".to_owned(),
                ))
            }
            Some(s) => match s.get_ref().as_str() {
                "output" => LineSource::Output,
                "all" => LineSource::All,
                other => {
                    return Err(self.err(
                        s.span(),
                        format!("`source` is \"output\" or \"all\", not {other:?}"),
                    ))
                }
            },
        };
        let pane = match &raw.pane {
            Some(pane) => PaneSelector::parse(pane.get_ref())
                .map_err(|message| self.err(pane.span(), message))?,
            None => PaneSelector::All,
        };
        let cooldown = match &raw.cooldown {
            Some(value) => {
                Some(duration_at(self.source, Some(self.name), value.span(), &value.get_ref().0)?)
            }
            None => None,
        };
        if raw.actions.get_ref().is_empty() {
            return Err(self.err(
                raw.actions.span(),
                "rule has no actions; add one, such as `{ exec = [\"./script.sh\"] }` or `\"log\"`"
                    .to_owned(),
            ));
        }
        let actions = raw
            .actions
            .get_ref()
            .iter()
            .map(|action| self.check_action(action))
            .collect::<Result<_, _>>()?;
        let timeout_actions = match &raw.timeout_actions {
            Some(list) if list.get_ref().is_empty() => {
                return Err(self.err(
                    list.span(),
                    "`timeout_actions` is empty; add an action or remove it".to_owned(),
                ))
            }
            Some(list) => {
                list.get_ref().iter().map(|a| self.check_action(a)).collect::<Result<_, _>>()?
            }
            None => Vec::new(),
        };
        Ok(Rule {
            condition,
            timeout_actions,
            name: self.name.to_owned(),
            pattern,
            prompt: raw.prompt,
            screen,
            source,
            pane,
            server: self.server(raw.server.as_ref())?,
            once: raw.once,
            cooldown,
            actions,
            trigger,
        })
    }

    /// The rule's `server`: a valid server name (whether it is declared is checked by
    /// [`validate`] against the `[[server]]` entries, or at start against the flags).
    fn server(&self, server: Option<&Spanned<String>>) -> Result<Option<String>, RulesError> {
        let Some(server) = server else { return Ok(None) };
        if !super::servers::valid_name(server.get_ref()) {
            return Err(self.err(
                server.span(),
                format!(
                    "`server` {:?} is not a server name; use the `name` of a [[server]] entry",
                    server.get_ref()
                ),
            ));
        }
        Ok(Some(server.get_ref().clone()))
    }

    fn orchestration(&self) -> Checker<'_> {
        Checker { source: self.source, rule: Some(self.name) }
    }

    /// The pattern parses, has no line break and only env-safe group names.
    fn check_pattern(&self, pattern: &Spanned<String>) -> Result<(), RulesError> {
        let (text, span) = (pattern.get_ref(), pattern.span());
        if text.is_empty() {
            return Err(self.err(
                span,
                "pattern is empty; write the text to match, or `^` to match every line".to_owned(),
            ));
        }
        if text.contains(['\n', '\r']) {
            return Err(self.err(
                span,
                "pattern contains a line break; lines are matched one at a time, so remove it"
                    .to_owned(),
            ));
        }
        // PERF: a syntax check, no automaton: a `meta::Regex` each made 2,000 rules
        // with `\w` take 1.7 s to load. Size is checked when the matcher is built.
        let names = match ctmuxd_text::matcher::check_pattern(text) {
            Ok(names) => names,
            Err(err) => return Err(self.pattern_error(pattern, &err)),
        };
        for name in &names {
            if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(self.err(
                    span,
                    format!(
                        "capture group name `{name}` cannot be part of the environment variable \
                         CTMUX_CAP_{name}; use only letters, digits and `_`"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// "invalid pattern: <what>", pointing at the offending character when the
    /// pattern is written without escapes (so file columns map to pattern columns).
    fn pattern_error(&self, pattern: &Spanned<String>, syntax: &regex_syntax::Error) -> RulesError {
        let span = pattern.span();
        // Where and what, from the parser's own error (its span's offset is a byte offset
        // into the pattern), not from its rendered message.
        let (what, offset) = match syntax {
            regex_syntax::Error::Parse(e) => (e.kind().to_string(), Some(e.span().start.offset)),
            regex_syntax::Error::Translate(e) => {
                (e.kind().to_string(), Some(e.span().start.offset))
            }
            other => (other.to_string(), None),
        };
        let raw = self.source.text.get(span.start + 1..span.end.saturating_sub(1));
        let at = match offset {
            // Quoted verbatim: a byte offset into the pattern is one into the file.
            Some(offset) if raw == Some(pattern.get_ref().as_str()) => {
                let at = span.start + 1 + offset;
                at..at
            }
            _ => span,
        };
        self.err(at, format!("invalid pattern: {what}"))
    }

    /// One entry of `actions`: a bare kind name or a table with one kind key, read by
    /// that kind ([`Action::parse_bare`], [`Action::parse_table`]).
    fn check_action(&self, action: &Spanned<RawAction>) -> Result<Action, RulesError> {
        match action.get_ref() {
            RawAction::Name(name) => Action::parse_bare(name, action.span())
                .ok_or_else(|| {
                    self.err(
                        action.span(),
                        format!("unknown action `{name}`, expected one of {}", kinds_list()),
                    )
                })?
                .map_err(|err| self.source.action(err, Some(self.name))),
            RawAction::Table(entries) => self.check_action_table(&action.span(), entries),
        }
    }

    /// The table's one kind key, handed to that kind with the table.
    fn check_action_table(
        &self,
        span: &Range<usize>,
        entries: &[(Spanned<String>, Spanned<Value>)],
    ) -> Result<Action, RulesError> {
        let is_kind = |key: &str| Action::KINDS.contains(&key);
        let mut kinds = entries.iter().filter(|(key, _)| is_kind(key.get_ref()));
        let Some((kind, value)) = kinds.next() else {
            return Err(match entries.iter().find(|(key, _)| !Action::is_option(key.get_ref())) {
                Some((key, _)) => self.err(
                    key.span(),
                    format!("unknown action `{}`, expected one of {}", key.get_ref(), kinds_list()),
                ),
                None => self
                    .err(span.clone(), format!("action has no kind; add one of {}", kinds_list())),
            });
        };
        if let Some((second, _)) = kinds.next() {
            return Err(self.err(
                second.span(),
                format!(
                    "an action has exactly one kind, this one has both `{}` and `{}`; split it into two actions",
                    kind.get_ref(),
                    second.get_ref()
                ),
            ));
        }
        let table = ActionTable { value, entries };
        Action::parse_table(kind.get_ref(), &table)
            .expect("a registered kind")
            .map_err(|err| self.source.action(err, Some(self.name)))
    }
}

/// The action kinds, for messages: "`exec`, `log`, ...".
fn kinds_list() -> String {
    Action::KINDS.iter().map(|kind| format!("`{kind}`")).collect::<Vec<_>>().join(", ")
}
