import { describe, expect, it } from "vitest";
import { findModel } from "../catalog/models.js";
import {
  estimateMemory,
  fusedLossChunkRows,
  layerActivationBytesPerToken,
  memoryComponents,
} from "./memory.js";
import { DEFAULT_CONSTANTS } from "./constants.js";
import { planRun } from "./plan.js";
import {
  chooseConstants,
  constantsForInput,
  LOSS_MEMORY_KEYS,
  recipeClass,
  shippedCalibration,
  transferCalibration,
  TRANSFER_FACTOR,
} from "./shipped.js";
import { gpu, qloraInput } from "./testing.js";
import { HOST_SPREAD } from "./throughput.js";

describe("shipped calibrations", () => {
  it("ship an H200 calibration per recipe class, fitted to measured runs, with held-out error", () => {
    const h200 = shippedCalibration("h200")!;
    for (const saved of [h200.recipes.reference!, h200.recipes.fast!]) {
      expect(saved.calibration.runs).toBeGreaterThanOrEqual(3);
      expect(saved.heldOut?.error.realTokensPerSecond?.runs).toBeGreaterThanOrEqual(3);
      expect(saved.calibration.fitted.length).toBeGreaterThan(0);
    }
    expect(h200.sources.length).toBeGreaterThan(0);
    expect(shippedCalibration("rtx-4060")).toBeNull();
  });

  it("class a run by the kernels that run: the fused loss, or Liger where the engine applies it, make it fast", () => {
    const qwen = findModel("qwen2.5-1.5b-instruct")!;
    const gemma2 = findModel("gemma-2-9b")!;
    expect(recipeClass({ model: qwen, lossImplementation: "full" })).toBe("reference");
    expect(recipeClass({ model: qwen, lossImplementation: "chunked", kernels: "none" })).toBe("reference");
    expect(recipeClass({ model: qwen, lossImplementation: "fused" })).toBe("fast");
    expect(recipeClass({ model: qwen, lossImplementation: "full", kernels: "liger" })).toBe("fast");
    // Gemma: no Liger patch is applied, so the fast recipe's padded full-loss fallback plans as reference
    expect(recipeClass({ model: gemma2, lossImplementation: "full", kernels: "liger" })).toBe("reference");
    expect(recipeClass({ model: gemma2.architecture, lossImplementation: "fused", kernels: "liger" })).toBe(
      "fast",
    );
  });

  it("uses the GPU's own shipped calibration, else the H200's transferred with a wider interval, and the user's over both", () => {
    const own = chooseConstants({ gpu: gpu("h200"), recipeClass: "fast", user: null });
    expect(own.source.kind).toBe("shipped");
    expect(own.source.label).toMatch(/^calibrated: h200 shipped \(\d+ runs, fast recipe\)$/);
    const moved = chooseConstants({ gpu: gpu("rtx-4060"), recipeClass: "fast", user: null });
    expect(moved.source.kind).toBe("transferred");
    expect(moved.source.label).toMatch(/^transferred from h200 by bandwidth\/FLOP ratio/);
    expect(moved.source.speedFactor).toBeCloseTo(own.source.speedFactor * TRANSFER_FACTOR, 10);
    const saved = shippedCalibration("h200")!.recipes.reference!;
    const user = chooseConstants({
      gpu: gpu("rtx-4060"),
      recipeClass: "fast",
      user: { ...saved, gpuId: "rtx-4060" },
    });
    expect(user.source.kind).toBe("user");
  });

  it("on a GPU whose fitted calibration did not beat the transfer, transfers with the transfer's measured error as the interval", () => {
    const h100 = shippedCalibration("h100-sxm")!;
    const checked = h100.transferError?.fast;
    expect(checked?.runs).toBeGreaterThanOrEqual(3);
    const chosen = chooseConstants({ gpu: gpu("h100-sxm"), recipeClass: "fast", user: null });
    if (h100.recipes.fast) {
      expect(chosen.source.kind).toBe("shipped");
      return;
    }
    const h200Fast = shippedCalibration("h200")!.recipes.fast!;
    const h200Factor = 1 + h200Fast.heldOut!.error.realTokensPerSecond!.maxAbsPct / 100;
    expect(chosen.source.kind).toBe("transferred");
    expect(chosen.source.speedFactor).toBeCloseTo(Math.max(h200Factor, 1 + checked!.maxAbsPct / 100), 10);
    expect(chosen.source.notes[0]).toMatch(/runs on h100-sxm/);
  });

  it("gives a fast run with the full or chunked loss the reference class's loss constants (fp32 copies, reserve share), its other constants the fast class's", () => {
    const g = gpu("h100-sxm");
    const choose = (cls: "reference" | "fast") => chooseConstants({ gpu: g, recipeClass: cls, user: null });
    const ref = choose("reference").calibration!.constants;
    const fast = choose("fast").calibration!.constants;
    expect(fast.lossFp32Copies).not.toBeCloseTo(ref.lossFp32Copies, 3);
    const input = qloraInput({ gpu: g, kernels: "liger", lossImplementation: "full" });
    expect(recipeClass(input)).toBe("fast");
    const full = constantsForInput(input, choose);
    for (const key of LOSS_MEMORY_KEYS) expect(full.calibration!.constants[key]).toBe(ref[key]);
    // On the H100 the fast class's reserve share sits at 0, the reference class's well above it.
    expect(full.calibration!.constants.expandableFragmentation).toBeGreaterThan(
      fast.expandableFragmentation + 0.1,
    );
    expect(full.calibration!.constants.cpuSecondsPerOp).toBe(fast.cpuSecondsPerOp);
    expect(full.calibration!.constants.expandableReserveBytes).toBe(fast.expandableReserveBytes);
    expect(full.source.notes.at(-1)).toMatch(/full loss: the reference class's/);
    const fused = constantsForInput({ ...input, lossImplementation: "fused" }, choose);
    expect(fused.calibration!.constants).toEqual(fast);
    // A run of the reference class keeps its own class's constants.
    const reference = constantsForInput({ ...input, kernels: "none" }, choose);
    expect(reference.calibration!.constants).toEqual(ref);
  });

  it("transfers GPU efficiencies as they are, scales the GEMM fill size by FLOP/s, the width term by FLOP/byte and host costs by the host factor", () => {
    const h200 = gpu("h200");
    const small = gpu("rtx-4060");
    const cal = {
      constants: { ...DEFAULT_CONSTANTS },
      fitted: [],
      runs: 1,
      error: { devicePeakBytes: null, allocatorPeakBytes: null, realTokensPerSecond: null },
    };
    const t = transferCalibration(cal, h200, small, 2);
    expect(t.constants.computeEfficiency).toBe(DEFAULT_CONSTANTS.computeEfficiency);
    expect(t.constants.memoryEfficiency).toBe(DEFAULT_CONSTANTS.memoryEfficiency);
    expect(t.constants.tokensHalfEfficiency).toBeCloseTo(
      (DEFAULT_CONSTANTS.tokensHalfEfficiency * small.peakFlops.bf16) / h200.peakFlops.bf16,
      6,
    );
    // The non-GEMM kernels stream memory: the width where they take half the time follows FLOP/s per byte/s.
    const flopsPerByte = (g: typeof h200) => g.peakFlops.bf16 / g.bandwidthBytesPerSecond;
    expect(t.constants.widthHalfEfficiency).toBeCloseTo(
      (DEFAULT_CONSTANTS.widthHalfEfficiency * flopsPerByte(small)) / flopsPerByte(h200),
      6,
    );
    expect(t.constants.cpuSecondsPerOp).toBe(2 * DEFAULT_CONSTANTS.cpuSecondsPerOp);
    expect(t.constants.microStepFixedSeconds).toBe(2 * DEFAULT_CONSTANTS.microStepFixedSeconds);
  });

  it("gives every speed prediction an interval around it from its source", () => {
    const chosen = chooseConstants({ gpu: gpu("rtx-4060"), recipeClass: "reference", user: null });
    const r = planRun({ ...qloraInput(), calibration: chosen.calibration!, constantsSource: chosen.source });
    const tps = r.throughput!.realTokensPerSecond;
    expect(r.speedInterval!.low).toBeCloseTo(tps / chosen.source.speedFactor, 6);
    expect(r.speedInterval!.high).toBeCloseTo(tps * chosen.source.speedFactor, 6);
    expect(planRun(qloraInput()).constantsSource.kind).toBe("defaults");
  });

  it("widens the interval by the host's spread where the step waits on the host, and only there", () => {
    const g = gpu("h200");
    const planned = (over: Parameters<typeof qloraInput>[0]) => {
      const input = qloraInput({ gpu: g, ...over });
      const chosen = chooseConstants({ gpu: g, recipeClass: recipeClass(input), user: null });
      return planRun({ ...input, calibration: chosen.calibration!, constantsSource: chosen.source });
    };
    const host = planned({ batchSize: 1, seqLen: 512 });
    expect(host.throughput!.bound).toBe("host");
    const tps = host.throughput!.realTokensPerSecond;
    expect(host.speedInterval!.hostSpread).toBe(HOST_SPREAD);
    expect(host.speedInterval!.high).toBeGreaterThan(tps * host.constantsSource.speedFactor);
    expect(host.speedInterval!.high).toBeLessThanOrEqual(tps * HOST_SPREAD);
    expect(host.speedInterval!.low).toBeLessThan(tps / host.constantsSource.speedFactor);
    const gpuBound = planned({
      method: "lora",
      quant: null,
      padding: "max_length",
      precision: "bf16",
      batchSize: 16,
      seqLen: 2048,
      gradCheckpointing: false,
    });
    expect(gpuBound.throughput!.bound).not.toBe("host");
    expect(gpuBound.speedInterval!.hostSpread).toBeNull();
    expect(gpuBound.speedInterval!.high).toBeCloseTo(
      gpuBound.throughput!.realTokensPerSecond * gpuBound.constantsSource.speedFactor,
      6,
    );
  });
});

describe("reserved memory by allocator mode", () => {
  it("adds the variable-shape growth with PyTorch's default allocator, on the step's transient memory", () => {
    const k = { ...DEFAULT_CONSTANTS, variableShapeFragmentation: 0.2 };
    const reserve = (m: ReturnType<typeof estimateMemory>) =>
      m.allocatorReservedPeakBytes - m.allocatorPeakBytes;
    const at = (padding: "longest" | "max_length", kk = k) =>
      estimateMemory(qloraInput({ cudaAllocator: "default", padding }), kk);
    const fixed = at("max_length");
    expect(reserve(fixed)).toBeGreaterThan(k.allocatorReserveBytes);
    // Same shapes planned (the peak width), one more share of the transient when they vary:
    const noGrowth = at("longest", { ...k, variableShapeFragmentation: 0 });
    const longest = at("longest");
    const transient = (reserve(noGrowth) - k.allocatorReserveBytes) / k.allocatorFragmentation;
    expect(reserve(longest) - reserve(noGrowth)).toBeCloseTo(0.2 * transient, 0);
    expect(transient).toBeLessThan(longest.allocatorPeakBytes);
  });

  it("with expandable segments, reserves a fixed part and a share of the step's transient memory only", () => {
    const k = DEFAULT_CONSTANTS;
    const reserveBytes = (m: ReturnType<typeof estimateMemory>) =>
      m.allocatorReservedPeakBytes - m.allocatorPeakBytes;
    const at = (over: Partial<ReturnType<typeof qloraInput>>) =>
      estimateMemory(qloraInput({ cudaAllocator: "expandable", padding: "max_length", ...over }), k);
    // Optimizer state lives through the step: more of it moves the allocated peak, not the reserve.
    const small = at({ optimizer: "adamw_8bit" });
    const large = at({ optimizer: "adamw_torch" });
    expect(large.allocatorPeakBytes).toBeGreaterThan(small.allocatorPeakBytes);
    expect(reserveBytes(large)).toBeCloseTo(reserveBytes(small), 0);
    expect(reserveBytes(small)).toBeGreaterThan(k.expandableReserveBytes);
    // The full loss's fp32 logits come and go within the step: a longer sequence grows the reserve by
    // expandableFragmentation of what it adds to the transient peak (here the loss phase; the base grows
    // only by the checkpointed layer inputs, which the saved activations of the peak phase hold).
    const short = at({ seqLen: 512 });
    const long = at({ seqLen: 1024 });
    expect(short.peakPhase).toBe("loss");
    expect(long.peakPhase).toBe("loss");
    const grown = reserveBytes(long) - reserveBytes(short);
    expect(grown).toBeGreaterThan(0);
    expect(grown).toBeLessThan(
      k.expandableFragmentation * (long.allocatorPeakBytes - short.allocatorPeakBytes),
    );
  });
});

describe("the fast recipe's memory", () => {
  it("holds one Liger chunk of rows at the fused loss, sized so rows × vocab ≈ tokens × hidden", () => {
    // Qwen2.5-1.5B: vocab 151936, hidden 1536 → cdiv = 99; 4096 tokens → 42 rows → 64 (power of two).
    expect(fusedLossChunkRows(4096, 151936, 1536)).toBe(64);
    expect(fusedLossChunkRows(8, 151936, 1536)).toBe(1);
    expect(fusedLossChunkRows(100, 1000, 1000)).toBe(100); // never more rows than tokens
    const full = memoryComponents(qloraInput({ padding: "packed", lossImplementation: "chunked" }));
    const fused = memoryComponents(qloraInput({ padding: "packed", lossImplementation: "fused" }));
    expect(fused.lossElements).toBeLessThan(full.lossElements / 10);
  });

  it("saves one copy of each layer input for all its adapters with fused LoRA", () => {
    const arch = qloraInput().model;
    const a = "architecture" in arch ? arch.architecture : arch;
    const opts = { computeBytes: 2, loraR: 16, loraDropout: 0, targetModules: "all-linear" as const };
    const peft = layerActivationBytesPerToken(a, opts);
    const fused = layerActivationBytesPerToken(a, { ...opts, fusedLora: true });
    expect(fused.loraInputs).toBeLessThan(peft.loraInputs);
    // q/k/v share the attention-norm output, gate/up the MLP-norm output: 4 distinct inputs.
    expect(fused.loraInputs).toBe(2 * (2 * a.hiddenSize + a.numHeads * a.headDim + a.intermediateSize));
  });
});
