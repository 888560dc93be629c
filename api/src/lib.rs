//! The AgentOS gateway: the HTTP API over the event store and the read
//! models, with bearer-token authentication and problem+json errors.
//!
//! It is not the command line (`src/main.rs`, the `agentos` binary, which
//! uses it) nor where rules or read models live (`domain`, `projections`).
//! Entry points: [`gateway::router`] and [`gateway::serve`] over a
//! [`gateway::AppState`]; [`gateway::Tokens`] manages the tokens.

pub mod activity;
pub mod carrier_poll;
pub mod clock;
pub mod gateway;
pub mod schedule;
pub mod system;
