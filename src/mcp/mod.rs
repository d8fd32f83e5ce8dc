//! `ctmuxd mcp`: a Model Context Protocol server on stdio, so an AI agent's client (Claude
//! Code, Codex CLI, any MCP client) drives tmux panes through ctmuxd: list, spawn, label
//! and close panes, type into them, wait for a line as it is printed, read new output by
//! cursor, capture the screen, follow rule firings.
//!
//! It is a client of one daemon's socket API, like `top` (`tools` sends each tool's
//! request on a connection of its own); when no daemon serves the tmux server it starts
//! one (`ondemand`) and says so in its instructions and on stderr. `events` keeps the
//! daemon's event stream for the agent (`events`), `budget` sizes text for a model's
//! context, `scope` holds what the user let the agent touch. Built on the official Rust
//! SDK, `rmcp`. stdout is the transport: everything else goes to stderr.

pub mod budget;
pub mod events;
pub mod ondemand;
pub mod push;
pub mod scope;
pub mod tools;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

#[allow(deprecated)]
use rmcp::model::SetLevelRequestParams;
use rmcp::model::{
    ExperimentalCapabilities, Implementation, JsonObject, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{tool_handler, RoleServer, ServerHandler, ServiceExt};

use self::ondemand::{ensure_daemon, DaemonOrigin, StartError};
use self::scope::Policy;
pub use self::tools::CtmuxdMcp;
use crate::tmux::TmuxTarget;

/// What `ctmuxd mcp` was asked for.
#[derive(Clone, Debug, Default)]
pub struct McpOptions {
    /// The tmux server whose daemon the tools talk to.
    pub target: TmuxTarget,
    /// What the agent may touch.
    pub policy: Policy,
    /// The `ctmuxd` binary to start a daemon with when none runs.
    pub exe: PathBuf,
    /// Also push Claude Code's experimental channel notifications (`--claude-channel`).
    pub claude_channel: bool,
}

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
pub enum McpError {
    /// No daemon could be reached or started.
    #[error(transparent)]
    Daemon(#[from] StartError),
    /// The MCP session failed (the client's first messages were not MCP, stdio broke).
    #[error("mcp session: {0}")]
    Session(String),
}

/// Serves MCP on stdin/stdout until the client closes it.
///
/// # Errors
/// [`McpError::Daemon`] when no daemon runs and none could be started;
/// [`McpError::Session`] when the MCP session could not start or ended in error.
pub async fn run(opts: McpOptions) -> Result<(), McpError> {
    let origin = ensure_daemon(&opts.target, opts.exe.clone()).await?;
    let server = opts.target.describe();
    let started = match &origin {
        DaemonOrigin::Running => None,
        DaemonOrigin::Started { pid, log } => {
            let msg = format!(
                "no ctmuxd daemon was running for `{server}`, so this MCP server started one \
                 (pid {pid}, log {}); it keeps running after the MCP server exits (stop it \
                 with `ctmuxd stop{}`)",
                log.display(),
                opts.target
                    .args()
                    .iter()
                    .map(|a| format!(" {}", a.to_string_lossy()))
                    .collect::<String>()
            );
            tracing::info!("ctmuxd mcp: {msg}");
            Some(msg)
        }
    };
    let events = Arc::new(Mutex::new(events::EventBuffer::default()));
    let changed = Arc::new(tokio::sync::Notify::new());
    tokio::spawn(events::follow(opts.target.clone(), events.clone(), changed.clone()));
    let instructions = instructions(&server, &opts.policy, started.as_deref());
    let policy = Arc::new(opts.policy);
    let level = Arc::new(Mutex::new(push::default_level()));
    let mcp = CtmuxdMcp {
        target: opts.target,
        tool_router: CtmuxdMcp::router(policy.read_only),
        policy: policy.clone(),
        events: events.clone(),
        instructions,
        level: level.clone(),
        claude_channel: opts.claude_channel,
    };
    let service =
        mcp.serve(rmcp::transport::stdio()).await.map_err(|e| McpError::Session(e.to_string()))?;
    tokio::spawn(push::run(push::Push {
        peer: service.peer().clone(),
        events,
        changed,
        policy,
        level,
        channel: opts.claude_channel,
    }));
    service.waiting().await.map_err(|e| McpError::Session(e.to_string()))?;
    Ok(())
}

/// What the server tells the agent about itself at `initialize`.
fn instructions(server: &str, policy: &Policy, started: Option<&str>) -> String {
    let mut s = format!(
        "ctmuxd watches the panes of tmux server `{server}` as they print (no polling). Find \
         panes with `panes`; run a command in a shell pane with `send` (text, enter: true, \
         expect: a regex for the end of its output); follow output with `read` (pass back \
         its cursor) or `wait_for` (a pattern, or a shell `state`: prompt, finished); in \
         shells with `ctmuxd shell-init`, `run` answers a command's status and output; see \
         the screen with `capture`; `events` lists rule firings and pane exits, and rule \
         firings and finished commands are also pushed as log messages. Scope: {}.",
        policy.describe()
    );
    if policy.read_only {
        s.push_str(" Read-only: send, spawn, close and label are not available.");
    }
    if policy.self_pane.is_some() && !policy.allow_self {
        s.push_str(" The pane this server runs in is refused to send and close.");
    }
    if let Some(m) = started {
        s.push(' ');
        s.push_str(m);
        s.push('.');
    }
    s
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for CtmuxdMcp {
    fn get_info(&self) -> ServerConfig {
        // Logging: rule firings and finished commands are pushed as log messages (`push`).
        #[allow(deprecated)]
        let mut caps = ServerCapabilities::builder().enable_logging().enable_tools().build();
        if self.claude_channel {
            let mut experimental = ExperimentalCapabilities::new();
            experimental.insert("claude/channel".into(), JsonObject::new());
            caps.experimental = Some(experimental);
        }
        ServerConfig::new(caps)
            .with_server_info(Implementation::new("ctmuxd", env!("CARGO_PKG_VERSION")))
            .with_instructions(self.instructions.clone())
    }

    /// `logging/setLevel`: the least severe pushed message the client wants.
    #[allow(deprecated)]
    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<(), rmcp::ErrorData> {
        *self.level.lock().expect("level") = request.level;
        Ok(())
    }
}

/// The pane this process runs in (`$TMUX_PANE`), when `$TMUX` names the same tmux server as
/// `target`: the pane the agent most likely runs in.
pub fn own_pane(target: &TmuxTarget) -> Option<String> {
    let pane = std::env::var("TMUX_PANE").ok().filter(|p| p.starts_with('%'))?;
    std::env::var_os("TMUX").filter(|v| !v.is_empty())?;
    (TmuxTarget::ambient() == *target).then_some(pane)
}
