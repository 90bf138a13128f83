import { describe, expect, it } from "vitest";
import { LoraprofError } from "../util/errors.js";
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
      // Qwen3 sets head_dim 128 regardless of the hidden size (Qwen3-0.6B: 16 × 128 = 2048 ≠ 1024).
      if (a.modelType !== "qwen3") expect(a.numHeads * a.headDim).toBe(a.hiddenSize);
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
