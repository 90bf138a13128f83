import { describe, expect, it } from "vitest";
import { LoraprofError } from "../util/errors.js";
import {
  expectedMaxLength,
  expectedPaddedLength,
  expectedTruncatedLength,
  normalQuantile,
  peakPaddedLength,
  validateLengthStats,
  visitedLengths,
} from "./lengths.js";
import { ALPACA_LIKE } from "./testing.js";

describe("length statistics", () => {
  it("takes the exact expected maximum of a batch from the record lengths", () => {
    // E[max of 2 draws from {1,2,3,4}] = Σ x·((k/4)² − ((k−1)/4)²) = 50/16
    expect(expectedMaxLength({ meanTokens: 2.5, lengths: [4, 2, 1, 3] }, 2, 100)).toBeCloseTo(3.125, 12);
    expect(expectedMaxLength({ meanTokens: 2.5, lengths: [4, 2, 1, 3] }, 1, 100)).toBeCloseTo(2.5, 12);
  });

  it("truncates records to seqLen before taking maxima and means", () => {
    const s = { meanTokens: 2.5, lengths: [1, 2, 3, 4] };
    expect(expectedTruncatedLength(s, 2)).toBeCloseTo((1 + 2 + 2 + 2) / 4, 12);
    expect(expectedMaxLength(s, 8, 2)).toBeLessThanOrEqual(2);
  });

  it("keeps the mean of a lognormal fitted to summary statistics", () => {
    expect(expectedTruncatedLength({ meanTokens: 103, medianTokens: 88 }, 1e9) / 103).toBeCloseTo(1, 2);
  });

  it("widens the expected longest-padded batch with the batch size, up to the longest record", () => {
    const widths = [1, 2, 4, 8, 16, 64].map((b) => expectedMaxLength(ALPACA_LIKE, b, 2048));
    for (let i = 1; i < widths.length; i++) expect(widths[i]!).toBeGreaterThan(widths[i - 1]!);
    expect(widths[0]!).toBeCloseTo(103, -1);
    expect(widths[widths.length - 1]!).toBeLessThanOrEqual(924);
  });

  it("pads every record to seqLen under max_length", () => {
    expect(expectedPaddedLength(ALPACA_LIKE, 4, 512, "max_length")).toBe(512);
    expect(peakPaddedLength(ALPACA_LIKE, 512, "max_length")).toBe(512);
  });

  it("sets the memory peak at the longest record under longest, or seqLen when it is unknown", () => {
    expect(peakPaddedLength(ALPACA_LIKE, 2048, "longest")).toBe(924);
    expect(peakPaddedLength(ALPACA_LIKE, 512, "longest")).toBe(512);
    expect(peakPaddedLength({ meanTokens: 103 }, 2048, "longest")).toBe(2048);
  });

  it("inverts the normal CDF", () => {
    expect(normalQuantile(0.5)).toBeCloseTo(0, 9);
    expect(normalQuantile(0.9)).toBeCloseTo(1.2815516, 6);
    expect(normalQuantile(0.001)).toBeCloseTo(-3.0902323, 6);
  });

  it("rejects a non-positive mean, naming the field", () => {
    try {
      validateLengthStats({ meanTokens: 0, maxTokens: -1 });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(LoraprofError);
      expect((err as LoraprofError).problems.map((p) => p.field)).toEqual([
        "lengthStats.meanTokens",
        "lengthStats.maxTokens",
      ]);
    }
  });
});

describe("peakPaddedLength", () => {
  // 99 short records and one long one.
  const stats = { meanTokens: 108, lengths: [...Array.from({ length: 99 }, () => 100), 900] };

  it("is the longest record a run meets: of all records when it visits them all or the count is unknown", () => {
    expect(peakPaddedLength(stats, 2048, "longest")).toBe(900);
    expect(peakPaddedLength(stats, 2048, "longest", 100)).toBe(900);
    expect(peakPaddedLength(stats, 512, "longest")).toBe(512);
    expect(peakPaddedLength(stats, 2048, "max_length", 2)).toBe(2048);
  });

  it("is the expected longest of the records a short run visits", () => {
    // E[max of 2 draws] = 100 + 800 · P(the long record is drawn at least once) = 100 + 800 · (1 − 0.99²).
    expect(peakPaddedLength(stats, 2048, "longest", 2)).toBeCloseTo(100 + 800 * (1 - 0.99 ** 2), 6);
    expect(peakPaddedLength(stats, 2048, "longest", 20)).toBeGreaterThan(
      peakPaddedLength(stats, 2048, "longest", 2),
    );
  });

  it("stays at seqLen when the longest record is not known", () => {
    expect(peakPaddedLength({ meanTokens: 108 }, 2048, "longest", 10)).toBe(2048);
  });
});

describe("visitedLengths", () => {
  // Record i is i+1 tokens long; numpy's default_rng(0).permutation(20) starts 4, 19, 6, 2, 13, 16.
  const stats = { meanTokens: 10.5, lengths: Array.from({ length: 20 }, (_, i) => i + 1) };
  const walk = { seed: 0, batchSize: 2, gradAccum: 1, steps: 3, warmupSteps: 1 };

  it("walks the engine's record order: warmup first, then the measured micro-batches", () => {
    // Warmup: records 4, 19 (5 and 20 tokens); measured: (6, 2) → 7, 3 and (13, 16) → 14, 17.
    expect(visitedLengths(stats, 2048, walk)).toEqual({
      measuredMeanTokens: (7 + 3 + 14 + 17) / 4,
      measuredMeanLongest: (7 + 17) / 2,
      longest: 20,
      mostRealPerMicroBatch: 14 + 17, // warmup's 5 + 20 = 25 is less
    });
  });

  it("truncates at seqLen", () => {
    expect(visitedLengths(stats, 15, walk)).toEqual({
      measuredMeanTokens: (7 + 3 + 14 + 15) / 4,
      measuredMeanLongest: (7 + 15) / 2,
      longest: 15,
      mostRealPerMicroBatch: 14 + 15,
    });
  });

  it("needs every record's length", () => {
    expect(visitedLengths({ meanTokens: 10.5, maxTokens: 20 }, 2048, walk)).toBeNull();
  });
});
