//! The read models the gateway queries.

pub mod directives;
pub mod event_log;
pub mod logistics;
