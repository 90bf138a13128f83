/**
 * The plan form's back end: the same resolution as `loraprof plan` (the form's fields become the
 * overrides a command line would give, resolved by the run config schema, then the planner), so the
 * form and the CLI cannot disagree. Library code: returns data, throws LoraprofError on bad input.
 */
import { GPUS } from "../catalog/gpus.js";
import { MODELS } from "../catalog/models.js";
import { loadRunConfig } from "../config/load.js";
import { presetNames } from "../config/presets.js";
import { METHODS, PADDING_MODES, PRECISIONS, OPTIMIZERS, RECIPES } from "../protocol/index.js";
import { cacheDir } from "../util/paths.js";
import { LoraprofError } from "../util/errors.js";
import { calibrationsPath, loadCalibration, planForConfig, requirePlanGpu } from "../plan/index.js";
import { PlanRequestSchema, type PlanAnswer, type PlanOptions } from "./api.js";

export function planOptions(): PlanOptions {
  return {
    models: MODELS.map((m) => ({ id: m.id, name: m.displayName })),
    gpus: GPUS.map((g) => ({ id: g.id, name: g.name, memoryBytes: g.nvmlTotalBytes ?? g.memoryBytes })),
    presets: presetNames(),
    recipes: [...RECIPES],
    methods: [...METHODS],
    precisions: ["auto", ...PRECISIONS],
    optimizers: [...OPTIMIZERS],
    paddings: [...PADDING_MODES],
  };
}

/** Validates the form (every bad field named, with its fix) and answers with the planner's verdict. */
export async function planFromForm(body: unknown, dbPath: string): Promise<PlanAnswer> {
  const parsed = PlanRequestSchema.safeParse(body);
  if (!parsed.success) {
    throw new LoraprofError("FLAG_INVALID", "the plan form has invalid fields", {
      problems: parsed.error.issues.map((i) =>
        i.code === "unrecognized_keys"
          ? { field: i.keys.join(", "), message: "not a field of the plan form", hint: "remove it" }
          : {
              field: i.path.join(".") || "(body)",
              message: i.message,
              hint: "correct this field and plan again",
            },
      ),
    });
  }
  const f = parsed.data;
  const config = loadRunConfig({
    overrides: {
      model: f.model,
      ...(f.preset ? { preset: f.preset } : {}),
      recipe: f.recipe,
      // Left out, the recipe's padding applies (a value given here wins over it, as a flag would).
      ...(f.padding ? { padding: f.padding } : {}),
      method: f.method,
      precision: f.precision,
      batchSize: f.batchSize,
      seqLen: f.seqLen,
      gradAccum: f.gradAccum,
      gradCheckpointing: f.gradCheckpointing,
      lora: { r: f.loraR },
      optimizer: { name: f.optimizer },
      vramBudget: f.vramBudget && f.vramBudget.trim() ? f.vramBudget.trim() : null,
      ...(f.method === "qlora" ? { device: "cuda" } : {}),
    },
  });
  const gpu = requirePlanGpu(f.gpu, "gpu");
  const path = calibrationsPath(dbPath);
  const saved = loadCalibration(path, gpu.id);
  const plan = await planForConfig(config, {
    gpu,
    cacheDir: cacheDir(),
    user: saved,
  });
  const { result, input } = plan;
  const t = result.throughput;
  const source = result.constantsSource;
  return {
    gpu: { id: gpu.id, name: gpu.name, usableBytes: gpu.nvmlTotalBytes ?? gpu.memoryBytes },
    model: plan.model.id,
    shape: `batch ${input.batchSize} × grad-accum ${input.gradAccum}, seq ≤ ${input.seqLen}, padding ${input.padding}, ${input.method}, ${input.precision}, ${input.optimizer}${input.gradCheckpointing ? ", grad checkpointing" : ""}`,
    fits: result.fits
      ? {
          verdict: result.fits.verdict,
          limitBytes: result.fits.limitBytes,
          limitSource: result.fits.limitSource,
          marginBytes: result.fits.marginBytes,
          tight: result.fits.tight,
        }
      : null,
    memory: {
      breakdown: result.memory.breakdown.map((b) => ({
        name: b.name,
        bytes: b.bytes,
        counted: b.counted,
        note: b.note,
      })),
      allocatorPeakBytes: result.memory.allocatorPeakBytes,
      devicePeakBytes: result.memory.devicePeakBytes,
    },
    speed: t
      ? {
          realTokensPerSecond: t.realTokensPerSecond,
          processedTokensPerSecond: t.processedTokensPerSecond,
          stepSeconds: t.stepSeconds,
          bound: t.bound,
          mfu: t.mfu,
          // The interval of the constants' source (src/plan/shipped.ts): the largest held-out error
          // of the calibration, widened for one transferred from another GPU.
          interval: result.speedInterval
            ? {
                low: result.speedInterval.low,
                high: result.speedInterval.high,
                errorPct: (source.speedFactor - 1) * 100,
                hostSpread: result.speedInterval.hostSpread,
                runs: source.runs,
                method: source.notes[0] ?? source.label,
              }
            : null,
        }
      : null,
    calibration: saved
      ? `user calibration: ${saved.calibration.runs} runs (${saved.createdAt.slice(0, 10)})`
      : source.label,
    assumptions: result.assumptions,
  };
}
