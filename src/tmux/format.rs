//! Records read from tmux's `-F` / `display-message -p` output, framed so that they read
//! the same on every tmux release and cannot be forged by what a pane's program controls.
//!
//! The problem: tmux 3.5 escapes control characters in command output (a `\x1f` field
//! separator arrives as the four characters `\037`), but leaves a backslash bare and a
//! tab or newline raw, so its output cannot be un-escaped unambiguously; and on every
//! release a value a program controls (its process name, its title, its path) may hold a
//! separator or a newline and split one record into two.
//!
//! The framing: fields are separated by a tab, and every field whose text is not fixed
//! by tmux (names, commands, options) is wrapped in tmux's own substitution
//! `#{s/[\x01-\x1f\x7f]/?/:name}`, so tmux replaces every control character in it with
//! `?` before printing. A record line then holds no control character but its tabs:
//! tmux 3.3a and 3.5a print the same bytes, nothing needs un-escaping, and [`split`]
//! accepts only lines with exactly the expected number of fields.
//!
//! Considered and not taken: `#{q:…}` quotes shell syntax but not control characters;
//! one field per line is split by a newline in a value; a printable separator with the
//! escaping undone is ambiguous on 3.5 (a bare backslash); a random separator holds only
//! while it stays secret.

/// Field separator of every record: the one control character (with newline) that tmux
/// prints raw on every release, and that no cleaned field can contain.
pub const SEP: char = '\t';

/// What tmux substitutes for each control character in a cleaned field.
pub const REPLACEMENT: char = '?';

/// A format variable whose value tmux controls (ids, numbers, flags): printed as is.
///
/// # Example
/// ```
/// use ctmuxd::tmux::format::raw;
/// assert_eq!(raw("pane_id"), "#{pane_id}");
/// ```
pub fn raw(var: &str) -> String {
    format!("#{{{var}}}")
}

/// A format variable whose value may hold any text (names, commands, titles, user
/// options): tmux replaces each control character in it with `?` before printing.
///
/// The pattern holds the control bytes themselves: passed on a command line they go
/// through [`super::command::quote`] (as `\ooo` escapes tmux turns back into bytes), and
/// as a process argument they are passed as they are.
///
/// # Example
/// ```
/// use ctmuxd::tmux::format::clean;
/// assert_eq!(clean("session_name"), "#{s/[\x01-\x1f\x7f]/?/:session_name}");
/// ```
pub fn clean(var: &str) -> String {
    format!("#{{s/[\x01-\x1f\x7f]/{REPLACEMENT}/:{var}}}")
}

/// Joins format fields into one record format, separated by [`SEP`].
pub fn record<S: AsRef<str>>(fields: &[S]) -> String {
    let mut out = String::new();
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(SEP);
        }
        out.push_str(f.as_ref());
    }
    out
}

/// Splits one output line of a [`record`] format of `N` fields; `None` unless the line has
/// exactly `N` fields (a line that is not a record, or one damaged on the way).
///
/// # Example
/// ```
/// use ctmuxd::tmux::format::split;
/// assert_eq!(split::<2>("$0\tmain"), Some(["$0", "main"]));
/// assert_eq!(split::<2>("$0\\037main"), None);
/// assert_eq!(split::<2>("$0\tmain\textra"), None);
/// ```
pub fn split<const N: usize>(line: &str) -> Option<[&str; N]> {
    let mut out = [""; N];
    let mut parts = line.split(SEP);
    for slot in out.iter_mut() {
        *slot = parts.next()?;
    }
    parts.next().is_none().then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_split_into_exactly_n_fields() {
        let fmt = record(&[raw("session_id"), clean("session_name")]);
        assert_eq!(fmt, "#{session_id}\t#{s/[\x01-\x1f\x7f]/?/:session_name}");
        assert_eq!(split::<3>("a\tb\tc"), Some(["a", "b", "c"]));
        assert_eq!(split::<3>("a\t\t"), Some(["a", "", ""]));
        assert_eq!(split::<3>("a\tb"), None);
        assert_eq!(split::<1>(""), Some([""]));
    }

    #[test]
    fn the_cleaning_pattern_survives_quoting_as_octal_escapes() {
        let quoted = super::super::command::quote(&clean("pane_current_command"));
        assert_eq!(quoted, r##""#{s/[\001-\037\177]/?/:pane_current_command}""##);
        assert!(!quoted.bytes().any(|b| b < 0x20 || b == 0x7f));
    }
}
