//! What ctmuxd knows about each pane: the lines it printed ([`lines`]), the last of them
//! ([`ring`]), the rows it shows ([`screen`]), and [`watch`], which keeps all three and
//! the pane's matcher state.

pub mod lines;
pub mod ring;
pub mod screen;
pub mod watch;
