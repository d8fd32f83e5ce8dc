//! Shell-integration marks in a pane's output: OSC 133 (FinalTerm, emitted by fish ≥ 4,
//! WezTerm's, kitty's and ctmuxd's own `shell-init` snippets) and OSC 633 (VS Code's
//! superset). A shell that emits them says where its prompt starts (`A`), where the
//! typed input starts (`B`), where the command's output starts (`C`) and that the
//! command finished (`D`, with its exit status); 633 adds the command line (`E`) and the
//! working directory (`P;Cwd=`).
//!
//! The line decoder ([`super::lines`]) runs vte over every byte, and vte hands every
//! complete OSC string (ended by BEL or `ESC \`, whatever the chunking) to
//! [`parse_osc`] here; the marks reach the pane's [`super::watch::PaneWatch`] in
//! order with the lines. Nothing else is kept here: no state, no I/O.
//!
//! ```text
//! OSC 133 ; A [; opts] ST          prompt start
//! OSC 133 ; B [; opts] ST          input start (end of the prompt)
//! OSC 133 ; C [; opts] ST          output start (the command runs)
//! OSC 133 ; D [; status [; opts]] ST   command finished
//! OSC 633 ; A | B | C | D[;status] ST  the same
//! OSC 633 ; E ; cmdline [; nonce] ST   the command line, `\xHH` and `\\` escaped
//! OSC 633 ; P ; Cwd=path ST            a property: the working directory
//! ```
//! vte keeps at most 1 KiB of one OSC string (see [`super::lines`]), so a longer
//! command line arrives cut.

/// One shell-integration mark.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShellMark {
    /// `A`: the prompt is about to be drawn.
    PromptStart,
    /// `B`: the prompt is drawn; what follows is typed input.
    InputStart,
    /// `C`: the command line was accepted; what follows is the command's output.
    OutputStart,
    /// `D`: the command finished, with its exit status when the shell gave one (a `D`
    /// without a status follows an empty command line in some shells).
    Finished(Option<i32>),
    /// 633 `E`: the command line about to run (unescaped).
    CommandLine(String),
    /// 633 `P;Cwd=`: the shell's working directory.
    Cwd(String),
}

/// The mark an OSC string stands for, given vte's `;`-split parameters, or `None` for
/// any other OSC (titles, hyperlinks, colours) and for unknown 133/633 letters.
///
/// # Example
///
/// ```
/// use ctmuxd_text::pane::shell::{parse_osc, ShellMark};
/// assert_eq!(parse_osc(&[b"133", b"D", b"2"]), Some(ShellMark::Finished(Some(2))));
/// assert_eq!(
///     parse_osc(&[b"633", b"E", b"echo a\\x3bb \\\\n"]),
///     Some(ShellMark::CommandLine("echo a;b \\n".into()))
/// );
/// assert_eq!(parse_osc(&[b"0", b"title"]), None);
/// ```
pub fn parse_osc(params: &[&[u8]]) -> Option<ShellMark> {
    let (&code, rest) = params.split_first()?;
    let vscode = match code {
        b"133" => false,
        b"633" => true,
        _ => return None,
    };
    let (&letter, args) = rest.split_first()?;
    Some(match letter {
        b"A" => ShellMark::PromptStart,
        b"B" => ShellMark::InputStart,
        b"C" => ShellMark::OutputStart,
        b"D" => {
            let status = args
                .first()
                .and_then(|s| std::str::from_utf8(s).ok())
                .and_then(|s| s.trim().parse::<i32>().ok());
            ShellMark::Finished(status)
        }
        b"E" if vscode => {
            // The command line is the first argument; a second one is VS Code's nonce.
            // An unescaped `;` (against the spec) split it: vte cut it at every `;`, and
            // a nonce never holds one, so join all but a last nonce-looking part.
            let mut parts = args;
            if parts.len() > 1 && parts.last().is_some_and(|p| looks_like_nonce(p)) {
                parts = &parts[..parts.len() - 1];
            }
            let joined = parts.join(&b';');
            ShellMark::CommandLine(unescape(&joined))
        }
        b"P" if vscode => {
            let joined = args.join(&b';');
            let cwd = joined.strip_prefix(b"Cwd=")?;
            ShellMark::Cwd(unescape(cwd))
        }
        _ => return None,
    })
}

/// VS Code's nonce: a long token of letters, digits and dashes.
fn looks_like_nonce(p: &[u8]) -> bool {
    p.len() >= 16 && p.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-')
}

/// Undoes OSC 633's escaping: `\\` is a backslash, `\xHH` the byte HH; anything else
/// is kept as it is. Invalid UTF-8 becomes U+FFFD.
fn unescape(s: &[u8]) -> String {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'\\' {
            if s.get(i + 1) == Some(&b'\\') {
                out.push(b'\\');
                i += 2;
                continue;
            }
            if s.get(i + 1) == Some(&b'x') {
                let hex = s.get(i + 2..i + 4).and_then(|h| std::str::from_utf8(h).ok());
                if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    out.push(b);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(s[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_letter_of_133_and_633() {
        for code in [&b"133"[..], b"633"] {
            assert_eq!(parse_osc(&[code, b"A"]), Some(ShellMark::PromptStart));
            assert_eq!(parse_osc(&[code, b"A", b"k=s"]), Some(ShellMark::PromptStart));
            assert_eq!(parse_osc(&[code, b"B"]), Some(ShellMark::InputStart));
            assert_eq!(parse_osc(&[code, b"C"]), Some(ShellMark::OutputStart));
            assert_eq!(parse_osc(&[code, b"D"]), Some(ShellMark::Finished(None)));
            assert_eq!(parse_osc(&[code, b"D", b"130"]), Some(ShellMark::Finished(Some(130))));
            assert_eq!(parse_osc(&[code, b"D", b"x"]), Some(ShellMark::Finished(None)));
            assert_eq!(parse_osc(&[code, b"Z"]), None);
            assert_eq!(parse_osc(&[code]), None);
        }
        assert_eq!(parse_osc(&[b"133", b"E", b"ls"]), None, "E is 633's");
        assert_eq!(
            parse_osc(&[b"633", b"P", b"Cwd=/tmp/a\\x3bb"]),
            Some(ShellMark::Cwd("/tmp/a;b".into()))
        );
        assert_eq!(parse_osc(&[b"633", b"P", b"Other=1"]), None);
        assert_eq!(parse_osc(&[b"7", b"file://h/tmp"]), None);
    }

    #[test]
    fn command_lines_unescape_and_drop_the_nonce() {
        let nonce = b"0123456789abcdef-0123";
        assert_eq!(
            parse_osc(&[b"633", b"E", b"printf '\\x5c\\x5cn'\\x0aecho", nonce]),
            Some(ShellMark::CommandLine("printf '\\\\n'\necho".into()))
        );
        // An unescaped `;` split the line: joined again.
        assert_eq!(
            parse_osc(&[b"633", b"E", b"a", b" b"]),
            Some(ShellMark::CommandLine("a; b".into()))
        );
        // A lone or cut escape stays as it is.
        assert_eq!(unescape(b"a\\xZ1\\"), "a\\xZ1\\");
        assert_eq!(unescape(b"\\xc3\\xa9"), "é");
    }
}
