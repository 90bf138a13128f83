/**
 * `loraprof ui` in headless Chromium, over a real store written by real CPU runs on tiny-qwen2:
 * a run watched live (the loss chart gains points pushed by server-sent events, no polling), a
 * finished run, two runs compared, a sweep and its report, the plan form; then the security edges
 * a browser cannot show (path traversal, a non-loopback host with its token).
 * Screenshots go to $LORAPROF_SCREENSHOTS (see browser.ts).
 */
import type { ChildProcess } from "node:child_process";
import { request } from "node:http";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exited, waitForOutput } from "../process.js";
import { launchBrowser, screenshotDir as shots } from "./browser.js";
import { cli, cliAsync, json, makeEnv } from "./helpers.js";

const TINY = ["--seq-len", "96", "--synthetic-records", "64", "--device", "cpu"];
const { env, home } = makeEnv();
const servers: ChildProcess[] = [];
let browser: Browser;
let base: string;

/** Starts `loraprof ui` on a free port and returns the URL it printed. */
async function startUi(
  args: string[] = [],
): Promise<{ child: ChildProcess; url: string; stderr: () => string }> {
  const child = cliAsync(["ui", "--port", "0", ...args], env);
  servers.push(child);
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const out = await waitForOutput(child, "stdout", /loraprof ui: (http:\/\/\S+)/, 60_000);
  return { child, url: /loraprof ui: (http:\/\/\S+)/.exec(out)![1]!, stderr: () => stderr };
}

/** A raw GET: the path goes out exactly as written (no URL normalization by a client). */
function rawGet(url: string, path: string): Promise<number> {
  const u = new URL(url);
  return new Promise((ok, fail) =>
    request({ host: u.hostname, port: u.port, path }, (res) => {
      res.resume();
      ok(res.statusCode ?? 0);
    })
      .on("error", fail)
      .end(),
  );
}

/** A shared two-core host can be slow: every poll may take a while. */
const POLL = { timeout: 60_000 };

const points = async (page: Page, chart: string) =>
  Number(await page.locator(`[data-chart="${chart}"]`).getAttribute("data-points"));

beforeAll(async () => {
  // A finished run to open and compare before anything is live (batch 2: differs from the live run).
  const first = cli(
    [
      "run",
      ...TINY,
      "--steps",
      "6",
      "--warmup-steps",
      "1",
      "--batch-size",
      "2",
      "--label",
      "first",
      "--json",
      "-q",
    ],
    env,
  );
  expect(first.code, first.stderr).toBe(0);
  browser = await launchBrowser();
  base = (await startUi()).url;
});

afterAll(async () => {
  await browser?.close();
  for (const s of servers) s.kill("SIGINT");
  await Promise.all(servers.map(exited));
});

describe("loraprof ui in a browser", () => {
  it("shows a run training live: the loss chart gains points pushed by server-sent events", async () => {
    const page = await browser.newPage({ viewport: { width: 1440, height: 960 } });
    const requests: string[] = [];
    page.on("request", (r) => requests.push(new URL(r.url()).pathname));
    await page.goto(`${base}#/runs`);
    await expect.poll(() => page.locator("#runs-table tbody tr").count(), POLL).toBe(1);
    const run = cliAsync(
      ["run", ...TINY, "--steps", "60", "--warmup-steps", "2", "--log-every", "1", "--label", "live"],
      env,
    );
    const done = exited(run);
    // The new run appears in the open table by itself (a store event, then one refetch).
    await page.locator("tr:has(.status-running) a.run-link").click({ timeout: 180_000 });
    await expect.poll(() => points(page, "loss"), { timeout: 120_000 }).toBeGreaterThan(0);
    const before = await points(page, "loss");
    await expect.poll(() => points(page, "loss"), { timeout: 120_000 }).toBeGreaterThan(before + 2);
    expect(await page.locator("#live-badge").isVisible()).toBe(true);
    await page.screenshot({ path: join(shots, "ui-run-live.png") });
    expect(await done).toBe(0);
    // The final status and metrics arrive without a reload.
    await expect.poll(() => page.locator("h1 .status").innerText(), POLL).toBe("completed");
    await expect.poll(() => points(page, "loss"), POLL).toBe(60);
    // No polling: the run's document was fetched once when opened and once when it finished.
    const runFetches = requests.filter((p) => /^\/api\/runs\/[^/]+$/.test(p));
    expect(runFetches.length).toBeLessThanOrEqual(2);
    expect(requests.filter((p) => p === "/api/events").length).toBeGreaterThan(0);
    await page.close();
  });

  it("opens a finished run: charts from the store, its config, no GPU charts on the CPU", async () => {
    const page = await browser.newPage({ viewport: { width: 1440, height: 960 } });
    await page.goto(`${base}#/runs`);
    await page.locator("#run-filter").fill("first");
    await expect.poll(() => page.locator("#runs-table tbody tr").count(), POLL).toBe(1);
    await page.locator("a.run-link").click();
    await expect.poll(() => points(page, "loss"), POLL).toBe(6);
    expect(await points(page, "tokens")).toBe(6);
    expect(await page.locator("h1 .status").innerText()).toBe("completed");
    expect(await page.locator("#run-config").innerText()).toContain('"batchSize": 2');
    expect(await page.locator("#not-measured").innerText()).toMatch(/power/);
    // Where its wall time went: every phase the run passed through, the measured window among the steps.
    expect(await page.locator("#run-phases summary").innerText()).toMatch(
      /Where the time went: .* in all, .*% of it the measured window/,
    );
    expect(await page.locator("#run-phases tr[data-phase]").count()).toBe(7);
    expect(await page.locator('#run-phases tr[data-phase="training"]').innerText()).toMatch(
      /measured window/,
    );
    await page.screenshot({ path: join(shots, "ui-run-finished.png"), fullPage: true });
    await page.close();
  });

  it("compares two runs: settings that differ highlighted, overlaid curves", async () => {
    const page = await browser.newPage({ viewport: { width: 1440, height: 960 } });
    await page.goto(`${base}#/runs`);
    await expect.poll(() => page.locator("#runs-table tbody tr").count(), POLL).toBe(2);
    for (const box of await page.locator("#runs-table tbody input[type=checkbox]").all()) await box.check();
    await page.locator("#compare-button").click();
    const diffs = page.locator("#compare-table tr.diff th");
    await expect
      .poll(() => diffs.allInnerTexts(), POLL)
      .toEqual(expect.arrayContaining(["batchSize", "steps"]));
    expect(await page.locator('#compare-table tr[data-metric="realTokensPerSecond"] td').count()).toBe(2);
    await expect
      .poll(() => page.locator('[data-chart="compare-loss"]').getAttribute("data-series"), POLL)
      .toBe("2");
    await page.screenshot({ path: join(shots, "ui-compare.png"), fullPage: true });
    await page.close();
  });

  it("downloads the selected runs as one file that `runs import` reads into another store", async () => {
    const page = await browser.newPage({ viewport: { width: 1440, height: 960 }, acceptDownloads: true });
    await page.goto(`${base}#/runs`);
    await expect.poll(() => page.locator("#runs-table tbody tr").count(), POLL).toBe(2);
    expect(await page.locator("#export-button").getAttribute("aria-disabled")).toBe("true");
    const ids = await page
      .locator("#runs-table tbody tr")
      .evaluateAll((rows) => rows.map((r) => r.dataset["run"]));
    for (const box of await page.locator("#runs-table tbody input[type=checkbox]").all()) await box.check();
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.locator("#export-button").click(),
    ]);
    expect(download.suggestedFilename()).toBe("loraprof-runs-2.json");
    const file = join(home, "downloaded.json");
    await download.saveAs(file);
    await page.close();
    const other = join(home, "from-download.db");
    const imported = json<{ imported: string[] }>(
      cli(["runs", "import", file, "--db", other, "--json"], env),
    );
    expect(imported.imported.sort()).toEqual([...ids].sort());
  });

  it("shows a sweep's progress and opens its report inside the app", async () => {
    const spec = join(home, "ui-sweep.yaml");
    writeFileSync(
      spec,
      [
        "name: ui-sweep",
        "base: { model: tiny-qwen2, weights: random, dataset: synthetic, syntheticRecords: 48, device: cpu, steps: 4, warmupSteps: 1, seqLen: 96 }",
        "grid: { padding: [max_length, longest] }",
        "",
      ].join("\n"),
    );
    const swept = cli(["sweep", spec, "--json", "-q"], env);
    expect(swept.code, swept.stderr).toBe(0);
    expect(json<{ counts: { completed: number } }>(swept).counts.completed).toBe(2);
    const page = await browser.newPage({ viewport: { width: 1440, height: 1100 } });
    await page.goto(`${base}#/sweeps`);
    const row = page.locator("#sweeps-table tbody tr", { hasText: "ui-sweep" });
    expect(await row.locator(".count-completed").innerText()).toBe("2 completed");
    await row.locator("a.button").click();
    const report = page.frameLocator("#sweep-report");
    await expect
      .poll(
        () =>
          report
            .locator('#chart-throughput-1 svg [ecmeta_ssr_type="chart"][ecmeta_series_index="0"]')
            .count(),
        POLL,
      )
      .toBe(2);
    expect(await report.locator("#conditions-table tbody tr").count()).toBe(2);
    await page.screenshot({ path: join(shots, "ui-sweep-report.png") });
    await page.close();
  });

  it("plans from the form: the verdict, the memory bar against the card, the speed", async () => {
    const page = await browser.newPage({ viewport: { width: 1440, height: 960 } });
    await page.goto(`${base}#/plan`);
    await page.locator("select[name=model]").selectOption("qwen2.5-0.5b");
    await page.locator("select[name=gpu]").selectOption("rtx-4060");
    await page.locator("input[name=batchSize]").fill("2");
    await page.locator("#plan-submit").click();
    await expect
      .poll(() => page.locator("#plan-verdict").innerText(), POLL)
      .toMatch(/^(Fits|Does not fit): device peak/);
    expect(
      Number(await page.locator('[data-chart="plan-memory"]').getAttribute("data-series")),
    ).toBeGreaterThan(3);
    expect(await page.locator("#plan-speed").innerText()).toMatch(/real tokens\/s \(predicted\)/);
    await page.screenshot({ path: join(shots, "ui-plan.png"), fullPage: true });
    expect(await page.locator("#plan-verdict").innerText()).not.toMatch(/close to the line/);
    // A budget at the predicted peak: inside the planner's device-peak error, said so beside the verdict.
    const peak = /device peak ([\d.]+ [KMG]iB)/.exec(await page.locator("#plan-verdict").innerText())![1]!;
    await page.locator("input[name=vramBudget]").fill(peak.replace(" ", ""));
    await page.locator("#plan-submit").click();
    await expect
      .poll(() => page.locator("#plan-verdict").innerText(), POLL)
      .toMatch(/close to the line: within the planner's device-peak error/);
    await page.locator("#plan-verdict").screenshot({ path: join(shots, "ui-plan-tight.png") });
    // A bad field is named, with its fix (the config schema's own message, as the CLI prints it).
    await page.locator("input[name=vramBudget]").fill("eight gigs");
    await page.locator("#plan-submit").click();
    await expect.poll(() => page.locator(".error-panel").innerText(), POLL).toMatch(/vramBudget/);
    await expect.poll(() => page.locator("label.bad input[name=vramBudget]").count(), POLL).toBe(1);
    await page.close();
  });

  it("serves nothing outside its assets: traversal attempts get 404", async () => {
    for (const path of [
      "/assets/../../package.json",
      "/assets/..%2f..%2fpackage.json",
      "/assets/%2e%2e/%2e%2e/package.json",
      "/assets/..%2f..%2f..%2fsrc%2fserver%2fserver.ts",
      "/../package.json",
    ]) {
      expect(await rawGet(base, path), path).toBe(404);
    }
    expect(await rawGet(base, "/assets/app.js")).toBe(200);
  });

  it("on a non-loopback host: warns, and answers only requests carrying the printed token", async () => {
    const ui = await startUi(["--host", "0.0.0.0"]);
    expect(ui.stderr()).toMatch(/warning: serving on 0\.0\.0\.0/);
    const token = new URL(ui.url).searchParams.get("token");
    expect(token).toMatch(/^[\w-]{24,}$/);
    const local = new URL(ui.url);
    local.hostname = "127.0.0.1";
    expect(await rawGet(local.href, "/")).toBe(401);
    expect(await rawGet(local.href, "/api/runs")).toBe(401);
    expect(await rawGet(local.href, `/api/runs?token=${"x".repeat(token!.length)}`)).toBe(401);
    expect(await rawGet(local.href, `/api/runs?token=${token}`)).toBe(200);
    // The page itself works with the token: its cookie carries the assets, the API and the events.
    const page = await browser.newPage();
    await page.goto(local.href);
    await expect.poll(() => page.locator("#runs-table tbody tr").count(), POLL).toBe(4);
    await expect.poll(() => page.locator("#live-state").getAttribute("data-live"), POLL).toBe("1");
    await page.close();
  });

  it("shows a run stopped from another terminal as cancelled, with its error, without a reload", async () => {
    const page = await browser.newPage({ viewport: { width: 1440, height: 960 } });
    await page.goto(`${base}#/runs`);
    const run = cliAsync(
      ["run", ...TINY, "--steps", "5000", "--warmup-steps", "1", "--log-every", "1", "--label", "stopped"],
      env,
    );
    const done = exited(run);
    await page.locator("tr:has(.status-running) a.run-link").click({ timeout: 180_000 });
    await expect.poll(() => points(page, "loss"), { timeout: 120_000 }).toBeGreaterThan(0);
    run.kill("SIGINT");
    expect(await done).toBe(130);
    await expect.poll(() => page.locator("h1 .status").innerText(), POLL).toBe("cancelled");
    expect(await page.locator("#run-error").innerText()).toMatch(/Cancelled\s+cancelled by the user/);
    expect(await page.locator("#live-badge").count()).toBe(0);
    await page.close();
  });
});
