import { describe, expect, it } from "vitest";
import { LoraprofError } from "../util/errors.js";
import { HF_CONFIGS } from "./fixtures/hf-configs.js";
import { architectureFromHfConfig } from "./hfconfig.js";
import { findModel, MODELS, QWEN3, requireModel } from "./models.js";
import { countLoraParameters, countParameters, resolveTargetModules } from "./params.js";

const model = (id: string) => {
  const m = findModel(id);
  if (!m) throw new Error(`missing ${id}`);
  return m;
};

describe("model catalog", () => {
  it("gives every catalog id exactly once", () => {
    const ids = MODELS.map((m) => m.id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it.each(MODELS.filter((m) => m.publishedTotalParameters !== undefined).map((m) => [m.id, m] as const))(
    "counts %s's parameters to the model card's total (published to 0.01 B, rounded or truncated)",
    (_id, m) => {
      const total = countParameters(m.architecture).total;
      expect(Math.abs(total - m.publishedTotalParameters!)).toBeLessThan(0.01e9);
    },
  );

  it("counts Qwen2.5-1.5B at 1.54 B, 0.5B at 0.49 B and Llama-3.1-8B at 8.03 B", () => {
    expect(countParameters(model("qwen2.5-1.5b").architecture).total / 1e9).toBeCloseTo(1.54, 2);
    expect(countParameters(model("qwen2.5-0.5b-instruct").architecture).total / 1e9).toBeCloseTo(0.49, 2);
    expect(countParameters(model("llama-3.1-8b").architecture).total / 1e9).toBeCloseTo(8.03, 2);
  });

  it("keeps head dimension × heads consistent with the hidden size for every catalogued model", () => {
    for (const m of MODELS) {
      const a = m.architecture;
      expect(a.numHeads % a.numKvHeads).toBe(0);
      // Qwen3 sets head_dim 128 regardless of the hidden size (Qwen3-0.6B: 16 × 128 = 2048 ≠ 1024),
      // Gemma 2/3 set 256 (gemma-2-2b: 8 × 256 = 2048 ≠ 2304).
      const ownHeadDim = ["qwen3", "gemma2", "gemma3_text"].includes(a.modelType);
      if (!ownHeadDim) expect(a.numHeads * a.headDim).toBe(a.hiddenSize);
    }
  });

  it("finds a model by catalog id or hub id, ignoring case", () => {
    expect(findModel("Qwen2.5-1.5B-Instruct")?.hubId).toBe("Qwen/Qwen2.5-1.5B-Instruct");
    expect(findModel("qwen/qwen2.5-1.5b-instruct")?.id).toBe("qwen2.5-1.5b-instruct");
    expect(findModel("meta-llama/Llama-3.1-8B-Instruct")?.id).toBe("llama-3.1-8b-instruct");
    expect(findModel("nope")).toBeUndefined();
  });

  it("uses <|im_end|> as the eos of Qwen instruct models and <|endoftext|> for the base ones", () => {
    expect(model("qwen2.5-1.5b-instruct").specialTokens).toEqual({ bos: null, eos: 151645, pad: 151643 });
    expect(model("qwen2.5-1.5b").specialTokens.eos).toBe(151643);
  });

  it("pads Llama with a reserved token distinct from eos", () => {
    for (const id of ["llama-3.2-1b", "llama-3.2-1b-instruct", "llama-3.1-8b-instruct"]) {
      const t = model(id).specialTokens;
      expect(t.pad).not.toBe(t.eos);
      expect(t.bos).toBe(128000);
    }
    expect(model("llama-3.1-8b-instruct").specialTokens.eos).toBe(128009);
  });

  it("names the field and the catalog when a model is unknown", () => {
    try {
      requireModel("gpt-5");
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(LoraprofError);
      const e = err as LoraprofError;
      expect(e.code).toBe("MODEL_NOT_FOUND");
      expect(e.problems[0]?.field).toBe("model");
      expect(e.problems[0]?.hint).toContain("qwen2.5-1.5b-instruct");
    }
  });
});

describe("LoRA parameter counting", () => {
  it("counts r·(in+out) over the seven projections of every layer for all-linear", () => {
    const a = model("qwen2.5-1.5b-instruct").architecture;
    // per layer: q 1536+1536, k 1536+256, v 1536+256, o 1536+1536, gate/up 1536+8960 each, down 8960+1536
    const perLayer = 16 * (3072 + 1792 + 1792 + 3072 + 10496 * 3);
    expect(countLoraParameters(a, 16, "all-linear")).toBe(perLayer * 28);
  });

  it("rejects an unknown target module naming lora.targetModules", () => {
    expect(() => resolveTargetModules(["q_proj", "qkv"])).toThrow(/qkv/);
    try {
      resolveTargetModules(["lm_head"]);
    } catch (err) {
      expect((err as LoraprofError).problems[0]?.field).toBe("lora.targetModules");
    }
  });
});

describe("Qwen3 entries", () => {
  it.each(QWEN3.map((q) => [q.size, q] as const))(
    "Qwen3-%s's non-embedding count matches the model card's",
    (size, q) => {
      const c = countParameters(findModel(`qwen3-${size.toLowerCase()}`)!.architecture);
      const nonEmbedding = c.total - c.embedding - c.lmHead;
      // The cards round to 0.01 B (6.95) or 0.1 B (1.4, 3.6).
      const step = Number.isInteger(q.publishedNonEmbedding * 10) ? 0.05e9 : 0.005e9;
      expect(Math.abs(nonEmbedding - q.publishedNonEmbedding * 1e9)).toBeLessThanOrEqual(step);
    },
  );

  it("Qwen3-8B totals 8.19 B, as the reader counts it from its config.json", () => {
    expect(countParameters(findModel("Qwen/Qwen3-8B")!.architecture).total / 1e9).toBeCloseTo(8.19, 2);
  });
});

describe("Mistral, Gemma and Phi entries", () => {
  /**
   * Exact totals of the published checkpoints, found in public code: keras-hub's preset metadata
   * (mistral_0.3_7b_en, gemma2_2b_en, gemma2_9b_en, gemma3_1b, phi3_mini_4k_instruct_en) and, for
   * phi-4, the hub's safetensors total and llama.cpp's GGUF parameter_count.
   */
  const EXACT: [string, number][] = [
    ["mistral-7b-v0.3", 7_248_023_552],
    ["mistral-7b-instruct-v0.3", 7_248_023_552],
    ["gemma-2-2b", 2_614_341_888],
    ["gemma-2-2b-it", 2_614_341_888],
    ["gemma-2-9b", 9_241_705_984],
    ["gemma-2-9b-it", 9_241_705_984],
    ["gemma-3-1b-pt", 999_885_952],
    ["gemma-3-1b-it", 999_885_952],
    ["phi-3-mini-4k-instruct", 3_821_079_552],
    ["phi-4", 14_659_507_200],
  ];

  it.each(EXACT)("counts %s's parameters exactly as its published checkpoint holds them", (id, total) => {
    expect(countParameters(model(id).architecture).total).toBe(total);
  });

  /** Catalog entries whose config.json is copied in fixtures/hf-configs.ts. */
  const FROM_CONFIG: [string, keyof typeof HF_CONFIGS][] = [
    ["mistral-7b-v0.3", "mistral-7b-instruct-v0.3"],
    ["mistral-7b-instruct-v0.3", "mistral-7b-instruct-v0.3"],
    ["gemma-2-2b", "gemma-2-2b"],
    ["gemma-2-2b-it", "gemma-2-2b"],
    ["gemma-2-9b", "gemma-2-9b"],
    ["gemma-2-9b-it", "gemma-2-9b"],
    ["gemma-3-1b-pt", "gemma-3-1b-it"],
    ["gemma-3-1b-it", "gemma-3-1b-it"],
    ["phi-3-mini-4k-instruct", "phi-3-mini-4k"],
    ["phi-4", "phi-4"],
  ];

  it.each(FROM_CONFIG)("%s's facts are what the reader makes of config.json (%s)", (id, fixture) => {
    expect(model(id).architecture).toEqual(architectureFromHfConfig(HF_CONFIGS[fixture], fixture));
  });

  it("ships no tokenizer for these families, and names each model's hub repo and config", () => {
    for (const [id] of EXACT) {
      const m = model(id);
      expect(m.tokenizer).toBeNull();
      expect(m.source).toBe(`https://huggingface.co/${m.hubId}/blob/main/config.json`);
    }
  });

  it("uses each tokenizer's own ids: turn ends as the eos of chat models, pad never a real eos", () => {
    expect(model("mistral-7b-v0.3").specialTokens).toEqual({ bos: 1, eos: 2, pad: 0 });
    expect(model("mistral-7b-instruct-v0.3").specialTokens).toEqual({ bos: 1, eos: 2, pad: 0 });
    expect(model("gemma-2-9b").specialTokens).toEqual({ bos: 2, eos: 1, pad: 0 });
    expect(model("gemma-2-2b-it").specialTokens).toEqual({ bos: 2, eos: 107, pad: 0 });
    expect(model("gemma-3-1b-pt").specialTokens).toEqual({ bos: 2, eos: 1, pad: 0 });
    expect(model("gemma-3-1b-it").specialTokens).toEqual({ bos: 2, eos: 106, pad: 0 });
    expect(model("phi-3-mini-4k-instruct").specialTokens).toEqual({ bos: 1, eos: 32007, pad: 32000 });
    expect(model("phi-4").specialTokens).toEqual({ bos: null, eos: 100265, pad: 100257 });
  });

  it("finds them by hub id too", () => {
    expect(findModel("google/gemma-2-2b-it")?.id).toBe("gemma-2-2b-it");
    expect(findModel("mistralai/Mistral-7B-Instruct-v0.3")?.id).toBe("mistral-7b-instruct-v0.3");
    expect(findModel("microsoft/phi-4")?.id).toBe("phi-4");
  });
});
