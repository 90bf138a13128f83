/**
 * Per-run telemetry metrics, from what the engine measured (its summary: token counts, the measured
 * seconds, allocator and NVML memory peaks, the NVML energy counter over the window), what the sampler
 * recorded, and catalog facts (FLOPs per token, the GPU's dense peak and board power) passed in as
 * plain numbers.
 *
 * Every figure is `{ value, reason }`: null with the reason when it cannot be formed (a CPU run, no
 * nvidia-smi, a driver without the energy counter, a GPU missing from the catalog). Nothing here throws
 * on missing data; a run without telemetry still gets its throughput.
 */
import { findGpu } from "../catalog/gpus.js";
import { peakFlopsFor } from "../catalog/peak.js";
import type { ModelArchitecture } from "../catalog/types.js";
import { flopsPerToken, type FlopsOptions } from "../plan/flops.js";
import type { Precision, SummaryEvent } from "../protocol/index.js";
import {
  choosePowerField,
  crossCheck,
  idleBaselineWatts,
  integrateEnergyJoules,
  type CrossCheck,
  type PowerField,
  type PowerGap,
} from "./energy.js";
import type { TelemetrySample } from "./parse.js";

export interface Metric {
  value: number | null;
  reason: string | null;
}

const ok = (value: number): Metric => ({ value, reason: null });
const missing = (reason: string): Metric => ({ value: null, reason });

export interface TelemetryMetricsInput {
  /** The engine's summary; null when the run died before it. */
  summary: SummaryEvent | null;
  /** The sampler's samples for the run's GPU(s), or null when the sampler was unavailable. */
  samples: readonly TelemetrySample[] | null;
  /** Why there are no samples (the sampler's `reason`). */
  samplerUnavailableReason?: string | null;
  /** The measured window in host epoch ms, from the engine's window events. */
  window: { fromMs: number; toMs: number } | null;
  /** Samples before this time are idle (the run stage's receipt of `loaded`); default window.fromMs. */
  idleBeforeMs?: number | null;
  /** What the run computed on. */
  device: "cpu" | "cuda";
  precision: Precision;
  /** Catalog facts about the GPU, or null when it is not in the catalog (say which in `gpuReason`). */
  gpu: { name: string; boardPowerWatts: number | null; densePeakFlopsPerSecond: number | null } | null;
  gpuReason?: string | null;
  /** `--assumed-watts`: overrides the catalog's board power for the paper's method. */
  assumedWatts?: number | null;
  /** From the FLOP model (src/plan/flops.ts), or null without an architecture. */
  flops: { modelFlopsPerToken: number; hardwareFlopsPerToken: number } | null;
  flopsReason?: string | null;
  /** GPUs the run computed on (the peak is per GPU); default 1. */
  gpuCount?: number;
  /** Power reading integrated for the cross-check; default choosePowerField(samples). */
  powerField?: PowerField;
}

export interface TelemetryMetrics {
  /** Energy over the measured window: NVML's counter, or the power integral when the counter is missing. */
  energyJoules: Metric & { source: "nvml-counter" | "sampled-power-integral" | null };
  integratedEnergyJoules: Metric & {
    field: PowerField | null;
    gaps: PowerGap[];
    coveredFraction: number | null;
  };
  /** Counter vs integral, flagged above 10%. */
  energyCrossCheck: CrossCheck;
  averagePowerWatts: Metric;
  realTokensPerSecond: Metric;
  joulesPerRealToken: Metric;
  joulesPerProcessedToken: Metric;
  /** The four peaks (allocator allocated/reserved, NVML process/device) and nvidia-smi's memory.used peak. */
  memory: {
    allocatorPeakAllocatedBytes: Metric;
    allocatorPeakReservedBytes: Metric;
    nvmlPeakProcessBytes: Metric;
    nvmlPeakDeviceBytes: Metric;
    sampledPeakMemoryUsedBytes: Metric;
  };
  /** Over the measured window. */
  meanUtilizationGpuPercent: Metric;
  meanSmClockHz: Metric;
  maxTemperatureC: Metric;
  idleBaselineWatts: Metric;
  /**
   * The seed paper's method: assumed board power ÷ real tokens/s. Not a measurement; reported beside
   * the measured figure so the two can be compared.
   */
  paperMethodJoulesPerToken: Metric & {
    estimate: true;
    assumedWatts: number | null;
    assumedWattsSource: "flag" | "gpu-catalog" | null;
  };
  achievedModelFlopsPerSecond: Metric;
  /** Model FLOPs utilization: model FLOPs/token × real tokens/s ÷ dense peak. */
  mfu: Metric;
  /** Hardware FLOPs utilization: adds the gradient-checkpointing recompute. */
  hfu: Metric;
}

function mean(values: number[]): number {
  return values.reduce((s, v) => s + v, 0) / values.length;
}

/** Computes the run's telemetry metrics; see the file's comment. */
export function computeTelemetryMetrics(input: TelemetryMetricsInput): TelemetryMetrics {
  const s = input.summary;
  const onGpu = input.device === "cuda";
  const noGpu = "the run used the CPU";
  const noSummary = "the run ended before the engine's summary";
  const noSamples = !onGpu
    ? noGpu
    : `no telemetry samples${input.samplerUnavailableReason ? `: ${input.samplerUnavailableReason}` : ""}`;

  // Throughput over the measured window, in real (non-padding) tokens.
  let tokensPerSecond: Metric;
  if (!s) tokensPerSecond = missing(noSummary);
  else if (!(s.measuredSeconds > 0))
    tokensPerSecond = missing("the measured window is empty (no measured steps?)");
  else tokensPerSecond = ok(s.realTokens / s.measuredSeconds);

  // Samples inside the measured window.
  const all = input.samples ?? [];
  const inWindow = input.window
    ? all.filter(
        (x) =>
          x.tMs >= (input.window as { fromMs: number }).fromMs &&
          x.tMs <= (input.window as { toMs: number }).toMs,
      )
    : [];
  const windowReason = !input.window ? "no measured window (window events missing)" : null;
  const sampleReason = (what: string): string =>
    input.samples === null || all.length === 0
      ? noSamples
      : (windowReason ?? `no ${what} reading in the measured window`);

  // Integral of sampled power over the window.
  let integrated: TelemetryMetrics["integratedEnergyJoules"];
  if (input.samples === null || all.length === 0 || !input.window) {
    integrated = { ...missing(sampleReason("power")), field: null, gaps: [], coveredFraction: null };
  } else {
    const field = input.powerField ?? choosePowerField(inWindow);
    const r = integrateEnergyJoules(all, { ...input.window, field });
    integrated =
      r.energyJoules === null
        ? {
            ...missing(r.reason ?? "power could not be integrated"),
            field,
            gaps: r.gaps,
            coveredFraction: r.coveredFraction,
          }
        : { ...ok(r.energyJoules), field, gaps: r.gaps, coveredFraction: r.coveredFraction };
  }

  // Headline energy: the counter; the integral only when the counter is missing, and said so.
  let energy: TelemetryMetrics["energyJoules"];
  const counter = s?.energyJoules ?? null;
  if (!onGpu) energy = { ...missing(noGpu), source: null };
  else if (!s) energy = { ...missing(noSummary), source: null };
  else if (counter && counter.value !== null) energy = { ...ok(counter.value), source: "nvml-counter" };
  else if (integrated.value !== null) {
    energy = {
      value: integrated.value,
      reason: `counter unavailable (${counter?.reason ?? "no reason given"}); integrated sampled power`,
      source: "sampled-power-integral",
    };
  } else {
    energy = {
      ...missing(
        `counter unavailable (${counter?.reason ?? "no reason given"}); integral unavailable (${integrated.reason})`,
      ),
      source: null,
    };
  }

  const check = crossCheck(counter?.value ?? null, integrated.value);

  const perEnergy = (tokens: number | undefined, what: string): Metric => {
    if (energy.value === null) return missing(energy.reason ?? "no energy");
    if (!tokens) return missing(`no ${what} tokens in the measured window`);
    return ok(energy.value / tokens);
  };
  const averagePower: Metric =
    energy.value === null
      ? missing(energy.reason ?? "no energy")
      : s && s.measuredSeconds > 0
        ? ok(energy.value / s.measuredSeconds)
        : missing("the measured window is empty");

  // Memory: the allocator's two peaks and NVML's two, never substituted for one another.
  const fromSummary = (pick: (x: SummaryEvent) => number | null, what: string): Metric => {
    if (!s) return missing(noSummary);
    const v = pick(s);
    return v === null ? missing(onGpu ? `${what} not reported by the engine` : noGpu) : ok(v);
  };
  const withReason = (m: { value: number | null; reason: string | null } | undefined): Metric => {
    if (!s || !m) return missing(noSummary);
    return m.value === null ? missing(m.reason ?? "not reported") : ok(m.value);
  };
  const memUsed = all.map((x) => x.memoryUsedBytes).filter((v): v is number => v !== null);

  const pick = (f: (x: TelemetrySample) => number | null) =>
    inWindow.map(f).filter((v): v is number => v !== null);
  const util = pick((x) => x.utilizationGpuPercent);
  const clock = pick((x) => x.smClockHz);
  const temp = pick((x) => x.temperatureC);

  let idle: Metric;
  if (input.samples === null || all.length === 0) idle = missing(noSamples);
  else {
    const before = input.idleBeforeMs ?? input.window?.fromMs ?? null;
    if (before === null) idle = missing("no time before which the GPU was idle (no window, no warmup start)");
    else {
      const b = idleBaselineWatts(all, { beforeMs: before });
      idle = b.watts === null ? missing(b.reason ?? "no idle readings") : ok(b.watts);
    }
  }

  // The paper's method: assumed board power over real tokens/s, labelled an estimate.
  const flagWatts = input.assumedWatts ?? null;
  const catalogWatts = input.gpu?.boardPowerWatts ?? null;
  const assumedWatts = flagWatts ?? catalogWatts;
  const assumedWattsSource = flagWatts !== null ? "flag" : catalogWatts !== null ? "gpu-catalog" : null;
  let paper: Metric;
  if (assumedWatts === null) {
    paper = missing(
      input.gpu
        ? `the GPU catalog has no board power for ${input.gpu.name}; pass --assumed-watts`
        : `${input.gpuReason ?? (onGpu ? "GPU not in the catalog" : noGpu)}; pass --assumed-watts`,
    );
  } else if (tokensPerSecond.value === null || tokensPerSecond.value === 0) {
    paper = missing(tokensPerSecond.reason ?? "no real tokens in the measured window");
  } else paper = ok(assumedWatts / tokensPerSecond.value);

  // MFU / HFU over the GPU's dense peak for this precision.
  let achieved: Metric;
  if (!input.flops)
    achieved = missing(input.flopsReason ?? "FLOPs per token unknown (no model architecture)");
  else if (tokensPerSecond.value === null) achieved = missing(tokensPerSecond.reason ?? "no throughput");
  else achieved = ok(input.flops.modelFlopsPerToken * tokensPerSecond.value);
  const peak = input.gpu?.densePeakFlopsPerSecond ?? null;
  const peakReason = !onGpu
    ? noGpu
    : !input.gpu
      ? (input.gpuReason ?? "GPU not in the catalog")
      : `the GPU catalog has no dense ${input.precision} peak for ${input.gpu.name}`;
  const utilization = (flopsPerToken: number | undefined): Metric => {
    if (achieved.value === null || flopsPerToken === undefined)
      return missing(achieved.reason ?? "no achieved FLOP/s");
    if (!onGpu || peak === null || !(peak > 0)) return missing(peakReason);
    return ok((flopsPerToken * (tokensPerSecond.value as number)) / (peak * (input.gpuCount ?? 1)));
  };

  return {
    energyJoules: energy,
    integratedEnergyJoules: integrated,
    energyCrossCheck: check,
    averagePowerWatts: averagePower,
    realTokensPerSecond: tokensPerSecond,
    joulesPerRealToken: perEnergy(s?.realTokens, "real"),
    joulesPerProcessedToken: perEnergy(s?.processedTokens, "processed"),
    memory: {
      allocatorPeakAllocatedBytes: fromSummary(
        (x) => x.memory.peakAllocatedBytes,
        "allocator peak allocated",
      ),
      allocatorPeakReservedBytes: fromSummary((x) => x.memory.peakReservedBytes, "allocator peak reserved"),
      nvmlPeakProcessBytes: withReason(s?.nvmlPeakProcessBytes),
      nvmlPeakDeviceBytes: withReason(s?.nvmlPeakDeviceBytes),
      sampledPeakMemoryUsedBytes:
        memUsed.length > 0
          ? ok(memUsed.reduce((m, v) => Math.max(m, v), -Infinity))
          : missing(sampleReason("memory.used")),
    },
    meanUtilizationGpuPercent: util.length > 0 ? ok(mean(util)) : missing(sampleReason("utilization.gpu")),
    meanSmClockHz: clock.length > 0 ? ok(mean(clock)) : missing(sampleReason("clocks.sm")),
    maxTemperatureC:
      temp.length > 0
        ? ok(temp.reduce((m, v) => Math.max(m, v), -Infinity))
        : missing(sampleReason("temperature.gpu")),
    idleBaselineWatts: idle,
    paperMethodJoulesPerToken: { ...paper, estimate: true, assumedWatts, assumedWattsSource },
    achievedModelFlopsPerSecond: achieved,
    mfu: utilization(input.flops?.modelFlopsPerToken),
    hfu: utilization(input.flops?.hardwareFlopsPerToken),
  };
}

export interface CatalogFactsInput {
  /** The GPU's name as the engine or nvidia-smi reports it (e.g. `NVIDIA H200`), or null on the CPU. */
  gpuName: string | null;
  /** NVML's memory.total, to tell apart boards sold under one name. */
  totalMemoryBytes?: number | null;
  precision: Precision;
  /** The engine enabled TF32 matmuls (fp32 runs only). */
  tf32?: boolean;
  /** The model's architecture, or null when it is unknown (a local folder not in the catalog). */
  architecture: ModelArchitecture | null;
  flopsOptions: FlopsOptions;
}

/**
 * The catalog facts `computeTelemetryMetrics` takes, looked up: the GPU's board power and dense peak
 * for the run's precision (GPU catalog), FLOPs per token (src/plan/flops.ts). A miss is a reason,
 * never a throw.
 */
export function catalogFacts(
  input: CatalogFactsInput,
): Pick<TelemetryMetricsInput, "gpu" | "gpuReason" | "flops" | "flopsReason"> {
  let gpu: TelemetryMetricsInput["gpu"] = null;
  let gpuReason: string | null = null;
  if (input.gpuName === null) gpuReason = "the run used the CPU";
  else {
    const entry = findGpu(input.gpuName, input.totalMemoryBytes);
    if (!entry) gpuReason = `GPU "${input.gpuName}" is not in the GPU catalog`;
    else {
      gpu = {
        name: entry.name,
        boardPowerWatts: entry.boardPowerWatts,
        densePeakFlopsPerSecond: peakFlopsFor(entry.peakFlops, input.precision, {
          tf32: input.tf32 ?? false,
        }),
      };
    }
  }
  if (input.architecture === null) {
    return {
      gpu,
      gpuReason,
      flops: null,
      flopsReason: "FLOPs per token unknown: the model's architecture is not known",
    };
  }
  const f = flopsPerToken(input.architecture, input.flopsOptions);
  return {
    gpu,
    gpuReason,
    flops: { modelFlopsPerToken: f.modelFlopsPerToken, hardwareFlopsPerToken: f.hardwareFlopsPerToken },
    flopsReason: null,
  };
}
