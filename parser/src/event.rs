//! The typed events the [`Decoder`](crate::Decoder) produces: one [`Reply`]
//! per `%begin`..`%end`/`%error` block and one [`Event`] variant per
//! notification tmux 3.3a through master can send, plus [`Event::Unknown`]
//! (a `%name` this crate does not know yet: forward compatibility) and
//! [`Event::Stray`] (a bare line outside any block). Names and text fields are
//! lossy UTF-8 `String`s; reply lines stay raw [`Bytes`] and pane output is a
//! [`Payload`] (still escaped, un-escaped on demand), both sharing the
//! decoder's buffer.

use bytes::Bytes;

use crate::id::{PaneId, SessionId, WindowId};
use crate::layout::Layout;
use crate::payload::Payload;

/// The reply to one command: the body of a `%begin` .. `%end`/`%error` block.
///
/// ```text
/// %begin TIME NUMBER FLAGS
/// <body lines>
/// %end TIME NUMBER FLAGS      (or %error TIME NUMBER FLAGS)
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// Seconds since the Unix epoch when the command started.
    pub time: u64,
    /// Server-wide command number (increasing, with gaps).
    pub number: u32,
    /// `1` when the command came from this client's stdin, `0` otherwise
    /// (the initial command, hooks).
    pub flags: u32,
    /// `true` for `%end`, `false` for `%error`.
    pub ok: bool,
    /// Body lines exactly as received (not escaped by tmux), without the LF
    /// (and without the CR in `-CC` mode).
    pub lines: Vec<Bytes>,
}

impl Reply {
    /// The body lines joined with `'\n'`, decoded as lossy UTF-8.
    ///
    /// For an `%error` reply this is the error message.
    pub fn text(&self) -> String {
        let mut out = String::with_capacity(self.lines.iter().map(|l| l.len() + 1).sum());
        for (i, line) in self.lines.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            out.push_str(&String::from_utf8_lossy(line));
        }
        out
    }
}

/// One decoded unit of the control-mode stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A complete `%begin` .. `%end`/`%error` block.
    Reply(Reply),
    /// `%output %P DATA`: bytes the pane's program wrote.
    Output {
        /// The pane.
        pane: PaneId,
        /// The pane bytes, still escaped as tmux sent them: get the raw bytes
        /// with [`Payload::unescape_into`] or [`Payload::unescape`] (any byte
        /// values; not necessarily valid UTF-8, and a character or terminal
        /// escape sequence may continue in the next event).
        data: Payload,
    },
    /// `%extended-output %P AGE ... : DATA` (sent instead of `%output` while
    /// the client has `pause-after` set).
    ExtendedOutput {
        /// The pane.
        pane: PaneId,
        /// Milliseconds the data waited inside tmux before being sent.
        age_ms: u64,
        /// The pane bytes, still escaped (as for [`Event::Output`]).
        data: Payload,
    },
    /// `%pause %P`: tmux stopped sending this pane's output; its backlog was dropped.
    Pause {
        /// The pane.
        pane: PaneId,
    },
    /// `%continue %P`: the pane's output resumes from "now".
    Continue {
        /// The pane.
        pane: PaneId,
    },
    /// `%window-add @W`: a window was linked into the client's session.
    WindowAdd {
        /// The window.
        window: WindowId,
    },
    /// `%window-close @W`: a window of the client's session was closed.
    WindowClose {
        /// The window.
        window: WindowId,
    },
    /// `%window-renamed @W NAME`.
    WindowRenamed {
        /// The window.
        window: WindowId,
        /// The new name (may contain spaces).
        name: String,
    },
    /// `%window-pane-changed @W %P`: the active pane of a window changed.
    WindowPaneChanged {
        /// The window.
        window: WindowId,
        /// Its new active pane.
        pane: PaneId,
    },
    /// `%unlinked-window-add @W`: a window not in the client's session was created.
    UnlinkedWindowAdd {
        /// The window.
        window: WindowId,
    },
    /// `%unlinked-window-close @W`: a window not (or no longer) in the
    /// client's session was closed; in tmux 3.3a also the usual report for a
    /// closed window of the attached session.
    UnlinkedWindowClose {
        /// The window.
        window: WindowId,
    },
    /// `%unlinked-window-renamed @W NAME`.
    UnlinkedWindowRenamed {
        /// The window.
        window: WindowId,
        /// The new name (may contain spaces).
        name: String,
    },
    /// `%layout-change @W LAYOUT VISIBLE_LAYOUT FLAGS`.
    LayoutChange {
        /// The window.
        window: WindowId,
        /// `#{window_layout}`; `None` when tmux sent an empty field.
        layout: Option<Layout>,
        /// `#{window_visible_layout}` (differs while a pane is zoomed);
        /// `None` when the field is empty.
        visible_layout: Option<Layout>,
        /// `#{window_raw_flags}` (`*`, `-`, `#`, `!`, `~`, `M`, `Z`); may be empty.
        flags: String,
    },
    /// `%session-changed $S NAME`: this client is now attached to `$S`.
    SessionChanged {
        /// The session.
        session: SessionId,
        /// Its name.
        name: String,
    },
    /// `%session-renamed $S NAME`.
    SessionRenamed {
        /// The session.
        session: SessionId,
        /// Its new name.
        name: String,
    },
    /// `%session-window-changed $S @W`: the current window of a session changed.
    SessionWindowChanged {
        /// The session.
        session: SessionId,
        /// Its new current window.
        window: WindowId,
    },
    /// `%sessions-changed`: a session was created or destroyed.
    SessionsChanged,
    /// `%client-session-changed CLIENT $S NAME`: another client switched session.
    ClientSessionChanged {
        /// The other client's name (`client-PID` or a tty path).
        client: String,
        /// The session it is now attached to.
        session: SessionId,
        /// That session's name.
        name: String,
    },
    /// `%client-detached CLIENT`: another client went away.
    ClientDetached {
        /// The client's name.
        client: String,
    },
    /// `%pane-mode-changed %P`: a pane entered or left a mode (copy mode, ...).
    PaneModeChanged {
        /// The pane.
        pane: PaneId,
    },
    /// `%paste-buffer-changed NAME` (tmux 3.4+).
    PasteBufferChanged {
        /// The paste buffer's name.
        name: String,
    },
    /// `%paste-buffer-deleted NAME` (tmux 3.4+).
    PasteBufferDeleted {
        /// The paste buffer's name.
        name: String,
    },
    /// `%subscription-changed NAME $S @W IDX %P ... : VALUE`; fields that do
    /// not apply are `-` on the wire and `None` here.
    SubscriptionChanged {
        /// The subscription's name.
        name: String,
        /// The session, if any.
        session: Option<SessionId>,
        /// The window, if the subscription is per window or per pane.
        window: Option<WindowId>,
        /// The window index (not an id), if per window or per pane.
        window_index: Option<u32>,
        /// The pane, if the subscription is per pane.
        pane: Option<PaneId>,
        /// The expanded format (may be empty).
        value: String,
    },
    /// `%config-error TEXT` (tmux 3.4+): a configuration file error. Errors
    /// in the `-f` file at server start come before the initial command's
    /// block (tmux 3.5a); `source-file` errors are still bare lines
    /// ([`Event::Stray`]) after its block in 3.5a.
    ConfigError {
        /// The message, typically `file:line: message`.
        text: String,
    },
    /// `%message TEXT` (tmux 3.4+): `display-message` aimed at this client.
    ///
    /// Only a `%message` outside a block becomes this event. The one this
    /// client's own `display-message` (without `-p`) causes is written inside
    /// that command's block, and stays there as the reply's single body line
    /// `%message TEXT`: it cannot be told apart from `display-message -p`
    /// output that starts with `%message `, and dropping a real body line
    /// would be worse. The sender knows which it sent; turn that line into
    /// this event with [`parse_line`](crate::parse_line).
    Message {
        /// The message text (C-style escaped by tmux).
        text: String,
    },
    /// `%exit [REASON]`: the last line of the stream.
    Exit {
        /// Why the client exited (`too far behind`, `server exited
        /// unexpectedly`, ...); `None` for a plain `%exit`.
        reason: Option<String>,
    },
    /// A `%name` line this crate does not know (new tmux versions add
    /// notifications); logged by the caller and otherwise ignored.
    Unknown {
        /// The notification name without the `%`.
        name: String,
        /// Everything after the name and its separating space.
        rest: Bytes,
    },
    /// A line outside any block that does not start with `%` (e.g. the error
    /// of a failing hook command, or the second half of a subscription value
    /// containing a newline).
    Stray {
        /// The line, without its LF.
        line: Bytes,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_text_joins_lines_lossily() {
        let reply = Reply {
            time: 1,
            number: 2,
            flags: 1,
            ok: false,
            lines: vec![
                Bytes::from_static(b"first"),
                Bytes::new(),
                Bytes::from_static(b"bad \xff"),
            ],
        };
        assert_eq!(reply.text(), "first\n\nbad \u{fffd}");
        let empty = Reply { lines: vec![], ..reply };
        assert_eq!(empty.text(), "");
    }
}
