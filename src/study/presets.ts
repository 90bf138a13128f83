/**
 * The study's three runs (arXiv 2509.12229: Qwen2.5-1.5B-Instruct, 4-bit QLoRA, Alpaca 5k subset,
 * gradient checkpointing, RTX 4060 8 GB). Only what the study states is taken from it; where it is
 * silent the choices below are loraprof's documented defaults and are printed with every result.
 * They are config presets (`--preset paper-run1`): `registerPaperPresets` hands them to the config
 * loader's registry (config/presets.ts); the CLI entry and the library's front door call it.
 */
import { registerPresets, type Preset } from "../config/presets.js";
import type { RunConfigInput } from "../config/schema.js";

/** Choices the study does not state, shared by the three presets. */
export const PAPER_UNSTATED_DEFAULTS = {
  lora: { r: 16, alpha: 32, dropout: 0.05, targetModules: "all-linear" as const },
  optimizer: { lr: 2e-4 },
  quant: { type: "nf4" as const, doubleQuant: true },
  // Trainer-style scripts of the period tokenized with padding="max_length"; `loraprof study paper`
  // measures `longest` beside it.
  padding: "max_length" as const,
  subsetMode: "first" as const,
  template: "alpaca" as const,
};

const common: RunConfigInput = {
  model: "qwen2.5-1.5b-instruct",
  method: "qlora",
  gradCheckpointing: true,
  dataset: "alpaca",
  subset: 5000,
  steps: 70,
  warmupSteps: 10,
  ...PAPER_UNSTATED_DEFAULTS,
};

export const PAPER_PRESETS = {
  "paper-run1": {
    description: "study run 1 (baseline): batch 1, seq 512, adamw_torch, fp16",
    config: {
      ...common,
      batchSize: 1,
      seqLen: 512,
      precision: "fp16",
      optimizer: { name: "adamw_torch", lr: 2e-4 },
    },
  },
  "paper-run2": {
    description: "study run 2 (paged optimizer stress test): batch 2, seq 2048, paged_adamw_8bit, fp16",
    config: {
      ...common,
      batchSize: 2,
      seqLen: 2048,
      precision: "fp16",
      optimizer: { name: "paged_adamw_8bit", lr: 2e-4 },
    },
  },
  "paper-run3": {
    description: "study run 3 (bf16 test): batch 2, seq 1024, paged_adamw_8bit, bf16",
    config: {
      ...common,
      batchSize: 2,
      seqLen: 1024,
      precision: "bf16",
      optimizer: { name: "paged_adamw_8bit", lr: 2e-4 },
    },
  },
} as const satisfies Record<string, Preset>;

export type PaperPresetName = keyof typeof PAPER_PRESETS;

/** Registers the paper's presets with the config loader (idempotent). */
export function registerPaperPresets(): void {
  registerPresets(PAPER_PRESETS);
}
