//! AgentOS agents: the orchestrator ("the Brain") and, later, the department
//! agents, each an event processor that acts only by sending commands; and
//! the planners the Brain asks to turn a directive into a plan.

pub mod adapters;
pub mod brain;
pub mod planner;
