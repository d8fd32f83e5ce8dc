//! `panes`: every pane of the server, ordered by id (`ctmuxd panes`).

use std::io::Write;
use std::process::ExitCode;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{json_line, table, ApiRequest, CliRequest, Daemon, Failure, JsonArgs, Reply};
use crate::api::protocol::PaneView;

/// Arguments of `panes`: none.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PanesRequest {}

/// Body of the `panes` reply.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PanesReply {
    /// Every pane, ordered by id.
    pub panes: Vec<PaneView>,
}

impl Reply for PanesReply {}

impl ApiRequest for PanesRequest {
    const CMD: &'static str = "panes";
    type Answer = PanesReply;
}

impl CliRequest for PanesRequest {
    const NAME: &'static str = "panes";
    const ABOUT: &'static str =
        "List every pane: id, label, metadata, session, window, command, pid, size, state, last line";
    const EXAMPLES: &'static str =
        "Examples:\n  ctmuxd panes -L work\n  ctmuxd panes --json | jq '.[] | select(.alive) | .label'";
    type Args = JsonArgs;

    fn from_args(_: &JsonArgs) -> Result<PanesRequest, String> {
        Ok(PanesRequest {})
    }

    async fn show(
        PanesReply { panes }: PanesReply,
        args: JsonArgs,
        _: Daemon,
        out: &mut dyn Write,
    ) -> Result<ExitCode, Failure> {
        if args.json {
            json_line(out, &panes)?;
        } else {
            out.write_all(panes_table(&panes).as_bytes())?;
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// Longest last line shown in the `panes` table (the JSON has it whole).
const LAST_LINE_CHARS: usize = 60;

fn panes_table(panes: &[PaneView]) -> String {
    let mut rows = vec![[
        "ID",
        "LABEL",
        "SESSION",
        "WINDOW",
        "COMMAND",
        "PID",
        "SIZE",
        "STATE",
        "META",
        "LAST LINE",
    ]
    .map(String::from)
    .to_vec()];
    for p in panes {
        let state = match (p.alive, p.exit_status, p.exit_signal) {
            (true, _, _) => "alive".to_string(),
            (false, _, Some(sig)) => format!("killed by signal {sig}"),
            (false, Some(st), None) => format!("exited {st}"),
            (false, None, None) => "exited".to_string(),
        };
        // A `[[pane]]` entry's place in the start order, after its process state.
        let state = match &p.start {
            Some(start) => format!("{state}, {start}"),
            None => state,
        };
        // A shell with integration: at a prompt (and the last status) or what runs.
        let state = match &p.shell {
            Some(shell) if p.alive => format!("{state}, {}", shell.brief()),
            _ => state,
        };
        let meta = match &p.meta {
            Value::Object(m) if !m.is_empty() => m
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => format!("{k}={s}"),
                    v => format!("{k}={v}"),
                })
                .collect::<Vec<_>>()
                .join(","),
            _ => "-".to_string(),
        };
        let last = p.last_line.as_deref().unwrap_or("");
        let last = if last.chars().count() > LAST_LINE_CHARS {
            format!("{}…", last.chars().take(LAST_LINE_CHARS - 1).collect::<String>())
        } else {
            last.to_string()
        };
        rows.push(vec![
            // A daemon of several servers: the pane's address there, `gpu/%3`.
            match &p.server {
                Some(server) => format!("{server}/{}", p.id),
                None => p.id.clone(),
            },
            p.label.clone().unwrap_or_else(|| "-".into()),
            p.session.clone(),
            p.window.clone(),
            p.command.clone(),
            p.pid.to_string(),
            format!("{}x{}", p.width, p.height),
            state,
            meta,
            last,
        ]);
    }
    table(&rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::protocol::{LastCommandView, ShellView};

    #[test]
    fn panes_table_shows_state_meta_and_a_shortened_line() {
        let p = PaneView {
            server: None,
            id: "%3".into(),
            label: Some("db".into()),
            meta: serde_json::json!({"role":"database","n":2}),
            session: "main".into(),
            window: "@1".into(),
            command: "postgres".into(),
            pid: 42,
            width: 80,
            height: 24,
            alive: false,
            exit_status: Some(3),
            exit_signal: None,
            last_line: Some("x".repeat(100)),
            start: Some("failed".into()),
            target: Some("main:1.0".into()),
            matches: Some(2),
            shell: None,
        };
        let t = panes_table(&[
            p.clone(),
            PaneView { alive: true, label: None, meta: Value::Null, start: None, ..p.clone() },
        ]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("ID  LABEL  SESSION"), "{t}");
        assert!(
            lines[1].contains("exited 3, failed")
                && lines[1].contains("n=2,role=database")
                && lines[1].contains("80x24")
        );
        assert!(
            lines[1].ends_with('…')
                && lines[1].chars().filter(|&c| c == 'x').count() >= LAST_LINE_CHARS - 1
        );
        assert!(lines[2].contains("alive") && lines[2].contains("%3  -  "), "{t}");
        let shell = |state: &str, cmdline: Option<&str>, last: Option<i32>| ShellView {
            state: state.into(),
            cmdline: cmdline.map(String::from),
            last: last.map(|s| LastCommandView { status: Some(s), ..Default::default() }),
            ..Default::default()
        };
        let alive = PaneView { alive: true, start: None, ..p };
        let with = |s: ShellView| panes_table(&[PaneView { shell: Some(s), ..alive.clone() }]);
        assert!(with(shell("prompt", None, Some(1))).contains("alive, prompt, last 1"));
        assert!(with(shell("running", Some("make"), Some(1))).contains("alive, running make"));
        // A daemon of several servers shows where each pane is.
        let far = panes_table(&[PaneView { server: Some("gpu".into()), ..alive.clone() }]);
        assert!(far.lines().nth(1).unwrap().starts_with("gpu/%3 "), "{far}");
        // Columns line up.
        let col = |l: &str| l.find("main").unwrap();
        assert_eq!(col(lines[1]), col(lines[2]));
    }
}
