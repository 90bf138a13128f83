import { describe, expect, it } from "vitest";
import { loadRunConfig, recipeFields } from "../config/load.js";
import type { Recipe } from "../protocol/index.js";
import { RECIPE_DEFAULTS } from "../config/recipes.js";
import { candidateSettings, DEFAULT_SPACE, type Candidate } from "../plan/recommend.js";
import { expandSweep } from "./spec.js";
import { pickCandidates, tuneSweepSpec, tuneWinner, winningConfig, type TuneResult } from "./tune.js";

const cand = (over: Partial<Candidate["settings"]>, tps: number): Candidate => ({
  settings: {
    recipe: "reference",
    padding: "longest",
    loss: "full",
    kernels: "none",
    fusedLora: false,
    cudaGraphs: false,
    gradCheckpointing: true,
    offloadActivations: false,
    optimizer: "adamw_torch",
    precision: "bf16",
    batchSize: 1,
    loraDropout: 0.05,
    cudnnAttention: true,
    ...over,
  },
  devicePeakBytes: 1,
  marginBytes: 1,
  fits: true,
  fitsWithMargin: true,
  realTokensPerSecond: tps,
  speedInterval: null,
  constants: "test",
});

describe("tune", () => {
  const base = loadRunConfig({ overrides: { model: "tiny-qwen2", device: "cpu", steps: 30 } });

  it("picks the top candidates this machine can run, skipping CUDA-only ones on the CPU", () => {
    const ranked = [
      cand({ optimizer: "paged_adamw_8bit" }, 300),
      cand({ precision: "fp16" }, 250),
      cand({ batchSize: 4 }, 200),
      cand({ batchSize: 2 }, 100),
      cand({ batchSize: 1 }, 50),
    ];
    const cpu = pickCandidates(base, ranked, 2, { cpu: true });
    expect(cpu.map((c) => c.rank)).toEqual([3, 4]);
    expect(pickCandidates(base, ranked, 2, { cpu: false }).map((c) => c.rank)).toEqual([1, 2]);
  });

  it("stores the candidates as a sweep over the user's config, and writes the winner into it", () => {
    const picked = pickCandidates(
      base,
      [cand({ batchSize: 4 }, 2), cand({ batchSize: 2, padding: "packed" }, 1)],
      2,
      {
        cpu: true,
      },
    );
    const planned = expandSweep(tuneSweepSpec("t", base, picked), {
      overrides: { steps: 4, warmupSteps: 1 },
    });
    expect(planned.map((p) => [p.config.batchSize, p.config.padding, p.config.steps])).toEqual([
      [4, "longest", 4],
      [2, "packed", 4],
    ]);
    const results: TuneResult[] = picked.map((c, i) => ({
      rank: c.rank,
      settings: c.settings,
      predictedRealTokensPerSecond: 1,
      predictedDevicePeakBytes: 1,
      status: i === 0 ? "oom" : "completed",
      runId: `r${i}`,
      measuredRealTokensPerSecond: i === 0 ? null : 80,
      measuredDevicePeakBytes: null,
    }));
    const winner = tuneWinner(results)!;
    expect(winner.runId).toBe("r1"); // the OOM is a data point, never the winner
    const config = winningConfig(base, winner);
    expect(config.batchSize).toBe(2);
    expect(config.padding).toBe("packed");
    expect(config.steps).toBe(30);
    expect(tuneWinner([{ ...results[0]! }])).toBeNull();
  });

  it("runs a fast candidate with the whole fast recipe (its CUDA graphs too), whatever the base config says", () => {
    const fast = candidateSettings({ ...DEFAULT_SPACE, recipes: ["fast"], batchSizes: [2] }).find(
      (c) => c.gradCheckpointing && c.optimizer === "adamw_torch" && c.precision === "bf16",
    )!;
    expect(base.cudaGraphs).toBe(false);
    const picked = pickCandidates(base, [cand(fast, 1)], 1, { cpu: true });
    const [run] = expandSweep(tuneSweepSpec("t", base, picked), { overrides: { steps: 4, warmupSteps: 1 } });
    const recipe = RECIPE_DEFAULTS.fast as Record<string, unknown>;
    for (const field of ["padding", "loss", "kernels", "fusedLora", "cudaGraphs"] as const)
      expect(run!.config[field]).toEqual(recipe[field]);
    expect(run!.config.cudaGraphs).toBe(true);
    // the recipe's dropout and cuDNN setting too (the base config resolved the reference recipe's), the rest of LoRA kept
    expect(base.lora.dropout).toBe(0.05);
    expect(run!.config.lora).toEqual({ ...base.lora, dropout: 0 });
    expect(run!.config.cudnnAttention).toBe(false);
    const won: TuneResult = {
      rank: 1,
      settings: picked[0]!.settings,
      predictedRealTokensPerSecond: 1,
      predictedDevicePeakBytes: 1,
      status: "completed",
      runId: "r",
      measuredRealTokensPerSecond: 1,
      measuredDevicePeakBytes: 1,
    };
    expect(winningConfig(base, won).lora).toEqual({ ...base.lora, dropout: 0 });
  });

  it("keeps a LoRA dropout the user chose in every candidate", () => {
    const fields = (r: Recipe) =>
      recipeFields(r, { overrides: { model: "tiny-qwen2", lora: { dropout: 0.1 } } });
    const all = candidateSettings({ ...DEFAULT_SPACE, batchSizes: [2] }, fields);
    expect(new Set(all.map((c) => c.loraDropout))).toEqual(new Set([0.1]));
    expect(new Set(all.filter((c) => c.recipe === "fast").map((c) => c.cudnnAttention))).toEqual(
      new Set([false]),
    );
    expect(new Set(all.filter((c) => c.recipe === "reference").map((c) => c.cudnnAttention))).toEqual(
      new Set([true]),
    );
  });
});
