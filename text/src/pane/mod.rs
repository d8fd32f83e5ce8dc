//! What ctmuxd knows about each pane: the lines it printed ([`lines`]), the last of them
//! ([`ring`]), the rows it shows ([`screen`]), and [`watch`], which keeps all three and
//! the pane's matcher state; [`shell`] reads the shell-integration marks (OSC 133/633)
//! out of the same bytes.

pub mod lines;
pub mod ring;
pub mod screen;
pub mod shell;
pub mod watch;
