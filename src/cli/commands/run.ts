import type { Command } from "commander";
import pc from "picocolors";
import type { RunConfigInput } from "../../config/schema.js";
import { PHASE_LABELS, RUN_PHASES } from "../../run/phases.js";
import { lossEdgeSteps } from "../../run/metrics.js";
import { executeRun, type RunObserver, type RunResult } from "../../run/run.js";
import type { Db } from "../../store/db.js";
import { insertTelemetrySamples } from "../../store/telemetry.js";
import { createTelemetryObserver } from "../../telemetry/observer.js";
import { EXIT, LoraprofError } from "../../util/errors.js";
import type { RunError } from "../../store/runs.js";
import { openContext, printJson } from "../context.js";
import { interruptible } from "../interrupt.js";
import { addRunFlags, runConfigFromFlags } from "../flags.js";
import { progressReporter } from "../progress.js";
import { formatBytes, formatNumber, formatSeconds, renderPairs, statusColor } from "../render.js";

/** Exit status of `run` by outcome: scripts can tell an OOM from a crash. */
export const RUN_EXIT_CODES = {
  completed: EXIT.ok,
  failed: EXIT.failed,
  oom: EXIT.oom,
  cancelled: EXIT.cancelled,
} as const;

export function registerRun(program: Command): void {
  const cmd = program
    .command("run")
    .description("fine-tune for N steps and measure it (one engine process, stored in the run database)");
  addRunFlags(cmd)
    .option("--db <path>", "run database (default .loraprof/loraprof.db)")
    .option("--json", "print one JSON object instead of tables")
    .option("-q, --quiet", "no progress output")
    .option("--no-telemetry", "do not sample the GPU with nvidia-smi during the run")
    .option(
      "--nproc-per-node <n>",
      "data-parallel ranks under torchrun (gloo on the CPU, NCCL on GPUs); global batch = batchSize × gradAccum × n",
    )
    .option(
      "--assumed-watts <watts>",
      "board power for the study's estimate method (default: the GPU catalog's)",
    )
    .action(async (opts: Record<string, unknown>) => {
      const config = runConfigFromFlags(opts);
      const code = await runAndReport(config as RunConfigInput as never, {
        db: opts["db"] as string | undefined,
        json: Boolean(opts["json"]),
        quiet: Boolean(opts["quiet"]),
        telemetry: opts["telemetry"] !== false,
        assumedWatts: parseWatts(opts["assumedWatts"]),
        nprocPerNode: parseRanks(opts["nprocPerNode"]),
      });
      process.exitCode = code;
    });
}

export function parseRanks(v: unknown): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 64) {
    throw new LoraprofError("FLAG_INVALID", "invalid --nproc-per-node", {
      problems: [
        {
          field: "--nproc-per-node",
          message: `"${String(v)}" is not a whole number of ranks between 1 and 64`,
          hint: "e.g. --nproc-per-node 2 (one rank per GPU; on the CPU, ranks share its cores)",
        },
      ],
    });
  }
  return n;
}

function parseWatts(v: unknown): number | null {
  if (v === undefined) return null;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) {
    throw new LoraprofError("FLAG_INVALID", "invalid --assumed-watts", {
      problems: [
        {
          field: "--assumed-watts",
          message: `"${String(v)}" is not a positive number of watts`,
          hint: "e.g. --assumed-watts 115",
        },
      ],
    });
  }
  return n;
}

/** The GPU sampler around each run, its samples stored at full rate. */
export function telemetryObservers(
  ctx: { db: Db },
  opts: { telemetry?: boolean; assumedWatts?: number | null },
): RunObserver[] {
  if (opts.telemetry === false) return [];
  return [
    createTelemetryObserver({
      assumedWatts: opts.assumedWatts ?? null,
      onSamples: (runId, samples) => insertTelemetrySamples(ctx.db, runId, samples),
    }),
  ];
}

export async function runAndReport(
  config: Parameters<typeof executeRun>[0],
  opts: {
    db?: string;
    json: boolean;
    quiet: boolean;
    title?: string;
    telemetry?: boolean;
    assumedWatts?: number | null;
    nprocPerNode?: number | undefined;
  },
): Promise<number> {
  const ctx = openContext({ db: opts.db });
  const interrupt = interruptible("cancelling");
  const progress = progressReporter({ quiet: opts.quiet || (opts.json && !process.stderr.isTTY) });
  try {
    if (ctx.reaped.length && !opts.json) {
      process.stderr.write(
        pc.yellow(`marked ${ctx.reaped.length} interrupted run(s) as failed: ${ctx.reaped.join(", ")}\n`),
      );
    }
    const result = await executeRun(config, {
      db: ctx.db,
      home: ctx.home,
      cacheDir: ctx.cacheDir,
      signal: interrupt.signal,
      onProgress: progress.onProgress,
      observers: telemetryObservers(ctx, opts),
      ...(opts.nprocPerNode ? { nprocPerNode: opts.nprocPerNode } : {}),
    });
    progress.stop();
    if (opts.json) printJson(runResultJson(result));
    else process.stdout.write(renderRunResult(result, opts.title) + "\n");
    return RUN_EXIT_CODES[result.status];
  } finally {
    progress.stop();
    interrupt.dispose();
    ctx.db.close();
  }
}

export function runResultJson(r: RunResult): Record<string, unknown> {
  return {
    id: r.id,
    status: r.status,
    config: r.config,
    metrics: r.metrics,
    ...(r.error ? { error: r.error } : {}),
    environment: r.environment,
    loaded: r.loaded,
    data: r.data,
  };
}

export function renderError(e: RunError): string {
  const lines = [pc.red(`${e.kind}: ${e.message}`)];
  if (e.hint) lines.push(`fix: ${e.hint}`);
  if (e.memory) {
    const m = Object.entries(e.memory)
      .filter(([, v]) => v !== null)
      .map(([k, v]) => `${k} ${formatBytes(v as number)}`);
    if (m.length) lines.push(`memory at failure: ${m.join(", ")}`);
  }
  if (e.stderrTail)
    lines.push(pc.dim("engine stderr (tail):"), pc.dim(e.stderrTail.split("\n").slice(-20).join("\n")));
  return lines.join("\n");
}

export function renderRunResult(r: RunResult, title?: string): string {
  const m = r.metrics;
  const c = r.config;
  const env = r.environment;
  const head = `${title ?? "run"} ${pc.bold(r.id)}: ${statusColor(r.status)}`;
  const pairs: [string, string][] = [
    ["model", `${c.model} (${c.weights} weights, ${c.method}, ${c.precision})`],
    [
      "device",
      env
        ? `${env.device.name}${env.device.kind === "cpu" ? ` (${env.device.cpuThreads} threads)` : ""}` +
          (env.hostOpSeconds ? `; host ${(env.hostOpSeconds * 1e6).toFixed(2)} µs per small op` : "")
        : c.device,
    ],
    [
      "shape",
      `batch ${c.batchSize} × grad-accum ${c.gradAccum}, seq ≤ ${c.seqLen}, padding ${c.padding}${c.gradCheckpointing ? ", grad checkpointing" : ""}`,
    ],
    [
      "optimizer",
      `${c.optimizer.name}, lr ${c.optimizer.lr}, LoRA r=${c.lora.r} α=${c.lora.alpha} dropout ${c.lora.dropout}`,
    ],
    [
      "data",
      `${c.dataset} (${r.data.records} records, mean ${formatNumber(r.data.meanTokens)} tokens, format ${r.data.format}, template ${r.data.template})`,
    ],
  ];
  if (m) {
    pairs.push(
      [
        "real tokens/s",
        `${pc.bold(formatNumber(m.realTokensPerSecond))}  (processed ${formatNumber(m.processedTokensPerSecond)}, label ${formatNumber(m.labelTokensPerSecond)}; padding ${formatNumber((m.paddingFraction ?? 0) * 100, 0)}%)`,
      ],
      ["s / 10k real tokens", formatNumber(m.secondsPer10kRealTokens, 2)],
      [
        "measured window",
        `${m.measuredSteps} steps in ${formatSeconds(m.measuredSeconds)} (median step ${formatSeconds(m.stepSecondsMedian)}), ${c.warmupSteps} warmup steps excluded`,
      ],
      [
        "peak memory",
        [m.peakAllocatedBytes, m.peakReservedBytes, m.peakProcessBytes, m.peakDeviceBytes].every(
          (v) => v === null,
        )
          ? "not measured on the CPU (the four figures are the CUDA allocator's and NVML's)"
          : `allocated ${formatBytes(m.peakAllocatedBytes)}, reserved ${formatBytes(m.peakReservedBytes)}, process ${formatBytes(m.peakProcessBytes)}, device ${formatBytes(m.peakDeviceBytes)}`,
      ],
      [
        "engine start",
        env?.startupSeconds && r.loaded
          ? `imports ${formatSeconds(env.startupSeconds.imports)}, device ${formatSeconds(env.startupSeconds.device)}, model load ${formatSeconds(r.loaded.loadSeconds)} (outside the measured window)`
          : "—",
      ],
      ["wall time", renderPhases(m.phases, m.measuredSeconds)],
      [
        "loss",
        m.lossFirst === null || m.lossLast === null
          ? "— (under 2 steps: nothing to compare)"
          : `${formatNumber(m.lossFirst, 3)} → ${formatNumber(m.lossLast, 3)} (mean of first/last ${lossEdgeSteps(c.steps)} step${lossEdgeSteps(c.steps) === 1 ? "" : "s"}${c.weights === "random" ? "; random weights: not meaningful as quality" : ""})`,
      ],
    );
    if (m.energyJoules !== null) {
      pairs.push([
        "energy",
        `${formatNumber(m.energyJoules)} J over the window, ${formatNumber(m.joulesPerRealToken, 4)} J/real token, ` +
          `${formatNumber(m.averagePowerWatts)} W average` +
          (m.paperMethodJoulesPerToken
            ? ` (study's estimate method: ${formatNumber(m.paperMethodJoulesPerToken, 4)} J/token)`
            : ""),
      ]);
    }
    if (m.mfu !== null && m.mfu !== undefined) {
      pairs.push(["MFU / HFU", `${formatNumber(m.mfu * 100)}% / ${formatNumber((m.hfu ?? 0) * 100)}%`]);
    }
    const reasons = Object.entries(m.nullReasons ?? {});
    // On the CPU every GPU figure is absent for the same reason, said once in the memory line.
    if (reasons.length && c.device !== "cpu")
      pairs.push(["not measured", reasons.map(([k, v]) => `${k}: ${v}`).join("; ")]);
  }
  const out = [head, renderPairs(pairs)];
  if (m?.warnings?.length) out.push(...m.warnings.map((w) => pc.yellow(`warning: ${w}`)));
  if (r.error) out.push(renderError(r.error));
  return out.join("\n");
}

/** `41.2 s: data and setup 0.4 s, telemetry baseline 2.0 s, …, steps 4.1 s (measured window 2.0 s), …`. */
export function renderPhases(
  phases: Record<string, number> | undefined,
  measuredSeconds: number | null | undefined,
): string {
  if (!phases || phases["total"] === undefined) return "— (not recorded by this run's loraprof)";
  const parts = RUN_PHASES.filter((p) => phases[p] !== undefined).map(
    (p) =>
      `${PHASE_LABELS[p]} ${formatSeconds(phases[p]!)}` +
      (p === "training" && measuredSeconds !== null
        ? ` (measured window ${formatSeconds(measuredSeconds)})`
        : ""),
  );
  return `${formatSeconds(phases["total"])} in all: ${parts.join(", ")}`;
}
