import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { countParameters } from "../catalog/params.js";
import { DEFAULT_CONSTANTS } from "./constants.js";
import {
  eagerScoreBytes,
  estimateMemory,
  layerActivationBytesPerToken,
  memoryComponents,
  optimizerStateBytes,
  type MemoryEstimate,
} from "./memory.js";
import { gpu, model, qloraInput } from "./testing.js";
import type { PlanInput } from "./types.js";

const mem = (input: PlanInput): MemoryEstimate => estimateMemory(input, DEFAULT_CONSTANTS);
const item = (m: MemoryEstimate, prefix: string) => m.breakdown.find((i) => i.name.startsWith(prefix));

describe("memory estimate", () => {
  it("sums its breakdown to the device-level peak", () => {
    const m = mem(qloraInput());
    expect(m.breakdown.reduce((s, i) => s + i.bytes, 0)).toBeCloseTo(m.devicePeakBytes, 0);
    const alloc = m.breakdown.filter((i) => i.counted === "allocator").reduce((s, i) => s + i.bytes, 0);
    expect(alloc).toBeCloseTo(m.allocatorPeakBytes, 0);
  });

  it("grows with batch size and with sequence length", () => {
    for (const padding of ["max_length", "longest"] as const) {
      for (const gradCheckpointing of [false, true]) {
        let prev = 0;
        for (const batchSize of [1, 2, 4, 8, 16]) {
          const peak = mem(
            qloraInput({ padding, gradCheckpointing, batchSize, seqLen: 512 }),
          ).devicePeakBytes;
          expect(peak).toBeGreaterThan(prev);
          prev = peak;
        }
        prev = 0;
        for (const seqLen of [128, 256, 512, 1024, 2048]) {
          const peak = mem(
            qloraInput({ padding: "max_length", gradCheckpointing, batchSize: 2, seqLen }),
          ).devicePeakBytes;
          expect(peak).toBeGreaterThan(prev);
          prev = peak;
        }
      }
    }
  });

  it("saves far fewer activations with gradient checkpointing", () => {
    const base = qloraInput({ padding: "max_length", batchSize: 8, seqLen: 1024 });
    const off = memoryComponents({ ...base, gradCheckpointing: false });
    const on = memoryComponents({ ...base, gradCheckpointing: true });
    expect(on.savedActivationBytes).toBeLessThan(off.savedActivationBytes / 10);
    expect(mem({ ...base, gradCheckpointing: true }).devicePeakBytes).toBeLessThan(
      mem({ ...base, gradCheckpointing: false }).devicePeakBytes,
    );
  });

  it("keeps two layer inputs on the device with activation offload instead of every layer's", () => {
    const base = qloraInput({ padding: "max_length", batchSize: 8, seqLen: 1024, gradCheckpointing: true });
    const arch = model("qwen2.5-1.5b-instruct");
    const L = arch.architecture.numLayers;
    const onDevice = memoryComponents(base);
    const offloaded = memoryComponents({ ...base, offloadActivations: true });
    const perLayerInput = 8 * 1024 * 2 * arch.architecture.hiddenSize; // fp16 compute
    expect(onDevice.savedActivationBytes - offloaded.savedActivationBytes).toBe((L - 2) * perLayerInput);
    expect(mem({ ...base, offloadActivations: true }).devicePeakBytes).toBeLessThan(
      mem(base).devicePeakBytes,
    );
    // Not without checkpointing (the config refuses it), nor when the decoder replays as CUDA graphs.
    for (const other of [{ gradCheckpointing: false }, { cudaGraphs: true }]) {
      expect(memoryComponents({ ...base, ...other, offloadActivations: true }).savedActivationBytes).toBe(
        memoryComponents({ ...base, ...other }).savedActivationBytes,
      );
    }
  });

  it("holds a graphed run's full or chunked loss buffers beside its CUDA graphs' pool, not in one pool with the layer backward", () => {
    const input = qloraInput({
      method: "lora",
      padding: "packed",
      batchSize: 8,
      seqLen: 2048,
      gradCheckpointing: true,
      lossImplementation: "chunked",
    });
    const eager = mem(input);
    const graphed = mem({ ...input, cudaGraphs: true });
    // Same allocated peak: the pools change what stays reserved, not what is alive at once.
    expect(graphed.allocatorPeakBytes).toBe(eager.allocatorPeakBytes);
    const held = item(graphed, graphed.peakPhase === "loss" ? "graphs' pool" : "loss buffers beside")!;
    expect(held.counted).toBe("device");
    // What the peak phase holds over the base (weights, optimizer state, saved activations): the smaller phase's
    // own buffers are what is held beside it.
    const peakItem = item(eager, eager.peakPhase === "loss" ? "logits and loss buffers" : "layer backward")!;
    const base = eager.allocatorPeakBytes - peakItem.bytes;
    const { lossBytes, layerBackwardBytes } = eager.phases;
    expect(held.bytes).toBeCloseTo(Math.min(lossBytes, layerBackwardBytes) - base, 0);
    expect(held.bytes).toBeGreaterThan(0);
    expect(graphed.devicePeakBytes - eager.devicePeakBytes).toBeCloseTo(held.bytes, 0);
    expect(graphed.breakdown.reduce((s, i) => s + i.bytes, 0)).toBeCloseTo(graphed.devicePeakBytes, 0);
    // The fused loss's chunks are in the fast class's fitted constants already; so is the full loss without graphs.
    for (const other of [{ lossImplementation: "fused" as const }, { cudaGraphs: false }]) {
      const m = mem({ ...input, cudaGraphs: true, ...other });
      expect(m.breakdown.some((i) => /graphs' pool|beside the graphs/.test(i.name))).toBe(false);
    }
  });

  it("keeps paged optimizer state out of the allocator peak but in the device peak", () => {
    const paged = mem(qloraInput({ optimizer: "paged_adamw_32bit" }));
    const plain = mem(qloraInput({ optimizer: "adamw_torch" }));
    const state = item(paged, "optimizer state")!;
    expect(state.counted).toBe("device");
    expect(state.bytes).toBe(8 * 18_464_768);
    expect(paged.allocatorPeakBytes).toBeLessThan(plain.allocatorPeakBytes);
    // The state lives through the step: it moves from the allocator to managed memory, and the reserve
    // (a share of what the step allocates and frees) stays where it was.
    expect(plain.allocatorPeakBytes - paged.allocatorPeakBytes).toBeCloseTo(state.bytes, 0);
    expect(paged.devicePeakBytes).toBeCloseTo(plain.devicePeakBytes, 0);
  });

  it("stores 4-bit weights packed two per byte with 0.5 bit of absmax, or ~0.127 bit with double quant", () => {
    const n = countParameters(model("qwen2.5-1.5b-instruct").architecture).decoderLinearWeights;
    const dq = mem(qloraInput());
    const single = mem(qloraInput({ quant: { type: "nf4", doubleQuant: false } }));
    expect(item(dq, "base linear weights")!.bytes).toBe(n / 2);
    expect((item(single, "quantization state")!.bytes * 8) / n).toBeCloseTo(0.5, 2);
    expect((item(dq, "quantization state")!.bytes * 8) / n).toBeCloseTo(0.127, 2);
  });

  it("counts an untied LM head as a second 16-bit matrix", () => {
    const m = mem(qloraInput({ model: model("qwen2.5-7b-instruct") }));
    expect(item(m, "LM head")!.bytes).toBe(2 * 152064 * 3584);
    expect(item(mem(qloraInput()), "LM head")).toBeUndefined();
  });

  it("sizes the fp32 loss buffers from tokens × vocabulary", () => {
    const m = mem(qloraInput({ padding: "max_length", batchSize: 2, seqLen: 2048 }));
    expect(m.peakPhase).toBe("loss");
    expect(item(m, "logits and loss buffers")!.bytes).toBe(3 * 4 * 2 * 2048 * 151936);
  });

  it("sizes the chunked loss's buffers from one chunk × vocabulary, plus the gathered hidden rows", () => {
    const shape = { padding: "max_length", batchSize: 2, seqLen: 2048, gradCheckpointing: true } as const;
    const full = mem(qloraInput(shape));
    const chunked = mem(qloraInput({ ...shape, lossImplementation: "chunked", lossChunkTokens: 1024 }));
    const rows = 2 * 2 * 2 * 2048 * 1536; // fp16 hidden rows at every token and their gradient
    const buffers = item(chunked, "logits and loss buffers");
    expect(buffers?.bytes).toBe(3 * 4 * 1024 * 151936 + rows);
    expect(buffers?.note).toContain("1024-row chunk");
    expect(full.allocatorPeakBytes - chunked.allocatorPeakBytes).toBe(3 * 4 * 3072 * 151936 - rows);
    // A chunk larger than the micro-batch holds every token at once, as the full loss does.
    const oneChunk = memoryComponents(
      qloraInput({ ...shape, lossImplementation: "chunked", lossChunkTokens: 1e6 }),
    );
    expect(oneChunk.lossElements).toBe(2 * 2048 * 151936);
  });

  it("gives the chunked loss no more rows than the fullest micro-batch's real tokens when records are walked", () => {
    // Two records of 200 tokens per micro-batch, padded to 2048: at most 400 target rows.
    const walked = {
      padding: "max_length",
      batchSize: 2,
      seqLen: 2048,
      lossImplementation: "chunked",
      lossChunkTokens: 1024,
      lengthStats: { meanTokens: 200, lengths: Array.from({ length: 64 }, () => 200) },
      steps: 4,
      warmupSteps: 1,
      seed: 0,
    } as const;
    expect(memoryComponents(qloraInput(walked)).lossChunkRows).toBe(400);
    // Not walked (no steps): every token of the micro-batch may be a target.
    const { steps: _s, ...unwalked } = walked;
    expect(memoryComponents(qloraInput(unwalked)).lossChunkRows).toBe(1024);
  });

  it("saves K/V at the KV heads' width (native GQA: the engine passes no attention mask)", () => {
    const arch = model("qwen2.5-1.5b-instruct").architecture;
    const o = { computeBytes: 2, loraR: 16, loraDropout: 0, targetModules: "all-linear" as const };
    const layer = layerActivationBytesPerToken(arch, o);
    // q and output at 12 heads × 128, k and v at 2 KV heads × 128, fp32 log-sum-exp per head
    expect(layer.attention).toBe(2 * (1536 + 2 * 256 + 1536) + 4 * 12);
  });

  it("saves the inputs of Qwen3's per-head q/k norms: compute dtype under Liger, fp32 in the eager norm", () => {
    const o = { computeBytes: 2, loraR: 16, loraDropout: 0, targetModules: "all-linear" as const };
    const qwen3 = model("qwen3-0.6b").architecture;
    // 16 query heads and 8 KV heads of 128: q 2048 + k 1024 wide, plus an fp32 inverse RMS per head
    expect(layerActivationBytesPerToken(qwen3, { ...o, ligerKernels: true }).qkNorm).toBe(2 * 3072 + 4 * 24);
    expect(layerActivationBytesPerToken(qwen3, o).qkNorm).toBe(4 * 3072 + 4 * 24);
    // Qwen2.5 has no q/k norms; the term is part of the total
    const qwen25 = layerActivationBytesPerToken(model("qwen2.5-1.5b-instruct").architecture, o);
    expect(qwen25.qkNorm).toBe(0);
    const l = layerActivationBytesPerToken(qwen3, o);
    expect(l.total).toBe(l.norms + l.loraInputs + l.loraRank + l.attention + l.qkNorm + l.mlp);
  });

  it("shares one saved input among fp32 adapters without dropout, and copies it per adapter otherwise", () => {
    const arch = model("qwen2.5-1.5b-instruct").architecture;
    const o = { loraR: 16, targetModules: "all-linear" as const };
    const fp32 = layerActivationBytesPerToken(arch, { ...o, computeBytes: 4, loraDropout: 0 });
    expect(fp32.loraInputs).toBe(4 * (1536 + 1536 + 1536 + 8960));
    const amp = layerActivationBytesPerToken(arch, { ...o, computeBytes: 2, loraDropout: 0.05 });
    expect(amp.loraInputs).toBe(3 * (5 * 1536 + 1536 + 8960));
  });

  it("gives 8-bit optimizers ~2 B/param and falls back to 32-bit state for small tensors", () => {
    expect(optimizerStateBytes("adamw_torch", [1e6]).bytes).toBe(8e6);
    const eight = optimizerStateBytes("adamw_8bit", [1 << 20]);
    expect(eight.bytes / (1 << 20)).toBeCloseTo(2.03, 2);
    expect(eight.paged).toBe(false);
    expect(optimizerStateBytes("paged_adamw_8bit", [1000]).bytes).toBe(8000 + 2048);
    expect(optimizerStateBytes("paged_adamw_8bit", [1000]).paged).toBe(true);
  });

  it("predicts the allocator peak of the recorded H200 LoRA runs on the engine's path within 3% uncalibrated", () => {
    const here = dirname(fileURLToPath(import.meta.url));
    const fixture = JSON.parse(readFileSync(join(here, "fixtures", "h200-lora-bf16-peaks.json"), "utf8")) as {
      runs: {
        batchSize: number;
        seqLen: number;
        padded: boolean;
        gradCheckpointing: boolean;
        attentionMask: boolean;
        peakAllocatedBytes: number;
      }[];
    };
    const predict = (r: (typeof fixture.runs)[number]) =>
      mem({
        ...qloraInput(),
        model: model("qwen2.5-1.5b"),
        gpu: gpu("h200"),
        method: "lora",
        quant: null,
        precision: "bf16",
        optimizer: "adamw_torch",
        padding: "max_length",
        batchSize: r.batchSize,
        seqLen: r.seqLen,
        gradCheckpointing: r.gradCheckpointing,
        lengthStats: { meanTokens: r.seqLen, lengths: r.padded ? [r.seqLen / 4, r.seqLen] : [r.seqLen] },
      }).allocatorPeakBytes;
    const error = (r: (typeof fixture.runs)[number]) =>
      (predict(r) - r.peakAllocatedBytes) / r.peakAllocatedBytes;
    // The engine's path: no attention mask. Under checkpointing a mask touches only the layer being
    // recomputed, so those masked runs count too; without checkpointing every layer saved the
    // repeated K/V and the mask, which the engine no longer does.
    const engine = fixture.runs.filter((r) => !r.attentionMask || r.gradCheckpointing);
    expect(engine).toHaveLength(9);
    for (const r of engine) expect(Math.abs(error(r))).toBeLessThan(0.03);
    // The masked runs without checkpointing needed more than the engine's path predicts.
    const masked = fixture.runs.filter((r) => r.attentionMask && !r.gradCheckpointing);
    expect(masked).toHaveLength(3);
    for (const r of masked) expect(error(r)).toBeLessThan(0);
  });
});

describe("family-specific activations", () => {
  const here = dirname(fileURLToPath(import.meta.url));
  // bench/saved_activations.py: what transformers' own layers saved on the CPU (committed result).
  const measured = JSON.parse(
    readFileSync(join(here, "../../bench/results/cpu-saved-activations.json"), "utf8"),
  ) as {
    results: {
      modelType: string;
      attnImplementation: string;
      bytesPerTokenPerKeyPerHead: number;
    }[];
  };
  const opts = { computeBytes: 2, loraR: 16, loraDropout: 0, targetModules: "all-linear" as const };
  const archOf = (modelType: string) =>
    model(
      {
        qwen2: "qwen2.5-1.5b-instruct",
        qwen3: "qwen3-0.6b",
        gemma2: "gemma-2-2b",
        gemma3_text: "gemma-3-1b-it",
      }[modelType] as string,
    ).architecture;

  it("counts Gemma's four RMSNorms a layer (before and after attention and MLP), two elsewhere", () => {
    for (const [id, norms] of [
      ["gemma-2-2b", 4],
      ["gemma-3-1b-it", 4],
      ["qwen2.5-1.5b-instruct", 2],
      ["llama-3.2-1b", 2],
    ] as const) {
      const arch = model(id).architecture;
      expect(layerActivationBytesPerToken(arch, opts).norms).toBe(norms * (4 * arch.hiddenSize + 4));
    }
  });

  it("saves what Liger's RMSNorm and SwiGLU save (input in the compute dtype; gate and up alone)", () => {
    const arch = model("qwen2.5-1.5b-instruct").architecture;
    const eagerOps = layerActivationBytesPerToken(arch, opts);
    const liger = layerActivationBytesPerToken(arch, { ...opts, ligerKernels: true });
    expect(eagerOps.norms).toBe(2 * (4 * arch.hiddenSize + 4));
    expect(liger.norms).toBe(2 * (2 * arch.hiddenSize + 4));
    expect(eagerOps.mlp).toBe(3 * 2 * arch.intermediateSize);
    expect(liger.mlp).toBe(2 * 2 * arch.intermediateSize);
  });

  it("sizes eager attention's saved scores per head and key as transformers' eager attention saved them", () => {
    const eager = measured.results.filter((r) => r.attnImplementation === "eager");
    expect(eager.map((r) => r.modelType).sort()).toEqual(["gemma2", "qwen2"]);
    for (const r of eager) {
      const predicted = eagerScoreBytes(archOf(r.modelType), 2);
      expect(Math.abs(predicted - r.bytesPerTokenPerKeyPerHead) / r.bytesPerTokenPerKeyPerHead).toBeLessThan(
        0.05,
      );
    }
    // SDPA saves nothing that grows with the keys.
    for (const r of measured.results.filter((x) => x.attnImplementation === "sdpa")) {
      expect(Math.abs(r.bytesPerTokenPerKeyPerHead)).toBeLessThan(0.5);
    }
  });

  it("grows eager attention's per-token bytes with the width it attends over, SDPA's not", () => {
    const arch = model("gemma-2-2b").architecture;
    const at = (span?: number) =>
      layerActivationBytesPerToken(arch, { ...opts, ...(span ? { eagerAttentionSpan: span } : {}) })
        .attention;
    expect(at(2048) - at(1024)).toBe(arch.numHeads * 1024 * eagerScoreBytes(arch, 2));
    const input = qloraInput({
      model: model("gemma-2-2b"),
      padding: "max_length",
      gradCheckpointing: false,
      seqLen: 1024,
    });
    const sdpa = memoryComponents(input).savedActivationBytes;
    const eagerSaved = memoryComponents({ ...input, attnImplementation: "eager" }).savedActivationBytes;
    expect(eagerSaved).toBeGreaterThan(sdpa * 1.3);
  });

  it("keeps the saved tanh of soft-capped logits (Gemma 2) at the full loss", () => {
    const base = { padding: "max_length" as const, seqLen: 512, batchSize: 4 };
    const gemma2 = memoryComponents(qloraInput({ ...base, model: model("gemma-2-2b") }));
    expect(gemma2.lossRowBytes).toBe(2 * 4 * 512 * model("gemma-2-2b").architecture.vocabSize);
    expect(memoryComponents(qloraInput({ ...base, model: model("gemma-3-1b-it") })).lossRowBytes).toBe(0);
  });
});
