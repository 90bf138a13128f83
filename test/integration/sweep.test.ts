/**
 * A real sweep on the CPU (tiny-qwen2, random weights, a few steps): one configuration fails (its
 * dataset does not exist), the CLI is killed mid-way with SIGKILL, resumed, stopped with Ctrl-C,
 * resumed again. No completed run is repeated and no outcome is lost.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { alive, exited, waitForStderr as waitFor } from "../process.js";
import { cli, cliAsync, json, makeEnv, type SweepEntry as Entry } from "./helpers.js";

interface Listed {
  id: string;
  status: string;
  label: string | null;
  sweepId: string | null;
  error: { kind: string } | null;
}

describe("a sweep on the CPU", () => {
  const { env, home } = makeEnv();
  const spec = join(home, "tiny-sweep.yaml");
  writeFileSync(
    spec,
    [
      "name: tiny-sweep",
      "base:",
      "  model: tiny-qwen2",
      "  weights: random",
      "  dataset: synthetic",
      "  syntheticRecords: 48",
      "  device: cpu",
      "  steps: 6",
      "  warmupSteps: 1",
      "  logEverySteps: 1",
      "runs:",
      "  - { seqLen: 64 }",
      "  - { seqLen: 64, dataset: ./no-such-dataset.json }",
      "  - { seqLen: 128 }",
      "  - { seqLen: 96 }",
      "",
    ].join("\n"),
  );
  const entries = () =>
    json<{ entries: Entry[] }>(cli(["sweeps", "show", "tiny-sweep", "--json"], env)).entries;
  const runs = () => json<Listed[]>(cli(["runs", "list", "--json", "--limit", "100"], env));

  it("plans every configuration before running any, and rejects a spec with mistakes listing each", () => {
    const bad = join(home, "bad.yaml");
    writeFileSync(
      bad,
      "name: bad\nbase: { device: cpu, steps: 2, warmupSteps: 5 }\ngrid: { seqLen: [64, -1], optimizer.nme: [x] }\n",
    );
    const r = cli(["sweep", bad], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/grid\.optimizer\.nme: not a run setting/);
    expect(r.stderr).toMatch(/seqLen: .*seqLen=-1/);
    expect(r.stderr).toMatch(/warmupSteps/);
    expect(runs()).toHaveLength(0);

    const plan = cli(["sweep", spec, "--dry-run"], env);
    expect(plan.code).toBe(0);
    expect(plan.stdout).toMatch(/4 planned runs, 0 with an outcome .* 4 to run/);
  });

  it("survives a failing config and a killed CLI, then a Ctrl-C, and resumes without repeating a completed run", async () => {
    // 1. Run until the third configuration starts (one completed, one failed), then SIGKILL the CLI.
    const first = cliAsync(["sweep", spec], env);
    const firstDone = exited(first);
    const firstOut = await waitFor(first, /\[3\/4\] tiny-sweep seqLen=128 #1\n[\s\S]*\[3\/4\] step/);
    // Several runs in one call: they are forked from a pre-imported engine (the zygote).
    expect(firstOut).toMatch(/engine zygote ready \(imports [\d.]+ s, paid once\)/);
    first.kill("SIGKILL");
    await firstDone;

    let now = entries();
    const done64 = now.find((e) => e.label === "tiny-sweep seqLen=64 #1")!;
    const failing = now.find((e) => e.label.includes("no-such-dataset"))!;
    expect(done64.status).toBe("completed");
    expect(failing.status).toBe("failed");
    expect(failing.error?.kind).toBe("data");
    // The killed run was reaped as interrupted by this start; the last one never started.
    const killed = runs().find((r) => r.label === "tiny-sweep seqLen=128 #1");
    expect(killed?.status).toBe("failed");
    expect(killed?.error?.kind).toBe("interrupted");
    const killedShown = json<{ environment: { pid: number } | null }>(
      cli(["runs", "show", killed!.id, "--json"], env),
    );
    if (killedShown.environment) {
      const pid = killedShown.environment.pid;
      const end = Date.now() + 20_000;
      while (alive(pid) && Date.now() < end) await new Promise((r) => setTimeout(r, 200));
      expect(alive(pid)).toBe(false);
    }

    // 2. Resume; stop it with Ctrl-C while the interrupted config runs again.
    const second = cliAsync(["sweep", spec], env);
    const secondDone = exited(second);
    const secondOut = await waitFor(second, /\[1\/2\] step/);
    expect(secondOut).toMatch(/2 to run/);
    second.kill("SIGINT");
    expect(await secondDone).toBe(130);
    now = entries();
    expect(now.find((e) => e.label === "tiny-sweep seqLen=128 #1")?.status).toBe("cancelled");
    expect(now.find((e) => e.label === "tiny-sweep seqLen=96 #1")?.status).toBe("pending");

    // 3. Resume to the end: only the two unfinished configs run; the failure is not retried.
    const third = cli(["sweep", spec, "--json"], env);
    // Finished, but the failing config's failure stands: exit 1 under the exit-code policy.
    expect(third.code).toBe(1);
    const outcome = json<{ status: string; ran: { key: string }[]; counts: Record<string, number> }>(third);
    expect(outcome.status).toBe("finished");
    expect(outcome.ran).toHaveLength(2);
    expect(outcome.counts).toMatchObject({ completed: 3, failed: 1 });

    now = entries();
    expect(now.find((e) => e.key === done64.key)).toMatchObject({ runId: done64.runId, attempts: 1 });
    expect(now.find((e) => e.key === failing.key)?.attempts).toBe(1);
    const all = runs().filter((r) => r.sweepId !== null);
    // One completed run per completed config: nothing repeated, nothing lost.
    const completed = all.filter((r) => r.status === "completed");
    expect(completed.map((r) => r.label).sort()).toEqual(
      ["tiny-sweep seqLen=128 #1", "tiny-sweep seqLen=64 #1", "tiny-sweep seqLen=96 #1"].sort(),
    );
    // Each sweep run went through the telemetry stage, as `loraprof run` does (on the CPU: no sampler, and why).
    const shown = json<{ metrics: { telemetry?: { averagePowerWatts: { reason: string | null } } } }>(
      cli(["runs", "show", completed[0]!.id, "--json"], env),
    );
    expect(shown.metrics.telemetry?.averagePowerWatts.reason).toMatch(/CPU/);
    // Every attempt stays in the store: killed (interrupted), cancelled and the final run of seqLen=128.
    expect(
      all
        .filter((r) => r.label === "tiny-sweep seqLen=128 #1")
        .map((r) => r.status)
        .sort(),
    ).toEqual(["cancelled", "completed", "failed"]);

    // 4. --rerun-failed retries only the failing config (which fails again, quickly).
    const rerun = json<{ ran: { key: string }[] }>(cli(["sweep", spec, "--rerun-failed", "--json"], env));
    expect(rerun.ran.map((r) => r.key)).toEqual([failing.key]);
    expect(entries().find((e) => e.key === failing.key)?.attempts).toBe(2);
  });
});
