/** The loading, error and empty states every view shows the same way. */
import type { ReactNode } from "react";
import { describeError } from "../api/client";

/** A quiet "loading" line, announced to screen readers. */
export function Loading({ what = "Loading" }: { what?: string }) {
  return (
    <p className="state state-loading" role="status" aria-live="polite">
      {what}…
    </p>
  );
}

/** An error with the server's detail and code. */
export function ErrorNotice({ error, title = "Something went wrong", onRetry }: { error: unknown; title?: string; onRetry?: () => void }) {
  const { detail, code } = describeError(error);
  return (
    <div className="state state-error" role="alert">
      <strong>{title}:</strong> {detail}
      {code ? <code className="error-code">{code}</code> : null}
      {onRetry ? (
        <button type="button" className="button small" onClick={onRetry}>
          Try again
        </button>
      ) : null}
    </div>
  );
}

/** What an empty list says. */
export function Empty({ children }: { children: ReactNode }) {
  return <p className="state state-empty">{children}</p>;
}

/**
 * Renders a resource: loading, error (with retry), empty, or `children(data)`.
 * An error after data was shown keeps the data and shows the error above it.
 */
export function Loaded<T>({
  resource,
  isEmpty,
  empty,
  what,
  children,
}: {
  resource: { data: T | undefined; error: unknown; loading: boolean; reload: () => void };
  isEmpty?: (data: T) => boolean;
  empty?: ReactNode;
  what?: string;
  children: (data: T) => ReactNode;
}) {
  const { data, error, loading, reload } = resource;
  if (data === undefined) {
    if (error) return <ErrorNotice error={error} onRetry={() => reload()} />;
    if (loading) return <Loading what={what ? `Loading ${what}` : "Loading"} />;
    return null;
  }
  return (
    <>
      {error ? <ErrorNotice error={error} title="Could not refresh" onRetry={() => reload()} /> : null}
      {isEmpty && isEmpty(data) ? <Empty>{empty ?? "Nothing here yet."}</Empty> : children(data)}
    </>
  );
}
