//! Replays every captured transcript, tmux 3.3a in `tests/fixtures/` and
//! tmux 3.5a in `tests/fixtures/tmux-3.5a/` (see the README there for how
//! each was made), through the [`Decoder`] at chunk sizes 1, 2, 3, 7, 64,
//! 4096 and whole, asserts that every chunking yields the identical result
//! sequence, and then asserts concrete decoded facts per fixture.
//!
//! A fact function takes the fixture directory (`V33` or `V35`) and is run
//! for both by `both!` (tests `<name>::tmux_3_3a` and `<name>::tmux_3_5a`);
//! where the two releases differ it asserts each one's behaviour. The
//! `versions` pair, captured to show those differences, has its own test.

use std::collections::BTreeSet;
use std::path::PathBuf;

use bytes::Bytes;
use tmux_control_parser::{
    Decoder, Event, LayoutCell, LayoutKind, PaneId, ParseError, ParseErrorKind, Reply, SessionId,
    WindowId,
};

/// Chunk sizes every fixture is replayed at; `usize::MAX` feeds it whole.
const CHUNKS: [usize; 7] = [1, 2, 3, 7, 64, 4096, usize::MAX];

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join("fixtures")
}

/// The tmux 3.3a fixtures' directory, as a prefix of fixture names.
const V33: &str = "";
/// The tmux 3.5a fixtures' directory, as a prefix of fixture names.
const V35: &str = "tmux-3.5a/";

/// Runs the fact function `name(dir)` for both releases, as the tests
/// `name::tmux_3_3a` and `name::tmux_3_5a`.
macro_rules! both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn tmux_3_3a() {
                super::$name(super::V33)
            }
            #[test]
            fn tmux_3_5a() {
                super::$name(super::V35)
            }
        }
    )*};
}

both!(
    session_split_kill,
    output_ansi_crlf,
    binary_utf8_round_trips_all_bytes,
    errors,
    flow_pause,
    exit_server_sigkill,
    cc_dcs_wrapper_is_decoded,
    c_on_tty_shows_echoed_input_as_stray_lines,
    unframed_lines,
    layout_splits,
    subscription,
    pane_exit_detection,
    misc_notifications,
    window_close_quirks,
    async_blocks,
    long_lines,
    long_lines_with_a_small_line_cap,
    non_utf8_client,
    exits,
);

fn load(name: &str) -> Vec<u8> {
    std::fs::read(dir().join(name)).unwrap_or_else(|e| panic!("reading fixture {name}: {e}"))
}

/// A decoder set up the way its capture needs (`-C` on a tty has CRLF lines
/// but no DCS introducer, so CR stripping must be asked for).
fn decoder_for(name: &str, limits: Option<(usize, usize)>) -> Decoder {
    let mut dec = match limits {
        Some((line, block)) => Decoder::with_limits(line, block),
        None => Decoder::new(),
    };
    if name.ends_with("c_on_tty.bin") {
        dec.set_strip_cr(true);
    }
    dec
}

fn replay_chunked(
    name: &str,
    data: &[u8],
    chunk: usize,
    limits: Option<(usize, usize)>,
) -> Vec<Result<Event, ParseError>> {
    let mut dec = decoder_for(name, limits);
    let mut out = Vec::new();
    for piece in data.chunks(chunk.min(data.len()).max(1)) {
        dec.feed(piece);
        out.extend(std::iter::from_fn(|| dec.next_event()));
    }
    out.extend(std::iter::from_fn(|| dec.finish()));
    out
}

/// Replays at every chunk size, asserts all agree, returns the results.
fn replay_all(name: &str, limits: Option<(usize, usize)>) -> Vec<Result<Event, ParseError>> {
    let data = load(name);
    let whole = replay_chunked(name, &data, usize::MAX, limits);
    for chunk in CHUNKS {
        let got = replay_chunked(name, &data, chunk, limits);
        assert_eq!(got.len(), whole.len(), "{name}: event count differs at chunk size {chunk}");
        for (i, (a, b)) in got.iter().zip(&whole).enumerate() {
            assert_eq!(a, b, "{name}: result {i} differs at chunk size {chunk}");
        }
    }
    whole
}

/// Replays with default limits and asserts there is no error at all.
fn events(name: &str) -> Vec<Event> {
    replay_all(name, None)
        .into_iter()
        .enumerate()
        .map(|(i, r)| r.unwrap_or_else(|e| panic!("{name}: result {i} is an error: {e}")))
        .collect()
}

fn replies(events: &[Event]) -> Vec<&Reply> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Reply(r) => Some(r),
            _ => None,
        })
        .collect()
}

/// All `%output`/`%extended-output` bytes of `pane`, concatenated.
fn pane_bytes(events: &[Event], pane: u32) -> Vec<u8> {
    let mut out = Vec::new();
    for e in events {
        match e {
            Event::Output { pane: p, data } | Event::ExtendedOutput { pane: p, data, .. }
                if p.0 == pane =>
            {
                data.unescape_into(&mut out)
            }
            _ => {}
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn leaf(width: u32, height: u32, x: i32, y: i32, pane: u32) -> LayoutCell {
    LayoutCell { width, height, x, y, kind: LayoutKind::Pane(PaneId(pane)) }
}

fn sub(
    session: Option<u32>,
    window: Option<u32>,
    index: Option<u32>,
    pane: Option<u32>,
    name: &str,
    value: &str,
) -> Event {
    Event::SubscriptionChanged {
        name: name.into(),
        session: session.map(SessionId),
        window: window.map(WindowId),
        window_index: index,
        pane: pane.map(PaneId),
        value: value.into(),
    }
}

/// The fixtures with facts asserted below; the 3.3a directory must hold
/// exactly these, the 3.5a one all but `too_far_behind.txt` (it takes more
/// than five minutes to capture).
const FIXTURES: &[&str] = &[
    "async_blocks.txt",
    "binary_utf8.bin",
    "c_on_tty.bin",
    "cc_dcs.bin",
    "errors.txt",
    "exit_attach_failed.txt",
    "exit_detached.txt",
    "exit_kill_server.txt",
    "exit_last_pane_exits.txt",
    "exit_non_attach_command.txt",
    "exit_server_sigkill.txt",
    "exit_session_destroyed.txt",
    "exit_stdin_eof.txt",
    "exit_wait_exit.txt",
    "flow_pause.txt",
    "layout_splits.txt",
    "long_lines.txt",
    "misc_notifications.txt",
    "non_utf8_client.txt",
    "output_ansi_crlf.txt",
    "pane_exit_detection.txt",
    "session_split_kill.txt",
    "subscription.txt",
    "too_far_behind.txt",
    "unframed_lines.txt",
    "versions.txt",
    "window_close_quirks.txt",
];

both!(every_fixture_is_chunking_independent_and_well_formed);

fn every_fixture_is_chunking_independent_and_well_formed(d: &str) {
    let on_disk: BTreeSet<String> = std::fs::read_dir(dir().join(d))
        .expect("fixture directory")
        .map(|e| e.expect("dir entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".txt") || n.ends_with(".bin"))
        .collect();
    let known: BTreeSet<String> = FIXTURES
        .iter()
        .filter(|n| d == V33 || **n != "too_far_behind.txt")
        .map(|s| s.to_string())
        .collect();
    assert_eq!(on_disk, known, "{d}: every fixture needs its facts asserted here");
    for name in FIXTURES.iter().filter(|n| known.contains(**n)).map(|n| format!("{d}{n}")) {
        let name = name.as_str();
        let evs = events(name);
        assert!(
            matches!(evs.last(), Some(Event::Exit { .. })),
            "{name}: last event is {:?}",
            evs.last()
        );
        // One Reply per %begin guard (no fixture has a body line starting
        // with "%begin "), and the first one is the flags-0 initial reply.
        let data = load(name);
        let begins = data
            .split(|&b| b == b'\n')
            .filter(|l| l.starts_with(b"%begin ") || l.starts_with(b"\x1bP1000p%begin "))
            .count();
        let reps = replies(&evs);
        assert_eq!(reps.len(), begins, "{name}: reply count");
        assert_eq!(reps[0].flags, 0, "{name}: first reply must be the initial command's");
        assert!(
            !evs.iter().any(|e| matches!(e, Event::Unknown { .. })),
            "{name}: unexpected Unknown event"
        );
    }
}

fn session_split_kill(d: &str) {
    let evs = events(&format!("{d}session_split_kill.txt"));
    let Event::Reply(first) = &evs[0] else { panic!("first event {:?}", evs[0]) };
    assert_eq!((first.flags, first.ok, first.lines.len()), (0, true, 0));
    assert_eq!(evs[1], Event::WindowAdd { window: WindowId(0) });
    assert_eq!(evs[2], Event::SessionsChanged);
    assert_eq!(evs[3], Event::SessionChanged { session: SessionId(0), name: "demo".into() });
    assert_eq!(evs[4], Event::Output { pane: PaneId(0), data: "# ".into() });
    let reps = replies(&evs);
    assert_eq!(reps[1].lines, vec![Bytes::from_static(b"%1")]);
    assert_eq!(reps[2].lines, vec![Bytes::from_static(b"%2")]);
    let pids = if d == V35 { [18143, 18150, 18157] } else { [23320, 23324, 23328] };
    let [a, b, c] = pids;
    assert_eq!(reps[3].text(), format!("%0 {a} 0 sh 80x12\n%1 {b} 0 sh 40x11\n%2 {c} 0 sh 39x11"));
    assert_eq!(reps[5].text(), "%0 0 0\n%2 1 1");
    assert!(evs.contains(&Event::WindowPaneChanged { window: WindowId(0), pane: PaneId(2) }));
    let two_panes = evs.iter().any(|e| {
        matches!(e, Event::LayoutChange { layout: Some(l), .. } if l.pane_ids() == [PaneId(0), PaneId(2)])
    });
    assert!(two_panes, "a layout with exactly panes %0 and %2 after kill-pane");
    let three = evs.iter().find_map(|e| match e {
        Event::LayoutChange { layout: Some(l), .. } if l.pane_ids().len() == 3 => Some(l),
        _ => None,
    });
    assert_eq!(three.expect("three-pane layout").checksum, 0xb05b);
    assert_eq!(evs.last(), Some(&Event::Exit { reason: None }));
}

fn output_ansi_crlf(d: &str) {
    let evs = events(&format!("{d}output_ansi_crlf.txt"));
    let out = pane_bytes(&evs, 0);
    assert!(contains(&out, b"\x1b[1;31mRED\x1b[0m plain\r\n"));
    assert!(contains(&out, b"tab\there back\\slash bell\x07\r\n"));
    assert!(contains(&out, b"overwritten\rCR-only"));
    assert!(
        contains(&out, b"bare-LF-b\r\r\n"),
        "a program's \\r\\n becomes \\r\\r\\n through the pty"
    );
    assert!(contains(&out, b"\x1b]0;title\x07\x1b[2K\x1b[1Gcleared"));
    assert!(contains(&out, b"echo single\\tquoted\r\n"));
    assert!(contains(&out, b"echo double\tquoted\r\n"));
    assert!(!contains(&out, b"\\0"), "no escape survives un-escaping");
}

fn binary_utf8_round_trips_all_bytes(d: &str) {
    let evs = events(&format!("{d}binary_utf8.bin"));
    let out = pane_bytes(&evs, 0);
    let all: Vec<u8> = (0..=255).collect();
    assert!(
        contains(&out, &all),
        "the raw-mode dump of all 256 byte values must come through unchanged"
    );
    assert!(contains(&out, "utf8: h\u{e9}llo \u{20ac} \u{1f600} \u{4e2d}\u{6587}\r\n".as_bytes()));
    assert!(contains(&out, b"invalid: \xff\xfe \xc0\xaf \xed\xa0\x80 trunc\xe2\x82\r\n"));
    assert!(contains(&out, b"del: \x7f c1: \xc2\x85 \xc2\x9b\r\n"));
    let reps = replies(&evs);
    assert_eq!(reps.last().unwrap().text(), "label=h\u{e9}llo \u{20ac} \u{4e2d}");
}

fn errors(d: &str) {
    let evs = events(&format!("{d}errors.txt"));
    let reps = replies(&evs);
    let ok = reps.iter().filter(|r| r.ok).count();
    let err: Vec<String> = reps.iter().filter(|r| !r.ok).map(|r| r.text()).collect();
    let mut expected = vec![
        "parse error: unknown command: no-such-command",
        "can't find pane: %99",
        "can't find session: nosuchsession",
        "parse error: syntax error",
        "can't find pane: %42",
    ];
    if d == V35 {
        // 3.3a ran `select-window -t` (no argument) as if -t were absent.
        expected.insert(3, "parse error: command select-window: -t expects an argument");
    }
    assert_eq!(ok, 11 - expected.len());
    assert_eq!(err, expected);
    assert!(reps.iter().all(|r| r.flags == 1 || r.number == reps[0].number));
    // `display-message -p "bad \q escape"`: the unknown escape drops its backslash.
    assert!(reps.iter().any(|r| r.ok && r.text() == "bad q escape"));
    assert_eq!(reps.last().unwrap().text(), "ok after errors");
}

fn flow_pause(d: &str) {
    let evs = events(&format!("{d}flow_pause.txt"));
    // The refresh-client blocks that hold a %continue and a manual %pause.
    let (continue_block, pause_block) = if d == V35 { (285, 287) } else { (278, 280) };
    // %continue printed inside the refresh-client block is its own event,
    // delivered before the block's (empty) reply, which still closes.
    let pos =
        evs.iter().position(|e| *e == Event::Continue { pane: PaneId(0) }).expect("a %continue");
    assert!(
        matches!(&evs[pos + 1], Event::Reply(r) if r.number == continue_block && r.ok && r.lines.is_empty())
    );
    // The manual pause, also inside its block.
    let in_block_pause = evs.windows(2).any(|w| {
        w[0] == Event::Pause { pane: PaneId(0) }
            && matches!(&w[1], Event::Reply(r) if r.number == pause_block)
    });
    assert!(in_block_pause, "%pause inside block {pause_block}");
    let pauses = evs.iter().filter(|e| **e == Event::Pause { pane: PaneId(0) }).count();
    let continues = evs.iter().filter(|e| **e == Event::Continue { pane: PaneId(0) }).count();
    assert_eq!((pauses, continues), (2, 2));
    let max_age = evs
        .iter()
        .filter_map(|e| match e {
            Event::ExtendedOutput { age_ms, .. } => Some(*age_ms),
            _ => None,
        })
        .max()
        .expect("extended output");
    assert!(
        (900..3000).contains(&max_age),
        "a 1 s stall shows as an age near 990 ms, got {max_age}"
    );
    let out = pane_bytes(&evs, 0);
    assert!(contains(&out, b"after-continue\r\n"));
    assert!(contains(&out, b"plain-output-again\r\n"));
    assert!(!contains(&out, b"while-off\r\nwhile-off"), "output while off is lost");
    assert!(evs
        .iter()
        .any(|e| matches!(e, Event::ClientDetached { client } if client.starts_with("/dev/pts/"))));
    assert!(evs
        .iter()
        .any(|e| matches!(e, Event::ClientSessionChanged { session: SessionId(0), .. })));
}

fn exit_server_sigkill(d: &str) {
    let evs = events(&format!("{d}exit_server_sigkill.txt"));
    assert_eq!(
        evs.last(),
        Some(&Event::Exit { reason: Some("server exited unexpectedly".into()) })
    );
}

#[test]
fn too_far_behind() {
    let evs = events("too_far_behind.txt");
    assert_eq!(evs.last(), Some(&Event::Exit { reason: Some("too far behind".into()) }));
    assert!(evs.contains(&Event::ClientSessionChanged {
        client: "/dev/pts/2".into(),
        session: SessionId(0),
        name: "slow".into()
    }));
}

fn cc_dcs_wrapper_is_decoded(d: &str) {
    let evs = events(&format!("{d}cc_dcs.bin"));
    assert!(!evs.iter().any(|e| matches!(e, Event::Stray { .. })), "{evs:?}");
    assert_eq!(evs[3], Event::SessionChanged { session: SessionId(0), name: "cc".into() });
    assert_eq!(evs[4], Event::Output { pane: PaneId(0), data: "# ".into() });
    let reps = replies(&evs);
    assert_eq!(reps.len(), 2);
    assert_eq!(reps[1].text(), "hello from -CC");
    assert_eq!(evs.last(), Some(&Event::Exit { reason: None }));
}

fn c_on_tty_shows_echoed_input_as_stray_lines(d: &str) {
    let evs = events(&format!("{d}c_on_tty.bin"));
    let strays: Vec<&Bytes> = evs
        .iter()
        .filter_map(|e| match e {
            Event::Stray { line } => Some(line),
            _ => None,
        })
        .collect();
    assert_eq!(
        strays,
        vec![&Bytes::from_static(b"display-message -p 'hello from -C on a tty'"), &Bytes::new()]
    );
    assert_eq!(replies(&evs)[1].text(), "hello from -C on a tty");
}

fn unframed_lines(d: &str) {
    let evs = events(&format!("{d}unframed_lines.txt"));
    assert!(evs.contains(&Event::Stray { line: "can't find pane: %88".into() }));
    assert!(evs.contains(&Event::Stray { line: "line2".into() }));
    assert!(evs.contains(&sub(Some(0), Some(0), Some(0), Some(0), "note", "line1")));
    let hook = replies(&evs).into_iter().find(|r| !r.ok).expect("the after-hook error block");
    assert_eq!((hook.flags, hook.text().as_str()), (0, "can't find pane: %77"));
}

fn layout_splits(d: &str) {
    let evs = events(&format!("{d}layout_splits.txt"));
    let layouts: Vec<_> = evs
        .iter()
        .filter_map(|e| match e {
            Event::LayoutChange {
                window: WindowId(0),
                layout: Some(l),
                visible_layout: Some(v),
                flags,
            } => Some((l, v, flags.as_str())),
            Event::LayoutChange { .. } => panic!("layout fields missing: {e:?}"),
            _ => None,
        })
        .collect();
    assert_eq!(layouts.len(), 9);
    assert_eq!(layouts[0].0.root, leaf(120, 40, 0, 0, 0));
    // 95e4: {%0 | [%1 / %2]}
    let l = layouts[2].0;
    assert_eq!(l.checksum, 0x95e4);
    assert_eq!(
        l.root,
        LayoutCell {
            width: 120,
            height: 40,
            x: 0,
            y: 0,
            kind: LayoutKind::LeftRight(vec![
                leaf(60, 40, 0, 0, 0),
                LayoutCell {
                    width: 59,
                    height: 40,
                    x: 61,
                    y: 0,
                    kind: LayoutKind::TopBottom(vec![
                        leaf(59, 20, 61, 0, 1),
                        leaf(59, 19, 61, 21, 2)
                    ]),
                },
            ]),
        }
    );
    // Zoomed: the visible layout is the zoomed pane alone, flags *Z.
    let (full, visible, flags) = layouts[5];
    assert_eq!(full.pane_ids(), vec![PaneId(0), PaneId(3), PaneId(1), PaneId(2)]);
    assert_eq!((visible.root.clone(), flags), (leaf(120, 40, 0, 0, 2), "*Z"));
    // Tiled: [ {%0 %3} , {%1 %2} ]
    let tiled = layouts[7].0;
    assert_eq!(tiled.checksum, 0x4228);
    assert_eq!(tiled.pane_ids(), vec![PaneId(0), PaneId(3), PaneId(1), PaneId(2)]);
    assert!(
        matches!(&tiled.root.kind, LayoutKind::TopBottom(rows) if rows.iter().all(|r| matches!(r.kind, LayoutKind::LeftRight(_))))
    );
    // The display-message reply carries the same layout; it parses too.
    let body = replies(&evs)
        .into_iter()
        .find(|r| r.text().contains('|'))
        .expect("display-message reply")
        .text();
    let parts: Vec<&str> = body.split('|').collect();
    assert_eq!(parts.len(), 3);
    assert_eq!(&tmux_control_parser::parse_layout(parts[0].as_bytes()).unwrap(), tiled);
    assert!(evs.contains(&Event::WindowRenamed {
        window: WindowId(1),
        name: "renamed with spaces".into()
    }));
    assert!(evs.contains(&Event::UnlinkedWindowClose { window: WindowId(1) }));
}

fn subscription(d: &str) {
    let evs = events(&format!("{d}subscription.txt"));
    assert!(evs.contains(&sub(Some(0), Some(0), Some(0), Some(0), "label", "")), "empty value");
    assert!(evs.contains(&sub(Some(0), None, None, None, "sess2", "sub 1")), "`-` fields");
    assert!(evs.contains(&sub(Some(0), Some(0), Some(0), None, "win", "sh 2")));
    assert!(evs.contains(&sub(Some(0), Some(0), Some(0), Some(1), "dead", "1 3")), "exit status 3");
    assert!(evs.contains(&sub(Some(0), Some(0), Some(0), Some(0), "label", "build-42")));
}

fn pane_exit_detection(d: &str) {
    let evs = events(&format!("{d}pane_exit_detection.txt"));
    assert!(evs.contains(&sub(Some(0), Some(0), Some(0), Some(2), "dead", "1//15")));
    assert!(evs.contains(&sub(Some(0), Some(0), Some(0), Some(1), "dead", "1/3/")));
    let list = replies(&evs).into_iter().find(|r| r.lines.len() == 3).expect("list-panes reply");
    assert_eq!(list.lines[1], "%2 job-b dead=1 status= signal=15 exit=/15");
    let pid = if d == V35 { 22560 } else { 25265 };
    let split = replies(&evs).into_iter().find(|r| r.text() == format!("%1 {pid}"));
    assert!(split.is_some());
}

fn misc_notifications(d: &str) {
    let evs = events(&format!("{d}misc_notifications.txt"));
    let client = if d == V35 { "client-20932" } else { "client-24070" };
    for expected in [
        Event::SessionWindowChanged { session: SessionId(0), window: WindowId(1) },
        Event::WindowPaneChanged { window: WindowId(0), pane: PaneId(2) },
        Event::SessionRenamed { session: SessionId(0), name: "main renamed".into() },
        Event::UnlinkedWindowAdd { window: WindowId(2) },
        Event::ClientSessionChanged {
            client: client.into(),
            session: SessionId(1),
            name: "other".into(),
        },
        Event::ClientDetached { client: client.into() },
        Event::PaneModeChanged { pane: PaneId(0) },
        Event::WindowRenamed { window: WindowId(0), name: "[tmux]".into() },
        Event::UnlinkedWindowRenamed { window: WindowId(2), name: "other renamed".into() },
        Event::UnlinkedWindowClose { window: WindowId(2) },
    ] {
        assert!(evs.contains(&expected), "missing {expected:?}");
    }
    // set-buffer / delete-buffer: nothing in 3.3a, a notification each in 3.5a.
    let paste: Vec<&Event> = evs
        .iter()
        .filter(|e| {
            matches!(e, Event::PasteBufferChanged { .. } | Event::PasteBufferDeleted { .. })
        })
        .collect();
    if d == V35 {
        assert_eq!(
            paste,
            [
                &Event::PasteBufferChanged { name: "mybuf".into() },
                &Event::PasteBufferDeleted { name: "mybuf".into() }
            ]
        );
    } else {
        assert!(paste.is_empty(), "{paste:?}");
    }
    let last = replies(&evs).into_iter().last().unwrap();
    assert_eq!((last.ok, last.text().as_str()), (false, "can't find session: other"));
}

fn window_close_quirks(d: &str) {
    let evs = events(&format!("{d}window_close_quirks.txt"));
    let flags: Vec<&str> = evs
        .iter()
        .filter_map(|e| match e {
            Event::LayoutChange { flags, .. } => Some(flags.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(flags, vec!["", "-"], "empty flags (trailing space) and `-`");
    assert_eq!(evs.iter().filter(|e| matches!(e, Event::UnlinkedWindowClose { .. })).count(), 2);
    let list = replies(&evs).into_iter().last().unwrap();
    assert_eq!(list.lines[0], "@0 [*] b25d,80x24,0,0,0");
}

fn async_blocks(d: &str) {
    let evs = events(&format!("{d}async_blocks.txt"));
    let reps = replies(&evs);
    let hooked = reps.iter().find(|r| r.text() == "hooked").expect("hook block");
    assert_eq!(hooked.flags, 0);
    assert!(reps.iter().any(|r| r.text() == "if-shell-ran" && r.flags == 1));
    // run-shell without -b: 3.3a shows the shell's output in the pane's view
    // mode; 3.5a writes it to the control client as a bare line after the
    // (empty) block, and the pane stays out of any mode.
    let from_run_shell = Event::Stray { line: "from-run-shell".into() };
    if d == V35 {
        assert!(evs.contains(&from_run_shell));
        assert!(reps.iter().any(|r| r.text() == "0 "));
        assert!(!evs.iter().any(|e| matches!(e, Event::PaneModeChanged { .. })));
    } else {
        assert!(!evs.contains(&from_run_shell));
        assert!(reps.iter().any(|r| r.text() == "1 view-mode"));
        assert!(evs.contains(&Event::PaneModeChanged { pane: PaneId(0) }));
    }
    let ticks = pane_bytes(&evs, 0);
    assert!(ticks.len() >= 5 * 6 && ticks.chunks(6).all(|t| t == b"tick\r\n"), "{ticks:?}");
}

fn long_lines(d: &str) {
    let evs = events(&format!("{d}long_lines.txt"));
    let big = replies(&evs)
        .into_iter()
        .find(|r| r.lines.len() == 1 && r.lines[0].len() == 20000)
        .expect("20000-byte body line");
    assert!(big.lines[0].iter().all(|&b| b == b'x'));
    let out = pane_bytes(&evs, 0);
    assert!(contains(&out, &[b'y'; 12000]));
    assert!(contains(&out, b"LONG-DONE\r\n"));
    // set-buffer notifies in 3.5a only.
    let changed = Event::PasteBufferChanged { name: "big".into() };
    assert_eq!(evs.contains(&changed), d == V35);
}

fn long_lines_with_a_small_line_cap(d: &str) {
    // The 20000-byte body line overflows a 10000-byte cap: reported once,
    // the reply is replaced by ReplyTruncated, and decoding goes on, the same
    // way at every chunk size.
    let results = replay_all(&format!("{d}long_lines.txt"), Some((10_000, 1 << 20)));
    let errors: Vec<&ParseErrorKind> =
        results.iter().filter_map(|r| r.as_ref().err()).map(|e| e.kind()).collect();
    assert_eq!(
        errors,
        vec![
            &ParseErrorKind::LineTooLong { len: 20000, max: 10_000 },
            &ParseErrorKind::ReplyTruncated { number: if d == V35 { 274 } else { 267 }, flags: 1 }
        ]
    );
    let line_err = results.iter().find_map(|r| r.as_ref().err()).unwrap();
    assert_eq!(line_err.line(), &[b'x'; 256][..]);
    assert!(matches!(results.last(), Some(Ok(Event::Exit { reason: None }))));
}

fn non_utf8_client(d: &str) {
    let evs = events(&format!("{d}non_utf8_client.txt"));
    assert_eq!(evs[3], Event::SessionChanged { session: SessionId(0), name: "s\u{e9}ss".into() });
    let reps = replies(&evs);
    assert!(reps.iter().any(|r| r.text() == "label=h_llo _"));
    assert!(evs.contains(&Event::WindowRenamed { window: WindowId(0), name: "w\u{e9}n".into() }));
    assert!(contains(&pane_bytes(&evs, 0), "\u{e9}\r\n".as_bytes()));
}

fn exits(d: &str) {
    for name in ["exit_detached.txt", "exit_stdin_eof.txt", "exit_wait_exit.txt"] {
        let name = format!("{d}{name}");
        assert_eq!(events(&name).last(), Some(&Event::Exit { reason: None }), "{name}");
    }
    for name in ["exit_kill_server.txt", "exit_session_destroyed.txt", "exit_last_pane_exits.txt"] {
        let name = format!("{d}{name}");
        let evs = events(&name);
        assert_eq!(
            &evs[evs.len() - 2..],
            &[Event::SessionsChanged, Event::Exit { reason: None }],
            "{name}"
        );
    }
    let evs = events(&format!("{d}exit_attach_failed.txt"));
    let Event::Reply(r) = &evs[0] else { panic!() };
    assert_eq!((r.flags, r.ok, r.text().as_str()), (0, false, "can't find session: missing"));
    assert_eq!(evs.len(), 2);
    let evs = events(&format!("{d}exit_non_attach_command.txt"));
    let Event::Reply(r) = &evs[0] else { panic!() };
    assert_eq!((r.flags, r.ok, r.text().as_str()), (0, true, "$0 exists"));
    assert_eq!(
        events(&format!("{d}exit_stdin_eof.txt"))
            .iter()
            .filter_map(|e| match e {
                Event::Reply(r) if r.flags == 1 => Some(r.text()),
                _ => None,
            })
            .collect::<Vec<_>>(),
        vec!["last command before EOF"]
    );
}

/// The flags-1 replies of a `versions` capture, in the order sent.
fn versions_replies(d: &str) -> (Vec<Event>, Vec<Reply>) {
    let evs = events(&format!("{d}versions.txt"));
    let mine = replies(&evs).into_iter().filter(|r| r.flags == 1).cloned().collect::<Vec<_>>();
    assert_eq!(mine.len(), 16, "{d}: one reply per command sent");
    (evs, mine)
}

fn lines(reply: &Reply) -> Vec<&[u8]> {
    reply.lines.iter().map(|l| &l[..]).collect()
}

/// Each control-mode difference between tmux 3.3a and 3.5a that the
/// `versions` pair was captured to show (see the fixtures README).
#[test]
fn versions_differences() {
    let (old_evs, old) = versions_replies(V33);
    let (new_evs, new) = versions_replies(V35);

    // #{version}.
    assert_eq!((old[4].text(), new[4].text()), ("3.3a".into(), "3.5a".into()));

    // Control characters in command output (display-message -p, list-panes
    // -F) of a value holding \x1f, tab, backslash, newline, ESC and DEL:
    // 3.3a writes them raw; 3.5a writes \ooo for all but tab and newline and
    // leaves the backslash bare (so `\037` is ambiguous), the newline still
    // splits the record.
    let raw: [&[u8]; 2] = [b"%0\x1ftab\there back\\slash nl", b"after esc\x1bx del\x7fy"];
    let escaped: [&[u8]; 2] = [b"%0\\037tab\there back\\slash nl", b"after esc\\033x del\\177y"];
    for i in [1, 2] {
        assert_eq!(lines(&old[i]), raw, "3.3a reply {i}");
        assert_eq!(lines(&new[i]), escaped, "3.5a reply {i}");
    }
    // #{s/[\001-\037\177]/?/:@v} after a tab separator: identical bytes.
    let cleaned: &[u8] = b"%0\ttab?here back\\slash nl?after esc?x del?y";
    assert_eq!((lines(&old[3]), lines(&new[3])), (vec![cleaned], vec![cleaned]));

    // A bad line in the -f config at start-up: 3.5a sends %config-error as
    // the very first line, before the initial flags-0 block; 3.3a puts the
    // pane into view mode instead (the pane is still in it at the end).
    let Event::ConfigError { text } = &new_evs[0] else { panic!("{:?}", new_evs[0]) };
    assert!(text.ends_with("/bad.conf:2: unknown command: no-such-config-command"), "{text}");
    assert!(matches!(&new_evs[1], Event::Reply(r) if r.flags == 0 && r.ok));
    assert!(!old_evs.iter().any(|e| matches!(e, Event::ConfigError { .. })));
    assert_eq!(old_evs[4], Event::PaneModeChanged { pane: PaneId(0) });
    assert_eq!(old_evs[5], Event::WindowRenamed { window: WindowId(0), name: "[tmux]".into() });
    assert!(!new_evs.iter().any(|e| matches!(e, Event::PaneModeChanged { .. })));
    assert_eq!((old[15].text(), new[15].text()), ("mode=view-mode".into(), "mode=".into()));
    // source-file with the same bad line: a bare line after the block in
    // both (not %config-error).
    for evs in [&old_evs, &new_evs] {
        assert!(evs.iter().any(|e| matches!(e, Event::Stray { line }
            if line.ends_with(b"/bad.conf:2: unknown command: no-such-config-command"))));
    }

    // display-message without -p: nothing in 3.3a; in 3.5a a `%message`
    // line written inside the command's own block. The decoder keeps it as
    // that reply's body line (it cannot be told from `display-message -p`
    // output that starts with "%message "); parse_line reads it.
    assert!(old[5].lines.is_empty());
    assert_eq!(lines(&new[5]), [&b"%message hello message"[..]]);
    assert_eq!(
        tmux_control_parser::parse_line(&new[5].lines[0]).unwrap(),
        Event::Message { text: "hello message".into() }
    );
    assert!(!new_evs.iter().any(|e| matches!(e, Event::Message { .. })));

    // set-buffer / delete-buffer: %paste-buffer-changed/-deleted in 3.5a only.
    let paste = |evs: &[Event]| {
        evs.iter()
            .filter(|e| {
                matches!(e, Event::PasteBufferChanged { .. } | Event::PasteBufferDeleted { .. })
            })
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(paste(&old_evs), []);
    assert_eq!(
        paste(&new_evs),
        [
            Event::PasteBufferChanged { name: "vb".into() },
            Event::PasteBufferDeleted { name: "vb".into() }
        ]
    );
    // show-buffer: 3.3a C-escapes control characters (\t, \033), 3.5a
    // writes the buffer's bytes raw.
    assert_eq!(lines(&old[7]), [&b"buf\\tdata\\033z"[..]]);
    assert_eq!(lines(&new[7]), [&b"buf\tdata\x1bz"[..]]);

    // run-shell without -b: an empty block in both; 3.5a then writes the
    // output as bare lines (ESC escaped, tab raw); 3.3a sends nothing.
    assert!(old[9].lines.is_empty() && new[9].lines.is_empty());
    let strays = |evs: &[Event]| {
        evs.iter()
            .filter_map(|e| match e {
                Event::Stray { line } if !line.ends_with(b"no-such-config-command") => {
                    Some(line.clone())
                }
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(strays(&old_evs), Vec::<Bytes>::new());
    assert_eq!(strays(&new_evs), ["from-run-shell", "tab\tesc\\033e"]);

    // The command-error hook (3.5): an unknown hook in 3.3a; in 3.5a a
    // failing command is followed by the hook's own flags-0 block.
    assert_eq!(old[10].text(), "invalid option: command-error");
    assert!(new[10].ok);
    assert_eq!((new[11].ok, new[11].text().as_str()), (false, "can't find pane: %99"));
    let after = new_evs
        .iter()
        .position(|e| matches!(e, Event::Reply(r) if r.number == new[11].number))
        .unwrap();
    assert!(
        matches!(&new_evs[after + 1], Event::Reply(r) if r.flags == 0 && r.text() == "hook-saw-error")
    );

    // display-message -l (no format expansion): 3.4+.
    assert_eq!(
        (old[13].ok, old[13].text().as_str()),
        (false, "parse error: command display-message: unknown flag -l")
    );
    assert_eq!((new[13].ok, new[13].text().as_str()), (true, "#{literal}"));
}
