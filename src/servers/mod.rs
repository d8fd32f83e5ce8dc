//! One daemon over several tmux servers, here and on other hosts over SSH: a supervisor
//! running today's per-server machinery ([`ServerWatch`]: control connections, routers,
//! engine, dispatcher, checkpoint) once per `[[server]]`, each under its name.
//!
//! What the servers share is small on purpose: the event-log file and its one writer (each record stamped
//! with its server's name), one API socket whose backend ([`backend`]) routes each request
//! by `server/label` or `server/%id` and adds up `panes`, `status` and `events`, and the
//! registry of dispatchers that lets a spawn action open a pane on another server.
//! Everything else is per server: its rules (those that select it with `server = "…"`,
//! or none), its engine, its reconnect loop (backoff with jitter, a `gap` record when it
//! comes back, the panes' missed lines read back and matched once). A server that goes
//! away or a link that hangs stalls only its own tasks.

pub mod backend;

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::action_tasks::{Dispatcher, Peers};
use crate::answers::DaemonBackend;
use crate::checkpoint::Checkpoint;
use crate::daemon::{backoff, DaemonError, DaemonExit, DaemonOptions, ServerWatch};
use crate::eventlog::EventLog;
use crate::eventlog::{DaemonEvent, Record};
use crate::link::{Link, LinkState};
use crate::rules::{RuleSet, ServerSpec};
use crate::tmux::TmuxTarget;

/// How to run a daemon over several servers.
#[derive(Clone, Debug)]
pub struct ServersOptions {
    /// The local selection (`-L`/`-S`, or none) that names the daemon's API socket, so
    /// `ctmuxd panes` with the same flags finds it. It is not watched unless listed.
    pub home: TmuxTarget,
    /// The servers to watch, in order: the first one runs the `[[pane]]` entries that do
    /// not name a server, and takes spawns that name none.
    pub servers: Vec<ServerSpec>,
    /// Watch only this session of each server (`-t`).
    pub session: Option<String>,
    /// The validated rules; each server gets those that select it or none.
    pub rules: RuleSet,
    /// Where the event log lives (one file for all servers).
    pub events_dir: PathBuf,
    /// Record each server's raw control-mode stream to this path plus `.NAME`.
    pub record: Option<PathBuf>,
    /// How long to wait for running actions at shutdown.
    pub shutdown_grace: Duration,
}

/// Checks that every server named by a rule, a spawn action or a `[[pane]]` entry is one
/// of `servers`, and that no two servers share a name.
///
/// # Errors
/// [`DaemonError::Servers`] naming the rule or entry and the servers declared.
pub fn check_names(rules: &RuleSet, servers: &[ServerSpec]) -> Result<(), DaemonError> {
    let names: Vec<&str> = servers.iter().map(|s| s.name.as_str()).collect();
    for (i, name) in names.iter().enumerate() {
        if names[..i].contains(name) {
            return Err(DaemonError::Servers(format!(
                "two servers are named `{name}`; give each [[server]], --server and --ssh its own name"
            )));
        }
    }
    let known = |n: &str| names.contains(&n);
    let list = names.join(", ");
    for rule in &rules.rules {
        let spawns = rule.actions.iter().filter_map(|a| match a {
            crate::rules::Action::Spawn(s) => s.server.as_deref(),
            _ => None,
        });
        for server in rule.server.as_deref().into_iter().chain(spawns) {
            if !known(server) {
                return Err(DaemonError::Servers(format!(
                    "{}: rule `{}` names server `{server}`, which is not watched (watched: {list}); add a [[server]] entry, --server or --ssh for it",
                    rules.path.display(),
                    rule.name
                )));
            }
        }
    }
    // An `all`/`any` is followed by each server's engine, which sees its own server's
    // firings only: its rule parts must be on one server (its own, when it names one).
    for rule in &rules.rules {
        let Some(condition) = &rule.condition else { continue };
        let mut on: Vec<(&str, &str)> = condition
            .parts()
            .iter()
            .filter_map(|part| rules.rules.iter().find(|r| &r.name == part))
            .filter_map(|r| r.server.as_deref().map(|s| (r.name.as_str(), s)))
            .collect();
        if let Some(own) = rule.server.as_deref() {
            on.insert(0, (rule.name.as_str(), own));
        }
        if on.iter().any(|(_, s)| *s != on[0].1) {
            let where_: Vec<String> = on.iter().map(|(n, s)| format!("`{n}` on {s}")).collect();
            return Err(DaemonError::Servers(format!(
                "{}: rule `{}` spans several servers ({}); an `{}` sees the firings of one \
                 server only (each server's rules run in an engine of their own): keep the rule \
                 and its parts on one server",
                rules.path.display(),
                rule.name,
                where_.join(", "),
                condition.key(),
            )));
        }
    }
    for pane in &rules.panes {
        if let Some(server) = pane.spawn.server.as_deref().filter(|s| !known(s)) {
            return Err(DaemonError::Servers(format!(
                "{}: [[pane]] `{}` names server `{server}`, which is not watched (watched: {list})",
                rules.path.display(),
                pane.spawn.label
            )));
        }
    }
    Ok(())
}

/// The rules one server runs: those that select it or no server, and its `[[pane]]`
/// entries (for the first server, also those that name none).
pub fn rules_for(rules: &RuleSet, server: &str, first: bool) -> RuleSet {
    let mut own = rules.clone();
    own.rules.retain(|r| r.server.as_deref().is_none_or(|s| s == server));
    own.panes.retain(|p| match p.spawn.server.as_deref() {
        Some(s) => s == server,
        None => first,
    });
    own
}

/// Runs the daemon over every server of `opts` until `shutdown` resolves or `ctmuxd stop`.
/// A server that cannot be reached at start is retried like one that went away later:
/// the others are watched meanwhile.
///
/// # Errors
/// A name that is not watched ([`check_names`]), a rules set that does not compile, an
/// event log or API socket that cannot be opened. Once running, errors are recorded.
pub async fn run(
    opts: ServersOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<DaemonExit, DaemonError> {
    check_names(&opts.rules, &opts.servers)?;
    let peers = Peers::default();
    let mut dispatchers = Vec::with_capacity(opts.servers.len());
    // One writer for the log file, seen by each server as its own (records stamped with
    // its name): rotation moves every server's records together.
    let log = EventLog::open(&opts.events_dir)
        .map_err(|source| DaemonError::EventLog { dir: opts.events_dir.clone(), source })?;
    for (i, spec) in opts.servers.iter().enumerate() {
        let rules = rules_for(&opts.rules, &spec.name, i == 0);
        let mut d = Dispatcher::for_rules_on(&rules, log.for_server(spec.name.clone()), "control")?;
        d.runner().set_server(&spec.name);
        d.set_peers(peers.clone());
        // Its records go on to the daemon's feed (4,096 kept) as they come.
        d.set_event_capacity(256);
        if matches!(spec.target, TmuxTarget::Ssh(_)) {
            d.set_remote();
        }
        // Each server's time conditions (`silence`, `within`, ...) run on its own timer.
        crate::deadlines::start(&d);
        dispatchers.push((spec.clone(), rules, d));
    }
    let _ = peers.set(
        dispatchers.iter().map(|(s, _, d)| (s.name.clone(), d.clone())).collect::<HashMap<_, _>>(),
    );

    let listener = crate::api::server::bind(&crate::api::socket_path(&opts.home))
        .await
        .map_err(DaemonError::Api)?;
    let stop = Arc::new(tokio::sync::Notify::new());
    let end = CancellationToken::new();
    let mut routes = Vec::new();
    let mut tasks = Vec::new();
    for (spec, rules, d) in dispatchers {
        let link = Arc::new(Link::new(spec.name.clone(), spec.target.describe()));
        let dopts = DaemonOptions {
            target: spec.target.clone(),
            session: opts.session.clone(),
            rules,
            events_dir: opts.events_dir.clone(),
            record: opts.record.as_ref().map(|p| {
                let mut s = p.clone().into_os_string();
                s.push(format!(".{}", spec.name));
                PathBuf::from(s)
            }),
            shutdown_grace: opts.shutdown_grace,
            reconnect: true,
        };
        let checkpoint =
            Checkpoint::open_named(&opts.events_dir, &format!("checkpoint.{}", spec.name));
        let watch = ServerWatch::new(dopts, d.clone(), checkpoint, link.clone());
        let backend =
            DaemonBackend::new(d.clone(), spec.target.clone(), stop.clone(), watch.tmux_version());
        routes.push(backend::Route {
            name: spec.name.clone(),
            backend,
            dispatcher: d.clone(),
            link: link.clone(),
            tmux_version: watch.tmux_version(),
        });
        tasks.push(tokio::spawn(keep_linked(watch, link, d, end.clone())));
    }
    let backend: Arc<dyn crate::api::Backend> = Arc::new(backend::ServersBackend::new(routes));
    let api_end = CancellationToken::new();
    // As in `daemon::run`: the API on a thread of its own never delays the readers.
    let api = listener.serve_on_own_thread(backend, api_end.clone()).map_err(DaemonError::Api)?;
    tokio::select! {
        _ = shutdown => {}
        _ = stop.notified() => tracing::info!("stop requested through the API"),
    }
    end.cancel();
    api_end.cancel();
    let _ = api.await;
    let mut stopped = Vec::new();
    for task in tasks {
        if let Ok(pair) = task.await {
            stopped.push(pair);
        }
    }
    for (watch, d) in stopped {
        watch.finish();
        d.append(&Record::now(DaemonEvent::say("stopping: signal".to_string())));
        let left = d.shutdown(opts.shutdown_grace).await;
        if left > 0 {
            tracing::warn!(
                "{left} action(s) still running after {:?}; leaving them",
                opts.shutdown_grace
            );
        }
    }
    Ok(DaemonExit::Stopped)
}

/// Keeps one server watched until `end`: attaches, and when the server is lost or cannot
/// be reached, records it, waits ([`backoff`]: 250 ms doubling to 8 s, with jitter) and
/// attaches again. The gap's `gap` record is written by the watch when it is back.
async fn keep_linked(
    mut watch: ServerWatch,
    link: Arc<Link>,
    d: Dispatcher,
    end: CancellationToken,
) -> (ServerWatch, Dispatcher) {
    let mut attempt = 0u32;
    let mut shutdown = Box::pin(end.clone().cancelled_owned());
    loop {
        // A link that hangs while connecting (an ssh that waits for its connect timeout, a
        // remote tmux that never answers the attach) must not hold up the stop: `serve`
        // ends itself at a stop once attached (polled first), and is dropped, closing its
        // connections, while it is still connecting.
        let served = tokio::select! {
            biased;
            served = watch.serve(&mut shutdown) => served,
            _ = end.cancelled() => break,
        };
        let why = match served {
            Ok(()) => break,
            Err(why) => why,
        };
        let was = link.view().state;
        if was == LinkState::Up {
            attempt = 0;
        }
        link.down(why.clone(), watch.panes());
        let delay = backoff(attempt);
        attempt = attempt.saturating_add(1);
        let message = match was {
            LinkState::Up => format!(
                "server {} lost ({why}); reconnecting in {} ms",
                link.name(),
                delay.as_millis()
            ),
            _ => format!(
                "server {} not reachable ({why}); retrying in {} ms",
                link.name(),
                delay.as_millis()
            ),
        };
        tracing::warn!("{message}");
        // Every loss is recorded; of the retries that follow, the first and then every
        // eighth (the delay is 8 s by then), so a host down for hours adds a line a minute.
        if was == LinkState::Up || attempt == 1 || attempt.is_multiple_of(8) {
            d.append(&Record::now(DaemonEvent::say(message)));
        }
        tokio::select! {
            _ = end.cancelled() => break,
            _ = tokio::time::sleep(delay) => {}
        }
    }
    (watch, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: &str = r#"
[[rule]]
name = "everywhere"
pattern = 'x'
actions = ["log"]

[[rule]]
name = "gpu-only"
server = "gpu"
pattern = 'y'
actions = [ { spawn = { label = "eval", server = "here" } } ]

[[pane]]
label = "first"

[[pane]]
label = "trainer"
server = "gpu"
"#;

    fn specs(names: &[&str]) -> Vec<ServerSpec> {
        names
            .iter()
            .map(|n| ServerSpec { name: n.to_string(), target: TmuxTarget::Default })
            .collect()
    }

    #[test]
    fn each_server_runs_the_rules_and_panes_that_select_it() {
        let set = crate::rules::parse(RULES, std::path::Path::new("r.toml")).unwrap();
        let names = |s: &RuleSet| -> (Vec<String>, Vec<String>) {
            (
                s.rules.iter().map(|r| r.name.clone()).collect(),
                s.panes.iter().map(|p| p.spawn.label.clone()).collect(),
            )
        };
        assert_eq!(
            names(&rules_for(&set, "here", true)),
            (vec!["everywhere".into()], vec!["first".into()])
        );
        assert_eq!(
            names(&rules_for(&set, "gpu", false)),
            (vec!["everywhere".into(), "gpu-only".into()], vec!["trainer".into()])
        );
    }

    #[test]
    fn names_must_be_watched_and_unique() {
        let set = crate::rules::parse(RULES, std::path::Path::new("r.toml")).unwrap();
        assert!(check_names(&set, &specs(&["here", "gpu"])).is_ok());
        let e = check_names(&set, &specs(&["here"])).unwrap_err().to_string();
        assert!(
            e.contains("rule `gpu-only` names server `gpu`") && e.contains("watched: here"),
            "{e}"
        );
        let e = check_names(&set, &specs(&["gpu"])).unwrap_err().to_string();
        assert!(e.contains("names server `here`"), "the spawn's server is checked too: {e}");
        let e = check_names(&RuleSet::none(), &specs(&["a", "a"])).unwrap_err().to_string();
        assert!(e.contains("two servers are named `a`"), "{e}");
    }
}
