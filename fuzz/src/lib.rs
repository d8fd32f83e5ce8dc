//! The properties the fuzz targets check, one function per target, shared with the
//! parser's `tests/fuzz_regressions.rs` (which includes this file with `#[path]`), so a
//! crash file in `fuzz/regressions/` is replayed by `cargo test` through exactly the code
//! that found it. Every check panics (the fuzzer's crash signal) when a property fails:
//!
//! * [`check_decoder`]: the `Decoder` never panics, gives the same events whether the
//!   input arrives whole or in arbitrary chunks, and never emits a payload larger than
//!   its configured limits; every output payload un-escapes the same through
//!   `Payload::unescape_into`, `Payload::unescape` and a reference model; `parse_line`
//!   never panics on any line of the input;
//! * [`check_layout`]: `parse_layout` never panics, and a layout that parses survives
//!   format → parse unchanged (with a formatter written here, independently of the
//!   crate's `Display`, which must agree with it);
//! * [`check_unescape`]: `unescape` never panics and agrees with a byte-by-byte reference
//!   model; `escape` → `unescape` is the identity.
//!
//! [`run_check`] is the replay tests' harness: a failed property as a message, not a panic.
//!
//! This file depends only on `tmux_control_parser` and std so that it compiles both in
//! the fuzz crate and as a module of the parser's integration test (and of the root
//! package's `tests/it/fuzz_replay.rs`, which replays the daemon targets).

#![forbid(unsafe_code)]

use std::borrow::Cow;
use std::fmt::Write as _;

use tmux_control_parser::{
    escape, parse_layout, parse_line, unescape, Decoder, Event, Layout, LayoutCell, LayoutKind,
    ParseError, Payload,
};

/// How many bytes of an overlong line a `ParseError` may keep, at most. The parser keeps
/// 256 (`error::MAX_KEPT_LINE`, crate-private); this bound only has to be finite and small.
const MAX_ERROR_LINE: usize = 256;

/// Limits and chunking decoded from the first bytes of a decoder fuzz input.
///
/// Layout of the input: `byte0 = k | e << 3 | m << 6`, then `k` chunk-size bytes, then
/// the stream.
/// * `k` (0-7) chunk-size bytes follow; chunk `i` has `size[i % k] + 1` bytes (1-256);
///   `k == 0` feeds the stream one byte at a time.
/// * `e == 7` uses `Decoder::new()` (default limits); otherwise
///   `max_line = 16 << (2 * e)` (16 B .. 64 KiB) and `max_block = max_line << (2 * m)`.
struct DecoderPlan<'a> {
    sizes: &'a [u8],
    limits: Option<(usize, usize)>,
    stream: &'a [u8],
}

impl<'a> DecoderPlan<'a> {
    fn new(data: &'a [u8]) -> Option<Self> {
        let (&b0, rest) = data.split_first()?;
        let k = usize::from(b0 & 7);
        let e = u32::from((b0 >> 3) & 7);
        let m = u32::from(b0 >> 6);
        if rest.len() < k {
            return None;
        }
        let (sizes, stream) = rest.split_at(k);
        let limits = (e != 7).then(|| {
            let max_line = 16usize << (2 * e);
            (max_line, max_line << (2 * m))
        });
        Some(DecoderPlan { sizes, limits, stream })
    }

    fn decoder(&self) -> Decoder {
        match self.limits {
            Some((line, block)) => Decoder::with_limits(line, block),
            None => Decoder::new(),
        }
    }

    /// The stream cut into the planned chunks.
    fn chunks(&self) -> impl Iterator<Item = &'a [u8]> + '_ {
        let mut rest = self.stream;
        let mut i = 0;
        std::iter::from_fn(move || {
            if rest.is_empty() {
                return None;
            }
            let size = match self.sizes {
                [] => 1,
                sizes => usize::from(sizes[i % sizes.len()]) + 1,
            };
            i += 1;
            let (chunk, tail) = rest.split_at(size.min(rest.len()));
            rest = tail;
            Some(chunk)
        })
    }
}

type Item = Result<Event, ParseError>;

/// Drains every event the decoder has ready.
fn drain(decoder: &mut Decoder, out: &mut Vec<Item>) {
    while let Some(item) = decoder.next_event() {
        out.push(item);
    }
}

/// End of input: `finish` until it has nothing more, then anything left queued.
fn drain_finish(decoder: &mut Decoder, out: &mut Vec<Item>) {
    drain(decoder, out);
    while let Some(item) = decoder.finish() {
        out.push(item);
        drain(decoder, out);
    }
    // A finished decoder stays finished.
    assert!(decoder.finish().is_none(), "finish() produced an item after returning None");
    assert!(decoder.next_event().is_none(), "next_event() produced an item after finish()");
}

/// Asserts that one decoded item respects the decoder's limits.
fn check_limits(item: &Item, max_line: usize, max_block: usize) {
    // Text fields are lossy UTF-8: one invalid byte may become U+FFFD (3 bytes).
    let text = |s: &str, what: &str| {
        assert!(s.len() <= 3 * max_line, "{what} of {} bytes exceeds max_line {max_line}", s.len())
    };
    let bytes = |b: &[u8], what: &str| {
        assert!(b.len() <= max_line, "{what} of {} bytes exceeds max_line {max_line}", b.len())
    };
    let event = match item {
        Ok(event) => event,
        Err(err) => {
            let bound = max_line.max(MAX_ERROR_LINE);
            assert!(err.line().len() <= bound, "error line of {} bytes", err.line().len());
            return;
        }
    };
    match event {
        Event::Reply(reply) => {
            let mut total = 0usize;
            for line in &reply.lines {
                bytes(line, "reply line");
                total += line.len();
            }
            assert!(total <= max_block, "reply of {total} bytes exceeds max_block {max_block}");
        }
        Event::Output { data, .. } | Event::ExtendedOutput { data, .. } => {
            bytes(data.escaped(), "output")
        }
        Event::Unknown { name, rest } => {
            text(name, "unknown name");
            bytes(rest, "unknown rest");
        }
        Event::Stray { line } => bytes(line, "stray line"),
        Event::WindowRenamed { name, .. }
        | Event::UnlinkedWindowRenamed { name, .. }
        | Event::SessionChanged { name, .. }
        | Event::SessionRenamed { name, .. }
        | Event::PasteBufferChanged { name }
        | Event::PasteBufferDeleted { name } => text(name, "name"),
        Event::ClientSessionChanged { client, name, .. } => {
            text(client, "client");
            text(name, "name");
        }
        Event::ClientDetached { client } => text(client, "client"),
        Event::LayoutChange { flags, .. } => text(flags, "layout flags"),
        Event::SubscriptionChanged { name, value, .. } => {
            text(name, "subscription name");
            text(value, "subscription value");
        }
        Event::ConfigError { text: t } | Event::Message { text: t } => text(t, "text"),
        Event::Exit { reason: Some(reason) } => text(reason, "exit reason"),
        _ => {}
    }
}

/// Decoder property: see the module docs and [`DecoderPlan`] for the input layout.
///
/// # Panics
///
/// When the decoder panics, chunked and whole decoding differ, or an item exceeds the
/// limits.
pub fn check_decoder(data: &[u8]) {
    let Some(plan) = DecoderPlan::new(data) else { return };

    let mut whole = Vec::new();
    let mut decoder = plan.decoder();
    decoder.feed(plan.stream);
    drain_finish(&mut decoder, &mut whole);

    // Chunked, draining after every feed as the daemon's reader does.
    let mut chunked = Vec::new();
    let mut decoder = plan.decoder();
    for chunk in plan.chunks() {
        decoder.feed(chunk);
        drain(&mut decoder, &mut chunked);
    }
    drain_finish(&mut decoder, &mut chunked);

    if whole != chunked {
        let first = whole.iter().zip(&chunked).position(|(a, b)| a != b);
        panic!(
            "whole ({} items) and chunked ({} items) decoding differ at item {first:?}:\n\
             whole:   {:?}\nchunked: {:?}",
            whole.len(),
            chunked.len(),
            first.map(|i| &whole[i]),
            first.map(|i| &chunked[i]),
        );
    }
    let (max_line, max_block) = plan.limits.unwrap_or((usize::MAX / 4, usize::MAX));
    let mut scratch = b"kept".to_vec();
    for item in &whole {
        check_limits(item, max_line, max_block);
        if let Ok(Event::Output { data, .. } | Event::ExtendedOutput { data, .. }) = item {
            check_payload(data, &mut scratch);
        }
    }

    // The single-line entry point must cope with any line of the same input.
    for line in plan.stream.split(|&b| b == b'\n') {
        let _ = parse_line(line);
    }
}

/// Asserts that every way of un-escaping a decoded payload agrees with the reference
/// model: `unescape_into` (appending to `scratch`, which keeps a 4-byte prefix across
/// calls), `unescape`, and the free `unescape` on the escaped bytes.
fn check_payload(data: &Payload, scratch: &mut Vec<u8>) {
    let model = unescape_model(data.escaped());
    scratch.truncate(4);
    data.unescape_into(scratch);
    assert_eq!(&scratch[..4], b"kept", "unescape_into did not append");
    assert_eq!(&scratch[4..], &model[..], "Payload::unescape_into disagrees with the model");
    assert_eq!(&data.unescape()[..], &model[..], "Payload::unescape disagrees with the model");
    assert_eq!(&*unescape(data.escaped()), &model[..], "unescape disagrees on a payload");
    assert!(model.len() <= data.escaped_len(), "un-escaping grew the payload");
    assert_eq!(data.is_empty(), model.is_empty(), "is_empty disagrees with the raw bytes");
}

/// Appends `cell` in tmux's layout syntax (no checksum).
fn format_cell(cell: &LayoutCell, out: &mut String) {
    let _ = write!(out, "{}x{},{},{}", cell.width, cell.height, cell.x, cell.y);
    let (open, cells, close) = match &cell.kind {
        LayoutKind::Pane(pane) => {
            let _ = write!(out, ",{}", pane.0);
            return;
        }
        LayoutKind::LeftRight(cells) => ('{', cells, '}'),
        LayoutKind::TopBottom(cells) => ('[', cells, ']'),
    };
    format_cells(open, cells, close, out);
}

fn format_cells(open: char, cells: &[LayoutCell], close: char, out: &mut String) {
    out.push(open);
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        format_cell(cell, out);
    }
    out.push(close);
}

/// tmux's layout checksum (protocol reference §7): rotate right by one, add the byte.
fn checksum(body: &[u8]) -> u16 {
    body.iter().fold(0, |sum: u16, &b| sum.rotate_right(1).wrapping_add(u16::from(b)))
}

/// Formats a layout the way tmux prints `#{window_layout}`, with a fresh checksum.
pub fn format_layout(layout: &Layout) -> String {
    let mut body = String::new();
    format_cell(&layout.root, &mut body);
    if !layout.floating.is_empty() {
        format_cells('<', &layout.floating, '>', &mut body);
    }
    format!("{:04x},{body}", checksum(body.as_bytes()))
}

/// Layout property: see the module docs.
///
/// # Panics
///
/// When `parse_layout` panics or accepts a bad checksum, or a parsed layout does not
/// survive format → parse.
pub fn check_layout(data: &[u8]) {
    let Ok(layout) = parse_layout(data) else { return };
    let body = data.iter().position(|&b| b == b',').map_or(&data[..0], |i| &data[i + 1..]);
    assert_eq!(layout.checksum, checksum(body), "accepted a layout whose checksum is wrong");

    let text = format_layout(&layout);
    assert_eq!(text, layout.to_string(), "the crate's Display disagrees with tmux's syntax");
    let again = match parse_layout(text.as_bytes()) {
        Ok(again) => again,
        Err(err) => panic!("re-formatted layout {text:?} does not parse: {err}"),
    };
    // The checksum covers the text, which may differ from the input when the input was
    // not canonical (leading zeros, `-0`, an empty `<>`); the tree must not.
    assert_eq!(again.root, layout.root, "tree changed through {text:?}");
    assert_eq!(again.floating, layout.floating, "floating cells changed through {text:?}");
    // Canonical text is a fixed point.
    assert_eq!(format_layout(&again), text);
}

/// Reference model of `unescape`: `\` plus three octal digits at most `\377` is one
/// byte; any other backslash is kept literally.
fn unescape_model(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        let escape =
            data.get(i + 1..i + 4).filter(|d| matches!(d, [b'0'..=b'3', b'0'..=b'7', b'0'..=b'7']));
        match (data[i], escape) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') << 6 | (d[1] - b'0') << 3 | (d[2] - b'0'));
                i += 4;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    out
}

/// Unescape property: see the module docs.
///
/// # Panics
///
/// When `unescape` panics, disagrees with the model, copies needlessly, or `escape`
/// produces something that does not round-trip or is not what tmux writes.
pub fn check_unescape(data: &[u8]) {
    let decoded = unescape(data);
    assert_eq!(&*decoded, &unescape_model(data)[..], "unescape disagrees with the model");
    if !data.contains(&b'\\') {
        assert!(matches!(decoded, Cow::Borrowed(_)), "copied input without a backslash");
    }

    let escaped = escape(data);
    assert!(escaped.iter().all(|&b| b >= 0x20), "escape left a control byte in {escaped:?}");
    assert_eq!(
        escaped.len(),
        data.len() + 3 * data.iter().filter(|&&b| b < 0x20 || b == b'\\').count()
    );
    assert_eq!(&*unescape(&escaped), data, "escape -> unescape is not the identity");
}

/// Runs `check` on `data`, turning a failed property (a panic) into its message, so that a
/// replay test can list every failing file instead of stopping at the first.
///
/// # Errors
///
/// The panic message when `check` panics.
pub fn run_check(check: fn(&[u8]), data: &[u8]) -> Result<(), String> {
    std::panic::catch_unwind(|| check(data)).map_err(|payload| {
        payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    })
}
