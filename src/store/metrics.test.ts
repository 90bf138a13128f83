import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { decodeMetrics, liftHeadlines } from "./metrics.js";

describe("stored metrics, decoded once", () => {
  it("loads an older run as it was stored: missing figures stay missing, unknown keys stay", () => {
    const old = { realTokensPerSecond: 27.5, someFutureFigure: { x: 1 } };
    expect(decodeMetrics(old)).toEqual(old);
    expect(decodeMetrics(null)).toBeNull();
  });

  it("reads a `{ value, reason }` pair as its value, and a value of the wrong type as null", () => {
    const m = decodeMetrics({ mfu: { value: 0.31, reason: null }, peakDeviceBytes: "8 GiB" });
    expect(m?.mfu).toBe(0.31);
    expect(m?.peakDeviceBytes).toBeNull();
  });

  it("lifts the telemetry stage's headlines with their reasons, and derives J per processed token", () => {
    const m = liftHeadlines({
      energyJoules: 200,
      processedTokens: 1000,
      nullReasons: { averagePowerWatts: "the engine said nothing" },
      telemetry: {
        mfu: { value: 0.4, reason: null },
        averagePowerWatts: { value: null, reason: "no power samples in the window" },
      },
    });
    expect(m.mfu).toBe(0.4);
    expect(m.joulesPerProcessedToken).toBe(0.2);
    expect(m.averagePowerWatts).toBeNull();
    expect(m.nullReasons?.["averagePowerWatts"]).toBe("no power samples in the window");
    expect(liftHeadlines(m)).toEqual(m);
  });

  it("keeps every figure of a run stored before telemetry headlines (the H200 fixture), adding only derived ones", () => {
    const record = JSON.parse(
      readFileSync(new URL("../../test/fixtures/h200-run-record.json", import.meta.url), "utf8"),
    ) as { metrics: Record<string, unknown> };
    const decoded = decodeMetrics(record.metrics)!;
    for (const [key, value] of Object.entries(record.metrics)) expect(decoded[key], key).toEqual(value);
    const energy = record.metrics["energyJoules"] as number;
    const processed = record.metrics["processedTokens"] as number;
    expect(decoded.joulesPerProcessedToken).toBeCloseTo(energy / processed, 12);
  });
});
