import { describe, expect, it } from "vitest";
import { peakFlopsFor } from "../catalog/peak.js";
import { SummaryEventSchema, type SummaryEvent } from "../protocol/index.js";
import { findGpu } from "../catalog/gpus.js";
import { requireModel } from "../catalog/models.js";
import { flopsPerToken } from "../plan/flops.js";
import { catalogFacts, computeTelemetryMetrics, type TelemetryMetricsInput } from "./metrics.js";
import type { TelemetrySample } from "./parse.js";

const GiB = 1024 ** 3;

function summary(over: Partial<SummaryEvent> = {}): SummaryEvent {
  return SummaryEventSchema.parse({
    type: "summary",
    warmupSteps: 2,
    measuredSteps: 10,
    measuredSeconds: 10,
    realTokens: 40_000,
    processedTokens: 50_000,
    labelTokens: 30_000,
    stepSecondsMedian: 1,
    lossFirst: 2,
    lossLast: 1.5,
    memory: {
      allocatedBytes: 5 * GiB,
      reservedBytes: 6 * GiB,
      peakAllocatedBytes: 7 * GiB,
      peakReservedBytes: 8 * GiB,
      deviceUsedBytes: 9 * GiB,
      deviceTotalBytes: 141 * GiB,
      budgetBytes: null,
    },
    nvmlPeakProcessBytes: { value: 8.5 * GiB, reason: null },
    nvmlPeakDeviceBytes: { value: 9.5 * GiB, reason: null },
    energyJoules: { value: 4000, reason: null },
    ...over,
  });
}

/** 100 ms samples: 60 W idle until t=5 s, 400 W from then on (warmup at 5 s, window 10–20 s). */
function samples(): TelemetrySample[] {
  const out: TelemetrySample[] = [];
  for (let t = 0; t <= 22_000; t += 100) {
    const busy = t >= 5000;
    out.push({
      tMs: t,
      gpuIndex: 0,
      powerWatts: busy ? 400 : 60,
      powerInstantWatts: busy ? 410 : 58,
      memoryUsedBytes: busy ? 10 * GiB : 0.5 * GiB,
      memoryTotalBytes: 141 * GiB,
      utilizationGpuPercent: busy ? 90 : 0,
      utilizationMemoryPercent: busy ? 40 : 0,
      smClockHz: busy ? 1.98e9 : 0.345e9,
      memClockHz: 3.2e9,
      temperatureC: busy ? 60 + t / 1000 : 30,
      pstate: "P0",
    });
  }
  return out;
}

function input(over: Partial<TelemetryMetricsInput> = {}): TelemetryMetricsInput {
  return {
    summary: summary(),
    samples: samples(),
    window: { fromMs: 10_000, toMs: 20_000 },
    idleBeforeMs: 5000,
    device: "cuda",
    precision: "bf16",
    gpu: { name: "H200", boardPowerWatts: 700, densePeakFlopsPerSecond: 989e12 },
    flops: { modelFlopsPerToken: 1e10, hardwareFlopsPerToken: 1.3e10 },
    ...over,
  };
}

describe("computeTelemetryMetrics", () => {
  it("computes every figure for a GPU run with a counter, samples and catalog facts", () => {
    const m = computeTelemetryMetrics(input());
    expect(m.energyJoules).toEqual({ value: 4000, reason: null, source: "nvml-counter" });
    // The instant reading (410 W) is integrated, as every sample has one.
    expect(m.integratedEnergyJoules.field).toBe("powerInstantWatts");
    expect(m.integratedEnergyJoules.value).toBeCloseTo(4100, 6);
    expect(m.energyCrossCheck.relativeDifference).toBeCloseTo(0.025, 9);
    expect(m.energyCrossCheck.flagged).toBe(false);
    expect(m.averagePowerWatts.value).toBe(400);
    expect(m.realTokensPerSecond.value).toBe(4000);
    expect(m.joulesPerRealToken.value).toBe(0.1);
    expect(m.joulesPerProcessedToken.value).toBe(0.08);
    expect(m.memory.allocatorPeakAllocatedBytes.value).toBe(7 * GiB);
    expect(m.memory.allocatorPeakReservedBytes.value).toBe(8 * GiB);
    expect(m.memory.nvmlPeakProcessBytes.value).toBe(8.5 * GiB);
    expect(m.memory.nvmlPeakDeviceBytes.value).toBe(9.5 * GiB);
    expect(m.memory.sampledPeakMemoryUsedBytes.value).toBe(10 * GiB);
    expect(m.meanUtilizationGpuPercent.value).toBe(90);
    expect(m.meanSmClockHz.value).toBeCloseTo(1.98e9, 0);
    expect(m.maxTemperatureC.value).toBe(80); // the hottest reading inside the window (t = 20 s)
    expect(m.idleBaselineWatts.value).toBe(60);
    expect(m.paperMethodJoulesPerToken).toEqual({
      value: 700 / 4000,
      reason: null,
      estimate: true,
      assumedWatts: 700,
      assumedWattsSource: "gpu-catalog",
    });
    expect(m.achievedModelFlopsPerSecond.value).toBe(4e13);
    expect(m.mfu.value).toBeCloseTo(4e13 / 989e12, 12);
    expect(m.hfu.value).toBeCloseTo(5.2e13 / 989e12, 12);
  });

  it("flags a counter and an integral that disagree by more than 10%", () => {
    const m = computeTelemetryMetrics(
      input({ summary: summary({ energyJoules: { value: 3000, reason: null } }) }),
    );
    expect(m.energyCrossCheck.flagged).toBe(true);
  });

  it("falls back to the power integral, and says so, when the driver has no energy counter", () => {
    const reason = "nvmlDeviceGetTotalEnergyConsumption: Not Supported";
    const m = computeTelemetryMetrics(input({ summary: summary({ energyJoules: { value: null, reason } }) }));
    expect(m.energyJoules.source).toBe("sampled-power-integral");
    expect(m.energyJoules.value).toBeCloseTo(4100, 6);
    expect(m.energyJoules.reason).toContain(reason);
    expect(m.energyCrossCheck).toMatchObject({ relativeDifference: null, flagged: false });
    expect(m.joulesPerRealToken.value).toBeCloseTo(4100 / 40_000, 9);
  });

  it("keeps the counter's figures and explains the rest when nvidia-smi is missing", () => {
    const m = computeTelemetryMetrics(
      input({ samples: null, samplerUnavailableReason: "nvidia-smi not found on PATH" }),
    );
    expect(m.energyJoules.value).toBe(4000);
    expect(m.integratedEnergyJoules).toMatchObject({
      value: null,
      reason: expect.stringMatching(/nvidia-smi not found/),
    });
    expect(m.meanUtilizationGpuPercent.reason).toMatch(/nvidia-smi not found/);
    expect(m.idleBaselineWatts.value).toBeNull();
    expect(m.mfu.value).not.toBeNull();
  });

  it("degrades to nulls with the CPU as the reason on a CPU run, keeping throughput", () => {
    const m = computeTelemetryMetrics(
      input({
        device: "cpu",
        samples: null,
        gpu: null,
        summary: summary({
          energyJoules: { value: null, reason: "no GPU" },
          nvmlPeakProcessBytes: { value: null, reason: "no GPU" },
          nvmlPeakDeviceBytes: { value: null, reason: "no GPU" },
          memory: {
            allocatedBytes: null,
            reservedBytes: null,
            peakAllocatedBytes: null,
            peakReservedBytes: null,
            deviceUsedBytes: null,
            deviceTotalBytes: null,
            budgetBytes: null,
          },
        }),
      }),
    );
    expect(m.realTokensPerSecond.value).toBe(4000);
    for (const metric of [
      m.energyJoules,
      m.averagePowerWatts,
      m.joulesPerRealToken,
      m.mfu,
      m.hfu,
      m.meanSmClockHz,
    ]) {
      expect(metric.value).toBeNull();
      expect(metric.reason).toMatch(/CPU/);
    }
    expect(m.memory.allocatorPeakAllocatedBytes.reason).toMatch(/CPU/);
    expect(m.paperMethodJoulesPerToken.reason).toMatch(/--assumed-watts/);
  });

  it("explains MFU and the paper's method when the GPU is not in the catalog, and takes --assumed-watts", () => {
    const m = computeTelemetryMetrics(
      input({ gpu: null, gpuReason: 'GPU "NVIDIA B300" is not in the catalog' }),
    );
    expect(m.mfu).toEqual({ value: null, reason: 'GPU "NVIDIA B300" is not in the catalog' });
    expect(m.achievedModelFlopsPerSecond.value).toBe(4e13);
    expect(m.paperMethodJoulesPerToken.value).toBeNull();
    const withFlag = computeTelemetryMetrics(input({ gpu: null, assumedWatts: 1000 }));
    expect(withFlag.paperMethodJoulesPerToken).toMatchObject({
      value: 0.25,
      assumedWattsSource: "flag",
      estimate: true,
    });
  });

  it("lets --assumed-watts override the catalog's board power", () => {
    const m = computeTelemetryMetrics(input({ assumedWatts: 350 }));
    expect(m.paperMethodJoulesPerToken).toMatchObject({
      value: 350 / 4000,
      assumedWatts: 350,
      assumedWattsSource: "flag",
    });
  });

  it("divides by the peak of every GPU the run used", () => {
    const m = computeTelemetryMetrics(input({ gpuCount: 2 }));
    expect(m.mfu.value).toBeCloseTo(4e13 / (2 * 989e12), 12);
  });

  it("has no FLOP figures without an architecture, and says why", () => {
    const m = computeTelemetryMetrics(input({ flops: null, flopsReason: "model not in the catalog" }));
    expect(m.mfu).toEqual({ value: null, reason: "model not in the catalog" });
    expect(m.hfu.reason).toBe("model not in the catalog");
  });

  it("survives a run that died before its summary", () => {
    const m = computeTelemetryMetrics(input({ summary: null, window: null }));
    expect(m.energyJoules.reason).toMatch(/before the engine's summary/);
    expect(m.realTokensPerSecond.value).toBeNull();
    expect(m.memory.nvmlPeakDeviceBytes.reason).toMatch(/summary/);
    expect(m.meanUtilizationGpuPercent.reason).toMatch(/no measured window/);
    expect(m.idleBaselineWatts.value).toBe(60);
  });
});

describe("peakFlopsFor (catalog/peak.ts)", () => {
  const peak = { fp32: 67e12, tf32: 495e12, fp16: 989e12, bf16: 989e12 };
  it("uses the fp32 peak for fp32 unless TF32 matmuls were turned on", () => {
    expect(peakFlopsFor(peak, "fp32")).toBe(67e12);
    expect(peakFlopsFor(peak, "fp32", { tf32: true })).toBe(495e12);
    expect(peakFlopsFor(peak, "bf16")).toBe(989e12);
  });
});

describe("catalogFacts", () => {
  const flopsOptions = {
    seqLen: 512,
    loraR: 16,
    targetModules: "all-linear" as const,
    gradCheckpointing: true,
    method: "qlora" as const,
  };
  const arch = requireModel("qwen2.5-1.5b-instruct").architecture;

  it("looks up the GPU by the name nvidia-smi prints and takes the dense peak for the precision", () => {
    const f = catalogFacts({ gpuName: "NVIDIA H200", precision: "bf16", architecture: arch, flopsOptions });
    const h200 = findGpu("h200");
    expect(f.gpu).toEqual({
      name: h200?.name,
      boardPowerWatts: h200?.boardPowerWatts,
      densePeakFlopsPerSecond: h200?.peakFlops.bf16,
    });
    const fp32 = catalogFacts({
      gpuName: "NVIDIA H200",
      precision: "fp32",
      architecture: arch,
      flopsOptions,
    });
    expect(fp32.gpu?.densePeakFlopsPerSecond).toBe(h200?.peakFlops.fp32);
  });

  it("passes the FLOP model's per-token figures through, recompute included in hardware FLOPs", () => {
    const f = catalogFacts({ gpuName: "NVIDIA H200", precision: "bf16", architecture: arch, flopsOptions });
    const ref = flopsPerToken(arch, flopsOptions);
    expect(f.flops).toEqual({
      modelFlopsPerToken: ref.modelFlopsPerToken,
      hardwareFlopsPerToken: ref.hardwareFlopsPerToken,
    });
    expect(f.flops!.hardwareFlopsPerToken).toBeGreaterThan(f.flops!.modelFlopsPerToken);
  });

  it("says why for a GPU missing from the catalog, a CPU run and an unknown architecture", () => {
    expect(
      catalogFacts({ gpuName: "NVIDIA B300", precision: "bf16", architecture: arch, flopsOptions }).gpuReason,
    ).toBe('GPU "NVIDIA B300" is not in the GPU catalog');
    expect(
      catalogFacts({ gpuName: null, precision: "bf16", architecture: arch, flopsOptions }).gpuReason,
    ).toMatch(/CPU/);
    const noArch = catalogFacts({
      gpuName: "NVIDIA H200",
      precision: "bf16",
      architecture: null,
      flopsOptions,
    });
    expect(noArch).toMatchObject({ flops: null, flopsReason: expect.stringMatching(/architecture/) });
  });
});
