import { describe, expect, it } from "vitest";
import { differenceEffect, median, ratioEffect, studentTCdf, summarize, tCritical } from "./stats.js";

describe("statistics", () => {
  it("gives Student's t critical values that match the tables", () => {
    expect(tCritical(1)).toBeCloseTo(12.706, 3);
    expect(tCritical(2)).toBeCloseTo(4.3027, 4);
    expect(tCritical(10)).toBeCloseTo(2.2281, 4);
    expect(tCritical(Infinity)).toBeCloseTo(1.96, 2);
    expect(studentTCdf(0, 5)).toBeCloseTo(0.5, 10);
  });

  it("summarizes repeats as a median with the t-interval of the mean", () => {
    const s = summarize([10, 14, 12])!;
    expect(s.median).toBe(12);
    expect(s.low!).toBeCloseTo(12 - (4.3027 * 2) / Math.sqrt(3), 3);
    expect(s.high!).toBeCloseTo(12 + (4.3027 * 2) / Math.sqrt(3), 3);
  });

  it("gives no interval for a single value", () => {
    expect(summarize([5])).toMatchObject({ n: 1, median: 5, low: null, high: null });
    expect(summarize([])).toBeNull();
    expect(median([3, 1, 2, 4])).toBe(2.5);
  });

  it("computes Welch's interval for a difference of means", () => {
    const e = differenceEffect([1, 2, 3, 4], [2, 3, 4, 5, 6])!;
    expect(e.estimate).toBeCloseTo(1.5, 10);
    // se = 0.9574, Welch df = 6.98, t = 2.366
    expect(e.low!).toBeCloseTo(1.5 - 2.3655 * 0.95743, 2);
    expect(e.high!).toBeCloseTo(1.5 + 2.3655 * 0.95743, 2);
    expect(e.distinguishable).toBe(false);
  });

  it("calls a ratio whose interval contains 1 not distinguishable", () => {
    const e = ratioEffect([100, 102, 98], [101, 99, 100.5])!;
    expect(e.estimate).toBeCloseTo(1.0, 2);
    expect(e.low!).toBeLessThan(1);
    expect(e.high!).toBeGreaterThan(1);
    expect(e.distinguishable).toBe(false);
  });

  it("finds a 20% speed-up with tight repeats distinguishable", () => {
    const e = ratioEffect([100, 101, 99], [120, 121, 119])!;
    expect(e.estimate).toBeCloseTo(1.2, 2);
    expect(e.low!).toBeGreaterThan(1.15);
    expect(e.distinguishable).toBe(true);
  });

  it("has no interval with one run on a side", () => {
    const e = ratioEffect([100], [120, 121])!;
    expect(e.low).toBeNull();
    expect(e.distinguishable).toBeNull();
  });

  it("treats identical repeats as an exact difference", () => {
    const e = differenceEffect([5, 5, 5], [7, 7, 7])!;
    expect([e.low, e.high]).toEqual([2, 2]);
    expect(e.distinguishable).toBe(true);
  });
});

describe("intervals of figures that cannot be negative", () => {
  it("never print a negative lower bound for a throughput", () => {
    const s = summarize([20, 242])!;
    expect(s.low).toBe(0);
    expect(s.high).toBeGreaterThan(242);
  });

  it("keep a negative lower bound where values can be negative", () => {
    expect(summarize([-5, 20])!.low).toBeLessThan(-5);
  });
});
