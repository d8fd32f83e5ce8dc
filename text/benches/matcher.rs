//! Matching throughput over realistic pane output (a compiler/test-runner log with
//! ANSI colours and CRLF, a few trigger lines) with 1, 16 and 256 rules.
//!
//! Each group (`rules_1`, `rules_16`, `rules_256`) holds, in the same run:
//! - `screen+matcher`: `PaneWatch::feed` over the raw bytes in 64 KiB chunks (vte
//!   stripping, ring buffer and the incremental DFA), a new pane per iteration, so
//!   its lazy DFA starts empty (the cost of building the states is included);
//! - `screen+matcher_ungated`: the same without the line gate (every line walked by
//!   the DFA, as before the gate existed), for the gate's effect in the same run;
//! - `screen+matcher_warm`: the same on one long-lived pane, as in the daemon;
//! - `screen_only`: the same with an empty rule set (the cost of vte + ring);
//! - `matcher_only`: `PaneMatcher::scan` + `end_line` over the already-stripped lines;
//!   `matcher_only_ungated`: the same without the line gate;
//! - `regex_per_line`: baseline (a), `regex::Regex::is_match` of every rule on every
//!   stripped line; `regexset_per_line`: the same with one `RegexSet`;
//! - `research_50_per_line`: baseline (b), the old polling approach at ctmuxd's
//!   latency: on every new line, the last 50 lines (as one captured text) are
//!   searched again by every rule, and a (line, rule) pair already reported is
//!   skipped; `research_50_per_50_lines`: the same every 50 new lines (the cheapest
//!   poller that still sees every line, up to 50 lines late).
//!
//! The setup lines print each rule set's gate literals and how many lines the gate
//! refused (never walked). Targets (issue 3): >= 1 GiB/s with 1 rule, 256 rules
//! within 2x of 1 rule, >= 100x the re-search approach.
//!
//! `MATCHER_CACHE_KIB=n` sets the per-pane DFA cache capacity (default 4096); the
//! setup lines report the cache size and the clears per 4 MB.
//!
//! Throughput is in bytes: raw bytes for the `screen*` rows, stripped text bytes
//! (newline included) for the others. The data sizes and line count are printed
//! first, so lines/s = bytes/s × lines / bytes.

use std::collections::HashSet;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use ctmuxd_text::matcher::{Matcher, MatcherOptions, PaneMatcher, PatternSpec};
use ctmuxd_text::pane::watch::PaneWatch;

/// Feed size used by the daemon's reader (a `%output` burst is usually smaller).
const CHUNK: usize = 64 * 1024;

/// Deterministic pseudo-random numbers (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// About 4 MB of cargo build + test output + service logs, CRLF line ends (as a
/// pty makes them), colours, and a trigger line every ~5,000 lines.
fn pane_output() -> Vec<u8> {
    let mut r = Rng(0x5eed);
    let mut s = String::new();
    let mut n = 0u64;
    while s.len() < 4_000_000 {
        n += 1;
        let line = match r.below(100) {
            0..=14 => format!(
                "\x1b[1m\x1b[32m   Compiling\x1b[0m crate_{} v0.{}.{} (/home/dev/src/crate_{})",
                r.below(400),
                r.below(20),
                r.below(10),
                r.below(400)
            ),
            15..=44 => format!(
                "test module_{}::tests::case_{} ... \x1b[32mok\x1b[0m",
                r.below(50),
                r.below(1000)
            ),
            45..=54 => format!(
                "\x1b[1m\x1b[33mwarning\x1b[0m\x1b[1m: unused variable: `value_{}`\x1b[0m",
                r.below(300)
            ),
            55..=62 => format!(
                "   \x1b[1m\x1b[34m-->\x1b[0m src/module_{}/file_{}.rs:{}:{}",
                r.below(50),
                r.below(30),
                r.below(2000),
                r.below(100)
            ),
            63..=89 => format!(
                "2024-05-01T12:{:02}:{:02}.{:03}Z  INFO worker-{} processed request id={:x} in {}ms",
                r.below(60),
                r.below(60),
                r.below(1000),
                r.below(64),
                r.next() & 0xffff_ffff,
                r.below(900)
            ),
            90..=95 => format!(
                "    \x1b[2m|\x1b[0m     let value_{} = compute(&input[{}..], {});",
                r.below(300),
                r.below(100),
                r.below(100)
            ),
            _ => format!(
                "\x1b[1m\x1b[32m    Finished\x1b[0m `test` profile [unoptimized + debuginfo] target(s) in {}.{:02}s",
                r.below(100),
                r.below(100)
            ),
        };
        s.push_str(&line);
        s.push_str("\r\n");
        if n.is_multiple_of(5000) {
            s.push_str(&format!("\x1b[1mTRIGGER: START_DEPLOY build-{n}\x1b[0m\r\n"));
            s.push_str("\x1b[31merror[E0308]\x1b[0m: mismatched types\r\n");
            s.push_str(&format!("test module_1::tests::flaky_{n} ... FAILED\r\n"));
        }
    }
    s.into_bytes()
}

/// 256 distinct, realistic rules; the first one is the 1-rule set, the first 16
/// the 16-rule set.
fn rules() -> Vec<String> {
    let mut v: Vec<String> = [
        r"TRIGGER: START_\w+ (?P<id>\S+)",
        r"error\[E\d{4}\]",
        r"^test .* FAILED$",
        r"panicked at",
        r"(?i)segmentation fault",
        r"thread '[^']+' has overflowed its stack",
        r"^\s*Finished .* in (?P<secs>\d+\.\d+)s$",
        r"could not compile `(?P<krate>[^`]+)`",
        r"(?P<n>\d+) tests? failed",
        r"Address already in use",
        r"Killed$",
        r"out of memory",
        r"connection refused",
        r"^FATAL:",
        r"Traceback \(most recent call last\):",
        r">>> $",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let families: [&dyn Fn(usize) -> String; 8] = [
        &|i| format!(r"TRIGGER: JOB_{i} (?P<id>\S+)"),
        &|i| format!(r"worker-{i} (crashed|exited with code \d+)"),
        &|i| format!(r"service_{i}: (timeout|connection reset) after \d+ms"),
        &|i| format!(r"^ERROR \[module_{i}\] "),
        &|i| format!("deadlock detected in pool_{i}"),
        &|i| format!(r"test module_{i}::tests::\w+ \.\.\. FAILED"),
        &|i| format!(r"disk quota exceeded on /dev/sd{}\d", (b'a' + (i % 26) as u8) as char),
        &|i| format!(r"(?P<user>\w+)@host{i}: permission denied"),
    ];
    let mut i = 0;
    while v.len() < 256 {
        v.push(families[i % families.len()](i / families.len()));
        i += 1;
    }
    v
}

/// The stripped lines, as the screen produces them (the oracle for the baselines).
fn stripped_lines(m: &Arc<Matcher>, raw: &[u8]) -> Vec<String> {
    let mut w = PaneWatch::new(m.clone(), 1 << 20);
    w.feed(raw, &mut Vec::new());
    w.ring().lines().map(str::to_string).collect()
}

/// Baseline (b), the old polling approach: after every `every` new lines, the last
/// 50 lines (one captured text) are searched again by every rule, and a (line,
/// rule) pair already reported is skipped. Returns the number of reports.
///
/// `every = 1` is what a poller needs for ctmuxd's latency (each line checked as
/// soon as it is complete, nothing missed); `every = 50` is the cheapest poller that
/// still sees every line, at up to 50 lines of delay.
fn research_last_50(lines: &[String], rules: &[regex::Regex], every: usize) -> usize {
    let mut seen: HashSet<(usize, usize)> = HashSet::new();
    let mut count = 0;
    let mut polled = 0;
    while polled + every <= lines.len() {
        polled += every;
        let first = polled.saturating_sub(50);
        let text = lines[first..polled].join("\n");
        for (pid, r) in rules.iter().enumerate() {
            for mat in r.find_iter(&text) {
                let line =
                    first + memchr::memchr_iter(b'\n', &text.as_bytes()[..mat.start()]).count();
                if seen.insert((line, pid)) {
                    count += 1;
                }
            }
        }
        seen.retain(|&(line, _)| line >= first);
    }
    count
}

/// `screen+matcher`: a new pane (its lazy DFA empty) fed all of `raw` in daemon-sized
/// chunks; returns the number of matching lines.
fn fresh_pane_feed(m: &Arc<Matcher>, raw: &[u8]) -> usize {
    let mut w = PaneWatch::new(m.clone(), 50);
    let mut out = Vec::new();
    for chunk in raw.chunks(CHUNK) {
        w.feed(chunk, &mut out);
    }
    out.len()
}

/// `matcher_only`: every stripped line through `scan` + `end_line`; returns the
/// number of (line, pattern) matches.
fn match_lines(pm: &mut PaneMatcher, lines: &[String], hits: &mut Vec<usize>) -> usize {
    let mut count = 0;
    for l in lines {
        pm.scan(l);
        pm.end_line(l, hits);
        count += hits.len();
    }
    count
}

fn bench(c: &mut Criterion) {
    let raw = pane_output();
    let all_rules = rules();
    let empty = Arc::new(Matcher::new(&[]).unwrap());
    let lines = stripped_lines(&empty, &raw);
    let text_bytes: usize = lines.iter().map(|l| l.len() + 1).sum();
    eprintln!(
        "data: {} raw bytes, {} stripped bytes, {} lines (lines/s = bytes/s x lines / bytes)",
        raw.len(),
        text_bytes,
        lines.len()
    );

    // `MATCHER_CACHE_KIB` overrides the per-pane DFA cache capacity, to measure its
    // effect (cache clears, table size) without a rebuild.
    let mut opts = MatcherOptions::default();
    let kib = std::env::var("MATCHER_CACHE_KIB").ok().and_then(|v| v.parse::<usize>().ok());
    let overridden = kib.is_some();
    if let Some(kib) = kib {
        opts.cache_capacity = kib * 1024;
    }
    for n in [1usize, 16, 256] {
        let specs: Vec<PatternSpec> = all_rules[..n].iter().map(PatternSpec::line).collect();
        let m = Arc::new(Matcher::with_options(&specs, &opts).unwrap());
        // The same rules without the line gate: every line walked by the DFA.
        let ungated = Arc::new(
            Matcher::with_options(&specs, &MatcherOptions { line_gate: false, ..opts.clone() })
                .unwrap(),
        );
        let regexes: Vec<regex::Regex> =
            all_rules[..n].iter().map(|p| regex::Regex::new(p).unwrap()).collect();
        let multiline: Vec<regex::Regex> = all_rules[..n]
            .iter()
            .map(|p| regex::Regex::new(&format!("(?m){p}")).unwrap())
            .collect();
        let set = regex::RegexSet::new(&all_rules[..n]).unwrap();

        // All engines must agree before they are timed.
        let expected: usize =
            lines.iter().map(|l| regexes.iter().filter(|r| r.is_match(l)).count()).sum();
        let mut out = Vec::new();
        let mut w = PaneWatch::new(m.clone(), 50);
        for chunk in raw.chunks(CHUNK) {
            w.feed(chunk, &mut out);
        }
        let got: usize = out.iter().map(|l| l.patterns.len()).sum();
        assert_eq!(got, expected, "{n} rules: PaneWatch disagrees with regex");
        let got_lines = out.len();
        // The default cache must hold the bench's rule sets; a smaller override may
        // make the DFA give up (reported below).
        assert!(overridden || !w.pane_matcher().is_fallback());
        // One more pass over the data on the same (now warm) pane: the cache clears
        // a long-lived pane sees per MB of output.
        let clears = w.pane_matcher().cache_clears();
        for chunk in raw.chunks(CHUNK) {
            w.feed(chunk, &mut out);
        }
        eprintln!(
            "rules_{n}: {expected} matches on {} lines; pane DFA cache {} KiB of {} KiB; \
             cache clears: {clears} in the first 4 MB, {} in the next; give-ups {}; \
             line gate: {} literals {:?}, {} of {} lines never walked",
            got_lines,
            w.pane_matcher().cache_memory() / 1024,
            opts.cache_capacity / 1024,
            w.pane_matcher().cache_clears() - clears,
            w.pane_matcher().give_ups(),
            m.gate_literals().len(),
            m.gate_literals(),
            w.pane_matcher().gated_lines(),
            w.ring().total_lines(),
        );

        let mut g = c.benchmark_group(format!("rules_{n}"));
        g.sampling_mode(SamplingMode::Flat).sample_size(10);

        g.throughput(Throughput::Bytes(raw.len() as u64));
        for (name, matcher) in [("screen+matcher", &m), ("screen+matcher_ungated", &ungated)] {
            g.bench_function(name, |b| b.iter(|| black_box(fresh_pane_feed(matcher, &raw))));
        }
        g.bench_function("screen+matcher_warm", |b| {
            let mut w = PaneWatch::new(m.clone(), 50);
            let mut out = Vec::new();
            b.iter(|| {
                out.clear();
                for chunk in raw.chunks(CHUNK) {
                    w.feed(chunk, &mut out);
                }
                black_box(out.len())
            })
        });
        if n == 1 {
            g.bench_function("screen_only", |b| {
                b.iter(|| {
                    let mut w = PaneWatch::new(empty.clone(), 50);
                    let mut out = Vec::new();
                    for chunk in raw.chunks(CHUNK) {
                        w.feed(chunk, &mut out);
                    }
                    black_box(w.ring().total_lines())
                })
            });
        }

        g.throughput(Throughput::Bytes(text_bytes as u64));
        for (name, matcher) in [("matcher_only", &m), ("matcher_only_ungated", &ungated)] {
            g.bench_function(name, |b| {
                let mut pm = PaneMatcher::new(matcher.clone());
                let mut hits = Vec::new();
                b.iter(|| black_box(match_lines(&mut pm, &lines, &mut hits)))
            });
        }
        g.bench_function("regex_per_line", |b| {
            b.iter(|| {
                let mut count = 0;
                for l in &lines {
                    for r in &regexes {
                        count += usize::from(r.is_match(l));
                    }
                }
                black_box(count)
            })
        });
        g.bench_function("regexset_per_line", |b| {
            b.iter(|| {
                let mut count = 0;
                for l in &lines {
                    count += set.matches(l).iter().count();
                }
                black_box(count)
            })
        });
        g.bench_function("research_50_per_line", |b| {
            b.iter(|| black_box(research_last_50(&lines, &multiline, 1)))
        });
        g.bench_function("research_50_per_50_lines", |b| {
            b.iter(|| black_box(research_last_50(&lines, &multiline, 50)))
        });
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
