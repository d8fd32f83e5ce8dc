//! nom 8 parsers for single control-mode lines outside a block: one function
//! per notification, each quoting its grammar (as tmux 3.3a .. master writes
//! it; the protocol reference §5 lists where the manual is wrong), plus the
//! `%begin`/`%end`/`%error` guard grammar that `block` uses. [`classify`]
//! dispatches on the first bytes of a line. Lines arrive as plain slices
//! (usually straight out of the chunk given to `Decoder::feed`); every event
//! field that must outlive the line as `Bytes` (an `%output` payload, a stray
//! line, an unknown notification's arguments) is appended to the caller's
//! per-feed `BytesMut` and split off it, so no line costs an allocation of
//! its own. The `%output` family's data is kept escaped (a [`Payload`]): one
//! memcpy, no decoding until the consumer asks.
//!
//! Notation in the grammars: `SP` is exactly one space, `REST` is every byte
//! to the end of the line (may be empty, may contain spaces), `$S`/`@W`/`%P`
//! are strict ids.

use bytes::{Bytes, BytesMut};
use nom::Parser;

use crate::error::{ParseError, ParseErrorKind};
use crate::event::Event;
use crate::id::{parse_u32_digits, PaneId};
use crate::layout::{parse_layout, Layout};
use crate::payload::Payload;
use crate::scan::{
    after_lone_colon, dec_u32, dec_u64, end, field, pane, rest, session, sp, typed, window,
    Expected, Res,
};

/// The three numbers of a guard line: `TIME NUMBER FLAGS`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Guard {
    /// Seconds since the epoch when the command started.
    pub(crate) time: u64,
    /// Server-wide command number.
    pub(crate) number: u32,
    /// `1` for commands from this client, `0` otherwise.
    pub(crate) flags: u32,
}

/// Decodes a line into an owned `String`, replacing invalid UTF-8.
fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Copies `b` into `store` and splits it off as `Bytes`: one memcpy into the
/// per-feed payload buffer, no allocation while that buffer has room.
pub(crate) fn keep(store: &mut BytesMut, b: &[u8]) -> Bytes {
    store.extend_from_slice(b);
    store.split().freeze()
}

/// Turns a combinator result into an event or a `Malformed` error for `line`.
fn finish(line: &[u8], r: Res<'_, Event>) -> Result<Event, ParseError> {
    match r {
        Ok((_, ev)) => Ok(ev),
        Err(nom::Err::Error(Expected(what)) | nom::Err::Failure(Expected(what))) => {
            Err(ParseError::malformed(what, line))
        }
        Err(nom::Err::Incomplete(_)) => Err(ParseError::malformed("line", line)),
    }
}

/// `TIME SP NUMBER SP FLAGS` (the arguments of every guard line).
pub(crate) fn guard_args(t: &[u8]) -> Res<'_, Guard> {
    (
        sp("guard arguments"),
        dec_u64("guard time"),
        sp("guard number"),
        dec_u32("guard number"),
        sp("guard flags"),
        dec_u32("guard flags"),
        end("guard line"),
    )
        .map(|(_, time, _, number, _, flags, _)| Guard { time, number, flags })
        .parse(t)
}

/// Recognises the guard that closes the block opened by `open`.
///
/// ```text
/// "%end" SP TIME SP NUMBER SP FLAGS      ; success
/// "%error" SP TIME SP NUMBER SP FLAGS    ; the command failed
/// ```
///
/// Returns `Some(ok)` only when all three numbers equal the open `%begin`'s:
/// a body line can look exactly like a guard (any command printing user data
/// can print `%end ...`), and a forgery would have to guess the number.
pub(crate) fn closing_guard(line: &[u8], open: &Guard) -> Option<bool> {
    let (ok, t) = if let Some(t) = line.strip_prefix(b"%end") {
        (true, t)
    } else {
        (false, line.strip_prefix(b"%error")?)
    };
    matches!(guard_args(t), Ok((_, g)) if g == *open).then_some(ok)
}

/// Recognises the flow-control notifications tmux 3.3a-3.7c write *inside*
/// the block of the `refresh-client -A` that caused them.
///
/// ```text
/// "%pause" SP %P
/// "%continue" SP %P
/// ```
///
/// Only this exact shape counts (no command prints it); anything else inside
/// a block is a body line.
pub(crate) fn flow_in_block(line: &[u8]) -> Option<Event> {
    let id = |digits: &[u8]| parse_u32_digits(digits).map(PaneId);
    if let Some(digits) = line.strip_prefix(b"%pause %") {
        return id(digits).map(|pane| Event::Pause { pane });
    }
    let digits = line.strip_prefix(b"%continue %")?;
    id(digits).map(|pane| Event::Continue { pane })
}

/// Parses one line that arrives outside a block.
///
/// `line` is the whole line without its LF. Its result, if it has one of its
/// own, goes to `emit`: an event, or an error for a malformed line or an
/// `%end`/`%error` with no block open. A `%begin` has none: its guard is
/// returned, for the caller to open a block. `Bytes` fields of the event
/// (payloads, stray lines, unknown arguments) are written to `store` and
/// split off it (see the module docs); text fields are owned `String`s.
///
/// PERF: the result is handed to `emit` (the decoder's queue) instead of
/// being returned: an `Event` is 192 bytes and returning it through an enum
/// cost one more memcpy call per line. Notification-heavy decoding went
/// from 302 to 310 MiB/s (benches/parser.rs, decoder row alone).
pub(crate) fn classify(
    line: &[u8],
    store: &mut BytesMut,
    mut emit: impl FnMut(Result<Event, ParseError>),
) -> Option<Guard> {
    // PERF: %output is the overwhelming majority of lines on a busy server, so
    // it is tested first with one 8-byte prefix compare before any dispatch.
    if line.starts_with(b"%output ") {
        emit(output(line, store));
        return None;
    }
    if line.first() != Some(&b'%') {
        emit(Ok(Event::Stray { line: keep(store, line) }));
        return None;
    }
    if line.starts_with(b"%extended-output ") {
        emit(extended_output(line, store));
        return None;
    }
    // PERF: names are at most 24 bytes; a plain loop beats memchr's call and
    // dispatch on them (with `scan::field` and the `%output` pane id
    // likewise: notification-heavy decoding 310 -> 322 MiB/s, output-heavy
    // 12.1 -> 14.4 GiB/s).
    let name_end = line.iter().position(|&b| b == b' ').unwrap_or(line.len());
    let (name, tail) = (&line[1..name_end], &line[name_end..]);
    let r = match name {
        b"begin" => match guard_args(tail) {
            Ok((_, g)) => return Some(g),
            Err(_) => Err(nom::Err::Failure(Expected("%begin guard"))),
        },
        b"end" | b"error" => match guard_args(tail) {
            Ok(_) => {
                let line = Bytes::copy_from_slice(line);
                emit(Err(ParseError::new(ParseErrorKind::UnexpectedGuard, line)));
                return None;
            }
            Err(_) => Err(nom::Err::Failure(Expected("%end/%error guard"))),
        },
        b"pause" => pane_only(tail, "%pause pane id", |pane| Event::Pause { pane }),
        b"continue" => pane_only(tail, "%continue pane id", |pane| Event::Continue { pane }),
        b"window-add" => {
            window_only(tail, "%window-add window id", |window| Event::WindowAdd { window })
        }
        b"window-close" => {
            window_only(tail, "%window-close window id", |window| Event::WindowClose { window })
        }
        b"unlinked-window-add" => window_only(tail, "%unlinked-window-add window id", |window| {
            Event::UnlinkedWindowAdd { window }
        }),
        b"unlinked-window-close" => {
            window_only(tail, "%unlinked-window-close window id", |window| {
                Event::UnlinkedWindowClose { window }
            })
        }
        b"window-renamed" => window_renamed(tail),
        b"unlinked-window-renamed" => unlinked_window_renamed(tail),
        b"window-pane-changed" => window_pane_changed(tail),
        b"layout-change" => {
            emit(layout_change(tail).map_err(|e| e.with_line(line)));
            return None;
        }
        b"session-changed" => session_changed(tail),
        b"session-renamed" => session_renamed(tail),
        b"session-window-changed" => session_window_changed(tail),
        b"sessions-changed" => {
            end("%sessions-changed arguments").map(|_| Event::SessionsChanged).parse(tail)
        }
        b"client-session-changed" => client_session_changed(tail),
        b"client-detached" => {
            text_field(tail, "%client-detached client", |client| Event::ClientDetached { client })
        }
        b"pane-mode-changed" => {
            pane_only(tail, "%pane-mode-changed pane id", |pane| Event::PaneModeChanged { pane })
        }
        b"paste-buffer-changed" => text_field(tail, "%paste-buffer-changed name", |name| {
            Event::PasteBufferChanged { name }
        }),
        b"paste-buffer-deleted" => text_field(tail, "%paste-buffer-deleted name", |name| {
            Event::PasteBufferDeleted { name }
        }),
        b"subscription-changed" => subscription_changed(tail),
        b"config-error" => Ok((&[][..], Event::ConfigError { text: optional_text(tail) })),
        b"message" => Ok((&[][..], Event::Message { text: optional_text(tail) })),
        b"exit" => Ok((&[][..], exit(tail))),
        b"output" => fail_output(),
        _ => {
            let name = text(name);
            let rest = keep(store, &line[(name_end + 1).min(line.len())..]);
            emit(Ok(Event::Unknown { name, rest }));
            return None;
        }
    };
    emit(finish(line, r));
    None
}

/// `%output` without the space and pane id (the fast path only takes lines
/// starting with `"%output "`).
fn fail_output() -> Res<'static, Event> {
    Err(nom::Err::Failure(Expected("%output pane id")))
}

/// Parses one line as if it arrived outside any block.
///
/// Handy for tests and fuzzing; a real stream needs a
/// [`Decoder`](crate::Decoder), which also assembles `%begin` blocks. `line`
/// must not include the LF.
///
/// # Errors
///
/// [`ParseErrorKind::Malformed`] when a known notification's arguments do not
/// follow its grammar; [`ParseErrorKind::BadLayout`] /
/// [`ParseErrorKind::BadChecksum`] for a bad `%layout-change`;
/// [`ParseErrorKind::UnexpectedGuard`] for `%begin`/`%end`/`%error`, which
/// only make sense in a stream.
///
/// # Example
///
/// ```
/// use tmux_control_parser::{parse_line, Event, PaneId};
/// let ev = parse_line(br"%output %3 hi\015\012")?;
/// assert_eq!(ev, Event::Output { pane: PaneId(3), data: "hi\r\n".into() });
/// assert!(parse_line(b"%output %x hi").is_err());
/// Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn parse_line(line: &[u8]) -> Result<Event, ParseError> {
    let mut result = None;
    match classify(line, &mut BytesMut::new(), |r| result = Some(r)) {
        Some(_) => {
            Err(ParseError::new(ParseErrorKind::UnexpectedGuard, Bytes::copy_from_slice(line)))
        }
        // Every line that is not a `%begin` emits exactly one result.
        None => result.unwrap_or_else(|| Err(ParseError::malformed("line", line))),
    }
}

/// Copies the escaped `data` into `store` and wraps it as a [`Payload`].
///
/// PERF: no un-escaping here. Decoding every payload eagerly (fused
/// copy-and-decode from the chunk into the store) was ~85% of output-heavy
/// decoder time; a memcpy plus the consumer's own `unescape_into` when it
/// wants the bytes costs the same for a consumer that reads everything and
/// nothing for one that does not (figures in benches/parser.rs).
fn payload(data: &[u8], store: &mut BytesMut) -> Payload {
    Payload::from_escaped(keep(store, data))
}

/// ```text
/// "%output" SP %P SP DATA
/// ```
///
/// DATA is escaped per byte (`\ooo` for bytes < 0x20 and `\`) and handed
/// over as it is, as a [`Payload`].
fn output(line: &[u8], store: &mut BytesMut) -> Result<Event, ParseError> {
    const HEAD: usize = b"%output ".len();
    // The pane id is a few digits: a plain loop, not a memchr call.
    let Some(sp) = line[HEAD..].iter().position(|&b| b == b' ') else {
        return Err(ParseError::malformed("%output data separator", line));
    };
    let Some(pane) = PaneId::from_bytes(&line[HEAD..HEAD + sp]) else {
        return Err(ParseError::malformed("%output pane id", line));
    };
    Ok(Event::Output { pane, data: payload(&line[HEAD + sp + 1..], store) })
}

/// ```text
/// "%extended-output" SP %P SP AGE *( SP RESERVED ) SP ":" SP DATA
/// ```
///
/// Fields between AGE and the lone `:` are reserved (none today) and skipped;
/// DATA is everything after the single space following the `:`, escaped like
/// `%output`, and may itself start with spaces or contain ` : `.
fn extended_output(line: &[u8], store: &mut BytesMut) -> Result<Event, ParseError> {
    const HEAD: usize = b"%extended-output".len();
    let header = (
        sp("%extended-output pane id"),
        pane("%extended-output pane id"),
        sp("%extended-output age"),
        dec_u64("%extended-output age"),
        after_lone_colon("%extended-output ':' separator"),
    )
        .parse(&line[HEAD..]);
    match header {
        Ok((_, (_, pane, _, age_ms, data))) => {
            Ok(Event::ExtendedOutput { pane, age_ms, data: payload(data, store) })
        }
        Err(nom::Err::Error(Expected(what)) | nom::Err::Failure(Expected(what))) => {
            Err(ParseError::malformed(what, line))
        }
        Err(nom::Err::Incomplete(_)) => Err(ParseError::malformed("%extended-output", line)),
    }
}

/// ```text
/// "%pause" SP %P  /  "%continue" SP %P  /  "%pane-mode-changed" SP %P
/// ```
fn pane_only<'a>(t: &'a [u8], what: &'static str, ev: fn(PaneId) -> Event) -> Res<'a, Event> {
    (sp(what), pane(what), end(what)).map(|(_, p, _)| ev(p)).parse(t)
}

/// ```text
/// "%window-add" SP @W  /  "%window-close" SP @W
/// "%unlinked-window-add" SP @W  /  "%unlinked-window-close" SP @W
/// ```
fn window_only<'a>(
    t: &'a [u8],
    what: &'static str,
    ev: fn(crate::WindowId) -> Event,
) -> Res<'a, Event> {
    (sp(what), window(what), end(what)).map(|(_, w, _)| ev(w)).parse(t)
}

/// `SP REST` as a lossy string (a name that may contain spaces or be empty).
fn text_field<'a>(t: &'a [u8], what: &'static str, ev: fn(String) -> Event) -> Res<'a, Event> {
    (sp(what), rest).map(|(_, r)| ev(text(r))).parse(t)
}

/// `[ SP REST ]` as a lossy string; empty when absent.
fn optional_text(t: &[u8]) -> String {
    text(t.strip_prefix(b" ").unwrap_or(t))
}

/// ```text
/// "%window-renamed" SP @W SP NAME
/// ```
fn window_renamed(t: &[u8]) -> Res<'_, Event> {
    (
        sp("%window-renamed window id"),
        window("%window-renamed window id"),
        sp("%window-renamed name"),
        rest,
    )
        .map(|(_, window, _, name)| Event::WindowRenamed { window, name: text(name) })
        .parse(t)
}

/// ```text
/// "%unlinked-window-renamed" SP @W SP NAME
/// ```
///
/// (The 3.3a manual shows only the id; the code sends the name too.)
fn unlinked_window_renamed(t: &[u8]) -> Res<'_, Event> {
    (
        sp("%unlinked-window-renamed window id"),
        window("%unlinked-window-renamed window id"),
        sp("%unlinked-window-renamed name"),
        rest,
    )
        .map(|(_, window, _, name)| Event::UnlinkedWindowRenamed { window, name: text(name) })
        .parse(t)
}

/// ```text
/// "%window-pane-changed" SP @W SP %P
/// ```
fn window_pane_changed(t: &[u8]) -> Res<'_, Event> {
    (
        sp("%window-pane-changed window id"),
        window("%window-pane-changed window id"),
        sp("%window-pane-changed pane id"),
        pane("%window-pane-changed pane id"),
        end("%window-pane-changed pane id"),
    )
        .map(|(_, window, _, pane, _)| Event::WindowPaneChanged { window, pane })
        .parse(t)
}

/// ```text
/// "%layout-change" SP @W SP LAYOUT SP VISIBLE_LAYOUT SP FLAGS
/// ```
///
/// Either layout field may be empty (tmux builds them in an 8 KiB buffer and
/// gives up on huge windows): `None`. FLAGS may be empty, in which case the
/// line ends with a space. Pre-2.2 servers sent only `@W LAYOUT`, so missing
/// trailing fields are accepted as empty.
///
/// # Errors
///
/// `Malformed` for a bad window id, or the layout parser's error.
fn layout_change(t: &[u8]) -> Result<Event, ParseError> {
    let head = (sp("%layout-change window id"), window("%layout-change window id")).parse(t);
    let (t, (_, window)) = match head {
        Ok(ok) => ok,
        Err(nom::Err::Error(Expected(w)) | nom::Err::Failure(Expected(w))) => {
            return Err(ParseError::malformed(w, t));
        }
        Err(nom::Err::Incomplete(_)) => return Err(ParseError::malformed("%layout-change", t)),
    };
    let mut fields = t.strip_prefix(b" ").unwrap_or(t).splitn(3, |&b| b == b' ');
    let parse = |f: &[u8]| -> Result<Option<Layout>, ParseError> {
        if f.is_empty() {
            Ok(None)
        } else {
            parse_layout(f).map(Some)
        }
    };
    let layout_raw = fields.next().unwrap_or_default();
    let layout = parse(layout_raw)?;
    let visible_raw = fields.next().unwrap_or_default();
    // PERF: the visible layout differs from the layout only while a pane is
    // zoomed, so it is nearly always the same bytes: clone the tree instead
    // of parsing and checksumming it again. Notification-heavy decoding went
    // from 0.235 to 0.277 GiB/s (pbench, best of 3 s, the rest of the
    // decoder already reworked).
    let visible_layout =
        if visible_raw == layout_raw { layout.clone() } else { parse(visible_raw)? };
    let flags = text(fields.next().unwrap_or_default());
    Ok(Event::LayoutChange { window, layout, visible_layout, flags })
}

/// ```text
/// "%session-changed" SP $S SP NAME
/// ```
fn session_changed(t: &[u8]) -> Res<'_, Event> {
    (
        sp("%session-changed session id"),
        session("%session-changed session id"),
        sp("%session-changed name"),
        rest,
    )
        .map(|(_, session, _, name)| Event::SessionChanged { session, name: text(name) })
        .parse(t)
}

/// ```text
/// "%session-renamed" SP $S SP NAME
/// ```
///
/// (The 3.3a manual omits `$S`; the code sends it.)
fn session_renamed(t: &[u8]) -> Res<'_, Event> {
    (
        sp("%session-renamed session id"),
        session("%session-renamed session id"),
        sp("%session-renamed name"),
        rest,
    )
        .map(|(_, session, _, name)| Event::SessionRenamed { session, name: text(name) })
        .parse(t)
}

/// ```text
/// "%session-window-changed" SP $S SP @W
/// ```
fn session_window_changed(t: &[u8]) -> Res<'_, Event> {
    (
        sp("%session-window-changed session id"),
        session("%session-window-changed session id"),
        sp("%session-window-changed window id"),
        window("%session-window-changed window id"),
        end("%session-window-changed window id"),
    )
        .map(|(_, session, _, window, _)| Event::SessionWindowChanged { session, window })
        .parse(t)
}

/// ```text
/// "%client-session-changed" SP CLIENT SP $S SP NAME
/// ```
///
/// CLIENT is `client-PID` or a tty path (no spaces).
fn client_session_changed(t: &[u8]) -> Res<'_, Event> {
    (
        sp("%client-session-changed client"),
        field,
        sp("%client-session-changed session id"),
        session("%client-session-changed session id"),
        sp("%client-session-changed name"),
        rest,
    )
        .map(|(_, client, _, session, _, name)| Event::ClientSessionChanged {
            client: text(client),
            session,
            name: text(name),
        })
        .parse(t)
}

/// `-` or a value parsed by `f`.
fn dash_or<T>(f: impl Fn(&[u8]) -> Option<T>) -> impl Fn(&[u8]) -> Option<Option<T>> {
    move |raw| if raw == b"-" { Some(None) } else { f(raw).map(Some) }
}

/// ```text
/// "%subscription-changed" SP NAME SP ( $S / "-" ) SP ( @W / "-" ) SP ( IDX / "-" )
///     SP ( %P / "-" ) *( SP RESERVED ) SP ":" SP VALUE
/// ```
///
/// Fields that do not apply are `-` (`None`). Reserved fields up to the lone
/// `:` are skipped; VALUE is the rest after `: ` and may be empty (tmux then
/// ends the line with `: `).
fn subscription_changed(t: &[u8]) -> Res<'_, Event> {
    (
        sp("%subscription-changed name"),
        field,
        sp("%subscription-changed session id"),
        typed("%subscription-changed session id", dash_or(crate::SessionId::from_bytes)),
        sp("%subscription-changed window id"),
        typed("%subscription-changed window id", dash_or(crate::WindowId::from_bytes)),
        sp("%subscription-changed window index"),
        typed("%subscription-changed window index", dash_or(parse_u32_digits)),
        sp("%subscription-changed pane id"),
        typed("%subscription-changed pane id", dash_or(PaneId::from_bytes)),
        after_lone_colon("%subscription-changed ':' separator"),
    )
        .map(|(_, name, _, session, _, window, _, window_index, _, pane, value)| {
            Event::SubscriptionChanged {
                name: text(name),
                session,
                window,
                window_index,
                pane,
                value: text(value),
            }
        })
        .parse(t)
}

/// ```text
/// "%exit" [ SP REASON ]
/// ```
///
/// An empty reason (`"%exit "`) is treated like a missing one.
fn exit(t: &[u8]) -> Event {
    let reason = t.strip_prefix(b" ").unwrap_or(t);
    Event::Exit { reason: (!reason.is_empty()).then(|| text(reason)) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::{LayoutCell, LayoutKind};
    use crate::{SessionId, WindowId};

    fn ok(line: &str) -> Event {
        parse_line(line.as_bytes()).unwrap_or_else(|e| panic!("{line:?}: {e}"))
    }

    fn malformed(line: &[u8]) -> &'static str {
        match parse_line(line) {
            Err(e) => match e.kind() {
                ParseErrorKind::Malformed { what } => {
                    assert_eq!(e.line(), line);
                    what
                }
                other => panic!("{:?}: unexpected kind {other:?}", String::from_utf8_lossy(line)),
            },
            Ok(ev) => panic!("{:?} parsed as {ev:?}", String::from_utf8_lossy(line)),
        }
    }

    #[test]
    fn output() {
        assert_eq!(ok("%output %0 # "), Event::Output { pane: PaneId(0), data: "# ".into() });
        assert_eq!(
            ok(r"%output %12 a\033[0m\134\015\012"),
            Event::Output { pane: PaneId(12), data: "a\x1b[0m\\\r\n".into() }
        );
        assert_eq!(ok("%output %1 "), Event::Output { pane: PaneId(1), data: "".into() });
        let raw = parse_line(b"%output %1 \xff\xfe bad utf8").unwrap();
        assert_eq!(
            raw,
            Event::Output { pane: PaneId(1), data: (&b"\xff\xfe bad utf8"[..]).into() }
        );
        assert_eq!(malformed(b"%output %1"), "%output data separator");
        assert_eq!(malformed(b"%output 1 x"), "%output pane id");
        assert_eq!(malformed(b"%output %x x"), "%output pane id");
        assert_eq!(malformed(b"%output"), "%output pane id");
    }

    #[test]
    fn extended_output() {
        assert_eq!(
            ok(r"%extended-output %0 990 : yes\015\012"),
            Event::ExtendedOutput { pane: PaneId(0), age_ms: 990, data: "yes\r\n".into() }
        );
        assert_eq!(
            ok("%extended-output %2 0 future fields : a : b"),
            Event::ExtendedOutput { pane: PaneId(2), age_ms: 0, data: "a : b".into() }
        );
        assert_eq!(
            ok("%extended-output %2 5 :  x"),
            Event::ExtendedOutput { pane: PaneId(2), age_ms: 5, data: " x".into() }
        );
        assert_eq!(malformed(b"%extended-output %2 5 x"), "%extended-output ':' separator");
        assert_eq!(malformed(b"%extended-output %2 -5 : x"), "%extended-output age");
        assert_eq!(malformed(b"%extended-output @2 5 : x"), "%extended-output pane id");
    }

    #[test]
    fn flow_control() {
        assert_eq!(ok("%pause %0"), Event::Pause { pane: PaneId(0) });
        assert_eq!(ok("%continue %7"), Event::Continue { pane: PaneId(7) });
        assert_eq!(malformed(b"%pause"), "%pause pane id");
        assert_eq!(malformed(b"%pause %0 extra"), "%pause pane id");
        assert_eq!(malformed(b"%continue @0"), "%continue pane id");
        assert_eq!(flow_in_block(b"%pause %3"), Some(Event::Pause { pane: PaneId(3) }));
        assert_eq!(flow_in_block(b"%continue %3"), Some(Event::Continue { pane: PaneId(3) }));
        for body in
            [&b"%pause %3 "[..], b"%pause %", b"%pause %x", b"%continue", b"%1", b"%pause  %1"]
        {
            assert_eq!(flow_in_block(body), None, "{:?}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn windows() {
        assert_eq!(ok("%window-add @3"), Event::WindowAdd { window: WindowId(3) });
        assert_eq!(ok("%window-close @3"), Event::WindowClose { window: WindowId(3) });
        assert_eq!(ok("%unlinked-window-add @4"), Event::UnlinkedWindowAdd { window: WindowId(4) });
        assert_eq!(
            ok("%unlinked-window-close @4"),
            Event::UnlinkedWindowClose { window: WindowId(4) }
        );
        assert_eq!(
            ok("%window-renamed @1 renamed with spaces"),
            Event::WindowRenamed { window: WindowId(1), name: "renamed with spaces".into() }
        );
        assert_eq!(
            ok("%window-renamed @1 "),
            Event::WindowRenamed { window: WindowId(1), name: "".into() }
        );
        assert_eq!(
            ok("%unlinked-window-renamed @2 other renamed"),
            Event::UnlinkedWindowRenamed { window: WindowId(2), name: "other renamed".into() }
        );
        assert_eq!(
            ok("%window-pane-changed @0 %2"),
            Event::WindowPaneChanged { window: WindowId(0), pane: PaneId(2) }
        );
        assert_eq!(malformed(b"%window-add %3"), "%window-add window id");
        assert_eq!(malformed(b"%window-close"), "%window-close window id");
        assert_eq!(malformed(b"%unlinked-window-add @"), "%unlinked-window-add window id");
        assert_eq!(malformed(b"%unlinked-window-close @1 x"), "%unlinked-window-close window id");
        assert_eq!(malformed(b"%window-renamed @1"), "%window-renamed name");
        assert_eq!(
            malformed(b"%unlinked-window-renamed $1 x"),
            "%unlinked-window-renamed window id"
        );
        assert_eq!(malformed(b"%window-pane-changed @0 @2"), "%window-pane-changed pane id");
        assert_eq!(malformed(b"%window-pane-changed @0"), "%window-pane-changed pane id");
    }

    #[test]
    fn layout_change() {
        let l = "c195,80x24,0,0[80x12,0,0,0,80x11,0,13,1]";
        let Event::LayoutChange { window, layout, visible_layout, flags } =
            ok(&format!("%layout-change @0 {l} {l} *"))
        else {
            panic!()
        };
        assert_eq!((window, flags.as_str()), (WindowId(0), "*"));
        assert_eq!(layout, visible_layout);
        let root = layout.unwrap().root;
        assert_eq!((root.width, root.height), (80, 24));
        assert!(matches!(root.kind, LayoutKind::TopBottom(ref c) if c.len() == 2));

        // Empty flags: the line ends with a space.
        let Event::LayoutChange { flags, visible_layout, .. } =
            ok("%layout-change @2 aaff,120x40,0,0,2 aaff,120x40,0,0,2 ")
        else {
            panic!()
        };
        assert_eq!(flags, "");
        assert_eq!(
            visible_layout.unwrap().root,
            LayoutCell { width: 120, height: 40, x: 0, y: 0, kind: LayoutKind::Pane(PaneId(2)) }
        );
        // Empty layout fields (tmux gave up formatting a huge layout).
        assert_eq!(
            ok("%layout-change @2   *Z"),
            Event::LayoutChange {
                window: WindowId(2),
                layout: None,
                visible_layout: None,
                flags: "*Z".into()
            }
        );
        assert_eq!(malformed(b"%layout-change 0 aaff,120x40,0,0,2"), "%layout-change window id");
        let err =
            parse_line(b"%layout-change @0 aafe,120x40,0,0,2 aaff,120x40,0,0,2 *").unwrap_err();
        assert_eq!(err.kind(), &ParseErrorKind::BadChecksum { expected: 0xaafe, computed: 0xaaff });
        assert_eq!(err.line(), b"%layout-change @0 aafe,120x40,0,0,2 aaff,120x40,0,0,2 *");
        let err = parse_line(b"%layout-change @0 aaff,120x40 x *").unwrap_err();
        assert!(matches!(err.kind(), ParseErrorKind::BadLayout { .. }));
    }

    #[test]
    fn sessions() {
        assert_eq!(
            ok("%session-changed $0 demo"),
            Event::SessionChanged { session: SessionId(0), name: "demo".into() }
        );
        assert_eq!(
            ok("%session-renamed $0 main renamed"),
            Event::SessionRenamed { session: SessionId(0), name: "main renamed".into() }
        );
        assert_eq!(
            ok("%session-window-changed $1 @5"),
            Event::SessionWindowChanged { session: SessionId(1), window: WindowId(5) }
        );
        assert_eq!(ok("%sessions-changed"), Event::SessionsChanged);
        assert_eq!(
            ok("%session-changed $0 s\u{e9}ss"),
            Event::SessionChanged { session: SessionId(0), name: "s\u{e9}ss".into() }
        );
        assert_eq!(malformed(b"%session-changed @0 demo"), "%session-changed session id");
        assert_eq!(malformed(b"%session-renamed $0"), "%session-renamed name");
        assert_eq!(
            malformed(b"%session-window-changed $1 %5"),
            "%session-window-changed window id"
        );
        assert_eq!(malformed(b"%sessions-changed now"), "%sessions-changed arguments");
    }

    #[test]
    fn clients() {
        assert_eq!(
            ok("%client-session-changed /dev/pts/3 $1 main renamed"),
            Event::ClientSessionChanged {
                client: "/dev/pts/3".into(),
                session: SessionId(1),
                name: "main renamed".into()
            }
        );
        assert_eq!(
            ok("%client-detached client-24070"),
            Event::ClientDetached { client: "client-24070".into() }
        );
        assert_eq!(
            malformed(b"%client-session-changed client-1 1 x"),
            "%client-session-changed session id"
        );
        assert_eq!(
            malformed(b"%client-session-changed client-1"),
            "%client-session-changed session id"
        );
        assert_eq!(malformed(b"%client-detached"), "%client-detached client");
    }

    #[test]
    fn panes_and_buffers() {
        assert_eq!(ok("%pane-mode-changed %0"), Event::PaneModeChanged { pane: PaneId(0) });
        assert_eq!(
            ok("%paste-buffer-changed buffer0"),
            Event::PasteBufferChanged { name: "buffer0".into() }
        );
        assert_eq!(
            ok("%paste-buffer-deleted my buf"),
            Event::PasteBufferDeleted { name: "my buf".into() }
        );
        assert_eq!(malformed(b"%pane-mode-changed 0"), "%pane-mode-changed pane id");
        assert_eq!(malformed(b"%paste-buffer-changed"), "%paste-buffer-changed name");
        assert_eq!(malformed(b"%paste-buffer-deleted"), "%paste-buffer-deleted name");
    }

    #[test]
    fn subscriptions() {
        assert_eq!(
            ok("%subscription-changed dead $0 @0 0 %1 : 1 3"),
            Event::SubscriptionChanged {
                name: "dead".into(),
                session: Some(SessionId(0)),
                window: Some(WindowId(0)),
                window_index: Some(0),
                pane: Some(PaneId(1)),
                value: "1 3".into(),
            }
        );
        assert_eq!(
            ok("%subscription-changed sess2 $0 - - - : sub 1"),
            Event::SubscriptionChanged {
                name: "sess2".into(),
                session: Some(SessionId(0)),
                window: None,
                window_index: None,
                pane: None,
                value: "sub 1".into(),
            }
        );
        let Event::SubscriptionChanged { value, pane, .. } =
            ok("%subscription-changed label $0 @0 0 %0 : ")
        else {
            panic!()
        };
        assert_eq!((value.as_str(), pane), ("", Some(PaneId(0))));
        let Event::SubscriptionChanged { value, .. } =
            ok("%subscription-changed x $0 @1 2 - new fields : a : v")
        else {
            panic!()
        };
        assert_eq!(value, "a : v");
        assert_eq!(
            malformed(b"%subscription-changed x 0 - - - : v"),
            "%subscription-changed session id"
        );
        assert_eq!(
            malformed(b"%subscription-changed x $0 - x - : v"),
            "%subscription-changed window index"
        );
        assert_eq!(
            malformed(b"%subscription-changed x $0 - - @1 : v"),
            "%subscription-changed pane id"
        );
        assert_eq!(
            malformed(b"%subscription-changed x $0 - - -"),
            "%subscription-changed ':' separator"
        );
        assert_eq!(malformed(b"%subscription-changed"), "%subscription-changed name");
    }

    #[test]
    fn messages_and_exit() {
        assert_eq!(
            ok("%config-error f.conf:3: bad"),
            Event::ConfigError { text: "f.conf:3: bad".into() }
        );
        assert_eq!(ok("%message hello world"), Event::Message { text: "hello world".into() });
        assert_eq!(ok("%message"), Event::Message { text: "".into() });
        assert_eq!(ok("%exit"), Event::Exit { reason: None });
        assert_eq!(ok("%exit "), Event::Exit { reason: None });
        assert_eq!(
            ok("%exit too far behind"),
            Event::Exit { reason: Some("too far behind".into()) }
        );
    }

    #[test]
    fn unknown_stray_and_guards() {
        assert_eq!(
            ok("%brand-new @1 x y"),
            Event::Unknown { name: "brand-new".into(), rest: Bytes::from_static(b"@1 x y") }
        );
        assert_eq!(ok("%"), Event::Unknown { name: "".into(), rest: Bytes::new() });
        assert_eq!(ok("%exitnow"), Event::Unknown { name: "exitnow".into(), rest: Bytes::new() });
        assert_eq!(
            ok("can't find pane: %88"),
            Event::Stray { line: "can't find pane: %88".into() }
        );
        assert_eq!(ok(""), Event::Stray { line: Bytes::new() });
        let err = parse_line(b"%begin 1 2 3").unwrap_err();
        assert_eq!(err.kind(), &ParseErrorKind::UnexpectedGuard);
        assert_eq!(malformed(b"%begin 1 2"), "%begin guard");
        assert_eq!(malformed(b"%end x 2 3"), "%end/%error guard");
        let open = Guard { time: 5, number: 6, flags: 1 };
        assert_eq!(closing_guard(b"%end 5 6 1", &open), Some(true));
        assert_eq!(closing_guard(b"%error 5 6 1", &open), Some(false));
        for other in [
            &b"%end 5 6 0"[..],
            b"%end 5 7 1",
            b"%end 4 6 1",
            b"%end 5 6 1 ",
            b"%ending 5 6 1",
            b"%end",
        ] {
            assert_eq!(closing_guard(other, &open), None, "{:?}", String::from_utf8_lossy(other));
        }
    }
}
