//! [`RulesError`]: why a rules file was refused, pointing at the file, the line and
//! column, and the rule, in one lowercase line that says how to fix it.
//!
//! Neighbours: built by `file.rs` (TOML syntax and shape errors, whose byte spans
//! come from `toml`) and `rule.rs` (meaning errors: bad pattern, duration, action,
//! duplicate name); shown by the daemon before it starts anything.

use std::fmt::{self, Write as _};
use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::action::ParseError;

/// A rules file that cannot be used.
///
/// Displayed as `rules.toml:4:11: rule `build`: unknown field `patern`, expected
/// one of ...`: the path, then the 1-based line and column (in characters) of the
/// offending text when known, then the rule when known, then the message.
#[derive(Debug)]
pub struct RulesError {
    path: PathBuf,
    line_col: Option<(usize, usize)>,
    rule: Option<String>,
    kind: RulesErrorKind,
    message: String,
    source: Option<std::io::Error>,
}

/// What sort of mistake a [`RulesError`] reports, for callers that branch on it
/// (e.g. exit code or a hint to check the path).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RulesErrorKind {
    /// The file could not be read.
    Read,
    /// Not valid TOML, or not the rules file's shape: a type, unknown field or
    /// missing field.
    Syntax,
    /// Valid shape, invalid meaning: a bad pattern, duration, pane selector,
    /// action or setting, or a duplicate rule name.
    Invalid,
}

impl RulesError {
    /// The rules file's path, as given to [`crate::rules::load`] or
    /// [`crate::rules::parse`].
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// 1-based line and column (counted in characters) of the offending text.
    pub fn line_col(&self) -> Option<(usize, usize)> {
        self.line_col
    }

    /// The offending line of `text` (the rules file) with a caret under the column, as
    /// compilers show it; `None` when the error has no position.
    ///
    /// ```text
    ///   |
    /// 3 | pattern = 'a(b'
    ///   |             ^
    /// ```
    pub fn snippet(&self, text: &str) -> Option<String> {
        let (line, column) = self.line_col?;
        let source = text.lines().nth(line.checked_sub(1)?)?;
        // Tabs keep their width under the caret; other characters count one column.
        let pad: String = source
            .chars()
            .take(column.saturating_sub(1))
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        let number = line.to_string();
        let gutter = " ".repeat(number.len());
        let shown: String = source
            .chars()
            .map(|c| if c.is_control() && c != '\t' { '\u{FFFD}' } else { c })
            .collect();
        Some(format!("{gutter} |\n{number} | {shown}\n{gutter} | {pad}^"))
    }

    /// Name of the rule at fault, when the mistake is inside a named rule.
    pub fn rule(&self) -> Option<&str> {
        self.rule.as_deref()
    }

    /// What sort of mistake this is.
    pub fn kind(&self) -> RulesErrorKind {
        self.kind
    }

    /// The message alone, without path, position or rule.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The file was refused before parsing (not a regular file, too big, too slow to
    /// read); `message` says why and how to fix it.
    pub(super) fn refused(path: &Path, message: String) -> RulesError {
        RulesError {
            path: path.to_path_buf(),
            line_col: None,
            rule: None,
            kind: RulesErrorKind::Read,
            message,
            source: None,
        }
    }

    /// The file could not be read.
    pub(super) fn read(path: &Path, err: std::io::Error) -> RulesError {
        let message = format!(
            "cannot read rules file: {}; check the path and its permissions",
            crate::action::exec::io_message(&err)
        );
        RulesError { source: Some(err), ..RulesError::refused(path, message) }
    }
}

impl fmt::Display for RulesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_one_line(f, &self.path.display().to_string())?;
        if let Some((line, column)) = self.line_col {
            write!(f, ":{line}:{column}")?;
        }
        f.write_str(": ")?;
        if let Some(rule) = &self.rule {
            f.write_str("rule `")?;
            write_one_line(f, rule)?;
            f.write_str("`: ")?;
        }
        write_one_line(f, &self.message)
    }
}

/// Writes `text` with its control characters escaped (`\n`, `\u{1b}`): rule names, keys
/// and actions quoted from the file may hold any character (`name = "a\nb"`), and must
/// not split the one-line error or send escape sequences to the terminal.
fn write_one_line(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    for c in text.chars() {
        if c.is_control() {
            write!(f, "{}", c.escape_default())?;
        } else {
            f.write_char(c)?;
        }
    }
    Ok(())
}

impl std::error::Error for RulesError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_ref().map(|err| err as _)
    }
}

/// The rules file being checked: its text and path, to turn byte spans into
/// positioned errors.
#[derive(Clone, Copy)]
pub(super) struct Source<'a> {
    pub text: &'a str,
    pub path: &'a Path,
}

impl Source<'_> {
    /// An error at byte `span` of the file (position of its start), in `rule` if
    /// known.
    pub fn error(
        &self,
        kind: RulesErrorKind,
        span: Option<Range<usize>>,
        rule: Option<&str>,
        message: String,
    ) -> RulesError {
        RulesError {
            path: self.path.to_path_buf(),
            line_col: span.map(|span| self.line_col(span.start)),
            rule: rule.filter(|name| !name.is_empty()).map(str::to_owned),
            kind,
            message,
            source: None,
        }
    }

    /// An [`RulesErrorKind::Invalid`] error at `span` in `rule`.
    pub fn invalid(&self, span: Range<usize>, rule: Option<&str>, message: String) -> RulesError {
        self.error(RulesErrorKind::Invalid, Some(span), rule, message)
    }

    /// An action's [`ParseError`] as an [`RulesErrorKind::Invalid`] error in `rule`.
    pub fn action(&self, err: ParseError, rule: Option<&str>) -> RulesError {
        self.invalid(err.span, rule, err.message)
    }

    /// 1-based line and character column of byte `offset`.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &self.text[..offset];
        let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
        let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
        (line, before[line_start..].chars().count() + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_characters_from_one() {
        let source = Source { text: "ab\nçd = 1\n", path: Path::new("r.toml") };
        assert_eq!(source.line_col(0), (1, 1));
        assert_eq!(source.line_col(3), (2, 1));
        // `d` follows the two-byte `ç`: byte 5, character column 2.
        assert_eq!(source.line_col(5), (2, 2));
        // Past the end and inside a character stay in range.
        assert_eq!(source.line_col(4), (2, 1));
        assert_eq!(source.line_col(99), (3, 1));
    }

    #[test]
    fn the_snippet_puts_a_caret_under_the_column_keeping_tabs() {
        let text = "[[rule]]\n\tpattern = 'çab(c'\n";
        let source = Source { text, path: Path::new("r.toml") };
        // `(` is byte 25 (after a tab, `pattern = '`, the two-byte `ç` and `ab`): column 16.
        let err = source.invalid(25..25, Some("r"), "invalid pattern: unclosed group".into());
        assert_eq!(err.line_col(), Some((2, 16)));
        assert_eq!(
            err.snippet(text).unwrap(),
            "  |\n2 | \tpattern = 'çab(c'\n  | \t              ^"
        );
        let unplaced = source.error(RulesErrorKind::Invalid, None, None, "x".into());
        assert_eq!(unplaced.snippet(text), None);
    }

    #[test]
    fn display_has_path_position_rule_and_message() {
        let source = Source { text: "x\ny = 1", path: Path::new("rules.toml") };
        let err = source.invalid(2..3, Some("build"), "bad thing; fix it".into());
        assert_eq!(err.to_string(), "rules.toml:2:1: rule `build`: bad thing; fix it");
        let err = source.error(RulesErrorKind::Syntax, None, Some(""), "oops".into());
        assert_eq!(err.to_string(), "rules.toml: oops");
        assert_eq!(err.rule(), None);
    }

    /// Found with the `rules_file` fuzz check (fuzz/regressions/rules_file-rule-name-with-newline):
    /// a rule name or action quoted from the file may hold a line break or an escape.
    #[test]
    fn display_escapes_control_characters_of_quoted_text() {
        let source = Source { text: "x\ny = 1", path: Path::new("rules.toml") };
        let err = source.invalid(2..3, Some("a\nb"), "unknown action `x\r\u{1b}[2J`".into());
        assert_eq!(
            err.to_string(),
            "rules.toml:2:1: rule `a\\nb`: unknown action `x\\r\\u{1b}[2J`"
        );
        // The accessors keep the text as written, for callers that look the rule up.
        assert_eq!(err.rule(), Some("a\nb"));
        assert_eq!(err.message(), "unknown action `x\r\u{1b}[2J`");
    }
}
