/**
 * Both ends of a Slurm task's result. On the compute node, `runSlurmTask` runs one planned config
 * through the ordinary run path (`executeRun`, the engine in its own process) into a private store
 * on node-local disk, then writes the run's rows to the shared result file atomically. On the CLI's
 * side, `importResult` copies those rows into the sweep's store, once.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { openStore, type Db } from "../../store/db.js";
import { createRun, finishRun, type RunError } from "../../store/runs.js";
import type { RunContext, RunObserver, RunResult } from "../../run/run.js";
import type { RunConfig } from "../../config/schema.js";
import { LoraprofError } from "../../util/errors.js";
import { errorFromException } from "../run.js";
import { writeAtomic } from "../../util/files.js";
import { readTaskFile, resultPath, type TaskResult } from "./files.js";

export interface SlurmTaskOptions {
  subDir: string;
  index: number;
  home: string;
  cacheDir: string;
  python?: string;
  signal?: AbortSignal;
  observers?: (db: Db) => RunObserver[];
  /** Defaults to `executeRun`; tests pass a fake. */
  executor?: (config: RunConfig, ctx: RunContext) => Promise<RunResult>;
}

/** The rows of one run, as the store holds them. */
export function exportRun(db: Db, runId: string): Pick<TaskResult, "run" | "steps" | "telemetry"> {
  return {
    run: (db.prepare(`SELECT * FROM runs WHERE id=?`).get(runId) as Record<string, unknown>) ?? null,
    steps: db.prepare(`SELECT * FROM steps WHERE run_id=? ORDER BY step`).all(runId) as Record<
      string,
      unknown
    >[],
    telemetry: db
      .prepare(`SELECT * FROM telemetry_samples WHERE run_id=? ORDER BY t_ms`)
      .all(runId) as Record<string, unknown>[],
  };
}

/** Runs task `index` of a submission and writes its result file; returns the run's status. */
export async function runSlurmTask(opts: SlurmTaskOptions): Promise<{ status: string; result: string }> {
  const file = readTaskFile(opts.subDir);
  const task = file.tasks.find((t) => t.index === opts.index);
  if (!task) {
    throw new LoraprofError("CONFIG_INVALID", `no task ${opts.index} in ${opts.subDir}/tasks.json`, {
      problems: [{ field: "index", message: `the submission has tasks 0..${file.tasks.length - 1}` }],
    });
  }
  const executor = opts.executor ?? (await import("../../run/run.js")).executeRun;
  // SQLite on a shared file system is unsafe: the task's store lives on the node's own disk.
  const local = mkdtempSync(join(tmpdir(), "loraprof-slurm-task-"));
  const db = openStore(join(local, "task.db"));
  const jobId = process.env["SLURM_ARRAY_JOB_ID"] ?? process.env["SLURM_JOB_ID"] ?? null;
  let body: Pick<TaskResult, "run" | "steps" | "telemetry" | "error">;
  let status: string;
  try {
    try {
      const r = await executor(task.config, {
        db,
        home: opts.home,
        cacheDir: opts.cacheDir,
        sweepId: file.sweepId,
        ...(opts.python ? { python: opts.python } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
        ...(opts.observers ? { observers: opts.observers(db) } : {}),
      });
      body = { ...exportRun(db, r.id), error: null };
      status = r.status;
    } catch (err) {
      // Failed before the engine stored anything (bad dataset path, no engine): the error is the result.
      body = { run: null, steps: [], telemetry: [], error: { ...errorFromException(err) } };
      status = "failed";
    }
    const result: TaskResult = {
      version: 1,
      sweepId: file.sweepId,
      key: task.key,
      label: task.label,
      host: hostname(),
      jobId:
        jobId && process.env["SLURM_ARRAY_TASK_ID"]
          ? `${jobId}_${process.env["SLURM_ARRAY_TASK_ID"]}`
          : jobId,
      ...body,
    };
    const path = resultPath(opts.subDir, opts.index);
    writeAtomic(path, JSON.stringify(result) + "\n");
    return { status, result: path };
  } finally {
    db.close();
    rmSync(local, { recursive: true, force: true });
  }
}

function columnsOf(db: Db, table: string): Set<string> {
  return new Set((db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[]).map((c) => c.name));
}

function insertRows(db: Db, table: string, rows: Record<string, unknown>[], cols: Set<string>): void {
  for (const row of rows) {
    const keys = Object.keys(row).filter((k) => cols.has(k));
    db.prepare(
      `INSERT OR REPLACE INTO ${table} (${keys.join(", ")}) VALUES (${keys.map(() => "?").join(", ")})`,
    ).run(...keys.map((k) => row[k] as string | number | null));
  }
}

/**
 * Copies a task's run into the store in one transaction and returns its id. Idempotent: a result
 * already imported (same run id, same sweep) returns that id. A task that failed before storing a
 * run becomes a failed row with the task's error, as a local sweep stores one.
 */
export function importResult(
  db: Db,
  sweepId: string,
  result: TaskResult,
  config: RunConfig,
): { runId: string; status: string; error: RunError | null } {
  if (!result.run) {
    const error = (result.error ?? {
      kind: "internal",
      message: "the task wrote no run and no error",
      hint: null,
    }) as RunError;
    const runId = createRun(db, { config, label: result.label, sweepId });
    finishRun(db, runId, { status: "failed", error });
    return { runId, status: "failed", error };
  }
  const row: Record<string, unknown> = { ...result.run, sweep_id: sweepId, owner_pid: null };
  let runId = String(row["id"]);
  const existing = db.prepare(`SELECT sweep_id, label FROM runs WHERE id=?`).get(runId) as
    { sweep_id: string | null; label: string | null } | undefined;
  if (existing && existing.sweep_id === sweepId && existing.label === row["label"]) {
    return { runId, status: String(row["status"]), error: parseError(row["error_json"]) };
  }
  if (existing) {
    // Another run took the id (ids are per-second stamps with 16 random bits): give this one a fresh id.
    runId = `${runId}-${Math.random().toString(16).slice(2, 6)}`;
    row["id"] = runId;
  }
  db.transaction(() => {
    insertRows(db, "runs", [row], columnsOf(db, "runs"));
    insertRows(
      db,
      "steps",
      result.steps.map((s) => ({ ...s, run_id: runId })),
      columnsOf(db, "steps"),
    );
    insertRows(
      db,
      "telemetry_samples",
      result.telemetry.map((s) => ({ ...s, run_id: runId })),
      columnsOf(db, "telemetry_samples"),
    );
  })();
  return { runId, status: String(row["status"]), error: parseError(row["error_json"]) };
}

function parseError(v: unknown): RunError | null {
  return typeof v === "string" ? (JSON.parse(v) as RunError) : null;
}
