/**
 * `loraprof tune`: plan every configuration of the search space (`plan --fit`'s recommender), run
 * the top K that fit for a few steps each on this machine, store them as a sweep, and write the
 * fastest measured configuration as a config file for `run --config`.
 */
import type { Command } from "commander";
import { writeFileSync } from "node:fs";
import pc from "picocolors";
import { stringify } from "yaml";
import type { Candidate, RecommendSpace } from "../../plan/index.js";
import {
  DEFAULT_TUNE_TOP,
  TUNE_STEPS,
  TUNE_WARMUP_STEPS,
  pickCandidates,
  tuneSweepSpec,
  tuneWinner,
  winningConfig,
  type TuneCandidate,
  type TuneResult,
} from "../../sweep/tune.js";
import {
  LOSS_IMPLEMENTATIONS,
  OPTIMIZERS,
  PADDING_MODES,
  PRECISIONS,
  RECIPES,
} from "../../protocol/index.js";
import { LoraprofError } from "../../util/errors.js";
import { openContext, printJson } from "../context.js";
import { addRunFlags } from "../flags.js";
import { interruptible } from "../interrupt.js";
import { formatBytes, formatNumber, formatSeconds, renderTable } from "../render.js";
import { leftOutLine, planRequestFromFlags, resolvePlanGpu } from "./plan.js";
import { telemetryObservers } from "./run.js";
import { sweepExitCode, sweepProgress } from "./sweep.js";

function listFlag<T extends string>(raw: unknown, flag: string, allowed: readonly T[]): T[] | undefined {
  if (typeof raw !== "string") return undefined;
  const parts = raw
    .split(",")
    .map((p) => p.trim())
    .filter(Boolean);
  const bad = parts.filter((p) => !allowed.includes(p as T));
  if (!parts.length || bad.length) {
    throw new LoraprofError("FLAG_INVALID", `invalid ${flag}`, {
      problems: [
        {
          field: flag,
          message: `"${raw}" is not a list of ${allowed.join("|")}`,
          hint: `e.g. ${flag} ${allowed.slice(0, 2).join(",")}`,
        },
      ],
    });
  }
  return parts as T[];
}

function intFlag(raw: unknown, flag: string, fallback: number): number {
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < 1) {
    throw new LoraprofError("FLAG_INVALID", `invalid ${flag}`, {
      problems: [
        { field: flag, message: `"${String(raw)}" is not a positive whole number`, hint: `e.g. ${flag} 4` },
      ],
    });
  }
  return v;
}

/** The search space from --recipes, --paddings, --losses, --checkpointing, --offload, --optimizers, --precisions, --batch-sizes. */
export function spaceFromFlags(opts: Record<string, unknown>): Partial<RecommendSpace> {
  const space: Partial<RecommendSpace> = {};
  const recipes = listFlag(opts["recipes"], "--recipes", RECIPES);
  if (recipes) space.recipes = recipes;
  const paddings = listFlag(opts["paddings"], "--paddings", PADDING_MODES);
  if (paddings) space.paddings = paddings;
  const losses = listFlag(opts["losses"], "--losses", LOSS_IMPLEMENTATIONS);
  if (losses) space.losses = losses;
  const ckpt = listFlag(opts["checkpointing"], "--checkpointing", ["on", "off"] as const);
  if (ckpt) space.gradCheckpointing = ckpt.map((c) => c === "on");
  const offload = listFlag(opts["offload"], "--offload", ["on", "off"] as const);
  if (offload) space.offloadActivations = offload.map((c) => c === "on");
  const optimizers = listFlag(opts["optimizers"], "--optimizers", OPTIMIZERS);
  if (optimizers) space.optimizers = optimizers;
  const precisions = listFlag(opts["precisions"], "--precisions", PRECISIONS);
  if (precisions) space.precisions = precisions;
  if (typeof opts["batchSizes"] === "string") {
    const sizes = opts["batchSizes"].split(",").map((s) => Number(s.trim()));
    if (!sizes.length || sizes.some((n) => !Number.isInteger(n) || n < 1)) {
      throw new LoraprofError("FLAG_INVALID", "invalid --batch-sizes", {
        problems: [
          {
            field: "--batch-sizes",
            message: `"${opts["batchSizes"]}" is not a list of batch sizes`,
            hint: "e.g. --batch-sizes 1,2,4,8",
          },
        ],
      });
    }
    space.batchSizes = sizes;
  }
  return space;
}

export function addSpaceFlags(cmd: Command): Command {
  return cmd
    .option("--recipes <list>", "recipes to search (default reference,fast)")
    .option("--paddings <list>", "reference-recipe paddings to search (default longest,max_length,packed)")
    .option("--losses <list>", "reference-recipe losses to search (default full,chunked)")
    .option("--checkpointing <list>", "gradient checkpointing to search: on,off (default both)")
    .option("--offload <list>", "activation offload to search, under checkpointing: on,off (default both)")
    .option("--optimizers <list>", "optimizers to search (default all five)")
    .option("--precisions <list>", "precisions to search (default bf16,fp16; bf16 only where supported)")
    .option("--batch-sizes <list>", "batch sizes to search (default 1,2,4,8,16,32,64)");
}

export function registerTune(program: Command): void {
  const cmd = program
    .command("tune")
    .description(
      "measure the planner's fastest candidates that fit (a few steps each, stored as a sweep) and write the winner as a config file",
    );
  addSpaceFlags(
    // The run flags describe the user's run; the search changes only what `plan --fit` searches.
    addRunFlags(cmd)
      .option("--gpu <name>", "GPU to plan for: a catalog id, custom (with --gpu-memory), or auto (default)")
      .option("--gpu-memory <size>", "with --gpu custom: the card's memory, e.g. 12GiB")
      .option("--gpu-tflops <n>", "with --gpu custom: dense FP16/BF16 tensor TFLOP/s")
      .option("--gpu-bandwidth <GB/s>", "with --gpu custom: memory bandwidth")
      .option(
        "--host-speed <factor>",
        "host seconds per operation relative to the H200 machine's (default 1)",
      ),
  )
    .option("--top <k>", `candidates to measure (default ${DEFAULT_TUNE_TOP})`)
    .option("--all", "measure every candidate of the space, fitting or not (an exhaustive sweep)")
    .option("--tune-steps <n>", `optimizer steps per candidate, warmup included (default ${TUNE_STEPS})`)
    .option("--tune-warmup-steps <n>", `warmup steps per candidate (default ${TUNE_WARMUP_STEPS})`)
    .option("--out <file>", "config file for the winner (default tuned.yaml; .json writes JSON)")
    .option("--name <name>", "sweep name (default tune-<date>)")
    .option("--no-telemetry", "do not sample the GPUs with nvidia-smi during the runs")
    .option("--db <path>", "run database (default .loraprof/loraprof.db)")
    .option("-q, --quiet", "no progress output")
    .option("--json", "print one JSON object")
    .action(async (opts: Record<string, unknown>) => {
      process.exitCode = await tuneCommand(opts);
    });
}

async function tuneCommand(opts: Record<string, unknown>): Promise<number> {
  const started = Date.now();
  const req = planRequestFromFlags(opts);
  const space = spaceFromFlags(opts);
  const top = intFlag(opts["top"], "--top", DEFAULT_TUNE_TOP);
  const steps = intFlag(opts["tuneSteps"], "--tune-steps", TUNE_STEPS);
  const warmupSteps =
    opts["tuneWarmupSteps"] === undefined
      ? Math.min(TUNE_WARMUP_STEPS, steps - 1)
      : Number(opts["tuneWarmupSteps"]);
  if (!Number.isInteger(warmupSteps) || warmupSteps < 0 || warmupSteps >= steps) {
    throw new LoraprofError("FLAG_INVALID", "invalid --tune-warmup-steps", {
      problems: [
        {
          field: "--tune-warmup-steps",
          message: `must be a whole number below --tune-steps (${steps})`,
          hint: "e.g. --tune-warmup-steps 2",
        },
      ],
    });
  }
  const gpu = await resolvePlanGpu(req.gpu, req.config.device, req.custom);
  const plan = await import("../../plan/index.js");
  const { planForConfig, loadCalibration, calibrationsPath } = plan;
  const ctx = openContext({ ...(typeof opts["db"] === "string" ? { db: opts["db"] } : {}) });
  try {
    const planned = await planForConfig(req.config, {
      gpu,
      cacheDir: ctx.cacheDir,
      user: loadCalibration(calibrationsPath(ctx.dbPath), gpu.id),
      ...(req.hostSpeedFactor !== undefined ? { hostSpeedFactor: req.hostSpeedFactor } : {}),
      fit: true,
      space,
      recipeFields: req.recipeFields,
      ...(opts["all"] ? { includeUnfit: true } : {}),
    });
    const rec = planned.recommendation!;
    const cpu = await runsOnCpu(req.config.device);
    const pool: Candidate[] = rec.ranked;
    const candidates = pickCandidates(req.config, pool, opts["all"] ? Number.MAX_SAFE_INTEGER : top, { cpu });
    if (!candidates.length) {
      throw new LoraprofError("CONFIG_INVALID", "no candidate to measure", {
        problems: [
          {
            field: "search space",
            message: `${rec.considered} planned, ${rec.considered - rec.rejected} fit with ${Math.round(rec.marginFraction * 100)}% to spare${cpu ? ", none of them runs on the CPU" : ""}`,
            hint: "widen the space (e.g. --batch-sizes 1,2), shorten --seq-len, or plan for a larger --gpu",
          },
        ],
      });
    }
    const { prepareSweep, runSweep } = await import("../../sweep/run.js");
    const { listEntries } = await import("../../sweep/store.js");
    const { getRun } = await import("../../store/runs.js");
    const name =
      typeof opts["name"] === "string"
        ? opts["name"]
        : `tune-${new Date().toISOString().replace(/[:.]/g, "-").slice(0, 19)}`;
    const spec = tuneSweepSpec(name, req.config, candidates);
    const prepared = prepareSweep(ctx.db, spec, {
      overrides: { steps, warmupSteps, logEverySteps: Math.min(req.config.logEverySteps, steps) },
      fresh: typeof opts["name"] !== "string",
    });
    const quiet = Boolean(opts["quiet"]) || Boolean(opts["json"]);
    const leftOut = leftOutLine(rec);
    if (!quiet)
      process.stderr.write(
        renderCandidates(candidates, gpu.name, steps) + (leftOut ? `\n${leftOut}` : "") + "\n",
      );
    const interrupt = interruptible("stopping the tune: cancelling the current run");
    let outcome;
    try {
      outcome = await runSweep(prepared.sweep.id, {
        db: ctx.db,
        home: ctx.home,
        cacheDir: ctx.cacheDir,
        signal: interrupt.signal,
        observers: () => telemetryObservers(ctx, { telemetry: opts["telemetry"] !== false }),
        onEvent: sweepProgress({ quiet }),
      });
    } finally {
      interrupt.dispose();
    }
    const entries = listEntries(ctx.db, prepared.sweep.id);
    const results: TuneResult[] = candidates.map((c, i) => {
      const e = entries[i];
      const run = e?.runId ? getRun(ctx.db, e.runId) : null;
      const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : null);
      return {
        rank: c.rank,
        settings: c.settings,
        predictedRealTokensPerSecond: c.candidate.realTokensPerSecond,
        predictedDevicePeakBytes: c.candidate.devicePeakBytes,
        status: e?.status ?? "pending",
        runId: e?.runId ?? null,
        measuredRealTokensPerSecond: num(run?.metrics?.realTokensPerSecond),
        measuredDevicePeakBytes: num(run?.metrics?.peakDeviceBytes),
      };
    });
    const winner = tuneWinner(results);
    const out = typeof opts["out"] === "string" ? opts["out"] : "tuned.yaml";
    if (winner) {
      const config = winningConfig(req.config, winner);
      writeFileSync(out, out.endsWith(".json") ? JSON.stringify(config, null, 2) + "\n" : stringify(config));
    }
    const wallSeconds = (Date.now() - started) / 1000;
    if (opts["json"]) {
      printJson({
        sweepId: prepared.sweep.id,
        name,
        gpu: gpu.id,
        considered: rec.considered,
        fitting: rec.considered - rec.rejected,
        leftOut: rec.leftOut,
        results,
        winner,
        configPath: winner ? out : null,
        wallSeconds,
      });
    } else {
      process.stdout.write(renderResults(results, winner, winner ? out : null, name, wallSeconds) + "\n");
    }
    if (!winner) return 1;
    return sweepExitCode(outcome, interrupt.signal.aborted) === 130 ? 130 : 0;
  } finally {
    ctx.db.close();
  }
}

async function runsOnCpu(device: string): Promise<boolean> {
  if (device === "cpu") return true;
  if (device.startsWith("cuda")) return false;
  const { listGpus } = await import("../../util/gpu.js");
  const found = await listGpus();
  return !(found.ok && found.gpus.length > 0);
}

const settingsText = (s: Record<string, unknown>) =>
  `${String(s["recipe"])}, ${String(s["padding"])}, loss ${String(s["loss"])}, ckpt ${s["offloadActivations"] ? "offload" : s["gradCheckpointing"] ? "on" : "off"}, ${String((s["optimizer"] as { name: string }).name)}, ${String(s["precision"])}, batch ${String(s["batchSize"])}${dropoutText(s)}`;

/** A candidate's LoRA dropout where it has one (settingsToConfig writes it). */
const dropoutText = (s: Record<string, unknown>) => {
  const dropout = (s["lora"] as { dropout?: number } | undefined)?.dropout;
  return dropout === undefined ? "" : `, dropout ${dropout}`;
};

function renderCandidates(c: readonly TuneCandidate[], gpuName: string, steps: number): string {
  return `tune: measuring the planner's top ${c.length} for ${gpuName} (${steps} steps each):\n${c
    .map(
      (x) =>
        `  #${x.rank} ${settingsText(x.settings)} — predicted ${formatNumber(x.candidate.realTokensPerSecond)} tok/s, ${formatBytes(x.candidate.devicePeakBytes)}`,
    )
    .join("\n")}`;
}

function renderResults(
  results: readonly TuneResult[],
  winner: TuneResult | null,
  path: string | null,
  name: string,
  wallSeconds: number,
): string {
  const table = renderTable(
    [...results],
    [
      { header: "plan #", value: (r) => String(r.rank), align: "right" },
      { header: "settings", value: (r) => settingsText(r.settings) },
      {
        header: "predicted tok/s",
        value: (r) => formatNumber(r.predictedRealTokensPerSecond),
        align: "right",
      },
      { header: "measured tok/s", value: (r) => formatNumber(r.measuredRealTokensPerSecond), align: "right" },
      { header: "device peak", value: (r) => formatBytes(r.measuredDevicePeakBytes), align: "right" },
      { header: "outcome", value: (r) => (r === winner ? pc.green(pc.bold("winner")) : r.status) },
    ],
  );
  const tail = winner
    ? `wrote ${pc.bold(path!)}: \`loraprof run --config ${path}\` runs the winner (${formatNumber(winner.measuredRealTokensPerSecond)} real tokens/s measured)`
    : pc.red("no candidate completed: nothing written");
  return `${table}\nsweep ${name}: ${formatSeconds(wallSeconds)} in all\n${tail}`;
}
