import { describe, expect, it } from "vitest";
import { screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { renderApp } from "../testing/renderApp";
import { fakeServer, task, type Recorded } from "../testing/fakeServer";
import { availableActions } from "./DirectiveDetail";

const ID = "0190f1c2-7a4e-7c1d-9f00-1b2c3d4e5f60";
const DIRECTIVE = {
  id: ID,
  text: "Reorder what runs low",
  status: "in_progress",
  paused: false,
  priority: "high",
  deadline: null,
  spending_limit: { minor: 500000, currency: "EUR" },
  issued_by: "user:ceo",
  issued_at: "2025-01-01T00:00:00Z",
  correlation_id: "c1",
  question: null,
  planner: "rules",
  model: null,
  prompt_digest: null,
  llm_tokens: 3100,
  llm_cost_micro_usd: 4200,
  escalation: null,
  summary: null,
  updated_at: "2025-01-01T00:00:00Z",
  plan: { planner: "rules", model: null, prompt_digest: null, tasks: ["scan", "reorder"] },
  tasks: [task("scan", [], "completed"), task("reorder", ["scan"], "awaiting_approval")],
  llm_usage: [
    { caller: "logistics", calls: 1, prompt_tokens: 900, completion_tokens: 100, cost_micro_usd: 1200 },
    { caller: "orchestrator", calls: 2, prompt_tokens: 1800, completion_tokens: 300, cost_micro_usd: 3000 },
  ],
};

function server(role = "ceo") {
  return fakeServer({
    "GET /api/v1/session": { name: role, role },
    [`GET /api/v1/directives/${ID}`]: DIRECTIVE,
    // Filters by directive as the gateway does.
    "GET /api/v1/approvals": (request: Recorded) => ({
      approvals: [
        { id: "a1", task_id: "t", directive_id: ID, what: "PO to Acme", why: "above the limit", amount: { minor: 150000, currency: "EUR" }, status: "pending" },
        { id: "a2", task_id: "t", directive_id: "other", what: "Not this one", why: "", amount: null, status: "pending" },
      ].filter((a) => !request.query.get("directive_id") || a.directive_id === request.query.get("directive_id")),
    }),
    "GET /api/v1/events": {
      events: [
        {
          position: "1:0",
          stream_id: `directive-${ID}`,
          version: 1,
          event_id: "e1",
          type: "DirectiveIssued",
          schema_version: 1,
          payload: { text: "Reorder what runs low" },
          metadata: { correlation_id: "c1", causation_id: null, command_id: null, actor: "user:ceo" },
          recorded_at: "2025-01-01T00:00:00Z",
          prev_hash: "0",
          hash: "1",
        },
        {
          position: "2:0",
          stream_id: `directive-${ID}`,
          version: 2,
          event_id: "e2",
          type: "DirectivePlanned",
          schema_version: 1,
          payload: {},
          metadata: { correlation_id: "c1", causation_id: "e1", command_id: null, actor: "agent:brain" },
          recorded_at: "2025-01-01T00:00:01Z",
          prev_hash: "1",
          hash: "2",
        },
      ],
      next_cursor: null,
    },
    [`POST /api/v1/directives/${ID}/pause`]: { directive_id: ID, checkpoint: "3:0", duplicate: false },
  });
}

describe("a directive's page", () => {
  it("shows the plan as a tree, the approvals it waits for and its story", async () => {
    renderApp(`/directives/${ID}`, server().fetch);
    expect(await screen.findByRole("heading", { name: "Reorder what runs low" })).toBeInTheDocument();
    const plan = screen.getByRole("list", { name: "Plan" });
    const scan = within(plan).getAllByTestId("task-row")[0];
    expect(scan).toHaveAttribute("data-task-key", "scan");
    expect(within(scan).getByTestId("task-row")).toHaveAttribute("data-task-key", "reorder");
    expect(within(scan).getByText("awaiting approval")).toBeInTheDocument();
    expect(await screen.findByText("PO to Acme")).toBeInTheDocument();
    expect(screen.queryByText("Not this one")).not.toBeInTheDocument();
    expect(await screen.findByText("DirectivePlanned")).toBeInTheDocument();
    expect(screen.getByRole("link", { name: "#1" })).toHaveAttribute("href", "#event-e1");
    expect(screen.getByText("EUR 5,000.00")).toBeInTheDocument();
    expect(screen.getByRole("link", { name: "Audit trail" })).toHaveAttribute("href", "/audit?correlation_id=c1");
    const use = screen.getByRole("list", { name: "Model use per caller" });
    expect(within(use).getAllByRole("listitem").map((li) => li.textContent)).toEqual([
      "logistics: 1 call, 1,000 tokens, $0.0012",
      "orchestrator: 2 calls, 2,100 tokens, $0.0030",
    ]);
    expect(screen.getByTestId("model-use")).toHaveTextContent(/^3,100 tokens, \$0\.0042/);
  });

  it("lets the CEO pause it, then reads the directive at the write's checkpoint", async () => {
    const fake = server();
    renderApp(`/directives/${ID}`, fake.fetch);
    await userEvent.click(await screen.findByRole("button", { name: "Pause" }));
    await screen.findByRole("button", { name: "Pause" });
    const post = fake.requests.find((r) => r.method === "POST");
    expect(post?.path).toBe(`/api/v1/directives/${ID}/pause`);
    const reads = fake.requests.filter((r) => r.path === `/api/v1/directives/${ID}`);
    expect(reads.at(-1)?.query.get("min_checkpoint")).toBe("3:0");
  });

  it("disables the actions for an auditor and says why", async () => {
    renderApp(`/directives/${ID}`, server("auditor").fetch);
    expect(await screen.findByRole("button", { name: "Cancel directive" })).toBeDisabled();
    expect(screen.getByText(/Only the CEO pauses/)).toBeInTheDocument();
  });

  it("offers what the directive's state allows", () => {
    expect(availableActions({ status: "completed", paused: false, question: null })).toEqual([]);
    expect(availableActions({ status: "in_progress", paused: true, question: null })).toEqual(["resume", "cancel"]);
    expect(availableActions({ status: "awaiting_clarification", paused: false, question: "Which warehouse?" })).toEqual([
      "answer",
      "pause",
      "cancel",
    ]);
  });
});
