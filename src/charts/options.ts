/**
 * Chart specs (plain data, every axis titled with its unit) → ECharts options. The reports render
 * these to SVG in Node (src/report/svg.ts), the dashboard draws the same options in the browser, so
 * a loss curve or a memory bar looks and reads the same in both. Pure functions: no DOM, no I/O.
 */
import type { EChartsOption } from "echarts";
import {
  FONT_FAMILY,
  GRID,
  INK,
  MUTED,
  OOM_COLOR,
  PALETTE,
  VIRIDIS,
  axisCommon,
  compactNumber,
  fitText,
  textWidth,
} from "./theme.js";

/** An option with the pixel size it is meant for (SVG rendering needs one). */
export interface SizedOption {
  option: EChartsOption;
  width: number;
  height: number;
}

// ECharts' callback parameter types are wide unions; these are the fields loraprof reads.
interface CustomApi {
  value(dim: number): number | string;
  coord(v: [number | string, number | string]): number[];
  size(v: [number, number]): number[];
}
interface LabelParams {
  value: unknown;
  data: unknown;
  seriesName?: string;
  name?: string;
}

const titleOf = (title: string, subtitle?: string) => ({
  text: title,
  // Always set, so that a chart redrawn in place (the dashboard) drops an earlier subtitle.
  subtext: subtitle ?? "",
  left: 12,
  top: 8,
  textStyle: { fontSize: 15, fontWeight: 600 as const, color: INK, fontFamily: FONT_FAMILY },
  subtextStyle: { fontSize: 12, color: MUTED, fontFamily: FONT_FAMILY },
});

const base = (title: string, subtitle: string | undefined, description: string): EChartsOption => ({
  animation: false,
  backgroundColor: "#ffffff",
  color: PALETTE,
  textStyle: { fontFamily: FONT_FAMILY, color: INK },
  title: titleOf(title, subtitle),
  // The description names every axis with its unit: it is the chart's accessible name.
  aria: { enabled: true, label: { description: `${title}: ${description}` } },
  tooltip: { trigger: "item", confine: true },
});

export function emptyOption(title: string, message: string, width = 880): SizedOption {
  return {
    width,
    height: 110,
    option: {
      animation: false,
      backgroundColor: "#ffffff",
      title: { ...titleOf(title), subtext: message, subtextStyle: { fontSize: 13, color: MUTED } },
      aria: { enabled: true, label: { description: `${title}: ${message}` } },
    },
  };
}

// ---- dot plot with intervals ---------------------------------------------------------------------

export interface IntervalPoint {
  median: number;
  low: number | null;
  high: number | null;
  n: number;
}

export interface IntervalRow {
  label: string;
  /** One point per series (null where the series has no value for this row). */
  points: (IntervalPoint | null)[];
  /** Shown instead of points when there are none, e.g. "OOM (3/3)". */
  note?: string;
}

export interface IntervalChartSpec {
  title: string;
  subtitle?: string;
  /** One panel per series, side by side, each with its own axis (title with unit). */
  series: { name: string; axisLabel: string }[];
  rows: IntervalRow[];
  format?: (n: number) => string;
  width?: number;
}

/** Horizontal whiskers from low to high at a category row, with end caps: one custom series. */
function whiskers(
  name: string,
  data: [number, number, number][],
  color: string,
  axisIndex: number,
  horizontalCategory: boolean,
) {
  return {
    type: "custom" as const,
    name,
    xAxisIndex: axisIndex,
    yAxisIndex: axisIndex,
    silent: true,
    z: 1,
    encode: { x: [1, 2], y: 0 },
    data,
    renderItem: (_params: unknown, api: CustomApi) => {
      const row = api.value(0);
      const a = api.coord(horizontalCategory ? [api.value(1), row] : [row, api.value(1)]);
      const b = api.coord(horizontalCategory ? [api.value(2), row] : [row, api.value(2)]);
      const style = { stroke: color, lineWidth: 2 };
      return {
        type: "group",
        children: [
          { type: "line", shape: { x1: a[0], y1: a[1], x2: b[0], y2: b[1] }, style },
          { type: "line", shape: { x1: a[0], y1: a[1]! - 5, x2: a[0], y2: a[1]! + 5 }, style },
          { type: "line", shape: { x1: b[0], y1: b[1]! - 5, x2: b[0], y2: b[1]! + 5 }, style },
        ],
      };
    },
  };
}

/** Axis range: from zero when the data is not far from it, else ECharts' round ticks around the data. */
function valueRange(values: number[]): { min: number } | { scale: true } | Record<string, never> {
  if (!values.length) return {};
  return Math.min(...values) <= 0.35 * Math.max(...values) ? { min: 0 } : { scale: true };
}

/**
 * Row labels of a chart `width` wide (the dot plot's rows, the bar chart's bars): each takes at most 40%
 * of the chart, longer ones cut, and `cut` says whether any was (the whole labels then go into the chart's
 * accessible name). `width`: the label column's, at least `min`; `formatter`: the axis's label text.
 */
function rowLabels(labels: string[], width: number, min: number) {
  const maxW = Math.round(width * 0.4) - 18;
  const shown = new Map(labels.map((l) => [l, fitText(l, 12, maxW)]));
  return {
    width: Math.max(min, ...[...shown.values()].map((l) => textWidth(l) + 18)),
    cut: [...shown].some(([l, v]) => l !== v),
    formatter: (v: string) => shown.get(v) ?? fitText(v, 12, maxW),
  };
}

/**
 * Dot plot: one row per level; one panel per series (e.g. real and processed tokens/s, whose
 * scales differ), each a marker at the median with its 95% interval as whiskers. Series order in
 * the option: the medians of each panel first (one scatter per panel), then whiskers, then notes.
 */
export function intervalOption(spec: IntervalChartSpec): SizedOption {
  const all = spec.rows.flatMap((r) => r.points.flatMap((p) => (p ? [p.median] : [])));
  if (all.length === 0) return emptyOption(spec.title, "no completed runs to plot", spec.width);
  const fmt = spec.format ?? compactNumber;
  const requested = spec.width ?? 880;
  const labels = spec.rows.map((r) => r.label);
  // Row labels take at most 40% of the chart (longer ones are cut; the whole label stays in the
  // points' tooltips and the chart's accessible name), and every panel keeps a readable width: a
  // long label once squeezed the panels to a negative width, drawing the axis backwards.
  const rows = rowLabels(labels, requested, 70);
  const labelW = rows.width;
  const top = spec.subtitle ? 92 : 74;
  const band = 34;
  const height = top + band * spec.rows.length + 62;
  const gap = 56;
  const x0 = 16 + labelW;
  const minPanelW = 180;
  const n = spec.series.length;
  const width = Math.max(requested, x0 + 28 + n * minPanelW + gap * (n - 1));
  const panelW = (width - 28 - x0 - gap * (n - 1)) / n;
  const cut = rows.cut;
  const grids = spec.series.map((_, s) => ({
    left: x0 + s * (panelW + gap),
    width: panelW,
    top,
    height: band * spec.rows.length,
  }));
  const xAxes = spec.series.map((series, s) => {
    const vals = spec.rows.flatMap((r) => {
      const p = r.points[s];
      return p ? [p.median, p.low ?? p.median, p.high ?? p.median] : [];
    });
    return {
      type: "value" as const,
      gridIndex: s,
      name: fitText(series.axisLabel, 12, panelW + gap - 8),
      nameLocation: "middle" as const,
      nameGap: 30,
      ...valueRange(vals),
      ...axisCommon,
      axisLabel: { color: MUTED, formatter: (v: number) => fmt(v), hideOverlap: true },
    };
  });
  const yAxes = spec.series.map((_, s) => ({
    type: "category" as const,
    gridIndex: s,
    data: labels,
    inverse: true,
    ...axisCommon,
    axisLabel: { show: s === 0, color: INK, formatter: rows.formatter },
    axisTick: { show: false },
    splitLine: { show: true, lineStyle: { color: GRID } },
  }));
  const medians = spec.series.map((series, s) => ({
    type: "scatter" as const,
    name: series.name,
    xAxisIndex: s,
    yAxisIndex: s,
    symbolSize: 11,
    z: 3,
    itemStyle: { color: PALETTE[s % PALETTE.length], borderColor: "#fff", borderWidth: 1.5 },
    data: spec.rows.flatMap((r) => {
      const p = r.points[s];
      return p ? [{ value: [p.median, r.label], n: p.n, low: p.low, high: p.high }] : [];
    }),
    tooltip: {
      formatter: (params: LabelParams) => {
        const d = params.data as {
          value: [number, string];
          n: number;
          low: number | null;
          high: number | null;
        };
        const ci = d.low !== null && d.high !== null ? ` [${fmt(d.low)}–${fmt(d.high)}]` : "";
        return `${d.value[1]} · ${series.name}: ${fmt(d.value[0])}${ci}, n=${d.n}`;
      },
    },
  }));
  const intervals = spec.series.map((series, s) =>
    whiskers(
      `${series.name} interval`,
      spec.rows.flatMap((r) => {
        const p = r.points[s];
        return p && p.low !== null && p.high !== null
          ? [[labels.indexOf(r.label), p.low, p.high] as [number, number, number]]
          : [];
      }),
      PALETTE[s % PALETTE.length]!,
      s,
      true,
    ),
  );
  const notes = spec.rows.flatMap((r, i) =>
    r.note && r.points.every((p) => !p) ? [[i, r.note] as const] : [],
  );
  const noteSeries = notes.length
    ? [
        {
          type: "custom" as const,
          name: "notes",
          xAxisIndex: 0,
          yAxisIndex: 0,
          silent: true,
          data: notes.map(([i]) => [i]),
          renderItem: (p: { dataIndex: number }, api: CustomApi) => {
            const y = api.coord([0, api.value(0)])[1]!;
            return {
              type: "text",
              style: {
                x: grids[0]!.left + 6,
                y,
                text: notes[p.dataIndex]![1],
                fill: OOM_COLOR,
                fontWeight: 600,
                fontSize: 12,
                verticalAlign: "middle",
              },
            };
          },
        },
      ]
    : [];
  return {
    width,
    height,
    option: {
      ...base(
        spec.title,
        spec.subtitle,
        `${spec.series.map((s) => s.axisLabel).join("; ")}; medians with 95% intervals${cut ? `; rows: ${labels.join(" | ")}` : ""}`,
      ),
      legend: {
        top: spec.subtitle ? 52 : 36,
        left: x0,
        data: spec.series.map((s) => s.name),
        itemGap: 28,
        textStyle: { color: INK },
      },
      grid: grids,
      xAxis: xAxes,
      yAxis: yAxes,
      series: [...medians, ...intervals, ...noteSeries],
    } as EChartsOption,
  };
}

// ---- line chart -------------------------------------------------------------------------------

export interface LineSeries {
  name: string;
  points: { x: number; y: number }[];
}

export interface LineChartSpec {
  title: string;
  subtitle?: string;
  xLabel: string;
  yLabel: string;
  series: LineSeries[];
  /** Categorical x: points placed at evenly spaced positions of these values (e.g. sequence lengths). */
  xCategories?: number[];
  /** A horizontal line, e.g. the VRAM budget. */
  reference?: { y: number; label: string };
  /** Crosses at (x, y), e.g. OOM cells, placed on their series' colour. */
  markers?: { series: number; x: number; y: number | null; label: string }[];
  /** A vertical line, e.g. where the measured window starts. */
  markX?: { x: number; label: string };
  formatY?: (n: number) => string;
  formatX?: (n: number) => string;
  yFromZero?: boolean;
  /** Show markers on every point up to this many points per series (default 40). */
  maxSymbols?: number;
  /** Interactive zoom along x (the dashboard; meaningless in a static SVG). */
  zoom?: boolean;
  width?: number;
  height?: number;
}

const CROSS = "path://M0,0 L10,10 M10,0 L0,10";

/** Line series in spec order, then (when there are markers) one scatter series of OOM crosses. */
export function lineOption(spec: LineChartSpec): SizedOption {
  const pts = spec.series.flatMap((s) => s.points);
  const width = spec.width ?? 880;
  if (pts.length === 0 && !spec.markers?.length) return emptyOption(spec.title, "no data to plot", width);
  const height = spec.height ?? 380;
  const fy = spec.formatY ?? compactNumber;
  const fx = spec.formatX ?? compactNumber;
  const cats = spec.xCategories;
  const xOf = (x: number) => (cats ? String(x) : x);
  const top = spec.subtitle ? 96 : 78;
  const maxSymbols = spec.maxSymbols ?? 40;
  const yMax = Math.max(...pts.map((p) => p.y), spec.reference?.y ?? -Infinity);
  const series: unknown[] = spec.series.map((s, i) => {
    const sorted = [...s.points].sort((a, b) => (cats ? cats.indexOf(a.x) - cats.indexOf(b.x) : a.x - b.x));
    return {
      type: "line",
      name: s.name,
      data: sorted.map((p) => [xOf(p.x), p.y]),
      showSymbol: sorted.length <= maxSymbols,
      symbolSize: 6,
      lineStyle: { width: 2.5 },
      emphasis: { focus: "series" },
      ...(i === 0 && spec.reference
        ? {
            markLine: {
              silent: true,
              symbol: "none",
              lineStyle: { color: INK, type: [6, 4], width: 1.5 },
              label: {
                formatter: spec.reference.label,
                position: "insideStartTop",
                color: INK,
                fontWeight: 600,
              },
              data: [{ yAxis: spec.reference.y }],
            },
          }
        : {}),
      ...(i === 0 && spec.markX
        ? {
            markLine: {
              silent: true,
              symbol: "none",
              lineStyle: { color: MUTED, type: [4, 4], width: 1 },
              label: { formatter: spec.markX.label, position: "end", color: MUTED },
              data: [{ xAxis: xOf(spec.markX.x) }],
            },
          }
        : {}),
    };
  });
  if (spec.markers?.length) {
    series.push({
      type: "scatter",
      name: "out of memory",
      symbol: CROSS,
      symbolSize: 14,
      itemStyle: { color: OOM_COLOR, borderColor: OOM_COLOR, borderWidth: 3 },
      label: {
        show: true,
        position: "top",
        distance: 8,
        color: OOM_COLOR,
        fontWeight: 600,
        fontSize: 11,
        formatter: (p: LabelParams) => {
          const m = (p.data as { marker: { series: number } }).marker;
          const name = spec.series[m.series]?.name;
          return `OOM${name ? ` · ${name}` : ""}`;
        },
      },
      tooltip: { formatter: (p: LabelParams) => (p.data as { marker: { label: string } }).marker.label },
      data: spec.markers.map((m) => ({
        value: [xOf(m.x), m.y ?? spec.reference?.y ?? yMax],
        marker: m,
      })),
    });
  }
  return {
    width,
    height,
    option: {
      ...base(spec.title, spec.subtitle, `${spec.yLabel} against ${spec.xLabel}`),
      tooltip: {
        trigger: "axis",
        confine: true,
        valueFormatter: (v: unknown) => (typeof v === "number" ? fy(v) : String(v)),
      },
      legend: { top: spec.subtitle ? 54 : 36, left: 60, itemGap: 24, textStyle: { color: INK } },
      grid: { left: 72, right: 28, top, bottom: spec.zoom ? 92 : 62 },
      xAxis: {
        type: cats ? "category" : "value",
        ...(cats ? { data: cats.map(String) } : { scale: true }),
        name: spec.xLabel,
        nameLocation: "middle",
        nameGap: 32,
        ...axisCommon,
        axisLabel: {
          color: MUTED,
          formatter: (v: number | string) => (typeof v === "number" ? fx(v) : v),
          hideOverlap: true,
        },
        splitLine: { show: false },
      },
      yAxis: {
        type: "value",
        name: spec.yLabel,
        nameLocation: "middle",
        nameGap: 52,
        ...(spec.yFromZero ? { min: 0 } : { scale: true }),
        ...axisCommon,
        axisLabel: { color: MUTED, formatter: (v: number) => fy(v) },
      },
      ...(spec.zoom ? { dataZoom: [{ type: "inside" }, { type: "slider", height: 18, bottom: 8 }] } : {}),
      series,
    } as EChartsOption,
  };
}

// ---- heatmap -----------------------------------------------------------------------------------

export interface HeatCell {
  row: number;
  col: number;
  value: number | null;
  /** Text in the cell when there is no value ("OOM", "failed"); marks the cell. */
  status?: string;
}

export interface HeatmapSpec {
  title: string;
  subtitle?: string;
  rows: number[];
  cols: number[];
  rowLabel: string;
  colLabel: string;
  cells: HeatCell[];
  /** Name and unit of the colour scale, e.g. "real tokens/s". */
  valueLabel: string;
  format?: (n: number) => string;
  width?: number;
}

/** Series 0: the cells with a value (viridis); series 1: cells without one, outlined with their status. */
export function heatmapOption(spec: HeatmapSpec): SizedOption {
  if (spec.cells.length === 0) return emptyOption(spec.title, "no grid to plot", spec.width);
  const fmt = spec.format ?? compactNumber;
  const values = spec.cells.map((c) => c.value).filter((v): v is number => v !== null);
  const lo = values.length ? Math.min(...values) : 0;
  const hi = values.length ? Math.max(...values) : 1;
  const top = spec.subtitle ? 80 : 62;
  const cellW = Math.min(140, Math.max(70, 440 / spec.cols.length));
  const cellH = 46;
  const width = spec.width ?? Math.max(560, 120 + cellW * spec.cols.length + 40);
  const height = top + cellH * spec.rows.length + 124;
  const cols = spec.cols.map(String);
  const rows = spec.rows.map(String);
  const at = (c: HeatCell) => [cols.indexOf(String(c.col)), rows.indexOf(String(c.row))];
  const missing = spec.cells.filter((c) => c.value === null);
  return {
    width,
    height,
    option: {
      ...base(spec.title, spec.subtitle, `${spec.valueLabel} by ${spec.rowLabel} and ${spec.colLabel}`),
      grid: { left: 100, top, width: cellW * cols.length, height: cellH * rows.length },
      xAxis: {
        type: "category",
        data: cols,
        name: spec.colLabel,
        nameLocation: "middle",
        nameGap: 28,
        ...axisCommon,
        splitLine: { show: false },
        axisTick: { show: false },
      },
      yAxis: {
        type: "category",
        data: rows,
        inverse: true,
        name: spec.rowLabel,
        nameLocation: "middle",
        nameGap: 56,
        ...axisCommon,
        splitLine: { show: false },
        axisTick: { show: false },
      },
      visualMap: {
        type: "continuous",
        min: lo,
        max: hi > lo ? hi : lo + 1,
        seriesIndex: 0,
        orient: "horizontal",
        left: 100,
        bottom: 12,
        itemWidth: 12,
        itemHeight: Math.min(260, cellW * cols.length),
        calculable: false,
        text: [`${fmt(hi)} ${spec.valueLabel}`, fmt(lo)],
        textStyle: { color: MUTED },
        inRange: { color: VIRIDIS },
      },
      series: [
        {
          type: "heatmap",
          name: spec.valueLabel,
          data: spec.cells.filter((c) => c.value !== null).map((c) => [...at(c), c.value]),
          itemStyle: { borderColor: "#fff", borderWidth: 2 },
          label: {
            show: true,
            fontWeight: 600,
            formatter: (p: LabelParams) => fmt((p.value as number[])[2]!),
          },
          tooltip: {
            formatter: (p: LabelParams) => {
              const [c, r, v] = p.value as [number, number, number];
              return `${spec.rowLabel} ${rows[r]}, ${spec.colLabel} ${cols[c]}: ${fmt(v)} ${spec.valueLabel}`;
            },
          },
        },
        {
          type: "custom",
          name: "no value",
          silent: true,
          data: missing.map((c) => at(c)),
          renderItem: (p: { dataIndex: number }, api: CustomApi) => {
            const [x, y] = api.coord([api.value(0), api.value(1)]);
            const [w, h] = api.size([1, 1]);
            return {
              type: "group",
              children: [
                {
                  type: "rect",
                  shape: { x: x! - w! / 2 + 2, y: y! - h! / 2 + 2, width: w! - 4, height: h! - 4 },
                  style: { fill: "#fff", stroke: OOM_COLOR, lineWidth: 2, lineDash: [4, 3] },
                },
                {
                  type: "text",
                  style: {
                    x,
                    y,
                    text: missing[p.dataIndex]!.status ?? "—",
                    fill: OOM_COLOR,
                    fontWeight: 700,
                    align: "center",
                    verticalAlign: "middle",
                  },
                },
              ],
            };
          },
        },
      ],
    } as EChartsOption,
  };
}

// ---- horizontal bars ---------------------------------------------------------------------------

export interface BarSpec {
  title: string;
  subtitle?: string;
  xLabel: string;
  bars: { label: string; value: number; low: number | null; high: number | null; n: number }[];
  format?: (n: number) => string;
  width?: number;
  /** Said instead of a chart when there are no bars. */
  empty?: string;
}

/** The smallest of 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 × a power of ten at or above `v` (1 for nothing to show). */
export function roundUp(v: number): number {
  if (!(v > 0) || !Number.isFinite(v)) return 1;
  const e = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * e >= v * (1 - 1e-12)) return m * e;
  return 10 * e;
}

/** Series 0: the bars; series 1: their 95% intervals. */
export function barOption(spec: BarSpec): SizedOption {
  const width = spec.width ?? 880;
  if (spec.bars.length === 0) return emptyOption(spec.title, spec.empty ?? "not measured", width);
  const fmt = spec.format ?? compactNumber;
  const labels = spec.bars.map((b) => b.label);
  // Bar labels take at most 40% of the chart, as the dot plot's rows: a long configuration name once
  // took the whole width and left the bars none.
  const rows = rowLabels(labels, width, 80);
  const { cut, width: labelW } = rows;
  const top = spec.subtitle ? 74 : 56;
  const band = 28;
  const height = top + band * spec.bars.length + 58;
  // Each value is written past its interval's end, not under the whisker: the axis runs to a round
  // number above the largest end, so an end's distance from its bar is known in pixels here.
  const axisMax = roundUp(Math.max(...spec.bars.map((b) => Math.max(b.value, b.high ?? 0))));
  const pxPerUnit = (width - 16 - labelW - 80) / axisMax;
  const labelDistance = (b: BarSpec["bars"][number]) =>
    8 + (b.high !== null && b.high > b.value ? (b.high - b.value) * pxPerUnit : 0);
  return {
    width,
    height,
    option: {
      ...base(spec.title, spec.subtitle, `${spec.xLabel}${cut ? `; bars: ${labels.join(" | ")}` : ""}`),
      grid: { left: 16 + labelW, right: 80, top, height: band * spec.bars.length },
      xAxis: {
        type: "value",
        min: 0,
        max: axisMax,
        name: spec.xLabel,
        nameLocation: "middle",
        nameGap: 30,
        ...axisCommon,
        axisLabel: { color: MUTED, formatter: (v: number) => fmt(v), hideOverlap: true },
      },
      yAxis: {
        type: "category",
        data: labels,
        inverse: true,
        ...axisCommon,
        axisLabel: { color: INK, formatter: rows.formatter },
        axisTick: { show: false },
        splitLine: { show: false },
      },
      series: [
        {
          type: "bar",
          name: spec.xLabel,
          barWidth: band - 10,
          itemStyle: { color: PALETTE[0] },
          data: spec.bars.map((b) => ({ value: b.value, n: b.n, label: { distance: labelDistance(b) } })),
          label: {
            show: true,
            position: "right",
            distance: 8,
            color: MUTED,
            formatter: (p: LabelParams) => fmt(p.value as number),
          },
          tooltip: {
            formatter: (p: LabelParams) =>
              `${p.name}: ${fmt(p.value as number)}, n=${(p.data as { n: number }).n}`,
          },
        },
        {
          ...whiskers(
            "95% interval",
            spec.bars.flatMap((b, i) =>
              b.low !== null && b.high !== null
                ? [[i, Math.max(0, b.low), b.high] as [number, number, number]]
                : [],
            ),
            INK,
            0,
            true,
          ),
          z: 3,
        },
      ],
    } as EChartsOption,
  };
}

// ---- stacked memory bar (the planner) ------------------------------------------------------------

export interface StackSpec {
  title: string;
  subtitle?: string;
  xLabel: string;
  /** Segments stacked left to right, e.g. the planner's memory at the peak. */
  parts: { name: string; value: number; note?: string }[];
  /** A vertical line, e.g. the card's memory. */
  limit?: { value: number; label: string };
  format?: (n: number) => string;
  width?: number;
}

/** One horizontal bar made of one series per part (so the legend names each), against a limit line. */
export function stackOption(spec: StackSpec): SizedOption {
  const fmt = spec.format ?? compactNumber;
  const width = spec.width ?? 880;
  const height = 230 + Math.ceil(spec.parts.length / 4) * 22;
  const total = spec.parts.reduce((a, p) => a + p.value, 0);
  // Room for the limit's label; whole units, so the last tick is a round one.
  const max = Math.ceil(Math.max(total, spec.limit?.value ?? 0) * 1.1);
  return {
    width,
    height,
    option: {
      ...base(spec.title, spec.subtitle, `${spec.xLabel}, stacked by part`),
      legend: { bottom: 8, left: 16, right: 16, type: "plain", textStyle: { color: INK } },
      grid: { left: 24, right: 60, top: spec.subtitle ? 84 : 66, height: 56 },
      xAxis: {
        type: "value",
        min: 0,
        max,
        name: spec.xLabel,
        nameLocation: "middle",
        nameGap: 28,
        ...axisCommon,
        axisLabel: { color: MUTED, formatter: (v: number) => fmt(v), hideOverlap: true },
      },
      yAxis: { type: "category", data: ["peak"], show: false },
      series: spec.parts.map((p, i) => ({
        type: "bar",
        name: p.name,
        stack: "total",
        barWidth: 44,
        itemStyle: { color: PALETTE[i % PALETTE.length], borderColor: "#fff", borderWidth: 1 },
        data: [p.value],
        tooltip: { formatter: () => `${p.name}: ${fmt(p.value)}${p.note ? ` — ${p.note}` : ""}` },
        ...(i === 0 && spec.limit
          ? {
              markLine: {
                silent: true,
                symbol: "none",
                lineStyle: { color: INK, type: [6, 4], width: 2 },
                label: { formatter: spec.limit.label, position: "end", color: INK, fontWeight: 600 },
                data: [{ xAxis: spec.limit.value }],
              },
            }
          : {}),
      })),
    } as EChartsOption,
  };
}
