//! AgentOS read models: projections and the runner that keeps them current.
//!
//! A [`Projection`] folds events into tables of its own. The
//! [`ProjectionRunner`] reads the event store in gap-safe global order and
//! applies each batch of events in ONE transaction with the projection's
//! checkpoint, so the tables and the checkpoint never disagree: a runner that
//! dies mid-batch resumes exactly where its last commit left off.
//!
//! **Generations.** A projection's tables exist in generations
//! (`<table>__g<N>`); queries read the view `<table>`, which points to the
//! active generation. A rebuild fills generation N+1 from the first event
//! while generation N keeps being updated and served; once N+1 has caught up
//! with the head, one transaction re-points the views and the registry, and
//! generation N's tables are dropped. A projection whose
//! [`Projection::version`] changed is rebuilt this way on start.
//!
//! It runs on the event store's own database (PostgreSQL or SQLite), so
//! embedded mode runs the same projections. It is not the query API (the
//! gateway reads the views) and it does not read from NATS: the store is the
//! one place that holds every event from the first, which a rebuild needs.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::Utc;
use domain::{Position, RecordedEvent};
use eventstore::{Backoff, EventFilter, EventStore, StoreError};
use tokio::sync::{watch, Notify};

mod db;

pub use db::{Db, Tx, Value};

/// Why a projection could not be applied or queried.
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

    /// Its tables' names (the names of the views queries read).
    fn tables(&self) -> Vec<&'static str>;

    /// `CREATE TABLE` statements for one generation, with the physical names
    /// from `tables`; they must work on PostgreSQL and SQLite.
    fn schema(&self, tables: &Tables) -> Vec<String>;

    /// Applies one event inside the batch's transaction.
    async fn apply(
        &self,
        tx: &mut Tx,
        tables: &Tables,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError>;
}

/// A generation's physical table names, by table name.
#[derive(Debug, Clone)]
pub struct Tables {
    generation: i64,
    names: BTreeMap<String, String>,
}

impl Tables {
    fn new(projection: &dyn Projection, generation: i64) -> Result<Self, ProjectionError> {
        let mut names = BTreeMap::new();
        for table in projection.tables() {
            if !is_identifier(table) {
                return Err(ProjectionError::Config(format!(
                    "projection {}: table name {table:?} must be lowercase letters, digits and _",
                    projection.name()
                )));
            }
            names.insert(table.to_owned(), format!("{table}__g{generation}"));
        }
        Ok(Self { generation, names })
    }

    /// The physical name of `table` in this generation; `table` itself when
    /// the projection did not declare it (the statement then fails loudly).
    pub fn get<'a>(&'a self, table: &'a str) -> &'a str {
        self.names.get(table).map_or(table, String::as_str)
    }

    /// The generation.
    pub fn generation(&self) -> i64 {
        self.generation
    }
}

fn is_identifier(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 48
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
        && !name.contains("__")
}

/// What a runner is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProjectionState {
    /// Setting up its tables.
    Starting,
    /// Applying events; behind the head.
    CatchingUp,
    /// Caught up; waiting for new events.
    Live,
    /// A failure; retrying after a pause (see [`ProjectionStatus::last_error`]).
    Retrying,
}

/// A projection's health and lag, for health checks and metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectionStatus {
    /// What it is doing.
    pub state: ProjectionState,
    /// The generation queries read.
    pub active_generation: i64,
    /// The generation being rebuilt, if any.
    pub rebuilding: Option<i64>,
    /// The active generation's checkpoint.
    pub checkpoint: Position,
    /// Events applied by this runner (all generations).
    pub applied: u64,
    /// Events after the active generation's checkpoint (counted at most once a second).
    pub lag_events: u64,
    /// How old the newest applied event was when applied; 0 once caught up.
    pub lag_seconds: f64,
    /// The last failure.
    pub last_error: Option<String>,
}

/// How a runner runs.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Events per transaction at most.
    pub batch: usize,
    /// The longest pause between retries after a failure.
    pub max_backoff: Duration,
    /// How long a caught-up runner waits for a wake-up before reading again.
    pub idle_recheck: Duration,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        Self {
            batch: 500,
            max_backoff: Duration::from_secs(5),
            idle_recheck: Duration::from_secs(5),
        }
    }
}

/// The registry of generations, created on first use.
const REGISTRY: &str = "CREATE TABLE IF NOT EXISTS projection_generations (\
     name TEXT NOT NULL, generation BIGINT NOT NULL, version BIGINT NOT NULL, \
     state TEXT NOT NULL CHECK (state IN ('building', 'active')), \
     checkpoint_tx BIGINT NOT NULL, checkpoint_seq BIGINT NOT NULL, \
     applied BIGINT NOT NULL DEFAULT 0, \
     PRIMARY KEY (name, generation))";

/// Counting lag stops here.
const LAG_CAP: u64 = 1_000_000;

/// One generation as the runner tracks it.
#[derive(Debug, Clone)]
struct Generation {
    tables: Tables,
    checkpoint: Position,
}

/// Keeps one projection current.
pub struct ProjectionRunner {
    db: Db,
    store: Arc<dyn EventStore>,
    projection: Arc<dyn Projection>,
    config: RunnerConfig,
    status: watch::Sender<ProjectionStatus>,
    rebuild: Arc<RebuildRequest>,
}

#[derive(Default)]
struct RebuildRequest {
    requested: AtomicBool,
    wake: Notify,
}

/// Asks a running [`ProjectionRunner`] to rebuild its projection.
#[derive(Clone)]
pub struct RebuildHandle(Arc<RebuildRequest>);

impl RebuildHandle {
    /// Starts a rebuild; one asked for during a rebuild starts after it.
    pub fn request(&self) {
        self.0.requested.store(true, Ordering::SeqCst);
        self.0.wake.notify_one();
    }
}

impl ProjectionRunner {
    /// A runner of `projection` over `store`, its tables in `db` (the store's database).
    pub fn new(
        db: Db,
        store: Arc<dyn EventStore>,
        projection: Arc<dyn Projection>,
        config: RunnerConfig,
    ) -> Self {
        let (status, _) = watch::channel(ProjectionStatus {
            state: ProjectionState::Starting,
            active_generation: 0,
            rebuilding: None,
            checkpoint: Position::START,
            applied: 0,
            lag_events: 0,
            lag_seconds: 0.0,
            last_error: None,
        });
        Self {
            db,
            store,
            projection,
            config,
            status,
            rebuild: Arc::default(),
        }
    }

    /// Follows the projection's health.
    pub fn status(&self) -> watch::Receiver<ProjectionStatus> {
        self.status.subscribe()
    }

    /// A handle to ask for a rebuild while the runner runs.
    pub fn rebuild_handle(&self) -> RebuildHandle {
        RebuildHandle(Arc::clone(&self.rebuild))
    }

    /// Runs until the task is dropped; failures are retried with backoff.
    pub async fn run(self) {
        let mut backoff = Backoff::new(Duration::from_millis(50), self.config.max_backoff);
        loop {
            match self.run_once().await {
                Ok(()) => backoff.reset(),
                Err(error) => {
                    tracing::warn!(projection = %self.projection.name(), %error, "projection failed; retrying");
                    self.status.send_modify(|s| {
                        s.state = ProjectionState::Retrying;
                        s.last_error = Some(error.to_string());
                    });
                    backoff.wait().await;
                }
            }
        }
    }

    /// Sets up, then applies events until a failure.
    async fn run_once(&self) -> Result<(), ProjectionError> {
        let (mut active, mut building) = self.load_or_create().await?;
        let mut changes = self.store.changes();
        let mut lag_counted: Option<Instant> = None;
        loop {
            changes.borrow_and_update();
            if building.is_none() && self.rebuild.requested.swap(false, Ordering::SeqCst) {
                building = Some(self.start_generation(active.tables.generation + 1).await?);
            }
            let mut idle = true;
            if let Some(next) = building.as_mut() {
                let caught_up = self.step(next).await?;
                idle &= caught_up;
                if caught_up {
                    if let Some(next) = building.take() {
                        self.switch(&active, &next).await?;
                        active = next;
                    }
                }
            }
            let caught_up = self.step(&mut active).await?;
            idle &= caught_up;
            self.status.send_modify(|s| {
                s.active_generation = active.tables.generation;
                s.rebuilding = building.as_ref().map(|b| b.tables.generation);
                s.checkpoint = active.checkpoint;
                s.last_error = None;
                s.state = if caught_up {
                    ProjectionState::Live
                } else {
                    ProjectionState::CatchingUp
                };
                if caught_up {
                    s.lag_seconds = 0.0;
                    s.lag_events = 0;
                }
            });
            if !caught_up && lag_counted.is_none_or(|at| at.elapsed() >= Duration::from_secs(1)) {
                let lag = self
                    .store
                    .count_after(active.checkpoint, &self.projection.filter(), LAG_CAP)
                    .await?;
                self.status.send_modify(|s| s.lag_events = lag);
                lag_counted = Some(Instant::now());
            }
            if idle {
                tokio::select! {
                    _ = changes.changed() => {}
                    _ = self.rebuild.wake.notified() => {}
                    _ = tokio::time::sleep(self.config.idle_recheck) => {}
                }
            }
        }
    }

    /// Applies one batch to a generation; true when it has caught up with the head.
    async fn step(&self, generation: &mut Generation) -> Result<bool, ProjectionError> {
        let filter = self.projection.filter();
        let batch = self
            .store
            .read_all(generation.checkpoint, self.config.batch, &filter)
            .await?;
        if batch.events.is_empty() && batch.next == generation.checkpoint {
            return Ok(!batch.beyond_horizon);
        }
        let mut tx = self.db.begin().await?;
        // The checkpoint moves in the same transaction as the tables, and only
        // from where this runner read: a second runner of the same projection
        // finds the row moved (PostgreSQL re-checks it after the first one
        // commits) and applies nothing.
        let moved = tx
            .execute(
                "UPDATE projection_generations SET checkpoint_tx = $1, checkpoint_seq = $2, \
                 applied = applied + $3 WHERE name = $4 AND generation = $5 \
                 AND checkpoint_tx = $6 AND checkpoint_seq = $7",
                &[
                    int(batch.next.tx),
                    int(batch.next.seq),
                    int(batch.events.len() as u64),
                    Value::from(self.projection.name()),
                    Value::Int(generation.tables.generation),
                    int(generation.checkpoint.tx),
                    int(generation.checkpoint.seq),
                ],
            )
            .await?;
        if moved != 1 {
            return Err(ProjectionError::Config(format!(
                "projection {} generation {}: the checkpoint moved under this runner; \
                 is another runner of it active?",
                self.projection.name(),
                generation.tables.generation
            )));
        }
        for event in &batch.events {
            self.projection
                .apply(&mut tx, &generation.tables, event)
                .await
                .map_err(|e| {
                    ProjectionError::Apply(format!(
                        "projection {} cannot apply event {} ({} at {}): {e}",
                        self.projection.name(),
                        event.event_id,
                        event.event_type,
                        event.position
                    ))
                })?;
        }
        tx.commit().await?;
        generation.checkpoint = batch.next;
        let applied = batch.events.len() as u64;
        let age = batch
            .events
            .last()
            .map(|e| (Utc::now() - e.recorded_at).to_std().unwrap_or_default());
        self.status.send_modify(|s| {
            s.applied += applied;
            if let Some(age) = age {
                s.lag_seconds = age.as_secs_f64();
            }
        });
        Ok(batch.events.len() < self.config.batch && !batch.beyond_horizon)
    }

    /// Reads the registry; creates the first generation, and starts a rebuild
    /// when the projection's version changed.
    async fn load_or_create(&self) -> Result<(Generation, Option<Generation>), ProjectionError> {
        let name = self.projection.name();
        if !is_identifier(name) {
            return Err(ProjectionError::Config(format!(
                "projection name {name:?} must be lowercase letters, digits and _"
            )));
        }
        let mut tx = self.db.begin().await?;
        tx.execute(REGISTRY, &[]).await?;
        tx.commit().await?;
        let rows = self
            .db
            .query(
                "SELECT generation, version, state, checkpoint_tx, checkpoint_seq \
                 FROM projection_generations WHERE name = $1 ORDER BY generation",
                &[Value::from(name)],
            )
            .await?;
        let mut active = None;
        let mut building = None;
        for row in rows {
            let field = |i: usize| row.get(i).cloned().unwrap_or(Value::Null);
            let generation = field(0).as_i64().unwrap_or(0);
            let version = field(1).as_i64().unwrap_or(0);
            let checkpoint = Position::new(
                field(3).as_i64().unwrap_or(0).max(0) as u64,
                field(4).as_i64().unwrap_or(0).max(0) as u64,
            );
            let entry = (
                Generation {
                    tables: Tables::new(&*self.projection, generation)?,
                    checkpoint,
                },
                version,
            );
            match field(2).as_str() {
                Some("active") => active = Some(entry),
                _ => building = Some(entry),
            }
        }
        let wanted = i64::from(self.projection.version());
        match (active, building) {
            (None, building) => {
                // Never active: (re)start the first generation from scratch.
                let generation = building.map_or(1, |(b, _)| b.tables.generation);
                let first = self.start_generation(generation).await?;
                self.switch_views(None, &first.tables).await?;
                Ok((first, None))
            }
            (Some((active, _)), Some((building, version))) if version == wanted => {
                Ok((active, Some(building)))
            }
            (Some((active, version)), building) => {
                let stale = building.is_some();
                let rebuild = version != wanted || stale;
                if rebuild {
                    let next =
                        building.map_or(active.tables.generation + 1, |(b, _)| b.tables.generation);
                    tracing::info!(projection = %name, from = version, to = wanted, "rebuilding");
                    Ok((active, Some(self.start_generation(next).await?)))
                } else {
                    Ok((active, None))
                }
            }
        }
    }

    /// Creates (or re-creates, empty) a generation's tables and registry row.
    async fn start_generation(&self, generation: i64) -> Result<Generation, ProjectionError> {
        let tables = Tables::new(&*self.projection, generation)?;
        let mut tx = self.db.begin().await?;
        for physical in tables.names.values() {
            tx.execute(&format!("DROP TABLE IF EXISTS {physical}"), &[])
                .await?;
        }
        for statement in self.projection.schema(&tables) {
            tx.execute(&statement, &[]).await?;
        }
        tx.execute(
            "DELETE FROM projection_generations WHERE name = $1 AND generation = $2",
            &[Value::from(self.projection.name()), Value::Int(generation)],
        )
        .await?;
        tx.execute(
            "INSERT INTO projection_generations \
             (name, generation, version, state, checkpoint_tx, checkpoint_seq) \
             VALUES ($1, $2, $3, 'building', 0, 0)",
            &[
                Value::from(self.projection.name()),
                Value::Int(generation),
                Value::Int(i64::from(self.projection.version())),
            ],
        )
        .await?;
        tx.commit().await?;
        self.status.send_modify(|s| s.rebuilding = Some(generation));
        Ok(Generation {
            tables,
            checkpoint: Position::START,
        })
    }

    /// Makes `next` the generation queries read, then drops `old`'s tables.
    async fn switch(&self, old: &Generation, next: &Generation) -> Result<(), ProjectionError> {
        self.switch_views(Some(&old.tables), &next.tables).await?;
        tracing::info!(projection = %self.projection.name(), generation = next.tables.generation, "rebuild switched in");
        let mut tx = self.db.begin().await?;
        for physical in old.tables.names.values() {
            tx.execute(&format!("DROP TABLE IF EXISTS {physical}"), &[])
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// One transaction: the views point to `next`, the registry says so.
    async fn switch_views(
        &self,
        old: Option<&Tables>,
        next: &Tables,
    ) -> Result<(), ProjectionError> {
        let name = self.projection.name();
        let mut tx = self.db.begin().await?;
        for (table, physical) in &next.names {
            tx.execute(&format!("DROP VIEW IF EXISTS {table}"), &[])
                .await?;
            tx.execute(
                &format!("CREATE VIEW {table} AS SELECT * FROM {physical}"),
                &[],
            )
            .await?;
        }
        if let Some(old) = old {
            tx.execute(
                "DELETE FROM projection_generations WHERE name = $1 AND generation = $2",
                &[Value::from(name), Value::Int(old.generation)],
            )
            .await?;
        }
        tx.execute(
            "UPDATE projection_generations SET state = 'active' WHERE name = $1 AND generation = $2",
            &[Value::from(name), Value::Int(next.generation)],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

fn int(n: u64) -> Value {
    Value::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
