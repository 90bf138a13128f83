/**
 * Length statistics of a tokenized dataset, and how much compute padding would waste.
 *
 * Lengths are the full rendered records (template, BOS and EOS included) before any truncation, the
 * numbers a person compares with published dataset facts. Percentiles use the nearest-rank definition
 * (the smallest length with at least p·n records at or below it), so they are always real lengths.
 *
 * Padding waste is the padding share of processed tokens, records truncated to seqLen first:
 * - maxLengthFraction: every record padded to seqLen (padding = "max_length").
 * - longestFractionBatchB: records taken in dataset order in batches of B, each batch padded to its
 *   longest record (padding = "longest"); the last batch may be smaller. Batch 1 never pads. The engine
 *   shuffles records, so a run's waste differs a little from the dataset-order figure.
 */
import type { DatasetRecord } from "./records.js";
import { encodeRecord } from "./shard.js";
import type { TemplateName } from "./templates.js";
import type { Tokenizer } from "./tokenizer.js";

export const DEFAULT_STAT_SEQ_LENS = [512, 1024, 2048] as const;
export const PADDING_BATCH_SIZES = [1, 2, 4, 8, 16] as const;

export interface TokenLengthSummary {
  mean: number;
  median: number;
  p90: number;
  p99: number;
  max: number;
  min: number;
  total: number;
}

export interface PaddingWaste {
  seqLen: number;
  maxLengthFraction: number;
  longestFractionBatch1: number;
  longestFractionBatch2: number;
  longestFractionBatch4: number;
  longestFractionBatch8: number;
  longestFractionBatch16: number;
}

export interface DatasetStats {
  records: number;
  tokens: TokenLengthSummary;
  /** Records longer than seqLen (cut when written to a shard of that seqLen). */
  truncated: { seqLen: number; records: number; fraction: number }[];
  paddingWaste: PaddingWaste[];
}

/** Token length of every record as the shard writer would produce it, before truncation. */
export function recordTokenLengths(
  records: readonly DatasetRecord[],
  tokenizer: Tokenizer,
  template: TemplateName,
): Uint32Array {
  const out = new Uint32Array(records.length);
  records.forEach((r, i) => {
    out[i] = encodeRecord(r, tokenizer, template).ids.length;
  });
  return out;
}

export function datasetStats(opts: {
  records: readonly DatasetRecord[];
  tokenizer: Tokenizer;
  template: TemplateName;
  seqLens?: readonly number[];
}): DatasetStats {
  return lengthStats(recordTokenLengths(opts.records, opts.tokenizer, opts.template), opts.seqLens);
}

/** Nearest-rank percentile of sorted values, p in (0, 1]. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) throw new RangeError("percentile of nothing");
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(p * sorted.length)));
  return sorted[rank - 1] as number;
}

/** Statistics from record lengths alone (dataset order matters for the per-batch padding figures). */
export function lengthStats(
  lengths: ArrayLike<number>,
  seqLens: readonly number[] = DEFAULT_STAT_SEQ_LENS,
): DatasetStats {
  const n = lengths.length;
  if (n === 0) throw new RangeError("no records");
  const sorted = Float64Array.from(lengths).sort();
  let total = 0;
  for (let i = 0; i < n; i++) total += lengths[i] as number;
  return {
    records: n,
    tokens: {
      mean: total / n,
      median: percentile(sorted, 0.5),
      p90: percentile(sorted, 0.9),
      p99: percentile(sorted, 0.99),
      max: sorted[n - 1] as number,
      min: sorted[0] as number,
      total,
    },
    truncated: seqLens.map((seqLen) => {
      let count = 0;
      for (let i = 0; i < n; i++) if ((lengths[i] as number) > seqLen) count++;
      return { seqLen, records: count, fraction: count / n };
    }),
    paddingWaste: seqLens.map((seqLen) => paddingWaste(lengths, seqLen)),
  };
}

function paddingWaste(lengths: ArrayLike<number>, seqLen: number): PaddingWaste {
  const n = lengths.length;
  let real = 0;
  for (let i = 0; i < n; i++) real += Math.min(lengths[i] as number, seqLen);
  const longest = (batch: number) => {
    let processed = 0;
    for (let start = 0; start < n; start += batch) {
      const end = Math.min(n, start + batch);
      let max = 0;
      for (let i = start; i < end; i++) max = Math.max(max, Math.min(lengths[i] as number, seqLen));
      processed += max * (end - start);
    }
    return processed === 0 ? 0 : 1 - real / processed;
  };
  return {
    seqLen,
    maxLengthFraction: 1 - real / (n * seqLen),
    longestFractionBatch1: longest(1),
    longestFractionBatch2: longest(2),
    longestFractionBatch4: longest(4),
    longestFractionBatch8: longest(8),
    longestFractionBatch16: longest(16),
  };
}
