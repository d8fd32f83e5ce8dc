//! The generated pieces stay in step with the request modules, and requests parse as
//! documented.

use super::*;
use crate::api::protocol::{error_line, parse_reply, stream_line, ErrorCode, DEFAULT_TIMEOUT_MS};

/// The requests `docs/api.md` shows (`→` lines that parse), in the order written; every
/// kind is among them (see [`documented_examples_parse`]), so a new request needs no entry here.
fn documented_requests() -> Vec<Request> {
    include_str!("../../../docs/api.md")
        .lines()
        .filter_map(|l| l.strip_prefix("→ "))
        .filter_map(|l| parse_request(l).ok())
        .collect()
}

#[test]
fn every_request_round_trips_under_its_cmd() {
    let reqs = documented_requests();
    let mut seen = std::collections::BTreeSet::new();
    for r in &reqs {
        let text = serde_json::to_string(r).unwrap();
        // The serde tag (from the variant's name) is the module's `CMD`.
        assert!(text.starts_with(&format!("{{\"cmd\":\"{}\"", r.cmd())), "{text}");
        assert_eq!(&parse_request(&text).unwrap(), r);
        seen.insert(r.cmd());
    }
    assert_eq!(seen.len(), COMMANDS.len(), "documented: {seen:?}");
    // Argument-less requests are exactly `{"cmd":...}`, as before they had types.
    for (r, line) in [
        (Request::Panes(PanesRequest {}), r#"{"cmd":"panes"}"#),
        (Request::Stop(StopRequest {}), r#"{"cmd":"stop"}"#),
    ] {
        assert_eq!(serde_json::to_string(&r).unwrap(), line);
    }
}

#[test]
fn per_request_properties() {
    let reqs = documented_requests();
    let kinds = |keep: fn(&Request) -> bool| {
        let mut k: Vec<&str> = reqs.iter().filter(|r| keep(r)).map(Request::cmd).collect();
        k.dedup();
        k
    };
    assert_eq!(kinds(Request::is_stream), ["subscribe", "events"]);
    assert_eq!(kinds(Request::is_reserved), ["status", "stop"]);
    let bounds: Vec<(&str, u64)> = reqs
        .iter()
        .filter(|r| r.timeout_ms() != REQUEST_TIMEOUT.as_millis() as u64)
        .map(|r| (r.cmd(), r.timeout_ms()))
        .collect();
    assert_eq!(
        bounds,
        [
            ("send", 10_000),
            ("send", 10_000),
            ("wait_for", 500),
            ("wait_for", 30_000),
            ("wait_for", 600_000),
            ("wait_for", 1000),
            ("wait_for", 30_000),
            ("run", 600_000),
            ("run", 30_000)
        ]
    );
}

#[test]
fn requests_parse_with_defaults() {
    assert_eq!(parse_request(r#"{"cmd":"panes"}"#).unwrap(), Request::Panes(PanesRequest {}));
    // Extra fields are ignored, as for every request.
    assert_eq!(
        parse_request(r#"{"cmd":"status","verbose":true}"#).unwrap(),
        Request::Status(StatusRequest {})
    );
    let w = parse_request(r#"{"cmd":"wait_for","label":"db","pattern":"ready"}"#).unwrap();
    assert_eq!(
        w,
        Request::WaitFor(WaitRequest {
            label: "db".into(),
            pattern: "ready".into(),
            state: None,
            after: None,
            timeout_ms: DEFAULT_TIMEOUT_MS,
            since: 0,
            screen: false
        })
    );
    assert_eq!(
        parse_request(r#"{"cmd":"capture","label":"x"}"#).unwrap(),
        Request::Capture(CaptureRequest { label: "x".into(), lines: None })
    );
    let s =
        parse_request(r#"{"cmd":"spawn","label":"b","command":["make"],"split":"h","beside":"a"}"#)
            .unwrap();
    let Request::Spawn(s) = s else { panic!("not a spawn: {s:?}") };
    assert_eq!(s.split, Some(Split::Horizontal));
    assert_eq!(s.command, vec!["make"]);
}

#[test]
fn bad_requests_say_what_is_wrong() {
    let e = parse_request("hello").unwrap_err();
    assert_eq!(e.code, ErrorCode::BadRequest);
    assert!(e.message.starts_with("request is not JSON"), "{e}");
    assert!(parse_request("[1]").unwrap_err().message.contains("JSON object"));
    assert!(parse_request(r#"{"label":"x"}"#).unwrap_err().message.contains("no \"cmd\""));
    assert!(parse_request(r#"{"cmd":7}"#).unwrap_err().message.contains("must be a string"));
    let e = parse_request(r#"{"cmd":"explode"}"#).unwrap_err();
    assert!(e.message.contains("unknown cmd \"explode\"") && e.message.contains("wait_for"), "{e}");
    let e = parse_request(r#"{"cmd":"wait_for","label":"x"}"#).unwrap_err();
    assert!(e.message.contains("bad wait_for request") && e.message.contains("pattern"), "{e}");
    let e = parse_request(r#"{"cmd":"wait_for","label":"x","state":"finished","pattern":"a"}"#)
        .unwrap_err();
    assert!(e.message.contains("not both"), "{e}");
    let e = parse_request(r#"{"cmd":"wait_for","label":"x","state":"idle"}"#).unwrap_err();
    assert!(e.message.contains("bad wait_for request") && e.message.contains("idle"), "{e}");
    let w = parse_request(r#"{"cmd":"wait_for","label":"x","state":"finished","after":9}"#);
    let Ok(Request::WaitFor(w)) = w else { panic!("{w:?}") };
    assert_eq!((w.state, w.after), (Some(WaitState::Finished), Some(9)));
    let e = parse_request(r#"{"cmd":"close"}"#).unwrap_err();
    assert_eq!(e.message, "bad close request: missing field `labels`");
    let e = parse_request(r#"{"cmd":"spawn","label":"x","cwd":"rel"}"#).unwrap_err();
    assert_eq!(e.message, "bad spawn request: cwd \"rel\" must be an absolute path");
}

#[test]
fn reply_lines() {
    let line = ok_line(&WaitReply {
        matched: Some(MatchView {
            pane: "%1".into(),
            label: Some("db".into()),
            line: "ok".into(),
            ..Default::default()
        }),
        shell: None,
    })
    .unwrap();
    let text = std::str::from_utf8(&line).unwrap();
    assert!(text.starts_with(r#"{"ok":true,"match":{"pane":"%1""#), "{text}");
    assert!(text.ends_with('\n'));
    let back: WaitReply = parse_reply(text.trim_end()).unwrap();
    assert_eq!(back.matched.unwrap().line, "ok");
    assert_eq!(ok_line(&Empty {}).unwrap(), b"{\"ok\":true}\n");

    let err = ApiError::not_found("no pane labelled `x`; labels in use: a, b");
    let text = String::from_utf8(error_line(&err)).unwrap();
    assert_eq!(
        text,
        "{\"ok\":false,\"error\":{\"code\":\"not_found\",\"message\":\"no pane labelled `x`; labels in use: a, b\"}}\n"
    );
    assert_eq!(parse_reply::<Empty>(text.trim_end()).unwrap_err(), err);
    assert_eq!(parse_reply::<Empty>("{}").unwrap_err().code, ErrorCode::Internal);
    assert_eq!(parse_reply::<PanesReply>("{\"ok\":true}").unwrap_err().code, ErrorCode::Internal);

    assert_eq!(stream_line(&StreamLine::Lagged(3)), b"{\"lagged\":3}\n");
    assert_eq!(
        stream_line(&StreamLine::Event(serde_json::json!({"a":1}))),
        b"{\"event\":{\"a\":1}}\n"
    );
}

/// Every example in docs/api.md is valid: requests parse, replies are replies or stream lines.
#[test]
fn documented_examples_parse() {
    let doc = include_str!("../../../docs/api.md");
    let (mut requests, mut replies) = (std::collections::BTreeSet::new(), 0);
    // A request the server refuses: the next reply must be exactly that refusal.
    let mut refused: Option<ApiError> = None;
    for l in doc.lines() {
        if let Some(req) = l.strip_prefix("→ ") {
            match parse_request(req) {
                Ok(r) => {
                    requests.insert(r.cmd());
                }
                Err(e) => refused = Some(e),
            }
        } else if let Some(rep) = l.strip_prefix("← ") {
            let v: Value = serde_json::from_str(rep)
                .unwrap_or_else(|e| panic!("docs/api.md reply {rep}: {e}"));
            assert!(
                v.get("ok").is_some() || v.get("event").is_some() || v.get("lagged").is_some(),
                "{rep}"
            );
            if let Some(e) = refused.take() {
                assert_eq!(
                    format!("{rep}\n").as_bytes(),
                    error_line(&e),
                    "documented refusal differs"
                );
            }
            replies += 1;
        }
    }
    assert!(refused.is_none());
    assert_eq!(requests.len(), COMMANDS.len(), "every kind is documented: {requests:?}");
    assert!(replies >= COMMANDS.len());
}
