//! `rules`: the rules in force with their match counts (`ctmuxd rules`).

use std::io::Write;
use std::process::ExitCode;

use serde::{Deserialize, Serialize};

use super::{json_line, table, ApiRequest, CliRequest, Daemon, Failure, JsonArgs, Reply};

/// Arguments of `rules`: none.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RulesRequest {}

/// A rule in force (`rules`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleView {
    /// The rule's name (subscriptions get a generated one).
    pub name: String,
    /// Its regex.
    pub pattern: String,
    /// How many times it fired since the daemon started (or the last reload).
    pub matches: u64,
    /// True for rules added through `subscribe`, false for the rules file's.
    pub dynamic: bool,
}

/// Body of the `rules` reply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RulesReply {
    /// File rules first, then dynamic ones.
    pub rules: Vec<RuleView>,
}

impl Reply for RulesReply {}

impl ApiRequest for RulesRequest {
    const CMD: &'static str = "rules";
    type Answer = RulesReply;
}

impl CliRequest for RulesRequest {
    const NAME: &'static str = "rules";
    const ABOUT: &'static str = "List the rules in force with their match counts";
    const EXAMPLES: &'static str = "Example:\n  ctmuxd rules --json";
    type Args = JsonArgs;

    fn from_args(_: &JsonArgs) -> Result<RulesRequest, String> {
        Ok(RulesRequest {})
    }

    async fn show(
        RulesReply { rules }: RulesReply,
        args: JsonArgs,
        _: Daemon,
        out: &mut dyn Write,
    ) -> Result<ExitCode, Failure> {
        if args.json {
            json_line(out, &rules)?;
        } else {
            out.write_all(rules_table(&rules).as_bytes())?;
        }
        Ok(ExitCode::SUCCESS)
    }
}

fn rules_table(rules: &[RuleView]) -> String {
    let mut rows = vec![["NAME", "MATCHES", "KIND", "PATTERN"].map(String::from).to_vec()];
    for r in rules {
        let kind = if r.dynamic { "dynamic" } else { "file" };
        rows.push(vec![r.name.clone(), r.matches.to_string(), kind.to_string(), r.pattern.clone()]);
    }
    table(&rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_text() {
        let r = rules_table(&[RuleView {
            name: "build".into(),
            pattern: "x".into(),
            matches: 3,
            dynamic: true,
        }]);
        assert!(r.lines().nth(1).unwrap().starts_with("build  3        dynamic  x"), "{r}");
    }
}
