/**
 * Colours, type and number formats shared by the dashboard and the reports. The Okabe–Ito palette
 * stays distinguishable with the common colour-vision deficiencies; viridis is perceptually uniform
 * and readable in greyscale.
 */
export const PALETTE = [
  "#0072B2",
  "#E69F00",
  "#009E73",
  "#CC79A7",
  "#56B4E9",
  "#D55E00",
  "#F0E442",
  "#000000",
];
export const VIRIDIS = ["#440154", "#3b528b", "#21918c", "#5ec962", "#fde725"];
export const INK = "#1f2328";
export const MUTED = "#59636e";
export const GRID = "#e6e8eb";
export const OOM_COLOR = "#D55E00";
export const FONT_FAMILY = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";

/** Compact labels: 1.2k, 3.5M; small numbers keep their significant digits. */
export function compactNumber(n: number): string {
  const a = Math.abs(n);
  if (a >= 1e9) return `${Number((n / 1e9).toPrecision(3))}G`;
  if (a >= 1e6) return `${Number((n / 1e6).toPrecision(3))}M`;
  if (a >= 1e4) return `${Number((n / 1e3).toPrecision(3))}k`;
  if (a === 0) return "0";
  return `${Number(n.toPrecision(3))}`;
}

export { formatBytes } from "../util/format.js";

/** Approximate width of a text at a font size (the SVG renderer in Node measures no glyphs). */
export const textWidth = (s: string, size = 12) => s.length * size * 0.56;

/** `text`, cut with an ellipsis to fit `maxWidth` at this font size. */
export function fitText(text: string, size: number, maxWidth: number): string {
  if (textWidth(text, size) <= maxWidth) return text;
  const chars = Math.max(4, Math.floor(maxWidth / (size * 0.56)) - 1);
  return `${text.slice(0, chars).trimEnd()}…`;
}

/** Shared look of every chart's text and axes. */
export const textStyle = { fontFamily: FONT_FAMILY, color: INK, fontSize: 12 };
export const axisCommon = {
  nameTextStyle: { color: INK, fontSize: 12 },
  axisLabel: { color: MUTED },
  axisLine: { lineStyle: { color: MUTED } },
  splitLine: { lineStyle: { color: GRID } },
};
