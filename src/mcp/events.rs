//! The `events` tool's memory: the daemon has no backlog of events, so the MCP server
//! subscribes to its `events` stream when it starts and keeps the newest records here,
//! each numbered by a cursor that only grows, so an agent asks "what happened since
//! cursor N" and misses nothing that is still kept (and is told when something is not).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use tokio::sync::Notify;

use super::scope::Policy;
use crate::api::client::Client;
use crate::api::protocol::StreamLine;
use crate::api::request::{EventsRequest, Request};
use crate::tmux::TmuxTarget;

/// Records kept for `events`; older ones are dropped (and counted).
pub const KEPT_EVENTS: usize = 1000;

/// The newest event-log records, each with its cursor.
#[derive(Debug, Default)]
pub struct EventBuffer {
    /// `(cursor, record)`, oldest first; at most [`KEPT_EVENTS`].
    items: VecDeque<(u64, Value)>,
    /// The cursor of the newest record (0: none yet).
    last: u64,
    /// Records the daemon dropped for this reader (`{"lagged":N}`), since the start.
    lagged: u64,
    /// Why the stream ended, when it did.
    ended: Option<String>,
}

/// What the `events` tool answers.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct EventsPage {
    /// Records after the cursor asked for, oldest first; each carries its `cursor`.
    pub events: Vec<Value>,
    /// Pass this as `cursor` next time.
    pub cursor: u64,
    /// Records after the cursor that are no longer kept here (more than
    /// [`KEPT_EVENTS`] since), lost.
    pub dropped: u64,
    /// Records the daemon dropped because this server read too slowly, since it started.
    pub lagged: u64,
    /// Records that `limit` left for the next page (call again with `cursor`).
    pub more: usize,
    /// Set when the daemon's event stream ended (it stopped): no new events will come.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended: Option<String>,
}

impl EventBuffer {
    /// Keeps `rec` under the next cursor.
    pub fn push(&mut self, rec: Value) {
        self.last += 1;
        if self.items.len() == KEPT_EVENTS {
            self.items.pop_front();
        }
        self.items.push_back((self.last, rec));
    }

    /// The cursor of the newest record kept (0: none yet).
    pub fn last(&self) -> u64 {
        self.last
    }

    /// The records after `cursor` that `policy` lets the agent see, at most `limit` of
    /// them, the oldest first (so paging on from the answer's cursor misses nothing).
    pub fn page(&self, cursor: u64, limit: usize, policy: &Policy) -> EventsPage {
        let oldest = self.items.front().map_or(self.last + 1, |(c, _)| *c);
        let dropped = oldest.saturating_sub(cursor.min(self.last) + 1);
        let mut events = Vec::new();
        let mut next = cursor.min(self.last);
        let mut more = 0;
        for (c, rec) in self.items.iter().filter(|(c, _)| *c > cursor) {
            let label = rec.get("label").and_then(Value::as_str);
            let session = rec.get("session").and_then(Value::as_str);
            if !policy.event_in_scope(label, session) {
                if events.len() < limit {
                    next = *c;
                }
                continue;
            }
            if events.len() == limit {
                more += 1;
                continue;
            }
            let mut rec = rec.clone();
            if let Value::Object(m) = &mut rec {
                m.insert("cursor".into(), Value::from(*c));
            }
            events.push(rec);
            next = *c;
        }
        EventsPage {
            events,
            cursor: next,
            dropped,
            lagged: self.lagged,
            more,
            ended: self.ended.clone(),
        }
    }
}

/// Follows the daemon's `events` stream into `buf` until it ends (the daemon stopped) or
/// the stream cannot be opened; the reason is kept in the buffer. `changed` is woken at
/// each record kept (the push of [`super::push`] waits on it).
pub async fn follow(target: TmuxTarget, buf: Arc<Mutex<EventBuffer>>, changed: Arc<Notify>) {
    let why = match Client::connect(&target).await {
        Err(e) => e.to_string(),
        Ok(client) => {
            let req = Request::from(EventsRequest {});
            match client.stream(&req, Duration::from_secs(10)).await {
                Err(e) => e.to_string(),
                Ok(mut stream) => loop {
                    match stream.next().await {
                        Ok(Some(StreamLine::Event(v))) => {
                            buf.lock().expect("events").push(v);
                            changed.notify_one();
                        }
                        Ok(Some(StreamLine::Lagged(n))) => buf.lock().expect("events").lagged += n,
                        Ok(None) => break "the daemon ended the event stream (it stopped)".into(),
                        Err(e) => break e.to_string(),
                    }
                },
            }
        }
    };
    tracing::warn!("ctmuxd mcp: no more events: {why}");
    buf.lock().expect("events").ended = Some(why);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pages_follow_the_cursor_without_gaps_or_repeats() {
        let mut b = EventBuffer::default();
        for i in 0..5 {
            b.push(json!({"event": "match", "n": i, "label": if i % 2 == 0 { "a" } else { "b" }}));
        }
        let all = Policy::default();
        let p = b.page(0, 2, &all);
        assert_eq!(p.events.len(), 2);
        assert_eq!(p.cursor, 2);
        assert_eq!(p.more, 3);
        let p2 = b.page(p.cursor, 10, &all);
        assert_eq!(
            p2.events.iter().map(|e| e["n"].as_i64().unwrap()).collect::<Vec<_>>(),
            [2, 3, 4]
        );
        assert_eq!(p2.cursor, 5);
        assert_eq!(b.page(5, 10, &all).events.len(), 0);
        assert_eq!(b.page(5, 10, &all).cursor, 5);
        // Scoped to `a`: b's records are skipped, the cursor still moves past them.
        let scoped = Policy { label_glob: Some("a".into()), ..Default::default() };
        let p = b.page(0, 10, &scoped);
        assert_eq!(p.events.len(), 3);
        assert_eq!(p.cursor, 5);
    }

    #[test]
    fn records_beyond_the_kept_ones_are_reported_dropped() {
        let mut b = EventBuffer::default();
        for i in 0..(KEPT_EVENTS + 10) {
            b.push(json!({"n": i}));
        }
        let p = b.page(0, 1, &Policy::default());
        assert_eq!(p.dropped, 10);
        assert_eq!(p.events[0]["cursor"], 11);
    }
}
