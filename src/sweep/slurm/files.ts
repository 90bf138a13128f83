/**
 * The files a Slurm sweep keeps on the shared path (`<sharedDir>/<sweepId>/`), every one written
 * atomically (a temporary file beside it, then rename) so that a reader on another node never sees
 * half of one:
 *
 *   slurm.json                 the manifest: each submitted job array, its tasks and which are settled
 *   s<N>/tasks.json            what submission N's array tasks run (entry key, label, config)
 *   s<N>/job.sh                the batch script: `node loraprof.js slurm-task s<N> $SLURM_ARRAY_TASK_ID`
 *   s<N>/results/<i>.json      task i's outcome: its stored run (row, steps, telemetry) or its error
 *   s<N>/logs/<i>.out          task i's stdout and stderr (Slurm's --output)
 */
import { readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import type { RunConfig } from "../../config/schema.js";
import { LoraprofError } from "../../util/errors.js";
import { writeAtomic } from "../../util/files.js";

const Task = z.object({
  index: z.number().int().min(0),
  key: z.string(),
  label: z.string(),
  /** Gathered into the store, or stored as failed/cancelled: never looked at again. */
  settled: z.boolean(),
});

const Submission = z.object({
  id: z.number().int().min(1),
  /** The job name given to sbatch: finds the array when the CLI died before recording its id. */
  name: z.string(),
  jobId: z.string().nullable(),
  submittedAt: z.string(),
  tasks: z.array(Task),
});

const Manifest = z.object({
  version: z.literal(1),
  sweepId: z.string(),
  submissions: z.array(Submission),
});

export type SlurmTask = z.infer<typeof Task>;
export type SlurmSubmission = z.infer<typeof Submission>;
export type SlurmManifest = z.infer<typeof Manifest>;

export const manifestPath = (dir: string) => join(dir, "slurm.json");
export const submissionDir = (dir: string, id: number) => join(dir, `s${id}`);
export const resultPath = (subDir: string, index: number) => join(subDir, "results", `${index}.json`);
export const logPath = (subDir: string, index: number) => join(subDir, "logs", `${index}.out`);

export function readManifest(dir: string, sweepId: string): SlurmManifest {
  const path = manifestPath(dir);
  if (!existsSync(path)) return { version: 1, sweepId, submissions: [] };
  const parsed = Manifest.safeParse(JSON.parse(readFileSync(path, "utf8")));
  if (!parsed.success || parsed.data.sweepId !== sweepId) {
    throw new LoraprofError("STORE", `${path} is not this sweep's Slurm manifest`, {
      hint: `move it away (its jobs are then no longer tracked) or pass another --shared-dir`,
    });
  }
  return parsed.data;
}

export function writeManifest(dir: string, m: SlurmManifest): void {
  writeAtomic(manifestPath(dir), JSON.stringify(m, null, 2) + "\n");
}

/** What one submission's tasks run, read by `loraprof slurm-task` on the compute node. */
export interface TaskFile {
  sweepId: string;
  tasks: { index: number; key: string; label: string; config: RunConfig }[];
}

export function readTaskFile(subDir: string): TaskFile {
  const path = join(subDir, "tasks.json");
  if (!existsSync(path)) {
    throw new LoraprofError("CONFIG_INVALID", `no ${path}`, {
      problems: [
        {
          field: "dir",
          message: "not a submission folder of a Slurm sweep",
          hint: "it is written by `loraprof sweep --backend slurm`",
        },
      ],
    });
  }
  return JSON.parse(readFileSync(path, "utf8")) as TaskFile;
}

const Row = z.record(z.string(), z.unknown());
const RunError = z
  .object({ kind: z.string(), message: z.string(), hint: z.string().nullable() })
  .passthrough();

/** A task's result file. */
export const TaskResult = z.object({
  version: z.literal(1),
  sweepId: z.string(),
  key: z.string(),
  label: z.string(),
  host: z.string(),
  jobId: z.string().nullable(),
  /** The run as the task's own store held it (raw rows of runs, steps, telemetry_samples). */
  run: Row.nullable(),
  steps: z.array(Row),
  telemetry: z.array(Row),
  /** Set when the task failed before it stored a run (bad dataset, no engine). */
  error: RunError.nullable(),
});
export type TaskResult = z.infer<typeof TaskResult>;

export function readResult(path: string): TaskResult | null {
  if (!existsSync(path)) return null;
  const parsed = TaskResult.safeParse(JSON.parse(readFileSync(path, "utf8")));
  if (!parsed.success) {
    throw new LoraprofError("STORE", `${path} is not a Slurm task result`, {
      hint: "a task of another loraprof version wrote it? delete it and run the sweep again",
    });
  }
  return parsed.data;
}
