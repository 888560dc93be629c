import { describe, expect, it } from "vitest";
import { can, whyNot } from "./roles";

describe("role gating", () => {
  it("lets only the CEO give orders, intervene and decide", () => {
    for (const action of ["give_order", "intervene", "decide_approval"] as const) {
      expect(can("ceo", action)).toBe(true);
      expect(can("operator", action)).toBe(false);
      expect(can("auditor", action)).toBe(false);
      expect(can("viewer", action)).toBe(false);
    }
  });

  it("gives the stop switch to the CEO and operators, verification to the CEO and auditors", () => {
    expect(can("operator", "stop_switch")).toBe(true);
    expect(can("auditor", "stop_switch")).toBe(false);
    expect(can("auditor", "verify_chains")).toBe(true);
    expect(can("operator", "verify_chains")).toBe(false);
    expect(can("viewer", "view_agents")).toBe(false);
  });

  it("says why not, and nothing when allowed", () => {
    expect(whyNot("viewer", "give_order")).toMatch(/CEO/);
    expect(whyNot("ceo", "give_order")).toBeNull();
    expect(can(undefined, "view_agents")).toBe(false);
  });
});
