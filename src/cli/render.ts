/** Terminal renderers: tables, sizes, rates. Pure functions from data to text. */
import pc from "picocolors";

export { formatBytes } from "../util/format.js";

export function formatNumber(n: number | null | undefined, digits = 1): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return "—";
  if (Math.abs(n) >= 1e4) return Math.round(n).toLocaleString("en-US");
  return n.toFixed(digits);
}

export function formatSeconds(s: number | null | undefined): string {
  if (s === null || s === undefined || !Number.isFinite(s)) return "—";
  if (s < 1) return `${(s * 1000).toFixed(0)} ms`;
  if (s < 120) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  return `${m}m${String(Math.round(s - m * 60)).padStart(2, "0")}s`;
}

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*m/g;
const visible = (s: string) => s.replace(ANSI, "").length;

export interface Column<T> {
  header: string;
  value: (row: T) => string;
  align?: "left" | "right";
}

export function renderTable<T>(rows: T[], columns: Column<T>[]): string {
  const cells = rows.map((r) => columns.map((c) => c.value(r)));
  const widths = columns.map((c, i) =>
    Math.max(visible(c.header), ...cells.map((row) => visible(row[i] ?? ""))),
  );
  const pad = (s: string, w: number, align: "left" | "right") =>
    align === "right" ? " ".repeat(w - visible(s)) + s : s + " ".repeat(w - visible(s));
  const line = (vals: string[]) =>
    vals
      .map((v, i) => pad(v, widths[i]!, columns[i]!.align ?? "left"))
      .join("  ")
      .trimEnd();
  return [
    pc.bold(line(columns.map((c) => c.header))),
    widths.map((w) => "─".repeat(w)).join("  "),
    ...cells.map(line),
  ].join("\n");
}

/** Two-column key/value block. */
export function renderPairs(pairs: [string, string][]): string {
  const w = Math.max(...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${pc.dim(k.padEnd(w))}  ${v}`).join("\n");
}

export function statusColor(status: string): string {
  switch (status) {
    case "completed":
      return pc.green(status);
    case "oom":
      return pc.yellow(status);
    case "failed":
      return pc.red(status);
    case "cancelled":
      return pc.dim(status);
    default:
      return pc.cyan(status);
  }
}
