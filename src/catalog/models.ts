/**
 * The model catalog: exact architecture facts of the models loraprof knows by name, copied from
 * each model's config.json on the Hugging Face hub (the URL is in `source`). The engine materializes
 * synthetic checkpoints from these facts and the planner counts parameters, FLOPs and bytes from
 * them, so a wrong number here is a wrong number everywhere: the tests recompute each model's
 * parameter total and compare it with the total its model card publishes.
 *
 * The hub itself is not reachable from where this file was written; each config was checked against
 * verbatim copies of it in public code (configuration dumps, test fixtures) found with a code search.
 */
import { LoraprofError } from "../util/errors.js";
import type { ModelArchitecture, ModelEntry } from "./types.js";

const hubConfig = (hubId: string) => `https://huggingface.co/${hubId}/blob/main/config.json`;

/**
 * Qwen2 tokenizer family: no BOS token is added; `<|endoftext|>` (151643) pads and ends documents;
 * the -Instruct models end a turn with `<|im_end|>` (151645), which is their eos.
 */
const QWEN_ENDOFTEXT = 151643;
const QWEN_IM_END = 151645;

/**
 * Llama 3 tokenizer family: `<|begin_of_text|>` 128000, `<|end_of_text|>` 128001 (base eos),
 * `<|eot_id|>` 128009 (instruct eos). Llama 3 ships no pad token. We pad with 128004, the reserved
 * token the 3.1/3.2 tokenizers name `<|finetune_right_pad_id|>`: it never occurs in text, so a
 * collator that masks padding out of the loss cannot also mask the real eos (as pad = eos would).
 */
const LLAMA_BOS = 128000;
const LLAMA_END_OF_TEXT = 128001;
const LLAMA_EOT = 128009;
const LLAMA_PAD = 128004;

interface QwenSize {
  size: string;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  intermediateSize: number;
  vocabSize: number;
  tie: boolean;
  /** max_position_embeddings differs between base and -Instruct configs of the same size. */
  maxPosBase: number;
  maxPosInstruct: number;
  /** rms_norm_eps: 1e-6 up to 7B, 1e-5 for 14B and 32B. */
  rmsNormEps: number;
  /**
   * The model card's total, where it agrees with the config's count to 0.01 B; null where the card's
   * rounded figure does not (14B: card 14.7 B, counted 14.77 B; 32B: card 32.5 B, counted 32.76 B).
   */
  publishedTotal: number | null;
}

// Qwen2.5 configs: hidden_size, num_hidden_layers, num_attention_heads, num_key_value_heads,
// intermediate_size, vocab_size, tie_word_embeddings, max_position_embeddings; all share
// rope_theta 1e6, rms_norm_eps 1e-6, no rope_scaling, q/k/v bias (Qwen2 attention), head_dim =
// hidden/heads = 64 (0.5B) or 128. Base 1.5B and 7B configs say 131072 positions, the others 32768.
const QWEN25: QwenSize[] = [
  {
    size: "0.5B",
    hiddenSize: 896,
    numLayers: 24,
    numHeads: 14,
    numKvHeads: 2,
    intermediateSize: 4864,
    vocabSize: 151936,
    tie: true,
    maxPosBase: 32768,
    maxPosInstruct: 32768,
    rmsNormEps: 1e-6,
    publishedTotal: 0.49e9,
  },
  {
    size: "1.5B",
    hiddenSize: 1536,
    numLayers: 28,
    numHeads: 12,
    numKvHeads: 2,
    intermediateSize: 8960,
    vocabSize: 151936,
    tie: true,
    maxPosBase: 131072,
    maxPosInstruct: 32768,
    rmsNormEps: 1e-6,
    publishedTotal: 1.54e9,
  },
  {
    size: "3B",
    hiddenSize: 2048,
    numLayers: 36,
    numHeads: 16,
    numKvHeads: 2,
    intermediateSize: 11008,
    vocabSize: 151936,
    tie: true,
    maxPosBase: 32768,
    maxPosInstruct: 32768,
    rmsNormEps: 1e-6,
    publishedTotal: 3.09e9,
  },
  {
    size: "7B",
    hiddenSize: 3584,
    numLayers: 28,
    numHeads: 28,
    numKvHeads: 4,
    intermediateSize: 18944,
    vocabSize: 152064,
    tie: false,
    maxPosBase: 131072,
    maxPosInstruct: 32768,
    rmsNormEps: 1e-6,
    publishedTotal: 7.61e9,
  },
  // 14B and 32B: the configs as dumped in public code (Qwen2.5-14B, Qwen2.5-32B config.json).
  {
    size: "14B",
    hiddenSize: 5120,
    numLayers: 48,
    numHeads: 40,
    numKvHeads: 8,
    intermediateSize: 13824,
    vocabSize: 152064,
    tie: false,
    maxPosBase: 131072,
    maxPosInstruct: 32768,
    rmsNormEps: 1e-5,
    publishedTotal: null,
  },
  {
    size: "32B",
    hiddenSize: 5120,
    numLayers: 64,
    numHeads: 40,
    numKvHeads: 8,
    intermediateSize: 27648,
    vocabSize: 152064,
    tie: false,
    maxPosBase: 131072,
    maxPosInstruct: 32768,
    rmsNormEps: 1e-5,
    publishedTotal: null,
  },
];

function qwenEntries(q: QwenSize): ModelEntry[] {
  const arch = (maxPos: number): ModelArchitecture => ({
    modelType: "qwen2",
    hiddenSize: q.hiddenSize,
    numLayers: q.numLayers,
    numHeads: q.numHeads,
    numKvHeads: q.numKvHeads,
    headDim: q.hiddenSize / q.numHeads,
    intermediateSize: q.intermediateSize,
    vocabSize: q.vocabSize,
    tieWordEmbeddings: q.tie,
    ropeTheta: 1_000_000,
    ropeScaling: null,
    qkvBias: true,
    maxPositionEmbeddings: maxPos,
    rmsNormEps: q.rmsNormEps,
    hiddenAct: "silu",
  });
  const id = q.size.toLowerCase();
  const base = `Qwen/Qwen2.5-${q.size}`;
  const instruct = `${base}-Instruct`;
  return [
    {
      id: `qwen2.5-${id}`,
      hubId: base,
      displayName: `Qwen2.5-${q.size}`,
      architecture: arch(q.maxPosBase),
      tokenizer: "qwen2",
      specialTokens: { bos: null, eos: QWEN_ENDOFTEXT, pad: QWEN_ENDOFTEXT },
      source: hubConfig(base),
      ...(q.publishedTotal === null ? {} : { publishedTotalParameters: q.publishedTotal }),
    },
    {
      id: `qwen2.5-${id}-instruct`,
      hubId: instruct,
      displayName: `Qwen2.5-${q.size}-Instruct`,
      architecture: arch(q.maxPosInstruct),
      tokenizer: "qwen2",
      specialTokens: { bos: null, eos: QWEN_IM_END, pad: QWEN_ENDOFTEXT },
      source: hubConfig(instruct),
      ...(q.publishedTotal === null ? {} : { publishedTotalParameters: q.publishedTotal }),
    },
  ];
}

interface LlamaSize {
  repo: string;
  idBase: string;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  intermediateSize: number;
  headDim: number;
  tie: boolean;
  /** rope_scaling.factor: 32 for Llama 3.2, 8 for Llama 3.1. */
  ropeFactor: number;
  publishedTotal: number;
}

// Llama 3.1/3.2 configs: 8 KV heads, vocab 128256, rope_theta 500000, rms_norm_eps 1e-5, no
// attention bias, 131072 positions with rope_scaling {rope_type "llama3", factor, low_freq_factor
// 1, high_freq_factor 4, original_max_position_embeddings 8192}. The hub repos are gated; the
// values were checked against verbatim config dumps (meta-llama/Llama-3.2-1B-Instruct,
// Llama-3.2-3B, Meta-Llama-3.1-8B-Instruct) in public code.
const LLAMA: LlamaSize[] = [
  {
    repo: "meta-llama/Llama-3.2-1B",
    idBase: "llama-3.2-1b",
    hiddenSize: 2048,
    numLayers: 16,
    numHeads: 32,
    intermediateSize: 8192,
    headDim: 64,
    tie: true,
    ropeFactor: 32,
    publishedTotal: 1.23e9,
  },
  {
    repo: "meta-llama/Llama-3.2-3B",
    idBase: "llama-3.2-3b",
    hiddenSize: 3072,
    numLayers: 28,
    numHeads: 24,
    intermediateSize: 8192,
    headDim: 128,
    tie: true,
    ropeFactor: 32,
    publishedTotal: 3.21e9,
  },
  {
    repo: "meta-llama/Llama-3.1-8B",
    idBase: "llama-3.1-8b",
    hiddenSize: 4096,
    numLayers: 32,
    numHeads: 32,
    intermediateSize: 14336,
    headDim: 128,
    tie: false,
    ropeFactor: 8,
    publishedTotal: 8.03e9,
  },
];

function llamaEntries(l: LlamaSize): ModelEntry[] {
  const architecture: ModelArchitecture = {
    modelType: "llama",
    hiddenSize: l.hiddenSize,
    numLayers: l.numLayers,
    numHeads: l.numHeads,
    numKvHeads: 8,
    headDim: l.headDim,
    intermediateSize: l.intermediateSize,
    vocabSize: 128256,
    tieWordEmbeddings: l.tie,
    ropeTheta: 500_000,
    ropeScaling: {
      rope_type: "llama3",
      factor: l.ropeFactor,
      low_freq_factor: 1,
      high_freq_factor: 4,
      original_max_position_embeddings: 8192,
    },
    qkvBias: false,
    maxPositionEmbeddings: 131072,
    rmsNormEps: 1e-5,
    hiddenAct: "silu",
  };
  const name = l.repo.split("/")[1] ?? l.repo;
  return [
    {
      id: l.idBase,
      hubId: l.repo,
      displayName: name,
      architecture,
      tokenizer: "llama3",
      specialTokens: { bos: LLAMA_BOS, eos: LLAMA_END_OF_TEXT, pad: LLAMA_PAD },
      source: hubConfig(l.repo),
      publishedTotalParameters: l.publishedTotal,
    },
    {
      id: `${l.idBase}-instruct`,
      hubId: `${l.repo}-Instruct`,
      displayName: `${name}-Instruct`,
      architecture,
      tokenizer: "llama3",
      specialTokens: { bos: LLAMA_BOS, eos: LLAMA_EOT, pad: LLAMA_PAD },
      source: hubConfig(`${l.repo}-Instruct`),
      publishedTotalParameters: l.publishedTotal,
    },
  ];
}

interface Qwen3Size {
  size: string;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  intermediateSize: number;
  tie: boolean;
  /** "Number of Parameters (Non-Embedding)" on the model card, in billions as published. */
  publishedNonEmbedding: number;
}

// Qwen3 configs (Qwen/Qwen3-*): 8 KV heads, head_dim 128 (not hidden / heads), vocab 151936,
// rope_theta 1e6, rms_norm_eps 1e-6, 40960 positions, no attention bias (q/k RMSNorm instead).
// Checked against public copies of the configs (levanter's qwen3 size table, Qwen3-4B and
// Qwen3-Embedding-8B config.json dumps). The cards publish totals to 0.1 B only (0.6, 1.7, 4.0,
// 8.2), so the test checks the non-embedding counts they publish to 0.01 B.
export const QWEN3: Qwen3Size[] = [
  {
    size: "0.6B",
    hiddenSize: 1024,
    numLayers: 28,
    numHeads: 16,
    intermediateSize: 3072,
    tie: true,
    publishedNonEmbedding: 0.44,
  },
  {
    size: "1.7B",
    hiddenSize: 2048,
    numLayers: 28,
    numHeads: 16,
    intermediateSize: 6144,
    tie: true,
    publishedNonEmbedding: 1.4,
  },
  {
    size: "4B",
    hiddenSize: 2560,
    numLayers: 36,
    numHeads: 32,
    intermediateSize: 9728,
    tie: true,
    publishedNonEmbedding: 3.6,
  },
  {
    size: "8B",
    hiddenSize: 4096,
    numLayers: 36,
    numHeads: 32,
    intermediateSize: 12288,
    tie: false,
    publishedNonEmbedding: 6.95,
  },
  // 14B and 32B: Qwen3-14B and Qwen3-32B config.json as dumped in public code; cards: 13.2 B and 31.2 B non-embedding.
  {
    size: "14B",
    hiddenSize: 5120,
    numLayers: 40,
    numHeads: 40,
    intermediateSize: 17408,
    tie: false,
    publishedNonEmbedding: 13.2,
  },
  {
    size: "32B",
    hiddenSize: 5120,
    numLayers: 64,
    numHeads: 64,
    intermediateSize: 25600,
    tie: false,
    publishedNonEmbedding: 31.2,
  },
];

function qwen3Entry(q: Qwen3Size): ModelEntry {
  const hubId = `Qwen/Qwen3-${q.size}`;
  return {
    id: `qwen3-${q.size.toLowerCase()}`,
    hubId,
    displayName: `Qwen3-${q.size}`,
    architecture: {
      modelType: "qwen3",
      hiddenSize: q.hiddenSize,
      numLayers: q.numLayers,
      numHeads: q.numHeads,
      numKvHeads: 8,
      headDim: 128,
      intermediateSize: q.intermediateSize,
      vocabSize: 151936,
      tieWordEmbeddings: q.tie,
      ropeTheta: 1_000_000,
      ropeScaling: null,
      qkvBias: false,
      maxPositionEmbeddings: 40960,
      rmsNormEps: 1e-6,
      hiddenAct: "silu",
      slidingWindow: null,
    },
    // Qwen3 keeps the Qwen2 tokenizer's vocabulary and special tokens; the released models are
    // chat models whose turns end with <|im_end|>.
    tokenizer: "qwen2",
    specialTokens: { bos: null, eos: QWEN_IM_END, pad: QWEN_ENDOFTEXT },
    source: hubConfig(hubId),
  };
}

/**
 * Facts the architecture reader (hfconfig.ts) fills in for every family: entries of the families
 * below spell them out, so that each equals `architectureFromHfConfig` of its config.json exactly
 * (models.test.ts checks this against the copies in fixtures/hf-configs.ts).
 */
const NO_SOFTCAPPING = { attnLogitSoftcapping: null, finalLogitSoftcapping: null } as const;

/**
 * Mistral v0.3 tokenizer (SentencePiece with byte fallback, v3 control tokens): `<unk>` 0, `<s>` 1
 * (bos, put before every record), `</s>` 2: the eos of the base model and of the instruct model,
 * whose assistant turns end with it (`[INST] … [/INST] answer</s>`). It defines no pad token. Like
 * Llama's, we pad with a token that never occurs in text: `<unk>` 0, which byte fallback never
 * produces, so padding cannot be mistaken for a real eos. (bos 1 and eos 2 are in the config.json
 * copy; `<unk>` 0 is the SentencePiece layout Mistral shares with Llama 2, not seen in a v0.3 dump.)
 */
const MISTRAL_UNK = 0;
const MISTRAL_BOS = 1;
const MISTRAL_EOS = 2;

// Mistral-7B-v0.3 is Mistral-7B-v0.2 with the vocabulary extended to 32768 (its model card): head_dim
// 128, rope_theta 1e6, no sliding window, 32768 positions, rms_norm_eps 1e-5, untied. Checked against
// a verbatim copy of Mistral-7B-Instruct-v0.3's config.json in public code (fixtures:
// "mistral-7b-instruct-v0.3"); the base model's own config.json was seen only in part (vocab,
// hidden, layers, heads, intermediate, positions, untied: a public dump), the rest is taken to equal
// the instruct model's, which the card calls a fine-tune of it. Total 7,248,023,552, as keras-hub's
// mistral_0.3_7b_en preset, the hub's safetensors total and llama.cpp's count of the GGUF conversion
// give it (models.test.ts checks the exact count). No publishedTotalParameters: the model cards
// publish no parameter count.
const MISTRAL_V03: ModelArchitecture = {
  modelType: "mistral",
  hiddenSize: 4096,
  numLayers: 32,
  numHeads: 32,
  numKvHeads: 8,
  headDim: 128,
  intermediateSize: 14336,
  vocabSize: 32768,
  tieWordEmbeddings: false,
  ropeTheta: 1_000_000,
  ropeScaling: null,
  qkvBias: false,
  maxPositionEmbeddings: 32768,
  rmsNormEps: 1e-5,
  hiddenAct: "silu",
  slidingWindow: null,
  ...NO_SOFTCAPPING,
};

function mistralEntries(): ModelEntry[] {
  const base = "mistralai/Mistral-7B-v0.3";
  const instruct = "mistralai/Mistral-7B-Instruct-v0.3";
  const specialTokens = { bos: MISTRAL_BOS, eos: MISTRAL_EOS, pad: MISTRAL_UNK };
  return [
    {
      id: "mistral-7b-v0.3",
      hubId: base,
      displayName: "Mistral-7B-v0.3",
      architecture: MISTRAL_V03,
      tokenizer: null,
      specialTokens,
      source: hubConfig(base),
    },
    {
      id: "mistral-7b-instruct-v0.3",
      hubId: instruct,
      displayName: "Mistral-7B-Instruct-v0.3",
      architecture: MISTRAL_V03,
      tokenizer: null,
      specialTokens,
      source: hubConfig(instruct),
    },
  ];
}

/**
 * Gemma tokenizers (Gemma 2 and Gemma 3 alike): `<pad>` 0, `<eos>` 1, `<bos>` 2 (put before every
 * record; the configs' bos/eos/pad_token_id). Base models end documents with `<eos>`; the -it models
 * end each turn with `<end_of_turn>`: id 107 in Gemma 2's 256000-token vocabulary (`<start_of_turn>`
 * 106), 106 in Gemma 3's 262144-token one (`<start_of_turn>` 105; gemma-3-1b-it's config lists eos
 * [1, 106]). Checked against public token tables of both tokenizers.
 */
const GEMMA_PAD = 0;
const GEMMA_EOS = 1;
const GEMMA_BOS = 2;
const GEMMA2_END_OF_TURN = 107;
const GEMMA3_END_OF_TURN = 106;

interface Gemma2Size {
  size: string;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  intermediateSize: number;
  /** The technical report's total (its Table 2, rounded to 0.01 B; see below). */
  publishedTotal: number;
}

// Gemma 2 configs (google/gemma-2-*): head_dim 256, vocab 256000, tied embeddings, rope_theta 10000,
// 8192 positions, rms_norm_eps 1e-6, tanh-GELU, sliding window 4096 on alternate layers, attention
// logits soft-capped at 50 and final logits at 30. Checked against verbatim copies of gemma-2-2b's and
// gemma-2-9b's config.json in public code (fixtures) and maxtext's hf_model_configs.py; the -it
// configs share the architecture. The technical report's Table 2 counts 2,024,517,888 (2B) and
// 8,324,201,984 (9B) non-embedding parameters, exactly what these facts give; its embedding counts
// use a 256,128-row vocabulary, the released checkpoints 256,000 rows, so the totals counted here
// (2,614,341,888 and 9,241,705,984, exactly keras-hub's gemma2_2b_en / gemma2_9b_en presets) are
// 0.3 M and 0.5 M below the report's: 2.61 B and 9.24 B alike.
const GEMMA2: Gemma2Size[] = [
  {
    size: "2b",
    hiddenSize: 2304,
    numLayers: 26,
    numHeads: 8,
    numKvHeads: 4,
    intermediateSize: 9216,
    publishedTotal: 2.61e9,
  },
  {
    size: "9b",
    hiddenSize: 3584,
    numLayers: 42,
    numHeads: 16,
    numKvHeads: 8,
    intermediateSize: 14336,
    publishedTotal: 9.24e9,
  },
];

function gemma2Entries(g: Gemma2Size): ModelEntry[] {
  const architecture: ModelArchitecture = {
    modelType: "gemma2",
    hiddenSize: g.hiddenSize,
    numLayers: g.numLayers,
    numHeads: g.numHeads,
    numKvHeads: g.numKvHeads,
    headDim: 256,
    intermediateSize: g.intermediateSize,
    vocabSize: 256000,
    tieWordEmbeddings: true,
    ropeTheta: 10000,
    ropeScaling: null,
    qkvBias: false,
    maxPositionEmbeddings: 8192,
    rmsNormEps: 1e-6,
    hiddenAct: "gelu_pytorch_tanh",
    slidingWindow: 4096,
    attnLogitSoftcapping: 50,
    finalLogitSoftcapping: 30,
  };
  const base = `google/gemma-2-${g.size}`;
  const it = `${base}-it`;
  return [
    {
      id: `gemma-2-${g.size}`,
      hubId: base,
      displayName: `gemma-2-${g.size}`,
      architecture,
      tokenizer: null,
      specialTokens: { bos: GEMMA_BOS, eos: GEMMA_EOS, pad: GEMMA_PAD },
      source: hubConfig(base),
      publishedTotalParameters: g.publishedTotal,
    },
    {
      id: `gemma-2-${g.size}-it`,
      hubId: it,
      displayName: `gemma-2-${g.size}-it`,
      architecture,
      tokenizer: null,
      specialTokens: { bos: GEMMA_BOS, eos: GEMMA2_END_OF_TURN, pad: GEMMA_PAD },
      source: hubConfig(it),
      publishedTotalParameters: g.publishedTotal,
    },
  ];
}

// Gemma 3 1B (google/gemma-3-1b-pt, -1b-it): a text-only Gemma3ForCausalLM (model_type
// gemma3_text): head_dim 256, one KV head, vocab 262144, tied, rope_theta 1e6 (global layers; the
// local layers' 10000 is not modelled), 32768 positions, rms_norm_eps 1e-6, sliding window 512 on
// five of every six layers, q/k RMSNorm and no soft-capping. Checked against a verbatim copy of
// gemma-3-1b-it's config.json in public code (fixtures: "gemma-3-1b-it"; the -pt config has the same
// architecture). Total 999,885,952 (keras-hub's gemma3_1b preset); the technical report's Table 1
// gives 302 M embedding + 698 M non-embedding = 1.00 B.
// Gemma 3 4B, 12B and 27B are left out: they are image-text models (Gemma3ForConditionalGeneration,
// model_type gemma3: the language model's config nested in text_config beside a SigLIP vision tower
// of 417 M parameters), while the catalog holds text-only causal LMs whose facts describe the whole
// checkpoint. Plan one from a cached snapshot instead (hfconfig.ts reads its text_config, the
// language model only).
const GEMMA3_1B: ModelArchitecture = {
  modelType: "gemma3_text",
  hiddenSize: 1152,
  numLayers: 26,
  numHeads: 4,
  numKvHeads: 1,
  headDim: 256,
  intermediateSize: 6912,
  vocabSize: 262144,
  tieWordEmbeddings: true,
  ropeTheta: 1_000_000,
  ropeScaling: null,
  qkvBias: false,
  maxPositionEmbeddings: 32768,
  rmsNormEps: 1e-6,
  hiddenAct: "gelu_pytorch_tanh",
  slidingWindow: 512,
  ...NO_SOFTCAPPING,
};

function gemma3Entries(): ModelEntry[] {
  const pt = "google/gemma-3-1b-pt";
  const it = "google/gemma-3-1b-it";
  return [
    {
      id: "gemma-3-1b-pt",
      hubId: pt,
      displayName: "gemma-3-1b-pt",
      architecture: GEMMA3_1B,
      tokenizer: null,
      specialTokens: { bos: GEMMA_BOS, eos: GEMMA_EOS, pad: GEMMA_PAD },
      source: hubConfig(pt),
      publishedTotalParameters: 1.0e9,
    },
    {
      id: "gemma-3-1b-it",
      hubId: it,
      displayName: "gemma-3-1b-it",
      architecture: GEMMA3_1B,
      tokenizer: null,
      specialTokens: { bos: GEMMA_BOS, eos: GEMMA3_END_OF_TURN, pad: GEMMA_PAD },
      source: hubConfig(it),
      publishedTotalParameters: 1.0e9,
    },
  ];
}

/**
 * Phi-3-mini (Llama 2's SentencePiece vocabulary plus chat tokens): `<s>` 1 is bos, `<|endoftext|>`
 * 32000 is the config's eos and pad token, `<|end|>` 32007 ends each chat turn (`<|user|>` 32010,
 * `<|assistant|>` 32001). Only the instruct model is released, so its eos is the turn end, as for the
 * Qwen and Llama instruct entries, and it pads with `<|endoftext|>`.
 * Phi-4 (a tiktoken-style BPE of cl100k's family): no bos is added, `<|endoftext|>` 100257 is the
 * config's bos/eos/pad token (first release), `<|im_end|>` 100265 ends each chat turn
 * (`<|im_start|>` 100264, `<|im_sep|>` 100266). microsoft/phi-4 is the chat model: eos 100265, pad
 * 100257. Later tokenizer revisions may pad with `<|dummy_85|>` 100349, as Phi-4-reasoning does;
 * that revision was not seen.
 */
const PHI3_BOS = 1;
const PHI3_ENDOFTEXT = 32000;
const PHI3_END = 32007;
const PHI4_ENDOFTEXT = 100257;
const PHI4_IM_END = 100265;

// microsoft/Phi-3-mini-4k-instruct: hidden 3072, 32 layers, 32 heads and 32 KV heads (head_dim 96),
// intermediate 8192, vocab 32064, untied, rope_theta 10000, no rope_scaling, 4096 positions,
// rms_norm_eps 1e-5, sliding_window 2047. Verbatim copies of its config.json are in public code (the
// fixture "phi-3-mini-4k"; TensorRT-LLM's test config). Total 3,821,079,552 (keras-hub's
// phi3_mini_4k_instruct_en preset, and the hub's safetensors total). No publishedTotalParameters:
// the card and the technical report say 3.8 B, 0.02 B off. The released weights fuse q/k/v into
// qkv_proj and gate/up into gate_up_proj: the same parameters, counted here as the seven projections.
const PHI3_MINI_4K: ModelArchitecture = {
  modelType: "phi3",
  hiddenSize: 3072,
  numLayers: 32,
  numHeads: 32,
  numKvHeads: 32,
  headDim: 96,
  intermediateSize: 8192,
  vocabSize: 32064,
  tieWordEmbeddings: false,
  ropeTheta: 10000,
  ropeScaling: null,
  qkvBias: false,
  maxPositionEmbeddings: 4096,
  rmsNormEps: 1e-5,
  hiddenAct: "silu",
  slidingWindow: 2047,
  ...NO_SOFTCAPPING,
};

// microsoft/phi-4 (model_type phi3): hidden 5120, 40 layers, 40 heads, 10 KV heads (head_dim 128),
// intermediate 17920, vocab 100352, untied, rope_theta 250000, no rope_scaling, 16384 positions,
// rms_norm_eps 1e-5, no sliding window. Checked against a verbatim copy of its first release's
// config.json in public code (fixtures: "phi-4"). Total 14,659,507,200: the hub's safetensors count
// and llama.cpp's count of the GGUF conversion. No publishedTotalParameters: the card and the
// technical report say 14 B (the count test checks the exact total instead).
const PHI4: ModelArchitecture = {
  modelType: "phi3",
  hiddenSize: 5120,
  numLayers: 40,
  numHeads: 40,
  numKvHeads: 10,
  headDim: 128,
  intermediateSize: 17920,
  vocabSize: 100352,
  tieWordEmbeddings: false,
  ropeTheta: 250_000,
  ropeScaling: null,
  qkvBias: false,
  maxPositionEmbeddings: 16384,
  rmsNormEps: 1e-5,
  hiddenAct: "silu",
  slidingWindow: null,
  ...NO_SOFTCAPPING,
};

function phiEntries(): ModelEntry[] {
  const mini = "microsoft/Phi-3-mini-4k-instruct";
  const phi4 = "microsoft/phi-4";
  return [
    {
      id: "phi-3-mini-4k-instruct",
      hubId: mini,
      displayName: "Phi-3-mini-4k-instruct",
      architecture: PHI3_MINI_4K,
      tokenizer: null,
      specialTokens: { bos: PHI3_BOS, eos: PHI3_END, pad: PHI3_ENDOFTEXT },
      source: hubConfig(mini),
    },
    {
      id: "phi-4",
      hubId: phi4,
      displayName: "phi-4",
      architecture: PHI4,
      tokenizer: null,
      specialTokens: { bos: null, eos: PHI4_IM_END, pad: PHI4_ENDOFTEXT },
      source: hubConfig(phi4),
    },
  ];
}

/**
 * A two-layer Qwen2-shaped model with the real Qwen vocabulary (so the real tokenizer and data
 * pipeline apply) but tiny everything else: trains in seconds on a CPU. No published weights.
 */
const TINY_QWEN2: ModelEntry = {
  id: "tiny-qwen2",
  hubId: null,
  displayName: "tiny-qwen2 (2 layers, hidden 64; CPU test model)",
  architecture: {
    modelType: "qwen2",
    hiddenSize: 64,
    numLayers: 2,
    numHeads: 4,
    numKvHeads: 2,
    headDim: 16,
    intermediateSize: 128,
    vocabSize: 151936,
    tieWordEmbeddings: true,
    ropeTheta: 1_000_000,
    ropeScaling: null,
    qkvBias: true,
    maxPositionEmbeddings: 32768,
    rmsNormEps: 1e-6,
    hiddenAct: "silu",
  },
  tokenizer: "qwen2",
  specialTokens: { bos: null, eos: QWEN_ENDOFTEXT, pad: QWEN_ENDOFTEXT },
  source: "loraprof: a Qwen2 architecture scaled down for CPU tests (Qwen2.5 vocabulary and RoPE settings)",
};

export const MODELS: readonly ModelEntry[] = [
  TINY_QWEN2,
  ...QWEN25.flatMap(qwenEntries),
  ...LLAMA.flatMap(llamaEntries),
  ...QWEN3.map(qwen3Entry),
  ...mistralEntries(),
  ...GEMMA2.flatMap(gemma2Entries),
  ...gemma3Entries(),
  ...phiEntries(),
];

/** Finds a model by catalog id or hub id, case-insensitively; undefined when unknown. */
export function findModel(idOrHubId: string): ModelEntry | undefined {
  const key = idOrHubId.trim().toLowerCase();
  return MODELS.find((m) => m.id === key || (m.hubId !== null && m.hubId.toLowerCase() === key));
}

/** Like findModel, but an unknown name is a MODEL_NOT_FOUND error that lists the catalog. */
export function requireModel(idOrHubId: string, field = "model"): ModelEntry {
  const found = findModel(idOrHubId);
  if (found) return found;
  throw new LoraprofError("MODEL_NOT_FOUND", `no model "${idOrHubId}" in the catalog`, {
    problems: [
      {
        field,
        message: `"${idOrHubId}" is neither a catalog id nor a catalogued hub id`,
        hint: `use one of ${MODELS.map((m) => m.id).join(", ")}`,
      },
    ],
  });
}
