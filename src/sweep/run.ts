/**
 * The sweep runner: stores a sweep and its plan, then runs every planned config that has no final
 * outcome yet, each in its own engine process (through `executeRun`), one at a time or one per GPU.
 * Every outcome is stored (OOM and failures are rows with their reason), a failing config never
 * stops the sweep, and a sweep stopped by Ctrl-C or a killed CLI resumes where it was: completed
 * runs are never repeated. Library code: progress goes to `onEvent`, nothing is printed.
 */
import type { RunConfig } from "../config/schema.js";
import type { Db } from "../store/db.js";
import { createRun, finishRun, type RunError, type RunStatus } from "../store/runs.js";
import type { RunContext, RunObserver, RunProgress, RunResult } from "../run/run.js";
import { checkpointCached } from "../run/resolve.js";
import type { Zygote } from "../run/zygote.js";
import { LoraprofError } from "../util/errors.js";
import { estimatePlan, type PlanEstimate } from "./estimate.js";
import { expandSweep, type PlannedRun, type SweepSpec } from "./spec.js";
import {
  adoptOrphans,
  claimSweep,
  createSweep,
  findSweep,
  getSweep,
  linkRun,
  listEntries,
  noteAttempt,
  releaseSweep,
  setSweepDefinition,
  syncPlan,
  type SweepEntry,
  type SweepRecord,
} from "./store.js";

export type SweepExecutor = (config: RunConfig, ctx: RunContext) => Promise<RunResult>;

export interface PreparedSweep {
  sweep: SweepRecord;
  planned: PlannedRun[];
  /** True when this call created the sweep; false when it resumes one. */
  created: boolean;
  /** Planned runs new to the stored plan, and stored ones the spec no longer has. */
  added: number;
  dropped: number;
}

/**
 * Expands and validates `spec` (nothing is stored from an invalid one), then creates the sweep or,
 * when one of the same name exists and `fresh` is not set, resumes it with the new plan.
 */
export function prepareSweep(
  db: Db,
  spec: SweepSpec,
  opts: { overrides?: Record<string, unknown>; fresh?: boolean } = {},
): PreparedSweep {
  const overrides = opts.overrides ?? {};
  const planned = expandSweep(spec, { overrides });
  const existing = opts.fresh ? null : findSweepByName(db, spec.name);
  const sweep = existing ?? createSweep(db, spec.name, { spec, overrides });
  if (existing) setSweepDefinition(db, existing.id, { spec, overrides });
  const { added, dropped } = syncPlan(db, sweep.id, planned);
  return { sweep: getSweep(db, sweep.id), planned, created: !existing, added, dropped };
}

function findSweepByName(db: Db, name: string): SweepRecord | null {
  const s = findSweep(db, name);
  return s && s.name === name ? s : null;
}

/** Re-expands a stored sweep from its stored spec (e.g. `loraprof sweep ID` after an interruption). */
export function reopenSweep(db: Db, idOrName: string): PreparedSweep {
  const sweep = getSweep(db, idOrName);
  const planned = expandSweep(sweep.definition.spec, { overrides: sweep.definition.overrides });
  const { added, dropped } = syncPlan(db, sweep.id, planned);
  return { sweep, planned, created: false, added, dropped };
}

export interface RerunPolicy {
  /** Run again configs whose last run failed (crash, engine error, bad setting). */
  rerunFailed?: boolean;
  /** Run again configs whose last run ran out of memory. */
  rerunOom?: boolean;
}

/**
 * Whether a planned entry still has to run. Completed and OOM are results and stand; a run that
 * never finished (pending, cancelled, interrupted by a killed CLI) always runs again, and so does one
 * the disk stopped (full: the host's fault, not the config's; resumed once space is freed); any other
 * failure runs again only when asked, so a broken config does not burn time on every resume.
 */
export function needsRun(entry: Pick<SweepEntry, "status" | "error">, policy: RerunPolicy = {}): boolean {
  switch (entry.status) {
    case "completed":
      return false;
    case "oom":
      return Boolean(policy.rerunOom);
    case "failed":
      return (
        entry.error?.kind === "interrupted" || entry.error?.kind === "disk" || Boolean(policy.rerunFailed)
      );
    case "pending":
    case "running":
    case "cancelled":
      return true;
  }
}

export interface SweepPlan {
  sweepId: string;
  name: string;
  entries: SweepEntry[];
  todo: SweepEntry[];
  /** Entries by the status of their latest run (pending: never ran). */
  counts: Record<RunStatus, number>;
  /** Estimated seconds for the runs still to do, from stored runs of the same shape. */
  estimate: PlanEstimate;
  workers: number;
}

const zeroCounts = (): Record<RunStatus, number> => ({
  pending: 0,
  running: 0,
  completed: 0,
  oom: 0,
  failed: 0,
  cancelled: 0,
});

export function planSweep(
  db: Db,
  sweepId: string,
  policy: RerunPolicy & { gpus?: number[] } = {},
): SweepPlan {
  adoptOrphans(db, sweepId);
  const sweep = getSweep(db, sweepId);
  const entries = listEntries(db, sweepId);
  const todo = entries.filter((e) => needsRun(e, policy));
  const counts = zeroCounts();
  for (const e of entries) counts[e.status]++;
  return {
    sweepId,
    name: sweep.name,
    entries,
    todo,
    counts,
    estimate: estimatePlan(
      db,
      todo.map((e) => e.config),
    ),
    workers: Math.max(1, policy.gpus?.length ?? 1),
  };
}

export type SweepEvent =
  | { type: "start"; plan: SweepPlan }
  | {
      type: "run-start";
      entry: SweepEntry;
      index: number;
      total: number;
      device: string | null;
      worker: number;
    }
  | { type: "run-progress"; entry: SweepEntry; worker: number; progress: RunProgress }
  | {
      type: "run-end";
      entry: SweepEntry;
      index: number;
      total: number;
      worker: number;
      runId: string;
      status: Exclude<RunStatus, "pending" | "running">;
      realTokensPerSecond: number | null;
      error: RunError | null;
      wallSeconds: number;
      /** Seconds left, from this session's run times (or the plan's estimate before any finished). */
      etaSeconds: number | null;
    }
  /** How this call starts its engines: forked from a zygote, or plain processes (with the reason). */
  | { type: "engine"; zygote: boolean; message: string }
  | { type: "end"; outcome: SweepOutcome };

export interface SweepOutcome {
  sweepId: string;
  /** finished: every planned run has a final outcome; interrupted: stopped (Ctrl-C) and resumable. */
  status: "finished" | "interrupted";
  /** Runs made by this call, in the order they ended. */
  ran: { key: string; runId: string; status: Exclude<RunStatus, "pending" | "running"> }[];
  /** Latest outcome of every planned run after this call. */
  counts: Record<RunStatus, number>;
  total: number;
  /** Planned runs without a final outcome (never ran, cancelled, interrupted). */
  remaining: number;
}

export interface SweepRunOptions extends RerunPolicy {
  db: Db;
  home: string;
  cacheDir: string;
  python?: string;
  signal?: AbortSignal;
  /** GPU indices: one worker per GPU, each pinning its runs to `cuda:i`. Absent: one worker, device as configured. */
  gpus?: number[];
  /** Defaults to `executeRun`; tests pass a fake. */
  executor?: SweepExecutor;
  /** Observers for each run (e.g. a telemetry sampler per run). */
  observers?: (entry: SweepEntry, device: string | null) => RunObserver[];
  onEvent?: (e: SweepEvent) => void;
  /** Fork each run from a pre-imported engine parent (default: true with the real executor). */
  zygote?: boolean;
}

/** A mutex as a chain of promises: `hold()` resolves to the release function once it is our turn. */
function gate() {
  let tail: Promise<void> = Promise.resolve();
  return {
    hold(): Promise<() => void> {
      let release!: () => void;
      const next = new Promise<void>((r) => (release = r));
      const turn = tail.then(() => release);
      tail = tail.then(() => next);
      return turn;
    },
  };
}

/** A sweep's outcome from its stored entries: counts by status, what remains to run, finished or not. */
export function sweepOutcome(
  db: Db,
  sweepId: string,
  ran: SweepOutcome["ran"],
  interrupted: boolean,
): SweepOutcome {
  const entries = listEntries(db, sweepId);
  const counts = zeroCounts();
  for (const e of entries) counts[e.status]++;
  const remaining = entries.filter((e) => needsRun(e)).length;
  return {
    sweepId,
    status: interrupted || remaining > 0 ? "interrupted" : "finished",
    ran,
    counts,
    total: entries.length,
    remaining,
  };
}

export function errorFromException(err: unknown): RunError {
  if (err instanceof LoraprofError) {
    const kind: RunError["kind"] =
      err.code === "CONFIG_INVALID" || err.code === "MODEL_NOT_FOUND"
        ? "config"
        : err.code.startsWith("DATASET") || err.code === "DOWNLOAD_FAILED" || err.code === "TOKENIZER"
          ? "data"
          : err.code === "ENGINE_MISSING"
            ? "dependency"
            : "internal";
    const details = err.problems.map((p) => `${p.field}: ${p.message}`).join("; ");
    return {
      kind,
      message: `${err.message}${details ? ` (${details})` : ""}`,
      hint: err.problems.find((p) => p.hint)?.hint ?? err.hint ?? null,
    };
  }
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code === "ENOSPC" || code === "EDQUOT") {
    return { kind: "disk", message: `the disk is full: ${(err as Error).message}`, hint: DISK_HINT };
  }
  return { kind: "internal", message: (err as Error)?.message ?? String(err), hint: null };
}

/** What to do about a full disk while a run is prepared (token shards, synthetic checkpoints: the cache). */
const DISK_HINT =
  "free space on the cache's disk (`loraprof cache` shows what it holds; `loraprof cache clear checkpoints` or " +
  "`shards` frees it) or set LORAPROF_CACHE to a folder on a disk with room, then resume the sweep";

/** A zygote for this call's runs, or null (plain engine processes) with the reason told through onEvent. */
async function engineZygote(opts: SweepRunOptions): Promise<Zygote | null> {
  if (process.env["LORAPROF_ZYGOTE"] === "0") {
    opts.onEvent?.({
      type: "engine",
      zygote: false,
      message: "engine zygote off (LORAPROF_ZYGOTE=0); each run starts its own engine process",
    });
    return null;
  }
  const { resolvePython } = await import("../run/engine.js");
  const { startZygote } = await import("../run/zygote.js");
  let python: string;
  try {
    python = opts.python ?? resolvePython(opts.home);
  } catch {
    return null; // each run reports the missing engine itself
  }
  const started = await startZygote({ python });
  if (!started.ok) {
    opts.onEvent?.({
      type: "engine",
      zygote: false,
      message: `engine zygote unavailable (${started.reason}); each run starts its own engine process`,
    });
    return null;
  }
  opts.onEvent?.({
    type: "engine",
    zygote: true,
    message: `engine zygote ready (imports ${started.zygote.importSeconds.toFixed(1)} s, paid once)`,
  });
  return started.zygote;
}

/**
 * Runs what the plan still needs. Never throws for a run's failure: each outcome is stored and
 * reported through `onEvent`. Throws only when the sweep cannot be claimed (another live process
 * runs it) or the store fails.
 */
export async function runSweep(sweepId: string, opts: SweepRunOptions): Promise<SweepOutcome> {
  const { db } = opts;
  // Loaded on demand so the sweep library (and its tests with a fake executor) does not pull in the engine.
  const executor = opts.executor ?? (await import("../run/run.js")).executeRun;
  claimSweep(db, sweepId);
  let interrupted = false;
  const ran: SweepOutcome["ran"] = [];
  let zygote: Zygote | null = null;
  try {
    const plan = planSweep(db, sweepId, opts);
    opts.onEvent?.({ type: "start", plan });
    if (plan.todo.length > 1 && (opts.zygote ?? !opts.executor)) zygote = await engineZygote(opts);
    const queue = [...plan.todo];
    const total = plan.todo.length;
    const workers = opts.gpus?.length ? opts.gpus.map((g) => g) : [null];
    const dataGate = gate();
    // Per (model, weights, seed): the first run materializes the synthetic checkpoint; others wait for it.
    const materialized = new Set<string>();
    const wallTimes: number[] = [];
    let started = 0;
    let ended = 0;

    const eta = (): number | null => {
      const left = total - ended;
      if (left <= 0) return 0;
      if (wallTimes.length) {
        const mean = wallTimes.reduce((a, b) => a + b, 0) / wallTimes.length;
        return (mean * left) / workers.length;
      }
      return plan.estimate.known === plan.estimate.total && plan.estimate.seconds !== null
        ? plan.estimate.seconds / workers.length
        : null;
    };

    const runOne = async (entry: SweepEntry, worker: number, gpu: number | null) => {
      const index = ++started;
      const device = gpu === null ? null : `cuda:${gpu}`;
      const config: RunConfig = device ? { ...entry.config, device } : entry.config;
      noteAttempt(db, sweepId, entry.key);
      opts.onEvent?.({ type: "run-start", entry, index, total, device, worker });
      const t0 = Date.now();
      const modelKey = `${config.model}|${config.weights}|${config.seed}`;
      const release = await dataGate.hold();
      let released = false;
      const letNextStart = () => {
        if (!released) {
          released = true;
          release();
        }
      };
      // A checkpoint already on disk (an earlier sweep or run made it) is only read: no need to wait.
      const waitForLoad = !materialized.has(modelKey) && !checkpointCached(config, opts.cacheDir);
      let result: {
        runId: string;
        status: Exclude<RunStatus, "pending" | "running">;
        tps: number | null;
        error: RunError | null;
      };
      try {
        const r = await executor(config, {
          db,
          home: opts.home,
          cacheDir: opts.cacheDir,
          ...(opts.python ? { python: opts.python } : {}),
          ...(zygote ? { zygote: zygote.socket } : {}),
          ...(opts.signal ? { signal: opts.signal } : {}),
          sweepId,
          ...(opts.observers ? { observers: opts.observers(entry, device) } : {}),
          onProgress: (p) => {
            // The data stage (token shards) and the first load of a checkpoint write shared caches:
            // the next run starts once they exist.
            if (p.stage === "loaded" || p.stage === "done" || (p.stage === "engine" && !waitForLoad))
              letNextStart();
            if (p.stage === "loaded") materialized.add(modelKey);
            opts.onEvent?.({ type: "run-progress", entry, worker, progress: p });
          },
        });
        result = {
          runId: r.id,
          status: r.status,
          tps: r.metrics?.realTokensPerSecond ?? null,
          error: r.error ?? null,
        };
      } catch (err) {
        // The store itself failing (disk full, locked) is no run's outcome: the sweep stops there,
        // and the next call resumes it once the store takes writes again.
        if (err instanceof LoraprofError && err.code === "STORE") throw err;
        // The run failed before or outside the engine (bad dataset path, missing GPU, no engine):
        // stored as a failed run of this sweep so the outcome is never lost.
        const error = errorFromException(err);
        const open = db
          .prepare(
            `SELECT id FROM runs WHERE sweep_id=? AND label=? AND status IN ('pending','running') ORDER BY created_at DESC LIMIT 1`,
          )
          .get(sweepId, entry.label) as { id: string } | undefined;
        const runId = open?.id ?? createRun(db, { config, label: entry.label, sweepId });
        finishRun(db, runId, { status: "failed", error });
        result = { runId, status: "failed", tps: null, error };
      } finally {
        letNextStart();
      }
      linkRun(db, sweepId, entry.key, result.runId);
      const wallSeconds = (Date.now() - t0) / 1000;
      if (result.status !== "cancelled") wallTimes.push(wallSeconds);
      ended++;
      if (result.status === "cancelled" || opts.signal?.aborted) interrupted = true;
      ran.push({ key: entry.key, runId: result.runId, status: result.status });
      const fresh = listEntries(db, sweepId).find((e) => e.key === entry.key) ?? entry;
      opts.onEvent?.({
        type: "run-end",
        entry: fresh,
        index,
        total,
        worker,
        runId: result.runId,
        status: result.status,
        realTokensPerSecond: result.tps,
        error: result.error,
        wallSeconds,
        etaSeconds: eta(),
      });
    };

    await Promise.all(
      workers.map(async (gpu, worker) => {
        while (queue.length && !opts.signal?.aborted && !interrupted) {
          const entry = queue.shift()!;
          await runOne(entry, worker, gpu);
        }
      }),
    );
    if (opts.signal?.aborted) interrupted = true;
  } catch (err) {
    zygote?.stop();
    // Release the claim if the store lets us (it may be what failed); the first error is the news.
    try {
      releaseSweep(db, sweepId, "interrupted");
    } catch {
      // a stale claim is reaped by the next call (its owner pid is gone)
    }
    throw err;
  }
  {
    zygote?.stop();
    const entries = listEntries(db, sweepId);
    const remaining = entries.filter((e) => needsRun(e)).length;
    releaseSweep(db, sweepId, interrupted || remaining > 0 ? "interrupted" : "finished");
  }
  const outcome = sweepOutcome(db, sweepId, ran, interrupted);
  opts.onEvent?.({ type: "end", outcome });
  return outcome;
}
