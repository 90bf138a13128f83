/**
 * `loraprof plan --nproc-per-node N` as a user runs it (the built CLI): each rank's memory and the
 * scaling estimate in the JSON and the text, a rank count refused with the flag named.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const cli = join(repoRoot, "bin/loraprof.js");
const home = mkdtempSync(join(tmpdir(), "loraprof-plan-ranks-"));
const run = (args: string[]) =>
  spawnSync(process.execPath, [cli, "plan", "--gpu", "h200", "--db", join(home, "x.db"), ...args], {
    encoding: "utf8",
    env: { ...process.env, LORAPROF_HOME: home, NO_COLOR: "1" },
  });

interface Out {
  memory: { devicePeakBytes: number; allocatorPeakBytes: number };
  ranks?: {
    ranks: number;
    globalBatchRows: number;
    perRank: { devicePeakBytes: number; ddpBucketBytes: number; communicatorBytes: number };
    scaling: { speedup: number; efficiency: number; allReducesPerStep: number };
  };
}

describe("plan --nproc-per-node", () => {
  it("adds each rank's memory and the scaling to the plan, and leaves the plan alone without it", () => {
    const plain = JSON.parse(run(["--json", "--batch-size", "2"]).stdout) as Out;
    expect(plain.ranks).toBeUndefined();
    const r = run(["--json", "--batch-size", "2", "--grad-accum", "2", "--nproc-per-node", "4"]);
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as Out;
    expect(out.ranks!.ranks).toBe(4);
    expect(out.ranks!.globalBatchRows).toBe(16);
    expect(out.ranks!.perRank.devicePeakBytes).toBe(
      out.memory.devicePeakBytes + out.ranks!.perRank.ddpBucketBytes + out.ranks!.perRank.communicatorBytes,
    );
    expect(out.ranks!.perRank.ddpBucketBytes).toBeGreaterThan(0);
    expect(out.ranks!.scaling.speedup).toBeGreaterThan(1);
    expect(out.ranks!.scaling.speedup).toBeLessThan(4);
    expect(out.ranks!.scaling.allReducesPerStep).toBe(1); // gradAccum 2: one all-reduce per optimizer step

    const text = run(["--batch-size", "2", "--nproc-per-node", "2", "--grad-checkpointing"]);
    expect(text.status, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/data-parallel: 2 rank\(s\)/);
    expect(text.stdout).toMatch(/per rank +device peak .* = one process .* \+ DDP buckets .* \+ NCCL/);
    expect(text.stdout).toMatch(/\+ 1 all-reduce\(s\) of/);
    expect(text.stdout).not.toMatch(/not supported/); // checkpointing runs data-parallel too

    // Offload falls back with several ranks: the plan says so and plans every layer input on the device.
    const off = JSON.parse(
      run([
        "--json",
        "--batch-size",
        "2",
        "--grad-checkpointing",
        "--offload-activations",
        "--nproc-per-node",
        "2",
      ]).stdout,
    ) as Out & { ranks: { assumptions: string[] } };
    const onDevice = JSON.parse(
      run(["--json", "--batch-size", "2", "--grad-checkpointing", "--nproc-per-node", "2"]).stdout,
    ) as Out;
    expect(off.ranks.assumptions.join("\n")).toMatch(/activation offload is not used with several ranks/);
    expect(off.memory.devicePeakBytes).toBe(onDevice.memory.devicePeakBytes);
  }, 60_000); // three CLI starts: more than vitest's 5 s default on a loaded machine

  it("refuses a rank count that is not 1..64, naming the flag", () => {
    const r = run(["--nproc-per-node", "0"]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--nproc-per-node: "0" is not a whole number of ranks/);
  }, 60_000);
});
