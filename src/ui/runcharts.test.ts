import { describe, expect, it } from "vitest";
import type { SamplePoint, StepPoint } from "../server/api.js";
import { overlay, runCharts } from "./runcharts.js";

const step = (n: number, over: Partial<StepPoint> = {}): StepPoint => ({
  step: n,
  phase: n <= 2 ? "warmup" : "measure",
  realTokens: 100,
  processedTokens: 125,
  loss: 3 - n / 10,
  stepSeconds: 0.5,
  allocatedBytes: null,
  unixMs: 1000 * n,
  ...over,
});
type Series = { name: string; data: [number, number][] };
const series = (c: { chart: { option: { series?: unknown } } }) => (c.chart.option.series ?? []) as Series[];

describe("the run page's charts", () => {
  it("draws loss, tokens/s and step time by step, and folds the GPU charts of a CPU run into one line", () => {
    const { charts, notMeasured } = runCharts(
      [1, 2, 3, 4].map((n) => step(n)),
      [],
    );
    expect(charts.map((c) => c.id)).toEqual(["loss", "tokens", "step-time"]);
    const [real, processed] = series(charts[1]!);
    expect(real!.data.map((p) => p[1])).toEqual([200, 200, 200, 200]);
    expect(processed!.data[0]![1]).toBe(250);
    expect(notMeasured).toEqual(["GPU memory (allocator)", "GPU memory (NVML)", "power", "utilization"]);
  });

  it("keeps every chart in place before the first step, and draws GPU telemetry over time", () => {
    expect(runCharts([], []).charts).toHaveLength(7);
    const samples: SamplePoint[] = [0, 500, 1000].map((t) => ({
      tMs: 10_000 + t,
      gpuIndex: 0,
      phase: "measure",
      powerWatts: 300,
      memoryUsedBytes: 2 ** 30,
      utilizationGpuPercent: 90,
    }));
    const { charts } = runCharts([step(1, { allocatedBytes: 2 ** 31 })], samples);
    const power = charts.find((c) => c.id === "power")!;
    expect(series(power)[0]!.data.map((p) => p[0])).toEqual([0, 0.5, 1]);
    expect(series(charts.find((c) => c.id === "allocator")!)[0]!.data[0]![1]).toBe(2);
  });

  it("overlays one curve per run", () => {
    const chart = overlay(
      "Loss",
      "loss (nats)",
      [
        { name: "a", steps: [step(1), step(2)] },
        { name: "b", steps: [step(1)] },
      ],
      (s) => s.loss,
    );
    expect((chart.option.series as Series[]).map((s) => [s.name, s.data.length])).toEqual([
      ["a", 2],
      ["b", 1],
    ]);
  });
});
