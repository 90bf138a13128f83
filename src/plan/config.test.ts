import { describe, expect, it } from "vitest";
import { loadRunConfig } from "../config/load.js";
import { LoraprofError } from "../util/errors.js";
import {
  customGpu,
  gpuFromProbe,
  graphsReplay,
  planInputFromConfig,
  planPrecision,
  requirePlanGpu,
} from "./config.js";
import { ALPACA_LIKE, gpu } from "./testing.js";

const GiB = 2 ** 30;

describe("planInputFromConfig", () => {
  it("maps the study's run 2 preset to the planner's input field by field", () => {
    const config = loadRunConfig({ overrides: { preset: "paper-run2" } });
    const input = planInputFromConfig(config, { gpu: gpu("rtx-4060"), lengthStats: ALPACA_LIKE });
    expect(input.model).toMatchObject({ id: "qwen2.5-1.5b-instruct" });
    expect(input).toMatchObject({
      batchSize: 2,
      seqLen: 2048,
      gradAccum: 1,
      padding: "max_length",
      precision: "fp16",
      method: "qlora",
      quant: { type: "nf4", doubleQuant: true },
      lora: { r: 16, alpha: 32, dropout: 0.05, targetModules: "all-linear" },
      optimizer: "paged_adamw_8bit",
      gradCheckpointing: true,
      vramBudgetBytes: null,
    });
    expect(input.calibration).toBeUndefined();
  });

  it("takes flags over the preset, and the budget in bytes", () => {
    const config = loadRunConfig({
      overrides: {
        preset: "paper-run1",
        batchSize: 4,
        vramBudget: "6GiB",
        method: "lora",
        optimizer: { name: "adamw_8bit" },
      },
    });
    const input = planInputFromConfig(config, { gpu: gpu("h200"), lengthStats: ALPACA_LIKE });
    expect(input.batchSize).toBe(4);
    expect(input.vramBudgetBytes).toBe(6 * GiB);
    expect(input.method).toBe("lora");
    expect(input.quant).toBeNull();
    expect(input.optimizer).toBe("adamw_8bit");
  });

  it("plans the chunked loss a config asks for, and the full loss for a stored run without the field", () => {
    const config = loadRunConfig({
      overrides: { preset: "paper-run2", loss: "chunked", lossChunkTokens: 512 },
    });
    const opts = { gpu: gpu("h200"), lengthStats: ALPACA_LIKE };
    expect(planInputFromConfig(config, opts)).toMatchObject({
      lossImplementation: "chunked",
      lossChunkTokens: 512,
    });
    const { loss: _loss, lossChunkTokens: _chunk, ...stored } = config;
    expect(planInputFromConfig(stored, opts).lossImplementation).toBe("full");
  });

  it("resolves auto precision from the GPU's compute capability as run does", () => {
    expect(planPrecision({ precision: "auto" }, gpu("rtx-4060"))).toBe("bf16");
    expect(planPrecision({ precision: "auto" }, { ...gpu("rtx-4060"), computeCapability: "7.5" })).toBe(
      "fp16",
    );
    expect(planPrecision({ precision: "fp32" }, gpu("h200"))).toBe("fp32");
  });

  it("refuses a model the catalog does not know, naming the field", () => {
    const config = loadRunConfig({ overrides: { model: "someone/unknown-7b", weights: "pretrained" } });
    try {
      planInputFromConfig(config, { gpu: gpu("h200"), lengthStats: ALPACA_LIKE });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(LoraprofError);
      expect((err as LoraprofError).code).toBe("MODEL_NOT_FOUND");
      expect((err as LoraprofError).problems[0]?.field).toBe("model");
    }
  });
});

describe("GPU choice", () => {
  it("finds a catalog GPU by id or nvidia-smi name and rejects others", () => {
    expect(requirePlanGpu("rtx-4060").id).toBe("rtx-4060");
    expect(requirePlanGpu("NVIDIA H200").id).toBe("h200");
    expect(() => requirePlanGpu("voodoo-2")).toThrow(/no GPU "voodoo-2"/);
  });

  it("takes the device's GPU from nvidia-smi for --gpu auto", () => {
    const probe = {
      ok: true as const,
      gpus: [
        { index: 0, name: "NVIDIA H200", memoryTotalBytes: 143771 * 2 ** 20 },
        { index: 1, name: "NVIDIA GeForce RTX 4060", memoryTotalBytes: 8188 * 2 ** 20 },
      ],
    };
    expect(gpuFromProbe(probe).id).toBe("h200");
    expect(gpuFromProbe(probe, "cuda:1").id).toBe("rtx-4060");
  });

  it("says to pass --gpu when auto finds no GPU", () => {
    try {
      gpuFromProbe({ ok: false, reason: "nvidia-smi not found (no NVIDIA driver)" });
      expect.unreachable();
    } catch (err) {
      const e = err as LoraprofError;
      expect(e.problems[0]?.field).toBe("--gpu");
      expect(e.problems[0]?.hint).toMatch(/--gpu rtx-4060/);
    }
    expect(() => gpuFromProbe({ ok: true, gpus: [{ index: 0, name: "Matrox G200" }] })).toThrow(
      /not in the catalog/,
    );
  });
});

describe("customGpu (--gpu custom)", () => {
  it("takes memory, tensor rate and bandwidth from the flags", () => {
    const g = customGpu({ memory: "12GiB", tflops: "100", bandwidth: "500GB/s" });
    expect(g.memoryBytes).toBe(12 * 2 ** 30);
    expect(g.peakFlops.bf16).toBe(100e12);
    expect(g.peakFlops.fp32).toBe(25e12);
    expect(g.bandwidthBytesPerSecond).toBe(500e9);
    expect(g.sources).toEqual(["--gpu custom flags"]);
  });

  it("falls back to the slowest catalog card's speed and says so", () => {
    const g = customGpu({ memory: "8GB" });
    const t4 = requirePlanGpu("t4");
    expect(g.peakFlops.fp16).toBe(t4.peakFlops.fp16);
    expect(g.bandwidthBytesPerSecond).toBe(t4.bandwidthBytesPerSecond);
    expect(g.sources.join(" ")).toMatch(/T4/);
  });

  it("names the flag at fault", () => {
    expect(() => customGpu({})).toThrow(/memory is missing/);
    expect(() => customGpu({ memory: "lots" })).toThrow(/"lots" is not a size/);
    expect(() => customGpu({ memory: "8GiB", tflops: "-3" })).toThrow(/"-3" is not a positive number/);
  });

  it("an unknown --gpu points to --gpu custom and --vram-budget", () => {
    expect(() => requirePlanGpu("gtx-1080")).toThrow(LoraprofError);
    try {
      requirePlanGpu("gtx-1080");
    } catch (e) {
      expect((e as LoraprofError).problems[0]?.hint).toMatch(/--gpu custom --gpu-memory.*--vram-budget/);
    }
  });
});

describe("graphsReplay (the engine's rule for CUDA graphs)", () => {
  const on = {
    cudaGraphs: true,
    padding: "packed",
    precision: "bf16",
    gradCheckpointing: true,
    loraDropout: 0,
  } as const;
  it("replays packed fp16/bf16 rows when asked", () => {
    expect(graphsReplay(on)).toBe(true);
    expect(graphsReplay({ ...on, cudaGraphs: false })).toBe(false);
    expect(graphsReplay({ ...on, padding: "longest" })).toBe(false);
    expect(graphsReplay({ ...on, precision: "fp32" })).toBe(false);
    // Offloaded layer inputs under checkpointing take precedence (engine: graphs_unavailable).
    expect(graphsReplay({ ...on, offloadActivations: true })).toBe(false);
    expect(graphsReplay({ ...on, offloadActivations: true, gradCheckpointing: false })).toBe(true);
  });
  it("does not replay LoRA dropout under checkpointing, and does without checkpointing", () => {
    expect(graphsReplay({ ...on, loraDropout: 0.05 })).toBe(false);
    expect(graphsReplay({ ...on, loraDropout: 0.05, gradCheckpointing: false })).toBe(true);
  });
});

describe("planInputFromConfig kernels and attention", () => {
  it("plans Liger's kernels only for families the engine patches, and carries the attention path", () => {
    const at = (model: string, extra: Record<string, unknown> = {}) =>
      planInputFromConfig(
        loadRunConfig({ overrides: { preset: "paper-run3", model, recipe: "fast", ...extra } }),
        { gpu: gpu("h200"), lengthStats: ALPACA_LIKE },
      );
    expect(at("qwen2.5-1.5b-instruct").kernels).toBe("liger");
    expect(at("qwen2.5-1.5b-instruct").attnImplementation).toBe("sdpa");
    expect(at("gemma-3-1b-it").kernels).toBe("none");
    expect(at("gemma-2-2b", { attnImplementation: "eager" }).attnImplementation).toBe("eager");
  });
});
