/**
 * The approvals inbox: what an agent wants to do, why it needs the CEO,
 * the money involved and the purchase order behind it; approve, or reject
 * with a reason.
 */
import { useId, useState, type FormEvent } from "react";
import { Link, useSearchParams } from "react-router-dom";
import type { Accepted, Approval, PurchaseOrder, PurchaseOrderDetail, PurchaseOrdersPage } from "../api/types";
import { formatMoney, formatTime } from "../api/format";
import { useApi, useSession } from "../auth/session";
import { whyNot } from "../auth/roles";
import { useApprovals } from "../hooks/queries";
import { useResource } from "../hooks/useResource";
import { Badge } from "../components/Badge";
import { ErrorNotice, Loaded, Loading } from "../components/States";
import { OrderLines } from "./Logistics";

const STATUSES = ["pending", "granted", "rejected", "expired", "withdrawn"];

/** What a decision form must hold before it is sent; null when it may go. */
export function decisionProblem(decision: "approve" | "reject", reason: string): string | null {
  return decision === "reject" && !reason.trim() ? "Say why you reject it: a reason is required." : null;
}

function PurchaseOrderLines({ id }: { id: string }) {
  const detail = useResource(`po:${id}`, (api) => api.get<PurchaseOrderDetail>(`/api/v1/logistics/purchase-orders/${id}`));
  return (
    <Loaded resource={detail} what="the order's lines">
      {(po) => <OrderLines lines={po.lines} />}
    </Loaded>
  );
}

function Decide({ approval, onDecided }: { approval: Approval; onDecided: (checkpoint: string | null) => void }) {
  const { session } = useSession();
  const api = useApi();
  const id = useId();
  const blocked = whyNot(session?.role, "decide_approval");
  const [reason, setReason] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  async function decide(decision: "approve" | "reject", event?: FormEvent) {
    event?.preventDefault();
    const problem = decisionProblem(decision, reason);
    if (problem) {
      setError(new Error(problem));
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const accepted = await api.post<Accepted>(`/api/v1/approvals/${approval.id}`, { decision, reason: reason.trim() });
      onDecided(accepted.checkpoint);
    } catch (e) {
      setError(e);
      setBusy(false);
    }
  }

  return (
    <form className="decide" onSubmit={(e) => decide("approve", e)} aria-label={`Decide: ${approval.what}`}>
      <label htmlFor={id}>Reason (required to reject)</label>
      <input id={id} type="text" value={reason} onChange={(e) => setReason(e.target.value)} disabled={!!blocked || busy} />
      <div className="button-row">
        <button type="submit" className="button primary" disabled={!!blocked || busy}>
          Approve
        </button>
        <button type="button" className="button danger" disabled={!!blocked || busy} onClick={() => decide("reject")}>
          Reject
        </button>
      </div>
      {blocked ? <p className="hint">{blocked}</p> : null}
      {error ? <ErrorNotice error={error} title="Not decided" /> : null}
    </form>
  );
}

function ApprovalCard({ approval, order, onDecided }: { approval: Approval; order?: PurchaseOrder; onDecided: (c: string | null) => void }) {
  return (
    <article className="card approval" data-testid="approval" aria-labelledby={`approval-${approval.id}`}>
      <header className="approval-head">
        <h2 id={`approval-${approval.id}`}>{approval.what}</h2>
        <span className="amount">{formatMoney(approval.amount)}</span>
      </header>
      <p className="why">{approval.why}</p>
      <p className="muted small">
        <Badge status={approval.status} /> Asked by {approval.requested_by} on {formatTime(approval.requested_at)} · expires{" "}
        {formatTime(approval.expires_at)} · <Link to={`/directives/${approval.directive_id}`}>its directive</Link>
      </p>
      {order ? (
        <details className="po-details">
          <summary>
            Purchase order to {order.supplier} for {order.warehouse}: {formatMoney(order.amount)}
          </summary>
          <PurchaseOrderLines id={order.id} />
        </details>
      ) : null}
      {approval.status === "pending" ? (
        <Decide approval={approval} onDecided={onDecided} />
      ) : (
        <p className="small">
          {approval.decided_by ? `Decided by ${approval.decided_by} on ${formatTime(approval.decided_at)}` : null}
          {approval.reason ? ` — “${approval.reason}”` : null}
        </p>
      )}
    </article>
  );
}

export function ApprovalsPage() {
  const [params, setParams] = useSearchParams();
  const status = params.get("status") ?? "pending";
  const id = useId();
  const approvals = useApprovals(status === "all" ? "" : status);
  const orders = useResource(
    "po:awaiting",
    async (api, min) =>
      (await api.get<PurchaseOrdersPage>("/api/v1/logistics/purchase-orders", { limit: 200, min_checkpoint: min })).purchase_orders,
    { refreshOn: (e) => e.stream_id.startsWith("purchase_order-") },
  );
  const byApproval = new Map((orders.data ?? []).filter((o) => o.approval_id).map((o) => [o.approval_id!, o]));
  return (
    <>
      <div className="page-head">
        <h1>Approvals</h1>
        <div className="filters">
          <label htmlFor={id}>Status</label>
          <select id={id} value={status} onChange={(e) => setParams({ status: e.target.value })}>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
            <option value="all">all</option>
          </select>
        </div>
      </div>
      {orders.loading && !orders.data ? <Loading what="Loading purchase orders" /> : null}
      <Loaded
        resource={approvals}
        what="approvals"
        isEmpty={(list) => list.length === 0}
        empty={status === "pending" ? "Nothing waits for your decision." : `No ${status} approval.`}
      >
        {(list) => (
          <div className="approvals">
            {list.map((a) => (
              <ApprovalCard key={a.id} approval={a} order={byApproval.get(a.id)} onDecided={(c) => approvals.reload(c)} />
            ))}
          </div>
        )}
      </Loaded>
    </>
  );
}
