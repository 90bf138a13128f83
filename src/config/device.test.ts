import { describe, expect, it } from "vitest";
import { planPrecision } from "../plan/config.js";
import { findGpu } from "../catalog/gpus.js";
import { cpuConfigProblems, cudaOnlySettings, resolvePrecision } from "./device.js";
import { RunConfigSchema } from "./schema.js";

describe("precision: auto, one rule for run and plan", () => {
  it("is fp32 on the CPU, bf16 from compute capability 8.0, fp16 below", () => {
    expect(resolvePrecision("auto", null)).toBe("fp32");
    expect(resolvePrecision("auto", "8.0")).toBe("bf16");
    expect(resolvePrecision("auto", "7.5")).toBe("fp16");
    expect(resolvePrecision("fp16", "9.0")).toBe("fp16");
  });

  it("plans what run resolves: fp32 without a GPU, the GPU's rule with one", () => {
    expect(planPrecision({ precision: "auto" }, null)).toBe(resolvePrecision("auto", null));
    const h200 = findGpu("h200");
    expect(h200).toBeDefined();
    expect(planPrecision({ precision: "auto" }, h200!)).toBe(
      resolvePrecision("auto", h200!.computeCapability),
    );
  });
});

describe("GPU-only settings", () => {
  it("names each with its CPU alternative in flag words", () => {
    const problems = cudaOnlySettings({
      method: "qlora",
      precision: "fp16",
      optimizer: { name: "paged_adamw_8bit" },
      vramBudget: "8GiB",
    });
    expect(problems.map((p) => p.field)).toEqual(["method", "precision", "optimizer.name", "vramBudget"]);
    for (const p of problems) expect(p.hint).toMatch(/--[a-z-]+/);
  });

  it("refuses qlora and fp16 with device cpu at validation, through the same rules", () => {
    const parsed = RunConfigSchema.safeParse({ device: "cpu", method: "qlora", precision: "fp16" });
    expect(parsed.success).toBe(false);
    const messages = parsed.success ? [] : parsed.error.issues.map((i) => i.message);
    const expected = cpuConfigProblems({
      method: "qlora",
      precision: "fp16",
      optimizer: { name: "adamw_torch" },
    });
    expect(messages).toEqual(expected.map((p) => p.message));
  });
});
