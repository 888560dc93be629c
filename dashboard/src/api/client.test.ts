import { describe, expect, it } from "vitest";
import { ApiError, createApi, describeError, withQuery } from "./client";
import { fakeServer, problem } from "../testing/fakeServer";

describe("the API client", () => {
  it("sends the bearer token and leaves empty query values out", async () => {
    const server = fakeServer({ "GET /api/v1/directives": { directives: [], next_cursor: null } });
    const api = createApi("agt_abc", server.fetch);
    await api.get("/api/v1/directives", { status: "", limit: 5, cursor: undefined });
    expect(server.requests[0].headers["authorization"]).toBe("Bearer agt_abc");
    expect(server.requests[0].query.toString()).toBe("limit=5");
  });

  it("turns a problem+json answer into an ApiError with its detail and code", async () => {
    const server = fakeServer({ "POST /api/v1/approvals/x": problem(403, "auth.forbidden", "a viewer may not decide") });
    const api = createApi("agt_abc", server.fetch);
    const error = await api.post("/api/v1/approvals/x", { decision: "approve" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 403, code: "auth.forbidden", detail: "a viewer may not decide" });
    expect(server.requests[0].body).toEqual({ decision: "approve" });
    expect(server.requests[0].headers["content-type"]).toBe("application/json");
  });

  it("describes an answer that is not a problem by its status", async () => {
    const fetchImpl = (async () => new Response("<html>gateway timeout</html>", { status: 504, statusText: "Gateway Timeout" })) as typeof fetch;
    const error = await createApi("t", fetchImpl).get("/api/v1/agents").catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 504, code: "http.504", detail: "504 Gateway Timeout" });
  });

  it("says when the server cannot be reached", async () => {
    const fetchImpl = (async () => {
      throw new TypeError("Failed to fetch");
    }) as typeof fetch;
    const error = await createApi("t", fetchImpl).get("/api/v1/agents").catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 0, code: "network" });
  });

  it("refuses a success that is not JSON", async () => {
    const fetchImpl = (async () => new Response("not json", { status: 200 })) as typeof fetch;
    const error = await createApi("t", fetchImpl).get("/api/v1/agents").catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "response.not_json" });
  });

  it("builds queries and describes any error", () => {
    expect(withQuery("/x", { a: "1 2", b: null, c: 0 })).toBe("/x?a=1+2&c=0");
    expect(withQuery("/x")).toBe("/x");
    expect(describeError(new ApiError(409, "po.not_pending", "already decided"))).toEqual({ detail: "already decided", code: "po.not_pending" });
    expect(describeError(new Error("plain"))).toEqual({ detail: "plain" });
  });
});
