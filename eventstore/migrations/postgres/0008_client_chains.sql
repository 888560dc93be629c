-- An append's hash chain may come worked out by the client.
--
-- agentos_append chained every event itself: a PL/pgSQL loop of three
-- statements per event (the previous hash kept, the SHA-256 of the joined
-- canonical bytes, the hash kept). Timed in one session, that loop took
-- 0.37-0.43 ms for 100 events, beside about 0.7 ms for the INSERT of their
-- rows; `bench append` had 100-event appends at 0.54-0.77 of raw INSERTs.
--
-- Now a client that knows the stream's head (the version and hash it last
-- wrote there, say) sends the chain it built from that head: p_chained_from
-- is the head's version and p_hashes its hash followed by each event's. The
-- function uses that chain only when the stream's head is the one it was
-- built from; otherwise it chains the events itself from p_heads as before,
-- or, when the client sent no p_heads, answers 'stale' and writes nothing,
-- and the client sends the append again, unchained. A chain that does not
-- fit its events is refused outright. Whoever builds it, the chain is the
-- one `verify` checks: a wrong hash from a client is found there as any
-- other broken link.
--
-- The loop of the unchained path is one statement per event: the hashes are
-- kept in one array, headed by the stream's head, so that event i's previous
-- hash is element i and its own element i + 1. Two statements of every
-- append went too: the two locks are taken in one, and the last position
-- is the sequence's current value rather than the maximum of the inserted
-- rows gathered by a CTE.
--
-- The new answer column out_head is the stream's head hash after an append
-- ('appended'): what the client chains its next append to the stream from.
--
-- agentos_append_all (migration 0007) calls this function with the first 14
-- arguments and reads its answer by column name: the defaults keep it as it
-- was, unchained.

DROP FUNCTION agentos_append(text, text, bigint, uuid, uuid[], text[], int[], text[], bytea[],
                             bytea, uuid, uuid, text, timestamptz);

CREATE FUNCTION agentos_append(
    p_stream text, p_category text, p_expected bigint, p_command_id uuid,
    p_event_ids uuid[], p_event_types text[], p_schema_versions int[],
    p_payloads text[], p_heads bytea[], p_tail bytea,
    p_correlation_id uuid, p_causation_id uuid, p_actor text, p_recorded_at timestamptz,
    p_chained_from bigint DEFAULT NULL, p_hashes bytea[] DEFAULT NULL,
    OUT out_status text, OUT out_stream text, OUT out_first_version bigint,
    OUT out_last_version bigint, OUT out_tx_id bigint, OUT out_last_position bigint,
    OUT out_head bytea)
LANGUAGE plpgsql AS $$
DECLARE
    v_version bigint;
    v_hash    bytea;
    v_last_tx bigint;
    v_count   int := cardinality(p_event_ids);
    v_hashes  bytea[];
BEGIN
    IF p_hashes IS NOT NULL AND cardinality(p_hashes) <> v_count + 1 THEN
        RAISE EXCEPTION 'a chain of % hashes for % events', cardinality(p_hashes), v_count;
    END IF;

    -- Mark this transaction as one that may append to this schema's log, and
    -- serialise appends to this stream, both before a transaction id is assigned.
    PERFORM pg_advisory_xact_lock_shared(1095189334, hashtext(current_schema())),
            pg_advisory_xact_lock(1095189332, hashtext(p_stream));

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

    IF p_hashes IS NOT NULL AND p_chained_from = v_version AND p_hashes[1] = v_hash THEN
        v_hashes := p_hashes;
    ELSIF p_heads IS NULL THEN
        out_status := 'stale';
        out_last_version := v_version;
        RETURN;
    ELSE
        v_hashes := ARRAY[v_hash];
        FOR i IN 1 .. v_count LOOP
            v_hashes[i + 1] := sha256(v_hashes[i] || int8send(v_version + i) || p_heads[i]
                                      || convert_to(p_payloads[i], 'UTF8') || p_tail);
        END LOOP;
    END IF;
    v_hash := v_hashes[v_count + 1];

    INSERT INTO events (tx_id, stream_id, category, stream_version, event_id, event_type,
                        schema_version, payload, correlation_id, causation_id, command_id,
                        actor, recorded_at, prev_hash, hash)
    SELECT out_tx_id, p_stream, p_category, v_version + e.ord, e.event_id, e.event_type,
           e.schema_version, e.payload::json, p_correlation_id, p_causation_id, p_command_id,
           p_actor, p_recorded_at, e.prev_hash, e.hash
      FROM unnest(p_event_ids, p_event_types, p_schema_versions, p_payloads,
                  v_hashes[1:v_count], v_hashes[2:v_count + 1])
           WITH ORDINALITY AS e(event_id, event_type, schema_version, payload, prev_hash, hash, ord)
     ORDER BY e.ord;
    -- The rows took their positions in order, so the last position is the
    -- last one this session drew from the log's sequence.
    out_last_position := currval('events_position_seq');

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
    out_head := v_hash;
    IF p_command_id IS NOT NULL THEN
        INSERT INTO commands (command_id, stream_id, first_version, last_version, tx_id, last_position)
        VALUES (p_command_id, p_stream, out_first_version, out_last_version, out_tx_id, out_last_position);
    END IF;
    out_status := 'appended';
END
$$;
