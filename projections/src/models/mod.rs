//! The read models the gateway queries.

mod columns;
pub mod directives;
pub mod event_log;
pub mod logistics;
