//! AgentOS's business scenarios: the Gherkin of `features/features/`, run
//! by cucumber against AgentOS on PostgreSQL and NATS JetStream, over HTTP.
//!
//! Each scenario starts an AgentOS of its own (its Background says so) and
//! stops it when it ends. The run fails when a step fails, is skipped (no
//! step matches its text) or when no step ran at all, so it cannot pass
//! silently.

mod steps;

use std::collections::BTreeMap;

use cucumber::writer::Stats as _;
use cucumber::World as _;
use features::{AgentOs, Answer, History};
use futures_util::FutureExt as _;

/// Scenarios run at once: each starts PostgreSQL pools, a relay, the
/// orchestrator and the projections, and the machine has two cores.
const CONCURRENT_SCENARIOS: usize = 2;

/// What one scenario knows.
#[derive(Debug, Default, cucumber::World)]
pub struct Company {
    /// AgentOS as the Background started it.
    agentos: Option<AgentOs>,
    /// Bearer tokens by role (`ceo`, `viewer` …).
    tokens: BTreeMap<String, String>,
    /// The body and key of the last order given.
    last_order: Option<(serde_json::Value, Option<String>)>,
    /// The answers to orders, oldest first.
    answers: Vec<Answer>,
    /// The directive the scenario follows.
    directive: Option<String>,
    /// The approval the scenario follows.
    approval: Option<String>,
    /// The purchase order whose parcels the scenario follows.
    tracked_order: Option<uuid::Uuid>,
    /// Events in the log when it was last seen still.
    logged_events: Option<u64>,
    /// Histories the auditor read, by stream.
    histories: BTreeMap<String, History>,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let features = concat!(env!("CARGO_MANIFEST_DIR"), "/features");
    let summary = Company::cucumber()
        .max_concurrent_scenarios(CONCURRENT_SCENARIOS)
        .fail_on_skipped()
        .after(|_, _, _, _, world| {
            async move {
                // Stop this scenario's AgentOS now, not when the run ends:
                // its NATS server is killed and its schema dropped.
                if let Some(world) = world {
                    drop(world.agentos.take());
                }
            }
            .boxed_local()
        })
        .run(features)
        .await;
    if summary.execution_has_failed() {
        eprintln!("features: some scenarios failed (see above)");
        std::process::exit(1);
    }
    if summary.passed_steps() == 0 {
        eprintln!("features: no step ran; are the .feature files in {features}?");
        std::process::exit(1);
    }
}
