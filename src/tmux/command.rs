//! Building tmux command lines safely.
//!
//! Every argument that is not a fixed keyword goes through [`quote`], so text that came
//! out of a pane, a label or a user's command can never end the line, start a second
//! command (`;`), expand a variable (`$HOME`) or a home directory (`~`). Keys are sent
//! with [`send_keys_literal`], which splits control characters out as hex keys.

use std::fmt::Write as _;

/// Quotes one argument for tmux's command parser.
///
/// Plain words made only of `[A-Za-z0-9_@%./:=+,-]` stay bare (ids such as `%3` read
/// better in logs), except a word starting with `%` that is not a pane id (`%2:continue`,
/// `%x`): tmux's parser takes such a word for a directive (`%if`, `%hidden`) and refuses
/// the line with `parse error: syntax error`. Anything else is put in double quotes with `\`, `"` and `$` escaped
/// and every control character (newline included) written as a `\ooo` octal escape,
/// which tmux turns back into the byte. Verified on tmux 3.3a.
///
/// # Example
/// ```
/// use ctmuxd::tmux::command::quote;
/// assert_eq!(quote("%3"), "%3");
/// assert_eq!(quote("%2:continue"), "\"%2:continue\"");
/// assert_eq!(quote("a b"), "\"a b\"");
/// assert_eq!(quote("$(rm -rf ~); x\n"), "\"\\$(rm -rf ~); x\\012\"");
/// ```
pub fn quote(arg: &str) -> String {
    let bare = !arg.is_empty()
        && !arg.starts_with('~')
        && !arg.starts_with('#')
        && !arg
            .strip_prefix('%')
            .is_some_and(|id| id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()))
        && arg.bytes().all(|b| b.is_ascii_alphanumeric() || b"_@%./:=+,-".contains(&b));
    if bare {
        return arg.to_string();
    }
    let mut out = String::with_capacity(arg.len() + 2);
    out.push('"');
    for c in arg.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '$' => out.push_str("\\$"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\{:03o}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Joins a command name and its arguments, quoting each argument.
pub fn line<S: AsRef<str>>(name: &str, args: &[S]) -> String {
    let mut out = name.to_string();
    for a in args {
        out.push(' ');
        out.push_str(&quote(a.as_ref()));
    }
    out
}

/// The `send-keys` command lines that type `text` into `pane` literally.
///
/// Printable runs go as `send-keys -l`; each control character (newline, tab, escape)
/// goes as its own `send-keys -H xx`, so nothing in `text` is ever looked up as a key
/// name or parsed as tmux syntax. Returns one command per element (one reply each).
pub fn send_keys_literal(pane: &str, text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut run = String::new();
    for c in text.chars() {
        if (c as u32) < 0x20 || c == '\u{7f}' {
            if !run.is_empty() {
                lines.push(line("send-keys", &["-t", pane, "-l", &run]));
                run.clear();
            }
            lines.push(line("send-keys", &["-t", pane, "-H", &format!("{:02x}", c as u32)]));
        } else {
            run.push(c);
        }
    }
    if !run.is_empty() {
        lines.push(line("send-keys", &["-t", pane, "-l", &run]));
    }
    lines
}

/// Whether `line` is safe to send on a control connection: exactly one line, not empty or
/// blank (an empty line detaches the client, a blank or comment line produces no reply
/// block and would desynchronise reply matching).
pub fn is_sendable(line: &str) -> bool {
    let t = line.trim();
    !t.is_empty() && !t.starts_with('#') && !line.contains(['\n', '\r'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_words_stay_bare() {
        assert_eq!(quote("%12"), "%12");
        assert_eq!(quote("@ctmuxd_label"), "@ctmuxd_label");
        assert_eq!(quote("-t"), "-t");
        assert_eq!(quote("a%b"), "a%b");
    }

    #[test]
    fn percent_words_that_are_not_pane_ids_are_quoted() {
        // tmux 3.3a: `refresh-client -A %2:continue` is `parse error: syntax error`.
        assert_eq!(quote("%2:continue"), "\"%2:continue\"");
        assert_eq!(quote("%"), "\"%\"");
        assert_eq!(quote("%if"), "\"%if\"");
        assert_eq!(quote("%%"), "\"%%\"");
    }

    #[test]
    fn hostile_text_is_quoted() {
        assert_eq!(quote(""), "\"\"");
        assert_eq!(quote("a;b"), "\"a;b\"");
        assert_eq!(quote("~/x"), "\"~/x\"");
        assert_eq!(quote("#{pane_id}"), "\"#{pane_id}\"");
        assert_eq!(quote("say \"hi\" \\ $HOME"), r#""say \"hi\" \\ \$HOME""#);
        assert_eq!(quote("a\nb\x1b"), r#""a\012b\033""#);
        assert!(!quote("x\ny\r").contains(['\n', '\r']));
    }

    #[test]
    fn send_keys_splits_control_characters() {
        let l = send_keys_literal("%1", "ls; $(x)\n");
        assert_eq!(l, vec![r#"send-keys -t %1 -l "ls; \$(x)""#, "send-keys -t %1 -H 0a"]);
        assert!(l.iter().all(|l| is_sendable(l)));
    }

    #[test]
    fn unsendable_lines() {
        assert!(!is_sendable(""));
        assert!(!is_sendable("   "));
        assert!(!is_sendable("# comment"));
        assert!(!is_sendable("a\nb"));
        assert!(is_sendable("list-panes -a"));
    }
}
