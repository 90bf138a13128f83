/**
 * The recommender behind `plan --fit` and `loraprof tune`: every combination of the settings that
 * change memory and speed but not what is trained (recipe, padding or packing, loss implementation,
 * gradient checkpointing and activation offload, optimizer, precision, batch size), planned on one GPU or budget; what fits
 * with a margin is ranked by predicted real tokens/s. The method (LoRA or QLoRA), the model, the
 * LoRA settings, the data and the sequence length stay the user's: they change the result of the
 * training, not only its cost. Batch size changes the effective batch (batch × grad-accum): the
 * table says so, and `tune` keeps the user's grad-accum. Activation offload (checkpointed layer inputs
 * in host memory) is searched under checkpointing only; optimizer offload is not (the engine has none
 * beyond bitsandbytes' paged optimizers, which are searched as optimizers).
 */
import type { GpuEntry } from "../catalog/gpus.js";
import { usableMemoryBytes } from "../catalog/gpus.js";
import type { LossImplementation, OptimizerName, PaddingMode, Precision, Recipe } from "../protocol/index.js";
import { RECIPE_DEFAULTS } from "../config/recipes.js";
import { recipeFields, type RecipeFields } from "../config/load.js";
import { LoraprofError } from "../util/errors.js";
import { engineRefusal } from "../catalog/params.js";
import { graphsReplay } from "./config.js";
import { DEFAULT_MARGIN_FRACTION, planRun } from "./plan.js";
import {
  constantsForInput,
  speedInterval,
  type ChosenConstants,
  type RecipeClass,
  type SpeedInterval,
} from "./shipped.js";
import { architectureOf, type PlanInput } from "./types.js";

/** One point of the search: the settings a candidate changes (RunConfig field names). */
export interface CandidateSettings {
  recipe: Recipe;
  padding: PaddingMode;
  loss: LossImplementation;
  kernels: "none" | "liger";
  fusedLora: boolean;
  /** Asked for (the fast recipe); whether the engine can replay graphs also depends on the LoRA dropout. */
  cudaGraphs: boolean;
  gradCheckpointing: boolean;
  /** Checkpointed layer inputs in host memory (only with gradCheckpointing). */
  offloadActivations: boolean;
  optimizer: OptimizerName;
  precision: Precision;
  batchSize: number;
  /** The recipe's LoRA dropout unless the user chose one (RecipeFields). */
  loraDropout: number;
  /** The recipe's cuDNN attention setting unless the user chose one (RecipeFields). */
  cudnnAttention: boolean;
}

export interface Candidate {
  settings: CandidateSettings;
  devicePeakBytes: number;
  marginBytes: number;
  fits: boolean;
  /** Fits with the required margin. */
  fitsWithMargin: boolean;
  realTokensPerSecond: number | null;
  speedInterval: SpeedInterval | null;
  constants: string;
}

export interface RecommendSpace {
  /** fast: packed rows, fused loss, Liger kernels, fused LoRA, CUDA graphs (src/config/recipes.ts). */
  recipes: readonly Recipe[];
  /** Reference recipe only (the fast recipe packs). */
  paddings: readonly PaddingMode[];
  /** Reference recipe only (the fast recipe's loss is fused). */
  losses: readonly LossImplementation[];
  gradCheckpointing: readonly boolean[];
  /** Activation offload, searched where checkpointing is on. */
  offloadActivations: readonly boolean[];
  optimizers: readonly OptimizerName[];
  precisions: readonly Precision[];
  batchSizes: readonly number[];
}

export const DEFAULT_SPACE: RecommendSpace = {
  recipes: ["reference", "fast"],
  paddings: ["longest", "max_length", "packed"],
  losses: ["full", "chunked"],
  gradCheckpointing: [true, false],
  offloadActivations: [false, true],
  optimizers: ["adamw_torch", "adamw_torch_fused", "adamw_8bit", "paged_adamw_8bit", "paged_adamw_32bit"],
  precisions: ["bf16", "fp16"],
  batchSizes: [1, 2, 4, 8, 16, 32, 64],
};

export interface RecommendOptions {
  space?: Partial<RecommendSpace>;
  marginFraction?: number;
  /** Rank every candidate, fitting or not (an exhaustive sweep's list). */
  includeUnfit?: boolean;
  /** Constants per recipe class (shipped, transferred or the user's); absent: the input's own. */
  constantsFor?: (cls: RecipeClass) => ChosenConstants;
  /** Each recipe's LoRA dropout and cuDNN attention for this user; absent: the input's own, for every recipe. */
  recipeFields?: Partial<Record<Recipe, RecipeFields>>;
}

export interface Recommendation {
  limitBytes: number;
  limitSource: "budget" | "gpu";
  marginFraction: number;
  considered: number;
  /** Candidates that fit with the margin (every one with includeUnfit), fastest first. */
  ranked: Candidate[];
  /** How many did not fit (or fit without the margin). */
  rejected: number;
  /** Candidates not planned because the engine refuses them for this model, by reason (`engineRefusal`). */
  leftOut: { reason: string; count: number }[];
}

type RecipeShape = Pick<
  CandidateSettings,
  "recipe" | "padding" | "loss" | "kernels" | "fusedLora" | "cudaGraphs"
>;

/** The fast recipe's settings as a candidate (src/config/recipes.ts owns them). */
function fastShape(): RecipeShape {
  const fast = RECIPE_DEFAULTS.fast as {
    padding: PaddingMode;
    loss: LossImplementation;
    kernels: "none" | "liger";
    fusedLora: boolean;
    cudaGraphs: boolean;
  };
  return {
    recipe: "fast",
    padding: fast.padding,
    loss: fast.loss,
    kernels: fast.kernels,
    fusedLora: fast.fusedLora,
    cudaGraphs: fast.cudaGraphs,
  };
}

/**
 * Expands the space into candidate settings (the fast recipe: one padding and loss); `fields` gives each
 * recipe's LoRA dropout and cuDNN attention (default: each recipe's own, for a user who set neither).
 */
export function candidateSettings(
  space: RecommendSpace,
  fields: (recipe: Recipe) => RecipeFields = (recipe) => recipeFields(recipe),
): CandidateSettings[] {
  const out: CandidateSettings[] = [];
  const shapes: (RecipeShape & RecipeFields)[] = [];
  for (const recipe of space.recipes) {
    if (recipe === "fast") {
      shapes.push({ ...fastShape(), ...fields(recipe) });
      continue;
    }
    for (const padding of space.paddings)
      for (const loss of space.losses)
        shapes.push({
          recipe,
          padding,
          loss,
          kernels: "none",
          fusedLora: false,
          cudaGraphs: false,
          ...fields(recipe),
        });
  }
  const memory: Pick<CandidateSettings, "gradCheckpointing" | "offloadActivations">[] = [];
  for (const gradCheckpointing of space.gradCheckpointing)
    for (const offloadActivations of space.offloadActivations)
      if (gradCheckpointing || !offloadActivations) memory.push({ gradCheckpointing, offloadActivations });
  for (const s of shapes)
    for (const m of memory)
      for (const optimizer of space.optimizers)
        for (const precision of space.precisions)
          for (const batchSize of space.batchSizes) out.push({ ...s, ...m, optimizer, precision, batchSize });
  return out;
}

export function applySettings(input: PlanInput, s: CandidateSettings): PlanInput {
  return {
    ...input,
    lora: { ...input.lora, dropout: s.loraDropout },
    cudnnAttention: s.cudnnAttention,
    padding: s.padding,
    lossImplementation: s.loss,
    kernels: s.kernels,
    fusedLora: s.fusedLora,
    cudaGraphs: graphsReplay({
      cudaGraphs: s.cudaGraphs,
      padding: s.padding,
      precision: s.precision,
      gradCheckpointing: s.gradCheckpointing,
      loraDropout: s.loraDropout,
      offloadActivations: s.offloadActivations,
    }),
    gradCheckpointing: s.gradCheckpointing,
    offloadActivations: s.offloadActivations,
    optimizer: s.optimizer,
    precision: s.precision,
    batchSize: s.batchSize,
  };
}

function limitOf(input: PlanInput): { bytes: number; source: "budget" | "gpu" } {
  if (input.vramBudgetBytes !== null) return { bytes: input.vramBudgetBytes, source: "budget" };
  if (input.gpu) return { bytes: usableMemoryBytes(input.gpu), source: "gpu" };
  throw new LoraprofError("FLAG_INVALID", "a recommendation needs a GPU or a memory budget", {
    problems: [
      {
        field: "--gpu",
        message: "no GPU and no budget given",
        hint: "pass --gpu NAME or --vram-budget 8GiB",
      },
    ],
  });
}

/** The space without what this GPU cannot run: bf16 before Ampere, fused AdamW on the CPU. */
export function spaceFor(gpu: GpuEntry | null, space: Partial<RecommendSpace> = {}): RecommendSpace {
  const s = { ...DEFAULT_SPACE, ...space };
  return {
    ...s,
    precisions: s.precisions.filter((p) => p !== "bf16" || gpu === null || gpu.bf16Supported),
  };
}

export function recommend(input: PlanInput, opts: RecommendOptions = {}): Recommendation {
  const limit = limitOf(input);
  const marginFraction = opts.marginFraction ?? DEFAULT_MARGIN_FRACTION;
  const space = spaceFor(input.gpu, opts.space);
  const memo = new Map<RecipeClass, ChosenConstants>();
  const constantsOf = (cls: RecipeClass): ChosenConstants | null => {
    if (!opts.constantsFor) return null;
    let c = memo.get(cls);
    if (!c) memo.set(cls, (c = opts.constantsFor(cls)));
    return c;
  };
  const all: Candidate[] = [];
  const leftOut = new Map<string, number>();
  const arch = architectureOf(input.model);
  const inputFields: RecipeFields = {
    loraDropout: input.lora.dropout,
    cudnnAttention: input.cudnnAttention ?? true,
  };
  const fieldsOf = (recipe: Recipe) => opts.recipeFields?.[recipe] ?? inputFields;
  for (const settings of candidateSettings(space, fieldsOf)) {
    const refusal = engineRefusal(arch, { ...settings, seqLen: input.seqLen });
    if (refusal !== null) {
      leftOut.set(refusal, (leftOut.get(refusal) ?? 0) + 1);
      continue;
    }
    let cfg = applySettings(input, settings);
    const chosen = opts.constantsFor ? constantsForInput(cfg, (cls) => constantsOf(cls)!) : null;
    if (chosen) {
      const { calibration: _old, ...rest } = cfg;
      cfg = {
        ...rest,
        ...(chosen.calibration ? { calibration: chosen.calibration } : {}),
        constantsSource: chosen.source,
      };
    }
    const r = planRun(cfg);
    const peak = r.memory.devicePeakBytes;
    const tps = r.throughput?.realTokensPerSecond ?? null;
    all.push({
      settings,
      devicePeakBytes: peak,
      marginBytes: limit.bytes - peak,
      fits: peak <= limit.bytes,
      fitsWithMargin: peak <= limit.bytes * (1 - marginFraction),
      realTokensPerSecond: tps,
      speedInterval: tps === null ? null : speedInterval(tps, r.constantsSource, r.throughput?.hostRange),
      constants: r.constantsSource.label,
    });
  }
  const ranked = all
    .filter((c) => c.fitsWithMargin || opts.includeUnfit === true)
    .sort(
      (a, b) =>
        (b.realTokensPerSecond ?? b.settings.batchSize) - (a.realTokensPerSecond ?? a.settings.batchSize) ||
        a.devicePeakBytes - b.devicePeakBytes,
    );
  return {
    limitBytes: limit.bytes,
    limitSource: limit.source,
    marginFraction,
    considered: all.length,
    ranked,
    rejected: all.filter((c) => !c.fitsWithMargin).length,
    leftOut: [...leftOut].map(([reason, count]) => ({ reason, count })),
  };
}

/** A candidate as RunConfig fields (what `tune` runs and writes). */
export function settingsToConfig(s: CandidateSettings): Record<string, unknown> {
  return {
    recipe: s.recipe,
    padding: s.padding,
    loss: s.loss,
    kernels: s.kernels,
    fusedLora: s.fusedLora,
    cudaGraphs: s.cudaGraphs,
    gradCheckpointing: s.gradCheckpointing,
    offloadActivations: s.offloadActivations,
    optimizer: { name: s.optimizer },
    precision: s.precision,
    batchSize: s.batchSize,
    lora: { dropout: s.loraDropout },
    cudnnAttention: s.cudnnAttention,
  };
}
