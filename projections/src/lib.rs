//! AgentOS read models: projections and the runner that keeps them current.
//!
//! A [`Projection`] folds events into tables of its own. The
//! [`ProjectionRunner`] reads the event store in gap-safe global order and
//! applies each batch of events in ONE transaction with the projection's
//! checkpoint, so the tables and the checkpoint never disagree: a runner that
//! dies mid-batch resumes exactly where its last commit left off, and an
//! event the projection cannot apply rolls its whole batch back and is
//! retried (reported in [`ProjectionStatus`], never skipped).
//!
//! **Generations.** A projection's tables exist in generations
//! (`<table>__g<N>`); queries read the view `<table>`, which points to the
//! active generation. A rebuild fills generation N+1 from the first event
//! while generation N keeps serving; once N+1 has caught up with the head,
//! one transaction re-points the views, updates the registry and drops
//! generation N's tables. A runner writes only generations of its own
//! [`Projection::version`]: when the version changed, the old generation
//! serves as it stands (or as an older runner still keeps it) until the
//! rebuild switches in; a runner older than the active generation applies
//! nothing unless asked to rebuild ([`RebuildHandle`]).
//!
//! **Health.** Each runner publishes a [`ProjectionStatus`] (state,
//! checkpoint, events and seconds behind the head, last failure) on a
//! `watch` channel, for health checks and metrics.
//!
//! It runs on the event store's own database (PostgreSQL or SQLite, through
//! [`Db`]), so embedded mode runs the same projections. It is not the query
//! API (the gateway reads the views) and it does not read from NATS: the
//! store is the one place that holds every event from the first, which a
//! rebuild needs.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use domain::RecordedEvent;
use eventstore::{EventFilter, StoreError};

mod db;
pub mod models;
mod registry;
mod rows;
mod runner;

pub use db::{views_path, Db, Tx, Value};
pub use rows::{Key, RowWrites};
pub use runner::{
    ProjectionRunner, ProjectionState, ProjectionStatus, RebuildHandle, RunnerConfig,
};

/// Why a projection could not be set up, applied or queried.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The event store failed.
    #[error("event store: {0}")]
    Store(#[from] StoreError),
    /// A query's result was not what it should be.
    #[error("query: {0}")]
    Query(String),
    /// The projection refused an event (a bug in it, or an event it cannot read).
    #[error("{0}")]
    Apply(String),
    /// The projection is declared wrongly.
    #[error("{0}")]
    Config(String),
    /// Another runner of the same projection moved its registry row first.
    #[error("{0}")]
    Conflict(String),
    /// A newer version of the projection owns it; this runner applies nothing.
    #[error("{0}")]
    Outdated(String),
}

impl ProjectionError {
    /// `error`, as the failure of projection `projection` on `event`.
    pub fn cannot_apply(
        projection: &str,
        event: &RecordedEvent,
        error: impl std::fmt::Display,
    ) -> Self {
        ProjectionError::Apply(format!(
            "projection {projection} cannot apply event {} ({} at {}): {error}",
            event.event_id, event.event_type, event.position
        ))
    }
}

/// A read model: tables and how events change them.
#[async_trait]
pub trait Projection: Send + Sync + 'static {
    /// The name: lowercase letters, digits and `_`, starting with a letter.
    fn name(&self) -> &str;

    /// The shape of its tables and meaning of its rows; change it to rebuild.
    fn version(&self) -> u32;

    /// The events it reads.
    fn filter(&self) -> EventFilter;

    /// Its tables' names, which are the names of the views queries read.
    /// They share the database with every other projection's: prefix them
    /// with the projection's name.
    fn tables(&self) -> Vec<&'static str>;

    /// `CREATE TABLE` (and `CREATE INDEX`) statements for one generation,
    /// with the physical names from `tables`; they must work on PostgreSQL
    /// and SQLite.
    fn schema(&self, tables: &Tables) -> Result<Vec<String>, ProjectionError>;

    /// How long the runner may wait, once caught up, after a batch before
    /// it applies the next: a read model that no request waits on closely
    /// trades that much freshness for fewer, larger transactions (under
    /// load each batch is a commit and several round trips). Nothing by
    /// default: the next batch follows as soon as events are there.
    fn batch_window(&self) -> Duration {
        Duration::ZERO
    }

    /// Applies one event inside the batch's transaction.
    async fn apply(
        &self,
        tx: &mut Tx,
        tables: &Tables,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError>;

    /// Applies a batch of events, in order, inside its transaction: one by
    /// one with [`Projection::apply`] unless the projection writes many in
    /// one statement. An error names the event (or events) it failed on.
    async fn apply_batch(
        &self,
        tx: &mut Tx,
        tables: &Tables,
        events: &[RecordedEvent],
    ) -> Result<(), ProjectionError> {
        for event in events {
            self.apply(tx, tables, event)
                .await
                .map_err(|e| ProjectionError::cannot_apply(self.name(), event, e))?;
        }
        Ok(())
    }
}

/// A generation's physical table names, by table name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tables {
    projection: String,
    generation: i64,
    names: BTreeMap<String, String>,
}

impl Tables {
    /// The tables of `projection`'s generation `generation`, names checked.
    pub(crate) fn new(
        projection: &dyn Projection,
        generation: i64,
    ) -> Result<Self, ProjectionError> {
        let mut names = BTreeMap::new();
        for table in projection.tables() {
            if !is_identifier(table) {
                return Err(ProjectionError::Config(format!(
                    "projection {}: table name {table:?} must be lowercase letters, digits and \
                     single _, starting with a letter",
                    projection.name()
                )));
            }
            names.insert(table.to_owned(), format!("{table}__g{generation}"));
        }
        if names.is_empty() {
            return Err(ProjectionError::Config(format!(
                "projection {} declares no tables",
                projection.name()
            )));
        }
        Ok(Self {
            projection: projection.name().to_owned(),
            generation,
            names,
        })
    }

    /// The physical name of `table` in this generation, to splice into SQL.
    /// A table the projection did not declare is an error, never a guess
    /// (an undeclared name could be another projection's updatable view).
    pub fn get(&self, table: &str) -> Result<&str, ProjectionError> {
        self.names.get(table).map(String::as_str).ok_or_else(|| {
            ProjectionError::Config(format!(
                "projection {} did not declare table {table:?} in tables()",
                self.projection
            ))
        })
    }

    /// The generation.
    pub fn generation(&self) -> i64 {
        self.generation
    }

    /// (view name, physical name) pairs.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.names.iter().map(|(v, p)| (v.as_str(), p.as_str()))
    }
}

/// Whether `name` is safe to splice into SQL as a projection or table name:
/// lowercase ASCII letters, digits and single underscores (`__` separates
/// the generation), starting with a letter, short enough for PostgreSQL.
pub(crate) fn is_identifier(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 48
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
        && !name.contains("__")
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Declared(Vec<&'static str>);

    #[async_trait]
    impl Projection for Declared {
        fn name(&self) -> &str {
            "declared"
        }
        fn version(&self) -> u32 {
            1
        }
        fn filter(&self) -> EventFilter {
            EventFilter::all()
        }
        fn tables(&self) -> Vec<&'static str> {
            self.0.clone()
        }
        fn schema(&self, _: &Tables) -> Result<Vec<String>, ProjectionError> {
            Ok(Vec::new())
        }
        async fn apply(
            &self,
            _: &mut Tx,
            _: &Tables,
            _: &RecordedEvent,
        ) -> Result<(), ProjectionError> {
            Ok(())
        }
    }

    #[test]
    fn identifiers_are_plain_lowercase_names() {
        assert!(is_identifier("directive_list"));
        assert!(is_identifier("a1"));
        assert!(!is_identifier(""));
        assert!(!is_identifier("1a"));
        assert!(!is_identifier("Directive"));
        assert!(!is_identifier("a;drop table x"));
        assert!(
            !is_identifier("a__g1"),
            "the generation separator is reserved"
        );
    }

    #[test]
    fn tables_name_declared_tables_only() {
        let tables = Tables::new(&Declared(vec!["declared_rows"]), 3).expect("a valid declaration");
        assert_eq!(tables.get("declared_rows").ok(), Some("declared_rows__g3"));
        let undeclared = tables.get("other_rows").expect_err("undeclared");
        assert!(
            undeclared.to_string().contains("other_rows"),
            "{undeclared}"
        );
        assert!(Tables::new(&Declared(vec!["Bad Name"]), 1).is_err());
        assert!(Tables::new(&Declared(Vec::new()), 1).is_err());
    }
}
