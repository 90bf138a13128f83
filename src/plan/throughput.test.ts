import { describe, expect, it } from "vitest";
import { DEFAULT_CONSTANTS } from "./constants.js";
import { expectedTruncatedLength } from "./lengths.js";
import { peakFlopsFor } from "../catalog/peak.js";
import { estimateThroughput, HOST_LINK_BYTES_PER_SECOND } from "./throughput.js";
import { ALPACA_LIKE, gpu, model, qloraInput } from "./testing.js";
import type { PlanInput } from "./types.js";

const tp = (input: PlanInput) => estimateThroughput(input, input.gpu!, DEFAULT_CONSTANTS);

describe("throughput estimate", () => {
  it("counts only the real share of processed tokens under max_length padding", () => {
    const t = tp(qloraInput({ padding: "max_length", batchSize: 2, seqLen: 512 }));
    expect(t.processedTokensPerMicroStep).toBe(1024);
    expect(t.realTokensPerSecond / t.processedTokensPerSecond).toBeCloseTo(
      expectedTruncatedLength(ALPACA_LIKE, 512) / 512,
      10,
    );
  });

  it("gives more real tokens/s padding to the longest record than to max_length on short records", () => {
    const longest = tp(qloraInput({ padding: "longest", seqLen: 2048 }));
    const maxLength = tp(qloraInput({ padding: "max_length", seqLen: 2048 }));
    expect(longest.realTokensPerSecond).toBeGreaterThan(3 * maxLength.realTokensPerSecond);
    expect(longest.paddedSeqLen).toBeLessThan(300);
  });

  it("adds the offloaded layer inputs' way back over the host link to each micro-step", () => {
    const base = qloraInput({ padding: "max_length", batchSize: 8, seqLen: 1024, gradCheckpointing: true });
    const arch = model("qwen2.5-1.5b-instruct").architecture;
    const plain = tp(base);
    const off = tp({ ...base, offloadActivations: true });
    expect(plain.hostLinkSeconds).toBe(0);
    expect(off.hostLinkSeconds).toBeCloseTo(
      (arch.numLayers * 2 * arch.hiddenSize * 8 * 1024) / HOST_LINK_BYTES_PER_SECOND,
      12,
    );
    expect(off.microStepSeconds).toBeCloseTo(
      Math.max(off.computeSeconds, off.memorySeconds, off.hostSeconds, off.launchSeconds) +
        off.hostLinkSeconds,
      12,
    );
    expect(off.realTokensPerSecond).toBeLessThan(plain.realTokensPerSecond);
  });

  it("takes the longest of the compute, memory and host times for a micro-step", () => {
    const t = tp(qloraInput());
    expect(t.microStepSeconds).toBe(Math.max(t.computeSeconds, t.memorySeconds, t.hostSeconds));
    expect(t.launchSeconds).toBe(0); // no graphs, no replayed kernels
    expect(t.stepSeconds).toBeCloseTo(t.microStepSeconds + t.optimizerStepSeconds, 12);
  });

  it("gives a wider model's FLOPs a larger share of the GEMMs' efficiency (width h against h + widthHalfEfficiency)", () => {
    const at = (id: string) => {
      const t = tp(
        qloraInput({
          model: model(id),
          gpu: gpu("h200"),
          batchSize: 16,
          padding: "max_length",
          seqLen: 2048,
        }),
      );
      const P = t.processedTokensPerMicroStep;
      const gemm = (DEFAULT_CONSTANTS.computeEfficiency * P) / (P + DEFAULT_CONSTANTS.tokensHalfEfficiency);
      return { t, share: t.flopsPerMicroStep / (t.peakFlopsPerSecond * t.computeSeconds) / gemm };
    };
    const h = (id: string) => model(id).architecture.hiddenSize;
    for (const id of ["qwen2.5-0.5b-instruct", "qwen2.5-7b-instruct"]) {
      expect(at(id).share).toBeCloseTo(h(id) / (h(id) + DEFAULT_CONSTANTS.widthHalfEfficiency), 9);
    }
    expect(at("qwen2.5-7b-instruct").share).toBeGreaterThan(at("qwen2.5-0.5b-instruct").share);
  });

  it("times fp16 and bf16 alike on a GeForce card (same FP32-accumulate rate) and fp32 slower", () => {
    const fp16 = tp(qloraInput({ precision: "fp16" }));
    const bf16 = tp(qloraInput({ precision: "bf16" }));
    const fp32 = tp(qloraInput({ precision: "fp32" }));
    expect(bf16.realTokensPerSecond).toBeCloseTo(fp16.realTokensPerSecond, 6);
    expect(fp32.realTokensPerSecond).toBeLessThan(fp16.realTokensPerSecond);
    expect(peakFlopsFor(gpu("rtx-4060").peakFlops, "fp32")).toBe(gpu("rtx-4060").peakFlops.fp32);
  });

  it("runs a large batch faster per token on an H200 than on an RTX 4060", () => {
    const input = qloraInput({ batchSize: 16, padding: "max_length", seqLen: 512 });
    expect(tp({ ...input, gpu: gpu("h200") }).realTokensPerSecond).toBeGreaterThan(
      5 * tp(input).realTokensPerSecond,
    );
  });

  it("waits on the host for a tiny model on a big GPU", () => {
    const t = tp(
      qloraInput({ model: model("tiny-qwen2"), gpu: gpu("h200"), method: "lora", quant: null, batchSize: 1 }),
    );
    expect(t.bound).toBe("host");
  });

  it("counts each RMSNorm's host operations: Qwen3's q/k norms and Gemma's four a layer cost more than two", () => {
    // Same layer count and shape: Qwen3-1.7B and Qwen2.5-1.5B both have 28 layers and 7 linears a layer.
    const ops = (id: string, extra: Partial<PlanInput> = {}) =>
      tp(qloraInput({ model: model(id), gpu: gpu("h100-sxm"), padding: "max_length", ...extra }))
        .opsPerMicroStep;
    const passes = 3 + 1; // forward, backward (2), recompute
    expect(ops("qwen3-1.7b") - ops("qwen2.5-1.5b-instruct")).toBe(28 * passes * 2 * 8);
    // Eager attention adds its unfused steps (Gemma 2's soft-capping three more) where SDPA is one call.
    const g2 = model("gemma-2-2b");
    const eager = ops("gemma-2-2b", { attnImplementation: "eager" });
    const sdpa = ops("gemma-2-2b", { attnImplementation: "sdpa" });
    expect(eager - sdpa).toBe(g2.architecture.numLayers * passes * (7 + 3));
  });

  it("takes the host out of a graphed decoder's step: run 1 packed on an H200 is host-bound eager, not graphed", () => {
    const run1 = (cudaGraphs: boolean) =>
      tp(
        qloraInput({
          gpu: gpu("h200"),
          batchSize: 1,
          seqLen: 512,
          padding: "packed",
          cudaGraphs,
          lora: { r: 16, dropout: 0, targetModules: "all-linear" },
        }),
      );
    const eager = run1(false);
    const graphed = run1(true);
    expect(eager.bound).toBe("host");
    expect(graphed.bound).not.toBe("host");
    expect(graphed.hostSeconds).toBeLessThan(eager.hostSeconds / 20);
    // The GPU still runs each of the decoder's kernels: at batch 1 × 512 that, not the math, bounds the step.
    expect(graphed.bound).toBe("launch");
    const headOps = 36;
    expect(graphed.launchSeconds).toBeCloseTo(
      (eager.opsPerMicroStep - headOps) * DEFAULT_CONSTANTS.graphKernelSeconds,
      9,
    );
    // Rows padded to seqLen: the graphed run processes a full row per micro-batch.
    expect(graphed.processedTokensPerSecond / graphed.realTokensPerSecond).toBeGreaterThanOrEqual(1);
  });

  it("charges the changing-shape host factor only on changing shapes with LoRA dropout, and padded rows only where SDPA runs them on cuDNN attention", () => {
    const k = { ...DEFAULT_CONSTANTS, variableShapeHostFactor: 2 };
    const host = (
      padding: PlanInput["padding"],
      dropout: number,
      cudaGraphs = false,
      cudnnAttention = true,
      card = "h200",
    ) =>
      estimateThroughput(
        qloraInput({
          gpu: gpu(card),
          padding,
          cudaGraphs,
          cudnnAttention,
          lora: { r: 16, dropout, targetModules: "all-linear" },
        }),
        gpu(card),
        k,
      );
    const perOp = (t: ReturnType<typeof host>) =>
      (t.hostSeconds - k.microStepFixedSeconds) / (t.opsPerMicroStep * k.cpuSecondsPerOp);
    expect(perOp(host("longest", 0.05))).toBeCloseTo(2, 9);
    expect(perOp(host("packed", 0.05))).toBeCloseTo(2, 9);
    // Dropout on a fixed shape, or changing shapes without dropout: a fixed shape's host cost.
    expect(perOp(host("max_length", 0.05))).toBeCloseTo(1, 9);
    expect(perOp(host("longest", 0))).toBeCloseTo(1, 9);
    expect(perOp(host("packed", 0))).toBeCloseTo(1, 9);
    // cuDNN attention off: padded rows lose the factor; packed rows never ran on it.
    expect(perOp(host("longest", 0.05, false, false))).toBeCloseTo(1, 9);
    expect(perOp(host("packed", 0.05, false, false))).toBeCloseTo(2, 9);
    // A consumer card (8.9): SDPA runs masked batches on memory-efficient attention, never cuDNN's.
    expect(perOp(host("longest", 0.05, false, true, "rtx-4060"))).toBeCloseTo(1, 9);
    expect(perOp(host("packed", 0.05, false, true, "rtx-4060"))).toBeCloseTo(2, 9);
  });

  it("estimates J/token as board power over real tokens/s", () => {
    const t = tp(qloraInput());
    expect(t.energy.joulesPerRealToken).toBeCloseTo(115 / t.realTokensPerSecond, 12);
    expect(t.energy.method).toMatch(/estimate/);
    expect(t.secondsPer10kRealTokens).toBeCloseTo(10_000 / t.realTokensPerSecond, 9);
  });

  it("amortizes the optimizer step over gradient accumulation", () => {
    const one = tp(qloraInput({ gradAccum: 1 }));
    const eight = tp(qloraInput({ gradAccum: 8 }));
    expect(eight.stepSeconds).toBeCloseTo(8 * one.microStepSeconds + one.optimizerStepSeconds, 12);
    expect(eight.realTokensPerSecond).toBeGreaterThanOrEqual(one.realTokensPerSecond);
  });

  it("keeps MFU below 1", () => {
    for (const g of ["rtx-4060", "h200", "rtx-5090"]) {
      const t = tp(qloraInput({ gpu: gpu(g), batchSize: 8, padding: "max_length", seqLen: 1024 }));
      expect(t.mfu).toBeGreaterThan(0);
      expect(t.mfu).toBeLessThan(1);
    }
  });
});
