import type { Command } from "commander";
import pc from "picocolors";
import { prepareSweep } from "../../sweep/run.js";
import { reapStaleSweeps } from "../../sweep/store.js";
import {
  checkStudyName,
  DEFAULT_STUDY_BUDGET,
  DEFAULT_STUDY_REPEATS,
  parseStudyGroups,
  plannedFastArm,
  planStudy,
  STUDY_GROUPS,
  studyGroupsProblem,
  studyOverrides,
  writeStudyReport,
  type FastArmOptions,
} from "../../study/index.js";
import { LoraprofError, type Problem } from "../../util/errors.js";
import type { RunConfigInput } from "../../config/schema.js";
import { openContext } from "../context.js";
import { addSweepRunFlags, executeSweepCommand, setsToOverrides, type SweepCliOptions } from "./sweep.js";

interface StudyCliOptions extends SweepCliOptions {
  steps?: string;
  warmupSteps?: string;
  repeats?: string;
  dataset?: string;
  weights?: string;
  device?: string;
  vramBudget?: string;
  budget?: boolean;
  report?: string;
  groups?: string;
}

function positiveInt(
  flag: string,
  value: string | undefined,
  problems: Problem[],
  min = 1,
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || n < min) {
    problems.push({
      field: `--${flag}`,
      message: `"${value}" is not a whole number ≥ ${min}`,
      hint: `e.g. --${flag} ${min + 2}`,
    });
    return undefined;
  }
  return n;
}

export function registerStudy(program: Command): void {
  const cmd = program
    .command("study <name>")
    .description(
      "run a study: `paper` runs arXiv 2509.12229's three runs, then one-factor ablations (optimizer, precision, batch × sequence, padding) with repeats, and the fast arm",
    )
    .option(
      "--groups <list>",
      `run only these groups of the study, comma-separated: ${STUDY_GROUPS.join(", ")} (default: all; a subset is its own sweep, paper-study.<groups>)`,
    )
    .option("--steps <n>", "steps per run (the study's presets: 70, 10 of them warmup)")
    .option("--warmup-steps <n>", "warmup steps (default with --steps: a fifth of them, 1 to 10)")
    .option("--repeats <n>", `repeats per configuration (default ${DEFAULT_STUDY_REPEATS})`)
    .option("--dataset <dataset>", "dataset for every run (the presets use alpaca; synthetic works offline)")
    .option(
      "--weights <weights>",
      "auto|random|pretrained (random: seeded synthetic checkpoint, for offline GPU hosts)",
    )
    .option(
      "--device <device>",
      "auto|cuda|cuda:N for every run (with --gpus, runs are placed per GPU instead)",
    )
    .option(
      "--vram-budget <size>",
      `emulate a smaller card (default ${DEFAULT_STUDY_BUDGET}, the study's RTX 4060)`,
    )
    .option("--no-budget", "lift the VRAM budget: use the whole GPU")
    .option("--report <dir>", "write the report to DIR when the study finishes");
  addSweepRunFlags(cmd).action(async (name: string, opts: StudyCliOptions) => {
    const problems: Problem[] = [];
    const steps = positiveInt("steps", opts.steps, problems, 2);
    const warmupSteps = positiveInt("warmup-steps", opts.warmupSteps, problems, 0);
    const repeats = positiveInt("repeats", opts.repeats, problems);
    if (opts.weights !== undefined && !["auto", "random", "pretrained"].includes(opts.weights)) {
      problems.push({
        field: "--weights",
        message: `"${opts.weights}" is not a weights mode`,
        hint: "use auto, random or pretrained",
      });
    }
    if (opts.budget === false && opts.vramBudget !== undefined) {
      problems.push({ field: "--no-budget", message: "given with --vram-budget", hint: "use one of them" });
    }
    const groups = opts.groups === undefined ? undefined : parseStudyGroups(opts.groups);
    const groupsProblem = groups ? studyGroupsProblem(groups) : null;
    if (groupsProblem) problems.push(groupsProblem);
    if (problems.length) throw new LoraprofError("FLAG_INVALID", "invalid study flags", { problems });
    checkStudyName(name);
    const overrides = setsToOverrides(opts.set);
    if (opts.device !== undefined) overrides["device"] = opts.device;
    const weights = opts.weights as "auto" | "random" | "pretrained" | undefined;
    const vramBudget = opts.budget === false ? null : (opts.vramBudget ?? DEFAULT_STUDY_BUDGET);
    const ctx = openContext(opts);
    try {
      const studyOpts = {
        ...(steps !== undefined ? { steps } : {}),
        ...(warmupSteps !== undefined ? { warmupSteps } : {}),
        ...(repeats !== undefined ? { repeats } : {}),
        ...(opts.dataset !== undefined ? { dataset: opts.dataset } : {}),
        ...(weights !== undefined ? { weights } : {}),
        ...(groups !== undefined ? { groups } : {}),
        vramBudget,
        overrides,
      };
      // The fast arm is planned with the settings every study run gets (steps, dataset, --set, device),
      // and only when its group runs: planning it takes a while.
      const fastArm =
        !groups || groups.includes("fast")
          ? await planFastArm(ctx, { vramBudget, overrides: studyOverrides(studyOpts) })
          : null;
      if (fastArm && !opts.json && !opts.quiet)
        process.stderr.write(
          `fast arm: ${fastArm.note}${fastArm.config ? "" : ` (fallback: ${fastArm.why})`}\n`,
        );
      const { spec, overrides: runOverrides } = planStudy(name, {
        ...studyOpts,
        ...(fastArm?.config ? { fastArm: { config: fastArm.config, note: fastArm.note } } : {}),
      });
      reapStaleSweeps(ctx.db);
      const prepare = () =>
        prepareSweep(ctx.db, spec, { overrides: runOverrides, fresh: Boolean(opts.fresh) });
      // --json carries the fast arm too: which configuration the planner chose, or why the fallback ran.
      const fastArmJson = fastArm
        ? {
            fastArm: {
              planned: fastArm.config !== null,
              note: fastArm.note,
              ...(fastArm.config ? { config: fastArm.config } : { fallback: fastArm.why }),
            },
          }
        : {};
      const { code, outcome } = await executeSweepCommand(ctx, prepare, opts, fastArmJson);
      if (opts.report && outcome) {
        const written = writeStudyReport(ctx.db, outcome.sweepId, opts.report);
        if (!opts.json) process.stdout.write(`report: ${pc.bold(written.html)} and ${written.markdown}\n`);
      }
      process.exitCode = code;
    } finally {
      ctx.db.close();
    }
  });
}

/**
 * The study's fast arm for this machine's GPU (src/study/fast.ts), or why the fixed fallback is used: no
 * GPU (a study on the CPU), a card outside the catalog, or nothing that fits.
 */
async function planFastArm(
  ctx: ReturnType<typeof openContext>,
  opts: Omit<FastArmOptions, "gpu" | "cacheDir" | "user">,
): Promise<{ config: RunConfigInput | null; note: string; why: string }> {
  const fallback = (why: string) => ({
    config: null,
    note: "b8 × s2048 bf16 adamw_8bit, the fastest an early H200 probe measured under 8 GiB",
    why,
  });
  const device = typeof opts.overrides?.["device"] === "string" ? opts.overrides["device"] : "auto";
  if (device === "cpu") return fallback("the study runs on the CPU");
  const { listGpus } = await import("../../util/gpu.js");
  const { gpuFromProbe, loadCalibration, calibrationsPath } = await import("../../plan/index.js");
  try {
    const gpu = gpuFromProbe(await listGpus(), device);
    const arm = await plannedFastArm({
      ...opts,
      gpu,
      cacheDir: ctx.cacheDir,
      user: loadCalibration(calibrationsPath(ctx.dbPath), gpu.id),
    });
    return arm ? { config: arm.config, note: arm.note, why: "" } : fallback(`nothing fits on ${gpu.name}`);
  } catch (e) {
    if (e instanceof LoraprofError) return fallback(e.problems[0]?.message ?? e.message);
    throw e;
  }
}
