import { describe, expect, it } from "vitest";
import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { renderApp } from "../testing/renderApp";
import { fakeServer } from "../testing/fakeServer";

function level(sku: string, outcome: string, projected: number) {
  return {
    sku,
    warehouse: "Stores - AC",
    supplier: "Acme",
    on_hand: projected,
    reserved: 0,
    on_order: 0,
    projected,
    reorder_point: 40.5,
    safety_stock: 10.5,
    outcome,
    order_qty: outcome === "order" ? 100 : 0,
    reason: null,
    explanation: `${sku}: ${outcome}`,
    scan_id: "s1",
    scanned_at: "2025-01-01T06:00:00Z",
  };
}

describe("the logistics page", () => {
  it("lists the stock levels needing attention, and every level on request", async () => {
    const low = level("BOLT-1", "order", 12);
    const held = level("NUT-1", "hold", 900);
    const server = fakeServer({
      "GET /api/v1/session": { name: "v", role: "viewer" },
      "GET /api/v1/logistics/inventory": (r: { query: URLSearchParams }) => ({
        levels: r.query.get("attention") === "true" ? [low] : [low, held],
        next_cursor: null,
      }),
      "GET /api/v1/logistics/purchase-orders": { purchase_orders: [], next_cursor: null },
      "GET /api/v1/logistics/shipments": { shipments: [], next_cursor: null },
      "GET /api/v1/logistics/suppliers": { suppliers: [] },
    });
    renderApp("/logistics", server.fetch);
    expect(await screen.findByText("BOLT-1")).toBeInTheDocument();
    expect(screen.queryByText("NUT-1")).not.toBeInTheDocument();

    await userEvent.click(screen.getByLabelText("Only levels at or below their reorder point"));
    expect(await screen.findByText("NUT-1")).toBeInTheDocument();
    expect(screen.getByText("NUT-1: hold")).toBeInTheDocument();
    const asked = () => server.requests.filter((r) => r.path === "/api/v1/logistics/inventory");
    expect(asked().map((r) => r.query.get("attention"))).toEqual(["true", null]);

    // One SKU in one warehouse, applied on Enter.
    await userEvent.type(screen.getByLabelText("SKU"), "NUT-1");
    await userEvent.type(screen.getByLabelText("Warehouse"), "Stores - AC{Enter}");
    await waitFor(() => expect(asked()).toHaveLength(3));
    const last = asked()[2];
    expect([last.query.get("sku"), last.query.get("warehouse")]).toEqual(["NUT-1", "Stores - AC"]);
  });

  it("shows more stock levels a page at a time, keeping those shown", async () => {
    const server = fakeServer({
      "GET /api/v1/session": { name: "v", role: "viewer" },
      "GET /api/v1/logistics/inventory": (r: { query: URLSearchParams }) =>
        r.query.get("cursor") === "after-BOLT-1"
          ? { levels: [level("NUT-1", "order", 3)], next_cursor: null }
          : { levels: [level("BOLT-1", "order", 12)], next_cursor: "after-BOLT-1" },
      "GET /api/v1/logistics/purchase-orders": { purchase_orders: [], next_cursor: null },
      "GET /api/v1/logistics/shipments": { shipments: [], next_cursor: null },
      "GET /api/v1/logistics/suppliers": { suppliers: [] },
    });
    renderApp("/logistics", server.fetch);
    expect(await screen.findByText("BOLT-1")).toBeInTheDocument();
    expect(screen.getByText(/The first 1 levels/)).toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: "More stock levels" }));
    expect(await screen.findByText("NUT-1")).toBeInTheDocument();
    expect(screen.getByText("BOLT-1")).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "More stock levels" })).not.toBeInTheDocument();
    const inventory = () => server.requests.filter((r) => r.path === "/api/v1/logistics/inventory");
    expect(inventory().map((r) => r.query.get("cursor"))).toEqual([null, "after-BOLT-1"]);

    // Other filters start from the first page, never with the old cursor.
    await userEvent.type(screen.getByLabelText("SKU"), "BOLT-1{Enter}");
    await waitFor(() => expect(inventory()).toHaveLength(3));
    expect([inventory()[2].query.get("sku"), inventory()[2].query.get("cursor")]).toEqual(["BOLT-1", null]);
    expect(await screen.findByRole("button", { name: "More stock levels" })).toBeInTheDocument();
    expect(screen.queryByText("NUT-1")).not.toBeInTheDocument();
  });
});
