import { describe, expect, it } from "vitest";
import { recordStream } from "./order.js";
import { packedBatchTokens, packRows } from "./packing.js";
import { runWidths } from "./lengths.js";

// The same packing is pinned in engine/tests/test_packing.py (PINNED_PACKING), from the engine's pack_rows.
const PINNED = [
  [[142, 119, 99, 81, 162], [117], [128, 190, 155]],
  [
    [6, 43, 198, 188],
    [84, 122],
    [135, 71],
  ],
  [
    [131, 126],
    [186, 104],
    [100, 45],
  ],
  [
    [169, 98],
    [62, 152, 132],
    [24, 96, 48],
  ],
];
const lengths = Array.from({ length: 200 }, (_, i) => ((i * 37) % 61) + 3);

describe("the engine's packer, mirrored", () => {
  it("packs the engine's record order exactly as the engine's pack_rows does", () => {
    expect(packRows(recordStream(200, 3), lengths, 3, 64, 4)).toEqual(PINNED);
  });

  it("never overfills a row and fills rows nearly full", () => {
    const batches = packRows(recordStream(200, 5), lengths, 4, 256, 30);
    let real = 0;
    for (const batch of batches) {
      for (const row of batch) expect(row.reduce((s, i) => s + lengths[i]!, 0)).toBeLessThanOrEqual(256);
      real += packedBatchTokens(batch, lengths).real;
    }
    expect(real / (30 * 4 * 256)).toBeGreaterThan(0.95);
  });

  it("gives the planner packed widths from the run's own records: rows nearly full, no more than seqLen", () => {
    const w = runWidths({
      lengthStats: { meanTokens: 33, lengths },
      batchSize: 4,
      gradAccum: 1,
      seqLen: 256,
      padding: "packed",
      steps: 20,
      warmupSteps: 2,
      seed: 0,
    });
    expect(w.peak).toBeLessThanOrEqual(256);
    expect(w.real).toBeGreaterThan(0.95 * 256);
    expect(w.padded).toBeGreaterThanOrEqual(w.real);
  });

  it("falls back to an expected fill without every record's length", () => {
    const w = runWidths({
      lengthStats: { meanTokens: 100 },
      batchSize: 4,
      gradAccum: 1,
      seqLen: 1000,
      padding: "packed",
    });
    expect(w.padded).toBe(1000);
    expect(w.peak).toBe(1000);
    expect(w.real).toBeCloseTo(950, 0); // 1000 × (1 − E[truncated length] / 2000)
  });
});
