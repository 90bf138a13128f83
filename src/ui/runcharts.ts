/**
 * A run's rows → the dashboard's chart specs (the same builders the reports use). Pure: the run
 * view calls these again whenever server-sent events add rows.
 */
import { emptyOption, lineOption, type LineSeries, type SizedOption } from "../charts/options.js";
import type { SamplePoint, StepPoint } from "../server/api.js";
import { GiB } from "./format.js";

const W = 620;
const H = 300;

function perStep(
  title: string,
  yLabel: string,
  series: { name: string; y: (s: StepPoint) => number | null }[],
  steps: StepPoint[],
  opts: { yFromZero?: boolean; formatY?: (n: number) => string } = {},
): SizedOption {
  const firstMeasured = steps.find((s) => s.phase === "measure")?.step;
  const lines: LineSeries[] = series.map((s) => ({
    name: s.name,
    points: steps.flatMap((st) => {
      const y = s.y(st);
      return y === null || !Number.isFinite(y) ? [] : [{ x: st.step, y }];
    }),
  }));
  if (lines.every((l) => l.points.length === 0)) return emptyOption(title, "no values yet", W);
  return lineOption({
    title,
    xLabel: "training step (optimizer steps)",
    yLabel,
    series: lines,
    ...(firstMeasured !== undefined && steps.some((s) => s.phase === "warmup")
      ? { markX: { x: firstMeasured, label: "measured →" } }
      : {}),
    formatX: (n) => String(n),
    zoom: true,
    width: W,
    height: H,
    ...opts,
  });
}

function perSecond(
  title: string,
  yLabel: string,
  samples: SamplePoint[],
  y: (s: SamplePoint) => number | null,
  why: string,
): SizedOption {
  const t0 = samples[0]?.tMs ?? 0;
  const gpus = [...new Set(samples.map((s) => s.gpuIndex))];
  const series = gpus.map((g) => ({
    name: `GPU ${g}`,
    points: samples.flatMap((s) => {
      const v = s.gpuIndex === g ? y(s) : null;
      return v === null ? [] : [{ x: (s.tMs - t0) / 1000, y: v }];
    }),
  }));
  if (series.every((s) => s.points.length === 0)) return emptyOption(title, why, W);
  return lineOption({
    title,
    xLabel: "time since sampling began (s)",
    yLabel,
    series,
    yFromZero: true,
    zoom: true,
    width: W,
    height: H,
  });
}

export interface RunCharts {
  charts: { id: string; chart: SizedOption }[];
  /** Charts with nothing to draw for this run (a CPU run has no GPU telemetry), said in one line. */
  notMeasured: string[];
}

export function runCharts(steps: StepPoint[], samples: SamplePoint[]): RunCharts {
  const all = allRunCharts(steps, samples);
  // Before the first step every chart shows where it will be; after it, charts with nothing to draw
  // (GPU telemetry on a CPU run) become one line instead of empty boxes.
  const empty = all.filter((c) => !c.chart.option.series);
  return {
    charts: steps.length ? all.filter((c) => c.chart.option.series || c.id === "loss") : all,
    notMeasured: steps.length ? empty.filter((c) => c.id !== "loss").map((c) => c.title) : [],
  };
}

function allRunCharts(
  steps: StepPoint[],
  samples: SamplePoint[],
): { id: string; title: string; chart: SizedOption }[] {
  const rate = (n: (s: StepPoint) => number) => (s: StepPoint) =>
    s.stepSeconds && s.stepSeconds > 0 ? n(s) / s.stepSeconds : null;
  const noGpu = "no GPU telemetry for this run (a CPU run, or NVML unavailable)";
  return [
    {
      id: "loss",
      title: "loss",
      chart: perStep("Loss", "loss (nats per label token)", [{ name: "loss", y: (s) => s.loss }], steps, {
        formatY: (n) => n.toFixed(2),
      }),
    },
    {
      id: "tokens",
      title: "tokens/s",
      chart: perStep(
        "Tokens per second",
        "tokens per second (tokens/s)",
        [
          { name: "real", y: rate((s) => s.realTokens) },
          { name: "processed", y: rate((s) => s.processedTokens) },
        ],
        steps,
        { yFromZero: true },
      ),
    },
    {
      id: "step-time",
      title: "step time",
      chart: perStep("Step time", "step time (s)", [{ name: "step", y: (s) => s.stepSeconds }], steps, {
        yFromZero: true,
      }),
    },
    {
      id: "allocator",
      title: "GPU memory (allocator)",
      chart: perStep(
        "GPU memory (allocator)",
        "allocated (GiB)",
        [{ name: "allocated", y: (s) => (s.allocatedBytes === null ? null : s.allocatedBytes / GiB) }],
        steps,
        { yFromZero: true, formatY: (n) => n.toFixed(2) },
      ),
    },
    {
      id: "nvml-memory",
      title: "GPU memory (NVML)",
      chart: perSecond(
        "GPU memory (NVML)",
        "device memory used (GiB)",
        samples,
        (s) => (s.memoryUsedBytes === null ? null : s.memoryUsedBytes / GiB),
        noGpu,
      ),
    },
    {
      id: "power",
      title: "power",
      chart: perSecond("Power", "board power (W)", samples, (s) => s.powerWatts, noGpu),
    },
    {
      id: "utilization",
      title: "utilization",
      chart: perSecond("Utilization", "GPU utilization (%)", samples, (s) => s.utilizationGpuPercent, noGpu),
    },
  ];
}

/** Overlaid curves of several runs (compare view): one series per run. */
export function overlay(
  title: string,
  yLabel: string,
  runs: { name: string; steps: StepPoint[] }[],
  y: (s: StepPoint) => number | null,
  formatY?: (n: number) => string,
): SizedOption {
  const series = runs.map((r) => ({
    name: r.name,
    points: r.steps.flatMap((s) => {
      const v = y(s);
      return v === null || !Number.isFinite(v) ? [] : [{ x: s.step, y: v }];
    }),
  }));
  if (series.every((s) => s.points.length === 0)) return emptyOption(title, "no values", W);
  return lineOption({
    title,
    xLabel: "training step (optimizer steps)",
    yLabel,
    series,
    formatX: (n) => String(n),
    ...(formatY ? { formatY } : {}),
    zoom: true,
    width: W,
    height: H,
  });
}
