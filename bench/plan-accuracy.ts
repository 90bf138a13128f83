/**
 * The planner's accuracy against measured GPU runs: predicted vs measured device-level peak memory
 * (NVML) and real tokens/s for every measured run in bench/results/*.json (and, with --db, every GPU
 * run in a store), uncalibrated and calibrated with the error taken on runs the calibration did not
 * see, plus the fit/OOM classification under an 8 GiB budget.
 *
 *   npm run bench:build && node dist-bench/plan-accuracy.mjs [--results bench/results] [--db PATH]
 *     [--data-dir ../shared/data/alpaca] [--out bench/results/plan-accuracy.json]
 *
 * Runs are found by shape in the result files: `loraprof run --json` objects (anything with
 * `result.config`), OOM runs recorded only by their command line and status (the config is rebuilt
 * from the command with the CLI's own flag parser), and engine rows of the Trainer comparison
 * (`rows[].engine`, config rebuilt from the preset and the file's command). The Trainer's own rows
 * are left out: the planner models loraprof's engine, not transformers' Trainer.
 *
 * Record lengths: each run's dataset tokenized as the run did (subset and template from its config).
 * Result files name the dataset by the path it had on the GPU host; a path that does not exist here
 * is looked up by file name in --data-dir (default ../shared/data/alpaca, where the H200 runs' file
 * came from).
 *
 * Held-out error, two ways: leave-one-out (each run predicted by a calibration on all the others)
 * and leave-one-shape-out (runs grouped by batch × seq × precision × checkpointing; a shape's runs
 * predicted by a calibration on the other shapes: repeats of one shape cannot vouch for each other).
 */
import { tuneSummary } from "./lib/tune-check.js";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { parseArgs } from "node:util";
import { performance } from "node:perf_hooks";
import {
  DEFAULT_DATA_DIRS,
  measuredItems,
  notForFitting,
  holdoutCheckOf,
  isHoldoutFile,
  readResultRuns,
  root,
} from "./lib/measured-runs.js";

import * as plan from "../src/index.js";
import { listRuns, openStore } from "../src/index.js";
import type { Json } from "./lib/common.js";

const { values: args } = parseArgs({
  options: {
    results: { type: "string", default: join(root, "bench", "results") },
    db: { type: "string" },
    "data-dir": { type: "string", multiple: true, default: DEFAULT_DATA_DIRS },
    out: { type: "string", default: join(root, "bench", "results", "plan-accuracy.json") },
    budget: { type: "string", default: "8GiB" },
  },
});
const OUT_NAME = basename(args.out);
/**
 * A run's model, for leave-one-model-out: its catalog id, or its architecture's name. A base model and
 * its instruct version share one architecture (what the planner sees): they are one model here.
 */
const modelIdOf = (it: Json): string => {
  const m = it.measuredRun.input.model;
  return "architecture" in m ? m.id.replace(/-instruct$/, "") : (m.name ?? JSON.stringify(m));
};
const GiB = 2 ** 30;
const BUDGET = (() => {
  const m = /^(\d+(?:\.\d+)?)GiB$/i.exec(args.budget);
  if (!m) throw new Error(`--budget must look like 8GiB, got ${args.budget}`);
  return Number(m[1]) * GiB;
})();

// ---- collecting runs ---------------------------------------------------------------------------

const { runs, excluded } = readResultRuns(args.results, (f) => notForFitting(f) || f === OUT_NAME);
if (args.db) {
  const db = openStore(args.db);
  for (const r of listRuns(db)) {
    if (r.status !== "completed" && r.status !== "oom") continue;
    runs.push({ ...r, name: r.label ?? r.id, file: args.db });
  }
  db.close();
}

// ---- predicting ------------------------------------------------------------------------------

const { items, excluded: notPlanned } = await measuredItems(runs, {
  dataDirs: args["data-dir"],
  budgetBytes: BUDGET,
});
excluded.push(...notPlanned);

const measuredRuns = items.map((i) => i.measuredRun);
const uncal = plan.evaluatePredictions(measuredRuns);
const t0 = performance.now();
const full = plan.calibrate(measuredRuns);
const loo = plan.crossValidate(measuredRuns);
const shapeOut = plan.crossValidate(measuredRuns, (_: Json, i: Json) => items[i].shape);
const modelOut = plan.crossValidate(measuredRuns, (_: Json, i: Json) => modelIdOf(items[i]));
const fitSeconds = (performance.now() - t0) / 1000;

/** Fit/OOM under the budget, each run judged with the given constants (one set, or one per run). */
function classify(calFor: Json) {
  const perRun = items.map((it, i) => {
    if (!it.budgetRun) return null;
    const cal = calFor(i);
    if (cal === undefined) return null;
    return plan.evaluatePredictions([it.budgetRun], cal ?? plan.DEFAULT_CONSTANTS).perRun[0];
  });
  const judged = perRun.filter((x): x is NonNullable<typeof x> => Boolean(x));
  return { perRun, summary: plan.summarizePredictions(judged).fitAccuracy };
}
const budgetUncal = classify(() => null);
const budgetLoo = classify((i: Json) => loo.calibrations[i] ?? undefined);
const budgetShape = classify((i: Json) => shapeOut.calibrations[i] ?? undefined);

// ---- the shipped calibration, as a new user gets it (no calibration of their own) ---------------

/** The constants `loraprof plan` uses for this run with no user calibration (its class's, the loss's own: constantsForInput). */
const shippedFor = (it: Json) =>
  plan.constantsForInput(it.measuredRun.input, (recipeClass) =>
    plan.chooseConstants({ gpu: it.gpu, recipeClass, user: null }),
  );
const shippedEval = plan.summarizePredictions(
  items.map((it) => plan.evaluatePredictions([it.measuredRun], shippedFor(it).calibration).perRun[0]!),
);

// ---- holdout: runs no calibration saw (bench/plan-holdout.ts on a GPU) -------------------------
// Every check's rows keep the prediction made before its run; the planner now is judged only on the
// checks not yet spent (a spent check's runs are in the fits above: see HOLDOUT_CHECKS).

const holdoutFiles = readdirSync(args.results)
  .filter((f) => isHoldoutFile(f) && f.endsWith(".json"))
  .sort();
const holdoutRows: Json[] = [];
/** (predicted − measured) / measured, null where either is missing. */
const rel = (pred: Json, meas: Json) => (pred != null && meas ? (pred - meas) / meas : null);
const holdoutPerRun = [];
const holdoutBudget = [];
const beforeRunErrors = new Map<string, { device: number[]; tokens: number[]; shortWindows: number }>();
// The tune check's parts, by check: the latest tune and the latest exhaustive part (a resumed
// exhaustive sweep's last call carries the wall time of the calls before it).
const tuneParts = new Map<
  string,
  { file: string; spent: boolean; flags: Json; tune: Json; exhaustive: Json }
>();
for (const file of holdoutFiles) {
  const doc = JSON.parse(readFileSync(join(args.results, file), "utf8"));
  const check = holdoutCheckOf(file);
  const spent = check?.spent ?? null;
  if (doc.tune) {
    const key = check?.prefix ?? file;
    const acc = tuneParts.get(key) ?? {
      file,
      spent: spent !== null,
      flags: doc.tune.flags,
      tune: null,
      exhaustive: null,
    };
    if (doc.tune.tune) acc.tune = doc.tune.tune;
    if (doc.tune.exhaustive) acc.exhaustive = doc.tune.exhaustive;
    acc.file = acc.file === file ? file : `${acc.file}, ${file}`;
    tuneParts.set(key, acc);
  }
  for (const h of doc.holdout ?? []) {
    if (!h.result?.config) continue;
    const { items: got } = await measuredItems([{ ...h.result, name: h.name, file }], {
      dataDirs: args["data-dir"],
      budgetBytes: BUDGET,
    });
    const it = got[0];
    if (!it) continue;
    const chosen = shippedFor(it);
    const now = plan.evaluatePredictions([it.measuredRun], chosen.calibration).perRun[0]!;
    if (spent === null) {
      holdoutPerRun.push(now);
      if (it.budgetRun)
        holdoutBudget.push(plan.evaluatePredictions([it.budgetRun], chosen.calibration).perRun[0]!);
    }
    const m = it.measuredRun.measured;
    const before = {
      devicePeakBytes: rel(h.prediction?.devicePeakBytes, m.devicePeakBytes),
      realTokensPerSecond: rel(h.prediction?.realTokensPerSecond, m.realTokensPerSecond),
    };
    const key = check?.prefix ?? file;
    // the engine's own warning: a window this short makes the rate unreliable (its median step is beside it)
    const shortWindow = (h.result.metrics?.measuredSeconds ?? Infinity) < plan.MIN_TRUSTED_WINDOW_SECONDS;
    const acc = beforeRunErrors.get(key) ?? { device: [], tokens: [], shortWindows: 0 };
    if (before.devicePeakBytes !== null) acc.device.push(before.devicePeakBytes);
    if (before.realTokensPerSecond !== null) acc.tokens.push(before.realTokensPerSecond);
    if (shortWindow) acc.shortWindows += 1;
    beforeRunErrors.set(key, acc);
    holdoutRows.push({
      name: h.name,
      file,
      spent: spent !== null,
      status: h.result.status,
      constants: chosen.source.label,
      cudaAllocator: it.measuredRun.input.cudaAllocator,
      measured: m,
      // What the allocator mode decides: reserved over allocated (the expandable-segments A/B pair).
      reservedOverAllocated:
        h.result.metrics?.peakReservedBytes && h.result.metrics?.peakAllocatedBytes
          ? h.result.metrics.peakReservedBytes / h.result.metrics.peakAllocatedBytes - 1
          : null,
      predictedBeforeRun: h.prediction,
      predictedNow: now.predicted,
      relativeError: { beforeRun: before, now: now.relativeError },
      measuredWindowSeconds: h.result.metrics?.measuredSeconds ?? null,
      shortWindow,
      medianStepTokensPerSecond:
        h.result.metrics?.stepSecondsMedian && h.result.metrics?.measuredSteps
          ? h.result.metrics.realTokens / h.result.metrics.measuredSteps / h.result.metrics.stepSecondsMedian
          : null,
      insideInterval:
        m.realTokensPerSecond && h.prediction?.speedInterval
          ? m.realTokensPerSecond >= h.prediction.speedInterval.low &&
            m.realTokensPerSecond <= h.prediction.speedInterval.high
          : null,
    });
  }
}
const holdoutEval = holdoutPerRun.length ? plan.summarizePredictions(holdoutPerRun) : null;
const holdoutBudgetEval = holdoutBudget.length ? plan.summarizePredictions(holdoutBudget).fitAccuracy : null;

// ---- output ----------------------------------------------------------------------------------

const pct = (x: Json) =>
  x === null || x === undefined ? "—" : `${x >= 0 ? "+" : ""}${(x * 100).toFixed(1)}%`;
const gib = (b: Json) => (b === null || b === undefined ? "—" : (b / GiB).toFixed(2));
const tps = (x: Json) => (x === null || x === undefined ? "—" : x.toFixed(0));
const fitsMark = (f: Json) => (f === null || f === undefined ? "—" : f ? "fits" : "OOM");

const rows = items.map((it, i) => {
  const u = uncal.perRun[i]!;
  const l = loo.predictions[i];
  const s = shapeOut.predictions[i];
  const mo = modelOut.predictions[i];
  return {
    name: it.run.name,
    id: it.run.id ?? null,
    file: it.run.file,
    gpu: it.gpu.id,
    model: modelIdOf(it),
    shape: it.shape,
    optimizer: it.measuredRun.input.optimizer,
    vramBudgetBytes: it.measuredRun.input.vramBudgetBytes,
    status: it.run.status,
    lengths: it.lengths.kind,
    measured: it.measuredRun.measured,
    predicted: {
      uncalibrated: u.predicted,
      leaveOneOut: l?.predicted ?? null,
      leaveOneShapeOut: s?.predicted ?? null,
      leaveOneModelOut: mo?.predicted ?? null,
    },
    relativeError: {
      uncalibrated: u.relativeError,
      leaveOneOut: l?.relativeError ?? null,
      leaveOneShapeOut: s?.relativeError ?? null,
      leaveOneModelOut: mo?.relativeError ?? null,
    },
    budget: it.budgetRun
      ? {
          measuredFits: !it.budgetRun.measured.oom,
          predictedFits: {
            uncalibrated: budgetUncal.perRun[i]?.predicted.fits ?? null,
            leaveOneOut: budgetLoo.perRun[i]?.predicted.fits ?? null,
            leaveOneShapeOut: budgetShape.perRun[i]?.predicted.fits ?? null,
          },
        }
      : null,
  };
});

const table = [
  [
    "run",
    "shape",
    "optimizer",
    "dev GiB",
    "uncal",
    "LOO",
    "shape-out",
    "tok/s",
    "uncal",
    "LOO",
    "shape-out",
    `≤${args.budget}`,
    "uncal",
    "LOO",
    "shape-out",
  ],
  ...rows.map((r) => [
    // A sweep run's label names every setting of its configuration: cut to keep the table readable.
    r.name.length > 72 ? `${r.name.slice(0, 48)}…${r.name.slice(-23)}` : r.name,
    r.shape,
    r.optimizer,
    gib(r.measured.devicePeakBytes),
    pct(r.relativeError.uncalibrated.devicePeakBytes),
    pct(r.relativeError.leaveOneOut?.devicePeakBytes),
    pct(r.relativeError.leaveOneShapeOut?.devicePeakBytes),
    tps(r.measured.realTokensPerSecond),
    pct(r.relativeError.uncalibrated.realTokensPerSecond),
    pct(r.relativeError.leaveOneOut?.realTokensPerSecond),
    pct(r.relativeError.leaveOneShapeOut?.realTokensPerSecond),
    fitsMark(r.budget?.measuredFits),
    fitsMark(r.budget?.predictedFits.uncalibrated),
    fitsMark(r.budget?.predictedFits.leaveOneOut),
    fitsMark(r.budget?.predictedFits.leaveOneShapeOut),
  ]),
];
const widths = table[0]!.map((_, c) => Math.max(...table.map((row) => String(row[c]).length)));
const line = (row: Json) =>
  row
    .map((v: Json, c: Json) => (c < 3 ? String(v).padEnd(widths[c]!) : String(v).padStart(widths[c]!)))
    .join("  ");
console.log("predicted vs measured (errors are (predicted − measured) / measured)");
console.log(line(table[0]));
console.log(widths.map((w) => "─".repeat(w)).join("  "));
for (const row of table.slice(1)) console.log(line(row));

const summary = (ev: Json) => ({
  devicePeakBytes: ev.error.devicePeakBytes,
  allocatorPeakBytes: ev.error.allocatorPeakBytes,
  realTokensPerSecond: ev.error.realTokensPerSecond,
});
const figures: Record<string, Json> = {
  uncalibrated: { ...summary(uncal), fitAccuracyBudget: budgetUncal.summary },
  leaveOneOut: { ...summary(loo.heldOut), fitAccuracyBudget: budgetLoo.summary },
  leaveOneShapeOut: {
    ...summary(shapeOut.heldOut),
    groups: shapeOut.groups,
    fitAccuracyBudget: budgetShape.summary,
  },
  inSample: { ...full.error, runs: full.runs, oomRuns: full.oomRuns ?? 0 },
  shippedInSample: {
    ...summary(shippedEval),
    fitAccuracy: shippedEval.fitAccuracy,
  },
  leaveOneModelOut: {
    ...summary(modelOut.heldOut),
    groups: modelOut.groups,
    byModel: Object.fromEntries(
      [...new Set(rows.map((r) => r.model))].map((model) => {
        const mine = rows.filter((r) => r.model === model);
        const errs = (key: "devicePeakBytes" | "realTokensPerSecond") =>
          plan.errorStats(
            mine
              .map((r) => r.relativeError.leaveOneModelOut?.[key] ?? null)
              .filter((e): e is number => e !== null),
          );
        return [
          model,
          { devicePeakBytes: errs("devicePeakBytes"), realTokensPerSecond: errs("realTokensPerSecond") },
        ];
      }),
    ),
  },
  holdoutShipped: holdoutEval
    ? { ...summary(holdoutEval), fitAccuracy: holdoutEval.fitAccuracy, fitAccuracyBudget: holdoutBudgetEval }
    : null,
};
/** Each holdout check's predictions as made before its runs (the shipped planner of that day). */
const holdoutChecks = [...beforeRunErrors].map(([prefix, e]) => ({
  prefix,
  spent: holdoutCheckOf(prefix)?.spent ?? null,
  beforeRun: { devicePeakBytes: plan.errorStats(e.device), realTokensPerSecond: plan.errorStats(e.tokens) },
  shortWindows: e.shortWindows,
}));
const s = (e: Json) =>
  e ? `median ${e.medianAbsPct.toFixed(1)}%, max ${e.maxAbsPct.toFixed(1)}% (${e.runs} runs)` : "—";
const acc = (a: Json) => (a ? `${a.correct}/${a.runs} (${(a.accuracy * 100).toFixed(0)}%)` : "—");
console.log("");
for (const [k, v] of Object.entries(figures)) {
  if (!v) continue;
  console.log(
    `${k.padEnd(17)} device peak ${s(v.devicePeakBytes)} | real tokens/s ${s(v.realTokensPerSecond)}` +
      (v.fitAccuracyBudget !== undefined ? ` | fit/OOM ≤${args.budget} ${acc(v.fitAccuracyBudget)}` : ""),
  );
}
for (const [model, e] of Object.entries(figures.leaveOneModelOut.byModel as Record<string, Json>))
  console.log(
    `  ${model.padEnd(24)} left out: device peak ${s(e.devicePeakBytes)} | real tokens/s ${s(e.realTokensPerSecond)}`,
  );
console.log(
  `\ncalibration on all ${full.runs} measured runs (+${full.oomRuns ?? 0} OOM): ` +
    full.fitted.map((k) => `${k}=${Number(full.constants[k].toPrecision(4))}`).join(", "),
);
console.log(
  `fits: ${fitSeconds.toFixed(1)} s for ${1 + measuredRuns.length + shapeOut.groups + modelOut.groups} calibrations`,
);
if (excluded.length) console.log(`left out: ${excluded.map((e) => `${e.name} (${e.reason})`).join("; ")}`);
if (holdoutRows.length) {
  console.log(
    `\nholdout (${holdoutFiles.join(", ")}): prediction made before each run vs the measurement, and the planner now (shipped calibration; in sample for a spent check)`,
  );
  for (const c of holdoutChecks)
    console.log(
      `  ${c.prefix}* before its runs: device peak ${s(c.beforeRun.devicePeakBytes)} | real tokens/s ${s(c.beforeRun.realTokensPerSecond)}${c.shortWindows ? ` (${c.shortWindows} measured in windows under ${plan.MIN_TRUSTED_WINDOW_SECONDS} s)` : ""}${c.spent ? ` — spent: ${c.spent}` : ""}`,
    );
  for (const r of holdoutRows) {
    console.log(
      `  ${r.name.padEnd(36)} ${r.status.padEnd(9)}${r.spent ? " (spent)" : ""} ${r.cudaAllocator} reserve ${pct(r.reservedOverAllocated)}; device ${gib(r.measured.devicePeakBytes)} GiB: before ${pct(r.relativeError.beforeRun.devicePeakBytes)}, now ${pct(r.relativeError.now.devicePeakBytes)} | tok/s ${tps(r.measured.realTokensPerSecond)}: before ${pct(r.relativeError.beforeRun.realTokensPerSecond)}, now ${pct(r.relativeError.now.realTokensPerSecond)}${r.insideInterval === null ? "" : r.insideInterval ? " (inside its interval)" : " (OUTSIDE its interval)"}${r.shortWindow ? `; window ${r.measuredWindowSeconds.toFixed(2)} s, under the engine's ${plan.MIN_TRUSTED_WINDOW_SECONDS} s (its median step: ${tps(r.medianStepTokensPerSecond)} tok/s, before ${pct(rel(r.predictedBeforeRun?.realTokensPerSecond, r.medianStepTokensPerSecond))})` : ""}`,
    );
  }
} else
  console.log(
    "\nholdout: no bench/results/<gpu>-plan-holdout*.json yet (bash bench/gpu/plan-holdout.sh on a GPU)",
  );
if (!holdoutEval)
  console.log(
    "holdout: every check with results is spent; the next is an unspent one of HOLDOUT_CHECKS (bench/gpu/plan-holdout.sh on a GPU)",
  );
const settingsText = (x: Json) =>
  x
    ? `${x.recipe} ${x.padding} ${x.loss} ckpt ${x.gradCheckpointing ? "on" : "off"} ${x.optimizer?.name ?? "?"} ${x.precision} b${x.batchSize}`
    : "—";
const tuneChecks = [...tuneParts].map(([prefix, p]) => ({
  prefix,
  file: p.file,
  spent: p.spent,
  flags: p.flags,
  ...tuneSummary(p.tune, p.exhaustive),
}));
for (const t of tuneChecks) {
  console.log(
    `tune vs exhaustive (${t.file}): tune's pick ${tps(t.tuneWinnerRealTokensPerSecond)} real tokens/s [${settingsText(t.tuneWinnerSettings)}] in ${t.tuneSeconds?.toFixed(0) ?? "—"} s; ` +
      (t.exhaustiveComplete
        ? `exhaustive best ${tps(t.exhaustiveBestRealTokensPerSecond)} [${settingsText(t.exhaustiveBestSettings)}] of ${t.exhaustiveMeasured} measured in ${t.exhaustiveSeconds?.toFixed(0)} s: ${t.withinPct?.toFixed(1)}% below the best, ${((t.timeRatio ?? NaN) * 100).toFixed(0)}% of the sweep's time`
        : `the exhaustive sweep did not finish (${t.exhaustiveMeasured} measured; best of those: ${tps(t.exhaustiveBestRealTokensPerSecond)})`),
  );
}

const sources = [...new Set(items.map((i) => i.run.file))];
const envs = sources
  .filter((f) => f.endsWith(".json"))
  .map((f) => JSON.parse(readFileSync(join(args.results, f), "utf8")).environment)
  .filter(Boolean);
writeFileSync(
  args.out,
  JSON.stringify(
    {
      what: "the planner's predictions (src/plan) vs measured GPU runs: NVML device peak and real tokens/s, uncalibrated and held-out after calibration; fit/OOM under a budget",
      command: `node dist-bench/plan-accuracy.mjs${process.argv.slice(2).length ? " " + process.argv.slice(2).join(" ") : ""}`,
      date: new Date().toISOString().slice(0, 10),
      sources,
      environment: envs[0] ?? null,
      methods: {
        uncalibrated: "DEFAULT_CONSTANTS (src/plan/constants.ts), no fit",
        leaveOneOut:
          "each run predicted by a calibration fitted on all the other runs (OOM runs enter fits as lower bounds)",
        leaveOneShapeOut:
          "runs grouped by batch × seq × precision × checkpointing × method; each group predicted by a calibration fitted on the other groups",
        leaveOneModelOut:
          "runs grouped by model; each model's runs predicted by a calibration fitted on the other models' runs (how the planner carries to a model it has no runs of)",
        inSample:
          "one calibration on every run, errors on the same runs (what `loraprof plan calibrate` saves; not a held-out figure)",
        shippedInSample:
          "the shipped calibration (src/plan/shipped/h200.json, per recipe class) on the runs it was fitted to: what a new user's plan gets, in sample",
        holdoutShipped:
          "runs of the holdout checks not yet spent (bench/lib/measured-runs.ts HOLDOUT_CHECKS; never fitted to), predicted with the shipped calibration and no user calibration; budget: 8 GiB fit/OOM with the same constants. Every check's predictions made before its runs are in holdout.checks",
        budget: `fit/OOM under ${args.budget}: measured = the run's status when it ran under --vram-budget ${args.budget}, else NVML device peak ≤ ${args.budget}; predicted = predicted device peak ≤ ${args.budget}`,
        lengths:
          "each run's dataset tokenized with its subset and template (the H200 runs' dataset: ../shared/data/alpaca/alpaca_random_9k.json, first 5000 records)",
      },
      targets: {
        devicePeakMedianPct: 5,
        devicePeakMaxPct: 10,
        realTokensPerSecondMedianPct: 20,
        realTokensPerSecondMaxPct: 40,
        fitAccuracy: 0.95,
      },
      figures,
      calibration: {
        constants: full.constants,
        fitted: full.fitted,
        runs: full.runs,
        oomRuns: full.oomRuns ?? 0,
      },
      runs: rows,
      holdout: { files: holdoutFiles, checks: holdoutChecks, runs: holdoutRows, tune: tuneChecks },
      excluded,
    },
    null,
    2,
  ) + "\n",
);
console.log(`wrote ${args.out}`);
