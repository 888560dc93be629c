/** The directives list, newest first, with a status filter; live. */
import { useId } from "react";
import { Link, useSearchParams } from "react-router-dom";
import type { DirectivesPage } from "../api/types";
import { formatTime } from "../api/format";
import { useResource } from "../hooks/useResource";
import { touchesDirectives } from "../hooks/queries";
import { Badge } from "../components/Badge";
import { Loaded } from "../components/States";

export const DIRECTIVE_STATUSES = ["planning", "awaiting_clarification", "in_progress", "completed", "failed", "cancelled"];

export function DirectivesPageView() {
  const [params, setParams] = useSearchParams();
  const status = params.get("status") ?? "";
  const id = useId();
  const directives = useResource(
    `directives:${status}`,
    (api, min) => api.get<DirectivesPage>("/api/v1/directives", { status, limit: 100, min_checkpoint: min }),
    { refreshOn: touchesDirectives },
  );
  return (
    <>
      <div className="page-head">
        <h1>Directives</h1>
        <div className="filters">
          <label htmlFor={id}>Status</label>
          <select
            id={id}
            value={status}
            onChange={(e) => setParams(e.target.value ? { status: e.target.value } : {})}
          >
            <option value="">All</option>
            {DIRECTIVE_STATUSES.map((s) => (
              <option key={s} value={s}>
                {s.replace(/_/g, " ")}
              </option>
            ))}
          </select>
        </div>
      </div>
      <Loaded
        resource={directives}
        what="directives"
        isEmpty={(page) => page.directives.length === 0}
        empty={status ? "No directive in this status." : "No directive yet. Give an order above."}
      >
        {(page) => (
          <div className="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">Order</th>
                  <th scope="col">Status</th>
                  <th scope="col">Priority</th>
                  <th scope="col">Given by</th>
                  <th scope="col">Given at</th>
                </tr>
              </thead>
              <tbody>
                {page.directives.map((d) => (
                  <tr key={d.id}>
                    <td>
                      <Link to={`/directives/${d.id}`}>{d.text}</Link>
                    </td>
                    <td>
                      <Badge status={d.status} /> {d.paused ? <Badge status="paused" /> : null}
                    </td>
                    <td>{d.priority}</td>
                    <td>{d.issued_by}</td>
                    <td>{formatTime(d.issued_at)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
            {page.next_cursor ? <p className="muted">Showing the newest 100.</p> : null}
          </div>
        )}
      </Loaded>
    </>
  );
}
