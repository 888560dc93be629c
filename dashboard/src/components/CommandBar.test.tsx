import { describe, expect, it } from "vitest";
import { screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { renderApp } from "../testing/renderApp";
import { fakeServer, task } from "../testing/fakeServer";

const DIRECTIVE_ID = "0190f1c2-7a4e-7c1d-9f00-1b2c3d4e5f60";

function detail(tasks: unknown[], status = "planning") {
  return {
    id: DIRECTIVE_ID,
    text: "Check stock",
    status,
    paused: false,
    priority: "normal",
    deadline: null,
    spending_limit: null,
    issued_by: "user:ceo",
    issued_at: "2025-01-01T00:00:00Z",
    correlation_id: "c1",
    question: null,
    planner: "rules",
    model: null,
    prompt_digest: null,
    llm_tokens: 0,
    llm_cost_micro_usd: 0,
    escalation: null,
    summary: null,
    updated_at: "2025-01-01T00:00:00Z",
    plan: null,
    tasks,
  };
}

/** A feed whose events the test pushes. */
function controlledFeed() {
  const encoder = new TextEncoder();
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
    },
  });
  return {
    response: () => new Response(body, { headers: { "Content-Type": "text/event-stream" } }),
    push(event: { position: string } & Record<string, unknown>) {
      controller.enqueue(encoder.encode(`id: ${event.position}\ndata: ${JSON.stringify(event)}\n\n`));
    },
  };
}

describe("the command bar", () => {
  it("gives the CEO's order and shows its plan appear live as the feed reports it", async () => {
    const feed = controlledFeed();
    let planned = false;
    const server = fakeServer({
      "GET /api/v1/session": { name: "ceo", role: "ceo" },
      "GET /api/v1/directives": { directives: [], next_cursor: null },
      "GET /api/v1/feed": () => feed.response(),
      "POST /api/v1/directives": { directive_id: DIRECTIVE_ID, checkpoint: "5:0", duplicate: false },
      [`GET /api/v1/directives/${DIRECTIVE_ID}`]: () =>
        planned ? detail([task("scan", [], "in_progress"), task("reorder", ["scan"])], "in_progress") : detail([]),
    });
    renderApp("/directives", server.fetch, { liveFeed: true });
    const input = await screen.findByRole("textbox", { name: "Order" });
    await userEvent.type(input, "Check stock in the main warehouse");
    await userEvent.click(screen.getByRole("button", { name: "Give order" }));

    expect(await screen.findByText("The Brain is planning…")).toBeInTheDocument();
    expect(server.requests.find((r) => r.method === "POST")?.body).toEqual({ text: "Check stock in the main warehouse", priority: "normal" });
    const first = server.requests.find((r) => r.path === `/api/v1/directives/${DIRECTIVE_ID}`);
    expect(first?.query.get("min_checkpoint")).toBe("5:0");
    expect(input).toHaveValue("");

    planned = true;
    feed.push({
      position: "7:0",
      stream_id: "task-0190f1c2-7a4e-7c1d-9f00-000000000001",
      version: 1,
      event_id: "e7",
      type: "TaskPlanned",
      schema_version: 1,
      payload: {},
      metadata: { correlation_id: "c1", causation_id: null, command_id: null, actor: "agent:brain" },
      recorded_at: "2025-01-01T00:00:01Z",
      prev_hash: "0",
      hash: "1",
    });
    const rows = await screen.findAllByTestId("live-task");
    expect(rows).toHaveLength(2);
    expect(rows[0]).toHaveTextContent("kind scan");
    const refetch = server.requests.filter((r) => r.path === `/api/v1/directives/${DIRECTIVE_ID}`).at(-1);
    expect(refetch?.query.get("min_checkpoint")).toBe("7:0");
    expect(screen.getByRole("link", { name: "Open directive" })).toHaveAttribute("href", `/directives/${DIRECTIVE_ID}`);
  });

  it("shows why an order was refused", async () => {
    const server = fakeServer({
      "GET /api/v1/session": { name: "ceo", role: "ceo" },
      "GET /api/v1/directives": { directives: [], next_cursor: null },
      "POST /api/v1/directives": new Response(
        JSON.stringify({ type: "x", title: "Unprocessable", status: 422, detail: "an order needs words", code: "directive.text_empty" }),
        { status: 422, headers: { "Content-Type": "application/problem+json" } },
      ),
    });
    renderApp("/directives", server.fetch);
    await userEvent.type(await screen.findByRole("textbox", { name: "Order" }), "   x");
    await userEvent.click(screen.getByRole("button", { name: "Give order" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("an order needs words");
    expect(screen.getByRole("alert")).toHaveTextContent("directive.text_empty");
  });
});
