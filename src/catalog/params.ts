/**
 * Parameter counting from architecture facts alone. The planner's FLOP and byte counts and the
 * catalog's sanity tests both start here, so a wrong fact in the catalog shows up as a parameter
 * total that disagrees with the published one.
 */
import { LoraprofError } from "../util/errors.js";
import type { ModelType } from "../protocol/vocabulary.js";
import type { ModelArchitecture } from "./types.js";

/** The seven linear projections of a Qwen2/Llama decoder layer, in forward order. */
export const DECODER_LINEAR_MODULES = [
  "q_proj",
  "k_proj",
  "v_proj",
  "o_proj",
  "gate_proj",
  "up_proj",
  "down_proj",
] as const;
export type DecoderLinearModule = (typeof DECODER_LINEAR_MODULES)[number];

export interface LinearShape {
  name: DecoderLinearModule;
  inFeatures: number;
  outFeatures: number;
  bias: boolean;
}

/** Shapes of one decoder layer's linear projections (every layer is identical). */
export function decoderLinearShapes(arch: ModelArchitecture): LinearShape[] {
  const qOut = arch.numHeads * arch.headDim;
  const kvOut = arch.numKvHeads * arch.headDim;
  const h = arch.hiddenSize;
  const i = arch.intermediateSize;
  return [
    { name: "q_proj", inFeatures: h, outFeatures: qOut, bias: arch.qkvBias },
    { name: "k_proj", inFeatures: h, outFeatures: kvOut, bias: arch.qkvBias },
    { name: "v_proj", inFeatures: h, outFeatures: kvOut, bias: arch.qkvBias },
    { name: "o_proj", inFeatures: qOut, outFeatures: h, bias: false },
    { name: "gate_proj", inFeatures: h, outFeatures: i, bias: false },
    { name: "up_proj", inFeatures: h, outFeatures: i, bias: false },
    { name: "down_proj", inFeatures: i, outFeatures: h, bias: false },
  ];
}

export interface ParameterCounts {
  /** Token embedding matrix (vocab × hidden). */
  embedding: number;
  /** Separate LM head matrix; 0 when tied to the embedding. */
  lmHead: number;
  /** Linear weight matrices of all decoder layers (what QLoRA quantizes). */
  decoderLinearWeights: number;
  /** q/k/v biases of all layers (kept in 16 bits under QLoRA). */
  decoderBiases: number;
  /** RMSNorm weights: two per layer (four in Gemma 2/3, plus q/k norms in Qwen3/Gemma 3) and the final norm. */
  norms: number;
  total: number;
}

/**
 * Hidden-size RMSNorms per decoder layer: Gemma 2/3 norm before and after both attention and MLP
 * (four), the others before each (two).
 */
export function normsPerLayer(arch: Pick<ModelArchitecture, "modelType">): number {
  return arch.modelType === "gemma2" || arch.modelType === "gemma3_text" ? 4 : 2;
}

/**
 * Families the engine patches with Liger's kernels (engine/src/loraprof_engine/kernels.py, LIGER_PATCHES,
 * owns the rule; a unit test keeps this list equal to it). Others (Gemma's GeGLU, Phi-3's fused
 * projections) run PyTorch's own ops under `kernels: liger`, and the run's notes say so.
 */
const LIGER_PATCHED_TYPES: readonly ModelType[] = ["qwen2", "qwen3", "llama", "mistral"];

export function ligerPatched(arch: Pick<ModelArchitecture, "modelType">): boolean {
  return LIGER_PATCHED_TYPES.includes(arch.modelType);
}

/**
 * Soft-capped attention scores (Gemma 2) need eager attention: transformers refuses SDPA for them (the
 * engine stops an SDPA run of such a model with a config error), so eager is their default (config/load.ts).
 */
export function needsEagerAttention(arch: Pick<ModelArchitecture, "attnLogitSoftcapping">): boolean {
  return arch.attnLogitSoftcapping != null;
}

type RefusalArch = Pick<
  ModelArchitecture,
  "attnLogitSoftcapping" | "finalLogitSoftcapping" | "slidingWindow"
>;

/** Why packed rows cannot serve this model at seqLen, or null: soft-capped scores, or a window shorter than a row. */
export function packingRefusal(arch: RefusalArch, seqLen: number): string | null {
  if (arch.attnLogitSoftcapping != null) return "packed rows cannot soft-cap attention scores";
  if (arch.slidingWindow != null && seqLen > arch.slidingWindow)
    return `packed attention does not slide (window ${arch.slidingWindow} < seqLen ${seqLen})`;
  return null;
}

/** Why a loss implementation cannot serve this model, or null: only the full loss soft-caps the final logits. */
export function lossRefusal(arch: RefusalArch, loss: string): string | null {
  return loss !== "full" && arch.finalLogitSoftcapping != null
    ? `the ${loss} loss does not soft-cap the final logits`
    : null;
}

/**
 * Why the engine would refuse these settings for this model before loading it, or null
 * (engine/src/loraprof_engine/model.py, `check_fast_path`, owns the rule): packed rows cannot soft-cap
 * attention scores or slide a window shorter than a row, and the chunked and fused losses do not
 * soft-cap the final logits. The recommender proposes nothing the engine would refuse, and a recipe's
 * padding and loss give way where the model cannot take them (config/load.ts).
 */
export function engineRefusal(
  arch: RefusalArch,
  s: { padding: string; loss: string; seqLen: number },
): string | null {
  return (s.padding === "packed" ? packingRefusal(arch, s.seqLen) : null) ?? lossRefusal(arch, s.loss);
}

/** Qwen3 and Gemma 3 RMS-normalize queries and keys per head. */
export function hasQkNorm(arch: Pick<ModelArchitecture, "modelType">): boolean {
  return arch.modelType === "qwen3" || arch.modelType === "gemma3_text";
}

/** The per-head q/k norms' weights: two head_dim-sized vectors a layer. */
function qkNormsPerLayer(arch: ModelArchitecture): number {
  return hasQkNorm(arch) ? 2 * arch.headDim : 0;
}

export function countParameters(arch: ModelArchitecture): ParameterCounts {
  const shapes = decoderLinearShapes(arch);
  const perLayerWeights = shapes.reduce((s, m) => s + m.inFeatures * m.outFeatures, 0);
  const perLayerBiases = shapes.reduce((s, m) => s + (m.bias ? m.outFeatures : 0), 0);
  const embedding = arch.vocabSize * arch.hiddenSize;
  const lmHead = arch.tieWordEmbeddings ? 0 : arch.vocabSize * arch.hiddenSize;
  const decoderLinearWeights = perLayerWeights * arch.numLayers;
  const decoderBiases = perLayerBiases * arch.numLayers;
  const norms =
    (normsPerLayer(arch) * arch.numLayers + 1) * arch.hiddenSize + qkNormsPerLayer(arch) * arch.numLayers;
  return {
    embedding,
    lmHead,
    decoderLinearWeights,
    decoderBiases,
    norms,
    total: embedding + lmHead + decoderLinearWeights + decoderBiases + norms,
  };
}

/**
 * Resolves LoRA target modules to decoder linear names. "all-linear" is every decoder projection
 * (PEFT never adapts the LM head under "all-linear"). Unknown names are an error naming the field.
 */
export function resolveTargetModules(
  targetModules: "all-linear" | readonly string[],
  field = "lora.targetModules",
): DecoderLinearModule[] {
  if (targetModules === "all-linear") return [...DECODER_LINEAR_MODULES];
  const known = new Set<string>(DECODER_LINEAR_MODULES);
  const unknown = targetModules.filter((m) => !known.has(m));
  if (unknown.length > 0) {
    throw new LoraprofError("CONFIG_INVALID", `unknown LoRA target module(s): ${unknown.join(", ")}`, {
      problems: unknown.map((m) => ({
        field,
        message: `"${m}" is not a linear projection of a Qwen2/Llama decoder layer`,
        hint: `use "all-linear" or names from ${DECODER_LINEAR_MODULES.join(", ")}`,
      })),
    });
  }
  return DECODER_LINEAR_MODULES.filter((m) => targetModules.includes(m));
}

/** LoRA-adapted shapes of one layer: each adapter adds A (r × in) and B (out × r). */
export function loraShapes(
  arch: ModelArchitecture,
  targetModules: "all-linear" | readonly string[],
): LinearShape[] {
  const targets = new Set(resolveTargetModules(targetModules));
  return decoderLinearShapes(arch).filter((s) => targets.has(s.name));
}

/** Trainable LoRA parameters over the whole model: Σ r·(in + out) per adapted projection. */
export function countLoraParameters(
  arch: ModelArchitecture,
  r: number,
  targetModules: "all-linear" | readonly string[],
): number {
  const perLayer = loraShapes(arch, targetModules).reduce(
    (s, m) => s + r * (m.inFeatures + m.outFeatures),
    0,
  );
  return perLayer * arch.numLayers;
}
