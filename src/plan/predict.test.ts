import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadRunConfig } from "../config/load.js";
import { LoraprofError } from "../util/errors.js";
import { evaluatePredictions } from "./calibrate.js";
import { calibrationsPath, loadCalibration, saveCalibration, toCalibration } from "./calibrations.js";
import { planInputFromConfig } from "./config.js";
import { DEFAULT_CONSTANTS, type PlannerConstants } from "./constants.js";
import { ALPACA_PUBLISHED_LENGTHS } from "./lengths.js";
import { measuredFromRun } from "./measured.js";
import { calibrateFromRuns, planForConfig, predictForRun, type StoredRunLike } from "./predict.js";
import { chooseConstants } from "./shipped.js";
import { gpu, tinyAlpacaFile } from "./testing.js";

const H200_ENV = { device: { kind: "cuda", name: "NVIDIA H200", totalMemoryBytes: 150109880320 } };
const CPU_ENV = { device: { kind: "cpu", name: "cpu" } };
const TRUTH: PlannerConstants = {
  ...DEFAULT_CONSTANTS,
  cudaContextBytes: 1.6e9,
  allocatorFragmentation: 0.15,
  cpuSecondsPerOp: 45e-6,
};

/** Stored runs whose measurements the planner itself produced with TRUTH. */
function storedRuns(): StoredRunLike[] {
  const shapes = [
    { preset: "paper-run1" },
    { preset: "paper-run2" },
    { preset: "paper-run3" },
    { preset: "paper-run1", batchSize: 4 },
    { preset: "paper-run2", optimizer: { name: "adamw_8bit" } },
  ];
  return shapes.map((o, i) => {
    const config = { ...loadRunConfig({ overrides: { ...o, dataset: "alpaca" } }), device: "cuda:0" };
    const input = planInputFromConfig(config, {
      gpu: gpu("h200"),
      lengthStats: { ...ALPACA_PUBLISHED_LENGTHS },
    });
    const p = evaluatePredictions(
      [{ input, measured: { devicePeakBytes: null, allocatorPeakBytes: null, realTokensPerSecond: null } }],
      TRUTH,
    ).perRun[0]!.predicted;
    return {
      id: `run-${i}`,
      status: "completed",
      config,
      environment: H200_ENV,
      metrics: {
        peakDeviceBytes: p.devicePeakBytes,
        peakAllocatedBytes: p.allocatorPeakBytes,
        peakReservedBytes: p.allocatorReservedPeakBytes,
        realTokensPerSecond: p.realTokensPerSecond,
      },
      data: { meanTokens: 104 },
    };
  });
}

describe("measuredFromRun", () => {
  it("reads a completed run's peaks and rate (the rate only from ≥ 10 measured steps), an OOM as an OOM, and nothing from a crash", () => {
    const done = measuredFromRun({
      status: "completed",
      config: {},
      metrics: {
        peakDeviceBytes: 5e9,
        peakAllocatedBytes: 3e9,
        peakReservedBytes: 3.5e9,
        realTokensPerSecond: 200,
      },
    });
    expect(done).toEqual({
      devicePeakBytes: 5e9,
      allocatorPeakBytes: 3e9,
      allocatorReservedPeakBytes: 3.5e9,
      realTokensPerSecond: 200,
      oom: false,
    });
    expect(measuredFromRun({ status: "oom", config: {}, metrics: null })?.oom).toBe(true);
    const short = measuredFromRun({
      status: "completed",
      config: {},
      metrics: { peakDeviceBytes: 5e9, peakAllocatedBytes: 3e9, realTokensPerSecond: 200, measuredSteps: 3 },
    });
    expect(short).toMatchObject({ devicePeakBytes: 5e9, realTokensPerSecond: null }); // memory yes, speed no
    expect(measuredFromRun({ status: "failed", config: {}, metrics: null })).toBeNull();
  });
});

describe("calibrateFromRuns", () => {
  it("fits the constants of the store's only GPU and skips CPU runs", async () => {
    const cacheDir = mkdtempSync(join(tmpdir(), "lp-plan-"));
    const runs = [...storedRuns(), { ...storedRuns()[0]!, id: "cpu-run", environment: CPU_ENV }];
    const r = await calibrateFromRuns(runs, { cacheDir });
    expect(r.gpu.id).toBe("h200");
    expect(r.used.map((u) => u.id)).toEqual(["run-0", "run-1", "run-2", "run-3", "run-4"]);
    expect(r.used.every((u) => u.lengths === "published")).toBe(true);
    expect(r.calibration.runs).toBe(5);
    expect(Math.abs(r.calibration.constants.cudaContextBytes / TRUTH.cudaContextBytes - 1)).toBeLessThan(
      0.05,
    );
    expect(r.calibration.error.devicePeakBytes!.maxAbsPct).toBeLessThan(1);
    expect(r.heldOut?.method).toBe("leave-one-out");
    expect(r.heldOut?.validation.heldOut.error.devicePeakBytes?.runs).toBe(5);
  });

  it("falls back to the run's stored mean length when its dataset file is gone", async () => {
    const cacheDir = mkdtempSync(join(tmpdir(), "lp-plan-"));
    const runs = storedRuns().map((r) => ({
      ...r,
      config: { ...(r.config as object), dataset: join(cacheDir, "moved-away.json") },
    }));
    const r = await calibrateFromRuns(runs, { cacheDir });
    expect(r.used.every((u) => u.lengths.startsWith("stored mean"))).toBe(true);
  });

  it("asks for --gpu when the store holds runs of several GPUs, and names an empty choice", async () => {
    const cacheDir = mkdtempSync(join(tmpdir(), "lp-plan-"));
    const runs = [
      ...storedRuns(),
      { ...storedRuns()[0]!, id: "l4-run", environment: { device: { kind: "cuda", name: "NVIDIA L4" } } },
    ];
    await expect(calibrateFromRuns(runs, { cacheDir })).rejects.toThrow(/several GPUs/);
    expect((await calibrateFromRuns(runs, { cacheDir, gpu: gpu("h200") })).used).toHaveLength(5);
    await expect(calibrateFromRuns(runs, { cacheDir, gpu: gpu("rtx-4060") })).rejects.toSatisfy(
      (e) =>
        e instanceof LoraprofError && /no completed or OOM run on NVIDIA GeForce RTX 4060/.test(e.message),
    );
  });
});

describe("calibrations file", () => {
  it("saves a calibration per GPU beside the store and plans with it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lp-plan-"));
    const path = calibrationsPath(join(dir, "loraprof.db"));
    expect(path).toBe(join(dir, "calibrations.json"));
    expect(loadCalibration(path, "h200")).toBeNull();
    const r = await calibrateFromRuns(storedRuns(), { cacheDir: dir });
    saveCalibration(path, {
      gpuId: "h200",
      gpuName: r.gpu.name,
      createdAt: "2026-11-28T00:00:00.000Z",
      runIds: r.used.map((u) => u.id),
      calibration: r.calibration,
      heldOut: null,
    });
    const saved = loadCalibration(path, "h200")!;
    expect(saved.runIds).toHaveLength(5);
    const config = loadRunConfig({ overrides: { preset: "paper-run1", dataset: "alpaca" } });
    const plan = await planForConfig(config, {
      gpu: gpu("h200"),
      cacheDir: dir,
      calibration: toCalibration(saved),
    });
    expect(plan.result.calibrated).toBe(true);
    expect(plan.result.calibrationRuns).toBe(5);
    expect(plan.result.assumptions[0]).toMatch(/calibrated on 5 measured runs/);
  });

  it("refuses a damaged file with a fix", () => {
    const dir = mkdtempSync(join(tmpdir(), "lp-plan-"));
    const path = join(dir, "calibrations.json");
    writeFileSync(path, "{ not json");
    expect(() => loadCalibration(path, "h200")).toThrow(/cannot read the planner's calibrations/);
  });
});

describe("predictForRun", () => {
  it("predicts a stored GPU run on the GPU its engine reported", () => {
    const config = { ...loadRunConfig({ overrides: { preset: "paper-run2" } }), device: "cuda:0" };
    const res = predictForRun(config, H200_ENV);
    expect(res).not.toBeNull();
    expect(res!.fits?.limitSource).toBe("gpu");
    expect(res!.throughput?.realTokensPerSecond).toBeGreaterThan(0);
    expect(res!.assumptions[1]).toMatch(/Alpaca's published length facts/);
  });

  it("uses the constants `plan` uses without a user calibration: the GPU's shipped or transferred ones, per recipe", () => {
    const H100_ENV = { device: { kind: "cuda", name: "NVIDIA H100 80GB HBM3", totalMemoryBytes: 85e9 } };
    const none = { devicePeakBytes: null, allocatorPeakBytes: null, realTokensPerSecond: null };
    const defaults = { constants: DEFAULT_CONSTANTS, fitted: [], runs: 0, error: none };
    for (const recipe of ["reference", "fast"] as const) {
      const config = { ...loadRunConfig({ overrides: { preset: "paper-run1", recipe } }), device: "cuda:0" };
      const res = predictForRun(config, H100_ENV)!;
      const chosen = chooseConstants({ gpu: gpu("h100-sxm"), recipeClass: recipe, user: null });
      expect(res.constantsSource).toEqual(chosen.source);
      expect(["shipped", "transferred"]).toContain(res.constantsSource.kind);
      expect(res.throughput!.realTokensPerSecond).not.toBe(
        predictForRun(config, H100_ENV, { calibration: defaults })!.throughput!.realTokensPerSecond,
      );
    }
  });

  it("uses the run's stored mean length for another dataset, and gives nothing for CPU runs", () => {
    const config = {
      ...loadRunConfig({ overrides: { preset: "paper-run1", dataset: "mine.json" } }),
      device: "cuda:0",
    };
    expect(predictForRun(config, H200_ENV)).toBeNull();
    const res = predictForRun(config, H200_ENV, { data: { meanTokens: 300 } });
    expect(res!.assumptions[1]).toMatch(/mean of 300.0 tokens/);
    expect(predictForRun(config, CPU_ENV, { data: { meanTokens: 300 } })).toBeNull();
  });
});

describe("planForConfig for a catalog model with no offline tokenizer", () => {
  it("plans mistral-7b-v0.3 on a local dataset, its lengths from the Qwen2.5 proxy, named in the assumptions", async () => {
    const { dir, file: dataset } = tinyAlpacaFile("lp-plan-mistral-", 2);
    const config = loadRunConfig({ overrides: { model: "mistral-7b-v0.3", dataset, method: "qlora" } });
    const plan = await planForConfig(config, { gpu: gpu("h200"), cacheDir: dir });
    expect(plan.model.id).toBe("mistral-7b-v0.3");
    expect(plan.lengths.kind).toBe("tokenized");
    expect(plan.result.assumptions.some((a) => /record lengths: .*length proxy/.test(a))).toBe(true);
    expect(plan.result.memory.devicePeakBytes).toBeGreaterThan(0);
  });
});
