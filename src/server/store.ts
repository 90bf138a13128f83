/**
 * The dashboard's view of the store: its own read-only connection (WAL readers never block the
 * writer, and never take a write lock), reopened after a failure, and the queries that turn rows
 * into the API's documents. A missing, corrupt, locked or newer store becomes a LoraprofError the
 * server answers with, never a crash.
 */
import Database from "better-sqlite3";
import { existsSync } from "node:fs";
import type { Db } from "../store/db.js";
import { MIGRATIONS } from "../store/db.js";
import { canonicalJson, NAMING_FIELDS, normalizedConfig } from "../config/identity.js";
import { decodeMetrics, type StoredFigure } from "../store/metrics.js";
import { getRun, getSteps, listRuns } from "../store/runs.js";
import {
  countSteps,
  listRunRows as listStoredRuns,
  rowsSince,
  runCursor,
  type RunListRow,
} from "../store/dashboard.js";
import { getTelemetrySamples } from "../store/telemetry.js";
import { listEntries, listSweeps, type SweepRecord } from "../sweep/store.js";
import { summarize, median } from "../util/stats.js";
import { LoraprofError } from "../util/errors.js";
import type {
  Compare,
  Cursor,
  RunDetail,
  RunEvent,
  RunRow,
  SamplePoint,
  StepPoint,
  SweepDetail,
  SweepRow,
} from "./api.js";

/** The oldest schema this view reads (step wall-clock times came in version 4). */
const MIN_SCHEMA = 4;
const LATEST_SCHEMA = MIGRATIONS[MIGRATIONS.length - 1]!.version;

/** SQLite failures a user can act on, with what to do. */
function storeError(path: string, err: unknown): LoraprofError {
  if (err instanceof LoraprofError) return err;
  const code = (err as { code?: string }).code ?? "";
  const message = (err as Error).message;
  if (code === "SQLITE_BUSY" || code === "SQLITE_LOCKED")
    return new LoraprofError("STORE", `the store at ${path} is locked by another process`, {
      hint: "it is being rewritten (a VACUUM or a restore?); the page retries on the next change",
    });
  if (code === "SQLITE_NOTADB" || code === "SQLITE_CORRUPT")
    return new LoraprofError("STORE", `the file at ${path} is not a readable loraprof store (${message})`, {
      hint: "point --db at a loraprof.db written by `loraprof run`, or restore this one from a copy",
    });
  return new LoraprofError("STORE", `cannot read the store at ${path}: ${message}`, {
    hint: "check the path given with --db (or LORAPROF_HOME) and its permissions",
  });
}

export class StoreReader {
  private db: Db | null = null;

  constructor(readonly path: string) {}

  /** Runs `fn` on the open connection; a failure closes it so that the next call reopens. */
  read<T>(fn: (db: Db) => T): T {
    try {
      return fn(this.open());
    } catch (err) {
      if (!(err instanceof LoraprofError) || err.code === "STORE") this.close();
      throw err instanceof LoraprofError ? err : storeError(this.path, err);
    }
  }

  /** Bumps whenever another connection commits (SQLite's data_version): the cheapest change test. */
  version(): number {
    return this.read((db) => db.pragma("data_version", { simple: true }) as number);
  }

  close(): void {
    try {
      this.db?.close();
    } catch {
      // already unusable: nothing to release
    }
    this.db = null;
  }

  private open(): Db {
    if (this.db) return this.db;
    if (!existsSync(this.path)) {
      throw new LoraprofError("STORE", `there is no store at ${this.path} yet`, {
        hint: "start a run (`npx loraprof demo`) or pass --db PATH; this page follows the store once it exists",
      });
    }
    let db: Db;
    try {
      db = new Database(this.path, { readonly: true, fileMustExist: true });
      db.pragma("busy_timeout = 2000");
      const schema = db.pragma("user_version", { simple: true }) as number;
      // A first read proves the file is a database (a corrupt file opens, then fails here).
      db.prepare("SELECT count(*) FROM sqlite_master").get();
      if (schema > LATEST_SCHEMA) {
        db.close();
        throw new LoraprofError("STORE", `the store was written by a newer loraprof (schema ${schema})`, {
          hint: "upgrade loraprof, or point --db at another file",
        });
      }
      if (schema < MIN_SCHEMA) {
        db.close();
        throw new LoraprofError(
          "STORE",
          `the store uses schema ${schema}; the dashboard reads ${MIN_SCHEMA} or later`,
          {
            hint: "run any loraprof command on it once (e.g. `loraprof runs list --db PATH`) to upgrade it",
          },
        );
      }
    } catch (err) {
      throw storeError(this.path, err);
    }
    this.db = db;
    return db;
  }
}

// ---- documents ---------------------------------------------------------------------------------

type Plain = Record<string, unknown>;
const obj = (v: unknown): Plain => (v && typeof v === "object" && !Array.isArray(v) ? (v as Plain) : {});
const numOrNull = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);
const str = (v: unknown, fallback = ""): string => (typeof v === "string" ? v : fallback);

/** A run row needs only what the list query decodes (a full RunRecord has that and more). */
type RowSource = Omit<RunListRow, "stepsDone">;

function runRow(r: RowSource, stepsDone: number | null): RunRow {
  const c = obj(r.config);
  const m = r.metrics;
  return {
    id: r.id,
    status: r.status,
    label: r.label,
    sweepId: r.sweepId,
    createdAt: r.createdAt,
    startedAt: r.startedAt,
    finishedAt: r.finishedAt,
    model: str(c["model"], "?"),
    weights: str(c["weights"]),
    method: str(c["method"]),
    precision: str(c["precision"]),
    optimizer: str(obj(c["optimizer"])["name"]),
    batchSize: numOrNull(c["batchSize"]),
    seqLen: numOrNull(c["seqLen"]),
    gradAccum: numOrNull(c["gradAccum"]),
    padding: str(c["padding"]),
    device: str(c["device"]),
    stepsDone,
    stepsTotal: numOrNull(c["steps"]),
    realTokensPerSecond: m?.realTokensPerSecond ?? null,
    processedTokensPerSecond: m?.processedTokensPerSecond ?? null,
    peakDeviceBytes: m?.peakDeviceBytes ?? null,
    peakAllocatedBytes: m?.peakAllocatedBytes ?? numOrNull(r.error?.memory?.["peakAllocatedBytes"] ?? null),
    joulesPerRealToken: m?.joulesPerRealToken ?? null,
    error: r.error
      ? {
          kind: r.error.kind,
          message: r.error.message,
          hint: r.error.hint,
          ...(r.error.stderrTail ? { stderrTail: r.error.stderrTail } : {}),
          ...(r.error.step !== undefined ? { step: r.error.step } : {}),
        }
      : null,
  };
}

export function listRunRows(db: Db, limit = 1000): RunRow[] {
  return listStoredRuns(db, limit).map((r) => runRow(r, r.stepsDone));
}

const toStep = (s: ReturnType<typeof getSteps>[number]): StepPoint => ({
  step: s.step,
  phase: s.phase,
  realTokens: s.realTokens,
  processedTokens: s.processedTokens,
  loss: s.loss,
  stepSeconds: s.stepSeconds,
  allocatedBytes: s.allocatedBytes,
  unixMs: s.unixMs,
});

const toSample = (s: ReturnType<typeof getTelemetrySamples>[number]): SamplePoint => ({
  tMs: s.tMs,
  gpuIndex: s.gpuIndex,
  phase: s.phase,
  powerWatts: s.powerWatts,
  memoryUsedBytes: s.memoryUsedBytes,
  utilizationGpuPercent: s.utilizationGpuPercent,
});

export function runDetail(db: Db, idOrPrefix: string): RunDetail {
  const r = getRun(db, idOrPrefix);
  // One read transaction: the rows and the cursor describe the same moment.
  return db.transaction(() => {
    const steps = getSteps(db, r.id).map(toStep);
    return {
      run: runRow(r, steps.length),
      config: obj(r.config),
      environment: r.environment ? obj(r.environment) : null,
      metrics: r.metrics ? obj(r.metrics) : null,
      steps,
      samples: getTelemetrySamples(db, r.id).map(toSample),
      cursor: runCursor(db, r.id),
      logPath: r.logPath,
    };
  })();
}

/** The rows of one run written after `cursor`, and the run's current row: one SSE message. */
export function runEventSince(db: Db, id: string, cursor: Cursor): RunEvent {
  return db.transaction(() => {
    const { steps, samples } = rowsSince(db, id, cursor);
    const next: Cursor = {
      stepRowid: steps.length ? steps[steps.length - 1]!.rowid : cursor.stepRowid,
      sampleRowid: samples.length ? samples[samples.length - 1]!.rowid : cursor.sampleRowid,
    };
    return {
      run: runRow(getRun(db, id), countSteps(db, id)),
      steps: steps.map(({ rowid: _r, ...s }) => s),
      samples: samples.map(({ rowid: _r, ...s }) => s),
      cursor: next,
    };
  })();
}

// ---- compare -----------------------------------------------------------------------------------

/** Nested config → dotted fields with their values as text. */
function flatten(v: unknown, prefix = "", out: Record<string, string> = {}): Record<string, string> {
  if (v && typeof v === "object" && !Array.isArray(v)) {
    for (const [k, x] of Object.entries(v)) flatten(x, prefix ? `${prefix}.${k}` : k, out);
  } else out[prefix] = v === undefined ? "—" : JSON.stringify(v);
  return out;
}

const COMPARE_METRICS: { key: StoredFigure; label: string; unit: string }[] = [
  { key: "realTokensPerSecond", label: "real tokens/s", unit: "tokens/s" },
  { key: "processedTokensPerSecond", label: "processed tokens/s", unit: "tokens/s" },
  { key: "stepSecondsMedian", label: "step time (median)", unit: "s" },
  { key: "peakAllocatedBytes", label: "allocator peak", unit: "bytes" },
  { key: "peakDeviceBytes", label: "device peak (NVML)", unit: "bytes" },
  { key: "joulesPerRealToken", label: "energy per real token", unit: "J" },
  { key: "lossLast", label: "last loss", unit: "nats" },
];

export function compareRuns(db: Db, ids: string[]): Compare {
  const details = ids.map((id) => runDetail(db, id));
  const flat = details.map((d) => flatten(d.config));
  const fields = [...new Set(flat.flatMap((f) => Object.keys(f)))]
    .filter((f) => !NAMING_FIELDS.has(f))
    .sort();
  const differences: Compare["differences"] = [];
  const same: Compare["same"] = [];
  for (const field of fields) {
    const values = flat.map((f) => f[field] ?? "—");
    if (new Set(values).size > 1) differences.push({ field, values });
    else same.push({ field, value: values[0]! });
  }
  // Repeats: every stored run of this run's condition (config/identity.ts) pools into its interval.
  const key = (c: unknown) => canonicalJson(normalizedConfig(obj(c)));
  const all = listRuns(db).filter((r) => r.status === "completed");
  const metrics = COMPARE_METRICS.map((m) => ({
    ...m,
    perRun: details.map((d) => {
      const k = key(d.config);
      const values = all
        .filter((r) => key(r.config) === k)
        .map((r) => r.metrics?.[m.key] ?? null)
        .filter((v): v is number => v !== null);
      const own = decodeMetrics(d.metrics)?.[m.key] ?? null;
      const s = summarize(values.length ? values : own === null ? [] : [own]);
      return s ? { median: s.median, low: s.low, high: s.high, n: s.n } : null;
    }),
  }));
  return { runs: details, differences, same, metrics };
}

// ---- sweeps ------------------------------------------------------------------------------------

function sweepDoc(db: Db, s: SweepRecord): SweepDetail {
  const entries = listEntries(db, s.id);
  const counts = { queued: 0, running: 0, completed: 0, oom: 0, failed: 0, cancelled: 0 };
  const walls: number[] = [];
  const rows = entries.map((e) => {
    if (e.status === "pending") counts.queued++;
    else counts[e.status]++;
    const wallSeconds =
      e.startedAt && e.finishedAt ? (Date.parse(e.finishedAt) - Date.parse(e.startedAt)) / 1000 : null;
    if (wallSeconds !== null && Number.isFinite(wallSeconds)) walls.push(wallSeconds);
    return {
      key: e.key,
      label: e.label,
      repeat: e.repeat,
      status: e.status,
      runId: e.runId,
      attempts: e.attempts,
      wallSeconds,
      error: e.error ? { kind: e.error.kind, message: e.error.message, hint: e.error.hint } : null,
    };
  });
  const remaining = counts.queued + counts.running;
  const sweep: SweepRow = {
    id: s.id,
    name: s.name,
    status: s.status,
    createdAt: s.createdAt,
    updatedAt: s.updatedAt,
    total: entries.length,
    counts,
    etaSeconds: remaining && walls.length && s.status === "running" ? remaining * median(walls) : null,
  };
  return { sweep, entries: rows };
}

export function listSweepRows(db: Db): SweepRow[] {
  return listSweeps(db).map((s) => sweepDoc(db, s).sweep);
}

export function sweepDetail(db: Db, id: string): SweepDetail {
  const s = listSweeps(db).find((x) => x.id === id || x.name === id);
  if (!s) {
    throw new LoraprofError("RUN_NOT_FOUND", `no sweep "${id}" in this store`, {
      hint: "pick one from the Sweeps page",
    });
  }
  return sweepDoc(db, s);
}
