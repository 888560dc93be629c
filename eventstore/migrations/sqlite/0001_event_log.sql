-- The event log on SQLite: the same tables as on PostgreSQL. One writer at a
-- time (BEGIN IMMEDIATE), so the global order is simply the row id.

CREATE TABLE streams (
    stream_id  TEXT PRIMARY KEY,
    category   TEXT    NOT NULL,
    version    INTEGER NOT NULL CHECK (version > 0),
    head_hash  BLOB    NOT NULL CHECK (length(head_hash) = 32)
);

CREATE TABLE events (
    position        INTEGER PRIMARY KEY,
    stream_id       TEXT    NOT NULL,
    category        TEXT    NOT NULL,
    stream_version  INTEGER NOT NULL CHECK (stream_version > 0),
    event_id        BLOB    NOT NULL,
    event_type      TEXT    NOT NULL,
    schema_version  INTEGER NOT NULL CHECK (schema_version > 0),
    payload         TEXT    NOT NULL CHECK (json_valid(payload)),
    correlation_id  BLOB    NOT NULL,
    causation_id    BLOB,
    command_id      BLOB,
    actor           TEXT    NOT NULL,
    recorded_at     INTEGER NOT NULL,   -- microseconds since the Unix epoch
    prev_hash       BLOB    NOT NULL,
    hash            BLOB    NOT NULL,
    CONSTRAINT events_stream_version UNIQUE (stream_id, stream_version),
    CONSTRAINT events_event_id UNIQUE (event_id)
);

CREATE TABLE commands (
    command_id     BLOB PRIMARY KEY,
    stream_id      TEXT    NOT NULL,
    first_version  INTEGER NOT NULL,
    last_version   INTEGER NOT NULL,
    last_position  INTEGER NOT NULL
);

CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'the events table is append-only: UPDATE is not allowed'); END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'the events table is append-only: DELETE is not allowed'); END;
CREATE TRIGGER commands_no_update BEFORE UPDATE ON commands
BEGIN SELECT RAISE(ABORT, 'the commands table is append-only: UPDATE is not allowed'); END;
CREATE TRIGGER commands_no_delete BEFORE DELETE ON commands
BEGIN SELECT RAISE(ABORT, 'the commands table is append-only: DELETE is not allowed'); END;
CREATE TRIGGER streams_no_delete BEFORE DELETE ON streams
BEGIN SELECT RAISE(ABORT, 'the streams table is append-only: DELETE is not allowed'); END;
