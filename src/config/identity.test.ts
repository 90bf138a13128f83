import { describe, expect, it } from "vitest";
import { configKeyOf, flattenConfig, normalizedConfig, sameShape } from "./identity.js";

describe("configuration identity", () => {
  it("a planned run's key ignores the names, not the device index", () => {
    expect(configKeyOf({ a: 1, label: "x", device: "cuda:0" })).toBe(
      configKeyOf({ label: "y", device: "cuda:0", a: 1 }),
    );
    expect(configKeyOf({ device: "cuda:0" })).not.toBe(configKeyOf({ device: "cuda:1" }));
  });

  it("a condition drops the names, the GPU index and syntheticRecords of a real dataset", () => {
    expect(
      normalizedConfig({
        label: "a",
        preset: "paper-run1",
        device: "cuda:3",
        dataset: "x.jsonl",
        syntheticRecords: 9,
      }),
    ).toEqual({ device: "cuda", dataset: "x.jsonl" });
    expect(normalizedConfig({ dataset: "synthetic", syntheticRecords: 9 })).toEqual({
      dataset: "synthetic",
      syntheticRecords: 9,
    });
  });

  it("a shape ignores the seed and the log cadence, lets auto match, compares the device by kind", () => {
    const planned = flattenConfig({
      seed: 1,
      logEverySteps: 5,
      precision: "auto",
      device: "cuda",
      batchSize: 4,
    });
    const stored = flattenConfig({
      seed: 2,
      logEverySteps: 10,
      precision: "bf16",
      device: "cuda:1",
      batchSize: 4,
    });
    expect(sameShape(planned, stored)).toBe(true);
    expect(sameShape(planned, { ...stored, batchSize: "8" })).toBe(false);
  });
});
