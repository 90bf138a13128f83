/**
 * The browser's side of the API: every answer is parsed with the schema the server built it with
 * (src/server/api.ts), so a mismatch is a clear error on the page, not an undefined three views on.
 * Live data arrives by server-sent events; the browser never polls.
 */
import type { z } from "zod";
import {
  ApiErrorSchema,
  CompareSchema,
  HealthSchema,
  PlanAnswerSchema,
  PlanOptionsSchema,
  RunDetailSchema,
  RunEventSchema,
  RunListSchema,
  StoreEventSchema,
  SweepDetailSchema,
  SweepListSchema,
  type ApiError,
  type Cursor,
  type PlanRequest,
  type RunEvent,
} from "../server/api.js";

export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly body: ApiError["error"],
  ) {
    super(body.message);
  }
}

async function call<S extends z.ZodType>(schema: S, path: string, init?: RequestInit): Promise<z.infer<S>> {
  const res = await fetch(path, { credentials: "same-origin", ...init });
  const body: unknown = await res.json().catch(() => null);
  if (!res.ok) {
    const err = ApiErrorSchema.safeParse(body);
    throw new ApiFailure(
      res.status,
      err.success ? err.data.error : { code: "HTTP", message: `${path}: HTTP ${res.status}`, problems: [] },
    );
  }
  return schema.parse(body);
}

const enc = encodeURIComponent;

export const api = {
  health: () => call(HealthSchema, "/api/health"),
  runs: () => call(RunListSchema, "/api/runs"),
  run: (id: string) => call(RunDetailSchema, `/api/runs/${enc(id)}`),
  compare: (ids: string[]) => call(CompareSchema, `/api/compare?ids=${ids.map(enc).join(",")}`),
  /** Where the browser downloads the selected runs as a `runs export` bundle (a link, not a fetch). */
  exportHref: (ids: string[]) => `/api/export?ids=${ids.map(enc).join(",")}`,
  sweeps: () => call(SweepListSchema, "/api/sweeps"),
  sweep: (id: string) => call(SweepDetailSchema, `/api/sweeps/${enc(id)}`),
  planOptions: () => call(PlanOptionsSchema, "/api/plan-options"),
  plan: (req: PlanRequest) =>
    call(PlanAnswerSchema, "/api/plan", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(req),
    }),
};

/** Store-wide changes (lists refetch on each). Returns a closer. */
export function onStoreChange(handler: () => void, onState?: (live: boolean) => void): () => void {
  const es = new EventSource("/api/events");
  es.addEventListener("store", (e) => {
    if (StoreEventSchema.safeParse(JSON.parse((e as MessageEvent<string>).data)).success) handler();
  });
  es.onopen = () => onState?.(true);
  es.onerror = () => onState?.(false);
  return () => es.close();
}

/** One run's new rows after `cursor`, as the store gains them. */
export function followRun(id: string, cursor: Cursor, handler: (ev: RunEvent) => void): () => void {
  let last = cursor;
  let es: EventSource | null = null;
  const open = () => {
    es = new EventSource(`/api/events?run=${enc(id)}&steps=${last.stepRowid}&samples=${last.sampleRowid}`);
    es.addEventListener("run", (e) => {
      const ev = RunEventSchema.parse(JSON.parse((e as MessageEvent<string>).data));
      last = ev.cursor;
      handler(ev);
    });
  };
  open();
  return () => es?.close();
}
