import { describe, expect, it } from "vitest";
import { screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { renderApp, TOKEN } from "./testing/renderApp";
import { fakeServer, problem } from "./testing/fakeServer";
import { TOKEN_KEY } from "./auth/session";

const EMPTY = {
  "GET /api/v1/directives": { directives: [], next_cursor: null },
};

describe("signing in", () => {
  it("checks the token with /session, keeps it for the tab and shows who is signed in", async () => {
    const server = fakeServer({ ...EMPTY, "GET /api/v1/session": { name: "alice", role: "ceo" } });
    renderApp("/", server.fetch, { signedIn: false });
    await userEvent.type(screen.getByLabelText("Token"), TOKEN);
    await userEvent.click(screen.getByRole("button", { name: "Sign in" }));
    expect(await screen.findByTestId("signed-in-as")).toHaveTextContent("alice ceo");
    expect(sessionStorage.getItem(TOKEN_KEY)).toBe(TOKEN);
    expect(await screen.findByText(/No directive yet/)).toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: "Sign out" }));
    expect(screen.getByLabelText("Token")).toBeInTheDocument();
    expect(sessionStorage.getItem(TOKEN_KEY)).toBeNull();
  });

  it("shows the server's detail and code when the token is refused", async () => {
    const server = fakeServer({ "GET /api/v1/session": problem(401, "auth.invalid_token", "unknown or revoked token") });
    renderApp("/", server.fetch, { signedIn: false });
    await userEvent.type(screen.getByLabelText("Token"), "agt_nope");
    expect(screen.getByText(/agt_ followed by 64 hex/)).toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: "Sign in" }));
    const alert = await screen.findByRole("alert");
    expect(alert).toHaveTextContent("unknown or revoked token");
    expect(within(alert).getByText("auth.invalid_token")).toBeInTheDocument();
  });

  it("says plainly when the server has no /session endpoint", async () => {
    const server = fakeServer({});
    renderApp("/", server.fetch, { signedIn: false });
    await userEvent.type(screen.getByLabelText("Token"), TOKEN);
    await userEvent.click(screen.getByRole("button", { name: "Sign in" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("no route GET /api/v1/session");
  });
});

describe("the pages' states", () => {
  it("shows a loading state, then the error with its code and a retry", async () => {
    let calls = 0;
    // The first answer is held until the test has seen the loading state, so
    // how fast the fake answers cannot decide what the test observes.
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    const server = fakeServer({
      "GET /api/v1/session": { name: "v", role: "viewer" },
      "GET /api/v1/directives": async () => {
        calls += 1;
        if (calls > 1) return { directives: [], next_cursor: null };
        await held;
        return problem(503, "projection.not_ready", "the read model is still being built");
      },
    });
    renderApp("/directives", server.fetch);
    expect(await screen.findByText(/Loading directives/)).toBeInTheDocument();
    release();
    expect(await screen.findByRole("alert")).toHaveTextContent("projection.not_ready");
    await userEvent.click(screen.getByRole("button", { name: "Try again" }));
    expect(await screen.findByText(/No directive yet/)).toBeInTheDocument();
  });

  it("tells a viewer why the agents page and the command bar are closed", async () => {
    const server = fakeServer({ "GET /api/v1/session": { name: "v", role: "viewer" } });
    renderApp("/agents", server.fetch);
    expect(await screen.findByText(/Viewers see the read models only/)).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Give order" })).toBeDisabled();
    expect(screen.getByText(/Only the CEO gives orders. You are signed in as viewer./)).toBeInTheDocument();
    expect(server.requests.some((r) => r.path === "/api/v1/agents")).toBe(false);
  });

  it("renders a 403 from the server as a clear error", async () => {
    const server = fakeServer({
      "GET /api/v1/session": { name: "op", role: "operator" },
      "GET /api/v1/agents": problem(403, "auth.forbidden", "this role may not read the agents"),
      "GET /api/v1/logs": { components: [], lines: [] },
    });
    renderApp("/agents", server.fetch);
    const alert = await screen.findByRole("alert");
    expect(alert).toHaveTextContent("this role may not read the agents");
    expect(alert).toHaveTextContent("auth.forbidden");
    expect(await screen.findByText("No log line at this level.")).toBeInTheDocument();
  });
});
