//! Rules file tests: the documented shapes parse into the expected values, and each
//! kind of mistake is refused with the exact file:line:column and rule.

use std::path::Path;
use std::time::Duration;

use tmux_control_parser::PaneId;

use super::*;

fn ok(text: &str) -> RuleSet {
    parse(text, Path::new("rules.toml")).unwrap_or_else(|err| panic!("refused: {err}"))
}

fn refused(text: &str) -> RulesError {
    match parse(text, Path::new("rules.toml")) {
        Ok(set) => panic!("accepted: {set:?}"),
        Err(err) => err,
    }
}

/// Asserts the whole message, and that the accessors agree with it.
#[track_caller]
fn assert_refused(
    text: &str,
    kind: RulesErrorKind,
    line_col: (usize, usize),
    rule: Option<&str>,
    expected: &str,
) {
    let err = refused(text);
    assert_eq!(err.to_string(), expected);
    assert_eq!(err.line_col(), Some(line_col), "{err}");
    assert_eq!(err.rule(), rule, "{err}");
    assert_eq!(err.kind(), kind, "{err}");
    assert_eq!(err.path(), Path::new("rules.toml"));
    assert!(!expected.ends_with('.'));
}

/// A one-rule file with `extra` lines added to the rule table.
fn rule_with(extra: &str) -> String {
    format!("[[rule]]\nname = \"build\"\npattern = 'x'\n{extra}\n")
}

const BUILD: &str = r#"
[[rule]]
name = "build"
pattern = 'TRIGGER: START_BUILD (?P<id>\S+)'
actions = [ { exec = ["./scripts/on-build.sh", "--fast"] } ]
"#;

#[test]
fn the_documented_minimal_rule_parses_with_defaults() {
    let set = ok(BUILD);
    assert_eq!(set.path, Path::new("rules.toml"));
    assert_eq!(set.settings, Settings::default());
    assert_eq!(set.settings.default_timeout, Duration::from_secs(60));
    assert_eq!(
        set.rules,
        [Rule {
            name: "build".into(),
            pattern: r"TRIGGER: START_BUILD (?P<id>\S+)".into(),
            prompt: false,
            screen: false,
            source: crate::rules::LineSource::NotTyped,
            pane: PaneSelector::All,
            server: None,
            once: false,
            cooldown: None,
            actions: vec![Action::Exec(ExecAction {
                argv: vec!["./scripts/on-build.sh".into(), "--fast".into()],
                timeout: None,
                cwd: None,
                env: vec![],
            })],
            trigger: crate::rules::Trigger::Output,
            condition: None,
            timeout_actions: vec![],
        }]
    );
    assert!(set.get("build").is_some());
    assert!(set.get("nope").is_none());
}

#[test]
fn every_option_parses() {
    let set = ok(r#"
[settings]
ring_lines = 200
max_concurrent_actions = 2
default_timeout = "1m30s"

[[rule]]
name = "tests"
pattern = 'FAILED (?P<test>\w+)'
pane = "test-*"
once = true
cooldown = "500ms"
prompt = true
actions = [
  { exec = ["notify", "$CTMUX_CAP_test"], timeout = "10s", cwd = "/tmp", env = { LEVEL = "high", B = "2" } },
  "log",
  { log = true },
]

[[rule]]
name = "pane3"
pattern = 'x'
pane = "%3"
actions = ["log"]

[[rule]]
name = "star"
pattern = 'y'
pane = "*"
actions = ["log"]
"#);
    assert_eq!(
        set.settings,
        Settings {
            ring_lines: 200,
            max_concurrent_actions: 2,
            default_timeout: Duration::from_secs(90),
            session: None,
        }
    );
    let rule = &set.rules[0];
    assert_eq!(rule.pane, PaneSelector::Label("test-*".into()));
    assert!(rule.once && rule.prompt);
    assert_eq!(rule.cooldown, Some(Duration::from_millis(500)));
    assert_eq!(
        rule.actions,
        [
            Action::Exec(ExecAction {
                argv: vec!["notify".into(), "$CTMUX_CAP_test".into()],
                timeout: Some(Duration::from_secs(10)),
                cwd: Some("/tmp".into()),
                env: vec![("B".into(), "2".into()), ("LEVEL".into(), "high".into())],
            }),
            Action::Log(LogAction),
            Action::Log(LogAction),
        ]
    );
    assert_eq!(set.rules[1].pane, PaneSelector::Id(PaneId(3)));
    assert_eq!(set.rules[2].pane, PaneSelector::All);
}

#[test]
fn a_file_without_rules_is_valid() {
    assert!(ok("").rules.is_empty());
    assert_eq!(ok("[settings]\nring_lines = 10\n").settings.ring_lines, 10);
}

// ---- toml shape mistakes: position from toml's span, rule found around it ----

#[test]
fn syntax_error_points_at_the_broken_string() {
    assert_refused(
        "[[rule]]\nname = \"build\npattern = 'x'\n",
        RulesErrorKind::Syntax,
        (2, 14),
        None,
        "rules.toml:2:14: invalid basic string",
    );
}

#[test]
fn wrong_type_names_rule_and_expected_type() {
    assert_refused(
        &rule_with("once = \"yes\"\nactions = [\"log\"]"),
        RulesErrorKind::Syntax,
        (4, 8),
        Some("build"),
        "rules.toml:4:8: rule `build`: invalid type: string \"yes\", expected a boolean",
    );
}

#[test]
fn unknown_field_is_pointed_at_and_the_known_ones_listed() {
    assert_refused(
        "[[rule]]\nname = \"build\"\npatern = 'x'\nactions = [\"log\"]\n",
        RulesErrorKind::Syntax,
        (3, 1),
        Some("build"),
        "rules.toml:3:1: rule `build`: unknown field `patern`, expected one of `name`, `pattern`, \
         `on`, `status`, `event`, `cmdline`, `pane`, `server`, `once`, `cooldown`, `prompt`, `screen`, `source`, `actions`, \
         `silence`, `at_prompt_for`, `all`, `any`, `count`, `sequence`, `within`, `per`, `timeout_actions`",
    );
}

#[test]
fn unknown_top_level_table_is_refused() {
    assert_refused(
        "[[rules]]\nname = \"build\"\n",
        RulesErrorKind::Syntax,
        (1, 3),
        None,
        "rules.toml:1:3: unknown field `rules`, expected one of `settings`, `rule`, `pane`, `server`",
    );
}

#[test]
fn missing_field_points_at_the_rule_table() {
    assert_refused(
        "[[rule]]\nname = \"a\"\npattern = 'x'\nactions = [\"log\"]\n\n[[rule]]\nname = \"build\"\npattern = 'x'\n",
        RulesErrorKind::Syntax,
        (6, 1),
        Some("build"),
        "rules.toml:6:1: rule `build`: missing field `actions`; add it to this table",
    );
}

#[test]
fn integer_duration_asks_for_a_unit() {
    assert_refused(
        &rule_with("cooldown = 500\nactions = [\"log\"]"),
        RulesErrorKind::Syntax,
        (4, 12),
        Some("build"),
        "rules.toml:4:12: rule `build`: invalid type: integer `500`, expected a duration string with a unit, \
         such as \"500ms\", \"2s\" or \"1m\"",
    );
}

#[test]
fn unknown_settings_key_is_refused() {
    assert_refused(
        "[settings]\nring_line = 5\n",
        RulesErrorKind::Syntax,
        (2, 1),
        None,
        "rules.toml:2:1: unknown field `ring_line`, expected one of `ring_lines`, `max_concurrent_actions`, \
         `default_timeout`, `session`",
    );
}

// ---- meaning mistakes: exact position of the value, rule by name ----

#[test]
fn invalid_regex_points_at_the_offending_character() {
    // `(` is the 17th character of the line: `pattern = 'START (unclosed'`.
    assert_refused(
        "[[rule]]\nname = \"build\"\npattern = 'START (unclosed'\nactions = [\"log\"]\n",
        RulesErrorKind::Invalid,
        (3, 18),
        Some("build"),
        "rules.toml:3:18: rule `build`: invalid pattern: unclosed group",
    );
}

#[test]
fn invalid_regex_with_escapes_points_at_the_value() {
    // A basic string's escapes shift columns, so the value itself is pointed at.
    assert_refused(
        "[[rule]]\nname = \"build\"\npattern = \"\\\\d{2,1}\"\nactions = [\"log\"]\n",
        RulesErrorKind::Invalid,
        (3, 11),
        Some("build"),
        "rules.toml:3:11: rule `build`: invalid pattern: invalid repetition count range, the start must be <= the end",
    );
}

#[test]
fn pattern_with_a_newline_is_refused() {
    assert_refused(
        "[[rule]]\nname = \"build\"\npattern = \"a\\nb\"\nactions = [\"log\"]\n",
        RulesErrorKind::Invalid,
        (3, 11),
        Some("build"),
        "rules.toml:3:11: rule `build`: pattern contains a line break; lines are matched one at a time, so remove it",
    );
}

#[test]
fn empty_pattern_is_refused() {
    assert_refused(
        "[[rule]]\nname = \"build\"\npattern = ''\nactions = [\"log\"]\n",
        RulesErrorKind::Invalid,
        (3, 11),
        Some("build"),
        "rules.toml:3:11: rule `build`: pattern is empty; write the text to match, or `^` to match every line",
    );
}

#[test]
fn capture_name_unusable_in_env_is_refused() {
    assert_refused(
        "[[rule]]\nname = \"build\"\npattern = '(?P<a.b>x)'\nactions = [\"log\"]\n",
        RulesErrorKind::Invalid,
        (3, 11),
        Some("build"),
        "rules.toml:3:11: rule `build`: capture group name `a.b` cannot be part of the environment variable \
         CTMUX_CAP_a.b; use only letters, digits and `_`",
    );
}

#[test]
fn unknown_action_key_is_pointed_at() {
    assert_refused(
        &rule_with("actions = [ \"log\", { exc = [\"./x\"] } ]"),
        RulesErrorKind::Invalid,
        (4, 22),
        Some("build"),
        "rules.toml:4:22: rule `build`: unknown action `exc`, expected one of `exec`, `log`, `spawn`, `close`, `send`, `emit`",
    );
}

#[test]
fn unknown_action_name_is_pointed_at() {
    assert_refused(
        &rule_with("actions = [\"frobnicate\"]"),
        RulesErrorKind::Invalid,
        (4, 12),
        Some("build"),
        "rules.toml:4:12: rule `build`: unknown action `frobnicate`, expected one of `exec`, `log`, `spawn`, `close`, `send`, `emit`",
    );
}

#[test]
fn bad_duration_names_rule_and_says_the_format() {
    assert_refused(
        &rule_with("cooldown = \"2x\"\nactions = [\"log\"]"),
        RulesErrorKind::Invalid,
        (4, 12),
        Some("build"),
        "rules.toml:4:12: rule `build`: invalid duration `2x`: unknown unit, expected `ms`, `s`, `m` or `h`; \
         write whole numbers with a unit, such as `500ms`, `2s`, `1m` or `1h30m`",
    );
}

#[test]
fn zero_timeout_is_refused() {
    assert_refused(
        &rule_with("actions = [ { exec = [\"true\"], timeout = \"0s\" } ]"),
        RulesErrorKind::Invalid,
        (4, 42),
        Some("build"),
        "rules.toml:4:42: rule `build`: `timeout` must be greater than zero",
    );
}

#[test]
fn duplicate_rule_name_points_at_the_second_and_names_the_first() {
    assert_refused(
        "[[rule]]\nname = \"build\"\npattern = 'x'\nactions = [\"log\"]\n\n[[rule]]\nname = \"build\"\npattern = 'y'\nactions = [\"log\"]\n",
        RulesErrorKind::Invalid,
        (6, 1),
        Some("build"),
        "rules.toml:6:1: rule `build`: duplicate rule name, already used by the rule on line 1; \
         give each rule a unique name",
    );
}

#[test]
fn empty_rule_name_is_refused() {
    assert_refused(
        "[[rule]]\nname = \"\"\npattern = 'x'\nactions = [\"log\"]\n",
        RulesErrorKind::Invalid,
        (2, 8),
        None,
        "rules.toml:2:8: rule name is empty; give every rule a unique name",
    );
}

#[test]
fn rule_without_actions_is_refused() {
    assert_refused(
        &rule_with("actions = []"),
        RulesErrorKind::Invalid,
        (4, 11),
        Some("build"),
        "rules.toml:4:11: rule `build`: rule has no actions; add one, such as `{ exec = [\"./script.sh\"] }` or `\"log\"`",
    );
}

#[test]
fn unknown_exec_option_is_pointed_at() {
    assert_refused(
        &rule_with("actions = [ { exec = [\"true\"], tmeout = \"1s\" } ]"),
        RulesErrorKind::Invalid,
        (4, 32),
        Some("build"),
        "rules.toml:4:32: rule `build`: unknown field `tmeout` in exec action, expected one of `exec`, `timeout`, \
         `cwd`, `env`",
    );
}

#[test]
fn exec_string_is_not_split_into_words() {
    assert_refused(
        &rule_with("actions = [ { exec = \"./x.sh --fast\" } ]"),
        RulesErrorKind::Invalid,
        (4, 22),
        Some("build"),
        "rules.toml:4:22: rule `build`: `exec` takes an argv array such as [\"./script.sh\", \"--flag\"], found string; \
         it is never split into words or run by a shell",
    );
}

#[test]
fn exec_argv_must_be_non_empty_strings() {
    let err = refused(&rule_with("actions = [ { exec = [] } ]"));
    assert_eq!(err.to_string(), "rules.toml:4:22: rule `build`: `exec` argv is empty; name the program to run and its arguments");
    let err = refused(&rule_with("actions = [ { exec = [\"sleep\", 5] } ]"));
    assert_eq!(
        err.to_string(),
        "rules.toml:4:22: rule `build`: `exec` argument 1 is integer, not a string; quote it"
    );
}

#[test]
fn two_kinds_in_one_action_are_refused() {
    assert_refused(
        &rule_with("actions = [ { exec = [\"true\"], log = true } ]"),
        RulesErrorKind::Invalid,
        (4, 32),
        Some("build"),
        "rules.toml:4:32: rule `build`: an action has exactly one kind, this one has both `exec` and `log`; \
         split it into two actions",
    );
}

#[test]
fn log_false_is_refused() {
    assert_refused(
        &rule_with("actions = [ { log = false } ]"),
        RulesErrorKind::Invalid,
        (4, 21),
        Some("build"),
        "rules.toml:4:21: rule `build`: `log` takes `true`; write `{ log = true }` or `\"log\"`, or remove the action",
    );
}

#[test]
fn reserved_env_name_is_refused() {
    assert_refused(
        &rule_with("actions = [ { exec = [\"true\"], env = { CTMUX_LINE = \"x\" } } ]"),
        RulesErrorKind::Invalid,
        (4, 38),
        Some("build"),
        "rules.toml:4:38: rule `build`: `env` name `CTMUX_LINE` is reserved: CTMUX_* variables describe the match; \
         rename it",
    );
}

#[test]
fn bad_pane_id_is_refused() {
    assert_refused(
        &rule_with("pane = \"%x\"\nactions = [\"log\"]"),
        RulesErrorKind::Invalid,
        (4, 8),
        Some("build"),
        "rules.toml:4:8: rule `build`: invalid pane id `%x`; a pane id is `%` followed by digits, such as `%3`",
    );
}

#[test]
fn out_of_range_setting_is_refused() {
    assert_refused(
        "[settings]\nmax_concurrent_actions = 0\n",
        RulesErrorKind::Invalid,
        (2, 26),
        None,
        "rules.toml:2:26: `max_concurrent_actions` is 0; use a number from 1 to 1024",
    );
}

#[test]
fn load_reports_an_unreadable_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing.toml");
    let err = load(&path).unwrap_err();
    assert_eq!(err.kind(), RulesErrorKind::Read);
    assert_eq!(err.line_col(), None);
    assert_eq!(
        err.to_string(),
        format!(
            "{}: cannot read rules file: no such file or directory (os error 2); check the path and its permissions",
            path.display()
        )
    );
    assert!(std::error::Error::source(&err).is_some());

    std::fs::write(&path, BUILD).unwrap();
    assert_eq!(load(&path).unwrap().path, path);
}

// ---- pane selectors and durations ----

#[test]
fn pane_selector_matching() {
    let glob = PaneSelector::parse("test-*").unwrap();
    assert!(glob.matches(PaneId(1), Some("test-1")));
    assert!(glob.matches(PaneId(1), Some("test-")));
    assert!(!glob.matches(PaneId(1), Some("prod-1")));
    assert!(!glob.matches(PaneId(1), None), "unlabelled panes never match a label");

    let id = PaneSelector::parse("%3").unwrap();
    assert!(id.matches(PaneId(3), None));
    assert!(!id.matches(PaneId(4), Some("%3")));

    assert!(PaneSelector::parse("*").unwrap().matches(PaneId(9), None));
    assert!(PaneSelector::parse("").is_err());
    assert_eq!(PaneSelector::parse("%12").unwrap().to_string(), "%12");
    assert_eq!(glob.to_string(), "test-*");
}

#[test]
fn glob_wildcards() {
    let m =
        |glob: &str, label: &str| PaneSelector::Label(glob.into()).matches(PaneId(0), Some(label));
    assert!(m("a*b*c", "a-b-b-c"));
    assert!(m("*", ""));
    assert!(m("*x", "xxx"));
    assert!(!m("a*b*c", "a-b-b-"));
    assert!(m("web-?", "web-1"));
    assert!(!m("web-?", "web-12"));
    // `?` is one character, not one byte.
    assert!(m("caf?", "café"));
    assert!(m("?-*", "日-x"));
    assert!(!m("web", "web-1"));
    assert!(m("*-db-*", "eu-db-primary"));
}

#[test]
fn durations() {
    assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
    assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
    assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
    assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
    assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
    let reason = |text: &str| parse_duration(text).unwrap_err().to_string();
    assert!(reason("").starts_with("invalid duration ``: it is empty;"));
    assert!(reason("5").starts_with("invalid duration `5`: the number has no unit;"));
    assert!(reason("1.5s")
        .starts_with("invalid duration `1.5s`: fractions are not supported, use a smaller unit;"));
    assert!(reason("s").starts_with("invalid duration `s`: expected a number;"));
    assert!(reason("2 s").starts_with("invalid duration `2 s`: the number has no unit;"));
    assert!(reason("99999999999999999999h").contains("the number is too large"));
    assert!(reason("9999999999999999h").contains("it is too large"));
}

#[test]
fn restart_policies_parse_and_refuse_unknown_values() {
    let base = "[[pane]]\nlabel = \"p\"\nshell = \"x\"\n";
    let set = parse(
        &format!("{base}restart = \"always\"\nmax_restarts = 2\nrestart_backoff = \"250ms\"\n"),
        Path::new("r.toml"),
    )
    .unwrap();
    let r = set.panes[0].restart;
    assert_eq!((r.when, r.max, r.backoff), (RestartWhen::Always, 2, Duration::from_millis(250)));
    assert_eq!(
        (r.delay(1), r.delay(2), r.delay(3)),
        (Duration::from_millis(250), Duration::from_millis(500), Duration::from_secs(1))
    );
    assert_eq!(r.delay(30), Restart::MAX_BACKOFF, "capped");
    let none = parse(base, Path::new("r.toml")).unwrap().panes[0].restart;
    assert_eq!(none, Restart::default());
    let err = parse(&format!("{base}restart = \"sometimes\"\n"), Path::new("r.toml")).unwrap_err();
    assert!(
        err.to_string()
            .contains("`restart` is `sometimes`; use \"no\", \"on-failure\" or \"always\""),
        "{err}"
    );
    let err = parse("[[rule]]\nname = \"r\"\npattern = 'x'\nactions = [ { spawn = { label = \"s\", restart = \"always\" } } ]\n", Path::new("r.toml")).unwrap_err();
    assert!(err.to_string().contains("belong to [[pane]] entries"), "{err}");
}
