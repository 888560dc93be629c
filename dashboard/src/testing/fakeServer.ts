/**
 * A stand-in for the gateway in unit tests: a `fetch` that answers from a
 * table of handlers by method and path, and records every request.
 */
export interface Recorded {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: Record<string, string>;
  body: unknown;
}

/** A function of the request, or a fixed answer (a Response is used once). */
export type Handler = ((request: Recorded) => unknown) | object;

/** A JSON response. */
export function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

/** A problem+json response. */
export function problem(status: number, code: string, detail: string): Response {
  return new Response(JSON.stringify({ type: `urn:agentos:problem:${code}`, title: "Error", status, detail, code }), {
    status,
    headers: { "Content-Type": "application/problem+json" },
  });
}

/** A fake fetch over `routes` ("GET /api/v1/session" → handler). Unknown routes answer 404 problems. */
export function fakeServer(routes: Record<string, Handler>) {
  const requests: Recorded[] = [];
  const fetchImpl = (async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const url = new URL(String(input), "http://dashboard.test");
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries((init.headers as Record<string, string>) ?? {})) headers[k.toLowerCase()] = v;
    const recorded: Recorded = {
      method: init.method ?? "GET",
      path: url.pathname,
      query: url.searchParams,
      headers,
      body: typeof init.body === "string" ? JSON.parse(init.body) : undefined,
    };
    requests.push(recorded);
    const handler = routes[`${recorded.method} ${recorded.path}`];
    if (!handler) return problem(404, "not_found", `no route ${recorded.method} ${recorded.path}`);
    const answer = typeof handler === "function" ? await (handler as (r: Recorded) => unknown)(recorded) : handler;
    return answer instanceof Response ? answer : json(answer);
  }) as typeof fetch;
  return { fetch: fetchImpl, requests };
}

/** A minimal task for tests. */
export function task(key: string, depends: string[] = [], status = "planned") {
  return {
    id: `id-${key}`,
    directive_id: "d1",
    key,
    department: "logistics",
    kind: `kind_${key}`,
    params: {},
    depends_on: depends,
    status,
    approval_rule: null,
    approval_id: null,
    note: null,
    agent: null,
    updated_at: "2025-01-01T00:00:00Z",
  };
}
