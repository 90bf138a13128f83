/**
 * The study's fast arm, chosen per card: the planner's fastest fast-recipe configuration that fits the
 * study's budget on the GPU the study runs on (`plan --fit`'s recommender, fast recipe only, at each of
 * the study's sequence lengths), which the study then measures beside the three runs. The prediction
 * picks; the measurement judges.
 */
import type { GpuEntry } from "../catalog/gpus.js";
import { loadRunConfig } from "../config/load.js";
import type { RunConfigInput } from "../config/schema.js";
import type { SavedCalibration } from "../plan/calibrations.js";
import { planForConfig } from "../plan/predict.js";
import { settingsToConfig, type Candidate } from "../plan/recommend.js";
import { formatBytes } from "../util/format.js";

/** Row lengths the fast arm searches: the study's own sequence lengths. */
export const FAST_ARM_SEQ_LENS = [512, 1024, 2048] as const;

export interface FastArm {
  /** RunConfig fields over paper-run3's (QLoRA, its model, LoRA settings and data). */
  config: RunConfigInput;
  /** Where the configuration came from, for the study's description and report. */
  note: string;
  /** The planner's prediction for it (null for the fallback). */
  predicted: { realTokensPerSecond: number | null; devicePeakBytes: number } | null;
}

export interface FastArmOptions {
  gpu: GpuEntry;
  /** The study's budget ("8GiB"), or null for the whole GPU. */
  vramBudget: string | null;
  cacheDir: string;
  /** The user's saved calibration for this GPU (wins over the shipped one, as in `plan`). */
  user?: SavedCalibration | null;
  /**
   * The settings every study run gets (paperStudy's overrides: steps, dataset, weights, `--set`,
   * `--device`), so the planner walks the records the runs will see.
   */
  overrides?: Record<string, unknown>;
}

/** The recommender's top fast candidate over the study's sequence lengths, or null when none fits. */
export async function plannedFastArm(opts: FastArmOptions): Promise<FastArm | null> {
  let best: { candidate: Candidate; seqLen: number } | null = null;
  for (const seqLen of FAST_ARM_SEQ_LENS) {
    const config = loadRunConfig({
      overrides: {
        ...(opts.overrides ?? {}),
        preset: "paper-run3",
        recipe: "fast",
        seqLen,
        vramBudget: opts.vramBudget,
      },
    });
    const planned = await planForConfig(config, {
      gpu: opts.gpu,
      cacheDir: opts.cacheDir,
      user: opts.user ?? null,
      fit: true,
      space: { recipes: ["fast"] },
    });
    const top = planned.recommendation?.ranked[0];
    if (
      top?.realTokensPerSecond != null &&
      (best === null || top.realTokensPerSecond > (best.candidate.realTokensPerSecond ?? 0))
    ) {
      best = { candidate: top, seqLen };
    }
  }
  if (!best) return null;
  const s = best.candidate.settings;
  const limit = opts.vramBudget === null ? `${opts.gpu.name}'s memory` : `a budget of ${opts.vramBudget}`;
  return {
    config: { ...(settingsToConfig(s) as RunConfigInput), seqLen: best.seqLen },
    note:
      `the planner's fastest fast configuration under ${limit} on ${opts.gpu.name}: ` +
      `b${s.batchSize} × s${best.seqLen} ${s.precision} ${s.optimizer}` +
      `${s.gradCheckpointing ? "" : ", no checkpointing"}${s.offloadActivations ? ", activation offload" : ""}, ` +
      `predicted ${Math.round(best.candidate.realTokensPerSecond ?? 0).toLocaleString("en-US")} real tok/s at ${formatBytes(best.candidate.devicePeakBytes)} (${best.candidate.constants})`,
    predicted: {
      realTokensPerSecond: best.candidate.realTokensPerSecond,
      devicePeakBytes: best.candidate.devicePeakBytes,
    },
  };
}
