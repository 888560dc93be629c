/**
 * The command bar on every page: the CEO types an order, submits it, and
 * sees its plan appear task by task, live. Other roles see why it is off.
 */
import { useId, useState, type FormEvent } from "react";
import { Link } from "react-router-dom";
import type { Accepted } from "../api/types";
import { useApi, useSession } from "../auth/session";
import { whyNot } from "../auth/roles";
import { useDirective } from "../hooks/queries";
import { Badge } from "./Badge";
import { ErrorNotice, Loading } from "./States";
import { humanize } from "../api/format";

/** The order just given, followed live. */
function LivePlan({ directiveId, checkpoint, onDismiss }: { directiveId: string; checkpoint: string | null; onDismiss: () => void }) {
  const directive = useDirective(directiveId, checkpoint);
  const detail = directive.data;
  return (
    <section className="live-plan" aria-live="polite" aria-label="The order just given">
      <div className="live-plan-head">
        <span>
          Order given{detail ? <> — <Badge status={detail.status} /></> : null}
        </span>
        <Link to={`/directives/${directiveId}`}>Open directive</Link>
        <button type="button" className="button small quiet" onClick={onDismiss}>
          Dismiss
        </button>
      </div>
      {directive.error && !detail ? <ErrorNotice error={directive.error} onRetry={() => directive.reload()} /> : null}
      {!detail && !directive.error ? <Loading what="Waiting for the plan" /> : null}
      {detail ? (
        detail.tasks.length === 0 ? (
          <p className="muted">{detail.question ? `The Brain asks: ${detail.question}` : "The Brain is planning…"}</p>
        ) : (
          <ol className="live-tasks">
            {detail.tasks.map((task) => (
              <li key={task.id} data-testid="live-task">
                <Badge status={task.status} /> {humanize(task.kind)} <span className="muted">({task.department})</span>
              </li>
            ))}
          </ol>
        )
      ) : null}
    </section>
  );
}

/** The command bar. */
export function CommandBar() {
  const { session } = useSession();
  const api = useApi();
  const inputId = useId();
  const hintId = useId();
  const blocked = whyNot(session?.role, "give_order");
  const [text, setText] = useState("");
  const [priority, setPriority] = useState("normal");
  const [sending, setSending] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [given, setGiven] = useState<{ id: string; checkpoint: string | null } | null>(null);

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (blocked || sending) return;
    if (!text.trim()) {
      setError(new Error("Type an order first."));
      return;
    }
    setSending(true);
    setError(null);
    try {
      const accepted = await api.post<Accepted>("/api/v1/directives", { text: text.trim(), priority });
      if (accepted.directive_id) setGiven({ id: accepted.directive_id, checkpoint: accepted.checkpoint });
      setText("");
    } catch (e) {
      setError(e);
    } finally {
      setSending(false);
    }
  }

  return (
    <div className="command-bar">
      <form onSubmit={submit} className="command-form" aria-label="Give an order">
        <label htmlFor={inputId} className="visually-hidden">
          Order
        </label>
        <input
          id={inputId}
          className="command-input"
          type="text"
          value={text}
          onChange={(e) => setText(e.target.value)}
          placeholder={blocked ? "Orders are given by the CEO" : "Give an order, e.g. “Check stock in the main warehouse…”"}
          disabled={!!blocked || sending}
          aria-describedby={blocked ? hintId : undefined}
        />
        <label className="visually-hidden" htmlFor={`${inputId}-priority`}>
          Priority
        </label>
        <select
          id={`${inputId}-priority`}
          value={priority}
          onChange={(e) => setPriority(e.target.value)}
          disabled={!!blocked || sending}
        >
          <option value="low">Low</option>
          <option value="normal">Normal</option>
          <option value="high">High</option>
          <option value="urgent">Urgent</option>
        </select>
        <button type="submit" className="button primary" disabled={!!blocked || sending}>
          {sending ? "Sending…" : "Give order"}
        </button>
      </form>
      {blocked ? (
        <p id={hintId} className="hint">
          {blocked} You are signed in as {session?.role}.
        </p>
      ) : null}
      {error ? <ErrorNotice error={error} title="The order was not given" /> : null}
      {given ? <LivePlan key={given.id} directiveId={given.id} checkpoint={given.checkpoint} onDismiss={() => setGiven(null)} /> : null}
    </div>
  );
}
