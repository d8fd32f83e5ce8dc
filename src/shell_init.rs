//! `ctmuxd shell-init bash|zsh|fish`: the lines to add to a shell's rc file so that it
//! marks its prompts and commands in its output with OSC 133 (`A` prompt start, `B`
//! input start, `C` output start, `D;status` finished) and OSC 633 (`E;cmdline`,
//! `P;Cwd=`), which ctmuxd reads from each pane's output (`ctmuxd_text::pane::shell`)
//! into the pane's shell state, `command` events and `ctmuxd run`.
//!
//! What every snippet promises:
//! - **Inside tmux**: the marks are plain OSC strings; tmux hands a pane's bytes to
//!   control clients unchanged in `%output` (checked on tmux 3.3a), and a terminal that
//!   does not know them ignores them.
//! - **Nothing per prompt**: builtins only, no subprocess (bash's `printf`, zsh's
//!   `printf`, fish's `printf` and `string`). PERF: the hooks of one command (prompt,
//!   start, end), called 10,000 times in a loop on the build machine: bash 5.2 16 µs,
//!   zsh 5.9 86 µs, fish 3.6 0.6 ms (its builtin pipelines are slow; `strace -f` shows
//!   no fork or exec in 200 of them).
//! - **Existing integration kept**: a snippet does nothing when it was already sourced,
//!   when VS Code's or kitty's integration is active, or (bash) when the prompt already
//!   holds OSC 133; hooks are chained, never replaced (`PROMPT_COMMAND` keeps its parts
//!   and `$?`, `PS0` and `PS1` are prefixed/suffixed, zsh hooks and fish events are added).
//!
//! bash has no fork-free way to read the command line being run (`history 1` needs a
//! command substitution, i.e. a subshell, before bash 5.3), so its snippet sends no
//! 633 `E`: ctmuxd takes a bash command line from what its line editor showed between
//! `B` and `C` (`panes::Shell`). zsh (`preexec`'s `$1`) and fish (`fish_preexec`'s `$argv`) send it.
//! fish ≥ 4 emits OSC 133 itself; [`snippet`] says so instead of adding a second set.

use std::fmt;

/// The shells `shell-init` knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitShell {
    /// bash ≥ 4.4 (`PS0`).
    Bash,
    /// zsh ≥ 5.
    Zsh,
    /// fish (< 4: event functions; ≥ 4: native marks).
    Fish,
}

impl InitShell {
    /// The shell named `name` (`bash`, `zsh`, `fish`).
    ///
    /// # Errors
    /// Another name: the message lists the known ones.
    pub fn parse(name: &str) -> Result<InitShell, String> {
        match name {
            "bash" => Ok(InitShell::Bash),
            "zsh" => Ok(InitShell::Zsh),
            "fish" => Ok(InitShell::Fish),
            other => Err(format!("no shell integration for `{other}`; use bash, zsh or fish")),
        }
    }
}

impl fmt::Display for InitShell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InitShell::Bash => "bash",
            InitShell::Zsh => "zsh",
            InitShell::Fish => "fish",
        })
    }
}

/// The lines for `shell`'s rc file. For fish, `fish_version` is what `fish --version`
/// said (see [`fish_version`]): from 4.0 on, fish marks its prompts itself and the
/// text says so instead (comments only, harmless if added anyway).
pub fn snippet(shell: InitShell, fish_version: Option<(u32, u32)>) -> String {
    match shell {
        InitShell::Bash => BASH.to_string(),
        InitShell::Zsh => ZSH.to_string(),
        InitShell::Fish => match fish_version {
            Some((major, minor)) if major >= 4 => format!(
                "# fish {major}.{minor} emits OSC 133 shell-integration marks itself (prompt, \
                 command start, exit status):\n# ctmuxd reads them as they are, nothing to add \
                 to config.fish. (Without OSC 633 E, command lines\n# are known only for what \
                 `ctmuxd run` types.)\n"
            ),
            _ => FISH.to_string(),
        },
    }
}

/// `(major, minor)` of the `fish` on `PATH`, from `fish --version` (`fish, version
/// 3.6.0`); `None` when it does not run or says something else.
pub fn fish_version() -> Option<(u32, u32)> {
    let out = std::process::Command::new("fish").arg("--version").output().ok()?;
    parse_fish_version(&String::from_utf8_lossy(&out.stdout))
}

fn parse_fish_version(text: &str) -> Option<(u32, u32)> {
    let version = text.split_whitespace().last()?;
    let mut parts = version.split(['.', '-']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().and_then(|m| m.parse().ok()).unwrap_or(0);
    Some((major, minor))
}

/// Each snippet sends the working directory before `D`, so a command's end already
/// knows where it left the shell (`ctmuxd run` reports it).
///
/// bash: `PROMPT_COMMAND` (first, so it sees `$?`, which it hands on) sends the working
/// directory, `D;status` for a command that ran, and `A`; `PS1` ends with `B`; `PS0`
/// (shown once a command line is accepted, before it runs) sends `C` and notes, by a
/// parameter assignment in its expansion (no subshell), that a command ran, so an empty
/// line or Ctrl-C at the prompt sends no `D`.
const BASH: &str = r#"# >>> ctmuxd shell integration (bash ≥ 4.4) >>>
# OSC 133 marks (A prompt, B input, C output, D;status) and OSC 633 P;Cwd for ctmuxd.
# Builtins only; skipped if already loaded or another integration is active.
if [[ $- == *i* && -z ${__ctmuxd_si-} && -z ${VSCODE_SHELL_INTEGRATION-} \
      && -z ${KITTY_SHELL_INTEGRATION-} && "${PS0-}${PS1-}" != *']133;'* ]] \
   && shopt -q promptvars; then
  __ctmuxd_si=1
  __ctmuxd_c=$'\e]133;C\a'
  __ctmuxd_ran=
  __ctmuxd_prompt() {
    local s=$? d=${PWD//\\/\\\\}
    printf '\e]633;P;Cwd=%s\a' "${d//;/\\x3b}"
    if [[ -n $__ctmuxd_ran ]]; then
      printf '\e]133;D;%s\a' "$s"
      __ctmuxd_ran=
    fi
    printf '\e]133;A\a'
    return "$s"
  }
  if [[ -n ${PROMPT_COMMAND+set} && ${PROMPT_COMMAND@a} == *a* ]]; then
    PROMPT_COMMAND=(__ctmuxd_prompt "${PROMPT_COMMAND[@]}")
  else
    PROMPT_COMMAND="__ctmuxd_prompt${PROMPT_COMMAND:+;$PROMPT_COMMAND}"
  fi
  PS0='${__ctmuxd_ran:=$__ctmuxd_c}'"${PS0-}"
  PS1="${PS1-}"'\[\e]133;B\a\]'
fi
# <<< ctmuxd shell integration <<<
"#;

/// zsh: a `precmd` hook put first (it sees `$?`) sends the working directory,
/// `D;status` after a command and `A`; `preexec` sends the command line (`E`, escaped)
/// and `C`; `PS1` ends with `B`. zsh draws `PROMPT_SP` (the `%` of a line without a
/// newline, then a line of spaces, then CR) before `precmd`, which would put it inside
/// the command's output: `preexec` turns it (and `PROMPT_CR`) off for the command and
/// `precmd` draws it after `D` and turns both on again.
const ZSH: &str = r#"# >>> ctmuxd shell integration (zsh) >>>
# OSC 133 marks (A prompt, B input, C output, D;status), OSC 633 E;cmdline and P;Cwd
# for ctmuxd. Builtins only; skipped if already loaded or another integration is active.
if [[ -o interactive && -z ${__ctmuxd_si-} && -z ${VSCODE_SHELL_INTEGRATION-} \
      && -z ${KITTY_SHELL_INTEGRATION-} ]]; then
  typeset -g __ctmuxd_si=1 __ctmuxd_ran= __ctmuxd_sp=
  __ctmuxd_esc() {
    REPLY=${1//\\/\\\\}; REPLY=${REPLY//;/\\x3b}
    REPLY=${REPLY//$'\n'/\\x0a}; REPLY=${REPLY//$'\a'/\\x07}; REPLY=${REPLY//$'\e'/\\x1b}
  }
  __ctmuxd_precmd() {
    local s=$? REPLY
    __ctmuxd_esc "$PWD"
    printf '\e]633;P;Cwd=%s\a' "$REPLY"
    if [[ -n $__ctmuxd_ran ]]; then
      printf '\e]133;D;%s\a' "$s"
      __ctmuxd_ran=
    fi
    if [[ -n $__ctmuxd_sp ]]; then
      # zsh prints PROMPT_SP before precmd, inside the command's output: it was
      # turned off for this command and is drawn here, after D, as zsh draws it.
      __ctmuxd_sp=
      setopt prompt_sp prompt_cr
      print -rn -- "${(%)PROMPT_EOL_MARK-%B%S%#%s%b}"
      printf '%*s\r' $((COLUMNS > 1 ? COLUMNS - 1 : 0)) ''
    fi
    printf '\e]133;A\a'
    return $s
  }
  __ctmuxd_preexec() {
    local REPLY
    __ctmuxd_esc "$1"
    printf '\e]633;E;%s\a\e]133;C\a' "$REPLY"
    __ctmuxd_ran=1
    if [[ -o prompt_sp && -o prompt_cr ]]; then
      __ctmuxd_sp=1
      unsetopt prompt_sp prompt_cr
    fi
  }
  typeset -ga precmd_functions preexec_functions
  precmd_functions=(__ctmuxd_precmd ${precmd_functions:#__ctmuxd_precmd})
  preexec_functions+=(__ctmuxd_preexec)
  PS1="${PS1}"$'%{\e]133;B\a%}'
fi
# <<< ctmuxd shell integration <<<
"#;

/// fish before 4: `fish_prompt` sends the working directory and `A`, `fish_preexec` the
/// command line (`E`) and `C`, `fish_postexec` the working directory and `D;status`.
const FISH: &str = r#"# >>> ctmuxd shell integration (fish < 4) >>>
# OSC 133 marks (A prompt, also after Ctrl-C drops the line, C output, D;status),
# OSC 633 E;cmdline and P;Cwd for ctmuxd.
# Builtins only; skipped if already loaded or another integration is active.
if status is-interactive; and not set -q __ctmuxd_si; and not set -q VSCODE_SHELL_INTEGRATION
    set -g __ctmuxd_si 1
    function __ctmuxd_esc
        string replace -a -- '\\' '\\\\' $argv[1] | string replace -a -- ';' '\\x3b' | string join '\\x0a'
    end
    function __ctmuxd_prompt --on-event fish_prompt
        printf '\e]633;P;Cwd=%s\a\e]133;A\a' (__ctmuxd_esc $PWD)
    end
    function __ctmuxd_cancel --on-event fish_cancel
        printf '\e]133;A\a'
    end
    function __ctmuxd_preexec --on-event fish_preexec
        printf '\e]633;E;%s\a\e]133;C\a' (__ctmuxd_esc $argv[1])
    end
    function __ctmuxd_postexec --on-event fish_postexec
        set -l s $status
        printf '\e]633;P;Cwd=%s\a\e]133;D;%s\a' (__ctmuxd_esc $PWD) $s
    end
end
# <<< ctmuxd shell integration <<<
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fish_versions_are_read_and_fish_4_is_told_it_has_marks() {
        assert_eq!(parse_fish_version("fish, version 3.6.0\n"), Some((3, 6)));
        assert_eq!(parse_fish_version("fish, version 4.0.2"), Some((4, 0)));
        assert_eq!(parse_fish_version("fish, version 4.1-beta"), Some((4, 1)));
        assert_eq!(parse_fish_version(""), None);
        assert!(snippet(InitShell::Fish, Some((4, 0))).contains("emits OSC 133"));
        assert!(snippet(InitShell::Fish, Some((4, 0))).lines().all(|l| l.starts_with('#')));
        assert!(snippet(InitShell::Fish, Some((3, 6))).contains("fish_postexec"));
        assert!(snippet(InitShell::Fish, None).contains("fish_preexec"));
    }

    #[test]
    fn every_snippet_marks_all_four_points_and_guards_against_a_second_load() {
        for shell in [InitShell::Bash, InitShell::Zsh, InitShell::Fish] {
            let s = snippet(shell, None);
            for mark in ["133;A", "133;C", "133;D;", "633;P;Cwd="] {
                assert!(s.contains(mark), "{shell}: {mark}");
            }
            assert!(s.contains("__ctmuxd_si"), "{shell}");
        }
        assert!(snippet(InitShell::Zsh, None).contains("633;E;"));
        assert_eq!(InitShell::parse("zsh"), Ok(InitShell::Zsh));
        assert!(InitShell::parse("csh").unwrap_err().contains("bash, zsh or fish"));
    }
}
