//! What ctmuxd knows about each pane: the text a person saw ([`screen`]), the last
//! lines of it ([`ring`]) and the per-pane matcher state ([`watch`]).

pub mod ring;
pub mod screen;
pub mod watch;
