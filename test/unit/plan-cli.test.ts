/**
 * `loraprof plan`: the pure pieces (flags → plan request → planner input, renderers) in process, and
 * the built CLI as a user runs it (needs `npm run build` first; `npm test` builds before testing).
 */
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { repoRoot, runBuiltCli as runCli } from "./built-cli.js";
import { planJson, planRequestFromFlags, renderPlan } from "../../src/cli/commands/plan.js";
import { planForConfig, planInputFromConfig, requirePlanGpu } from "../../src/plan/index.js";
import { ALPACA_LIKE } from "../../src/plan/testing.js";
import { openStore } from "../../src/store/db.js";
import { createRun, finishRun, markRunning, setRunFields, type RunError } from "../../src/store/runs.js";

const GiB = 2 ** 30;

interface PlanOutput {
  gpu: { id: string };
  fits: { verdict: boolean; limitBytes: number; marginBytes: number };
  memory: { devicePeakBytes: number };
  throughput: {
    realTokensPerSecond: number;
    secondsPer10kRealTokens: number;
    energy: { joulesPerRealToken: number };
  };
  calibration: { calibrated: boolean; runs: number; source: { kind: string; label: string } };
  speedInterval: { low: number; high: number };
  lengths: { kind: string };
}

interface StoredResult {
  id: string;
  status: "completed" | "oom" | "failed" | "cancelled";
  config: unknown;
  environment: unknown;
  data: unknown;
  metrics?: unknown;
  error?: RunError | null;
}

describe("plan flags", () => {
  it("resolves the config like run: preset, then flags, and keeps the plan's own options", () => {
    const req = planRequestFromFlags({
      preset: "paper-run2",
      batchSize: "4",
      vramBudget: "6GiB",
      gradCheckpointing: false,
      gpu: "rtx-4060",
      json: true,
      db: "/tmp/x/loraprof.db",
    });
    expect(req.gpu).toBe("rtx-4060");
    expect(req.json).toBe(true);
    expect(req.fit).toBe(false);
    expect(req.dbPath).toBe("/tmp/x/loraprof.db");
    const input = planInputFromConfig(req.config, { gpu: requirePlanGpu(req.gpu), lengthStats: ALPACA_LIKE });
    expect(input).toMatchObject({
      batchSize: 4,
      seqLen: 2048,
      precision: "fp16",
      optimizer: "paged_adamw_8bit",
      gradCheckpointing: false,
      vramBudgetBytes: 6 * GiB,
    });
  });

  it("plans for this machine's GPU unless --gpu names one", () => {
    expect(planRequestFromFlags({}).gpu).toBe("auto");
    expect(planRequestFromFlags({ gpu: " h200 " }).gpu).toBe("h200");
  });

  it("names a bad flag value and its fix", () => {
    expect(() => planRequestFromFlags({ batchSize: "two" })).toThrow(/invalid flag value/);
  });
});

describe("plan renderers", () => {
  it("print the breakdown, the verdict with its margin and the calibration state", async () => {
    const req = planRequestFromFlags({ preset: "paper-run2", dataset: "alpaca" });
    const dir = mkdtempSync(join(tmpdir(), "lp-plan-cli-"));
    const plan = await planForConfig(req.config, { gpu: requirePlanGpu("rtx-4060"), cacheDir: dir });
    // Colours are on where CI=true is set (picocolors); compare the text a person reads.
    // eslint-disable-next-line no-control-regex
    const text = renderPlan(plan, null, join(dir, "calibrations.json")).replace(/\u001b\[[0-9;]*m/g, "");
    expect(text).toMatch(/logits and loss buffers/);
    expect(text).toMatch(/does not fit: device peak .* short by/);
    expect(text).not.toMatch(/close to the line/); // short by far more than the planner's error
    expect(text).toMatch(/constants +transferred from h200 by bandwidth\/FLOP ratio/);
    expect(text).toMatch(/interval +[\d,.]+–[\d,.]+ real tokens\/s/);
    expect(text).toMatch(/J \/ real token/);
    const json = planJson(plan, null, join(dir, "calibrations.json"));
    expect(json["lengths"]).toMatchObject({ kind: "published", meanTokens: 104 });
    expect(JSON.stringify(json)).not.toMatch(/"lengths":\[/); // no per-record array in the output
  });
});

describe("loraprof plan (built CLI)", () => {
  it("prints a verdict for the study's run 2 on an RTX 4060 as JSON", () => {
    const r = runCli(["plan", "--gpu", "rtx-4060", "--preset", "paper-run2", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as PlanOutput;
    expect(out.gpu.id).toBe("rtx-4060");
    expect(typeof out.fits.verdict).toBe("boolean");
    expect(out.fits.limitBytes).toBe(8188 * 2 ** 20);
    expect(out.fits.marginBytes).toBeCloseTo(out.fits.limitBytes - out.memory.devicePeakBytes, -1);
    expect(out.throughput.realTokensPerSecond).toBeGreaterThan(0);
    expect(out.throughput.secondsPer10kRealTokens).toBeGreaterThan(0);
    expect(out.throughput.energy.joulesPerRealToken).toBeGreaterThan(0);
    // No calibration of its own: the shipped H200 one, transferred, with a wider interval.
    expect(out.calibration).toMatchObject({ calibrated: true, source: { kind: "transferred" } });
    expect(out.calibration.source.label).toMatch(/^transferred from h200 by bandwidth\/FLOP ratio/);
    expect(out.speedInterval.low).toBeLessThan(out.throughput.realTokensPerSecond);
    expect(out.speedInterval.high).toBeGreaterThan(out.throughput.realTokensPerSecond);
    expect(out.lengths.kind).toBe("published");
  });

  it("plans the H200 with the shipped calibration and names it", () => {
    const r = runCli(["plan", "--gpu", "h200", "--preset", "paper-run1", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as PlanOutput;
    expect(out.calibration.source.kind).toBe("shipped");
    expect(out.calibration.source.label).toMatch(/^calibrated: h200 shipped \(\d+ runs, reference recipe\)/);
    const fast = JSON.parse(
      runCli(["plan", "--gpu", "h200", "--preset", "paper-run1", "--recipe", "fast", "--json"]).stdout,
    ) as PlanOutput;
    expect(fast.calibration.source.label).toMatch(/fast recipe/);
  });

  it("fails with a hint to pass --gpu when no GPU is found", () => {
    const r = runCli(["plan", "--preset", "paper-run1"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--gpu rtx-4060/);
  });

  it("calibrates on the store's H200 runs and plans with that calibration", () => {
    const home = mkdtempSync(join(tmpdir(), "lp-plan-cli-"));
    const dbPath = join(home, "store", "loraprof.db");
    const db = openStore(dbPath);
    const doc = JSON.parse(
      readFileSync(join(repoRoot, "bench/results/h200-presets-budget.json"), "utf8"),
    ) as {
      presets: { result: StoredResult }[];
      budget: { result: StoredResult }[];
    };
    const results = [...doc.presets, ...doc.budget].map((x) => x.result);
    for (const res of results) {
      const id = createRun(db, { id: res.id, config: res.config });
      markRunning(db, id, {});
      setRunFields(db, id, { environment: res.environment, data: res.data });
      finishRun(db, id, { status: res.status, metrics: res.metrics ?? null, error: res.error ?? null });
    }
    db.close();
    const cal = runCli(["plan", "calibrate", "--db", dbPath, "--json"]);
    expect(cal.code, cal.stderr).toBe(0);
    const saved = JSON.parse(cal.stdout) as { gpuId: string; calibration: { runs: number; oomRuns: number } };
    expect(saved.gpuId).toBe("h200");
    expect(saved.calibration.runs).toBe(4);
    expect(saved.calibration.oomRuns).toBe(1);
    expect(existsSync(join(home, "store", "calibrations.json"))).toBe(true);

    const plan = runCli(["plan", "--gpu", "h200", "--preset", "paper-run1", "--db", dbPath]);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toMatch(/calibrated from 4 runs \+ 1 OOM run/);
  });
});
