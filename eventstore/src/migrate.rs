//! Schema migrations, embedded in the binary: numbered plain-SQL files under
//! `migrations/<backend>/`, applied in order inside one transaction, recorded
//! with a checksum in `agentos_schema`.
//!
//! A database whose schema is newer than the binary is refused before
//! anything is changed; a recorded migration whose text differs from the
//! binary's is reported, not re-run.

use sha2::{Digest, Sha256};

use crate::StoreError;

/// One schema change.
#[derive(Debug)]
pub struct Migration {
    /// Its number, from 1, without gaps.
    pub version: i64,
    /// A short name.
    pub name: &'static str,
    /// The SQL to run.
    pub sql: &'static str,
}

impl Migration {
    /// The hex SHA-256 of its SQL.
    pub fn checksum(&self) -> String {
        hex::encode(Sha256::digest(self.sql.as_bytes()))
    }
}

/// PostgreSQL's migrations.
pub const POSTGRES: &[Migration] = &[
    Migration {
        version: 1,
        name: "event_log",
        sql: include_str!("../migrations/postgres/0001_event_log.sql"),
    },
    Migration {
        version: 2,
        name: "relay",
        sql: include_str!("../migrations/postgres/0002_relay.sql"),
    },
    Migration {
        version: 3,
        name: "consumers",
        sql: include_str!("../migrations/postgres/0003_consumers.sql"),
    },
    Migration {
        version: 4,
        name: "appender_marker",
        sql: include_str!("../migrations/postgres/0004_appender_marker.sql"),
    },
    Migration {
        version: 5,
        name: "read_all",
        sql: include_str!("../migrations/postgres/0005_read_all.sql"),
    },
    Migration {
        version: 6,
        name: "appends",
        sql: include_str!("../migrations/postgres/0006_appends.sql"),
    },
    Migration {
        version: 7,
        name: "append_all",
        sql: include_str!("../migrations/postgres/0007_append_all.sql"),
    },
    Migration {
        version: 8,
        name: "client_chains",
        sql: include_str!("../migrations/postgres/0008_client_chains.sql"),
    },
];

/// SQLite's migrations.
pub const SQLITE: &[Migration] = &[
    Migration {
        version: 1,
        name: "event_log",
        sql: include_str!("../migrations/sqlite/0001_event_log.sql"),
    },
    Migration {
        version: 2,
        name: "consumers",
        sql: include_str!("../migrations/sqlite/0002_consumers.sql"),
    },
];

/// Which of `known` still need applying, given the (version, checksum) rows
/// already recorded; refuses a newer or a different history.
pub fn pending<'a>(
    known: &'a [Migration],
    applied: &[(i64, String)],
) -> Result<&'a [Migration], StoreError> {
    let binary = known.last().map_or(0, |m| m.version);
    if let Some(database) = applied
        .iter()
        .map(|(v, _)| *v)
        .max()
        .filter(|v| *v > binary)
    {
        return Err(StoreError::SchemaTooNew { database, binary });
    }
    for (version, checksum) in applied {
        let migration = known
            .iter()
            .find(|m| m.version == *version)
            .ok_or_else(|| {
                StoreError::Migration(format!("the database records unknown migration {version}"))
            })?;
        if migration.checksum() != *checksum {
            return Err(StoreError::Migration(format!(
                "migration {version} ({}) recorded in the database differs from this binary's; \
                 the schema was changed by hand or by another build",
                migration.name
            )));
        }
    }
    let done = applied.len();
    if known
        .iter()
        .take(done)
        .any(|m| !applied.iter().any(|(v, _)| *v == m.version))
    {
        return Err(StoreError::Migration(
            "the database's migration history has gaps".to_owned(),
        ));
    }
    Ok(&known[done..])
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: &[Migration] = &[
        Migration {
            version: 1,
            name: "a",
            sql: "CREATE TABLE a (x int);",
        },
        Migration {
            version: 2,
            name: "b",
            sql: "CREATE TABLE b (x int);",
        },
    ];

    fn applied(n: usize) -> Vec<(i64, String)> {
        KNOWN[..n]
            .iter()
            .map(|m| (m.version, m.checksum()))
            .collect()
    }

    #[test]
    fn a_fresh_database_gets_every_migration_and_an_up_to_date_one_none() {
        assert_eq!(pending(KNOWN, &[]).map(<[_]>::len).ok(), Some(2));
        assert_eq!(
            pending(KNOWN, &applied(1)).map(|p| p[0].version).ok(),
            Some(2)
        );
        assert_eq!(pending(KNOWN, &applied(2)).map(<[_]>::len).ok(), Some(0));
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let mut rows = applied(2);
        rows.push((3, "x".to_owned()));
        assert!(matches!(
            pending(KNOWN, &rows),
            Err(StoreError::SchemaTooNew {
                database: 3,
                binary: 2
            })
        ));
    }

    #[test]
    fn a_changed_migration_is_reported() {
        let rows = vec![(1, "0".repeat(64))];
        assert!(matches!(
            pending(KNOWN, &rows),
            Err(StoreError::Migration(_))
        ));
    }

    #[test]
    fn the_embedded_migrations_are_numbered_from_one_without_gaps() {
        for list in [POSTGRES, SQLITE] {
            for (i, m) in list.iter().enumerate() {
                assert_eq!(m.version, i as i64 + 1, "{}", m.name);
            }
        }
    }
}
