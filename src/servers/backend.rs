//! The API of a daemon watching several servers: one socket, each request routed to the
//! server its pane address names, and the answers that span servers added up.
//!
//! Addresses: `server/label` and `server/%id` name a pane on one server; a bare label or
//! `%id` works when exactly one server has it (else the request is refused with the
//! addresses to write instead). `spawn` opens the pane on the server its label's prefix
//! names, else on the first. `close` with a bare glob closes on every server. `panes`,
//! `rules` and `status` cover every server (`status` adds each server's link), `events`
//! streams every server's records with their `server`, `reload` reloads each server's
//! share of the rules file. Each server's own answers are [`DaemonBackend`]'s.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tmux_control_parser::PaneId;
use tokio::sync::broadcast;

use crate::action_tasks::Dispatcher;
use crate::answers::DaemonBackend;
use crate::api::protocol::{ApiError, Empty, ErrorCode, PaneView};
use crate::api::request::{
    CaptureReply, CaptureRequest, CloseReply, CloseRequest, EventFeed, EventsRequest, LabelReply,
    LabelRequest, PanesReply, PanesRequest, ReadReply, ReadRequest, ReloadReply, ReloadRequest,
    RuleView, RulesReply, RulesRequest, RunReply, RunRequest, SendReply, SendRequest, ServerView,
    SpawnReply, SpawnRequest, StatusReply, StatusRequest, StopRequest, SubscribeRequest, WaitReply,
    WaitRequest,
};
use crate::api::{Backend, BackendFuture, Subscription};
use crate::eventlog::{DaemonEvent, Record};
use crate::link::{Link, LinkState};
use crate::tmux::version::TmuxVersion;

/// One server as the API reaches it.
pub struct Route {
    /// Its name, the prefix of its addresses.
    pub name: String,
    /// Its own answers.
    pub backend: DaemonBackend,
    /// Its engine and log.
    pub dispatcher: Dispatcher,
    /// Its link's state.
    pub link: Arc<Link>,
    /// Its tmux release, once attached.
    pub tmux_version: Arc<Mutex<Option<TmuxVersion>>>,
}

/// The backend of a daemon watching several servers (see the module docs).
pub struct ServersBackend {
    routes: Vec<Route>,
    /// Every server's records with its name, for `events`; fed by one task per server.
    events: broadcast::Sender<(Arc<str>, Arc<Record>)>,
}

impl ServersBackend {
    /// Routes requests over `routes` (the first is where unprefixed spawns go), and starts
    /// forwarding each server's records to the `events` feed.
    pub fn new(routes: Vec<Route>) -> ServersBackend {
        let (events, _) = broadcast::channel(4096);
        for r in &routes {
            let (mut rx, tx, name) = (
                r.dispatcher.subscribe_events(),
                events.clone(),
                Arc::<str>::from(r.name.as_str()),
            );
            tokio::spawn(async move {
                loop {
                    match rx.recv().await {
                        Ok(rec) => {
                            let _ = tx.send((name.clone(), rec));
                        }
                        // Each subscriber of the merged feed learns of its own lag; this
                        // forwarder only lags if the daemon itself stalls.
                        Err(broadcast::error::RecvError::Lagged(n)) => {
                            tracing::warn!("events of server {name}: {n} record(s) not forwarded");
                        }
                        Err(broadcast::error::RecvError::Closed) => break,
                    }
                }
            });
        }
        ServersBackend { routes, events }
    }

    /// The server a `server/…` prefix names, and the rest of the address.
    fn prefixed<'a>(&self, address: &'a str) -> Option<(usize, &'a str)> {
        let (server, rest) = address.split_once('/')?;
        self.routes.iter().position(|r| r.name == server).map(|i| (i, rest))
    }

    /// The server that has the pane `address` names, and its address there.
    ///
    /// # Errors
    /// `NotFound` when no server has it (listing every server's labels), `Conflict` when
    /// a bare label or id is on several (listing the addresses to write instead).
    fn owner<'a>(&self, address: &'a str) -> Result<(usize, &'a str), ApiError> {
        if let Some(found) = self.prefixed(address) {
            return Ok(found);
        }
        let id: Option<PaneId> = address.parse().ok();
        let having: Vec<usize> = (0..self.routes.len())
            .filter(|&i| {
                let engine = self.routes[i].dispatcher.engine.lock().expect("engine");
                !engine.panes_labelled(address).is_empty()
                    || id.is_some_and(|id| engine.pane_info(id).is_some())
            })
            .collect();
        match having[..] {
            [one] => Ok((one, address)),
            [] if self.routes.len() == 1 => Ok((0, address)),
            [] => {
                let mut known: Vec<String> = Vec::new();
                for r in &self.routes {
                    let engine = r.dispatcher.engine.lock().expect("engine");
                    known.extend(
                        engine
                            .panes()
                            .into_iter()
                            .filter_map(|(_, i)| i.label)
                            .map(|l| format!("{}/{l}", r.name)),
                    );
                }
                known.sort();
                Err(ApiError::not_found(format!(
                    "no pane labelled {address:?} on any server; labels in use: {}",
                    if known.is_empty() { "none".to_string() } else { known.join(", ") }
                )))
            }
            _ => {
                let write: Vec<String> =
                    having.iter().map(|&i| format!("{}/{address}", self.routes[i].name)).collect();
                Err(ApiError::new(
                    ErrorCode::Conflict,
                    format!("{address:?} is on several servers; name one: {}", write.join(" or ")),
                ))
            }
        }
    }

    /// `view` stamped with the server it is on.
    fn stamp(&self, i: usize, mut view: PaneView) -> PaneView {
        view.server = Some(self.routes[i].name.clone());
        view
    }
}

impl Backend for ServersBackend {
    fn panes(&self, req: PanesRequest) -> BackendFuture<'_, PanesReply> {
        Box::pin(async move {
            let mut panes = Vec::new();
            for (i, r) in self.routes.iter().enumerate() {
                // A server that is down has no panes to show, and a link that is not up is
                // not waited on; the others still answer.
                if r.link.view().state != LinkState::Up {
                    continue;
                }
                match r.backend.panes(req.clone()).await {
                    Ok(reply) => panes.extend(reply.panes.into_iter().map(|p| self.stamp(i, p))),
                    Err(e) => tracing::debug!("panes of server {}: {}", r.name, e.message),
                }
            }
            Ok(PanesReply { panes })
        })
    }

    fn spawn(&self, mut req: SpawnRequest) -> BackendFuture<'_, SpawnReply> {
        Box::pin(async move {
            let i = match self.prefixed(&req.label) {
                Some((i, rest)) => {
                    req.label = rest.to_string();
                    i
                }
                None => 0,
            };
            self.routes[i].backend.spawn(req).await
        })
    }

    fn label(&self, mut req: LabelRequest) -> BackendFuture<'_, LabelReply> {
        Box::pin(async move {
            let (i, pane) = self.owner(&req.pane)?;
            req.pane = pane.to_string();
            let reply = self.routes[i].backend.label(req).await?;
            Ok(LabelReply { pane: self.stamp(i, reply.pane) })
        })
    }

    fn close(&self, req: CloseRequest) -> BackendFuture<'_, CloseReply> {
        Box::pin(async move {
            // Each server gets its prefixed globs, and the bare ones.
            let mut per: Vec<Vec<String>> = vec![Vec::new(); self.routes.len()];
            for glob in &req.labels {
                match self.prefixed(glob) {
                    Some((i, rest)) => per[i].push(rest.to_string()),
                    None => per.iter_mut().for_each(|p| p.push(glob.clone())),
                }
            }
            let mut closed = Vec::new();
            let mut first_error = None;
            for (i, labels) in per.into_iter().enumerate().filter(|(_, l)| !l.is_empty()) {
                match self.routes[i].backend.close(CloseRequest { labels }).await {
                    Ok(reply) => closed.extend(reply.closed.into_iter().map(|p| self.stamp(i, p))),
                    Err(e) => {
                        first_error.get_or_insert(e);
                    }
                }
            }
            match (closed.is_empty(), first_error) {
                (true, Some(e)) => Err(e),
                _ => Ok(CloseReply { closed }),
            }
        })
    }

    fn send(&self, mut req: SendRequest) -> BackendFuture<'_, SendReply> {
        Box::pin(async move {
            let (i, label) = self.owner(&req.label)?;
            req.label = label.to_string();
            self.routes[i].backend.send(req).await
        })
    }

    fn capture(&self, mut req: CaptureRequest) -> BackendFuture<'_, CaptureReply> {
        Box::pin(async move {
            let (i, label) = self.owner(&req.label)?;
            req.label = label.to_string();
            self.routes[i].backend.capture(req).await
        })
    }

    fn read(&self, mut req: ReadRequest) -> BackendFuture<'_, ReadReply> {
        Box::pin(async move {
            let (i, label) = self.owner(&req.label)?;
            req.label = label.to_string();
            self.routes[i].backend.read(req).await
        })
    }

    fn wait_for(&self, mut req: WaitRequest) -> BackendFuture<'_, WaitReply> {
        Box::pin(async move {
            let (i, label) = self.owner(&req.label)?;
            req.label = label.to_string();
            self.routes[i].backend.wait_for(req).await
        })
    }

    fn subscribe(&self, mut req: SubscribeRequest) -> BackendFuture<'_, Subscription> {
        Box::pin(async move {
            let (i, label) = self.owner(&req.label)?;
            req.label = label.to_string();
            self.routes[i].backend.subscribe(req).await
        })
    }

    fn rules(&self, req: RulesRequest) -> BackendFuture<'_, RulesReply> {
        Box::pin(async move {
            // A rule every server runs is listed once, with the matches of all of them.
            let mut rules: Vec<RuleView> = Vec::new();
            let mut at: HashMap<(String, bool), usize> = HashMap::new();
            for r in &self.routes {
                for view in r.backend.rules(req.clone()).await?.rules {
                    match at.get(&(view.name.clone(), view.dynamic)) {
                        Some(&k) => rules[k].matches += view.matches,
                        None => {
                            at.insert((view.name.clone(), view.dynamic), rules.len());
                            rules.push(view);
                        }
                    }
                }
            }
            Ok(RulesReply { rules })
        })
    }

    fn reload(&self, _req: ReloadRequest) -> BackendFuture<'_, ReloadReply> {
        Box::pin(async move {
            let path = {
                let engine = self.routes[0].dispatcher.engine.lock().expect("engine");
                engine.rules().has_file().then(|| engine.rules().path.clone())
            };
            let Some(path) = path else {
                return Err(ApiError::bad_request(
                    "this daemon was started without a rules file (it serves the API only); \
                     start it with --rules FILE to have rules to reload",
                ));
            };
            let set = crate::rules::load_async(&path)
                .await
                .map_err(|e| ApiError::bad_request(format!("{e}; the old rules stay in force")))?;
            let specs: Vec<crate::rules::ServerSpec> = self
                .routes
                .iter()
                .map(|r| crate::rules::ServerSpec {
                    name: r.name.clone(),
                    target: crate::tmux::TmuxTarget::Default,
                })
                .collect();
            super::check_names(&set, &specs)
                .map_err(|e| ApiError::bad_request(format!("{e}; the old rules stay in force")))?;
            let refused = |e: crate::firing::CompileError| {
                ApiError::bad_request(format!("{e}; the old rules stay in force"))
            };
            // Every server's share compiles (outside its engine's lock, as one server's
            // reload does) before any is swapped in: all or nothing.
            let mut shares = Vec::with_capacity(self.routes.len());
            for (i, r) in self.routes.iter().enumerate() {
                let own = super::rules_for(&set, &r.name, i == 0);
                let plan = r.dispatcher.engine.lock().expect("engine").plan_reload();
                let compiled = plan.compile_rules(&own).map_err(refused)?;
                shares.push((plan, own, compiled));
            }
            for (r, (plan, own, compiled)) in self.routes.iter().zip(shares) {
                crate::firing::install_compiled(&r.dispatcher.engine, plan, own, compiled)
                    .map_err(refused)?;
                r.dispatcher.append(&Record::now(DaemonEvent::say(format!(
                    "reloaded {} rule(s) from {}",
                    set.rules.len(),
                    path.display()
                ))));
            }
            Ok(ReloadReply { rules: set.rules.len() })
        })
    }

    fn status(&self, req: StatusRequest) -> BackendFuture<'_, StatusReply> {
        Box::pin(async move {
            let mut each = Vec::with_capacity(self.routes.len());
            for r in &self.routes {
                each.push(r.backend.status(req.clone()).await?.status);
            }
            let mut all = each[0].clone();
            all.tmux = self.routes.iter().map(|r| r.name.as_str()).collect::<Vec<_>>().join(", ");
            all.sessions.clear();
            all.panes = 0;
            all.waiters = 0;
            all.pane_entries.clear();
            all.shells.clear();
            let mut connected = false;
            for (r, s) in self.routes.iter().zip(each) {
                connected |= s.connected;
                all.sessions.extend(s.sessions.iter().map(|n| format!("{}/{n}", r.name)));
                all.panes += s.panes;
                all.waiters += s.waiters;
                all.pane_entries.extend(s.pane_entries);
                all.shells.extend(s.shells);
                let link = r.link.view();
                all.servers.push(ServerView {
                    name: r.name.clone(),
                    tmux: link.describe,
                    state: link.state.name().to_string(),
                    since_ns: link.since_ns,
                    error: link.error,
                    reconnects: link.reconnects,
                    tmux_version: r
                        .tmux_version
                        .lock()
                        .expect("tmux version")
                        .as_ref()
                        .map(|v| v.name.clone())
                        .unwrap_or_default(),
                    panes: s.panes,
                });
            }
            all.connected = connected;
            // A rule every server runs counts once.
            let mut names = std::collections::HashSet::new();
            for r in &self.routes {
                let engine = r.dispatcher.engine.lock().expect("engine");
                names.extend(engine.rules().rules.iter().map(|rule| rule.name.clone()));
            }
            all.rules = names.len();
            if let Some(first) = all.servers.iter().find(|v| !v.tmux_version.is_empty()) {
                all.tmux_version = first.tmux_version.clone();
            }
            Ok(StatusReply { status: all })
        })
    }

    fn stop(&self, req: StopRequest) -> BackendFuture<'_, Empty> {
        // One stop notifies the daemon: every server's backend shares it.
        Box::pin(async move { self.routes[0].backend.stop(req).await })
    }

    fn events(&self, _req: EventsRequest) -> BackendFuture<'_, EventFeed> {
        Box::pin(async move { Ok(EventFeed::Servers(self.events.subscribe())) })
    }

    fn run(&self, mut req: RunRequest) -> BackendFuture<'_, RunReply> {
        Box::pin(async move {
            let (i, label) = self.owner(&req.label)?;
            req.label = label.to_string();
            self.routes[i].backend.run(req).await
        })
    }
}
