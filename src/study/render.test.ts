import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { reportCharts } from "../report/charts.js";
import { renderHtml } from "../report/html.js";
import { writeReport } from "../report/index.js";
import { buildReportModel } from "../report/model.js";
import { paperComparison } from "./claims.js";
import { syntheticStudyRuns } from "./fixture.js";
import { readReference } from "./reference.js";
import { STUDY_GROUPS } from "./sweep.js";

const reference = readReference(
  resolve(import.meta.dirname, "../../../shared/reference/paper-2509.12229.json"),
);
const model = buildReportModel({
  runs: syntheticStudyRuns(),
  reference,
  comparison: paperComparison,
  title: "SYNTHETIC fixture",
});

describe("report renderers", () => {
  it("writes HTML that loads nothing from outside the file", () => {
    const html = renderHtml(model, reportCharts(model));
    expect(html).not.toMatch(/<script|<link|src="http|href="http|@import|url\(http/i);
    expect(html).toContain("<svg");
  });

  it("has one row per configuration in the configurations table", () => {
    const html = renderHtml(model, reportCharts(model));
    const table = html.slice(
      html.indexOf('<table id="conditions-table"'),
      html.indexOf("</table>", html.indexOf('<table id="conditions-table"')),
    );
    expect((table.match(/<tr>/g) ?? []).length - 1).toBe(model.conditions.length);
    expect(model.conditions).toHaveLength(17); // the study: 13 reference configurations and the fast arm's 4
  });

  it("draws the throughput, grid, memory, energy, loss and MFU charts", () => {
    expect(reportCharts(model).map((c) => c.id)).toEqual([
      "throughput-1",
      "throughput-2",
      "throughput-3",
      "throughput-4",
      "throughput-grid",
      "memory-grid",
      "energy",
      "loss",
      "mfu",
    ]);
  });

  it("writes the HTML, the Markdown and each chart as an SVG file the Markdown links to", () => {
    const dir = mkdtempSync(join(tmpdir(), "loraprof-report-"));
    const written = writeReport(model, dir);
    const md = readFileSync(written.markdown, "utf8");
    expect(written.charts).toHaveLength(9);
    for (const c of written.charts) expect(md).toContain(`(charts/${c.split("/").pop()})`);
    expect(md).toMatch(/\| real tokens\/s \| .* \| 500 \|/);
    expect(md).toContain("## Published claims, checked");
    expect(md).toContain("Libraries: torch fixture.");
    expect(readFileSync(written.html, "utf8")).toContain('id="study-table"');
  });

  it("writes the report of a study of some groups only (study paper --groups)", () => {
    const all = syntheticStudyRuns();
    for (const groups of [...STUDY_GROUPS.map((g) => [g]), ["presets", "fast"]]) {
      const runs = all
        .filter((r) => r.groups.some((g) => groups.includes(g)))
        .map((r) => ({ ...r, groups: r.groups.filter((g) => groups.includes(g)) }));
      const subset = buildReportModel({ runs, reference, comparison: paperComparison, title: "SYNTHETIC" });
      const written = writeReport(subset, mkdtempSync(join(tmpdir(), "loraprof-report-")));
      expect(readFileSync(written.markdown, "utf8"), groups.join()).toContain("## Published claims, checked");
    }
  });
});
