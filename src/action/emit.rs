//! The `emit` action, `{ emit = "name" }`: raises a named event that `on = "event"` rules
//! react to. Chains are cut at [`MAX_EMIT_DEPTH`] so a rule emitting its own event cannot
//! loop.

use std::time::Instant;

use super::{ActionContext, ActionDetails, ActionHost, ActionKind, ActionOutcome, ActionTable, ParseError};
use crate::eventlog::{EmitEvent, Record};

/// How deep `emit` chains may go (an event whose rule emits another ...) before
/// the chain is cut and the cut recorded: a rule emitting its own event must not loop.
pub const MAX_EMIT_DEPTH: usize = 16;

/// `{ emit = "name" }`: raise the event `name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmitAction {
    /// The event's name, as `event = "name"` rules write it; never empty.
    pub name: String,
}

impl ActionKind for EmitAction {
    const NAME: &'static str = "emit";
    const NEEDS_CONTROL: bool = false;

    fn parse(table: &ActionTable<'_>) -> Result<EmitAction, ParseError> {
        table.no_options(Self::NAME)?;
        Ok(EmitAction { name: table.name_value(Self::NAME)? })
    }

    fn describe(&self) -> String {
        format!("emit {}", self.name)
    }

    async fn run<H: ActionHost>(
        &self,
        host: &H,
        ctx: &ActionContext,
        _details: &mut ActionDetails,
    ) -> ActionOutcome {
        let start = Instant::now();
        let name = &self.name;
        host.append(&Record::now(EmitEvent { rule: ctx.rule.clone(), name: name.clone() }));
        if host.emit_depth() >= MAX_EMIT_DEPTH {
            return ActionOutcome::finished(start, Err(format!(
                "emit chain deeper than {MAX_EMIT_DEPTH}; event `{name}` not delivered (a rule loop?)"
            )));
        }
        host.raise_event(name, ctx).await;
        ActionOutcome::finished(start, Ok(()))
    }
}
