//! The runner: keeps one projection's generations current, rebuilds and
//! switches them, and reports how far behind the head it is.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use domain::Position;
use eventstore::{Backoff, EventFilter, EventStore};
use tokio::sync::{watch, Notify};

use crate::db::Db;
use crate::registry::{self, Entry};
use crate::{Projection, ProjectionError, Tables};

/// Counting lag stops here: the figure stays cheap however far behind.
const LAG_CAP: u64 = 1_000_000;
/// Lag is counted at most this often while behind (and after each failure).
const LAG_INTERVAL: Duration = Duration::from_secs(1);
/// The first and the longest pause while events wait behind an older open
/// transaction (as in [`eventstore::Subscription`]).
const HORIZON_WAIT: (Duration, Duration) = (Duration::from_millis(2), Duration::from_millis(50));

/// What a runner is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProjectionState {
    /// Setting up its tables.
    Starting,
    /// Behind the head: applying events, or rebuilding while an older
    /// version's generation serves.
    CatchingUp,
    /// Caught up; waiting for new events.
    Live,
    /// A failure; retrying after a pause (see [`ProjectionStatus::last_error`]).
    Retrying,
    /// A newer version of the projection owns it; this runner applies
    /// nothing until asked to rebuild (see [`ProjectionStatus::last_error`]).
    Outdated,
}

/// A projection's health and lag, for health checks and metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectionStatus {
    /// What it is doing.
    pub state: ProjectionState,
    /// The version of the projection this runner runs.
    pub version: u32,
    /// The generation queries read (0 until known).
    pub active_generation: i64,
    /// The version of the projection that generation holds.
    pub active_version: i64,
    /// The active generation's checkpoint: every event up to it is in the views.
    pub checkpoint: Position,
    /// The generation being rebuilt, if any.
    pub rebuilding: Option<i64>,
    /// How far the rebuild has got.
    pub rebuild_checkpoint: Option<Position>,
    /// Events applied by this runner (all generations).
    pub applied: u64,
    /// Failures retried since this runner started.
    pub failures: u64,
    /// Events after the checkpoint that the projection reads, counted by the
    /// store (at most 1,000,000; at most once a second while behind, and
    /// after each failure); 0 once a read found nothing more.
    pub lag_events: u64,
    /// When the oldest event not yet in the views was recorded; `None` when
    /// caught up. A scraper can compute the lag at its own time from it.
    pub oldest_pending: Option<DateTime<Utc>>,
    /// Seconds between that event's recording and this report; 0 when caught
    /// up. It grows while the runner is stuck.
    pub lag_seconds: f64,
    /// The last failure, until the next success.
    pub last_error: Option<String>,
}

/// How a runner runs.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Events per transaction at most.
    pub batch: usize,
    /// The longest pause between retries after a failure.
    pub max_backoff: Duration,
    /// How long a caught-up (or outdated) runner waits for a wake-up before
    /// reading again, in case one was lost.
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

/// Keeps one projection current.
pub struct ProjectionRunner {
    db: Db,
    store: Arc<dyn EventStore>,
    projection: Arc<dyn Projection>,
    filter: EventFilter,
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
    /// Starts a rebuild into the runner's version; one asked for during a
    /// rebuild starts after it. It also rolls a projection back to an older
    /// runner's version, which never happens by itself.
    pub fn request(&self) {
        self.0.requested.store(true, Ordering::SeqCst);
        self.0.wake.notify_one();
    }
}

/// One generation as the runner tracks it.
#[derive(Debug, Clone)]
struct Generation {
    tables: Tables,
    version: i64,
    checkpoint: Position,
}

/// What the runner maintains.
struct Plan {
    active: Generation,
    /// Whether the active generation is of this runner's version; if not,
    /// this runner must not write it (its shape belongs to other code).
    maintained: bool,
    building: Option<Generation>,
}

/// What one read-and-apply step did.
struct Step {
    applied: usize,
    caught_up: bool,
    beyond_horizon: bool,
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
            version: projection.version(),
            active_generation: 0,
            active_version: 0,
            checkpoint: Position::START,
            rebuilding: None,
            rebuild_checkpoint: None,
            applied: 0,
            failures: 0,
            lag_events: 0,
            oldest_pending: None,
            lag_seconds: 0.0,
            last_error: None,
        });
        Self {
            db,
            store,
            filter: projection.filter(),
            projection,
            config: RunnerConfig {
                batch: config.batch.max(1),
                ..config
            },
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

    /// Runs until its task is dropped (aborting it is safe: every batch is
    /// one transaction); failures are reported and retried with backoff, and
    /// an event that cannot be applied is retried, never skipped.
    pub async fn run(self) {
        let mut backoff = Backoff::new(Duration::from_millis(50), self.config.max_backoff);
        loop {
            let Err(error) = self.follow(&mut backoff).await;
            if let ProjectionError::Outdated(message) = error {
                tracing::info!(projection = %self.projection.name(), %message, "standing by");
                self.status.send_modify(|s| {
                    s.state = ProjectionState::Outdated;
                    s.last_error = Some(message);
                });
                self.report_lag_after_failure().await;
                tokio::select! {
                    _ = self.rebuild.wake.notified() => {}
                    _ = tokio::time::sleep(self.config.idle_recheck) => {}
                }
                continue;
            }
            tracing::warn!(projection = %self.projection.name(), %error, "projection failed; retrying");
            self.status.send_modify(|s| {
                s.state = ProjectionState::Retrying;
                s.failures += 1;
                s.last_error = Some(error.to_string());
            });
            self.report_lag_after_failure().await;
            backoff.wait().await;
        }
    }

    /// Sets up, then applies events until a failure.
    async fn follow(&self, backoff: &mut Backoff) -> Result<Infallible, ProjectionError> {
        let mut plan = self.plan().await?;
        self.publish_plan(&plan);
        let mut changes = self.store.changes();
        let mut lag_counted: Option<Instant> = None;
        let mut horizon_wait = HORIZON_WAIT.0;
        loop {
            changes.borrow_and_update();
            if plan.building.is_none() && self.rebuild.requested.swap(false, Ordering::SeqCst) {
                let next = plan.active.tables.generation() + 1;
                plan.building = Some(self.start_generation(next).await?);
            }
            let mut applied = 0;
            let mut beyond_horizon = false;
            if let Some(next) = plan.building.as_mut() {
                let step = self.step(next).await?;
                applied += step.applied;
                beyond_horizon |= step.beyond_horizon;
                if step.caught_up {
                    if let Some(next) = plan.building.take() {
                        registry::switch(
                            &self.db,
                            self.projection.name(),
                            Some(&plan.active.tables),
                            &next.tables,
                            next.checkpoint,
                        )
                        .await?;
                        tracing::info!(projection = %self.projection.name(),
                            generation = next.tables.generation(), "rebuild switched in");
                        plan.active = next;
                        plan.maintained = true;
                        lag_counted = None;
                    }
                }
            }
            let caught_up = if plan.maintained {
                let step = self.step(&mut plan.active).await?;
                applied += step.applied;
                beyond_horizon |= step.beyond_horizon;
                step.caught_up
            } else {
                false
            };
            backoff.reset();
            self.publish_plan(&plan);
            self.status.send_modify(|s| {
                s.last_error = None;
                if caught_up {
                    s.state = ProjectionState::Live;
                    s.lag_events = 0;
                    s.oldest_pending = None;
                    s.lag_seconds = 0.0;
                } else {
                    s.state = ProjectionState::CatchingUp;
                    s.lag_seconds = seconds_since(s.oldest_pending);
                }
            });
            if !caught_up && lag_counted.is_none_or(|at| at.elapsed() >= LAG_INTERVAL) {
                self.count_lag(plan.active.checkpoint).await?;
                lag_counted = Some(Instant::now());
            }
            if applied > 0 {
                horizon_wait = HORIZON_WAIT.0;
                let window = self.projection.batch_window();
                if caught_up && !window.is_zero() {
                    // Let the next batch gather (see Projection::batch_window).
                    tokio::select! {
                        _ = tokio::time::sleep(window) => {}
                        _ = self.rebuild.wake.notified() => {}
                    }
                }
                continue;
            }
            if beyond_horizon {
                // Committed events wait behind an older open transaction: its
                // commit wakes us, or a short, growing pause passes.
                let _ = tokio::time::timeout(horizon_wait, changed(&mut changes)).await;
                horizon_wait = (horizon_wait * 2).min(HORIZON_WAIT.1);
                continue;
            }
            horizon_wait = HORIZON_WAIT.0;
            tokio::select! {
                _ = changed(&mut changes) => {}
                _ = self.rebuild.wake.notified() => {}
                _ = tokio::time::sleep(self.config.idle_recheck) => {}
            }
        }
    }

    /// Applies one batch to a generation and moves its checkpoint, in one
    /// transaction.
    async fn step(&self, generation: &mut Generation) -> Result<Step, ProjectionError> {
        let batch = self
            .store
            .read_all(generation.checkpoint, self.config.batch, &self.filter)
            .await?;
        let applied = batch.events.len();
        let step = Step {
            applied,
            caught_up: applied < self.config.batch && !batch.beyond_horizon,
            beyond_horizon: batch.beyond_horizon,
        };
        if applied == 0 && batch.next == generation.checkpoint {
            return Ok(step);
        }
        let name = self.projection.name();
        let mut tx = self.db.begin_derived().await?;
        // First, so that a second runner of this projection waits here and
        // then finds the row moved.
        registry::advance(
            &mut tx,
            name,
            generation.tables.generation(),
            generation.checkpoint,
            batch.next,
            applied,
        )
        .await?;
        self.projection
            .apply_batch(&mut tx, &generation.tables, &batch.events)
            .await?;
        tx.commit().await?;
        generation.checkpoint = batch.next;
        self.status.send_modify(|s| s.applied += applied as u64);
        Ok(step)
    }

    /// Reads the registry and decides what this runner maintains: it
    /// creates the first generation, resumes its own rebuild, or starts one
    /// when the active generation is of an older version (or one was asked
    /// for). It never writes another version's generation.
    async fn plan(&self) -> Result<Plan, ProjectionError> {
        let name = self.projection.name();
        if !crate::is_identifier(name) {
            return Err(ProjectionError::Config(format!(
                "projection name {name:?} must be lowercase letters, digits and single _, \
                 starting with a letter"
            )));
        }
        registry::ensure(&self.db).await?;
        let entries = registry::entries(&self.db, name).await?;
        let ours = i64::from(self.projection.version());
        let active = entries.iter().find(|e| e.active);
        let building = entries.iter().find(|e| !e.active);
        let requested = self.rebuild.requested.load(Ordering::SeqCst);
        let Some(active) = active else {
            // Never switched in: (re)start the first generation from scratch.
            if let Some(b) = building.filter(|b| b.version > ours && !requested) {
                return Err(outdated(name, b, ours));
            }
            self.rebuild.requested.store(false, Ordering::SeqCst);
            let first = self
                .start_generation(building.map_or(1, |b| b.generation))
                .await?;
            registry::switch(&self.db, name, None, &first.tables, first.checkpoint).await?;
            return Ok(Plan {
                active: first,
                maintained: true,
                building: None,
            });
        };
        let building = match building {
            Some(b) if b.version == ours => Some(self.generation(b)?),
            other => {
                let newer_building = other.is_some_and(|b| b.version > ours);
                if requested || (active.version < ours && !newer_building) {
                    self.rebuild.requested.store(false, Ordering::SeqCst);
                    tracing::info!(projection = %name, from = active.version, to = ours, "rebuilding");
                    let number = other.map_or(active.generation + 1, |b| b.generation);
                    Some(self.start_generation(number).await?)
                } else {
                    None
                }
            }
        };
        let maintained = active.version == ours;
        if !maintained && building.is_none() {
            // Still report what queries read, and how far behind it is.
            self.status.send_modify(|s| {
                s.active_generation = active.generation;
                s.active_version = active.version;
                s.checkpoint = active.checkpoint;
            });
            let newest = entries.iter().max_by_key(|e| e.version).unwrap_or(active);
            return Err(outdated(name, newest, ours));
        }
        Ok(Plan {
            active: self.generation(active)?,
            maintained,
            building,
        })
    }

    /// A registry entry as a generation of this projection.
    fn generation(&self, entry: &Entry) -> Result<Generation, ProjectionError> {
        Ok(Generation {
            tables: Tables::new(&*self.projection, entry.generation)?,
            version: entry.version,
            checkpoint: entry.checkpoint,
        })
    }

    /// Creates (or re-creates, empty) a generation of this runner's version.
    async fn start_generation(&self, generation: i64) -> Result<Generation, ProjectionError> {
        let tables = registry::create(&self.db, &*self.projection, generation).await?;
        let building = Generation {
            tables,
            version: i64::from(self.projection.version()),
            checkpoint: Position::START,
        };
        self.status.send_modify(|s| {
            s.rebuilding = Some(generation);
            s.rebuild_checkpoint = Some(Position::START);
        });
        Ok(building)
    }

    /// Publishes which generations exist and where they are.
    fn publish_plan(&self, plan: &Plan) {
        self.status.send_modify(|s| {
            s.active_generation = plan.active.tables.generation();
            s.active_version = plan.active.version;
            s.checkpoint = plan.active.checkpoint;
            s.rebuilding = plan.building.as_ref().map(|b| b.tables.generation());
            s.rebuild_checkpoint = plan.building.as_ref().map(|b| b.checkpoint);
        });
    }

    /// Counts the events after `checkpoint` and finds when the oldest of them
    /// was recorded.
    async fn count_lag(&self, checkpoint: Position) -> Result<(), ProjectionError> {
        let lag_events = self
            .store
            .count_after(checkpoint, &self.filter, LAG_CAP)
            .await?;
        let oldest_pending = if lag_events == 0 {
            None
        } else {
            self.store
                .read_all(checkpoint, 1, &self.filter)
                .await?
                .events
                .first()
                .map(|e| e.recorded_at)
        };
        self.status.send_modify(|s| {
            s.lag_events = lag_events;
            s.oldest_pending = oldest_pending;
            s.lag_seconds = seconds_since(oldest_pending);
        });
        Ok(())
    }

    /// After a failure the checkpoint stands still while events may arrive:
    /// count again, or, if the store cannot be reached either, let the age of
    /// the oldest pending event grow.
    async fn report_lag_after_failure(&self) {
        let (known, checkpoint) = {
            let s = self.status.borrow();
            (s.active_generation > 0, s.checkpoint)
        };
        if !known || self.count_lag(checkpoint).await.is_err() {
            self.status
                .send_modify(|s| s.lag_seconds = seconds_since(s.oldest_pending));
        }
    }
}

/// Why this runner applies nothing: `newest` is of a newer version.
fn outdated(name: &str, newest: &Entry, ours: i64) -> ProjectionError {
    ProjectionError::Outdated(format!(
        "projection {name}: generation {} holds version {}, newer than this runner's version \
         {ours}; it applies nothing until asked to rebuild",
        newest.generation, newest.version
    ))
}

/// Waits for the store's change signal; never, if the store is gone.
async fn changed(changes: &mut watch::Receiver<u64>) {
    if changes.changed().await.is_err() {
        std::future::pending::<()>().await;
    }
}

fn seconds_since(at: Option<DateTime<Utc>>) -> f64 {
    at.and_then(|at| (Utc::now() - at).to_std().ok())
        .map_or(0.0, |d| d.as_secs_f64())
}
