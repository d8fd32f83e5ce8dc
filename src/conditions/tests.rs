//! The conditions on a fake clock: every time is `t0` plus an offset, so each edge
//! (exactly at a window's end, a reload half-way, a pane going while a condition waits on
//! it) is checked to the nanosecond.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;

fn rules(text: &str) -> Arc<RuleSet> {
    Arc::new(crate::rules::parse(text, Path::new("rules.toml")).unwrap())
}

fn pane(n: u32) -> PaneId {
    format!("%{n}").parse().unwrap()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn part(name: &str, p: u32) -> ConditionPart {
    ConditionPart { name: name.into(), pane: Some(pane(p).to_string()), ..Default::default() }
}

fn due(c: &mut Conditions, now: Instant) -> Vec<Satisfied> {
    let mut out = Vec::new();
    c.due(now, &mut out);
    out
}

fn parts_of(c: &mut Conditions, name: &str, p: u32, now: Instant) -> Vec<Satisfied> {
    let mut out = Vec::new();
    c.on_part(name, &part(name, p), now, &mut out);
    out
}

const SILENCE: &str = r#"
[[rule]]
name = "hang"
pane = "build*"
silence = "5s"
actions = ["log"]
"#;

#[test]
fn silence_fires_exactly_at_its_end_once_per_silence() {
    let t0 = Instant::now();
    let mut c = Conditions::new(rules(SILENCE));
    c.on_output(pane(1), Some("build"), false, t0, 7, 3);
    assert_eq!(c.next_deadline(), Some(t0 + ms(5000)));
    assert!(due(&mut c, t0 + ms(4999)).is_empty(), "a millisecond early");
    let fired = due(&mut c, t0 + ms(5000));
    assert_eq!(fired.len(), 1, "at the very end of the silence");
    assert_eq!(fired[0].pane, Some(pane(1)));
    assert_eq!(fired[0].parts[0].ts_ns, 7, "the part is the last output");
    assert_eq!(fired[0].parts[0].seq, Some(3));
    assert!(due(&mut c, t0 + ms(60_000)).is_empty(), "once per silence");
    assert_eq!(c.next_deadline(), None, "nothing pending: nothing to wake for");
    // Output starts a new silence.
    c.on_output(pane(1), Some("build"), false, t0 + ms(61_000), 8, 4);
    assert_eq!(due(&mut c, t0 + ms(66_000)).len(), 1);
}

#[test]
fn output_moves_the_silence_on_and_other_panes_are_not_watched() {
    let t0 = Instant::now();
    let mut c = Conditions::new(rules(SILENCE));
    c.on_output(pane(1), Some("build"), false, t0, 0, 0);
    c.on_output(pane(2), Some("api"), false, t0, 0, 0);
    c.on_output(pane(1), Some("build"), false, t0 + ms(3000), 0, 0);
    assert!(due(&mut c, t0 + ms(5000)).is_empty(), "printed 2 s ago");
    assert_eq!(due(&mut c, t0 + ms(8000)).len(), 1);
    assert_eq!(c.pending(), 0, "the api pane is not selected");
}

#[test]
fn a_pane_closing_while_its_silence_waits_drops_it() {
    let t0 = Instant::now();
    let mut c = Conditions::new(rules(SILENCE));
    c.on_output(pane(1), Some("build"), false, t0, 0, 0);
    c.pane_gone(pane(1));
    assert!(due(&mut c, t0 + ms(10_000)).is_empty());
    assert_eq!(c.next_deadline(), None);
}

#[test]
fn at_prompt_for_counts_only_while_the_shell_waits_at_its_prompt() {
    let t0 = Instant::now();
    let mut c = Conditions::new(rules(
        "[[rule]]\nname = \"idle\"\nat_prompt_for = \"30s\"\nactions = [\"log\"]\n",
    ));
    c.on_output(pane(1), None, false, t0, 0, 0);
    assert_eq!(c.next_deadline(), None, "a command runs");
    c.on_output(pane(1), None, true, t0 + ms(1000), 0, 0);
    assert_eq!(c.next_deadline(), Some(t0 + ms(31_000)));
    // The user types a command and it runs: no longer at the prompt.
    c.on_output(pane(1), None, false, t0 + ms(2000), 0, 0);
    assert!(due(&mut c, t0 + ms(40_000)).is_empty());
    c.on_output(pane(1), None, true, t0 + ms(50_000), 0, 0);
    assert_eq!(due(&mut c, t0 + ms(80_000)).len(), 1);
}

const ALL: &str = r#"
[[rule]]
name = "api-ready"
pattern = "api up"
actions = ["log"]

[[rule]]
name = "worker-ready"
pattern = "worker up"
actions = ["log"]

[[rule]]
name = "both"
all = ["api-ready", "worker-ready"]
within = "10s"
actions = ["log"]
timeout_actions = ["log"]
"#;

#[test]
fn all_fires_when_every_part_came_within_the_window_end_included() {
    let t0 = Instant::now();
    let mut c = Conditions::new(rules(ALL));
    assert!(parts_of(&mut c, "worker-ready", 2, t0).is_empty());
    assert_eq!(c.next_deadline(), Some(t0 + ms(10_000)));
    let fired = parts_of(&mut c, "api-ready", 1, t0 + ms(10_000));
    assert_eq!(fired.len(), 1, "a part at exactly `within` counts");
    let names: Vec<_> = fired[0].parts.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["worker-ready", "api-ready"], "in the order they came");
    assert!(!fired[0].timed_out);
    assert_eq!(c.next_deadline(), None);
}

#[test]
fn all_times_out_at_the_window_end_naming_what_is_missing() {
    let t0 = Instant::now();
    let mut c = Conditions::new(rules(ALL));
    parts_of(&mut c, "api-ready", 1, t0);
    assert!(due(&mut c, t0 + ms(9_999)).is_empty());
    let out = due(&mut c, t0 + ms(10_000));
    assert_eq!(out.len(), 1);
    assert!(out[0].timed_out);
    assert_eq!(out[0].missing, ["worker-ready"]);
    assert_eq!(out[0].parts[0].name, "api-ready");
    // The late part opens a new window; it does not complete the old one.
    assert!(parts_of(&mut c, "worker-ready", 2, t0 + ms(12_000)).is_empty());
}

#[test]
fn a_part_after_the_window_end_when_the_timer_ran_late_times_out_first() {
    let t0 = Instant::now();
    let mut c = Conditions::new(rules(ALL));
    parts_of(&mut c, "api-ready", 1, t0);
    let out = parts_of(&mut c, "worker-ready", 2, t0 + ms(10_001));
    assert_eq!(out.len(), 1, "no firing: the window had ended");
    assert!(out[0].timed_out);
    assert_eq!(c.next_deadline(), Some(t0 + ms(20_001)), "the late part opened a new window");
}

#[test]
fn a_reload_keeps_the_window_of_an_unchanged_rule_and_drops_a_changed_one() {
    let t0 = Instant::now();
    let mut c = Conditions::new(rules(ALL));
    parts_of(&mut c, "api-ready", 1, t0);
    // Same rules, another rule added in front: indices move, the window stays.
    let moved = format!("[[rule]]\nname = \"other\"\npattern = \"x\"\nactions = [\"log\"]\n{ALL}");
    let mut c = c.reload(rules(&moved));
    let fired = parts_of(&mut c, "worker-ready", 2, t0 + ms(5_000));
    assert_eq!(fired.len(), 1, "completed across the reload");
    assert_eq!(fired[0].rule, 3);
    parts_of(&mut c, "api-ready", 1, t0 + ms(6_000));
    let changed = ALL.replace("within = \"10s\"", "within = \"20s\"");
    let mut c = c.reload(rules(&changed));
    assert_eq!(c.next_deadline(), None, "the changed rule starts afresh");
    assert!(parts_of(&mut c, "worker-ready", 2, t0 + ms(7_000)).is_empty());
}

#[test]
fn a_pane_closing_leaves_the_parts_it_gave() {
    let t0 = Instant::now();
    let mut c = Conditions::new(rules(ALL));
    parts_of(&mut c, "api-ready", 1, t0);
    c.pane_gone(pane(1));
    assert_eq!(parts_of(&mut c, "worker-ready", 2, t0 + ms(1)).len(), 1);
}

#[test]
fn any_fires_on_a_part_and_the_others_within_join_it() {
    let t0 = Instant::now();
    let text = ALL.replace("all = ", "any = ").replace("timeout_actions = [\"log\"]\n", "");
    let mut c = Conditions::new(rules(&text));
    assert_eq!(parts_of(&mut c, "api-ready", 1, t0).len(), 1);
    assert!(parts_of(&mut c, "worker-ready", 2, t0 + ms(10_000)).is_empty(), "joined");
    assert_eq!(parts_of(&mut c, "worker-ready", 2, t0 + ms(10_001)).len(), 1, "a new window");
    assert_eq!(c.next_deadline(), None, "an `any` never waits on time");
}

fn hit(c: &mut Conditions, rule: usize, p: u32, line: &str, now: Instant) -> Option<Satisfied> {
    c.on_hit(rule, pane(p), line, part("ERROR", p), now)
}

#[test]
fn count_fires_on_the_nth_match_within_the_window_end_included() {
    let t0 = Instant::now();
    let text = "[[rule]]\nname = \"burst\"\npattern = \"ERROR\"\ncount = 3\nwithin = \"10s\"\nactions = [\"log\"]\n";
    let mut c = Conditions::new(rules(text));
    assert!(hit(&mut c, 0, 1, "ERROR a", t0).is_none());
    assert!(hit(&mut c, 0, 1, "ERROR b", t0 + ms(5_000)).is_none());
    // Another pane counts apart (per pane is the default).
    assert!(hit(&mut c, 0, 2, "ERROR x", t0 + ms(6_000)).is_none());
    let fired = hit(&mut c, 0, 1, "ERROR c", t0 + ms(10_000)).expect("third within 10 s");
    assert_eq!(fired.parts.len(), 3);
    assert_eq!(fired.pane, Some(pane(1)));
    // The burst is consumed: the next one counts from zero.
    assert!(hit(&mut c, 0, 1, "ERROR d", t0 + ms(10_001)).is_none());
    // Matches older than `within` before the newest drop out.
    assert!(hit(&mut c, 0, 3, "ERROR", t0).is_none());
    assert!(hit(&mut c, 0, 3, "ERROR", t0 + ms(1)).is_none());
    assert!(hit(&mut c, 0, 3, "ERROR", t0 + ms(10_002)).is_none(), "the first two are too old");
}

#[test]
fn count_per_rule_adds_every_selected_pane_up() {
    let t0 = Instant::now();
    let text = "[[rule]]\nname = \"burst\"\npattern = \"ERROR\"\ncount = 2\nwithin = \"1s\"\nper = \"rule\"\nactions = [\"log\"]\n";
    let mut c = Conditions::new(rules(text));
    assert!(hit(&mut c, 0, 1, "ERROR", t0).is_none());
    let fired = hit(&mut c, 0, 2, "ERROR", t0 + ms(500)).expect("two panes, one window");
    assert_eq!(fired.parts[0].pane.as_deref(), Some("%1"));
    assert_eq!(fired.parts[1].pane.as_deref(), Some("%2"));
}

const SEQUENCE: &str = r#"
[[rule]]
name = "deploy"
sequence = ["migrating", "done"]
within = "1m"
actions = ["log"]
"#;

#[test]
fn sequence_fires_in_order_and_a_decoy_in_the_wrong_order_does_not() {
    let t0 = Instant::now();
    let mut c = Conditions::new(rules(SEQUENCE));
    assert!(hit(&mut c, 0, 1, "done", t0).is_none(), "done before migrating is a decoy");
    assert!(hit(&mut c, 0, 1, "migrating", t0 + ms(1)).is_none());
    // Another pane's `done` is not this pane's.
    assert!(hit(&mut c, 0, 2, "done", t0 + ms(2)).is_none());
    let fired = hit(&mut c, 0, 1, "done", t0 + ms(60_001)).expect("within 1 m of migrating");
    let names: Vec<_> = fired.parts.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["migrating", "done"]);
    assert!(hit(&mut c, 0, 1, "done", t0 + ms(60_002)).is_none(), "starts over");
}

#[test]
fn sequence_progress_expires_after_within_and_goes_with_its_pane() {
    let t0 = Instant::now();
    let mut c = Conditions::new(rules(SEQUENCE));
    hit(&mut c, 0, 1, "migrating", t0);
    assert!(hit(&mut c, 0, 1, "done", t0 + ms(60_001)).is_none(), "too late");
    hit(&mut c, 0, 1, "migrating", t0 + ms(70_000));
    c.pane_gone(pane(1));
    assert!(hit(&mut c, 0, 1, "done", t0 + ms(70_001)).is_none(), "a new pane %1 starts afresh");
    assert_eq!(c.pending(), 0);
}
