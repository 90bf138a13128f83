/**
 * Figures a stored run lacks, derived in one place from what it did store: telemetry figures that
 * need no samples (a run stored without the sampler: a sweep without it, or an older loraprof) and
 * the planner's prediction beside what was measured. Runs written with both are returned as they
 * are. The report's loader (./load.ts) reads every run through here.
 */
import { predictForRun } from "../plan/predict.js";
import type { HelloEvent, RunSpec, SummaryEvent } from "../protocol/index.js";
import { liftHeadlines, type StoredMetrics } from "../store/metrics.js";
import type { RunRecord } from "../store/runs.js";
import { computeTelemetryMetrics } from "../telemetry/metrics.js";
import { runFacts } from "../telemetry/observer.js";

/** The run's metrics with derived telemetry and the planner's prediction where it lacks them. */
export function completeMetrics(r: RunRecord): StoredMetrics | null {
  return withPrediction(r, withDerivedTelemetry(r));
}

/**
 * The planner's prediction for a measured GPU run (`plan`'s constants without a user calibration), so the report can show
 * predicted beside measured. Runs the planner cannot model (CPU, uncatalogued model or GPU) get none.
 */
function withPrediction(r: RunRecord, metrics: StoredMetrics | null): StoredMetrics | null {
  if (!metrics || metrics.predicted !== undefined) return metrics;
  let plan: ReturnType<typeof predictForRun> = null;
  try {
    plan = predictForRun(r.config as Parameters<typeof predictForRun>[0], r.environment, {
      data: (r.data ?? undefined) as { meanTokens?: number } | undefined,
    });
  } catch {
    plan = null;
  }
  if (!plan) return metrics;
  return {
    ...metrics,
    predicted: {
      peakAllocatedBytes: plan.memory.allocatorPeakBytes,
      peakDeviceBytes: plan.memory.devicePeakBytes,
      ...(plan.throughput ? { realTokensPerSecond: plan.throughput.realTokensPerSecond } : {}),
    },
  };
}

/**
 * A GPU run stored without telemetry metrics (a sweep that ran without the sampler, or an older
 * loraprof): the figures that need no samples (MFU, HFU, energy per token from the counter) are
 * derived from its RunSpec, hello and summary by the same code the telemetry stage uses; the
 * sampled ones say why they are missing.
 */
function withDerivedTelemetry(r: RunRecord): StoredMetrics | null {
  const metrics = r.metrics;
  if (!metrics || metrics.telemetry !== undefined || !r.spec || !r.summary) return metrics;
  const spec = r.spec as RunSpec;
  const hello = (r.environment ?? null) as HelloEvent | null;
  const onGpu = hello?.device?.kind === "cuda" || String(spec.device ?? "").startsWith("cuda");
  if (!onGpu) return metrics;
  const summary = r.summary as SummaryEvent;
  try {
    const telemetry = computeTelemetryMetrics({
      summary,
      samples: null,
      samplerUnavailableReason: "the run was stored without telemetry sampling",
      window: null,
      device: "cuda",
      precision: spec.train.precision,
      ...runFacts(spec, hello, summary, true),
    });
    return liftHeadlines({ ...metrics, telemetry: { ...telemetry } });
  } catch {
    return metrics; // a record from another protocol version: show what was stored
  }
}
