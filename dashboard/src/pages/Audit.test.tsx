import { describe, expect, it } from "vitest";
import { fireEvent, screen } from "@testing-library/react";
import { renderApp } from "../testing/renderApp";
import { fakeServer } from "../testing/fakeServer";

const STREAM = "approval-0190f1c2-7a4e-7c1d-9f00-1b2c3d4e5f60";

function event(version: number, type: string) {
  return {
    position: `${version}:0`,
    stream_id: STREAM,
    version,
    event_id: `e${version}`,
    type,
    schema_version: 1,
    payload: {},
    metadata: { correlation_id: "c1", causation_id: version > 1 ? `e${version - 1}` : null, command_id: null, actor: "user:ceo" },
    recorded_at: "2025-01-01T00:00:00Z",
    prev_hash: "0",
    hash: "1",
  };
}

describe("the audit page", () => {
  it("verifies every stream of an order and shows its causal chain", async () => {
    const fake = fakeServer({
      "GET /api/v1/session": { name: "aud", role: "auditor" },
      "GET /api/v1/events": { events: [event(1, "ApprovalRequested"), event(2, "ApprovalGranted")], next_cursor: null },
      "GET /api/v1/audit/verify": { intact: true, streams: 1, events: 2, broken_streams: 0, broken: [] },
    });
    renderApp("/audit?correlation_id=c1", fake.fetch);
    expect(await screen.findByTestId("verdict")).toHaveTextContent("Intact 2 events in 1 stream");
    expect(fake.requests.find((r) => r.path === "/api/v1/audit/verify")?.query.get("stream")).toBe(STREAM);
    expect((await screen.findAllByText("ApprovalGranted")).length).toBeGreaterThan(0);
  });

  it("names the broken link when a chain is broken", async () => {
    const fake = fakeServer({
      "GET /api/v1/session": { name: "ceo", role: "ceo" },
      "GET /api/v1/directives": { directives: [], next_cursor: null },
      "GET /api/v1/events": { events: [event(1, "ApprovalRequested")], next_cursor: null },
      "GET /api/v1/audit/verify": {
        intact: false,
        streams: 1,
        events: 1,
        broken_streams: 1,
        broken: [{ stream_id: STREAM, version: 1, event_id: "e1", position: "1:0", problem: "hash_mismatch", description: "its hash is not the hash of its content" }],
      },
    });
    renderApp("/audit?correlation_id=c1", fake.fetch);
    const verdict = await screen.findByTestId("verdict");
    expect(verdict).toHaveTextContent("Broken");
    expect(verdict).toHaveTextContent("its hash is not the hash of its content");
    expect(verdict).toHaveTextContent("hash_mismatch");
  });

  it("travels a stream back to a past version and shows the folded state", async () => {
    const fake = fakeServer({
      "GET /api/v1/session": { name: "v", role: "viewer" },
      "GET /api/v1/events": { events: [], next_cursor: null },
      [`GET /api/v1/streams/${STREAM}`]: (r) => {
        const asOf = Number(r.query.get("as_of") ?? 2);
        return {
          stream_id: STREAM,
          category: "approval",
          version: 2,
          as_of: asOf,
          events: [event(1, "ApprovalRequested"), event(2, "ApprovalGranted")].slice(0, asOf),
          next_from: null,
          state: { status: asOf === 1 ? "pending" : "granted" },
        };
      },
    });
    renderApp(`/audit?stream=${STREAM}`, fake.fetch);
    expect(await screen.findByTestId("folded-state")).toHaveTextContent('"granted"');
    fireEvent.change(screen.getByRole("slider"), { target: { value: "1" } });
    expect(await screen.findByText("State at version 1")).toBeInTheDocument();
    expect(screen.getByTestId("folded-state")).toHaveTextContent('"pending"');
    expect(fake.requests.filter((r) => r.path.startsWith("/api/v1/streams/")).at(-1)?.query.get("as_of")).toBe("1");
    expect(screen.getByText(/Only the CEO or an auditor may verify/)).toBeInTheDocument();
  });
});
