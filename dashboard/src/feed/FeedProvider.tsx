/**
 * One feed connection for the signed-in app, and the hooks pages use to
 * react to events: {@link useFeedEvent} (each matching event) and
 * {@link useFeedStatus}.
 */
import { createContext, useContext, useEffect, useRef, useState, type ReactNode } from "react";
import type { Api } from "../api/client";
import type { LoggedEvent } from "../api/types";
import { Feed, type FeedStatus } from "./feed";

const FeedContext = createContext<Feed | null>(null);

/** Opens the feed for `api` while mounted (`enabled` false: no connection, for tests). */
export function FeedProvider({ api, enabled = true, children }: { api: Api; enabled?: boolean; children: ReactNode }) {
  const [feed] = useState(() => new Feed(api));
  useEffect(() => {
    if (!enabled) return;
    feed.start();
    return () => feed.stop();
  }, [feed, enabled]);
  return <FeedContext.Provider value={feed}>{children}</FeedContext.Provider>;
}

/** Calls `handler` for each feed event (none outside a FeedProvider). */
export function useFeedEvent(handler: (event: LoggedEvent) => void): void {
  const feed = useContext(FeedContext);
  const latest = useRef(handler);
  latest.current = handler;
  useEffect(() => {
    if (!feed) return;
    return feed.subscribe((event) => latest.current(event));
  }, [feed]);
}

/** The feed connection's state. */
export function useFeedStatus(): FeedStatus {
  const feed = useContext(FeedContext);
  const [status, setStatus] = useState<FeedStatus>(feed?.status ?? "stopped");
  useEffect(() => {
    if (!feed) return;
    setStatus(feed.status);
    return feed.onStatus(setStatus);
  }, [feed]);
  return status;
}
