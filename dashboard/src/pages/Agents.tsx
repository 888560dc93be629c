/**
 * The agents' health: each processor's and projection's throughput, lag,
 * errors and dead letters; the adapters' circuit breakers; the global stop
 * switch (CEO, operator); and the recent activity log. Refreshed as events
 * flow (debounced) and on demand.
 */
import { useId, useState, type FormEvent } from "react";
import type { Accepted, AgentsReport, LogsPage } from "../api/types";
import { formatNumber, formatTime } from "../api/format";
import { useApi, useSession } from "../auth/session";
import { whyNot } from "../auth/roles";
import { useResource } from "../hooks/useResource";
import { Badge } from "../components/Badge";
import { Empty, ErrorNotice, Loaded } from "../components/States";

function StopSwitch({ engaged, onFlipped }: { engaged: boolean | null; onFlipped: () => void }) {
  const { session } = useSession();
  const api = useApi();
  const id = useId();
  const blocked = whyNot(session?.role, "stop_switch");
  const [reason, setReason] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  async function flip(event: FormEvent) {
    event.preventDefault();
    if (!reason.trim()) {
      setError(new Error("Say why."));
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const body = { reason: reason.trim() };
      await (engaged ? api.del<Accepted>("/api/v1/control/stop", body) : api.post<Accepted>("/api/v1/control/stop", body));
      setReason("");
      onFlipped();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className={`stop-switch ${engaged ? "engaged" : ""}`} onSubmit={flip}>
      <p>
        Stop switch:{" "}
        {engaged === null ? (
          <span className="muted">not followed by this process</span>
        ) : engaged ? (
          <Badge status="halted" label="engaged — agents take no new event" />
        ) : (
          <Badge status="running" label="off — agents work" />
        )}
      </p>
      <label htmlFor={id}>Reason</label>
      <input id={id} type="text" value={reason} onChange={(e) => setReason(e.target.value)} disabled={!!blocked || busy} />
      <button type="submit" className={`button ${engaged ? "primary" : "danger"}`} disabled={!!blocked || busy}>
        {engaged ? "Lift the stop switch" : "Engage the stop switch"}
      </button>
      {blocked ? <p className="hint">{blocked}</p> : null}
      {error ? <ErrorNotice error={error} title="Not flipped" /> : null}
    </form>
  );
}

function Report({ report, reload }: { report: AgentsReport; reload: () => void }) {
  return (
    <>
      <section className="card" aria-labelledby="stop-h">
        <h2 id="stop-h">Stop switch</h2>
        <StopSwitch engaged={report.stop_engaged} onFlipped={reload} />
      </section>
      <section className="card" aria-labelledby="proc-h">
        <h2 id="proc-h">Processors</h2>
        {report.processors.length === 0 ? (
          <Empty>No processor runs in this process.</Empty>
        ) : (
          <div className="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">State</th>
                  <th scope="col">Handled</th>
                  <th scope="col">Commands</th>
                  <th scope="col">Retried</th>
                  <th scope="col">Dead letters</th>
                  <th scope="col">Lag</th>
                  <th scope="col">Last error</th>
                </tr>
              </thead>
              <tbody>
                {report.processors.map((p) => (
                  <tr key={p.name} className={p.dead_lettered > 0 || p.last_error ? "attention" : undefined}>
                    <td>{p.name}</td>
                    <td>
                      <Badge status={p.state} />
                    </td>
                    <td className="num">{formatNumber(p.handled)}</td>
                    <td className="num">{formatNumber(p.commands)}</td>
                    <td className="num">{formatNumber(p.retried)}</td>
                    <td className="num">{formatNumber(p.dead_lettered)}</td>
                    <td className="num">
                      {p.lag_events !== null ? `${formatNumber(p.lag_events)} events, ` : ""}
                      {formatNumber(p.lag_seconds, 2)} s
                    </td>
                    <td className="small">{p.last_error ?? "—"}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
      <section className="card" aria-labelledby="projections-h">
        <h2 id="projections-h">Projections</h2>
        {report.projections.length === 0 ? (
          <Empty>No projection runs in this process.</Empty>
        ) : (
          <div className="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">State</th>
                  <th scope="col">Version</th>
                  <th scope="col">Checkpoint</th>
                  <th scope="col">Applied</th>
                  <th scope="col">Failures</th>
                  <th scope="col">Lag</th>
                  <th scope="col">Last error</th>
                </tr>
              </thead>
              <tbody>
                {report.projections.map((p) => (
                  <tr key={p.name} className={p.failures > 0 || p.last_error ? "attention" : undefined}>
                    <td>{p.name}</td>
                    <td>
                      <Badge status={p.state} />
                      {p.rebuilding !== null ? <span className="muted small"> rebuilding gen {p.rebuilding}</span> : null}
                    </td>
                    <td className="num">{p.version}</td>
                    <td>
                      <code>{p.checkpoint}</code>
                    </td>
                    <td className="num">{formatNumber(p.applied)}</td>
                    <td className="num">{formatNumber(p.failures)}</td>
                    <td className="num">
                      {formatNumber(p.lag_events)} events, {formatNumber(p.lag_seconds, 2)} s
                    </td>
                    <td className="small">{p.last_error ?? "—"}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
      <section className="card" aria-labelledby="adapters-h">
        <h2 id="adapters-h">Adapters</h2>
        {report.adapters.length === 0 ? (
          <Empty>No adapter to an external system has been used yet.</Empty>
        ) : (
          <div className="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">System</th>
                  <th scope="col">Circuit</th>
                  <th scope="col">Calls</th>
                  <th scope="col">Failures</th>
                  <th scope="col">Last success</th>
                  <th scope="col">Last failure</th>
                </tr>
              </thead>
              <tbody>
                {report.adapters.map((a) => (
                  <tr key={a.system} className={a.circuit !== "closed" ? "attention" : undefined}>
                    <td>{a.system}</td>
                    <td>
                      <Badge status={a.circuit} />
                      {a.retry_after_ms !== null ? <span className="muted small"> retry in {Math.ceil(a.retry_after_ms / 1000)} s</span> : null}
                    </td>
                    <td className="num">{formatNumber(a.calls)}</td>
                    <td className="num">{formatNumber(a.failures)}</td>
                    <td>{formatTime(a.last_success_at)}</td>
                    <td>
                      {formatTime(a.last_failure_at)}
                      {a.last_error ? <div className="small">{a.last_error}</div> : null}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </>
  );
}

function Activity() {
  const id = useId();
  const [level, setLevel] = useState("info");
  const logs = useResource(`logs:${level}`, (api) => api.get<LogsPage>("/api/v1/logs", { level, limit: 50 }), {
    refreshOn: () => true,
    debounceMs: 2000,
    waitForEvent: false,
  });
  return (
    <section className="card" aria-labelledby="logs-h">
      <div className="section-head">
        <h2 id="logs-h">Recent activity</h2>
        <div className="filters">
          <label htmlFor={id}>Level</label>
          <select id={id} value={level} onChange={(e) => setLevel(e.target.value)}>
            <option value="info">info and above</option>
            <option value="warn">warnings and errors</option>
            <option value="error">errors</option>
          </select>
        </div>
      </div>
      <Loaded resource={logs} what="the activity log" isEmpty={(p) => p.lines.length === 0} empty="No log line at this level.">
        {(page) => (
          <ol className="log-lines">
            {page.lines.map((line, i) => (
              <li key={`${line.at}-${i}`} className={`log-${line.level.toLowerCase()}`}>
                <span className="muted small">{formatTime(line.at)}</span> <Badge status={line.level === "ERROR" ? "failed" : line.level === "WARN" ? "pending" : "planned"} label={line.level} />{" "}
                <strong>{line.component}</strong> {line.message}
                {Object.keys(line.fields).length ? (
                  <span className="log-fields">
                    {Object.entries(line.fields)
                      .map(([k, v]) => `${k}=${v}`)
                      .join(" ")}
                  </span>
                ) : null}
              </li>
            ))}
          </ol>
        )}
      </Loaded>
    </section>
  );
}

function AgentsHealth() {
  const agents = useResource("agents", (api) => api.get<AgentsReport>("/api/v1/agents"), {
    refreshOn: () => true,
    debounceMs: 1500,
    waitForEvent: false,
  });
  return (
    <>
      <div className="page-head">
        <h1>Agents</h1>
        <button type="button" className="button" onClick={() => agents.reload()}>
          Refresh
        </button>
      </div>
      <Loaded resource={agents} what="the agents' health">
        {(report) => <Report report={report} reload={() => agents.reload()} />}
      </Loaded>
      <Activity />
    </>
  );
}

export function AgentsPage() {
  const { session } = useSession();
  const blocked = whyNot(session?.role, "view_agents");
  if (blocked) {
    return (
      <>
        <div className="page-head">
          <h1>Agents</h1>
        </div>
        <Empty>{blocked}</Empty>
      </>
    );
  }
  return <AgentsHealth />;
}
