/**
 * `loraprof study paper`'s fast arm as a user meets it: planned for this machine's GPU (a fake
 * nvidia-smi stands in for the card), the fixed fallback where there is none. Needs `npm run build`.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { requirePlanGpu } from "../../src/plan/index.js";
import { plannedFastArm } from "../../src/study/fast.js";
import { FAST_BEST_UNDER_8GIB, studyOverrides } from "../../src/study/sweep.js";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const cli = join(repoRoot, "bin/loraprof.js");

interface DryRun {
  entries: { groups: string[]; config: { batchSize: number; seqLen: number; optimizer: { name: string } } }[];
}

function study(nvidiaSmi: string | null, extra: string[] = []) {
  if (!existsSync(join(repoRoot, "dist/cli/main.js"))) throw new Error("build first: npm run build");
  const home = mkdtempSync(join(tmpdir(), "lp-study-cli-"));
  let smi = join(home, "no-nvidia-smi");
  if (nvidiaSmi !== null) {
    smi = join(home, "nvidia-smi");
    writeFileSync(smi, `#!/bin/sh\necho "${nvidiaSmi}"\n`);
    chmodSync(smi, 0o755);
  }
  const args = ["study", "paper", "--dataset", "synthetic", "--weights", "random", "--steps", "4"];
  const r = spawnSync(process.execPath, [cli, ...args, "--repeats", "1", "--dry-run", ...extra], {
    encoding: "utf8",
    env: {
      ...process.env,
      LORAPROF_HOME: home,
      LORAPROF_CACHE: join(home, "cache"),
      LORAPROF_NVIDIA_SMI: smi,
      NO_COLOR: "1",
    },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, cache: join(home, "cache") };
}

const lastFast = (out: string) => {
  const fast = (JSON.parse(out) as DryRun).entries.filter((e) => e.groups.includes("fast"));
  return fast[fast.length - 1]!.config;
};

// Each test spawns the CLI (and plans): seconds on two busy cores.
describe("study paper's fast arm", { timeout: 60_000 }, () => {
  it("is planned for the machine's GPU under the study's budget, and said so", async () => {
    const line = "0, NVIDIA GeForce RTX 4060, 8188, 560.35, 8.9";
    const text = study(line);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stderr).toMatch(
      /fast arm: the planner's fastest fast configuration under a budget of 8GiB on NVIDIA GeForce RTX 4060/,
    );
    const json = study(line, ["--json"]);
    expect(json.code, json.stderr).toBe(0);
    const expected = await plannedFastArm({
      gpu: requirePlanGpu("rtx-4060"),
      vramBudget: "8GiB",
      cacheDir: json.cache,
      overrides: studyOverrides({ steps: 4, dataset: "synthetic", weights: "random" }),
    });
    const got = lastFast(json.stdout);
    expect(got.batchSize).toBe(expected!.config.batchSize);
    expect(got.seqLen).toBe(expected!.config.seqLen);
  });

  it("falls back to the fixed configuration, saying why, without a GPU", () => {
    const text = study(null);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stderr).toMatch(/fast arm: .*\(fallback: nvidia-smi not found/);
    const got = lastFast(study(null, ["--json"]).stdout);
    expect(got.batchSize).toBe(FAST_BEST_UNDER_8GIB.batchSize);
    expect(got.seqLen).toBe(FAST_BEST_UNDER_8GIB.seqLen);
  });
});
