/**
 * Charts as plain SVG strings, drawn here (no library, no CDN): the report opens offline and the
 * same files render on GitHub. Each chart takes plain data, labels every axis with its unit, uses
 * the Okabe–Ito palette (distinguishable with the common colour-vision deficiencies) and marks
 * every data element with `class="mark"` and `data-*` attributes, which the browser test reads.
 */
import { escapeHtml } from "./format.js";

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
const INK = "#1f2328";
const MUTED = "#59636e";
const GRID = "#e6e8eb";
const FONT = `font-family="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"`;

const esc = (s: string) => escapeHtml(s);
const r2 = (n: number) => Math.round(n * 100) / 100;

/** Round tick values covering [min, max]: 1, 2, 2.5 or 5 × 10^k steps. */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return [0, 1];
  if (max === min) {
    const pad = Math.abs(max) || 1;
    return niceTicks(min - pad / 2, max + pad / 2, count);
  }
  const raw = (max - min) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const start = Math.floor(min / step) * step;
  const ticks: number[] = [];
  for (let v = start; v <= max + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  if (ticks[ticks.length - 1]! < max) ticks.push(Number((ticks[ticks.length - 1]! + step).toPrecision(12)));
  return ticks;
}

/** Compact tick labels: 1.2k, 3.5M; small numbers keep their significant digits. */
export function compactNumber(n: number): string {
  const a = Math.abs(n);
  if (a >= 1e9) return `${Number((n / 1e9).toPrecision(3))}G`;
  if (a >= 1e6) return `${Number((n / 1e6).toPrecision(3))}M`;
  if (a >= 1e4) return `${Number((n / 1e3).toPrecision(3))}k`;
  if (a === 0) return "0";
  return `${Number(n.toPrecision(3))}`;
}

const textWidth = (s: string, size = 12) => s.length * size * 0.56;

/** `text`, cut with an ellipsis to fit `maxWidth` at this font size. */
export function fitText(text: string, size: number, maxWidth: number): string {
  if (textWidth(text, size) <= maxWidth) return text;
  const chars = Math.max(4, Math.floor(maxWidth / (size * 0.56)) - 1);
  return `${text.slice(0, chars).trimEnd()}…`;
}

function svgOpen(width: number, height: number, title: string, desc: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${esc(title)}" ${FONT} font-size="12" fill="${INK}"><title>${esc(title)}</title><desc>${esc(desc)}</desc><rect width="${width}" height="${height}" fill="#ffffff"/>`;
}

function titleBlock(title: string, subtitle?: string): string {
  return (
    `<text x="16" y="24" font-size="15" font-weight="600">${esc(title)}</text>` +
    (subtitle ? `<text x="16" y="42" font-size="12" fill="${MUTED}">${esc(subtitle)}</text>` : "")
  );
}

function legend(
  x: number,
  y: number,
  items: { name: string; color: string; shape: "dot" | "diamond" | "line" | "bar" | "cross" }[],
): string {
  let cx = x;
  let out = "";
  for (const it of items) {
    const sym =
      it.shape === "dot"
        ? `<circle cx="${cx + 6}" cy="${y - 4}" r="5" fill="${it.color}"/>`
        : it.shape === "diamond"
          ? `<path d="M${cx + 6} ${y - 10} l6 6 l-6 6 l-6 -6 z" fill="#fff" stroke="${it.color}" stroke-width="2"/>`
          : it.shape === "line"
            ? `<line x1="${cx}" y1="${y - 4}" x2="${cx + 14}" y2="${y - 4}" stroke="${it.color}" stroke-width="2.5"/>`
            : it.shape === "cross"
              ? `<path d="M${cx + 2} ${y - 8} l8 8 M${cx + 10} ${y - 8} l-8 8" stroke="${it.color}" stroke-width="2.5"/>`
              : `<rect x="${cx}" y="${y - 10}" width="12" height="12" fill="${it.color}"/>`;
    out += `${sym}<text x="${cx + 18}" y="${y}" fill="${INK}">${esc(it.name)}</text>`;
    cx += 30 + textWidth(it.name);
  }
  return `<g class="legend">${out}</g>`;
}

export function emptyChart(title: string, message: string, width = 880): string {
  return `${svgOpen(width, 110, title, message)}${titleBlock(title)}<text x="16" y="76" fill="${MUTED}" class="empty">${esc(message)}</text></svg>`;
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

/** Axis ticks for a dot plot: from zero when the data is not far from it, else around the data. */
function dotDomain(values: number[]): number[] {
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  if (lo <= 0.35 * hi) return niceTicks(0, hi * 1.04, 4);
  const pad = Math.max((hi - lo) * 0.2, hi * 0.01);
  return niceTicks(lo - pad, hi + pad, 4);
}

/**
 * Dot plot: one row per level; one panel per series (e.g. real and processed tokens/s, whose
 * scales differ), each a marker at the median with its 95% interval as whiskers.
 */
export function intervalChart(spec: IntervalChartSpec): string {
  const all = spec.rows.flatMap((r) => r.points.flatMap((p) => (p ? [p.median] : [])));
  if (all.length === 0) return emptyChart(spec.title, "no completed runs to plot");
  const fmt = spec.format ?? compactNumber;
  const requested = spec.width ?? 880;
  // Row labels take at most 40% of the chart (longer ones are cut, whole in their tooltip), and every
  // panel keeps a readable width: a long label once squeezed the panels to a negative width, which
  // drew the axis backwards with every point on one spot.
  const maxLabelW = Math.round(requested * 0.4);
  const labels = spec.rows.map((r) => fitText(r.label, 12, maxLabelW - 14));
  const labelW = Math.max(70, ...labels.map((l) => textWidth(l, 12) + 14));
  const top = spec.subtitle ? 84 : 66;
  const band = 30;
  const plotH = band * spec.rows.length;
  const height = top + plotH + 56;
  const x0 = 16 + labelW;
  const gap = 52;
  const minPanelW = 180;
  const width = Math.max(
    requested,
    x0 + 24 + spec.series.length * minPanelW + gap * (spec.series.length - 1),
  );
  const panelW = (width - 24 - x0 - gap * (spec.series.length - 1)) / spec.series.length;
  let out = svgOpen(
    width,
    height,
    spec.title,
    `${spec.series.map((s) => s.axisLabel).join("; ")}; medians with 95% intervals`,
  );
  out += titleBlock(spec.title, spec.subtitle);
  spec.rows.forEach((row, i) => {
    const y = top + i * band + band / 2;
    if (i % 2 === 1)
      out += `<rect x="16" y="${top + i * band}" width="${width - 40}" height="${band}" fill="#f6f8fa"/>`;
    const shown = labels[i]!;
    out += `<text x="${x0 - 12}" y="${y + 4}" text-anchor="end">${esc(shown)}${shown !== row.label ? `<title>${esc(row.label)}</title>` : ""}</text>`;
  });
  spec.series.forEach((series, s) => {
    const px0 = x0 + s * (panelW + gap);
    const px1 = px0 + panelW;
    const color = PALETTE[s % PALETTE.length]!;
    const vals = spec.rows.flatMap((r) => {
      const p = r.points[s];
      return p ? [p.median, p.low ?? p.median, p.high ?? p.median] : [];
    });
    const ticks = vals.length ? dotDomain(vals) : [0, 1];
    const dMin = ticks[0]!;
    const dMax = ticks[ticks.length - 1]!;
    const sx = (v: number) =>
      px0 + ((px1 - px0) * (Math.min(dMax, Math.max(dMin, v)) - dMin)) / (dMax - dMin || 1);
    out += `<text x="${r2(px0)}" y="${top - 12}" font-weight="600" fill="${color}">${esc(series.name)}</text>`;
    for (const t of ticks) {
      out += `<line x1="${r2(sx(t))}" y1="${top}" x2="${r2(sx(t))}" y2="${top + plotH}" stroke="${GRID}"/>`;
      out += `<text x="${r2(sx(t))}" y="${top + plotH + 16}" text-anchor="middle" fill="${MUTED}">${esc(fmt(t))}</text>`;
    }
    out += `<line x1="${r2(px0)}" y1="${top + plotH}" x2="${r2(px1)}" y2="${top + plotH}" stroke="${MUTED}"/>`;
    const axisLabel = fitText(series.axisLabel, 12, panelW + gap - 8);
    out += `<text x="${r2((px0 + px1) / 2)}" y="${top + plotH + 40}" text-anchor="middle" class="axis-label">${esc(axisLabel)}${axisLabel !== series.axisLabel ? `<title>${esc(series.axisLabel)}</title>` : ""}</text>`;
    spec.rows.forEach((row, i) => {
      const y = top + i * band + band / 2;
      const p = row.points[s];
      if (!p) {
        if (row.note)
          out += `<text x="${r2(px0 + 6)}" y="${y + 4}" fill="${PALETTE[5]}" font-weight="600" class="mark note" data-label="${esc(row.label)}">${esc(row.note)}</text>`;
        return;
      }
      if (p.low !== null && p.high !== null) {
        const a = r2(sx(p.low));
        const b = r2(sx(p.high));
        out += `<line x1="${a}" y1="${y}" x2="${b}" y2="${y}" stroke="${color}" stroke-width="2" class="interval"/>`;
        out += `<line x1="${a}" y1="${y - 5}" x2="${a}" y2="${y + 5}" stroke="${color}" stroke-width="1.5"/>`;
        out += `<line x1="${b}" y1="${y - 5}" x2="${b}" y2="${y + 5}" stroke="${color}" stroke-width="1.5"/>`;
      }
      const tip = `${row.label} · ${series.name}: ${fmt(p.median)}${p.low !== null && p.high !== null ? ` [${fmt(p.low)}–${fmt(p.high)}]` : ""}, n=${p.n}`;
      out += `<circle cx="${r2(sx(p.median))}" cy="${y}" r="5.5" fill="${color}" stroke="#fff" stroke-width="1.5" class="mark" data-series="${esc(series.name)}" data-label="${esc(row.label)}" data-value="${p.median}"><title>${esc(tip)}</title></circle>`;
    });
  });
  return out + "</svg>";
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
  formatY?: (n: number) => string;
  formatX?: (n: number) => string;
  yFromZero?: boolean;
  width?: number;
  height?: number;
}

export function lineChart(spec: LineChartSpec): string {
  const pts = spec.series.flatMap((s) => s.points);
  if (pts.length === 0 && !spec.markers?.length) return emptyChart(spec.title, "no data to plot");
  const width = spec.width ?? 880;
  const height = spec.height ?? 380;
  const fy = spec.formatY ?? compactNumber;
  const fx = spec.formatX ?? compactNumber;
  const top = spec.subtitle ? 84 : 66;
  const left = 72;
  const right = width - 24;
  const bottom = height - 56;
  const ys = [...pts.map((p) => p.y), ...(spec.reference ? [spec.reference.y] : [])];
  const yMinRaw = spec.yFromZero ? 0 : Math.min(...ys);
  const yMaxRaw = Math.max(...ys) * (spec.markers?.length ? 1.08 : 1.02);
  const yt = niceTicks(yMinRaw, yMaxRaw);
  const yMin = yt[0]!;
  const yMax = yt[yt.length - 1]!;
  const sy = (v: number) => bottom - ((bottom - top) * (v - yMin)) / (yMax - yMin || 1);
  let sx: (v: number) => number;
  let xt: number[];
  if (spec.xCategories?.length) {
    const cats = spec.xCategories;
    const step = (right - left) / cats.length;
    sx = (v: number) => left + step * (cats.indexOf(v) + 0.5);
    xt = cats;
  } else {
    const xs = pts.map((p) => p.x);
    xt = niceTicks(Math.min(...xs), Math.max(...xs));
    const xMin = xt[0]!;
    const xMax = xt[xt.length - 1]!;
    sx = (v: number) => left + ((right - left) * (v - xMin)) / (xMax - xMin || 1);
  }
  let out =
    svgOpen(width, height, spec.title, `${spec.yLabel} against ${spec.xLabel}`) +
    titleBlock(spec.title, spec.subtitle);
  const legendItems: { name: string; color: string; shape: "line" | "cross" }[] = spec.series.map((s, i) => ({
    name: s.name,
    color: PALETTE[i % PALETTE.length]!,
    shape: "line",
  }));
  if (spec.markers?.length) legendItems.push({ name: "out of memory", color: PALETTE[5]!, shape: "cross" });
  out += legend(left, top - 16, legendItems);
  for (const t of yt) {
    out += `<line x1="${left}" y1="${r2(sy(t))}" x2="${right}" y2="${r2(sy(t))}" stroke="${GRID}"/>`;
    out += `<text x="${left - 8}" y="${r2(sy(t)) + 4}" text-anchor="end" fill="${MUTED}">${esc(fy(t))}</text>`;
  }
  for (const t of xt)
    out += `<text x="${r2(sx(t))}" y="${bottom + 18}" text-anchor="middle" fill="${MUTED}">${esc(fx(t))}</text>`;
  out += `<line x1="${left}" y1="${bottom}" x2="${right}" y2="${bottom}" stroke="${MUTED}"/>`;
  out += `<text x="${r2((left + right) / 2)}" y="${bottom + 42}" text-anchor="middle" class="axis-label">${esc(spec.xLabel)}</text>`;
  out += `<text transform="translate(18 ${r2((top + bottom) / 2)}) rotate(-90)" text-anchor="middle" class="axis-label">${esc(spec.yLabel)}</text>`;
  if (spec.reference) {
    const y = r2(sy(spec.reference.y));
    out += `<line x1="${left}" y1="${y}" x2="${right}" y2="${y}" stroke="${INK}" stroke-width="1.5" stroke-dasharray="6 4" class="budget-line"/>`;
    out += `<text x="${left + 6}" y="${y - 6}" font-weight="600">${esc(spec.reference.label)}</text>`;
  }
  spec.series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length]!;
    const sorted = [...s.points].sort((a, b) =>
      spec.xCategories ? spec.xCategories.indexOf(a.x) - spec.xCategories.indexOf(b.x) : a.x - b.x,
    );
    if (sorted.length > 1) {
      const d = sorted.map((p, j) => `${j ? "L" : "M"}${r2(sx(p.x))} ${r2(sy(p.y))}`).join(" ");
      out += `<path d="${d}" fill="none" stroke="${color}" stroke-width="2.5" stroke-linejoin="round" class="mark line" data-series="${esc(s.name)}" data-points="${sorted.length}"/>`;
    }
    if (sorted.length <= 40) {
      for (const p of sorted) {
        out += `<circle cx="${r2(sx(p.x))}" cy="${r2(sy(p.y))}" r="3.5" fill="${color}" class="mark point" data-series="${esc(s.name)}" data-value="${p.y}"><title>${esc(`${s.name}: ${fx(p.x)} → ${fy(p.y)}`)}</title></circle>`;
      }
    }
  });
  for (const m of spec.markers ?? []) {
    const x = r2(sx(m.x));
    const y = r2(sy(m.y ?? spec.reference?.y ?? yMax));
    const name = spec.series[m.series]?.name;
    out += `<g class="mark oom" data-label="${esc(m.label)}"><path d="M${x - 7} ${y - 7} l14 14 M${x + 7} ${y - 7} l-14 14" stroke="${PALETTE[5]}" stroke-width="3"/><text x="${x + 11}" y="${y - 8}" fill="${PALETTE[5]}" font-weight="600" font-size="11">OOM${name ? ` · ${esc(name)}` : ""}</text><title>${esc(m.label)}</title></g>`;
  }
  return out + "</svg>";
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

/** Viridis at 5 stops (perceptually uniform, readable in greyscale and by colour-blind readers). */
const VIRIDIS = ["#440154", "#3b528b", "#21918c", "#5ec962", "#fde725"];

function viridis(t: number): string {
  const x = Math.min(1, Math.max(0, t)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
  const f = x - i;
  const a = VIRIDIS[i]!;
  const b = VIRIDIS[i + 1]!;
  const ch = (h: string, k: number) => parseInt(h.slice(1 + 2 * k, 3 + 2 * k), 16);
  const mix = [0, 1, 2].map((k) => Math.round(ch(a, k) + (ch(b, k) - ch(a, k)) * f));
  return `#${mix.map((v) => v.toString(16).padStart(2, "0")).join("")}`;
}

export function heatmap(spec: HeatmapSpec): string {
  const values = spec.cells.map((c) => c.value).filter((v): v is number => v !== null);
  if (spec.cells.length === 0) return emptyChart(spec.title, "no grid to plot");
  const fmt = spec.format ?? compactNumber;
  const width = spec.width ?? 560;
  const top = spec.subtitle ? 72 : 56;
  const left = 96;
  const cellW = Math.min(140, (width - left - 24) / spec.cols.length);
  const cellH = 46;
  const height = top + cellH * spec.rows.length + 96;
  const lo = values.length ? Math.min(...values) : 0;
  const hi = values.length ? Math.max(...values) : 1;
  let out =
    svgOpen(width, height, spec.title, `${spec.valueLabel} by ${spec.rowLabel} and ${spec.colLabel}`) +
    titleBlock(spec.title, spec.subtitle);
  spec.cols.forEach((c, j) => {
    out += `<text x="${r2(left + cellW * (j + 0.5))}" y="${top - 8}" text-anchor="middle" fill="${MUTED}">${esc(String(c))}</text>`;
  });
  spec.rows.forEach((rv, i) => {
    out += `<text x="${left - 10}" y="${r2(top + cellH * (i + 0.5) + 4)}" text-anchor="end" fill="${MUTED}">${esc(String(rv))}</text>`;
  });
  for (const cell of spec.cells) {
    const x = left + cellW * spec.cols.indexOf(cell.col);
    const y = top + cellH * spec.rows.indexOf(cell.row);
    if (cell.value === null) {
      out += `<g class="mark cell ${cell.status ? "cell-status" : ""}" data-label="${esc(`${cell.row}×${cell.col}`)}" data-status="${esc(cell.status ?? "missing")}"><rect x="${r2(x + 1)}" y="${y + 1}" width="${r2(cellW - 2)}" height="${cellH - 2}" fill="#fff" stroke="${PALETTE[5]}" stroke-width="2" stroke-dasharray="4 3"/><text x="${r2(x + cellW / 2)}" y="${y + cellH / 2 + 4}" text-anchor="middle" fill="${PALETTE[5]}" font-weight="700">${esc(cell.status ?? "—")}</text></g>`;
      continue;
    }
    const t = hi > lo ? (cell.value - lo) / (hi - lo) : 0.5;
    const fill = viridis(t);
    const textFill = t > 0.6 ? INK : "#ffffff";
    out += `<g class="mark cell" data-label="${esc(`${cell.row}×${cell.col}`)}" data-value="${cell.value}"><rect x="${r2(x + 1)}" y="${y + 1}" width="${r2(cellW - 2)}" height="${cellH - 2}" fill="${fill}"/><text x="${r2(x + cellW / 2)}" y="${y + cellH / 2 + 4}" text-anchor="middle" fill="${textFill}" font-weight="600">${esc(fmt(cell.value))}</text><title>${esc(`${spec.rowLabel} ${cell.row}, ${spec.colLabel} ${cell.col}: ${fmt(cell.value)} ${spec.valueLabel}`)}</title></g>`;
  }
  const gridBottom = top + cellH * spec.rows.length;
  out += `<text x="${r2(left + (cellW * spec.cols.length) / 2)}" y="${gridBottom + 20}" text-anchor="middle" class="axis-label">${esc(spec.colLabel)}</text>`;
  out += `<text transform="translate(20 ${r2(top + (cellH * spec.rows.length) / 2)}) rotate(-90)" text-anchor="middle" class="axis-label">${esc(spec.rowLabel)}</text>`;
  // Colour scale.
  const ly = gridBottom + 44;
  const lw = Math.min(260, cellW * spec.cols.length);
  const stops = VIRIDIS.map(
    (c, i) => `<stop offset="${(i / (VIRIDIS.length - 1)) * 100}%" stop-color="${c}"/>`,
  ).join("");
  const gid = `g${Math.abs(hashCode(spec.title))}`;
  out += `<defs><linearGradient id="${gid}">${stops}</linearGradient></defs>`;
  out += `<rect x="${left}" y="${ly}" width="${lw}" height="10" fill="url(#${gid})"/>`;
  out += `<text x="${left}" y="${ly + 26}" fill="${MUTED}">${esc(fmt(lo))}</text><text x="${left + lw}" y="${ly + 26}" text-anchor="end" fill="${MUTED}">${esc(fmt(hi))}</text>`;
  out += `<text x="${left + lw + 12}" y="${ly + 9}">${esc(spec.valueLabel)}</text>`;
  return out + "</svg>";
}

function hashCode(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) | 0;
  return h;
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

export function barChart(spec: BarSpec): string {
  if (spec.bars.length === 0) return emptyChart(spec.title, spec.empty ?? "not measured");
  const fmt = spec.format ?? compactNumber;
  const width = spec.width ?? 880;
  const labelW = Math.max(80, ...spec.bars.map((b) => textWidth(b.label) + 14));
  const top = spec.subtitle ? 66 : 50;
  const band = 26;
  const plotH = band * spec.bars.length;
  const height = top + plotH + 52;
  const x0 = 16 + labelW;
  const x1 = width - 70;
  const ticks = niceTicks(0, Math.max(...spec.bars.map((b) => b.high ?? b.value)) * 1.04);
  const max = ticks[ticks.length - 1]!;
  const sx = (v: number) => x0 + ((x1 - x0) * v) / max;
  let out = svgOpen(width, height, spec.title, spec.xLabel) + titleBlock(spec.title, spec.subtitle);
  for (const t of ticks) {
    out += `<line x1="${r2(sx(t))}" y1="${top}" x2="${r2(sx(t))}" y2="${top + plotH}" stroke="${GRID}"/>`;
    out += `<text x="${r2(sx(t))}" y="${top + plotH + 16}" text-anchor="middle" fill="${MUTED}">${esc(fmt(t))}</text>`;
  }
  spec.bars.forEach((b, i) => {
    const y = top + i * band;
    out += `<text x="${x0 - 10}" y="${y + band / 2 + 4}" text-anchor="end">${esc(b.label)}</text>`;
    out += `<rect x="${x0}" y="${y + 5}" width="${r2(Math.max(1, sx(b.value) - x0))}" height="${band - 10}" fill="${PALETTE[0]}" class="mark bar" data-label="${esc(b.label)}" data-value="${b.value}"><title>${esc(`${b.label}: ${fmt(b.value)}, n=${b.n}`)}</title></rect>`;
    if (b.low !== null && b.high !== null) {
      out += `<line x1="${r2(sx(Math.max(0, b.low)))}" y1="${y + band / 2}" x2="${r2(sx(b.high))}" y2="${y + band / 2}" stroke="${INK}" stroke-width="1.5"/>`;
    }
    out += `<text x="${r2(sx(b.high ?? b.value) + 6)}" y="${y + band / 2 + 4}" fill="${MUTED}">${esc(fmt(b.value))}</text>`;
  });
  out += `<line x1="${x0}" y1="${top + plotH}" x2="${x1}" y2="${top + plotH}" stroke="${MUTED}"/>`;
  out += `<text x="${r2((x0 + x1) / 2)}" y="${top + plotH + 38}" text-anchor="middle" class="axis-label">${esc(spec.xLabel)}</text>`;
  return out + "</svg>";
}
