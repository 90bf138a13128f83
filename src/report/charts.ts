/** The report's charts: from the data model to SVG, one function per chart. */
import { fmtSig, GiB } from "./format.js";
import { METRICS, chooseMemoryMetric, type Comparison, type Condition, type ReportModel } from "./model.js";
import { barChart, compactNumber, emptyChart, heatmap, intervalChart, lineChart } from "./svg.js";

export interface Chart {
  id: string;
  title: string;
  /** One sentence on how to read it. */
  caption: string;
  svg: string;
}

const MAX_FACTOR_CHARTS = 12;

const point = (c: Condition, m: "realTokensPerSecond" | "processedTokensPerSecond") => {
  const s = c.stats[m];
  return s ? { median: s.median, low: s.low, high: s.high, n: s.n } : null;
};

function throughputChart(cmp: Comparison, index: number): Chart {
  const title = `Throughput by ${cmp.factor}`;
  return {
    id: `throughput-${index}`,
    title,
    caption: `Median tokens/s of each ${cmp.factor} level with its 95% interval over repeats${cmp.context ? `, at ${cmp.context}` : ""}. Real tokens exclude padding, processed include it.`,
    svg: intervalChart({
      title,
      ...(cmp.context ? { subtitle: `fixed: ${cmp.context}` } : {}),
      series: [
        { name: "real tokens/s", axisLabel: "real (non-padding) tokens per second (tokens/s)" },
        { name: "processed tokens/s", axisLabel: "processed tokens per second, padding included (tokens/s)" },
      ],
      rows: cmp.levels.map((l) => ({
        label: l.value,
        points: [point(l.condition, "realTokensPerSecond"), point(l.condition, "processedTokensPerSecond")],
        ...(l.condition.counts.oom
          ? { note: `OOM ${l.condition.counts.oom}/${l.condition.runs.length}` }
          : l.condition.completed.length === 0
            ? { note: `no completed run (${Object.keys(l.condition.counts).join(", ")})` }
            : {}),
      })),
    }),
  };
}

const num = (s: string | undefined) => (s === undefined ? NaN : Number(JSON.parse(s)));

function shapeComparison(model: ReportModel): Comparison | null {
  return (
    model.comparisons
      .filter((c) => c.fields.join(",") === "batchSize,seqLen")
      .sort((a, b) => b.levels.length - a.levels.length)[0] ?? null
  );
}

function memoryChart(model: ReportModel): Chart | null {
  const cmp = shapeComparison(model);
  if (!cmp) return null;
  const conds = cmp.levels.map((l) => l.condition);
  const metric = chooseMemoryMetric(conds);
  const title = "Peak memory over batch × sequence";
  if (!metric) {
    return {
      id: "memory-grid",
      title,
      caption: "Peak memory needs a CUDA device (allocator and NVML figures).",
      svg: emptyChart(title, "peak memory not measured on this device (no CUDA allocator, no NVML)"),
    };
  }
  const batches = [...new Set(conds.map((c) => num(c.settings["batchSize"])))].sort((a, b) => a - b);
  const seqs = [...new Set(conds.map((c) => num(c.settings["seqLen"])))].sort((a, b) => a - b);
  const budgets = [...new Set(conds.map((c) => c.budgetBytes).filter((b): b is number => b !== null))];
  const budget = budgets.length === 1 ? budgets[0]! : null;
  const series = batches.map((b) => ({
    name: `batch ${b}`,
    points: conds
      .filter((c) => num(c.settings["batchSize"]) === b && c.stats[metric])
      .map((c) => ({ x: num(c.settings["seqLen"]), y: c.stats[metric]!.median / GiB })),
  }));
  const markers = conds
    .filter((c) => (c.counts.oom ?? 0) > 0)
    .map((c) => ({
      series: batches.indexOf(num(c.settings["batchSize"])),
      x: num(c.settings["seqLen"]),
      y: budget !== null ? budget / GiB : c.oomMemoryBytes !== null ? c.oomMemoryBytes / GiB : null,
      label: `out of memory: batch ${num(c.settings["batchSize"])} × seq ${num(c.settings["seqLen"])} (${c.counts.oom}/${c.runs.length} runs)`,
    }));
  return {
    id: "memory-grid",
    title,
    caption: `${METRICS[metric].label} (median over repeats) for each batch size across sequence lengths${budget !== null ? `; the dashed line is the ${(budget / GiB).toFixed(1)} GiB budget` : ""}; crosses mark configurations that ran out of memory${cmp.context ? `. Fixed: ${cmp.context}` : ""}.`,
    svg: lineChart({
      title,
      subtitle: `${METRICS[metric].label}${cmp.context ? ` · ${cmp.context}` : ""}`,
      xLabel: "sequence length (tokens)",
      yLabel: `${METRICS[metric].label} (GiB)`,
      xCategories: seqs,
      series,
      ...(budget !== null
        ? { reference: { y: budget / GiB, label: `budget ${(budget / GiB).toFixed(1)} GiB` } }
        : {}),
      markers,
      yFromZero: true,
      formatY: (n) => n.toFixed(n < 10 ? 1 : 0),
      formatX: (n) => String(n),
    }),
  };
}

function throughputHeatmap(model: ReportModel): Chart | null {
  const cmp = shapeComparison(model);
  if (!cmp || cmp.levels.length < 3) return null;
  const conds = cmp.levels.map((l) => l.condition);
  const rows = [...new Set(conds.map((c) => num(c.settings["batchSize"])))].sort((a, b) => a - b);
  const cols = [...new Set(conds.map((c) => num(c.settings["seqLen"])))].sort((a, b) => a - b);
  const title = "Real tokens/s over batch × sequence";
  return {
    id: "throughput-grid",
    title,
    caption:
      "Median real (non-padding) tokens/s per configuration; cells that ran out of memory or failed are outlined.",
    svg: heatmap({
      title,
      ...(cmp.context ? { subtitle: `fixed: ${cmp.context}` } : {}),
      rows,
      cols,
      rowLabel: "batch size (records)",
      colLabel: "sequence length (tokens)",
      valueLabel: "real tokens/s",
      cells: conds.map((c) => ({
        row: num(c.settings["batchSize"]),
        col: num(c.settings["seqLen"]),
        value: c.stats.realTokensPerSecond?.median ?? null,
        ...(c.stats.realTokensPerSecond
          ? {}
          : { status: c.counts.oom ? "OOM" : c.counts.failed ? "failed" : "—" }),
      })),
    }),
  };
}

function energyChart(model: ReportModel): Chart {
  const title = "Energy per real token";
  const bars = model.conditions
    .filter((c) => c.stats.joulesPerRealToken)
    .map((c) => {
      const s = c.stats.joulesPerRealToken!;
      return {
        label: c.referenceId ? `${c.referenceId}: ${c.shortLabel}` : c.shortLabel,
        value: s.median,
        low: s.low,
        high: s.high,
        n: s.n,
      };
    });
  return {
    id: "energy",
    title,
    caption: bars.length
      ? "Joules per real token from the GPU's energy counter over the measured window (median, 95% interval)."
      : "Energy needs NVML's energy counter (an NVIDIA GPU); none of these runs had one.",
    svg: barChart({
      title,
      xLabel: "energy (J per real token)",
      bars,
      format: (n) => fmtSig(n),
      empty: "not measured: no NVML energy counter on this device",
    }),
  };
}

function lossChart(model: ReportModel): Chart | null {
  const mapped = model.conditions.filter((c) => c.referenceId);
  const chosen = (mapped.length ? mapped : model.conditions)
    .filter((c) => c.completed.some((r) => r.losses.length))
    .slice(0, 6);
  if (!chosen.length) return null;
  const title = "Loss curves";
  const random = model.environment.weights.includes("random");
  return {
    id: "loss",
    title,
    caption: `Training loss by step (first repeat of ${mapped.length ? "each configuration of the study" : "each configuration"}).${random ? " Random (synthetic) weights: the curves show the loop trains, not model quality." : ""}`,
    svg: lineChart({
      title,
      ...(random ? { subtitle: "random weights: loss values are not meaningful as quality" } : {}),
      xLabel: "training step (optimizer steps)",
      yLabel: "loss (nats per label token)",
      series: chosen.map((c) => ({
        name: c.referenceId ? `${c.referenceId}` : c.shortLabel,
        points: c.completed.find((r) => r.losses.length)!.losses.map((l) => ({ x: l.step, y: l.loss })),
      })),
      formatX: (n) => String(n),
      formatY: (n) => n.toFixed(2),
    }),
  };
}

function mfuChart(model: ReportModel): Chart | null {
  const conds = model.conditions.filter((c) => c.stats.mfu);
  if (!conds.length) return null;
  const title = "Model FLOPs utilization";
  return {
    id: "mfu",
    title,
    caption:
      "Model FLOPs per real token × tokens/s ÷ the GPU's dense peak at the run's precision (no recompute counted).",
    svg: barChart({
      title,
      xLabel: "MFU (% of dense peak FLOP/s)",
      bars: conds.map((c) => {
        const s = c.stats.mfu!;
        return {
          label: c.referenceId ? `${c.referenceId}: ${c.shortLabel}` : c.shortLabel,
          value: s.median * 100,
          low: s.low === null ? null : s.low * 100,
          high: s.high === null ? null : s.high * 100,
          n: s.n,
        };
      }),
      format: (n) => `${fmtSig(n, 2)}%`,
    }),
  };
}

export function reportCharts(model: ReportModel): Chart[] {
  const charts: Chart[] = [];
  model.comparisons.slice(0, MAX_FACTOR_CHARTS).forEach((c, i) => charts.push(throughputChart(c, i + 1)));
  if (model.comparisons.length === 0 && model.conditions.length) {
    charts.push(
      throughputChart(
        {
          factor: "configuration",
          fields: [],
          context: "",
          // Compact names (2×512, not batch 2 × seq 512): the chart's row labels share the width with its panels.
          levels: model.conditions.map((c) => ({ value: c.shortLabel, condition: c })),
          effects: [],
          memoryMetric: null,
        },
        1,
      ),
    );
  }
  const grid = throughputHeatmap(model);
  if (grid) charts.push(grid);
  const mem = memoryChart(model);
  if (mem) charts.push(mem);
  charts.push(energyChart(model));
  const loss = lossChart(model);
  if (loss) charts.push(loss);
  const mfu = mfuChart(model);
  if (mfu) charts.push(mfu);
  return charts;
}

export { compactNumber };
