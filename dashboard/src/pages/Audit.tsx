/**
 * The audit view: the event log with filters; an order's causal chain
 * (correlation and causation) as a timeline; an aggregate's state at any
 * past version (time travel with `as_of`); and the hash-chain
 * verification of an order's streams or of the whole log.
 */
import { useEffect, useId, useState, type FormEvent } from "react";
import { Link, useSearchParams } from "react-router-dom";
import type { EventsPage, LoggedEvent, StreamHistory, VerifyReport } from "../api/types";
import { categoryOf, formatTime, shortId } from "../api/format";
import { useApi, useSession } from "../auth/session";
import { can, whyNot } from "../auth/roles";
import { useResource } from "../hooks/useResource";
import { combineReports, streamsOf, verdict } from "../audit/verification";
import { Timeline, payloadSummary } from "../components/Timeline";
import { Empty, ErrorNotice, Loaded, Loading } from "../components/States";

const FILTERS = ["category", "event_type", "correlation_id", "stream"] as const;
type Filters = Record<(typeof FILTERS)[number], string>;

const FILTER_LABEL: Record<(typeof FILTERS)[number], string> = {
  category: "Category",
  event_type: "Event type",
  correlation_id: "Correlation (order)",
  stream: "Stream",
};

/** Whether an event matches the filters the server applies. */
export function matchesFilters(event: LoggedEvent, f: Filters): boolean {
  return (
    (!f.category || categoryOf(event.stream_id) === f.category) &&
    (!f.event_type || event.type === f.event_type) &&
    (!f.correlation_id || event.metadata.correlation_id === f.correlation_id) &&
    (!f.stream || event.stream_id === f.stream)
  );
}

function VerificationResult({ report }: { report: VerifyReport }) {
  return (
    <div className={`verdict ${report.intact ? "intact" : "broken"}`} role="status" data-testid="verdict">
      <strong>{report.intact ? "✓ Intact" : "✗ Broken"}</strong> <span>{verdict(report)}</span>
      {report.broken.length ? (
        <ul>
          {report.broken.map((b) => (
            <li key={`${b.stream_id}@${b.version}`}>
              <Link to={`/audit?stream=${encodeURIComponent(b.stream_id)}`}>{b.stream_id}</Link> version {b.version}: {b.description}{" "}
              <code>{b.problem}</code>
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}

/** Verifies every stream an order touched, as soon as its events are known. */
function OrderVerification({ events }: { events: LoggedEvent[] }) {
  const streams = streamsOf(events);
  const result = useResource(
    `verify:${streams.join(",")}`,
    async (api) =>
      combineReports(
        await Promise.all(streams.map((stream) => api.get<VerifyReport>("/api/v1/audit/verify", { stream }))),
      ),
    { enabled: streams.length > 0 },
  );
  if (streams.length === 0) return <Empty>No stream to verify yet.</Empty>;
  return (
    <Loaded resource={result} what={`the hash chains of ${streams.length} streams`}>
      {(report) => <VerificationResult report={report} />}
    </Loaded>
  );
}

function WholeLogVerification() {
  const api = useApi();
  const [state, setState] = useState<{ busy: boolean; report?: VerifyReport; error?: unknown }>({ busy: false });
  async function run() {
    setState({ busy: true });
    try {
      setState({ busy: false, report: await api.get<VerifyReport>("/api/v1/audit/verify") });
    } catch (error) {
      setState({ busy: false, error });
    }
  }
  return (
    <div>
      <button type="button" className="button" onClick={run} disabled={state.busy}>
        Verify the whole log
      </button>
      {state.busy ? <Loading what="Walking every hash chain" /> : null}
      {state.error ? <ErrorNotice error={state.error} title="Could not verify" /> : null}
      {state.report ? <VerificationResult report={state.report} /> : null}
    </div>
  );
}

function EventTable({ events }: { events: LoggedEvent[] }) {
  return (
    <div className="table-wrap">
      <table>
        <thead>
          <tr>
            <th scope="col">Position</th>
            <th scope="col">Type</th>
            <th scope="col">Stream</th>
            <th scope="col">Order</th>
            <th scope="col">Actor</th>
            <th scope="col">Recorded</th>
          </tr>
        </thead>
        <tbody>
          {events.map((e) => (
            <tr key={e.event_id}>
              <td>
                <code>{e.position}</code>
              </td>
              <td>
                <strong>{e.type}</strong>
                <div className="small muted">{payloadSummary(e.payload)}</div>
              </td>
              <td>
                <Link to={`/audit?stream=${encodeURIComponent(e.stream_id)}`}>{categoryOf(e.stream_id)}</Link>{" "}
                <span className="muted small">
                  {shortId(e.stream_id.slice(categoryOf(e.stream_id).length + 1))} v{e.version}
                </span>
              </td>
              <td>
                <Link to={`/audit?correlation_id=${encodeURIComponent(e.metadata.correlation_id)}`}>{shortId(e.metadata.correlation_id)}</Link>
              </td>
              <td>{e.metadata.actor}</td>
              <td>{formatTime(e.recorded_at)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function EventLog({ filters }: { filters: Filters }) {
  // Older pages shown and the cursor asked for now, for the filters they
  // were asked with: other filters start from the newest page.
  const key = JSON.stringify(filters);
  const [paging, setPaging] = useState<{ key: string; cursor: string | null; pages: LoggedEvent[] }>({
    key,
    cursor: null,
    pages: [],
  });
  const { cursor, pages } = paging.key === key ? paging : { cursor: null, pages: [] };
  const first = useResource(
    `events:${key}:${cursor ?? ""}`,
    (api, min) => api.get<EventsPage>("/api/v1/events", { ...filters, order: "desc", limit: 100, cursor, min_checkpoint: min }),
    { refreshOn: (e) => cursor === null && matchesFilters(e, filters), debounceMs: 500 },
  );
  return (
    <Loaded resource={first} what="events" isEmpty={(p) => p.events.length === 0 && pages.length === 0} empty="No event matches these filters.">
      {(page) => (
        <>
          <EventTable events={[...pages, ...page.events]} />
          {page.next_cursor ? (
            <button
              type="button"
              className="button"
              onClick={() => setPaging({ key, cursor: page.next_cursor, pages: [...pages, ...page.events] })}
            >
              Older events
            </button>
          ) : null}
        </>
      )}
    </Loaded>
  );
}

function OrderStory({ correlationId }: { correlationId: string }) {
  const { session } = useSession();
  const story = useResource(
    `story:${correlationId}`,
    (api, min) => api.get<EventsPage>("/api/v1/events", { correlation_id: correlationId, limit: 500, min_checkpoint: min }),
    { refreshOn: (e) => e.metadata.correlation_id === correlationId, debounceMs: 500 },
  );
  const blocked = whyNot(session?.role, "verify_chains");
  return (
    <>
      <section className="card" aria-labelledby="verify-order-h">
        <h2 id="verify-order-h">Hash chains of this order</h2>
        {blocked ? <p className="hint">{blocked}</p> : story.data ? <OrderVerification events={story.data.events} /> : <Loading what="Finding its streams" />}
      </section>
      <section className="card" aria-labelledby="chain-h">
        <h2 id="chain-h">
          Causal chain of order <code>{shortId(correlationId)}</code>
        </h2>
        <Loaded resource={story} what="the order's events" isEmpty={(p) => p.events.length === 0} empty="No event carries this correlation id.">
          {(page) => (
            <>
              <Timeline events={page.events} streamLink={(s) => `/audit?stream=${encodeURIComponent(s)}&correlation_id=${encodeURIComponent(correlationId)}`} />
              {page.next_cursor ? <p className="muted">Showing the first 500 events.</p> : null}
            </>
          )}
        </Loaded>
      </section>
    </>
  );
}

/** A stream's state at a past version. */
function TimeTravel({ stream }: { stream: string }) {
  const id = useId();
  const [asOf, setAsOf] = useState<number | null>(null);
  const [shown, setShown] = useState<number | null>(null);
  useEffect(() => {
    setAsOf(null);
    setShown(null);
  }, [stream]);
  // The slider moves freely; the history is fetched once it rests.
  useEffect(() => {
    const timer = setTimeout(() => setShown(asOf), 200);
    return () => clearTimeout(timer);
  }, [asOf]);
  const history = useResource(
    `stream:${stream}:${shown ?? "head"}`,
    (api) => api.get<StreamHistory>(`/api/v1/streams/${encodeURIComponent(stream)}`, { as_of: shown ?? undefined }),
    { refreshOn: (e) => shown === null && e.stream_id === stream, waitForEvent: false },
  );
  return (
    <Loaded resource={history} what="the stream's history">
      {(h) => {
        const value = asOf ?? h.as_of;
        return (
          <>
            <div className="slider-row">
              <label htmlFor={id}>
                Version <strong>{value}</strong> of {h.version}
              </label>
              <input
                id={id}
                type="range"
                min={1}
                max={h.version}
                value={value}
                onChange={(e) => setAsOf(Number(e.target.value))}
              />
              <input
                type="number"
                aria-label="Version"
                min={1}
                max={h.version}
                value={value}
                onChange={(e) => {
                  const n = Number(e.target.value);
                  if (n >= 1 && n <= h.version) setAsOf(n);
                }}
              />
            </div>
            <div className="columns">
              <div>
                <h3>State at version {h.as_of}</h3>
                {h.state === undefined || h.state === null ? (
                  <Empty>The server gives no folded state for a {h.category} stream; the events below are its history.</Empty>
                ) : (
                  <pre className="state-json" data-testid="folded-state">{JSON.stringify(h.state, null, 2)}</pre>
                )}
              </div>
              <div>
                <h3>Events up to version {h.as_of}</h3>
                <Timeline events={h.events} />
              </div>
            </div>
          </>
        );
      }}
    </Loaded>
  );
}

export function AuditPage() {
  const [params, setParams] = useSearchParams();
  const { session } = useSession();
  const filters = Object.fromEntries(FILTERS.map((f) => [f, params.get(f) ?? ""])) as Filters;
  const [draft, setDraft] = useState<Filters>(filters);
  const formId = useId();
  const paramsKey = params.toString();
  useEffect(() => {
    setDraft(Object.fromEntries(FILTERS.map((f) => [f, params.get(f) ?? ""])) as Filters);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [paramsKey]);

  function apply(event: FormEvent) {
    event.preventDefault();
    const next: Record<string, string> = {};
    for (const f of FILTERS) if (draft[f].trim()) next[f] = draft[f].trim();
    setParams(next);
  }

  return (
    <>
      <div className="page-head">
        <h1>Audit</h1>
      </div>
      <form className="card filter-form" onSubmit={apply} aria-label="Filter the event log">
        {FILTERS.map((f) => (
          <div key={f} className="field">
            <label htmlFor={`${formId}-${f}`}>{FILTER_LABEL[f]}</label>
            <input
              id={`${formId}-${f}`}
              type="text"
              value={draft[f]}
              onChange={(e) => setDraft({ ...draft, [f]: e.target.value })}
              placeholder={f === "category" ? "e.g. purchase_order" : f === "event_type" ? "e.g. ApprovalGranted" : ""}
            />
          </div>
        ))}
        <div className="button-row">
          <button type="submit" className="button primary">
            Show
          </button>
          <button type="button" className="button quiet" onClick={() => setParams({})}>
            Clear
          </button>
        </div>
      </form>
      {filters.correlation_id ? <OrderStory correlationId={filters.correlation_id} /> : null}
      {filters.stream ? (
        <section className="card" aria-labelledby="travel-h">
          <h2 id="travel-h">
            Time travel: <code>{filters.stream}</code>
          </h2>
          <TimeTravel stream={filters.stream} />
        </section>
      ) : null}
      <section className="card" aria-labelledby="log-h">
        <h2 id="log-h">Event log</h2>
        <EventLog filters={filters} />
      </section>
      <section className="card" aria-labelledby="verify-h">
        <h2 id="verify-h">Whole log</h2>
        {can(session?.role, "verify_chains") ? <WholeLogVerification /> : <p className="hint">{whyNot(session?.role, "verify_chains")}</p>}
      </section>
    </>
  );
}
