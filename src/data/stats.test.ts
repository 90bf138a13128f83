import { resolve } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { readDataset } from "./readers.js";
import type { DatasetRecord } from "./records.js";
import { datasetStats, lengthStats, percentile, type DatasetStats } from "./stats.js";
import { loadTokenizer } from "./tokenizer.js";

const ALPACA = resolve(import.meta.dirname, "../../../shared/data/alpaca/alpaca_random_9k.json");

describe("lengthStats", () => {
  const s = lengthStats([10, 40, 20, 30], [32]);

  it("summarizes lengths with nearest-rank percentiles", () => {
    expect(s.tokens).toEqual({ mean: 25, median: 20, p90: 40, p99: 40, max: 40, min: 10, total: 100 });
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.9)).toBe(9);
  });

  it("counts records longer than each seqLen", () => {
    expect(s.truncated).toEqual([{ seqLen: 32, records: 1, tokensCut: 8, fraction: 0.25 }]);
  });

  it("computes padding waste for max_length and for longest-in-batch in dataset order", () => {
    const w = s.paddingWaste[0]!;
    const real = 10 + 32 + 20 + 30; // the 40 is truncated to 32
    expect(w.maxLengthFraction).toBeCloseTo(1 - real / (4 * 32), 12);
    expect(w.longestFractionBatch1).toBe(0);
    // batches [10, 32] → 2×32, [20, 30] → 2×30
    expect(w.longestFractionBatch2).toBeCloseTo(1 - real / (64 + 60), 12);
    expect(w.longestFractionBatch4).toBeCloseTo(1 - real / 128, 12);
    expect(w.longestFractionBatch16).toBeCloseTo(1 - real / 128, 12);
  });
});

describe("datasetStats on the 9k Alpaca sample (shared/data/alpaca)", () => {
  let stats: DatasetStats;
  let records: DatasetRecord[];
  beforeAll(async () => {
    records = await readDataset(ALPACA);
    const qwen = await loadTokenizer({ family: "qwen2" });
    const start = performance.now();
    stats = await datasetStats({ records, tokenizer: qwen, template: "alpaca" });
    // Measured, not asserted tightly (the machine is shared): ~1–2 s on one core.
    expect(performance.now() - start).toBeLessThan(30_000);
  }, 60_000);

  it("lands within 2% of SOURCE.md's mean of 103 tokens, median and p90 close", () => {
    expect(stats.records).toBe(9229);
    expect(Math.abs(stats.tokens.mean - 103) / 103).toBeLessThan(0.02);
    expect(Math.abs(stats.tokens.median - 88) / 88).toBeLessThan(0.03);
    expect(Math.abs(stats.tokens.p90 - 169) / 169).toBeLessThan(0.03);
  });

  it("reproduces SOURCE.md's figures exactly once the EOS token we append is left out", () => {
    // SOURCE.md measured prompt + output without EOS; our records end with <|endoftext|>, one token.
    expect(Math.round(stats.tokens.mean - 1)).toBe(103);
    expect(stats.tokens.median - 1).toBe(88);
    expect(stats.tokens.p90 - 1).toBe(169);
    expect(stats.tokens.p99 - 1).toBe(305);
    expect(stats.tokens.max - 1).toBe(924);
  });

  it("finds ~80% padding at 512 tokens and ~95% at 2048, as SOURCE.md says", () => {
    const at = (seqLen: number) => stats.paddingWaste.find((w) => w.seqLen === seqLen)!;
    expect(at(512).maxLengthFraction).toBeGreaterThan(0.78);
    expect(at(512).maxLengthFraction).toBeLessThan(0.82);
    expect(at(2048).maxLengthFraction).toBeGreaterThan(0.94);
    expect(at(2048).maxLengthFraction).toBeLessThan(0.96);
    // Padding to the longest in a batch wastes less, more so for small batches.
    expect(at(512).longestFractionBatch2).toBeLessThan(at(512).longestFractionBatch16);
    expect(at(512).longestFractionBatch16).toBeLessThan(at(512).maxLengthFraction);
  });
});
