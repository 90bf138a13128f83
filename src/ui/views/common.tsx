/** Small pieces every view uses: status badges, error panels, metric cards. */
import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";
import { ApiFailure } from "../api.js";
import type { ApiError } from "../../server/api.js";

export function Status({ status }: { status: string }) {
  return <span class={`status status-${status}`}>{status}</span>;
}

export function ErrorPanel({
  title,
  error,
  children,
}: {
  title: string;
  error: ApiError["error"];
  children?: ComponentChildren;
}) {
  return (
    <section class="panel error-panel" role="alert">
      <h2>{title}</h2>
      <p class="error-message">{error.message}</p>
      {error.problems.length > 0 && (
        <ul>
          {error.problems.map((p) => (
            <li key={p.field}>
              <code>{p.field}</code>: {p.message}
              {p.hint && <div class="hint">fix: {p.hint}</div>}
            </li>
          ))}
        </ul>
      )}
      {error.hint && <p class="hint">fix: {error.hint}</p>}
      {children}
    </section>
  );
}

export function Card({ label, value, sub }: { label: string; value: string; sub?: string }) {
  return (
    <div class="card">
      <span class="card-label">{label}</span>
      <b>{value}</b>
      {sub && <span class="card-sub">{sub}</span>}
    </div>
  );
}

/** Hook-free loader state for views: data, or the API's error body. */
export type Loaded<T> = { data: T; error: null } | { data: null; error: ApiError["error"] } | null;

/** Fetches on mount and whenever `deps` change; keeps the last data while a refetch runs. */
export function useApi<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [state, setState] = useState<Loaded<T>>(null);
  useEffect(() => {
    let alive = true;
    load()
      .then((data) => alive && setState({ data, error: null }))
      .catch((e: unknown) => {
        if (!alive) return;
        const error =
          e instanceof ApiFailure
            ? e.body
            : { code: "CLIENT", message: (e as Error)?.message ?? String(e), problems: [] };
        setState({ data: null, error });
      });
    return () => {
      alive = false;
    };
  }, deps);
  return state;
}
