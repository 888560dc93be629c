/**
 * The shapes the gateway answers, as read from `api/src/gateway/*.rs` and
 * the read models they serve. Only what the dashboard reads is typed.
 */

/** A token holder's role. */
export type Role = "ceo" | "operator" | "auditor" | "viewer";

/** `GET /api/v1/session`. */
export interface Session {
  name: string;
  role: Role;
}

/** An amount in minor units, as the domain serialises `Money`. */
export interface Money {
  minor: number;
  currency: string;
}

/** What a write answers (202). */
export interface Accepted {
  directive_id?: string;
  checkpoint: string | null;
  duplicate: boolean;
}

export interface Directive {
  id: string;
  text: string;
  status: string;
  paused: boolean;
  priority: string;
  deadline: string | null;
  spending_limit: Money | null;
  issued_by: string;
  issued_at: string;
  correlation_id: string;
  question: string | null;
  planner: string | null;
  model: string | null;
  prompt_digest: string | null;
  llm_tokens: number;
  llm_cost_micro_usd: number;
  escalation: string | null;
  summary: string | null;
  updated_at: string;
}

export interface DirectivesPage {
  directives: Directive[];
  next_cursor: string | null;
}

export interface Task {
  id: string;
  directive_id: string;
  key: string;
  department: string;
  kind: string;
  params: unknown;
  depends_on: unknown;
  status: string;
  approval_rule: string | null;
  approval_id: string | null;
  note: string | null;
  agent: string | null;
  updated_at: string;
}

export interface Plan {
  planner: string;
  model: string | null;
  prompt_digest: string | null;
  tasks: string[];
}

/** What one caller's model calls used for a directive (or over all of them). */
export interface LlmUsage {
  /** `orchestrator` (planning), `logistics`, `finance` or `foundry`. */
  caller: string;
  calls: number;
  prompt_tokens: number;
  completion_tokens: number;
  cost_micro_usd: number;
}

export interface DirectiveDetail extends Directive {
  plan: Plan | null;
  tasks: Task[];
  llm_usage: LlmUsage[];
}

export interface Approval {
  id: string;
  task_id: string;
  directive_id: string;
  what: string;
  why: string;
  amount: Money | null;
  requested_by: string;
  requested_at: string;
  expires_at: string;
  status: string;
  decided_by: string | null;
  reason: string | null;
  decided_at: string | null;
}

export interface EventMetadata {
  correlation_id: string;
  causation_id: string | null;
  command_id: string | null;
  actor: string;
}

/** An event as `/events`, `/streams/{id}` and the feed show it. */
export interface LoggedEvent {
  position: string;
  stream_id: string;
  version: number;
  event_id: string;
  type: string;
  schema_version: number;
  payload: unknown;
  metadata: EventMetadata;
  recorded_at: string;
  prev_hash: string;
  hash: string;
}

export interface EventsPage {
  events: LoggedEvent[];
  next_cursor: string | null;
}

export interface StreamHistory {
  stream_id: string;
  category: string;
  version: number;
  as_of: number;
  events: LoggedEvent[];
  next_from: number | null;
  /** The aggregate's folded state at `as_of`, when the server knows it. */
  state?: unknown;
}

export interface BrokenLink {
  stream_id: string;
  version: number;
  event_id: string | null;
  position: string | null;
  problem: string;
  description: string;
}

export interface VerifyReport {
  intact: boolean;
  streams: number;
  events: number;
  broken_streams: number;
  broken: BrokenLink[];
}

export interface ProcessorHealth {
  name: string;
  state: string;
  halted: boolean;
  handled: number;
  commands: number;
  retried: number;
  dead_lettered: number;
  last_position: string | null;
  lag_events: number | null;
  lag_seconds: number;
  last_error: string | null;
}

export interface ProjectionHealth {
  name: string;
  state: string;
  version: number;
  checkpoint: string;
  applied: number;
  failures: number;
  lag_events: number;
  lag_seconds: number;
  rebuilding: number | null;
  last_error: string | null;
}

export interface AdapterHealth {
  system: string;
  circuit: string;
  retry_after_ms: number | null;
  calls: number;
  failures: number;
  last_error: string | null;
  last_success_at: string | null;
  last_failure_at: string | null;
}

export interface AgentsReport {
  stop_engaged: boolean | null;
  processors: ProcessorHealth[];
  projections: ProjectionHealth[];
  adapters: AdapterHealth[];
}

export interface LogLine {
  at: string;
  level: string;
  component: string;
  target: string;
  message: string;
  fields: Record<string, string>;
}

export interface LogsPage {
  components: string[];
  lines: LogLine[];
}

export interface PurchaseOrder {
  id: string;
  status: string;
  supplier: string;
  warehouse: string;
  amount: Money | string;
  erp_name: string | null;
  approval_id: string | null;
  directive_id: string | null;
  task_id: string | null;
  drafted_by: string;
  drafted_at: string;
  submitted_at: string | null;
  updated_at: string;
}

export interface OrderLine {
  sku: string;
  qty: number;
  unit_cost: Money | string;
  reasoning: unknown;
  explanation: string;
  received: number;
}

export interface StatusChange {
  status: string;
  at: string;
  by: string;
  reason: string | null;
}

export interface PurchaseOrderDetail extends PurchaseOrder {
  lines: OrderLine[];
  history: StatusChange[];
}

export interface PurchaseOrdersPage {
  purchase_orders: PurchaseOrder[];
  next_cursor: string | null;
}

export interface InventoryLevel {
  sku: string;
  warehouse: string;
  supplier: string;
  on_hand: number;
  reserved: number;
  on_order: number;
  projected: number;
  reorder_point: number;
  safety_stock: number;
  outcome: string;
  order_qty: number;
  reason: string | null;
  explanation: string;
  scan_id: string;
  scanned_at: string;
}

export interface InventoryPage {
  levels: InventoryLevel[];
  next_cursor: string | null;
}

export interface ShipmentAlert {
  kind: string;
  reason: string;
  carrier_event_id: string;
  at: string;
}

export interface ParcelLine {
  sku: string;
  quantity: number;
}

export interface Shipment {
  id: string;
  po_id: string;
  carrier: string;
  tracking_number: string;
  status: string;
  eta: string | null;
  promised_by: string;
  delivered_at: string | null;
  last_message: string | null;
  last_update_at: string | null;
  alerts: ShipmentAlert[];
  /** What it carries, as the supplier's shipping notice says; empty without a notice. */
  contents: ParcelLine[];
  started_at: string;
  updated_at: string;
}

export interface ShipmentsPage {
  shipments: Shipment[];
  next_cursor: string | null;
}

export interface SupplierPerformance {
  supplier: string;
  orders_drafted: number;
  orders_placed: number;
  orders_open: number;
  orders_received: number;
  orders_cancelled: number;
  orders_rejected: number;
  placed_amounts: Array<Money | string>;
  deliveries: number;
  on_time_deliveries: number;
  on_time_rate: number | null;
  lead_time_days: number | null;
  lead_time_days_min: number | null;
  lead_time_days_max: number | null;
}
