//! The registry of generations: for each projection, which generation
//! queries read (`active`), which one is being rebuilt (`building`), each
//! one's version and checkpoint. A generation's row and its tables are
//! created together and dropped together, each time in one transaction.
//!
//! The runner creates the registry table on first use (`IF NOT EXISTS`):
//! the event store's migrations know nothing of projections, and this crate
//! owns no migration runner of its own. Two runners creating it at the same
//! instant on PostgreSQL can race on the catalog; the loser fails and is
//! retried like any other failure.

use std::time::Duration;

use chrono::Utc;
use domain::Position;

use crate::db::{Db, Tx, Value};
use crate::{Projection, ProjectionError, Tables};

/// The registry table.
const CREATE: &str = "CREATE TABLE IF NOT EXISTS projection_generations (\
     name TEXT NOT NULL, \
     generation BIGINT NOT NULL, \
     version BIGINT NOT NULL, \
     state TEXT NOT NULL CHECK (state IN ('building', 'active')), \
     checkpoint_tx BIGINT NOT NULL, \
     checkpoint_seq BIGINT NOT NULL, \
     applied BIGINT NOT NULL DEFAULT 0, \
     updated_at_ms BIGINT NOT NULL, \
     PRIMARY KEY (name, generation))";

/// How long the switch waits for queries still reading the old generation
/// before it gives up and is retried (PostgreSQL; new queries queue behind it).
const SWITCH_LOCK_WAIT: Duration = Duration::from_secs(5);

/// A generation as the registry records it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    pub generation: i64,
    pub version: i64,
    pub active: bool,
    pub checkpoint: Position,
}

/// Creates the registry table if it does not exist.
pub(crate) async fn ensure(db: &Db) -> Result<(), ProjectionError> {
    let mut tx = db.begin().await?;
    tx.serialise_ddl().await?;
    tx.execute(CREATE, &[]).await?;
    tx.commit().await
}

/// The generations of one projection, oldest first.
pub(crate) async fn entries(db: &Db, name: &str) -> Result<Vec<Entry>, ProjectionError> {
    let rows = db
        .query(
            "SELECT generation, version, state, checkpoint_tx, checkpoint_seq \
             FROM projection_generations WHERE name = $1 ORDER BY generation",
            &[Value::from(name)],
        )
        .await?;
    rows.iter()
        .map(|row| {
            Ok(Entry {
                generation: int(row, 0)?,
                version: int(row, 1)?,
                active: row.get(2).and_then(Value::as_str) == Some("active"),
                checkpoint: Position::new(unsigned(int(row, 3)?), unsigned(int(row, 4)?)),
            })
        })
        .collect()
}

/// Creates generation `generation` of `projection`, empty, in the `building`
/// state at the first event, replacing any leftover of the same number.
pub(crate) async fn create(
    db: &Db,
    projection: &dyn Projection,
    generation: i64,
) -> Result<Tables, ProjectionError> {
    let tables = Tables::new(projection, generation)?;
    let mut tx = db.begin().await?;
    for (_, physical) in tables.iter() {
        tx.execute(&format!("DROP TABLE IF EXISTS {physical}"), &[])
            .await?;
    }
    for statement in projection.schema(&tables)? {
        tx.execute(&statement, &[]).await?;
    }
    tx.execute(
        "DELETE FROM projection_generations WHERE name = $1 AND generation = $2",
        &[Value::from(projection.name()), Value::Int(generation)],
    )
    .await?;
    tx.execute(
        "INSERT INTO projection_generations \
         (name, generation, version, state, checkpoint_tx, checkpoint_seq, updated_at_ms) \
         VALUES ($1, $2, $3, 'building', 0, 0, $4)",
        &[
            Value::from(projection.name()),
            Value::Int(generation),
            Value::Int(i64::from(projection.version())),
            now_ms(),
        ],
    )
    .await?;
    tx.commit().await?;
    Ok(tables)
}

/// Moves a generation's checkpoint inside the batch's transaction, but only
/// from `from`: a second runner of the same projection finds the row moved
/// (PostgreSQL re-checks it once the first one commits) and applies nothing.
pub(crate) async fn advance(
    tx: &mut Tx,
    name: &str,
    generation: i64,
    from: Position,
    to: Position,
    applied: usize,
) -> Result<(), ProjectionError> {
    let moved = tx
        .execute(
            "UPDATE projection_generations SET checkpoint_tx = $1, checkpoint_seq = $2, \
             applied = applied + $3, updated_at_ms = $4 \
             WHERE name = $5 AND generation = $6 AND checkpoint_tx = $7 AND checkpoint_seq = $8",
            &[
                sql_int(to.tx),
                sql_int(to.seq),
                sql_int(applied as u64),
                now_ms(),
                Value::from(name),
                Value::Int(generation),
                sql_int(from.tx),
                sql_int(from.seq),
            ],
        )
        .await?;
    if moved == 1 {
        Ok(())
    } else {
        Err(ProjectionError::Conflict(format!(
            "projection {name} generation {generation}: the checkpoint is no longer at {from}; \
             another runner of it moved it, or replaced the generation, or the server lost its \
             last commits in a crash (they did not wait for the flush; see Db::begin_derived)"
        )))
    }
}

/// One transaction: the views point to `next`, `next` becomes the active
/// generation, and `old` (the active one until now) loses its row and its
/// tables. Fails, changing nothing, if either row is not what this runner
/// last saw.
pub(crate) async fn switch(
    db: &Db,
    name: &str,
    old: Option<&Tables>,
    next: &Tables,
    next_checkpoint: Position,
) -> Result<(), ProjectionError> {
    let mut tx = db.begin().await?;
    tx.limit_lock_wait(SWITCH_LOCK_WAIT).await?;
    for (view, physical) in next.iter() {
        // Not CREATE OR REPLACE: PostgreSQL refuses it when columns change.
        tx.execute(&format!("DROP VIEW IF EXISTS {view}"), &[])
            .await?;
        tx.execute(
            &format!("CREATE VIEW {view} AS SELECT * FROM {physical}"),
            &[],
        )
        .await?;
    }
    if let Some(old) = old {
        let retired = tx
            .execute(
                "DELETE FROM projection_generations \
                 WHERE name = $1 AND generation = $2 AND state = 'active'",
                &[Value::from(name), Value::Int(old.generation())],
            )
            .await?;
        if retired != 1 {
            return Err(ProjectionError::Conflict(format!(
                "projection {name}: generation {} is no longer the active one; \
                 another runner switched first",
                old.generation()
            )));
        }
        for (_, physical) in old.iter() {
            tx.execute(&format!("DROP TABLE IF EXISTS {physical}"), &[])
                .await?;
        }
    }
    let activated = tx
        .execute(
            "UPDATE projection_generations SET state = 'active', updated_at_ms = $1 \
             WHERE name = $2 AND generation = $3 AND state = 'building' \
             AND checkpoint_tx = $4 AND checkpoint_seq = $5",
            &[
                now_ms(),
                Value::from(name),
                Value::Int(next.generation()),
                sql_int(next_checkpoint.tx),
                sql_int(next_checkpoint.seq),
            ],
        )
        .await?;
    if activated != 1 {
        return Err(ProjectionError::Conflict(format!(
            "projection {name}: generation {} is not the one this runner built; \
             another runner moved or replaced it",
            next.generation()
        )));
    }
    tx.commit().await
}

fn int(row: &[Value], i: usize) -> Result<i64, ProjectionError> {
    row.get(i).and_then(Value::as_i64).ok_or_else(|| {
        ProjectionError::Query(format!(
            "projection_generations: column {i} is not an integer"
        ))
    })
}

fn unsigned(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn sql_int(n: u64) -> Value {
    Value::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

fn now_ms() -> Value {
    Value::Int(Utc::now().timestamp_millis())
}
