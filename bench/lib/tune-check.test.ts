import { describe, expect, it } from "vitest";
import { tuneSummary, type TunePart } from "./tune-check.js";

const result = (batchSize: number, tps: number | null, status = "completed") => ({
  settings: { recipe: "fast", batchSize },
  status,
  measuredRealTokensPerSecond: tps,
});

describe("tuneSummary", () => {
  const tune: TunePart = {
    wallSeconds: 80,
    out: { winner: result(16, 27_000), results: [result(16, 27_000), result(8, 25_000)] },
  };

  it("sets tune's pick beside the exhaustive best, with both configurations and the time ratio", () => {
    const exhaustive: TunePart = {
      wallSeconds: 400,
      out: { considered: 3, results: [result(4, 20_000), result(8, 25_000), result(16, 30_000)] },
    };
    const s = tuneSummary(tune, exhaustive);
    expect(s.exhaustiveComplete).toBe(true);
    expect(s.exhaustiveBestRealTokensPerSecond).toBe(30_000);
    expect(s.exhaustiveBestSettings).toEqual({ recipe: "fast", batchSize: 16 });
    expect(s.tuneWinnerSettings).toEqual({ recipe: "fast", batchSize: 16 });
    expect(s.withinPct).toBeCloseTo(10, 10);
    expect(s.timeRatio).toBeCloseTo(0.2, 10);
    expect(s.exhaustiveMeasured).toBe(3);
  });

  it("reads a sweep the deadline cut from its stored runs, and never calls it complete", () => {
    const cut: TunePart = {
      wallSeconds: 300,
      out: null,
      storedRuns: [result(4, 20_000), result(8, null, "cancelled")],
    };
    const s = tuneSummary(tune, cut);
    expect(s.exhaustiveComplete).toBe(false);
    expect(s.exhaustiveMeasured).toBe(1);
    expect(s.exhaustiveBestRealTokensPerSecond).toBe(20_000);
  });

  it("is not complete while a candidate is still pending, and has no ratio without a tune", () => {
    const pending: TunePart = {
      wallSeconds: 100,
      out: { results: [result(4, 20_000), result(8, null, "pending")] },
    };
    const s = tuneSummary(null, pending);
    expect(s.exhaustiveComplete).toBe(false);
    expect(s.timeRatio).toBeNull();
    expect(s.withinPct).toBeNull();
  });
});
