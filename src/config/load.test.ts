import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { HF_CONFIGS } from "../catalog/fixtures/hf-configs.js";
import { LoraprofError } from "../util/errors.js";
import { loadRunConfig } from "./load.js";
import { parseByteSize } from "./schema.js";

const dir = mkdtempSync(join(tmpdir(), "loraprof-config-"));
const write = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

function problemsOf(fn: () => unknown) {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(LoraprofError);
    return (err as LoraprofError).problems;
  }
  throw new Error("expected a LoraprofError");
}

describe("loadRunConfig", () => {
  it("fills every default when given nothing", () => {
    const cfg = loadRunConfig();
    expect(cfg.model).toBe("tiny-qwen2");
    expect(cfg.lora).toEqual({ r: 16, alpha: 32, dropout: 0.05, targetModules: "all-linear" });
    expect(cfg.optimizer.name).toBe("adamw_torch");
    expect(cfg.optimizer.lr).toBe(2e-4);
  });

  it("reports all three mistakes of a config file at once, each with its field", () => {
    const p = write("bad.yaml", "batchSize: 0\nprecision: fp8\nlearningRate: 0.1\n");
    const problems = problemsOf(() => loadRunConfig({ configPath: p }));
    expect(problems.map((x) => x.field).sort()).toEqual(["batchSize", "learningRate", "precision"]);
    expect(problems.every((x) => x.hint && x.hint.length > 0)).toBe(true);
  });

  it("exits with code 2 for an invalid config", () => {
    const p = write("bad.json", JSON.stringify({ steps: -1 }));
    try {
      loadRunConfig({ configPath: p });
      expect.unreachable();
    } catch (err) {
      expect((err as LoraprofError).exitCode).toBe(2);
    }
  });

  it("suggests the nearest known key for a misspelt nested setting", () => {
    const problems = problemsOf(() => loadRunConfig({ document: { optimizer: { nmae: "adamw_8bit" } } }));
    expect(problems[0]?.field).toBe("optimizer.nmae");
    expect(problems[0]?.hint).toContain('"name"');
  });

  it("lets flags override the file and the file override the preset", () => {
    const p = write("run.json", JSON.stringify({ preset: "paper-run2", seqLen: 1024 }));
    const cfg = loadRunConfig({ configPath: p, overrides: { batchSize: 4 } });
    expect(cfg.method).toBe("qlora");
    expect(cfg.optimizer.name).toBe("paged_adamw_8bit");
    expect(cfg.seqLen).toBe(1024);
    expect(cfg.batchSize).toBe(4);
  });

  it("rejects warmup as long as the run", () => {
    const problems = problemsOf(() => loadRunConfig({ overrides: { steps: 5, warmupSteps: 5 } }));
    expect(problems[0]?.field).toBe("warmupSteps");
  });

  it("refuses activation offload without checkpointing, naming the field and the fix", () => {
    const problems = problemsOf(() => loadRunConfig({ overrides: { offloadActivations: true } }));
    expect(problems[0]?.field).toBe("offloadActivations");
    expect(problems[0]?.message).toMatch(/needs gradCheckpointing: add --grad-checkpointing/);
    const ok = loadRunConfig({ overrides: { offloadActivations: true, gradCheckpointing: true } });
    expect(ok.offloadActivations).toBe(true);
  });

  it("refuses compiled layers under CUDA graphs (the fast recipe's), naming the field and the fix", () => {
    const problems = problemsOf(() => loadRunConfig({ overrides: { recipe: "fast", compile: "layers" } }));
    expect(problems[0]?.field).toBe("compile");
    expect(problems[0]?.message).toMatch(/add --no-cuda-graphs or drop --compile/);
    const ok = loadRunConfig({ overrides: { recipe: "fast", compile: "layers", cudaGraphs: false } });
    expect([ok.compile, ok.cudaGraphs, ok.padding]).toEqual(["layers", false, "packed"]);
    expect(loadRunConfig({}).compile).toBe("none");
  });

  it("names the line of a YAML syntax error", () => {
    const p = write("broken.yaml", "model: a\n  bad: [\n");
    const err = (() => {
      try {
        loadRunConfig({ configPath: p });
      } catch (e) {
        return e as LoraprofError;
      }
    })();
    expect(err?.message).toMatch(/line \d+/);
  });
});

describe("parseByteSize", () => {
  it("reads binary and decimal units", () => {
    expect(parseByteSize("8GiB")).toBe(8 * 2 ** 30);
    expect(parseByteSize("7.5 GB")).toBe(7.5e9);
    expect(parseByteSize(1024)).toBe(1024);
  });
});

describe("examples", () => {
  it("examples/run.yaml is a valid run config", () => {
    const path = new URL("../../examples/run.yaml", import.meta.url).pathname;
    const cfg = loadRunConfig({ configPath: path });
    expect(cfg.method).toBe("qlora");
    expect(cfg.vramBudget).toBe("8GiB");
  });
});

describe("warmup for short runs", () => {
  it("accepts --steps 5 alone: the default warmup is scaled to leave steps to measure", () => {
    const cfg = loadRunConfig({ overrides: { steps: 5 } });
    expect(cfg.warmupSteps).toBe(1);
  });

  it("scales a preset's warmup too when the user shortens the run", () => {
    const cfg = loadRunConfig({ overrides: { preset: "paper-run1", steps: 8 } });
    expect(cfg.warmupSteps).toBeLessThan(8);
  });

  it("keeps the default warmup when it fits", () => {
    expect(loadRunConfig({ overrides: { steps: 6 } }).warmupSteps).toBe(5);
  });

  it("keeps a warmup the user wrote, and names it when it is too long", () => {
    const problems = problemsOf(() => loadRunConfig({ overrides: { steps: 5, warmupSteps: 5 } }));
    expect(problems.map((p) => p.field)).toEqual(["warmupSteps"]);
  });

  it("does not add a warmup problem to a bad step count", () => {
    const problems = problemsOf(() => loadRunConfig({ overrides: { steps: -1 } }));
    expect(problems.map((p) => p.field)).toEqual(["steps"]);
  });
});

describe("attention default", () => {
  it("is eager for a model with soft-capped attention scores (Gemma 2), SDPA otherwise, and a choice wins", () => {
    const attn = (overrides: Record<string, unknown>) => loadRunConfig({ overrides }).attnImplementation;
    expect(attn({ model: "gemma-2-2b" })).toBe("eager");
    expect(attn({ model: "gemma-2-9b-it", recipe: "fast" })).toBe("eager");
    expect(attn({ model: "gemma-3-1b-it" })).toBe("sdpa");
    expect(attn({ model: "qwen2.5-1.5b-instruct" })).toBe("sdpa");
    expect(attn({})).toBe("sdpa");
    expect(attn({ model: "gemma-2-2b", attnImplementation: "sdpa" })).toBe("sdpa");
    // A folder with a config.json, as the planner and the engine read it; an unreadable one is left to them.
    const dir = mkdtempSync(join(tmpdir(), "loraprof-attn-"));
    writeFileSync(join(dir, "config.json"), JSON.stringify(HF_CONFIGS["gemma-2-2b"]));
    expect(attn({ model: dir })).toBe("eager");
    writeFileSync(join(dir, "config.json"), "{ not json");
    expect(attn({ model: dir })).toBe("sdpa");
  });
});

describe("a recipe on a model that cannot take all of it", () => {
  const cfg = (overrides: Record<string, unknown>) => {
    const c = loadRunConfig({ overrides });
    return { padding: c.padding, loss: c.loss, kernels: c.kernels, cudaGraphs: c.cudaGraphs };
  };
  it("pads rows and takes the full loss for Gemma 2's soft-capped attention and logits, as the engine requires", () => {
    expect(cfg({ model: "gemma-2-9b", recipe: "fast" })).toEqual({
      padding: "longest",
      loss: "full",
      kernels: "liger",
      cudaGraphs: true,
    });
    // a folder with Gemma 2's config.json, as the planner and the engine read it
    const dir = mkdtempSync(join(tmpdir(), "loraprof-recipe-"));
    writeFileSync(join(dir, "config.json"), JSON.stringify(HF_CONFIGS["gemma-2-2b"]));
    expect(cfg({ model: dir, recipe: "fast" })).toMatchObject({ padding: "longest", loss: "full" });
  });
  it("pads rows beyond Gemma 3's 512-token sliding window and keeps packing within it", () => {
    expect(cfg({ model: "gemma-3-1b-it", recipe: "fast", seqLen: 1024 })).toMatchObject({
      padding: "longest",
      loss: "fused",
    });
    expect(cfg({ model: "gemma-3-1b-it", recipe: "fast", seqLen: 512 })).toMatchObject({
      padding: "packed",
      loss: "fused",
    });
  });
  it("keeps what the user set (the engine then names the conflict) and changes nothing for other models", () => {
    expect(cfg({ model: "gemma-2-9b", recipe: "fast", padding: "packed" })).toMatchObject({
      padding: "packed",
      loss: "full",
    });
    expect(cfg({ model: "gemma-2-9b", recipe: "fast", loss: "chunked" })).toMatchObject({
      padding: "longest",
      loss: "chunked",
    });
    expect(cfg({ model: "qwen3-1.7b", recipe: "fast", seqLen: 4096 })).toMatchObject({
      padding: "packed",
      loss: "fused",
    });
  });
});
