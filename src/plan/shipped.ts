/**
 * Calibrations that ship with loraprof, and where a plan's constants come from. `plan` for a GPU
 * takes, in order: the user's own calibration (`loraprof plan calibrate`, saved beside the run
 * store), the shipped calibration of that GPU (fitted to committed measured runs, one per recipe
 * class), or the shipped H200 calibration transferred to the target GPU by the rules of
 * `transferCalibration`. Every source carries an interval for tokens/s from its held-out error.
 *
 * The shipped files are data (./shipped/*.json), written by `node dist-bench/ship-calibration.mjs` (bench/ship-calibration.ts) from
 * bench/results; they are checked against SavedCalibrationSchema on load.
 */
import { z } from "zod";
import { findGpu, type GpuEntry } from "../catalog/gpus.js";
import { SavedCalibrationSchema, toCalibration, type SavedCalibration } from "./calibrations.js";
import type { Calibration, PlannerConstants } from "./constants.js";
import { deviceOverheadFor } from "./device-overhead.js";
import { HOST_SPREAD, type ThroughputEstimate } from "./throughput.js";
import { architectureOf, type PlanInput } from "./types.js";
import { ligerPatched } from "../catalog/params.js";
import h100 from "./shipped/h100-sxm.json" with { type: "json" };
import h200 from "./shipped/h200.json" with { type: "json" };

/** reference: PyTorch's and PEFT's own ops; fast: Liger's kernels or its fused loss (other host and kernel costs). */
export const RECIPE_CLASSES = ["reference", "fast"] as const;
export type RecipeClass = (typeof RECIPE_CLASSES)[number];

/**
 * The class whose constants plan a run: by the kernels that run, not the flags asked for. Liger's kernels
 * count only where the engine applies them (not Gemma's), and fused LoRA, modelled analytically, does not
 * decide it. So the fast recipe's fallback on Gemma 2 (padded rows, the full loss, no Liger) is planned with
 * the reference class, whose runs measured what such a step keeps: the fast class's runs all take the fused
 * loss over packed rows, and fit `lossFp32Copies` to its chunks and the reserve to fixed shapes (check 10 on
 * an H100: Gemma 2 9B's peak +16.4% under the fast class).
 */
export function recipeClass(input: Pick<PlanInput, "lossImplementation" | "kernels" | "model">): RecipeClass {
  return input.lossImplementation === "fused" ||
    (input.kernels === "liger" && ligerPatched(architectureOf(input.model)))
    ? "fast"
    : "reference";
}

const ErrorStatsSchema = z.object({ runs: z.number(), medianAbsPct: z.number(), maxAbsPct: z.number() });

export const ShippedCalibrationSchema = z
  .object({
    version: z.literal(1),
    gpuId: z.string(),
    what: z.string(),
    generatedBy: z.string(),
    /** Result files the runs came from. */
    sources: z.array(z.string()),
    environment: z.record(z.string(), z.unknown()).nullable(),
    /** A class is null where nothing ships for it (too few runs, or no better than the transfer). */
    recipes: z.object({
      reference: SavedCalibrationSchema.nullable(),
      fast: SavedCalibrationSchema.nullable(),
    }),
    /**
     * A GPU whose calibration was fitted with the H200's transferred as its prior: the transfer's
     * tokens/s error on this GPU's runs, per class (what a transfer to this GPU is known to miss by).
     */
    transferError: z
      .object({
        reference: ErrorStatsSchema.nullable().optional(),
        fast: ErrorStatsSchema.nullable().optional(),
      })
      .optional(),
  })
  .strict();
export type ShippedCalibration = z.infer<typeof ShippedCalibrationSchema>;

/** The first is the base every other GPU's constants are transferred from (the most runs). */
const SHIPPED: readonly ShippedCalibration[] = [
  ShippedCalibrationSchema.parse(h200),
  ShippedCalibrationSchema.parse(h100),
];

/** The shipped calibration of a GPU (catalog id), or null. */
export function shippedCalibration(gpuId: string): ShippedCalibration | null {
  return SHIPPED.find((s) => s.gpuId === gpuId) ?? null;
}

/**
 * How far off a transferred calibration may be, on top of the source GPU's own held-out error, as a
 * factor either way: no transfer has been measured against a run yet, and GPU efficiencies and host
 * speed both move between machines (the same H200 host moved 10–30% between sessions).
 */
export const TRANSFER_FACTOR = 2;
/** Uncalibrated defaults were 3.9× to 7× optimistic on the H200 (issue 13): a factor 7 either way. */
export const DEFAULTS_FACTOR = 7;

export interface ConstantsSource {
  kind: "user" | "shipped" | "transferred" | "defaults";
  /** One line for the plan, e.g. `calibrated: h200 shipped (64 runs)`. */
  label: string;
  /** Measured runs behind the constants (0 for the defaults). */
  runs: number;
  /**
   * The tokens/s interval is [predicted ÷ factor, predicted × factor]: from the held-out error of
   * the calibration (its largest), widened by TRANSFER_FACTOR for a transfer.
   */
  speedFactor: number;
  /** How the factor and the constants were found. */
  notes: string[];
}

export interface ChosenConstants {
  calibration: Calibration | undefined;
  source: ConstantsSource;
}

function heldOutFactor(saved: SavedCalibration): { factor: number; note: string } {
  const held = saved.heldOut?.error.realTokensPerSecond;
  if (held) {
    return {
      factor: 1 + held.maxAbsPct / 100,
      note: `interval: the largest held-out tokens/s error (${saved.heldOut!.method}, ${held.runs} runs): ${held.maxAbsPct.toFixed(0)}%`,
    };
  }
  const inSample = saved.calibration.error.realTokensPerSecond;
  const pct = inSample ? 2 * inSample.maxAbsPct : 100;
  return {
    factor: 1 + pct / 100,
    note: `interval: twice the in-sample error (no held-out error): ${pct.toFixed(0)}%`,
  };
}

/**
 * Host-side constants scale with the host (×`hostSpeedFactor`: 2 = a host twice as slow per
 * operation as the H200 machine's); GPU efficiencies are fractions of the datasheet peaks and carry
 * over; the size at which GEMMs reach half their efficiency scales with the GPU's dense FP/BF16
 * FLOP/s (more SMs need more tokens to fill), the width at which they get half the time with its FLOP/s
 * per byte/s of bandwidth (the other kernels stream memory); the device overhead is the target family's.
 */
export function transferCalibration(
  cal: Calibration,
  from: GpuEntry,
  to: GpuEntry,
  hostSpeedFactor = 1,
): Calibration {
  const k: PlannerConstants = { ...cal.constants };
  k.tokensHalfEfficiency = cal.constants.tokensHalfEfficiency * (to.peakFlops.bf16 / from.peakFlops.bf16);
  // The non-GEMM kernels stream memory: their share against the GEMMs follows FLOP/s per byte/s.
  const flopsPerByte = (g: GpuEntry) => g.peakFlops.bf16 / g.bandwidthBytesPerSecond;
  k.widthHalfEfficiency = cal.constants.widthHalfEfficiency * (flopsPerByte(to) / flopsPerByte(from));
  k.cpuSecondsPerOp = cal.constants.cpuSecondsPerOp * hostSpeedFactor;
  k.microStepFixedSeconds = cal.constants.microStepFixedSeconds * hostSpeedFactor;
  k.cudaContextBytes = deviceOverheadFor(to).bytes;
  return { ...cal, constants: k };
}

export interface ChooseOptions {
  gpu: GpuEntry;
  recipeClass: RecipeClass;
  /** The user's calibration for this GPU (wins when present). */
  user: SavedCalibration | null;
  /** For a transfer: host seconds per operation relative to the H200 machine's (default 1). */
  hostSpeedFactor?: number;
}

export function chooseConstants(opts: ChooseOptions): ChosenConstants {
  if (opts.user) {
    const h = heldOutFactor(opts.user);
    return {
      calibration: toCalibration(opts.user),
      source: {
        kind: "user",
        label: `user calibration (${opts.user.calibration.runs} runs, ${opts.user.createdAt.slice(0, 10)})`,
        runs: opts.user.calibration.runs,
        speedFactor: h.factor,
        notes: [h.note],
      },
    };
  }
  const own = shippedCalibration(opts.gpu.id);
  const base = SHIPPED[0]!;
  // This GPU's own class, else its other class where no transfer fits better (the base GPU), else a transfer.
  const ownSaved =
    own === null
      ? null
      : ((opts.recipeClass === "fast" ? own.recipes.fast : own.recipes.reference) ??
        (own === base ? own.recipes.reference : null));
  if (own && ownSaved) {
    const cls = ownSaved === own.recipes.fast ? "fast" : "reference";
    const h = heldOutFactor(ownSaved);
    return {
      calibration: toCalibration(ownSaved),
      source: {
        kind: "shipped",
        label: `calibrated: ${own.gpuId} shipped (${ownSaved.calibration.runs} runs, ${cls} recipe)`,
        runs: ownSaved.calibration.runs,
        speedFactor: h.factor,
        notes: [
          h.note,
          ...(opts.recipeClass !== cls
            ? [`no shipped ${opts.recipeClass}-recipe calibration: the ${cls} one`]
            : []),
        ],
      },
    };
  }
  const from = findGpu(base.gpuId)!;
  const saved = (opts.recipeClass === "fast" ? base.recipes.fast : null) ?? base.recipes.reference!;
  const h = heldOutFactor(saved);
  const host = opts.hostSpeedFactor ?? 1;
  // Measured against this GPU's runs (a shipped file whose class did not beat the transfer), or not yet.
  const checked = own?.transferError?.[opts.recipeClass] ?? null;
  const factor = checked ? Math.max(h.factor, 1 + checked.maxAbsPct / 100) : h.factor * TRANSFER_FACTOR;
  return {
    calibration: transferCalibration(toCalibration(saved), from, opts.gpu, host),
    source: {
      kind: "transferred",
      label: `transferred from ${base.gpuId} by bandwidth/FLOP ratio (${saved.calibration.runs} runs there)`,
      runs: saved.calibration.runs,
      speedFactor: factor,
      notes: [
        checked
          ? `interval: the transfer's largest tokens/s error on ${checked.runs} ${opts.recipeClass}-recipe runs on ${opts.gpu.id}: ${checked.maxAbsPct.toFixed(0)}% (median ${checked.medianAbsPct.toFixed(0)}%), or ${base.gpuId}'s own held-out error if larger; a fit to those runs did not beat it, so none ships`
          : `${h.note}, ×${TRANSFER_FACTOR} for the transfer (not yet checked against a run on ${opts.gpu.id})`,
        `GPU efficiencies carried over as fractions of ${opts.gpu.id}'s datasheet FLOP/s and bandwidth; GEMM half-efficiency size × ${(opts.gpu.peakFlops.bf16 / from.peakFlops.bf16).toFixed(2)} (FLOP/s ratio); host costs × ${host} (the ${base.gpuId} machine's host speed); device overhead: ${deviceOverheadFor(opts.gpu).source}`,
      ],
    },
  };
}

/**
 * The constants that belong to the loss implementation, not the recipe class: the fp32 copies of the logits at
 * the loss, and the share of a step's transient memory the allocator keeps reserved beyond it (the full loss's
 * [tokens × vocab] buffers come and go within the step and leave freed segments behind; the fused loss's chunks
 * barely do). The fast class fits both to the fused loss (its reserve share at 0 on the H100).
 */
export const LOSS_MEMORY_KEYS = [
  "lossFp32Copies",
  "expandableFragmentation",
  "allocatorFragmentation",
  "variableShapeFragmentation",
] as const;

/** Whether a configuration's loss constants (`LOSS_MEMORY_KEYS`) come from the reference class: a fast-class run with the full or chunked loss. */
export function takesReferenceLossConstants(
  input: Pick<PlanInput, "lossImplementation" | "kernels" | "model">,
): boolean {
  return recipeClass(input) === "fast" && input.lossImplementation !== "fused";
}

/**
 * The constants for one planned configuration: its recipe class's (`choose`), except those of the loss
 * (`LOSS_MEMORY_KEYS`): the fast class fits them to the fused loss's chunks (every fitted fast run takes it), so
 * a fast run with the full or chunked loss (Liger kernels, logits materialized) takes the reference class's,
 * fitted to those losses. Check 13 on an H100 (session 27): Qwen3 1.7B LoRA `--recipe fast --loss full` b8 ×
 * s1024 planned with the fast class's reserve share (0) at 19.76 GiB, 22.78 measured (3.9 GiB reserved beyond
 * the allocated peak); with the reference class's share (0.26 once refitted), 23.32 (+2.4%); with the loss
 * buffers held beside the CUDA graphs' pool too (memory.ts `lossBesideGraphPool`, session 28), 24.14 (+6.0%).
 */
export function constantsForInput(
  input: Pick<PlanInput, "lossImplementation" | "kernels" | "model">,
  choose: (cls: RecipeClass) => ChosenConstants,
): ChosenConstants {
  const chosen = choose(recipeClass(input));
  if (!chosen.calibration || !takesReferenceLossConstants(input)) return chosen;
  const reference = choose("reference").calibration;
  if (!reference || reference === chosen.calibration) return chosen;
  const fromReference = Object.fromEntries(LOSS_MEMORY_KEYS.map((key) => [key, reference.constants[key]]));
  return {
    calibration: { ...chosen.calibration, constants: { ...chosen.calibration.constants, ...fromReference } },
    source: {
      ...chosen.source,
      notes: [
        ...chosen.source.notes,
        `${input.lossImplementation} loss: the reference class's ${reference.constants.lossFp32Copies.toFixed(2)} fp32 copies of the logits and its allocator reserve share (${reference.constants.expandableFragmentation.toFixed(2)} with expandable segments): the fast class fits them to the fused loss`,
      ],
    },
  };
}

/** The defaults' source, for a plan with no calibration at all (no GPU to choose for). */
export const DEFAULTS_SOURCE: ConstantsSource = {
  kind: "defaults",
  label: "uncalibrated defaults",
  runs: 0,
  speedFactor: DEFAULTS_FACTOR,
  notes: [`interval: ×${DEFAULTS_FACTOR} either way (defaults were 3.9–7× optimistic on the H200)`],
};

export interface SpeedInterval {
  low: number;
  high: number;
  /** HOST_SPREAD where the host's spread widened it beyond the constants' own error (the step waits on the host), else null. */
  hostSpread: number | null;
}

/**
 * The constants' interval (×speedFactor either way), widened where a host HOST_SPREAD× slower or faster
 * would move the step further (`hostRange`, src/plan/throughput.ts): the planner cannot see the host.
 */
export function speedInterval(
  tokensPerSecond: number,
  source: ConstantsSource,
  hostRange?: ThroughputEstimate["hostRange"],
): SpeedInterval {
  const low = tokensPerSecond / source.speedFactor;
  const high = tokensPerSecond * source.speedFactor;
  if (!hostRange) return { low, high, hostSpread: null };
  return {
    low: Math.min(low, hostRange.low),
    high: Math.max(high, hostRange.high),
    hostSpread: hostRange.low < low || hostRange.high > high ? HOST_SPREAD : null,
  };
}
