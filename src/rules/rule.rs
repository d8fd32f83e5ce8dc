//! Validated rules: [`Rule`], [`PaneSelector`], [`Settings`], and the checks that
//! turn `file.rs`'s raw structs into them (pattern compiles, durations parse, actions
//! are known, names are unique), each failure pointing at its line and column.
//!
//! Neighbours: the matcher compiles `Rule::pattern`s into one DFA; the dispatcher
//! applies `pane`, `once`, `cooldown` and `prompt`, then runs `actions`.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;

use tmux_control_parser::PaneId;
use toml::{Spanned, Value};

use super::error::{RulesError, Source};
use super::file::{DurationText, RawAction, RawFile, RawRule, RawSettings};
use super::orchestration::{Checker, PaneSpec, Trigger};
use crate::action::{Action, ExecAction};

/// Daemon-wide knobs from the `[settings]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Lines kept per pane for `capture` and `--since` (default 50).
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
            ring_lines: 50,
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
    /// Which panes the rule watches.
    pub pane: PaneSelector,
    /// Fire at most once for the daemon's life.
    pub once: bool,
    /// Per pane: do not fire again within this time.
    pub cooldown: Option<Duration>,
    /// What to do, in order; never empty.
    pub actions: Vec<Action>,
    /// What makes it fire: output (the pattern), a pane exiting, or a named event.
    pub trigger: Trigger,
}

/// The pattern given to the matcher for rules that do not watch output: a NUL byte,
/// which the screen model never lets into a line, so it never matches.
pub const NEVER_PATTERN: &str = r"\x00";

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

/// Whether `text` matches `glob` (`*` any run of characters, `?` exactly one).
///
/// Iterative with a single backtrack point (the last `*`), so it runs in
/// O(glob × text) at worst, without allocating.
pub fn glob_match(glob: &str, text: &str) -> bool {
    let (glob, text) = (glob.as_bytes(), text.as_bytes());
    let (mut g, mut t) = (0, 0);
    // After a `*`: where in the glob to resume, and where in the text it started.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match glob.get(g) {
            Some(b'*') => {
                star = Some((g + 1, t));
                g += 1;
                continue;
            }
            Some(b'?') => {
                g += 1;
                t += utf8_len(text[t]);
                continue;
            }
            // Byte equality is character equality here: both sides are UTF-8
            // and `t` only ever stops on character boundaries.
            Some(&b) if b == text[t] => {
                g += 1;
                t += 1;
                continue;
            }
            _ => {}
        }
        match star {
            Some((resume, start)) => {
                // Let the last `*` swallow one more character and retry.
                let next = start + utf8_len(text[start]);
                star = Some((resume, next));
                g = resume;
                t = next;
            }
            None => return false,
        }
    }
    glob[g..].iter().all(|&b| b == b'*')
}

/// Length of the UTF-8 character starting with `lead`.
fn utf8_len(lead: u8) -> usize {
    match lead {
        0xF0.. => 4,
        0xE0.. => 3,
        0xC0.. => 2,
        _ => 1,
    }
}

/// Why a duration string was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurationError {
    text: String,
    reason: &'static str,
}

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid duration `{}`: {}; write whole numbers with a unit, such as `500ms`, `2s`, `1m` or `1h30m`",
            self.text, self.reason
        )
    }
}

impl std::error::Error for DurationError {}

/// Parses a duration such as `500ms`, `2s`, `1m`, `1h` or `1m30s`: one or more
/// whole numbers, each followed by a unit (`ms`, `s`, `m`, `h`).
///
/// # Errors
///
/// Empty text, a number without a unit, an unknown unit, a fraction, or a total
/// too large for a [`Duration`].
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let fail = |reason| DurationError { text: text.to_owned(), reason };
    if text.is_empty() {
        return Err(fail("it is empty"));
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(fail("expected a number"));
        }
        let number: u64 = rest[..digits].parse().map_err(|_| fail("the number is too large"))?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit_ms: u64 = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "" if rest.starts_with('.') => {
                return Err(fail("fractions are not supported, use a smaller unit"))
            }
            "" => return Err(fail("the number has no unit")),
            _ => return Err(fail("unknown unit, expected `ms`, `s`, `m` or `h`")),
        };
        rest = &rest[unit_len..];
        let part = number.checked_mul(unit_ms).ok_or_else(|| fail("it is too large"))?;
        total = total
            .checked_add(Duration::from_millis(part))
            .ok_or_else(|| fail("it is too large"))?;
    }
    Ok(total)
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
    for raw_rule in raw.rule {
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

/// The action kinds a table can have, for messages.
const ACTION_KINDS: &str = "`exec`, `log`, `spawn`, `close`, `send`, `emit`";

/// Keys an `exec` action table accepts, for messages.
const EXEC_KEYS: &str = "`exec`, `timeout`, `cwd`, `env`";

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
            raw.name.span(),
        )?;
        let pattern = match (&trigger, &raw.pattern) {
            (Trigger::Output, Some(p)) => {
                self.check_pattern(p)?;
                p.get_ref().clone()
            }
            (Trigger::Output, None) => {
                return Err(self.err(
                    raw.name.span(),
                    "rule has no `pattern`; add the regex to watch for, or `on = \"exit\"` / `on = \"event\"`".to_owned(),
                ))
            }
            (_, Some(p)) => {
                return Err(self.err(p.span(), "`pattern` only applies to output rules; remove it or drop `on`".to_owned()))
            }
            (_, None) => NEVER_PATTERN.to_owned(),
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
        Ok(Rule {
            name: self.name.to_owned(),
            pattern,
            prompt: raw.prompt,
            pane,
            once: raw.once,
            cooldown,
            actions,
            trigger,
        })
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
        let names = match crate::matcher::check_pattern(text) {
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
        // regex-syntax renders "regex parse error:\n    <pattern>\n    ^^^\nerror: <what>".
        let rendered = syntax.to_string();
        let what = rendered
            .lines()
            .find_map(|line| line.strip_prefix("error: "))
            .unwrap_or("syntax error");
        let column = rendered
            .lines()
            .find(|line| line.trim_start().starts_with('^'))
            .and_then(|carets| carets.chars().position(|c| c == '^'))
            .and_then(|position| position.checked_sub(4));
        let raw = self.source.text.get(span.start + 1..span.end.saturating_sub(1));
        let at = match column {
            // Quoted verbatim: a character offset into the pattern is one in the file.
            Some(column) if raw == Some(pattern.get_ref().as_str()) => {
                let offset: usize =
                    pattern.get_ref().chars().take(column).map(char::len_utf8).sum::<usize>()
                        + span.start
                        + 1;
                offset..offset
            }
            _ => span,
        };
        self.err(at, format!("invalid pattern: {what}"))
    }

    fn check_action(&self, action: &Spanned<RawAction>) -> Result<Action, RulesError> {
        match action.get_ref() {
            RawAction::Name(name) => match name.as_str() {
                "log" => Ok(Action::Log),
                "spawn" | "close" | "send" | "emit" => Err(self.err(
                    action.span(),
                    format!(
                        "`{name}` needs a value; write it as a table, e.g. `{{ {name} = ... }}`"
                    ),
                )),
                "exec" => Err(self.err(
                    action.span(),
                    "`exec` needs an argv; write `{ exec = [\"program\", \"arg\"] }`".to_owned(),
                )),
                other => Err(self.err(
                    action.span(),
                    format!("unknown action `{other}`, expected one of {ACTION_KINDS}"),
                )),
            },
            RawAction::Table(entries) => self.check_action_table(action.span(), entries),
        }
    }

    fn check_action_table(
        &self,
        span: Range<usize>,
        entries: &[(Spanned<String>, Spanned<Value>)],
    ) -> Result<Action, RulesError> {
        let is_kind =
            |key: &str| matches!(key, "exec" | "log" | "spawn" | "close" | "send" | "emit");
        let mut kinds = entries.iter().filter(|(key, _)| is_kind(key.get_ref()));
        let Some((kind, value)) = kinds.next() else {
            let option = |key: &str| matches!(key, "timeout" | "cwd" | "env");
            return Err(match entries.iter().find(|(key, _)| !option(key.get_ref())) {
                Some((key, _)) => self.err(
                    key.span(),
                    format!("unknown action `{}`, expected one of {ACTION_KINDS}", key.get_ref()),
                ),
                None => self.err(span, format!("action has no kind; add one of {ACTION_KINDS}")),
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
        let options = entries.iter().filter(|(key, _)| !is_kind(key.get_ref()));
        let kind_name = kind.get_ref().as_str();
        if matches!(kind_name, "spawn" | "close" | "send" | "emit") {
            if let Some((key, _)) = options.clone().next() {
                return Err(self.err(
                    key.span(),
                    format!("unknown field `{}` beside `{kind_name}`; put its options inside the {kind_name} value", key.get_ref()),
                ));
            }
        }
        match kind_name {
            "exec" => self.check_exec(value, options).map(Action::Exec),
            "spawn" => self.orchestration().spawn_action(value).map(Action::Spawn),
            "send" => self.orchestration().send_action(value).map(Action::Send),
            "close" => self.orchestration().name_action(value, "close").map(Action::Close),
            "emit" => self.orchestration().name_action(value, "emit").map(Action::Emit),
            _ => {
                if value.get_ref().as_bool() != Some(true) {
                    return Err(self.err(
                        value.span(),
                        "`log` takes `true`; write `{ log = true }` or `\"log\"`, or remove the action".to_owned(),
                    ));
                }
                match entries.iter().find(|(key, _)| key.get_ref() != "log") {
                    Some((key, _)) => Err(self.err(
                        key.span(),
                        format!(
                            "unknown field `{}` in log action; `log` takes no options",
                            key.get_ref()
                        ),
                    )),
                    None => Ok(Action::Log),
                }
            }
        }
    }

    fn check_exec<'e>(
        &self,
        argv: &Spanned<Value>,
        options: impl Iterator<Item = &'e (Spanned<String>, Spanned<Value>)>,
    ) -> Result<ExecAction, RulesError> {
        let mut exec =
            ExecAction { argv: self.check_argv(argv)?, timeout: None, cwd: None, env: Vec::new() };
        for (key, value) in options {
            match key.get_ref().as_str() {
                "timeout" => {
                    let text = self.string(value, "timeout", "a duration such as \"10s\"")?;
                    let text = Spanned::new(value.span(), DurationText(text.to_owned()));
                    exec.timeout =
                        Some(positive_duration(self.source, Some(self.name), &text, "timeout")?);
                }
                "cwd" => {
                    let dir = self.string(value, "cwd", "a directory path")?;
                    if dir.is_empty() || dir.contains('\0') {
                        return Err(self.err(
                            value.span(),
                            "`cwd` must be a non-empty path without NUL".to_owned(),
                        ));
                    }
                    exec.cwd = Some(PathBuf::from(dir));
                }
                "env" => exec.env = self.check_env(value)?,
                other => {
                    return Err(self.err(
                        key.span(),
                        format!(
                            "unknown field `{other}` in exec action, expected one of {EXEC_KEYS}"
                        ),
                    ))
                }
            }
        }
        Ok(exec)
    }

    fn check_argv(&self, value: &Spanned<Value>) -> Result<Vec<String>, RulesError> {
        let span = value.span();
        let Value::Array(items) = value.get_ref() else {
            return Err(self.err(
                span,
                format!(
                    "`exec` takes an argv array such as [\"./script.sh\", \"--flag\"], found {}; \
                     it is never split into words or run by a shell",
                    value.get_ref().type_str()
                ),
            ));
        };
        let mut argv = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            match item.as_str() {
                Some(arg) if arg.contains('\0') => {
                    return Err(self.err(
                        span,
                        format!("`exec` argument {index} contains a NUL byte; remove it"),
                    ));
                }
                Some(arg) => argv.push(arg.to_owned()),
                None => {
                    return Err(self.err(
                        span,
                        format!(
                            "`exec` argument {index} is {}, not a string; quote it",
                            item.type_str()
                        ),
                    ));
                }
            }
        }
        match argv.first().map(String::as_str) {
            None => Err(self.err(
                span,
                "`exec` argv is empty; name the program to run and its arguments".to_owned(),
            )),
            Some("") => Err(self.err(
                span,
                "`exec` program (argument 0) is empty; name the program to run".to_owned(),
            )),
            Some(_) => Ok(argv),
        }
    }

    /// `env = { NAME = "value" }`: names usable as environment variables and not
    /// in the reserved `CTMUX_` namespace, string values.
    fn check_env(&self, value: &Spanned<Value>) -> Result<Vec<(String, String)>, RulesError> {
        let span = value.span();
        let Value::Table(table) = value.get_ref() else {
            return Err(self.err(
                span,
                format!(
                    "`env` takes a table such as {{ NAME = \"value\" }}, found {}",
                    value.get_ref().type_str()
                ),
            ));
        };
        let mut env = Vec::with_capacity(table.len());
        for (name, item) in table {
            let valid_name = !name.is_empty()
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !valid_name {
                return Err(self.err(
                    span,
                    format!("`env` name `{name}` is not a valid variable name; use letters, digits and `_`"),
                ));
            }
            if name.starts_with("CTMUX_") {
                return Err(self.err(
                    span,
                    format!("`env` name `{name}` is reserved: CTMUX_* variables describe the match; rename it"),
                ));
            }
            match item.as_str() {
                Some(text) if !text.contains('\0') => env.push((name.clone(), text.to_owned())),
                Some(_) => {
                    return Err(self.err(
                        span,
                        format!("`env` value of `{name}` contains a NUL byte; remove it"),
                    ))
                }
                None => {
                    return Err(self.err(
                        span,
                        format!(
                            "`env` value of `{name}` is {}, not a string; quote it",
                            item.type_str()
                        ),
                    ))
                }
            }
        }
        Ok(env)
    }

    /// The string in `value`, or an error saying `key` takes `what`.
    fn string<'v>(
        &self,
        value: &'v Spanned<Value>,
        key: &str,
        what: &str,
    ) -> Result<&'v str, RulesError> {
        value.get_ref().as_str().ok_or_else(|| {
            self.err(
                value.span(),
                format!("`{key}` takes {what}, found {}", value.get_ref().type_str()),
            )
        })
    }
}
