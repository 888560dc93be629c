-- Gap-safe readers wait only for transactions that may append to this log.
--
-- Readers used to stop at their snapshot's xmin, so any open transaction of
-- the cluster that had written anything (in any database) held every reader
-- of every log back. Now every transaction that may append takes a shared
-- advisory lock, the appender marker (1095189334, hashtext(schema)), before it
-- is assigned a transaction id: agentos_append takes it first thing, and a
-- unit of work takes it when it begins. A reader first lists the transaction
-- ids of the marker's holders together with its snapshot's xmax, then reads
-- below the oldest of them still in progress in its next snapshot (and below
-- that first xmax). A transaction it does not wait for either finished before
-- the read's snapshot, or holds no marker and so never appends, or got its
-- id after the first snapshot and so lies above the horizon.

CREATE OR REPLACE FUNCTION agentos_append(
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
    -- Mark this transaction as one that may append to this schema's log, and
    -- serialise appends to this stream, both before a transaction id is assigned.
    PERFORM pg_advisory_xact_lock_shared(1095189334, hashtext(current_schema()));
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
