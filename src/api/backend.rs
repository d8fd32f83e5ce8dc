//! The seam between the socket server and the daemon: the [`Backend`] trait.
//!
//! The server ([`super::server`]) parses requests and writes replies; everything a request
//! actually does (read the pane registry, run tmux commands, add a matcher) is the daemon's
//! business, reached through this trait. Tests implement it with a fake; the daemon
//! implements it over its engine and control connections.
//!
//! The methods are object-safe futures (`Pin<Box<dyn Future + Send>>`) rather than `async fn`
//! so the server can hold an `Arc<dyn Backend>` without an extra crate.

use std::future::Future;
use std::pin::Pin;

use serde_json::Value;
use tokio::sync::{broadcast, mpsc};

use crate::eventlog::Record;

use super::protocol::{
    ApiError, MatchView, PaneView, ReloadReply, RuleView, SendReply, SendRequest, SpawnRequest,
    StatusView, SubscribeRequest, WaitRequest,
};

/// The future every [`Backend`] method returns.
pub type BackendFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, ApiError>> + Send + 'a>>;

/// A live `subscribe`: the matches, and what keeps the rule alive.
pub struct Subscription {
    /// Match events, one JSON object each (the shape of an event-log `match` record).
    /// The backend owns the sender; it should `try_send` and count what a full channel
    /// drops, so a slow subscriber never stalls pane processing. Closing the sender ends
    /// the stream (the client sees the connection close).
    pub events: mpsc::Receiver<Value>,
    /// Dropped by the server when the subscriber disconnects or the daemon stops; its
    /// `Drop` removes the dynamic rule unless the request asked to `persist`.
    pub guard: Box<dyn Send>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription").finish_non_exhaustive()
    }
}

/// What the daemon does for each request kind.
///
/// Errors are [`ApiError`]s whose code the CLI turns into an exit status and whose message
/// it prints as is: an unknown label is [`super::ErrorCode::NotFound`] with a message that
/// lists the labels in use, a bad regex is `BadRequest`, a taken label `Conflict`, a tmux
/// refusal `Tmux`.
///
/// Cancellation: the server drops a method's future when its timeout passes, when the
/// daemon stops, or (for streams) when the client goes away. Implementations must clean up
/// on drop (remove a temporary matcher, forget a waiter), not only on completion.
pub trait Backend: Send + Sync + 'static {
    /// Every pane of the server, ordered by id.
    fn panes(&self) -> BackendFuture<'_, Vec<PaneView>>;

    /// Starts a labelled pane and returns it.
    fn spawn(&self, req: SpawnRequest) -> BackendFuture<'_, PaneView>;

    /// Kills the panes whose labels match any of `labels` (labels or globs) and returns them.
    /// A pattern that matches nothing is `NotFound`.
    fn close(&self, labels: Vec<String>) -> BackendFuture<'_, Vec<PaneView>>;

    /// Types text into a pane; with `expect`, starts watching for it before sending and
    /// returns the matching line. The server bounds the whole call by `timeout_ms`.
    fn send(&self, req: SendRequest) -> BackendFuture<'_, SendReply>;

    /// The pane's last `lines` lines as a person saw them, oldest first.
    fn capture(&self, label: String, lines: usize) -> BackendFuture<'_, Vec<String>>;

    /// Resolves with the first line of the pane that matches `pattern`: among its last
    /// `since` lines, else the next one printed. Pends until then; the server applies
    /// `timeout_ms` by dropping the future.
    fn wait_for(&self, req: WaitRequest) -> BackendFuture<'_, MatchView>;

    /// Adds a dynamic rule and returns its match stream.
    fn subscribe(&self, req: SubscribeRequest) -> BackendFuture<'_, Subscription>;

    /// The rules in force with their match counts.
    fn rules(&self) -> BackendFuture<'_, Vec<RuleView>>;

    /// Re-reads the rules file; on error the old rules stay in force.
    fn reload(&self) -> BackendFuture<'_, ReloadReply>;

    /// What the daemon is doing.
    fn status(&self) -> BackendFuture<'_, StatusView>;

    /// Asks the daemon to stop. It should resolve once the stop is under way; the server
    /// writes the reply before its own shutdown closes the connection.
    fn stop(&self) -> BackendFuture<'_, ()>;

    /// A receiver of every event-log record written from now on.
    fn events(&self) -> BackendFuture<'_, broadcast::Receiver<Record>>;
}
