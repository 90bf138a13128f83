import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { RunConfig } from "../../config/schema.js";
import type { RunContext, RunResult } from "../../run/run.js";
import { openStore, type Db } from "../../store/db.js";
import { createRun, finishRun, getSteps, insertSteps, listRuns, markRunning } from "../../store/runs.js";
import { LoraprofError } from "../../util/errors.js";
import { prepareSweep, type SweepEvent } from "../run.js";
import { parseSweepSpec } from "../spec.js";
import { listEntries } from "../store.js";
import { runSlurmSweep, outcomeOfSlurmState, slurmSweepDir, type SlurmSweepEvent } from "./backend.js";
import {
  parseSacct,
  parseScontrol,
  parseSqueue,
  requireSlurmClient,
  sbatchArgs,
  type ExecResult,
} from "./commands.js";
import { readManifest, writeManifest } from "./files.js";
import { runSlurmTask } from "./task.js";

type Fate = "ok" | "oom" | "node_fail" | "slurm_oom" | "hang";

/**
 * A Slurm in memory: sbatch records the array, each squeue call moves its tasks one state on
 * (PENDING → RUNNING → done), and a task that finishes "ok" or "oom" really runs `loraprof
 * slurm-task`'s code (runSlurmTask, with a fake engine) and writes its result file.
 */
class FakeSlurm {
  calls: string[][] = [];
  jobs = new Map<string, { name: string; subDir: string; states: string[] }>();
  next = 100;
  constructor(
    private fate: (config: RunConfig) => Fate,
    private home: string,
  ) {}

  exec = async (cmd: string, args: string[]): Promise<ExecResult> => {
    this.calls.push([cmd, ...args]);
    const arg = (k: string) => args.find((a) => a.startsWith(`--${k}=`))?.slice(k.length + 3);
    switch (cmd) {
      case "sbatch": {
        const id = String(this.next++);
        const count = Number(/^0-(\d+)/.exec(arg("array")!)![1]) + 1;
        const script = args[args.length - 1]!;
        this.jobs.set(id, {
          name: arg("job-name")!,
          subDir: join(script, ".."),
          states: Array.from({ length: count }, () => "PENDING"),
        });
        return { code: 0, stdout: `${id}\n`, stderr: "" };
      }
      case "squeue": {
        if (arg("name")) {
          const hit = [...this.jobs.entries()].find(([, j]) => j.name === arg("name"));
          return { code: 0, stdout: hit ? `${hit[0]}\n` : "", stderr: "" };
        }
        const lines: string[] = [];
        for (const id of arg("jobs")!.split(",")) {
          const job = this.jobs.get(id);
          if (!job) continue;
          for (let i = 0; i < job.states.length; i++) {
            await this.step(id, i);
            if (["PENDING", "RUNNING"].includes(job.states[i]!))
              lines.push(`${id}_${i}|${job.states[i]}|None|node1`);
          }
        }
        return { code: 0, stdout: lines.join("\n"), stderr: "" };
      }
      case "sacct":
        return { code: 1, stdout: "", stderr: "Slurm accounting storage is disabled" };
      case "scontrol": {
        const id = args[args.length - 1]!;
        const job = this.jobs.get(id);
        const lines = (job?.states ?? []).map(
          (s, i) =>
            `JobId=${Number(id) + i + 1} ArrayJobId=${id} ArrayTaskId=${i} JobState=${s} Reason=None ExitCode=0:9 BatchHost=node1`,
        );
        return { code: 0, stdout: lines.join("\n"), stderr: "" };
      }
      case "scancel":
        for (const id of args) {
          const job = this.jobs.get(id);
          if (job) job.states = job.states.map((s) => (["PENDING", "RUNNING"].includes(s) ? "CANCELLED" : s));
        }
        return { code: 0, stdout: "", stderr: "" };
      default:
        throw new Error(`unexpected ${cmd}`);
    }
  };

  private async step(id: string, i: number): Promise<void> {
    const job = this.jobs.get(id)!;
    const state = job.states[i]!;
    if (state === "PENDING") job.states[i] = "RUNNING";
    else if (state === "RUNNING") {
      const tasks = JSON.parse(readFileSync(join(job.subDir, "tasks.json"), "utf8")) as {
        tasks: { config: RunConfig }[];
      };
      const fate = this.fate(tasks.tasks[i]!.config);
      if (fate === "hang") return;
      if (fate === "node_fail") job.states[i] = "NODE_FAIL";
      else if (fate === "slurm_oom") job.states[i] = "OUT_OF_MEMORY";
      else {
        await runSlurmTask({
          subDir: job.subDir,
          index: i,
          home: this.home,
          cacheDir: this.home,
          executor: fakeEngine(fate),
        });
        job.states[i] = "COMPLETED";
      }
    }
  }
}

/** Stores what executeRun would: a run row with two steps, completed or OOM. */
function fakeEngine(fate: "ok" | "oom") {
  return async (config: RunConfig, ctx: RunContext): Promise<RunResult> => {
    const id = createRun(ctx.db, { config, label: config.label ?? null, sweepId: ctx.sweepId ?? null });
    markRunning(ctx.db, id, {});
    insertSteps(
      ctx.db,
      id,
      [1, 2].map((step) => ({
        type: "step" as const,
        step,
        phase: "measure" as const,
        realTokens: 100,
        processedTokens: 128,
        labelTokens: 90,
        loss: 2.5,
        stepSeconds: 0.5,
        lr: 1e-4,
        gradNorm: 1,
        allocatedBytes: null,
        unixMs: Date.now(),
      })) as never,
    );
    const status = fate === "oom" ? "oom" : "completed";
    const error = fate === "oom" ? { kind: "oom" as const, message: "CUDA out of memory", hint: null } : null;
    finishRun(ctx.db, id, { status, metrics: fate === "ok" ? { realTokensPerSecond: 200 } : null, error });
    return {
      id,
      status,
      config: config as never,
      metrics: null,
      environment: null,
      loaded: null,
      data: {} as never,
    };
  };
}

const base = { model: "tiny-qwen2", weights: "random", device: "cpu", steps: 4, warmupSteps: 1 };

function setup(seeds: number[]) {
  const home = mkdtempSync(join(tmpdir(), "loraprof-slurm-unit-"));
  const db: Db = openStore(join(home, "store.db"));
  const prepared = prepareSweep(db, parseSweepSpec({ name: "s", base, grid: { seed: seeds } }));
  return { home, db, sweepId: prepared.sweep.id };
}

const fateBySeed =
  (m: Record<number, Fate>) =>
  (c: RunConfig): Fate =>
    m[c.seed] ?? "ok";

describe("the Slurm backend (a Slurm in memory)", () => {
  it("submits one array, gathers results into the store, and stores Slurm's kills as rows with their reason", async () => {
    const { home, db, sweepId } = setup([1, 2, 3, 4]);
    const slurm = new FakeSlurm(fateBySeed({ 2: "oom", 3: "node_fail", 4: "slurm_oom" }), home);
    const events: SlurmSweepEvent[] = [];
    const outcome = await runSlurmSweep(sweepId, {
      db,
      home,
      slurm: { partition: "debug", time: "10:00" },
      exec: slurm.exec,
      pollMs: 1,
      skipClientCheck: true,
      onEvent: (e) => events.push(e),
    });
    expect(readFileSync(join(slurmSweepDir(home, sweepId), "s1", "job.sh"), "utf8")).not.toMatch(
      /--no-telemetry/,
    );
    expect(slurm.calls.filter((c) => c[0] === "sbatch")).toHaveLength(1);
    expect(slurm.calls.find((c) => c[0] === "sbatch")).toEqual(
      expect.arrayContaining(["--array=0-3", "--partition=debug", "--time=10:00", "--export=ALL"]),
    );
    const e = listEntries(db, sweepId);
    const bySeed = (s: number) => e.find((x) => x.config.seed === s)!;
    expect(bySeed(1).status).toBe("completed");
    expect(bySeed(2)).toMatchObject({ status: "oom", error: { kind: "oom", message: "CUDA out of memory" } });
    // Node failure: not the config's fault, so `interrupted` (the next call runs it again).
    expect(bySeed(3)).toMatchObject({ status: "failed", error: { kind: "interrupted" } });
    expect(bySeed(3).error!.message).toMatch(/node failure \(state NODE_FAIL\)/);
    expect(bySeed(4)).toMatchObject({ status: "oom", error: { kind: "oom" } });
    expect(bySeed(4).error!.message).toMatch(/OUT_OF_MEMORY/);
    // The completed run came in whole: its steps too.
    expect(getSteps(db, bySeed(1).runId!)).toHaveLength(2);
    expect(outcome.counts).toMatchObject({ completed: 1, oom: 2, failed: 1 });
    expect(outcome.status).toBe("interrupted"); // the node failure is still to run
    expect(events.filter((x) => x.type === "run-end")).toHaveLength(4);
    expect(
      readManifest(slurmSweepDir(home, sweepId), sweepId).submissions[0]!.tasks.every((t) => t.settled),
    ).toBe(true);

    // The next call resubmits only the node failure's configuration.
    const again = new FakeSlurm(() => "ok", home);
    const second = await runSlurmSweep(sweepId, {
      db,
      home,
      slurm: {},
      exec: again.exec,
      pollMs: 1,
      skipClientCheck: true,
    });
    expect(again.calls.find((c) => c[0] === "sbatch")).toEqual(expect.arrayContaining(["--array=0-0"]));
    expect(second.status).toBe("finished");
    expect(listEntries(db, sweepId).find((x) => x.config.seed === 3)!.status).toBe("completed");
    expect(listRuns(db, { sweepId })).toHaveLength(5);
  });

  it("re-attaches after the CLI died: nothing is submitted twice and nothing gathered is run again", async () => {
    const { home, db, sweepId } = setup([1, 2, 3]);
    let hang = true;
    const slurm = new FakeSlurm(() => (hang ? "hang" : "ok"), home);
    // The CLI "dies" right after submitting (an exception out of its progress printer).
    await expect(
      runSlurmSweep(sweepId, {
        db,
        home,
        slurm: {},
        exec: slurm.exec,
        pollMs: 1,
        skipClientCheck: true,
        onEvent: (e) => {
          if (e.type === "run-start") throw new Error("killed");
        },
      }),
    ).rejects.toThrow("killed");
    expect(listEntries(db, sweepId).every((x) => x.status === "pending")).toBe(true);
    hang = false;
    const events: SlurmSweepEvent[] = [];
    const outcome = await runSlurmSweep(sweepId, {
      db,
      home,
      slurm: {},
      exec: slurm.exec,
      pollMs: 1,
      skipClientCheck: true,
      onEvent: (e) => events.push(e),
    });
    expect(slurm.calls.filter((c) => c[0] === "sbatch")).toHaveLength(1);
    expect(events.find((x) => x.type === "slurm")).toMatchObject({
      message: expect.stringMatching(/re-attached to job array 100: 3 task/),
    });
    expect(outcome.status).toBe("finished");
    expect(listEntries(db, sweepId).map((x) => [x.status, x.attempts])).toEqual([
      ["completed", 1],
      ["completed", 1],
      ["completed", 1],
    ]);
    // A third call finds everything gathered: no Slurm job, no new row.
    const third = await runSlurmSweep(sweepId, {
      db,
      home,
      slurm: {},
      exec: slurm.exec,
      pollMs: 1,
      skipClientCheck: true,
    });
    expect(third.ran).toEqual([]);
    expect(slurm.calls.filter((c) => c[0] === "sbatch")).toHaveLength(1);
    expect(listRuns(db, { sweepId })).toHaveLength(3);
  });

  it("adopts an array the CLI submitted but died before recording, found by its job name", async () => {
    const { home, db, sweepId } = setup([1]);
    const slurm = new FakeSlurm(() => "ok", home);
    // Submit, then wipe the recorded job id as if the CLI died between sbatch and the manifest write.
    await expect(
      runSlurmSweep(sweepId, {
        db,
        home,
        slurm: {},
        exec: slurm.exec,
        pollMs: 1,
        skipClientCheck: true,
        onEvent: (e) => {
          if (e.type === "slurm") throw new Error("killed");
        },
      }),
    ).rejects.toThrow("killed");
    const dir = slurmSweepDir(home, sweepId);
    const m = readManifest(dir, sweepId);
    m.submissions[0]!.jobId = null;
    writeManifest(dir, m);
    await runSlurmSweep(sweepId, { db, home, slurm: {}, exec: slurm.exec, pollMs: 1, skipClientCheck: true });
    expect(slurm.calls.filter((c) => c[0] === "sbatch")).toHaveLength(1);
    expect(readManifest(dir, sweepId).submissions[0]!.jobId).toBe("100");
    expect(listEntries(db, sweepId)[0]!.status).toBe("completed");
  });

  it("cancels outstanding tasks with scancel when stopped, storing them as cancelled", async () => {
    const { home, db, sweepId } = setup([1, 2]);
    const slurm = new FakeSlurm(() => "hang", home);
    const stop = new AbortController();
    const events: (SweepEvent | { type: "slurm" })[] = [];
    const outcome = await runSlurmSweep(sweepId, {
      db,
      home,
      slurm: { telemetry: false },
      exec: slurm.exec,
      pollMs: 1,
      skipClientCheck: true,
      signal: stop.signal,
      onEvent: (e) => {
        events.push(e);
        if (e.type === "run-start") stop.abort();
      },
    });
    expect(slurm.calls).toContainEqual(["scancel", "100"]);
    // The batch script runs this CLI's hidden task command, with --no-telemetry passed on.
    const script = readFileSync(join(slurmSweepDir(home, sweepId), "s1", "job.sh"), "utf8");
    expect(script).toMatch(/bin\/loraprof\.js' slurm-task '.*\/s1' "\$SLURM_ARRAY_TASK_ID" --no-telemetry\n/);
    expect(outcome.status).toBe("interrupted");
    expect(listEntries(db, sweepId).map((x) => x.status)).toEqual(["cancelled", "cancelled"]);
    expect(listEntries(db, sweepId)[0]!.error!.message).toMatch(/cancelled \(scancel\)/);
  });

  it("names the fix when sbatch is not on PATH", () => {
    const empty = mkdtempSync(join(tmpdir(), "no-slurm-"));
    let err: unknown;
    try {
      requireSlurmClient(empty);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(LoraprofError);
    const le = err as LoraprofError;
    expect(le.code).toBe("FLAG_INVALID");
    expect(le.message).toMatch(/sbatch, squeue, scancel not on PATH/);
    expect(le.problems[0]!.field).toBe("--backend");
    expect(le.problems[0]!.hint).toMatch(/module load slurm|apt-get install slurm-client/);
    // With the commands present there is nothing to say.
    for (const c of ["sbatch", "squeue", "scancel"])
      writeFileSync(join(empty, c), "#!/bin/sh\n", { mode: 0o755 });
    expect(() => requireSlurmClient(empty)).not.toThrow();
  });
});

describe("Slurm's outputs", () => {
  it("expands squeue's pending ranges and reads single tasks", () => {
    const m = parseSqueue(
      "12_0|RUNNING|None|n1\n12_[3-5%2]|PENDING|JobArrayTaskLimit|\n13_1|RUNNING|None|n2\n",
      "12",
    );
    expect([...m.keys()].sort()).toEqual([0, 3, 4, 5]);
    expect(m.get(0)).toMatchObject({ state: "RUNNING", node: "n1" });
    expect(m.get(4)).toMatchObject({ state: "PENDING", reason: "JobArrayTaskLimit" });
  });
  it("reads sacct's and scontrol's final states", () => {
    const a = parseSacct(
      "7_0|COMPLETED|0:0|None\n7_1|CANCELLED by 0|0:15|None\n7_2|NODE_FAIL|1:0|None\n",
      "7",
    );
    expect([...a.values()].map((t) => t.state)).toEqual(["COMPLETED", "CANCELLED", "NODE_FAIL"]);
    const c = parseScontrol(
      "JobId=9 ArrayJobId=8 ArrayTaskId=1 JobName=x JobState=OUT_OF_MEMORY Reason=OutOfMemory ExitCode=0:125 BatchHost=gpu3\n",
      "8",
    );
    expect(c.get(1)).toMatchObject({ state: "OUT_OF_MEMORY", reason: "OutOfMemory", node: "gpu3" });
  });
  it("builds sbatch's arguments from the options", () => {
    expect(
      sbatchArgs({
        script: "/s/job.sh",
        jobName: "j",
        count: 5,
        maxParallel: 2,
        output: "/s/logs/%a.out",
        chdir: "/w",
        gres: "gpu:1",
        account: "proj",
        extra: ["--mem=32G"],
      }),
    ).toEqual([
      "--parsable",
      "--job-name=j",
      "--array=0-4%2",
      "--output=/s/logs/%a.out",
      "--chdir=/w",
      "--export=ALL",
      "--gres=gpu:1",
      "--account=proj",
      "--mem=32G",
      "/s/job.sh",
    ]);
  });
  it("tells a time limit and an unknown end apart, with the task's log tail", () => {
    const dir = mkdtempSync(join(tmpdir(), "slurm-log-"));
    const log = join(dir, "0.out");
    writeFileSync(log, "loading\nTraceback: boom\n");
    const t = outcomeOfSlurmState(
      { index: 0, state: "TIMEOUT", reason: null, exitCode: null, node: "n1" },
      { job: "5_0", log },
    );
    expect(t).toMatchObject({
      status: "failed",
      error: { kind: "crash", hint: expect.stringMatching(/--time/) },
    });
    expect(t.error.stderrTail).toMatch(/Traceback: boom/);
    const u = outcomeOfSlurmState(undefined, { job: "5_0", log: join(dir, "none.out") });
    expect(u.error.message).toMatch(/Slurm no longer knows its state/);
    expect(existsSync(join(dir, "none.out"))).toBe(false);
  });
});
