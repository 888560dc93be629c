/**
 * Events as a timeline, oldest first: what happened, to which stream, by
 * whom, and which event caused it (causation), linked within the list.
 */
import type { LoggedEvent } from "../api/types";
import { categoryOf, formatTime, shortId } from "../api/format";
import { Link } from "react-router-dom";

/** A one-line summary of a payload's most telling fields. */
export function payloadSummary(payload: unknown): string {
  if (!payload || typeof payload !== "object") return "";
  const record = payload as Record<string, unknown>;
  const keys = ["text", "summary", "reason", "note", "what", "kind", "status", "decision", "question", "explanation"];
  const parts: string[] = [];
  for (const key of keys) {
    const value = record[key];
    if (typeof value === "string" && value) parts.push(value);
    if (parts.length === 2) break;
  }
  return parts.join(" — ");
}

/** The timeline. `streamLink` makes stream ids into links (to time travel). */
export function Timeline({ events, streamLink }: { events: LoggedEvent[]; streamLink?: (streamId: string) => string }) {
  const byId = new Map(events.map((event, index) => [event.event_id, index + 1]));
  return (
    <ol className="timeline">
      {events.map((event, index) => {
        const cause = event.metadata.causation_id;
        const causeIndex = cause ? byId.get(cause) : undefined;
        const summary = payloadSummary(event.payload);
        return (
          <li key={event.event_id} id={`event-${event.event_id}`} className={`timeline-item cat-${categoryOf(event.stream_id)}`}>
            <div className="timeline-head">
              <span className="timeline-index">#{index + 1}</span>
              <strong>{event.type}</strong>
              <span className="muted">{formatTime(event.recorded_at)}</span>
            </div>
            <div className="timeline-body">
              <span>
                {streamLink ? <Link to={streamLink(event.stream_id)}>{event.stream_id}</Link> : event.stream_id} v{event.version}
              </span>
              <span className="muted"> by {event.metadata.actor}</span>
              {cause ? (
                <span className="muted">
                  {" "}
                  · caused by{" "}
                  {causeIndex ? <a href={`#event-${cause}`}>#{causeIndex}</a> : <code title={cause}>{shortId(cause)}</code>}
                </span>
              ) : (
                <span className="muted"> · root</span>
              )}
              {summary ? <p className="timeline-summary">{summary}</p> : null}
            </div>
          </li>
        );
      })}
    </ol>
  );
}
