/**
 * The report, opened in headless Chromium (playwright-core with Debian's /usr/bin/chromium):
 * 1. from a real CPU sweep (tiny-qwen2, padding longest vs max_length, 2 repeats) through the CLI;
 * 2. from the synthetic study fixture (toy cost model, not measurements) for what a CPU cannot
 *    show: peak memory with the budget line and OOM cells, the study table and the claims.
 * Screenshots are written to $LORAPROF_SCREENSHOTS (see browser.ts).
 */
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeReport } from "../../src/report/index.js";
import { buildReportModel } from "../../src/report/model.js";
import { paperComparison } from "../../src/study/claims.js";
import { syntheticStudyRuns } from "../../src/study/fixture.js";
import { readReference } from "../../src/study/reference.js";
import { launchBrowser, screenshotDir as shots } from "./browser.js";
import { cli, json, makeEnv, sharedDir } from "./helpers.js";

/** A drawn data element (ECharts tags each with its series and data index; reference lines are silent). */
const MARK = '[ecmeta_ssr_type="chart"]:not([ecmeta_silent])';
const mark = (series: number) => `${MARK}[ecmeta_series_index="${series}"]`;
/** The series that drew at least one data element in a chart. */
const seriesDrawn = (chart: ReturnType<Page["locator"]>) =>
  chart
    .locator(MARK)
    .evaluateAll((els) => [...new Set(els.map((e) => e.getAttribute("ecmeta_series_index")))].length);

let browser: Browser;

beforeAll(async () => {
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
});

/** Opens a file and records every request that is not the file itself. */
async function open(path: string): Promise<{ page: Page; outside: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const outside: string[] = [];
  page.on("request", (r) => {
    if (!r.url().startsWith("file://") && !r.url().startsWith("data:")) outside.push(r.url());
  });
  await page.goto(pathToFileURL(path).href);
  return { page, outside };
}

describe("the report in a browser", () => {
  it("renders a real CPU sweep: charts as SVG with data marks, one table row per configuration", async () => {
    const { env, home } = makeEnv();
    const spec = join(home, "padding.yaml");
    writeFileSync(
      spec,
      [
        "name: tiny-padding",
        "base: { model: tiny-qwen2, weights: random, dataset: synthetic, syntheticRecords: 48, device: cpu, steps: 6, warmupSteps: 1, logEverySteps: 2, seqLen: 96, batchSize: 2 }",
        "grid: { padding: [max_length, longest] }",
        "repeats: 2",
        "",
      ].join("\n"),
    );
    const swept = cli(["sweep", spec, "--json", "-q"], env);
    expect(swept.code, swept.stderr).toBe(0);
    expect(json<{ counts: { completed: number } }>(swept).counts.completed).toBe(4);

    const out = join(home, "report");
    const r = cli(["report", "tiny-padding", "--out", out, "--json"], env);
    expect(r.code, r.stderr).toBe(0);
    const written = json<{ html: string; findings: { factor: string; text: string }[]; conditions: number }>(
      r,
    );
    expect(written.conditions).toBe(2);
    expect(written.findings.map((f) => f.factor)).toContain("padding");

    const { page, outside } = await open(written.html);
    expect(await page.locator("svg").count()).toBeGreaterThanOrEqual(3);
    const throughput = page.locator("#chart-throughput-1 svg");
    // Two padding levels × (real, processed): series 0 and 1 are the medians of the two panels.
    expect(await throughput.locator(mark(0)).count()).toBe(2);
    expect(await throughput.locator(mark(1)).count()).toBe(2);
    expect(await seriesDrawn(page.locator("#chart-loss svg"))).toBe(2);
    expect(await page.locator("#conditions-table tbody tr").count()).toBe(2);
    expect(await page.locator("#failures-table").count()).toBe(0);
    // Padding longest leaves fewer processed tokens per real one: the finding says which way.
    expect(await page.locator("#findings li").first().innerText()).toMatch(/padding: longest vs max_length/);
    await page.screenshot({ path: join(shots, "report-cpu-sweep.png"), fullPage: true });
    expect(outside).toEqual([]);
    await page.close();
  });

  it("renders the study layout: memory over batch × sequence with the budget line and OOM cells, the study table, the claims", async () => {
    const reference = readReference(join(sharedDir, "reference/paper-2509.12229.json"));
    const model = buildReportModel({
      runs: syntheticStudyRuns(),
      reference,
      comparison: paperComparison,
      title: "SYNTHETIC fixture (toy cost model, not measurements)",
    });
    const dir = join(tmpdir(), `loraprof-report-fixture-${process.pid}`);
    const written = writeReport(model, dir);
    const { page, outside } = await open(written.html);
    const memory = page.locator("#chart-memory-grid svg");
    expect(await memory.locator("text", { hasText: /^budget / }).count()).toBe(1);
    // Three batch sizes drawn as lines (series 0–2), then the OOM crosses (series 3).
    expect(await seriesDrawn(memory)).toBe(4);
    expect(await memory.locator(mark(3)).count()).toBe(1);
    expect(await page.locator("#chart-throughput-grid svg text", { hasText: /^OOM$/ }).count()).toBe(1);
    expect(await page.locator("#study-table tbody tr").count()).toBe(10);
    expect(await page.locator("#conditions-table tbody tr").count()).toBe(model.conditions.length);
    expect(await page.locator("article.claim").count()).toBe(reference.claims.length);
    expect(await page.locator("article.claim .verdict").first().innerText()).toBe("confounded");
    // Every chart with data names its axes with their units (its accessible name).
    const names = await page
      .locator("figure.chart svg")
      .evaluateAll((els) =>
        els
          .filter((e) => e.querySelector("[ecmeta_ssr_type=chart]"))
          .map((e) => e.getAttribute("aria-label") ?? ""),
      );
    expect(names.length).toBeGreaterThan(5);
    for (const t of names) expect(t).toMatch(/\(.+\)/);
    // The study's fast arm varies many settings at once, so configuration names run long: the bar charts
    // still draw every bar (each name cut to 40% of the chart), and the table wraps the names and keeps
    // its figures in view.
    for (const id of ["#chart-energy svg", "#chart-mfu svg"]) {
      const lengths = await page
        .locator(`${id} path${mark(0)}`)
        .evaluateAll((els) =>
          els.map((e) => Number(/^M[\d.]+ [\d.]+l([\d.-]+)/.exec(e.getAttribute("d") ?? "")?.[1])),
        );
      expect(lengths.length, id).toBeGreaterThan(3);
      for (const l of lengths) expect(l, id).toBeGreaterThan(0);
      expect(Math.max(...lengths), id).toBeGreaterThan(200);
    }
    const wrap = page.locator(".table-wrap", { has: page.locator("#conditions-table") });
    const [scroll, client] = await wrap.evaluate((w) => [w.scrollWidth, w.clientWidth]);
    expect(scroll - client).toBeLessThan(80);
    await page.screenshot({ path: join(shots, "report-study-fixture.png"), fullPage: true });
    await memory.screenshot({ path: join(shots, "report-memory-chart.png") });
    expect(outside).toEqual([]);
    await page.close();
  });
});
