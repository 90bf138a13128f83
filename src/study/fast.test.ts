import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadRunConfig } from "../config/load.js";
import { planForConfig } from "../plan/predict.js";
import { gpu } from "../plan/testing.js";
import { expandSweep } from "../sweep/spec.js";
import { FAST_ARM_SEQ_LENS, plannedFastArm } from "./fast.js";
import { FAST_BEST_UNDER_8GIB, paperStudy } from "./sweep.js";

const GiB = 2 ** 30;
const cacheDir = mkdtempSync(join(tmpdir(), "lp-fast-arm-"));

/** The fast arm on a catalogued card under a budget, for the synthetic dataset. */
const armFor = (gpuId: string, vramBudget: string) =>
  plannedFastArm({ gpu: gpu(gpuId), vramBudget, cacheDir, overrides: { dataset: "synthetic" } });

// Each test plans three lengths × the fast recipe's space: seconds on two busy cores.
describe("the study's fast arm", { timeout: 60_000 }, () => {
  it("is the planner's fastest fast configuration that fits the budget on this card, over the study's lengths", async () => {
    const arm = await armFor("rtx-4060", "8GiB");
    expect(arm).not.toBeNull();
    expect(arm!.config.recipe).toBe("fast");
    expect(FAST_ARM_SEQ_LENS).toContain(arm!.config.seqLen);
    expect(arm!.predicted!.devicePeakBytes).toBeLessThanOrEqual(8 * GiB * 0.95);
    expect(arm!.note).toMatch(/under a budget of 8GiB on .*4060/);
    // No other length's top candidate is predicted faster.
    for (const seqLen of FAST_ARM_SEQ_LENS) {
      const config = loadRunConfig({
        overrides: { preset: "paper-run3", recipe: "fast", seqLen, vramBudget: "8GiB", dataset: "synthetic" },
      });
      const planned = await planForConfig(config, {
        gpu: gpu("rtx-4060"),
        cacheDir,
        fit: true,
        space: { recipes: ["fast"] },
      });
      const top = planned.recommendation!.ranked[0]!;
      expect(top.realTokensPerSecond!).toBeLessThanOrEqual(arm!.predicted!.realTokensPerSecond!);
    }
  });

  it("follows the budget: a smaller one picks a configuration that fits it, none when nothing does", async () => {
    const small = await armFor("h200", "4GiB");
    expect(small!.predicted!.devicePeakBytes).toBeLessThanOrEqual(4 * GiB * 0.95);
    const none = await armFor("h200", "1GiB");
    expect(none).toBeNull();
  });

  it("goes into the study's fast group; without it the study keeps the fallback", async () => {
    const arm = await armFor("rtx-4060", "8GiB");
    const lastFast = (opts: Parameters<typeof paperStudy>[0]) => {
      const { spec, overrides } = paperStudy(opts);
      const fast = expandSweep(spec, { overrides }).filter((p) => p.groups.includes("fast"));
      return fast[fast.length - 1]!.config;
    };
    const planned = lastFast({ dataset: "synthetic", fastArm: { config: arm!.config, note: arm!.note } });
    expect(planned.batchSize).toBe(arm!.config.batchSize);
    expect(planned.seqLen).toBe(arm!.config.seqLen);
    expect(planned.optimizer.name).toBe((arm!.config.optimizer as { name: string }).name);
    const fallback = lastFast({ dataset: "synthetic" });
    expect(fallback.batchSize).toBe(FAST_BEST_UNDER_8GIB.batchSize);
    expect(fallback.seqLen).toBe(FAST_BEST_UNDER_8GIB.seqLen);
  });
});
