/**
 * The CLI side of the Slurm backend: `--backend slurm` and its flags on `sweep` and `study`, and the
 * hidden `slurm-task` command each array task runs on its compute node.
 */
import { Command, Option } from "commander";
import type { CliContext } from "../context.js";
import { interruptible } from "../interrupt.js";
import { runSlurmSweep, type SlurmOptions, type SlurmSweepEvent } from "../../sweep/slurm/backend.js";
import { runSlurmTask } from "../../sweep/slurm/task.js";
import type { SweepEvent, SweepOutcome } from "../../sweep/run.js";
import { LoraprofError, type Problem } from "../../util/errors.js";
import { cacheDir, loraprofHome } from "../../util/paths.js";
import { telemetryObservers } from "./run.js";

export interface SlurmCliOptions {
  backend?: string;
  partition?: string;
  gres?: string;
  time?: string;
  account?: string;
  maxParallel?: string;
  sharedDir?: string;
  sbatchArg?: string[];
  gpus?: string;
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

export function addSlurmFlags(cmd: Command): Command {
  return cmd
    .addOption(
      new Option("--backend <backend>", "where the runs run: here, or as a Slurm job array").choices([
        "local",
        "slurm",
      ]),
    )
    .option("--partition <name>", "slurm: the partition to submit to")
    .option("--gres <spec>", "slurm: generic resources per task, e.g. gpu:1")
    .option("--time <limit>", "slurm: time limit per task, e.g. 30:00 or 1-00:00:00")
    .option("--account <name>", "slurm: the account to charge")
    .option("--max-parallel <n>", "slurm: at most N tasks of the array at once")
    .option(
      "--shared-dir <dir>",
      "slurm: folder every node sees, for task files and results (default .loraprof/slurm)",
    )
    .option(
      "--sbatch-arg <arg>",
      "slurm: a further sbatch argument, e.g. --sbatch-arg=--mem=32G (repeatable)",
      collect,
    );
}

const SLURM_TIME =
  /^(\d+|\d+:\d{1,2}|\d+:\d{1,2}:\d{1,2}|\d+-\d+|\d+-\d+:\d{1,2}|\d+-\d+:\d{1,2}:\d{1,2}|UNLIMITED|INFINITE)$/i;

/** The Slurm options from the flags, or null for the local backend; every mistake named at once. */
export function slurmOptionsFromFlags(opts: SlurmCliOptions): SlurmOptions | null {
  const problems: Problem[] = [];
  const slurmOnly = (
    [
      ["--partition", opts.partition],
      ["--gres", opts.gres],
      ["--time", opts.time],
      ["--account", opts.account],
      ["--max-parallel", opts.maxParallel],
      ["--shared-dir", opts.sharedDir],
      ["--sbatch-arg", opts.sbatchArg],
    ] as const
  ).filter(([, v]) => v !== undefined);
  if (opts.backend !== "slurm") {
    if (slurmOnly.length) {
      throw new LoraprofError("FLAG_INVALID", "Slurm flags without --backend slurm", {
        problems: slurmOnly.map(([f]) => ({
          field: f,
          message: "only used by the Slurm backend",
          hint: "add --backend slurm, or leave the flag out",
        })),
      });
    }
    return null;
  }
  if (opts.gpus !== undefined) {
    problems.push({
      field: "--gpus",
      message: "places runs on this machine's GPUs; Slurm places each task itself",
      hint: "ask Slurm for GPUs with --gres gpu:1",
    });
  }
  if (opts.time !== undefined && !SLURM_TIME.test(opts.time.trim())) {
    problems.push({
      field: "--time",
      message: `"${opts.time}" is not a Slurm time limit`,
      hint: "minutes, MM:SS, HH:MM:SS or D-HH:MM:SS, e.g. --time 30:00",
    });
  }
  let maxParallel: number | undefined;
  if (opts.maxParallel !== undefined) {
    maxParallel = Number(opts.maxParallel);
    if (!/^\d+$/.test(opts.maxParallel.trim()) || maxParallel < 1) {
      problems.push({
        field: "--max-parallel",
        message: `"${opts.maxParallel}" is not a whole number ≥ 1`,
        hint: "e.g. --max-parallel 4",
      });
    }
  }
  for (const [field, v] of [
    ["--partition", opts.partition],
    ["--gres", opts.gres],
    ["--account", opts.account],
  ] as const) {
    if (v !== undefined && !/^[\w.,:\-+=/]+$/.test(v)) {
      problems.push({
        field,
        message: `"${v}" has characters Slurm does not accept there`,
        hint: "e.g. --gres gpu:1",
      });
    }
  }
  if (problems.length) throw new LoraprofError("FLAG_INVALID", "invalid Slurm flags", { problems });
  return {
    partition: opts.partition,
    gres: opts.gres,
    time: opts.time?.trim(),
    account: opts.account,
    maxParallel,
    sharedDir: opts.sharedDir,
    sbatchArgs: opts.sbatchArg,
  };
}

/** Runs a prepared sweep on Slurm with Ctrl-C → scancel, progress through the sweep's own printer. */
export async function executeSlurmSweep(
  ctx: CliContext,
  sweepId: string,
  slurm: SlurmOptions,
  policy: { rerunFailed: boolean; rerunOom: boolean },
  progress: (e: SweepEvent) => void,
  quiet: boolean,
): Promise<{ outcome: SweepOutcome; cancelled: boolean }> {
  const interrupt = interruptible("stopping the sweep: cancelling its Slurm tasks");
  try {
    const outcome = await runSlurmSweep(sweepId, {
      db: ctx.db,
      home: ctx.home,
      slurm,
      signal: interrupt.signal,
      ...policy,
      onEvent: (e: SlurmSweepEvent) => {
        if (e.type === "slurm") {
          if (!quiet) process.stderr.write(`${e.message}\n`);
        } else progress(e);
      },
    });
    return { outcome, cancelled: interrupt.signal.aborted };
  } finally {
    interrupt.dispose();
  }
}

/** `loraprof slurm-task DIR INDEX`: what each array task runs (hidden: the backend writes its job script). */
export function registerSlurmTask(program: Command): void {
  program
    .command("slurm-task <dir> <index>", { hidden: true })
    .description(
      "run one task of a Slurm sweep's job array and write its result file (used by --backend slurm)",
    )
    .option("--no-telemetry", "do not sample the GPUs with nvidia-smi during the run")
    .action(async (dir: string, index: string, opts: { telemetry?: boolean }) => {
      if (!/^\d+$/.test(index)) {
        throw new LoraprofError("FLAG_INVALID", "invalid task index", {
          problems: [
            {
              field: "index",
              message: `"${index}" is not a task index`,
              hint: "Slurm passes $SLURM_ARRAY_TASK_ID",
            },
          ],
        });
      }
      // scancel sends SIGTERM first: the run is cancelled and its result still written.
      const interrupt = interruptible("cancelling the task's run");
      try {
        const r = await runSlurmTask({
          subDir: dir,
          index: Number(index),
          home: loraprofHome(),
          cacheDir: cacheDir(),
          signal: interrupt.signal,
          observers: (db) => telemetryObservers({ db }, { telemetry: opts.telemetry !== false }),
        });
        process.stdout.write(`task ${index}: ${r.status}; result ${r.result}\n`);
      } finally {
        interrupt.dispose();
      }
    });
}
