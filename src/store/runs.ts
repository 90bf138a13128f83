/** Runs and steps in the store. Each write is one transaction. */
import { randomBytes } from "node:crypto";
import type { StepEvent } from "../protocol/index.js";
import { LoraprofError } from "../util/errors.js";
import { THIS_HOST, processAlive, type Db } from "./db.js";
import { decodeMetrics, type StoredMetrics } from "./metrics.js";

export const RUN_STATUSES = ["pending", "running", "completed", "oom", "failed", "cancelled"] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
export const FINAL_STATUSES: readonly RunStatus[] = ["completed", "oom", "failed", "cancelled"];

/** Why a run did not complete. `kind` extends the engine's error kinds with what only the CLI sees. */
export interface RunError {
  kind:
    | "oom"
    | "cuda"
    | "config"
    | "data"
    | "dependency"
    | "disk"
    | "internal"
    | "crash"
    | "protocol"
    | "cancelled"
    | "interrupted";
  message: string;
  hint: string | null;
  /** Memory figures at failure (engine's snapshot), when known. */
  memory?: Record<string, number | null> | null;
  /** Last lines the engine wrote to stderr, for crashes. */
  stderrTail?: string;
  step?: number | null;
}

export interface RunRecord<C = unknown> {
  id: string;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  status: RunStatus;
  label: string | null;
  sweepId: string | null;
  config: C;
  spec: unknown;
  environment: unknown;
  loaded: unknown;
  /** What the data stage produced (records, mean tokens, shard). */
  data: unknown;
  summary: unknown;
  /** Decoded once, here (store/metrics.ts): typed figures, headlines lifted. */
  metrics: StoredMetrics | null;
  error: RunError | null;
  logPath: string | null;
}

/** A row of `runs` as SQLite returns it (the dashboard's queries select some of its columns). */
export interface RunRow {
  id: string;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  status: RunStatus;
  label: string | null;
  sweep_id: string | null;
  config_json: string;
  spec_json: string | null;
  environment_json: string | null;
  loaded_json: string | null;
  data_json: string | null;
  summary_json: string | null;
  metrics_json: string | null;
  error_json: string | null;
  log_path: string | null;
  owner_pid: number | null;
  owner_host: string | null;
}

export const parse = (s: string | null): unknown => (s === null ? null : JSON.parse(s));
const json = (v: unknown): string | null => (v === undefined || v === null ? null : JSON.stringify(v));

/** The columns every reader of a run row maps the same way (the run's record, the dashboard's list). */
export function runHeader(
  r: Pick<RunRow, "id" | "created_at" | "started_at" | "finished_at" | "status" | "label" | "sweep_id">,
) {
  return {
    id: r.id,
    createdAt: r.created_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    status: r.status,
    label: r.label,
    sweepId: r.sweep_id,
  };
}

function fromRow<C>(r: RunRow): RunRecord<C> {
  return {
    ...runHeader(r),
    config: parse(r.config_json) as C,
    spec: parse(r.spec_json),
    environment: parse(r.environment_json),
    loaded: parse(r.loaded_json),
    data: parse(r.data_json),
    summary: parse(r.summary_json),
    metrics: decodeMetrics(parse(r.metrics_json)),
    error: parse(r.error_json) as RunError | null,
    logPath: r.log_path,
  };
}

/** Sortable, readable ids: 20261128-201530-k3f9. */
export function newRunId(now = new Date()): string {
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  const stamp = `${now.getUTCFullYear()}${p(now.getUTCMonth() + 1)}${p(now.getUTCDate())}-${p(now.getUTCHours())}${p(now.getUTCMinutes())}${p(now.getUTCSeconds())}`;
  return `${stamp}-${randomBytes(3).toString("hex").slice(0, 4)}`;
}

export function createRun(
  db: Db,
  init: {
    id?: string;
    config: unknown;
    label?: string | null;
    sweepId?: string | null;
    logPath?: string | null;
  },
): string {
  const insert = db.prepare(
    `INSERT INTO runs (id, created_at, status, label, sweep_id, config_json, owner_pid, owner_host, log_path)
     VALUES (?, ?, 'pending', ?, ?, ?, ?, ?, ?)`,
  );
  // A generated id has 16 random bits per second: two CLIs (or GPUs) starting runs in the same
  // second collide once in ~65k pairs, and a collision must cost a new id, not the run.
  for (let attempt = 0; ; attempt++) {
    const id = init.id ?? newRunId();
    try {
      insert.run(
        id,
        new Date().toISOString(),
        init.label ?? null,
        init.sweepId ?? null,
        JSON.stringify(init.config),
        process.pid,
        THIS_HOST,
        init.logPath ?? null,
      );
      return id;
    } catch (err) {
      const taken = (err as { code?: string }).code === "SQLITE_CONSTRAINT_PRIMARYKEY";
      if (!taken || init.id !== undefined || attempt >= 20) throw err;
    }
  }
}

export function markRunning(db: Db, id: string, spec: unknown): void {
  db.prepare(
    `UPDATE runs SET status='running', started_at=?, spec_json=? WHERE id=? AND status='pending'`,
  ).run(new Date().toISOString(), json(spec), id);
}

export function setRunFields(
  db: Db,
  id: string,
  fields: { environment?: unknown; loaded?: unknown; summary?: unknown; data?: unknown },
): void {
  const sets: string[] = [];
  const vals: unknown[] = [];
  if (fields.environment !== undefined) {
    sets.push("environment_json=?");
    vals.push(json(fields.environment));
  }
  if (fields.loaded !== undefined) {
    sets.push("loaded_json=?");
    vals.push(json(fields.loaded));
  }
  if (fields.data !== undefined) {
    sets.push("data_json=?");
    vals.push(json(fields.data));
  }
  if (fields.summary !== undefined) {
    sets.push("summary_json=?");
    vals.push(json(fields.summary));
  }
  if (sets.length === 0) return;
  db.prepare(`UPDATE runs SET ${sets.join(", ")} WHERE id=?`).run(...vals, id);
}

export function insertSteps(db: Db, runId: string, steps: StepEvent[]): void {
  if (steps.length === 0) return;
  const stmt = db.prepare(
    `INSERT OR REPLACE INTO steps (run_id, step, phase, real_tokens, processed_tokens, label_tokens, loss, step_seconds, lr, grad_norm, allocated_bytes, unix_ms)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  db.transaction(() => {
    for (const s of steps) {
      stmt.run(
        runId,
        s.step,
        s.phase,
        s.realTokens,
        s.processedTokens,
        s.labelTokens,
        s.loss,
        s.stepSeconds,
        s.lr,
        s.gradNorm,
        s.allocatedBytes,
        s.unixMs,
      );
    }
  })();
}

/** Final state in one transaction: status, metrics and error land together or not at all. */
export function finishRun(
  db: Db,
  id: string,
  outcome: {
    status: Exclude<RunStatus, "pending" | "running">;
    metrics?: unknown;
    error?: RunError | null;
    summary?: unknown;
  },
): void {
  db.transaction(() => {
    db.prepare(
      `UPDATE runs SET status=?, finished_at=?, metrics_json=COALESCE(?, metrics_json), error_json=?,
         summary_json=COALESCE(?, summary_json), owner_pid=NULL WHERE id=?`,
    ).run(
      outcome.status,
      new Date().toISOString(),
      json(outcome.metrics),
      json(outcome.error),
      json(outcome.summary),
      id,
    );
  })();
}

export function getRun<C = unknown>(db: Db, id: string): RunRecord<C> {
  let row = db.prepare(`SELECT * FROM runs WHERE id=?`).get(id) as RunRow | undefined;
  if (!row) {
    const matches = db
      .prepare(`SELECT * FROM runs WHERE id LIKE ? ORDER BY created_at DESC LIMIT 2`)
      .all(`${id}%`) as RunRow[];
    if (matches.length === 1) row = matches[0];
    else if (matches.length > 1) {
      throw new LoraprofError("RUN_NOT_FOUND", `run id prefix "${id}" is ambiguous`, {
        hint: "give more characters of the id (see `loraprof runs list`)",
      });
    }
  }
  if (!row) {
    throw new LoraprofError("RUN_NOT_FOUND", `no run with id "${id}" in this store`, {
      hint: "list runs with `loraprof runs list` (and check --db)",
    });
  }
  return fromRow<C>(row);
}

export function listRuns<C = unknown>(
  db: Db,
  filter: { status?: RunStatus; sweepId?: string; limit?: number } = {},
): RunRecord<C>[] {
  const where: string[] = [];
  const vals: unknown[] = [];
  if (filter.status) {
    where.push("status=?");
    vals.push(filter.status);
  }
  if (filter.sweepId) {
    where.push("sweep_id=?");
    vals.push(filter.sweepId);
  }
  const sql = `SELECT * FROM runs ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY created_at DESC, id DESC ${
    filter.limit ? `LIMIT ${Math.floor(filter.limit)}` : ""
  }`;
  return (db.prepare(sql).all(...vals) as RunRow[]).map((r) => fromRow<C>(r));
}

export interface StepRow {
  step: number;
  phase: "warmup" | "measure";
  realTokens: number;
  processedTokens: number;
  labelTokens: number;
  loss: number | null;
  stepSeconds: number | null;
  lr: number | null;
  gradNorm: number | null;
  allocatedBytes: number | null;
  /** When the step began (Unix ms); null for runs stored before step times were recorded. */
  unixMs: number | null;
}

export function getSteps(db: Db, runId: string): StepRow[] {
  return db
    .prepare(
      `SELECT step, phase, real_tokens AS realTokens, processed_tokens AS processedTokens, label_tokens AS labelTokens,
              loss, step_seconds AS stepSeconds, lr, grad_norm AS gradNorm, allocated_bytes AS allocatedBytes,
              unix_ms AS unixMs
       FROM steps WHERE run_id=? ORDER BY step`,
    )
    .all(runId) as StepRow[];
}

/**
 * Runs left `pending`/`running` by a loraprof process that no longer exists on this host (killed
 * CLI, power loss) are marked failed with kind `interrupted`. Returns the ids it marked.
 */
export function reapStaleRuns(db: Db, isAlive: (pid: number) => boolean = processAlive): string[] {
  const rows = db
    .prepare(`SELECT id, owner_pid, owner_host FROM runs WHERE status IN ('pending','running')`)
    .all() as Pick<RunRow, "id" | "owner_pid" | "owner_host">[];
  const stale = rows.filter(
    (r) =>
      r.owner_host === THIS_HOST &&
      (r.owner_pid === null || (r.owner_pid !== process.pid && !isAlive(r.owner_pid))),
  );
  for (const r of stale) {
    finishRun(db, r.id, {
      status: "failed",
      error: {
        kind: "interrupted",
        message: `the loraprof process (pid ${r.owner_pid ?? "?"}) that ran this run ended before finishing it`,
        hint: "run it again; completed steps up to the interruption are kept",
      },
    });
  }
  return stale.map((r) => r.id);
}

/**
 * Deletes stored runs (their steps and telemetry samples go with them; a sweep's planned entry
 * that pointed at one goes back to pending). All ids are checked first and nothing is deleted if
 * one is unknown, ambiguous or still running: a typo never costs a result. Returns the full ids.
 */
export function deleteRuns(
  db: Db,
  ids: string[],
  isAlive: (pid: number) => boolean = processAlive,
): string[] {
  const full = [...new Set(ids.map((id) => getRun(db, id).id))];
  const owners = db.prepare(`SELECT id, status, owner_pid, owner_host FROM runs WHERE id=?`);
  const live = full
    .map((id) => owners.get(id) as Pick<RunRow, "id" | "status" | "owner_pid" | "owner_host">)
    .filter(
      (r) =>
        (r.status === "running" || r.status === "pending") &&
        r.owner_pid !== null &&
        r.owner_host === THIS_HOST &&
        isAlive(r.owner_pid),
    );
  if (live.length) {
    throw new LoraprofError("FLAG_INVALID", `${live.map((r) => r.id).join(", ")} still running`, {
      problems: live.map((r) => ({
        field: r.id,
        message: `owned by the live loraprof process ${r.owner_pid}`,
        hint: "stop that run (Ctrl-C in its terminal) first, or leave it out",
      })),
    });
  }
  const del = db.prepare(`DELETE FROM runs WHERE id=?`);
  db.transaction(() => {
    for (const id of full) del.run(id);
  })();
  return full;
}

/** Completed runs with both times: their config and when they started and finished (for time estimates). */
export function completedRunTimes(db: Db): { config: unknown; startedAt: string; finishedAt: string }[] {
  const rows = db
    .prepare(
      `SELECT config_json, started_at, finished_at FROM runs
       WHERE status='completed' AND started_at IS NOT NULL AND finished_at IS NOT NULL`,
    )
    .all() as { config_json: string; started_at: string; finished_at: string }[];
  return rows.map((r) => ({
    config: parse(r.config_json),
    startedAt: r.started_at,
    finishedAt: r.finished_at,
  }));
}
