-- The canonical bytes of an event travel in two parts, around its payload:
-- canonical = head || payload || tail (eventstore/src/chain.rs), the tail
-- shared by every event of one append. The whole canonical bytes used to be
-- sent beside the payload, so every payload crossed the wire twice, and a
-- 100-event append sent about twice the bytes of a raw INSERT of its rows.

DROP FUNCTION agentos_append(text, text, bigint, uuid, uuid[], text[], int[], text[], bytea[],
                             uuid, uuid, text, timestamptz);

CREATE FUNCTION agentos_append(
    p_stream text, p_category text, p_expected bigint, p_command_id uuid,
    p_event_ids uuid[], p_event_types text[], p_schema_versions int[],
    p_payloads text[], p_heads bytea[], p_tail bytea,
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
        v_hash := sha256(v_hash || int8send(v_version + i) || p_heads[i]
                         || convert_to(p_payloads[i], 'UTF8') || p_tail);
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

-- Group commit: the single appends waiting at once, in one transaction.
--
-- Writers that append one event each pay a transaction apiece (its id, its
-- commit record, the wait for the write-ahead log's flush, a round trip),
-- and that, not the append's own work, is what a raw single-row INSERT
-- mostly costs. The store queues concurrent appends and a few lanes each
-- send what waits as one call of this function.
--
-- The function does set-wise what agentos_append does for one append: one
-- read of the streams' heads, one of the command ids, one INSERT of all the
-- events, one of the heads and one of the commands, with the checks and the
-- hash chains worked out in between. (Calling agentos_append once per append
-- instead kept most of a transaction's cost: its statements' executor set-up
-- and PL/pgSQL's, about twice a raw INSERT's.)
--
-- Every append keeps its own checks and answer, as agentos_append gives
-- them: a version conflict or a reused command id refuses that append alone
-- and writes nothing of it; an append to a stream an earlier append of the
-- group wrote to is checked against, and chained to, what that one wrote.
-- A command id that repeats within the group is answered 'retry' after its
-- first: once the group commits, the retry finds it stored. An error that
-- aborts the statement (an event id already stored) aborts the group; the
-- store then makes each alone, so that each gets its own answer.
--
-- The streams' locks are taken first, before the transaction is assigned an
-- id: no stream's last writer can have an id above this transaction's, so
-- no append of a group is asked to retry. They are only tried: an append to
-- a stream whose lock another transaction holds is answered 'busy', and the
-- store makes it alone, waiting for that lock on a connection of its own.
--
-- p_counts[i] events of append i follow those of append i - 1 in the event
-- arrays; p_tails[i] is the end of the canonical bytes of each of its events
-- (see agentos_append above). Returns one row per append, out_at = i, with
-- agentos_append's answer.

CREATE FUNCTION agentos_append_group(
    p_streams text[], p_categories text[], p_expected bigint[], p_command_ids uuid[],
    p_counts int[], p_event_ids uuid[], p_event_types text[], p_schema_versions int[],
    p_payloads text[], p_heads bytea[], p_tails bytea[],
    p_correlation_ids uuid[], p_causation_ids uuid[], p_actors text[],
    p_recorded_at timestamptz[])
RETURNS TABLE (out_at int, out_status text, out_stream text, out_first_version bigint,
               out_last_version bigint, out_tx_id bigint, out_last_position bigint)
LANGUAGE plpgsql
-- Its statements' plans do not depend on the arrays' contents: planned once.
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    n           int := cardinality(p_streams);
    v_tx        bigint;
    -- The heads of the group's streams that exist, then as each admitted
    -- append leaves them (h_last_tx = v_tx: written by this group).
    h_streams    text[];
    h_categories text[];
    h_versions   bigint[];
    h_hashes     bytea[];
    h_last_tx    bigint[];
    h_count      int;
    -- The stored commands of the group's command ids.
    c_ids       uuid[];
    c_streams   text[];
    c_first     bigint[];
    c_last      bigint[];
    c_tx        bigint[];
    c_positions bigint[];
    -- Each append's answer.
    a_status    text[] := array_fill(NULL::text, ARRAY[n]);
    a_stream    text[] := array_fill(NULL::text, ARRAY[n]);
    a_first     bigint[] := array_fill(NULL::bigint, ARRAY[n]);
    a_last      bigint[] := array_fill(NULL::bigint, ARRAY[n]);
    a_tx        bigint[] := array_fill(NULL::bigint, ARRAY[n]);
    a_position  bigint[] := array_fill(NULL::bigint, ARRAY[n]);
    -- The admitted events: their append, their place in the event
    -- arrays, their version and their links.
    e_at        int[] := '{}';
    e_src       int[] := '{}';
    e_version   bigint[] := '{}';
    e_prev      bytea[] := '{}';
    e_hash      bytea[] := '{}';
    e_count     int := 0;
    v_busy      text[];
    r_at        int[];
    r_position  bigint[];
    v_from      int := 1;
    v_version   bigint;
    v_hash      bytea;
    h           int;
    c           int;
BEGIN
    -- As agentos_append: the appender marker and the streams' locks before
    -- this transaction is assigned an id. A group never waits for a
    -- stream's lock: it would hold up every append queued behind it, and a
    -- caller holding that lock in a transaction of its own while it waits
    -- for a group would never see it released. A stream whose lock is
    -- taken is busy: its appends are answered 'busy', and are made alone.
    PERFORM pg_advisory_xact_lock_shared(1095189334, hashtext(current_schema()));
    SELECT coalesce(array_agg(t.stream), '{}') INTO v_busy
      FROM (SELECT DISTINCT s AS stream FROM unnest(p_streams) s) t
     WHERE NOT pg_try_advisory_xact_lock(1095189332, hashtext(t.stream));
    v_tx := pg_current_xact_id()::text::bigint;

    -- The heads of the streams and the commands stored, in one statement.
    SELECT h.streams, h.categories, h.versions, h.hashes, h.last_tx,
           k.ids, k.streams, k.first, k.last, k.tx, k.positions
      INTO h_streams, h_categories, h_versions, h_hashes, h_last_tx,
           c_ids, c_streams, c_first, c_last, c_tx, c_positions
      FROM (SELECT coalesce(array_agg(s.stream_id), '{}') AS streams,
                   coalesce(array_agg(s.category), '{}') AS categories,
                   coalesce(array_agg(s.version), '{}') AS versions,
                   coalesce(array_agg(s.head_hash), '{}') AS hashes,
                   coalesce(array_agg(s.last_tx), '{}') AS last_tx
              FROM streams s WHERE s.stream_id = ANY(p_streams)) h,
           (SELECT array_agg(c.command_id) AS ids, array_agg(c.stream_id) AS streams,
                   array_agg(c.first_version) AS first, array_agg(c.last_version) AS last,
                   array_agg(c.tx_id) AS tx, array_agg(c.last_position) AS positions
              FROM commands c WHERE c.command_id = ANY(p_command_ids)) k;
    h_count := cardinality(h_streams);

    FOR i IN 1 .. n LOOP
        c := array_position(c_ids, p_command_ids[i]);
        IF p_streams[i] = ANY(v_busy) THEN
            a_status[i] := 'busy';
        ELSIF c IS NOT NULL THEN
            a_status[i] := CASE WHEN c_streams[c] = p_streams[i] THEN 'duplicate' ELSE 'command_reused' END;
            a_stream[i] := c_streams[c];
            a_first[i] := c_first[c];
            a_last[i] := c_last[c];
            a_tx[i] := c_tx[c];
            a_position[i] := c_positions[c];
        ELSIF i > 1 AND p_command_ids[i] = ANY(p_command_ids[1:i - 1]) THEN
            a_status[i] := 'retry';
        ELSE
            h := array_position(h_streams, p_streams[i]);
            IF h IS NULL THEN
                v_version := 0;
                v_hash := decode(repeat('00', 32), 'hex');
            ELSE
                v_version := h_versions[h];
                v_hash := h_hashes[h];
            END IF;
            IF p_expected[i] >= 0 AND p_expected[i] <> v_version THEN
                a_status[i] := 'conflict';
                a_last[i] := v_version;
            ELSIF h IS NOT NULL AND h_last_tx[h] > v_tx THEN
                a_status[i] := 'retry';
            ELSE
                FOR k IN 0 .. p_counts[i] - 1 LOOP
                    e_count := e_count + 1;
                    e_at[e_count] := i;
                    e_src[e_count] := v_from + k;
                    e_version[e_count] := v_version + k + 1;
                    e_prev[e_count] := v_hash;
                    v_hash := sha256(v_hash || int8send(v_version + k + 1) || p_heads[v_from + k]
                                     || convert_to(p_payloads[v_from + k], 'UTF8') || p_tails[i]);
                    e_hash[e_count] := v_hash;
                END LOOP;
                a_status[i] := 'appended';
                a_stream[i] := p_streams[i];
                a_first[i] := v_version + 1;
                a_last[i] := v_version + p_counts[i];
                a_tx[i] := v_tx;
                IF h IS NULL THEN
                    h_count := h_count + 1;
                    h := h_count;
                    h_streams[h] := p_streams[i];
                    h_categories[h] := p_categories[i];
                END IF;
                h_versions[h] := a_last[i];
                h_hashes[h] := v_hash;
                h_last_tx[h] := v_tx;
            END IF;
        END IF;
        v_from := v_from + p_counts[i];
    END LOOP;

    -- The events, then the heads and the commands, in one statement.
    IF e_count > 0 THEN
        WITH inserted AS (
            INSERT INTO events (tx_id, stream_id, category, stream_version, event_id, event_type,
                                schema_version, payload, correlation_id, causation_id, command_id,
                                actor, recorded_at, prev_hash, hash)
            SELECT v_tx, p_streams[e.at], p_categories[e.at], e.version, p_event_ids[e.src],
                   p_event_types[e.src], p_schema_versions[e.src], p_payloads[e.src]::json,
                   p_correlation_ids[e.at], p_causation_ids[e.at], p_command_ids[e.at],
                   p_actors[e.at], p_recorded_at[e.at], e.prev, e.hash
              FROM unnest(e_at, e_src, e_version, e_prev, e_hash)
                   WITH ORDINALITY AS e(at, src, version, prev, hash, ord)
             ORDER BY e.ord
            RETURNING event_id, position
        ), last AS (
            SELECT e.at, max(i.position) AS position
              FROM inserted i
              JOIN unnest(e_at, e_src) AS e(at, src) ON p_event_ids[e.src] = i.event_id
             GROUP BY e.at
        ), heads AS (
            INSERT INTO streams AS s (stream_id, category, version, head_hash, last_tx)
            SELECT u.stream, u.category, u.version, u.hash, v_tx
              FROM unnest(h_streams, h_categories, h_versions, h_hashes, h_last_tx)
                   AS u(stream, category, version, hash, last_tx)
             WHERE u.last_tx = v_tx
            ON CONFLICT (stream_id) DO UPDATE
               SET version = excluded.version, head_hash = excluded.head_hash,
                   last_tx = excluded.last_tx
        ), commands AS (
            INSERT INTO commands (command_id, stream_id, first_version, last_version, tx_id,
                                  last_position)
            SELECT p_command_ids[l.at], p_streams[l.at], a_first[l.at], a_last[l.at], v_tx,
                   l.position
              FROM last l
             WHERE p_command_ids[l.at] IS NOT NULL
        )
        SELECT array_agg(l.at), array_agg(l.position) INTO r_at, r_position FROM last l;
        FOR k IN 1 .. cardinality(r_at) LOOP
            a_position[r_at[k]] := r_position[k];
        END LOOP;
    END IF;

    RETURN QUERY
        SELECT i, a_status[i], a_stream[i], a_first[i], a_last[i], a_tx[i], a_position[i]
          FROM generate_series(1, n) i;
END
$$;
