/**
 * The Slurm client commands the backend uses (sbatch, squeue, sacct, scontrol, scancel), each run
 * through one `SlurmExec` so that tests can answer them, and their output parsed into data.
 */
import { execFile } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";
import { LoraprofError } from "../../util/errors.js";

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs one Slurm command; never throws for a non-zero exit (the caller reads `code`). */
export type SlurmExec = (cmd: string, args: string[]) => Promise<ExecResult>;

export const execSlurm: SlurmExec = (cmd, args) =>
  new Promise((resolve) => {
    execFile(cmd, args, { timeout: 60_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code =
        err === null
          ? 0
          : typeof (err as { code?: unknown }).code === "number"
            ? (err as { code: number }).code
            : 127;
      resolve({
        code,
        stdout: String(stdout),
        stderr: String(stderr || (err && !stderr ? err.message : "")),
      });
    });
  });

/** The executable's path on PATH, or null. */
export function onPath(name: string, path = process.env["PATH"] ?? ""): string | null {
  for (const dir of path.split(delimiter).filter(Boolean)) {
    const full = join(dir, name);
    try {
      accessSync(full, constants.X_OK);
      return full;
    } catch {
      // not here
    }
  }
  return null;
}

/** Throws the one clear error when the Slurm client commands are missing. */
export function requireSlurmClient(path?: string): void {
  const missing = ["sbatch", "squeue", "scancel"].filter((c) => onPath(c, path) === null);
  if (!missing.length) return;
  throw new LoraprofError("FLAG_INVALID", `--backend slurm: ${missing.join(", ")} not on PATH`, {
    problems: [
      {
        field: "--backend",
        message: `slurm needs Slurm's client commands (sbatch, squeue, scancel); ${missing.join(", ")} not found on PATH`,
        hint: "run on the cluster's login node, put Slurm's bin folder on PATH (e.g. `module load slurm`), or install the client (Debian: apt-get install slurm-client); on one machine `scripts/slurm-local.sh start` starts a local Slurm; or leave out --backend slurm to run here",
      },
    ],
  });
}

/** Slurm job states (squeue %T, sacct State, scontrol JobState) the backend tells apart. */
export type JobState =
  | "PENDING"
  | "CONFIGURING"
  | "RUNNING"
  | "COMPLETING"
  | "COMPLETED"
  | "FAILED"
  | "CANCELLED"
  | "TIMEOUT"
  | "OUT_OF_MEMORY"
  | "NODE_FAIL"
  | "PREEMPTED"
  | "BOOT_FAIL"
  | "DEADLINE"
  | "SUSPENDED"
  | "REQUEUED"
  | string;

export const LIVE_STATES: ReadonlySet<string> = new Set([
  "PENDING",
  "CONFIGURING",
  "RUNNING",
  "COMPLETING",
  "SUSPENDED",
  "REQUEUED",
  "REQUEUE_HOLD",
  "REQUEUE_FED",
  "RESIZING",
  "SIGNALING",
  "STAGE_OUT",
  "STOPPED",
]);

export interface TaskState {
  /** The array task index. */
  index: number;
  state: JobState;
  reason: string | null;
  exitCode: string | null;
  node: string | null;
}

/**
 * squeue's lines for one array job, one per task (`-r`): `JOBID_TASK|STATE|REASON|NODE`. A
 * pending range that squeue did not expand (`12_[3-7%2]`) stands for each of its tasks.
 */
export function parseSqueue(stdout: string, arrayJobId: string): Map<number, TaskState> {
  const out = new Map<number, TaskState>();
  for (const line of stdout.split("\n")) {
    const [id, state, reason, node] = line.trim().split("|");
    if (!id || !state || !id.startsWith(`${arrayJobId}_`)) continue;
    const tail = id.slice(arrayJobId.length + 1);
    const entry = (index: number): TaskState => ({
      index,
      state,
      reason: reason && reason !== "None" ? reason : null,
      exitCode: null,
      node: node || null,
    });
    if (/^\d+$/.test(tail)) out.set(Number(tail), entry(Number(tail)));
    else if (tail.startsWith("[")) {
      for (const part of tail
        .replace(/^\[|\]$/g, "")
        .replace(/%\d+$/, "")
        .split(",")) {
        const [a, b] = part.split("-").map(Number);
        if (a === undefined || Number.isNaN(a)) continue;
        for (let i = a; i <= (b ?? a); i++) out.set(i, entry(i));
      }
    }
  }
  return out;
}

/** sacct -P lines `JobID|State|ExitCode|Reason` (the array task's own line, not its `.batch` step). */
export function parseSacct(stdout: string, arrayJobId: string): Map<number, TaskState> {
  const out = new Map<number, TaskState>();
  for (const line of stdout.split("\n")) {
    const [id, state, exitCode, reason] = line.trim().split("|");
    const m = id ? new RegExp(`^${arrayJobId}_(\\d+)$`).exec(id) : null;
    if (!m || !state) continue;
    out.set(Number(m[1]), {
      index: Number(m[1]),
      // "CANCELLED by 0" → CANCELLED
      state: state.split(" ")[0]!,
      reason: reason && reason !== "None" ? reason : null,
      exitCode: exitCode ?? null,
      node: null,
    });
  }
  return out;
}

/** `scontrol -o show job ID`: one line per array task, `Key=Value` pairs. */
export function parseScontrol(stdout: string, arrayJobId: string): Map<number, TaskState> {
  const out = new Map<number, TaskState>();
  for (const line of stdout.split("\n")) {
    const field = (k: string) => new RegExp(`(?:^|\\s)${k}=(\\S*)`).exec(line)?.[1] ?? null;
    if (field("ArrayJobId") !== arrayJobId) continue;
    const task = field("ArrayTaskId");
    const state = field("JobState");
    if (!task || !/^\d+$/.test(task) || !state) continue;
    const reason = field("Reason");
    out.set(Number(task), {
      index: Number(task),
      state,
      reason: reason && reason !== "None" ? reason : null,
      exitCode: field("ExitCode"),
      node: field("BatchHost") ?? field("NodeList"),
    });
  }
  return out;
}

export interface SbatchRequest {
  script: string;
  jobName: string;
  /** Tasks 0..count-1. */
  count: number;
  /** At most this many tasks at once (`--array=0-N%K`). */
  maxParallel?: number | undefined;
  output: string;
  chdir: string;
  partition?: string | undefined;
  gres?: string | undefined;
  time?: string | undefined;
  account?: string | undefined;
  /** Further sbatch arguments, passed as given. */
  extra?: string[] | undefined;
}

export function sbatchArgs(r: SbatchRequest): string[] {
  return [
    "--parsable",
    `--job-name=${r.jobName}`,
    `--array=0-${r.count - 1}${r.maxParallel ? `%${r.maxParallel}` : ""}`,
    `--output=${r.output}`,
    `--chdir=${r.chdir}`,
    "--export=ALL",
    ...(r.partition ? [`--partition=${r.partition}`] : []),
    ...(r.gres ? [`--gres=${r.gres}`] : []),
    ...(r.time ? [`--time=${r.time}`] : []),
    ...(r.account ? [`--account=${r.account}`] : []),
    ...(r.extra ?? []),
    r.script,
  ];
}

/** Submits the array; returns its job id. A refusal names the option sbatch complained about. */
export async function sbatch(exec: SlurmExec, r: SbatchRequest): Promise<string> {
  const res = await exec("sbatch", sbatchArgs(r));
  const id = /^(\d+)/.exec(res.stdout.trim())?.[1];
  if (res.code === 0 && id) return id;
  const why = (res.stderr || res.stdout).trim().replace(/^sbatch: error: /gm, "");
  const field = /partition/i.test(why)
    ? "--partition"
    : /gres|gpu/i.test(why)
      ? "--gres"
      : /time limit|time/i.test(why)
        ? "--time"
        : /account/i.test(why)
          ? "--account"
          : "--backend";
  throw new LoraprofError("FLAG_INVALID", `sbatch refused the sweep's job array`, {
    problems: [
      {
        field,
        message: why || `sbatch exited with ${res.code}`,
        hint: "check the option against `sinfo` (partitions, GPUs) and your cluster's limits",
      },
    ],
  });
}

/** Live tasks of the array jobs; a job squeue no longer knows is simply absent. */
export async function squeue(
  exec: SlurmExec,
  arrayJobIds: string[],
): Promise<Map<string, Map<number, TaskState>>> {
  const out = new Map<string, Map<number, TaskState>>();
  if (!arrayJobIds.length) return out;
  const res = await exec("squeue", ["-h", "-r", `--jobs=${arrayJobIds.join(",")}`, "-o", "%i|%T|%r|%N"]);
  // squeue exits non-zero ("Invalid job id specified") once every listed job has left its memory.
  if (res.code !== 0 && !/invalid job id/i.test(res.stderr)) {
    throw new LoraprofError("INTERNAL", `squeue failed: ${res.stderr.trim() || `exit ${res.code}`}`, {
      hint: "is slurmctld reachable? (`scontrol ping`)",
    });
  }
  for (const id of arrayJobIds) out.set(id, parseSqueue(res.code === 0 ? res.stdout : "", id));
  return out;
}

/**
 * Final states of an array's tasks: sacct when accounting is on, else scontrol (which remembers a
 * finished job for MinJobAge seconds). Empty when neither knows.
 */
export async function finalStates(exec: SlurmExec, arrayJobId: string): Promise<Map<number, TaskState>> {
  const acct = await exec("sacct", [
    "-n",
    "-P",
    "-X",
    `--jobs=${arrayJobId}`,
    "-o",
    "JobID,State,ExitCode,Reason",
  ]);
  if (acct.code === 0) {
    const parsed = parseSacct(acct.stdout, arrayJobId);
    if (parsed.size) return parsed;
  }
  const ctl = await exec("scontrol", ["-o", "show", "job", arrayJobId]);
  return ctl.code === 0 ? parseScontrol(ctl.stdout, arrayJobId) : new Map();
}

export async function scancel(exec: SlurmExec, arrayJobIds: string[]): Promise<void> {
  if (!arrayJobIds.length) return;
  await exec("scancel", arrayJobIds);
}

/** The array job id of a submission named `name`, when sbatch took it but the CLI died before recording it. */
export async function findJobByName(exec: SlurmExec, name: string): Promise<string | null> {
  const res = await exec("squeue", ["-h", `--name=${name}`, "-o", "%F"]);
  if (res.code !== 0) return null;
  return (
    res.stdout
      .split("\n")
      .map((l) => l.trim())
      .find((l) => /^\d+$/.test(l)) ?? null
  );
}
