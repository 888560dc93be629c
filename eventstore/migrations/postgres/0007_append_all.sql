-- Appends to several streams, all or none, in one statement.
--
-- A unit of several appends (the Brain's plan and its tasks, say) was a
-- transaction of its own: BEGIN, the appender marker, one agentos_append call
-- per stream, COMMIT, each a round trip. Under load those round trips, not
-- the appends, were most of PostgreSQL's work for them. Now the client sends
-- the whole unit as one call in its own transaction. The appends are made in
-- the order given (the client sorts them by stream, so that two units never
-- wait for each other in a circle) by agentos_append itself, so each keeps
-- every check it has. The first append refused (a conflict, a command id
-- reused, a stream written by a later transaction) raises AO001 and the
-- statement, so the whole unit, is rolled back: the client then makes the
-- unit the slow way, where each refusal gets its own typed answer.
--
-- Arguments as agentos_append_group's (migration 0006): one element per
-- append, its events' elements concatenated, p_counts events each. Returns
-- one row per append, out_at its place (from 1) in the arguments.
CREATE FUNCTION agentos_append_all(
    p_streams text[], p_categories text[], p_expected bigint[], p_command_ids uuid[],
    p_counts int[], p_event_ids uuid[], p_event_types text[], p_schema_versions int[],
    p_payloads text[], p_heads bytea[], p_tails bytea[],
    p_correlation_ids uuid[], p_causation_ids uuid[], p_actors text[],
    p_recorded_at timestamptz[])
RETURNS TABLE (
    out_at int, out_status text, out_stream text, out_first_version bigint,
    out_last_version bigint, out_tx_id bigint, out_last_position bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_from int := 1;
    v_to   int;
    r      record;
BEGIN
    FOR i IN 1 .. coalesce(cardinality(p_streams), 0) LOOP
        v_to := v_from + p_counts[i] - 1;
        SELECT * INTO r
          FROM agentos_append(p_streams[i], p_categories[i], p_expected[i], p_command_ids[i],
                              p_event_ids[v_from:v_to], p_event_types[v_from:v_to],
                              p_schema_versions[v_from:v_to], p_payloads[v_from:v_to],
                              p_heads[v_from:v_to], p_tails[i], p_correlation_ids[i],
                              p_causation_ids[i], p_actors[i], p_recorded_at[i]);
        IF r.out_status NOT IN ('appended', 'duplicate') THEN
            RAISE EXCEPTION 'append % of % to % refused: %', i, cardinality(p_streams),
                p_streams[i], r.out_status
                USING ERRCODE = 'AO001';
        END IF;
        out_at := i;
        out_status := r.out_status;
        out_stream := r.out_stream;
        out_first_version := r.out_first_version;
        out_last_version := r.out_last_version;
        out_tx_id := r.out_tx_id;
        out_last_position := r.out_last_position;
        RETURN NEXT;
        v_from := v_to + 1;
    END LOOP;
END
$$;
