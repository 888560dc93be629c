import { describe, expect, it, vi } from "vitest";
import { createApi } from "../api/client";
import type { LoggedEvent } from "../api/types";
import { backoffDelay, Feed } from "./feed";
import { fakeServer, problem } from "../testing/fakeServer";

function event(position: string): LoggedEvent {
  return {
    position,
    stream_id: "directive-0190f1c2-7a4e-7c1d-9f00-1b2c3d4e5f60",
    version: 1,
    event_id: `e-${position}`,
    type: "DirectiveIssued",
    schema_version: 1,
    payload: {},
    metadata: { correlation_id: "c1", causation_id: null, command_id: null, actor: "user:ceo" },
    recorded_at: "2025-01-01T00:00:00Z",
    prev_hash: "0",
    hash: "1",
  };
}

function sseBody(chunks: string[]): Response {
  const encoder = new TextEncoder();
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(encoder.encode(chunk));
      controller.close();
    },
  });
  return new Response(stream, { status: 200, headers: { "Content-Type": "text/event-stream" } });
}

describe("backoffDelay", () => {
  it("doubles from half a second up to thirty seconds, with jitter", () => {
    expect(backoffDelay(0, () => 0.5)).toBe(500);
    expect(backoffDelay(1, () => 0.5)).toBe(1000);
    expect(backoffDelay(20, () => 0.5)).toBe(30_000);
    expect(backoffDelay(0, () => 0)).toBe(400);
    expect(backoffDelay(0, () => 1)).toBe(600);
  });
});

describe("Feed", () => {
  it("delivers events, then reconnects after a lost connection resuming from the last id", async () => {
    let connections = 0;
    const server = fakeServer({
      "GET /api/v1/feed": () => {
        connections += 1;
        if (connections === 1) return sseBody([`id: 10:0\ndata: ${JSON.stringify(event("10:0"))}\n`, "\n: keep-alive\n\n"]);
        if (connections === 2) return problem(503, "unavailable", "down for a moment");
        return sseBody([`id: 11:0\ndata: ${JSON.stringify(event("11:0"))}\n\n`]);
      },
    });
    const delays: number[] = [];
    const feed = new Feed(createApi("agt_test", server.fetch), {
      sleep: async (ms) => {
        delays.push(ms);
        if (connections >= 3) feed.stop();
      },
    });
    const seen: string[] = [];
    feed.subscribe((e) => seen.push(e.position));
    feed.start();
    await vi.waitFor(() => expect(feed.status).toBe("stopped"));
    expect(seen).toEqual(["10:0", "11:0"]);
    const feeds = server.requests.filter((r) => r.path === "/api/v1/feed");
    expect(feeds[0].headers["authorization"]).toBe("Bearer agt_test");
    expect(feeds[0].headers["last-event-id"]).toBeUndefined();
    expect(feeds[1].headers["last-event-id"]).toBe("10:0");
    expect(feeds[2].headers["last-event-id"]).toBe("10:0");
    expect(delays.length).toBe(3);
    // The failed attempt backs off longer than the first retry.
    expect(delays[1]).toBeGreaterThan(delays[0] * 1.2);
  });
});
