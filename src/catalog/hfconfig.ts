/**
 * Architecture facts from a Hugging Face `config.json`, for models outside the catalog: a local
 * model folder, or a hub id whose snapshot is already in the Hugging Face cache (nothing is
 * downloaded, so `plan` stays offline). Keys a config leaves out take transformers' defaults for
 * that config class, written out per family below, because published configs do rely on them
 * (Gemma 3's multimodal configs list only a few text_config keys).
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, resolve as resolvePath } from "node:path";
import { LoraprofError } from "../util/errors.js";
import { huggingfaceHubCache } from "../util/paths.js";
import { MODEL_TYPES, type ModelType } from "../protocol/vocabulary.js";
import { findModel } from "./models.js";
import type { ModelArchitecture, ModelEntry } from "./types.js";

type Json = Record<string, unknown>;

/** The defaults LlamaConfig, Qwen2Config, Qwen3Config, MistralConfig and Phi3Config share. */
const SILU_DECODER: Json = {
  rope_theta: 10000,
  rms_norm_eps: 1e-6,
  tie_word_embeddings: false,
  hidden_act: "silu",
};
/** transformers' defaults for keys a config.json may omit, per config class (configuration_*.py). */
const DEFAULTS: Record<ModelType, Json> = {
  llama: { ...SILU_DECODER, attention_bias: false },
  qwen2: { ...SILU_DECODER, use_sliding_window: false },
  qwen3: { ...SILU_DECODER, attention_bias: false },
  mistral: { ...SILU_DECODER, sliding_window: 4096 },
  phi3: { ...SILU_DECODER, rms_norm_eps: 1e-5 },
  gemma2: {
    rope_theta: 10000,
    rms_norm_eps: 1e-6,
    tie_word_embeddings: true,
    head_dim: 256,
    hidden_activation: "gelu_pytorch_tanh",
    sliding_window: 4096,
    attn_logit_softcapping: 50,
    final_logit_softcapping: 30,
  },
  gemma3_text: {
    vocab_size: 262208,
    hidden_size: 2304,
    intermediate_size: 9216,
    num_hidden_layers: 26,
    num_attention_heads: 8,
    num_key_value_heads: 4,
    head_dim: 256,
    max_position_embeddings: 131072,
    rope_theta: 1_000_000,
    rms_norm_eps: 1e-6,
    tie_word_embeddings: true,
    hidden_activation: "gelu_pytorch_tanh",
    sliding_window: 4096,
    attn_logit_softcapping: null,
    final_logit_softcapping: null,
  },
};

const FAMILIES =
  "Llama (llama), Qwen2/2.5 (qwen2), Qwen3 (qwen3), Mistral (mistral), Gemma 2 (gemma2), Gemma 3 (gemma3, gemma3_text), Phi-3/4 (phi3)";

function bad(source: string, field: string, message: string, hint: string): LoraprofError {
  return new LoraprofError("CONFIG_INVALID", `${source}: ${message}`, {
    problems: [{ field, message, hint }],
  });
}

/** Architecture facts from a parsed config.json; `source` names it in errors. */
export function architectureFromHfConfig(raw: unknown, source: string): ModelArchitecture {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw bad(
      source,
      "model",
      "config.json is not a JSON object",
      "point --model at a Hugging Face model folder",
    );
  }
  let cfg = raw as Json;
  // Gemma 3 4B and up are image-text models: the language model's config is nested.
  if (
    cfg["model_type"] === "gemma3" &&
    typeof cfg["text_config"] === "object" &&
    cfg["text_config"] !== null
  ) {
    cfg = { model_type: "gemma3_text", ...(cfg["text_config"] as Json) };
  }
  const type = cfg["model_type"];
  if (typeof type !== "string" || !(MODEL_TYPES as readonly string[]).includes(type)) {
    throw bad(
      source,
      "model",
      `model_type ${JSON.stringify(type ?? null)} is not a supported decoder-only family`,
      `loraprof reads ${FAMILIES}; plan an unsupported model with the closest catalog id (\`loraprof models\`)`,
    );
  }
  const modelType = type as ModelType;
  const c: Json = { ...DEFAULTS[modelType] };
  // A null in the config means "none" for these keys and "the default" for the others (head_dim).
  const nullMeansNone = new Set(["sliding_window", "attn_logit_softcapping", "final_logit_softcapping"]);
  for (const [k, v] of Object.entries(cfg)) if (v !== null || !(k in c) || nullMeansNone.has(k)) c[k] = v;

  const positive = (key: string, integer: boolean, fallback?: number): number => {
    const v = c[key] ?? fallback;
    if (typeof v !== "number" || v <= 0 || (integer && !Number.isInteger(v))) {
      const what = integer ? "a positive integer" : "a positive number";
      throw bad(
        source,
        key,
        `${key} must be ${what}, got ${JSON.stringify(v ?? null)}`,
        "check the model's config.json",
      );
    }
    return v;
  };
  const int = (key: string, fallback?: number): number => positive(key, true, fallback);
  const num = (key: string): number => positive(key, false);
  const optNum = (key: string): number | null => (typeof c[key] === "number" ? (c[key] as number) : null);

  const hiddenSize = int("hidden_size");
  const numHeads = int("num_attention_heads");
  const act = c["hidden_activation"] ?? c["hidden_act"];
  if (act !== "silu" && act !== "gelu_pytorch_tanh") {
    throw bad(
      source,
      "hidden_act",
      `activation ${JSON.stringify(act ?? null)} is not supported`,
      'loraprof models SiLU ("silu") and tanh-GELU ("gelu_pytorch_tanh") MLPs; plan the closest catalog model instead (`loraprof models`)',
    );
  }
  // Llama's attention_bias also biases o_proj; the planner models q/k/v biases only (Qwen2).
  if ((modelType === "llama" || modelType === "qwen3") && c["attention_bias"] === true) {
    throw bad(
      source,
      "attention_bias",
      "attention_bias true (biases on all four attention projections) is not modelled",
      "plan the closest model without attention biases",
    );
  }
  const ropeScaling = c["rope_scaling"];
  // Phi-3's longrope scaling carries per-frequency lists; they change no count the planner makes
  // and the synthetic engine model runs plain RoPE without them.
  const scalarScaling =
    ropeScaling !== null &&
    typeof ropeScaling === "object" &&
    Object.values(ropeScaling as Json).every((v) => typeof v === "number" || typeof v === "string")
      ? (ropeScaling as Record<string, number | string>)
      : null;
  const slidingUsed =
    modelType === "qwen2" ? c["use_sliding_window"] === true : modelType !== "llama" && modelType !== "qwen3";
  const sliding =
    slidingUsed && typeof c["sliding_window"] === "number" ? (c["sliding_window"] as number) : null;

  return {
    modelType,
    hiddenSize,
    numLayers: int("num_hidden_layers"),
    numHeads,
    numKvHeads: int("num_key_value_heads", numHeads),
    headDim: int("head_dim", hiddenSize / numHeads),
    intermediateSize: int("intermediate_size"),
    vocabSize: int("vocab_size"),
    tieWordEmbeddings: c["tie_word_embeddings"] === true,
    ropeTheta: num("rope_theta"),
    ropeScaling: scalarScaling,
    qkvBias: modelType === "qwen2",
    maxPositionEmbeddings: int("max_position_embeddings"),
    rmsNormEps: num("rms_norm_eps"),
    hiddenAct: act,
    slidingWindow: sliding,
    attnLogitSoftcapping: optNum("attn_logit_softcapping"),
    finalLogitSoftcapping: optNum("final_logit_softcapping"),
  };
}

/**
 * Where a model name's config.json is: a local folder holding one, or the newest snapshot of a
 * hub id in the Hugging Face cache; null when neither exists.
 */
export function locateHfConfig(name: string, env: NodeJS.ProcessEnv = process.env): string | null {
  const dir = resolvePath(name);
  if (existsSync(dir) && statSync(dir).isDirectory()) {
    const file = join(dir, "config.json");
    return existsSync(file) ? file : null;
  }
  return locateHubSnapshotFile(name, "config.json", env);
}

/**
 * A file of a hub repository in the Hugging Face cache: `<cache>/models--owner--name/snapshots/<rev>/<file>`
 * of the newest snapshot that holds it; null when no snapshot does (nothing is downloaded).
 */
export function locateHubSnapshotFile(
  hubId: string,
  file: string,
  env: NodeJS.ProcessEnv = process.env,
): string | null {
  if (!/^[\w.-]+\/[\w.-]+$/.test(hubId)) return null;
  const snapshots = join(huggingfaceHubCache(env), `models--${hubId.replace("/", "--")}`, "snapshots");
  if (!existsSync(snapshots)) return null;
  const found = readdirSync(snapshots)
    .map((s) => join(snapshots, s, file))
    .filter((f) => existsSync(f))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  return found[0] ?? null;
}

/**
 * A model entry for planning from a config.json. Its tokenizer is only used to measure dataset
 * lengths (a run reads the folder's own tokenizer.json): Qwen2/Qwen3 and Llama 3 have an offline
 * one; the other families none (null), which plans measure with Qwen2's as a length proxy and say so
 * (catalog/tokenizer.ts `planLengthTokenizer`).
 */
export function modelFromHfConfig(name: string, file: string): ModelEntry {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    throw bad(
      file,
      "model",
      `cannot read config.json (${(e as Error).message})`,
      "point --model at a Hugging Face model folder",
    );
  }
  const architecture = architectureFromHfConfig(raw, file);
  const llama3 = architecture.modelType === "llama" && architecture.vocabSize === 128256;
  const qwen = architecture.modelType === "qwen2" || architecture.modelType === "qwen3";
  return {
    id: name,
    hubId: /^[\w.-]+\/[\w.-]+$/.test(name) && !existsSync(resolvePath(name)) ? name : null,
    displayName: name,
    architecture,
    tokenizer: llama3 ? "llama3" : qwen ? "qwen2" : null,
    specialTokens: llama3
      ? { bos: 128000, eos: 128001, pad: 128004 }
      : { bos: null, eos: 151643, pad: 151643 },
    source: file,
  };
}

/** A model by catalog id, else from a folder's or the Hugging Face cache's config.json; null when neither has it. */
export function findModelOrHfConfig(name: string): ModelEntry | null {
  const entry = findModel(name);
  if (entry) return entry;
  const file = locateHfConfig(name);
  return file ? modelFromHfConfig(name, file) : null;
}
