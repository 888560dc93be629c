/** A status shown as a coloured badge; the colour follows what it means. */
import { humanize } from "../api/format";

const TONES: Record<string, string> = {
  completed: "good",
  granted: "good",
  approved: "good",
  received: "good",
  delivered: "good",
  live: "good",
  running: "good",
  closed: "good",
  intact: "good",
  acknowledged: "good",
  submitted: "info",
  in_progress: "info",
  dispatched: "info",
  in_transit: "info",
  out_for_delivery: "info",
  planning: "info",
  catching_up: "info",
  starting: "info",
  pre_transit: "info",
  partially_received: "info",
  planned: "neutral",
  drafted: "neutral",
  awaiting_approval: "warn",
  awaiting_clarification: "warn",
  pending: "warn",
  paused: "warn",
  half_open: "warn",
  retrying: "warn",
  halted: "warn",
  order: "warn",
  late: "warn",
  failed: "bad",
  rejected: "bad",
  cancelled: "neutral",
  expired: "neutral",
  withdrawn: "neutral",
  exception: "bad",
  returned: "bad",
  open: "bad",
  broken: "bad",
  stopped: "bad",
  outdated: "bad",
  cannot_order: "bad",
};

/** A status badge. */
export function Badge({ status, label }: { status: string; label?: string }) {
  const tone = TONES[status] ?? "neutral";
  return <span className={`badge badge-${tone}`}>{label ?? humanize(status)}</span>;
}
