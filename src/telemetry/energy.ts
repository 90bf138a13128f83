/**
 * Energy from sampled power: the trapezoidal integral over a window, clipped at the window's edges
 * (the power at an edge is interpolated between the samples around it), with every stretch longer
 * than `maxGapMs` between samples reported. Such a gap is still bridged by a straight line (the best
 * guess there is), but the result says where and how long, so a reader can tell a measured joule
 * from an interpolated one.
 *
 * This is the cross-check. The headline energy is NVML's cumulative counter read by the engine at
 * the window's boundaries; `crossCheck` flags the two when they differ by more than 10%.
 */
import { median } from "../util/stats.js";
import type { TelemetrySample } from "./parse.js";

/** Which power reading to integrate: `power.draw` (a 1 s trailing average on recent drivers) or the instant one. */
export type PowerField = "powerWatts" | "powerInstantWatts";

export interface PowerGap {
  gpuIndex: number;
  /** The part of the window the gap covers. */
  fromMs: number;
  toMs: number;
  /** Distance between the samples either side (the span interpolated over), ≥ the clipped part. */
  spanMs: number;
}

export interface GpuEnergy {
  gpuIndex: number;
  energyJoules: number | null;
  samplesInWindow: number;
  reason: string | null;
}

export interface EnergyIntegral {
  /** Sum over the GPUs; null when any GPU's integral could not be formed (see reason). */
  energyJoules: number | null;
  averagePowerWatts: number | null;
  durationSeconds: number;
  field: PowerField;
  perGpu: GpuEnergy[];
  /** Stretches longer than maxGapMs without a sample, window edges included. */
  gaps: PowerGap[];
  /** Share of the window (worst GPU) not inside a reported gap. */
  coveredFraction: number;
  reason: string | null;
}

export interface IntegrateOptions {
  fromMs: number;
  toMs: number;
  /** Default: `choosePowerField(samples)`. */
  field?: PowerField;
  /** Spacing between samples above which a stretch is reported as a gap; default 1000 ms. */
  maxGapMs?: number;
  /** Only this GPU; default every GPU in the samples, summed. */
  gpuIndex?: number;
  /** Fewest samples a GPU needs inside the window to trust its integral; default 2. */
  minSamplesInWindow?: number;
}

/**
 * The instant reading when (nearly) every sample has one, else `power.draw`. A trapezoid assumes
 * point readings; power.draw on R530+ drivers is a 1 s trailing average, which lags the load by about
 * half a second at each edge. Measured on an H200 (driver 580.159.04, bf16 matmul load, 100 ms
 * sampling) against NVML's energy counter: 10 s steady, power.draw −0.2% and instant −0.3%; 10 s of
 * 300 ms bursts, +2.6% and +1.4%; a 2 s steady window, −7.7% and −1.4%.
 */
export function choosePowerField(samples: readonly TelemetrySample[]): PowerField {
  if (samples.length === 0) return "powerWatts";
  const instant = samples.filter((s) => s.powerInstantWatts !== null).length;
  return instant >= 0.9 * samples.length ? "powerInstantWatts" : "powerWatts";
}

function byGpu(samples: readonly TelemetrySample[]): Map<number, TelemetrySample[]> {
  const out = new Map<number, TelemetrySample[]>();
  for (const s of samples) {
    const list = out.get(s.gpuIndex);
    if (list) list.push(s);
    else out.set(s.gpuIndex, [s]);
  }
  return out;
}

/** Integrates sampled power over [fromMs, toMs] per GPU and sums; see the file's comment. */
export function integrateEnergyJoules(
  samples: readonly TelemetrySample[],
  opts: IntegrateOptions,
): EnergyIntegral {
  const { fromMs, toMs } = opts;
  const field = opts.field ?? choosePowerField(samples);
  const maxGapMs = opts.maxGapMs ?? 1000;
  const minInside = opts.minSamplesInWindow ?? 2;
  const durationSeconds = Math.max(0, (toMs - fromMs) / 1000);
  const empty = (reason: string): EnergyIntegral => ({
    energyJoules: null,
    averagePowerWatts: null,
    durationSeconds,
    field,
    perGpu: [],
    gaps: [],
    coveredFraction: 0,
    reason,
  });
  if (!Number.isFinite(fromMs) || !Number.isFinite(toMs) || !(toMs > fromMs)) {
    return empty(`the window is empty or not finite (from ${fromMs} to ${toMs} ms)`);
  }
  const groups = byGpu(samples);
  if (opts.gpuIndex !== undefined) {
    for (const g of [...groups.keys()]) if (g !== opts.gpuIndex) groups.delete(g);
    if (!groups.has(opts.gpuIndex)) groups.set(opts.gpuIndex, []);
  }
  if (groups.size === 0) return empty("no samples");

  const perGpu: GpuEnergy[] = [];
  const gaps: PowerGap[] = [];
  let worstCovered = 1;
  for (const [gpuIndex, list] of [...groups].sort((a, b) => a[0] - b[0])) {
    const pts = list
      .filter((s) => s[field] !== null && Number.isFinite(s.tMs))
      .map((s) => ({ t: s.tMs, w: s[field] as number }))
      .sort((a, b) => a.t - b.t);
    const inside = pts.filter((p) => p.t >= fromMs && p.t <= toMs);
    if (inside.length < minInside) {
      perGpu.push({
        gpuIndex,
        energyJoules: null,
        samplesInWindow: inside.length,
        reason: `GPU ${gpuIndex}: ${inside.length} ${field} reading(s) inside the window, fewer than the ${minInside} needed`,
      });
      worstCovered = 0;
      continue;
    }
    const before = pts.filter((p) => p.t < fromMs).at(-1);
    const after = pts.find((p) => p.t > toMs);
    const at = (t: number, a: { t: number; w: number } | undefined, b: { t: number; w: number }): number => {
      // Interpolate between the samples around an edge; hold the nearest value when only one side exists.
      if (!a || b.t === a.t) return b.w;
      return a.w + ((b.w - a.w) * (t - a.t)) / (b.t - a.t);
    };
    const first = inside[0] as { t: number; w: number };
    const last = inside[inside.length - 1] as { t: number; w: number };
    const nodes = [
      { t: fromMs, w: at(fromMs, before, first) },
      ...inside,
      { t: toMs, w: after ? at(toMs, last, after) : last.w },
    ];
    let joules = 0;
    for (let i = 1; i < nodes.length; i++) {
      const a = nodes[i - 1] as { t: number; w: number };
      const b = nodes[i] as { t: number; w: number };
      joules += ((b.t - a.t) / 1000) * ((a.w + b.w) / 2);
    }

    // Gaps: spacing between consecutive real samples (an edge with no sample beyond it counts from the edge).
    const real = [before ?? { t: fromMs, w: 0 }, ...inside, after ?? { t: toMs, w: 0 }];
    let gapMs = 0;
    for (let i = 1; i < real.length; i++) {
      const a = (real[i - 1] as { t: number }).t;
      const b = (real[i] as { t: number }).t;
      if (b - a > maxGapMs) {
        const g = { gpuIndex, fromMs: Math.max(a, fromMs), toMs: Math.min(b, toMs), spanMs: b - a };
        if (g.toMs > g.fromMs) {
          gaps.push(g);
          gapMs += g.toMs - g.fromMs;
        }
      }
    }
    worstCovered = Math.min(worstCovered, 1 - gapMs / (toMs - fromMs));
    perGpu.push({ gpuIndex, energyJoules: joules, samplesInWindow: inside.length, reason: null });
  }

  const missing = perGpu.filter((g) => g.energyJoules === null);
  const energyJoules =
    missing.length > 0 ? null : perGpu.reduce((sum, g) => sum + (g.energyJoules as number), 0);
  return {
    energyJoules,
    averagePowerWatts: energyJoules === null ? null : energyJoules / durationSeconds,
    durationSeconds,
    field,
    perGpu,
    gaps,
    coveredFraction: Math.max(0, worstCovered),
    reason: missing.length > 0 ? missing.map((g) => g.reason).join("; ") : null,
  };
}

export interface CrossCheck {
  /** (integrated − counter) / counter; null when either figure is missing. */
  relativeDifference: number | null;
  /** |relativeDifference| above the threshold (10% by default). */
  flagged: boolean;
  threshold: number;
  reason: string | null;
}

/** Compares the counter's energy with the integral of sampled power over the same window. */
export function crossCheck(
  counterJoules: number | null,
  integratedJoules: number | null,
  threshold = 0.1,
): CrossCheck {
  if (counterJoules === null) {
    return {
      relativeDifference: null,
      flagged: false,
      threshold,
      reason: "no energy counter reading to compare",
    };
  }
  if (integratedJoules === null) {
    return { relativeDifference: null, flagged: false, threshold, reason: "no integrated power to compare" };
  }
  if (!(counterJoules > 0)) {
    return {
      relativeDifference: null,
      flagged: false,
      threshold,
      reason: `the counter reads ${counterJoules} J`,
    };
  }
  const relativeDifference = (integratedJoules - counterJoules) / counterJoules;
  return { relativeDifference, flagged: Math.abs(relativeDifference) > threshold, threshold, reason: null };
}

export interface IdleBaseline {
  /** Median power over the lookback, summed over GPUs; null without enough samples. */
  watts: number | null;
  perGpu: { gpuIndex: number; watts: number; samples: number }[];
  field: PowerField;
  reason: string | null;
}

export interface IdleBaselineOptions {
  /** The baseline is taken from samples strictly before this time (warmup start or window start). */
  beforeMs: number;
  /** How far back to look; default 10000 ms. */
  lookbackMs?: number;
  /** Default `powerWatts`: idle power is steady, and the 1 s average is the quieter reading of it. */
  field?: PowerField;
  /** Fewest samples per GPU; default 5. */
  minSamples?: number;
}

/**
 * Idle power before the work starts: the median (robust to the first ramp of the run) of each GPU's
 * readings in the lookback, summed. The caller passes samples it knows were idle (tagSamples' idle).
 */
export function idleBaselineWatts(
  samples: readonly TelemetrySample[],
  opts: IdleBaselineOptions,
): IdleBaseline {
  const field = opts.field ?? "powerWatts";
  const lookbackMs = opts.lookbackMs ?? 10_000;
  const minSamples = opts.minSamples ?? 5;
  const perGpu: IdleBaseline["perGpu"] = [];
  const short: string[] = [];
  for (const [gpuIndex, list] of [...byGpu(samples)].sort((a, b) => a[0] - b[0])) {
    const w = list
      .filter((s) => s.tMs < opts.beforeMs && s.tMs >= opts.beforeMs - lookbackMs && s[field] !== null)
      .map((s) => s[field] as number);
    if (w.length < minSamples)
      short.push(`GPU ${gpuIndex}: ${w.length} idle reading(s), ${minSamples} needed`);
    else perGpu.push({ gpuIndex, watts: median(w), samples: w.length });
  }
  if (perGpu.length === 0 && short.length === 0) {
    return { watts: null, perGpu, field, reason: "no samples before the window" };
  }
  if (short.length > 0) return { watts: null, perGpu, field, reason: short.join("; ") };
  return { watts: perGpu.reduce((s, g) => s + g.watts, 0), perGpu, field, reason: null };
}
