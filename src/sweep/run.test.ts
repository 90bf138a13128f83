import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { findModel } from "../catalog/models.js";
import { syntheticCheckpointDir } from "../run/resolve.js";
import type { RunConfig } from "../config/schema.js";
import { openStore, type Db } from "../store/db.js";
import { createRun, finishRun, listRuns, markRunning, reapStaleRuns, type RunStatus } from "../store/runs.js";
import type { RunContext, RunResult } from "../run/run.js";
import { LoraprofError } from "../util/errors.js";
import { parseSweepSpec } from "./spec.js";
import {
  errorFromException,
  needsRun,
  planSweep,
  prepareSweep,
  reopenSweep,
  runSweep,
  type SweepEvent,
  type SweepExecutor,
} from "./run.js";
import { adoptOrphans, listEntries, releaseSweep } from "./store.js";

const base = { model: "tiny-qwen2", weights: "random", device: "cpu", steps: 6, warmupSteps: 1 };
const spec = (extra: Record<string, unknown> = {}) =>
  parseSweepSpec({ name: "t", base, grid: { batchSize: [1, 2, 3] }, repeats: 2, ...extra });

/**
 * A fake executor with the real store: it writes the run rows `executeRun` would write and decides
 * the outcome from the config, so the runner's bookkeeping is tested without an engine.
 */
function fakeExecutor(
  decide: (c: RunConfig) => RunStatus | "throw" = () => "completed",
  calls: RunConfig[] = [],
): SweepExecutor {
  return async (config: RunConfig, ctx: RunContext): Promise<RunResult> => {
    calls.push(config);
    const outcome = decide(config);
    if (outcome === "throw") {
      throw new LoraprofError("DATASET_NOT_FOUND", "no such dataset", {
        problems: [{ field: "dataset", message: "missing", hint: "check the path" }],
      });
    }
    const id = createRun(ctx.db, { config, label: config.label ?? null, sweepId: ctx.sweepId ?? null });
    markRunning(ctx.db, id, {});
    ctx.onProgress?.({ stage: "engine", message: "starting" });
    await new Promise((r) => setTimeout(r, 5));
    ctx.onProgress?.({ stage: "loaded", loaded: {} as never, hello: null });
    if (ctx.signal?.aborted || outcome === "cancelled") {
      finishRun(ctx.db, id, {
        status: "cancelled",
        error: { kind: "cancelled", message: "cancelled", hint: null },
      });
      return {
        id,
        status: "cancelled",
        config: config as never,
        metrics: null,
        environment: null,
        loaded: null,
        data: {} as never,
      };
    }
    const status = outcome as Exclude<RunStatus, "pending" | "running">;
    const metrics = status === "completed" ? { realTokensPerSecond: 100 * config.batchSize } : null;
    const error =
      status === "oom"
        ? { kind: "oom" as const, message: "CUDA out of memory", hint: null, memory: { allocatedBytes: 7e9 } }
        : null;
    finishRun(ctx.db, id, { status, metrics, error });
    return {
      id,
      status,
      config: config as never,
      metrics: metrics as never,
      ...(error ? { error } : {}),
      environment: null,
      loaded: null,
      data: {} as never,
    };
  };
}

const opts = (db: Db, executor: SweepExecutor, extra: Partial<Parameters<typeof runSweep>[1]> = {}) => ({
  db,
  home: "/tmp/none",
  cacheDir: "/tmp/none",
  executor,
  ...extra,
});

describe("sweep runner", () => {
  it("runs every planned config once and links each run", async () => {
    const db = openStore(":memory:");
    const { sweep } = prepareSweep(db, spec());
    const calls: RunConfig[] = [];
    const outcome = await runSweep(sweep.id, opts(db, fakeExecutor(undefined, calls)));
    expect(outcome.status).toBe("finished");
    expect(calls).toHaveLength(6);
    expect(outcome.counts.completed).toBe(6);
    const entries = listEntries(db, sweep.id);
    expect(entries.every((e) => e.runId && e.status === "completed" && e.attempts === 1)).toBe(true);
    expect(listRuns(db, { sweepId: sweep.id })).toHaveLength(6);
  });

  it("keeps going after a failing and an OOM config, storing both with their reason", async () => {
    const db = openStore(":memory:");
    const { sweep } = prepareSweep(db, spec());
    const outcome = await runSweep(
      sweep.id,
      opts(
        db,
        fakeExecutor((c) => (c.batchSize === 2 ? "throw" : c.batchSize === 3 ? "oom" : "completed")),
      ),
    );
    expect(outcome.counts).toMatchObject({ completed: 2, failed: 2, oom: 2 });
    const failed = listEntries(db, sweep.id).filter((e) => e.status === "failed");
    expect(failed[0]?.error?.kind).toBe("data");
    expect(failed[0]?.error?.message).toMatch(/dataset: missing/);
    const oom = listEntries(db, sweep.id).find((e) => e.status === "oom");
    expect(oom?.error?.memory).toEqual({ allocatedBytes: 7e9 });
  });

  it("does not rerun completed, OOM or failed runs when resumed, and reruns failures on request", async () => {
    const db = openStore(":memory:");
    const { sweep } = prepareSweep(db, spec());
    const decide = (c: RunConfig): RunStatus | "throw" =>
      c.batchSize === 2 ? "failed" : c.batchSize === 3 ? "oom" : "completed";
    await runSweep(sweep.id, opts(db, fakeExecutor(decide)));
    const again: RunConfig[] = [];
    const second = await runSweep(sweep.id, opts(db, fakeExecutor(decide, again)));
    expect(again).toHaveLength(0);
    expect(second.ran).toHaveLength(0);
    const rerun: RunConfig[] = [];
    await runSweep(
      sweep.id,
      opts(
        db,
        fakeExecutor(() => "completed", rerun),
        { rerunFailed: true },
      ),
    );
    expect(rerun.map((c) => c.batchSize)).toEqual([2, 2]);
    const entries = listEntries(db, sweep.id);
    expect(entries.find((e) => e.config.batchSize === 2)?.attempts).toBe(2);
  });

  it("stops on abort, leaves the sweep resumable, and the resume runs only what is left", async () => {
    const db = openStore(":memory:");
    const { sweep } = prepareSweep(db, spec());
    const controller = new AbortController();
    let n = 0;
    const first = await runSweep(
      sweep.id,
      opts(
        db,
        fakeExecutor(() => "completed"),
        {
          signal: controller.signal,
          onEvent: (e: SweepEvent) => {
            if (e.type === "run-end" && ++n === 2) controller.abort();
          },
        },
      ),
    );
    expect(first.status).toBe("interrupted");
    expect(first.ran).toHaveLength(2);
    const rest: RunConfig[] = [];
    const second = await runSweep(sweep.id, opts(db, fakeExecutor(undefined, rest)));
    expect(rest).toHaveLength(4);
    expect(second.status).toBe("finished");
    expect(listRuns(db, { sweepId: sweep.id, status: "completed" })).toHaveLength(6);
  });

  it("reruns a run interrupted by a killed CLI and adopts a finished run that was never linked", async () => {
    const db = openStore(":memory:");
    const { sweep } = prepareSweep(db, spec());
    const entries = listEntries(db, sweep.id);
    // A killed CLI: one run completed but not linked, one left running by a dead process.
    const done = createRun(db, { config: entries[0]!.config, label: entries[0]!.label, sweepId: sweep.id });
    finishRun(db, done, { status: "completed", metrics: { realTokensPerSecond: 1 } });
    const left = createRun(db, { config: entries[1]!.config, label: entries[1]!.label, sweepId: sweep.id });
    db.prepare("UPDATE runs SET status='running', owner_pid=999999999 WHERE id=?").run(left);
    expect(reapStaleRuns(db, () => false)).toEqual([left]);
    releaseSweep(db, sweep.id, "interrupted");
    const plan = planSweep(db, sweep.id);
    expect(plan.counts.completed).toBe(1);
    expect(plan.todo.map((e) => e.key)).not.toContain(entries[0]!.key);
    expect(plan.todo.map((e) => e.key)).toContain(entries[1]!.key);
    const calls: RunConfig[] = [];
    await runSweep(sweep.id, opts(db, fakeExecutor(undefined, calls)));
    expect(calls).toHaveLength(5);
  });

  it("never replaces the link to a later attempt with an older, unlinked one", async () => {
    const db = openStore(":memory:");
    const { sweep } = prepareSweep(db, spec());
    const entry = listEntries(db, sweep.id)[0]!;
    const older = createRun(db, { config: entry.config, label: entry.label, sweepId: sweep.id });
    finishRun(db, older, { status: "failed", error: { kind: "interrupted", message: "killed", hint: null } });
    db.prepare("UPDATE runs SET created_at='2026-01-01T00:00:00.000Z' WHERE id=?").run(older);
    const later = createRun(db, { config: entry.config, label: entry.label, sweepId: sweep.id });
    finishRun(db, later, {
      status: "cancelled",
      error: { kind: "cancelled", message: "Ctrl-C", hint: null },
    });
    db.prepare("UPDATE sweep_runs SET run_id=? WHERE sweep_id=? AND key=?").run(later, sweep.id, entry.key);
    expect(adoptOrphans(db, sweep.id)).toBe(0);
    expect(listEntries(db, sweep.id)[0]!.runId).toBe(later);
  });

  it("places runs one per GPU and runs them in parallel", async () => {
    const db = openStore(":memory:");
    const { sweep } = prepareSweep(db, spec());
    let running = 0;
    let maxRunning = 0;
    const devices: string[] = [];
    const inner = fakeExecutor();
    const executor: SweepExecutor = async (config, ctx) => {
      devices.push(config.device);
      running++;
      maxRunning = Math.max(maxRunning, running);
      await new Promise((r) => setTimeout(r, 20));
      const r = await inner(config, ctx);
      running--;
      return r;
    };
    await runSweep(sweep.id, opts(db, executor, { gpus: [0, 1] }));
    expect(new Set(devices)).toEqual(new Set(["cuda:0", "cuda:1"]));
    expect(maxRunning).toBe(2);
    // The planned config keeps its device: placement is not part of the key.
    expect(listEntries(db, sweep.id).every((e) => e.config.device === "cpu")).toBe(true);
  });

  it("starts the second GPU's first run at once when the checkpoint is already on disk, else after the first load", async () => {
    // Each run holds its "loaded" stage until released; the order of events shows whether run 2
    // started while run 1 was still loading.
    const startedBeforeFirstLoad = async (cacheDir: string): Promise<boolean> => {
      const db = openStore(":memory:");
      const { sweep } = prepareSweep(db, parseSweepSpec({ name: "g", base, grid: { batchSize: [1, 2] } }));
      const log: string[] = [];
      const executor: SweepExecutor = async (config, ctx) => {
        log.push(`start ${config.batchSize}`);
        ctx.onProgress?.({ stage: "engine", message: "starting" });
        await new Promise((r) => setTimeout(r, 30));
        log.push(`loaded ${config.batchSize}`);
        return fakeExecutor()(config, ctx);
      };
      await runSweep(sweep.id, opts(db, executor, { gpus: [0, 1], cacheDir }));
      return log.indexOf("start 2") < log.indexOf("loaded 1");
    };
    const cacheDir = mkdtempSync(join(tmpdir(), "lp-ckpt-"));
    expect(await startedBeforeFirstLoad(cacheDir)).toBe(false);
    const entry = findModel("tiny-qwen2")!;
    const dir = syntheticCheckpointDir(cacheDir, entry, 0);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "config.json"), "{}");
    expect(await startedBeforeFirstLoad(cacheDir)).toBe(true);
  });

  it("refuses to run a sweep another live process owns", async () => {
    const db = openStore(":memory:");
    const { sweep } = prepareSweep(db, spec());
    db.prepare("UPDATE sweeps SET owner_pid=1, owner_host='another-host' WHERE id=?").run(sweep.id);
    await expect(runSweep(sweep.id, opts(db, fakeExecutor()))).rejects.toThrow(/being run by process 1/);
  });

  it("resumes by name with a changed spec: kept runs stay done, new points are added, dropped ones leave the plan", async () => {
    const db = openStore(":memory:");
    const first = prepareSweep(db, spec());
    await runSweep(first.sweep.id, opts(db, fakeExecutor()));
    const second = prepareSweep(db, spec({ grid: { batchSize: [2, 3, 4] } }));
    expect(second.sweep.id).toBe(first.sweep.id);
    expect(second.created).toBe(false);
    expect({ added: second.added, dropped: second.dropped }).toEqual({ added: 2, dropped: 2 });
    const plan = planSweep(db, first.sweep.id);
    expect(plan.todo.map((e) => e.config.batchSize)).toEqual([4, 4]);
    const reopened = reopenSweep(db, "t");
    expect(reopened.planned).toHaveLength(6);
  });

  it("estimates the plan's time from stored runs of the same shape", async () => {
    const db = openStore(":memory:");
    const { sweep } = prepareSweep(db, spec());
    const entries = listEntries(db, sweep.id);
    const id = createRun(db, { config: { ...entries[0]!.config, device: "cpu", label: "earlier" } });
    db.prepare(
      "UPDATE runs SET status='completed', started_at='2026-01-01T00:00:00Z', finished_at='2026-01-01T00:00:30Z' WHERE id=?",
    ).run(id);
    const plan = planSweep(db, sweep.id);
    expect(plan.estimate.known).toBe(2);
    expect(plan.estimate.seconds).toBe(60);
  });
});

describe("what a resume reruns", () => {
  it("reruns never-finished runs, keeps results, reruns failures only on request", () => {
    const e = (status: RunStatus, kind?: string) => ({ status, error: kind ? ({ kind } as never) : null });
    expect(needsRun(e("pending"))).toBe(true);
    expect(needsRun(e("cancelled", "cancelled"))).toBe(true);
    expect(needsRun(e("failed", "interrupted"))).toBe(true);
    expect(needsRun(e("failed", "disk"))).toBe(true); // the disk filled: resumed once space is freed
    expect(needsRun(e("completed"))).toBe(false);
    expect(needsRun(e("oom", "oom"))).toBe(false);
    expect(needsRun(e("oom", "oom"), { rerunOom: true })).toBe(true);
    expect(needsRun(e("failed", "crash"))).toBe(false);
    expect(needsRun(e("failed", "crash"), { rerunFailed: true })).toBe(true);
  });
});

describe("a run that cannot start", () => {
  it("is a disk error, with the cache command in its fix, when writing its shards or checkpoint filled the disk", () => {
    const full = Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
    const e = errorFromException(full);
    expect(e.kind).toBe("disk");
    expect(e.message).toMatch(/disk is full: ENOSPC/);
    expect(e.hint).toMatch(/loraprof cache clear/);
    expect(errorFromException(new Error("boom")).kind).toBe("internal");
  });
});

describe("a sweep whose base changed", () => {
  it("runs the new plan: old failures under the same labels are not inherited", async () => {
    const db = openStore(":memory:");
    const one = (dataset: string) =>
      parseSweepSpec({ name: "base-change", base: { ...base, dataset }, grid: { batchSize: [1, 2] } });
    const first = prepareSweep(db, one("./gone.json"));
    await runSweep(
      first.sweep.id,
      opts(
        db,
        fakeExecutor(() => "throw"),
      ),
    );
    expect(planSweep(db, first.sweep.id).counts.failed).toBe(2);

    // The same sweep with a new base (as `--set dataset=synthetic` makes it): same labels, new keys.
    const second = prepareSweep(db, one("synthetic"));
    const plan = planSweep(db, second.sweep.id);
    expect(plan.counts.failed).toBe(0);
    expect(plan.todo).toHaveLength(2);
  });

  it("still adopts a finished run of the planned settings that was never linked", () => {
    const db = openStore(":memory:");
    const { sweep } = prepareSweep(db, spec());
    const entry = listEntries(db, sweep.id)[0]!;
    // As executeRun stores it: the resolved config (auto precision decided), never linked (CLI killed).
    const id = createRun(db, {
      config: { ...entry.config, precision: "fp32" },
      label: entry.label,
      sweepId: sweep.id,
    });
    finishRun(db, id, { status: "completed", metrics: { realTokensPerSecond: 1 } });
    expect(adoptOrphans(db, sweep.id)).toBe(1);
    expect(listEntries(db, sweep.id)[0]!.runId).toBe(id);
  });
});
