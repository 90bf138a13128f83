/** Shared fixtures for the planner's tests: the study's model and Alpaca-like length statistics. */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findGpu, type GpuEntry } from "../catalog/gpus.js";
import { findModel } from "../catalog/models.js";
import type { ModelEntry } from "../catalog/types.js";
import type { LengthStats } from "./lengths.js";
import type { PlanInput } from "./types.js";

export function model(id: string): ModelEntry {
  const m = findModel(id);
  if (!m) throw new Error(`test fixture: no model ${id}`);
  return m;
}

export function gpu(id: string): GpuEntry {
  const g = findGpu(id);
  if (!g) throw new Error(`test fixture: no GPU ${id}`);
  return g;
}

/** Summary statistics of the shape instruction datasets have (right-skewed, ~100 tokens). */
export const ALPACA_LIKE: LengthStats = { meanTokens: 103, medianTokens: 88, p90Tokens: 169, maxTokens: 924 };

/** The study's run 2 shape: QLoRA Qwen2.5-1.5B-Instruct on an RTX 4060. */
export function qloraInput(overrides: Partial<PlanInput> = {}): PlanInput {
  return {
    model: model("qwen2.5-1.5b-instruct"),
    gpu: gpu("rtx-4060"),
    vramBudgetBytes: null,
    batchSize: 2,
    seqLen: 2048,
    gradAccum: 1,
    padding: "longest",
    precision: "fp16",
    method: "qlora",
    quant: { type: "nf4", doubleQuant: true },
    lora: { r: 16, dropout: 0.05, targetModules: "all-linear" },
    optimizer: "paged_adamw_8bit",
    gradCheckpointing: true,
    lengthStats: ALPACA_LIKE,
    ...overrides,
  };
}

/** A local Alpaca file of the first `count` of three tiny records, in a fresh temporary folder. */
export function tinyAlpacaFile(prefix: string, count = 3): { dir: string; file: string } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const file = join(dir, "tiny.json");
  const records = [
    { instruction: "Say hi.", input: "", output: "Hi." },
    { instruction: "Add the numbers.", input: "2 and 3", output: "The sum of 2 and 3 is 5." },
    { instruction: "Name a colour.", input: "", output: "Blue." },
  ];
  writeFileSync(file, JSON.stringify(records.slice(0, count)));
  return { dir, file };
}
