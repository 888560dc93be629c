//! Staged row writes ([`RowWrites`]) leave tables exactly as the same
//! changes written one statement each would, on both back ends: random
//! sequences of inserts, sets (NULLs included) and additions over a few
//! rows of two tables, so that rows see several changes of every kind in
//! one batch, and a round holds changes of several shapes and tables.

#[macro_use]
mod support;

use std::sync::Arc;

use eventstore::EventStore;
use projections::{Db, RowWrites, Tx, Value};

/// One change, as a projection would stage it, to one of two tables.
#[derive(Debug, Clone)]
struct Op {
    table: usize,
    change: Change,
}

#[derive(Debug, Clone)]
enum Change {
    Insert(String, Vec<(&'static str, Value)>),
    Set(String, Vec<(&'static str, Value)>),
    Add(String, Vec<(&'static str, i64)>),
}

const KEYS: [&str; 4] = ["a", "b", "c", "d"];

fn random_value(rng: &mut fastrand::Rng, column: &str) -> Value {
    match (column, rng.u8(0..4)) {
        (_, 0) if column != "n" => Value::Null,
        ("s", _) => Value::from(format!("text {}", rng.u16(..))),
        ("r", _) => Value::Real(f64::from(rng.i16(..)) / 4.0),
        _ => Value::Int(rng.i64(-1_000..1_000)),
    }
}

fn random_ops(rng: &mut fastrand::Rng, count: usize) -> Vec<Op> {
    (0..count)
        .map(|_| {
            let table = rng.usize(..2);
            let key = KEYS[rng.usize(..KEYS.len())].to_owned();
            let columns: Vec<&'static str> = ["s", "n", "m", "r"]
                .into_iter()
                .filter(|_| rng.bool())
                .collect();
            let change = match rng.u8(0..3) {
                0 => Change::Insert(
                    key,
                    columns.iter().map(|&c| (c, random_value(rng, c))).collect(),
                ),
                1 if !columns.is_empty() => Change::Set(
                    key,
                    columns.iter().map(|&c| (c, random_value(rng, c))).collect(),
                ),
                _ => {
                    let columns: Vec<&'static str> =
                        ["n", "m"].into_iter().filter(|_| rng.bool()).collect();
                    Change::Add(
                        key,
                        columns.into_iter().map(|c| (c, rng.i64(-50..50))).collect(),
                    )
                }
            };
            Op { table, change }
        })
        .collect()
}

/// The changes one statement each: what [`RowWrites`] must equal.
async fn one_by_one(tx: &mut Tx, tables: [&str; 2], ops: &[Op]) {
    for op in ops {
        let table = tables[op.table];
        let (sql, params) = match &op.change {
            Change::Insert(key, columns) => {
                let names: Vec<&str> = columns.iter().map(|(c, _)| *c).collect();
                let mut params = vec![Value::from(key.as_str())];
                let mut numbers = Vec::new();
                for (_, value) in columns {
                    if matches!(value, Value::Null) {
                        numbers.push("NULL".to_owned());
                    } else {
                        params.push(value.clone());
                        numbers.push(format!("${}", params.len()));
                    }
                }
                (
                    format!(
                        "INSERT INTO {table} (id{}{}) VALUES ($1{}{}) ON CONFLICT (id) DO NOTHING",
                        if names.is_empty() { "" } else { ", " },
                        names.join(", "),
                        if numbers.is_empty() { "" } else { ", " },
                        numbers.join(", ")
                    ),
                    params,
                )
            }
            Change::Set(key, columns) => {
                let mut params = vec![Value::from(key.as_str())];
                let mut assignments = Vec::new();
                for (column, value) in columns {
                    if matches!(value, Value::Null) {
                        assignments.push(format!("{column} = NULL"));
                    } else {
                        params.push(value.clone());
                        assignments.push(format!("{column} = ${}", params.len()));
                    }
                }
                (
                    format!(
                        "UPDATE {table} SET {} WHERE id = $1",
                        assignments.join(", ")
                    ),
                    params,
                )
            }
            Change::Add(_, columns) if columns.is_empty() => continue,
            Change::Add(key, columns) => {
                let mut params = vec![Value::from(key.as_str())];
                let mut assignments = Vec::new();
                for (column, delta) in columns {
                    params.push(Value::Int(*delta));
                    assignments.push(format!("{column} = {column} + ${}", params.len()));
                }
                (
                    format!(
                        "UPDATE {table} SET {} WHERE id = $1",
                        assignments.join(", ")
                    ),
                    params,
                )
            }
        };
        tx.execute(&sql, &params).await.expect(&sql);
    }
}

fn staged(tables: [&str; 2], ops: &[Op]) -> RowWrites {
    let mut writes = RowWrites::new();
    for op in ops {
        let table = tables[op.table];
        match op.change.clone() {
            Change::Insert(key, columns) => {
                writes.insert(table, vec![("id", Value::from(key))], columns)
            }
            Change::Set(key, columns) => writes.set(table, vec![("id", Value::from(key))], columns),
            Change::Add(key, columns) => writes.add(table, vec![("id", Value::from(key))], columns),
        }
    }
    writes
}

async fn contents(db: &Db, table: &str) -> Vec<Vec<Value>> {
    db.query(
        &format!("SELECT id, s, n, m, r FROM {table} ORDER BY id"),
        &[],
    )
    .await
    .expect("database")
}

async fn create(db: &Db, tables: &[&str]) {
    let mut tx = db.begin().await.expect("database");
    for table in tables {
        tx.execute(
            &format!(
                "CREATE TABLE {table} (id TEXT PRIMARY KEY, s TEXT, \
                 n BIGINT NOT NULL DEFAULT 0, m BIGINT, r DOUBLE PRECISION)"
            ),
            &[],
        )
        .await
        .expect("database");
    }
    tx.commit().await.expect("database");
}

async fn staged_writes_equal_writes_one_by_one(db: Db, _store: Arc<dyn EventStore>) {
    let (expected, staged_in) = (["expected_a", "expected_b"], ["staged_a", "staged_b"]);
    create(&db, &[expected, staged_in].concat()).await;
    let seed = fastrand::u64(..);
    let mut rng = fastrand::Rng::with_seed(seed);
    for case in 0..60 {
        let count = rng.usize(1..60);
        let ops = random_ops(&mut rng, count);
        let mut tx = db.begin().await.expect("database");
        one_by_one(&mut tx, expected, &ops).await;
        staged(staged_in, &ops)
            .flush(&mut tx)
            .await
            .expect("database");
        tx.commit().await.expect("database");
        for (staged_table, expected_table) in staged_in.iter().zip(expected) {
            assert_eq!(
                contents(&db, staged_table).await,
                contents(&db, expected_table).await,
                "seed {seed}, case {case}, {staged_table}: {ops:#?}"
            );
        }
    }
}

/// More rows than one statement's parameters allow, and many statements'
/// worth of changes: split, and still all written.
async fn large_batches_are_split_and_all_written(db: Db, _store: Arc<dyn EventStore>) {
    create(&db, &["big"]).await;
    let mut writes = RowWrites::new();
    for i in 0..4_000_i64 {
        let key = Value::from(format!("k{i:05}"));
        writes.insert(
            "big",
            vec![("id", key.clone())],
            vec![
                ("s", Value::from("new")),
                ("n", Value::Int(i)),
                ("m", Value::Int(1)),
            ],
        );
        writes.add("big", vec![("id", key.clone())], vec![("n", 1)]);
        writes.set(
            "big",
            vec![("id", key)],
            vec![("s", Value::from("set")), ("m", Value::Null)],
        );
    }
    let mut tx = db.begin().await.expect("database");
    writes.flush(&mut tx).await.expect("database");
    tx.commit().await.expect("database");
    assert!(writes.is_empty());
    let rows = contents(&db, "big").await;
    assert_eq!(rows.len(), 4_000);
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(
            row,
            &vec![
                Value::from(format!("k{i:05}")),
                Value::from("set"),
                Value::Int(i as i64 + 1),
                Value::Null,
                Value::Null,
            ]
        );
    }
}

both_back_ends!(
    staged_writes_equal_writes_one_by_one,
    large_batches_are_split_and_all_written,
);
