//! Property tests: `escape` then `unescape` is the identity on arbitrary
//! bytes; a generated control-mode stream (`%output` with random payloads,
//! blocks whose body lines start with `%` or mimic guards, notifications,
//! garbage) decodes to the modelled events and to the same result sequence
//! however it is split; arbitrary bytes never panic and keep the decoder's
//! buffer within its line cap.

use bytes::Bytes;
use proptest::collection::vec;
use proptest::prelude::*;
use tmux_control_parser::{escape, unescape, Decoder, Event, PaneId, ParseError, Reply, WindowId};

/// The chunk boundaries for `cuts` over `len` bytes: clamped, sorted,
/// deduplicated, starting at 0 and ending at `len`.
fn cut_points(len: usize, cuts: &[usize]) -> Vec<usize> {
    let mut points: Vec<usize> = cuts.iter().map(|&c| c % (len + 1)).collect();
    points.extend([0, len]);
    points.sort_unstable();
    points.dedup();
    points
}

/// Decodes `data` cut at the given points.
fn decode_split(dec: &mut Decoder, data: &[u8], cuts: &[usize]) -> Vec<Result<Event, ParseError>> {
    let mut out = Vec::new();
    for w in cut_points(data.len(), cuts).windows(2) {
        dec.feed(&data[w[0]..w[1]]);
        out.extend(std::iter::from_fn(|| dec.next_event()));
    }
    out.extend(std::iter::from_fn(|| dec.finish()));
    out
}

/// One element of a generated stream, with the event(s) it must decode to
/// (`None` for garbage, whose decoding is only checked for split-invariance).
#[derive(Debug, Clone)]
enum Item {
    Output { pane: u32, payload: Vec<u8> },
    Block { number: u32, ok: bool, body: Vec<Vec<u8>>, flow: Option<u32> },
    Notification(&'static str),
    Garbage(Vec<u8>),
}

const NOTIFICATIONS: &[&str] = &[
    "%window-add @3",
    "%sessions-changed",
    "%layout-change @0 c195,80x24,0,0[80x12,0,0,0,80x11,0,13,1] c195,80x24,0,0[80x12,0,0,0,80x11,0,13,1] *",
    "%subscription-changed s $0 - - - : ",
    "%extended-output %1 12 : x\\015",
    "%unknown-future-thing a b",
    "%window-add bad",
];

fn body_line() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        vec(any::<u8>().prop_filter("no LF", |b| *b != b'\n'), 0..40),
        Just(b"%1".to_vec()),
        Just(b"%end 1 999999 1".to_vec()),
        Just(b"%begin 1 2 3".to_vec()),
        Just(b"%output %1 not an event here".to_vec()),
        Just(b"%pause %".to_vec()),
        Just(Vec::new()),
    ]
}

fn item() -> impl Strategy<Value = Item> {
    prop_oneof![
        4 => (0u32..5, vec(any::<u8>(), 0..200)).prop_map(|(pane, payload)| Item::Output { pane, payload }),
        2 => (0u32..1000, any::<bool>(), vec(body_line(), 0..5), proptest::option::of(0u32..3))
            .prop_map(|(number, ok, body, flow)| Item::Block { number, ok, body, flow }),
        1 => proptest::sample::select(NOTIFICATIONS).prop_map(Item::Notification),
        1 => vec(any::<u8>().prop_filter("no LF", |b| *b != b'\n'), 0..60).prop_map(Item::Garbage),
    ]
}

/// Serialises items into a stream, LF-terminated, ending in `%exit`.
fn render(items: &[Item]) -> Vec<u8> {
    let mut s = Vec::new();
    for it in items {
        match it {
            Item::Output { pane, payload } => {
                s.extend_from_slice(format!("%output %{pane} ").as_bytes());
                s.extend_from_slice(&escape(payload));
            }
            Item::Block { number, ok, body, flow } => {
                s.extend_from_slice(format!("%begin 1700000000 {number} 1\n").as_bytes());
                for line in body {
                    s.extend_from_slice(line);
                    s.push(b'\n');
                }
                if let Some(p) = flow {
                    s.extend_from_slice(format!("%continue %{p}\n").as_bytes());
                }
                let guard = if *ok { "%end" } else { "%error" };
                s.extend_from_slice(format!("{guard} 1700000000 {number} 1").as_bytes());
            }
            Item::Notification(n) => s.extend_from_slice(n.as_bytes()),
            Item::Garbage(g) => s.extend_from_slice(g),
        }
        s.push(b'\n');
    }
    s.extend_from_slice(b"%exit\n");
    s
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn escape_then_unescape_is_identity(data in vec(any::<u8>(), 0..512)) {
        let escaped = escape(&data);
        prop_assert!(!escaped.contains(&b'\n') && !escaped.contains(&b'\r'));
        prop_assert_eq!(&*unescape(&escaped), &data[..]);
    }

    #[test]
    fn unescape_never_panics_and_never_grows(data in vec(any::<u8>(), 0..512)) {
        prop_assert!(unescape(&data).len() <= data.len());
    }

    #[test]
    fn generated_streams_decode_to_the_model_at_any_split(
        items in vec(item(), 0..30),
        cuts in vec(any::<usize>(), 0..40),
    ) {
        let stream = render(&items);
        let whole = decode_split(&mut Decoder::new(), &stream, &[]);
        let split = decode_split(&mut Decoder::new(), &stream, &cuts);
        prop_assert_eq!(&split, &whole);

        // The modelled items come out in order (garbage and fixed
        // notifications in between are skipped when matching).
        let mut results = whole.iter();
        for it in &items {
            let expected: Vec<Event> = match it {
                Item::Output { pane, payload } => {
                    vec![Event::Output { pane: PaneId(*pane), data: payload.clone().into() }]
                }
                Item::Block { number, ok, body, flow } => {
                    let lines = body.iter().map(|l| Bytes::from(l.clone())).collect();
                    let reply = Event::Reply(Reply { time: 1_700_000_000, number: *number, flags: 1, ok: *ok, lines });
                    match flow {
                        Some(p) => vec![Event::Continue { pane: PaneId(*p) }, reply],
                        None => vec![reply],
                    }
                }
                Item::Notification("%window-add @3") => vec![Event::WindowAdd { window: WindowId(3) }],
                Item::Notification(_) | Item::Garbage(_) => continue,
            };
            for ev in expected {
                let found = results.any(|r| r.as_ref() == Ok(&ev));
                prop_assert!(found, "missing {:?}", ev);
            }
        }
        prop_assert_eq!(whole.last(), Some(&Ok(Event::Exit { reason: None })));
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_stay_bounded(
        data in vec(any::<u8>(), 0..4096),
        cuts in vec(any::<usize>(), 0..64),
        cc in any::<bool>(),
    ) {
        const MAX_LINE: usize = 64;
        const MAX_BLOCK: usize = 512;
        let mut input = if cc { b"\x1bP1000p".to_vec() } else { Vec::new() };
        input.extend_from_slice(&data);
        let whole = decode_split(&mut Decoder::with_limits(MAX_LINE, MAX_BLOCK), &input, &[]);

        let mut dec = Decoder::with_limits(MAX_LINE, MAX_BLOCK);
        let mut split = Vec::new();
        for w in cut_points(input.len(), &cuts).windows(2) {
            dec.feed(&input[w[0]..w[1]]);
            split.extend(std::iter::from_fn(|| dec.next_event()));
            // After draining, only a partial line (or a partial DCS marker) is buffered.
            prop_assert!(dec.buffered_len() <= MAX_LINE.max(7), "buffered {}", dec.buffered_len());
        }
        split.extend(std::iter::from_fn(|| dec.finish()));
        prop_assert_eq!(&split, &whole);
        for r in &whole {
            if let Ok(Event::Reply(reply)) = r {
                let cost: usize = reply.lines.iter().map(|l| l.len() + std::mem::size_of::<Bytes>()).sum();
                prop_assert!(cost <= MAX_BLOCK);
            }
            if let Ok(Event::Stray { line }) | Ok(Event::Unknown { rest: line, .. }) = r {
                prop_assert!(line.len() <= MAX_LINE);
            }
            if let Ok(Event::Output { data, .. }) | Ok(Event::ExtendedOutput { data, .. }) = r {
                prop_assert!(data.escaped_len() <= MAX_LINE);
                let mut raw = Vec::new();
                data.unescape_into(&mut raw);
                prop_assert_eq!(&raw[..], &*unescape(data.escaped()));
            }
        }
    }

    #[test]
    fn parse_line_never_panics(line in vec(any::<u8>(), 0..200)) {
        let _ = tmux_control_parser::parse_line(&line);
        let mut with_name = b"%layout-change @1 ".to_vec();
        with_name.extend_from_slice(&line);
        let _ = tmux_control_parser::parse_line(&with_name);
        let _ = tmux_control_parser::parse_layout(&line);
    }
}
