/**
 * The report's charts as SVG strings, drawn by ECharts (the dashboard's chart library) and rendered
 * in Node: the report opens offline with no script, and the same files render on GitHub. Each chart
 * takes plain data and labels every axis with its unit; the spec → option mapping lives in
 * src/charts/options.ts, shared with the dashboard.
 */
import {
  barOption,
  emptyOption,
  heatmapOption,
  intervalOption,
  lineOption,
  type BarSpec,
  type HeatmapSpec,
  type IntervalChartSpec,
  type LineChartSpec,
} from "../charts/options.js";
import { renderSvg } from "../charts/ssr.js";

export { PALETTE, compactNumber } from "../charts/theme.js";
export type {
  BarSpec,
  HeatCell,
  HeatmapSpec,
  IntervalChartSpec,
  IntervalPoint,
  IntervalRow,
  LineChartSpec,
  LineSeries,
} from "../charts/options.js";

export const emptyChart = (title: string, message: string, width = 880): string =>
  renderSvg(emptyOption(title, message, width));

/** Dot plot: a marker at each median with its 95% interval, one panel per series. */
export const intervalChart = (spec: IntervalChartSpec): string => renderSvg(intervalOption(spec));

/** Lines over x, with an optional reference line (a budget) and OOM crosses. */
export const lineChart = (spec: LineChartSpec): string => renderSvg(lineOption(spec));

/** Viridis cells over two categorical axes; cells without a value outlined with their status. */
export const heatmap = (spec: HeatmapSpec): string => renderSvg(heatmapOption(spec));

/** Horizontal bars with their 95% intervals. */
export const barChart = (spec: BarSpec): string => renderSvg(barOption(spec));
