/**
 * `loraprof tune` on the CPU (tiny-qwen2, random weights): the planner's top candidates for a GPU
 * it plans for (here a custom 8 GiB card) that the CPU can run, each measured for a few steps,
 * stored as a sweep, and the fastest written as a config file `run --config` takes.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { cli, json, makeEnv } from "./helpers.js";

interface TuneOut {
  sweepId: string;
  considered: number;
  results: {
    rank: number;
    status: string;
    runId: string | null;
    settings: Record<string, unknown>;
    measuredRealTokensPerSecond: number | null;
  }[];
  winner: { runId: string; measuredRealTokensPerSecond: number; settings: Record<string, unknown> } | null;
  configPath: string | null;
}

describe("loraprof tune on the CPU", () => {
  const { env, home } = makeEnv();
  const out = join(home, "tuned.yaml");
  const base = [
    "--model",
    "tiny-qwen2",
    "--weights",
    "random",
    "--dataset",
    "synthetic",
    "--synthetic-records",
    "48",
    "--device",
    "cpu",
    "--seq-len",
    "64",
    "--steps",
    "30",
    "--gpu",
    "custom",
    "--gpu-memory",
    "8GiB",
    "--batch-sizes",
    "1,2",
    "--optimizers",
    "adamw_torch,adamw_torch_fused",
  ];

  it("measures the top candidates as a sweep and writes the fastest as a config file", () => {
    const r = cli(
      [
        "tune",
        ...base,
        "--top",
        "2",
        "--tune-steps",
        "4",
        "--tune-warmup-steps",
        "1",
        "--out",
        out,
        "--no-telemetry",
        "--json",
      ],
      env,
    );
    expect(r.code, r.stderr).toBe(0);
    const t = json<TuneOut>(r);
    expect(t.considered).toBeGreaterThan(2);
    expect(t.results).toHaveLength(2);
    for (const x of t.results) {
      expect(x.status).toBe("completed");
      expect(x.measuredRealTokensPerSecond).toBeGreaterThan(0);
      // nothing the CPU cannot run was picked
      expect(["fp16"]).not.toContain(x.settings["precision"]);
    }
    const best = Math.max(...t.results.map((x) => x.measuredRealTokensPerSecond!));
    expect(t.winner!.measuredRealTokensPerSecond).toBe(best);
    expect(t.configPath).toBe(out);

    const sweep = json<{ entries: { runId: string; status: string }[] }>(
      cli(["sweeps", "show", t.sweepId, "--json"], env),
    );
    expect(sweep.entries.map((e) => e.runId).sort()).toEqual(t.results.map((x) => x.runId).sort());

    // The file is the user's config (their 30 steps, not the tune's 4) with the winner's settings.
    expect(existsSync(out)).toBe(true);
    const config = parse(readFileSync(out, "utf8")) as Record<string, unknown>;
    expect(config["steps"]).toBe(30);
    expect(config["batchSize"]).toBe(t.winner!.settings["batchSize"]);
    expect(config["padding"]).toBe(t.winner!.settings["padding"]);
    const run = cli(
      ["run", "--config", out, "--steps", "2", "--warmup-steps", "1", "--no-telemetry", "--json", "--quiet"],
      env,
    );
    expect(run.code, run.stderr).toBe(0);
    const stored = json<{ status: string; config: { batchSize: number; optimizer: { name: string } } }>(run);
    expect(stored.status).toBe("completed");
    expect(stored.config.optimizer.name).toBe((t.winner!.settings["optimizer"] as { name: string }).name);
  }, 240_000);

  it("names the flag when a search setting is wrong, before running anything", () => {
    const r = cli(["tune", ...base, "--top", "0"], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--top/);
    const p = cli(["tune", ...base, "--paddings", "longest,sideways"], env);
    expect(p.code).toBe(2);
    expect(p.stderr).toMatch(/--paddings/);
  });
});
