/**
 * The live feed: `GET /api/v1/feed` read with `fetch` and a streaming body
 * (EventSource cannot send `Authorization`), parsed by {@link SseParser}.
 * After a lost connection it reconnects with jittered exponential backoff
 * and resumes after the last event id seen (`Last-Event-ID`).
 */
import { ApiError, type Api } from "../api/client";
import type { LoggedEvent } from "../api/types";
import { SseParser } from "./sse";

/** Where the connection stands. */
export type FeedStatus = "connecting" | "live" | "reconnecting" | "stopped";

/** The delay before reconnect attempt `attempt` (0-based), 0.5 s doubling to 30 s, with ±20 % jitter. */
export function backoffDelay(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(30_000, 500 * 2 ** Math.min(attempt, 10));
  return Math.round(base * (0.8 + 0.4 * random()));
}

/** Options of a {@link Feed}. */
export interface FeedOptions {
  /** Waits before a reconnect (a timer by default; tests pass their own). */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Start after this position instead of at the end of the log. */
  after?: string;
}

function defaultSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** One connection to the feed, shared by every listener of the page. */
export class Feed {
  private readonly listeners = new Set<(event: LoggedEvent) => void>();
  private readonly statusListeners = new Set<(status: FeedStatus) => void>();
  private controller: AbortController | null = null;
  private lastId: string | null;
  private current: FeedStatus = "stopped";

  constructor(
    private readonly api: Api,
    private readonly options: FeedOptions = {},
  ) {
    this.lastId = options.after ?? null;
  }

  /** The connection's state. */
  get status(): FeedStatus {
    return this.current;
  }

  /** The last event id seen. */
  get lastEventId(): string | null {
    return this.lastId;
  }

  /** Calls `listener` with every event; returns the unsubscribe. */
  subscribe(listener: (event: LoggedEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Calls `listener` on every change of state; returns the unsubscribe. */
  onStatus(listener: (status: FeedStatus) => void): () => void {
    this.statusListeners.add(listener);
    return () => this.statusListeners.delete(listener);
  }

  /** Connects (and keeps reconnecting) until {@link stop}. */
  start(): void {
    if (this.controller) return;
    const controller = new AbortController();
    this.controller = controller;
    void this.run(controller.signal);
  }

  /** Closes the connection for good. */
  stop(): void {
    this.controller?.abort();
    this.controller = null;
    this.setStatus("stopped");
  }

  private setStatus(status: FeedStatus): void {
    if (status === this.current) return;
    this.current = status;
    for (const listener of this.statusListeners) listener(status);
  }

  private async run(signal: AbortSignal): Promise<void> {
    const sleep = this.options.sleep ?? defaultSleep;
    let attempt = 0;
    this.setStatus("connecting");
    while (!signal.aborted) {
      try {
        const gotEvents = await this.follow(signal);
        if (gotEvents) attempt = 0;
      } catch (error) {
        if (signal.aborted) break;
        // 401/403 will not mend by retrying quickly; back off all the same.
        if (error instanceof ApiError && (error.status === 401 || error.status === 403)) attempt = Math.max(attempt, 6);
      }
      if (signal.aborted) break;
      this.setStatus("reconnecting");
      await sleep(backoffDelay(attempt), signal);
      attempt += 1;
    }
  }

  /** One connection, until it ends; whether it delivered anything. */
  private async follow(signal: AbortSignal): Promise<boolean> {
    const headers: Record<string, string> = {};
    if (this.lastId) headers["Last-Event-ID"] = this.lastId;
    const response = await this.api.stream("/api/v1/feed", headers, signal);
    this.setStatus("live");
    if (!response.body) return false;
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    const parser = new SseParser();
    let delivered = false;
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        for (const message of parser.push(decoder.decode(value, { stream: true }))) {
          if (message.id) this.lastId = message.id;
          if (message.event !== "message" || !message.data) continue;
          let event: LoggedEvent;
          try {
            event = JSON.parse(message.data) as LoggedEvent;
          } catch {
            continue;
          }
          delivered = true;
          for (const listener of this.listeners) listener(event);
        }
      }
    } finally {
      reader.releaseLock();
    }
    return delivered;
  }
}
