//! The `send` action, `{ send = { pane, text, enter } }`: types text into a labelled
//! pane over the control connection. Needs control mode.

use std::time::Instant;

use serde::Deserialize;

use super::{ActionContext, ActionDetails, ActionHost, ActionKind, ActionOutcome, ActionTable, ParseError};
use crate::tmux::labelled;

/// `{ send = { pane, text, enter } }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendAction {
    /// Label of the pane to type into.
    pub pane: String,
    /// Text typed literally.
    pub text: String,
    /// Press Enter afterwards, as its own keystroke.
    pub enter: bool,
}

impl ActionKind for SendAction {
    const NAME: &'static str = "send";
    const NEEDS_CONTROL: bool = true;

    fn parse(table: &ActionTable<'_>) -> Result<SendAction, ParseError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct RawSend {
            pane: String,
            text: String,
            #[serde(default)]
            enter: bool,
        }
        table.no_options(Self::NAME)?;
        let raw = RawSend::deserialize(table.value.get_ref().clone()).map_err(|e| {
            let msg = e.to_string().trim().trim_end_matches('.').replace('\n', "; ");
            ParseError::new(table.value.span(), format!("invalid send action: {msg}; write {{ send = {{ pane = \"label\", text = \"...\", enter = true }} }}"))
        })?;
        Ok(SendAction { pane: raw.pane, text: raw.text, enter: raw.enter })
    }

    fn describe(&self) -> String {
        format!("send {} {:?}", self.pane, self.text)
    }

    async fn run<H: ActionHost>(
        &self,
        host: &H,
        _ctx: &ActionContext,
        details: &mut ActionDetails,
    ) -> ActionOutcome {
        let start = Instant::now();
        let result = async {
            let (client, pane) = host.control_for(&self.pane)?;
            let target = labelled::resolve(&client, pane).await.map_err(|e| e.to_string())?;
            labelled::send(&client, target.id, &self.text, self.enter)
                .await
                .map_err(|e| e.to_string())?;
            details.target_label = Some(self.pane.clone());
            details.target_pane = Some(target.id.to_string());
            Ok(())
        }
        .await;
        ActionOutcome::finished(start, result)
    }
}
