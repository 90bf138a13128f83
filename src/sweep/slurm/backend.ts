/**
 * The Slurm backend of `sweep` and `study` (`--backend slurm`): the configurations still to run are
 * submitted as one job array; each task runs `loraprof slurm-task` (the ordinary run path, engine in
 * its own process) and writes its result file on the shared path; the CLI follows the array with
 * squeue (sacct or scontrol once a task has left the queue) and gathers each result into the store.
 *
 * The job ids live in a manifest beside the results, so a CLI that dies re-attaches on the next call
 * of the same command: nothing is submitted twice and gathered results are never run again. Ctrl-C
 * cancels the outstanding tasks with scancel. A task Slurm killed (out of memory, node failure,
 * time limit) becomes a stored row with that reason, as a local sweep stores an engine's OOM.
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Db } from "../../store/db.js";
import { createRun, finishRun, type RunError, type RunStatus } from "../../store/runs.js";
import { packageRoot } from "../../util/paths.js";
import {
  claimSweep,
  getSweep,
  linkRun,
  listEntries,
  noteAttempt,
  releaseSweep,
  type SweepEntry,
} from "../store.js";
import {
  needsRun,
  planSweep,
  sweepOutcome,
  type RerunPolicy,
  type SweepEvent,
  type SweepOutcome,
} from "../run.js";
import {
  LIVE_STATES,
  execSlurm,
  finalStates,
  findJobByName,
  requireSlurmClient,
  sbatch,
  scancel,
  squeue,
  type SlurmExec,
  type TaskState,
} from "./commands.js";
import {
  logPath,
  readManifest,
  readResult,
  resultPath,
  submissionDir,
  writeManifest,
  type SlurmSubmission,
  type TaskFile,
} from "./files.js";
import { importResult } from "./task.js";
import { writeAtomic } from "../../util/files.js";

export interface SlurmOptions {
  partition?: string | undefined;
  gres?: string | undefined;
  /** Slurm's time limit per task, e.g. 30:00 or 1-00:00:00. */
  time?: string | undefined;
  account?: string | undefined;
  /** At most this many tasks at once. */
  maxParallel?: number | undefined;
  /** Where the manifest, task files, results and logs go; every node must see it. Default <home>/slurm. */
  sharedDir?: string | undefined;
  /** Further sbatch arguments, e.g. ["--mem=32G", "--cpus-per-task=8"]. */
  sbatchArgs?: string[] | undefined;
  /** false: tasks do not sample their GPUs with nvidia-smi (`--no-telemetry`). */
  telemetry?: boolean | undefined;
}

export type SlurmSweepEvent = SweepEvent | { type: "slurm"; message: string };

export interface SlurmSweepOptions extends RerunPolicy {
  db: Db;
  home: string;
  slurm: SlurmOptions;
  signal?: AbortSignal;
  onEvent?: (e: SlurmSweepEvent) => void;
  /** Runs the Slurm commands (tests answer them). */
  exec?: SlurmExec;
  /** How often squeue is asked (default 5 s; LORAPROF_SLURM_POLL_MS overrides). */
  pollMs?: number;
  /** The program a task runs: default this package's CLI under this Node. */
  command?: string[];
  /** Skip the PATH check (tests with a fake exec). */
  skipClientCheck?: boolean;
}

/** The shared folder of one sweep. */
export function slurmSweepDir(home: string, sweepId: string, sharedDir?: string): string {
  return join(sharedDir ?? join(home, "slurm"), sweepId);
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });

function tail(path: string, lines = 20): string {
  try {
    return readFileSync(path, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "";
  }
}

/** The row stored for a task that ended without a result: its status and reason from Slurm's state. */
export function outcomeOfSlurmState(
  st: TaskState | undefined,
  where: { job: string; log: string },
): { status: Exclude<RunStatus, "pending" | "running">; error: RunError } {
  const on = st?.node ? ` on ${st.node}` : "";
  const stderrTail = tail(where.log);
  const withTail = (e: RunError): RunError => (stderrTail ? { ...e, stderrTail } : e);
  switch (st?.state) {
    case "OUT_OF_MEMORY":
      return {
        status: "oom",
        error: withTail({
          kind: "oom",
          message: `Slurm killed task ${where.job}${on}: it went over its memory limit (state OUT_OF_MEMORY)`,
          hint: "ask for more host memory (--sbatch-arg=--mem=64G) or run a smaller shape",
        }),
      };
    case "NODE_FAIL":
    case "BOOT_FAIL":
    case "PREEMPTED":
      // Not the configuration's fault: kind `interrupted`, so the next call of the command runs it again.
      return {
        status: "failed",
        error: withTail({
          kind: "interrupted",
          message: `task ${where.job}${on} was lost to a ${st.state === "PREEMPTED" ? "preemption" : "node failure"} (state ${st.state})`,
          hint: "run the same command again: the configuration is submitted again",
        }),
      };
    case "TIMEOUT":
    case "DEADLINE":
      return {
        status: "failed",
        error: withTail({
          kind: "crash",
          message: `task ${where.job}${on} hit its time limit (state ${st.state})`,
          hint: "give a longer --time, or fewer steps; then run the same command with --rerun-failed",
        }),
      };
    case "CANCELLED":
      return {
        status: "cancelled",
        error: { kind: "cancelled", message: `task ${where.job} was cancelled (scancel)`, hint: null },
      };
    default:
      return {
        status: "failed",
        error: withTail({
          kind: "crash",
          message: `task ${where.job}${on} ended without writing its result (${st ? `state ${st.state}${st.exitCode ? `, exit ${st.exitCode}` : ""}${st.reason ? `, ${st.reason}` : ""}` : "Slurm no longer knows its state"}); its log: ${where.log}`,
          hint: "read the log; after fixing the cause, run the same command with --rerun-failed",
        }),
      };
  }
}

/** Submits, follows and gathers a sweep on Slurm. Resolves when every task is settled or Ctrl-C stopped it. */
export async function runSlurmSweep(sweepId: string, opts: SlurmSweepOptions): Promise<SweepOutcome> {
  const { db } = opts;
  const exec = opts.exec ?? execSlurm;
  if (!opts.skipClientCheck) requireSlurmClient();
  const pollMs = opts.pollMs ?? Number(process.env["LORAPROF_SLURM_POLL_MS"] ?? 5000);
  const dir = slurmSweepDir(opts.home, sweepId, opts.slurm.sharedDir);
  const emit = (e: SlurmSweepEvent) => opts.onEvent?.(e);
  const say = (message: string) => emit({ type: "slurm", message });

  claimSweep(db, sweepId);
  const ran: SweepOutcome["ran"] = [];
  let interrupted = false;
  let release: "finished" | "interrupted" = "interrupted";
  try {
    const manifest = readManifest(dir, sweepId);
    const save = () => writeManifest(dir, manifest);
    const entryOf = (key: string): SweepEntry | undefined =>
      listEntries(db, sweepId).find((e) => e.key === key);
    let started = 0;
    let total = 0;
    const announced = new Set<string>();
    const wallTimes: number[] = [];

    const settle = (
      sub: SlurmSubmission,
      index: number,
      runId: string,
      status: Exclude<RunStatus, "pending" | "running">,
      error: RunError | null,
      wallSeconds: number,
      tps: number | null,
    ) => {
      const task = sub.tasks.find((t) => t.index === index)!;
      linkRun(db, sweepId, task.key, runId);
      task.settled = true;
      save();
      ran.push({ key: task.key, runId, status });
      if (status !== "cancelled") wallTimes.push(wallSeconds);
      const entry = entryOf(task.key);
      if (entry) {
        emit({
          type: "run-end",
          entry,
          index: ran.length,
          total,
          worker: 0,
          runId,
          status,
          realTokensPerSecond: tps,
          error,
          wallSeconds,
          etaSeconds: null,
        });
      }
    };

    /** Imports every result file not yet gathered. */
    const gather = () => {
      for (const sub of manifest.submissions) {
        const subDir = submissionDir(dir, sub.id);
        const file = sub.tasks.some((t) => !t.settled)
          ? (JSON.parse(readFileSync(join(subDir, "tasks.json"), "utf8")) as TaskFile)
          : null;
        for (const t of sub.tasks) {
          if (t.settled || !file) continue;
          const result = readResult(resultPath(subDir, t.index));
          if (!result) continue;
          const config = file.tasks.find((x) => x.index === t.index)!.config;
          const imported = importResult(db, sweepId, result, config);
          const row = result.run ?? {};
          const startedAt = Date.parse(String(row["started_at"] ?? ""));
          const finishedAt = Date.parse(String(row["finished_at"] ?? ""));
          const metrics = typeof row["metrics_json"] === "string" ? JSON.parse(row["metrics_json"]) : null;
          settle(
            sub,
            t.index,
            imported.runId,
            imported.status as Exclude<RunStatus, "pending" | "running">,
            imported.error,
            Number.isFinite(startedAt) && Number.isFinite(finishedAt) ? (finishedAt - startedAt) / 1000 : 0,
            (metrics as { realTokensPerSecond?: number } | null)?.realTokensPerSecond ?? null,
          );
        }
      }
    };

    /** Stores a row for a task that ended without a result, from what Slurm says of it. */
    const settleFromSlurm = (sub: SlurmSubmission, index: number, st: TaskState | undefined) => {
      const subDir = submissionDir(dir, sub.id);
      const file = JSON.parse(readFileSync(join(subDir, "tasks.json"), "utf8")) as TaskFile;
      const t = file.tasks.find((x) => x.index === index)!;
      const { status, error } = outcomeOfSlurmState(st, {
        job: `${sub.jobId}_${index}`,
        log: logPath(subDir, index),
      });
      const runId = createRun(db, { config: t.config, label: t.label, sweepId });
      finishRun(db, runId, { status, error });
      settle(sub, index, runId, status, error, 0, null);
    };

    // 1. Submissions the last CLI made but did not live to record: find them by their job name.
    for (const sub of manifest.submissions.filter((s) => s.jobId === null)) {
      sub.jobId = await findJobByName(exec, sub.name);
      if (sub.jobId === null) {
        // Not queued: gather what its tasks wrote; the rest were never run and are planned again.
        gather();
        for (const t of sub.tasks) t.settled = true;
      }
      save();
    }

    // 2. Results written while no CLI was watching.
    gather();
    const plan = planSweep(db, sweepId, opts);
    emit({ type: "start", plan });
    const outstanding = new Set(
      manifest.submissions.flatMap((s) => s.tasks.filter((t) => !t.settled).map((t) => t.key)),
    );
    total = outstanding.size;
    if (outstanding.size) {
      const ids = manifest.submissions.filter((s) => s.tasks.some((t) => !t.settled)).map((s) => s.jobId);
      say(`re-attached to job array ${ids.join(", ")}: ${outstanding.size} task(s) still submitted`);
    }

    // 3. Submit what the plan still needs and no live task covers.
    const todo = plan.todo.filter((e) => !outstanding.has(e.key));
    if (todo.length && !opts.signal?.aborted) {
      const id = Math.max(0, ...manifest.submissions.map((s) => s.id)) + 1;
      const subDir = submissionDir(dir, id);
      const file: TaskFile = {
        sweepId,
        tasks: todo.map((e, index) => ({ index, key: e.key, label: e.label, config: e.config })),
      };
      writeAtomic(join(subDir, "tasks.json"), JSON.stringify(file, null, 2) + "\n");
      const command = opts.command ?? [process.execPath, join(packageRoot(), "bin", "loraprof.js")];
      const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
      writeAtomic(
        join(subDir, "job.sh"),
        [
          "#!/bin/sh",
          `# loraprof sweep ${getSweep(db, sweepId).name} (${sweepId}), submission ${id}: one planned run per array task.`,
          `exec ${command.map(q).join(" ")} slurm-task ${q(subDir)} "$SLURM_ARRAY_TASK_ID"${opts.slurm.telemetry === false ? " --no-telemetry" : ""}`,
          "",
        ].join("\n"),
      );
      // Slurm does not create the folder of --output: a missing one fails every task before it starts.
      mkdirSync(join(subDir, "logs"), { recursive: true });
      mkdirSync(join(subDir, "results"), { recursive: true });
      const sub: SlurmSubmission = {
        id,
        name: `loraprof-${sweepId}-s${id}`,
        jobId: null,
        submittedAt: new Date().toISOString(),
        tasks: todo.map((e, index) => ({ index, key: e.key, label: e.label, settled: false })),
      };
      manifest.submissions.push(sub);
      save();
      try {
        sub.jobId = await sbatch(exec, {
          script: join(subDir, "job.sh"),
          jobName: sub.name,
          count: todo.length,
          maxParallel: opts.slurm.maxParallel,
          output: join(subDir, "logs", "%a.out"),
          chdir: process.cwd(),
          partition: opts.slurm.partition,
          gres: opts.slurm.gres,
          time: opts.slurm.time,
          account: opts.slurm.account,
          extra: opts.slurm.sbatchArgs,
        });
      } catch (err) {
        manifest.submissions.pop();
        save();
        throw err;
      }
      save();
      for (const e of todo) noteAttempt(db, sweepId, e.key);
      total += todo.length;
      say(
        `submitted job array ${sub.jobId} (${todo.length} task(s)${opts.slurm.partition ? `, partition ${opts.slurm.partition}` : ""}); results in ${subDir}`,
      );
    }

    // 4. Follow the arrays until every task is settled.
    const missingSince = new Map<string, number>();
    const unsettled = () => manifest.submissions.filter((s) => s.jobId && s.tasks.some((t) => !t.settled));
    while (unsettled().length && !opts.signal?.aborted) {
      gather();
      const subs = unsettled();
      if (!subs.length) break;
      const live = await squeue(
        exec,
        subs.map((s) => s.jobId!),
      );
      for (const sub of subs) {
        const states = live.get(sub.jobId!) ?? new Map<number, TaskState>();
        let finals: Map<number, TaskState> | null = null;
        for (const t of sub.tasks.filter((x) => !x.settled)) {
          const st = states.get(t.index);
          const tag = `${sub.jobId}_${t.index}`;
          if (st && LIVE_STATES.has(st.state)) {
            missingSince.delete(tag);
            if (st.state === "RUNNING" && !announced.has(tag)) {
              announced.add(tag);
              const entry = entryOf(t.key);
              if (entry) {
                emit({
                  type: "run-start",
                  entry,
                  index: ++started,
                  total,
                  device: `job ${tag}${st.node ? ` (${st.node})` : ""}`,
                  worker: 0,
                });
              }
            }
            continue;
          }
          // Left the queue: its result file is written before the task exits, so give the shared
          // file system a moment (two polls) before asking Slurm how it ended.
          const first = missingSince.get(tag) ?? Date.now();
          missingSince.set(tag, first);
          if (Date.now() - first < Math.max(2 * pollMs, 2000)) continue;
          if (readResult(resultPath(submissionDir(dir, sub.id), t.index))) continue; // gathered next turn
          finals ??= await finalStates(exec, sub.jobId!);
          settleFromSlurm(sub, t.index, finals.get(t.index) ?? st);
        }
      }
      await sleep(pollMs, opts.signal);
    }

    // 5. Ctrl-C: cancel what is still queued or running, gather what finished, store the rest as cancelled.
    if (opts.signal?.aborted) {
      interrupted = true;
      const subs = unsettled();
      const ids = subs.map((s) => s.jobId!);
      if (ids.length) {
        say(`cancelling job array ${ids.join(", ")} (scancel)`);
        await scancel(exec, ids);
        // Tasks get SIGTERM (they store their run as cancelled), then SIGKILL after KillWait.
        const end = Date.now() + 60_000;
        while (Date.now() < end) {
          const live = await squeue(exec, ids);
          if ([...live.values()].every((m) => m.size === 0)) break;
          await sleep(500);
        }
        gather();
        for (const sub of unsettled()) {
          for (const t of sub.tasks.filter((x) => !x.settled)) {
            settleFromSlurm(sub, t.index, {
              index: t.index,
              state: "CANCELLED",
              reason: null,
              exitCode: null,
              node: null,
            });
          }
        }
      }
    }
    const remaining = listEntries(db, sweepId).filter((e) => needsRun(e)).length;
    release = interrupted || remaining > 0 ? "interrupted" : "finished";
  } finally {
    try {
      releaseSweep(db, sweepId, release);
    } catch {
      // a stale claim is reaped by the next call
    }
  }
  const outcome = sweepOutcome(db, sweepId, ran, interrupted);
  emit({ type: "end", outcome });
  return outcome;
}

/** Tasks of the sweep submitted to Slurm and not yet gathered (0 when it never ran there). */
export function outstandingSlurmTasks(home: string, sweepId: string, sharedDir?: string): number {
  const dir = slurmSweepDir(home, sweepId, sharedDir);
  if (!existsSync(join(dir, "slurm.json"))) return 0;
  return readManifest(dir, sweepId).submissions.reduce(
    (n, s) => n + s.tasks.filter((t) => !t.settled).length,
    0,
  );
}
