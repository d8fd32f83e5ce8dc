//! eventlog (in progress)
