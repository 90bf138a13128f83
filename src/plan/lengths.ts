/**
 * What padding does to a batch, from the dataset's record-length statistics (tokens per record,
 * template included). With `max_length` every record is padded to seqLen; with `longest` a batch is
 * padded to its longest record, so the expected padded width is the expected maximum of batchSize
 * draws from the length distribution (truncated at seqLen).
 *
 * Given the record lengths themselves, the expectations are exact order statistics of the
 * empirical distribution. Given only summaries, lengths are modelled as lognormal (instruction
 * datasets are right-skewed: Alpaca's mean is above its median) fitted to the median and p90, or
 * the median and mean, or the mean alone with DEFAULT_LENGTH_SIGMA.
 */
import type { PaddingMode } from "../protocol/index.js";
import { packedBatchTokens, packRows } from "./packing.js";
import { LoraprofError } from "../util/errors.js";
import { recordOrder, recordStream } from "./order.js";

export interface LengthStats {
  /** Mean tokens per record (prompt template and eos included), before truncation. */
  meanTokens: number;
  medianTokens?: number;
  p90Tokens?: number;
  /** The longest record; bounds the widest `longest`-padded batch (and so the memory peak). */
  maxTokens?: number;
  /** Every record's length: makes the padding expectations exact (order statistics). */
  lengths?: readonly number[];
}

/**
 * Log-space spread used when only the mean is known: 0.56 is what a lognormal through a mean of
 * 103 and a median of 88 tokens has (the Alpaca figures), a typical instruction-data skew.
 */
export const DEFAULT_LENGTH_SIGMA = 0.56;

/**
 * Stanford Alpaca's record lengths as published with the project's reference sample
 * (shared/data/alpaca/SOURCE.md: Qwen2.5 tokenizer, Alpaca prompt template + output, measured on a
 * random 9,229 of the 52,002 records): mean 103, median 88, p90 169, max 924 tokens. Those figures
 * leave out the EOS token the shard writer appends to every record (see data/synthetic.ts), so one
 * is added here. The planner falls back to these when a run names `alpaca` but the file has not
 * been downloaded; the full file's lengths may differ a little from the sample's.
 */
export const ALPACA_PUBLISHED_LENGTHS: Readonly<LengthStats> = Object.freeze({
  meanTokens: 104,
  medianTokens: 89,
  p90Tokens: 170,
  maxTokens: 925,
});

const sortedCache = new WeakMap<readonly number[], Float64Array>();

function sortedLengths(lengths: readonly number[]): Float64Array {
  let s = sortedCache.get(lengths);
  if (!s) {
    s = Float64Array.from(lengths).sort();
    sortedCache.set(lengths, s);
  }
  return s;
}

/** Inverse standard normal CDF (Acklam's rational approximation, |error| < 1.2e-9). */
export function normalQuantile(p: number): number {
  const a = [
    -39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716,
    2.506628277459239,
  ];
  const b = [
    -54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572,
  ];
  const c = [
    -0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968,
    2.938163982698783,
  ];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const pl = 0.02425;
  if (p <= 0) return -Infinity;
  if (p >= 1) return Infinity;
  if (p < pl) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (
      (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) /
      ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1)
    );
  }
  if (p > 1 - pl) {
    const q = Math.sqrt(-2 * Math.log(1 - p));
    return (
      -(((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) /
      ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1)
    );
  }
  const q = p - 0.5;
  const r = q * q;
  return (
    ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) /
    (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1)
  );
}

interface LogNormal {
  mu: number;
  sigma: number;
}

function fitLogNormal(stats: LengthStats): LogNormal {
  const { meanTokens: mean, medianTokens: median, p90Tokens: p90 } = stats;
  let sigma = DEFAULT_LENGTH_SIGMA;
  if (median !== undefined && p90 !== undefined && p90 > median) {
    sigma = Math.log(p90 / median) / normalQuantile(0.9);
  } else if (median !== undefined && mean > median) {
    sigma = Math.sqrt(2 * Math.log(mean / median));
  }
  // Keep the mean exact (it sets real tokens/s): mean = exp(mu + sigma²/2).
  return { mu: Math.log(mean) - (sigma * sigma) / 2, sigma };
}

/** Midpoint rule over (0,1): fine enough for smooth quantile functions, and fast. */
const QUAD_POINTS = 512;

function upperBound(stats: LengthStats, seqLen: number): number {
  return Math.min(seqLen, stats.maxTokens ?? Infinity);
}

/** E[min(L, seqLen)]: real (non-padding) tokens per record after truncation to seqLen. */
export function expectedTruncatedLength(stats: LengthStats, seqLen: number): number {
  if (stats.lengths && stats.lengths.length > 0) {
    const s = sortedLengths(stats.lengths);
    let sum = 0;
    for (const x of s) sum += Math.min(x, seqLen);
    return sum / s.length;
  }
  const ln = fitLogNormal(stats);
  const cap = upperBound(stats, seqLen);
  let sum = 0;
  for (let k = 0; k < QUAD_POINTS; k++) {
    const u = (k + 0.5) / QUAD_POINTS;
    sum += Math.min(cap, Math.exp(ln.mu + ln.sigma * normalQuantile(u)));
  }
  return sum / QUAD_POINTS;
}

/** E[max of `batchSize` independent records' truncated lengths]: the `longest`-padded width. */
export function expectedMaxLength(stats: LengthStats, batchSize: number, seqLen: number): number {
  if (stats.lengths && stats.lengths.length > 0) {
    const s = sortedLengths(stats.lengths);
    const n = s.length;
    // P(max = x_(k)) = (k/n)^B − ((k−1)/n)^B over the sorted sample (ties are handled by summation).
    let sum = 0;
    let prev = 0;
    for (let k = 1; k <= n; k++) {
      const cdf = Math.pow(k / n, batchSize);
      sum += Math.min(s[k - 1]!, seqLen) * (cdf - prev);
      prev = cdf;
    }
    return sum;
  }
  const ln = fitLogNormal(stats);
  const cap = upperBound(stats, seqLen);
  // E[max] = ∫₀¹ Q(v) d(v^B) = ∫₀¹ Q(u^{1/B}) du.
  let sum = 0;
  for (let k = 0; k < QUAD_POINTS; k++) {
    const u = (k + 0.5) / QUAD_POINTS;
    const v = Math.pow(u, 1 / batchSize);
    sum += Math.min(cap, Math.exp(ln.mu + ln.sigma * normalQuantile(v)));
  }
  return sum / QUAD_POINTS;
}

/** Expected padded width of a micro-batch. */
export function expectedPaddedLength(
  stats: LengthStats,
  batchSize: number,
  seqLen: number,
  padding: PaddingMode,
): number {
  return padding === "max_length" ? seqLen : expectedMaxLength(stats, batchSize, seqLen);
}

/**
 * The widest micro-batch a run meets, which sets its memory peak: seqLen under `max_length`; under
 * `longest`, the longest record it visits (truncated). A run that visits `records` records (steps ×
 * batch × accumulation) meets, in expectation, the longest of that many draws; a run that visits
 * as many as the dataset holds, or with `records` unknown, meets the longest record. Without the
 * longest record known: seqLen (the safe side).
 */
export function peakPaddedLength(
  stats: LengthStats,
  seqLen: number,
  padding: PaddingMode,
  records?: number,
): number {
  if (padding === "max_length") return seqLen;
  const hasLengths = stats.lengths !== undefined && stats.lengths.length > 0;
  const longest = hasLengths ? sortedLengths(stats.lengths!)[stats.lengths!.length - 1]! : stats.maxTokens;
  if (longest === undefined) return seqLen;
  const widest = Math.min(seqLen, longest);
  const n = hasLengths ? stats.lengths!.length : Infinity;
  if (records === undefined || records >= n) return widest;
  return Math.min(widest, expectedMaxLength(stats, records, seqLen));
}

/** How a run walks its records: the engine's order (seed), micro-batches, steps with warmup first. */
export interface RunWalk {
  seed: number;
  batchSize: number;
  gradAccum: number;
  steps: number;
  warmupSteps: number;
}

/**
 * Datasets, or runs visiting more records than this are not walked record by record at plan time:
 * the expectations stand in (and a run that long averages over its records anyway).
 */
export const MAX_WALKED_RECORDS = 200_000;

/** What a run meets, from every record's length and the engine's record order. */
export interface VisitedLengths {
  /** Records per measured micro-batch: mean truncated length and mean padded width (`longest`). */
  measuredMeanTokens: number;
  measuredMeanLongest: number;
  /** The longest record of the whole run (warmup included), truncated: the `longest` memory peak. */
  longest: number;
  /** The most real tokens one micro-batch of the run holds (warmup included): the chunked loss's rows. */
  mostRealPerMicroBatch: number;
}

const walkCache = new WeakMap<readonly number[], Map<string, VisitedLengths>>();

/**
 * The records a run visits, exactly: the engine draws numpy's `default_rng(seed).permutation` per
 * epoch (src/plan/order.ts reproduces it), takes `batchSize` records per micro-batch, `gradAccum`
 * micro-batches per step, warmup steps first. Null without every record's length, or for a dataset
 * too large to walk at plan time.
 */
export function visitedLengths(stats: LengthStats, seqLen: number, walk: RunWalk): VisitedLengths | null {
  const lengths = stats.lengths;
  if (!lengths || lengths.length === 0 || lengths.length > MAX_WALKED_RECORDS) return null;
  const perStep = walk.batchSize * walk.gradAccum;
  const measuredSteps = walk.steps - walk.warmupSteps;
  if (!(measuredSteps > 0) || !(perStep > 0) || walk.steps * perStep > MAX_WALKED_RECORDS) return null;
  const key = `${seqLen}|${walk.seed}|${walk.batchSize}|${walk.gradAccum}|${walk.steps}|${walk.warmupSteps}`;
  let memo = walkCache.get(lengths);
  const hit = memo?.get(key);
  if (hit) return hit;
  const order = recordOrder(lengths.length, walk.seed, walk.steps * perStep);
  const len = (i: number) => Math.min(lengths[order[i]!]!, seqLen);
  // One pass over the run's micro-batches: the warmup's count for the peaks, the measured ones for the means.
  const firstMeasured = walk.warmupSteps * perStep;
  let longest = 0;
  let mostRealPerMicroBatch = 0;
  let sum = 0;
  let widthSum = 0;
  let batches = 0;
  for (let i = 0; i < order.length; i += walk.batchSize) {
    let width = 0;
    let real = 0;
    for (let k = i; k < i + walk.batchSize; k++) {
      width = Math.max(width, len(k));
      real += len(k);
    }
    longest = Math.max(longest, width);
    mostRealPerMicroBatch = Math.max(mostRealPerMicroBatch, real);
    if (i < firstMeasured) continue;
    sum += real;
    widthSum += width;
    batches++;
  }
  const out = {
    measuredMeanTokens: sum / (batches * walk.batchSize),
    measuredMeanLongest: widthSum / batches,
    longest,
    mostRealPerMicroBatch,
  };
  if (!memo) {
    memo = new Map();
    walkCache.set(lengths, memo);
  }
  memo.set(key, out);
  return out;
}

/** What the planner needs of a run to know its batches' widths. */
export interface RunShape {
  lengthStats: LengthStats;
  batchSize: number;
  gradAccum: number;
  seqLen: number;
  padding: PaddingMode;
  /** Packed rows replayed as CUDA graphs: every micro-batch is padded to batchSize × seqLen. */
  cudaGraphs?: boolean;
  /** With all three, and every record's length, the run's own records are walked. */
  steps?: number;
  warmupSteps?: number;
  seed?: number;
}

/** The widths a run meets, in tokens per record. */
export interface RunWidths {
  /** Mean padded width of a measured micro-batch (sets processed tokens and compute). */
  padded: number;
  /** Mean real (non-padding) tokens per measured record. */
  real: number;
  /** The widest micro-batch of the whole run (sets the memory peak). */
  peak: number;
  /** Packed rows: the token-weighted record length attention spans (Σ len² ÷ Σ len); else absent. */
  attentionSpan?: number;
  /** The most real tokens in one micro-batch of the run, when its records are walked; else absent. */
  peakRealTokens?: number;
}

/**
 * The one place that decides a run's widths: exactly from the records it visits when they are known
 * (every length, steps, warmup and seed: `visitedLengths`), else the dataset's expectations.
 */
export function runWidths(run: RunShape): RunWidths {
  if (run.padding === "packed") return packedWidths(run);
  const { lengthStats: stats, seqLen, padding, batchSize } = run;
  const walk =
    run.steps !== undefined && run.warmupSteps !== undefined && run.seed !== undefined
      ? {
          seed: run.seed,
          batchSize,
          gradAccum: run.gradAccum,
          steps: run.steps,
          warmupSteps: run.warmupSteps,
        }
      : null;
  const visited = walk ? visitedLengths(stats, seqLen, walk) : null;
  if (visited) {
    const padded = padding === "max_length" ? seqLen : visited.measuredMeanLongest;
    return {
      padded,
      real: Math.min(padded, visited.measuredMeanTokens),
      peak: padding === "max_length" ? seqLen : visited.longest,
      peakRealTokens: visited.mostRealPerMicroBatch,
    };
  }
  const padded = expectedPaddedLength(stats, batchSize, seqLen, padding);
  return {
    padded,
    real: Math.min(padded, expectedTruncatedLength(stats, seqLen)),
    peak: peakPaddedLength(
      stats,
      seqLen,
      padding,
      run.steps !== undefined ? run.steps * batchSize * run.gradAccum : undefined,
    ),
  };
}

/**
 * Packed runs: a "record" of the padded modes is a row here, batchSize rows of up to seqLen tokens per
 * micro-batch. With every length, steps, warmup and seed known, the engine's packer is replayed on the
 * run's own records (src/plan/packing.ts): padded = processed tokens per row (rows × the fullest row's
 * width, per micro-batch), real = real tokens per row, peak = the fullest row of the run. Otherwise an
 * expectation: rows fill to seqLen less, on average, half a record (what best-fit leaves at a row's end).
 */
function packedWidths(run: RunShape): RunWidths {
  const { lengthStats: stats, seqLen, batchSize } = run;
  const lengths = stats.lengths;
  const micro =
    run.steps !== undefined && run.warmupSteps !== undefined && run.seed !== undefined
      ? run.steps * run.gradAccum
      : 0;
  if (lengths && lengths.length > 0 && micro > 0 && micro * batchSize * seqLen <= MAX_WALKED_RECORDS * 256) {
    // The recommender plans one shape under many optimizers and precisions: replay the packer once.
    const key = `${seqLen}|${run.seed}|${batchSize}|${run.gradAccum}|${run.steps}|${run.warmupSteps}|${run.cudaGraphs ? 1 : 0}`;
    let memo = packedCache.get(lengths);
    if (!memo) packedCache.set(lengths, (memo = new Map()));
    const hit = memo.get(key);
    if (hit !== undefined) return hit ?? packedExpectation(run);
    const walked = walkPacked(run, lengths, micro);
    memo.set(key, walked);
    if (walked) return walked;
  }
  return packedExpectation(run);
}

/** Packed widths replayed on a run's records (null: no measured micro-batch with tokens). */
const packedCache = new WeakMap<readonly number[], Map<string, RunWidths | null>>();

function walkPacked(run: RunShape, lengths: readonly number[], micro: number): RunWidths | null {
  const { seqLen, batchSize } = run;
  const truncated = Array.from(lengths, (x) => Math.min(x, seqLen));
  const batches = packRows(recordStream(truncated.length, run.seed!), truncated, batchSize, seqLen, micro);
  let processed = 0;
  let real = 0;
  let peak = 0;
  let peakReal = 0;
  let squares = 0;
  batches.forEach((batch, k) => {
    const t = packedBatchTokens(batch, truncated);
    peakReal = Math.max(peakReal, t.real);
    // CUDA graphs replay one static shape: every row seqLen wide, batchSize rows (empty ones too).
    const width = run.cudaGraphs ? seqLen : t.width;
    peak = Math.max(peak, width);
    if (k < run.warmupSteps! * run.gradAccum) return;
    processed += (run.cudaGraphs ? batchSize : batch.length) * width;
    real += t.real;
    for (const row of batch) for (const i of row) squares += truncated[i]! ** 2;
  });
  const measured = (batches.length - run.warmupSteps! * run.gradAccum) * batchSize;
  if (!(measured > 0 && real > 0)) return null;
  return {
    padded: processed / measured,
    real: real / measured,
    peak,
    attentionSpan: squares / real,
    peakRealTokens: peakReal,
  };
}

/** Without the records: rows fill to seqLen less, on average, half a record. */
function packedExpectation(run: RunShape): RunWidths {
  const { lengthStats: stats, seqLen } = run;
  const mean = expectedTruncatedLength(stats, seqLen);
  const fill = Math.max(0.5, 1 - mean / (2 * seqLen));
  return { padded: seqLen, real: seqLen * fill, peak: seqLen, attentionSpan: mean };
}

export function validateLengthStats(stats: LengthStats, field = "lengthStats"): void {
  const problems = [];
  if (!(stats.meanTokens > 0) || !Number.isFinite(stats.meanTokens)) {
    problems.push({
      field: `${field}.meanTokens`,
      message: `must be a positive number, got ${stats.meanTokens}`,
      hint: "pass the dataset's mean tokens per record",
    });
  }
  for (const key of ["medianTokens", "p90Tokens", "maxTokens"] as const) {
    const v = stats[key];
    if (v !== undefined && !(v > 0)) {
      problems.push({
        field: `${field}.${key}`,
        message: `must be positive when given, got ${v}`,
        hint: "omit it or pass a positive token count",
      });
    }
  }
  if (stats.lengths && stats.lengths.some((x) => !(x >= 0))) {
    problems.push({
      field: `${field}.lengths`,
      message: "holds a negative or non-numeric length",
      hint: "pass token counts per record",
    });
  }
  if (problems.length > 0) {
    throw new LoraprofError("CONFIG_INVALID", "invalid length statistics", { problems });
  }
}
