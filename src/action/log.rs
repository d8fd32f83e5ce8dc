//! The `log` action, written `"log"` or `{ log = true }`: the rule's match record in the
//! event log is all it does, so the dispatcher neither queues nor records it.

use std::ops::Range;

use super::{ActionContext, ActionDetails, ActionHost, ActionKind, ActionOutcome, ActionTable, ParseError};

/// Only record the match (the match record is written for every output rule anyway).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogAction;

impl ActionKind for LogAction {
    const NAME: &'static str = "log";
    const NEEDS_CONTROL: bool = false;
    const RUNS: bool = false;

    fn parse(table: &ActionTable<'_>) -> Result<LogAction, ParseError> {
        if table.value.get_ref().as_bool() != Some(true) {
            return Err(ParseError::new(
                table.value.span(),
                "`log` takes `true`; write `{ log = true }` or `\"log\"`, or remove the action",
            ));
        }
        match table.options().next() {
            Some((key, _)) => Err(ParseError::new(
                key.span(),
                format!("unknown field `{}` in log action; `log` takes no options", key.get_ref()),
            )),
            None => Ok(LogAction),
        }
    }

    fn parse_bare(_span: Range<usize>) -> Result<LogAction, ParseError> {
        Ok(LogAction)
    }

    fn describe(&self) -> String {
        "log".to_owned()
    }

    async fn run<H: ActionHost>(
        &self,
        _host: &H,
        _ctx: &ActionContext,
        _details: &mut ActionDetails,
    ) -> ActionOutcome {
        ActionOutcome::done()
    }
}
