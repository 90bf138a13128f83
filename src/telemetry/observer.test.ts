import { EventEmitter } from "node:events";
import { describe, expect, it } from "vitest";
import { requireModel } from "../catalog/models.js";
import { PROTOCOL_VERSION, SummaryEventSchema, type HelloEvent, type RunSpec } from "../protocol/index.js";
import type { RunObserver } from "../run/run.js";
import type { TelemetryMetrics } from "./metrics.js";
import { createTelemetryObserver, smiIndexForCudaDevice } from "./observer.js";
import type { SamplerChild, SpawnImpl, TaggedSample } from "./sampler.js";

class FakeChild extends EventEmitter implements SamplerChild {
  readonly stdout = new EventEmitter();
  readonly stderr = new EventEmitter();
  kill(): boolean {
    setImmediate(() => this.emit("close", null, "SIGTERM"));
    return true;
  }
}

/** A fake nvidia-smi whose streaming process writes a line whenever the test says, 100 ms apart on a fake clock. */
function controllableSmi() {
  const clock = { ms: 1_000_000 };
  let stream: FakeChild | null = null;
  const args: string[][] = [];
  const line = (watts: number) =>
    `2025/11/03 12:00:00.000, 0, ${watts}, ${watts}, 1024, 143771, 50, 20, 1980, 3201, 40, P0\n`;
  const spawnImpl: SpawnImpl = (_c, a) => {
    args.push([...a]);
    const child = new FakeChild();
    if (a.includes("-lms")) stream = child;
    else {
      setImmediate(() => {
        child.stdout.emit("data", line(80));
        child.emit("close", 0, null);
      });
    }
    return child;
  };
  const emit = (watts: number, n: number) => {
    for (let i = 0; i < n; i++) {
      clock.ms += 100;
      stream?.stdout.emit("data", line(watts));
    }
  };
  return { clock, spawnImpl, emit, args, hasStream: () => stream !== null };
}

const hello: HelloEvent = {
  type: "hello",
  protocolVersion: PROTOCOL_VERSION,
  engineVersion: "0.1.0",
  pid: 1,
  python: "3.12",
  platform: "linux",
  libraries: {},
  device: {
    kind: "cuda",
    index: 0,
    name: "NVIDIA H200",
    totalMemoryBytes: 143771 * 1024 ** 2,
    capability: "9.0",
    driver: "580",
    bf16Supported: true,
    cpuThreads: 16,
  },
  startupSeconds: { imports: 3.1, device: 0.4 },
};

const arch = requireModel("qwen2.5-1.5b-instruct").architecture;
const spec = {
  protocolVersion: PROTOCOL_VERSION,
  runId: "r1",
  model: {
    id: "m",
    source: "synthetic",
    path: null,
    hubId: null,
    revision: null,
    architecture: arch,
    syntheticSeed: 0,
  },
  data: {
    shardDir: "/x",
    padTokenId: 0,
    batchSize: 4,
    seqLen: 512,
    gradAccum: 1,
    padding: "longest",
    seed: 0,
  },
  train: {
    steps: 12,
    warmupSteps: 2,
    precision: "bf16",
    method: "qlora",
    gradCheckpointing: true,
    attnImplementation: "sdpa",
    seed: 0,
    logEverySteps: 1,
    lossImplementation: "full",
    lossChunkTokens: 1024,
    recipe: "reference",
    kernels: "none",
    fusedLora: false,
    cudaGraphs: false,
    cudnnAttention: true,
    offloadActivations: false,
    compile: "none",
  },
  lora: { r: 16, alpha: 32, dropout: 0, targetModules: "all-linear" },
  quant: { type: "nf4", doubleQuant: true },
  optimizer: {
    name: "paged_adamw_8bit",
    lr: 1e-4,
    weightDecay: 0,
    beta1: 0.9,
    beta2: 0.999,
    eps: 1e-8,
    maxGradNorm: 1,
    schedule: "constant",
  },
  device: "cuda:0",
  vramBudgetBytes: null,
  cudaAllocator: "expandable",
  telemetry: { energy: true },
} satisfies RunSpec;

const summary = (energy: number | null) =>
  SummaryEventSchema.parse({
    type: "summary",
    warmupSteps: 2,
    measuredSteps: 10,
    measuredSeconds: 4,
    realTokens: 16_000,
    processedTokens: 20_000,
    labelTokens: 12_000,
    stepSecondsMedian: 0.4,
    lossFirst: null,
    lossLast: null,
    memory: {
      allocatedBytes: 1,
      reservedBytes: 2,
      peakAllocatedBytes: 3,
      peakReservedBytes: 4,
      deviceUsedBytes: 5,
      deviceTotalBytes: 6,
      budgetBytes: null,
    },
    nvmlPeakProcessBytes: { value: 7, reason: null },
    nvmlPeakDeviceBytes: { value: 8, reason: null },
    energyJoules:
      energy === null ? { value: null, reason: "Not Supported" } : { value: energy, reason: null },
  });

describe("createTelemetryObserver", () => {
  it("fits the run stage's observer hook", () => {
    const o: RunObserver = createTelemetryObserver();
    expect(typeof o.finish).toBe("function");
  });

  it("samples an idle baseline, tags the run's phases and measures the window", async () => {
    const smi = controllableSmi();
    let stored: TaggedSample[] = [];
    const observer = createTelemetryObserver({
      spawnImpl: smi.spawnImpl,
      now: () => smi.clock.ms,
      idleBaselineMs: 50,
      onSamples: (_id, s) => (stored = s),
    });
    const started = observer.start({ runId: "r1", device: "cuda:0", spec });
    while (!smi.hasStream()) await new Promise((r) => setImmediate(r));
    smi.emit(60, 20); // idle, before the engine starts
    smi.clock.ms += 50;
    await started;
    observer.event(hello);
    smi.emit(300, 10); // model load and warmup steps
    smi.clock.ms += 50;
    observer.event({ type: "window", state: "start", step: 2, unixMs: smi.clock.ms });
    smi.emit(400, 40); // 4 s measured at 400 W
    smi.clock.ms += 50;
    observer.event({ type: "window", state: "end", step: 12, unixMs: smi.clock.ms });
    smi.emit(100, 5);

    const out = await observer.finish({ runId: "r1", summary: summary(1600) });
    const t = out["telemetry"] as TelemetryMetrics;
    expect(stored.map((s) => s.phase)).toEqual([
      ...Array(20).fill("idle"),
      ...Array(10).fill("warmup"),
      ...Array(40).fill("measure"),
      ...Array(5).fill("idle"),
    ]);
    expect(t.idleBaselineWatts.value).toBe(60);
    expect(t.energyJoules).toMatchObject({ value: 1600, source: "nvml-counter" });
    // The window opens 50 ms after a 300 W reading and 100 ms before the first 400 W one (333⅓ W
    // interpolated), and closes 50 ms after the last 400 W reading, 100 ms before a 100 W one (300 W).
    expect(t.integratedEnergyJoules.value).toBeCloseTo(
      (0.1 * (1000 / 3 + 400)) / 2 + 3.9 * 400 + (0.05 * (400 + 300)) / 2,
      6,
    );
    expect(t.energyCrossCheck.flagged).toBe(false);
    expect(t.joulesPerRealToken.value).toBe(0.1);
    expect(t.mfu.value).toBeGreaterThan(0);
    expect(t.hfu.value).toBeGreaterThan(t.mfu.value as number);
    expect(t.paperMethodJoulesPerToken).toMatchObject({
      assumedWatts: 700,
      assumedWattsSource: "gpu-catalog",
    });
    expect(smi.args.find((a) => a.includes("-lms"))).toContain("0");
  });

  it("returns metrics that say why on a CPU run, starting no sampler", async () => {
    const spawnImpl: SpawnImpl = () => {
      throw new Error("must not spawn");
    };
    const observer = createTelemetryObserver({ spawnImpl });
    await observer.start({ runId: "r2", device: "cpu" });
    const out = await observer.finish({ runId: "r2", summary: null });
    expect(out["telemetryHealth"]).toEqual({ unavailable: "the run used the CPU" });
    const t = out["telemetry"] as TelemetryMetrics;
    expect(t.energyJoules).toMatchObject({ value: null, reason: expect.stringMatching(/CPU/) });
  });

  it("keeps the counter's energy when nvidia-smi is missing", async () => {
    const observer = createTelemetryObserver({
      spawnImpl: () => {
        const c = new FakeChild();
        setImmediate(() =>
          c.emit("error", Object.assign(new Error("spawn nvidia-smi ENOENT"), { code: "ENOENT" })),
        );
        return c;
      },
      idleBaselineMs: 0,
    });
    await observer.start({ runId: "r3", device: "cuda:0", spec });
    observer.event(hello);
    observer.event({ type: "window", state: "start", step: 2, unixMs: 1000 });
    observer.event({ type: "window", state: "end", step: 12, unixMs: 5000 });
    const t = (await observer.finish({ runId: "r3", summary: summary(1600) }))[
      "telemetry"
    ] as TelemetryMetrics;
    expect(t.energyJoules.value).toBe(1600);
    expect(t.integratedEnergyJoules.reason).toMatch(/not found on PATH/);
    expect(t.mfu.value).not.toBeNull();
  });
});

describe("smiIndexForCudaDevice", () => {
  it("maps cuda:N through a numeric CUDA_VISIBLE_DEVICES", () => {
    expect(smiIndexForCudaDevice(1, { CUDA_VISIBLE_DEVICES: "2,5" })).toBe(5);
    expect(smiIndexForCudaDevice(0, {})).toBe(0);
  });

  it("gives up, with the reason, on a UUID it cannot map or an index out of range", () => {
    expect(smiIndexForCudaDevice(0, { CUDA_VISIBLE_DEVICES: "GPU-1234" })).toEqual({
      reason: expect.stringMatching(/not an index/),
    });
    expect(smiIndexForCudaDevice(2, { CUDA_VISIBLE_DEVICES: "0,1" })).toEqual({
      reason: expect.stringMatching(/not in/),
    });
  });
});
