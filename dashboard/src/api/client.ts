/**
 * The gateway's HTTP client: bearer authentication, JSON in and out, and
 * every failure turned into one {@link ApiError} carrying the problem's
 * `detail` and `code` (RFC 9457 problem+json), or a sentence saying what
 * else went wrong (network, a body that is not JSON).
 */

/** A failed call, as the user should read it. */
export class ApiError extends Error {
  constructor(
    /** The HTTP status (0 when the server could not be reached). */
    readonly status: number,
    /** The problem's stable code, e.g. `auth.forbidden`, or `network`. */
    readonly code: string,
    /** What went wrong, for a person. */
    readonly detail: string,
    /** The field at fault, when the problem names one. */
    readonly field?: string,
  ) {
    super(`${detail} (${code})`);
    this.name = "ApiError";
  }
}

/** Query parameters; empty and undefined values are left out. */
export type Query = Record<string, string | number | boolean | null | undefined>;

/** `path` with `query` appended. */
export function withQuery(path: string, query?: Query): string {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === "") continue;
    params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

/** The error a non-2xx response stands for. */
export async function errorOf(response: Response): Promise<ApiError> {
  const text = await response.text().catch(() => "");
  try {
    const problem = JSON.parse(text) as Partial<Record<string, unknown>>;
    if (problem && typeof problem === "object" && typeof problem.detail === "string") {
      return new ApiError(
        response.status,
        typeof problem.code === "string" ? problem.code : `http.${response.status}`,
        problem.detail,
        typeof problem.field === "string" ? problem.field : undefined,
      );
    }
  } catch {
    // Not JSON: described below.
  }
  const reason = response.statusText || "error";
  const hint = response.status === 404 ? " — this server does not offer it" : "";
  return new ApiError(response.status, `http.${response.status}`, `${response.status} ${reason}${hint}`);
}

/** A client for one token. */
export interface Api {
  get<T>(path: string, query?: Query): Promise<T>;
  post<T>(path: string, body?: unknown): Promise<T>;
  del<T>(path: string, body?: unknown): Promise<T>;
  /** The raw response of a streaming GET (the feed); throws ApiError unless 2xx. */
  stream(path: string, headers: Record<string, string>, signal: AbortSignal): Promise<Response>;
}

/** A client sending `token`, over `fetchImpl` (the browser's by default). */
export function createApi(token: string, fetchImpl: typeof fetch = (...args) => fetch(...args)): Api {
  const authorization = { Authorization: `Bearer ${token}` };

  async function send(method: string, path: string, init: RequestInit = {}): Promise<Response> {
    let response: Response;
    try {
      response = await fetchImpl(path, {
        ...init,
        method,
        headers: { Accept: "application/json", ...authorization, ...(init.headers as Record<string, string>) },
      });
    } catch (error) {
      if (error instanceof DOMException && error.name === "AbortError") throw error;
      throw new ApiError(0, "network", "the server could not be reached; check your connection");
    }
    if (!response.ok) throw await errorOf(response);
    return response;
  }

  async function json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const init: RequestInit =
      body === undefined ? {} : { body: JSON.stringify(body), headers: { "Content-Type": "application/json" } };
    const response = await send(method, path, init);
    const text = await response.text();
    if (!text) return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new ApiError(response.status, "response.not_json", "the server answered something that is not JSON");
    }
  }

  return {
    get: (path, query) => json("GET", withQuery(path, query)),
    post: (path, body) => json("POST", path, body ?? {}),
    del: (path, body) => json("DELETE", path, body ?? {}),
    stream: (path, headers, signal) => send("GET", path, { headers: { Accept: "text/event-stream", ...headers }, signal }),
  };
}

/** A readable message for anything thrown. */
export function describeError(error: unknown): { detail: string; code?: string } {
  if (error instanceof ApiError) return { detail: error.detail, code: error.code };
  if (error instanceof Error) return { detail: error.message };
  return { detail: String(error) };
}
