/**
 * Reports: `buildReport` reads runs and sweeps from the store into a data model; `writeReport`
 * renders it as one self-contained HTML file, a Markdown file and the charts as SVG files.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Db } from "../store/db.js";
import { reportCharts, type Chart } from "./charts.js";
import { renderHtml } from "./html.js";
import { loadReportTargets } from "./load.js";
import { renderMarkdown } from "./markdown.js";
import { buildReportModel, type ReportModel } from "./model.js";
import { readReference, type Reference } from "./reference.js";
import type { ReferenceComparison } from "./types.js";

export { buildReportModel, type BuildReportInput, type ReportModel, type ReportRun } from "./model.js";
export { readReference, type Reference, type ReferenceRun } from "./reference.js";
export type { ReferenceComparison } from "./types.js";
export { reportCharts, type Chart } from "./charts.js";

export interface BuildReportOptions {
  /** Sweep ids or names, run ids or prefixes. */
  targets: string[];
  /** A reference file path, or an already-read reference; null for none. */
  reference?: string | Reference | null;
  /** How to compare with `reference`; required with one (the paper's: study/claims.ts `paperComparison`). */
  comparison?: ReferenceComparison | null;
  title?: string;
}

export function buildReport(db: Db, opts: BuildReportOptions): ReportModel {
  const { runs, sources, names } = loadReportTargets(db, opts.targets);
  const reference =
    typeof opts.reference === "string" ? readReference(opts.reference) : (opts.reference ?? null);
  const title = opts.title ?? (names.length ? `loraprof report: ${names.join(", ")}` : "loraprof report");
  return buildReportModel({ runs, reference, comparison: opts.comparison ?? null, title, sources });
}

export interface WrittenReport {
  html: string;
  markdown: string;
  charts: string[];
}

/** Writes `report.html` (self-contained), `report.md` and `charts/*.svg` under `outDir`. */
export function writeReport(model: ReportModel, outDir: string): WrittenReport {
  const dir = resolve(outDir);
  mkdirSync(join(dir, "charts"), { recursive: true });
  const charts = reportCharts(model);
  const chartPath = (c: Chart) => `charts/${c.id}.svg`;
  const chartFiles = charts.map((c) => {
    const p = join(dir, chartPath(c));
    writeFileSync(p, c.svg + "\n");
    return p;
  });
  const html = join(dir, "report.html");
  const markdown = join(dir, "report.md");
  writeFileSync(html, renderHtml(model, charts));
  writeFileSync(markdown, renderMarkdown(model, charts, chartPath));
  return { html, markdown, charts: chartFiles };
}
