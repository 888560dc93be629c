-- A gap-safe read of the global order in one round trip.
--
-- A read needs two snapshots. The first gives an upper bound, its xmax, and,
-- read after it was taken, the transaction ids of the appender marker's
-- holders (migration 0004). The second, taken after those were read, gives
-- the events below the horizon: the oldest of those holders still in
-- progress in it, else the first xmax. Every transaction below the horizon
-- has finished, holds no marker (so never appends), or is not in the second
-- snapshot's past at all.
--
-- Readers sent the two halves as two statements. A VOLATILE function takes a
-- fresh snapshot for each statement it runs, so both now travel in one call:
-- every subscriber reads after every commit, and the second round trip was a
-- third of their statements.
--
-- A holder's id is read from its backend (backend_xid of
-- pg_stat_get_activity(pid), the function behind pg_stat_activity, asked for
-- the holders alone), not from its transactionid lock: PostgreSQL publishes
-- the id in the backend when it assigns it, under the same lock that advances
-- the next id, but inserts the transactionid lock a moment later. A holder
-- caught in that moment would be missing from the lock table, the horizon
-- would pass it, and its events, committed later, would be skipped for good.
--
-- Returns the events after (p_after_tx, p_after_position) that pass the
-- filters (NULL: any), in log order, at most p_limit, each with the horizon
-- and whether events wait beyond it (an appender still open). With nothing to
-- read it returns one row with the horizon, whether events wait beyond it,
-- and no event (out_tx_id NULL): a reader may then skip to the horizon.
--
-- "Beyond the horizon" is asked as "is the log's greatest transaction id at
-- or above it", one step down the primary key; "anything to read" as the
-- first event in log order. Asked with EXISTS, the planner, which cannot know
-- the horizon, scanned the whole table for a match that is usually not there.
CREATE FUNCTION agentos_read_all(
    p_after_tx bigint, p_after_position bigint, p_limit bigint,
    p_categories text[], p_event_types text[])
RETURNS TABLE (
    out_horizon bigint, out_beyond boolean,
    out_tx_id bigint, out_position bigint, out_stream_id text, out_stream_version bigint,
    out_event_id uuid, out_event_type text, out_schema_version int, out_payload text,
    out_correlation_id uuid, out_causation_id uuid, out_command_id uuid, out_actor text,
    out_recorded_at timestamptz, out_prev_hash bytea, out_hash bytea)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_xmax      bigint;
    v_appenders bigint[];
    v_horizon   bigint;
    v_more      boolean;
    v_beyond    boolean;
BEGIN
    LOOP
        -- The first snapshot's xmax, and the appenders read after it. The
        -- backends' status is cached for the rest of a transaction once
        -- read: drop it, so that a second round sees appenders begun since.
        PERFORM pg_stat_clear_snapshot();
        WITH m AS MATERIALIZED (
            SELECT DISTINCT l.pid FROM pg_locks l
             WHERE l.locktype = 'advisory' AND l.classid = 1095189334 AND l.objsubid = 2
               AND l.objid = (hashtext(current_schema())::bigint & 4294967295)::oid
               AND l.database = (SELECT d.oid FROM pg_database d WHERE d.datname = current_database()))
        SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint,
               coalesce(array_agg(s.backend_xid::text::bigint) FILTER (WHERE s.backend_xid IS NOT NULL), '{}')
          INTO v_xmax, v_appenders
          FROM m CROSS JOIN LATERAL pg_stat_get_activity(m.pid) s;

        -- The events below the horizon of the next snapshot.
        RETURN QUERY
            WITH h AS (SELECT LEAST(v_xmax, pg_snapshot_xmax(pg_current_snapshot())::text::bigint,
                         (SELECT min(x::text::bigint) FROM pg_snapshot_xip(pg_current_snapshot()) AS x
                           WHERE (x::text::bigint & 4294967295) = ANY(v_appenders))) AS horizon)
            SELECT (SELECT h.horizon FROM h),
                   coalesce((SELECT max(b.tx_id) FROM events b) >= (SELECT h.horizon FROM h), false),
                   e.tx_id, e.position, e.stream_id::text, e.stream_version, e.event_id, e.event_type,
                   e.schema_version, e.payload::text, e.correlation_id, e.causation_id, e.command_id,
                   e.actor, e.recorded_at, e.prev_hash, e.hash
              FROM events e
             WHERE (e.tx_id, e.position) > (p_after_tx, p_after_position)
               AND e.tx_id < (SELECT h.horizon FROM h)
               AND (p_categories IS NULL OR e.category = ANY(p_categories))
               AND (p_event_types IS NULL OR e.event_type = ANY(p_event_types))
             ORDER BY e.tx_id, e.position
             LIMIT p_limit;
        IF FOUND THEN
            RETURN;
        END IF;

        -- Nothing below that horizon: the horizon alone, from a later
        -- snapshot, usable only if it, too, has nothing to read.
        WITH h AS (SELECT LEAST(v_xmax, pg_snapshot_xmax(pg_current_snapshot())::text::bigint,
                     (SELECT min(x::text::bigint) FROM pg_snapshot_xip(pg_current_snapshot()) AS x
                       WHERE (x::text::bigint & 4294967295) = ANY(v_appenders))) AS horizon)
        SELECT h.horizon,
               (SELECT e.tx_id FROM events e
                 WHERE (e.tx_id, e.position) > (p_after_tx, p_after_position)
                   AND e.tx_id < h.horizon
                   AND (p_categories IS NULL OR e.category = ANY(p_categories))
                   AND (p_event_types IS NULL OR e.event_type = ANY(p_event_types))
                 ORDER BY e.tx_id, e.position LIMIT 1) IS NOT NULL,
               coalesce((SELECT max(b.tx_id) FROM events b) >= h.horizon, false)
          INTO v_horizon, v_more, v_beyond
          FROM h;
        IF NOT v_more THEN
            out_horizon := v_horizon;
            out_beyond := v_beyond;
            RETURN NEXT;
            RETURN;
        END IF;
        -- Events committed between the two statements: read again.
    END LOOP;
END
$$;
