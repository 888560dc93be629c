/**
 * The signed-in session: the token (kept in sessionStorage), who it is
 * (`GET /api/v1/session`) and the API client that sends it.
 */
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from "react";
import { ApiError, createApi, type Api } from "../api/client";
import type { Session } from "../api/types";
import { isRole } from "./roles";

/** Where the token is kept for the tab's life. */
export const TOKEN_KEY = "agentos.token";

/** What the app knows about who is signed in. */
export interface SessionState {
  token: string | null;
  session: Session | null;
  api: Api | null;
  /** True while a stored token is being checked. */
  restoring: boolean;
  signIn(token: string): Promise<void>;
  signOut(): void;
}

const SessionContext = createContext<SessionState | null>(null);

/** Asks the server who `token` is; throws ApiError when it is not valid. */
export async function whoIs(api: Api): Promise<Session> {
  const session = await api.get<Session>("/api/v1/session");
  if (!session || typeof session.name !== "string" || !isRole(session.role)) {
    throw new ApiError(200, "session.unexpected", "the server's answer to /api/v1/session has no known role");
  }
  return session;
}

/** Whether a pasted text looks like a token (`agt_` + 64 hex). */
export function looksLikeToken(text: string): boolean {
  return /^agt_[0-9a-f]{64}$/i.test(text.trim());
}

/** Provides the session; `fetchImpl` lets tests stand in for the server. */
export function SessionProvider({ children, fetchImpl }: { children: ReactNode; fetchImpl?: typeof fetch }) {
  const [token, setToken] = useState<string | null>(null);
  const [session, setSession] = useState<Session | null>(null);
  const [restoring, setRestoring] = useState<boolean>(() => sessionStorage.getItem(TOKEN_KEY) !== null);

  const signIn = useCallback(
    async (raw: string) => {
      const candidate = raw.trim();
      const who = await whoIs(createApi(candidate, fetchImpl));
      sessionStorage.setItem(TOKEN_KEY, candidate);
      setToken(candidate);
      setSession(who);
    },
    [fetchImpl],
  );

  const signOut = useCallback(() => {
    sessionStorage.removeItem(TOKEN_KEY);
    setToken(null);
    setSession(null);
  }, []);

  useEffect(() => {
    const stored = sessionStorage.getItem(TOKEN_KEY);
    if (!stored) return;
    let live = true;
    whoIs(createApi(stored, fetchImpl))
      .then((who) => {
        if (!live) return;
        setToken(stored);
        setSession(who);
      })
      .catch(() => {
        if (live) sessionStorage.removeItem(TOKEN_KEY);
      })
      .finally(() => {
        if (live) setRestoring(false);
      });
    return () => {
      live = false;
    };
  }, [fetchImpl]);

  const api = useMemo(() => (token ? createApi(token, fetchImpl) : null), [token, fetchImpl]);
  const value = useMemo<SessionState>(
    () => ({ token, session, api, restoring, signIn, signOut }),
    [token, session, api, restoring, signIn, signOut],
  );
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

/** The session (inside {@link SessionProvider}). */
export function useSession(): SessionState {
  const value = useContext(SessionContext);
  if (!value) throw new Error("useSession outside SessionProvider");
  return value;
}

/** The API client of the signed-in session. */
export function useApi(): Api {
  const { api } = useSession();
  if (!api) throw new Error("useApi while signed out");
  return api;
}
