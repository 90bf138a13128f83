/**
 * One run end to end: resolve → data (tokenize, shard) → engine process → store. Returns data; the
 * caller (CLI, sweep, dashboard) renders progress through `onProgress` and the result.
 */
import { join } from "node:path";
import type { RunConfig } from "../config/schema.js";
import { prepareData, type PreparedData } from "../data/index.js";
import { storeFailure, type Db } from "../store/db.js";
import {
  createRun,
  finishRun,
  insertSteps,
  markRunning,
  setRunFields,
  type RunError,
  type RunStatus,
} from "../store/runs.js";
import { startEngine, resolvePython, type EngineOutcome } from "./engine.js";
import { checkPreparedData } from "./data-checks.js";
import { classifyOutcome } from "./outcome.js";
import { metricsFromSummary, type RunMetrics } from "./metrics.js";
import { phaseClock } from "./phases.js";
import { decodeMetrics, type StoredMetrics } from "../store/metrics.js";
import type {
  EngineEvent,
  ErrorEvent,
  HelloEvent,
  LoadedEvent,
  RunSpec,
  StepEvent,
  SummaryEvent,
} from "../protocol/index.js";
import {
  buildRunSpec,
  resolveConfig,
  resolveDevice,
  resolveModel,
  runTokenizerSpec,
  type ResolvedConfig,
} from "./resolve.js";

export type RunProgress =
  | { stage: "data"; message: string }
  | { stage: "engine"; message: string }
  | { stage: "loaded"; loaded: LoadedEvent; hello: HelloEvent | null }
  | { stage: "step"; step: StepEvent; totalSteps: number; realTokensPerSecond: number | null }
  | { stage: "done"; status: RunStatus };

export interface RunContext {
  db: Db;
  home: string;
  cacheDir: string;
  python?: string;
  /** A running zygote's socket: the engine is forked from it instead of started fresh. */
  zygote?: string;
  /** Data-parallel ranks (`run --nproc-per-node`): the global batch is batchSize × gradAccum × ranks. */
  nprocPerNode?: number;
  signal?: AbortSignal;
  sweepId?: string;
  onProgress?: (p: RunProgress) => void;
  /** Hooks for telemetry (sampler) around the engine process. */
  observers?: RunObserver[];
}

/** Something that watches a run while the engine is alive (e.g. the GPU telemetry sampler). */
export interface RunObserver {
  start(info: { runId: string; device: string; spec: RunSpec }): void | Promise<void>;
  event?(event: EngineEvent): void;
  /** Called after the engine exits; returns metrics to merge into the run's metrics. */
  finish(info: {
    runId: string;
    summary: SummaryEvent | null;
    metrics: RunMetrics | null;
  }): Promise<Record<string, unknown>>;
}

export interface RunResult {
  id: string;
  status: Exclude<RunStatus, "pending" | "running">;
  config: ResolvedConfig;
  metrics: StoredMetrics | null;
  error?: RunError;
  environment: HelloEvent | null;
  loaded: LoadedEvent | null;
  data: PreparedData["summary"];
}

export async function executeRun(config: RunConfig, ctx: RunContext): Promise<RunResult> {
  const clock = phaseClock();
  const model = resolveModel(config, ctx.cacheDir);
  // Decided before anything runs: a catalog model with no offline tokenizer fails here, with the fix.
  const tokenizer = runTokenizerSpec(model);
  const deviceChoice = await resolveDevice(config);
  const resolved = resolveConfig(config, model, deviceChoice);
  const python = ctx.python ?? resolvePython(ctx.home);

  ctx.onProgress?.({ stage: "data", message: `preparing ${config.dataset}` });
  const data = await prepareData({
    dataset: resolved.dataset,
    format: resolved.format === "auto" ? null : resolved.format,
    columns: resolved.columns,
    syntheticRecords: resolved.syntheticRecords,
    subset: resolved.subset,
    subsetMode: resolved.subsetMode,
    seed: resolved.seed,
    template: resolved.template,
    seqLen: resolved.seqLen,
    maskPrompt: resolved.maskPrompt,
    tokenizer,
    cacheDir: ctx.cacheDir,
    onProgress: (message: string) => ctx.onProgress?.({ stage: "data", message }),
  });

  const dataWarnings = await checkPreparedData(data);
  for (const w of dataWarnings) ctx.onProgress?.({ stage: "data", message: `warning: ${w}` });

  const runDirOf = (id: string) => join(ctx.home, "runs", id);
  const id = createRun(ctx.db, {
    config: resolved,
    label: resolved.label ?? null,
    sweepId: ctx.sweepId ?? null,
  });
  const runDir = runDirOf(id);
  setRunFields(ctx.db, id, { data: data.summary });
  ctx.db.prepare("UPDATE runs SET log_path=? WHERE id=?").run(join(runDir, "engine.log"), id);
  const spec = buildRunSpec({
    runId: id,
    config: resolved,
    model,
    shardDir: data.shardDir,
    padTokenId: data.padTokenId,
  });
  markRunning(ctx.db, id, spec);
  clock.end("prepare");

  let hello: HelloEvent | null = null;
  let loaded: LoadedEvent | null = null;
  let summary: SummaryEvent | null = null;
  let engineError: ErrorEvent | null = null;
  const pending: StepEvent[] = [];
  let measuredTokens = 0;
  let measuredSeconds = 0;
  // A store that stops taking writes (disk full, locked past the busy timeout) stops the run: the
  // engine is cancelled and the failure surfaces as one STORE error below, never as an exception
  // thrown from a timer. The run row stays `running` and is reaped as interrupted on the next start.
  const stop = new AbortController();
  const onOuterAbort = () => stop.abort();
  if (ctx.signal?.aborted) stop.abort();
  else ctx.signal?.addEventListener("abort", onOuterAbort, { once: true });
  let storeError: unknown = null;
  const write = (fn: () => void) => {
    if (storeError) return;
    try {
      fn();
    } catch (err) {
      storeError = err;
      stop.abort();
    }
  };
  const flush = () => write(() => insertSteps(ctx.db, id, pending.splice(0)));

  for (const o of ctx.observers ?? []) await o.start({ runId: id, device: resolved.device, spec });
  clock.end("telemetryStart");
  ctx.onProgress?.({ stage: "engine", message: "starting the engine" });

  const handle = startEngine({
    spec,
    python,
    runDir,
    signal: stop.signal,
    ...(ctx.zygote ? { zygote: ctx.zygote } : {}),
    ...(ctx.nprocPerNode ? { nprocPerNode: ctx.nprocPerNode } : {}),
    onEvent: (ev) => {
      for (const o of ctx.observers ?? []) o.event?.(ev);
      switch (ev.type) {
        case "hello":
          clock.end("engineStart");
          hello = ev;
          write(() => setRunFields(ctx.db, id, { environment: ev }));
          ctx.onProgress?.({ stage: "engine", message: `engine up on ${ev.device.name}` });
          break;
        case "loaded":
          clock.end("load");
          loaded = ev;
          write(() => setRunFields(ctx.db, id, { loaded: ev }));
          ctx.onProgress?.({ stage: "loaded", loaded: ev, hello });
          break;
        case "step":
          pending.push(ev);
          if (ev.phase === "measure" && ev.stepSeconds) {
            measuredTokens += ev.realTokens;
            measuredSeconds += ev.stepSeconds;
          }
          ctx.onProgress?.({
            stage: "step",
            step: ev,
            totalSteps: resolved.steps,
            realTokensPerSecond: measuredSeconds > 0 ? measuredTokens / measuredSeconds : null,
          });
          break;
        case "window":
          flush();
          break;
        case "summary":
          clock.end("training");
          summary = ev;
          flush();
          write(() => setRunFields(ctx.db, id, { summary: ev }));
          break;
        case "error":
          engineError = ev;
          break;
      }
    },
  });
  // Steps arrive in bursts at the engine's flush points; write each burst once it has arrived.
  const flushTimer = setInterval(flush, 1000);
  let outcome: EngineOutcome;
  try {
    outcome = await handle.done;
  } finally {
    clearInterval(flushTimer);
    flush();
    ctx.signal?.removeEventListener("abort", onOuterAbort);
  }
  clock.end("engineExit");
  if (storeError) throw storeFailure(storeError, ctx.db.name);

  const { status, error } = classifyOutcome(outcome, summary, engineError);
  let raw: (RunMetrics & Record<string, unknown>) | null = summary
    ? { ...metricsFromSummary(summary) }
    : null;
  for (const o of ctx.observers ?? []) {
    try {
      const extra = await o.finish({ runId: id, summary, metrics: raw });
      if (raw) raw = { ...raw, ...extra };
    } catch (err) {
      raw?.warnings.push(`telemetry failed: ${(err as Error).message}`);
    }
  }
  raw?.warnings.push(...dataWarnings);
  clock.end("telemetryFinish");
  if (raw) raw.phases = clock.phases();
  // Decoded as every reader decodes it (headlines lifted here, once, at write time).
  const metrics = decodeMetrics(raw);
  finishRun(ctx.db, id, { status, metrics, error: error ?? null });
  ctx.onProgress?.({ stage: "done", status });
  return {
    id,
    status,
    config: resolved,
    metrics,
    ...(error ? { error } : {}),
    environment: hello,
    loaded,
    data: data.summary,
  };
}
