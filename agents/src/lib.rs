//! AgentOS agents: the orchestrator ("the Brain") and the department agents
//! (so far [`logistics`]), each an event processor that acts only by sending
//! commands; the planners the Brain asks to turn a directive into a plan;
//! and the [`adapters`] through which agents reach the company's systems.

pub mod adapters;
pub mod brain;
mod history;
pub mod logistics;
pub mod planner;
