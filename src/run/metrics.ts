/**
 * Per-run metrics derived from the engine's summary: the headline figures. Rates divide tokens
 * counted over the measured window by the window's synchronized wall time.
 */
import type { SummaryEvent } from "../protocol/index.js";

/** Windows shorter than this (or with fewer steps) are reported with a warning, never silently. */
export const MIN_TRUSTED_WINDOW_SECONDS = 2;
export const MIN_TRUSTED_WINDOW_STEPS = 5;

export interface RunMetrics {
  /** Non-padding tokens per second over the measured window: the headline. */
  realTokensPerSecond: number | null;
  /** Tokens including padding per second (what a padded pipeline pushes through the GPU). */
  processedTokensPerSecond: number | null;
  /** Tokens that carry a loss term per second. */
  labelTokensPerSecond: number | null;
  secondsPer10kRealTokens: number | null;
  /** Share of processed tokens that were padding. */
  paddingFraction: number | null;
  stepSecondsMedian: number | null;
  measuredSteps: number;
  measuredSeconds: number;
  realTokens: number;
  processedTokens: number;
  labelTokens: number;
  /** Allocator peaks (torch.cuda.max_memory_allocated / reserved) over the whole run. */
  peakAllocatedBytes: number | null;
  peakReservedBytes: number | null;
  /** NVML peaks: this process, and the whole device (CUDA context and paged memory included). */
  peakProcessBytes: number | null;
  peakDeviceBytes: number | null;
  lossFirst: number | null;
  lossLast: number | null;
  /** NVML energy counter over the measured window. */
  energyJoules: number | null;
  joulesPerRealToken: number | null;
  /** Data-parallel runs: each rank's memory peaks and their maxima (tokens above are over all ranks). */
  ranks?: NonNullable<SummaryEvent["ranks"]>;
  /** Why a null figure is null, by field. */
  nullReasons: Record<string, string>;
  warnings: string[];
}

const rate = (n: number, s: number) => (s > 0 ? n / s : null);

export function metricsFromSummary(s: SummaryEvent): RunMetrics {
  const real = rate(s.realTokens, s.measuredSeconds);
  const warnings: string[] = [];
  if (s.measuredSeconds < MIN_TRUSTED_WINDOW_SECONDS || s.measuredSteps < MIN_TRUSTED_WINDOW_STEPS) {
    warnings.push(
      `the measured window is short (${s.measuredSteps} steps, ${s.measuredSeconds.toFixed(2)} s): ` +
        `rates are unreliable below ${MIN_TRUSTED_WINDOW_STEPS} steps and ${MIN_TRUSTED_WINDOW_SECONDS} s; raise --steps`,
    );
  }
  const nullReasons: Record<string, string> = {};
  if (s.nvmlPeakProcessBytes.value === null && s.nvmlPeakProcessBytes.reason)
    nullReasons["peakProcessBytes"] = s.nvmlPeakProcessBytes.reason;
  if (s.nvmlPeakDeviceBytes.value === null && s.nvmlPeakDeviceBytes.reason)
    nullReasons["peakDeviceBytes"] = s.nvmlPeakDeviceBytes.reason;
  if (s.energyJoules.value === null && s.energyJoules.reason)
    nullReasons["energyJoules"] = s.energyJoules.reason;
  if (s.memory.peakAllocatedBytes === null)
    nullReasons["peakAllocatedBytes"] = "no CUDA allocator on this device";
  const energy = s.energyJoules.value;
  return {
    realTokensPerSecond: real,
    processedTokensPerSecond: rate(s.processedTokens, s.measuredSeconds),
    labelTokensPerSecond: rate(s.labelTokens, s.measuredSeconds),
    secondsPer10kRealTokens: real ? 10_000 / real : null,
    paddingFraction: s.processedTokens > 0 ? 1 - s.realTokens / s.processedTokens : null,
    stepSecondsMedian: s.stepSecondsMedian,
    measuredSteps: s.measuredSteps,
    measuredSeconds: s.measuredSeconds,
    realTokens: s.realTokens,
    processedTokens: s.processedTokens,
    labelTokens: s.labelTokens,
    peakAllocatedBytes: s.memory.peakAllocatedBytes,
    peakReservedBytes: s.memory.peakReservedBytes,
    peakProcessBytes: s.nvmlPeakProcessBytes.value,
    peakDeviceBytes: s.nvmlPeakDeviceBytes.value,
    lossFirst: s.lossFirst,
    lossLast: s.lossLast,
    energyJoules: energy,
    joulesPerRealToken: energy !== null && s.realTokens > 0 ? energy / s.realTokens : null,
    ...(s.ranks ? { ranks: s.ranks } : {}),
    nullReasons,
    warnings,
  };
}

/**
 * Steps averaged at each end of the run for lossFirst / lossLast: the engine's loss_edges
 * (min(5, steps / 2), so the two windows never overlap); 0 when there is nothing to compare.
 */
export function lossEdgeSteps(steps: number): number {
  return Math.min(5, Math.floor(steps / 2));
}
