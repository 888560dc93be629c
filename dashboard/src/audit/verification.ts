/** Hash-chain verification results, summed up for a person. Pure. */
import type { BrokenLink, LoggedEvent, VerifyReport } from "../api/types";

/** Several streams' reports as one. */
export function combineReports(reports: VerifyReport[]): VerifyReport {
  const broken: BrokenLink[] = reports.flatMap((r) => r.broken);
  return {
    intact: reports.every((r) => r.intact),
    streams: reports.reduce((n, r) => n + r.streams, 0),
    events: reports.reduce((n, r) => n + r.events, 0),
    broken_streams: reports.reduce((n, r) => n + r.broken_streams, 0),
    broken,
  };
}

/** The distinct streams events touch, in first-seen order. */
export function streamsOf(events: LoggedEvent[]): string[] {
  return [...new Set(events.map((e) => e.stream_id))];
}

/** One sentence for a report. */
export function verdict(report: VerifyReport): string {
  if (report.intact) {
    return `${report.events} events in ${report.streams} ${report.streams === 1 ? "stream" : "streams"}, every hash link checks out.`;
  }
  const first = report.broken[0];
  const where = first ? ` First broken link: ${first.stream_id} at version ${first.version} — ${first.description}` : "";
  return `${report.broken_streams} of ${report.streams} streams have a broken hash link.${where}`;
}
