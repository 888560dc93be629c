/**
 * The read models the pages share, each as a hook over {@link useResource}
 * with the feed events that make it stale.
 */
import type { Approval, DirectiveDetail, LoggedEvent } from "../api/types";
import { categoryOf } from "../api/format";
import { useResource, type Resource } from "./useResource";

/** Whether an event belongs to a directive's story. */
export function concernsDirective(event: LoggedEvent, directiveId: string, correlationId?: string): boolean {
  return event.stream_id === `directive-${directiveId}` || (!!correlationId && event.metadata.correlation_id === correlationId);
}

/** Events that change the directives read model (directives, tasks, approvals). */
export function touchesDirectives(event: LoggedEvent): boolean {
  const category = categoryOf(event.stream_id);
  return category === "directive" || category === "task" || category === "approval";
}

/** One directive with its plan and tasks, live. */
export function useDirective(id: string, firstCheckpoint?: string | null): Resource<DirectiveDetail> {
  let correlation: string | undefined;
  const resource = useResource<DirectiveDetail>(
    `directive:${id}`,
    (api, min) =>
      api.get<DirectiveDetail>(`/api/v1/directives/${encodeURIComponent(id)}`, {
        min_checkpoint: min ?? firstCheckpoint ?? undefined,
      }),
    { refreshOn: (event) => touchesDirectives(event) && concernsDirective(event, id, correlation) },
  );
  correlation = resource.data?.correlation_id;
  return resource;
}

/** Approvals in a status (all when empty), of one directive if given, live. */
export function useApprovals(status: string, directiveId?: string): Resource<Approval[]> {
  return useResource<Approval[]>(
    `approvals:${status}:${directiveId ?? ""}`,
    async (api, min) =>
      (
        await api.get<{ approvals: Approval[] }>("/api/v1/approvals", {
          status,
          directive_id: directiveId,
          limit: 500,
          min_checkpoint: min,
        })
      ).approvals,
    { refreshOn: touchesDirectives },
  );
}
