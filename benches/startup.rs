//! Start-up cost of big rule sets: the time to load a rules file of N distinct
//! rules (`ctmuxd::rules::parse`, which checks every pattern) and to build the
//! matcher from it (`Matcher::new`), and the peak RSS of doing so.
//!
//! Each case runs in a child process (this binary re-executed with
//! `CTMUXD_STARTUP_CHILD=<case>`), so its peak RSS (`VmHWM` of
//! `/proc/self/status`) is its own and not the parent's high-water mark.
//!
//! Run: `cargo bench --bench startup` (all cases) or
//! `cargo bench --bench startup -- 2000` (only the cases whose name contains 2000).
//!
//! The rules are written as users write them:
//! `ALERT-0042 code=(?P<c>\d+) (?:failed|crashed) in (?P<m>\w+)`, numbered
//! 0000..N-1; the `_no_w` cases drop the `\w+` (` in (?P<m>[a-z]+)`), the
//! `_unicode` ones add a Unicode `\b`.
//!
//! After the build the child also feeds one pane ~40,000 lines (one in 50 a trigger
//! for some rule) and prints the hits, so that a matcher that builds fast but
//! matches slowly (or wrongly) shows up here too.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use ctmuxd_text::matcher::{Matcher, PaneMatcher, PatternSpec};

/// `(case name, rule count, pattern of rule i)`.
type Case = (&'static str, usize, fn(usize) -> String);

fn cases() -> Vec<Case> {
    fn typical(i: usize) -> String {
        format!(r"ALERT-{i:04} code=(?P<c>\d+) (?:failed|crashed) in (?P<m>\w+)")
    }
    fn no_w(i: usize) -> String {
        format!(r"ALERT-{i:04} code=(?P<c>\d+) (?:failed|crashed) in (?P<m>[a-z]+)")
    }
    fn unicode_b(i: usize) -> String {
        format!(r"\bALERT-{i:04} code=(?P<c>\d+) (?:failed|crashed) in (?P<m>\w+)\b")
    }
    vec![
        ("rules_200", 200, typical),
        ("rules_2000", 2000, typical),
        ("rules_200_no_w", 200, no_w),
        ("rules_2000_no_w", 2000, no_w),
        ("rules_2000_unicode_b", 2000, unicode_b),
    ]
}

/// The rules file of `n` rules.
fn rules_toml(n: usize, pattern: fn(usize) -> String) -> String {
    let mut s = String::new();
    for i in 0..n {
        let p = pattern(i);
        writeln!(s, "[[rule]]\nname = \"alert-{i:04}\"\npattern = '{p}'\nactions = [\"log\"]\n")
            .unwrap();
    }
    s
}

/// `VmHWM` (peak RSS) of this process, in KiB.
fn vm_hwm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// One case, in this (child) process: prints one result line.
fn child(case: &Case) {
    let (name, n, pattern) = *case;
    let text = rules_toml(n, pattern);
    let base_kib = vm_hwm_kib();
    let t0 = Instant::now();
    let rules = ctmuxd::rules::parse(&text, Path::new("bench-rules.toml")).expect("rules parse");
    let t_load = t0.elapsed();
    let specs: Vec<PatternSpec> = rules
        .rules
        .iter()
        .map(|r| PatternSpec { pattern: r.pattern.clone(), prompt: r.prompt })
        .collect();
    let t1 = Instant::now();
    let m = Arc::new(Matcher::new(&specs).expect("matcher"));
    let t_build = t1.elapsed();
    let start_kib = vm_hwm_kib();

    // Some matching: 40,000 lines, every 50th a trigger of rule (k * 7919) % n,
    // every 100th with a non-ASCII word; twice on the same pane: the first pass
    // includes building the DFA states and the matched rules' regexes, the second
    // is warm.
    let lines: Vec<String> = (0..40_000usize)
        .map(|k| {
            if k % 50 == 0 {
                let word = if k % 100 == 0 { "módulo" } else { "worker_3" };
                format!("ALERT-{:04} code={} failed in {word}", (k * 7919) % n, k % 997)
            } else {
                format!(
                    "2024-05-01T12:00:{:02}Z INFO worker-{} processed request in {}ms",
                    k % 60,
                    k % 64,
                    k % 900
                )
            }
        })
        .collect();
    let bytes: usize = lines.iter().map(|l| l.len() + 1).sum();
    let mut pm = PaneMatcher::new(m.clone());
    let (mut hits, mut out) = (0usize, Vec::new());
    let mut pass = || {
        let t = Instant::now();
        for (k, line) in lines.iter().enumerate() {
            pm.scan(line);
            pm.end_line(line, &mut out);
            hits += out.len();
            if k == 0 {
                assert_eq!(m.captures(out[0], line).len(), 2, "captures of rule {}", out[0]);
            }
        }
        bytes as f64 / (1 << 20) as f64 / t.elapsed().as_secs_f64()
    };
    let (cold, warm) = (pass(), pass());
    println!(
        "{name:<22} load {:>7.1} ms  build {:>7.1} ms  start {:>7.1} ms  peak RSS {:>6.1} MiB \
         (+{:.1} over the bench's own {:.1})  match {:>6.1} MiB/s cold, {:>6.1} warm \
         ({hits} hits, {:.1} MiB peak)",
        t_load.as_secs_f64() * 1e3,
        t_build.as_secs_f64() * 1e3,
        (t_load + t_build).as_secs_f64() * 1e3,
        start_kib as f64 / 1024.0,
        start_kib.saturating_sub(base_kib) as f64 / 1024.0,
        base_kib as f64 / 1024.0,
        cold,
        warm,
        vm_hwm_kib() as f64 / 1024.0,
    );
}

fn main() {
    let all = cases();
    if let Ok(name) = std::env::var("CTMUXD_STARTUP_CHILD") {
        let case = all.iter().find(|c| c.0 == name).expect("unknown case");
        child(case);
        return;
    }
    // `cargo bench` passes `--bench`; any other argument filters the cases.
    let filters: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let exe = std::env::current_exe().expect("current exe");
    for case in &all {
        if !filters.is_empty() && !filters.iter().any(|f| case.0.contains(f.as_str())) {
            continue;
        }
        let status =
            Command::new(&exe).env("CTMUXD_STARTUP_CHILD", case.0).status().expect("spawn child");
        assert!(status.success(), "case {} failed", case.0);
    }
}
