//! `reload`: re-read the rules file; on error the old rules stay in force (`ctmuxd reload`).

use std::io::Write;
use std::process::ExitCode;

use serde::{Deserialize, Serialize};

use super::{ApiRequest, CliRequest, Daemon, Failure, NoArgs, Reply};

/// Arguments of `reload`: none.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReloadRequest {}

/// Body of the `reload` reply.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReloadReply {
    /// How many rules the new file has.
    pub rules: usize,
}

impl Reply for ReloadReply {}

impl ApiRequest for ReloadRequest {
    const CMD: &'static str = "reload";
    type Answer = ReloadReply;
}

impl CliRequest for ReloadRequest {
    const NAME: &'static str = "reload";
    const ABOUT: &'static str = "Re-read the rules file (the old rules stay if the new file is bad)";
    const EXAMPLES: &'static str = "Example:\n  ctmuxd reload -L work";
    type Args = NoArgs;

    fn from_args(_: &NoArgs) -> Result<ReloadRequest, String> {
        Ok(ReloadRequest {})
    }

    async fn show(
        ReloadReply { rules }: ReloadReply,
        _: NoArgs,
        _: Daemon,
        out: &mut dyn Write,
    ) -> Result<ExitCode, Failure> {
        writeln!(out, "reloaded: {rules} rule(s)")?;
        Ok(ExitCode::SUCCESS)
    }
}
