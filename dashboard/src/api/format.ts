/** How values read on screen: money, dates, positions, statuses. Pure. */
import type { Money } from "./types";

/** Whether a value is a `Money` object. */
export function isMoney(value: unknown): value is Money {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as Money).minor === "number" &&
    typeof (value as Money).currency === "string"
  );
}

/** `{minor: 123456, currency: "EUR"}` → `EUR 1,234.56`; text is shown as given. */
export function formatMoney(value: Money | string | null | undefined): string {
  if (value === null || value === undefined) return "—";
  if (typeof value === "string") return value;
  if (!isMoney(value)) return JSON.stringify(value);
  const sign = value.minor < 0 ? "-" : "";
  const abs = Math.abs(value.minor);
  const units = Math.floor(abs / 100).toLocaleString("en-GB");
  const cents = String(abs % 100).padStart(2, "0");
  return `${sign}${value.currency} ${units}.${cents}`;
}

/** An RFC 3339 time as a short local date and time; `—` when absent. */
export function formatTime(value: string | null | undefined): string {
  if (!value) return "—";
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return value;
  return date.toLocaleString("en-GB", {
    year: "numeric",
    month: "short",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  });
}

/** `in_progress` → `in progress`. */
export function humanize(value: string): string {
  return value.replace(/_/g, " ");
}

/** A number with thousands separators; `—` when absent. */
export function formatNumber(value: number | null | undefined, digits = 0): string {
  if (value === null || value === undefined || Number.isNaN(value)) return "—";
  return value.toLocaleString("en-GB", { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

/** A position `tx:seq` as a comparable pair; null when malformed. */
export function parsePosition(position: string): [number, number] | null {
  const match = /^(\d+):(\d+)$/.exec(position);
  return match ? [Number(match[1]), Number(match[2])] : null;
}

/** The later of two positions (either may be absent). */
export function laterPosition(a: string | null | undefined, b: string | null | undefined): string | null {
  if (!a) return b ?? null;
  if (!b) return a;
  const pa = parsePosition(a);
  const pb = parsePosition(b);
  if (!pa) return b;
  if (!pb) return a;
  return pa[0] > pb[0] || (pa[0] === pb[0] && pa[1] >= pb[1]) ? a : b;
}

/** The category of a stream id `<category>-<uuid>`. */
export function categoryOf(streamId: string): string {
  const match = /^(.*)-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.exec(streamId);
  if (match) return match[1];
  const dash = streamId.indexOf("-");
  return dash > 0 ? streamId.slice(0, dash) : streamId;
}

/** A short form of a UUID for dense tables. */
export function shortId(id: string): string {
  return id.length > 8 ? id.slice(0, 8) : id;
}

/** An estimated cost in millionths of a US dollar, e.g. `$0.0042`. */
export function formatMicroUsd(micro: number): string {
  const dollars = micro / 1_000_000;
  return `$${dollars.toFixed(dollars >= 1 ? 2 : 4)}`;
}
