//! The activity log: the most recent log lines of each component of this
//! process, kept in memory for `GET /api/v1/logs`.
//!
//! A `tracing` layer beside the one writing to stderr: every event at
//! `INFO` or above is kept, per component, in a ring of
//! [`PER_COMPONENT`] lines (older lines drop out). A component is the module
//! that logged (`brain`, `relay`, `runner`, `processor`, `clock` …). Only
//! what the code chose to log is kept, and the code never logs secrets.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex};

use chrono::{SecondsFormat, Utc};
use serde::Serialize;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::Layer;

/// Lines kept per component.
pub const PER_COMPONENT: usize = 200;

/// The longest message or field value kept, in characters.
const MAX_TEXT: usize = 2000;

/// One log line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct LogLine {
    /// When (RFC 3339, UTC, microseconds).
    pub at: String,
    /// `ERROR`, `WARN` or `INFO`.
    pub level: String,
    /// The component that logged.
    pub component: String,
    /// Where exactly (the module path).
    pub target: String,
    /// The message.
    pub message: String,
    /// The structured fields, as text.
    pub fields: BTreeMap<String, String>,
}

/// Each component's ring of numbered lines.
type Rings = BTreeMap<String, VecDeque<(u64, LogLine)>>;

/// The recent lines of every component; cheap to clone and share.
#[derive(Clone, Default)]
pub struct Activity {
    lines: Arc<Mutex<Rings>>,
    /// Numbers every line, so lines of several components merge in order.
    counter: Arc<Mutex<u64>>,
}

impl fmt::Debug for Activity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Activity").finish_non_exhaustive()
    }
}

impl Activity {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// The layer that fills this log.
    pub fn layer(&self) -> ActivityLayer {
        ActivityLayer {
            activity: self.clone(),
        }
    }

    /// The components that have logged, by name.
    pub fn components(&self) -> Vec<String> {
        self.lines
            .lock()
            .map(|lines| lines.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The most recent `limit` lines, newest first, of one component or of
    /// all, at `min_level` or above.
    pub fn recent(&self, component: Option<&str>, min_level: Level, limit: usize) -> Vec<LogLine> {
        let Ok(lines) = self.lines.lock() else {
            return Vec::new();
        };
        let mut picked: Vec<&(u64, LogLine)> = lines
            .iter()
            .filter(|(name, _)| component.is_none_or(|c| c == name.as_str()))
            .flat_map(|(_, ring)| ring.iter())
            .filter(|(_, line)| {
                line.level
                    .parse::<Level>()
                    .is_ok_and(|level| level <= min_level)
            })
            .collect();
        picked.sort_by_key(|(number, _)| std::cmp::Reverse(*number));
        picked
            .into_iter()
            .take(limit)
            .map(|(_, line)| line.clone())
            .collect()
    }

    fn push(&self, line: LogLine) {
        let number = match self.counter.lock() {
            Ok(mut counter) => {
                *counter += 1;
                *counter
            }
            Err(_) => return,
        };
        if let Ok(mut lines) = self.lines.lock() {
            let ring = lines.entry(line.component.clone()).or_default();
            if ring.len() == PER_COMPONENT {
                ring.pop_front();
            }
            ring.push_back((number, line));
        }
    }
}

/// The component of a module path: the module under the crate
/// (`agents::brain` → `brain`, `eventstore::relay` → `relay`), else the crate.
pub fn component_of(target: &str) -> &str {
    let mut parts = target.split("::");
    let first = parts.next().unwrap_or(target);
    parts.next().unwrap_or(first)
}

/// Keeps `INFO` and above in an [`Activity`].
pub struct ActivityLayer {
    activity: Activity,
}

impl<S: Subscriber> Layer<S> for ActivityLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        if *meta.level() > Level::INFO {
            return;
        }
        let mut visitor = Fields::default();
        event.record(&mut visitor);
        self.activity.push(LogLine {
            at: Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true),
            level: meta.level().to_string(),
            component: component_of(meta.target()).to_owned(),
            target: meta.target().to_owned(),
            message: visitor.message,
            fields: visitor.fields,
        });
    }
}

#[derive(Default)]
struct Fields {
    message: String,
    fields: BTreeMap<String, String>,
}

fn clipped(text: String) -> String {
    if text.chars().count() <= MAX_TEXT {
        return text;
    }
    let mut clipped: String = text.chars().take(MAX_TEXT).collect();
    clipped.push('…');
    clipped
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.record(field, value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.record(field, format!("{value:?}"));
    }
}

impl Fields {
    fn record(&mut self, field: &Field, value: String) {
        let value = clipped(value);
        if field.name() == "message" {
            self.message = value;
        } else {
            self.fields.insert(field.name().to_owned(), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[test]
    fn lines_are_kept_per_component_newest_first_and_rings_are_bounded() {
        let activity = Activity::new();
        let subscriber = tracing_subscriber::registry().with(activity.layer());
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(target: "agents::brain", directive = "d-1", "planned");
            tracing::debug!(target: "agents::brain", "not kept");
            tracing::warn!(target: "eventstore::relay", error = %"nats down", "publishing failed");
            for n in 0..PER_COMPONENT + 5 {
                tracing::info!(target: "projections::runner", n, "applied");
            }
        });
        assert_eq!(activity.components(), ["brain", "relay", "runner"]);
        let brain = activity.recent(Some("brain"), Level::INFO, 10);
        assert_eq!(brain.len(), 1, "DEBUG is not kept");
        assert_eq!(brain[0].message, "planned");
        assert_eq!(brain[0].fields["directive"], "d-1");
        assert_eq!(brain[0].target, "agents::brain");
        let warnings = activity.recent(None, Level::WARN, 10);
        assert_eq!(warnings.len(), 1);
        assert_eq!(warnings[0].fields["error"], "nats down");
        let runner = activity.recent(Some("runner"), Level::INFO, 1000);
        assert_eq!(runner.len(), PER_COMPONENT, "the ring is bounded");
        assert_eq!(
            runner[0].fields["n"],
            (PER_COMPONENT + 4).to_string(),
            "newest first"
        );
        let all = activity.recent(None, Level::INFO, 3);
        assert_eq!(all[0].component, "runner", "merged in order, newest first");
        assert!(chrono::DateTime::parse_from_rfc3339(&all[0].at).is_ok());
    }

    #[test]
    fn components_come_from_the_module_path() {
        assert_eq!(component_of("agents::brain"), "brain");
        assert_eq!(component_of("agents::planner::llm"), "planner");
        assert_eq!(component_of("agentos"), "agentos");
    }
}
