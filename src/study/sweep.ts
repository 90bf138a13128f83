/**
 * `loraprof study paper`: the study's three runs (arXiv 2509.12229), then the controlled ablations
 * it lacked, each changing one factor at a time at a fixed shape, repeated so that every comparison
 * has an interval. The points shared between ablations (e.g. run 1 is also the optimizer
 * ablation's AdamW point) are run once: keys are config hashes.
 *
 *   presets    paper-run1, paper-run2, paper-run3 as published (their comparisons change several factors)
 *   optimizer  adamw_torch vs adamw_8bit vs paged_adamw_8bit at run 1's shape (batch 1 × seq 512, fp16)
 *   precision  fp16 vs bf16 at run 3's shape (batch 2 × seq 1024, paged_adamw_8bit)
 *   shape      batch {1, 2, 4} × seq {512, 1024, 2048} at run 2's optimizer and precision (paged_adamw_8bit, fp16)
 *   padding    max_length vs longest at run 2's shape
 *   fast       the three runs with loraprof's fast recipe (packed rows, fused loss and LoRA, Liger
 *              kernels), and the planner's fastest fast configuration under the same budget on this
 *              GPU (./fast.ts), measured
 *
 * With the study's 70 steps and 3 repeats that is 17 configurations, 51 runs. `groups` runs only
 * some of them, as a sweep of its own (studySweepName).
 */
import { scaledWarmupSteps } from "../config/load.js";
import type { RunConfigInput } from "../config/schema.js";
import { parseSweepSpec, type SweepSpec, type SweepSpecInput } from "../sweep/spec.js";
import { LoraprofError, type Problem } from "../util/errors.js";

export interface StudyOptions {
  /** Steps per run (the presets use 70, 10 of them warmup). */
  steps?: number;
  /** Warmup steps; with `steps` given and this not, a fifth of the steps (1 to 10). */
  warmupSteps?: number;
  /** Repeats per configuration (≥ 3 for intervals). */
  repeats?: number;
  dataset?: string;
  weights?: "auto" | "random" | "pretrained";
  /** "8GiB" mirrors the study's 8 GB card; null lifts the budget. */
  vramBudget?: string | null;
  /** Any further setting applied to every run (e.g. device). */
  overrides?: Record<string, unknown>;
  /** The fast arm's best configuration (./fast.ts, planned for this GPU); absent: FAST_BEST_UNDER_8GIB. */
  fastArm?: { config: RunConfigInput; note: string };
  /** Only these groups (STUDY_GROUPS), kept in the study's order; absent: all of them. */
  groups?: readonly string[];
}

export const STUDY_NAME = "paper-study";
/** The study's groups, in its order (see the module comment). */
export const STUDY_GROUPS = ["presets", "optimizer", "precision", "shape", "padding", "fast"] as const;
export type StudyGroup = (typeof STUDY_GROUPS)[number];

/** `--groups` as typed: comma-separated, whitespace around names tolerated, duplicates collapsed. */
export function parseStudyGroups(list: string): string[] {
  return [...new Set(list.split(",").map((s) => s.trim()))].filter(Boolean);
}

/** What is wrong with a choice of groups (unknown names, or none), or null. */
export function studyGroupsProblem(groups: readonly string[]): Problem | null {
  const hint = `use one or more of ${STUDY_GROUPS.join(", ")}, comma-separated`;
  const unknown = groups.filter((g) => !(STUDY_GROUPS as readonly string[]).includes(g));
  if (unknown.length) {
    const names = unknown.map((g) => `"${g}"`).join(", ");
    const message = `${names} ${unknown.length === 1 ? "is not a group" : "are not groups"} of the study`;
    return { field: "--groups", message, hint };
  }
  return groups.length ? null : { field: "--groups", message: "no group given", hint };
}

/**
 * The sweep a choice of groups runs. A subset is a sweep of its own, named after its groups in the
 * study's order (`paper-study.presets.fast`): resuming a sweep drops the stored entries its spec no
 * longer plans, so a subset under the full study's name would drop the other groups' outcomes.
 */
export function studySweepName(groups?: readonly string[]): string {
  const chosen = STUDY_GROUPS.filter((g) => !groups || groups.includes(g));
  return chosen.length === STUDY_GROUPS.length ? STUDY_NAME : [STUDY_NAME, ...chosen].join(".");
}

/**
 * The fast arm's configuration when no GPU is known to plan for (a study on the CPU, or a card outside
 * the catalog): the fastest fast-recipe configuration an early probe measured under an 8 GiB budget on
 * the H200 (bench/results/h200-fast-probe-2.json: QLoRA bf16, 8 rows × 2048 packed tokens, 6.0 GiB
 * device peak). With a catalogued GPU the planner chooses it for that card (./fast.ts).
 */
export const FAST_BEST_UNDER_8GIB: RunConfigInput = {
  recipe: "fast",
  batchSize: 8,
  seqLen: 2048,
  optimizer: { name: "adamw_8bit" },
};
export const DEFAULT_STUDY_REPEATS = 3;
export const DEFAULT_STUDY_BUDGET = "8GiB";
/** The presets' own warmup: a study with --steps never warms up longer. */
const STUDY_WARMUP_CAP = 10;

/** The settings every run of the study gets: steps and warmup, dataset, weights, and the caller's own. */
export function studyOverrides(opts: StudyOptions = {}): Record<string, unknown> {
  const overrides: Record<string, unknown> = { ...(opts.overrides ?? {}) };
  if (opts.steps !== undefined) {
    overrides["steps"] = opts.steps;
    overrides["warmupSteps"] = opts.warmupSteps ?? scaledWarmupSteps(opts.steps, STUDY_WARMUP_CAP);
  } else if (opts.warmupSteps !== undefined) overrides["warmupSteps"] = opts.warmupSteps;
  if (opts.dataset !== undefined) overrides["dataset"] = opts.dataset;
  if (opts.weights !== undefined) overrides["weights"] = opts.weights;
  return overrides;
}

export function paperStudy(opts: StudyOptions = {}): { spec: SweepSpec; overrides: Record<string, unknown> } {
  const overrides = studyOverrides(opts);
  const problem = opts.groups ? studyGroupsProblem(opts.groups) : null;
  if (problem) throw new LoraprofError("FLAG_INVALID", "invalid study groups", { problems: [problem] });

  const preset = (name: string): RunConfigInput => ({ preset: name as RunConfigInput["preset"] });
  const groups: (NonNullable<SweepSpecInput["groups"]>[number] & { name: StudyGroup })[] = [
    {
      name: "presets",
      description: "the study's runs as published",
      runs: [preset("paper-run1"), preset("paper-run2"), preset("paper-run3")],
    },
    {
      name: "optimizer",
      description: "optimizer at run 1's shape (batch 1 × seq 512, fp16)",
      base: preset("paper-run1"),
      grid: { "optimizer.name": ["adamw_torch", "adamw_8bit", "paged_adamw_8bit"] },
    },
    {
      name: "precision",
      description: "precision at run 3's shape (batch 2 × seq 1024, paged_adamw_8bit)",
      base: preset("paper-run3"),
      grid: { precision: ["fp16", "bf16"] },
    },
    {
      name: "shape",
      description: "batch × sequence at run 2's optimizer and precision (paged_adamw_8bit, fp16)",
      base: preset("paper-run2"),
      grid: { batchSize: [1, 2, 4], seqLen: [512, 1024, 2048] },
    },
    {
      name: "padding",
      description: "padding to the longest record vs to max_length at run 2's shape",
      base: preset("paper-run2"),
      grid: { padding: ["max_length", "longest"] },
    },
    {
      name: "fast",
      description: `loraprof's fast recipe at the study's three shapes, and ${opts.fastArm?.note ?? "its fastest configuration an H200 probe measured under an 8 GiB budget (no GPU to plan for)"}`,
      runs: [
        { ...preset("paper-run1"), recipe: "fast" },
        { ...preset("paper-run2"), recipe: "fast" },
        { ...preset("paper-run3"), recipe: "fast" },
        { ...preset("paper-run3"), ...(opts.fastArm?.config ?? FAST_BEST_UNDER_8GIB) },
      ],
    },
  ];
  const spec = parseSweepSpec({
    name: studySweepName(opts.groups),
    description:
      "The study's three runs, then one-factor-at-a-time ablations (optimizer, precision, batch × sequence, padding) with repeats, and the fast arm.",
    repeats: opts.repeats ?? DEFAULT_STUDY_REPEATS,
    vramBudget: opts.vramBudget === undefined ? DEFAULT_STUDY_BUDGET : opts.vramBudget,
    groups: groups.filter((g) => !opts.groups || opts.groups.includes(g.name)),
  });
  return { spec, overrides };
}
