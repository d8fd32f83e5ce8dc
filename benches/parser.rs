//! Throughput of the tmux control-mode `Decoder` against two line-split baselines.
//!
//! Two deterministic, generated streams of a few MiB each model what `tmux -C` writes
//! (shared/tmux-control-mode.md sections 4-7): an output-heavy stream (a busy pane: mostly
//! `%output` lines carrying 100-2700 raw bytes of escaped terminal text with SGR colours,
//! CRLF and UTF-8) and a notification-heavy stream (layout changes, window/session
//! notifications, subscriptions, short output and small command replies). For each stream
//! one criterion group measures, with `Throughput::Bytes`:
//!
//! * `decoder`: the full `Decoder` (framing, parsing, block assembly), fed in 64 KiB chunks
//!   like the daemon's reader task, every event drained and `black_box`ed. `%output`
//!   payloads come out still escaped (a `Payload`), so this row does no un-escaping;
//! * `decoder+unescape`: the same, plus every `%output` / `%extended-output` payload
//!   un-escaped with `Payload::unescape_into` into one reused scratch `Vec`, which is what
//!   the daemon's sink does: the cost moved out of the decoder, reported beside it;
//! * `line_split_framed`: the floor any line reader pays: the same 64 KiB chunks framed
//!   into lines (partial line carried over, each complete line handed out as `Bytes`);
//! * `memchr_count`: `memchr_iter` over `\n` counting lines and summing their lengths, the
//!   speed of finding LFs in one contiguous slice (never touches or hands out a line).
//!
//! Targets (from the parser issue): >= 1 GiB/s on output-heavy input and `decoder` >= 50%
//! of the line-split baseline's throughput. Run with
//! `cargo bench --bench parser -- --warm-up-time 1 --measurement-time 3`.
//!
//! PERF (2 cores shared with another engineer's builds, load ~1.5; three full runs back to
//! back, median of each row; "before" is main before `Payload`, two runs):
//!
//! | stream             | decoder before | decoder       | decoder+unescape | line_split_framed | memchr_count |
//! |--------------------|----------------|---------------|------------------|-------------------|--------------|
//! | output-heavy       | 1.45 GiB/s     | 14.3 GiB/s    | 1.48 GiB/s       | 16.3 GiB/s        | 28.0 GiB/s   |
//! | notification-heavy | 282 MiB/s      | 318 MiB/s     | 301 MiB/s        | 2.16 GiB/s        | 3.80 GiB/s   |
//!
//! Ratios of `decoder` to `line_split_framed` / `memchr_count`: output-heavy 88% / 51%
//! (before: 9% / 5%), notification-heavy 14% / 8% (before: 13% / 7%). `decoder+unescape`:
//! output-heavy 9% / 5%, notification-heavy 14% / 8%.
//!
//! Output-heavy: the decoder now only copies each escaped payload into its per-feed buffer
//! (one memcpy, like `line_split_framed`'s copy into a `BytesMut`) and parses the pane id,
//! so it meets the 50% target. Un-escaping (~200 000 escapes in 4.2 MB, one per ~21 bytes)
//! did not get cheaper, it moved: `decoder+unescape` matches the old fused decoder (1.45 ->
//! 1.48 GiB/s), and a consumer that ignores a pane's output skips it entirely.
//!
//! Notification-heavy misses the 50% target: each line becomes a typed event (a 192-byte
//! `Event` pushed to and popped from the queue, owned `String`s, two layout trees per
//! `%layout-change`, one a clone), and ~37% of decoder time is `%layout-change` alone
//! (nom layout parser ~25%, tree clone and drop ~10%). Removed since the previous table
//! (decoder row alone, back to back): a realloc per layout container (289 -> 302 MiB/s),
//! one 192-byte memcpy per line by emitting results into the queue (-> 310), memchr calls
//! on few-byte fields replaced by plain loops (-> 322). What is left is the cost of the
//! public event types, not avoidable work.

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tmux_control_parser::{escape, Decoder, Event, ParseError};

/// Size the generators stop at; a few MiB so one pass does not fit in L2 and the chunked
/// feed path is exercised many times per iteration.
const STREAM_BYTES: usize = 4 << 20;

/// Chunk size the daemon's reader hands to the decoder (one pipe read).
const CHUNK: usize = 64 << 10;

/// SplitMix64: a tiny deterministic generator so every run benchmarks the same bytes
/// without pulling a `rand` dependency into the bench.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `lo..=hi`.
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() % (hi - lo + 1) as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.range(0, items.len() - 1)]
    }
}

/// Words and fragments typical of build logs, shells and TUIs, incl. multi-byte UTF-8.
const WORDS: &[&str] = &[
    "Compiling",
    "serde",
    "v1.0.219",
    "warning:",
    "error[E0308]:",
    "mismatched",
    "types",
    "-->",
    "src/main.rs:42:17",
    "test",
    "result:",
    "ok.",
    "passed;",
    "0",
    "failed;",
    "déjà",
    "vu",
    "naïve",
    "€",
    "中文",
    "日本語",
    "│",
    "─────",
    "✓",
    "→",
    "🚀",
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "lazy",
    "dog",
    "/usr/lib/x86_64-linux-gnu",
    "[INFO]",
    "[WARN]",
    "200",
    "GET",
    "/api/v1/panes",
    "HTTP/1.1",
];

/// Terminal control sequences a pane program writes (escaped as `\ooo` by tmux).
const CONTROLS: &[&[u8]] = &[
    b"\x1b[0m",
    b"\x1b[1;31m",
    b"\x1b[32m",
    b"\x1b[38;5;208m",
    b"\x1b[38;2;255;128;0m",
    b"\x1b[K",
    b"\x1b[2J\x1b[H",
    b"\x1b]0;user@host: ~/src\x07",
    b"\t",
    b"\r",
];

/// Raw pane bytes of `len` (approximately; whole words) as a tty produces them: words,
/// colour changes and LF turned into CRLF.
fn terminal_text(rng: &mut Rng, len: usize, out: &mut Vec<u8>) {
    let start = out.len();
    while out.len() - start < len {
        match rng.range(0, 19) {
            0..=1 => out.extend_from_slice(rng.pick::<&[u8]>(CONTROLS)),
            2..=3 => out.extend_from_slice(b"\r\n"),
            4 => out.extend_from_slice(b"\\"),
            _ => {
                out.extend_from_slice(rng.pick(WORDS).as_bytes());
                out.push(b' ');
            }
        }
    }
}

/// One `%output %N <escaped payload>` line with 100-2700 raw bytes (tmux's per-round cap is
/// about 2730 bytes of one pane).
fn output_line(rng: &mut Rng, raw: &mut Vec<u8>, out: &mut Vec<u8>, lo: usize, hi: usize) {
    raw.clear();
    let len = rng.range(lo, hi);
    terminal_text(rng, len, raw);
    let pane = rng.range(0, 7);
    out.extend_from_slice(format!("%output %{pane} ").as_bytes());
    out.extend_from_slice(&escape(raw));
    out.push(b'\n');
}

/// A `%begin`/`%end` block with `lines` body lines in the shape of `list-panes -F`.
fn reply_block(rng: &mut Rng, number: u32, lines: usize, out: &mut Vec<u8>) {
    let time = 1_763_912_345 + u64::from(number);
    out.extend_from_slice(format!("%begin {time} {number} 1\n").as_bytes());
    for i in 0..lines {
        let pid = rng.range(1000, 99_999);
        out.extend_from_slice(format!("%{i} {pid} 0 sh 80x24\n").as_bytes());
    }
    out.extend_from_slice(format!("%end {time} {number} 1\n").as_bytes());
}

/// Captured 3.3a layouts (layout_splits.txt, window_close_quirks.txt), checksums valid.
const LAYOUTS: &[&str] = &[
    "aafd,120x40,0,0,0",
    "f91d,120x40,0,0{60x40,0,0,0,59x40,61,0,1}",
    "95e4,120x40,0,0{60x40,0,0,0,59x40,61,0[59x20,61,0,1,59x19,61,21,2]}",
    "2f8f,120x40,0,0{60x40,0,0[60x34,0,0,0,60x5,0,35,3],59x40,61,0[59x20,61,0,1,59x19,61,21,2]}",
    "4228,120x40,0,0[120x19,0,0{59x19,0,0,0,60x19,60,0,3},120x20,0,20{59x20,0,20,1,60x20,60,20,2}]",
    "c58c,80x24,0,0[80x6,0,0,3,80x5,0,7,5,80x11,0,13,4]",
];

/// Mostly `%output` lines of 100-2700 raw bytes, with the odd notification and reply a busy
/// session produces in between.
fn output_heavy() -> Vec<u8> {
    let mut rng = Rng(0x6f75_7470_7574);
    let mut out = Vec::with_capacity(STREAM_BYTES + (16 << 10));
    let mut raw = Vec::with_capacity(4096);
    let mut number = 260;
    while out.len() < STREAM_BYTES {
        match rng.range(0, 49) {
            0 => {
                number += 1;
                reply_block(&mut rng, number, 2, &mut out);
            }
            1 => out.extend_from_slice(b"%window-renamed @1 cargo\n"),
            _ => output_line(&mut rng, &mut raw, &mut out, 100, 2700),
        }
    }
    out
}

/// A notification storm: layout changes, window/session changes, subscriptions, short
/// output and small replies, roughly in the proportions of an orchestrator's session.
fn notification_heavy() -> Vec<u8> {
    let mut rng = Rng(0x6e6f_7469_6679);
    let mut out = Vec::with_capacity(STREAM_BYTES + (16 << 10));
    let mut raw = Vec::with_capacity(256);
    let mut number = 260;
    while out.len() < STREAM_BYTES {
        let w = rng.range(0, 20);
        let p = rng.range(0, 40);
        let s = rng.range(0, 5);
        let line = match rng.range(0, 11) {
            0 | 1 => {
                let layout = rng.pick(LAYOUTS);
                let flags = *rng.pick(&["*", "-", "", "*Z"]);
                format!("%layout-change @{w} {layout} {layout} {flags}\n")
            }
            2 => format!("%window-add @{w}\n"),
            3 => format!("%session-window-changed ${s} @{w}\n"),
            4 => format!("%window-pane-changed @{w} %{p}\n"),
            5 => format!("%subscription-changed dead ${s} @{w} 0 %{p} : 0 {p}\n"),
            6 => format!("%subscription-changed win ${s} @{w} - - : sh {}\n", p % 4 + 1),
            7 => format!("%unlinked-window-close @{w}\n"),
            8 => format!("%window-renamed @{w} build {p}\n"),
            9 => {
                number += 1;
                let lines = rng.range(0, 4);
                reply_block(&mut rng, number, lines, &mut out);
                continue;
            }
            _ => {
                output_line(&mut rng, &mut raw, &mut out, 1, 80);
                continue;
            }
        };
        out.extend_from_slice(line.as_bytes());
    }
    out
}

/// Full decode: 64 KiB feeds, every event drained; returns the event count so nothing is
/// optimised away.
fn decode_all(stream: &[u8]) -> usize {
    let mut decoder = Decoder::new();
    let mut events = 0;
    for chunk in stream.chunks(CHUNK) {
        decoder.feed(chunk);
        while let Some(event) = decoder.next_event() {
            black_box(&event);
            events += 1;
        }
    }
    while let Some(event) = decoder.finish() {
        black_box(&event);
        events += 1;
    }
    events
}

/// Full decode as the daemon consumes it: `decode_all`, plus every `%output` /
/// `%extended-output` payload un-escaped into one scratch `Vec` reused for the whole run
/// (the daemon's sink does `scratch.clear(); data.unescape_into(&mut scratch)`). The
/// difference to `decoder` is the cost the decoder no longer pays eagerly.
fn decode_and_unescape_all(stream: &[u8]) -> usize {
    let mut decoder = Decoder::new();
    let mut scratch = Vec::with_capacity(CHUNK);
    let mut raw = 0;
    let mut take = |event: Result<Event, ParseError>| {
        if let Ok(Event::Output { data, .. } | Event::ExtendedOutput { data, .. }) = &event {
            scratch.clear();
            data.unescape_into(&mut scratch);
            black_box(&scratch);
            raw += scratch.len();
        }
        black_box(&event);
    };
    for chunk in stream.chunks(CHUNK) {
        decoder.feed(chunk);
        while let Some(event) = decoder.next_event() {
            take(event);
        }
    }
    while let Some(event) = decoder.finish() {
        take(event);
    }
    raw
}

/// Baseline `memchr_count`: `memchr_iter` over the whole stream, counting lines and summing
/// their lengths. It never touches a line and never sees a chunk boundary, so it is the
/// bare speed of finding LFs, not of handing lines out.
fn memchr_count(stream: &[u8]) -> (usize, usize) {
    let (mut lines, mut total, mut start) = (0, 0, 0);
    for end in memchr::memchr_iter(b'\n', stream) {
        lines += 1;
        total += end - start;
        start = end + 1;
    }
    (lines, total)
}

/// Baseline `line_split_framed`: the least any line reader fed by a pipe must do. The same
/// 64 KiB chunks as the decoder go into one `BytesMut`, the partial line is carried across
/// chunks, and every complete line is handed out (`black_box`ed) as its own `Bytes`
/// (`split_to` + `freeze`, the LF dropped), exactly like `tokio_util`'s `LinesCodec` minus
/// the UTF-8 check. No parsing, no un-escaping.
fn line_split_framed(stream: &[u8]) -> usize {
    let mut buf = BytesMut::new();
    let mut lines = 0;
    for chunk in stream.chunks(CHUNK) {
        buf.extend_from_slice(chunk);
        // Only the bytes just appended can hold the next LF: the carried partial line was
        // already scanned.
        let mut from = buf.len() - chunk.len();
        while let Some(p) = memchr::memchr(b'\n', &buf[from..]) {
            let mut line = buf.split_to(from + p + 1);
            line.truncate(from + p);
            black_box(line.freeze());
            lines += 1;
            from = 0;
        }
    }
    if !buf.is_empty() {
        black_box(buf.split().freeze());
        lines += 1;
    }
    lines
}

fn bench_streams(c: &mut Criterion) {
    for (name, stream) in
        [("output-heavy", output_heavy()), ("notification-heavy", notification_heavy())]
    {
        // Sanity: the generated stream decodes without a single error, so the benchmark
        // measures the parsing path, not error reporting.
        let mut check = Decoder::new();
        check.feed(&stream);
        while let Some(event) = check.next_event() {
            if let Err(err) = event {
                panic!("generated {name} stream does not decode: {err}");
            }
        }
        let mut group = c.benchmark_group(format!("parser/{name}"));
        group.throughput(Throughput::Bytes(stream.len() as u64));
        group.bench_with_input(BenchmarkId::new("decoder", stream.len()), &stream, |b, s| {
            b.iter(|| decode_all(black_box(s)))
        });
        group.bench_with_input(
            BenchmarkId::new("decoder+unescape", stream.len()),
            &stream,
            |b, s| b.iter(|| decode_and_unescape_all(black_box(s))),
        );
        group.bench_with_input(
            BenchmarkId::new("line_split_framed", stream.len()),
            &stream,
            |b, s| b.iter(|| line_split_framed(black_box(s))),
        );
        group.bench_with_input(BenchmarkId::new("memchr_count", stream.len()), &stream, |b, s| {
            b.iter(|| memchr_count(black_box(s)))
        });
        group.finish();
    }
}

criterion_group!(benches, bench_streams);
criterion_main!(benches);
