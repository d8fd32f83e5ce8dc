//! The rules file's shape as serde sees it: TOML → raw structs that keep the byte
//! span of every value, so `rule.rs` can point at the exact line and column of a bad
//! pattern, duration or action. `toml`'s own errors (syntax, wrong type, unknown or
//! missing field) are turned into [`RulesError`]s here, with the rule they fall in.
//!
//! The file looks like:
//!
//! ```toml
//! [settings]                 # optional
//! ring_lines = 1000
//! max_concurrent_actions = 8
//! default_timeout = "60s"
//!
//! [[rule]]
//! name = "build"
//! pattern = 'TRIGGER: START_BUILD (?P<id>\S+)'
//! pane = "test-*"            # optional: label glob, or pane id "%3"; default all panes
//! once = false               # optional
//! cooldown = "2s"            # optional
//! prompt = false             # optional
//! screen = false             # optional: match the rows on screen instead of lines
//! source = "output"          # optional: "output" (commands' output only) or "all"
//! actions = [ { exec = ["./scripts/on-build.sh", "--fast"], timeout = "10s" }, "log" ]
//!
//! [[rule]]                   # a condition instead of one line (see `condition.rs`)
//! name = "both-ready"
//! all = ["api-ready", "worker-ready"]
//! within = "60s"
//! actions = [ { exec = ["./run-tests.sh"] } ]
//! timeout_actions = [ "log" ]
//! ```

use std::fmt;
use std::ops::Range;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use toml::Spanned;

use super::error::{RulesError, RulesErrorKind, Source};

/// The whole file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFile {
    /// `[settings]`.
    #[serde(default)]
    pub settings: Option<RawSettings>,
    /// `[[rule]]` tables, in file order.
    #[serde(default)]
    pub rule: Vec<Spanned<RawRule>>,
    /// `[[pane]]` tables, checked in `orchestration.rs`.
    #[serde(default)]
    pub pane: Vec<Spanned<toml::Value>>,
    #[serde(default)]
    pub server: Vec<Spanned<super::servers::RawServer>>,
}

/// `[settings]`; absent keys take their defaults.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSettings {
    pub ring_lines: Option<Spanned<usize>>,
    pub max_concurrent_actions: Option<Spanned<usize>>,
    pub default_timeout: Option<Spanned<DurationText>>,
    pub session: Option<Spanned<String>>,
}

/// One `[[rule]]` table.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRule {
    pub name: Spanned<String>,
    #[serde(default)]
    pub pattern: Option<Spanned<String>>,
    #[serde(default)]
    pub on: Option<Spanned<String>>,
    #[serde(default)]
    pub status: Option<Spanned<toml::Value>>,
    #[serde(default)]
    pub event: Option<Spanned<String>>,
    #[serde(default)]
    pub cmdline: Option<Spanned<String>>,
    #[serde(default)]
    pub pane: Option<Spanned<String>>,
    #[serde(default)]
    pub server: Option<Spanned<String>>,
    #[serde(default)]
    pub once: bool,
    #[serde(default)]
    pub cooldown: Option<Spanned<DurationText>>,
    #[serde(default)]
    pub prompt: bool,
    #[serde(default)]
    pub screen: Option<Spanned<bool>>,
    #[serde(default)]
    pub source: Option<Spanned<String>>,
    pub actions: Spanned<Vec<Spanned<RawAction>>>,
    // The conditions (checked in `condition.rs`).
    #[serde(default)]
    pub silence: Option<Spanned<DurationText>>,
    #[serde(default)]
    pub at_prompt_for: Option<Spanned<DurationText>>,
    #[serde(default)]
    pub all: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    pub any: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    pub count: Option<Spanned<i64>>,
    #[serde(default)]
    pub sequence: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    pub within: Option<Spanned<DurationText>>,
    #[serde(default)]
    pub per: Option<Spanned<String>>,
    #[serde(default)]
    pub timeout_actions: Option<Spanned<Vec<Spanned<RawAction>>>>,
}

/// A duration as written (`"2s"`); parsed in `rule.rs` so its error can name the
/// rule. Only strings are accepted, so `cooldown = 500` gets a message asking for a
/// unit instead of silently meaning seconds or milliseconds.
pub(super) struct DurationText(pub String);

impl<'de> Deserialize<'de> for DurationText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DurationVisitor;

        impl Visitor<'_> for DurationVisitor {
            type Value = DurationText;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration string with a unit, such as \"500ms\", \"2s\" or \"1m\"")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<DurationText, E> {
                Ok(DurationText(text.to_owned()))
            }
        }

        deserializer.deserialize_str(DurationVisitor)
    }
}

/// One entry of `actions`, before its kind is checked: either a bare string
/// (`"log"`) or a table whose keys are kept with their spans (`{ exec = [...],
/// timeout = "10s" }`). Keeping the table generic lets `rule.rs` report an unknown
/// action or option at the exact key, and lets each kind's module in
/// [`crate::action`] read its own value without touching serde here.
pub(super) enum RawAction {
    /// `"log"`.
    Name(String),
    /// `{ key = value, ... }` in file order.
    Table(Vec<(Spanned<String>, Spanned<toml::Value>)>),
}

impl<'de> Deserialize<'de> for RawAction {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ActionVisitor;

        impl<'de> Visitor<'de> for ActionVisitor {
            type Value = RawAction;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an action: a table such as { exec = [\"program\", \"arg\"] } or the string \"log\"")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<RawAction, E> {
                Ok(RawAction::Name(text.to_owned()))
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawAction, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key::<Spanned<String>>()? {
                    entries.push((key, map.next_value::<Spanned<toml::Value>>()?));
                }
                Ok(RawAction::Table(entries))
            }
        }

        deserializer.deserialize_any(ActionVisitor)
    }
}

/// Just enough of a rules file to name the rule a `toml` error falls in; parsed
/// only after the strict parse failed.
#[derive(Deserialize)]
struct LooseFile {
    #[serde(default)]
    rule: Vec<Spanned<LooseRule>>,
}

#[derive(Deserialize)]
struct LooseRule {
    #[serde(default)]
    name: Option<toml::Value>,
}

/// Parses `source` into the raw structs.
///
/// # Errors
///
/// A [`RulesErrorKind::Syntax`] error at the position `toml` reports, naming the
/// rule it is in when the file is well-formed enough to tell.
pub(super) fn parse_raw(source: Source<'_>) -> Result<RawFile, RulesError> {
    toml::from_str(source.text).map_err(|err| {
        let span = err.span();
        let rule = span.as_ref().and_then(|span| rule_containing(source.text, span));
        source.error(RulesErrorKind::Syntax, span, rule.as_deref(), toml_message(err.message()))
    })
}

/// Name of the `[[rule]]` whose table contains `span`, if any.
fn rule_containing(text: &str, span: &Range<usize>) -> Option<String> {
    let loose: LooseFile = toml::from_str(text).ok()?;
    let rule = loose.rule.iter().find(|rule| rule.span().contains(&span.start))?;
    rule.get_ref().name.as_ref()?.as_str().map(str::to_owned)
}

/// `toml`'s message as one lowercase line without a trailing period, with a fix
/// added where `toml` gives none.
fn toml_message(message: &str) -> String {
    let one_line = message.trim().trim_end_matches('.').replace('\n', "; ");
    let mut chars = one_line.chars();
    let mut text: String = match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => "invalid rules file".to_owned(),
    };
    if text.starts_with("missing field") {
        text.push_str("; add it to this table");
    } else if text.starts_with("duplicate key") {
        text.push_str("; remove one of them");
    }
    text
}
