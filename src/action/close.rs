//! The `close` action, `{ close = "label or glob" }`: closes every pane whose label
//! matches, through the host's pane bookkeeping (the engine forgets them, a `pane` record
//! says so). Needs control mode.

use std::time::Instant;

use super::{ActionContext, ActionDetails, ActionHost, ActionKind, ActionOutcome, ActionTable, ParseError};

/// `{ close = "label" }`: close the panes whose label matches this label or glob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseAction {
    /// Label or glob (`*`, `?`) of the panes to close; never empty.
    pub label: String,
}

impl ActionKind for CloseAction {
    const NAME: &'static str = "close";
    const NEEDS_CONTROL: bool = true;

    fn parse(table: &ActionTable<'_>) -> Result<CloseAction, ParseError> {
        table.no_options(Self::NAME)?;
        Ok(CloseAction { label: table.name_value(Self::NAME)? })
    }

    fn describe(&self) -> String {
        format!("close {}", self.label)
    }

    async fn run<H: ActionHost>(
        &self,
        host: &H,
        _ctx: &ActionContext,
        details: &mut ActionDetails,
    ) -> ActionOutcome {
        let start = Instant::now();
        let result = host.close_panes(&self.label).await.map(|closed| {
            details.target_label = Some(self.label.clone());
            details.closed = Some(closed.iter().map(|p| p.to_string()).collect());
        });
        ActionOutcome::finished(start, result)
    }
}
