//! screen (in progress)
