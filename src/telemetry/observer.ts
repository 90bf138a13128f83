/**
 * The telemetry stage as a run observer (the `RunObserver` hook of src/run/run.ts): starts the
 * sampler before the engine, holds the engine back for a short idle baseline, records the engine's
 * window events, and after the engine exits stops the sampler, tags the samples, and computes the
 * per-run telemetry metrics. It never fails a run: without a GPU or nvidia-smi the metrics say why.
 */
import type { ModelArchitecture } from "../catalog/types.js";
import type { EngineEvent, HelloEvent, RunSpec, SummaryEvent } from "../protocol/index.js";
import { catalogFacts, computeTelemetryMetrics, type TelemetryMetrics } from "./metrics.js";
import type { TelemetrySample } from "./parse.js";
import {
  startSampler,
  tagSamples,
  type RunningSampler,
  type SamplerHealth,
  type SpawnImpl,
  type TaggedSample,
} from "./sampler.js";

export interface TelemetryObserverOptions {
  /** Sampling period; default 100 ms. */
  intervalMs?: number;
  /**
   * How long `start` waits, sampling, before the engine is launched, so that an idle baseline exists;
   * default 2000 ms (about 20 readings; a GPU still cooling from a previous run reads high here).
   */
  idleBaselineMs?: number;
  /** `--assumed-watts` for the paper's method. */
  assumedWatts?: number | null;
  /** Receives the tagged samples and the sampler's health, e.g. to store them. */
  onSamples?: (runId: string, samples: TaggedSample[], health: SamplerHealth | null) => void;
  spawnImpl?: SpawnImpl;
  now?: () => number;
  /** Default process.env (read for CUDA_VISIBLE_DEVICES). */
  env?: NodeJS.ProcessEnv;
}

export interface TelemetryObserver {
  start(info: { runId: string; device: string; spec?: RunSpec }): Promise<void>;
  event(event: EngineEvent): void;
  finish(info: { runId: string; summary: SummaryEvent | null }): Promise<Record<string, unknown>>;
}

/**
 * nvidia-smi's index for the engine's `cuda:N`, or a reason why it cannot be known. CUDA numbers the
 * devices it is shown by CUDA_VISIBLE_DEVICES, in CUDA_DEVICE_ORDER (FASTEST_FIRST unless set);
 * nvidia-smi numbers all devices in PCI bus order. The two agree on a one-GPU host, or when
 * CUDA_DEVICE_ORDER=PCI_BUS_ID; a numeric CUDA_VISIBLE_DEVICES list maps N to its N-th entry.
 */
export function smiIndexForCudaDevice(
  cudaIndex: number,
  env: NodeJS.ProcessEnv,
): number | { reason: string } {
  const visible = env["CUDA_VISIBLE_DEVICES"]?.trim();
  if (visible) {
    const entry = visible.split(",")[cudaIndex]?.trim();
    if (entry === undefined) return { reason: `cuda:${cudaIndex} is not in CUDA_VISIBLE_DEVICES=${visible}` };
    if (!/^\d+$/.test(entry)) {
      return {
        reason: `CUDA_VISIBLE_DEVICES names "${entry}", not an index; telemetry cannot tell which GPU it is`,
      };
    }
    return Number(entry);
  }
  return cudaIndex;
}

/**
 * The padded width the sequences actually had, for the attention term of the FLOP model: processed
 * tokens (padding included) per sequence over the measured window.
 */
function effectiveSeqLen(spec: RunSpec, summary: SummaryEvent | null): number {
  if (summary?.attentionSpanTokens) return summary.attentionSpanTokens;
  const sequences = summary ? summary.measuredSteps * spec.data.batchSize * spec.data.gradAccum : 0;
  if (!summary || sequences === 0 || summary.processedTokens === 0) return spec.data.seqLen;
  return summary.processedTokens / sequences;
}

/**
 * The catalog facts for one run (GPU peak and board power, FLOPs per token) from its RunSpec, the
 * engine's hello and summary; what is missing is a reason, never a throw.
 */
export function runFacts(
  spec: RunSpec | undefined,
  hello: HelloEvent | null,
  summary: SummaryEvent | null,
  onGpu: boolean,
): ReturnType<typeof catalogFacts> {
  if (!spec) {
    return {
      gpu: null,
      gpuReason: "the run's spec was not passed to the telemetry observer",
      flops: null,
      flopsReason: "the run's spec was not passed to the telemetry observer",
    };
  }
  const facts = catalogFacts({
    gpuName: onGpu ? (hello?.device.name ?? null) : null,
    totalMemoryBytes: hello?.device.totalMemoryBytes ?? null,
    precision: spec.train.precision,
    architecture: (spec.model.architecture as ModelArchitecture | null) ?? null,
    flopsOptions: {
      seqLen: effectiveSeqLen(spec, summary),
      loraR: spec.lora.r,
      targetModules: spec.lora.targetModules,
      gradCheckpointing: spec.train.gradCheckpointing,
      method: spec.train.method,
    },
  });
  if (onGpu && !hello && facts.gpu === null) facts.gpuReason = "the engine never said which GPU it ran on";
  return facts;
}

export function createTelemetryObserver(opts: TelemetryObserverOptions = {}): TelemetryObserver {
  const now = opts.now ?? Date.now;
  let sampler: RunningSampler | null = null;
  let unavailable: string | null = null;
  let device = "cpu";
  let spec: RunSpec | undefined;
  let engineStartMs: number | null = null;
  let hello: HelloEvent | null = null;
  const windows: { state: "start" | "end"; unixMs: number }[] = [];

  return {
    async start(info) {
      device = info.device;
      spec = info.spec;
      const m = /^cuda:(\d+)$/.exec(info.device);
      if (!m) {
        unavailable = "the run used the CPU";
        return;
      }
      const index = smiIndexForCudaDevice(Number(m[1]), opts.env ?? process.env);
      if (typeof index !== "number") {
        unavailable = index.reason;
        return;
      }
      const s = await startSampler({
        gpuIndices: [index],
        intervalMs: opts.intervalMs ?? 100,
        ...(opts.spawnImpl ? { spawnImpl: opts.spawnImpl } : {}),
        now,
      });
      if (!s.available) {
        unavailable = s.reason;
        return;
      }
      sampler = s;
      const waitMs = opts.idleBaselineMs ?? 2000;
      if (waitMs > 0) await new Promise((r) => setTimeout(r, waitMs));
      engineStartMs = now();
    },

    event(ev) {
      if (ev.type === "hello") hello = ev;
      else if (ev.type === "window") windows.push({ state: ev.state, unixMs: ev.unixMs });
    },

    async finish(info) {
      let samples: TelemetrySample[] | null = null;
      let health: SamplerHealth | null = null;
      if (sampler) {
        const r = await sampler.stop();
        samples = r.samples;
        health = r.health;
      }
      const tagged = samples
        ? tagSamples(samples, windows, engineStartMs === null ? {} : { warmupStartMs: engineStartMs })
        : [];
      opts.onSamples?.(info.runId, tagged, health);

      const start = windows.find((w) => w.state === "start");
      const end = windows.find((w) => w.state === "end");
      const window =
        start && end && end.unixMs > start.unixMs ? { fromMs: start.unixMs, toMs: end.unixMs } : null;
      const onGpu = device.startsWith("cuda");
      const facts = runFacts(spec, hello as HelloEvent | null, info.summary, onGpu);

      const metrics: TelemetryMetrics = computeTelemetryMetrics({
        summary: info.summary,
        samples,
        samplerUnavailableReason: unavailable,
        window,
        idleBeforeMs: engineStartMs,
        device: onGpu ? "cuda" : "cpu",
        precision: spec?.train.precision ?? "bf16",
        assumedWatts: opts.assumedWatts ?? null,
        ...facts,
      });
      return {
        telemetry: metrics,
        telemetryHealth: health
          ? {
              sampleCount: health.sampleCount,
              fields: health.fields,
              droppedFields: health.droppedFields,
              restarts: health.restarts,
              gaveUp: health.gaveUp,
              gaps: health.gaps,
              parseErrors: health.parseErrors,
              receiptLagMs: health.receiptLagMs,
            }
          : { unavailable },
      };
    },
  };
}
