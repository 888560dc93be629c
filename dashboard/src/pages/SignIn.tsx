/** The sign-in page: paste a token; it is checked with `/api/v1/session`. */
import { useId, useState, type FormEvent } from "react";
import { useSession, looksLikeToken } from "../auth/session";
import { ErrorNotice } from "../components/States";

export function SignIn() {
  const { signIn } = useSession();
  const id = useId();
  const [token, setToken] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (!token.trim()) {
      setError(new Error("Paste a token first."));
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await signIn(token);
    } catch (e) {
      setError(e);
      setBusy(false);
    }
  }

  const shapeHint = token.trim() && !looksLikeToken(token) ? "Tokens look like agt_ followed by 64 hex digits." : null;
  return (
    <main className="sign-in" id="main">
      <form onSubmit={submit} className="card sign-in-card" aria-labelledby={`${id}-title`}>
        <h1 id={`${id}-title`}>AgentOS</h1>
        <p className="muted">Sign in with your API token (from <code>agentos token create</code>, or the demo's “CEO token”).</p>
        <label htmlFor={id}>Token</label>
        <input
          id={id}
          type="password"
          autoComplete="off"
          spellCheck={false}
          value={token}
          onChange={(e) => setToken(e.target.value)}
          placeholder="agt_…"
          aria-describedby={shapeHint ? `${id}-hint` : undefined}
        />
        {shapeHint ? (
          <p id={`${id}-hint`} className="hint">
            {shapeHint}
          </p>
        ) : null}
        <button type="submit" className="button primary" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
        {error ? <ErrorNotice error={error} title="Could not sign in" /> : null}
        <p className="muted small">The token is kept in this tab only and forgotten when you sign out or close it.</p>
      </form>
    </main>
  );
}
