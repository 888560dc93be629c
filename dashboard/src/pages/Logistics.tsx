/**
 * The Logistics department: stock levels with their reorder points (those
 * needing attention first), purchase orders (lines and reasoning), inbound
 * shipments with ETAs and alerts, and supplier performance. Live.
 */
import { useId, useState } from "react";
import { Link } from "react-router-dom";
import type {
  InventoryLevel,
  InventoryPage,
  LoggedEvent,
  OrderLine,
  PurchaseOrderDetail,
  PurchaseOrdersPage,
  ShipmentsPage,
  SupplierPerformance,
} from "../api/types";
import { categoryOf, formatMoney, formatNumber, formatTime, humanize, shortId } from "../api/format";
import { useResource } from "../hooks/useResource";
import { Badge } from "../components/Badge";
import { Loaded } from "../components/States";

const LOGISTICS_CATEGORIES = new Set(["purchase_order", "shipment", "inventory_scan"]);

/** Whether an event changes the logistics read model. */
export function touchesLogistics(event: LoggedEvent): boolean {
  return LOGISTICS_CATEGORIES.has(categoryOf(event.stream_id));
}

const PO_STATUSES = [
  "drafted",
  "awaiting_approval",
  "approved",
  "submitted",
  "acknowledged",
  "partially_received",
  "received",
  "cancelled",
  "rejected",
];

/** A reorder decision's figures, as a definition list. */
function Reasoning({ reasoning }: { reasoning: unknown }) {
  if (reasoning === null || reasoning === undefined) return null;
  if (typeof reasoning !== "object") return <span>{String(reasoning)}</span>;
  return (
    <dl className="reasoning">
      {Object.entries(reasoning as Record<string, unknown>).map(([key, value]) => (
        <div key={key}>
          <dt>{humanize(key)}</dt>
          <dd>{typeof value === "object" && value !== null ? JSON.stringify(value) : String(value)}</dd>
        </div>
      ))}
    </dl>
  );
}

/** A purchase order's lines with the reasoning behind each quantity. */
export function OrderLines({ lines }: { lines: OrderLine[] }) {
  if (lines.length === 0) return <p className="muted">No lines.</p>;
  return (
    <div className="table-wrap">
      <table>
        <thead>
          <tr>
            <th scope="col">SKU</th>
            <th scope="col">Qty</th>
            <th scope="col">Unit cost</th>
            <th scope="col">Received</th>
            <th scope="col">Why this quantity</th>
          </tr>
        </thead>
        <tbody>
          {lines.map((line) => (
            <tr key={line.sku}>
              <td>{line.sku}</td>
              <td className="num">{formatNumber(line.qty)}</td>
              <td className="num">{formatMoney(line.unit_cost)}</td>
              <td className="num">{formatNumber(line.received)}</td>
              <td>
                {line.explanation}
                <details>
                  <summary>Figures</summary>
                  <Reasoning reasoning={line.reasoning} />
                </details>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function PurchaseOrderDetailView({ id }: { id: string }) {
  const detail = useResource(
    `po:${id}`,
    (api, min) => api.get<PurchaseOrderDetail>(`/api/v1/logistics/purchase-orders/${id}`, { min_checkpoint: min }),
    { refreshOn: (e) => e.stream_id === `purchase_order-${id}` },
  );
  return (
    <Loaded resource={detail} what="the purchase order">
      {(po) => (
        <>
          <OrderLines lines={po.lines} />
          <h4>History</h4>
          <ol className="plain-list">
            {po.history.map((step, i) => (
              <li key={i}>
                <Badge status={step.status} /> {formatTime(step.at)} by {step.by}
                {step.reason ? <span className="muted"> — {step.reason}</span> : null}
              </li>
            ))}
          </ol>
        </>
      )}
    </Loaded>
  );
}

function Inventory() {
  const id = useId();
  const [attentionOnly, setAttentionOnly] = useState(true);
  // What is typed, and what was applied (on Enter or "Filter").
  const [typed, setTyped] = useState({ sku: "", warehouse: "" });
  const [applied, setApplied] = useState(typed);
  // Pages already shown and the cursor of the one asked for now, for the
  // filters they were asked with: other filters start from the first page.
  const key = `${attentionOnly}:${applied.sku}:${applied.warehouse}`;
  const [paging, setPaging] = useState<{ key: string; cursor: string | null; earlier: InventoryLevel[] }>({
    key,
    cursor: null,
    earlier: [],
  });
  const { cursor, earlier } = paging.key === key ? paging : { cursor: null, earlier: [] };
  const levels = useResource(
    `inventory:${key}:${cursor ?? ""}`,
    (api, min) =>
      api.get<InventoryPage>("/api/v1/logistics/inventory", {
        attention: attentionOnly ? true : undefined,
        sku: applied.sku || undefined,
        warehouse: applied.warehouse || undefined,
        limit: 200,
        cursor: cursor ?? undefined,
        min_checkpoint: min,
      }),
    { refreshOn: (e) => cursor === null && categoryOf(e.stream_id) === "inventory_scan" },
  );
  return (
    <>
      <form
        className="filters"
        onSubmit={(e) => {
          e.preventDefault();
          setApplied({ sku: typed.sku.trim(), warehouse: typed.warehouse.trim() });
        }}
      >
        <input id={id} type="checkbox" checked={attentionOnly} onChange={(e) => setAttentionOnly(e.target.checked)} />
        <label htmlFor={id}>Only levels at or below their reorder point</label>
        <label htmlFor={`${id}-sku`}>SKU</label>
        <input id={`${id}-sku`} value={typed.sku} onChange={(e) => setTyped({ ...typed, sku: e.target.value })} placeholder="e.g. BOX-S" />
        <label htmlFor={`${id}-wh`}>Warehouse</label>
        <input
          id={`${id}-wh`}
          value={typed.warehouse}
          onChange={(e) => setTyped({ ...typed, warehouse: e.target.value })}
          placeholder="e.g. Stores - AC"
        />
        <button type="submit">Filter</button>
      </form>
      <Loaded
        resource={levels}
        what="stock levels"
        isEmpty={(p) => p.levels.length === 0 && earlier.length === 0}
        empty={attentionOnly ? "No stock level at or below its reorder point." : "No stock level scanned yet."}
      >
        {(page) => (
          <div className="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">SKU</th>
                  <th scope="col">Warehouse</th>
                  <th scope="col">On hand</th>
                  <th scope="col">Reserved</th>
                  <th scope="col">On order</th>
                  <th scope="col">Projected</th>
                  <th scope="col">Reorder point</th>
                  <th scope="col">Safety stock</th>
                  <th scope="col">Decision</th>
                  <th scope="col">Scanned</th>
                </tr>
              </thead>
              <tbody>
                {[...earlier, ...page.levels].map((l) => (
                  <tr key={`${l.sku}/${l.warehouse}`} className={l.projected <= l.reorder_point ? "attention" : undefined}>
                    <td>{l.sku}</td>
                    <td>{l.warehouse}</td>
                    <td className="num">{formatNumber(l.on_hand)}</td>
                    <td className="num">{formatNumber(l.reserved)}</td>
                    <td className="num">{formatNumber(l.on_order)}</td>
                    <td className="num">{formatNumber(l.projected)}</td>
                    <td className="num">{formatNumber(l.reorder_point, 1)}</td>
                    <td className="num">{formatNumber(l.safety_stock, 1)}</td>
                    <td>
                      <Badge status={l.outcome} label={l.outcome === "order" ? `order ${l.order_qty}` : undefined} />{" "}
                      <span className="small">{l.reason ?? l.explanation}</span>
                    </td>
                    <td>{formatTime(l.scanned_at)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
            {page.next_cursor && (
              <p className="muted small">
                The first {earlier.length + page.levels.length} levels, by SKU and warehouse.{" "}
                <button
                  type="button"
                  className="button"
                  onClick={() => setPaging({ key, cursor: page.next_cursor, earlier: [...earlier, ...page.levels] })}
                >
                  More stock levels
                </button>
              </p>
            )}
          </div>
        )}
      </Loaded>
    </>
  );
}

function PurchaseOrders() {
  const id = useId();
  const [status, setStatus] = useState("");
  const [open, setOpen] = useState<string | null>(null);
  const orders = useResource(
    `pos:${status}`,
    (api, min) => api.get<PurchaseOrdersPage>("/api/v1/logistics/purchase-orders", { status, limit: 100, min_checkpoint: min }),
    { refreshOn: (e) => categoryOf(e.stream_id) === "purchase_order" },
  );
  return (
    <>
      <div className="filters">
        <label htmlFor={id}>Status</label>
        <select id={id} value={status} onChange={(e) => setStatus(e.target.value)}>
          <option value="">All</option>
          {PO_STATUSES.map((s) => (
            <option key={s} value={s}>
              {humanize(s)}
            </option>
          ))}
        </select>
      </div>
      <Loaded resource={orders} what="purchase orders" isEmpty={(p) => p.purchase_orders.length === 0} empty="No purchase order.">
        {(page) => (
          <div className="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">Order</th>
                  <th scope="col">Status</th>
                  <th scope="col">Supplier</th>
                  <th scope="col">Warehouse</th>
                  <th scope="col">Amount</th>
                  <th scope="col">Drafted</th>
                  <th scope="col">Directive</th>
                </tr>
              </thead>
              <tbody>
                {page.purchase_orders.map((po) => (
                  <PurchaseOrderRow key={po.id} po={po} open={open === po.id} onToggle={() => setOpen(open === po.id ? null : po.id)} />
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Loaded>
    </>
  );
}

function PurchaseOrderRow({ po, open, onToggle }: { po: PurchaseOrdersPage["purchase_orders"][number]; open: boolean; onToggle: () => void }) {
  return (
    <>
      <tr>
        <td>
          <button type="button" className="link-button" aria-expanded={open} onClick={onToggle}>
            {po.erp_name ?? shortId(po.id)}
          </button>
        </td>
        <td>
          <Badge status={po.status} />
        </td>
        <td>{po.supplier}</td>
        <td>{po.warehouse}</td>
        <td className="num">{formatMoney(po.amount)}</td>
        <td>{formatTime(po.drafted_at)}</td>
        <td>{po.directive_id ? <Link to={`/directives/${po.directive_id}`}>{shortId(po.directive_id)}</Link> : "—"}</td>
      </tr>
      {open ? (
        <tr className="expanded">
          <td colSpan={7}>
            <PurchaseOrderDetailView id={po.id} />
          </td>
        </tr>
      ) : null}
    </>
  );
}

function Shipments() {
  const shipments = useResource(
    "shipments",
    (api, min) => api.get<ShipmentsPage>("/api/v1/logistics/shipments", { limit: 100, min_checkpoint: min }),
    { refreshOn: (e) => categoryOf(e.stream_id) === "shipment" },
  );
  return (
    <Loaded resource={shipments} what="shipments" isEmpty={(p) => p.shipments.length === 0} empty="No inbound shipment.">
      {(page) => (
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Tracking</th>
                <th scope="col">Status</th>
                <th scope="col">ETA</th>
                <th scope="col">Promised by</th>
                <th scope="col">Last update</th>
                <th scope="col">Alerts</th>
              </tr>
            </thead>
            <tbody>
              {page.shipments.map((s) => (
                <tr key={s.id}>
                  <td>
                    {s.carrier} {s.tracking_number}
                    {s.contents.length > 0 && (
                      <div className="muted small">
                        carrying {s.contents.map((c) => `${c.quantity} × ${c.sku}`).join(", ")}
                      </div>
                    )}
                  </td>
                  <td>
                    <Badge status={s.status} />
                  </td>
                  <td>{s.delivered_at ? `delivered ${formatTime(s.delivered_at)}` : formatTime(s.eta)}</td>
                  <td>{formatTime(s.promised_by)}</td>
                  <td>
                    {s.last_message ?? "—"} <span className="muted small">{formatTime(s.last_update_at)}</span>
                  </td>
                  <td>
                    {s.alerts.length === 0 ? (
                      <span className="muted">none</span>
                    ) : (
                      <ul className="plain-list">
                        {s.alerts.map((a) => (
                          <li key={a.carrier_event_id + a.kind}>
                            <Badge status={a.kind} /> {a.reason}
                          </li>
                        ))}
                      </ul>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Loaded>
  );
}

function percent(rate: number | null): string {
  return rate === null ? "—" : `${Math.round(rate * 100)} %`;
}

function Suppliers() {
  const suppliers = useResource(
    "suppliers",
    async (api, min) => (await api.get<{ suppliers: SupplierPerformance[] }>("/api/v1/logistics/suppliers", { min_checkpoint: min })).suppliers,
    { refreshOn: (e) => ["purchase_order", "shipment"].includes(categoryOf(e.stream_id)), debounceMs: 1000 },
  );
  return (
    <Loaded resource={suppliers} what="suppliers" isEmpty={(list) => list.length === 0} empty="No supplier has an order yet.">
      {(list) => (
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Supplier</th>
                <th scope="col">Drafted</th>
                <th scope="col">Placed</th>
                <th scope="col">Open</th>
                <th scope="col">Received</th>
                <th scope="col">Rejected</th>
                <th scope="col">Placed amount</th>
                <th scope="col">On time</th>
                <th scope="col">Lead time (days)</th>
              </tr>
            </thead>
            <tbody>
              {list.map((s) => (
                <tr key={s.supplier}>
                  <td>{s.supplier}</td>
                  <td className="num">{s.orders_drafted}</td>
                  <td className="num">{s.orders_placed}</td>
                  <td className="num">{s.orders_open}</td>
                  <td className="num">{s.orders_received}</td>
                  <td className="num">{s.orders_rejected}</td>
                  <td className="num">{s.placed_amounts.length ? s.placed_amounts.map((a) => formatMoney(a)).join(", ") : "—"}</td>
                  <td className="num">
                    {percent(s.on_time_rate)} <span className="muted small">({s.on_time_deliveries}/{s.deliveries})</span>
                  </td>
                  <td className="num">
                    {formatNumber(s.lead_time_days, 1)}
                    {s.lead_time_days_min !== null ? (
                      <span className="muted small">
                        {" "}
                        ({formatNumber(s.lead_time_days_min, 1)}–{formatNumber(s.lead_time_days_max, 1)})
                      </span>
                    ) : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Loaded>
  );
}

export function LogisticsPage() {
  return (
    <>
      <div className="page-head">
        <h1>Logistics</h1>
      </div>
      <section className="card" aria-labelledby="inv-h">
        <h2 id="inv-h">Stock levels</h2>
        <Inventory />
      </section>
      <section className="card" aria-labelledby="po-h">
        <h2 id="po-h">Purchase orders</h2>
        <PurchaseOrders />
      </section>
      <section className="card" aria-labelledby="ship-h">
        <h2 id="ship-h">Inbound shipments</h2>
        <Shipments />
      </section>
      <section className="card" aria-labelledby="sup-h">
        <h2 id="sup-h">Supplier performance</h2>
        <Suppliers />
      </section>
    </>
  );
}
