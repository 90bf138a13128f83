import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { HF_CONFIGS } from "./fixtures/hf-configs.js";
import { architectureFromHfConfig, locateHfConfig, modelFromHfConfig } from "./hfconfig.js";
import { findModel } from "./models.js";
import { countParameters } from "./params.js";

/**
 * Published totals from each model card (rounded as published); where the card gives none that
 * precise, the technical report's or the hub's exact safetensors count (as public dumps record it).
 */
const PUBLISHED: Record<keyof typeof HF_CONFIGS, number> = {
  "mistral-7b-v0.1": 7.24e9,
  "gemma-2-9b": 9.24e9,
  "phi-3-mini-4k": 3.82e9,
  "qwen3-8b": 8.19e9,
  "llama-3.1-8b": 8.03e9,
  // The card gives no count; the hub's safetensors total.
  "mistral-7b-instruct-v0.3": 7_248_023_552,
  // Gemma 2 report, Table 2: 590,118,912 embedding (a 256,128-row vocabulary) + 2,024,517,888.
  "gemma-2-2b": 2_614_636_800,
  // Gemma 3 report, Table 1: 302 M embedding + 698 M non-embedding.
  "gemma-3-1b-it": 1.0e9,
  // The card says 14 B; the hub's safetensors total.
  "phi-4": 14_659_507_200,
};

describe("architectureFromHfConfig", () => {
  for (const [name, cfg] of Object.entries(HF_CONFIGS)) {
    it(`${name}: the parameter total matches the published one within 0.1%`, () => {
      const arch = architectureFromHfConfig(cfg, name);
      const published = PUBLISHED[name as keyof typeof HF_CONFIGS];
      expect(Math.abs(countParameters(arch).total - published) / published).toBeLessThan(0.001);
    });
  }

  it("reads the family facts the counts and the engine need", () => {
    const gemma = architectureFromHfConfig(HF_CONFIGS["gemma-2-9b"], "g");
    expect(gemma).toMatchObject({
      modelType: "gemma2",
      headDim: 256,
      tieWordEmbeddings: true,
      hiddenAct: "gelu_pytorch_tanh",
      slidingWindow: 4096,
      attnLogitSoftcapping: 50,
      finalLogitSoftcapping: 30,
      qkvBias: false,
    });
    const mistral = architectureFromHfConfig(HF_CONFIGS["mistral-7b-v0.1"], "m");
    expect(mistral).toMatchObject({ headDim: 128, tieWordEmbeddings: false, slidingWindow: 4096 });
    const qwen3 = architectureFromHfConfig(HF_CONFIGS["qwen3-8b"], "q");
    expect(qwen3).toMatchObject({ slidingWindow: null, qkvBias: false });
  });

  it("agrees with the catalog's Llama-3.1-8B entry", () => {
    const arch = architectureFromHfConfig(HF_CONFIGS["llama-3.1-8b"], "l");
    expect(countParameters(arch).total).toBe(countParameters(findModel("llama-3.1-8b")!.architecture).total);
  });

  it("reads Gemma 3's nested text_config with transformers' defaults", () => {
    const arch = architectureFromHfConfig(
      {
        model_type: "gemma3",
        text_config: { hidden_size: 2560, num_hidden_layers: 34, intermediate_size: 10240 },
      },
      "g3",
    );
    expect(arch).toMatchObject({
      modelType: "gemma3_text",
      numHeads: 8,
      numKvHeads: 4,
      headDim: 256,
      vocabSize: 262208,
    });
  });

  it("names the supported families for an unsupported model_type", () => {
    expect(() => architectureFromHfConfig({ model_type: "gpt2" }, "x")).toThrow(/"gpt2" is not a supported/);
    try {
      architectureFromHfConfig({ model_type: "falcon" }, "x");
    } catch (e) {
      expect(JSON.stringify(e)).toMatch(/Gemma 2.*Phi-3/);
    }
  });

  it("takes transformers' SiLU where a config leaves hidden_act out, and names the field for another activation", () => {
    const { hidden_act: _a, ...rest } = HF_CONFIGS["mistral-7b-v0.1"];
    expect(architectureFromHfConfig(rest, "m").hiddenAct).toBe("silu");
    expect(() => architectureFromHfConfig({ ...rest, hidden_act: "relu" }, "m")).toThrow(
      /activation "relu" is not supported/,
    );
  });

  it("names the field when a number is missing", () => {
    const { hidden_size: _h, ...rest } = HF_CONFIGS["mistral-7b-v0.1"];
    expect(() => architectureFromHfConfig(rest, "m")).toThrow(/hidden_size must be a positive integer/);
  });
});

describe("locateHfConfig", () => {
  it("finds a local folder's config.json and a cached hub snapshot", () => {
    const root = mkdtempSync(join(tmpdir(), "hfcfg-"));
    const folder = join(root, "mistral");
    mkdirSync(folder);
    writeFileSync(join(folder, "config.json"), JSON.stringify(HF_CONFIGS["mistral-7b-v0.1"]));
    expect(locateHfConfig(folder)).toBe(join(folder, "config.json"));
    const snap = join(root, "hub", "models--google--gemma-2-9b", "snapshots", "abc");
    mkdirSync(snap, { recursive: true });
    writeFileSync(join(snap, "config.json"), JSON.stringify(HF_CONFIGS["gemma-2-9b"]));
    expect(locateHfConfig("google/gemma-2-9b", { HF_HUB_CACHE: join(root, "hub") })).toBe(
      join(snap, "config.json"),
    );
    expect(locateHfConfig("google/absent", { HF_HUB_CACHE: join(root, "hub") })).toBeNull();
    const entry = modelFromHfConfig(folder, join(folder, "config.json"));
    expect(entry.architecture.modelType).toBe("mistral");
    expect(entry.hubId).toBeNull();
    // No offline tokenizer ships for Mistral: plans take Qwen2's as a proxy and say so (catalog/tokenizer.ts).
    expect(entry.tokenizer).toBeNull();
    const qwen = join(root, "qwen3");
    mkdirSync(qwen);
    writeFileSync(join(qwen, "config.json"), JSON.stringify(HF_CONFIGS["qwen3-8b"]));
    expect(modelFromHfConfig(qwen, join(qwen, "config.json")).tokenizer).toBe("qwen2");
  });
});
