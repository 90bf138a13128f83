/**
 * `run --nproc-per-node 2` on the CPU: the engine under torchrun with two gloo ranks. The engine's own
 * test compares the ranks with one process step by step; here the CLI's side: the same global batch
 * gives the same stored losses and tokens, the ranks' memory is stored, Ctrl-C cancels every rank.
 */
import { describe, expect, it } from "vitest";
import { alive, exited, waitForStderr } from "../process.js";
import { cli, cliAsync, json, makeEnv } from "./helpers.js";

interface RunJson {
  id: string;
  status: string;
  metrics: {
    lossFirst: number;
    lossLast: number;
    realTokens: number;
    ranks?: {
      worldSize: number;
      perRank: { rank: number; peakHostRssBytes: number; nvmlPeakDeviceBytes?: number | null }[];
    };
  } | null;
  environment: { pid: number } | null;
}

const base = [
  "run",
  "--model",
  "tiny-qwen2",
  "--weights",
  "random",
  "--dataset",
  "synthetic",
  "--device",
  "cpu",
];
const shape = ["--seq-len", "64", "--batch-size", "2", "--steps", "6", "--warmup-steps", "1", "--json"];

describe("data-parallel runs on the CPU (gloo)", () => {
  const { env } = makeEnv();

  it("2 ranks × 1 micro-batch store the losses and tokens of 1 process × 2 micro-batches", () => {
    // One thread in both (torchrun sets OMP_NUM_THREADS=1 in its ranks): the matmuls reduce in the same order.
    const oneThread = { ...env, OMP_NUM_THREADS: "1" };
    const one = json<RunJson>(cli([...base, ...shape, "--grad-accum", "2"], oneThread));
    const two = json<RunJson>(
      cli([...base, ...shape, "--grad-accum", "1", "--nproc-per-node", "2"], oneThread),
    );
    expect([one.status, two.status]).toEqual(["completed", "completed"]);
    // fp32, one thread each: only gloo's sum of the ranks' gradients rounds differently, and Adam turns a
    // last-bit difference in a near-zero gradient into a full-size update (~lr). Seen: 1.4e-5 relative.
    const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);
    expect(rel(two.metrics!.lossFirst, one.metrics!.lossFirst)).toBeLessThan(1e-4);
    expect(rel(two.metrics!.lossLast, one.metrics!.lossLast)).toBeLessThan(1e-4);
    expect(two.metrics!.realTokens).toBe(one.metrics!.realTokens);
    expect(two.metrics!.ranks?.worldSize).toBe(2);
    expect(two.metrics!.ranks?.perRank.map((r) => r.rank)).toEqual([0, 1]);
    expect(one.metrics!.ranks).toBeUndefined();
  });

  it("runs the chunked loss under gradient checkpointing on 2 ranks and stores every rank's figures", () => {
    const r = json<RunJson>(
      cli(
        [
          ...base,
          ...shape,
          "--loss",
          "chunked",
          "--grad-checkpointing",
          "--grad-accum",
          "2",
          "--nproc-per-node",
          "2",
        ],
        env,
      ),
    );
    expect(r.status).toBe("completed");
    expect(r.metrics!.lossLast).toBeLessThan(r.metrics!.lossFirst);
    expect(r.metrics!.ranks?.perRank.map((p) => [p.rank, p.nvmlPeakDeviceBytes])).toEqual([
      [0, null], // no NVML on the CPU
      [1, null],
    ]);
  });

  it("Ctrl-C cancels the run and every rank ends", async () => {
    const child = cliAsync(
      [...base, "--seq-len", "64", "--steps", "100000", "--log-every", "1", "--nproc-per-node", "2"],
      env,
    );
    const done = exited(child);
    await waitForStderr(child, /step \d+/);
    child.kill("SIGINT");
    expect(await done).toBe(130);
    const runs = json<{ id: string; status: string }[]>(cli(["runs", "list", "--json"], env));
    const last = json<RunJson>(cli(["runs", "show", runs[0]!.id, "--json"], env));
    expect(last.status).toBe("cancelled");
    const pid = last.environment?.pid;
    expect(pid).toBeTypeOf("number");
    const end = Date.now() + 20_000;
    while (alive(pid!) && Date.now() < end) await new Promise((r) => setTimeout(r, 200));
    expect(alive(pid!)).toBe(false);
  });

  it("rejects a rank count that is not a whole number ≥ 1, naming the flag", () => {
    const r = cli([...base, "--nproc-per-node", "two"], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--nproc-per-node: "two" is not a whole number/);
  });
});
