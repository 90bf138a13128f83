/**
 * Runs as measurements for the planner: which GPU a stored run ran on, and what it measured (device
 * and allocator peaks, real tokens/s) or whether it ran out of memory. Shared by
 * `loraprof plan calibrate` (runs from the store) and the accuracy benchmark (runs from JSON files,
 * which have the same shape as `loraprof run --json`).
 */
import { findGpu, type GpuEntry } from "../catalog/gpus.js";
import type { StoredMetrics } from "../store/metrics.js";
import type { MeasuredRun } from "./calibrate.js";
import type { PlanInput } from "./types.js";

/** The parts of a stored run (store/runs.ts RunRecord, or `run --json`) the planner reads. */
export interface RunLike {
  id?: string;
  status: string;
  config: unknown;
  /** The figures the planner reads (a stored run's decoded metrics, or a `run --json` file's). */
  metrics?: Partial<
    Pick<
      StoredMetrics,
      "measuredSteps" | "peakDeviceBytes" | "peakAllocatedBytes" | "peakReservedBytes" | "realTokensPerSecond"
    >
  > | null;
  environment?: unknown;
  error?: { kind?: string } | null;
}

interface DeviceFacts {
  kind?: string;
  name?: string;
  totalMemoryBytes?: number | null;
}

/** The GPU a run ran on, as the engine's hello event recorded it (null for CPU runs or unknown). */
export function runDevice(
  run: Pick<RunLike, "environment">,
): { name: string; totalMemoryBytes: number | null } | null {
  const env = run.environment as { device?: DeviceFacts } | null | undefined;
  const d = env?.device;
  if (!d || d.kind !== "cuda" || typeof d.name !== "string") return null;
  return {
    name: d.name,
    totalMemoryBytes: typeof d.totalMemoryBytes === "number" ? d.totalMemoryBytes : null,
  };
}

/** The catalog entry of the GPU a run ran on, or null when it was a CPU run or an uncatalogued card. */
export function runGpu(run: Pick<RunLike, "environment">): GpuEntry | null {
  const d = runDevice(run);
  return d ? (findGpu(d.name, d.totalMemoryBytes) ?? null) : null;
}

/** Fewest measured steps whose tokens/s a calibration or an accuracy check uses. */
export const MIN_MEASURED_STEPS_FOR_SPEED = 10;

const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) && v > 0 ? v : null);

/**
 * What a run measured, for a fit or an accuracy check: a completed run's peaks and real tokens/s,
 * or an OOM. Null for runs that tell nothing about memory or speed (failed for other reasons,
 * cancelled, still running).
 */
export function measuredFromRun(run: RunLike): MeasuredRun["measured"] | null {
  const oom = run.status === "oom" || run.error?.kind === "oom";
  if (oom) return { devicePeakBytes: null, allocatorPeakBytes: null, realTokensPerSecond: null, oom: true };
  if (run.status !== "completed") return null;
  const m = run.metrics ?? {};
  const steps = num(m.measuredSteps);
  return {
    devicePeakBytes: num(m.peakDeviceBytes),
    allocatorPeakBytes: num(m.peakAllocatedBytes),
    allocatorReservedPeakBytes: num(m.peakReservedBytes),
    // A handful of steps is no steady state (first-call costs, one slow step weighs a third): such a
    // run's memory counts, its speed does not.
    realTokensPerSecond:
      steps !== null && steps < MIN_MEASURED_STEPS_FOR_SPEED ? null : num(m.realTokensPerSecond),
    oom: false,
  };
}

export function measuredRun(run: RunLike, input: PlanInput): MeasuredRun | null {
  const measured = measuredFromRun(run);
  return measured ? { input, measured } : null;
}
