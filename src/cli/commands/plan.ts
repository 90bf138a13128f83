/**
 * `loraprof plan`: will this run fit, and how fast will it go, on a catalogued GPU — predicted from
 * the config alone (same flags and config files as `run`), nothing run. `plan --fit` searches
 * batch × sequence; `plan calibrate` fits the planner's constants to the runs in the store.
 *
 * The planner and the data stage are imported when the command runs, not when the CLI starts: a
 * plan from published length facts must answer in well under a second.
 */
import type { Command } from "commander";
import pc from "picocolors";
import type { RunConfig } from "../../config/schema.js";
import type { RecipeFields } from "../../config/load.js";
import type { Recipe } from "../../protocol/index.js";
import type { GpuEntry } from "../../catalog/gpus.js";
import type {
  CalibrateFromRunsResult,
  Candidate,
  ConstantsSource,
  ConfigPlan,
  FitSearchResult,
  PlanInput,
  Recommendation,
  PlannerConstants,
  SavedCalibration,
} from "../../plan/index.js";
import { cacheDir, defaultDbPath } from "../../util/paths.js";
import { LoraprofError } from "../../util/errors.js";
import { printJson } from "../context.js";
import { parseRanks } from "./run.js";
import { renderRanks } from "./plan-ranks.js";
import { addRunFlags, recipeFieldsFromFlags, runConfigFromFlags } from "../flags.js";
import { formatBytes, formatNumber, formatSeconds, renderPairs, renderTable } from "../render.js";

export interface PlanRequest {
  config: RunConfig;
  /** A catalog id, board or nvidia-smi name, or "auto". */
  gpu: string;
  dbPath: string;
  json: boolean;
  fit: boolean;
  /** `--gpu custom` card description. */
  custom: { memory?: string; tflops?: string; bandwidth?: string };
  /** `--host-speed`: host seconds per operation relative to the H200 machine's (transferred calibrations). */
  hostSpeedFactor?: number;
  /** Each recipe's LoRA dropout and cuDNN attention for these flags (the recommender's candidates). */
  recipeFields: Record<Recipe, RecipeFields>;
}

/** Parsed flags → the plan request: the config resolved exactly as `run` resolves it. */
export function planRequestFromFlags(opts: Record<string, unknown>): PlanRequest {
  const config = runConfigFromFlags(opts);
  return {
    config,
    recipeFields: recipeFieldsFromFlags(opts),
    gpu: typeof opts["gpu"] === "string" && opts["gpu"].trim() ? opts["gpu"].trim() : "auto",
    dbPath: typeof opts["db"] === "string" ? opts["db"] : defaultDbPath(),
    json: Boolean(opts["json"]),
    fit: Boolean(opts["fit"]),
    ...(opts["hostSpeed"] !== undefined ? { hostSpeedFactor: hostSpeedFrom(opts["hostSpeed"]) } : {}),
    custom: {
      ...(typeof opts["gpuMemory"] === "string" ? { memory: opts["gpuMemory"] } : {}),
      ...(typeof opts["gpuTflops"] === "string" ? { tflops: opts["gpuTflops"] } : {}),
      ...(typeof opts["gpuBandwidth"] === "string" ? { bandwidth: opts["gpuBandwidth"] } : {}),
    },
  };
}

function hostSpeedFrom(raw: unknown): number {
  const v = Number(raw);
  if (!Number.isFinite(v) || v <= 0) {
    throw new LoraprofError("FLAG_INVALID", `--host-speed: "${String(raw)}" is not a positive number`, {
      problems: [
        {
          field: "--host-speed",
          message: "expected the host's seconds per operation relative to the H200 machine's",
          hint: "e.g. --host-speed 1.5 for a host 1.5× slower per launched operation",
        },
      ],
    });
  }
  return v;
}

/** `--gpu NAME|auto` → a catalog GPU (auto asks nvidia-smi for the GPU the run's device names). */
export async function resolvePlanGpu(
  name: string,
  device: string,
  custom: PlanRequest["custom"] = {},
): Promise<GpuEntry> {
  const { requirePlanGpu, gpuFromProbe, customGpu } = await import("../../plan/index.js");
  if (name.toLowerCase() === "custom") return customGpu(custom);
  if (name.toLowerCase() !== "auto") return requirePlanGpu(name);
  const { listGpus } = await import("../../util/gpu.js");
  return gpuFromProbe(await listGpus(), device);
}

export function registerPlan(program: Command): void {
  const cmd = program
    .command("plan")
    .description("predict peak memory, fit and speed of a run on a GPU, without running it");
  addRunFlags(cmd)
    .option(
      "--gpu <name>",
      "GPU to plan for: a catalog id (e.g. rtx-4060, h200), custom (with --gpu-memory), or auto, this machine's (default)",
    )
    .option("--gpu-memory <size>", "with --gpu custom: the card's memory, e.g. 12GiB")
    .option("--gpu-tflops <n>", "with --gpu custom: dense FP16/BF16 tensor TFLOP/s (default: the T4's)")
    .option("--gpu-bandwidth <GB/s>", "with --gpu custom: memory bandwidth, e.g. 448GB/s (default: the T4's)")
    .option(
      "--fit",
      "search batch × sequence for the largest that fits and the fastest per optimizer and precision",
    )
    .option(
      "--nproc-per-node <n>",
      "also predict each of N data-parallel ranks' memory and the speed-up (as `run --nproc-per-node`)",
    )
    .option(
      "--host-speed <factor>",
      "for GPUs without a calibration: host seconds per operation relative to the H200 machine's (default 1)",
    )
    .option("--db <path>", "run store whose calibrations to use (default .loraprof/loraprof.db)")
    .option("--json", "print one JSON object instead of tables")
    .action(async (opts: Record<string, unknown>) => {
      const ranks = parseRanks(opts["nprocPerNode"]);
      const req = planRequestFromFlags(opts);
      const gpu = await resolvePlanGpu(req.gpu, req.config.device, req.custom);
      const { planForConfig, loadCalibration, calibrationsPath } = await import("../../plan/index.js");
      const path = calibrationsPath(req.dbPath);
      const saved = loadCalibration(path, gpu.id);
      const plan = await planForConfig(req.config, {
        gpu,
        cacheDir: cacheDir(),
        user: saved,
        ...(req.hostSpeedFactor !== undefined ? { hostSpeedFactor: req.hostSpeedFactor } : {}),
        fit: req.fit,
        recipeFields: req.recipeFields,
        ...(ranks !== undefined ? { ranks } : {}),
      });
      const { planRanks } = await import("../../plan/ranks.js");
      const rankPlan =
        ranks === undefined ? null : planRanks(plan.input, plan.result.memory, plan.result.throughput, ranks);
      if (req.json) printJson({ ...planJson(plan, saved, path), ...(rankPlan ? { ranks: rankPlan } : {}) });
      else {
        const out = [renderPlan(plan, saved, path)];
        if (rankPlan) out.push("", renderRanks(rankPlan));
        if (plan.fit) out.push("", renderFit(plan.fit, plan.input));
        if (plan.recommendation) out.push("", renderRecommendation(plan.recommendation, plan.input));
        process.stdout.write(out.join("\n") + "\n");
      }
    });

  cmd
    .command("calibrate")
    .description("fit the planner's constants to the completed and OOM runs in the store, for one GPU")
    .option("--gpu <name>", "GPU whose runs to fit (default: the only GPU in the store)")
    .option("--db <path>", "run store (default .loraprof/loraprof.db); the calibration is saved beside it")
    .option("--json", "print one JSON object instead of tables")
    .action(async (_opts: unknown, sub: Command) => {
      // The root program parses options wherever they stand, so `plan calibrate --gpu X` may hand
      // --gpu, --db and --json to `plan`: read them with the parent's.
      const opts = sub.optsWithGlobals<{ gpu?: string; db?: string; json?: boolean }>();
      const plan = await import("../../plan/index.js");
      const { openContext } = await import("../context.js");
      const { listRuns } = await import("../../store/runs.js");
      const gpu = opts.gpu ? plan.requirePlanGpu(opts.gpu) : null;
      const ctx = openContext({ db: opts.db });
      let result: CalibrateFromRunsResult;
      try {
        const runs = listRuns(ctx.db).filter((r) => r.status === "completed" || r.status === "oom");
        result = await plan.calibrateFromRuns(runs, { gpu, cacheDir: ctx.cacheDir });
      } finally {
        ctx.db.close();
      }
      const saved: SavedCalibration = {
        gpuId: result.gpu.id,
        gpuName: result.gpu.name,
        createdAt: new Date().toISOString(),
        runIds: result.used.map((u) => u.id),
        calibration: result.calibration,
        heldOut: result.heldOut
          ? { method: result.heldOut.method, error: result.heldOut.validation.heldOut.error }
          : null,
      };
      const path = plan.calibrationsPath(ctx.dbPath);
      plan.saveCalibration(path, saved);
      if (opts.json) printJson({ ...saved, path, used: result.used, skipped: result.skipped });
      else process.stdout.write(renderCalibration(result, saved, path) + "\n");
    });
}

// ---- renderers (pure: data → text) ------------------------------------------------------------

function shapeLine(input: PlanInput): string {
  return (
    `batch ${input.batchSize} × grad-accum ${input.gradAccum}, seq ≤ ${input.seqLen}, padding ${input.padding}` +
    (input.gradCheckpointing ? ", grad checkpointing" : "")
  );
}

function methodLine(input: PlanInput): string {
  const q = input.quant ? ` ${input.quant.type}${input.quant.doubleQuant ? "+double-quant" : ""}` : "";
  return `${input.method}${q}, ${input.precision}, LoRA r=${input.lora.r} on ${
    input.lora.targetModules === "all-linear" ? "all-linear" : input.lora.targetModules.join(",")
  }, ${input.optimizer}`;
}

export function calibrationLine(saved: SavedCalibration | null, path: string): string {
  if (!saved)
    return `uncalibrated defaults (no calibration for this GPU in ${path}; see \`loraprof plan calibrate\`)`;
  const c = saved.calibration;
  const oom = c.oomRuns ? ` + ${c.oomRuns} OOM run${c.oomRuns === 1 ? "" : "s"}` : "";
  const held = saved.heldOut?.error.realTokensPerSecond;
  const heldMem = saved.heldOut?.error.devicePeakBytes;
  const err =
    held || heldMem
      ? `; held-out error (${saved.heldOut!.method}): device peak ${heldMem ? `median ${formatNumber(heldMem.medianAbsPct)}%` : "—"}, tokens/s ${held ? `median ${formatNumber(held.medianAbsPct)}%` : "—"}`
      : "";
  return `calibrated from ${c.runs} run${c.runs === 1 ? "" : "s"}${oom} (${saved.createdAt.slice(0, 10)})${err}`;
}

/** Where the constants came from: the user's calibration (with its held-out error), or the shipped/transferred/default source. */
export function sourceLine(source: ConstantsSource, saved: SavedCalibration | null, path: string): string {
  if (source.kind === "user" && saved) return `user calibration: ${calibrationLine(saved, path)}`;
  return [source.label, ...source.notes.map((n) => pc.dim(n))].join("; ");
}

export function renderPlan(plan: ConfigPlan, saved: SavedCalibration | null, path: string): string {
  const { result, input, gpu } = plan;
  const m = result.memory;
  const head = `plan ${pc.bold(plan.model.id)} on ${pc.bold(gpu.name)} (${formatBytes(gpu.nvmlTotalBytes ?? gpu.memoryBytes)})`;
  const pairs: [string, string][] = [
    ["shape", shapeLine(input)],
    ["method", methodLine(input)],
    ["lengths", plan.lengths.description],
  ];
  const table = renderTable(m.breakdown, [
    { header: "memory at the peak", value: (i) => i.name },
    { header: "size", value: (i) => formatBytes(i.bytes), align: "right" },
    { header: "seen by", value: (i) => (i.counted === "allocator" ? "allocator" : "NVML only") },
    { header: "note", value: (i) => pc.dim(i.note) },
  ]);
  const totals = renderPairs([
    [
      "allocator peak",
      `${formatBytes(m.allocatorPeakBytes)} (at the ${m.peakPhase === "loss" ? "loss" : "backward of one layer"})`,
    ],
    ["reserved peak", formatBytes(m.allocatorReservedPeakBytes)],
    ["device peak", pc.bold(formatBytes(m.devicePeakBytes))],
  ]);
  const out = [head, renderPairs(pairs), "", table, totals, ""];
  const f = result.fits;
  if (f) {
    const limit = `${formatBytes(f.limitBytes)} (${f.limitSource === "budget" ? "--vram-budget" : `${gpu.id}'s memory`})`;
    out.push(
      `${pc.dim("verdict")}  ` +
        (f.verdict
          ? `${pc.green(pc.bold("fits"))}: device peak ${formatBytes(m.devicePeakBytes)} ≤ ${limit}, margin ${formatBytes(f.marginBytes)}`
          : `${pc.red(pc.bold("does not fit"))}: device peak ${formatBytes(m.devicePeakBytes)} > ${limit}, short by ${formatBytes(-f.marginBytes)}`),
    );
    if (f.tight)
      out.push(
        `${pc.yellow("close to the line")}: the predicted peak is within the planner's device-peak error of the limit, so it may go either way; a short run settles it (loraprof run --steps 8, or loraprof tune)`,
      );
  }
  const t = result.throughput;
  if (t) {
    out.push(
      renderPairs([
        [
          "speed",
          `${pc.bold(formatNumber(t.realTokensPerSecond))} real tokens/s, ${formatNumber(t.processedTokensPerSecond)} processed tokens/s ` +
            `(${t.bound}-bound; step ${formatSeconds(t.stepSeconds)}, ${formatNumber(t.realTokensPerMicroStep, 0)} real of ${formatNumber(t.processedTokensPerMicroStep, 0)} tokens per micro-batch)`,
        ],
        ["s / 10k real tokens", formatNumber(t.secondsPer10kRealTokens, 1)],
        ["J / real token", `${formatNumber(t.energy.joulesPerRealToken, 3)} (${t.energy.method})`],
        ["MFU", `${formatNumber(t.mfu * 100)}%`],
        [
          "interval",
          result.speedInterval
            ? `${formatNumber(result.speedInterval.low)}–${formatNumber(result.speedInterval.high)} real tokens/s (×${formatNumber(result.constantsSource.speedFactor, 2)} either way` +
              (result.speedInterval.hostSpread
                ? `; the step waits on the host, and hosts of one GPU kind differ up to ×${result.speedInterval.hostSpread})`
                : ")")
            : "—",
        ],
        ["constants", sourceLine(result.constantsSource, saved, path)],
      ]),
    );
  } else {
    out.push(renderPairs([["constants", sourceLine(result.constantsSource, saved, path)]]));
  }
  // The record lengths are on their own line above; the JSON keeps them among the assumptions.
  const assumptions = result.assumptions.filter((a) => !a.startsWith("record lengths:"));
  out.push("", pc.dim("assumptions:"), ...assumptions.map((a) => pc.dim(`  - ${a}`)));
  return out.join("\n");
}

export function renderFit(fit: FitSearchResult, input: PlanInput): string {
  const limit = `${formatBytes(fit.limitBytes)} (${fit.limitSource === "budget" ? "--vram-budget" : "the GPU's memory"})`;
  const out: string[] = [pc.bold(`fit search under ${limit}`)];
  out.push(
    `largest batch that fits, by sequence length (${input.optimizer}, ${input.precision}, ${input.padding} padding):`,
  );
  out.push(
    renderTable(fit.grid, [
      { header: "seq", value: (r) => String(r.seqLen), align: "right" },
      {
        header: "largest batch",
        value: (r) => (r.largestBatchSize === null ? pc.red("none") : String(r.largestBatchSize)),
        align: "right",
      },
      { header: "device peak", value: (r) => formatBytes(r.devicePeakBytes), align: "right" },
    ]),
  );
  if (fit.largest) {
    out.push(
      `largest: batch ${fit.largest.batchSize} × seq ${fit.largest.seqLen} (${formatNumber(fit.largest.tokensPerMicroBatch, 0)} tokens per micro-batch, ` +
        `${formatBytes(fit.largest.devicePeakBytes)}, margin ${formatBytes(fit.largest.marginBytes)}` +
        (fit.largest.realTokensPerSecond !== null
          ? `, ${formatNumber(fit.largest.realTokensPerSecond)} real tokens/s)`
          : ")"),
    );
  } else out.push(pc.red("nothing in the grid fits"));
  out.push("", `fastest batch size per optimizer and precision at seq ${input.seqLen}:`);
  const rows = [...fit.fastest].sort(
    (a, b) => (b.best?.realTokensPerSecond ?? -1) - (a.best?.realTokensPerSecond ?? -1),
  );
  out.push(
    renderTable(rows, [
      { header: "optimizer", value: (r) => r.optimizer },
      { header: "precision", value: (r) => r.precision },
      {
        header: "batch",
        value: (r) => (r.best ? String(r.best.batchSize) : pc.red("does not fit")),
        align: "right",
      },
      { header: "real tok/s", value: (r) => formatNumber(r.best?.realTokensPerSecond), align: "right" },
      { header: "device peak", value: (r) => formatBytes(r.best?.devicePeakBytes), align: "right" },
      { header: "margin", value: (r) => formatBytes(r.best?.marginBytes), align: "right" },
    ]),
  );
  return out.join("\n");
}

/** How many ranked candidates `plan --fit` prints (the JSON has them all). */
export const RECOMMEND_ROWS = 12;

/** One line naming what the recommender left out for the model, or null when nothing was. */
export function leftOutLine(rec: Pick<Recommendation, "leftOut">): string | null {
  if (!rec.leftOut.length) return null;
  const n = rec.leftOut.reduce((a, r) => a + r.count, 0);
  return `left out ${n} candidates the engine refuses for this model: ${rec.leftOut.map((r) => `${r.reason} (${r.count})`).join("; ")}`;
}

/**
 * Where a recipe's candidates run with another LoRA dropout or cuDNN setting than the user's config (the
 * fast recipe's own, which the user did not override), a line that says so and how to keep one's own.
 */
export function recipeFieldsLine(shown: readonly Candidate[], input: PlanInput): string | null {
  const differ = new Map<string, string>();
  for (const { settings: s } of shown) {
    const parts = [];
    if (s.loraDropout !== input.lora.dropout) parts.push(`LoRA dropout ${s.loraDropout}`);
    if (s.cudnnAttention !== (input.cudnnAttention ?? true))
      parts.push(`cuDNN attention ${s.cudnnAttention ? "on" : "off"}`);
    if (parts.length) differ.set(s.recipe, parts.join(" and "));
  }
  if (!differ.size) return null;
  const what = [...differ].map(([recipe, parts]) => `${recipe} candidates run with ${parts}`).join("; ");
  return `${what}, as \`run --recipe\` does (the recipe's defaults); --lora-dropout or --cudnn-attention keeps yours`;
}

export function renderRecommendation(rec: Recommendation, input: PlanInput, rows = RECOMMEND_ROWS): string {
  const limit = `${formatBytes(rec.limitBytes)} (${rec.limitSource === "budget" ? "--vram-budget" : "the GPU's memory"})`;
  const out = [
    pc.bold(
      `fastest configurations that fit under ${limit} with ${Math.round(rec.marginFraction * 100)}% to spare`,
    ),
    pc.dim(
      `${rec.considered} planned (recipe × padding × loss × checkpointing/offload × optimizer × precision × batch), ${rec.ranked.length} fit; ` +
        `${input.method}, LoRA r=${input.lora.r}, seq ≤ ${input.seqLen} and grad-accum ${input.gradAccum} kept (batch changes the effective batch)`,
    ),
  ];
  const leftOut = leftOutLine(rec);
  if (leftOut) out.push(pc.dim(leftOut));
  const fields = recipeFieldsLine(rec.ranked.slice(0, rows), input);
  if (fields) out.push(pc.dim(fields));
  if (!rec.ranked.length) {
    out.push(pc.red("nothing fits: try a smaller --seq-len, qlora, or a larger card"));
    return out.join("\n");
  }
  out.push(
    renderTable(
      rec.ranked.slice(0, rows).map((c, i) => ({ c, i })),
      [
        { header: "#", value: ({ i }) => String(i + 1), align: "right" },
        { header: "recipe", value: ({ c }) => c.settings.recipe },
        { header: "padding", value: ({ c }) => c.settings.padding },
        { header: "loss", value: ({ c }) => c.settings.loss },
        {
          header: "ckpt",
          value: ({ c }) =>
            c.settings.offloadActivations ? "offload" : c.settings.gradCheckpointing ? "on" : "off",
        },
        { header: "optimizer", value: ({ c }) => c.settings.optimizer },
        { header: "precision", value: ({ c }) => c.settings.precision },
        { header: "batch", value: ({ c }) => String(c.settings.batchSize), align: "right" },
        { header: "device peak", value: ({ c }) => formatBytes(c.devicePeakBytes), align: "right" },
        { header: "real tok/s", value: ({ c }) => formatNumber(c.realTokensPerSecond), align: "right" },
        {
          header: "interval",
          value: ({ c }) =>
            c.speedInterval
              ? `${formatNumber(c.speedInterval.low)}–${formatNumber(c.speedInterval.high)}`
              : "—",
          align: "right",
        },
      ],
    ),
  );
  const sources = [...new Set(rec.ranked.slice(0, rows).map((c) => c.constants))];
  out.push(pc.dim(`constants: ${sources.join("; ")}`));
  out.push(pc.dim("measure the top candidates on this GPU with `loraprof tune` (same flags)"));
  return out.join("\n");
}

/** The JSON form: the planner's result plus what it was computed from (record lengths summarized). */
export function planJson(
  plan: ConfigPlan,
  saved: SavedCalibration | null,
  path: string,
): Record<string, unknown> {
  const { lengths, input, result } = plan;
  const { lengths: _all, ...lengthSummary } = lengths.stats;
  const { lengthStats: _stats, calibration: _cal, model: _model, gpu: _gpu, ...shape } = input;
  return {
    gpu: {
      id: plan.gpu.id,
      name: plan.gpu.name,
      memoryBytes: plan.gpu.memoryBytes,
      usableBytes: plan.gpu.nvmlTotalBytes ?? plan.gpu.memoryBytes,
    },
    model: plan.model.id,
    input: shape,
    lengths: {
      kind: lengths.kind,
      description: lengths.description,
      records: lengths.records,
      ...lengthSummary,
    },
    memory: result.memory,
    fits: result.fits,
    throughput: result.throughput,
    speedInterval: result.speedInterval,
    calibration: {
      calibrated: result.calibrated,
      source: result.constantsSource,
      runs: result.calibrationRuns,
      oomRuns: saved?.calibration.oomRuns ?? 0,
      createdAt: saved?.createdAt ?? null,
      heldOut: saved?.heldOut ?? null,
      path,
    },
    constants: result.constants,
    assumptions: result.assumptions,
    ...(plan.fit ? { fit: plan.fit } : {}),
    ...(plan.recommendation ? { recommendation: plan.recommendation } : {}),
  };
}

const CONSTANT_UNITS: Partial<Record<keyof PlannerConstants, (v: number) => string>> = {
  cudaContextBytes: formatBytes,
  allocatorFixedBytes: formatBytes,
  cpuSecondsPerOp: (v) => `${formatNumber(v * 1e6, 2)} µs`,
  microStepFixedSeconds: (v) => `${formatNumber(v * 1e3, 1)} ms`,
};

export function renderCalibration(r: CalibrateFromRunsResult, saved: SavedCalibration, path: string): string {
  const c = r.calibration;
  const out = [
    `calibrated the planner for ${pc.bold(r.gpu.name)} on ${c.runs} measured run${c.runs === 1 ? "" : "s"}` +
      (c.oomRuns ? ` and ${c.oomRuns} OOM run${c.oomRuns === 1 ? "" : "s"} (lower bounds on the peak)` : ""),
  ];
  if (r.skipped.length)
    out.push(
      pc.yellow(`skipped ${r.skipped.length}: ${r.skipped.map((s) => `${s.id} (${s.reason})`).join("; ")}`),
    );
  const fmt = (k: keyof PlannerConstants, v: number) =>
    (CONSTANT_UNITS[k] ?? ((x: number) => formatNumber(x, 3)))(v);
  const keys = Object.keys(c.constants) as (keyof PlannerConstants)[];
  out.push(
    "",
    renderTable(
      keys.map((k) => ({ k })),
      [
        { header: "constant", value: ({ k }) => k },
        {
          header: "fitted",
          value: ({ k }) =>
            c.fitted.includes(k) ? fmt(k, c.constants[k]) : pc.dim(`${fmt(k, c.constants[k])} (kept)`),
          align: "right",
        },
      ],
    ),
  );
  const e = (s: { medianAbsPct: number; maxAbsPct: number; runs: number } | null) =>
    s
      ? `median ${formatNumber(s.medianAbsPct)}%, max ${formatNumber(s.maxAbsPct)}% over ${s.runs} runs`
      : "—";
  const rows: [string, string][] = [
    ["fit error (in sample)", ""],
    ["  device peak", e(c.error.devicePeakBytes)],
    ["  allocator peak", e(c.error.allocatorPeakBytes)],
    ["  real tokens/s", e(c.error.realTokensPerSecond)],
  ];
  if (r.heldOut) {
    const h = r.heldOut.validation.heldOut;
    rows.push(
      [`held-out error (${r.heldOut.method})`, ""],
      ["  device peak", e(h.error.devicePeakBytes)],
      ["  allocator peak", e(h.error.allocatorPeakBytes)],
      ["  real tokens/s", e(h.error.realTokensPerSecond)],
    );
    if (h.fitAccuracy)
      rows.push(["  fit/OOM", `${h.fitAccuracy.correct} of ${h.fitAccuracy.runs} runs right`]);
  } else rows.push(["held-out error", "needs 3 or more measured runs"]);
  out.push(
    "",
    renderPairs(rows),
    "",
    `saved to ${path} (${saved.gpuId}); \`loraprof plan --gpu ${saved.gpuId}\` uses it`,
  );
  return out.join("\n");
}
