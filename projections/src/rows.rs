//! Row writes gathered over a batch of events and written in a few
//! multi-row statements, with the effect of writing them one by one.
//!
//! A projection that changes rows by key (insert a row unless its key is
//! there, set some columns, add to counters) stages each change here while
//! it reads its batch, then [`RowWrites::flush`]es once. One statement per
//! change would cost one round trip to the database each, which is most of
//! a read model's work under load; here the cost is a statement per *shape*
//! of change (table, kind, columns), whatever the number of rows, and on
//! PostgreSQL a round trip per round (below).
//!
//! **Same result as one by one.** Changes to different rows never affect
//! each other: a key names one row (it must be the table's primary key or
//! unique), and a table's rows are always named by the same key column.
//! Changes to one row keep their order:
//! - consecutive updates of a row are merged into one (a later value
//!   replaces an earlier one, additions add up, an addition to a column set
//!   earlier in the batch adds to that value);
//! - anything that cannot be merged (an insert, or an addition to a column
//!   set to a non-integer) goes into the next *round*: round `r` holds the
//!   `r`-th change of every row, and rounds are written in order.

use std::collections::{BTreeMap, HashMap};

use crate::{ProjectionError, Tx, Value};

/// Parameters per statement at most (both databases allow far more).
const MAX_PARAMS: usize = 10_000;

/// Row changes staged for one flush.
#[derive(Debug, Default)]
pub struct RowWrites {
    /// Every change, in the order staged (merged updates in place).
    changes: Vec<Change>,
    /// For each row (table, key column, key), its last change's index.
    last: HashMap<String, usize>,
}

/// The columns that name a row, with their values: the table's primary
/// key, or a unique key (one column or several).
pub type Key = Vec<(&'static str, Value)>;

/// One change to one row.
#[derive(Debug, Clone)]
struct Change {
    table: String,
    key: Key,
    /// Which of its row's changes this is (0 for the first).
    round: usize,
    kind: ChangeKind,
}

#[derive(Debug, Clone)]
enum ChangeKind {
    /// Insert the row unless one with its key exists.
    Insert(Vec<(&'static str, Value)>),
    /// Set columns and add to others, if the row exists.
    Update {
        sets: Vec<(&'static str, Value)>,
        adds: Vec<(&'static str, i64)>,
    },
}

impl RowWrites {
    /// Nothing staged.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether nothing is staged.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Inserts a row of `table` with `key` and `columns`, unless a row with
    /// that key exists (`ON CONFLICT (key) DO NOTHING`).
    pub fn insert(&mut self, table: &str, key: Key, columns: Vec<(&'static str, Value)>) {
        let mut all = key.clone();
        all.extend(columns);
        self.push(table, key, ChangeKind::Insert(all));
    }

    /// Sets `columns` of the row of `table` with `key`, if there is one.
    pub fn set(&mut self, table: &str, key: Key, columns: Vec<(&'static str, Value)>) {
        self.update(table, key, columns, Vec::new());
    }

    /// Adds to integer `columns` of the row of `table` with `key`, if there
    /// is one.
    pub fn add(&mut self, table: &str, key: Key, columns: Vec<(&'static str, i64)>) {
        self.update(table, key, Vec::new(), columns);
    }

    fn update(
        &mut self,
        table: &str,
        key: Key,
        sets: Vec<(&'static str, Value)>,
        adds: Vec<(&'static str, i64)>,
    ) {
        if sets.is_empty() && adds.is_empty() {
            return;
        }
        // One order of columns, so that like changes share one statement.
        let Some((sets, adds)) = merge(&[], &[], &sets, &adds) else {
            return self.push(table, key, ChangeKind::Update { sets, adds });
        };
        if let Some(&index) = self.last.get(&row_id(table, &key)) {
            if let ChangeKind::Update {
                sets: earlier_sets,
                adds: earlier_adds,
            } = &mut self.changes[index].kind
            {
                if let Some((merged_sets, merged_adds)) =
                    merge(earlier_sets, earlier_adds, &sets, &adds)
                {
                    *earlier_sets = merged_sets;
                    *earlier_adds = merged_adds;
                    return;
                }
            }
        }
        self.push(table, key, ChangeKind::Update { sets, adds });
    }

    fn push(&mut self, table: &str, key: Key, kind: ChangeKind) {
        let id = row_id(table, &key);
        let round = self
            .last
            .get(&id)
            .map_or(0, |&index| self.changes[index].round + 1);
        self.last.insert(id, self.changes.len());
        self.changes.push(Change {
            table: table.to_owned(),
            key,
            round,
            kind,
        });
    }

    /// Writes every staged change in `tx`, round by round, one statement per
    /// shape of change and round (and per [`MAX_PARAMS`] parameters), and
    /// leaves nothing staged.
    pub async fn flush(&mut self, tx: &mut Tx) -> Result<(), ProjectionError> {
        let changes = std::mem::take(&mut self.changes);
        self.last.clear();
        let rounds = changes.iter().map(|c| c.round + 1).max().unwrap_or(0);
        for round in 0..rounds {
            // Shapes in the order first staged, so statements are predictable.
            let mut shapes: Vec<(String, Vec<&Change>)> = Vec::new();
            let mut index: HashMap<String, usize> = HashMap::new();
            for change in changes.iter().filter(|c| c.round == round) {
                let shape = shape(change);
                let at = *index.entry(shape.clone()).or_insert_with(|| {
                    shapes.push((shape, Vec::new()));
                    shapes.len() - 1
                });
                shapes[at].1.push(change);
            }
            let mut chunks: Vec<&[&Change]> = Vec::new();
            for (_, group) in &shapes {
                let per_row = params_per_row(group[0]).max(1);
                chunks.extend(group.chunks((MAX_PARAMS / per_row).max(1)));
            }
            // On PostgreSQL a round's statements travel as one: each is a
            // data-modifying WITH of a single statement. They change
            // different rows (a row changes once per round) and so may run
            // together, from one snapshot, in any order.
            let together = matches!(tx, Tx::Postgres(_));
            let mut from = 0;
            while from < chunks.len() {
                let mut to = from + 1;
                let mut params = params_of(chunks[from]);
                while together && to < chunks.len() && params + params_of(chunks[to]) <= MAX_PARAMS
                {
                    params += params_of(chunks[to]);
                    to += 1;
                }
                let (sql, params) = statements(&chunks[from..to]);
                tx.execute(&sql, &params).await?;
                from = to;
            }
        }
        Ok(())
    }
}

/// The identity of a row.
fn row_id(table: &str, key: &Key) -> String {
    format!("{table}\u{0}{key:?}")
}

/// Two consecutive updates of one row as one, if their effect can be had so.
#[allow(clippy::type_complexity)]
fn merge(
    sets: &[(&'static str, Value)],
    adds: &[(&'static str, i64)],
    later_sets: &[(&'static str, Value)],
    later_adds: &[(&'static str, i64)],
) -> Option<(Vec<(&'static str, Value)>, Vec<(&'static str, i64)>)> {
    let mut sets: BTreeMap<&'static str, Value> = sets.iter().cloned().collect();
    let mut adds: BTreeMap<&'static str, i64> = adds.iter().copied().collect();
    for (column, value) in later_sets {
        adds.remove(column);
        sets.insert(column, value.clone());
    }
    for &(column, delta) in later_adds {
        if let Some(value) = sets.get_mut(column) {
            // Added to a value set in this batch: the sum is the new value.
            let Value::Int(n) = value else { return None };
            *n = n.checked_add(delta)?;
        } else {
            let total = adds.entry(column).or_insert(0);
            *total = total.checked_add(delta)?;
        }
    }
    Some((sets.into_iter().collect(), adds.into_iter().collect()))
}

/// The SQL kind of a value, for grouping and casts.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "NULL",
        Value::Int(_) => "BIGINT",
        Value::Real(_) => "DOUBLE PRECISION",
        Value::Text(_) => "TEXT",
    }
}

/// What changes written by one statement share: the table, the kind of
/// change, the columns and the kinds of their values (a NULL is written
/// as a literal, so it needs no type).
fn shape(change: &Change) -> String {
    let mut shape = change.table.clone();
    for (column, value) in &change.key {
        shape.push_str(&format!("|{column}:{}", kind(value)));
    }
    match &change.kind {
        ChangeKind::Insert(columns) => {
            shape.push_str("|insert");
            for (column, value) in columns {
                shape.push_str(&format!("|{column}:{}", kind(value)));
            }
        }
        ChangeKind::Update { sets, adds } => {
            shape.push_str("|update");
            for (column, value) in sets {
                shape.push_str(&format!("|{column}={}", kind(value)));
            }
            for (column, _) in adds {
                shape.push_str(&format!("|{column}+"));
            }
        }
    }
    shape
}

/// Parameters one change of this shape binds.
fn params_per_row(change: &Change) -> usize {
    match &change.kind {
        ChangeKind::Insert(columns) => columns
            .iter()
            .filter(|(_, v)| !matches!(v, Value::Null))
            .count(),
        ChangeKind::Update { sets, adds } => {
            change.key.len()
                + sets
                    .iter()
                    .filter(|(_, v)| !matches!(v, Value::Null))
                    .count()
                + adds.len()
        }
    }
}

/// Parameters a statement for these changes (of one shape) binds.
fn params_of(changes: &[&Change]) -> usize {
    changes.len() * params_per_row(changes[0])
}

/// One statement for changes of one shape each, as one statement: alone,
/// or each a data-modifying `WITH` of one (PostgreSQL).
fn statements(chunks: &[&[&Change]]) -> (String, Vec<Value>) {
    let mut params = Vec::new();
    let mut parts = Vec::with_capacity(chunks.len());
    for chunk in chunks {
        parts.push(statement(chunk, &mut params));
    }
    if parts.len() == 1 {
        return (parts.swap_remove(0), params);
    }
    let parts: Vec<String> = parts
        .iter()
        .enumerate()
        .map(|(i, part)| format!("w{i} AS ({part})"))
        .collect();
    (format!("WITH {} SELECT 1", parts.join(", ")), params)
}

/// One statement for changes of one shape, its parameters numbered after
/// those already in `params`.
fn statement(changes: &[&Change], params: &mut Vec<Value>) -> String {
    let first = changes[0];
    params.reserve(params_of(changes));
    let mut next = |value: &Value, cast: bool| -> String {
        if matches!(value, Value::Null) {
            return "NULL".to_owned();
        }
        params.push(value.clone());
        if cast {
            format!("CAST(${} AS {})", params.len(), kind(value))
        } else {
            format!("${}", params.len())
        }
    };
    match &first.kind {
        ChangeKind::Insert(columns) => {
            let names: Vec<&str> = columns.iter().map(|(c, _)| *c).collect();
            let mut rows = Vec::with_capacity(changes.len());
            for change in changes {
                let ChangeKind::Insert(columns) = &change.kind else {
                    unreachable!("one shape")
                };
                let values: Vec<String> = columns.iter().map(|(_, v)| next(v, false)).collect();
                rows.push(format!("({})", values.join(", ")));
            }
            let key: Vec<&str> = first.key.iter().map(|(c, _)| *c).collect();
            format!(
                "INSERT INTO {} ({}) VALUES {} ON CONFLICT ({}) DO NOTHING",
                first.table,
                names.join(", "),
                rows.join(", "),
                key.join(", ")
            )
        }
        ChangeKind::Update { sets, adds } => {
            // The keys and new values travel in a VALUES list
            // `v(k0, …, c1, c2, …)`, cast to their kinds (a VALUES list has
            // no target to take them from).
            let mut rows = Vec::with_capacity(changes.len());
            for change in changes {
                let ChangeKind::Update { sets, adds } = &change.kind else {
                    unreachable!("one shape")
                };
                let mut values: Vec<String> =
                    change.key.iter().map(|(_, v)| next(v, true)).collect();
                values.extend(
                    sets.iter()
                        .filter(|(_, v)| !matches!(v, Value::Null))
                        .map(|(_, v)| next(v, true)),
                );
                values.extend(adds.iter().map(|(_, d)| next(&Value::Int(*d), true)));
                rows.push(format!("({})", values.join(", ")));
            }
            let table = &first.table;
            let mut names: Vec<String> = (0..first.key.len()).map(|i| format!("k{i}")).collect();
            let matches: Vec<String> = first
                .key
                .iter()
                .enumerate()
                .map(|(i, (column, _))| format!("{table}.{column} = v.k{i}"))
                .collect();
            let mut assignments = Vec::new();
            for (column, value) in sets {
                if matches!(value, Value::Null) {
                    assignments.push(format!("{column} = NULL"));
                } else {
                    let name = format!("c{}", names.len());
                    assignments.push(format!("{column} = v.{name}"));
                    names.push(name);
                }
            }
            for (column, _) in adds {
                let name = format!("c{}", names.len());
                assignments.push(format!("{column} = {table}.{column} + v.{name}"));
                names.push(name);
            }
            format!(
                "WITH v ({}) AS (VALUES {}) UPDATE {table} SET {} FROM v WHERE {}",
                names.join(", "),
                rows.join(", "),
                assignments.join(", "),
                matches.join(" AND ")
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Value {
        Value::from(s)
    }

    #[test]
    fn consecutive_updates_of_a_row_merge_and_inserts_start_a_round() {
        let mut writes = RowWrites::new();
        writes.insert("t", vec![("id", text("a"))], vec![("n", Value::Int(1))]);
        writes.set(
            "t",
            vec![("id", text("a"))],
            vec![("s", text("x")), ("n", Value::Int(5))],
        );
        writes.add("t", vec![("id", text("a"))], vec![("n", 2), ("m", 3)]);
        writes.add("t", vec![("id", text("a"))], vec![("m", 4)]);
        writes.set("t", vec![("id", text("b"))], vec![("s", text("y"))]);
        let rounds: Vec<usize> = writes.changes.iter().map(|c| c.round).collect();
        assert_eq!(rounds, vec![0, 1, 0]);
        let ChangeKind::Update { sets, adds } = &writes.changes[1].kind else {
            panic!("an update")
        };
        assert_eq!(sets, &vec![("n", Value::Int(7)), ("s", text("x"))]);
        assert_eq!(adds, &vec![("m", 7)]);
    }

    #[test]
    fn an_addition_to_a_column_set_to_text_waits_for_the_next_round() {
        let mut writes = RowWrites::new();
        writes.set("t", vec![("id", text("a"))], vec![("n", text("x"))]);
        writes.add("t", vec![("id", text("a"))], vec![("n", 1)]);
        writes.set("t", vec![("id", text("a"))], vec![("n", Value::Int(0))]);
        let rounds: Vec<usize> = writes.changes.iter().map(|c| c.round).collect();
        assert_eq!(rounds, vec![0, 1]);
        let ChangeKind::Update { sets, adds } = &writes.changes[1].kind else {
            panic!("an update")
        };
        assert_eq!(sets, &vec![("n", Value::Int(0))]);
        assert!(adds.is_empty());
    }

    #[test]
    fn one_statement_per_shape_with_nulls_written_as_literals() {
        let a = Change {
            table: "t".into(),
            key: vec![("id", text("a"))],
            round: 0,
            kind: ChangeKind::Update {
                sets: vec![("s", text("x")), ("q", Value::Null)],
                adds: vec![("n", 2)],
            },
        };
        let mut b = a.clone();
        b.key = vec![("id", text("b"))];
        assert_eq!(shape(&a), shape(&b));
        let (sql, params) = statements(&[&[&a, &b]]);
        assert_eq!(
            sql,
            "WITH v (k0, c1, c2) AS (VALUES (CAST($1 AS TEXT), CAST($2 AS TEXT), CAST($3 AS BIGINT)), \
             (CAST($4 AS TEXT), CAST($5 AS TEXT), CAST($6 AS BIGINT))) \
             UPDATE t SET s = v.c1, q = NULL, n = t.n + v.c2 FROM v WHERE t.id = v.k0"
        );
        assert_eq!(params.len(), 6);
        let mut c = a.clone();
        c.kind = ChangeKind::Update {
            sets: vec![("s", Value::Null), ("q", Value::Null)],
            adds: vec![("n", 2)],
        };
        assert_ne!(shape(&a), shape(&c));
    }

    #[test]
    fn a_key_of_several_columns_names_its_row_by_all_of_them() {
        let key = vec![("tx", Value::Int(7)), ("seq", Value::Int(2))];
        let mut writes = RowWrites::new();
        writes.insert("t", key.clone(), vec![("s", text("x"))]);
        writes.set("t", key.clone(), vec![("s", text("y"))]);
        writes.set(
            "t",
            vec![("tx", Value::Int(7)), ("seq", Value::Int(3))],
            vec![("s", text("z"))],
        );
        let rounds: Vec<usize> = writes.changes.iter().map(|c| c.round).collect();
        assert_eq!(rounds, vec![0, 1, 0]);
        let (insert, _) = statements(&[&[&writes.changes[0]]]);
        assert_eq!(
            insert,
            "INSERT INTO t (tx, seq, s) VALUES ($1, $2, $3) ON CONFLICT (tx, seq) DO NOTHING"
        );
        let (update, params) = statements(&[&[&writes.changes[1]]]);
        assert_eq!(
            update,
            "WITH v (k0, k1, c2) AS (VALUES (CAST($1 AS BIGINT), CAST($2 AS BIGINT), \
             CAST($3 AS TEXT))) UPDATE t SET s = v.c2 FROM v WHERE t.tx = v.k0 AND t.seq = v.k1"
        );
        assert_eq!(params, vec![Value::Int(7), Value::Int(2), text("y")]);
    }

    #[test]
    fn statements_together_number_their_parameters_in_turn() {
        let insert = Change {
            table: "t".into(),
            key: vec![("id", text("a"))],
            round: 0,
            kind: ChangeKind::Insert(vec![("id", text("a")), ("n", Value::Int(1))]),
        };
        let update = Change {
            table: "u".into(),
            key: vec![("id", text("b"))],
            round: 0,
            kind: ChangeKind::Update {
                sets: vec![("s", text("x"))],
                adds: vec![],
            },
        };
        let (sql, params) = statements(&[&[&insert], &[&update]]);
        assert_eq!(
            sql,
            "WITH w0 AS (INSERT INTO t (id, n) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING), \
             w1 AS (WITH v (k0, c1) AS (VALUES (CAST($3 AS TEXT), CAST($4 AS TEXT))) \
             UPDATE u SET s = v.c1 FROM v WHERE u.id = v.k0) SELECT 1"
        );
        assert_eq!(params, vec![text("a"), Value::Int(1), text("b"), text("x")]);
    }
}
