/**
 * One directive: its plan as a tree with live statuses, the approvals it
 * waits for, the CEO's actions (pause, resume, cancel, answer) and its
 * whole story (the events of its correlation) as a timeline.
 */
import { useId, useState, type FormEvent } from "react";
import { Link, useParams } from "react-router-dom";
import type { Accepted, DirectiveDetail, EventsPage } from "../api/types";
import { formatMicroUsd, formatMoney, formatNumber, formatTime } from "../api/format";
import { useApi, useSession } from "../auth/session";
import { whyNot } from "../auth/roles";
import { useApprovals, useDirective } from "../hooks/queries";
import { useResource } from "../hooks/useResource";
import { Badge } from "../components/Badge";
import { PlanTree } from "../components/PlanTree";
import { Timeline } from "../components/Timeline";
import { Empty, ErrorNotice, Loaded } from "../components/States";

type Action = "pause" | "resume" | "cancel" | "answer";

/** Which actions a directive's state allows. */
export function availableActions(d: Pick<DirectiveDetail, "status" | "paused" | "question">): Action[] {
  const finished = ["completed", "failed", "cancelled"].includes(d.status);
  if (finished) return [];
  const actions: Action[] = [d.paused ? "resume" : "pause", "cancel"];
  if (d.status === "awaiting_clarification" || d.question) actions.unshift("answer");
  return actions;
}

const ACTION_LABEL: Record<Action, string> = { pause: "Pause", resume: "Resume", cancel: "Cancel directive", answer: "Send answer" };

function Actions({ directive, onDone }: { directive: DirectiveDetail; onDone: (checkpoint: string | null) => void }) {
  const { session } = useSession();
  const api = useApi();
  const id = useId();
  const blocked = whyNot(session?.role, "intervene");
  const [text, setText] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const actions = availableActions(directive);
  if (actions.length === 0) return <p className="muted">This directive is {directive.status}; nothing more can be done.</p>;

  async function act(action: Action, event?: FormEvent) {
    event?.preventDefault();
    if ((action === "answer" || action === "cancel") && !text.trim()) {
      setError(new Error(action === "answer" ? "Write the answer first." : "Say why it is cancelled."));
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const accepted = await api.post<Accepted>(`/api/v1/directives/${directive.id}/${action}`, {
        text: text.trim() || `${action} from the dashboard`,
      });
      setText("");
      onDone(accepted.checkpoint);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="actions" onSubmit={(e) => act(actions.includes("answer") ? "answer" : "pause", e)}>
      <label htmlFor={id}>{actions.includes("answer") ? "Answer or reason" : "Reason"}</label>
      <input id={id} type="text" value={text} onChange={(e) => setText(e.target.value)} disabled={!!blocked || busy} />
      <div className="button-row">
        {actions.map((action) => (
          <button
            key={action}
            type="button"
            className={`button ${action === "cancel" ? "danger" : ""}`}
            disabled={!!blocked || busy}
            onClick={() => act(action)}
          >
            {ACTION_LABEL[action]}
          </button>
        ))}
      </div>
      {blocked ? <p className="hint">{blocked}</p> : null}
      {error ? <ErrorNotice error={error} title="Not done" /> : null}
    </form>
  );
}

function Story({ correlationId }: { correlationId: string }) {
  const story = useResource(
    `story:${correlationId}`,
    (api, min) => api.get<EventsPage>("/api/v1/events", { correlation_id: correlationId, limit: 500, min_checkpoint: min }),
    { refreshOn: (e) => e.metadata.correlation_id === correlationId, debounceMs: 500 },
  );
  return (
    <Loaded resource={story} what="the story" isEmpty={(p) => p.events.length === 0} empty="No event recorded yet.">
      {(page) => <Timeline events={page.events} streamLink={(s) => `/audit?stream=${encodeURIComponent(s)}`} />}
    </Loaded>
  );
}

function Waiting({ directiveId }: { directiveId: string }) {
  const approvals = useApprovals("pending", directiveId);
  return (
    <Loaded resource={approvals} what="approvals">
      {(mine) => {
        if (mine.length === 0) return <Empty>Waiting for no approval.</Empty>;
        return (
          <ul className="plain-list">
            {mine.map((a) => (
              <li key={a.id}>
                <strong>{a.what}</strong> — {formatMoney(a.amount)} <span className="muted">({a.why})</span>{" "}
                <Link to="/approvals">Decide in the inbox</Link>
              </li>
            ))}
          </ul>
        );
      }}
    </Loaded>
  );
}

export function DirectiveDetailPage() {
  const { id = "" } = useParams();
  const directive = useDirective(id);
  return (
    <Loaded resource={directive} what="the directive">
      {(d) => (
        <>
          <div className="page-head">
            <div>
              <p className="breadcrumb">
                <Link to="/directives">Directives</Link> /
              </p>
              <h1 className="directive-title">{d.text}</h1>
            </div>
            <Link className="button" to={`/audit?correlation_id=${encodeURIComponent(d.correlation_id)}`}>
              Audit trail
            </Link>
          </div>
          <dl className="facts">
            <div>
              <dt>Status</dt>
              <dd>
                <Badge status={d.status} /> {d.paused ? <Badge status="paused" /> : null}
              </dd>
            </div>
            <div>
              <dt>Priority</dt>
              <dd>{d.priority}</dd>
            </div>
            <div>
              <dt>Given</dt>
              <dd>
                {formatTime(d.issued_at)} by {d.issued_by}
              </dd>
            </div>
            <div>
              <dt>Deadline</dt>
              <dd>{formatTime(d.deadline)}</dd>
            </div>
            <div>
              <dt>Spending limit</dt>
              <dd>{formatMoney(d.spending_limit)}</dd>
            </div>
            <div>
              <dt>Planner</dt>
              <dd>
                {d.planner ?? "—"}
                {d.model ? ` (${d.model})` : ""}
              </dd>
            </div>
            <div>
              <dt>Model use</dt>
              <dd data-testid="model-use">
                {(d.llm_usage ?? []).length === 0 ? (
                  "none"
                ) : (
                  <>
                    {formatNumber(d.llm_tokens)} tokens, {formatMicroUsd(d.llm_cost_micro_usd)}
                    <ul className="plain-list" aria-label="Model use per caller">
                      {(d.llm_usage ?? []).map((u) => (
                        <li key={u.caller}>
                          {u.caller}: {formatNumber(u.calls)} {u.calls === 1 ? "call" : "calls"},{" "}
                          {formatNumber(u.prompt_tokens + u.completion_tokens)} tokens, {formatMicroUsd(u.cost_micro_usd)}
                        </li>
                      ))}
                    </ul>
                  </>
                )}
              </dd>
            </div>
          </dl>
          {d.question ? (
            <p className="callout warn">
              <strong>The Brain asks:</strong> {d.question}
            </p>
          ) : null}
          {d.escalation ? (
            <p className="callout bad">
              <strong>Escalated:</strong> {d.escalation}
            </p>
          ) : null}
          {d.summary ? (
            <p className="callout">
              <strong>Outcome:</strong> {d.summary}
            </p>
          ) : null}
          {directive.error ? <ErrorNotice error={directive.error} title="Could not refresh" /> : null}
          <div className="columns">
            <section aria-labelledby="plan-h" className="card">
              <h2 id="plan-h">Plan</h2>
              <PlanTree tasks={d.tasks} order={d.plan?.tasks} />
            </section>
            <div className="stack">
              <section aria-labelledby="actions-h" className="card">
                <h2 id="actions-h">Step in</h2>
                <Actions directive={d} onDone={(checkpoint) => directive.reload(checkpoint)} />
              </section>
              <section aria-labelledby="approvals-h" className="card">
                <h2 id="approvals-h">Approvals it waits for</h2>
                <Waiting directiveId={d.id} />
              </section>
            </div>
          </div>
          <section aria-labelledby="story-h" className="card">
            <h2 id="story-h">Its story</h2>
            <Story correlationId={d.correlation_id} />
          </section>
        </>
      )}
    </Loaded>
  );
}
