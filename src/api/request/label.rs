//! `label`: give an existing pane a label and metadata (`ctmuxd label`).
//!
//! The label is stored in the pane's options as a spawned pane's is, and the daemon's own
//! registry is updated before the reply, so rules selecting the label see the pane's very
//! next line (the label subscription alone reports a change up to a second later).

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::spawn::parse_meta;
use super::{json_line, ApiRequest, CliRequest, Daemon, Failure, Reply};
use crate::api::protocol::PaneView;

/// Arguments of `label`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LabelRequest {
    /// The pane: its id (`%3`) or its current label.
    pub pane: String,
    /// The new label (unique within the pane's session).
    pub label: String,
    /// Metadata to store with the pane, replacing what it had; `None` keeps it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<BTreeMap<String, Value>>,
}

/// Body of the `label` reply.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LabelReply {
    /// The pane, with its new label.
    pub pane: PaneView,
}

impl Reply for LabelReply {}

impl ApiRequest for LabelRequest {
    const CMD: &'static str = "label";
    type Answer = LabelReply;

    fn validate(&self) -> Result<(), String> {
        crate::tmux::labelled::check_label(&self.label).map_err(|e| e.to_string())
    }
}

/// `ctmuxd label`.
#[derive(Debug, clap::Args)]
pub struct LabelArgs {
    /// The pane: its id (`%3`) or its current label.
    pub pane: String,
    /// The new label.
    pub label: String,
    /// Metadata stored with the pane, replacing what it had; repeatable.
    #[arg(long, value_name = "KEY=VALUE", value_parser = parse_meta)]
    pub meta: Vec<(String, String)>,
    /// Print the pane as JSON.
    #[arg(long)]
    pub json: bool,
}

impl CliRequest for LabelRequest {
    const NAME: &'static str = "label";
    const ABOUT: &'static str = "Give an existing pane a label (and metadata) that rules and commands can use";
    const EXAMPLES: &'static str = "Examples:\n  \
        ctmuxd label %3 build\n  \
        ctmuxd label build build-main --meta stage=build";
    type Args = LabelArgs;

    fn from_args(a: &LabelArgs) -> Result<LabelRequest, String> {
        let meta = (!a.meta.is_empty()).then(|| {
            a.meta.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect()
        });
        Ok(LabelRequest { pane: a.pane.clone(), label: a.label.clone(), meta })
    }

    async fn show(
        LabelReply { pane }: LabelReply,
        args: LabelArgs,
        _: Daemon,
        out: &mut dyn Write,
    ) -> Result<ExitCode, Failure> {
        if args.json {
            json_line(out, &pane)?;
        } else {
            writeln!(out, "{} {}", pane.id, pane.label.as_deref().unwrap_or("-"))?;
        }
        Ok(ExitCode::SUCCESS)
    }
}
