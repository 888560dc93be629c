import { describe, expect, it } from "vitest";
import { combineReports, verdict } from "./verification";

describe("verification", () => {
  it("is intact only when every stream is", () => {
    const ok = { intact: true, streams: 1, events: 4, broken_streams: 0, broken: [] };
    const bad = {
      intact: false,
      streams: 1,
      events: 3,
      broken_streams: 1,
      broken: [{ stream_id: "task-1", version: 2, event_id: null, position: null, problem: "hash_mismatch", description: "the hash does not match" }],
    };
    expect(verdict(combineReports([ok, ok]))).toBe("8 events in 2 streams, every hash link checks out.");
    const combined = combineReports([ok, bad]);
    expect(combined.intact).toBe(false);
    expect(verdict(combined)).toContain("task-1 at version 2 — the hash does not match");
  });
});
