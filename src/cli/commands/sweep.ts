import type { Command } from "commander";
import { existsSync } from "node:fs";
import pc from "picocolors";
import { parseYamlStrict } from "../../config/load.js";
import type { RunProgress } from "../../run/run.js";
import { setPath } from "../../sweep/spec.js";
import { readSweepSpec } from "../../sweep/spec.js";
import {
  planSweep,
  prepareSweep,
  reopenSweep,
  runSweep,
  type PreparedSweep,
  type SweepEvent,
  type SweepOutcome,
  type SweepPlan,
} from "../../sweep/run.js";
import { withRolledBack } from "../../store/db.js";
import { listEntries, listSweeps, getSweep, reapStaleSweeps } from "../../sweep/store.js";
import { cudaOnlySettings } from "../../config/device.js";
import { EXIT, LoraprofError, type Problem } from "../../util/errors.js";
import { listGpus } from "../../util/gpu.js";
import { openContext, printJson, type CliContext } from "../context.js";
import { interruptible } from "../interrupt.js";
import { formatNumber, formatSeconds, renderTable, statusColor } from "../render.js";
import { telemetryObservers } from "./run.js";
import { addSlurmFlags, executeSlurmSweep, slurmOptionsFromFlags, type SlurmCliOptions } from "./slurm.js";
import { requireSlurmClient } from "../../sweep/slurm/commands.js";
import { outstandingSlurmTasks } from "../../sweep/slurm/backend.js";

/** `--set optimizer.lr=1e-4 --set gradCheckpointing=true`: values read as YAML scalars. */
export function collectSet(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function setsToOverrides(sets: string[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const problems: Problem[] = [];
  for (const s of sets ?? []) {
    const eq = s.indexOf("=");
    if (eq <= 0) {
      problems.push({
        field: "--set",
        message: `"${s}" is not field=value`,
        hint: "e.g. --set optimizer.lr=1e-4",
      });
      continue;
    }
    const raw = s.slice(eq + 1);
    let value: unknown = raw;
    try {
      value = parseYamlStrict(raw);
    } catch {
      // Not YAML: keep the text.
    }
    setPath(out, s.slice(0, eq).trim(), value);
  }
  if (problems.length) throw new LoraprofError("FLAG_INVALID", "invalid --set", { problems });
  return out;
}

export function parseGpus(value: string | undefined): number[] | undefined {
  if (value === undefined) return undefined;
  const parts = value
    .split(",")
    .map((p) => p.trim())
    .filter(Boolean);
  if (!parts.length || parts.some((p) => !/^\d+$/.test(p)) || new Set(parts).size !== parts.length) {
    throw new LoraprofError("FLAG_INVALID", "invalid --gpus", {
      problems: [
        {
          field: "--gpus",
          message: `"${value}" is not a list of distinct GPU indices`,
          hint: "e.g. --gpus 0,1",
        },
      ],
    });
  }
  return parts.map(Number);
}

export interface SweepCliOptions extends SlurmCliOptions {
  db?: string;
  gpus?: string;
  rerunFailed?: boolean;
  rerunOom?: boolean;
  dryRun?: boolean;
  fresh?: boolean;
  json?: boolean;
  quiet?: boolean;
  set?: string[];
  /** false with --no-telemetry. */
  telemetry?: boolean;
}

export function addSweepRunFlags(cmd: Command): Command {
  return addSlurmFlags(cmd)
    .option(
      "--gpus <list>",
      "run one configuration per GPU in parallel, e.g. 0,1 (each run pinned to cuda:i)",
    )
    .option("--rerun-failed", "run again configurations whose last run failed")
    .option("--rerun-oom", "run again configurations whose last run ran out of memory")
    .option("--fresh", "start a new sweep even if one of this name exists (default: resume it)")
    .option("--dry-run", "show the plan and run nothing")
    .option("--no-telemetry", "do not sample the GPUs with nvidia-smi during the runs")
    .option(
      "--set <field=value>",
      "setting applied to every run, e.g. --set device=cpu (repeatable)",
      collectSet,
    )
    .option("--db <path>", "run database (default .loraprof/loraprof.db)")
    .option("--json", "print JSON (the plan with --dry-run, else the outcome)")
    .option("-q, --quiet", "no progress output");
}

function describePlan(prepared: PreparedSweep | null, plan: SweepPlan): string {
  const c = plan.counts;
  const done = c.completed + c.oom + c.failed;
  const lines = [
    `sweep ${pc.bold(plan.name)} (${plan.sweepId}): ${plan.entries.length} planned runs, ${done} with an outcome (${c.completed} completed, ${c.oom} oom, ${c.failed} failed), ${pc.bold(String(plan.todo.length))} to run${plan.workers > 1 ? ` on ${plan.workers} GPUs` : ""}`,
  ];
  if (prepared && !prepared.created && (prepared.added || prepared.dropped)) {
    lines.push(
      `plan changed since the last run: ${prepared.added} new, ${prepared.dropped} no longer planned (their runs stay in the store)`,
    );
  }
  const e = plan.estimate;
  if (plan.todo.length === 0) lines.push("nothing left to run" + rerunHint(plan));
  else if (e.seconds === null) lines.push("time: no estimate yet (no stored run of these shapes)");
  else {
    const per = e.seconds / plan.workers;
    lines.push(
      `time: ~${formatSeconds(per)}${e.known < e.total ? ` for the ${e.known} of ${e.total} runs with stored runs of the same shape (the rest unknown)` : " (median of stored runs of the same shapes)"}`,
    );
  }
  return lines.join("\n");
}

/** What to pass to run again the outcomes a resume keeps (failures and OOMs are not retried by default). */
function rerunHint(plan: SweepPlan): string {
  const kept = [
    plan.counts.failed ? `${plan.counts.failed} failed (--rerun-failed)` : "",
    plan.counts.oom ? `${plan.counts.oom} oom (--rerun-oom)` : "",
  ].filter(Boolean);
  return kept.length ? `: kept as outcomes, not retried: ${kept.join(", ")}` : "";
}

/**
 * Planned runs that cannot run on this machine because it has no CUDA GPU (qlora, 8-bit optimizers,
 * fp16, a VRAM budget, a cuda device): said before they are run, or listed by --dry-run.
 */
async function gpuNote(plan: SweepPlan, gpus: number[] | undefined): Promise<string | null> {
  if (gpus?.length) return null;
  const needGpu = plan.todo.filter(
    (e) => /^cuda/.test(e.config.device) || cudaOnlySettings(e.config).length > 0,
  );
  if (!needGpu.length) return null;
  const found = await listGpus();
  if (found.ok && found.gpus.length) return null;
  const fields = [...new Set(needGpu.flatMap((e) => cudaOnlySettings(e.config).map((p) => p.field)))];
  return `${needGpu.length} of the ${plan.todo.length} runs to do need a CUDA GPU (${fields.join(", ") || "device"}) and this machine has none${found.ok ? "" : ` (${found.reason})`}: they would fail here; run them on a GPU host, or --set device=cpu with settings the CPU supports`;
}

function planTable(plan: SweepPlan): string {
  const todo = new Set(plan.todo.map((t) => t.key));
  return renderTable(plan.entries, [
    { header: "#", value: (e) => String(e.position + 1), align: "right" },
    { header: "run", value: (e) => e.label },
    { header: "groups", value: (e) => e.groups.join(",") },
    { header: "last outcome", value: (e) => (e.status === "pending" ? pc.dim("—") : statusColor(e.status)) },
    { header: "action", value: (e) => (todo.has(e.key) ? pc.cyan("run") : pc.dim("keep")) },
    { header: "key", value: (e) => pc.dim(e.key) },
  ]);
}

/** Progress lines on stderr: start and end of each run; on a terminal a live status line between. */
export function sweepProgress(opts: {
  quiet: boolean;
  stream?: NodeJS.WriteStream;
}): (e: SweepEvent) => void {
  const stream = opts.stream ?? process.stderr;
  if (opts.quiet) return () => undefined;
  const tty = Boolean(stream.isTTY);
  let eta: number | null = null;
  const live = new Map<number, string>();
  const quarters = new Map<number, number>();
  let lastLine = "";
  const clear = () => {
    if (tty && lastLine) stream.write("\r\u001b[2K");
    lastLine = "";
  };
  const redraw = () => {
    if (!tty) return;
    const text = [...live.values()].join("  |  ") + (eta !== null ? `  · ETA ${formatSeconds(eta)}` : "");
    clear();
    lastLine = text.slice(0, (stream.columns ?? 120) - 1);
    stream.write(lastLine);
  };
  const stepText = (p: RunProgress) =>
    p.stage === "step"
      ? `step ${p.step.step}/${p.totalSteps}${p.realTokensPerSecond ? ` ${formatNumber(p.realTokensPerSecond, 0)} tok/s` : ""}`
      : p.stage === "loaded"
        ? "model loaded"
        : p.stage === "done"
          ? p.status
          : p.message;
  return (e) => {
    switch (e.type) {
      case "start":
        eta =
          e.plan.estimate.known === e.plan.estimate.total && e.plan.estimate.seconds !== null
            ? e.plan.estimate.seconds / e.plan.workers
            : null;
        break;
      case "engine":
        clear();
        stream.write(`${e.message}\n`);
        break;
      case "run-start":
        clear();
        stream.write(`[${e.index}/${e.total}] ${e.entry.label}${e.device ? ` on ${e.device}` : ""}\n`);
        live.set(e.worker, `[${e.index}/${e.total}] starting`);
        quarters.set(e.worker, 0);
        redraw();
        break;
      case "run-progress": {
        const prefix = /^\[\d+\/\d+\]/.exec(live.get(e.worker) ?? "")?.[0] ?? "";
        live.set(e.worker, `${prefix} ${stepText(e.progress)}`);
        if (tty) redraw();
        else if (e.progress.stage === "step") {
          // Off a terminal: a line at each quarter of the run's steps.
          const p = e.progress;
          const quarter = Math.floor((4 * p.step.step) / p.totalSteps);
          if (quarter > (quarters.get(e.worker) ?? 0)) {
            quarters.set(e.worker, quarter);
            stream.write(`${prefix} ${stepText(p)}\n`);
          }
        }
        break;
      }
      case "run-end": {
        eta = e.etaSeconds;
        live.delete(e.worker);
        clear();
        const rate =
          e.realTokensPerSecond !== null ? `  ${formatNumber(e.realTokensPerSecond, 0)} real tok/s` : "";
        const why =
          e.error && e.status !== "completed"
            ? `  ${pc.dim(`${e.error.kind}: ${e.error.message.split("\n")[0]!.slice(0, 160)}`)}`
            : "";
        stream.write(
          `[${e.index}/${e.total}] ${statusColor(e.status)}${rate}  ${formatSeconds(e.wallSeconds)}${e.etaSeconds !== null && e.index < e.total ? `  · ETA ${formatSeconds(e.etaSeconds)}` : ""}  ${pc.dim(e.runId)}${why}\n`,
        );
        redraw();
        break;
      }
      case "end":
        clear();
        break;
    }
  };
}

function renderOutcome(o: SweepOutcome, name: string): string {
  const c = o.counts;
  const head =
    o.status === "finished"
      ? c.failed
        ? pc.red(`sweep ${name} finished with failures`)
        : pc.green(`sweep ${name} finished`)
      : pc.yellow(`sweep ${name} stopped: ${o.remaining} run(s) left; run the same command again to resume`);
  const lines = [
    `${head}: ${c.completed} completed, ${c.oom} oom, ${c.failed} failed${c.cancelled ? `, ${c.cancelled} cancelled` : ""} of ${o.total} (this call ran ${o.ran.length})`,
  ];
  if (c.failed)
    lines.push(
      `${c.failed} failed run(s): their reasons are above (and in \`loraprof sweeps show ${o.sweepId}\`); after fixing the cause, run the same command with --rerun-failed`,
    );
  // A report needs measured runs: with none (every run failed) it would be empty.
  if (c.completed + c.oom > 0) lines.push(`report: loraprof report ${o.sweepId}`);
  return lines.join("\n");
}

/**
 * The exit code of a sweep call under the one policy: 130 when Ctrl-C stopped it, 1 when it stopped
 * otherwise or any planned run's latest outcome is a failure, else 0 (OOM rows are results).
 */
export function sweepExitCode(o: SweepOutcome, cancelled: boolean): number {
  if (cancelled) return EXIT.cancelled;
  if (o.status !== "finished" || o.counts.failed > 0) return EXIT.failed;
  return EXIT.ok;
}

function printPlan(
  prepared: PreparedSweep,
  plan: SweepPlan,
  opts: SweepCliOptions,
  jsonExtra: Record<string, unknown>,
): void {
  if (opts.json) {
    printJson({
      ...jsonExtra,
      sweepId: plan.sweepId,
      name: plan.name,
      counts: plan.counts,
      estimateSeconds: plan.estimate.seconds,
      entries: plan.entries.map((e) => ({
        key: e.key,
        label: e.label,
        groups: e.groups,
        status: e.status,
        run: plan.todo.some((t) => t.key === e.key),
        config: e.config,
      })),
    });
  } else {
    process.stdout.write(describePlan(prepared, plan) + "\n" + planTable(plan) + "\n");
  }
}

function printOutcome(
  ctx: CliContext,
  outcome: SweepOutcome,
  name: string,
  opts: SweepCliOptions,
  jsonExtra: Record<string, unknown>,
): void {
  if (opts.json) {
    printJson({
      ...jsonExtra,
      ...outcome,
      entries: listEntries(ctx.db, outcome.sweepId).map((e) => ({
        key: e.key,
        label: e.label,
        runId: e.runId,
        status: e.status,
        attempts: e.attempts,
        error: e.error,
      })),
    });
  } else process.stdout.write(renderOutcome(outcome, name) + "\n");
}

/**
 * Shared by `sweep` and `study`: plan, then run with progress, Ctrl-C handling and a summary. jsonExtra: fields
 * the caller adds to the `--json` plan or outcome (the study's fast arm).
 */
export async function executeSweepCommand(
  ctx: CliContext,
  prepare: () => PreparedSweep,
  opts: SweepCliOptions,
  jsonExtra: Record<string, unknown> = {},
): Promise<{ code: number; outcome: SweepOutcome | null }> {
  const slurm = slurmOptionsFromFlags(opts);
  // Without Slurm's commands nothing is planned or stored: the error comes first.
  if (slurm && !opts.dryRun) requireSlurmClient();
  const gpus = parseGpus(opts.gpus);
  const policy = {
    rerunFailed: Boolean(opts.rerunFailed),
    rerunOom: Boolean(opts.rerunOom),
    ...(gpus ? { gpus } : {}),
  };
  const log = (s: string) => {
    if (!opts.quiet && !opts.json) process.stderr.write(s + "\n");
  };
  if (opts.dryRun) {
    // A dry run plans inside a savepoint and rolls it back: the store is left as it was.
    await withRolledBack(ctx.db, async () => {
      const prepared = prepare();
      const plan = planSweep(ctx.db, prepared.sweep.id, policy);
      printPlan(prepared, plan, opts, jsonExtra);
      const note = opts.json ? null : await gpuNote(plan, gpus);
      if (note) process.stderr.write(pc.yellow(`note: ${note}`) + "\n");
    });
    return { code: 0, outcome: null };
  }
  const prepared = prepare();
  const plan = planSweep(ctx.db, prepared.sweep.id, policy);
  log(describePlan(prepared, plan));
  const note = opts.quiet || opts.json ? null : await gpuNote(plan, gpus);
  if (note) log(pc.yellow(`note: ${note}`));
  const progress = sweepProgress({
    quiet: Boolean(opts.quiet) || (Boolean(opts.json) && !process.stderr.isTTY),
  });
  if (slurm) {
    const { outcome, cancelled } = await executeSlurmSweep(
      ctx,
      prepared.sweep.id,
      { ...slurm, telemetry: opts.telemetry !== false },
      policy,
      progress,
      Boolean(opts.quiet) || Boolean(opts.json),
    );
    printOutcome(ctx, outcome, prepared.sweep.name, opts, jsonExtra);
    return { code: sweepExitCode(outcome, cancelled), outcome };
  }
  const onSlurm = outstandingSlurmTasks(ctx.home, prepared.sweep.id);
  if (onSlurm > 0) {
    // Running them here too would run those configurations twice.
    throw new LoraprofError(
      "FLAG_INVALID",
      `sweep ${prepared.sweep.name} has ${onSlurm} task(s) submitted to Slurm`,
      {
        problems: [
          {
            field: "--backend",
            message: "this sweep's outstanding runs are Slurm jobs",
            hint: "run the same command with --backend slurm to gather them (Ctrl-C there cancels them)",
          },
        ],
      },
    );
  }
  const interrupt = interruptible("stopping the sweep: cancelling the current run(s)");
  try {
    const outcome = await runSweep(prepared.sweep.id, {
      db: ctx.db,
      home: ctx.home,
      cacheDir: ctx.cacheDir,
      signal: interrupt.signal,
      ...policy,
      // One sampler per run, on that run's GPU: power, clocks, sampled memory, integrated energy.
      observers: () => telemetryObservers(ctx, { telemetry: opts.telemetry !== false }),
      onEvent: progress,
    });
    printOutcome(ctx, outcome, prepared.sweep.name, opts, jsonExtra);
    return { code: sweepExitCode(outcome, interrupt.signal.aborted), outcome };
  } finally {
    interrupt.dispose();
  }
}

export function registerSweep(program: Command): void {
  const cmd = program
    .command("sweep <spec>")
    .description(
      "run a sweep: SPEC is a YAML/JSON sweep file (grid, zip, runs, groups, repeats) or the id/name of a stored sweep to resume",
    );
  addSweepRunFlags(cmd).action(async (specArg: string, opts: SweepCliOptions) => {
    const overrides = setsToOverrides(opts.set);
    const ctx = openContext(opts);
    try {
      reapStaleSweeps(ctx.db);
      let prepare: () => PreparedSweep;
      if (existsSync(specArg)) {
        const spec = readSweepSpec(specArg);
        prepare = () => prepareSweep(ctx.db, spec, { overrides, fresh: Boolean(opts.fresh) });
      } else {
        if (Object.keys(overrides).length) {
          throw new LoraprofError("FLAG_INVALID", "--set needs a spec file", {
            problems: [
              {
                field: "--set",
                message: "a stored sweep resumes with the settings it was planned with",
                hint: "pass the spec file instead of the sweep id",
              },
            ],
          });
        }
        try {
          getSweep(ctx.db, specArg);
          prepare = () => reopenSweep(ctx.db, specArg);
        } catch (err) {
          if (err instanceof LoraprofError && err.code === "RUN_NOT_FOUND") {
            throw new LoraprofError("CONFIG_INVALID", `no sweep spec file or stored sweep "${specArg}"`, {
              problems: [
                {
                  field: "spec",
                  message: "not a file and not a sweep in this store",
                  hint: "pass a YAML/JSON sweep spec, or see `loraprof sweeps list`",
                },
              ],
            });
          }
          throw err;
        }
      }
      const { code } = await executeSweepCommand(ctx, prepare, opts);
      process.exitCode = code;
    } finally {
      ctx.db.close();
    }
  });

  const sweeps = program.command("sweeps").description("list and inspect stored sweeps");
  sweeps
    .command("list")
    .description("stored sweeps, newest first")
    .option("--db <path>", "run database (default .loraprof/loraprof.db)")
    .option("--json", "print JSON")
    .action((opts: { db?: string; json?: boolean }) => {
      const ctx = openContext(opts);
      try {
        reapStaleSweeps(ctx.db);
        const rows = listSweeps(ctx.db).map((s) => {
          const entries = listEntries(ctx.db, s.id);
          const counts: Record<string, number> = {};
          for (const e of entries) counts[e.status] = (counts[e.status] ?? 0) + 1;
          return {
            id: s.id,
            name: s.name,
            status: s.status,
            createdAt: s.createdAt,
            updatedAt: s.updatedAt,
            planned: entries.length,
            counts,
          };
        });
        if (opts.json) return printJson(rows);
        if (!rows.length)
          return void process.stdout.write(
            `no sweeps in ${ctx.dbPath} yet: try \`loraprof sweep SPEC\` or \`loraprof study paper\`\n`,
          );
        process.stdout.write(
          renderTable(rows, [
            { header: "id", value: (r) => r.id },
            { header: "name", value: (r) => r.name },
            { header: "status", value: (r) => statusColor(r.status === "finished" ? "completed" : r.status) },
            { header: "planned", value: (r) => String(r.planned), align: "right" },
            {
              header: "outcomes",
              value: (r) =>
                Object.entries(r.counts)
                  .map(([k, v]) => `${v} ${k}`)
                  .join(", "),
            },
            { header: "updated", value: (r) => r.updatedAt.replace("T", " ").slice(0, 19) },
          ]) + "\n",
        );
      } finally {
        ctx.db.close();
      }
    });
  sweeps
    .command("show <sweep>")
    .description("one sweep's plan and the outcome of each planned run")
    .option("--db <path>", "run database (default .loraprof/loraprof.db)")
    .option("--json", "print JSON")
    .action((id: string, opts: { db?: string; json?: boolean }) => {
      const ctx = openContext(opts);
      try {
        reapStaleSweeps(ctx.db);
        const sweep = getSweep(ctx.db, id);
        const plan = planSweep(ctx.db, sweep.id);
        if (opts.json) return printJson({ ...sweep, entries: plan.entries });
        process.stdout.write(describePlan(null, plan) + "\n" + planTable(plan) + "\n");
      } finally {
        ctx.db.close();
      }
    });
}
