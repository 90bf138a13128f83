/**
 * Calibration: fit the planner's free constants to measured runs, and measure how far predictions
 * are from measurements. The fit minimizes the sum of squared log ratios (predicted / measured),
 * so a 10% miss on an 8 GB run weighs the same as on an 80 GB run. Memory constants are fitted to
 * the device and allocator peaks, time constants to real tokens/s; each set by coordinate descent
 * (a coarse scan of each constant's range, then a golden-section refinement) to find the basin,
 * Nelder–Mead simplex restarts to follow correlated valleys, and a last coordinate polish. The runs' constant-independent parts (parameter counts, FLOPs,
 * bytes, activation sizes) are computed once, so a fit over dozens of runs takes milliseconds.
 * A constant the data cannot inform (e.g. memory efficiency when no run is memory-bound) stays
 * where it started.
 */
import {
  DEFAULT_CONSTANTS,
  MEMORY_CONSTANTS,
  TIME_CONSTANTS,
  type Calibration,
  type CalibrationError,
  type ErrorStats,
  type PlannerConstants,
} from "./constants.js";
import { memoryPeaks, memoryComponents, type MemoryComponents } from "./memory.js";
import { realTokensPerSecondOf, throughputComponents, type ThroughputComponents } from "./throughput.js";
import type { PlanInput } from "./types.js";
import { LoraprofError } from "../util/errors.js";
import { median } from "../util/stats.js";

export interface MeasuredRun {
  input: PlanInput;
  measured: {
    /** NVML device-used peak over the run. */
    devicePeakBytes: number | null;
    /** torch.cuda.max_memory_allocated. */
    allocatorPeakBytes: number | null;
    /**
     * torch.cuda.max_memory_reserved, where the run kept it: it parts what NVML adds to the allocated peak
     * into the allocator's reserve and the memory outside the allocator (the CUDA context), which the
     * device peak alone cannot.
     */
    allocatorReservedPeakBytes?: number | null;
    realTokensPerSecond: number | null;
    /** The run failed for lack of memory (for the fit/OOM classification). */
    oom?: boolean;
  };
}

type Key = keyof PlannerConstants;

interface Range {
  lo: number;
  hi: number;
  log: boolean;
}

const MiB = 2 ** 20;
const GiB = 2 ** 30;

/** Where each constant may move during a fit. */
export const CONSTANT_RANGES: Record<Key, Range> = {
  cudaContextBytes: { lo: 50 * MiB, hi: 4 * GiB, log: true },
  allocatorFixedBytes: { lo: 1 * MiB, hi: 4 * GiB, log: true },
  allocatorFragmentation: { lo: 0, hi: 1, log: false },
  variableShapeFragmentation: { lo: 0, hi: 1.5, log: false },
  allocatorReserveBytes: { lo: 1 * MiB, hi: 4 * GiB, log: true },
  expandableFragmentation: { lo: 0, hi: 0.5, log: false },
  expandableReserveBytes: { lo: 1 * MiB, hi: 4 * GiB, log: true },
  activationScale: { lo: 0.2, hi: 5, log: true },
  lossFp32Copies: { lo: 0.5, hi: 6, log: false },
  computeEfficiency: { lo: 0.02, hi: 1, log: true },
  tokensHalfEfficiency: { lo: 1, hi: 65536, log: true },
  widthHalfEfficiency: { lo: 1, hi: 65536, log: true },
  // Floor at 20%: a kernel that streams below that is launch- or latency-bound, which the host
  // terms model. Without the floor a fit to host-bound runs (an H200 at ~0.5 s per step whatever
  // the shape) explains run-to-run noise with a bandwidth 20× below the datasheet's.
  memoryEfficiency: { lo: 0.2, hi: 1, log: true },
  cpuSecondsPerOp: { lo: 1e-7, hi: 1e-3, log: true },
  // At most 30 ms: a micro-step's own cost (batch to the device, the loss's one sync). Wider, a fit to
  // runs of one model (11,460 operations each: the H200's reference runs) split their host time freely
  // between this and the per-operation cost, 0.12 s fixed, and planned a 4,260-operation step 2.5x slow.
  microStepFixedSeconds: { lo: 1e-5, hi: 0.03, log: true },
  variableShapeHostFactor: { lo: 1, hi: 5, log: true },
  graphKernelSeconds: { lo: 1e-8, hi: 1e-4, log: true },
  boardPowerFraction: { lo: 0.1, hi: 1.5, log: false },
};

interface Prepared {
  run: MeasuredRun;
  memory: MemoryComponents;
  time: ThroughputComponents | null;
}

function prepare(runs: readonly MeasuredRun[]): Prepared[] {
  return runs.map((run) => ({
    run,
    memory: memoryComponents(run.input),
    time: run.input.gpu ? throughputComponents(run.input, run.input.gpu) : null,
  }));
}

const sq = (x: number) => x * x;
const logRatio = (pred: number, meas: number) => Math.log(pred / meas);
const usable = (v: number | null | undefined): v is number =>
  typeof v === "number" && v > 0 && Number.isFinite(v);

/**
 * An OOM run's bound sits this far above its limit: a squared hinge is flat at its edge, so a fit
 * pushed by one would stop exactly on the limit, still predicting that the run fits.
 */
const OOM_BOUND_MARGIN = 0.02;

/** The memory a run was held to: its budget, else its GPU's; null when neither is known. */
function limitBytesOf(input: PlanInput): number | null {
  return input.vramBudgetBytes ?? (input.gpu ? (input.gpu.nvmlTotalBytes ?? input.gpu.memoryBytes) : null);
}

function memoryLoss(prepared: readonly Prepared[], k: PlannerConstants): number {
  let sum = 0;
  for (const p of prepared) {
    if (p.run.measured.oom) {
      // An OOM says only that the peak passed the limit: a lower bound, penalized when violated.
      const limit = limitBytesOf(p.run.input);
      if (limit === null) continue;
      const pred = memoryPeaks(p.memory, k).devicePeakBytes;
      const bound = limit * (1 + OOM_BOUND_MARGIN);
      if (pred < bound) sum += sq(logRatio(pred, bound));
      continue;
    }
    const { devicePeakBytes, allocatorPeakBytes, allocatorReservedPeakBytes } = p.run.measured;
    if (!usable(devicePeakBytes) && !usable(allocatorPeakBytes)) continue;
    const m = memoryPeaks(p.memory, k);
    if (usable(devicePeakBytes)) sum += sq(logRatio(m.devicePeakBytes, devicePeakBytes));
    if (usable(allocatorPeakBytes)) sum += sq(logRatio(m.allocatorPeakBytes, allocatorPeakBytes));
    if (usable(allocatorReservedPeakBytes))
      sum += sq(logRatio(m.allocatorReservedPeakBytes, allocatorReservedPeakBytes));
  }
  return sum;
}

function timeLoss(prepared: readonly Prepared[], k: PlannerConstants): number {
  let sum = 0;
  for (const p of prepared) {
    const tps = p.run.measured.realTokensPerSecond;
    if (!p.time || !usable(tps)) continue;
    sum += sq(logRatio(realTokensPerSecondOf(p.time, k), tps));
  }
  return sum;
}

const toUnit = (r: Range, v: number) => (r.log ? Math.log(v) : v);
const fromUnit = (r: Range, u: number) => (r.log ? Math.exp(u) : u);

/** Coordinate descent: per constant, a coarse scan of its range then golden-section refinement. */
function descend(
  start: PlannerConstants,
  keys: readonly Key[],
  loss: (k: PlannerConstants) => number,
  maxSweeps = 60,
): PlannerConstants {
  let current = { ...start };
  let best = loss(current);
  const SCAN = 24;
  const PHI = (Math.sqrt(5) - 1) / 2;
  for (let sweep = 0; sweep < maxSweeps; sweep++) {
    const before = best;
    for (const key of keys) {
      const r = CONSTANT_RANGES[key];
      const lo = toUnit(r, r.lo);
      const hi = toUnit(r, r.hi);
      const at = (u: number) => loss({ ...current, [key]: fromUnit(r, u) });
      // Coarse scan, including the current value, to find the right basin.
      let bestU = toUnit(r, current[key]);
      let bestL = best;
      const step = (hi - lo) / SCAN;
      for (let i = 0; i <= SCAN; i++) {
        const u = lo + i * step;
        const l = at(u);
        if (l < bestL) {
          bestL = l;
          bestU = u;
        }
      }
      // Golden section in the bracket around the best point.
      let a = Math.max(lo, bestU - step);
      let b = Math.min(hi, bestU + step);
      let x1 = b - PHI * (b - a);
      let x2 = a + PHI * (b - a);
      let f1 = at(x1);
      let f2 = at(x2);
      for (let i = 0; i < 60 && b - a > 1e-12 * (1 + Math.abs(a)); i++) {
        if (f1 < f2) {
          b = x2;
          x2 = x1;
          f2 = f1;
          x1 = b - PHI * (b - a);
          f1 = at(x1);
        } else {
          a = x1;
          x1 = x2;
          f1 = f2;
          x2 = a + PHI * (b - a);
          f2 = at(x2);
        }
      }
      const candidates: [number, number][] = [
        [bestU, bestL],
        [x1, f1],
        [x2, f2],
      ];
      const [u, l] = candidates.reduce((m, c) => (c[1] < m[1] ? c : m));
      if (l < best) {
        best = l;
        current = { ...current, [key]: fromUnit(r, u) };
      }
    }
    if (before - best <= 1e-14 * (1 + before)) break;
  }
  return current;
}

/**
 * Nelder–Mead over the constants in unit coordinates (each range mapped to [0, 1], log-scaled where
 * the range is), clamped to the ranges. Coordinate descent alone crawls along the correlated
 * valleys of this problem (efficiency vs. its half-saturation size, fixed vs. per-op host time);
 * the simplex follows them.
 */
function simplex(
  start: PlannerConstants,
  keys: readonly Key[],
  loss: (k: PlannerConstants) => number,
  maxIterations = 4000,
): PlannerConstants {
  const n = keys.length;
  const toX = (k: PlannerConstants) =>
    keys.map((key) => {
      const r = CONSTANT_RANGES[key];
      return (toUnit(r, k[key]) - toUnit(r, r.lo)) / (toUnit(r, r.hi) - toUnit(r, r.lo));
    });
  const fromX = (x: number[]): PlannerConstants => {
    const k = { ...start };
    keys.forEach((key, i) => {
      const r = CONSTANT_RANGES[key];
      const lo = toUnit(r, r.lo);
      const hi = toUnit(r, r.hi);
      k[key] = fromUnit(r, lo + Math.min(1, Math.max(0, x[i]!)) * (hi - lo));
    });
    return k;
  };
  const f = (x: number[]) => loss(fromX(x));
  const x0 = toX(start);
  let pts: { x: number[]; v: number }[] = [{ x: x0, v: f(x0) }];
  for (let i = 0; i < n; i++) {
    const x = [...x0];
    x[i] = x[i]! + (x[i]! > 0.5 ? -0.05 : 0.05);
    pts.push({ x, v: f(x) });
  }
  const combine = (a: number[], b: number[], t: number) => a.map((ai, i) => ai + t * (b[i]! - ai));
  for (let it = 0; it < maxIterations; it++) {
    pts.sort((p, q) => p.v - q.v);
    const best = pts[0]!;
    const worst = pts[n]!;
    if (worst.v - best.v <= 1e-15 * (1 + Math.abs(best.v))) break;
    const centroid = new Array<number>(n).fill(0);
    for (let j = 0; j < n; j++) for (let i = 0; i < n; i++) centroid[i]! += pts[j]!.x[i]! / n;
    const reflected = combine(centroid, worst.x, -1);
    const vr = f(reflected);
    if (vr < best.v) {
      const expanded = combine(centroid, worst.x, -2);
      const ve = f(expanded);
      pts[n] = ve < vr ? { x: expanded, v: ve } : { x: reflected, v: vr };
    } else if (vr < pts[n - 1]!.v) {
      pts[n] = { x: reflected, v: vr };
    } else {
      const contracted = vr < worst.v ? combine(centroid, reflected, 0.5) : combine(centroid, worst.x, 0.5);
      const vc = f(contracted);
      if (vc < Math.min(vr, worst.v)) {
        pts[n] = { x: contracted, v: vc };
      } else {
        pts = pts.map((p, j) =>
          j === 0 ? p : { x: combine(best.x, p.x, 0.5), v: f(combine(best.x, p.x, 0.5)) },
        );
      }
    }
  }
  pts.sort((p, q) => p.v - q.v);
  const out = fromX(pts[0]!.x);
  return loss(out) < loss(start) ? out : start;
}

/**
 * How far each constant plausibly sits from its default: one standard deviation of a prior, in the
 * constant's fit coordinate (natural log for log-scaled ranges, the value itself otherwise). Wide
 * where GPUs and hosts differ by orders of magnitude (host overheads), narrow where the default
 * is physics (activation sizes, efficiencies near datasheet rates).
 */
export const PRIOR_SPREAD: Record<Key, number> = {
  cudaContextBytes: Math.log(4),
  allocatorFixedBytes: Math.log(10),
  allocatorFragmentation: 0.15,
  variableShapeFragmentation: 0.3,
  allocatorReserveBytes: Math.log(4),
  expandableFragmentation: 0.15,
  expandableReserveBytes: Math.log(4),
  activationScale: Math.log(1.5),
  lossFp32Copies: 1,
  computeEfficiency: Math.log(2),
  tokensHalfEfficiency: Math.log(4),
  widthHalfEfficiency: Math.log(4),
  memoryEfficiency: Math.log(2),
  cpuSecondsPerOp: Math.log(10),
  microStepFixedSeconds: Math.log(100),
  variableShapeHostFactor: Math.log(1.5),
  graphKernelSeconds: Math.log(10),
  boardPowerFraction: 0.3,
};

/**
 * Typical run-to-run spread of a measurement, as a log ratio: the fit is a maximum a posteriori
 * estimate, data misfit Σ log²(pred/meas) against prior Σ z² weighted by this spread squared. NVML
 * peaks repeat within ~1% (paper-run1 and its budget repeat on the H200: 4.23 vs 4.24 GiB); tokens/s
 * within 10–30% across sessions (191 vs 134 real tokens/s for paper-run1 on the same H200). So a
 * constant moves only as far as the data pay for: without the prior, a fit to host-bound runs
 * explained that noise with GPU efficiencies far below the datasheet's, and extrapolated badly.
 */
export const MEASUREMENT_SPREAD = { memory: 0.01, time: 0.1 } as const;

/** Coordinate descent to find the basin, then simplex restarts, then a coordinate polish. */
function fitConstants(
  start: PlannerConstants,
  keys: readonly Key[],
  dataLoss: (k: PlannerConstants) => number,
  measurementSpread: number,
): PlannerConstants {
  const priorWeight = sq(measurementSpread);
  const z = (key: Key, v: number) =>
    (toUnit(CONSTANT_RANGES[key], v) - toUnit(CONSTANT_RANGES[key], start[key])) / PRIOR_SPREAD[key];
  const loss = (k: PlannerConstants) =>
    dataLoss(k) + priorWeight * keys.reduce((s, key) => s + sq(z(key, k[key])), 0);
  let k = descend(start, keys, loss, 8);
  for (let restart = 0; restart < 4; restart++) {
    const before = loss(k);
    k = simplex(k, keys, loss);
    if (before - loss(k) <= 1e-14 * (1 + before)) break;
  }
  return descend(k, keys, loss, 20);
}

/** Median and largest absolute error, in percent, of relative errors ((predicted − measured) / measured). */
export function errorStats(errors: readonly number[]): ErrorStats | null {
  if (errors.length === 0) return null;
  const abs = errors.map((e) => Math.abs(e) * 100);
  return { runs: abs.length, medianAbsPct: median(abs), maxAbsPct: Math.max(...abs) };
}

export interface RunPrediction {
  predicted: {
    devicePeakBytes: number;
    allocatorPeakBytes: number;
    allocatorReservedPeakBytes: number;
    realTokensPerSecond: number | null;
    fits: boolean | null;
  };
  measured: MeasuredRun["measured"];
  /** (predicted − measured) / measured, where measured. */
  relativeError: {
    devicePeakBytes: number | null;
    allocatorPeakBytes: number | null;
    realTokensPerSecond: number | null;
  };
}

export interface Evaluation {
  perRun: RunPrediction[];
  error: CalibrationError;
  /** Share of runs with a known outcome whose fit/OOM outcome the planner predicted; null if none. */
  fitAccuracy: { runs: number; correct: number; accuracy: number } | null;
}

/**
 * Predicted vs measured for each run, with the constants given (a calibration's, or the defaults):
 * what the accuracy benchmark reports, on runs a calibration did not see.
 */
export function evaluatePredictions(
  runs: readonly MeasuredRun[],
  constants: PlannerConstants | Calibration = DEFAULT_CONSTANTS,
): Evaluation {
  const k: PlannerConstants = "constants" in constants ? constants.constants : constants;
  const perRun: RunPrediction[] = [];
  for (const p of prepare(runs)) {
    const m = memoryPeaks(p.memory, k);
    const t = p.time ? realTokensPerSecondOf(p.time, k) : null;
    const limit = limitBytesOf(p.run.input);
    const meas = p.run.measured;
    const rel = (pred: number | null, mv: number | null) =>
      pred !== null && usable(mv) ? (pred - mv) / mv : null;
    perRun.push({
      predicted: {
        devicePeakBytes: m.devicePeakBytes,
        allocatorPeakBytes: m.allocatorPeakBytes,
        allocatorReservedPeakBytes: m.allocatorReservedPeakBytes,
        realTokensPerSecond: t,
        fits: limit === null ? null : m.devicePeakBytes <= limit,
      },
      measured: meas,
      relativeError: {
        devicePeakBytes: rel(m.devicePeakBytes, meas.devicePeakBytes),
        allocatorPeakBytes: rel(m.allocatorPeakBytes, meas.allocatorPeakBytes),
        realTokensPerSecond: rel(t, meas.realTokensPerSecond),
      },
    });
  }
  return summarizePredictions(perRun);
}

/** Error statistics and fit/OOM accuracy over predictions (from one calibration or several). */
export function summarizePredictions(perRun: readonly RunPrediction[]): Evaluation {
  const pick = (key: keyof RunPrediction["relativeError"]) =>
    perRun.map((p) => p.relativeError[key]).filter((e): e is number => e !== null);
  const judged = perRun.filter((p) => p.predicted.fits !== null && p.measured.oom !== undefined);
  const correct = judged.filter((p) => p.predicted.fits === !p.measured.oom).length;
  return {
    perRun: [...perRun],
    error: {
      devicePeakBytes: errorStats(pick("devicePeakBytes")),
      allocatorPeakBytes: errorStats(pick("allocatorPeakBytes")),
      realTokensPerSecond: errorStats(pick("realTokensPerSecond")),
    },
    fitAccuracy:
      judged.length > 0 ? { runs: judged.length, correct, accuracy: correct / judged.length } : null,
  };
}

export interface CrossValidation {
  /** Predictions of every run by the calibration fitted without its group (null: nothing left to fit). */
  heldOut: Evaluation;
  /** Per run (same order as the input): its held-out prediction, null where no calibration was left. */
  predictions: (RunPrediction | null)[];
  /** Per run: the calibration that did not see it. */
  calibrations: (Calibration | null)[];
  groups: number;
}

/**
 * Held-out error: the runs are split into groups (by default one group per run: leave-one-out), each
 * group is predicted by a calibration fitted on all the other groups. Grouping runs by shape keeps
 * repeats of one configuration from vouching for each other.
 */
export function crossValidate(
  runs: readonly MeasuredRun[],
  groupOf: (run: MeasuredRun, index: number) => string = (_, i) => String(i),
  opts: CalibrateOptions = {},
): CrossValidation {
  const keys = runs.map((r, i) => groupOf(r, i));
  const groups = [...new Set(keys)];
  const calibrations: (Calibration | null)[] = runs.map(() => null);
  const perRun: (RunPrediction | null)[] = runs.map(() => null);
  for (const g of groups) {
    const train = runs.filter((_, i) => keys[i] !== g);
    const testIdx = keys.flatMap((k, i) => (k === g ? [i] : []));
    let cal: Calibration | null = null;
    try {
      cal = calibrate(train, opts);
    } catch (err) {
      if (!(err instanceof LoraprofError)) throw err;
    }
    if (!cal) continue;
    const ev = evaluatePredictions(
      testIdx.map((i) => runs[i]!),
      cal,
    );
    testIdx.forEach((i, j) => {
      calibrations[i] = cal;
      perRun[i] = ev.perRun[j]!;
    });
  }
  return {
    heldOut: summarizePredictions(perRun.filter((p): p is RunPrediction => p !== null)),
    predictions: perRun,
    calibrations,
    groups: groups.length,
  };
}

export interface CalibrateOptions {
  /** Constants to fit (default: every memory and time constant but boardPowerFraction). */
  fit?: readonly Key[];
  /** Starting values (default: DEFAULT_CONSTANTS); also the centre of the prior. */
  start?: Partial<PlannerConstants>;
  /** Run-to-run spread of the measurements (default MEASUREMENT_SPREAD); exact data: tiny values. */
  measurementSpread?: { memory: number; time: number };
}

/**
 * Fits the planner's free constants to measured runs. Runs that OOMed carry no peak or speed; they
 * enter the memory fit only as lower bounds (the predicted device peak must pass the budget or GPU
 * they failed on) and are counted apart (`oomRuns`). Throws when no run measured anything usable.
 */
export function calibrate(measured: readonly MeasuredRun[], opts: CalibrateOptions = {}): Calibration {
  const useful = measured.filter(
    (r) =>
      !r.measured.oom &&
      (usable(r.measured.devicePeakBytes) ||
        usable(r.measured.allocatorPeakBytes) ||
        usable(r.measured.realTokensPerSecond)),
  );
  if (useful.length === 0) {
    throw new LoraprofError("RUN_NOT_FOUND", "no measured run to calibrate on", {
      problems: [
        {
          field: "runs",
          message: "no completed run with a measured peak or tokens/s",
          hint: "measure some runs first (`loraprof run` on a GPU)",
        },
      ],
    });
  }
  const fitKeys = opts.fit ?? [...MEMORY_CONSTANTS, ...TIME_CONSTANTS];
  const spread = opts.measurementSpread ?? MEASUREMENT_SPREAD;
  const bounds = measured.filter((r) => r.measured.oom && limitBytesOf(r.input) !== null);
  const prepared = prepare(useful);
  const memoryPrepared = [...prepared, ...prepare(bounds)];
  let k: PlannerConstants = { ...DEFAULT_CONSTANTS, ...(opts.start ?? {}) };
  const memKeys = fitKeys.filter((x) => (MEMORY_CONSTANTS as readonly Key[]).includes(x));
  const timeKeys = fitKeys.filter((x) => !(MEMORY_CONSTANTS as readonly Key[]).includes(x));
  const hasMemory = useful.some(
    (r) => usable(r.measured.devicePeakBytes) || usable(r.measured.allocatorPeakBytes),
  );
  const hasTime = prepared.some((p) => p.time && usable(p.run.measured.realTokensPerSecond));
  if (hasMemory && memKeys.length > 0)
    k = fitConstants(k, memKeys, (c) => memoryLoss(memoryPrepared, c), spread.memory);
  if (hasTime && timeKeys.length > 0)
    k = fitConstants(k, timeKeys, (c) => timeLoss(prepared, c), spread.time);
  const moved = fitKeys.filter((key) => k[key] !== (opts.start?.[key] ?? DEFAULT_CONSTANTS[key]));
  return {
    constants: k,
    fitted: moved,
    runs: useful.length,
    oomRuns: hasMemory ? bounds.length : 0,
    error: evaluatePredictions(useful, k).error,
  };
}
