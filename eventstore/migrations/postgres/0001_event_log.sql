-- The event log: streams, their events, and the commands that appended them.
--
-- Global order. Every event carries the id of the transaction that wrote it
-- (tx_id) and a sequence number (position). Readers order by (tx_id, position)
-- and only read transactions older than their snapshot's xmin: every
-- transaction below xmin has finished, so no event can later commit in front
-- of what a reader has seen. Writers never share a lock for this; a stream's
-- appends are serialised by a per-stream advisory lock taken before the
-- transaction id is assigned, so a stream's versions follow the global order.

CREATE TABLE streams (
    stream_id  text COLLATE "C" PRIMARY KEY,
    category   text   NOT NULL,
    version    bigint NOT NULL CHECK (version > 0),
    head_hash  bytea  NOT NULL CHECK (length(head_hash) = 32),
    last_tx    bigint NOT NULL
) WITH (fillfactor = 80);

CREATE TABLE events (
    tx_id           bigint NOT NULL,
    position        bigint GENERATED ALWAYS AS IDENTITY,
    stream_id       text COLLATE "C" NOT NULL,
    category        text   NOT NULL,
    stream_version  bigint NOT NULL CHECK (stream_version > 0),
    event_id        uuid   NOT NULL,
    event_type      text   NOT NULL,
    schema_version  int    NOT NULL CHECK (schema_version > 0),
    payload         json   NOT NULL,   -- json, not jsonb: the exact text is hashed
    correlation_id  uuid   NOT NULL,
    causation_id    uuid,
    command_id      uuid,
    actor           text   NOT NULL,
    recorded_at     timestamptz NOT NULL,
    prev_hash       bytea  NOT NULL,
    hash            bytea  NOT NULL,
    PRIMARY KEY (tx_id, position),
    CONSTRAINT events_stream_version UNIQUE (stream_id, stream_version),
    CONSTRAINT events_event_id UNIQUE (event_id)
);

-- Idempotency: a command id appends once, forever.
CREATE TABLE commands (
    command_id     uuid PRIMARY KEY,
    stream_id      text COLLATE "C" NOT NULL,
    first_version  bigint NOT NULL,
    last_version   bigint NOT NULL,
    tx_id          bigint NOT NULL,
    last_position  bigint NOT NULL
);

-- Append-only, enforced by the database itself.
CREATE FUNCTION agentos_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the % table is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION agentos_reject_change();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION agentos_reject_change();
CREATE TRIGGER commands_append_only BEFORE UPDATE OR DELETE ON commands
    FOR EACH ROW EXECUTE FUNCTION agentos_reject_change();
CREATE TRIGGER commands_no_truncate BEFORE TRUNCATE ON commands
    FOR EACH STATEMENT EXECUTE FUNCTION agentos_reject_change();
CREATE TRIGGER streams_no_delete BEFORE DELETE ON streams
    FOR EACH ROW EXECUTE FUNCTION agentos_reject_change();
CREATE TRIGGER streams_no_truncate BEFORE TRUNCATE ON streams
    FOR EACH STATEMENT EXECUTE FUNCTION agentos_reject_change();

-- Appends events to one stream in one round trip.
--
-- p_expected: -1 any version, else the exact version (0: no stream yet).
-- p_canonical[i]: the canonical bytes of event i (see eventstore/src/chain.rs);
-- hash = sha256(prev_hash || int8send(version) || canonical).
-- Returns out_status: 'appended', 'duplicate' (command id seen on this
-- stream: the first result is returned), 'command_reused' (seen on another
-- stream, named in out_stream), 'conflict' (out_last_version holds the
-- actual version) or 'retry' (the caller's transaction started before the
-- stream's last writer committed; retry the transaction).
CREATE FUNCTION agentos_append(
    p_stream text, p_category text, p_expected bigint, p_command_id uuid,
    p_event_ids uuid[], p_event_types text[], p_schema_versions int[],
    p_payloads text[], p_canonical bytea[],
    p_correlation_id uuid, p_causation_id uuid, p_actor text, p_recorded_at timestamptz,
    OUT out_status text, OUT out_stream text, OUT out_first_version bigint,
    OUT out_last_version bigint, OUT out_tx_id bigint, OUT out_last_position bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_version bigint;
    v_hash    bytea;
    v_last_tx bigint;
    v_count   int := cardinality(p_event_ids);
    v_prevs   bytea[] := '{}';
    v_hashes  bytea[] := '{}';
BEGIN
    -- Serialise appends to this stream before a transaction id is assigned.
    PERFORM pg_advisory_xact_lock(1095189332, hashtext(p_stream));

    IF p_command_id IS NOT NULL THEN
        SELECT c.stream_id, c.first_version, c.last_version, c.tx_id, c.last_position
          INTO out_stream, out_first_version, out_last_version, out_tx_id, out_last_position
          FROM commands c WHERE c.command_id = p_command_id;
        IF FOUND THEN
            out_status := CASE WHEN out_stream = p_stream THEN 'duplicate' ELSE 'command_reused' END;
            RETURN;
        END IF;
    END IF;

    SELECT s.version, s.head_hash, s.last_tx INTO v_version, v_hash, v_last_tx
      FROM streams s WHERE s.stream_id = p_stream;
    IF NOT FOUND THEN
        v_version := 0;
        v_hash := decode(repeat('00', 32), 'hex');
        v_last_tx := 0;
    END IF;

    IF p_expected >= 0 AND p_expected <> v_version THEN
        out_status := 'conflict';
        out_last_version := v_version;
        RETURN;
    END IF;

    out_tx_id := pg_current_xact_id()::text::bigint;
    IF v_last_tx > out_tx_id THEN
        out_status := 'retry';
        RETURN;
    END IF;

    FOR i IN 1 .. v_count LOOP
        v_prevs[i] := v_hash;
        v_hash := sha256(v_hash || int8send(v_version + i) || p_canonical[i]);
        v_hashes[i] := v_hash;
    END LOOP;

    WITH inserted AS (
        INSERT INTO events (tx_id, stream_id, category, stream_version, event_id, event_type,
                            schema_version, payload, correlation_id, causation_id, command_id,
                            actor, recorded_at, prev_hash, hash)
        SELECT out_tx_id, p_stream, p_category, v_version + e.ord, e.event_id, e.event_type,
               e.schema_version, e.payload::json, p_correlation_id, p_causation_id, p_command_id,
               p_actor, p_recorded_at, e.prev_hash, e.hash
          FROM unnest(p_event_ids, p_event_types, p_schema_versions, p_payloads, v_prevs, v_hashes)
               WITH ORDINALITY AS e(event_id, event_type, schema_version, payload, prev_hash, hash, ord)
         ORDER BY e.ord
        RETURNING position
    )
    SELECT max(position) INTO out_last_position FROM inserted;

    IF v_version = 0 THEN
        INSERT INTO streams (stream_id, category, version, head_hash, last_tx)
        VALUES (p_stream, p_category, v_count, v_hash, out_tx_id);
    ELSE
        UPDATE streams SET version = v_version + v_count, head_hash = v_hash, last_tx = out_tx_id
         WHERE stream_id = p_stream;
    END IF;

    out_first_version := v_version + 1;
    out_last_version := v_version + v_count;
    out_stream := p_stream;
    IF p_command_id IS NOT NULL THEN
        INSERT INTO commands (command_id, stream_id, first_version, last_version, tx_id, last_position)
        VALUES (p_command_id, p_stream, out_first_version, out_last_version, out_tx_id, out_last_position);
    END IF;
    out_status := 'appended';
END
$$;
