/** Renders the signed-in app (or sign-in) at a route over a fake server. */
import { render } from "@testing-library/react";
import { MemoryRouter } from "react-router-dom";
import { Gate } from "../App";
import { SessionProvider, TOKEN_KEY } from "../auth/session";

export const TOKEN = `agt_${"a".repeat(64)}`;

/** `signedIn`: a token is already in sessionStorage (the server's /session decides who it is). */
export function renderApp(route: string, fetchImpl: typeof fetch, { signedIn = true, liveFeed = false } = {}) {
  if (signedIn) sessionStorage.setItem(TOKEN_KEY, TOKEN);
  return render(
    <SessionProvider fetchImpl={fetchImpl}>
      <MemoryRouter initialEntries={[route]}>
        <Gate liveFeed={liveFeed} />
      </MemoryRouter>
    </SessionProvider>,
  );
}
