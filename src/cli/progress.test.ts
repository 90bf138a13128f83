import { describe, expect, it } from "vitest";
import { etaEstimator } from "./progress.js";

describe("the run's ETA", () => {
  it("counts down smoothly while steps arrive in bursts at the engine's flushes", () => {
    let now = 0;
    const eta = etaEstimator(() => now);
    const seen: number[] = [];
    // 40 steps of 1 s each, delivered 10 at a time every 10 s (--log-every 10); sampled every second.
    for (let t = 0; t <= 40; t++) {
      now = t * 1000;
      if (t > 0 && t % 10 === 0) for (let s = t - 9; s <= t; s++) eta.step(s, 40, 1);
      const v = eta.seconds();
      if (v !== null) seen.push(v);
    }
    expect(seen[0]).toBe(30);
    expect(seen.at(-1)).toBe(0);
    // Never a jump: each second takes about one second off, and the ETA never rises.
    for (let i = 1; i < seen.length; i++) {
      expect(seen[i]!).toBeLessThanOrEqual(seen[i - 1]!);
      expect(seen[i - 1]! - seen[i]!).toBeLessThanOrEqual(1.0001);
    }
  });

  it("has no ETA before the engine reported a step time", () => {
    const eta = etaEstimator(() => 0);
    eta.step(1, 10, null);
    expect(eta.seconds()).toBeNull();
  });
});
