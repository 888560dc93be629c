import { describe, expect, it } from "vitest";
import { categoryOf, formatMoney, laterPosition, parsePosition } from "./format";

describe("formatting", () => {
  it("shows money from minor units with its currency", () => {
    expect(formatMoney({ minor: 123456, currency: "EUR" })).toBe("EUR 1,234.56");
    expect(formatMoney({ minor: -5, currency: "EUR" })).toBe("-EUR 0.05");
    expect(formatMoney("12.00 EUR")).toBe("12.00 EUR");
    expect(formatMoney(null)).toBe("—");
  });

  it("compares positions as numbers, not text", () => {
    expect(parsePosition("1042:3")).toEqual([1042, 3]);
    expect(parsePosition("x")).toBeNull();
    expect(laterPosition("9:5", "10:0")).toBe("10:0");
    expect(laterPosition("10:2", "10:10")).toBe("10:10");
    expect(laterPosition(null, "1:0")).toBe("1:0");
  });

  it("finds a stream's category, underscores and dashes included", () => {
    expect(categoryOf("purchase_order-0190f1c2-7a4e-7c1d-9f00-1b2c3d4e5f60")).toBe("purchase_order");
    expect(categoryOf("control-global")).toBe("control");
  });
});
