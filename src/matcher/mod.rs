//! Matcher (in progress)
