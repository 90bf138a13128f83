/** Number formatting shared by the report's renderers (HTML, Markdown, SVG). Pure, no colours. */
import type { Effect } from "../util/stats.js";

export const GiB = 2 ** 30;

export function fmtNumber(n: number | null | undefined, digits = 1): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return "—";
  if (Math.abs(n) >= 1e4) return Math.round(n).toLocaleString("en-US");
  if (Math.abs(n) >= 100) return n.toFixed(0);
  return n.toFixed(digits);
}

/** Three significant figures, for values spanning orders of magnitude (J/token, MFU). */
export function fmtSig(n: number | null | undefined, sig = 3): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return "—";
  if (n === 0) return "0";
  if (Math.abs(n) >= 1e4) return Math.round(n).toLocaleString("en-US");
  return Number(n.toPrecision(sig)).toString();
}

export function fmtGiB(bytes: number | null | undefined, digits = 2): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return "—";
  return `${(bytes / GiB).toFixed(digits)} GiB`;
}

export function fmtPercent(fraction: number | null | undefined, digits = 1): string {
  if (fraction === null || fraction === undefined || !Number.isFinite(fraction)) return "—";
  return `${(fraction * 100).toFixed(digits)}%`;
}

/** A ratio as a change: +24.3%, −8.0%, or ×3.10 / ×0.31 beyond a doubling or halving. */
export function fmtRatio(r: number | null | undefined): string {
  if (r === null || r === undefined || !Number.isFinite(r)) return "—";
  if (r >= 2 || r <= 0.5) return `×${r.toFixed(2)}`;
  const pct = (r - 1) * 100;
  return `${pct >= 0 ? "+" : "−"}${Math.abs(pct).toFixed(1)}%`;
}

export function fmtSignedGiB(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return "—";
  return `${bytes >= 0 ? "+" : "−"}${Math.abs(bytes / GiB).toFixed(2)} GiB`;
}

/** An effect with its interval: "+24.3% (95% CI +20.1% to +28.7%)". */
export function fmtEffect(
  e: Effect | null,
  unit: "ratio" | "bytes" = e?.kind === "difference" ? "bytes" : "ratio",
): string {
  if (!e) return "—";
  const f = unit === "bytes" ? fmtSignedGiB : fmtRatio;
  if (e.low === null || e.high === null) return `${f(e.estimate)} (one run per side: no interval)`;
  return `${f(e.estimate)} (95% CI ${f(e.low)} to ${f(e.high)})`;
}

/** "1,234 [1,200–1,270]" — a median with its interval. */
export function fmtWithInterval(
  s: { median: number; low: number | null; high: number | null } | null,
  f: (n: number) => string = (n) => fmtNumber(n),
): string {
  if (!s) return "—";
  if (s.low === null || s.high === null) return f(s.median);
  return `${f(s.median)} [${f(s.low)}–${f(s.high)}]`;
}

export function escapeHtml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}
