/**
 * bench/plan-holdout.ts, the planner's held-out check, run end to end on the CPU with its `tiny` set
 * (tiny-qwen2): every prediction written before the configurations run as one sweep; tune --top 2; the
 * exhaustive sweep, and a second call that resumes it and adds its wall time. The GPU calls
 * (bench/gpu/plan-holdout.sh) run the same code with the real configurations, where a broken part costs
 * a device session.
 */
import { spawnSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tuneSummary } from "../../bench/lib/tune-check.js";
import { alpacaPath, cliPath, makeEnv, repoRoot } from "./helpers.js";

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe("the planner's holdout script on the CPU", () => {
  const { env, home } = makeEnv();
  // inside the checkout, so the bundle's npm imports resolve from its node_modules
  const outDir = join(repoRoot, "dist-bench", `it-${process.pid}`);
  const script = join(outDir, "plan-holdout.mjs");
  afterAll(() => rmSync(outDir, { recursive: true, force: true }));

  beforeAll(async () => {
    // @ts-expect-error: a plain ES module of the repository's scripts, no type declarations
    const { buildBench } = (await import("../../scripts/build-bench.mjs")) as {
      buildBench: (out: string, entries: string[]) => Promise<void>;
    };
    await buildBench(outDir, ["plan-holdout.ts"]);
  });

  const part = (name: string, out: string, more: string[] = []): Json => {
    const r = spawnSync(
      process.execPath,
      [
        script,
        ...["--cli", `${process.execPath} ${cliPath}`, "--dataset", alpacaPath, "--configs", "tiny"],
        ...["--part", name, "--out", join(home, out), "--deadline-s", "240", ...more],
      ],
      { env, cwd: repoRoot, encoding: "utf8" },
    );
    expect(r.status, r.stderr).toBe(0);
    return JSON.parse(readFileSync(join(home, out), "utf8")) as Json;
  };

  it("predicts every configuration before any of them runs, then runs them as one sweep", () => {
    const doc = part("holdout", "holdout.json", ["--sweep", "tiny-holdout"]);
    expect(doc.holdout).toHaveLength(2);
    for (const h of doc.holdout) {
      expect(Date.parse(h.predictedAt)).toBeLessThanOrEqual(Date.parse(doc.sweepStartedAt));
      expect(h.prediction.realTokensPerSecond).toBeGreaterThan(0);
      expect(h.result.status).toBe("completed");
      expect(h.result.config.label).toContain(`holdout-${h.name} `);
      expect(h.result.metrics.realTokensPerSecond).toBeGreaterThan(0);
    }
    expect(doc.sweep.counts.completed).toBe(2);
  });

  it("sets tune's pick beside an exhaustive sweep that a second call resumes, adding its wall time", () => {
    const tune = part("tune", "tune.json");
    expect(tune.tune.tune.out.winner.measuredRealTokensPerSecond).toBeGreaterThan(0);
    const first = part("exhaustive", "exhaustive.json", ["--sweep", "tiny-exhaustive"]);
    expect(first.tune.exhaustive.out.results).toHaveLength(4);
    const second = part("exhaustive", "exhaustive2.json", [
      ...["--sweep", "tiny-exhaustive", "--previous", join(home, "exhaustive.json")],
    ]);
    const [a, b] = [first.tune.exhaustive, second.tune.exhaustive];
    expect(b.earlierSeconds).toBeCloseTo(a.wallSeconds, 6);
    expect(b.wallSeconds).toBeCloseTo(a.wallSeconds + b.callSeconds, 6);
    // nothing left to run: the resumed sweep measured the same four runs
    expect(b.out.results.map((r: Json) => r.runId)).toEqual(a.out.results.map((r: Json) => r.runId));
    const s = tuneSummary(tune.tune.tune, b);
    expect(s.exhaustiveComplete).toBe(true);
    expect(s.exhaustiveMeasured).toBe(4);
    expect(s.timeRatio).toBeGreaterThan(0);
    // a --previous of another sweep is refused
    const wrong = spawnSync(
      process.execPath,
      [
        script,
        ...["--cli", `${process.execPath} ${cliPath}`, "--dataset", alpacaPath, "--configs", "tiny"],
        ...["--part", "exhaustive", "--sweep", "another", "--previous", join(home, "exhaustive.json")],
        ...["--out", join(home, "wrong.json")],
      ],
      { env, cwd: repoRoot, encoding: "utf8" },
    );
    expect(wrong.status).not.toBe(0);
    expect(wrong.stderr).toMatch(/--previous is sweep tiny-exhaustive, not another/);
  });

  it("refuses to measure a spent check again unless told to", () => {
    const r = spawnSync(
      process.execPath,
      [
        script,
        ...["--cli", `${process.execPath} ${cliPath}`, "--dataset", alpacaPath, "--configs", "tiny"],
        ...["--part", "holdout", "--sweep", "h100-plan-holdout3-holdout", "--out", join(home, "spent.json")],
      ],
      { env, cwd: repoRoot, encoding: "utf8" },
    );
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(
      /--sweep h100-plan-holdout3-holdout belongs to a spent holdout check .*--allow-spent/,
    );
  });
});
