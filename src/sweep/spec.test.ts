import { describe, expect, it } from "vitest";
import { LoraprofError } from "../util/errors.js";
import { canonicalJson, configKeyOf } from "../config/identity.js";
import { expandSweep, parseSweepSpec } from "./spec.js";

const problemsOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    if (err instanceof LoraprofError) return err.problems;
    throw err;
  }
  throw new Error("expected a LoraprofError");
};

const base = { model: "tiny-qwen2", weights: "random", device: "cpu", steps: 6, warmupSteps: 1 };

describe("sweep spec", () => {
  it("expands grid axes as a cartesian product times repeats", () => {
    const spec = parseSweepSpec({
      name: "g",
      base,
      grid: { batchSize: [1, 2], "optimizer.name": ["adamw_torch", "adamw_torch_fused", "adamw_8bit"] },
      repeats: 2,
    });
    const runs = expandSweep(spec);
    expect(runs).toHaveLength(12);
    expect(new Set(runs.map((r) => r.configKey)).size).toBe(6);
    expect(
      runs.filter((r) => r.config.optimizer.name === "adamw_8bit" && r.config.batchSize === 2),
    ).toHaveLength(2);
  });

  it("zips axes index by index", () => {
    const spec = parseSweepSpec({ name: "z", base, zip: { batchSize: [1, 2, 4], seqLen: [256, 128, 64] } });
    const runs = expandSweep(spec);
    expect(runs.map((r) => [r.config.batchSize, r.config.seqLen])).toEqual([
      [1, 256],
      [2, 128],
      [4, 64],
    ]);
  });

  it("rejects zipped axes of different lengths", () => {
    const problems = problemsOf(() =>
      parseSweepSpec({ name: "z", zip: { batchSize: [1, 2], seqLen: [64] } }),
    );
    expect(problems[0]?.field).toBe("zip");
    expect(problems[0]?.message).toMatch(/equal lengths/);
  });

  it("gives the same key to the same config however the spec is ordered", () => {
    const a = expandSweep(
      parseSweepSpec({ name: "a", base, grid: { batchSize: [1, 2], seqLen: [64, 128] } }),
    );
    const b = expandSweep(
      parseSweepSpec({ name: "b", base: { ...base }, grid: { seqLen: [128, 64], batchSize: [2, 1] } }),
    );
    expect(new Set(a.map((r) => r.key))).toEqual(new Set(b.map((r) => r.key)));
  });

  it("keys repeats of one config apart and keeps their config key equal", () => {
    const runs = expandSweep(parseSweepSpec({ name: "r", base, repeats: 3 }));
    expect(new Set(runs.map((r) => r.key)).size).toBe(3);
    expect(new Set(runs.map((r) => r.configKey)).size).toBe(1);
  });

  it("ignores the label and the preset tag in the config key", () => {
    expect(configKeyOf({ a: 1, label: "x" })).toBe(configKeyOf({ a: 1, label: "y", preset: "paper-run1" }));
    expect(configKeyOf({ a: 1 })).not.toBe(configKeyOf({ a: 2 }));
  });

  it("runs a config shared by two groups once, listing both groups", () => {
    const spec = parseSweepSpec({
      name: "s",
      base,
      groups: [
        { name: "optimizer", grid: { "optimizer.name": ["adamw_torch", "adamw_8bit"] } },
        { name: "batch", grid: { batchSize: [1, 2] } },
      ],
    });
    const runs = expandSweep(spec);
    expect(runs).toHaveLength(3);
    const shared = runs.find((r) => r.config.optimizer.name === "adamw_torch" && r.config.batchSize === 1);
    expect(shared?.groups).toEqual(["optimizer", "batch"]);
  });

  it("validates every expanded config and reports every problem with the runs it occurs in", () => {
    const spec = parseSweepSpec({
      name: "bad",
      base,
      grid: { "optimizer.name": ["adamw_torch", "sgd"], batchSize: [1, 0], bogusField: [1] },
    });
    const problems = problemsOf(() => expandSweep(spec));
    const fields = problems.map((p) => p.field);
    expect(fields).toContain("grid.bogusField");
    expect(fields).toContain("optimizer.name");
    expect(fields).toContain("batchSize");
    const opt = problems.find((p) => p.field === "optimizer.name")!;
    expect(opt.message).toMatch(/in \d+ runs?: .*optimizer\.name=sgd/);
  });

  it("applies overrides after the spec, and they change the key", () => {
    const spec = parseSweepSpec({ name: "o", base });
    const [a] = expandSweep(spec);
    const [b] = expandSweep(spec, { overrides: { steps: 8 } });
    expect(b!.config.steps).toBe(8);
    expect(a!.key).not.toBe(b!.key);
  });

  it("applies the sweep's vramBudget to runs that do not set one", () => {
    const spec = parseSweepSpec({ name: "v", base, vramBudget: "8GiB", runs: [{}, { vramBudget: "4GiB" }] });
    expect(expandSweep(spec).map((r) => r.config.vramBudget)).toEqual(["8GiB", "4GiB"]);
  });

  it("rejects unknown spec settings and points at base", () => {
    const problems = problemsOf(() => parseSweepSpec({ name: "u", steps: 5 }));
    expect(problems[0]?.field).toBe("steps");
    expect(problems[0]?.hint).toMatch(/base/);
  });

  it("rejects top-level axes next to groups", () => {
    const problems = problemsOf(() =>
      parseSweepSpec({ name: "u", grid: { seqLen: [64] }, groups: [{ name: "a" }] }),
    );
    expect(problems.map((p) => p.field)).toContain("grid");
  });

  it("labels runs with the group, the axis values and the repeat", () => {
    const runs = expandSweep(
      parseSweepSpec({
        name: "lab",
        base,
        groups: [{ name: "opt", grid: { "optimizer.name": ["adamw_8bit"] } }],
        repeats: 2,
      }),
    );
    expect(runs.map((r) => r.label)).toEqual([
      "lab/opt optimizer.name=adamw_8bit #1",
      "lab/opt optimizer.name=adamw_8bit #2",
    ]);
    expect(runs[0]!.config.label).toBe(runs[0]!.label);
  });

  it("writes canonical JSON with sorted keys", () => {
    expect(canonicalJson({ b: 1, a: { d: [2, 1], c: null } })).toBe('{"a":{"c":null,"d":[2,1]},"b":1}');
  });
});

describe("examples/sweep.yaml", () => {
  it("is a valid sweep spec whose every run is a valid config", async () => {
    const { readSweepSpec, expandSweep } = await import("./spec.js");
    const spec = readSweepSpec(new URL("../../examples/sweep.yaml", import.meta.url).pathname);
    const runs = expandSweep(spec);
    // 3 optimizers + 3 batch sizes, one configuration shared (adamw_torch at batch 1), × 3 repeats.
    expect(runs.length).toBe(15);
    expect(runs.every((r) => r.config.method === "qlora")).toBe(true);
  });
});
