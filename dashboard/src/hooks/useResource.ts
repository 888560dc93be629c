/**
 * Loads a read model and keeps it fresh: it refetches when a relevant feed
 * event arrives (debounced), passing the newest such event's position as
 * `min_checkpoint` so the answer reflects it. No polling.
 */
import { useCallback, useEffect, useRef, useState } from "react";
import type { Api } from "../api/client";
import type { LoggedEvent } from "../api/types";
import { laterPosition } from "../api/format";
import { useApi } from "../auth/session";
import { useFeedEvent } from "../feed/FeedProvider";

/** A loaded resource. */
export interface Resource<T> {
  data: T | undefined;
  error: unknown;
  /** True until the first answer (or failure). */
  loading: boolean;
  /** Loads again, waiting for `minCheckpoint` if given. */
  reload(minCheckpoint?: string | null): void;
}

/** Options of {@link useResource}. */
export interface ResourceOptions {
  /** Which feed events make the resource stale (none by default). */
  refreshOn?: (event: LoggedEvent) => boolean;
  /** How long to gather events before refetching (ms, default 300). */
  debounceMs?: number;
  /** Whether to pass the event's position as `min_checkpoint` (default true). */
  waitForEvent?: boolean;
  /** False: do not load (yet). */
  enabled?: boolean;
}

/**
 * `load(api, minCheckpoint)` now and whenever `key` changes or a relevant
 * event arrives. `key` identifies the query (its parameters).
 */
export function useResource<T>(
  key: string,
  load: (api: Api, minCheckpoint: string | undefined) => Promise<T>,
  options: ResourceOptions = {},
): Resource<T> {
  const api = useApi();
  const { refreshOn, debounceMs = 300, waitForEvent = true, enabled = true } = options;
  const [state, setState] = useState<{ key: string; data?: T; error?: unknown; loading: boolean }>({
    key,
    loading: enabled,
  });
  const loader = useRef(load);
  loader.current = load;
  const generation = useRef(0);
  const pending = useRef<{ timer: ReturnType<typeof setTimeout> | null; at: string | null }>({ timer: null, at: null });

  const fetchNow = useCallback(
    (minCheckpoint?: string | null) => {
      const mine = ++generation.current;
      loader
        .current(api, minCheckpoint ?? undefined)
        .then((data) => {
          if (mine === generation.current) setState({ key, data, loading: false });
        })
        .catch((error: unknown) => {
          if (mine === generation.current) setState((s) => ({ key, data: s.key === key ? s.data : undefined, error, loading: false }));
        });
    },
    [api, key],
  );

  useEffect(() => {
    if (!enabled) return;
    setState((s) => (s.key === key ? { ...s, loading: s.data === undefined } : { key, loading: true }));
    fetchNow();
    const timers = pending.current;
    return () => {
      generation.current++;
      if (timers.timer) clearTimeout(timers.timer);
      timers.timer = null;
      timers.at = null;
    };
  }, [fetchNow, enabled, key]);

  useFeedEvent((event) => {
    if (!enabled || !refreshOn || !refreshOn(event)) return;
    const slot = pending.current;
    slot.at = waitForEvent ? laterPosition(slot.at, event.position) : null;
    if (slot.timer) clearTimeout(slot.timer);
    slot.timer = setTimeout(() => {
      const at = slot.at;
      slot.timer = null;
      slot.at = null;
      fetchNow(at);
    }, debounceMs);
  });

  const current = state.key === key ? state : { key, loading: true };
  return { data: current.data, error: current.error, loading: current.loading, reload: fetchNow };
}
