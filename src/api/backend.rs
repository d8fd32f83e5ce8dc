//! The seam between the socket server and the daemon: the [`Backend`] trait.
//!
//! The server ([`super::server`]) parses requests and writes replies; everything a request
//! actually does (read the pane registry, run tmux commands, add a matcher) is the daemon's
//! business, reached through this trait. Tests implement it with a fake; the daemon
//! implements it over its engine and control connections.
//!
//! The trait is generated from the `api_requests!` list ([`super::request`]): one method
//! per request, named after its module, taking the request and answering its
//! [`ApiRequest::Answer`] (the reply body, or a stream for `subscribe` and `events`). A new
//! request therefore adds a method here by itself, and the compiler asks every backend
//! for it.
//!
//! The methods are object-safe futures (`Pin<Box<dyn Future + Send>>`) rather than `async fn`
//! so the server can hold an `Arc<dyn Backend>` without an extra crate.

use std::future::Future;
use std::pin::Pin;

use super::protocol::ApiError;
use super::request::{api_requests, ApiRequest};

/// The future every [`Backend`] method returns.
pub type BackendFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, ApiError>> + Send + 'a>>;

/// Generates [`Backend`] from the `api_requests!` list.
macro_rules! backend_trait {
    ($( $(#[$doc:meta])* $variant:ident($req:ident) in $module:ident; )*) => {
        /// What the daemon does for each request kind: one method per request.
        ///
        /// Errors are [`ApiError`]s whose code the CLI turns into an exit status and whose
        /// message it prints as is: an unknown label is [`super::ErrorCode::NotFound`] with a
        /// message that lists the labels in use, a bad regex is `BadRequest`, a taken label
        /// `Conflict`, a tmux refusal `Tmux`.
        ///
        /// Cancellation: the server drops a method's future when its timeout passes, when
        /// the daemon stops, or (for streams) when the client goes away. Implementations
        /// must clean up on drop (remove a temporary matcher, forget a waiter), not only on
        /// completion.
        pub trait Backend: Send + Sync + 'static {
            $(
                $(#[$doc])*
                fn $module(
                    &self,
                    req: super::request::$req,
                ) -> BackendFuture<'_, <super::request::$req as ApiRequest>::Answer>;
            )*
        }
    };
}

api_requests!(backend_trait);
