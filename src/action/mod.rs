//! Actions (in progress)
