/**
 * Read-side queries for the dashboard (`loraprof ui`), kept here with the rest of the SQL. They
 * decode only what a page shows: the runs list reads config, metrics and error, never a run's spec,
 * environment or summary, and counts steps for unfinished runs only (a store with thousands of
 * finished runs answers a list without scanning their steps).
 */
import type { Db } from "./db.js";
import { parse, runHeader, type RunError, type RunRecord, type RunRow } from "./runs.js";
import { decodeMetrics } from "./metrics.js";

/** What the runs list shows of a run: a RunRecord without its spec, environment, data and summary. */
export type RunListRow = Pick<
  RunRecord,
  | "id"
  | "createdAt"
  | "startedAt"
  | "finishedAt"
  | "status"
  | "label"
  | "sweepId"
  | "config"
  | "metrics"
  | "error"
> & {
  /** Steps stored so far: counted for pending and running runs, null for finished ones. */
  stepsDone: number | null;
};

type Row = Pick<
  RunRow,
  | "id"
  | "created_at"
  | "started_at"
  | "finished_at"
  | "status"
  | "label"
  | "sweep_id"
  | "config_json"
  | "metrics_json"
  | "error_json"
> & { steps_done: number | null };

export function listRunRows(db: Db, limit = 1000): RunListRow[] {
  const rows = db
    .prepare(
      `SELECT id, created_at, started_at, finished_at, status, label, sweep_id, config_json, metrics_json, error_json,
              CASE WHEN status IN ('pending','running') THEN (SELECT count(*) FROM steps WHERE run_id = runs.id) END AS steps_done
       FROM runs ORDER BY created_at DESC, id DESC LIMIT ?`,
    )
    .all(Math.floor(limit)) as Row[];
  return rows.map((r) => ({
    ...runHeader(r),
    config: parse(r.config_json),
    metrics: decodeMetrics(parse(r.metrics_json)),
    error: parse(r.error_json) as RunError | null,
    stepsDone: r.steps_done,
  }));
}

export function countSteps(db: Db, runId: string): number {
  return (db.prepare(`SELECT count(*) AS n FROM steps WHERE run_id=?`).get(runId) as { n: number }).n;
}

/** Where a reader's view of a run ends: the last step and telemetry row ids it has seen. */
export interface RowCursor {
  stepRowid: number;
  sampleRowid: number;
}

export function runCursor(db: Db, runId: string): RowCursor {
  const max = (table: "steps" | "telemetry_samples") =>
    (
      db.prepare(`SELECT coalesce(max(rowid), 0) AS m FROM ${table} WHERE run_id=?`).get(runId) as {
        m: number;
      }
    ).m;
  return { stepRowid: max("steps"), sampleRowid: max("telemetry_samples") };
}

export interface StepSince {
  rowid: number;
  step: number;
  phase: "warmup" | "measure";
  realTokens: number;
  processedTokens: number;
  loss: number | null;
  stepSeconds: number | null;
  allocatedBytes: number | null;
  unixMs: number | null;
}

export interface SampleSince {
  rowid: number;
  tMs: number;
  gpuIndex: number;
  phase: "idle" | "warmup" | "measure";
  powerWatts: number | null;
  memoryUsedBytes: number | null;
  utilizationGpuPercent: number | null;
}

/** The rows of one run written after `cursor` (row ids only grow: a replaced step gets a new one). */
export function rowsSince(
  db: Db,
  runId: string,
  cursor: RowCursor,
): { steps: StepSince[]; samples: SampleSince[] } {
  const steps = db
    .prepare(
      `SELECT rowid AS rowid, step, phase, real_tokens AS realTokens, processed_tokens AS processedTokens,
              loss, step_seconds AS stepSeconds, allocated_bytes AS allocatedBytes, unix_ms AS unixMs
       FROM steps WHERE run_id=? AND rowid>? ORDER BY rowid`,
    )
    .all(runId, cursor.stepRowid) as StepSince[];
  const samples = db
    .prepare(
      `SELECT rowid AS rowid, t_ms AS tMs, gpu_index AS gpuIndex, phase, power_watts AS powerWatts,
              memory_used_bytes AS memoryUsedBytes, utilization_gpu_percent AS utilizationGpuPercent
       FROM telemetry_samples WHERE run_id=? AND rowid>? ORDER BY rowid`,
    )
    .all(runId, cursor.sampleRowid) as SampleSince[];
  return { steps, samples };
}
