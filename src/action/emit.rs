//! The `emit` action, `{ emit = "name" }`: raises a named event that `on = "event"` rules
//! react to. Chains are cut at [`MAX_EMIT_DEPTH`] so a rule emitting its own event cannot
//! loop.

use std::time::Instant;

use super::{ActionContext, ActionHost, ActionKind, ActionOutcome, ActionTable, Extra, ParseError};
use crate::eventlog::Record;

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
        _extra: &mut Extra,
    ) -> ActionOutcome {
        let start = Instant::now();
        let name = &self.name;
        let mut rec = Record::now("emit");
        rec.rule = Some(ctx.rule.clone());
        rec.extra.insert("name".into(), name.clone().into());
        host.append(&rec);
        if host.emit_depth() >= MAX_EMIT_DEPTH {
            return ActionOutcome::finished(start, Err(format!(
                "emit chain deeper than {MAX_EMIT_DEPTH}; event `{name}` not delivered (a rule loop?)"
            )));
        }
        host.raise_event(name, ctx).await;
        ActionOutcome::finished(start, Ok(()))
    }
}
