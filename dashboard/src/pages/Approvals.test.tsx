import { describe, expect, it } from "vitest";
import { screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { renderApp } from "../testing/renderApp";
import { fakeServer } from "../testing/fakeServer";
import { decisionProblem } from "./Approvals";

const APPROVAL = {
  id: "ap1",
  task_id: "t1",
  directive_id: "d1",
  what: "Purchase order to Acme for Main Warehouse",
  why: "above EUR 1,000: the CEO approves",
  amount: { minor: 250000, currency: "EUR" },
  requested_by: "agent:logistics",
  requested_at: "2025-01-01T06:00:00Z",
  expires_at: "2025-01-02T06:00:00Z",
  status: "pending",
  decided_by: null,
  reason: null,
  decided_at: null,
};

function inbox(role: string, approvals: unknown[] = [APPROVAL]) {
  let decided = false;
  const server = fakeServer({
    "GET /api/v1/session": { name: role, role },
    "GET /api/v1/directives": { directives: [], next_cursor: null },
    "GET /api/v1/approvals": () => ({ approvals: decided ? [] : approvals }),
    "GET /api/v1/logistics/purchase-orders": { purchase_orders: [], next_cursor: null },
    "POST /api/v1/approvals/ap1": () => {
      decided = true;
      return { checkpoint: "9:0", duplicate: false };
    },
  });
  renderApp("/approvals", server.fetch);
  return server;
}

describe("the approvals inbox", () => {
  it("shows what is asked, why and for how much", async () => {
    inbox("ceo");
    const card = await screen.findByTestId("approval");
    expect(card).toHaveTextContent("Purchase order to Acme for Main Warehouse");
    expect(card).toHaveTextContent("above EUR 1,000: the CEO approves");
    expect(card).toHaveTextContent("EUR 2,500.00");
  });

  it("refuses to reject without a reason, then sends the rejection", async () => {
    const server = inbox("ceo");
    const card = await screen.findByTestId("approval");
    await userEvent.click(within(card).getByRole("button", { name: "Reject" }));
    expect(within(card).getByRole("alert")).toHaveTextContent("a reason is required");
    expect(server.requests.some((r) => r.method === "POST")).toBe(false);
    await userEvent.type(within(card).getByLabelText(/Reason/), "too expensive");
    await userEvent.click(within(card).getByRole("button", { name: "Reject" }));
    expect(await screen.findByText("Nothing waits for your decision.")).toBeInTheDocument();
    expect(server.requests.find((r) => r.method === "POST")?.body).toEqual({ decision: "reject", reason: "too expensive" });
    expect(server.requests.filter((r) => r.path === "/api/v1/approvals").at(-1)?.query.get("min_checkpoint")).toBe("9:0");
  });

  it("approves without a reason", async () => {
    const server = inbox("ceo");
    const card = await screen.findByTestId("approval");
    await userEvent.click(within(card).getByRole("button", { name: "Approve" }));
    expect(await screen.findByText("Nothing waits for your decision.")).toBeInTheDocument();
    expect(server.requests.find((r) => r.method === "POST")?.body).toEqual({ decision: "approve", reason: "" });
  });

  it("lets others read but not decide, and says why", async () => {
    inbox("auditor");
    const card = await screen.findByTestId("approval");
    expect(within(card).getByRole("button", { name: "Approve" })).toBeDisabled();
    expect(within(card).getByText("Only the CEO approves or rejects.")).toBeInTheDocument();
  });

  it("says when nothing waits", async () => {
    inbox("ceo", []);
    expect(await screen.findByText("Nothing waits for your decision.")).toBeInTheDocument();
  });

  it("requires a reason only to reject", () => {
    expect(decisionProblem("reject", "  ")).toMatch(/required/);
    expect(decisionProblem("approve", "")).toBeNull();
  });
});
