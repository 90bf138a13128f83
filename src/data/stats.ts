/**
 * Length statistics of a tokenized dataset, and how much compute padding would waste.
 *
 * Lengths are the full rendered records (template, BOS and EOS included) before any truncation, the
 * numbers a person compares with published dataset facts. Percentiles use the nearest-rank definition
 * (the smallest length with at least p·n records at or below it), so they are always real lengths.
 *
 * Truncation: records longer than each seqLen and the tokens cut off them.
 * Packing: the share of rows filled when records are packed into rows of seqLen (packing.ts).
 * Per-role tokens and target tokens come with `datasetStats` (encode.ts attributes each token to
 * the message role whose text it encodes; template markup and BOS count as `template`).
 *
 * Padding waste is the padding share of processed tokens, records truncated to seqLen first:
 * - maxLengthFraction: every record padded to seqLen (padding = "max_length").
 * - longestFractionBatchB: records taken in dataset order in batches of B, each batch padded to its
 *   longest record (padding = "longest"); the last batch may be smaller. Batch 1 never pads. The engine
 *   shuffles records, so a run's waste differs a little from the dataset-order figure.
 */
import { encodeAll, type EncodedBatch, type TokenRole } from "./encode.js";
import { packingEfficiency, type PackingSummary } from "./packing.js";
import type { DatasetRecord } from "./records.js";
import { templateFromSpec, type Template } from "./templates.js";
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
  /** Records longer than seqLen (cut when written to a shard of that seqLen), and the tokens cut. */
  truncated: { seqLen: number; records: number; fraction: number; tokensCut: number }[];
  paddingWaste: PaddingWaste[];
  /** Rows filled when packing into rows of seqLen (`--packing`). */
  packing: PackingSummary[];
}

export interface DatasetTokenStats extends DatasetStats {
  /** Tokens the template marks as targets (what `--mask-prompt` trains on), before truncation. */
  targetTokens: number;
  /** Tokens per role, before truncation. */
  roleTokens: Record<TokenRole, number>;
}

/** Token length of every record as the shard writer would produce it, before truncation. */
export function recordTokenLengths(
  records: readonly DatasetRecord[],
  tokenizer: Tokenizer,
  template: Template | "alpaca" | "chatml" | "raw",
): Promise<Uint32Array> {
  const t = typeof template === "string" ? templateFromSpec({ kind: template }) : template;
  return encodeAll(records, tokenizer, t, { withRoles: false }).then((b) => b.lengths);
}

/** Statistics of an encoded batch (encode.ts, encodeAll with roles). */
export function batchStats(batch: EncodedBatch, seqLens?: readonly number[]): DatasetTokenStats {
  let targetTokens = 0;
  for (let i = 0; i < batch.targets.length; i++) targetTokens += batch.targets[i] as number;
  if (!batch.roleTokens) throw new RangeError("batchStats needs role counts (encodeAll withRoles)");
  return { ...lengthStats(batch.lengths, seqLens), targetTokens, roleTokens: batch.roleTokens };
}

export async function datasetStats(opts: {
  records: readonly DatasetRecord[];
  tokenizer: Tokenizer;
  template: Template | "alpaca" | "chatml" | "raw";
  seqLens?: readonly number[];
  onProgress?: (done: number, total: number) => void;
}): Promise<DatasetTokenStats> {
  const t = typeof opts.template === "string" ? templateFromSpec({ kind: opts.template }) : opts.template;
  const batch = await encodeAll(opts.records, opts.tokenizer, t, {
    withRoles: true,
    onProgress: opts.onProgress,
  });
  return batchStats(batch, opts.seqLens);
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
      let cut = 0;
      for (let i = 0; i < n; i++) {
        const l = lengths[i] as number;
        if (l > seqLen) {
          count++;
          cut += l - seqLen;
        }
      }
      return { seqLen, records: count, fraction: count / n, tokensCut: cut };
    }),
    paddingWaste: seqLens.map((seqLen) => paddingWaste(lengths, seqLen)),
    packing: seqLens.map((seqLen) => packingEfficiency(lengths, seqLen)),
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
