//! `events`: every event-log record from now on, streamed (`ctmuxd events`).

use std::future::Future;
use std::io::Write;
use std::pin::Pin;
use std::process::ExitCode;

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use super::{
    follow, Answer, ApiRequest, CliRequest, Daemon, EventSource, Failure, NoArgs, Outcome,
};
use crate::api::protocol::{ApiError, StreamLine, StreamStarted};
use crate::eventlog::Record;

/// Arguments of `events`: none.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventsRequest {}

impl ApiRequest for EventsRequest {
    const CMD: &'static str = "events";
    type Answer = EventFeed;
}

/// The backend's answer to `events`: a receiver of every event-log record written from
/// now on; a reader that falls behind is told how many it lost (`{"lagged":N}`).
#[derive(Debug)]
pub enum EventFeed {
    /// One server's records, as the log writes them.
    One(broadcast::Receiver<std::sync::Arc<Record>>),
    /// The records of a daemon watching several servers, each with its server's name
    /// (written as the record's `"server"`, as in the log file).
    Servers(broadcast::Receiver<(std::sync::Arc<str>, std::sync::Arc<Record>)>),
}

impl Answer for EventFeed {
    type Reply = StreamStarted;
    const STREAM: bool = true;
    fn into_outcome(self) -> Result<Outcome, ApiError> {
        Ok(Outcome::Stream(Box::new(self)))
    }
}

impl EventSource for EventFeed {
    fn next_line(&mut self) -> Pin<Box<dyn Future<Output = Option<StreamLine>> + Send + '_>> {
        Box::pin(async {
            let next = match self {
                EventFeed::One(rx) => rx.recv().await.map(|rec| serde_json::to_value(&*rec).ok()),
                EventFeed::Servers(rx) => rx.recv().await.map(|(server, rec)| {
                    let mut value = serde_json::to_value(&*rec).ok()?;
                    if let Some(map) = value.as_object_mut() {
                        map.insert("server".into(), server.as_ref().into());
                    }
                    Some(value)
                }),
            };
            match next {
                Ok(value) => value.map(StreamLine::Event),
                Err(broadcast::error::RecvError::Lagged(n)) => Some(StreamLine::Lagged(n)),
                Err(broadcast::error::RecvError::Closed) => None,
            }
        })
    }
}

impl CliRequest for EventsRequest {
    const NAME: &'static str = "events";
    const ABOUT: &'static str =
        "Print the daemon's event-log records live, as JSON lines, until interrupted";
    const EXAMPLES: &'static str = "Example:\n  ctmuxd events | jq 'select(.event == \"match\")'";
    type Args = NoArgs;

    fn from_args(_: &NoArgs) -> Result<EventsRequest, String> {
        Ok(EventsRequest {})
    }

    async fn show(
        _: StreamStarted,
        _: NoArgs,
        daemon: Daemon,
        out: &mut dyn Write,
    ) -> Result<ExitCode, Failure> {
        follow(daemon.client.into_stream(), out).await
    }
}
