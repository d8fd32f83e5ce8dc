//! The `ctmuxd top` loop: connect to the daemon, take over the terminal (raw mode, the
//! alternate screen), then wait for whichever comes first: a key, an event-log record on
//! the `events` stream, the one-second refresh of `status`, `panes` and `rules` (and of the
//! open capture), or a signal; draw; repeat. The terminal is given back on every way out:
//! a return, an error, a panic (a panic hook) and SIGINT/SIGTERM/SIGHUP.
//!
//! Keys are read by a thread of their own (crossterm's blocking `read`), which hands them
//! over a channel; nothing here polls or spins. The thread stays blocked in `read` after
//! the loop ends, until the process exits, which the binary does right after.

use std::io::{self, IsTerminal};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use ratatui::crossterm::{cursor, execute};
use ratatui::Terminal;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};

use super::model::{Command, Key, Model, CAPTURE_LINES};
use super::view::{draw, Theme};
use crate::api::client::{Client, ClientError, EventStream};
use crate::api::protocol::StreamLine;
use crate::api::request::{
    CaptureReply, CaptureRequest, EventsRequest, PanesReply, PanesRequest, Request, RulesReply,
    RulesRequest, StatusReply, StatusRequest,
};
use crate::eventlog::Record;
use crate::tmux::TmuxTarget;

/// How often `status`, `panes`, `rules` and the open capture are asked for again.
const REFRESH: Duration = Duration::from_secs(1);

/// How long one answer may take before the refresh counts the daemon as not answering.
const ANSWER_WITHIN: Duration = Duration::from_secs(5);

/// At most one frame per this long while events stream in (keys draw at once): a burst
/// of records costs one draw, not one each.
const FRAME: Duration = Duration::from_millis(40);

/// Keys the reader thread may queue ahead of the loop (it waits when they are full).
const KEY_QUEUE: usize = 64;

/// Why `top` could not run or stopped.
#[derive(Debug, thiserror::Error)]
pub enum TopError {
    /// The daemon: none running, not trusted, or it refused the first requests. Reported
    /// before the terminal is touched, as the other client commands report it.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// Standard input or output is not a terminal.
    #[error("top needs a terminal: run it in a terminal or a tmux pane, not with its input or output redirected")]
    NotATerminal,
    /// Setting up, drawing to or restoring the terminal failed.
    #[error("the terminal: {0}")]
    Terminal(#[from] io::Error),
}

/// Runs `top` against the daemon serving `target` until the user quits or a signal
/// arrives.
///
/// # Errors
/// [`TopError::Client`] when the daemon cannot be reached at the start (later failures
/// show in the header while `top` keeps trying); [`TopError::NotATerminal`];
/// [`TopError::Terminal`].
pub async fn run(target: TmuxTarget) -> Result<(), TopError> {
    let mut model = Model::new(target.describe());
    let mut client = Client::connect(&target).await?;
    refresh_from(&mut client, &mut model).await?;
    let mut events = Some(subscribe(&target).await?);
    if !io::stdin().is_terminal() || !io::stdout().is_terminal() {
        return Err(TopError::NotATerminal);
    }
    let theme = Theme::from_env();
    // Ctrl-C arrives as a key in raw mode; these come from `kill` or a closed terminal.
    let mut int = signal(SignalKind::interrupt())?;
    let mut term_sig = signal(SignalKind::terminate())?;
    let mut hup = signal(SignalKind::hangup())?;

    let guard = TerminalGuard::enter()?;
    let mut term = Terminal::new(CrosstermBackend::new(io::stdout()))?;
    let (key_tx, mut keys) = mpsc::channel(KEY_QUEUE);
    std::thread::Builder::new().name("top-keys".into()).spawn(move || read_keys(key_tx))?;

    let mut client = Some(client);
    let mut tick = tokio::time::interval(REFRESH);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    tick.reset();
    let mut dirty = true;
    let mut last_draw = Instant::now() - FRAME;
    loop {
        if dirty && last_draw.elapsed() >= FRAME {
            term.draw(|f| draw(f, &model, theme))?;
            last_draw = Instant::now();
            dirty = false;
        }
        tokio::select! {
            _ = tokio::time::sleep_until(last_draw + FRAME), if dirty => {}
            input = keys.recv() => {
                let Some(input) = input else { break };
                if let Input::Key(k) = input {
                    match model.key(k) {
                        Command::Quit => break,
                        Command::Capture(_) => refresh_capture(&mut client, &mut model).await,
                        Command::Redraw => {}
                    }
                }
                // A key is answered at once, not at the next frame.
                last_draw = Instant::now() - FRAME;
                dirty = true;
            }
            line = next_line(&mut events) => {
                match line {
                    Ok(Some(StreamLine::Event(v))) => {
                        // A record this build cannot read whole is kept as `Other`.
                        if let Ok(rec) = serde_json::from_value::<Record>(v) {
                            model.push_event(rec);
                        }
                    }
                    Ok(Some(StreamLine::Lagged(n))) => model.lagged += n,
                    Ok(None) | Err(_) => {
                        events = None;
                        model.error = Some("the daemon ended the events stream".into());
                    }
                }
                dirty = true;
            }
            _ = tick.tick() => {
                refresh(&target, &mut client, &mut events, &mut model).await;
                refresh_capture(&mut client, &mut model).await;
                dirty = true;
            }
            _ = int.recv() => break,
            _ = term_sig.recv() => break,
            _ = hup.recv() => break,
        }
    }
    drop(term);
    drop(guard);
    Ok(())
}

/// Asks for `status`, `panes` and `rules` on `client` and gives the answers to `model`. A
/// daemon that answers `panes` with an error (a polling daemon: panes need control mode)
/// shows no panes and that error in the header.
async fn refresh_from(client: &mut Client, model: &mut Model) -> Result<(), ClientError> {
    let StatusReply { status } =
        client.call(&Request::from(StatusRequest {}), ANSWER_WITHIN).await?;
    let (panes, note) =
        match client.call::<PanesReply>(&Request::from(PanesRequest {}), ANSWER_WITHIN).await {
            Ok(PanesReply { panes }) => (panes, None),
            Err(ClientError::Api(e)) => (Vec::new(), Some(e.message)),
            Err(e) => return Err(e),
        };
    let RulesReply { rules } = client.call(&Request::from(RulesRequest {}), ANSWER_WITHIN).await?;
    model.refreshed(status, panes, rules);
    model.error = note;
    Ok(())
}

/// The refresh of each tick: connects again if the last one failed (the daemon may have
/// restarted), asks again, and subscribes to the events again if that stream ended.
async fn refresh(
    target: &TmuxTarget,
    client: &mut Option<Client>,
    events: &mut Option<EventStream>,
    model: &mut Model,
) {
    if client.is_none() {
        match Client::connect(target).await {
            Ok(c) => *client = Some(c),
            Err(e) => {
                model.error = Some(e.to_string());
                return;
            }
        }
    }
    let Some(c) = client.as_mut() else { return };
    if let Err(e) = refresh_from(c, model).await {
        model.error = Some(e.to_string());
        *client = None;
        return;
    }
    if events.is_none() {
        match subscribe(target).await {
            Ok(s) => *events = Some(s),
            Err(e) => model.error = Some(e.to_string()),
        }
    }
}

/// Asks for the open capture's lines (nothing when none is open or not connected).
async fn refresh_capture(client: &mut Option<Client>, model: &mut Model) {
    let (Some(c), Some(cap)) = (client.as_mut(), model.capture.as_ref()) else { return };
    let pane = cap.pane.clone();
    let req = Request::from(CaptureRequest { label: pane.clone(), lines: Some(CAPTURE_LINES) });
    let answer = match c.call::<CaptureReply>(&req, ANSWER_WITHIN).await {
        Ok(CaptureReply { lines, .. }) => Ok(lines),
        Err(e) => Err(e.to_string()),
    };
    model.captured(&pane, answer);
}

/// A connection following the `events` stream.
async fn subscribe(target: &TmuxTarget) -> Result<EventStream, ClientError> {
    Client::connect(target).await?.stream(&Request::from(EventsRequest {}), ANSWER_WITHIN).await
}

/// The next line of the events stream; never, while there is none.
async fn next_line(events: &mut Option<EventStream>) -> Result<Option<StreamLine>, ClientError> {
    match events {
        Some(s) => s.next().await,
        None => std::future::pending().await,
    }
}

/// What the key thread hands the loop.
enum Input {
    /// A key `top` knows.
    Key(Key),
    /// The terminal was resized (the next draw fits the new size).
    Resize,
}

/// Reads terminal events until the loop's end of the channel is gone (or reading fails).
fn read_keys(tx: mpsc::Sender<Input>) {
    loop {
        let input = match event::read() {
            Ok(Event::Key(k)) if k.kind != KeyEventKind::Release => match key_of(k) {
                Some(k) => Input::Key(k),
                None => continue,
            },
            Ok(Event::Resize(..)) => Input::Resize,
            Ok(_) => continue,
            Err(_) => return,
        };
        if tx.blocking_send(input).is_err() {
            return;
        }
    }
}

/// The [`Key`] of a terminal key event, if `top` uses it.
fn key_of(k: KeyEvent) -> Option<Key> {
    Some(match k.code {
        KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => Key::CtrlC,
        KeyCode::Char(c) => Key::Char(c),
        KeyCode::Enter => Key::Enter,
        KeyCode::Esc => Key::Esc,
        KeyCode::Backspace => Key::Backspace,
        KeyCode::Tab => Key::Tab,
        KeyCode::Up => Key::Up,
        KeyCode::Down => Key::Down,
        KeyCode::PageUp => Key::PageUp,
        KeyCode::PageDown => Key::PageDown,
        KeyCode::Home => Key::Home,
        KeyCode::End => Key::End,
        _ => return None,
    })
}

/// Whether the terminal is in `top`'s state (raw mode, alternate screen) and must be
/// given back.
static TAKEN: AtomicBool = AtomicBool::new(false);

/// The terminal taken over: raw mode, the alternate screen, no cursor. Dropping it (or a
/// panic, through the hook [`TerminalGuard::enter`] installs) gives the terminal back.
struct TerminalGuard;

impl TerminalGuard {
    /// Takes the terminal over.
    fn enter() -> io::Result<TerminalGuard> {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
        TAKEN.store(true, Ordering::SeqCst);
        // From here, a failure drops the guard, which undoes what was done.
        let guard = TerminalGuard;
        enable_raw_mode()?;
        execute!(io::stdout(), EnterAlternateScreen, cursor::Hide)?;
        Ok(guard)
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// Gives the terminal back once, whoever asks first (the guard or the panic hook).
fn restore() {
    if TAKEN.swap(false, Ordering::SeqCst) {
        let _ = disable_raw_mode();
        let _ = execute!(io::stdout(), LeaveAlternateScreen, cursor::Show);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_keys_map_to_top_keys() {
        let k = |code, m| key_of(KeyEvent::new(code, m));
        assert_eq!(k(KeyCode::Char('c'), KeyModifiers::CONTROL), Some(Key::CtrlC));
        assert_eq!(k(KeyCode::Char('c'), KeyModifiers::NONE), Some(Key::Char('c')));
        assert_eq!(k(KeyCode::Char('G'), KeyModifiers::SHIFT), Some(Key::Char('G')));
        assert_eq!(k(KeyCode::Esc, KeyModifiers::NONE), Some(Key::Esc));
        assert_eq!(k(KeyCode::F(1), KeyModifiers::NONE), None);
    }
}
