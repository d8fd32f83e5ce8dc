//! Push: rule firings and finished shell commands sent to the agent's client as MCP
//! notifications the moment the daemon records them, so an agent that supports them need
//! not call `events` to learn that a build failed.
//!
//! Two kinds, from the same records the `events` tool keeps ([`super::events`]):
//! `notifications/message` (MCP logging: level `notice` for a rule firing, `info` for a
//! command that exited 0, `warning` for one that did not; logger `ctmuxd`; `data` the
//! record with its `events` cursor and a `message` sentence), filtered by the level the
//! client sets with `logging/setLevel`; and, with `--claude-channel`, Claude Code's
//! experimental `notifications/claude/channel` (`content` the sentence, `meta` string
//! attributes), which Claude Code puts in the model's context. Only records about panes
//! in the server's scope are pushed.

#![allow(deprecated)] // MCP logging: deprecated by SEP-2577 in rmcp, still what clients show.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use rmcp::model::{
    CustomNotification, LoggingLevel, LoggingMessageNotificationParam, ServerNotification,
};
use rmcp::service::Peer;
use rmcp::RoleServer;
use serde_json::Value;
use tokio::sync::Notify;

use super::events::EventBuffer;
use super::scope::Policy;

/// An MCP logging level (rmcp marks logging deprecated; named here once, so the rest of
/// the server does not need the `allow`).
pub type Level = LoggingLevel;

/// The level pushed messages start from until the client sets one: `info`.
pub fn default_level() -> Level {
    LoggingLevel::Info
}

/// The Claude Code channel notification's method.
pub const CHANNEL_METHOD: &str = "notifications/claude/channel";

/// Records a push reads from the buffer at once (it catches up page by page).
const PAGE: usize = 200;

/// What to push and where.
pub struct Push {
    /// The client.
    pub peer: Peer<RoleServer>,
    /// Records of the daemon's event stream, with their cursors.
    pub events: Arc<Mutex<EventBuffer>>,
    /// Woken by [`super::events::follow`] at each record kept.
    pub changed: Arc<Notify>,
    /// Which panes' records the agent may see.
    pub policy: Arc<Policy>,
    /// The least severe level the client wants (`logging/setLevel`; default `info`).
    pub level: Arc<Mutex<LoggingLevel>>,
    /// Also send Claude Code's channel notification (`--claude-channel`).
    pub channel: bool,
}

/// One record worth pushing: its level and its sentence.
pub fn describe(rec: &Value) -> Option<(LoggingLevel, String)> {
    let s = |k: &str| rec.get(k).and_then(Value::as_str);
    let pane = match (s("label"), s("pane")) {
        (Some(l), Some(p)) => format!("pane `{l}` ({p})"),
        (None, Some(p)) => format!("pane {p}"),
        _ => "a pane".to_string(),
    };
    match s("event")? {
        "match" => Some((
            LoggingLevel::Notice,
            format!(
                "rule `{}` fired in {pane}: {}",
                s("rule").unwrap_or("?"),
                s("line").unwrap_or_default()
            ),
        )),
        "command" => {
            let status = rec.get("status").and_then(Value::as_i64);
            let what = s("cmdline").map_or("a command".to_string(), |c| format!("`{c}`"));
            let ms = rec.get("duration_ms").and_then(Value::as_u64).unwrap_or(0);
            let (level, ended) = match status {
                Some(0) => (LoggingLevel::Info, "exited 0".to_string()),
                Some(n) => (LoggingLevel::Warning, format!("exited {n}")),
                None => (LoggingLevel::Info, "finished (no status)".to_string()),
            };
            Some((level, format!("{what} {ended} in {pane} after {ms} ms")))
        }
        _ => None,
    }
}

/// Severity order of MCP logging levels (debug lowest).
fn rank(l: LoggingLevel) -> u8 {
    match l {
        LoggingLevel::Debug => 0,
        LoggingLevel::Info => 1,
        LoggingLevel::Notice => 2,
        LoggingLevel::Warning => 3,
        LoggingLevel::Error => 4,
        LoggingLevel::Critical => 5,
        LoggingLevel::Alert => 6,
        LoggingLevel::Emergency => 7,
    }
}

/// The channel notification's `meta`: the record's short fields, as strings (Claude Code
/// makes them attributes of the `<channel>` tag).
fn channel_meta(rec: &Value) -> BTreeMap<String, String> {
    ["event", "rule", "pane", "label", "cmdline", "status", "cursor"]
        .iter()
        .filter_map(|k| {
            let v = rec.get(*k)?;
            let text = v.as_str().map_or_else(|| v.to_string(), str::to_string);
            Some((k.to_string(), text))
        })
        .collect()
}

/// Pushes every firing and finished command kept from now on, until the client is gone.
pub async fn run(p: Push) {
    let mut cursor = p.events.lock().expect("events").last();
    loop {
        p.changed.notified().await;
        loop {
            let page = p.events.lock().expect("events").page(cursor, PAGE, &p.policy);
            cursor = page.cursor;
            for rec in &page.events {
                let Some((level, message)) = describe(rec) else { continue };
                if rank(level) >= rank(*p.level.lock().expect("level")) {
                    let mut data = rec.clone();
                    if let Value::Object(m) = &mut data {
                        m.insert("message".into(), Value::from(message.clone()));
                    }
                    let mut param = LoggingMessageNotificationParam::new(level, data);
                    param.logger = Some("ctmuxd".into());
                    if p.peer.notify_logging_message(param).await.is_err() {
                        return;
                    }
                }
                if p.channel {
                    let params = serde_json::json!({"content": message, "meta": channel_meta(rec)});
                    let note = CustomNotification::new(CHANNEL_METHOD, Some(params));
                    let sent = p
                        .peer
                        .send_notification(ServerNotification::CustomNotification(note))
                        .await;
                    if sent.is_err() {
                        return;
                    }
                }
            }
            if page.more == 0 {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn firings_and_commands_are_described_others_are_not() {
        let m = json!({"event": "match", "rule": "fail", "pane": "%2", "label": "build",
                       "line": "error[E0308]"});
        let (level, text) = describe(&m).unwrap();
        assert_eq!(level, LoggingLevel::Notice);
        assert_eq!(text, "rule `fail` fired in pane `build` (%2): error[E0308]");
        let c = json!({"event": "command", "pane": "%4", "cmdline": "make", "status": 2,
                       "duration_ms": 1500});
        let (level, text) = describe(&c).unwrap();
        assert_eq!(level, LoggingLevel::Warning);
        assert_eq!(text, "`make` exited 2 in pane %4 after 1500 ms");
        let ok = json!({"event": "command", "pane": "%4", "status": 0, "duration_ms": 3});
        assert_eq!(describe(&ok).unwrap().0, LoggingLevel::Info);
        assert_eq!(describe(&json!({"event": "pane", "pane": "%1"})), None);
        assert!(rank(LoggingLevel::Warning) > rank(LoggingLevel::Info));
        let meta = channel_meta(&json!({"event": "command", "status": 2, "pane": "%4"}));
        assert_eq!(meta["status"], "2");
        assert_eq!(meta["pane"], "%4");
    }
}
