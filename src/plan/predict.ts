/**
 * The planner from a run configuration: `planForConfig` is what `loraprof plan` prints (one
 * prediction, optionally a fit search), `predictForRun` is the prediction for a run already
 * stored (what a report can put beside the measurement), and `calibrateFromRuns` fits the
 * constants to stored runs of one GPU. Library functions: they return data and never print.
 */
import type { GpuEntry } from "../catalog/gpus.js";
import type { RecipeFields } from "../config/load.js";
import type { Recipe } from "../protocol/index.js";
import { planLengthTokenizer } from "../catalog/tokenizer.js";
import type { ModelEntry } from "../catalog/types.js";
import { LoraprofError } from "../util/errors.js";
import { calibrate, crossValidate, type CrossValidation, type MeasuredRun } from "./calibrate.js";
import { planInputFromConfig, planModel, type PlannableConfig } from "./config.js";
import type { Calibration } from "./constants.js";
import { datasetLengths, type LengthSource } from "./dataset.js";
import { ALPACA_PUBLISHED_LENGTHS, type LengthStats } from "./lengths.js";
import { measuredFromRun, runGpu, type RunLike } from "./measured.js";
import { fitSearch, planRun, type FitSearchResult, type PlanResult } from "./plan.js";
import type { PlanInput } from "./types.js";
import type { SavedCalibration } from "./calibrations.js";
import { chooseConstants, constantsForInput, type ChosenConstants, type RecipeClass } from "./shipped.js";
import { recommend, type Recommendation, type RecommendSpace } from "./recommend.js";

export interface ConfigPlan {
  gpu: GpuEntry;
  model: ModelEntry;
  lengths: LengthSource;
  input: PlanInput;
  result: PlanResult;
  /** `plan --fit` only. */
  fit: FitSearchResult | null;
  /** `plan --fit` only: every recipe, padding, loss, checkpointing, optimizer, precision and batch that fits, fastest first. */
  recommendation: Recommendation | null;
}

export interface PlanForConfigOptions {
  gpu: GpuEntry;
  cacheDir: string;
  /** Constants to use as they are (library callers); else chosen by `chooseConstants` from `user`. */
  calibration?: Calibration | null;
  /** The user's saved calibration for this GPU: wins over the shipped or transferred one. */
  user?: SavedCalibration | null;
  /** Host seconds per operation relative to the H200 machine's, for a transferred calibration. */
  hostSpeedFactor?: number;
  /** The recommender's search space (default DEFAULT_SPACE, less what the GPU cannot run). */
  space?: Partial<RecommendSpace>;
  /** Rank every candidate of the space, fitting or not. */
  includeUnfit?: boolean;
  /** Each recipe's LoRA dropout and cuDNN attention for this user (`recipeFields`); absent: the config's own. */
  recipeFields?: Partial<Record<Recipe, RecipeFields>>;
  /** Also search batch size × sequence length (`plan --fit`). */
  fit?: boolean;
  /** Data-parallel ranks (`--nproc-per-node`): what the engine runs differs with more than one. */
  ranks?: number;
}

export async function planForConfig(
  config: PlannableConfig,
  opts: PlanForConfigOptions,
): Promise<ConfigPlan> {
  const model = planModel(config);
  const lengths = await datasetLengths(config, model, { cacheDir: opts.cacheDir });
  let input = planInputFromConfig(config, {
    gpu: opts.gpu,
    lengthStats: lengths.stats,
    ...(opts.calibration ? { calibration: opts.calibration } : {}),
    ...(opts.ranks !== undefined ? { ranks: opts.ranks } : {}),
  });
  const choose = (cls: RecipeClass) =>
    chooseConstants({
      gpu: opts.gpu,
      recipeClass: cls,
      user: opts.user ?? null,
      ...(opts.hostSpeedFactor !== undefined ? { hostSpeedFactor: opts.hostSpeedFactor } : {}),
    });
  if (!opts.calibration) input = withChosenConstants(input, choose);
  const result = planRun(input);
  result.assumptions.splice(1, 0, `record lengths: ${lengths.description}`);
  return {
    gpu: opts.gpu,
    model,
    lengths,
    input,
    result,
    fit: opts.fit ? fitSearch(input) : null,
    recommendation: opts.fit
      ? recommend(input, {
          ...(opts.calibration ? {} : { constantsFor: choose }),
          ...(opts.space ? { space: opts.space } : {}),
          ...(opts.includeUnfit ? { includeUnfit: true } : {}),
          ...(opts.recipeFields ? { recipeFields: opts.recipeFields } : {}),
        })
      : null,
  };
}

/** The input with the constants `choose` picks for it (shipped.ts `constantsForInput`), and where they came from. */
function withChosenConstants(input: PlanInput, choose: (cls: RecipeClass) => ChosenConstants): PlanInput {
  const chosen = constantsForInput(input, choose);
  return {
    ...input,
    ...(chosen.calibration ? { calibration: chosen.calibration } : {}),
    constantsSource: chosen.source,
  };
}

/** What the data stage stored with a run (store/runs.ts RunRecord.data); only the mean is read. */
interface RunDataSummary {
  meanTokens?: number;
}

export interface PredictForRunOptions {
  /** The run's record lengths, when known (e.g. from `datasetLengths`). */
  lengthStats?: LengthStats;
  /** The data stage's summary stored with the run: its mean tokens per record stand in for lengths. */
  data?: RunDataSummary | null;
  calibration?: Calibration | null;
}

/**
 * The planner's prediction for a run that was (or is being) measured: the run's resolved config on
 * the GPU its engine reported. Null for CPU runs and GPUs or models the catalogs do not know. Record
 * lengths: `lengthStats` when given; else Alpaca's published facts for `alpaca` and `synthetic`
 * data (synthetic records follow Alpaca's lengths by construction) with the Alpaca template; else
 * the run's stored mean tokens per record (after truncation) with a typical spread. The choice is
 * named in the result's assumptions. Constants: `calibration` when given, else those `plan` uses on
 * that GPU without a user calibration (shipped or transferred, per recipe class).
 */
export function predictForRun(
  config: PlannableConfig,
  environment: unknown,
  opts: PredictForRunOptions = {},
): PlanResult | null {
  const gpu = runGpu({ environment });
  if (!gpu) return null;
  let lengthStats: LengthStats;
  let note: string;
  if (opts.lengthStats) {
    lengthStats = opts.lengthStats;
    note = "record lengths as given";
  } else if (
    (config.dataset === "alpaca" || config.dataset === "synthetic") &&
    config.template === "alpaca"
  ) {
    lengthStats = { ...ALPACA_PUBLISHED_LENGTHS };
    note = "record lengths: Alpaca's published length facts";
  } else if (typeof opts.data?.meanTokens === "number" && opts.data.meanTokens > 0) {
    lengthStats = { meanTokens: opts.data.meanTokens };
    note = `record lengths: the run's mean of ${opts.data.meanTokens.toFixed(1)} tokens per record (after truncation), spread assumed`;
  } else {
    return null;
  }
  let input: PlanInput;
  try {
    input = planInputFromConfig(config, {
      gpu,
      lengthStats,
      ...(opts.calibration ? { calibration: opts.calibration } : {}),
    });
  } catch (err) {
    if (err instanceof LoraprofError && err.code === "MODEL_NOT_FOUND") return null;
    throw err;
  }
  // The constants `plan` uses without a user calibration (the GPU's shipped or transferred ones): a
  // user's calibration may have been fitted to this very run.
  if (!opts.calibration)
    input = withChosenConstants(input, (cls) => chooseConstants({ gpu, recipeClass: cls, user: null }));
  const result = planRun(input);
  result.assumptions.splice(1, 0, note);
  return result;
}

// ---- calibration from stored runs ---------------------------------------------------------------

/** A stored run with what the data stage recorded (store/runs.ts RunRecord has both). */
export type StoredRunLike = RunLike & { id: string; data?: unknown };

export interface CalibrateFromRunsResult {
  gpu: GpuEntry;
  calibration: Calibration;
  /** Runs the fit used, with how their record lengths were found. */
  used: { id: string; status: string; lengths: string }[];
  skipped: { id: string; reason: string }[];
  /** Held-out error: leave-one-out up to 12 runs, else 10 folds; null under 3 measured runs. */
  heldOut: { method: string; validation: CrossValidation } | null;
}

/** GPUs the stored runs ran on (catalog ids), most runs first. */
export function gpusOfRuns(runs: readonly RunLike[]): { gpu: GpuEntry; runs: number }[] {
  const counts = new Map<string, { gpu: GpuEntry; runs: number }>();
  for (const r of runs) {
    const g = runGpu(r);
    if (!g) continue;
    const c = counts.get(g.id) ?? { gpu: g, runs: 0 };
    c.runs++;
    counts.set(g.id, c);
  }
  return [...counts.values()].sort((a, b) => b.runs - a.runs);
}

/**
 * Fits the planner's constants to the completed and OOM runs of one GPU. Without `gpu`, the store
 * must hold runs of exactly one catalogued GPU. Each run's record lengths are counted from its
 * dataset when the file is still there (cached after the first time), else taken from the mean the
 * run stored.
 */
export async function calibrateFromRuns(
  runs: readonly StoredRunLike[],
  opts: { gpu?: GpuEntry | null; cacheDir: string },
): Promise<CalibrateFromRunsResult> {
  const gpus = gpusOfRuns(runs);
  let gpu = opts.gpu ?? null;
  if (!gpu) {
    if (gpus.length !== 1) {
      throw new LoraprofError(
        "RUN_NOT_FOUND",
        gpus.length === 0
          ? "no run in the store ran on a catalogued GPU"
          : "the store holds runs of several GPUs",
        {
          problems: [
            {
              field: "--gpu",
              message:
                gpus.length === 0
                  ? "nothing to calibrate on"
                  : `runs on ${gpus.map((g) => `${g.gpu.id} (${g.runs})`).join(", ")}`,
              hint:
                gpus.length === 0
                  ? "measure runs on a GPU first (`loraprof run`), or point --db at the store that holds them"
                  : "choose one with --gpu",
            },
          ],
        },
      );
    }
    gpu = gpus[0]!.gpu;
  }
  const used: CalibrateFromRunsResult["used"] = [];
  const skipped: CalibrateFromRunsResult["skipped"] = [];
  const measured: MeasuredRun[] = [];
  const lengthMemo = new Map<string, Promise<LengthSource>>();
  for (const run of runs) {
    if (runGpu(run)?.id !== gpu.id) continue;
    const m = measuredFromRun(run);
    if (!m) {
      skipped.push({ id: run.id, reason: `status ${run.status}: measured nothing` });
      continue;
    }
    const config = run.config as PlannableConfig;
    let model: ModelEntry;
    try {
      model = planModel(config);
    } catch {
      skipped.push({ id: run.id, reason: `model ${String(config?.model)} is not in the catalog` });
      continue;
    }
    let stats: LengthStats;
    let lengthNote: string;
    const key = JSON.stringify([
      config.dataset,
      config.syntheticRecords,
      config.subset,
      config.subsetMode,
      config.seed,
      config.template,
      // What counts the lengths: the model's own tokenizer, or the proxy where none ships.
      planLengthTokenizer(model).family,
    ]);
    try {
      let p = lengthMemo.get(key);
      if (!p) {
        p = datasetLengths(config, model, { cacheDir: opts.cacheDir });
        lengthMemo.set(key, p);
      }
      const src = await p;
      stats = src.stats;
      lengthNote = src.kind;
    } catch {
      const mean = (run.data as { meanTokens?: unknown } | null | undefined)?.meanTokens;
      if (typeof mean !== "number" || !(mean > 0)) {
        skipped.push({
          id: run.id,
          reason: `dataset ${config.dataset} is gone and the run stored no mean length`,
        });
        continue;
      }
      stats = { meanTokens: mean };
      lengthNote = "stored mean (dataset file gone)";
    }
    let input: PlanInput;
    try {
      input = planInputFromConfig(config, { gpu, lengthStats: stats });
    } catch (err) {
      skipped.push({ id: run.id, reason: (err as Error).message });
      continue;
    }
    measured.push({ input, measured: m });
    used.push({ id: run.id, status: run.status, lengths: lengthNote });
  }
  if (measured.length === 0) {
    const others = gpus.filter((g) => g.gpu.id !== gpu.id);
    throw new LoraprofError("RUN_NOT_FOUND", `no completed or OOM run on ${gpu.name} in this store`, {
      problems: [
        {
          field: "--gpu",
          message: others.length
            ? `the store holds runs on ${others.map((g) => `${g.gpu.id} (${g.runs})`).join(", ")}`
            : "the store holds no GPU run",
          hint: "measure runs on that GPU first (`loraprof run`), or point --db at the store that holds them",
        },
      ],
    });
  }
  // The fit refines what `plan` used before it: the shipped calibration of this GPU, or the H200's
  // transferred (its constants are the starting point and the centre of the prior), so a handful of
  // runs moves only what they measure.
  const start = chooseConstants({ gpu, recipeClass: "reference", user: null }).calibration?.constants;
  const fitOptions = start ? { start } : {};
  const calibration = calibrate(measured, fitOptions);
  const withMeasurements = measured.filter((r) => !r.measured.oom).length;
  let heldOut: CalibrateFromRunsResult["heldOut"] = null;
  if (withMeasurements >= 3) {
    const loo = measured.length <= 12;
    heldOut = {
      method: loo ? "leave-one-out" : "10-fold (runs dealt round-robin)",
      validation: crossValidate(measured, loo ? undefined : (_, i) => String(i % 10), fitOptions),
    };
  }
  return { gpu, calibration, used, skipped, heldOut };
}
