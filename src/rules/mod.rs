//! Rules (in progress)
