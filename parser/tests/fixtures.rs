//! Replays every captured tmux 3.3a transcript in `tests/fixtures/` (copied
//! from `shared/fixtures/`, see its README for how each was made) through the
//! [`Decoder`] at chunk sizes 1, 2, 3, 7, 64, 4096 and whole, asserts that
//! every chunking yields the identical result sequence, and then asserts
//! concrete decoded facts per fixture.

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
    if name == "c_on_tty.bin" {
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

/// The fixtures with facts asserted below; the directory must hold exactly these.
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
    "window_close_quirks.txt",
];

#[test]
fn every_fixture_is_chunking_independent_and_well_formed() {
    let on_disk: BTreeSet<String> = std::fs::read_dir(dir())
        .expect("fixture directory")
        .map(|e| e.expect("dir entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".txt") || n.ends_with(".bin"))
        .collect();
    let known: BTreeSet<String> = FIXTURES.iter().map(|s| s.to_string()).collect();
    assert_eq!(on_disk, known, "every fixture needs its facts asserted here");
    for name in FIXTURES {
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

#[test]
fn session_split_kill() {
    let evs = events("session_split_kill.txt");
    let Event::Reply(first) = &evs[0] else { panic!("first event {:?}", evs[0]) };
    assert_eq!((first.flags, first.ok, first.lines.len()), (0, true, 0));
    assert_eq!(evs[1], Event::WindowAdd { window: WindowId(0) });
    assert_eq!(evs[2], Event::SessionsChanged);
    assert_eq!(evs[3], Event::SessionChanged { session: SessionId(0), name: "demo".into() });
    assert_eq!(evs[4], Event::Output { pane: PaneId(0), data: "# ".into() });
    let reps = replies(&evs);
    assert_eq!(reps[1].lines, vec![Bytes::from_static(b"%1")]);
    assert_eq!(reps[2].lines, vec![Bytes::from_static(b"%2")]);
    assert_eq!(reps[3].text(), "%0 23320 0 sh 80x12\n%1 23324 0 sh 40x11\n%2 23328 0 sh 39x11");
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

#[test]
fn output_ansi_crlf() {
    let evs = events("output_ansi_crlf.txt");
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

#[test]
fn binary_utf8_round_trips_all_bytes() {
    let evs = events("binary_utf8.bin");
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

#[test]
fn errors() {
    let evs = events("errors.txt");
    let reps = replies(&evs);
    let ok = reps.iter().filter(|r| r.ok).count();
    let err: Vec<String> = reps.iter().filter(|r| !r.ok).map(|r| r.text()).collect();
    assert_eq!(ok, 6);
    assert_eq!(
        err,
        vec![
            "parse error: unknown command: no-such-command",
            "can't find pane: %99",
            "can't find session: nosuchsession",
            "parse error: syntax error",
            "can't find pane: %42",
        ]
    );
    assert!(reps.iter().all(|r| r.flags == 1 || r.number == 260));
    assert_eq!(reps.last().unwrap().text(), "ok after errors");
}

#[test]
fn flow_pause() {
    let evs = events("flow_pause.txt");
    // %continue printed inside the refresh-client block is its own event,
    // delivered before the block's (empty) reply, which still closes.
    let pos =
        evs.iter().position(|e| *e == Event::Continue { pane: PaneId(0) }).expect("a %continue");
    assert!(
        matches!(&evs[pos + 1], Event::Reply(r) if r.number == 278 && r.ok && r.lines.is_empty())
    );
    // The manual pause, also inside its block (280).
    let in_block_pause = evs.windows(2).any(|w| {
        w[0] == Event::Pause { pane: PaneId(0) }
            && matches!(&w[1], Event::Reply(r) if r.number == 280)
    });
    assert!(in_block_pause, "%pause inside block 280");
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

#[test]
fn exit_server_sigkill() {
    let evs = events("exit_server_sigkill.txt");
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

#[test]
fn cc_dcs_wrapper_is_decoded() {
    let evs = events("cc_dcs.bin");
    assert!(!evs.iter().any(|e| matches!(e, Event::Stray { .. })), "{evs:?}");
    assert_eq!(evs[3], Event::SessionChanged { session: SessionId(0), name: "cc".into() });
    assert_eq!(evs[4], Event::Output { pane: PaneId(0), data: "# ".into() });
    let reps = replies(&evs);
    assert_eq!(reps.len(), 2);
    assert_eq!(reps[1].text(), "hello from -CC");
    assert_eq!(evs.last(), Some(&Event::Exit { reason: None }));
}

#[test]
fn c_on_tty_shows_echoed_input_as_stray_lines() {
    let evs = events("c_on_tty.bin");
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

#[test]
fn unframed_lines() {
    let evs = events("unframed_lines.txt");
    assert!(evs.contains(&Event::Stray { line: "can't find pane: %88".into() }));
    assert!(evs.contains(&Event::Stray { line: "line2".into() }));
    assert!(evs.contains(&sub(Some(0), Some(0), Some(0), Some(0), "note", "line1")));
    let hook = replies(&evs).into_iter().find(|r| !r.ok).expect("the after-hook error block");
    assert_eq!((hook.flags, hook.text().as_str()), (0, "can't find pane: %77"));
}

#[test]
fn layout_splits() {
    let evs = events("layout_splits.txt");
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

#[test]
fn subscription() {
    let evs = events("subscription.txt");
    assert!(evs.contains(&sub(Some(0), Some(0), Some(0), Some(0), "label", "")), "empty value");
    assert!(evs.contains(&sub(Some(0), None, None, None, "sess2", "sub 1")), "`-` fields");
    assert!(evs.contains(&sub(Some(0), Some(0), Some(0), None, "win", "sh 2")));
    assert!(evs.contains(&sub(Some(0), Some(0), Some(0), Some(1), "dead", "1 3")), "exit status 3");
    assert!(evs.contains(&sub(Some(0), Some(0), Some(0), Some(0), "label", "build-42")));
}

#[test]
fn pane_exit_detection() {
    let evs = events("pane_exit_detection.txt");
    assert!(evs.contains(&sub(Some(0), Some(0), Some(0), Some(2), "dead", "1//15")));
    assert!(evs.contains(&sub(Some(0), Some(0), Some(0), Some(1), "dead", "1/3/")));
    let list = replies(&evs).into_iter().find(|r| r.lines.len() == 3).expect("list-panes reply");
    assert_eq!(list.lines[1], "%2 job-b dead=1 status= signal=15 exit=/15");
    let split = replies(&evs).into_iter().find(|r| r.text() == "%1 25265");
    assert!(split.is_some());
}

#[test]
fn misc_notifications() {
    let evs = events("misc_notifications.txt");
    for expected in [
        Event::SessionWindowChanged { session: SessionId(0), window: WindowId(1) },
        Event::WindowPaneChanged { window: WindowId(0), pane: PaneId(2) },
        Event::SessionRenamed { session: SessionId(0), name: "main renamed".into() },
        Event::UnlinkedWindowAdd { window: WindowId(2) },
        Event::ClientSessionChanged {
            client: "client-24070".into(),
            session: SessionId(1),
            name: "other".into(),
        },
        Event::ClientDetached { client: "client-24070".into() },
        Event::PaneModeChanged { pane: PaneId(0) },
        Event::WindowRenamed { window: WindowId(0), name: "[tmux]".into() },
        Event::UnlinkedWindowRenamed { window: WindowId(2), name: "other renamed".into() },
        Event::UnlinkedWindowClose { window: WindowId(2) },
    ] {
        assert!(evs.contains(&expected), "missing {expected:?}");
    }
    let last = replies(&evs).into_iter().last().unwrap();
    assert_eq!((last.ok, last.text().as_str()), (false, "can't find session: other"));
}

#[test]
fn window_close_quirks() {
    let evs = events("window_close_quirks.txt");
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

#[test]
fn async_blocks() {
    let evs = events("async_blocks.txt");
    let reps = replies(&evs);
    let hooked = reps.iter().find(|r| r.text() == "hooked").expect("hook block");
    assert_eq!(hooked.flags, 0);
    assert!(reps.iter().any(|r| r.text() == "if-shell-ran" && r.flags == 1));
    assert!(reps.iter().any(|r| r.text() == "1 view-mode"));
    assert_eq!(pane_bytes(&evs, 0), b"tick\r\n".repeat(10));
}

#[test]
fn long_lines() {
    let evs = events("long_lines.txt");
    let big = replies(&evs)
        .into_iter()
        .find(|r| r.lines.len() == 1 && r.lines[0].len() == 20000)
        .expect("20000-byte body line");
    assert!(big.lines[0].iter().all(|&b| b == b'x'));
    let out = pane_bytes(&evs, 0);
    assert!(contains(&out, &[b'y'; 12000]));
    assert!(contains(&out, b"LONG-DONE\r\n"));
}

#[test]
fn long_lines_with_a_small_line_cap() {
    // The 20000-byte body line overflows a 10000-byte cap: reported once,
    // the reply is replaced by ReplyTruncated, and decoding goes on, the same
    // way at every chunk size.
    let results = replay_all("long_lines.txt", Some((10_000, 1 << 20)));
    let errors: Vec<&ParseErrorKind> =
        results.iter().filter_map(|r| r.as_ref().err()).map(|e| e.kind()).collect();
    assert_eq!(
        errors,
        vec![
            &ParseErrorKind::LineTooLong { len: 20000, max: 10_000 },
            &ParseErrorKind::ReplyTruncated { number: 267, flags: 1 }
        ]
    );
    let line_err = results.iter().find_map(|r| r.as_ref().err()).unwrap();
    assert_eq!(line_err.line(), &[b'x'; 256][..]);
    assert!(matches!(results.last(), Some(Ok(Event::Exit { reason: None }))));
}

#[test]
fn non_utf8_client() {
    let evs = events("non_utf8_client.txt");
    assert_eq!(evs[3], Event::SessionChanged { session: SessionId(0), name: "s\u{e9}ss".into() });
    let reps = replies(&evs);
    assert!(reps.iter().any(|r| r.text() == "label=h_llo _"));
    assert!(evs.contains(&Event::WindowRenamed { window: WindowId(0), name: "w\u{e9}n".into() }));
    assert!(contains(&pane_bytes(&evs, 0), "\u{e9}\r\n".as_bytes()));
}

#[test]
fn exits() {
    for name in ["exit_detached.txt", "exit_stdin_eof.txt", "exit_wait_exit.txt"] {
        assert_eq!(events(name).last(), Some(&Event::Exit { reason: None }), "{name}");
    }
    for name in ["exit_kill_server.txt", "exit_session_destroyed.txt", "exit_last_pane_exits.txt"] {
        let evs = events(name);
        assert_eq!(
            &evs[evs.len() - 2..],
            &[Event::SessionsChanged, Event::Exit { reason: None }],
            "{name}"
        );
    }
    let evs = events("exit_attach_failed.txt");
    let Event::Reply(r) = &evs[0] else { panic!() };
    assert_eq!((r.flags, r.ok, r.text().as_str()), (0, false, "can't find session: missing"));
    assert_eq!(evs.len(), 2);
    let evs = events("exit_non_attach_command.txt");
    let Event::Reply(r) = &evs[0] else { panic!() };
    assert_eq!((r.flags, r.ok, r.text().as_str()), (0, true, "$0 exists"));
    assert_eq!(
        events("exit_stdin_eof.txt")
            .iter()
            .filter_map(|e| match e {
                Event::Reply(r) if r.flags == 1 => Some(r.text()),
                _ => None,
            })
            .collect::<Vec<_>>(),
        vec!["last command before EOF"]
    );
}
