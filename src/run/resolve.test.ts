import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { describe, expect, it } from "vitest";
import { addRunFlags, flagsToOverrides } from "../cli/flags.js";
import { loadRunConfig } from "../config/load.js";
import { LoraprofError } from "../util/errors.js";
import { RunSpecSchema, type RunSpec } from "../protocol/index.js";
import { fakeHubCache } from "../catalog/fixtures/hf-cache.js";
import {
  buildRunSpec,
  checkpointCached,
  resolveConfig,
  resolveDevice,
  resolveModel,
  runTokenizerSpec,
} from "./resolve.js";

/** The `run` command's path from argv to the engine's RunSpec, on the CPU (no GPU probe). */
async function specFromArgs(args: string[]): Promise<RunSpec> {
  const cmd = addRunFlags(new Command("run")).exitOverride();
  cmd.parse(["--device", "cpu", ...args], { from: "user" });
  const config = loadRunConfig({ overrides: flagsToOverrides(cmd.opts()) });
  const model = resolveModel(config, "/tmp/loraprof-cache");
  const choice = await resolveDevice(config, () => Promise.reject(new Error("no probe on the CPU")));
  const spec = buildRunSpec({
    runId: "r",
    config: resolveConfig(config, model, choice),
    model,
    shardDir: "/tmp/shard",
    padTokenId: 0,
  });
  return RunSpecSchema.parse(spec);
}

describe("buildRunSpec", () => {
  it("passes --loss chunked and --loss-chunk-tokens to the engine's train section", async () => {
    const spec = await specFromArgs(["--loss", "chunked", "--loss-chunk-tokens", "256"]);
    expect(spec.train.lossImplementation).toBe("chunked");
    expect(spec.train.lossChunkTokens).toBe(256);
  });

  it("keeps the full loss and 1024-token chunks unless asked", async () => {
    const spec = await specFromArgs([]);
    expect(spec.train.lossImplementation).toBe("full");
    expect(spec.train.lossChunkTokens).toBe(1024);
  });

  it("refuses an unknown loss implementation, naming the field", async () => {
    const err = await specFromArgs(["--loss", "fusedd"]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LoraprofError);
    const problem = (err as LoraprofError).problems.find((p) => p.field === "loss");
    expect(problem?.hint).toMatch(/^use full, chunked or fused/);
  });
});

describe("recipes", () => {
  it("fills the fast recipe's settings unless the config sets them", async () => {
    const fast = await specFromArgs(["--recipe", "fast"]);
    expect(fast.data.padding).toBe("packed");
    expect(fast.train).toMatchObject({
      recipe: "fast",
      lossImplementation: "fused",
      kernels: "liger",
      fusedLora: true,
      cudaGraphs: true,
      cudnnAttention: false,
    });
    expect(fast.lora.dropout).toBe(0);
    const mine = await specFromArgs(["--recipe", "fast", "--padding", "longest", "--loss", "chunked"]);
    expect(mine.data.padding).toBe("longest");
    expect(mine.train).toMatchObject({ recipe: "fast", lossImplementation: "chunked", kernels: "liger" });
    expect((await specFromArgs(["--recipe", "fast", "--cudnn-attention"])).train.cudnnAttention).toBe(true);
    expect((await specFromArgs(["--no-cudnn-attention"])).train.cudnnAttention).toBe(false);
  });

  it("takes --packing as --padding packed and leaves the reference recipe's other settings", async () => {
    const spec = await specFromArgs(["--packing"]);
    expect(spec.data.padding).toBe("packed");
    expect(spec.train).toMatchObject({
      recipe: "reference",
      lossImplementation: "full",
      kernels: "none",
      fusedLora: false,
      cudaGraphs: false,
      cudnnAttention: true,
      offloadActivations: false,
      compile: "none",
    });
  });
});

describe("checkpointCached", () => {
  const config = (extra: Record<string, unknown>) =>
    loadRunConfig({ overrides: { device: "cpu", ...extra } });

  it("is true for a synthetic checkpoint once its config.json exists", () => {
    const cacheDir = mkdtempSync(join(tmpdir(), "lp-cache-"));
    const c = config({ model: "tiny-qwen2", weights: "random" });
    expect(checkpointCached(c, cacheDir)).toBe(false);
    const dir = resolveModel(c, cacheDir).path!;
    mkdirSync(dir, { recursive: true });
    expect(checkpointCached(c, cacheDir)).toBe(false); // a folder being written is not a checkpoint
    writeFileSync(join(dir, "config.json"), "{}");
    expect(checkpointCached(c, cacheDir)).toBe(true);
  });

  it("looks for a hub model's snapshot in the Hugging Face cache", () => {
    const hub = mkdtempSync(join(tmpdir(), "lp-hub-"));
    const c = config({ model: "Qwen/Qwen2.5-1.5B-Instruct", weights: "pretrained" });
    const env = { HF_HUB_CACHE: hub };
    expect(checkpointCached(c, "/tmp/none", env)).toBe(false);
    const snap = join(hub, "models--Qwen--Qwen2.5-1.5B-Instruct", "snapshots", "abc123");
    mkdirSync(snap, { recursive: true });
    expect(checkpointCached(c, "/tmp/none", env)).toBe(false);
    writeFileSync(join(snap, "config.json"), "{}");
    expect(checkpointCached(c, "/tmp/none", env)).toBe(true);
  });

  it("is true for a local folder and false for a model that does not resolve", () => {
    const local = mkdtempSync(join(tmpdir(), "lp-local-"));
    writeFileSync(join(local, "config.json"), "{}");
    expect(checkpointCached(config({ model: local, weights: "pretrained" }), "/tmp/none")).toBe(true);
    expect(checkpointCached(config({ model: "no-such-model" }), "/tmp/none")).toBe(false);
  });
});

describe("resolution errors name what the user typed", () => {
  const cpu = { device: "cpu", gpu: null };
  const codeOf = (fn: () => unknown) => {
    try {
      fn();
    } catch (err) {
      return err as LoraprofError;
    }
    throw new Error("expected an error");
  };

  it("reads ./no-such-folder as a missing folder, not as a hub id", () => {
    const err = codeOf(() =>
      resolveModel(loadRunConfig({ overrides: { model: "./no-such-folder" } }), "/tmp/c"),
    );
    expect(err.code).toBe("MODEL_NOT_FOUND");
    expect(err.message).toContain("no-such-folder");
    expect(err.problems[0]?.message).toBe("no such folder");
  });

  it("says a hub id outside the catalog is not downloaded (never 'no tokenizer.json in the current directory')", () => {
    const err = codeOf(() => resolveModel(loadRunConfig({ overrides: { model: "foo/bar" } }), "/tmp/c"));
    expect(err.code).toBe("MODEL_NOT_FOUND");
    expect(err.problems[0]?.hint).toMatch(/--model \.\/bar/);
    expect(err.format()).not.toContain("tokenizer.json");
  });

  it("names every GPU-only setting of a CPU run at once, before the engine starts", () => {
    const config = loadRunConfig({
      overrides: { optimizer: { name: "adamw_8bit" }, vramBudget: "8GiB", device: "cpu" },
    });
    const err = codeOf(() => resolveConfig(config, resolveModel(config, "/tmp/c"), cpu));
    expect(err.code).toBe("CONFIG_INVALID");
    expect(err.problems.map((p) => p.field)).toEqual(["optimizer.name", "vramBudget"]);
  });

  it("catches a GPU-only optimizer when device auto resolves to the CPU", () => {
    const config = loadRunConfig({ overrides: { optimizer: { name: "paged_adamw_8bit" } } });
    const err = codeOf(() => resolveConfig(config, resolveModel(config, "/tmp/c"), cpu));
    expect(err.problems.map((p) => p.field)).toEqual(["optimizer.name"]);
  });
});

describe("--weights random from a config.json", () => {
  it("builds the engine's synthetic architecture from a local folder's config.json", async () => {
    const dir = join(mkdtempSync(join(tmpdir(), "lp-cfg-")), "tiny-mistral");
    mkdirSync(dir);
    writeFileSync(
      join(dir, "config.json"),
      JSON.stringify({
        model_type: "mistral",
        hidden_size: 64,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        num_key_value_heads: 2,
        intermediate_size: 128,
        vocab_size: 512,
        max_position_embeddings: 4096,
        rms_norm_eps: 1e-5,
        rope_theta: 10000,
        sliding_window: 32,
        hidden_act: "silu",
        tie_word_embeddings: false,
      }),
    );
    const spec = await specFromArgs(["--model", dir, "--weights", "random"]);
    expect(spec.model.source).toBe("synthetic");
    expect(spec.model.architecture).toMatchObject({ modelType: "mistral", headDim: 16, slidingWindow: 32 });
    expect(spec.model.path).toContain("tiny-mistral");
    const cfg = loadRunConfig({ overrides: { model: dir, weights: "random" } });
    expect(resolveModel(cfg, "/tmp/c").configDir).toBe(dir);
  });
});

describe("runTokenizerSpec", () => {
  it("reads a catalog model's tokenizer from its cached hub snapshot when no offline one ships", () => {
    const { cache, snapshot } = fakeHubCache("google/gemma-2-2b-it");
    const config = loadRunConfig({ overrides: { model: "gemma-2-2b-it", weights: "random" } });
    const model = resolveModel(config, "/tmp/c");
    expect(runTokenizerSpec(model, { HF_HUB_CACHE: cache })).toEqual({ dir: snapshot });
    expect(() => runTokenizerSpec(model, { HF_HUB_CACHE: join(cache, "elsewhere") })).toThrow(
      /no tokenizer for gemma-2-2b-it/,
    );
  });

  it("keeps the offline tokenizer of Qwen and Llama models and a model folder's own", () => {
    const qwen = resolveModel(loadRunConfig({ overrides: { model: "qwen2.5-0.5b" } }), "/tmp/c");
    expect(runTokenizerSpec(qwen, {})).toEqual({ family: "qwen2" });
    const dir = mkdtempSync(join(tmpdir(), "lp-folder-"));
    writeFileSync(join(dir, "config.json"), "{}");
    const local = resolveModel(loadRunConfig({ overrides: { model: dir } }), "/tmp/c");
    expect(runTokenizerSpec(local, {})).toEqual({ dir });
  });
});
